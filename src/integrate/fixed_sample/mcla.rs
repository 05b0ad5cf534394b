//! The Monte Carlo likelihood approximation: value, gradient and Hessian (SPEC §5, §7, §11).
//!
//! For block b with draws `u_k` from its importance density,
//! `b_k(theta) = log f_theta(u_k) + log f_theta(y_b | u_k) - log f~(u_k)` and
//! `l_b(theta) = log((1/m) sum_k exp b_k)`; the objective is the sum of `l_b`
//! over blocks plus the exact log density of observations that involve no
//! random effect.  Gradient and Hessian add over blocks: per block
//! `sum_k v_k g_k` and `sum_k v_k H_k + sum_k v_k (g_k - G)(g_k - G)'`.
//!
//! **Kernel.** Evaluation runs over chunks of [`CHUNK`] draws stored
//! draw-minor (`u[j][k]`), so each observation is one fused, vectorised pass
//! over the chunk: `eta = x'beta + z'u_k`, one shared `exp` for `log(1+e^eta)`
//! and the logistic mean, then accumulation.  Observations whose X rows are
//! identical ("patterns", e.g. the four cross types of the salamander design)
//! share their residual and `c''` accumulators, so the beta gradient and the
//! `X'W diag(sum_k v_k c''(eta_k)) X` block of the Hessian cost one add per
//! observation and draw.  The loops are compiled for AVX-512, AVX2 and a
//! portable baseline and dispatched at run time; none uses fused
//! multiply-add, so every path gives the same bits.
//!
//! **Reduction.** Each chunk yields partial sums — max `b`, `sum w`, the
//! weighted mean gradient, the centred weighted scatter, the per-pattern
//! `sum w c''`, and the squared-weight sums the Monte Carlo standard errors
//! need — merged in chunk order with Chan et al.'s pairwise update rescaled to
//! a common max.  The result is bit-identical for any number of threads.

use crate::integrate::fixed_sample::sampler::{
    BlockSample, ChunkDraws, GenScratch, ImportanceSample, CHUNK,
};
use crate::integrate::{BlockIntegrator, BlockMethod, BlockMoments, BlockSummary, McEvaluation};
use crate::model::blocks::{Block, Blocks};
use crate::model::family::Family;
use crate::model::Model;
use rayon::prelude::*;

/// Chunks evaluated together before their results are folded (bounds memory; fixed, so
/// results never depend on the thread count).
const GROUP: usize = 64;

/// Per-block copies of the data the kernel reads, grouped by X-row pattern.
#[derive(Debug, Clone)]
struct BlockData {
    y: Vec<f64>,
    w: Vec<f64>,
    trials: Vec<f64>,
    /// Pattern (distinct X row) of each observation.
    pattern: Vec<usize>,
    /// Distinct X rows, `n_patterns x p` row-major.
    patterns: Vec<f64>,
    n_patterns: usize,
}

impl BlockData {
    fn new(model: &Model, block: &Block) -> BlockData {
        let p = model.p();
        let mut patterns: Vec<f64> = Vec::new();
        let mut index: std::collections::HashMap<Vec<u64>, usize> =
            std::collections::HashMap::new();
        let mut pattern = Vec::with_capacity(block.n());
        for &i in &block.obs {
            let row = model.x_row(i);
            let key: Vec<u64> = row.iter().map(|v| v.to_bits()).collect();
            let next = index.len();
            let id = *index.entry(key).or_insert_with(|| {
                patterns.extend_from_slice(row);
                next
            });
            pattern.push(id);
        }
        BlockData {
            y: block.obs.iter().map(|&i| model.y()[i]).collect(),
            w: block.obs.iter().map(|&i| model.weights()[i]).collect(),
            trials: block.obs.iter().map(|&i| model.trials()[i]).collect(),
            n_patterns: patterns.len() / p.max(1),
            pattern,
            patterns,
        }
    }
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
    /// `sum w (g - G)(g - G)'`.
    m2: Vec<f64>,
    /// Per pattern: `sum w c''` (weighted by the observation weights).
    cvec: Vec<f64>,
    /// `sum w^2`.
    s2: f64,
    /// `sum w^2 (g - G)`.
    h2: Vec<f64>,
    /// `sum w^2 (g - G)(g - G)'`.
    q2: Vec<f64>,
}

