//! Inference after the fit (issue 8): Wald tests, predictions, random-effect predictions,
//! likelihood-ratio tests with an exact GLM, profile intervals — each checked against an
//! independent computation (hand algebra on vcov, finite differences, quadrature, closed forms).
#![allow(clippy::needless_range_loop)]

mod common;
use common::*;
use mcla::infer::compare::{anova, ModelSummary};
use mcla::infer::glm::{fit_glm, GlmSpec};
use mcla::infer::predict::{Kind, NewData, Scale};
use mcla::infer::profile::{profile_intervals, with_fit_objective, ProfileSettings};
use mcla::infer::ranef::agq_ranef;
use mcla::infer::wald::{chisq_upper, Hypothesis};
use mcla::integrate::quadrature::{agq_loglik, agq_mle};
use mcla::{fit, Fit, FitOptions, Model, ModelSpec};
use statrs::distribution::{ContinuousCDF, Normal};

fn salamander_fit(m: usize) -> Option<(Model, Fit)> {
    let shared = shared_dir()?;
    let model = reference_model(&shared, "salamander");
    let f = fit(
        &model,
        &FitOptions {
            m,
            seed: 1234,
            ..FitOptions::default()
        },
    )
    .unwrap();
    Some((model, f))
}

fn phi(x: f64) -> f64 {
    Normal::standard().cdf(x)
}

/// The talk's test H0: beta_RR = beta_WW, by hand from vcov (Var(a - b) = Var a + Var b - 2 Cov),
/// and the joint 2-df test by hand from the 2 x 2 covariance of the contrasts.
#[test]
fn salamander_wald_test_matches_hand_computation_from_vcov() {
    let Some((_, f)) = salamander_fit(10_000) else {
        return;
    };
    let d = f.dim();
    let v = |a: usize, b: usize| f.vcov[a * d + b];
    let mc = |a: usize, b: usize| f.mcvcov[a * d + b];
    let (rr, rw, wr, ww) = (0, 1, 2, 3);
    let h = Hypothesis::parse("CrossR/R = CrossW/W", &f.parameter_names).unwrap();
    let t = f.wald(&h).unwrap();
    let est = f.theta[rr] - f.theta[ww];
    let var = v(rr, rr) + v(ww, ww) - 2.0 * v(rr, ww);
    let z = est / var.sqrt();
    let p = 2.0 * (1.0 - phi(z.abs()));
    let row = &t.rows[0];
    assert!((row.estimate - est).abs() < 1e-12);
    assert!((row.std_error - var.sqrt()).abs() < 1e-12);
    assert!((row.p_value - p).abs() < 1e-9, "{} vs {p}", row.p_value);
    assert!(
        (t.p_value - p).abs() < 1e-9,
        "one-row chi-square equals the z test"
    );
    let mcse = (mc(rr, rr) + mc(ww, ww) - 2.0 * mc(rr, ww)).sqrt();
    assert!((row.mcse - mcse).abs() < 1e-12);
    assert!(
        p > 0.0 && p <= 1.0,
        "a probability, unlike R glmm's vignette value 1.525"
    );
    println!(
        "H0 RR = WW: est {est:.4} se {:.4} z {z:.4} p {p:.4}",
        var.sqrt()
    );

    // Joint test of RR = WW and RW = WR.
    let j = Hypothesis::parse(
        "CrossR/R - CrossW/W = 0, CrossR/W = CrossW/R",
        &f.parameter_names,
    )
    .unwrap();
    let t2 = f.wald(&j).unwrap();
    let e = [est, f.theta[rw] - f.theta[wr]];
    let c11 = var;
    let c22 = v(rw, rw) + v(wr, wr) - 2.0 * v(rw, wr);
    let c12 = v(rr, rw) - v(rr, wr) - v(ww, rw) + v(ww, wr);
    let det = c11 * c22 - c12 * c12;
    let chisq = (e[0] * e[0] * c22 - 2.0 * e[0] * e[1] * c12 + e[1] * e[1] * c11) / det;
    assert!((t2.chisq - chisq).abs() < 1e-9 * chisq.max(1.0));
    assert_eq!(t2.df, 2);
    // chi-square(2) tail is exp(-x/2)
    assert!((t2.p_value - (-chisq / 2.0).exp()).abs() < 1e-12);
}

