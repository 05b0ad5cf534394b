//! Model matrices with R's `model.matrix` semantics.
//!
//! Given a [`DataFrame`], a two-sided fixed-effects formula and one-sided random-effect
//! formulas, [`build_design`] produces the response, the dense fixed-effects matrix X
//! (column-major), one sparse CSR matrix Z per random formula, and weights. Rules follow R:
//!
//! * rows with a missing value in any column used by any formula (or the weights) are dropped
//!   (`na.omit`) and counted in [`Design::dropped_rows`];
//! * terms are ordered by interaction order (stable), duplicates removed;
//! * numeric variables give one column; logical variables (including logical `I(...)`) act as
//!   factors with levels `FALSE`, `TRUE`;
//! * factor coding follows R's `TermCode`: in term `t`, factor `v` is coded by treatment
//!   contrasts (first level dropped) when `t` without `v` is empty, or is contained in a term
//!   that comes earlier; otherwise by indicators for every level. Without an intercept, the first
//!   factor of the first term that has a factor is coded by indicators (R's `model.matrix`);
//! * interaction columns are the products with the first variable varying fastest, named
//!   `a:b`; factor columns are named label + level (`CrossR/W`); `(Intercept)` comes first.

use std::collections::HashMap;

use crate::frame::{numeric_to_factor, Categorical, Column, ColumnData, DataFrame, FrameError};
use crate::grammar::{
    format_r_number, parse_formula, BinaryOp, Expr, ExprKind, Formula, ParseError, Response,
    UnaryOp,
};

/// Largest number of columns a single design matrix may have.
pub const MAX_COLUMNS: usize = 50_000_000;
/// Largest number of cells (rows × columns) of the dense fixed-effects matrix.
pub const MAX_DENSE_CELLS: usize = 1 << 28;

/// A sparse random-effects design matrix (CSR) for one random formula.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomDesign {
    /// The formula as written.
    pub formula: String,
    /// Column names, e.g. `Female10`, `Female11`, ...
    pub col_names: Vec<String>,
    /// CSR row pointers, `n + 1` entries.
    pub row_ptr: Vec<usize>,
    /// Column index of each stored value.
    pub col_idx: Vec<usize>,
    /// Stored values (explicit zeros are not stored).
    pub values: Vec<f64>,
}

impl RandomDesign {
    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.col_names.len()
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.row_ptr.len().saturating_sub(1)
    }
}

/// Everything the engine needs from the data: response, X, Z blocks, weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Response (successes for `cbind`).
    pub y: Vec<f64>,
    /// `Some(s + f)` for `cbind(s, f)`.
    pub trials: Option<Vec<f64>>,
    /// n × p fixed-effects matrix, column-major.
    pub x: Vec<f64>,
    /// R column names: `(Intercept)`, `CrossR/R`, `SiteRiverside:RegionS`, `I(week > 2)TRUE`.
    pub x_names: Vec<String>,
    /// One per random formula, in order.
    pub random: Vec<RandomDesign>,
    /// From the weights column, if any.
    pub weights: Option<Vec<f64>>,
    /// Rows in the data frame.
    pub n_rows_read: usize,
    /// 0-based indices of the data-frame rows used (after NA omission).
    pub kept_rows: Vec<usize>,
    /// Rows dropped because a used column was missing (R's `na.omit`).
    pub dropped_rows: usize,
    /// `Mate`, or `cbind(s, f)`.
    pub response_name: String,
}

impl Design {
    /// Number of observations (rows of X).
    pub fn n(&self) -> usize {
        self.y.len()
    }

    /// Number of fixed-effect columns.
    pub fn p(&self) -> usize {
        self.x_names.len()
    }

    /// Element `(i, j)` of X (0 when out of range).
    pub fn x_at(&self, i: usize, j: usize) -> f64 {
        self.x.get(j * self.n() + i).copied().unwrap_or(0.0)
    }
}

