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
    /// Automatic m is about to grow by more than
    /// [`LONG_STAGE_GROWTH`](super::auto_m::LONG_STAGE_GROWTH) for a stage estimated to take
    /// [`LONG_STAGE_SECONDS`](super::auto_m::LONG_STAGE_SECONDS) or more, or to its maximum: the warning
    /// (also in [`Fit::warnings`](super::Fit::warnings)) with the numbers and the estimated
    /// time of the next stage, to show at once (see
    /// [`long_stage_warning`](super::auto_m::long_stage_warning)).
    LongStage(String),
}
