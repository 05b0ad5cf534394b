//! Linear hypotheses about the parameters: Wald tests with their Monte Carlo error.
//!
//! A [`Hypothesis`] is a set of linear restrictions `L theta = c`, parsed from text such as
//! `CrossR/R = CrossW/W` or `CrossR/R - CrossW/W = 0, CrossR/W = CrossW/R` (one restriction per
//! comma).  Parameter names are matched exactly as printed — names such as `CrossR/R` or
//! `SiteRiverside:RegionS` contain characters that would be operators elsewhere, so the parser
//! matches the longest known name first; a name may also be quoted with backticks or double
//! quotes.  [`Fit::wald`] returns a [`WaldTest`]: each row's estimate, SE (from `vcov`), z and
//! two-sided p-value and MCSE (from `mcvcov`), and for several rows the joint chi-square.
//!
//! ```
//! use mcla::infer::wald::Hypothesis;
//! let names = ["CrossR/R", "CrossR/W", "CrossW/R", "CrossW/W", "F", "M"];
//! let h = Hypothesis::parse("CrossR/R = CrossW/W, 2*CrossR/W - CrossW/R = 1", &names).unwrap();
//! assert_eq!(h.rows[0].coefficients, [1.0, 0.0, 0.0, -1.0, 0.0, 0.0]);
//! assert_eq!(h.rows[1].coefficients, [0.0, 2.0, -1.0, 0.0, 0.0, 0.0]);
//! assert_eq!(h.rows[1].rhs, 1.0);
//! assert!(Hypothesis::parse("CrossR/X = 0", &names).is_err());
//! ```

use crate::fit::vcov;
use crate::fit::Fit;
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use thiserror::Error;

/// A problem with a hypothesis.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum WaldError {
    /// Unknown name or stray text.
    #[error("in hypothesis '{text}': cannot read '{at}' — {why}; parameters are: {names}")]
    Parse {
        /// The hypothesis.
        text: String,
        /// Where reading stopped.
        at: String,
        /// What was expected.
        why: String,
        /// Valid names.
        names: String,
    },
    /// A row with no parameter.
    #[error("in hypothesis '{text}': restriction '{row}' involves no parameter (all coefficients cancel)")]
    Empty {
        /// The hypothesis.
        text: String,
        /// The row.
        row: String,
    },
    /// Rows are linearly dependent or the covariance is not usable.
    #[error("hypothesis '{text}': {why}")]
    Singular {
        /// The hypothesis.
        text: String,
        /// Why.
        why: String,
    },
}

/// One linear restriction `sum_j coefficients[j] theta_j = rhs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restriction {
    /// The restriction as written.
    pub text: String,
    /// One coefficient per parameter.
    pub coefficients: Vec<f64>,
    /// Right-hand side.
    pub rhs: f64,
}

/// A set of linear restrictions on theta (tested jointly).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hypothesis {
    /// The hypothesis as written.
    pub text: String,
    /// Its restrictions (comma-separated in the text).
    pub rows: Vec<Restriction>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(usize),
    Num(f64),
    Op(char),
}

fn tokenize(
    s: &str,
    names: &[&str],
    fail: &dyn Fn(&str, &str) -> WaldError,
) -> Result<Vec<Tok>, WaldError> {
    // longest names first, so `CrossR/R` wins over an operator reading
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&j| std::cmp::Reverse(names[j].len()));
    let mut toks = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(toks);
        }
        let first = rest.chars().next().unwrap_or(' ');
        if first == '`' || first == '"' {
            let close = rest[1..]
                .find(first)
                .ok_or_else(|| fail(rest, "an unclosed quote"))?;
            let name = &rest[1..1 + close];
            let j = names
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| fail(rest, &format!("'{name}' is not a parameter")))?;
            toks.push(Tok::Name(j));
            rest = &rest[close + 2..];
            continue;
        }
        if let Some(&j) = order
            .iter()
            .find(|&&j| !names[j].is_empty() && rest.starts_with(names[j]))
        {
            toks.push(Tok::Name(j));
            rest = &rest[names[j].len()..];
            continue;
        }
        if "+-*=".contains(first) {
            toks.push(Tok::Op(first));
            rest = &rest[1..];
            continue;
        }
        if first.is_ascii_digit() || first == '.' {
            let end = rest
                .char_indices()
                .find(|&(i, c)| {
                    !(c.is_ascii_digit()
                        || c == '.'
                        || ((c == 'e' || c == 'E') && i > 0)
                        || ((c == '-' || c == '+')
                            && i > 0
                            && matches!(rest.as_bytes()[i - 1], b'e' | b'E')))
                })
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            let v: f64 = rest[..end].parse().map_err(|_| fail(rest, "a number"))?;
            toks.push(Tok::Num(v));
            rest = &rest[end..];
            continue;
        }
        return Err(fail(rest, "a parameter name, a number, +, -, * or ="));
    }
}

