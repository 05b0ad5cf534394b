//! Progress events of a fit, for a progress bar.

/// Progress events, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// PQL started.
    Pql,
    /// Drawing the importance sample (`total` draws over all blocks).
    Sampling { total: usize },
    /// One trust-region iteration finished.
    Iteration { iteration: usize, loglik: f64 },
    /// Computing Monte Carlo standard errors.
    Mcse,
}
