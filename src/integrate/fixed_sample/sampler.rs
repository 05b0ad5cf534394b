//! The importance distribution and the Monte Carlo sample (SPEC §4, §9, §11).
//!
//! For each likelihood block the importance density is the three-part mixture
//! `p1 t_zeta(0, D*) + p2 N(u*, D*) + p3 N(u*, S*)` restricted to the block's
//! effects.  The sample is drawn in fixed-size chunks of [`CHUNK`] draws, each
//! from its own ChaCha8 stream derived from `(seed, block, chunk)`, so the
//! sample — and every number computed from it — is the same for any number of
//! threads.  Per draw we keep what does not depend on theta: the draw `u_k`,
//! `log f~(u_k)` and the sums of squares `S_t(u_k)`.  Storage is
//! structure-of-arrays within a chunk (`u[j][k]`) so the objective's
//! kernel runs over contiguous draws.  In low-memory mode nothing is stored and
//! each chunk is regenerated, bit-identically, when the objective needs it.

use crate::model::blocks::{Block, Blocks};
use crate::model::Model;
use crate::start::ImportanceCentre;
use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve::solve_upper_triangular_in_place;
use faer::{Accum, Mat, MatMut, Par, Side};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use thiserror::Error;

/// Number of draws per chunk (fixed: results never depend on the thread count).
pub const CHUNK: usize = 256;

/// Errors building the importance distribution.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SamplerError {
    #[error("the importance precision S*^-1 of block {block} is not positive definite (PQL start may be degenerate): try --no-pql or --par-init")]
    NotPositiveDefinite { block: usize },
    #[error(
        "a supplied sample has {got} values per draw but the block has {expected} random effects"
    )]
    DrawLength { got: usize, expected: usize },
    #[error("the importance centre has non-finite values: the start (PQL or par_init) is unusable; try --no-pql or --par-init")]
    NonFiniteCentre,
}

/// One diagonal block of the importance precision.
#[derive(Debug, Clone)]
struct PrecisionGroup {
    /// Effects (local indices) in the group.
    idx: Vec<usize>,
    /// Lower Cholesky factor of the group's precision.
    chol: Mat<f64>,
}

