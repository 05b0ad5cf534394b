//! Model input and its validation (SPEC §1, §2, §8).
//!
//! [`ModelSpec`] is what a caller supplies programmatically (independent of
//! formulas and files): response, binomial trials, a dense `X` with column
//! names, sparse random-effect design blocks with column names,
//! `varcomps_equal`, `varcomps_names`, family and observation weights.
//! [`Model::new`] validates it once and returns a checked [`Model`]; every
//! later stage can rely on its invariants.  All problems are reported as a
//! [`ModelError`] that names the problem and the fix.

use crate::model::family::Family;
use thiserror::Error;

/// A sparse matrix in compressed sparse row form.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    /// Number of rows.
    pub n_rows: usize,
    /// Number of columns.
    pub n_cols: usize,
    /// `n_rows + 1` offsets into `col_idx`/`values`.
    pub row_ptr: Vec<usize>,
    /// Column index of each stored entry.
    pub col_idx: Vec<usize>,
    /// Value of each stored entry.
    pub values: Vec<f64>,
}

impl Csr {
    /// Build from `(row, col, value)` triplets (duplicates are summed, zeros dropped).
    pub fn from_triplets(
        n_rows: usize,
        n_cols: usize,
        triplets: &[(usize, usize, f64)],
    ) -> Result<Csr, ModelError> {
        let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n_rows];
        for &(i, j, v) in triplets {
            if i >= n_rows || j >= n_cols {
                return Err(ModelError::SparseIndex {
                    row: i,
                    col: j,
                    n_rows,
                    n_cols,
                });
            }
            rows[i].push((j, v));
        }
        let mut row_ptr = Vec::with_capacity(n_rows + 1);
        let mut col_idx = Vec::new();
        let mut values = Vec::new();
        row_ptr.push(0);
        for mut r in rows {
            r.sort_by_key(|e| e.0);
            let mut k = 0;
            while k < r.len() {
                let j = r[k].0;
                let mut v = 0.0;
                while k < r.len() && r[k].0 == j {
                    v += r[k].1;
                    k += 1;
                }
                if v != 0.0 || v.is_nan() {
                    col_idx.push(j);
                    values.push(v);
                }
            }
            row_ptr.push(col_idx.len());
        }
        Ok(Csr {
            n_rows,
            n_cols,
            row_ptr,
            col_idx,
            values,
        })
    }

    /// The stored entries of row `i` as `(columns, values)`.
    #[inline]
    pub fn row(&self, i: usize) -> (&[usize], &[f64]) {
        let (a, b) = (self.row_ptr[i], self.row_ptr[i + 1]);
        (&self.col_idx[a..b], &self.values[a..b])
    }

    /// Check the structure (offsets monotone, indices in range).
    pub(crate) fn check(&self, what: &str) -> Result<(), ModelError> {
        let bad = |why: &str| ModelError::BadSparse {
            block: what.to_string(),
            why: why.to_string(),
        };
        if self.row_ptr.len() != self.n_rows + 1 {
            return Err(bad("row_ptr must have n_rows + 1 entries"));
        }
        if self.row_ptr[0] != 0 || self.row_ptr.windows(2).any(|w| w[1] < w[0]) {
            return Err(bad("row_ptr must start at 0 and never decrease"));
        }
        let nnz = self.row_ptr[self.n_rows];
        if self.col_idx.len() != nnz || self.values.len() != nnz {
            return Err(bad("col_idx and values must have row_ptr[n_rows] entries"));
        }
        if self.col_idx.iter().any(|&j| j >= self.n_cols) {
            return Err(bad("a column index is out of range"));
        }
        Ok(())
    }
}

/// One random-effect design block `Z_j` (one formula such as `~ 0 + Female`).
#[derive(Debug, Clone)]
pub struct RandomBlock {
    /// Column names, e.g. `Female10`, `Female11`, ... (one per random effect).
    pub names: Vec<String>,
    /// `n x q_j` sparse design.
    pub z: Csr,
}

