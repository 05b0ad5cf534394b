//! Inference at the Monte Carlo MLE (SPEC §7): vcov, standard errors, Wald
//! tests and intervals, Monte Carlo standard errors and effective sample sizes.
//!
//! Everything here is a pure function of the fit's Hessian, gradient pieces
//! and estimates; the [`Fit`](crate::Fit) methods call into it.

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use statrs::distribution::{ContinuousCDF, Normal};

/// `(-H)^{-1}` by Cholesky of `-H`; `None` when `-H` is not positive definite
/// (singular or indefinite Hessian).
pub fn vcov_from_hessian(hessian: &[f64], d: usize) -> Option<Vec<f64>> {
    let neg = Mat::from_fn(d, d, |r, c| -hessian[r * d + c]);
    let llt = neg.llt(Side::Lower).ok()?;
    let inv = llt.inverse();
    let mut out: Vec<f64> = vec![0.0; d * d];
    for r in 0..d {
        for c in 0..d {
            // symmetrise the inverse exactly
            out[r * d + c] = 0.5 * (inv[(r, c)] + inv[(c, r)]);
        }
    }
    if out.iter().any(|v| !v.is_finite()) || (0..d).any(|j| out[j * d + j] <= 0.0) {
        return None;
    }
    Some(out)
}

/// The rows and columns `keep` of a row-major `d x d` matrix, as a `k x k` matrix.
pub fn submatrix(m: &[f64], d: usize, keep: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(keep.len() * keep.len());
    for &r in keep {
        for &c in keep {
            out.push(m[r * d + c]);
        }
    }
    out
}

/// A `k x k` matrix on the indices `keep` put back into a `d x d` one; the other rows and
/// columns are NaN (not available).
pub fn embed(sub: &[f64], d: usize, keep: &[usize]) -> Vec<f64> {
    let k = keep.len();
    let mut out = vec![f64::NAN; d * d];
    for (a, &r) in keep.iter().enumerate() {
        for (b, &c) in keep.iter().enumerate() {
            out[r * d + c] = sub[a * k + b];
        }
    }
    out
}

/// `(-H)^{-1}` on the free parameters `free` only (the others, e.g. variances on the boundary,
/// held at their estimates): the rows and columns of the others are dropped before inverting
/// and are NaN in the result.  `None` when `-H` restricted to `free` is not positive definite.
pub fn vcov_on_free(hessian: &[f64], d: usize, free: &[usize]) -> Option<Vec<f64>> {
    let sub = vcov_from_hessian(&submatrix(hessian, d, free), free.len())?;
    Some(embed(&sub, d, free))
}

/// `mcvcov = U^{-1} V U^{-1}` with `U^{-1} = -vcov`, i.e. `vcov V vcov`.
pub fn mc_vcov(vcov: &[f64], v: &[f64], d: usize) -> Vec<f64> {
    let a = Mat::from_fn(d, d, |r, c| vcov[r * d + c]);
    let vm = Mat::from_fn(d, d, |r, c| v[r * d + c]);
    let out = &a * &vm * &a;
    let mut res = vec![0.0; d * d];
    for r in 0..d {
        for c in 0..d {
            res[r * d + c] = 0.5 * (out[(r, c)] + out[(c, r)]);
        }
    }
    res
}

/// Square roots of the diagonal of a row-major `d x d` matrix (NaN, not available, stays NaN).
pub fn sqrt_diag(m: &[f64], d: usize) -> Vec<f64> {
    (0..d).map(|j| non_negative(m[j * d + j]).sqrt()).collect()
}

/// `x` clipped at 0 from below, keeping NaN (`f64::max` would turn NaN, "not available", into 0).
pub fn non_negative(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else {
        x.max(0.0)
    }
}

/// Standard normal distribution.
fn std_normal() -> Normal {
    // mean 0, sd 1 is always valid
    Normal::standard()
}

/// `Phi(x)`.
pub fn normal_cdf(x: f64) -> f64 {
    std_normal().cdf(x)
}

