//! Exponential families with canonical links (SPEC §2).
//!
//! This module owns the cumulant function `c(eta)`, the mean `c'(eta)`, the
//! variance `c''(eta)` and the log-density constant of each family, computed
//! stably for any finite `eta` (no overflow or NaN at |eta| = 800).  The hot
//! MCLA kernel uses the vectorised slice versions in `mcla-math`; the scalar
//! functions here are the reference they are tested against.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::ln_gamma;

/// Response distribution of `y_i | u` (canonical link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// 0/1 responses, logit link; `c(eta) = log(1 + e^eta)`.
    Bernoulli,
    /// `y_i` successes out of `N_i` trials, logit link; `c(eta) = N_i log(1 + e^eta)`.
    Binomial,
    /// Non-negative integer counts, log link; `c(eta) = e^eta`.
    Poisson,
}

impl Family {
    /// Lower-case name as used on the command line and in R glmm (`bernoulli.glmm`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Bernoulli => "bernoulli",
            Family::Binomial => "binomial",
            Family::Poisson => "poisson",
        }
    }

    /// Name of the canonical link.
    pub fn link(self) -> &'static str {
        match self {
            Family::Bernoulli | Family::Binomial => "logit",
            Family::Poisson => "log",
        }
    }

    /// Parse `bernoulli`, `binomial` or `poisson` (case-insensitive).
    pub fn parse(s: &str) -> Option<Family> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bernoulli" | "bernoulli.glmm" => Some(Family::Bernoulli),
            "binomial" | "binomial.glmm" => Some(Family::Binomial),
            "poisson" | "poisson.glmm" => Some(Family::Poisson),
            _ => None,
        }
    }

    /// Cumulant `c(eta)` for an observation with `trials` trials (ignored for poisson).
    #[inline]
    pub fn cumulant(self, eta: f64, trials: f64) -> f64 {
        match self {
            Family::Bernoulli | Family::Binomial => trials * softplus(eta),
            Family::Poisson => eta.exp(),
        }
    }

    /// Mean `c'(eta)`.
    #[inline]
    pub fn mean(self, eta: f64, trials: f64) -> f64 {
        match self {
            Family::Bernoulli | Family::Binomial => trials * logistic(eta),
            Family::Poisson => eta.exp(),
        }
    }

    /// Variance function `c''(eta)`.
    #[inline]
    pub fn variance(self, eta: f64, trials: f64) -> f64 {
        match self {
            Family::Bernoulli | Family::Binomial => {
                let p = logistic(eta);
                let q = logistic(-eta);
                trials * p * q
            }
            Family::Poisson => eta.exp(),
        }
    }

    /// [`cumulant`](Family::cumulant) of every `eta[i]` with `trials[i]`, into `out`, by the
    /// vectorised kernels of `mcla_math` (softplus, or `exp`).
    pub fn cumulant_slice(self, eta: &[f64], trials: &[f64], out: &mut Vec<f64>) {
        out.resize(eta.len(), 0.0);
        match self {
            Family::Bernoulli | Family::Binomial => {
                let _ = mcla_math::softplus_slice(eta, out);
                out.iter_mut().zip(trials).for_each(|(c, &nt)| *c *= nt);
            }
            Family::Poisson => {
                let _ = mcla_math::exp_slice(eta, out);
            }
        }
    }

    /// [`mean`](Family::mean) and [`variance`](Family::variance) of every `eta[i]` with
    /// `trials[i]`, into `mean` and `var`, by the vectorised kernels of `mcla_math` (the
    /// logistic of `eta` and of `-eta`, as the scalar variance, or `exp`).
    pub fn mean_variance_slice(
        self,
        eta: &[f64],
        trials: &[f64],
        mean: &mut Vec<f64>,
        var: &mut Vec<f64>,
    ) {
        let n = eta.len();
        mean.resize(n, 0.0);
        var.resize(n, 0.0);
        match self {
            Family::Bernoulli | Family::Binomial => {
                let _ = mcla_math::logistic_slice(eta, mean);
                // q = logistic(-eta) (accurate where p is near 1)
                let neg: Vec<f64> = eta.iter().map(|e| -e).collect();
                let _ = mcla_math::logistic_slice(&neg, var);
                for ((m, v), &nt) in mean.iter_mut().zip(var.iter_mut()).zip(trials) {
                    *v *= nt * *m;
                    *m *= nt;
                }
            }
            Family::Poisson => {
                let _ = mcla_math::exp_slice(eta, mean);
                var.copy_from_slice(mean);
            }
        }
    }

    /// The log-density constant `const_i` of SPEC §2 (R glmm omits it):
    /// `log choose(N, y)` for binomial, `-log(y!)` for poisson, 0 for bernoulli.
    pub fn log_constant(self, y: f64, trials: f64) -> f64 {
        match self {
            Family::Bernoulli => 0.0,
            Family::Binomial => {
                ln_gamma(trials + 1.0) - ln_gamma(y + 1.0) - ln_gamma(trials - y + 1.0)
            }
            Family::Poisson => -ln_gamma(y + 1.0),
        }
    }

    /// Conditional log density `y eta - c(eta)` of one observation, without the constant.
    #[inline]
    pub fn log_density_kernel(self, y: f64, eta: f64, trials: f64) -> f64 {
        y * eta - self.cumulant(eta, trials)
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `log(1 + e^x)` without overflow: `max(x, 0) + log1p(e^-|x|)`.
#[inline]
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `1 / (1 + e^-x)` without overflow.
#[inline]
pub fn logistic(x: f64) -> f64 {
    let t = (-x.abs()).exp();
    if x >= 0.0 {
        1.0 / (1.0 + t)
    } else {
        t / (1.0 + t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILIES: [Family; 3] = [Family::Bernoulli, Family::Binomial, Family::Poisson];

    #[test]
    fn derivatives_match_central_differences() {
        for fam in FAMILIES {
            let n = if fam == Family::Binomial { 7.0 } else { 1.0 };
            for &eta in &[-30.0f64, -5.0, -0.3, 0.0, 0.7, 4.0, 12.0] {
                let h = 1e-5 * (1.0f64).max(eta.abs());
                let d1 = (fam.cumulant(eta + h, n) - fam.cumulant(eta - h, n)) / (2.0 * h);
                let d2 = (fam.mean(eta + h, n) - fam.mean(eta - h, n)) / (2.0 * h);
                let m = fam.mean(eta, n);
                let v = fam.variance(eta, n);
                assert!(
                    (d1 - m).abs() <= 1e-7 * m.abs().max(1e-300) + 1e-12,
                    "{fam} c' at {eta}: {d1} vs {m}"
                );
                assert!(
                    (d2 - v).abs() <= 1e-6 * v.abs().max(1e-300) + 1e-12,
                    "{fam} c'' at {eta}: {d2} vs {v}"
                );
            }
        }
    }

    #[test]
    fn closed_forms() {
        // bernoulli at 0: log 2, 1/2, 1/4
        assert!((Family::Bernoulli.cumulant(0.0, 1.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(Family::Bernoulli.mean(0.0, 1.0), 0.5);
        assert_eq!(Family::Bernoulli.variance(0.0, 1.0), 0.25);
        // binomial: N times the bernoulli values
        let eta: f64 = 0.37;
        let p = 1.0 / (1.0 + (-eta).exp());
        assert!((Family::Binomial.mean(eta, 5.0) - 5.0 * p).abs() < 1e-14);
        assert!((Family::Binomial.variance(eta, 5.0) - 5.0 * p * (1.0 - p)).abs() < 1e-14);
        assert!((Family::Binomial.cumulant(eta, 5.0) - 5.0 * (1.0 + eta.exp()).ln()).abs() < 1e-13);
        // poisson
        assert!((Family::Poisson.cumulant(1.3, 1.0) - 1.3f64.exp()).abs() < 1e-15);
        // constants: log choose(5, 2) = log 10; -log(3!) = -log 6
        assert!((Family::Binomial.log_constant(2.0, 5.0) - 10f64.ln()).abs() < 1e-12);
        assert!((Family::Poisson.log_constant(3.0, 1.0) + 6f64.ln()).abs() < 1e-12);
        assert_eq!(Family::Bernoulli.log_constant(1.0, 1.0), 0.0);
    }

    #[test]
    fn no_overflow_at_large_eta() {
        for fam in [Family::Bernoulli, Family::Binomial] {
            for &eta in &[-800.0, 800.0] {
                let (c, m, v) = (
                    fam.cumulant(eta, 3.0),
                    fam.mean(eta, 3.0),
                    fam.variance(eta, 3.0),
                );
                assert!(
                    c.is_finite() && m.is_finite() && v.is_finite(),
                    "{fam} at {eta}"
                );
            }
        }
        assert_eq!(Family::Bernoulli.cumulant(800.0, 1.0), 800.0);
        assert_eq!(Family::Bernoulli.cumulant(-800.0, 1.0), 0.0);
        assert_eq!(Family::Bernoulli.mean(-800.0, 1.0), 0.0);
        assert_eq!(Family::Bernoulli.mean(800.0, 1.0), 1.0);
        assert_eq!(Family::Bernoulli.variance(800.0, 1.0), 0.0);
        // poisson at -800 is a tiny positive number or 0, never NaN
        assert!(Family::Poisson.cumulant(-800.0, 1.0) >= 0.0);
    }

    #[test]
    fn slice_versions_match_the_scalar_reference() {
        // from -800 to 800 (no overflow), with the trials of a binomial
        let eta: Vec<f64> = (-80..=80)
            .map(|k| 0.37 * k as f64)
            .chain([-800.0, -40.0, 40.0, 800.0])
            .collect();
        let trials: Vec<f64> = (0..eta.len()).map(|i| 1.0 + (i % 5) as f64).collect();
        let close = |a: f64, b: f64, what: &str| {
            assert!(
                (a - b).abs() <= 1e-14 * b.abs().max(1e-300),
                "{what}: {a} vs {b}"
            );
        };
        for fam in FAMILIES {
            let (mut c, mut m, mut v) = (Vec::new(), Vec::new(), Vec::new());
            fam.cumulant_slice(&eta, &trials, &mut c);
            fam.mean_variance_slice(&eta, &trials, &mut m, &mut v);
            for (i, &e) in eta.iter().enumerate() {
                if fam == Family::Poisson && e.abs() > 100.0 {
                    continue; // exp overflows either way
                }
                close(c[i], fam.cumulant(e, trials[i]), &format!("{fam:?} c({e})"));
                close(m[i], fam.mean(e, trials[i]), &format!("{fam:?} c'({e})"));
                close(
                    v[i],
                    fam.variance(e, trials[i]),
                    &format!("{fam:?} c''({e})"),
                );
            }
        }
    }

    #[test]
    fn parse_names() {
        assert_eq!(Family::parse("Bernoulli"), Some(Family::Bernoulli));
        assert_eq!(Family::parse("poisson.glmm"), Some(Family::Poisson));
        assert_eq!(Family::parse("gaussian"), None);
    }
}
