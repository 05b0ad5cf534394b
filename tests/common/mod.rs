//! Shared test support: locating `../shared` and its files, running the `mcla` binary,
//! temporary files, loading the reference data sets with hand-built designs (independent of
//! the formula crate), tolerances.
#![allow(clippy::needless_range_loop)]
#![allow(dead_code)]

use mcla::{Csr, Family, Model, ModelSpec, RandomBlock};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};

/// `../shared` beside the repository, if present.  When absent, tests print a
/// notice and skip — unless `MCLA_REQUIRE_REFERENCE=1`, which makes them fail.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("shared");
    if dir.join("SPEC.md").exists() {
        return Some(dir);
    }
    if std::env::var("MCLA_REQUIRE_REFERENCE").as_deref() == Ok("1") {
        panic!(
            "MCLA_REQUIRE_REFERENCE=1 but the reference directory {} is missing",
            dir.display()
        );
    }
    eprintln!(
        "NOTICE: {} not found; skipping a test that needs the reference data",
        dir.display()
    );
    None
}

/// A CSV as a map column -> values (strings).
pub struct Table {
    pub columns: HashMap<String, Vec<String>>,
    pub n: usize,
}

pub fn read_csv(path: &std::path::Path) -> Table {
    let mut rdr = csv::Reader::from_path(path).expect("readable csv");
    let headers: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut columns: HashMap<String, Vec<String>> =
        headers.iter().map(|h| (h.clone(), Vec::new())).collect();
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec.expect("record");
        for (h, v) in headers.iter().zip(rec.iter()) {
            columns.get_mut(h).expect("column").push(v.to_string());
        }
        n += 1;
    }
    Table { columns, n }
}

impl Table {
    pub fn numeric(&self, col: &str) -> Vec<f64> {
        self.columns[col]
            .iter()
            .map(|s| s.parse::<f64>().expect("numeric"))
            .collect()
    }
    pub fn strings(&self, col: &str) -> &[String] {
        &self.columns[col]
    }
}

/// Factor level order from `data/factor_levels.json`.
pub fn levels(shared: &std::path::Path, dataset: &str, col: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("data/factor_levels.json")).unwrap(),
    )
    .unwrap();
    v[dataset][col]
        .as_array()
        .expect("levels")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Indicator block for a factor: n x L, names prefix+level.
pub fn indicator_block(values: &[String], levels: &[String], prefix: &str) -> RandomBlock {
    let trip: Vec<(usize, usize, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i, levels.iter().position(|l| l == v).expect("level"), 1.0))
        .collect();
    RandomBlock {
        names: levels.iter().map(|l| format!("{prefix}{l}")).collect(),
        z: Csr::from_triplets(values.len(), levels.len(), &trip).unwrap(),
    }
}

/// The reference models of the fixtures, built by hand from the CSV files.
pub fn reference_model(shared: &std::path::Path, dataset: &str) -> Model {
    let t = read_csv(&shared.join(format!("data/{dataset}.csv")));
    let n = t.n;
    let spec = match dataset {
        "salamander" => {
            let lv = levels(shared, dataset, "Cross");
            let cross = t.strings("Cross");
            let mut x = vec![0.0; n * 4];
            for (i, c) in cross.iter().enumerate() {
                x[lv.iter().position(|l| l == c).unwrap() * n + i] = 1.0;
            }
            ModelSpec {
                y: t.numeric("Mate"),
                trials: None,
                x,
                x_names: lv.iter().map(|l| format!("Cross{l}")).collect(),
                random: vec![
                    indicator_block(
                        t.strings("Female"),
                        &levels(shared, dataset, "Female"),
                        "Female",
                    ),
                    indicator_block(t.strings("Male"), &levels(shared, dataset, "Male"), "Male"),
                ],
                varcomps_equal: None,
                varcomps_names: vec!["F".into(), "M".into()],
                family: Family::Bernoulli,
                weights: None,
            }
        }
        "BoothHobert" => ModelSpec {
            y: t.numeric("y"),
            trials: None,
            x: t.numeric("x1"),
            x_names: vec!["x1".into()],
            random: vec![indicator_block(
                t.strings("z1"),
                &levels(shared, dataset, "z1"),
                "z1",
            )],
            varcomps_equal: None,
            varcomps_names: vec!["z1".into()],
            family: Family::Bernoulli,
            weights: None,
        },
        "radish2" => {
            let site: Vec<f64> = t
                .strings("Site")
                .iter()
                .map(|s| (s == "Riverside") as u8 as f64)
                .collect();
            let region: Vec<f64> = t
                .strings("Region")
                .iter()
                .map(|s| (s == "S") as u8 as f64)
                .collect();
            let mut x = vec![1.0; n];
            x.extend(&site);
            x.extend(&region);
            x.extend(site.iter().zip(&region).map(|(a, b)| a * b));
            ModelSpec {
                y: t.numeric("resp"),
                trials: None,
                x,
                x_names: vec![
                    "(Intercept)".into(),
                    "SiteRiverside".into(),
                    "RegionS".into(),
                    "SiteRiverside:RegionS".into(),
                ],
                random: vec![
                    indicator_block(
                        t.strings("Block"),
                        &levels(shared, dataset, "Block"),
                        "Block",
                    ),
                    indicator_block(t.strings("Pop"), &levels(shared, dataset, "Pop"), "Pop"),
                ],
                varcomps_equal: None,
                varcomps_names: vec!["Block".into(), "Pop".into()],
                family: Family::Poisson,
                weights: None,
            }
        }
        other => panic!("no reference model for {other}"),
    };
    Model::new(spec).expect("valid reference model")
}

