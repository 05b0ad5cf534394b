//! The trust-region subproblem, solved exactly through one symmetric
//! eigendecomposition.
//!
//! Given a gradient `g` and a symmetric matrix `B` (of the function being
//! *minimised*), [`Subproblem::solve`] returns a global minimiser of the model
//!
//! ```text
//! m(s) = g's + s'Bs/2   subject to   ||s|| <= r,
//! ```
//!
//! characterised (Moré & Sorensen 1983; Nocedal & Wright §4.2, Theorem 4.1)
//! by a multiplier `λ >= 0` with `(B + λI)s = -g`, `B + λI` positive
//! semidefinite and `λ(r - ||s||) = 0`.
//!
//! With `B = Q diag(e) Q'`, `e_1 <= ... <= e_n`, and `γ = Q'g`:
//!
//! * **Newton** — if every `e_i > 0` and `||B⁻¹g|| <= r`, take `s = -B⁻¹g`, `λ = 0`.
//! * **Easy case** — otherwise, if `γ` has weight on the eigenspace of `e_1`
//!   (R's `C2 > 0`) or the step at `λ = -e_1` without that eigenspace is
//!   already too long (R's `C1 > r²`), the boundary solution
//!   `s(λ) = -Σ γ_i/(e_i + λ) q_i` with `||s(λ)|| = r` is found by
//!   safeguarded Newton iteration on the secular equation
//!   `φ(λ) = 1/||s(λ)|| - 1/r = 0` (concave and increasing, so Newton's
//!   iterates converge monotonically; a bisection bracket guards against
//!   rounding).
//! * **Hard case** — otherwise (`γ` orthogonal to the eigenspace of `e_1` and
//!   the remaining step shorter than `r`): `λ = -e_1` and a multiple of an
//!   eigenvector of `e_1` is added to reach the boundary.
//!
//! Eigenvalues within a relative `n·eps` of `e_1` are treated as equal to it,
//! so that a numerically split repeated smallest eigenvalue is recognised.

use faer::{Mat, Side};
use thiserror::Error;

/// Which branch of the subproblem solution produced a step (the names are
/// those of R `trust`'s `steptype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The unconstrained Newton step `-B⁻¹g` (B positive definite, step fits).
    Newton,
    /// Boundary step found on the secular equation; `γ` has weight on the
    /// smallest eigenvalue's eigenspace.
    EasyEasy,
    /// Boundary step found on the secular equation although `γ` is orthogonal
    /// to the smallest eigenvalue's eigenspace (the root lies above `-e_1`).
    HardEasy,
    /// The genuine hard case: `λ = -e_1` plus an eigenvector component.
    HardHard,
}

/// A solution of the trust-region subproblem.
#[derive(Debug, Clone, PartialEq)]
pub struct SubproblemSolution {
    /// The step `s`.
    pub step: Vec<f64>,
    /// The multiplier `λ >= 0` with `(B + λI)s = -g` (0 for a Newton step).
    pub lambda: f64,
    /// Which branch produced the step.
    pub kind: StepKind,
    /// The model change `g's + s'Bs/2` (`<= 0` up to rounding).
    pub predicted: f64,
    /// The Euclidean norm of `step`.
    pub step_norm: f64,
}

/// Why a subproblem could not be set up.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SubproblemError {
    /// The gradient or matrix has the wrong size.
    #[error("subproblem dimension mismatch: gradient has {gradient} entries, matrix has {matrix} (expected {expected})")]
    Dimension {
        /// Length of the gradient.
        gradient: usize,
        /// Number of matrix entries.
        matrix: usize,
        /// `n * n` where `n` is the gradient length.
        expected: usize,
    },
    /// A gradient or matrix entry is NaN or infinite.
    #[error("subproblem has a non-finite gradient or Hessian entry")]
    NonFinite,
    /// The symmetric eigendecomposition did not converge.
    #[error("symmetric eigendecomposition did not converge")]
    Eigen,
}

/// A quadratic model `g's + s'Bs/2` with `B` already eigendecomposed, so
/// that it can be solved for several radii (R `trust` reuses the
/// decomposition after a rejected step).
#[derive(Debug, Clone)]
pub struct Subproblem {
    n: usize,
    gradient: Vec<f64>,
    /// Symmetrised matrix, row-major.
    matrix: Vec<f64>,
    /// Eigenvalues, nondecreasing.
    eigenvalues: Vec<f64>,
    /// Eigenvectors: column `j` is `eigenvectors[j * n .. (j + 1) * n]`.
    eigenvectors: Vec<f64>,
    /// `Q'g`.
    gq: Vec<f64>,
}

