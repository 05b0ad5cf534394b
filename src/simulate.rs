//! Simulating data from a GLMM: for examples, power studies, parametric
//! bootstrap and this crate's own tests.
//!
//! [`simulate_response`] draws `u ~ N(0, D(nu))` and `y | u` for any design
//! given as a [`ModelSpec`] (its response is ignored); [`CrossedDesign`]
//! builds a salamander-shaped crossed design (independent groups of females
//! and males, each animal paired several times, four cross types).

use crate::model::family::Family;
use crate::model::{Csr, ModelSpec, RandomBlock};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};
use thiserror::Error;

/// Problems with simulation inputs.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SimulateError {
    #[error("{what} has {got} values but the design needs {expected}")]
    Length {
        what: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("variance component {index} is {value}: variances must be finite and >= 0")]
    Variance { index: usize, value: f64 },
    #[error("the design is malformed: {0}")]
    Design(String),
    #[error(
        "the linear predictor is not finite at row {row}: the parameter values are too extreme"
    )]
    Eta { row: usize },
}

/// Most rows [`CrossedDesign::design`] builds (a few GB of memory at most).
pub const MAX_CROSSED_ROWS: usize = 10_000_000;

/// Draw random effects and a response for the design in `spec` at `beta`, `nu`.
/// Returns `(y, u)`.  Deterministic for a given seed.
pub fn simulate_response(
    spec: &ModelSpec,
    beta: &[f64],
    nu: &[f64],
    seed: u64,
) -> Result<(Vec<f64>, Vec<f64>), SimulateError> {
    let n = spec.x.len().checked_div(spec.x_names.len()).unwrap_or(0);
    if beta.len() != spec.x_names.len() {
        return Err(SimulateError::Length {
            what: "beta",
            got: beta.len(),
            expected: spec.x_names.len(),
        });
    }
    let n_blocks = spec.random.len();
    let equal: Vec<usize> = spec
        .varcomps_equal
        .clone()
        .unwrap_or_else(|| (1..=n_blocks).collect());
    let n_comp = equal.iter().copied().max().unwrap_or(0);
    if equal.len() != n_blocks || equal.contains(&0) {
        return Err(SimulateError::Design(
            "varcomps_equal must have one entry >= 1 per random block".into(),
        ));
    }
    if nu.len() != n_comp {
        return Err(SimulateError::Length {
            what: "nu",
            got: nu.len(),
            expected: n_comp,
        });
    }
    if let Some((i, &v)) = nu
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
    {
        return Err(SimulateError::Variance {
            index: i + 1,
            value: v,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut eta: Vec<f64> = (0..n)
        .map(|i| (0..beta.len()).map(|j| spec.x[j * n + i] * beta[j]).sum())
        .collect();
    let mut u_all = Vec::new();
    for (b, blk) in spec.random.iter().enumerate() {
        blk.z
            .check(&format!("Z block {}", b + 1))
            .map_err(|e| SimulateError::Design(e.to_string()))?;
        if blk.z.n_rows != n || blk.z.row_ptr.len() != n + 1 {
            return Err(SimulateError::Design(format!(
                "random block {} has {} rows, expected {n}",
                b + 1,
                blk.z.n_rows
            )));
        }
        let sd = nu[equal[b] - 1].sqrt();
        let u: Vec<f64> = (0..blk.z.n_cols)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                sd * z
            })
            .collect::<Vec<f64>>();
        for (i, e) in eta.iter_mut().enumerate() {
            let (cols, vals) = blk.z.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                *e += v * u.get(j).copied().unwrap_or(0.0);
            }
        }
        u_all.extend(u);
    }
    let mut y = Vec::with_capacity(n);
    for (i, &e) in eta.iter().enumerate() {
        if !e.is_finite() {
            return Err(SimulateError::Eta { row: i + 1 });
        }
        let v = match spec.family {
            Family::Bernoulli => {
                (rng.random::<f64>() < crate::model::family::logistic(e)) as u8 as f64
            }
            Family::Binomial => {
                let nt = spec
                    .trials
                    .as_ref()
                    .and_then(|t| t.get(i))
                    .copied()
                    .unwrap_or(1.0);
                let pr = crate::model::family::logistic(e);
                (0..nt as u64).filter(|_| rng.random::<f64>() < pr).count() as f64
            }
            Family::Poisson => {
                let mean = e.exp();
                if mean <= 0.0 {
                    0.0
                } else {
                    Poisson::new(mean)
                        .map_err(|_| SimulateError::Eta { row: i + 1 })?
                        .sample(&mut rng)
                }
            }
        };
        y.push(v);
    }
    Ok((y, u_all))
}

/// A salamander-shaped crossed design: `groups` independent groups, each of
/// `animals` females and `animals` males (the first half of each sex of type
/// R, the rest W), every animal paired `pairings` times (female f with males
/// f, f+1, ... cyclically, spread over both types).  Fixed effects: one
/// probability per cross type `Cross R/R, R/W, W/R, W/W` (no intercept); random
/// effects: one per female (`F`) and one per male (`M`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossedDesign {
    /// Independent groups (salamander: 6).
    pub groups: usize,
    /// Females (= males) per group (salamander: 10).
    pub animals: usize,
    /// Pairings per animal (salamander: 6).
    pub pairings: usize,
}

impl Default for CrossedDesign {
    fn default() -> Self {
        CrossedDesign {
            groups: 6,
            animals: 10,
            pairings: 6,
        }
    }
}

