//! `mcla simulate`: responses from a model on a data frame's design, or a crossed design.

use super::args::{SimulateArgs, EXAMPLE_BETA, EXAMPLE_NU};
use super::error::{input, CliError};
use super::options::{crossed_design, frame_options};
use super::output::print_out;
use anyhow::Context;
use mcla::model::design::{self, DataRequest, ModelInput};
use mcla::{Family, InputError};

pub(crate) fn cmd_simulate(a: SimulateArgs) -> Result<(), CliError> {
    let csv = match &a.design {
        Some(path) => {
            let fixed = a.fixed.clone().ok_or_else(|| input("mcla simulate --design needs --fixed \"y ~ ...\" (the response column is replaced or added) and at least one --random formula".into()))?;
            let beta = a.beta.clone().map(|b| b.0).ok_or_else(|| input("mcla simulate --design needs --beta b1,..,bp (one value per fixed-effect column)".into()))?;
            let nu = a.nu.clone().map(|b| b.0).ok_or_else(|| {
                input(
                    "mcla simulate --design needs --nu nu1,..,nuT (one variance per component)"
                        .into(),
                )
            })?;
            let n_comp = a
                .varcomps_equal
                .as_ref()
                .map(|e| e.0.iter().copied().max().unwrap_or(0))
                .unwrap_or(a.random.len());
            let names = (1..=n_comp).map(|i| format!("nu{i}")).collect();
            let fopts = frame_options(&a.factor, &a.levels, &a.na_strings)?;
            let frame = design::read_frame(path, &fopts)?;
            let request = DataRequest {
                fixed,
                random: a.random.clone(),
                weights: None,
                input: ModelInput {
                    family: a.family,
                    varcomps_names: names,
                    varcomps_equal: a.varcomps_equal.clone().map(|c| c.0),
                },
            };
            if request.random.is_empty() {
                return Err(InputError::NoRandom.into());
            }
            let (csv, _kept, dropped) =
                design::simulate_on_frame(&frame, &request, &beta, &nu, a.seed)?;
            if dropped > 0 {
                eprintln!("note: {dropped} design rows have a missing value in a column the model uses; their response is written as NA");
            }
            csv
        }
        None => {
            let spec = a.crossed.as_deref().unwrap_or("6,10,6");
            let d = crossed_design(spec)?;
            if a.family != Family::Bernoulli {
                return Err(input("the built-in crossed design simulates a bernoulli response (Mate); use --design with your own CSV for other families".into()));
            }
            let beta = a.beta.clone().map(|b| b.0).unwrap_or(EXAMPLE_BETA.to_vec());
            let nu = a.nu.clone().map(|b| b.0).unwrap_or(EXAMPLE_NU.to_vec());
            design::crossed_design_csv(&d, &beta, &nu, a.seed)?
        }
    };
    match &a.out {
        Some(path) => std::fs::write(path, csv)
            .with_context(|| {
                format!(
                    "cannot write '{}'; check that the directory exists and is writable",
                    path.display()
                )
            })
            .map_err(|e| CliError { code: 2, error: e }),
        None => print_out(&csv),
    }
}
