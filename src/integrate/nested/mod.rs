//! Exact integration of nested (tree-shaped) blocks by nested adaptive Gauss–Hermite
//! quadrature (issue 17; SPEC §12's exact case, extended from one effect to a tree).
//!
//! When a block's effects nest ([`Tree`]: site / brood / individual, school / class, an
//! intercept and a slope of one grouping factor), the integrand
//! `f(u) = prod_i f(y_i | eta_i) prod_v N(u_v; 0, nu_v)` factorises down the tree: given the
//! effects above it, each node's subtree is independent of its siblings'.  The block's
//! integral is computed as in Pinheiro & Chao (2006, multilevel adaptive quadrature):
//!
//! * centre and scale at theta: the joint mode `û` of `log f` (Newton) and the Cholesky
//!   factor `L L' = H` of the negative Hessian there, leaves eliminated first, which has no
//!   fill — `L[a, v] != 0` only for `a` an ancestor of `v` — so the change of variables
//!   `u = û + L^{-T} z` makes each `u_v` a function of `z_v` and the `z` of its ancestors
//!   (`L_vv δ_v = z_v - sum_a L[a, v] δ_a`);
//! * the K-point Gauss–Hermite rule in every `z_v` (a tensor rule, `K^q` points), summed
//!   from the leaves up because the integrand factorises: a node at level `l` is integrated
//!   `K^l` times (once per combination of points above it), at `K` points each, and each
//!   point multiplies its observations' densities, its prior and its children's integrals.
//!   Work `sum_v K^(l_v + 1) (n_v + 1)` ([`Tree::cost`]); the block is integrated this way
//!   when that is below [`NESTED_BUDGET`], else by SPEC §12's sampled separator.
//!
//! The rule is exact for `f` Gaussian-times-polynomial of degree `< 2K` in `z` and converges
//! to the integral as K grows (no draws, Monte Carlo error 0).  **Derivatives** in theta come
//! from the same rule as posterior moments (Fisher's and Louis' identities): the gradient
//! `E[∂_theta log f]` and the Hessian `E[∂²_theta log f] + Cov[∂_theta log f]`, propagated up
//! the tree with the law of total covariance (children independent given their parent's
//! point), `d^2` work per point.  They are the derivatives of the integral itself (not of
//! the K-point value, which differs from them by the rule's error), so the Hessian is reported
//! as exact and the fit takes Newton steps on it.  Conditional moments of the effects (for
//! `ranef`) come from the same recursion.

mod block;
mod evaluate;
mod given;
#[cfg(test)]
mod tests;
mod tree;

pub use block::NestedBlock;
pub(crate) use given::GivenScratch;
pub use tree::Tree;

/// Largest [`Tree::cost`] of a block integrated by nested quadrature (per evaluation: about
/// a millisecond per million); deeper or larger trees are sampled (SPEC §12).
pub const NESTED_BUDGET: f64 = 4e6;
