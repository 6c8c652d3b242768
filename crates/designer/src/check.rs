//! The analysis check: conflicts resolved on the sound, not on the words. After the words
//! have moved the template's controls, the designed patch is played (the level probe, C3
//! held 1 s) and measured on every axis the prompt asked for, against the template as it
//! was: brightness (spectral centroid), warmth (low-mid share), noisiness (flatness),
//! attack and tail (the level, the last of the six, is set exactly afterwards by the output
//! trim). Words work against each other: "dark distorted bass" lowers the cutoff and raises
//! the drive, and the drive brightens. When an axis falls short, every control the words
//! moved is tried back at its template value to learn what it does to every measured axis
//! (the cause shows up: drive raises the centroid), and the shifts are corrected together
//! by regularised least squares toward all the targets at once: the filter closes further,
//! the drive gives up what flatness can spare. At most [`ROUNDS`] corrections; the try
//! closest to every target is kept, and an axis still short is reported as a miss.

use std::collections::BTreeMap;

use mephisto_analysis::{Analyzer, Features};
use mephisto_dsp::controls::Control;
use mephisto_patch::level::{self, Loudness, Played};
use mephisto_patch::probe::Probe;
use mephisto_patch::{BuildError, OfflinePatch, PatchSpec};
use mephisto_rt::engine::note_to_hz;

use crate::lexicon::{Axis, AxisWeights, ATTACK, BRIGHT, GRIT, SPACE, WARM};

/// How close to either end of its range (as a share of the range) the words may push a
/// control: a designed value at a limit leaves the macros that move it only one way to go,
/// and a filter closed or a layer silenced at its limit takes the macros that act through
/// it down too (a "dark" bass whose filter shut stopped its Motion growling). A template's
/// own value closer to a limit stays where it is.
pub const LIMIT_MARGIN: f32 = 0.05;

/// Corrections the check may make after its first measurement.
pub const ROUNDS: usize = 2;

/// The least weight the words must give an axis for the check to measure it: a word's
/// side effect ("dirty" is a touch darker) is not a target to trade a real one for.
const MIN_WEIGHT: f32 = 0.35;

/// How much worse moving the wrong way is than not moving, per share of the target, and
/// the most targets' worth it may count against a try: a try that meets the drive's grit
/// by making a "dark" bass brighter is no answer.
const WRONG_WAY: f32 = 4.0;

/// Controls whose effect is measured when an axis falls short: the ones the words moved
/// most.
const MAX_CANDIDATES: usize = 6;

/// How far past its target an axis may go before it counts against the design ("dark"
/// closing a drone's filter completely would also silence its movement).
const OVERSHOOT: f32 = 2.0;

/// What the correction aims at on a short axis, as a share of its target: a little past
/// it, since the estimate of each control's effect is a straight line through a curve.
const AIM: f32 = 1.25;

/// An axis counts as missed when it moved less than this share of what was asked.
const MISS_SHARE: f32 = 0.6;

/// The most loudness a correction may cost against the reference before the try is
/// refused whatever its descriptors say (a filter closed on the fundamental).
const MAX_LEVEL_LOSS_DB: f32 = 12.0;

/// Weight of small corrections in the least-squares solve: keeps the controls where the
/// words put them unless moving them buys a target.
const RIDGE: f32 = 0.05;

/// The spectral flatness at and below which a note counts as clean: Grit's measure starts
/// here, so a flatness change below it is neither grit won nor grit lost. For a tone over a
/// broadband noise, flatness is about the noise's power against the tone's (the geometric
/// mean is the noise's level in a bin, the arithmetic mean the tone's power spread over the
/// bins), so 1e-7 is noise 70 dB under the tone: at the −23 LUFS a design plays at, that is
/// about a 16-bit recording's own noise floor, nothing a listener calls grit. Measured on
/// the built-ins as designed: the clean tonal ones all sit under it (tine_keys 6.4e-9,
/// glass_bell 9.5e-9, drawbar_organ 1.5e-8, sub_bass 4.1e-8, deep_kick 7.4e-8), the ones
/// with noise or drive by design above 1e-6 (warm_pad 2.2e-6 up to nylon_pluck 5.8e-3), and
/// real grit reaches it by orders of magnitude ("distorted bass" 6e-6, ×150 the plain bass).
/// Below it the ratios are a near-pure sine's last bits: a shut sub_bass measured 2.6e-8
/// against the plain bass's 3.8e-8, which as a ratio (×0.7) counted as grit lost against a
/// "dark distorted bass" and a drive nudged to 7.8e-8 (×2.06) as the grit asked for, so the
/// check traded the dark away for an inaudible grit.
const CLEAN_FLATNESS: f32 = 1e-7;

