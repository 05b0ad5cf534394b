//! Every bad input gets a typed error naming the problem (no panic, nothing
//! silently dropped); non-convergence and a singular Hessian are flagged in the
//! result, as R glmm does.
#![allow(clippy::needless_range_loop)]

use mcla::{fit, Csr, Family, FitOptions, Model, ModelError, ModelSpec, OptionsError, RandomBlock};

fn base() -> ModelSpec {
    // 6 observations, intercept + x, one factor with 3 levels
    let trip: Vec<_> = (0..6).map(|i| (i, i / 2, 1.0)).collect();
    ModelSpec {
        y: vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        trials: None,
        x: vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.5, -0.3, 0.2, 0.9, -1.0],
        x_names: vec!["(Intercept)".into(), "x".into()],
        random: vec![RandomBlock {
            names: vec!["g1".into(), "g2".into(), "g3".into()],
            z: Csr::from_triplets(6, 3, &trip).unwrap(),
        }],
        varcomps_equal: None,
        varcomps_names: vec!["g".into()],
        family: Family::Bernoulli,
        weights: None,
    }
}

fn err(spec: ModelSpec) -> ModelError {
    match Model::new(spec) {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.len() > 20, "message too terse: {msg}");
            e
        }
    }
}

#[test]
fn response_not_binary_for_bernoulli() {
    let mut s = base();
    s.y[2] = 2.0;
    assert!(matches!(err(s), ModelError::NotBinary { row: 3, .. }));
}

#[test]
fn negative_or_fractional_counts() {
    let mut s = base();
    s.family = Family::Poisson;
    s.y[0] = -1.0;
    assert!(matches!(
        err(s.clone()),
        ModelError::NotCount { row: 1, .. }
    ));
    s.y[0] = 1.5;
    let e = err(s);
    assert!(e.to_string().contains("non-negative integer"), "{e}");
}

#[test]
fn successes_exceed_trials() {
    let mut s = base();
    s.family = Family::Binomial;
    s.trials = Some(vec![3.0; 6]);
    s.y[4] = 4.0;
    assert!(matches!(
        err(s.clone()),
        ModelError::SuccessesExceedTrials { row: 5, .. }
    ));
    s.y[4] = 1.0;
    s.trials.as_mut().unwrap()[1] = 0.0;
    assert!(matches!(err(s), ModelError::BadTrials { row: 2, .. }));
}

#[test]
fn non_finite_values_anywhere() {
    let mut s = base();
    s.y[1] = f64::NAN;
    assert!(matches!(err(s), ModelError::NonFinite { row: 2, .. }));
    let mut s = base();
    s.x[7] = f64::INFINITY;
    let e = err(s);
    assert!(
        matches!(e, ModelError::NonFinite { row: 2, .. }) && e.to_string().contains("'x'"),
        "{e}"
    );
    let mut s = base();
    s.random[0].z.values[3] = f64::NAN;
    assert!(matches!(err(s), ModelError::NonFinite { row: 4, .. }));
    let mut s = base();
    s.weights = Some(vec![1.0, 1.0, f64::NAN, 1.0, 1.0, 1.0]);
    assert!(matches!(err(s), ModelError::NonFinite { row: 3, .. }));
}

#[test]
fn bad_weights() {
    let mut s = base();
    s.weights = Some(vec![1.0, -0.5, 1.0, 1.0, 1.0, 1.0]);
    assert!(matches!(
        err(s.clone()),
        ModelError::NegativeWeight { row: 2, .. }
    ));
    s.weights = Some(vec![1.0; 5]);
    assert!(matches!(
        err(s.clone()),
        ModelError::WeightsLength { got: 5, n: 6 }
    ));
    s.weights = Some(vec![0.0; 6]);
    assert!(matches!(err(s), ModelError::AllWeightsZero));
}

#[test]
fn x_and_z_row_counts_differ() {
    let mut s = base();
    s.random[0].z = Csr::from_triplets(5, 3, &[(0, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0)]).unwrap();
    assert!(matches!(
        err(s),
        ModelError::RowMismatch {
            block: 1,
            rows: 5,
            n: 6
        }
    ));
    let mut s = base();
    s.x.pop();
    assert!(matches!(err(s), ModelError::XShape { .. }));
}

