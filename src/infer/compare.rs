//! Likelihood-ratio tests between nested models (lme4's `anova`), with Monte Carlo error.
//!
//! Each model is summarised by a [`ModelSummary`] (from a [`Fit`] or an exact [`GlmFit`]);
//! [`anova`] orders them by number of parameters, as lme4 does, and tests each against the one
//! before it: `chisq = 2 (l_big - l_small)` with MCSE `2 sqrt(mcse_big^2 + mcse_small^2)` (the
//! two fits use independent Monte Carlo samples), `df` the difference in parameters.  When the
//! smaller model drops `k` variance components (testing `nu = 0` on the boundary of the
//! parameter space) the p-value uses the chi-bar-square mixture `sum_j C(k, j) 2^-k chi2(f + j)`
//! with `f` the number of dropped fixed effects — for one variance component the 50:50 mixture
//! of chi-square(f) and chi-square(f + 1) of Self & Liang (1987).  Models must be fitted to the
//! same rows; [`anova`] refuses otherwise.
//!
//! ```
//! use mcla::infer::compare::{anova, ModelSummary};
//! let small = ModelSummary { label: "glm".into(), loglik: -10.0, loglik_mcse: 0.0, n: 20,
//!     fixed_names: vec!["a".into()], varcomp_names: vec![], rows: None };
//! let big = ModelSummary { label: "glmm".into(), loglik: -8.0, loglik_mcse: 0.01, n: 20,
//!     fixed_names: vec!["a".into()], varcomp_names: vec!["g".into()], rows: None };
//! let t = anova(&[big, small]).unwrap();
//! assert_eq!(t[0].label, "glm");
//! let lrt = &t[1];
//! assert_eq!((lrt.chisq, lrt.df), (Some(4.0), Some(1)));
//! // half the chi-square(1) tail: the variance is on the boundary under H0
//! assert!((lrt.p_value.unwrap() - 0.5 * 0.0455002638963584).abs() < 1e-9);
//! ```

use crate::fit::Fit;
use crate::infer::glm::GlmFit;
use crate::infer::wald::chisq_upper;
use serde::Serialize;
use thiserror::Error;

/// Why models cannot be compared.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CompareError {
    /// Fewer than two models.
    #[error("a comparison needs at least two models (got {0})")]
    TooFew(usize),
    /// Different rows.
    #[error("models '{a}' and '{b}' were fitted to different data ({na} and {nb} rows used after dropping rows with missing values): a likelihood-ratio test needs the same rows; remove the rows with missing values in any model's columns first")]
    DifferentRows {
        /// First model.
        a: String,
        /// Second model.
        b: String,
        /// Its rows.
        na: usize,
        /// The other's rows.
        nb: usize,
    },
}

/// What a comparison needs from a fitted model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    /// Label (formula).
    pub label: String,
    /// Log-likelihood with the data constants.
    pub loglik: f64,
    /// Its Monte Carlo standard error (0 for an exact likelihood).
    pub loglik_mcse: f64,
    /// Number of observations.
    pub n: usize,
    /// Fixed-effect names.
    pub fixed_names: Vec<String>,
    /// Variance-component names.
    pub varcomp_names: Vec<String>,
    /// Data rows used (0-based rows of the file), when known: checked for equality.
    #[serde(skip)]
    pub rows: Option<Vec<usize>>,
}

impl ModelSummary {
    /// Number of parameters.
    pub fn npar(&self) -> usize {
        self.fixed_names.len() + self.varcomp_names.len()
    }
    /// Akaike's information criterion `-2 loglik + 2 npar`.
    pub fn aic(&self) -> f64 {
        -2.0 * self.loglik + 2.0 * self.npar() as f64
    }
    /// Schwarz's criterion `-2 loglik + npar log n`.
    pub fn bic(&self) -> f64 {
        -2.0 * self.loglik + self.npar() as f64 * (self.n as f64).ln()
    }
    /// From an MCLA fit.
    pub fn from_fit(label: &str, fit: &Fit, rows: Option<Vec<usize>>) -> ModelSummary {
        ModelSummary {
            label: label.to_string(),
            loglik: fit.loglik,
            loglik_mcse: fit.loglik_mcse,
            n: fit.n,
            fixed_names: fit.parameter_names[..fit.p].to_vec(),
            varcomp_names: fit.parameter_names[fit.p..].to_vec(),
            rows,
        }
    }
    /// From an exact GLM fit.
    pub fn from_glm(label: &str, fit: &GlmFit, rows: Option<Vec<usize>>) -> ModelSummary {
        ModelSummary {
            label: label.to_string(),
            loglik: fit.loglik,
            loglik_mcse: 0.0,
            n: fit.n,
            fixed_names: fit.names.clone(),
            varcomp_names: Vec::new(),
            rows,
        }
    }
}

/// One row of the comparison table (the first row has no test).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnovaRow {
    /// Model label.
    pub label: String,
    /// Number of parameters.
    pub npar: usize,
    /// `-2 l + 2 npar`.
    pub aic: f64,
    /// `-2 l + npar log n`.
    pub bic: f64,
    /// Log-likelihood.
    pub loglik: f64,
    /// Its MCSE.
    pub loglik_mcse: f64,
    /// `-2 l`.
    pub deviance: f64,
    /// LRT statistic against the previous row.
    pub chisq: Option<f64>,
    /// Its MCSE.
    pub chisq_mcse: Option<f64>,
    /// Degrees of freedom.
    pub df: Option<usize>,
    /// p-value.
    pub p_value: Option<f64>,
    /// Variance components tested on the boundary (the mixture was used when > 0).
    pub boundary_components: usize,
    /// How the p-value was computed.
    pub note: String,
}

