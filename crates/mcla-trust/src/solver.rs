//! The objective trait and the trust-region iteration.

use std::convert::Infallible;

use thiserror::Error;

use crate::options::{OptionsError, TrustOptions};
use crate::subproblem::{StepKind, Subproblem, SubproblemError};

/// Value, gradient and Hessian of the function being **maximised**, at one
/// point.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Function value. `f64::NEG_INFINITY` means "outside the domain".
    pub value: f64,
    /// Gradient, length `n`.
    pub gradient: Vec<f64>,
    /// Hessian, `n × n`, row-major, symmetric (it is symmetrised as
    /// `(H + H')/2` before use).
    pub hessian: Vec<f64>,
}

impl Evaluation {
    /// Bundle a value, gradient and row-major Hessian.
    pub fn new(value: f64, gradient: Vec<f64>, hessian: Vec<f64>) -> Self {
        Evaluation {
            value,
            gradient,
            hessian,
        }
    }

    /// `true` when the value, every gradient entry and every Hessian entry
    /// are finite.
    pub fn is_finite(&self) -> bool {
        self.value.is_finite()
            && self.gradient.iter().all(|v| v.is_finite())
            && self.hessian.iter().all(|v| v.is_finite())
    }
}

/// A function to be maximised, with exact first and second derivatives.
pub trait Objective {
    /// Error the objective itself can fail with (aborts the optimisation;
    /// use [`Infallible`] if it cannot fail).
    type Error;

    /// Evaluate at `x`.
    ///
    /// Return `Ok(None)` — or an [`Evaluation`] whose value is
    /// `f64::NEG_INFINITY` — when `x` is outside the domain (e.g. a variance
    /// `<= 0`). At a trial point the solver treats that, and any NaN or
    /// infinite value, gradient or Hessian entry, as a rejected step
    /// (`rho = -inf`): it shrinks the radius and continues.
    fn evaluate(&mut self, x: &[f64]) -> Result<Option<Evaluation>, Self::Error>;

    /// Called with the evaluation the solver is about to build its quadratic model from
    /// (the start, and every accepted trial that does not terminate), before the model is
    /// built: an objective whose [`evaluate`](Objective::evaluate) Hessian is only cheap
    /// and approximate may replace it here by a better one, paying for that only at the
    /// points where the model is used (not at rejected trials).  Default: keep it.
    fn refine(&mut self, _x: &[f64], _eval: &mut Evaluation) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Adapter turning a closure `FnMut(&[f64]) -> Option<Evaluation>` into an
/// infallible [`Objective`].
#[derive(Debug, Clone)]
pub struct FnObjective<F>(pub F);

impl<F> Objective for FnObjective<F>
where
    F: FnMut(&[f64]) -> Option<Evaluation>,
{
    type Error = Infallible;

    fn evaluate(&mut self, x: &[f64]) -> Result<Option<Evaluation>, Infallible> {
        Ok((self.0)(x))
    }
}

/// Record of one iteration (one subproblem solve and one trial evaluation);
/// R `trust`'s `blather` output.
#[derive(Debug, Clone, PartialEq)]
pub struct Iteration {
    /// 1-based iteration number.
    pub iteration: usize,
    /// The current point *after* the acceptance decision.
    pub x: Vec<f64>,
    /// Objective value at `x`.
    pub value: f64,
    /// The trial point `x + s` (`x + s·parscale` when scaled).
    pub trial: Vec<f64>,
    /// Objective value at the trial point (`-inf` when outside the domain;
    /// may be NaN if the objective returned NaN).
    pub trial_value: f64,
    /// Trust radius used for this step.
    pub radius: f64,
    /// Trust radius for the next iteration.
    pub next_radius: f64,
    /// Norm of the step in the (scaled) optimisation variables.
    pub step_norm: f64,
    /// Increase of the objective predicted by the quadratic model.
    pub predicted: f64,
    /// Ratio of actual to predicted change (`-inf` for a rejected
    /// infeasible or non-finite trial).
    pub rho: f64,
    /// Whether the trial point became the current point.
    pub accepted: bool,
    /// Whether the step was the unconstrained Newton step.
    pub newton: bool,
    /// Which branch of the subproblem produced the step.
    pub kind: StepKind,
    /// Subproblem multiplier `λ`.
    pub lambda: f64,
    /// Whether the termination test held (the loop stops after this record).
    pub terminated: bool,
}

/// Which test ended [`maximize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `|f(x+s) - f(x)| < fterm` at a finite trial point (R `trust`'s first test).
    ValueChange,
    /// `|predicted change| < mterm` (R `trust`'s second test).
    PredictedChange,
    /// The Newton step's predicted increase fell below
    /// [`TrustOptions::newton_decrement`] (tested before its trial is evaluated; the
    /// current point is the answer).
    NewtonDecrement,
    /// `iterlim` iterations ran out without either test holding.
    IterationLimit,
}

