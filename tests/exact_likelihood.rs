//! MCLA reaches the maximum likelihood estimate: against exact answers where
//! they can be computed (one grouping factor: adaptive Gauss–Hermite
//! quadrature) and against the best published estimate of the salamander MLE.
#![allow(clippy::needless_range_loop, clippy::approx_constant)] // 0.318 is an estimate, not 1/pi

mod common;
use common::*;
use mcla::integrate::quadrature::{agq_loglik, agq_mle};
use mcla::{fit, Family, FitOptions, Sampler};

/// BoothHobert, `y ~ 0 + x1`, random `~0+z1`: exact MLE by lme4 with 25-point
/// AGQ (shared/data/README.md): beta = 6.132, nu = 1.766, loglik -44.056.
#[test]
fn booth_hobert_agq_reproduces_lme4() {
    let Some(shared) = shared_dir() else { return };
    let model = reference_model(&shared, "BoothHobert");
    let (theta, ll) = agq_mle(&model, &[5.0, 1.0], 25).unwrap();
    println!("AGQ MLE {theta:?} loglik {ll}");
    assert_close("AGQ beta", theta[0], 6.132, 1e-3, 1.0);
    assert_close("AGQ nu", theta[1], 1.766, 1e-3, 1.0);
    assert!((ll - -44.056).abs() < 1e-3, "AGQ loglik {ll}");
    // 25 nodes are converged: 50 nodes agree to 1e-9
    let l50 = agq_loglik(&model, &theta, 50).unwrap();
    assert!((l50 - ll).abs() < 1e-9);
}

/// BoothHobert fitted with the default (factorised) sampler at `m`, seed 1234.
fn booth_hobert_fit(m: usize) -> Option<mcla::Fit> {
    let shared = shared_dir()?;
    let model = reference_model(&shared, "BoothHobert");
    let f = fit(
        &model,
        &FitOptions {
            m,
            seed: 1234,
            sampler: Sampler::Factorised,
            ..FitOptions::default()
        },
    )
    .unwrap();
    println!(
        "BoothHobert m={m} {:?} loglik {} (mcse {}) mcse {:?}",
        f.theta, f.loglik, f.loglik_mcse, f.mcse
    );
    Some(f)
}

/// At m = 10^4 (R glmm, joint sampler: 6.141 / 1.763 with MCSE 0.034 / 0.049) our
/// factorised estimates are within 3 of their own reported MCSEs of the exact
/// MLE, and the log-likelihood within 3 of its MCSE.  Measured over 12 seeds at
/// m = 10^4 the seed-to-seed SD is 0.022 (beta), 0.024 (nu), 0.018 (loglik), in
/// line with the reported MCSE (0.023, 0.032, 0.016): the bounds 0.03 / 0.04 / 0.01
/// hold at m = 10^5 (next test), not reliably at 10^4.
#[test]
fn booth_hobert_mcla_at_1e4_within_its_mcse_of_exact_mle() {
    let Some(f) = booth_hobert_fit(10_000) else {
        return;
    };
    assert!(f.converged);
    assert!(
        f.mcse[0] < 0.034 && f.mcse[1] < 0.049,
        "no worse than R glmm's MCSE at the same m"
    );
    assert!(
        (f.theta[0] - 6.132).abs() < 3.0 * f.mcse[0],
        "beta {}",
        f.theta[0]
    );
    assert!(
        (f.theta[1] - 1.766).abs() < 3.0 * f.mcse[1],
        "nu {}",
        f.theta[1]
    );
    assert!(
        (f.loglik - -44.056).abs() < 3.0 * f.loglik_mcse,
        "loglik {}",
        f.loglik
    );
}

/// At m = 10^5: within 0.03 / 0.04 / 0.01 of the exact MLE (beta, nu, loglik).
#[test]
fn booth_hobert_mcla_at_1e5_matches_exact_mle() {
    let Some(f) = booth_hobert_fit(100_000) else {
        return;
    };
    assert!((f.theta[0] - 6.132).abs() < 0.03, "beta {}", f.theta[0]);
    assert!((f.theta[1] - 1.766).abs() < 0.04, "nu {}", f.theta[1]);
    assert!((f.loglik - -44.056).abs() < 0.01, "loglik {}", f.loglik);
}

