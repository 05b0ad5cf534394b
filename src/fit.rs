//! The fitting pipeline and its result (SPEC §3–§7).
//!
//! Stages, each a public value: [`start`] (PQL or user values) →
//! [`Blocks::new`] → [`ImportanceSample::draw`] → [`Mcla`] objective →
//! [`maximise`] (R trust semantics, in `mcla-trust`) → [`Fit`] with inference.
//! [`fit`] runs them all inside a thread pool of the requested size.

use crate::blocks::Blocks;
use crate::inference::{self, CoefRow};
use crate::integrate::adaptive::AdaptiveSettings;
use crate::integrate::{BlockIntegrator, IntegratorError, Objective};
use crate::model::Model;
use crate::objective::{McEvaluation, Mcla};
use crate::options::{CheckedOptions, FitOptions, OptionsError, Sampler};
use crate::pql::{pql, PqlError, PqlStart};
use crate::ranef::BlockMoments;
use crate::sampler::{ImportanceCentre, ImportanceSample, SamplerError};
use mcla_trust::{maximize, Evaluation, TrustOptions};
use serde::Serialize;
use std::time::Instant;
use thiserror::Error;

/// Errors of a fit (model problems are caught earlier, by [`Model::new`]).
#[derive(Debug, Error)]
pub enum FitError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Pql(#[from] PqlError),
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    #[error(transparent)]
    Integrator(#[from] IntegratorError),
    #[error("the MCLA is not finite at the starting values {start:?}: the start is outside the parameter space or every importance weight underflows; try --par-init with plausible values or a larger m")]
    BadStart { start: Vec<f64> },
    #[error("the trust-region optimiser failed: {0}")]
    Optimiser(String),
    #[error("the adaptive estimator's per-draw results at m = {m} need about {needed_gb:.1} GB but only {available_gb:.1} GB of memory is available: use a smaller m (or --m auto, which stops when the Monte Carlo error is small)")]
    AdaptiveTooLarge {
        m: usize,
        needed_gb: f64,
        available_gb: f64,
    },
    #[error("could not start {threads} worker threads: {why}")]
    Threads { threads: usize, why: String },
    #[error("storing the Monte Carlo sample needs about {needed_gb:.1} GB but only {available_gb:.1} GB of memory is available: use --low-memory (samples regenerated as needed, identical results, memory independent of m) or a smaller m")]
    TooLarge { needed_gb: f64, available_gb: f64 },
}

/// Bytes the stored sample of `blocks` needs at `m` draws per block: the draws, `log f~`
/// and the sums of squares, 8 bytes each.
pub fn stored_sample_bytes(model: &Model, blocks: &Blocks, m: usize) -> f64 {
    let per_draw: usize = blocks
        .blocks
        .iter()
        .map(|b| b.q() + model.n_varcomps() + 1)
        .sum();
    8.0 * per_draw as f64 * m.div_ceil(crate::sampler::CHUNK) as f64 * crate::sampler::CHUNK as f64
}

/// Memory available to this process, if known: the tightest of the system's `MemAvailable`,
/// the cgroup memory limit (v2 `memory.max` less `memory.current`, or v1
/// `memory.limit_in_bytes` less `memory.usage_in_bytes`) and the address-space limit
/// (`ulimit -v`, less the address space already mapped).  Linux only; `None` elsewhere.
pub fn available_memory_bytes() -> Option<f64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let mut limits: Vec<f64> = Vec::new();
    if let Some(info) = read("/proc/meminfo") {
        if let Some(kb) = field_kb(&info, "MemAvailable:") {
            limits.push(kb * 1024.0);
        }
    }
    // cgroup v2 (the process's own cgroup, as listed in /proc/self/cgroup) or v1
    let cg_dir = read("/proc/self/cgroup")
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("0::").map(|p| p.trim().to_string()))
        })
        .map(|p| format!("/sys/fs/cgroup{}", if p == "/" { "" } else { &p }));
    let number = |p: &str| read(p).and_then(|t| t.trim().parse::<f64>().ok());
    let mut cgroup = None;
    if let Some(dir) = &cg_dir {
        if let Some(max) = number(&format!("{dir}/memory.max")) {
            let cur = number(&format!("{dir}/memory.current")).unwrap_or(0.0);
            cgroup = Some(max - cur);
        }
    }
    if cgroup.is_none() {
        if let Some(max) = number("/sys/fs/cgroup/memory.max") {
            cgroup = Some(max - number("/sys/fs/cgroup/memory.current").unwrap_or(0.0));
        } else if let Some(max) = number("/sys/fs/cgroup/memory/memory.limit_in_bytes") {
            // v1 reports "no limit" as a huge number
            if max < 1e18 {
                let cur = number("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0.0);
                cgroup = Some(max - cur);
            }
        }
    }
    limits.extend(cgroup);
    // ulimit -v: "Max address space" in /proc/self/limits (bytes, or "unlimited")
    if let Some(lim) = read("/proc/self/limits") {
        let soft = lim
            .lines()
            .find(|l| l.starts_with("Max address space"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(soft) = soft {
            let used = read("/proc/self/status")
                .and_then(|st| field_kb(&st, "VmSize:"))
                .map(|kb| kb * 1024.0)
                .unwrap_or(0.0);
            limits.push(soft - used);
        }
    }
    limits
        .into_iter()
        .filter(|v| !v.is_nan())
        .map(|v| v.max(0.0))
        .reduce(f64::min)
}

/// The number of kB on the line of `text` that starts with `key` (`/proc` format).
fn field_kb(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Where the starting values and importance centre came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartSource {
    /// Penalized quasi-likelihood (SPEC §3).
    Pql,
    /// User values (`par_init`), with `u* = 0`.
    ParInit,
    /// `beta = 0`, `nu = 1`, `u* = 0` (`do_pql = false`).
    Default,
}

/// Starting values: theta0 and the importance distribution's centre.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// Where they came from.
    pub source: StartSource,
    /// theta0 = (beta, nu).
    pub theta: Vec<f64>,
    /// Centre of the importance distribution.
    pub centre: ImportanceCentre,
    /// The PQL result, when PQL ran.
    pub pql: Option<PqlStart>,
}

/// Compute the start (SPEC §3): PQL unless `par_init` is given or `do_pql` is false.
pub fn start(model: &Model, options: &CheckedOptions) -> Result<Start, FitError> {
    let (p, q) = (model.p(), model.q());
    let comp = model.effect_component();
    if let Some(init) = &options.par_init {
        let nu = &init[p..];
        return Ok(Start {
            source: StartSource::ParInit,
            theta: init.clone(),
            centre: ImportanceCentre {
                beta: init[..p].to_vec(),
                u_star: vec![0.0; q],
                d_star: comp.iter().map(|&t| nu[t]).collect(),
            },
            pql: None,
        });
    }
    if !options.do_pql {
        let mut theta = vec![0.0; p];
        theta.extend(std::iter::repeat_n(1.0, model.n_varcomps()));
        return Ok(Start {
            source: StartSource::Default,
            theta,
            centre: ImportanceCentre {
                beta: vec![0.0; p],
                u_star: vec![0.0; q],
                d_star: vec![1.0; q],
            },
            pql: None,
        });
    }
    let s = pql(model)?;
    let mut theta = s.beta.clone();
    theta.extend(&s.nu);
    Ok(Start {
        source: StartSource::Pql,
        theta,
        centre: ImportanceCentre {
            beta: s.beta.clone(),
            u_star: s.u_star.clone(),
            d_star: comp.iter().map(|&t| s.nu[t]).collect(),
        },
        pql: Some(s),
    })
}

/// Progress events, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// PQL started.
    Pql,
    /// Drawing the importance sample (`total` draws over all blocks).
    Sampling { total: usize },
    /// One trust-region iteration finished.
    Iteration { iteration: usize, loglik: f64 },
    /// Computing Monte Carlo standard errors.
    Mcse,
}

/// One trust-region iteration, as recorded in the fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathStep {
    /// Iteration number (from 1).
    pub iteration: usize,
    /// Current theta after the acceptance decision.
    pub theta: Vec<f64>,
    /// R glmm's objective value there.
    pub value: f64,
    /// Trust radius used.
    pub radius: f64,
    /// Actual / predicted change.
    pub rho: f64,
    /// Whether the trial was accepted.
    pub accepted: bool,
}

