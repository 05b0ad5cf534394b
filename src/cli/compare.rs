//! `mcla compare`: likelihood-ratio tests between nested models (lme4's `anova`).

use super::args::{CompareArgs, Format};
use super::error::{input, io_error, CliError};
use super::infer::to_json;
use super::options::{fit_options, frame_options};
use super::output::{call_line, print_out};
use super::progress::run_fit;
use anyhow::Context;
use mcla::infer::compare::{anova, AnovaRow, ModelSummary};
use mcla::infer::glm::{fit_glm, GlmSpec};
use mcla::model::design::{self, DataRequest, ModelInput};
use mcla::output::tidy;
use mcla::Fit;
use serde_json::json;

/// One fitted model of a comparison.
enum Fitted {
    Mixed(Box<Fit>),
    Glm(mcla::infer::glm::GlmFit),
}

/// `mcla compare` / `mcla anova`.
pub fn cmd_compare(a: CompareArgs) -> Result<(), CliError> {
    if a.models.len() < 2 {
        return Err(input(format!(
            "mcla compare needs at least two --model formulas (got {}), e.g. --model \"y ~ x + (1 | g)\" --model \"y ~ x\"",
            a.models.len()
        )));
    }
    let fopts = frame_options(&a.factor, &a.levels, &a.na_strings)?;
    let frame = design::read_frame(&a.data, &fopts)?;
    let options = fit_options(&a.mc);
    let mut summaries = Vec::new();
    let mut fits = Vec::new();
    for (k, f) in a.models.iter().enumerate() {
        let which = format!("--model {} '{f}'", k + 1);
        let mixed =
            mcla_formula::mixed::expand_optional(f).map_err(|e| input(format!("{which}: {e}")))?;
        match mixed {
            Some(m) => {
                let request = DataRequest {
                    fixed: m.fixed.clone(),
                    random: m.random.clone(),
                    weights: None,
                    input: ModelInput {
                        family: a.family,
                        varcomps_names: m.names.clone(),
                        varcomps_equal: None,
                    },
                };
                let (dsg, model) = design::load_model(&frame, &request)
                    .map_err(|e| input(format!("{which}: {e}")))?;
                let fit = run_fit(&model, &options, a.mc.quiet)?;
                summaries.push(ModelSummary::from_fit(f, &fit, Some(dsg.kept_rows.clone())));
                fits.push(Fitted::Mixed(Box::new(fit)));
            }
            None => {
                let dsg = mcla_formula::build_design(&frame, f, &[], None)
                    .map_err(|e| input(format!("{which}: {e}")))?;
                let spec = GlmSpec {
                    y: dsg.y.clone(),
                    trials: dsg.trials.clone(),
                    x: dsg.x.clone(),
                    x_names: dsg.x_names.clone(),
                    weights: None,
                    family: a.family,
                };
                if spec.trials.is_some() && a.family != mcla::Family::Binomial {
                    return Err(input(format!(
                        "{which}: a cbind(successes, failures) response needs --family binomial"
                    )));
                }
                let g = fit_glm(&spec).map_err(|e| input(format!("{which}: {e}")))?;
                summaries.push(ModelSummary::from_glm(f, &g, Some(dsg.kept_rows.clone())));
                fits.push(Fitted::Glm(g));
            }
        }
    }
    let rows: Vec<AnovaRow> = anova(&summaries).map_err(|e| input(e.to_string()))?;
    let mut warnings: Vec<String> = Vec::new();
    for (f, fitted) in a.models.iter().zip(&fits) {
        match fitted {
            Fitted::Mixed(fit) => {
                for w in &fit.warnings {
                    warnings.push(format!("{f}: {w}"));
                }
            }
            Fitted::Glm(g) => {
                for w in &g.warnings {
                    warnings.push(format!("{f}: {w}"));
                }
            }
        }
    }
    match a.mc.format {
        Format::Text => {
            let mut s = format!(
                "Call:\n{}\n\nData: {} ({} observations)\n",
                call_line(),
                a.data.display(),
                summaries[0].n
            );
            s.push_str(&tidy::anova_text(&rows));
            for w in &warnings {
                s.push_str(&format!("Warning: {w}\n"));
            }
            print_out(&s)
        }
        Format::Json => {
            let v = json!({
                "call": call_line(),
                "n": summaries[0].n,
                "models": to_json(&summaries),
                "anova": to_json(&rows),
                "warnings": warnings,
            });
            let s = serde_json::to_string_pretty(&v)
                .context("cannot encode the result as JSON")
                .map_err(io_error)?;
            print_out(&(s + "\n"))
        }
        Format::Csv => print_out(&tidy::anova_csv(&rows)),
    }
}
