//! The theta-adaptive, Rao–Blackwellised block integrator (SPEC §12), the default.
//!
//! Per likelihood block, the effects are split ([`Split`]) into an integrated set
//! I (no two share an observation) and a separator S.  Given `u_S`, the block's
//! likelihood factorises over I and each factor is a one-dimensional integral,
//! computed by adaptive Gauss–Hermite quadrature ([`conditional`]).  The integrand
//! over the separator,
//!
//! ```text
//! h_theta(u_S) = exp(R(u_S)) prod_{j in I} A_j(u_S) N(u_S; 0, D_S(nu)),
//! ```
//!
//! is integrated by importance sampling from a Gaussian that follows theta:
//! `u_S,k = v*(theta) + L^{-T} z_k`, `v*` the mode of `log h_theta`, `L L' = H_S`
//! its negative Hessian there (both from posterior moments of the 1-D integrals on
//! the quadrature nodes: gradient `sum_j E_j[s_j] - D_S^{-1} u_S`, negative Hessian
//! `sum_j (E_j[Z'WZ] - Cov_j[s_j]) + D_S^{-1}`), and standard normal draws `z_k`
//! fixed for the whole fit (common random numbers, one seeded stream per chunk).
//!
//! ```text
//! log w_k = log h_theta(u_S,k) - log phi(z_k) - sum_i log L_ii,
//! l_b(theta) = log((1/m) sum_k w_k).
//! ```
//!
//! For fixed `z` this is a smooth, deterministic function of theta.  An empty
//! separator (one grouping factor, a single effect) needs no draws: `l_b = log h`
//! exactly, with Monte Carlo error 0.
//!
//! **Derivatives.**  With `p_k = ∂_theta log h(u_S,k)` at fixed `u_S` (beta part
//! `sum_i w_i x_i (y_i - E[mu_i])`, nu part from `E_j[u_j^2]` and `u_S'u_S`) and
//! `g_k = ∇_{u_S} log h(u_S,k)`, the per-draw total derivative is
//!
//! ```text
//! s_k = p_k + (dv*/dtheta)' g_k - (dL a_k)' b_k - d(sum_i log L_ii)/dtheta,
//! a_k = L^{-1} g_k,  b_k = L^{-T} z_k,
//! ```
//!
//! because `d(L^{-T})/dtheta_j z_k = -L^{-T} dL_j' b_k`.  The proposal derivatives
//! `dv*/dtheta` and `dL/dtheta` come from central differences of the deterministic
//! proposal construction (2(p + T) extra proposal builds per evaluation, no extra
//! pass over the draws).  `grad l_b = sum_k v_k s_k` (`v_k` the normalised weights).
//!
//! **Hessian.**  For the trust-region model: Louis' identity at the draws,
//! `sum_k v_k ∂²_theta log h(u_S,k) + sum_k v_k (p_k - p̄)(p_k - p̄)'`, with
//! `∂²_theta log h` at fixed `u_S` from second posterior moments on the nodes
//! (a consistent estimate of the Hessian, within a few per cent of that of l_b).
//! The Hessian that is reported (vcov, MCSE sandwich) is the central difference of
//! the gradient, computed by [`Objective::final_evaluation`](super::Objective::final_evaluation).
//!
//! **Monte Carlo error** (SPEC §12 f): `V_b = sum_k v_k^2 (s_k - G_b)(s_k - G_b)'`
//! with `G_b = sum_k v_k s_k`; ESS `1 / sum_k v_k^2`.

use super::conditional::{
    self, integrate_lanes, mode_fixed_lanes, EffectObs, Lane, LaneNodes, Link, LogLink, Logit,
    Nodes, Rule, LANES,
};
use super::separator::Split;
use super::{symmetrise, BlockIntegrator, IntegratorError};
use crate::blocks::Block;
use crate::model::Model;
use crate::objective::{BlockSummary, McEvaluation};
use crate::Family;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Draws per chunk: each chunk has its own random stream, so the draws (and every
/// result) do not depend on the number of threads, and growing m keeps the draws
/// already made.
pub const ADAPTIVE_CHUNK: usize = 64;

const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Settings of the adaptive integrator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveSettings {
    /// Gauss–Hermite nodes per conditional integral (K).
    pub nodes: usize,
    /// Newton steps of each per-draw 1-D mode (fixed, from a linear-response start).
    pub newton_steps: usize,
    /// Relative step of the central differences of the proposal (times `max(|theta_j|, 0.01)`).
    pub proposal_step: f64,
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        AdaptiveSettings {
            nodes: 10,
            newton_steps: 3,
            proposal_step: 1e-4,
        }
    }
}

