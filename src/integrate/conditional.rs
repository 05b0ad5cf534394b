//! Conditional one-dimensional integrals by adaptive Gauss–Hermite quadrature (SPEC §12 b).
//!
//! For an integrated effect `u_j` with observations `i` (offsets `o_i`, which hold
//! `x_i'beta` and the separator's contribution, and coefficients `z_ij`),
//!
//! ```text
//! A_j = ∫ exp(h(u)) du / sqrt(2 pi nu),   h(u) = sum_i w_i [y_i eta_i - c(eta_i)] - u^2 / (2 nu),
//! eta_i = o_i + z_ij u,
//! ```
//!
//! is computed with the substitution `u = c + sqrt(2) x / tau` around the mode `c`
//! (curvature `tau^2 = sum_i w_i z_ij^2 c''(eta_i) + 1/nu`) as
//! `log A_j = -0.5 log(2 pi nu) + log(sqrt(2)/tau) + logsumexp_k [log omega_k + x_k^2 + h(u_k)]`.
//! The normalised terms `pi_k` are the posterior weights of the nodes: posterior
//! means such as `E[mu_i]` and `E[u^2]` are `sum_k pi_k (.)(u_k)`, which are the
//! derivatives of the exact integral (they differ from the derivative of the
//! K-node rule by the rule's error, ~1e-5 relative at K = 10).
//!
//! The mode is found by Newton's method, either to machine precision
//! ([`mode_precise`]: proposal construction and exact blocks) or with a fixed
//! number of steps from a start near the mode ([`mode_fixed`]: per draw, from the proposal
//! mode's second-order response to the draw's offsets, `AdaptiveBlock::response_start`), so
//! that the result is a smooth function of the inputs (a tolerance-based stop
//! would put jumps into the likelihood).

use crate::integrate::quadrature::{gauss_hermite_log, QuadratureError};
use crate::model::family::Family;

/// Largest Newton step on one effect (standard-deviation units are not known
/// before the first step; this only guards the first steps of far starts).
const MAX_STEP: f64 = 5.0;

/// A K-point Gauss–Hermite rule, stored as nodes and `log omega_k + x_k^2`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Nodes `x_k`.
    pub x: Vec<f64>,
    /// `log omega_k + x_k^2`.
    pub log_w: Vec<f64>,
}

impl Rule {
    /// The K-point rule (1 <= K <= 200).
    ///
    /// ```
    /// // ∫ e^{-x^2} x^2 dx = sqrt(pi)/2, exact for K >= 2
    /// let r = mcla::integrate::conditional::Rule::new(5).unwrap();
    /// let s: f64 = r.x.iter().zip(&r.log_w).map(|(x, lw)| (lw - x * x).exp() * x * x).sum();
    /// assert!((s - std::f64::consts::PI.sqrt() / 2.0).abs() < 1e-14);
    /// ```
    pub fn new(k: usize) -> Result<Rule, QuadratureError> {
        let (x, log_w) = gauss_hermite_log(k)?;
        Ok(Rule { x, log_w })
    }
    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.x.len()
    }
    /// Whether the rule has no nodes (never, for a rule made by [`Rule::new`]).
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

/// The observations of one integrated effect.
#[derive(Debug, Clone, Copy)]
pub struct EffectObs<'a> {
    /// Responses.
    pub y: &'a [f64],
    /// Observation weights.
    pub w: &'a [f64],
    /// Binomial trials (1 for bernoulli; ignored for poisson).
    pub nt: &'a [f64],
    /// Coefficient `z_ij` of the effect in each observation.
    pub z: &'a [f64],
}

/// `(y eta - c(eta), c'(eta), c''(eta))` of one observation.
#[inline(always)]
pub fn obs_terms(family: Family, y: f64, nt: f64, eta: f64) -> (f64, f64, f64) {
    match family {
        Family::Bernoulli | Family::Binomial => {
            let (sp, lg) = mcla_math::softplus_logistic(eta);
            (y * eta - nt * sp, nt * lg, nt * lg * (1.0 - lg))
        }
        Family::Poisson => {
            let e = mcla_math::exp(eta);
            (y * eta - e, e, e)
        }
    }
}

