//! Automatic m for the SPEC §12 estimator: fit at a first m, then grow m (at least 2x, at most
//! 8x per stage) until every MCSE and the log-likelihood's meet their targets (the draws already
//! made are kept), deciding at each stage on the Hessian that is reported.
//!
//! **Hessians** (issue 14).  The trust-region model Hessian and the reported Hessian are
//! forward differences of the analytic gradient (*difference Hessians*) of the objective with
//! the first [`MODEL_HESSIAN_DRAWS`] = 64, respectively [`REPORTED_HESSIAN_DRAWS`] = 128, draws
//! (each the same function at every stage, since draws persist as m grows): `p + T` evaluations
//! at those draws, centred on that objective's gradient taken from the evaluation at m just made
//! at the same point ([`Objective::evaluate_with_prefixes`]: bit for bit that objective's, no
//! evaluation of its own).  A difference Hessian is formed at the start of the fit; at later
//! accepted points the model is its **BFGS update** with the same function's gradients (free:
//! kept from the evaluations at m), unless the point lies within 0.01 SE of the last model,
//! which is then kept.  The optimiser takes Newton-like steps: 1–4 iterations from the PQL start
//! and 0–1 per later stage on the designs of issue 14, where Louis' identity took 9–67.  The
//! **reported** Hessian (SEs, the MCSE sandwich, the automatic-m decision) is always a
//! difference Hessian of the 128-draw objective: the last model where it is one formed at the
//! optimum, or next to it and still describing the gradient's change since (secant residual
//! within 0.5 %, [`secant_consistent`]), else one formed there.  So a stage forms about two
//! difference Hessians (its start, unless the last stage's optimum is reused, and its optimum)
//! where it used to form one per accepted point plus one evaluation each for their centres.
//! Measured Monte Carlo error of the 128-draw Hessian against the central difference at 4,096
//! draws: SEs within 8e-4 (salamander), 1e-4 (crossed 100 x 50), 5e-4 (radish2), relative.

use super::assemble::{assemble, Fit, Timings};
use super::error::FitError;
use super::maximise::{Optimum, Stage};
use super::memory::available_memory_bytes;
use super::progress::Progress;
use crate::integrate::adaptive::AdaptiveSettings;
use crate::integrate::{BlockIntegrator, BlockMoments, McEvaluation, Objective};
use crate::interrupt::Interrupt;
use crate::model::blocks::Blocks;
use crate::model::options::{AutoM, CheckedOptions};
use crate::model::Model;
use crate::start::Start;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Whether a fit meets the automatic-m targets.
pub(super) fn auto_targets_met(fit: &Fit, auto: &AutoM) -> bool {
    auto_growth(fit, auto) <= 1.0
}

/// The factor by which m must grow to meet the automatic-m targets (MCSE falls as
/// `1/sqrt(m)`): the largest `(MCSE / target)^2` over the parameters and the
/// log-likelihood; infinite when an MCSE is not finite.
fn auto_growth(fit: &Fit, auto: &crate::model::options::AutoM) -> f64 {
    let mut g = (fit.loglik_mcse / auto.loglik_mcse).powi(2);
    for (mc, se) in fit.mcse.iter().zip(&fit.se) {
        let r = mc / (auto.mcse_ratio * se);
        g = g.max(if r.is_finite() { r * r } else { f64::INFINITY });
    }
    g
}

/// What automatic m measured at the end of a stage and what it will do next: the numbers
/// [`long_stage_warning`] turns into a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct StageForecast {
    /// Draws per block in the stage just finished.
    pub m: usize,
    /// Draws per block the next stage will use.
    pub next: usize,
    /// The most automatic m may use.
    pub max: usize,
    /// The factor by which m must grow to meet the targets (MCSE falls as `1/sqrt(m)`).
    pub growth: f64,
    /// The parameter with the largest MCSE/SE, and that ratio.
    pub worst: (String, f64),
    /// The target of MCSE/SE.
    pub mcse_ratio_target: f64,
    /// Log-likelihood MCSE at the end of the stage, and its target.
    pub loglik_mcse: (f64, f64),
    /// Wall-clock seconds the stage took.
    pub seconds: f64,
}

/// Growth of m per stage beyond which a fit warns that it will take long (when the next stage
/// is estimated to take at least [`LONG_STAGE_SECONDS`]); a step to the maximum always warns.
pub const LONG_STAGE_GROWTH: f64 = 8.0;

