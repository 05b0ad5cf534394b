//! Python bindings of the `mcla` library: the native module `mcla._mcla` of the Python package
//! (`python/python/mcla`).
//!
//! A thin layer with no statistics of its own.  Python hands over the columns of a data frame
//! (numbers and codes as little-endian bytes, strings as lists) and the options as the command
//! line's texts; this crate reads the columns with the CSV reader's conventions
//! ([`mcla_formula::DataFrame::from_raw_columns`]), parses and checks the options with the
//! command line's parsers ([`mcla::request`]), builds the model with
//! [`mcla::request::FitRequest::prepare`] and fits it: the same code path, checks and messages
//! as `mcla fit`.  Results go back as the command line's JSON (or its text report), which the
//! Python code turns into pandas objects.
//!
//! Long computations run on a worker thread with the GIL released; the calling thread waits in
//! slices of 50 ms and checks for signals between them, so Ctrl-C stops the fit through the
//! engine's interrupt flag and raises `KeyboardInterrupt`.

use mcla::infer::predict::{emmeans_grid, new_data_from_frame, Kind, NewData, Scale};
use mcla::infer::profile::{fit_profile, ProfileSettings};
use mcla::output::report::{self, ReportInfo};
use mcla::request::{self, FitRequest, InferenceResults, PreparedFit};
use mcla::infer::wald::Hypothesis;
use mcla::{Fit, FitOptions, Model, Progress};
use mcla_formula::{Categorical, DataFrame, FrameOptions, RawColumn};
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mcla::{fit_interruptible, Interrupt};

create_exception!(
    _mcla,
    InputError,
    PyValueError,
    "Bad input: a missing column, a malformed formula, an invalid option (the command line's message)."
);

fn input_error(msg: impl Into<String>) -> PyErr {
    InputError::new_err(msg.into())
}

