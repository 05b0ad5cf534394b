//! Exact likelihood by adaptive Gauss–Hermite quadrature (AGQ), where it applies.
//!
//! When every likelihood block holds a single random effect (one grouping
//! factor of random intercepts, the BoothHobert or bacteria models), each
//! block's integral is one-dimensional and AGQ with enough nodes computes the
//! log-likelihood to near machine precision — the same quantity lme4 computes
//! with `nAGQ = 25`.  This gives an exact reference against which MCLA must
//! converge as m grows; it is also useful on its own.

use crate::model::blocks::Blocks;
use crate::model::options::Sampler;
use crate::model::Model;
use faer::{Mat, Side};
use thiserror::Error;

/// Why AGQ cannot be used.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum QuadratureError {
    #[error("adaptive Gauss-Hermite quadrature needs every likelihood block to hold one random effect (a single grouping factor); block {block} holds {q}")]
    NotOneDimensional { block: usize, q: usize },
    #[error("the number of quadrature nodes must be between 1 and 200 (got {0})")]
    Nodes(usize),
    #[error("theta has {got} values but the model has {expected} parameters")]
    Theta { got: usize, expected: usize },
    #[error("could not compute Gauss-Hermite nodes")]
    NodesFailed,
}

/// Gauss–Hermite nodes and weights for `∫ e^{-x^2} f(x) dx`.
///
/// Nodes are the eigenvalues of the Jacobi matrix (Golub–Welsch), each polished by
/// Newton steps on the orthonormal Hermite recurrence; weights are
/// `e^{-x^2} / sum_j phi_j(x)^2` with the Hermite functions `phi_j`, which is
/// accurate to a few ulps in *relative* terms even for the smallest tail weights
/// (the eigenvector formula is accurate only in absolute terms, and adaptive
/// quadrature multiplies each weight by `e^{x^2}`).  See [`gauss_hermite_log`].
pub fn gauss_hermite(k: usize) -> Result<(Vec<f64>, Vec<f64>), QuadratureError> {
    let (x, lw) = gauss_hermite_log(k)?;
    let w = x.iter().zip(&lw).map(|(x, l)| (l - x * x).exp()).collect();
    Ok((x, w))
}

/// Gauss–Hermite nodes `x_k` and `log(omega_k) + x_k^2` (finite for every node).
///
/// ```
/// let (x, lw) = mcla::integrate::quadrature::gauss_hermite_log(150).unwrap();
/// // ∫ e^{-x^2} dx = sqrt(pi)
/// let s: f64 = x.iter().zip(&lw).map(|(x, l)| (l - x * x).exp()).sum();
/// assert!((s - std::f64::consts::PI.sqrt()).abs() < 1e-13);
/// assert!(lw.iter().all(|l| l.is_finite()));
/// ```
pub fn gauss_hermite_log(k: usize) -> Result<(Vec<f64>, Vec<f64>), QuadratureError> {
    if k == 0 || k > 200 {
        return Err(QuadratureError::Nodes(k));
    }
    let j = Mat::from_fn(k, k, |r, c| {
        if r + 1 == c || c + 1 == r {
            ((r.max(c)) as f64 / 2.0).sqrt()
        } else {
            0.0
        }
    });
    let evd = j
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| QuadratureError::NodesFailed)?;
    let s = evd.S();
    let mut nodes: Vec<f64> = (0..k).map(|i| s[i]).collect();
    let mut log_w = Vec::with_capacity(k);
    for x in nodes.iter_mut() {
        // Newton on phi_k (a zero of H_k), then the weight from the same recurrence.
        for _ in 0..3 {
            let (pk, dpk, _) = hermite_functions(k, *x);
            if dpk != 0.0 {
                *x -= pk / dpk;
            }
        }
        let (_, _, sum_sq) = hermite_functions(k, *x);
        if !(sum_sq > 0.0) || !sum_sq.is_finite() {
            return Err(QuadratureError::NodesFailed);
        }
        log_w.push(-sum_sq.ln());
    }
    Ok((nodes, log_w))
}