/// Estimated seconds of the next stage below which a jump of more than [`LONG_STAGE_GROWTH`]
/// is not worth a warning (salamander's default fit goes from m = 250 to 4000 in a few seconds;
/// the fits this warning is for would sit silent for many minutes).
pub const LONG_STAGE_SECONDS: f64 = 30.0;

/// The warning printed when automatic m decides to grow by more than [`LONG_STAGE_GROWTH`] (as
/// the targets ask, even when the step itself is capped) and the next stage should take at least
/// [`LONG_STAGE_SECONDS`], or to its maximum: the MCSE/SE and log-likelihood MCSE reached, the
/// m it will try and the estimated time of the next stage (the last stage's cost scaled by the
/// growth of m: the cost of an evaluation is linear in m).  `None` when the step is ordinary.
pub fn long_stage_warning(s: &StageForecast) -> Option<String> {
    let to_max = s.next >= s.max;
    let eta = s.seconds * s.next as f64 / s.m.max(1) as f64;
    let long_jump = s.growth * 1.1 > LONG_STAGE_GROWTH && !(eta < LONG_STAGE_SECONDS);
    if !(long_jump || to_max) || s.next <= s.m {
        return None;
    }
    Some(format!(
        "automatic m: at m = {} the largest MCSE/SE is {} ({}; target {}) and the log-likelihood MCSE {} (target {}); meeting the targets needs {}, so the next stage uses m = {}{} and should take about {} (the stage at m = {} took {}). Stop and rerun with a fixed --m, or looser --target-mcse-ratio / --target-loglik-mcse, if that is too long",
        s.m,
        short(s.worst.1),
        s.worst.0,
        s.mcse_ratio_target,
        short(s.loglik_mcse.0),
        s.loglik_mcse.1,
        if s.growth.is_finite() {
            format!("about {:.0} times the draws", s.growth)
        } else {
            "more draws than any m gives (an MCSE is not finite)".to_string()
        },
        s.next,
        if to_max { " (its maximum)" } else { "" },
        duration(eta),
        s.m,
        duration(s.seconds)
    ))
}

