//! Integration tests for the trust-region maximiser and its subproblem.

use std::convert::Infallible;

use mcla_trust::{
    maximize, Evaluation, FnObjective, Iteration, Objective, OptionsError, StepKind, StopReason,
    Subproblem, TrustError, TrustOptions,
};

fn opts(rinit: f64, rmax: f64) -> TrustOptions {
    TrustOptions {
        rinit,
        rmax,
        ..TrustOptions::default()
    }
}

// ---------------------------------------------------------------- objectives

/// f(x) = -(x - a)' A (x - a) / 2 with A = [[3, 1], [1, 2]], a = (1, -2).
fn concave_quadratic(p: &[f64]) -> Option<Evaluation> {
    let a = [[3.0, 1.0], [1.0, 2.0]];
    let d = [p[0] - 1.0, p[1] + 2.0];
    let ad = [
        a[0][0] * d[0] + a[0][1] * d[1],
        a[1][0] * d[0] + a[1][1] * d[1],
    ];
    Some(Evaluation::new(
        -0.5 * (d[0] * ad[0] + d[1] * ad[1]),
        vec![-ad[0], -ad[1]],
        vec![-3.0, -1.0, -1.0, -2.0],
    ))
}

/// Negative Rosenbrock function, maximised at (1, 1).
fn neg_rosenbrock(p: &[f64]) -> Option<Evaluation> {
    let (x, y) = (p[0], p[1]);
    let f = 100.0 * (y - x * x).powi(2) + (1.0 - x).powi(2);
    let gx = -400.0 * x * (y - x * x) - 2.0 * (1.0 - x);
    let gy = 200.0 * (y - x * x);
    let hxx = 1200.0 * x * x - 400.0 * y + 2.0;
    let hxy = -400.0 * x;
    let hyy = 200.0;
    Some(Evaluation::new(
        -f,
        vec![-gx, -gy],
        vec![-hxx, -hxy, -hxy, -hyy],
    ))
}

/// f(x, y) = -(x - 1)^2 + y^2/2 - y^4/4: a saddle along y = 0, maxima at
/// (1, ±1) with value 1/4.
fn quartic_saddle(p: &[f64]) -> Option<Evaluation> {
    let (x, y) = (p[0], p[1]);
    Some(Evaluation::new(
        -(x - 1.0).powi(2) + 0.5 * y * y - 0.25 * y.powi(4),
        vec![-2.0 * (x - 1.0), y - y.powi(3)],
        vec![-2.0, 0.0, 0.0, 1.0 - 3.0 * y * y],
    ))
}

/// Three-dimensional version with a *repeated* negative-curvature
/// eigenvalue at y = z = 0: f = -(x-1)^2 + ρ/2 - ρ²/4, ρ = y² + z².
fn quartic_saddle_3d(p: &[f64]) -> Option<Evaluation> {
    let (x, y, z) = (p[0], p[1], p[2]);
    let rho = y * y + z * z;
    let value = -(x - 1.0).powi(2) + 0.5 * rho - 0.25 * rho * rho;
    // d/dy = y - rho*y ; d2/dy2 = 1 - rho - 2y^2 ; d2/dydz = -2yz
    let grad = vec![-2.0 * (x - 1.0), y * (1.0 - rho), z * (1.0 - rho)];
    let hyy = 1.0 - rho - 2.0 * y * y;
    let hzz = 1.0 - rho - 2.0 * z * z;
    let hyz = -2.0 * y * z;
    let hess = vec![-2.0, 0.0, 0.0, 0.0, hyy, hyz, 0.0, hyz, hzz];
    Some(Evaluation::new(value, grad, hess))
}

const Q: f64 = 10.0;
const S: f64 = 20.0;

/// Variance log-likelihood f(v) = -q/2 log v - S/(2v), maximiser S/q = 2;
/// outside the domain for v <= 0.
fn variance_loglik(p: &[f64]) -> Option<Evaluation> {
    let v = p[0];
    if v <= 0.0 {
        return None;
    }
    Some(Evaluation::new(
        -0.5 * Q * v.ln() - S / (2.0 * v),
        vec![-0.5 * Q / v + S / (2.0 * v * v)],
        vec![0.5 * Q / (v * v) - S / (v * v * v)],
    ))
}

// ---------------------------------------------------------------- solver

#[test]
fn concave_quadratic_one_newton_step() {
    let mut obj = FnObjective(concave_quadratic);
    let res = maximize(&mut obj, &[100.0, 50.0], &opts(1000.0, 1000.0), None).unwrap();
    assert!(res.converged);
    // One Newton step to the maximiser, then one iteration confirming it.
    assert_eq!(res.iterations, 2);
    let first = &res.path[0];
    assert!(first.newton && first.accepted);
    assert_eq!(first.kind, StepKind::Newton);
    assert!((first.x[0] - 1.0).abs() < 1e-12 && (first.x[1] + 2.0).abs() < 1e-12);
    assert!(res.path[1].terminated);
    assert!((res.x[0] - 1.0).abs() < 1e-12, "{:?}", res.x);
    assert!((res.x[1] + 2.0).abs() < 1e-12, "{:?}", res.x);
    assert!(res.evaluation.value.abs() < 1e-20);
}

