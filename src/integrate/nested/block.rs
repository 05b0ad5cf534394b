//! A nested block's local data (observations in tree order, each observation's Z entries
//! by level on its path), the joint mode of its effects and the tree-shaped Cholesky factor
//! of the negative Hessian there.

use super::super::conditional::Rule;
use super::super::IntegratorError;
use super::tree::Tree;
use crate::model::blocks::Block;
use crate::model::family::Family;
use crate::model::Model;

/// One likelihood block integrated exactly by nested adaptive Gauss–Hermite quadrature.
#[derive(Debug, Clone)]
pub struct NestedBlock {
    pub(super) family: Family,
    pub(super) p: usize,
    pub(super) d: usize,
    pub(super) rule: Rule,
    pub(super) tree: Tree,
    /// Variance component of each tree node.
    pub(super) comp: Vec<usize>,
    /// Nodes on each node's path, root first (`path_ptr[v]..path_ptr[v + 1]`, the last
    /// being `v`); the Hessian and Cholesky entries of node `v` are stored the same way
    /// (entry `l`: with the node's ancestor at level `l`; entry `level(v)`: the diagonal).
    pub(super) path_ptr: Vec<usize>,
    pub(super) path: Vec<usize>,
    // Local observations in tree order: those hanging on node v are `obs_ptr[v]..obs_ptr[v + 1]`.
    pub(super) obs_ptr: Vec<usize>,
    pub(super) y: Vec<f64>,
    pub(super) w: Vec<f64>,
    pub(super) nt: Vec<f64>,
    /// Row-major `n x p`.
    pub(super) x: Vec<f64>,
    /// Z entries of each observation (`z_ptr[i]..z_ptr[i + 1]`): the level, on the path of
    /// the observation's node, of the effect, and the value.
    pub(super) z_ptr: Vec<usize>,
    pub(super) z_lev: Vec<usize>,
    pub(super) z_val: Vec<f64>,
    /// Start of the joint-mode Newton iteration, per node.
    pub(super) u_start: Vec<f64>,
    /// Non-zero entries of each observation's row of X (`xnz_ptr[i]..xnz_ptr[i + 1]`).
    pub(super) xnz_ptr: Vec<usize>,
    pub(super) xnz_col: Vec<usize>,
    pub(super) xnz_val: Vec<f64>,
    /// Coordinates (of `(X columns, nu)`) on which each node's subtree depends, ascending
    /// (`act_ptr[v]..act_ptr[v + 1]` of `act`): its observations' non-zero columns and its
    /// nodes' variance components.  The recursion touches only these.
    pub(super) act_ptr: Vec<usize>,
    pub(super) act: Vec<usize>,
}

/// Buffers of the joint-mode iteration, and its result.
#[derive(Debug, Clone, Default)]
pub(crate) struct CentreScratch {
    pub(super) centre: Centre,
    g: Vec<f64>,
    trial: Vec<f64>,
    step: Vec<f64>,
}

/// The joint mode of a nested block's effects at one theta and the Cholesky factor of the
/// negative Hessian there, per node on the path layout of [`NestedBlock`].
#[derive(Debug, Clone, Default)]
pub(super) struct Centre {
    /// Mode, per node.
    pub(super) u: Vec<f64>,
    /// `L` with `L L' = H` (leaves eliminated first, so no fill): entry `l` of node `v` is
    /// `L[anc_l(v), v]`, the last `L[v, v]`.
    pub(super) chol: Vec<f64>,
}

impl NestedBlock {
    /// Block `block` of `model` with its `tree`, `nodes` Gauss–Hermite nodes per level;
    /// `u_start` (length q of the model) starts the joint-mode iterations.
    pub fn new(
        model: &Model,
        block: &Block,
        tree: Tree,
        nodes: usize,
        u_start: &[f64],
    ) -> Result<NestedBlock, IntegratorError> {
        let rule = Rule::new(nodes).map_err(IntegratorError::Quadrature)?;
        let p = model.p();
        let nn = tree.len();
        let mut node_of_effect = vec![usize::MAX; block.q()];
        for (v, &e) in tree.effect.iter().enumerate() {
            node_of_effect[e] = v;
        }
        let (mut path_ptr, mut path) = (vec![0], Vec::new());
        for v in 0..nn {
            let start = path.len();
            let mut a = v;
            while a != usize::MAX {
                path.push(a);
                a = tree.parent[a];
            }
            path[start..].reverse();
            path_ptr.push(path.len());
        }
        let (mut obs_ptr, mut y, mut w, mut nt, mut x) = (vec![0], vec![], vec![], vec![], vec![]);
        let (mut z_ptr, mut z_lev, mut z_val) = (vec![0], vec![], vec![]);
        for v in 0..nn {
            for &li in tree.observations(v) {
                let gi = block.obs[li];
                y.push(model.y()[gi]);
                w.push(model.weights()[gi]);
                nt.push(model.trials()[gi]);
                x.extend_from_slice(model.x_row(gi));
                let (cols, vals) = block.z.row(li);
                for (&c, &val) in cols.iter().zip(vals) {
                    z_lev.push(tree.level[node_of_effect[c]]);
                    z_val.push(val);
                }
                z_ptr.push(z_lev.len());
            }
            obs_ptr.push(y.len());
        }
        let mut nb = NestedBlock {
            family: model.family(),
            p,
            d: model.n_params(),
            rule,
            comp: tree.effect.iter().map(|&e| block.component[e]).collect(),
            u_start: tree
                .effect
                .iter()
                .map(|&e| u_start.get(block.effects[e]).copied().unwrap_or(0.0))
                .map(|u| if u.is_finite() { u } else { 0.0 })
                .collect(),
            tree,
            path_ptr,
            path,
            obs_ptr,
            y,
            w,
            nt,
            x,
            z_ptr,
            z_lev,
            z_val,
            xnz_ptr: Vec::new(),
            xnz_col: Vec::new(),
            xnz_val: Vec::new(),
            act_ptr: Vec::new(),
            act: Vec::new(),
        };
        nb.index_active();
        Ok(nb)
    }

