//! Unit tests of the adaptive block.

use super::super::conditional::LANES;
use super::block::{AdaptiveBlock, AdaptiveSettings, LN_2PI};
use super::scratch::Scratch;
use crate::{Blocks, CrossedDesign, Family, Model, Sampler};

/// A salamander-shaped crossed model (2 groups of 10 x 10 animals, 6 pairings each).
fn crossed(family: Family, weighted: bool) -> Model {
    let design = CrossedDesign {
        groups: 2,
        animals: 10,
        pairings: 6,
    };
    let mut spec = design.design().unwrap();
    spec.family = family;
    if family == Family::Binomial {
        spec.trials = Some(vec![5.0; design.n()]);
    }
    let (beta, nu) = match family {
        Family::Poisson => (vec![0.3, 0.1, -0.4, 0.5], vec![0.4, 0.3]),
        _ => (vec![1.0, 0.3, -1.9, 1.0], vec![1.4, 1.25]),
    };
    spec.y = crate::simulate_response(&spec, &beta, &nu, 17).unwrap().0;
    if weighted {
        spec.weights = Some(
            (0..design.n())
                .map(|i| 0.5 + ((i * 37) % 11) as f64 / 7.0)
                .collect(),
        );
    }
    Model::new(spec).unwrap()
}

/// Subjects x items with `reps` trials per cell and random subject, item and cell effects
/// (issue 17: given the sampled items, each subject and its cells form a subtree).
pub(super) fn crossed_nested(
    family: Family,
    (ns, ni, reps): (usize, usize, usize),
    seed: u64,
) -> Model {
    use crate::{Csr, ModelSpec, RandomBlock};
    let n = ns * ni * reps;
    let (mut zs, mut zi, mut zc) = (vec![], vec![], vec![]);
    for r in 0..n {
        let cell = r / reps;
        zs.push((r, cell / ni, 1.0));
        zi.push((r, cell % ni, 1.0));
        zc.push((r, cell, 1.0));
    }
    let mut x = vec![1.0; n];
    x.extend((0..n).map(|r| if (r / reps) % 2 == 0 { -0.5 } else { 0.5 }));
    let block = |names: String, q: usize, t: &[(usize, usize, f64)]| RandomBlock {
        names: (0..q).map(|k| format!("{names}{k}")).collect(),
        z: Csr::from_triplets(n, q, t).unwrap(),
    };
    let mut spec = ModelSpec {
        y: vec![0.0; n],
        trials: None,
        x,
        x_names: vec!["(Intercept)".into(), "cond".into()],
        random: vec![
            block("S".into(), ns, &zs),
            block("I".into(), ni, &zi),
            block("C".into(), ns * ni, &zc),
        ],
        varcomps_equal: None,
        varcomps_names: vec!["S".into(), "I".into(), "SI".into()],
        family,
        weights: None,
    };
    spec.y = crate::simulate_response(&spec, &[-0.3, 0.6], &[0.8, 0.4, 0.3], seed)
        .unwrap()
        .0;
    Model::new(spec).unwrap()
}

/// The three families on [`crossed`] (bernoulli unweighted, binomial and poisson weighted) and
/// the [`subtree_models`], each [`at_start`].
fn cases() -> Vec<(Family, Model, crate::PqlStart, Vec<f64>)> {
    [
        (Family::Bernoulli, false),
        (Family::Binomial, true),
        (Family::Poisson, true),
    ]
    .into_iter()
    .map(|(family, weighted)| crossed(family, weighted))
    // and designs whose integrated set holds subtrees (subjects and their cells)
    .chain(subtree_models())
    .map(at_start)
    .collect()
}

/// Two subjects x items x trials designs (seeds whose PQL variances are all away from 0).
fn subtree_models() -> [Model; 2] {
    [
        crossed_nested(Family::Bernoulli, (6, 4, 3), 1),
        crossed_nested(Family::Poisson, (5, 3, 2), 5),
    ]
}