/// Seconds in words: `0.4 s`, `12 s`, `3.5 min`, `2.1 h`.
fn duration(s: f64) -> String {
    if !s.is_finite() {
        "an unknown time".into()
    } else if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// Largest factor by which one stage of automatic m grows m.
pub(super) const MAX_STAGE_GROWTH: usize = 8;

/// The next sample size: the predicted need (`growth` times m, with 10 % to spare) as a
/// power-of-two multiple of m, at least double and at most [`MAX_STAGE_GROWTH`] times m
/// (a prediction is only as good as the MCSE it comes from), at most `max`.
pub(super) fn next_m(m: usize, growth: f64, max: usize) -> usize {
    let mut next = 2 * m;
    while (next as f64) < 1.1 * growth * m as f64 && next < MAX_STAGE_GROWTH * m {
        next *= 2;
    }
    next.min(max)
}

/// Draws (the first of the fit's, which persist as m grows) of the objective whose forward
/// difference Hessian is the trust-region model's: Newton-like steps need the model only
/// within some per cent of the Hessian, and a difference Hessian from 64 draws already is
/// (measured in BENCHMARKS.md); Louis' identity at the draws is not, where fixed effects are
/// confounded with the separator's effects (item-level covariates of a crossed design).  The
/// reported Hessian needs more ([`REPORTED_HESSIAN_DRAWS`]); a reported one serves as the
/// model at the next stage's start.
pub(super) const MODEL_HESSIAN_DRAWS: usize = 64;

/// Draws of the objective whose forward-difference Hessian is reported (vcov, SEs, the MCSE
/// sandwich, the automatic-m decision): its Monte Carlo error must be negligible for the SEs.
/// At 64 draws it is not everywhere: on radish2 (a variance of 0.012) the intercept's SE from
/// the 64-draw Hessian ranged over 0.3173–0.3274 at points within 0.003 SE of the MLE and
/// across seeds and rules, against 0.3241 at m = 16,384; at 128 draws 0.3233–0.3240, at 256
/// 0.3241–0.3244.  On salamander, crossed 100 x 50 and the 300 x 24 design the 64-draw
/// Hessian was already within 0.2 % (tested: within 1 % of the central difference at large m).
pub(super) const REPORTED_HESSIAN_DRAWS: usize = 128;

/// Draws from which the random-effect predictions are computed (at most): their Monte Carlo
/// error is reported with them, and at 4,000 draws their pass cost a quarter of a salamander fit.
pub(super) const RANEF_DRAWS: usize = 1024;

/// Distance in standard errors (the metric of `-H`) within which the last trust-region model
/// Hessian is kept as the model (not updated or formed anew): the Hessian changes on the scale
/// of many standard errors, so over 0.01 of one a model that good stays good for Newton steps.
const REUSE_DISTANCE: f64 = 0.01;

/// `sqrt(delta' (-H) delta)` for `delta = b - a`; infinite unless finite and non-negative.
fn hessian_distance(a: &[f64], b: &[f64], h: &[f64]) -> f64 {
    let d = a.len();
    let delta: Vec<f64> = b.iter().zip(a).map(|(x, y)| x - y).collect();
    let mut q = 0.0;
    for r in 0..d {
        for c in 0..d {
            q -= delta[r] * h[r * d + c] * delta[c];
        }
    }
    if q >= 0.0 && q.is_finite() {
        q.sqrt()
    } else {
        f64::INFINITY
    }
}

/// The last trust-region model or reported Hessian (of the objective with the first `draws`
/// draws, the same function at every stage) and where it was formed.
#[derive(Debug, Clone)]
struct ModelState {
    /// The point.
    at: Vec<f64>,
    /// The Hessian there.
    h: Vec<f64>,
    /// The gradient there (of the same function: the secant update's other end).
    gradient: Vec<f64>,
    /// Draws of the objective it is the Hessian of ([`MODEL_HESSIAN_DRAWS`] or
    /// [`REPORTED_HESSIAN_DRAWS`]).
    draws: usize,
    /// A difference Hessian (reportable), not a secant update of one.
    fresh: bool,
}

/// The BFGS update of the Hessian `h` (negative definite, of a function to maximise) formed at
/// `a` with gradient `ga`, to the point `b` with gradient `gb`: with `B = -h`, `s = b - a`,
/// `y = ga - gb`, `B + y y'/(y's) - B s s' B/(s' B s)`, negated.  `None` where the curvature
/// condition fails (`y's` not clearly positive) or the update is not finite.
fn bfgs_update(h: &[f64], a: &[f64], ga: &[f64], b: &[f64], gb: &[f64]) -> Option<Vec<f64>> {
    let d = a.len();
    let s: Vec<f64> = b.iter().zip(a).map(|(x, y)| x - y).collect();
    let y: Vec<f64> = ga.iter().zip(gb).map(|(x, y)| x - y).collect();
    // B s with B = -h
    let bs: Vec<f64> = (0..d)
        .map(|r| -(0..d).map(|c| h[r * d + c] * s[c]).sum::<f64>())
        .collect();
    let sbs: f64 = s.iter().zip(&bs).map(|(x, y)| x * y).sum();
    let ys: f64 = y.iter().zip(&s).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !(sbs > 0.0) || !(ys > 1e-8 * norm(&s) * norm(&y)) {
        return None;
    }
    let mut out = vec![0.0; d * d];
    for r in 0..d {
        for c in 0..d {
            let b_rc = -h[r * d + c] + y[r] * y[c] / ys - bs[r] * bs[c] / sbs;
            out[r * d + c] = -b_rc;
        }
    }
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// Whether the Hessian of `model` (formed at `model.at`) still describes the function at `x`
/// (gradient `g`): the secant residual `y - H s` (`s = x - at`, `y` the change of the
/// gradient) is below [`SECANT_TOLERANCE`] of `|H s|`.  Then it is reported at `x`
/// instead of a new one; otherwise (or without `g`) it is not.
fn secant_consistent(model: &ModelState, x: &[f64], g: Option<&[f64]>) -> bool {
    let Some(g) = g else {
        return false;
    };
    let d = x.len();
    let s: Vec<f64> = x.iter().zip(&model.at).map(|(a, b)| a - b).collect();
    let (mut r2, mut hs2) = (0.0, 0.0);
    for r in 0..d {
        let hs: f64 = (0..d).map(|c| model.h[r * d + c] * s[c]).sum();
        let y = g[r] - model.gradient[r];
        r2 += (y - hs) * (y - hs);
        hs2 += hs * hs;
    }
    r2.is_finite() && hs2 > 0.0 && r2 <= SECANT_TOLERANCE * SECANT_TOLERANCE * hs2
}

/// Relative secant residual below which the last difference Hessian is reported at a nearby
/// optimum ([`secant_consistent`]): the Hessian's relative change along the step, which moves
/// the SEs by about half as much.  Measured at the last steps of the issue-14 designs (at the
/// report's 128 draws): crossed 1,000 x 200 6e-5, salamander 2.3e-3 (its SEs from the reused
/// Hessian within 0.3 % of those from one formed at the optimum, seeds 1, 7, 1234; the seeds'
/// own spread is 0.6 %).  At 64 draws a radish2 step with 3.8e-3 moved the intercept's SE by
/// 2 %, which is why the reported Hessian has 128 draws.
const SECANT_TOLERANCE: f64 = 5e-3;

/// A point's bits and the gradients of its first `draws[0]` and `draws[1]` draws there.
type KeptGradients = (Vec<u64>, [Vec<f64>; 2]);

/// A stage's objective that keeps, at every point it evaluates, the gradients of its first
/// `draws[0]` and `draws[1]` draws per block from the same pass
/// ([`Objective::evaluate_with_prefixes`]): the centres of the difference Hessians and the
/// secant updates' gradients, which would otherwise cost an evaluation at those draws each.
struct KeepPrefix<'a, 'o> {
    objective: &'a Objective<'o>,
    draws: [usize; 2],
    gradients: Mutex<Vec<KeptGradients>>,
}

impl KeepPrefix<'_, '_> {
    /// The gradient of the first `draws[i]` draws at `x`, where `x` was evaluated.
    fn prefix_gradient(&self, x: &[f64], i: usize) -> Option<Vec<f64>> {
        let key: Vec<u64> = x.iter().map(|v| v.to_bits()).collect();
        let kept = self.gradients.lock().ok()?;
        kept.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, g)| g[i].clone())
    }
}