/// Salamander (crossed, 6 components of 20 effects), default factorised sampler, m = 10^4:
/// every beta within 0.06 and every nu within 0.15 of the MLE (1.017, 0.318, -1.941,
/// 0.995 | 1.380, 1.241), and every block's ESS above 300.
#[test]
fn salamander_factorised_1e4_reaches_the_mle() {
    let Some(shared) = shared_dir() else { return };
    let model = reference_model(&shared, "salamander");
    let f = fit(
        &model,
        &FitOptions {
            m: 10_000,
            seed: 1234,
            sampler: Sampler::Factorised,
            ..FitOptions::default()
        },
    )
    .unwrap();
    let mle = [1.017, 0.318, -1.941, 0.995, 1.380, 1.241];
    println!(
        "salamander factorised m=1e4: {:?}\n  mcse {:?}\n  ess {:?}\n  loglik {}",
        f.theta,
        f.mcse,
        f.blocks.iter().map(|b| b.ess).collect::<Vec<_>>(),
        f.loglik
    );
    assert!(f.converged);
    assert_eq!(f.blocks.len(), 6);
    for j in 0..6 {
        let tol = if j < 4 { 0.06 } else { 0.15 };
        assert!(
            (f.theta[j] - mle[j]).abs() < tol,
            "{}: {} vs MLE {}",
            f.parameter_names[j],
            f.theta[j],
            mle[j]
        );
    }
    for b in &f.blocks {
        assert!(b.ess > 300.0, "block ESS {}", b.ess);
    }
    // honest MCSE: the estimate is within a few MCSE of the MLE
    for j in 0..6 {
        assert!(
            (f.theta[j] - mle[j]).abs() < 4.0 * f.mcse[j] + 0.01,
            "{} not within 4 MCSE",
            f.parameter_names[j]
        );
    }
}

/// The joint sampler (R glmm's) degenerates on salamander at modest m; we must say so.
#[test]
fn salamander_joint_sampler_warns_about_degenerate_weights() {
    let Some(shared) = shared_dir() else { return };
    let model = reference_model(&shared, "salamander");
    let f = fit(
        &model,
        &FitOptions {
            m: 2_000,
            seed: 1,
            sampler: Sampler::Joint,
            ..FitOptions::default()
        },
    )
    .unwrap();
    assert_eq!(f.blocks.len(), 1);
    println!("joint m=2000 ESS {}", f.blocks[0].ess);
    assert!(f.blocks[0].ess < 100.0);
    assert!(
        f.warnings
            .iter()
            .any(|w| w.contains("effective sample size")),
        "{:?}",
        f.warnings
    );
}

/// On simulated single-factor data of each family, the MCMLE approaches the
/// exact (AGQ) MLE as m grows, and the MCLA log-likelihood approaches AGQ's.
#[test]
fn mcla_converges_to_agq_for_every_family() {
    for family in [Family::Bernoulli, Family::Binomial, Family::Poisson] {
        let model = single_factor_model(family, 30, 8, 99);
        let (exact, exact_ll) = agq_mle(&model, &[0.0, 0.0, 1.0], 25).unwrap();
        let mut errs = Vec::new();
        for m in [100, 10_000] {
            let f = fit(
                &model,
                &FitOptions {
                    m,
                    seed: 7,
                    sampler: Sampler::Factorised,
                    ..FitOptions::default()
                },
            )
            .unwrap();
            assert!(f.converged);
            let err = f
                .theta
                .iter()
                .zip(&exact)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            let ll_err = (f.loglik - exact_ll).abs();
            println!("{family} m={m}: max |theta - exact| {err:.5}, |loglik - exact| {ll_err:.6}, mcse {:?}", f.mcse);
            if m == 10_000 {
                for j in 0..exact.len() {
                    assert!(
                        (f.theta[j] - exact[j]).abs() < 4.0 * f.mcse[j] + 1e-3,
                        "{family}: theta[{j}] {} vs exact {} (mcse {})",
                        f.theta[j],
                        exact[j],
                        f.mcse[j]
                    );
                }
                assert!(
                    ll_err < 4.0 * f.loglik_mcse,
                    "{family}: loglik {} vs exact {exact_ll} (mcse {})",
                    f.loglik,
                    f.loglik_mcse
                );
                // the MCLA at the exact MLE matches the exact log-likelihood too
                let ll_at_exact = agq_loglik(&model, &exact, 25).unwrap();
                assert!((ll_at_exact - exact_ll).abs() < 1e-9);
            }
            errs.push(err);
        }
        assert!(
            errs[1] < errs[0],
            "{family}: error did not shrink with m: {errs:?}"
        );
    }
}
