//! End-to-end tests of the inference options of the `mcla` binary: lme4-style formulas,
//! `--test`, `--predict`, `--emmeans`, `--ranef`, `--format csv`, `--confint profile`, and
//! `mcla compare` (including its refusal of models fitted to different rows).

mod common;

use common::{json, mcla, salamander, stderr, stdout, temp_file as temp, temp_path};

const FORMULA: &str = "Mate ~ 0 + Cross + (1 | Female) + (1 | Male)";

#[test]
fn formula_and_fixed_random_spellings_give_bit_identical_fits() {
    let Some(data) = salamander() else { return };
    let common = [
        "--m",
        "2000",
        "--threads",
        "1",
        "--quiet",
        "--format",
        "json",
    ];
    let mut a = vec!["fit", "--data", &data, "--formula", FORMULA];
    a.extend(common);
    let mut b = vec![
        "fit",
        "--data",
        &data,
        "--fixed",
        "Mate ~ 0 + Cross",
        "--random",
        "~ 0 + Female",
        "--random",
        "~ 0 + Male",
    ];
    b.extend(common);
    let (ja, jb) = (json(&mcla(&a)), json(&mcla(&b)));
    for key in [
        "parameter_names",
        "coefficients",
        "varcomps",
        "se",
        "mcse",
        "loglik",
        "vcov",
        "mcvcov",
        "ranef",
        "iterations",
    ] {
        assert_eq!(ja[key], jb[key], "{key} differs between the spellings");
    }
    assert_eq!(ja["parameter_names"][4], "Female");
    assert_eq!(ja["ranef"].as_array().unwrap().len(), 120);
}

#[test]
fn correlated_random_effects_are_refused_with_the_fix() {
    let Some(data) = salamander() else { return };
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        "Mate ~ Cross + (Cross | Female)",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("correlated random effects are not supported; write (1 | Female) + (0 + Cross | Female) for independent ones"),
        "{e}"
    );
    // --formula with --fixed is a usage error
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        FORMULA,
        "--fixed",
        "Mate ~ 1",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn nested_grouping_expands_to_two_components_and_drops_empty_combinations() {
    // 6 groups a, 4 subgroups b labelled 1..4 within each a: a:b has 24 of 24 combinations
    // only when b is read as nested; the 0/1 response varies within subgroups
    let mut csv = String::from("y,a,b\n");
    for a in 0..6 {
        for b in 0..4 {
            for k in 0..5 {
                let y = ((a * 7 + b * 3 + k * 5) % 4 == 0) as u8;
                csv.push_str(&format!("{y},a{a},b{b}{}\n", a % 2));
            }
        }
    }
    let path = temp("nested.csv", &csv);
    let o = mcla(&[
        "fit",
        "--data",
        &path,
        "--formula",
        "y ~ 1 + (1 | a/b)",
        "--m",
        "1000",
        "--quiet",
        "--format",
        "json",
        "--threads",
        "1",
    ]);
    let j = json(&o);
    assert_eq!(
        j["parameter_names"],
        serde_json::json!(["(Intercept)", "a", "a:b"])
    );
    // a:b would have 6 x 8 = 48 columns; only the 24 that occur are random effects
    let ab = j["ranef"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["component"] == "a:b")
        .count();
    assert_eq!(ab, 24);
}