/// The `(1 + level) / 2` standard normal quantile (1.959964 for level 0.95).
pub fn wald_quantile(level: f64) -> f64 {
    std_normal().inverse_cdf((1.0 + level) / 2.0)
}

/// One row of a summary table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoefRow {
    /// Parameter name.
    pub name: String,
    /// Estimate.
    pub estimate: f64,
    /// Standard error.
    pub std_error: f64,
    /// `estimate / std_error`.
    pub z_value: f64,
    /// p-value: two-sided `2 Phi(-|z|)` for fixed effects, one-sided `Phi(-z)` for variance components.
    pub p_value: f64,
    /// Monte Carlo standard error of the estimate.
    pub mcse: f64,
}

/// Build a row; `one_sided` for variance components (H0: nu = 0 on the boundary).
pub fn coef_row(name: &str, estimate: f64, se: f64, mcse: f64, one_sided: bool) -> CoefRow {
    let z = estimate / se;
    let p = if one_sided {
        normal_cdf(-z)
    } else {
        2.0 * normal_cdf(-z.abs())
    };
    CoefRow {
        name: name.to_string(),
        estimate,
        std_error: se,
        z_value: z,
        p_value: p,
        mcse,
    }
}

/// R's significance stars for a p-value.
pub fn significance_stars(p: f64) -> &'static str {
    if !p.is_finite() {
        ""
    } else if p < 0.001 {
        "***"
    } else if p < 0.01 {
        "**"
    } else if p < 0.05 {
        "*"
    } else if p < 0.1 {
        "."
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_pvalues() {
        assert!((wald_quantile(0.95) - 1.959963984540054).abs() < 1e-9);
        let r = coef_row("b", 1.96, 1.0, 0.0, false);
        assert!((r.p_value - 0.04999579).abs() < 1e-6);
        let v = coef_row("nu", 1.645, 1.0, 0.0, true);
        assert!((v.p_value - 0.04998).abs() < 1e-4);
        assert_eq!(significance_stars(0.0005), "***");
        assert_eq!(significance_stars(0.2), "");
    }

    #[test]
    fn vcov_inverts_and_rejects_indefinite() {
        let h = vec![-2.0, 0.5, 0.5, -1.0];
        let v = vcov_from_hessian(&h, 2).expect("negative definite");
        // (-H) v = I
        let prod00 = 2.0 * v[0] - 0.5 * v[2];
        let prod01 = 2.0 * v[1] - 0.5 * v[3];
        assert!((prod00 - 1.0).abs() < 1e-14 && prod01.abs() < 1e-14);
        assert!(vcov_from_hessian(&[-1.0, 0.0, 0.0, 1.0], 2).is_none());
        assert!(vcov_from_hessian(&[0.0, 0.0, 0.0, -1.0], 2).is_none());
    }

    #[test]
    fn vcov_on_free_drops_the_held_parameter_and_marks_it_not_available() {
        // parameter 1 is singular (a variance on the boundary); 0 and 2 are informative
        let h = vec![-4.0, 0.3, 1.0, 0.3, 0.0, 0.2, 1.0, 0.2, -2.0];
        assert!(vcov_from_hessian(&h, 3).is_none());
        let v = vcov_on_free(&h, 3, &[0, 2]).expect("free block negative definite");
        // inverse of [[4, -1], [-1, 2]] = [[2, 1], [1, 4]] / 7
        let want = [2.0 / 7.0, 1.0 / 7.0, 1.0 / 7.0, 4.0 / 7.0];
        for (got, w) in [v[0], v[2], v[6], v[8]].iter().zip(want) {
            assert!((got - w).abs() < 1e-14, "{v:?}");
        }
        assert!([v[1], v[3], v[4], v[5], v[7]].iter().all(|x| x.is_nan()));
        let se = sqrt_diag(&v, 3);
        assert!(se[1].is_nan() && (se[0] - (2.0f64 / 7.0).sqrt()).abs() < 1e-14);
    }
}