/// Errors building a design.
#[derive(Debug, thiserror::Error)]
pub enum DesignError {
    /// A formula did not parse.
    #[error("{which}: {source}")]
    Parse {
        /// Which formula ("fixed-effects formula", "random-effect formula 2").
        which: String,
        /// The parse error (shows the formula with a caret).
        #[source]
        source: ParseError,
    },
    /// A formula refers to a column that is not in the data.
    #[error("in '{formula}': {source}")]
    Column {
        /// The formula (or "weights").
        formula: String,
        /// The lookup error (suggests the closest name).
        #[source]
        source: FrameError,
    },
    /// A random-effect formula has an intercept (`~ z1` or `~ 1 + z1`).
    #[error("the random-effect formula '{formula}' has an intercept, which would give one random intercept plus contrasts of the levels in one block, a different model from one effect per level; write '{suggestion}' (R glmm's spelling: one random effect per level)")]
    RandomIntercept {
        /// The formula.
        formula: String,
        /// The intended spelling.
        suggestion: String,
    },
    /// The response column is also used as a predictor, random effect or weight.
    #[error("the response column '{column}' is also used in {place}: a variable cannot explain itself; remove it there")]
    ResponseReused {
        /// The column.
        column: String,
        /// Where it is used again.
        place: String,
    },
    /// The same random-effect formula is given twice.
    #[error("random-effect formulas {first} and {second} are the same ('{formula}'): two variance components for the same effects cannot be told apart (not identifiable); give each formula once")]
    DuplicateRandom {
        /// The right-hand side.
        formula: String,
        /// 1-based index of the first.
        first: usize,
        /// 1-based index of the repeat.
        second: usize,
    },
    /// A column name with operator characters was written without backquotes.
    #[error("in '{formula}': the data have a column named '{column}', but written without backquotes it reads as an expression of other columns; write it as `{column}` (in backquotes)")]
    UnquotedName {
        /// The formula.
        formula: String,
        /// The column.
        column: String,
    },
    /// The fixed-effects formula has no response.
    #[error("the fixed-effects formula '{formula}' has no response; write it as 'y {formula}'")]
    MissingResponse {
        /// The formula.
        formula: String,
    },
    /// A random-effect formula has a response.
    #[error("random-effect formulas are one-sided: write '{suggestion}' instead of '{formula}'")]
    RandomHasResponse {
        /// The formula as written.
        formula: String,
        /// The one-sided version.
        suggestion: String,
    },
    /// The response is categorical.
    #[error("the response '{column}' is categorical (levels {}); recode it as a 0/1 numeric column, or write e.g. I({column} == \"{}\") ~ ...", .levels.join(", "), .levels.last().map(String::as_str).unwrap_or("yes"))]
    CategoricalResponse {
        /// Response label.
        column: String,
        /// Its levels.
        levels: Vec<String>,
    },
    /// An expression mixes types (e.g. arithmetic on a categorical column).
    #[error("in '{formula}', {expr}: {message}")]
    Type {
        /// The formula.
        formula: String,
        /// The offending expression (deparsed).
        expr: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An expression evaluated to NaN or ±Inf.
    #[error("in '{formula}', {expr} is not a finite number at data row {row} ({detail}); fix the data or the expression")]
    NonFinite {
        /// The formula.
        formula: String,
        /// The expression.
        expr: String,
        /// 1-based data row.
        row: usize,
        /// Which operation failed.
        detail: String,
    },
    /// Treatment contrasts need at least two levels.
    #[error("in '{formula}', factor '{variable}' has {levels} level(s); contrasts need at least 2 — drop the term or remove the intercept")]
    TooFewLevels {
        /// The formula.
        formula: String,
        /// Variable label.
        variable: String,
        /// Number of levels.
        levels: usize,
    },
    /// The weights column is not numeric.
    #[error("the weights column '{column}' is {kind}; weights must be non-negative numbers")]
    BadWeightsType {
        /// Column name.
        column: String,
        /// Its type.
        kind: &'static str,
    },
    /// A negative weight.
    #[error("the weights column '{column}' has the negative value {value} at data row {row}; weights must be non-negative")]
    NegativeWeight {
        /// Column name.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The value.
        value: f64,
    },
    /// Every row had a missing value.
    #[error("no rows left: all {n_rows} data rows have a missing value in a column the model uses ({columns}); check for NA or empty cells")]
    NoRowsLeft {
        /// Rows read.
        n_rows: usize,
        /// Columns used.
        columns: String,
    },
    /// A random-effect formula produced no columns.
    #[error("the random-effect formula '{formula}' has no terms; write e.g. '~ 0 + group'")]
    EmptyRandom {
        /// The formula.
        formula: String,
    },
    /// The model matrix would be too large.
    #[error("the formula '{formula}' would create {columns} columns (or too many cells for {rows} rows); simplify the interactions")]
    TooLarge {
        /// The formula.
        formula: String,
        /// Requested columns (saturating).
        columns: usize,
        /// Rows.
        rows: usize,
    },
}

// ---------------------------------------------------------------------------------------------
// Expression typing and evaluation

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Num,
    Bool,
    Str,
}

struct Ctx<'a> {
    frame: &'a DataFrame,
    formula: &'a str,
}

