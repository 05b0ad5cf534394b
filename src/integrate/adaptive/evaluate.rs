//! One evaluation at theta: the exact path (empty separator) and the sampled path (chunks
//! in parallel, reduced in a fixed order), and the [`BlockIntegrator`] implementation.

use super::super::standard_draws;
use super::super::{symmetrise, BlockIntegrator, BlockMethod, BlockSummary, McEvaluation};
use super::block::AdaptiveBlock;
use super::block::ADAPTIVE_CHUNK;
use super::scratch::{ChunkOut, Scratch};
use crate::interrupt::Interrupt;
use rayon::prelude::*;

impl AdaptiveBlock {
    pub(super) fn evaluate_exact(&self, theta: &[f64]) -> Option<McEvaluation> {
        let d = self.d;
        let xb = self.x_beta(&theta[..self.p]);
        let mut s = Scratch::default();
        let value = self.draw_terms(theta, &xb, None, &mut s);
        if !value.is_finite() {
            return None;
        }
        Some(McEvaluation {
            value,
            gradient: s.part.clone(),
            hessian: s.hk.clone(),
            blocks: vec![BlockSummary {
                log_max: value,
                sum_w: 1.0,
                value,
                mean_gradient: s.part,
                ess: f64::INFINITY,
                draws: 0,
                loglik_var: 0.0,
                method: BlockMethod::Quadrature,
                mc_v: Vec::new(),
            }],
            mc_v: vec![0.0; d * d],
        })
    }

    pub(super) fn evaluate_sampled(&self, theta: &[f64]) -> Option<McEvaluation> {
        let outs = self.sampled_chunks(theta, self.m)?;
        self.reduce(&outs, self.m)
    }

    /// [`evaluate_sampled`](Self::evaluate_sampled) and, from the same pass, for each `k` of
    /// `ks` the evaluation with only the first `k` draws (rounded as the draw scheme rounds m;
    /// the whole evaluation again when that is not below m): bit for bit what this block with
    /// `k` draws gives, since the proposal does not depend on m and chunk `c` holds the same
    /// draws for every m (the difference Hessians' centres, `fit::auto_m`).  `None` when one
    /// is not finite.
    pub(super) fn evaluate_sampled_with_prefixes(
        &self,
        theta: &[f64],
        ks: &[usize],
    ) -> Option<(McEvaluation, Vec<McEvaluation>)> {
        let outs = self.sampled_chunks(theta, self.m)?;
        let whole = self.reduce(&outs, self.m)?;
        let mut prefixes = Vec::with_capacity(ks.len());
        for &k in ks {
            let km = self.z_draws.scheme().round_m(k);
            prefixes.push(if km >= self.m {
                whole.clone()
            } else if km.is_multiple_of(ADAPTIVE_CHUNK) {
                self.reduce(&outs[..km / ADAPTIVE_CHUNK], km)?
            } else {
                // a prefix that ends inside a chunk: its own pass (never with the fit's
                // 64 and 128)
                self.reduce(&self.sampled_chunks(theta, km)?, km)?
            });
        }
        Some((whole, prefixes))
    }

    /// The proposal at theta, its derivatives and the per-draw terms of the chunks of the first
    /// `m` draws (chunks in parallel, in draw order); `None` where the proposal fails or on an
    /// interrupt.
    fn sampled_chunks(&self, theta: &[f64], m: usize) -> Option<Vec<ChunkOut>> {
        let mut s = Scratch::default();
        let prop = self.proposal(theta, None, &mut s)?;
        let derivs = self.derivs(theta, &prop)?;
        let xb = self.x_beta(&theta[..self.p]);
        let n_chunks = m.div_ceil(ADAPTIVE_CHUNK);
        let outs: Vec<ChunkOut> = (0..n_chunks)
            .into_par_iter()
            .map_init(Scratch::default, |s, c| {
                if self.interrupted() {
                    return ChunkOut::default();
                }
                self.chunk(theta, &xb, &prop, &derivs, c, m, s)
            })
            .collect();
        if self.interrupted() {
            return None;
        }
        Some(outs)
    }

