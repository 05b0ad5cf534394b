//! Performance table for BENCHMARKS.md (issue 4).  Run on an otherwise idle machine:
//!
//! ```text
//! cargo run --release --example bench            # full table (several minutes)
//! cargo run --release --example bench -- quick   # smaller m, for a quick look
//! ```
//!
//! (a) one MCLA evaluation (value + gradient + Hessian) for salamander, joint and
//!     factorised, m = 10^5 and 10^6, 1 and 2 threads;
//! (b) whole fits (PQL, sampling, optimisation, MCSE) at m = 10^4, 10^5, 10^6;
//! (c) peak resident memory of each fit (each fit runs in its own process);
//! (d) the floor: n·m evaluations of log(1 + e^x) and 1/(1 + e^-x) with the
//!     kernel's own routine (`mcla_math::softplus_logistic_slice`), and (a)/(d);
//! (e) a large crossed design: n = 20,000, factors of 1,000 and 200 levels in one
//!     component, m = 10^4.
#[path = "../tests/common/mod.rs"]
mod common;

use mcla::{fit, Csr, Family, FitOptions, Mcla, Model, ModelSpec, RandomBlock, Sampler};
use rayon::prelude::*;
use std::time::Instant;

fn salamander() -> Model {
    let shared = common::shared_dir().expect("bench needs ../shared (salamander data)");
    common::reference_model(&shared, "salamander")
}

