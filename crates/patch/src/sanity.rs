//! The sanity gate: before a compiled variant is accepted, a short
//! probe is rendered from it and the variant is refused when it produces NaN/Inf, runs away
//! in level, stays silent, outputs only a constant (DC), keeps its voices sounding after
//! note-off, panics, or needs more CPU than the budget allows. Levels are measured on the
//! instance's raw output, before the engine's safety limiter. Runs on a worker thread (or
//! the CLI); it allocates and takes about a second.
//!
//! How the two behaviour checks decide:
//!
//! * **DC only.** The output moves within a 64-sample chunk in fewer than 10 % of the chunks
//!   rendered while notes are held (a chunk "moves" when its peak-to-peak half-range is above
//!   the silence threshold, −80 dBFS): a constant, or a constant switched by `gate` (which
//!   moves only at the switch), is refused; any tone moves in every chunk.
//! * **Voices that never end.** After the probe's last note-off the instance is rendered
//!   on (no new notes) until every voice has ended by the engine's own rule (below −100 dBFS
//!   for 50 ms), for at most [`MAX_RELEASE_SECONDS`] of audio; a voice still sounding then
//!   ignores `gate` (a drone, an oscillator without an envelope) and would play, and cost
//!   CPU, for ever. A compiled-in built-in (whose envelopes release to exactly zero) is
//!   followed only until its fall shows where it ends ([`ends_by_its_fall`]): every
//!   sounding voice's peak fell in each of the last [`FALLING_BLOCKS`] blocks of
//!   [`TAIL_BLOCK_SECONDS`], and at the rate of that fall its level reaches the engine's
//!   silence (−100 dBFS) within the limit. A voice that holds its level, or falls too
//!   slowly to end in time, is followed as before.

use std::fmt;
use std::time::{Duration, Instant};

use mephisto_compiler::CompiledVariant;
use mephisto_dsp::macros::NEUTRAL_MACROS;
use mephisto_rt::engine::note_to_hz;
use mephisto_rt::instance::CHUNK;

use crate::build::{OfflinePatch, Program};
use crate::effect::{pink_noise, EffectPlayer, PinkNoise};
use crate::probe::Probe;
use crate::spec::PatchSpec;

/// Length of the pink noise an effect program is probed with.
const EFFECT_PROBE_SECONDS: f64 = 1.5;
const NOISE_SEED: u64 = 0x4d45_5048_4953_544f;

/// The CPU figure is for this rate whatever rate the probe ran at.
const REFERENCE_RATE: f64 = 48_000.0;
/// The chord is rendered this long before the clock starts, so start-up transients and
/// first-touch page faults do not count.
const CPU_WARMUP_SECONDS: f64 = 0.05;
/// The chord is timed over this much audio, or until [`CPU_TIME_CAP`] was spent, so a
/// very heavy program is judged in bounded time.
const CPU_AUDIO_SECONDS: f64 = 0.5;
const CPU_TIME_CAP: Duration = Duration::from_millis(500);

/// How long voices may keep sounding after note-off before the gate refuses the patch: far
/// beyond any designed tail (the longest built-in's is 2.3 s), short enough to judge in a
/// few seconds.
pub const MAX_RELEASE_SECONDS: f64 = 15.0;

/// The share of held chunks in which the output must move (see the module's notes).
const MIN_MOVING_SHARE: f64 = 0.1;

/// A compiled-in built-in's tail is judged in blocks this long: long enough that a block's
/// peak holds whole periods of the lowest probe note (C2, 15 ms).
pub const TAIL_BLOCK_SECONDS: f64 = 0.1;
/// How many blocks in a row every sounding voice's peak must fall before its fall is
/// trusted to go on.
pub const FALLING_BLOCKS: usize = 3;
/// A voice whose level wobbles as it falls (an LFO on its filter or amplitude) is judged on
/// this many blocks: the trend of their peaks rather than each step.
pub const TREND_BLOCKS: usize = 8;
/// The level at which the engine stops computing a voice (its `SILENCE`), dBFS.
const VOICE_SILENCE_DBFS: f32 = -100.0;

/// The thresholds a variant must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SanityLimits {
    /// Refuse when the raw peak goes above this (dBFS). +12 dBFS is four times full scale:
    /// far beyond what a patch meant to be played reaches, yet a hot patch the limiter
    /// tames still passes.
    pub max_peak_dbfs: f32,
    /// Refuse when the peak over the whole probe stays below this (dBFS).
    pub silence_dbfs: f32,
    /// Share of one core `voices` held voices may use at 48 kHz (an effect program: one
    /// instance). 0.5 leaves the other half of the core to the host and other plugins.
    pub cpu_budget: f32,
    /// Voices of the probe instance and notes of the CPU chord; the plugin plays 16.
    pub voices: usize,
}

impl Default for SanityLimits {
    fn default() -> Self {
        SanityLimits {
            max_peak_dbfs: 12.0,
            silence_dbfs: -80.0,
            cpu_budget: 0.5,
            voices: mephisto_rt::engine::DEFAULT_VOICES,
        }
    }
}

/// How a compiled program is played: as voices through the engine, or as one effect
/// instance fed with audio (a `process` with audio inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramKind {
    Instrument,
    Effect,
}

