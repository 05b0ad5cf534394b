//! The draws of one chunk (SPEC §12 c, d): the chunk's standard draws
//! ([`standard_draws`](crate::integrate::standard_draws)),
//! `u_S = v* + L^{-T} z`, and per draw the log weight and scores — one draw at a time
//! ([`AdaptiveBlock::draw_terms`], the exact path and the lanes' reference) or in lane groups.

use super::super::conditional::{self, LogLink, Logit, LANES};
use super::block::AdaptiveBlock;
use super::block::{ADAPTIVE_CHUNK, LN_2PI};
use super::lanes::group_dispatch;
use super::proposal::{Proposal, ProposalDerivs};
use super::scratch::{ChunkOut, LaneScratch, Scratch};
use super::subtree::Second;
use crate::model::family::Family;

impl AdaptiveBlock {
    /// One draw (or, for an exact block, the single evaluation): `log h`, partial
    /// scores into `s.part`, gradient in u_S into `s.g`, `∂² log h` into `s.hk`.
    pub(super) fn draw_terms(
        &self,
        theta: &[f64],
        xb: &[f64],
        prop: Option<&Proposal>,
        s: &mut Scratch,
    ) -> f64 {
        let (p, d, ns) = (self.p, self.d, self.n_s());
        let nu = &theta[p..];
        s.part.clear();
        s.part.resize(d, 0.0);
        s.g.clear();
        s.g.resize(ns, 0.0);
        s.hk.clear();
        s.hk.resize(d * d, 0.0);
        let mut lw = 0.0;
        let mut o = std::mem::take(&mut s.o);
        self.offsets(xb, &s.us, &mut o);
        for k in 0..ns {
            let t = self.s_comp[k];
            let (nuk, u) = (nu[t], s.us[k]);
            lw += -0.5 * (LN_2PI + nuk.ln()) - 0.5 * u * u / nuk;
            s.part[p + t] += 0.5 * u * u / (nuk * nuk) - 0.5 / nuk;
            s.g[k] -= u / nuk;
            s.hk[(p + t) * d + p + t] += 0.5 / (nuk * nuk) - u * u / (nuk * nuk * nuk);
        }
        let n_iobs = self.i_ptr[self.n_i()];
        for i in n_iobs..self.n() {
            let (ll, mu, var) = conditional::obs_terms(self.family, self.y[i], self.nt[i], o[i]);
            lw += self.w[i] * ll;
            let res = self.w[i] * (self.y[i] - mu);
            self.add_obs(i, res, self.w[i] * var, s);
        }
        let kk = self.rule.len();
        for j in 0..self.n_i() {
            let (obs, r) = self.effect_obs(j);
            let oj = &o[r.clone()];
            let t = self.i_comp[j];
            let nuj = nu[t];
            let (c, t2) = match prop {
                Some(pr) => {
                    let u0 = self.response_start(pr, j, &o);
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
            lw +=
                conditional::integrate(self.family, &self.rule, &obs, oj, nuj, c, t2, &mut s.nodes);
            let nj = r.len();
            let mut emu = std::mem::take(&mut s.emu);
            emu.clear();
            emu.resize(nj, 0.0);
            let mut eu2 = 0.0;
            {
                let nodes = &s.nodes;
                for n in 0..kk {
                    let pn = nodes.pi[n];
                    eu2 += pn * nodes.u[n] * nodes.u[n];
                    for ii in 0..nj {
                        emu[ii] += pn * nodes.mu[n * nj + ii];
                    }
                }
            }
            let mut vu2 = 0.0;
            for n in 0..kk {
                let du = s.nodes.u[n] * s.nodes.u[n] - eu2;
                vu2 += s.nodes.pi[n] * du * du;
            }
            for (ii, i) in r.clone().enumerate() {
                let mut ev = 0.0;
                for n in 0..kk {
                    ev += s.nodes.pi[n] * s.nodes.var[n * nj + ii];
                }
                let res = self.w[i] * (self.y[i] - emu[ii]);
                self.add_obs(i, res, self.w[i] * ev, s);
            }
            let nu2 = nuj * nuj;
            s.part[p + t] += 0.5 * eu2 / nu2 - 0.5 / nuj;
            s.hk[(p + t) * d + p + t] += 0.5 / nu2 - eu2 / (nu2 * nuj) + 0.25 * vu2 / (nu2 * nu2);
            // Cov of the beta score over the nodes, and with u^2 / (2 nu^2):
            // r_n - E r = -delta_n, delta_n = sum_i w_i x_i (mu_in - E mu_i).
            s.delta.clear();
            s.delta.resize(p, 0.0);
            for n in 0..kk {
                s.delta.iter_mut().for_each(|v| *v = 0.0);
                for (ii, i) in r.clone().enumerate() {
                    let dm = self.w[i] * (s.nodes.mu[n * nj + ii] - emu[ii]);
                    let xr = &self.x[i * p..(i + 1) * p];
                    for a in 0..p {
                        s.delta[a] += dm * xr[a];
                    }
                }
                let pn = s.nodes.pi[n];
                let du = (s.nodes.u[n] * s.nodes.u[n] - eu2) / (2.0 * nu2);
                for a in 0..p {
                    let da = pn * s.delta[a];
                    for b in 0..p {
                        s.hk[a * d + b] += da * s.delta[b];
                    }
                    s.hk[a * d + p + t] -= da * du;
                    s.hk[(p + t) * d + a] -= da * du;
                }
            }
            s.emu = emu;
        }
        s.o = o;
        // the subtrees (only with a separator, hence a proposal)
        if let Some(pr) = prop {
            for st in &self.subtrees {
                let us = &s.us;
                let Some(r) = st.integrate(
                    theta,
                    |q| us[q],
                    &pr.u_mode,
                    Second::Theta,
                    &mut s.ext,
                    &mut s.tree,
                ) else {
                    return f64::NAN;
                };
                lw += r.log;
                for (p, &x) in s.part.iter_mut().zip(r.theta_score) {
                    *p += x;
                }
                for (&k, &x) in st.touch.iter().zip(r.us_score) {
                    s.g[k] += x;
                }
                for (h, &x) in s.hk.iter_mut().zip(r.second) {
                    *h += x;
                }
            }
        }
        lw
    }

    /// Add observation `i`'s residual `res = w (y - E mu)` and weighted variance `wv` to
    /// the partial scores, the u_S gradient and `∂² log h`.
    #[inline]
    pub(super) fn add_obs(&self, i: usize, res: f64, wv: f64, s: &mut Scratch) {
        let (p, d) = (self.p, self.d);
        let xr = &self.x[i * p..(i + 1) * p];
        for a in 0..p {
            s.part[a] += res * xr[a];
            let wa = wv * xr[a];
            for b in 0..p {
                s.hk[a * d + b] -= wa * xr[b];
            }
        }
        for e in self.s_ptr[i]..self.s_ptr[i + 1] {
            s.g[self.s_idx[e]] += res * self.s_val[e];
        }
    }

    /// One chunk of draws: the chunk's standard draws, evaluated in lane groups
    /// of [`LANES`] draws by [`group_terms`](Self::group_terms) (the same operations
    /// per draw as [`draw_terms`](Self::draw_terms)).
    pub(super) fn chunk(
        &self,
        theta: &[f64],
        xb: &[f64],
        prop: &Proposal,
        derivs: &ProposalDerivs,
        c: usize,
        m: usize,
        s: &mut Scratch,
    ) -> ChunkOut {
        let (d, ns) = (self.d, self.n_s());
        let start = c * ADAPTIVE_CHUNK;
        let len = ADAPTIVE_CHUNK.min(m - start);
        let mut zc = std::mem::take(&mut s.z);
        self.z_draws.fill(c, start, len, &mut zc);
        let mut out = ChunkOut {
            lw: Vec::with_capacity(len),
            part: vec![0.0; len * d],
            total: vec![0.0; len * d],
            h_max: f64::NEG_INFINITY,
            h_sum: vec![0.0; d * d],
        };
        // `∂² log h` of the chunk's draws, entry-major (`entry * len + draw`)
        s.hs.clear();
        s.hs.resize(d * d * len, 0.0);
        let ls = &mut s.lanes;
        let isa = mcla_math::active_isa();
        let mut done = 0;
        while done < len {
            let gl = LANES.min(len - done);
            ls.load_draws(&zc, ns, done, gl);
            self.group(isa, theta, xb, prop, derivs, ls);
            for k in 0..gl {
                let kc = done + k;
                let lw = ls.lw[k];
                out.lw.push(lw);
                out.h_max = out.h_max.max(lw);
                for j in 0..d {
                    out.part[kc * d + j] = ls.part[j][k];
                    out.total[kc * d + j] = ls.total[j][k];
                }
                if self.settings.louis {
                    for (e, h) in ls.hk.iter().enumerate() {
                        s.hs[e * len + kc] = h[k];
                    }
                }
            }
            done += gl;
        }
        s.z = zc;
        if !self.settings.louis {
            return out;
        }
        let wk: Vec<f64> = out.lw.iter().map(|&lw| (lw - out.h_max).exp()).collect();
        for (e, acc) in out.h_sum.iter_mut().enumerate() {
            let hs = &s.hs[e * len..(e + 1) * len];
            for k in 0..len {
                *acc += wk[k] * hs[k];
            }
        }
        out
    }

    /// [`group_terms`](Self::group_terms) for the block's family, compiled for the
    /// CPU's vector extensions (plain IEEE arithmetic: the same bits on all).
    pub(super) fn group(
        &self,
        isa: mcla_math::Isa,
        theta: &[f64],
        xb: &[f64],
        prop: &Proposal,
        derivs: &ProposalDerivs,
        ls: &mut LaneScratch,
    ) {
        match self.family {
            Family::Bernoulli | Family::Binomial => {
                group_dispatch::<Logit>(isa, self, theta, xb, prop, derivs, ls)
            }
            Family::Poisson => group_dispatch::<LogLink>(isa, self, theta, xb, prop, derivs, ls),
        }
    }
}
