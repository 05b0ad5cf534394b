//! The engine's interrupt API as the binding uses it (Ctrl-C → `Interrupt::trigger`).

pub use mcla::{fit_interruptible, Interrupt};
use mcla::FitError;

/// Whether the error is the engine's "interrupted".
pub fn is_interrupted(e: &FitError) -> bool {
    matches!(e, FitError::Interrupted)
}
