//! A fit as a front end asks for it: formulas as text and options as the user gives them,
//! validated with the command line's messages, turned into a [`DataRequest`], [`FrameOptions`]
//! and [`FitOptions`].
//!
//! The command line and the Python package (`python/`) call these functions, so a model and its
//! options are built, checked and worded the same way whatever the front end: the value parsers
//! (`parse_m("1e4")`, `parse_mixture("0.5,0.25,0.25")`, ...), the `--factor`/`--levels` frame
//! options, the choice between an lme4-style formula and fixed + random formulas, the default
//! variance-component names, and the checks of [`FitRequest::prepare`] in the command line's
//! order.  The JSON of a fit with its inference ([`fit_json`]) and the messages of the progress
//! indicator ([`progress_message`]) live here for the same reason.
//!
//! ```
//! use mcla::request::{parse_m, MArg};
//! assert_eq!(parse_m("1e4"), Ok(MArg::Fixed(10_000)));
//! assert!(parse_m("-5").unwrap_err().contains("must be at least 1"));
//! ```

use crate::fit::{Fit, Progress};
use crate::infer::predict::Prediction;
use crate::infer::profile::ProfileInterval;
use crate::infer::wald::WaldTest;
use crate::model::design::{self, DataRequest, InputError, ModelInput};
use crate::model::family::Family;
use crate::model::options::{AutoM, FitOptions, Sampler};
use crate::model::Model;
use crate::output::report::{self, ReportInfo};
use mcla_formula::{DataFrame, Design, FrameOptions};
use serde_json::{json, Value};

/// Smallest `--rmax` accepted.
pub const MIN_RMAX: f64 = 1e-3;

/// A Monte Carlo sample size: `auto` or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MArg {
    /// Chosen automatically (adaptive sampler) or R glmm's default (fixed-sample samplers).
    Auto,
    /// Given.
    Fixed(usize),
}

/// Parse a Monte Carlo sample size: `auto`, `10000`, `1e4`, `10^4`.
pub fn parse_m(s: &str) -> Result<MArg, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(MArg::Auto);
    }
    parse_m_number(s).map(MArg::Fixed)
}

/// Parse a Monte Carlo sample size given as a number: `10000`, `1e4`, `10^4`.
pub fn parse_m_number(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let bad = || {
        format!("'{s}' is not a Monte Carlo sample size; give auto or a positive whole number such as 10000, 1e4 or 10^4")
    };
    let v: f64 = if let Some((b, e)) = t.split_once('^') {
        let b: f64 = b.trim().parse().map_err(|_| bad())?;
        let e: f64 = e.trim().parse().map_err(|_| bad())?;
        b.powf(e)
    } else {
        t.parse().map_err(|_| bad())?
    };
    if !v.is_finite() {
        return Err(bad());
    }
    if v <= 0.0 {
        return Err(format!("the Monte Carlo sample size m must be at least 1 (got {s}); give a positive whole number such as 10000, 1e4 or 10^4"));
    }
    if v.fract() != 0.0 {
        return Err(format!("the Monte Carlo sample size m must be a whole number (got {s}); e.g. 10000, 1e4 or 10^4"));
    }
    if v > 1e12 {
        return Err(format!("the Monte Carlo sample size m = {s} is far too large; use at most 1e12 (1e4 to 1e6 is typical)"));
    }
    Ok(v as usize)
}

/// Parse a seed (a whole number from 0 to 2^64 - 1).
pub fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| {
        format!(
            "'{s}' is not a seed; give a whole number from 0 to 18446744073709551615, e.g. 1234"
        )
    })
}

/// Parse a number of worker threads (at least 1).
pub fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("the number of threads must be at least 1; omit --threads to use all cores".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of threads; give a whole number >= 1, or omit --threads to use all cores")),
    }
}

/// Parse a response family.
pub fn parse_family(s: &str) -> Result<Family, String> {
    Family::parse(s).ok_or_else(|| format!("unknown family '{s}'; use bernoulli (0/1 response), binomial (cbind(successes, failures) response) or poisson (counts)"))
}

/// Parse a likelihood approximation (sampler).
pub fn parse_sampler(s: &str) -> Result<Sampler, String> {
    Sampler::parse(s).ok_or_else(|| {
        format!("unknown sampler '{s}'; use adaptive (default), factorised or joint (R glmm's)")
    })
}

