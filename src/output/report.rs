//! Reports of a [`Fit`]: an R-like text summary and a JSON object.
//!
//! [`text_report`] is modelled on R's `print(summary(glmm))`: the call, family
//! and link, the fixed-effects and variance-components tables with
//! significance stars, then what R does not show — a Monte Carlo section
//! (MCSE beside SE for every parameter, effective sample size per block, m,
//! seed, threads, sampler), Wald intervals, both log-likelihood conventions,
//! convergence, warnings and timings.  [`json_report`] gives the same content
//! as one JSON object for scripts.
//!
//! ```
//! use mcla::output::report::{format_pvalue, format_column};
//! assert_eq!(format_pvalue(3.6123e-5), "3.61e-05");
//! assert_eq!(format_pvalue(1e-20), "<2e-16");
//! assert_eq!(format_pvalue(0.23125), "0.231");
//! assert_eq!(format_column(&[1.0, 0.318, -1.9412], 4), ["1.000", "0.318", "-1.941"]);
//! ```

use crate::fit::vcov::{significance_stars, CoefRow};
use crate::fit::Fit;
use crate::integrate::BlockMethod;
use serde_json::{json, Map, Value};

/// What the report needs besides the fit.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInfo {
    /// The command line that produced the fit (shown as "Call:").
    pub call: String,
    /// Rows read from the data file.
    pub rows_read: usize,
    /// Rows dropped because of missing values.
    pub dropped_rows: usize,
    /// Confidence level of the Wald intervals.
    pub level: f64,
    /// Wall-clock seconds of the whole command (reading data included).
    pub elapsed_seconds: f64,
    /// True parameter values (simulations): shown in a Truth column.
    pub truth: Option<Vec<f64>>,
}

impl ReportInfo {
    /// Info for a call with no data file (all rows used), level 0.95.
    pub fn new(call: impl Into<String>, rows: usize) -> ReportInfo {
        ReportInfo {
            call: call.into(),
            rows_read: rows,
            dropped_rows: 0,
            level: 0.95,
            elapsed_seconds: 0.0,
            truth: None,
        }
    }
}

const LEGEND: &str = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1";

// ---------------------------------------------------------------------------------------------
// Number formatting

/// R's text for a non-finite number; NaN stands for "not available" here (e.g. the standard
/// error of a variance on the boundary) and prints as R's `NA`.
fn non_finite(x: f64) -> String {
    if x.is_nan() {
        "NA".into()
    } else if x > 0.0 {
        "Inf".into()
    } else {
        "-Inf".into()
    }
}

/// Scientific notation with R's two-digit exponent: `3.61e-05`.
pub fn format_sci(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return non_finite(x);
    }
    let s = format!("{:.*e}", digits.saturating_sub(1), x);
    match s.split_once('e') {
        Some((mant, exp)) => {
            let (sign, num) = match exp.strip_prefix('-') {
                Some(n) => ('-', n),
                None => ('+', exp),
            };
            format!("{mant}e{sign}{num:0>2}")
        }
        None => s,
    }
}

/// Decimals needed to show `x` to `digits` significant digits without trailing zeros.
fn decimals_needed(x: f64, digits: usize) -> usize {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    let s = format!("{:.*e}", digits.saturating_sub(1), x.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let sig = mant.replace('.', "").trim_end_matches('0').len().max(1) as i64;
    (sig - 1 - exp).max(0) as usize
}

/// Format a column of numbers like R's `format(x, digits = digits)`: a common number of decimals,
/// enough to show every element to `digits` significant digits; scientific when that would need
/// more than 8 decimals or the numbers are huge.
pub fn format_column(values: &[f64], digits: usize) -> Vec<String> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let dec = finite
        .iter()
        .map(|&v| decimals_needed(v, digits))
        .max()
        .unwrap_or(0);
    let big = finite.iter().any(|v| v.abs() >= 1e12);
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                non_finite(v)
            } else if dec > 8 || big {
                format_sci(v, digits)
            } else {
                format!("{v:.dec$}")
            }
        })
        .collect()
}