/// n = 20,000 Bernoulli observations, intercept + x, crossed factors A (1,000 levels) and
/// B (200 levels) assigned pseudo-randomly: one connected component of 1,200 effects.
fn big_crossed() -> Model {
    let (n, la, lb) = (20_000usize, 1_000usize, 200usize);
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let a: Vec<usize> = (0..n).map(|i| (i % la + next() % 7) % la).collect();
    let b: Vec<usize> = (0..n).map(|_| next() % lb).collect();
    let x1: Vec<f64> = (0..n)
        .map(|_| (next() % 1000) as f64 / 500.0 - 1.0)
        .collect();
    let mut x = vec![1.0; n];
    x.extend(&x1);
    let za =
        Csr::from_triplets(n, la, &(0..n).map(|i| (i, a[i], 1.0)).collect::<Vec<_>>()).unwrap();
    let zb =
        Csr::from_triplets(n, lb, &(0..n).map(|i| (i, b[i], 1.0)).collect::<Vec<_>>()).unwrap();
    let mut spec = ModelSpec {
        y: vec![0.0; n],
        trials: None,
        x,
        x_names: vec!["(Intercept)".into(), "x1".into()],
        random: vec![
            RandomBlock {
                names: (0..la).map(|i| format!("A{i}")).collect(),
                z: za,
            },
            RandomBlock {
                names: (0..lb).map(|i| format!("B{i}")).collect(),
                z: zb,
            },
        ],
        varcomps_equal: None,
        varcomps_names: vec!["A".into(), "B".into()],
        family: Family::Bernoulli,
        weights: None,
    };
    spec.y = mcla::simulate_response(&spec, &[-0.5, 0.7], &[0.8, 0.5], 1)
        .unwrap()
        .0;
    Model::new(spec).unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Seconds for one evaluation (median of `reps`).
fn eval_time(model: &Model, sampler: Sampler, m: usize, threads: usize, reps: usize) -> f64 {
    pool(threads).install(|| {
        let common::Prepared {
            start: st,
            blocks,
            sample,
        } = common::prepare(model, sampler, m, 1);
        let mcla = Mcla::new(model, &blocks, &sample);
        median(
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(mcla.evaluate(&st.theta).unwrap());
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    })
}

/// Seconds for `terms` evaluations of softplus and logistic with the kernel's routine,
/// chunked like the kernel (256 values at a time), accumulated so nothing is optimised away.
fn floor_time(terms: usize, threads: usize, reps: usize) -> f64 {
    const C: usize = mcla::integrate::fixed_sample::sampler::CHUNK;
    let etas: Vec<f64> = (0..16 * C)
        .map(|i| ((i * 7919) % 4001) as f64 / 500.0 - 4.0)
        .collect();
    let chunks = terms.div_ceil(C);
    pool(threads).install(|| {
        median(
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    let total: f64 = (0..chunks)
                        .into_par_iter()
                        .with_min_len(64)
                        .map_init(
                            || (vec![0.0; C], vec![0.0; C], vec![0.0; C]),
                            |(sp, mu, acc), c| {
                                let e = &etas[(c % 16) * C..(c % 16 + 1) * C];
                                let _ = mcla_math::softplus_logistic_slice(e, sp, mu);
                                for k in 0..C {
                                    acc[k] += sp[k] + mu[k];
                                }
                                acc[c % C]
                            },
                        )
                        .sum();
                    std::hint::black_box(total);
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    })
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Child process: one fit, prints `seconds peak_mb iterations`.
fn fit_one(which: &str, sampler: &str, m: usize, low_memory: bool) {
    let model = if which == "big" {
        big_crossed()
    } else {
        salamander()
    };
    let sampler = Sampler::parse(sampler).unwrap();
    let t = Instant::now();
    let f = fit(
        &model,
        &FitOptions {
            m,
            sampler,
            low_memory,
            ..FitOptions::default()
        },
    )
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("{secs} {} {} {}", peak_rss_mb(), f.iterations, f.converged);
}

fn run_child(which: &str, sampler: &str, m: usize, low_memory: bool) -> (f64, f64, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "fit-one",
            which,
            sampler,
            &m.to_string(),
            if low_memory { "1" } else { "0" },
        ])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let v: Vec<&str> = s.split_whitespace().collect();
    if v.len() < 4 {
        return (
            f64::NAN,
            f64::NAN,
            format!("failed: {}", String::from_utf8_lossy(&out.stderr)),
        );
    }
    (
        v[0].parse().unwrap_or(f64::NAN),
        v[1].parse().unwrap_or(f64::NAN),
        format!("{} iterations, converged {}", v[2], v[3]),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("fit-one") {
        fit_one(&args[2], &args[3], args[4].parse().unwrap(), args[5] == "1");
        return;
    }
    let quick = args.get(1).map(String::as_str) == Some("quick");
    let big_m = if quick { 100_000 } else { 1_000_000 };
    let model = salamander();
    let n = model.n();
    println!(
        "machine: {} cores, ISA {:?}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        mcla_math::active_isa()
    );
    println!(
        "\n### (a) one evaluation (value + gradient + Hessian), salamander; (d) floor and ratio\n"
    );
    println!(
        "| sampler | m | threads | evaluation (s) | floor n·m softplus+logistic (s) | (a)/(d) |"
    );
    println!("|---|---|---|---|---|---|");
    let mut speedup = Vec::new();
    for m in [100_000usize, big_m] {
        for sampler in [Sampler::Joint, Sampler::Factorised] {
            let mut t1 = 0.0;
            for threads in [1usize, 2] {
                let reps = if m >= 1_000_000 { 3 } else { 5 };
                let a = eval_time(&model, sampler, m, threads, reps);
                let d = floor_time(n * m, threads, reps);
                if threads == 1 {
                    t1 = a;
                } else {
                    speedup.push(format!("{} m={m}: {:.2}x", sampler.name(), t1 / a));
                }
                println!(
                    "| {} | {m} | {threads} | {a:.4} | {d:.4} | {:.2} |",
                    sampler.name(),
                    a / d
                );
            }
        }
    }
    println!("\n2-thread speed-up of (a): {}", speedup.join(", "));
    println!(
        "\n### (b, c) whole fits (PQL, sampling, optimisation, MCSE), each in its own process\n"
    );
    println!("| design | sampler | m | mode | wall (s) | peak RSS (MB) | notes |");
    println!("|---|---|---|---|---|---|---|");
    let ms: Vec<usize> = if quick {
        vec![10_000, 100_000]
    } else {
        vec![10_000, 100_000, 1_000_000]
    };
    for &m in &ms {
        for sampler in ["factorised", "joint"] {
            let (s, mb, note) = run_child("salamander", sampler, m, false);
            println!("| salamander | {sampler} | {m} | stored | {s:.3} | {mb:.0} | {note} |");
        }
    }
    for m in [big_m, if quick { 1_000_000 } else { 10_000_000 }] {
        let (s, mb, note) = run_child("salamander", "joint", m, true);
        println!("| salamander | joint | {m} | low-memory | {s:.3} | {mb:.0} | {note} |");
    }
    println!("\n### (e) large crossed design: n = 20,000, 1,000 x 200 levels, one component of 1,200 effects\n");
    println!("| design | sampler | m | mode | wall (s) | peak RSS (MB) | notes |");
    println!("|---|---|---|---|---|---|---|");
    let (s, mb, note) = run_child("big", "factorised", 10_000, false);
    println!("| big crossed | factorised (= joint: one block) | 10000 | stored | {s:.3} | {mb:.0} | {note} |");
}