#[test]
fn wald_tests_emmeans_ranef_and_csv_output() {
    let Some(data) = salamander() else { return };
    let ranef = temp_path("ranef.csv");
    let tests = temp_path("tests.csv");
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        FORMULA,
        "--m",
        "2000",
        "--quiet",
        "--threads",
        "1",
        "--test",
        "CrossR/R = CrossW/W",
        "--test",
        "CrossR/R = CrossW/W, `CrossR/W` = CrossW/R",
        "--emmeans",
        "Cross",
        "--ranef",
        &ranef,
        "--format",
        "json",
    ]);
    let j = json(&o);
    let t = j["tests"].as_array().unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[1]["df"], 2);
    let z = t[0]["rows"][0]["z_value"].as_f64().unwrap();
    let p = t[0]["rows"][0]["p_value"].as_f64().unwrap();
    assert!(p > 0.0 && p <= 1.0 && z.is_finite());
    let em = j["emmeans"]["Cross"].as_array().unwrap();
    assert_eq!(em.len(), 4);
    let b0 = j["coefficients"]["CrossR/R"].as_f64().unwrap();
    let p0 = em[0]["estimate"].as_f64().unwrap();
    assert!((p0 - 1.0 / (1.0 + (-b0).exp())).abs() < 1e-12);
    let text = std::fs::read_to_string(&ranef).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("component,level,mean,sd,mcse"));
    assert_eq!(lines.count(), 120);

    // CSV: broom.mixed's shape on stdout, tests to their own file
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        FORMULA,
        "--m",
        "2000",
        "--quiet",
        "--threads",
        "1",
        "--format",
        "csv",
        "--test",
        "CrossR/R = CrossW/W",
        "--tests-out",
        &tests,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(
        rows[0],
        "effect,term,estimate,std.error,statistic,p.value,conf.low,conf.high,mcse"
    );
    assert_eq!(rows.len(), 7);
    assert!(rows[1].starts_with("fixed,CrossR/R,"));
    assert!(rows[5].starts_with("ran_pars,Female,"));
    let tt = std::fs::read_to_string(&tests).unwrap();
    assert!(tt.starts_with("hypothesis,restriction,estimate"));
    assert_eq!(tt.lines().count(), 2);

    // CSV without a file for the tests is a usage error; so is an unknown name
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        FORMULA,
        "--format",
        "csv",
        "--test",
        "CrossR/R = 0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--tests-out"));
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        FORMULA,
        "--test",
        "CrossRR = 0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("CrossR/R, CrossR/W, CrossW/R, CrossW/W, Female, Male"));
}

#[test]
fn predictions_on_new_data_use_known_levels_and_refuse_unknown_fixed_levels() {
    let Some(data) = salamander() else { return };
    let new = temp("new.csv", "Cross,Female\nR/R,10\nR/R,999\n");
    let out = temp_path("pred.csv");
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        FORMULA,
        "--m",
        "2000",
        "--quiet",
        "--threads",
        "1",
        "--predict",
        &new,
        "--predict-out",
        &out,
        "--format",
        "json",
    ]);
    let j = json(&o);
    let p = j["predictions"].as_array().unwrap();
    assert_eq!(p.len(), 2);
    let b0 = j["coefficients"]["CrossR/R"].as_f64().unwrap();
    let u10 = j["ranef"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["level"] == "Female10")
        .unwrap()["mean"]
        .as_f64()
        .unwrap();
    let plogis = |x: f64| 1.0 / (1.0 + (-x).exp());
    // a known female: her predicted effect; an unknown one: u = 0
    assert!((p[0]["estimate"].as_f64().unwrap() - plogis(b0 + u10)).abs() < 1e-12);
    assert!((p[1]["estimate"].as_f64().unwrap() - plogis(b0)).abs() < 1e-12);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.starts_with("row,kind,scale,estimate,std.error,conf.low,conf.high,mcse"));

    let bad = temp("bad.csv", "Cross\nX/Y\n");
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        FORMULA,
        "--predict",
        &bad,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("'X/Y' is not a level of 'Cross'"),
        "{}",
        stderr(&o)
    );
    let nocol = temp("nocol.csv", "Female\n10\n");
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        FORMULA,
        "--predict",
        &nocol,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no column 'Cross'"), "{}", stderr(&o));
}

