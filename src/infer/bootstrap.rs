//! Parametric bootstrap (issue 15).
//!
//! * [`bootstrap_replicates`] simulates responses from a fitted model (with
//!   [`simulate_response`], the simulate command's code) and refits each with the fit's own
//!   options, started at the estimate (from the options' own start when that refit does not
//!   converge).  Replicate `r` draws everything from its own seed
//!   stream [`replicate_seed`]`(seed, r)`: the simulated response from that seed and the
//!   refit's Monte Carlo sample from [`refit_seed`] of it.  So a replicate depends on
//!   `(seed, r)` only: splitting `0..nsim` into chunks run anywhere (threads, processes, a
//!   Dask cluster) gives bit-identical replicates, in index order.
//! * [`summarise_bootstrap`] turns replicates into bootstrap SEs, percentile and basic
//!   intervals and the bootstrap distribution of each parameter (quantiles; for a variance
//!   component the share of replicates on the boundary, where Wald intervals and chi-square
//!   references fail).
//! * [`bootstrap_lrt_replicates`] / [`summarise_lrt`]: the parametric-bootstrap
//!   likelihood-ratio test of nested models, as `pbkrtest::PBmodcomp`: simulate under the
//!   smaller model's fit, refit both models, `p = (1 + #{LRT_r >= LRT_obs}) / (1 + n)`.
//! * Power by simulation, on the same replicate machinery: [`power`](super::power).
//!
//! Replicates run in parallel on a rayon pool of `options.threads` threads, each refit on
//! that pool (no pool of its own); results are collected in index order and do not depend
//! on the number of threads.
//!
//! ```
//! use mcla::{bootstrap_replicates, fit, summarise_bootstrap, Csr, Family, FitOptions, Model,
//!            ModelSpec, RandomBlock};
//! // 10 groups of 8 Bernoulli trials, a random intercept (one block: integrated exactly)
//! let (groups, per) = (10usize, 8usize);
//! let n = groups * per;
//! let y: Vec<f64> = (0..n).map(|i| ((i % per) < (i / per) % 7 + 1) as u8 as f64).collect();
//! let trip: Vec<_> = (0..n).map(|i| (i, i / per, 1.0)).collect();
//! let model = Model::new(ModelSpec {
//!     y, trials: None, x: vec![1.0; n], x_names: vec!["(Intercept)".into()],
//!     random: vec![RandomBlock { names: (1..=groups).map(|g| format!("g{g}")).collect(),
//!                                z: Csr::from_triplets(n, groups, &trip).unwrap() }],
//!     varcomps_equal: None, varcomps_names: vec!["g".into()],
//!     family: Family::Bernoulli, weights: None,
//! }).unwrap();
//! let options = FitOptions { threads: Some(1), ..FitOptions::default() };
//! let f = fit(&model, &options).unwrap();
//! let reps = bootstrap_replicates(&model, &f, &options, 0..20, 7).unwrap();
//! // any split of the replicates gives the same bits
//! let tail = bootstrap_replicates(&model, &f, &options, 10..20, 7).unwrap();
//! assert_eq!(reps[10..], tail[..]);
//! let s = summarise_bootstrap(&f, &reps, 0.9).unwrap();
//! assert_eq!(s.parameters.len(), 2);
//! assert!(s.parameters[0].se > 0.0);
//! ```

use crate::fit::pipeline::fit_in_current_pool;
use crate::fit::{Fit, BOUNDARY_VARIANCE};
use crate::model::options::{FitOptions, OptionsError};
use crate::model::{Model, ModelSpec};
use crate::simulate::simulate_response;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use thiserror::Error;