/// Each control's normalised shift from the template's designed position, aligned with
/// the controls.
pub type Shifts = Vec<f32>;

/// The designed values for `shifts`: each control's normalised position (log for
/// `[scale:log]`) moved by its shift, within [`LIMIT_MARGIN`] of its ends (a template's
/// own value nearer an end stays).
pub fn params(controls: &[Control], shifts: &[f32]) -> BTreeMap<String, f32> {
    controls
        .iter()
        .zip(shifts)
        .map(|(c, &shift)| {
            let value = if shift == 0.0 {
                c.init
            } else {
                let (low, high) = bounds(c);
                c.denormalize((c.normalize(c.init) + shift).clamp(low, high))
            };
            (c.label.clone(), value)
        })
        .collect()
}

/// The normalised positions a shift may reach.
fn bounds(c: &Control) -> (f32, f32) {
    let designed = c.normalize(c.init);
    (designed.min(LIMIT_MARGIN), designed.max(1.0 - LIMIT_MARGIN))
}

/// An axis the check measures.
struct Target {
    axis: Axis,
    /// What moving up and down are called.
    up: &'static str,
    down: &'static str,
    /// The descriptor on a scale where a weight's step is the same everywhere.
    measure: fn(&Features) -> f32,
    /// How far a weight of 1 asks it to move on that scale.
    per_weight: f32,
    /// The value on that scale beyond which it cannot be measured (going up), if any.
    ceiling: fn(&Probe) -> f32,
    /// The value on that scale below which it cannot go (going down).
    floor: fn(&Probe) -> f32,
    /// A change on that scale, for the notes: "−0.42 oct".
    format: fn(f32) -> String,
    /// Whether going far past the target counts against a design. Brightness and warmth
    /// do (a filter closed far past "dark" silences the movement too); flatness, attack
    /// and tail do not: they start from floors where a weight's step means nothing (a
    /// pluck that has died by note-off has no tail to double, and any reverb is "×20").
    overshoots: bool,
    /// How much the axis counts against the others when they conflict, per unit of
    /// weight. Brightness and warmth are what a listener hears first ("dark" must stay
    /// darker however much grit is asked); flatness, attack and tail give way.
    priority: f32,
}

fn octaves(change: f32) -> String {
    format!("{change:+.2} oct")
}

fn ratio(change: f32) -> String {
    format!("×{:.2}", change.exp2())
}

fn share(change: f32) -> String {
    format!("{change:+.3}")
}

