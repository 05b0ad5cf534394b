//! The fitting pipeline (SPEC §3–§7): start → blocks → integrators → maximise →
//! assemble, inside a thread pool of the requested size.

use super::assemble::{assemble, Fit, Timings};
use super::auto_m::{auto_targets_met, fit_adaptive};
use super::error::FitError;
use super::maximise::maximise_interruptible;
use super::memory::{available_memory_bytes, stored_sample_bytes};
use super::progress::Progress;
use crate::integrate::fixed_sample::sampler::ImportanceSample;
use crate::integrate::fixed_sample::Mcla;
use crate::integrate::{BlockIntegrator, Objective};
use crate::interrupt::Interrupt;
use crate::model::blocks::Blocks;
use crate::model::options::{CheckedOptions, FitOptions, Sampler};
use crate::model::Model;
use crate::start::start;
use std::time::Instant;

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
    fit_interruptible(model, options, progress, &Interrupt::new())
}

/// [`fit_with_progress`] that stops with [`FitError::Interrupted`] within about a second of
/// `interrupt.trigger()` (from another thread: Ctrl-C in R or Python).  It is checked after
/// the start, before and after every objective evaluation, between automatic-m stages and,
/// in the adaptive integrator, before every chunk of draws.
///
/// ```
/// # use mcla::{fit_interruptible, Csr, Family, FitError, FitOptions, Interrupt, Model, ModelSpec, RandomBlock};
/// # let n = 12;
/// # let model = Model::new(ModelSpec {
/// #     y: (0..n).map(|i| (i % 3 == 0) as u8 as f64).collect(), trials: None, x: vec![1.0; n],
/// #     x_names: vec!["(Intercept)".into()],
/// #     random: vec![RandomBlock { names: (0..4).map(|g| format!("g{g}")).collect(),
/// #         z: Csr::from_triplets(n, 4, &(0..n).map(|i| (i, i / 3, 1.0)).collect::<Vec<_>>()).unwrap() }],
/// #     varcomps_equal: None, varcomps_names: vec!["g".into()], family: Family::Bernoulli, weights: None,
/// # }).unwrap();
/// let stop = Interrupt::new();
/// stop.trigger(); // e.g. from a signal handler's thread
/// let res = fit_interruptible(&model, &FitOptions::default(), &mut |_| {}, &stop);
/// assert!(matches!(res, Err(FitError::Interrupted)));
/// ```
pub fn fit_interruptible(
    model: &Model,
    options: &FitOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
    interrupt: &Interrupt,
) -> Result<Fit, FitError> {
    let checked = check_for_fit(model, options)?;
    let threads = options
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .min(crate::model::options::max_threads());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| FitError::Threads {
            threads,
            why: e.to_string(),
        })?;
    pool.install(|| fit_in_pool(model, &checked, threads, progress, interrupt))
}

/// Validate the options and cap the iterations when a separation certificate proves the MLE
/// is at infinity.
fn check_for_fit(model: &Model, options: &FitOptions) -> Result<CheckedOptions, FitError> {
    let mut checked = options.check(model)?;
    // A level (column) that proves the MLE is at infinity would make the optimiser crawl after
    // it for hundreds of iterations: cap them; the fit is reported as separated.
    if checked.0.iterlim > crate::fit::diagnostics::SEPARATION_ITERLIM
        && !crate::fit::diagnostics::separation_certificate(model).is_empty()
    {
        checked.0.iterlim = crate::fit::diagnostics::SEPARATION_ITERLIM;
    }
    Ok(checked)
}

/// [`fit`] on the current rayon pool instead of a pool of its own (the parametric bootstrap
/// runs many refits side by side on one pool; the result does not depend on the pool).
pub(crate) fn fit_in_current_pool(model: &Model, options: &FitOptions) -> Result<Fit, FitError> {
    let checked = check_for_fit(model, options)?;
    fit_in_pool(model, &checked, 1, &mut |_| {}, &Interrupt::new())
}

fn fit_in_pool(
    model: &Model,
    options: &CheckedOptions,
    threads: usize,
    progress: &mut dyn FnMut(Progress),
    interrupt: &Interrupt,
) -> Result<Fit, FitError> {
    let t0 = Instant::now();
    let mut timings = Timings::default();
    if options.par_init.is_none() && options.do_pql {
        progress(Progress::Pql);
    }
    let st = start(model, options)?;
    if interrupt.is_triggered() {
        return Err(FitError::Interrupted);
    }
    timings.start = t0.elapsed().as_secs_f64();
    let blocks = Blocks::new(model, options.sampler);
    let mut stage_warnings = Vec::new();
    let (opt, m, ranef) = if options.sampler == Sampler::Adaptive {
        fit_adaptive(
            model,
            &blocks,
            options,
            &st,
            &mut timings,
            &mut stage_warnings,
            progress,
            interrupt,
        )?
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
        let mut objective = Objective::new(model, vec![Box::new(mcla)]);
        objective.watch(interrupt);
        let opt = maximise_interruptible(&objective, &st.theta, options, progress, interrupt)?;
        timings.optimisation = t2.elapsed().as_secs_f64();
        let ranef = objective.posterior_moments(&opt.theta);
        (opt, options.m, ranef)
    };
    let t3 = Instant::now();
    progress(Progress::Mcse);
    let mut fit = assemble(model, &blocks, opt, options, threads, &st);
    fit.warnings.extend(stage_warnings);
    fit.m = m;
    fit.m_auto = options.auto_m.is_some();
    if let Some(auto) = options
        .auto_m
        .filter(|_| options.sampler == Sampler::Adaptive)
    {
        if !auto_targets_met(&fit, &auto) {
            if m >= auto.max {
                fit.warnings.push(format!(
                    "automatic m stopped at its maximum ({m} draws per block) before every MCSE was below {} x its SE and the log-likelihood MCSE below {}: the Monte Carlo error is larger than targeted",
                    auto.mcse_ratio, auto.loglik_mcse
                ));
            } else if !fit.is_exact() {
                fit.warnings.push(format!(
                    "automatic m stopped after its largest number of stages (the most draws of a block {m}) before every MCSE was below {} x its SE and the log-likelihood MCSE below {}: the Monte Carlo error is larger than targeted",
                    auto.mcse_ratio, auto.loglik_mcse
                ));
            }
        }
    }
    fit.ranef = ranef
        .map(|moments| crate::integrate::moments::ranef_rows(model, &blocks, &moments))
        .unwrap_or_default();
    timings.mcse += t3.elapsed().as_secs_f64();
    timings.total = t0.elapsed().as_secs_f64();
    fit.timings = timings;
    Ok(fit)
}
