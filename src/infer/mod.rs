//! Stage 5 — inference after the fit: what a statistician draws from a [`Fit`](crate::Fit).
//!
//! Each takes the fit (and where needed the model or new data) and gives a plain value:
//! [`wald`] (linear hypotheses with their MCSE), [`predict`] (new data, emmeans, with SEs),
//! [`profile`] (profile-likelihood intervals), [`compare`] (likelihood-ratio tests with the
//! boundary correction, against a mixed model or a [`glm`]), [`ranef`] (exact one-factor
//! random-effect predictions by quadrature), [`bootstrap`] (parametric bootstrap, bootstrap
//! likelihood-ratio test), [`power`] (power by simulation, on the bootstrap's replicates).  SPEC §7.

pub mod bootstrap;
pub mod compare;
pub mod glm;
pub mod power;
pub mod predict;
pub mod profile;
pub mod ranef;
pub mod wald;