impl Ctx<'_> {
    fn column(&self, name: &str) -> Result<&Column, DesignError> {
        self.frame.column(name).map_err(|source| {
            // A column whose name is not a plain identifier (`z1/a`, `my col`) written without
            // backquotes is parsed as an expression: name that column, not a look-alike.
            let unquoted = self.frame.column_names().into_iter().find(|c| {
                c.contains(|ch: char| !(ch.is_alphanumeric() || ch == '.' || ch == '_'))
                    && c.contains(name)
                    && self.formula.contains(c)
            });
            match unquoted {
                Some(c) => DesignError::UnquotedName {
                    formula: self.formula.to_string(),
                    column: c.to_string(),
                },
                None => DesignError::Column {
                    formula: self.formula.to_string(),
                    source,
                },
            }
        })
    }

    fn type_err(&self, e: &Expr, message: impl Into<String>) -> DesignError {
        DesignError::Type {
            formula: self.formula.to_string(),
            expr: e.deparse(),
            message: message.into(),
        }
    }

    fn type_of(&self, e: &Expr) -> Result<Ty, DesignError> {
        Ok(match &e.kind {
            ExprKind::Name(n) => match &self.column(n)?.data {
                ColumnData::Numeric(_) => Ty::Num,
                ColumnData::Logical(_) => Ty::Bool,
                ColumnData::Categorical(_) => Ty::Str,
            },
            ExprKind::Number(_) => Ty::Num,
            ExprKind::Str(_) => Ty::Str,
            ExprKind::Logical(_) => Ty::Bool,
            ExprKind::Paren(x) => self.type_of(x)?,
            ExprKind::Unary(op, x) => {
                let t = self.type_of(x)?;
                if t == Ty::Str {
                    return Err(self.type_err(
                        e,
                        format!(
                            "'{}' cannot be applied to a categorical value; compare it with a quoted level instead, e.g. {} == \"level\"",
                            match op {
                                UnaryOp::Not => "!",
                                UnaryOp::Plus => "+",
                                _ => "-",
                            },
                            x.deparse()
                        ),
                    ));
                }
                match op {
                    UnaryOp::Not => Ty::Bool,
                    _ => Ty::Num,
                }
            }
            ExprKind::Binary(op, l, r) => {
                let a = self.type_of(l)?;
                let b = self.type_of(r)?;
                if op.is_comparison() {
                    match (a, b) {
                        (Ty::Str, Ty::Str) => {
                            if matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
                                Ty::Bool
                            } else {
                                return Err(self.type_err(
                                    e,
                                    format!("'{}' cannot order categorical values; use == or != with a quoted level", op.symbol()),
                                ));
                            }
                        }
                        (Ty::Str, _) | (_, Ty::Str) => {
                            return Err(self.type_err(
                                e,
                                "a categorical value can only be compared with a quoted level, e.g. trt == \"drug\"",
                            ))
                        }
                        _ => Ty::Bool,
                    }
                } else {
                    if a == Ty::Str || b == Ty::Str {
                        return Err(self.type_err(
                            e,
                            format!(
                                "'{}' needs numbers but a categorical value was given; use a numeric column or compare the category with a quoted level",
                                op.symbol()
                            ),
                        ));
                    }
                    match op {
                        BinaryOp::And | BinaryOp::Or => Ty::Bool,
                        _ => Ty::Num,
                    }
                }
            }
            ExprKind::Call(f, args) => {
                let arg = match args.as_slice() {
                    [a] => a,
                    _ => return Err(self.type_err(e, "expected exactly one argument")),
                };
                let t = self.type_of(arg)?;
                if f == "I" || f == "factor" {
                    t
                } else if t == Ty::Str {
                    return Err(self.type_err(
                        e,
                        format!(
                            "{f}() needs a number but '{}' is categorical",
                            arg.deparse()
                        ),
                    ));
                } else {
                    Ty::Num
                }
            }
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Num(f64),
    Bool(bool),
    Str(&'a str),
    Na,
}

fn as_num(v: Val<'_>) -> Option<f64> {
    match v {
        Val::Num(x) => Some(x),
        Val::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn as_bool(v: Val<'_>) -> Option<bool> {
    match v {
        Val::Bool(b) => Some(b),
        Val::Num(x) => Some(x != 0.0),
        _ => None,
    }
}

/// Evaluate `e` at data row `i`. `Err(detail)` when an operation produces NaN.
fn eval_row<'a>(
    e: &'a Expr,
    cols: &HashMap<&str, &'a Column>,
    i: usize,
) -> Result<Val<'a>, String> {
    Ok(match &e.kind {
        ExprKind::Name(n) => match cols.get(n.as_str()).map(|c| &c.data) {
            Some(ColumnData::Numeric(v)) => v.get(i).copied().flatten().map_or(Val::Na, Val::Num),
            Some(ColumnData::Logical(v)) => v.get(i).copied().flatten().map_or(Val::Na, Val::Bool),
            Some(ColumnData::Categorical(c)) => c
                .codes
                .get(i)
                .copied()
                .flatten()
                .and_then(|k| c.levels.get(k))
                .map_or(Val::Na, |s| Val::Str(s.as_str())),
            None => Val::Na,
        },
        ExprKind::Number(x) => Val::Num(*x),
        ExprKind::Str(s) => Val::Str(s.as_str()),
        ExprKind::Logical(b) => Val::Bool(*b),
        ExprKind::Paren(x) => eval_row(x, cols, i)?,
        ExprKind::Unary(op, x) => {
            let v = eval_row(x, cols, i)?;
            match op {
                UnaryOp::Not => as_bool(v).map_or(Val::Na, |b| Val::Bool(!b)),
                UnaryOp::Neg => as_num(v).map_or(Val::Na, |x| Val::Num(-x)),
                _ => as_num(v).map_or(Val::Na, Val::Num),
            }
        }
        ExprKind::Binary(op, l, r) => {
            let a = eval_row(l, cols, i)?;
            let b = eval_row(r, cols, i)?;
            if matches!(a, Val::Na) || matches!(b, Val::Na) {
                return Ok(Val::Na);
            }
            if let (Val::Str(x), Val::Str(y)) = (a, b) {
                return Ok(match op {
                    BinaryOp::Eq => Val::Bool(x == y),
                    BinaryOp::Ne => Val::Bool(x != y),
                    _ => Val::Na,
                });
            }
            match op {
                BinaryOp::And | BinaryOp::Or => match (as_bool(a), as_bool(b)) {
                    (Some(x), Some(y)) => {
                        Val::Bool(if *op == BinaryOp::And { x && y } else { x || y })
                    }
                    _ => Val::Na,
                },
                _ => {
                    let (Some(x), Some(y)) = (as_num(a), as_num(b)) else {
                        return Ok(Val::Na);
                    };
                    let res = match op {
                        BinaryOp::Add => x + y,
                        BinaryOp::Sub => x - y,
                        BinaryOp::Mul => x * y,
                        BinaryOp::Div => x / y,
                        BinaryOp::Pow => x.powf(y),
                        BinaryOp::Gt => return Ok(Val::Bool(x > y)),
                        BinaryOp::Ge => return Ok(Val::Bool(x >= y)),
                        BinaryOp::Lt => return Ok(Val::Bool(x < y)),
                        BinaryOp::Le => return Ok(Val::Bool(x <= y)),
                        BinaryOp::Eq => return Ok(Val::Bool(x == y)),
                        BinaryOp::Ne => return Ok(Val::Bool(x != y)),
                        _ => return Ok(Val::Na),
                    };
                    if res.is_nan() {
                        return Err(format!(
                            "{} {} {} is undefined",
                            format_r_number(x),
                            op.symbol(),
                            format_r_number(y)
                        ));
                    }
                    Val::Num(res)
                }
            }
        }
        ExprKind::Call(f, args) => {
            let Some(arg) = args.first() else {
                return Ok(Val::Na);
            };
            let v = eval_row(arg, cols, i)?;
            if f == "I" || f == "factor" {
                return Ok(v);
            }
            let Some(x) = as_num(v) else {
                return Ok(Val::Na);
            };
            let res = match f.as_str() {
                "log" => x.ln(),
                "exp" => x.exp(),
                "sqrt" => x.sqrt(),
                "abs" => x.abs(),
                "log2" => x.log2(),
                "log10" => x.log10(),
                "log1p" => x.ln_1p(),
                _ => return Ok(Val::Na),
            };
            if res.is_nan() {
                return Err(format!("{f}({}) is undefined", format_r_number(x)));
            }
            Val::Num(res)
        }
    })
}

/// An evaluated right-hand-side variable.
enum VarData {
    Numeric(Vec<Option<f64>>),
    Factor(Categorical),
}

fn strip_wrappers(e: &Expr) -> &Expr {
    let mut cur = e;
    loop {
        match &cur.kind {
            ExprKind::Paren(x) => cur = x,
            ExprKind::Call(f, args) if (f == "I" || f == "factor") && args.len() == 1 => {
                match args.first() {
                    Some(x) => cur = x,
                    None => return cur,
                }
            }
            _ => return cur,
        }
    }
}

impl Ctx<'_> {
    fn columns_of<'b>(&'b self, e: &Expr) -> Result<HashMap<&'b str, &'b Column>, DesignError> {
        let mut m = HashMap::new();
        for n in e.column_names() {
            let c = self.column(&n)?;
            m.insert(c.name.as_str(), c);
        }
        Ok(m)
    }

    /// Evaluate to numbers (logical → 0/1); requires a non-categorical type.
    fn eval_numeric(&self, e: &Expr, allow_inf: bool) -> Result<Vec<Option<f64>>, DesignError> {
        let cols = self.columns_of(e)?;
        let n = self.frame.n_rows();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let v = eval_row(e, &cols, i).map_err(|detail| DesignError::NonFinite {
                formula: self.formula.to_string(),
                expr: e.deparse(),
                row: i + 1,
                detail,
            })?;
            let x = as_num(v);
            if let Some(x) = x {
                if !x.is_finite() && !allow_inf {
                    return Err(DesignError::NonFinite {
                        formula: self.formula.to_string(),
                        expr: e.deparse(),
                        row: i + 1,
                        detail: format!("value {}", format_r_number(x)),
                    });
                }
            }
            out.push(x);
        }
        Ok(out)
    }

    fn eval_bool(&self, e: &Expr) -> Result<Vec<Option<bool>>, DesignError> {
        let cols = self.columns_of(e)?;
        let n = self.frame.n_rows();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let v = eval_row(e, &cols, i).map_err(|detail| DesignError::NonFinite {
                formula: self.formula.to_string(),
                expr: e.deparse(),
                row: i + 1,
                detail,
            })?;
            out.push(as_bool(v));
        }
        Ok(out)
    }

    fn eval_strings(&self, e: &Expr) -> Result<Categorical, DesignError> {
        let inner = strip_wrappers(e);
        if let ExprKind::Name(n) = &inner.kind {
            if let ColumnData::Categorical(c) = &self.column(n)?.data {
                return Ok(c.clone());
            }
        }
        let cols = self.columns_of(e)?;
        let n = self.frame.n_rows();
        let mut vals: Vec<Option<String>> = Vec::with_capacity(n);
        for i in 0..n {
            let v = eval_row(e, &cols, i).unwrap_or(Val::Na);
            vals.push(match v {
                Val::Str(s) => Some(s.to_string()),
                _ => None,
            });
        }
        let mut levels: Vec<String> = vals.iter().flatten().cloned().collect();
        levels.sort();
        levels.dedup();
        let codes = vals
            .iter()
            .map(|v| v.as_ref().and_then(|s| levels.binary_search(s).ok()))
            .collect();
        Ok(Categorical { levels, codes })
    }

    fn eval_variable(&self, e: &Expr) -> Result<VarData, DesignError> {
        let is_factor = matches!(&e.kind, ExprKind::Call(f, _) if f == "factor");
        let ty = self.type_of(e)?;
        Ok(match (ty, is_factor) {
            (Ty::Str, _) => VarData::Factor(self.eval_strings(e)?),
            (Ty::Bool, false) => {
                let b = self.eval_bool(e)?;
                VarData::Factor(Categorical {
                    levels: vec!["FALSE".into(), "TRUE".into()],
                    codes: b.iter().map(|v| v.map(usize::from)).collect(),
                })
            }
            (Ty::Bool, true) => {
                let b = self.eval_bool(e)?;
                let has_f = b.contains(&Some(false));
                let has_t = b.contains(&Some(true));
                let mut levels = Vec::new();
                if has_f {
                    levels.push("FALSE".to_string());
                }
                if has_t {
                    levels.push("TRUE".to_string());
                }
                let codes = b
                    .iter()
                    .map(|v| v.map(|x| if x && has_f { 1 } else { 0 }))
                    .collect();
                VarData::Factor(Categorical { levels, codes })
            }
            (Ty::Num, true) => {
                let x = self.eval_numeric(e, true)?;
                VarData::Factor(numeric_to_factor(&x))
            }
            (Ty::Num, false) => VarData::Numeric(self.eval_numeric(e, false)?),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Model matrix construction

/// A model matrix in row-sparse form: for each kept row, its (column, value) entries.
struct SparseRows {
    names: Vec<String>,
    rows: Vec<Vec<(usize, f64)>>,
}

/// R's factor coding: per term, per variable in term, `true` = full indicators, `false` =
/// contrasts (ignored for numeric variables).
fn term_codes(f: &Formula, n_levels: &[Option<usize>]) -> Vec<Vec<bool>> {
    let mut codes: Vec<Vec<bool>> = Vec::with_capacity(f.terms.len());
    for (j, term) in f.terms.iter().enumerate() {
        let mut c = Vec::with_capacity(term.vars.len());
        for &v in &term.vars {
            let dropped: Vec<usize> = term.vars.iter().copied().filter(|&u| u != v).collect();
            let contrast = dropped.is_empty()
                || f.terms
                    .iter()
                    .take(j)
                    .any(|prev| dropped.iter().all(|d| prev.vars.contains(d)));
            c.push(!contrast);
        }
        codes.push(c);
    }
    if !f.intercept {
        'outer: for (j, term) in f.terms.iter().enumerate() {
            for (k, &v) in term.vars.iter().enumerate() {
                // R requires > 1 level here (and then fails on one-level factors anyway);
                // accepting one level lets `~ 0 + g` with a single group give one column.
                if n_levels.get(v).copied().flatten().is_some_and(|l| l >= 1) {
                    if let Some(x) = codes.get_mut(j).and_then(|c| c.get_mut(k)) {
                        *x = true;
                    }
                    break 'outer;
                }
            }
        }
    }
    codes
}

fn model_rows(
    f: &Formula,
    vars: &[VarData],
    kept: &[usize],
    max_cols: usize,
) -> Result<SparseRows, DesignError> {
    let too_large = |columns: usize| DesignError::TooLarge {
        formula: f.text.clone(),
        columns,
        rows: kept.len(),
    };
    let n_levels: Vec<Option<usize>> = vars
        .iter()
        .map(|v| match v {
            VarData::Numeric(_) => None,
            VarData::Factor(c) => Some(c.levels.len()),
        })
        .collect();
    let codes = term_codes(f, &n_levels);
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); kept.len()];
    if f.intercept {
        names.push("(Intercept)".into());
        for r in rows.iter_mut() {
            r.push((0, 1.0));
        }
    }
    for (term, term_code) in f.terms.iter().zip(&codes) {
        // Block names and widths per variable.
        let mut term_names: Vec<String> = vec![String::new()];
        let mut widths: Vec<usize> = Vec::with_capacity(term.vars.len());
        for (k, (&v, &full)) in term.vars.iter().zip(term_code).enumerate() {
            let (Some(var), Some(data)) = (f.variables.get(v), vars.get(v)) else {
                continue;
            };
            let var_names: Vec<String> = match data {
                VarData::Numeric(_) => vec![var.label.clone()],
                VarData::Factor(c) => {
                    if !full && c.levels.len() < 2 {
                        return Err(DesignError::TooFewLevels {
                            formula: f.text.clone(),
                            variable: var.label.clone(),
                            levels: c.levels.len(),
                        });
                    }
                    let skip = usize::from(!full);
                    c.levels
                        .iter()
                        .skip(skip)
                        .map(|l| format!("{}{}", var.label, l))
                        .collect()
                }
            };
            let total = term_names
                .len()
                .checked_mul(var_names.len())
                .filter(|&t| t.saturating_add(names.len()) <= max_cols)
                .ok_or_else(|| too_large(term_names.len().saturating_mul(var_names.len())))?;
            let mut next = Vec::with_capacity(total);
            for vn in &var_names {
                for tn in &term_names {
                    if k == 0 {
                        next.push(vn.clone());
                    } else {
                        next.push(format!("{tn}:{vn}"));
                    }
                }
            }
            term_names = next;
            widths.push(var_names.len());
        }
        let offset = names.len();
        // Per row: at most one non-zero per term.
        for (r, &i) in rows.iter_mut().zip(kept) {
            let mut col = 0usize;
            let mut stride = 1usize;
            let mut value = 1.0f64;
            let mut present = true;
            for ((&v, &full), &w) in term.vars.iter().zip(term_code).zip(&widths) {
                match vars.get(v) {
                    Some(VarData::Numeric(x)) => match x.get(i).copied().flatten() {
                        Some(x) => value *= x,
                        None => present = false,
                    },
                    Some(VarData::Factor(c)) => match c.codes.get(i).copied().flatten() {
                        Some(code) => {
                            if full {
                                col += code * stride;
                            } else if code == 0 {
                                present = false;
                            } else {
                                col += (code - 1) * stride;
                            }
                        }
                        None => present = false,
                    },
                    None => present = false,
                }
                stride = stride.saturating_mul(w);
            }
            if present && value != 0.0 {
                r.push((offset + col, value));
            }
        }
        names.extend(term_names);
    }
    Ok(SparseRows { names, rows })
}

