//! The per-draw pass in lane groups of [`LANES`] draws (draw-minor arrays, vectorised Newton
//! steps and quadrature, sparse X rows), compiled for AVX-512 / AVX2 / baseline with run-time
//! dispatch; plain IEEE arithmetic, so every instruction set gives the same bits.

use super::super::conditional::{integrate_lanes, mode_fixed_lanes, Lane, Link, LANES};
use super::block::AdaptiveBlock;
use super::block::LN_2PI;
use super::proposal::{Proposal, ProposalDerivs};
use super::scratch::{LaneScratch, ZERO};
use super::subtree::Second;

impl AdaptiveBlock {
    /// One lane group of draws (standard draws in `ls.z`, `ls.zz`; lanes past the
    /// chunk's end hold zeros and are ignored): log weights into `ls.lw`, partial
    /// and total scores into `ls.part` / `ls.total`, `∂² log h` into `ls.hk`.
    /// Per lane, the operations of [`draw_terms`](Self::draw_terms) and of the
    /// per-draw algebra of the chunk (the Newton steps and the quadrature by the
    /// lane kernels of [`conditional`]).
    #[inline(always)]
    pub(super) fn group_terms<F: Link>(
        &self,
        theta: &[f64],
        xb: &[f64],
        prop: &Proposal,
        derivs: &ProposalDerivs,
        ls: &mut LaneScratch,
    ) {
        let (p, d, ns) = (self.p, self.d, self.n_s());
        let nu = &theta[p..];
        let l = &prop.l;
        let louis = self.settings.louis;
        self.separator_lanes(prop, ls);
        for (v, len) in [(&mut ls.part, d), (&mut ls.g, ns), (&mut ls.hk, d * d)] {
            v.clear();
            v.resize(len, ZERO);
        }
        let mut lw = ZERO;
        // the separator's prior
        for kk in 0..ns {
            let t = self.s_comp[kk];
            let nuk = nu[t];
            let c0 = -0.5 * (LN_2PI + nuk.ln());
            let u = &ls.us[kk];
            let (pt, gk) = (&mut ls.part[p + t], &mut ls.g[kk]);
            for k in 0..LANES {
                lw[k] += c0 - 0.5 * u[k] * u[k] / nuk;
                pt[k] += 0.5 * u[k] * u[k] / (nuk * nuk) - 0.5 / nuk;
                gk[k] -= u[k] / nuk;
            }
            if louis {
                let h = &mut ls.hk[(p + t) * d + p + t];
                for k in 0..LANES {
                    h[k] += 0.5 / (nuk * nuk) - u[k] * u[k] / (nuk * nuk * nuk);
                }
            }
        }
        // observations of no integrated effect (R)
        let n_iobs = self.i_ptr[self.n_i()];
        for i in n_iobs..self.n() {
            let eta = self.offset_lanes(xb[i], i, &ls.us);
            let (y, w, nt) = (self.y[i], self.w[i], self.nt[i]);
            let (mut res, mut wv) = (ZERO, ZERO);
            for k in 0..LANES {
                let (ll, mu, var) = F::terms(y, nt, eta[k]);
                lw[k] += w * ll;
                res[k] = w * (y - mu);
                wv[k] = w * var;
            }
            if louis {
                self.add_obs_lanes(i, &res, &wv, ls);
            } else {
                self.add_score_lanes(i, &res, ls);
            }
        }
        // the integrated effects
        ls.o.resize(self.max_nj, ZERO);
        let kk = self.rule.len();
        for j in 0..self.n_i() {
            let (obs, r) = self.effect_obs(j);
            let nj = r.len();
            for (ii, i) in r.clone().enumerate() {
                ls.o[ii] = self.offset_lanes(xb[i], i, &ls.us);
            }
            let t = self.i_comp[j];
            let nuj = nu[t];
            // second-order response start, fixed Newton steps, quadrature
            let mut c = self.response_start_lanes(prop, j, &ls.o);
            let mut tau2 = ZERO;
            let oj = &ls.o[..nj];
            mode_fixed_lanes::<F>(&obs, oj, nuj, self.settings.newton_steps, &mut c, &mut tau2);
            let mut la = ZERO;
            integrate_lanes::<F>(&self.rule, &obs, oj, nuj, &c, &tau2, &mut ls.nodes, &mut la);
            for k in 0..LANES {
                lw[k] += la[k];
            }
            // posterior moments on the nodes; per observation (one pass over its
            // nodes): E mu_i and, for Louis' identity, E c''_i and the beta-score deviations
            // of the nodes, delta_n = sum_i w_i x_i (mu_in - E mu_i), over the effect's
            // active columns of X (delta is 0 elsewhere)
            let nodes = &ls.nodes;
            let mut eu2 = ZERO;
            for n in 0..kk {
                let (pn, un) = (&nodes.pi[n], &nodes.u[n]);
                for k in 0..LANES {
                    eu2[k] += pn[k] * un[k] * un[k];
                }
            }
            let acols = &self.a_col[self.a_ptr[j]..self.a_ptr[j + 1]];
            let na = acols.len();
            if louis {
                ls.delta.clear();
                ls.delta.resize(kk * na, ZERO);
            }
            for (ii, i) in r.clone().enumerate() {
                let mut em = ZERO;
                for n in 0..kk {
                    let (pn, m) = (&ls.nodes.pi[n], &ls.nodes.mu[n * nj + ii]);
                    for k in 0..LANES {
                        em[k] += pn[k] * m[k];
                    }
                }
                let (y, w) = (self.y[i], self.w[i]);
                let mut res = ZERO;
                for k in 0..LANES {
                    res[k] = w * (y - em[k]);
                }
                if !louis {
                    self.add_score_lanes(i, &res, ls);
                    continue;
                }
                let mut ev = ZERO;
                for n in 0..kk {
                    let (pn, v) = (&ls.nodes.pi[n], &ls.nodes.var[n * nj + ii]);
                    for k in 0..LANES {
                        ev[k] += pn[k] * v[k];
                    }
                }
                let mut wv = ZERO;
                for k in 0..LANES {
                    wv[k] = w * ev[k];
                }
                self.add_obs_lanes(i, &res, &wv, ls);
                let xr = self.xnz_ptr[i]..self.xnz_ptr[i + 1];
                for n in 0..kk {
                    let m = &ls.nodes.mu[n * nj + ii];
                    let mut dm = ZERO;
                    for k in 0..LANES {
                        dm[k] = w * (m[k] - em[k]);
                    }
                    let dn = &mut ls.delta[n * na..(n + 1) * na];
                    for e in xr.clone() {
                        let (xa, da) = (self.xnz_val[e], &mut dn[self.xnz_pos[e]]);
                        for k in 0..LANES {
                            da[k] += dm[k] * xa;
                        }
                    }
                }
            }
            let nu2 = nuj * nuj;
            let pt = &mut ls.part[p + t];
            for k in 0..LANES {
                pt[k] += 0.5 * eu2[k] / nu2 - 0.5 / nuj;
            }
            if !louis {
                continue;
            }
            // Louis' identity: the second moments below
            let mut vu2 = ZERO;
            for n in 0..kk {
                let (pn, un) = (&ls.nodes.pi[n], &ls.nodes.u[n]);
                for k in 0..LANES {
                    let du = un[k] * un[k] - eu2[k];
                    vu2[k] += pn[k] * du * du;
                }
            }
            let h = &mut ls.hk[(p + t) * d + p + t];
            for k in 0..LANES {
                h[k] += 0.5 / nu2 - eu2[k] / (nu2 * nuj) + 0.25 * vu2[k] / (nu2 * nu2);
            }
            // Cov of the beta score over the nodes, and with u^2 / (2 nu^2):
            // r_n - E r = -delta_n
            for n in 0..kk {
                let (pn, un) = (&ls.nodes.pi[n], &ls.nodes.u[n]);
                let mut du = ZERO;
                for k in 0..LANES {
                    du[k] = (un[k] * un[k] - eu2[k]) / (2.0 * nu2);
                }
                let delta = &ls.delta[n * na..(n + 1) * na];
                for (pa, &a) in acols.iter().enumerate() {
                    let mut da = ZERO;
                    for k in 0..LANES {
                        da[k] = pn[k] * delta[pa][k];
                    }
                    for (pb, &b) in acols.iter().enumerate() {
                        let h = &mut ls.hk[a * d + b];
                        for k in 0..LANES {
                            h[k] += da[k] * delta[pb][k];
                        }
                    }
                    let h = &mut ls.hk[a * d + p + t];
                    for k in 0..LANES {
                        h[k] -= da[k] * du[k];
                    }
                    let h = &mut ls.hk[(p + t) * d + a];
                    for k in 0..LANES {
                        h[k] -= da[k] * du[k];
                    }
                }
            }
        }
        // the subtrees, one draw at a time (issue 17)
        let second = if louis { Second::Theta } else { Second::No };
        for st in &self.subtrees {
            for k in 0..LANES {
                let (us, modes) = (&ls.us, &prop.u_mode);
                let Some(r) = st.integrate(
                    theta,
                    |q| us[q][k],
                    modes,
                    second,
                    &mut ls.ext,
                    &mut ls.tree,
                ) else {
                    lw[k] = f64::NAN;
                    continue;
                };
                lw[k] += r.log;
                for (p, &x) in ls.part.iter_mut().zip(r.theta_score) {
                    p[k] += x;
                }
                for (&q, &x) in st.touch.iter().zip(r.us_score) {
                    ls.g[q][k] += x;
                }
                for (h, &x) in ls.hk.iter_mut().zip(r.second) {
                    h[k] += x;
                }
            }
        }
        // log weights
        let cst = 0.5 * ns as f64 * LN_2PI;
        for k in 0..LANES {
            ls.lw[k] = lw[k] + 0.5 * ls.zz[k] + cst - prop.logdet;
        }
        // a = L^{-1} g
        ls.a.clear();
        ls.a.resize(ns, ZERO);
        for r in 0..ns {
            let mut acc = ls.g[r];
            for cc in 0..r {
                let (lc, ac) = (l[r * ns + cc], &ls.a[cc]);
                for k in 0..LANES {
                    acc[k] -= lc * ac[k];
                }
            }
            let lrr = l[r * ns + r];
            for v in acc.iter_mut() {
                *v /= lrr;
            }
            ls.a[r] = acc;
        }
        // total scores s = p + (dv/dtheta)' g - (dL a)' b - dlogdet
        ls.total.clear();
        ls.total.resize(d, ZERO);
        for j in 0..d {
            let mut sj = ZERO;
            let (pj, dlg) = (&ls.part[j], derivs.dlogdet[j]);
            for k in 0..LANES {
                sj[k] = pj[k] - dlg;
            }
            let dvj = &derivs.dv[j * ns..(j + 1) * ns];
            let dlj = &derivs.dl[j * ns * ns..(j + 1) * ns * ns];
            for r in 0..ns {
                let (gr, dvr) = (&ls.g[r], dvj[r]);
                for k in 0..LANES {
                    sj[k] += gr[k] * dvr;
                }
                let mut la = ZERO;
                for cc in 0..=r {
                    let (dlc, ac) = (dlj[r * ns + cc], &ls.a[cc]);
                    for k in 0..LANES {
                        la[k] += dlc * ac[k];
                    }
                }
                let br = &ls.b[r];
                for k in 0..LANES {
                    sj[k] -= la[k] * br[k];
                }
            }
            ls.total[j] = sj;
        }
    }

