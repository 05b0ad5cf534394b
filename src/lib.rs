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
//! The pipeline, one module per stage (each returns a plain value):
//!
//! | stage | module | value |
//! |---|---|---|
//! | model input, validation | [`model`] | [`Model`] |
//! | options | [`options`] | [`CheckedOptions`] |
//! | family | [`family`] | [`Family`] |
//! | PQL start | [`pql`](mod@pql) | [`PqlStart`] |
//! | likelihood blocks | [`blocks`] | [`Blocks`] |
//! | importance sample (fixed-sample samplers) | [`sampler`] | [`ImportanceSample`] |
//! | block integrators (SPEC §12 adaptive, fixed sample, exact) | [`integrate`] | [`Objective`], [`McEvaluation`] |
//! | fixed-sample MCLA kernel | [`objective`] | [`Mcla`] |
//! | trust-region maximiser | `mcla-trust` crate | [`Optimum`] |
//! | inference | [`inference`], [`fit`](mod@fit) | [`Fit`] |
//!
//! Formulas and CSV data frames live in the `mcla-formula` crate; [`design`]
//! turns its model matrices into a [`ModelSpec`] and [`report`] prints a fit as
//! R-style text or JSON.  [`quadrature`] computes the exact likelihood by
//! adaptive Gauss–Hermite quadrature where every block is one-dimensional, and
//! [`simulate`] draws data from a model (examples, power studies, tests).

// Numerical code indexes several arrays with one loop variable, as the maths does, and
// `!(x > 0.0)` is deliberate: it is true for NaN.
#![allow(
    clippy::needless_range_loop,
    clippy::neg_cmp_op_on_partial_ord,
    clippy::too_many_arguments
)]

pub mod blocks;
pub mod compare;
pub mod design;
pub mod diagnostics;
pub mod family;
pub mod fit;
pub mod glm;
pub mod inference;
pub mod integrate;
pub mod model;
pub mod objective;
pub mod options;
pub mod pql;
pub mod predict;
pub mod profile;
pub mod quadrature;
pub mod ranef;
pub mod report;
pub mod sampler;
pub mod simulate;
pub mod special;
pub mod tidy;
pub mod wald;

pub use blocks::{Block, Blocks};
pub use design::{DataRequest, InputError, ModelInput};
pub use family::Family;
pub use fit::{
    fit, fit_with_progress, maximise, start, BlockInfo, Fit, FitError, Optimum, Progress, Start,
    StartSource,
};
pub use integrate::{BlockIntegrator, Objective};
pub use model::{Csr, Model, ModelError, ModelSpec, RandomBlock};
pub use objective::{McEvaluation, Mcla};
pub use options::{AutoM, CheckedOptions, FitOptions, OptionsError, Sampler};
pub use pql::{pql, PqlStart};
pub use report::{json_report, text_report, ReportInfo};
pub use sampler::{BlockMixture, ImportanceCentre, ImportanceSample};
pub use simulate::{simulate_response, CrossedDesign};