/// A p-value like R's `format.pval(p, digits = 3)`: `<2e-16`, `3.61e-05`, `0.000763`, `0.231`.
pub fn format_pvalue(p: f64) -> String {
    if !p.is_finite() {
        return non_finite(p);
    }
    if p < 2.220446e-16 {
        "<2e-16".into()
    } else if p < 1e-4 {
        format_sci(p, 3)
    } else {
        let dec = decimals_needed(p, 3);
        format!("{p:.dec$}")
    }
}

/// A column of p-values as R's `format.pval` prints it: tiny values in scientific
/// notation (`3.61e-05`, `<2e-16`), the rest with the common number of decimals that gives
/// each at least 3 significant digits (`0.0170`, `0.3984`).
pub fn format_pvalue_column(ps: &[f64]) -> Vec<String> {
    let plain = |p: f64| p.is_finite() && p >= 1e-4;
    let dec = ps
        .iter()
        .copied()
        .filter(|&p| plain(p))
        .map(|p| decimals_needed(p, 3))
        .max()
        .unwrap_or(0);
    ps.iter()
        .map(|&p| {
            if plain(p) && p < 1.0 {
                format!("{p:.dec$}")
            } else {
                format_pvalue(p)
            }
        })
        .collect()
}

/// A number to `digits` significant digits (no trailing zeros), e.g. for single values in prose.
pub fn format_signif(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return non_finite(x);
    }
    if x != 0.0 && (x.abs() >= 1e15 || x.abs() < 1e-4) {
        return format_sci(x, digits);
    }
    let dec = decimals_needed(x, digits);
    format!("{x:.dec$}")
}