/// With `newton_decrement`, the iteration stops before evaluating a Newton trial whose predicted
/// increase is below the tolerance: on the quadratic, one evaluation fewer than R's tests (which
/// confirm the maximiser with a second trial), the same point; from the maximiser itself, no
/// iteration at all; and a constrained (non-Newton) step never stops on it.
#[test]
fn newton_decrement_stops_before_the_confirming_trial() {
    let counted = |start: &[f64], options: &TrustOptions| {
        let mut n = 0usize;
        let mut obj = FnObjective(|p: &[f64]| {
            n += 1;
            concave_quadratic(p)
        });
        let res = maximize(&mut obj, start, options, None).unwrap();
        (res, n)
    };
    let r_semantics = opts(1000.0, 1000.0);
    let decrement = TrustOptions {
        newton_decrement: Some(1e-10),
        ..opts(1000.0, 1000.0)
    };
    let (r, nr) = counted(&[100.0, 50.0], &r_semantics);
    let (d, nd) = counted(&[100.0, 50.0], &decrement);
    assert_eq!((nr, nd), (3, 2));
    assert_eq!((r.iterations, d.iterations), (2, 1));
    assert_eq!(d.stop, StopReason::NewtonDecrement);
    assert!(d.converged && (d.x[0] - 1.0).abs() < 1e-12 && (d.x[1] + 2.0).abs() < 1e-12);
    assert_eq!(d.path.len(), 1);
    // already at the maximiser: the start's evaluation only
    let (at, n) = counted(&[1.0, -2.0], &decrement);
    assert_eq!(
        (n, at.iterations, at.stop),
        (1, 0, StopReason::NewtonDecrement)
    );
    // a radius-limited step is not a Newton step: however large the tolerance, the iteration
    // goes on (and stops at the first Newton step)
    let small = TrustOptions {
        newton_decrement: Some(1e300),
        ..opts(0.1, 1000.0)
    };
    let (c, _) = counted(&[100.0, 50.0], &small);
    assert!(c.iterations > 1 && c.path.iter().all(|it| it.kind != StepKind::Newton));
    assert_eq!(c.stop, StopReason::NewtonDecrement);
    // validated as the other tolerances
    let bad = TrustOptions {
        newton_decrement: Some(-1.0),
        ..TrustOptions::default()
    };
    assert!(matches!(
        bad.validate(None),
        Err(OptionsError::InvalidTolerance {
            name: "newton_decrement",
            ..
        })
    ));
}

#[test]
fn concave_quadratic_small_radius_boundary_then_grows() {
    let mut obj = FnObjective(concave_quadratic);
    let res = maximize(&mut obj, &[100.0, 50.0], &opts(0.5, 1000.0), None).unwrap();
    assert!(res.converged);
    // The model is exact, so rho = 1 and the radius doubles while the steps
    // are on the boundary.
    for (k, it) in res.path.iter().take(4).enumerate() {
        assert!(!it.newton, "iteration {k} should be a boundary step");
        assert!(it.accepted);
        assert!((it.step_norm - it.radius).abs() < 1e-10 * it.radius);
        assert!((it.rho - 1.0).abs() < 1e-8, "rho = {}", it.rho);
        assert!((it.radius - 0.5 * 2f64.powi(k as i32)).abs() < 1e-12);
        assert!((it.next_radius - 2.0 * it.radius).abs() < 1e-12);
    }
    assert!(res.path.iter().any(|it| it.newton));
    assert!((res.x[0] - 1.0).abs() < 1e-10 && (res.x[1] + 2.0).abs() < 1e-10);
}

#[test]
fn rosenbrock_from_standard_start() {
    let mut obj = FnObjective(neg_rosenbrock);
    let res = maximize(&mut obj, &[-1.2, 1.0], &opts(1.0, 100.0), None).unwrap();
    assert!(res.converged);
    assert!(res.iterations < 200, "iterations {}", res.iterations);
    assert!((res.x[0] - 1.0).abs() < 1e-6, "{:?}", res.x);
    assert!((res.x[1] - 1.0).abs() < 1e-6, "{:?}", res.x);
    // Accepted steps never decrease the objective.
    let values: Vec<f64> = res.path.iter().map(|it| it.value).collect();
    assert!(values.windows(2).all(|w| w[1] >= w[0]));
}

#[test]
fn rosenbrock_default_options() {
    let mut obj = FnObjective(neg_rosenbrock);
    let res = maximize(&mut obj, &[-1.2, 1.0], &TrustOptions::default(), None).unwrap();
    assert!(res.converged);
    assert!(
        (res.x[0] - 1.0).abs() < 1e-6 && (res.x[1] - 1.0).abs() < 1e-6,
        "{:?}",
        res.x
    );
}