fn internal(msg: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(format!(
        "internal error in the mcla library (please report it): {msg}"
    ))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Columns

fn le_f64(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

fn le_i64(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

/// One column from Python: `(name, kind, payload)` with kind
/// `numeric` (bytes of little-endian float64, NaN = missing), `logical` (bytes, 0/1, 2 = missing),
/// `text` (list of str or None) or `categorical` (`(levels, bytes of int64 codes, -1 = missing)`).
fn read_column(item: &Bound<'_, PyAny>) -> PyResult<(String, RawColumn)> {
    let (name, kind, payload): (String, String, Bound<'_, PyAny>) = item.extract()?;
    let col = match kind.as_str() {
        "numeric" => {
            let b = payload.cast::<PyBytes>()?;
            RawColumn::Numeric(le_f64(b.as_bytes()).into_iter().map(Some).collect())
        }
        "logical" => {
            let b = payload.cast::<PyBytes>()?;
            RawColumn::Logical(
                b.as_bytes()
                    .iter()
                    .map(|&v| match v {
                        0 => Some(false),
                        1 => Some(true),
                        _ => None,
                    })
                    .collect(),
            )
        }
        "text" => RawColumn::Text(payload.extract::<Vec<Option<String>>>()?),
        "categorical" => {
            let (levels, codes): (Vec<String>, Bound<'_, PyBytes>) = payload.extract()?;
            let n = levels.len() as i64;
            let codes = le_i64(codes.as_bytes())
                .into_iter()
                .map(|c| (0..n).contains(&c).then_some(c as usize))
                .collect();
            RawColumn::Categorical(Categorical { levels, codes })
        }
        other => return Err(internal(format!("unknown column kind '{other}'"))),
    };
    Ok((name, col))
}

fn read_frame(columns: &Bound<'_, PyList>, fopts: &FrameOptions) -> PyResult<DataFrame> {
    let cols = columns
        .iter()
        .map(|c| read_column(&c))
        .collect::<PyResult<Vec<_>>>()?;
    let frame = DataFrame::from_raw_columns(cols, fopts)
        .map_err(|e| input_error(request::error_chain(&e)))?;
    frame
        .check_levels_occur(fopts)
        .map_err(|e| input_error(request::error_chain(&e)))?;
    Ok(frame)
}

// ---------------------------------------------------------------------------------------------
// Options: the command line's texts, parsed by the command line's parsers

struct Args<'a, 'py>(&'a Bound<'py, PyDict>);

impl Args<'_, '_> {
    fn text(&self, key: &str) -> PyResult<Option<String>> {
        match self.0.get_item(key)? {
            Some(v) if !v.is_none() => Ok(Some(v.extract::<String>()?)),
            _ => Ok(None),
        }
    }
    fn texts(&self, key: &str) -> PyResult<Vec<String>> {
        match self.0.get_item(key)? {
            Some(v) if !v.is_none() => v.extract::<Vec<String>>(),
            _ => Ok(Vec::new()),
        }
    }
    fn flag(&self, key: &str) -> PyResult<bool> {
        match self.0.get_item(key)? {
            Some(v) if !v.is_none() => v.is_truthy(),
            _ => Ok(false),
        }
    }
    /// Parse `key` with the command line's parser; its message names the value and the option.
    fn parsed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> PyResult<Option<T>> {
        match self.text(key)? {
            Some(s) => parse(&s)
                .map(Some)
                .map_err(|e| input_error(format!("invalid value '{s}' for {key}: {e}"))),
            None => Ok(None),
        }
    }
}

fn parse_f64(s: &str) -> Result<f64, String> {
    s.trim().parse::<f64>().map_err(|e| e.to_string())
}

fn parse_usize(s: &str) -> Result<usize, String> {
    s.trim().parse::<usize>().map_err(|e| e.to_string())
}

/// The fit request, frame options and confidence level from the options of `mcla.glmm` /
/// `mcla.glmer` (each the text the command line would take).
fn read_request(args: &Bound<'_, PyDict>) -> PyResult<(FitRequest, FrameOptions, f64)> {
    let a = Args(args);
    let d = FitRequest::default();
    let formula = a.text("formula")?;
    let fixed = a.text("fixed")?;
    let random = a.texts("random")?;
    if formula.is_some() && (fixed.is_some() || !random.is_empty()) {
        return Err(input_error(
            "give the model either as one lme4-style formula or as fixed and random formulas, not both",
        ));
    }
    let par_init = a.parsed("par_init", request::parse_numbers)?;
    let no_pql = a.flag("no_pql")?;
    if par_init.is_some() && no_pql {
        return Err(input_error(
            "par_init cannot be used with no_pql (par_init already skips PQL)",
        ));
    }
    let mut mc = d.mc.clone();
    if let Some(m) = a.parsed("m", request::parse_m)? {
        mc.m = m;
    }
    if let Some(v) = a.parsed("target_mcse_ratio", parse_f64)? {
        mc.target_mcse_ratio = v;
    }
    if let Some(v) = a.parsed("target_loglik_mcse", parse_f64)? {
        mc.target_loglik_mcse = v;
    }
    if let Some(v) = a.parsed("nodes", parse_usize)? {
        mc.nodes = v;
    }
    if let Some(v) = a.parsed("seed", request::parse_seed)? {
        mc.seed = v;
    }
    mc.subtrees = a.flag("subtrees")?;
    mc.threads = a.parsed("threads", request::parse_threads)?;
    if let Some(v) = a.parsed("sampler", request::parse_sampler)? {
        mc.sampler = v;
    }
    let level = a.parsed("level", request::parse_level)?.unwrap_or(0.95);
    let req = FitRequest {
        formula,
        fixed,
        random,
        varcomps: a.text("varcomps")?,
        varcomps_equal: a.parsed("varcomps_equal", request::parse_equal)?,
        family: a
            .parsed("family", request::parse_family)?
            .unwrap_or(d.family),
        weights: a.text("weights")?,
        mixture: a.parsed("mixture", request::parse_mixture)?,
        zeta: a.parsed("zeta", request::parse_zeta)?.unwrap_or(d.zeta),
        par_init,
        no_pql,
        rmax: a.parsed("rmax", parse_f64)?.unwrap_or(d.rmax),
        iterlim: a.parsed("iterlim", parse_usize)?.unwrap_or(d.iterlim),
        low_memory: a.flag("low_memory")?,
        mc,
    };
    let na = a.text("na_strings")?.unwrap_or_default();
    let mut fopts = request::frame_options(&a.texts("factor")?, &a.texts("levels")?, &na)
        .map_err(input_error)?;
    // a data frame has no quoting; missing values are None/NaN plus the given spellings
    fopts.quoted_as_categorical = false;
    Ok((req, fopts, level))
}

// ---------------------------------------------------------------------------------------------
// Running long computations off the calling thread

enum Event {
    Progress(String),
    Done,
}

/// Run `work` on a worker thread with the GIL released.  `work` gets the interrupt flag and
/// a function that sends a progress message; the calling thread forwards the messages to
/// `progress` (a Python callable taking one str) and checks for signals every 50 ms: a pending
/// KeyboardInterrupt (or an exception of the callback) triggers the flag, waits for the
/// worker to stop and is raised.
fn run_detached<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(&Interrupt, &(dyn Fn(String) + Sync)) -> T + Send,
) -> PyResult<T> {
    let interrupt = Interrupt::new();
    let (tx, rx) = mpsc::channel::<Event>();
    let want_progress = progress.is_some();
    std::thread::scope(|s| {
        let flag = interrupt.clone();
        let handle = s.spawn(move || {
            let events = tx.clone();
            let say = move |msg: String| {
                if want_progress {
                    let _ = events.send(Event::Progress(msg));
                }
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&flag, &say)));
            let _ = tx.send(Event::Done);
            r
        });
        let mut failure: Option<PyErr> = None;
        let mut rx = rx;
        loop {
            // the receiver is Send but not Sync: move it into the detached closure and back
            let (ev, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(50)), rx));
            rx = back;
            match ev {
                Ok(Event::Progress(msg)) => {
                    if let (Some(cb), None) = (progress, &failure) {
                        if let Err(e) = cb.call1((msg,)) {
                            interrupt.trigger();
                            failure = Some(e);
                        }
                    }
                }
                Ok(Event::Done) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if failure.is_none() {
                if let Err(e) = py.check_signals() {
                    interrupt.trigger();
                    failure = Some(e);
                }
            }
        }
        let joined = py.detach(|| handle.join());
        if let Some(e) = failure {
            return Err(e);
        }
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(payload)) | Err(payload) => Err(internal(panic_message(payload.as_ref()))),
        }
    })
}