// ---------------------------------------------------------------------------------------------
// Entry points

/// Parse the formulas and build the design. See the crate docs for an example.
pub fn build_design(
    frame: &DataFrame,
    fixed: &str,
    random: &[&str],
    weights: Option<&str>,
) -> Result<Design, DesignError> {
    let fixed_f = parse_formula(fixed).map_err(|source| DesignError::Parse {
        which: "fixed-effects formula".into(),
        source,
    })?;
    let mut random_f = Vec::with_capacity(random.len());
    for (k, r) in random.iter().enumerate() {
        random_f.push(parse_formula(r).map_err(|source| DesignError::Parse {
            which: format!("random-effect formula {}", k + 1),
            source,
        })?);
    }
    build_design_from_formulas(frame, &fixed_f, &random_f, weights)
}

impl DesignError {
    /// The error for a random-effect formula with an intercept (`~ g`, `~ 1 + g`), suggesting
    /// the spelling without it from the formula's term labels (`~ 0 + g`). Public so that the
    /// R package, which evaluates formulas with R, refuses them with the same rule and message.
    pub fn random_intercept(formula: &str, term_labels: &[String]) -> DesignError {
        let suggestion = if term_labels.is_empty() {
            "~ 0 + group".to_string()
        } else {
            format!("~ 0 + {}", term_labels.join(" + "))
        };
        DesignError::RandomIntercept {
            formula: formula.to_string(),
            suggestion,
        }
    }
}