const TARGETS: [Target; 5] = [
    // Bright: an octave of centroid per unit of weight.
    Target {
        axis: BRIGHT,
        up: "brighter",
        down: "darker",
        measure: |f| f.centroid_hz.max(1.0).log2(),
        per_weight: 1.0,
        ceiling: |_| f32::INFINITY,
        // Darker than a little above the fundamental is not a darker note but a sine.
        floor: |p| (1.25 * note_to_hz(p.notes[0] as f32)).log2(),
        format: octaves,
        overshoots: true,
        priority: 1.0,
    },
    // Warm: 0.15 of the energy into 100–600 Hz (a clearly fuller or thinner sound).
    Target {
        axis: WARM,
        up: "warmer",
        down: "thinner",
        measure: |f| f.low_mid_share,
        per_weight: 0.15,
        ceiling: |_| 0.98,
        floor: |_| 0.02,
        format: share,
        overshoots: true,
        priority: 1.0,
    },
    // Grit: flatness doubled per unit (a tonal note's flatness moves by factors), counted
    // from CLEAN_FLATNESS up; a note at that floor is clean and cannot be cleaned further.
    Target {
        axis: GRIT,
        up: "grittier",
        down: "cleaner",
        measure: |f| f.flatness.max(CLEAN_FLATNESS).log2(),
        per_weight: 1.0,
        ceiling: |_| 0.0,
        floor: |_| CLEAN_FLATNESS.log2(),
        format: ratio,
        overshoots: false,
        priority: 0.5,
    },
    // Attack: twice as long per unit; no longer than the note is held can be measured,
    // nor shorter than 5 ms heard.
    Target {
        axis: ATTACK,
        up: "slower attack",
        down: "faster attack",
        measure: |f| f.attack_s.max(0.005).log2(),
        per_weight: 1.0,
        ceiling: |p| (0.8 * p.held_s as f32).log2(),
        floor: |_| -7.64, // log2(0.005)
        format: ratio,
        overshoots: false,
        priority: 0.5,
    },
    // Space: the tail twice as long per unit, within what the probe follows after
    // note-off.
    Target {
        axis: SPACE,
        up: "longer tail",
        down: "shorter tail",
        measure: |f| f.tail_s.max(0.02).log2(),
        per_weight: 1.0,
        ceiling: |p| (0.9 * p.release_s as f32).log2(),
        floor: |_| -5.64, // log2(0.02)
        format: ratio,
        overshoots: false,
        priority: 0.5,
    },
];

/// A descriptor on a scale where a weight's step is the same everywhere.
pub type Measure = fn(&Features) -> f32;

/// How axis `axis` is measured (on a scale where a weight's step is the same everywhere)
/// and how far a weight of 1 asks it to move; `None` for an axis the check does not
/// measure (motion, punch, length, level).
pub fn scale(axis: Axis) -> Option<(Measure, f32)> {
    TARGETS
        .iter()
        .find(|t| t.axis == axis)
        .map(|t| (t.measure, t.per_weight))
}

/// What the check found and did.
#[derive(Debug, Clone)]
pub struct Checked {
    /// One line for the notes ("analysis check: centroid −0.92 oct (asked −0.90), …"); empty
    /// when the words asked for nothing it measures.
    pub note: String,
    /// Axes still short of what was asked, for the status: "darker: −0.31 of −0.90 oct".
    pub misses: Vec<String>,
    /// How loud the final design played the level probe (its trim included), for
    /// levelling.
    pub loudness: Loudness,
}

/// Measures a played probe.
pub fn features(played: &Played, analyzer: &mut Analyzer) -> Features {
    analyzer.measure(
        &played.mono,
        played.sample_rate as f32,
        Some(played.note_off_s),
    )
}

/// One measured try.
#[derive(Clone)]
struct Try {
    shifts: Shifts,
    played: Played,
    values: Vec<f32>,
    /// Its loudness (the probe's loudest momentary loudness), LUFS.
    lufs: f32,
}