/// R glmm's vignette reports `2 * pnorm(stat) = 1.525` for this test: the statistic is
/// qnorm(1.525 / 2) = 0.714, whose two-sided p-value is 2 * pnorm(-0.714) = 0.475 (the issue's
/// "about 0.47").  Our p-value for that statistic, through the same code path as a Fit's test
/// (chi-square(1) tail of z^2), gives that value.
#[test]
fn the_vignettes_statistic_has_two_sided_p_about_047() {
    let stat = Normal::standard().inverse_cdf(1.525 / 2.0);
    assert!((stat - 0.7143).abs() < 1e-3);
    let p = chisq_upper(stat * stat, 1.0);
    assert!((p - 2.0 * phi(-stat)).abs() < 1e-9);
    assert!((p - 0.475).abs() < 1e-3, "{p}");
}

fn cross_rows() -> NewData {
    let mut nd = NewData::default();
    for (k, l) in ["R/R", "R/W", "W/R", "W/W"].iter().enumerate() {
        let mut x = vec![0.0; 4];
        x[k] = 1.0;
        nd.labels.push(l.to_string());
        nd.x.push(x);
        // one female and one male effect, levels unknown (u = 0 for conditional)
        nd.z.push(vec![
            mcla::infer::predict::NewEffect {
                component: 0,
                value: 1.0,
                effect: None,
            },
            mcla::infer::predict::NewEffect {
                component: 1,
                value: 1.0,
                effect: None,
            },
        ]);
    }
    nd
}

/// Conditional probabilities at u = 0 are plogis(beta) — the talk's table 0.736 / 0.584 /
/// 0.126 / 0.730 at the talk's estimates — marginal ones are closer to 1/2, and both standard
/// errors equal finite-difference delta-method values.
#[test]
fn salamander_predictions_are_plogis_beta_and_delta_method_ses_match_finite_differences() {
    let Some((_, f)) = salamander_fit(10_000) else {
        return;
    };
    let nd = cross_rows();
    // the talk's estimates (glmm-talk.txt, m = 10^6)
    let mut talk = f.clone();
    talk.theta[..4].copy_from_slice(&[1.0253, 0.3375, -1.9392, 0.9961]);
    let p = talk
        .predict(&nd, Scale::Response, Kind::Conditional)
        .unwrap();
    for (row, want) in p.iter().zip([0.736, 0.584, 0.126, 0.730]) {
        assert!(
            (row.estimate - want).abs() < 5e-4,
            "{} {}",
            row.label,
            row.estimate
        );
    }
    let cond = f.predict(&nd, Scale::Response, Kind::Conditional).unwrap();
    let marg = f.predict(&nd, Scale::Response, Kind::Marginal).unwrap();
    let d = f.dim();
    for k in 0..4 {
        let plogis = 1.0 / (1.0 + (-f.theta[k]).exp());
        assert!((cond[k].estimate - plogis).abs() < 1e-14);
        assert!(
            (marg[k].estimate - 0.5).abs() < (cond[k].estimate - 0.5).abs(),
            "marginal {} is closer to 1/2 than conditional {}",
            marg[k].estimate,
            cond[k].estimate
        );
        assert!(cond[k].conf_low < cond[k].estimate && cond[k].estimate < cond[k].conf_high);
        // finite-difference delta method: g = d mu / d theta, se = sqrt(g' V g)
        for (kind, got) in [(Kind::Conditional, &cond[k]), (Kind::Marginal, &marg[k])] {
            let mut g = vec![0.0; d];
            for j in 0..d {
                let h = 1e-5;
                let mut a = f.clone();
                a.theta[j] += h;
                let mut b = f.clone();
                b.theta[j] -= h;
                let pa = a.predict(&nd, Scale::Response, kind).unwrap()[k].estimate;
                let pb = b.predict(&nd, Scale::Response, kind).unwrap()[k].estimate;
                g[j] = (pa - pb) / (2.0 * h);
            }
            let mut var = 0.0;
            for r in 0..d {
                for c in 0..d {
                    var += g[r] * f.vcov[r * d + c] * g[c];
                }
            }
            let se = var.sqrt();
            assert!(
                (got.std_error - se).abs() < 1e-6 * se.max(1e-3),
                "{kind:?} {}: se {} vs finite differences {se}",
                got.label,
                got.std_error
            );
        }
    }
    // marginal at nu: a Monte Carlo check of the Gauss-Hermite integral
    let nu = f.varcomps()[0] + f.varcomps()[1];
    let n = 400_000;
    let mut s = 0.0;
    for i in 0..n {
        let zq = Normal::standard().inverse_cdf((i as f64 + 0.5) / n as f64);
        s += 1.0 / (1.0 + (-(f.theta[0] + nu.sqrt() * zq)).exp());
    }
    assert!((marg[0].estimate - s / n as f64).abs() < 1e-5);
}

