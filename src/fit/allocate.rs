//! Draws where the error is: automatic m's allocation of draws between sampled blocks
//! (Neyman allocation, issue 17).
//!
//! The log-likelihood's Monte Carlo variance is the sum of the blocks' variances, and so is
//! each parameter's (through the sandwich `U^{-1} (sum_b V_b) U^{-1}`); block `b`'s part falls
//! as `a_bk / m_b` with `a_bk = m_b var_bk` its variance per draw for criterion `k` (the
//! log-likelihood, or one parameter).  With per-draw cost `c_b` (the block's observations
//! plus effects: the conditional integrals' work per draw), the draws that meet every
//! target `T_k` at least total cost put
//!
//! ```text
//! m_b = lambda sqrt(w_b / c_b),   w_b = sum_k a_bk / T_k^2,
//! lambda = max_k sum_b a_bk sqrt(c_b / w_b) / T_k^2
//! ```
//!
//! (for one criterion this is Neyman's allocation exactly; for several, `w_b` weighs each
//! block by its share of all of them, and `lambda` makes the worst one met).  Each block is
//! then given 10 % to spare; where some block would grow more than 8x (automatic m's largest
//! step per stage) the whole allocation is scaled down until none does, keeping its shape;
//! then each gets at least [`MIN_BLOCK_DRAWS`] (so that its ESS is still checked), at most the
//! maximum m, rounded up to whole Sobol' prefixes.  The per-draw cost `c_b = n_b + q_b` is a
//! proxy (the conditional integrals' work is linear in the observations).  Every block's draws are
//! the first `m_b` of its own streams, so the result depends on the allocation, never on the
//! thread count.

use super::assemble::Fit;
use crate::integrate::BlockSummary;
use crate::model::blocks::Blocks;
use crate::model::options::AutoM;

/// Fewest draws automatic m gives a sampled block after its first stage: enough for an ESS
/// above the fit's warning level ([`ESS_WARNING`](super::assemble::ESS_WARNING) = 100), so
/// that every block's ESS is still checked.
pub const MIN_BLOCK_DRAWS: usize = 256;

/// The next stage's draws per block from the stage just finished: `ms` its draws, `fit` its
/// probe fit (SEs and `vcov` at the reported Hessian), `summaries` its per-block Monte Carlo
/// pieces (in block order), `round` the draw scheme's rounding of m.  Blocks integrated
/// exactly keep their entry.
pub fn allocate(
    fit: &Fit,
    summaries: &[BlockSummary],
    blocks: &Blocks,
    ms: &[usize],
    auto: &AutoM,
    round: &dyn Fn(usize) -> usize,
) -> Vec<usize> {
    let d = fit.theta.len();
    let nb = ms.len().min(summaries.len()).min(blocks.blocks.len());
    // criteria: the log-likelihood, then every parameter with a finite SE
    let free: Vec<usize> = (0..d)
        .filter(|&j| fit.se[j].is_finite() && fit.se[j] > 0.0)
        .collect();
    let mut targets = vec![auto.loglik_mcse * auto.loglik_mcse];
    targets.extend(free.iter().map(|&j| (auto.mcse_ratio * fit.se[j]).powi(2)));
    // a[b][k]: per-draw variance of block b for criterion k
    let mut a: Vec<Vec<f64>> = Vec::with_capacity(nb);
    let mut cost = Vec::with_capacity(nb);
    for b in 0..nb {
        let s = &summaries[b];
        let blk = &blocks.blocks[b];
        cost.push((blk.n() + blk.q()) as f64);
        if s.draws == 0 || s.mc_v.len() != d * d {
            a.push(Vec::new());
            continue;
        }
        let m = s.draws as f64;
        let mut row = vec![m * s.loglik_var.max(0.0)];
        for &j in &free {
            // (vcov V_b vcov)_jj over the free parameters
            let mut v = 0.0;
            for &r in &free {
                for &c in &free {
                    v += fit.vcov[j * d + r] * s.mc_v[r * d + c] * fit.vcov[c * d + j];
                }
            }
            row.push(m * v.max(0.0));
        }
        if row.iter().any(|x| !x.is_finite()) {
            // no usable error estimate: grow it as much as one stage may
            row.iter_mut().for_each(|x| *x = f64::INFINITY);
        }
        a.push(row);
    }
    let w: Vec<f64> = a
        .iter()
        .map(|row| row.iter().zip(&targets).map(|(x, t)| x / t).sum::<f64>())
        .collect();
    let mut lambda = 0.0f64;
    for k in 0..targets.len() {
        let mut s = 0.0;
        for b in 0..nb {
            if !a[b].is_empty() && w[b] > 0.0 && w[b].is_finite() {
                s += a[b][k] * (cost[b] / w[b]).sqrt();
            }
        }
        lambda = lambda.max(s / targets[k]);
    }
    // the allocation, then scaled down as a whole where some block would grow more than a
    // stage may (so the shape of the allocation is kept while far from the targets)
    let growth = super::auto_m::MAX_STAGE_GROWTH as f64;
    let want: Vec<f64> = (0..nb)
        .map(|b| {
            if a[b].is_empty() {
                0.0
            } else if w[b].is_finite() && lambda.is_finite() {
                1.1 * lambda * (w[b] / cost[b]).sqrt()
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let scale = (0..nb)
        .filter(|&b| want[b] > 0.0)
        .map(|b| growth * ms[b] as f64 / want[b])
        .fold(1.0f64, f64::min);
    let mut next = ms.to_vec();
    for b in 0..nb {
        if a[b].is_empty() {
            continue;
        }
        let cap = (super::auto_m::MAX_STAGE_GROWTH * ms[b]).min(auto.max);
        let wb = want[b] * scale;
        let mb = if wb.is_finite() {
            (wb.ceil() as usize).clamp(MIN_BLOCK_DRAWS.min(cap), cap)
        } else {
            cap
        };
        next[b] = round(mb);
    }
    next
}
