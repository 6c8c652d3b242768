//! The audio-thread engine: note and controller handling, voice allocation, crossfaded patch
//! swaps, master gain and the output safety stage. Nothing here allocates, locks or waits;
//! patch instances are built elsewhere and only moved in and out.

use mephisto_dsp::macros::{Macro, MacroValues, NEUTRAL_MACROS};

use crate::bypass::BypassFade;
use crate::instance::{Playable, CHUNK};
use crate::limiter::SafetyLimiter;

/// Voices per patch unless configured otherwise.
pub const DEFAULT_VOICES: usize = 16;
/// Pitch-bend range in semitones unless configured otherwise.
pub const DEFAULT_BEND_RANGE: f32 = 2.0;
/// Length of the equal-power crossfade when the patch changes.
const SWAP_FADE_SECONDS: f32 = 0.03;

/// Equal-tempered frequency of a (possibly fractional) MIDI note, A4 = 69 = 440 Hz.
pub fn note_to_hz(note: f32) -> f32 {
    440.0 * 2f32.powf((note - 69.0) / 12.0)
}

/// The host-automated controls, as they stand for one chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Automation {
    pub macros: MacroValues,
    /// Linear output gain before the safety limiter.
    pub master_gain: f32,
}

/// What the engine is told between audio chunks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EngineEvent {
    NoteOn {
        note: u8,
        velocity: f32,
    },
    NoteOff {
        note: u8,
    },
    /// Pitch wheel position in [-1, 1].
    PitchBend(f32),
    /// Mod wheel in [0, 1]; it pushes Motion towards 1 on top of the macro's value.
    ModWheel(f32),
    Sustain(bool),
    AllNotesOff,
}

/// Which note a voice slot plays. The slot index is the voice index in every instance.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    note: Option<u8>,
    velocity: f32,
    key_down: bool,
    /// Key released while the sustain pedal was down: the note keeps its gate.
    sustained: bool,
    /// Note-on order, for stealing the oldest voice.
    started: u64,
}

impl Slot {
    fn is_held(&self) -> bool {
        self.key_down || self.sustained
    }
}

/// The crossfade from the previous patch instance to the current one.
struct Fade {
    from: Playable,
    position: usize,
    length: usize,
}

/// The polyphonic instrument the plugin and the offline renderer both play.
pub struct Engine {
    slots: Vec<Slot>,
    note_counter: u64,
    current: Playable,
    fade: Option<Fade>,
    /// An instance that finished fading out, waiting to be taken (and dropped or reused)
    /// somewhere that may free memory.
    retired: Option<Playable>,
    sample_rate: f32,
    macros: MacroValues,
    mod_wheel: f32,
    bend_range: f32,
    bend_semitones: f32,
    sustain: bool,
    master_gain: f32,
    limiter: SafetyLimiter,
    bypass: BypassFade,
    /// Chunks in which a DSP produced NaN/Inf and was reset; shown to the user.
    faults: u32,
    mix: [Vec<f32>; 2],
}

impl Engine {
    pub fn new(current: Playable, sample_rate: f32) -> Self {
        Engine {
            slots: vec![Slot::default(); current.voice_count()],
            note_counter: 0,
            current,
            fade: None,
            retired: None,
            sample_rate,
            macros: NEUTRAL_MACROS,
            mod_wheel: 0.0,
            bend_range: DEFAULT_BEND_RANGE,
            bend_semitones: 0.0,
            sustain: false,
            master_gain: 1.0,
            limiter: SafetyLimiter::new(sample_rate),
            bypass: BypassFade::new(sample_rate),
            faults: 0,
            mix: [vec![0.0; CHUNK], vec![0.0; CHUNK]],
        }
    }

    pub fn current(&self) -> &Playable {
        &self.current
    }

    pub fn faults(&self) -> u32 {
        self.faults
    }

    pub fn set_macros(&mut self, macros: MacroValues) {
        self.macros = macros;
    }