/// Parse a confidence level (0.001 to 0.999999).
pub fn parse_level(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.001..=0.999999).contains(&v) => Ok(v),
        Ok(v) if v > 0.0 && v < 1.0 => Err(format!(
            "confidence level '{s}' is outside 0.001 to 0.999999: intervals at such levels are not meaningful (they shrink to the estimate or grow without bound); use e.g. 0.95"
        )),
        _ => Err(format!(
            "confidence level '{s}' must be a number strictly between 0 and 1, e.g. 0.95"
        )),
    }
}

/// Parse the degrees of freedom of the t component.
pub fn parse_zeta(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "zeta '{s}' must be a positive number of degrees of freedom, e.g. 5"
        )),
    }
}

/// Parse a comma-separated list of finite numbers.
pub fn parse_numbers(s: &str) -> Result<Vec<f64>, String> {
    s.split(',')
        .map(|t| {
            let t = t.trim();
            t.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("'{t}' in '{s}' is not a finite number; give comma-separated numbers, e.g. 1.0,0.3,-1.9"))
        })
        .collect()
}

/// Parse a list of variance-component numbers (`--varcomps-equal 1,1,2`).
pub fn parse_equal(s: &str) -> Result<Vec<usize>, String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|t| t.trim().parse::<usize>().ok().filter(|&k| k >= 1))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("'{s}' is not a list of component numbers; give one number >= 1 per --random formula, e.g. 1,1,2"))?;
    let mut max = 0;
    for &k in &v {
        if k > max + 1 {
            return Err(format!(
                "'{s}' must number the components 1, 2, ... in order of first use, e.g. 1,1,2"
            ));
        }
        max = max.max(k);
    }
    Ok(v)
}

/// Parse the mixture probabilities p1,p2,p3 of the importance distribution.
pub fn parse_mixture(s: &str) -> Result<[f64; 3], String> {
    let v = parse_numbers(s)?;
    let p: [f64; 3] = v.as_slice().try_into().map_err(|_| format!("--mixture needs three probabilities p1,p2,p3 (got {} values in '{s}'), e.g. 0.3333,0.3333,0.3334", v.len()))?;
    let sum: f64 = p.iter().sum();
    if let Some(x) = p.iter().find(|x| !(0.0..=1.0).contains(*x)) {
        return Err(format!("mixture probability {x} in '{s}' is not between 0 and 1: each of p1,p2,p3 must be in [0, 1] (and they sum to 1), e.g. 0.5,0.25,0.25"));
    }
    if (sum - 1.0).abs() > 1e-6 {
        return Err(format!("mixture probabilities must each be in [0, 1] and sum to 1, but '{s}' sums to {sum}; e.g. 0.5,0.25,0.25"));
    }
    if p[0] <= 0.0 {
        return Err("the first mixture probability p1 (the heavy-tailed t component) must be > 0: it keeps the importance weights' variance finite; e.g. 0.1,0.45,0.45".into());
    }
    // absorb rounding so the engine sees an exact sum of 1
    Ok([p[0], p[1], 1.0 - p[0] - p[1]])
}

/// Frame options from `--factor`/`--levels`/`--na-strings`.  `quoted_as_categorical` is set
/// (every column quoted throughout a CSV file is categorical: R's `write.csv` quotes factors).
pub fn frame_options(
    factor: &[String],
    levels: &[String],
    na_strings: &str,
) -> Result<FrameOptions, String> {
    let mut lv = Vec::new();
    for spec in levels {
        let (col, list) = spec
            .split_once('=')
            .ok_or_else(|| format!("--levels '{spec}' must look like COL=a,b,c (the column, '=', then its levels in order, first = reference level)"))?;
        let levels: Vec<String> = list.split(',').map(|l| l.trim().to_string()).collect();
        if col.trim().is_empty() || levels.iter().any(String::is_empty) {
            return Err(format!("--levels '{spec}' must look like COL=a,b,c with a column name and non-empty levels"));
        }
        lv.push((col.trim().to_string(), levels));
    }
    Ok(FrameOptions {
        factor_columns: factor.iter().map(|f| f.trim().to_string()).collect(),
        levels: lv,
        quoted_as_categorical: true,
        na_strings: Some(
            na_strings
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        ),
    })
}

