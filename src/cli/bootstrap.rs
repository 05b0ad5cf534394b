//! `mcla bootstrap`: fit a model as `mcla fit` does, then refit it to responses simulated
//! from the fit (the statistics are in `mcla::infer::bootstrap`); and the replicate progress
//! bar shared with `mcla power` and `mcla compare --bootstrap`.

use super::args::{BootstrapArgs, Format};
use super::error::{input, io_error, CliError};
use super::fit::{load, Loaded};
use super::output::{call_line, print_out};
use super::progress::run_fit;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mcla::infer::bootstrap::{bootstrap_replicates_with_progress, summarise_bootstrap};
use mcla::output::bootstrap::{bootstrap_text, replicates_csv};
use std::io::IsTerminal;
use std::path::Path;

/// A bar of `n` replicates on stderr (only on a terminal, unless `--quiet`).
pub(crate) fn replicate_bar(n: usize, quiet: bool, what: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}

/// Write `text` to `path`.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .with_context(|| {
            format!(
                "cannot write '{}'; check that the directory exists and is writable",
                path.display()
            )
        })
        .map_err(|e| CliError { code: 2, error: e })
}

pub(crate) fn cmd_bootstrap(a: BootstrapArgs) -> Result<(), CliError> {
    let Loaded { model, options, .. } = load(&a.model, &a.mc)?;
    let fit = run_fit(&model, &options, a.mc.quiet)?;
    if !fit.converged {
        eprintln!("warning: the fit did not converge; the bootstrap simulates from its estimates all the same");
    }
    let seed = a.boot_seed.unwrap_or(options.seed);
    let bar = replicate_bar(a.nsim, a.mc.quiet, "bootstrap refits");
    let reps = bootstrap_replicates_with_progress(&model, &fit, &options, 0..a.nsim, seed, &|d| {
        bar.set_position(d as u64)
    })
    .map_err(|e| input(e.to_string()))?;
    bar.finish_and_clear();
    if let Some(path) = &a.out {
        write_file(path, &replicates_csv(&fit.parameter_names, &reps))?;
    }
    if a.mc.format == Format::Csv {
        return print_out(&replicates_csv(&fit.parameter_names, &reps));
    }
    let summary = summarise_bootstrap(&fit, &reps, a.mc.level).map_err(|e| CliError {
        code: 1,
        error: anyhow::anyhow!("{e}"),
    })?;
    match a.mc.format {
        Format::Json => {
            let v = serde_json::json!({
                "call": call_line(),
                "seed": seed,
                "fit": { "parameter_names": fit.parameter_names, "theta": fit.theta,
                         "se": fit.se.iter().map(|s| if s.is_finite() { Some(*s) } else { None }).collect::<Vec<_>>(),
                         "loglik": fit.loglik, "converged": fit.converged },
                "bootstrap": summary,
            });
            let s = serde_json::to_string_pretty(&v)
                .context("cannot encode the result as JSON")
                .map_err(io_error)?;
            print_out(&(s + "\n"))
        }
        _ => {
            let mut s = format!(
                "Call:\n{}\n\nParametric bootstrap: {} simulations from the fit (seed {seed}), each refitted with the fit's options ({} sampler); {} used, {} failed, {} not converged.\n\n",
                call_line(),
                summary.nsim,
                fit.sampler.name(),
                summary.used,
                summary.failed,
                summary.not_converged
            );
            s.push_str(&bootstrap_text(&summary));
            if let Some(r) = reps.iter().find_map(|r| r.error.as_deref()) {
                s.push_str(&format!("First failure: {r}\n"));
            }
            print_out(&s)
        }
    }
}