/// Build the design from already-parsed formulas.
pub fn build_design_from_formulas(
    frame: &DataFrame,
    fixed: &Formula,
    random: &[Formula],
    weights: Option<&str>,
) -> Result<Design, DesignError> {
    let response = fixed
        .response
        .as_ref()
        .ok_or_else(|| DesignError::MissingResponse {
            formula: fixed.text.trim().to_string(),
        })?;
    for r in random {
        if r.response.is_some() {
            let rhs = r
                .text
                .split_once('~')
                .map(|(_, b)| b.trim())
                .unwrap_or(r.text.as_str());
            return Err(DesignError::RandomHasResponse {
                formula: r.text.clone(),
                suggestion: format!("~ {rhs}"),
            });
        }
    }
    let response_cols = response.column_names();
    for (k, r) in random.iter().enumerate() {
        let rhs = r
            .text
            .split_once('~')
            .map(|(_, b)| b.trim())
            .unwrap_or(r.text.as_str());
        if r.intercept {
            return Err(DesignError::random_intercept(&r.text, &r.term_labels()));
        }
        for v in &r.variables {
            if let Some(c) = v
                .expr
                .column_names()
                .into_iter()
                .find(|c| response_cols.contains(c))
            {
                return Err(DesignError::ResponseReused {
                    column: c,
                    place: format!("the random-effect formula '{}'", r.text.trim()),
                });
            }
        }
        for (k2, r2) in random[..k].iter().enumerate() {
            if r2.term_labels() == r.term_labels() {
                return Err(DesignError::DuplicateRandom {
                    formula: rhs.to_string(),
                    first: k2 + 1,
                    second: k + 1,
                });
            }
        }
    }
    for v in &fixed.variables {
        if let Some(c) = v
            .expr
            .column_names()
            .into_iter()
            .find(|c| response_cols.contains(c))
        {
            return Err(DesignError::ResponseReused {
                column: c,
                place: format!("the right-hand side of '{}'", fixed.text.trim()),
            });
        }
    }
    if let Some(w) = weights {
        if response_cols.iter().any(|c| c == w) {
            return Err(DesignError::ResponseReused {
                column: w.to_string(),
                place: "--weights".to_string(),
            });
        }
    }
    // A used column that is mostly numbers but was read as categorical because of a few stray
    // tokens is an error, before any type-dependent message could name the wrong cause.
    {
        let mut names: Vec<String> = response.column_names();
        for f in std::iter::once(fixed).chain(random.iter()) {
            for v in &f.variables {
                names.extend(v.expr.column_names());
            }
        }
        names.extend(weights.map(str::to_string));
        for name in &names {
            if let Some(source) = frame.mostly_numeric_problem(name) {
                return Err(DesignError::Column {
                    formula: fixed.text.clone(),
                    source,
                });
            }
        }
    }
    let n = frame.n_rows();
    let fctx = Ctx {
        frame,
        formula: &fixed.text,
    };

    // Response.
    let eval_resp = |e: &Expr| -> Result<Vec<Option<f64>>, DesignError> {
        match fctx.type_of(e)? {
            Ty::Str => {
                let levels = fctx.eval_strings(e)?.levels;
                Err(DesignError::CategoricalResponse {
                    column: e.deparse(),
                    levels,
                })
            }
            _ => fctx.eval_numeric(e, false),
        }
    };
    let (y_all, f_all) = match response {
        Response::Single(e) => (eval_resp(e)?, None),
        Response::Cbind(a, b) => (eval_resp(a)?, Some(eval_resp(b)?)),
    };

    // Variables.
    let fixed_vars: Vec<VarData> = fixed
        .variables
        .iter()
        .map(|v| fctx.eval_variable(&v.expr))
        .collect::<Result<_, _>>()?;
    let mut random_vars: Vec<Vec<VarData>> = Vec::with_capacity(random.len());
    for r in random {
        let ctx = Ctx {
            frame,
            formula: &r.text,
        };
        random_vars.push(
            r.variables
                .iter()
                .map(|v| ctx.eval_variable(&v.expr))
                .collect::<Result<_, _>>()?,
        );
        if r.terms.is_empty() && !r.intercept {
            return Err(DesignError::EmptyRandom {
                formula: r.text.clone(),
            });
        }
    }

    // Weights.
    let w_all: Option<Vec<Option<f64>>> = match weights {
        None => None,
        Some(name) => {
            let col = frame.column(name).map_err(|source| DesignError::Column {
                formula: "weights".into(),
                source,
            })?;
            match &col.data {
                ColumnData::Numeric(v) => {
                    for (i, x) in v.iter().enumerate() {
                        if let Some(x) = x {
                            if *x < 0.0 {
                                return Err(DesignError::NegativeWeight {
                                    column: name.to_string(),
                                    row: i + 1,
                                    value: *x,
                                });
                            }
                        }
                    }
                    Some(v.clone())
                }
                other => {
                    return Err(DesignError::BadWeightsType {
                        column: name.to_string(),
                        kind: other.type_name(),
                    })
                }
            }
        }
    };

    // Used columns → NA omission.
    let mut used: Vec<String> = response.column_names();
    let mut add = |names: Vec<String>| {
        for n in names {
            if !used.contains(&n) {
                used.push(n);
            }
        }
    };
    for v in &fixed.variables {
        add(v.expr.column_names());
    }
    for r in random {
        for v in &r.variables {
            add(v.expr.column_names());
        }
    }
    if let Some(w) = weights {
        add(vec![w.to_string()]);
    }
    let mut used_cols = Vec::with_capacity(used.len());
    for name in &used {
        used_cols.push(frame.column(name).map_err(|source| DesignError::Column {
            formula: fixed.text.clone(),
            source,
        })?);
    }
    let kept: Vec<usize> = (0..n)
        .filter(|&i| used_cols.iter().all(|c| !c.data.is_missing(i)))
        .filter(|&i| y_all.get(i).copied().flatten().is_some())
        .filter(|&i| {
            f_all
                .as_ref()
                .is_none_or(|f| f.get(i).copied().flatten().is_some())
        })
        .collect();
    if kept.is_empty() {
        return Err(DesignError::NoRowsLeft {
            n_rows: n,
            columns: used.join(", "),
        });
    }
    let m = kept.len();
    let pick = |v: &[Option<f64>]| -> Vec<f64> {
        kept.iter()
            .map(|&i| v.get(i).copied().flatten().unwrap_or(0.0))
            .collect()
    };
    let y = pick(&y_all);
    let trials = f_all.as_ref().map(|f| {
        let f = pick(f);
        y.iter().zip(&f).map(|(a, b)| a + b).collect::<Vec<f64>>()
    });
    let weights = w_all.as_ref().map(|w| pick(w));

    // Fixed effects: dense, column-major.
    let max_p = (MAX_DENSE_CELLS / m.max(1)).min(MAX_COLUMNS);
    let xs = model_rows(fixed, &fixed_vars, &kept, max_p)?;
    let p = xs.names.len();
    let mut x = vec![0.0; m * p];
    for (i, row) in xs.rows.iter().enumerate() {
        for &(j, v) in row {
            if let Some(cell) = x.get_mut(j * m + i) {
                *cell = v;
            }
        }
    }

    // Random effects: CSR.
    let mut random_out = Vec::with_capacity(random.len());
    for (r, vars) in random.iter().zip(&random_vars) {
        let zs = model_rows(r, vars, &kept, MAX_COLUMNS)?;
        let mut row_ptr = Vec::with_capacity(m + 1);
        let mut col_idx = Vec::new();
        let mut values = Vec::new();
        row_ptr.push(0);
        for row in &zs.rows {
            for &(j, v) in row {
                col_idx.push(j);
                values.push(v);
            }
            row_ptr.push(col_idx.len());
        }
        random_out.push(RandomDesign {
            formula: r.text.clone(),
            col_names: zs.names,
            row_ptr,
            col_idx,
            values,
        });
    }

    Ok(Design {
        y,
        trials,
        x,
        x_names: xs.names,
        random: random_out,
        weights,
        n_rows_read: n,
        dropped_rows: n - m,
        kept_rows: kept,
        response_name: response.label(),
    })
}