impl Hypothesis {
    /// Parse `text` against the parameter `names` (coefficients then variance components).
    pub fn parse<S: AsRef<str>>(text: &str, names: &[S]) -> Result<Hypothesis, WaldError> {
        let names: Vec<&str> = names.iter().map(|s| s.as_ref()).collect();
        let d = names.len();
        let fail = |at: &str, why: &str| WaldError::Parse {
            text: text.to_string(),
            at: at.chars().take(30).collect(),
            why: why.to_string(),
            names: names.join(", "),
        };
        let mut rows = Vec::new();
        for row_text in split_rows(text) {
            let toks = tokenize(&row_text, &names, &fail)?;
            if toks.is_empty() {
                return Err(fail(&row_text, "an empty restriction"));
            }
            let mut coef = vec![0.0; d];
            let mut rhs = 0.0;
            let mut side = 1.0; // +1 left of '=', -1 right
            let mut seen_eq = false;
            let mut i = 0;
            let mut expect_term = true;
            let mut sign = 1.0;
            while i < toks.len() {
                match &toks[i] {
                    Tok::Op('=') => {
                        if seen_eq || expect_term {
                            return Err(fail(&row_text, "one '=' between two expressions"));
                        }
                        seen_eq = true;
                        side = -1.0;
                        sign = 1.0;
                        expect_term = true;
                        i += 1;
                    }
                    Tok::Op(c @ ('+' | '-')) => {
                        if *c == '-' {
                            sign = -sign;
                        }
                        expect_term = true;
                        i += 1;
                    }
                    Tok::Num(v) => {
                        let v = *v;
                        // number, or number * name, or number name
                        let mut j = i + 1;
                        if toks.get(j) == Some(&Tok::Op('*')) {
                            j += 1;
                        }
                        match toks.get(j) {
                            Some(Tok::Name(k)) => {
                                coef[*k] += side * sign * v;
                                i = j + 1;
                            }
                            _ if j == i + 2 => {
                                return Err(fail(&row_text, "a parameter after '*'"))
                            }
                            _ => {
                                rhs -= side * sign * v;
                                i += 1;
                            }
                        }
                        sign = 1.0;
                        expect_term = false;
                    }
                    Tok::Name(k) => {
                        let k = *k;
                        let mut v = 1.0;
                        let mut j = i + 1;
                        if toks.get(j) == Some(&Tok::Op('*')) {
                            match toks.get(j + 1) {
                                Some(Tok::Num(x)) => {
                                    v = *x;
                                    j += 2;
                                }
                                _ => return Err(fail(&row_text, "a number after '*'")),
                            }
                        }
                        coef[k] += side * sign * v;
                        sign = 1.0;
                        expect_term = false;
                        i = j;
                    }
                    Tok::Op(_) => {
                        return Err(fail(&row_text, "'*' between a number and a parameter"))
                    }
                }
                if !expect_term {
                    if let Some(Tok::Name(_) | Tok::Num(_)) = toks.get(i) {
                        return Err(fail(&row_text, "+ or - between terms"));
                    }
                }
            }
            if expect_term {
                return Err(fail(&row_text, "a term after the last operator"));
            }
            if coef.iter().all(|&c| c == 0.0) {
                return Err(WaldError::Empty {
                    text: text.to_string(),
                    row: row_text.trim().to_string(),
                });
            }
            // `a - b` without '=' means `a - b = 0`
            rows.push(Restriction {
                text: row_text.trim().to_string(),
                coefficients: coef,
                rhs,
            });
        }
        Ok(Hypothesis {
            text: text.to_string(),
            rows,
        })
    }
}

/// Split at commas outside quotes.
fn split_rows(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for ch in text.chars() {
        match quote {
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                cur.push(ch);
            }
            None if ch == '`' || ch == '"' => {
                quote = Some(ch);
                cur.push(ch);
            }
            None if ch == ',' => out.push(std::mem::take(&mut cur)),
            None => cur.push(ch),
        }
    }
    out.push(cur);
    out
}

