//! Subtrees of the integrated set (issue 17): parts of a block that, given the sampled
//! separator, nest ([`Split::with_subtrees`](crate::integrate::separator::Split::with_subtrees))
//! and are integrated by the nested recursion given `u_S`
//! ([`NestedBlock::integrate_given`](crate::integrate::nested::NestedBlock)): per draw their
//! log integral, their scores in `(u_S, beta, nu)` and `E[∂²] + Cov` in `(beta, nu)`; at the
//! proposal's centre their curvature in `u_S`.

use super::super::nested::{GivenScratch, NestedBlock, Tree};
use super::super::separator::{sub_block, Split};
use crate::model::blocks::Block;
use crate::model::Model;

/// One subtree: its nested block, with the separator columns it touches put before X.
#[derive(Debug, Clone)]
pub(super) struct Subtree {
    pub(super) tree: NestedBlock,
    /// Separator position of each prepended coordinate.
    pub(super) touch: Vec<usize>,
    /// Global effect index of each node.
    pub(super) effects: Vec<usize>,
    /// Where the subtree's nodes start in the proposal's modes (after the 1-D effects').
    pub(super) mode_at: usize,
}

/// The subtrees of `split` (`s_local`: separator position of each local effect, or
/// `usize::MAX`); `None` where one cannot be built (the caller then uses no subtrees).
pub(super) fn build(
    model: &Model,
    block: &Block,
    split: &Split,
    s_local: &[usize],
    nodes: usize,
    u_start: &[f64],
) -> Option<Vec<Subtree>> {
    let obs_of = super::super::separator::effect_observations(block);
    let in_s: Vec<bool> = s_local.iter().map(|&k| k != usize::MAX).collect();
    let mut mode_at = split.integrated.len();
    let mut out = Vec::with_capacity(split.subtrees.len());
    for part in &split.subtrees {
        let sub = sub_block(block, part, &obs_of, &in_s)?;
        let tree = Tree::of(&sub)?;
        // separator entries of each observation, in the tree order NestedBlock keeps
        let (mut touch, mut cols) = (Vec::new(), Vec::new());
        for v in 0..tree.len() {
            for &sl in tree.observations(v) {
                let (c, vals) = block.z.row(sub.obs[sl]);
                let mut entries = Vec::new();
                for (&j, &val) in c.iter().zip(vals) {
                    if let Some(&sk) = s_local.get(j).filter(|&&sk| sk != usize::MAX) {
                        let pos = match touch.iter().position(|&t| t == sk) {
                            Some(pos) => pos,
                            None => {
                                touch.push(sk);
                                touch.len() - 1
                            }
                        };
                        entries.push((pos, val));
                    }
                }
                cols.push(entries);
            }
        }
        let global = Block {
            effects: sub.effects.iter().map(|&j| block.effects[j]).collect(),
            obs: sub.obs.iter().map(|&li| block.obs[li]).collect(),
            z: sub.z.clone(),
            component: sub.component.clone(),
            q_per_component: sub.q_per_component.clone(),
        };
        let effects = tree.effect.iter().map(|&e| global.effects[e]).collect();
        let mut nb = NestedBlock::new(model, &global, tree, nodes, u_start).ok()?;
        nb.prepend_columns(touch.len(), &cols);
        let n_nodes = nb.n_nodes();
        out.push(Subtree {
            tree: nb,
            touch,
            effects,
            mode_at,
        });
        mode_at += n_nodes;
    }
    Some(out)
}

/// Which second derivatives a subtree integration computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Second {
    /// In `(beta, nu)`: per draw.
    Theta,
    /// In the touched separator effects: the proposal's curvature.
    Separator,
    /// None.
    No,
}

/// A subtree's log integral given `u_S` and its derivatives, split out of the recursion's
/// coordinates `(u_S touched, beta, nu)`.
pub(super) struct GivenTerms<'a> {
    pub(super) log: f64,
    /// Scores in the touched separator effects (positions [`Subtree::touch`]).
    pub(super) us_score: &'a [f64],
    /// Partial scores in theta = (beta, nu).
    pub(super) theta_score: &'a [f64],
    /// Second moments (`E[∂²] + Cov`) over the coordinates [`Second`] asked for, row-major.
    pub(super) second: &'a [f64],
}

impl Subtree {
    /// The subtree's coordinates `(u_S touched, theta)` into `ext`.
    fn coordinates(&self, theta: &[f64], us: impl Fn(usize) -> f64, ext: &mut Vec<f64>) {
        ext.clear();
        ext.extend(self.touch.iter().map(|&k| us(k)));
        ext.extend_from_slice(theta);
    }

    /// Integrate the subtree given the separator effects `us(k)` (position `k`) at theta,
    /// its joint mode started from `modes[mode_at..]`, with the second moments `second`;
    /// `None` where something is not finite.
    pub(super) fn integrate<'g>(
        &self,
        theta: &[f64],
        us: impl Fn(usize) -> f64,
        modes: &[f64],
        second: Second,
        ext: &mut Vec<f64>,
        gs: &'g mut GivenScratch,
    ) -> Option<GivenTerms<'g>> {
        let t = self.touch.len();
        self.coordinates(theta, us, ext);
        let range = match second {
            Second::Theta => t..t + theta.len(),
            Second::Separator => 0..t,
            Second::No => 0..0,
        };
        if !self
            .tree
            .integrate_given(ext, &modes[self.mode_at..], range, gs)
        {
            return None;
        }
        let (log, m, second) = gs.rec.root();
        Some(GivenTerms {
            log,
            us_score: &m[..t],
            theta_score: &m[t..],
            second,
        })
    }

    /// Posterior moments of the subtree's nodes given `us` into `gs.m1`, `gs.m2` (node
    /// order), and its log integral.
    pub(super) fn moments(
        &self,
        theta: &[f64],
        us: impl Fn(usize) -> f64,
        modes: &[f64],
        ext: &mut Vec<f64>,
        gs: &mut GivenScratch,
    ) -> Option<f64> {
        self.coordinates(theta, us, ext);
        self.tree.moments_given(ext, &modes[self.mode_at..], gs)
    }
}
