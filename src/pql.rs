//! Penalized quasi-likelihood start: the centre of the importance distribution (SPEC §3).
//!
//! With standard deviations `sigma_t` and standardised effects `s` (`u = A s`,
//! `A = diag(sigma_t(j))`), the inner problem maximises the concave
//! `sum_i w_i (y_i eta_i - c(eta_i)) - s's/2` over `(beta, s)` by damped Newton
//! steps, warm-started from the previous solution; the outer problem minimises
//! `0.5 log det(A Z'WCZ A + I) + 0.5 s's - sum_i w_i (y_i eta_i - c(eta_i))`
//! over `sigma` by Nelder–Mead from `sigma = 1`, run to a tight tolerance (R
//! glmm's `optim` call stops early).

use crate::model::Model;
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use thiserror::Error;

/// Errors of the PQL stage.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PqlError {
    #[error("the PQL inner problem failed (non-finite or singular system at sigma = {sigma:?}); the data may be separated: try --no-pql or --par-init")]
    InnerFailed { sigma: Vec<f64> },
}

/// Result of the PQL stage.
#[derive(Debug, Clone, PartialEq)]
pub struct PqlStart {
    /// Fixed effects `beta*`.
    pub beta: Vec<f64>,
    /// Standard deviations `|sigma*_t|`, each at least 1e-3.
    pub sigma: Vec<f64>,
    /// Variance components `nu* = sigma*^2`.
    pub nu: Vec<f64>,
    /// Standardised random effects `s*`.
    pub s: Vec<f64>,
    /// Random-effect modes `u* = A* s*`.
    pub u_star: Vec<f64>,
    /// Outer criterion at the solution.
    pub criterion: f64,
    /// Number of outer criterion evaluations.
    pub outer_evaluations: usize,
}

struct Inner {
    beta: Vec<f64>,
    s: Vec<f64>,
    criterion: f64,
}