/// The orthonormal Hermite functions `phi_j(x) = psi_j(x) e^{-x^2/2}` (`psi_j` the
/// polynomials orthonormal for `e^{-x^2}`), which neither overflow nor underflow for
/// the nodes of up to 200 points: `(phi_k, sqrt(2k) phi_{k-1}, sum_{j<k} phi_j^2)`.
/// The first two have the ratio `psi_k / psi_k'` (a Newton step on `psi_k`), and
/// `omega e^{x^2} = 1 / sum_{j<k} phi_j(x)^2` at a node.
fn hermite_functions(k: usize, x: f64) -> (f64, f64, f64) {
    // phi_0 = pi^{-1/4} e^{-x^2/2}; phi_{j+1} = sqrt(2/(j+1)) x phi_j - sqrt(j/(j+1)) phi_{j-1}
    let mut prev = 0.0;
    let mut cur = std::f64::consts::PI.powf(-0.25) * (-0.5 * x * x).exp();
    let mut sum = 0.0;
    for jj in 0..k {
        sum += cur * cur;
        let next = (2.0 / (jj as f64 + 1.0)).sqrt() * x * cur
            - (jj as f64 / (jj as f64 + 1.0)).sqrt() * prev;
        prev = cur;
        cur = next;
    }
    // psi_k' = sqrt(2k) psi_{k-1}
    (cur, (2.0 * k as f64).sqrt() * prev, sum)
}

/// Log-likelihood at `theta = (beta, nu)` (with the data constants), by AGQ with `nodes` nodes.
pub fn agq_loglik(model: &Model, theta: &[f64], nodes: usize) -> Result<f64, QuadratureError> {
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
    if theta[p..].iter().any(|&v| !(v > 0.0)) {
        return Ok(f64::NEG_INFINITY);
    }
    let (x, w) = gauss_hermite(nodes)?;
    let xb = model.x_beta(&theta[..p]);
    let fam = model.family();
    let mut total = model.data_constant();
    for &i in &blocks.fixed_only {
        total +=
            model.weights()[i] * fam.log_density_kernel(model.y()[i], xb[i], model.trials()[i]);
    }
    for blk in &blocks.blocks {
        let nu = theta[p + blk.component[0]];
        // h(u) = sum w (y eta - c(eta)) - u^2/(2 nu), and its derivatives
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
        // mode by safeguarded Newton (h is strictly concave)
        let mut u = 0.0;
        for _ in 0..100 {
            let (_, g, hh) = h(u);
            let step = -g / hh;
            let mut t = 1.0;
            let v0 = h(u).0;
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
        let mut s = 0.0;
        for (xk, wk) in x.iter().zip(&w) {
            s += wk * (h(u + scale * xk).0 - hmax + xk * xk).exp();
        }
        total += hmax + (scale * s).ln() - 0.5 * (2.0 * std::f64::consts::PI * nu).ln();
    }
    Ok(total)
}

/// Maximum likelihood by AGQ: Nelder–Mead over `(beta, log nu)` from `start`,
/// restarted until it stops moving.  Returns `(theta_hat, loglik)`.
pub fn agq_mle(
    model: &Model,
    start: &[f64],
    nodes: usize,
) -> Result<(Vec<f64>, f64), QuadratureError> {
    let p = model.p();
    agq_loglik(model, start, nodes)?;
    let to_theta = |z: &[f64]| -> Vec<f64> {
        z.iter()
            .enumerate()
            .map(|(j, &v)| if j < p { v } else { v.exp() })
            .collect()
    };
    let mut z: Vec<f64> = start
        .iter()
        .enumerate()
        .map(|(j, &v)| if j < p { v } else { v.ln() })
        .collect();
    let mut best = f64::NEG_INFINITY;
    for _ in 0..10 {
        let mut f = |zz: &[f64]| -> f64 {
            let v = agq_loglik(model, &to_theta(zz), nodes).unwrap_or(f64::NEG_INFINITY);
            if v.is_finite() {
                -v
            } else {
                f64::INFINITY
            }
        };
        z = crate::start::pql::nelder_mead(&mut f, &z, 0.1, 20_000);
        let v = -f(&z);
        if v <= best + 1e-12 {
            best = best.max(v);
            break;
        }
        best = v;
    }
    Ok((to_theta(&z), best))
}

#[cfg(test)]
mod tests {
    use super::gauss_hermite;

    #[test]
    fn gauss_hermite_integrates_polynomials_and_gaussians() {
        let (x, w) = gauss_hermite(20).unwrap();
        let sqrt_pi = std::f64::consts::PI.sqrt();
        let int = |f: &dyn Fn(f64) -> f64| x.iter().zip(&w).map(|(a, b)| b * f(*a)).sum::<f64>();
        assert!((int(&|_| 1.0) - sqrt_pi).abs() < 1e-13);
        assert!((int(&|t| t * t) - sqrt_pi / 2.0).abs() < 1e-13);
        assert!((int(&|t| t.powi(4)) - 3.0 * sqrt_pi / 4.0).abs() < 1e-12);
        // ∫ e^{-x^2} cos(x) dx = sqrt(pi) e^{-1/4}
        assert!((int(&|t| t.cos()) - sqrt_pi * (-0.25f64).exp()).abs() < 1e-13);
    }
}
