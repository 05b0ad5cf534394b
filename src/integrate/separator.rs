//! Choice of the integrated set I and the separator S of a likelihood block (SPEC §12 a).
//!
//! I is a set of random effects no two of which share an observation, so that
//! given the others (the separator S) they are independent a posteriori and
//! each is integrated by one-dimensional quadrature.  I is made large: effects
//! are taken greedily, those of the random formula with the most levels in the
//! block first (with two crossed factors the larger one, with nested factors
//! the innermost), then effects with fewer observations, then by index; an
//! effect joins I when none of its observations already involves an effect of
//! I.  The rest is S.  S is empty for a block of one grouping factor (or of a
//! single effect): the block is then integrated exactly.

use super::nested::Tree;
use crate::model::blocks::{connected_parts, Block};
use crate::model::Csr;

/// Largest per-draw work ([`Tree::cost`], summed over a block's subtrees) of the subtrees
/// integrated given a sampled separator ([`Split::with_subtrees`]): about 0.2 ms per draw.
pub const SUBTREE_BUDGET: f64 = 3e5;

/// Most random formulas in one block for which [`Split::with_subtrees`] tries every
/// subset as the separator.
const MAX_TERMS: usize = 8;

/// The split of one block's effects (local indices into `Block::effects`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Effects integrated by conditional quadrature, ascending.
    pub integrated: Vec<usize>,
    /// Effects sampled (the separator), ascending.
    pub separator: Vec<usize>,
    /// Sets of two or more effects that, given the separator, form a tree and are integrated
    /// by nested quadrature ([`Split::with_subtrees`]); each ascending.  Empty from
    /// [`Split::choose`].
    pub subtrees: Vec<Vec<usize>>,
}

impl Split {
    /// Choose I and S for `block`; `term[j]` is the random formula of the block's local effect `j`.
    ///
    /// ```
    /// use mcla::integrate::separator::Split;
    /// use mcla::{Blocks, Csr, Family, Model, ModelSpec, RandomBlock, Sampler};
    /// // 3 "subjects" crossed with 2 "items": every pair observed once
    /// let trip_s: Vec<_> = (0..6).map(|i| (i, i / 2, 1.0)).collect();
    /// let trip_i: Vec<_> = (0..6).map(|i| (i, i % 2, 1.0)).collect();
    /// let model = Model::new(ModelSpec {
    ///     y: vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0], trials: None, x: vec![1.0; 6],
    ///     x_names: vec!["(Intercept)".into()],
    ///     random: vec![
    ///         RandomBlock { names: vec!["s1".into(), "s2".into(), "s3".into()], z: Csr::from_triplets(6, 3, &trip_s).unwrap() },
    ///         RandomBlock { names: vec!["i1".into(), "i2".into()], z: Csr::from_triplets(6, 2, &trip_i).unwrap() },
    ///     ],
    ///     varcomps_equal: None, varcomps_names: vec!["S".into(), "I".into()],
    ///     family: Family::Bernoulli, weights: None,
    /// }).unwrap();
    /// let blocks = Blocks::new(&model, Sampler::Factorised);
    /// let block = &blocks.blocks[0];
    /// let term: Vec<usize> = block.effects.iter().map(|&j| model.effect_term()[j]).collect();
    /// let split = Split::choose(block, &term);
    /// assert_eq!(split.integrated, vec![0, 1, 2]); // the 3 subjects
    /// assert_eq!(split.separator, vec![3, 4]);     // the 2 items are sampled
    /// ```
    pub fn choose(block: &Block, term: &[usize]) -> Split {
        let q = block.q();
        let obs_of = effect_observations(block);
        let n_terms = term.iter().copied().max().map_or(0, |t| t + 1);
        let mut term_size = vec![0usize; n_terms];
        for &t in term {
            term_size[t] += 1;
        }
        let mut order: Vec<usize> = (0..q).collect();
        order.sort_by_key(|&j| (std::cmp::Reverse(term_size[term[j]]), obs_of[j].len(), j));
        let mut taken = vec![false; block.n()];
        let mut in_i = vec![false; q];
        for &j in &order {
            if obs_of[j].iter().all(|&i| !taken[i]) {
                in_i[j] = true;
                for &i in &obs_of[j] {
                    taken[i] = true;
                }
            }
        }
        Split {
            integrated: (0..q).filter(|&j| in_i[j]).collect(),
            separator: (0..q).filter(|&j| !in_i[j]).collect(),
            subtrees: Vec::new(),
        }
    }

