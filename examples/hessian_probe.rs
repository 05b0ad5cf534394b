//! Probe: trust-region model Hessian against the difference Hessian (issue 14).
#[path = "../tests/common/mod.rs"]
mod common;

use mcla::integrate::adaptive::AdaptiveSettings;
use mcla::{fit, Blocks, FitOptions, Model, Objective, Sampler};
use std::time::Instant;

fn probe(name: &str, model: &Model, m: usize, big: usize) {
    let t = Instant::now();
    let opts = if m == 0 {
        FitOptions {
            threads: Some(1),
            ..FitOptions::auto()
        }
    } else {
        FitOptions {
            m,
            threads: Some(1),
            ..FitOptions::default()
        }
    };
    let f = fit(model, &opts).unwrap();
    println!(
        "{name} m={}: {:.2}s iterations {} timings {:?}\n stages {:?}\n theta {:?}\n se {:?}\n mcse/se {:?} loglik mcse {}",
        f.m,
        t.elapsed().as_secs_f64(),
        f.iterations,
        f.timings,
        f.stages,
        f.theta,
        f.se,
        f.mcse.iter().zip(&f.se).map(|(a, b)| a / b).collect::<Vec<_>>(),
        f.loglik_mcse
    );
    if big == 0 {
        return;
    }
    let blocks = Blocks::new(model, Sampler::Adaptive);
    let s = mcla::pql(model).unwrap();
    let obj = Objective::adaptive(
        model,
        &blocks,
        big,
        1,
        &s.u_star,
        AdaptiveSettings::default(),
    )
    .unwrap();
    let d = model.n_params();
    let a = obj.evaluate(&f.theta).unwrap();
    let b = obj.final_evaluation(&f.theta).unwrap();
    let mut worst: f64 = 0.0;
    for r in 0..d {
        let row: Vec<String> = (0..d)
            .map(|c| {
                let (x, y) = (f.hessian[r * d + c], b.hessian[r * d + c]);
                let scale = (b.hessian[r * d + r] * b.hessian[c * d + c]).abs().sqrt();
                worst = worst.max((x - y).abs() / scale);
                format!("{:9.2}/{:9.2}/{:9.2}", a.hessian[r * d + c], x, y)
            })
            .collect();
        println!("  {}", row.join(" "));
    }
    println!(
        " louis / reported / central at m = {big}: worst |diff| / sqrt(H_rr H_cc) = {worst:.2e}"
    );
}

fn cost(model: &Model) {
    let blocks = Blocks::new(model, Sampler::Adaptive);
    let s = mcla::pql(model).unwrap();
    let mut theta = s.beta.clone();
    theta.extend(&s.nu);
    for m in [64, 256, 1024, 4096] {
        let obj = Objective::adaptive(model, &blocks, m, 1, &s.u_star, AdaptiveSettings::default())
            .unwrap();
        obj.evaluate(&theta).unwrap();
        let t = Instant::now();
        for _ in 0..3 {
            std::hint::black_box(obj.evaluate(&theta).unwrap());
        }
        println!(
            "m = {m}: {:.4} s per evaluation",
            t.elapsed().as_secs_f64() / 3.0
        );
        let t = Instant::now();
        std::hint::black_box(mcla::BlockIntegrator::posterior_moments(&obj, &theta));
        println!(
            "m = {m}: {:.4} s posterior moments",
            t.elapsed().as_secs_f64()
        );
    }
}

fn se_of(h: &[f64], d: usize) -> Vec<f64> {
    let v = mcla::fit::vcov::vcov_from_hessian(h, d).unwrap();
    (0..d).map(|j| v[j * d + j].sqrt()).collect()
}