#[test]
fn hard_case_at_start_steps_to_boundary_and_converges() {
    // At (1.5, 0): gradient of f = -value is (1, 0), Hessian diag(2, -1):
    // the gradient is orthogonal to the negative-curvature eigenvector.
    let mut obj = FnObjective(quartic_saddle);
    let start = quartic_saddle(&[1.5, 0.0]).unwrap().value;
    let res = maximize(&mut obj, &[1.5, 0.0], &opts(1.0, 100.0), None).unwrap();
    let first = &res.path[0];
    assert_eq!(first.kind, StepKind::HardHard);
    assert!(!first.newton);
    assert!((first.step_norm - 1.0).abs() < 1e-12);
    assert!((first.lambda - 1.0).abs() < 1e-12);
    assert!(first.accepted && first.value > start);
    // The step is (-1/3, ±sqrt(8/9)).
    assert!((first.trial[0] - (1.5 - 1.0 / 3.0)).abs() < 1e-12);
    assert!((first.trial[1].abs() - (8.0f64 / 9.0).sqrt()).abs() < 1e-12);
    assert!(res.converged);
    assert!((res.x[0] - 1.0).abs() < 1e-6, "{:?}", res.x);
    assert!((res.x[1].abs() - 1.0).abs() < 1e-6, "{:?}", res.x);
    assert!((res.evaluation.value - 0.25).abs() < 1e-12);
}

#[test]
fn hard_easy_case_with_small_radius() {
    // Same start, radius 0.2 < ||B⁺g|| = 1/3: root of the secular equation
    // above -λ_min exists although the gradient is orthogonal to it.
    let mut obj = FnObjective(quartic_saddle);
    let res = maximize(&mut obj, &[1.5, 0.0], &opts(0.2, 100.0), None).unwrap();
    let first = &res.path[0];
    assert_eq!(first.kind, StepKind::HardEasy);
    assert!((first.step_norm - 0.2).abs() < 1e-12);
    assert!(res.converged);
    // Started exactly on the y = 0 saddle line: once the x-gradient vanishes
    // the hard case pushes it off the line, so it still reaches a maximum.
    assert!((res.x[0] - 1.0).abs() < 1e-6, "{:?}", res.x);
    assert!((res.x[1].abs() - 1.0).abs() < 1e-6, "{:?}", res.x);
}

#[test]
fn exact_saddle_point_zero_gradient() {
    // Gradient exactly zero at the saddle (1, 0): only the hard case moves.
    let mut obj = FnObjective(quartic_saddle);
    let res = maximize(&mut obj, &[1.0, 0.0], &opts(0.5, 100.0), None).unwrap();
    assert_eq!(res.path[0].kind, StepKind::HardHard);
    assert!((res.path[0].step_norm - 0.5).abs() < 1e-14);
    assert!(res.path[0].accepted);
    assert!(res.converged);
    assert!((res.x[1].abs() - 1.0).abs() < 1e-6, "{:?}", res.x);
}

#[test]
fn hard_case_repeated_eigenvalue() {
    let mut obj = FnObjective(quartic_saddle_3d);
    let res = maximize(&mut obj, &[1.5, 0.0, 0.0], &opts(1.0, 100.0), None).unwrap();
    assert_eq!(res.path[0].kind, StepKind::HardHard);
    assert!((res.path[0].step_norm - 1.0).abs() < 1e-12);
    assert!(res.converged);
    let rho = res.x[1].hypot(res.x[2]);
    assert!(
        (res.x[0] - 1.0).abs() < 1e-6 && (rho - 1.0).abs() < 1e-6,
        "{:?}",
        res.x
    );
}

#[test]
fn steps_around_minus_infinity_region() {
    // At v = 5 the log-likelihood is convex (f'' = 0.04 > 0) and decreasing,
    // so the first step goes to the boundary at v = 5 - 10 = -5 (outside).
    let mut obj = FnObjective(variance_loglik);
    let res = maximize(&mut obj, &[5.0], &opts(10.0, 1000.0), None).unwrap();
    let first = &res.path[0];
    assert!(first.trial[0] <= 0.0);
    assert!(!first.accepted);
    assert_eq!(first.rho, f64::NEG_INFINITY);
    assert_eq!(first.trial_value, f64::NEG_INFINITY);
    assert_eq!(first.next_radius, 2.5);
    assert_eq!(first.x, vec![5.0]);
    assert!(res.converged);
    assert!((res.x[0] - S / Q).abs() < 1e-8, "{:?}", res.x);
    assert!(res.evaluation.gradient[0].abs() < 1e-8);
}