/// Result of the optimisation stage.
#[derive(Debug, Clone)]
pub struct Optimum {
    /// The MCMLE.
    pub theta: Vec<f64>,
    /// The MCLA there.
    pub evaluation: McEvaluation,
    /// Whether the trust region terminated before `iterlim`.
    pub converged: bool,
    /// Which of the optimiser's tests stopped it.
    pub stop: mcla_trust::StopReason,
    /// Iterations used.
    pub iterations: usize,
    /// The optimiser path.
    pub path: Vec<PathStep>,
}

/// The MCLA as a trust-region objective.  Every evaluation is kept, keyed by the exact
/// bits of theta, so the start check, the optimiser's first evaluation and the final
/// point's full evaluation (with its Monte Carlo error pieces) cost one pass each.
struct TrustAdapter<'o> {
    objective: &'o dyn BlockIntegrator,
    evaluated: Vec<(Vec<u64>, Option<McEvaluation>)>,
}

impl TrustAdapter<'_> {
    fn get(&mut self, x: &[f64]) -> Option<McEvaluation> {
        let key: Vec<u64> = x.iter().map(|v| v.to_bits()).collect();
        if let Some((_, e)) = self.evaluated.iter().find(|(k, _)| *k == key) {
            return e.clone();
        }
        let e = self.objective.evaluate(x);
        self.evaluated.push((key, e.clone()));
        e
    }
}

