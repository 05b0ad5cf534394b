//! The parametric bootstrap and power studies as text tables and their replicates as CSV
//! (one row per replicate, numbers in full precision as R reads them: `Inf`, `NaN`, `NA`).

use crate::infer::bootstrap::{BootstrapLrt, BootstrapSummary, LrtReplicate, Replicate};
use crate::infer::power::{PowerReplicate, PowerSummary};
use crate::output::report::{format_pvalue, format_signif, render_table};
use crate::output::tidy::{csv_field, csv_num};

fn sig(x: f64) -> String {
    format_signif(x, 4)
}

/// The bootstrap table: estimate, Wald and bootstrap SE, bias, percentile and basic
/// intervals per parameter, and the boundary share of each variance component.
pub fn bootstrap_text(s: &BootstrapSummary) -> String {
    let pct = |a: f64| format_signif(100.0 * a, 3).to_string();
    let lo = pct((1.0 - s.level) / 2.0);
    let hi = pct(1.0 - (1.0 - s.level) / 2.0);
    let (plo, phi, blo, bhi) = (
        format!("perc {lo} %"),
        format!("perc {hi} %"),
        format!("basic {lo} %"),
        format!("basic {hi} %"),
    );
    let headers = [
        "Estimate",
        "Wald SE",
        "Boot SE",
        "Bias",
        plo.as_str(),
        phi.as_str(),
        blo.as_str(),
        bhi.as_str(),
    ];
    let rows: Vec<(String, Vec<String>)> = s
        .parameters
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                vec![
                    sig(p.estimate),
                    sig(p.wald_se),
                    sig(p.se),
                    sig(p.bias),
                    sig(p.percentile.0),
                    sig(p.percentile.1),
                    sig(p.basic.0),
                    sig(p.basic.1),
                ],
            )
        })
        .collect();
    let mut out = render_table(&headers, &rows);
    let boundary: Vec<String> = s
        .parameters
        .iter()
        .filter_map(|p| {
            p.boundary_share
                .map(|b| format!("{} {}", p.name, format_signif(100.0 * b, 3) + " %"))
        })
        .collect();
    if !boundary.is_empty() {
        out.push_str(&format!(
            "\nReplicates with a variance component on the boundary (< {:e}): {}\n",
            crate::fit::BOUNDARY_VARIANCE,
            boundary.join(", ")
        ));
    }
    out
}

/// Replicates as CSV: `replicate`, the estimates (named by the parameters), `se_<name>`,
/// `loglik`, `converged`, `error`.
pub fn replicates_csv(names: &[String], reps: &[Replicate]) -> String {
    let mut out = String::from("replicate");
    for n in names {
        out.push(',');
        out.push_str(&csv_field(n));
    }
    for n in names {
        out.push(',');
        out.push_str(&csv_field(&format!("se_{n}")));
    }
    out.push_str(",loglik,converged,error\n");
    for r in reps {
        out.push_str(&r.index.to_string());
        for j in 0..names.len() {
            out.push(',');
            out.push_str(&r.theta.get(j).map_or("NA".into(), |&v| csv_num(v)));
        }
        for j in 0..names.len() {
            out.push(',');
            out.push_str(&r.se.get(j).map_or("NA".into(), |&v| csv_num(v)));
        }
        out.push_str(&format!(
            ",{},{},{}\n",
            csv_num(r.loglik),
            r.converged,
            r.error.as_deref().map_or("".into(), csv_field)
        ));
    }
    out
}

/// The bootstrap likelihood-ratio test in words.
pub fn lrt_text(t: &BootstrapLrt) -> String {
    format!(
        "Parametric bootstrap: LRT {} (df {}), {} of {} simulations used; p = {} (bootstrap, {} >= observed), {} (Bartlett-corrected chi-square)\n",
        sig(t.lrt),
        t.df,
        t.used,
        t.nsim,
        format_pvalue(t.p_value),
        t.extreme,
        format_pvalue(t.bartlett_p_value)
    )
}

/// Bootstrap-LRT replicates as CSV.
pub fn lrt_replicates_csv(reps: &[LrtReplicate]) -> String {
    let mut out = String::from("replicate,loglik_small,loglik_large,lrt,converged,error\n");
    for r in reps {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            r.index,
            csv_num(r.loglik_small),
            csv_num(r.loglik_large),
            csv_num(r.lrt),
            r.converged,
            r.error.as_deref().map_or("".into(), csv_field)
        ));
    }
    out
}

/// The power with its interval, as simr's `powerSim` prints it.
pub fn power_text(s: &PowerSummary) -> String {
    format!(
        "Power for the {} test of {} at alpha = {}: {} % ({} %, {} %) ({} of {} simulations rejected; {} level Clopper-Pearson interval)\n{}",
        if s.test == crate::infer::power::PowerTest::Wald { "Wald z" } else { "likelihood-ratio" },
        s.parameter,
        s.alpha,
        format_signif(100.0 * s.power, 4),
        format_signif(100.0 * s.ci.0, 4),
        format_signif(100.0 * s.ci.1, 4),
        s.rejections,
        s.used,
        s.level,
        if s.used < s.nsim {
            format!(
                "{} of {} simulations left out (no converged refit)\n",
                s.nsim - s.used,
                s.nsim
            )
        } else {
            String::new()
        }
    )
}

/// Power replicates as CSV.
pub fn power_replicates_csv(reps: &[PowerReplicate]) -> String {
    let mut out = String::from("replicate,estimate,se,statistic,p_value,reject,converged,error\n");
    for r in reps {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.index,
            csv_num(r.estimate),
            csv_num(r.se),
            csv_num(r.statistic),
            csv_num(r.p_value),
            r.reject,
            r.converged,
            r.error.as_deref().map_or("".into(), csv_field)
        ));
    }
    out
}
