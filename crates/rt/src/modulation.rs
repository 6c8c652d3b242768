//! What moves a patch's parameters while it plays: the six macros and the player's
//! controllers (mod wheel, velocity, aftertouch), resolved to concrete parameters so the
//! audio thread only computes values. Built on the worker ([`Modulation::new`] allocates);
//! played on the audio thread ([`Modulation::value`] and [`Modulation::global_macros`] do
//! not). A whole `Modulation` can be swapped into a playing instance without allocating
//! (calibration's corrected macro map arriving after the patch went live).

use mephisto_dsp::controllers::{push_macro, ControllerMap, Source, Target, MAX_BEND_RANGE};
use mephisto_dsp::controls::{Control, ControlSet};
use mephisto_dsp::macros::{Macro, MacroValues};

/// A parameter moved by macros or controllers, resolved for playing.
#[derive(Debug, Clone)]
pub struct MacroDrive {
    /// Whether the parameter belongs to the patch's effect rather than its voices.
    pub in_effect: bool,
    pub control: Control,
    /// The designed value's normalised position, where every macro at 0.5 leaves it.
    pub default_position: f32,
}

impl MacroDrive {
    fn of(control: &Control, in_effect: bool) -> MacroDrive {
        MacroDrive {
            in_effect,
            default_position: control.normalize(control.init),
            control: control.clone(),
        }
    }

    /// The controls of `controls` that some macro moves.
    pub fn all_in(controls: &ControlSet, in_effect: bool) -> impl Iterator<Item = MacroDrive> + '_ {
        controls
            .controls
            .iter()
            .filter(|c| !c.macro_depths.is_empty())
            .map(move |c| MacroDrive::of(c, in_effect))
    }

    /// The parameter's value for these macro values: its normalised position moves by
    /// `Σ depth·(m − 0.5)·2`. At the neutral position the designed value is returned
    /// exactly, not a normalise/denormalise round trip of it.
    pub fn value(&self, macros: &MacroValues) -> f32 {
        self.value_shifted(macros, 0.0)
    }

    /// [`MacroDrive::value`] with `extra` more normalised shift (a controller's route).
    fn value_shifted(&self, macros: &MacroValues, extra: f32) -> f32 {
        let shift: f32 = self
            .control
            .macro_depths
            .iter()
            .map(|&(m, depth)| depth * (macros[m.index()] - 0.5) * 2.0)
            .sum::<f32>()
            + extra;
        if shift == 0.0 {
            self.control.init
        } else {
            self.control.denormalize(self.default_position + shift)
        }
    }
}

/// What a controller route moves, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Moves {
    Macro(Macro),
    /// A drive, by its index in [`Modulation::drives`].
    Drive(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Resolved {
    moves: Moves,
    depth: f32,
}

/// The controllers' values as they stand.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ControllerValues {
    pub mod_wheel: f32,
    pub aftertouch: f32,
}

/// The parameters macros and controllers move, and the controllers' routes.
#[derive(Debug, Clone, Default)]
pub struct Modulation {
    drives: Vec<MacroDrive>,
    /// Routes by [`Source`], in [`Source::ALL`] order.
    routes: [Vec<Resolved>; 3],
    bend_range: f32,
}

