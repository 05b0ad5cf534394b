//! Fit options with R glmm's defaults, validated once (linfa-style checked params).
//!
//! [`FitOptions`] is the user-facing set; [`FitOptions::check`] validates it
//! against a [`Model`] and returns [`CheckedOptions`], which every later stage
//! takes.  Problems are reported as an [`OptionsError`].

use crate::model::Model;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Which importance sampler to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampler {
    /// SPEC §12 (default): per block, a separator sampled from a theta-adaptive
    /// Gaussian with common random numbers and the conditionally independent rest
    /// integrated by adaptive Gauss–Hermite quadrature; blocks without a separator
    /// (one grouping factor) are integrated exactly, with Monte Carlo error 0.
    Adaptive,
    /// One independent importance sample per connected component of the
    /// random-effects graph (SPEC §11), drawn once from R glmm's mixture: the
    /// exact likelihood factorises, and the importance weights live in each
    /// component's low dimension.
    Factorised,
    /// R glmm's single q-dimensional mixture (SPEC §4), for comparison and reproduction.
    Joint,
}

impl Sampler {
    /// `adaptive`, `factorised` or `joint`.
    pub fn name(self) -> &'static str {
        match self {
            Sampler::Adaptive => "adaptive",
            Sampler::Factorised => "factorised",
            Sampler::Joint => "joint",
        }
    }
    /// Parse `adaptive`/`factorised`/`factorized`/`joint`.
    pub fn parse(s: &str) -> Option<Sampler> {
        match s.trim().to_ascii_lowercase().as_str() {
            "adaptive" => Some(Sampler::Adaptive),
            "factorised" | "factorized" => Some(Sampler::Factorised),
            "joint" => Some(Sampler::Joint),
            _ => None,
        }
    }
}

/// Automatic choice of the Monte Carlo sample size (`--m auto`, SPEC §12 / issue 7):
/// start with `start` draws per block and double (keeping the draws already made)
/// until every parameter's MCSE is at most `mcse_ratio` times its standard error and
/// the log-likelihood's MCSE is at most `loglik_mcse`, or `max` is reached (then the
/// fit warns).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AutoM {
    /// First sample size per block.
    pub start: usize,
    /// Largest sample size per block.
    pub max: usize,
    /// Target MCSE / SE of every parameter.
    pub mcse_ratio: f64,
    /// Target MCSE of the log-likelihood.
    pub loglik_mcse: f64,
    /// After the first stage, give each sampled block its own m where its Monte Carlo error
    /// is (Neyman allocation, see `fit::auto_m`); `false`: every block gets the same m.
    #[serde(default = "nested_default")]
    pub allocate: bool,
}

impl Default for AutoM {
    fn default() -> Self {
        AutoM {
            start: 250,
            max: 1 << 17,
            mcse_ratio: 0.02,
            loglik_mcse: 0.01,
            allocate: true,
        }
    }
}

/// Options of a fit.  `Default` gives R glmm's defaults with the adaptive
/// estimator (SPEC §12) and a fixed m = 10^4; [`FitOptions::auto`] chooses m
/// automatically (the command line's default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Monte Carlo sample size per independent block (ignored when `auto_m` is set).
    pub m: usize,
    /// Choose m automatically (see [`AutoM`]); `None`: use `m`.
    pub auto_m: Option<AutoM>,
    /// Gauss–Hermite nodes of the adaptive estimator's conditional integrals (K).
    pub quadrature_nodes: usize,
    /// Standard draws of the adaptive estimator's separator: scrambled Sobol' points
    /// (randomised QMC, the default; m is rounded up to `R 2^j`), antithetic pairs or
    /// i.i.d. normals (see [`standard_draws`](crate::integrate::standard_draws)).
    #[serde(default)]
    pub draws: crate::integrate::standard_draws::DrawScheme,
    /// Integrate blocks whose effects nest (site / brood / individual) exactly by nested
    /// quadrature ([`nested`](crate::integrate::nested)), when the work is within
    /// [`NESTED_BUDGET`](crate::integrate::nested::NESTED_BUDGET); `false` samples them as
    /// SPEC §12 does any other block (to compare the two).
    #[serde(default = "nested_default")]
    pub nested_quadrature: bool,
    /// In sampled blocks, integrate the parts that nest given the separator by the nested
    /// recursion ([`Split::with_subtrees`](crate::integrate::separator::Split::with_subtrees):
    /// subjects × items with repeated trials per cell samples only the items).  Off by
    /// default: at K = 10 it costs K or more times the work per draw, which its smaller
    /// Monte Carlo error repaid on none of the designs measured (BENCHMARKS.md, issue 17).
    #[serde(default)]
    pub subtrees: bool,
    /// Seed of every random stream.
    pub seed: u64,
    /// Mixture probabilities `p = (p1, p2, p3)` of the importance distribution.
    pub mixture: [f64; 3],
    /// Degrees of freedom of the t component.
    pub zeta: f64,
    /// Start from PQL estimates (otherwise beta = 0, nu = 1, u* = 0).
    pub do_pql: bool,
    /// User start values for theta = (beta, nu); PQL is then skipped and u* = 0.
    pub par_init: Option<Vec<f64>>,
    /// Initial trust-region radius (R trust's `rinit`).
    pub rinit: f64,
    /// Maximum trust-region radius.
    pub rmax: f64,
    /// Maximum number of trust-region iterations.
    pub iterlim: usize,
    /// Number of worker threads (`None`: all cores).  Never changes the result.
    pub threads: Option<usize>,
    /// Factorised (default) or joint sampler.
    pub sampler: Sampler,
    /// Regenerate samples per chunk from their RNG streams instead of storing
    /// them: memory no longer grows with m; results are bit-identical.
    pub low_memory: bool,
}

