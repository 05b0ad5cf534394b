//! From formulas on a CSV data frame to a [`ModelSpec`] (and back to CSV for simulation).
//!
//! The `mcla-formula` crate turns a data frame and R-style formulas into a
//! [`Design`] (response, dense `X`, sparse `Z` blocks, weights); this module
//! adds the GLMM-specific pieces — family, variance-component names and
//! sharing — and checks them, returning a [`ModelSpec`] ready for
//! [`Model::new`].  Every problem is an [`InputError`] whose message names the
//! problem and the fix, with row numbers counted as data rows of the file.
//!
//! ```
//! use mcla::model::design::{model_from_design, ModelInput};
//! use mcla::Family;
//! use mcla_formula::{build_design, DataFrame, FrameOptions};
//!
//! let csv = "y,g\n1,a\n0,a\n1,b\n1,b\n0,c\n1,c\n";
//! let frame = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap();
//! let design = build_design(&frame, "y ~ 1", &["~ 0 + g"], None).unwrap();
//! let input = ModelInput { family: Family::Bernoulli, varcomps_names: vec!["g".into()], varcomps_equal: None };
//! let model = model_from_design(&design, &input).unwrap();
//! assert_eq!(model.parameter_names(), ["(Intercept)", "g"]);
//! ```

use crate::model::family::Family;
use crate::model::{Csr, Model, ModelError, ModelSpec, RandomBlock};
use crate::simulate::SimulateError;
use mcla_formula::{
    Column, ColumnData, DataFrame, Design, DesignError, FrameError, FrameOptions, ParseError,
};
use std::path::Path;
use thiserror::Error;