impl StopReason {
    /// A short description for messages.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::ValueChange => {
                "the change of the objective between iterations fell below fterm"
            }
            StopReason::PredictedChange => {
                "the change predicted by the quadratic model fell below mterm"
            }
            StopReason::NewtonDecrement => {
                "the increase predicted by the Newton step fell below the decrement tolerance"
            }
            StopReason::IterationLimit => "the iteration limit (iterlim) was reached",
        }
    }
}

/// Outcome of [`maximize`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrustResult {
    /// The final point (R: `argument`).
    pub x: Vec<f64>,
    /// Value, gradient and Hessian at `x` (as returned by the objective).
    pub evaluation: Evaluation,
    /// Number of iterations performed (R: `iterations`).
    pub iterations: usize,
    /// `true` if the termination test held before `iterlim` ran out
    /// (R: `converged`).
    pub converged: bool,
    /// Which test stopped the iteration.
    pub stop: StopReason,
    /// Trust radius at the end.
    pub radius: f64,
    /// One record per iteration.
    pub path: Vec<Iteration>,
}

/// Why [`maximize`] failed.
#[derive(Debug, Error)]
pub enum TrustError<E> {
    /// The options are invalid.
    #[error("invalid trust-region options: {0}")]
    Options(#[from] OptionsError),
    /// The starting point has no coordinates.
    #[error("the starting point is empty (no parameters)")]
    EmptyStart,
    /// The starting point has a NaN or infinite coordinate.
    #[error("the starting point has a non-finite coordinate")]
    NonFiniteStart,
    /// The objective says the starting point is outside its domain
    /// (`None` or value `-inf`).
    #[error("the starting point is outside the domain of the objective")]
    InfeasibleStart,
    /// The value, gradient or Hessian at the starting point is NaN or
    /// infinite.
    #[error("the objective's value, gradient or Hessian at the starting point is not finite")]
    NonFiniteStartEvaluation,
    /// The objective returned a gradient or Hessian of the wrong size.
    #[error(
        "objective returned a gradient of length {gradient} and a Hessian with {hessian} entries; expected {n} and {n}x{n}"
    )]
    Dimension {
        /// Number of parameters.
        n: usize,
        /// Length of the returned gradient.
        gradient: usize,
        /// Number of entries of the returned Hessian.
        hessian: usize,
    },
    /// The Hessian at the starting point could not be eigendecomposed.
    #[error("cannot set up the trust-region model at the starting point: {0}")]
    StartModel(SubproblemError),
    /// The objective itself returned an error.
    #[error("objective function failed: {0}")]
    Objective(E),
}

/// The quadratic model of `f = -value` in the scaled variables.
fn build_model(eval: &Evaluation, parscale: Option<&[f64]>) -> Result<Subproblem, SubproblemError> {
    let n = eval.gradient.len();
    let (g, b): (Vec<f64>, Vec<f64>) = match parscale {
        None => (
            eval.gradient.iter().map(|v| -v).collect(),
            eval.hessian.iter().map(|v| -v).collect(),
        ),
        Some(p) => {
            let g = eval.gradient.iter().zip(p).map(|(v, pi)| -v * pi).collect();
            let mut b = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    b[i * n + j] = -eval.hessian[i * n + j] * p[i] * p[j];
                }
            }
            (g, b)
        }
    };
    Subproblem::new(&g, &b)
}

fn check_dims<E>(eval: &Evaluation, n: usize) -> Result<(), TrustError<E>> {
    if eval.gradient.len() != n || eval.hessian.len() != n * n {
        return Err(TrustError::Dimension {
            n,
            gradient: eval.gradient.len(),
            hessian: eval.hessian.len(),
        });
    }
    Ok(())
}

