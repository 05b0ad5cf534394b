//! `mcla bootstrap`, `mcla power` and `mcla compare --bootstrap`: results, CSV replicates,
//! independence of the thread count, and errors that name the problem.

mod common;

use common::{json, mcla, shared_file, stderr, stdout, temp_csv, temp_path};

fn booth_hobert() -> Option<String> {
    shared_file("data/BoothHobert.csv")
}

#[test]
fn bootstrap_prints_its_table_and_writes_the_replicates() {
    let Some(data) = booth_hobert() else {
        return;
    };
    let out1 = temp_path("boot1.csv");
    let base = [
        "bootstrap",
        "--data",
        &data,
        "--formula",
        "y ~ 0 + x1 + (1 | z1)",
        "--nsim",
        "30",
        "--quiet",
    ];
    let mut a1 = base.to_vec();
    a1.extend(["--threads", "1", "--out", &out1, "--format", "json"]);
    let v = json(&mcla(&a1));
    let b = &v["bootstrap"];
    assert_eq!(b["nsim"], 30);
    assert_eq!(b["parameters"][0]["name"], "x1");
    assert!(b["parameters"][0]["se"].as_f64().unwrap() > 0.5);
    assert!(b["parameters"][1]["boundary_share"].is_number());
    let csv1 = std::fs::read_to_string(&out1).unwrap();
    let mut lines = csv1.lines();
    assert_eq!(
        lines.next().unwrap(),
        "replicate,x1,z1,se_x1,se_z1,loglik,converged,error"
    );
    assert_eq!(lines.count(), 30);
    // two threads, CSV on stdout: the same replicates, bit for bit
    let mut a2 = base.to_vec();
    a2.extend(["--threads", "2", "--format", "csv"]);
    let o = mcla(&a2);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), csv1);
    // text: the table with both kinds of interval
    let o = mcla(&base);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    assert!(t.contains("Parametric bootstrap: 30 simulations"), "{t}");
    assert!(t.contains("Boot SE") && t.contains("perc 2.5 %") && t.contains("basic 97.5 %"));
    // another seed, other replicates
    let mut a3 = base.to_vec();
    a3.extend(["--boot-seed", "9", "--format", "csv"]);
    assert_ne!(stdout(&mcla(&a3)), csv1);
}

#[test]
fn bootstrap_refuses_bad_input() {
    let Some(data) = booth_hobert() else {
        return;
    };
    let o = mcla(&[
        "bootstrap",
        "--data",
        &data,
        "--formula",
        "y ~ 0 + x1 + (1 | z1)",
        "--nsim",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a number of simulations"),
        "{}",
        stderr(&o)
    );
    let o = mcla(&[
        "bootstrap",
        "--data",
        &data,
        "--formula",
        "y ~ 0 + x9 + (1 | z1)",
        "--nsim",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("x9"), "{}", stderr(&o));
}

#[test]
fn compare_with_a_bootstrap_lrt() {
    let Some(data) = booth_hobert() else {
        return;
    };
    let out = temp_path("lrt.csv");
    let o = mcla(&[
        "compare",
        "--data",
        &data,
        "--model",
        "y ~ 0 + x1 + (1 | z1)",
        "--model",
        "y ~ x1 + (1 | z1)",
        "--bootstrap",
        "40",
        "--bootstrap-out",
        &out,
        "--format",
        "json",
        "--quiet",
    ]);
    let v = json(&o);
    let t = &v["bootstrap"][0]["test"];
    assert_eq!(t["df"], 1);
    let (p, used, extreme) = (
        t["p_value"].as_f64().unwrap(),
        t["used"].as_u64().unwrap(),
        t["extreme"].as_u64().unwrap(),
    );
    assert!(used >= 38);
    assert!((p - (1 + extreme) as f64 / (1 + used) as f64).abs() < 1e-12);
    // the observed statistic is the anova's chi-square
    let chisq = v["anova"][1]["chisq"].as_f64().unwrap();
    assert!((t["lrt"].as_f64().unwrap() - chisq).abs() < 1e-9);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(
        csv.starts_with("large_model,replicate,loglik_small,loglik_large,lrt,converged,error\n")
    );
    assert_eq!(csv.lines().count(), 41);
    // text
    let o = mcla(&[
        "compare",
        "--data",
        &data,
        "--model",
        "y ~ 0 + x1 + (1 | z1)",
        "--model",
        "y ~ x1 + (1 | z1)",
        "--bootstrap",
        "5",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Parametric bootstrap: LRT"),
        "{}",
        stdout(&o)
    );
    // a GLM cannot take part (yet): a clear error
    let o = mcla(&[
        "compare",
        "--data",
        &data,
        "--model",
        "y ~ 0 + x1",
        "--model",
        "y ~ 0 + x1 + (1 | z1)",
        "--bootstrap",
        "5",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--bootstrap needs mixed models"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn power_of_a_crossed_design_and_of_a_design_file() {
    let o = mcla(&[
        "power",
        "--crossed",
        "3,6,6",
        "--effect",
        "CrossW/W",
        "--nsim",
        "6",
        "--m",
        "300",
        "--format",
        "json",
        "--quiet",
        "--threads",
        "2",
    ]);
    let v = json(&o);
    let p = &v["power"];
    assert_eq!(p["parameter"], "CrossW/W");
    assert_eq!(p["nsim"], 6);
    let power = p["power"].as_f64().unwrap();
    let ci = (p["ci"][0].as_f64().unwrap(), p["ci"][1].as_f64().unwrap());
    assert!(ci.0 <= power && power <= ci.1);
    // a design CSV without a response column; CSV replicates on stdout
    let mut rows = String::from("x,g\n");
    for i in 0..120 {
        rows.push_str(&format!(
            "{},{}\n",
            if i % 2 == 0 { -0.5 } else { 0.5 },
            i / 8
        ));
    }
    let design = temp_csv("power_design", &rows);
    let args = [
        "power",
        "--design",
        &design,
        "--formula",
        "y ~ x + (1 | g)",
        "--factor",
        "g",
        "--beta",
        "0.2,1.5",
        "--nu",
        "0.5",
        "--effect",
        "x",
        "--nsim",
        "20",
        "--quiet",
    ];
    let o = mcla(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Power for the Wald z test of x at alpha = 0.05"),
        "{}",
        stdout(&o)
    );
    let mut a = args.to_vec();
    a.extend(["--format", "csv"]);
    let csv = stdout(&mcla(&a));
    assert!(csv.starts_with("replicate,estimate,se,statistic,p_value,reject,converged,error\n"));
    assert_eq!(csv.lines().count(), 21);
    // errors: an unknown effect, a wrong number of fixed effects
    let mut a = args.to_vec();
    let k = a.len() - 4; // the value of --effect
    a[k] = "z";
    let o = mcla(&a);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown fixed effect 'z'"),
        "{}",
        stderr(&o)
    );
    let o = mcla(&[
        "power",
        "--design",
        &design,
        "--formula",
        "y ~ x + (1 | g)",
        "--factor",
        "g",
        "--beta",
        "0.2",
        "--nu",
        "0.5",
        "--effect",
        "x",
        "--nsim",
        "5",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("beta"), "{}", stderr(&o));
}