/// Accuracy of forward-difference Hessians at few draws against the central difference at `big`.
fn accuracy(model: &Model, big: usize) {
    let f = fit(
        model,
        &FitOptions {
            m: 256,
            threads: Some(1),
            ..FitOptions::default()
        },
    )
    .unwrap();
    let blocks = Blocks::new(model, Sampler::Adaptive);
    let s = mcla::pql(model).unwrap();
    let d = model.n_params();
    let reference = Objective::adaptive(
        model,
        &blocks,
        big,
        1,
        &s.u_star,
        AdaptiveSettings::default(),
    )
    .unwrap()
    .final_evaluation(&f.theta)
    .unwrap()
    .hessian;
    let se_ref = se_of(&reference, d);
    for m in [64, 128, 256, 512, 1024] {
        let obj = Objective::adaptive(model, &blocks, m, 1, &s.u_star, AdaptiveSettings::default())
            .unwrap();
        let h = obj.difference_hessian(&f.theta, None).unwrap();
        let louis = obj.evaluate(&f.theta).unwrap().hessian;
        let rel = |a: &[f64]| {
            let mut w: f64 = 0.0;
            for r in 0..d {
                for c in 0..d {
                    let scale = (reference[r * d + r] * reference[c * d + c]).abs().sqrt();
                    w = w.max((a[r * d + c] - reference[r * d + c]).abs() / scale);
                }
            }
            w
        };
        let se = se_of(&h, d);
        let se_err = se
            .iter()
            .zip(&se_ref)
            .map(|(a, b)| (a / b - 1.0).abs())
            .fold(0.0, f64::max);
        let diag_err = (0..d)
            .map(|j| (h[j * d + j] / reference[j * d + j] - 1.0).abs())
            .fold(0.0, f64::max);
        println!(
            "m = {m}: forward difference: worst |dH|/sqrt(Hrr Hcc) {:.2e}, worst diagonal rel {:.2e}, worst SE rel {:.2e}; Louis: {:.2e}",
            rel(&h), diag_err, se_err, rel(&louis)
        );
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("pql") {
        // PQL to R's tolerance and to the SPEC 12 fit's start tolerance
        for (name, model) in [
            (
                "1000 x 200",
                common::crossed_model(1000, 200, Some(20_000), 7),
            ),
            ("100 x 50", common::crossed_model(100, 50, None, 2024)),
            ("300 x 24", common::verbagg_like_model(300, 0.2, 1)),
        ] {
            for (tname, tol) in [
                ("R optim", mcla::PqlTolerance::R_OPTIM),
                ("start", mcla::PqlTolerance::START),
            ] {
                let t = Instant::now();
                let reps = 3;
                let mut s = None;
                for _ in 0..reps {
                    s = Some(mcla::pql_to(&model, tol).unwrap());
                }
                let s = s.unwrap();
                println!(
                    "PQL {name}, {tname}: {:.3} s, {} outer evaluations, sigma {:?}",
                    t.elapsed().as_secs_f64() / reps as f64,
                    s.outer_evaluations,
                    s.sigma
                );
            }
        }
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("accuracy") {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global()
            .unwrap();
        let big: usize = std::env::args()
            .nth(3)
            .and_then(|s| s.parse().ok())
            .unwrap_or(4096);
        let m = match std::env::args().nth(1).as_deref() {
            Some("c100") => common::crossed_model(100, 50, None, 2024),
            Some("big") => common::crossed_model(1000, 200, Some(20_000), 7),
            Some("sal") => common::reference_model(&common::shared_dir().unwrap(), "salamander"),
            Some("radish") => common::reference_model(&common::shared_dir().unwrap(), "radish2"),
            _ => common::verbagg_like_model(300, 0.2, 1),
        };
        accuracy(&m, big);
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("cost") {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global()
            .unwrap();
        let m = match std::env::args().nth(1).as_deref() {
            Some("c100") => common::crossed_model(100, 50, None, 2024),
            Some("big") => common::crossed_model(1000, 200, Some(20_000), 7),
            Some("sal") => common::reference_model(&common::shared_dir().unwrap(), "salamander"),
            _ => common::verbagg_like_model(300, 0.2, 1),
        };
        cost(&m);
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("verbagg");
    let m: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let big: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    match which {
        "verbagg" => probe(
            "verbagg-like 300x24",
            &common::verbagg_like_model(300, 0.2, 1),
            m,
            big,
        ),
        "c100" => probe(
            "crossed 100x50",
            &common::crossed_model(100, 50, None, 2024),
            m,
            big,
        ),
        "big" => probe(
            "crossed 1000x200",
            &common::crossed_model(1000, 200, Some(20_000), 7),
            m,
            big,
        ),
        "sal" => {
            let shared = common::shared_dir().unwrap();
            probe(
                "salamander",
                &common::reference_model(&shared, "salamander"),
                m,
                big,
            )
        }
        _ => {}
    }
}