/// `|a - b| <= rel * max(|b|, floor)`.
pub fn assert_close(what: &str, a: f64, b: f64, rel: f64, floor: f64) {
    let tol = rel * b.abs().max(floor);
    assert!(
        (a - b).abs() <= tol,
        "{what}: ours {a:.15e} vs reference {b:.15e} (|diff| {:.3e} > tol {tol:.3e})",
        (a - b).abs()
    );
}

/// A simulated crossed (salamander-shaped) model for `family`: bernoulli, binomial
/// with 5 trials, or poisson; optionally with random observation weights.
pub fn simulated_model(family: Family, groups: usize, seed: u64, weighted: bool) -> Model {
    let design = mcla::CrossedDesign {
        groups,
        animals: 10,
        pairings: 6,
    };
    let mut spec = design.design().unwrap();
    spec.family = family;
    let beta = match family {
        Family::Poisson => vec![0.3, 0.1, -0.4, 0.5],
        _ => vec![1.0, 0.3, -1.9, 1.0],
    };
    let nu = match family {
        Family::Poisson => vec![0.4, 0.3],
        _ => vec![1.4, 1.25],
    };
    if family == Family::Binomial {
        spec.trials = Some(vec![5.0; design.n()]);
    }
    spec.y = mcla::simulate_response(&spec, &beta, &nu, seed).unwrap().0;
    if weighted {
        spec.weights = Some(
            (0..design.n())
                .map(|i| 0.5 + ((i * 37) % 11) as f64 / 7.0)
                .collect(),
        );
    }
    Model::new(spec).unwrap()
}

/// One grouping factor (random intercepts): every likelihood block is one-dimensional.
pub fn single_factor_model(family: Family, groups: usize, per_group: usize, seed: u64) -> Model {
    let n = groups * per_group;
    let x1: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0)
        .collect();
    let mut x = vec![1.0; n];
    x.extend(&x1);
    let trip: Vec<_> = (0..n).map(|i| (i, i / per_group, 1.0)).collect();
    let mut spec = ModelSpec {
        y: vec![0.0; n],
        trials: if family == Family::Binomial {
            Some(vec![4.0; n])
        } else {
            None
        },
        x,
        x_names: vec!["(Intercept)".into(), "x1".into()],
        random: vec![RandomBlock {
            names: (1..=groups).map(|g| format!("g{g}")).collect(),
            z: Csr::from_triplets(n, groups, &trip).unwrap(),
        }],
        varcomps_equal: None,
        varcomps_names: vec!["g".into()],
        family,
        weights: None,
    };
    let beta = if family == Family::Poisson {
        vec![0.5, 0.4]
    } else {
        vec![-0.3, 0.8]
    };
    spec.y = mcla::simulate_response(&spec, &beta, &[0.8], seed)
        .unwrap()
        .0;
    Model::new(spec).unwrap()
}