/// Checks `spec` (its params are `params(controls, shifts)`) against `reference` (the
/// template as it was, measured only when the words ask for an axis the check measures)
/// on the axes `axes` ask for at `reach`, correcting `shifts` and the spec's params; see
/// the module documentation. Up to `lanes` independent tries play at once ([`lanes`]);
/// the result is the same for any number.
#[allow(clippy::too_many_arguments)]
pub fn check(
    spec: &mut PatchSpec,
    controls: &[Control],
    shifts: &mut Shifts,
    axes: &AxisWeights,
    reach: f32,
    reference: &(dyn Fn() -> Result<Features, String> + Sync),
    build: &Build<'_>,
    lanes: usize,
) -> Result<Checked, String> {
    let mut analyzer = Analyzer::without_pitch();
    let probe = Probe::level();
    let active: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| axes[t.axis.index()].abs() >= MIN_WEIGHT)
        .collect();
    // How much each axis counts: what the words asked of it.
    let importance: Vec<f32> = active
        .iter()
        .map(|t| t.priority * axes[t.axis.index()].abs())
        .collect();
    let wanted: Vec<f32> = active
        .iter()
        .map(|t| t.per_weight * axes[t.axis.index()] * reach)
        .collect();
    let player = Player {
        spec,
        controls,
        active: &active,
        build,
        lanes: lanes.max(1),
    };
    // The reference and the words' own try are independent: played side by side.
    let (reference, first) = if active.is_empty() {
        (Ok(Features::SILENT), player.play(shifts, &mut analyzer))
    } else {
        player.beside(reference, || player.play(shifts, &mut analyzer))
    };
    let (reference, first) = (reference?, first?);
    let base: Vec<f32> = active.iter().map(|t| (t.measure)(&reference)).collect();
    let state = |values: &[f32]| -> Vec<Standing> {
        (0..active.len())
            .map(|a| standing(active[a], &probe, base[a], values[a], wanted[a]))
            .collect()
    };
    let closeness = |values: &[f32]| -> f32 {
        state(values)
            .iter()
            .zip(&importance)
            .map(|(s, i)| i * s.score())
            .sum()
    };
    // A try that lost most of its level (a filter closed on the fundamental) is no answer
    // whatever its descriptors say.
    let audible = |t: &Try| t.lufs > reference.level_lufs - MAX_LEVEL_LOSS_DB;
    // A try that meets every target cannot be bettered (no standing scores above met), so
    // the search stops there: later tries would only cost renders.
    let settled = |t: &Try| state(&t.values).iter().all(Standing::settled);
    let mut best = first.clone();
    if !active.is_empty() && state(&first.values).iter().any(|s| !s.settled()) {
        // What each control the words moved most does to every measured axis: the slope
        // of the line from its template value to where the words put it.
        let mut candidates: Vec<usize> = (0..shifts.len())
            .filter(|&i| shifts[i].abs() >= 0.02)
            .collect();
        candidates.sort_by(|&a, &b| shifts[b].abs().total_cmp(&shifts[a].abs()));
        candidates.truncate(MAX_CANDIDATES);
        let mut slopes = Vec::with_capacity(candidates.len());
        // Played `lanes` at a time and taken in order, so the search stops exactly where
        // playing them one by one would (a try of a batch after one that met every target
        // is played for nothing and left out).
        'batches: for batch in candidates.chunks(player.lanes) {
            if settled(&best) {
                break;
            }
            let tries: Vec<Shifts> = batch
                .iter()
                .map(|&i| {
                    let mut without = shifts.clone();
                    without[i] = 0.0;
                    without
                })
                .collect();
            for (&i, t) in batch.iter().zip(player.play_all(&tries, &mut analyzer)) {
                if settled(&best) {
                    break 'batches;
                }
                let t = t?;
                slopes.push(
                    (0..active.len())
                        .map(|a| (first.values[a] - t.values[a]) / shifts[i])
                        .collect::<Vec<f32>>(),
                );
                // Leaving the cause where the template had it may be the answer itself.
                if audible(&t) && closeness(&t.values) > closeness(&best.values) {
                    best = t;
                }
            }
        }
        // The controls measured (all of them unless a try met every target first).
        candidates.truncate(slopes.len());
        // A coarse step first that trusts only the signs of the slopes (the lines are
        // straight only near where they were measured): each control that helps the
        // short axes on balance goes twice as far as the words put it, each that hurts
        // them goes back to the template's value.
        let coarse_step = |best: &Try| -> Shifts {
            let short = state(&best.values);
            let mut coarse = best.shifts.clone();
            for (k, &i) in candidates.iter().enumerate() {
                let help: f32 = (0..active.len())
                    .filter(|&a| !short[a].settled())
                    .map(|a| importance[a] * slopes[k][a] * wanted[a].signum() / wanted[a].abs())
                    .sum();
                let (low, high) = bounds(&controls[i]);
                let designed = controls[i].normalize(controls[i].init);
                coarse[i] = if help > 0.0 {
                    (2.0 * shifts[i]).clamp(low - designed, high - designed)
                } else {
                    0.0
                };
            }
            coarse
        };
        // Then rounds that each step from the best try so far by a regularised
        // least-squares correction; a step that did not help is halved.
        let round_step = |best: &Try, scale: f32| -> Shifts {
            let standing = state(&best.values);
            // Residuals in units of each axis's target: hold settled axes where they are,
            // aim short ones a little past their target, pull overshot ones back.
            let residual: Vec<f32> = (0..active.len())
                .map(|a| {
                    importance[a] * (standing[a].aim(base[a], wanted[a]) - best.values[a])
                        / wanted[a].abs()
                })
                .collect();
            let jacobian: Vec<Vec<f32>> = (0..active.len())
                .map(|a| {
                    slopes
                        .iter()
                        .map(|s| importance[a] * s[a] / wanted[a].abs())
                        .collect()
                })
                .collect();
            let step = ridge_solve(&jacobian, &residual, RIDGE);
            let mut next = best.shifts.clone();
            for (k, &i) in candidates.iter().enumerate() {
                let (low, high) = bounds(&controls[i]);
                let designed = controls[i].normalize(controls[i].init);
                next[i] = (next[i] + scale * step[k]).clamp(low - designed, high - designed);
            }
            next
        };
        // Step `k` (0: the coarse step, then the rounds) from `best` at `scale`; none once
        // every target is met (no try can do better).
        let steps = 1 + ROUNDS;
        let next_try = |k: usize, best: &Try, scale: f32| -> Option<Shifts> {
            if settled(best) {
                None
            } else if k == 0 {
                Some(coarse_step(best))
            } else {
                Some(round_step(best, scale))
            }
        };
        // What a step that did not help leaves for the next: the rounds halve the scale.
        let after_loss = |k: usize, scale: f32| if k == 0 { scale } else { 0.5 * scale };
        let mut scale = 1.0;
        // The next step's try, played beside this one on the guess that this one will not
        // help (then the next starts from the same best try): used only when the guess
        // held, so the search is the one a single thread makes.
        let mut guessed: Option<Result<Try, String>> = None;
        for k in 0..steps {
            let Some(this) = next_try(k, &best, scale) else {
                break;
            };
            let current = match guessed.take() {
                Some(current) => current?,
                None => {
                    let guess = (player.lanes > 1 && k + 1 < steps)
                        .then(|| next_try(k + 1, &best, after_loss(k, scale)))
                        .flatten();
                    match guess {
                        Some(guess) => {
                            let mut both = player.play_all(&[this, guess], &mut analyzer);
                            guessed = both.pop();
                            both.pop().expect("two tries were played")?
                        }
                        None => player.play(&this, &mut analyzer)?,
                    }
                }
            };
            if audible(&current) && closeness(&current.values) > closeness(&best.values) {
                best = current;
                // The guess started from the old best: of no use now.
                guessed = None;
            } else {
                scale = after_loss(k, scale);
            }
        }
    }
    *shifts = best.shifts.clone();
    spec.params = params(controls, shifts);
    let standing = state(&best.values);
    let moved: Vec<String> = (0..active.len())
        .map(|a| {
            let t = active[a];
            format!(
                "{} {} (asked {})",
                t.axis.name(),
                (t.format)(best.values[a] - base[a]),
                (t.format)(wanted[a])
            )
        })
        .collect();
    let misses = (0..active.len())
        .filter(|&a| standing[a].missed())
        .map(|a| {
            let t = active[a];
            let word = if wanted[a] > 0.0 { t.up } else { t.down };
            format!(
                "{word}: reached {} of {}",
                (t.format)(best.values[a] - base[a]),
                (t.format)(wanted[a])
            )
        })
        .collect();
    let note = if moved.is_empty() {
        String::new()
    } else {
        format!("analysis check: {}", moved.join(", "))
    };
    Ok(Checked {
        note,
        misses,
        loudness: Loudness {
            lufs: best.lufs,
            peak_dbfs: best.played.peak_dbfs(),
        },
    })
}