/// Seconds, tidily.
fn format_seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Quote one argument for a POSIX shell when needed.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%^".contains(c));
    if safe {
        arg.to_string()
    } else if !arg.contains(['"', '\\', '$', '`']) {
        format!("\"{arg}\"")
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A command line from its arguments (program name first), quoted for a shell.
pub fn command_line<S: AsRef<str>>(args: &[S]) -> String {
    args.iter()
        .map(|a| shell_quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// Tables

/// Render a table: row names left-aligned, cells right-aligned; a column with an empty header
/// (stars) is left-aligned.
pub fn render_table(headers: &[&str], rows: &[(String, Vec<String>)]) -> String {
    let name_w = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let ncol = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for (_, cells) in rows {
        for (j, c) in cells.iter().enumerate().take(ncol) {
            widths[j] = widths[j].max(c.chars().count());
        }
    }
    let mut out = String::new();
    out.push_str(&" ".repeat(name_w));
    for (j, h) in headers.iter().enumerate() {
        if h.is_empty() {
            out.push_str(&format!(" {:<w$}", h, w = widths[j]));
        } else {
            out.push_str(&format!(" {:>w$}", h, w = widths[j]));
        }
    }
    out.push('\n');
    for (name, cells) in rows {
        out.push_str(&format!("{name:<name_w$}"));
        for (j, c) in cells.iter().enumerate().take(ncol) {
            if headers[j].is_empty() {
                out.push_str(&format!(" {:<w$}", c, w = widths[j]));
            } else {
                out.push_str(&format!(" {:>w$}", c, w = widths[j]));
            }
        }
        out.push('\n');
    }
    // trailing spaces of left-aligned star columns are noise
    out.lines()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// R's `printCoefmat` layout for a summary table, with an optional Truth column.
fn coef_table(rows: &[CoefRow], truth: Option<&[f64]>, p_header: &str) -> String {
    let est = format_column(&rows.iter().map(|r| r.estimate).collect::<Vec<_>>(), 4);
    let se = format_column(&rows.iter().map(|r| r.std_error).collect::<Vec<_>>(), 4);
    let z = format_column(
        &rows
            .iter()
            .map(|r| (r.z_value * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>(),
        4,
    );
    let tr = truth.map(|t| format_column(t, 4));
    let mut headers = Vec::new();
    if tr.is_some() {
        headers.push("Truth");
    }
    headers.extend(["Estimate", "Std. Error", "z value", p_header, ""]);
    let pv = format_pvalue_column(&rows.iter().map(|r| r.p_value).collect::<Vec<_>>());
    let body: Vec<(String, Vec<String>)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut cells = Vec::new();
            if let Some(t) = &tr {
                cells.push(t.get(i).cloned().unwrap_or_default());
            }
            cells.extend([
                est[i].clone(),
                se[i].clone(),
                z[i].clone(),
                pv[i].clone(),
                significance_stars(r.p_value).to_string(),
            ]);
            (r.name.clone(), cells)
        })
        .collect();
    render_table(&headers, &body)
}

/// The sampled blocks' m — `4096`, or `1024-32768` where automatic m allocated the draws
/// between blocks — and whether it did.
fn m_range(fit: &Fit) -> (String, bool) {
    let drawn = fit.blocks.iter().filter(|b| b.draws > 0).map(|b| b.draws);
    let (lo, hi) = drawn.fold((usize::MAX, 0), |(lo, hi), m| (lo.min(m), hi.max(m)));
    if lo < hi {
        (format!("{lo}-{hi}"), true)
    } else {
        (fit.m.to_string(), false)
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let k = s.len();
    if k % 2 == 1 {
        s[k / 2]
    } else {
        0.5 * (s[k / 2 - 1] + s[k / 2])
    }
}

fn format_ess(e: f64) -> String {
    if e.is_finite() {
        format!("{}", e.round() as i64)
    } else {
        non_finite(e)
    }
}

/// The R-like text summary of a fit.
pub fn text_report(fit: &Fit, info: &ReportInfo) -> String {
    let mut o = String::new();
    let p = fit.p;
    o.push_str("Call:\n");
    o.push_str(&info.call);
    o.push_str("\n\n");
    let link_text = match fit.link.as_str() {
        "logit" => "logit (log odds)",
        "log" => "log",
        other => other,
    };
    o.push_str(&format!(
        "Family: {}    Link is: \"{}\"\n",
        fit.family, link_text
    ));
    o.push_str(&format!("Observations: {}", fit.n));
    if info.dropped_rows > 0 {
        o.push_str(&format!(
            " ({} of {} data rows dropped because of missing values)",
            info.dropped_rows, info.rows_read
        ));
    }
    o.push('\n');

    let truth_beta = info
        .truth
        .as_ref()
        .filter(|t| t.len() == fit.dim())
        .map(|t| &t[..p]);
    let truth_nu = info
        .truth
        .as_ref()
        .filter(|t| t.len() == fit.dim())
        .map(|t| &t[p..]);

    o.push_str("\nFixed Effects:\n");
    o.push_str(&coef_table(&fit.fixed_table(), truth_beta, "Pr(>|z|)"));
    o.push_str("---\n");
    o.push_str(LEGEND);
    o.push_str("\n\nVariance Components for Random Effects (P-values are one-tailed):\n");
    o.push_str(&coef_table(&fit.varcomps_table(), truth_nu, "Pr(>|z|)/2"));
    o.push_str("---\n");
    o.push_str(LEGEND);
    o.push('\n');
    if fit.se[p..].iter().any(|s| s.is_nan()) {
        o.push_str("(Std. Error NA: a variance on the boundary (essentially 0) has no standard error; the others are computed with it held there. See the warnings.)\n");
    }

    // Monte Carlo section.
    let n_exact = fit.blocks.iter().filter(|b| b.is_exact()).count();
    let sampled = fit.blocks.len() - n_exact;
    let n_nested = fit
        .blocks
        .iter()
        .filter(|b| b.method == BlockMethod::NestedQuadrature)
        .count();
    let n_subtrees = fit
        .blocks
        .iter()
        .filter(|b| b.method == BlockMethod::SampledSeparatorSubtrees)
        .count();
    let subtree_note = if n_subtrees > 0 {
        format!(
            "; in {n_subtrees} sampled block{} the parts that nest given the sampled effects are integrated level by level",
            if n_subtrees == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    let nested_note = if n_nested > 0 {
        format!(
            "; {n_nested} of them nested (tree-shaped), integrated level by level, K = {} nodes per level",
            fit.quadrature_nodes
        )
    } else {
        String::new()
    };
    if sampled == 0 {
        o.push_str(&format!(
            "\nMonte Carlo error: none. Every block ({}) is integrated exactly by adaptive Gauss-Hermite quadrature ({} sampler{nested_note}): MCSE 0.\n",
            fit.blocks.len(),
            fit.sampler.name()
        ));
    } else {
        let (m_text, allocated) = m_range(fit);
        o.push_str(&format!(
            "\nMonte Carlo error (m = {} per sampled block{}, seed {}, {} thread{}, {} sampler{}{}{subtree_note}):\n",
            m_text,
            match (fit.m_auto, allocated) {
                (true, true) => ", chosen automatically and allocated where the error is",
                (true, false) => ", chosen automatically",
                _ => "",
            },
            fit.seed,
            fit.threads,
            if fit.threads == 1 { "" } else { "s" },
            fit.sampler.name(),
            if fit.sampler == crate::Sampler::Adaptive {
                format!(", {}", fit.draws.describe())
            } else {
                String::new()
            },
            if n_exact > 0 {
                format!(
                    "; {n_exact} of {} blocks integrated exactly{nested_note}",
                    fit.blocks.len()
                )
            } else {
                String::new()
            }
        ));
    }
    let est = format_column(&fit.theta, 4);
    let se = format_column(&fit.se, 4);
    let mcse = format_column(&fit.mcse, 2);
    let ratio: Vec<String> = fit
        .se
        .iter()
        .zip(&fit.mcse)
        .map(|(s, m)| {
            let r = m / s;
            if r.is_finite() {
                format!("{r:.3}")
            } else {
                non_finite(r)
            }
        })
        .collect();
    let rows: Vec<(String, Vec<String>)> = (0..fit.dim())
        .map(|j| {
            (
                fit.parameter_names[j].clone(),
                vec![
                    est[j].clone(),
                    se[j].clone(),
                    mcse[j].clone(),
                    ratio[j].clone(),
                ],
            )
        })
        .collect();
    o.push_str(&render_table(
        &["Estimate", "Std. Error", "MCSE", "MCSE/SE"],
        &rows,
    ));
    o.push_str("(MCSE: run-to-run Monte Carlo variability at these data; SE: sampling variability. MCSE should be small beside SE; if not, increase m.)\n");
    let ess: Vec<f64> = fit
        .blocks
        .iter()
        .filter(|b| !b.is_exact())
        .map(|b| b.ess)
        .collect();
    let below = ess
        .iter()
        .filter(|e| e.is_nan() || **e < crate::fit::ESS_WARNING)
        .count();
    if ess.is_empty() {
    } else if ess.len() <= 12 {
        let list: Vec<String> = fit
            .blocks
            .iter()
            .filter(|b| !b.is_exact())
            .map(|b| format!("{} of {} (q = {})", format_ess(b.ess), b.draws, b.q))
            .collect();
        o.push_str(&format!(
            "Effective sample size per {}block ({} block{}): {}\n",
            if n_exact > 0 { "sampled " } else { "" },
            ess.len(),
            if ess.len() == 1 { "" } else { "s" },
            list.join(", ")
        ));
    } else {
        let min = ess.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ess.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        o.push_str(&format!(
            "Effective sample size over {} blocks: min {}, median {}, max {}; {} block{} below {}\n",
            ess.len(),
            format_ess(min),
            format_ess(median(&ess)),
            format_ess(max),
            below,
            if below == 1 { "" } else { "s" },
            crate::fit::ESS_WARNING
        ));
    }

    // Confidence intervals.
    let lvl = info.level * 100.0;
    let lo_h = format!("{} %", format_signif((100.0 - lvl) / 2.0, 3));
    let hi_h = format!("{} %", format_signif(100.0 - (100.0 - lvl) / 2.0, 3));
    match fit.confint(info.level, &[]) {
        Ok(ci) => {
            o.push_str(&format!(
                "\nWald {}% confidence intervals:\n",
                format_signif(lvl, 4)
            ));
            // one format for the whole matrix, as R prints confint()
            let all = format_column(&ci.iter().flat_map(|c| [c.1, c.2]).collect::<Vec<_>>(), 4);
            let lo: Vec<String> = all.iter().step_by(2).cloned().collect();
            let hi: Vec<String> = all.iter().skip(1).step_by(2).cloned().collect();
            let rows: Vec<(String, Vec<String>)> = ci
                .iter()
                .enumerate()
                .map(|(j, c)| (c.0.clone(), vec![lo[j].clone(), hi[j].clone()]))
                .collect();
            o.push_str(&render_table(&[&lo_h, &hi_h], &rows));
        }
        Err(e) => o.push_str(&format!("\nConfidence intervals not available: {e}\n")),
    }

    // Log-likelihood.
    let constant = fit.loglik - fit.loglik_glmm;
    o.push_str(&format!(
        "\nLog-likelihood: {} ({}, including the data constants; comparable with lme4/glmmTMB)\n",
        format_signif(fit.loglik, 7),
        loglik_mcse_text(fit)
    ));
    o.push_str(&format!(
        "R glmm's value: {} (R glmm leaves out the data constant sum_i w_i log c(y_i) = {}; the difference does not depend on the parameters)\n",
        format_signif(fit.loglik_glmm, 7),
        format_signif(constant, 7)
    ));

    // Convergence.
    if !fit.separation.is_empty() {
        let bar = "!".repeat(78);
        o.push_str(&format!(
            "\n{bar}\n!! WARNING: THE MAXIMUM LIKELIHOOD ESTIMATE DOES NOT EXIST (separation).\n!! Converged: no. The estimates of {} head to +/-infinity; the\n!! numbers above are not estimates. See the first warning for the remedy.\n{bar}\n",
            fit.separation.join(", ")
        ));
    } else if fit.converged {
        o.push_str(&format!(
            "\nConverged: yes, after {} trust-region iteration{} ({}).\n",
            fit.iterations,
            if fit.iterations == 1 { "" } else { "s" },
            fit.stop_reason
        ));
    } else {
        let init: Vec<String> = fit.theta.iter().map(|v| format!("{v:.6}")).collect();
        let bar = "!".repeat(78);
        o.push_str(&format!(
            "\n{bar}\n!! WARNING: THE OPTIMISER DID NOT CONVERGE after {} iteration{}.\n!! The estimates above are NOT the Monte Carlo MLE; do not report them.\n!! Rerun from the current estimates{}, e.g.\n!!   --par-init {}{}\n!! (and a larger --iterlim if the iteration limit was reached).\n{bar}\n",
            fit.iterations,
            if fit.iterations == 1 { "" } else { "s" },
            if fit.is_exact() { "" } else { " with a larger Monte Carlo sample" },
            init.join(","),
            if fit.is_exact() { String::new() } else { format!(" --m {}", fit.m.saturating_mul(10)) }
        ));
    }
    if !fit.warnings.is_empty() {
        o.push_str("\nWarnings:\n");
        for w in &fit.warnings {
            o.push_str(&format!("  * {w}\n"));
        }
    }
    let t = &fit.timings;
    o.push_str(&format!(
        "\nElapsed: {} (fit {}: start {}, sampling {}, optimisation {}, MCSE {})\n",
        format_seconds(info.elapsed_seconds.max(t.total)),
        format_seconds(t.total),
        format_seconds(t.start),
        format_seconds(t.sampling),
        format_seconds(t.optimisation),
        format_seconds(t.mcse)
    ));
    o
}

/// The log-likelihood's Monte Carlo error in words: `MCSE 0.0074`; `exact, no draws` when
/// every block is integrated by quadrature; and, when a sampled block's ESS is below
/// [`ESS_WARNING`](crate::fit::ESS_WARNING), that the delta-method value (0 at m = 1, where
/// `1/ESS - 1/m` vanishes) cannot be trusted.
fn loglik_mcse_text(fit: &Fit) -> String {
    let (sampled, low) = sampled_and_low_ess(fit);
    if sampled == 0 {
        return "exact, no draws: every block integrated by quadrature, MCSE 0".into();
    }
    if low == 0 {
        return format!(
            "MCSE {}; exact-likelihood approximation",
            format_signif(fit.loglik_mcse, 2)
        );
    }
    format!(
        "MCSE unknown: the ESS is below {} in {low} of {} sampled blocks, where the delta-method value ({} here) says nothing about the Monte Carlo error; increase m; exact-likelihood approximation",
        crate::fit::ESS_WARNING,
        sampled,
        format_signif(fit.loglik_mcse, 2)
    )
}

/// Blocks that were sampled (not integrated exactly), and how many of them have an ESS below
/// [`ESS_WARNING`](crate::fit::ESS_WARNING) (or not a number).
fn sampled_and_low_ess(fit: &Fit) -> (usize, usize) {
    let sampled = fit.blocks.iter().filter(|b| !b.is_exact());
    let low = sampled
        .clone()
        .filter(|b| !(b.ess >= crate::fit::ESS_WARNING))
        .count();
    (sampled.count(), low)
}

// ---------------------------------------------------------------------------------------------
// JSON

/// A number, or `null` when not finite.
fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn named(names: &[String], values: &[f64]) -> Value {
    let mut m = Map::new();
    for (n, v) in names.iter().zip(values) {
        m.insert(n.clone(), num(*v));
    }
    Value::Object(m)
}

fn matrix(m: &[f64], d: usize) -> Value {
    Value::Array(
        (0..d)
            .map(|r| {
                Value::Array(
                    (0..d)
                        .map(|c| num(m.get(r * d + c).copied().unwrap_or(f64::NAN)))
                        .collect(),
                )
            })
            .collect(),
    )
}

/// The JSON object of a fit (keys documented in the README).
pub fn json_report(fit: &Fit, info: &ReportInfo) -> Value {
    let d = fit.dim();
    let p = fit.p;
    let names = &fit.parameter_names;
    let mut confint = Map::new();
    if let Ok(ci) = fit.confint(info.level, &[]) {
        for (n, lo, hi) in ci {
            confint.insert(n, json!([num(lo), num(hi)]));
        }
    }
    let z: Vec<f64> = fit.theta.iter().zip(&fit.se).map(|(e, s)| e / s).collect();
    let pv: Vec<f64> = fit
        .fixed_table()
        .iter()
        .chain(fit.varcomps_table().iter())
        .map(|r| r.p_value)
        .collect();
    let mut o = Map::new();
    o.insert("call".into(), json!(info.call));
    o.insert("family".into(), json!(fit.family));
    o.insert("link".into(), json!(fit.link));
    o.insert("n".into(), json!(fit.n));
    o.insert("rows_read".into(), json!(info.rows_read));
    o.insert("dropped_rows".into(), json!(info.dropped_rows));
    o.insert("parameter_names".into(), json!(names));
    o.insert("coefficients".into(), named(&names[..p], fit.coef()));
    o.insert("varcomps".into(), named(&names[p..], fit.varcomps()));
    o.insert("se".into(), named(names, &fit.se));
    o.insert("mcse".into(), named(names, &fit.mcse));
    o.insert("z_values".into(), named(names, &z));
    o.insert("p_values".into(), named(names, &pv));
    o.insert("level".into(), num(info.level));
    o.insert("confint".into(), Value::Object(confint));
    o.insert("loglik".into(), num(fit.loglik));
    o.insert("loglik_glmm".into(), num(fit.loglik_glmm));
    o.insert("loglik_mcse".into(), num(fit.loglik_mcse));
    o.insert("exact".into(), json!(fit.is_exact()));
    o.insert(
        "loglik_mcse_trustworthy".into(),
        json!(fit.loglik_mcse_trustworthy()),
    );
    o.insert("converged".into(), json!(fit.converged));
    o.insert("stop_reason".into(), json!(fit.stop_reason));
    o.insert("separation".into(), json!(fit.separation));
    o.insert("iterations".into(), json!(fit.iterations));
    o.insert("m".into(), json!(fit.m));
    o.insert("m_auto".into(), json!(fit.m_auto));
    o.insert("seed".into(), json!(fit.seed));
    o.insert("threads".into(), json!(fit.threads));
    o.insert("sampler".into(), json!(fit.sampler.name()));
    o.insert("quadrature_nodes".into(), json!(fit.quadrature_nodes));
    if fit.sampler == crate::Sampler::Adaptive {
        o.insert("draws".into(), json!(fit.draws.name()));
        o.insert("draw_replicates".into(), json!(fit.draws.replicates()));
    }
    o.insert("low_memory".into(), json!(fit.low_memory));
    o.insert("start".into(), json!(fit.start_source));
    o.insert(
        "ess".into(),
        Value::Array(fit.blocks.iter().map(|b| num(b.ess)).collect()),
    );
    o.insert(
        "block_sizes".into(),
        Value::Array(
            fit.blocks
                .iter()
                .map(|b| json!({"q": b.q, "n": b.n, "draws": b.draws, "method": b.method}))
                .collect(),
        ),
    );
    o.insert("vcov".into(), matrix(&fit.vcov, d));
    o.insert("mcvcov".into(), matrix(&fit.mcvcov, d));
    o.insert("warnings".into(), json!(fit.warnings));
    if let Some(t) = info.truth.as_ref().filter(|t| t.len() == d) {
        o.insert("truth".into(), named(names, t));
    }
    o.insert(
        "timings".into(),
        json!({"start": num(fit.timings.start), "sampling": num(fit.timings.sampling), "optimisation": num(fit.timings.optimisation), "mcse": num(fit.timings.mcse), "fit": num(fit.timings.total)}),
    );
    o.insert(
        "elapsed_seconds".into(),
        num(info.elapsed_seconds.max(fit.timings.total)),
    );
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(format_sci(3.6123e-5, 3), "3.61e-05");
        assert_eq!(format_sci(1.5e120, 2), "1.5e+120");
        assert_eq!(format_pvalue(0.000763), "0.000763");
        assert_eq!(format_pvalue(0.0107), "0.0107");
        assert_eq!(format_pvalue(1.0), "1");
        assert_eq!(format_pvalue(f64::NAN), "NA");
        // R: format.pval(c(0.0170, 0.3984, 3.61e-05, 0.0177), digits = 3)
        assert_eq!(
            format_pvalue_column(&[0.017, 0.39842, 3.6123e-5, 0.017661, 1e-20, 1.0]),
            ["0.0170", "0.3984", "3.61e-05", "0.0177", "<2e-16", "1"]
        );
        assert_eq!(
            format_column(&[1.2345678, f64::INFINITY], 4),
            ["1.235", "Inf"]
        );
        assert_eq!(format_column(&[1e-12, 1.0], 4), ["1.000e-12", "1.000e+00"]);
        assert_eq!(format_signif(-209.27712, 7), "-209.2771");
        assert_eq!(format_signif(0.0, 4), "0");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("Mate ~ 0 + Cross"), "\"Mate ~ 0 + Cross\"");
        assert_eq!(shell_quote("F,M"), "F,M");
        assert_eq!(shell_quote("a'b$"), "'a'\\''b$'");
        assert_eq!(
            command_line(&["mcla", "fit", "--m", "1e4"]),
            "mcla fit --m 1e4"
        );
    }

    #[test]
    fn table_alignment() {
        let t = render_table(
            &["A", ""],
            &[
                ("x".into(), vec!["1.0".into(), "*".into()]),
                ("long".into(), vec!["-10.0".into(), "".into()]),
            ],
        );
        assert_eq!(t, "         A\nx      1.0 *\nlong -10.0\n");
    }
}