/// E[u | y] and SD[u | y] agree with adaptive Gauss-Hermite quadrature at the same theta
/// (BoothHobert: one factor, one-dimensional blocks): exactly (MCSE 0, to the 10-node rule's
/// error) with the default adaptive estimator, and within 4 reported MCSE from the factorised
/// sampler's importance weights.
#[test]
fn booth_hobert_ranef_matches_quadrature() {
    let Some(shared) = shared_dir() else { return };
    let model = reference_model(&shared, "BoothHobert");
    for (sampler, m) in [
        (mcla::Sampler::Adaptive, 1000),
        (mcla::Sampler::Factorised, 100_000),
    ] {
        let f = fit(
            &model,
            &FitOptions {
                m,
                seed: 1234,
                sampler,
                ..FitOptions::default()
            },
        )
        .unwrap();
        let exact = agq_ranef(&model, &f.theta, 40).unwrap();
        assert_eq!(f.ranef.len(), 10);
        assert_eq!(exact.len(), 10);
        for (a, b) in f.ranef.iter().zip(&exact) {
            assert_eq!(a.level, b.level);
            assert_eq!(a.component, "z1");
            let (dm, ds) = ((a.mean - b.mean).abs(), (a.sd - b.sd).abs());
            if sampler == mcla::Sampler::Adaptive {
                assert_eq!(a.mcse, 0.0);
                assert!(dm < 1e-4 && ds < 1e-4, "{}: {dm} {ds}", a.level);
            } else {
                assert!(
                    dm < 4.0 * a.mcse + 1e-12,
                    "{}: {dm} vs mcse {}",
                    a.level,
                    a.mcse
                );
                // no MCSE is reported for the SD; at m = 1e5 it is a few 1e-3
                assert!(ds < 2e-2, "{}: sd differs by {ds}", a.level);
            }
        }
    }
}

fn salamander_without(model_full: &Model, drop_male: bool, shared: &std::path::Path) -> Model {
    let _ = model_full;
    let t = read_csv(&shared.join("data/salamander.csv"));
    let n = t.n;
    let lv = levels(shared, "salamander", "Cross");
    let mut x = vec![0.0; n * 4];
    for (i, c) in t.strings("Cross").iter().enumerate() {
        x[lv.iter().position(|l| l == c).unwrap() * n + i] = 1.0;
    }
    let mut random = vec![indicator_block(
        t.strings("Female"),
        &levels(shared, "salamander", "Female"),
        "Female",
    )];
    let mut names = vec!["F".to_string()];
    if !drop_male {
        random.push(indicator_block(
            t.strings("Male"),
            &levels(shared, "salamander", "Male"),
            "Male",
        ));
        names.push("M".into());
    }
    Model::new(ModelSpec {
        y: t.numeric("Mate"),
        trials: None,
        x,
        x_names: lv.iter().map(|l| format!("Cross{l}")).collect(),
        random,
        varcomps_equal: None,
        varcomps_names: names,
        family: mcla::Family::Bernoulli,
        weights: None,
    })
    .unwrap()
}

