//! The synthesis controls of a neural patch: how a patch's macros reshape a model's frames on
//! the audio side, without a decoder call. They are declared as [`Control`]s so the macro
//! machinery (`apply_macros`, PatchSpec macro maps, calibration) treats them like Faust
//! sliders.

use mephisto_dsp::controls::{Control, ControlKind, ControlSet};
use mephisto_dsp::macros::Macro;

use super::Controls;

/// Rate of the vibrato [`Shaping::vibrato`] adds, in Hz.
const VIBRATO_HZ: f64 = 5.5;

/// How fast [`Shaping::transient`]'s boost dies away after the note-on, in seconds.
const TRANSIENT_S: f64 = 0.05;

/// Centre of the low-mid bell [`Shaping::body`] raises, in Hz: the middle of Warm's
/// 100–600 Hz band, where the Faust patches' `mp.body` bell sits too.
const BODY_HZ: f32 = 250.0;

/// How far from [`BODY_HZ`], in octaves, the bell's gain (in dB) is half of
/// [`Shaping::body`]: 100 and 600 Hz are about that far.
const BODY_HALF_OCTAVES: f32 = 1.3;

/// Synthesis controls applied to the decoder's frames on the audio side, so a patch's macros
/// can reshape a model's timbre without a decoder call (docs/MACROS.md).
/// The neutral value of each leaves the frames as decoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shaping {
    /// Harmonic `k`'s weight is multiplied by `k^tilt` (then renormalised): up is brighter.
    pub tilt: f32,
    /// Gain in dB of a bell on the low mids, centred on 250 Hz, for the harmonics and noise
    /// bands under it (the harmonics then renormalised): up is warmer.
    pub body: f32,
    /// Multiplies the noise bands: up is grittier.
    pub noise_gain: f32,
    /// Depth of a 5.5 Hz vibrato, in semitones.
    pub vibrato: f32,
    /// Multiplies the sidecar's attack time (applied by the worker side's loudness contour).
    pub attack: f32,
    /// Multiplies the sidecar's release time (the worker's contour and the audio side's end
    /// of a released voice).
    pub release: f32,
    /// Gain at the note-on, in dB, dying away over 50 ms: up is a harder transient.
    pub transient: f32,
}

impl Shaping {
    pub const NEUTRAL: Shaping = Shaping {
        tilt: 0.0,
        body: 0.0,
        noise_gain: 1.0,
        vibrato: 0.0,
        attack: 1.0,
        release: 1.0,
        transient: 0.0,
    };

    /// Reshapes one decoded frame, `t` seconds into its note; the noise bands are
    /// `noise_band_hz` apart, band 0 at 0 Hz.
    pub(crate) fn apply(&self, controls: &mut Controls, t: f64, noise_band_hz: f32) {
        if self.tilt != 0.0 || self.body != 0.0 {
            let (mut before, mut after) = (0.0f32, 0.0f32);
            let f0 = controls.f0_hz;
            for (k, w) in controls.harmonics.iter_mut().enumerate() {
                before += *w;
                let harmonic = (k + 1) as f32;
                *w *= harmonic.powf(self.tilt) * self.body_gain(harmonic * f0);
                after += *w;
            }
            if after > 0.0 {
                let scale = before / after;
                controls.harmonics.iter_mut().for_each(|w| *w *= scale);
            }
        }
        if self.noise_gain != 1.0 || self.body != 0.0 {
            for (k, n) in controls.noise.iter_mut().enumerate() {
                *n *= self.noise_gain * self.body_gain(k as f32 * noise_band_hz);
            }
        }
        if self.vibrato != 0.0 {
            let bend = f64::from(self.vibrato) * (std::f64::consts::TAU * VIBRATO_HZ * t).sin();
            controls.f0_hz *= 2f64.powf(bend / 12.0) as f32;
        }
        if self.transient != 0.0 {
            let db = f64::from(self.transient) * (-t / TRANSIENT_S).exp();
            controls.amplitude *= 10f64.powf(db / 20.0) as f32;
        }
    }

    /// The linear gain of the [`Shaping::body`] bell at `hz`: a Gaussian in octaves, in dB.
    fn body_gain(&self, hz: f32) -> f32 {
        if self.body == 0.0 || hz <= 0.0 {
            return 1.0;
        }
        let octaves = (hz / BODY_HZ).log2() / BODY_HALF_OCTAVES;
        let db = self.body * (-octaves * octaves * std::f32::consts::LN_2).exp();
        10f32.powf(db / 20.0)
    }
}

/// The synthesis controls, by control index.
const TILT: i32 = 0;
const BODY: i32 = 1;
const NOISE_GAIN: i32 = 2;
const VIBRATO: i32 = 3;
const ATTACK: i32 = 4;
const TRANSIENT: i32 = 5;
/// Not a frame shaping: the wet gain of the synthesis graph's reverb, applied by
/// [`super::NeuralVoices`]; listed only for a graph that has a reverb.
pub(crate) const ROOM: i32 = 6;
const RELEASE: i32 = 7;

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

