//! Solver options and their validation.

use thiserror::Error;

/// Tuning constants of the trust-region maximiser (the arguments of R's
/// `trust()` other than `objfun` and `parinit`).
///
/// Build with [`TrustOptions::default`] and adjust fields, or with the checked
/// constructor [`TrustOptions::checked`]. [`maximize`](crate::maximize)
/// validates the options again (including the length of `parscale`, which is
/// only known once the starting point is given), so an invalid value never
/// reaches the iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustOptions {
    /// Initial trust-region radius (R: `rinit`). Must be finite and `> 0`.
    /// Default `10` (what `glmm` uses).
    pub rinit: f64,
    /// Maximum trust-region radius (R: `rmax`). Must be finite and
    /// `>= rinit`. Default `1000`.
    pub rmax: f64,
    /// Maximum number of iterations (R: `iterlim`). Must be `>= 1`.
    /// Default `1000`.
    pub iterlim: usize,
    /// Terminate when the actual change of the objective at a finite trial
    /// point is below this (R: `fterm`). Finite, `>= 0`. Default `sqrt(eps)`.
    pub fterm: f64,
    /// Terminate when the predicted change of the quadratic model is below
    /// this (R: `mterm`). Finite, `>= 0`. Default `sqrt(eps)`.
    pub mterm: f64,
    /// Optional parameter scaling: the trust-region problem is solved in the
    /// variables `u = x / parscale` (the radius bounds `||s / parscale||`).
    /// Entries must be finite and `> 0`, one per parameter. Default `None`.
    pub parscale: Option<Vec<f64>>,
    /// Terminate *before* evaluating the trial point when the step is the unconstrained
    /// Newton step (the model is concave and the step lies inside the radius) and the
    /// increase it predicts is below this: the Newton decrement `g'(-H)^{-1}g / 2` says the
    /// maximum lies within `sqrt(2 tol)` of the current point in the metric of `-H`, so the
    /// trial's evaluation would not change the answer at that resolution.  Not part of R
    /// `trust` (whose tests both need the trial's value); finite, `>= 0`.  Default `None`.
    pub newton_decrement: Option<f64>,
}

impl Default for TrustOptions {
    fn default() -> Self {
        let sqrt_eps = f64::EPSILON.sqrt();
        TrustOptions {
            rinit: 10.0,
            rmax: 1000.0,
            iterlim: 1000,
            fterm: sqrt_eps,
            mterm: sqrt_eps,
            parscale: None,
            newton_decrement: None,
        }
    }
}

/// Why a [`TrustOptions`] value was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptionsError {
    /// `rinit` is not a finite positive number.
    #[error("initial trust radius rinit must be finite and > 0, got {0}")]
    InvalidRinit(f64),
    /// `rmax` is not finite or is smaller than `rinit`.
    #[error("maximum trust radius rmax must be finite and >= rinit = {rinit}, got {rmax}")]
    InvalidRmax {
        /// The offending `rmax`.
        rmax: f64,
        /// The `rinit` it was compared with.
        rinit: f64,
    },
    /// `iterlim` is zero.
    #[error("iteration limit iterlim must be at least 1")]
    ZeroIterlim,
    /// A termination tolerance is negative or not finite.
    #[error("tolerance {name} must be finite and >= 0, got {value}")]
    InvalidTolerance {
        /// `"fterm"`, `"mterm"` or `"newton_decrement"`.
        name: &'static str,
        /// The offending value.
        value: f64,
    },
    /// `parscale` has the wrong number of entries.
    #[error("parscale has {found} entries but there are {expected} parameters")]
    ParscaleLength {
        /// Number of parameters.
        expected: usize,
        /// Length of `parscale`.
        found: usize,
    },
    /// A `parscale` entry is not a finite positive number.
    #[error("parscale[{index}] must be finite and > 0, got {value}")]
    InvalidParscale {
        /// Position of the entry.
        index: usize,
        /// The offending value.
        value: f64,
    },
}

impl TrustOptions {
    /// Checked constructor: builds the options and validates everything that
    /// does not depend on the number of parameters (the length of
    /// `parscale` is checked by [`maximize`](crate::maximize)).
    pub fn checked(
        rinit: f64,
        rmax: f64,
        iterlim: usize,
        fterm: f64,
        mterm: f64,
        parscale: Option<Vec<f64>>,
    ) -> Result<Self, OptionsError> {
        let options = TrustOptions {
            rinit,
            rmax,
            iterlim,
            fterm,
            mterm,
            parscale,
            newton_decrement: None,
        };
        options.validate(None)?;
        Ok(options)
    }

    /// Validate the options. When `n_params` is `Some(n)` the length of
    /// `parscale` must also be `n`.
    pub fn validate(&self, n_params: Option<usize>) -> Result<(), OptionsError> {
        if !(self.rinit.is_finite() && self.rinit > 0.0) {
            return Err(OptionsError::InvalidRinit(self.rinit));
        }
        if !(self.rmax.is_finite() && self.rmax >= self.rinit) {
            return Err(OptionsError::InvalidRmax {
                rmax: self.rmax,
                rinit: self.rinit,
            });
        }
        if self.iterlim == 0 {
            return Err(OptionsError::ZeroIterlim);
        }
        let decrement = self.newton_decrement.unwrap_or(0.0);
        for (name, value) in [
            ("fterm", self.fterm),
            ("mterm", self.mterm),
            ("newton_decrement", decrement),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(OptionsError::InvalidTolerance { name, value });
            }
        }
        if let Some(scale) = &self.parscale {
            if let Some(n) = n_params {
                if scale.len() != n {
                    return Err(OptionsError::ParscaleLength {
                        expected: n,
                        found: scale.len(),
                    });
                }
            }
            for (index, &value) in scale.iter().enumerate() {
                // 1/value must be finite too (R checks both).
                if !(value.is_finite() && value > 0.0 && (1.0 / value).is_finite()) {
                    return Err(OptionsError::InvalidParscale { index, value });
                }
            }
        }
        Ok(())
    }
}
