//! A patch instance: one Faust DSP per voice (or a neural model's voice bank) plus the shared
//! effect, the parameter indices the engine drives, and the macro map resolved to concrete
//! parameters.
//!
//! Two types mark the boundary between the threads. The worker builds and configures a
//! [`PatchInstance`] (designed values, macro map, polyphony: these allocate). The audio thread
//! only ever holds a [`Playable`], which gives read access to the instance and the few
//! wait-free operations playing needs; a retired `Playable` goes back to the worker, which
//! drops it.

use std::ops::Deref;

use faust_types::ParamIndex;
use mephisto_dsp::controllers::ControllerMap;
use mephisto_dsp::controls::{Control, ControlSet};
use mephisto_dsp::macros::{Macro, MacroMap, MacroValues};
use mephisto_dsp::{builtin_patches, DspBox};

pub use crate::modulation::MacroDrive;
use crate::modulation::{ControllerValues, Modulation};
use crate::neural::NeuralVoices;

/// Voice controls the engine sets itself (the Faust polyphony convention).
const ENGINE_DRIVEN: [&str; 3] = ["freq", "gain", "gate"];

/// Frames rendered per internal chunk; scratch buffers have this size.
pub const CHUNK: usize = 64;

/// A voice's output below this peak level (-100 dBFS) counts as silent.
const SILENCE: f32 = 1e-5;

/// A released voice that stayed silent this long is no longer computed.
const IDLE_AFTER_SECONDS: f32 = 0.05;

/// One voice's DSP and what the engine knows about its sound.
struct Voice {
    dsp: DspBox,
    /// Being computed: from its note-on until it has been silent for a while after release.
    active: bool,
    gate_on: bool,
    /// A held voice was stolen: drop its gate for one sample so envelopes restart.
    retrigger: bool,
    quiet_frames: u32,
    /// Peak of the last chunk, for stealing the quietest voice.
    level: f32,
    /// The velocity of the voice's note, for the controller routes that follow velocity.
    velocity: f32,
    /// A new note's velocity has not reached the voice's parameters yet.
    stale: bool,
}

/// What sounds in an instance before its effect: one Faust DSP per voice, or a neural model's
/// voice bank.
struct Voices {
    faust: Vec<Voice>,
    neural: Option<Box<NeuralVoices>>,
    /// Channels each voice gives (a neural bank gives one).
    outputs: usize,
    /// The controls the macros and the engine drive on the voices.
    controls: ControlSet,
}

/// A patch ready to play: voices, effect, and everything needed to drive them.
pub struct PatchInstance {
    pub name: String,
    /// Index into the built-in patches, when the instance is one of them.
    pub builtin_index: Option<usize>,
    /// Identifies a runtime-compiled variant (never 0), so other threads can tell which
    /// one is live without touching the instance.
    pub variant_id: Option<u64>,
    /// How many of the voices new notes may use (a PatchSpec's `voices`); the rest stay
    /// idle, so every instance has the engine's voice count and can be swapped in.
    polyphony: usize,
    /// The Faust voices; empty when `neural` plays the notes.
    voices: Vec<Voice>,
    /// A neural model's voices instead of Faust ones: its mono output feeds both channels of
    /// the effect, and its voice controls are the synthesis controls of `neural::voices`.
    neural: Option<Box<NeuralVoices>>,
    voice_outputs: usize,
    effect: Option<DspBox>,
    freq: Option<ParamIndex>,
    gain: Option<ParamIndex>,
    gate: Option<ParamIndex>,
    /// The parameters the macros and controllers move, resolved for playing.
    modulation: Modulation,
    /// The voice's and the effect's controls, as designed (a PatchSpec may change their
    /// designed values and macro depths).
    voice_controls: ControlSet,
    effect_controls: ControlSet,
    /// What the controllers do on this patch (a PatchSpec's `controllers`).
    controller_map: ControllerMap,
    /// Macro and controller values last written to the DSPs; `None` forces the next write.
    applied: Option<(MacroValues, ControllerValues)>,
    /// A neural bank's velocity for the routes that follow it: its newest note's (the
    /// bank's controls are shared by its voices).
    neural_velocity: f32,
    neural_stale: bool,
    /// Linear gain after the effect: a PatchSpec's output trim, levelling the patch.
    output_gain: f32,
    idle_after_frames: u32,
    voice_buffers: [Vec<f32>; 2],
    bus: [Vec<f32>; 2],
    output: [Vec<f32>; 2],
}

