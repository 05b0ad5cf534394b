//! A variance on the boundary leaves the other parameters' inference intact (issue 18.4), and
//! automatic m announces a stage that will take long (issue 16.5), through the library API.

mod common;

use mcla::infer::glm::{fit_glm, GlmSpec};
use mcla::infer::wald::Hypothesis;
use mcla::model::design::load_model;
use mcla::{fit, fit_with_progress, AutoM, DataRequest, Family, FitOptions, ModelInput, Progress};
use mcla_formula::{DataFrame, FrameOptions};

/// murder (../shared/data/README.md: poisson, `y ~ race`, random `~ 0 + black`, `~ 0 + white`,
/// "variance components are ~0 at the MLE"), read as the CLI reads it.
fn murder() -> Option<(mcla_formula::Design, mcla::Model)> {
    let path = common::shared_file("data/murder.csv")?;
    let opts = FrameOptions {
        quoted_as_categorical: true,
        ..Default::default()
    };
    let frame = DataFrame::from_csv_path(path, &opts).expect("murder.csv");
    let request = DataRequest {
        fixed: "y ~ race".into(),
        random: vec!["~ 0 + black".into(), "~ 0 + white".into()],
        weights: None,
        input: ModelInput {
            family: Family::Poisson,
            varcomps_names: vec!["black".into(), "white".into()],
            varcomps_equal: None,
        },
    };
    Some(load_model(&frame, &request).expect("murder model"))
}

/// Every SE used to be Inf (the Hessian is singular in the boundary variances' directions) and
/// every p-value 1.  With both variances at 0 the model is the Poisson GLM `y ~ race`, so the
/// fixed effects' SEs must be the GLM's (R: `summary(glm(y ~ race, poisson, murder))` gives
/// SE(Intercept) 0.064, issue 18; here the engine's IRLS computes them from the same design).
#[test]
fn a_boundary_variance_leaves_the_fixed_effect_ses_at_the_glm_values() {
    let Some((design, model)) = murder() else {
        return;
    };
    let f = fit(
        &model,
        &FitOptions {
            m: 500,
            threads: Some(1),
            ..FitOptions::default()
        },
    )
    .expect("fit");
    assert!(f.converged, "{:?}", f.warnings);
    assert!(
        f.varcomps()
            .iter()
            .all(|&nu| nu < mcla::fit::BOUNDARY_VARIANCE),
        "{:?}",
        f.varcomps()
    );
    let glm = fit_glm(&GlmSpec {
        y: design.y.clone(),
        trials: None,
        x: design.x.clone(),
        x_names: design.x_names.clone(),
        weights: None,
        family: Family::Poisson,
    })
    .expect("glm");
    for j in 0..f.p {
        common::assert_close(&f.parameter_names[j], f.theta[j], glm.beta[j], 1e-3, 1e-4);
        common::assert_close(
            &format!("SE {}", f.parameter_names[j]),
            f.se[j],
            glm.se[j],
            1e-3,
            0.0,
        );
        assert!(f.mcse[j].is_finite());
    }
    assert!(
        (glm.se[0] - 0.064).abs() < 0.0005,
        "GLM SE(Intercept) {}",
        glm.se[0]
    );
    for row in f.fixed_table() {
        assert!(row.p_value.is_finite() && row.p_value < 1e-3, "{row:?}");
    }
    // the boundary variances: not available, with the note
    let d = f.dim();
    for j in f.p..d {
        assert!(
            f.se[j].is_nan() && f.mcse[j].is_nan(),
            "{}: se {} mcse {}",
            f.parameter_names[j],
            f.se[j],
            f.mcse[j]
        );
        assert!((0..d).all(|c| f.vcov[j * d + c].is_nan() && f.vcov[c * d + j].is_nan()));
    }
    assert!(
        f.warnings
            .iter()
            .any(|w| w.contains("black") && w.contains("not available (NA)")),
        "{:?}",
        f.warnings
    );
    // a Wald test of the fixed effects works; one of a boundary variance says why it cannot
    let h = |text: &str| Hypothesis::parse(text, &f.parameter_names).expect("hypothesis");
    let t = f
        .wald(&h("raceWhite = 0"))
        .expect("a test of a fixed effect");
    assert!(t.rows[0].std_error.is_finite());
    let e = f
        .wald(&h("black = 0"))
        .expect_err("no Wald test of a boundary variance");
    assert!(e.to_string().contains("boundary"), "{e}");
}

/// Automatic m at a target that m = 256 misses by far: the next stage goes to the maximum,
/// and the fit says so while it runs (a `Progress::LongStage` event) and in its warnings.
#[test]
fn automatic_m_announces_a_stage_that_jumps_to_its_maximum() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let model = common::reference_model(&shared, "salamander");
    let options = FitOptions {
        auto_m: Some(AutoM {
            // whole Sobol' prefixes (16 replicates x 2^j), as the default draws need
            start: 256,
            max: 1024,
            mcse_ratio: 1e-4,
            loglik_mcse: 0.01,
            ..AutoM::default()
        }),
        threads: Some(1),
        ..FitOptions::default()
    };
    let mut announced = Vec::new();
    let f = fit_with_progress(&model, &options, &mut |p| {
        if let Progress::LongStage(w) = p {
            announced.push(w);
        }
    })
    .expect("fit");
    assert_eq!(announced.len(), 1, "{announced:?}");
    let w = &announced[0];
    assert!(
        w.contains("at m = 256") && w.contains("m = 1024 (its maximum)"),
        "{w}"
    );
    assert!(w.contains("should take about"), "{w}");
    assert!(f.warnings.contains(w), "{:?}", f.warnings);
    assert_eq!(f.m, 1024);
}
