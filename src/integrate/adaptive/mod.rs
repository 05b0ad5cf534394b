//! The theta-adaptive, Rao–Blackwellised block integrator (SPEC §12), the default.
//!
//! Per likelihood block, the effects are split ([`Split`]) into an integrated set
//! I (no two share an observation) and a separator S.  Given `u_S`, the block's
//! likelihood factorises over I and each factor is a one-dimensional integral,
//! computed by adaptive Gauss–Hermite quadrature ([`conditional`]).  The integrand
//! over the separator,
//!
//! ```text
//! h_theta(u_S) = exp(R(u_S)) prod_{j in I} A_j(u_S) N(u_S; 0, D_S(nu)),
//! ```
//!
//! is integrated by importance sampling from a Gaussian that follows theta:
//! `u_S,k = v*(theta) + L^{-T} z_k`, `v*` the mode of `log h_theta`, `L L' = H_S`
//! its negative Hessian there (both from posterior moments of the 1-D integrals on
//! the quadrature nodes: gradient `sum_j E_j[s_j] - D_S^{-1} u_S`, negative Hessian
//! `sum_j (E_j[Z'WZ] - Cov_j[s_j]) + D_S^{-1}`), and standard normal draws `z_k`
//! fixed for the whole fit (common random numbers): by default scrambled Sobol' points
//! mapped to normals (randomised quasi-Monte Carlo), else antithetic pairs or i.i.d.
//! normals ([`standard_draws`](super::standard_draws); made from the draw index alone,
//! so independent of the thread count, and the first m draws are the same for every
//! larger m).
//!
//! ```text
//! log w_k = log h_theta(u_S,k) - log phi(z_k) - sum_i log L_ii,
//! l_b(theta) = log((1/m) sum_k w_k).
//! ```
//!
//! For fixed `z` this is a smooth, deterministic function of theta.  An empty
//! separator (one grouping factor, a single effect) needs no draws: `l_b = log h`
//! exactly, with Monte Carlo error 0.
//!
//! **Subtrees** (issue 17, [`AdaptiveSettings::subtrees`]): the integrated set may also hold
//! parts that nest given `u_S` ([`Split::with_subtrees`]: subjects × items × trials samples
//! only the items, each subject and its cells a tree).  A subtree's factor `A_T(u_S)` is the
//! nested rule of [`nested`](super::nested) given `u_S` (the touched separator columns become
//! fixed-effect columns with coefficients `u_S`), its joint mode found per draw from the mode at
//! `v*`; its gradient in `u_S`, partial scores and `∂²_theta` come from the same recursion's
//! posterior moments, and it adds `E_T[Z'WZ] - Cov_T[s]` to the proposal's `H`.  It costs K or
//! more times a 1-D effect's work per draw; measured on 30 x 20 x 3 (BENCHMARKS.md) the smaller
//! Monte Carlo error did not repay that, so it is off by default.
//!
//! **Derivatives.**  With `p_k = ∂_theta log h(u_S,k)` at fixed `u_S` (beta part
//! `sum_i w_i x_i (y_i - E[mu_i])`, nu part from `E_j[u_j^2]` and `u_S'u_S`) and
//! `g_k = ∇_{u_S} log h(u_S,k)`, the per-draw total derivative is
//!
//! ```text
//! s_k = p_k + (dv*/dtheta)' g_k - (dL a_k)' b_k - d(sum_i log L_ii)/dtheta,
//! a_k = L^{-1} g_k,  b_k = L^{-T} z_k,
//! ```
//!
//! because `d(L^{-T})/dtheta_j z_k = -L^{-T} dL_j' b_k`.  The proposal derivatives come
//! from the implicit function theorem (`g(theta, v*(theta)) = 0`, so `dv*/dtheta_j` is the
//! direction along which central differences of `g` vanish) and the derivative of the
//! Cholesky factor of the central difference of `H` along the mode's path: 2(p + T) Hessian
//! and 4(p + T) gradient passes over the block's observations per evaluation, no mode
//! re-solved and no extra pass over the draws.  `grad l_b = sum_k v_k s_k` (`v_k` the
//! normalised weights).
//!
//! **Hessian.**  [`evaluate`](crate::BlockIntegrator::evaluate) returns Louis' identity at the
//! draws, `sum_k v_k ∂²_theta log h(u_S,k) + sum_k v_k (p_k - p̄)(p_k - p̄)'`, with
//! `∂²_theta log h` at fixed `u_S` from second posterior moments on the nodes.  It is exactly
//! the Hessian of a *fixed*-proposal importance estimate, and inherits that estimate's noise:
//! where fixed effects are confounded with the separator's effects (item-level covariates of a
//! crossed design) it is off by 25–150 % (of `sqrt(H_rr H_cc)`; measured on salamander, crossed
//! 100 x 50 and a 300 x 24 VerbAgg-shaped design at 64–1,024 draws, issue 14), and the trust
//! region took 27–67 iterations.  The fit therefore uses it neither for the trust-region model
//! nor for the report, and does not form it ([`AdaptiveSettings::louis`] off: 8–30 % of the
//! per-draw pass); both are forward differences of the analytic gradient
//! ([`Objective::difference_hessian`](super::Objective::difference_hessian)) of the objective with
//! the first 64 (model) or 128 (report) draws, centred on that objective's gradient taken from
//! the evaluation at m ([`Objective::evaluate_with_prefixes`](super::Objective::evaluate_with_prefixes)),
//! with BFGS updates of the model between them; see `fit::auto_m`.  The reported one is within
//! 0.1 % of the central difference at 4,096 draws in the SEs on salamander, crossed 100 x 50 and
//! radish2 (the proposal follows theta, so the function is accurate at few draws).
//! [`Objective::final_evaluation`](super::Objective::final_evaluation) (central differences at the
//! objective's own m) remains as the reference.
//!
//! **Monte Carlo error** (SPEC §12 f): for i.i.d. draws
//! `V_b = sum_k v_k^2 (s_k - G_b)(s_k - G_b)'` with `G_b = sum_k v_k s_k`, and
//! `Var l_b = 1/ESS - 1/m`; ESS `1 / sum_k v_k^2`.  The default randomised QMC draws
//! are not independent, and that formula overstates their error (the variance of
//! `l_b` is 1.5-14x smaller at m = 64-1,024, BENCHMARKS.md): `V_b` and `Var l_b` are
//! then estimated from the spread of the `R` independent scramblings (antithetic
//! draws: of the `m/2` pairs),
//!
//! ```text
//! V_b     = R/(R-1) sum_r c_r c_r',     c_r = sum_{k in r} v_k (s_k - G_b),
//! Var l_b = R/(R-1) sum_r (W_r - 1/R)^2,  W_r = sum_{k in r} v_k,
//! ```
//!
//! the delta method over the `R` replicate means (derivation in
//! [`standard_draws`](super::standard_draws)); with one draw per group it is the
//! i.i.d. formula.  The sandwich `U^{-1} V U^{-1}` is unchanged.  SPEC §12 says only
//! "standard draws fixed for the whole fit"; the draws' construction and this
//! estimate of their error are this module's.

mod block;
mod draws;
mod evaluate;
mod lanes;
mod moments;
mod proposal;
mod scratch;
mod subtree;
#[cfg(test)]
mod tests;

pub use block::{AdaptiveBlock, AdaptiveSettings, ADAPTIVE_CHUNK};
