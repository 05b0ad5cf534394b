//! Nested designs (issue 17): blocks whose effects nest are integrated exactly by nested
//! adaptive Gauss–Hermite quadrature — no draws, MCSE exactly 0 — and agree with the SPEC §12
//! estimator (the separator sampled) at a large m within its MCSE; crossed-plus-nested
//! designs keep the sampled separator with the innermost cells integrated given it, or,
//! with `subtrees`, sample only the items and integrate each subject's tree given them.
#![allow(clippy::needless_range_loop)]

mod common;

use mcla::integrate::BlockMethod;
use mcla::{fit, Csr, Family, Fit, FitOptions, Model, ModelSpec, RandomBlock};

/// `sites` x `broods` x `inds` individuals, `reps` observations per individual; the
/// individuals are a third level of random effects when `individual_effects`.
fn three_level(
    family: Family,
    (sites, broods, inds, reps): (usize, usize, usize, usize),
    individual_effects: bool,
    nu: &[f64],
    seed: u64,
) -> Model {
    let n = sites * broods * inds * reps;
    let (mut zs, mut zb, mut zi) = (vec![], vec![], vec![]);
    for r in 0..n {
        let ind = r / reps;
        let brood = ind / inds;
        zs.push((r, brood / broods, 1.0));
        zb.push((r, brood, 1.0));
        zi.push((r, ind, 1.0));
    }
    let mut x = vec![1.0; n];
    // an observation-level and a site-level covariate
    x.extend((0..n).map(|r| ((r * 37) % 13) as f64 / 13.0 - 0.5));
    x.extend((0..n).map(|r| {
        if (r / (broods * inds * reps)) % 2 == 0 {
            -0.5
        } else {
            0.5
        }
    }));
    let mut random = vec![
        RandomBlock {
            names: (0..sites).map(|k| format!("site{k}")).collect(),
            z: Csr::from_triplets(n, sites, &zs).unwrap(),
        },
        RandomBlock {
            names: (0..sites * broods).map(|k| format!("brood{k}")).collect(),
            z: Csr::from_triplets(n, sites * broods, &zb).unwrap(),
        },
    ];
    let mut names = vec!["site".to_string(), "brood".to_string()];
    if individual_effects {
        random.push(RandomBlock {
            names: (0..sites * broods * inds)
                .map(|k| format!("ind{k}"))
                .collect(),
            z: Csr::from_triplets(n, sites * broods * inds, &zi).unwrap(),
        });
        names.push("ind".into());
    }
    let mut spec = ModelSpec {
        y: vec![0.0; n],
        trials: None,
        x,
        x_names: vec!["(Intercept)".into(), "x".into(), "site_x".into()],
        random,
        varcomps_equal: None,
        varcomps_names: names,
        family,
        weights: None,
    };
    spec.y = mcla::simulate_response(&spec, &[0.4, 0.6, -0.5], nu, seed)
        .unwrap()
        .0;
    Model::new(spec).unwrap()
}

fn fit_with(model: &Model, nested: bool, m: usize, seed: u64) -> Fit {
    fit(
        model,
        &FitOptions {
            m,
            seed,
            nested_quadrature: nested,
            ..FitOptions::default()
        },
    )
    .unwrap()
}

/// Every parameter of `short` within 4 combined MCSEs of `long` (a 16x longer run).
fn assert_within_4_mcse(short: &Fit, long: &Fit) {
    for j in 0..short.theta.len() {
        let tol = 4.0 * (short.mcse[j].powi(2) + long.mcse[j].powi(2)).sqrt();
        assert!(
            (short.theta[j] - long.theta[j]).abs() < tol.max(1e-6),
            "parameter {j}: {} vs 16x longer {} (MCSEs {} {})",
            short.theta[j],
            long.theta[j],
            short.mcse[j],
            long.mcse[j]
        );
    }
}