/// Why a bootstrap or power study cannot run at all (a replicate that fails is recorded in
/// its [`Replicate::error`] instead).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BootstrapError {
    /// The fit does not belong to the model.
    #[error("the fit has parameters ({fit}) but the model has ({model}): bootstrap the model the fit came from")]
    Mismatch {
        /// The fit's parameter names.
        fit: String,
        /// The model's.
        model: String,
    },
    /// Invalid fit options.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// No replicates.
    #[error("the number of simulations (--nsim) must be at least 1 (got 0): use e.g. 1000")]
    ZeroNsim,
    /// Too few usable replicates for a summary.
    #[error("only {used} of {total} replicates gave a converged refit: too few for bootstrap statistics; look at the replicates' errors (e.g. a constant simulated response), or use more simulations")]
    TooFewReplicates {
        /// Converged replicates.
        used: usize,
        /// All replicates.
        total: usize,
    },
    /// A bad level or alpha.
    #[error("{what} must be strictly between 0 and 1 (got {value})")]
    Probability {
        /// `level` or `alpha`.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// Models that are not nested or not fitted to the same data.
    #[error("the models cannot be compared by a bootstrap likelihood-ratio test: {0}")]
    NotNested(String),
    /// A bad power-study input.
    #[error("power study: {0}")]
    Power(String),
    /// The thread pool could not start.
    #[error("could not start {threads} worker threads: {why}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// The system's reason.
        why: String,
    },
}

/// `x -> splitmix64(x)`: a bijective 64-bit mixer (Steele, Lea & Flood 2014).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of replicate `r`'s stream: a function of `(seed, r)` only (two rounds of
/// splitmix64), so replicates do not depend on how they are grouped or where they run.
/// The replicate's simulated response is drawn with this seed.
pub fn replicate_seed(seed: u64, r: usize) -> u64 {
    splitmix64(splitmix64(seed) ^ (r as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// The seed of a replicate's refit (its Monte Carlo sample), derived from its
/// [`replicate_seed`] so that it is independent of the simulated response's stream.
pub fn refit_seed(replicate_seed: u64) -> u64 {
    splitmix64(replicate_seed ^ 0x5851_F42D_4C95_7F2D)
}

/// Smallest variance component a refit starts from (a start must be > 0; an estimate on
/// the boundary starts its refits here).
pub const START_VARIANCE_FLOOR: f64 = 1e-3;

/// One bootstrap replicate: the refit of one simulated response.  Equality is bit for bit
/// (a NaN standard error — a variance on the boundary — equals itself), which is what "the
/// same replicates whatever the grouping" means.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replicate {
    /// Replicate number `r` (its seed stream is [`replicate_seed`]`(seed, r)`).
    pub index: usize,
    /// Estimates theta = (beta, nu) of the refit (empty when it failed).
    #[serde(with = "nonfinite::vec")]
    pub theta: Vec<f64>,
    /// Their standard errors (infinite where the Hessian is not negative definite).
    #[serde(with = "nonfinite::vec")]
    pub se: Vec<f64>,
    /// Log-likelihood of the refit (with the data constants).
    #[serde(with = "nonfinite::one")]
    pub loglik: f64,
    /// Whether the refit converged.
    pub converged: bool,
    /// Why the replicate has no refit (e.g. a simulated response that is constant).
    pub error: Option<String>,
}

/// The bits of a slice of floats.
fn float_bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

impl PartialEq for Replicate {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
            && float_bits(&self.theta) == float_bits(&other.theta)
            && float_bits(&self.se) == float_bits(&other.se)
            && self.loglik.to_bits() == other.loglik.to_bits()
            && self.converged == other.converged
            && self.error == other.error
    }
}

impl Replicate {
    /// Whether the replicate counts in the bootstrap statistics: refitted, converged, finite.
    pub fn usable(&self) -> bool {
        self.error.is_none() && self.converged && self.theta.iter().all(|v| v.is_finite())
    }

    fn failed(index: usize, why: String) -> Replicate {
        Replicate {
            index,
            theta: Vec::new(),
            se: Vec::new(),
            loglik: f64::NAN,
            converged: false,
            error: Some(why),
        }
    }
}

/// The start of a refit: the estimate, variance components at least
/// [`START_VARIANCE_FLOOR`].
pub(super) fn refit_start(theta: &[f64], p: usize) -> Vec<f64> {
    theta
        .iter()
        .enumerate()
        .map(|(j, &v)| {
            if j >= p {
                v.max(START_VARIANCE_FLOOR)
            } else {
                v
            }
        })
        .collect()
}

/// Options of a refit: the fit's own, started at `start`, with the replicate's Monte Carlo
/// seed; the refit runs on the bootstrap's pool.
fn refit_options(options: &FitOptions, start: &[f64], seed: u64) -> FitOptions {
    FitOptions {
        par_init: Some(start.to_vec()),
        seed,
        threads: Some(1),
        ..options.clone()
    }
}

/// Most trust-region iterations of a refit from the estimate: a refit near its maximum
/// converges in a few dozen; one that wanders (towards a variance on the boundary) is redone
/// from the options' own start instead of using up `iterlim`.
pub const FIRST_REFIT_ITERLIM: usize = 100;

/// Refit `model` with `options` started at `start` (Monte Carlo seed `seed`).  A refit from
/// the estimate can stall where the new maximum is far away (typically a variance component
/// that heads to the boundary): when it does not converge within [`FIRST_REFIT_ITERLIM`]
/// iterations, the model is refitted from the
/// options' own start (PQL unless `par_init` is given) and the converged, else the higher, of
/// the two is kept.
pub(super) fn refit(
    model: &Model,
    options: &FitOptions,
    start: &[f64],
    seed: u64,
) -> Result<Fit, crate::fit::FitError> {
    let first = fit_in_current_pool(
        model,
        &FitOptions {
            iterlim: options.iterlim.min(FIRST_REFIT_ITERLIM),
            ..refit_options(options, start, seed)
        },
    );
    if matches!(&first, Ok(f) if f.converged) {
        return first;
    }
    let own = FitOptions {
        seed,
        threads: Some(1),
        ..options.clone()
    };
    match (first, fit_in_current_pool(model, &own)) {
        (Ok(a), Ok(b)) => Ok(if b.converged || b.loglik > a.loglik {
            b
        } else {
            a
        }),
        (Ok(a), Err(_)) => Ok(a),
        (Err(_), b) => b,
    }
}

/// Replace the response of `spec` by one simulated at `theta` with `seed` and build the model.
pub(super) fn simulated_model(
    spec: &ModelSpec,
    p: usize,
    theta: &[f64],
    seed: u64,
) -> Result<Model, String> {
    let (y, _) = simulate_response(spec, &theta[..p], &theta[p..], seed)
        .map_err(|e| format!("simulation failed: {e}"))?;
    let mut spec = spec.clone();
    spec.y = y;
    Model::new(spec).map_err(|e| format!("the simulated data cannot be fitted: {e}"))
}

/// Run `work(r)` for every `r` in `indices` on a pool of `threads` threads, in index order,
/// calling `progress(done)` after each; a panic in one replicate becomes `on_panic(r)`.
pub(super) fn run_replicates<T: Send>(
    threads: Option<usize>,
    indices: Range<usize>,
    progress: &(dyn Fn(usize) + Sync),
    work: &(dyn Fn(usize) -> T + Sync),
    on_panic: &(dyn Fn(usize, String) -> T + Sync),
) -> Result<Vec<T>, BootstrapError> {
    use rayon::prelude::*;
    let threads = threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, crate::model::options::max_threads());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| BootstrapError::Threads {
            threads,
            why: e.to_string(),
        })?;
    let done = AtomicUsize::new(0);
    Ok(pool.install(|| {
        indices
            .into_par_iter()
            .with_max_len(1)
            .map(|r| {
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(r)))
                    .unwrap_or_else(|e| {
                        let why = e
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| e.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown panic".into());
                        on_panic(r, format!("internal error (please report): {why}"))
                    });
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                out
            })
            .collect()
    }))
}