/// One restriction's estimate and z test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaldRow {
    /// The restriction as written.
    pub restriction: String,
    /// `L theta - c`.
    pub estimate: f64,
    /// `sqrt(L vcov L')`.
    pub std_error: f64,
    /// `estimate / std_error`.
    pub z_value: f64,
    /// Two-sided `2 Phi(-|z|)`.
    pub p_value: f64,
    /// Monte Carlo standard error of the estimate, `sqrt(L mcvcov L')`.
    pub mcse: f64,
}

/// The result of a Wald test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaldTest {
    /// The hypothesis as written.
    pub hypothesis: String,
    /// One row per restriction.
    pub rows: Vec<WaldRow>,
    /// `(L theta - c)' (L vcov L')^{-1} (L theta - c)`.
    pub chisq: f64,
    /// Number of restrictions.
    pub df: usize,
    /// `P(chi-square(df) > chisq)` (equals the row's two-sided p for one restriction).
    pub p_value: f64,
    /// Monte Carlo standard error of `chisq` (delta method with `mcvcov`).
    pub chisq_mcse: f64,
    /// Whether a variance component is involved (its Wald test is not valid at the boundary).
    pub involves_variance: bool,
}

/// `P(chi-square(df) > x)`.
pub fn chisq_upper(x: f64, df: f64) -> f64 {
    if !x.is_finite() {
        return if x.is_nan() { f64::NAN } else { 0.0 };
    }
    if x <= 0.0 {
        return 1.0;
    }
    match ChiSquared::new(df) {
        Ok(c) => c.sf(x),
        Err(_) => f64::NAN,
    }
}

fn quad(a: &[f64], m: &[f64], b: &[f64]) -> f64 {
    let d = a.len();
    let mut s = 0.0;
    // zero coefficients are skipped on both sides: a parameter whose covariance is not
    // available (NaN: a variance on the boundary) matters only to restrictions involving it
    for r in 0..d {
        if a[r] == 0.0 {
            continue;
        }
        for c in 0..d {
            if b[c] != 0.0 {
                s += a[r] * m[r * d + c] * b[c];
            }
        }
    }
    s
}