#[test]
fn compare_tests_glm_against_glmm_and_refuses_different_rows() {
    let Some(data) = salamander() else { return };
    let o = mcla(&[
        "compare",
        "--data",
        &data,
        "--model",
        "Mate ~ 0 + Cross + (1 | Female)",
        "--model",
        "Mate ~ 0 + Cross",
        "--m",
        "2000",
        "--quiet",
        "--format",
        "json",
    ]);
    let j = json(&o);
    let rows = j["anova"].as_array().unwrap();
    assert_eq!(rows[0]["label"], "Mate ~ 0 + Cross");
    assert_eq!(rows[0]["loglik_mcse"], 0.0);
    assert_eq!(rows[1]["df"], 1);
    assert_eq!(rows[1]["boundary_components"], 1);
    let chisq = rows[1]["chisq"].as_f64().unwrap();
    let ll = [
        rows[0]["loglik"].as_f64().unwrap(),
        rows[1]["loglik"].as_f64().unwrap(),
    ];
    assert!((chisq - 2.0 * (ll[1] - ll[0])).abs() < 1e-9);
    // anova is the same command
    let o = mcla(&[
        "anova",
        "--data",
        &data,
        "--model",
        "Mate ~ 0 + Cross + (1 | Female)",
        "--model",
        "Mate ~ 0 + Cross",
        "--m",
        "2000",
        "--quiet",
    ]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("Self & Liang"));

    // a column with a missing value makes the second model use fewer rows
    let text = std::fs::read_to_string(&data).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let extra = match i {
            0 => "\"x\"".to_string(),
            5 => "NA".to_string(),
            _ => format!("{}", i % 3),
        };
        out.push_str(&format!("{line},{extra}\n"));
    }
    let path = temp("na.csv", &out);
    let o = mcla(&[
        "compare",
        "--data",
        &path,
        "--model",
        "Mate ~ 0 + Cross + (1 | Female)",
        "--model",
        "Mate ~ 0 + Cross + x + (1 | Female)",
        "--m",
        "500",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("different data"), "{}", stderr(&o));
}

#[test]
fn profile_confint_lower_limit_of_a_variance_is_positive() {
    let Some(data) = salamander() else { return };
    let o = mcla(&[
        "fit",
        "--data",
        &data,
        "--formula",
        FORMULA,
        "--m",
        "2000",
        "--quiet",
        "--threads",
        "1",
        "--confint",
        "profile",
        "--confint-params",
        "Female",
        "--format",
        "json",
    ]);
    let j = json(&o);
    let pr = j["profile_confint"].as_array().unwrap();
    assert_eq!(pr.len(), 1);
    let (lo, hi) = (
        pr[0]["lower"].as_f64().unwrap(),
        pr[0]["upper"].as_f64().unwrap(),
    );
    let est = j["varcomps"]["Female"].as_f64().unwrap();
    assert!(0.0 < lo && lo < est && est < hi, "{lo} {est} {hi}");
    assert_eq!(j["confint_method"], "profile");
}

#[test]
fn independent_random_slopes_match_the_random_spelling_without_a_slope_warning() {
    let mut csv = String::from("y,x,g\n");
    for i in 0..160 {
        let g = i % 8;
        let x = (i % 5) as f64 / 2.0;
        let y = ((i * 7 + g * 3) % 3 == 0) as u8;
        csv.push_str(&format!("{y},{x},\"g{g}\"\n"));
    }
    let path = temp("slopes.csv", &csv);
    let common = [
        "--m",
        "1000",
        "--threads",
        "1",
        "--quiet",
        "--format",
        "json",
    ];
    let mut a = vec![
        "fit",
        "--data",
        &path,
        "--formula",
        "y ~ x + (1 | g) + (0 + x | g)",
    ];
    a.extend(common);
    let mut b = vec![
        "fit",
        "--data",
        &path,
        "--fixed",
        "y ~ x",
        "--random",
        "~ 0 + g",
        "--random",
        "~ 0 + x:g",
    ];
    b.extend(common);
    let (ja, jb) = (json(&mcla(&a)), json(&mcla(&b)));
    assert_eq!(
        ja["parameter_names"],
        serde_json::json!(["(Intercept)", "x", "g", "x:g"])
    );
    assert_eq!(ja["coefficients"], jb["coefficients"]);
    assert_eq!(ja["varcomps"], jb["varcomps"]);
    let warnings = ja["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("random slope on the values")),
        "{warnings:?}"
    );
}
