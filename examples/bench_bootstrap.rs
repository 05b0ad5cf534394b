//! Parametric-bootstrap benchmark for BENCHMARKS.md (issue 15): wall time of `nsim` refits of
//! salamander (two crossed factors, adaptive sampler, automatic m: the command line's default)
//! and of BoothHobert (one factor: integrated exactly) with 1 and 2 threads, and a check that
//! both thread counts give the same replicates.
//!
//! ```text
//! cargo run --release --example bench_bootstrap            # nsim = 1000
//! cargo run --release --example bench_bootstrap -- 200     # fewer refits
//! ```
#[path = "../tests/common/mod.rs"]
mod common;

use mcla::{bootstrap_replicates, fit, summarise_bootstrap, FitOptions};
use std::time::Instant;

fn main() {
    let nsim: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let shared = common::shared_dir().expect("the benchmark needs ../shared (the data)");
    println!("| model | refits | threads | wall time (s) | per refit (ms) | used | bootstrap SE (first parameter) |");
    println!("|---|---|---|---|---|---|---|");
    for name in ["BoothHobert", "salamander"] {
        let model = common::reference_model(&shared, name);
        let options = FitOptions::auto();
        let f = fit(&model, &options).expect("the original fit");
        let mut first: Option<Vec<mcla::Replicate>> = None;
        for threads in [1usize, 2] {
            let opts = FitOptions {
                threads: Some(threads),
                ..options.clone()
            };
            let t = Instant::now();
            let reps = bootstrap_replicates(&model, &f, &opts, 0..nsim, 2026).expect("bootstrap");
            let wall = t.elapsed().as_secs_f64();
            let s = summarise_bootstrap(&f, &reps, 0.95).expect("summary");
            println!(
                "| {name} | {nsim} | {threads} | {wall:.2} | {:.2} | {} | {:.4} |",
                1e3 * wall / nsim as f64,
                s.used,
                s.parameters[0].se
            );
            match &first {
                None => first = Some(reps),
                Some(r1) => assert_eq!(r1, &reps, "1 and 2 threads differ"),
            }
        }
    }
}