impl ProgramKind {
    pub fn of(variant: &CompiledVariant) -> ProgramKind {
        if variant.voice_inputs() > 0 {
            ProgramKind::Effect
        } else {
            ProgramKind::Instrument
        }
    }
}

impl fmt::Display for ProgramKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgramKind::Instrument => "instrument",
            ProgramKind::Effect => "effect",
        })
    }
}

/// What the gate measured on an accepted variant.
#[derive(Debug, Clone, PartialEq)]
pub struct SanityReport {
    pub kind: ProgramKind,
    /// Raw peak over the probe, in dBFS (`-inf` for digital silence).
    pub peak_dbfs: f32,
    /// Where the peak was: `note C4`, or `pink noise`.
    pub loudest: String,
    /// Share of one core at 48 kHz for `cpu_voices` held voices (1 for an effect program);
    /// `None` when the program was not timed: one of Mephisto's compiled-in built-ins,
    /// whose code, and so its cost, is the same whatever values a spec gives its controls
    /// (their 16-voice figures are in docs/BENCHMARKS.md, `mephisto bench`).
    pub cpu_share: Option<f32>,
    pub cpu_voices: usize,
    pub cpu_budget: f32,
    /// How long the voices were followed after the last note-off, seconds: until they
    /// ended, or (a compiled-in built-in) until their fall showed they will
    /// ([`ends_by_its_fall`]); 0 for an effect program.
    pub tail_s: f64,
}

impl fmt::Display for SanityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peak {} ({}); ", dbfs(self.peak_dbfs), self.loudest)?;
        match self.cpu_share {
            Some(share) => write!(
                f,
                "{} of one core at 48 kHz (budget {})",
                cpu_need(self.kind, self.cpu_voices, share),
                percent(self.cpu_budget)
            ),
            None => f.write_str("CPU not timed (a compiled-in built-in program)"),
        }
    }
}

/// Why the gate refused a variant. Each message names the measured figure and the limit.
#[derive(Debug, Clone, PartialEq)]
pub enum SanityError {
    /// No instance could be built (unreadable controls, wrong channel layout).
    Unplayable(String),
    /// The output held NaN or infinity `seconds` into the probe, `during` a note or the
    /// noise (`on note C6`, `of pink noise`, `on a 16-note chord`).
    NonFinite { seconds: f64, during: String },
    /// The DSP panicked (and went silent); carries the panic message.
    Panicked(String),
    Runaway {
        peak_dbfs: f32,
        loudest: String,
        limit_dbfs: f32,
    },
    Silent {
        peak_dbfs: f32,
        limit_dbfs: f32,
        kind: ProgramKind,
    },
    OverBudget {
        share: f32,
        budget: f32,
        kind: ProgramKind,
        voices: usize,
    },
    /// The output is a constant while notes are held: in `moving` of `chunks` chunks did it
    /// change.
    DcOnly { moving: usize, chunks: usize },
    /// A voice still sounded `seconds` after note-off, at `level_dbfs`.
    NeverEnds { seconds: f64, level_dbfs: f32 },
}

impl fmt::Display for SanityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SanityError::Unplayable(why) => write!(f, "the patch cannot be played: {why}"),
            SanityError::NonFinite { seconds, during } => {
                write!(f, "the patch produces NaN/Inf at {seconds:.2} s {during}")
            }
            SanityError::Panicked(message) => write!(f, "the patch's DSP panicked: {message}"),
            SanityError::Runaway {
                peak_dbfs,
                loudest,
                limit_dbfs,
            } => write!(
                f,
                "the patch peaks at {} on {loudest}, above the {} limit (lower its gain)",
                dbfs(*peak_dbfs),
                dbfs(*limit_dbfs)
            ),
            SanityError::Silent {
                peak_dbfs,
                limit_dbfs,
                kind,
            } => {
                let probe = match kind {
                    ProgramKind::Instrument => "notes C2, C4 and C6",
                    ProgramKind::Effect => "1.5 s of pink noise",
                };
                write!(
                    f,
                    "the patch is silent: its peak over the probe ({probe}) is {}, below {}",
                    dbfs(*peak_dbfs),
                    dbfs(*limit_dbfs)
                )
            }
            SanityError::DcOnly { moving, chunks } => write!(
                f,
                "the patch outputs only a constant level (DC): its output moved above the silence floor in {moving} of {chunks} 64-sample chunks while notes were held (at least 10% must); make it produce a sound"
            ),
            SanityError::NeverEnds {
                seconds,
                level_dbfs,
            } => write!(
                f,
                "the patch's voices never end: {seconds:.0} s after note-off a voice still sounds at {} (a voice ends below -100 dBFS); make its level follow `gate`, e.g. with `en.adsr(a, d, s, r, gate)`",
                dbfs(*level_dbfs)
            ),
            SanityError::OverBudget {
                share,
                budget,
                kind,
                voices,
            } => write!(
                f,
                "{} of one core at 48 kHz; the budget is {}",
                cpu_need(*kind, *voices, *share),
                percent(*budget)
            ),
        }
    }
}

impl std::error::Error for SanityError {}

/// Runs the gate with the default limits.
pub fn check(variant: &CompiledVariant, sample_rate: f32) -> Result<SanityReport, SanityError> {
    check_with(variant, sample_rate, &SanityLimits::default())
}

