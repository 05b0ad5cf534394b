//! The log-likelihood approximation as a sum of block integrators (SPEC §11, §12).
//!
//! The log-likelihood is a sum over the independent blocks of
//! [`Blocks`] plus the exact log density of observations that involve no
//! random effect ([`FixedOnly`]).  [`Objective`] sums its parts in parallel, in a fixed
//! order (bit-identical for any thread count), knowing nothing of how each integrates;
//! [`Objective::difference_hessian`] (forward differences of the analytic gradient) gives the
//! Hessian of the function maximised where a part's own Hessian is only a model,
//! [`Objective::reported_evaluation`] an evaluation with that Hessian (the fit forms the one it
//! reports in `fit::auto_m`, from evaluations it already has), and
//! [`Objective::final_evaluation`] the central-difference reference.

use super::adaptive::{AdaptiveBlock, AdaptiveSettings};
use super::integrator::{symmetrise, BlockIntegrator, IntegratorError, McEvaluation};
use super::moments::BlockMoments;
use super::nested::{NestedBlock, Tree, NESTED_BUDGET};
use crate::interrupt::Interrupt;
use crate::model::blocks::Block;
use crate::model::blocks::Blocks;
use crate::model::Model;
use rayon::prelude::*;

/// The tree of `block`'s effects where nested quadrature integrates it: two or more effects
/// that nest, at a [`Tree::cost`] within [`NESTED_BUDGET`] with `nodes` per level (a single
/// effect is integrated exactly by the adaptive block's own quadrature).
pub fn nested_tree(block: &Block, nodes: usize) -> Option<Tree> {
    if block.q() < 2 {
        return None;
    }
    Tree::of(block).filter(|t| t.cost(nodes) <= NESTED_BUDGET)
}

/// Observations that involve no random effect: their exact log density.
#[derive(Debug, Clone)]
pub struct FixedOnly<'a> {
    model: &'a Model,
    obs: Vec<usize>,
}

impl<'a> FixedOnly<'a> {
    /// The observations `obs` of `model`.
    pub fn new(model: &'a Model, obs: Vec<usize>) -> FixedOnly<'a> {
        FixedOnly { model, obs }
    }
}

impl BlockIntegrator for FixedOnly<'_> {
    fn with_fewer_draws(&self, _k: usize) -> Option<Box<dyn BlockIntegrator + '_>> {
        Some(Box::new(self.clone()))
    }
    fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation> {
        let model = self.model;
        let (p, d) = (model.p(), model.n_params());
        let fam = model.family();
        let (mut value, mut grad, mut hess) = (0.0, vec![0.0; d], vec![0.0; d * d]);
        for &i in &self.obs {
            let xr = model.x_row(i);
            let eta: f64 = xr.iter().zip(&theta[..p]).map(|(a, b)| a * b).sum();
            let (w, y, nt) = (model.weights()[i], model.y()[i], model.trials()[i]);
            value += w * fam.log_density_kernel(y, eta, nt);
            let res = w * (y - fam.mean(eta, nt));
            let wc = w * fam.variance(eta, nt);
            for a in 0..p {
                grad[a] += xr[a] * res;
                for b in 0..p {
                    hess[a * d + b] -= wc * xr[a] * xr[b];
                }
            }
        }
        value.is_finite().then(|| McEvaluation {
            value,
            gradient: grad,
            hessian: hess,
            blocks: Vec::new(),
            mc_v: vec![0.0; d * d],
        })
    }
    fn draws(&self) -> usize {
        0
    }
    fn hessian_is_exact(&self) -> bool {
        true
    }
    fn posterior_moments(&self, _theta: &[f64]) -> Option<Vec<BlockMoments>> {
        Some(Vec::new())
    }
}