/// Solve the inner problem at `sigma` (per variance component), warm-started from `start = (beta, s)`.
fn inner(model: &Model, sigma: &[f64], start: &mut Vec<f64>) -> Option<Inner> {
    let (n, p, q) = (model.n(), model.p(), model.q());
    let dim = p + q;
    let a: Vec<f64> = model.effect_component().iter().map(|&t| sigma[t]).collect();
    let fam = model.family();
    let z = model.z();
    let objective = |th: &[f64]| -> (f64, Vec<f64>) {
        let u: Vec<f64> = (0..q).map(|j| a[j] * th[p + j]).collect();
        let eta = model.linear_predictor(&th[..p], &u);
        let h = model.conditional_loglik(&eta) - 0.5 * th[p..].iter().map(|v| v * v).sum::<f64>();
        (h, eta)
    };
    let mut th = start.clone();
    let (mut h, mut eta) = objective(&th);
    if !h.is_finite() {
        th = vec![0.0; dim];
        (h, eta) = objective(&th);
    }
    let mut hm = Mat::<f64>::zeros(dim, dim);
    for _iter in 0..200 {
        // gradient and negative Hessian
        let mut g = vec![0.0; dim];
        hm.fill(0.0);
        for i in 0..n {
            let (w, y, nt) = (model.weights()[i], model.y()[i], model.trials()[i]);
            let res = w * (y - fam.mean(eta[i], nt));
            let wc = w * fam.variance(eta[i], nt);
            let xr = model.x_row(i);
            let (cols, vals) = z.row(i);
            for aa in 0..p {
                g[aa] += xr[aa] * res;
                for bb in 0..=aa {
                    hm[(aa, bb)] += wc * xr[aa] * xr[bb];
                }
            }
            for (&j, &v) in cols.iter().zip(vals) {
                let zj = v * a[j];
                g[p + j] += zj * res;
                for aa in 0..p {
                    hm[(p + j, aa)] += wc * zj * xr[aa];
                }
                for (&k, &vk) in cols.iter().zip(vals) {
                    if k <= j {
                        hm[(p + j, p + k)] += wc * zj * vk * a[k];
                    }
                }
            }
        }
        for j in 0..q {
            g[p + j] -= th[p + j];
            hm[(p + j, p + j)] += 1.0;
        }
        for r in 0..dim {
            for c in 0..r {
                hm[(c, r)] = hm[(r, c)];
            }
        }
        let llt = match hm.llt(Side::Lower) {
            Ok(l) => l,
            Err(_) => {
                // ridge for a singular X'WCX (e.g. separation): keeps the step a descent direction
                let mut hr = hm.clone();
                for r in 0..dim {
                    hr[(r, r)] += 1e-8 * (1.0 + hr[(r, r)]);
                }
                hr.llt(Side::Lower).ok()?
            }
        };
        let gm = Mat::from_fn(dim, 1, |r, _| g[r]);
        let delta = llt.solve(&gm);
        let dec: f64 = (0..dim).map(|r| g[r] * delta[(r, 0)]).sum();
        if !dec.is_finite() {
            return None;
        }
        if dec < 1e-20 {
            break;
        }
        let mut step = 1.0;
        let mut improved = false;
        for _ in 0..60 {
            let trial: Vec<f64> = (0..dim).map(|r| th[r] + step * delta[(r, 0)]).collect();
            let (ht, et) = objective(&trial);
            if ht.is_finite() && ht >= h - 1e-12 * h.abs() {
                th = trial;
                h = ht;
                eta = et;
                improved = true;
                break;
            }
            step *= 0.5;
        }
        if !improved || dec < 1e-16 {
            break;
        }
    }
    // log det(A Z'WCZ A + I) at the solution
    let mut lower = Mat::<f64>::zeros(q, q);
    for i in 0..n {
        let wc = model.weights()[i] * fam.variance(eta[i], model.trials()[i]);
        let (cols, vals) = z.row(i);
        for (&j, &v) in cols.iter().zip(vals) {
            for (&k, &vk) in cols.iter().zip(vals) {
                if k <= j {
                    lower[(j, k)] += wc * v * a[j] * vk * a[k];
                }
            }
        }
    }
    for j in 0..q {
        lower[(j, j)] += 1.0;
    }
    let llt = lower.llt(Side::Lower).ok()?;
    let l = llt.L();
    let logdet: f64 = (0..q).map(|j| 2.0 * l[(j, j)].ln()).sum();
    let criterion = 0.5 * logdet - h;
    if !criterion.is_finite() {
        return None;
    }
    *start = th.clone();
    Some(Inner {
        beta: th[..p].to_vec(),
        s: th[p..].to_vec(),
        criterion,
    })
}

/// The PQL outer criterion at `sigma` (one standard deviation per variance component).
/// Exposed so its value can be compared across implementations (R glmm's estimate vs ours).
pub fn pql_criterion(model: &Model, sigma: &[f64]) -> Option<f64> {
    let mut start = vec![0.0; model.p() + model.q()];
    inner(model, sigma, &mut start).map(|r| r.criterion)
}

/// Run PQL from `sigma = 1`, `beta = 0`, `s = 0`.
pub fn pql(model: &Model) -> Result<PqlStart, PqlError> {
    let (p, q, nt) = (model.p(), model.q(), model.n_varcomps());
    let mut warm = vec![0.0; p + q];
    let mut evals = 0usize;
    let mut f = |sigma: &[f64], warm: &mut Vec<f64>| -> f64 {
        evals += 1;
        let mut w = warm.clone();
        match inner(model, sigma, &mut w) {
            Some(r) => {
                *warm = w;
                r.criterion
            }
            None => f64::INFINITY,
        }
    };
    let x0 = vec![1.0; nt];
    let best = nelder_mead(&mut |s: &[f64]| f(s, &mut warm), &x0, 0.5, 2000);
    let sigma: Vec<f64> = best.iter().map(|s| s.abs().max(1e-3)).collect();
    let mut start = vec![0.0; p + q];
    let sol = inner(model, &best, &mut start).ok_or(PqlError::InnerFailed {
        sigma: best.clone(),
    })?;
    let signs: Vec<f64> = best
        .iter()
        .map(|s| if *s < 0.0 { -1.0 } else { 1.0 })
        .collect();
    // u* = A s with the signed sigma the inner problem used; s* re-expressed for |sigma|
    let comp = model.effect_component();
    let u_star: Vec<f64> = (0..q).map(|j| best[comp[j]] * sol.s[j]).collect();
    let s: Vec<f64> = (0..q).map(|j| signs[comp[j]] * sol.s[j]).collect();
    Ok(PqlStart {
        beta: sol.beta,
        nu: sigma.iter().map(|s| s * s).collect(),
        sigma,
        s,
        u_star,
        criterion: sol.criterion,
        outer_evaluations: evals,
    })
}

