//! Matching: tunes a patch's designed values so that its probe sounds like a
//! reference recording. The probe is `mephisto render`'s default score (C3 held 1 s) rendered
//! as long as the reference; the distance is the multi-scale spectral loss
//! ([`MultiScaleLoss`]) between the two mono mixes.
//!
//! The search is one coordinate sweep (each parameter tried at a few positions across its
//! range, the others held, and moved to the best), then Nelder–Mead on the parameters' normalised positions (log-normalised for
//! `[scale:log]` controls), each clamped to [0, 1], with the dimension-adaptive coefficients
//! of Gao & Han (2012), which keep the simplex from stalling with a dozen or more
//! parameters. It is gradient-free because a render is not differentiable, and it needs one
//! render per step, so a fixed budget of renders bounds the time. It starts from the spec's
//! designed values. When its simplex has collapsed with budget left, it restarts around the
//! best point with a simplex half as large (a collapsed Nelder–Mead is often stuck on a
//! ridge, not at a minimum); it stops early when a restart collapses without improving.

use std::time::{Duration, Instant};

use mephisto_analysis::loss::DDSP_FFT_SIZES;
use mephisto_analysis::MultiScaleLoss;
use mephisto_dsp::controls::ControlKind;
use mephisto_patch::render::render_default_probe;
use mephisto_patch::{BuildError, OfflinePatch, PatchSpec};

/// How a match searches.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchOptions {
    /// The most probe renders the search may spend (the final full-length render is extra).
    pub max_evaluations: usize,
    /// Seconds of the probe the search renders and compares; `None` for the reference's
    /// whole length. A shorter search probe is cheaper; the reported losses are always on
    /// the whole length.
    pub search_seconds: Option<f64>,
    /// Positions per parameter of the coordinate sweep that precedes the simplex search
    /// (evenly spaced over [0, 1]; fewer than 2: no sweep).
    pub sweep_points: usize,
    /// The initial simplex's edge, in normalised positions.
    pub initial_step: f32,
    /// The simplex has collapsed when every vertex is this close to the best one in every
    /// normalised coordinate.
    pub tolerance: f32,
    /// The FFT sizes of the spectral loss.
    pub fft_sizes: Vec<usize>,
    /// Appended to the spec's notes: what the patch was matched to (e.g. the file name).
    pub reference: String,
}

impl Default for MatchOptions {
    fn default() -> Self {
        Self {
            max_evaluations: 300,
            search_seconds: None,
            sweep_points: 5,
            initial_step: 0.15,
            tolerance: 1e-3,
            fft_sizes: DDSP_FFT_SIZES.to_vec(),
            reference: "a reference recording".to_string(),
        }
    }
}

/// Where a running match is, after each render of the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Renders spent so far.
    pub evaluations: usize,
    /// The most renders the search may spend.
    pub budget: usize,
    /// The search probe's loss at the designed values.
    pub initial_loss: f32,
    /// The best search-probe loss so far.
    pub best_loss: f32,
    /// Since the match began.
    pub elapsed: Duration,
}

/// One improvement of the best loss during the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TracePoint {
    /// Renders spent when it was found.
    pub evaluations: usize,
    /// Since the match began.
    pub elapsed: Duration,
    /// The new best search-probe loss.
    pub loss: f32,
}

/// What a match found.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchResult {
    /// The tuned spec: `params` updated, a line about the match appended to `notes`. The
    /// input spec unchanged (but for the note) when the search found nothing better.
    pub spec: PatchSpec,
    /// The tuned controls' labels.
    pub parameters: Vec<String>,
    /// Loss of the designed values on the whole probe.
    pub initial_loss: f32,
    /// Loss of the tuned values on the whole probe.
    pub final_loss: f32,
    /// Search renders spent.
    pub evaluations: usize,
    /// Every improvement of the search-probe loss, in order; the first is the designed
    /// values' loss.
    pub trace: Vec<TracePoint>,
    /// The whole match, final render included.
    pub elapsed: Duration,
}

impl MatchResult {
    /// Share of the initial loss the match removed: 0.9 for a loss cut to a tenth.
    pub fn reduction(&self) -> f32 {
        reduction(self.initial_loss, self.final_loss)
    }

    /// The first point of the search where the search-probe loss was down by `share` of its
    /// initial value (0.8 for 80 %), if it got there.
    pub fn reached(&self, share: f32) -> Option<TracePoint> {
        let initial = self.trace.first()?.loss;
        self.trace
            .iter()
            .find(|p| reduction(initial, p.loss) >= share)
            .copied()
    }
}

fn reduction(initial: f32, last: f32) -> f32 {
    if initial > 0.0 {
        1.0 - last / initial
    } else {
        0.0
    }
}

/// One tunable control: its label and how positions map to values.
struct Dimension {
    label: String,
    control: mephisto_dsp::controls::Control,
}

