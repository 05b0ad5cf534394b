//! Stage 4 — the fit (SPEC §5–§7, §12): the pipeline from a model to a [`Fit`].
//!
//! Takes a [`Model`](crate::Model) and [`FitOptions`](crate::FitOptions); runs
//! [`start`](crate::start::start) → [`Blocks`](crate::Blocks) → block integrators
//! ([`crate::integrate`]) → [`maximise`] (R trust semantics, `mcla-trust`) → [`assemble`]
//! inside a thread pool of the requested size ([`pipeline`]); with the SPEC §12 estimator,
//! [`auto_m`] grows m until the Monte Carlo error meets its targets, giving each sampled block
//! its own m where the error is ([`allocate`]).  Gives a [`Fit`]:
//! estimates, the reported Hessian, `vcov` and SEs ([`vcov`]), MCSEs, ESS, and warnings from
//! [`diagnostics`] (separation, stationarity), which check what the fit found, not how.
//! Memory is checked before anything large is allocated ([`memory`]).

pub mod allocate;
pub mod assemble;
pub mod auto_m;
pub mod diagnostics;
mod error;
pub mod maximise;
pub mod memory;
pub mod pipeline;
mod progress;
pub mod vcov;

pub use assemble::{assemble, BlockInfo, Fit, Timings, ESS_WARNING};
pub use diagnostics::BOUNDARY_VARIANCE;
pub use error::FitError;
pub use maximise::{
    maximise, maximise_interruptible, maximise_with, ModelHessian, Optimum, PathStep, Stage,
};
pub use pipeline::{fit, fit_interruptible, fit_with_progress};
pub use progress::Progress;