    /// The evaluation from the chunk outputs of the first `m` draws (`outs`, in draw order).
    fn reduce(&self, outs: &[ChunkOut], m: usize) -> Option<McEvaluation> {
        let d = self.d;
        let a = outs
            .iter()
            .map(|o| o.h_max)
            .fold(f64::NEG_INFINITY, f64::max);
        if !a.is_finite() {
            return None;
        }
        let mut sum_w = 0.0;
        for o in outs {
            for &lw in &o.lw {
                sum_w += (lw - a).exp();
            }
        }
        if !(sum_w > 0.0) || !sum_w.is_finite() {
            return None;
        }
        let value = a + sum_w.ln() - (m as f64).ln();
        let mut grad = vec![0.0; d];
        let mut pbar = vec![0.0; d];
        let mut hess = vec![0.0; d * d];
        let mut s2 = 0.0;
        for o in outs {
            let f = (o.h_max - a).exp() / sum_w;
            for (h, x) in hess.iter_mut().zip(&o.h_sum) {
                *h += f * x;
            }
            for (k, &lw) in o.lw.iter().enumerate() {
                let v = (lw - a).exp() / sum_w;
                s2 += v * v;
                for j in 0..d {
                    grad[j] += v * o.total[k * d + j];
                    pbar[j] += v * o.part[k * d + j];
                }
            }
        }
        // Louis' identity (zero when the block does not form it)
        for o in outs.iter().filter(|_| self.settings.louis) {
            for (k, &lw) in o.lw.iter().enumerate() {
                let v = (lw - a).exp() / sum_w;
                let pk = &o.part[k * d..(k + 1) * d];
                for r in 0..d {
                    let dp = pk[r] - pbar[r];
                    for c in 0..d {
                        hess[r * d + c] += v * dp * (pk[c] - pbar[c]);
                    }
                }
            }
        }
        // Monte Carlo error: over draws (plain) or over the independent groups of draws
        // (Sobol' replicates, antithetic pairs); see `standard_draws`
        let mut mc_v = vec![0.0; d * d];
        let per_draw = outs.iter().enumerate().flat_map(|(c, o)| {
            o.lw.iter().enumerate().map(move |(k, &lw)| {
                (
                    c * ADAPTIVE_CHUNK + k,
                    (lw - a).exp() / sum_w,
                    &o.total[k * d..(k + 1) * d],
                )
            })
        });
        let loglik_var =
            standard_draws::mc_error(self.z_draws.scheme(), m, d, &grad, per_draw, &mut mc_v);
        symmetrise(&mut hess, d);
        symmetrise(&mut mc_v, d);
        if !value.is_finite() || grad.iter().chain(&hess).any(|v| !v.is_finite()) {
            return None;
        }
        Some(McEvaluation {
            value,
            gradient: grad.clone(),
            hessian: hess,
            blocks: vec![BlockSummary {
                log_max: a,
                sum_w,
                value,
                mean_gradient: grad,
                ess: 1.0 / s2,
                draws: m,
                loglik_var,
                method: if self.subtrees.is_empty() {
                    BlockMethod::SampledSeparator
                } else {
                    BlockMethod::SampledSeparatorSubtrees
                },
                mc_v: mc_v.clone(),
            }],
            mc_v,
        })
    }
}

impl AdaptiveBlock {
    /// Whether the watched interrupt (if any) was triggered.
    fn interrupted(&self) -> bool {
        self.interrupt.as_ref().is_some_and(Interrupt::is_triggered)
    }
}

impl BlockIntegrator for AdaptiveBlock {
    fn watch(&mut self, interrupt: &Interrupt) {
        self.interrupt = Some(interrupt.clone());
    }
    fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation> {
        if self.n_s() == 0 {
            self.evaluate_exact(theta)
        } else {
            self.evaluate_sampled(theta)
        }
    }
    fn evaluate_with_prefixes(
        &self,
        theta: &[f64],
        ks: &[usize],
    ) -> Option<(McEvaluation, Vec<McEvaluation>)> {
        if self.n_s() == 0 {
            let e = self.evaluate_exact(theta)?;
            return Some((e.clone(), vec![e; ks.len()]));
        }
        self.evaluate_sampled_with_prefixes(theta, ks)
    }
    fn with_fewer_draws(&self, k: usize) -> Option<Box<dyn BlockIntegrator + '_>> {
        let mut b = self.clone();
        b.m = self.m.min(self.z_draws.scheme().round_m(k));
        Some(Box::new(b))
    }
    fn draws(&self) -> usize {
        if self.n_s() == 0 {
            0
        } else {
            self.m
        }
    }
    fn hessian_is_exact(&self) -> bool {
        // exact blocks: E[∂²] + Cov on the nodes is the Hessian of the integral
        self.n_s() == 0
    }
    fn posterior_moments(&self, theta: &[f64]) -> Option<Vec<crate::integrate::BlockMoments>> {
        AdaptiveBlock::posterior_moments(self, theta, &self.block_effects).map(|m| vec![m])
    }
}