#[test]
fn varcomps_names_and_equal() {
    let mut s = base();
    s.varcomps_names = vec!["a".into(), "b".into()];
    let e = err(s);
    assert!(
        matches!(
            e,
            ModelError::VarcompsNames {
                names: 2,
                components: 1,
                ..
            }
        ),
        "{e}"
    );
    // two blocks sharing one component need one name
    let mut s = base();
    s.random.push(s.random[0].clone());
    s.random[1].names = vec!["h1".into(), "h2".into(), "h3".into()];
    s.varcomps_equal = Some(vec![1, 1]);
    assert!(Model::new(s.clone()).is_ok());
    s.varcomps_equal = Some(vec![2, 2]);
    assert!(matches!(
        err(s.clone()),
        ModelError::VarcompsEqualNumbering { .. }
    ));
    s.varcomps_equal = Some(vec![1, 3]);
    assert!(matches!(
        err(s.clone()),
        ModelError::VarcompsEqualNumbering { .. }
    ));
    s.varcomps_equal = Some(vec![1]);
    assert!(matches!(
        err(s.clone()),
        ModelError::VarcompsEqualLength { got: 1, blocks: 2 }
    ));
    s.varcomps_equal = Some(vec![1, 2]);
    s.varcomps_names = vec!["g".into(), "g".into()];
    assert!(matches!(err(s), ModelError::DuplicateVarcompName { .. }));
}

#[test]
fn rank_deficient_x_names_the_aliased_column() {
    let mut s = base();
    s.x.extend([2.0; 6]); // 2 * intercept
    s.x_names.push("twice".into());
    match err(s) {
        ModelError::RankDeficient { aliased } => assert_eq!(aliased, vec!["twice".to_string()]),
        e => panic!("{e}"),
    }
}

#[test]
fn random_effect_level_without_observations() {
    let mut s = base();
    s.random[0] = RandomBlock {
        names: vec!["g1".into(), "g2".into(), "g3".into(), "g4".into()],
        z: Csr::from_triplets(6, 4, &(0..6).map(|i| (i, i / 2, 1.0)).collect::<Vec<_>>()).unwrap(),
    };
    let e = err(s);
    assert!(
        matches!(&e, ModelError::EmptyRandomEffect { name } if name == "g4"),
        "{e}"
    );
}

#[test]
fn options_are_checked() {
    let model = Model::new(base()).unwrap();
    let check = |o: FitOptions| o.check(&model).expect_err("expected an options error");
    assert_eq!(
        check(FitOptions {
            m: 0,
            ..FitOptions::default()
        }),
        OptionsError::ZeroM
    );
    assert!(matches!(
        check(FitOptions {
            mixture: [0.5, 0.5, 0.5],
            ..FitOptions::default()
        }),
        OptionsError::MixtureNotProbabilities { .. }
    ));
    assert_eq!(
        check(FitOptions {
            mixture: [0.0, 0.5, 0.5],
            ..FitOptions::default()
        }),
        OptionsError::MixtureP1Zero
    );
    assert_eq!(
        check(FitOptions {
            draws: mcla::integrate::standard_draws::DrawScheme::Sobol { replicates: 1 },
            ..FitOptions::default()
        }),
        OptionsError::Replicates(1)
    );
    assert!(matches!(
        check(FitOptions {
            zeta: 0.0,
            ..FitOptions::default()
        }),
        OptionsError::Zeta(_)
    ));
    assert!(matches!(
        check(FitOptions {
            zeta: f64::NAN,
            ..FitOptions::default()
        }),
        OptionsError::Zeta(_)
    ));
    assert!(matches!(
        check(FitOptions {
            par_init: Some(vec![0.0, 1.0]),
            ..FitOptions::default()
        }),
        OptionsError::ParInitLength {
            got: 2,
            expected: 3,
            ..
        }
    ));
    assert!(matches!(
        check(FitOptions {
            par_init: Some(vec![0.0, 1.0, 0.0]),
            ..FitOptions::default()
        }),
        OptionsError::ParInitVariance { .. }
    ));
    assert!(matches!(
        check(FitOptions {
            par_init: Some(vec![f64::NAN, 1.0, 1.0]),
            ..FitOptions::default()
        }),
        OptionsError::ParInitNonFinite { .. }
    ));
    assert_eq!(
        check(FitOptions {
            threads: Some(0),
            ..FitOptions::default()
        }),
        OptionsError::ZeroThreads
    );
    assert!(matches!(
        check(FitOptions {
            rmax: 1.0,
            rinit: 10.0,
            ..FitOptions::default()
        }),
        OptionsError::Radius { .. }
    ));
    assert_eq!(
        check(FitOptions {
            iterlim: 0,
            ..FitOptions::default()
        }),
        OptionsError::Iterlim
    );
    // fit() reports the same errors instead of panicking
    assert!(fit(
        &model,
        &FitOptions {
            m: 0,
            ..FitOptions::default()
        }
    )
    .is_err());
}

