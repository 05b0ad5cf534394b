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

/// How the inner Newton system is split for elimination: effects with pairwise
/// disjoint row supports (`E1`, e.g. every level of one random-intercept factor)
/// have a diagonal block and are eliminated by Schur complement; the fixed
/// effects and the remaining effects (`R`) form a small dense system.
#[derive(Debug, Clone)]
struct Partition {
    /// Effects eliminated through their diagonal block.
    e1: Vec<usize>,
    /// Effects kept in the dense system (after the p fixed effects).
    e2: Vec<usize>,
    /// Per effect: `Ok(index in e1)` or `Err(index in the dense system)`.
    pos: Vec<Result<usize, usize>>,
}

impl Partition {
    /// No elimination: every effect in the dense system (the reference the tests compare with).
    #[cfg(test)]
    fn dense(model: &Model) -> Partition {
        let (p, q) = (model.p(), model.q());
        Partition {
            e1: Vec::new(),
            e2: (0..q).collect(),
            pos: (0..q).map(|j| Err(p + j)).collect(),
        }
    }

    fn new(model: &Model) -> Partition {
        let (n, p, q) = (model.n(), model.p(), model.q());
        let z = model.z();
        let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); q];
        for i in 0..n {
            for &j in z.row(i).0 {
                rows_of[j].push(i);
            }
        }
        // greedy, fewest rows first: effects whose rows no chosen effect uses yet
        let mut order: Vec<usize> = (0..q).collect();
        order.sort_by_key(|&j| (rows_of[j].len(), j));
        let mut used = vec![false; n];
        let mut in_e1 = vec![false; q];
        for &j in &order {
            if rows_of[j].iter().all(|&i| !used[i]) {
                in_e1[j] = true;
                rows_of[j].iter().for_each(|&i| used[i] = true);
            }
        }
        let (mut e1, mut e2, mut pos) = (Vec::new(), Vec::new(), Vec::with_capacity(q));
        for j in 0..q {
            if in_e1[j] {
                pos.push(Ok(e1.len()));
                e1.push(j);
            } else {
                pos.push(Err(p + e2.len()));
                e2.push(j);
            }
        }
        Partition { e1, e2, pos }
    }
}

/// The inner problem's negative Hessian `[X'WCX, X'WCZA; AZ'WCX, AZ'WCZA + I]` split as
/// `[[D1, B'], [B, C]]` over `(E1, R)`, with the Schur complement `S = C - B D1^-1 B'`.
struct System {
    d1: Vec<f64>,
    /// Rows of B (per E1 effect), dense over R, with the touched R indices.
    b: Vec<Vec<f64>>,
    touched: Vec<Vec<usize>>,
    schur: Mat<f64>,
}