    /// [`choose`](Self::choose), or a split with subtrees where that samples at most half
    /// as many effects: every proper subset of the block's random formulas is tried as the
    /// separator S; given S, the other effects fall apart into connected parts (joined by
    /// shared observations), each a single effect (integrated in 1-D) or a set that nests
    /// ([`Tree::of`]: a subject and its subject × item cells once the items are sampled).
    /// A subset qualifies when every part is one of those and the parts' summed tree work
    /// at `nodes` points per level is within [`SUBTREE_BUDGET`]; the smallest separator
    /// wins (then the least work).  Subsets are tried only for blocks of at most 8 formulas.
    ///
    /// ```
    /// use mcla::integrate::separator::Split;
    /// use mcla::model::blocks::Block;
    /// use mcla::Csr;
    /// // 4 subjects x 2 items, 2 trials per subject-item cell: effects 0-3 subjects,
    /// // 4-5 items, 6-13 cells
    /// let mut trip = Vec::new();
    /// for r in 0..16 {
    ///     let cell = r / 2;
    ///     trip.extend([(r, cell / 2, 1.0), (r, 4 + cell % 2, 1.0), (r, 6 + cell, 1.0)]);
    /// }
    /// let block = Block { effects: (0..14).collect(), obs: (0..16).collect(),
    ///     z: Csr::from_triplets(16, 14, &trip).unwrap(),
    ///     component: [vec![0; 4], vec![1; 2], vec![2; 8]].concat(), q_per_component: vec![4, 2, 8] };
    /// let term = block.component.clone();
    /// assert_eq!(Split::choose(&block, &term).separator, (0..6).collect::<Vec<_>>());
    /// let split = Split::with_subtrees(&block, &term, 10);
    /// assert_eq!(split.separator, vec![4, 5]);         // the items are sampled
    /// assert_eq!(split.subtrees[0], vec![0, 6, 7]);    // subject 0 and its two cells
    /// assert_eq!(split.subtrees.len(), 4);
    /// ```
    pub fn with_subtrees(block: &Block, term: &[usize], nodes: usize) -> Split {
        let greedy = Split::choose(block, term);
        let n_terms = term.iter().copied().max().map_or(0, |t| t + 1);
        if greedy.separator.is_empty() || !(2..=MAX_TERMS).contains(&n_terms) {
            return greedy;
        }
        let mut best: Option<(usize, f64, Split)> = None;
        for mask in 1..(1u32 << n_terms) - 1 {
            let sep: Vec<usize> = (0..block.q())
                .filter(|&j| mask & (1 << term[j]) != 0)
                .collect();
            if 2 * sep.len() > greedy.separator.len()
                || best.as_ref().is_some_and(|b| sep.len() > b.0)
            {
                continue;
            }
            if let Some((cost, split)) = given_parts(block, &sep, nodes) {
                let better = best.as_ref().is_none_or(|b| (sep.len(), cost) < (b.0, b.1));
                if better && !split.subtrees.is_empty() {
                    best = Some((sep.len(), cost, split));
                }
            }
        }
        best.map_or(greedy, |b| b.2)
    }

    /// Whether the block is integrated exactly (no separator, no Monte Carlo).
    pub fn is_exact(&self) -> bool {
        self.separator.is_empty()
    }
}

/// The parts of `block`'s effects outside `sep` given `sep`, and their summed tree work;
/// `None` when a part does not nest or the work is over [`SUBTREE_BUDGET`].
fn given_parts(block: &Block, sep: &[usize], nodes: usize) -> Option<(f64, Split)> {
    let q = block.q();
    let mut in_s = vec![false; q];
    for &j in sep {
        in_s[j] = true;
    }
    let (parts, _) = connected_parts(q, (0..block.n()).map(|i| block.z.row(i).0), |j| !in_s[j]);
    let obs_of = effect_observations(block);
    let (mut integrated, mut subtrees, mut cost) = (Vec::new(), Vec::new(), 0.0);
    for part in parts {
        if part.len() == 1 {
            integrated.push(part[0]);
            continue;
        }
        let tree = Tree::of(&sub_block(block, &part, &obs_of, &in_s)?)?;
        cost += tree.cost(nodes);
        if cost > SUBTREE_BUDGET {
            return None;
        }
        subtrees.push(part);
    }
    integrated.sort_unstable();
    Some((
        cost,
        Split {
            integrated,
            separator: sep.to_vec(),
            subtrees,
        },
    ))
}