    /// `b = L^{-T} z` and the separator's draws `u_S = v* + b` of a lane group (from `ls.z`
    /// into `ls.b`, `ls.us`).
    #[inline(always)]
    fn separator_lanes(&self, prop: &Proposal, ls: &mut LaneScratch) {
        let (ns, l) = (self.n_s(), &prop.l);
        ls.b.clear();
        ls.b.resize(ns, ZERO);
        for r in (0..ns).rev() {
            let mut acc = ls.z[r];
            for cc in r + 1..ns {
                let (lc, bc) = (l[cc * ns + r], &ls.b[cc]);
                for k in 0..LANES {
                    acc[k] -= lc * bc[k];
                }
            }
            let lrr = l[r * ns + r];
            for v in acc.iter_mut() {
                *v /= lrr;
            }
            ls.b[r] = acc;
        }
        ls.us.clear();
        ls.us.extend(prop.v.iter().zip(&ls.b).map(|(&v, b)| {
            let mut u = ZERO;
            for k in 0..LANES {
                u[k] = v + b[k];
            }
            u
        }));
    }

    /// One lane group of draws for the posterior moments (`ranef`): log weights into
    /// `ls.lw`, and per effect (the 1-D effects, the subtrees' nodes, the separator's effects)
    /// the draw's conditional mean and second moment into `m1`, `m2` (effect-major, one
    /// lane per draw).  The same operations per draw as the scalar pass of
    /// [`posterior_moments`](Self::posterior_moments) for an empty separator, with the
    /// per-draw algebra of [`group_terms`](Self::group_terms) but no scores.
    #[inline(always)]
    pub(super) fn group_moments<F: Link>(
        &self,
        theta: &[f64],
        xb: &[f64],
        prop: &Proposal,
        ls: &mut LaneScratch,
        m1: &mut Vec<Lane>,
        m2: &mut Vec<Lane>,
    ) {
        let (p, ns) = (self.p, self.n_s());
        let nu = &theta[p..];
        self.separator_lanes(prop, ls);
        m1.clear();
        m2.clear();
        let mut lw = ZERO;
        for kk in 0..ns {
            let nuk = nu[self.s_comp[kk]];
            let c0 = -0.5 * (LN_2PI + nuk.ln());
            let u = &ls.us[kk];
            for k in 0..LANES {
                lw[k] += c0 - 0.5 * u[k] * u[k] / nuk;
            }
        }
        let n_iobs = self.i_ptr[self.n_i()];
        for i in n_iobs..self.n() {
            let eta = self.offset_lanes(xb[i], i, &ls.us);
            let (y, w, nt) = (self.y[i], self.w[i], self.nt[i]);
            for k in 0..LANES {
                lw[k] += w * F::terms(y, nt, eta[k]).0;
            }
        }
        ls.o.resize(self.max_nj, ZERO);
        for j in 0..self.n_i() {
            let (obs, r) = self.effect_obs(j);
            let nj = r.len();
            for (ii, i) in r.clone().enumerate() {
                ls.o[ii] = self.offset_lanes(xb[i], i, &ls.us);
            }
            let nuj = nu[self.i_comp[j]];
            let mut c = self.response_start_lanes(prop, j, &ls.o);
            let mut tau2 = ZERO;
            let oj = &ls.o[..nj];
            mode_fixed_lanes::<F>(&obs, oj, nuj, self.settings.newton_steps, &mut c, &mut tau2);
            let mut la = ZERO;
            integrate_lanes::<F>(&self.rule, &obs, oj, nuj, &c, &tau2, &mut ls.nodes, &mut la);
            let (mut e1, mut e2) = (ZERO, ZERO);
            for n in 0..self.rule.len() {
                let (pn, un) = (&ls.nodes.pi[n], &ls.nodes.u[n]);
                for k in 0..LANES {
                    e1[k] += pn[k] * un[k];
                    e2[k] += pn[k] * un[k] * un[k];
                }
            }
            for k in 0..LANES {
                lw[k] += la[k];
            }
            m1.push(e1);
            m2.push(e2);
        }
        // the subtrees, one draw at a time
        for st in &self.subtrees {
            let nodes = st.tree.n_nodes();
            let at = m1.len();
            m1.resize(at + nodes, ZERO);
            m2.resize(at + nodes, ZERO);
            for k in 0..LANES {
                let us = &ls.us;
                match st.moments(theta, |q| us[q][k], &prop.u_mode, &mut ls.ext, &mut ls.tree) {
                    Some(log) => {
                        lw[k] += log;
                        for (e, (&a, &b)) in ls.tree.m1.iter().zip(&ls.tree.m2).enumerate() {
                            m1[at + e][k] = a;
                            m2[at + e][k] = b;
                        }
                    }
                    None => lw[k] = f64::NAN,
                }
            }
        }
        debug_assert_eq!(m1.len(), self.n_modes());
        for u in &ls.us {
            let mut u2 = ZERO;
            for k in 0..LANES {
                u2[k] = u[k] * u[k];
            }
            m1.push(*u);
            m2.push(u2);
        }
        let cst = 0.5 * ns as f64 * LN_2PI;
        for k in 0..LANES {
            ls.lw[k] = lw[k] + 0.5 * ls.zz[k] + cst - prop.logdet;
        }
    }

