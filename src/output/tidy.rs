//! Tidy tables: CSV in broom.mixed's shape and R-like text for the inference tables
//! (Wald tests, predictions, random effects, model comparisons, profile intervals).
//!
//! Numbers in CSV are written with full precision (shortest round-trip), non-finite values as
//! `Inf`, `-Inf`, and NaN (not available) and missing ones as `NA`, as R's `read.csv` reads them.
//!
//! ```
//! assert_eq!(mcla::output::tidy::csv_field("CrossR/R"), "CrossR/R");
//! assert_eq!(mcla::output::tidy::csv_field("a,b"), "\"a,b\"");
//! assert_eq!(mcla::output::tidy::csv_num(f64::INFINITY), "Inf");
//! ```

use crate::fit::Fit;
use crate::infer::compare::AnovaRow;
use crate::infer::predict::Prediction;
use crate::infer::profile::ProfileInterval;
use crate::infer::wald::WaldTest;
use crate::integrate::RanefRow;
use crate::output::report::{format_column, format_pvalue_column, format_signif, render_table};

/// Quote a CSV field when it needs it.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A number as R reads it; NaN ("not available", e.g. the standard error of a variance on the
/// boundary) is written `NA`.
pub fn csv_num(x: f64) -> String {
    if x.is_nan() {
        "NA".into()
    } else if x == f64::INFINITY {
        "Inf".into()
    } else if x == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{x}")
    }
}

fn opt_num(x: Option<f64>) -> String {
    x.map(csv_num).unwrap_or_else(|| "NA".into())
}

fn line(fields: &[String]) -> String {
    let mut s = fields.join(",");
    s.push('\n');
    s
}

/// The parameter table, one row per parameter (broom.mixed's `tidy(fit, conf.int = TRUE)`
/// shape): `effect` is `fixed` or `ran_pars` (the variance, not its square root), `statistic`
/// the z value, `p.value` two-sided for fixed effects and one-sided for variances (as the text
/// summary), intervals Wald unless `profile` intervals are given.
pub fn params_csv(fit: &Fit, level: f64, profile: Option<&[ProfileInterval]>) -> String {
    let mut o = line(
        &[
            "effect",
            "term",
            "estimate",
            "std.error",
            "statistic",
            "p.value",
            "conf.low",
            "conf.high",
            "mcse",
        ]
        .map(String::from),
    );
    let wald = fit.confint(level, &[]).unwrap_or_default();
    let rows = fit.fixed_table().into_iter().chain(fit.varcomps_table());
    for (j, r) in rows.enumerate() {
        let (lo, hi) = match profile.and_then(|p| p.iter().find(|iv| iv.name == r.name)) {
            Some(iv) => (iv.lower, iv.upper),
            None => wald
                .get(j)
                .map(|w| (w.1, w.2))
                .unwrap_or((f64::NAN, f64::NAN)),
        };
        o.push_str(&line(&[
            if j < fit.p { "fixed" } else { "ran_pars" }.into(),
            csv_field(&r.name),
            csv_num(r.estimate),
            csv_num(r.std_error),
            csv_num(r.z_value),
            csv_num(r.p_value),
            csv_num(lo),
            csv_num(hi),
            csv_num(r.mcse),
        ]));
    }
    o
}

/// Wald tests: one row per restriction, with the joint chi-square on every row of a test.
pub fn tests_csv(tests: &[WaldTest]) -> String {
    let mut o = line(
        &[
            "hypothesis",
            "restriction",
            "estimate",
            "std.error",
            "statistic",
            "p.value",
            "mcse",
            "chisq",
            "df",
            "joint.p.value",
            "chisq.mcse",
        ]
        .map(String::from),
    );
    for t in tests {
        for r in &t.rows {
            o.push_str(&line(&[
                csv_field(&t.hypothesis),
                csv_field(&r.restriction),
                csv_num(r.estimate),
                csv_num(r.std_error),
                csv_num(r.z_value),
                csv_num(r.p_value),
                csv_num(r.mcse),
                csv_num(t.chisq),
                t.df.to_string(),
                csv_num(t.p_value),
                csv_num(t.chisq_mcse),
            ]));
        }
    }
    o
}

/// Predictions.
pub fn predictions_csv(rows: &[Prediction]) -> String {
    let mut o = line(
        &[
            "row",
            "kind",
            "scale",
            "estimate",
            "std.error",
            "conf.low",
            "conf.high",
            "mcse",
        ]
        .map(String::from),
    );
    for p in rows {
        o.push_str(&line(&[
            csv_field(&p.label),
            format!("{:?}", p.kind).to_lowercase(),
            format!("{:?}", p.scale).to_lowercase(),
            csv_num(p.estimate),
            csv_num(p.std_error),
            csv_num(p.conf_low),
            csv_num(p.conf_high),
            csv_num(p.mcse),
        ]));
    }
    o
}

