//! Errors of the binary, with their exit codes (2: usage or input, 1: the computation failed).

use mcla::{FitError, InputError};

/// An error with its exit code: 2 for usage/input problems, 1 for failures of the computation.
pub(crate) struct CliError {
    pub(crate) code: u8,
    pub(crate) error: anyhow::Error,
}

impl From<InputError> for CliError {
    fn from(e: InputError) -> Self {
        CliError {
            code: 2,
            error: anyhow::Error::new(e),
        }
    }
}

pub(crate) fn input(msg: String) -> CliError {
    CliError {
        code: 2,
        error: anyhow::anyhow!(msg),
    }
}

pub(crate) fn fit_error(e: FitError) -> CliError {
    let code = match e {
        FitError::Options(_) => 2,
        _ => 1,
    };
    CliError {
        code,
        error: anyhow::anyhow!("the fit failed: {e}"),
    }
}

pub(crate) fn io_error(e: anyhow::Error) -> CliError {
    CliError { code: 1, error: e }
}
