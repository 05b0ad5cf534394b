//! From arguments to the library's options: data-frame options and fit options, through
//! `mcla::request` (shared with the Python package).

use super::args::{DrawsArg, McArgs};
use super::error::{input, CliError};
use mcla::integrate::standard_draws::DrawScheme;
use mcla::request::McSettings;
use mcla::FitOptions;
use mcla_formula::FrameOptions;

/// Frame options from --factor/--levels; every column quoted throughout the file is categorical
/// too (R's `write.csv` quotes factors: `"10"` is an ID, not the number 10).
pub(crate) fn frame_options(
    factor: &[String],
    levels: &[String],
    na_strings: &str,
) -> Result<FrameOptions, CliError> {
    mcla::request::frame_options(factor, levels, na_strings).map_err(input)
}

/// The library's Monte Carlo settings of the command line's arguments.
pub(crate) fn mc_settings(mc: &McArgs) -> McSettings {
    McSettings {
        m: mc.m,
        target_mcse_ratio: mc.target_mcse_ratio,
        target_loglik_mcse: mc.target_loglik_mcse,
        nodes: mc.nodes,
        subtrees: mc.subtrees,
        seed: mc.seed,
        threads: mc.threads,
        sampler: mc.sampler,
        draws: match mc.draws {
            DrawsArg::Sobol => DrawScheme::Sobol {
                replicates: mc.replicates,
            },
            DrawsArg::Antithetic => DrawScheme::Antithetic,
            DrawsArg::Plain => DrawScheme::Plain,
        },
    }
}

/// The fit options of the Monte Carlo arguments (a note on stderr when --threads was capped).
pub(crate) fn fit_options(mc: &McArgs) -> FitOptions {
    let (options, note) = mc_settings(mc).fit_options();
    if let Some(n) = note {
        eprintln!("note: {n}");
    }
    options
}

/// `--crossed G,A,P`: the built-in crossed design of `simulate` and `power` (its sizes only;
/// each command checks the family and the design itself).
pub(crate) fn crossed_design(spec: &str) -> Result<mcla::CrossedDesign, CliError> {
    let v: Vec<usize> = spec
        .split(',')
        .map(|t| t.trim().parse::<usize>().ok())
        .collect::<Option<_>>()
        .unwrap_or_default();
    let [groups, animals, pairings] = v.as_slice() else {
        return Err(input(format!("--crossed '{spec}' must be three whole numbers groups,animals,pairings, e.g. 6,10,6 (the salamander shape)")));
    };
    Ok(mcla::CrossedDesign {
        groups: *groups,
        animals: *animals,
        pairings: *pairings,
    })
}
