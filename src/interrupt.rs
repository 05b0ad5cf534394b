//! Stopping a running computation from outside: Ctrl-C in R or Python, a cancel button.
//!
//! An [`Interrupt`] is a flag shared (cheaply cloned) between the caller and a running fit.
//! The caller [`trigger`](Interrupt::trigger)s it from any thread; the fit checks it between
//! objective evaluations, between automatic-m stages and, in the adaptive integrator, before
//! each chunk of draws, and returns [`FitError::Interrupted`](crate::FitError::Interrupted)
//! within about a second.
//!
//! ```
//! let stop = mcla::Interrupt::new();
//! let seen_by_the_fit = stop.clone();
//! assert!(!seen_by_the_fit.is_triggered());
//! stop.trigger();
//! assert!(seen_by_the_fit.is_triggered());
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A stop flag shared between a caller and a running fit (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// A flag that is not triggered.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Ask the computation to stop.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`trigger`](Interrupt::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
