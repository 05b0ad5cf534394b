//! Benchmarks of the default (SPEC §12 adaptive) estimator for BENCHMARKS.md (issue 7).
//! Run on an otherwise idle machine:
//!
//! ```text
//! cargo run --release --example bench_adaptive            # the table (a few minutes)
//! cargo run --release --example bench_adaptive -- csv DIR # also write the crossed designs as CSV (for lme4)
//! ```
//!
//! (a) whole default fits (`--m auto`): salamander, radish2, a 300 x 25 crossed bernoulli
//!     design (n = 7,500), the 1,000 x 200 random-pairs design (n = 20,000); also at fixed m;
//! (b) cost per draw and observation of one evaluation (value, gradient, model Hessian) against
//!     the plain kernel's floor, and its growth with n and with the separator's size.
#[path = "../tests/common/mod.rs"]
mod common;

use mcla::integrate::adaptive::AdaptiveSettings;
use mcla::{fit, Blocks, FitOptions, Model, Objective, Sampler};
use std::time::Instant;

fn write_csv(model: &Model, path: &std::path::Path) {
    let mut s = String::from("y,cond,S,I\n");
    let z = model.z();
    let ns = model.q_per_component()[0];
    for i in 0..model.n() {
        let (cols, _) = z.row(i);
        s.push_str(&format!(
            "{},{},S{},I{}\n",
            model.y()[i],
            model.x_row(i)[1],
            cols[0],
            cols[1] - ns
        ));
    }
    std::fs::write(path, s).unwrap();
}

fn timed_fit(name: &str, model: &Model, options: &FitOptions) {
    let t = Instant::now();
    let f = fit(model, options).unwrap();
    let wall = t.elapsed().as_secs_f64();
    let sampled: Vec<f64> = f
        .blocks
        .iter()
        .filter(|b| !b.is_exact())
        .map(|b| b.ess / b.draws as f64)
        .collect();
    let ess = if sampled.is_empty() {
        "exact".to_string()
    } else {
        format!(
            "{:.0}–{:.0} %",
            100.0 * sampled.iter().copied().fold(1.0, f64::min),
            100.0 * sampled.iter().copied().fold(0.0, f64::max)
        )
    };
    let est: Vec<String> = f.theta.iter().map(|v| format!("{v:.4}")).collect();
    let mcse = f
        .mcse
        .iter()
        .zip(&f.se)
        .map(|(m, s)| m / s)
        .fold(0.0, f64::max);
    println!(
        "| {name} | {}{} | {wall:.2} | {} | {ess} | {:.4} | {:.3} | {mcse:.4} | {} |",
        f.m,
        if f.m_auto { " (auto)" } else { "" },
        f.iterations,
        f.loglik,
        f.loglik_mcse,
        est.join(", ")
    );
}

fn per_draw_cost(name: &str, model: &Model, m: usize) {
    let blocks = Blocks::new(model, Sampler::Adaptive);
    let s = mcla::pql(model).unwrap();
    let mut theta = s.beta.clone();
    theta.extend(&s.nu);
    let obj =
        Objective::adaptive(model, &blocks, m, 1, &s.u_star, AdaptiveSettings::default()).unwrap();
    obj.evaluate(&theta).unwrap();
    let reps = 5;
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(obj.evaluate(&theta).unwrap());
    }
    let per = t.elapsed().as_secs_f64() / reps as f64;
    let sampled: usize = blocks.blocks.iter().map(|b| b.n()).sum();
    let ns: usize = {
        let b = mcla::integrate::adaptive::AdaptiveBlock::new(
            model,
            &blocks.blocks[0],
            0,
            m,
            1,
            &s.u_star,
            AdaptiveSettings::default(),
        )
        .unwrap();
        b.separator_size()
    };
    println!(
        "| {name} | {} | {} | {ns} | {m} | {per:.4} | {:.1} |",
        model.n(),
        blocks.blocks.len(),
        1e9 * per / (sampled as f64 * m as f64)
    );
}

fn write_verbagg_csv(model: &Model, path: &std::path::Path) {
    let mut s = String::from("y,anger,male,btype,situ,S,I\n");
    let z = model.z();
    let ns = model.q_per_component()[0];
    for i in 0..model.n() {
        let (cols, _) = z.row(i);
        let x = model.x_row(i);
        let btype = if x[3] == 1.0 {
            "scold"
        } else if x[4] == 1.0 {
            "shout"
        } else {
            "curse"
        };
        let situ = if x[5] == 1.0 { "self" } else { "other" };
        s.push_str(&format!(
            "{},{},{},{btype},{situ},S{},I{}\n",
            model.y()[i],
            x[1],
            x[2],
            cols[0],
            cols[1] - ns
        ));
    }
    std::fs::write(path, s).unwrap();
}