fn binom(k: usize, j: usize) -> f64 {
    (0..j).fold(1.0, |acc, i| acc * (k - i) as f64 / (i + 1) as f64)
}

/// `P(chi-bar-square > x)` for `f` interior and `k` boundary parameters.
pub fn boundary_pvalue(x: f64, f: usize, k: usize) -> f64 {
    (0..=k)
        .map(|j| {
            let df = f + j;
            let tail = if df == 0 {
                if x > 0.0 {
                    0.0
                } else {
                    1.0
                }
            } else {
                chisq_upper(x, df as f64)
            };
            binom(k, j) / 2f64.powi(k as i32) * tail
        })
        .sum()
}

/// Compare models by likelihood-ratio tests (see the [module docs](crate::infer::compare)).
pub fn anova(models: &[ModelSummary]) -> Result<Vec<AnovaRow>, CompareError> {
    if models.len() < 2 {
        return Err(CompareError::TooFew(models.len()));
    }
    for m in &models[1..] {
        let a = &models[0];
        let same = match (&a.rows, &m.rows) {
            (Some(r1), Some(r2)) => r1 == r2,
            _ => a.n == m.n,
        };
        if !same || a.n != m.n {
            return Err(CompareError::DifferentRows {
                a: a.label.clone(),
                b: m.label.clone(),
                na: a.n,
                nb: m.n,
            });
        }
    }
    let mut order: Vec<&ModelSummary> = models.iter().collect();
    order.sort_by_key(|m| m.npar()); // stable: ties keep the given order
    let mut rows = Vec::with_capacity(order.len());
    for (i, m) in order.iter().enumerate() {
        let npar = m.npar();
        let ll = m.loglik;
        let mut row = AnovaRow {
            label: m.label.clone(),
            npar,
            aic: m.aic(),
            bic: m.bic(),
            loglik: ll,
            loglik_mcse: m.loglik_mcse,
            deviance: -2.0 * ll,
            chisq: None,
            chisq_mcse: None,
            df: None,
            p_value: None,
            boundary_components: 0,
            note: String::new(),
        };
        if i > 0 {
            let prev = order[i - 1];
            let df = npar - prev.npar();
            let chisq = (2.0 * (ll - prev.loglik)).max(0.0);
            row.chisq = Some(chisq);
            row.chisq_mcse = Some(2.0 * (m.loglik_mcse.powi(2) + prev.loglik_mcse.powi(2)).sqrt());
            row.df = Some(df);
            let nested = prev.fixed_names.iter().all(|n| m.fixed_names.contains(n))
                && prev
                    .varcomp_names
                    .iter()
                    .all(|n| m.varcomp_names.contains(n));
            if df == 0 {
                row.note = "same number of parameters: no test".into();
            } else if nested {
                let k = m.varcomp_names.len() - prev.varcomp_names.len();
                let f = df - k;
                row.boundary_components = k;
                if k == 0 {
                    row.p_value = Some(chisq_upper(chisq, df as f64));
                    row.note = format!("chi-square({df})");
                } else {
                    row.p_value = Some(boundary_pvalue(chisq, f, k));
                    row.note = if k == 1 {
                        format!("variance on the boundary: 50:50 mixture of chi-square({f}) and chi-square({}) (Self & Liang 1987)", f + 1)
                    } else {
                        format!("{k} variances on the boundary: chi-bar-square mixture of chi-square({f}..{}) with binomial weights", f + k)
                    };
                }
            } else {
                row.p_value = Some(chisq_upper(chisq, df as f64));
                row.note = format!("chi-square({df}); the models are not nested by parameter names, so this test may not be valid");
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixture_tails() {
        // one boundary parameter, nothing else: half the chi-square(1) tail
        assert!((boundary_pvalue(2.705543454095404, 0, 1) - 0.05).abs() < 1e-10);
        // f = 1, k = 1: 0.5 chi2(1) + 0.5 chi2(2)
        let x = 3.0;
        let want = 0.5 * chisq_upper(x, 1.0) + 0.5 * chisq_upper(x, 2.0);
        assert!((boundary_pvalue(x, 1, 1) - want).abs() < 1e-15);
        // k = 2: 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2)
        let want = 0.5 * chisq_upper(x, 1.0) + 0.25 * chisq_upper(x, 2.0);
        assert!((boundary_pvalue(x, 0, 2) - want).abs() < 1e-15);
    }

    #[test]
    fn different_rows_are_refused() {
        let a = ModelSummary {
            label: "a".into(),
            loglik: -1.0,
            loglik_mcse: 0.0,
            n: 3,
            fixed_names: vec!["x".into()],
            varcomp_names: vec![],
            rows: Some(vec![0, 1, 2]),
        };
        let mut b = a.clone();
        b.rows = Some(vec![0, 1, 3]);
        b.label = "b".into();
        assert!(matches!(
            anova(&[a.clone(), b]),
            Err(CompareError::DifferentRows { .. })
        ));
        assert!(matches!(anova(&[a]), Err(CompareError::TooFew(1))));
    }
}