/// Everything that defines a GLMM, as supplied by the caller (unchecked).
///
/// `x` is column-major (`n x p`).  `varcomps_equal` (numbered from 1) says
/// which variance component each random block uses; `None` gives every block
/// its own.  `weights`, when given, are relevance weights `w_i >= 0`.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Response: 0/1 (bernoulli), successes (binomial) or counts (poisson).
    pub y: Vec<f64>,
    /// Binomial trials `N_i` (`None`: 1 each).
    pub trials: Option<Vec<f64>>,
    /// Fixed-effects design, column-major `n x p`.
    pub x: Vec<f64>,
    /// Names of the columns of `x` (R-style, e.g. `CrossR/R`).
    pub x_names: Vec<String>,
    /// Random-effect design blocks, in formula order.
    pub random: Vec<RandomBlock>,
    /// Block-to-component map numbered from 1 (`[1, 1, 2]`); `None`: one per block.
    pub varcomps_equal: Option<Vec<usize>>,
    /// One name per distinct variance component.
    pub varcomps_names: Vec<String>,
    /// Response family.
    pub family: Family,
    /// Observation weights (`None`: all 1).
    pub weights: Option<Vec<f64>>,
}

/// A problem with the model input; each message names the problem and the fix.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    #[error("the model has no observations: supply at least one row of data")]
    NoObservations,
    #[error("the fixed-effects design X has {got} values but {n} rows x {p} columns need {expected}: X must be column-major n x p")]
    XShape {
        got: usize,
        n: usize,
        p: usize,
        expected: usize,
    },
    #[error("X has {p} columns but {names} column names were given: give one name per column")]
    XNames { p: usize, names: usize },
    #[error("the model has no fixed effects (X has no columns): add at least an intercept")]
    NoFixedEffects,
    #[error("the model has no random effects: give at least one random-effect block (for a model without random effects use a GLM)")]
    NoRandomEffects,
    #[error("random block {block} has {rows} rows but the response has {n}: every design must have one row per observation")]
    RowMismatch { block: usize, rows: usize, n: usize },
    #[error("random block {block} has {cols} columns but {names} names: give one name per random effect")]
    ZNames {
        block: usize,
        cols: usize,
        names: usize,
    },
    #[error("sparse design {block} is malformed: {why}")]
    BadSparse { block: String, why: String },
    #[error("sparse entry ({row}, {col}) is outside a {n_rows} x {n_cols} matrix")]
    SparseIndex {
        row: usize,
        col: usize,
        n_rows: usize,
        n_cols: usize,
    },
    #[error("{what} has a non-finite value ({value}) at row {row}: remove or impute missing values (NaN/Inf) before fitting")]
    NonFinite {
        what: String,
        row: usize,
        value: f64,
    },
    #[error("the response must be 0 or 1 for the bernoulli family, but row {row} has {value}: recode it to 0/1, or use --family binomial with cbind(successes, failures)")]
    NotBinary { row: usize, value: f64 },
    #[error("the {family} response must be a non-negative integer, but row {row} has {value}: counts cannot be negative or fractional")]
    NotCount {
        family: Family,
        row: usize,
        value: f64,
    },
    #[error("binomial trials must be positive integers, but row {row} has {value}")]
    BadTrials { row: usize, value: f64 },
    #[error("row {row} has {successes} successes out of {trials} trials: successes cannot exceed trials")]
    SuccessesExceedTrials {
        row: usize,
        successes: f64,
        trials: f64,
    },
    #[error("trials were given for the {family} family: trials only apply to the binomial family")]
    TrialsNotBinomial { family: Family },
    #[error("trials has {got} entries but there are {n} observations")]
    TrialsLength { got: usize, n: usize },
    #[error("weights has {got} entries but there are {n} observations: give one weight per row")]
    WeightsLength { got: usize, n: usize },
    #[error("weight {value} at row {row} is negative: weights must be finite and >= 0")]
    NegativeWeight { row: usize, value: f64 },
    #[error("all weights are zero: at least one observation must have positive weight")]
    AllWeightsZero,
    #[error("varcomps_equal has {got} entries but there are {blocks} random blocks: give one entry per block, e.g. [1, 1, 2]")]
    VarcompsEqualLength { got: usize, blocks: usize },
    #[error(
        "varcomps_equal must number components 1, 2, ... consecutively starting at 1 (got {got:?})"
    )]
    VarcompsEqualNumbering { got: Vec<usize> },
    #[error("{names} varcomps names were given ({given:?}) but the model has {components} variance component(s): give exactly one name per distinct variance component")]
    VarcompsNames {
        names: usize,
        components: usize,
        given: Vec<String>,
    },
    #[error("variance component name '{name}' is used twice: names must be distinct")]
    DuplicateVarcompName { name: String },
    #[error("{response} is {value} in every row used: a constant response carries no information about the effects (the maximum likelihood estimate is at infinity); check the column, or fit the model to data with both outcomes")]
    ConstantResponse { response: String, value: String },
    #[error("weight {value:e} at row {row} is too large (at most {max:e}): a weight multiplies that row's log-likelihood, so the total becomes too large to maximise accurately; check the weights column, or rescale the weights (weights multiply each row's log-likelihood, so rescaling changes the model)")]
    WeightTooLarge { row: usize, value: f64, max: f64 },
    #[error("{what} {value:e} at row {row} is too large (at most 2^53 = 9.007e15, the largest integer a double stores exactly): check the data")]
    CountTooLarge {
        what: &'static str,
        row: usize,
        value: f64,
    },
    #[error("the name '{name}' is both a fixed-effect coefficient and a variance component; results are reported by name, so they must differ: choose another variance-component name (--varcomps)")]
    NameClash { name: String },
    #[error("random effect '{name}' has no observations (its design column is all zero): drop the unused factor level")]
    EmptyRandomEffect { name: String },
    #[error("the fixed-effects design is rank deficient: column(s) {aliased:?} are linear combinations of earlier columns (aliased); remove them or the intercept")]
    RankDeficient { aliased: Vec<String> },
}