/// Check that `fit` belongs to `model` and that the refit options are valid.
fn check_fit(model: &Model, fit: &Fit, options: &FitOptions) -> Result<(), BootstrapError> {
    let names = model.parameter_names();
    if fit.parameter_names != names || fit.theta.len() != names.len() {
        return Err(BootstrapError::Mismatch {
            fit: fit.parameter_names.join(", "),
            model: names.join(", "),
        });
    }
    let start = refit_start(&fit.theta, model.p());
    refit_options(options, &start, options.seed).check(model)?;
    Ok(())
}

/// Parametric bootstrap replicates `indices` of `fit` (of `model`, fitted with `options`):
/// each simulates a response from the fitted model ([`simulate_response`] at theta-hat,
/// seed [`replicate_seed`]`(seed, r)`) and refits it with `options`, started at the
/// estimate, Monte Carlo seed [`refit_seed`].  Results in index order; bit-identical for
/// any thread count (`options.threads`) and any split of the indices into calls.
pub fn bootstrap_replicates(
    model: &Model,
    fit: &Fit,
    options: &FitOptions,
    indices: Range<usize>,
    seed: u64,
) -> Result<Vec<Replicate>, BootstrapError> {
    bootstrap_replicates_with_progress(model, fit, options, indices, seed, &|_| {})
}

