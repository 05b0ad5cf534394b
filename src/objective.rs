//! The Monte Carlo likelihood approximation: value, gradient and Hessian (SPEC §5, §7, §11).
//!
//! For block b with draws `u_k` from its importance density,
//! `b_k(theta) = log f_theta(u_k) + log f_theta(y_b | u_k) - log f~(u_k)` and
//! `l_b(theta) = log((1/m) sum_k exp b_k)`; the objective is the sum of `l_b`
//! over blocks plus the exact log density of observations that involve no
//! random effect.  Gradient and Hessian add over blocks: per block
//! `sum_k v_k g_k` and `sum_k v_k H_k + sum_k v_k (g_k - G)(g_k - G)'`.
//!
//! Evaluation is split into chunks of [`CHUNK`] draws.  The kernel runs over
//! one chunk with draws in the inner (contiguous) dimension and produces
//! per-chunk partial sums — max `b`, `sum exp(b - max)`, the weighted mean
//! gradient, the centred weighted scatter and the n_b-vector
//! `sum_k w_k c''(eta_k)` from which the beta block of the Hessian is built as
//! `X'W diag(.) X`.  Chunks are evaluated in parallel and merged in chunk
//! order (Chan et al.'s pairwise update, rescaled to a common max), so the
//! result is bit-identical for any number of threads.

use crate::blocks::{Block, Blocks};
use crate::model::Model;
use crate::sampler::{BlockSample, ChunkDraws, GenScratch, ImportanceSample, CHUNK};
use crate::Family;
use rayon::prelude::*;

/// Chunks evaluated together before their results are folded (bounds memory; fixed, so
/// results never depend on the thread count).
const GROUP: usize = 64;

/// Value, gradient and Hessian of the MCLA at one theta.
#[derive(Debug, Clone, PartialEq)]
pub struct McEvaluation {
    /// `l_m(theta)` as R glmm reports it (without the data constants of SPEC §2).
    pub value: f64,
    /// Gradient (length p + T).
    pub gradient: Vec<f64>,
    /// Hessian, row-major `(p + T) x (p + T)`.
    pub hessian: Vec<f64>,
    /// Per-block summaries.
    pub blocks: Vec<BlockSummary>,
}

/// One block's normalising quantities at a theta.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSummary {
    /// `max_k b_k`.
    pub log_max: f64,
    /// `sum_k exp(b_k - max)`.
    pub sum_w: f64,
    /// `l_b(theta)`.
    pub value: f64,
    /// `sum_k v_k g_k`.
    pub mean_gradient: Vec<f64>,
}

/// Monte Carlo error pieces at a theta (SPEC §7).
#[derive(Debug, Clone, PartialEq)]
pub struct McErrorPieces {
    /// `sum_b V_b`, row-major `(p + T)^2`.
    pub v: Vec<f64>,
    /// Effective sample size `1 / sum_k v_k^2` of each block.
    pub ess: Vec<f64>,
}

/// Per-block copies of the data the kernel reads (contiguous, block order).
#[derive(Debug, Clone)]
struct BlockData {
    y: Vec<f64>,
    w: Vec<f64>,
    trials: Vec<f64>,
    /// `n_b x p`, row-major.
    x: Vec<f64>,
}

/// The MCLA objective over a model, its blocks and a Monte Carlo sample.
#[derive(Debug)]
pub struct Mcla<'a> {
    model: &'a Model,
    blocks: &'a Blocks,
    sample: &'a ImportanceSample,
    data: Vec<BlockData>,
    /// `(block, chunk)` work items in a fixed order.
    tasks: Vec<(usize, usize)>,
    centred_mcse: bool,
}

/// Per-chunk partial sums.
#[derive(Debug, Clone)]
struct ChunkAcc {
    log_max: f64,
    sum_w: f64,
    mean_g: Vec<f64>,
    m2: Vec<f64>,
    cvec: Vec<f64>,
}