    /// The sparse rows of X and each subtree's coordinates, from `x`, `p` and the tree.
    pub(super) fn index_active(&mut self) {
        let (p, n) = (self.p, self.y.len());
        (self.xnz_ptr, self.xnz_col, self.xnz_val) = (vec![0], Vec::new(), Vec::new());
        for i in 0..n {
            for (a, &v) in self.x[i * p..(i + 1) * p].iter().enumerate() {
                if v != 0.0 {
                    self.xnz_col.push(a);
                    self.xnz_val.push(v);
                }
            }
            self.xnz_ptr.push(self.xnz_col.len());
        }
        // subtrees are the pre-order ranges v..v + size[v]
        let nn = self.tree.len();
        (self.act_ptr, self.act) = (vec![0], Vec::new());
        let mut mark = vec![false; self.d];
        for v in 0..nn {
            mark.iter_mut().for_each(|m| *m = false);
            for w in v..v + self.tree.size[v] {
                mark[p + self.comp[w]] = true;
                let obs = self.obs_ptr[w]..self.obs_ptr[w + 1];
                for &a in &self.xnz_col[self.xnz_ptr[obs.start]..self.xnz_ptr[obs.end]] {
                    mark[a] = true;
                }
            }
            self.act.extend((0..self.d).filter(|&j| mark[j]));
            self.act_ptr.push(self.act.len());
        }
    }

    /// Coordinates of node `v`'s subtree.
    #[inline]
    pub(super) fn active(&self, v: usize) -> &[usize] {
        &self.act[self.act_ptr[v]..self.act_ptr[v + 1]]
    }

    /// Number of tree levels.
    pub fn depth(&self) -> usize {
        self.tree.depth()
    }

    /// Gauss–Hermite nodes per level.
    pub fn nodes(&self) -> usize {
        self.rule.len()
    }

    pub(super) fn node_path(&self, v: usize) -> &[usize] {
        &self.path[self.path_ptr[v]..self.path_ptr[v + 1]]
    }