/// One likelihood block integrated by SPEC §12.
#[derive(Debug, Clone)]
pub struct AdaptiveBlock {
    family: Family,
    p: usize,
    d: usize,
    m: usize,
    seed: u64,
    index: usize,
    rule: Rule,
    settings: AdaptiveSettings,
    // Local observations: those of the integrated effects first, grouped by effect,
    // then the rest (R).
    y: Vec<f64>,
    w: Vec<f64>,
    nt: Vec<f64>,
    /// Row-major `n x p`.
    x: Vec<f64>,
    /// Coefficient of the observation's integrated effect (0 for R).
    zi: Vec<f64>,
    /// `i_ptr[j]..i_ptr[j + 1]`: observations of integrated effect j.
    i_ptr: Vec<usize>,
    i_comp: Vec<usize>,
    /// Separator part of Z, CSR over local observations.
    s_ptr: Vec<usize>,
    s_idx: Vec<usize>,
    s_val: Vec<f64>,
    s_comp: Vec<usize>,
    /// Separator effects touched by each integrated effect (`touch_ptr[j]..`), and for
    /// each separator entry of an I observation its position in that list.
    touch_ptr: Vec<usize>,
    touch: Vec<usize>,
    s_pos: Vec<usize>,
    /// Non-zero entries of each local row of X (`xnz_ptr[i]..xnz_ptr[i + 1]`: columns and
    /// values), and for observations of integrated effects each entry's position in
    /// its effect's list of active columns (`a_ptr[j]..a_ptr[j + 1]` of `a_col`).
    xnz_ptr: Vec<usize>,
    xnz_col: Vec<usize>,
    xnz_val: Vec<f64>,
    xnz_pos: Vec<usize>,
    a_ptr: Vec<usize>,
    a_col: Vec<usize>,
    /// Largest number of observations of one integrated effect.
    max_nj: usize,
    /// Start of the separator-mode Newton iteration.
    v_start: Vec<f64>,
    /// Global effect index of each integrated / separator effect.
    i_effects: Vec<usize>,
    s_effects: Vec<usize>,
    /// The block's global effect indices (its local order).
    block_effects: Vec<usize>,
}

/// The proposal at one theta.
#[derive(Debug, Clone)]
struct Proposal {
    v: Vec<f64>,
    /// Lower Cholesky factor of the negative Hessian at `v`, row-major.
    l: Vec<f64>,
    logdet: f64,
    /// Modes and curvatures of the integrated effects at `v`.
    u_mode: Vec<f64>,
    tau2: Vec<f64>,
    /// Offsets at `v`.
    o: Vec<f64>,
    /// `w_i z_ij c''_i` at the mode (linear response of the 1-D modes to the offsets).
    wc: Vec<f64>,
}

/// Central-difference derivatives of the proposal.
#[derive(Debug, Clone)]
struct ProposalDerivs {
    /// `d x nS`.
    dv: Vec<f64>,
    /// `d x nS x nS`.
    dl: Vec<f64>,
    dlogdet: Vec<f64>,
}

/// Per-chunk results.
#[derive(Debug, Clone, Default)]
struct ChunkOut {
    lw: Vec<f64>,
    /// `len x d` partial scores.
    part: Vec<f64>,
    /// `len x d` total scores.
    total: Vec<f64>,
    /// `max lw` of the chunk and `sum_k exp(lw_k - max) H_k`.
    h_max: f64,
    h_sum: Vec<f64>,
}

/// Scratch of one worker.
#[derive(Debug, Default)]
struct Scratch {
    nodes: Nodes,
    us: Vec<f64>,
    o: Vec<f64>,
    g: Vec<f64>,
    part: Vec<f64>,
    hk: Vec<f64>,
    delta: Vec<f64>,
    emu: Vec<f64>,
    evar: Vec<f64>,
    hloc: Vec<f64>,
    hs: Vec<f64>,
    lanes: LaneScratch,
}

const ZERO: Lane = [0.0; LANES];

/// Scratch of the lane kernels (one lane group of draws at a time); sized on first
/// use and reused for every later group and chunk.
#[derive(Debug, Default)]
struct LaneScratch {
    /// Standard normal draws and `z'z`.
    z: Vec<Lane>,
    zz: Lane,
    /// `b = L^{-T} z`, `u_S = v + b`.
    b: Vec<Lane>,
    us: Vec<Lane>,
    /// Gradient in `u_S` and `a = L^{-1} g`.
    g: Vec<Lane>,
    a: Vec<Lane>,
    /// Partial and total scores (`d`), `∂² log h` (`d x d`), log weights.
    part: Vec<Lane>,
    total: Vec<Lane>,
    hk: Vec<Lane>,
    lw: Lane,
    /// Offsets of one effect's observations.
    o: Vec<Lane>,
    /// Beta-score deviations of the nodes (node-major, per active column).
    delta: Vec<Lane>,
    nodes: LaneNodes,
}

