//! `mcla`: fit generalized linear mixed models by Monte Carlo likelihood approximation from the
//! shell.  This binary only parses arguments, reads files and prints; the statistics live in the
//! `mcla` library.

mod cli;

use clap::Parser;
use cli::args::{Cli, Command};
use cli::error::CliError;
use std::process::ExitCode;

/// Whether standard output was closed when mcla started (`mcla fit ... >&-`).  The Rust runtime
/// reopens a closed descriptor 1 as `/dev/null` (read-write) before `main`, so every write would
/// silently vanish; a shell's `> /dev/null` opens it write-only, which stays allowed.  Linux only
/// (elsewhere this returns false).
fn stdout_is_closed() -> bool {
    let Ok(target) = std::fs::read_link("/proc/self/fd/1") else {
        return false;
    };
    if target != std::path::Path::new("/dev/null") {
        return false;
    }
    let Ok(info) = std::fs::read_to_string("/proc/self/fdinfo/1") else {
        return false;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & 0o3 == 0o2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version are not errors
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let writes_stdout = match &cli.command {
        Command::Simulate(a) => a.out.is_none(),
        _ => true,
    };
    if writes_stdout && stdout_is_closed() {
        eprintln!("error: standard output is closed, so the results cannot be written; run the command without closing it (e.g. drop `>&-`), redirect it to a file (> results.txt){}", if matches!(cli.command, Command::Simulate(_)) { " or use --out FILE" } else { "" });
        return ExitCode::from(1);
    }
    let res = match cli.command {
        Command::Fit(a) => cli::fit::cmd_fit(a),
        Command::Simulate(a) => cli::simulate::cmd_simulate(a),
        Command::Example(a) => cli::example::cmd_example(a),
        Command::Compare(a) => cli::compare::cmd_compare(a),
        Command::Bootstrap(a) => cli::bootstrap::cmd_bootstrap(a),
        Command::Power(a) => cli::power::cmd_power(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError { code, error }) => {
            let mut msg = format!("{error}");
            for cause in error.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(&format!(": {c}"));
                }
            }
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}
