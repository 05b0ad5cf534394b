//! Stage 3 — block integrators (SPEC §11, §12): each likelihood block's integral over its
//! random effects, behind one small interface.
//!
//! Takes a [`Model`](crate::Model) and its [`Blocks`](crate::Blocks); gives an [`Objective`]
//! whose [`evaluate`](Objective::evaluate) returns an [`McEvaluation`] (value, gradient,
//! trust-region model Hessian, per-block ESS and draws, Monte Carlo error pieces) and whose
//! [`final_evaluation`](Objective::final_evaluation) gives the Hessian to report.
//!
//! * [`integrator`] — the [`BlockIntegrator`] trait and the integrators' output types;
//! * [`objective`] — [`Objective`] (the sum of the parts, in a fixed order) and [`FixedOnly`]
//!   (observations without random effects, exactly);
//! * [`adaptive`] — the default, SPEC §12: separator sampled from a theta-adaptive Gaussian,
//!   the conditionally independent rest by adaptive Gauss–Hermite quadrature; exact when the
//!   separator is empty;
//! * [`nested`] — blocks whose effects nest (a tree: site / brood / individual), exactly by
//!   nested adaptive Gauss–Hermite quadrature;
//! * [`fixed_sample`] — R glmm's fixed importance sample (`joint`, `factorised`);
//! * [`separator`] (choice of integrated set and separator), [`conditional`] (the 1-D
//!   conditional integrals), [`quadrature`] (Gauss–Hermite rules and the exact one-factor
//!   likelihood), [`moments`] (conditional moments of the effects, for `ranef`), [`standard_draws`]
//!   (the separator's standard draws: scrambled Sobol', antithetic or plain, and their Monte
//!   Carlo error) over [`sobol`] (scrambled Sobol' points).
//!
//! To add an estimator: implement [`BlockIntegrator`] in a module here and build it in
//! [`Objective`]'s constructors (or pass it to [`Objective::new`]); the optimiser, automatic
//! m and inference need nothing else.

pub mod adaptive;
pub mod conditional;
pub mod fixed_sample;
pub mod integrator;
pub mod moments;
pub mod nested;
pub mod objective;
pub mod quadrature;
pub mod separator;
pub mod sobol;
pub mod standard_draws;

pub use integrator::{
    symmetrise, BlockIntegrator, BlockMethod, BlockSummary, IntegratorError, McEvaluation,
};
pub use moments::{BlockMoments, RanefRow};
pub use objective::{FixedOnly, Objective};
