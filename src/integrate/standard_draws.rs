//! The standard draws `z_k` of the SPEC §12 separator, and their Monte Carlo error.
//!
//! Three schemes ([`DrawScheme`]), all fixed for the whole fit (common random
//! numbers), generated chunk by chunk from the draw index alone (so every result is
//! the same for any number of threads, and the first `m` draws are the same for every
//! larger m):
//!
//! * **Sobol'** (the default, randomised quasi-Monte Carlo): `R` independent
//!   scramblings ([`Sobol::scrambled`], one seeded stream per block and replicate) of
//!   the Sobol' sequence in `n_S` dimensions, mapped to normals by `Phi^{-1}`; draw `k`
//!   is point `floor(k / R)` of replicate `k mod R`.  m is rounded up to `R 2^j`, so
//!   each replicate is a Sobol' prefix of length `2^j` (a net), and doubling m doubles
//!   every prefix, keeping the draws already made.
//! * **Antithetic** pairs: draw `2j + 1` is `-z_{2j}`, `z_{2j}` i.i.d. standard normal;
//!   m is rounded up to an even number.
//! * **Plain**: i.i.d. standard normals (ChaCha8, one stream per block and chunk of
//!   [`ADAPTIVE_CHUNK`](super::adaptive::ADAPTIVE_CHUNK) draws).
//!
//! **Monte Carlo error with dependent draws.**  SPEC §12 f's formula
//! `V_b = sum_k v_k^2 (s_k - G_b)(s_k - G_b)'` (and the log-likelihood's
//! `1/ESS_b - 1/m`) is the delta-method variance of the self-normalised estimate for
//! *independent* draws; Sobol' points and antithetic pairs are not, and their error is
//! smaller (that is the point of them).  The error is then estimated from the `G`
//! independent *groups* of draws (Sobol': the `R` replicates; antithetic: the `m/2`
//! pairs): with `c_g = sum_{k in g} v_k (s_k - G_b)` and `W_g = sum_{k in g} v_k`,
//!
//! ```text
//! V_b      = G/(G - 1) sum_g c_g c_g',
//! Var l_b  = G/(G - 1) sum_g (W_g - 1/G)^2,
//! ```
//!
//! the same delta method applied to the `G` group means (the pooled estimate is the
//! ratio of the averages over groups of `w s` and `w`, each group mean an unbiased
//! estimate; `G/(G - 1)` the usual degrees-of-freedom correction).  With one draw per
//! group this is the i.i.d. formula.  With `R` replicates the variance estimate has
//! `R - 1` degrees of freedom: one fit's MCSE scatters by about `1/sqrt(2 (R - 1))`
//! (18 % at the default R = 16, [`DEFAULT_REPLICATES`]) around the true error, which
//! it estimates without bias on the variance scale.  Splitting m into R replicates
//! costs some of the QMC gain (each replicate is a net of m/R points): measured, the
//! variance of l at m = 1,024 is 4-14x below plain Monte Carlo with R = 8 or 16 and
//! 9-12x with R = 2 (BENCHMARKS.md).

use super::sobol::{Sobol, MAX_DIMS};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Independent scramblings of the default Sobol' scheme.
pub const DEFAULT_REPLICATES: usize = 16;

/// How the standard draws of the separator are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrawScheme {
    /// i.i.d. standard normals.
    Plain,
    /// Antithetic pairs `(z, -z)`.
    Antithetic,
    /// Scrambled Sobol' points (randomised QMC) in `replicates` independent
    /// randomisations (at least 2: their spread is the Monte Carlo error).
    Sobol { replicates: usize },
}

impl Default for DrawScheme {
    fn default() -> Self {
        DrawScheme::Sobol {
            replicates: DEFAULT_REPLICATES,
        }
    }
}

impl DrawScheme {
    /// The number of draws actually used for a requested `m`: Sobol' rounds up to
    /// `R 2^j` (each replicate a Sobol' prefix of length `2^j`), antithetic to an even
    /// number, plain keeps `m`.  (Any multiple of `R` would keep the draws persistent and the
    /// replicate MCSE honest, but a prefix that is not a power of two loses the balance the
    /// variance reduction rests on, and rounding down would give fewer draws than asked.)
    pub fn round_m(self, m: usize) -> usize {
        let m = m.max(1);
        match self {
            DrawScheme::Plain => m,
            DrawScheme::Antithetic => m + m % 2,
            DrawScheme::Sobol { replicates } => {
                let r = replicates.max(2);
                r * m.div_ceil(r).next_power_of_two()
            }
        }
    }

    /// Number of independent groups among `m` draws (0: the draws are independent,
    /// use the i.i.d. formula).
    pub fn groups(self, m: usize) -> usize {
        match self {
            DrawScheme::Plain => 0,
            DrawScheme::Antithetic => m / 2,
            DrawScheme::Sobol { replicates } => replicates.max(2),
        }
    }

    /// The group of draw `k`.
    #[inline]
    pub fn group_of(self, k: usize) -> usize {
        match self {
            DrawScheme::Plain => k,
            DrawScheme::Antithetic => k / 2,
            DrawScheme::Sobol { replicates } => k % replicates.max(2),
        }
    }