/// Largest admissible observation weight (larger weights make the log-likelihood too large to
/// maximise to the optimiser's absolute tolerance).
pub const MAX_WEIGHT: f64 = 1e6;

/// Largest admissible count or number of trials: 2^53, beyond which doubles skip integers.
pub const MAX_COUNT: f64 = 9_007_199_254_740_992.0;

/// A validated model: dimensions agree, data are admissible for the family,
/// and derived quantities used by every stage are precomputed.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) family: Family,
    pub(crate) y: Vec<f64>,
    pub(crate) trials: Vec<f64>,
    pub(crate) weights: Vec<f64>,
    /// Row-major copy of X (`n x p`): the kernel reads one observation's row at a time.
    pub(crate) x_rows: Vec<f64>,
    pub(crate) x_names: Vec<String>,
    /// All random blocks side by side: `n x q`.
    pub(crate) z: Csr,
    pub(crate) effect_names: Vec<String>,
    /// Variance component (0-based) of each random effect.
    pub(crate) effect_component: Vec<usize>,
    /// Random formula (0-based block of `ModelSpec::random`) of each random effect.
    pub(crate) effect_term: Vec<usize>,
    pub(crate) varcomps_names: Vec<String>,
    /// `q_t`: number of random effects of each component.
    pub(crate) q_per_component: Vec<usize>,
    /// `sum_i w_i const_i` (SPEC §2): true log-likelihood = R glmm's + this.
    pub(crate) data_constant: f64,
}