fn assert_exact(what: &str, f: &Fit) {
    assert!(f.converged, "{what}: not converged: {:?}", f.warnings);
    assert!(
        f.blocks
            .iter()
            .all(|b| b.method == BlockMethod::NestedQuadrature && b.draws == 0),
        "{what}: every block by nested quadrature, no draws"
    );
    assert!(
        f.mcse.iter().all(|&m| m == 0.0),
        "{what}: MCSE {:?}",
        f.mcse
    );
    assert_eq!(f.loglik_mcse, 0.0, "{what}");
    assert!(f.ranef.iter().all(|r| r.mcse == 0.0 && r.sd > 0.0));
}

/// The exact fit against SPEC §12's estimator (site and broods sampled) at `m` draws:
/// estimates within 4 of its MCSEs (plus 1 % of the SE for the rule's own error at K = 10),
/// log-likelihoods within 4 of its log-likelihood MCSE.
fn assert_agrees_with_sampled(what: &str, exact: &Fit, sampled: &Fit) {
    assert!(sampled.blocks.iter().all(|b| b.draws > 0));
    for j in 0..exact.theta.len() {
        let tol = 4.0 * sampled.mcse[j] + 0.01 * exact.se[j];
        assert!(
            (exact.theta[j] - sampled.theta[j]).abs() < tol,
            "{what}: parameter {}: exact {} vs sampled {} (MCSE {}, SE {})",
            exact.parameter_names[j],
            exact.theta[j],
            sampled.theta[j],
            sampled.mcse[j],
            exact.se[j]
        );
    }
    assert!(
        (exact.loglik - sampled.loglik).abs() < 4.0 * sampled.loglik_mcse + 1e-4,
        "{what}: loglik exact {} vs sampled {} (MCSE {})",
        exact.loglik,
        sampled.loglik,
        sampled.loglik_mcse
    );
}

#[test]
fn three_level_poisson_is_exact_and_agrees_with_the_sampled_separator() {
    // 60 sites x 2 broods x 3 individuals, one count each, individuals a random level
    let model = three_level(Family::Poisson, (60, 2, 3, 1), true, &[0.4, 0.4, 0.2], 1);
    let exact = fit_with(&model, true, 10_000, 1);
    assert_exact("poisson 60 x 2 x 3", &exact);
    assert_eq!(exact.blocks.len(), 60);
    assert!(exact.blocks.iter().all(|b| b.q == 1 + 2 + 6));
    let sampled = fit_with(&model, false, 4096, 1);
    assert_agrees_with_sampled("poisson 60 x 2 x 3", &exact, &sampled);
}

#[test]
fn school_class_pupil_bernoulli_is_exact_and_agrees_with_the_sampled_separator() {
    // 40 schools x 5 classes x 10 pupils, school and class random intercepts
    let model = three_level(Family::Bernoulli, (40, 5, 10, 1), false, &[0.5, 0.3], 2);
    let exact = fit_with(&model, true, 10_000, 1);
    assert_exact("bernoulli 40 x 5 x 10", &exact);
    assert_eq!(exact.blocks.len(), 40);
    let sampled = fit_with(&model, false, 4096, 1);
    assert_agrees_with_sampled("bernoulli 40 x 5 x 10", &exact, &sampled);
}

#[test]
fn exact_nested_fits_do_not_depend_on_m_seed_or_threads() {
    let model = three_level(Family::Poisson, (12, 2, 3, 2), true, &[0.4, 0.2, 0.15], 3);
    let a = fit_with(&model, true, 256, 1);
    let b = fit(
        &model,
        &FitOptions {
            m: 4096,
            seed: 99,
            threads: Some(1),
            ..FitOptions::default()
        },
    )
    .unwrap();
    let c = fit(
        &model,
        &FitOptions {
            seed: 5,
            threads: Some(2),
            ..FitOptions::auto()
        },
    )
    .unwrap();
    for other in [&b, &c] {
        assert_eq!(a.theta, other.theta);
        assert_eq!(a.se, other.se);
        assert_eq!(a.loglik, other.loglik);
    }
    assert_exact("auto m", &c);
}