    /// What the report says of the draws: "scrambled Sobol' draws in 16 randomisations",
    /// "antithetic draws", "plain (i.i.d.) draws".
    pub fn describe(self) -> String {
        match self {
            DrawScheme::Plain => "plain (i.i.d.) draws".into(),
            DrawScheme::Antithetic => "antithetic draws".into(),
            DrawScheme::Sobol { replicates } => {
                format!(
                    "scrambled Sobol' draws in {} randomisations",
                    replicates.max(2)
                )
            }
        }
    }

    /// The number of independent randomisations (Sobol'), `None` for the other schemes.
    pub fn replicates(self) -> Option<usize> {
        match self {
            DrawScheme::Sobol { replicates } => Some(replicates.max(2)),
            _ => None,
        }
    }

    /// A short name (`sobol`, `antithetic`, `plain`).
    pub fn name(self) -> &'static str {
        match self {
            DrawScheme::Plain => "plain",
            DrawScheme::Antithetic => "antithetic",
            DrawScheme::Sobol { .. } => "sobol",
        }
    }
}

/// The standard draws of one block.
#[derive(Debug, Clone)]
pub struct StandardDraws {
    scheme: DrawScheme,
    ns: usize,
    seed: u64,
    index: usize,
    /// One scrambled sequence per replicate (Sobol' only).
    sobol: Vec<Sobol>,
}

impl StandardDraws {
    /// Draws in `ns` dimensions for block `index`; Sobol' falls back to plain draws
    /// beyond the table's [`MAX_DIMS`] dimensions (see [`scheme`](Self::scheme)).
    pub fn new(scheme: DrawScheme, ns: usize, seed: u64, index: usize) -> StandardDraws {
        let (scheme, sobol) = match scheme {
            DrawScheme::Sobol { replicates } if ns > 0 && ns <= MAX_DIMS => {
                let r = replicates.max(2);
                let seqs = (0..r)
                    .map(|rep| {
                        let stream = (1u64 << 62) | ((index as u64) << 32) | rep as u64;
                        // ns <= MAX_DIMS was checked
                        Sobol::scrambled(ns, seed, stream).expect("dimensions checked")
                    })
                    .collect();
                (DrawScheme::Sobol { replicates: r }, seqs)
            }
            DrawScheme::Sobol { .. } if ns > MAX_DIMS => (DrawScheme::Plain, Vec::new()),
            other => (other, Vec::new()),
        };
        StandardDraws {
            scheme,
            ns,
            seed,
            index,
            sobol,
        }
    }

    /// The scheme in use.
    pub fn scheme(&self) -> DrawScheme {
        self.scheme
    }

    /// The random stream of chunk `chunk` (plain and antithetic draws).
    fn rng(&self, chunk: usize) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream((1u64 << 63) | ((self.index as u64) << 32) | chunk as u64);
        rng
    }

    /// Draws `start..start + len` of chunk `chunk` (whose first draw is `start`) into
    /// `out`, draw-major (`len x ns`).
    pub fn fill(&self, chunk: usize, start: usize, len: usize, out: &mut Vec<f64>) {
        let ns = self.ns;
        out.clear();
        out.resize(len * ns, 0.0);
        match self.scheme {
            DrawScheme::Plain => {
                let mut rng = self.rng(chunk);
                for v in out.iter_mut() {
                    *v = StandardNormal.sample(&mut rng);
                }
            }
            DrawScheme::Antithetic => {
                debug_assert!(
                    start.is_multiple_of(2),
                    "antithetic chunks start on an even draw"
                );
                let mut rng = self.rng(chunk);
                for k in 0..len {
                    let row = k * ns;
                    if (start + k).is_multiple_of(2) {
                        for v in &mut out[row..row + ns] {
                            *v = StandardNormal.sample(&mut rng);
                        }
                    } else {
                        // chunks start on an even draw, so the pair's first is in `out`
                        for r in 0..ns {
                            out[row + r] = -out[row - ns + r];
                        }
                    }
                }
            }
            DrawScheme::Sobol { replicates } => {
                let mut bits = vec![0u64; ns];
                for k in 0..len {
                    let g = start + k;
                    let (rep, i) = (g % replicates, g / replicates);
                    self.sobol[rep].normal(i as u64, &mut bits, &mut out[k * ns..(k + 1) * ns]);
                }
            }
        }
    }
}