/// `model` with its PQL start and a theta away from it (betas + 0.1, variances x 1.2).
fn at_start(model: Model) -> (Family, Model, crate::PqlStart, Vec<f64>) {
    let family = model.family();
    let start = crate::pql(&model).unwrap();
    let mut theta: Vec<f64> = start.beta.iter().map(|b| b + 0.1).collect();
    theta.extend(start.nu.iter().map(|v| v * 1.2));
    (family, model, start, theta)
}

/// One draw's separator effects `u_S = v* + b`, `b = L^{-T} z`, with `b` and `z'z` (the
/// one-draw-at-a-time reference of the lane kernels' `separator_lanes`).
fn separator_draw(prop: &super::proposal::Proposal, z: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
    let (ns, l) = (z.len(), &prop.l);
    let mut b = vec![0.0; ns];
    for i in (0..ns).rev() {
        let mut acc = z[i];
        for c in i + 1..ns {
            acc -= l[c * ns + i] * b[c];
        }
        b[i] = acc / l[i * ns + i];
    }
    let us = prop.v.iter().zip(&b).map(|(v, b)| v + b).collect();
    (us, b, z.iter().map(|v| v * v).sum())
}

fn close(what: &str, a: f64, b: f64, scale: f64) {
    assert!(
        (a - b).abs() <= 1e-12 * scale.max(1.0),
        "{what}: lanes {a:e} vs one draw at a time {b:e}"
    );
}

/// The lane kernels (lane groups of draws) against the per-draw reference
/// (`draw_terms`, one draw at a time, the same draws of the chunk's stream): the
/// log weights, partial and total scores and the weighted `∂² log h` agree to
/// rounding, including a last group with fewer draws than lanes.
#[test]
fn lane_groups_match_the_per_draw_evaluation() {
    for (family, model, start, theta) in cases() {
        let blocks = Blocks::new(&model, Sampler::Adaptive);
        let m = 2 * LANES + 5;
        let block = AdaptiveBlock::new(
            &model,
            &blocks.blocks[0],
            0,
            m,
            11,
            &start.u_star,
            // plain draws: m is not rounded, the last lane group is partial
            AdaptiveSettings {
                draws: crate::integrate::standard_draws::DrawScheme::Plain,
                subtrees: true,
                ..AdaptiveSettings::default()
            },
        )
        .unwrap();
        assert!(block.n_s() > 0 && (block.n_i() > 0 || block.subtree_count() > 0));
        // the subjects x items x trials designs have subtrees (subjects and their cells)
        assert_eq!(block.subtree_count() > 0, model.n_varcomps() == 3);
        let (d, ns) = (block.d, block.n_s());
        let mut s = Scratch::default();
        let prop = block.proposal(&theta, None, &mut s).unwrap();
        let derivs = block.derivs(&theta, &prop).unwrap();
        let xb = block.x_beta(&theta[..block.p]);
        let out = block.chunk(&theta, &xb, &prop, &derivs, 0, block.m, &mut s);
        assert_eq!(out.lw.len(), m);
        // one draw at a time
        let mut zc = Vec::new();
        block.z_draws.fill(0, 0, m, &mut zc);
        let l = &prop.l;
        let mut h_sum = vec![0.0; d * d];
        let mut r = Scratch::default();
        for k in 0..m {
            let (b, zz);
            (r.us, b, zz) = separator_draw(&prop, &zc[k * ns..(k + 1) * ns]);
            let lh = block.draw_terms(&theta, &xb, Some(&prop), &mut r);
            let lw = lh + 0.5 * zz + 0.5 * ns as f64 * LN_2PI - prop.logdet;
            close(&format!("{family:?} lw[{k}]"), out.lw[k], lw, lw.abs());
            let mut a = vec![0.0; ns];
            for i in 0..ns {
                let mut acc = r.g[i];
                for c in 0..i {
                    acc -= l[i * ns + c] * a[c];
                }
                a[i] = acc / l[i * ns + i];
            }
            for j in 0..d {
                let mut sj = r.part[j] - derivs.dlogdet[j];
                for i in 0..ns {
                    sj += r.g[i] * derivs.dv[j * ns + i];
                    let la: f64 = (0..=i)
                        .map(|c| derivs.dl[j * ns * ns + i * ns + c] * a[c])
                        .sum();
                    sj -= la * b[i];
                }
                let (pk, tk) = (out.part[k * d + j], out.total[k * d + j]);
                close(
                    &format!("{family:?} part[{k}][{j}]"),
                    pk,
                    r.part[j],
                    pk.abs(),
                );
                close(&format!("{family:?} total[{k}][{j}]"), tk, sj, tk.abs());
            }
            let wk = (lw - out.h_max).exp();
            for (acc, h) in h_sum.iter_mut().zip(&r.hk) {
                *acc += wk * h;
            }
        }
        let hs = h_sum.iter().fold(0.0f64, |a, h| a.max(h.abs()));
        for (e, (a, b)) in out.h_sum.iter().zip(&h_sum).enumerate() {
            close(&format!("{family:?} h_sum[{e}]"), *a, *b, hs);
        }
    }
}