impl Model {
    /// Validate a [`ModelSpec`].
    ///
    /// ```
    /// use mcla::{Csr, Family, Model, ModelSpec, RandomBlock};
    /// // 4 observations, intercept only, one random intercept with 2 levels
    /// let z = Csr::from_triplets(4, 2, &[(0, 0, 1.0), (1, 0, 1.0), (2, 1, 1.0), (3, 1, 1.0)]).unwrap();
    /// let spec = ModelSpec {
    ///     y: vec![0.0, 1.0, 1.0, 1.0],
    ///     trials: None,
    ///     x: vec![1.0; 4],
    ///     x_names: vec!["(Intercept)".into()],
    ///     random: vec![RandomBlock { names: vec!["g1".into(), "g2".into()], z }],
    ///     varcomps_equal: None,
    ///     varcomps_names: vec!["g".into()],
    ///     family: Family::Bernoulli,
    ///     weights: None,
    /// };
    /// let model = Model::new(spec).unwrap();
    /// assert_eq!((model.n(), model.p(), model.q(), model.n_varcomps()), (4, 1, 2, 1));
    /// ```
    pub fn new(spec: ModelSpec) -> Result<Model, ModelError> {
        let n = spec.y.len();
        if n == 0 {
            return Err(ModelError::NoObservations);
        }
        let p = spec.x_names.len();
        if p == 0 {
            return Err(ModelError::NoFixedEffects);
        }
        if spec.x.len() != n * p {
            if spec.x.len().is_multiple_of(n) {
                return Err(ModelError::XNames {
                    p: spec.x.len() / n,
                    names: p,
                });
            }
            return Err(ModelError::XShape {
                got: spec.x.len(),
                n,
                p,
                expected: n * p,
            });
        }
        if spec.random.is_empty() {
            return Err(ModelError::NoRandomEffects);
        }
        // Response and family.
        for (i, &v) in spec.y.iter().enumerate() {
            if !v.is_finite() {
                return Err(ModelError::NonFinite {
                    what: "the response".into(),
                    row: i + 1,
                    value: v,
                });
            }
        }
        let trials = match (&spec.trials, spec.family) {
            (Some(_), Family::Bernoulli | Family::Poisson) => {
                return Err(ModelError::TrialsNotBinomial {
                    family: spec.family,
                })
            }
            (Some(t), Family::Binomial) => {
                if t.len() != n {
                    return Err(ModelError::TrialsLength { got: t.len(), n });
                }
                for (i, &v) in t.iter().enumerate() {
                    if !v.is_finite() {
                        return Err(ModelError::NonFinite {
                            what: "trials".into(),
                            row: i + 1,
                            value: v,
                        });
                    }
                    if v < 1.0 || v.fract() != 0.0 {
                        return Err(ModelError::BadTrials {
                            row: i + 1,
                            value: v,
                        });
                    }
                }
                t.clone()
            }
            (None, _) => vec![1.0; n],
        };
        for (i, &v) in spec.y.iter().enumerate() {
            match spec.family {
                Family::Bernoulli => {
                    if v != 0.0 && v != 1.0 {
                        return Err(ModelError::NotBinary {
                            row: i + 1,
                            value: v,
                        });
                    }
                }
                Family::Binomial | Family::Poisson => {
                    if v < 0.0 || v.fract() != 0.0 {
                        return Err(ModelError::NotCount {
                            family: spec.family,
                            row: i + 1,
                            value: v,
                        });
                    }
                    if spec.family == Family::Binomial && v > trials[i] {
                        if spec.trials.is_none() {
                            return Err(ModelError::NotBinary {
                                row: i + 1,
                                value: v,
                            });
                        }
                        return Err(ModelError::SuccessesExceedTrials {
                            row: i + 1,
                            successes: v,
                            trials: trials[i],
                        });
                    }
                }
            }
        }
        // Weights.
        let weights = match &spec.weights {
            None => vec![1.0; n],
            Some(w) => {
                if w.len() != n {
                    return Err(ModelError::WeightsLength { got: w.len(), n });
                }
                for (i, &v) in w.iter().enumerate() {
                    if !v.is_finite() {
                        return Err(ModelError::NonFinite {
                            what: "the weights".into(),
                            row: i + 1,
                            value: v,
                        });
                    }
                    if v < 0.0 {
                        return Err(ModelError::NegativeWeight {
                            row: i + 1,
                            value: v,
                        });
                    }
                }
                if w.iter().all(|&v| v == 0.0) {
                    return Err(ModelError::AllWeightsZero);
                }
                w.clone()
            }
        };
        // Sizes a double cannot hold exactly, or that overflow the log-likelihood.
        for i in 0..n {
            if weights[i] > MAX_WEIGHT {
                return Err(ModelError::WeightTooLarge {
                    row: i + 1,
                    value: weights[i],
                    max: MAX_WEIGHT,
                });
            }
            if spec.y[i] > MAX_COUNT {
                return Err(ModelError::CountTooLarge {
                    what: "the count",
                    row: i + 1,
                    value: spec.y[i],
                });
            }
            if trials[i] > MAX_COUNT {
                return Err(ModelError::CountTooLarge {
                    what: "the number of trials",
                    row: i + 1,
                    value: trials[i],
                });
            }
        }
        // A constant response (over the rows with positive weight).
        let used = || (0..n).filter(|&i| weights[i] > 0.0);
        if used().all(|i| spec.y[i] == 0.0) {
            return Err(ModelError::ConstantResponse {
                response: "the response".into(),
                value: "0".into(),
            });
        }
        if spec.family != Family::Poisson && used().all(|i| spec.y[i] == trials[i]) {
            return Err(ModelError::ConstantResponse {
                response: "the response".into(),
                value: if spec.family == Family::Bernoulli {
                    "1".into()
                } else {
                    "equal to the number of trials (no failures)".into()
                },
            });
        }
        // X.
        for j in 0..p {
            for i in 0..n {
                let v = spec.x[j * n + i];
                if !v.is_finite() {
                    return Err(ModelError::NonFinite {
                        what: format!("X column '{}'", spec.x_names[j]),
                        row: i + 1,
                        value: v,
                    });
                }
            }
        }
        let aliased = aliased_columns(&spec.x, n, p);
        if !aliased.is_empty() {
            return Err(ModelError::RankDeficient {
                aliased: aliased.iter().map(|&j| spec.x_names[j].clone()).collect(),
            });
        }
        let mut x_rows = vec![0.0; n * p];
        for j in 0..p {
            for i in 0..n {
                x_rows[i * p + j] = spec.x[j * n + i];
            }
        }
        // Random blocks.
        let n_blocks = spec.random.len();
        let equal = match &spec.varcomps_equal {
            None => (1..=n_blocks).collect::<Vec<_>>(),
            Some(e) => {
                if e.len() != n_blocks {
                    return Err(ModelError::VarcompsEqualLength {
                        got: e.len(),
                        blocks: n_blocks,
                    });
                }
                e.clone()
            }
        };
        let n_comp = equal.iter().copied().max().unwrap_or(0);
        let consecutive = equal.first() == Some(&1)
            && equal.iter().all(|&c| c >= 1)
            && (1..=n_comp).all(|c| equal.contains(&c))
            && equal
                .iter()
                .scan(0usize, |mx, &c| {
                    let ok = c <= *mx + 1;
                    *mx = (*mx).max(c);
                    Some(ok)
                })
                .all(|ok| ok);
        if !consecutive {
            return Err(ModelError::VarcompsEqualNumbering { got: equal });
        }
        if spec.varcomps_names.len() != n_comp {
            return Err(ModelError::VarcompsNames {
                names: spec.varcomps_names.len(),
                components: n_comp,
                given: spec.varcomps_names.clone(),
            });
        }
        for (a, name) in spec.varcomps_names.iter().enumerate() {
            if spec.varcomps_names[..a].contains(name) {
                return Err(ModelError::DuplicateVarcompName { name: name.clone() });
            }
        }
        if let Some(name) = spec
            .varcomps_names
            .iter()
            .find(|v| spec.x_names.contains(v))
        {
            return Err(ModelError::NameClash { name: name.clone() });
        }
        let mut effect_names = Vec::new();
        let mut effect_component = Vec::new();
        let mut effect_term = Vec::new();
        let mut triplets = Vec::new();
        let mut offset = 0;
        for (b, blk) in spec.random.iter().enumerate() {
            blk.z.check(&format!("Z block {}", b + 1))?;
            if blk.z.n_rows != n {
                return Err(ModelError::RowMismatch {
                    block: b + 1,
                    rows: blk.z.n_rows,
                    n,
                });
            }
            if blk.names.len() != blk.z.n_cols {
                return Err(ModelError::ZNames {
                    block: b + 1,
                    cols: blk.z.n_cols,
                    names: blk.names.len(),
                });
            }
            let mut used = vec![false; blk.z.n_cols];
            for i in 0..n {
                let (cols, vals) = blk.z.row(i);
                for (&j, &v) in cols.iter().zip(vals) {
                    if !v.is_finite() {
                        return Err(ModelError::NonFinite {
                            what: format!("random block {} column '{}'", b + 1, blk.names[j]),
                            row: i + 1,
                            value: v,
                        });
                    }
                    if v != 0.0 {
                        used[j] = true;
                        triplets.push((i, offset + j, v));
                    }
                }
            }
            if let Some(j) = used.iter().position(|&u| !u) {
                return Err(ModelError::EmptyRandomEffect {
                    name: blk.names[j].clone(),
                });
            }
            effect_names.extend(blk.names.iter().cloned());
            effect_component.extend(std::iter::repeat_n(equal[b] - 1, blk.z.n_cols));
            effect_term.extend(std::iter::repeat_n(b, blk.z.n_cols));
            offset += blk.z.n_cols;
        }
        let z = Csr::from_triplets(n, offset, &triplets)?;
        let mut q_per_component = vec![0; n_comp];
        for &t in &effect_component {
            q_per_component[t] += 1;
        }
        let data_constant = (0..n)
            .map(|i| weights[i] * spec.family.log_constant(spec.y[i], trials[i]))
            .sum();
        Ok(Model {
            family: spec.family,
            y: spec.y,
            trials,
            weights,
            x_rows,
            x_names: spec.x_names,
            z,
            effect_names,
            effect_component,
            effect_term,
            varcomps_names: spec.varcomps_names,
            q_per_component,
            data_constant,
        })
    }

