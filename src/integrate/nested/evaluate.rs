//! One evaluation of a nested block: the recursion over the tree from the leaves up (value,
//! gradient and Hessian in theta), the conditional moments of the effects, and the
//! [`BlockIntegrator`] implementation.

use super::super::McEvaluation;
use super::super::{symmetrise, BlockIntegrator, BlockMethod, BlockMoments, BlockSummary};
use super::block::{Centre, CentreScratch, NestedBlock};

const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Per-level buffers of the recursion (one set per level of the tree, reused by every node
/// of the level): no allocation inside the recursion.  First moments are kept for all `d`
/// coordinates, second moments (`E[∂²] + Cov`) for the `d2` coordinates `lo..lo + d2` only.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    k: usize,
    d: usize,
    lo: usize,
    d2: usize,
    /// The current path: `u` and `u - mode` of the node at each level.
    u: Vec<f64>,
    delta: Vec<f64>,
    /// Per level and node point: log weight, subtree score, subtree `E[∂²] + Cov` so far.
    la: Vec<f64>,
    mu: Vec<f64>,
    g: Vec<f64>,
    /// Result of the node last finished at each level.
    res_log: Vec<f64>,
    res_m: Vec<f64>,
    res_g: Vec<f64>,
    /// Per node, its active coordinates within `lo..lo + d2`, as offsets from `lo`
    /// (`a2_ptr[v]..a2_ptr[v + 1]` of `a2`).
    a2_ptr: Vec<usize>,
    a2: Vec<usize>,
}

impl Scratch {
    /// Size the buffers for `nb` (its levels, points and coordinates) with second moments
    /// over the coordinates `second`, reusing the allocations, and index each node's active
    /// coordinates within that range.
    pub(super) fn prepare(&mut self, nb: &NestedBlock, second: std::ops::Range<usize>) {
        let (levels, k, d) = (nb.depth(), nb.rule.len(), nb.d);
        let (lo, d2) = (second.start, second.len());
        (self.k, self.d, self.lo, self.d2) = (k, d, lo, d2);
        for (v, len) in [
            (&mut self.u, levels),
            (&mut self.delta, levels),
            (&mut self.la, levels * k),
            (&mut self.mu, levels * k * d),
            (&mut self.g, levels * k * d2 * d2),
            (&mut self.res_log, levels),
            (&mut self.res_m, levels * d),
            (&mut self.res_g, levels * d2 * d2),
        ] {
            v.clear();
            v.resize(len, 0.0);
        }
        self.a2_ptr.clear();
        self.a2.clear();
        self.a2_ptr.push(0);
        for v in 0..nb.tree.len() {
            self.a2.extend(
                nb.active(v)
                    .iter()
                    .filter(|&&j| second.contains(&j))
                    .map(|&j| j - lo),
            );
            self.a2_ptr.push(self.a2.len());
        }
    }

    /// The root's log integral, first moments (`d`) and second moments (`d2 x d2`) after
    /// a recursion.
    pub(crate) fn root(&self) -> (f64, &[f64], &[f64]) {
        (
            self.res_log[0],
            &self.res_m[..self.d],
            &self.res_g[..self.d2 * self.d2],
        )
    }
}

/// Zero the entries `act` of the first moments `m` and `a2 x a2` of the `d2 x d2` second
/// moments `g` (the only ones a node reads).
#[inline]
fn clear_active(m: &mut [f64], act: &[usize], g: &mut [f64], a2: &[usize], d2: usize) {
    for &j in act {
        m[j] = 0.0;
    }
    for &r in a2 {
        for &c in a2 {
            g[r * d2 + c] = 0.0;
        }
    }
}

/// `log sum_k exp(l_k)`, or `None` when it is not finite.
fn log_sum_exp(l: &[f64]) -> Option<f64> {
    let a = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = l.iter().map(|x| (x - a).exp()).sum();
    (a.is_finite() && sum > 0.0).then(|| a + sum.ln())
}

