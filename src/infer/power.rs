//! Power by simulation (issue 15; as `simr::powerSim`): [`power_replicates`] simulates
//! responses from a planned design ([`PowerStudy`]: the model's design with chosen
//! coefficients and variances), refits each with and (for the likelihood-ratio test) without
//! the effect, and [`summarise_power`] counts the rejections, with the Clopper–Pearson
//! interval of the power's Monte Carlo error.  Replicates, seeds and threads as in
//! [`bootstrap`](super::bootstrap): a replicate depends on `(seed, r)` only.

use super::bootstrap::{
    nonfinite, observed_lrt, refit, refit_seed, refit_start, replicate_seed, run_replicates,
    simulated_model, BootstrapError,
};
use crate::model::options::FitOptions;
use crate::model::{Model, ModelSpec};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The test whose power is studied: of one fixed effect, `H0: beta_j = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerTest {
    /// Two-sided Wald z test (simr's `fixed(x, "z")`, its default for GLMMs).
    Wald,
    /// Likelihood-ratio test against the model without the effect, chi-square(1).
    Lrt,
}

impl PowerTest {
    /// `wald` or `lrt`.
    pub fn name(self) -> &'static str {
        match self {
            PowerTest::Wald => "wald",
            PowerTest::Lrt => "lrt",
        }
    }
    /// Parse `wald`/`z`/`lrt`/`lr`.
    pub fn parse(s: &str) -> Option<PowerTest> {
        match s.trim().to_ascii_lowercase().as_str() {
            "wald" | "z" => Some(PowerTest::Wald),
            "lrt" | "lr" => Some(PowerTest::Lrt),
            _ => None,
        }
    }
}

/// A planned study: a design (a [`ModelSpec`] whose response is a placeholder, e.g. from
/// [`crate::CrossedDesign::design`] or a data frame of covariates and groups), the true
/// parameters, and the test.
#[derive(Debug, Clone)]
pub struct PowerStudy {
    /// The design (its response is ignored).
    pub design: ModelSpec,
    /// True fixed effects, one per column of the design's X.
    pub beta: Vec<f64>,
    /// True variance components.
    pub nu: Vec<f64>,
    /// The fixed effect tested (a column name of X).
    pub parameter: String,
    /// The test.
    pub test: PowerTest,
    /// Significance level.
    pub alpha: f64,
}

/// One simulated study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerReplicate {
    /// Replicate number.
    pub index: usize,
    /// Estimate of the tested effect.
    #[serde(with = "nonfinite::one")]
    pub estimate: f64,
    /// Its standard error.
    #[serde(with = "nonfinite::one")]
    pub se: f64,
    /// Test statistic (z, or the likelihood-ratio chi-square).
    #[serde(with = "nonfinite::one")]
    pub statistic: f64,
    /// p-value.
    #[serde(with = "nonfinite::one")]
    pub p_value: f64,
    /// `p_value < alpha`.
    pub reject: bool,
    /// Whether the refit(s) converged.
    pub converged: bool,
    /// Why the replicate has no test.
    pub error: Option<String>,
}

impl PowerReplicate {
    /// Whether the replicate counts: refitted, converged, finite p-value.
    pub fn usable(&self) -> bool {
        self.error.is_none() && self.converged && self.p_value.is_finite()
    }
}

/// Validate a study; returns the tested column's index.
fn check_study(study: &PowerStudy) -> Result<usize, BootstrapError> {
    if !(study.alpha > 0.0 && study.alpha < 1.0) {
        return Err(BootstrapError::Probability {
            what: "alpha",
            value: study.alpha,
        });
    }
    let d = &study.design;
    let j = d
        .x_names
        .iter()
        .position(|n| *n == study.parameter)
        .ok_or_else(|| {
            BootstrapError::Power(format!(
                "unknown fixed effect '{}'; the design's fixed effects are: {}",
                study.parameter,
                d.x_names.join(", ")
            ))
        })?;
    crate::model::design::check_sim_parameters(d, &study.beta, &study.nu)
        .map_err(|e| BootstrapError::Power(e.to_string()))?;
    if study.test == PowerTest::Lrt && d.x_names.len() < 2 {
        return Err(BootstrapError::Power(
            "the likelihood-ratio test drops the tested effect, which leaves no fixed effect: use the Wald test, or add an intercept".into(),
        ));
    }
    Ok(j)
}

/// The design without column `j` of X.
fn drop_column(spec: &ModelSpec, j: usize) -> ModelSpec {
    let n = spec.y.len();
    let mut s = spec.clone();
    s.x.drain(j * n..(j + 1) * n);
    s.x_names.remove(j);
    s
}

/// Replicates `indices` of a power study: replicate `r` simulates a response at the true
/// parameters (seed [`replicate_seed`]`(seed, r)`), refits with `options` started at the
/// truth (Monte Carlo seed [`refit_seed`]) and tests the effect.  Bit-identical for any
/// thread count and split.
pub fn power_replicates(
    study: &PowerStudy,
    options: &FitOptions,
    indices: Range<usize>,
    seed: u64,
) -> Result<Vec<PowerReplicate>, BootstrapError> {
    power_replicates_with_progress(study, options, indices, seed, &|_| {})
}

/// [`power_replicates`] calling `progress(done)` after each replicate.
pub fn power_replicates_with_progress(
    study: &PowerStudy,
    options: &FitOptions,
    indices: Range<usize>,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<PowerReplicate>, BootstrapError> {
    let j = check_study(study)?;
    let p = study.beta.len();
    let mut theta = study.beta.clone();
    theta.extend(&study.nu);
    let start = refit_start(&theta, p);
    let reduced = drop_column(&study.design, j);
    let mut theta0 = theta.clone();
    theta0.remove(j);
    let start0 = refit_start(&theta0, p - 1);
    let failed = |r: usize, why: String| PowerReplicate {
        index: r,
        estimate: f64::NAN,
        se: f64::NAN,
        statistic: f64::NAN,
        p_value: f64::NAN,
        reject: false,
        converged: false,
        error: Some(why),
    };
    let work = |r: usize| {
        let s = replicate_seed(seed, r);
        let sim = match simulated_model(&study.design, p, &theta, s) {
            Ok(m) => m,
            Err(why) => return failed(r, why),
        };
        let f = match refit(&sim, options, &start, refit_seed(s)) {
            Ok(f) => f,
            Err(e) => return failed(r, format!("the refit failed: {e}")),
        };
        let (estimate, se) = (f.theta[j], f.se[j]);
        let (statistic, p_value, converged) = match study.test {
            PowerTest::Wald => {
                let z = estimate / se;
                (z, 2.0 * crate::fit::vcov::normal_cdf(-z.abs()), f.converged)
            }
            PowerTest::Lrt => {
                let mut spec0 = reduced.clone();
                spec0.y = sim.y().to_vec();
                let f0 = Model::new(spec0)
                    .map_err(|e| format!("the reduced model cannot be fitted: {e}"))
                    .and_then(|m0| {
                        refit(&m0, options, &start0, refit_seed(s))
                            .map_err(|e| format!("the reduced model's refit failed: {e}"))
                    });
                let f0 = match f0 {
                    Ok(f0) => f0,
                    Err(why) => return failed(r, why),
                };
                let chisq = observed_lrt(&f0, &f);
                (
                    chisq,
                    crate::infer::wald::chisq_upper(chisq.max(0.0), 1.0),
                    f.converged && f0.converged,
                )
            }
        };
        PowerReplicate {
            index: r,
            estimate,
            se,
            statistic,
            p_value,
            reject: p_value < study.alpha,
            converged,
            error: None,
        }
    };
    run_replicates(options.threads, indices, progress, &work, &failed)
}

/// The estimated power with its Monte Carlo interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerSummary {
    /// The tested fixed effect.
    pub parameter: String,
    /// The test.
    pub test: PowerTest,
    /// Significance level.
    pub alpha: f64,
    /// Simulations run.
    pub nsim: usize,
    /// Simulations used (converged refit, finite p-value).
    pub used: usize,
    /// Rejections among them.
    pub rejections: usize,
    /// `rejections / used`.
    pub power: f64,
    /// Level of the interval.
    pub level: f64,
    /// Clopper–Pearson interval for the power (simr reports the same, via `binom.test`).
    pub ci: (f64, f64),
}

/// Exact (Clopper–Pearson) interval for a binomial proportion: `x` successes in `n`.
pub fn clopper_pearson(x: usize, n: usize, level: f64) -> (f64, f64) {
    use statrs::function::beta::inv_beta_reg;
    if n == 0 {
        return (0.0, 1.0);
    }
    let a = (1.0 - level) / 2.0;
    let (xf, nf) = (x as f64, n as f64);
    let lo = if x == 0 {
        0.0
    } else {
        inv_beta_reg(xf, nf - xf + 1.0, a)
    };
    let hi = if x == n {
        1.0
    } else {
        inv_beta_reg(xf + 1.0, nf - xf, 1.0 - a)
    };
    (lo, hi)
}

/// The power (share of usable replicates that reject) and its Clopper–Pearson interval at
/// `level`.
pub fn summarise_power(
    study: &PowerStudy,
    reps: &[PowerReplicate],
    level: f64,
) -> Result<PowerSummary, BootstrapError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(BootstrapError::Probability {
            what: "the confidence level",
            value: level,
        });
    }
    let used: Vec<&PowerReplicate> = reps.iter().filter(|r| r.usable()).collect();
    if used.is_empty() {
        return Err(BootstrapError::TooFewReplicates {
            used: 0,
            total: reps.len(),
        });
    }
    let rejections = used.iter().filter(|r| r.reject).count();
    Ok(PowerSummary {
        parameter: study.parameter.clone(),
        test: study.test,
        alpha: study.alpha,
        nsim: reps.len(),
        used: used.len(),
        rejections,
        power: rejections as f64 / used.len() as f64,
        level,
        ci: clopper_pearson(rejections, used.len(), level),
    })
}

/// A power study's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Power {
    /// The power with its interval.
    pub summary: PowerSummary,
    /// The simulated studies, in index order.
    pub replicates: Vec<PowerReplicate>,
}

/// The power of `study` from `nsim` simulations (replicates `0..nsim`, [`power_replicates`]),
/// with its 95 % Clopper–Pearson interval.
pub fn power(
    study: &PowerStudy,
    options: &FitOptions,
    nsim: usize,
    seed: u64,
) -> Result<Power, BootstrapError> {
    if nsim == 0 {
        return Err(BootstrapError::ZeroNsim);
    }
    let replicates = power_replicates(study, options, 0..nsim, seed)?;
    Ok(Power {
        summary: summarise_power(study, &replicates, 0.95)?,
        replicates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_matches_binom_test() {
        // R 4.x: binom.test(20, 400)$conf.int = 0.03080524114 0.07616697276
        let (lo, hi) = clopper_pearson(20, 400, 0.95);
        assert!((lo - 0.03080524114).abs() < 1e-9 && (hi - 0.07616697276).abs() < 1e-9);
        // binom.test(0, 10)$conf.int = 0 0.3084971; binom.test(10, 10): 0.6915029 1
        assert_eq!(clopper_pearson(0, 10, 0.95).0, 0.0);
        assert!((clopper_pearson(0, 10, 0.95).1 - 0.3084971).abs() < 1e-7);
        assert!((clopper_pearson(10, 10, 0.95).0 - 0.6915029).abs() < 1e-7);
    }
}
