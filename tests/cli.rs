//! End-to-end tests of the `mcla` binary: real runs on the salamander data, NA handling,
//! `example`, `simulate` → `fit` round trip, and one test per class of bad input (non-zero exit,
//! a message on stderr naming the problem, never a panic).

use std::path::PathBuf;
use std::process::{Command, Output};

fn mcla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcla"))
        .args(args)
        .output()
        .expect("the mcla binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `<CARGO_MANIFEST_DIR>/../shared/data/salamander.csv`, or `None` (with a notice) when absent,
/// unless `MCLA_REQUIRE_REFERENCE=1`.
fn salamander() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/salamander.csv");
    if path.is_file() {
        return Some(path.to_string_lossy().into_owned());
    }
    if std::env::var("MCLA_REQUIRE_REFERENCE").as_deref() == Ok("1") {
        panic!(
            "reference data not found at {} and MCLA_REQUIRE_REFERENCE=1",
            path.display()
        );
    }
    eprintln!(
        "NOTICE: reference data not found at {}; skipping",
        path.display()
    );
    None
}

/// A temporary file with the given contents (unique per test and process).
fn temp_csv(name: &str, contents: &str) -> String {
    let path = std::env::temp_dir().join(format!("mcla-cli-{}-{name}.csv", std::process::id()));
    std::fs::write(&path, contents).expect("write temp file");
    path.to_string_lossy().into_owned()
}

const SALAMANDER_ARGS: [&str; 12] = [
    "--fixed",
    "Mate ~ 0 + Cross",
    "--random",
    "~ 0 + Female",
    "--random",
    "~ 0 + Male",
    "--varcomps",
    "F,M",
    "--family",
    "bernoulli",
    "--seed",
    "1234",
];

