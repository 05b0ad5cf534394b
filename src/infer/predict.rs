//! Predictions on new data, back to the response scale, with delta-method standard errors.
//!
//! [`Fit::predict`] takes a [`NewData`] (fixed-effect rows and, optionally, the random effects
//! each row involves) and returns one [`Prediction`] per row:
//!
//! * [`Kind::Conditional`]: `eta = x'beta + z'u`, with `u` the fit's predicted random effects
//!   `E[u | y]` for levels seen in the fit, and 0 for unknown levels or when the new data do
//!   not name the grouping factors (lme4's `re.form = NA` / `allow.new.levels`);
//! * [`Kind::Marginal`]: the population-averaged mean `E[g^{-1}(x'beta + z'u)]` over
//!   `u ~ N(0, D(nu))`, by 30-node Gauss–Hermite quadrature (`z'u` is normal with variance
//!   `sum_j z_j^2 nu_{t(j)}`); it is closer to 1/2 than the conditional probability.
//!
//! Standard errors are delta-method values from `vcov` (for conditional predictions those of
//! `beta` only: predicted random effects are treated as known, as lme4's `predict(se.fit =
//! TRUE)` does; marginal predictions also carry the uncertainty of `nu`), their Monte Carlo
//! standard errors likewise from `mcvcov`.  Confidence intervals are computed on the link scale
//! and transformed (so probabilities stay in [0, 1]), as emmeans does with `type = "response"`.
//!
//! [`new_data_from_frame`] builds a [`NewData`] from a CSV data frame with the fit's formulas
//! (same columns, same factor levels and contrasts), and [`emmeans_grid`] the reference grid of
//! one factor (one row per level, other factors averaged, numeric covariates at their mean).

use crate::fit::vcov;
use crate::fit::Fit;
use crate::integrate::quadrature::gauss_hermite;
use crate::model::design::{DataRequest, InputError};
use crate::model::family::{logistic, Family};
use crate::model::Model;
use mcla_formula::{
    build_design, parse_formula, Categorical, Column, ColumnData, DataFrame, Design,
};
use serde::Serialize;
use thiserror::Error;

/// Which prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// At the predicted random effects of known levels (0 otherwise).
    Conditional,
    /// Averaged over the random effects' normal distribution.
    Marginal,
}

/// Scale of the reported value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Linear predictor (log odds, log mean).
    Link,
    /// Mean of the response (probability per trial, expected count).
    Response,
}

/// One random effect of a new row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEffect {
    /// Variance component (0-based).
    pub component: usize,
    /// Design value (1 for an indicator, the covariate for a slope).
    pub value: f64,
    /// Index of the random effect in the fit (model order), when the level is known.
    pub effect: Option<usize>,
}

/// New data: fixed-effect rows and the random effects each involves.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewData {
    /// Row labels.
    pub labels: Vec<String>,
    /// Fixed-effect rows (p values each).
    pub x: Vec<Vec<f64>>,
    /// Random effects of each row.
    pub z: Vec<Vec<NewEffect>>,
}

/// A problem with prediction input.
#[derive(Debug, Error)]
pub enum PredictError {
    /// Shapes do not match the fit.
    #[error("{0}")]
    Shape(String),
    /// Building the new data failed.
    #[error("{0}")]
    Input(#[from] InputError),
    /// New data cannot be used.
    #[error("{0}")]
    NewData(String),
}

/// One prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Row label.
    pub label: String,
    /// Conditional or marginal.
    pub kind: Kind,
    /// Link or response.
    pub scale: Scale,
    /// Predicted value.
    pub estimate: f64,
    /// Delta-method standard error.
    pub std_error: f64,
    /// Lower confidence limit.
    pub conf_low: f64,
    /// Upper confidence limit.
    pub conf_high: f64,
    /// Monte Carlo standard error of the estimate.
    pub mcse: f64,
}