#[test]
fn neg_infinity_value_and_nan_derivatives_are_rejections() {
    // Variant 1: -inf value instead of None.
    let mut obj1 = FnObjective(|p: &[f64]| {
        variance_loglik(p).or(Some(Evaluation::new(f64::NEG_INFINITY, vec![], vec![])))
    });
    // Variant 2: NaN value, gradient and Hessian outside the domain.
    let mut obj2 = FnObjective(|p: &[f64]| {
        variance_loglik(p).or(Some(Evaluation::new(
            f64::NAN,
            vec![f64::NAN],
            vec![f64::NAN],
        )))
    });
    // Variant 3: finite value but infinite gradient outside the domain.
    let mut obj3 = FnObjective(|p: &[f64]| {
        variance_loglik(p).or(Some(Evaluation::new(1e300, vec![f64::INFINITY], vec![0.0])))
    });
    for res in [
        maximize(&mut obj2, &[5.0], &TrustOptions::default(), None).unwrap(),
        maximize(&mut obj3, &[5.0], &TrustOptions::default(), None).unwrap(),
    ] {
        assert!(!res.path[0].accepted);
        assert_eq!(res.path[0].rho, f64::NEG_INFINITY);
        assert!(res.converged);
        assert!((res.x[0] - 2.0).abs() < 1e-8);
    }
    // Variant 1 returns a wrongly sized gradient together with -inf: that is
    // reported as a dimension error, not silently accepted.
    let err = maximize(&mut obj1, &[5.0], &TrustOptions::default(), None).unwrap_err();
    assert!(matches!(
        err,
        TrustError::Dimension {
            n: 1,
            gradient: 0,
            hessian: 0
        }
    ));
    let mut obj4 = FnObjective(|p: &[f64]| {
        variance_loglik(p).or(Some(Evaluation::new(
            f64::NEG_INFINITY,
            vec![0.0],
            vec![0.0],
        )))
    });
    let res = maximize(&mut obj4, &[5.0], &TrustOptions::default(), None).unwrap();
    assert!(!res.path[0].accepted && res.converged);
    assert!((res.x[0] - 2.0).abs() < 1e-8);
}

#[test]
fn nan_everywhere_but_start_does_not_panic() {
    let mut obj = FnObjective(|p: &[f64]| {
        if p[0] == 3.0 {
            Some(Evaluation::new(1.0, vec![1.0], vec![-1.0]))
        } else {
            Some(Evaluation::new(f64::NAN, vec![f64::NAN], vec![f64::NAN]))
        }
    });
    let res = maximize(&mut obj, &[3.0], &TrustOptions::default(), None).unwrap();
    assert_eq!(res.x, vec![3.0]);
    assert!(res.path.iter().all(|it| !it.accepted));
    // The radius collapses until the predicted change is below mterm.
    assert!(res.radius < 1e-8);
}

#[test]
fn iterlim_reached_is_not_converged() {
    let mut obj = FnObjective(neg_rosenbrock);
    let options = TrustOptions {
        iterlim: 3,
        ..opts(1.0, 10.0)
    };
    let res = maximize(&mut obj, &[-1.2, 1.0], &options, None).unwrap();
    assert!(!res.converged);
    assert_eq!(res.iterations, 3);
    assert_eq!(res.path.len(), 3);
}

#[test]
fn observer_sees_every_iteration() {
    let mut obj = FnObjective(neg_rosenbrock);
    let mut seen: Vec<usize> = Vec::new();
    let mut observer = |it: &Iteration| seen.push(it.iteration);
    let res = maximize(
        &mut obj,
        &[-1.2, 1.0],
        &opts(1.0, 100.0),
        Some(&mut observer),
    )
    .unwrap();
    assert_eq!(seen.len(), res.iterations);
    assert_eq!(seen, (1..=res.iterations).collect::<Vec<_>>());
}

#[test]
fn parscale_bounds_scaled_step() {
    let mut obj = FnObjective(concave_quadratic);
    let scale = vec![10.0, 0.1];
    let options = TrustOptions {
        parscale: Some(scale.clone()),
        ..opts(0.5, 1000.0)
    };
    let res = maximize(&mut obj, &[100.0, 50.0], &options, None).unwrap();
    assert!(res.converged);
    assert!((res.x[0] - 1.0).abs() < 1e-10 && (res.x[1] + 2.0).abs() < 1e-10);
    let first = &res.path[0];
    let scaled = ((first.trial[0] - 100.0) / scale[0]).hypot((first.trial[1] - 50.0) / scale[1]);
    assert!((scaled - 0.5).abs() < 1e-10, "scaled step {scaled}");
    // Plain (unscaled) step would have norm 0.5 too; the scaled one in x is
    // longer in the first coordinate.
    assert!((first.trial[0] - 100.0).abs() > 0.5);
}

#[test]
fn objective_error_is_propagated() {
    struct Failing(usize);
    impl Objective for Failing {
        type Error = String;
        fn evaluate(&mut self, x: &[f64]) -> Result<Option<Evaluation>, String> {
            self.0 += 1;
            if self.0 > 1 {
                return Err("boom".to_string());
            }
            Ok(concave_quadratic(x))
        }
    }
    let err = maximize(&mut Failing(0), &[0.0, 0.0], &TrustOptions::default(), None).unwrap_err();
    assert!(matches!(&err, TrustError::Objective(s) if s == "boom"));
    assert!(err.to_string().contains("boom"));
}