/// Split a precision matrix into its connected components (exact zeros off the blocks).
fn precision_groups(precision: &Mat<f64>) -> Vec<Vec<usize>> {
    let q = precision.nrows();
    let mut parent: Vec<usize> = (0..q).collect();
    fn find(parent: &mut [usize], mut a: usize) -> usize {
        while parent[a] != a {
            parent[a] = parent[parent[a]];
            a = parent[a];
        }
        a
    }
    for r in 0..q {
        for c in 0..r {
            if precision[(r, c)] != 0.0 || precision[(c, r)] != 0.0 {
                let (a, b) = (find(&mut parent, r), find(&mut parent, c));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut slot = vec![usize::MAX; q];
    for j in 0..q {
        let root = find(&mut parent, j);
        if slot[root] == usize::MAX {
            slot[root] = groups.len();
            groups.push(Vec::new());
        }
        groups[slot[root]].push(j);
    }
    groups
}

/// The mixture importance density of one block.
#[derive(Debug, Clone)]
pub struct BlockMixture {
    q: usize,
    u_star: Vec<f64>,
    d_star: Vec<f64>,
    sqrt_d: Vec<f64>,
    /// Independent groups of `S*^-1` (its connected components: block diagonal over
    /// likelihood components in the joint sampler), each with the lower Cholesky factor
    /// `L_g` of its part, `S*_g^-1 = L_g L_g'`.
    groups: Vec<PrecisionGroup>,
    log_p: [f64; 3],
    zeta: f64,
    /// Constant of the t density.
    t_const: f64,
    /// Constant of N(u*, D*).
    nd_const: f64,
    /// Constant of N(u*, S*).
    ns_const: f64,
    /// Sample counts `(m1, m2, m3)` of the three components.
    pub counts: [usize; 3],
}

impl BlockMixture {
    /// Build the mixture for `block` from the centre; `S*^-1 = Z_b' diag(w c''(eta*)) Z_b + D*^-1`.
    pub fn new(
        model: &Model,
        block: &Block,
        centre: &ImportanceCentre,
        eta_star: &[f64],
        mixture: [f64; 3],
        zeta: f64,
        counts: [usize; 3],
        block_index: usize,
    ) -> Result<BlockMixture, SamplerError> {
        let q = block.q();
        let u_star: Vec<f64> = block.effects.iter().map(|&j| centre.u_star[j]).collect();
        let d_star: Vec<f64> = block.effects.iter().map(|&j| centre.d_star[j]).collect();
        if u_star.iter().chain(&d_star).any(|v| !v.is_finite()) || d_star.iter().any(|&d| d <= 0.0)
        {
            return Err(SamplerError::NonFiniteCentre);
        }
        let mut prec = Mat::<f64>::zeros(q, q);
        for (r, &i) in block.obs.iter().enumerate() {
            let wc = model.weights()[i] * model.family().variance(eta_star[i], model.trials()[i]);
            let (cols, vals) = block.z.row(r);
            for (a, (&ja, &va)) in cols.iter().zip(vals).enumerate() {
                for (&jb, &vb) in cols[..=a].iter().zip(&vals[..=a]) {
                    let add = wc * va * vb;
                    prec[(ja, jb)] += add;
                    if ja != jb {
                        prec[(jb, ja)] += add;
                    }
                }
            }
        }
        for j in 0..q {
            prec[(j, j)] += 1.0 / d_star[j];
        }
        Self::from_precision(u_star, d_star, prec, mixture, zeta, counts, block_index)
    }

    /// Build from an explicit precision matrix `S*^-1` (e.g. R's, from a fixture).
    pub fn from_precision(
        u_star: Vec<f64>,
        d_star: Vec<f64>,
        precision: Mat<f64>,
        mixture: [f64; 3],
        zeta: f64,
        counts: [usize; 3],
        block_index: usize,
    ) -> Result<BlockMixture, SamplerError> {
        let q = u_star.len();
        let mut groups = Vec::new();
        let mut log_det_l = 0.0;
        for idx in precision_groups(&precision) {
            let sub = Mat::from_fn(idx.len(), idx.len(), |r, c| precision[(idx[r], idx[c])]);
            let llt = sub
                .llt(Side::Lower)
                .map_err(|_| SamplerError::NotPositiveDefinite {
                    block: block_index + 1,
                })?;
            let chol = llt.L().to_owned();
            log_det_l += (0..idx.len()).map(|j| chol[(j, j)].ln()).sum::<f64>();
            groups.push(PrecisionGroup { idx, chol });
        }
        let log_det_d: f64 = d_star.iter().map(|d| d.ln()).sum();
        let qf = q as f64;
        let ln2pi = (2.0 * std::f64::consts::PI).ln();
        // ln Γ((ζ+q)/2) - ln Γ(ζ/2), stably for large ζ (a direct difference cancels)
        let t_const = crate::integrate::fixed_sample::special::ln_gamma_ratio(zeta / 2.0, qf / 2.0)
            - qf / 2.0 * (zeta * std::f64::consts::PI).ln()
            - 0.5 * log_det_d;
        let nd_const = -qf / 2.0 * ln2pi - 0.5 * log_det_d;
        let ns_const = -qf / 2.0 * ln2pi + log_det_l;
        let sqrt_d = d_star.iter().map(|d| d.sqrt()).collect();
        let log_p = mixture.map(|p| if p > 0.0 { p.ln() } else { f64::NEG_INFINITY });
        Ok(BlockMixture {
            q,
            u_star,
            d_star,
            sqrt_d,
            groups,
            log_p,
            zeta,
            t_const,
            nd_const,
            ns_const,
            counts,
        })
    }

    /// Dimension.
    pub fn q(&self) -> usize {
        self.q
    }

    /// `m = m1 + m2 + m3`.
    pub fn m(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Which mixture component draw `k` comes from (0: t, 1: N(u*, D*), 2: N(u*, S*)).
    #[inline]
    pub fn component_of(&self, k: usize) -> usize {
        if k < self.counts[0] {
            0
        } else if k < self.counts[0] + self.counts[1] {
            1
        } else {
            2
        }
    }

    /// `log f~(u)` for the draws in the columns of `u` (`q x len`), written to `out`.
    /// `work` must be `q x len` too.
    pub fn log_density_columns(
        &self,
        u: faer::MatRef<'_, f64>,
        mut work: MatMut<'_, f64>,
        out: &mut [f64],
    ) {
        let len = u.ncols();
        for k in 0..len {
            for j in 0..self.q {
                work[(j, k)] = u[(j, k)] - self.u_star[j];
            }
        }
        // quad_S = sum_g || L_g' (u_g - u*_g) ||^2
        let mut quad_s = vec![0.0; len];
        for g in &self.groups {
            let part = Mat::from_fn(g.idx.len(), len, |r, k| work[(g.idx[r], k)]);
            let mut lw = Mat::<f64>::zeros(g.idx.len(), len);
            matmul(
                lw.as_mut(),
                Accum::Replace,
                g.chol.transpose(),
                part.as_ref(),
                1.0,
                Par::Seq,
            );
            for (k, qs) in quad_s.iter_mut().enumerate() {
                for r in 0..g.idx.len() {
                    *qs += lw[(r, k)] * lw[(r, k)];
                }
            }
        }
        // per draw: the three component log densities, then a log-sum-exp, all over
        // contiguous arrays so the transcendental functions run vectorised
        let mut lt = vec![0.0; len];
        let mut ld = vec![0.0; len];
        for k in 0..len {
            let (mut qt, mut qd) = (0.0, 0.0);
            for j in 0..self.q {
                let inv_d = 1.0 / self.d_star[j];
                qt += u[(j, k)] * u[(j, k)] * inv_d;
                qd += work[(j, k)] * work[(j, k)] * inv_d;
            }
            lt[k] = qt / self.zeta;
            ld[k] = self.log_p[1] + self.nd_const - 0.5 * qd;
        }
        let mut tmp = vec![0.0; len];
        let _ = mcla_math::log1p_slice(&lt, &mut tmp);
        let c = (self.zeta + self.q as f64) / 2.0;
        for k in 0..len {
            lt[k] = self.log_p[0] + self.t_const - c * tmp[k];
            quad_s[k] = self.log_p[2] + self.ns_const - 0.5 * quad_s[k];
        }
        // log-sum-exp: a = max; sum of exp(l - a) is in [1, 3], its log is log1p(sum - 1)
        let mut a = vec![0.0; len];
        for k in 0..len {
            a[k] = lt[k].max(ld[k]).max(quad_s[k]);
        }
        let mut e = vec![0.0; len];
        let mut sum = vec![0.0; len];
        for l in [&lt, &ld, &quad_s] {
            for k in 0..len {
                tmp[k] = l[k] - a[k];
            }
            let _ = mcla_math::exp_slice(&tmp, &mut e);
            for k in 0..len {
                sum[k] += e[k];
            }
        }
        for k in 0..len {
            tmp[k] = sum[k] - 1.0;
        }
        let _ = mcla_math::log1p_slice(&tmp, &mut e);
        for k in 0..len {
            // a = -inf only when every component density is 0 there
            out[k] = if a[k] == f64::NEG_INFINITY {
                a[k]
            } else {
                a[k] + e[k]
            };
        }
    }

    /// `log f~(u)` of a single draw.
    pub fn log_density(&self, u: &[f64]) -> f64 {
        let um = Mat::from_fn(self.q, 1, |j, _| u[j]);
        let mut work = Mat::<f64>::zeros(self.q, 1);
        let mut out = [0.0];
        self.log_density_columns(um.as_ref(), work.as_mut(), &mut out);
        out[0]
    }
}

/// Theta-independent quantities of one chunk of draws, structure-of-arrays.
#[derive(Debug, Clone)]
pub struct ChunkDraws {
    /// Number of valid draws (≤ CHUNK).
    pub len: usize,
    /// `u[j][k]`: effect j (local) of draw k.
    pub u: Vec<[f64; CHUNK]>,
    /// `log f~(u_k)`.
    pub log_f_tilde: Box<[f64; CHUNK]>,
    /// `S_t(u_k)` at `ss[t][k]`.
    pub ss: Vec<[f64; CHUNK]>,
}

impl Default for ChunkDraws {
    fn default() -> Self {
        ChunkDraws {
            len: 0,
            u: Vec::new(),
            log_f_tilde: Box::new([0.0; CHUNK]),
            ss: Vec::new(),
        }
    }
}

impl ChunkDraws {
    fn resize(&mut self, q: usize, n_t: usize) {
        self.u.resize(q, [0.0; CHUNK]);
        self.ss.resize(n_t, [0.0; CHUNK]);
    }
}

/// Scratch space for generating one chunk (reused; nothing is allocated per draw).
#[derive(Debug)]
pub struct GenScratch {
    z: Mat<f64>,
    work: Mat<f64>,
    lf: Vec<f64>,
}

impl Default for GenScratch {
    fn default() -> Self {
        GenScratch {
            z: Mat::zeros(0, 0),
            work: Mat::zeros(0, 0),
            lf: Vec::new(),
        }
    }
}

/// The Monte Carlo sample of one block: either stored or regenerated on demand.
#[derive(Debug, Clone)]
pub struct BlockSample {
    /// The block's mixture.
    pub mixture: BlockMixture,
    /// Index of the block (part of the RNG stream id).
    pub block_index: usize,
    seed: u64,
    n_t: usize,
    /// Local variance component of each effect.
    component: Vec<usize>,
    stored: Option<Vec<ChunkDraws>>,
}

impl BlockSample {
    /// Number of draws.
    pub fn m(&self) -> usize {
        self.mixture.m()
    }
    /// Number of chunks.
    pub fn n_chunks(&self) -> usize {
        self.m().div_ceil(CHUNK)
    }
    /// Whether the draws are kept in memory.
    pub fn is_stored(&self) -> bool {
        self.stored.is_some()
    }

    /// The draws of chunk `c`: borrowed when stored, otherwise regenerated into `buf`.
    pub fn chunk<'a>(
        &'a self,
        c: usize,
        buf: &'a mut ChunkDraws,
        scratch: &mut GenScratch,
    ) -> &'a ChunkDraws {
        match &self.stored {
            Some(chunks) => &chunks[c],
            None => {
                self.generate_chunk(c, buf, scratch);
                buf
            }
        }
    }

    fn rng(&self, chunk: usize) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(((self.block_index as u64) << 32) | (chunk as u64 + 1));
        rng
    }

    /// Draw chunk `c` from its own stream.
    pub fn generate_chunk(&self, c: usize, out: &mut ChunkDraws, scratch: &mut GenScratch) {
        let mix = &self.mixture;
        let q = mix.q;
        let k0 = c * CHUNK;
        let len = CHUNK.min(self.m() - k0);
        out.len = len;
        out.resize(q, self.n_t);
        if scratch.z.nrows() != q || scratch.z.ncols() != CHUNK {
            scratch.z = Mat::zeros(q, CHUNK);
            scratch.work = Mat::zeros(q, CHUNK);
        }
        let mut rng = self.rng(c);
        let chi = ChiSquared::new(mix.zeta).ok();
        let mut s_start = len;
        for kk in 0..len {
            let comp = mix.component_of(k0 + kk);
            let col = scratch
                .z
                .col_mut(kk)
                .try_as_col_major_mut()
                .map(|c| c.as_slice_mut());
            let Some(col) = col else { continue };
            for v in col.iter_mut() {
                *v = StandardNormal.sample(&mut rng);
            }
            match comp {
                0 => {
                    let w: f64 = chi.as_ref().map(|d| d.sample(&mut rng)).unwrap_or(mix.zeta);
                    let scale = (mix.zeta / w).sqrt();
                    for (j, v) in col.iter_mut().enumerate() {
                        *v *= mix.sqrt_d[j] * scale;
                    }
                }
                1 => {
                    for (j, v) in col.iter_mut().enumerate() {
                        *v = mix.u_star[j] + mix.sqrt_d[j] * *v;
                    }
                }
                _ => {
                    if s_start == len {
                        s_start = kk;
                    }
                }
            }
        }
        if s_start < len {
            // N(u*, S*): u_g = u*_g + L_g'^{-1} z_g for the (contiguous) tail of the chunk.
            let ntail = len - s_start;
            let mut tail = scratch.z.as_mut().subcols_mut(s_start, ntail);
            for g in &mix.groups {
                let mut part = Mat::from_fn(g.idx.len(), ntail, |r, k| tail[(g.idx[r], k)]);
                solve_upper_triangular_in_place(g.chol.transpose(), part.as_mut(), Par::Seq);
                for (r, &j) in g.idx.iter().enumerate() {
                    for k in 0..ntail {
                        tail[(j, k)] = mix.u_star[j] + part[(r, k)];
                    }
                }
            }
        }
        self.finish_chunk(len, out, scratch);
    }

    /// Compute `log f~`, `S_t` and the SoA copy from the draws in `scratch.z[:, ..len]`.
    fn finish_chunk(&self, len: usize, out: &mut ChunkDraws, scratch: &mut GenScratch) {
        let q = self.mixture.q;
        scratch.lf.resize(CHUNK, 0.0);
        self.mixture.log_density_columns(
            scratch.z.as_ref().subcols(0, len),
            scratch.work.as_mut().subcols_mut(0, len),
            &mut scratch.lf[..len],
        );
        out.log_f_tilde[..len].copy_from_slice(&scratch.lf[..len]);
        out.log_f_tilde[len..].iter_mut().for_each(|v| *v = 0.0);
        out.ss.iter_mut().for_each(|v| *v = [0.0; CHUNK]);
        for j in 0..q {
            let t = self.component[j];
            let uj = &mut out.u[j];
            for k in 0..len {
                let v = scratch.z[(j, k)];
                uj[k] = v;
                out.ss[t][k] += v * v;
            }
            uj[len..].iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

/// The Monte Carlo sample of a fit: one [`BlockSample`] per likelihood block.
#[derive(Debug, Clone)]
pub struct ImportanceSample {
    /// Per-block samples, in block order.
    pub blocks: Vec<BlockSample>,
}

impl ImportanceSample {
    /// Build each block's mixture at `centre` and draw (or prepare to draw) `m` samples per block.
    ///
    /// `low_memory = true` stores nothing; draws are regenerated per chunk on demand.
    pub fn draw(
        model: &Model,
        blocks: &Blocks,
        centre: &ImportanceCentre,
        m: usize,
        seed: u64,
        mixture: [f64; 3],
        zeta: f64,
        low_memory: bool,
    ) -> Result<ImportanceSample, SamplerError> {
        let eta_star = model.linear_predictor(&centre.beta, &centre.u_star);
        let mut out = Vec::with_capacity(blocks.blocks.len());
        for (b, block) in blocks.blocks.iter().enumerate() {
            let counts = mixture_counts(seed, b, m, mixture);
            let mix = BlockMixture::new(model, block, centre, &eta_star, mixture, zeta, counts, b)?;
            out.push(BlockSample {
                mixture: mix,
                block_index: b,
                seed,
                n_t: model.n_varcomps(),
                component: block.component.clone(),
                stored: None,
            });
        }
        if !low_memory {
            use rayon::prelude::*;
            for bs in out.iter_mut() {
                let chunks: Vec<ChunkDraws> = (0..bs.n_chunks())
                    .into_par_iter()
                    .map_init(GenScratch::default, |scratch, c| {
                        let mut d = ChunkDraws::default();
                        bs.generate_chunk(c, &mut d, scratch);
                        d
                    })
                    .collect();
                bs.stored = Some(chunks);
            }
        }
        Ok(ImportanceSample { blocks: out })
    }

    /// Use given draws (rows of `q` values, e.g. R glmm's `sample_u`) for a single
    /// block with the given mixture: the sample is a value the objective takes.
    pub fn from_draws(
        mixture: BlockMixture,
        block: &Block,
        n_t: usize,
        draws: &[Vec<f64>],
    ) -> Result<ImportanceSample, SamplerError> {
        let q = mixture.q;
        if let Some(bad) = draws.iter().find(|d| d.len() != q) {
            return Err(SamplerError::DrawLength {
                got: bad.len(),
                expected: q,
            });
        }
        let mut bs = BlockSample {
            mixture,
            block_index: 0,
            seed: 0,
            n_t,
            component: block.component.clone(),
            stored: None,
        };
        let mut scratch = GenScratch {
            z: Mat::zeros(q, CHUNK),
            work: Mat::zeros(q, CHUNK),
            lf: Vec::new(),
        };
        let mut chunks = Vec::new();
        for rows in draws.chunks(CHUNK) {
            for (k, d) in rows.iter().enumerate() {
                for j in 0..q {
                    scratch.z[(j, k)] = d[j];
                }
            }
            let mut cd = ChunkDraws {
                len: rows.len(),
                ..ChunkDraws::default()
            };
            cd.resize(q, n_t);
            bs.finish_chunk(rows.len(), &mut cd, &mut scratch);
            chunks.push(cd);
        }
        bs.mixture.counts = [draws.len(), 0, 0];
        bs.stored = Some(chunks);
        Ok(ImportanceSample { blocks: vec![bs] })
    }

    /// Total number of draws over all blocks.
    pub fn total_draws(&self) -> usize {
        self.blocks.iter().map(BlockSample::m).sum()
    }
}

/// `(m1, m2, m3)`: counts of `m` uniform draws in `[0, p1)`, `[p1, p1 + p2)`, `[p1 + p2, 1)`.
pub fn mixture_counts(seed: u64, block: usize, m: usize, p: [f64; 3]) -> [usize; 3] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((block as u64) << 32);
    let mut counts = [0usize; 3];
    for _ in 0..m {
        let x: f64 = rng.random();
        let c = if x < p[0] {
            0
        } else if x < p[0] + p[1] {
            1
        } else {
            2
        };
        counts[c] += 1;
    }
    counts
}