/// A problem with the user's input (data file, formulas, model options).
#[derive(Debug, Error)]
pub enum InputError {
    /// The CSV could not be read or is malformed.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// A formula did not parse or does not fit the data.
    #[error("{0}")]
    Design(#[from] DesignError),
    /// A formula given on its own did not parse.
    #[error("{which}: {source}")]
    Parse {
        /// Which formula.
        which: String,
        /// The parse error (formula with a caret).
        source: ParseError,
    },
    /// The model is not admissible (response values, shapes, names, ...).
    #[error("{0}")]
    Model(#[from] ModelError),
    /// `cbind(...)` with the bernoulli family.
    #[error("the response {response} gives successes and failures (trials), which the bernoulli family cannot use: use --family binomial for cbind(successes, failures), or give a single 0/1 response column for bernoulli")]
    CbindWithBernoulli {
        /// The response label.
        response: String,
    },
    /// `cbind(...)` with the poisson family.
    #[error("the response {response} gives successes and failures, but the poisson family needs a single count column: use --family binomial, or write the response as one column of counts")]
    CbindWithPoisson {
        /// The response label.
        response: String,
    },
    /// No random-effect formula.
    #[error("the model has no random effects: give at least one random-effect formula, e.g. --random \"~ 0 + group\"")]
    NoRandom,
    /// Wrong number of variance-component names.
    #[error("{names} variance-component name(s) were given ({given}) but the model has {components} variance component(s) ({why}): give exactly one name per component, e.g. --varcomps {example}")]
    VarcompsCount {
        /// Names given.
        names: usize,
        /// The names.
        given: String,
        /// Components in the model.
        components: usize,
        /// Where the component count comes from.
        why: String,
        /// A valid example.
        example: String,
    },
    /// `varcomps_equal` has the wrong length.
    #[error("--varcomps-equal has {got} entries but there are {blocks} random-effect formulas: give one entry per --random formula, numbered from 1, e.g. --varcomps-equal {example}")]
    VarcompsEqualLength {
        /// Entries given.
        got: usize,
        /// Random formulas.
        blocks: usize,
        /// A valid example.
        example: String,
    },
    /// A failures count of `cbind(successes, failures)` is negative.
    #[error("the failures column '{column}' of cbind(successes, failures) is {value} at data row {row}: failures are counts and cannot be negative; fix the data (the number of trials is successes + failures)")]
    NegativeFailures {
        /// The failures column.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The value.
        value: f64,
    },
    /// Simulation failed.
    #[error("{0}")]
    Simulate(#[from] SimulateError),
    /// Parameter values for simulation have the wrong length.
    #[error("{what} has {got} value(s) but the model needs {expected} ({names}): give one value per {unit}")]
    ParameterCount {
        /// `--beta` or `--nu`.
        what: &'static str,
        /// Values given.
        got: usize,
        /// Values needed.
        expected: usize,
        /// Their names.
        names: String,
        /// "fixed-effect column" or "variance component".
        unit: &'static str,
    },
}

/// GLMM-specific inputs beyond the design.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInput {
    /// Response family.
    pub family: Family,
    /// One name per distinct variance component.
    pub varcomps_names: Vec<String>,
    /// Block-to-component map numbered from 1 (`None`: one component per random formula).
    pub varcomps_equal: Option<Vec<usize>>,
}

/// Read a CSV file into a data frame (R `read.csv` conventions, see `mcla-formula`).
///
/// Every level given in `options.levels` must occur in its column (a level that does not is a
/// typo, reported as such rather than as a rank-deficient design later).
pub fn read_frame(path: impl AsRef<Path>, options: &FrameOptions) -> Result<DataFrame, InputError> {
    let frame = DataFrame::from_csv_path(path, options)?;
    frame.check_levels_occur(options)?;
    Ok(frame)
}

/// Check the variance-component names and sharing against the number of random formulas.
pub fn check_varcomps(n_blocks: usize, input: &ModelInput) -> Result<(), InputError> {
    if n_blocks == 0 {
        return Err(InputError::NoRandom);
    }
    let example_names = |k: usize| {
        (1..=k)
            .map(|i| format!("V{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let (components, why) = match &input.varcomps_equal {
        None => (n_blocks, format!("one per random-effect formula, {n_blocks} given; use --varcomps-equal to let formulas share one")),
        Some(e) => {
            if e.len() != n_blocks {
                return Err(InputError::VarcompsEqualLength {
                    got: e.len(),
                    blocks: n_blocks,
                    example: (1..=n_blocks).map(|i| i.to_string()).collect::<Vec<_>>().join(","),
                });
            }
            let k = e.iter().copied().max().unwrap_or(0);
            (k, format!("--varcomps-equal {} numbers {k}", e.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")))
        }
    };
    if input.varcomps_names.len() != components {
        return Err(InputError::VarcompsCount {
            names: input.varcomps_names.len(),
            given: input.varcomps_names.join(", "),
            components,
            why,
            example: example_names(components),
        });
    }
    Ok(())
}

/// Convert a design to a [`ModelSpec`] (not yet validated by [`Model::new`]).
pub fn spec_from_design(design: &Design, input: &ModelInput) -> Result<ModelSpec, InputError> {
    check_varcomps(design.random.len(), input)?;
    let trials = match (&design.trials, input.family) {
        (Some(_), Family::Bernoulli) => {
            return Err(InputError::CbindWithBernoulli {
                response: design.response_name.clone(),
            })
        }
        (Some(_), Family::Poisson) => {
            return Err(InputError::CbindWithPoisson {
                response: design.response_name.clone(),
            })
        }
        (t, _) => t.clone(),
    };
    if let Some(t) = &trials {
        if let Some(i) = (0..design.n()).find(|&i| t[i] < design.y[i]) {
            let failures = design
                .response_name
                .rsplit_once(',')
                .map(|(_, b)| b.trim().trim_end_matches(')').trim().to_string())
                .unwrap_or_else(|| "failures".into());
            return Err(InputError::NegativeFailures {
                column: failures,
                row: design.kept_rows.get(i).map(|&r| r + 1).unwrap_or(i + 1),
                value: t[i] - design.y[i],
            });
        }
    }
    let n = design.n();
    let random = design
        .random
        .iter()
        .map(|r| RandomBlock {
            names: r.col_names.clone(),
            z: Csr {
                n_rows: n,
                n_cols: r.col_names.len(),
                row_ptr: r.row_ptr.clone(),
                col_idx: r.col_idx.clone(),
                values: r.values.clone(),
            },
        })
        .collect();
    Ok(ModelSpec {
        y: design.y.clone(),
        trials,
        x: design.x.clone(),
        x_names: design.x_names.clone(),
        random,
        varcomps_equal: input.varcomps_equal.clone(),
        varcomps_names: input.varcomps_names.clone(),
        family: input.family,
        weights: design.weights.clone(),
    })
}

/// Convert a design to a validated [`Model`]; row numbers in errors are data rows of the file.
pub fn model_from_design(design: &Design, input: &ModelInput) -> Result<Model, InputError> {
    let spec = spec_from_design(design, input)?;
    Model::new(spec)
        .map_err(|e| InputError::Model(to_data_rows(e, &design.kept_rows, &design.response_name)))
}

/// Renumber the (1-based, model) rows of a [`ModelError`] as 1-based data rows of the file.
fn to_data_rows(e: ModelError, kept: &[usize], response: &str) -> ModelError {
    let data_row = |row: usize| kept.get(row.wrapping_sub(1)).map(|&r| r + 1).unwrap_or(row);
    match e {
        ModelError::NotBinary { row, value } => ModelError::NotBinary {
            row: data_row(row),
            value,
        },
        ModelError::NotCount { family, row, value } => ModelError::NotCount {
            family,
            row: data_row(row),
            value,
        },
        ModelError::BadTrials { row, value } => ModelError::BadTrials {
            row: data_row(row),
            value,
        },
        ModelError::SuccessesExceedTrials {
            row,
            successes,
            trials,
        } => ModelError::SuccessesExceedTrials {
            row: data_row(row),
            successes,
            trials,
        },
        ModelError::NegativeWeight { row, value } => ModelError::NegativeWeight {
            row: data_row(row),
            value,
        },
        ModelError::WeightTooLarge { row, value, max } => ModelError::WeightTooLarge {
            row: data_row(row),
            value,
            max,
        },
        ModelError::CountTooLarge { what, row, value } => ModelError::CountTooLarge {
            what,
            row: data_row(row),
            value,
        },
        ModelError::ConstantResponse { value, .. } => ModelError::ConstantResponse {
            response: format!("the response '{response}'"),
            value,
        },
        ModelError::NonFinite { what, row, value } => {
            let what = if what == "the response" {
                format!("the response '{response}'")
            } else {
                what
            };
            ModelError::NonFinite {
                what,
                row: data_row(row),
                value,
            }
        }
        other => other,
    }
}

/// Everything needed to build a model from a CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRequest {
    /// Two-sided fixed-effects formula.
    pub fixed: String,
    /// One-sided random-effect formulas.
    pub random: Vec<String>,
    /// Weights column.
    pub weights: Option<String>,
    /// GLMM inputs.
    pub input: ModelInput,
}

/// Warnings about a design that is valid but probably not what the user meant:
/// a random-effect column that is not a 0/1 indicator is a random *slope* on
/// that variable's values — right for `~ 0 + x`, but a silent mistake when the
/// variable is a numerically coded ID.
pub fn design_warnings(design: &Design) -> Vec<String> {
    let mut out = Vec::new();
    for r in &design.random {
        // `~ 0 + x:g` (lme4's `(0 + x | g)`): a slope per level of g, deliberately
        if r.formula.contains(':') {
            continue;
        }
        let mut slope_cols: Vec<&str> = Vec::new();
        for (j, name) in r.col_names.iter().enumerate() {
            let non_indicator = r
                .col_idx
                .iter()
                .zip(&r.values)
                .any(|(&c, &v)| c == j && v != 1.0);
            if non_indicator {
                slope_cols.push(name);
            }
        }
        if !slope_cols.is_empty() {
            out.push(format!(
                "random formula '{}' gives numeric column(s) {}: one random slope on the values, not one random effect per level; if a column identifies groups, write factor({}) or pass --factor {}",
                r.formula,
                slope_cols.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", "),
                slope_cols[0],
                slope_cols[0]
            ));
        }
    }
    out
}

/// Build design and model from a data frame.
pub fn load_model(frame: &DataFrame, request: &DataRequest) -> Result<(Design, Model), InputError> {
    load_model_with_notes(frame, request).map(|(d, m, _)| (d, m))
}

/// [`load_model`], also returning notes for the user: the design columns dropped because no
/// observation uses them (empty interaction cells of nested factors, levels whose rows were
/// all dropped for missing values), as lme4 and R's `model.frame(drop.unused.levels = TRUE)` do.
pub fn load_model_with_notes(
    frame: &DataFrame,
    request: &DataRequest,
) -> Result<(Design, Model, Vec<String>), InputError> {
    // Check the names first: a count mismatch is cheaper to report before the formulas are evaluated.
    if request.random.is_empty() {
        return Err(InputError::NoRandom);
    }
    let random: Vec<&str> = request.random.iter().map(String::as_str).collect();
    let mut design =
        mcla_formula::build_design(frame, &request.fixed, &random, request.weights.as_deref())?;
    let notes = drop_empty_columns(&mut design);
    let model = model_from_design(&design, &request.input)?;
    Ok((design, model, notes))
}

/// Names shown in a note: the first few, then a count.
fn some_names(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
    if names.len() > shown.len() {
        format!(
            "{}, ... ({} more)",
            shown.join(", "),
            names.len() - shown.len()
        )
    } else {
        shown.join(", ")
    }
}

/// Drop the columns of `Z` blocks (and of `X`) that no observation uses, returning one note per
/// formula that lost columns.  Such columns come from empty cells of an interaction
/// (`Site:Block` with blocks nested in sites) or from levels present only in rows dropped for
/// missing values; they carry no data, so lme4 and R's `model.matrix` on a model frame with
/// `drop.unused.levels = TRUE` leave them out.
pub fn drop_empty_columns(design: &mut Design) -> Vec<String> {
    let mut notes = Vec::new();
    for r in &mut design.random {
        let q = r.col_names.len();
        let mut used = vec![false; q];
        for (&j, &v) in r.col_idx.iter().zip(&r.values) {
            if v != 0.0 {
                if let Some(u) = used.get_mut(j) {
                    *u = true;
                }
            }
        }
        if used.iter().all(|&u| u) {
            continue;
        }
        let dropped: Vec<String> = (0..q)
            .filter(|&j| !used[j])
            .map(|j| r.col_names[j].clone())
            .collect();
        let mut new_index = vec![usize::MAX; q];
        let mut names = Vec::new();
        for j in 0..q {
            if used[j] {
                new_index[j] = names.len();
                names.push(r.col_names[j].clone());
            }
        }
        let mut row_ptr = vec![0];
        let mut col_idx = Vec::new();
        let mut values = Vec::new();
        for i in 0..r.row_ptr.len().saturating_sub(1) {
            for k in r.row_ptr[i]..r.row_ptr[i + 1] {
                let j = r.col_idx[k];
                if r.values[k] != 0.0 && used[j] {
                    col_idx.push(new_index[j]);
                    values.push(r.values[k]);
                }
            }
            row_ptr.push(col_idx.len());
        }
        notes.push(format!(
            "random formula '{}': {} of {} random effects have no observations (empty cells of an interaction such as nested factors, or levels that occur only in rows dropped for missing values) and are dropped, as lme4 and R's drop.unused.levels do: {}",
            r.formula.trim(),
            dropped.len(),
            q,
            some_names(&dropped)
        ));
        r.col_names = names;
        r.row_ptr = row_ptr;
        r.col_idx = col_idx;
        r.values = values;
    }
    // Fixed effects: a column that is zero in every row used (a level whose rows were all
    // dropped for missing values, an empty interaction cell).
    let n = design.n();
    let p = design.p();
    let empty: Vec<usize> = (0..p)
        .filter(|&j| design.x[j * n..(j + 1) * n].iter().all(|&v| v == 0.0))
        .collect();
    if !empty.is_empty() && empty.len() < p {
        let dropped: Vec<String> = empty.iter().map(|&j| design.x_names[j].clone()).collect();
        let mut x = Vec::with_capacity(n * (p - empty.len()));
        let mut names = Vec::new();
        for j in (0..p).filter(|j| !empty.contains(j)) {
            x.extend_from_slice(&design.x[j * n..(j + 1) * n]);
            names.push(design.x_names[j].clone());
        }
        notes.push(format!(
            "fixed-effect column(s) {} are zero in every row used (a level that occurs only in rows dropped for missing values, or an empty interaction cell) and are dropped, as R's drop.unused.levels does",
            some_names(&dropped)
        ));
        design.x = x;
        design.x_names = names;
    }
    notes
}

// ---------------------------------------------------------------------------------------------
// Simulation on a design CSV

/// Check and split `theta = (beta, nu)` values given for simulation.
pub fn check_sim_parameters(spec: &ModelSpec, beta: &[f64], nu: &[f64]) -> Result<(), InputError> {
    if beta.len() != spec.x_names.len() {
        return Err(InputError::ParameterCount {
            what: "--beta",
            got: beta.len(),
            expected: spec.x_names.len(),
            names: spec.x_names.join(", "),
            unit: "fixed-effect column",
        });
    }
    if nu.len() != spec.varcomps_names.len() {
        return Err(InputError::ParameterCount {
            what: "--nu",
            got: nu.len(),
            expected: spec.varcomps_names.len(),
            names: spec.varcomps_names.join(", "),
            unit: "variance component",
        });
    }
    Ok(())
}

/// Simulate a response on the rows of a design data frame and return the frame as CSV text with
/// the response column(s) replaced (or added, if the file has no response column).
///
/// Rows dropped from the design because a used column is missing get a missing (`NA`) response.
/// For `cbind(s, f)` both columns must exist (they give the trials); `s` is replaced by simulated
/// successes and `f` by `trials - s`.  Returns `(csv, rows simulated, rows left NA)`.
pub fn simulate_on_frame(
    frame: &DataFrame,
    request: &DataRequest,
    beta: &[f64],
    nu: &[f64],
    seed: u64,
) -> Result<(String, usize, usize), InputError> {
    let fixed =
        mcla_formula::parse_formula(&request.fixed).map_err(|source| InputError::Parse {
            which: "fixed-effects formula".into(),
            source,
        })?;
    let response = fixed
        .response
        .clone()
        .ok_or_else(|| DesignError::MissingResponse {
            formula: request.fixed.trim().to_string(),
        })?;
    let n = frame.n_rows();
    let (frame, single_name) = placeholder_response_frame(frame, request, &response)?;
    let random: Vec<&str> = request.random.iter().map(String::as_str).collect();
    let design =
        mcla_formula::build_design(&frame, &request.fixed, &random, request.weights.as_deref())?;
    let spec = spec_from_design(&design, &request.input)?;
    check_sim_parameters(&spec, beta, nu)?;
    let (y, _) = crate::simulate::simulate_response(&spec, beta, nu, seed)?;
    // Write back.
    let mut sim: Vec<Option<f64>> = vec![None; n];
    for (k, &row) in design.kept_rows.iter().enumerate() {
        sim[row] = y.get(k).copied();
    }
    let mut cols = frame.columns().to_vec();
    match (&response, single_name) {
        (_, Some(name)) => {
            for c in cols.iter_mut().filter(|c| c.name == name) {
                c.data = ColumnData::Numeric(sim.clone());
            }
        }
        (mcla_formula::Response::Cbind(a, b), None) => {
            let (sa, sb) = (a.deparse(), b.deparse());
            let trials = design
                .trials
                .clone()
                .unwrap_or_else(|| vec![1.0; design.n()]);
            let mut fail: Vec<Option<f64>> = vec![None; n];
            for (k, &row) in design.kept_rows.iter().enumerate() {
                fail[row] = match (y.get(k), trials.get(k)) {
                    (Some(s), Some(t)) => Some(t - s),
                    _ => None,
                };
            }
            for c in cols.iter_mut() {
                if c.name == sa {
                    c.data = ColumnData::Numeric(sim.clone());
                } else if c.name == sb {
                    c.data = ColumnData::Numeric(fail.clone());
                }
            }
        }
        _ => {}
    }
    Ok((
        frame_to_csv(&cols),
        design.kept_rows.len(),
        design.dropped_rows,
    ))
}

/// The frame with the response of `request.fixed` replaced (or added, when the design has no
/// such column) by zeros, so that a design without a response or with missing responses
/// builds a model to simulate from (a planned study, `mcla simulate --design`).  A
/// `cbind(successes, failures)` response is kept.
pub fn placeholder_response(
    frame: &DataFrame,
    request: &DataRequest,
) -> Result<DataFrame, InputError> {
    let fixed =
        mcla_formula::parse_formula(&request.fixed).map_err(|source| InputError::Parse {
            which: "fixed-effects formula".into(),
            source,
        })?;
    let response = fixed
        .response
        .clone()
        .ok_or_else(|| DesignError::MissingResponse {
            formula: request.fixed.trim().to_string(),
        })?;
    Ok(placeholder_response_frame(frame, request, &response)?.0)
}

/// [`placeholder_response`] for a parsed response; also the single response column's name.
fn placeholder_response_frame(
    frame: &DataFrame,
    request: &DataRequest,
    response: &mcla_formula::Response,
) -> Result<(DataFrame, Option<String>), InputError> {
    let n = frame.n_rows();
    // A single-column response that is absent is added as zeros (any family admits 0).
    let mut frame = frame.clone();
    let single_name = match response {
        mcla_formula::Response::Single(e) => match &e.kind {
            mcla_formula::grammar::ExprKind::Name(name) => Some(name.clone()),
            _ => {
                return Err(InputError::Design(DesignError::Type {
                    formula: request.fixed.clone(),
                    expr: e.deparse(),
                    message: "to simulate, the response must be a plain column name (or cbind(successes, failures))".into(),
                }))
            }
        },
        mcla_formula::Response::Cbind(..) => None,
    };
    if let Some(name) = &single_name {
        if frame.column(name).is_err() {
            let mut cols = frame.columns().to_vec();
            cols.push(Column {
                name: name.clone(),
                data: ColumnData::Numeric(vec![Some(0.0); n]),
            });
            frame = DataFrame::from_columns(cols)?;
        } else {
            // The existing response is replaced: make it a numeric placeholder so that NA or
            // out-of-range values do not stop the simulation.
            let cols = frame
                .columns()
                .iter()
                .map(|c| {
                    if &c.name == name {
                        Column {
                            name: name.clone(),
                            data: ColumnData::Numeric(vec![Some(0.0); n]),
                        }
                    } else {
                        c.clone()
                    }
                })
                .collect();
            frame = DataFrame::from_columns(cols)?;
        }
    }
    Ok((frame, single_name))
}

/// CSV text of a crossed design simulated at `beta`, `nu`: columns `Mate`, `Cross`, `Female`, `Male`
/// (fit it with `Mate ~ 0 + Cross`, random `~ 0 + Female`, `~ 0 + Male`).
pub fn crossed_design_csv(
    design: &crate::simulate::CrossedDesign,
    beta: &[f64],
    nu: &[f64],
    seed: u64,
) -> Result<String, InputError> {
    let proto = design.design()?;
    check_sim_parameters(&proto, beta, nu)?;
    let spec = design.simulate(beta, nu, seed)?;
    let n = spec.y.len();
    let p = spec.x_names.len();
    let mut out = String::from("Mate,Cross,Female,Male\n");
    for i in 0..n {
        let cross = (0..p)
            .find(|&j| spec.x[j * n + i] != 0.0)
            .map(|j| spec.x_names[j].trim_start_matches("Cross").to_string())
            .unwrap_or_default();
        let label = |b: usize, prefix: &str| {
            let blk = &spec.random[b];
            let (cols, _) = blk.z.row(i);
            cols.first()
                .map(|&j| blk.names[j].trim_start_matches(prefix).to_string())
                .unwrap_or_default()
        };
        out.push_str(&format!(
            "{},{},{},{}\n",
            format_number(spec.y[i]),
            quote(&cross),
            quote(&label(0, "Female")),
            quote(&label(1, "Male"))
        ));
    }
    Ok(out)
}

/// Shortest round-tripping text of a number (`1`, `0.5`, `1e-300`).
fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Quote a CSV field when needed.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s != s.trim() || s.is_empty() || s == "NA" {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Always quote (categorical values, as R's `write.csv` does: they stay categorical when read back).
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Render columns as CSV (missing values as `NA`).
fn frame_to_csv(cols: &[Column]) -> String {
    let n = cols.first().map(|c| match &c.data {
        ColumnData::Numeric(v) => v.len(),
        ColumnData::Logical(v) => v.len(),
        ColumnData::Categorical(c) => c.codes.len(),
    });
    let n = n.unwrap_or(0);
    let mut out = cols
        .iter()
        .map(|c| csv_field(&c.name))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for i in 0..n {
        let row: Vec<String> = cols
            .iter()
            .map(|c| match &c.data {
                ColumnData::Numeric(v) => v
                    .get(i)
                    .copied()
                    .flatten()
                    .map(format_number)
                    .unwrap_or_else(|| "NA".into()),
                ColumnData::Logical(v) => v
                    .get(i)
                    .copied()
                    .flatten()
                    .map(|b| if b { "TRUE" } else { "FALSE" }.to_string())
                    .unwrap_or_else(|| "NA".into()),
                ColumnData::Categorical(cat) => cat
                    .codes
                    .get(i)
                    .copied()
                    .flatten()
                    .and_then(|k| cat.levels.get(k))
                    .map(|l| quote(l))
                    .unwrap_or_else(|| "NA".into()),
            })
            .collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(csv: &str) -> DataFrame {
        DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default()).unwrap()
    }

    fn input(family: Family, names: &[&str]) -> ModelInput {
        ModelInput {
            family,
            varcomps_names: names.iter().map(|s| s.to_string()).collect(),
            varcomps_equal: None,
        }
    }

    #[test]
    fn cbind_needs_binomial() {
        let f = frame("s,f,g\n1,2,a\n0,3,a\n2,1,b\n1,1,b\n");
        let d = mcla_formula::build_design(&f, "cbind(s, f) ~ 1", &["~ 0 + g"], None).unwrap();
        let e = model_from_design(&d, &input(Family::Bernoulli, &["g"])).unwrap_err();
        assert!(e.to_string().contains("--family binomial"), "{e}");
        let m = model_from_design(&d, &input(Family::Binomial, &["g"])).unwrap();
        assert_eq!(m.trials(), [3.0, 3.0, 3.0, 2.0]);
    }

    #[test]
    fn varcomps_count_and_rows() {
        let f = frame("y,g\n1,a\n,a\n0,b\n3,b\n");
        let d = mcla_formula::build_design(&f, "y ~ 1", &["~ 0 + g"], None).unwrap();
        let e = model_from_design(&d, &input(Family::Bernoulli, &["g", "h"])).unwrap_err();
        assert!(e.to_string().contains("--varcomps"), "{e}");
        // the bad value is on data row 4 (row 2 is dropped as NA)
        let e = model_from_design(&d, &input(Family::Bernoulli, &["g"])).unwrap_err();
        assert!(e.to_string().contains("row 4"), "{e}");
    }

    #[test]
    fn simulate_adds_response() {
        let f = frame("x,g\n0.5,a\n1,a\n,b\n2,b\n");
        let req = DataRequest {
            fixed: "y ~ x".into(),
            random: vec!["~ 0 + g".into()],
            weights: None,
            input: input(Family::Poisson, &["g"]),
        };
        let (csv, k, d) = simulate_on_frame(&f, &req, &[0.1, 0.2], &[0.5], 3).unwrap();
        assert_eq!((k, d), (3, 1));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "x,g,y");
        assert!(lines[3].starts_with("NA,\"b\",NA"), "{csv}");
        assert!(simulate_on_frame(&f, &req, &[0.1], &[0.5], 3).is_err());
    }

    #[test]
    fn numeric_random_terms_are_flagged() {
        let frame = mcla_formula::DataFrame::from_reader(
            "y,id,g\n1,1,\"a\"\n0,2,\"b\"\n1,3,\"a\"\n0,1,\"b\"\n".as_bytes(),
            &FrameOptions::default(),
        )
        .unwrap();
        let d = mcla_formula::build_design(&frame, "y ~ 1", &["~ 0 + id"], None).unwrap();
        let w = design_warnings(&d);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("factor(id)") && w[0].contains("slope"),
            "{w:?}"
        );
        let d = mcla_formula::build_design(&frame, "y ~ 1", &["~ 0 + g"], None).unwrap();
        assert!(design_warnings(&d).is_empty());
    }

    #[test]
    fn crossed_csv_round_trips() {
        let d = crate::simulate::CrossedDesign::default();
        let csv = crossed_design_csv(&d, &[1.0, 0.3, -1.9, 1.0], &[1.4, 1.25], 1).unwrap();
        let f = frame(&csv);
        let req = DataRequest {
            fixed: "Mate ~ 0 + Cross".into(),
            random: vec!["~ 0 + Female".into(), "~ 0 + Male".into()],
            weights: None,
            input: input(Family::Bernoulli, &["F", "M"]),
        };
        let (design, model) = load_model(&f, &req).unwrap();
        assert_eq!(
            design.x_names,
            ["CrossR/R", "CrossR/W", "CrossW/R", "CrossW/W"]
        );
        assert_eq!(model.q(), 120);
        let spec = d.simulate(&[1.0, 0.3, -1.9, 1.0], &[1.4, 1.25], 1).unwrap();
        assert_eq!(model.y(), spec.y.as_slice());
    }
}