/// The posterior moments' lane groups (`ranef`, chunks in parallel) against one draw at a
/// time: the log weights equal the evaluation's (`draw_terms`), each 1-D effect's conditional
/// mean and second moment those of its quadrature nodes at the per-draw mode
/// (`conditional::mode_fixed`, `integrate`), the subtrees' those of their recursion, the
/// separator's the draw itself; for every draw, including a partial last lane group.
#[test]
fn lane_moments_match_the_per_draw_reference() {
    use super::super::conditional;
    for (family, model, start, theta) in cases() {
        let blocks = Blocks::new(&model, Sampler::Adaptive);
        let m = 2 * LANES + 5;
        let block = AdaptiveBlock::new(
            &model,
            &blocks.blocks[0],
            0,
            m,
            11,
            &start.u_star,
            AdaptiveSettings {
                draws: crate::integrate::standard_draws::DrawScheme::Plain,
                subtrees: true,
                ..AdaptiveSettings::default()
            },
        )
        .unwrap();
        let ns = block.n_s();
        let q = block.n_modes() + ns;
        let xb = block.x_beta(&theta[..block.p]);
        let (lw, m1, m2) = block.moments_sampled(&theta, &xb).unwrap();
        assert_eq!((lw.len(), m1.len(), m2.len()), (m, m * q, m * q));
        let mut s = Scratch::default();
        let prop = block.proposal(&theta, None, &mut s).unwrap();
        let mut zc = Vec::new();
        block.z_draws.fill(0, 0, m, &mut zc);
        let nu = &theta[block.p..];
        let mut r = Scratch::default();
        let mut o = Vec::new();
        for k in 0..m {
            let zz;
            (r.us, _, zz) = separator_draw(&prop, &zc[k * ns..(k + 1) * ns]);
            let lh = block.draw_terms(&theta, &xb, Some(&prop), &mut r);
            let want = lh + 0.5 * zz + 0.5 * ns as f64 * LN_2PI - prop.logdet;
            close(&format!("{family:?} lw[{k}]"), lw[k], want, want.abs());
            let (mut e1, mut e2) = (Vec::new(), Vec::new());
            block.offsets(&xb, &r.us, &mut o);
            for j in 0..block.n_i() {
                let (obs, rg) = block.effect_obs(j);
                let u0 = block.response_start(&prop, j, &o);
                let nuj = nu[block.i_comp[j]];
                let oj = &o[rg];
                let steps = block.settings.newton_steps;
                let (c, t2) = conditional::mode_fixed(family, &obs, oj, nuj, u0, steps);
                conditional::integrate(family, &block.rule, &obs, oj, nuj, c, t2, &mut r.nodes);
                let nodes = &r.nodes;
                e1.push(
                    (0..block.rule.len())
                        .map(|n| nodes.pi[n] * nodes.u[n])
                        .sum::<f64>(),
                );
                e2.push(
                    (0..block.rule.len())
                        .map(|n| nodes.pi[n] * nodes.u[n] * nodes.u[n])
                        .sum::<f64>(),
                );
            }
            for st in &block.subtrees {
                let us = &r.us;
                st.moments(&theta, |a| us[a], &prop.u_mode, &mut r.ext, &mut r.tree)
                    .unwrap();
                e1.extend_from_slice(&r.tree.m1);
                e2.extend_from_slice(&r.tree.m2);
            }
            e1.extend_from_slice(&r.us);
            e2.extend(r.us.iter().map(|u| u * u));
            assert_eq!(e1.len(), q);
            for e in 0..q {
                let (a, b) = (m1[k * q + e], m2[k * q + e]);
                close(&format!("{family:?} mean[{k}][{e}]"), a, e1[e], e1[e].abs());
                close(
                    &format!("{family:?} second[{k}][{e}]"),
                    b,
                    e2[e],
                    e2[e].abs(),
                );
            }
        }
    }
}

