//! A neural model as a patch's voices: the [`NeuralVoiceBank`] the audio thread renders, the
//! [`NeuralInference`] that feeds it (on a thread of its own when playing live, stepped in
//! lockstep with the render offline so renders are deterministic), and the synthesis
//! controls ([`Shaping`]) a patch's macros move, as [`Control`]s so the macro machinery
//! (`apply_macros`, PatchSpec macro maps, calibration) treats them like Faust sliders.

use std::path::{Path, PathBuf};

use crate::dsp::controls::{Control, ControlKind, ControlSet};
use crate::dsp::{find_builtin, DspBox};
use crate::macros::Macro;

use super::decoder::{Decoder, DecoderOptions, ProviderChoice};
use super::model::ModelInfo;
use super::stream::{
    InferenceThread, NeuralInference, NeuralVoiceBank, OfflineFlag, Shaping, StreamSettings,
};

/// How the decoder keeps up with the audio.
#[derive(Clone, Debug)]
pub enum Drive {
    /// A thread of its own, a few ms ahead of the audio clock (playing live). CUDA when
    /// there is one. While the flag says the host renders offline, the audio side waits for
    /// its frames.
    Thread(OfflineFlag),
    /// Stepped on the rendering thread before every chunk, on the CPU: offline renders and
    /// calibration, where the same input must give the same samples. Not for the audio
    /// thread (a decoder call allocates).
    Lockstep,
}

/// What feeds the bank its frames.
enum Inference {
    /// Dropping it stops and joins the thread (well under a millisecond: the thread sleeps
    /// 0.5 ms between polls and a decoder call takes tens of microseconds). That join never
    /// happens on the audio thread: a retired instance goes back to the worker through the
    /// switcher's ring and is dropped there (`PatchSwitcher::return_instance`,
    /// `WorkerThread::collect_returned`), and the plugin drops its engine on the main
    /// thread. So the instance may own the thread.
    Thread(InferenceThread),
    Lockstep {
        inference: Box<NeuralInference>,
        /// The last decoder error, if any (the voices hold their frames meanwhile).
        error: Option<String>,
    },
}

/// The voices of a neural patch.
pub struct NeuralVoices {
    bank: NeuralVoiceBank,
    inference: Inference,
    info: ModelInfo,
    path: PathBuf,
    /// The values of [`shaping_controls`], by control index.
    shaping: Shaping,
    /// Where the decoder runs, for the producer: the execution provider, why CUDA is not
    /// used when it was allowed, and the ONNX Runtime library.
    execution: String,
}

/// The synthesis controls, by control index.
const TILT: i32 = 0;
const BODY: i32 = 1;
const NOISE_GAIN: i32 = 2;
const VIBRATO: i32 = 3;
const ATTACK: i32 = 4;
const TRANSIENT: i32 = 5;

/// One synthesis control as [`shaping_controls`] declares it.
struct ShapingControl {
    label: &'static str,
    index: i32,
    init: f32,
    range: [f32; 2],
    log_scale: bool,
    unit: &'static str,
    depths: &'static [(Macro, f32)],
}

const SHAPING_CONTROLS: [ShapingControl; 6] = [
    ShapingControl {
        label: "tilt",
        index: TILT,
        init: 0.0,
        range: [-1.0, 1.0],
        log_scale: false,
        unit: "",
        depths: &[(Macro::Bright, 0.5)],
    },
    ShapingControl {
        label: "body",
        index: BODY,
        init: 0.0,
        range: [-12.0, 12.0],
        log_scale: false,
        unit: "dB",
        depths: &[(Macro::Warm, 0.5)],
    },
    ShapingControl {
        label: "noise_gain",
        index: NOISE_GAIN,
        init: 1.0,
        range: [0.01, 100.0],
        log_scale: true,
        unit: "",
        depths: &[(Macro::Grit, 0.5)],
    },
    ShapingControl {
        label: "vibrato",
        index: VIBRATO,
        init: 0.1,
        range: [0.005, 1.0],
        log_scale: true,
        unit: "st",
        depths: &[(Macro::Motion, 0.5)],
    },
    ShapingControl {
        label: "attack",
        index: ATTACK,
        init: 1.0,
        // Up to 20 times shorter for Punch, at most twice as long below it: longer, a
        // pad's swell would not reach its level within a held note.
        range: [0.05, 2.0],
        log_scale: true,
        unit: "",
        depths: &[(Macro::Punch, -0.5)],
    },
    ShapingControl {
        label: "transient",
        index: TRANSIENT,
        init: 0.0,
        range: [-12.0, 12.0],
        log_scale: false,
        unit: "dB",
        depths: &[(Macro::Punch, 0.5)],
    },
];

/// The synthesis controls of a neural patch with their designed values and macro depths:
/// Bright tilts the harmonics, Warm raises a low-mid bell (250 Hz), Grit scales the noise, Motion
/// adds vibrato, Punch shortens the attack and hardens the transient. Space has no voice
/// control; it moves the effect's reverb when the patch has an effect.
pub fn shaping_controls() -> ControlSet {
    ControlSet {
        controls: SHAPING_CONTROLS
            .iter()
            .map(|c| Control {
                label: c.label.to_string(),
                index: c.index,
                kind: ControlKind::Slider,
                init: c.init,
                min: c.range[0],
                max: c.range[1],
                step: 0.0,
                log_scale: c.log_scale,
                unit: c.unit.to_string(),
                macro_depths: c.depths.to_vec(),
            })
            .collect(),
    }
}

