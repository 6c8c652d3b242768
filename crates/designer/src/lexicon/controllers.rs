//! Controllers named in a prompt: "when I push the mod wheel", "harder playing is
//! brighter", "aftertouch opens the filter", "a pitch bend range of an octave".
//!
//! The rule: a prompt is split into clauses at punctuation and at the words of
//! [`CLAUSE_BREAKS`] ("and", "but", "that", "which", "where", "with", "while"). A clause that
//! names a controller ([`PHRASES`]) gives its describing words to that controller instead of
//! the resting sound: in "dark detuned bass that growls when I push the mod wheel", "dark
//! detuned bass" is the sound and "growls" is what the wheel adds. Instrument nouns in such
//! a clause still name the instrument. A controller clause without describing words gets
//! the controller's usual job ([`Controller::default_axes`]).

use super::{Axis, AxisWeights, BRIGHT, MOTION};

/// A controller a prompt can give a job to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    ModWheel,
    Velocity,
    Aftertouch,
    PitchBend,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::ModWheel => "mod wheel",
            Controller::Velocity => "velocity",
            Controller::Aftertouch => "aftertouch",
            Controller::PitchBend => "pitch bend",
        }
    }

    /// What the controller does when its clause says nothing else: the wheel adds motion
    /// (its job without any words), harder playing brightens, pressure adds vibrato-like
    /// motion. The pitch wheel bends, which needs no route.
    pub fn default_axes(self) -> Option<AxisWeights> {
        let mut axes = [0.0; Axis::COUNT];
        match self {
            Controller::ModWheel => axes[MOTION.index()] = 1.0,
            Controller::Velocity => axes[BRIGHT.index()] = 0.6,
            Controller::Aftertouch => axes[MOTION.index()] = 0.7,
            Controller::PitchBend => return None,
        }
        Some(axes)
    }
}

/// Words that end a clause (besides punctuation).
pub const CLAUSE_BREAKS: &[&str] = &[
    "and", "but", "that", "which", "where", "with", "while", "whereas", "though",
];

/// Phrases that name a controller, as the reader's tokens, and whether the phrase says the
/// controller's low end (`-1`: "softer playing is darker" means harder playing is brighter).
pub const PHRASES: &[(&str, Controller, f32)] = &[
    ("mod wheel", Controller::ModWheel, 1.0),
    ("modwheel", Controller::ModWheel, 1.0),
    ("modulation wheel", Controller::ModWheel, 1.0),
    ("mod whl", Controller::ModWheel, 1.0),
    ("wheel", Controller::ModWheel, 1.0),
    ("cc1", Controller::ModWheel, 1.0),
    ("velocity sensitive", Controller::Velocity, 1.0),
    ("velocity", Controller::Velocity, 1.0),
    ("touch sensitive", Controller::Velocity, 1.0),
    ("dynamics", Controller::Velocity, 1.0),
    ("harder playing", Controller::Velocity, 1.0),
    ("hard playing", Controller::Velocity, 1.0),
    ("play harder", Controller::Velocity, 1.0),
    ("playing harder", Controller::Velocity, 1.0),
    ("play hard", Controller::Velocity, 1.0),
    ("playing hard", Controller::Velocity, 1.0),
    ("hit harder", Controller::Velocity, 1.0),
    ("hit it harder", Controller::Velocity, 1.0),
    ("harder i play", Controller::Velocity, 1.0),
    ("harder you play", Controller::Velocity, 1.0),
    ("softer playing", Controller::Velocity, -1.0),
    ("play softer", Controller::Velocity, -1.0),
    ("playing softer", Controller::Velocity, -1.0),
    ("play softly", Controller::Velocity, -1.0),
    ("playing softly", Controller::Velocity, -1.0),
    ("softer i play", Controller::Velocity, -1.0),
    ("aftertouch", Controller::Aftertouch, 1.0),
    ("after touch", Controller::Aftertouch, 1.0),
    ("channel pressure", Controller::Aftertouch, 1.0),
    ("pressure", Controller::Aftertouch, 1.0),
    ("press harder", Controller::Aftertouch, 1.0),
    ("pressing harder", Controller::Aftertouch, 1.0),
    ("press into the keys", Controller::Aftertouch, 1.0),
    ("pitch bend", Controller::PitchBend, 1.0),
    ("pitchbend", Controller::PitchBend, 1.0),
    ("pitch wheel", Controller::PitchBend, 1.0),
    ("bend range", Controller::PitchBend, 1.0),
    ("bend", Controller::PitchBend, 1.0),
];

