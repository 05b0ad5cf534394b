//! The adaptive block: its local copy of the data (integrated effects' observations first,
//! then the rest), the split into integrated set and separator, and the settings.

use super::super::conditional::{EffectObs, Rule};
use super::super::separator::Split;
use super::super::standard_draws::{DrawScheme, StandardDraws};
use super::super::IntegratorError;
use super::subtree::{self, Subtree};
use crate::interrupt::Interrupt;
use crate::model::blocks::Block;
use crate::model::family::Family;
use crate::model::Model;

/// Draws per chunk: each chunk has its own random stream, so the draws (and every
/// result) do not depend on the number of threads, and growing m keeps the draws
/// already made.
pub const ADAPTIVE_CHUNK: usize = 64;

pub(super) const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Settings of the adaptive integrator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveSettings {
    /// Gauss–Hermite nodes per conditional integral (K).
    pub nodes: usize,
    /// Newton steps of each per-draw 1-D mode (fixed, from the second-order response of the
    /// proposal's mode to the draw's offsets, `AdaptiveBlock::response_start`: 2 keep every
    /// conditional integral within 1e-9 of the one at the precise mode, measured).
    pub newton_steps: usize,
    /// Relative step of the central differences of the proposal's derivatives
    /// ([`difference_step`](crate::integrate::objective::difference_step)).
    pub proposal_step: f64,
    /// How the standard draws of the separator are made
    /// ([`standard_draws`](crate::integrate::standard_draws)).
    pub draws: DrawScheme,
    /// Integrate blocks whose effects nest exactly by nested quadrature (within
    /// [`NESTED_BUDGET`](crate::integrate::nested::NESTED_BUDGET)) instead of sampling them.
    pub nested: bool,
    /// In sampled blocks, integrate the parts that nest given the separator by the nested
    /// recursion ([`Split::with_subtrees`]) instead of sampling their upper levels.
    pub subtrees: bool,
    /// Form Louis' identity at the draws as a sampled block's Hessian (the per-draw
    /// `∂²_theta log h` from second posterior moments on the nodes).  The SPEC §12 fit does not
    /// use it (its model and reported Hessians are differences of the gradient, `fit::auto_m`)
    /// and turns it off: 8-30 % of the per-draw pass (the beta-score covariance over the nodes
    /// grows with the non-zero columns of X); a sampled block's Hessian is then zero.
    pub louis: bool,
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        AdaptiveSettings {
            nodes: 10,
            newton_steps: 2,
            proposal_step: 1e-4,
            draws: DrawScheme::default(),
            nested: true,
            subtrees: false,
            louis: true,
        }
    }
}

/// One likelihood block integrated by SPEC §12.
#[derive(Debug, Clone)]
pub struct AdaptiveBlock {
    pub(super) family: Family,
    pub(super) p: usize,
    pub(super) d: usize,
    pub(super) m: usize,
    pub(super) rule: Rule,
    /// The standard draws `z_k`.
    pub(super) z_draws: StandardDraws,
    pub(super) settings: AdaptiveSettings,
    // Local observations: those of the integrated effects first, grouped by effect,
    // then the rest (R).
    pub(super) y: Vec<f64>,
    pub(super) w: Vec<f64>,
    pub(super) nt: Vec<f64>,
    /// Row-major `n x p`.
    pub(super) x: Vec<f64>,
    /// Coefficient of the observation's integrated effect (0 for R).
    pub(super) zi: Vec<f64>,
    /// `i_ptr[j]..i_ptr[j + 1]`: observations of integrated effect j.
    pub(super) i_ptr: Vec<usize>,
    pub(super) i_comp: Vec<usize>,
    /// Separator part of Z, CSR over local observations.
    pub(super) s_ptr: Vec<usize>,
    pub(super) s_idx: Vec<usize>,
    pub(super) s_val: Vec<f64>,
    pub(super) s_comp: Vec<usize>,
    /// Separator effects touched by each integrated effect (`touch_ptr[j]..`), and for
    /// each separator entry of an I observation its position in that list.
    pub(super) touch_ptr: Vec<usize>,
    pub(super) touch: Vec<usize>,
    pub(super) s_pos: Vec<usize>,
    /// Non-zero entries of each local row of X (`xnz_ptr[i]..xnz_ptr[i + 1]`: columns and
    /// values), and for observations of integrated effects each entry's position in
    /// its effect's list of active columns (`a_ptr[j]..a_ptr[j + 1]` of `a_col`).
    pub(super) xnz_ptr: Vec<usize>,
    pub(super) xnz_col: Vec<usize>,
    pub(super) xnz_val: Vec<f64>,
    pub(super) xnz_pos: Vec<usize>,
    pub(super) a_ptr: Vec<usize>,
    pub(super) a_col: Vec<usize>,
    /// Largest number of observations of one integrated effect.
    pub(super) max_nj: usize,
    /// Start of the separator-mode Newton iteration.
    pub(super) v_start: Vec<f64>,
    /// Global effect index of each separator effect.
    pub(super) s_effects: Vec<usize>,
    /// The block's global effect indices (its local order).
    pub(super) block_effects: Vec<usize>,
    /// Parts integrated by the nested recursion given the separator (issue 17).
    pub(super) subtrees: Vec<Subtree>,
    /// Global effect index of the 1-D integrated effects, then of the subtrees' nodes.
    pub(super) integrated_effects: Vec<usize>,
    /// Stops the per-chunk work of an evaluation once triggered.
    pub(super) interrupt: Option<Interrupt>,
}

