//! Conditional moments of the random effects given y, as the integrators give them
//! (per block, local order: [`BlockMoments`]), and as one named row per effect
//! ([`RanefRow`], lme4's `ranef` with `condVar`, plus the Monte Carlo error).

use crate::model::blocks::Blocks;
use crate::model::Model;
use serde::Serialize;

/// Conditional moments of one random effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RanefRow {
    /// Variance-component name, e.g. `F`.
    pub component: String,
    /// Random-effect name (the design column), e.g. `Female10`.
    pub level: String,
    /// `E[u | y]` at theta-hat.
    pub mean: f64,
    /// `SD[u | y]` at theta-hat.
    pub sd: f64,
    /// Monte Carlo standard error of `mean` (0 for quadrature).
    pub mcse: f64,
}

/// Moments of one block's effects (local order).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockMoments {
    /// Conditional means.
    pub mean: Vec<f64>,
    /// Conditional standard deviations.
    pub sd: Vec<f64>,
    /// Monte Carlo standard errors of the means.
    pub mcse: Vec<f64>,
}

/// One row per random effect (model order) from per-block moments of `blocks`.
pub fn ranef_rows(model: &Model, blocks: &Blocks, moments: &[BlockMoments]) -> Vec<RanefRow> {
    let mut rows: Vec<Option<RanefRow>> = vec![None; model.q()];
    for (blk, mo) in blocks.blocks.iter().zip(moments) {
        for (l, &j) in blk.effects.iter().enumerate() {
            rows[j] = Some(RanefRow {
                component: model.varcomps_names()[model.effect_component()[j]].clone(),
                level: model.effect_names()[j].clone(),
                mean: mo.mean[l],
                sd: mo.sd[l],
                mcse: mo.mcse[l],
            });
        }
    }
    rows.into_iter().flatten().collect()
}