/// `ns` subjects x `ni` items, `reps` bernoulli trials per subject-item cell; random
/// subject, item and cell effects (variances 0.8, 0.4, 0.3).
fn subjects_items_cells(ns: usize, ni: usize, reps: usize) -> Model {
    let n = ns * ni * reps;
    let (mut zs, mut zi, mut zc) = (vec![], vec![], vec![]);
    for r in 0..n {
        let cell = r / reps;
        zs.push((r, cell / ni, 1.0));
        zi.push((r, cell % ni, 1.0));
        zc.push((r, cell, 1.0));
    }
    let mut x = vec![1.0; n];
    x.extend((0..n).map(|r| {
        if (r / reps).is_multiple_of(2) {
            -0.5
        } else {
            0.5
        }
    }));
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
            RandomBlock {
                names: (0..ns * ni).map(|k| format!("C{k}")).collect(),
                z: Csr::from_triplets(n, ns * ni, &zc).unwrap(),
            },
        ],
        varcomps_equal: None,
        varcomps_names: vec!["S".into(), "I".into(), "SI".into()],
        family: Family::Bernoulli,
        weights: None,
    };
    spec.y = mcla::simulate_response(&spec, &[-0.3, 0.6], &[0.8, 0.4, 0.3], 4)
        .unwrap()
        .0;
    Model::new(spec).unwrap()
}

#[test]
fn crossed_plus_nested_cells_are_integrated_given_the_sampled_separator() {
    // 30 subjects x 20 items, 3 trials per cell: by default the cells are integrated (1-D)
    // given the sampled subjects and items
    let (ns, ni) = (30, 20);
    let model = subjects_items_cells(ns, ni, 3);
    let blocks = mcla::Blocks::new(&model, mcla::Sampler::Adaptive);
    assert_eq!(blocks.blocks.len(), 1, "crossed: one block");
    assert!(mcla::integrate::nested::Tree::of(&blocks.blocks[0]).is_none());
    let b = mcla::integrate::adaptive::AdaptiveBlock::new(
        &model,
        &blocks.blocks[0],
        0,
        64,
        1,
        &vec![0.0; model.q()],
        Default::default(),
    )
    .unwrap();
    assert_eq!(b.integrated_size(), ns * ni, "the cells are integrated");
    assert_eq!(
        b.separator_size(),
        ns + ni,
        "subjects and items are sampled"
    );
    let short = fit_with(&model, true, 256, 1);
    let long = fit_with(&model, true, 16 * 256, 2);
    assert!(short.converged && long.converged);
    assert_eq!(short.blocks[0].method, BlockMethod::SampledSeparator);
    assert!(
        short.min_ess_fraction() >= 0.5,
        "ESS {} of the draws",
        short.min_ess_fraction()
    );
    assert_within_4_mcse(&short, &long);
}

