//! The inference options of `mcla fit` (tests, predictions, emmeans, ranef, profile intervals),
//! and their output in text, JSON and CSV.  Only argument handling and
//! printing: the statistics are in the library (`mcla::infer::wald`, `predict`, `ranef`, `profile`,
//! `compare`, `glm`, `tidy`).

use super::args::{ConfintMethod, Format, InferenceArgs, PredictKind, PredictScale};
use super::error::{input, io_error, CliError};
use super::output::print_out;
use anyhow::Context;
use mcla::infer::predict::{emmeans_grid, new_data_from_frame, Kind, NewData, Prediction, Scale};
use mcla::infer::profile::{fit_profile, ProfileInterval, ProfileSettings};
use mcla::infer::wald::{Hypothesis, WaldTest};
use mcla::model::design::{self, DataRequest};
use mcla::output::report::{self, ReportInfo};
use mcla::output::tidy;
use mcla::{Fit, FitOptions, Model};
use mcla_formula::{DataFrame, Design, FrameOptions};
use serde_json::Value;
use std::path::Path;

/// What was checked before the fit.
pub struct Plan {
    hypotheses: Vec<Hypothesis>,
    new_data: Option<NewData>,
    grids: Vec<(String, NewData)>,
    profile_names: Vec<String>,
}

/// What was computed after the fit.
pub struct Results {
    tests: Vec<WaldTest>,
    predictions: Option<Vec<Prediction>>,
    emmeans: Vec<(String, Vec<Prediction>)>,
    profile: Option<Vec<ProfileInterval>>,
}

fn kind(k: PredictKind) -> Kind {
    match k {
        PredictKind::Conditional => Kind::Conditional,
        PredictKind::Marginal => Kind::Marginal,
    }
}

fn scale(s: PredictScale) -> Scale {
    match s {
        PredictScale::Response => Scale::Response,
        PredictScale::Link => Scale::Link,
    }
}

/// Check everything that can be checked before the (possibly long) fit.
pub fn plan(
    a: &InferenceArgs,
    format: Format,
    model: &Model,
    frame: &DataFrame,
    dsg: &Design,
    request: &DataRequest,
    fopts: &FrameOptions,
) -> Result<Plan, CliError> {
    let names = model.parameter_names();
    let hypotheses = a
        .test
        .iter()
        .map(|t| Hypothesis::parse(t, &names))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input(format!("--test: {e}")))?;
    let new_data = match &a.predict {
        Some(path) => {
            let nf = design::read_frame(path, fopts)?;
            Some(
                new_data_from_frame(model, frame, dsg, request, &nf)
                    .map_err(|e| input(format!("--predict '{}': {e}", path.display())))?,
            )
        }
        None => None,
    };
    let mut grids = Vec::new();
    for f in &a.emmeans {
        let g = emmeans_grid(model, frame, dsg, request, f.trim())
            .map_err(|e| input(format!("--emmeans: {e}")))?;
        grids.push((f.trim().to_string(), g));
    }
    let profile_names: Vec<String> = match &a.confint_params {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => Vec::new(),
    };
    for n in &profile_names {
        if !names.contains(n) {
            return Err(input(format!(
                "--confint-params: unknown parameter '{n}'; parameters are: {}",
                names.join(", ")
            )));
        }
    }
    if a.confint_params.is_some() && a.confint != ConfintMethod::Profile {
        return Err(input(
            "--confint-params selects parameters for --confint profile; add --confint profile"
                .into(),
        ));
    }
    if format == Format::Csv {
        if !hypotheses.is_empty() && a.tests_out.is_none() {
            return Err(input("with --format csv the standard output holds the parameter table: write the --test results with --tests-out FILE".into()));
        }
        if !grids.is_empty() && a.emmeans_out.is_none() {
            return Err(input("with --format csv the standard output holds the parameter table: write the --emmeans table with --emmeans-out FILE".into()));
        }
        if new_data.is_some() && a.predict_out.is_none() {
            return Err(input("with --format csv the standard output holds the parameter table: write the predictions with --predict-out FILE".into()));
        }
    }
    Ok(Plan {
        hypotheses,
        new_data,
        grids,
        profile_names,
    })
}

fn computation(msg: String) -> CliError {
    CliError {
        code: 1,
        error: anyhow::anyhow!(msg),
    }
}