/// The block of the effects `part` (local, ascending) and their observations, the columns
/// of the sampled effects (`in_s`) left out; its `effects` and `obs` are `block`'s local
/// indices.
pub(crate) fn sub_block(
    block: &Block,
    part: &[usize],
    obs_of: &[Vec<usize>],
    in_s: &[bool],
) -> Option<Block> {
    let mut obs: Vec<usize> = part
        .iter()
        .flat_map(|&j| obs_of[j].iter().copied())
        .collect();
    obs.sort_unstable();
    obs.dedup();
    let mut col = vec![usize::MAX; block.q()];
    for (k, &j) in part.iter().enumerate() {
        col[j] = k;
    }
    let mut trip = Vec::new();
    for (r, &li) in obs.iter().enumerate() {
        let (cols, vals) = block.z.row(li);
        for (&j, &v) in cols.iter().zip(vals) {
            if !in_s[j] {
                trip.push((r, col[j], v));
            }
        }
    }
    let n_comp = block.q_per_component.len();
    let mut q_per_component = vec![0; n_comp];
    for &j in part {
        q_per_component[block.component[j]] += 1;
    }
    Some(Block {
        effects: part.to_vec(),
        z: Csr::from_triplets(obs.len(), part.len(), &trip).ok()?,
        obs,
        component: part.iter().map(|&j| block.component[j]).collect(),
        q_per_component,
    })
}

/// Local observations of each local effect of `block` (the transpose of its Z pattern).
pub fn effect_observations(block: &Block) -> Vec<Vec<usize>> {
    let mut obs_of = vec![Vec::new(); block.q()];
    for i in 0..block.n() {
        let (cols, _) = block.z.row(i);
        for &j in cols {
            if obs_of[j].last() != Some(&i) {
                obs_of[j].push(i);
            }
        }
    }
    obs_of
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::blocks::test_block as block;

    #[test]
    fn nested_design_integrates_the_innermost_factor() {
        // 2 sites, 2 broods per site, 2 individuals per brood, one observation each:
        // effects 0-1 site, 2-5 brood, 6-13 individual.
        let mut trip = Vec::new();
        for i in 0..8 {
            trip.push((i, i / 4, 1.0));
            trip.push((i, 2 + i / 2, 1.0));
            trip.push((i, 6 + i, 1.0));
        }
        let b = block(8, 14, &trip);
        let term: Vec<usize> = (0..14)
            .map(|j| {
                if j < 2 {
                    0
                } else if j < 6 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let s = Split::choose(&b, &term);
        assert_eq!(s.integrated, (6..14).collect::<Vec<_>>());
        assert_eq!(s.separator, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn no_two_integrated_effects_share_an_observation() {
        // a dense random pattern: each row touches 3 of 7 effects of one term
        let mut trip = Vec::new();
        for i in 0..20 {
            for k in 0..3 {
                trip.push((i, (i * 3 + k * 2) % 7, 1.0 + k as f64));
            }
        }
        trip.sort_by_key(|a| (a.0, a.1));
        trip.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let b = block(20, 7, &trip);
        let s = Split::choose(&b, &[0; 7]);
        assert!(!s.integrated.is_empty());
        let obs = effect_observations(&b);
        for (x, &a) in s.integrated.iter().enumerate() {
            for &c in &s.integrated[x + 1..] {
                assert!(
                    obs[a].iter().all(|i| !obs[c].contains(i)),
                    "effects {a} and {c} share a row"
                );
            }
        }
        assert_eq!(s.integrated.len() + s.separator.len(), 7);
    }

    #[test]
    fn single_factor_block_is_exact() {
        let b = block(3, 1, &[(0, 0, 1.0), (1, 0, 1.0), (2, 0, 1.0)]);
        assert!(Split::choose(&b, &[0]).is_exact());
    }
}