/// Tunes `spec`'s settable controls (not buttons or checkboxes) to bring its probe close to
/// mono `target` at `sample_rate`. `make` builds a playable instance of a spec (with its
/// designed values applied); `progress` hears of every search render.
pub fn match_spec(
    spec: &PatchSpec,
    target: &[f32],
    sample_rate: u32,
    options: &MatchOptions,
    make: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
    progress: &mut dyn FnMut(Progress),
) -> Result<MatchResult, String> {
    let started = Instant::now();
    if target.is_empty() {
        return Err("the reference is empty".to_string());
    }
    if options.max_evaluations == 0 {
        return Err("the evaluation budget must be at least one render".to_string());
    }
    let full_seconds = target.len() as f64 / sample_rate as f64;
    let search_len = match options.search_seconds {
        Some(s) if s > 0.0 => ((s * sample_rate as f64).round() as usize).clamp(1, target.len()),
        Some(s) => return Err(format!("the search probe's length {s} s must be positive")),
        None => target.len(),
    };
    let search_seconds = search_len as f64 / sample_rate as f64;
    let search_target = &target[..search_len];

    let designed = make(spec)?;
    let dimensions: Vec<Dimension> = designed
        .controls()
        .filter(|(c, _)| matches!(c.kind, ControlKind::Slider | ControlKind::NumEntry))
        .filter(|(c, _)| c.max > c.min)
        .map(|(c, _)| Dimension {
            label: c.label.clone(),
            control: c.clone(),
        })
        .collect();
    if dimensions.is_empty() {
        return Err(format!("patch `{}` has no parameters to tune", spec.name));
    }
    let start: Vec<f32> = dimensions
        .iter()
        .map(|d| d.control.normalize(d.control.init))
        .collect();
    let with_positions = |x: &[f32]| {
        let mut tuned = spec.clone();
        for (d, &p) in dimensions.iter().zip(x) {
            tuned
                .params
                .insert(d.label.clone(), d.control.denormalize(p));
        }
        tuned
    };

    let mut loss = MultiScaleLoss::new(&options.fft_sizes);
    let mut score = |instance: OfflinePatch, seconds: f64, reference: &[f32]| {
        let probe = render_default_probe(instance, seconds, sample_rate);
        let value = loss.loss(&probe, reference);
        // A render that blows up is as far from the reference as can be.
        if value.is_finite() {
            value
        } else {
            f32::MAX
        }
    };

    let initial_search = score(designed, search_seconds, search_target);
    let mut trace = vec![TracePoint {
        evaluations: 1,
        elapsed: started.elapsed(),
        loss: initial_search,
    }];
    let mut evaluations = 1;
    let budget = options.max_evaluations;
    progress(Progress {
        evaluations,
        budget,
        initial_loss: initial_search,
        best_loss: initial_search,
        elapsed: started.elapsed(),
    });
    let mut failure = None;
    let mut objective = |x: &[f32]| -> Option<f32> {
        if evaluations >= budget || failure.is_some() {
            return None;
        }
        evaluations += 1;
        let value = match make(&with_positions(x)) {
            Ok(instance) => score(instance, search_seconds, search_target),
            Err(e) => {
                failure = Some(e);
                return None;
            }
        };
        let best = trace.last().map_or(f32::MAX, |p| p.loss);
        if value < best {
            trace.push(TracePoint {
                evaluations,
                elapsed: started.elapsed(),
                loss: value,
            });
        }
        progress(Progress {
            evaluations,
            budget,
            initial_loss: initial_search,
            best_loss: value.min(best),
            elapsed: started.elapsed(),
        });
        Some(value)
    };
    let swept = sweep(
        (start, initial_search),
        options.sweep_points,
        &mut objective,
    );
    let best = nelder_mead(swept, options, &mut objective);
    if let Some(e) = failure {
        return Err(e.to_string());
    }

    // The reported losses are on the whole probe, whatever the search compared.
    let (initial_loss, mut final_loss, mut tuned) = if search_len == target.len() {
        (initial_search, best.1, with_positions(&best.0))
    } else {
        let initial = score(make(spec)?, full_seconds, target);
        let tuned = with_positions(&best.0);
        (initial, score(make(&tuned)?, full_seconds, target), tuned)
    };
    if final_loss >= initial_loss {
        tuned = spec.clone();
        final_loss = initial_loss;
    }
    let note = format!(
        "Matched to {} by `mephisto match`: multi-scale spectral loss {initial_loss:.3} → {final_loss:.3} ({:+.0} %) in {evaluations} renders.",
        options.reference,
        -100.0 * reduction(initial_loss, final_loss),
    );
    if tuned.notes.is_empty() {
        tuned.notes = note;
    } else {
        tuned.notes = format!("{}\n\n{note}", tuned.notes.trim_end());
    }
    Ok(MatchResult {
        spec: tuned,
        parameters: dimensions.into_iter().map(|d| d.label).collect(),
        initial_loss,
        final_loss,
        evaluations,
        trace,
        elapsed: started.elapsed(),
    })
}

