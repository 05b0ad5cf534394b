//! Random-effect predictions: conditional means and standard deviations `E[u_j | y]`,
//! `SD[u_j | y]` at theta-hat (lme4's `ranef` with `condVar`), with their Monte Carlo error.
//!
//! The per-block moments come from the likelihood approximation that fitted the model
//! ([`Mcla::posterior_moments`](crate::Mcla::posterior_moments) for the fixed importance sample:
//! self-normalised importance weights) or, where a block holds one random effect, from adaptive
//! Gauss–Hermite quadrature ([`agq_ranef`], exact up to the quadrature error).  [`ranef_rows`]
//! turns per-block moments into one [`RanefRow`] per random effect, in the model's effect order.

use crate::blocks::Blocks;
use crate::model::Model;
use crate::options::Sampler;
use crate::quadrature::{gauss_hermite, QuadratureError};
use crate::sampler::CHUNK;
use serde::Serialize;

/// Conditional moments of one random effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RanefRow {
    /// Variance-component name, e.g. `F`.
    pub component: String,
    /// Random-effect name (the design column), e.g. `Female10`.
    pub level: String,
    /// `E[u | y]` at theta-hat.
    pub mean: f64,
    /// `SD[u | y]` at theta-hat.
    pub sd: f64,
    /// Monte Carlo standard error of `mean` (0 for quadrature).
    pub mcse: f64,
}

/// Moments of one block's effects (local order).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockMoments {
    /// Conditional means.
    pub mean: Vec<f64>,
    /// Conditional standard deviations.
    pub sd: Vec<f64>,
    /// Monte Carlo standard errors of the means.
    pub mcse: Vec<f64>,
}

/// Streaming accumulator of self-normalised importance-weighted moments over chunks of draws
/// (`log` weights `b_k`), rescaled to a running maximum so nothing overflows.
#[derive(Debug, Clone)]
pub struct MomentAcc {
    max: f64,
    s0: f64,
    s1: Vec<f64>,
    s2: Vec<f64>,
    t0: f64,
    t1: Vec<f64>,
    t2: Vec<f64>,
    bad: bool,
}

impl MomentAcc {
    /// For `q` effects.
    pub fn new(q: usize) -> MomentAcc {
        MomentAcc {
            max: f64::NEG_INFINITY,
            s0: 0.0,
            s1: vec![0.0; q],
            s2: vec![0.0; q],
            t0: 0.0,
            t1: vec![0.0; q],
            t2: vec![0.0; q],
            bad: false,
        }
    }

    /// Add `len` draws: log weights `b[k]`, draws `u[j][k]`.
    pub fn add_chunk(&mut self, b: &[f64], u: &[[f64; CHUNK]], len: usize) {
        if b.iter().any(|v| v.is_nan()) {
            self.bad = true;
            return;
        }
        let a = b[..len].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !a.is_finite() {
            return;
        }
        if a > self.max {
            let r = if self.max.is_finite() {
                (self.max - a).exp()
            } else {
                0.0
            };
            let r2 = r * r;
            self.s0 *= r;
            self.t0 *= r2;
            for j in 0..self.s1.len() {
                self.s1[j] *= r;
                self.s2[j] *= r;
                self.t1[j] *= r2;
                self.t2[j] *= r2;
            }
            self.max = a;
        }
        let mut w = [0.0f64; CHUNK];
        for k in 0..len {
            w[k] = (b[k] - self.max).exp();
            self.s0 += w[k];
            self.t0 += w[k] * w[k];
        }
        for (j, uj) in u.iter().enumerate().take(self.s1.len()) {
            let (mut a1, mut a2, mut c1, mut c2) = (0.0, 0.0, 0.0, 0.0);
            for k in 0..len {
                let (wk, x) = (w[k], uj[k]);
                a1 += wk * x;
                a2 += wk * x * x;
                c1 += wk * wk * x;
                c2 += wk * wk * x * x;
            }
            self.s1[j] += a1;
            self.s2[j] += a2;
            self.t1[j] += c1;
            self.t2[j] += c2;
        }
    }

    /// The moments; `None` when every weight underflowed or a weight was NaN.
    pub fn finish(&self) -> Option<BlockMoments> {
        if self.bad || !(self.s0 > 0.0) {
            return None;
        }
        let q = self.s1.len();
        let mut out = BlockMoments {
            mean: vec![0.0; q],
            sd: vec![0.0; q],
            mcse: vec![0.0; q],
        };
        let s02 = self.s0 * self.s0;
        for j in 0..q {
            let m = self.s1[j] / self.s0;
            out.mean[j] = m;
            out.sd[j] = (self.s2[j] / self.s0 - m * m).max(0.0).sqrt();
            out.mcse[j] = ((self.t2[j] - 2.0 * m * self.t1[j] + m * m * self.t0) / s02)
                .max(0.0)
                .sqrt();
        }
        Some(out)
    }
}

/// One row per random effect (model order) from per-block moments of `blocks`.
pub fn ranef_rows(model: &Model, blocks: &Blocks, moments: &[BlockMoments]) -> Vec<RanefRow> {
    let mut rows: Vec<Option<RanefRow>> = vec![None; model.q()];
    for (blk, mo) in blocks.blocks.iter().zip(moments) {
        for (l, &j) in blk.effects.iter().enumerate() {
            rows[j] = Some(RanefRow {
                component: model.varcomps_names()[model.effect_component()[j]].clone(),
                level: model.effect_names()[j].clone(),
                mean: mo.mean[l],
                sd: mo.sd[l],
                mcse: mo.mcse[l],
            });
        }
    }
    rows.into_iter().flatten().collect()
}

