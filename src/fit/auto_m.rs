//! Automatic m for the SPEC §12 estimator: fit at a first m, then grow m (at least 2x, at most
//! 8x per stage) until every MCSE and the log-likelihood's meet their targets (the draws already
//! made are kept), deciding at each stage on the Hessian that is reported.
//!
//! **Hessians** (issue 14).  The trust-region model Hessian at every accepted point and the
//! reported Hessian are forward differences of the analytic gradient of the objective with the
//! first [`MODEL_HESSIAN_DRAWS`] draws (`p + T + 1` evaluations at 64 draws; the same function
//! at every stage, since draws persist as m grows).  The optimiser then takes Newton steps: 3–4
//! iterations from the PQL start and 1–2 per later stage on every design of issue 14, where
//! Louis' identity took 9–67.  The last model Hessian is reported when the optimum lies within
//! 0.01 standard errors of where it was formed (always, in practice: the terminating step is
//! ~1e-4 of one), and reused at the next stage's start, so a stage that needs no new model costs
//! only its evaluations at m.  Measured Monte Carlo error of that Hessian against the central
//! difference at 4,096–16,384 draws: at most 2e-3 of `sqrt(H_rr H_cc)` (salamander), 6e-4
//! (crossed 100 x 50), 2e-4 (300 x 24 VerbAgg-shaped): negligible for the SEs (< 0.2 %).

use super::assemble::{assemble, Fit, Timings};
use super::error::FitError;
use super::maximise::{Optimum, Stage};
use super::memory::available_memory_bytes;
use super::progress::Progress;
use crate::integrate::adaptive::AdaptiveSettings;
use crate::integrate::{BlockIntegrator, BlockMoments, Objective};
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
/// within some per cent of the Hessian, and a Hessian from 64 draws is (measured in
/// BENCHMARKS.md); Louis' identity at the draws is not, where fixed effects are confounded
/// with the separator's effects (item-level covariates of a crossed design).
pub(super) const MODEL_HESSIAN_DRAWS: usize = 64;

/// Draws of the objective whose forward-difference Hessian is reported (vcov, SEs, the MCSE
/// sandwich, the automatic-m decision): its Monte Carlo error is negligible for the SEs
/// (within 1 % of the Hessian at large m, measured in BENCHMARKS.md and tested).
pub(super) const REPORTED_HESSIAN_DRAWS: usize = 64;

/// Draws from which the random-effect predictions are computed (at most): their Monte Carlo
/// error is reported with them, and at 4,000 draws their pass cost a quarter of a salamander fit.
pub(super) const RANEF_DRAWS: usize = 1024;

/// Distance in standard errors (the metric of `-H`) within which the last trust-region model
/// Hessian is reported as the Hessian at the optimum: the Hessian changes on the scale of
/// many standard errors, so over 0.01 of one it changes by far less than its Monte Carlo error.
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
    // the last trust-region model Hessian (from the first MODEL_HESSIAN_DRAWS draws, the
    // same function at every stage): reused where the next one is asked for next to it (the
    // next stage's start) and reported when the optimum is next to it
    let last_model: Mutex<Option<(Vec<f64>, Vec<f64>)>> = Mutex::new(None);
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
        let fewer = |k: usize| -> Result<Option<Objective<'_>>, FitError> {
            Ok(if sampled && m > k {
                let few: Vec<usize> = ms.iter().map(|&mb| mb.min(k)).collect();
                Some(adaptive(&few)?)
            } else {
                None
            })
        };
        let model_objective = fewer(MODEL_HESSIAN_DRAWS)?;
        let fresh = AtomicUsize::new(0);
        let model_hessian = |x: &[f64], e: &crate::integrate::McEvaluation| {
            if let Ok(last) = last_model.lock() {
                if let Some((at, h)) = last.as_ref() {
                    if hessian_distance(at, x, h) <= REUSE_DISTANCE {
                        return Some(h.clone());
                    }
                }
            }
            fresh.fetch_add(1, Ordering::Relaxed);
            let h = match &model_objective {
                Some(o) => o.difference_hessian(x, None),
                None => objective.difference_hessian(x, Some(&e.gradient)),
            };
            if let (Some(h), Ok(mut last)) = (&h, last_model.lock()) {
                *last = Some((x.to_vec(), h.clone()));
            }
            h
        };
        let mut opt = super::maximise::maximise_with(
            &objective,
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
        let last = last_model.lock().ok().and_then(|l| l.clone());
        opt.evaluation = match last {
            Some((x, h))
                if sampled
                    && MODEL_HESSIAN_DRAWS == REPORTED_HESSIAN_DRAWS
                    && hessian_distance(&x, &opt.theta, &h) <= REUSE_DISTANCE =>
            {
                // opt.evaluation: the objective's evaluation at the optimum
                opt.evaluation.hessian = h;
                opt.evaluation.clone()
            }
            _ => {
                let reported_objective = fewer(REPORTED_HESSIAN_DRAWS)?;
                objective
                    .reported_evaluation(&opt.theta, reported_objective.as_ref())
                    .ok_or_else(not_finite)?
            }
        };
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
