//! The analytic MCLA gradient and Hessian (SPEC §5) agree with central finite
//! differences of the objective, for every family, with and without weights,
//! for the factorised and the joint sampler.
#![allow(clippy::needless_range_loop)]

mod common;
use common::*;
use mcla::{Family, Mcla, Sampler};

fn check(family: Family, sampler: Sampler, weighted: bool) {
    let model = simulated_model(family, 2, 11, weighted);
    let (p, d) = (model.p(), model.n_params());
    let Prepared {
        start,
        blocks,
        sample,
    } = prepare(&model, sampler, 700, 5);
    let mcla = Mcla::new(&model, &blocks, &sample);
    let mut points = vec![start.theta.clone()];
    let mut shifted = start.theta.clone();
    for (j, v) in shifted.iter_mut().enumerate() {
        *v += if j < p {
            0.3 * ((j % 3) as f64 - 1.0)
        } else {
            0.4
        };
    }
    points.push(shifted);
    let mut far = start.theta.clone();
    far[p] *= 0.5;
    far[0] -= 0.5;
    points.push(far);
    for theta in &points {
        let ev = mcla.evaluate(theta).expect("finite");
        let f = |t: &[f64]| mcla.evaluate(t).expect("finite");
        let gscale = ev.gradient.iter().fold(1.0f64, |a, b| a.max(b.abs()));
        let hscale = ev.hessian.iter().fold(1e-3f64, |a, b| a.max(b.abs()));
        for j in 0..d {
            let h = 1e-5 * theta[j].abs().max(1.0);
            let (mut tp, mut tm) = (theta.clone(), theta.clone());
            tp[j] += h;
            tm[j] -= h;
            let (ep, em) = (f(&tp), f(&tm));
            let fd = (ep.value - em.value) / (2.0 * h);
            let err = (fd - ev.gradient[j]).abs() / ev.gradient[j].abs().max(1e-2 * gscale);
            assert!(err < 1e-5, "{family} {sampler:?} weighted={weighted}: gradient[{j}] {} vs FD {fd} (rel err {err:.2e})", ev.gradient[j]);
            for k in 0..d {
                let fdh = (ep.gradient[k] - em.gradient[k]) / (2.0 * h);
                let an = ev.hessian[j * d + k];
                let err = (fdh - an).abs() / an.abs().max(1e-3 * hscale);
                assert!(err < 1e-5, "{family} {sampler:?} weighted={weighted}: hessian[{j},{k}] {an} vs FD {fdh} (rel err {err:.2e})");
            }
        }
    }
}

#[test]
fn bernoulli_factorised() {
    check(Family::Bernoulli, Sampler::Factorised, false);
}
#[test]
fn bernoulli_joint_weighted() {
    check(Family::Bernoulli, Sampler::Joint, true);
}
#[test]
fn binomial_factorised_weighted() {
    check(Family::Binomial, Sampler::Factorised, true);
}
#[test]
fn binomial_joint() {
    check(Family::Binomial, Sampler::Joint, false);
}
#[test]
fn poisson_factorised() {
    check(Family::Poisson, Sampler::Factorised, false);
}
#[test]
fn poisson_joint_weighted() {
    check(Family::Poisson, Sampler::Joint, true);
}

#[test]
fn outside_the_parameter_space_is_rejected() {
    let model = simulated_model(Family::Bernoulli, 1, 3, false);
    let Prepared {
        start,
        blocks,
        sample,
    } = prepare(&model, Sampler::Factorised, 100, 1);
    let mcla = Mcla::new(&model, &blocks, &sample);
    let mut t = start.theta.clone();
    let p = model.p();
    t[p] = 0.0;
    assert!(mcla.evaluate(&t).is_none(), "nu = 0 must give -infinity");
    t[p] = -1.0;
    assert!(mcla.evaluate(&t).is_none());
    t[p] = f64::NAN;
    assert!(mcla.evaluate(&t).is_none());
    assert!(mcla.evaluate(&start.theta[..p]).is_none(), "wrong length");
}
