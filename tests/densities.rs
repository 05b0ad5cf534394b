//! The importance densities (SPEC §4) against direct formulas, and the
//! sampler's draws against the moments of each mixture component.
#![allow(clippy::needless_range_loop)]

mod common;
use common::*;
use faer::Mat;
use mcla::integrate::fixed_sample::sampler::{BlockMixture, ChunkDraws, GenScratch};
use mcla::{Blocks, Family, FitOptions, ImportanceCentre, ImportanceSample, Sampler};
use statrs::function::gamma::ln_gamma;

/// Naive determinant and inverse by Gauss–Jordan (independent of faer's Cholesky).
fn det_inv(a: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let n = a.len();
    let mut m: Vec<Vec<f64>> = a.to_vec();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| (i == j) as u8 as f64).collect())
        .collect();
    let mut det = 1.0;
    for c in 0..n {
        let piv = (c..n)
            .max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))
            .unwrap();
        if piv != c {
            m.swap(piv, c);
            inv.swap(piv, c);
            det = -det;
        }
        let d = m[c][c];
        det *= d;
        for j in 0..n {
            m[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..n {
            if r != c {
                let f = m[r][c];
                for j in 0..n {
                    m[r][j] -= f * m[c][j];
                    inv[r][j] -= f * inv[c][j];
                }
            }
        }
    }
    (det, inv)
}

fn quad(a: &[Vec<f64>], x: &[f64]) -> f64 {
    (0..x.len())
        .map(|i| (0..x.len()).map(|j| x[i] * a[i][j] * x[j]).sum::<f64>())
        .sum()
}

#[test]
fn mixture_densities_match_direct_formulas() {
    let q = 4;
    let u_star = vec![0.3, -0.2, 0.5, 0.1];
    let d_star = vec![1.3, 0.7, 2.0, 0.9];
    // a dense SPD precision
    let prec: Vec<Vec<f64>> = (0..q)
        .map(|i| {
            (0..q)
                .map(|j| {
                    if i == j {
                        2.0 + i as f64 + 1.0 / d_star[i]
                    } else {
                        0.3 / (1.0 + (i + j) as f64)
                    }
                })
                .collect()
        })
        .collect();
    let pm = Mat::from_fn(q, q, |i, j| prec[i][j]);
    let zeta = 5.0;
    let (det_p, _) = det_inv(&prec);
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    let qf = q as f64;
    let logdet_d: f64 = d_star.iter().map(|d: &f64| d.ln()).sum();
    let points = [
        vec![0.0, 0.0, 0.0, 0.0],
        vec![1.0, -2.0, 0.5, 3.0],
        vec![-4.0, 5.0, 1.0, -0.3],
    ];
    for u in &points {
        let dq_t: f64 = (0..q).map(|j| u[j] * u[j] / d_star[j]).sum();
        let dq_n: f64 = (0..q).map(|j| (u[j] - u_star[j]).powi(2) / d_star[j]).sum();
        let r: Vec<f64> = (0..q).map(|j| u[j] - u_star[j]).collect();
        let t = ln_gamma((zeta + qf) / 2.0)
            - ln_gamma(zeta / 2.0)
            - qf / 2.0 * (zeta * std::f64::consts::PI).ln()
            - 0.5 * logdet_d
            - (zeta + qf) / 2.0 * (1.0 + dq_t / zeta).ln();
        let nd = -qf / 2.0 * ln2pi - 0.5 * logdet_d - 0.5 * dq_n;
        let ns = -qf / 2.0 * ln2pi + 0.5 * det_p.ln() - 0.5 * quad(&prec, &r);
        let mk = |p: [f64; 3]| {
            BlockMixture::from_precision(
                u_star.clone(),
                d_star.clone(),
                pm.clone(),
                p,
                zeta,
                [1, 0, 0],
                0,
            )
            .unwrap()
        };
        let close = |a: f64, b: f64, what: &str| {
            assert!(
                (a - b).abs() < 1e-12 * b.abs().max(1.0),
                "{what}: {a} vs {b}"
            )
        };
        close(mk([1.0, 0.0, 0.0]).log_density(u), t, "multivariate t");
        close(
            mk([0.0, 1.0, 0.0]).log_density(u),
            nd,
            "normal, diagonal covariance",
        );
        close(
            mk([0.0, 0.0, 1.0]).log_density(u),
            ns,
            "normal, full covariance",
        );
        let p = [0.2, 0.3, 0.5];
        let mix = (p[0] * t.exp() + p[1] * nd.exp() + p[2] * ns.exp()).ln();
        close(mk(p).log_density(u), mix, "mixture");
    }
    // a univariate t with zeta = 1 is Cauchy: log density at 0 with scale 1 is -log(pi)
    let c = BlockMixture::from_precision(
        vec![0.0],
        vec![1.0],
        Mat::from_fn(1, 1, |_, _| 1.0),
        [1.0, 0.0, 0.0],
        1.0,
        [1, 0, 0],
        0,
    )
    .unwrap();
    assert!((c.log_density(&[0.0]) + std::f64::consts::PI.ln()).abs() < 1e-14);
    assert!((c.log_density(&[1.0]) - (-(std::f64::consts::PI.ln()) - 2f64.ln())).abs() < 1e-14);
}