fn ginv(f: Family, eta: f64) -> f64 {
    match f {
        Family::Bernoulli | Family::Binomial => logistic(eta),
        Family::Poisson => eta.exp(),
    }
}
/// d mu / d eta.
fn ginv1(f: Family, eta: f64) -> f64 {
    match f {
        Family::Bernoulli | Family::Binomial => {
            let m = logistic(eta);
            m * (1.0 - m)
        }
        Family::Poisson => eta.exp(),
    }
}
fn ginv2(f: Family, eta: f64) -> f64 {
    match f {
        Family::Bernoulli | Family::Binomial => {
            let m = logistic(eta);
            m * (1.0 - m) * (1.0 - 2.0 * m)
        }
        Family::Poisson => eta.exp(),
    }
}
fn link(f: Family, mu: f64) -> f64 {
    match f {
        Family::Bernoulli | Family::Binomial => (mu / (1.0 - mu)).ln(),
        Family::Poisson => mu.ln(),
    }
}

fn quad(a: &[f64], m: &[f64]) -> f64 {
    let d = a.len();
    let mut s = 0.0;
    // zero coefficients are skipped: a parameter whose covariance is not available (NaN: a
    // variance on the boundary) matters only to predictions that depend on it
    for r in 0..d {
        if a[r] == 0.0 {
            continue;
        }
        for c in 0..d {
            if a[c] != 0.0 {
                s += a[r] * m[r * d + c] * a[c];
            }
        }
    }
    s
}

/// Gauss–Hermite nodes used for marginal predictions.
pub const MARGINAL_NODES: usize = 30;

impl Fit {
    /// Predictions at level 0.95; see [`Fit::predict_level`].
    pub fn predict(
        &self,
        new: &NewData,
        scale: Scale,
        kind: Kind,
    ) -> Result<Vec<Prediction>, PredictError> {
        self.predict_level(new, scale, kind, 0.95)
    }