/// The per-draw pass (issue 14): the largest error of the conditional integrals
/// `log A_j` over the draws and integrated effects when the per-draw 1-D mode takes
/// `steps` Newton steps from the proposal's linear response and from its second-order
/// response (`response_start`, the pass's), against the mode to machine precision (same
/// K = 10 rule), and of K-node rules against 2K at the proposal mode and on the draws.
/// Returns `(max error per steps 1..=3 from the linear start, the same from the
/// second-order start, per K)`.
#[allow(clippy::type_complexity)]
fn per_draw_errors(model: &Model, ks: &[usize]) -> (Vec<f64>, Vec<f64>, Vec<(usize, f64, f64)>) {
    use super::super::conditional::{self, Nodes, Rule};
    use crate::integrate::standard_draws::DrawScheme;
    let start = crate::pql(model).unwrap();
    let mut theta: Vec<f64> = start.beta.clone();
    theta.extend(&start.nu);
    let blocks = Blocks::new(model, Sampler::Adaptive);
    let block = AdaptiveBlock::new(
        model,
        &blocks.blocks[0],
        0,
        256,
        5,
        &start.u_star,
        AdaptiveSettings {
            draws: DrawScheme::Plain,
            ..AdaptiveSettings::default()
        },
    )
    .unwrap();
    let ns = block.n_s();
    let mut s = Scratch::default();
    let prop = block.proposal(&theta, None, &mut s).unwrap();
    let xb = block.x_beta(&theta[..block.p]);
    let nu = &theta[block.p..];
    let mut zc = Vec::new();
    block.z_draws.fill(0, 0, 64, &mut zc);
    let rule10 = Rule::new(10).unwrap();
    let mut nodes = Nodes::default();
    let mut o = Vec::new();
    let mut step_err = vec![0.0f64; 3];
    let mut second_err = vec![0.0f64; 3];
    let mut k_err: Vec<(usize, f64, f64)> = ks.iter().map(|&k| (k, 0.0, 0.0)).collect();
    let rules: Vec<(Rule, Rule)> = ks
        .iter()
        .map(|&k| (Rule::new(k).unwrap(), Rule::new(2 * k).unwrap()))
        .collect();
    // at the proposal mode (u_S = v*): K against 2K
    block.offsets(&xb, &prop.v, &mut o);
    for j in 0..block.n_i() {
        let (obs, r) = block.effect_obs(j);
        let oj = &o[r];
        let nuj = nu[block.i_comp[j]];
        let (c, t2) = conditional::mode_precise(block.family, &obs, oj, nuj, prop.u_mode[j]);
        for ((_, at_mode, _), (rk, r2k)) in k_err.iter_mut().zip(&rules) {
            let a = conditional::integrate(block.family, rk, &obs, oj, nuj, c, t2, &mut nodes);
            let b = conditional::integrate(block.family, r2k, &obs, oj, nuj, c, t2, &mut nodes);
            *at_mode = at_mode.max((a - b).abs());
        }
    }
    for k in 0..64 {
        let (us, _, _) = separator_draw(&prop, &zc[k * ns..(k + 1) * ns]);
        block.offsets(&xb, &us, &mut o);
        for j in 0..block.n_i() {
            let (obs, r) = block.effect_obs(j);
            let oj = &o[r.clone()];
            let nuj = nu[block.i_comp[j]];
            let mut u0 = prop.u_mode[j];
            for i in r.clone() {
                u0 -= prop.wc[i] * (o[i] - prop.o[i]) / prop.tau2[j];
            }
            let (cp, tp) = conditional::mode_precise(block.family, &obs, oj, nuj, u0);
            let exact =
                conditional::integrate(block.family, &rule10, &obs, oj, nuj, cp, tp, &mut nodes);
            let u2 = block.response_start(&prop, j, &o);
            for (start, errs) in [(u0, &mut step_err), (u2, &mut second_err)] {
                for (st, e) in errs.iter_mut().enumerate() {
                    let (c, t2) =
                        conditional::mode_fixed(block.family, &obs, oj, nuj, start, st + 1);
                    let a = conditional::integrate(
                        block.family,
                        &rule10,
                        &obs,
                        oj,
                        nuj,
                        c,
                        t2,
                        &mut nodes,
                    );
                    *e = e.max((a - exact).abs());
                }
            }
            for ((_, _, on_draws), (rk, r2k)) in k_err.iter_mut().zip(&rules) {
                let a = conditional::integrate(block.family, rk, &obs, oj, nuj, cp, tp, &mut nodes);
                let b =
                    conditional::integrate(block.family, r2k, &obs, oj, nuj, cp, tp, &mut nodes);
                *on_draws = on_draws.max((a - b).abs());
            }
        }
    }
    (step_err, second_err, k_err)
}

