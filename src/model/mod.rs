//! Stage 1 — the model: what is fitted, checked once (SPEC §1, §2, §8, §11).
//!
//! Takes formulas on a CSV data frame ([`design`]: `mcla-formula`'s model matrices →
//! [`ModelSpec`]) or a [`ModelSpec`] built in code, and gives a validated [`Model`]
//! (response, `X`, sparse `Z`, weights, [`Family`](family::Family)), its likelihood
//! [`Blocks`](blocks::Blocks) (the connected components of the random-effects graph) and the
//! checked fit options ([`options`]).  Every later stage relies on these invariants; every
//! problem is a typed error ([`ModelError`], [`InputError`](design::InputError),
//! [`OptionsError`](options::OptionsError)) that names the problem and the fix.

pub mod blocks;
pub mod design;
pub mod family;
pub mod options;
mod spec;

pub(crate) use spec::dot;
pub use spec::{Csr, Model, ModelError, ModelSpec, RandomBlock, MAX_COUNT, MAX_WEIGHT};