/// The pieces an MCLA objective borrows: the start (PQL with default options), the blocks of
/// `sampler` and a stored sample of `m` draws per block from `seed`.
pub struct Prepared {
    pub start: mcla::Start,
    pub blocks: mcla::Blocks,
    pub sample: mcla::ImportanceSample,
}

pub fn prepare(model: &Model, sampler: mcla::Sampler, m: usize, seed: u64) -> Prepared {
    let opts = mcla::FitOptions {
        m,
        sampler,
        ..mcla::FitOptions::default()
    };
    let start = mcla::start(model, &opts.check(model).unwrap()).unwrap();
    let blocks = mcla::Blocks::new(model, sampler);
    let sample = mcla::ImportanceSample::draw(
        model,
        &blocks,
        &start.centre,
        m,
        seed,
        opts.mixture,
        opts.zeta,
        false,
    )
    .unwrap();
    Prepared {
        start,
        blocks,
        sample,
    }
}

/// Subjects x items crossed bernoulli design: `pairs = None` fully crossed, else that many
/// random (subject, item) pairs; intercept and a +-0.5 condition per item.
pub fn crossed_model(ns: usize, ni: usize, pairs: Option<usize>, seed: u64) -> Model {
    let mut lcg = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |k: usize| {
        lcg = lcg
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((lcg >> 33) as usize) % k
    };
    let obs: Vec<(usize, usize)> = match pairs {
        None => (0..ns).flat_map(|s| (0..ni).map(move |i| (s, i))).collect(),
        Some(n) => (0..n).map(|_| (next(ns), next(ni))).collect(),
    };
    let n = obs.len();
    let mut x = vec![1.0; n];
    x.extend(
        obs.iter()
            .map(|&(_, i)| if i % 2 == 0 { -0.5 } else { 0.5 }),
    );
    let zs: Vec<_> = obs
        .iter()
        .enumerate()
        .map(|(r, &(s, _))| (r, s, 1.0))
        .collect();
    let zi: Vec<_> = obs
        .iter()
        .enumerate()
        .map(|(r, &(_, i))| (r, i, 1.0))
        .collect();
    let mut spec = ModelSpec {
        y: vec![0.0; n],
        trials: None,
        x,
        x_names: vec!["(Intercept)".into(), "cond".into()],
        random: vec![
            RandomBlock {
                names: (0..ns).map(|s| format!("S{s}")).collect(),
                z: Csr::from_triplets(n, ns, &zs).unwrap(),
            },
            RandomBlock {
                names: (0..ni).map(|i| format!("I{i}")).collect(),
                z: Csr::from_triplets(n, ni, &zi).unwrap(),
            },
        ],
        varcomps_equal: None,
        varcomps_names: vec!["S".into(), "I".into()],
        family: Family::Bernoulli,
        weights: None,
    };
    spec.y = mcla::simulate_response(&spec, &[-0.4, 0.7], &[1.0, 0.5], seed)
        .unwrap()
        .0;
    Model::new(spec).unwrap()
}