/// Measured (issue 14, the per-draw pass): the errors of cheaper per-draw passes, printed
/// with `--nocapture`.  Measured (max over 64 draws x 20 integrated effects): from the linear
/// response, 1 / 2 / 3 Newton steps 4e-7 / 1.4e-8 / 9e-12 (bernoulli), 9e-7 / 1.7e-8 / 4e-11
/// (binomial), 2e-9 / 3e-11 / 5e-15 (poisson); from the second-order response 1e-7 / 7e-10 /
/// 3e-14, 3e-8 / 1e-10 / 7e-15, 2e-10 / 4e-13 / 3e-15; K = 5 / 7 / 10 against 2K on the draws
/// 3e-4 / 5e-5 / 3e-6 (bernoulli), at the proposal mode 2.4e-4 / 3e-5 / 6e-7 (the check at the
/// mode understates the error on the draws up to 5x).  Fewer nodes do not keep the conditional
/// integrals within 1e-8 relative; 2 steps from the second-order response do, so the pass
/// takes those (one `logistic` per observation and draw fewer than 3 steps from the linear
/// response).  Asserted: the pass's start and steps within 1e-8 of the precise mode, and the
/// second-order start at least 10x closer than the linear one after 2 steps.
#[test]
fn per_draw_newton_steps_and_node_counts_against_the_precise_integrals() {
    let steps = AdaptiveSettings::default().newton_steps;
    for (family, weighted) in [
        (Family::Bernoulli, false),
        (Family::Binomial, true),
        (Family::Poisson, true),
    ] {
        let model = crossed(family, weighted);
        let (linear, second, ks) = per_draw_errors(&model, &[5, 7, 10]);
        eprintln!(
            "{family:?}: |log A_j error| after 1, 2, 3 Newton steps from the linear response: {:.1e}, {:.1e}, {:.1e}; from the second-order response: {:.1e}, {:.1e}, {:.1e}",
            linear[0], linear[1], linear[2], second[0], second[1], second[2]
        );
        for (k, at_mode, on_draws) in &ks {
            eprintln!("{family:?}: K = {k} vs 2K: at the proposal mode {at_mode:.1e}, on the draws {on_draws:.1e}");
        }
        assert!(
            second[steps - 1] < 1e-8,
            "{family:?}: {steps} steps {:e}",
            second[steps - 1]
        );
        assert!(
            second[1] < 0.1 * linear[1],
            "{family:?}: {:e} vs {:e}",
            second[1],
            linear[1]
        );
    }
}

