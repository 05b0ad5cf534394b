//! Likelihood blocks: the connected components of the random-effects graph (SPEC §11).
//!
//! Two random effects are joined when some observation involves both.  Effects
//! in different components are independent a priori and every observation
//! depends on one component only, so the likelihood is a product over
//! components and each can get its own importance sample.  For the joint
//! sampler (R glmm's) there is a single block holding every effect and every
//! observation.  Observations that involve no random effect at all form the
//! `fixed_only` set, whose log density is computed exactly.

use crate::model::options::Sampler;
use crate::model::{Csr, Model};

/// One block: a set of random effects and the observations that involve them,
/// with the block's local design.
#[derive(Debug, Clone)]
pub struct Block {
    /// Global indices of the block's random effects (sorted).
    pub effects: Vec<usize>,
    /// Global indices of the block's observations (sorted).
    pub obs: Vec<usize>,
    /// Local design: rows = `obs`, columns = `effects` (local indices).
    pub z: Csr,
    /// Variance component of each local effect.
    pub component: Vec<usize>,
    /// Number of the block's effects in each variance component (length T).
    pub q_per_component: Vec<usize>,
}

impl Block {
    /// Dimension of the block's random effects.
    pub fn q(&self) -> usize {
        self.effects.len()
    }
    /// Number of observations in the block.
    pub fn n(&self) -> usize {
        self.obs.len()
    }
}

/// The factorisation of the likelihood used by a fit.
#[derive(Debug, Clone)]
pub struct Blocks {
    /// Independent blocks, ordered by their smallest effect index.
    pub blocks: Vec<Block>,
    /// Observations involving no random effect (empty for the joint sampler).
    pub fixed_only: Vec<usize>,
}

impl Blocks {
    /// Split `model` into likelihood blocks for `sampler`.
    ///
    /// ```
    /// use mcla::{Blocks, Csr, Family, Model, ModelSpec, RandomBlock, Sampler};
    /// // two groups that never share an observation: two blocks
    /// let z = Csr::from_triplets(4, 2, &[(0, 0, 1.0), (1, 0, 1.0), (2, 1, 1.0), (3, 1, 1.0)]).unwrap();
    /// let model = Model::new(ModelSpec {
    ///     y: vec![0.0, 1.0, 1.0, 0.0], trials: None, x: vec![1.0; 4],
    ///     x_names: vec!["(Intercept)".into()],
    ///     random: vec![RandomBlock { names: vec!["a".into(), "b".into()], z }],
    ///     varcomps_equal: None, varcomps_names: vec!["g".into()],
    ///     family: Family::Bernoulli, weights: None,
    /// }).unwrap();
    /// assert_eq!(Blocks::new(&model, Sampler::Factorised).blocks.len(), 2);
    /// assert_eq!(Blocks::new(&model, Sampler::Joint).blocks.len(), 1);
    /// ```
    pub fn new(model: &Model, sampler: Sampler) -> Blocks {
        let n = model.n();
        let q = model.q();
        let z = model.z();
        match sampler {
            Sampler::Joint => {
                let effects: Vec<usize> = (0..q).collect();
                let obs: Vec<usize> = (0..n).collect();
                Blocks {
                    blocks: vec![make_block(model, effects, obs)],
                    fixed_only: Vec::new(),
                }
            }
            Sampler::Factorised | Sampler::Adaptive => {
                // components in order of smallest effect index
                let (effects_of, part_of) =
                    connected_parts(q, (0..n).map(|i| z.row(i).0), |_| true);
                let mut obs_of: Vec<Vec<usize>> = vec![Vec::new(); effects_of.len()];
                let mut fixed_only = Vec::new();
                for i in 0..n {
                    let (cols, _) = z.row(i);
                    match cols.first() {
                        Some(&j) => obs_of[part_of[j]].push(i),
                        None => fixed_only.push(i),
                    }
                }
                let blocks = effects_of
                    .into_iter()
                    .zip(obs_of)
                    .map(|(e, o)| make_block(model, e, o))
                    .collect();
                Blocks { blocks, fixed_only }
            }
        }
    }
}

/// The connected parts of the effects `0..q` that `keep` selects, two joined when a row (the
/// effects one observation involves) holds both: parts in order of their smallest effect,
/// each ascending, and the part of each effect (`usize::MAX` where not kept).  The blocks
/// (every effect kept) and the parts of a block given its sampled effects
/// (`integrate::separator`).
pub(crate) fn connected_parts<'r>(
    q: usize,
    rows: impl Iterator<Item = &'r [usize]>,
    keep: impl Fn(usize) -> bool,
) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut uf = UnionFind::new(q);
    for row in rows {
        let mut kept = row.iter().copied().filter(|&j| keep(j));
        if let Some(first) = kept.next() {
            for j in kept {
                uf.union(first, j);
            }
        }
    }
    let mut part_of = vec![usize::MAX; q];
    let mut part_of_root = vec![usize::MAX; q];
    let mut parts: Vec<Vec<usize>> = Vec::new();
    for j in (0..q).filter(|&j| keep(j)) {
        let r = uf.find(j);
        if part_of_root[r] == usize::MAX {
            part_of_root[r] = parts.len();
            parts.push(Vec::new());
        }
        part_of[j] = part_of_root[r];
        parts[part_of_root[r]].push(j);
    }
    (parts, part_of)
}

fn make_block(model: &Model, effects: Vec<usize>, obs: Vec<usize>) -> Block {
    let mut local = vec![usize::MAX; model.q()];
    for (l, &j) in effects.iter().enumerate() {
        local[j] = l;
    }
    let z = model.z();
    let mut row_ptr = vec![0];
    let mut col_idx = Vec::new();
    let mut values = Vec::new();
    for &i in &obs {
        let (cols, vals) = z.row(i);
        for (&j, &v) in cols.iter().zip(vals) {
            col_idx.push(local[j]);
            values.push(v);
        }
        row_ptr.push(col_idx.len());
    }
    let component: Vec<usize> = effects
        .iter()
        .map(|&j| model.effect_component()[j])
        .collect();
    let mut q_per_component = vec![0; model.n_varcomps()];
    for &t in &component {
        q_per_component[t] += 1;
    }
    Block {
        z: Csr {
            n_rows: obs.len(),
            n_cols: effects.len(),
            row_ptr,
            col_idx,
            values,
        },
        effects,
        obs,
        component,
        q_per_component,
    }
}

/// Disjoint sets of `0..n` (path halving; the smaller index is the root, so the result is
/// deterministic).  Also the tree test's (`integrate::nested::tree`).
pub(crate) struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    pub(crate) fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }
    /// Make each of `items` a set of its own again (the others are left as they are).
    pub(crate) fn reset(&mut self, items: &[usize]) {
        for &i in items {
            self.parent[i] = i;
        }
    }
    pub(crate) fn find(&mut self, mut a: usize) -> usize {
        while self.parent[a] != a {
            self.parent[a] = self.parent[self.parent[a]];
            a = self.parent[a];
        }
        a
    }
    pub(crate) fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // keep the smaller index as root: deterministic
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

/// A block of `q` effects (one variance component) over `n` observations with local design
/// `trip` (row, effect, value): for the tests of the modules that take blocks.
#[cfg(test)]
pub(crate) fn test_block(n: usize, q: usize, trip: &[(usize, usize, f64)]) -> Block {
    Block {
        effects: (0..q).collect(),
        obs: (0..n).collect(),
        z: Csr::from_triplets(n, q, trip).unwrap(),
        component: vec![0; q],
        q_per_component: vec![q],
    }
}