/// The LRT for dropping M equals 2 (l_full - l_F) from the two fits, with the Self & Liang
/// boundary p-value (half the chi-square(1) tail); the GLM without random effects is the
/// closed-form logit of each cross's proportion, and its exact log-likelihood.
#[test]
fn salamander_lrt_for_dropping_m_and_glm_against_closed_form() {
    let Some(shared) = shared_dir() else { return };
    let Some((full_model, full)) = salamander_fit(10_000) else {
        return;
    };
    let f_model = salamander_without(&full_model, true, &shared);
    let opts = FitOptions {
        m: 10_000,
        seed: 1234,
        ..FitOptions::default()
    };
    let f_only = fit(&f_model, &opts).unwrap();
    let rows = anova(&[
        ModelSummary::from_fit("full", &full, None),
        ModelSummary::from_fit("F only", &f_only, None),
    ])
    .unwrap();
    assert_eq!(rows[0].label, "F only");
    let lrt = &rows[1];
    let want = 2.0 * (full.loglik - f_only.loglik);
    assert!((lrt.chisq.unwrap() - want).abs() < 1e-12);
    assert_eq!(lrt.df, Some(1));
    assert_eq!(lrt.boundary_components, 1);
    assert!((lrt.p_value.unwrap() - 0.5 * chisq_upper(want, 1.0)).abs() < 1e-15);
    let mcse = 2.0 * (full.loglik_mcse.powi(2) + f_only.loglik_mcse.powi(2)).sqrt();
    assert!((lrt.chisq_mcse.unwrap() - mcse).abs() < 1e-15);
    assert!((lrt.aic - (-2.0 * full.loglik + 12.0)).abs() < 1e-9);
    assert!((lrt.bic - (-2.0 * full.loglik + 6.0 * 360f64.ln())).abs() < 1e-9);

    // GLM: Mate ~ 0 + Cross, closed form
    let t = read_csv(&shared.join("data/salamander.csv"));
    let lv = levels(&shared, "salamander", "Cross");
    let n = t.n;
    let y = t.numeric("Mate");
    let mut x = vec![0.0; n * 4];
    let mut succ = [0.0; 4];
    let mut tot = [0.0; 4];
    for (i, c) in t.strings("Cross").iter().enumerate() {
        let k = lv.iter().position(|l| l == c).unwrap();
        x[k * n + i] = 1.0;
        succ[k] += y[i];
        tot[k] += 1.0;
    }
    let g = fit_glm(&GlmSpec {
        y,
        trials: None,
        x,
        x_names: lv.iter().map(|l| format!("Cross{l}")).collect(),
        weights: None,
        family: mcla::Family::Bernoulli,
    })
    .unwrap();
    let mut ll = 0.0;
    for k in 0..4 {
        let p: f64 = succ[k] / tot[k];
        assert!((g.beta[k] - (p / (1.0 - p)).ln()).abs() < 1e-9);
        // Var(logit p-hat) = 1 / (N p (1 - p))
        assert!((g.se[k] - (1.0 / (tot[k] * p * (1.0 - p))).sqrt()).abs() < 1e-8);
        ll += succ[k] * p.ln() + (tot[k] - succ[k]) * (1.0 - p).ln();
    }
    assert!((g.loglik - ll).abs() < 1e-9);
    assert!(g.converged);
    let rows = anova(&[
        ModelSummary::from_glm("glm", &g, None),
        ModelSummary::from_fit("F only", &f_only, None),
    ])
    .unwrap();
    assert!((rows[1].chisq.unwrap() - 2.0 * (f_only.loglik - ll)).abs() < 1e-9);
    assert_eq!(rows[0].loglik_mcse, 0.0);
}