/// Random-effect predictions (`component, level, mean, sd, mcse`).
pub fn ranef_csv(rows: &[RanefRow]) -> String {
    let mut o = line(&["component", "level", "mean", "sd", "mcse"].map(String::from));
    for r in rows {
        o.push_str(&line(&[
            csv_field(&r.component),
            csv_field(&r.level),
            csv_num(r.mean),
            csv_num(r.sd),
            csv_num(r.mcse),
        ]));
    }
    o
}

/// Model comparison.
pub fn anova_csv(rows: &[AnovaRow]) -> String {
    let mut o = line(
        &[
            "model",
            "npar",
            "AIC",
            "BIC",
            "logLik",
            "logLik.mcse",
            "deviance",
            "Chisq",
            "Chisq.mcse",
            "Df",
            "p.value",
            "note",
        ]
        .map(String::from),
    );
    for r in rows {
        o.push_str(&line(&[
            csv_field(&r.label),
            r.npar.to_string(),
            csv_num(r.aic),
            csv_num(r.bic),
            csv_num(r.loglik),
            csv_num(r.loglik_mcse),
            csv_num(r.deviance),
            opt_num(r.chisq),
            opt_num(r.chisq_mcse),
            r.df.map(|d| d.to_string()).unwrap_or_else(|| "NA".into()),
            opt_num(r.p_value),
            csv_field(&r.note),
        ]));
    }
    o
}

/// Text: Wald tests.
pub fn tests_text(tests: &[WaldTest]) -> String {
    let mut o = String::new();
    for t in tests {
        o.push_str(&format!("\nWald test of H0: {}\n", t.hypothesis));
        let est: Vec<f64> = t.rows.iter().map(|r| r.estimate).collect();
        let se: Vec<f64> = t.rows.iter().map(|r| r.std_error).collect();
        let z: Vec<f64> = t.rows.iter().map(|r| r.z_value).collect();
        let mc: Vec<f64> = t.rows.iter().map(|r| r.mcse).collect();
        let (fe, fs, fz, fm) = (
            format_column(&est, 4),
            format_column(&se, 4),
            format_column(&z, 4),
            format_column(&mc, 2),
        );
        let fp = format_pvalue_column(&t.rows.iter().map(|r| r.p_value).collect::<Vec<_>>());
        let rows: Vec<(String, Vec<String>)> = t
            .rows
            .iter()
            .enumerate()
            .map(|(k, r)| {
                (
                    r.restriction.clone(),
                    vec![
                        fe[k].clone(),
                        fs[k].clone(),
                        fz[k].clone(),
                        fp[k].clone(),
                        fm[k].clone(),
                    ],
                )
            })
            .collect();
        o.push_str(&render_table(
            &["Estimate", "Std. Error", "z value", "Pr(>|z|)", "MCSE"],
            &rows,
        ));
        if t.df > 1 {
            o.push_str(&format!(
                "Joint test: Chisq = {} on {} df, p-value = {} (MCSE of Chisq {})\n",
                format_signif(t.chisq, 5),
                t.df,
                format_pvalue_column(&[t.p_value])[0],
                format_signif(t.chisq_mcse, 2)
            ));
        }
        if t.involves_variance {
            o.push_str("(a variance component is involved: a Wald test is not valid when its value under H0 is on the boundary 0; use mcla compare)\n");
        }
    }
    o
}

/// Text: predictions.
pub fn predictions_text(title: &str, rows: &[Prediction], level: f64) -> String {
    let mut o = format!("\n{title}\n");
    let col = |f: fn(&Prediction) -> f64, d: usize| {
        format_column(&rows.iter().map(f).collect::<Vec<_>>(), d)
    };
    let (e, s, lo, hi, m) = (
        col(|p| p.estimate, 4),
        col(|p| p.std_error, 3),
        col(|p| p.conf_low, 4),
        col(|p| p.conf_high, 4),
        col(|p| p.mcse, 2),
    );
    let pct = format_signif(100.0 * level, 4);
    let lo_h = format!("lower {pct}%");
    let hi_h = format!("upper {pct}%");
    let table: Vec<(String, Vec<String>)> = rows
        .iter()
        .enumerate()
        .map(|(k, p)| {
            (
                p.label.clone(),
                vec![
                    e[k].clone(),
                    s[k].clone(),
                    lo[k].clone(),
                    hi[k].clone(),
                    m[k].clone(),
                ],
            )
        })
        .collect();
    o.push_str(&render_table(
        &["Estimate", "Std. Error", &lo_h, &hi_h, "MCSE"],
        &table,
    ));
    o
}