/// The controller phrase at the start of `tokens`: the controller, its sign and how many
/// tokens it covers. The longest phrase wins.
pub fn phrase_at(tokens: &[&str]) -> Option<(Controller, f32, usize)> {
    PHRASES
        .iter()
        .filter_map(|&(phrase, controller, sign)| {
            let words: Vec<&str> = phrase.split(' ').collect();
            (tokens.len() >= words.len() && tokens[..words.len()] == words[..]).then_some((
                controller,
                sign,
                words.len(),
            ))
        })
        .max_by_key(|&(_, _, len)| len)
}

/// Semitones of a pitch-bend range said in `tokens` (a clause naming the pitch bend):
/// "12 semitones", "an octave", "two octaves", "a fifth", "a whole step". `None` when the
/// clause names no amount.
pub fn bend_semitones(tokens: &[&str]) -> Option<f32> {
    let number = |word: &str| -> Option<f32> {
        word.parse::<f32>().ok().or(match word {
            "a" | "an" | "one" => Some(1.0),
            "two" => Some(2.0),
            "three" => Some(3.0),
            "four" => Some(4.0),
            "five" => Some(5.0),
            "seven" => Some(7.0),
            "twelve" => Some(12.0),
            _ => None,
        })
    };
    for (i, word) in tokens.iter().enumerate() {
        let count = i.checked_sub(1).and_then(|p| number(tokens[p]));
        let semitones = match *word {
            "octave" | "octaves" => Some(12.0 * count.unwrap_or(1.0)),
            "semitone" | "semitones" | "st" => count,
            "fifth" => Some(7.0),
            "step" | "tone" if i > 0 && tokens[i - 1] == "whole" => Some(2.0),
            "step" if i > 0 && tokens[i - 1] == "half" => Some(1.0),
            _ => None,
        };
        if let Some(s) = semitones {
            return Some(s.clamp(0.0, MAX_BEND_SEMITONES));
        }
    }
    // A bare number in a bend clause: "bend range 12".
    tokens
        .iter()
        .find_map(|w| w.parse::<f32>().ok())
        .map(|s| s.clamp(0.0, MAX_BEND_SEMITONES))
}

/// The widest pitch-bend range a prompt may ask for (MIDI's usual maximum).
pub const MAX_BEND_SEMITONES: f32 = 48.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        text.split(' ').collect()
    }

    #[test]
    fn the_longest_phrase_wins() {
        assert_eq!(
            phrase_at(&words("mod wheel opens")),
            Some((Controller::ModWheel, 1.0, 2))
        );
        assert_eq!(
            phrase_at(&words("velocity sensitive keys")),
            Some((Controller::Velocity, 1.0, 2))
        );
        assert_eq!(
            phrase_at(&words("softer playing is darker")),
            Some((Controller::Velocity, -1.0, 2))
        );
        assert_eq!(phrase_at(&words("bright pad")), None);
    }

    #[test]
    fn bend_amounts() {
        assert_eq!(bend_semitones(&words("range of an octave")), Some(12.0));
        assert_eq!(bend_semitones(&words("two octaves")), Some(24.0));
        assert_eq!(bend_semitones(&words("12 semitones")), Some(12.0));
        assert_eq!(bend_semitones(&words("range 7")), Some(7.0));
        assert_eq!(bend_semitones(&words("a whole step")), Some(2.0));
        assert_eq!(bend_semitones(&words("up a fifth")), Some(7.0));
        assert_eq!(bend_semitones(&words("100 semitones")), Some(48.0));
        assert_eq!(bend_semitones(&words("wide")), None);
    }
}
