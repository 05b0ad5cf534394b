//! Errors of a fit (model problems are caught earlier, by [`Model::new`](crate::Model::new)).

use crate::integrate::fixed_sample::sampler::SamplerError;
use crate::integrate::IntegratorError;
use crate::model::options::OptionsError;
use crate::start::pql::PqlError;
use thiserror::Error;

/// Errors of a fit.
#[derive(Debug, Error)]
pub enum FitError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Pql(#[from] PqlError),
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    #[error(transparent)]
    Integrator(#[from] IntegratorError),
    #[error("the MCLA is not finite at the starting values {start:?}: the start is outside the parameter space or every importance weight underflows; try --par-init with plausible values or a larger m")]
    BadStart { start: Vec<f64> },
    #[error("the trust-region optimiser failed: {0}")]
    Optimiser(String),
    #[error("the adaptive estimator's per-draw results at m = {m} need about {needed_gb:.1} GB but only {available_gb:.1} GB of memory is available: use a smaller m (or --m auto, which stops when the Monte Carlo error is small)")]
    AdaptiveTooLarge {
        m: usize,
        needed_gb: f64,
        available_gb: f64,
    },
    #[error("the fit was interrupted")]
    Interrupted,
    #[error("could not start {threads} worker threads: {why}")]
    Threads { threads: usize, why: String },
    #[error("storing the Monte Carlo sample needs about {needed_gb:.1} GB but only {available_gb:.1} GB of memory is available: use --low-memory (samples regenerated as needed, identical results, memory independent of m) or a smaller m")]
    TooLarge { needed_gb: f64, available_gb: f64 },
}