impl PatchInstance {
    /// Instantiates built-in patch `index` with `voice_count` voices at `sample_rate`.
    pub fn builtin(
        index: usize,
        voice_count: usize,
        sample_rate: f32,
    ) -> Result<Box<Self>, String> {
        let patch = builtin_patches()
            .get(index)
            .ok_or_else(|| format!("there is no built-in patch number {index}"))?;
        let mut instance = Self::new(
            patch.name,
            patch.new_voice,
            patch.new_effect,
            voice_count,
            sample_rate,
        )?;
        instance.builtin_index = Some(index);
        Ok(instance)
    }

    /// Builds an instance from DSP constructors, checking the channel layout the engine needs.
    pub fn new(
        name: &str,
        new_voice: impl Fn() -> DspBox,
        new_effect: Option<impl Fn() -> DspBox>,
        voice_count: usize,
        sample_rate: f32,
    ) -> Result<Box<Self>, String> {
        let sr = sample_rate.round() as i32;
        let voices: Vec<Voice> = (0..voice_count.max(1))
            .map(|_| {
                let mut dsp = new_voice();
                dsp.init(sr);
                Voice {
                    dsp,
                    active: false,
                    gate_on: false,
                    retrigger: false,
                    quiet_frames: 0,
                    level: 0.0,
                    velocity: 0.0,
                    stale: false,
                }
            })
            .collect();
        let first = &voices[0].dsp;
        if first.get_num_inputs() != 0 {
            return Err(format!(
                "patch `{name}`: a voice must have no audio inputs, this one has {}",
                first.get_num_inputs()
            ));
        }
        let voice_outputs = first.get_num_outputs() as usize;
        if !(1..=2).contains(&voice_outputs) {
            return Err(format!(
                "patch `{name}`: a voice must have 1 or 2 outputs, this one has {voice_outputs}"
            ));
        }
        let voice_controls =
            ControlSet::of(first.as_ref()).map_err(|e| format!("patch `{name}`: {e}"))?;

        let effect = make_effect(name, new_effect, sr)?;
        Ok(Self::assemble(
            name,
            Voices {
                faust: voices,
                neural: None,
                outputs: voice_outputs,
                controls: voice_controls,
            },
            effect,
            sample_rate,
        ))
    }

    /// Builds an instance that plays a neural model's voices, with `new_effect` after them.
    pub fn neural(
        name: &str,
        voices: NeuralVoices,
        new_effect: Option<impl Fn() -> DspBox>,
        sample_rate: f32,
    ) -> Result<Box<Self>, String> {
        let effect = make_effect(name, new_effect, sample_rate.round() as i32)?;
        let controls = voices.controls();
        Ok(Self::assemble(
            name,
            Voices {
                faust: Vec::new(),
                neural: Some(Box::new(voices)),
                outputs: 1,
                controls,
            },
            effect,
            sample_rate,
        ))
    }

    /// The instance around `voices` and `effect`: the macro targets of both, the engine's
    /// voice controls (the Faust polyphony convention; a neural bank has none), buffers.
    fn assemble(
        name: &str,
        voices: Voices,
        (effect, effect_controls): (Option<DspBox>, ControlSet),
        sample_rate: f32,
    ) -> Box<Self> {
        let Voices {
            faust,
            neural,
            outputs,
            controls: voice_controls,
        } = voices;
        let controller_map = ControllerMap::default();
        let modulation = Modulation::new(
            &voice_controls,
            &effect_controls,
            &controller_map,
            is_settable,
        )
        .expect("the default controller map routes only to macros");
        let find = |label: &str| voice_controls.find(label).map(Control::param);
        let (freq, gain, gate) = (find("freq"), find("gain"), find("gate"));
        let polyphony = neural
            .as_ref()
            .map_or(faust.len(), |bank| bank.bank().voice_count());
        Box::new(PatchInstance {
            name: name.to_string(),
            builtin_index: None,
            variant_id: None,
            polyphony,
            voice_outputs: outputs,
            freq,
            gain,
            gate,
            voices: faust,
            neural,
            effect,
            modulation,
            voice_controls,
            effect_controls,
            controller_map,
            applied: None,
            neural_velocity: 0.0,
            neural_stale: false,
            output_gain: 1.0,
            idle_after_frames: (IDLE_AFTER_SECONDS * sample_rate) as u32,
            voice_buffers: [vec![0.0; CHUNK], vec![0.0; CHUNK]],
            bus: [vec![0.0; CHUNK], vec![0.0; CHUNK]],
            output: [vec![0.0; CHUNK], vec![0.0; CHUNK]],
        })
    }