impl System {
    /// The system at the observations' variances `var` (`c''(eta_i)` times the trials).
    fn new(model: &Model, part: &Partition, a: &[f64], var: &[f64]) -> System {
        let p = model.p();
        let nr = p + part.e2.len();
        let mut d1 = vec![1.0; part.e1.len()];
        let mut b = vec![vec![0.0; nr]; part.e1.len()];
        let mut touched: Vec<Vec<usize>> = vec![Vec::new(); part.e1.len()];
        let mut c = Mat::<f64>::zeros(nr, nr);
        for r in p..nr {
            c[(r, r)] = 1.0;
        }
        let mut rest: Vec<(usize, f64)> = Vec::new();
        for i in 0..model.n() {
            let wc = model.weights()[i] * var[i];
            rest.clear();
            rest.extend(
                model
                    .x_row(i)
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|&(_, v)| v != 0.0),
            );
            let mut diag: Option<(usize, f64)> = None;
            let (cols, vals) = model.z().row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                match part.pos[j] {
                    Ok(e) => diag = Some((e, v * a[j])),
                    Err(r) => rest.push((r, v * a[j])),
                }
            }
            for &(r, vr) in &rest {
                for &(s, vs) in &rest {
                    if s <= r {
                        c[(r, s)] += wc * vr * vs;
                    }
                }
            }
            if let Some((e, ve)) = diag {
                d1[e] += wc * ve * ve;
                for &(r, vr) in &rest {
                    if b[e][r] == 0.0 {
                        touched[e].push(r);
                    }
                    b[e][r] += wc * ve * vr;
                }
            }
        }
        for t in touched.iter_mut() {
            // an entry whose running sum passed through exactly 0 was recorded twice
            t.sort_unstable();
            t.dedup();
        }
        // S = C - B D1^-1 B': only the lower triangle, which the Cholesky factor reads, in a
        // row-major copy (contiguous rows; a dense row of B, every subject touching every
        // item, is one slice operation per row)
        let mut sv = vec![0.0; nr * nr];
        for r in 0..nr {
            for s in 0..=r {
                sv[r * nr + s] = c[(r, s)];
            }
        }
        for e in 0..d1.len() {
            let (be, te) = (&b[e], &touched[e]);
            if te.len() == nr {
                for r in 0..nr {
                    let br = be[r] / d1[e];
                    for (x, &bs) in sv[r * nr..=r * nr + r].iter_mut().zip(&be[..=r]) {
                        *x -= br * bs;
                    }
                }
            } else {
                for (ri, &r) in te.iter().enumerate() {
                    let br = be[r] / d1[e];
                    let row = &mut sv[r * nr..(r + 1) * nr];
                    for &s in &te[..=ri] {
                        row[s] -= br * be[s];
                    }
                }
            }
        }
        let schur = Mat::from_fn(nr, nr, |r, s| {
            if s <= r {
                sv[r * nr + s]
            } else {
                sv[s * nr + r]
            }
        });
        System {
            d1,
            b,
            touched,
            schur,
        }
    }

    /// Solve `H delta = g` for `g` split as `(g1 over E1, gr over R)`.
    fn solve(&self, g1: &[f64], gr: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
        let nr = gr.len();
        let mut rhs = gr.to_vec();
        for e in 0..self.d1.len() {
            let f = g1[e] / self.d1[e];
            for &r in &self.touched[e] {
                rhs[r] -= self.b[e][r] * f;
            }
        }
        let llt = match self.schur.llt(Side::Lower) {
            Ok(l) => l,
            Err(_) => {
                // ridge for a singular X'WCX (e.g. separation): keeps the step a descent direction
                let mut hr = self.schur.clone();
                for r in 0..nr {
                    hr[(r, r)] += 1e-8 * (1.0 + hr[(r, r)]);
                }
                hr.llt(Side::Lower).ok()?
            }
        };
        let dr = llt.solve(Mat::from_fn(nr, 1, |r, _| rhs[r]));
        let dr: Vec<f64> = (0..nr).map(|r| dr[(r, 0)]).collect();
        let d1: Vec<f64> = (0..self.d1.len())
            .map(|e| {
                (g1[e]
                    - self.touched[e]
                        .iter()
                        .map(|&r| self.b[e][r] * dr[r])
                        .sum::<f64>())
                    / self.d1[e]
            })
            .collect();
        Some((d1, dr))
    }

    /// `log det(A Z'WCZ A + I)`: the E1 diagonal plus the effects block of the Schur complement.
    fn logdet_effects(&self, p: usize) -> Option<f64> {
        let nr = self.schur.nrows();
        let sz = Mat::from_fn(nr - p, nr - p, |r, c| self.schur[(p + r, p + c)]);
        let ld_rest = if nr > p {
            let llt = sz.llt(Side::Lower).ok()?;
            let l = llt.L();
            (0..nr - p).map(|j| 2.0 * l[(j, j)].ln()).sum::<f64>()
        } else {
            0.0
        };
        Some(self.d1.iter().map(|d| d.ln()).sum::<f64>() + ld_rest)
    }
}

