//! The optimisation stage: the likelihood approximation as a trust-region objective,
//! maximised with R trust semantics by `mcla-trust` (which knows no statistics).  A variance
//! that ends below [`BOUNDARY_VARIANCE`](super::diagnostics::BOUNDARY_VARIANCE) is then held
//! and the other parameters maximised again (the boundary MLE; see [`maximise_with`]).

use super::error::FitError;
use super::progress::Progress;
use crate::integrate::{BlockIntegrator, McEvaluation};
use crate::interrupt::Interrupt;
use crate::model::options::FitOptions;
use mcla_trust::{maximize, Evaluation, Subspace, TrustOptions};
use serde::Serialize;

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
    /// Evaluations of the objective (distinct points).
    pub evaluations: usize,
    /// Model Hessians formed by the [`ModelHessian`] (accepted points).
    pub model_hessians: usize,
    /// The stages of automatic m (one for a fixed m; empty for a fixed sample).
    pub stages: Vec<Stage>,
}

/// One stage of the SPEC §12 estimator at one m (automatic m runs several).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// Draws per block.
    pub m: usize,
    /// Trust-region iterations.
    pub iterations: usize,
    /// Evaluations of the objective at m during the optimisation.
    pub evaluations: usize,
    /// Trust-region model Hessians formed by differences of the gradient at the first
    /// `MODEL_HESSIAN_DRAWS` draws (each `p + T + 1` evaluations there; reused ones not counted).
    pub model_hessians: usize,
    /// Wall-clock seconds of the stage (optimisation and the reported Hessian).
    pub seconds: f64,
}

/// Predicted increase of the log-likelihood below which a fit with a [`ModelHessian`] (the
/// SPEC §12 estimator) stops at a Newton step without evaluating its trial point
/// ([`TrustOptions::newton_decrement`]): the maximum then lies within `sqrt(2 x 5e-7)` = 0.001
/// standard errors of the current point (the metric of the model Hessian, within 0.2 % of the
/// reported one), 20 times below the default Monte Carlo error target (0.02 SE), where R
/// trust's tests would spend one more evaluation at m to confirm a change of ~1e-8.  Measured
/// on the designs of issue 14: one evaluation at m fewer per stage (BENCHMARKS.md).
pub const NEWTON_DECREMENT: f64 = 5e-7;

/// A better trust-region model Hessian at an accepted point than the objective's own:
/// called with theta and the objective's evaluation there.
pub type ModelHessian<'h> = &'h (dyn Fn(&[f64], &McEvaluation) -> Option<Vec<f64>> + Sync);

/// The MCLA as a trust-region objective.  Every evaluation is kept, keyed by the exact
/// bits of theta, so the start check, the optimiser's first evaluation and the final
/// point's full evaluation (with its Monte Carlo error pieces) cost one pass each.
struct TrustAdapter<'o> {
    objective: &'o dyn BlockIntegrator,
    interrupt: &'o Interrupt,
    evaluated: Vec<(Vec<u64>, Option<McEvaluation>)>,
    model_hessian: Option<ModelHessian<'o>>,
    /// Model Hessians computed (at accepted points).
    refined: usize,
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

/// The trust-region objective over the free coordinates of theta, the others held
/// (variances on the boundary: see [`maximise_with`]).
struct Held<'a, 'o> {
    adapter: &'a mut TrustAdapter<'o>,
    space: Subspace,
}

impl mcla_trust::Objective for Held<'_, '_> {
    type Error = Stopped;
    fn evaluate(&mut self, x: &[f64]) -> Result<Option<Evaluation>, Self::Error> {
        let t = self.space.expand(x);
        Ok(self.adapter.evaluate(&t)?.map(|e| self.space.restrict(&e)))
    }
    fn refine(&mut self, x: &[f64], eval: &mut Evaluation) -> Result<(), Self::Error> {
        let t = self.space.expand(x);
        if let Some(mut e) = self.adapter.evaluate(&t)? {
            self.adapter.refine(&t, &mut e)?;
            *eval = self.space.restrict(&e);
        }
        Ok(())
    }
}

/// The optimisation was stopped by an [`Interrupt`].
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl mcla_trust::Objective for TrustAdapter<'_> {
    type Error = Stopped;
    fn evaluate(&mut self, x: &[f64]) -> Result<Option<Evaluation>, Self::Error> {
        if self.interrupt.is_triggered() {
            return Err(Stopped);
        }
        let e = self.get(x);
        if self.interrupt.is_triggered() {
            return Err(Stopped);
        }
        Ok(e.map(|e| Evaluation::new(e.value, e.gradient, e.hessian)))
    }
    fn refine(&mut self, x: &[f64], eval: &mut Evaluation) -> Result<(), Self::Error> {
        if self.interrupt.is_triggered() {
            return Err(Stopped);
        }
        if let Some(h) = self.model_hessian {
            if let Some(e) = self.get(x) {
                self.refined += 1;
                // keep the objective's own model where the better one cannot be formed
                if let Some(better) = h(x, &e) {
                    eval.hessian = better;
                }
            }
        }
        Ok(())
    }
}