impl AdaptiveBlock {
    /// Prepare block `index` of `model` with `m` draws; `u_start` (length q of the
    /// model) starts the separator-mode iterations (e.g. the PQL effects).
    pub fn new(
        model: &Model,
        block: &Block,
        index: usize,
        m: usize,
        seed: u64,
        u_start: &[f64],
        settings: AdaptiveSettings,
    ) -> Result<AdaptiveBlock, IntegratorError> {
        let rule = Rule::new(settings.nodes).map_err(IntegratorError::Quadrature)?;
        let term: Vec<usize> = block
            .effects
            .iter()
            .map(|&j| model.effect_term()[j])
            .collect();
        let split = Split::choose(block, &term);
        let obs_of = super::separator::effect_observations(block);
        let mut s_local = vec![usize::MAX; block.q()];
        for (k, &j) in split.separator.iter().enumerate() {
            s_local[j] = k;
        }
        let mut is_i = vec![false; block.q()];
        for &j in &split.integrated {
            is_i[j] = true;
        }
        // local observation order
        let mut order = Vec::with_capacity(block.n());
        let mut i_ptr = vec![0];
        for &j in &split.integrated {
            order.extend_from_slice(&obs_of[j]);
            i_ptr.push(order.len());
        }
        let mut in_i = vec![false; block.n()];
        for &i in &order {
            in_i[i] = true;
        }
        order.extend((0..block.n()).filter(|&i| !in_i[i]));
        let p = model.p();
        let (mut y, mut w, mut nt, mut x, mut zi) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut s_ptr, mut s_idx, mut s_val) = (vec![0], vec![], vec![]);
        for &li in &order {
            let gi = block.obs[li];
            y.push(model.y()[gi]);
            w.push(model.weights()[gi]);
            nt.push(model.trials()[gi]);
            x.extend_from_slice(model.x_row(gi));
            let (cols, vals) = block.z.row(li);
            let mut zij = 0.0;
            for (&j, &v) in cols.iter().zip(vals) {
                if is_i[j] {
                    zij = v;
                } else {
                    s_idx.push(s_local[j]);
                    s_val.push(v);
                }
            }
            zi.push(zij);
            s_ptr.push(s_idx.len());
        }
        let mut touch_ptr = vec![0];
        let mut touch = Vec::new();
        let mut s_pos = vec![usize::MAX; s_idx.len()];
        for j in 0..split.integrated.len() {
            let start = touch.len();
            for i in i_ptr[j]..i_ptr[j + 1] {
                for e in s_ptr[i]..s_ptr[i + 1] {
                    let s = s_idx[e];
                    let pos = match touch[start..].iter().position(|&t| t == s) {
                        Some(k) => k,
                        None => {
                            touch.push(s);
                            touch.len() - 1 - start
                        }
                    };
                    s_pos[e] = pos;
                }
            }
            touch_ptr.push(touch.len());
        }
        let n_loc = y.len();
        let (mut xnz_ptr, mut xnz_col, mut xnz_val) = (vec![0], vec![], vec![]);
        for i in 0..n_loc {
            for (a, &v) in x[i * p..(i + 1) * p].iter().enumerate() {
                if v != 0.0 {
                    xnz_col.push(a);
                    xnz_val.push(v);
                }
            }
            xnz_ptr.push(xnz_col.len());
        }
        let mut xnz_pos = vec![usize::MAX; xnz_col.len()];
        let (mut a_ptr, mut a_col) = (vec![0], vec![]);
        let mut max_nj = 0;
        for j in 0..split.integrated.len() {
            let start = a_col.len();
            max_nj = max_nj.max(i_ptr[j + 1] - i_ptr[j]);
            for i in i_ptr[j]..i_ptr[j + 1] {
                for e in xnz_ptr[i]..xnz_ptr[i + 1] {
                    let a = xnz_col[e];
                    xnz_pos[e] = match a_col[start..].iter().position(|&c| c == a) {
                        Some(k) => k,
                        None => {
                            a_col.push(a);
                            a_col.len() - 1 - start
                        }
                    };
                }
            }
            a_ptr.push(a_col.len());
        }
        let comp = &block.component;
        Ok(AdaptiveBlock {
            family: model.family(),
            p,
            d: model.n_params(),
            m,
            seed,
            index,
            rule,
            settings,
            y,
            w,
            nt,
            x,
            zi,
            i_comp: split.integrated.iter().map(|&j| comp[j]).collect(),
            i_ptr,
            s_ptr,
            s_idx,
            s_val,
            s_comp: split.separator.iter().map(|&j| comp[j]).collect(),
            touch_ptr,
            touch,
            s_pos,
            xnz_ptr,
            xnz_col,
            xnz_val,
            xnz_pos,
            a_ptr,
            a_col,
            max_nj,
            v_start: split
                .separator
                .iter()
                .map(|&j| u_start.get(block.effects[j]).copied().unwrap_or(0.0))
                .collect(),
            i_effects: split.integrated.iter().map(|&j| block.effects[j]).collect(),
            s_effects: split.separator.iter().map(|&j| block.effects[j]).collect(),
            block_effects: block.effects.clone(),
        })
    }

    fn n_s(&self) -> usize {
        self.s_comp.len()
    }
    fn n_i(&self) -> usize {
        self.i_comp.len()
    }
    fn n(&self) -> usize {
        self.y.len()
    }
    /// Number of sampled (separator) effects; 0 when the block is integrated exactly.
    pub fn separator_size(&self) -> usize {
        self.n_s()
    }
    /// Number of effects integrated by quadrature.
    pub fn integrated_size(&self) -> usize {
        self.n_i()
    }
    /// Global indices of the integrated and the separator effects.
    pub fn effects(&self) -> (&[usize], &[usize]) {
        (&self.i_effects, &self.s_effects)
    }

    fn x_beta(&self, beta: &[f64]) -> Vec<f64> {
        let p = self.p;
        (0..self.n())
            .map(|i| {
                let xr = &self.x[i * p..(i + 1) * p];
                let mut s = 0.0;
                for a in 0..p {
                    s += xr[a] * beta[a];
                }
                s
            })
            .collect()
    }

    fn offsets(&self, xb: &[f64], us: &[f64], o: &mut Vec<f64>) {
        o.clear();
        for i in 0..self.n() {
            let mut s = xb[i];
            for e in self.s_ptr[i]..self.s_ptr[i + 1] {
                s += self.s_val[e] * us[self.s_idx[e]];
            }
            o.push(s);
        }
    }

    fn effect_obs(&self, j: usize) -> (EffectObs<'_>, std::ops::Range<usize>) {
        let r = self.i_ptr[j]..self.i_ptr[j + 1];
        (
            EffectObs {
                y: &self.y[r.clone()],
                w: &self.w[r.clone()],
                nt: &self.nt[r.clone()],
                z: &self.zi[r.clone()],
            },
            r,
        )
    }

    /// `log h(v)`, its gradient in `v` and (if `hess`) its negative Hessian (row-major),
    /// with the 1-D modes found to machine precision from `u_mode` (updated).
    fn marginal(
        &self,
        xb: &[f64],
        nu: &[f64],
        v: &[f64],
        u_mode: &mut [f64],
        tau2: &mut [f64],
        hess: bool,
        s: &mut Scratch,
    ) -> (f64, Vec<f64>, Vec<f64>) {
        let ns = self.n_s();
        let mut f = 0.0;
        let mut g = vec![0.0; ns];
        let mut h = if hess { vec![0.0; ns * ns] } else { Vec::new() };
        let mut o = std::mem::take(&mut s.o);
        self.offsets(xb, v, &mut o);
        for k in 0..ns {
            let nuk = nu[self.s_comp[k]];
            f += -0.5 * (LN_2PI + nuk.ln()) - 0.5 * v[k] * v[k] / nuk;
            g[k] -= v[k] / nuk;
            if hess {
                h[k * ns + k] += 1.0 / nuk;
            }
        }
        let n_iobs = self.i_ptr[self.n_i()];
        for i in n_iobs..self.n() {
            let (ll, mu, var) = conditional::obs_terms(self.family, self.y[i], self.nt[i], o[i]);
            f += self.w[i] * ll;
            let res = self.w[i] * (self.y[i] - mu);
            let wv = self.w[i] * var;
            for e in self.s_ptr[i]..self.s_ptr[i + 1] {
                let (a, za) = (self.s_idx[e], self.s_val[e]);
                g[a] += res * za;
                if hess {
                    for e2 in self.s_ptr[i]..self.s_ptr[i + 1] {
                        h[a * ns + self.s_idx[e2]] += wv * za * self.s_val[e2];
                    }
                }
            }
        }
        let kk = self.rule.len();
        for j in 0..self.n_i() {
            let (obs, r) = self.effect_obs(j);
            let oj = &o[r.clone()];
            let nuj = nu[self.i_comp[j]];
            let (c, t2) = conditional::mode_precise(self.family, &obs, oj, nuj, u_mode[j]);
            u_mode[j] = c;
            tau2[j] = t2;
            f +=
                conditional::integrate(self.family, &self.rule, &obs, oj, nuj, c, t2, &mut s.nodes);
            let nj = r.len();
            let nodes = &s.nodes;
            s.emu.clear();
            s.emu.resize(nj, 0.0);
            let mut evar = std::mem::take(&mut s.evar);
            evar.clear();
            evar.resize(nj, 0.0);
            for n in 0..kk {
                for i in 0..nj {
                    s.emu[i] += nodes.pi[n] * nodes.mu[n * nj + i];
                    evar[i] += nodes.pi[n] * nodes.var[n * nj + i];
                }
            }
            for (ii, i) in r.clone().enumerate() {
                let res = self.w[i] * (self.y[i] - s.emu[ii]);
                let wv = self.w[i] * evar[ii];
                for e in self.s_ptr[i]..self.s_ptr[i + 1] {
                    let (a, za) = (self.s_idx[e], self.s_val[e]);
                    g[a] += res * za;
                    if hess {
                        for e2 in self.s_ptr[i]..self.s_ptr[i + 1] {
                            h[a * ns + self.s_idx[e2]] += wv * za * self.s_val[e2];
                        }
                    }
                }
            }
            if hess {
                // - Cov_j[s_j], s_j[t] = sum_i w_i z_it (y_i - mu_i): per node
                // delta_n[pos] = sum_i w_i z_it (mu_in - E mu_i).
                let tr = self.touch_ptr[j]..self.touch_ptr[j + 1];
                let nt_ = tr.len();
                s.delta.clear();
                s.delta.resize(nt_, 0.0);
                // the touched entries of h, gathered once (they are distinct), updated
                // node by node in a contiguous copy, scattered back: the same
                // operations on each entry as updating h in place
                let touched = &self.touch[tr.clone()];
                let mut loc = std::mem::take(&mut s.hloc);
                loc.clear();
                for &ta in touched {
                    loc.extend(touched.iter().map(|&tb| h[ta * ns + tb]));
                }
                for n in 0..kk {
                    s.delta.iter_mut().for_each(|v| *v = 0.0);
                    for (ii, i) in r.clone().enumerate() {
                        let dm = self.w[i] * (nodes.mu[n * nj + ii] - s.emu[ii]);
                        for e in self.s_ptr[i]..self.s_ptr[i + 1] {
                            s.delta[self.s_pos[e]] += dm * self.s_val[e];
                        }
                    }
                    let pn = nodes.pi[n];
                    for (a, row) in loc.chunks_exact_mut(nt_).enumerate() {
                        let da = pn * s.delta[a];
                        for (x, &db) in row.iter_mut().zip(&s.delta) {
                            *x -= da * db;
                        }
                    }
                }
                for (&ta, row) in touched.iter().zip(loc.chunks_exact(nt_)) {
                    for (&tb, &v) in touched.iter().zip(row) {
                        h[ta * ns + tb] = v;
                    }
                }
                s.hloc = loc;
            }
            s.evar = evar;
        }
        s.o = o;
        (f, g, h)
    }

    /// Build the proposal at theta: Newton for `v*` to machine precision, then the factor.
    fn proposal(
        &self,
        theta: &[f64],
        warm: Option<&Proposal>,
        s: &mut Scratch,
    ) -> Option<Proposal> {
        let (p, ns) = (self.p, self.n_s());
        let nu = &theta[p..];
        let xb = self.x_beta(&theta[..p]);
        let mut v = warm.map_or_else(|| self.v_start.clone(), |w| w.v.clone());
        let mut u_mode = warm.map_or_else(|| vec![0.0; self.n_i()], |w| w.u_mode.clone());
        let mut tau2 = vec![0.0; self.n_i()];
        let mut finishing = false;
        let mut l = vec![0.0; ns * ns];
        let mut converged = false;
        for _ in 0..100 {
            let (f, g, h) = self.marginal(&xb, nu, &v, &mut u_mode, &mut tau2, true, s);
            if !f.is_finite() {
                return None;
            }
            if !cholesky(&h, ns, &mut l) {
                return None;
            }
            if finishing {
                converged = true;
                break;
            }
            let step = chol_solve(&l, ns, &g);
            let mut t = 1.0;
            let vmax = v.iter().fold(0.0f64, |a, b| a.max(b.abs()));
            let smax = step.iter().fold(0.0f64, |a, b| a.max(b.abs()));
            if smax > 1e-3 * (1.0 + vmax) {
                // guard large steps with a backtracking check on log h
                for _ in 0..40 {
                    let trial: Vec<f64> = v.iter().zip(&step).map(|(a, b)| a + t * b).collect();
                    let mut um = u_mode.clone();
                    let mut t2 = tau2.clone();
                    let (ft, _, _) = self.marginal(&xb, nu, &trial, &mut um, &mut t2, false, s);
                    if ft.is_finite() && ft >= f - 1e-12 * f.abs() {
                        break;
                    }
                    t *= 0.5;
                }
            }
            for (a, b) in v.iter_mut().zip(&step) {
                *a += t * b;
            }
            if t == 1.0 && smax <= 1e-9 * (1.0 + vmax) {
                // quadratic convergence: one more full step lands on the fixed point
                let (_, g2, _) = self.marginal(&xb, nu, &v, &mut u_mode, &mut tau2, false, s);
                let step2 = chol_solve(&l, ns, &g2);
                for (a, b) in v.iter_mut().zip(&step2) {
                    *a += b;
                }
                finishing = true;
            }
        }
        if !converged {
            return None;
        }
        let logdet: f64 = (0..ns).map(|k| l[k * ns + k].ln()).sum();
        let mut o = Vec::new();
        self.offsets(&xb, &v, &mut o);
        let mut wc = vec![0.0; self.n()];
        for j in 0..self.n_i() {
            for i in self.i_ptr[j]..self.i_ptr[j + 1] {
                let (_, _, var) = conditional::obs_terms(
                    self.family,
                    self.y[i],
                    self.nt[i],
                    o[i] + self.zi[i] * u_mode[j],
                );
                wc[i] = self.w[i] * self.zi[i] * var;
            }
        }
        Some(Proposal {
            v,
            l,
            logdet,
            u_mode,
            tau2,
            o,
            wc,
        })
    }

    /// Relative steps of the proposal's central differences.
    fn fd_step(&self, theta: &[f64], j: usize) -> f64 {
        let h = self.settings.proposal_step * theta[j].abs().max(0.01);
        if j >= self.p {
            h.min(0.5 * theta[j])
        } else {
            h
        }
    }

    fn derivs(&self, theta: &[f64], centre: &Proposal) -> Option<ProposalDerivs> {
        let (d, ns) = (self.d, self.n_s());
        let builds: Vec<Option<Proposal>> = (0..2 * d)
            .into_par_iter()
            .map_init(Scratch::default, |s, k| {
                let j = k / 2;
                let h = self.fd_step(theta, j);
                let mut t = theta.to_vec();
                t[j] += if k % 2 == 0 { h } else { -h };
                self.proposal(&t, Some(centre), s)
            })
            .collect();
        let mut dv = vec![0.0; d * ns];
        let mut dl = vec![0.0; d * ns * ns];
        let mut dlogdet = vec![0.0; d];
        for j in 0..d {
            let (plus, minus) = (builds[2 * j].as_ref()?, builds[2 * j + 1].as_ref()?);
            let h2 = 2.0 * self.fd_step(theta, j);
            for k in 0..ns {
                dv[j * ns + k] = (plus.v[k] - minus.v[k]) / h2;
            }
            for k in 0..ns * ns {
                dl[j * ns * ns + k] = (plus.l[k] - minus.l[k]) / h2;
            }
            dlogdet[j] = (0..ns)
                .map(|k| dl[j * ns * ns + k * ns + k] / centre.l[k * ns + k])
                .sum();
        }
        Some(ProposalDerivs { dv, dl, dlogdet })
    }

    /// One draw (or, for an exact block, the single evaluation): `log h`, partial
    /// scores into `s.part`, gradient in u_S into `s.g`, `∂² log h` into `s.hk`.
    fn draw_terms(
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
        lw
    }

    /// Add observation `i`'s residual `res = w (y - E mu)` and weighted variance `wv` to
    /// the partial scores, the u_S gradient and `∂² log h`.
    #[inline]
    fn add_obs(&self, i: usize, res: f64, wv: f64, s: &mut Scratch) {
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

    fn rng(&self, chunk: usize) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream((1u64 << 63) | ((self.index as u64) << 32) | chunk as u64);
        rng
    }

    /// One chunk of draws: the draws of the chunk's stream, evaluated in lane groups
    /// of [`LANES`] draws by [`group_terms`](Self::group_terms) (the same operations
    /// per draw as [`draw_terms`](Self::draw_terms)).
    fn chunk(
        &self,
        theta: &[f64],
        xb: &[f64],
        prop: &Proposal,
        derivs: &ProposalDerivs,
        c: usize,
        s: &mut Scratch,
    ) -> ChunkOut {
        let (d, ns) = (self.d, self.n_s());
        let start = c * ADAPTIVE_CHUNK;
        let len = ADAPTIVE_CHUNK.min(self.m - start);
        let mut rng = self.rng(c);
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
            ls.z.clear();
            ls.z.resize(ns, ZERO);
            ls.zz = ZERO;
            for k in 0..gl {
                let mut zz = 0.0;
                for r in 0..ns {
                    let v: f64 = StandardNormal.sample(&mut rng);
                    zz += v * v;
                    ls.z[r][k] = v;
                }
                ls.zz[k] = zz;
            }
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
                for (e, h) in ls.hk.iter().enumerate() {
                    s.hs[e * len + kc] = h[k];
                }
            }
            done += gl;
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
    fn group(
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

    /// One lane group of draws (standard draws in `ls.z`, `ls.zz`; lanes past the
    /// chunk's end hold zeros and are ignored): log weights into `ls.lw`, partial
    /// and total scores into `ls.part` / `ls.total`, `∂² log h` into `ls.hk`.
    /// Per lane, the operations of [`draw_terms`](Self::draw_terms) and of the
    /// per-draw algebra of the chunk (the Newton steps and the quadrature by the
    /// lane kernels of [`conditional`]).
    #[inline(always)]
    fn group_terms<F: Link>(
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
        // b = L^{-T} z, u_S = v + b
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
            let h = &mut ls.hk[(p + t) * d + p + t];
            for k in 0..LANES {
                h[k] += 0.5 / (nuk * nuk) - u[k] * u[k] / (nuk * nuk * nuk);
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
            self.add_obs_lanes(i, &res, &wv, ls);
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
            // linear-response start, fixed Newton steps, quadrature
            let mut c = [prop.u_mode[j]; LANES];
            for (ii, i) in r.clone().enumerate() {
                let (wc, po, t2, oi) = (prop.wc[i], prop.o[i], prop.tau2[j], &ls.o[ii]);
                for k in 0..LANES {
                    c[k] -= wc * (oi[k] - po) / t2;
                }
            }
            let mut tau2 = ZERO;
            let oj = &ls.o[..nj];
            mode_fixed_lanes::<F>(&obs, oj, nuj, self.settings.newton_steps, &mut c, &mut tau2);
            let mut la = ZERO;
            integrate_lanes::<F>(&self.rule, &obs, oj, nuj, &c, &tau2, &mut ls.nodes, &mut la);
            for k in 0..LANES {
                lw[k] += la[k];
            }
            // posterior moments on the nodes; per observation (one pass over its
            // nodes): E mu_i, E c''_i, then the beta-score deviations of the nodes,
            // delta_n = sum_i w_i x_i (mu_in - E mu_i), over the effect's active
            // columns of X (delta is 0 elsewhere)
            let nodes = &ls.nodes;
            let mut eu2 = ZERO;
            for n in 0..kk {
                let (pn, un) = (&nodes.pi[n], &nodes.u[n]);
                for k in 0..LANES {
                    eu2[k] += pn[k] * un[k] * un[k];
                }
            }
            let mut vu2 = ZERO;
            for n in 0..kk {
                let (pn, un) = (&nodes.pi[n], &nodes.u[n]);
                for k in 0..LANES {
                    let du = un[k] * un[k] - eu2[k];
                    vu2[k] += pn[k] * du * du;
                }
            }
            let acols = &self.a_col[self.a_ptr[j]..self.a_ptr[j + 1]];
            let na = acols.len();
            ls.delta.clear();
            ls.delta.resize(kk * na, ZERO);
            for (ii, i) in r.clone().enumerate() {
                let (mut em, mut ev) = (ZERO, ZERO);
                for n in 0..kk {
                    let (pn, m) = (&ls.nodes.pi[n], &ls.nodes.mu[n * nj + ii]);
                    for k in 0..LANES {
                        em[k] += pn[k] * m[k];
                    }
                }
                for n in 0..kk {
                    let (pn, v) = (&ls.nodes.pi[n], &ls.nodes.var[n * nj + ii]);
                    for k in 0..LANES {
                        ev[k] += pn[k] * v[k];
                    }
                }
                let (y, w) = (self.y[i], self.w[i]);
                let (mut res, mut wv) = (ZERO, ZERO);
                for k in 0..LANES {
                    res[k] = w * (y - em[k]);
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

    /// Offsets `x_i'beta + z_iS'u_S` of local observation `i` for a lane group.
    #[inline(always)]
    fn offset_lanes(&self, xbi: f64, i: usize, us: &[Lane]) -> Lane {
        let mut o = [xbi; LANES];
        for e in self.s_ptr[i]..self.s_ptr[i + 1] {
            let (v, u) = (self.s_val[e], &us[self.s_idx[e]]);
            for k in 0..LANES {
                o[k] += v * u[k];
            }
        }
        o
    }

    /// [`add_obs`](Self::add_obs) for a lane group (over the non-zero entries of the
    /// row of X; the zero ones add nothing).
    #[inline(always)]
    fn add_obs_lanes(&self, i: usize, res: &Lane, wv: &Lane, ls: &mut LaneScratch) {
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

    fn evaluate_exact(&self, theta: &[f64]) -> Option<McEvaluation> {
        let d = self.d;
        let xb = self.x_beta(&theta[..self.p]);
        let mut s = Scratch::default();
        let value = self.draw_terms(theta, &xb, None, &mut s);
        if !value.is_finite() {
            return None;
        }
        Some(McEvaluation {
            value,
            gradient: s.part.clone(),
            hessian: s.hk.clone(),
            blocks: vec![BlockSummary {
                log_max: value,
                sum_w: 1.0,
                value,
                mean_gradient: s.part,
                ess: f64::INFINITY,
                draws: 0,
            }],
            mc_v: vec![0.0; d * d],
        })
    }

    fn evaluate_sampled(&self, theta: &[f64]) -> Option<McEvaluation> {
        let d = self.d;
        let mut s = Scratch::default();
        let prop = self.proposal(theta, None, &mut s)?;
        let derivs = self.derivs(theta, &prop)?;
        let xb = self.x_beta(&theta[..self.p]);
        let n_chunks = self.m.div_ceil(ADAPTIVE_CHUNK);
        let outs: Vec<ChunkOut> = (0..n_chunks)
            .into_par_iter()
            .map_init(Scratch::default, |s, c| {
                self.chunk(theta, &xb, &prop, &derivs, c, s)
            })
            .collect();
        let a = outs
            .iter()
            .map(|o| o.h_max)
            .fold(f64::NEG_INFINITY, f64::max);
        if !a.is_finite() {
            return None;
        }
        let mut sum_w = 0.0;
        for o in &outs {
            for &lw in &o.lw {
                sum_w += (lw - a).exp();
            }
        }
        if !(sum_w > 0.0) || !sum_w.is_finite() {
            return None;
        }
        let value = a + sum_w.ln() - (self.m as f64).ln();
        let mut grad = vec![0.0; d];
        let mut pbar = vec![0.0; d];
        let mut hess = vec![0.0; d * d];
        let mut s2 = 0.0;
        for o in &outs {
            let f = (o.h_max - a).exp() / sum_w;
            for (h, x) in hess.iter_mut().zip(&o.h_sum) {
                *h += f * x;
            }
            for (k, &lw) in o.lw.iter().enumerate() {
                let v = (lw - a).exp() / sum_w;
                s2 += v * v;
                for j in 0..d {
                    grad[j] += v * o.total[k * d + j];
                    pbar[j] += v * o.part[k * d + j];
                }
            }
        }
        let mut mc_v = vec![0.0; d * d];
        for o in &outs {
            for (k, &lw) in o.lw.iter().enumerate() {
                let v = (lw - a).exp() / sum_w;
                let pk = &o.part[k * d..(k + 1) * d];
                let tk = &o.total[k * d..(k + 1) * d];
                for r in 0..d {
                    let (dp, dt) = (pk[r] - pbar[r], tk[r] - grad[r]);
                    for c in 0..d {
                        hess[r * d + c] += v * dp * (pk[c] - pbar[c]);
                        mc_v[r * d + c] += v * v * dt * (tk[c] - grad[c]);
                    }
                }
            }
        }
        symmetrise(&mut hess, d);
        symmetrise(&mut mc_v, d);
        if !value.is_finite() || grad.iter().chain(&hess).any(|v| !v.is_finite()) {
            return None;
        }
        Some(McEvaluation {
            value,
            gradient: grad.clone(),
            hessian: hess,
            blocks: vec![BlockSummary {
                log_max: a,
                sum_w,
                value,
                mean_gradient: grad,
                ess: 1.0 / s2,
                draws: self.m,
            }],
            mc_v,
        })
    }
}

/// [`AdaptiveBlock::group_terms`] compiled for `isa`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn group_dispatch<F: Link>(
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

/// Lower Cholesky factor of the row-major `n x n` matrix `a` into `l`; false when
/// `a` is not (numerically) positive definite.
fn cholesky(a: &[f64], n: usize, l: &mut [f64]) -> bool {
    l.iter_mut().for_each(|v| *v = 0.0);
    for r in 0..n {
        for c in 0..=r {
            let mut s = 0.5 * (a[r * n + c] + a[c * n + r]);
            for k in 0..c {
                s -= l[r * n + k] * l[c * n + k];
            }
            if r == c {
                if !(s > 0.0) || !s.is_finite() {
                    return false;
                }
                l[r * n + r] = s.sqrt();
            } else {
                l[r * n + c] = s / l[c * n + c];
            }
        }
    }
    true
}

/// Solve `L L' x = b`.
fn chol_solve(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = b.to_vec();
    for r in 0..n {
        for c in 0..r {
            y[r] -= l[r * n + c] * y[c];
        }
        y[r] /= l[r * n + r];
    }
    for r in (0..n).rev() {
        for c in r + 1..n {
            y[r] -= l[c * n + r] * y[c];
        }
        y[r] /= l[r * n + r];
    }
    y
}

impl BlockIntegrator for AdaptiveBlock {
    fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation> {
        if self.n_s() == 0 {
            self.evaluate_exact(theta)
        } else {
            self.evaluate_sampled(theta)
        }
    }
    fn draws(&self) -> usize {
        if self.n_s() == 0 {
            0
        } else {
            self.m
        }
    }
    fn hessian_is_exact(&self) -> bool {
        // exact blocks: E[∂²] + Cov on the nodes is the Hessian of the integral
        self.n_s() == 0
    }
    fn posterior_moments(&self, theta: &[f64]) -> Option<Vec<crate::ranef::BlockMoments>> {
        AdaptiveBlock::posterior_moments(self, theta, &self.block_effects).map(|m| vec![m])
    }
}

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
    ) -> Option<crate::ranef::BlockMoments> {
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
        let q = ni + ns;
        let mut lw = Vec::with_capacity(draws);
        let mut m1 = Vec::with_capacity(draws * q);
        let mut m2 = Vec::with_capacity(draws * q);
        let mut o = Vec::new();
        for c in 0..draws.div_ceil(ADAPTIVE_CHUNK) {
            let mut rng = self.rng(c);
            let len = ADAPTIVE_CHUNK.min(draws - c * ADAPTIVE_CHUNK);
            for _ in 0..len {
                let mut logw = 0.0;
                s.us.clear();
                if let Some(pr) = &prop {
                    let l = &pr.l;
                    let z: Vec<f64> = (0..ns).map(|_| StandardNormal.sample(&mut rng)).collect();
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
            .i_effects
            .iter()
            .chain(&self.s_effects)
            .copied()
            .collect();
        let mut out = crate::ranef::BlockMoments {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Blocks, CrossedDesign, Sampler};

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
        for (family, weighted) in [
            (Family::Bernoulli, false),
            (Family::Binomial, true),
            (Family::Poisson, true),
        ] {
            let model = crossed(family, weighted);
            let start = crate::pql(&model).unwrap();
            let mut theta: Vec<f64> = start.beta.iter().map(|b| b + 0.1).collect();
            theta.extend(start.nu.iter().map(|v| v * 1.2));
            let blocks = Blocks::new(&model, Sampler::Adaptive);
            let m = 2 * LANES + 5;
            let block = AdaptiveBlock::new(
                &model,
                &blocks.blocks[0],
                0,
                m,
                11,
                &start.u_star,
                AdaptiveSettings::default(),
            )
            .unwrap();
            assert!(block.n_s() > 0 && block.n_i() > 0);
            let (d, ns) = (block.d, block.n_s());
            let mut s = Scratch::default();
            let prop = block.proposal(&theta, None, &mut s).unwrap();
            let derivs = block.derivs(&theta, &prop).unwrap();
            let xb = block.x_beta(&theta[..block.p]);
            let out = block.chunk(&theta, &xb, &prop, &derivs, 0, &mut s);
            assert_eq!(out.lw.len(), m);
            // one draw at a time
            let mut rng = block.rng(0);
            let l = &prop.l;
            let mut h_sum = vec![0.0; d * d];
            let mut r = Scratch::default();
            for k in 0..m {
                let z: Vec<f64> = (0..ns).map(|_| StandardNormal.sample(&mut rng)).collect();
                let zz: f64 = z.iter().map(|v| v * v).sum();
                let mut b = vec![0.0; ns];
                for i in (0..ns).rev() {
                    let mut acc = z[i];
                    for c in i + 1..ns {
                        acc -= l[c * ns + i] * b[c];
                    }
                    b[i] = acc / l[i * ns + i];
                }
                r.us = prop.v.iter().zip(&b).map(|(v, b)| v + b).collect();
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
}
