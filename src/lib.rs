//! # mcla — generalized linear mixed models by Monte Carlo likelihood approximation
//!
//! Real maximum likelihood for GLMMs (bernoulli, binomial, poisson; canonical
//! links; independent normal random effects with one variance per component),
//! following the method of the R package `glmm` (Knudson & Geyer) and going
//! one step further: the likelihood is factorised over the connected
//! components of the random-effects graph and each gets its own importance
//! sample (the default), which keeps the importance weights healthy on crossed
//! designs.  Results are bit-identical for a given seed whatever the number of
//! threads.
//!
//! The pipeline, one folder per stage (each returns a plain value that can be inspected
//! and tested, as lme4's `lFormula` → `devfun` → `optimize` → `merMod`):
//!
//! | stage | module | takes | gives |
//! |---|---|---|---|
//! | 1. model input, validation (SPEC §1, §2, §8) | [`model`] ([`design`](model::design), [`family`](model::family), [`blocks`](model::blocks), [`options`](model::options)) | formulas + CSV, or a [`ModelSpec`] | [`Model`], [`Blocks`], [`CheckedOptions`] |
//! | 2. start (SPEC §3) | [`start`](mod@start) ([`pql`](start::pql)) | model, options | [`Start`] |
//! | 3. block integrators (SPEC §11, §12) | [`integrate`] ([`adaptive`](integrate::adaptive), [`fixed_sample`](integrate::fixed_sample), exact) | model, blocks, start | [`Objective`], [`McEvaluation`] |
//! | 4. fit: maximise, automatic m, assemble (SPEC §5–§7) | [`fit`](mod@fit) (trust region in the `mcla-trust` crate) | model, options | [`Fit`] |
//! | 5. inference after the fit (SPEC §7) | [`infer`] (wald, predict, profile, compare, ranef, glm, bootstrap) | fit | tests, predictions, intervals, bootstrap and power |
//! | 6. output | [`output`] ([`report`](output::report), [`tidy`](output::tidy)) | fit, tables | text, JSON, CSV |
//!
//! Formulas and CSV data frames live in the `mcla-formula` crate; [`simulate`] draws data
//! from a model (examples, power studies, tests).  The command-line tool (`src/main.rs`,
//! `src/cli/`) is a thin layer over this public API, as are the R and Python bindings.

// Numerical code indexes several arrays with one loop variable, as the maths does, and
// `!(x > 0.0)` is deliberate: it is true for NaN.
#![allow(
    clippy::needless_range_loop,
    clippy::neg_cmp_op_on_partial_ord,
    clippy::too_many_arguments
)]

pub mod fit;
pub mod infer;
pub mod integrate;
pub mod interrupt;
pub mod model;
pub mod output;
pub mod request;
pub mod simulate;
pub mod start;

pub use fit::{
    assemble, fit, fit_interruptible, fit_with_progress, maximise, BlockInfo, Fit, FitError,
    Optimum, Progress,
};
pub use infer::bootstrap::{
    bootstrap, bootstrap_lrt_replicates, bootstrap_replicates, replicate_seed, summarise_bootstrap,
    summarise_lrt, Bootstrap, BootstrapError, BootstrapLrt, BootstrapSummary, Fitted, LrtReplicate,
    ParameterBootstrap, Replicate,
};
pub use infer::power::{
    power, power_replicates, summarise_power, Power, PowerReplicate, PowerStudy, PowerSummary,
    PowerTest,
};
pub use integrate::fixed_sample::sampler::{BlockMixture, ImportanceSample};
pub use integrate::fixed_sample::Mcla;
pub use integrate::{BlockIntegrator, McEvaluation, Objective};
pub use interrupt::Interrupt;
pub use model::blocks::{Block, Blocks};
pub use model::design::{DataRequest, InputError, ModelInput};
pub use model::family::Family;
pub use model::options::{AutoM, CheckedOptions, FitOptions, OptionsError, Sampler};
pub use model::{Csr, Model, ModelError, ModelSpec, RandomBlock};
pub use output::report::{json_report, text_report, ReportInfo};
pub use simulate::{simulate_response, CrossedDesign};
pub use start::pql::{pql, pql_to, PqlStart, PqlTolerance};
pub use start::{start, ImportanceCentre, Start, StartSource};