/// Shift squared-weight sums centred at `from` to centre `to`.
fn recentre(q2: &mut [f64], h2: &mut [f64], s2: f64, from: &[f64], to: &[f64]) {
    let d = from.len();
    let c: Vec<f64> = (0..d).map(|l| from[l] - to[l]).collect();
    for r in 0..d {
        for s in 0..d {
            q2[r * d + s] += c[r] * h2[s] + h2[r] * c[s] + s2 * c[r] * c[s];
        }
    }
    for l in 0..d {
        h2[l] += s2 * c[l];
    }
}

impl ChunkAcc {
    /// Merge `other` (a later chunk) into `self`.
    fn merge(&mut self, mut other: ChunkAcc) {
        if other.sum_w == 0.0 {
            return;
        }
        if self.sum_w == 0.0 || self.sum_w.is_nan() || other.sum_w.is_nan() {
            if self.sum_w == 0.0 || other.sum_w.is_nan() {
                *self = other;
            }
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
        let new_mean: Vec<f64> = (0..d)
            .map(|l| self.mean_g[l] + delta[l] * (wb / w))
            .collect();
        let c = wa * wb / w;
        for r in 0..d {
            for s in 0..d {
                self.m2[r * d + s] =
                    self.m2[r * d + s] * fa + other.m2[r * d + s] * fb + c * delta[r] * delta[s];
            }
        }
        for (x, y) in self.cvec.iter_mut().zip(&other.cvec) {
            *x = *x * fa + *y * fb;
        }
        // squared-weight sums: rescale by f^2, recentre both at the merged mean
        let (fa2, fb2) = (fa * fa, fb * fb);
        self.s2 *= fa2;
        self.h2.iter_mut().for_each(|v| *v *= fa2);
        self.q2.iter_mut().for_each(|v| *v *= fa2);
        other.s2 *= fb2;
        other.h2.iter_mut().for_each(|v| *v *= fb2);
        other.q2.iter_mut().for_each(|v| *v *= fb2);
        recentre(&mut self.q2, &mut self.h2, self.s2, &self.mean_g, &new_mean);
        recentre(
            &mut other.q2,
            &mut other.h2,
            other.s2,
            &other.mean_g,
            &new_mean,
        );
        for (x, y) in self.q2.iter_mut().zip(&other.q2) {
            *x += y;
        }
        for (x, y) in self.h2.iter_mut().zip(&other.h2) {
            *x += y;
        }
        self.s2 += other.s2;
        self.mean_g = new_mean;
        self.log_max = a;
        self.sum_w = w;
    }
}

/// Reusable per-thread scratch (fixed-size rows: no bounds checks in the kernel).
#[derive(Debug)]
struct Scratch {
    eta: Box<[f64; CHUNK]>,
    b: Box<[f64; CHUNK]>,
    /// Per pattern: `sum_i w_i (y_i - mu_ik)`.
    racc: Vec<[f64; CHUNK]>,
    /// Per pattern: `sum_i w_i c''(eta_ik)`.
    cacc: Vec<[f64; CHUNK]>,
    /// `g[l][k]`.
    g: Vec<[f64; CHUNK]>,
    draws: ChunkDraws,
    gen: GenScratch,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            eta: Box::new([0.0; CHUNK]),
            b: Box::new([0.0; CHUNK]),
            racc: Vec::new(),
            cacc: Vec::new(),
            g: Vec::new(),
            draws: ChunkDraws::default(),
            gen: GenScratch::default(),
        }
    }
}

