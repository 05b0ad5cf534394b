//! Designs for the reference data sets shipped with R package glmm (see
//! `/work/shared/data/README.md`). Skipped with a notice when the data are absent, unless
//! `MCLA_REQUIRE_REFERENCE=1`.

use std::path::PathBuf;

use mcla_formula::{build_design, DataFrame, Design, FrameOptions};

fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.join("factor_levels.json").is_file() {
        return Some(dir);
    }
    if std::env::var("MCLA_REQUIRE_REFERENCE").as_deref() == Ok("1") {
        panic!(
            "reference data not found at {} and MCLA_REQUIRE_REFERENCE=1",
            dir.display()
        );
    }
    eprintln!(
        "NOTICE: reference data not found at {}; skipping",
        dir.display()
    );
    None
}

/// Read `<name>.csv` with the level orders of `factor_levels.json`.
fn load(dir: &std::path::Path, name: &str) -> DataFrame {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("factor_levels.json")).unwrap())
            .unwrap();
    let mut opts = FrameOptions::default();
    if let Some(obj) = json.get(name).and_then(|v| v.as_object()) {
        for (col, levels) in obj {
            let levels = levels
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect();
            opts.levels.push((col.clone(), levels));
        }
    }
    DataFrame::from_csv_path(dir.join(format!("{name}.csv")), &opts).unwrap()
}

fn check_one_per_row(d: &Design) {
    for z in &d.random {
        assert_eq!(z.row_ptr.len(), d.n() + 1);
        for i in 0..d.n() {
            assert_eq!(z.row_ptr[i + 1] - z.row_ptr[i], 1, "{}", z.formula);
        }
        assert!(z.values.iter().all(|&v| v == 1.0));
    }
}

fn ids(prefix: &str, range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn salamander() {
    let Some(dir) = data_dir() else { return };
    let f = load(&dir, "salamander");
    let d = build_design(
        &f,
        "Mate ~ 0 + Cross",
        &["~ 0 + Female", "~ 0 + Male"],
        None,
    )
    .unwrap();
    assert_eq!(d.x_names, ["CrossR/R", "CrossR/W", "CrossW/R", "CrossW/W"]);
    assert_eq!(d.n(), 360);
    assert_eq!(d.dropped_rows, 0);
    assert_eq!(d.random[0].col_names, ids("Female", 10..=69));
    assert_eq!(d.random[1].col_names, ids("Male", 10..=69));
    check_one_per_row(&d);
    // First row: 1,"R/R","10","10".
    assert_eq!(d.y[0], 1.0);
    assert_eq!(d.x_at(0, 0), 1.0);
    assert_eq!(d.random[0].col_idx[0], 0);
    // Each row of X has exactly one 1.
    for i in 0..d.n() {
        let s: f64 = (0..d.p()).map(|j| d.x_at(i, j)).sum();
        assert_eq!(s, 1.0);
    }
}

#[test]
fn radish2() {
    let Some(dir) = data_dir() else { return };
    let f = load(&dir, "radish2");
    let d = build_design(
        &f,
        "resp ~ Site * Region",
        &["~ 0 + Block", "~ 0 + Pop"],
        None,
    )
    .unwrap();
    assert_eq!(
        d.x_names,
        [
            "(Intercept)",
            "SiteRiverside",
            "RegionS",
            "SiteRiverside:RegionS"
        ]
    );
    assert_eq!(d.n(), 233);
    assert_eq!(d.random[0].col_names, ids("Block", 1..=10));
    assert_eq!(d.random[1].col_names.len(), 6);
    assert_eq!(d.random[1].col_names[0], "PopHLFMNGRVST");
    check_one_per_row(&d);
    // First row: Riverside, N, resp 1514.
    assert_eq!(d.y[0], 1514.0);
    assert_eq!(
        (0..4).map(|j| d.x_at(0, j)).collect::<Vec<_>>(),
        [1.0, 1.0, 0.0, 0.0]
    );
}

#[test]
fn bacteria() {
    let Some(dir) = data_dir() else { return };
    let f = load(&dir, "bacteria");
    let d = build_design(&f, "y2 ~ trt + I(week > 2)", &["~ 0 + ID"], None).unwrap();
    assert_eq!(
        d.x_names,
        ["(Intercept)", "trtdrug", "trtdrug+", "I(week > 2)TRUE"]
    );
    assert_eq!(d.n(), 220);
    assert_eq!(d.random[0].col_names.len(), 50);
    assert_eq!(d.random[0].col_names[0], "IDX01");
    check_one_per_row(&d);
    // A categorical response is refused with a recode hint.
    let err = build_design(&f, "y ~ trt", &[], None).unwrap_err();
    assert!(err.to_string().contains("0/1"), "{err}");
}

#[test]
fn booth() {
    let Some(dir) = data_dir() else { return };
    let f = load(&dir, "BoothHobert");
    let d = build_design(&f, "y ~ 0 + x1", &["~ 0 + z1"], None).unwrap();
    assert_eq!(d.x_names, ["x1"]);
    assert_eq!(d.random[0].col_names, ids("z1", 1..=10));
    assert_eq!(d.n(), 150);
    check_one_per_row(&d);

    let f = load(&dir, "Booth2");
    let d = build_design(&f, "y ~ 0 + x1", &["~ 0 + z1", "~ 0 + factor(z2)"], None).unwrap();
    assert_eq!(d.random[0].col_names, ids("z1", 1..=10));
    assert_eq!(d.random[1].col_names, ids("factor(z2)", 1..=5));
    check_one_per_row(&d);
    // Rows 1, 2: z2 = 1, 2.
    assert_eq!(&d.random[1].col_idx[..2], &[0, 1]);
}

#[test]
fn cbpp2_and_murder() {
    let Some(dir) = data_dir() else { return };
    let f = load(&dir, "cbpp2");
    let d = build_design(&f, "Y ~ period", &["~ 0 + herd"], None).unwrap();
    assert_eq!(d.x_names, ["(Intercept)", "period2", "period3", "period4"]);
    assert_eq!(d.random[0].col_names, ids("herd", 1..=15));
    assert_eq!(d.n(), 842);
    check_one_per_row(&d);

    let f = load(&dir, "murder");
    let d = build_design(&f, "y ~ race", &["~ 0 + black", "~ 0 + white"], None).unwrap();
    assert_eq!(d.x_names, ["(Intercept)", "raceWhite"]);
    assert_eq!(d.random[0].col_names, ["black0", "black1"]);
    assert_eq!(d.random[1].col_names, ["white0", "white1"]);
    assert_eq!(d.n(), 1308);
    check_one_per_row(&d);
}
