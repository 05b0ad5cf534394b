//! The starting values (SPEC §3): PQL, the user's `par_init`, or the default
//! (`beta = 0`, `nu = 1`), with the importance distribution's centre.

use super::pql::{pql, pql_to, PqlError, PqlStart, PqlTolerance};
use crate::model::options::{CheckedOptions, Sampler};
use crate::model::Model;
use serde::Serialize;

/// Centre of the importance distribution: `u*` and `D* = diag(d_star)` (global, length q),
/// plus the `beta*` at which `S*` is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportanceCentre {
    /// Fixed effects at the start.
    pub beta: Vec<f64>,
    /// Mode of the random effects (`u* = A* s*`).
    pub u_star: Vec<f64>,
    /// Diagonal of `D*` (one variance per random effect).
    pub d_star: Vec<f64>,
}

/// Where the starting values and importance centre came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartSource {
    /// Penalized quasi-likelihood (SPEC §3).
    Pql,
    /// User values (`par_init`), with `u* = 0`.
    ParInit,
    /// `beta = 0`, `nu = 1`, `u* = 0` (`do_pql = false`).
    Default,
}

/// Starting values: theta0 and the importance distribution's centre.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// Where they came from.
    pub source: StartSource,
    /// theta0 = (beta, nu).
    pub theta: Vec<f64>,
    /// Centre of the importance distribution.
    pub centre: ImportanceCentre,
    /// The PQL result, when PQL ran.
    pub pql: Option<PqlStart>,
}

/// Compute the start (SPEC §3): PQL unless `par_init` is given or `do_pql` is false (to R's
/// tolerance for the fixed-sample samplers, to [`PqlTolerance::START`] for the SPEC §12 fit).
pub fn start(model: &Model, options: &CheckedOptions) -> Result<Start, PqlError> {
    let (p, q) = (model.p(), model.q());
    let comp = model.effect_component();
    if let Some(init) = &options.par_init {
        let nu = &init[p..];
        return Ok(Start {
            source: StartSource::ParInit,
            theta: init.clone(),
            centre: ImportanceCentre {
                beta: init[..p].to_vec(),
                u_star: vec![0.0; q],
                d_star: comp.iter().map(|&t| nu[t]).collect(),
            },
            pql: None,
        });
    }
    if !options.do_pql {
        let mut theta = vec![0.0; p];
        theta.extend(std::iter::repeat_n(1.0, model.n_varcomps()));
        return Ok(Start {
            source: StartSource::Default,
            theta,
            centre: ImportanceCentre {
                beta: vec![0.0; p],
                u_star: vec![0.0; q],
                d_star: vec![1.0; q],
            },
            pql: None,
        });
    }
    // the fixed-sample samplers reproduce R glmm's importance sample, centred at its PQL
    // optimum; the SPEC §12 fit only starts from PQL (PqlTolerance::START)
    let s = match options.sampler {
        Sampler::Adaptive => pql_to(model, PqlTolerance::START)?,
        Sampler::Factorised | Sampler::Joint => pql(model)?,
    };
    let mut theta = s.beta.clone();
    theta.extend(&s.nu);
    Ok(Start {
        source: StartSource::Pql,
        theta,
        centre: ImportanceCentre {
            beta: s.beta.clone(),
            u_star: s.u_star.clone(),
            d_star: comp.iter().map(|&t| s.nu[t]).collect(),
        },
        pql: Some(s),
    })
}