/// [`bootstrap_replicates`], calling `progress(done)` after each replicate (from any thread).
pub fn bootstrap_replicates_with_progress(
    model: &Model,
    fit: &Fit,
    options: &FitOptions,
    indices: Range<usize>,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Replicate>, BootstrapError> {
    check_fit(model, fit, options)?;
    let spec = model.spec();
    let p = model.p();
    let start = refit_start(&fit.theta, p);
    let work = |r: usize| {
        let s = replicate_seed(seed, r);
        let sim = match simulated_model(&spec, p, &fit.theta, s) {
            Ok(m) => m,
            Err(why) => return Replicate::failed(r, why),
        };
        match refit(&sim, options, &start, refit_seed(s)) {
            Ok(f) => Replicate {
                index: r,
                theta: f.theta,
                se: f.se,
                loglik: f.loglik,
                converged: f.converged,
                error: None,
            },
            Err(e) => Replicate::failed(r, format!("the refit failed: {e}")),
        }
    };
    run_replicates(
        options.threads,
        indices,
        progress,
        &work,
        &Replicate::failed,
    )
}

/// The bootstrap distribution of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterBootstrap {
    /// Parameter name.
    pub name: String,
    /// The original estimate theta-hat.
    pub estimate: f64,
    /// Mean of the replicates.
    pub mean: f64,
    /// Bootstrap bias estimate: mean - estimate.
    pub bias: f64,
    /// Bootstrap standard error: the standard deviation of the replicates (divisor n - 1).
    pub se: f64,
    /// The fit's Wald standard error, for comparison.
    pub wald_se: f64,
    /// Percentile interval `(q_{a/2}, q_{1-a/2})` of the replicates.
    pub percentile: (f64, f64),
    /// Basic (reverse percentile) interval `(2 est - q_{1-a/2}, 2 est - q_{a/2})`.
    pub basic: (f64, f64),
    /// Quantiles of the replicates at [`QUANTILE_PROBS`].
    pub quantiles: Vec<f64>,
    /// For a variance component: the share of replicates below
    /// [`BOUNDARY_VARIANCE`] (on the boundary); `None` for a fixed effect.
    pub boundary_share: Option<f64>,
}

/// Probabilities of [`ParameterBootstrap::quantiles`].
pub const QUANTILE_PROBS: [f64; 7] = [0.0, 0.025, 0.25, 0.5, 0.75, 0.975, 1.0];

/// Bootstrap statistics of a set of replicates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapSummary {
    /// Replicates given.
    pub nsim: usize,
    /// Replicates used (refitted, converged, finite).
    pub used: usize,
    /// Replicates without a refit (an error).
    pub failed: usize,
    /// Replicates whose refit did not converge.
    pub not_converged: usize,
    /// Confidence level of the intervals.
    pub level: f64,
    /// One entry per parameter, in the fit's order.
    pub parameters: Vec<ParameterBootstrap>,
}