    /// The neural voices, when the instance plays a model.
    pub fn neural_voices(&self) -> Option<&NeuralVoices> {
        self.neural.as_deref()
    }

    /// The controls a producer or a designer may set, with whether each is the effect's:
    /// everything but the engine-driven `freq`, `gain` and `gate`.
    pub fn controls(&self) -> impl Iterator<Item = (&Control, bool)> {
        let voice = self.voice_controls.controls.iter().map(|c| (c, false));
        let effect = self.effect_controls.controls.iter().map(|c| (c, true));
        voice
            .chain(effect)
            .filter(|(c, in_effect)| is_settable(c, *in_effect))
    }

    /// Changes a parameter's designed value (what it has with every macro at 0.5), e.g.
    /// from a PatchSpec. The value is clamped to the parameter's range. Not for the audio
    /// thread.
    pub fn set_designed_value(&mut self, label: &str, value: f32) -> Result<(), String> {
        let in_effect = self.find_settable(label)?;
        let controls = if in_effect {
            &mut self.effect_controls
        } else {
            &mut self.voice_controls
        };
        let control = controls
            .controls
            .iter_mut()
            .find(|c| c.label == label)
            .expect("found above");
        control.init = value.clamp(control.min, control.max);
        let (param, value) = (control.param(), control.init);
        if in_effect {
            if let Some(fx) = &mut self.effect {
                fx.set_param(param, value);
            }
        } else if let Some(neural) = &mut self.neural {
            neural.set_control(param.0, value);
        } else {
            for v in &mut self.voices {
                v.dsp.set_param(param, value);
            }
        }
        self.rebuild_modulation()
    }

    /// Replaces the whole macro map, e.g. with a PatchSpec's: each link moves a parameter
    /// (by label) by a signed depth in [-1, 1]. Not for the audio thread.
    pub fn set_macro_map(&mut self, map: &MacroMap) -> Result<(), String> {
        for link in map.links() {
            self.find_settable(&link.param)
                .map_err(|e| format!("macro `{}`: {e}", link.target.key()))?;
            if !(-1.0..=1.0).contains(&link.depth) {
                return Err(format!(
                    "macro `{}` on `{}`: depth {} is outside -1..1",
                    link.target.key(),
                    link.param,
                    link.depth
                ));
            }
        }
        for c in self
            .voice_controls
            .controls
            .iter_mut()
            .chain(&mut self.effect_controls.controls)
        {
            c.macro_depths.clear();
        }
        for link in map.links() {
            let in_effect = self.find_settable(&link.param).expect("checked above");
            let controls = if in_effect {
                &mut self.effect_controls
            } else {
                &mut self.voice_controls
            };
            if let Some(c) = controls.controls.iter_mut().find(|c| c.label == link.param) {
                c.macro_depths.push((link.target, link.depth));
            }
        }
        self.rebuild_modulation()
    }

    /// Replaces what the controllers do (a PatchSpec's `controllers`): routes from the mod
    /// wheel, velocity and aftertouch to macros or parameters, and the pitch-bend range.
    /// Fails, changing nothing, when a route names a control the patch does not have or a
    /// depth or range is out of bounds. Not for the audio thread.
    pub fn set_controllers(&mut self, map: &ControllerMap) -> Result<(), String> {
        let modulation = Modulation::new(
            &self.voice_controls,
            &self.effect_controls,
            map,
            is_settable,
        )?;
        self.controller_map = map.clone();
        self.modulation = modulation;
        self.applied = None;
        Ok(())
    }

    /// What the controllers do on this patch.
    pub fn controller_map(&self) -> &ControllerMap {
        &self.controller_map
    }

    /// The pitch wheel's range on this patch, semitones each way.
    pub fn bend_range(&self) -> f32 {
        self.modulation.bend_range()
    }