    /// Predictions for each row of `new` (see the [module docs](crate::infer::predict)).
    ///
    /// ```no_run
    /// # let fit: mcla::Fit = unimplemented!();
    /// use mcla::infer::predict::{Kind, NewData, Scale};
    /// // the probability of mating for an R/R cross at u = 0
    /// let new = NewData { labels: vec!["R/R".into()], x: vec![vec![1.0, 0.0, 0.0, 0.0]], z: vec![vec![]] };
    /// let p = fit.predict(&new, Scale::Response, Kind::Conditional).unwrap();
    /// println!("{:.3} [{:.3}, {:.3}]", p[0].estimate, p[0].conf_low, p[0].conf_high);
    /// ```
    pub fn predict_level(
        &self,
        new: &NewData,
        scale: Scale,
        kind: Kind,
        level: f64,
    ) -> Result<Vec<Prediction>, PredictError> {
        let fam = Family::parse(&self.family)
            .ok_or_else(|| PredictError::Shape(format!("unknown family '{}'", self.family)))?;
        if !(level > 0.0 && level < 1.0) {
            return Err(PredictError::Shape(format!(
                "confidence level must be strictly between 0 and 1 (got {level})"
            )));
        }
        let (p, d) = (self.p, self.dim());
        let t_count = d - p;
        if new.x.len() != new.z.len() || new.x.len() != new.labels.len() {
            return Err(PredictError::Shape(
                "new data: labels, x and z must have one entry per row".into(),
            ));
        }
        let zq = vcov::wald_quantile(level);
        let (nodes, weights) =
            gauss_hermite(MARGINAL_NODES).map_err(|e| PredictError::Shape(e.to_string()))?;
        let sqrt_pi = std::f64::consts::PI.sqrt();
        let mut out = Vec::with_capacity(new.x.len());
        for ((label, x), z) in new.labels.iter().zip(&new.x).zip(&new.z) {
            if x.len() != p {
                return Err(PredictError::Shape(format!(
                    "new data row '{label}' has {} fixed-effect values but the fit has {p} ({})",
                    x.len(),
                    self.parameter_names[..p].join(", ")
                )));
            }
            if let Some(e) = z.iter().find(|e| e.component >= t_count) {
                return Err(PredictError::Shape(format!(
                    "new data row '{label}' names variance component {} but the fit has {t_count}",
                    e.component + 1
                )));
            }
            let xb: f64 = x.iter().zip(self.coef()).map(|(a, b)| a * b).sum();
            let mut g = vec![0.0; d];
            let (link_value, link_se, link_mcse);
            match kind {
                Kind::Conditional => {
                    let mut eta = xb;
                    let mut extra_mc = 0.0;
                    for e in z {
                        if let Some(j) = e.effect {
                            let r = self.ranef.get(j).ok_or_else(|| {
                                PredictError::Shape(format!(
                                    "new data row '{label}' uses random effect {} but the fit has {} random-effect predictions",
                                    j + 1,
                                    self.ranef.len()
                                ))
                            })?;
                            eta += e.value * r.mean;
                            extra_mc += (e.value * r.mcse).powi(2);
                        }
                    }
                    g[..p].copy_from_slice(x);
                    link_value = eta;
                    link_se = vcov::non_negative(quad(&g, &self.vcov)).sqrt();
                    link_mcse = (vcov::non_negative(quad(&g, &self.mcvcov)) + extra_mc).sqrt();
                }
                Kind::Marginal => {
                    let mut coef_t = vec![0.0; t_count];
                    for e in z {
                        coef_t[e.component] += e.value * e.value;
                    }
                    let s2: f64 = coef_t
                        .iter()
                        .zip(self.varcomps())
                        .map(|(c, nu)| c * nu.max(0.0))
                        .sum();
                    let s = s2.sqrt();
                    let (mut mu, mut dmu_deta, mut dmu_ds2) = (0.0, 0.0, 0.0);
                    for (xk, wk) in nodes.iter().zip(&weights) {
                        let eta = xb + std::f64::consts::SQRT_2 * s * xk;
                        let w = wk / sqrt_pi;
                        mu += w * ginv(fam, eta);
                        dmu_deta += w * ginv1(fam, eta);
                        if s > 0.0 {
                            dmu_ds2 +=
                                w * ginv1(fam, eta) * std::f64::consts::SQRT_2 * xk / (2.0 * s);
                        }
                    }
                    if s == 0.0 {
                        dmu_ds2 = 0.5 * ginv2(fam, xb);
                    }
                    for a in 0..p {
                        g[a] = x[a] * dmu_deta;
                    }
                    for t in 0..t_count {
                        g[p + t] = coef_t[t] * dmu_ds2;
                    }
                    let se_mu = vcov::non_negative(quad(&g, &self.vcov)).sqrt();
                    let mc_mu = vcov::non_negative(quad(&g, &self.mcvcov)).sqrt();
                    // to the link scale: d g(mu) / d mu = 1 / (d mu / d eta at g(mu))
                    let lv = link(fam, mu);
                    let deriv = ginv1(fam, lv);
                    link_value = lv;
                    link_se = se_mu / deriv;
                    link_mcse = mc_mu / deriv;
                }
            }
            let (lo, hi) = (link_value - zq * link_se, link_value + zq * link_se);
            let row = match scale {
                Scale::Link => Prediction {
                    label: label.clone(),
                    kind,
                    scale,
                    estimate: link_value,
                    std_error: link_se,
                    conf_low: lo,
                    conf_high: hi,
                    mcse: link_mcse,
                },
                Scale::Response => {
                    let dv = ginv1(fam, link_value);
                    Prediction {
                        label: label.clone(),
                        kind,
                        scale,
                        estimate: ginv(fam, link_value),
                        std_error: dv * link_se,
                        conf_low: ginv(fam, lo),
                        conf_high: ginv(fam, hi),
                        mcse: dv * link_mcse,
                    }
                }
            };
            out.push(row);
        }
        Ok(out)
    }
}

/// Columns named in an expression list.
fn push_unique(v: &mut Vec<String>, names: Vec<String>) {
    for n in names {
        if !v.contains(&n) {
            v.push(n);
        }
    }
}

fn new_err(msg: String) -> PredictError {
    PredictError::NewData(msg)
}

/// Label of a cell of a column (for error messages and level matching).
fn cell_label(c: &ColumnData, i: usize) -> Option<String> {
    match c {
        ColumnData::Numeric(v) => v[i].map(mcla_formula::grammar::format_r_number),
        ColumnData::Logical(v) => v[i].map(|b| if b { "TRUE".into() } else { "FALSE".into() }),
        ColumnData::Categorical(cat) => cat.codes[i].map(|k| cat.levels[k].clone()),
    }
}

