//! A variance whose estimate is on the boundary (0): the trust region's steps past it are
//! infeasible (SPEC §5), so it used to crawl there with every other parameter and stop on fterm
//! short of the maximum ("not at a maximum").  Now such a variance is held and the rest is
//! maximised again: the fit converges to the boundary MLE, which is the MLE of the model
//! without that random effect.

use mcla::{fit, Csr, Family, FitOptions, Model, ModelSpec, RandomBlock};

/// 40 sites x 3 broods x 4 bernoulli observations, site variance 0.5, brood variance 0 (so its
/// estimate is often on the boundary), and the same data without the brood effects.
fn sites_and_broods(seed: u64) -> (ModelSpec, ModelSpec) {
    let (sites, per_site, reps) = (40, 3, 4);
    let n = sites * per_site * reps;
    let zs: Vec<_> = (0..n).map(|r| (r, r / (per_site * reps), 1.0)).collect();
    let zb: Vec<_> = (0..n).map(|r| (r, r / reps, 1.0)).collect();
    let mut x = vec![1.0; n];
    x.extend((0..n).map(|r| ((r * 37) % 13) as f64 / 13.0 - 0.5));
    let site = RandomBlock {
        names: (0..sites).map(|k| format!("s{k}")).collect(),
        z: Csr::from_triplets(n, sites, &zs).unwrap(),
    };
    let brood = RandomBlock {
        names: (0..sites * per_site).map(|k| format!("b{k}")).collect(),
        z: Csr::from_triplets(n, sites * per_site, &zb).unwrap(),
    };
    let mut full = ModelSpec {
        y: vec![0.0; n],
        trials: None,
        x,
        x_names: vec!["(Intercept)".into(), "x".into()],
        random: vec![site, brood],
        varcomps_equal: None,
        varcomps_names: vec!["S".into(), "B".into()],
        family: Family::Bernoulli,
        weights: None,
    };
    full.y = mcla::simulate_response(&full, &[0.3, 0.8], &[0.5, 0.0], seed)
        .unwrap()
        .0;
    let mut reduced = full.clone();
    reduced.random.truncate(1);
    reduced.varcomps_names.truncate(1);
    (full, reduced)
}

#[test]
fn a_variance_on_the_boundary_is_held_and_the_rest_reach_the_boundary_mle() {
    let mut on_boundary = 0;
    for seed in 1..=12 {
        let (full, reduced) = sites_and_broods(seed);
        let f = fit(&Model::new(full).unwrap(), &FitOptions::default()).unwrap();
        if f.theta[3] >= 1e-4 {
            continue;
        }
        on_boundary += 1;
        let r = fit(&Model::new(reduced).unwrap(), &FitOptions::default()).unwrap();
        assert!(
            f.converged,
            "seed {seed}: not converged ({}): {:?}",
            f.stop_reason, f.warnings
        );
        assert!(
            !f.warnings.iter().any(|w| w.contains("not at a maximum")),
            "seed {seed}: {:?}",
            f.warnings
        );
        // every block is integrated exactly: the two likelihoods are the same function at B = 0
        assert!(
            (f.loglik - r.loglik).abs() < 1e-6,
            "seed {seed}: loglik {} with B held at {:e}, {} without broods",
            f.loglik,
            f.theta[3],
            r.loglik
        );
        for j in 0..3 {
            assert!(
                (f.theta[j] - r.theta[j]).abs() < 1e-4 * (1.0 + r.se[j]),
                "seed {seed}: parameter {j} {} vs {} without broods",
                f.theta[j],
                r.theta[j]
            );
        }
    }
    assert!(
        on_boundary >= 2,
        "only {on_boundary} of 12 data sets put the brood variance on the boundary"
    );
}
