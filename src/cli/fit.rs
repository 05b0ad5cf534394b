//! `mcla fit`: read the data, build the model, fit it, print the report and the inference
//! tables.  The model and the options are built and checked by `mcla::request` (the same code
//! as the Python package's).

use super::args::{FitArgs, Format};
use super::error::{input, CliError};
use super::infer;
use super::options::{frame_options, mc_settings};
use super::output::call_line;
use super::progress::run_fit;
use mcla::model::design;
use mcla::output::report::ReportInfo;
use mcla::request::{FitRequest, RequestError};
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
fn fit_request(a: &FitArgs) -> FitRequest {
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
        mc: mc_settings(&a.mc),
    }
}

pub(crate) fn cmd_fit(a: FitArgs) -> Result<(), CliError> {
    let t0 = Instant::now();
    let fopts = frame_options(&a.factor, &a.levels, &a.na_strings)?;
    let req = fit_request(&a);
    // the formulas and variance components are checked before the data are read
    req.data_request()?;
    let frame = design::read_frame(&a.data, &fopts)?;
    let prepared = req.prepare(&frame)?;
    if a.mc.format == Format::Text {
        for n in &prepared.notes {
            eprintln!("note: {n}");
        }
    }
    let (dsg, model, request, options) = (
        &prepared.design,
        &prepared.model,
        &prepared.request,
        &prepared.options,
    );
    let plan = infer::plan(&a.inference, a.mc.format, model, &frame, dsg, request, &fopts)?;
    let mut fit = run_fit(model, options, a.mc.quiet)?;
    fit.warnings.extend(design::design_warnings(dsg));
    let results = infer::run(&plan, &a.inference, a.mc.level, model, options, &fit)?;
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
