//! Trust-region **maximisation** with exact Hessians, following the
//! semantics of Charles Geyer's R package
//! [`trust`](https://cran.r-project.org/package=trust), which R package
//! `glmm` uses to maximise its Monte Carlo log-likelihood approximation.
//! This crate knows nothing about statistics: it maximises any
//! [`Objective`] that supplies a value, gradient and Hessian.
//!
//! # Algorithm
//!
//! Internally the solver minimises `f = -value` (R's `minimize = FALSE`).
//! Starting with radius `r = rinit`, each iteration
//!
//! 1. (after an accepted step only) eigendecomposes the Hessian `B` of `f`
//!    in the scaled variables (one symmetric eigendecomposition per accepted
//!    iteration, faer's `self_adjoint_eigen`, as R does with `eigen()`);
//! 2. solves the trust-region subproblem `min g's + s'Bs/2, ||s|| <= r`
//!    exactly ([`Subproblem`]; Fletcher 1987 §5.1, Nocedal & Wright §4.2):
//!    the Newton step if `B` is positive definite and it fits, otherwise the
//!    boundary solution `s(λ) = -(B + λI)⁻¹g`, `||s(λ)|| = r`, from
//!    safeguarded Newton iteration on `1/||s(λ)|| - 1/r` in the eigenbasis,
//!    or, in the hard case, `λ = -λ_min` plus a multiple of an eigenvector of
//!    `λ_min`;
//! 3. evaluates the trial point; with predicted change
//!    `ptry = g's + s'Bs/2`, `rho = (f(x+s) - f(x)) / ptry`, and
//!    `rho = -inf` if the trial is outside the domain or anything there is
//!    non-finite;
//! 4. terminates when the trial is finite and
//!    `|f(x+s) - f(x)| < fterm` or `|ptry| < mterm`; on termination the
//!    trial is accepted only if it decreases `f` (R's rule) and the radius
//!    is left alone;
//! 5. otherwise, if `rho < 1/4` rejects the step and sets `r = r/4`
//!    (keeping the eigendecomposition); else accepts it, and if `rho > 3/4`
//!    and the step was not Newton sets `r = min(2r, rmax)`.
//!
//! `converged` means the termination test held before `iterlim` iterations.
//!
//! One addition to R's tests, off by default: with
//! [`TrustOptions::newton_decrement`] the iteration also stops, between steps 2 and 3, when the
//! step is the unconstrained Newton step and `|ptry|` is below that tolerance, without
//! evaluating the trial ([`StopReason::NewtonDecrement`]; the current point is the answer).  For
//! an objective whose evaluations are expensive and whose value is itself only known to some
//! resolution (a Monte Carlo likelihood) that saves the evaluation that R's tests spend to
//! confirm a change far below it.
//!
//! # Correspondence with R `trust`
//!
//! | R `trust` | here |
//! |---|---|
//! | `objfun` returning `list(value, gradient, hessian)` | [`Objective::evaluate`] → [`Evaluation`] |
//! | `parinit`, `rinit`, `rmax`, `iterlim`, `fterm`, `mterm`, `parscale` | `x0`, [`TrustOptions`] |
//! | `minimize = FALSE` | always (this is a maximiser) |
//! | `blather = TRUE` output (`argpath`, `argtry`, `steptype`, `accept`, `r`, `rho`, `valpath`, `valtry`, `preddiff`, `stepnorm`) | [`TrustResult::path`] of [`Iteration`]s, and the observer callback |
//! | `argument`, `value`/`gradient`/`hessian`, `converged`, `iterations` | [`TrustResult`] |
//! | `value = -Inf` (maximisation) at a trial point | `Ok(None)` or value `-inf`: rejected step |
//!
//! Deliberate differences:
//!
//! * defaults `rinit = 10`, `rmax = 1000`, `iterlim = 1000` (R requires
//!   `rinit`/`rmax` and defaults `iterlim = 100`);
//! * in the hard case the eigenvector multiple is `sqrt(r² - ||p||²)`, so the
//!   step lies exactly on the boundary (as in current R `trust`; version
//!   0.1-1 used `r - ||p||`);
//! * eigenvalues within a relative `n·eps` of the smallest are treated as
//!   equal to it (R tests exact equality), so a numerically split repeated
//!   eigenvalue is still recognised as the hard case;
//! * the secular equation is solved by safeguarded Newton iteration instead
//!   of `uniroot`, to near machine precision;
//! * a NaN/`+inf` value or non-finite gradient/Hessian at a trial point is a
//!   rejected step (R stops with an error);
//! * `parscale`: the problem is solved in `u = x / parscale` (gradient
//!   `g·parscale`, Hessian `B·parscale parscale'`, trial `x + s·parscale`),
//!   the convention of R's `optim`. R `trust`'s code instead uses
//!   `g / parscale`, `B / outer(parscale, parscale)` and `x + s / parscale`
//!   (i.e. it works in `x · parscale`). Without `parscale` both agree.
//! * the objective is not re-evaluated at the end; the [`Evaluation`] of the
//!   final point is the one recorded when it was accepted.
//!
//! # Example
//!
//! See [`maximize`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod options;
mod solver;
pub mod subproblem;
mod subspace;

pub use options::{OptionsError, TrustOptions};
pub use solver::{
    maximize, Evaluation, FnObjective, Iteration, Objective, StopReason, TrustError, TrustResult,
};
pub use subproblem::{StepKind, Subproblem, SubproblemError, SubproblemSolution};
pub use subspace::Subspace;