/// `c'''(eta)`, the slope of the variance `c''(eta)` in the linear predictor, from the mean and
/// variance [`obs_terms`] gives: `var (1 - 2 mu / nt)` (logit), `var` (log link).
#[inline]
pub fn variance_slope(family: Family, nt: f64, mu: f64, var: f64) -> f64 {
    match family {
        Family::Bernoulli | Family::Binomial => var * (1.0 - 2.0 * mu / nt),
        Family::Poisson => var,
    }
}

/// [`obs_terms`] over slices, vectorised (the same bits on every instruction set):
/// on return `a[i] = c(eta_i) / nt_i`-part and `b[i] = c'(eta_i)`-part, combined by
/// [`combine`].
#[inline]
fn family_kernel(family: Family, eta: &[f64], a: &mut [f64], b: &mut [f64]) {
    match family {
        Family::Bernoulli | Family::Binomial => {
            // softplus into a, logistic into b
            let _ = mcla_math::softplus_logistic_slice(eta, a, b);
        }
        Family::Poisson => {
            let _ = mcla_math::exp_slice(eta, b);
        }
    }
}

/// `(y eta - c(eta), c'(eta), c''(eta))` from [`family_kernel`]'s outputs.
#[inline(always)]
fn combine(family: Family, y: f64, nt: f64, eta: f64, a: f64, b: f64) -> (f64, f64, f64) {
    match family {
        Family::Bernoulli | Family::Binomial => (y * eta - nt * a, nt * b, nt * b * (1.0 - b)),
        Family::Poisson => (y * eta - b, b, b),
    }
}

/// Largest number of observations of one effect evaluated in one stack buffer.
const STACK: usize = 64;

/// `h'(u)` and `-h''(u)` at `u`.
#[inline]
fn slope_curvature(family: Family, obs: &EffectObs<'_>, o: &[f64], nu: f64, u: f64) -> (f64, f64) {
    let mut g = -u / nu;
    let mut h = 1.0 / nu;
    let (mut eta, a, mut b) = ([0.0; STACK], [0.0; STACK], [0.0; STACK]);
    for start in (0..o.len()).step_by(STACK) {
        let len = STACK.min(o.len() - start);
        for k in 0..len {
            eta[k] = o[start + k] + obs.z[start + k] * u;
        }
        // only c' and c'' are needed: the logistic alone (the same bits as
        // softplus_logistic's second output), or exp
        match family {
            Family::Bernoulli | Family::Binomial => {
                let _ = mcla_math::logistic_slice(&eta[..len], &mut b[..len]);
            }
            Family::Poisson => {
                let _ = mcla_math::exp_slice(&eta[..len], &mut b[..len]);
            }
        }
        for k in 0..len {
            let i = start + k;
            let z = obs.z[i];
            let (_, mu, var) = combine(family, obs.y[i], obs.nt[i], eta[k], a[k], b[k]);
            g += obs.w[i] * z * (obs.y[i] - mu);
            h += obs.w[i] * z * z * var;
        }
    }
    (g, h)
}

/// Centre and curvature after `steps` Newton steps from `u0` (at least 1): the
/// centre is the last iterate, the curvature is taken at the one before it.
pub fn mode_fixed(
    family: Family,
    obs: &EffectObs<'_>,
    o: &[f64],
    nu: f64,
    u0: f64,
    steps: usize,
) -> (f64, f64) {
    let mut u = u0;
    let mut tau2 = 1.0 / nu;
    for _ in 0..steps.max(1) {
        let (g, h) = slope_curvature(family, obs, o, nu, u);
        u += (g / h).clamp(-MAX_STEP, MAX_STEP);
        tau2 = h;
    }
    (u, tau2)
}

/// Mode to machine precision from `u0` and the curvature there.
pub fn mode_precise(
    family: Family,
    obs: &EffectObs<'_>,
    o: &[f64],
    nu: f64,
    u0: f64,
) -> (f64, f64) {
    let mut u = u0;
    let mut small = 0;
    for _ in 0..200 {
        let (g, h) = slope_curvature(family, obs, o, nu, u);
        let step = (g / h).clamp(-MAX_STEP, MAX_STEP);
        u += step;
        if step.abs() <= 1e-12 * (1.0 + u.abs()) {
            small += 1;
            // one more step after the first tiny one lands on the fixed point
            if small >= 2 {
                break;
            }
        }
    }
    let (_, h) = slope_curvature(family, obs, o, nu, u);
    (u, h)
}

