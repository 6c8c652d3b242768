//! The six semantic macros. They are fixed host parameters so DAW automation lanes survive
//! patch changes; each patch maps them onto its own parameters (see `dsp::controls`).

use crate::dsp::controls::{Control, ControlSet};

/// A semantic macro. One name for one thing: "Bright" in the DAW, `bright` in Faust metadata,
/// the PatchSpec and the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Macro {
    Warm,
    Bright,
    Grit,
    Space,
    Motion,
    Punch,
}

/// Macro values in [0, 1]; 0.5 is the patch as designed.
pub type MacroValues = [f32; Macro::COUNT];

/// Every macro at its neutral position: the patch exactly as designed.
pub const NEUTRAL_MACROS: MacroValues = [0.5; Macro::COUNT];

impl Macro {
    pub const COUNT: usize = 6;
    pub const ALL: [Macro; Macro::COUNT] = [
        Macro::Warm,
        Macro::Bright,
        Macro::Grit,
        Macro::Space,
        Macro::Motion,
        Macro::Punch,
    ];

    /// The lowercase key used in Faust metadata, PatchSpecs and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Macro::Warm => "warm",
            Macro::Bright => "bright",
            Macro::Grit => "grit",
            Macro::Space => "space",
            Macro::Motion => "motion",
            Macro::Punch => "punch",
        }
    }

    /// The name shown in the DAW.
    pub fn display_name(self) -> &'static str {
        match self {
            Macro::Warm => "Warm",
            Macro::Bright => "Bright",
            Macro::Grit => "Grit",
            Macro::Space => "Space",
            Macro::Motion => "Motion",
            Macro::Punch => "Punch",
        }
    }

    /// Parses a macro key, case-insensitively.
    pub fn from_key(key: &str) -> Option<Macro> {
        Macro::ALL
            .into_iter()
            .find(|m| m.key().eq_ignore_ascii_case(key.trim()))
    }

    /// Position of this macro in a [`MacroValues`] array.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A parameter moved by one or more macros, resolved for playing.
#[derive(Debug, Clone)]
pub struct MacroTarget {
    /// Whether the parameter belongs to the patch's effect rather than its voices.
    pub in_effect: bool,
    pub control: Control,
    /// The designed value's normalised position, where every macro at 0.5 leaves it.
    pub default_position: f32,
}

impl MacroTarget {
    /// The controls of `controls` that some macro moves.
    pub fn all_in(
        controls: &ControlSet,
        in_effect: bool,
    ) -> impl Iterator<Item = MacroTarget> + '_ {
        controls
            .controls
            .iter()
            .filter(|c| !c.macro_depths.is_empty())
            .map(move |c| MacroTarget {
                in_effect,
                default_position: c.normalize(c.init),
                control: c.clone(),
            })
    }

    /// The parameter's value for these macro values: its normalised position moves by
    /// `Σ depth·(m − 0.5)·2`. At the neutral position the designed value is returned
    /// exactly, not a normalise/denormalise round trip of it.
    pub fn value(&self, macros: &MacroValues) -> f32 {
        let shift: f32 = self
            .control
            .macro_depths
            .iter()
            .map(|&(m, depth)| depth * (macros[m.index()] - 0.5) * 2.0)
            .sum();
        if shift == 0.0 {
            self.control.init
        } else {
            self.control.denormalize(self.default_position + shift)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_index_matches_order() {
        for (i, m) in Macro::ALL.into_iter().enumerate() {
            assert_eq!(Macro::from_key(m.key()), Some(m));
            assert_eq!(Macro::from_key(&m.display_name().to_uppercase()), Some(m));
            assert_eq!(m.index(), i);
        }
        assert_eq!(Macro::from_key("sparkle"), None);
    }
}
