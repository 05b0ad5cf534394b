//! From arguments to the library's options: data-frame options, formulas, variance-component
//! names, fit options.

use super::args::{MArg, McArgs, ModelArgs};
use super::error::{input, CliError};
use mcla::{AutoM, FitOptions, Sampler};
use mcla_formula::FrameOptions;

/// Frame options from --factor/--levels; every column quoted throughout the file is categorical
/// too (R's `write.csv` quotes factors: `"10"` is an ID, not the number 10).
pub(crate) fn frame_options(
    factor: &[String],
    levels: &[String],
    na_strings: &str,
) -> Result<FrameOptions, CliError> {
    let mut lv = Vec::new();
    for spec in levels {
        let (col, list) = spec
            .split_once('=')
            .ok_or_else(|| input(format!("--levels '{spec}' must look like COL=a,b,c (the column, '=', then its levels in order, first = reference level)")))?;
        let levels: Vec<String> = list.split(',').map(|l| l.trim().to_string()).collect();
        if col.trim().is_empty() || levels.iter().any(String::is_empty) {
            return Err(input(format!("--levels '{spec}' must look like COL=a,b,c with a column name and non-empty levels")));
        }
        lv.push((col.trim().to_string(), levels));
    }
    Ok(FrameOptions {
        factor_columns: factor.iter().map(|f| f.trim().to_string()).collect(),
        levels: lv,
        quoted_as_categorical: true,
        na_strings: Some(
            na_strings
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        ),
    })
}

/// Default variance-component names: the right-hand side of each random formula (`~ 0 + Female` → `Female`).
pub(crate) fn default_varcomps(random: &[String]) -> Vec<String> {
    random
        .iter()
        .map(|r| {
            let rhs = r.split_once('~').map(|(_, b)| b).unwrap_or(r);
            let terms: Vec<&str> = rhs
                .split('+')
                .map(str::trim)
                .filter(|t| !t.is_empty() && *t != "0" && *t != "-1" && *t != "1")
                .collect();
            if terms.is_empty() {
                rhs.trim().to_string()
            } else {
                terms.join("+")
            }
        })
        .collect()
}

pub(crate) fn fit_options(mc: &McArgs) -> FitOptions {
    let max = mcla::model::options::max_threads();
    let threads = match mc.threads {
        Some(t) if t > max => {
            eprintln!("note: --threads {t} is more than 4 x the cores of this machine; using {max} threads (the result does not depend on the number)");
            Some(max)
        }
        t => t,
    };
    let defaults = FitOptions::default();
    let (m, auto_m) = match mc.m {
        MArg::Fixed(m) => (m, None),
        MArg::Auto if mc.sampler == Sampler::Adaptive => (
            defaults.m,
            Some(AutoM {
                mcse_ratio: mc.target_mcse_ratio,
                loglik_mcse: mc.target_loglik_mcse,
                ..AutoM::default()
            }),
        ),
        // the fixed-sample samplers keep R glmm's habit of a given m (default 10^4)
        MArg::Auto => (defaults.m, None),
    };
    FitOptions {
        m,
        auto_m,
        quadrature_nodes: mc.nodes,
        seed: mc.seed,
        threads,
        sampler: mc.sampler,
        ..defaults
    }
}

/// `--formula` or `--fixed`/`--random`: the fixed formula, the random formulas and the default
/// variance-component names.
pub(crate) fn resolve_formulas(
    a: &ModelArgs,
) -> Result<(String, Vec<String>, Vec<String>), CliError> {
    match (&a.formula, &a.fixed) {
        (Some(f), _) => {
            let m = mcla_formula::expand_mixed_formula(f).map_err(|e| input(format!("--formula: {e}")))?;
            Ok((m.fixed, m.random, m.names))
        }
        (None, Some(fixed)) => Ok((fixed.clone(), a.random.clone(), default_varcomps(&a.random))),
        (None, None) => Err(input("give the model as --formula \"y ~ x + (1 | g)\" or as --fixed \"y ~ x\" with --random \"~ 0 + g\"".into())),
    }
}