impl BlockIntegrator for KeepPrefix<'_, '_> {
    fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation> {
        let (whole, mut prefixes) = self.objective.evaluate_with_prefixes(theta, &self.draws)?;
        if let (Ok(mut kept), Some(b), Some(a)) =
            (self.gradients.lock(), prefixes.pop(), prefixes.pop())
        {
            kept.push((
                theta.iter().map(|v| v.to_bits()).collect(),
                [a.gradient, b.gradient],
            ));
        }
        Some(whole)
    }
    fn draws(&self) -> usize {
        self.objective.draws()
    }
    fn hessian_is_exact(&self) -> bool {
        BlockIntegrator::hessian_is_exact(self.objective)
    }
    fn posterior_moments(&self, theta: &[f64]) -> Option<Vec<BlockMoments>> {
        BlockIntegrator::posterior_moments(self.objective, theta)
    }
    fn n_fixed(&self) -> Option<usize> {
        BlockIntegrator::n_fixed(self.objective)
    }
}

/// The SPEC §12 estimator, with m fixed or grown until the targets are met (the draws
/// already made are kept: chunk streams do not depend on m).  Each stage maximises with a
/// model Hessian from differences of the gradient at the first [`MODEL_HESSIAN_DRAWS`]
/// draws, then forms the Hessian to report from the first [`REPORTED_HESSIAN_DRAWS`] draws
/// and decides on it.  Returns the optimum with its reported evaluation and the m used.
pub(super) fn fit_adaptive(
    model: &Model,
    blocks: &Blocks,
    options: &CheckedOptions,
    st: &Start,
    timings: &mut Timings,
    warnings: &mut Vec<String>,
    progress: &mut dyn FnMut(Progress),
    interrupt: &Interrupt,
) -> Result<(Optimum, usize, Option<Vec<BlockMoments>>), FitError> {
    let settings = AdaptiveSettings {
        nodes: options.quadrature_nodes,
        draws: options.draws,
        nested: options.nested_quadrature,
        subtrees: options.subtrees,
        // the model and reported Hessians are differences of the gradient
        louis: false,
        ..AdaptiveSettings::default()
    };
    let t2 = Instant::now();
    // Sobol' draws come in whole prefixes of R 2^j points (integrate::standard_draws)
    let m0 = settings
        .draws
        .round_m(options.auto_m.map_or(options.m, |a| a.start));
    // draws per block: the same for all at the first stage, then allocated (allocate.rs)
    let mut ms = vec![m0; blocks.blocks.len()];
    let round = |m: usize| settings.draws.round_m(m);
    let avail = available_memory_bytes();
    let mut theta0 = st.theta.clone();
    let mut path = Vec::new();
    let mut stages = Vec::new();
    // the last model or reported Hessian (of the first MODEL_HESSIAN_DRAWS or
    // REPORTED_HESSIAN_DRAWS draws, the same function at every stage): kept, or updated, where
    // the next model is asked for (the next stage's start), reported where it is a difference
    // Hessian of the reported draws at or next to the optimum
    let last_model: Mutex<Option<ModelState>> = Mutex::new(None);
    let adaptive = |ms: &[usize]| -> Result<Objective<'_>, FitError> {
        let rounded: Vec<usize> = ms.iter().map(|&m| round(m)).collect();
        let mut o = Objective::adaptive_allocated(
            model,
            blocks,
            &rounded,
            options.seed,
            &st.centre.u_star,
            settings,
        )?;
        o.watch(interrupt);
        Ok(o)
    };
    loop {
        if interrupt.is_triggered() {
            return Err(FitError::Interrupted);
        }
        let ts = Instant::now();
        let objective = adaptive(&ms)?;
        // the most draws of any block (the m reported; the m asked for when none is sampled)
        let m = match objective.draws() {
            0 => m0,
            most => most,
        };
        // per-draw results kept during an evaluation: a log weight and two score vectors per
        // draw, for every block with a separator (blocks are evaluated in parallel)
        let needed = 8.0 * (1 + 2 * model.n_params()) as f64 * objective.total_draws() as f64;
        if avail.is_some_and(|a| needed > 0.9 * a) || needed > 1e15 {
            return Err(FitError::AdaptiveTooLarge {
                m,
                needed_gb: needed / 1e9,
                available_gb: avail.unwrap_or(0.0) / 1e9,
            });
        }
        progress(Progress::Sampling {
            total: objective.total_draws(),
        });
        let sampled = objective.draws() > 0;
        // the objective with the first k draws per block: copies of the stage's blocks
        // (no new scrambling), built anew only where a part cannot be copied
        let fewer = |k: usize| -> Result<Option<Objective<'_>>, FitError> {
            if !(sampled && m > k) {
                return Ok(None);
            }
            if let Some(o) = objective.with_fewer_draws(k) {
                return Ok(Some(o));
            }
            let few: Vec<usize> = ms.iter().map(|&mb| mb.min(k)).collect();
            Ok(Some(adaptive(&few)?))
        };
        // the objectives whose difference Hessians are the model's and the reported one (the
        // stage's own where it has no more draws than that)
        let draw_counts = [MODEL_HESSIAN_DRAWS, REPORTED_HESSIAN_DRAWS];
        let smaller = [fewer(draw_counts[0])?, fewer(draw_counts[1])?];
        // the stage's objective, keeping at every point it evaluates the gradients of its first
        // 64 and 128 draws (the difference Hessians' centres) from the same pass
        let keeping = KeepPrefix {
            objective: &objective,
            draws: draw_counts,
            gradients: Mutex::new(Vec::new()),
        };
        let which = |draws: usize| usize::from(draws != draw_counts[0]);
        // the gradient at x of the objective with `draws` draws
        let centre = |x: &[f64], e: &McEvaluation, draws: usize| -> Option<Vec<f64>> {
            let i = which(draws);
            match &smaller[i] {
                Some(_) => keeping.prefix_gradient(x, i),
                None => Some(e.gradient.clone()),
            }
        };
        let fresh = AtomicUsize::new(0);
        // a difference Hessian of the objective with `draws` draws at x (its gradient g there),
        // counted, as the model state
        let form = |x: &[f64], g: Vec<f64>, draws: usize| -> Option<ModelState> {
            fresh.fetch_add(1, Ordering::Relaxed);
            let h = match &smaller[which(draws)] {
                Some(o) => o.difference_hessian(x, Some(&g)),
                None => objective.difference_hessian(x, Some(&g)),
            }?;
            Some(ModelState {
                at: x.to_vec(),
                h,
                gradient: g,
                draws,
                fresh: true,
            })
        };
        let model_hessian = |x: &[f64], e: &McEvaluation| {
            let mut last = last_model.lock().ok()?;
            if let Some(l) = last.as_ref() {
                if hessian_distance(&l.at, x, &l.h) <= REUSE_DISTANCE {
                    return Some(l.h.clone());
                }
                // away from the last model: its secant update with the gradients of the same
                // function (the point may still move), a difference Hessian where the update
                // is not defined
                let g = centre(x, e, l.draws)?;
                if let Some(h) = bfgs_update(&l.h, &l.at, &l.gradient, x, &g) {
                    *last = Some(ModelState {
                        at: x.to_vec(),
                        h: h.clone(),
                        gradient: g,
                        draws: l.draws,
                        fresh: false,
                    });
                    return Some(h);
                }
            }
            let formed = form(x, centre(x, e, MODEL_HESSIAN_DRAWS)?, MODEL_HESSIAN_DRAWS)?;
            let h = formed.h.clone();
            *last = Some(formed);
            Some(h)
        };
        let mut opt = super::maximise::maximise_with(
            &keeping,
            sampled.then_some(&model_hessian as super::maximise::ModelHessian<'_>),
            &theta0,
            options,
            progress,
            interrupt,
        )?;
        path.append(&mut opt.path);
        let t3 = Instant::now();
        progress(Progress::Mcse);
        let not_finite = || {
            FitError::Optimiser(
                "the likelihood approximation is not finite near the final point".into(),
            )
        };
        // the reported Hessian: the last model where it is a difference Hessian of the
        // REPORTED_HESSIAN_DRAWS objective formed at the optimum, or next to it where the
        // gradient's change since agrees with it (secant check), else a fresh one there
        // (opt.evaluation is the objective's evaluation at the optimum, and the first draws'
        // gradients were kept from the same pass).  Not merely one formed next to it: the
        // Hessian of few draws can vary by a few per cent over 0.003 SE where a variance is
        // small (radish2's Pop, 0.012: at 64 draws the intercept's SE 0.3173 from the Hessian
        // formed 0.003 SE away, 0.3233 from the one at the optimum, 0.3241 at m = 16,384)
        let x = &opt.theta;
        if sampled {
            let draws = REPORTED_HESSIAN_DRAWS;
            let last = last_model.lock().ok().and_then(|l| l.clone());
            opt.evaluation.hessian = match last {
                Some(l)
                    if l.fresh
                        && l.draws == draws
                        && (&l.at == x
                            || secant_consistent(
                                &l,
                                x,
                                centre(x, &opt.evaluation, draws).as_deref(),
                            )) =>
                {
                    l.h
                }
                _ => {
                    let g = centre(x, &opt.evaluation, draws).ok_or_else(not_finite)?;
                    let formed = form(x, g, draws).ok_or_else(not_finite)?;
                    let h = formed.h.clone();
                    if let Ok(mut last) = last_model.lock() {
                        *last = Some(formed);
                    }
                    h
                }
            };
        }
        // (nothing sampled: every part's Hessian is exact, and opt.evaluation is the
        // objective's evaluation at the optimum, the one to report)
        if interrupt.is_triggered() {
            return Err(FitError::Interrupted);
        }
        // decide on the Hessian that is reported
        let mut growth = 1.0;
        let mut probe_fit = None;
        let mut next_ms = ms.clone();
        let accept = match options.auto_m {
            Some(auto) if sampled && stages.len() + 1 < MAX_STAGES => {
                let probe = assemble(model, blocks, opt.clone(), options, 1, st);
                growth = auto_growth(&probe, &auto);
                if growth > 1.0 {
                    next_ms = if auto.allocate {
                        super::allocate::allocate(
                            &probe,
                            &opt.evaluation.blocks,
                            blocks,
                            &ms,
                            &auto,
                            &round,
                        )
                    } else {
                        let next = round(next_m(m, growth, auto.max));
                        vec![next; ms.len()]
                    };
                }
                probe_fit = Some(probe);
                // stop when the targets are met or no block can get more draws
                growth <= 1.0 || next_ms == ms
            }
            _ => true,
        };
        timings.mcse += t3.elapsed().as_secs_f64();
        stages.push(Stage {
            m,
            iterations: opt.iterations,
            evaluations: opt.evaluations,
            model_hessians: fresh.load(Ordering::Relaxed),
            seconds: ts.elapsed().as_secs_f64(),
        });
        if accept {
            opt.iterations = stages.iter().map(|s| s.iterations).sum();
            opt.path = path;
            opt.stages = stages;
            timings.optimisation = t2.elapsed().as_secs_f64() - timings.mcse;
            // E[u | y], SD[u | y] (and their MCSE) from at most RANEF_DRAWS draws: a
            // pass in lane groups and parallel chunks that costs about one evaluation at m
            let ranef = match fewer(RANEF_DRAWS)? {
                Some(o) => o.posterior_moments(&opt.theta),
                None => objective.posterior_moments(&opt.theta),
            };
            return Ok((opt, m, ranef));
        }
        theta0 = opt.theta.clone();
        let next = next_ms.iter().copied().max().unwrap_or(m);
        if let (Some(auto), Some(probe)) = (options.auto_m, &probe_fit) {
            let seconds = ts.elapsed().as_secs_f64();
            let forecast = stage_forecast(probe, &auto, m, next, growth, seconds);
            if let Some(w) = long_stage_warning(&forecast) {
                progress(Progress::LongStage(w.clone()));
                warnings.push(w);
            }
        }
        ms = next_ms;
    }
}

