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
    Mixed(Box<Fit>, Box<mcla::Model>),
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
                fits.push(Fitted::Mixed(Box::new(fit), Box::new(model)));
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
            Fitted::Mixed(fit, _) => {
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
    // Parametric-bootstrap LRT of each model against the next larger one (anova's order).
    let mut boot = Vec::new();
    if let Some(nsim) = a.bootstrap {
        let mut order: Vec<usize> = (0..fits.len()).collect();
        order.sort_by_key(|&k| summaries[k].npar());
        let mut csv = String::new();
        for w in order.windows(2) {
            let (Fitted::Mixed(fs, ms), Fitted::Mixed(fl, ml)) = (&fits[w[0]], &fits[w[1]]) else {
                return Err(input(format!(
                    "--bootstrap needs mixed models on both sides ('{}' or '{}' has no (1 | g) term); the bootstrap of a GLM against a GLMM is not implemented yet",
                    a.models[w[0]], a.models[w[1]]
                )));
            };
            let bar = super::bootstrap::replicate_bar(nsim, a.mc.quiet, "bootstrap LRT refits");
            let small = mcla::Fitted {
                model: ms,
                fit: fs,
                options: &options,
            };
            let large = mcla::Fitted {
                model: ml,
                fit: fl,
                options: &options,
            };
            let reps = mcla::infer::bootstrap::bootstrap_lrt_replicates_with_progress(
                small,
                large,
                0..nsim,
                options.seed,
                &|d| bar.set_position(d as u64),
            )
            .map_err(|e| input(e.to_string()))?;
            bar.finish_and_clear();
            let df = summaries[w[1]].npar() - summaries[w[0]].npar();
            let t = mcla::summarise_lrt(mcla::infer::bootstrap::observed_lrt(fs, fl), df, &reps)
                .map_err(|e| CliError {
                    code: 1,
                    error: anyhow::anyhow!("{e}"),
                })?;
            if a.bootstrap_out.is_some() {
                // one table for all pairs, the pair's larger model in the first column
                let part = mcla::output::bootstrap::lrt_replicates_csv(&reps);
                let mut lines = part.lines();
                let header = lines.next().unwrap_or_default();
                if csv.is_empty() {
                    csv.push_str(&format!("large_model,{header}\n"));
                }
                let label = mcla::output::tidy::csv_field(&a.models[w[1]]);
                for line in lines {
                    csv.push_str(&format!("{label},{line}\n"));
                }
            }
            boot.push((a.models[w[0]].clone(), a.models[w[1]].clone(), t));
        }
        if let Some(path) = &a.bootstrap_out {
            super::bootstrap::write_file(path, &csv)?;
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
            for (small, large, t) in &boot {
                s.push_str(&format!("\n{small}  vs  {large}\n"));
                s.push_str(&mcla::output::bootstrap::lrt_text(t));
            }
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
                "bootstrap": boot.iter().map(|(s, l, t)| json!({"small": s, "large": l, "test": to_json(t)})).collect::<Vec<_>>(),
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