impl mcla_trust::Objective for TrustAdapter<'_> {
    type Error = std::convert::Infallible;
    fn evaluate(&mut self, x: &[f64]) -> Result<Option<Evaluation>, Self::Error> {
        Ok(self
            .get(x)
            .map(|e| Evaluation::new(e.value, e.gradient, e.hessian)))
    }
}

/// Maximise the likelihood approximation from `theta0` with R trust semantics.
/// The returned evaluation is the objective's at the optimum (its trust-region
/// model Hessian); [`Objective::final_evaluation`] gives the one to report.
pub fn maximise(
    objective: &dyn BlockIntegrator,
    theta0: &[f64],
    options: &FitOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Optimum, FitError> {
    let topts = TrustOptions {
        rinit: options.rinit,
        rmax: options.rmax,
        iterlim: options.iterlim,
        ..TrustOptions::default()
    };
    let mut adapter = TrustAdapter {
        objective,
        evaluated: Vec::new(),
    };
    if adapter.get(theta0).is_none() {
        return Err(FitError::BadStart {
            start: theta0.to_vec(),
        });
    }
    let mut path = Vec::new();
    let mut observer = |it: &mcla_trust::Iteration| {
        path.push(PathStep {
            iteration: it.iteration,
            theta: it.x.clone(),
            value: it.value,
            radius: it.radius,
            rho: it.rho,
            accepted: it.accepted,
        });
        progress(Progress::Iteration {
            iteration: it.iteration,
            loglik: it.value,
        });
    };
    let res = maximize(&mut adapter, theta0, &topts, Some(&mut observer))
        .map_err(|e| FitError::Optimiser(e.to_string()))?;
    let evaluation = adapter
        .get(&res.x)
        .ok_or_else(|| FitError::Optimiser("the MCLA is not finite at the final point".into()))?;
    Ok(Optimum {
        theta: res.x,
        evaluation,
        converged: res.converged,
        stop: res.stop,
        iterations: res.iterations,
        path,
    })
}

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
    /// `(-H)^{-1}` (row-major); infinite entries when the Hessian is not negative definite.
    pub vcov: Vec<f64>,
    /// Standard errors.
    pub se: Vec<f64>,
    /// Monte Carlo covariance of the estimates (row-major).
    pub mcvcov: Vec<f64>,
    /// Monte Carlo standard errors.
    pub mcse: Vec<f64>,
    /// Whether the optimiser converged: its stopping test held at a stationary point of the
    /// MCLA and the MLE exists (see [`crate::diagnostics`]).
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
    /// Likelihood blocks with their ESS.
    pub blocks: Vec<BlockInfo>,
    /// Number of observations.
    pub n: usize,
    /// Monte Carlo sample size per block (the one reached, with automatic m).
    pub m: usize,
    /// Whether m was chosen automatically (`--m auto`).
    pub m_auto: bool,
    /// Seed.
    pub seed: u64,
    /// Worker threads used.
    pub threads: usize,
    /// Sampler.
    pub sampler: Sampler,
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
    /// Warnings a user must see.
    pub warnings: Vec<String>,
    /// Stage timings.
    pub timings: Timings,
    /// Random-effect predictions `E[u | y]`, `SD[u | y]` at theta-hat, one per random effect
    /// in model order (empty when they could not be computed).
    pub ranef: Vec<crate::ranef::RanefRow>,
}

