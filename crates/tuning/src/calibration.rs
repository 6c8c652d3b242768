//! Macro calibration (docs/MACROS.md): renders a patch with each semantic macro swept from 0 to
//! 1, measures the descriptor the macro promises to move, and says whether it moves it
//! monotonically and by enough to hear. [`auto_calibrate`] then repairs what a sign flip or a
//! larger depth can repair, and writes the result into the PatchSpec's macro map.
//!
//! Every macro is swept over [`SWEEP_STEPS`] values with the other five at 0.5, on a fixed
//! [`Probe`] of single notes across three octaves. A macro passes when the Spearman rank
//! correlation between its value and the descriptor is at least [`MIN_RHO`] (monotonic, up
//! to a few small wobbles; differences under a tenth of the threshold tie, see
//! [`Descriptor::resolution`]) *and* the change from 0 to 1 clears the descriptor's
//! noticeability threshold ([`Descriptor::threshold`]). docs/MACROS.md has the results on
//! the built-in patches.

use std::time::{Duration, Instant};

use mephisto_analysis::{Analyzer, Features};
use mephisto_dsp::macros::{Macro, MacroValues, NEUTRAL_MACROS};
use mephisto_patch::probe::Probe;
use mephisto_patch::render::render_score;
use mephisto_patch::score::ScoreNote;
use mephisto_patch::{BuildError, BuildSpec, Built, OfflinePatch, PatchSpec, Program};

/// Macro values per sweep: 0, 0.125, …, 1.
pub const SWEEP_STEPS: usize = 9;

/// The sweep step where the macro is at 0.5, the patch as designed.
const NEUTRAL_STEP: usize = SWEEP_STEPS / 2;

/// The least Spearman ρ a passing macro has. Nine distinct values give ρ = 1 when strictly
/// monotonic; one swap of neighbours costs 0.017, so 0.9 allows a few small wobbles (the
/// measuring noise of a flat stretch) but not a reversal.
pub const MIN_RHO: f32 = 0.9;

/// Depth multipliers [`auto_calibrate`] tries, in order, for a macro that moves its
/// descriptor the right way but too little.
pub const DEPTH_SCALES: [f32; 2] = [1.5, 2.0];

/// Audio rendered past note-off when the tail is not measured: one analysis frame, so the
/// held part's last frames are whole.
pub const SPECTRAL_MARGIN_S: f64 = 0.05;

/// How long a hit's note is held when its Space is measured: a drum trigger's length.
///
/// The rule: a patch is a hit when, with every macro at 0.5, each probe note has fallen
/// 40 dB below its peak before its note-off (its tail reads 0 s: a kick, a pluck, a
/// mallet). The probe's note-off then comes after everything Space could change has died,
/// so for a hit Space is measured on notes released this soon after their onset: the
/// tail then follows the whole ring of the hit and its room. Every other descriptor keeps
/// the probe's hold.
pub const HIT_HOLD_S: f64 = 0.03;

/// Seconds rendered per probe note held `hold` when measuring `descriptor`: the held part
/// and the tail for Space, the held part and one analysis frame otherwise.
fn render_seconds(probe: &Probe, hold: f64, descriptor: Descriptor) -> f64 {
    hold + if descriptor == Descriptor::Tail {
        probe.release_s
    } else {
        SPECTRAL_MARGIN_S
    }
}

/// What a macro promises to move (docs/MACROS.md), measured on every probe note and
/// combined across them. Each has a noticeability threshold for the change from macro 0 to
/// macro 1; see [`Descriptor::threshold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descriptor {
    /// Warm: share of the held part's energy between 100 and 600 Hz; the notes' mean.
    LowMid,
    /// Bright: spectral centroid, Hz; the notes' geometric mean (pitch and brightness are
    /// heard on a log scale, and C2 must not count less than C4).
    Centroid,
    /// Grit: spectral flatness; the notes' geometric mean, since a tonal note's flatness
    /// is tiny and moves by factors. Distortion fills the spectrum between and above the
    /// partials, which is what flatness sees: on every built-in patch, tonal ones included,
    /// Grit moves it by ×2.6 (glass_bell) to ×10⁷, so no separate high-harmonic measure is
    /// needed.
    Flatness,
    /// Space: seconds from note-off to 40 dB below the note's peak; the notes' mean.
    Tail,
    /// Motion: spectral flux of the held part after the attack; the notes' geometric mean.
    Flux,
    /// Punch: `crest_db − 10·log10(attack_s + 0.005)`, dB; the notes' mean. A sharper
    /// attack and a more peaked held part both raise it: halving the attack adds 3 dB, so
    /// does 3 dB more crest. One number rather than a rank-sum, so its change has a unit and
    /// a threshold. Percussive patches move it through the crest (their attack is already
    /// instant), slow ones through the attack; the 5 ms floor stops attacks that are all
    /// "instant" to the ear from differing by tens of dB. The crest is measured after the
    /// attack, so a swell's ramp does not count as a peak. Its blind spot: an attack much
    /// longer than the held note reads as about the note's length.
    Punch,
}

impl Descriptor {
    pub const ALL: [Descriptor; Macro::COUNT] = [
        Descriptor::LowMid,
        Descriptor::Centroid,
        Descriptor::Flatness,
        Descriptor::Tail,
        Descriptor::Flux,
        Descriptor::Punch,
    ];

