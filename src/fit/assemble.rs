//! The fit's result: [`Fit`] (estimates, SEs, MCSEs, ESS, warnings) assembled from the
//! optimum (SPEC §6, §7).

use super::diagnostics::{self, Reviewed, Verdict, BOUNDARY_VARIANCE};
use super::maximise::{Optimum, PathStep, Stage};
use super::vcov::{self, CoefRow};
use crate::integrate::BlockMethod;
use crate::model::blocks::Blocks;
use crate::model::options::{FitOptions, Sampler};
use crate::model::Model;
use crate::start::{Start, StartSource};
use serde::Serialize;

/// Size and effective sample size of one likelihood block at the MCMLE.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockInfo {
    /// Number of random effects in the block.
    pub q: usize,
    /// Number of observations in the block.
    pub n: usize,
    /// Effective sample size `1 / sum_k v_k^2` at the MCMLE (infinite, `null` in
    /// JSON, for a block integrated exactly).
    pub ess: f64,
    /// Draws of the block (0: integrated exactly, no Monte Carlo error).
    pub draws: usize,
    /// How the block was integrated (`quadrature`, `nested_quadrature`,
    /// `sampled_separator`, `sampled_separator_subtrees`, `importance_sample`).
    pub method: BlockMethod,
}

impl BlockInfo {
    /// Whether the block was integrated exactly (no Monte Carlo).
    pub fn is_exact(&self) -> bool {
        self.draws == 0
    }
}

/// Wall-clock seconds of each stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    /// PQL (or start) stage.
    pub start: f64,
    /// Drawing the sample.
    pub sampling: f64,
    /// Trust-region optimisation.
    pub optimisation: f64,
    /// Monte Carlo standard errors.
    pub mcse: f64,
    /// Whole fit.
    pub total: f64,
}

/// A fitted GLMM: estimates and everything needed to draw conclusions from them.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// Fixed-effect names then variance-component names.
    pub parameter_names: Vec<String>,
    /// Number of fixed effects.
    pub p: usize,
    /// The MCMLE theta = (beta, nu).
    pub theta: Vec<f64>,
    /// True log-likelihood approximation (with the data constants, comparable with lme4/glmmTMB).
    pub loglik: f64,
    /// R glmm's reported value (without the data constants).
    pub loglik_glmm: f64,
    /// Monte Carlo standard error of the log-likelihood approximation at the
    /// estimate, `sqrt(sum_b (1/ESS_b - 1/m))` (delta method for the log of a mean
    /// of importance weights).
    pub loglik_mcse: f64,
    /// Gradient of the MCLA at the MCMLE.
    pub gradient: Vec<f64>,
    /// Hessian of the MCLA at the MCMLE (row-major).
    pub hessian: Vec<f64>,
    /// `(-H)^{-1}` (row-major) on the free parameters; the rows and columns of a variance on
    /// the boundary (below [`BOUNDARY_VARIANCE`]) are NaN (not available), and the entries are
    /// infinite when the Hessian of the free parameters is not negative definite.
    pub vcov: Vec<f64>,
    /// Standard errors; NaN (not available: `null` in JSON, `NA` in text, CSV and R) for a
    /// variance on the boundary.
    pub se: Vec<f64>,
    /// Monte Carlo covariance of the estimates (row-major; NaN where `vcov` is).
    pub mcvcov: Vec<f64>,
    /// Monte Carlo standard errors (NaN where `se` is).
    pub mcse: Vec<f64>,
    /// Whether the optimiser converged: its stopping test held at a stationary point of the
    /// MCLA and the MLE exists (see [`crate::fit::diagnostics`]).
    pub converged: bool,
    /// Which of the optimiser's tests stopped it, in words.
    pub stop_reason: String,
    /// Fixed-effect columns or levels whose estimates head to infinity (separation); empty when
    /// the MLE exists.
    pub separation: Vec<String>,
    /// Trust-region iterations.
    pub iterations: usize,
    /// The optimiser path.
    pub path: Vec<PathStep>,
    /// The SPEC §12 estimator's stages (m, iterations, evaluations, seconds), one per m that
    /// automatic m tried; empty for a fixed sample.
    pub stages: Vec<Stage>,
    /// Likelihood blocks with their ESS.
    pub blocks: Vec<BlockInfo>,
    /// Number of observations.
    pub n: usize,
    /// Monte Carlo sample size per sampled block (the one reached, with automatic m).  When no
    /// block was sampled (every block integrated exactly, [`Fit::is_exact`]) it is the m asked
    /// for, and no draw was made.
    pub m: usize,
    /// Whether m was chosen automatically (`--m auto`).
    pub m_auto: bool,
    /// Seed.
    pub seed: u64,
    /// Worker threads used.
    pub threads: usize,
    /// Sampler.
    pub sampler: Sampler,
    /// How the adaptive estimator's separator draws were made (its Monte Carlo error is
    /// estimated accordingly: over the Sobol' randomisations, the antithetic pairs or the
    /// draws); meaningful when a block was sampled by the adaptive sampler.
    pub draws: crate::integrate::standard_draws::DrawScheme,
    /// Gauss–Hermite nodes per integrated effect (the adaptive sampler's K; per level of a
    /// nested block).
    pub quadrature_nodes: usize,
    /// Whether samples were regenerated instead of stored.
    pub low_memory: bool,
    /// Family name.
    pub family: String,
    /// Link name.
    pub link: String,
    /// Start source and values.
    pub start_source: StartSource,
    /// theta0.
    pub start_theta: Vec<f64>,
    /// The random effects of the start, `u* = A* s*` (SPEC §3; R glmm's `u.pql`), one per
    /// random effect in model order: the PQL predictions when PQL ran, zeros otherwise.
    pub start_u: Vec<f64>,
    /// Warnings a user must see.
    pub warnings: Vec<String>,
    /// Stage timings.
    pub timings: Timings,
    /// Random-effect predictions `E[u | y]`, `SD[u | y]` at theta-hat (the adaptive estimator:
    /// from at most its first 1,024 draws, with their MCSE), one per random effect
    /// in model order (empty when they could not be computed).
    pub ranef: Vec<crate::integrate::RanefRow>,
}

