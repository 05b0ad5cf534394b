//! A tree integrated *given* other effects (issue 17): the subtrees of a block whose
//! separator is sampled (SPEC §12 with a tree-shaped integrated set — subjects × items with
//! repeated trials per cell: the items sampled, each subject and its cells integrated).
//!
//! Given the separator's effects `u_S`, the subtree's observations have linear predictor
//! `x_i'beta + z_iS'u_S + z_iT'u_T`: the separator columns the subtree touches are fixed
//! effects with coefficients `u_S`.  So the subtree is a [`NestedBlock`] whose design is
//! `[Z_S(touched) | X]` at coefficients `(u_S(touched), beta)`, and one recursion gives its
//! log integral `log A_T(u_S)` and, as posterior moments, its gradient in
//! `(u_S(touched), beta, nu)` and the second derivatives over any contiguous range of those
//! coordinates: `(beta, nu)` per draw (Louis' identity at the draw), `u_S` for the
//! proposal's curvature.  The joint mode is found per draw from the mode at the proposal's
//! centre (a few Newton steps), so the rule stays adapted to each draw's posterior.

use super::block::{CentreScratch, NestedBlock};
use super::evaluate::Scratch;

/// Reused buffers of [`NestedBlock::integrate_given`] (no allocation per draw).
#[derive(Debug, Default)]
pub(crate) struct GivenScratch {
    xb: Vec<f64>,
    centre: CentreScratch,
    pub(crate) rec: Scratch,
    /// `E[u_v]` and `E[u_v^2]` per node after [`NestedBlock::moments_given`].
    pub(crate) m1: Vec<f64>,
    pub(crate) m2: Vec<f64>,
}

impl GivenScratch {
    /// The joint mode of the last integration, per node.
    pub(crate) fn mode(&self) -> &[f64] {
        &self.centre.centre.u
    }
}

impl NestedBlock {
    /// Number of tree nodes (effects).
    pub(crate) fn n_nodes(&self) -> usize {
        self.tree.len()
    }

    /// Start values of the joint mode, per node.
    pub(crate) fn start(&self) -> &[f64] {
        &self.u_start
    }

    /// Put `t` columns before X: `cols[i]` are the (column, value) entries of observation `i`
    /// in tree order.  Coordinates become `(those t, beta, nu)`.
    pub(crate) fn prepend_columns(&mut self, t: usize, cols: &[Vec<(usize, f64)>]) {
        let (p, n) = (self.p, self.y.len());
        let mut x = vec![0.0; n * (t + p)];
        for i in 0..n {
            let row = &mut x[i * (t + p)..(i + 1) * (t + p)];
            for &(c, v) in &cols[i] {
                row[c] += v;
            }
            row[t..].copy_from_slice(&self.x[i * p..(i + 1) * p]);
        }
        self.x = x;
        self.p = t + p;
        self.d += t;
        self.index_active();
    }

    /// Integrate the tree at `theta` (its own coordinates: the prepended coefficients, beta,
    /// nu), the joint mode started from `start`; second moments over the coordinates
    /// `second`.  The log integral and moments are in `gs.rec.root()`, the mode in
    /// `gs.mode()`.  False where something is not finite.
    pub(crate) fn integrate_given(
        &self,
        theta: &[f64],
        start: &[f64],
        second: std::ops::Range<usize>,
        gs: &mut GivenScratch,
    ) -> bool {
        let GivenScratch {
            xb, centre, rec, ..
        } = gs;
        self.x_beta_into(&theta[..self.p], xb);
        if !self.centre_into(&theta[self.p..], xb, start, centre) {
            return false;
        }
        rec.prepare(self, second);
        self.node(0, theta, xb, &centre.centre, rec) && rec.root().0.is_finite()
    }

    /// `log A_T` given the prepended coefficients, and the posterior means and second
    /// moments of the nodes into `gs.m1`, `gs.m2` (allocates: once per draw of a `ranef`).
    pub(crate) fn moments_given(
        &self,
        theta: &[f64],
        start: &[f64],
        gs: &mut GivenScratch,
    ) -> Option<f64> {
        let (log_i, e1, e2) = self.centred_moments(theta, start, &mut gs.xb, &mut gs.centre)?;
        let c = &gs.centre.centre;
        gs.m1.clear();
        gs.m2.clear();
        for v in 0..self.tree.len() {
            let (u, a, b) = (c.u[v], e1[v], e2[v]);
            gs.m1.push(u + a);
            gs.m2.push(b + 2.0 * u * a + u * u);
        }
        Some(log_i)
    }
}