/// Replicates `indices` computed by `run(range)` in slices of `slice` (the engine's results do
/// not depend on how the indices are split), checking the interrupt between slices and
/// reporting the count done.  `None` when interrupted.
fn in_slices<R, E>(
    indices: std::ops::Range<usize>,
    slice: usize,
    what: &str,
    stop: &Interrupt,
    say: &(dyn Fn(String) + Sync),
    run: impl Fn(std::ops::Range<usize>, &(dyn Fn(usize) + Sync)) -> Result<Vec<R>, E>,
) -> Option<Result<Vec<R>, E>> {
    let total = indices.len();
    let mut out = Vec::with_capacity(total);
    let mut a = indices.start;
    while a < indices.end {
        if stop.is_triggered() {
            return None;
        }
        let b = (a + slice.max(1)).min(indices.end);
        let before = out.len();
        let tick = |done: usize| say(format!("{what}: {} of {total} replicates", before + done));
        match run(a..b, &tick) {
            Ok(v) => out.extend(v),
            Err(e) => return Some(Err(e)),
        }
        a = b;
    }
    Some(Ok(out))
}

/// Options for replicates: the fit's, with `threads` worker threads when given.
fn with_threads(options: &FitOptions, threads: Option<usize>) -> PyResult<FitOptions> {
    let threads = match threads {
        Some(t) => Some(
            request::parse_threads(&t.to_string())
                .map_err(|e| input_error(format!("invalid value '{t}' for threads: {e}")))?,
        ),
        None => options.threads,
    };
    Ok(FitOptions {
        threads,
        ..options.clone()
    })
}