/// With `subtrees` (issue 17) only the items are sampled: given them, each subject and its
/// cells form a tree, integrated by the nested recursion (K = 10 per level).  The fit is
/// bit-identical for 1 and 2 threads, its ESS is at least half the draws, its estimates lie
/// within 4 MCSE of a 16x longer run of the default estimator (subjects and items sampled,
/// cells integrated in 1-D: an independent method), its random effects agree with that
/// run's, and its log-likelihood MCSE is below the default estimator's at the same m.
#[test]
fn crossed_plus_nested_subtrees_are_integrated_given_the_sampled_items() {
    let (ns, ni) = (16, 10);
    let model = subjects_items_cells(ns, ni, 3);
    let blocks = mcla::Blocks::new(&model, mcla::Sampler::Adaptive);
    let b = mcla::integrate::adaptive::AdaptiveBlock::new(
        &model,
        &blocks.blocks[0],
        0,
        64,
        1,
        &vec![0.0; model.q()],
        mcla::integrate::adaptive::AdaptiveSettings {
            subtrees: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(b.separator_size(), ni, "the items are sampled");
    assert_eq!(
        b.subtree_count(),
        ns,
        "each subject and its cells: a subtree"
    );
    assert_eq!(b.integrated_size(), ns + ns * ni);
    let run = |m: usize, seed: u64, subtrees: bool, threads: usize| {
        fit(
            &model,
            &FitOptions {
                m,
                seed,
                subtrees,
                threads: Some(threads),
                ..FitOptions::default()
            },
        )
        .unwrap()
    };
    let short = run(256, 1, true, 2);
    let one_thread = run(256, 1, true, 1);
    assert_eq!(short.theta, one_thread.theta);
    assert_eq!(short.se, one_thread.se);
    assert_eq!(short.loglik, one_thread.loglik);
    assert_eq!(short.mcse, one_thread.mcse);
    let same_m = run(256, 1, false, 2);
    let long = run(16 * 256, 2, false, 2);
    assert!(short.converged && long.converged && same_m.converged);
    assert_eq!(
        short.blocks[0].method,
        BlockMethod::SampledSeparatorSubtrees
    );
    assert_eq!(long.blocks[0].method, BlockMethod::SampledSeparator);
    let info = mcla::output::report::ReportInfo::new("test", model.n());
    let text = mcla::output::report::text_report(&short, &info);
    assert!(
        text.contains("in 1 sampled block the parts that nest given the sampled effects"),
        "{text}"
    );
    let j = mcla::output::report::json_report(&short, &info);
    assert_eq!(j["block_sizes"][0]["method"], "sampled_separator_subtrees");
    assert_eq!(j["block_sizes"][0]["method"], short.blocks[0].method.name());
    assert!(
        short.min_ess_fraction() >= 0.5,
        "ESS {} of the draws",
        short.min_ess_fraction()
    );
    assert_within_4_mcse(&short, &long);
    assert!(
        short.loglik_mcse < same_m.loglik_mcse,
        "log-likelihood MCSE {} with subtrees, {} without",
        short.loglik_mcse,
        same_m.loglik_mcse
    );
    // conditional means of every effect (subjects and cells from the subtrees' node
    // moments, items from the draws) against the long run's, at nearly the same theta
    assert_eq!(short.ranef.len(), model.q());
    let (mut worst_mean, mut worst_sd) = ([0.0f64; 2], [0.0f64; 2]);
    for (a, c) in short.ranef.iter().zip(&long.ranef) {
        assert_eq!(a.level, c.level);
        let k = usize::from(a.component == "I");
        worst_mean[k] = worst_mean[k].max((a.mean - c.mean).abs() / a.sd);
        worst_sd[k] = worst_sd[k].max((a.sd / c.sd - 1.0).abs());
    }
    // integrated (subjects, cells; measured 0.010 SD and 1.5 %) and sampled (items, from
    // 256 draws: 0.026 SD and 4.8 %)
    assert!(
        worst_mean[0] < 0.03 && worst_sd[0] < 0.04,
        "integrated effects: means {} SDs, SDs {} apart",
        worst_mean[0],
        worst_sd[0]
    );
    assert!(
        worst_mean[1] < 0.1 && worst_sd[1] < 0.15,
        "sampled effects: means {} SDs, SDs {} apart",
        worst_mean[1],
        worst_sd[1]
    );
}

#[test]
fn the_report_and_json_name_nested_quadrature() {
    let model = three_level(Family::Poisson, (8, 2, 2, 2), false, &[0.4, 0.2], 5);
    let f = fit_with(&model, true, 256, 1);
    let info = mcla::output::report::ReportInfo::new("test", model.n());
    let text = mcla::output::report::text_report(&f, &info);
    assert!(
        text.contains("Monte Carlo error: none")
            && text.contains("8 of them nested (tree-shaped), integrated level by level, K = 10"),
        "{text}"
    );
    let j = mcla::output::report::json_report(&f, &info);
    assert_eq!(j["block_sizes"][0]["method"], "nested_quadrature");
    assert_eq!(j["quadrature_nodes"], 10);
}