/// Quantile of sorted data by linear interpolation between order statistics (R's
/// `quantile(type = 7)`, the default of R and numpy).
pub fn quantile_sorted(sorted: &[f64], prob: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * prob.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Bootstrap SEs, percentile and basic intervals at `level` and quantiles of every
/// parameter from the usable replicates (see [`Replicate::usable`]; at least 2 needed).
pub fn summarise_bootstrap(
    fit: &Fit,
    reps: &[Replicate],
    level: f64,
) -> Result<BootstrapSummary, BootstrapError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(BootstrapError::Probability {
            what: "the confidence level",
            value: level,
        });
    }
    let d = fit.theta.len();
    let used: Vec<&Replicate> = reps
        .iter()
        .filter(|r| r.usable() && r.theta.len() == d)
        .collect();
    if used.len() < 2 {
        return Err(BootstrapError::TooFewReplicates {
            used: used.len(),
            total: reps.len(),
        });
    }
    let a = (1.0 - level) / 2.0;
    let parameters = (0..d)
        .map(|j| {
            let mut v: Vec<f64> = used.iter().map(|r| r.theta[j]).collect();
            let k = v.len() as f64;
            let mean = v.iter().sum::<f64>() / k;
            // replicates that all agree have SE 0 exactly (their mean can differ from them in
            // the last bit, which would leave a spread of ~1e-16)
            let se = if v.iter().all(|&x| x == v[0]) {
                0.0
            } else {
                (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt()
            };
            v.sort_by(f64::total_cmp);
            let (lo, hi) = (quantile_sorted(&v, a), quantile_sorted(&v, 1.0 - a));
            let est = fit.theta[j];
            ParameterBootstrap {
                name: fit.parameter_names[j].clone(),
                estimate: est,
                mean,
                bias: mean - est,
                se,
                wald_se: fit.se[j],
                percentile: (lo, hi),
                basic: (2.0 * est - hi, 2.0 * est - lo),
                quantiles: QUANTILE_PROBS
                    .iter()
                    .map(|&p| quantile_sorted(&v, p))
                    .collect(),
                boundary_share: (j >= fit.p)
                    .then(|| v.iter().filter(|&&x| x < BOUNDARY_VARIANCE).count() as f64 / k),
            }
        })
        .collect();
    Ok(BootstrapSummary {
        nsim: reps.len(),
        used: used.len(),
        failed: reps.iter().filter(|r| r.error.is_some()).count(),
        not_converged: reps
            .iter()
            .filter(|r| r.error.is_none() && !r.converged)
            .count(),
        level,
        parameters,
    })
}

/// Replicates and their statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bootstrap {
    /// Statistics.
    pub summary: BootstrapSummary,
    /// The replicates, in index order.
    pub replicates: Vec<Replicate>,
}

/// The parametric bootstrap of `fit`: replicates `0..nsim` ([`bootstrap_replicates`]) and
/// their statistics at `level` ([`summarise_bootstrap`]).
pub fn bootstrap(
    model: &Model,
    fit: &Fit,
    options: &FitOptions,
    nsim: usize,
    seed: u64,
    level: f64,
) -> Result<Bootstrap, BootstrapError> {
    if nsim == 0 {
        return Err(BootstrapError::ZeroNsim);
    }
    let replicates = bootstrap_replicates(model, fit, options, 0..nsim, seed)?;
    Ok(Bootstrap {
        summary: summarise_bootstrap(fit, &replicates, level)?,
        replicates,
    })
}

// ---------------------------------------------------------------------------------------
// Parametric-bootstrap likelihood-ratio test (pbkrtest::PBmodcomp)

/// A model with its fit and the options it was fitted with.
#[derive(Debug, Clone, Copy)]
pub struct Fitted<'a> {
    /// The model (with the observed response).
    pub model: &'a Model,
    /// Its fit.
    pub fit: &'a Fit,
    /// The fit's options (refits use them, started at the estimate).
    pub options: &'a FitOptions,
}

/// One replicate of the bootstrap likelihood-ratio test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrtReplicate {
    /// Replicate number.
    pub index: usize,
    /// Log-likelihood of the smaller model's refit.
    #[serde(with = "nonfinite::one")]
    pub loglik_small: f64,
    /// Log-likelihood of the larger model's refit.
    #[serde(with = "nonfinite::one")]
    pub loglik_large: f64,
    /// `2 (loglik_large - loglik_small)`.
    #[serde(with = "nonfinite::one")]
    pub lrt: f64,
    /// Whether both refits converged.
    pub converged: bool,
    /// Why the replicate has no statistic.
    pub error: Option<String>,
}

impl LrtReplicate {
    /// Whether the replicate counts: both refits converged with a finite statistic.
    pub fn usable(&self) -> bool {
        self.error.is_none() && self.converged && self.lrt.is_finite()
    }
}

fn check_nested(small: &Fitted, large: &Fitted) -> Result<(), BootstrapError> {
    let (s, l) = (small.model, large.model);
    if s.n() != l.n() || s.y() != l.y() || s.family() != l.family() || s.trials() != l.trials() {
        return Err(BootstrapError::NotNested(
            "they are not fitted to the same response (rows, values, family or trials differ)"
                .into(),
        ));
    }
    if s.weights() != l.weights() {
        return Err(BootstrapError::NotNested(
            "they use different observation weights".into(),
        ));
    }
    if s.n_params() >= l.n_params() {
        return Err(BootstrapError::NotNested(format!(
            "the smaller model must have fewer parameters than the larger ({} and {}); give the smaller model first",
            s.n_params(),
            l.n_params()
        )));
    }
    Ok(())
}