impl BlockIntegrator for Objective<'_> {
    fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation> {
        Objective::evaluate(self, theta)
    }
    fn evaluate_with_prefixes(
        &self,
        theta: &[f64],
        ks: &[usize],
    ) -> Option<(McEvaluation, Vec<McEvaluation>)> {
        Objective::evaluate_with_prefixes(self, theta, ks)
    }
    fn n_fixed(&self) -> Option<usize> {
        Some(self.model.p())
    }
    fn draws(&self) -> usize {
        Objective::draws(self)
    }
    fn hessian_is_exact(&self) -> bool {
        self.parts.iter().all(|p| p.hessian_is_exact())
    }
    fn watch(&mut self, interrupt: &Interrupt) {
        for p in &mut self.parts {
            p.watch(interrupt);
        }
        self.interrupt = Some(interrupt.clone());
    }
    fn posterior_moments(&self, theta: &[f64]) -> Option<Vec<BlockMoments>> {
        let per: Vec<Option<Vec<BlockMoments>>> = self
            .parts
            .par_iter()
            .map(|p| p.posterior_moments(theta))
            .collect();
        let mut out = Vec::new();
        for m in per {
            out.extend(m?);
        }
        Some(out)
    }
}

/// The log-likelihood approximation: a sum of block integrators (itself one).
pub struct Objective<'a> {
    model: &'a Model,
    parts: Vec<Box<dyn BlockIntegrator + 'a>>,
    interrupt: Option<Interrupt>,
}