impl NestedBlock {
    /// Node `v`'s constant part of every point's log weight at theta: the rule's scaling
    /// `log(sqrt(2) / L_vv)` and the prior's `-log(2 pi nu) / 2`.
    fn own_const(&self, v: usize, theta: &[f64], centre: &Centre) -> f64 {
        let nu = theta[self.p + self.comp[v]];
        let ljj = centre.chol[self.path_ptr[v] + self.tree.level[v]];
        std::f64::consts::SQRT_2.ln() - ljj.ln() - 0.5 * (LN_2PI + nu.ln())
    }

    /// Linear predictor of local observation `i` given the effects on its path (`u_path`, by
    /// level).
    #[inline]
    fn eta(&self, i: usize, xb: &[f64], u_path: &[f64]) -> f64 {
        let mut eta = xb[i];
        for e in self.z_ptr[i]..self.z_ptr[i + 1] {
            eta += self.z_val[e] * u_path[self.z_lev[e]];
        }
        eta
    }

    /// `u` and `u - mode` of node `v` at standard point `z`, given the path above it in `s`.
    #[inline]
    fn point(&self, v: usize, centre: &Centre, z: f64, delta: &[f64]) -> (f64, f64) {
        let (off, lev) = (self.path_ptr[v], self.tree.level[v]);
        let mut r = z;
        for l in 0..lev {
            r -= centre.chol[off + l] * delta[l];
        }
        let dv = r / centre.chol[off + lev];
        (centre.u[v] + dv, dv)
    }

    /// Integrate node `v`'s subtree given the path above it (in `s`); the result goes to
    /// `s.res_*[level(v)]`.  False where something is not finite.
    pub(super) fn node(
        &self,
        v: usize,
        theta: &[f64],
        xb: &[f64],
        centre: &Centre,
        s: &mut Scratch,
    ) -> bool {
        let (p, d, k) = (self.p, s.d, s.k);
        let (lo, d2) = (s.lo, s.d2);
        let hi = lo + d2;
        let lev = self.tree.level[v];
        let fam = self.family;
        let c = self.comp[v];
        let nu = theta[p + c];
        let own_const = self.own_const(v, theta, centre);
        let nu_in = (lo..hi).contains(&(p + c));
        let act = self.active(v);
        let (a2s, a2e) = (s.a2_ptr[v], s.a2_ptr[v + 1]);
        for kk in 0..k {
            let z = std::f64::consts::SQRT_2 * self.rule.x[kk];
            let (u, dv) = self.point(v, centre, z, &s.delta);
            s.u[lev] = u;
            s.delta[lev] = dv;
            let base = lev * k + kk;
            let mu = base * d;
            let gg = base * d2 * d2;
            let mut la = self.rule.log_w[kk] + own_const - u * u / (2.0 * nu);
            clear_active(&mut s.mu[mu..], act, &mut s.g[gg..], &s.a2[a2s..a2e], d2);
            s.mu[mu + p + c] += u * u / (2.0 * nu * nu) - 0.5 / nu;
            if nu_in {
                let e = p + c - lo;
                s.g[gg + e * d2 + e] += 0.5 / (nu * nu) - u * u / (nu * nu * nu);
            }
            for i in self.obs_ptr[v]..self.obs_ptr[v + 1] {
                let eta = self.eta(i, xb, &s.u);
                let (wi, yi, nti) = (self.w[i], self.y[i], self.nt[i]);
                let (ll, mean, var) = super::super::conditional::obs_terms(fam, yi, nti, eta);
                la += wi * ll;
                let r = wi * (yi - mean);
                let wc = wi * var;
                let xr = self.xnz_ptr[i]..self.xnz_ptr[i + 1];
                for e in xr.clone() {
                    let (a, xa) = (self.xnz_col[e], self.xnz_val[e]);
                    s.mu[mu + a] += xa * r;
                    if a < lo || a >= hi {
                        continue;
                    }
                    let wa = wc * xa;
                    for e2 in xr.clone() {
                        let b = self.xnz_col[e2];
                        if b >= lo && b < hi {
                            s.g[gg + (a - lo) * d2 + b - lo] -= wa * self.xnz_val[e2];
                        }
                    }
                }
            }
            for &ch in self.tree.children(v) {
                if !self.node(ch, theta, xb, centre, s) {
                    return false;
                }
                let cl = lev + 1;
                la += s.res_log[cl];
                for &j in self.active(ch) {
                    s.mu[mu + j] += s.res_m[cl * d + j];
                }
                let (c2s, c2e) = (s.a2_ptr[ch], s.a2_ptr[ch + 1]);
                let cg = cl * d2 * d2;
                for x in c2s..c2e {
                    let r = s.a2[x] * d2;
                    for y in c2s..c2e {
                        let e = r + s.a2[y];
                        s.g[gg + e] += s.res_g[cg + e];
                    }
                }
            }
            if !la.is_finite() {
                return false;
            }
            s.la[base] = la;
        }
        // combine the node's points
        let Some(log_i) = log_sum_exp(&s.la[lev * k..(lev + 1) * k]) else {
            return false;
        };
        let (rm, rg) = (lev * d, lev * d2 * d2);
        clear_active(
            &mut s.res_m[rm..],
            act,
            &mut s.res_g[rg..],
            &s.a2[a2s..a2e],
            d2,
        );
        for kk in 0..k {
            let wk = (s.la[lev * k + kk] - log_i).exp();
            let mu = (lev * k + kk) * d;
            for &j in act {
                s.res_m[rm + j] += wk * s.mu[mu + j];
            }
        }
        for kk in 0..k {
            let wk = (s.la[lev * k + kk] - log_i).exp();
            let base = lev * k + kk;
            let (mu, gg) = (base * d, base * d2 * d2);
            for x in a2s..a2e {
                let r = s.a2[x];
                let dr = s.mu[mu + lo + r] - s.res_m[rm + lo + r];
                for y in a2s..=x {
                    let cc = s.a2[y];
                    let dc = s.mu[mu + lo + cc] - s.res_m[rm + lo + cc];
                    s.res_g[rg + r * d2 + cc] += wk * (s.g[gg + r * d2 + cc] + dr * dc);
                }
            }
        }
        for x in a2s..a2e {
            let r = s.a2[x];
            for y in a2s..x {
                let cc = s.a2[y];
                s.res_g[rg + cc * d2 + r] = s.res_g[rg + r * d2 + cc];
            }
        }
        s.res_log[lev] = log_i;
        true
    }

