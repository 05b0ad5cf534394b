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
}

/// The joint mode of a nested block's effects at one theta and the Cholesky factor of the
/// negative Hessian there, per node on the path layout of [`NestedBlock`].
#[derive(Debug, Clone)]
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
        Ok(NestedBlock {
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
        })
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
        self.x
            .chunks_exact(self.p.max(1))
            .take(self.y.len())
            .map(|r| r.iter().zip(beta).map(|(a, b)| a * b).sum())
            .collect()
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
        let nu = &theta[self.p..];
        let nn = self.tree.len();
        let mut u = self.u_start.clone();
        let mut g = vec![0.0; nn];
        let mut h = vec![0.0; self.path.len()];
        let mut trial = vec![0.0; nn];
        let mut value = self.log_joint(nu, xb, &u, Some((&mut g, &mut h)));
        for _ in 0..200 {
            if !value.is_finite() || !self.factor(&mut h) {
                return None;
            }
            let mut step = g.clone();
            self.solve(&h, &mut step);
            let mut t = 1.0;
            let mut moved = false;
            while t > 1e-12 {
                for v in 0..nn {
                    trial[v] = u[v] + t * step[v];
                }
                let tv = self.log_joint(nu, xb, &trial, None);
                if tv >= value - 1e-12 * value.abs().max(1.0) {
                    moved = true;
                    break;
                }
                t *= 0.5;
            }
            let small = step
                .iter()
                .zip(&u)
                .all(|(s, x)| (t * s).abs() <= 1e-11 * (1.0 + x.abs()));
            if moved {
                std::mem::swap(&mut u, &mut trial);
            }
            value = self.log_joint(nu, xb, &u, Some((&mut g, &mut h)));
            if small || !moved {
                break;
            }
        }
        if !value.is_finite() || !self.factor(&mut h) {
            return None;
        }
        Some(Centre { u, chol: h })
    }
}