/// Profile intervals of the MCLA on BoothHobert agree with the profile of the exact
/// likelihood (quadrature) to 0.01; the profile lower limit of nu is positive where Wald's can
/// be far lower.
#[test]
fn booth_hobert_profile_matches_quadrature_profile() {
    let Some(shared) = shared_dir() else { return };
    let model = reference_model(&shared, "BoothHobert");
    let opts = FitOptions {
        m: 100_000,
        seed: 1234,
        ..FitOptions::default()
    };
    let f = fit(&model, &opts).unwrap();
    let settings = ProfileSettings::default();
    let mc = with_fit_objective(&model, &opts, &f, |obj| {
        profile_intervals(
            obj,
            &f.theta,
            &f.se,
            &f.parameter_names,
            1,
            &[0, 1],
            &settings,
        )
    })
    .unwrap();
    // exact: AGQ log-likelihood with central-difference derivatives
    let (theta_hat, _) = agq_mle(&model, &[6.0, 1.7], 25).unwrap();
    let ll = |t: &[f64]| agq_loglik(&model, t, 25).unwrap_or(f64::NEG_INFINITY);
    let mut exact_obj = |t: &[f64]| -> Option<(f64, Vec<f64>, Vec<f64>)> {
        if t[1].is_nan() || t[1] <= 0.0 {
            return None;
        }
        let v = ll(t);
        let h = [1e-4, 1e-4 * t[1].min(1.0)];
        let mut g = vec![0.0; 2];
        let mut hs = vec![0.0; 4];
        for a in 0..2 {
            let mut p = t.to_vec();
            p[a] += h[a];
            let mut m = t.to_vec();
            m[a] -= h[a];
            let (lp, lm) = (ll(&p), ll(&m));
            g[a] = (lp - lm) / (2.0 * h[a]);
            hs[a * 2 + a] = (lp - 2.0 * v + lm) / (h[a] * h[a]);
        }
        let mut pp = t.to_vec();
        pp[0] += h[0];
        pp[1] += h[1];
        let mut pm = t.to_vec();
        pm[0] += h[0];
        pm[1] -= h[1];
        let mut mp = t.to_vec();
        mp[0] -= h[0];
        mp[1] += h[1];
        let mut mm = t.to_vec();
        mm[0] -= h[0];
        mm[1] -= h[1];
        let c = (ll(&pp) - ll(&pm) - ll(&mp) + ll(&mm)) / (4.0 * h[0] * h[1]);
        hs[1] = c;
        hs[2] = c;
        Some((v, g, hs))
    };
    let ex = profile_intervals(
        &mut exact_obj,
        &theta_hat,
        &f.se,
        &f.parameter_names,
        1,
        &[0, 1],
        &settings,
    );
    for (a, b) in mc.iter().zip(&ex) {
        println!(
            "{}: MCLA [{:.4}, {:.4}] exact [{:.4}, {:.4}]",
            a.name, a.lower, a.upper, b.lower, b.upper
        );
        assert!(a.found && b.found);
        assert!((a.lower - b.lower).abs() < 0.01, "{} lower", a.name);
        if a.name == "z1" {
            // nu's upper limit (about 10, six times the estimate) is far from where the
            // importance sample was drawn (at the PQL variance, about 1.7): the fixed-sample MCLA
            // is noisier there.  Measured: 10.28 vs exact 10.07 at m = 10^5, seed 1234.
            assert!(
                (a.upper - b.upper).abs() < 0.05 * b.upper,
                "{} upper",
                a.name
            );
        } else {
            assert!((a.upper - b.upper).abs() < 0.01, "{} upper", a.name);
        }
    }
    let wald = f.confint(0.95, &["z1"]).unwrap()[0].clone();
    println!("nu: Wald [{:.4}, {:.4}]", wald.1, wald.2);
    let nu = &mc[1];
    assert!(nu.lower > 0.0);
    // the profile interval of a variance is skewed to the right, unlike Wald's
    assert!(nu.upper - nu.estimate > nu.estimate - nu.lower);
    assert!(
        nu.lower > wald.1 + 0.1,
        "profile {} vs Wald {}",
        nu.lower,
        wald.1
    );
}

/// Issue 16.4: the fit carries the random effects of its start, u* = A* s* (R glmm's `u.pql`):
/// with PQL they are PQL's predictions, bit for bit, one per random effect in model order; with
/// user starting values (no PQL) they are zero.
#[test]
fn the_fit_reports_the_pql_random_effects_of_its_start() {
    let Some(shared) = shared_dir() else { return };
    let model = reference_model(&shared, "BoothHobert");
    let options = FitOptions {
        m: 500,
        threads: Some(1),
        ..FitOptions::default()
    };
    let f = fit(&model, &options).unwrap();
    // the SPEC §12 fit starts from PQL to PqlTolerance::START
    let pql = mcla::pql_to(&model, mcla::PqlTolerance::START).unwrap();
    assert_eq!(f.start_u.len(), model.q());
    assert_eq!(f.start_u, pql.u_star);
    assert!(f.start_u.iter().any(|&u| u != 0.0));
    let from_init = fit(
        &model,
        &FitOptions {
            par_init: Some(f.theta.clone()),
            ..options
        },
    )
    .unwrap();
    assert!(from_init.start_u.iter().all(|&u| u == 0.0));
}
