//! Scrambled Sobol' points in f64: the randomised quasi-Monte Carlo draws of the
//! separator (SPEC §12 c with low-discrepancy standard draws).
//!
//! **The sequence.**  Sobol' points in base 2 with the direction numbers of Joe & Kuo
//! (2008), `new-joe-kuo-6.21201` (the table shipped by the `sobol` crate: its first
//! 1,000 dimensions are read for separators of up to 1,000 effects, the full 21,201
//! otherwise; the two agree where they overlap, tested).  Point `i` (from 0) is
//! generated directly in Gray-code order, `x_i = XOR_{b: bit b of g(i) set} v_b`,
//! `g(i) = i ^ (i >> 1)` (Antonov–Saleev), so the first `n` points are the sequence
//! of Joe & Kuo's `sobol.cc` and any point can be generated without the ones before
//! it (chunks of draws evaluated in parallel give the same draws for any number of
//! threads).  The first `2^k` points of every dimension hit each of the `2^k` equal
//! intervals once; prefixes of length `2^k` are `(t, k, s)`-nets.
//!
//! **Scrambling** (Matoušek's linear matrix scramble plus a random digital shift, the
//! randomisation of `scipy.stats.qmc.Sobol`): per dimension, a random 64 x 64 binary
//! lower-triangular matrix `M` with unit diagonal and a random 64-bit shift `e`,
//! `y_i = M x_i XOR e` on the binary digits (most significant first).  `M` is applied
//! to the direction numbers once (`y_i = XOR_b (M v_b) XOR e`: the map is linear
//! over GF(2)), so a scrambled point costs what a plain one does.  Each scrambled
//! point is uniform on `[0, 1)^s`, the net property (one point per interval) is kept,
//! and the digits below the table's 32 bits are filled by the scramble.  Seeded by a
//! ChaCha8 stream, so independent randomisations are independent streams.
//! (Owen 2003, *Variance with alternative scramblings of digital nets*: the linear
//! matrix scramble has the variance of nested uniform scrambling for the integrands
//! that matter here.)
//!
//! **Floats.**  `u = (floor(y / 2^11) + 1/2) 2^-53`, strictly inside (0, 1); standard
//! normal draws are `Phi^{-1}(u)` (statrs' `erfc_inv`, evaluated on the lower half,
//! `Phi^{-1}(u) = -Phi^{-1}(1 - u)` above 1/2, so the tails keep full precision).

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sobol::params::JoeKuoD6;
use std::sync::OnceLock;
use thiserror::Error;

/// Bits of the direction numbers of the table (points `0..2^32` are distinct).
const TABLE_BITS: usize = 32;

/// Dimensions of the smaller table read first.
const STANDARD_DIMS: usize = 1000;

/// Dimensions of the Joe–Kuo `new-joe-kuo-6.21201` table.
pub const MAX_DIMS: usize = 21_201;

/// Problems building a Sobol' generator.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SobolError {
    #[error("{0} dimensions requested; the Joe-Kuo table has {MAX_DIMS}")]
    TooManyDimensions(usize),
}

/// Unscrambled direction numbers, `dims x 32`, each in the top 32 bits of a u64.
fn table(dims: usize) -> Result<&'static [u64], SobolError> {
    static STANDARD: OnceLock<Vec<u64>> = OnceLock::new();
    static EXTENDED: OnceLock<Vec<u64>> = OnceLock::new();
    let build = |n: usize, params: JoeKuoD6| -> Vec<u64> {
        sobol::Sobol::<u32>::init_direction_vals::<u32>(n, TABLE_BITS, &params)
            .into_iter()
            .flat_map(|d| d.into_iter().map(|v| (v as u64) << 32))
            .collect()
    };
    if dims <= STANDARD_DIMS {
        Ok(
            &STANDARD.get_or_init(|| build(STANDARD_DIMS, JoeKuoD6::standard()))
                [..dims * TABLE_BITS],
        )
    } else if dims <= MAX_DIMS {
        Ok(&EXTENDED.get_or_init(|| build(MAX_DIMS, JoeKuoD6::extended()))[..dims * TABLE_BITS])
    } else {
        Err(SobolError::TooManyDimensions(dims))
    }
}

/// The first `dims` dimensions of the (unscrambled or scrambled) Sobol' sequence.
#[derive(Debug, Clone)]
pub struct Sobol {
    dims: usize,
    /// Direction numbers, `dims x 32` (dimension-major), scrambled when seeded.
    dirs: Vec<u64>,
    /// Digital shift per dimension (0 when unscrambled).
    shift: Vec<u64>,
}