impl NeuralVoices {
    /// Loads `model` (with its sidecar) and starts feeding `voices` voices at `sample_rate`.
    /// Errors name the model and the problem (no ONNX Runtime, a broken file). Off the audio
    /// thread.
    pub fn load(
        model: &Path,
        voices: usize,
        sample_rate: f32,
        drive: Drive,
    ) -> Result<Self, String> {
        let options = DecoderOptions {
            providers: match drive {
                Drive::Thread(_) => ProviderChoice::Auto,
                Drive::Lockstep => ProviderChoice::CpuOnly,
            },
            ..DecoderOptions::default()
        };
        let decoder = Decoder::load(model, &options)?;
        let execution = match decoder.provider_note() {
            Some(why) => format!("{} ({why}); {}", decoder.provider(), decoder.runtime()),
            None => format!("{}; {}", decoder.provider(), decoder.runtime()),
        };
        let info = decoder.info().clone();
        let mut settings = StreamSettings::new(voices, sample_rate);
        if let Drive::Thread(offline) = &drive {
            settings.offline = offline.clone();
        }
        let (bank, ports) = NeuralVoiceBank::new(&info, &settings);
        let inference = NeuralInference::new(decoder, ports, &settings);
        let inference = match drive {
            Drive::Thread(_) => Inference::Thread(inference.spawn()?),
            Drive::Lockstep => Inference::Lockstep {
                inference: Box::new(inference),
                error: None,
            },
        };
        let mut voices = NeuralVoices {
            bank,
            inference,
            info,
            path: model.to_path_buf(),
            shaping: Shaping::NEUTRAL,
            execution,
        };
        for c in shaping_controls().controls {
            voices.set_control(c.index, c.init);
        }
        Ok(voices)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The execution provider the decoder runs on and the ONNX Runtime behind it.
    pub fn execution(&self) -> &str {
        &self.execution
    }

    pub fn bank(&self) -> &NeuralVoiceBank {
        &self.bank
    }

    pub fn bank_mut(&mut self) -> &mut NeuralVoiceBank {
        &mut self.bank
    }

    /// The last decoder error, if any.
    pub fn error(&self) -> Option<String> {
        match &self.inference {
            Inference::Thread(thread) => thread.error(),
            Inference::Lockstep { error, .. } => error.clone(),
        }
    }

    /// Sets synthesis control `index` of [`shaping_controls`]. Wait-free.
    pub fn set_control(&mut self, index: i32, value: f32) {
        let s = &mut self.shaping;
        match index {
            TILT => s.tilt = value,
            BODY => s.body = value,
            NOISE_GAIN => s.noise_gain = value,
            VIBRATO => s.vibrato = value,
            ATTACK => s.attack = value,
            TRANSIENT => s.transient = value,
            _ => return,
        }
        self.bank.set_shaping(self.shaping);
    }

    /// Renders the summed voices into `out` (mono). Allocation-free when the inference
    /// runs on its thread.
    pub fn render(&mut self, out: &mut [f32]) {
        if let Inference::Lockstep { inference, error } = &mut self.inference {
            if let Err(e) = inference.step() {
                *error = Some(e);
            }
        }
        self.bank.render(out);
    }
}

/// The effect of the built-in patch a model was trained on (its sidecar's `trained_on` is
/// `patch NAME`), when that patch has one: the model learned the voice, and this gives a
/// neural patch the same room (and Space a reverb to move).
pub fn trained_on_effect(info: &ModelInfo) -> Option<fn() -> DspBox> {
    let name = info.trained_on.strip_prefix("patch ")?;
    find_builtin(name).and_then(|(_, patch)| patch.new_effect)
}

/// The folders searched for a shipped model, in order: `$MEPHISTO_MODELS`, `models/` beside
/// the executable, then the repository's `onnx/models`.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("MEPHISTO_MODELS") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|p| p.join("models")))
    {
        dirs.push(dir);
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/models"));
    dirs
}

/// The shipped models' names (`tine_keys` for `tine_keys.onnx`) in [`model_dirs`], sorted,
/// each once.
pub fn shipped_models() -> Vec<String> {
    let mut names: Vec<String> = model_dirs()
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let is_model = path.extension()? == "onnx";
            is_model.then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The `.onnx` file a PatchSpec's or the command line's model names: a path to a `.onnx`
/// file as it is, or a shipped model's name (`tine_keys`) looked up in [`model_dirs`].
pub fn resolve_model(model: &str) -> Result<PathBuf, String> {
    let model = model.trim();
    if model.ends_with(".onnx") || model.contains('/') {
        let path = PathBuf::from(model);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("the neural model `{model}` does not exist"))
        };
    }
    let dirs = model_dirs();
    dirs.iter()
        .map(|d| d.join(format!("{model}.onnx")))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            format!(
                "no neural model `{model}` (looked for {model}.onnx in {})",
                looked.join(", ")
            )
        })
}