impl ChunkAcc {
    /// Merge `other` (a later chunk) into `self`.
    fn merge(&mut self, other: &ChunkAcc) {
        if other.sum_w == 0.0 {
            return;
        }
        if self.sum_w == 0.0 {
            *self = other.clone();
            return;
        }
        let a = self.log_max.max(other.log_max);
        let fa = (self.log_max - a).exp();
        let fb = (other.log_max - a).exp();
        let wa = self.sum_w * fa;
        let wb = other.sum_w * fb;
        let w = wa + wb;
        let d = self.mean_g.len();
        let delta: Vec<f64> = (0..d).map(|l| other.mean_g[l] - self.mean_g[l]).collect();
        let c = wa * wb / w;
        for r in 0..d {
            for s in 0..d {
                self.m2[r * d + s] = self.m2[r * d + s] * fa + other.m2[r * d + s] * fb + c * delta[r] * delta[s];
            }
        }
        for l in 0..d {
            self.mean_g[l] += delta[l] * (wb / w);
        }
        for (x, y) in self.cvec.iter_mut().zip(&other.cvec) {
            *x = *x * fa + *y * fb;
        }
        self.log_max = a;
        self.sum_w = w;
    }
}

/// Reusable per-thread scratch.
#[derive(Debug, Default)]
struct Scratch {
    eta: Vec<f64>,
    sp: Vec<f64>,
    mu: Vec<f64>,
    b: Vec<f64>,
    g: Vec<f64>,
    cpp: Vec<f64>,
    draws: ChunkDraws,
    gen: GenScratch,
}