// ---------------------------------------------------------------- start / options errors

#[test]
fn start_errors() {
    let o = TrustOptions::default();
    let mut infeasible = FnObjective(variance_loglik);
    assert!(matches!(
        maximize(&mut infeasible, &[-1.0], &o, None),
        Err(TrustError::InfeasibleStart)
    ));
    let mut neg_inf =
        FnObjective(|_: &[f64]| Some(Evaluation::new(f64::NEG_INFINITY, vec![0.0], vec![0.0])));
    assert!(matches!(
        maximize(&mut neg_inf, &[1.0], &o, None),
        Err(TrustError::InfeasibleStart)
    ));
    let mut nan_hess =
        FnObjective(|_: &[f64]| Some(Evaluation::new(0.0, vec![0.0], vec![f64::NAN])));
    assert!(matches!(
        maximize(&mut nan_hess, &[1.0], &o, None),
        Err(TrustError::NonFiniteStartEvaluation)
    ));
    let mut nan_value =
        FnObjective(|_: &[f64]| Some(Evaluation::new(f64::NAN, vec![0.0], vec![0.0])));
    assert!(matches!(
        maximize(&mut nan_value, &[1.0], &o, None),
        Err(TrustError::NonFiniteStartEvaluation)
    ));
    let mut quad = FnObjective(concave_quadratic);
    assert!(matches!(
        maximize(&mut quad, &[f64::NAN, 0.0], &o, None),
        Err(TrustError::NonFiniteStart)
    ));
    assert!(matches!(
        maximize(&mut quad, &[], &o, None),
        Err(TrustError::EmptyStart)
    ));
    let mut bad_dim = FnObjective(|_: &[f64]| Some(Evaluation::new(0.0, vec![0.0], vec![0.0])));
    assert!(matches!(
        maximize(&mut bad_dim, &[1.0, 2.0], &o, None),
        Err(TrustError::Dimension {
            n: 2,
            gradient: 1,
            hessian: 1
        })
    ));
    let msg = TrustError::<Infallible>::InfeasibleStart.to_string();
    assert!(msg.contains("outside the domain"));
}

#[test]
fn options_validation() {
    let sqrt_eps = f64::EPSILON.sqrt();
    let d = TrustOptions::default();
    assert_eq!((d.rinit, d.rmax, d.iterlim), (10.0, 1000.0, 1000));
    assert_eq!(
        (d.fterm, d.mterm, d.parscale.clone()),
        (sqrt_eps, sqrt_eps, None)
    );
    assert!(d.validate(Some(3)).is_ok());
    assert!(TrustOptions::checked(1.0, 1.0, 1, 0.0, 0.0, Some(vec![1.0, 2.0])).is_ok());

    let e = |r: Result<TrustOptions, OptionsError>| r.unwrap_err();
    assert_eq!(
        e(TrustOptions::checked(0.0, 10.0, 10, 1e-8, 1e-8, None)),
        OptionsError::InvalidRinit(0.0)
    );
    assert!(matches!(
        e(TrustOptions::checked(f64::NAN, 10.0, 10, 1e-8, 1e-8, None)),
        OptionsError::InvalidRinit(_)
    ));
    assert_eq!(
        e(TrustOptions::checked(5.0, 1.0, 10, 1e-8, 1e-8, None)),
        OptionsError::InvalidRmax {
            rmax: 1.0,
            rinit: 5.0
        }
    );
    assert!(matches!(
        e(TrustOptions::checked(
            5.0,
            f64::INFINITY,
            10,
            1e-8,
            1e-8,
            None
        )),
        OptionsError::InvalidRmax { .. }
    ));
    assert_eq!(
        e(TrustOptions::checked(1.0, 10.0, 0, 1e-8, 1e-8, None)),
        OptionsError::ZeroIterlim
    );
    assert!(matches!(
        e(TrustOptions::checked(1.0, 10.0, 5, f64::NAN, 1e-8, None)),
        OptionsError::InvalidTolerance { name: "fterm", .. }
    ));
    assert!(matches!(
        e(TrustOptions::checked(1.0, 10.0, 5, 1e-8, -1.0, None)),
        OptionsError::InvalidTolerance { name: "mterm", .. }
    ));
    assert_eq!(
        e(TrustOptions::checked(
            1.0,
            10.0,
            5,
            1e-8,
            1e-8,
            Some(vec![1.0, 0.0])
        )),
        OptionsError::InvalidParscale {
            index: 1,
            value: 0.0
        }
    );
    assert!(matches!(
        e(TrustOptions::checked(
            1.0,
            10.0,
            5,
            1e-8,
            1e-8,
            Some(vec![f64::INFINITY])
        )),
        OptionsError::InvalidParscale { index: 0, .. }
    ));
    assert!(matches!(
        e(TrustOptions::checked(
            1.0,
            10.0,
            5,
            1e-8,
            1e-8,
            Some(vec![1e-320])
        )),
        OptionsError::InvalidParscale { index: 0, .. }
    ));

    // maximize validates too, including the parscale length.
    let mut quad = FnObjective(concave_quadratic);
    let bad_len = TrustOptions {
        parscale: Some(vec![1.0]),
        ..TrustOptions::default()
    };
    assert!(matches!(
        maximize(&mut quad, &[0.0, 0.0], &bad_len, None),
        Err(TrustError::Options(OptionsError::ParscaleLength {
            expected: 2,
            found: 1
        }))
    ));
    let bad_rinit = TrustOptions {
        rinit: -1.0,
        ..TrustOptions::default()
    };
    assert!(matches!(
        maximize(&mut quad, &[0.0, 0.0], &bad_rinit, None),
        Err(TrustError::Options(OptionsError::InvalidRinit(_)))
    ));
}