    /// The resolved macro and controller map.
    pub fn modulation(&self) -> &Modulation {
        &self.modulation
    }

    /// Takes this instance's resolved macro and controller map (leaving an empty one), to
    /// hand it to an instance of the same program that is already playing
    /// ([`Playable::swap_modulation`]). Not for the audio thread.
    pub fn take_modulation(&mut self) -> Box<Modulation> {
        self.applied = None;
        Box::new(std::mem::take(&mut self.modulation))
    }

    /// Whether `label` is a settable control of the effect (true) or the voice (false).
    fn find_settable(&self, label: &str) -> Result<bool, String> {
        self.controls()
            .find(|(c, _)| c.label == label)
            .map(|(_, in_effect)| in_effect)
            .ok_or_else(|| {
                let known: Vec<&str> = self.controls().map(|(c, _)| c.label.as_str()).collect();
                format!(
                    "the patch has no parameter `{label}` (it has: {})",
                    known.join(", ")
                )
            })
    }

    fn rebuild_modulation(&mut self) -> Result<(), String> {
        self.modulation = Modulation::new(
            &self.voice_controls,
            &self.effect_controls,
            &self.controller_map,
            is_settable,
        )?;
        self.applied = None;
        Ok(())
    }

    /// Sets the output trim in dB (a PatchSpec's `trim_db`): a gain after the effect that
    /// levels the patch. Not for the audio thread.
    pub fn set_output_trim_db(&mut self, db: f32) {
        self.output_gain = 10f32.powf(db / 20.0);
    }

    /// The output trim in dB.
    pub fn output_trim_db(&self) -> f32 {
        20.0 * self.output_gain.log10()
    }

    /// The macro map the instance plays: its program's metadata, or the map given to it.
    pub fn macro_map(&self) -> MacroMap {
        let mut map = MacroMap::new();
        for m in Macro::ALL {
            for t in self.modulation.drives() {
                for &(_, depth) in t.control.macro_depths.iter().filter(|(mm, _)| *mm == m) {
                    map.push(m, t.control.label.clone(), depth);
                }
            }
        }
        map
    }

    #[cfg(test)]
    pub(crate) fn voices_dsp(&self, voice: usize) -> &DspBox {
        &self.voices[voice].dsp
    }

    #[cfg(test)]
    pub(crate) fn voices_dsp_mut(&mut self, voice: usize) -> &mut DspBox {
        &mut self.voices[voice].dsp
    }

    pub fn voice_count(&self) -> usize {
        match &self.neural {
            Some(neural) => neural.bank().voice_count(),
            None => self.voices.len(),
        }
    }

    /// How many voices new notes may use.
    pub fn polyphony(&self) -> usize {
        self.polyphony
    }

    /// Limits the voices new notes may use to `voices` (at least 1, at most all of them).
    pub fn set_polyphony(&mut self, voices: usize) {
        self.polyphony = voices.clamp(1, self.voice_count());
    }

    pub fn is_voice_active(&self, voice: usize) -> bool {
        match &self.neural {
            Some(neural) => neural.bank().is_voice_active(voice),
            None => self.voices[voice].active,
        }
    }

    pub fn voice_level(&self, voice: usize) -> f32 {
        match &self.neural {
            Some(neural) => neural.bank().voice_level(voice),
            None => self.voices[voice].level,
        }
    }

    /// Starts (or restarts) a note on a voice.
    pub fn note_on(&mut self, voice: usize, hz: f32, velocity: f32) {
        let follows_velocity = self.modulation.follows_velocity();
        if let Some(neural) = &mut self.neural {
            neural.bank_mut().note_on(voice, hz, velocity);
            self.neural_velocity = velocity;
            self.neural_stale = follows_velocity;
            return;
        }
        let (freq, gain, gate) = (self.freq, self.gain, self.gate);
        let v = &mut self.voices[voice];
        v.velocity = velocity;
        v.stale = follows_velocity;
        if let Some(p) = freq {
            v.dsp.set_param(p, hz);
        }
        if let Some(p) = gain {
            v.dsp.set_param(p, velocity);
        }
        v.retrigger = v.active && v.gate_on;
        if let Some(p) = gate {
            v.dsp.set_param(p, 1.0);
        }
        v.gate_on = true;
        v.active = true;
        v.quiet_frames = 0;
    }

