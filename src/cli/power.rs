//! `mcla power`: the power of a test of one fixed effect for a planned design (the built-in
//! crossed design of `mcla simulate`, or a design CSV with an lme4-style formula), by
//! simulation and refits (the statistics are in `mcla::infer::bootstrap`).

use super::args::{Format, PowerArgs, EXAMPLE_BETA, EXAMPLE_NU};
use super::bootstrap::{replicate_bar, write_file};
use super::error::{input, io_error, CliError};
use super::options::{crossed_design, fit_options, frame_options};
use super::output::{call_line, print_out};
use anyhow::Context;
use mcla::infer::power::{power_replicates_with_progress, summarise_power};
use mcla::model::design::{self, DataRequest, ModelInput};
use mcla::output::bootstrap::{power_replicates_csv, power_text};
use mcla::{Family, ModelSpec, PowerStudy};

/// The planned design as a [`ModelSpec`] (its response a placeholder) with the truth.
fn planned(a: &PowerArgs, seed: u64) -> Result<(ModelSpec, Vec<f64>, Vec<f64>), CliError> {
    match (&a.design, &a.crossed) {
        (Some(path), _) => {
            let formula = a.formula.clone().unwrap_or_default();
            let m = mcla_formula::expand_mixed_formula(&formula)
                .map_err(|e| input(format!("--formula: {e}")))?;
            let beta = a.beta.clone().map(|b| b.0).ok_or_else(|| {
                input("mcla power --design needs --beta b1,..,bp (one true value per fixed-effect column)".into())
            })?;
            let nu = a.nu.clone().map(|b| b.0).ok_or_else(|| {
                input("mcla power --design needs --nu nu1,..,nuT (one true variance per (1 | g) term)".into())
            })?;
            let fopts = frame_options(&a.factor, &a.levels, &a.na_strings)?;
            let frame = design::read_frame(path, &fopts)?;
            let request = DataRequest {
                fixed: m.fixed,
                random: m.random,
                weights: None,
                input: ModelInput {
                    family: a.family,
                    varcomps_names: m.names,
                    varcomps_equal: None,
                },
            };
            // The design's response column may be absent: simulate one at the truth (the
            // simulate command's code), then build the design from that frame.
            let (csv, _, _) = design::simulate_on_frame(&frame, &request, &beta, &nu, seed)?;
            let frame = mcla_formula::DataFrame::from_reader(csv.as_bytes(), &fopts)
                .map_err(|e| input(format!("the design: {e}")))?;
            let random: Vec<&str> = request.random.iter().map(String::as_str).collect();
            let dsg = mcla_formula::build_design(&frame, &request.fixed, &random, None)
                .map_err(|e| input(format!("the design: {e}")))?;
            let spec = design::spec_from_design(&dsg, &request.input)?;
            Ok((spec, beta, nu))
        }
        (None, spec) => {
            let spec = spec.as_deref().unwrap_or("6,10,6");
            let d = crossed_design(spec)?;
            if a.family != Family::Bernoulli {
                return Err(input("the built-in crossed design is bernoulli; use --design with your own CSV for other families".into()));
            }
            let spec = d.design().map_err(|e| input(format!("--crossed: {e}")))?;
            let beta = a.beta.clone().map(|b| b.0).unwrap_or(EXAMPLE_BETA.to_vec());
            let nu = a.nu.clone().map(|b| b.0).unwrap_or(EXAMPLE_NU.to_vec());
            Ok((spec, beta, nu))
        }
    }
}

pub(crate) fn cmd_power(a: PowerArgs) -> Result<(), CliError> {
    let options = fit_options(&a.mc);
    let (spec, beta, nu) = planned(&a, options.seed)?;
    let study = PowerStudy {
        design: spec,
        beta,
        nu,
        parameter: a.effect.clone(),
        test: a.test,
        alpha: a.alpha,
    };
    let bar = replicate_bar(a.nsim, a.mc.quiet, "simulated studies");
    let reps = power_replicates_with_progress(&study, &options, 0..a.nsim, options.seed, &|d| {
        bar.set_position(d as u64)
    })
    .map_err(|e| input(e.to_string()))?;
    bar.finish_and_clear();
    if let Some(path) = &a.out {
        write_file(path, &power_replicates_csv(&reps))?;
    }
    if a.mc.format == Format::Csv {
        return print_out(&power_replicates_csv(&reps));
    }
    let summary = summarise_power(&study, &reps, a.mc.level).map_err(|e| CliError {
        code: 1,
        error: anyhow::anyhow!("{e}"),
    })?;
    match a.mc.format {
        Format::Json => {
            let v = serde_json::json!({
                "call": call_line(),
                "seed": options.seed,
                "beta": study.beta,
                "nu": study.nu,
                "parameter_names": study.design.x_names,
                "power": summary,
            });
            let s = serde_json::to_string_pretty(&v)
                .context("cannot encode the result as JSON")
                .map_err(io_error)?;
            print_out(&(s + "\n"))
        }
        _ => {
            let mut s = format!(
                "Call:\n{}\n\n{} observations; truth: {} = {}; variance components {}\n",
                call_line(),
                study.design.y.len(),
                study.design.x_names.join(", "),
                study
                    .beta
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                study
                    .nu
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            s.push_str(&power_text(&summary));
            if let Some(r) = reps.iter().find_map(|r| r.error.as_deref()) {
                s.push_str(&format!("First failure: {r}\n"));
            }
            print_out(&s)
        }
    }
}