    /// `x_i' beta` of every local observation.
    pub(super) fn x_beta(&self, beta: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.y.len());
        self.x_beta_into(beta, &mut out);
        out
    }

    /// [`x_beta`](Self::x_beta) into `out` (its allocation reused).
    pub(super) fn x_beta_into(&self, beta: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.extend(
            self.x
                .chunks_exact(self.p.max(1))
                .take(self.y.len())
                .map(|r| r.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>()),
        );
    }

    /// The joint log density `sum_i w_i log f(y_i | eta_i) - sum_v u_v^2 / (2 nu_v)` at `u`,
    /// and (when `grad_hess`) its gradient and negative Hessian on the path layout.
    fn log_joint(
        &self,
        nu: &[f64],
        xb: &[f64],
        u: &[f64],
        grad_hess: Option<(&mut [f64], &mut [f64])>,
    ) -> f64 {
        let fam = self.family;
        let mut value = 0.0;
        let mut gh = grad_hess;
        if let Some((g, h)) = gh.as_mut() {
            g.iter_mut().for_each(|a| *a = 0.0);
            h.iter_mut().for_each(|a| *a = 0.0);
        }
        for v in 0..self.tree.len() {
            let nv = nu[self.comp[v]];
            value -= u[v] * u[v] / (2.0 * nv);
            let path = self.node_path(v);
            let hoff = self.path_ptr[v];
            if let Some((g, h)) = gh.as_mut() {
                g[v] -= u[v] / nv;
                h[hoff + path.len() - 1] += 1.0 / nv;
            }
            for i in self.obs_ptr[v]..self.obs_ptr[v + 1] {
                let zs = self.z_ptr[i]..self.z_ptr[i + 1];
                let mut eta = xb[i];
                for e in zs.clone() {
                    eta += self.z_val[e] * u[path[self.z_lev[e]]];
                }
                value += self.w[i] * fam.log_density_kernel(self.y[i], eta, self.nt[i]);
                if let Some((g, h)) = gh.as_mut() {
                    let r = self.w[i] * (self.y[i] - fam.mean(eta, self.nt[i]));
                    let wc = self.w[i] * fam.variance(eta, self.nt[i]);
                    for e in zs.clone() {
                        let (le, ve) = (self.z_lev[e], self.z_val[e]);
                        let ne = path[le];
                        g[ne] += r * ve;
                        // H[ne, anc_lf(ne)] for every entry f at a level lf <= le
                        for f in zs.clone() {
                            let lf = self.z_lev[f];
                            if lf <= le {
                                h[self.path_ptr[ne] + lf] += wc * ve * self.z_val[f];
                            }
                        }
                    }
                }
            }
        }
        value
    }

    /// Cholesky factor of the negative Hessian `h` (path layout) in place; false when it is
    /// not positive definite.  Leaves are eliminated first (reverse pre-order), so the factor
    /// has the pattern of `h`: `sum_v level(v)^2` work.
    fn factor(&self, h: &mut [f64]) -> bool {
        for j in (0..self.tree.len()).rev() {
            let (off, lev) = (self.path_ptr[j], self.tree.level[j]);
            let djj = h[off + lev];
            if !(djj > 0.0) || !djj.is_finite() {
                return false;
            }
            let ljj = djj.sqrt();
            h[off + lev] = ljj;
            for l in 0..lev {
                h[off + l] /= ljj;
            }
            // Schur complement on the ancestors: H[anc_t, anc_s] -= L[anc_t, j] L[anc_s, j]
            let path = self.node_path(j);
            for t in 0..lev {
                let bt = self.path_ptr[path[t]];
                let ltj = h[off + t];
                for s in 0..=t {
                    h[bt + s] -= ltj * h[off + s];
                }
            }
        }
        true
    }

    /// Solve `L L' x = g` (in place) with the factor from [`factor`](Self::factor).
    fn solve(&self, chol: &[f64], g: &mut [f64]) {
        // L y = g, leaves first
        for j in (0..self.tree.len()).rev() {
            let (off, lev) = (self.path_ptr[j], self.tree.level[j]);
            g[j] /= chol[off + lev];
            let path = self.node_path(j);
            for l in 0..lev {
                g[path[l]] -= chol[off + l] * g[j];
            }
        }
        // L' x = y, root first
        for j in 0..self.tree.len() {
            let (off, lev) = (self.path_ptr[j], self.tree.level[j]);
            let path = self.node_path(j);
            let mut s = g[j];
            for l in 0..lev {
                s -= chol[off + l] * g[path[l]];
            }
            g[j] = s / chol[off + lev];
        }
    }

    /// The joint mode of the effects at theta (safeguarded Newton from the start values;
    /// the log density is strictly concave) and the Cholesky factor there.
    pub(super) fn centre(&self, theta: &[f64], xb: &[f64]) -> Option<Centre> {
        let mut cs = CentreScratch::default();
        self.centre_into(&theta[self.p..], xb, &self.u_start, &mut cs)
            .then_some(cs.centre)
    }

    /// [`centre`](Self::centre) from `start` into `cs.centre` (the buffers reused); false
    /// where the Newton iteration fails.
    pub(super) fn centre_into(
        &self,
        nu: &[f64],
        xb: &[f64],
        start: &[f64],
        cs: &mut CentreScratch,
    ) -> bool {
        let nn = self.tree.len();
        let CentreScratch {
            centre: Centre { u, chol: h },
            g,
            trial,
            step,
        } = cs;
        u.clear();
        u.extend_from_slice(&start[..nn]);
        for (v, len) in [(&mut *g, nn), (&mut *h, self.path.len()), (&mut *trial, nn)] {
            v.clear();
            v.resize(len, 0.0);
        }
        let mut value = self.log_joint(nu, xb, u, Some((g, h)));
        for _ in 0..200 {
            if !value.is_finite() || !self.factor(h) {
                return false;
            }
            step.clear();
            step.extend_from_slice(g);
            self.solve(h, step);
            let mut t = 1.0;
            let mut moved = false;
            while t > 1e-12 {
                for v in 0..nn {
                    trial[v] = u[v] + t * step[v];
                }
                let tv = self.log_joint(nu, xb, trial, None);
                if tv >= value - 1e-12 * value.abs().max(1.0) {
                    moved = true;
                    break;
                }
                t *= 0.5;
            }
            let small = step
                .iter()
                .zip(u.iter())
                .all(|(s, x)| (t * s).abs() <= 1e-11 * (1.0 + x.abs()));
            if moved {
                std::mem::swap(u, trial);
            }
            value = self.log_joint(nu, xb, u, Some((g, h)));
            if small || !moved {
                break;
            }
        }
        value.is_finite() && self.factor(h)
    }
}