impl AdaptiveBlock {
    /// Prepare block `index` of `model` with `m` draws; `u_start` (length q of the
    /// model) starts the separator-mode iterations (e.g. the PQL effects).
    pub fn new(
        model: &Model,
        block: &Block,
        index: usize,
        m: usize,
        seed: u64,
        u_start: &[f64],
        settings: AdaptiveSettings,
    ) -> Result<AdaptiveBlock, IntegratorError> {
        let rule = Rule::new(settings.nodes).map_err(IntegratorError::Quadrature)?;
        let term: Vec<usize> = block
            .effects
            .iter()
            .map(|&j| model.effect_term()[j])
            .collect();
        let greedy = || Split::choose(block, &term);
        let mut split = if settings.subtrees {
            Split::with_subtrees(block, &term, settings.nodes)
        } else {
            greedy()
        };
        let local_of = |split: &Split| {
            let mut s_local = vec![usize::MAX; block.q()];
            for (k, &j) in split.separator.iter().enumerate() {
                s_local[j] = k;
            }
            s_local
        };
        let mut s_local = local_of(&split);
        let subtrees = match subtree::build(model, block, &split, &s_local, settings.nodes, u_start)
        {
            Some(t) => t,
            None => {
                split = greedy();
                s_local = local_of(&split);
                Vec::new()
            }
        };
        let obs_of = super::super::separator::effect_observations(block);
        let mut in_tree_obs = vec![false; block.n()];
        for part in &split.subtrees {
            for &j in part {
                for &i in &obs_of[j] {
                    in_tree_obs[i] = true;
                }
            }
        }
        let mut is_i = vec![false; block.q()];
        for &j in &split.integrated {
            is_i[j] = true;
        }
        // local observation order
        let mut order = Vec::with_capacity(block.n());
        let mut i_ptr = vec![0];
        for &j in &split.integrated {
            order.extend_from_slice(&obs_of[j]);
            i_ptr.push(order.len());
        }
        let mut in_i = vec![false; block.n()];
        for &i in &order {
            in_i[i] = true;
        }
        // the subtrees' observations are kept by their nested blocks
        order.extend((0..block.n()).filter(|&i| !in_i[i] && !in_tree_obs[i]));
        let p = model.p();
        let (mut y, mut w, mut nt, mut x, mut zi) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut s_ptr, mut s_idx, mut s_val) = (vec![0], vec![], vec![]);
        for &li in &order {
            let gi = block.obs[li];
            y.push(model.y()[gi]);
            w.push(model.weights()[gi]);
            nt.push(model.trials()[gi]);
            x.extend_from_slice(model.x_row(gi));
            let (cols, vals) = block.z.row(li);
            let mut zij = 0.0;
            for (&j, &v) in cols.iter().zip(vals) {
                if is_i[j] {
                    zij = v;
                } else {
                    s_idx.push(s_local[j]);
                    s_val.push(v);
                }
            }
            zi.push(zij);
            s_ptr.push(s_idx.len());
        }
        let mut touch_ptr = vec![0];
        let mut touch = Vec::new();
        let mut s_pos = vec![usize::MAX; s_idx.len()];
        for j in 0..split.integrated.len() {
            let start = touch.len();
            for i in i_ptr[j]..i_ptr[j + 1] {
                for e in s_ptr[i]..s_ptr[i + 1] {
                    let s = s_idx[e];
                    let pos = match touch[start..].iter().position(|&t| t == s) {
                        Some(k) => k,
                        None => {
                            touch.push(s);
                            touch.len() - 1 - start
                        }
                    };
                    s_pos[e] = pos;
                }
            }
            touch_ptr.push(touch.len());
        }
        let n_loc = y.len();
        let (mut xnz_ptr, mut xnz_col, mut xnz_val) = (vec![0], vec![], vec![]);
        for i in 0..n_loc {
            for (a, &v) in x[i * p..(i + 1) * p].iter().enumerate() {
                if v != 0.0 {
                    xnz_col.push(a);
                    xnz_val.push(v);
                }
            }
            xnz_ptr.push(xnz_col.len());
        }
        let mut xnz_pos = vec![usize::MAX; xnz_col.len()];
        let (mut a_ptr, mut a_col) = (vec![0], vec![]);
        let mut max_nj = 0;
        for j in 0..split.integrated.len() {
            let start = a_col.len();
            max_nj = max_nj.max(i_ptr[j + 1] - i_ptr[j]);
            for i in i_ptr[j]..i_ptr[j + 1] {
                for e in xnz_ptr[i]..xnz_ptr[i + 1] {
                    let a = xnz_col[e];
                    xnz_pos[e] = match a_col[start..].iter().position(|&c| c == a) {
                        Some(k) => k,
                        None => {
                            a_col.push(a);
                            a_col.len() - 1 - start
                        }
                    };
                }
            }
            a_ptr.push(a_col.len());
        }
        let comp = &block.component;
        let z_draws = StandardDraws::new(settings.draws, split.separator.len(), seed, index);
        Ok(AdaptiveBlock {
            family: model.family(),
            p,
            d: model.n_params(),
            // whole Sobol' prefixes / antithetic pairs
            m: z_draws.scheme().round_m(m),
            rule,
            z_draws,
            settings,
            y,
            w,
            nt,
            x,
            zi,
            i_comp: split.integrated.iter().map(|&j| comp[j]).collect(),
            i_ptr,
            s_ptr,
            s_idx,
            s_val,
            s_comp: split.separator.iter().map(|&j| comp[j]).collect(),
            touch_ptr,
            touch,
            s_pos,
            xnz_ptr,
            xnz_col,
            xnz_val,
            xnz_pos,
            a_ptr,
            a_col,
            max_nj,
            v_start: split
                .separator
                .iter()
                .map(|&j| u_start.get(block.effects[j]).copied().unwrap_or(0.0))
                .collect(),
            integrated_effects: split
                .integrated
                .iter()
                .map(|&j| block.effects[j])
                .chain(subtrees.iter().flat_map(|t| t.effects.iter().copied()))
                .collect(),
            subtrees,
            s_effects: split.separator.iter().map(|&j| block.effects[j]).collect(),
            block_effects: block.effects.clone(),
            interrupt: None,
        })
    }

    pub(super) fn n_s(&self) -> usize {
        self.s_comp.len()
    }
    pub(super) fn n_i(&self) -> usize {
        self.i_comp.len()
    }
    pub(super) fn n(&self) -> usize {
        self.y.len()
    }
    /// Number of sampled (separator) effects; 0 when the block is integrated exactly.
    pub fn separator_size(&self) -> usize {
        self.n_s()
    }
    /// Number of effects integrated by quadrature (one-dimensional and in subtrees).
    pub fn integrated_size(&self) -> usize {
        self.integrated_effects.len()
    }
    /// Number of subtrees integrated by the nested recursion given the separator.
    pub fn subtree_count(&self) -> usize {
        self.subtrees.len()
    }
    /// Global indices of the integrated (one-dimensional, then the subtrees') and the
    /// separator effects.
    pub fn effects(&self) -> (&[usize], &[usize]) {
        (&self.integrated_effects, &self.s_effects)
    }
    /// Length of the modes kept by the proposal: the 1-D effects', then the subtrees' nodes.
    pub(super) fn n_modes(&self) -> usize {
        self.integrated_effects.len()
    }

    pub(super) fn x_beta(&self, beta: &[f64]) -> Vec<f64> {
        let p = self.p;
        (0..self.n())
            .map(|i| {
                let xr = &self.x[i * p..(i + 1) * p];
                let mut s = 0.0;
                for a in 0..p {
                    s += xr[a] * beta[a];
                }
                s
            })
            .collect()
    }

    pub(super) fn offsets(&self, xb: &[f64], us: &[f64], o: &mut Vec<f64>) {
        o.clear();
        for i in 0..self.n() {
            let mut s = xb[i];
            for e in self.s_ptr[i]..self.s_ptr[i + 1] {
                s += self.s_val[e] * us[self.s_idx[e]];
            }
            o.push(s);
        }
    }

    pub(super) fn effect_obs(&self, j: usize) -> (EffectObs<'_>, std::ops::Range<usize>) {
        let r = self.i_ptr[j]..self.i_ptr[j + 1];
        (
            EffectObs {
                y: &self.y[r.clone()],
                w: &self.w[r.clone()],
                nt: &self.nt[r.clone()],
                z: &self.zi[r.clone()],
            },
            r,
        )
    }
}
