//! Random-effect predictions: conditional means and standard deviations `E[u_j | y]`,
//! `SD[u_j | y]` at theta-hat (lme4's `ranef` with `condVar`), with their Monte Carlo error.
//!
//! The per-block moments come from the likelihood approximation that fitted the model
//! ([`Mcla::posterior_moments`](crate::Mcla::posterior_moments) for the fixed importance sample:
//! self-normalised importance weights) or, where a block holds one random effect, from adaptive
//! Gauss–Hermite quadrature ([`agq_ranef`], exact up to the quadrature error).  [`ranef_rows`]
//! turns per-block moments into one [`RanefRow`] per random effect, in the model's effect order.

use crate::integrate::moments::ranef_rows;
use crate::integrate::quadrature::{gauss_hermite, QuadratureError};
use crate::integrate::{BlockMoments, RanefRow};
use crate::model::blocks::Blocks;
use crate::model::options::Sampler;
use crate::model::Model;

/// The fit's random-effect predictions from its importance sample at `theta` (empty when the
/// weights of some block all underflow there).
pub fn ranef_from_mcla(
    model: &Model,
    blocks: &Blocks,
    mcla: &crate::integrate::fixed_sample::Mcla<'_>,
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