#[test]
#[allow(clippy::approx_constant)] // 0.318 is the MLE of CrossR/W, not 1/pi
fn salamander_json_matches_the_mle() {
    let Some(data) = salamander() else { return };
    let mut args = vec![
        "fit", "--data", &data, "--format", "json", "--m", "1e4", "--quiet",
    ];
    args.extend(SALAMANDER_ARGS);
    let o = mcla(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON on stdout");
    for key in [
        "parameter_names",
        "coefficients",
        "varcomps",
        "se",
        "mcse",
        "confint",
        "loglik",
        "loglik_glmm",
        "loglik_mcse",
        "converged",
        "iterations",
        "m",
        "seed",
        "threads",
        "sampler",
        "ess",
        "vcov",
        "mcvcov",
        "warnings",
        "n",
        "dropped_rows",
        "family",
        "elapsed_seconds",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(v["converged"], true);
    assert_eq!(v["m"], 10000);
    assert_eq!(v["seed"], 1234);
    assert_eq!(v["sampler"], "factorised");
    assert_eq!(v["n"], 360);
    assert_eq!(v["dropped_rows"], 0);
    let names: Vec<&str> = v["parameter_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["CrossR/R", "CrossR/W", "CrossW/R", "CrossW/W", "F", "M"]
    );
    let mle_beta = [1.017, 0.318, -1.941, 0.995];
    for (name, mle) in names[..4].iter().zip(mle_beta) {
        let b = v["coefficients"][name].as_f64().unwrap();
        assert!((b - mle).abs() < 0.06, "{name}: {b} vs MLE {mle}");
    }
    for (name, mle) in [("F", 1.380), ("M", 1.241)] {
        let nu = v["varcomps"][name].as_f64().unwrap();
        assert!((nu - mle).abs() < 0.15, "{name}: {nu} vs MLE {mle}");
    }
    let ess = v["ess"].as_array().unwrap();
    assert_eq!(ess.len(), 6);
    assert!(
        ess.iter().all(|e| e.as_f64().unwrap() > 300.0),
        "ESS {ess:?}"
    );
    for key in ["se", "mcse"] {
        for name in &names {
            let x = v[key][name].as_f64().unwrap();
            assert!(x.is_finite() && x > 0.0, "{key}[{name}] = {x}");
        }
    }
    for name in &names {
        let ci = v["confint"][name].as_array().unwrap();
        assert!(ci[0].as_f64().unwrap() < ci[1].as_f64().unwrap());
    }
    let vcov = v["vcov"].as_array().unwrap();
    assert_eq!(vcov.len(), 6);
    assert!(vcov.iter().all(|r| r.as_array().unwrap().len() == 6));
    // bernoulli: the data constant is 0
    assert_eq!(v["loglik"], v["loglik_glmm"]);
    // the same seed gives the same numbers with one thread
    let mut args1 = args.clone();
    args1.extend(["--threads", "1"]);
    let o1 = mcla(&args1);
    let v1: serde_json::Value = serde_json::from_slice(&o1.stdout).expect("valid JSON");
    for key in ["coefficients", "varcomps", "se", "mcse", "loglik", "ess"] {
        assert_eq!(v[key], v1[key], "{key} differs between thread counts");
    }
}

#[test]
fn salamander_text_report_has_the_tables() {
    let Some(data) = salamander() else { return };
    let mut args = vec!["fit", "--data", &data, "--m", "2000", "--threads", "1"];
    args.extend(SALAMANDER_ARGS);
    let o = mcla(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "Call:",
        "mcla fit --data",
        "\"Mate ~ 0 + Cross\"",
        "Fixed Effects:",
        "Estimate Std. Error z value Pr(>|z|)",
        "Variance Components for Random Effects (P-values are one-tailed):",
        "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
        "MCSE",
        "Effective sample size",
        "m = 2000",
        "seed 1234",
        "1 thread,",
        "factorised sampler",
        "confidence intervals",
        "Log-likelihood:",
        "R glmm's value:",
        "Converged: yes",
        "Elapsed:",
        "CrossW/R",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn na_rows_are_dropped_and_counted() {
    let mut csv = String::from("y,x,g\n");
    for i in 0..60 {
        let x = if i % 20 == 7 {
            "NA".to_string()
        } else {
            format!("{}", (i % 5) as f64 / 4.0)
        };
        let y = if i == 3 {
            String::new()
        } else {
            u8::from((i * 7 + i / 6) % 3 == 0).to_string()
        };
        csv.push_str(&format!("{y},{x},g{}\n", i / 6));
    }
    let path = temp_csv("na", &csv);
    let base = [
        "fit",
        "--data",
        &path,
        "--fixed",
        "y ~ x",
        "--random",
        "~ 0 + g",
        "--varcomps",
        "g",
        "--m",
        "1000",
        "--quiet",
    ];
    let o = mcla(&base);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(
        stderr(&o).contains("4 of 60 data rows dropped"),
        "stderr: {}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("4 of 60 data rows dropped"));
    let mut json = base.to_vec();
    json.extend(["--format", "json"]);
    let o = mcla(&json);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dropped_rows"], 4);
    assert_eq!(v["n"], 56);
    let _ = std::fs::remove_file(path);
}

#[test]
fn example_prints_the_truth() {
    let o = mcla(&["example", "--quiet"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Truth"), "{out}");
    assert!(
        out.contains("Fixed Effects:") && out.contains("Converged: yes"),
        "{out}"
    );
    let o = mcla(&["example", "--quiet", "--format", "json", "--m", "2000"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["truth"]["CrossW/R"], -1.9);
    assert_eq!(v["converged"], true);
}

#[test]
fn simulate_round_trips_into_fit() {
    let path = std::env::temp_dir().join(format!("mcla-cli-{}-sim.csv", std::process::id()));
    let path = path.to_string_lossy().into_owned();
    let o = mcla(&[
        "simulate",
        "--crossed",
        "6,10,6",
        "--seed",
        "5",
        "--out",
        &path,
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let csv = std::fs::read_to_string(&path).unwrap();
    assert!(csv.starts_with("Mate,Cross,Female,Male\n"));
    assert_eq!(csv.lines().count(), 361);
    // same seed, same file on stdout
    let o2 = mcla(&["simulate", "--seed", "5"]);
    assert_eq!(stdout(&o2), csv);
    let mut args = vec![
        "fit", "--data", &path, "--format", "json", "--m", "2000", "--quiet",
    ];
    args.extend(SALAMANDER_ARGS);
    let o = mcla(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["n"], 360);
    assert_eq!(v["ess"].as_array().unwrap().len(), 6);
    // a design CSV: the response column is added, then fitted
    let design = temp_csv(
        "design",
        &(0..40)
            .map(|i| format!("{},g{}\n", i % 4, i / 5))
            .fold("x,g\n".to_string(), |a, b| a + &b),
    );
    let out = std::env::temp_dir()
        .join(format!("mcla-cli-{}-sim2.csv", std::process::id()))
        .to_string_lossy()
        .into_owned();
    let o = mcla(&[
        "simulate", "--design", &design, "--fixed", "y ~ x", "--random", "~ 0 + g", "--family",
        "poisson", "--beta", "0.5,0.2", "--nu", "0.3", "--out", &out,
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let o = mcla(&[
        "fit", "--data", &out, "--fixed", "y ~ x", "--random", "~ 0 + g", "--family", "poisson",
        "--m", "1000", "--quiet",
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    for p in [path, design, out] {
        let _ = std::fs::remove_file(p);
    }
}

/// Run and expect a failure whose stderr starts with `error:` and contains `phrase`.
fn expect_error(args: &[&str], phrase: &str) {
    let o = mcla(args);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "{args:?} succeeded; stdout: {}",
        stdout(&o)
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?}: exit code {:?}, stderr {err}",
        o.status.code()
    );
    assert!(
        err.starts_with("error:"),
        "{args:?}: stderr does not start with 'error:': {err}"
    );
    assert!(
        err.contains(phrase),
        "{args:?}: stderr lacks {phrase:?}: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{args:?}: {err}"
    );
}

fn fit_args<'a>(data: &'a str, fixed: &'a str, random: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "fit", "--data", data, "--fixed", fixed, "--random", random, "--quiet",
    ];
    v.extend(extra);
    if !extra.contains(&"--m") {
        v.extend(["--m", "100"]);
    }
    v
}

#[test]
fn bad_inputs_fail_cleanly() {
    let good = temp_csv("good", "y,x,g,w,c,k\n1,0.5,a,1,3,1\n0,1.5,a,2,1,4\n1,2.0,b,-1,0,-2\n0,1.0,b,1,2,0\n1,0.2,c,1,5,3\n0,0.1,c,1,0,1\n");
    let ragged = temp_csv("ragged", "y,x,g\n1,0.5,a\n0,1.5\n");
    let empty = temp_csv("empty", "");
    let text_y = temp_csv("texty", "y,x,g\nyes,1,a\nno,2,a\nyes,3,b\n");
    let missing = std::env::temp_dir()
        .join("mcla-cli-no-such-file.csv")
        .to_string_lossy()
        .into_owned();

    expect_error(
        &fit_args(&missing, "y ~ x", "~ 0 + g", &[]),
        "cannot read data file",
    );
    expect_error(
        &fit_args(&ragged, "y ~ x", "~ 0 + g", &[]),
        "has 2 fields but the header has 3",
    );
    expect_error(&fit_args(&empty, "y ~ x", "~ 0 + g", &[]), "empty");
    expect_error(
        &fit_args(&good, "y ~ xx", "~ 0 + g", &[]),
        "did you mean 'x'",
    );
    expect_error(&fit_args(&text_y, "y ~ x", "~ 0 + g", &[]), "categorical");
    expect_error(
        &fit_args(&good, "y ~ x +", "~ 0 + g", &[]),
        "cannot parse formula",
    );
    expect_error(&fit_args(&good, "y ~ x", "y ~ 0 + g", &[]), "one-sided");
    expect_error(
        &fit_args(&good, "y ~ x", "~ 0 + g", &["--varcomps", "A,B"]),
        "variance component",
    );
    for m in ["0", "-5", "abc"] {
        expect_error(
            &fit_args(&good, "y ~ x", "~ 0 + g", &["--m", m]),
            "sample size",
        );
    }
    expect_error(
        &fit_args(&good, "y ~ x", "~ 0 + g", &["--family", "gaussian"]),
        "unknown family",
    );
    expect_error(
        &fit_args(&good, "y ~ x", "~ 0 + g", &["--threads", "0"]),
        "at least 1",
    );
    expect_error(
        &fit_args(&good, "y ~ x", "~ 0 + g", &["--mixture", "0.5,0.5,0.5"]),
        "sum to 1",
    );
    expect_error(
        &fit_args(&good, "y ~ x", "~ 0 + g", &["--weights", "w"]),
        "negative",
    );
    expect_error(&fit_args(&good, "c ~ x", "~ 0 + g", &[]), "must be 0 or 1");
    expect_error(
        &fit_args(&good, "k ~ 1", "~ 0 + g", &["--family", "poisson"]),
        "non-negative integer",
    );
    expect_error(
        &fit_args(&good, "cbind(y, c) ~ x", "~ 0 + g", &[]),
        "--family binomial",
    );
    expect_error(
        &["fit", "--data", &good, "--fixed", "y ~ x", "--m", "100"],
        "random",
    );
    expect_error(&["frobnicate"], "unrecognized subcommand");
    for p in [good, ragged, empty, text_y] {
        let _ = std::fs::remove_file(p);
    }
}