/// A variance component below this is reported as on the boundary (a singular fit).
pub const BOUNDARY_VARIANCE: f64 = 1e-4;

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
        let z = inference::wald_quantile(level);
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
                inference::coef_row(
                    &self.parameter_names[j],
                    self.theta[j],
                    self.se[j],
                    self.mcse[j],
                    one_sided,
                )
            })
            .collect()
    }
    /// Smallest block ESS.
    pub fn min_ess(&self) -> f64 {
        self.blocks
            .iter()
            .map(|b| b.ess)
            .fold(f64::INFINITY, f64::min)
    }
}

/// Fit `model` with `options`: the whole pipeline.
///
/// ```
/// use mcla::{fit, Csr, Family, FitOptions, Model, ModelSpec, RandomBlock};
/// // 8 groups of 6 Bernoulli trials with a random intercept
/// let (groups, per) = (8usize, 6usize);
/// let n = groups * per;
/// // group g has g - 1 successes of 6 (clear between-group variation)
/// let y: Vec<f64> = (0..n).map(|i| ((i % per) + 1 < i / per + 1) as u8 as f64).collect();
/// let trip: Vec<_> = (0..n).map(|i| (i, i / per, 1.0)).collect();
/// let model = Model::new(ModelSpec {
///     y, trials: None, x: vec![1.0; n], x_names: vec!["(Intercept)".into()],
///     random: vec![RandomBlock { names: (1..=groups).map(|g| format!("g{g}")).collect(),
///                                z: Csr::from_triplets(n, groups, &trip).unwrap() }],
///     varcomps_equal: None, varcomps_names: vec!["g".into()],
///     family: Family::Bernoulli, weights: None,
/// }).unwrap();
/// let f = fit(&model, &FitOptions { m: 2000, threads: Some(1), ..FitOptions::default() }).unwrap();
/// assert!(f.converged);
/// assert_eq!(f.parameter_names, ["(Intercept)", "g"]);
/// assert!(f.varcomps()[0] > 0.0 && f.se[0].is_finite());
/// ```
pub fn fit(model: &Model, options: &FitOptions) -> Result<Fit, FitError> {
    fit_with_progress(model, options, &mut |_| {})
}

/// [`fit`], reporting progress.
pub fn fit_with_progress(
    model: &Model,
    options: &FitOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Fit, FitError> {
    let mut checked = options.check(model)?;
    // A level (column) that proves the MLE is at infinity would make the optimiser crawl after
    // it for hundreds of iterations: cap them; the fit is reported as separated.
    if checked.0.iterlim > crate::diagnostics::SEPARATION_ITERLIM
        && !crate::diagnostics::separation_certificate(model).is_empty()
    {
        checked.0.iterlim = crate::diagnostics::SEPARATION_ITERLIM;
    }
    let threads = options
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .min(crate::options::max_threads());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| FitError::Threads {
            threads,
            why: e.to_string(),
        })?;
    pool.install(|| fit_in_pool(model, &checked, threads, progress))
}