fn nested_default() -> bool {
    true
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            m: 10_000,
            auto_m: None,
            quadrature_nodes: 10,
            draws: crate::integrate::standard_draws::DrawScheme::default(),
            nested_quadrature: true,
            subtrees: false,
            seed: 1234,
            mixture: [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
            zeta: 5.0,
            do_pql: true,
            par_init: None,
            rinit: 10.0,
            rmax: 1000.0,
            iterlim: 1000,
            threads: None,
            sampler: Sampler::Adaptive,
            low_memory: false,
        }
    }
}

impl FitOptions {
    /// The defaults with an automatically chosen m ([`AutoM::default`]).
    pub fn auto() -> FitOptions {
        FitOptions {
            auto_m: Some(AutoM::default()),
            ..FitOptions::default()
        }
    }
}

/// A problem with the options; each message names the problem and the fix.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum OptionsError {
    #[error("the Monte Carlo sample size m (--m) must be at least 1 (got 0): use e.g. m = 10^4")]
    ZeroM,
    #[error("mixture probabilities (--mixture) must each be in [0, 1] and sum to 1 (got {got:?}, sum {sum})")]
    MixtureNotProbabilities { got: [f64; 3], sum: f64 },
    #[error("the first mixture probability p1 (--mixture; the heavy-tailed t component) must be > 0: it guarantees finite-variance importance weights")]
    MixtureP1Zero,
    #[error("zeta (--zeta, the t degrees of freedom) must be finite and > 0 (got {0})")]
    Zeta(f64),
    #[error("par_init (--par-init) has {got} values but the model has {expected} parameters ({names}): give the fixed effects then the variance components")]
    ParInitLength {
        got: usize,
        expected: usize,
        names: String,
    },
    #[error("par_init (--par-init) gives variance component '{name}' the value {value}: variances must be > 0")]
    ParInitVariance { name: String, value: f64 },
    #[error("par_init (--par-init) gives a linear predictor of {eta:e} at row {row} (fixed effects alone): on the link scale anything beyond {max} is already a probability of 0 or 1 or an absurd mean, so no fit can start there; give starting values of plausible size (e.g. from a GLM), or omit --par-init to start from PQL")]
    ParInitEta { eta: f64, row: usize, max: f64 },
    #[error("par_init (--par-init) gives variance component '{name}' the value {value:e}, more than {max:e} on the link scale: no fit can start there; give a plausible variance (e.g. 1), or omit --par-init to start from PQL")]
    ParInitVarianceLarge { name: String, value: f64, max: f64 },
    #[error("par_init (--par-init) value {value} for '{name}' is not finite")]
    ParInitNonFinite { name: String, value: f64 },
    #[error("the initial trust radius rinit ({rinit}) must be > 0 and rmax (--rmax, {rmax}) must be >= rinit")]
    Radius { rinit: f64, rmax: f64 },
    #[error("iterlim (--iterlim) must be at least 1")]
    Iterlim,
    #[error("threads (--threads) must be at least 1 (got 0): omit it to use all cores")]
    ZeroThreads,
    #[error("the number of quadrature nodes (--nodes) must be between 1 and 200 (got {0}); 10 is accurate far below the Monte Carlo error")]
    Nodes(usize),
    #[error("automatic m (--m auto): {0}")]
    AutoM(String),
    #[error("{0} Sobol' replicates (--replicates): use 2 to 1024 (their spread is the Monte Carlo error; 16 is the default)")]
    Replicates(usize),
}

