//! What the player's controllers do on a patch: the mod wheel, velocity and aftertouch
//! (channel pressure) each push macros or parameters by a depth, and the pitch wheel bends
//! by a range. The one shape of a patch's controller map, like [`crate::macros::MacroMap`]
//! for the macros: what a PatchSpec's `controllers` field reads and writes, what an
//! instance is given, what the designers write from words ("growls when I push the mod
//! wheel").
//!
//! A route's depth `d` in −1..1 and the controller's value `c` in 0..1 (the wheel's
//! position, the note's velocity, the pressure):
//!
//! * to a macro: the macro's value `m` moves towards 1 by `d·c·(1 − m)` (towards 0 by
//!   `|d|·c·m` when `d` is negative): at full depth and full controller the macro is at its
//!   end, whatever the macro knob says;
//! * to a parameter: its normalised position moves by `d·c`, like a macro link's depth.
//!
//! Without a `mod_wheel` list the wheel drives Motion at depth 1 (what it does on every
//! patch whose words give it no other job); an empty list gives it none.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::macros::Macro;

/// A controller a patch can route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    ModWheel,
    Velocity,
    Aftertouch,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::ModWheel, Source::Velocity, Source::Aftertouch];

    /// The key in a PatchSpec's `controllers`.
    pub fn key(self) -> &'static str {
        match self {
            Source::ModWheel => "mod_wheel",
            Source::Velocity => "velocity",
            Source::Aftertouch => "aftertouch",
        }
    }

    /// The name shown to the producer.
    pub fn display_name(self) -> &'static str {
        match self {
            Source::ModWheel => "Mod wheel",
            Source::Velocity => "Velocity",
            Source::Aftertouch => "Aftertouch",
        }
    }
}

/// What a route moves.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Macro(Macro),
    /// A control, by its label in the program.
    Param(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Macro(m) => f.write_str(m.display_name()),
            Target::Param(label) => f.write_str(label),
        }
    }
}

/// One controller route: what it moves and how far.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub target: Target,
    /// −1..1; see the module documentation.
    pub depth: f32,
}

/// The mod wheel's job on a patch whose map names none.
pub const DEFAULT_WHEEL: Route = Route {
    target: Target::Macro(Macro::Motion),
    depth: 1.0,
};

/// The pitch wheel's range, semitones each way, on a patch whose map names none.
pub const DEFAULT_BEND_RANGE: f32 = 2.0;
/// The widest pitch-bend range a map may give.
pub const MAX_BEND_RANGE: f32 = 48.0;

/// A patch's whole controller map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControllerMap {
    /// `None`: the wheel drives Motion ([`DEFAULT_WHEEL`]).
    pub mod_wheel: Option<Vec<Route>>,
    pub velocity: Vec<Route>,
    pub aftertouch: Vec<Route>,
    /// Semitones each way; `None`: [`DEFAULT_BEND_RANGE`].
    pub bend_range: Option<f32>,
}

impl ControllerMap {
    /// Whether the map is the default one (nothing to write into a spec).
    pub fn is_default(&self) -> bool {
        *self == ControllerMap::default()
    }

    /// The routes of one controller, the wheel's default included.
    pub fn routes(&self, source: Source) -> &[Route] {
        match source {
            Source::ModWheel => self
                .mod_wheel
                .as_deref()
                .unwrap_or(std::slice::from_ref(&DEFAULT_WHEEL)),
            Source::Velocity => &self.velocity,
            Source::Aftertouch => &self.aftertouch,
        }
    }

    /// The routes of one controller, to change them (the wheel's default becomes an
    /// explicit list).
    pub fn routes_mut(&mut self, source: Source) -> &mut Vec<Route> {
        match source {
            Source::ModWheel => self
                .mod_wheel
                .get_or_insert_with(|| vec![DEFAULT_WHEEL.clone()]),
            Source::Velocity => &mut self.velocity,
            Source::Aftertouch => &mut self.aftertouch,
        }
    }

    /// The pitch wheel's range in semitones.
    pub fn bend_semitones(&self) -> f32 {
        self.bend_range.unwrap_or(DEFAULT_BEND_RANGE)
    }

    /// Every route with its controller, the wheel's default included.
    pub fn all_routes(&self) -> impl Iterator<Item = (Source, &Route)> {
        Source::ALL
            .into_iter()
            .flat_map(move |s| self.routes(s).iter().map(move |r| (s, r)))
    }

    /// One line for the producer: "Mod wheel → Grit +0.70, Motion +0.60 · Velocity →
    /// Bright +0.90 · Bend ±12".
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Source::ALL
            .into_iter()
            .filter(|s| !self.routes(*s).is_empty())
            .map(|s| {
                let routes: Vec<String> = self
                    .routes(s)
                    .iter()
                    .map(|r| format!("{} {:+.2}", r.target, r.depth))
                    .collect();
                format!("{} → {}", s.display_name(), routes.join(", "))
            })
            .collect();
        parts.push(format!("Bend ±{}", self.bend_semitones()));
        parts.join(" · ")
    }
}