// ---------------------------------------------------------------- subproblem

/// Tiny deterministic generator (no external dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64) * 2.0 - 1.0
    }
}

fn matvec(b: &[f64], s: &[f64]) -> Vec<f64> {
    let n = s.len();
    (0..n)
        .map(|i| (0..n).map(|j| b[i * n + j] * s[j]).sum())
        .collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn model(g: &[f64], b: &[f64], s: &[f64]) -> f64 {
    let bs = matvec(b, s);
    s.iter()
        .zip(g)
        .zip(&bs)
        .map(|((si, gi), bi)| si * (gi + 0.5 * bi))
        .sum()
}

/// Check the Moré–Sorensen optimality conditions.
fn check_optimality(g: &[f64], b: &[f64], r: f64) {
    let n = g.len();
    let sp = Subproblem::new(g, b).unwrap();
    let sol = sp.solve(r);
    let e_min = sp.eigenvalues()[0];
    let scale = 1.0 + sp.eigenvalues().iter().fold(0.0f64, |m, v| m.max(v.abs())) + norm(g);
    // lambda >= 0 and B + lambda I PSD
    assert!(sol.lambda >= 0.0);
    assert!(
        e_min + sol.lambda >= -1e-12 * scale,
        "B + λI not PSD: {e_min} + {}",
        sol.lambda
    );
    // (B + λI) s = -g
    let bs = matvec(b, &sol.step);
    let resid: Vec<f64> = (0..n)
        .map(|i| bs[i] + sol.lambda * sol.step[i] + g[i])
        .collect();
    assert!(
        norm(&resid) <= 1e-10 * scale * (1.0 + r),
        "residual {}",
        norm(&resid)
    );
    let s_norm = norm(&sol.step);
    assert!((s_norm - sol.step_norm).abs() <= 1e-12 * (1.0 + s_norm));
    match sol.kind {
        StepKind::Newton => {
            assert_eq!(sol.lambda, 0.0);
            assert!(e_min > 0.0);
            assert!(s_norm <= r * (1.0 + 1e-12));
        }
        _ => assert!((s_norm - r).abs() <= 1e-10 * r, "||s|| = {s_norm}, r = {r}"),
    }
    // Predicted change is the model value, and it is <= 0.
    assert!((sol.predicted - model(g, b, &sol.step)).abs() <= 1e-10 * scale * (1.0 + r * r));
    assert!(sol.predicted <= 1e-12 * scale);
}

#[test]
fn subproblem_random_optimality() {
    let mut rng = Lcg(12345);
    for trial in 0..400 {
        let n = 1 + trial % 6;
        let g: Vec<f64> = (0..n).map(|_| rng.next() * 3.0).collect();
        let mut b = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = rng.next() * 2.0;
                b[i * n + j] = v;
                b[j * n + i] = v;
            }
        }
        // Make a third of them positive definite.
        if trial % 3 == 0 {
            for i in 0..n {
                b[i * n + i] += 2.0 * n as f64;
            }
        }
        for &r in &[1e-6, 0.01, 0.3, 1.0, 5.0, 100.0] {
            check_optimality(&g, &b, r);
        }
    }
}

#[test]
fn subproblem_global_minimum_against_samples() {
    let mut rng = Lcg(777);
    for trial in 0..50 {
        let n = 2 + trial % 3;
        let g: Vec<f64> = (0..n).map(|_| rng.next()).collect();
        let mut b = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = rng.next() * 3.0;
                b[i * n + j] = v;
                b[j * n + i] = v;
            }
        }
        let r = 0.7;
        let sol = Subproblem::new(&g, &b).unwrap().solve(r);
        let best = model(&g, &b, &sol.step);
        for _ in 0..500 {
            let d: Vec<f64> = (0..n).map(|_| rng.next()).collect();
            let scale = r * rng.next().abs().sqrt() / norm(&d);
            let s: Vec<f64> = d.iter().map(|x| x * scale).collect();
            assert!(
                model(&g, &b, &s) >= best - 1e-12,
                "found a better feasible point"
            );
        }
    }
}