/// Build [`NewData`] for `fit` from `new` rows, using the formulas of `request` and the training
/// frame and design the model was built from (so columns, factor levels and contrasts agree).
///
/// Columns the fixed-effects formula uses must be present; the response is not needed; a
/// grouping column that is absent makes every row use `u = 0` for that random formula (its
/// design value is then taken from the first training row, for the marginal variance).  A
/// factor level of a fixed-effect column that the fit has not seen is an error; a new level of
/// a grouping factor, or an empty cell in a column only the random formulas use, predicts with
/// `u = 0` for that factor (population level).
pub fn new_data_from_frame(
    model: &Model,
    train: &DataFrame,
    train_design: &Design,
    request: &DataRequest,
    new: &DataFrame,
) -> Result<NewData, PredictError> {
    let fixed_f = parse_formula(&request.fixed)
        .map_err(|e| new_err(format!("fixed-effects formula: {e}")))?;
    let mut response_cols = Vec::new();
    if let Some(r) = &fixed_f.response {
        push_unique(&mut response_cols, r.column_names());
    }
    let mut fixed_cols = Vec::new();
    for v in &fixed_f.variables {
        push_unique(&mut fixed_cols, v.expr.column_names());
    }
    let mut random_cols: Vec<Vec<String>> = Vec::new();
    for r in &request.random {
        let f = parse_formula(r).map_err(|e| new_err(format!("random formula: {e}")))?;
        let mut cols = Vec::new();
        for v in &f.variables {
            push_unique(&mut cols, v.expr.column_names());
        }
        random_cols.push(cols);
    }
    let n_train = train.n_rows();
    let n_new = new.n_rows();
    let first = *train_design
        .kept_rows
        .first()
        .ok_or_else(|| new_err("the fit used no data rows".into()))?;
    let mut missing_random = vec![false; request.random.len()];
    let mut columns = Vec::with_capacity(train.n_cols());
    for col in train.columns() {
        let name = &col.name;
        let in_fixed = fixed_cols.contains(name);
        let in_response = response_cols.contains(name) && !in_fixed;
        let given = new.columns().iter().find(|c| &c.name == name);
        let fill = in_response || given.is_none();
        if given.is_none() && in_fixed {
            return Err(new_err(format!(
                "the new data have no column '{name}', which the fixed-effects formula '{}' uses; add it (columns given: {})",
                request.fixed,
                new.column_names().join(", ")
            )));
        }
        if fill {
            for (b, cols) in random_cols.iter().enumerate() {
                if cols.contains(name) && !in_response {
                    missing_random[b] = true;
                }
            }
        }
        let data = match (&col.data, given.map(|g| &g.data)) {
            (ColumnData::Numeric(v), Some(ColumnData::Numeric(w))) if !fill => {
                let mut v = v.clone();
                v.extend(w.iter().copied());
                ColumnData::Numeric(v)
            }
            (ColumnData::Logical(v), Some(ColumnData::Logical(w))) if !fill => {
                let mut v = v.clone();
                v.extend(w.iter().copied());
                ColumnData::Logical(v)
            }
            (ColumnData::Categorical(cat), Some(g)) if !fill => {
                let mut levels = cat.levels.clone();
                let mut codes = cat.codes.clone();
                // An empty cell of a grouping column (one only the random formulas use) is a
                // level the fit has not seen: the row predicts at u = 0 for that factor (the
                // population level), as when the column is absent.  Elsewhere it is missing.
                let grouping_only = !in_fixed && !in_response;
                let mut unseen: Option<usize> = None;
                for i in 0..n_new {
                    match cell_label(g, i) {
                        None if grouping_only => {
                            let k = *unseen.get_or_insert_with(|| {
                                let mut label = "(missing)".to_string();
                                while levels.contains(&label) {
                                    label.push('_');
                                }
                                levels.push(label);
                                levels.len() - 1
                            });
                            codes.push(Some(k));
                        }
                        None => codes.push(None),
                        Some(l) => {
                            let k = match levels.iter().position(|x| *x == l) {
                                Some(k) => k,
                                None => {
                                    if in_fixed {
                                        return Err(new_err(format!(
                                            "new data row {}: '{l}' is not a level of '{name}' in the fitted data (levels: {})",
                                            i + 1,
                                            cat.levels.join(", ")
                                        )));
                                    }
                                    levels.push(l);
                                    levels.len() - 1
                                }
                            };
                            codes.push(Some(k));
                        }
                    }
                }
                ColumnData::Categorical(Categorical { levels, codes })
            }
            (_, Some(g)) if !fill => {
                return Err(new_err(format!(
                    "column '{name}' is {} in the fitted data but {} in the new data: give it the same type",
                    col.data.type_name(),
                    g.type_name()
                )))
            }
            (data, _) => match data {
                ColumnData::Numeric(v) => {
                    let mut v = v.clone();
                    v.extend(std::iter::repeat_n(v[first], n_new));
                    ColumnData::Numeric(v)
                }
                ColumnData::Logical(v) => {
                    let mut v = v.clone();
                    v.extend(std::iter::repeat_n(v[first], n_new));
                    ColumnData::Logical(v)
                }
                ColumnData::Categorical(cat) => {
                    let mut c = cat.clone();
                    c.codes.extend(std::iter::repeat_n(cat.codes[first], n_new));
                    ColumnData::Categorical(c)
                }
            },
        };
        columns.push(Column {
            name: name.clone(),
            data,
        });
    }
    let combined = DataFrame::from_columns(columns).map_err(|e| {
        new_err(format!(
            "cannot combine the new data with the fitted data: {e}"
        ))
    })?;
    let random: Vec<&str> = request.random.iter().map(String::as_str).collect();
    let dsg = build_design(&combined, &request.fixed, &random, None)
        .map_err(|e| new_err(format!("new data: {e}")))?;
    if dsg.x_names != model.coef_names() {
        return Err(new_err(format!(
            "the new data give fixed-effect columns {} but the fit has {}: give every factor the fitted data's levels",
            dsg.x_names.join(", "),
            model.coef_names().join(", ")
        )));
    }
    // component of each random formula, from the training design's column offsets
    let mut block_component = Vec::with_capacity(train_design.random.len());
    let mut offset = 0;
    for r in &train_design.random {
        block_component.push(model.effect_component().get(offset).copied().unwrap_or(0));
        offset += r.n_cols();
    }
    let mut out = NewData::default();
    let kept_new: Vec<(usize, usize)> = dsg
        .kept_rows
        .iter()
        .enumerate()
        .filter(|(_, &r)| r >= n_train)
        .map(|(i, &r)| (i, r - n_train))
        .collect();
    if kept_new.len() != n_new {
        let have: Vec<usize> = kept_new.iter().map(|k| k.1).collect();
        let bad = (0..n_new).find(|i| !have.contains(i)).unwrap_or(0);
        return Err(new_err(format!(
            "new data row {} has a missing value in a column the model uses: fill it in or remove the row",
            bad + 1
        )));
    }
    let n = dsg.n();
    for (i, r) in kept_new {
        out.labels.push(format!("{}", r + 1));
        out.x.push((0..dsg.p()).map(|j| dsg.x[j * n + i]).collect());
        let mut effects = Vec::new();
        for (b, rd) in dsg.random.iter().enumerate() {
            for k in rd.row_ptr[i]..rd.row_ptr[i + 1] {
                let name = &rd.col_names[rd.col_idx[k]];
                let effect = if missing_random[b] {
                    None
                } else {
                    model.effect_names().iter().position(|e| e == name)
                };
                effects.push(NewEffect {
                    component: block_component[b],
                    value: rd.values[k],
                    effect,
                });
            }
        }
        out.z.push(effects);
    }
    Ok(out)
}