    /// Releases a voice; its tail keeps sounding until it falls silent.
    pub fn note_off(&mut self, voice: usize) {
        if let Some(neural) = &mut self.neural {
            neural.bank_mut().note_off(voice);
            return;
        }
        let v = &mut self.voices[voice];
        if let Some(p) = self.gate {
            v.dsp.set_param(p, 0.0);
        }
        v.gate_on = false;
        v.retrigger = false;
    }

    /// Makes a neural instance's `voice` follow a contour from now on (timbre transfer);
    /// false for Faust voices, which follow notes instead.
    pub fn follow(&mut self, voice: usize) -> bool {
        match &mut self.neural {
            Some(neural) => {
                neural.bank_mut().follow(voice);
                true
            }
            None => false,
        }
    }

    /// Frame `index` of the contour a neural `voice` follows: `hz` at `loudness_db`.
    pub fn contour(&mut self, voice: usize, index: u32, hz: f32, loudness_db: f32) {
        if let Some(neural) = &mut self.neural {
            neural.bank_mut().contour(voice, index, hz, loudness_db);
        }
    }

    /// Changes a sounding voice's pitch (pitch bend).
    pub fn set_voice_pitch(&mut self, voice: usize, hz: f32) {
        if let Some(neural) = &mut self.neural {
            neural.bank_mut().set_voice_pitch(voice, hz);
        } else if let Some(p) = self.freq {
            self.voices[voice].dsp.set_param(p, hz);
        }
    }

    /// Silences everything and clears all DSP state (filters, delay lines, envelopes).
    pub fn reset(&mut self) {
        if let Some(neural) = &mut self.neural {
            neural.reset();
        }
        for v in &mut self.voices {
            v.dsp.instance_clear();
            if let Some(p) = self.gate {
                v.dsp.set_param(p, 0.0);
            }
            v.active = false;
            v.gate_on = false;
            v.retrigger = false;
            v.level = 0.0;
        }
        if let Some(fx) = &mut self.effect {
            fx.instance_clear();
        }
    }

    /// Writes macro-driven parameter values to the DSPs when the macros changed, with
    /// every controller at rest.
    pub fn apply_macros(&mut self, macros: &MacroValues) {
        self.apply_controls(macros, ControllerValues::default());
    }

    /// Writes the parameter values the macros and the controllers ask for to the DSPs:
    /// all of them when the macros or the held controllers changed, else only those of
    /// voices whose new note's velocity has not reached them. Wait-free and allocation-free.
    pub fn apply_controls(&mut self, macros: &MacroValues, held: ControllerValues) {
        let changed = self.applied != Some((*macros, held));
        let follows_velocity = self.modulation.follows_velocity();
        let stale = follows_velocity && (self.neural_stale || self.voices.iter().any(|v| v.stale));
        if !changed && !stale {
            return;
        }
        self.applied = Some((*macros, held));
        let Self {
            modulation,
            voices,
            effect,
            neural,
            neural_velocity,
            ..
        } = self;
        let global = modulation.global_macros(macros, held);
        for (index, drive) in modulation.drives().iter().enumerate() {
            let param = drive.control.param();
            if drive.in_effect {
                if let (true, Some(fx)) = (changed, effect.as_mut()) {
                    fx.set_param(param, modulation.value(index, &global, held, None));
                }
            } else if let Some(neural) = neural {
                let velocity = follows_velocity.then_some(*neural_velocity);
                neural.set_control(param.0, modulation.value(index, &global, held, velocity));
            } else if follows_velocity {
                for v in voices.iter_mut().filter(|v| changed || v.stale) {
                    let value = modulation.value(index, &global, held, Some(v.velocity));
                    v.dsp.set_param(param, value);
                }
            } else {
                let value = modulation.value(index, &global, held, None);
                for v in voices.iter_mut() {
                    v.dsp.set_param(param, value);
                }
            }
        }
        for v in voices.iter_mut() {
            v.stale = false;
        }
        self.neural_stale = false;
    }

