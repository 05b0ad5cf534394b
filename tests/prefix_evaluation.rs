//! The SPEC §12 fit forms its model Hessian from the objective with the first 64 draws per
//! block, centred on that objective's gradient at the point just evaluated at m (issue 14).
//! These tests prove that the prefix evaluation taken from the pass at m
//! (`Objective::evaluate_with_prefix`) is bit for bit the evaluation of the smaller objective,
//! for every draw scheme, allocated m and prefix length, as is the copy with fewer draws
//! (`Objective::with_fewer_draws`, which the fit uses instead of scrambling the Sobol'
//! sequences again), and that leaving out Louis' identity (`AdaptiveSettings::louis`, off in
//! fits) changes no bit of the value or gradient.
mod common;

use mcla::integrate::adaptive::AdaptiveSettings;
use mcla::integrate::standard_draws::DrawScheme;
use mcla::{Blocks, McEvaluation, Model, Objective, Sampler};

fn same_bits(a: &McEvaluation, b: &McEvaluation, what: &str) {
    assert_eq!(a.value.to_bits(), b.value.to_bits(), "{what}: value");
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.gradient), bits(&b.gradient), "{what}: gradient");
    assert_eq!(bits(&a.mc_v), bits(&b.mc_v), "{what}: mc_v");
    assert_eq!(a.blocks.len(), b.blocks.len(), "{what}: blocks");
    for (x, y) in a.blocks.iter().zip(&b.blocks) {
        assert_eq!(x.draws, y.draws, "{what}: draws");
        assert_eq!(x.ess.to_bits(), y.ess.to_bits(), "{what}: ess");
        assert_eq!(
            x.loglik_var.to_bits(),
            y.loglik_var.to_bits(),
            "{what}: loglik_var"
        );
    }
}

fn start(model: &Model) -> (Vec<f64>, Vec<f64>) {
    let s = mcla::pql(model).unwrap();
    let mut theta = s.beta.clone();
    theta.extend(&s.nu);
    (theta, s.u_star)
}

#[test]
fn the_prefix_from_the_pass_at_m_is_the_smaller_objective_bit_for_bit() {
    // one sampled block (crossed) and a two-factor design with a fixed-only part
    let model = common::crossed_model(30, 12, None, 5);
    let blocks = Blocks::new(&model, Sampler::Adaptive);
    let (theta, u) = start(&model);
    for draws in [
        DrawScheme::default(),
        DrawScheme::Antithetic,
        DrawScheme::Plain,
    ] {
        let settings = AdaptiveSettings {
            draws,
            ..AdaptiveSettings::default()
        };
        let m = draws.round_m(512);
        let big = Objective::adaptive(&model, &blocks, m, 3, &u, settings).unwrap();
        // 64 (one chunk), 128 (two), and a prefix that ends inside a chunk (plain: 100)
        for k in [64, 128, 100] {
            let (whole, prefix) = big.evaluate_with_prefix(&theta, k).unwrap();
            same_bits(&whole, &big.evaluate(&theta).unwrap(), "whole");
            let small =
                Objective::adaptive(&model, &blocks, draws.round_m(k), 3, &u, settings).unwrap();
            let reference = small.evaluate(&theta).unwrap();
            same_bits(&prefix, &reference, &format!("{draws:?}, k = {k}"));
            // the copy with fewer draws (no new scrambling) is the same function
            let copy = big.with_fewer_draws(k).expect("adaptive parts copy");
            same_bits(
                &copy.evaluate(&theta).unwrap(),
                &reference,
                &format!("{draws:?}, copy with k = {k}"),
            );
        }
        // a prefix at least m long is the whole evaluation
        let (whole, prefix) = big.evaluate_with_prefix(&theta, 4 * m).unwrap();
        same_bits(&whole, &prefix, "k > m");
    }
}

#[test]
fn the_prefix_follows_each_blocks_allocated_m() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    // salamander: six sampled blocks, allocated draws 32 to 1024
    let model = common::reference_model(&shared, "salamander");
    let blocks = Blocks::new(&model, Sampler::Adaptive);
    let (theta, u) = start(&model);
    let settings = AdaptiveSettings::default();
    let ms: Vec<usize> = (0..blocks.blocks.len()).map(|b| 32 << (b % 6)).collect();
    let big = Objective::adaptive_allocated(&model, &blocks, &ms, 11, &u, settings).unwrap();
    let (whole, prefixes) = big.evaluate_with_prefixes(&theta, &[64, 128]).unwrap();
    same_bits(&whole, &big.evaluate(&theta).unwrap(), "whole");
    for (k, prefix) in [64, 128].into_iter().zip(&prefixes) {
        let few: Vec<usize> = ms.iter().map(|&m| m.min(k)).collect();
        let small = Objective::adaptive_allocated(&model, &blocks, &few, 11, &u, settings).unwrap();
        let reference = small.evaluate(&theta).unwrap();
        same_bits(prefix, &reference, &format!("allocated, k = {k}"));
        let copy = big.with_fewer_draws(k).unwrap();
        same_bits(
            &copy.evaluate(&theta).unwrap(),
            &reference,
            &format!("allocated copy, k = {k}"),
        );
    }
}

#[test]
fn leaving_out_louis_identity_changes_no_value_or_gradient_bit() {
    for (model, what) in [
        (common::crossed_model(40, 15, None, 9), "crossed"),
        (common::verbagg_like_model(40, 0.2, 2), "verbagg-shaped"),
    ] {
        let blocks = Blocks::new(&model, Sampler::Adaptive);
        let (theta, u) = start(&model);
        let with = Objective::adaptive(&model, &blocks, 256, 1, &u, AdaptiveSettings::default())
            .unwrap()
            .evaluate(&theta)
            .unwrap();
        let without = Objective::adaptive(
            &model,
            &blocks,
            256,
            1,
            &u,
            AdaptiveSettings {
                louis: false,
                ..AdaptiveSettings::default()
            },
        )
        .unwrap()
        .evaluate(&theta)
        .unwrap();
        same_bits(&with, &without, what);
        // Louis' identity is a real (negative definite) Hessian; without it the sampled
        // block's is zero
        let d = theta.len();
        assert!((0..d).all(|j| with.hessian[j * d + j] < 0.0), "{what}");
        assert!(without.hessian.iter().all(|&h| h == 0.0), "{what}");
    }
}