/// Default variance-component names: the right-hand side of each random formula (`~ 0 + Female` → `Female`).
pub fn default_varcomps(random: &[String]) -> Vec<String> {
    random
        .iter()
        .map(|r| {
            let rhs = r.split_once('~').map(|(_, b)| b).unwrap_or(r);
            let terms: Vec<&str> = rhs
                .split('+')
                .map(str::trim)
                .filter(|t| !t.is_empty() && *t != "0" && *t != "-1" && *t != "1")
                .collect();
            if terms.is_empty() {
                rhs.trim().to_string()
            } else {
                terms.join("+")
            }
        })
        .collect()
}

/// The `--rmax` check: a positive number of at least [`MIN_RMAX`].
pub fn check_rmax(rmax: f64) -> Result<(), String> {
    if rmax <= 0.0 || !rmax.is_finite() {
        return Err(format!(
            "--rmax must be a positive number (got {rmax}); the default is 1000"
        ));
    }
    if rmax < MIN_RMAX {
        return Err(format!(
            "--rmax {rmax:e} is too small: steps that short change the log-likelihood by less than the optimiser's stopping tolerance, so it would stop where it started; use at least {MIN_RMAX} (the default 1000 suits almost every model)"
        ));
    }
    Ok(())
}

/// An error with its causes, as the command line prints it: the message, then each cause that
/// the message does not already contain, joined by `": "`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut msg = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(&format!(": {c}"));
        }
        source = cause.source();
    }
    msg
}

/// Options of the Monte Carlo fit shared by `mcla fit`, `mcla example` and `mcla compare`.
#[derive(Debug, Clone, PartialEq)]
pub struct McSettings {
    /// Monte Carlo sample size per block.
    pub m: MArg,
    /// With automatic m: target MCSE / SE of every parameter.
    pub target_mcse_ratio: f64,
    /// With automatic m: target MCSE of the log-likelihood.
    pub target_loglik_mcse: f64,
    /// Gauss–Hermite nodes of the adaptive sampler's conditional integrals.
    pub nodes: usize,
    /// Integrate the parts of sampled blocks that nest given the separator
    /// ([`FitOptions::subtrees`]).
    pub subtrees: bool,
    /// Seed.
    pub seed: u64,
    /// Worker threads (`None`: all cores).
    pub threads: Option<usize>,
    /// Likelihood approximation.
    pub sampler: Sampler,
    /// Standard draws of the adaptive sampler's separator.
    pub draws: crate::integrate::standard_draws::DrawScheme,
}

impl Default for McSettings {
    /// The command line's defaults.
    fn default() -> Self {
        let a = AutoM::default();
        McSettings {
            m: MArg::Auto,
            target_mcse_ratio: a.mcse_ratio,
            target_loglik_mcse: a.loglik_mcse,
            nodes: FitOptions::default().quadrature_nodes,
            subtrees: false,
            seed: FitOptions::default().seed,
            threads: None,
            sampler: Sampler::Adaptive,
            draws: FitOptions::default().draws,
        }
    }
}

impl McSettings {
    /// The fit options of these settings, and a note when the thread count was capped at
    /// [`crate::model::options::max_threads`].
    pub fn fit_options(&self) -> (FitOptions, Option<String>) {
        let max = crate::model::options::max_threads();
        let (threads, note) = match self.threads {
            Some(t) if t > max => (Some(max), Some(format!("--threads {t} is more than 4 x the cores of this machine; using {max} threads (the result does not depend on the number)"))),
            t => (t, None),
        };
        let defaults = FitOptions::default();
        let (m, auto_m) = match self.m {
            MArg::Fixed(m) => (m, None),
            MArg::Auto if self.sampler == Sampler::Adaptive => (
                defaults.m,
                Some(AutoM {
                    mcse_ratio: self.target_mcse_ratio,
                    loglik_mcse: self.target_loglik_mcse,
                    ..AutoM::default()
                }),
            ),
            // the fixed-sample samplers keep R glmm's habit of a given m (default 10^4)
            MArg::Auto => (defaults.m, None),
        };
        let options = FitOptions {
            m,
            auto_m,
            quadrature_nodes: self.nodes,
            subtrees: self.subtrees,
            seed: self.seed,
            threads,
            sampler: self.sampler,
            draws: self.draws,
            ..defaults
        };
        (options, note)
    }
}

/// A problem found while preparing a fit: bad input, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The data or the model (with its causes).
    #[error(transparent)]
    Input(#[from] InputError),
    /// An option or a combination of options.
    #[error("{0}")]
    Invalid(String),
}

