//! Writing results to standard output: the fit in text, CSV or JSON, and the call line.

use super::args::Format;
use super::error::{io_error, CliError};
use anyhow::Context;
use mcla::output::report::{self, ReportInfo};
use mcla::Fit;
use std::io::Write;

pub(crate) fn print_out(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // a closed pipe (`mcla fit ... | head`) is not an error
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(io_error(
            anyhow::Error::new(e).context("cannot write to standard output"),
        )),
    }
}

pub(crate) fn emit(
    fit: &Fit,
    info: &ReportInfo,
    format: Format,
    preamble: Option<&str>,
) -> Result<(), CliError> {
    match format {
        Format::Text => {
            let mut s = String::new();
            if let Some(p) = preamble {
                s.push_str(p);
            }
            s.push_str(&report::text_report(fit, info));
            print_out(&s)
        }
        Format::Csv => print_out(&mcla::output::tidy::params_csv(fit, info.level, None)),
        Format::Json => {
            let v = report::json_report(fit, info);
            let s = serde_json::to_string_pretty(&v)
                .context("cannot encode the result as JSON")
                .map_err(io_error)?;
            print_out(&(s + "\n"))
        }
    }
}

pub(crate) fn call_line() -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(a) = args.first_mut() {
        *a = "mcla".into();
    }
    report::command_line(&args)
}