#[test]
fn non_convergence_is_flagged_not_an_error() {
    let model = Model::new(base()).unwrap();
    let f = fit(
        &model,
        &FitOptions {
            m: 500,
            iterlim: 1,
            threads: Some(1),
            ..FitOptions::default()
        },
    )
    .unwrap();
    assert!(!f.converged);
    assert!(
        f.warnings
            .iter()
            .any(|w| w.contains("did NOT converge") && w.contains("--par-init")),
        "{:?}",
        f.warnings
    );
}

#[test]
fn singular_hessian_gives_infinite_se_and_a_warning() {
    let model = Model::new(base()).unwrap();
    let opts = FitOptions {
        m: 200,
        threads: Some(1),
        ..FitOptions::default()
    };
    let checked = opts.check(&model).unwrap();
    let st = mcla::start(&model, &checked).unwrap();
    let blocks = mcla::Blocks::new(&model, opts.sampler);
    let sample = mcla::ImportanceSample::draw(
        &model,
        &blocks,
        &st.centre,
        opts.m,
        1,
        opts.mixture,
        opts.zeta,
        false,
    )
    .unwrap();
    let mcla = mcla::Mcla::new(&model, &blocks, &sample);
    let mut ev = mcla.evaluate(&st.theta).unwrap();
    // make the Hessian indefinite
    ev.hessian[0] = 5.0;
    let opt = mcla::Optimum {
        theta: st.theta.clone(),
        evaluation: ev,
        converged: true,
        stop: mcla_trust::StopReason::ValueChange,
        iterations: 1,
        path: vec![],
        evaluations: 1,
        model_hessians: 0,
        stages: vec![],
    };
    let f = mcla::fit::assemble(&model, &blocks, opt, &opts, 1, &st);
    // infinite SEs; a variance on the boundary (this start's may be) has none at all (NaN)
    for j in 0..f.dim() {
        if j >= f.p && f.theta[j] < mcla::fit::BOUNDARY_VARIANCE {
            assert!(f.se[j].is_nan(), "{}: {}", f.parameter_names[j], f.se[j]);
        } else {
            assert!(
                f.se[j].is_infinite(),
                "{}: {}",
                f.parameter_names[j],
                f.se[j]
            );
        }
    }
    assert!(
        f.warnings
            .iter()
            .any(|w| w.contains("not negative definite")),
        "{:?}",
        f.warnings
    );
}

