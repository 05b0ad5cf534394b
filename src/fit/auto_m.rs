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
        if se.is_nan() {
            // a variance on the boundary: no SE to compare its MCSE with
            continue;
        }
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
    warnings: &mut Vec<String>,
    progress: &mut dyn FnMut(Progress),
    interrupt: &Interrupt,
) -> Result<(Optimum, usize, Option<Vec<BlockMoments>>), FitError> {
    let settings = AdaptiveSettings {
        nodes: options.quadrature_nodes,
        draws: options.draws,
        ..AdaptiveSettings::default()
    };
    let t2 = Instant::now();
    // Sobol' draws come in whole prefixes of R 2^j points (integrate::standard_draws)
    let mut m = settings
        .draws
        .round_m(options.auto_m.map_or(options.m, |a| a.start));
    let avail = available_memory_bytes();
    let mut theta0 = st.theta.clone();
    let mut path = Vec::new();
    let mut iterations = 0;
    loop {
        if interrupt.is_triggered() {
            return Err(FitError::Interrupted);
        }
        let stage_start = Instant::now();
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
        let mut probe_fit = None;
        let last = match options.auto_m {
            None => true,
            Some(auto) => {
                m >= auto.max || objective.draws() == 0 || {
                    let probe = assemble(model, blocks, opt.clone(), options, 1, st);
                    growth = auto_growth(&probe, &auto);
                    probe_fit = Some(probe);
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
                    probe_fit = Some(probe);
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
        let next = settings.draws.round_m(next_m(m, growth, max));
        if let (Some(auto), Some(probe)) = (options.auto_m, &probe_fit) {
            let seconds = stage_start.elapsed().as_secs_f64();
            let forecast = stage_forecast(probe, &auto, m, next, growth, seconds);
            if let Some(w) = long_stage_warning(&forecast) {
                progress(Progress::LongStage(w.clone()));
                warnings.push(w);
            }
        }
        m = next;
    }
}

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