/// Probes `variant` at `sample_rate` and measures it against `limits`.
pub fn check_with(
    variant: &CompiledVariant,
    sample_rate: f32,
    limits: &SanityLimits,
) -> Result<SanityReport, SanityError> {
    let make = |voices: usize| {
        variant
            .instantiate("sanity probe", voices, sample_rate)
            .map(OfflinePatch::from)
    };
    check_instances(Some(variant), &make, sample_rate, limits, CpuTiming::Timed)
}

/// Probes `program` played as `spec` says (its designed values and macro map), which is
/// how it will play: a spec's values can make a sound the program's defaults do not.
pub fn check_spec(
    program: &Program,
    spec: &PatchSpec,
    sample_rate: f32,
    limits: &SanityLimits,
) -> Result<SanityReport, SanityError> {
    let make = |voices: usize| {
        program
            .instantiate(spec, voices, sample_rate)
            .map_err(|e| e.to_string())
    };
    // A compiled-in built-in's cost does not depend on the values: it is not timed again
    // for every design (the 16-voice chord still plays, for NaN, but not for 0.5 s).
    let timing = match program {
        Program::Builtin(_) => CpuTiming::Untimed,
        _ => CpuTiming::Timed,
    };
    check_instances(program.compiled(), &make, sample_rate, limits, timing)
}

/// Whether the gate times a program's CPU cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CpuTiming {
    Timed,
    /// Mephisto's own compiled-in program: its cost is known and the same whatever the
    /// spec's values.
    Untimed,
}

/// The gate, with instrument instances of a given voice count made by `make`. `variant` is
/// the runtime program they come from (watched for panics, and probed as an effect when it
/// is one); `None` for a compiled-in instrument.
fn check_instances(
    variant: Option<&CompiledVariant>,
    make: &(dyn Fn(usize) -> Result<OfflinePatch, String> + Sync),
    sample_rate: f32,
    limits: &SanityLimits,
    timing: CpuTiming,
) -> Result<SanityReport, SanityError> {
    let kind = variant.map_or(ProgramKind::Instrument, ProgramKind::of);
    // An untimed chord only checks the 16 voices for NaN: it plays beside the probe on a
    // second thread (nothing times it), and its verdict is taken in the same order as
    // before. A timed chord plays alone, after the probe, so nothing disturbs its clock.
    let (probed, mut chord) = match (kind, variant, timing) {
        (ProgramKind::Effect, Some(v), _) => (
            probe_effect(v, sample_rate).map(|(peak, loudest)| (peak, loudest, 0.0)),
            None,
        ),
        (_, _, CpuTiming::Untimed) => {
            let (chord, probed) = crate::side_by_side::side_by_side(
                || cpu_instrument(make, sample_rate, limits, timing),
                || probe_instrument(make, sample_rate, limits, timing),
            );
            (probed, Some(chord))
        }
        _ => (probe_instrument(make, sample_rate, limits, timing), None),
    };
    let (peak, loudest, tail_s) = probed?;
    check_panic(variant)?;
    let peak_dbfs = to_dbfs(peak);
    if peak_dbfs > limits.max_peak_dbfs {
        return Err(SanityError::Runaway {
            peak_dbfs,
            loudest,
            limit_dbfs: limits.max_peak_dbfs,
        });
    }
    if peak_dbfs < limits.silence_dbfs {
        return Err(SanityError::Silent {
            peak_dbfs,
            limit_dbfs: limits.silence_dbfs,
            kind,
        });
    }
    let (cpu_share, cpu_voices) = match (kind, variant) {
        (ProgramKind::Effect, Some(v)) => (Some(cpu_effect(v, sample_rate)?), 1),
        _ => (
            match chord.take() {
                Some(played) => played?,
                None => cpu_instrument(make, sample_rate, limits, timing)?,
            },
            limits.voices,
        ),
    };
    check_panic(variant)?;
    if let Some(cpu_share) = cpu_share.filter(|&share| share > limits.cpu_budget) {
        return Err(SanityError::OverBudget {
            share: cpu_share,
            budget: limits.cpu_budget,
            kind,
            voices: cpu_voices,
        });
    }
    Ok(SanityReport {
        kind,
        peak_dbfs,
        loudest,
        cpu_share,
        cpu_voices,
        cpu_budget: limits.cpu_budget,
        tail_s,
    })
}

fn check_panic(variant: Option<&CompiledVariant>) -> Result<(), SanityError> {
    let Some(variant) = variant else {
        return Ok(());
    };
    if variant.panicked() {
        let message = variant
            .panic_message()
            .unwrap_or_else(|| "no message".to_string());
        return Err(SanityError::Panicked(message));
    }
    Ok(())
}