/// One default fit (automatic m) of one design in this process: a BENCHMARKS.md row with
/// m reached, iterations, evaluations, the share of time per stage and the ESS.
fn one(name: &str, threads: usize) {
    let model = match name {
        "salamander" => common::reference_model(
            &common::shared_dir().expect("needs ../shared"),
            "salamander",
        ),
        "verbagg300x24" => common::verbagg_like_model(300, 0.2, 1),
        "crossed100x50" => common::crossed_model(100, 50, None, 2024),
        "crossed1000x200" => common::crossed_model(1000, 200, Some(20_000), 7),
        other => panic!("unknown design {other}"),
    };
    let t = Instant::now();
    let f = fit(
        &model,
        &FitOptions {
            threads: Some(threads),
            ..FitOptions::auto()
        },
    )
    .unwrap();
    let wall = t.elapsed().as_secs_f64();
    let ess: Vec<f64> = f
        .blocks
        .iter()
        .filter(|b| !b.is_exact())
        .map(|b| b.ess / b.draws as f64)
        .collect();
    let stages: Vec<String> = f
        .stages
        .iter()
        .map(|s| {
            format!(
                "m {}: {} it, {} ev, {} H, {:.0} %",
                s.m,
                s.iterations,
                s.evaluations,
                s.model_hessians,
                100.0 * s.seconds / f.timings.total
            )
        })
        .collect();
    let mcse = f
        .mcse
        .iter()
        .zip(&f.se)
        .map(|(m, s)| m / s)
        .fold(0.0, f64::max);
    println!(
        "| {name} | {} | {} | {} | PQL {:.0} % | {} | {:.0}–{:.0} % | {mcse:.4} | {:.4} | {wall:.2} |",
        f.m,
        f.iterations,
        f.stages.iter().map(|s| s.evaluations).sum::<usize>(),
        100.0 * f.timings.start / f.timings.total,
        stages.join("; "),
        100.0 * ess.iter().copied().fold(1.0, f64::min),
        100.0 * ess.iter().copied().fold(0.0, f64::max),
        f.loglik_mcse,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("one") {
        one(
            &args[2],
            args.get(3).and_then(|t| t.parse().ok()).unwrap_or(1),
        );
        return;
    }
    let shared = common::shared_dir().expect("needs ../shared");
    let sal = common::reference_model(&shared, "salamander");
    let rad = common::reference_model(&shared, "radish2");
    let c300 = common::crossed_model(300, 25, None, 11);
    let c100 = common::crossed_model(100, 50, None, 2024);
    let big = common::crossed_model(1000, 200, Some(20_000), 7);
    if args.get(1).map(String::as_str) == Some("csv") {
        let dir = std::path::PathBuf::from(&args[2]);
        write_csv(&c300, &dir.join("crossed300x25.csv"));
        write_csv(&big, &dir.join("crossed1000x200.csv"));
        write_csv(&c100, &dir.join("crossed100x50.csv"));
        write_verbagg_csv(
            &common::verbagg_like_model(300, 0.2, 1),
            &dir.join("verbagg300x24.csv"),
        );
        return;
    }
    println!("## (a) whole fits (2 threads)\n");
    println!("| design | m per block | wall (s) | trust iterations | ESS / m | log-likelihood | its MCSE | max MCSE/SE | estimates |");
    println!("|---|---|---|---|---|---|---|---|---|");
    timed_fit("salamander, default", &sal, &FitOptions::auto());
    for m in [250, 1000] {
        timed_fit(
            "salamander",
            &sal,
            &FitOptions {
                m,
                ..FitOptions::default()
            },
        );
    }
    timed_fit("radish2, default", &rad, &FitOptions::auto());
    timed_fit(
        "crossed 300 x 25 (n = 7,500), default",
        &c300,
        &FitOptions::auto(),
    );
    timed_fit(
        "crossed 300 x 25, m = 250",
        &c300,
        &FitOptions {
            m: 250,
            ..FitOptions::default()
        },
    );
    timed_fit(
        "crossed 100 x 50 (n = 5,000), default",
        &c100,
        &FitOptions::auto(),
    );
    timed_fit(
        "crossed 1,000 x 200 (n = 20,000), m = 250",
        &big,
        &FitOptions {
            m: 250,
            ..FitOptions::default()
        },
    );
    timed_fit("crossed 1,000 x 200, default", &big, &FitOptions::auto());
    println!("\n## (b) one evaluation at the PQL estimate (value, gradient with 2(p+T) proposal builds, model Hessian; 2 threads)\n");
    println!("| design | n | blocks | separator size (block 1) | m | seconds | ns per observation and draw |");
    println!("|---|---|---|---|---|---|---|");
    per_draw_cost("salamander", &sal, 1000);
    per_draw_cost("crossed 100 x 50", &c100, 250);
    per_draw_cost("crossed 300 x 25", &c300, 250);
    per_draw_cost("crossed 1,000 x 200", &big, 250);
    per_draw_cost(
        "crossed 1,000 x 100 (n = 20,000)",
        &common::crossed_model(1000, 100, Some(20_000), 7),
        250,
    );
    per_draw_cost(
        "crossed 1,000 x 50 (n = 20,000)",
        &common::crossed_model(1000, 50, Some(20_000), 7),
        250,
    );
    per_draw_cost(
        "crossed 500 x 200 (n = 10,000)",
        &common::crossed_model(500, 200, Some(10_000), 7),
        250,
    );
}
