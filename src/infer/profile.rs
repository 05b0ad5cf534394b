//! Profile-likelihood confidence intervals.
//!
//! For parameter `j`, the profile `l_p(c) = max { l(theta) : theta_j = c }` is computed by
//! re-maximising the objective over the other parameters with the trust-region optimiser
//! (`mcla-trust`), warm-started from the previous point; the limits are the roots of
//! `2 (l(theta-hat) - l_p(c)) = chi-square(1, level)` on each side of the estimate, bracketed by
//! stepping out from the Wald limits and refined by the Illinois (regula falsi) method.
//! Variance components are profiled on `nu > 0`: when the profile at the boundary stays inside
//! the region, the lower limit is 0.
//!
//! The routine is generic: [`profile_intervals`] takes any objective (value, gradient and
//! Hessian at theta, or `None` outside the parameter space).  [`with_fit_objective`] rebuilds
//! the objective a [`Fit`] maximised (same options, seed and start, hence the same Monte Carlo
//! sample) and hands it to a closure; the intervals of an MCLA fit are Monte Carlo estimates
//! (the sample is fixed, so they carry Monte Carlo error of the order of the estimates' MCSE).
//!
//! ```
//! use mcla::infer::profile::{profile_intervals, ProfileSettings};
//! // a quadratic log-likelihood: the profile interval equals the Wald interval
//! let mut obj = |t: &[f64]| -> Option<(f64, Vec<f64>, Vec<f64>)> {
//!     let (a, b) = (t[0] - 1.0, t[1] + 2.0);
//!     Some((-(a * a) - 0.5 * b * b - 0.5 * a * b,
//!           vec![-2.0 * a - 0.5 * b, -b - 0.5 * a],
//!           vec![-2.0, -0.5, -0.5, -1.0]))
//! };
//! let s = ProfileSettings { level: 0.95, ..ProfileSettings::default() };
//! let r = profile_intervals(&mut obj, &[1.0, -2.0], &[0.6, 1.1], &["a".into(), "b".into()], 2, &[0], &s);
//! let iv = &r[0];
//! // Var(a) = [(-H)^{-1}]_{11} = 1 / (2 - 0.25 / 1) = 4/7
//! let half = 1.959963984540054 * (4.0f64 / 7.0).sqrt();
//! assert!((iv.lower - (1.0 - half)).abs() < 1e-6 && (iv.upper - (1.0 + half)).abs() < 1e-6);
//! ```

use crate::fit::{Fit, FitError};
use crate::integrate::fixed_sample::sampler::ImportanceSample;
use crate::integrate::fixed_sample::Mcla;
use crate::model::blocks::Blocks;
use crate::model::options::{FitOptions, Sampler};
use crate::model::Model;
use crate::start::start;
use mcla_trust::{maximize, Evaluation, Objective, Subspace, TrustOptions};
use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Value, gradient and Hessian (row-major) of an objective.
pub type ObjectiveValue = (f64, Vec<f64>, Vec<f64>);

/// Settings of the profile computation.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSettings {
    /// Confidence level.
    pub level: f64,
    /// Absolute tolerance on a limit, as a fraction of the parameter's standard error.
    pub tolerance: f64,
    /// Root-finding iterations per limit.
    pub max_iterations: usize,
    /// Trust-region iterations per profile point.
    pub iterlim: usize,
}

impl Default for ProfileSettings {
    fn default() -> Self {
        ProfileSettings {
            level: 0.95,
            tolerance: 1e-4,
            max_iterations: 60,
            iterlim: 200,
        }
    }
}

/// One profile interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileInterval {
    /// Parameter name.
    pub name: String,
    /// Estimate.
    pub estimate: f64,
    /// Lower limit (0 for a variance whose profile stays inside the region down to 0).
    pub lower: f64,
    /// Upper limit.
    pub upper: f64,
    /// Whether the lower limit is the boundary `nu = 0`.
    pub lower_at_boundary: bool,
    /// Whether both limits were found (otherwise the missing one is infinite).
    pub found: bool,
    /// Profile maximisations used.
    pub evaluations: usize,
}

/// The objective with coordinate `j` fixed, over the others.
struct Reduced<'f> {
    f: &'f mut dyn FnMut(&[f64]) -> Option<ObjectiveValue>,
    space: Subspace,
}

impl Objective for Reduced<'_> {
    type Error = std::convert::Infallible;
    fn evaluate(&mut self, x: &[f64]) -> Result<Option<Evaluation>, Self::Error> {
        let t = self.space.expand(x);
        Ok((self.f)(&t).map(|(v, g, h)| self.space.restrict(&Evaluation::new(v, g, h))))
    }
}

