//! R glmm's fixed-sample MCLA (SPEC §4, §5, §11): the `joint` and `factorised` samplers.
//!
//! One importance sample per likelihood block (or one for the whole model: `joint`) is drawn
//! once, at the start ([`sampler`]: the three-part mixture around the PQL centre, chunked
//! ChaCha streams); [`Mcla`] evaluates `l_m(theta)`, its gradient and exact Hessian over the
//! stored (or regenerated) draws.  It implements [`BlockIntegrator`](super::BlockIntegrator)
//! like every other integrator.

mod mcla;
pub mod moments;
pub mod sampler;
pub mod special;

pub use mcla::Mcla;