impl<'a> Mcla<'a> {
    /// The objective for `model` factorised as `blocks`, with `sample` (one [`BlockSample`] per block).
    pub fn new(model: &'a Model, blocks: &'a Blocks, sample: &'a ImportanceSample) -> Mcla<'a> {
        let data = blocks
            .blocks
            .iter()
            .map(|b| BlockData::new(model, b))
            .collect();
        let tasks = sample
            .blocks
            .iter()
            .enumerate()
            .flat_map(|(b, s)| (0..s.n_chunks()).map(move |c| (b, c)))
            .collect();
        Mcla {
            model,
            blocks,
            sample,
            data,
            tasks,
            centred_mcse: blocks.blocks.len() > 1 || !blocks.fixed_only.is_empty(),
        }
    }

    /// Use the centred per-block MCSE formula (default for several blocks) or R glmm's
    /// uncentred one (default for a single block).
    pub fn with_centred_mcse(mut self, centred: bool) -> Self {
        self.centred_mcse = centred;
        self
    }

    /// Number of parameters `p + T`.
    pub fn dim(&self) -> usize {
        self.model.n_params()
    }

    /// Draws per block (the largest block sample).
    pub fn draws_per_block(&self) -> usize {
        self.sample.blocks.iter().map(|b| b.m()).max().unwrap_or(0)
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
        let xb_all = model.x_beta(&theta[..p]);
        let mut accs: Vec<Option<ChunkAcc>> = vec![None; self.sample.blocks.len()];
        for group in self.tasks.chunks(GROUP) {
            let results: Vec<ChunkAcc> = group
                .par_iter()
                .map_init(Scratch::default, |s, &(b, c)| {
                    let len = self.chunk_terms(theta, &xb_all, b, c, s);
                    chunk_reduce(s, len, d, self.data[b].n_patterns)
                })
                .collect();
            for (&(b, _), r) in group.iter().zip(results) {
                match &mut accs[b] {
                    Some(acc) => acc.merge(r),
                    slot @ None => *slot = Some(r),
                }
            }
        }
        let mut value = 0.0;
        let mut grad = vec![0.0; d];
        let mut hess = vec![0.0; d * d];
        let mut mc_v = vec![0.0; d * d];
        let mut summaries = Vec::with_capacity(accs.len());
        for (b, acc) in accs.into_iter().enumerate() {
            let mut acc = acc?;
            if !(acc.sum_w > 0.0) || !acc.log_max.is_finite() {
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
            // E_w[H_k]: beta block -sum_pattern x x' E_w[sum_i w_i c''], nu diagonal
            // q/(2 nu^2) - E_w[S_t]/nu^3 = -q/(2 nu^2) - 2 G_nu / nu.
            for (pat, &cv) in acc.cvec.iter().enumerate() {
                let wc = cv / acc.sum_w;
                let xr = &data.patterns[pat * p..(pat + 1) * p];
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
            // Monte Carlo error: sum_k v_k^2 (g_k - c)(g_k - c)' = q2(c) / S^2
            if !self.centred_mcse {
                let zero = vec![0.0; d];
                let mean = acc.mean_g.clone();
                recentre(&mut acc.q2, &mut acc.h2, acc.s2, &mean, &zero);
            }
            let s2n = acc.sum_w * acc.sum_w;
            let block_v: Vec<f64> = acc.q2.iter().map(|q| q / s2n).collect();
            for (v, q) in mc_v.iter_mut().zip(&block_v) {
                *v += q;
            }
            summaries.push(BlockSummary {
                log_max: acc.log_max,
                sum_w: acc.sum_w,
                value: lb,
                mean_gradient: acc.mean_g,
                ess: s2n / acc.s2,
                draws: self.sample.blocks[b].m(),
                // 1/ESS - 1/m, with the operations of the formula it replaced
                loglik_var: (1.0 / (s2n / acc.s2) - 1.0 / self.sample.blocks[b].m() as f64)
                    .max(0.0),
                method: BlockMethod::ImportanceSample,
                mc_v: block_v,
            });
        }
        // Observations without random effects: exact.
        let fam = model.family();
        for &i in &self.blocks.fixed_only {
            let (eta, w, y, nt) = (
                xb_all[i],
                model.weights()[i],
                model.y()[i],
                model.trials()[i],
            );
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
        for m in [&mut hess, &mut mc_v] {
            for r in 0..d {
                for s in 0..r {
                    let v = 0.5 * (m[r * d + s] + m[s * d + r]);
                    m[r * d + s] = v;
                    m[s * d + r] = v;
                }
            }
        }
        Some(McEvaluation {
            value,
            gradient: grad,
            hessian: hess,
            blocks: summaries,
            mc_v,
        })
    }

    /// Posterior moments of the random effects given the data at `theta`, per block, from the
    /// self-normalised importance weights `v_k` of the fixed sample:
    /// `E[u_j | y] = sum_k v_k u_kj`, `SD[u_j | y]` from `sum_k v_k u_kj^2`, and the Monte Carlo
    /// standard error of the mean by the delta method for the ratio estimator,
    /// `sqrt(sum_k v_k^2 (u_kj - E[u_j | y])^2)`.  Blocks in order, effects in the block's local
    /// order.  `None` outside the parameter space or when a block's weights all underflow.
    pub fn posterior_moments(&self, theta: &[f64]) -> Option<Vec<crate::integrate::BlockMoments>> {
        if !self.check_theta(theta) {
            return None;
        }
        let xb_all = self.model.x_beta(&theta[..self.model.p()]);
        (0..self.sample.blocks.len())
            .into_par_iter()
            .map(|b| {
                let mut s = Scratch::default();
                let q = self.blocks.blocks[b].q();
                let mut acc = crate::integrate::fixed_sample::moments::MomentAcc::new(q);
                for c in 0..self.sample.blocks[b].n_chunks() {
                    let len = self.chunk_terms(theta, &xb_all, b, c, &mut s);
                    let mut draws = std::mem::take(&mut s.draws);
                    let chunk = self.sample.blocks[b].chunk(c, &mut draws, &mut s.gen);
                    acc.add_chunk(&s.b[..len], &chunk.u, len);
                    s.draws = draws;
                }
                acc.finish()
            })
            .collect()
    }

    /// Per-draw terms of one chunk into the scratch: `b_k` in `s.b`, `g_k` in `s.g`,
    /// per-pattern `sum w c''` in `s.cacc`.  Returns the number of draws.
    fn chunk_terms(
        &self,
        theta: &[f64],
        xb_all: &[f64],
        b: usize,
        c: usize,
        s: &mut Scratch,
    ) -> usize {
        let block = &self.blocks.blocks[b];
        let bs: &BlockSample = &self.sample.blocks[b];
        let data = &self.data[b];
        let (p, d) = (self.model.p(), self.dim());
        s.racc.clear();
        s.racc.resize(data.n_patterns, [0.0; CHUNK]);
        s.cacc.clear();
        s.cacc.resize(data.n_patterns, [0.0; CHUNK]);
        s.g.clear();
        s.g.resize(d, [0.0; CHUNK]);
        *s.b = [0.0; CHUNK];
        let mut draws = std::mem::take(&mut s.draws);
        let chunk = bs.chunk(c, &mut draws, &mut s.gen);
        let len = chunk.len;
        let family = self.model.family();
        let isa = mcla_math::active_isa();
        for r in 0..block.n() {
            let (cols, vals) = block.z.row(r);
            let pat = data.pattern[r];
            let obs = Obs {
                xb: xb_all[block.obs[r]],
                y: data.y[r],
                w: data.w[r],
                nt: data.trials[r],
            };
            let pass = Pass {
                family,
                obs,
                cols,
                vals,
                u: &chunk.u,
            };
            let mut acc = Acc {
                eta: &mut s.eta,
                b: &mut s.b,
                racc: &mut s.racc[pat],
                cacc: &mut s.cacc[pat],
            };
            // SAFETY: `isa` is what `active_isa` reported for this CPU.
            unsafe { observation_pass(isa, &pass, &mut acc) };
        }
        // beta gradient: g[l] = sum_pattern x_pattern,l * racc[pattern]
        for (pat, racc) in s.racc.iter().enumerate() {
            let xr = &data.patterns[pat * p..(pat + 1) * p];
            for (l, &xl) in xr.iter().enumerate() {
                if xl != 0.0 {
                    let gl = &mut s.g[l];
                    for k in 0..CHUNK {
                        gl[k] += xl * racc[k];
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
            let ss = &chunk.ss[t];
            let gl = &mut s.g[p + t];
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

/// One observation's data.
#[derive(Clone, Copy)]
struct Obs {
    xb: f64,
    y: f64,
    w: f64,
    nt: f64,
}

/// One observation's inputs to the kernel: its data, its row of Z and the chunk's draws.
struct Pass<'a> {
    family: Family,
    obs: Obs,
    cols: &'a [usize],
    vals: &'a [f64],
    u: &'a [[f64; CHUNK]],
}

/// The per-draw accumulators an observation adds to (`eta` is scratch).
struct Acc<'a> {
    eta: &'a mut [f64; CHUNK],
    b: &'a mut [f64; CHUNK],
    racc: &'a mut [f64; CHUNK],
    cacc: &'a mut [f64; CHUNK],
}

/// One observation over a chunk: `eta_k = x'beta + z'u_k`, then `b_k`, the residual and
/// `c''` accumulated into the observation's pattern.  Dispatches to a copy of the same
/// code compiled for the CPU's vector extensions (plain IEEE arithmetic: same bits on all).
///
/// # Safety
/// `isa` must be what `mcla_math::active_isa()` returned on this CPU.
#[inline]
unsafe fn observation_pass(isa: mcla_math::Isa, pass: &Pass<'_>, acc: &mut Acc<'_>) {
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY (both): the caller guarantees the CPU has these features.
        mcla_math::Isa::Avx512 => return unsafe { observation_pass_avx512(pass, acc) },
        mcla_math::Isa::Avx2 => return unsafe { observation_pass_avx2(pass, acc) },
        _ => {}
    }
    let _ = isa;
    observation_pass_generic(pass, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2")]
unsafe fn observation_pass_avx512(pass: &Pass<'_>, acc: &mut Acc<'_>) {
    observation_pass_generic(pass, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn observation_pass_avx2(pass: &Pass<'_>, acc: &mut Acc<'_>) {
    observation_pass_generic(pass, acc)
}

#[inline(always)]
fn observation_pass_generic(pass: &Pass<'_>, acc: &mut Acc<'_>) {
    let Pass {
        family,
        obs,
        cols,
        vals,
        u,
    } = *pass;
    let Acc { eta, b, racc, cacc } = acc;
    let xb = obs.xb;
    // Rows with one or two indicator entries (one level of each of one or two factors, the
    // common case) compute eta inside the fused loop; other rows build it first.
    match (cols, vals) {
        (&[j], &[1.0]) => {
            let uj = &u[j];
            accumulate(family, obs, |k| xb + uj[k], b, racc, cacc)
        }
        (&[j1, j2], &[1.0, 1.0]) => {
            let (u1, u2) = (&u[j1], &u[j2]);
            accumulate(family, obs, |k| xb + u1[k] + u2[k], b, racc, cacc)
        }
        _ => {
            **eta = [xb; CHUNK];
            for (&j, &v) in cols.iter().zip(vals) {
                let uj = &u[j];
                for k in 0..CHUNK {
                    eta[k] += v * uj[k];
                }
            }
            accumulate(family, obs, |k| eta[k], b, racc, cacc)
        }
    }
}

/// The fused per-draw loop: `b_k += w (y eta - c(eta))`, residual and `c''` into the pattern.
#[inline(always)]
fn accumulate(
    family: Family,
    obs: Obs,
    eta_of: impl Fn(usize) -> f64,
    b: &mut [f64; CHUNK],
    racc: &mut [f64; CHUNK],
    cacc: &mut [f64; CHUNK],
) {
    let Obs { y, w, nt, .. } = obs;
    let wnt = w * nt;
    match family {
        Family::Bernoulli | Family::Binomial => {
            for k in 0..CHUNK {
                let e = eta_of(k);
                let (sp, mu) = mcla_math::softplus_logistic(e);
                b[k] += w * (y * e - nt * sp);
                racc[k] += w * (y - nt * mu);
                cacc[k] += wnt * (mu * (1.0 - mu));
            }
        }
        Family::Poisson => {
            for k in 0..CHUNK {
                let e = eta_of(k);
                let mu = mcla_math::exp(e);
                b[k] += w * (y * e - mu);
                racc[k] += w * (y - mu);
                cacc[k] += w * mu;
            }
        }
    }
}

/// Reduce one chunk's per-draw terms to partial sums.
fn chunk_reduce(s: &Scratch, len: usize, d: usize, n_patterns: usize) -> ChunkAcc {
    let b = &s.b[..len];
    let a = b.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut acc = ChunkAcc {
        log_max: a,
        sum_w: 0.0,
        mean_g: vec![0.0; d],
        m2: vec![0.0; d * d],
        cvec: vec![0.0; n_patterns],
        s2: 0.0,
        h2: vec![0.0; d],
        q2: vec![0.0; d * d],
    };
    if !a.is_finite() {
        // all draws have zero weight (contributes nothing), or NaN/+inf (poisons the block)
        if a.is_nan() || a == f64::INFINITY || b.iter().any(|v| v.is_nan()) {
            acc.sum_w = f64::NAN;
        }
        return acc;
    }
    let mut wts = [0.0f64; CHUNK];
    let mut sw = 0.0;
    let mut s2 = 0.0;
    for k in 0..len {
        let wk = (b[k] - a).exp();
        wts[k] = wk;
        sw += wk;
        s2 += wk * wk;
    }
    if b.iter().any(|v| v.is_nan()) {
        acc.sum_w = f64::NAN;
        return acc;
    }
    for l in 0..d {
        let gl = &s.g[l][..len];
        let mut t = 0.0;
        for k in 0..len {
            t += wts[k] * gl[k];
        }
        acc.mean_g[l] = t / sw;
    }
    for r in 0..d {
        let (gr, mr) = (&s.g[r][..len], acc.mean_g[r]);
        let mut h = 0.0;
        for k in 0..len {
            h += wts[k] * wts[k] * (gr[k] - mr);
        }
        acc.h2[r] = h;
        for c in 0..=r {
            let (gc, mc) = (&s.g[c][..len], acc.mean_g[c]);
            let (mut t, mut t2) = (0.0, 0.0);
            for k in 0..len {
                let prod = (gr[k] - mr) * (gc[k] - mc);
                t += wts[k] * prod;
                t2 += wts[k] * wts[k] * prod;
            }
            acc.m2[r * d + c] = t;
            acc.m2[c * d + r] = t;
            acc.q2[r * d + c] = t2;
            acc.q2[c * d + r] = t2;
        }
    }
    for (pat, cv) in acc.cvec.iter_mut().enumerate() {
        let cp = &s.cacc[pat][..len];
        let mut t = 0.0;
        for k in 0..len {
            t += wts[k] * cp[k];
        }
        *cv = t;
    }
    acc.sum_w = sw;
    acc.s2 = s2;
    acc
}

impl BlockIntegrator for Mcla<'_> {
    fn evaluate(&self, theta: &[f64]) -> Option<McEvaluation> {
        Mcla::evaluate(self, theta)
    }
    fn draws(&self) -> usize {
        self.draws_per_block()
    }
    fn hessian_is_exact(&self) -> bool {
        true
    }
    fn posterior_moments(&self, theta: &[f64]) -> Option<Vec<BlockMoments>> {
        Mcla::posterior_moments(self, theta)
    }
}