/// The reference grid of factor `factor` (emmeans): one row per level; numeric covariates of the
/// fixed-effects formula at their mean over the fitted rows, other factors averaged with equal
/// weights (the X rows are averaged on the link scale), random effects at u = 0.
pub fn emmeans_grid(
    model: &Model,
    train: &DataFrame,
    train_design: &Design,
    request: &DataRequest,
    factor: &str,
) -> Result<NewData, PredictError> {
    let fixed_f = parse_formula(&request.fixed)
        .map_err(|e| new_err(format!("fixed-effects formula: {e}")))?;
    let mut fixed_cols = Vec::new();
    for v in &fixed_f.variables {
        push_unique(&mut fixed_cols, v.expr.column_names());
    }
    if !fixed_cols.iter().any(|c| c == factor) {
        return Err(new_err(format!(
            "--emmeans '{factor}' is not a column of the fixed-effects formula '{}' (it uses: {})",
            request.fixed,
            fixed_cols.join(", ")
        )));
    }
    let kept = &train_design.kept_rows;
    // the levels of each grid column
    let mut grid: Vec<(String, Vec<ColumnData>)> = Vec::new();
    let mut target_levels = Vec::new();
    for name in &fixed_cols {
        let col = train
            .column(name)
            .map_err(|e| new_err(format!("--emmeans: {e}")))?;
        let values: Vec<ColumnData> = match &col.data {
            ColumnData::Categorical(cat) => {
                let used: Vec<usize> = (0..cat.levels.len())
                    .filter(|&k| kept.iter().any(|&r| cat.codes[r] == Some(k)))
                    .collect();
                if name == factor {
                    target_levels = used.iter().map(|&k| cat.levels[k].clone()).collect();
                }
                used.iter()
                    .map(|&k| {
                        ColumnData::Categorical(Categorical {
                            levels: cat.levels.clone(),
                            codes: vec![Some(k)],
                        })
                    })
                    .collect()
            }
            ColumnData::Logical(_) => {
                if name == factor {
                    target_levels = vec!["FALSE".into(), "TRUE".into()];
                }
                vec![
                    ColumnData::Logical(vec![Some(false)]),
                    ColumnData::Logical(vec![Some(true)]),
                ]
            }
            ColumnData::Numeric(v) => {
                if name == factor {
                    return Err(new_err(format!(
                        "--emmeans '{factor}' is numeric: emmeans are for a factor (write factor({factor}) in the formula, or pass --factor {factor})"
                    )));
                }
                let vals: Vec<f64> = kept.iter().filter_map(|&r| v[r]).collect();
                let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
                vec![ColumnData::Numeric(vec![Some(mean)])]
            }
        };
        grid.push((name.clone(), values));
    }
    let total: usize = grid.iter().map(|g| g.1.len()).product();
    if total > 100_000 {
        return Err(new_err(format!(
            "the reference grid for --emmeans '{factor}' has {total} rows (too many factor combinations)"
        )));
    }
    // expand the grid, target slowest
    let ti = grid.iter().position(|g| g.0 == factor).unwrap_or(0);
    let mut order: Vec<usize> = vec![ti];
    order.extend((0..grid.len()).filter(|&k| k != ti));
    let mut cols: Vec<ColumnData> = grid
        .iter()
        .map(|g| match &g.1[0] {
            ColumnData::Numeric(_) => ColumnData::Numeric(Vec::new()),
            ColumnData::Logical(_) => ColumnData::Logical(Vec::new()),
            ColumnData::Categorical(c) => ColumnData::Categorical(Categorical {
                levels: c.levels.clone(),
                codes: Vec::new(),
            }),
        })
        .collect();
    let mut target_of_row = Vec::with_capacity(total);
    for idx in 0..total {
        let mut rem = idx;
        let mut choice = vec![0; grid.len()];
        for &k in order.iter().rev() {
            let len = grid[k].1.len();
            choice[k] = rem % len;
            rem /= len;
        }
        target_of_row.push(choice[ti]);
        for (k, c) in choice.iter().enumerate() {
            match (&mut cols[k], &grid[k].1[*c]) {
                (ColumnData::Numeric(v), ColumnData::Numeric(w)) => v.push(w[0]),
                (ColumnData::Logical(v), ColumnData::Logical(w)) => v.push(w[0]),
                (ColumnData::Categorical(v), ColumnData::Categorical(w)) => {
                    v.codes.push(w.codes[0])
                }
                _ => {}
            }
        }
    }
    let frame = DataFrame::from_columns(
        grid.iter()
            .zip(cols)
            .map(|(g, data)| Column {
                name: g.0.clone(),
                data,
            })
            .collect(),
    )
    .map_err(|e| new_err(format!("--emmeans grid: {e}")))?;
    let nd = new_data_from_frame(model, train, train_design, request, &frame)?;
    // average the rows of each target level; random effects at u = 0 (unknown level), with the
    // design values of the first grid row for the marginal variance
    let mut out = NewData::default();
    for (lv, label) in target_levels.iter().enumerate() {
        let rows: Vec<usize> = (0..total).filter(|&r| target_of_row[r] == lv).collect();
        let mut x = vec![0.0; model.p()];
        for &r in &rows {
            for (a, v) in x.iter_mut().zip(&nd.x[r]) {
                *a += v / rows.len() as f64;
            }
        }
        out.labels.push(label.clone());
        out.x.push(x);
        out.z.push(
            nd.z[rows[0]]
                .iter()
                .map(|e| NewEffect {
                    effect: None,
                    ..e.clone()
                })
                .collect(),
        );
    }
    Ok(out)
}