/// Most stages of automatic m (each at least doubles some block's draws, so far more than a
/// fit reaching its maximum m needs); the last is accepted as it is.
const MAX_STAGES: usize = 16;

/// The numbers of a stage for [`long_stage_warning`], from the stage's probe fit.
fn stage_forecast(
    probe: &Fit,
    auto: &AutoM,
    m: usize,
    next: usize,
    growth: f64,
    seconds: f64,
) -> StageForecast {
    let mut worst = (String::new(), 0.0f64);
    for (j, (mc, se)) in probe.mcse.iter().zip(&probe.se).enumerate() {
        if se.is_nan() {
            continue;
        }
        let r = mc / se;
        let r = if r.is_nan() { f64::INFINITY } else { r };
        if worst.0.is_empty() || r > worst.1 {
            worst = (probe.parameter_names[j].clone(), r);
        }
    }
    StageForecast {
        m,
        next,
        max: auto.max,
        growth,
        worst,
        mcse_ratio_target: auto.mcse_ratio,
        loglik_mcse: (probe.loglik_mcse, auto.loglik_mcse),
        seconds,
    }
}

/// Four significant digits, in scientific notation when small, for numbers in messages.
fn short(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_m_at_least_doubles_at_most_grows_eightfold_and_stops_at_max() {
        assert_eq!(next_m(250, 0.5, 1 << 17), 500);
        assert_eq!(next_m(250, 3.0, 1 << 17), 1000);
        assert_eq!(next_m(250, 1e6, 1 << 17), 2000);
        assert_eq!(next_m(250, f64::INFINITY, 1 << 17), 2000);
        assert_eq!(next_m(100_000, 4.0, 1 << 17), 1 << 17);
    }

    /// A concave quadratic-plus-quartic test function: value, gradient, Hessian.
    fn bowl(x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        // f = -(2 x0^2 + x0 x1 + x1^2) - x0^4 / 4
        let g = vec![-4.0 * x[0] - x[1] - x[0].powi(3), -x[0] - 2.0 * x[1]];
        let h = vec![-4.0 - 3.0 * x[0] * x[0], -1.0, -1.0, -2.0];
        (g, h)
    }

    #[test]
    fn bfgs_update_meets_the_secant_condition_and_stays_negative_definite() {
        let (a, b) = ([0.3, -0.2], [0.1, 0.25]);
        let ((ga, ha), (gb, _)) = (bowl(&a), bowl(&b));
        let h = bfgs_update(&ha, &a, &ga, &b, &gb).expect("curvature condition holds");
        // H+ s = gb - ga
        let s = [b[0] - a[0], b[1] - a[1]];
        for r in 0..2 {
            let hs = h[r * 2] * s[0] + h[r * 2 + 1] * s[1];
            assert!(
                (hs - (gb[r] - ga[r])).abs() < 1e-12,
                "{hs} vs {}",
                gb[r] - ga[r]
            );
        }
        // symmetric, negative definite
        assert!((h[1] - h[2]).abs() < 1e-12);
        assert!(h[0] < 0.0 && h[0] * h[3] - h[1] * h[2] > 0.0);
        // a step along which the gradient does not decrease: no update
        assert!(bfgs_update(&ha, &a, &ga, &b, &ga).is_none());
        assert!(bfgs_update(&ha, &a, &gb, &b, &ga).is_none());
    }

    #[test]
    fn secant_check_accepts_a_hessian_that_describes_the_step_and_rejects_one_that_does_not() {
        let a = [0.2, 0.1];
        let (ga, ha) = bowl(&a);
        let model = ModelState {
            at: a.to_vec(),
            h: ha.clone(),
            gradient: ga,
            draws: 128,
            fresh: true,
        };
        // a small step: the Hessian changes by O(step), the residual is O(step^2)
        let x = [0.2 + 1e-4, 0.1 - 1e-4];
        assert!(secant_consistent(&model, &x, Some(&bowl(&x).0)));
        // a long step across the quartic's curvature: rejected
        let far = [1.2, -0.4];
        assert!(!secant_consistent(&model, &far, Some(&bowl(&far).0)));
        // a Hessian 5 % off: rejected even for the small step
        let off = ModelState {
            h: ha.iter().map(|v| 1.05 * v).collect(),
            ..model.clone()
        };
        assert!(!secant_consistent(&off, &x, Some(&bowl(&x).0)));
        // no gradient at x: never reused
        assert!(!secant_consistent(&model, &x, None));
    }

    #[test]
    fn hessian_distance_is_the_length_in_the_metric_of_minus_h() {
        let h = [-4.0, 0.0, 0.0, -1.0];
        assert!((hessian_distance(&[0.0, 0.0], &[0.5, 0.0], &h) - 1.0).abs() < 1e-15);
        assert!((hessian_distance(&[1.0, 1.0], &[1.0, 3.0], &h) - 2.0).abs() < 1e-15);
        // not negative definite along delta: never "close"
        assert!(hessian_distance(&[0.0, 0.0], &[1.0, 0.0], &[4.0, 0.0, 0.0, 1.0]).is_infinite());
    }
}

