//! Timbre transfer offline (`mephisto transfer`) and the voices Mephisto FX plays: a patch
//! named the way the command line names one (a built-in, a neural model, a PatchSpec file)
//! as a one-voice instance that follows an input's pitch and loudness, and a whole file run
//! through the audio thread's [`Transfer`], with a neural decoder stepped in lockstep so the
//! same input gives the same samples.

use std::time::{Duration, Instant};

use mephisto_compiler::Compiler;
use mephisto_dsp::find_builtin;
use mephisto_neural::voices::load_following;
use mephisto_rt::fx::tracker::HOP_SECONDS;
use mephisto_rt::fx::transfer::{FxControls, Transfer};
use mephisto_rt::instance::Playable;
use mephisto_rt::neural::bank::OfflineFlag;

use crate::build::{neural_instance, BuildSpec, OfflinePatch, Program};
use crate::error::BuildError;
use crate::render::StereoAudio;
use crate::spec::PatchSpec;

/// Samples per block of an offline transfer: small, so its latency (which grows with the
/// block) is close to the shortest a host could give.
pub const OFFLINE_BLOCK: usize = 64;

/// The spec of what `patch` names: a PatchSpec file (`.json`), a neural model (`.onnx`, or
/// a shipped model's name, with `_neural` after it when a built-in patch has the same name:
/// `tine_keys` is the Faust patch, `tine_keys_neural` the model trained on it) or a
/// built-in patch's name.
pub fn spec_for(patch: &str) -> Result<PatchSpec, String> {
    if let Some(model) = patch.strip_suffix("_neural") {
        return PatchSpec::from_model(model);
    }
    if patch.ends_with(".json") {
        // A regular file within the spec's cap, checked before a byte is read (a FIFO or a
        // device would block or never end).
        let text = crate::files::read_text(
            std::path::Path::new(patch),
            crate::files::MAX_SPEC_BYTES,
            "the PatchSpec",
        )?;
        return PatchSpec::from_json(&text).map_err(|e| format!("`{patch}`: {e}"));
    }
    if let Some((index, _)) = find_builtin(patch) {
        return PatchSpec::from_builtin(index);
    }
    PatchSpec::from_model(patch).map_err(|e| {
        format!("`{patch}` is not a built-in patch (see `mephisto list`), nor a model: {e}")
    })
}

impl Program {
    /// A one-voice instance of `spec` that follows an input (Mephisto FX): a Faust voice
    /// played by notes, or a neural model's voice that follows a contour of frames every
    /// [`HOP_SECONDS`]. `live`: the decoder runs on its own thread (waited for while the
    /// flag says the host renders offline); `None`: it is returned to be stepped in
    /// lockstep. Off the audio thread.
    pub fn instantiate_following(
        &self,
        spec: &PatchSpec,
        sample_rate: f32,
        live: Option<&OfflineFlag>,
    ) -> Result<OfflinePatch, BuildError> {
        let mut patch = match self {
            Program::Neural { model, effect } => {
                let (voices, _, lockstep) =
                    load_following(model, sample_rate, hop_seconds(sample_rate), live)?;
                let instance = neural_instance(&spec.name, voices, effect.as_deref(), sample_rate)?;
                OfflinePatch { instance, lockstep }
            }
            _ => match live {
                Some(offline) => self.instantiate_live(spec, 1, sample_rate, offline)?.into(),
                None => self.instantiate(spec, 1, sample_rate)?,
            },
        };
        spec.apply_to(&mut patch.instance)?;
        Ok(patch)
    }
}

/// The transfer's frame period at `sample_rate`, in seconds: [`HOP_SECONDS`] rounded to
/// whole samples, as `Transfer` rounds it.
pub fn hop_seconds(sample_rate: f32) -> f64 {
    (f64::from(sample_rate) * HOP_SECONDS).round().max(1.0) / f64::from(sample_rate)
}

/// What a transfer cost on this thread, split as the plugin splits it.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransferCost {
    /// In `Transfer::process`: what the plugin's audio thread runs.
    pub audio: Duration,
    /// Stepping a neural model's decoder: what the plugin runs on the decoder's thread.
    pub decoder: Duration,
    /// Samples processed (the input plus the latency).
    pub samples: usize,
}

impl TransferCost {
    /// Microseconds per `block` samples of `cost`.
    pub fn per_block(&self, cost: Duration, block: usize) -> f64 {
        cost.as_secs_f64() * 1e6 * block as f64 / self.samples.max(1) as f64
    }
}

/// Runs `input` through Mephisto FX playing `spec`: the output has the input's rate and
/// length (the transfer's latency is taken off), stereo; with what it cost.
pub fn transfer_audio(
    input: &StereoAudio,
    spec: &PatchSpec,
    compiler: &Compiler,
    controls: &FxControls,
) -> Result<(StereoAudio, TransferCost), BuildError> {
    let sample_rate = input.sample_rate as f32;
    let program = spec.program(compiler)?;
    let OfflinePatch {
        instance,
        mut lockstep,
    } = program.instantiate_following(spec, sample_rate, None)?;
    let mut transfer = Transfer::new(sample_rate, OFFLINE_BLOCK);
    if transfer.begin_swap(Playable::new(instance)).is_err() {
        unreachable!("a new transfer takes its first voice");
    }
    let latency = transfer.latency();
    let length = input.left.len();
    let padded = |channel: &[f32]| {
        let mut x = channel.to_vec();
        x.resize(length + latency, 0.0);
        x
    };
    let (mut left, mut right) = (padded(&input.left), padded(&input.right));
    let source: Vec<f32> = left
        .iter()
        .zip(&right)
        .map(|(l, r)| 0.5 * (l + r))
        .collect();
    let mut cost = TransferCost {
        samples: source.len(),
        ..TransferCost::default()
    };
    let mut start = 0;
    while start < source.len() {
        let end = (start + OFFLINE_BLOCK).min(source.len());
        if let Some(lockstep) = &mut lockstep {
            let began = Instant::now();
            lockstep.step();
            cost.decoder += began.elapsed();
        }
        let began = Instant::now();
        transfer.process(
            &source[start..end],
            &mut left[start..end],
            &mut right[start..end],
            controls,
        );
        cost.audio += began.elapsed();
        start = end;
    }
    if let Some(error) = lockstep.as_ref().and_then(|l| l.error()) {
        return Err(BuildError::Instance(format!(
            "the neural decoder failed: {error}"
        )));
    }
    let output = StereoAudio {
        left: left.split_off(latency),
        right: right.split_off(latency),
        sample_rate: input.sample_rate,
    };
    Ok((output, cost))
}