/// Solve the inner problem at `sigma` (per variance component), warm-started from `start = (beta, s)`.
/// Stops once a Newton step's decrement falls below `decrement` (the criterion is then
/// within about half of it of the inner maximum), or the next one would be `1e-4` of that.
fn inner(
    model: &Model,
    part: &Partition,
    sigma: &[f64],
    start: &mut Vec<f64>,
    decrement: f64,
) -> Option<Inner> {
    let (n, p, q) = (model.n(), model.p(), model.q());
    let dim = p + q;
    let a: Vec<f64> = model.effect_component().iter().map(|&t| sigma[t]).collect();
    let z = model.z();
    let objective = |th: &[f64]| -> (f64, Vec<f64>) {
        let u: Vec<f64> = (0..q).map(|j| a[j] * th[p + j]).collect();
        let eta = model.linear_predictor(&th[..p], &u);
        let h = model.conditional_loglik(&eta) - 0.5 * th[p..].iter().map(|v| v * v).sum::<f64>();
        (h, eta)
    };
    let (mut mean, mut var) = (Vec::new(), Vec::new());
    let mut th = start.clone();
    let (mut h, mut eta) = objective(&th);
    if !h.is_finite() {
        th = vec![0.0; dim];
        (h, eta) = objective(&th);
    }
    let nr = p + part.e2.len();
    for _iter in 0..200 {
        // gradient: X'W(y - mu) and A Z'W(y - mu) - s, split over (E1, R)
        let mut g1: Vec<f64> = part.e1.iter().map(|&j| -th[p + j]).collect();
        let mut gr = vec![0.0; nr];
        for (r, &j) in part.e2.iter().enumerate() {
            gr[p + r] = -th[p + j];
        }
        model
            .family()
            .mean_variance_slice(&eta, model.trials(), &mut mean, &mut var);
        for i in 0..n {
            let (w, y) = (model.weights()[i], model.y()[i]);
            let res = w * (y - mean[i]);
            for (l, &x) in model.x_row(i).iter().enumerate() {
                gr[l] += x * res;
            }
            let (cols, vals) = z.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                match part.pos[j] {
                    Ok(e) => g1[e] += v * a[j] * res,
                    Err(r) => gr[r] += v * a[j] * res,
                }
            }
        }
        let sys = System::new(model, part, &a, &var);
        let (d1, dr) = sys.solve(&g1, &gr)?;
        let mut delta = vec![0.0; dim];
        delta[..p].copy_from_slice(&dr[..p]);
        for (r, &j) in part.e2.iter().enumerate() {
            delta[p + j] = dr[p + r];
        }
        for (e, &j) in part.e1.iter().enumerate() {
            delta[p + j] = d1[e];
        }
        let dec: f64 = g1
            .iter()
            .zip(&d1)
            .chain(gr.iter().zip(&dr))
            .map(|(g, d)| g * d)
            .sum();
        if !dec.is_finite() {
            return None;
        }
        if dec < 1e-4 * decrement {
            break;
        }
        let mut step = 1.0;
        let mut improved = false;
        for _ in 0..60 {
            let trial: Vec<f64> = (0..dim).map(|r| th[r] + step * delta[r]).collect();
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
        if !improved || dec < decrement {
            break;
        }
    }
    // log det(A Z'WCZ A + I) at the solution
    model
        .family()
        .mean_variance_slice(&eta, model.trials(), &mut mean, &mut var);
    let logdet = System::new(model, part, &a, &var).logdet_effects(p)?;
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
    inner(
        model,
        &Partition::new(model),
        sigma,
        &mut start,
        PqlTolerance::R_OPTIM.decrement,
    )
    .map(|r| r.criterion)
}

/// Run PQL from `sigma = 1`, `beta = 0`, `s = 0`, to R `optim`'s default tolerance (the
/// start of R glmm's importance sample, which the fixed-sample samplers reproduce).
pub fn pql(model: &Model) -> Result<PqlStart, PqlError> {
    pql_to(model, PqlTolerance::R_OPTIM)
}

/// When the outer Nelder–Mead of PQL stops: the simplex's criterion values agree to
/// `reltol` (relative) and its size (largest coordinate distance from the best vertex, in
/// standard deviations) is below `size`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PqlTolerance {
    /// Relative spread of the criterion over the simplex.
    pub reltol: f64,
    /// Size of the simplex.
    pub size: f64,
    /// Newton decrement at which the inner maximisation over `(beta, s)` stops.
    pub decrement: f64,
}