    /// The descriptor `m` must move up.
    pub fn of(m: Macro) -> Descriptor {
        Descriptor::ALL[m.index()]
    }

    /// The descriptor's name, as in [`mephisto_analysis::FEATURE_NAMES`] where it is one.
    pub fn name(self) -> &'static str {
        match self {
            Descriptor::LowMid => "low_mid",
            Descriptor::Centroid => "centroid",
            Descriptor::Flatness => "flatness",
            Descriptor::Tail => "tail",
            Descriptor::Flux => "flux",
            Descriptor::Punch => "punch",
        }
    }

    /// The descriptor of one note.
    fn of_note(self, f: &Features) -> f32 {
        match self {
            Descriptor::LowMid => f.low_mid_share,
            Descriptor::Centroid => f.centroid_hz,
            Descriptor::Flatness => f.flatness,
            Descriptor::Tail => f.tail_s,
            Descriptor::Flux => f.flux,
            Descriptor::Punch => f.crest_db - 10.0 * (f.attack_s + 0.005).log10(),
        }
    }

    /// Whether the notes are combined by a geometric mean (the descriptor is compared as a
    /// ratio) rather than an arithmetic one.
    fn geometric(self) -> bool {
        matches!(
            self,
            Descriptor::Centroid | Descriptor::Flatness | Descriptor::Flux
        )
    }

    /// The descriptor of a probe: its notes' values combined.
    pub fn of_probe(self, notes: &[Features]) -> f32 {
        if notes.is_empty() {
            return 0.0;
        }
        let count = notes.len() as f64;
        if self.geometric() {
            // A silent note's zero would make the whole mean zero: floor it far below any
            // sounding note's value instead.
            let log_sum: f64 = notes
                .iter()
                .map(|f| (self.of_note(f).max(1e-9) as f64).ln())
                .sum();
            (log_sum / count).exp() as f32
        } else {
            (notes.iter().map(|f| self.of_note(f) as f64).sum::<f64>() / count) as f32
        }
    }

    /// The change from `at_0` (macro at 0) to `at_1` (macro at 1), in the descriptor's
    /// comparison unit: octaves for the centroid, a ratio for flatness and flux, a
    /// difference for the low-mid share, the tail (seconds) and punch (dB).
    pub fn change(self, at_0: f32, at_1: f32) -> f32 {
        match self {
            Descriptor::Centroid => (at_1.max(1e-9) / at_0.max(1e-9)).log2(),
            Descriptor::Flatness | Descriptor::Flux => at_1.max(1e-9) / at_0.max(1e-9),
            Descriptor::LowMid | Descriptor::Tail | Descriptor::Punch => at_1 - at_0,
        }
    }

    /// The least [`Descriptor::change`] a passing macro gives, chosen to be plainly audible
    /// rather than just detectable:
    /// * centroid: +0.25 octave (+19 %), a clear change of brightness on a held tone;
    /// * low-mid share: +0.03 of the energy (0.30 → 0.33 is about 0.6 dB more in that band
    ///   relative to the rest, around the just-noticeable difference of a band's level);
    /// * flatness: ×1.5; on tonal notes flatness is tiny (1e-9 to 1e-3) and distortion moves
    ///   it by orders of magnitude, so half again is a low bar that measuring noise does not
    ///   reach;
    /// * tail: +0.1 s, and also ×[`MIN_TAIL_RATIO`] (see [`Descriptor::noticeable`]): a
    ///   reverberation time's just-noticeable difference is about 5 % (ISO 3382-1), so 20 %
    ///   is several of them, and the 0.1 s floor keeps a click's tail going from 10 to
    ///   30 ms from counting as space;
    /// * flux: ×1.25, a quarter more frame-to-frame spectral change (flux has no standard
    ///   just-noticeable difference; this is our bar);
    /// * punch: +3 dB, an attack twice as fast or a crest 3 dB higher (a level's
    ///   just-noticeable difference is about 1 dB).
    pub fn threshold(self) -> f32 {
        match self {
            Descriptor::LowMid => 0.03,
            Descriptor::Centroid => 0.25,
            Descriptor::Flatness => 1.5,
            Descriptor::Tail => 0.1,
            Descriptor::Flux => 1.25,
            Descriptor::Punch => 3.0,
        }
    }

    /// `value` on the scale the descriptor is ranked and compared on: octaves (log2) for
    /// the descriptors compared as ratios, the value itself for the others.
    fn rank_scale(self, value: f32) -> f32 {
        match self {
            Descriptor::Centroid | Descriptor::Flatness | Descriptor::Flux => {
                value.max(1e-9).log2()
            }
            Descriptor::LowMid | Descriptor::Tail | Descriptor::Punch => value,
        }
    }

    /// Sweep values closer than this on the [`Descriptor::rank_scale`] count as equal when
    /// ranked: a tenth of the noticeability threshold, far below what can be heard. Without
    /// it a macro that leaves its descriptor where it is for part of its range (a control
    /// resting at its limit) would fail on the measuring noise of that plateau.
    pub fn resolution(self) -> f32 {
        let step = match self {
            Descriptor::Flatness | Descriptor::Flux => self.threshold().log2(),
            _ => self.threshold(),
        };
        step / 10.0
    }

    /// Whether going from `at_0` to `at_1` is a large enough rise to hear.
    pub fn noticeable(self, at_0: f32, at_1: f32) -> bool {
        let rises = self.change(at_0, at_1) >= self.threshold();
        match self {
            Descriptor::Tail => rises && at_1 >= MIN_TAIL_RATIO * at_0,
            _ => rises,
        }
    }

    /// A value for a table, with its unit.
    pub fn format_value(self, value: f32) -> String {
        match self {
            Descriptor::LowMid => format!("{value:.3}"),
            Descriptor::Centroid => format!("{value:.0} Hz"),
            Descriptor::Flatness => format!("{value:.1e}"),
            Descriptor::Flux => format!("{value:.4}"),
            Descriptor::Tail => format!("{value:.2} s"),
            Descriptor::Punch => format!("{value:.1} dB"),
        }
    }

    /// A change for a table, with its unit.
    pub fn format_change(self, change: f32) -> String {
        match self {
            Descriptor::LowMid => format!("{change:+.3}"),
            Descriptor::Centroid => format!("{change:+.2} oct"),
            Descriptor::Flatness | Descriptor::Flux if change >= 100.0 => {
                format!("×{change:.1e}")
            }
            Descriptor::Flatness | Descriptor::Flux => format!("×{change:.2}"),
            Descriptor::Tail => format!("{change:+.2} s"),
            Descriptor::Punch => format!("{change:+.1} dB"),
        }
    }
}