#[test]
fn subproblem_hard_case() {
    let g = [1.0, 0.0];
    let b = [2.0, 0.0, 0.0, -1.0];
    let sol = Subproblem::new(&g, &b).unwrap().solve(1.0);
    assert_eq!(sol.kind, StepKind::HardHard);
    assert!((sol.lambda - 1.0).abs() < 1e-14);
    assert!((sol.step[0] + 1.0 / 3.0).abs() < 1e-14);
    assert!((sol.step[1].abs() - (8.0f64 / 9.0).sqrt()).abs() < 1e-14);
    check_optimality(&g, &b, 1.0);
    // Rotated copy (eigenvectors not axis-aligned), repeated eigenvalue.
    let c = std::f64::consts::FRAC_1_SQRT_2;
    // B = Q diag(3, -2, -2) Q' with Q = rotation in the (0,1) plane.
    let b3 = [
        c * c * 3.0 + c * c * -2.0,
        c * c * 3.0 - c * c * -2.0,
        0.0,
        c * c * 3.0 - c * c * -2.0,
        c * c * 3.0 + c * c * -2.0,
        0.0,
        0.0,
        0.0,
        -2.0,
    ];
    let g3 = [c * 0.5, c * 0.5, 0.0]; // along the eigenvalue-3 eigenvector
    let sol = Subproblem::new(&g3, &b3).unwrap().solve(2.0);
    assert_eq!(sol.kind, StepKind::HardHard);
    assert!((sol.lambda - 2.0).abs() < 1e-12);
    check_optimality(&g3, &b3, 2.0);
    // Hard-easy: radius smaller than ||B⁺g|| = 1/3.
    let sol = Subproblem::new(&g, &b).unwrap().solve(0.2);
    assert_eq!(sol.kind, StepKind::HardEasy);
    assert!((sol.lambda - 3.0).abs() < 1e-10);
    check_optimality(&g, &b, 0.2);
}

#[test]
fn subproblem_near_hard_case() {
    let b = [2.0, 0.0, 0.0, -1.0];
    for eps in [1e-4, 1e-8, 1e-12, 1e-15, 1e-150, 1e-200] {
        let g = [1.0, eps];
        let sol = Subproblem::new(&g, &b).unwrap().solve(1.0);
        // eps^2 underflows for 1e-200: then it is (correctly) the hard case.
        if eps * eps > 0.0 {
            assert_eq!(sol.kind, StepKind::EasyEasy, "eps = {eps}");
        } else {
            assert_eq!(sol.kind, StepKind::HardHard);
        }
        check_optimality(&g, &b, 1.0);
    }
}

#[test]
fn subproblem_positive_definite_cases() {
    let b = [4.0, 1.0, 1.0, 3.0];
    let g = [1.0, 2.0];
    // Newton fits.
    let sol = Subproblem::new(&g, &b).unwrap().solve(10.0);
    assert_eq!(sol.kind, StepKind::Newton);
    check_optimality(&g, &b, 10.0);
    // Newton too long: boundary with lambda > 0.
    let sol = Subproblem::new(&g, &b).unwrap().solve(0.1);
    assert_eq!(sol.kind, StepKind::EasyEasy);
    assert!(sol.lambda > 0.0);
    check_optimality(&g, &b, 0.1);
    // Zero gradient: zero Newton step.
    let sol = Subproblem::new(&[0.0, 0.0], &b).unwrap().solve(1.0);
    assert_eq!(sol.kind, StepKind::Newton);
    assert_eq!(sol.step_norm, 0.0);
    assert_eq!(sol.predicted, 0.0);
}

#[test]
fn subproblem_degenerate_inputs_do_not_panic() {
    let b = [1.0, 0.0, 0.0, -1.0];
    let g = [1.0, 1.0];
    let sp = Subproblem::new(&g, &b).unwrap();
    for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let sol = sp.solve(r);
        assert_eq!(sol.step_norm, 0.0);
    }
    // Extremely small radius: steepest-descent limit, still on the boundary.
    let sol = sp.solve(1e-310);
    assert!(sol.step.iter().all(|v| v.is_finite()));
    let sol = sp.solve(1e-300);
    let unscaled: Vec<f64> = sol.step.iter().map(|v| v * 1e300).collect();
    assert!((norm(&unscaled) - 1.0).abs() <= 1e-10, "{:?}", sol.step);
    assert!((sol.step_norm / 1e-300 - 1.0).abs() <= 1e-10);
    // Zero matrix.
    check_optimality(&g, &[0.0; 4], 1.0);
    // Zero gradient, indefinite: hard case.
    let sol = Subproblem::new(&[0.0, 0.0], &b).unwrap().solve(1.0);
    assert_eq!(sol.kind, StepKind::HardHard);
    assert!((sol.step_norm - 1.0).abs() < 1e-15);
    // Errors.
    assert!(matches!(
        Subproblem::new(&[1.0], &[1.0, 2.0]),
        Err(mcla_trust::SubproblemError::Dimension { .. })
    ));
    assert!(matches!(
        Subproblem::new(&[f64::NAN], &[1.0]),
        Err(mcla_trust::SubproblemError::NonFinite)
    ));
    assert!(matches!(
        Subproblem::new(&[1.0], &[f64::INFINITY]),
        Err(mcla_trust::SubproblemError::NonFinite)
    ));
    // Huge entries whose symmetrisation overflows.
    assert!(Subproblem::new(&[1.0, 1.0], &[1.0, f64::MAX, f64::MAX, 1.0]).is_err());
}