/// ESS below which a block's Monte Carlo standard errors are not trustworthy.
pub const ESS_WARNING: f64 = 100.0;

impl Fit {
    /// Fixed effects `beta_hat`.
    pub fn coef(&self) -> &[f64] {
        &self.theta[..self.p]
    }
    /// Variance components `nu_hat`.
    pub fn varcomps(&self) -> &[f64] {
        &self.theta[self.p..]
    }
    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.theta.len()
    }
    /// Index of a parameter by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.parameter_names.iter().position(|n| n == name)
    }
    /// Wald intervals `est ± z_{(1+level)/2} se` for the named parameters (all when `names` is empty).
    /// Unknown names are reported back as an error listing the valid ones.
    pub fn confint(&self, level: f64, names: &[&str]) -> Result<Vec<(String, f64, f64)>, String> {
        if !(level > 0.0 && level < 1.0) {
            return Err(format!(
                "confidence level must be strictly between 0 and 1 (got {level})"
            ));
        }
        let z = vcov::wald_quantile(level);
        let idx: Vec<usize> = if names.is_empty() {
            (0..self.dim()).collect()
        } else {
            names
                .iter()
                .map(|n| {
                    self.index_of(n).ok_or_else(|| {
                        format!(
                            "unknown parameter '{n}'; parameters are: {}",
                            self.parameter_names.join(", ")
                        )
                    })
                })
                .collect::<Result<_, _>>()?
        };
        Ok(idx
            .into_iter()
            .map(|j| {
                (
                    self.parameter_names[j].clone(),
                    self.theta[j] - z * self.se[j],
                    self.theta[j] + z * self.se[j],
                )
            })
            .collect())
    }
    /// Fixed-effects table (two-sided z tests).
    pub fn fixed_table(&self) -> Vec<CoefRow> {
        self.table(0..self.p, false)
    }
    /// Variance-components table (one-tailed tests).
    pub fn varcomps_table(&self) -> Vec<CoefRow> {
        self.table(self.p..self.dim(), true)
    }
    fn table(&self, params: std::ops::Range<usize>, one_sided: bool) -> Vec<CoefRow> {
        params
            .map(|j| {
                vcov::coef_row(
                    &self.parameter_names[j],
                    self.theta[j],
                    self.se[j],
                    self.mcse[j],
                    one_sided,
                )
            })
            .collect()
    }
    /// Whether every block was integrated exactly (by quadrature): no draws, MCSE 0, `m` unused.
    pub fn is_exact(&self) -> bool {
        self.blocks.iter().all(BlockInfo::is_exact)
    }
    /// Whether `loglik_mcse` estimates the Monte Carlo error of the log-likelihood: every sampled
    /// block has an ESS of at least [`ESS_WARNING`] (at m = 1 the delta-method value is 0 and
    /// means nothing).  True for an exact fit (MCSE 0, no draws).
    pub fn loglik_mcse_trustworthy(&self) -> bool {
        self.blocks
            .iter()
            .filter(|b| !b.is_exact())
            .all(|b| b.ess >= ESS_WARNING)
    }
    /// Smallest block ESS.
    pub fn min_ess(&self) -> f64 {
        self.blocks
            .iter()
            .map(|b| b.ess)
            .fold(f64::INFINITY, f64::min)
    }

    /// Smallest ESS as a fraction of the block's own draws over the sampled blocks (blocks get
    /// their own m under automatic m's allocation); 1 when every block is exact.
    pub fn min_ess_fraction(&self) -> f64 {
        self.blocks
            .iter()
            .filter(|b| b.draws > 0)
            .map(|b| b.ess / b.draws as f64)
            .fold(1.0, f64::min)
    }
}

