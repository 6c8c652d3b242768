//! Playing a compiled *effect program* — a Faust `process` with audio inputs and no voice
//! convention  — outside the engine, which only plays voices: the test signal
//! it is fed (deterministic pink noise, or a WAV file), channel mapping between that stereo
//! signal and the program's 1 or 2 inputs and outputs, and offline rendering through the
//! same safety stage the engine ends with. Used by the CLI, the sanity gate and the tests.

use std::path::Path;

use faust_types::ParamIndex;

use mephisto_compiler::CompiledVariant;
use mephisto_dsp::controls::ControlSet;
use mephisto_dsp::macros::MacroValues;
use mephisto_dsp::DspBox;
use mephisto_rt::instance::{MacroDrive, CHUNK};
use mephisto_rt::limiter::{silence_non_finite, SafetyLimiter};

use crate::render::StereoAudio;

/// Pink noise scaled to about -15 dBFS RMS, so effects see a realistic level with headroom.
const PINK_SCALE: f32 = 0.05;

/// Deterministic pink (-3 dB/octave) noise: seeded white noise (SplitMix64) through Paul
/// Kellett's refined pink filter, accurate to ±0.05 dB above 9.2 Hz at 44.1 kHz.
#[derive(Debug, Clone)]
pub struct PinkNoise {
    state: u64,
    b: [f32; 7],
}

impl PinkNoise {
    pub fn new(seed: u64) -> PinkNoise {
        PinkNoise {
            state: seed,
            b: [0.0; 7],
        }
    }

    /// Uniform white noise in [-1, 1).
    fn white(&mut self) -> f32 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 24 bits make an exact f32 in [0, 1).
        (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    pub fn next_sample(&mut self) -> f32 {
        let white = self.white();
        let b = &mut self.b;
        b[0] = 0.99886 * b[0] + white * 0.055_517_9;
        b[1] = 0.99332 * b[1] + white * 0.075_075_9;
        b[2] = 0.96900 * b[2] + white * 0.153_852;
        b[3] = 0.86650 * b[3] + white * 0.310_485_6;
        b[4] = 0.55000 * b[4] + white * 0.532_952_2;
        b[5] = -0.7616 * b[5] - white * 0.016_898;
        let pink = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + white * 0.5362;
        b[6] = white * 0.115_926;
        pink * PINK_SCALE
    }
}

/// `seconds` of stereo pink noise, the two channels from independent generators so a stereo
/// effect sees a decorrelated signal; the same `seed` always gives the same samples.
pub fn pink_noise(seconds: f64, sample_rate: u32, seed: u64) -> StereoAudio {
    let frames = (seconds * sample_rate as f64).round() as usize;
    let mut left = PinkNoise::new(seed);
    let mut right = PinkNoise::new(seed ^ 0x5555_5555_5555_5555);
    StereoAudio {
        left: (0..frames).map(|_| left.next_sample()).collect(),
        right: (0..frames).map(|_| right.next_sample()).collect(),
        sample_rate,
    }
}

/// Reads any WAV file hound understands (integer or float, any bit depth) as stereo: a mono
/// file is copied to both channels; more than two channels are refused.
pub fn read_wav(path: &Path) -> Result<StereoAudio, String> {
    let fail = |e: hound::Error| format!("cannot read `{}`: {e}", path.display());
    let (file, _) = crate::files::open_regular(path, crate::files::MAX_WAV_BYTES, "the WAV file")?;
    let mut reader = hound::WavReader::new(std::io::BufReader::new(file)).map_err(fail)?;
    let spec = reader.spec();
    // Checked from the header, before any sample is read.
    if !(1..=2).contains(&spec.channels) {
        return Err(format!(
            "`{}` has {} channels; use a mono or stereo file",
            path.display(),
            spec.channels
        ));
    }
    if !(1_000..=384_000).contains(&spec.sample_rate) {
        return Err(format!(
            "`{}` is at {} Hz; Mephisto reads WAV files from 1000 to 384000 Hz",
            path.display(),
            spec.sample_rate
        ));
    }
    if u64::from(reader.duration()) > MAX_WAV_FRAMES {
        return Err(format!(
            "`{}` is {:.0} s long at {} Hz; Mephisto reads at most {MAX_WAV_FRAMES} frames (10 minutes at 48 kHz)",
            path.display(),
            f64::from(reader.duration()) / f64::from(spec.sample_rate),
            spec.sample_rate
        ));
    }
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(fail)?,
        hound::SampleFormat::Int => {
            let full_scale = (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 / full_scale))
                .collect::<Result<_, _>>()
                .map_err(fail)?
        }
    };
    let (left, right) = match spec.channels {
        1 => (samples.clone(), samples),
        2 => samples.chunks_exact(2).map(|f| (f[0], f[1])).unzip(),
        n => {
            return Err(format!(
                "`{}` has {n} channels; use a mono or stereo file",
                path.display()
            ))
        }
    };
    Ok(StereoAudio {
        left,
        right,
        sample_rate: spec.sample_rate,
    })
}

/// The most frames read from a WAV file: 10 minutes at 48 kHz.
pub const MAX_WAV_FRAMES: u64 = 600 * 48_000;

/// One instance of an effect program (and its `effect`, if it defines one) with the
/// buffers to map a stereo signal onto its channels. Built off the audio thread; `process`
/// allocates nothing.
pub struct EffectPlayer {
    program: DspBox,
    /// The program's shared `effect` (2 in, 2 out), run after `process` when defined.
    effect: Option<DspBox>,
    inputs: usize,
    outputs: usize,
    macro_targets: Vec<MacroDrive>,
    input: [Vec<f32>; 2],
    middle: [Vec<f32>; 2],
}