    /// Renders `frames` (at most [`CHUNK`]) of the summed voices through the effect and
    /// returns the stereo result. Returns `None` (and resets the instance) when the DSP
    /// produced NaN or infinity, so one blown-up filter cannot poison the output.
    pub fn render(&mut self, frames: usize) -> Option<(&[f32], &[f32])> {
        let n = frames.min(CHUNK);
        self.mix_voices(n);
        let [bus_l, bus_r] = &mut self.bus;
        let [out_l, out_r] = &mut self.output;
        match &mut self.effect {
            Some(fx) => {
                let inputs: [&[f32]; 2] = [&bus_l[..n], &bus_r[..n]];
                let mut outputs: [&mut [f32]; 2] = [&mut out_l[..n], &mut out_r[..n]];
                fx.compute(n as i32, &inputs, &mut outputs);
            }
            None => {
                out_l[..n].copy_from_slice(&bus_l[..n]);
                out_r[..n].copy_from_slice(&bus_r[..n]);
            }
        }
        if self.output_gain != 1.0 {
            for s in out_l[..n].iter_mut().chain(&mut out_r[..n]) {
                *s *= self.output_gain;
            }
        }
        let finite = out_l[..n].iter().chain(&out_r[..n]).all(|s| s.is_finite());
        if !finite {
            self.reset();
            return None;
        }
        Some((&self.output[0][..n], &self.output[1][..n]))
    }

    /// Renders `frames` (at most [`CHUNK`]) of the voices alone, without the effect, and
    /// says whether they stayed finite (resetting the instance when not): for following
    /// voices to their end after note-off (the sanity gate), where the effect's output is
    /// not what is asked.
    pub fn render_voices(&mut self, frames: usize) -> bool {
        let n = frames.min(CHUNK);
        self.mix_voices(n);
        let [bus_l, bus_r] = &self.bus;
        let finite = bus_l[..n].iter().chain(&bus_r[..n]).all(|s| s.is_finite());
        if !finite {
            self.reset();
        }
        finite
    }

    /// Sums `n` frames of every active voice into the bus and follows each voice's level.
    fn mix_voices(&mut self, n: usize) {
        let [bus_l, bus_r] = &mut self.bus;
        bus_l[..n].fill(0.0);
        bus_r[..n].fill(0.0);
        let [buf_a, buf_b] = &mut self.voice_buffers;
        if let Some(neural) = &mut self.neural {
            neural.render(&mut bus_l[..n]);
            bus_r[..n].copy_from_slice(&bus_l[..n]);
        }
        for v in self.voices.iter_mut().filter(|v| v.active) {
            compute_voice(
                v,
                self.gate,
                self.voice_outputs,
                &mut buf_a[..n],
                &mut buf_b[..n],
            );
            let right: &[f32] = if self.voice_outputs == 2 {
                &buf_b[..n]
            } else {
                &buf_a[..n]
            };
            let mut peak = 0.0f32;
            for i in 0..n {
                bus_l[i] += buf_a[i];
                bus_r[i] += right[i];
                peak = peak.max(buf_a[i].abs()).max(right[i].abs());
            }
            v.level = peak;
            if !v.gate_on && peak < SILENCE {
                v.quiet_frames += n as u32;
                v.active = v.quiet_frames < self.idle_after_frames;
            } else {
                v.quiet_frames = 0;
            }
        }
    }
}

/// Whether a producer or a designer may set `control` (everything but the engine-driven
/// `freq`, `gain` and `gate` of a voice).
fn is_settable(control: &Control, in_effect: bool) -> bool {
    in_effect || !ENGINE_DRIVEN.contains(&control.label.as_str())
}

/// Instantiates a patch's effect and reads its controls, checking its channel layout.
fn make_effect(
    name: &str,
    new_effect: Option<impl Fn() -> DspBox>,
    sr: i32,
) -> Result<(Option<DspBox>, ControlSet), String> {
    let Some(new_effect) = new_effect else {
        return Ok((None, ControlSet::default()));
    };
    let mut fx = new_effect();
    fx.init(sr);
    if fx.get_num_inputs() != 2 || fx.get_num_outputs() != 2 {
        return Err(format!(
            "patch `{name}`: the effect must have 2 inputs and 2 outputs, it has {} and {}",
            fx.get_num_inputs(),
            fx.get_num_outputs()
        ));
    }
    let controls =
        ControlSet::of(fx.as_ref()).map_err(|e| format!("patch `{name}` effect: {e}"))?;
    Ok((Some(fx), controls))
}