/// Compute the requested inference from the fit.
pub fn run(
    plan: &Plan,
    a: &InferenceArgs,
    level: f64,
    model: &Model,
    options: &FitOptions,
    fit: &Fit,
) -> Result<Results, CliError> {
    let tests = plan
        .hypotheses
        .iter()
        .map(|h| fit.wald(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| computation(format!("--test: {e}")))?;
    let (k, s) = (kind(a.predict_kind), scale(a.predict_scale));
    let predictions = match &plan.new_data {
        Some(nd) => Some(
            fit.predict_level(nd, s, k, level)
                .map_err(|e| computation(format!("--predict: {e}")))?,
        ),
        None => None,
    };
    let mut emmeans = Vec::new();
    for (f, g) in &plan.grids {
        emmeans.push((
            f.clone(),
            fit.predict_level(g, s, k, level)
                .map_err(|e| computation(format!("--emmeans: {e}")))?,
        ));
    }
    let profile = if a.confint == ConfintMethod::Profile {
        let names: Vec<&str> = plan.profile_names.iter().map(String::as_str).collect();
        let settings = ProfileSettings {
            level,
            ..ProfileSettings::default()
        };
        let r = fit_profile(model, options, fit, &names, &settings)
            .map_err(|e| computation(format!("--confint profile: {e}")))?
            .map_err(|e| input(format!("--confint-params: {e}")))?;
        Some(r)
    } else {
        None
    };
    if a.ranef.is_some() && fit.ranef.is_empty() {
        return Err(computation("--ranef: the random-effect predictions could not be computed (every importance weight of a block underflows at the estimate); increase m".into()));
    }
    Ok(Results {
        tests,
        predictions,
        emmeans,
        profile,
    })
}

fn write_file(path: &Path, contents: &str) -> Result<(), CliError> {
    std::fs::write(path, contents)
        .with_context(|| {
            format!(
                "cannot write '{}'; check that the directory exists and is writable",
                path.display()
            )
        })
        .map_err(|e| CliError { code: 2, error: e })
}

fn emmeans_csv(emm: &[(String, Vec<Prediction>)]) -> String {
    let mut o = String::from("factor,");
    let mut first = true;
    for (f, rows) in emm {
        let t = tidy::predictions_csv(rows);
        let mut lines = t.lines();
        let header = lines.next().unwrap_or_default();
        if first {
            o.push_str(&header.replacen("row", "level", 1));
            o.push('\n');
            first = false;
        }
        for l in lines {
            o.push_str(&tidy::csv_field(f));
            o.push(',');
            o.push_str(l);
            o.push('\n');
        }
    }
    o
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Print the fit and the inference in `format`; write the requested files.
pub fn emit(
    fit: &Fit,
    info: &ReportInfo,
    format: Format,
    a: &InferenceArgs,
    r: &Results,
) -> Result<(), CliError> {
    let mut written = Vec::new();
    if let Some(path) = &a.ranef {
        write_file(path, &tidy::ranef_csv(&fit.ranef))?;
        written.push(format!(
            "random-effect predictions ({} rows): {}",
            fit.ranef.len(),
            path.display()
        ));
    }
    if let (Some(path), Some(p)) = (&a.predict_out, &r.predictions) {
        write_file(path, &tidy::predictions_csv(p))?;
        written.push(format!(
            "predictions ({} rows): {}",
            p.len(),
            path.display()
        ));
    }
    if let Some(path) = &a.tests_out {
        write_file(path, &tidy::tests_csv(&r.tests))?;
        written.push(format!("Wald tests: {}", path.display()));
    }
    if let Some(path) = &a.emmeans_out {
        write_file(path, &emmeans_csv(&r.emmeans))?;
        written.push(format!("emmeans: {}", path.display()));
    }
    let kind_word = match a.predict_kind {
        PredictKind::Conditional => {
            "conditional, random effects at their predictions (u = 0 for levels not in the fit)"
        }
        PredictKind::Marginal => "marginal, averaged over the random effects",
    };
    let scale_word = match a.predict_scale {
        PredictScale::Response => "response scale",
        PredictScale::Link => "link scale",
    };
    match format {
        Format::Text => {
            let mut s = report::text_report(fit, info);
            s.push_str(&tidy::tests_text(&r.tests));
            for (f, rows) in &r.emmeans {
                let title = format!(
                    "Estimated marginal means of {f} ({scale_word}, {}; {}% confidence intervals):",
                    if a.predict_kind == PredictKind::Conditional {
                        "at u = 0"
                    } else {
                        "averaged over the random effects"
                    },
                    report::format_signif(100.0 * info.level, 4)
                );
                s.push_str(&tidy::predictions_text(&title, rows, info.level));
            }
            if let (Some(p), None) = (&r.predictions, &a.predict_out) {
                let title = format!("Predictions ({kind_word}; {scale_word}):");
                s.push_str(&tidy::predictions_text(&title, p, info.level));
            }
            if let Some(pr) = &r.profile {
                s.push_str(&tidy::profile_text(fit, pr, info.level));
            }
            if !written.is_empty() {
                s.push_str("\nWritten:\n");
                for w in &written {
                    s.push_str(&format!("  {w}\n"));
                }
            }
            print_out(&s)
        }
        Format::Json => {
            let v = mcla::request::fit_json(
                fit,
                info,
                &mcla::request::InferenceResults {
                    tests: &r.tests,
                    predictions: r.predictions.as_deref(),
                    emmeans: &r.emmeans,
                    profile: r.profile.as_deref(),
                },
            );
            let s = serde_json::to_string_pretty(&v)
                .context("cannot encode the result as JSON")
                .map_err(io_error)?;
            print_out(&(s + "\n"))
        }
        Format::Csv => print_out(&tidy::params_csv(fit, info.level, r.profile.as_deref())),
    }
}