/// Observed likelihood-ratio statistic `2 (l_large - l_small)`.
pub fn observed_lrt(small: &Fit, large: &Fit) -> f64 {
    2.0 * (large.loglik - small.loglik)
}

/// Replicates `indices` of the parametric-bootstrap likelihood-ratio test of `small`
/// against `large` (nested, fitted to the same data): replicate `r` simulates a response
/// under the smaller model's fit (seed [`replicate_seed`]`(seed, r)`), refits both models
/// to it, each with its own options started at its estimate, and records
/// `LRT_r = 2 (l_large - l_small)`.  Bit-identical for any thread count and split.
pub fn bootstrap_lrt_replicates(
    small: Fitted,
    large: Fitted,
    indices: Range<usize>,
    seed: u64,
) -> Result<Vec<LrtReplicate>, BootstrapError> {
    bootstrap_lrt_replicates_with_progress(small, large, indices, seed, &|_| {})
}

/// [`bootstrap_lrt_replicates`] calling `progress(done)` after each replicate.
pub fn bootstrap_lrt_replicates_with_progress(
    small: Fitted,
    large: Fitted,
    indices: Range<usize>,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<LrtReplicate>, BootstrapError> {
    check_fit(small.model, small.fit, small.options)?;
    check_fit(large.model, large.fit, large.options)?;
    check_nested(&small, &large)?;
    let (small_spec, large_spec) = (small.model.spec(), large.model.spec());
    let (ps, pl) = (small.model.p(), large.model.p());
    let (start_s, start_l) = (
        refit_start(&small.fit.theta, ps),
        refit_start(&large.fit.theta, pl),
    );
    let failed = |r: usize, why: String| LrtReplicate {
        index: r,
        loglik_small: f64::NAN,
        loglik_large: f64::NAN,
        lrt: f64::NAN,
        converged: false,
        error: Some(why),
    };
    let work = |r: usize| {
        let s = replicate_seed(seed, r);
        let sim_small = match simulated_model(&small_spec, ps, &small.fit.theta, s) {
            Ok(m) => m,
            Err(why) => return failed(r, why),
        };
        let mut spec = large_spec.clone();
        spec.y = sim_small.y().to_vec();
        let sim_large = match Model::new(spec) {
            Ok(m) => m,
            Err(e) => return failed(r, format!("the simulated data cannot be fitted: {e}")),
        };
        let fs = refit(&sim_small, small.options, &start_s, refit_seed(s));
        let fl = refit(&sim_large, large.options, &start_l, refit_seed(s));
        match (fs, fl) {
            (Ok(fs), Ok(fl)) => LrtReplicate {
                index: r,
                loglik_small: fs.loglik,
                loglik_large: fl.loglik,
                lrt: observed_lrt(&fs, &fl),
                converged: fs.converged && fl.converged,
                error: None,
            },
            (Err(e), _) => failed(r, format!("the smaller model's refit failed: {e}")),
            (_, Err(e)) => failed(r, format!("the larger model's refit failed: {e}")),
        }
    };
    run_replicates(small.options.threads, indices, progress, &work, &failed)
}

/// The parametric-bootstrap likelihood-ratio test (pbkrtest::PBmodcomp's `PBtest` and
/// `Bartlett` rows).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapLrt {
    /// Observed statistic `2 (l_large - l_small)`.
    pub lrt: f64,
    /// Difference in the number of parameters.
    pub df: usize,
    /// Replicates given.
    pub nsim: usize,
    /// Replicates used (both refits converged, finite statistic).
    pub used: usize,
    /// Used replicates with `LRT_r >= LRT_obs`.
    pub extreme: usize,
    /// `(1 + extreme) / (1 + used)`.
    pub p_value: f64,
    /// Mean of the replicates' statistics.
    pub mean_lrt: f64,
    /// Bartlett-corrected test: `LRT_obs df / mean_lrt` referred to chi-square(df).
    pub bartlett_p_value: f64,
}

