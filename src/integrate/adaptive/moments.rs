//! Posterior moments of the block's effects given y at theta (for `ranef`):
//! Rao–Blackwellised over the draws, the integrated effects (1-D and subtrees) from their
//! node moments.

use super::super::conditional;
use super::block::{AdaptiveBlock, ADAPTIVE_CHUNK, LN_2PI};
use super::scratch::Scratch;

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
        let (p, ns, ni) = (self.p, self.n_s(), self.n_i());
        let nu = &theta[p..];
        let xb = self.x_beta(&theta[..p]);
        let mut s = Scratch::default();
        let prop = if ns > 0 {
            Some(self.proposal(theta, None, &mut s)?)
        } else {
            None
        };
        let draws = if ns > 0 { self.m } else { 1 };
        // per draw: log weight, then (mean, second moment) of every effect (I then S)
        let q = self.n_modes() + ns;
        let mut lw = Vec::with_capacity(draws);
        let mut m1 = Vec::with_capacity(draws * q);
        let mut m2 = Vec::with_capacity(draws * q);
        let mut o = Vec::new();
        let mut zc = Vec::new();
        for c in 0..draws.div_ceil(ADAPTIVE_CHUNK) {
            let len = ADAPTIVE_CHUNK.min(draws - c * ADAPTIVE_CHUNK);
            if ns > 0 {
                self.z_draws.fill(c, c * ADAPTIVE_CHUNK, len, &mut zc);
            }
            for kc in 0..len {
                let mut logw = 0.0;
                s.us.clear();
                if let Some(pr) = &prop {
                    let l = &pr.l;
                    let z = &zc[kc * ns..(kc + 1) * ns];
                    let mut b = vec![0.0; ns];
                    for r in (0..ns).rev() {
                        let mut acc = z[r];
                        for cc in r + 1..ns {
                            acc -= l[cc * ns + r] * b[cc];
                        }
                        b[r] = acc / l[r * ns + r];
                    }
                    s.us.extend(pr.v.iter().zip(&b).map(|(v, b)| v + b));
                    let zz: f64 = z.iter().map(|v| v * v).sum();
                    logw += 0.5 * zz + 0.5 * ns as f64 * LN_2PI - pr.logdet;
                    for k in 0..ns {
                        let nuk = nu[self.s_comp[k]];
                        logw += -0.5 * (LN_2PI + nuk.ln()) - 0.5 * s.us[k] * s.us[k] / nuk;
                    }
                }
                self.offsets(&xb, &s.us, &mut o);
                for i in self.i_ptr[ni]..self.n() {
                    logw += self.w[i]
                        * conditional::obs_terms(self.family, self.y[i], self.nt[i], o[i]).0;
                }
                for j in 0..ni {
                    let (obs, r) = self.effect_obs(j);
                    let oj = &o[r.clone()];
                    let nuj = nu[self.i_comp[j]];
                    let (cen, t2) = match &prop {
                        Some(pr) => {
                            let mut u0 = pr.u_mode[j];
                            for i in r.clone() {
                                u0 -= pr.wc[i] * (o[i] - pr.o[i]) / pr.tau2[j];
                            }
                            conditional::mode_fixed(
                                self.family,
                                &obs,
                                oj,
                                nuj,
                                u0,
                                self.settings.newton_steps,
                            )
                        }
                        None => conditional::mode_precise(self.family, &obs, oj, nuj, 0.0),
                    };
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
                if let Some(pr) = &prop {
                    for st in &self.subtrees {
                        let us = &s.us;
                        logw +=
                            st.moments(theta, |q| us[q], &pr.u_mode, &mut s.ext, &mut s.tree)?;
                        m1.extend_from_slice(&s.tree.m1);
                        m2.extend_from_slice(&s.tree.m2);
                    }
                }
                for k in 0..ns {
                    m1.push(s.us[k]);
                    m2.push(s.us[k] * s.us[k]);
                }
                lw.push(logw);
            }
        }
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
}
