//! The tree test: whether a block's random effects nest (each effect inside one effect of
//! the level above, every observation on one root-to-node path), and the tree they form.
//!
//! The tree is built by elimination, top down: a connected set of effects nests when one of
//! them (the root) is involved in every one of its observations; without the root the rest
//! falls apart into connected parts, each of which must nest in turn, below the root.  An
//! observation none of whose other effects is left hangs on the root.  So site / brood /
//! individual gives site → broods → individuals, an intercept and a slope of one grouping
//! factor give intercept → slope, and two crossed factors give no tree (no effect is
//! involved in every observation of a subject × item block).

use crate::model::blocks::{Block, UnionFind};

/// Deepest tree looked for (a tree deeper than this is far over any cost budget).
const MAX_LEVELS: usize = 32;

/// A block's random effects as a rooted tree, in pre-order (every subtree is the contiguous
/// range `v .. v + size[v]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The block's local effect of each tree node.
    pub effect: Vec<usize>,
    /// Parent node (`usize::MAX` for the root).
    pub parent: Vec<usize>,
    /// Level of each node (root 0).
    pub level: Vec<usize>,
    /// Number of nodes of each node's subtree (itself included).
    pub size: Vec<usize>,
    /// `child_ptr[v]..child_ptr[v + 1]` of `child`: the children of node `v`, in order.
    pub child_ptr: Vec<usize>,
    /// Children, node by node.
    pub child: Vec<usize>,
    /// `obs_ptr[v]..obs_ptr[v + 1]` of `obs`: the block's local observations whose deepest
    /// effect is node `v`.
    pub obs_ptr: Vec<usize>,
    /// Local observations, node by node.
    pub obs: Vec<usize>,
}

impl Tree {
    /// The tree of `block`'s effects, or `None` when they do not nest.
    ///
    /// ```
    /// use mcla::integrate::nested::Tree;
    /// use mcla::model::blocks::Block;
    /// use mcla::Csr;
    /// // a site (effect 0) with two broods (1, 2), two observations per brood
    /// let z = Csr::from_triplets(4, 3, &[
    ///     (0, 0, 1.0), (0, 1, 1.0), (1, 0, 1.0), (1, 1, 1.0),
    ///     (2, 0, 1.0), (2, 2, 1.0), (3, 0, 1.0), (3, 2, 1.0),
    /// ]).unwrap();
    /// let block = Block { effects: vec![0, 1, 2], obs: vec![0, 1, 2, 3], z,
    ///     component: vec![0, 1, 1], q_per_component: vec![1, 2] };
    /// let tree = Tree::of(&block).unwrap();
    /// assert_eq!(tree.effect, vec![0, 1, 2]);
    /// assert_eq!(tree.level, vec![0, 1, 1]);
    /// assert_eq!(tree.depth(), 2);
    /// ```
    pub fn of(block: &Block) -> Option<Tree> {
        let q = block.q();
        if q == 0 {
            return None;
        }
        let mut b = Builder {
            block,
            obs_of: super::super::separator::effect_observations(block),
            removed: vec![false; q],
            tree: Tree {
                effect: Vec::with_capacity(q),
                parent: Vec::with_capacity(q),
                level: Vec::with_capacity(q),
                size: Vec::with_capacity(q),
                child_ptr: Vec::new(),
                child: Vec::new(),
                obs_ptr: Vec::new(),
                obs: Vec::new(),
            },
            children: Vec::with_capacity(q),
            attached: Vec::with_capacity(q),
            uf: UnionFind::new(q),
            part_of_root: vec![usize::MAX; q],
        };
        let all_obs: Vec<usize> = (0..block.n()).collect();
        let all_effects: Vec<usize> = (0..q).collect();
        if !b.build(all_effects, all_obs, usize::MAX, 0) || b.tree.effect.len() != q {
            return None;
        }
        let Builder {
            mut tree,
            children,
            attached,
            ..
        } = b;
        tree.child_ptr.push(0);
        for c in children {
            tree.child.extend(c);
            tree.child_ptr.push(tree.child.len());
        }
        tree.obs_ptr.push(0);
        for o in attached {
            tree.obs.extend(o);
            tree.obs_ptr.push(tree.obs.len());
        }
        Some(tree)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.effect.len()
    }

    /// Whether the tree has no nodes (never, for a tree made by [`Tree::of`]).
    pub fn is_empty(&self) -> bool {
        self.effect.is_empty()
    }

    /// Number of levels (1 for a single effect).
    pub fn depth(&self) -> usize {
        self.level.iter().max().map_or(0, |l| l + 1)
    }

    /// Children of node `v`.
    pub fn children(&self, v: usize) -> &[usize] {
        &self.child[self.child_ptr[v]..self.child_ptr[v + 1]]
    }

    /// Observations hanging on node `v` (local to the block).
    pub fn observations(&self, v: usize) -> &[usize] {
        &self.obs[self.obs_ptr[v]..self.obs_ptr[v + 1]]
    }

    /// Work of one nested-quadrature pass with `k` nodes per level: node `v` at level `l` is
    /// integrated once for each of the `k^l` node combinations above it, each time at `k`
    /// points, and every point evaluates its observations: `sum_v k^(l+1) (n_v + 1)`.
    pub fn cost(&self, k: usize) -> f64 {
        (0..self.len())
            .map(|v| {
                (k as f64).powi(self.level[v] as i32 + 1) * (self.observations(v).len() + 1) as f64
            })
            .sum()
    }
}