impl Sobol {
    /// Joe & Kuo's sequence itself (point 0 is the origin).
    pub fn unscrambled(dims: usize) -> Result<Sobol, SobolError> {
        Ok(Sobol {
            dims,
            dirs: table(dims)?.to_vec(),
            shift: vec![0; dims],
        })
    }

    /// A linear-matrix-scrambled, digitally shifted copy: independent for every
    /// `(seed, stream)`.
    pub fn scrambled(dims: usize, seed: u64, stream: u64) -> Result<Sobol, SobolError> {
        let base = table(dims)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let mut dirs = Vec::with_capacity(base.len());
        let mut shift = Vec::with_capacity(dims);
        let mut rows = [0u64; 64];
        for d in 0..dims {
            // row r (output digit r, digit 0 the most significant = bit 63): its own
            // digit plus random more significant ones
            for (r, row) in rows.iter_mut().enumerate() {
                let own = 1u64 << (63 - r);
                let above = if r == 0 { 0 } else { !0u64 << (64 - r) };
                *row = own | (rng.next_u64() & above);
            }
            for &v in &base[d * TABLE_BITS..(d + 1) * TABLE_BITS] {
                let mut y = 0u64;
                for (r, row) in rows.iter().enumerate() {
                    y |= (((row & v).count_ones() & 1) as u64) << (63 - r);
                }
                dirs.push(y);
            }
            shift.push(rng.next_u64());
        }
        Ok(Sobol { dims, dirs, shift })
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The binary digits of point `i` (most significant first, 64 of them) into `out`
    /// (length `dims`).
    pub fn point_bits(&self, i: u64, out: &mut [u64]) {
        debug_assert!(i < 1u64 << TABLE_BITS);
        let g = i ^ (i >> 1);
        out.copy_from_slice(&self.shift);
        let mut bits = g;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            for (o, d) in out
                .iter_mut()
                .zip(self.dirs[b..].iter().step_by(TABLE_BITS))
            {
                *o ^= d;
            }
        }
    }

    /// Point `i` in `[0, 1)^dims` exactly as the sequence defines it (`y 2^-64`,
    /// rounded to f64; the unscrambled points of Joe & Kuo's tables are exact).
    pub fn point(&self, i: u64, out: &mut [f64]) {
        let mut bits = vec![0u64; self.dims];
        self.point_bits(i, &mut bits);
        for (o, b) in out.iter_mut().zip(&bits) {
            *o = *b as f64 * 2f64.powi(-64);
        }
    }

    /// Point `i` as uniforms strictly inside (0, 1) (`(floor(y / 2^11) + 1/2) 2^-53`).
    pub fn uniform(&self, i: u64, out: &mut [f64]) {
        let mut bits = vec![0u64; self.dims];
        self.point_bits(i, &mut bits);
        for (o, b) in out.iter_mut().zip(&bits) {
            *o = to_open_unit(*b);
        }
    }

    /// Point `i` mapped to standard normals by the inverse normal CDF; `bits` is
    /// scratch of length `dims`.
    pub fn normal(&self, i: u64, bits: &mut [u64], out: &mut [f64]) {
        self.point_bits(i, bits);
        for (o, b) in out.iter_mut().zip(bits.iter()) {
            *o = inverse_normal_cdf(to_open_unit(*b));
        }
    }
}

/// The 64 digits `y` as a double strictly inside (0, 1).
#[inline]
fn to_open_unit(y: u64) -> f64 {
    ((y >> 11) as f64 + 0.5) * 2f64.powi(-53)
}