    /// Offsets `x_i'beta + z_iS'u_S` of local observation `i` for a lane group.
    #[inline(always)]
    pub(super) fn offset_lanes(&self, xbi: f64, i: usize, us: &[Lane]) -> Lane {
        let mut o = [xbi; LANES];
        for e in self.s_ptr[i]..self.s_ptr[i + 1] {
            let (v, u) = (self.s_val[e], &us[self.s_idx[e]]);
            for k in 0..LANES {
                o[k] += v * u[k];
            }
        }
        o
    }

    /// [`response_start`](Self::response_start) for a lane group: effect `j`'s start per lane
    /// from its observations' offsets `o` (the effect's `ii`-th observation in `o[ii]`); the
    /// same operations per lane.
    #[inline(always)]
    fn response_start_lanes(&self, prop: &Proposal, j: usize, o: &[Lane]) -> Lane {
        let r = self.i_ptr[j]..self.i_ptr[j + 1];
        let (c0, t2) = (prop.u_mode[j], prop.tau2[j]);
        let mut c = [c0; LANES];
        for (ii, i) in r.clone().enumerate() {
            let (wc, po, oi) = (prop.wc[i], prop.o[i], &o[ii]);
            for k in 0..LANES {
                c[k] -= wc * (oi[k] - po) / t2;
            }
        }
        let mut q = ZERO;
        for (ii, i) in r.enumerate() {
            let (w3, po, zi, oi) = (prop.wc3[i], prop.o[i], self.zi[i], &o[ii]);
            for k in 0..LANES {
                let a = (oi[k] - po) + zi * (c[k] - c0);
                q[k] += w3 * a * a;
            }
        }
        for k in 0..LANES {
            c[k] -= 0.5 * q[k] / t2;
        }
        c
    }