/// Maximise `objective` from `x0` by the trust-region method of R `trust`
/// (Geyer) with exact Hessians. See the [crate documentation](crate) for the
/// algorithm.
///
/// `observer`, if given, is called with every [`Iteration`] record right
/// after it is made (for progress reporting); the same records are returned
/// in [`TrustResult::path`].
///
/// # Errors
///
/// Invalid options, an empty or non-finite `x0`, a starting point outside
/// the domain or with non-finite derivatives, a wrongly sized
/// gradient/Hessian, or an error from the objective. Infeasible or
/// non-finite *trial* points are not errors: they are rejected steps.
///
/// # Example
///
/// ```
/// use mcla_trust::{maximize, Evaluation, FnObjective, TrustOptions};
///
/// // f(x, y) = -(x - 1)^2 - 2 (y + 3)^2, maximised at (1, -3).
/// let mut objective = FnObjective(|p: &[f64]| {
///     let (x, y) = (p[0], p[1]);
///     Some(Evaluation::new(
///         -(x - 1.0).powi(2) - 2.0 * (y + 3.0).powi(2),
///         vec![-2.0 * (x - 1.0), -4.0 * (y + 3.0)],
///         vec![-2.0, 0.0, 0.0, -4.0],
///     ))
/// });
/// let result = maximize(&mut objective, &[0.0, 0.0], &TrustOptions::default(), None).unwrap();
/// assert!(result.converged);
/// assert!((result.x[0] - 1.0).abs() < 1e-12 && (result.x[1] + 3.0).abs() < 1e-12);
/// ```
pub fn maximize<O: Objective + ?Sized>(
    objective: &mut O,
    x0: &[f64],
    options: &TrustOptions,
    mut observer: Option<&mut dyn FnMut(&Iteration)>,
) -> Result<TrustResult, TrustError<O::Error>> {
    let n = x0.len();
    options.validate(Some(n))?;
    if n == 0 {
        return Err(TrustError::EmptyStart);
    }
    if x0.iter().any(|v| !v.is_finite()) {
        return Err(TrustError::NonFiniteStart);
    }
    let parscale = options.parscale.as_deref();

    let mut current = match objective.evaluate(x0).map_err(TrustError::Objective)? {
        None => return Err(TrustError::InfeasibleStart),
        Some(e) => e,
    };
    check_dims(&current, n)?;
    if current.value == f64::NEG_INFINITY {
        return Err(TrustError::InfeasibleStart);
    }
    if !current.is_finite() {
        return Err(TrustError::NonFiniteStartEvaluation);
    }
    objective
        .refine(x0, &mut current)
        .map_err(TrustError::Objective)?;
    if !current.is_finite() {
        return Err(TrustError::NonFiniteStartEvaluation);
    }
    let mut model = build_model(&current, parscale).map_err(TrustError::StartModel)?;
    let mut x = x0.to_vec();
    let mut r = options.rinit;
    let mut path = Vec::new();
    let mut converged = false;
    let mut stop = StopReason::IterationLimit;
    let mut iterations = 0;

    for iteration in 1..=options.iterlim {
        iterations = iteration;
        let radius = r;
        let sub = model.solve(r);
        if let Some(tol) = options.newton_decrement {
            // `sub.predicted` is the change of f = -value: negative for an increase
            if sub.kind == StepKind::Newton && sub.predicted.abs() < tol {
                iterations = iteration - 1;
                converged = true;
                stop = StopReason::NewtonDecrement;
                break;
            }
        }
        let trial: Vec<f64> = match parscale {
            None => x.iter().zip(&sub.step).map(|(a, s)| a + s).collect(),
            Some(p) => x
                .iter()
                .zip(&sub.step)
                .zip(p)
                .map(|((a, s), pi)| a + s * pi)
                .collect(),
        };
        let trial_eval = objective.evaluate(&trial).map_err(TrustError::Objective)?;
        if let Some(e) = &trial_eval {
            check_dims(e, n)?;
        }
        // Everything below is in terms of f = -value (minimisation), as in R.
        let f = -current.value;
        let pred = sub.predicted;
        let (feasible, trial_value) = match &trial_eval {
            Some(e) => (e.is_finite(), e.value),
            None => (false, f64::NEG_INFINITY),
        };
        let ftry = -trial_value;
        let rho = if feasible {
            (ftry - f) / pred
        } else {
            f64::NEG_INFINITY
        };
        let terminate =
            feasible && ((ftry - f).abs() < options.fterm || pred.abs() < options.mterm);

        let mut accepted;
        if terminate {
            // R: on termination accept the trial only if it improves.
            accepted = ftry < f;
        } else if rho >= 0.25 {
            accepted = true;
        } else {
            // Includes rho = -inf (infeasible) and NaN.
            accepted = false;
            r /= 4.0;
        }

        if accepted {
            if let Some(mut e) = trial_eval {
                if terminate {
                    x = trial.clone();
                    current = e;
                } else {
                    objective
                        .refine(&trial, &mut e)
                        .map_err(TrustError::Objective)?;
                    match build_model(&e, parscale) {
                        Ok(m) => {
                            model = m;
                            x = trial.clone();
                            current = e;
                            if rho > 0.75 && sub.kind != StepKind::Newton {
                                r = (2.0 * r).min(options.rmax);
                            }
                        }
                        Err(_) => {
                            // Cannot model the trial point: treat as rejected.
                            accepted = false;
                            r /= 4.0;
                        }
                    }
                }
            } else {
                accepted = false;
            }
        }

        let record = Iteration {
            iteration,
            x: x.clone(),
            value: current.value,
            trial,
            trial_value,
            radius,
            next_radius: r,
            step_norm: sub.step_norm,
            predicted: -pred,
            rho,
            accepted,
            newton: sub.kind == StepKind::Newton,
            kind: sub.kind,
            lambda: sub.lambda,
            terminated: terminate,
        };
        if let Some(obs) = observer.as_mut() {
            obs(&record);
        }
        path.push(record);
        if terminate {
            converged = true;
            stop = if (ftry - f).abs() < options.fterm {
                StopReason::ValueChange
            } else {
                StopReason::PredictedChange
            };
            break;
        }
    }

    Ok(TrustResult {
        x,
        evaluation: current,
        iterations,
        converged,
        stop,
        radius: r,
        path,
    })
}
