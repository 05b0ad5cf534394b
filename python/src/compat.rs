//! Stand-in for the engine's interrupt API (`mcla::Interrupt`, `mcla::fit_interruptible`) until
//! it lands on main: the same names and signatures; the flag is set but the fit runs to its end.

use mcla::{Fit, FitError, FitOptions, Model, Progress};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cloneable stop flag.
#[derive(Clone, Default, Debug)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    pub fn new() -> Interrupt {
        Interrupt::default()
    }
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// `fit_with_progress` (the interrupt is not yet honoured).
pub fn fit_interruptible(
    model: &Model,
    options: &FitOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
    _interrupt: &Interrupt,
) -> Result<Fit, FitError> {
    mcla::fit_with_progress(model, options, progress)
}

/// Whether the error is the engine's "interrupted".
pub fn is_interrupted(_e: &FitError) -> bool {
    false
}