    /// The scores of [`add_obs_lanes`](Self::add_obs_lanes) only (the partial scores and the
    /// u_S gradient; no `∂² log h`).
    #[inline(always)]
    pub(super) fn add_score_lanes(&self, i: usize, res: &Lane, ls: &mut LaneScratch) {
        for e in self.xnz_ptr[i]..self.xnz_ptr[i + 1] {
            let (pa, xa) = (&mut ls.part[self.xnz_col[e]], self.xnz_val[e]);
            for k in 0..LANES {
                pa[k] += res[k] * xa;
            }
        }
        for e in self.s_ptr[i]..self.s_ptr[i + 1] {
            let (g, v) = (&mut ls.g[self.s_idx[e]], self.s_val[e]);
            for k in 0..LANES {
                g[k] += res[k] * v;
            }
        }
    }

    /// [`add_obs`](Self::add_obs) for a lane group (over the non-zero entries of the
    /// row of X; the zero ones add nothing).
    #[inline(always)]
    pub(super) fn add_obs_lanes(&self, i: usize, res: &Lane, wv: &Lane, ls: &mut LaneScratch) {
        let d = self.d;
        let xr = self.xnz_ptr[i]..self.xnz_ptr[i + 1];
        for e in xr.clone() {
            let (a, xa) = (self.xnz_col[e], self.xnz_val[e]);
            let pa = &mut ls.part[a];
            let mut wa = ZERO;
            for k in 0..LANES {
                pa[k] += res[k] * xa;
                wa[k] = wv[k] * xa;
            }
            for e2 in xr.clone() {
                let (b, xb) = (self.xnz_col[e2], self.xnz_val[e2]);
                let h = &mut ls.hk[a * d + b];
                for k in 0..LANES {
                    h[k] -= wa[k] * xb;
                }
            }
        }
        for e in self.s_ptr[i]..self.s_ptr[i + 1] {
            let (g, v) = (&mut ls.g[self.s_idx[e]], self.s_val[e]);
            for k in 0..LANES {
                g[k] += res[k] * v;
            }
        }
    }
}