/// Maximise the likelihood approximation from `theta0` with R trust semantics.
/// The returned evaluation is the objective's at the optimum (its trust-region
/// model Hessian); [`Objective::final_evaluation`](crate::Objective::final_evaluation) gives the one to report.
pub fn maximise(
    objective: &dyn BlockIntegrator,
    theta0: &[f64],
    options: &FitOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Optimum, FitError> {
    maximise_with(
        objective,
        None,
        theta0,
        options,
        progress,
        &Interrupt::new(),
    )
}

/// [`maximise`], stopping with [`FitError::Interrupted`] once `interrupt` is triggered
/// (checked before and after every evaluation).
pub fn maximise_interruptible(
    objective: &dyn BlockIntegrator,
    theta0: &[f64],
    options: &FitOptions,
    progress: &mut dyn FnMut(Progress),
    interrupt: &Interrupt,
) -> Result<Optimum, FitError> {
    maximise_with(objective, None, theta0, options, progress, interrupt)
}

/// [`maximise_interruptible`] with the trust-region model's Hessian at every accepted point
/// from `model_hessian` (where it gives one) instead of the objective's.
pub fn maximise_with(
    objective: &dyn BlockIntegrator,
    model_hessian: Option<ModelHessian<'_>>,
    theta0: &[f64],
    options: &FitOptions,
    progress: &mut dyn FnMut(Progress),
    interrupt: &Interrupt,
) -> Result<Optimum, FitError> {
    let topts = TrustOptions {
        rinit: options.rinit,
        rmax: options.rmax,
        iterlim: options.iterlim,
        newton_decrement: model_hessian.map(|_| NEWTON_DECREMENT),
        ..TrustOptions::default()
    };
    let mut adapter = TrustAdapter {
        objective,
        interrupt,
        evaluated: Vec::new(),
        model_hessian,
        refined: 0,
    };
    let first = adapter.get(theta0);
    if interrupt.is_triggered() {
        return Err(FitError::Interrupted);
    }
    if first.is_none() {
        return Err(FitError::BadStart {
            start: theta0.to_vec(),
        });
    }
    let mut path = Vec::new();
    // `offset`: iterations of an earlier run; `theta`: the whole point of `it.x`
    let mut record = |it: &mcla_trust::Iteration, offset: usize, theta: Vec<f64>| {
        path.push(PathStep {
            iteration: offset + it.iteration,
            theta,
            value: it.value,
            radius: it.radius,
            rho: it.rho,
            accepted: it.accepted,
        });
        progress(Progress::Iteration {
            iteration: offset + it.iteration,
            loglik: it.value,
        });
    };
    let map_err = |e| match e {
        mcla_trust::TrustError::Objective(Stopped) => FitError::Interrupted,
        e => FitError::Optimiser(e.to_string()),
    };
    let mut res = maximize(
        &mut adapter,
        theta0,
        &topts,
        Some(&mut |it: &mcla_trust::Iteration| record(it, 0, it.x.clone())),
    )
    .map_err(map_err)?;
    let mut iterations = res.iterations;
    // A variance heading to 0: trial steps past the boundary are infeasible (SPEC §5), so the
    // radius shrinks until the steps keep it positive, and every other coordinate then moves by
    // those tiny steps until the value's change falls below fterm, short of the maximum.  Hold
    // such variances where they are and maximise over the rest (R trust semantics in the held
    // run, which is rare and starts next to its maximum: it polishes to R's tolerances rather
    // than stopping on the Newton decrement).
    if let Some(p) = objective.n_fixed() {
        let d = res.x.len();
        let free: Vec<usize> = (0..d)
            .filter(|&j| j < p || res.x[j] >= super::diagnostics::BOUNDARY_VARIANCE)
            .collect();
        // only after a stop on the value or the predicted change (the iteration limit stays a
        // failure to converge), within the iterations left
        let left = topts.iterlim.saturating_sub(iterations);
        if free.len() < d && !free.is_empty() && res.converged && left > 0 {
            let topts = TrustOptions {
                iterlim: left,
                newton_decrement: None,
                ..topts.clone()
            };
            let before = res.evaluation.value;
            let space = Subspace::new(res.x.clone(), free);
            let mut held = Held {
                adapter: &mut adapter,
                space: space.clone(),
            };
            let polished = maximize(
                &mut held,
                &space.start(),
                &topts,
                Some(&mut |it: &mcla_trust::Iteration| record(it, iterations, space.expand(&it.x))),
            )
            .map_err(map_err)?;
            if polished.evaluation.value >= before {
                iterations += polished.iterations;
                res.converged = polished.converged;
                res.stop = polished.stop;
                res.x = space.expand(&polished.x);
            }
        }
    }
    let evaluation = adapter
        .get(&res.x)
        .ok_or_else(|| FitError::Optimiser("the MCLA is not finite at the final point".into()))?;
    Ok(Optimum {
        theta: res.x,
        evaluation,
        converged: res.converged,
        stop: res.stop,
        iterations,
        path,
        evaluations: adapter.evaluated.len(),
        model_hessians: adapter.refined,
        stages: Vec::new(),
    })
}