impl Fit {
    /// Wald test of `hypothesis` (see the [module docs](crate::infer::wald)).
    ///
    /// ```no_run
    /// # let fit: mcla::Fit = unimplemented!();
    /// use mcla::infer::wald::Hypothesis;
    /// let h = Hypothesis::parse("CrossR/R = CrossW/W", &fit.parameter_names).unwrap();
    /// let t = fit.wald(&h).unwrap();
    /// println!("z = {:.3}, p = {:.3}", t.rows[0].z_value, t.rows[0].p_value);
    /// ```
    pub fn wald(&self, hypothesis: &Hypothesis) -> Result<WaldTest, WaldError> {
        let d = self.dim();
        let k = hypothesis.rows.len();
        let sing = |why: &str| WaldError::Singular {
            text: hypothesis.text.clone(),
            why: why.to_string(),
        };
        if hypothesis.rows.iter().any(|r| r.coefficients.len() != d) {
            return Err(sing("it was parsed against different parameter names"));
        }
        let est: Vec<f64> = hypothesis
            .rows
            .iter()
            .map(|r| {
                r.coefficients
                    .iter()
                    .zip(&self.theta)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    - r.rhs
            })
            .collect();
        let lv = Mat::from_fn(k, k, |a, b| {
            quad(
                &hypothesis.rows[a].coefficients,
                &self.vcov,
                &hypothesis.rows[b].coefficients,
            )
        });
        let rows: Vec<WaldRow> = (0..k)
            .map(|a| {
                let r = &hypothesis.rows[a];
                let se = vcov::non_negative(lv[(a, a)]).sqrt();
                let mc =
                    vcov::non_negative(quad(&r.coefficients, &self.mcvcov, &r.coefficients)).sqrt();
                let z = est[a] / se;
                WaldRow {
                    restriction: r.text.clone(),
                    estimate: est[a],
                    std_error: se,
                    z_value: z,
                    p_value: 2.0 * vcov::normal_cdf(-z.abs()),
                    mcse: mc,
                }
            })
            .collect();
        if (0..k).any(|a| !lv[(a, a)].is_finite()) {
            return Err(sing(if (0..k).any(|a| lv[(a, a)].is_nan()) {
                "a restriction involves a variance on the boundary (essentially zero), whose standard error is not available; no Wald test of it is possible (compare the models with and without that random effect by a likelihood-ratio test instead: mcla compare)"
            } else {
                "the covariance matrix of the estimates is not finite (the Hessian is singular); no Wald test is possible"
            }));
        }
        let llt = lv
            .llt(Side::Lower)
            .map_err(|_| sing("the restrictions are linearly dependent (one follows from the others): drop the redundant ones"))?;
        let inv = llt.inverse();
        let mut chisq = 0.0;
        let mut w = vec![0.0; k];
        for a in 0..k {
            for b in 0..k {
                chisq += est[a] * inv[(a, b)] * est[b];
                w[a] += inv[(a, b)] * est[b];
            }
        }
        // d chisq / d theta = 2 L' (L V L')^{-1} (L theta - c)
        let g: Vec<f64> = (0..d)
            .map(|j| {
                2.0 * (0..k)
                    .map(|a| hypothesis.rows[a].coefficients[j] * w[a])
                    .sum::<f64>()
            })
            .collect();
        let chisq_mcse = vcov::non_negative(quad(&g, &self.mcvcov, &g)).sqrt();
        let involves_variance = hypothesis
            .rows
            .iter()
            .any(|r| r.coefficients[self.p..].iter().any(|&c| c != 0.0));
        Ok(WaldTest {
            hypothesis: hypothesis.text.clone(),
            rows,
            chisq,
            df: k,
            p_value: chisq_upper(chisq, k as f64),
            chisq_mcse,
            involves_variance,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 6] = ["CrossR/R", "CrossR/W", "CrossW/R", "CrossW/W", "F", "M"];

    #[test]
    fn parses_the_spellings() {
        let a = Hypothesis::parse("CrossR/R = CrossW/W", &NAMES).unwrap();
        let b = Hypothesis::parse("CrossR/R - CrossW/W = 0", &NAMES).unwrap();
        let c = Hypothesis::parse("`CrossR/R` - \"CrossW/W\"", &NAMES).unwrap();
        assert_eq!(a.rows[0].coefficients, b.rows[0].coefficients);
        assert_eq!(a.rows[0].coefficients, c.rows[0].coefficients);
        assert_eq!(a.rows[0].rhs, 0.0);
        let j = Hypothesis::parse("CrossR/R = CrossW/W, CrossR/W = CrossW/R", &NAMES).unwrap();
        assert_eq!(j.rows.len(), 2);
        assert_eq!(j.rows[1].coefficients, [0.0, 1.0, -1.0, 0.0, 0.0, 0.0]);
        let k = Hypothesis::parse("0.5*CrossR/R + CrossW/W * 0.5 = 1e-1 + 0.2", &NAMES).unwrap();
        assert_eq!(k.rows[0].coefficients, [0.5, 0.0, 0.0, 0.5, 0.0, 0.0]);
        assert!((k.rows[0].rhs - 0.3).abs() < 1e-15);
        // a name that is a prefix of another
        let names = ["x", "x:g", "nu"];
        let h = Hypothesis::parse("x:g = x", &names).unwrap();
        assert_eq!(h.rows[0].coefficients, [-1.0, 1.0, 0.0]);
    }

    #[test]
    fn rejects_bad_text_with_the_valid_names() {
        for bad in [
            "CrossR/X = 0",
            "CrossR/R = = CrossW/W",
            "CrossR/R CrossW/W",
            "CrossR/R -",
            "",
            "CrossR/R * CrossW/W",
            "`CrossR/R = 0",
        ] {
            let e = Hypothesis::parse(bad, &NAMES).unwrap_err().to_string();
            assert!(
                e.contains("CrossR/R") || e.contains("no parameter"),
                "{bad}: {e}"
            );
        }
        assert!(matches!(
            Hypothesis::parse("CrossR/R - CrossR/R = 0", &NAMES),
            Err(WaldError::Empty { .. })
        ));
    }

    #[test]
    fn chi_square_tail() {
        assert!((chisq_upper(3.841458820694124, 1.0) - 0.05).abs() < 1e-10);
        assert!((chisq_upper(5.991464547107979, 2.0) - 0.05).abs() < 1e-10);
        assert_eq!(chisq_upper(0.0, 1.0), 1.0);
    }
}