fn fit_in_pool(
    model: &Model,
    options: &CheckedOptions,
    threads: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<Fit, FitError> {
    let t0 = Instant::now();
    let mut timings = Timings::default();
    if options.par_init.is_none() && options.do_pql {
        progress(Progress::Pql);
    }
    let st = start(model, options)?;
    timings.start = t0.elapsed().as_secs_f64();
    let blocks = Blocks::new(model, options.sampler);
    let (opt, m, ranef) = if options.sampler == Sampler::Adaptive {
        fit_adaptive(model, &blocks, options, &st, &mut timings, progress)?
    } else {
        let t1 = Instant::now();
        if !options.low_memory {
            let needed = stored_sample_bytes(model, &blocks, options.m);
            let avail = available_memory_bytes();
            if let Some(avail) = avail {
                if needed > 0.9 * avail {
                    return Err(FitError::TooLarge {
                        needed_gb: needed / 1e9,
                        available_gb: avail / 1e9,
                    });
                }
            }
            // A limit this check cannot see still makes the allocation fail: ask for the whole
            // amount once, fallibly, so that it is the same clear error and not an abort.
            let mut probe: Vec<u8> = Vec::new();
            if probe.try_reserve_exact(needed as usize).is_err() {
                return Err(FitError::TooLarge {
                    needed_gb: needed / 1e9,
                    available_gb: avail.unwrap_or(0.0) / 1e9,
                });
            }
            drop(probe);
        }
        progress(Progress::Sampling {
            total: options.m * blocks.blocks.len(),
        });
        let sample = ImportanceSample::draw(
            model,
            &blocks,
            &st.centre,
            options.m,
            options.seed,
            options.mixture,
            options.zeta,
            options.low_memory,
        )?;
        timings.sampling = t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        let mcla = Mcla::new(model, &blocks, &sample)
            .with_centred_mcse(options.sampler == Sampler::Factorised);
        let objective = Objective::new(model, vec![Box::new(mcla)]);
        let opt = maximise(&objective, &st.theta, options, progress)?;
        timings.optimisation = t2.elapsed().as_secs_f64();
        let ranef = objective.posterior_moments(&opt.theta);
        (opt, options.m, ranef)
    };
    let t3 = Instant::now();
    progress(Progress::Mcse);
    let mut fit = assemble(model, &blocks, opt, options, threads, &st);
    fit.m = m;
    fit.m_auto = options.auto_m.is_some();
    if let Some(auto) = options
        .auto_m
        .filter(|_| options.sampler == Sampler::Adaptive)
    {
        if m >= auto.max && !auto_targets_met(&fit, &auto) {
            fit.warnings.push(format!(
                "automatic m stopped at its maximum ({m} draws per block) before every MCSE was below {} x its SE and the log-likelihood MCSE below {}: the Monte Carlo error is larger than targeted",
                auto.mcse_ratio, auto.loglik_mcse
            ));
        }
    }
    fit.ranef = ranef
        .map(|moments| crate::ranef::ranef_rows(model, &blocks, &moments))
        .unwrap_or_default();
    timings.mcse += t3.elapsed().as_secs_f64();
    timings.total = t0.elapsed().as_secs_f64();
    fit.timings = timings;
    Ok(fit)
}

/// Whether a fit meets the automatic-m targets.
fn auto_targets_met(fit: &Fit, auto: &crate::options::AutoM) -> bool {
    auto_growth(fit, auto) <= 1.0
}

/// The factor by which m must grow to meet the automatic-m targets (MCSE falls as
/// `1/sqrt(m)`): the largest `(MCSE / target)^2` over the parameters and the
/// log-likelihood; infinite when an MCSE is not finite.
fn auto_growth(fit: &Fit, auto: &crate::options::AutoM) -> f64 {
    let mut g = (fit.loglik_mcse / auto.loglik_mcse).powi(2);
    for (mc, se) in fit.mcse.iter().zip(&fit.se) {
        let r = mc / (auto.mcse_ratio * se);
        g = g.max(if r.is_finite() { r * r } else { f64::INFINITY });
    }
    g
}

/// The next sample size: at least double, else the predicted need (with 10 % to spare)
/// rounded up to a power-of-two multiple of m, at most `max`.
fn next_m(m: usize, growth: f64, max: usize) -> usize {
    let mut next = 2 * m;
    while (next as f64) < 1.1 * growth * m as f64 && next < max {
        next *= 2;
    }
    next.min(max)
}

/// The SPEC §12 estimator, with m fixed or doubled until the targets are met
/// (the draws already made are kept: chunk streams do not depend on m).  Returns
/// the optimum with its reported evaluation (difference Hessian) and the m used.
fn fit_adaptive(
    model: &Model,
    blocks: &Blocks,
    options: &CheckedOptions,
    st: &Start,
    timings: &mut Timings,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Optimum, usize, Option<Vec<BlockMoments>>), FitError> {
    let settings = AdaptiveSettings {
        nodes: options.quadrature_nodes,
        ..AdaptiveSettings::default()
    };
    let t2 = Instant::now();
    let mut m = options.auto_m.map_or(options.m, |a| a.start);
    let avail = available_memory_bytes();
    let mut theta0 = st.theta.clone();
    let mut path = Vec::new();
    let mut iterations = 0;
    loop {
        let objective =
            Objective::adaptive(model, blocks, m, options.seed, &st.centre.u_star, settings)?;
        // per-draw results kept during an evaluation: a log weight and two score vectors per
        // draw, for every block with a separator (blocks are evaluated in parallel)
        let needed =
            8.0 * (1 + 2 * model.n_params()) as f64 * objective.sampled_parts() as f64 * m as f64;
        if avail.is_some_and(|a| needed > 0.9 * a) || needed > 1e15 {
            return Err(FitError::AdaptiveTooLarge {
                m,
                needed_gb: needed / 1e9,
                available_gb: avail.unwrap_or(0.0) / 1e9,
            });
        }
        progress(Progress::Sampling {
            total: m * blocks.blocks.len(),
        });
        let mut opt = maximise(&objective, &theta0, options, progress)?;
        iterations += opt.iterations;
        path.append(&mut opt.path);
        // decide on the trust-region model's Hessian (within a few per cent)
        let mut growth = 1.0;
        let last = match options.auto_m {
            None => true,
            Some(auto) => {
                m >= auto.max || objective.draws() == 0 || {
                    let probe = assemble(model, blocks, opt.clone(), options, 1, st);
                    growth = auto_growth(&probe, &auto);
                    growth <= 1.0
                }
            }
        };
        if last {
            let t3 = Instant::now();
            progress(Progress::Mcse);
            let final_eval = objective.final_evaluation(&opt.theta).ok_or_else(|| {
                FitError::Optimiser(
                    "the likelihood approximation is not finite near the final point".into(),
                )
            })?;
            opt.evaluation = final_eval;
            let accept = match options.auto_m {
                Some(auto) if m < auto.max && objective.draws() > 0 => {
                    let probe = assemble(model, blocks, opt.clone(), options, 1, st);
                    growth = auto_growth(&probe, &auto);
                    growth <= 1.0
                }
                _ => true,
            };
            timings.mcse += t3.elapsed().as_secs_f64();
            if accept {
                opt.iterations = iterations;
                opt.path = path;
                timings.optimisation = t2.elapsed().as_secs_f64() - timings.mcse;
                let ranef = objective.posterior_moments(&opt.theta);
                return Ok((opt, m, ranef));
            }
        }
        theta0 = opt.theta.clone();
        let max = options.auto_m.map_or(m, |a| a.max);
        m = next_m(m, growth, max);
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
    let (vcov, se) = match inference::vcov_from_hessian(&ev.hessian, d) {
        Some(v) => {
            let se = inference::sqrt_diag(&v, d);
            (v, se)
        }
        None => {
            warnings.push("the Hessian of the MCLA at the estimate is singular or not negative definite: standard errors are infinite (the estimate may be on a boundary, e.g. a variance near 0, or m is too small)".into());
            (vec![f64::INFINITY; d * d], vec![f64::INFINITY; d])
        }
    };
    let (mcvcov, mcse) = if se.iter().all(|s| s.is_finite()) {
        let mv = inference::mc_vcov(&vcov, &ev.mc_v, d);
        let ms = inference::sqrt_diag(&mv, d);
        (mv, ms)
    } else {
        (vec![f64::INFINITY; d * d], vec![f64::INFINITY; d])
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
        })
        .collect();
    if let Some(w) = ess_warning(&block_info, options) {
        warnings.push(w);
    }
    for (t, name) in model.varcomps_names().iter().enumerate() {
        let nu = opt.theta[model.p() + t];
        if nu < BOUNDARY_VARIANCE {
            warnings.push(format!(
                "variance component {name} is essentially zero ({nu:.3e}): the estimate is on the boundary of the parameter space (a singular fit), so its Wald standard error, z value and p-value are not valid; consider dropping that random effect"
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
            .map(|b| (1.0 / b.ess - 1.0 / b.draws as f64).max(0.0))
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
        blocks: block_info,
        n: model.n(),
        m: ev.blocks.iter().map(|b| b.draws).max().unwrap_or(0),
        m_auto: options.auto_m.is_some(),
        seed: options.seed,
        threads,
        sampler: options.sampler,
        low_memory: options.low_memory,
        family: model.family().name().into(),
        link: model.family().link().into(),
        start_source: st.source,
        start_theta: st.theta.clone(),
        warnings,
        timings: Timings::default(),
        ranef: Vec::new(),
    };
    crate::diagnostics::review(model, options, &mut fit);
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