impl Modulation {
    /// Resolves the macro maps in `voice` and `effect` (their controls' macro depths) and
    /// the controller map. Fails with a message naming the route when it moves a control
    /// the patch does not have, or a depth or bend range is out of range. Allocates.
    pub fn new(
        voice: &ControlSet,
        effect: &ControlSet,
        controllers: &ControllerMap,
        settable: impl Fn(&Control, bool) -> bool,
    ) -> Result<Modulation, String> {
        let mut drives: Vec<MacroDrive> = MacroDrive::all_in(voice, false)
            .chain(MacroDrive::all_in(effect, true))
            .collect();
        let mut routes: [Vec<Resolved>; 3] = Default::default();
        for (slot, source) in Source::ALL.into_iter().enumerate() {
            for (i, route) in controllers.routes(source).iter().enumerate() {
                let field = format!("controllers.{}[{i}]", source.key());
                if !(-1.0..=1.0).contains(&route.depth) {
                    return Err(format!("`{field}.depth`: {} is outside -1..1", route.depth));
                }
                let moves = match &route.target {
                    Target::Macro(m) => Moves::Macro(*m),
                    Target::Param(label) => {
                        let found = voice
                            .controls
                            .iter()
                            .map(|c| (c, false))
                            .chain(effect.controls.iter().map(|c| (c, true)))
                            .find(|(c, in_effect)| c.label == *label && settable(c, *in_effect));
                        let Some((control, in_effect)) = found else {
                            return Err(format!(
                                "`{field}.param`: the patch has no parameter `{label}`"
                            ));
                        };
                        let index = match drives
                            .iter()
                            .position(|d| d.in_effect == in_effect && d.control.label == *label)
                        {
                            Some(index) => index,
                            None => {
                                drives.push(MacroDrive::of(control, in_effect));
                                drives.len() - 1
                            }
                        };
                        Moves::Drive(index)
                    }
                };
                routes[slot].push(Resolved {
                    moves,
                    depth: route.depth,
                });
            }
        }
        let bend_range = controllers.bend_semitones();
        if !(0.0..=MAX_BEND_RANGE).contains(&bend_range) {
            return Err(format!(
                "`controllers.bend_range`: {bend_range} is outside 0..{MAX_BEND_RANGE} semitones"
            ));
        }
        Ok(Modulation {
            drives,
            routes,
            bend_range,
        })
    }

    /// The parameters moved, in the order of [`Modulation::value`]'s index.
    pub fn drives(&self) -> &[MacroDrive] {
        &self.drives
    }

    /// The pitch wheel's range, semitones each way.
    pub fn bend_range(&self) -> f32 {
        self.bend_range
    }

    /// Whether velocity moves anything (then every voice has values of its own).
    pub fn follows_velocity(&self) -> bool {
        !self.routes[slot(Source::Velocity)].is_empty()
    }

    /// The macros after the mod wheel's and aftertouch's pushes.
    pub fn global_macros(&self, macros: &MacroValues, held: ControllerValues) -> MacroValues {
        let mut m = *macros;
        for (source, value) in [
            (Source::ModWheel, held.mod_wheel),
            (Source::Aftertouch, held.aftertouch),
        ] {
            push_macros(&mut m, &self.routes[slot(source)], value);
        }
        m
    }

    /// Drive `index`'s value with the macros `global` (after [`Modulation::global_macros`]),
    /// the held controllers and, for a voice's parameter, that voice's note velocity.
    pub fn value(
        &self,
        index: usize,
        global: &MacroValues,
        held: ControllerValues,
        velocity: Option<f32>,
    ) -> f32 {
        let drive = &self.drives[index];
        let velocity = velocity.filter(|_| !drive.in_effect);
        let mut macros = *global;
        if let Some(v) = velocity {
            push_macros(&mut macros, &self.routes[slot(Source::Velocity)], v);
        }
        let mut extra = 0.0;
        for (source, value) in [
            (Source::ModWheel, held.mod_wheel),
            (Source::Aftertouch, held.aftertouch),
            (Source::Velocity, velocity.unwrap_or(0.0)),
        ] {
            for r in &self.routes[slot(source)] {
                if r.moves == Moves::Drive(index) {
                    extra += r.depth * value;
                }
            }
        }
        drive.value_shifted(&macros, extra)
    }
}

fn slot(source: Source) -> usize {
    Source::ALL
        .iter()
        .position(|s| *s == source)
        .expect("every source has a slot")
}

/// Pushes the macros of `routes` with the controller at `value`.
fn push_macros(macros: &mut MacroValues, routes: &[Resolved], value: f32) {
    if value == 0.0 {
        return;
    }
    for r in routes {
        if let Moves::Macro(m) = r.moves {
            macros[m.index()] = push_macro(macros[m.index()], r.depth, value);
        }
    }
}