    pub fn set_master_gain(&mut self, gain: f32) {
        self.master_gain = gain;
    }

    /// The host's bypass: the output fades to silence (or back) over 30 ms; while fully
    /// bypassed no voice is rendered, but notes are still tracked.
    pub fn set_bypass(&mut self, bypassed: bool) {
        self.bypass.set(bypassed);
    }

    /// True while a previous patch is still fading out or waiting to be taken.
    pub fn is_swapping(&self) -> bool {
        self.fade.is_some() || self.retired.is_some()
    }

    /// Starts crossfading to `next`; held notes carry over. Hands `next` back when a swap is
    /// already in progress or its voice count differs.
    /// The number of voices every instance this engine plays must have.
    pub fn voice_slots(&self) -> usize {
        self.slots.len()
    }

    pub fn begin_swap(&mut self, mut next: Playable) -> Result<(), Playable> {
        if self.is_swapping() || next.voice_count() != self.slots.len() {
            return Err(next);
        }
        next.reset();
        next.apply_macros(&self.effective_macros());
        for (i, slot) in self.slots.iter().enumerate() {
            if let (Some(note), true) = (slot.note, slot.is_held()) {
                next.note_on(i, self.slot_hz(note), slot.velocity);
            }
        }
        let from = std::mem::replace(&mut self.current, next);
        self.fade = Some(Fade {
            from,
            position: 0,
            length: ((SWAP_FADE_SECONDS * self.sample_rate) as usize).max(1),
        });
        Ok(())
    }

    /// The instance that finished fading out, if any. Call from where memory may be freed
    /// (or keep it to reuse); the engine never drops an instance itself.
    pub fn take_retired(&mut self) -> Option<Playable> {
        self.retired.take()
    }

    /// Stops every note at once and clears the DSP state (host reset, transport jumps).
    pub fn reset(&mut self) {
        self.slots.fill(Slot::default());
        self.sustain = false;
        self.bend_semitones = 0.0;
        self.current.reset();
        if let Some(fade) = self.fade.take() {
            self.retired = Some(fade.from);
        }
        self.limiter.reset();
        self.bypass.settle();
    }