/// Plays the probe notes and returns the raw peak, the note it was on and how long the
/// voices were followed after the last note-off.
fn probe_instrument(
    make: &(dyn Fn(usize) -> Result<OfflinePatch, String> + Sync),
    sample_rate: f32,
    limits: &SanityLimits,
    timing: CpuTiming,
) -> Result<(f32, String, f64), SanityError> {
    // Each note on its own voice, in turn: [`Probe::sanity`]. The instance has only the
    // voices the notes use (making 16 voices costs more than some probes).
    let probe = Probe::sanity();
    let mut instance =
        make(limits.voices.min(probe.notes.len())).map_err(SanityError::Unplayable)?;
    instance.apply_macros(&NEUTRAL_MACROS);
    let frames = |seconds: f64| (seconds * sample_rate as f64).round() as usize;
    let mut position = 0;
    let mut peak = 0.0f32;
    // Chunks rendered while a note was held, and those in which the output moved.
    let (mut held_chunks, mut moving_chunks) = (0usize, 0usize);
    let moving_floor = 10f32.powf(limits.silence_dbfs / 20.0);
    let mut loudest = format!("note {}", note_name(probe.notes[0]));
    for (i, &note) in probe.notes.iter().enumerate() {
        let voice = i % instance.voice_count();
        let during = format!("note {}", note_name(note));
        let start = frames(i as f64 * probe.slot_s());
        instance.note_on(voice, note_to_hz(note as f32), probe.velocity);
        for (end, release) in [
            (start + frames(probe.held_s), true),
            (start + frames(probe.slot_s()), false),
        ] {
            while position < end {
                let n = (end - position).min(CHUNK);
                let (left, right) = instance.render(n).ok_or_else(|| SanityError::NonFinite {
                    seconds: position as f64 / sample_rate as f64,
                    during: format!("on {during}"),
                })?;
                let chunk_peak = left.iter().chain(right).fold(0.0f32, |p, s| p.max(s.abs()));
                if chunk_peak > peak {
                    peak = chunk_peak;
                    loudest.clone_from(&during);
                }
                if release {
                    held_chunks += 1;
                    let (low, high) = left
                        .iter()
                        .chain(right)
                        .fold((f32::MAX, f32::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
                    if (high - low) / 2.0 > moving_floor {
                        moving_chunks += 1;
                    }
                }
                position += n;
            }
            if release {
                instance.note_off(voice);
            }
        }
    }
    let silent = peak < moving_floor;
    if !silent && (moving_chunks as f64) < MIN_MOVING_SHARE * held_chunks as f64 {
        return Err(SanityError::DcOnly {
            moving: moving_chunks,
            chunks: held_chunks,
        });
    }
    // Render the voices on, without notes, until every one has ended by the engine's rule
    // (the effect's output, a reverb's tail, has no say in that, and costs most here).
    let tail_start = position;
    let tail_end = position + frames(MAX_RELEASE_SECONDS);
    let sounding =
        |instance: &OfflinePatch| (0..instance.voice_count()).any(|v| instance.is_voice_active(v));
    // Each voice's peak over the block being rendered, and the blocks' peaks before
    // (dBFS; `None`: silent or ended), for a compiled-in built-in's verdict by its fall.
    let block = frames(TAIL_BLOCK_SECONDS).max(CHUNK);
    let mut block_peaks = vec![0.0f32; instance.voice_count()];
    let mut history: Vec<Vec<Option<f32>>> = Vec::new();
    let mut will_end = false;
    while sounding(&instance) && position < tail_end {
        if !instance.render_voices(CHUNK) {
            return Err(SanityError::NonFinite {
                seconds: position as f64 / sample_rate as f64,
                during: "after note-off".to_string(),
            });
        }
        position += CHUNK;
        if timing == CpuTiming::Timed {
            continue;
        }
        for (v, peak) in block_peaks.iter_mut().enumerate() {
            *peak = peak.max(instance.voice_level(v));
        }
        if (position - tail_start) % block < CHUNK {
            history.push(
                block_peaks
                    .iter()
                    .enumerate()
                    .map(|(v, &p)| (instance.is_voice_active(v) && p > 0.0).then(|| to_dbfs(p)))
                    .collect(),
            );
            block_peaks.fill(0.0);
            let left = (tail_end - position) as f64 / sample_rate as f64;
            if ends_by_its_fall(&history, left) {
                will_end = true;
                break;
            }
        }
    }
    if !silent && !will_end && sounding(&instance) {
        let level = (0..instance.voice_count())
            .filter(|&v| instance.is_voice_active(v))
            .map(|v| instance.voice_level(v))
            .fold(0.0f32, f32::max);
        return Err(SanityError::NeverEnds {
            seconds: MAX_RELEASE_SECONDS,
            level_dbfs: to_dbfs(level),
        });
    }
    Ok((
        peak,
        loudest,
        (position - tail_start) as f64 / sample_rate as f64,
    ))
}

/// Whether every voice still sounding after note-off will end within `left` seconds, judged
/// by its fall: `history` holds each block's peak per voice (dBFS, `None` once it is
/// silent or ended), one entry per [`TAIL_BLOCK_SECONDS`]. Each sounding voice must fall
/// steadily ([`falls_steadily`]) or on the whole ([`falls_on_the_whole`]), at a rate that
/// reaches −100 dBFS within `left`. Used for compiled-in built-ins only, whose envelopes
/// release to exactly zero, so a fall once started goes on; the rule only decides how long
/// the gate follows a tail.
pub fn ends_by_its_fall(history: &[Vec<Option<f32>>], left: f64) -> bool {
    let Some(last) = history.last() else {
        return false;
    };
    // Both rules look only at the last few blocks: the rest of a long tail is not copied.
    let recent = &history[history
        .len()
        .saturating_sub(TREND_BLOCKS.max(FALLING_BLOCKS + 1))..];
    (0..last.len()).all(|v| {
        let levels: Vec<Option<f32>> = recent.iter().map(|block| block[v]).collect();
        last[v].is_none() || falls_steadily(&levels, left) || falls_on_the_whole(&levels, left)
    })
}

/// Whether the peak fell in each of the last [`FALLING_BLOCKS`] blocks, at a rate (straight
/// in dB, an exponential decay's shape; an envelope releasing to zero falls faster) that
/// reaches −100 dBFS within `left` seconds.
fn falls_steadily(levels: &[Option<f32>], left: f64) -> bool {
    let Some(first) = levels.len().checked_sub(FALLING_BLOCKS + 1) else {
        return false;
    };
    let recent = &levels[first..];
    let falling = recent
        .windows(2)
        .all(|pair| matches!(pair, [Some(before), Some(after)] if after < before));
    match (recent[0], recent[FALLING_BLOCKS]) {
        (Some(then), Some(now)) if falling => {
            let per_second = (then - now) as f64 / (FALLING_BLOCKS as f64 * TAIL_BLOCK_SECONDS);
            reaches_silence(now, per_second, left)
        }
        _ => false,
    }
}

/// Whether, over the last [`TREND_BLOCKS`] blocks, the loudest peak of the later half is
/// below the loudest of the earlier half (the envelope fell, whatever the wobble) and the
/// least-squares trend of the peaks takes the later half's loudest to −100 dBFS within
/// `left` seconds.
fn falls_on_the_whole(levels: &[Option<f32>], left: f64) -> bool {
    let Some(first) = levels.len().checked_sub(TREND_BLOCKS) else {
        return false;
    };
    let Some(recent) = levels[first..]
        .iter()
        .copied()
        .collect::<Option<Vec<f32>>>()
    else {
        return false;
    };
    let loudest = |half: &[f32]| half.iter().copied().fold(f32::MIN, f32::max);
    let (earlier, later) = recent.split_at(TREND_BLOCKS / 2);
    if loudest(later) >= loudest(earlier) {
        return false;
    }
    let n = TREND_BLOCKS as f64;
    let mean_t = (n - 1.0) / 2.0;
    let mean_level = recent.iter().map(|&l| l as f64).sum::<f64>() / n;
    let (covariance, variance) = recent
        .iter()
        .enumerate()
        .fold((0.0, 0.0), |(c, v), (t, &l)| {
            let dt = t as f64 - mean_t;
            (c + dt * (l as f64 - mean_level), v + dt * dt)
        });
    let per_second = -(covariance / variance) / TAIL_BLOCK_SECONDS;
    reaches_silence(loudest(later), per_second, left)
}

/// Whether a level `now` (dBFS) falling `per_second` dB a second reaches −100 dBFS within
/// `left` seconds.
fn reaches_silence(now: f32, per_second: f64, left: f64) -> bool {
    now <= VOICE_SILENCE_DBFS
        || (per_second > 0.0 && (now - VOICE_SILENCE_DBFS) as f64 / per_second <= left)
}

/// Runs pink noise through an effect program and returns the raw peak.
fn probe_effect(variant: &CompiledVariant, sample_rate: f32) -> Result<(f32, String), SanityError> {
    let mut player = EffectPlayer::new(variant, sample_rate).map_err(SanityError::Unplayable)?;
    let noise = pink_noise(EFFECT_PROBE_SECONDS, sample_rate as u32, NOISE_SEED);
    let mut peak = 0.0f32;
    let (mut left, mut right) = ([0.0f32; CHUNK], [0.0f32; CHUNK]);
    for (start, (in_l, in_r)) in noise
        .left
        .chunks(CHUNK)
        .zip(noise.right.chunks(CHUNK))
        .enumerate()
        .map(|(i, c)| (i * CHUNK, c))
    {
        let n = in_l.len();
        player.process(in_l, in_r, &mut left[..n], &mut right[..n]);
        let out = left[..n].iter().chain(&right[..n]);
        if out.clone().any(|s| !s.is_finite()) {
            return Err(SanityError::NonFinite {
                seconds: start as f64 / sample_rate as f64,
                during: "of pink noise".to_string(),
            });
        }
        peak = out.fold(peak, |p, s| p.max(s.abs()));
    }
    Ok((peak, "pink noise".to_string()))
}

/// Times a held chord of `limits.voices` notes spread over C2..C6 and returns the share of
/// one core it needs at 48 kHz; [`CpuTiming::Untimed`] plays only the warm-up (the chord
/// must stay finite) and returns `None`.
fn cpu_instrument(
    make: &(dyn Fn(usize) -> Result<OfflinePatch, String> + Sync),
    sample_rate: f32,
    limits: &SanityLimits,
    timing: CpuTiming,
) -> Result<Option<f32>, SanityError> {
    let mut instance = make(limits.voices).map_err(SanityError::Unplayable)?;
    instance.apply_macros(&NEUTRAL_MACROS);
    let voices = instance.voice_count();
    for voice in 0..voices {
        let note = 36 + (voice * 48 / voices) as u8;
        instance.note_on(voice, note_to_hz(note as f32), Probe::sanity().velocity);
    }
    let chord = format!("on a {voices}-note chord");
    let render_chunk = |position: usize| {
        instance
            .render(CHUNK)
            .map(|_| ())
            .ok_or_else(|| SanityError::NonFinite {
                seconds: position as f64 / sample_rate as f64,
                during: chord.clone(),
            })
    };
    time_render(sample_rate, timing, render_chunk)
}

/// Times one effect-program instance processing pink noise.
fn cpu_effect(variant: &CompiledVariant, sample_rate: f32) -> Result<f32, SanityError> {
    let mut player = EffectPlayer::new(variant, sample_rate).map_err(SanityError::Unplayable)?;
    let mut noise = PinkNoise::new(NOISE_SEED);
    let (mut input, mut out_l, mut out_r) = ([0.0f32; CHUNK], [0.0f32; CHUNK], [0.0f32; CHUNK]);
    let share = time_render(sample_rate, CpuTiming::Timed, |_| {
        input.iter_mut().for_each(|s| *s = noise.next_sample());
        player.process(&input, &input, &mut out_l, &mut out_r);
        Ok(())
    })?;
    Ok(share.expect("a timed render has a share"))
}

/// Calls `render_chunk` (which renders [`CHUNK`] frames, given the frames rendered before)
/// through a warm-up, then, when `timing` asks, times it and extrapolates the share of one
/// core at 48 kHz.
fn time_render(
    sample_rate: f32,
    timing: CpuTiming,
    mut render_chunk: impl FnMut(usize) -> Result<(), SanityError>,
) -> Result<Option<f32>, SanityError> {
    let sr = sample_rate as f64;
    let mut rendered = 0;
    while rendered < (CPU_WARMUP_SECONDS * sr) as usize {
        render_chunk(rendered)?;
        rendered += CHUNK;
    }
    if timing == CpuTiming::Untimed {
        return Ok(None);
    }
    let timed_from = rendered;
    let target = timed_from + (CPU_AUDIO_SECONDS * sr) as usize;
    let clock = Stopwatch::start();
    while rendered < target && clock.elapsed() < CPU_TIME_CAP {
        render_chunk(rendered)?;
        rendered += CHUNK;
    }
    let audio_seconds = (rendered - timed_from) as f64 / sr;
    let share = clock.elapsed().as_secs_f64() / audio_seconds * (REFERENCE_RATE / sr);
    Ok(Some(share as f32))
}

/// Measures the CPU time of the calling thread, so other processes competing for the
/// cores do not inflate the figure; the wall clock where the platform cannot say.
struct Stopwatch {
    thread_start: Option<Duration>,
    wall_start: Instant,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch {
            thread_start: thread_cpu_time(),
            wall_start: Instant::now(),
        }
    }

    fn elapsed(&self) -> Duration {
        match (self.thread_start, thread_cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => self.wall_start.elapsed(),
        }
    }
}

#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid place for the result.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (status == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// Scientific pitch name of a MIDI note: 60 → `C4`.
pub fn note_name(note: u8) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    format!("{}{}", NAMES[note as usize % 12], note as i32 / 12 - 1)
}