/// `max over the others` with theta_j = c, from `x0` (the others); returns (value, others).
fn profile_point(
    f: &mut dyn FnMut(&[f64]) -> Option<ObjectiveValue>,
    d: usize,
    j: usize,
    c: f64,
    x0: &[f64],
    iterlim: usize,
) -> Option<(f64, Vec<f64>)> {
    // the whole point: c at j, the others from x0 (replaced at every evaluation)
    let mut base = x0.to_vec();
    base.insert(j, c);
    let mut obj = Reduced {
        f,
        space: Subspace::new(base, (0..d).filter(|&k| k != j).collect()),
    };
    // the start must be inside the domain
    obj.evaluate(x0).ok().flatten()?;
    let opts = TrustOptions {
        rinit: 1.0,
        rmax: 100.0,
        iterlim,
        ..TrustOptions::default()
    };
    let res = maximize(&mut obj, x0, &opts, None).ok()?;
    Some((res.evaluation.value, res.x))
}

/// Profile intervals for the parameters `which` (indices into theta).
///
/// `objective` is the log-likelihood (any additive constant), `theta_hat` its maximiser, `se`
/// standard errors (used to scale the search), `p` the number of fixed effects (parameters
/// from `p` on are variances, profiled on `nu > 0`).
pub fn profile_intervals(
    objective: &mut dyn FnMut(&[f64]) -> Option<ObjectiveValue>,
    theta_hat: &[f64],
    se: &[f64],
    names: &[String],
    p: usize,
    which: &[usize],
    settings: &ProfileSettings,
) -> Vec<ProfileInterval> {
    let d = theta_hat.len();
    let q = ChiSquared::new(1.0)
        .map(|c| c.inverse_cdf(settings.level))
        .unwrap_or(3.841458820694124);
    let l_hat = objective(theta_hat).map(|e| e.0).unwrap_or(f64::NAN);
    let mut out = Vec::with_capacity(which.len());
    for &j in which {
        let others: Vec<f64> = (0..d).filter(|&k| k != j).map(|k| theta_hat[k]).collect();
        let step = if se[j].is_finite() && se[j] > 0.0 {
            se[j]
        } else {
            0.1 * theta_hat[j].abs().max(0.1)
        };
        let is_var = j >= p;
        let mut evaluations = 0;
        let mut limit = |side: f64, evaluations: &mut usize| -> (f64, bool, bool) {
            // D(c) = 2 (l_hat - l_p(c)) - q: negative inside the interval
            let mut warm = others.clone();
            let mut dfun = |c: f64, warm: &mut Vec<f64>, evaluations: &mut usize| -> Option<f64> {
                *evaluations += 1;
                let (v, x) = profile_point(objective, d, j, c, warm, settings.iterlim)
                    .or_else(|| profile_point(objective, d, j, c, &others, settings.iterlim))?;
                *warm = x;
                Some(2.0 * (l_hat - v) - q)
            };
            let z = q.sqrt();
            let (mut inside, mut d_in) = (theta_hat[j], -q);
            let mut k = 0;
            let mut outside: Option<(f64, f64)> = None;
            while k < 8 {
                let mut c = theta_hat[j] + side * z * step * 2f64.powi(k);
                if is_var && c <= 0.0 {
                    // the boundary: profile just inside it
                    let tiny = (theta_hat[j] * 1e-6).max(1e-10);
                    c = tiny;
                    match dfun(c, &mut warm, evaluations) {
                        Some(v) if v < 0.0 => return (0.0, true, true),
                        Some(v) => {
                            outside = Some((c, v));
                        }
                        None => return (0.0, true, false),
                    }
                    break;
                }
                match dfun(c, &mut warm, evaluations) {
                    Some(v) if v < 0.0 => {
                        inside = c;
                        d_in = v;
                    }
                    Some(v) => {
                        outside = Some((c, v));
                        break;
                    }
                    None => break,
                }
                k += 1;
            }
            let Some((cout, d_out)) = outside else {
                return (theta_hat[j] + side * f64::INFINITY, false, false);
            };
            // Illinois method on [inside, cout]
            let (mut a, mut fa, mut b, mut fb) = (inside, d_in, cout, d_out);
            let mut last_side = 0;
            for _ in 0..settings.max_iterations {
                let c = if fb != fa {
                    b - fb * (b - a) / (fb - fa)
                } else {
                    0.5 * (a + b)
                };
                let c = if c.is_finite() && (c - a) * (c - b) < 0.0 {
                    c
                } else {
                    0.5 * (a + b)
                };
                let Some(fc) = dfun(c, &mut warm, evaluations) else {
                    // not computable there: treat as outside
                    b = c;
                    fb = fb.max(d_out);
                    continue;
                };
                if fc < 0.0 {
                    a = c;
                    fa = fc;
                    if last_side == -1 {
                        fb *= 0.5;
                    }
                    last_side = -1;
                } else {
                    b = c;
                    fb = fc;
                    if last_side == 1 {
                        fa *= 0.5;
                    }
                    last_side = 1;
                }
                if fc.abs() < 1e-8 {
                    return (c, false, true);
                }
                if (b - a).abs() < settings.tolerance * step {
                    break;
                }
            }
            // the last bracket is narrower than the tolerance: its midpoint
            (0.5 * (a + b), false, true)
        };
        let (lower, at_boundary, found_lo) = limit(-1.0, &mut evaluations);
        let (upper, _, found_hi) = limit(1.0, &mut evaluations);
        out.push(ProfileInterval {
            name: names.get(j).cloned().unwrap_or_default(),
            estimate: theta_hat[j],
            lower,
            upper,
            lower_at_boundary: at_boundary,
            found: found_lo && found_hi,
            evaluations,
        });
    }
    out
}