/// The fit's random-effect predictions from its importance sample at `theta` (empty when the
/// weights of some block all underflow there).
pub fn ranef_from_mcla(
    model: &Model,
    blocks: &Blocks,
    mcla: &crate::objective::Mcla<'_>,
    theta: &[f64],
) -> Vec<RanefRow> {
    match mcla.posterior_moments(theta) {
        Some(m) => ranef_rows(model, blocks, &m),
        None => Vec::new(),
    }
}

/// Exact conditional moments by adaptive Gauss–Hermite quadrature with `nodes` nodes, where every
/// likelihood block holds one random effect (one grouping factor of intercepts or slopes).
///
/// For block `b` with `h(u) = sum_i w_i log f(y_i | eta_i) - u^2 / (2 nu)`, each moment is
/// `int u^r e^h du / int e^h du`, evaluated on the nodes centred at the mode of `h` and scaled by
/// its curvature.
pub fn agq_ranef(
    model: &Model,
    theta: &[f64],
    nodes: usize,
) -> Result<Vec<RanefRow>, QuadratureError> {
    let (p, d) = (model.p(), model.n_params());
    if theta.len() != d {
        return Err(QuadratureError::Theta {
            got: theta.len(),
            expected: d,
        });
    }
    let blocks = Blocks::new(model, Sampler::Factorised);
    if let Some((b, blk)) = blocks.blocks.iter().enumerate().find(|(_, b)| b.q() != 1) {
        return Err(QuadratureError::NotOneDimensional {
            block: b + 1,
            q: blk.q(),
        });
    }
    let (x, w) = gauss_hermite(nodes)?;
    let xb = model.x_beta(&theta[..p]);
    let fam = model.family();
    let mut moments = Vec::with_capacity(blocks.blocks.len());
    for blk in &blocks.blocks {
        let nu = theta[p + blk.component[0]];
        let h = |u: f64| -> (f64, f64, f64) {
            let (mut v, mut g, mut hh) = (-u * u / (2.0 * nu), -u / nu, -1.0 / nu);
            for (r, &i) in blk.obs.iter().enumerate() {
                let (_, vals) = blk.z.row(r);
                let zv = vals[0];
                let eta = xb[i] + zv * u;
                let (wi, yi, nt) = (model.weights()[i], model.y()[i], model.trials()[i]);
                v += wi * fam.log_density_kernel(yi, eta, nt);
                g += wi * zv * (yi - fam.mean(eta, nt));
                hh -= wi * zv * zv * fam.variance(eta, nt);
            }
            (v, g, hh)
        };
        let mut u = 0.0;
        for _ in 0..100 {
            let (v0, g, hh) = h(u);
            let step = -g / hh;
            let mut t = 1.0;
            while h(u + t * step).0 < v0 && t > 1e-10 {
                t *= 0.5;
            }
            u += t * step;
            if (t * step).abs() < 1e-12 * (1.0 + u.abs()) {
                break;
            }
        }
        let (hmax, _, hh) = h(u);
        let scale = (2.0 / -hh).sqrt();
        let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
        for (xk, wk) in x.iter().zip(&w) {
            let uk = u + scale * xk;
            let f = wk * (h(uk).0 - hmax + xk * xk).exp();
            s0 += f;
            s1 += f * uk;
            s2 += f * uk * uk;
        }
        let m = s1 / s0;
        moments.push(BlockMoments {
            mean: vec![m],
            sd: vec![(s2 / s0 - m * m).max(0.0).sqrt()],
            mcse: vec![0.0],
        });
    }
    Ok(ranef_rows(model, &blocks, &moments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulator_matches_direct_weighted_moments_across_rescaling() {
        // two chunks, the second with a much larger log weight (forces rescaling)
        let b1 = [0.0, -1.0, 0.5];
        let b2 = [30.0, 29.0];
        let mut u1 = vec![[0.0; CHUNK]];
        u1[0][..3].copy_from_slice(&[1.0, 2.0, 3.0]);
        let mut u2 = vec![[0.0; CHUNK]];
        u2[0][..2].copy_from_slice(&[-1.0, 4.0]);
        let mut acc = MomentAcc::new(1);
        acc.add_chunk(&b1, &u1, 3);
        acc.add_chunk(&b2, &u2, 2);
        let m = acc.finish().unwrap();
        let all_b = [0.0, -1.0, 0.5, 30.0, 29.0];
        let all_u = [1.0, 2.0, 3.0, -1.0, 4.0];
        let w: Vec<f64> = all_b.iter().map(|b| (b - 30.0f64).exp()).collect();
        let s: f64 = w.iter().sum();
        let v: Vec<f64> = w.iter().map(|x| x / s).collect();
        let mean: f64 = v.iter().zip(&all_u).map(|(a, b)| a * b).sum();
        let var: f64 = v
            .iter()
            .zip(&all_u)
            .map(|(a, b)| a * (b - mean).powi(2))
            .sum();
        let mc: f64 = v
            .iter()
            .zip(&all_u)
            .map(|(a, b)| a * a * (b - mean).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((m.mean[0] - mean).abs() < 1e-12);
        assert!((m.sd[0] - var.sqrt()).abs() < 1e-12);
        assert!((m.mcse[0] - mc).abs() < 1e-12);
    }
}
