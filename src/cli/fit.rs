//! `mcla fit`: read the data, build the model, fit it, print the report and the inference
//! tables.

use super::args::{FitArgs, Format, McArgs, ModelArgs, MIN_RMAX};
use super::error::{input, CliError};
use super::infer;
use super::options::{fit_options, frame_options, resolve_formulas};
use super::output::call_line;
use super::progress::run_fit;
use mcla::model::design::{self, DataRequest, ModelInput};
use mcla::output::report::ReportInfo;
use mcla::{FitOptions, Model};
use mcla_formula::{DataFrame, Design, FrameOptions};
use std::time::Instant;

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
    let (fixed, random, default_names) = resolve_formulas(a)?;
    let varcomps_names = match &a.varcomps {
        Some(v) => v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        None if a.varcomps_equal.is_some() => {
            return Err(input("--varcomps-equal needs --varcomps with one name per distinct component, e.g. --varcomps-equal 1,1,2 --varcomps A,B".into()))
        }
        None => default_names,
    };
    let input_spec = ModelInput {
        family: a.family,
        varcomps_names,
        varcomps_equal: a.varcomps_equal.clone().map(|c| c.0),
    };
    design::check_varcomps(random.len(), &input_spec)?;
    let frame = design::read_frame(&a.data, &fopts)?;
    let request = DataRequest {
        fixed,
        random,
        weights: a.weights.clone(),
        input: input_spec,
    };
    let (dsg, model, notes) = design::load_model_with_notes(&frame, &request)?;
    if mc.format == Format::Text {
        for n in &notes {
            eprintln!("note: {n}");
        }
    }
    if dsg.dropped_rows > 0 && mc.format == Format::Text {
        eprintln!(
            "note: {} of {} data rows dropped because they have a missing value (an empty cell or one of --na-strings, e.g. NA) in a column the model uses",
            dsg.dropped_rows, dsg.n_rows_read
        );
    }
    let options = FitOptions {
        mixture: a.mixture.unwrap_or(FitOptions::default().mixture),
        zeta: a.zeta,
        do_pql: !a.no_pql,
        par_init: a.par_init.clone().map(|p| p.0),
        rmax: a.rmax,
        iterlim: a.iterlim,
        low_memory: a.low_memory,
        ..fit_options(mc)
    };
    if a.rmax <= 0.0 || !a.rmax.is_finite() {
        return Err(input(format!(
            "--rmax must be a positive number (got {}); the default is 1000",
            a.rmax
        )));
    }
    if a.rmax < MIN_RMAX {
        return Err(input(format!(
            "--rmax {:e} is too small: steps that short change the log-likelihood by less than the optimiser's stopping tolerance, so it would stop where it started; use at least {MIN_RMAX} (the default 1000 suits almost every model)",
            a.rmax
        )));
    }
    let options = FitOptions {
        rinit: options.rinit.min(options.rmax),
        ..options
    };
    options
        .check(&model)
        .map_err(|e| input(format!("{e}; see `mcla fit --help`")))?;
    Ok(Loaded {
        frame,
        fopts,
        request,
        dsg,
        model,
        options,
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