/// Draws of each component have the component's mean and covariance.
#[test]
fn sampler_draws_have_the_component_moments() {
    let model = simulated_model(Family::Poisson, 1, 5, false);
    let blocks = Blocks::new(&model, Sampler::Factorised);
    assert_eq!(blocks.blocks.len(), 1);
    let q = model.q();
    let opts = FitOptions::default();
    let st = mcla::start(&model, &opts.check(&model).unwrap()).unwrap();
    let centre: &ImportanceCentre = &st.centre;
    // the precision S*^-1 = Z' diag(c''(eta*)) Z + D*^-1, computed naively
    let eta = model.linear_predictor(&centre.beta, &centre.u_star);
    let mut prec = vec![vec![0.0; q]; q];
    for i in 0..model.n() {
        let (cols, vals) = model.z().row(i);
        let c = Family::Poisson.variance(eta[i], 1.0);
        for (&a, &va) in cols.iter().zip(vals) {
            for (&b, &vb) in cols.iter().zip(vals) {
                prec[a][b] += c * va * vb;
            }
        }
    }
    for j in 0..q {
        prec[j][j] += 1.0 / centre.d_star[j];
    }
    let (_, s_star) = det_inv(&prec);
    assert!(
        centre.d_star.iter().all(|&d| d > 0.01),
        "PQL variances on the floor: {:?}",
        centre.d_star
    );
    let m = 60_000;
    for (comp, mixture) in [
        (0usize, [1.0, 0.0, 0.0]),
        (1, [0.0, 1.0, 0.0]),
        (2, [0.0, 0.0, 1.0]),
    ] {
        let sample =
            ImportanceSample::draw(&model, &blocks, centre, m, 9, mixture, 5.0, true).unwrap();
        let bs = &sample.blocks[0];
        assert_eq!(bs.mixture.counts[comp], m);
        let (mut sum, mut sq) = (vec![0.0; q], vec![vec![0.0; q]; q]);
        let (mut buf, mut scratch) = (ChunkDraws::default(), GenScratch::default());
        for c in 0..bs.n_chunks() {
            let ch = bs.chunk(c, &mut buf, &mut scratch);
            for k in 0..ch.len {
                for a in 0..q {
                    let ua = ch.u[a][k];
                    sum[a] += ua;
                    for b in 0..q {
                        sq[a][b] += ua * ch.u[b][k];
                    }
                }
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / m as f64).collect();
        for a in 0..q {
            let (want_mean, want_var) = match comp {
                0 => (0.0, centre.d_star[a] * 5.0 / 3.0),
                1 => (centre.u_star[a], centre.d_star[a]),
                _ => (centre.u_star[a], s_star[a][a]),
            };
            let var = sq[a][a] / m as f64 - mean[a] * mean[a];
            let se_mean = (want_var / m as f64).sqrt();
            assert!(
                (mean[a] - want_mean).abs() < 5.0 * se_mean,
                "component {comp} effect {a}: mean {} vs {want_mean}",
                mean[a]
            );
            // variance within 5% (t with 5 df has heavy tails: 8%)
            let tol = if comp == 0 { 0.08 } else { 0.05 };
            assert!(
                (var / want_var - 1.0).abs() < tol,
                "component {comp} effect {a}: var {var} vs {want_var}"
            );
        }
        if comp == 2 {
            // off-diagonal covariances of N(u*, S*)
            let mut checked = 0;
            for a in 0..q {
                for b in 0..a {
                    if s_star[a][b].abs() > 0.005 {
                        let cov = sq[a][b] / m as f64 - mean[a] * mean[b];
                        let se = ((s_star[a][a] * s_star[b][b] + s_star[a][b].powi(2)) / m as f64)
                            .sqrt();
                        assert!(
                            (cov - s_star[a][b]).abs() < 5.0 * se,
                            "cov[{a},{b}] {cov} vs {}",
                            s_star[a][b]
                        );
                        checked += 1;
                    }
                }
            }
            assert!(checked > 0, "no sizeable off-diagonal covariance to check");
        }
    }
}

#[test]
fn mixture_counts_are_multinomial() {
    let counts =
        mcla::integrate::fixed_sample::sampler::mixture_counts(3, 0, 90_000, [0.2, 0.3, 0.5]);
    assert_eq!(counts.iter().sum::<usize>(), 90_000);
    for (c, p) in counts.iter().zip([0.2f64, 0.3, 0.5]) {
        let sd = (90_000.0 * p * (1.0 - p)).sqrt();
        assert!((*c as f64 - 90_000.0 * p).abs() < 5.0 * sd);
    }
}
