//! Offline rendering: plays a score through the engine, exactly as the plugin would, and
//! writes 32-bit float stereo WAV files.

use std::path::Path;

use mephisto_dsp::macros::{MacroValues, NEUTRAL_MACROS};
use mephisto_rt::engine::{Engine, EngineEvent};
use mephisto_rt::instance::{Playable, CHUNK};

use mephisto_neural::inference::Lockstep;

use crate::build::OfflinePatch;
use crate::score::{default_score, ScoreNote};

/// Stereo audio, one vector per channel.
pub struct StereoAudio {
    pub left: Vec<f32>,
    pub right: Vec<f32>,
    pub sample_rate: u32,
}

impl StereoAudio {
    /// The mono mix, sample by sample: the mean of the two channels.
    pub fn mono_samples(&self) -> impl Iterator<Item = f32> + '_ {
        self.left
            .iter()
            .zip(&self.right)
            .map(|(l, r)| 0.5 * (l + r))
    }

    /// The mono mix: the mean of the two channels.
    pub fn mono(&self) -> Vec<f32> {
        self.mono_samples().collect()
    }
}

/// The default probe of `mephisto render` (the default score, C3 held 1 s) rendered for
/// `seconds` with every macro at 0.5, mixed to mono: what evaluation and matching measure.
pub fn render_default_probe(
    instance: impl Into<OfflinePatch>,
    seconds: f64,
    sample_rate: u32,
) -> Vec<f32> {
    render_score(
        instance,
        &default_score(),
        NEUTRAL_MACROS,
        seconds,
        sample_rate,
    )
    .mono()
}

/// The most frames one render may produce: 1 GiB of stereo float samples, 46 minutes at
/// 48 kHz or 5.8 minutes at 384 kHz.
pub const MAX_RENDER_FRAMES: u64 = 1 << 27;

/// Refuses a render longer than [`MAX_RENDER_FRAMES`] (or not a positive length) before
/// anything is allocated.
pub fn check_render_length(seconds: f64, sample_rate: u32) -> Result<(), String> {
    let frames = seconds * f64::from(sample_rate);
    if !(seconds > 0.0 && frames.is_finite()) {
        return Err(format!(
            "the render length {seconds} s must be a positive number of seconds"
        ));
    }
    if frames > MAX_RENDER_FRAMES as f64 {
        return Err(format!(
            "{seconds} s at {sample_rate} Hz is {frames:.0} frames; a render may have at most {MAX_RENDER_FRAMES} ({:.0} s at this rate)",
            MAX_RENDER_FRAMES as f64 / f64::from(sample_rate)
        ));
    }
    Ok(())
}

/// Seconds rendered after the last note ends when no length is given.
pub const DEFAULT_TAIL_SECONDS: f64 = 2.0;

/// Renders `score` on `instance` for `seconds` with the given macro values.
pub fn render_score(
    patch: impl Into<OfflinePatch>,
    score: &[ScoreNote],
    macros: MacroValues,
    seconds: f64,
    sample_rate: u32,
) -> StereoAudio {
    render_played(patch, score, macros, &[], seconds, sample_rate)
}

/// Renders `score` like [`render_score`] with the controllers `held` (mod wheel, aftertouch,
/// pitch bend) set before the first note and held throughout.
pub fn render_played(
    patch: impl Into<OfflinePatch>,
    score: &[ScoreNote],
    macros: MacroValues,
    held: &[EngineEvent],
    seconds: f64,
    sample_rate: u32,
) -> StereoAudio {
    let frames = (seconds * sample_rate as f64).round() as usize;
    let mut events: Vec<(usize, EngineEvent)> = Vec::with_capacity(score.len() * 2 + held.len());
    events.extend(held.iter().map(|&e| (0, e)));
    let to_frame = |t: f64| (t * sample_rate as f64).round() as usize;
    for n in score {
        events.push((
            to_frame(n.start),
            EngineEvent::NoteOn {
                note: n.note,
                velocity: n.velocity,
            },
        ));
        events.push((
            to_frame(n.start + n.duration),
            EngineEvent::NoteOff { note: n.note },
        ));
    }
    // Stable sort keeps a note-off before a note-on at the same frame when entered so.
    events.sort_by_key(|(frame, _)| *frame);

    let mut engine = OfflineEngine::new(patch.into(), sample_rate as f32);
    engine.set_macros(macros);
    let mut left = vec![0.0; frames];
    let mut right = vec![0.0; frames];
    let mut position = 0;
    let mut pending = events.into_iter().peekable();
    while position < frames {
        while let Some((_, event)) = pending.next_if(|(frame, _)| *frame <= position) {
            engine.handle(event);
        }
        let end = pending
            .peek()
            .map_or(frames, |(frame, _)| (*frame).min(frames));
        engine.render(&mut left[position..end], &mut right[position..end]);
        position = end;
    }
    StereoAudio {
        left,
        right,
        sample_rate,
    }
}

/// The engine playing one patch offline, with the decoder of a neural model's voices stepped
/// in lockstep: before every chunk the engine renders, the frames that chunk needs are
/// computed, so the same input always gives the same samples.
pub struct OfflineEngine {
    engine: Engine,
    lockstep: Option<Lockstep>,
}

impl OfflineEngine {
    pub fn new(patch: OfflinePatch, sample_rate: f32) -> OfflineEngine {
        let OfflinePatch { instance, lockstep } = patch;
        OfflineEngine {
            engine: Engine::new(Playable::new(instance), sample_rate),
            lockstep,
        }
    }

    pub fn handle(&mut self, event: EngineEvent) {
        self.engine.handle(event);
    }

    pub fn set_macros(&mut self, macros: MacroValues) {
        self.engine.set_macros(macros);
    }

    /// The patch playing.
    pub fn current(&self) -> &Playable {
        self.engine.current()
    }

    /// The last error of a neural model's decoder, if any.
    pub fn decoder_error(&self) -> Option<&str> {
        self.lockstep.as_ref().and_then(Lockstep::error)
    }

    /// Renders a block of any length, chunk by chunk as the engine does, so a neural
    /// model's decoder computes the frames each chunk needs just before it.
    pub fn render(&mut self, left: &mut [f32], right: &mut [f32]) {
        let frames = left.len().min(right.len());
        let mut position = 0;
        while position < frames {
            let next = (position + CHUNK).min(frames);
            if let Some(lockstep) = &mut self.lockstep {
                lockstep.step();
            }
            self.engine
                .render(&mut left[position..next], &mut right[position..next]);
            position = next;
        }
    }
}

/// The length to render when none is given: at least 3 s, and the score plus a tail.
pub fn default_seconds(score: &[ScoreNote]) -> f64 {
    let end = score
        .iter()
        .map(|n| n.start + n.duration)
        .fold(0.0, f64::max);
    (end + DEFAULT_TAIL_SECONDS).max(3.0)
}

/// Writes 32-bit float stereo WAV.
pub fn write_wav(path: &Path, audio: &StereoAudio) -> Result<(), String> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: audio.sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let fail = |e: hound::Error| format!("cannot write {}: {e}", path.display());
    let mut writer = hound::WavWriter::create(path, spec).map_err(fail)?;
    for (l, r) in audio.left.iter().zip(&audio.right) {
        writer.write_sample(*l).map_err(fail)?;
        writer.write_sample(*r).map_err(fail)?;
    }
    writer.finalize().map_err(fail)
}
