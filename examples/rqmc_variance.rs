//! The separator's standard draws (issue 14): plain Monte Carlo, antithetic pairs and
//! scrambled Sobol' points (randomised QMC) compared on the SPEC §12 estimator, for
//! BENCHMARKS.md.  Needs `../shared/data` (salamander).
//!
//! ```text
//! cargo run --release --example rqmc_variance            # (a) and (b), a few minutes
//! cargo run --release --example rqmc_variance -- fits    # (c): default fits per scheme
//! ```
//!
//! (a) Variance over 12 seeds of the log-likelihood at a fixed theta (near the MLE) at
//!     m = 64, 256, 1024 per block, plain vs each scheme (the ratio is the variance
//!     reduction), on salamander and the crossed 100 x 50 design;
//! (b) honesty of the reported error at that theta: seed SD of l / mean reported
//!     log-likelihood MCSE, and the same for the gradient's components (seed SD of
//!     the gradient / mean sqrt(diag V));
//! (c) default fits (`--m auto`, MCSE <= 0.02 SE, log-likelihood MCSE <= 0.01): m
//!     reached, per scheme, over seeds.
#[path = "../tests/common/mod.rs"]
mod common;

use mcla::integrate::adaptive::AdaptiveSettings;
use mcla::integrate::standard_draws::DrawScheme;
use mcla::{fit, Blocks, FitOptions, Model, Objective, Sampler};

fn schemes() -> Vec<(&'static str, DrawScheme)> {
    vec![
        ("plain", DrawScheme::Plain),
        ("antithetic", DrawScheme::Antithetic),
        ("sobol R=2", DrawScheme::Sobol { replicates: 2 }),
        ("sobol R=8", DrawScheme::Sobol { replicates: 8 }),
        ("sobol R=16", DrawScheme::Sobol { replicates: 16 }),
    ]
}

fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

fn study(name: &str, model: &Model) {
    // theta: a default fit with many plain draws (near the MLE)
    let f = fit(
        model,
        &FitOptions {
            m: 4000,
            draws: DrawScheme::Plain,
            seed: 99,
            ..FitOptions::default()
        },
    )
    .unwrap();
    let theta = f.theta.clone();
    let st = mcla::pql(model).unwrap();
    let blocks = Blocks::new(model, Sampler::Adaptive);
    let d = theta.len();
    println!("\n{name}: theta = {theta:.4?}");
    println!("| m | draws | var(l) over 12 seeds | plain / this | SD(l) / mean MCSE(l) | SD(grad) / mean MCSE(grad), range over parameters |");
    println!("|---|---|---|---|---|---|");
    for m in [64usize, 256, 1024] {
        let mut plain_var = f64::NAN;
        for (label, scheme) in schemes() {
            let settings = AdaptiveSettings {
                draws: scheme,
                ..AdaptiveSettings::default()
            };
            let (mut ls, mut lmc, mut gs, mut gmc) = (vec![], vec![], vec![], vec![]);
            for seed in 1..=12u64 {
                let obj =
                    Objective::adaptive(model, &blocks, m, seed, &st.u_star, settings).unwrap();
                let ev = obj.evaluate(&theta).unwrap();
                ls.push(ev.value);
                lmc.push(ev.blocks.iter().map(|b| b.loglik_var).sum::<f64>().sqrt());
                gs.push(ev.gradient.clone());
                gmc.push(
                    (0..d)
                        .map(|j| ev.mc_v[j * d + j].sqrt())
                        .collect::<Vec<_>>(),
                );
            }
            let (_, sd) = mean_sd(&ls);
            let var = sd * sd;
            if scheme == DrawScheme::Plain {
                plain_var = var;
            }
            let mc = lmc.iter().sum::<f64>() / 12.0;
            let ratios: Vec<f64> = (0..d)
                .map(|j| {
                    let col: Vec<f64> = gs.iter().map(|g| g[j]).collect();
                    let (_, sdj) = mean_sd(&col);
                    sdj / (gmc.iter().map(|g| g[j]).sum::<f64>() / 12.0)
                })
                .collect();
            let (lo, hi) = ratios
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(a, b), &r| (a.min(r), b.max(r)));
            println!(
                "| {m} | {label} | {var:.3e} | {:.1} | {:.2} | {lo:.2}–{hi:.2} |",
                plain_var / var,
                sd / mc
            );
        }
    }
}

fn fits(name: &str, model: &Model, seeds: &[u64]) {
    println!("\n{name}: default fits (automatic m)");
    println!("| draws | seed | m reached | wall (s) | log-likelihood | its MCSE | max MCSE/SE |");
    println!("|---|---|---|---|---|---|---|");
    for (label, scheme) in [
        ("plain", DrawScheme::Plain),
        ("antithetic", DrawScheme::Antithetic),
        ("sobol R=8", DrawScheme::Sobol { replicates: 8 }),
    ] {
        for &seed in seeds {
            let t = std::time::Instant::now();
            let f = fit(
                model,
                &FitOptions {
                    seed,
                    draws: scheme,
                    ..FitOptions::auto()
                },
            )
            .unwrap();
            let r = f
                .mcse
                .iter()
                .zip(&f.se)
                .map(|(a, b)| a / b)
                .fold(0.0f64, f64::max);
            println!(
                "| {label} | {seed} | {} | {:.2} | {:.4} | {:.4} | {r:.4} |",
                f.m,
                t.elapsed().as_secs_f64(),
                f.loglik,
                f.loglik_mcse
            );
        }
    }
}

fn main() {
    let shared = common::shared_dir().expect("../shared is needed");
    let sal = common::reference_model(&shared, "salamander");
    let crossed = common::crossed_model(100, 50, None, 2024);
    if std::env::args().all(|a| a != "fits") {
        study("salamander", &sal);
        study("crossed 100 x 50", &crossed);
    } else {
        fits("salamander", &sal, &[1, 1234, 7]);
        fits("crossed 100 x 50", &crossed, &[1, 2, 3]);
    }
}