/// The Monte Carlo error pieces of one block from per-draw normalised weights `v_k`
/// and total scores `s_k` (`d` each) with weighted mean `g`: `V_b` (row-major
/// `d x d`, added to `mc_v`) and the variance of `l_b`.  `draws` yields
/// `(k, v_k, s_k)` over all draws.
pub(crate) fn mc_error<'a>(
    scheme: DrawScheme,
    m: usize,
    d: usize,
    g: &[f64],
    draws: impl Iterator<Item = (usize, f64, &'a [f64])>,
    mc_v: &mut [f64],
) -> f64 {
    let groups = scheme.groups(m);
    if groups == 0 {
        let mut s2 = 0.0;
        for (_, v, s) in draws {
            s2 += v * v;
            for r in 0..d {
                let dr = s[r] - g[r];
                for c in 0..d {
                    mc_v[r * d + c] += v * v * dr * (s[c] - g[c]);
                }
            }
        }
        return (s2 - 1.0 / m as f64).max(0.0);
    }
    let mut cg = vec![0.0; groups * d];
    let mut wg = vec![0.0; groups];
    for (k, v, s) in draws {
        let gi = scheme.group_of(k);
        wg[gi] += v;
        let c = &mut cg[gi * d..(gi + 1) * d];
        for r in 0..d {
            c[r] += v * (s[r] - g[r]);
        }
    }
    let f = groups as f64 / (groups as f64 - 1.0);
    for c in cg.chunks_exact(d) {
        for r in 0..d {
            for cc in 0..d {
                mc_v[r * d + cc] += f * c[r] * c[cc];
            }
        }
    }
    let inv = 1.0 / groups as f64;
    f * wg.iter().map(|w| (w - inv) * (w - inv)).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m_is_rounded_to_whole_sobol_prefixes_and_pairs() {
        let s = DrawScheme::Sobol { replicates: 8 };
        assert_eq!(s.round_m(250), 256);
        assert_eq!(s.round_m(256), 256);
        assert_eq!(s.round_m(257), 512);
        assert_eq!(s.round_m(1), 8);
        assert_eq!(DrawScheme::Sobol { replicates: 12 }.round_m(100), 192);
        assert_eq!(DrawScheme::Antithetic.round_m(7), 8);
        assert_eq!(DrawScheme::Plain.round_m(7), 7);
    }

    /// The first m draws are the same for every larger m and any chunking; antithetic
    /// draws come in pairs; the Sobol' replicates are each a stratified sequence.
    #[test]
    fn draws_persist_and_have_their_structure() {
        let ns = 5;
        for scheme in [
            DrawScheme::Plain,
            DrawScheme::Antithetic,
            DrawScheme::Sobol { replicates: 8 },
        ] {
            let d = StandardDraws::new(scheme, ns, 3, 2);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            d.fill(1, 64, 64, &mut a);
            d.fill(1, 64, 40, &mut b);
            assert_eq!(&a[..40 * ns], &b[..]);
            if scheme == DrawScheme::Antithetic {
                for k in (0..64).step_by(2) {
                    for r in 0..ns {
                        assert_eq!(a[(k + 1) * ns + r], -a[k * ns + r]);
                    }
                }
            }
        }
        // Sobol': replicate 3's first 2^6 points, mapped back by Phi, one per interval
        let d = StandardDraws::new(DrawScheme::Sobol { replicates: 8 }, ns, 3, 2);
        let mut z = Vec::new();
        d.fill(0, 0, 512, &mut z);
        let n = statrs::distribution::Normal::new(0.0, 1.0).unwrap();
        use statrs::distribution::ContinuousCDF;
        for dim in 0..ns {
            let mut seen = [false; 64];
            for i in 0..64 {
                let u = n.cdf(z[(8 * i + 3) * ns + dim]);
                let cell = (u * 64.0) as usize;
                assert!(!seen[cell]);
                seen[cell] = true;
            }
        }
        // separators beyond the table fall back to plain draws
        let big = StandardDraws::new(DrawScheme::default(), MAX_DIMS + 1, 1, 0);
        assert_eq!(big.scheme(), DrawScheme::Plain);
    }

    /// With one draw per group, the grouped formula is the i.i.d. one up to the
    /// degrees-of-freedom factor; and it is exactly the sample variance of the group
    /// estimates when the groups carry equal weight.
    #[test]
    fn grouped_error_reduces_to_the_known_formulas() {
        let (m, d) = (16usize, 2usize);
        let v: Vec<f64> = (0..m).map(|k| (1.0 + (k % 5) as f64) / 48.0).collect();
        let sum: f64 = v.iter().sum();
        let v: Vec<f64> = v.iter().map(|x| x / sum).collect();
        let s: Vec<f64> = (0..m * d).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let mut g = vec![0.0; d];
        for k in 0..m {
            for r in 0..d {
                g[r] += v[k] * s[k * d + r];
            }
        }
        let it = || (0..m).map(|k| (k, v[k], &s[k * d..(k + 1) * d]));
        let mut iid = vec![0.0; d * d];
        let li = mc_error(DrawScheme::Plain, m, d, &g, it(), &mut iid);
        // Sobol' with m replicates of one point each
        let mut grp = vec![0.0; d * d];
        let lg = mc_error(
            DrawScheme::Sobol { replicates: m },
            m,
            d,
            &g,
            it(),
            &mut grp,
        );
        let f = m as f64 / (m as f64 - 1.0);
        for e in 0..d * d {
            assert!((grp[e] - f * iid[e]).abs() < 1e-14 * iid[e].abs().max(1e-300));
        }
        assert!((lg - f * li).abs() < 1e-14);
    }
}