#[test]
fn fit_rejects_a_non_positive_variance_start() {
    let model = Model::new(base()).unwrap();
    let e = fit(
        &model,
        &FitOptions {
            par_init: Some(vec![0.0, 0.0, -1.0]),
            ..FitOptions::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("variances must be > 0"), "{e}");
}

#[test]
fn a_variance_on_the_boundary_is_flagged() {
    // the random effect has no signal: its variance estimate goes to ~0
    let n = 60;
    let trip: Vec<_> = (0..n).map(|i| (i, i % 6, 1.0)).collect();
    let spec = ModelSpec {
        y: (0..n).map(|i| ((i / 6) % 2) as f64).collect(),
        trials: None,
        x: vec![1.0; n],
        x_names: vec!["(Intercept)".into()],
        random: vec![RandomBlock {
            names: (1..=6).map(|g| format!("g{g}")).collect(),
            z: Csr::from_triplets(n, 6, &trip).unwrap(),
        }],
        varcomps_equal: None,
        varcomps_names: vec!["g".into()],
        family: Family::Bernoulli,
        weights: None,
    };
    let model = Model::new(spec).unwrap();
    let f = fit(
        &model,
        &FitOptions {
            m: 2_000,
            threads: Some(1),
            ..FitOptions::default()
        },
    )
    .unwrap();
    assert!(f.varcomps()[0] < 1e-4, "{:?}", f.varcomps());
    assert!(
        f.warnings.iter().any(|w| w.contains("boundary")),
        "{:?}",
        f.warnings
    );
}

#[test]
fn a_sample_too_large_for_memory_is_an_error_not_a_crash() {
    let model = Model::new(base()).unwrap();
    // 3 effects + 1 component + 1 per draw: 40 bytes per draw; 10^12 draws = 40 TB
    let e = fit(
        &model,
        &FitOptions {
            m: 1_000_000_000_000,
            threads: Some(1),
            sampler: mcla::Sampler::Factorised,
            ..FitOptions::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("--low-memory"), "{e}");
}

#[test]
fn an_adaptive_sample_too_large_for_memory_is_an_error_not_a_crash() {
    // two crossed factors: a separator is sampled, and its per-draw results would need ~1 PB
    let trip_a: Vec<_> = (0..6).map(|i| (i, i / 2, 1.0)).collect();
    let trip_b: Vec<_> = (0..6).map(|i| (i, i % 2, 1.0)).collect();
    let model = Model::new(ModelSpec {
        y: vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        trials: None,
        x: vec![1.0; 6],
        x_names: vec!["(Intercept)".into()],
        random: vec![
            RandomBlock {
                names: vec!["a1".into(), "a2".into(), "a3".into()],
                z: Csr::from_triplets(6, 3, &trip_a).unwrap(),
            },
            RandomBlock {
                names: vec!["b1".into(), "b2".into()],
                z: Csr::from_triplets(6, 2, &trip_b).unwrap(),
            },
        ],
        varcomps_equal: None,
        varcomps_names: vec!["A".into(), "B".into()],
        family: Family::Bernoulli,
        weights: None,
    })
    .unwrap();
    let e = fit(
        &model,
        &FitOptions {
            m: 1_000_000_000_000_000,
            threads: Some(1),
            ..FitOptions::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("smaller m"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Issue 10

#[test]
fn a_constant_response_is_a_model_error() {
    let mut s = base();
    s.y = vec![0.0; 6];
    assert!(matches!(
        err(s.clone()),
        ModelError::ConstantResponse { .. }
    ));
    s.y = vec![1.0; 6];
    assert!(matches!(
        err(s.clone()),
        ModelError::ConstantResponse { .. }
    ));
    // a zero weight takes a row out: the rest is still constant
    let mut s = base();
    s.y = vec![1.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    s.weights = Some(vec![1.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    assert!(matches!(err(s), ModelError::ConstantResponse { .. }));
}

#[test]
fn a_variance_name_equal_to_a_coefficient_name_is_a_model_error() {
    let mut s = base();
    s.varcomps_names = vec!["x".into()];
    assert!(matches!(err(s), ModelError::NameClash { name } if name == "x"));
}

#[test]
fn huge_weights_and_counts_are_model_errors() {
    let mut s = base();
    s.weights = Some(vec![1.0, 1.0, 1e300, 1.0, 1.0, 1.0]);
    assert!(matches!(err(s), ModelError::WeightTooLarge { row: 3, .. }));
    let mut s = base();
    s.family = Family::Poisson;
    s.y[1] = 1e20;
    assert!(matches!(err(s), ModelError::CountTooLarge { row: 2, .. }));
}

#[test]
fn par_init_outside_any_plausible_range_is_refused() {
    let model = Model::new(base()).unwrap();
    let check = |init: Vec<f64>| {
        FitOptions {
            par_init: Some(init),
            ..FitOptions::default()
        }
        .check(&model)
    };
    assert!(matches!(
        check(vec![1e300, 0.0, 1.0]),
        Err(OptionsError::ParInitEta { row: 1, .. })
    ));
    assert!(matches!(
        check(vec![0.0, 0.0, 1e9]),
        Err(OptionsError::ParInitVarianceLarge { .. })
    ));
    assert!(check(vec![0.5, -1.0, 2.0]).is_ok());
}

#[test]
fn an_all_zero_level_is_a_separation_certificate_and_the_fit_says_so() {
    // intercept + indicator of level b; both rows of b are 0
    let n = 12;
    let y: Vec<f64> = (0..n)
        .map(|i| if i % 4 == 3 { 0.0 } else { (i % 2) as f64 })
        .collect();
    let fb: Vec<f64> = (0..n).map(|i| if i % 4 == 3 { 1.0 } else { 0.0 }).collect();
    let mut x = vec![1.0; n];
    x.extend(&fb);
    let trip: Vec<_> = (0..n).map(|i| (i, i % 3, 1.0)).collect();
    let spec = ModelSpec {
        y,
        trials: None,
        x,
        x_names: vec!["(Intercept)".into(), "fb".into()],
        random: vec![RandomBlock {
            names: vec!["g1".into(), "g2".into(), "g3".into()],
            z: Csr::from_triplets(n, 3, &trip).unwrap(),
        }],
        varcomps_equal: None,
        varcomps_names: vec!["g".into()],
        family: Family::Bernoulli,
        weights: None,
    };
    let model = Model::new(spec).unwrap();
    let cert = mcla::fit::diagnostics::separation_certificate(&model);
    assert_eq!(cert.len(), 1);
    assert_eq!((cert[0].name.as_str(), cert[0].direction), ("fb", -1.0));
    let f = fit(
        &model,
        &FitOptions {
            m: 500,
            threads: Some(1),
            ..FitOptions::default()
        },
    )
    .unwrap();
    assert!(!f.converged);
    assert_eq!(f.separation, ["fb"]);
    assert!(f.iterations <= mcla::fit::diagnostics::SEPARATION_ITERLIM);
    assert!(f.warnings[0].contains("does not exist"), "{:?}", f.warnings);
}

#[test]
fn a_stop_away_from_a_stationary_point_is_not_converged() {
    // hand the assembler the start as if the optimiser had stopped there
    let model = Model::new(base()).unwrap();
    let opts = FitOptions {
        m: 200,
        threads: Some(1),
        par_init: Some(vec![2.0, -2.0, 1.0]),
        ..FitOptions::default()
    };
    let checked = opts.check(&model).unwrap();
    let st = mcla::start(&model, &checked).unwrap();
    let blocks = mcla::Blocks::new(&model, opts.sampler);
    let sample = mcla::ImportanceSample::draw(
        &model,
        &blocks,
        &st.centre,
        opts.m,
        1,
        opts.mixture,
        opts.zeta,
        false,
    )
    .unwrap();
    let mcla = mcla::Mcla::new(&model, &blocks, &sample);
    let ev = mcla.evaluate(&st.theta).unwrap();
    let opt = mcla::Optimum {
        theta: st.theta.clone(),
        evaluation: ev,
        converged: true,
        stop: mcla_trust::StopReason::ValueChange,
        iterations: 1,
        path: vec![],
        evaluations: 1,
        model_hessians: 0,
        stages: vec![],
    };
    let f = mcla::fit::assemble(&model, &blocks, opt, &opts, 1, &st);
    assert!(!f.converged);
    assert!(
        f.warnings
            .iter()
            .any(|w| w.contains("but not at a maximum")),
        "{:?}",
        f.warnings
    );
}