/// One pass over the coordinates, each tried at `points` evenly spaced positions from 0 to 1
/// (the others held) and moved to the best. Cheap, and it finds the parameters that are far
/// off, which a simplex started at one corner of the box takes many steps to reach.
/// `f` answers `None` when the budget is spent, which ends the pass.
fn sweep(
    start: (Vec<f32>, f32),
    points: usize,
    f: &mut dyn FnMut(&[f32]) -> Option<f32>,
) -> (Vec<f32>, f32) {
    let mut best = start;
    if points < 2 {
        return best;
    }
    for i in 0..best.0.len() {
        let current = best.0[i];
        for k in 0..points {
            let position = k as f32 / (points - 1) as f32;
            if (position - current).abs() < 0.5 / (points - 1) as f32 {
                continue;
            }
            let mut x = best.0.clone();
            x[i] = position;
            let Some(value) = f(&x) else {
                return best;
            };
            if value < best.1 {
                best = (x, value);
            }
        }
    }
    best
}

/// Minimises `f` over [0, 1]^n from `start` (a point and its value), every point clamped
/// into the box. `f` answers `None` when the budget is spent, which ends the search.
/// Returns the best point and its value.
fn nelder_mead(
    start: (Vec<f32>, f32),
    options: &MatchOptions,
    f: &mut dyn FnMut(&[f32]) -> Option<f32>,
) -> (Vec<f32>, f32) {
    let n = start.0.len();
    let nf = n as f32;
    // Gao & Han's adaptive coefficients; the standard 1, 2, ½, ½ when n = 2.
    let (alpha, gamma, rho, sigma) = (1.0, 1.0 + 2.0 / nf, 0.75 - 0.5 / nf, 1.0 - 1.0 / nf);
    let clamp = |x: Vec<f32>| -> Vec<f32> { x.into_iter().map(|v| v.clamp(0.0, 1.0)).collect() };
    let mut best = start;
    let mut step = options.initial_step;
    loop {
        // A simplex around the best point: one edge per coordinate, pointing inwards when
        // the outward step would leave the box.
        let mut simplex: Vec<(Vec<f32>, f32)> = vec![best.clone()];
        for i in 0..n {
            let mut x = best.0.clone();
            x[i] = if x[i] + step <= 1.0 {
                x[i] + step
            } else {
                x[i] - step
            };
            let Some(value) = f(&x) else {
                return best_of(best, &simplex);
            };
            simplex.push((x, value));
        }
        loop {
            simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
            let collapsed = simplex[1..].iter().all(|(x, _)| {
                x.iter()
                    .zip(&simplex[0].0)
                    .all(|(a, b)| (a - b).abs() <= options.tolerance)
            });
            if collapsed {
                break;
            }
            let centroid: Vec<f32> = (0..n)
                .map(|j| simplex[..n].iter().map(|(x, _)| x[j]).sum::<f32>() / nf)
                .collect();
            let worst = simplex[n].clone();
            let toward = |t: f32| -> Vec<f32> {
                clamp(
                    centroid
                        .iter()
                        .zip(&worst.0)
                        .map(|(c, w)| c + t * (c - w))
                        .collect(),
                )
            };
            let reflected = toward(alpha);
            let Some(fr) = f(&reflected) else {
                return best_of(best, &simplex);
            };
            if fr < simplex[0].1 {
                let expanded = toward(alpha * gamma);
                let Some(fe) = f(&expanded) else {
                    simplex[n] = (reflected, fr);
                    return best_of(best, &simplex);
                };
                simplex[n] = if fe < fr {
                    (expanded, fe)
                } else {
                    (reflected, fr)
                };
                continue;
            }
            if fr < simplex[n - 1].1 {
                simplex[n] = (reflected, fr);
                continue;
            }
            // Contract: outside when the reflection improved on the worst, else inside.
            let (contracted, limit) = if fr < worst.1 {
                (toward(alpha * rho), fr)
            } else {
                (toward(-rho), worst.1)
            };
            let Some(fc) = f(&contracted) else {
                return best_of(best, &simplex);
            };
            if fc < limit {
                simplex[n] = (contracted, fc);
                continue;
            }
            // Shrink every vertex towards the best.
            let anchor = simplex[0].0.clone();
            for vertex in simplex.iter_mut().skip(1) {
                let x: Vec<f32> = anchor
                    .iter()
                    .zip(&vertex.0)
                    .map(|(b, v)| b + sigma * (v - b))
                    .collect();
                let Some(value) = f(&x) else {
                    return best_of(best, &simplex);
                };
                *vertex = (x, value);
            }
        }
        let restart = best_of(best.clone(), &simplex);
        // A restart that collapsed back onto the same point has nothing more to find.
        if restart.1 >= best.1 || step * 0.5 <= options.tolerance {
            return restart;
        }
        best = restart;
        step *= 0.5;
    }
}

/// The better of `best` and the simplex's best vertex.
fn best_of(best: (Vec<f32>, f32), simplex: &[(Vec<f32>, f32)]) -> (Vec<f32>, f32) {
    simplex
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|v| v.1 < best.1)
        .cloned()
        .unwrap_or(best)
}