/// Four significant digits, in scientific notation when small, for numbers in messages.
fn short(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// Inference at the optimum: vcov, SE, MCSE, ESS and warnings.
pub fn assemble(
    model: &Model,
    blocks: &Blocks,
    opt: Optimum,
    options: &FitOptions,
    threads: usize,
    st: &Start,
) -> Fit {
    let d = model.n_params();
    let ev = &opt.evaluation;
    let mut warnings = Vec::new();
    if !opt.converged {
        warnings.push(format!(
            "the trust-region optimiser did NOT converge in {} iterations: the estimates are not the MCMLE. Rerun with --par-init {} and a larger m (or a larger iterlim)",
            opt.iterations,
            opt.theta.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(",")
        ));
    }
    // A variance on the boundary (essentially 0) has no Wald standard error, and its row of the
    // Hessian is degenerate there: invert on the free parameters only, the boundary variances
    // held at their estimates (as lme4 conditions on the variance parameters); their SE and
    // MCSE are NaN, "not available".
    let boundary: Vec<usize> = (model.p()..d)
        .filter(|&j| opt.theta[j] < BOUNDARY_VARIANCE)
        .collect();
    let free: Vec<usize> = (0..d).filter(|j| !boundary.contains(j)).collect();
    let not_available = |mut v: Vec<f64>| {
        for &j in &boundary {
            v[j] = f64::NAN;
        }
        v
    };
    let (vcov, se) = match vcov::vcov_on_free(&ev.hessian, d, &free) {
        Some(v) => {
            let se = vcov::sqrt_diag(&v, d);
            (v, se)
        }
        None => {
            warnings.push(format!(
                "the Hessian of the MCLA at the estimate is singular or not negative definite{}: standard errors are infinite (the estimate may be on a boundary, e.g. a variance near 0, or m is too small)",
                if boundary.is_empty() { "" } else { " even without the variances on the boundary" }
            ));
            (
                vcov::embed(&vec![f64::INFINITY; free.len() * free.len()], d, &free),
                not_available(vec![f64::INFINITY; d]),
            )
        }
    };
    let (mcvcov, mcse) = if free.iter().all(|&j| se[j].is_finite()) {
        let sub = vcov::mc_vcov(
            &vcov::submatrix(&vcov, d, &free),
            &vcov::submatrix(&ev.mc_v, d, &free),
            free.len(),
        );
        let mv = vcov::embed(&sub, d, &free);
        let ms = vcov::sqrt_diag(&mv, d);
        (mv, ms)
    } else {
        (
            vcov::embed(&vec![f64::INFINITY; free.len() * free.len()], d, &free),
            not_available(vec![f64::INFINITY; d]),
        )
    };
    let block_info: Vec<BlockInfo> = blocks
        .blocks
        .iter()
        .zip(&ev.blocks)
        .map(|(b, s)| BlockInfo {
            q: b.q(),
            n: b.n(),
            ess: s.ess,
            draws: s.draws,
            method: s.method,
        })
        .collect();
    if let Some(w) = ess_warning(&block_info, options) {
        warnings.push(w);
    }
    for (t, name) in model.varcomps_names().iter().enumerate() {
        let nu = opt.theta[model.p() + t];
        if nu < BOUNDARY_VARIANCE {
            warnings.push(format!(
                "variance component {name} is essentially zero ({nu:.3e}): the estimate is on the boundary of the parameter space (a singular fit), so its standard error is not available (NA) and it has no Wald z value or p-value; the other parameters' standard errors are computed with it held at its estimate (the Hessian inverted on the free parameters). Test it with a likelihood-ratio test (mcla compare) or drop that random effect"
            ));
        }
    }
    for (j, name) in model.parameter_names().iter().enumerate() {
        if mcse[j].is_finite() && se[j].is_finite() && mcse[j] > 0.2 * se[j] {
            warnings.push(format!(
                "the Monte Carlo standard error of {name} ({}) is more than 20% of its standard error ({}): increase m",
                short(mcse[j]),
                short(se[j])
            ));
        }
    }
    let mut fit = Fit {
        parameter_names: model.parameter_names(),
        p: model.p(),
        loglik: ev.value + model.data_constant(),
        loglik_glmm: ev.value,
        loglik_mcse: ev
            .blocks
            .iter()
            .filter(|b| b.draws > 0)
            .map(|b| b.loglik_var)
            .fold(0.0, |a, b| a + b)
            .sqrt(),
        gradient: ev.gradient.clone(),
        hessian: ev.hessian.clone(),
        theta: opt.theta,
        vcov,
        se,
        mcvcov,
        mcse,
        converged: opt.converged,
        stop_reason: opt.stop.describe().to_string(),
        separation: Vec::new(),
        iterations: opt.iterations,
        path: opt.path,
        stages: opt.stages,
        blocks: block_info,
        n: model.n(),
        m: ev.blocks.iter().map(|b| b.draws).max().unwrap_or(0),
        m_auto: options.auto_m.is_some(),
        seed: options.seed,
        threads,
        sampler: options.sampler,
        draws: options.draws,
        quadrature_nodes: options.quadrature_nodes,
        low_memory: options.low_memory,
        family: model.family().name().into(),
        link: model.family().link().into(),
        start_source: st.source,
        start_theta: st.theta.clone(),
        start_u: st.centre.u_star.clone(),
        warnings,
        timings: Timings::default(),
        ranef: Vec::new(),
    };
    let mut verdict = Verdict {
        converged: fit.converged,
        separation: std::mem::take(&mut fit.separation),
        warnings: std::mem::take(&mut fit.warnings),
    };
    let reviewed = Reviewed {
        theta: &fit.theta,
        gradient: &fit.gradient,
        hessian: &fit.hessian,
        loglik: fit.loglik,
        iterations: fit.iterations,
        stop_reason: &fit.stop_reason,
        start_source: fit.start_source,
        start_theta: &fit.start_theta,
    };
    diagnostics::review(model, options, &reviewed, &mut verdict);
    fit.converged = verdict.converged;
    fit.separation = verdict.separation;
    fit.warnings = verdict.warnings;
    fit
}

/// The low-ESS warning: how many blocks, the worst few, and the remedy (one short line even
/// for thousands of blocks).
fn ess_warning(blocks: &[BlockInfo], options: &FitOptions) -> Option<String> {
    let mut low: Vec<(usize, f64)> = blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| !(b.ess >= ESS_WARNING))
        .map(|(i, b)| (i, b.ess))
        .collect();
    if low.is_empty() {
        return None;
    }
    low.sort_by(|a, b| a.1.total_cmp(&b.1));
    let worst: Vec<String> = low
        .iter()
        .take(5)
        .map(|(i, e)| format!("block {} (ESS {:.1})", i + 1, e))
        .collect();
    let which = if low.len() <= 5 {
        worst.join(", ")
    } else {
        format!(
            "{} of {} blocks (worst: {})",
            low.len(),
            blocks.len(),
            worst.join(", ")
        )
    };
    Some(format!(
        "effective sample size below {ESS_WARNING} in {which}: the importance weights are degenerate, so the Monte Carlo standard errors are NOT trustworthy and the estimates may be far from the MLE; increase m{}",
        if options.sampler != Sampler::Adaptive { " or use the adaptive sampler (the default)" } else { "" }
    ))
}