#[cfg(test)]
mod long_stage_tests {
    use super::{long_stage_warning, StageForecast};

    fn stage(m: usize, next: usize, growth: f64) -> StageForecast {
        StageForecast {
            m,
            next,
            max: 1 << 17,
            growth,
            worst: ("F".into(), 0.3),
            mcse_ratio_target: 0.02,
            loglik_mcse: (0.2, 0.01),
            seconds: 5.0,
        }
    }

    #[test]
    fn a_jump_of_more_than_8x_warns_with_the_numbers_and_the_time_of_the_next_stage() {
        // the targets ask for 400x; whether the step is capped (8x: 2000) or not, it warns
        for next in [2000, 131072] {
            let w = long_stage_warning(&stage(250, next, 400.0)).expect("a warning");
            assert!(w.contains("at m = 250"), "{w}");
            assert!(
                w.contains("largest MCSE/SE is 0.3000 (F; target 0.02)"),
                "{w}"
            );
            assert!(
                w.contains("log-likelihood MCSE 0.2000 (target 0.01)"),
                "{w}"
            );
            assert!(w.contains("about 400 times the draws"), "{w}");
            assert!(w.contains(&format!("next stage uses m = {next}")), "{w}");
            // the last stage's 5 s scaled by next / m
            let eta = 5.0 * next as f64 / 250.0;
            let shown = if eta < 120.0 {
                format!("{eta:.0} s")
            } else {
                format!("{:.1} min", eta / 60.0)
            };
            assert!(
                w.contains(&format!("should take about {shown}")),
                "{shown}: {w}"
            );
        }
    }

    #[test]
    fn a_step_to_the_maximum_warns_and_an_ordinary_step_does_not() {
        let w = long_stage_warning(&stage(65536, 131072, 1.5)).expect("a warning");
        assert!(w.contains("m = 131072 (its maximum)"), "{w}");
        assert!(long_stage_warning(&stage(250, 1000, 3.0)).is_none());
        assert!(long_stage_warning(&stage(250, 2000, 7.0)).is_none());
        // a big jump that is quick anyway (2 s at m = 250: 16 s at 2000) stays silent
        let quick = StageForecast {
            seconds: 2.0,
            ..stage(250, 2000, 400.0)
        };
        assert!(long_stage_warning(&quick).is_none());
        let w = long_stage_warning(&stage(250, 131072, f64::INFINITY)).expect("a warning");
        assert!(w.contains("an MCSE is not finite"), "{w}");
    }
}