/// [`AdaptiveBlock::group_terms`] compiled for `isa`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn group_dispatch<F: Link>(
    isa: mcla_math::Isa,
    block: &AdaptiveBlock,
    theta: &[f64],
    xb: &[f64],
    prop: &Proposal,
    derivs: &ProposalDerivs,
    ls: &mut LaneScratch,
) {
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY (both): `isa` is what `mcla_math::active_isa` reported for this CPU,
        // which checked the feature at run time.
        mcla_math::Isa::Avx512 => {
            return unsafe { group_avx512::<F>(block, theta, xb, prop, derivs, ls) }
        }
        mcla_math::Isa::Avx2 => {
            return unsafe { group_avx2::<F>(block, theta, xb, prop, derivs, ls) }
        }
        _ => {}
    }
    let _ = isa;
    block.group_terms::<F>(theta, xb, prop, derivs, ls)
}

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn group_avx512<F: Link>(
    block: &AdaptiveBlock,
    theta: &[f64],
    xb: &[f64],
    prop: &Proposal,
    derivs: &ProposalDerivs,
    ls: &mut LaneScratch,
) {
    block.group_terms::<F>(theta, xb, prop, derivs, ls)
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn group_avx2<F: Link>(
    block: &AdaptiveBlock,
    theta: &[f64],
    xb: &[f64],
    prop: &Proposal,
    derivs: &ProposalDerivs,
    ls: &mut LaneScratch,
) {
    block.group_terms::<F>(theta, xb, prop, derivs, ls)
}

/// [`AdaptiveBlock::group_moments`] compiled for `isa`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn moments_dispatch<F: Link>(
    isa: mcla_math::Isa,
    block: &AdaptiveBlock,
    theta: &[f64],
    xb: &[f64],
    prop: &Proposal,
    ls: &mut LaneScratch,
    m1: &mut Vec<Lane>,
    m2: &mut Vec<Lane>,
) {
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY (both): `isa` is what `mcla_math::active_isa` reported for this CPU,
        // which checked the feature at run time.
        mcla_math::Isa::Avx512 => {
            return unsafe { moments_avx512::<F>(block, theta, xb, prop, ls, m1, m2) }
        }
        mcla_math::Isa::Avx2 => {
            return unsafe { moments_avx2::<F>(block, theta, xb, prop, ls, m1, m2) }
        }
        _ => {}
    }
    let _ = isa;
    block.group_moments::<F>(theta, xb, prop, ls, m1, m2)
}

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn moments_avx512<F: Link>(
    block: &AdaptiveBlock,
    theta: &[f64],
    xb: &[f64],
    prop: &Proposal,
    ls: &mut LaneScratch,
    m1: &mut Vec<Lane>,
    m2: &mut Vec<Lane>,
) {
    block.group_moments::<F>(theta, xb, prop, ls, m1, m2)
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn moments_avx2<F: Link>(
    block: &AdaptiveBlock,
    theta: &[f64],
    xb: &[f64],
    prop: &Proposal,
    ls: &mut LaneScratch,
    m1: &mut Vec<Lane>,
    m2: &mut Vec<Lane>,
) {
    block.group_moments::<F>(theta, xb, prop, ls, m1, m2)
}