    /// Value (without the data constants), gradient and Hessian of the block's
    /// log-likelihood at theta.
    pub(super) fn evaluate_nested(&self, theta: &[f64]) -> Option<McEvaluation> {
        let d = self.d;
        let xb = self.x_beta(&theta[..self.p]);
        let centre = self.centre(theta, &xb)?;
        let mut s = Scratch::default();
        s.prepare(self, 0..d);
        if !self.node(0, theta, &xb, &centre, &mut s) {
            return None;
        }
        let value = s.res_log[0];
        let gradient = s.res_m[..d].to_vec();
        let mut hessian = s.res_g[..d * d].to_vec();
        symmetrise(&mut hessian, d);
        if !value.is_finite() || gradient.iter().chain(&hessian).any(|v| !v.is_finite()) {
            return None;
        }
        Some(McEvaluation {
            value,
            gradient: gradient.clone(),
            hessian,
            blocks: vec![BlockSummary {
                log_max: value,
                sum_w: 1.0,
                value,
                mean_gradient: gradient,
                ess: f64::INFINITY,
                draws: 0,
                loglik_var: 0.0,
                method: BlockMethod::NestedQuadrature,
                mc_v: Vec::new(),
            }],
            mc_v: vec![0.0; d * d],
        })
    }

    /// `(log integral, E[u_j - mode_j], E[(u_j - mode_j)^2])` of node `v`'s subtree (nodes `v..v + size[v]`)
    /// given the path above it.  Allocates per call: used once per fit, for `ranef`.
    pub(super) fn node_moments(
        &self,
        v: usize,
        theta: &[f64],
        xb: &[f64],
        centre: &Centre,
        u_path: &mut Vec<f64>,
        delta: &mut Vec<f64>,
    ) -> Option<(f64, Vec<f64>, Vec<f64>)> {
        let (p, lev, size) = (self.p, self.tree.level[v], self.tree.size[v]);
        let fam = self.family;
        let nu = theta[p + self.comp[v]];
        let own_const = self.own_const(v, theta, centre);
        let k = self.rule.len();
        let mut las = Vec::with_capacity(k);
        let mut e1 = vec![vec![0.0; size]; k];
        let mut e2 = vec![vec![0.0; size]; k];
        for kk in 0..k {
            let z = std::f64::consts::SQRT_2 * self.rule.x[kk];
            let (u, dv) = self.point(v, centre, z, delta);
            u_path[lev] = u;
            delta[lev] = dv;
            let mut la = self.rule.log_w[kk] + own_const - u * u / (2.0 * nu);
            for i in self.obs_ptr[v]..self.obs_ptr[v + 1] {
                let eta = self.eta(i, xb, u_path);
                la += self.w[i] * fam.log_density_kernel(self.y[i], eta, self.nt[i]);
            }
            e1[kk][0] = dv;
            e2[kk][0] = dv * dv;
            for &ch in self.tree.children(v) {
                let (l, m1, m2) = self.node_moments(ch, theta, xb, centre, u_path, delta)?;
                la += l;
                let off = ch - v;
                e1[kk][off..off + m1.len()].copy_from_slice(&m1);
                e2[kk][off..off + m2.len()].copy_from_slice(&m2);
            }
            las.push(la);
        }
        let log_i = log_sum_exp(&las)?;
        let (mut m1, mut m2) = (vec![0.0; size], vec![0.0; size]);
        for kk in 0..k {
            let wk = (las[kk] - log_i).exp();
            for j in 0..size {
                m1[j] += wk * e1[kk][j];
                m2[j] += wk * e2[kk][j];
            }
        }
        Some((log_i, m1, m2))
    }
}