/// Makes a one-voice instance of a spec for the check's probe; shared by the threads that
/// play the tries.
pub type Build<'a> = dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError> + Sync + 'a;

/// The most tries the check plays at once: the calling thread and one more. The tries are
/// independent renders; a second thread shortens the wait for them (first sound) on a
/// machine with a core to spare and costs the same CPU time in all (the helper runs at the
/// worker's priority, below a host's real-time audio thread).
pub const MAX_LANES: usize = 2;

/// How many tries play at once here: [`MAX_LANES`], or fewer when the machine has fewer
/// cores.
pub fn lanes() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_LANES)
}

/// Plays tries of one design: its spec with other shifts, on the level probe.
struct Player<'a> {
    spec: &'a PatchSpec,
    controls: &'a [Control],
    active: &'a [&'a Target],
    build: &'a Build<'a>,
    /// How many tries may play at once.
    lanes: usize,
}

impl Player<'_> {
    /// Plays and measures the spec with `shifts`.
    fn play(&self, shifts: &Shifts, analyzer: &mut Analyzer) -> Result<Try, String> {
        let mut trial = self.spec.clone();
        trial.params = params(self.controls, shifts);
        let played = level::play((self.build)(&trial)?);
        let f = features(&played, analyzer);
        Ok(Try {
            shifts: shifts.clone(),
            values: self.active.iter().map(|t| (t.measure)(&f)).collect(),
            lufs: f.level_lufs,
            played,
        })
    }

    /// Plays every shift set of `batch`, up to [`Player::lanes`] at once; the results in
    /// the batch's order.
    fn play_all(&self, batch: &[Shifts], analyzer: &mut Analyzer) -> Vec<Result<Try, String>> {
        match batch {
            [] => Vec::new(),
            [only] => vec![self.play(only, analyzer)],
            [first, rest @ ..] => {
                let (rest, first) = self.beside(
                    || {
                        let mut analyzer = Analyzer::without_pitch();
                        rest.iter()
                            .map(|s| self.play(s, &mut analyzer))
                            .collect::<Vec<_>>()
                    },
                    || self.play(first, analyzer),
                );
                std::iter::once(first).chain(rest).collect()
            }
        }
    }

    /// Runs `other` on a second thread while `here` runs on this one, when there are two
    /// lanes; one after the other when there is one.
    fn beside<A: Send, B>(
        &self,
        other: impl FnOnce() -> A + Send,
        here: impl FnOnce() -> B,
    ) -> (A, B) {
        if self.lanes < 2 {
            let here = here();
            return (other(), here);
        }
        mephisto_patch::side_by_side::side_by_side(other, here)
    }
}