/// A crossed bernoulli design shaped like lme4's VerbAgg: `ns` subjects x 24 items, fully
/// crossed (n = 24 ns); subject-level anger (integer 11..39, centred) and gender, item-level
/// behaviour type (3 levels, 8 items each) and situation (2 levels); 6 fixed effects;
/// subject variance 1.3 and item variance `nu_item` (VerbAgg's fit: 1.7 and 0.1–0.3).
pub fn verbagg_like_model(ns: usize, nu_item: f64, seed: u64) -> Model {
    let ni = 24;
    let n = ns * ni;
    let mut lcg = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |k: usize| {
        lcg = lcg
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((lcg >> 33) as usize) % k
    };
    let anger: Vec<f64> = (0..ns).map(|_| (11 + next(29)) as f64 - 20.0).collect();
    let male: Vec<f64> = (0..ns).map(|_| (next(4) == 0) as u8 as f64).collect();
    let obs: Vec<(usize, usize)> = (0..ns).flat_map(|s| (0..ni).map(move |i| (s, i))).collect();
    let mut x = vec![1.0; n];
    x.extend(obs.iter().map(|&(s, _)| anger[s]));
    x.extend(obs.iter().map(|&(s, _)| male[s]));
    // items 0..8 curse, 8..16 scold, 16..24 shout; situation alternates other/self by 4s
    x.extend(obs.iter().map(|&(_, i)| (i / 8 == 1) as u8 as f64));
    x.extend(obs.iter().map(|&(_, i)| (i / 8 == 2) as u8 as f64));
    x.extend(obs.iter().map(|&(_, i)| ((i / 4) % 2 == 1) as u8 as f64));
    let zs: Vec<_> = obs
        .iter()
        .enumerate()
        .map(|(r, &(s, _))| (r, s, 1.0))
        .collect();
    let zi: Vec<_> = obs
        .iter()
        .enumerate()
        .map(|(r, &(_, i))| (r, i, 1.0))
        .collect();
    let mut spec = ModelSpec {
        y: vec![0.0; n],
        trials: None,
        x,
        x_names: [
            "(Intercept)",
            "Anger",
            "GenderM",
            "btypescold",
            "btypeshout",
            "situself",
        ]
        .map(String::from)
        .to_vec(),
        random: vec![
            RandomBlock {
                names: (0..ns).map(|s| format!("S{s}")).collect(),
                z: Csr::from_triplets(n, ns, &zs).unwrap(),
            },
            RandomBlock {
                names: (0..ni).map(|i| format!("I{i}")).collect(),
                z: Csr::from_triplets(n, ni, &zi).unwrap(),
            },
        ],
        varcomps_equal: None,
        varcomps_names: vec!["id".into(), "item".into()],
        family: Family::Bernoulli,
        weights: None,
    };
    spec.y = mcla::simulate_response(
        &spec,
        &[0.2, 0.06, 0.3, -1.0, -2.0, -1.0],
        &[1.3, nu_item],
        seed,
    )
    .unwrap()
    .0;
    Model::new(spec).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Reference files and the binary

/// `<CARGO_MANIFEST_DIR>/../shared/<rel>`, or `None` (with a notice) when absent, unless
/// `MCLA_REQUIRE_REFERENCE=1` (then the test fails).
pub fn shared_file(rel: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    if path.exists() {
        return Some(path.to_string_lossy().into_owned());
    }
    if std::env::var("MCLA_REQUIRE_REFERENCE").as_deref() == Ok("1") {
        panic!(
            "reference file {} not found and MCLA_REQUIRE_REFERENCE=1",
            path.display()
        );
    }
    eprintln!("NOTICE: {} not found; skipping", path.display());
    None
}

/// `../shared/data/salamander.csv` (see [`shared_file`]).
pub fn salamander() -> Option<String> {
    shared_file("data/salamander.csv")
}

/// Run the `mcla` binary built with the tests (integration tests only: cargo sets
/// `CARGO_BIN_EXE_mcla` for them, not for the examples that share this module).
#[allow(clippy::option_env_unwrap)] // set by cargo for every integration test
pub fn mcla(args: &[&str]) -> Output {
    let bin = option_env!("CARGO_BIN_EXE_mcla").expect("mcla() runs in integration tests only");
    Command::new(bin)
        .args(args)
        .output()
        .expect("the mcla binary runs")
}

/// Standard output of a run, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error of a run, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON a successful run printed (fails the test, with its stderr, otherwise).
pub fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "mcla failed: {}", stderr(o));
    serde_json::from_str(&stdout(o)).expect("valid JSON")
}

/// Run a fit that must succeed (`--format json --quiet` appended) and return its JSON.
pub fn fit_json(args: &[&str]) -> serde_json::Value {
    let mut v: Vec<&str> = args.to_vec();
    v.extend(["--format", "json", "--quiet"]);
    let o = mcla(&v);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("valid JSON")
}

/// A path in the temporary directory, unique per test process and `name`.
pub fn temp_path(name: &str) -> String {
    std::env::temp_dir()
        .join(format!("mcla-test-{}-{name}", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

/// A temporary file with the given contents (see [`temp_path`]).
pub fn temp_file(name: &str, contents: &str) -> String {
    let path = temp_path(name);
    std::fs::write(&path, contents).expect("write temp file");
    path
}

/// A temporary `.csv` file with the given contents.
pub fn temp_csv(name: &str, contents: &str) -> String {
    temp_file(&format!("{name}.csv"), contents)
}