/// Rebuild the objective `fit` maximised — the same start (PQL or `par_init`), blocks and
/// importance sample (same seed), hence bit-identical values — and call `f` with it.
///
/// The objective returns the log-likelihood with the data constants, its gradient and Hessian.
pub fn with_fit_objective<R>(
    model: &Model,
    options: &FitOptions,
    fit: &Fit,
    f: impl FnOnce(&mut dyn FnMut(&[f64]) -> Option<ObjectiveValue>) -> R,
) -> Result<R, FitError> {
    let checked = options.check(model)?;
    let st = start(model, &checked)?;
    let blocks = Blocks::new(model, checked.sampler);
    let constant = model.data_constant();
    if checked.sampler == Sampler::Adaptive {
        // the adaptive objective at the m the fit reached (its draws are a prefix of any
        // larger m's, so this is the function that was maximised)
        let settings = crate::integrate::adaptive::AdaptiveSettings {
            nodes: checked.quadrature_nodes,
            draws: checked.draws,
            nested: checked.nested_quadrature,
            subtrees: checked.subtrees,
            ..Default::default()
        };
        let objective = crate::integrate::Objective::adaptive(
            model,
            &blocks,
            fit.m.max(1),
            checked.seed,
            &st.centre.u_star,
            settings,
        )?;
        let mut obj = |t: &[f64]| -> Option<ObjectiveValue> {
            objective
                .evaluate(t)
                .map(|e| (e.value + constant, e.gradient, e.hessian))
        };
        return Ok(f(&mut obj));
    }
    let sample = ImportanceSample::draw(
        model,
        &blocks,
        &st.centre,
        checked.m,
        checked.seed,
        checked.mixture,
        checked.zeta,
        checked.low_memory,
    )?;
    let mcla = Mcla::new(model, &blocks, &sample)
        .with_centred_mcse(checked.sampler == Sampler::Factorised);
    let mut obj = |t: &[f64]| -> Option<ObjectiveValue> {
        mcla.evaluate(t)
            .map(|e| (e.value + constant, e.gradient, e.hessian))
    };
    Ok(f(&mut obj))
}

/// Profile intervals of an MCLA fit for the parameters `names` (all when empty).
pub fn fit_profile(
    model: &Model,
    options: &FitOptions,
    fit: &Fit,
    names: &[&str],
    settings: &ProfileSettings,
) -> Result<Result<Vec<ProfileInterval>, String>, FitError> {
    let which: Vec<usize> = if names.is_empty() {
        (0..fit.dim()).collect()
    } else {
        let mut w = Vec::new();
        for n in names {
            match fit.index_of(n) {
                Some(j) => w.push(j),
                None => {
                    return Ok(Err(format!(
                        "unknown parameter '{n}'; parameters are: {}",
                        fit.parameter_names.join(", ")
                    )))
                }
            }
        }
        w
    };
    with_fit_objective(model, options, fit, |obj| {
        Ok(profile_intervals(
            obj,
            &fit.theta,
            &fit.se,
            &fit.parameter_names,
            fit.p,
            &which,
            settings,
        ))
    })
}