/// Replicates per slice between interrupt checks: a few per thread.
fn slice_len(options: &FitOptions) -> usize {
    4 * options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn bootstrap_error(e: mcla::infer::bootstrap::BootstrapError) -> PyErr {
    use mcla::infer::bootstrap::BootstrapError as B;
    match e {
        B::ZeroNsim | B::Probability { .. } | B::Power(_) | B::NotNested(_) | B::Options(_) => {
            input_error(request::error_chain(&e))
        }
        other => PyRuntimeError::new_err(request::error_chain(&other)),
    }
}

fn interrupted() -> PyErr {
    PyKeyboardInterrupt::new_err("the computation was interrupted")
}

/// A fit error as Python sees it: an interrupted fit is a KeyboardInterrupt, options the
/// engine rejects are bad input, anything else a RuntimeError with the command line's text.
fn fit_error(e: mcla::FitError) -> PyErr {
    match e {
        mcla::FitError::Options(o) => input_error(format!("{o}; see `mcla fit --help`")),
        mcla::FitError::Interrupted => PyKeyboardInterrupt::new_err("the fit was interrupted"),
        other => PyRuntimeError::new_err(format!("the fit failed: {other}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The fitted model

/// A fitted GLMM with the data and model it came from (for predictions, profiles, tests).
#[pyclass(module = "mcla._mcla", frozen)]
struct Fitted {
    frame: DataFrame,
    fopts: FrameOptions,
    prepared: PreparedFit,
    fit: Fit,
    call: String,
    level: f64,
    elapsed: f64,
    notes: Vec<String>,
}

fn kind_of(s: &str) -> PyResult<Kind> {
    match s {
        "conditional" => Ok(Kind::Conditional),
        "marginal" => Ok(Kind::Marginal),
        other => Err(input_error(format!(
            "invalid value '{other}' for kind: use conditional (at the predicted random effects) or marginal (averaged over the random effects)"
        ))),
    }
}

fn scale_of(s: &str) -> PyResult<Scale> {
    match s {
        "response" => Ok(Scale::Response),
        "link" => Ok(Scale::Link),
        other => Err(input_error(format!(
            "invalid value '{other}' for scale: use response (probabilities, means) or link"
        ))),
    }
}

fn level_of(level: f64) -> PyResult<f64> {
    request::parse_level(&level.to_string())
        .map_err(|e| input_error(format!("invalid value '{level}' for level: {e}")))
}

fn to_json_string<T: serde::Serialize + ?Sized>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(internal)
}

impl Fitted {
    fn info(&self, level: f64) -> ReportInfo {
        ReportInfo {
            call: self.call.clone(),
            rows_read: self.prepared.design.n_rows_read,
            dropped_rows: self.prepared.design.dropped_rows,
            level,
            elapsed_seconds: self.elapsed,
            truth: None,
        }
    }
    fn model(&self) -> &Model {
        &self.prepared.model
    }
    fn options(&self) -> &FitOptions {
        &self.prepared.options
    }
}

#[pymethods]
impl Fitted {
    /// The command line's JSON of the fit (`mcla fit --format json` without inference options).
    #[pyo3(signature = (level=None))]
    fn json(&self, level: Option<f64>) -> PyResult<String> {
        let level = level.map(level_of).transpose()?.unwrap_or(self.level);
        let v = request::fit_json(&self.fit, &self.info(level), &InferenceResults::default());
        serde_json::to_string_pretty(&v)
            .map(|s| s + "\n")
            .map_err(internal)
    }

    /// The command line's text report.
    #[pyo3(signature = (level=None))]
    fn text(&self, level: Option<f64>) -> PyResult<String> {
        let level = level.map(level_of).transpose()?.unwrap_or(self.level);
        Ok(report::text_report(&self.fit, &self.info(level)))
    }

    /// Notes about the data (dropped rows, dropped columns).
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    /// Confidence level given at the fit.
    #[getter]
    fn level(&self) -> f64 {
        self.level
    }

    /// Wald intervals at `level`: JSON list of [name, low, high].
    fn confint(&self, level: f64) -> PyResult<String> {
        let level = level_of(level)?;
        let ci = self.fit.confint(level, &[]).map_err(input_error)?;
        to_json_string(&ci)
    }

    /// Wald tests of linear hypotheses ("CrossR/R = CrossW/W"; comma-separated rows jointly):
    /// JSON list of the tests.
    fn wald(&self, hypotheses: Vec<String>) -> PyResult<String> {
        let names = self.model().parameter_names();
        let mut tests = Vec::new();
        for h in &hypotheses {
            let parsed = Hypothesis::parse(h, &names).map_err(|e| input_error(e.to_string()))?;
            tests.push(
                self.fit
                    .wald(&parsed)
                    .map_err(|e| PyRuntimeError::new_err(e.to_string()))?,
            );
        }
        to_json_string(&tests)
    }

    /// The Wald tests as the command line prints them.
    fn wald_text(&self, hypotheses: Vec<String>) -> PyResult<String> {
        let names = self.model().parameter_names();
        let mut tests = Vec::new();
        for h in &hypotheses {
            let parsed = Hypothesis::parse(h, &names).map_err(|e| input_error(e.to_string()))?;
            tests.push(
                self.fit
                    .wald(&parsed)
                    .map_err(|e| PyRuntimeError::new_err(e.to_string()))?,
            );
        }
        Ok(mcla::output::tidy::tests_text(&tests))
    }

    /// Predictions for the rows of a new data frame (columns as for the fit): JSON list.
    fn predict(
        &self,
        columns: &Bound<'_, PyList>,
        kind: &str,
        scale: &str,
        level: f64,
    ) -> PyResult<String> {
        let (k, s, level) = (kind_of(kind)?, scale_of(scale)?, level_of(level)?);
        let new = read_frame(columns, &self.fopts)?;
        let nd: NewData = new_data_from_frame(
            self.model(),
            &self.frame,
            &self.prepared.design,
            &self.prepared.request,
            &new,
        )
        .map_err(|e| input_error(e.to_string()))?;
        let rows = self
            .fit
            .predict_level(&nd, s, k, level)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        to_json_string(&rows)
    }

    /// Estimated marginal means of a factor of the fixed effects: JSON list.
    fn emmeans(&self, factor: &str, kind: &str, scale: &str, level: f64) -> PyResult<String> {
        let (k, s, level) = (kind_of(kind)?, scale_of(scale)?, level_of(level)?);
        let grid = emmeans_grid(
            self.model(),
            &self.frame,
            &self.prepared.design,
            &self.prepared.request,
            factor.trim(),
        )
        .map_err(|e| input_error(e.to_string()))?;
        let rows = self
            .fit
            .predict_level(&grid, s, k, level)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        to_json_string(&rows)
    }

    /// Profile-likelihood intervals of the named parameters (all when empty): (JSON list, the
    /// command line's text).  Runs with the GIL released; Ctrl-C is checked while it runs.
    fn profile(&self, py: Python<'_>, names: Vec<String>, level: f64) -> PyResult<(String, String)> {
        let level = level_of(level)?;
        let known = self.model().parameter_names();
        for n in &names {
            if !known.contains(n) {
                return Err(input_error(format!(
                    "unknown parameter '{n}'; parameters are: {}",
                    known.join(", ")
                )));
            }
        }
        let settings = ProfileSettings {
            level,
            ..ProfileSettings::default()
        };
        let this = self;
        let r = run_detached(py, None, move |_, _| {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            fit_profile(this.model(), this.options(), &this.fit, &refs, &settings)
        })?;
        match r {
            Ok(Ok(intervals)) => Ok((
                to_json_string(&intervals)?,
                mcla::output::tidy::profile_text(&self.fit, &intervals, level),
            )),
            Ok(Err(msg)) => Err(input_error(msg)),
            Err(e) => Err(PyRuntimeError::new_err(format!(
                "the profile failed: {e}"
            ))),
        }
    }

    /// The estimates theta = (beta, nu), to check a fit rebuilt elsewhere bit for bit.
    fn theta(&self) -> Vec<f64> {
        self.fit.theta.clone()
    }

    /// Parametric-bootstrap replicates `start..stop` (seed streams `replicate_seed(seed, r)`):
    /// JSON list.  Bit-identical for any `threads` and any split of the indices.  Runs with the
    /// GIL released; Ctrl-C stops it between slices of replicates.
    #[pyo3(signature = (start, stop, seed, threads=None, progress=None))]
    fn bootstrap(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        seed: u64,
        threads: Option<usize>,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let options = with_threads(self.options(), threads)?;
        let slice = slice_len(&options);
        let this = self;
        let r = run_detached(py, progress.as_ref(), move |stop_flag, say| {
            in_slices(start..stop, slice, "bootstrap", stop_flag, say, |range, tick| {
                mcla::infer::bootstrap::bootstrap_replicates_with_progress(
                    this.model(),
                    &this.fit,
                    &options,
                    range,
                    seed,
                    tick,
                )
            })
        })?;
        match r {
            None => Err(interrupted()),
            Some(Ok(reps)) => to_json_string(&reps),
            Some(Err(e)) => Err(bootstrap_error(e)),
        }
    }

    /// Bootstrap SEs, percentile and basic intervals at `level` of replicates (JSON list, as
    /// returned by `bootstrap`): JSON.
    fn summarise_bootstrap(&self, replicates: &str, level: f64) -> PyResult<String> {
        let reps: Vec<mcla::infer::bootstrap::Replicate> =
            serde_json::from_str(replicates).map_err(internal)?;
        let summary = mcla::infer::bootstrap::summarise_bootstrap(&self.fit, &reps, level)
            .map_err(bootstrap_error)?;
        to_json_string(&summary)
    }

    /// (AIC, BIC) of the fit (lme4's definitions, with the true log-likelihood).
    fn criteria(&self) -> (f64, f64) {
        let s = mcla::infer::compare::ModelSummary::from_fit("", &self.fit, None);
        (s.aic(), s.bic())
    }

    /// Random-effect predictions E[u|y], SD[u|y] and their MCSE: JSON list.
    fn ranef(&self) -> PyResult<String> {
        to_json_string(&self.fit.ranef)
    }
}

/// Fit a GLMM: `columns` as described in [`read_column`], `args` the options as the command
/// line's texts, `call` the call shown in reports, `progress` an optional callable taking the
/// progress messages.
#[pyfunction]
#[pyo3(signature = (columns, args, call, progress=None))]
fn fit(
    py: Python<'_>,
    columns: &Bound<'_, PyList>,
    args: &Bound<'_, PyDict>,
    call: String,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<Fitted> {
    let t0 = Instant::now();
    let (req, fopts, level) = read_request(args)?;
    // the model request is checked before the data are read, as by the command line
    req.data_request()
        .map_err(|e| input_error(e.message()))?;
    let frame = read_frame(columns, &fopts)?;
    let prepared = req.prepare(&frame).map_err(|e| input_error(e.message()))?;
    let data_constant = prepared.model.data_constant();
    let (model, options) = (&prepared.model, &prepared.options);
    let mut fit = run_detached(py, progress.as_ref(), move |stop, say| {
        let mut cb = |p: Progress| say(request::progress_message(p, data_constant));
        fit_interruptible(model, options, &mut cb, stop)
    })?
    .map_err(fit_error)?;
    fit.warnings
        .extend(mcla::model::design::design_warnings(&prepared.design));
    let mut notes = prepared.notes.clone();
    notes.extend(prepared.threads_note.clone());
    Ok(Fitted {
        frame,
        fopts,
        prepared,
        fit,
        call,
        level,
        elapsed: t0.elapsed().as_secs_f64(),
        notes,
    })
}

/// Likelihood-ratio tests between nested fits on the same data (the command line's
/// `mcla compare`): JSON {"models": [...], "anova": [...]}.
#[pyfunction]
fn compare(fits: Vec<Bound<'_, Fitted>>, labels: Vec<String>) -> PyResult<String> {
    if fits.len() < 2 {
        return Err(input_error(format!(
            "compare needs at least two fits (got {})",
            fits.len()
        )));
    }
    let summaries: Vec<_> = fits
        .iter()
        .zip(&labels)
        .map(|(f, label)| {
            let f = f.get();
            mcla::infer::compare::ModelSummary::from_fit(
                label,
                &f.fit,
                Some(f.prepared.design.kept_rows.clone()),
            )
        })
        .collect();
    let rows = mcla::infer::compare::anova(&summaries).map_err(|e| input_error(e.to_string()))?;
    let v = serde_json::json!({
        "n": summaries[0].n,
        "models": serde_json::to_value(&summaries).map_err(internal)?,
        "anova": serde_json::to_value(&rows).map_err(internal)?,
        "text": mcla::output::tidy::anova_text(&rows),
    });
    to_json_string(&v)
}

fn fitted_ref<'a>(f: &'a Fitted) -> mcla::infer::bootstrap::Fitted<'a> {
    mcla::infer::bootstrap::Fitted {
        model: f.model(),
        fit: &f.fit,
        options: f.options(),
    }
}

/// Replicates `start..stop` of the parametric-bootstrap likelihood-ratio test of `small`
/// against `large` (pbkrtest::PBmodcomp): JSON list.
#[pyfunction]
#[pyo3(signature = (small, large, start, stop, seed, threads=None, progress=None))]
fn bootstrap_lrt(
    py: Python<'_>,
    small: Bound<'_, Fitted>,
    large: Bound<'_, Fitted>,
    start: usize,
    stop: usize,
    seed: u64,
    threads: Option<usize>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let (s, l) = (small.get(), large.get());
    let so = with_threads(s.options(), threads)?;
    let lo = with_threads(l.options(), threads)?;
    let slice = slice_len(&so);
    let r = run_detached(py, progress.as_ref(), move |stop_flag, say| {
        let small = mcla::infer::bootstrap::Fitted { options: &so, ..fitted_ref(s) };
        let large = mcla::infer::bootstrap::Fitted { options: &lo, ..fitted_ref(l) };
        in_slices(start..stop, slice, "bootstrap LRT", stop_flag, say, |range, tick| {
            mcla::infer::bootstrap::bootstrap_lrt_replicates_with_progress(
                small, large, range, seed, tick,
            )
        })
    })?;
    match r {
        None => Err(interrupted()),
        Some(Ok(reps)) => to_json_string(&reps),
        Some(Err(e)) => Err(bootstrap_error(e)),
    }
}

/// The bootstrap p-value of the likelihood-ratio test from its replicates: JSON.
#[pyfunction]
fn summarise_lrt(small: Bound<'_, Fitted>, large: Bound<'_, Fitted>, replicates: &str) -> PyResult<String> {
    let (s, l) = (small.get(), large.get());
    let reps: Vec<mcla::infer::bootstrap::LrtReplicate> =
        serde_json::from_str(replicates).map_err(internal)?;
    let df = l.fit.theta.len().saturating_sub(s.fit.theta.len());
    let lrt = mcla::infer::bootstrap::observed_lrt(&s.fit, &l.fit);
    let summary = mcla::infer::bootstrap::summarise_lrt(lrt, df, &reps).map_err(bootstrap_error)?;
    to_json_string(&summary)
}

/// A planned study for a power analysis: a design data frame (its response, if any, is
/// replaced), the model, the true parameters and the test.
#[pyclass(module = "mcla._mcla", frozen)]
struct PowerStudy {
    study: mcla::infer::power::PowerStudy,
    options: FitOptions,
    notes: Vec<String>,
}

#[pymethods]
impl PowerStudy {
    /// Replicates `start..stop` (simulated studies, each refitted and tested): JSON list.
    #[pyo3(signature = (start, stop, seed, threads=None, progress=None))]
    fn replicates(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        seed: u64,
        threads: Option<usize>,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let options = with_threads(&self.options, threads)?;
        let slice = slice_len(&options);
        let study = &self.study;
        let r = run_detached(py, progress.as_ref(), move |stop_flag, say| {
            in_slices(start..stop, slice, "power", stop_flag, say, |range, tick| {
                mcla::infer::power::power_replicates_with_progress(
                    study, &options, range, seed, tick,
                )
            })
        })?;
        match r {
            None => Err(interrupted()),
            Some(Ok(reps)) => to_json_string(&reps),
            Some(Err(e)) => Err(bootstrap_error(e)),
        }
    }

    /// The power and its Clopper-Pearson interval at `level` from replicates: JSON.
    fn summarise(&self, replicates: &str, level: f64) -> PyResult<String> {
        let reps: Vec<mcla::infer::power::PowerReplicate> =
            serde_json::from_str(replicates).map_err(internal)?;
        let summary = mcla::infer::power::summarise_power(&self.study, &reps, level)
            .map_err(bootstrap_error)?;
        to_json_string(&summary)
    }

    /// Notes about the design (rows dropped for missing values, ...).
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

/// A power study on a design data frame: `columns` and `args` as for `fit` (the response
/// column may be absent: it is simulated), `beta` and `nu` the truth, `parameter` the tested
/// fixed effect, `test` "wald" or "lrt", `alpha` the level of the test.
#[pyfunction]
fn power_study(
    columns: &Bound<'_, PyList>,
    args: &Bound<'_, PyDict>,
    beta: Vec<f64>,
    nu: Vec<f64>,
    parameter: String,
    test: &str,
    alpha: f64,
) -> PyResult<PowerStudy> {
    let (req, fopts, _level) = read_request(args)?;
    let request = req.data_request().map_err(|e| input_error(e.message()))?;
    let frame = read_frame(columns, &fopts)?;
    // the design's response, if any, is a placeholder: the model is not validated on it
    let frame = mcla::model::design::placeholder_response(&frame, &request)
        .map_err(|e| input_error(request::error_chain(&e)))?;
    let random: Vec<&str> = request.random.iter().map(String::as_str).collect();
    let design = mcla_formula::build_design(&frame, &request.fixed, &random, request.weights.as_deref())
        .map_err(|e| input_error(request::error_chain(&e)))?;
    let spec = mcla::model::design::spec_from_design(&design, &request.input)
        .map_err(|e| input_error(request::error_chain(&e)))?;
    let (options, note) = req.unchecked_fit_options().map_err(|e| input_error(e.message()))?;
    let mut notes: Vec<String> = note.into_iter().collect();
    if design.dropped_rows > 0 {
        notes.push(format!(
            "{} of {} design rows dropped because they have a missing value in a column the model uses",
            design.dropped_rows, design.n_rows_read
        ));
    }
    let test = mcla::infer::power::PowerTest::parse(test).ok_or_else(|| {
        input_error(format!("invalid value '{test}' for test: use wald (z test) or lrt (likelihood-ratio test)"))
    })?;
    let study = mcla::infer::power::PowerStudy {
        design: spec,
        beta,
        nu,
        parameter,
        test,
        alpha,
    };
    Ok(PowerStudy {
        study,
        options,
        notes,
    })
}

/// The library's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _mcla(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add_class::<Fitted>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_lrt, m)?)?;
    m.add_function(wrap_pyfunction!(summarise_lrt, m)?)?;
    m.add_function(wrap_pyfunction!(power_study, m)?)?;
    m.add_class::<PowerStudy>()?;
    Ok(())
}