/// `Phi^{-1}(u)` for `u` in (0, 1), with full relative precision in both tails.
pub fn inverse_normal_cdf(u: f64) -> f64 {
    // Phi^{-1}(u) = -sqrt(2) erfc^{-1}(2u); on the upper half use the symmetry, where
    // 1 - u is exact
    let lower = |v: f64| -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * v);
    if u <= 0.5 {
        lower(u)
    } else {
        -lower(1.0 - u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Joe & Kuo's published example: the first 10 points of `sobol.cc` with
    /// `new-joe-kuo-6.21201` in 3 dimensions (https://web.maths.unsw.edu.au/~fkuo/sobol/,
    /// "sobol.cc ... output for N = 10, D = 3"; also scipy's `qmc.Sobol(3,
    /// scramble=False)`).
    #[test]
    fn first_points_equal_the_published_joe_kuo_values() {
        let want = [
            [0.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.75, 0.25, 0.25],
            [0.25, 0.75, 0.75],
            [0.375, 0.375, 0.625],
            [0.875, 0.875, 0.125],
            [0.625, 0.125, 0.875],
            [0.125, 0.625, 0.375],
            [0.1875, 0.3125, 0.9375],
            [0.6875, 0.8125, 0.4375],
        ];
        let s = Sobol::unscrambled(3).unwrap();
        let mut x = [0.0; 3];
        for (i, w) in want.iter().enumerate() {
            s.point(i as u64, &mut x);
            assert_eq!(&x, w, "point {i}");
        }
    }

    /// Dimensions 4 and 5 from their Joe–Kuo table lines (`d s a m_i`: "4 3 1 1 3 1",
    /// "5 3 2 1 1 1"), by the direction-number recurrence written out by hand, and the
    /// Gray-code points against the points in natural order (`x_i = XOR` of `v_b` over
    /// the bits of `i` permuted by Gray code, i.e. the same set over each `2^k` prefix).
    #[test]
    fn direction_numbers_follow_the_joe_kuo_lines() {
        // d = 4: s = 3, a = 1 (polynomial x^3 + x + 1), m = 1, 3, 1
        // m_k = 2 a_1 m_{k-1} XOR 4 a_2 m_{k-2} XOR 8 m_{k-3} XOR m_{k-3}, a = (0, 1)
        let m4 = {
            let mut m = vec![1u64, 3, 1];
            for k in 3..TABLE_BITS {
                let (a1, a2) = (0u64, 1u64);
                let v = (2 * a1 * m[k - 1]) ^ (4 * a2 * m[k - 2]) ^ (8 * m[k - 3]) ^ m[k - 3];
                m.push(v);
            }
            m
        };
        // d = 5: s = 3, a = 2 (x^3 + x^2 + 1), m = 1, 1, 1
        let m5 = {
            let mut m = vec![1u64, 1, 1];
            for k in 3..TABLE_BITS {
                let (a1, a2) = (1u64, 0u64);
                let v = (2 * a1 * m[k - 1]) ^ (4 * a2 * m[k - 2]) ^ (8 * m[k - 3]) ^ m[k - 3];
                m.push(v);
            }
            m
        };
        let t = table(5).unwrap();
        for (d, m) in [(3usize, &m4), (4usize, &m5)] {
            for k in 0..TABLE_BITS {
                // v_k = m_k / 2^(k+1), in the top 32 bits
                let want = m[k] << (31 - k) << 32;
                assert_eq!(t[d * TABLE_BITS + k], want, "dimension {} bit {k}", d + 1);
            }
        }
    }

    #[test]
    fn the_two_tables_agree_on_their_common_dimensions() {
        let small = table(STANDARD_DIMS).unwrap().to_vec();
        let large = table(STANDARD_DIMS + 1).unwrap();
        assert_eq!(&large[..small.len()], &small[..]);
        assert!(table(MAX_DIMS).is_ok());
        assert_eq!(
            Sobol::unscrambled(MAX_DIMS + 1).unwrap_err(),
            SobolError::TooManyDimensions(MAX_DIMS + 1)
        );
    }

    /// Every dimension of every scrambled prefix of length `2^k` puts one point in each
    /// of the `2^k` equal intervals (the net property survives the scramble), in low
    /// and high dimensions.
    #[test]
    fn scrambled_points_are_stratified() {
        let dims = 1200;
        let s = Sobol::scrambled(dims, 7, 3).unwrap();
        let n = 1usize << 10;
        let mut pts = vec![0.0; n * dims];
        for i in 0..n {
            s.uniform(i as u64, &mut pts[i * dims..(i + 1) * dims]);
        }
        for k in [1usize, 4, 7, 10] {
            let nk = 1usize << k;
            for d in (0..dims).step_by(37).chain([1, 2, dims - 1]) {
                let mut seen = vec![false; nk];
                for i in 0..nk {
                    let u = pts[i * dims + d];
                    assert!(u > 0.0 && u < 1.0);
                    let cell = (u * nk as f64) as usize;
                    assert!(!seen[cell], "k {k}, dimension {d}: interval {cell} twice");
                    seen[cell] = true;
                }
            }
        }
        // two-dimensional strata of dimensions 1, 2 (a (0, 2)-sequence): 2^10 points, one
        // per box of side 2^-5
        let mut seen = vec![false; n];
        for i in 0..n {
            let (a, b) = (pts[i * dims], pts[i * dims + 1]);
            let cell = (a * 32.0) as usize * 32 + (b * 32.0) as usize;
            assert!(!seen[cell], "box {cell} twice");
            seen[cell] = true;
        }
    }

    /// Over independent scramblings, each point is uniform: per dimension, the mean of
    /// one point over 4,000 scramblings is 1/2 and its variance 1/12 (within 5 standard
    /// errors), and the digits below the table's 32 bits are not all zero.
    #[test]
    fn scrambled_points_are_uniform() {
        let (dims, reps) = (6, 4000);
        for i in [0u64, 1, 5, 100] {
            let (mut s1, mut s2) = (vec![0.0; dims], vec![0.0; dims]);
            let mut low_bits = 0u64;
            for r in 0..reps {
                let s = Sobol::scrambled(dims, 11, r).unwrap();
                let mut bits = vec![0u64; dims];
                s.point_bits(i, &mut bits);
                low_bits |= bits.iter().fold(0, |a, b| a | (b & 0xffff_ffff));
                let mut u = vec![0.0; dims];
                s.uniform(i, &mut u);
                for d in 0..dims {
                    s1[d] += u[d];
                    s2[d] += u[d] * u[d];
                }
            }
            assert!(low_bits != 0);
            let n = reps as f64;
            for d in 0..dims {
                let mean = s1[d] / n;
                let var = s2[d] / n - mean * mean;
                // SE of the mean sqrt(1/12 / n); of the variance sqrt(1/180 / n)
                assert!((mean - 0.5).abs() < 5.0 * (1.0 / 12.0 / n).sqrt(), "{mean}");
                assert!(
                    (var - 1.0 / 12.0).abs() < 5.0 * (1.0 / 180.0 / n).sqrt(),
                    "{var}"
                );
            }
        }
        // within one scrambled prefix: the sample mean and variance of 2^12 points per
        // dimension are those of U(0, 1) to QMC accuracy
        let dims = 50;
        let s = Sobol::scrambled(dims, 2, 9).unwrap();
        let n = 1usize << 12;
        let (mut s1, mut s2) = (vec![0.0; dims], vec![0.0; dims]);
        let mut u = vec![0.0; dims];
        for i in 0..n {
            s.uniform(i as u64, &mut u);
            for d in 0..dims {
                s1[d] += u[d];
                s2[d] += u[d] * u[d];
            }
        }
        for d in 0..dims {
            let mean = s1[d] / n as f64;
            let var = s2[d] / n as f64 - mean * mean;
            assert!((mean - 0.5).abs() < 1.0 / n as f64, "mean {mean}");
            assert!((var - 1.0 / 12.0).abs() < 2.0 / n as f64, "variance {var}");
        }
    }

    #[test]
    fn different_streams_scramble_differently_and_the_same_stream_identically() {
        let (a, b, c) = (
            Sobol::scrambled(4, 1, 0).unwrap(),
            Sobol::scrambled(4, 1, 1).unwrap(),
            Sobol::scrambled(4, 1, 0).unwrap(),
        );
        let (mut x, mut y, mut z) = ([0u64; 4], [0u64; 4], [0u64; 4]);
        for i in 0..20 {
            a.point_bits(i, &mut x);
            b.point_bits(i, &mut y);
            c.point_bits(i, &mut z);
            assert_ne!(x, y);
            assert_eq!(x, z);
        }
    }

    /// Quantiles against reference values (R 4.x `qnorm`, Wichura's AS 241, printed to 17
    /// digits), to 2 ulp of |z| >= 1, and symmetry in the tails.
    #[test]
    fn inverse_normal_cdf_is_accurate_in_both_tails() {
        for (u, z) in [
            (0.975, 1.959_963_984_540_054),
            (0.5, 0.0),
            (1e-10, -6.361_340_902_404_056),
            (2f64.powi(-40), -7.047_700_256_664_409),
            (0.841_344_746_068_542_9, 1.0),
            (0.005, -2.575_829_303_548_9),
            (0.3, -0.524_400_512_708_040_7),
            (1e-5, -4.264_890_793_922_826),
            (0.1, -1.281_551_565_544_601),
            (0.45, -0.125_661_346_855_074),
            (0.02, -2.053_748_910_631_823),
        ] {
            let got = inverse_normal_cdf(u);
            assert!(
                (got - z).abs() <= 4.5e-16 * z.abs().max(1.0),
                "{u}: {got} vs {z}"
            );
        }
        // symmetric to the bit, and increasing, down to 2^-53
        let mut prev = f64::NEG_INFINITY;
        for k in (1..=53).rev() {
            let t = 2f64.powi(-k);
            let zt = inverse_normal_cdf(t);
            assert!(zt > prev && zt.is_finite());
            prev = zt;
            assert_eq!(inverse_normal_cdf(1.0 - t), -zt);
        }
    }
}