fn to_dbfs(peak: f32) -> f32 {
    20.0 * peak.log10()
}

/// `-6.0 dBFS`, `+18.3 dBFS`, `-inf dBFS`.
fn dbfs(value: f32) -> String {
    if value == f32::NEG_INFINITY {
        "-inf dBFS".to_string()
    } else if value > 0.0 {
        format!("+{value:.1} dBFS")
    } else {
        format!("{value:.1} dBFS")
    }
}

/// A share as a percentage with the precision it needs: `73%`, `3.1%`, `0.96%`, `0.0001%`.
fn percent(share: f32) -> String {
    let p = share as f64 * 100.0;
    let decimals = if p >= 10.0 {
        0
    } else if p >= 1.0 {
        1
    } else if p > 0.0 {
        (1 - p.log10().floor() as i32).max(2) as usize
    } else {
        0
    };
    let text = format!("{p:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}%")
}

/// `16 voices need 3.1%`, `the effect program needs 0.64%`.
fn cpu_need(kind: ProgramKind, voices: usize, share: f32) -> String {
    match kind {
        ProgramKind::Instrument => format!("{voices} voices need {}", percent(share)),
        ProgramKind::Effect => format!("the effect program needs {}", percent(share)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mephisto_compiler::{Compiler, CompilerOptions};

    /// Compiles `source` into a cache folder of the test's own (removed afterwards).
    fn compile(test: &str, source: &str) -> CompiledVariant {
        let dir =
            std::env::temp_dir().join(format!("mephisto-sanity-{test}-{}", std::process::id()));
        let compiler = Compiler::new(CompilerOptions {
            cache_dir: Some(dir.clone()),
            ..CompilerOptions::default()
        });
        let variant = compiler.compile(source);
        let _ = std::fs::remove_dir_all(&dir);
        variant.unwrap_or_else(|e| panic!("the test program compiles: {e}"))
    }

    const GOOD: &str = r#"import("stdfaust.lib");
freq = hslider("freq", 440, 20, 20000, 1);
gain = hslider("gain", 0.5, 0, 1, 0.01);
process = os.osc(freq) * gain * 0.5 * en.asr(0.005, 1, 0.1, button("gate"));
"#;

    /// Blocks of one falling voice (`per_block` dB each, from `start` dBFS) beside a voice
    /// that never sounded.
    fn falling(start: f32, per_block: f32, blocks: usize) -> Vec<Vec<Option<f32>>> {
        (0..blocks)
            .map(|i| vec![Some(start - per_block * i as f32), None])
            .collect()
    }

    #[test]
    fn a_tail_ends_by_its_fall_only_when_every_voice_keeps_falling_fast_enough() {
        // 2 dB a block is 20 dB/s: from -30 dBFS, -100 dBFS in 3.5 s.
        assert!(ends_by_its_fall(&falling(-30.0, 2.0, 6), 14.0));
        // Too few blocks to judge.
        assert!(!ends_by_its_fall(
            &falling(-30.0, 2.0, FALLING_BLOCKS),
            14.0
        ));
        // Too slow to end in the time left: 1 dB/s from -40 dBFS is a minute.
        assert!(!ends_by_its_fall(&falling(-30.0, 0.1, 6), 14.0));
        assert!(!ends_by_its_fall(&falling(-30.0, 2.0, 6), 2.0));
        // Holding its level: a voice that ignores `gate`.
        assert!(!ends_by_its_fall(&falling(-20.0, 0.0, 6), 14.0));
        // Rising again in the last blocks (a tremolo): not yet.
        let mut wobble = falling(-30.0, 2.0, 6);
        wobble[4][0] = Some(-20.0);
        assert!(!ends_by_its_fall(&wobble, 14.0));
        // Every sounding voice must fall: one holding keeps the tail followed.
        let mut beside = falling(-30.0, 2.0, 6);
        beside.iter_mut().for_each(|block| block[1] = Some(-60.0));
        assert!(!ends_by_its_fall(&beside, 14.0));
        // A voice that has ended counts as ended.
        let mut ended = falling(-30.0, 2.0, 6);
        ended.last_mut().unwrap()[0] = None;
        assert!(ends_by_its_fall(&ended, 0.0));
        // Falling 1.5 dB a block on the whole under an LFO's ±6 dB wobble (never three
        // falls in a row): its trend is judged once there are enough blocks.
        let wobbling = |blocks: usize, per_block: f32| -> Vec<Vec<Option<f32>>> {
            (0..blocks)
                .map(|i| {
                    let lfo = if i % 2 == 0 { 6.0 } else { -6.0 };
                    vec![Some(-30.0 - per_block * i as f32 + lfo), None]
                })
                .collect()
        };
        assert!(!ends_by_its_fall(&wobbling(TREND_BLOCKS - 1, 1.5), 14.0));
        assert!(ends_by_its_fall(&wobbling(TREND_BLOCKS, 1.5), 14.0));
        // The same wobble around a held level, or falling too slowly, goes on being followed.
        assert!(!ends_by_its_fall(&wobbling(TREND_BLOCKS + 1, 0.0), 14.0));
        assert!(!ends_by_its_fall(&wobbling(TREND_BLOCKS + 1, 0.2), 14.0));
        // A swell in the later half (a slow LFO's crest) is no fall.
        let mut swell = wobbling(TREND_BLOCKS + 1, 1.5);
        swell[TREND_BLOCKS][0] = Some(-10.0);
        assert!(!ends_by_its_fall(&swell, 14.0));
    }

    #[test]
    fn a_built_in_with_a_long_release_is_followed_until_its_fall_shows_its_end() {
        use crate::build::BuildSpec;
        let (index, _) = mephisto_dsp::find_builtin("dark_drone").unwrap();
        let spec = PatchSpec::from_builtin(index).unwrap();
        let release = spec.params["release"] as f64;
        assert!(release >= 2.0, "the test needs a long release: {release} s");
        let report = check_spec(
            &Program::Builtin(index),
            &spec,
            48_000.0,
            &SanityLimits::default(),
        )
        .unwrap();
        // The envelope reaches zero only `release` seconds after the last note-off; the
        // gate stopped following once the fall had shown it will.
        assert!(
            report.tail_s >= (FALLING_BLOCKS + 1) as f64 * TAIL_BLOCK_SECONDS - 0.01
                && report.tail_s < release - 0.5,
            "{report:?}"
        );
    }

    #[test]
    fn a_built_in_program_is_gated_without_timing_its_cpu() {
        use crate::build::BuildSpec;
        let spec = PatchSpec::from_builtin(0).unwrap();
        let limits = SanityLimits::default();
        let report = check_spec(&Program::Builtin(0), &spec, 48_000.0, &limits).unwrap();
        assert_eq!(report.cpu_share, None, "{report:?}");
        assert!(report.peak_dbfs > limits.silence_dbfs, "{report:?}");
        assert!(report.to_string().contains("CPU not timed"), "{report}");
    }

    #[test]
    fn a_reasonable_instrument_passes_with_its_figures() {
        let variant = compile("good", GOOD);
        let report = check(&variant, 48_000.0).unwrap();
        assert_eq!(report.kind, ProgramKind::Instrument);
        // Full velocity × 0.5: -6 dBFS.
        assert!((report.peak_dbfs + 6.0).abs() < 0.5, "{report:?}");
        assert!(
            report.cpu_share.is_some_and(|s| s > 0.0 && s < 0.5),
            "{report:?}"
        );
        assert_eq!(report.cpu_voices, 16);
        let text = report.to_string();
        assert!(text.starts_with("peak -6.0 dBFS (note "), "{text}");
        assert!(text.contains("16 voices need "), "{text}");
        assert!(
            text.ends_with("of one core at 48 kHz (budget 50%)"),
            "{text}"
        );
    }

    #[test]
    fn nan_is_refused_with_the_time_and_the_note() {
        // 1/0 = inf once the note is above 1 kHz: only C6 (1047 Hz) gets there.
        let variant = compile(
            "nan",
            "process = 1.0 / float(hslider(\"freq\", 440, 20, 20000, 1) < 1000) * button(\"gate\");",
        );
        let err = check(&variant, 48_000.0).unwrap_err();
        assert!(matches!(err, SanityError::NonFinite { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the patch produces NaN/Inf at 1.00 s on note C6"
        );
    }

    #[test]
    fn a_runaway_level_is_refused() {
        let variant = compile(
            "loud",
            "import(\"stdfaust.lib\");\nprocess = os.osc(hslider(\"freq\", 440, 20, 20000, 1)) * 100 * button(\"gate\");",
        );
        let err = check(&variant, 48_000.0).unwrap_err();
        assert!(matches!(err, SanityError::Runaway { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("the patch peaks at +40.0 dBFS on note C"),
            "{text}"
        );
        assert!(
            text.ends_with("above the +12.0 dBFS limit (lower its gain)"),
            "{text}"
        );
    }

    #[test]
    fn silence_is_refused() {
        let variant = compile("silent", "process = 0 * button(\"gate\");");
        let err = check(&variant, 48_000.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the patch is silent: its peak over the probe (notes C2, C4 and C6) is -inf dBFS, below -80.0 dBFS"
        );
        let variant = compile("silent-effect", "process = _ * 0;");
        let err = check(&variant, 48_000.0).unwrap_err();
        assert!(
            matches!(
                err,
                SanityError::Silent {
                    kind: ProgramKind::Effect,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_constant_output_is_refused() {
        let variant = compile("dc", "process = 0.5 * button(\"gate\");");
        let err = check(&variant, 48_000.0).unwrap_err();
        assert!(matches!(err, SanityError::DcOnly { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("the patch outputs only a constant level (DC)"),
            "{err}"
        );
    }

    #[test]
    fn voices_that_ignore_the_gate_are_refused() {
        let variant = compile(
            "drone",
            "import(\"stdfaust.lib\");\nprocess = os.osc(hslider(\"freq\", 440, 20, 20000, 1)) * 0.1;",
        );
        let err = check(&variant, 48_000.0).unwrap_err();
        assert!(matches!(err, SanityError::NeverEnds { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("the patch's voices never end: 15 s after note-off a voice still sounds at -20.0 dBFS"),
            "{err}"
        );
    }

    #[test]
    fn a_panic_is_refused_with_its_message() {
        // The integer remainder by the gate panics once a note is released.
        let variant = compile(
            "panic",
            "process = int(hslider(\"a\", 7, 0, 10, 1)) % int(button(\"gate\"));",
        );
        let err = check(&variant, 48_000.0).unwrap_err();
        assert!(matches!(err, SanityError::Panicked(_)), "{err:?}");
        assert!(err.to_string().contains("remainder"), "{err}");
    }

    #[test]
    fn a_patch_over_the_cpu_budget_is_refused() {
        let variant = compile("cpu", GOOD);
        let limits = SanityLimits {
            cpu_budget: 0.000_01,
            ..SanityLimits::default()
        };
        let err = check_with(&variant, 48_000.0, &limits).unwrap_err();
        let SanityError::OverBudget { share, .. } = err else {
            panic!("{err:?}");
        };
        assert!(share > 0.000_01);
        let text = err.to_string();
        assert!(text.starts_with("16 voices need "), "{text}");
        assert!(
            text.ends_with("% of one core at 48 kHz; the budget is 0.001%"),
            "{text}"
        );
    }

    #[test]
    fn an_effect_program_is_probed_with_pink_noise() {
        let variant = compile("effect", "process = _, _ : + : *(0.5);");
        let report = check(&variant, 44_100.0).unwrap();
        assert_eq!(report.kind, ProgramKind::Effect);
        assert_eq!(report.loudest, "pink noise");
        assert!(
            report.peak_dbfs < 0.0 && report.peak_dbfs > -40.0,
            "{report:?}"
        );
        assert!(report.to_string().contains("; the effect program needs "));
    }

    #[test]
    fn figures_read_well() {
        assert_eq!(note_name(36), "C2");
        assert_eq!(note_name(61), "C#4");
        assert_eq!(dbfs(f32::NEG_INFINITY), "-inf dBFS");
        assert_eq!(dbfs(18.26), "+18.3 dBFS");
        assert_eq!(percent(0.73), "73%");
        assert_eq!(percent(0.031), "3.1%");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(percent(0.0001), "0.01%");
        assert_eq!(percent(0.009_59), "0.96%");
        assert_eq!(percent(0.000_001), "0.0001%");
        assert_eq!(percent(0.0), "0%");
    }
}