/// Text: model comparison (lme4's `anova` layout plus MCSE columns).
pub fn anova_text(rows: &[AnovaRow]) -> String {
    let f = |v: Vec<f64>, d: usize| format_column(&v, d);
    let aic = f(rows.iter().map(|r| r.aic).collect(), 5);
    let bic = f(rows.iter().map(|r| r.bic).collect(), 5);
    let ll = f(rows.iter().map(|r| r.loglik).collect(), 5);
    let llm = f(rows.iter().map(|r| r.loglik_mcse).collect(), 2);
    let dev = f(rows.iter().map(|r| r.deviance).collect(), 5);
    let mut table = Vec::new();
    let mut notes = String::new();
    for (k, r) in rows.iter().enumerate() {
        let name = format!("model {}", k + 1);
        let (chisq, cm, df, p) = match (r.chisq, r.df) {
            (Some(c), Some(d)) => (
                format_signif(c, 5),
                format_signif(r.chisq_mcse.unwrap_or(f64::NAN), 2),
                d.to_string(),
                r.p_value
                    .map(|p| format_pvalue_column(&[p])[0].clone())
                    .unwrap_or_default(),
            ),
            _ => (String::new(), String::new(), String::new(), String::new()),
        };
        table.push((
            name.clone(),
            vec![
                r.npar.to_string(),
                aic[k].clone(),
                bic[k].clone(),
                ll[k].clone(),
                llm[k].clone(),
                dev[k].clone(),
                chisq,
                cm,
                df,
                p,
            ],
        ));
        notes.push_str(&format!("{name}: {}\n", r.label));
        if !r.note.is_empty() {
            notes.push_str(&format!("  test against model {}: {}\n", k, r.note));
        }
    }
    let mut o = notes;
    o.push('\n');
    o.push_str(&render_table(
        &[
            "npar",
            "AIC",
            "BIC",
            "logLik",
            "MCSE",
            "deviance",
            "Chisq",
            "MCSE",
            "Df",
            "Pr(>Chisq)",
        ],
        &table,
    ));
    o.push_str("(MCSE: Monte Carlo standard errors of the log-likelihood and of the LRT statistic; 0 where the likelihood is exact: a model without random effects (a GLM), or one whose random effects are all integrated by quadrature (no draws, e.g. a single grouping factor).)\n");
    o
}

/// Text: profile intervals beside the Wald ones.
pub fn profile_text(fit: &Fit, intervals: &[ProfileInterval], level: f64) -> String {
    let pct = format_signif(100.0 * level, 4);
    let mut o = format!("\nProfile-likelihood {pct}% confidence intervals (Monte Carlo estimates: the profile is of the MCLA):\n");
    let wald = fit.confint(level, &[]).unwrap_or_default();
    let lo: Vec<f64> = intervals.iter().map(|i| i.lower).collect();
    let hi: Vec<f64> = intervals.iter().map(|i| i.upper).collect();
    let wl: Vec<f64> = intervals
        .iter()
        .map(|i| {
            wald.iter()
                .find(|w| w.0 == i.name)
                .map(|w| w.1)
                .unwrap_or(f64::NAN)
        })
        .collect();
    let wh: Vec<f64> = intervals
        .iter()
        .map(|i| {
            wald.iter()
                .find(|w| w.0 == i.name)
                .map(|w| w.2)
                .unwrap_or(f64::NAN)
        })
        .collect();
    let (flo, fhi, fwl, fwh) = (
        format_column(&lo, 4),
        format_column(&hi, 4),
        format_column(&wl, 4),
        format_column(&wh, 4),
    );
    let rows: Vec<(String, Vec<String>)> = intervals
        .iter()
        .enumerate()
        .map(|(k, i)| {
            (
                i.name.clone(),
                vec![
                    format!(
                        "{}{}",
                        flo[k],
                        if i.lower_at_boundary {
                            " (boundary)"
                        } else {
                            ""
                        }
                    ),
                    fhi[k].clone(),
                    fwl[k].clone(),
                    fwh[k].clone(),
                ],
            )
        })
        .collect();
    o.push_str(&render_table(
        &["profile lower", "profile upper", "Wald lower", "Wald upper"],
        &rows,
    ));
    o
}