#[test]
fn subproblem_rotated_near_hard_stress() {
    let mut rng = Lcg(4242);
    for trial in 0..200 {
        let n = 2 + trial % 5;
        // Random orthogonal Q by Gram–Schmidt (columns).
        let mut q: Vec<Vec<f64>> = Vec::new();
        while q.len() < n {
            let mut v: Vec<f64> = (0..n).map(|_| rng.next()).collect();
            for u in &q {
                let d: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= d * b);
            }
            let nv = norm(&v);
            if nv > 1e-3 {
                q.push(v.iter().map(|a| a / nv).collect());
            }
        }
        // Smallest eigenvalue -1 with multiplicity 1 or 2, others in (0, 3).
        let mult = 1 + trial % 2;
        let e: Vec<f64> = (0..n)
            .map(|i| {
                if i < mult.min(n - 1) {
                    -1.0
                } else {
                    0.5 + 2.5 * rng.next().abs()
                }
            })
            .collect();
        let mut b = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                b[i * n + j] = (0..n).map(|k| q[k][i] * e[k] * q[k][j]).sum();
            }
        }
        let delta = [0.0, 1e-14, 1e-8, 1e-3][trial % 4];
        let gamma: Vec<f64> = (0..n)
            .map(|k| {
                if k < mult.min(n - 1) {
                    delta
                } else {
                    rng.next()
                }
            })
            .collect();
        let g: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|k| q[k][i] * gamma[k]).sum())
            .collect();
        // Critical radius: the step at lambda = -e_min without the null part.
        let c1: f64 = (0..n)
            .filter(|&k| e[k] > -1.0)
            .map(|k| (gamma[k] / (e[k] + 1.0)).powi(2))
            .sum();
        let rc = c1.sqrt();
        for factor in [0.5, 1.0 - 1e-6, 1.0, 1.0 + 1e-6, 2.0] {
            check_optimality(&g, &b, rc * factor);
        }
    }
}

// ---------------------------------------------------------------- refine hook

/// Negative Rosenbrock whose `evaluate` Hessian is a poor model (a scaled identity) and whose
/// `refine` supplies the exact one, counting where it is asked.
struct Refined {
    refined_at: Vec<Vec<f64>>,
    exact: bool,
}

impl Objective for Refined {
    type Error = Infallible;
    fn evaluate(&mut self, x: &[f64]) -> Result<Option<Evaluation>, Infallible> {
        Ok(neg_rosenbrock(x).map(|mut e| {
            e.hessian = vec![-1.0, 0.0, 0.0, -1.0];
            e
        }))
    }
    fn refine(&mut self, x: &[f64], eval: &mut Evaluation) -> Result<(), Infallible> {
        self.refined_at.push(x.to_vec());
        if self.exact {
            eval.hessian = neg_rosenbrock(x).unwrap().hessian;
        }
        Ok(())
    }
}

#[test]
fn refine_replaces_the_model_hessian_at_the_start_and_accepted_points_only() {
    let x0 = [-1.2, 1.0];
    let mut exact = FnObjective(neg_rosenbrock);
    let reference = maximize(&mut exact, &x0, &opts(1.0, 100.0), None).unwrap();
    let mut obj = Refined {
        refined_at: Vec::new(),
        exact: true,
    };
    let res = maximize(&mut obj, &x0, &opts(1.0, 100.0), None).unwrap();
    // the same path as with the exact Hessian from evaluate
    assert_eq!(res.x, reference.x);
    assert_eq!(res.iterations, reference.iterations);
    // asked at the start and at every accepted, non-terminating trial, never at a rejected one
    let accepted: Vec<Vec<f64>> = res
        .path
        .iter()
        .filter(|it| it.accepted && !it.terminated)
        .map(|it| it.x.clone())
        .collect();
    assert_eq!(obj.refined_at[0], x0.to_vec());
    assert_eq!(&obj.refined_at[1..], &accepted[..]);
    // without refinement the poor model costs many more iterations
    let mut poor = Refined {
        refined_at: Vec::new(),
        exact: false,
    };
    let slow = maximize(&mut poor, &x0, &opts(1.0, 100.0), None).unwrap();
    assert!(
        slow.iterations > 2 * res.iterations,
        "{} vs {}",
        slow.iterations,
        res.iterations
    );
}