/// Where one axis stands against its target.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Standing {
    /// Within [target, OVERSHOOT × target], or as far as it can be measured or go.
    Met,
    /// Moved `share` of the target (negative: the wrong way); `firm` when going the wrong
    /// way counts [`WRONG_WAY`] times as much (brightness and warmth).
    Short { share: f32, firm: bool },
    /// Past OVERSHOOT × the target.
    Over { share: f32 },
}

fn standing(t: &Target, probe: &Probe, base: f32, value: f32, wanted: f32) -> Standing {
    let share = (value - base) / wanted;
    let at_end = if wanted > 0.0 {
        value >= (t.ceiling)(probe)
    } else {
        value <= (t.floor)(probe)
    };
    if t.overshoots && share > OVERSHOOT {
        Standing::Over { share }
    } else if share >= 1.0 || at_end {
        Standing::Met
    } else {
        Standing::Short {
            share,
            firm: t.overshoots,
        }
    }
}

impl Standing {
    fn settled(&self) -> bool {
        *self == Standing::Met
    }

    fn missed(&self) -> bool {
        matches!(self, Standing::Short { share, .. } if *share < MISS_SHARE)
    }

    /// Up to 1 for a met target, less for a short one (negative the wrong way), and less
    /// again the further past the overshoot it went.
    fn score(&self) -> f32 {
        match *self {
            Standing::Met => 1.0,
            Standing::Short { share, firm: true } if share < 0.0 => {
                (WRONG_WAY * share).max(-WRONG_WAY)
            }
            Standing::Short { share, .. } => share.clamp(-1.0, 1.0),
            Standing::Over { share } => (1.0 + OVERSHOOT - share).max(-1.0),
        }
    }

    /// The value the correction aims the axis at.
    fn aim(&self, base: f32, wanted: f32) -> f32 {
        match self {
            Standing::Met => f32::NAN,
            Standing::Short { .. } => base + AIM * wanted,
            Standing::Over { .. } => base + 0.5 * (1.0 + OVERSHOOT) * wanted,
        }
    }
}