/// The least factor by which a passing Space macro lengthens the tail, besides the 0.1 s of
/// [`Descriptor::threshold`].
pub const MIN_TAIL_RATIO: f32 = 1.2;

/// One macro's sweep and verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroRow {
    /// The macro swept.
    pub m: Macro,
    pub descriptor: Descriptor,
    /// The descriptor at macro 0, 0.125, …, 1; `None` when the macro maps no parameter.
    pub sweep: Option<[f32; SWEEP_STEPS]>,
    /// Spearman rank correlation of the macro value with the descriptor; 0 without a sweep
    /// or when the descriptor never changes.
    pub rho: f32,
    /// [`Descriptor::change`] from macro 0 to macro 1.
    pub change: f32,
    pub pass: bool,
}

impl MacroRow {
    /// Why the macro fails, or `None` when it passes.
    pub fn failure(&self) -> Option<String> {
        if self.pass {
            return None;
        }
        let Some(sweep) = &self.sweep else {
            return Some("no parameters mapped".into());
        };
        let mut reasons = Vec::new();
        if self.rho < MIN_RHO {
            reasons.push(format!("ρ {:.2} < {MIN_RHO}", self.rho));
        }
        let d = self.descriptor;
        let (at_0, at_1) = (sweep[0], sweep[SWEEP_STEPS - 1]);
        if self.change < d.threshold() {
            reasons.push(format!(
                "change {} below {}",
                d.format_change(self.change),
                d.format_change(d.threshold())
            ));
        } else if !d.noticeable(at_0, at_1) {
            reasons.push(format!("tail ×{:.2} below ×{MIN_TAIL_RATIO}", at_1 / at_0));
        }
        Some(reasons.join(", "))
    }
}

/// Every macro's row, in [`Macro::ALL`] order, and how long the calibration took.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationReport {
    pub rows: Vec<MacroRow>,
    /// What [`auto_calibrate`] changed, one entry per repaired macro ("Warm: dropped
    /// cutoff"); empty for a plain calibration.
    pub repairs: Vec<String>,
    pub elapsed: Duration,
}

impl CalibrationReport {
    /// How many macros pass.
    pub fn passed(&self) -> usize {
        self.rows.iter().filter(|r| r.pass).count()
    }

    /// The row of macro `m`.
    pub fn row(&self, m: Macro) -> &MacroRow {
        &self.rows[m.index()]
    }

    /// A Markdown table: macro, descriptor, value at 0, 0.5 and 1, ρ, change, pass.
    pub fn markdown_table(&self) -> String {
        let mut text = String::from(
            "| macro | descriptor | at 0 | at 0.5 | at 1 | ρ | change | pass |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for row in &self.rows {
            let d = row.descriptor;
            let (values, rho, change) = match &row.sweep {
                Some(sweep) => (
                    [0, NEUTRAL_STEP, SWEEP_STEPS - 1].map(|i| d.format_value(sweep[i])),
                    format!("{:.2}", row.rho),
                    d.format_change(row.change),
                ),
                None => (
                    ["–".to_string(), "–".to_string(), "–".to_string()],
                    "–".into(),
                    "–".into(),
                ),
            };
            let verdict = match row.failure() {
                None => "yes".to_string(),
                Some(why) => format!("**no**: {why}"),
            };
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} | {rho} | {change} | {verdict} |\n",
                row.m.display_name(),
                d.name(),
                values[0],
                values[1],
                values[2],
            ));
        }
        text
    }
}

/// Calibrates every macro of the instances `make_instance` builds on the standard probe.
pub fn calibrate(
    make_instance: &dyn Fn() -> Result<OfflinePatch, BuildError>,
) -> Result<CalibrationReport, String> {
    calibrate_with(make_instance, &Probe::calibration())
}