/// The controls of a model whose synthesis graph has a learned reverb, both moved by Space
/// (a patch's effect reverb is what Space moves otherwise, and such a model has none):
/// `room` multiplies the reverb's `wet` gain (0: dry, 1: as learned, 5.5 at Space 1, +15
/// dB: a learned room is quiet, nylon_pluck's is 23 dB below the direct sound), and
/// `release` the sidecar's release time (×0.125 to ×8), since a room that quiet left the
/// probe's release tail unchanged below Space 0.5.
const ROOM_CONTROLS: [ShapingControl; 2] = [
    ShapingControl {
        label: "room",
        index: ROOM,
        init: 1.0,
        range: [0.0, 6.0],
        log_scale: false,
        unit: "",
        depths: &[(Macro::Space, 0.75)],
    },
    ShapingControl {
        label: "release",
        index: RELEASE,
        init: 1.0,
        range: [0.125, 8.0],
        log_scale: true,
        unit: "",
        depths: &[(Macro::Space, 0.5)],
    },
];

/// The synthesis controls of a neural patch with their designed values and macro depths:
/// Bright tilts the harmonics, Warm raises a low-mid bell (250 Hz), Grit scales the noise, Motion
/// adds vibrato, Punch shortens the attack and hardens the transient. With `room` (a model
/// whose graph has a learned reverb) Space moves that room's level; otherwise Space has no
/// voice control and moves the effect's reverb when the patch has an effect.
pub fn shaping_controls(room: bool) -> ControlSet {
    let room: &[ShapingControl] = if room { &ROOM_CONTROLS } else { &[] };
    ControlSet {
        controls: SHAPING_CONTROLS
            .iter()
            .chain(room)
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

impl Shaping {
    /// Sets synthesis control `index` of [`shaping_controls`]; other indices are ignored.
    /// Wait-free.
    pub fn set(&mut self, index: i32, value: f32) {
        match index {
            TILT => self.tilt = value,
            BODY => self.body = value,
            NOISE_GAIN => self.noise_gain = value,
            VIBRATO => self.vibrato = value,
            ATTACK => self.attack = value,
            RELEASE => self.release = value,
            TRANSIENT => self.transient = value,
            _ => {}
        }
    }

    /// The shaping with every synthesis control at its designed value.
    pub fn designed() -> Shaping {
        let mut shaping = Shaping::NEUTRAL;
        for c in SHAPING_CONTROLS {
            shaping.set(c.index, c.init);
        }
        shaping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaping_reshapes_a_frame_and_neutral_leaves_it_alone() {
        const BAND_HZ: f32 = 125.0;
        let mut frame = Controls::silent(100.0);
        frame.amplitude = 1.0;
        frame.harmonics[0] = 0.5;
        frame.harmonics[9] = 0.5;
        frame.noise[3] = 0.2;
        let mut neutral = frame;
        Shaping::NEUTRAL.apply(&mut neutral, 0.0, BAND_HZ);
        assert_eq!(neutral, frame);
        let shaping = Shaping {
            tilt: 1.0,
            noise_gain: 2.0,
            transient: 6.0,
            ..Shaping::NEUTRAL
        };
        shaping.apply(&mut frame, 0.0, BAND_HZ);
        let (h1, h10) = (frame.harmonics[0], frame.harmonics[9]);
        assert!((h1 + h10 - 1.0).abs() < 1e-6, "still a distribution");
        assert!((h10 / h1 - 10.0).abs() < 1e-4, "k^1 tilt");
        assert!((frame.noise[3] - 0.4).abs() < 1e-6);
        assert!((frame.amplitude - 10f32.powf(6.0 / 20.0)).abs() < 1e-5);
        // Body: 100 Hz is 1.32 octaves below the bell's centre, 1000 Hz 2 above; band 2
        // (250 Hz) is its centre.
        let mut warm = neutral;
        Shaping {
            body: 12.0,
            ..Shaping::NEUTRAL
        }
        .apply(&mut warm, 0.0, BAND_HZ);
        let gain = |db: f32| 10f32.powf(db / 20.0);
        let (g100, g1000) = (
            gain(12.0 * 0.5f32.powf((1.32f32 / 1.3).powi(2))),
            gain(12.0 * 0.5f32.powf((2.0f32 / 1.3).powi(2))),
        );
        let expected_h1 = 0.5 * g100 / (0.5 * g100 + 0.5 * g1000);
        assert!(
            (warm.harmonics[0] - expected_h1).abs() < 1e-3,
            "{} vs {expected_h1}",
            warm.harmonics[0]
        );
        assert!((warm.harmonics[0] + warm.harmonics[9] - 1.0).abs() < 1e-6);
        let mut band = neutral;
        band.noise[2] = 0.2;
        Shaping {
            body: 12.0,
            ..Shaping::NEUTRAL
        }
        .apply(&mut band, 0.0, BAND_HZ);
        assert!(
            (band.noise[2] - 0.2 * gain(12.0)).abs() < 1e-5,
            "{}",
            band.noise[2]
        );
    }
}
