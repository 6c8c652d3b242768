//! The six semantic macros. They are fixed host parameters so DAW automation lanes survive
//! patch changes; each patch maps them onto its own parameters through a [`MacroMap`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A semantic macro. One name for one thing: "Bright" in the DAW, `bright` in Faust metadata,
/// the PatchSpec and the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

impl fmt::Display for Macro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// One control a macro moves: as the macro goes from 0.5 to 1 the control's normalised
/// position (log-normalised for `[scale:log]`) moves by `depth`, the opposite way from 0.5
/// to 0.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroLink {
    pub target: Macro,
    /// The control's label, as in the Faust program (`cutoff`, `release`, …).
    pub param: String,
    /// Signed share of the control's normalised range, in [-1, 1].
    pub depth: f32,
}

/// A patch's whole macro map. The one shape of it: read from a program's widget metadata,
/// carried by a PatchSpec's `macros` field (whose JSON is this map by macro key), given to
/// an instance, repaired by calibration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MacroMap {
    /// Grouped by macro in [`Macro::ALL`] order, each macro's links in the order added, so
    /// two maps that say the same are equal however they were built.
    links: Vec<MacroLink>,
}

impl MacroMap {
    pub fn new() -> MacroMap {
        MacroMap::default()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Adds a link (after any the macro already has).
    pub fn push(&mut self, target: Macro, param: impl Into<String>, depth: f32) {
        let at = self.links.partition_point(|l| l.target <= target);
        self.links.insert(
            at,
            MacroLink {
                target,
                param: param.into(),
                depth,
            },
        );
    }

    /// Every link, macro by macro in [`Macro::ALL`] order, each macro's in the order added.
    pub fn links(&self) -> impl Iterator<Item = &MacroLink> {
        self.links.iter()
    }

    /// The links of one macro, in the order added.
    pub fn of(&self, target: Macro) -> impl Iterator<Item = &MacroLink> {
        self.links.iter().filter(move |l| l.target == target)
    }

    /// The depth with which `target` moves `param`, if it does.
    pub fn depth(&self, target: Macro, param: &str) -> Option<f32> {
        self.of(target).find(|l| l.param == param).map(|l| l.depth)
    }

    /// The depths of one macro's links, to rescale them.
    pub fn depths_mut(&mut self, target: Macro) -> impl Iterator<Item = &mut f32> {
        self.links
            .iter_mut()
            .filter(move |l| l.target == target)
            .map(|l| &mut l.depth)
    }

    /// Removes every link.
    pub fn clear(&mut self) {
        self.links.clear();
    }

    /// Keeps only the links `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&MacroLink) -> bool) {
        self.links.retain(keep);
    }

    /// Replaces one macro's links with `links` (`(param, depth)` pairs).
    pub fn set(&mut self, target: Macro, links: impl IntoIterator<Item = (String, f32)>) {
        self.links.retain(|l| l.target != target);
        for (param, depth) in links {
            self.push(target, param, depth);
        }
    }
}

/// The JSON form of one link inside its macro's list.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkJson {
    param: String,
    depth: f32,
    /// How the macro position maps onto the control; `linear` is the only curve.
    #[serde(default)]
    curve: Curve,
}

/// The shape of a macro's effect on a control.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Curve {
    #[default]
    Linear,
}

impl Serialize for MacroMap {
    /// As a PatchSpec writes it: macro key → `[{param, depth, curve}]`, keys sorted, macros
    /// without links left out.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, Vec<LinkJson>> = Macro::ALL
            .into_iter()
            .map(|m| {
                let links = self
                    .of(m)
                    .map(|l| LinkJson {
                        param: l.param.clone(),
                        depth: l.depth,
                        curve: Curve::Linear,
                    })
                    .collect::<Vec<_>>();
                (m.key(), links)
            })
            .filter(|(_, links)| !links.is_empty())
            .collect();
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MacroMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<MacroMap, D::Error> {
        let raw = BTreeMap::<String, Vec<LinkJson>>::deserialize(deserializer)?;
        let mut map = MacroMap::new();
        for (key, links) in raw {
            let target = Macro::from_key(&key).ok_or_else(|| {
                let keys: Vec<&str> = Macro::ALL.iter().map(|m| m.key()).collect();
                D::Error::custom(format!("`{key}` is not a macro ({})", keys.join(", ")))
            })?;
            for link in links {
                map.push(target, link.param, link.depth);
            }
        }
        Ok(map)
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

    #[test]
    fn a_macro_map_reads_and_writes_the_patchspec_form() {
        let text = r#"{"bright":[{"param":"cutoff","depth":0.7,"curve":"linear"}],"warm":[{"param":"body","depth":0.4}]}"#;
        let map: MacroMap = serde_json::from_str(text).unwrap();
        assert_eq!(map.depth(Macro::Bright, "cutoff"), Some(0.7));
        assert_eq!(map.depth(Macro::Warm, "body"), Some(0.4));
        assert_eq!(map.len(), 2);
        let written = serde_json::to_string(&map).unwrap();
        assert_eq!(
            written,
            r#"{"bright":[{"param":"cutoff","depth":0.7,"curve":"linear"}],"warm":[{"param":"body","depth":0.4,"curve":"linear"}]}"#
        );
        let mut built = MacroMap::new();
        built.push(Macro::Warm, "body", 0.4);
        built.push(Macro::Bright, "cutoff", 0.7);
        assert_eq!(built, map, "the same map, whatever order it was built in");
        let err = serde_json::from_str::<MacroMap>(r#"{"sparkle":[]}"#).unwrap_err();
        assert!(
            err.to_string().contains("`sparkle` is not a macro"),
            "{err}"
        );
    }
}