/// Per-node quantities of one conditional integral (scratch, reused).
#[derive(Debug, Clone, Default)]
pub struct Nodes {
    /// Node positions `u_k`.
    pub u: Vec<f64>,
    /// Posterior weights `pi_k` (sum 1).
    pub pi: Vec<f64>,
    /// `c'(eta_ik)`, node-major (`k * n_j + i`).
    pub mu: Vec<f64>,
    /// `c''(eta_ik)`, node-major.
    pub var: Vec<f64>,
    /// Linear predictors, node-major (scratch).
    eta: Vec<f64>,
}

/// `log A_j` by the rule around `(centre, tau2)`; fills `nodes`.
pub fn integrate(
    family: Family,
    rule: &Rule,
    obs: &EffectObs<'_>,
    o: &[f64],
    nu: f64,
    centre: f64,
    tau2: f64,
    nodes: &mut Nodes,
) -> f64 {
    let (k, nj) = (rule.len(), o.len());
    nodes.u.resize(k, 0.0);
    nodes.pi.resize(k, 0.0);
    nodes.mu.resize(k * nj, 0.0);
    nodes.var.resize(k * nj, 0.0);
    nodes.eta.resize(k * nj, 0.0);
    let scale = std::f64::consts::SQRT_2 / tau2.sqrt();
    for n in 0..k {
        let u = centre + scale * rule.x[n];
        nodes.u[n] = u;
        let eta = &mut nodes.eta[n * nj..(n + 1) * nj];
        for i in 0..nj {
            eta[i] = o[i] + obs.z[i] * u;
        }
    }
    // softplus (or nothing) into var, logistic (or exp) into mu; then combine in place
    family_kernel(family, &nodes.eta, &mut nodes.var, &mut nodes.mu);
    let mut top = f64::NEG_INFINITY;
    for n in 0..k {
        let u = nodes.u[n];
        let mut h = -0.5 * u * u / nu;
        for i in 0..nj {
            let x = n * nj + i;
            let (ll, m, v) = combine(
                family,
                obs.y[i],
                obs.nt[i],
                nodes.eta[x],
                nodes.var[x],
                nodes.mu[x],
            );
            h += obs.w[i] * ll;
            nodes.mu[x] = m;
            nodes.var[x] = v;
        }
        let t = rule.log_w[n] + h;
        nodes.pi[n] = t;
        top = top.max(t);
    }
    let mut sum = 0.0;
    for n in 0..k {
        let e = (nodes.pi[n] - top).exp();
        nodes.pi[n] = e;
        sum += e;
    }
    for n in 0..k {
        nodes.pi[n] /= sum;
    }
    -0.5 * (2.0 * std::f64::consts::PI * nu).ln() + scale.ln() + top + sum.ln()
}

/// Draws evaluated together by the lane kernels ([`mode_fixed_lanes`],
/// [`integrate_lanes`]): every per-draw quantity is an array over `LANES` draws,
/// so that each inner loop is a contiguous loop over draws that LLVM vectorises.
pub(crate) const LANES: usize = 16;

/// One value per draw of a lane group.
pub(crate) type Lane = [f64; LANES];

/// A family's `(y eta - c(eta), c'(eta), c''(eta))` (the same operations as
/// [`obs_terms`], so the same bits), as a type so that the lane kernels are
/// compiled once per family without a branch in their inner loops.
pub(crate) trait Link {
    /// `(y eta - c(eta), c'(eta), c''(eta))` for `nt` trials.
    fn terms(y: f64, nt: f64, eta: f64) -> (f64, f64, f64);
}

/// Bernoulli and binomial (logit link).
pub(crate) struct Logit;
/// Poisson (log link).
pub(crate) struct LogLink;

impl Link for Logit {
    #[inline(always)]
    fn terms(y: f64, nt: f64, eta: f64) -> (f64, f64, f64) {
        let (sp, lg) = mcla_math::softplus_logistic(eta);
        (y * eta - nt * sp, nt * lg, nt * lg * (1.0 - lg))
    }
}

impl Link for LogLink {
    #[inline(always)]
    fn terms(y: f64, _nt: f64, eta: f64) -> (f64, f64, f64) {
        let e = mcla_math::exp(eta);
        (y * eta - e, e, e)
    }
}

