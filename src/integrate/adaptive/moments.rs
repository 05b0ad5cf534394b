//! Posterior moments of the block's effects given y at theta (for `ranef`):
//! Rao–Blackwellised over the draws, the integrated effects (1-D and subtrees) from their
//! node moments.

use super::super::conditional::{self, LogLink, Logit, LANES};
use super::block::{AdaptiveBlock, ADAPTIVE_CHUNK};
use super::lanes::moments_dispatch;
use super::scratch::Scratch;
use crate::model::family::Family;
use rayon::prelude::*;

impl AdaptiveBlock {
    /// Conditional means, standard deviations and Monte Carlo standard errors of the
    /// means of the block's effects given y at theta (lme4's `ranef` with `condVar`), in
    /// the order of `block_effects` (the block's global effect indices).  Integrated
    /// effects use the posterior moments on their quadrature nodes per draw
    /// (Rao–Blackwellised); separator effects the draws themselves; weights are the
    /// normalised importance weights, and the MCSE of a mean is the delta-method
    /// `sqrt(sum_k v_k^2 (m_k - mean)^2)`.  Exact blocks: MCSE 0.
    pub fn posterior_moments(
        &self,
        theta: &[f64],
        block_effects: &[usize],
    ) -> Option<crate::integrate::BlockMoments> {
        let ns = self.n_s();
        let xb = self.x_beta(&theta[..self.p]);
        // per draw: log weight, then (mean, second moment) of every effect (I then S)
        let q = self.n_modes() + ns;
        let (lw, m1, m2) = if ns == 0 {
            self.moments_exact(theta, &xb)
        } else {
            self.moments_sampled(theta, &xb)?
        };
        let a = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !a.is_finite() {
            return None;
        }
        let w: Vec<f64> = lw.iter().map(|l| (l - a).exp()).collect();
        let sw: f64 = w.iter().sum();
        let mut mean = vec![0.0; q];
        let mut sec = vec![0.0; q];
        for (k, wk) in w.iter().enumerate() {
            for e in 0..q {
                mean[e] += wk / sw * m1[k * q + e];
                sec[e] += wk / sw * m2[k * q + e];
            }
        }
        let mut mcse = vec![0.0; q];
        if ns > 0 {
            for (k, wk) in w.iter().enumerate() {
                let v = wk / sw;
                for e in 0..q {
                    mcse[e] += v * v * (m1[k * q + e] - mean[e]).powi(2);
                }
            }
        }
        // local order of the block
        let global: Vec<usize> = self
            .integrated_effects
            .iter()
            .chain(&self.s_effects)
            .copied()
            .collect();
        let mut out = crate::integrate::BlockMoments {
            mean: vec![0.0; block_effects.len()],
            sd: vec![0.0; block_effects.len()],
            mcse: vec![0.0; block_effects.len()],
        };
        for (e, g) in global.iter().enumerate() {
            let l = block_effects.iter().position(|x| x == g)?;
            out.mean[l] = mean[e];
            out.sd[l] = (sec[e] - mean[e] * mean[e]).max(0.0).sqrt();
            out.mcse[l] = mcse[e].sqrt();
        }
        Some(out)
    }
    /// The single "draw" of an exact block: `log h` and the effects' node moments.
    fn moments_exact(&self, theta: &[f64], xb: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let nu = &theta[self.p..];
        let mut s = Scratch::default();
        let mut o = Vec::new();
        self.offsets(xb, &[], &mut o);
        let mut logw = 0.0;
        for i in self.i_ptr[self.n_i()]..self.n() {
            logw += self.w[i] * conditional::obs_terms(self.family, self.y[i], self.nt[i], o[i]).0;
        }
        let (mut m1, mut m2) = (Vec::new(), Vec::new());
        for j in 0..self.n_i() {
            let (obs, r) = self.effect_obs(j);
            let oj = &o[r];
            let nuj = nu[self.i_comp[j]];
            let (cen, t2) = conditional::mode_precise(self.family, &obs, oj, nuj, 0.0);
            logw += conditional::integrate(
                self.family,
                &self.rule,
                &obs,
                oj,
                nuj,
                cen,
                t2,
                &mut s.nodes,
            );
            let (mut e1, mut e2) = (0.0, 0.0);
            for n in 0..self.rule.len() {
                let u = s.nodes.u[n];
                e1 += s.nodes.pi[n] * u;
                e2 += s.nodes.pi[n] * u * u;
            }
            m1.push(e1);
            m2.push(e2);
        }
        (vec![logw], m1, m2)
    }

    /// The draws of a sampled block in chunks (in parallel, concatenated in draw order: the
    /// same for any thread count), each in lane groups by
    /// [`group_moments`](Self::group_moments): per draw the log weight and the effects'
    /// conditional first and second moments (draw-major, `q` per draw).
    pub(super) fn moments_sampled(
        &self,
        theta: &[f64],
        xb: &[f64],
    ) -> Option<(Vec<f64>, Vec<f64>, Vec<f64>)> {
        let ns = self.n_s();
        let q = self.n_modes() + ns;
        let prop = self.proposal(theta, None, &mut Scratch::default())?;
        let isa = mcla_math::active_isa();
        let chunks: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = (0..self.m.div_ceil(ADAPTIVE_CHUNK))
            .into_par_iter()
            .map_init(
                || (Scratch::default(), Vec::new(), Vec::new()),
                |(s, e1, e2), c| {
                    let start = c * ADAPTIVE_CHUNK;
                    let len = ADAPTIVE_CHUNK.min(self.m - start);
                    let mut zc = std::mem::take(&mut s.z);
                    self.z_draws.fill(c, start, len, &mut zc);
                    let (mut lw, mut m1, mut m2) = (
                        Vec::with_capacity(len),
                        vec![0.0; len * q],
                        vec![0.0; len * q],
                    );
                    let ls = &mut s.lanes;
                    let mut done = 0;
                    while done < len {
                        let gl = LANES.min(len - done);
                        ls.load_draws(&zc, ns, done, gl);
                        match self.family {
                            Family::Bernoulli | Family::Binomial => {
                                moments_dispatch::<Logit>(isa, self, theta, xb, &prop, ls, e1, e2)
                            }
                            Family::Poisson => {
                                moments_dispatch::<LogLink>(isa, self, theta, xb, &prop, ls, e1, e2)
                            }
                        }
                        for k in 0..gl {
                            lw.push(ls.lw[k]);
                            let row = (done + k) * q;
                            for e in 0..q {
                                m1[row + e] = e1[e][k];
                                m2[row + e] = e2[e][k];
                            }
                        }
                        done += gl;
                    }
                    s.z = zc;
                    (lw, m1, m2)
                },
            )
            .collect();
        let (mut lw, mut m1, mut m2) = (Vec::new(), Vec::new(), Vec::new());
        for (l, a, b) in chunks {
            lw.extend(l);
            m1.extend(a);
            m2.extend(b);
        }
        Some((lw, m1, m2))
    }
}