impl PqlTolerance {
    /// R `optim`'s default `reltol` (1e-8), with a simplex below 1e-5: the R glmm start.
    pub const R_OPTIM: PqlTolerance = PqlTolerance {
        reltol: 1e-8,
        size: 1e-5,
        decrement: 1e-16,
    };
    /// The start of the SPEC §12 fit, which maximises the exact likelihood from there by
    /// Newton-like steps: PQL's standard deviations to about 1e-3 (the MLE differs from PQL's
    /// variances by far more, so a tighter PQL optimum only costs outer evaluations: 74-78 to
    /// R's tolerance on the designs of issue 14, 29-38 to this one), the inner problem to a
    /// Newton decrement of 1e-10 (the criterion within 1e-10, far inside the simplex's spread).
    pub const START: PqlTolerance = PqlTolerance {
        reltol: 1e-6,
        size: 1e-3,
        decrement: 1e-10,
    };
}

/// [`pql`] with the outer optimisation stopped at `tol`.
pub fn pql_to(model: &Model, tol: PqlTolerance) -> Result<PqlStart, PqlError> {
    let (p, q, nt) = (model.p(), model.q(), model.n_varcomps());
    let part = Partition::new(model);
    let mut warm = vec![0.0; p + q];
    let mut evals = 0usize;
    let mut f = |sigma: &[f64], warm: &mut Vec<f64>| -> f64 {
        evals += 1;
        let mut w = warm.clone();
        match inner(model, &part, sigma, &mut w, tol.decrement) {
            Some(r) => {
                *warm = w;
                r.criterion
            }
            None => f64::INFINITY,
        }
    };
    let x0 = vec![1.0; nt];
    let best = nelder_mead_to(
        &mut |s: &[f64]| f(s, &mut warm),
        &x0,
        0.5,
        2000,
        (tol.reltol, tol.size),
    );
    let sigma: Vec<f64> = best.iter().map(|s| s.abs().max(1e-3)).collect();
    let mut start = vec![0.0; p + q];
    let sol =
        inner(model, &part, &best, &mut start, tol.decrement).ok_or(PqlError::InnerFailed {
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
    nelder_mead_to(f, x0, step, max_evals, (1e-8, 1e-5))
}

/// [`nelder_mead`] stopping when the function values agree to `tol.0` (relative) and the
/// simplex's size is below `tol.1`.
pub(crate) fn nelder_mead_to(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x0: &[f64],
    step: f64,
    max_evals: usize,
    tol: (f64, f64),
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
        if spread <= tol.0 * (vals[0].abs() + 1e-8) && size < tol.1 {
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
    use super::{inner, nelder_mead, Partition};
    use crate::{CrossedDesign, Family, Model};

    /// Eliminating the diagonal block by Schur complement gives the dense solution.
    #[test]
    fn schur_elimination_matches_the_dense_system() {
        for family in [Family::Bernoulli, Family::Poisson] {
            let mut spec = CrossedDesign {
                groups: 2,
                animals: 10,
                pairings: 6,
            }
            .design()
            .unwrap();
            spec.family = family;
            // a numeric covariate column so X is not only indicators
            let n = spec.y.len();
            spec.x
                .extend((0..n).map(|i| ((i * 37) % 11) as f64 / 5.0 - 1.0));
            spec.x_names.push("x".into());
            spec.y = crate::simulate_response(&spec, &[0.5, 0.2, -0.8, 0.4, 0.3], &[0.9, 0.6], 4)
                .unwrap()
                .0;
            let model = Model::new(spec).unwrap();
            let part = Partition::new(&model);
            assert!(
                part.e1.len() >= 20,
                "one factor's levels are eliminated: {}",
                part.e1.len()
            );
            for sigma in [[1.0, 1.0], [0.4, 1.3]] {
                let (mut a, mut b) = (
                    vec![0.0; model.p() + model.q()],
                    vec![0.0; model.p() + model.q()],
                );
                let tol = super::PqlTolerance::R_OPTIM.decrement;
                let fast = inner(&model, &part, &sigma, &mut a, tol).unwrap();
                let dense = inner(&model, &Partition::dense(&model), &sigma, &mut b, tol).unwrap();
                assert!(
                    (fast.criterion - dense.criterion).abs() < 1e-9 * dense.criterion.abs(),
                    "{family}: {} vs {}",
                    fast.criterion,
                    dense.criterion
                );
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() < 1e-7, "{family}: solution {x} vs {y}");
                }
            }
        }
    }

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