/// `ln x`, about 1 ulp, vectorisable: `x = 2^k m` with `m` in
/// `[sqrt(2)/2, sqrt(2))` (exact), `ln x = k ln 2 + log1p(m - 1)` (`m - 1`
/// exact); subnormals are scaled first; `ln 0 = -inf`, `ln inf = inf`, NaN for
/// negative `x` or NaN.
#[inline(always)]
pub(crate) fn ln_pos(x: f64) -> f64 {
    const TWO54: f64 = 18_014_398_509_481_984.0;
    let sub = x < f64::MIN_POSITIVE;
    let xs = if sub { x * TWO54 } else { x };
    let ub = xs.to_bits().wrapping_add(0x0009_5f62_0000_0000);
    let k = ((ub >> 52) as i64 - 1023) as f64 - if sub { 54.0 } else { 0.0 };
    let m = f64::from_bits((ub & 0x000f_ffff_ffff_ffff).wrapping_add(0x3fe6_a09e_0000_0000));
    let r = k * std::f64::consts::LN_2 + mcla_math::log1p(m - 1.0);
    if x > 0.0 && x < f64::INFINITY {
        r
    } else if x == 0.0 {
        f64::NEG_INFINITY
    } else if x == f64::INFINITY {
        f64::INFINITY
    } else {
        f64::NAN
    }
}

/// [`mode_fixed`] for a lane group of draws: `u` holds the starts on entry and the
/// centres on return, `tau2` the curvatures (at the iterate before the last).
/// `o[i]` are the offsets of observation `i` for the group's draws.  The same
/// operations per draw as [`mode_fixed`].
#[inline(always)]
pub(crate) fn mode_fixed_lanes<F: Link>(
    obs: &EffectObs<'_>,
    o: &[Lane],
    nu: f64,
    steps: usize,
    u: &mut Lane,
    tau2: &mut Lane,
) {
    *tau2 = [1.0 / nu; LANES];
    for _ in 0..steps.max(1) {
        let mut g = [0.0; LANES];
        let mut h = [1.0 / nu; LANES];
        for k in 0..LANES {
            g[k] = -u[k] / nu;
        }
        for (i, oi) in o.iter().enumerate() {
            let (y, nt, z) = (obs.y[i], obs.nt[i], obs.z[i]);
            let wz = obs.w[i] * z;
            let wzz = wz * z;
            for k in 0..LANES {
                let (_, mu, var) = F::terms(y, nt, oi[k] + z * u[k]);
                g[k] += wz * (y - mu);
                h[k] += wzz * var;
            }
        }
        for k in 0..LANES {
            u[k] += (g[k] / h[k]).clamp(-MAX_STEP, MAX_STEP);
        }
        *tau2 = h;
    }
}

/// Per-node quantities of one conditional integral for a lane group (scratch, reused).
#[derive(Debug, Clone, Default)]
pub(crate) struct LaneNodes {
    /// Node positions `u_k`.
    pub u: Vec<Lane>,
    /// Posterior weights `pi_k` (sum 1 in each lane).
    pub pi: Vec<Lane>,
    /// `c'(eta_ik)`, node-major (`k * n_j + i`).
    pub mu: Vec<Lane>,
    /// `c''(eta_ik)`, node-major.
    pub var: Vec<Lane>,
}

