//! Stage 2 — the start (SPEC §3): starting values theta0 and the importance centre.
//!
//! Takes a [`Model`](crate::Model) and the checked options; gives a [`Start`]: penalized
//! quasi-likelihood ([`pql`](mod@pql)) unless the user gave `par_init` or turned PQL off.

pub mod pql;
mod values;

pub use values::{start, ImportanceCentre, Start, StartSource};