    /// Number of observations.
    pub fn n(&self) -> usize {
        self.y.len()
    }
    /// Number of fixed effects.
    pub fn p(&self) -> usize {
        self.x_names.len()
    }
    /// Number of random effects.
    pub fn q(&self) -> usize {
        self.effect_names.len()
    }
    /// Number of variance components `T`.
    pub fn n_varcomps(&self) -> usize {
        self.varcomps_names.len()
    }
    /// Length of theta = (beta, nu).
    pub fn n_params(&self) -> usize {
        self.p() + self.n_varcomps()
    }
    /// The family.
    pub fn family(&self) -> Family {
        self.family
    }
    /// Fixed-effect names (columns of X).
    pub fn coef_names(&self) -> &[String] {
        &self.x_names
    }
    /// Variance-component names.
    pub fn varcomps_names(&self) -> &[String] {
        &self.varcomps_names
    }
    /// Random-effect names (columns of Z).
    pub fn effect_names(&self) -> &[String] {
        &self.effect_names
    }
    /// Parameter names: coefficient names then variance-component names.
    pub fn parameter_names(&self) -> Vec<String> {
        self.x_names
            .iter()
            .chain(self.varcomps_names.iter())
            .cloned()
            .collect()
    }
    /// `sum_i w_i const_i`: the data constant R glmm omits from its log-likelihood.
    pub fn data_constant(&self) -> f64 {
        self.data_constant
    }
    /// Response values.
    pub fn y(&self) -> &[f64] {
        &self.y
    }
    /// Observation weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    /// Binomial trials (1 for the other families).
    pub fn trials(&self) -> &[f64] {
        &self.trials
    }
    /// The combined random-effects design `Z` (n x q).
    pub fn z(&self) -> &Csr {
        &self.z
    }
    /// Row `i` of X.
    #[inline]
    pub fn x_row(&self, i: usize) -> &[f64] {
        let p = self.p();
        &self.x_rows[i * p..(i + 1) * p]
    }
    /// Variance component (0-based) of each random effect.
    pub fn effect_component(&self) -> &[usize] {
        &self.effect_component
    }

