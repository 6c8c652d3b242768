//! Host note and controller events in the engine's terms.
//!
//! Two rules here exist because of how VST3 carries MIDI controllers. A VST3 host sends a
//! controller as a change of a parameter the plugin lists for it (nice-plug lists 130 per
//! channel, hidden, for `MidiConfig::MidiCCs`), converting the 7-bit value `v` to `v / 127`.
//! nice-plug reports each of those parameters' default as 0 but reads their value back as
//! exactly 0.5, and a host that re-sends every parameter after loading a project (Ardour
//! does) therefore sends CC 64 = 0.5 and CC 1 = 0.5 on every channel:
//!
//! * **Sustain follows MIDI's own threshold**: the pedal is down at 64..=127 (`>= 64/127`),
//!   up at 0..=63, so 0.5 (63.5) is up.
//! * **A controller value of exactly 0.5 is ignored.** No 7-bit value gives it (`v / 127 =
//!   0.5` has no integer `v`), so it is never a performer's controller, only the host
//!   restoring nice-plug's parameter view; taking it would move the mod wheel half-way up
//!   in a reopened project. Pitch bend is not affected: its 0.5 is the centre, which is right.

use mephisto_rt::engine::EngineEvent;
use nice_plug::prelude::*;

/// The lowest normalised CC 64 value that holds the pedal down (MIDI: 64..=127).
const SUSTAIN_DOWN: f32 = 64.0 / 127.0;

/// What nice-plug's generated VST3 controller parameters read back as; never a MIDI value.
const NOT_A_MIDI_VALUE: f32 = 0.5;

/// Translates a host note event into the engine's terms; `None` for events it ignores.
pub fn engine_event(event: &NoteEvent<()>) -> Option<EngineEvent> {
    match *event {
        NoteEvent::NoteOn { key, velocity, .. } => key
            .number()
            .map(|note| EngineEvent::NoteOn { note, velocity }),
        NoteEvent::NoteOff { key, .. } | NoteEvent::Choke { key, .. } => {
            key.number().map(|note| EngineEvent::NoteOff { note })
        }
        NoteEvent::MidiPitchBend { value, .. } => Some(EngineEvent::PitchBend(value * 2.0 - 1.0)),
        NoteEvent::MidiCC { cc, value, .. } => controller(cc, value),
        _ => None,
    }
}

fn controller(cc: u8, value: f32) -> Option<EngineEvent> {
    if value == NOT_A_MIDI_VALUE {
        return None;
    }
    match cc {
        control_change::MODULATION_MSB => Some(EngineEvent::ModWheel(value)),
        control_change::DAMPER_PEDAL => Some(EngineEvent::Sustain(value >= SUSTAIN_DOWN)),
        control_change::ALL_NOTES_OFF | control_change::ALL_SOUND_OFF => {
            Some(EngineEvent::AllNotesOff)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(cc: u8, raw: f32) -> Option<EngineEvent> {
        engine_event(&NoteEvent::MidiCC {
            timing: 0,
            channel: 0,
            cc,
            value: raw,
        })
    }

    #[test]
    fn sustain_uses_the_midi_threshold() {
        let pedal = control_change::DAMPER_PEDAL;
        assert_eq!(cc(pedal, 63.0 / 127.0), Some(EngineEvent::Sustain(false)));
        assert_eq!(cc(pedal, 64.0 / 127.0), Some(EngineEvent::Sustain(true)));
        assert_eq!(cc(pedal, 1.0), Some(EngineEvent::Sustain(true)));
        assert_eq!(cc(pedal, 0.0), Some(EngineEvent::Sustain(false)));
    }

    #[test]
    fn every_seven_bit_controller_value_is_taken_and_the_resync_value_is_not() {
        for v in 0..=127u8 {
            let value = f32::from(v) / 127.0;
            assert_eq!(
                cc(control_change::MODULATION_MSB, value),
                Some(EngineEvent::ModWheel(value)),
                "CC 1 = {v}"
            );
            assert!(
                cc(control_change::DAMPER_PEDAL, value).is_some(),
                "CC 64 = {v}"
            );
        }
        assert_eq!(cc(control_change::MODULATION_MSB, 0.5), None);
        assert_eq!(cc(control_change::DAMPER_PEDAL, 0.5), None);
    }

    #[test]
    fn pitch_bend_centre_is_zero() {
        let bend = engine_event(&NoteEvent::MidiPitchBend {
            timing: 0,
            channel: 0,
            value: 0.5,
        });
        assert_eq!(bend, Some(EngineEvent::PitchBend(0.0)));
    }
}