/// The proposal's derivatives (implicit function theorem for `v*`, the Cholesky derivative
/// for `L`) against central differences of proposals re-solved to machine precision at
/// `theta ± h e_j` (Richardson-extrapolated, steps 10x and 5x the derivatives' own), for every parameter and
/// family.
#[test]
fn proposal_derivatives_match_re_solved_proposals() {
    for (family, model, start, theta) in cases() {
        let blocks = Blocks::new(&model, Sampler::Adaptive);
        let block = AdaptiveBlock::new(
            &model,
            &blocks.blocks[0],
            0,
            64,
            11,
            &start.u_star,
            AdaptiveSettings {
                subtrees: true,
                ..AdaptiveSettings::default()
            },
        )
        .unwrap();
        let (d, ns) = (block.d, block.n_s());
        let mut s = Scratch::default();
        let prop = block.proposal(&theta, None, &mut s).unwrap();
        let derivs = block.derivs(&theta, &prop).unwrap();
        for j in 0..d {
            let h = 1e-3 * theta[j].abs().max(0.01);
            let at = |sign: f64, s: &mut Scratch| {
                let mut t = theta.clone();
                t[j] += sign * h;
                block.proposal(&t, None, s).unwrap()
            };
            // Richardson's extrapolation of two central differences (steps h and h/2): O(h^4)
            let (p1, m1) = (at(1.0, &mut s), at(-1.0, &mut s));
            let (p2, m2) = (at(0.5, &mut s), at(-0.5, &mut s));
            let fd = |f: &dyn Fn(&super::proposal::Proposal) -> f64| {
                let d1 = (f(&p1) - f(&m1)) / (2.0 * h);
                let d2 = (f(&p2) - f(&m2)) / h;
                (4.0 * d2 - d1) / 3.0
            };
            let worst = |a: &[f64], fd: &dyn Fn(usize) -> f64| {
                let scale = (0..a.len()).map(fd).fold(1e-3f64, |m, v| m.max(v.abs()));
                (0..a.len())
                    .map(|k| (a[k] - fd(k)).abs() / scale)
                    .fold(0.0f64, f64::max)
            };
            let ev = worst(&derivs.dv[j * ns..(j + 1) * ns], &|k| fd(&|p| p.v[k]));
            let el = worst(&derivs.dl[j * ns * ns..(j + 1) * ns * ns], &|k| {
                fd(&|p| p.l[k])
            });
            let fd_logdet = fd(&|p| p.logdet);
            let ed = (derivs.dlogdet[j] - fd_logdet).abs() / fd_logdet.abs().max(1e-3);
            assert!(
                ev < 1e-8 && el < 1e-8 && ed < 1e-8,
                "{family:?} parameter {j}: relative errors dv {ev:e}, dL {el:e}, dlogdet {ed:e}"
            );
        }
    }
}

