//! End-to-end tests of the `mcla` binary: real runs on the salamander data, NA handling,
//! `example`, `simulate` → `fit` round trip, and one test per class of bad input (non-zero exit,
//! a message on stderr naming the problem, never a panic).

mod common;

use common::{fit_json, mcla, salamander, shared_file, stderr, stdout, temp_csv};
use std::process::Command;

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
        "fit", "--data", &data, "--format", "json", "--m", "1e3", "--quiet",
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
    // --m 1000 with the default Sobol' draws: whole prefixes of 16 x 2^j points
    assert_eq!(v["m"], 1024);
    assert_eq!(v["m_auto"], false);
    assert_eq!(v["seed"], 1234);
    assert_eq!(v["sampler"], "adaptive");
    assert_eq!(v["draws"], "sobol");
    assert_eq!(v["draw_replicates"], 16);
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
        "m = 2048", // --m 2000 rounded up to whole Sobol' prefixes (16 x 2^7)
        "seed 1234",
        "1 thread,",
        "adaptive sampler, scrambled Sobol' draws in 16 randomisations",
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

/// `--draws` chooses the separator's standard draws: Sobol' (default) rounds m up to
/// whole Sobol' prefixes, plain keeps it; `--replicates` outside 2..=1024 is refused.
#[test]
fn draws_option_chooses_the_separator_draws() {
    let m_of = |extra: &[&str]| {
        let mut args = vec!["example", "--quiet", "--format", "json", "--m", "300"];
        args.extend_from_slice(extra);
        let o = mcla(&args);
        assert!(o.status.success(), "stderr: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["converged"], true);
        v["m"].as_u64().unwrap()
    };
    assert_eq!(m_of(&[]), 512);
    assert_eq!(m_of(&["--draws", "plain"]), 300);
    assert_eq!(m_of(&["--draws", "antithetic"]), 300);
    assert_eq!(m_of(&["--draws", "sobol", "--replicates", "3"]), 384);
    let o = mcla(&["example", "--quiet", "--replicates", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--replicates"), "{}", stderr(&o));
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

// ---------------------------------------------------------------------------------------------
// Issue 10: bad input and edge cases, each through the real binary.

fn warnings_of(j: &serde_json::Value) -> Vec<String> {
    j["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn separated_data_are_never_reported_as_converged() {
    let cases = [
        ("qa/sep.csv", "y ~ x", "x"),
        ("qa/qsep.csv", "y ~ x + trt", "trtB"),
        ("qa/two_rows.csv", "y ~ x", "x"),
    ];
    for (file, fixed, column) in cases {
        let Some(data) = shared_file(file) else {
            return;
        };
        let args = [
            "fit", "--data", &data, "--fixed", fixed, "--random", "~ 0 + g", "--m", "1000",
        ];
        let j = fit_json(&args);
        assert_eq!(j["converged"], false, "{file}");
        let sep: Vec<&str> = j["separation"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(sep.contains(&column), "{file}: {sep:?}");
        let w = warnings_of(&j);
        assert!(
            w[0].contains("does not exist") && w[0].contains("Remedy") && w[0].contains(column),
            "{file}: {w:?}"
        );
        let mut text_args = args.to_vec();
        text_args.push("--quiet");
        let text = stdout(&mcla(&text_args));
        assert!(!text.contains("Converged: yes"), "{file}: {text}");
        assert!(text.contains("DOES NOT EXIST"), "{file}: {text}");
    }
}

#[test]
fn a_separated_level_is_named_and_does_not_make_the_optimiser_crawl() {
    let Some(data) = shared_file("qa/levels100.csv") else {
        return;
    };
    let j = fit_json(&[
        "fit", "--data", &data, "--fixed", "y ~ f", "--random", "~0+g", "--m", "100",
    ]);
    assert!(
        j["iterations"].as_u64().unwrap() <= 60,
        "{}",
        j["iterations"]
    );
    assert_eq!(j["converged"], false);
    let sep = j["separation"].to_string();
    for level in ["fL38", "fL45", "fL99"] {
        assert!(sep.contains(level), "{sep}");
    }
}

#[test]
fn a_constant_response_is_refused_naming_the_column() {
    for (file, fixed, random, family, value) in [
        (
            "qa/all0.csv",
            "y ~ 1",
            "~ 0 + z1",
            "bernoulli",
            "is 0 in every row",
        ),
        (
            "qa/pois_all0.csv",
            "y ~ x",
            "~ 0 + g",
            "poisson",
            "is 0 in every row",
        ),
        (
            "qa/one_row.csv",
            "y ~ 0 + x1",
            "~ 0 + z1",
            "bernoulli",
            "is 1 in every row",
        ),
    ] {
        let Some(data) = shared_file(file) else {
            return;
        };
        expect_error(
            &fit_args(&data, fixed, random, &["--family", family]),
            &format!("the response 'y' {value}"),
        );
    }
}

#[test]
fn missing_value_spellings_are_missing_not_a_factor() {
    for file in ["qa/tok_NXAX.csv", "qa/tok_naX.csv"] {
        let Some(data) = shared_file(file) else {
            return;
        };
        let j = fit_json(&[
            "fit",
            "--data",
            &data,
            "--fixed",
            "y ~ 0 + x1",
            "--random",
            "~ 0 + z1",
            "--m",
            "200",
        ]);
        assert_eq!(j["dropped_rows"], 1, "{file}");
        assert_eq!(j["parameter_names"][0], "x1", "{file}");
        assert_eq!(j["coefficients"].as_object().unwrap().len(), 1, "{file}");
    }
}

#[test]
fn a_mostly_numeric_column_with_a_stray_token_is_an_error_naming_it() {
    let csv = temp_csv(
        "stray",
        "y,x,g\n1,0.5,a\n0,0.7,b\n1,oops,a\n0,0.1,b\n1,0.2,a\n0,0.9,b\n1,0.3,c\n0,0.4,c\n",
    );
    expect_error(
        &fit_args(&csv, "y ~ x", "~ 0 + g", &[]),
        "column 'x' has 7 numbers but also 1 cell(s) that are not numbers: 'oops' (line 4)",
    );
    // either reading can be forced
    let j = fit_json(&[
        "fit",
        "--data",
        &csv,
        "--fixed",
        "y ~ x",
        "--random",
        "~ 0 + g",
        "--m",
        "100",
        "--na-strings",
        "NA,oops",
    ]);
    assert_eq!(j["dropped_rows"], 1);
    assert_eq!(j["parameter_names"][1], "x");
    let o = mcla(&fit_args(&csv, "y ~ x", "~ 0 + g", &["--factor", "x"]));
    assert!(!stderr(&o).contains("not numbers"), "{}", stderr(&o));
    let _ = std::fs::remove_file(csv);
}

#[test]
fn malformed_quoting_is_an_error_with_its_line() {
    if let Some(data) = shared_file("qa/strayquote.csv") {
        expect_error(
            &fit_args(&data, "y ~ 0 + x1", "~ 0 + z1", &[]),
            "line 20: the quoted field",
        );
    }
    if let Some(data) = shared_file("qa/unterminated.csv") {
        expect_error(
            &fit_args(&data, "y ~ 0 + x1", "~ 0 + z1", &[]),
            "line 2: the quoted field",
        );
    }
    let eof = temp_csv("eofquote", "y,x,g\n1,0.5,a\n0,0.2,\"b\n1,0.1,a\n");
    expect_error(&fit_args(&eof, "y ~ x", "~ 0 + g", &[]), "never closed");
    let _ = std::fs::remove_file(eof);
}

#[test]
fn a_random_formula_with_an_intercept_is_refused_with_the_glmm_spelling() {
    let csv = temp_csv("rint", "y,x,g\n1,0.5,a\n0,0.7,b\n1,0.2,a\n0,0.1,b\n");
    for random in ["~ g", "~ 1 + g"] {
        expect_error(&fit_args(&csv, "y ~ x", random, &[]), "write '~ 0 + g'");
    }
    let _ = std::fs::remove_file(csv);
}

#[test]
fn duplicated_or_degenerate_random_effects_are_refused() {
    let csv = temp_csv(
        "dupre",
        "y,x,g,w\n1,0.5,a,1\n0,0.7,b,2\n1,0.2,a,1\n0,0.1,b,1\n",
    );
    expect_error(
        &[
            "fit",
            "--data",
            &csv,
            "--fixed",
            "y ~ x",
            "--random",
            "~ 0 + g",
            "--random",
            "~0+g",
            "--varcomps",
            "A,B",
            "--m",
            "100",
        ],
        "random-effect formulas 1 and 2 are the same",
    );
    expect_error(
        &fit_args(&csv, "y ~ x", "~ 0 + y", &[]),
        "the response column 'y' is also used in the random-effect formula",
    );
    expect_error(
        &fit_args(&csv, "y ~ x + y", "~ 0 + g", &[]),
        "the response column 'y' is also used in the right-hand side",
    );
    expect_error(
        &fit_args(&csv, "y ~ x", "~ 0 + g", &["--weights", "y"]),
        "is also used in --weights",
    );
    let _ = std::fs::remove_file(csv);
}

#[test]
fn a_variance_name_equal_to_a_coefficient_name_is_refused() {
    let csv = temp_csv("clash", "y,x,g\n1,0.5,a\n0,0.7,b\n1,0.2,a\n0,0.1,b\n");
    expect_error(
        &fit_args(&csv, "y ~ x", "~ 0 + g", &["--varcomps", "x"]),
        "both a fixed-effect coefficient and a variance component",
    );
    let _ = std::fs::remove_file(csv);
}

#[test]
fn a_huge_zeta_gives_the_estimate_of_a_large_zeta() {
    let Some(data) = shared_file("data/BoothHobert.csv") else {
        return;
    };
    let x1 = |zeta: &str| {
        fit_json(&[
            "fit",
            "--data",
            &data,
            "--fixed",
            "y ~ 0 + x1",
            "--random",
            "~ 0 + z1",
            "--m",
            "1e4",
            "--zeta",
            zeta,
        ])["coefficients"]["x1"]
            .as_f64()
            .unwrap()
    };
    // the t component is normal to within 1e-6 at both; before the fix 1e16 gave 5.58
    let (a, b) = (x1("1e6"), x1("1e16"));
    assert!((a - b).abs() < 0.01, "zeta 1e6: {a}, zeta 1e16: {b}");
}

#[test]
fn false_convergence_is_refused_or_flagged() {
    let Some(data) = shared_file("data/BoothHobert.csv") else {
        return;
    };
    let bh = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "fit",
            "--data",
            &data,
            "--fixed",
            "y ~ 0 + x1",
            "--random",
            "~ 0 + z1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a = bh(&["--m", "1e3", "--rmax", "1e-10"]);
    expect_error(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        "--rmax 1e-10 is too small",
    );
    let a = bh(&["--par-init", "1e300,1"]);
    expect_error(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        "linear predictor",
    );
    // a start with a tiny variance: the estimate cannot be trusted, and the report says so
    let a = bh(&["--par-init", "6,1e-3"]);
    let j = fit_json(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        warnings_of(&j)
            .iter()
            .any(|w| w.contains("importance sample was built for z1 = 0.0010")),
        "{:?}",
        warnings_of(&j)
    );
    // which criterion stopped a converged fit is reported
    let a = bh(&["--m", "1e3"]);
    let j = fit_json(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(j["converged"], true);
    let why = j["stop_reason"].as_str().unwrap();
    assert!(why.contains("fterm") || why.contains("mterm"), "{why}");
}

#[test]
fn too_many_threads_are_capped_with_a_note() {
    let csv = temp_csv(
        "threads",
        "y,x,g\n1,0.5,a\n0,0.7,b\n1,0.2,a\n0,0.1,b\n0,0.3,c\n1,0.9,c\n",
    );
    let start = std::time::Instant::now();
    let o = mcla(&fit_args(
        &csv,
        "y ~ x",
        "~ 0 + g",
        &["--threads", "10000", "--format", "json"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("note: --threads 10000"),
        "{}",
        stderr(&o)
    );
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    assert!(j["threads"].as_u64().unwrap() as usize <= 4 * cores);
    assert!(start.elapsed().as_secs() < 30);
    let _ = std::fs::remove_file(csv);
}

#[test]
fn an_address_space_limit_gives_the_low_memory_error_not_a_crash() {
    if !std::path::Path::new("/proc/self/limits").exists() {
        eprintln!("NOTICE: no /proc/self/limits; skipping");
        return;
    }
    let rows: String = (0..100)
        .map(|i| format!("{},{},g{}\n", i % 2, i as f64 / 100.0, i % 10))
        .collect();
    let csv = temp_csv("ulimit", &format!("y,x,g\n{rows}"));
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 1000000 && exec '{}' fit --data '{csv}' --fixed 'y ~ x' --random '~ 0 + g' --m 5e6 --sampler factorised --threads 1 --quiet",
            env!("CARGO_BIN_EXE_mcla")
        ))
        .output()
        .expect("sh runs");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--low-memory"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{err}"
    );
    let _ = std::fs::remove_file(csv);
}

#[test]
fn simulate_checks_crossed_sizes_and_refuses_formulas_with_crossed() {
    expect_error(
        &[
            "simulate",
            "--crossed",
            "100000,100000,100000",
            "--out",
            "/dev/null",
        ],
        "too many",
    );
    expect_error(
        &["simulate", "--crossed", "2,3,2", "--fixed", "y~0+x1"],
        "cannot be used with",
    );
}

#[test]
fn nested_random_effects_drop_empty_cells_with_a_note() {
    let mut rows = String::new();
    for (site, blocks) in [("A", ["1", "2"]), ("B", ["3", "4"])] {
        for b in blocks {
            for k in 0..6 {
                rows.push_str(&format!(
                    "{},\"{site}\",\"{b}\"\n",
                    (k * 7 + b.len() + site.len() + k / 2) % 5
                ));
            }
        }
    }
    let csv = temp_csv("nested", &format!("resp,Site,Block\n{rows}"));
    let o = mcla(&fit_args(
        &csv,
        "resp ~ Site",
        "~ 0 + Site:Block",
        &["--family", "poisson"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "note: random formula '~ 0 + Site:Block': 4 of 8 random effects have no observations"
        ),
        "{err}"
    );
    assert!(err.contains("SiteA:Block3"), "{err}");
    let _ = std::fs::remove_file(csv);
}

#[test]
fn a_level_that_does_not_occur_is_reported_as_absent() {
    let csv = temp_csv("abslev", "y,f,g\n1,a,x\n0,b,y\n1,a,x\n0,b,y\n");
    expect_error(
        &fit_args(&csv, "y ~ f", "~ 0 + g", &["--levels", "f=a,b,c"]),
        "level 'c' given for column 'f' does not occur in the data",
    );
    let _ = std::fs::remove_file(csv);
}

#[test]
fn wrong_cause_messages_now_name_the_actual_problem() {
    if let Some(data) = shared_file("qa/binom_negf.csv") {
        expect_error(
            &fit_args(
                &data,
                "cbind(s, f) ~ x",
                "~ 0 + g",
                &["--family", "binomial"],
            ),
            "the failures column 'f' of cbind(successes, failures) is -1",
        );
    }
    let good =
        "y,x,g,w,c\n1,0.5,a,1,3\n0,1.5,a,1e300,1\n1,2.0,b,1,100000000000000000000\n0,1.0,b,1,2\n";
    let csv = temp_csv("wrongcause", good);
    expect_error(
        &fit_args(&csv, "y ~ x", "~ 0 + g", &["--weights", "w"]),
        "weight 1e300 at row 2 is too large",
    );
    expect_error(
        &fit_args(&csv, "c ~ x", "~ 0 + g", &["--family", "poisson"]),
        "the count 1e20 at row 3 is too large",
    );
    expect_error(
        &fit_args(&csv, "y ~ x", "~ 0 + g", &["--mixture", "-0.1,0.6,0.5"]),
        "mixture probability -0.1",
    );
    expect_error(
        &fit_args(&csv, "y ~ x", "~ 0 + g", &["--seed", "-1"]),
        "'-1' is not a seed",
    );
    let dir = std::env::temp_dir().to_string_lossy().into_owned();
    expect_error(&fit_args(&dir, "y ~ x", "~ 0 + g", &[]), "is a directory");
    let empty_name = temp_csv("emptyname", "y,,g\n1,2,a\n0,3,b\n");
    expect_error(
        &fit_args(&empty_name, "y ~ 1", "~ 0 + g", &[]),
        "column 2 of the header has no name",
    );
    let semi = temp_csv("semi", "y;x;g\n1;2;a\n0;3;b\n");
    expect_error(
        &fit_args(&semi, "y ~ x", "~ 0 + g", &[]),
        "seems to use semicolons",
    );
    let tab = temp_csv("tab", "y\tx\tg\n1\t2\ta\n0\t3\tb\n");
    expect_error(
        &fit_args(&tab, "y ~ x", "~ 0 + g", &[]),
        "seems to use tabs",
    );
    let slash = temp_csv("slash", "y,x1,z1/a\n1,2,a\n0,3,b\n1,2,a\n0,1,b\n");
    expect_error(
        &fit_args(&slash, "y ~ 1", "~ 0 + z1/a", &[]),
        "the data have a column named 'z1/a'",
    );
    for p in [csv, empty_name, semi, tab, slash] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn cosmetic_problems_are_fixed() {
    // the ESS warning is a short summary even for hundreds of low-ESS blocks
    let rows: String = (0..600)
        .map(|i| {
            format!(
                "{},{},g{}\n",
                (i * 7 / 3) % 2,
                (i % 13) as f64 / 13.0,
                i / 3
            )
        })
        .collect();
    let csv = temp_csv("manyblocks", &format!("y,x,g\n{rows}"));
    let o = mcla(&fit_args(
        &csv,
        "y ~ x",
        "~ 0 + g",
        &["--m", "10", "--sampler", "factorised", "--format", "json"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let w = warnings_of(&j);
    let ess = w
        .iter()
        .find(|w| w.contains("effective sample size"))
        .expect("ESS warning");
    assert!(ess.contains("of 200 blocks (worst:"), "{ess}");
    assert!(ess.len() < 600, "{} characters", ess.len());
    expect_error(
        &fit_args(&csv, "y ~ x", "~ 0 + g", &["--level", "1e-300"]),
        "confidence level '1e-300' is outside",
    );
    let f = temp_csv("levtwice", "y,f,g\n1,a,x\n0,b,y\n1,a,x\n0,b,y\n");
    expect_error(
        &fit_args(
            &f,
            "y ~ f",
            "~ 0 + g",
            &["--levels", "f=a,b", "--levels", "f=b,a"],
        ),
        "two level orders were given for column 'f'",
    );
    expect_error(
        &fit_args(&f, "y ~ f", "~ 0 + g", &["--no-pql", "--par-init", "0,0,1"]),
        "cannot be used with",
    );
    // standard output closed: an error, not a silent success
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec '{}' fit --data '{f}' --fixed 'y ~ f' --random '~ 0 + g' --m 100 --quiet >&-",
            env!("CARGO_BIN_EXE_mcla")
        ))
        .output()
        .expect("sh runs");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("standard output is closed"),
        "{}",
        stderr(&o)
    );
    // ... while > /dev/null is fine
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec '{}' fit --data '{f}' --fixed 'y ~ f' --random '~ 0 + g' --m 100 --quiet > /dev/null",
            env!("CARGO_BIN_EXE_mcla")
        ))
        .output()
        .expect("sh runs");
    assert!(o.status.success(), "{}", stderr(&o));
    for p in [csv, f] {
        let _ = std::fs::remove_file(p);
    }
}

/// Issue 18.1: integer grouping IDs (the salamander file with its quotes removed, as R's
/// `write.csv` of `read.csv` data gives it) make each random formula one random slope on the ID
/// numbers; the warning that says so, naming the column and the fix, comes first, before the
/// fit's own symptoms (variance at zero, singular Hessian).
#[test]
fn a_numeric_id_column_in_a_random_formula_is_the_first_warning() {
    let Some(data) = salamander() else { return };
    let unquoted = std::fs::read_to_string(&data)
        .expect("read salamander.csv")
        .replace('"', "");
    let path = temp_csv("numeric-ids", &unquoted);
    let mut args = vec!["fit", "--data", path.as_str()];
    args.extend(SALAMANDER_ARGS);
    args.extend(["--m", "1000"]);
    let j = fit_json(&args);
    let w = warnings_of(&j);
    assert!(
        w.len() >= 2,
        "expected the ID warning and the fit's own: {w:?}"
    );
    assert!(
        w[0].contains("numeric column(s) 'Female'") && w[0].contains("--factor Female"),
        "first warning: {w:?}"
    );
    assert!(w[1].contains("'Male'"), "second warning: {w:?}");
}

/// `--subtrees` (issue 17): on subjects x items x 2 trials with a subject:item effect the
/// sampled block integrates each subject and its cells given the items; the JSON names the
/// method and the fit agrees with the default split's within a few MCSE.
#[test]
fn subtrees_option_integrates_subjects_and_cells_given_the_items() {
    let mut csv = String::from("y,subj,item,cell,cond\n");
    for r in 0..(8 * 5 * 2) {
        let (cell, s) = (r / 2, r / 10);
        let i = cell % 5;
        // a deterministic mixture of 0s and 1s with subject and item structure
        let y = u8::from((r * 7 + s * 3 + i * 5) % 11 < 5 + (s % 3));
        csv.push_str(&format!(
            "{y},s{s},i{i},c{s}_{i},{}\n",
            (cell % 2) as f64 - 0.5
        ));
    }
    let data = temp_csv("subtrees_cli", &csv);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "fit",
            "--data",
            &data,
            "--formula",
            "y ~ cond + (1 | subj) + (1 | item) + (1 | cell)",
            "--m",
            "256",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let o = mcla(&args);
        assert!(o.status.success(), "stderr: {}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let (with, without) = (run(&["--subtrees"]), run(&[]));
    assert_eq!(
        with["block_sizes"][0]["method"],
        "sampled_separator_subtrees"
    );
    assert_eq!(without["block_sizes"][0]["method"], "sampled_separator");
    let (a, b) = (
        with["loglik"].as_f64().unwrap(),
        without["loglik"].as_f64().unwrap(),
    );
    let tol = 4.0
        * (with["loglik_mcse"].as_f64().unwrap().powi(2)
            + without["loglik_mcse"].as_f64().unwrap().powi(2))
        .sqrt();
    assert!((a - b).abs() < tol.max(1e-3), "log-likelihoods {a} and {b}");
}