struct Builder<'a> {
    block: &'a Block,
    obs_of: Vec<Vec<usize>>,
    removed: Vec<bool>,
    tree: Tree,
    children: Vec<Vec<usize>>,
    attached: Vec<Vec<usize>>,
    /// Scratch of every level (only the entries of the set being split are reset and used,
    /// so the whole test is `O(q depth)`, not `O(q^2)`): the parts' union-find, and each
    /// part's index by its root.
    uf: UnionFind,
    part_of_root: Vec<usize>,
}

impl Builder<'_> {
    /// Add the connected set `effects` (ascending local effects) with its observations
    /// `obs` below `parent` at `level`; false when it does not nest.
    fn build(&mut self, effects: Vec<usize>, obs: Vec<usize>, parent: usize, level: usize) -> bool {
        if level >= MAX_LEVELS {
            return false;
        }
        let Some(&root) = effects.iter().find(|&&e| self.obs_of[e].len() == obs.len()) else {
            return false;
        };
        let v = self.tree.effect.len();
        self.tree.effect.push(root);
        self.tree.parent.push(parent);
        self.tree.level.push(level);
        self.tree.size.push(1);
        self.children.push(Vec::new());
        self.attached.push(Vec::new());
        if parent != usize::MAX {
            self.children[parent].push(v);
        }
        self.removed[root] = true;
        // the rest, split into connected parts by the observations
        let rest: Vec<usize> = effects.iter().copied().filter(|&e| e != root).collect();
        self.uf.reset(&rest);
        let mut hangs = Vec::new();
        for &i in &obs {
            let (cols, _) = self.block.z.row(i);
            let mut first = usize::MAX;
            for &c in cols {
                if self.removed[c] {
                    continue;
                }
                if first == usize::MAX {
                    first = c;
                } else {
                    self.uf.union(first, c);
                }
            }
            if first == usize::MAX {
                hangs.push(i);
            }
        }
        self.attached[v] = hangs;
        // parts in order of their smallest effect
        let mut parts: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
        for &e in &rest {
            let r = self.uf.find(e);
            if self.part_of_root[r] == usize::MAX {
                self.part_of_root[r] = parts.len();
                parts.push((Vec::new(), Vec::new()));
            }
            parts[self.part_of_root[r]].0.push(e);
        }
        for &i in &obs {
            let (cols, _) = self.block.z.row(i);
            if let Some(&c) = cols.iter().find(|&&c| !self.removed[c]) {
                let r = self.uf.find(c);
                parts[self.part_of_root[r]].1.push(i);
            }
        }
        for &e in &rest {
            self.part_of_root[e] = usize::MAX;
        }
        for (pe, po) in parts {
            if !self.build(pe, po, v, level + 1) {
                return false;
            }
        }
        self.tree.size[v] = self.tree.effect.len() - v;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::blocks::test_block as block;

    #[test]
    fn site_brood_individual_nests_in_three_levels() {
        // effects: 0-1 sites, 2-5 broods (2 per site), 6-13 individuals (2 per brood),
        // one observation per individual
        let mut trip = Vec::new();
        for i in 0..8 {
            trip.push((i, i / 4, 1.0));
            trip.push((i, 2 + i / 2, 1.0));
            trip.push((i, 6 + i, 1.0));
        }
        let whole = block(8, 14, &trip);
        // the two sites are separate blocks in a fit; here take site 0's half
        let sub: Vec<_> = trip
            .iter()
            .filter(|t| t.0 < 4)
            .map(|&(i, j, v)| {
                let local = match j {
                    0 => 0,
                    2 | 3 => j - 1,
                    _ => j - 3,
                };
                (i, local, v)
            })
            .collect();
        assert!(Tree::of(&whole).is_none(), "two sites: no single root");
        let tree = Tree::of(&block(4, 7, &sub)).unwrap();
        assert_eq!(tree.depth(), 3);
        assert_eq!(tree.effect, vec![0, 1, 3, 4, 2, 5, 6]);
        assert_eq!(tree.level, vec![0, 1, 2, 2, 1, 2, 2]);
        assert_eq!(tree.size, vec![7, 3, 1, 1, 3, 1, 1]);
        assert_eq!(tree.children(0), &[1, 4]);
        assert_eq!(tree.observations(2), &[0]);
        assert!(tree.observations(0).is_empty());
        // K = 10: 10 (site) + 2 x 100 (broods) + 4 x 1000 x 2 (individuals, one obs each)
        assert_eq!(tree.cost(10), 10.0 + 200.0 + 8000.0);
    }

    #[test]
    fn crossed_factors_do_not_nest() {
        // 2 subjects x 2 items, every pair once
        let trip: Vec<_> = (0..4)
            .flat_map(|i| [(i, i / 2, 1.0), (i, 2 + i % 2, 1.0)])
            .collect();
        assert!(Tree::of(&block(4, 4, &trip)).is_none());
    }

    #[test]
    fn intercept_and_slope_of_one_factor_form_a_chain() {
        // effect 0 intercept, effect 1 slope (x = 0 on the first observation: no entry)
        let trip = [
            (0, 0, 1.0),
            (1, 0, 1.0),
            (1, 1, 0.5),
            (2, 0, 1.0),
            (2, 1, -1.0),
        ];
        let tree = Tree::of(&block(3, 2, &trip)).unwrap();
        assert_eq!(tree.effect, vec![0, 1]);
        assert_eq!(tree.observations(0), &[0]);
        assert_eq!(tree.observations(1), &[1, 2]);
    }
}