impl RequestError {
    /// The message with its causes, as the command line prints it after `error: `.
    pub fn message(&self) -> String {
        error_chain(self)
    }
}

/// Everything `mcla fit` takes besides the data: the model as formulas and the fit options.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRequest {
    /// lme4-style formula (`y ~ x + (1 | g)`), instead of `fixed` and `random`.
    pub formula: Option<String>,
    /// Fixed-effects formula.
    pub fixed: Option<String>,
    /// One-sided random-effect formulas.
    pub random: Vec<String>,
    /// Variance-component names, comma-separated (default: from the formulas).
    pub varcomps: Option<String>,
    /// Which component each random formula uses, numbered from 1.
    pub varcomps_equal: Option<Vec<usize>>,
    /// Response family.
    pub family: Family,
    /// Weights column.
    pub weights: Option<String>,
    /// Mixture probabilities (default: R glmm's thirds).
    pub mixture: Option<[f64; 3]>,
    /// Degrees of freedom of the t component.
    pub zeta: f64,
    /// Starting values.
    pub par_init: Option<Vec<f64>>,
    /// Skip PQL.
    pub no_pql: bool,
    /// Maximum trust-region radius.
    pub rmax: f64,
    /// Maximum number of trust-region iterations.
    pub iterlim: usize,
    /// Regenerate samples instead of storing them.
    pub low_memory: bool,
    /// The Monte Carlo settings.
    pub mc: McSettings,
}

impl Default for FitRequest {
    /// The command line's defaults, with no model.
    fn default() -> Self {
        let d = FitOptions::default();
        FitRequest {
            formula: None,
            fixed: None,
            random: Vec::new(),
            varcomps: None,
            varcomps_equal: None,
            family: Family::Bernoulli,
            weights: None,
            mixture: None,
            zeta: d.zeta,
            par_init: None,
            no_pql: false,
            rmax: d.rmax,
            iterlim: d.iterlim,
            low_memory: false,
            mc: McSettings::default(),
        }
    }
}

/// A model built from a data frame, with its design, the request that built it, the checked
/// fit options, and the notes to show the user.
#[derive(Debug, Clone)]
pub struct PreparedFit {
    /// The model matrices and the rows used.
    pub design: Design,
    /// The validated model.
    pub model: Model,
    /// Formulas, weights and GLMM inputs.
    pub request: DataRequest,
    /// The fit options, checked against the model.
    pub options: FitOptions,
    /// Notes about the data (dropped columns, rows dropped for missing values).
    pub notes: Vec<String>,
    /// A note when the thread count was capped at [`crate::model::options::max_threads`].
    pub threads_note: Option<String>,
}

impl FitRequest {
    /// The fixed formula, the random formulas and the default variance-component names, from
    /// `formula` or from `fixed` and `random`.
    pub fn formulas(&self) -> Result<(String, Vec<String>, Vec<String>), RequestError> {
        match (&self.formula, &self.fixed) {
            (Some(f), _) => {
                let m = mcla_formula::expand_mixed_formula(f)
                    .map_err(|e| RequestError::Invalid(format!("--formula: {e}")))?;
                Ok((m.fixed, m.random, m.names))
            }
            (None, Some(fixed)) => Ok((fixed.clone(), self.random.clone(), default_varcomps(&self.random))),
            (None, None) => Err(RequestError::Invalid("give the model as --formula \"y ~ x + (1 | g)\" or as --fixed \"y ~ x\" with --random \"~ 0 + g\"".into())),
        }
    }

    /// The data request (formulas, weights, family, variance components), checked for the
    /// number of variance components before any data are read.
    pub fn data_request(&self) -> Result<DataRequest, RequestError> {
        let (fixed, random, default_names) = self.formulas()?;
        let varcomps_names = match &self.varcomps {
            Some(v) => v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            None if self.varcomps_equal.is_some() => {
                return Err(RequestError::Invalid("--varcomps-equal needs --varcomps with one name per distinct component, e.g. --varcomps-equal 1,1,2 --varcomps A,B".into()))
            }
            None => default_names,
        };
        let input = ModelInput {
            family: self.family,
            varcomps_names,
            varcomps_equal: self.varcomps_equal.clone(),
        };
        design::check_varcomps(random.len(), &input)?;
        Ok(DataRequest {
            fixed,
            random,
            weights: self.weights.clone(),
            input,
        })
    }