/// Computes one voice into `a` (and `b` for a stereo voice), restarting its gate first when
/// the voice was stolen while held.
fn compute_voice(
    v: &mut Voice,
    gate: Option<ParamIndex>,
    outputs: usize,
    a: &mut [f32],
    b: &mut [f32],
) {
    let n = a.len();
    let mut start = 0;
    if v.retrigger {
        v.retrigger = false;
        if let Some(p) = gate {
            v.dsp.set_param(p, 0.0);
            compute_range(v, outputs, a, b, 0, 1);
            v.dsp.set_param(p, 1.0);
            start = 1;
        }
    }
    compute_range(v, outputs, a, b, start, n);
}

fn compute_range(
    v: &mut Voice,
    outputs: usize,
    a: &mut [f32],
    b: &mut [f32],
    from: usize,
    to: usize,
) {
    if from >= to {
        return;
    }
    let count = (to - from) as i32;
    if outputs == 2 {
        let mut outs: [&mut [f32]; 2] = [&mut a[from..to], &mut b[from..to]];
        v.dsp.compute(count, &[], &mut outs);
    } else {
        let mut outs: [&mut [f32]; 1] = [&mut a[from..to]];
        v.dsp.compute(count, &[], &mut outs);
    }
}

/// A patch instance as the audio thread holds it: it can be read and played, not
/// reconfigured (that allocates, and belongs to the worker). Made from a built instance
/// with [`Playable::new`]; the engine hands retired ones back, and the worker drops them.
pub struct Playable(Box<PatchInstance>);

impl Playable {
    pub fn new(instance: Box<PatchInstance>) -> Playable {
        Playable(instance)
    }

    /// The instance again, for the worker (to reconfigure it or drop it). Not for the audio
    /// thread: dropping it there would free memory.
    pub fn into_instance(self) -> Box<PatchInstance> {
        self.0
    }

    /// Starts (or restarts) a note on a voice.
    pub fn note_on(&mut self, voice: usize, hz: f32, velocity: f32) {
        self.0.note_on(voice, hz, velocity);
    }

    /// Releases a voice; its tail keeps sounding until it falls silent.
    pub fn note_off(&mut self, voice: usize) {
        self.0.note_off(voice);
    }

    /// Changes a sounding voice's pitch (pitch bend).
    pub fn set_voice_pitch(&mut self, voice: usize, hz: f32) {
        self.0.set_voice_pitch(voice, hz);
    }

    /// See [`PatchInstance::follow`].
    pub fn follow(&mut self, voice: usize) -> bool {
        self.0.follow(voice)
    }

    /// See [`PatchInstance::contour`].
    pub fn contour(&mut self, voice: usize, index: u32, hz: f32, loudness_db: f32) {
        self.0.contour(voice, index, hz, loudness_db);
    }

    /// Silences everything and clears all DSP state.
    pub fn reset(&mut self) {
        self.0.reset();
    }

    /// Writes macro-driven parameter values to the DSPs when the macros changed.
    pub fn apply_macros(&mut self, macros: &MacroValues) {
        self.0.apply_macros(macros);
    }

    /// Writes the values the macros and controllers ask for; see
    /// [`PatchInstance::apply_controls`].
    pub fn apply_controls(&mut self, macros: &MacroValues, held: ControllerValues) {
        self.0.apply_controls(macros, held);
    }

    /// Exchanges this instance's macro and controller map with `other` (made by
    /// [`PatchInstance::take_modulation`] from an instance of the same program): the
    /// parameters follow the new map from the next chunk, with no click beyond the change
    /// of the values themselves. Wait-free and allocation-free; `other` then holds the old
    /// map, for the worker to drop.
    pub fn swap_modulation(&mut self, other: &mut Modulation) {
        std::mem::swap(&mut self.0.modulation, other);
        self.0.applied = None;
    }

    /// Renders `frames` (at most [`CHUNK`]); see [`PatchInstance::render`].
    pub fn render(&mut self, frames: usize) -> Option<(&[f32], &[f32])> {
        self.0.render(frames)
    }

    #[cfg(test)]
    pub(crate) fn instance_mut(&mut self) -> &mut PatchInstance {
        &mut self.0
    }
}

impl Deref for Playable {
    type Target = PatchInstance;

    fn deref(&self) -> &PatchInstance {
        &self.0
    }
}