impl<'a> Objective<'a> {
    /// An objective from given parts.
    pub fn new(model: &'a Model, parts: Vec<Box<dyn BlockIntegrator + 'a>>) -> Objective<'a> {
        Objective {
            model,
            parts,
            interrupt: None,
        }
    }

    /// The SPEC §12 objective: per block of `blocks` (factorised) a [`NestedBlock`] where
    /// its effects nest (two or more, work within [`NESTED_BUDGET`], `settings.nested`), else
    /// an [`AdaptiveBlock`] with `m` draws, plus the observations without random effects.
    pub fn adaptive(
        model: &'a Model,
        blocks: &Blocks,
        m: usize,
        seed: u64,
        u_start: &[f64],
        settings: AdaptiveSettings,
    ) -> Result<Objective<'a>, IntegratorError> {
        let ms = vec![m; blocks.blocks.len()];
        Objective::adaptive_allocated(model, blocks, &ms, seed, u_start, settings)
    }

    /// [`adaptive`](Objective::adaptive) with `ms[b]` draws for block `b` (automatic m's
    /// allocation); block `b`'s draws are the first `ms[b]` of its own stream, whatever the
    /// other blocks get.
    pub fn adaptive_allocated(
        model: &'a Model,
        blocks: &Blocks,
        ms: &[usize],
        seed: u64,
        u_start: &[f64],
        settings: AdaptiveSettings,
    ) -> Result<Objective<'a>, IntegratorError> {
        let mut parts: Vec<Box<dyn BlockIntegrator + 'a>> = Vec::new();
        for (b, block) in blocks.blocks.iter().enumerate() {
            if let Some(tree) = settings
                .nested
                .then(|| nested_tree(block, settings.nodes))
                .flatten()
            {
                parts.push(Box::new(NestedBlock::new(
                    model,
                    block,
                    tree,
                    settings.nodes,
                    u_start,
                )?));
                continue;
            }
            parts.push(Box::new(AdaptiveBlock::new(
                model,
                block,
                b,
                ms.get(b).copied().unwrap_or(1),
                seed,
                u_start,
                settings,
            )?));
        }
        if !blocks.fixed_only.is_empty() {
            parts.push(Box::new(FixedOnly::new(model, blocks.fixed_only.clone())));
        }
        Ok(Objective {
            model,
            parts,
            interrupt: None,
        })
    }

    /// This objective with at most `k` draws per block (the first `k` of each block's own),
    /// its parts' copies ([`BlockIntegrator::with_fewer_draws`]): the same function as
    /// [`adaptive_allocated`](Objective::adaptive_allocated) with `min(m_b, k)` draws, without
    /// scrambling the Sobol' sequences again; `None` where a part cannot be copied so.
    pub fn with_fewer_draws(&self, k: usize) -> Option<Objective<'_>> {
        let parts = self
            .parts
            .iter()
            .map(|p| p.with_fewer_draws(k))
            .collect::<Option<Vec<_>>>()?;
        Some(Objective {
            model: self.model,
            parts,
            interrupt: self.interrupt.clone(),
        })
    }

    /// Number of parameters `p + T`.
    pub fn dim(&self) -> usize {
        self.model.n_params()
    }

    fn check_theta(&self, theta: &[f64]) -> bool {
        theta.len() == self.dim()
            && theta.iter().all(|v| v.is_finite())
            && theta[self.model.p()..].iter().all(|&nu| nu > 0.0)
    }

    /// The sum of the parts at theta (Hessian: the trust-region model's).
    pub fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation> {
        if !self.check_theta(theta) || self.interrupted() {
            return None;
        }
        let evals: Vec<Option<McEvaluation>> =
            self.parts.par_iter().map(|p| p.evaluate(theta)).collect();
        self.sum(evals)
    }

    /// [`evaluate`](Objective::evaluate) and, from the same passes, the evaluation of this
    /// objective with the first `k` draws per block
    /// ([`BlockIntegrator::evaluate_with_prefixes`]): bit for bit the evaluation of
    /// [`adaptive_allocated`](Objective::adaptive_allocated) with `min(m_b, k)` draws.
    pub fn evaluate_with_prefix(
        &self,
        theta: &[f64],
        k: usize,
    ) -> Option<(McEvaluation, McEvaluation)> {
        let (whole, mut prefixes) = self.evaluate_with_prefixes(theta, &[k])?;
        Some((whole, prefixes.pop()?))
    }

    /// [`evaluate_with_prefix`](Objective::evaluate_with_prefix) for each `k` of `ks`, from
    /// one pass.
    pub fn evaluate_with_prefixes(
        &self,
        theta: &[f64],
        ks: &[usize],
    ) -> Option<(McEvaluation, Vec<McEvaluation>)> {
        if !self.check_theta(theta) || self.interrupted() {
            return None;
        }
        let evals: Vec<Option<(McEvaluation, Vec<McEvaluation>)>> = self
            .parts
            .par_iter()
            .map(|p| p.evaluate_with_prefixes(theta, ks))
            .collect();
        let mut whole = Vec::with_capacity(evals.len());
        let mut prefixes: Vec<Vec<Option<McEvaluation>>> = vec![Vec::new(); ks.len()];
        for e in evals {
            let (w, ps) = e?;
            whole.push(Some(w));
            for (acc, p) in prefixes.iter_mut().zip(ps) {
                acc.push(Some(p));
            }
        }
        let prefixes = prefixes
            .into_iter()
            .map(|parts| self.sum(parts))
            .collect::<Option<Vec<_>>>()?;
        Some((self.sum(whole)?, prefixes))
    }

    /// The parts' evaluations added up in order; `None` when one is missing or the value is
    /// not finite.
    fn sum(&self, evals: Vec<Option<McEvaluation>>) -> Option<McEvaluation> {
        let d = self.dim();
        let mut total = McEvaluation {
            value: 0.0,
            gradient: vec![0.0; d],
            hessian: vec![0.0; d * d],
            blocks: Vec::new(),
            mc_v: vec![0.0; d * d],
        };
        for e in evals {
            let e = e?;
            total.value += e.value;
            for (a, b) in total.gradient.iter_mut().zip(&e.gradient) {
                *a += b;
            }
            for (a, b) in total.hessian.iter_mut().zip(&e.hessian) {
                *a += b;
            }
            for (a, b) in total.mc_v.iter_mut().zip(&e.mc_v) {
                *a += b;
            }
            total.blocks.extend(e.blocks);
        }
        total.value.is_finite().then_some(total)
    }

    /// [`evaluate`](Objective::evaluate) with the central-difference Hessian (the reference the
    /// fit's forward-difference Hessian is tested against): where some part's
    /// Hessian is only a model, the central difference of the analytic gradient
    /// (step `1e-4 max(|theta_j|, 0.01)`, symmetrised) — the Hessian of the function
    /// that was maximised, as vcov and the MCSE sandwich need (SPEC §12 e).
    pub fn final_evaluation(&self, theta: &[f64]) -> Option<McEvaluation> {
        let mut base = self.evaluate(theta)?;
        if self.parts.iter().all(|p| p.hessian_is_exact()) {
            return Some(base);
        }
        let d = self.dim();
        let p = self.model.p();
        let step = |j: usize| difference_step(1e-4, theta, p, j);
        let grads: Vec<Option<Vec<f64>>> = (0..2 * d)
            .into_par_iter()
            .map(|k| {
                let j = k / 2;
                let mut t = theta.to_vec();
                t[j] += if k % 2 == 0 { step(j) } else { -step(j) };
                self.evaluate(&t).map(|e| e.gradient)
            })
            .collect();
        let mut h = vec![0.0; d * d];
        for j in 0..d {
            let (gp, gm) = (grads[2 * j].as_ref()?, grads[2 * j + 1].as_ref()?);
            for r in 0..d {
                h[r * d + j] = (gp[r] - gm[r]) / (2.0 * step(j));
            }
        }
        symmetrise(&mut h, d);
        base.hessian = h;
        Some(base)
    }

    /// Whether the watched interrupt (if any) was triggered.
    fn interrupted(&self) -> bool {
        self.interrupt.as_ref().is_some_and(Interrupt::is_triggered)
    }

    /// The Hessian at theta by forward differences of the analytic gradient, one evaluation
    /// per parameter (step [`difference_step`] with relative step 1e-4), reusing
    /// `centre` (this objective's gradient at theta) when given; symmetrised.  For a sampled
    /// objective this is the Hessian of the function that is maximised (for fixed draws it is
    /// smooth), accurate to the step's truncation error, `O(1e-4)` relative; `None` when the
    /// objective is not finite at a step.
    pub fn difference_hessian(&self, theta: &[f64], centre: Option<&[f64]>) -> Option<Vec<f64>> {
        let d = self.dim();
        let p = self.model.p();
        let step = |j: usize| difference_step(1e-4, theta, p, j);
        let first = usize::from(centre.is_some());
        let grads: Vec<Option<Vec<f64>>> = (first..=d)
            .into_par_iter()
            .map(|k| {
                let mut t = theta.to_vec();
                if k > 0 {
                    t[k - 1] += step(k - 1);
                }
                self.evaluate(&t).map(|e| e.gradient)
            })
            .collect();
        let g0: &[f64] = match centre {
            Some(c) => c,
            None => grads[0].as_deref()?,
        };
        let mut h = vec![0.0; d * d];
        for j in 0..d {
            let gj = grads[j + 1 - first].as_ref()?;
            for r in 0..d {
                h[r * d + j] = (gj[r] - g0[r]) / step(j);
            }
        }
        symmetrise(&mut h, d);
        h.iter().all(|v| v.is_finite()).then_some(h)
    }

    /// [`evaluate`](Objective::evaluate) at theta with the Hessian to report: where some part's
    /// Hessian is only a model, the forward difference of the analytic gradient
    /// ([`difference_hessian`](Objective::difference_hessian)) of `hessian_from` (the same model
    /// with the first fewer draws), or of this objective (`None`: the centre is this
    /// evaluation's gradient).
    pub fn reported_evaluation(
        &self,
        theta: &[f64],
        hessian_from: Option<&Objective<'_>>,
    ) -> Option<McEvaluation> {
        let mut base = self.evaluate(theta)?;
        if self.parts.iter().all(|p| p.hessian_is_exact()) {
            return Some(base);
        }
        base.hessian = match hessian_from {
            Some(h) => h.difference_hessian(theta, None)?,
            None => self.difference_hessian(theta, Some(&base.gradient))?,
        };
        Some(base)
    }

    /// Number of parts that draw samples (blocks with a separator, fixed samples).
    pub fn sampled_parts(&self) -> usize {
        self.parts.iter().filter(|p| p.draws() > 0).count()
    }

    /// Draws per block of the sampled parts (the most of any block; 0 when everything is
    /// exact).
    pub fn draws(&self) -> usize {
        self.parts.iter().map(|p| p.draws()).max().unwrap_or(0)
    }

    /// Draws of all sampled parts together.
    pub fn total_draws(&self) -> usize {
        self.parts.iter().map(|p| p.draws()).sum()
    }
}

/// The step of a finite difference in parameter `j` of `theta` (`p` fixed effects first):
/// `rel * max(|theta_j|, 0.1)` for a fixed effect, `rel * max(|theta_j|, 0.01)` and at most half
/// the value for a variance.  The floors keep the step above the gradient's rounding noise
/// (~1e-11 absolute on a crossed model with m draws: a relative step of 1e-4 at beta = 0.003
/// would be 3e-7, and a Hessian from it off by 1e-4).
pub fn difference_step(rel: f64, theta: &[f64], p: usize, j: usize) -> f64 {
    if j < p {
        rel * theta[j].abs().max(0.1)
    } else {
        (rel * theta[j].abs().max(0.01)).min(0.5 * theta[j])
    }
}