/// Minimise `f` by Nelder–Mead from `x0` with initial step `step`.
/// Stops when the simplex's function values agree to 1e-8 (relative, R `optim`'s default
/// `reltol`) and its size is below 1e-5.
pub(crate) fn nelder_mead(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x0: &[f64],
    step: f64,
    max_evals: usize,
) -> Vec<f64> {
    let n = x0.len();
    let mut pts: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..n {
        let mut x = x0.to_vec();
        x[i] += step;
        pts.push(x);
    }
    let mut vals: Vec<f64> = pts.iter().map(|x| f(x)).collect();
    let mut evals = n + 1;
    while evals < max_evals {
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        pts = order.iter().map(|&i| pts[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();
        let spread = (vals[n] - vals[0]).abs();
        let size = pts[1..]
            .iter()
            .map(|x| {
                x.iter()
                    .zip(&pts[0])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
            })
            .fold(0.0, f64::max);
        if spread <= 1e-8 * (vals[0].abs() + 1e-8) && size < 1e-5 {
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|j| pts[..n].iter().map(|x| x[j]).sum::<f64>() / n as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            (0..n)
                .map(|j| centroid[j] + t * (pts[n][j] - centroid[j]))
                .collect()
        };
        let xr = along(-1.0);
        let fr = f(&xr);
        evals += 1;
        if fr < vals[0] {
            let xe = along(-2.0);
            let fe = f(&xe);
            evals += 1;
            if fe < fr {
                pts[n] = xe;
                vals[n] = fe;
            } else {
                pts[n] = xr;
                vals[n] = fr;
            }
        } else if fr < vals[n - 1] {
            pts[n] = xr;
            vals[n] = fr;
        } else {
            let (xc, fc) = if fr < vals[n] {
                let xc = along(-0.5);
                let fc = f(&xc);
                (xc, fc)
            } else {
                let xc = along(0.5);
                let fc = f(&xc);
                (xc, fc)
            };
            evals += 1;
            if fc < vals[n].min(fr) {
                pts[n] = xc;
                vals[n] = fc;
            } else {
                for i in 1..=n {
                    pts[i] = (0..n)
                        .map(|j| pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]))
                        .collect();
                    vals[i] = f(&pts[i]);
                }
                evals += n;
            }
        }
    }
    let best = (0..=n)
        .min_by(|&a, &b| vals[a].total_cmp(&vals[b]))
        .unwrap_or(0);
    pts[best].clone()
}

#[cfg(test)]
mod tests {
    use super::nelder_mead;

    #[test]
    fn nelder_mead_finds_quadratic_minimum() {
        let mut f =
            |x: &[f64]| (x[0] - 1.5).powi(2) + 3.0 * (x[1] + 0.5).powi(2) + 0.5 * x[0] * x[1];
        let x = nelder_mead(&mut f, &[0.0, 0.0], 0.5, 5000);
        // minimiser of the quadratic: solve [2 .5; .5 6] x = [3, -3]
        let det = 2.0 * 6.0 - 0.25;
        let (a, b) = (
            (3.0 * 6.0 - 0.5 * -3.0) / det,
            (2.0 * -3.0 - 0.5 * 3.0) / det,
        );
        assert!(
            (x[0] - a).abs() < 1e-5 && (x[1] - b).abs() < 1e-5,
            "{x:?} vs {a} {b}"
        );
    }
}