    /// The fit options, checked against `model` (with a note when the thread count was capped).
    pub fn fit_options(&self, model: &Model) -> Result<(FitOptions, Option<String>), RequestError> {
        let (options, note) = self.unchecked_fit_options()?;
        options
            .check(model)
            .map_err(|e| RequestError::Invalid(format!("{e}; see `mcla fit --help`")))?;
        Ok((options, note))
    }

    /// The fit options before the checks that need a model (for refits of simulated data,
    /// which check them per refit): `--rmax` is checked.
    pub fn unchecked_fit_options(&self) -> Result<(FitOptions, Option<String>), RequestError> {
        let (mc, note) = self.mc.fit_options();
        let options = FitOptions {
            mixture: self.mixture.unwrap_or(FitOptions::default().mixture),
            zeta: self.zeta,
            do_pql: !self.no_pql,
            par_init: self.par_init.clone(),
            rmax: self.rmax,
            iterlim: self.iterlim,
            low_memory: self.low_memory,
            ..mc
        };
        check_rmax(self.rmax).map_err(RequestError::Invalid)?;
        let options = FitOptions {
            rinit: options.rinit.min(options.rmax),
            ..options
        };
        Ok((options, note))
    }

    /// Build and check the model on `frame` and the fit options, in the command line's order.
    pub fn prepare(&self, frame: &DataFrame) -> Result<PreparedFit, RequestError> {
        let request = self.data_request()?;
        let (design, model, mut notes) = design::load_model_with_notes(frame, &request)?;
        if design.dropped_rows > 0 {
            notes.push(format!(
                "{} of {} data rows dropped because they have a missing value (an empty cell or one of --na-strings, e.g. NA) in a column the model uses",
                design.dropped_rows, design.n_rows_read
            ));
        }
        let (options, threads_note) = self.fit_options(&model)?;
        Ok(PreparedFit {
            design,
            model,
            request,
            options,
            notes,
            threads_note,
        })
    }
}

/// The message of the progress indicator for one event of a fit; `data_constant` is
/// [`Model::data_constant`] (the log-likelihood shown includes it).
pub fn progress_message(p: Progress, data_constant: f64) -> String {
    match p {
        Progress::Pql => {
            "PQL: starting values and the importance distribution's centre".to_string()
        }
        Progress::Sampling { total } => format!("drawing {total} importance samples"),
        Progress::Iteration { iteration, loglik } => {
            format!(
                "optimising: iteration {iteration}, log-likelihood {}",
                report::format_signif(loglik + data_constant, 7)
            )
        }
        Progress::Mcse => "Monte Carlo standard errors".to_string(),
        Progress::LongStage(w) => format!("warning: {w}"),
    }
}

/// The inference computed after a fit, for [`fit_json`].
#[derive(Debug, Clone, Default)]
pub struct InferenceResults<'a> {
    /// Wald tests.
    pub tests: &'a [WaldTest],
    /// Predictions for new data.
    pub predictions: Option<&'a [Prediction]>,
    /// Estimated marginal means per factor.
    pub emmeans: &'a [(String, Vec<Prediction>)],
    /// Profile-likelihood intervals.
    pub profile: Option<&'a [ProfileInterval]>,
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The JSON object of `mcla fit --format json`: [`report::json_report`] with the Wald tests,
/// predictions, emmeans, random-effect predictions and profile intervals.
pub fn fit_json(fit: &Fit, info: &ReportInfo, r: &InferenceResults<'_>) -> Value {
    let mut v = report::json_report(fit, info);
    if let Value::Object(o) = &mut v {
        o.insert("tests".into(), to_json(r.tests));
        if let Some(p) = r.predictions {
            o.insert("predictions".into(), to_json(p));
        }
        let mut em = serde_json::Map::new();
        for (f, rows) in r.emmeans {
            em.insert(f.clone(), to_json(rows));
        }
        o.insert("emmeans".into(), Value::Object(em));
        o.insert("ranef".into(), to_json(&fit.ranef));
        o.insert(
            "confint_method".into(),
            json!(if r.profile.is_some() {
                "profile"
            } else {
                "wald"
            }),
        );
        if let Some(pr) = r.profile {
            o.insert("profile_confint".into(), to_json(pr));
        }
    }
    v
}