/// Subtrees given the separator (issue 17): on subjects x items x 3 trials the items are
/// sampled and each subject with its cells is a subtree; at a draw, the subtrees' log
/// integral's derivatives (the partial scores in theta, the gradient in `u_S`, `∂²_theta`)
/// agree with central differences of the per-draw value, the proposal's gradient and
/// curvature in `u_S` with those of the marginal, and the block's gradient (the total
/// derivative at fixed standard draws) with central differences of its value.  The
/// derivatives are those of the integral, the values the K-point rule's: they agree to the
/// rule's error, negligible at K = 20.
#[test]
fn subtree_derivatives_match_central_differences() {
    for (fam, model, start, theta) in subtree_models().into_iter().map(at_start) {
        let blocks = Blocks::new(&model, Sampler::Adaptive);
        let block = AdaptiveBlock::new(
            &model,
            &blocks.blocks[0],
            0,
            64,
            11,
            &start.u_star,
            // K = 20: the rule's error (6e-6 relative in a variance's score at K = 10) is
            // below the differences' tolerance
            AdaptiveSettings {
                nodes: 20,
                subtrees: true,
                ..AdaptiveSettings::default()
            },
        )
        .unwrap();
        let (ns, nsub) = (block.n_s(), block.subtree_count());
        // subjects x (1 + items) effects outside the sampled items
        assert_eq!(
            (model.q() - ns),
            nsub * (1 + ns),
            "{fam:?}: the items are sampled"
        );
        assert!(
            nsub > 0 && block.n_i() == 0,
            "{fam:?}: every subject is a subtree"
        );
        let d = block.d;
        let mut s = Scratch::default();
        let prop = block.proposal(&theta, None, &mut s).unwrap();
        let rel = |a: f64, b: f64, scale: f64| (a - b).abs() / scale.max(1.0);
        // one draw: u_S = v* + 0.3 * (1, -1, ...)
        let us: Vec<f64> = (0..ns)
            .map(|k| prop.v[k] + if k % 2 == 0 { 0.3 } else { -0.3 })
            .collect();
        let value = |t: &[f64], u: &[f64], r: &mut Scratch| {
            r.us = u.to_vec();
            let xb = block.x_beta(&t[..block.p]);
            block.draw_terms(t, &xb, Some(&prop), r)
        };
        let mut r = Scratch::default();
        value(&theta, &us, &mut r);
        let (part, g, hk) = (r.part.clone(), r.g.clone(), r.hk.clone());
        for j in 0..d {
            let h = 1e-5 * theta[j].abs().max(0.1);
            let (mut tp, mut tm) = (theta.clone(), theta.clone());
            tp[j] += h;
            tm[j] -= h;
            let fd = (value(&tp, &us, &mut r) - value(&tm, &us, &mut r)) / (2.0 * h);
            assert!(
                rel(part[j], fd, fd.abs()) < 1e-6,
                "{fam:?} part {j}: {} vs {fd}",
                part[j]
            );
            value(&tp, &us, &mut r);
            let pp = r.part.clone();
            value(&tm, &us, &mut r);
            for c in 0..d {
                let fd2 = (pp[c] - r.part[c]) / (2.0 * h);
                assert!(
                    rel(hk[j * d + c], fd2, fd2.abs()) < 1e-5,
                    "{fam:?} hk {j},{c}: {} vs {fd2}",
                    hk[j * d + c]
                );
            }
        }
        for k in 0..ns {
            let h = 1e-5;
            let (mut up, mut um) = (us.clone(), us.clone());
            up[k] += h;
            um[k] -= h;
            let fd = (value(&theta, &up, &mut r) - value(&theta, &um, &mut r)) / (2.0 * h);
            assert!(
                rel(g[k], fd, fd.abs()) < 1e-6,
                "{fam:?} g {k}: {} vs {fd}",
                g[k]
            );
        }
        // the marginal's gradient and curvature in u_S at the proposal's centre
        let xb = block.x_beta(&theta[..block.p]);
        let marg = |v: &[f64], s: &mut Scratch| {
            let (mut um, mut t2) = (prop.u_mode.clone(), prop.tau2.clone());
            block.marginal(&xb, &theta, v, &mut um, &mut t2, true, s)
        };
        let (_, g0, h0) = marg(&us, &mut s);
        for k in 0..ns {
            let h = 1e-5;
            let (mut up, mut um) = (us.clone(), us.clone());
            up[k] += h;
            um[k] -= h;
            let ((fp, gp, _), (fm, gm, _)) = (marg(&up, &mut s), marg(&um, &mut s));
            let fd = (fp - fm) / (2.0 * h);
            assert!(rel(g0[k], fd, fd.abs()) < 1e-6, "{fam:?} marginal g {k}");
            for c in 0..ns {
                let fd2 = -(gp[c] - gm[c]) / (2.0 * h);
                assert!(
                    rel(h0[k * ns + c], fd2, fd2.abs()) < 1e-5,
                    "{fam:?} marginal H {k},{c}: {} vs {fd2}",
                    h0[k * ns + c]
                );
            }
        }
        // the block's gradient: the total derivative at fixed standard draws
        use crate::integrate::BlockIntegrator;
        let e = block.evaluate(&theta).unwrap();
        for j in 0..d {
            let h = 1e-5 * theta[j].abs().max(0.1);
            let (mut tp, mut tm) = (theta.clone(), theta.clone());
            tp[j] += h;
            tm[j] -= h;
            let fd = (block.evaluate(&tp).unwrap().value - block.evaluate(&tm).unwrap().value)
                / (2.0 * h);
            assert!(
                rel(e.gradient[j], fd, fd.abs()) < 1e-6,
                "{fam:?} gradient {j}: {} vs {fd}",
                e.gradient[j]
            );
        }
    }
}