/// The bootstrap p-value `(1 + #{LRT_r >= LRT_obs}) / (1 + n)` over the usable replicates,
/// with the Bartlett-corrected chi-square test beside it.
pub fn summarise_lrt(
    lrt_obs: f64,
    df: usize,
    reps: &[LrtReplicate],
) -> Result<BootstrapLrt, BootstrapError> {
    let used: Vec<f64> = reps.iter().filter(|r| r.usable()).map(|r| r.lrt).collect();
    if used.is_empty() {
        return Err(BootstrapError::TooFewReplicates {
            used: 0,
            total: reps.len(),
        });
    }
    let extreme = used.iter().filter(|&&t| t >= lrt_obs).count();
    let mean_lrt = used.iter().sum::<f64>() / used.len() as f64;
    let bartlett = if mean_lrt > 0.0 && df > 0 {
        crate::infer::wald::chisq_upper(lrt_obs * df as f64 / mean_lrt, df as f64)
    } else {
        f64::NAN
    };
    Ok(BootstrapLrt {
        lrt: lrt_obs,
        df,
        nsim: reps.len(),
        used: used.len(),
        extreme,
        p_value: (1 + extreme) as f64 / (1 + used.len()) as f64,
        mean_lrt,
        bartlett_p_value: bartlett,
    })
}

/// Serde helpers that keep non-finite numbers (infinite SEs, NaN of a failed replicate)
/// through JSON: finite values as numbers, others as the strings `"Inf"`, `"-Inf"`, `"NaN"`.
pub(super) mod nonfinite {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Num {
        F(f64),
        S(String),
        Null(()),
    }

    fn to(v: f64) -> Num {
        if v.is_finite() {
            Num::F(v)
        } else if v.is_nan() {
            Num::S("NaN".into())
        } else if v > 0.0 {
            Num::S("Inf".into())
        } else {
            Num::S("-Inf".into())
        }
    }

    fn from<E: serde::de::Error>(n: Num) -> Result<f64, E> {
        match n {
            Num::F(v) => Ok(v),
            Num::Null(()) => Ok(f64::NAN),
            Num::S(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "Inf" | "inf" | "Infinity" => Ok(f64::INFINITY),
                "-Inf" | "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
                other => Err(E::custom(format!("not a number: {other:?}"))),
            },
        }
    }

    pub mod one {
        use super::*;
        pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            to(*v).serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            from(Num::deserialize(d)?)
        }
    }

    pub mod vec {
        use super::*;
        pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            v.iter().map(|&x| to(x)).collect::<Vec<_>>().serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            Vec::<Num>::deserialize(d)?.into_iter().map(from).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicate_seeds_are_distinct_and_depend_on_seed_and_index_only() {
        let mut seen = std::collections::HashSet::new();
        for seed in [0u64, 1, 1234] {
            for r in 0..1000 {
                assert!(seen.insert(replicate_seed(seed, r)));
            }
        }
        assert_eq!(replicate_seed(1234, 17), replicate_seed(1234, 17));
        assert_ne!(refit_seed(replicate_seed(1, 2)), replicate_seed(1, 2));
    }

    #[test]
    fn quantiles_follow_r_type_7() {
        // R: quantile(c(1, 2, 4, 8, 16), c(0.025, 0.25, 0.5, 0.9, 1)) = 1.1 2 4 12.8 16
        let v = [1.0, 2.0, 4.0, 8.0, 16.0];
        for (p, q) in [
            (0.025, 1.1),
            (0.25, 2.0),
            (0.5, 4.0),
            (0.9, 12.8),
            (1.0, 16.0),
        ] {
            assert!((quantile_sorted(&v, p) - q).abs() < 1e-12, "{p}");
        }
    }

    #[test]
    fn replicates_survive_json_with_infinite_and_missing_values() {
        let r = Replicate {
            index: 3,
            theta: vec![1.5, 0.0],
            se: vec![0.25, f64::INFINITY],
            loglik: -10.0,
            converged: true,
            error: None,
        };
        let back: Replicate = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let f = Replicate::failed(4, "constant".into());
        let back: Replicate = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert!(back.loglik.is_nan() && back.error.as_deref() == Some("constant"));
    }
}