/// Calibrates every macro on `probe`.
pub fn calibrate_with(
    make_instance: &dyn Fn() -> Result<OfflinePatch, BuildError>,
    probe: &Probe,
) -> Result<CalibrationReport, String> {
    let started = Instant::now();
    let rows = Meter::new(probe).calibrate(make_instance)?;
    Ok(CalibrationReport {
        rows,
        repairs: Vec::new(),
        elapsed: started.elapsed(),
    })
}

/// Calibrates macro `m` alone on `probe`.
pub fn calibrate_macro(
    m: Macro,
    make_instance: &dyn Fn() -> Result<OfflinePatch, BuildError>,
    probe: &Probe,
) -> Result<MacroRow, String> {
    if make_instance()?.macro_map().of(m).next().is_none() {
        return Ok(unmapped_row(m));
    }
    Meter::new(probe).sweep(m, make_instance)
}

/// Calibrates `spec` on the standard probe and repairs the macros that fail where it can,
/// first through the whole macro: one that moves its descriptor the wrong way
/// (ρ ≤ −[`MIN_RHO`]) gets its depths' signs flipped, one that moves it too little gets them
/// scaled by [`DEPTH_SCALES`] (clamped to −1..1), flipped first when needed. When that does
/// not help and the macro moves several controls, link by link ([`repair_links`]): each link
/// is swept alone, and the links that work against the macro's descriptor on this patch are
/// dropped (a cutoff link lowering the low-mid share that a body link raises), or the one
/// link that passes alone is kept. A change is kept only when the macro then passes.
/// Returns the spec with its whole macro map written out (adjusted or not) and the final
/// report, whose `repairs` say what changed. Deterministic: the same spec gives the same
/// result.
pub fn auto_calibrate(
    spec: &PatchSpec,
    make: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Result<(PatchSpec, CalibrationReport), String> {
    auto_calibrate_with(spec, make, &Probe::calibration())
}

/// [`auto_calibrate`] on `probe`.
pub fn auto_calibrate_with(
    spec: &PatchSpec,
    make: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
    probe: &Probe,
) -> Result<(PatchSpec, CalibrationReport), String> {
    let started = Instant::now();
    let mut spec = spec.clone();
    if spec.macros.is_empty() {
        spec.macros = make(&spec)?.macro_map();
    }
    // The neutral renders stay valid for every candidate: at 0.5 a macro moves nothing,
    // whatever its depths.
    let mut meter = Meter::new(probe);
    let mut rows = meter.calibrate(&|| make(&spec))?;
    let mut repairs = Vec::new();
    for m in Macro::ALL {
        let row = &rows[m.index()];
        if row.pass || row.sweep.is_none() {
            continue;
        }
        let repaired = match repair_whole(&mut meter, &spec, row, make)? {
            Some(found) => Some(found),
            None => repair_links(&mut meter, &spec, m, make)?,
        };
        if let Some(Repair {
            spec: fixed,
            row,
            what,
        }) = repaired
        {
            spec = fixed;
            rows[m.index()] = row;
            repairs.push(format!("{}: {what}", m.display_name()));
        }
    }
    let report = CalibrationReport {
        rows,
        repairs,
        elapsed: started.elapsed(),
    };
    Ok((spec, report))
}

/// A repaired macro: the spec with its new map, the macro's passing row, and what changed
/// ("depths ×1.5", "dropped cutoff").
struct Repair {
    spec: PatchSpec,
    row: MacroRow,
    what: String,
}

/// The first of: the failing macro's depths flipped (when it moves its descriptor the
/// wrong way), then scaled by [`DEPTH_SCALES`], that makes it pass.
fn repair_whole(
    meter: &mut Meter,
    spec: &PatchSpec,
    row: &MacroRow,
    make: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Result<Option<Repair>, String> {
    let m = row.m;
    let flip = if row.rho <= -MIN_RHO { -1.0 } else { 1.0 };
    let factors = std::iter::once(flip)
        .filter(|&f| f < 0.0)
        .chain(DEPTH_SCALES.iter().map(|s| flip * s));
    for factor in factors {
        let Some(candidate) = scaled(spec, m, factor) else {
            continue;
        };
        let row = meter.sweep(m, &|| make(&candidate))?;
        if row.pass {
            let what = format!("depths ×{factor}");
            return Ok(Some(Repair {
                spec: candidate,
                row,
                what,
            }));
        }
    }
    Ok(None)
}

/// The least Spearman ρ with which a link, swept alone, counts as helping its macro: it
/// moves the descriptor the right way over most of the sweep, even if not by enough alone.
const HELPING_RHO: f32 = 0.5;

/// Repairs a failing macro that moves several controls, link by link. Each link is swept
/// alone (the other links of the macro dropped). Then, in order, each taken as it is and
/// then scaled by [`DEPTH_SCALES`]: the map without the links that fight the macro (alone
/// they move its descriptor the wrong way, ρ ≤ −[`HELPING_RHO`]); the links that help
/// (ρ ≥ [`HELPING_RHO`] and a rise) by themselves; the map without the one link that helps
/// least, when alone it has ρ < [`HELPING_RHO`]; failing that, the link that passes alone
/// with the largest ρ. The first that passes is kept. A link that fights its macro on one
/// patch is often right on another (a cutoff lowering the low-mid share on a pad the words
/// made dark, raising it on the template), so links are dropped only where the sweep shows
/// it.
fn repair_links(
    meter: &mut Meter,
    spec: &PatchSpec,
    m: Macro,
    make: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Result<Option<Repair>, String> {
    let links: Vec<(String, f32)> = spec
        .macros
        .of(m)
        .map(|l| (l.param.clone(), l.depth))
        .collect();
    if links.len() < 2 {
        return Ok(None);
    }
    let with_links = |kept: &[&(String, f32)]| {
        let mut candidate = spec.clone();
        candidate
            .macros
            .set(m, kept.iter().map(|(p, d)| (p.clone(), *d)));
        candidate
    };
    let mut alone = Vec::with_capacity(links.len());
    for link in &links {
        let candidate = with_links(&[link]);
        alone.push(meter.sweep(m, &|| make(&candidate))?);
    }
    let kept_where = |keep: &dyn Fn(&MacroRow) -> bool| -> Vec<&(String, f32)> {
        links
            .iter()
            .zip(&alone)
            .filter(|(_, row)| keep(row))
            .map(|(link, _)| link)
            .collect()
    };
    let rises = |row: &MacroRow| row.change > neutral_change(row.descriptor);
    let not_fighting = kept_where(&|row| row.rho > -HELPING_RHO);
    let helping = kept_where(&|row| row.rho >= HELPING_RHO && rises(row));
    // The link that helps least, when it does not help: alone it neither fights nor helps
    // (|ρ| < HELPING_RHO), so neither map above leaves out just it, yet its wobble can be
    // what breaks the order (the chorus on a very short pluck: "super short pluck").
    let weakest = alone
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| a.rho.total_cmp(&b.rho))
        .filter(|(_, row)| row.rho < HELPING_RHO)
        .map(|(i, _)| i);
    let without_weakest: Vec<&(String, f32)> = links
        .iter()
        .enumerate()
        .filter(|&(i, _)| Some(i) != weakest)
        .map(|(_, link)| link)
        .collect();
    let dropped = |kept: &[&(String, f32)]| {
        let names: Vec<&str> = links
            .iter()
            .filter(|l| !kept.contains(l))
            .map(|(p, _)| p.as_str())
            .collect();
        format!("dropped {}", names.join(", "))
    };
    let mut tried: Vec<Vec<&(String, f32)>> = Vec::new();
    for kept in [not_fighting, helping, without_weakest] {
        if kept.is_empty() || kept.len() == links.len() || tried.contains(&kept) {
            continue;
        }
        let base = with_links(&kept);
        for factor in std::iter::once(1.0).chain(DEPTH_SCALES) {
            let candidate = if factor == 1.0 {
                base.clone()
            } else {
                match scaled(&base, m, factor) {
                    Some(candidate) => candidate,
                    None => continue,
                }
            };
            let row = meter.sweep(m, &|| make(&candidate))?;
            if row.pass {
                let mut what = dropped(&kept);
                if factor != 1.0 {
                    what.push_str(&format!(", depths ×{factor}"));
                }
                return Ok(Some(Repair {
                    spec: candidate,
                    row,
                    what,
                }));
            }
        }
        tried.push(kept);
    }
    let best_alone = links
        .iter()
        .zip(alone)
        .filter(|(_, row)| row.pass)
        .max_by(|(_, a), (_, b)| a.rho.total_cmp(&b.rho));
    Ok(best_alone.map(|(link, row)| Repair {
        spec: with_links(&[link]),
        what: dropped(&[link]),
        row,
    }))
}

/// The [`Descriptor::change`] of a sweep that changes nothing: 1 for the ratios, 0 for the
/// differences.
fn neutral_change(d: Descriptor) -> f32 {
    match d {
        Descriptor::Flatness | Descriptor::Flux => 1.0,
        Descriptor::Centroid | Descriptor::LowMid | Descriptor::Tail | Descriptor::Punch => 0.0,
    }
}

/// Voices of the instances a calibration renders: its probe plays one note at a time.
const CALIBRATION_VOICES: usize = 1;

/// Calibrates the macros of `spec`, played by `program`, on the standard probe
/// ([`auto_calibrate`]); returns the spec with the repaired map and the report. The patch
/// may be playing meanwhile: this renders instances of its own.
pub fn calibrate_program(
    program: &Program,
    spec: &PatchSpec,
) -> Result<(PatchSpec, CalibrationReport), String> {
    let sample_rate = Probe::calibration().sample_rate as f32;
    auto_calibrate(spec, &|s| {
        program.instantiate(s, CALIBRATION_VOICES, sample_rate)
    })
}

/// Calibrates a built patch's macros on the standard probe ([`calibrate_program`]) and
/// gives its instance the repaired map; returns the spec with that map (and the trim the
/// build levelled it to, when it carried none) and the report.
pub fn calibrate_built(
    built: &mut Built,
    spec: &PatchSpec,
) -> Result<(PatchSpec, CalibrationReport), String> {
    let mut spec = spec.clone();
    if spec.trim_db.is_none() {
        spec.trim_db = built.trim_db;
    }
    let (spec, report) = calibrate_program(&built.program, &spec)?;
    spec.apply_to(&mut built.instance)?;
    Ok((spec, report))
}

/// `spec` with macro `m`'s depths multiplied by `factor` and clamped to −1..1; `None` when
/// that changes nothing (every depth already at its limit).
fn scaled(spec: &PatchSpec, m: Macro, factor: f32) -> Option<PatchSpec> {
    let mut candidate = spec.clone();
    let mut changed = false;
    for depth in candidate.macros.depths_mut(m) {
        let scaled = (*depth * factor).clamp(-1.0, 1.0);
        changed |= scaled != *depth;
        *depth = scaled;
    }
    changed.then_some(candidate)
}

fn unmapped_row(m: Macro) -> MacroRow {
    MacroRow {
        m,
        descriptor: Descriptor::of(m),
        sweep: None,
        rho: 0.0,
        change: 0.0,
        pass: false,
    }
}

/// Renders and measures probes, keeping one [`Analyzer`], one mono buffer and the
/// neutral renders (every macro at 0.5 sounds the same whichever macro is swept).
struct Meter<'a> {
    probe: &'a Probe,
    analyzer: Analyzer,
    mono: Vec<f32>,
    features: Vec<Features>,
    /// The probe's notes with every macro at 0.5, by hold and render length in seconds.
    neutral: Vec<((f64, f64), Vec<Features>)>,
}

impl<'a> Meter<'a> {
    fn new(probe: &'a Probe) -> Self {
        Meter {
            probe,
            analyzer: Analyzer::new(),
            mono: Vec::new(),
            features: Vec::new(),
            neutral: Vec::new(),
        }
    }

    /// Every macro's row, in [`Macro::ALL`] order; an unmapped macro renders nothing.
    fn calibrate(
        &mut self,
        make_instance: &dyn Fn() -> Result<OfflinePatch, BuildError>,
    ) -> Result<Vec<MacroRow>, String> {
        let instance = make_instance()?;
        Macro::ALL
            .iter()
            .map(|&m| {
                if instance.macro_map().of(m).next().is_none() {
                    Ok(unmapped_row(m))
                } else {
                    self.sweep(m, make_instance)
                }
            })
            .collect()
    }

    /// Sweeps `m` over [`SWEEP_STEPS`] values with every other macro at 0.5.
    fn sweep(
        &mut self,
        m: Macro,
        make_instance: &dyn Fn() -> Result<OfflinePatch, BuildError>,
    ) -> Result<MacroRow, String> {
        let descriptor = Descriptor::of(m);
        let mut hold = self.probe.held_s;
        if descriptor == Descriptor::Tail {
            let seconds = render_seconds(self.probe, hold, descriptor);
            if self
                .neutral(hold, seconds, make_instance)?
                .iter()
                .all(|f| f.tail_s == 0.0)
            {
                hold = HIT_HOLD_S;
            }
        }
        let seconds = render_seconds(self.probe, hold, descriptor);
        let mut sweep = [0.0f32; SWEEP_STEPS];
        for (step, value) in sweep.iter_mut().enumerate() {
            let notes = if step == NEUTRAL_STEP {
                self.neutral(hold, seconds, make_instance)?
            } else {
                let mut macros = NEUTRAL_MACROS;
                macros[m.index()] = sweep_value(step);
                self.measure(macros, hold, seconds, make_instance)?;
                &self.features
            };
            *value = descriptor.of_probe(notes);
        }
        let values: [f32; SWEEP_STEPS] = std::array::from_fn(sweep_value);
        let scaled = sweep.map(|v| descriptor.rank_scale(v));
        let rho = spearman(&values, &scaled, descriptor.resolution());
        let rho = if rho.is_nan() { 0.0 } else { rho };
        let (at_0, at_1) = (sweep[0], sweep[SWEEP_STEPS - 1]);
        Ok(MacroRow {
            m,
            descriptor,
            sweep: Some(sweep),
            rho,
            change: descriptor.change(at_0, at_1),
            pass: rho >= MIN_RHO && descriptor.noticeable(at_0, at_1),
        })
    }

    /// The neutral renders of notes held `hold` for `seconds`, made on first use.
    fn neutral(
        &mut self,
        hold: f64,
        seconds: f64,
        make_instance: &dyn Fn() -> Result<OfflinePatch, BuildError>,
    ) -> Result<&[Features], String> {
        let key = (hold, seconds);
        let index = match self.neutral.iter().position(|(k, _)| *k == key) {
            Some(index) => index,
            None => {
                self.measure(NEUTRAL_MACROS, hold, seconds, make_instance)?;
                self.neutral.push((key, self.features.clone()));
                self.neutral.len() - 1
            }
        };
        Ok(&self.neutral[index].1)
    }

    /// Renders every probe note, held `hold`, for `seconds` with `macros` into
    /// `self.features`.
    fn measure(
        &mut self,
        macros: MacroValues,
        hold: f64,
        seconds: f64,
        make_instance: &dyn Fn() -> Result<OfflinePatch, BuildError>,
    ) -> Result<(), String> {
        let probe = self.probe;
        self.features.clear();
        // One note at a time, each on a fresh instance, so one note's tail cannot colour
        // the next.
        for i in 0..probe.notes.len() {
            let score = [ScoreNote {
                duration: hold,
                ..probe.note_alone(i)
            }];
            let audio = render_score(make_instance()?, &score, macros, seconds, probe.sample_rate);
            self.mono.clear();
            self.mono.extend(audio.mono_samples());
            self.features.push(self.analyzer.measure(
                &self.mono,
                probe.sample_rate as f32,
                Some(hold),
            ));
        }
        Ok(())
    }
}

/// Macro value at sweep step `step`.
fn sweep_value(step: usize) -> f32 {
    step as f32 / (SWEEP_STEPS - 1) as f32
}

/// Spearman's rank correlation of `x` and `y`: the correlation of their ranks, ties sharing
/// their mean rank. Values of `y` within `y_resolution` of the smallest of their group tie
/// (groups are formed from the smallest value up). NaN when either never changes.
pub fn spearman(x: &[f32], y: &[f32], y_resolution: f32) -> f32 {
    let (rx, ry) = (ranks(x, 0.0), ranks(y, y_resolution));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxy / (sxx * syy).sqrt()) as f32
}