/// Largest |x_i' beta| accepted in a user start (`par_init`).
pub const MAX_START_ETA: f64 = 100.0;

/// Largest variance component accepted in a user start (`par_init`).
pub const MAX_START_VARIANCE: f64 = 1e6;

/// Most worker threads a fit uses: 4 x the cores (more only adds scheduling overhead; the
/// result never depends on the number).
pub fn max_threads() -> usize {
    4 * std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Options validated against a model.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedOptions(pub(crate) FitOptions);

impl CheckedOptions {
    /// The validated options.
    pub fn get(&self) -> &FitOptions {
        &self.0
    }
}

impl std::ops::Deref for CheckedOptions {
    type Target = FitOptions;
    fn deref(&self) -> &FitOptions {
        &self.0
    }
}

impl FitOptions {
    /// Validate against `model`.
    pub fn check(&self, model: &Model) -> Result<CheckedOptions, OptionsError> {
        if self.m == 0 {
            return Err(OptionsError::ZeroM);
        }
        let sum: f64 = self.mixture.iter().sum();
        if self.mixture.iter().any(|&v| !(0.0..=1.0).contains(&v)) || (sum - 1.0).abs() > 1e-8 {
            return Err(OptionsError::MixtureNotProbabilities {
                got: self.mixture,
                sum,
            });
        }
        if self.mixture[0] <= 0.0 {
            return Err(OptionsError::MixtureP1Zero);
        }
        if !(self.zeta.is_finite() && self.zeta > 0.0) {
            return Err(OptionsError::Zeta(self.zeta));
        }
        if let Some(init) = &self.par_init {
            let names = model.parameter_names();
            if init.len() != names.len() {
                return Err(OptionsError::ParInitLength {
                    got: init.len(),
                    expected: names.len(),
                    names: names.join(", "),
                });
            }
            for (v, name) in init.iter().zip(&names) {
                if !v.is_finite() {
                    return Err(OptionsError::ParInitNonFinite {
                        name: name.clone(),
                        value: *v,
                    });
                }
            }
            for (v, name) in init[model.p()..].iter().zip(model.varcomps_names()) {
                if *v <= 0.0 {
                    return Err(OptionsError::ParInitVariance {
                        name: name.clone(),
                        value: *v,
                    });
                }
                if *v > MAX_START_VARIANCE {
                    return Err(OptionsError::ParInitVarianceLarge {
                        name: name.clone(),
                        value: *v,
                        max: MAX_START_VARIANCE,
                    });
                }
            }
            let beta = &init[..model.p()];
            if let Some((row, eta)) = (0..model.n())
                .map(|i| (i, crate::model::dot(model.x_row(i), beta)))
                .find(|(_, e)| !(e.abs() <= MAX_START_ETA))
            {
                return Err(OptionsError::ParInitEta {
                    eta,
                    row: row + 1,
                    max: MAX_START_ETA,
                });
            }
        }
        if !(self.rinit.is_finite()
            && self.rinit > 0.0
            && self.rmax.is_finite()
            && self.rmax >= self.rinit)
        {
            return Err(OptionsError::Radius {
                rinit: self.rinit,
                rmax: self.rmax,
            });
        }
        if self.iterlim == 0 {
            return Err(OptionsError::Iterlim);
        }
        if self.threads == Some(0) {
            return Err(OptionsError::ZeroThreads);
        }
        if let crate::integrate::standard_draws::DrawScheme::Sobol { replicates } = self.draws {
            if !(2..=1024).contains(&replicates) {
                return Err(OptionsError::Replicates(replicates));
            }
        }
        if !(1..=200).contains(&self.quadrature_nodes) {
            return Err(OptionsError::Nodes(self.quadrature_nodes));
        }
        if let Some(a) = &self.auto_m {
            if a.start == 0 || a.max < a.start {
                return Err(OptionsError::AutoM(format!(
                    "the start ({}) must be at least 1 and at most the maximum ({})",
                    a.start, a.max
                )));
            }
            let positive = |t: f64| t > 0.0 && t.is_finite();
            if !(positive(a.mcse_ratio) && positive(a.loglik_mcse)) {
                return Err(OptionsError::AutoM(format!(
                    "the targets must be positive numbers (MCSE/SE {}, log-likelihood MCSE {})",
                    a.mcse_ratio, a.loglik_mcse
                )));
            }
        }
        Ok(CheckedOptions(self.clone()))
    }
}