impl NestedBlock {
    /// The joint mode at theta (from `start`, into `cs`) and the moments about it of every
    /// node, `(log integral, E[u_v - mode_v], E[(u_v - mode_v)^2])`, with `x'beta` into `xb`.
    pub(super) fn centred_moments(
        &self,
        theta: &[f64],
        start: &[f64],
        xb: &mut Vec<f64>,
        cs: &mut CentreScratch,
    ) -> Option<(f64, Vec<f64>, Vec<f64>)> {
        self.x_beta_into(&theta[..self.p], xb);
        if !self.centre_into(&theta[self.p..], xb, start, cs) {
            return None;
        }
        let levels = self.depth();
        self.node_moments(
            0,
            theta,
            xb,
            &cs.centre,
            &mut vec![0.0; levels],
            &mut vec![0.0; levels],
        )
    }
}

impl BlockIntegrator for NestedBlock {
    fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation> {
        self.evaluate_nested(theta)
    }
    fn with_fewer_draws(&self, _k: usize) -> Option<Box<dyn BlockIntegrator + '_>> {
        Some(Box::new(self.clone()))
    }
    fn draws(&self) -> usize {
        0
    }
    fn hessian_is_exact(&self) -> bool {
        // E[∂²] + Cov over the nested rule: the Hessian of the integral
        true
    }
    fn posterior_moments(&self, theta: &[f64]) -> Option<Vec<BlockMoments>> {
        let mut cs = CentreScratch::default();
        let (_, m1, m2) = self.centred_moments(theta, &self.u_start, &mut Vec::new(), &mut cs)?;
        let centre = &cs.centre;
        let q = self.tree.len();
        let mut out = BlockMoments {
            mean: vec![0.0; q],
            sd: vec![0.0; q],
            mcse: vec![0.0; q],
        };
        for v in 0..q {
            let e = self.tree.effect[v];
            out.mean[e] = centre.u[v] + m1[v];
            out.sd[e] = (m2[v] - m1[v] * m1[v]).max(0.0).sqrt();
        }
        Some(vec![out])
    }
}
