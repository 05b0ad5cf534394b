//! The block-integrator interface and what integrators give back (SPEC §11, §12).
//!
//! A [`BlockIntegrator`] computes one likelihood block's (or a set of blocks')
//! contribution at theta as an [`McEvaluation`]: value, gradient, a Hessian for the
//! trust-region model, per-block [`BlockSummary`]s (normalising quantities, ESS, draws)
//! and the Monte Carlo error pieces; for `ranef` it also gives each block's conditional
//! moments ([`BlockMoments`](super::moments::BlockMoments)).  The types here are the
//! integrators' output; they know nothing of how any integrator works.

use super::moments::BlockMoments;
use super::quadrature::QuadratureError;
use crate::interrupt::Interrupt;
use thiserror::Error;

/// Value, gradient and Hessian of the MCLA at one theta, with the Monte Carlo
/// error pieces there.
#[derive(Debug, Clone, PartialEq)]
pub struct McEvaluation {
    /// `l_m(theta)` as R glmm reports it (without the data constants of SPEC §2).
    pub value: f64,
    /// Gradient (length p + T).
    pub gradient: Vec<f64>,
    /// Hessian, row-major `(p + T) x (p + T)`.
    pub hessian: Vec<f64>,
    /// Per-block summaries.
    pub blocks: Vec<BlockSummary>,
    /// `sum_b V_b` (row-major): per block `sum_k v_k^2 (g_k - c_b)(g_k - c_b)'` with
    /// `c_b` the block's weighted mean gradient (centred) or 0 (R glmm's formula).
    pub mc_v: Vec<f64>,
}

/// One block's normalising quantities at a theta.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSummary {
    /// `max_k b_k`.
    pub log_max: f64,
    /// `sum_k exp(b_k - max)`.
    pub sum_w: f64,
    /// `l_b(theta)`.
    pub value: f64,
    /// `sum_k v_k g_k`.
    pub mean_gradient: Vec<f64>,
    /// Effective sample size `1 / sum_k v_k^2` (infinite for a block integrated exactly).
    pub ess: f64,
    /// Draws of the block (0 for a block integrated exactly).
    pub draws: usize,
    /// Monte Carlo variance of `l_b` (`1/ESS - 1/m` for independent draws; from the
    /// independent groups of draws otherwise, see
    /// [`standard_draws`](crate::integrate::standard_draws)).
    pub loglik_var: f64,
    /// How the block was integrated.
    pub method: BlockMethod,
    /// The block's own `V_b` (row-major, its part of [`McEvaluation::mc_v`]); empty for a
    /// block integrated exactly.  Automatic m allocates draws between blocks from it.
    pub mc_v: Vec<f64>,
}

/// How a block's integral is computed (in JSON: `quadrature`, `nested_quadrature`,
/// `sampled_separator`, `sampled_separator_subtrees`, `importance_sample`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockMethod {
    /// One effect: adaptive Gauss–Hermite quadrature, exact.
    Quadrature,
    /// Nested effects (a tree): nested adaptive Gauss–Hermite quadrature, exact
    /// ([`nested`](crate::integrate::nested)).
    NestedQuadrature,
    /// SPEC §12: the separator sampled, the rest by conditional quadrature.
    SampledSeparator,
    /// SPEC §12 with subtrees (`FitOptions::subtrees`): the separator sampled, the parts
    /// that nest given it by the nested recursion, the rest by conditional quadrature.
    SampledSeparatorSubtrees,
    /// R glmm's fixed importance sample (joint or factorised).
    ImportanceSample,
}

impl BlockMethod {
    /// The method's name, as in JSON (`sampled_separator`, ...).
    pub fn name(self) -> &'static str {
        match self {
            BlockMethod::Quadrature => "quadrature",
            BlockMethod::NestedQuadrature => "nested_quadrature",
            BlockMethod::SampledSeparator => "sampled_separator",
            BlockMethod::SampledSeparatorSubtrees => "sampled_separator_subtrees",
            BlockMethod::ImportanceSample => "importance_sample",
        }
    }
}

/// Replace the row-major `d x d` matrix `m` by `(m + m') / 2`.
pub fn symmetrise(m: &mut [f64], d: usize) {
    for r in 0..d {
        for c in 0..r {
            let v = 0.5 * (m[r * d + c] + m[c * d + r]);
            m[r * d + c] = v;
            m[c * d + r] = v;
        }
    }
}

/// Problems building an integrator.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum IntegratorError {
    #[error("quadrature rule: {0}")]
    Quadrature(QuadratureError),
}

/// One block's (or a set of blocks') contribution to the log-likelihood.
pub trait BlockIntegrator: Send + Sync {
    /// Value (without the data constants), gradient, trust-region model Hessian,
    /// per-block summaries and `sum_b V_b` at theta; `None` outside the parameter
    /// space or where the value is not finite.
    fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation>;
    /// [`evaluate`](BlockIntegrator::evaluate) at theta together with, for each `k` of `ks`,
    /// the evaluation of the same integrator with only its first `k` draws per block (the
    /// whole evaluation again where a block has at most `k`, or is exact), bit for bit what
    /// that smaller integrator gives: the SPEC §12 fit's difference Hessians, at the first
    /// draws, take their centres from here instead of separate evaluations.  The default
    /// evaluates once and copies.
    fn evaluate_with_prefixes(
        &self,
        theta: &[f64],
        ks: &[usize],
    ) -> Option<(McEvaluation, Vec<McEvaluation>)> {
        let e = self.evaluate(theta)?;
        Some((e.clone(), vec![e; ks.len()]))
    }
    /// A copy with at most `k` draws per block (the first `k` of its own: the evaluation is the
    /// one this integrator built with `min(m, k)` draws gives), sharing what does not depend on
    /// m (the scrambled Sobol' sequences, the split, the local data) instead of building it
    /// again; `None` where the integrator cannot (the caller builds one).
    fn with_fewer_draws(&self, k: usize) -> Option<Box<dyn BlockIntegrator + '_>> {
        let _ = k;
        None
    }
    /// Draws per block (0 when integrated exactly).
    fn draws(&self) -> usize;
    /// Whether [`evaluate`](BlockIntegrator::evaluate)'s Hessian is that of the
    /// function itself (otherwise the objective differences the gradient for reporting).
    fn hessian_is_exact(&self) -> bool;
    /// Conditional moments of each covered block's random effects given y at theta
    /// (blocks in order, effects in each block's local order), for `ranef`.
    fn posterior_moments(&self, theta: &[f64]) -> Option<Vec<BlockMoments>>;
    /// Watch `interrupt` during evaluations: once it is triggered, an evaluation may stop
    /// early and return `None` (the caller checks the flag).  The default ignores it (the
    /// evaluation is short, and the caller checks between evaluations).
    fn watch(&mut self, interrupt: &Interrupt) {
        let _ = interrupt;
    }
    /// The number of fixed effects when known (theta's later coordinates are variances, which
    /// the optimiser may hold on the boundary: `fit::maximise`); `None` for a part of a model.
    fn n_fixed(&self) -> Option<usize> {
        None
    }
}
