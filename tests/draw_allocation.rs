//! Automatic m puts the draws where the Monte Carlo error is (issue 17 §2, Neyman
//! allocation): one large, variable block and fifty tiny ones reach the targets with far
//! fewer draws than giving every block the same m, bit-identically for any thread count.

use mcla::{fit, AutoM, Csr, Family, Fit, FitOptions, Model, ModelSpec, RandomBlock};

/// A sparse crossed bernoulli block (200 subjects x 100 items, 2,000 subject-item pairs
/// observed once: little data per effect, so its importance weights vary) plus fifty tiny 2 x 2
/// crossed blocks (each pair observed once), subject and item random intercepts.
fn one_large_fifty_tiny() -> Model {
    let (ls, li, per_subject, tiny) = (200, 100, 10, 50);
    // every subject with 10 items, every item with 20 subjects, one connected block
    let mut cells: Vec<(usize, usize)> = (0..ls)
        .flat_map(|s| (0..per_subject).map(move |k| (s, (s * 7 + k * 41) % li)))
        .collect();
    for t in 0..tiny {
        for a in 0..2 {
            for b in 0..2 {
                cells.push((ls + 2 * t + a, li + 2 * t + b));
            }
        }
    }
    let (ns, ni) = (ls + 2 * tiny, li + 2 * tiny);
    let n = cells.len();
    let zs: Vec<_> = cells
        .iter()
        .enumerate()
        .map(|(r, c)| (r, c.0, 1.0))
        .collect();
    let zi: Vec<_> = cells
        .iter()
        .enumerate()
        .map(|(r, c)| (r, c.1, 1.0))
        .collect();
    let mut x = vec![1.0; n];
    x.extend(cells.iter().map(|c| if c.1 % 2 == 0 { -0.5 } else { 0.5 }));
    let mut spec = ModelSpec {
        y: vec![0.0; n],
        trials: None,
        x,
        x_names: vec!["(Intercept)".into(), "cond".into()],
        random: vec![
            RandomBlock {
                names: (0..ns).map(|k| format!("S{k}")).collect(),
                z: Csr::from_triplets(n, ns, &zs).unwrap(),
            },
            RandomBlock {
                names: (0..ni).map(|k| format!("I{k}")).collect(),
                z: Csr::from_triplets(n, ni, &zi).unwrap(),
            },
        ],
        varcomps_equal: None,
        varcomps_names: vec!["S".into(), "I".into()],
        family: Family::Bernoulli,
        weights: None,
    };
    spec.y = mcla::simulate_response(&spec, &[-0.2, 0.8], &[1.0, 0.6], 11)
        .unwrap()
        .0;
    Model::new(spec).unwrap()
}

fn auto_fit(model: &Model, allocate: bool, threads: usize) -> Fit {
    fit(
        model,
        &FitOptions {
            auto_m: Some(AutoM {
                mcse_ratio: 0.05,
                loglik_mcse: 0.002,
                allocate,
                ..AutoM::default()
            }),
            seed: 7,
            threads: Some(threads),
            ..FitOptions::default()
        },
    )
    .unwrap()
}

/// Automatic m with the default targets (fewer stages), allocated.
fn quick_fit(model: &Model, threads: usize) -> Fit {
    fit(
        model,
        &FitOptions {
            seed: 3,
            threads: Some(threads),
            ..FitOptions::auto()
        },
    )
    .unwrap()
}

fn total_draws(f: &Fit) -> usize {
    f.blocks.iter().map(|b| b.draws).sum()
}

fn targets_met(f: &Fit) -> bool {
    f.loglik_mcse <= 0.002
        && f.mcse
            .iter()
            .zip(&f.se)
            .all(|(m, s)| !s.is_finite() || *m <= 0.05 * s)
}

#[test]
fn neyman_allocation_meets_the_targets_with_at_least_4x_fewer_draws() {
    let model = one_large_fifty_tiny();
    let equal = auto_fit(&model, false, 2);
    let neyman = auto_fit(&model, true, 2);
    assert_eq!(neyman.blocks.len(), 51);
    for (what, f) in [("equal", &equal), ("neyman", &neyman)] {
        assert!(f.converged, "{what}: {:?}", f.warnings);
        assert!(
            targets_met(f),
            "{what}: loglik MCSE {}, MCSE {:?} SE {:?}",
            f.loglik_mcse,
            f.mcse,
            f.se
        );
    }
    let (te, tn) = (total_draws(&equal), total_draws(&neyman));
    let large = neyman.blocks.iter().map(|b| b.draws).max().unwrap();
    let tiny = neyman.blocks.iter().map(|b| b.draws).min().unwrap();
    eprintln!(
        "equal allocation: {te} draws (m = {}); Neyman: {tn} draws (large block {large}, tiny blocks from {tiny})",
        equal.m
    );
    assert!(te >= 4 * tn, "equal {te} vs Neyman {tn}");
    // the large block gets the draws
    assert_eq!(neyman.blocks[0].draws, large);
    assert!(tiny < large);
    // every block's ESS is still checked: at least the floor
    assert!(neyman.blocks.iter().all(|b| b.draws >= 64));
    // the two agree within their Monte Carlo error
    for j in 0..equal.theta.len() {
        let tol = 4.0 * (equal.mcse[j].powi(2) + neyman.mcse[j].powi(2)).sqrt();
        assert!((equal.theta[j] - neyman.theta[j]).abs() <= tol.max(1e-9));
    }
}

#[test]
fn allocated_fits_are_bit_identical_for_1_2_and_5_threads() {
    let model = one_large_fifty_tiny();
    let a = quick_fit(&model, 1);
    for threads in [2, 5] {
        let b = quick_fit(&model, threads);
        assert_eq!(a.theta, b.theta, "{threads} threads");
        assert_eq!(a.se, b.se);
        assert_eq!(a.mcse, b.mcse);
        assert_eq!(a.loglik, b.loglik);
        let da: Vec<usize> = a.blocks.iter().map(|b| b.draws).collect();
        let db: Vec<usize> = b.blocks.iter().map(|b| b.draws).collect();
        assert_eq!(da, db);
    }
}