    /// Random formula (0-based, in `ModelSpec::random` order) of each random effect.
    pub fn effect_term(&self) -> &[usize] {
        &self.effect_term
    }
    /// Number of random effects per variance component.
    pub fn q_per_component(&self) -> &[usize] {
        &self.q_per_component
    }

    /// Linear predictor `X beta + Z u`.
    pub fn linear_predictor(&self, beta: &[f64], u: &[f64]) -> Vec<f64> {
        let mut eta = self.x_beta(beta);
        for (i, e) in eta.iter_mut().enumerate() {
            let (cols, vals) = self.z.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                *e += v * u[j];
            }
        }
        eta
    }

    /// `X beta`.
    pub fn x_beta(&self, beta: &[f64]) -> Vec<f64> {
        (0..self.n()).map(|i| dot(self.x_row(i), beta)).collect()
    }

    /// The [`ModelSpec`] this model was built from (up to explicit zeros in `Z`):
    /// `Model::new(model.spec())` gives the same model.  The parametric bootstrap
    /// simulates from it and refits with the response replaced.
    pub fn spec(&self) -> ModelSpec {
        let (n, p) = (self.n(), self.p());
        let mut x = vec![0.0; n * p];
        for i in 0..n {
            for j in 0..p {
                x[j * n + i] = self.x_rows[i * p + j];
            }
        }
        let n_blocks = self.effect_term.iter().map(|&t| t + 1).max().unwrap_or(0);
        // first column and size of each block (effects are stored block by block)
        let mut first = vec![usize::MAX; n_blocks];
        let mut size = vec![0usize; n_blocks];
        for (j, &t) in self.effect_term.iter().enumerate() {
            first[t] = first[t].min(j);
            size[t] += 1;
        }
        // each row's entries are sorted by column, so each block's rows come out sorted too
        let mut blocks: Vec<Csr> = (0..n_blocks)
            .map(|t| Csr {
                n_rows: n,
                n_cols: size[t],
                row_ptr: vec![0],
                col_idx: Vec::new(),
                values: Vec::new(),
            })
            .collect();
        for i in 0..n {
            let (cols, vals) = self.z.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                let t = self.effect_term[j];
                blocks[t].col_idx.push(j - first[t]);
                blocks[t].values.push(v);
            }
            for b in blocks.iter_mut() {
                b.row_ptr.push(b.col_idx.len());
            }
        }
        let random = blocks
            .into_iter()
            .enumerate()
            .map(|(t, z)| RandomBlock {
                names: if size[t] > 0 {
                    self.effect_names[first[t]..first[t] + size[t]].to_vec()
                } else {
                    Vec::new()
                },
                z,
            })
            .collect();
        let equal: Vec<usize> = (0..n_blocks)
            .map(|t| {
                self.effect_term
                    .iter()
                    .position(|&e| e == t)
                    .map_or(1, |j| self.effect_component[j] + 1)
            })
            .collect();
        let one_each = equal.iter().enumerate().all(|(b, &c)| c == b + 1);
        ModelSpec {
            y: self.y.clone(),
            trials: (self.family == Family::Binomial).then(|| self.trials.clone()),
            x,
            x_names: self.x_names.clone(),
            random,
            varcomps_equal: (!one_each).then_some(equal),
            varcomps_names: self.varcomps_names.clone(),
            family: self.family,
            weights: self
                .weights
                .iter()
                .any(|&w| w != 1.0)
                .then(|| self.weights.clone()),
        }
    }

    /// Exact conditional log density `sum_i w_i (y_i eta_i - c(eta_i))` (without constants),
    /// the cumulants by the vectorised kernels ([`Family::cumulant_slice`]).
    pub fn conditional_loglik(&self, eta: &[f64]) -> f64 {
        let mut c = Vec::new();
        self.family.cumulant_slice(eta, &self.trials, &mut c);
        (0..self.n())
            .map(|i| self.weights[i] * (self.y[i] * eta[i] - c[i]))
            .sum()
    }
}

#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Columns of a column-major `n x p` matrix that are (numerically) linear
/// combinations of earlier columns: modified Gram–Schmidt with the tolerance
/// R's `lm` uses (1e-7 relative to the column norm).
fn aliased_columns(x: &[f64], n: usize, p: usize) -> Vec<usize> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let mut aliased = Vec::new();
    for j in 0..p {
        let mut v: Vec<f64> = x[j * n..(j + 1) * n].to_vec();
        let norm0 = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        for _ in 0..2 {
            for b in &basis {
                let c = dot(&v, b);
                for (vi, bi) in v.iter_mut().zip(b) {
                    *vi -= c * bi;
                }
            }
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm0 == 0.0 || norm <= 1e-7 * norm0 {
            aliased.push(j);
        } else {
            v.iter_mut().for_each(|a| *a /= norm);
            basis.push(v);
        }
    }
    aliased
}