    pub fn handle(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::NoteOn { note, velocity: v } if v > 0.0 => self.note_on(note, v),
            EngineEvent::NoteOn { note, .. } | EngineEvent::NoteOff { note } => self.note_off(note),
            EngineEvent::PitchBend(position) => {
                self.bend_semitones = position.clamp(-1.0, 1.0) * self.bend_range;
                self.retune();
            }
            EngineEvent::ModWheel(value) => self.mod_wheel = value.clamp(0.0, 1.0),
            EngineEvent::Sustain(down) => {
                self.sustain = down;
                if !down {
                    for i in 0..self.slots.len() {
                        if self.slots[i].sustained {
                            self.release_slot(i);
                        }
                    }
                }
            }
            EngineEvent::AllNotesOff => {
                for i in 0..self.slots.len() {
                    if self.slots[i].is_held() {
                        self.release_slot(i);
                    }
                }
            }
        }
    }

    /// Renders a block whose automated controls move while it plays: before every chunk of
    /// at most [`CHUNK`] frames, `next(n)` gives the controls for the next `n` frames (a
    /// host's smoothed parameters advanced by `n`), so automation reaches the DSP every
    /// 64 samples or sooner, not once per host block. Wait-free when `next` is.
    pub fn render_automated(
        &mut self,
        left: &mut [f32],
        right: &mut [f32],
        next: &mut dyn FnMut(usize) -> Automation,
    ) {
        let frames = left.len().min(right.len());
        let mut done = 0;
        while done < frames {
            let n = (frames - done).min(CHUNK);
            let controls = next(n);
            self.macros = controls.macros;
            self.master_gain = controls.master_gain;
            self.render_chunk(&mut left[done..done + n], &mut right[done..done + n]);
            done += n;
        }
    }

    /// Renders into a stereo block of any length.
    pub fn render(&mut self, left: &mut [f32], right: &mut [f32]) {
        let frames = left.len().min(right.len());
        let mut done = 0;
        while done < frames {
            let n = (frames - done).min(CHUNK);
            self.render_chunk(&mut left[done..done + n], &mut right[done..done + n]);
            done += n;
        }
    }

    fn render_chunk(&mut self, left: &mut [f32], right: &mut [f32]) {
        // A swap still fading finishes even when bypassed, so the next one can start.
        if self.bypass.is_silent() && self.fade.is_none() {
            left.fill(0.0);
            right.fill(0.0);
            return;
        }
        let n = left.len();
        let macros = self.effective_macros();
        self.current.apply_macros(&macros);
        let [mix_l, mix_r] = &mut self.mix;
        match self.current.render(n) {
            Some((l, r)) => {
                mix_l[..n].copy_from_slice(l);
                mix_r[..n].copy_from_slice(r);
            }
            None => {
                self.faults += 1;
                mix_l[..n].fill(0.0);
                mix_r[..n].fill(0.0);
            }
        }
        if let Some(fade) = &mut self.fade {
            fade.from.apply_macros(&macros);
            let old = fade.from.render(n);
            for i in 0..n {
                let t = ((fade.position + i) as f32 / fade.length as f32).min(1.0);
                let angle = t * std::f32::consts::FRAC_PI_2;
                let (fade_out, fade_in) = (angle.cos(), angle.sin());
                let (old_l, old_r) = old.map_or((0.0, 0.0), |(l, r)| (l[i], r[i]));
                mix_l[i] = mix_l[i] * fade_in + old_l * fade_out;
                mix_r[i] = mix_r[i] * fade_in + old_r * fade_out;
            }
            fade.position += n;
            if fade.position >= fade.length {
                self.retired = self.fade.take().map(|f| f.from);
            }
        }
        for i in 0..n {
            left[i] = mix_l[i] * self.master_gain;
            right[i] = mix_r[i] * self.master_gain;
        }
        if crate::limiter::silence_non_finite(left, right) {
            self.faults += 1;
        }
        self.limiter.process(left, right);
        self.bypass.apply(left, right);
    }

    fn effective_macros(&self) -> MacroValues {
        let mut m = self.macros;
        let motion = &mut m[Macro::Motion.index()];
        *motion += self.mod_wheel * (1.0 - *motion);
        m
    }

    fn slot_hz(&self, note: u8) -> f32 {
        note_to_hz(note as f32 + self.bend_semitones)
    }

    fn instances(&mut self) -> impl Iterator<Item = &mut Playable> {
        std::iter::once(&mut self.current).chain(self.fade.as_mut().map(|f| &mut f.from))
    }

    fn note_on(&mut self, note: u8, velocity: f32) {
        let slot = self.choose_slot(note);
        self.note_counter += 1;
        self.slots[slot] = Slot {
            note: Some(note),
            velocity,
            key_down: true,
            sustained: false,
            started: self.note_counter,
        };
        let hz = self.slot_hz(note);
        for instance in self.instances() {
            instance.note_on(slot, hz, velocity);
        }
    }

    fn note_off(&mut self, note: u8) {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if slot.note == Some(note) && slot.key_down {
                if self.sustain {
                    slot.key_down = false;
                    slot.sustained = true;
                } else {
                    self.release_slot(i);
                }
            }
        }
    }

    fn release_slot(&mut self, i: usize) {
        self.slots[i].key_down = false;
        self.slots[i].sustained = false;
        for instance in self.instances() {
            instance.note_off(i);
        }
    }

    fn retune(&mut self) {
        for i in 0..self.slots.len() {
            if let Some(note) = self.slots[i].note {
                let hz = self.slot_hz(note);
                for instance in self.instances() {
                    instance.set_voice_pitch(i, hz);
                }
            }
        }
    }

    /// Picks the voice for a new note: the one already playing this note if any, else an
    /// idle voice, else the oldest released voice, else the quietest held one (oldest on ties).
    fn choose_slot(&self, note: u8) -> usize {
        let current = &self.current;
        let slots = self.slots.iter().enumerate().take(current.polyphony());
        if let Some((i, _)) = slots
            .clone()
            .find(|(i, s)| s.note == Some(note) && current.is_voice_active(*i))
        {
            return i;
        }
        if let Some((i, _)) = slots.clone().find(|(i, _)| !current.is_voice_active(*i)) {
            return i;
        }
        if let Some((i, _)) = slots
            .clone()
            .filter(|(_, s)| !s.is_held())
            .min_by_key(|(_, s)| s.started)
        {
            return i;
        }
        slots
            .min_by(|(a, sa), (b, sb)| {
                current
                    .voice_level(*a)
                    .total_cmp(&current.voice_level(*b))
                    .then(sa.started.cmp(&sb.started))
            })
            .map_or(0, |(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::PatchInstance;
    use crate::test_tone::{self, new_test_tone};
    use mephisto_dsp::macros::MacroMap;

    const SR: f32 = 48_000.0;

    fn tone_instance(voices: usize) -> Playable {
        Playable::new(
            PatchInstance::new(
                "test_tone",
                new_test_tone,
                None::<fn() -> mephisto_dsp::DspBox>,
                voices,
                SR,
            )
            .unwrap(),
        )
    }

    fn warm_map(depth: f32) -> MacroMap {
        let mut map = MacroMap::new();
        map.push(Macro::Warm, "tone", depth);
        map
    }

    fn engine(voices: usize) -> Engine {
        Engine::new(tone_instance(voices), SR)
    }

    fn render(engine: &mut Engine, frames: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut l, mut r) = (vec![0.0; frames], vec![0.0; frames]);
        engine.render(&mut l, &mut r);
        (l, r)
    }

    fn peak(samples: &[f32]) -> f32 {
        samples.iter().fold(0.0, |p, s| p.max(s.abs()))
    }

    fn voice_param(engine: &Engine, voice: usize, param: faust_types::ParamIndex) -> f32 {
        engine.current.voices_dsp(voice).get_param(param).unwrap()
    }

    fn active_voices(engine: &Engine) -> usize {
        (0..engine.slots.len())
            .filter(|&i| engine.current.is_voice_active(i))
            .count()
    }

    #[test]
    fn notes_sound_and_fall_idle_after_release() {
        let mut e = engine(4);
        for note in [48, 52, 55] {
            e.handle(EngineEvent::NoteOn {
                note,
                velocity: 0.8,
            });
        }
        let (l, r) = render(&mut e, 4800);
        assert_eq!(active_voices(&e), 3);
        assert!(peak(&l) > 0.1 && l == r, "mono voices feed both channels");
        for note in [48, 52, 55] {
            e.handle(EngineEvent::NoteOff { note });
        }
        let (l, _) = render(&mut e, 48_000);
        assert_eq!(active_voices(&e), 0);
        assert!(peak(&l[40_000..]) == 0.0);
    }

    #[test]
    fn velocity_sets_gain_and_notes_set_pitch() {
        let mut e = engine(2);
        e.handle(EngineEvent::NoteOn {
            note: 69,
            velocity: 0.3,
        });
        assert_eq!(voice_param(&e, 0, test_tone::GAIN), 0.3);
        assert_eq!(voice_param(&e, 0, test_tone::FREQ), 440.0);
        assert_eq!(voice_param(&e, 0, test_tone::GATE), 1.0);
    }

    #[test]
    fn pitch_bend_retunes_sounding_voices_by_the_bend_range() {
        let mut e = engine(2);
        e.handle(EngineEvent::NoteOn {
            note: 69,
            velocity: 0.5,
        });
        e.handle(EngineEvent::PitchBend(1.0));
        let hz = voice_param(&e, 0, test_tone::FREQ);
        assert!((hz - note_to_hz(71.0)).abs() < 1e-3, "{hz}");
        e.handle(EngineEvent::PitchBend(-0.5));
        assert!((voice_param(&e, 0, test_tone::FREQ) - note_to_hz(68.0)).abs() < 1e-3);
    }

    #[test]
    fn the_same_note_reuses_its_voice() {
        let mut e = engine(4);
        e.handle(EngineEvent::NoteOn {
            note: 60,
            velocity: 0.5,
        });
        render(&mut e, 64);
        e.handle(EngineEvent::NoteOff { note: 60 });
        e.handle(EngineEvent::NoteOn {
            note: 60,
            velocity: 0.5,
        });
        render(&mut e, 64);
        assert_eq!(active_voices(&e), 1);
    }

    #[test]
    fn stealing_prefers_released_voices_then_the_quietest_held_one() {
        let mut e = engine(2);
        e.handle(EngineEvent::NoteOn {
            note: 60,
            velocity: 0.9,
        });
        e.handle(EngineEvent::NoteOn {
            note: 64,
            velocity: 0.9,
        });
        render(&mut e, 480);
        e.handle(EngineEvent::NoteOff { note: 60 });
        render(&mut e, 64);
        e.handle(EngineEvent::NoteOn {
            note: 67,
            velocity: 0.9,
        });
        assert_eq!(e.slots[0].note, Some(67), "the released voice is taken");
        assert_eq!(e.slots[1].note, Some(64), "the held voice keeps playing");

        let mut e = engine(2);
        e.handle(EngineEvent::NoteOn {
            note: 60,
            velocity: 0.9,
        });
        e.handle(EngineEvent::NoteOn {
            note: 64,
            velocity: 0.1,
        });
        render(&mut e, 480);
        e.handle(EngineEvent::NoteOn {
            note: 67,
            velocity: 0.9,
        });
        assert_eq!(
            e.slots[1].note,
            Some(67),
            "the quietest held voice is taken"
        );
        let (l, _) = render(&mut e, 64);
        assert!(l.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn sustain_pedal_holds_released_keys_until_lifted() {
        let mut e = engine(2);
        e.handle(EngineEvent::Sustain(true));
        e.handle(EngineEvent::NoteOn {
            note: 60,
            velocity: 0.5,
        });
        e.handle(EngineEvent::NoteOff { note: 60 });
        assert_eq!(voice_param(&e, 0, test_tone::GATE), 1.0);
        e.handle(EngineEvent::Sustain(false));
        assert_eq!(voice_param(&e, 0, test_tone::GATE), 0.0);
    }

    #[test]
    fn macros_and_mod_wheel_move_mapped_parameters() {
        let mut e = engine(2);
        let mut macros = NEUTRAL_MACROS;
        macros[Macro::Bright.index()] = 1.0;
        e.set_macros(macros);
        render(&mut e, 64);
        // depth 0.5 over a 0..1 range from 0.5: Bright at 1 moves tone to 1.0.
        assert!((voice_param(&e, 1, test_tone::TONE) - 1.0).abs() < 1e-6);
        e.handle(EngineEvent::ModWheel(1.0));
        assert_eq!(e.effective_macros()[Macro::Motion.index()], 1.0);
    }

    #[test]
    fn designed_values_and_macro_maps_can_be_replaced() {
        let mut e = engine(2);
        let labels: Vec<String> = e.current.controls().map(|(c, _)| c.label.clone()).collect();
        assert_eq!(
            labels,
            ["tone", "break"],
            "freq, gain and gate are the engine's"
        );
        e.current
            .instance_mut()
            .set_designed_value("tone", 0.2)
            .unwrap();
        assert!(e
            .current
            .instance_mut()
            .set_designed_value("freq", 1.0)
            .is_err());
        let err = e
            .current
            .instance_mut()
            .set_designed_value("cutoff", 1.0)
            .unwrap_err();
        assert!(err.contains("`cutoff`") && err.contains("tone"), "{err}");
        e.current
            .instance_mut()
            .set_macro_map(&warm_map(-0.2))
            .unwrap();
        assert!(e.current.macro_map().of(Macro::Bright).next().is_none());
        let mut macros = NEUTRAL_MACROS;
        macros[Macro::Warm.index()] = 1.0;
        e.set_macros(macros);
        render(&mut e, 64);
        assert!(
            (voice_param(&e, 0, test_tone::TONE) - 0.0).abs() < 1e-6,
            "0.2 - 0.2 = 0"
        );
        assert!(e
            .current
            .instance_mut()
            .set_macro_map(&warm_map(1.5))
            .is_err());
    }

    #[test]
    fn automation_reaches_the_dsp_every_chunk() {
        let mut e = engine(1);
        // Warm moves `tone` from 0.5 at Warm 0.5 to 1.0 at Warm 1.
        e.current
            .instance_mut()
            .set_macro_map(&warm_map(0.5))
            .unwrap();
        e.handle(EngineEvent::NoteOn {
            note: 60,
            velocity: 0.5,
        });
        // A macro gliding from 0.5 to 1 over 960 frames (20 ms), as a smoother would.
        let mut position = 0usize;
        let mut seen = Vec::new();
        let mut next = |n: usize| {
            position += n;
            let mut macros = NEUTRAL_MACROS;
            macros[Macro::Warm.index()] = 0.5 + 0.5 * (position as f32 / 960.0).min(1.0);
            Automation {
                macros,
                master_gain: 1.0,
            }
        };
        let (mut l, mut r) = (vec![0.0; 1024], vec![0.0; 1024]);
        for block in [1024usize, 1024] {
            let mut start = 0;
            while start < block {
                let end = (start + CHUNK).min(block);
                e.render_automated(&mut l[start..end], &mut r[start..end], &mut next);
                seen.push(voice_param(&e, 0, test_tone::TONE));
                start = end;
            }
        }
        // One host block of 1024 frames holds 16 chunks: the parameter moved in each of
        // the first 15 (the glide ends at frame 960), by at most 64/960 of the way.
        let steps: Vec<f32> = seen.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps[..14].iter().all(|&s| s > 0.0), "{seen:?}");
        let full = seen.last().unwrap() - 0.5;
        let largest = steps.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(
            largest <= full * 64.0 / 960.0 * 1.01,
            "a chunk's step {largest} of a {full} glide"
        );
    }

    #[test]
    fn a_dsp_that_emits_nan_is_silenced_and_counted() {
        let mut e = engine(2);
        e.handle(EngineEvent::NoteOn {
            note: 60,
            velocity: 0.5,
        });
        e.current
            .instance_mut()
            .voices_dsp_mut(0)
            .set_param(test_tone::BREAK, 1.0);
        let (l, r) = render(&mut e, 256);
        assert!(l.iter().chain(&r).all(|s| *s == 0.0));
        assert!(e.faults() > 0);
    }

    #[test]
    fn swapping_keeps_held_notes_and_retires_the_old_instance() {
        let mut e = engine(4);
        e.handle(EngineEvent::NoteOn {
            note: 57,
            velocity: 0.7,
        });
        let (before, _) = render(&mut e, 4800);
        assert!(e.begin_swap(tone_instance(4)).is_ok());
        assert!(
            e.begin_swap(tone_instance(4)).is_err(),
            "one swap at a time"
        );
        let (during, _) = render(&mut e, 4800);
        let retired = e.take_retired().expect("the old instance comes back");
        assert_eq!(retired.name, "test_tone");
        assert!(!e.is_swapping());
        assert_eq!(voice_param(&e, 0, test_tone::GATE), 1.0);
        let largest_step = |s: &[f32]| {
            s.windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0, f32::max)
        };
        assert!(largest_step(&during) <= largest_step(&before[2400..]) * 1.5);
        assert!(peak(&during[4000..]) > 0.1);
        assert!(
            e.begin_swap(tone_instance(3)).is_err(),
            "voice counts must match"
        );
    }

    #[test]
    fn bypass_fades_to_silence_keeps_notes_and_fades_back() {
        let mut e = engine(4);
        e.handle(EngineEvent::NoteOn {
            note: 60,
            velocity: 0.8,
        });
        let (playing, _) = render(&mut e, 4800);
        let level = peak(&playing[2400..]);
        assert!(level > 0.1, "{level}");
        e.set_bypass(true);
        let fade = (crate::bypass::BYPASS_FADE_SECONDS * SR) as usize;
        let (l, r) = render(&mut e, fade + 4800);
        assert!(peak(&l[..64]) > 0.5 * level, "fades, does not cut");
        assert_eq!(peak(&l[fade..]), 0.0);
        assert_eq!(peak(&r[fade..]), 0.0);
        // Held through the bypass: the note sounds again when it ends.
        e.set_bypass(false);
        let (l, _) = render(&mut e, fade + 4800);
        assert!(peak(&l[..64]) < 0.1 * level, "fades in: {}", peak(&l[..64]));
        assert!(
            peak(&l[fade..]) > 0.9 * level,
            "{} vs {level}",
            peak(&l[fade..])
        );
        // A key released during the bypass is released.
        e.set_bypass(true);
        render(&mut e, fade + 64);
        e.handle(EngineEvent::NoteOff { note: 60 });
        e.set_bypass(false);
        let (l, _) = render(&mut e, 48_000);
        assert_eq!(peak(&l[40_000..]), 0.0);
    }
}

/// Proof that the audio-thread path allocates nothing: with the `assert_process_allocs`
/// feature, nice-plug installs an allocator that aborts on any allocation inside
/// `assert_no_alloc` (debug builds).
#[cfg(all(test, feature = "assert_process_allocs", debug_assertions))]
mod allocation_tests {
    use super::*;
    use crate::instance::PatchInstance;
    use mephisto_dsp::builtin_patches;

    #[test]
    fn notes_controllers_macros_and_swaps_allocate_nothing() {
        let sr = 48_000.0;
        let instances: Vec<Playable> = (0..builtin_patches().len())
            .map(|i| Playable::new(PatchInstance::builtin(i, DEFAULT_VOICES, sr).unwrap()))
            .collect();
        let mut instances = instances.into_iter();
        let mut engine = Engine::new(instances.next().unwrap(), sr);
        let (mut l, mut r) = (vec![0.0f32; 1024], vec![0.0f32; 1024]);
        let mut retired = Vec::with_capacity(builtin_patches().len());
        for next in instances {
            let outcome = nice_assert_no_alloc::assert_no_alloc(|| {
                for note in 40..60 {
                    engine.handle(EngineEvent::NoteOn {
                        note,
                        velocity: 0.7,
                    });
                }
                engine.handle(EngineEvent::PitchBend(0.3));
                engine.handle(EngineEvent::ModWheel(0.8));
                engine.handle(EngineEvent::Sustain(true));
                engine.set_macros([0.1, 0.9, 0.7, 0.2, 0.6, 1.0]);
                engine.render(&mut l[..333], &mut r[..333]);
                let swap = engine.begin_swap(next);
                engine.render(&mut l, &mut r);
                engine.render(&mut l, &mut r);
                for note in 40..60 {
                    engine.handle(EngineEvent::NoteOff { note });
                }
                engine.handle(EngineEvent::Sustain(false));
                engine.render(&mut l[..1], &mut r[..1]);
                engine.set_bypass(true);
                engine.render(&mut l, &mut r);
                engine.render(&mut l, &mut r);
                engine.set_bypass(false);
                engine.render(&mut l, &mut r);
                (swap.is_ok(), engine.take_retired())
            });
            assert!(outcome.0, "swap accepted");
            retired.push(outcome.1.expect("the fade finished within two blocks"));
            assert!(l.iter().chain(&r).all(|s| s.is_finite()));
        }
        assert_eq!(retired.len(), builtin_patches().len() - 1);
    }
}