/// 1-based ranks, ties (values within `resolution` of their group's smallest) sharing their
/// mean rank.
fn ranks(values: &[f32], resolution: f32) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] - values[order[start]] <= resolution {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use mephisto_dsp::find_builtin;
    use mephisto_patch::BuildSpec;

    /// One note, shorter than the standard probe, so debug builds stay quick; the same code
    /// path.
    fn test_probe() -> Probe {
        Probe {
            notes: vec![48],
            held_s: 0.3,
            release_s: 0.8,
            ..Probe::calibration()
        }
    }

    fn builtin_spec(name: &str) -> PatchSpec {
        let (index, _) = find_builtin(name).expect("a built-in patch");
        PatchSpec::from_builtin(index).expect("its spec")
    }

    fn make(spec: &PatchSpec) -> Result<OfflinePatch, BuildError> {
        spec.instantiate_builtin(1, test_probe().sample_rate as f32)
            .expect("a built-in's program")
    }

    /// `spec` with only macro `m` mapped, so a calibration renders only its sweep.
    fn only(spec: &PatchSpec, m: Macro) -> PatchSpec {
        let mut spec = spec.clone();
        spec.macros.retain(|l| l.target == m);
        assert!(!spec.macros.is_empty(), "{} maps {}", spec.name, m.key());
        spec
    }

    #[test]
    fn spearman_ranks_ties_and_resolution() {
        let x = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(spearman(&x, &[1.0, 2.0, 3.0, 4.0], 0.0), 1.0);
        assert_eq!(spearman(&x, &[4.0, 3.0, 2.0, 1.0], 0.0), -1.0);
        assert!(spearman(&x, &[1.0, 1.0, 1.0, 1.0], 0.0).is_nan());
        // A wobble on a plateau reverses two ranks, unless it is below the resolution.
        let wobble = [1.0, 0.99, 2.0, 3.0];
        assert!(spearman(&x, &wobble, 0.0) < 0.9);
        assert!(spearman(&x, &wobble, 0.05) > 0.9);
        assert_eq!(ranks(&[3.0, 1.0, 1.0, 2.0], 0.0), vec![4.0, 1.5, 1.5, 3.0]);
    }

    #[test]
    fn changes_and_thresholds() {
        let centroid = Descriptor::Centroid;
        assert!((centroid.change(1000.0, 2000.0) - 1.0).abs() < 1e-6);
        assert!(centroid.noticeable(1000.0, 1200.0));
        assert!(!centroid.noticeable(1000.0, 1150.0));
        assert!(!centroid.noticeable(2000.0, 1000.0), "a fall is no rise");
        assert!(Descriptor::LowMid.noticeable(0.30, 0.34));
        assert!(!Descriptor::LowMid.noticeable(0.30, 0.32));
        // The tail needs both 0.1 s and 20 % more.
        assert!(Descriptor::Tail.noticeable(1.0, 1.25));
        assert!(Descriptor::Tail.noticeable(0.0, 0.1));
        assert!(!Descriptor::Tail.noticeable(0.02, 0.08));
        assert!(!Descriptor::Tail.noticeable(3.0, 3.3));
        let row = |sweep: [f32; SWEEP_STEPS]| {
            let d = Descriptor::Tail;
            MacroRow {
                m: Macro::Space,
                descriptor: d,
                sweep: Some(sweep),
                rho: 1.0,
                change: d.change(sweep[0], sweep[SWEEP_STEPS - 1]),
                pass: false,
            }
        };
        let short = row([0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.02, 0.03, 0.05]);
        assert_eq!(short.failure().unwrap(), "change +0.05 s below +0.10 s");
        let long = row([3.0, 3.0, 3.0, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5]);
        assert_eq!(long.failure().unwrap(), "tail ×1.17 below ×1.2");
        assert!(Descriptor::Punch.noticeable(10.0, 13.0));
        for m in Macro::ALL {
            assert_eq!(Descriptor::ALL[m.index()], Descriptor::of(m));
        }
    }

    #[test]
    fn scaling_clamps_and_reports_no_change() {
        let spec = builtin_spec("warm_pad");
        let flipped = scaled(&spec, Macro::Bright, -1.0).unwrap();
        for (a, b) in spec
            .macros
            .of(Macro::Bright)
            .zip(flipped.macros.of(Macro::Bright))
        {
            assert_eq!(a.depth, -b.depth);
        }
        let mut full = spec.clone();
        for depth in full.macros.depths_mut(Macro::Bright) {
            *depth = 1.0;
        }
        assert!(scaled(&full, Macro::Bright, 2.0).is_none());
        let doubled = scaled(&spec, Macro::Bright, 2.0).unwrap();
        assert!(doubled
            .macros
            .of(Macro::Bright)
            .all(|t| t.depth.abs() <= 1.0));
    }

    #[test]
    fn bright_moves_the_centroid_of_warm_pad() {
        let spec = builtin_spec("warm_pad");
        let row = calibrate_macro(Macro::Bright, &|| make(&spec), &test_probe()).unwrap();
        assert!(row.pass, "{row:?}: {:?}", row.failure());
        assert!(row.rho >= MIN_RHO && row.change >= 0.25, "{row:?}");
    }

    #[test]
    fn an_unmapped_macro_fails_without_rendering() {
        let mut spec = builtin_spec("warm_pad");
        spec.macros.retain(|l| l.target != Macro::Bright);
        let report = calibrate_with(&|| make(&only(&spec, Macro::Warm)), &test_probe());
        let report = report.unwrap();
        let row = report.row(Macro::Bright);
        assert!(!row.pass && row.sweep.is_none());
        assert_eq!(row.failure().as_deref(), Some("no parameters mapped"));
        assert!(report.markdown_table().contains("no parameters mapped"));
    }

    #[test]
    fn auto_calibration_flips_a_reversed_macro_back() {
        let designed = only(&builtin_spec("warm_pad"), Macro::Bright);
        let reversed = scaled(&designed, Macro::Bright, -1.0).unwrap();
        let probe = test_probe();
        let row = calibrate_macro(Macro::Bright, &|| make(&reversed), &probe).unwrap();
        assert!(!row.pass && row.rho <= -MIN_RHO, "{row:?}");

        let (fixed, report) = auto_calibrate_with(&reversed, &make, &probe).unwrap();
        assert!(report.row(Macro::Bright).pass, "{report:?}");
        assert_eq!(fixed.macros, designed.macros);
        assert_eq!(report.passed(), 1, "the other macros map nothing");
    }

    /// A macro whose links fight on the designed sound: on a warm_pad made dark (its
    /// cutoff near the bottom), Warm's `cutoff` link lowers the low-mid share that its
    /// `body` link raises. No flip or scale of the whole macro makes it pass; the per-link
    /// repair sweeps each link alone, drops `cutoff` and keeps `body`.
    #[test]
    fn a_link_that_fights_its_macro_is_dropped() {
        let mut fighting = only(&builtin_spec("warm_pad"), Macro::Warm);
        fighting.params.insert("cutoff".into(), 230.0);
        fighting
            .macros
            .set(Macro::Warm, [("body".into(), 0.7), ("cutoff".into(), -0.6)]);
        let probe = test_probe();
        let before = calibrate_macro(Macro::Warm, &|| make(&fighting), &probe).unwrap();
        assert!(
            !before.pass,
            "the fighting map must fail to begin with: {before:?}"
        );
        for factor in [-1.0, 1.5, 2.0, -1.5, -2.0] {
            let candidate = scaled(&fighting, Macro::Warm, factor).unwrap();
            let row = calibrate_macro(Macro::Warm, &|| make(&candidate), &probe).unwrap();
            assert!(!row.pass, "depths ×{factor} alone repair it: {row:?}");
        }

        let (fixed, report) = auto_calibrate_with(&fighting, &make, &probe).unwrap();
        assert!(report.row(Macro::Warm).pass, "{report:?}");
        let links: Vec<(&str, f32)> = fixed
            .macros
            .of(Macro::Warm)
            .map(|l| (l.param.as_str(), l.depth))
            .collect();
        assert_eq!(links, vec![("body", 0.7)]);
        assert_eq!(report.repairs, vec!["Warm: dropped cutoff".to_string()]);
    }

    /// A designed hit (a short kick) has died before the probe's note-off, so its tail
    /// reads 0 at every Space value on the probe's hold; measured with [`HIT_HOLD_S`] its
    /// ring and room follow Space, and the macro passes.
    #[test]
    fn a_hit_is_measured_on_a_short_hold_so_space_can_pass() {
        let mut spec = builtin_spec("deep_kick");
        spec.params.insert("decay".into(), 0.1);
        spec.params.insert("release".into(), 0.05);
        let probe = Probe::calibration();
        let mut analyzer = Analyzer::new();
        for space in [0.0, 1.0] {
            let mut macros = NEUTRAL_MACROS;
            macros[Macro::Space.index()] = space;
            let score = [probe.note_alone(1)];
            let seconds = probe.held_s + probe.release_s;
            let audio = render_score(make(&spec).unwrap(), &score, macros, seconds, 48_000);
            let mono: Vec<f32> = audio.mono_samples().collect();
            let f = analyzer.measure(&mono, 48_000.0, Some(probe.held_s));
            assert_eq!(f.tail_s, 0.0, "Space {space}: a hit, dead by note-off");
        }
        let row = calibrate_macro(Macro::Space, &|| make(&spec), &probe).unwrap();
        let sweep = row.sweep.unwrap();
        assert!(row.pass, "{row:?}");
        assert!(
            sweep[0] > 0.0 && sweep[SWEEP_STEPS - 1] > sweep[0],
            "{sweep:?}"
        );
    }
}