impl Subproblem {
    /// Set up the model for gradient `gradient` (length `n`) and symmetric
    /// matrix `hessian` (`n × n`, row-major; it is symmetrised as
    /// `(B + B')/2`).
    pub fn new(gradient: &[f64], hessian: &[f64]) -> Result<Self, SubproblemError> {
        let n = gradient.len();
        if hessian.len() != n * n {
            return Err(SubproblemError::Dimension {
                gradient: n,
                matrix: hessian.len(),
                expected: n * n,
            });
        }
        if gradient.iter().chain(hessian).any(|v| !v.is_finite()) {
            return Err(SubproblemError::NonFinite);
        }
        let mut matrix = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                matrix[i * n + j] = 0.5 * (hessian[i * n + j] + hessian[j * n + i]);
            }
        }
        if matrix.iter().any(|v| !v.is_finite()) {
            return Err(SubproblemError::NonFinite);
        }
        let (eigenvalues, eigenvectors) = if n == 0 {
            (Vec::new(), Vec::new())
        } else {
            let a = Mat::<f64>::from_fn(n, n, |i, j| matrix[i * n + j]);
            let evd = a
                .self_adjoint_eigen(Side::Lower)
                .map_err(|_| SubproblemError::Eigen)?;
            let s = evd.S().column_vector();
            let u = evd.U();
            let mut pairs: Vec<(f64, Vec<f64>)> = (0..n)
                .map(|j| (s[j], (0..n).map(|i| u[(i, j)]).collect()))
                .collect();
            if pairs
                .iter()
                .any(|(e, v)| !e.is_finite() || v.iter().any(|x| !x.is_finite()))
            {
                return Err(SubproblemError::Eigen);
            }
            // faer documents nondecreasing order; do not rely on it.
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let values = pairs.iter().map(|p| p.0).collect();
            let vectors = pairs.into_iter().flat_map(|p| p.1).collect();
            (values, vectors)
        };
        let mut gq = vec![0.0; n];
        for (j, gqj) in gq.iter_mut().enumerate() {
            *gqj = (0..n).map(|i| eigenvectors[j * n + i] * gradient[i]).sum();
        }
        Ok(Subproblem {
            n,
            gradient: gradient.to_vec(),
            matrix,
            eigenvalues,
            eigenvectors,
            gq,
        })
    }

    /// Number of variables.
    pub fn dim(&self) -> usize {
        self.n
    }

    /// Eigenvalues of the (symmetrised) matrix, nondecreasing.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// The model change `g's + s'Bs/2` for a step `s`.
    pub fn model_change(&self, step: &[f64]) -> f64 {
        let n = self.n;
        let mut total = 0.0;
        for i in 0..n {
            let bs: f64 = (0..n).map(|j| self.matrix[i * n + j] * step[j]).sum();
            total += step[i] * (self.gradient[i] + 0.5 * bs);
        }
        total
    }

    /// `s = Q w`.
    fn to_original_basis(&self, w: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut s = vec![0.0; n];
        for (j, &wj) in w.iter().enumerate() {
            if wj != 0.0 {
                let q = &self.eigenvectors[j * n..(j + 1) * n];
                for (si, qi) in s.iter_mut().zip(q) {
                    *si += wj * qi;
                }
            }
        }
        s
    }

    fn finish(&self, step: Vec<f64>, lambda: f64, kind: StepKind) -> SubproblemSolution {
        let step_norm = norm(&step);
        let predicted = self.model_change(&step);
        SubproblemSolution {
            step,
            lambda,
            kind,
            predicted,
            step_norm,
        }
    }

    /// Solve `min g's + s'Bs/2` subject to `||s|| <= radius` exactly.
    ///
    /// A radius that is not a finite positive number gives the zero step.
    pub fn solve(&self, radius: f64) -> SubproblemSolution {
        let n = self.n;
        let r = radius;
        if n == 0 || !(r.is_finite() && r > 0.0) {
            return self.finish(vec![0.0; n], 0.0, StepKind::Newton);
        }
        let e = &self.eigenvalues;
        let gq = &self.gq;

        // ---- Newton ----
        if e.iter().all(|&ei| ei > 0.0) {
            let w: Vec<f64> = gq.iter().zip(e).map(|(g, ei)| -g / ei).collect();
            let s = self.to_original_basis(&w);
            if norm(&s) <= r {
                return self.finish(s, 0.0, StepKind::Newton);
            }
        }

        // ---- shifted eigenvalues: beta_i = e_i - e_min (cluster to exact 0) ----
        let e_min = e[0];
        let scale = e.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let cluster_tol = (n as f64) * f64::EPSILON * scale;
        let beta: Vec<f64> = e
            .iter()
            .map(|&ei| {
                let b = ei - e_min;
                if b <= cluster_tol {
                    0.0
                } else {
                    b
                }
            })
            .collect();
        let mut c1 = 0.0;
        let mut c2 = 0.0;
        for (&b, &g) in beta.iter().zip(gq) {
            if b == 0.0 {
                c2 += g * g;
            } else {
                c1 += (g / b) * (g / b);
            }
        }
        let g_norm = norm(gq);

        // ---- hard-hard case ----
        // (With e_min > 0 mathematically C1 > r^2 here; the guard keeps
        // lambda >= 0 under rounding.)
        if c2 == 0.0 && c1 <= r * r && e_min <= 0.0 {
            let w: Vec<f64> = beta
                .iter()
                .zip(gq)
                .map(|(&b, &g)| if b == 0.0 { 0.0 } else { -g / b })
                .collect();
            let mut s = self.to_original_basis(&w);
            let u = (r * r - norm_sq(&s)).max(0.0).sqrt();
            if u > 0.0 {
                // First eigenvector of the smallest eigenvalue.
                for (si, qi) in s.iter_mut().zip(&self.eigenvectors[0..n]) {
                    *si += u * qi;
                }
            }
            return self.finish(s, -e_min, StepKind::HardHard);
        }

        let kind = if c2 == 0.0 {
            StepKind::HardEasy
        } else {
            StepKind::EasyEasy
        };

        // ---- easy cases: root of phi(t) = 1/||s|| - 1/r, t = lambda + e_min ----
        let lo0 = e_min.max(0.0);
        let hi0 = g_norm / r;
        if !hi0.is_finite() || g_norm == 0.0 {
            // Radius so small relative to the gradient that the boundary
            // solution is the steepest-descent direction (its limit as r -> 0),
            // or a degenerate model: fall back to steepest descent.
            let gn = norm(&self.gradient);
            let s: Vec<f64> = if gn > 0.0 && gn.is_finite() {
                self.gradient.iter().map(|g| -g * (r / gn)).collect()
            } else {
                vec![0.0; n]
            };
            let lambda = if s.iter().any(|v| *v != 0.0) {
                hi0.max(0.0)
            } else {
                0.0
            };
            return self.finish(s, lambda, kind);
        }
        // Solve in sigma = s / r (so that ||sigma|| = 1): scale-free, no
        // underflow of ||s||^2 for tiny radii.
        let gq_scaled: Vec<f64> = gq.iter().map(|g| g / r).collect();
        let t = secular_root(&beta, &gq_scaled, lo0, hi0.max(lo0));
        let w: Vec<f64> = beta
            .iter()
            .zip(gq)
            .map(|(&b, &g)| if g == 0.0 { 0.0 } else { -g / (b + t) })
            .collect();
        let s = self.to_original_basis(&w);
        self.finish(s, (t - e_min).max(0.0), kind)
    }
}