impl<'a> Mcla<'a> {
    /// The objective for `model` factorised as `blocks`, with `sample` (one [`BlockSample`] per block).
    pub fn new(model: &'a Model, blocks: &'a Blocks, sample: &'a ImportanceSample) -> Mcla<'a> {
        let p = model.p();
        let data = blocks
            .blocks
            .iter()
            .map(|b| BlockData {
                y: b.obs.iter().map(|&i| model.y()[i]).collect(),
                w: b.obs.iter().map(|&i| model.weights()[i]).collect(),
                trials: b.obs.iter().map(|&i| model.trials()[i]).collect(),
                x: b.obs.iter().flat_map(|&i| model.x_row(i).iter().copied()).collect::<Vec<_>>(),
            })
            .collect::<Vec<_>>();
        debug_assert!(data.iter().all(|d| d.x.len() == d.y.len() * p));
        let tasks = sample
            .blocks
            .iter()
            .enumerate()
            .flat_map(|(b, s)| (0..s.n_chunks()).map(move |c| (b, c)))
            .collect();
        Mcla { model, blocks, sample, data, tasks, centred_mcse: blocks.blocks.len() > 1 || !blocks.fixed_only.is_empty() }
    }

    /// Use the centred per-block MCSE formula (default for several blocks) or R glmm's
    /// uncentred one (default for the joint sampler).
    pub fn with_centred_mcse(mut self, centred: bool) -> Self {
        self.centred_mcse = centred;
        self
    }

    /// Number of parameters `p + T`.
    pub fn dim(&self) -> usize {
        self.model.n_params()
    }

    fn check_theta(&self, theta: &[f64]) -> bool {
        theta.len() == self.dim()
            && theta.iter().all(|v| v.is_finite())
            && theta[self.model.p()..].iter().all(|&nu| nu > 0.0)
    }

    /// Evaluate value, gradient and Hessian at `theta = (beta, nu)`.
    /// Returns `None` outside the parameter space (some `nu_t <= 0`, or non-finite theta)
    /// and when the value is not finite.
    pub fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation> {
        if !self.check_theta(theta) {
            return None;
        }
        let model = self.model;
        let (p, d) = (model.p(), self.dim());
        let beta = &theta[..p];
        let xb_all = model.x_beta(beta);
        let mut accs: Vec<Option<ChunkAcc>> = vec![None; self.sample.blocks.len()];
        for group in self.tasks.chunks(GROUP) {
            let results: Vec<ChunkAcc> = group
                .par_iter()
                .map_init(Scratch::default, |s, &(b, c)| {
                    let block = &self.blocks.blocks[b];
                    let bs = &self.sample.blocks[b];
                    let len = self.chunk_terms(theta, &xb_all, block, b, bs, c, s);
                    chunk_reduce(s, len, d, block.n())
                })
                .collect();
            for (&(b, _), r) in group.iter().zip(results) {
                match &mut accs[b] {
                    Some(acc) => acc.merge(&r),
                    slot @ None => *slot = Some(r),
                }
            }
        }
        let mut value = 0.0;
        let mut grad = vec![0.0; d];
        let mut hess = vec![0.0; d * d];
        let mut summaries = Vec::with_capacity(accs.len());
        for (b, acc) in accs.into_iter().enumerate() {
            let acc = acc?;
            if acc.sum_w <= 0.0 || !acc.log_max.is_finite() {
                return None;
            }
            let block = &self.blocks.blocks[b];
            let data = &self.data[b];
            let m = self.sample.blocks[b].m() as f64;
            let lb = acc.log_max + acc.sum_w.ln() - m.ln();
            value += lb;
            for l in 0..d {
                grad[l] += acc.mean_g[l];
            }
            for r in 0..d * d {
                hess[r] += acc.m2[r] / acc.sum_w;
            }
            // E_w[H_k]: beta block -X'W diag(E c'') X; nu diagonal -q/(2 nu^2) - 2 G_nu / nu.
            for (r, &cv) in acc.cvec.iter().enumerate() {
                let wc = data.w[r] * cv / acc.sum_w;
                let xr = &data.x[r * p..(r + 1) * p];
                for a in 0..p {
                    for bb in 0..p {
                        hess[a * d + bb] -= wc * xr[a] * xr[bb];
                    }
                }
            }
            for (t, &qt) in block.q_per_component.iter().enumerate() {
                if qt > 0 {
                    let nu = theta[p + t];
                    let l = p + t;
                    hess[l * d + l] += -(qt as f64) / (2.0 * nu * nu) - 2.0 * acc.mean_g[l] / nu;
                }
            }
            summaries.push(BlockSummary { log_max: acc.log_max, sum_w: acc.sum_w, value: lb, mean_gradient: acc.mean_g });
        }
        // Observations without random effects: exact.
        let fam = model.family();
        for &i in &self.blocks.fixed_only {
            let (eta, w, y, nt) = (xb_all[i], model.weights()[i], model.y()[i], model.trials()[i]);
            value += w * fam.log_density_kernel(y, eta, nt);
            let res = w * (y - fam.mean(eta, nt));
            let wc = w * fam.variance(eta, nt);
            let xr = model.x_row(i);
            for a in 0..p {
                grad[a] += xr[a] * res;
                for bb in 0..p {
                    hess[a * d + bb] -= wc * xr[a] * xr[bb];
                }
            }
        }
        if !value.is_finite() || grad.iter().chain(&hess).any(|v| !v.is_finite()) {
            return None;
        }
        // symmetrise exactly
        for r in 0..d {
            for s in 0..r {
                let v = 0.5 * (hess[r * d + s] + hess[s * d + r]);
                hess[r * d + s] = v;
                hess[s * d + r] = v;
            }
        }
        Some(McEvaluation { value, gradient: grad, hessian: hess, blocks: summaries })
    }

    /// Monte Carlo error pieces at `theta`, given the evaluation there:
    /// `V = sum_b sum_k v_k^2 (g_k - c_b)(g_k - c_b)'` with `c_b` the block's weighted mean
    /// gradient (centred, several blocks) or 0 (R glmm's formula), and each block's ESS.
    pub fn mc_error(&self, theta: &[f64], eval: &McEvaluation) -> Option<McErrorPieces> {
        if !self.check_theta(theta) {
            return None;
        }
        let (p, d) = (self.model.p(), self.dim());
        let xb_all = self.model.x_beta(&theta[..p]);
        let nb = self.sample.blocks.len();
        let mut v_blocks = vec![vec![0.0; d * d]; nb];
        let mut sum_v2 = vec![0.0; nb];
        for group in self.tasks.chunks(GROUP) {
            let results: Vec<(Vec<f64>, f64)> = group
                .par_iter()
                .map_init(Scratch::default, |s, &(b, c)| {
                    let block = &self.blocks.blocks[b];
                    let bs = &self.sample.blocks[b];
                    let len = self.chunk_terms(theta, &xb_all, block, b, bs, c, s);
                    let sb = &eval.blocks[b];
                    let centre: Vec<f64> = if self.centred_mcse { sb.mean_gradient.clone() } else { vec![0.0; d] };
                    let mut v = vec![0.0; d * d];
                    let mut s2 = 0.0;
                    let mut gk = vec![0.0; d];
                    for k in 0..len {
                        let vk = (s.b[k] - sb.log_max).exp() / sb.sum_w;
                        let v2 = vk * vk;
                        s2 += v2;
                        for l in 0..d {
                            gk[l] = s.g[l * CHUNK + k] - centre[l];
                        }
                        for r in 0..d {
                            for c2 in 0..d {
                                v[r * d + c2] += v2 * gk[r] * gk[c2];
                            }
                        }
                    }
                    (v, s2)
                })
                .collect();
            for (&(b, _), (v, s2)) in group.iter().zip(results) {
                for (a, x) in v_blocks[b].iter_mut().zip(&v) {
                    *a += x;
                }
                sum_v2[b] += s2;
            }
        }
        let mut v = vec![0.0; d * d];
        for vb in &v_blocks {
            for (a, x) in v.iter_mut().zip(vb) {
                *a += x;
            }
        }
        Some(McErrorPieces { v, ess: sum_v2.iter().map(|s| 1.0 / s).collect() })
    }

    /// Per-draw terms of one chunk into the scratch: `b_k` in `s.b`, `g_k` in `s.g`
    /// (`g[l * CHUNK + k]`) and `c''` per observation in `s.cpp`.  Returns the number of draws.
    #[allow(clippy::too_many_arguments)]
    fn chunk_terms(
        &self,
        theta: &[f64],
        xb_all: &[f64],
        block: &Block,
        b: usize,
        bs: &BlockSample,
        c: usize,
        s: &mut Scratch,
    ) -> usize {
        let model = self.model;
        let (p, d) = (model.p(), self.dim());
        let nb = block.n();
        s.eta.resize(CHUNK, 0.0);
        s.sp.resize(CHUNK, 0.0);
        s.mu.resize(CHUNK, 0.0);
        s.b.clear();
        s.b.resize(CHUNK, 0.0);
        s.g.clear();
        s.g.resize(d * CHUNK, 0.0);
        s.cpp.resize(nb * CHUNK, 0.0);
        let mut draws = std::mem::take(&mut s.draws);
        let chunk = bs.chunk(c, &mut draws, &mut s.gen);
        let len = chunk.len;
        let data = &self.data[b];
        let family = model.family();
        for r in 0..nb {
            let xb = xb_all[block.obs[r]];
            let eta = &mut s.eta[..CHUNK];
            eta.iter_mut().for_each(|e| *e = xb);
            let (cols, vals) = block.z.row(r);
            for (&j, &v) in cols.iter().zip(vals) {
                let uj = &chunk.u[j * CHUNK..(j + 1) * CHUNK];
                if v == 1.0 {
                    for (e, &x) in eta.iter_mut().zip(uj) {
                        *e += x;
                    }
                } else {
                    for (e, &x) in eta.iter_mut().zip(uj) {
                        *e += v * x;
                    }
                }
            }
            let (y, w, nt) = (data.y[r], data.w[r], data.trials[r]);
            let xr = &data.x[r * p..(r + 1) * p];
            let cpp = &mut s.cpp[r * CHUNK..(r + 1) * CHUNK];
            match family {
                Family::Bernoulli | Family::Binomial => {
                    // lengths are CHUNK by construction: the call cannot fail
                    let _ = mcla_math::softplus_logistic_slice(&s.eta, &mut s.sp, &mut s.mu);
                    for k in 0..CHUNK {
                        let mu = s.mu[k];
                        s.b[k] += w * (y * s.eta[k] - nt * s.sp[k]);
                        s.sp[k] = w * (y - nt * mu); // residual, reusing the buffer
                        cpp[k] = nt * mu * (1.0 - mu);
                    }
                }
                Family::Poisson => {
                    let _ = mcla_math::exp_slice(&s.eta, &mut s.mu);
                    for k in 0..CHUNK {
                        let mu = s.mu[k];
                        s.b[k] += w * (y * s.eta[k] - mu);
                        s.sp[k] = w * (y - mu);
                        cpp[k] = mu;
                    }
                }
            }
            for (l, &xl) in xr.iter().enumerate() {
                if xl != 0.0 {
                    let gl = &mut s.g[l * CHUNK..(l + 1) * CHUNK];
                    for (g, &res) in gl.iter_mut().zip(&s.sp) {
                        *g += xl * res;
                    }
                }
            }
        }
        // log f_theta(u_k) - log f~(u_k) and the nu gradient.
        let ln2pi = (2.0 * std::f64::consts::PI).ln();
        for (t, &qt) in block.q_per_component.iter().enumerate() {
            if qt == 0 {
                continue;
            }
            let nu = theta[p + t];
            let qf = qt as f64;
            let lnorm = -qf / 2.0 * (ln2pi + nu.ln());
            let inv2nu = 1.0 / (2.0 * nu);
            let inv2nu2 = 1.0 / (2.0 * nu * nu);
            let gconst = -qf / (2.0 * nu);
            let ss = &chunk.ss[t * CHUNK..(t + 1) * CHUNK];
            let gl = &mut s.g[(p + t) * CHUNK..(p + t + 1) * CHUNK];
            for k in 0..CHUNK {
                s.b[k] += lnorm - ss[k] * inv2nu;
                gl[k] = gconst + ss[k] * inv2nu2;
            }
        }
        for k in 0..CHUNK {
            s.b[k] -= chunk.log_f_tilde[k];
        }
        s.draws = draws;
        len
    }
}

/// Reduce one chunk's per-draw terms to partial sums.
fn chunk_reduce(s: &Scratch, len: usize, d: usize, nb: usize) -> ChunkAcc {
    let b = &s.b[..len];
    let a = b.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut acc = ChunkAcc { log_max: a, sum_w: 0.0, mean_g: vec![0.0; d], m2: vec![0.0; d * d], cvec: vec![0.0; nb] };
    if !a.is_finite() {
        // all draws have zero weight (or NaN): contributes nothing
        if a.is_nan() || a == f64::INFINITY {
            acc.sum_w = f64::NAN;
        }
        return acc;
    }
    let mut wts = [0.0f64; CHUNK];
    let mut sw = 0.0;
    for k in 0..len {
        wts[k] = (b[k] - a).exp();
        sw += wts[k];
    }
    for l in 0..d {
        let gl = &s.g[l * CHUNK..l * CHUNK + len];
        let mut t = 0.0;
        for k in 0..len {
            t += wts[k] * gl[k];
        }
        acc.mean_g[l] = t / sw;
    }
    for r in 0..d {
        let gr = &s.g[r * CHUNK..r * CHUNK + len];
        for c in 0..=r {
            let gc = &s.g[c * CHUNK..c * CHUNK + len];
            let (mr, mc) = (acc.mean_g[r], acc.mean_g[c]);
            let mut t = 0.0;
            for k in 0..len {
                t += wts[k] * (gr[k] - mr) * (gc[k] - mc);
            }
            acc.m2[r * d + c] = t;
            acc.m2[c * d + r] = t;
        }
    }
    for (r, cv) in acc.cvec.iter_mut().enumerate() {
        let cp = &s.cpp[r * CHUNK..r * CHUNK + len];
        let mut t = 0.0;
        for k in 0..len {
            t += wts[k] * cp[k];
        }
        *cv = t;
    }
    acc.sum_w = sw;
    acc
}
