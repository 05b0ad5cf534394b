//! Automatic m for the SPEC §12 estimator: fit at a first m, then grow m until every
//! MCSE and the log-likelihood's meet their targets (the draws already made are kept).

use super::assemble::{assemble, Fit, Timings};
use super::error::FitError;
use super::maximise::{maximise_interruptible, Optimum};
use super::memory::available_memory_bytes;
use super::progress::Progress;
use crate::integrate::adaptive::AdaptiveSettings;
use crate::integrate::{BlockIntegrator, BlockMoments, Objective};
use crate::interrupt::Interrupt;
use crate::model::blocks::Blocks;
use crate::model::options::{AutoM, CheckedOptions};
use crate::model::Model;
use crate::start::Start;
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

/// The next sample size: at least double, else the predicted need (with 10 % to spare)
/// rounded up to a power-of-two multiple of m, at most `max`.
fn next_m(m: usize, growth: f64, max: usize) -> usize {
    let mut next = 2 * m;
    while (next as f64) < 1.1 * growth * m as f64 && next < max {
        next *= 2;
    }
    next.min(max)
}

/// The SPEC §12 estimator, with m fixed or doubled until the targets are met
/// (the draws already made are kept: chunk streams do not depend on m).  Returns
/// the optimum with its reported evaluation (difference Hessian) and the m used.
pub(super) fn fit_adaptive(
    model: &Model,
    blocks: &Blocks,
    options: &CheckedOptions,
    st: &Start,
    timings: &mut Timings,
    progress: &mut dyn FnMut(Progress),
    interrupt: &Interrupt,
) -> Result<(Optimum, usize, Option<Vec<BlockMoments>>), FitError> {
    let settings = AdaptiveSettings {
        nodes: options.quadrature_nodes,
        ..AdaptiveSettings::default()
    };
    let t2 = Instant::now();
    let mut m = options.auto_m.map_or(options.m, |a| a.start);
    let avail = available_memory_bytes();
    let mut theta0 = st.theta.clone();
    let mut path = Vec::new();
    let mut iterations = 0;
    loop {
        if interrupt.is_triggered() {
            return Err(FitError::Interrupted);
        }
        let mut objective =
            Objective::adaptive(model, blocks, m, options.seed, &st.centre.u_star, settings)?;
        objective.watch(interrupt);
        // per-draw results kept during an evaluation: a log weight and two score vectors per
        // draw, for every block with a separator (blocks are evaluated in parallel)
        let needed =
            8.0 * (1 + 2 * model.n_params()) as f64 * objective.sampled_parts() as f64 * m as f64;
        if avail.is_some_and(|a| needed > 0.9 * a) || needed > 1e15 {
            return Err(FitError::AdaptiveTooLarge {
                m,
                needed_gb: needed / 1e9,
                available_gb: avail.unwrap_or(0.0) / 1e9,
            });
        }
        progress(Progress::Sampling {
            total: m * blocks.blocks.len(),
        });
        let mut opt = maximise_interruptible(&objective, &theta0, options, progress, interrupt)?;
        iterations += opt.iterations;
        path.append(&mut opt.path);
        // decide on the trust-region model's Hessian (within a few per cent)
        let mut growth = 1.0;
        let last = match options.auto_m {
            None => true,
            Some(auto) => {
                m >= auto.max || objective.draws() == 0 || {
                    let probe = assemble(model, blocks, opt.clone(), options, 1, st);
                    growth = auto_growth(&probe, &auto);
                    growth <= 1.0
                }
            }
        };
        if last {
            let t3 = Instant::now();
            progress(Progress::Mcse);
            let final_eval = objective.final_evaluation(&opt.theta);
            if interrupt.is_triggered() {
                return Err(FitError::Interrupted);
            }
            let final_eval = final_eval.ok_or_else(|| {
                FitError::Optimiser(
                    "the likelihood approximation is not finite near the final point".into(),
                )
            })?;
            opt.evaluation = final_eval;
            let accept = match options.auto_m {
                Some(auto) if m < auto.max && objective.draws() > 0 => {
                    let probe = assemble(model, blocks, opt.clone(), options, 1, st);
                    growth = auto_growth(&probe, &auto);
                    growth <= 1.0
                }
                _ => true,
            };
            timings.mcse += t3.elapsed().as_secs_f64();
            if accept {
                opt.iterations = iterations;
                opt.path = path;
                timings.optimisation = t2.elapsed().as_secs_f64() - timings.mcse;
                let ranef = objective.posterior_moments(&opt.theta);
                return Ok((opt, m, ranef));
            }
        }
        theta0 = opt.theta.clone();
        let max = options.auto_m.map_or(m, |a| a.max);
        m = next_m(m, growth, max);
    }
}
