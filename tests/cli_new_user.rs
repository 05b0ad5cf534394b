//! Regression tests for defects found when the CLI was tried as a new user would (issues 16 and
//! 18): ambiguous input is refused with the way out, reports say what was actually computed.

mod common;

use common::{mcla, shared_file, stderr, stdout, temp_file};

/// `../shared/data/<name>.csv`, or `None` (with a notice) when absent (see
/// [`common::shared_file`]).
fn reference(name: &str) -> Option<String> {
    shared_file(&format!("data/{name}.csv"))
}

/// Issue 16.1: BoothHobert with `z1` written `1` on some rows and `"1"` on others used to be
/// read as numeric (one random slope, log-likelihood -47.11 instead of -44.06), exit 0.
#[test]
fn a_partly_quoted_grouping_column_is_refused_naming_counts_lines_and_fixes() {
    let Some(path) = reference("BoothHobert") else {
        return;
    };
    let text = std::fs::read_to_string(path).expect("BoothHobert.csv");
    // unquote z1 on the data rows of lines 2..=6 (file lines, header = line 1)
    let mut out = String::new();
    let mut unquoted = 0;
    let mut quoted = 0;
    for (i, line) in text.lines().enumerate() {
        if (1..=5).contains(&i) {
            let (head, z) = line.rsplit_once(',').expect("three fields");
            out.push_str(&format!("{head},{}\n", z.trim_matches('"')));
            unquoted += 1;
        } else {
            if i > 0 {
                quoted += 1;
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    let file = temp_file("booth-mixed.csv", &out);
    let args = [
        "fit",
        "--data",
        &file,
        "--fixed",
        "y ~ 0 + x1",
        "--random",
        "~ 0 + z1",
        "--family",
        "bernoulli",
        "--seed",
        "1",
    ];
    let o = mcla(&args);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "a partly quoted column must be refused; stdout:\n{}",
        stdout(&o)
    );
    assert!(err.contains("column 'z1'"), "{err}");
    assert!(
        err.contains(&format!("quoted on {quoted} row(s) (first on line 7)")),
        "{err}"
    );
    assert!(
        err.contains(&format!("not on {unquoted} (first on line 2)")),
        "{err}"
    );
    assert!(err.contains("--factor z1"), "{err}");
    assert!(err.contains("quote its cells consistently"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // the first way out: --factor z1 gives the 10-group model
    let mut with_factor = args.to_vec();
    with_factor.extend(["--factor", "z1", "--format", "json"]);
    let o = mcla(&with_factor);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let ll = v["loglik"]
        .as_f64()
        .or_else(|| v["log_likelihood"].as_f64());
    // exact MLE log-likelihood -44.056 (../shared/data/README.md, lme4 25-point AGHQ)
    if let Some(ll) = ll {
        assert!((ll + 44.056).abs() < 0.05, "log-likelihood {ll}");
    } else {
        panic!("no log-likelihood in the JSON: {v}");
    }
}

/// Issue 18.7: grouping columns are optional in a `--predict` file, but an empty grouping cell
/// used to drop the row and fail ("missing value"); it is now a level the fit has not seen:
/// population-level prediction (u = 0) for that factor.  An empty fixed-effect cell stays an
/// error.
#[test]
fn an_empty_grouping_cell_in_a_predict_file_predicts_at_the_population_level() {
    let Some(data) = reference("salamander") else {
        return;
    };
    let new = temp_file(
        "predict-empty.csv",
        "Cross,Female,Male\nR/R,10,\nR/R,,\nW/W,10,10\n",
    );
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        "Mate ~ 0 + Cross + (1 | Female) + (1 | Male)",
        "--m",
        "500",
        "--quiet",
        "--threads",
        "1",
        "--predict",
        &new,
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let p = j["predictions"].as_array().expect("predictions");
    assert_eq!(p.len(), 3);
    let coef = |n: &str| j["coefficients"][n].as_f64().expect("coefficient");
    let ranef = |level: &str| {
        j["ranef"]
            .as_array()
            .expect("ranef")
            .iter()
            .find(|r| r["level"] == level)
            .expect("level")["mean"]
            .as_f64()
            .expect("mean")
    };
    let plogis = |x: f64| 1.0 / (1.0 + (-x).exp());
    let est = |i: usize| p[i]["estimate"].as_f64().expect("estimate");
    // Female 10 known, Male empty: her effect, u = 0 for the male
    assert!((est(0) - plogis(coef("CrossR/R") + ranef("Female10"))).abs() < 1e-12);
    // both empty: the population level
    assert!((est(1) - plogis(coef("CrossR/R"))).abs() < 1e-12);
    assert!(
        (est(2) - plogis(coef("CrossW/W") + ranef("Female10") + ranef("Male10"))).abs() < 1e-12
    );

    let bad = temp_file("predict-empty-fixed.csv", "Cross,Female\n,10\n");
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        "Mate ~ 0 + Cross + (1 | Female) + (1 | Male)",
        "--m",
        "500",
        "--quiet",
        "--predict",
        &bad,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("missing value"), "{}", stderr(&o));
}

const SALAMANDER_MODEL: [&str; 6] = [
    "--fixed",
    "Mate ~ 0 + Cross",
    "--random",
    "~ 0 + Female",
    "--random",
    "~ 0 + Male",
];

/// Issue 18.7: at m = 1 the delta-method log-likelihood MCSE `sqrt(1/ESS - 1/m)` is 0 and was
/// printed as "MCSE 0" beside a warning that the ESS is 1; it is reported as unknown.
#[test]
fn the_log_likelihood_mcse_at_m_1_is_reported_unknown_not_zero() {
    let Some(data) = reference("salamander") else {
        return;
    };
    let mut args = vec!["fit", "--data", &data];
    args.extend(SALAMANDER_MODEL);
    args.extend(["--m", "1", "--threads", "1", "--quiet"]);
    let o = mcla(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let line = text
        .lines()
        .find(|l| l.starts_with("Log-likelihood:"))
        .expect("log-likelihood line");
    assert!(line.contains("MCSE unknown"), "{line}");
    assert!(!line.contains("(MCSE 0"), "{line}");
    args.extend(["--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&mcla(&args).stdout).expect("json");
    assert_eq!(j["loglik_mcse_trustworthy"], false);
    assert_eq!(j["exact"], false);
}

/// Issue 18.7: a one-factor fit samples nothing (every block by quadrature); the report says
/// "exact, no draws" instead of an ESS or an m per block.
#[test]
fn a_one_factor_fit_reports_exact_no_draws_not_an_ess_or_m() {
    let Some(data) = reference("BoothHobert") else {
        return;
    };
    let args = [
        "fit",
        "--data",
        &data,
        "--fixed",
        "y ~ 0 + x1",
        "--random",
        "~ 0 + z1",
        "--quiet",
    ];
    let o = mcla(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("exact, no draws"), "{text}");
    assert!(
        !text.contains("ESS Inf") && !text.contains("per block"),
        "{text}"
    );
    assert!(!text.contains("Effective sample size"), "{text}");
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&mcla(&json_args).stdout).expect("json");
    assert_eq!(j["exact"], true);
    assert_eq!(j["loglik_mcse"], 0.0);
    assert!(j["block_sizes"]
        .as_array()
        .expect("blocks")
        .iter()
        .all(|b| b["draws"] == 0));
}

/// Issue 18.4: murder (poisson, both variances at 0) made every SE Inf and every p-value 1.
/// The Hessian is now inverted on the free parameters: the fixed effects get finite SEs and
/// p-values, and the boundary variances' SEs are not available — `NA` in the text and CSV,
/// `null` in JSON — with a note.
#[test]
fn a_boundary_variance_has_se_na_and_leaves_the_fixed_effect_ses_finite_in_every_format() {
    let Some(data) = reference("murder") else {
        return;
    };
    let base = [
        "fit",
        "--data",
        &data,
        "--fixed",
        "y ~ race",
        "--random",
        "~ 0 + black",
        "--random",
        "~ 0 + white",
        "--varcomps",
        "black,white",
        "--family",
        "poisson",
        "--m",
        "500",
        "--threads",
        "1",
        "--quiet",
    ];
    let with = |extra: &[&'static str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        let o = mcla(&a);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let j: serde_json::Value = serde_json::from_str(&with(&["--format", "json"])).expect("json");
    for v in ["black", "white"] {
        assert!(
            j["varcomps"][v].as_f64().expect("variance") < 1e-4,
            "{v} not on the boundary: {j}"
        );
        assert!(j["se"][v].is_null(), "{v}: {}", j["se"][v]);
    }
    for b in ["(Intercept)", "raceWhite"] {
        let se = j["se"][b].as_f64().expect("finite SE");
        assert!(se > 0.0 && se < 1.0, "{b}: {se}");
        let p = j["p_values"][b].as_f64().expect("finite p");
        assert!(p < 1e-3, "{b}: p = {p}");
    }
    let w = j["warnings"].as_array().expect("warnings");
    assert!(
        w.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains("standard error is not available (NA)"))),
        "{w:?}"
    );

    let text = with(&[]);
    let row = text
        .lines()
        .find(|l| l.starts_with("black "))
        .expect("black row");
    assert!(row.split_whitespace().nth(2) == Some("NA"), "{row}");
    let row = text
        .lines()
        .find(|l| l.starts_with("(Intercept)"))
        .expect("intercept row");
    assert!(!row.contains("Inf") && !row.contains("NA"), "{row}");

    let csv = with(&["--format", "csv"]);
    let row = csv
        .lines()
        .find(|l| l.contains(",black,"))
        .expect("black csv row");
    assert_eq!(row.split(',').nth(3), Some("NA"), "{row}");
}