impl EffectPlayer {
    /// Instantiates `variant`, which must have 1 or 2 inputs. A control labelled `gate` is
    /// held down, so a program that gates its input lets it through.
    pub fn new(variant: &CompiledVariant, sample_rate: f32) -> Result<EffectPlayer, String> {
        let (inputs, outputs) = (variant.voice_inputs(), variant.voice_outputs());
        if !(1..=2).contains(&inputs) || !(1..=2).contains(&outputs) {
            return Err(format!(
                "an effect program needs 1 or 2 inputs and 1 or 2 outputs, this one has {inputs} and {outputs}"
            ));
        }
        let sr = sample_rate.round() as i32;
        let mut program = variant.new_voice();
        program.init(sr);
        let controls = ControlSet::of(program.as_ref())?;
        if let Some(gate) = controls.find("gate") {
            program.set_param(gate.param(), 1.0);
        }
        let mut effect = variant.new_effect();
        let effect_controls = match effect.as_mut() {
            Some(fx) => {
                fx.init(sr);
                ControlSet::of(fx.as_ref()).map_err(|e| format!("effect: {e}"))?
            }
            None => ControlSet::default(),
        };
        let macro_targets = MacroDrive::all_in(&controls, false)
            .chain(MacroDrive::all_in(&effect_controls, true))
            .collect();
        Ok(EffectPlayer {
            program,
            effect,
            inputs,
            outputs,
            macro_targets,
            input: [vec![0.0; CHUNK], vec![0.0; CHUNK]],
            middle: [vec![0.0; CHUNK], vec![0.0; CHUNK]],
        })
    }

    /// Moves the macro-mapped parameters as the engine does for a voice patch: each one's
    /// normalised position becomes `default + Σ depth·(m − 0.5)·2`.
    pub fn set_macros(&mut self, macros: &MacroValues) {
        for target in &self.macro_targets {
            let value = target.value(macros);
            let dsp = match (&mut self.effect, target.in_effect) {
                (Some(fx), true) => fx,
                _ => &mut self.program,
            };
            dsp.set_param(ParamIndex(target.control.index), value);
        }
    }

    /// Runs a stereo block of any length through the program, without any safety stage: a
    /// mono-input program hears (L + R) / 2, a mono output goes to both sides.
    pub fn process(&mut self, in_l: &[f32], in_r: &[f32], out_l: &mut [f32], out_r: &mut [f32]) {
        let frames = in_l.len().min(in_r.len()).min(out_l.len()).min(out_r.len());
        let mut done = 0;
        while done < frames {
            let n = (frames - done).min(CHUNK);
            let range = done..done + n;
            self.process_chunk(
                &in_l[range.clone()],
                &in_r[range.clone()],
                &mut out_l[range.clone()],
                &mut out_r[range],
            );
            done += n;
        }
    }

    fn process_chunk(&mut self, in_l: &[f32], in_r: &[f32], out_l: &mut [f32], out_r: &mut [f32]) {
        let n = in_l.len();
        let [mono, _] = &mut self.input;
        let inputs: [&[f32]; 2] = if self.inputs == 1 {
            for i in 0..n {
                mono[i] = 0.5 * (in_l[i] + in_r[i]);
            }
            [&mono[..n], &[]]
        } else {
            [in_l, in_r]
        };
        let [mid_l, mid_r] = &mut self.middle;
        let mut outputs: [&mut [f32]; 2] = [&mut mid_l[..n], &mut mid_r[..n]];
        self.program.compute(
            n as i32,
            &inputs[..self.inputs],
            &mut outputs[..self.outputs],
        );
        if self.outputs == 1 {
            mid_r[..n].copy_from_slice(&mid_l[..n]);
        }
        match &mut self.effect {
            Some(fx) => {
                let inputs: [&[f32]; 2] = [&mid_l[..n], &mid_r[..n]];
                let mut outputs: [&mut [f32]; 2] = [out_l, out_r];
                fx.compute(n as i32, &inputs, &mut outputs);
            }
            None => {
                out_l.copy_from_slice(&mid_l[..n]);
                out_r.copy_from_slice(&mid_r[..n]);
            }
        }
    }
}

/// Plays `input` through an effect program for `seconds` (silence after the input ends, so
/// tails ring out), ending with the engine's safety stage: non-finite samples become
/// silence and the peak limiter holds the output under its ceiling.
pub fn render_effect(
    variant: &CompiledVariant,
    input: &StereoAudio,
    macros: MacroValues,
    seconds: f64,
) -> Result<StereoAudio, String> {
    let sample_rate = input.sample_rate;
    let mut player = EffectPlayer::new(variant, sample_rate as f32)?;
    player.set_macros(&macros);
    let frames = (seconds * sample_rate as f64).round() as usize;
    let padded = |channel: &[f32]| {
        let mut v = channel[..channel.len().min(frames)].to_vec();
        v.resize(frames, 0.0);
        v
    };
    let (in_l, in_r) = (padded(&input.left), padded(&input.right));
    let mut left = vec![0.0; frames];
    let mut right = vec![0.0; frames];
    player.process(&in_l, &in_r, &mut left, &mut right);
    let mut limiter = SafetyLimiter::new(sample_rate as f32);
    for (l, r) in left.chunks_mut(CHUNK).zip(right.chunks_mut(CHUNK)) {
        silence_non_finite(l, r);
        limiter.process(l, r);
    }
    Ok(StereoAudio {
        left,
        right,
        sample_rate,
    })
}
