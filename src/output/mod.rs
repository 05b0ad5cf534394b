//! Stage 6 — output: a [`Fit`](crate::Fit) and the inference tables as people and scripts
//! read them: [`report`] (R-like text, JSON) and [`tidy`] (CSV in broom.mixed's shape, text
//! tables), [`bootstrap`] (bootstrap and power tables and their replicates as CSV).

pub mod bootstrap;
pub mod report;
pub mod tidy;
