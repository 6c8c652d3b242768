//! A neural model as a patch's voices: loading a model (sidecar and decoder), the voice bank
//! the audio thread renders ([`NeuralVoices`]), and what feeds it: a thread of its own when
//! playing live, or a [`Lockstep`] the offline renderer steps, so renders are deterministic.
//! Also where shipped models are found.

use std::path::{Path, PathBuf};

use mephisto_dsp::{find_builtin, DspBox};
use mephisto_rt::neural::bank::{ModelTiming, NeuralVoiceBank, OfflineFlag, StreamSettings};
use mephisto_rt::neural::graph::SynthGraph;
use mephisto_rt::neural::{FrameFeed, NeuralVoices};

use crate::decoder::{Decoder, DecoderOptions, ProviderChoice};
use crate::inference::{Lockstep, NeuralInference};
use crate::model::ModelInfo;
use crate::NeuralError;

/// A model loaded to play live: its voices run their decoder on a thread of their own, a
/// few ms ahead of the audio clock, CUDA when there is one. While `offline` says the host
/// renders offline, the audio side waits for its frames.
pub fn load_live(
    model: &Path,
    voices: usize,
    sample_rate: f32,
    offline: &OfflineFlag,
) -> Result<(NeuralVoices, ModelInfo), NeuralError> {
    let decoder = Decoder::load(model, &DecoderOptions::default())?;
    let mut settings = StreamSettings::new(voices, sample_rate);
    settings.offline = offline.clone();
    let (bank, inference, info, execution) = connect(decoder, &settings);
    let graph = plan_graph(&info, sample_rate)?;
    let thread = inference.spawn().map_err(NeuralError::Runtime)?;
    let voices = NeuralVoices::new(
        bank,
        graph,
        Some(Box::new(thread)),
        info.name.clone(),
        execution,
    );
    Ok((voices, info))
}

/// A model loaded for an offline render, a probe or calibration: the decoder runs on the CPU
/// and is stepped by the renderer before every chunk ([`Lockstep`]), so the same input
/// gives the same samples.
pub fn load_lockstep(
    model: &Path,
    voices: usize,
    sample_rate: f32,
) -> Result<(NeuralVoices, ModelInfo, Lockstep), NeuralError> {
    let options = DecoderOptions {
        providers: ProviderChoice::CpuOnly,
        ..DecoderOptions::default()
    };
    let decoder = Decoder::load(model, &options)?;
    let settings = StreamSettings::new(voices, sample_rate);
    let (bank, inference, info, execution) = connect(decoder, &settings);
    let graph = plan_graph(&info, sample_rate)?;
    let voices = NeuralVoices::new(bank, graph, None, info.name.clone(), execution);
    Ok((voices, info, Lockstep::new(inference)))
}

/// A model loaded to follow a contour (timbre transfer, `NeuralVoiceBank::follow`): one
/// voice whose frames come every `frame_seconds`. Live (`offline` given: the decoder on a
/// thread of its own, CUDA when there is one) or stepped in lockstep by an offline render
/// (`None`: the CPU, and the [`Lockstep`] is returned).
pub fn load_following(
    model: &Path,
    sample_rate: f32,
    frame_seconds: f64,
    offline: Option<&OfflineFlag>,
) -> Result<(NeuralVoices, ModelInfo, Option<Lockstep>), NeuralError> {
    let providers = match offline {
        Some(_) => ProviderChoice::Auto,
        None => ProviderChoice::CpuOnly,
    };
    let options = DecoderOptions {
        providers,
        ..DecoderOptions::default()
    };
    let decoder = Decoder::load(model, &options)?;
    let mut settings = StreamSettings::new(1, sample_rate);
    settings.frame_seconds = Some(frame_seconds);
    if let Some(offline) = offline {
        settings.offline = offline.clone();
    }
    let (bank, inference, info, execution) = connect(decoder, &settings);
    let graph = plan_graph(&info, sample_rate)?;
    let (feed, lockstep): (Option<Box<dyn FrameFeed>>, _) = match offline {
        Some(_) => (
            Some(Box::new(inference.spawn().map_err(NeuralError::Runtime)?)),
            None,
        ),
        None => (None, Some(Lockstep::new(inference))),
    };
    let voices = NeuralVoices::new(bank, graph, feed, info.name.clone(), execution);
    Ok((voices, info, lockstep))
}

/// The model's synthesis graph planned for `sample_rate` (a learned room's IR made for it).
fn plan_graph(info: &ModelInfo, sample_rate: f32) -> Result<SynthGraph, NeuralError> {
    info.graph_spec()
        .and_then(|spec| SynthGraph::new(&spec, sample_rate))
        .map_err(|e| NeuralError::Model(format!("model `{}`: graph: {e}", info.name)))
}

/// The bank and the inference for one decoder, connected by their rings, with the
/// model's sidecar and where the decoder runs (for the producer).
fn connect(
    decoder: Decoder,
    settings: &StreamSettings,
) -> (NeuralVoiceBank, NeuralInference, ModelInfo, String) {
    let execution = match decoder.provider_note() {
        Some(why) => format!("{} ({why}); {}", decoder.provider(), decoder.runtime()),
        None => format!("{}; {}", decoder.provider(), decoder.runtime()),
    };
    let info = decoder.info().clone();
    let (bank, ports) = NeuralVoiceBank::new(&timing(&info), settings);
    let inference = NeuralInference::new(decoder, ports, settings);
    (bank, inference, info, execution)
}

/// What the audio side needs of a model's sidecar.
pub fn timing(info: &ModelInfo) -> ModelTiming {
    ModelTiming {
        frame_seconds: info.frame_seconds(),
        nyquist_hz: info.nyquist_hz(),
        release_s: info.loudness.release_s,
    }
}

/// The effect of the built-in patch a model was trained on (its sidecar's `trained_on` is
/// `patch NAME`), when that patch has one: the model learned the voice, and this gives a
/// neural patch the same room (and Space a reverb to move). None for a model whose graph
/// learned a room of its own: its reverb already plays the patch's room (the training audio
/// held it), and the effect's reverb on top would be a second room (docs/NEURAL.md §10).
pub fn trained_on_effect(info: &ModelInfo) -> Option<fn() -> DspBox> {
    if info.has_room() {
        return None;
    }
    let name = info.trained_on.strip_prefix("patch ")?;
    find_builtin(name).and_then(|(_, patch)| patch.new_effect)
}

/// The folders searched for a shipped model, in order: `$MEPHISTO_MODELS`, the models the
/// plugin's bundle carries ([`crate::bundle::model_dirs`]), `models/` beside the
/// executable, then the repository's `onnx/models`.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("MEPHISTO_MODELS") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.extend(crate::bundle::model_dirs());
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|p| p.join("models")))
    {
        dirs.push(dir);
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/models"));
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