/// [`integrate`] for a lane group: `log A_j` per draw into `out`, nodes into `nodes`.
/// The same operations per draw as [`integrate`], except that the exponentials
/// and logarithms of the normalisation are the vectorisable ones of `mcla_math`
/// (about 1 ulp, as `std`'s).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn integrate_lanes<F: Link>(
    rule: &Rule,
    obs: &EffectObs<'_>,
    o: &[Lane],
    nu: f64,
    centre: &Lane,
    tau2: &Lane,
    nodes: &mut LaneNodes,
    out: &mut Lane,
) {
    let (kk, nj) = (rule.len(), o.len());
    nodes.u.resize(kk, [0.0; LANES]);
    nodes.pi.resize(kk, [0.0; LANES]);
    nodes.mu.resize(kk * nj, [0.0; LANES]);
    nodes.var.resize(kk * nj, [0.0; LANES]);
    let mut scale = [0.0; LANES];
    for k in 0..LANES {
        scale[k] = std::f64::consts::SQRT_2 / tau2[k].sqrt();
    }
    let mut top = [f64::NEG_INFINITY; LANES];
    for n in 0..kk {
        let (xn, lwn) = (rule.x[n], rule.log_w[n]);
        let mut un = [0.0; LANES];
        let mut h = [0.0; LANES];
        for k in 0..LANES {
            un[k] = centre[k] + scale[k] * xn;
            h[k] = -0.5 * un[k] * un[k] / nu;
        }
        let (mu, var) = (
            &mut nodes.mu[n * nj..(n + 1) * nj],
            &mut nodes.var[n * nj..(n + 1) * nj],
        );
        for (i, oi) in o.iter().enumerate() {
            let (y, nt, z, w) = (obs.y[i], obs.nt[i], obs.z[i], obs.w[i]);
            let (mi, vi) = (&mut mu[i], &mut var[i]);
            for k in 0..LANES {
                let (ll, m, v) = F::terms(y, nt, oi[k] + z * un[k]);
                h[k] += w * ll;
                mi[k] = m;
                vi[k] = v;
            }
        }
        let pn = &mut nodes.pi[n];
        for k in 0..LANES {
            let t = lwn + h[k];
            pn[k] = t;
            top[k] = top[k].max(t);
        }
        nodes.u[n] = un;
    }
    let mut sum = [0.0; LANES];
    for pn in nodes.pi.iter_mut() {
        for k in 0..LANES {
            let e = mcla_math::exp(pn[k] - top[k]);
            pn[k] = e;
            sum[k] += e;
        }
    }
    for pn in nodes.pi.iter_mut() {
        for k in 0..LANES {
            pn[k] /= sum[k];
        }
    }
    let c = -0.5 * (2.0 * std::f64::consts::PI * nu).ln();
    for k in 0..LANES {
        out[k] = c + ln_pos(scale[k]) + top[k] + ln_pos(sum[k]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: the same integral by a 200-point rule around the precise mode.
    fn reference(family: Family, obs: &EffectObs<'_>, o: &[f64], nu: f64) -> f64 {
        let rule = Rule::new(200).unwrap();
        let (c, t) = mode_precise(family, obs, o, nu, 0.0);
        integrate(family, &rule, obs, o, nu, c, t, &mut Nodes::default())
    }

    #[test]
    fn conditional_integrals_match_high_order_quadrature() {
        let y = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
        let w = [1.0, 2.0, 0.5, 1.0, 1.0, 1.5];
        let nt = [1.0; 6];
        let z = [1.0, 1.0, 0.5, 1.0, 2.0, 1.0];
        let o = [0.3, -0.2, 1.1, 0.0, -0.7, 0.4];
        let obs = EffectObs {
            y: &y,
            w: &w,
            nt: &nt,
            z: &z,
        };
        for (fam, nu) in [
            (Family::Bernoulli, 1.3),
            (Family::Poisson, 0.4),
            (Family::Bernoulli, 0.01),
        ] {
            let yy: Vec<f64> = if fam == Family::Poisson {
                vec![3.0, 0.0, 7.0, 2.0, 1.0, 4.0]
            } else {
                y.to_vec()
            };
            let obs = EffectObs { y: &yy, ..obs };
            let exact = reference(fam, &obs, &o, nu);
            let mut prev = f64::INFINITY;
            for k in [5, 10, 15, 25, 40] {
                let (c, t) = mode_precise(fam, &obs, &o, nu, 0.0);
                let v = integrate(
                    fam,
                    &Rule::new(k).unwrap(),
                    &obs,
                    &o,
                    nu,
                    c,
                    t,
                    &mut Nodes::default(),
                );
                let err = (v - exact).abs();
                if k >= 40 {
                    assert!(err < 1e-10, "{fam:?} K = {k}: error {err:e}");
                }
                assert!(
                    err <= prev.max(1e-13),
                    "{fam:?}: error must shrink with K ({k}: {err:e} after {prev:e})"
                );
                prev = err;
            }
        }
    }

    #[test]
    fn fixed_newton_steps_reach_the_precise_mode_from_a_near_start() {
        let y = [3.0, 5.0, 4.0];
        let (w, nt, z) = ([1.0; 3], [1.0; 3], [1.0; 3]);
        let o = [1.0, 1.2, 0.9];
        let obs = EffectObs {
            y: &y,
            w: &w,
            nt: &nt,
            z: &z,
        };
        let (c, _) = mode_precise(Family::Poisson, &obs, &o, 0.5, 0.0);
        let (c3, _) = mode_fixed(Family::Poisson, &obs, &o, 0.5, c + 0.05, 3);
        assert!((c3 - c).abs() < 1e-9, "{c3} vs {c}");
    }
}