/// `||s(t)||^2` and `sum γ_i² / (β_i + t)^3` at shift `t`.
fn secular_terms(beta: &[f64], gq: &[f64], t: f64) -> (f64, f64) {
    let mut n2 = 0.0;
    let mut d3 = 0.0;
    for (&b, &g) in beta.iter().zip(gq) {
        if g == 0.0 {
            continue;
        }
        let d = b + t;
        let w = g / d;
        n2 += w * w;
        d3 += w * w / d;
    }
    (n2, d3)
}

/// Safeguarded Newton iteration for `φ(t) = 1/||s(t)|| - 1 = 0` (unit
/// radius; the caller scales the gradient by `1/r`) on `[lo, hi]`, where
/// `φ(lo) < 0 <= φ(hi)` in exact arithmetic.
fn secular_root(beta: &[f64], gq: &[f64], lo: f64, hi: f64) -> f64 {
    let r = 1.0;
    let mut lo = lo;
    let mut hi = hi;
    // Start at the upper end: phi >= 0 there; the first Newton step lands
    // left of the root and the iterates then increase monotonically (phi is
    // concave), with bisection whenever an iterate leaves the bracket.
    let mut t = hi;
    let mut best = hi;
    let mut best_err = f64::INFINITY;
    for _ in 0..500 {
        let (n2, d3) = secular_terms(beta, gq, t);
        let s_norm = n2.sqrt();
        let err = (s_norm - r).abs();
        if err.is_finite() && err < best_err {
            best_err = err;
            best = t;
        }
        if err <= 1e-14 * r {
            return t;
        }
        let phi = 1.0 / s_norm - 1.0 / r;
        if phi < 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        // phi'(t) = (sum γ²/(β+t)³) / ||s||³
        let dphi = d3 / (n2 * s_norm);
        let mut next = t - phi / dphi;
        if !(next > lo && next < hi) {
            // Moré–Sorensen safeguard: geometric steps reach a root many
            // orders of magnitude below `hi` (the near-hard case) quickly.
            next = (lo * hi).sqrt().max(1e-3 * hi);
            if !(next > lo && next < hi) {
                next = 0.5 * (lo + hi);
            }
        }
        // (NaN-safe: a NaN width counts as exhausted.)
        let bracket_open = hi - lo > 2.0 * f64::EPSILON * hi.abs().max(f64::MIN_POSITIVE);
        if !bracket_open || next == t {
            break;
        }
        t = next;
    }
    // Bracket exhausted: return the best iterate seen (prefer a feasible,
    // i.e. phi >= 0, end if nothing finite was seen).
    if best_err.is_finite() {
        best
    } else {
        hi
    }
}

pub(crate) fn norm_sq(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum()
}

pub(crate) fn norm(v: &[f64]) -> f64 {
    // Scaled to avoid overflow/underflow.
    if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let m = v.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    if m == 0.0 || !m.is_finite() {
        return m;
    }
    m * v.iter().map(|x| (x / m) * (x / m)).sum::<f64>().sqrt()
}