/// Solves `(JᵀJ + λI) x = Jᵀr` by Gaussian elimination (a handful of unknowns). A row of
/// `J` whose residual is NaN (a settled axis) asks for no change on that axis.
fn ridge_solve(jacobian: &[Vec<f32>], residual: &[f32], lambda: f32) -> Vec<f32> {
    let n = jacobian.first().map_or(0, Vec::len);
    let mut a = vec![vec![0.0f64; n + 1]; n];
    for (row, &r) in jacobian.iter().zip(residual) {
        let r = if r.is_nan() { 0.0 } else { r as f64 };
        for i in 0..n {
            for j in 0..n {
                a[i][j] += row[i] as f64 * row[j] as f64;
            }
            a[i][n] += row[i] as f64 * r;
        }
    }
    for (i, row) in a.iter_mut().enumerate() {
        row[i] += lambda as f64;
    }
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        let p = a[col][col];
        if p.abs() < 1e-12 {
            continue;
        }
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let factor = row[col] / p;
                for (x, &y) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= factor * y;
                }
            }
        }
    }
    (0..n)
        .map(|i| {
            if a[i][i].abs() < 1e-12 {
                0.0
            } else {
                (a[i][n] / a[i][i]) as f32
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_solve_finds_the_exact_answer_when_it_exists_and_shrinks_it_when_asked() {
        // Two axes, two controls: x0 moves axis 0 by 2 per unit and axis 1 by 1; x1 moves
        // axis 1 only. Asked: +2 on axis 0, 0 on axis 1 (the cause must be compensated).
        let j = vec![vec![2.0, 0.0], vec![1.0, 1.0]];
        let x = ridge_solve(&j, &[2.0, 0.0], 0.0);
        assert!(
            (x[0] - 1.0).abs() < 1e-5 && (x[1] + 1.0).abs() < 1e-5,
            "{x:?}"
        );
        let shrunk = ridge_solve(&j, &[2.0, 0.0], 1.0);
        assert!(shrunk[0].abs() < 1.0 && shrunk[0] > 0.0, "{shrunk:?}");
        // A settled axis (NaN) asks for nothing.
        let free = ridge_solve(&j, &[2.0, f32::NAN], 0.0);
        assert!((2.0 * free[0] - 2.0).abs() < 1e-4, "{free:?}");
    }

    #[test]
    fn standing_and_scores() {
        let t = &TARGETS[0];
        let p = Probe::level();
        assert_eq!(standing(t, &p, 10.0, 11.0, 1.0), Standing::Met);
        assert_eq!(
            standing(t, &p, 10.0, 10.5, 1.0),
            Standing::Short {
                share: 0.5,
                firm: true
            }
        );
        assert!(standing(t, &p, 10.0, 10.5, 1.0).missed());
        assert!(!standing(t, &p, 10.0, 10.7, 1.0).missed());
        assert_eq!(
            standing(t, &p, 10.0, 13.0, 1.0),
            Standing::Over { share: 3.0 }
        );
        assert_eq!(Standing::Over { share: 3.0 }.score(), 0.0);
        // Going down past the floor cannot be asked for.
        let grit = &TARGETS[2];
        assert_eq!(standing(grit, &p, -29.0, -29.5, -1.0), Standing::Met);
    }

    #[test]
    fn grit_counts_from_the_clean_floor() {
        let grit = &TARGETS[2];
        let at = |flatness: f32| {
            (grit.measure)(&Features {
                flatness,
                ..Features::SILENT
            })
        };
        // A shut sub (a near-pure sine) against the plain bass: both clean, no grit lost,
        // and a drive that only doubles that flatness wins no grit either.
        assert_eq!(at(2.6e-8), at(3.8e-8));
        let p = Probe::level();
        let nudged = standing(grit, &p, at(3.8e-8), at(7.8e-8), 0.9);
        assert!(nudged.missed(), "{nudged:?}");
        // Real grit ("distorted bass", about 6e-6) counts in full from the floor.
        assert_eq!(standing(grit, &p, at(3.8e-8), at(6e-6), 0.9), Standing::Met);
        // Asking a clean note for cleaner is already met.
        assert_eq!(
            standing(grit, &p, at(3.8e-8), at(2.6e-8), -0.9),
            Standing::Met
        );
    }
}