/// Moves macro value `m` by a route of `depth` with the controller at `value`.
pub fn push_macro(m: f32, depth: f32, value: f32) -> f32 {
    let push = depth * value;
    if push >= 0.0 {
        m + push * (1.0 - m)
    } else {
        m + push * m
    }
}

/// The JSON form of one route.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteJson {
    #[serde(rename = "macro", default, skip_serializing_if = "Option::is_none")]
    macro_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    param: Option<String>,
    depth: f32,
}

/// The JSON form of a map.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mod_wheel: Option<Vec<RouteJson>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    velocity: Vec<RouteJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aftertouch: Vec<RouteJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bend_range: Option<f32>,
}

impl From<&Route> for RouteJson {
    fn from(route: &Route) -> RouteJson {
        let (macro_key, param) = match &route.target {
            Target::Macro(m) => (Some(m.key().to_string()), None),
            Target::Param(label) => (None, Some(label.clone())),
        };
        RouteJson {
            macro_key,
            param,
            depth: route.depth,
        }
    }
}

impl RouteJson {
    fn into_route(self) -> Result<Route, String> {
        let target = match (self.macro_key, self.param) {
            (Some(key), None) => Target::Macro(Macro::from_key(&key).ok_or_else(|| {
                let keys: Vec<&str> = Macro::ALL.iter().map(|m| m.key()).collect();
                format!("`{key}` is not a macro ({})", keys.join(", "))
            })?),
            (None, Some(label)) => Target::Param(label),
            _ => return Err("a route names either a `macro` or a `param`".into()),
        };
        Ok(Route {
            target,
            depth: self.depth,
        })
    }
}

impl Serialize for ControllerMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let list = |routes: &[Route]| routes.iter().map(RouteJson::from).collect::<Vec<_>>();
        MapJson {
            mod_wheel: self.mod_wheel.as_deref().map(list),
            velocity: list(&self.velocity),
            aftertouch: list(&self.aftertouch),
            bend_range: self.bend_range,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ControllerMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ControllerMap, D::Error> {
        let raw = MapJson::deserialize(deserializer)?;
        let list = |routes: Vec<RouteJson>| {
            routes
                .into_iter()
                .map(RouteJson::into_route)
                .collect::<Result<Vec<_>, _>>()
                .map_err(D::Error::custom)
        };
        Ok(ControllerMap {
            mod_wheel: raw.mod_wheel.map(list).transpose()?,
            velocity: list(raw.velocity)?,
            aftertouch: list(raw.aftertouch)?,
            bend_range: raw.bend_range,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wheel_drives_motion_unless_told_otherwise() {
        let map = ControllerMap::default();
        assert_eq!(map.routes(Source::ModWheel), [DEFAULT_WHEEL]);
        assert!(map.routes(Source::Velocity).is_empty());
        assert_eq!(map.bend_semitones(), 2.0);
        let silent = ControllerMap {
            mod_wheel: Some(Vec::new()),
            ..Default::default()
        };
        assert!(silent.routes(Source::ModWheel).is_empty());
    }

    #[test]
    fn pushes_reach_the_macros_end_at_full_depth() {
        assert_eq!(push_macro(0.5, 1.0, 1.0), 1.0);
        assert_eq!(push_macro(0.5, 1.0, 0.0), 0.5);
        assert_eq!(push_macro(0.5, 0.5, 1.0), 0.75);
        assert_eq!(push_macro(0.5, -1.0, 1.0), 0.0);
        assert_eq!(push_macro(0.2, -0.5, 1.0), 0.1);
        // The old wheel rule: motion + wheel · (1 − motion).
        assert_eq!(push_macro(0.3, 1.0, 0.4), 0.3 + 0.4 * 0.7);
    }

    #[test]
    fn the_json_form_round_trips_and_names_its_problems() {
        let text = r#"{"mod_wheel":[{"macro":"grit","depth":0.7},{"param":"cutoff","depth":-0.2}],"velocity":[{"macro":"bright","depth":0.5}],"bend_range":12.0}"#;
        let map: ControllerMap = serde_json::from_str(text).unwrap();
        assert_eq!(
            map.routes(Source::ModWheel)[1],
            Route {
                target: Target::Param("cutoff".into()),
                depth: -0.2
            }
        );
        assert_eq!(map.bend_semitones(), 12.0);
        assert_eq!(serde_json::to_string(&map).unwrap(), text);
        assert_eq!(
            serde_json::to_string(&ControllerMap::default()).unwrap(),
            "{}"
        );
        let bad = |t: &str| {
            serde_json::from_str::<ControllerMap>(t)
                .unwrap_err()
                .to_string()
        };
        assert!(bad(r#"{"velocity":[{"macro":"sparkle","depth":1}]}"#).contains("not a macro"));
        assert!(bad(r#"{"velocity":[{"depth":1}]}"#).contains("either a `macro` or a `param`"));
        assert!(bad(r#"{"pedal":[]}"#).contains("unknown field"));
        assert_eq!(
            map.describe(),
            "Mod wheel → Grit +0.70, cutoff -0.20 · Velocity → Bright +0.50 · Bend ±12"
        );
    }
}
