//! `mcla fit`: read the data, build the model, fit it, print the report and the inference
//! tables.  The model and the options are built and checked by `mcla::request` (the same code
//! as the Python package's).

use super::args::{FitArgs, Format, McArgs, ModelArgs};
use super::error::{input, CliError};
use super::infer;
use super::options::{frame_options, mc_settings};
use super::output::call_line;
use super::progress::run_fit;
use mcla::model::design::{self, DataRequest};
use mcla::output::report::ReportInfo;
use mcla::request::{FitRequest, RequestError};
use mcla::{FitOptions, Model};
use mcla_formula::{DataFrame, Design, FrameOptions};
use std::time::Instant;

impl From<RequestError> for CliError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Input(e) => e.into(),
            RequestError::Invalid(msg) => input(msg),
        }
    }
}

/// The library's fit request of the command line's arguments.
fn fit_request(a: &ModelArgs, mc: &McArgs) -> FitRequest {
    FitRequest {
        formula: a.formula.clone(),
        fixed: a.fixed.clone(),
        random: a.random.clone(),
        varcomps: a.varcomps.clone(),
        varcomps_equal: a.varcomps_equal.clone().map(|c| c.0),
        family: a.family,
        weights: a.weights.clone(),
        mixture: a.mixture,
        zeta: a.zeta,
        par_init: a.par_init.clone().map(|p| p.0),
        no_pql: a.no_pql,
        rmax: a.rmax,
        iterlim: a.iterlim,
        low_memory: a.low_memory,
        mc: mc_settings(mc),
    }
}

/// The data, model and options of `mcla fit` (and `mcla bootstrap`): everything checked
/// before the fit.
pub(crate) struct Loaded {
    pub(crate) frame: DataFrame,
    pub(crate) fopts: FrameOptions,
    pub(crate) request: DataRequest,
    pub(crate) dsg: Design,
    pub(crate) model: Model,
    pub(crate) options: FitOptions,
}

/// Read the data, build and check the model and the fit options.
pub(crate) fn load(a: &ModelArgs, mc: &McArgs) -> Result<Loaded, CliError> {
    let fopts = frame_options(&a.factor, &a.levels, &a.na_strings)?;
    let req = fit_request(a, mc);
    // the formulas and variance components are checked before the data are read
    req.data_request()?;
    let frame = design::read_frame(&a.data, &fopts)?;
    let prepared = req.prepare(&frame)?;
    if let Some(n) = &prepared.threads_note {
        eprintln!("note: {n}");
    }
    if mc.format == Format::Text {
        for n in &prepared.notes {
            eprintln!("note: {n}");
        }
    }
    Ok(Loaded {
        frame,
        fopts,
        request: prepared.request,
        dsg: prepared.design,
        model: prepared.model,
        options: prepared.options,
    })
}

pub(crate) fn cmd_fit(a: FitArgs) -> Result<(), CliError> {
    let t0 = Instant::now();
    let Loaded {
        frame,
        fopts,
        request,
        dsg,
        model,
        options,
    } = load(&a.model, &a.mc)?;
    let plan = infer::plan(
        &a.inference,
        a.mc.format,
        &model,
        &frame,
        &dsg,
        &request,
        &fopts,
    )?;
    let mut fit = run_fit(&model, &options, a.mc.quiet)?;
    // The design's warnings first: a numeric ID column in a random formula is a different model
    // (one slope, not one effect per level), and the fit's own warnings are its symptoms.
    let mut warnings = design::design_warnings(&dsg);
    warnings.append(&mut fit.warnings);
    fit.warnings = warnings;
    let results = infer::run(&plan, &a.inference, a.mc.level, &model, &options, &fit)?;
    let info = ReportInfo {
        call: call_line(),
        rows_read: dsg.n_rows_read,
        dropped_rows: dsg.dropped_rows,
        level: a.mc.level,
        elapsed_seconds: t0.elapsed().as_secs_f64(),
        truth: None,
    };
    infer::emit(&fit, &info, a.mc.format, &a.inference, &results)
}