impl CrossedDesign {
    /// Number of observations.
    pub fn n(&self) -> usize {
        self.groups
            .saturating_mul(self.animals)
            .saturating_mul(self.pairings)
    }

    /// The design with a placeholder response (zeros), for [`simulate_response`].
    pub fn design(&self) -> Result<ModelSpec, SimulateError> {
        let (g, a, k) = (self.groups, self.animals, self.pairings);
        if g == 0 || a < 2 || k == 0 || k > a {
            return Err(SimulateError::Design(format!(
                "need groups >= 1, animals >= 2 and 1 <= pairings <= animals (got {g}, {a}, {k})"
            )));
        }
        if self.n() > MAX_CROSSED_ROWS {
            return Err(SimulateError::Design(format!(
                "groups x animals x pairings = {g} x {a} x {k} = {} rows is too many (at most {MAX_CROSSED_ROWS}); use smaller numbers, e.g. 6,10,6 (the salamander shape, 360 rows)",
                g as f64 * a as f64 * k as f64
            )));
        }
        let n = self.n();
        let mut x = vec![0.0; n * 4];
        let mut ft = Vec::with_capacity(n);
        let mut mt = Vec::with_capacity(n);
        // offsets spread over both male types: 0, a/2, 1, a/2 + 1, ...
        let offsets: Vec<usize> = (0..a)
            .map(|j| if j % 2 == 0 { j / 2 } else { a / 2 + j / 2 })
            .take(k)
            .collect();
        let mut row = 0;
        for grp in 0..g {
            for f in 0..a {
                for &o in &offsets {
                    let m = (f + o) % a;
                    let (fr, mr) = (f < a / 2, m < a / 2);
                    let cross = match (fr, mr) {
                        (true, true) => 0,
                        (true, false) => 1,
                        (false, true) => 2,
                        (false, false) => 3,
                    };
                    x[cross * n + row] = 1.0;
                    ft.push((row, grp * a + f, 1.0));
                    mt.push((row, grp * a + m, 1.0));
                    row += 1;
                }
            }
        }
        let q = g * a;
        let fz = Csr::from_triplets(n, q, &ft).map_err(|e| SimulateError::Design(e.to_string()))?;
        let mz = Csr::from_triplets(n, q, &mt).map_err(|e| SimulateError::Design(e.to_string()))?;
        let names = |s: &str| {
            (0..g)
                .flat_map(|grp| (0..a).map(move |i| (grp, i)))
                .map(|(grp, i)| format!("{s}{}_{}", grp + 1, i + 1))
                .collect::<Vec<_>>()
        };
        Ok(ModelSpec {
            y: vec![0.0; n],
            trials: None,
            x,
            x_names: ["R/R", "R/W", "W/R", "W/W"]
                .iter()
                .map(|c| format!("Cross{c}"))
                .collect(),
            random: vec![
                RandomBlock {
                    names: names("Female"),
                    z: fz,
                },
                RandomBlock {
                    names: names("Male"),
                    z: mz,
                },
            ],
            varcomps_equal: None,
            varcomps_names: vec!["F".into(), "M".into()],
            family: Family::Bernoulli,
            weights: None,
        })
    }

    /// The design with a response simulated at `beta` (4 cross types) and `nu = (F, M)`.
    pub fn simulate(
        &self,
        beta: &[f64],
        nu: &[f64],
        seed: u64,
    ) -> Result<ModelSpec, SimulateError> {
        let mut spec = self.design()?;
        spec.y = simulate_response(&spec, beta, nu, seed)?.0;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Blocks, Model, Sampler};

    #[test]
    fn crossed_design_is_salamander_shaped() {
        let d = CrossedDesign::default();
        let spec = d.simulate(&[1.0, 0.3, -1.9, 1.0], &[1.4, 1.25], 7).unwrap();
        assert_eq!(spec.y.len(), 360);
        let model = Model::new(spec).unwrap();
        let blocks = Blocks::new(&model, Sampler::Factorised);
        assert_eq!(blocks.blocks.len(), 6);
        assert!(blocks.blocks.iter().all(|b| b.q() == 20 && b.n() == 60));
        // every animal is paired `pairings` times, all four cross types occur
        let z = model.z();
        let mut count = vec![0; model.q()];
        for &j in &z.col_idx {
            count[j] += 1;
        }
        assert!(count.iter().all(|&c| c == 6));
        for c in 0..4 {
            assert!((0..360).any(|i| model.x_row(i)[c] == 1.0));
        }
    }

    #[test]
    fn simulated_means_match_the_model() {
        // poisson with nu = 0: the sample mean of y is close to exp(beta)
        let mut spec = CrossedDesign {
            groups: 40,
            animals: 10,
            pairings: 6,
        }
        .design()
        .unwrap();
        spec.family = Family::Poisson;
        let beta = [0.5, 0.5, 0.5, 0.5];
        let (y, _) = simulate_response(&spec, &beta, &[0.0, 0.0], 3).unwrap();
        let mean = y.iter().sum::<f64>() / y.len() as f64;
        assert!((mean - 0.5f64.exp()).abs() < 0.1, "mean {mean}");
        assert!(simulate_response(&spec, &beta, &[-1.0, 0.0], 3).is_err());
        assert!(simulate_response(&spec, &beta[..3], &[1.0, 1.0], 3).is_err());
    }
}
