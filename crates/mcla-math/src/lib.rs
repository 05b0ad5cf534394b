//! Vectorisable `exp`, `log1p`, `softplus` and `logistic` for `f64`, with
//! slice kernels that pick the widest SIMD instruction set at run time.
//!
//! The hot loop of the Monte Carlo likelihood approximation evaluates, for
//! millions of (sample, observation) pairs, `log(1 + e^eta)` and
//! `1 / (1 + e^-eta)` (Bernoulli / binomial responses) or `e^eta` (Poisson).
//! `libm`'s `exp` / `log1p` are opaque calls with data-dependent branches, so a
//! loop over them never vectorises. The scalar functions in this crate are
//! branch-free (every special case is a value select, which LLVM lowers to a
//! blend), allocation-free and `#[inline(always)]`, so a plain `for` loop over
//! slices auto-vectorises; the slice kernels compile that loop several times
//! (portable baseline, AVX2 and, on x86-64, an AVX-512 build) and dispatch on
//! the CPU once.
//!
//! # Method
//!
//! * [`exp`]: Cody–Waite reduction `x = k ln2 + r`, `|r| <= ln2/2`, with `k`
//!   obtained by the "add 1.5·2^52" rounding trick and `ln2` split into a
//!   32-bit head (so `k·ln2_hi` is exact) and a tail. `e^r` is the degree-13
//!   Taylor polynomial (truncation error < 4e-18 relative on the reduction
//!   interval), evaluated by Horner's rule as `1 + hi + (r²·q(r) - lo)` with
//!   `1 + hi` kept as an exact double-double, so the only significant
//!   rounding is the final addition (≈ 0.5 ulp + 0.1 ulp). The result
//!   is scaled by `2^k` as `(p · 2^⌊k/2⌋) · 2^⌈k/2⌉`, both factors built from
//!   exponent bits; the first product is exact and the second rounds once, so
//!   overflow to `+inf` and gradual underflow to subnormals and zero are
//!   handled correctly with no branch. The input is clamped to
//!   `[-746, 710]` first (NaN passes through the clamp).
//! * [`log1p`]: fdlibm / musl algorithm. `u = 1 + t` is written as
//!   `2^k · (1 + f)` with `1 + f` in `[sqrt(2)/2, sqrt(2))` by integer
//!   manipulation of the exponent bits; the rounding error of `u` is recovered
//!   as `c = (t - (u - 1)) / u` (or `(1 - (u - t)) / u` for `k >= 2`);
//!   `log(1 + f) = 2 atanh(s)`, `s = f / (2 + f)`, with fdlibm's minimax
//!   polynomial `Lg1..Lg7` (error < 2^-58.45). For `t` in
//!   `[sqrt(2)/2 - 1, sqrt(2) - 1)` the reduction is skipped (`f = t`) exactly
//!   as in fdlibm.
//! * [`softplus`]`(eta) = max(eta, 0) + log1p(e^-|eta|)`,
//!   [`logistic`]`(eta) = 1/(1+t)` (`eta >= 0`) or `t/(1+t)` (`eta < 0`) with
//!   `t = e^-|eta|`, share one specialised kernel (`sp_lg_kernel`): `t` by
//!   [`exp`]'s method restricted to `x <= 0` (degree-11 minimax polynomial,
//!   one-step `2^(k+64) · 2^-64` scaling, no overflow clamp); `u = 1 + t` lies
//!   in `[1, 2]`, so the log reduction is a single select (`k` in `{0, 1}`,
//!   no exponent-bit manipulation, no special values), followed by fdlibm's
//!   `Lg1..Lg7` polynomial (Horner) in the form `f - s (f - R(s²))`. The
//!   logistic is `t^{0 or 1} · (1/u)` corrected for the rounding error of `u`;
//!   the correction term is shared with the log. [`softplus_logistic`] costs
//!   one `exp`, two divisions (`1/u`, `f/(2+f)`) and two polynomials, about
//!   75 vector operations per element; the loop is bound by the number of
//!   vector operations, not by the divider. (Deriving both reciprocals from
//!   the single division `1/(u (2+f))` was tried: it was no faster, cost
//!   ~1 ulp on `logistic`, and was slower once that ulp was won back by an
//!   exact Newton step.)
//!
//! # Accuracy (measured by `tests/accuracy.rs` against `std`)
//!
//! | function    | domain tested                            | max vs std | max vs exact (mpmath) |
//! |-------------|------------------------------------------|------------|-----------------------|
//! | `exp`       | `[-745, 709.7]`, incl. subnormal results | 1 ulp      | 0.66 ulp              |
//! | `log1p`     | `[0, 1]`, `[-0.99, 1e6]`, tiny, huge     | 1 ulp      | 0.80 ulp              |
//! | `softplus`  | `eta` in `[-800, 800]`                   | 2 ulp      | 1.55 ulp              |
//! | `logistic`  | `eta` in `[-800, 800]`                   | 3 ulp      | 2.23 ulp              |
//!
//! Max relative error against `std` is below `5e-16` for all four. The
//! "exact" column used a 120-bit (140-bit for softplus/logistic) `mpmath`
//! reference on 2–3·10^5 random points;
//! the `std`-based references for softplus/logistic are themselves up to
//! ~1.5/2 ulp off, which is why those columns differ.
//! Results that are
//! subnormal are rounded once from the ≤ 1 ulp accurate mantissa, i.e. they
//! are off by at most one unit in the last *subnormal* place — nothing is
//! flushed to zero. Special values: `exp(0) = 1` exactly, `exp(NaN) = NaN`,
//! `exp(+inf) = +inf`, `exp(-inf) = 0`, `exp(x) = +inf` for `x > 709.78`,
//! `0` for `x < -745.14`; `log1p(±0) = ±0`, `log1p(t) = t` for `|t| < 2^-53`,
//! `log1p(-1) = -inf`, `log1p(t < -1) = NaN`, `log1p(+inf) = +inf`,
//! `log1p(NaN) = NaN`; `softplus` / `logistic` are finite for every finite
//! `eta`, with `softplus(±inf) = (+inf, 0)` and `logistic(±inf) = (1, 0)`.
//!
//! # Bit-identical results on every code path
//!
//! Every function uses only IEEE-754 `+`, `-`, `*`, `/` in round-to-nearest,
//! comparisons, selects and integer operations on the bit patterns. Each of
//! these is correctly rounded (or exact) and behaves lane-by-lane identically
//! in scalar x87-free SSE2 code, in SSE2/AVX2/AVX-512 vectors and on other
//! architectures, so **the dispatched slice kernels return exactly the same
//! bits as the scalar functions**, whichever instruction set the CPU has.
//! (The one exception is inherent to Rust's float semantics: when the result
//! is NaN, its sign and payload bits are unspecified; it is NaN on every
//! path.)
//! This is why the crate never calls [`f64::mul_add`] and never relies on
//! "fast-math": a fused multiply-add rounds once instead of twice, so code
//! that used FMA where available (and `*` + `+` elsewhere) would produce
//! different last bits on different machines, and a Monte Carlo likelihood
//! optimisation that is not reproducible across machines is painful to
//! debug. Rust never contracts `a * b + c` into an FMA on its own, and never
//! replaces `1.0 / u` by an approximate reciprocal. The tests compare the
//! dispatched kernels with the scalar functions bit for bit.
//!
//! # Slice kernels
//!
//! The `*_slice` functions return [`Err(LengthMismatch)`](LengthMismatch) and
//! write nothing if the output slices do not have the input's length. The
//! [`portable`] module exposes the same kernels without run-time dispatch
//! (baseline instruction set only), for benchmarking and testing;
//! [`active_isa`] tells which build the dispatch picked.
//!
//! Note: `#[target_feature(enable = "avx512f")]` is stable since Rust 1.89.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

use core::fmt;

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/// 1.5 · 2^52: adding it to a value of magnitude < 2^51 rounds to an integer
/// held in the low mantissa bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;
/// 1 / ln 2.
const INV_LN2: f64 = f64::from_bits(0x3ff7_1547_652b_82fe);
/// High part of ln 2 (low 21 bits zero, so `k * LN2_HI` is exact for |k| < 2^21).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// ln 2 - LN2_HI.
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// Inputs below this give 0 (e^-746 < 2^-1075, half the smallest subnormal).
const EXP_LO: f64 = -746.0;
/// Inputs above this give +inf (e^710 > f64::MAX).
const EXP_HI: f64 = 710.0;

// Taylor coefficients 1/n!, n = 2..=13.
const E2: f64 = 1.0 / 2.0;
const E3: f64 = 1.0 / 6.0;
const E4: f64 = 1.0 / 24.0;
const E5: f64 = 1.0 / 120.0;
const E6: f64 = 1.0 / 720.0;
const E7: f64 = 1.0 / 5040.0;
const E8: f64 = 1.0 / 40320.0;
const E9: f64 = 1.0 / 362_880.0;
const E10: f64 = 1.0 / 3_628_800.0;
const E11: f64 = 1.0 / 39_916_800.0;
const E12: f64 = 1.0 / 479_001_600.0;
const E13: f64 = 1.0 / 6_227_020_800.0;

// Minimax q(r) ~ (e^r - 1 - r) / r² on [-ln2/2, ln2/2] (Remez, weight
// e^-r, coefficients rounded to double): |r² (q(r) - (e^r - 1 - r)/r²)| e^-r
// < 2^-56.1, i.e. the degree-11 polynomial 1 + r + r² q(r) is within
// 0.03 ulp of e^r. Used by the softplus/logistic kernel only.
const EQ0: f64 = f64::from_bits(0x3fe0_0000_0000_0001);
const EQ1: f64 = f64::from_bits(0x3fc5_5555_5555_5538);
const EQ2: f64 = f64::from_bits(0x3fa5_5555_5555_3e3a);
const EQ3: f64 = f64::from_bits(0x3f81_1111_1111_db99);
const EQ4: f64 = f64::from_bits(0x3f56_c16c_1784_5af2);
const EQ5: f64 = f64::from_bits(0x3f2a_01a0_1451_8571);
const EQ6: f64 = f64::from_bits(0x3efa_019b_9f72_82bd);
const EQ7: f64 = f64::from_bits(0x3ec7_1df2_03c2_72ee);
const EQ8: f64 = f64::from_bits(0x3e92_8909_1a37_dcd7);
const EQ9: f64 = f64::from_bits(0x3e5a_d3bb_9e75_d154);

// fdlibm log polynomial: log(1+f) = f - f²/2 + s(f²/2 + R(s²)), s = f/(2+f).
const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593); // 6.666666666666735130e-01
const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04); // 3.999999999940941908e-01
const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359); // 2.857142874366239149e-01
const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af); // 2.222219843214978396e-01
const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de); // 1.818357216161805012e-01
const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f); // 1.531383769920937332e-01
const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244); // 1.479819860511658591e-01

/// sqrt(2) - 1, rounded up a little (fdlibm's threshold 0x3fda827a).
const LOG1P_SMALL_HI: f64 = 0.414_213_562_373_095_03;
/// sqrt(2)/2 - 1 (fdlibm's threshold 0xbfd2bec4).
const LOG1P_SMALL_LO: f64 = -0.292_893_218_813_452_4;
/// 2^52, for integer → float conversion by bit manipulation.
const TWO52: f64 = 4_503_599_627_370_496.0;
/// 2^-64.
const TWO_M64: f64 = 1.0 / 18_446_744_073_709_551_616.0;

// ---------------------------------------------------------------------------
// Scalar functions
// ---------------------------------------------------------------------------

/// Cody–Waite reduction shared by the `exp` variants: `k = round(x / ln2)` by the
/// shift trick (`kbits` holds the bits of `1.5·2^52 + k`), and `r = x - k ln2` as
/// `hi - lo` with `hi` exact.  Returns `(kbits, hi, lo, r)`.
#[inline(always)]
fn reduce_ln2(xc: f64) -> (u64, f64, f64, f64) {
    let kd = xc * INV_LN2 + SHIFT;
    let k = kd - SHIFT;
    let hi = xc - k * LN2_HI;
    let lo = k * LN2_LO;
    (kd.to_bits(), hi, lo, hi - lo)
}

/// `e^x`, accurate to about 1 ulp, branch-free (see the crate documentation).
///
/// Returns `+inf` for `x > 709.78`, `0` for `x < -745.14`, correctly
/// scaled subnormals in between, `NaN` for `NaN`, and exactly `1` for `±0`.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // Clamp; comparisons with NaN are false, so NaN passes through.
    let xc = if x < EXP_LO { EXP_LO } else { x };
    let xc = if xc > EXP_HI { EXP_HI } else { xc };

    let (kbits, hi, lo, r) = reduce_ln2(xc);

    // e^r = 1 + r + r² q(r), degree-13 Taylor polynomial.
    let q = E13;
    let q = q * r + E12;
    let q = q * r + E11;
    let q = q * r + E10;
    let q = q * r + E9;
    let q = q * r + E8;
    let q = q * r + E7;
    let q = q * r + E6;
    let q = q * r + E5;
    let q = q * r + E4;
    let q = q * r + E3;
    let q = q * r + E2;
    // 1 + hi + (r² q - lo), with 1 + hi as an exact double-double (Fast2Sum,
    // valid since |hi| < 1) so that only the final addition rounds noticeably.
    let tail = (r * r) * q - lo;
    let s = 1.0 + hi;
    let s_err = (1.0 - s) + hi;
    let p = s + (s_err + tail);

    // Scale by 2^k = 2^k1 · 2^k2, k1 = floor(k/2), k2 = k - k1, both within
    // the normal exponent range for k in [-1077, 1025]. Integer arithmetic is
    // wrapping so that garbage from a NaN input cannot panic (the NaN in `p`
    // wins anyway).
    let kb = kbits.wrapping_sub(SHIFT.to_bits()).wrapping_add(2048); // k + 2048 >= 0
    let k1b = kb >> 1; // k1 + 1024
    let k2b = kb.wrapping_sub(k1b); // k2 + 1024
    let s1 = f64::from_bits(k1b.wrapping_sub(1) << 52);
    let s2 = f64::from_bits(k2b.wrapping_sub(1) << 52);
    p * s1 * s2
}

/// `log(1 + f) + c + dk ln2` (fdlibm's final stage), `1 + f` in
/// `[sqrt(2)/2, sqrt(2))`.
#[inline(always)]
fn log1p_tail(f: f64, c: f64, dk: f64) -> f64 {
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let rr = t2 + t1;
    s * (hfsq + rr) + (dk * LN2_LO + c) - hfsq + f + dk * LN2_HI
}

/// log1p given `u = 1 + t` and `inv_u = 1 / u` (shared with `logistic`).
#[inline(always)]
fn log1p_with(t: f64, u: f64, inv_u: f64) -> f64 {
    // u = 2^k (1 + f), 1 + f in [sqrt(2)/2, sqrt(2)): shift the mantissa so
    // that the exponent field rounds at sqrt(2) instead of 2.
    let ub = u.to_bits().wrapping_add(0x0009_5f62_0000_0000);
    let kexp = ub >> 52; // k + 1023 (junk for u <= 0, inf, NaN: selected away)
    let dk = f64::from_bits(0x4330_0000_0000_0000 | kexp) - (TWO52 + 1023.0);
    let fb = (ub & 0x000f_ffff_ffff_ffff).wrapping_add(0x3fe6_a09e_0000_0000);
    let f_red = f64::from_bits(fb) - 1.0;

    // Correction for the rounding of u: log1p(t) = log(u) + c/u.
    let c = if dk >= 2.0 {
        1.0 - (u - t)
    } else {
        t - (u - 1.0)
    };
    let c = if dk < 54.0 { c * inv_u } else { 0.0 };

    // Near zero use t itself (no reduction, no correction).
    let small = (t < LOG1P_SMALL_HI) & (t > LOG1P_SMALL_LO);
    let f = if small { t } else { f_red };
    let c = if small { 0.0 } else { c };
    let dk = if small { 0.0 } else { dk };

    let res = log1p_tail(f, c, dk);

    // Special values.
    let res = if t.is_nan() | (t == f64::INFINITY) | (t == 0.0) {
        t
    } else {
        res
    };
    let res = if t == -1.0 { f64::NEG_INFINITY } else { res };
    if t < -1.0 {
        f64::NAN
    } else {
        res
    }
}

/// `ln(1 + t)`, accurate to about 1 ulp for every `t > -1`, branch-free.
///
/// `log1p(±0) = ±0`, `log1p(t) = t` for tiny `t`, `log1p(-1) = -inf`,
/// `log1p(t) = NaN` for `t < -1` or `NaN`, `log1p(+inf) = +inf`.
#[inline(always)]
pub fn log1p(t: f64) -> f64 {
    let u = 1.0 + t;
    log1p_with(t, u, 1.0 / u)
}

/// `e^x` for `x <= 0` (or NaN), for the softplus/logistic kernel: [`exp`]'s
/// reduction without the overflow clamp, a degree-11 minimax polynomial
/// instead of the degree-13 Taylor one, `1 + (r + r² q)` instead of the
/// double-double `1 + hi` (one more rounding, of `r`: at most ~0.35 ulp, ~0.1
/// ulp seen on softplus/logistic, for ~2% speed), and a single `2^(k+64)`
/// scale factor. Within about 1 ulp of `e^x` (not bit-identical to [`exp`]).
#[inline(always)]
fn exp_nonpos(x: f64) -> f64 {
    // Clamp below; NaN passes through.
    let xc = if x < EXP_LO { EXP_LO } else { x };

    let (kbits, _, _, r) = reduce_ln2(xc);

    // e^r = 1 + r + r² q(r), q of degree 9 (minimax, see `EQ0`).
    let q = EQ9;
    let q = q * r + EQ8;
    let q = q * r + EQ7;
    let q = q * r + EQ6;
    let q = q * r + EQ5;
    let q = q * r + EQ4;
    let q = q * r + EQ3;
    let q = q * r + EQ2;
    let q = q * r + EQ1;
    let q = q * r + EQ0;
    let p = 1.0 + (r + (r * r) * q);

    // k in [-1077, 0]: 2^(k + 64) is a normal number, so p · 2^(k+64) is
    // exact and the multiplication by 2^-64 rounds once (gradual underflow).
    // The low 12 bits of `kbits` are those of k (SHIFT's are zero), so
    // shifting `kbits + 1087` left by 52 leaves exactly the biased exponent
    // k + 64 + 1023 in [10, 1087].
    let scale = f64::from_bits(kbits.wrapping_add(1087) << 52);
    p * scale * TWO_M64
}

/// The shared kernel of [`softplus_logistic`], [`softplus`] and
/// [`logistic`]: one `exp`, two divisions, two polynomials.
///
/// With `t = e^-|eta|` in `[0, 1]`, `u = 1 + t` (rounded) lies in `[1, 2]`,
/// so the log reduction has `k` in `{0, 1}` only: `1 + f = u` with `f = t`
/// (exact, no correction) for `t < sqrt(2) - 1`, or `1 + f = u / 2` (exact)
/// plus `ln 2` and the correction `(1 + t - u) / u` otherwise. The two
/// divisions `1 / u` and `f / (2 + f)` are independent (selects come before
/// them, so LLVM does not duplicate a division across a select).
#[inline(always)]
fn sp_lg_kernel(eta: f64) -> (f64, f64) {
    let t = exp_nonpos(-eta.abs());
    let u = 1.0 + t;
    // 1 + t = u + u_err exactly (t <= 1, so u - 1 is exact).
    let u_err = t - (u - 1.0);

    // t >= sqrt(2) - 1  <=>  u in [sqrt(2), 2]: k = 1, 1 + f = u / 2 (exact).
    let big = t >= LOG1P_SMALL_HI;
    let f = if big { u * 0.5 - 1.0 } else { t };
    let d = 2.0 + f;
    let inv_u = 1.0 / u;
    let s = f / d;

    // log(1 + f) = f - f²/2 + s (f²/2 + R(s²)) (fdlibm), plus k ln2 + c.
    let z = s * s;
    // fdlibm's R(z) = z (Lg1 + ... + Lg7 z^6) by Horner's rule (fewest
    // operations; the loop already has four independent chains for ILP).
    let poly = LG7;
    let poly = poly * z + LG6;
    let poly = poly * z + LG5;
    let poly = poly * z + LG4;
    let poly = poly * z + LG3;
    let poly = poly * z + LG2;
    let poly = poly * z + LG1;
    let poly = poly * z;
    let c = u_err * inv_u;
    let lo = if big { LN2_LO + c } else { 0.0 };
    let hi = if big { LN2_HI } else { 0.0 };
    let l1p = (lo - s * (f - poly)) + f + hi;

    // max(eta, 0), propagating NaN.
    let pos = if eta < 0.0 { 0.0 } else { eta };
    let sp = pos + l1p;

    let lg_pos = inv_u - c * inv_u;
    let lg = if eta >= 0.0 { lg_pos } else { t * lg_pos };
    (sp, lg)
}

/// `(softplus(eta), logistic(eta))` sharing one `exp` and one division.
///
/// Bit-identical to `(softplus(eta), logistic(eta))`.
#[inline(always)]
pub fn softplus_logistic(eta: f64) -> (f64, f64) {
    sp_lg_kernel(eta)
}

/// `softplus(eta) = ln(1 + e^eta)`, computed stably as
/// `max(eta, 0) + log1p(e^-|eta|)`; about 1–2 ulp, finite for finite `eta`.
#[inline(always)]
pub fn softplus(eta: f64) -> f64 {
    sp_lg_kernel(eta).0
}

/// `logistic(eta) = 1 / (1 + e^-eta)`, computed from `t = e^-|eta|` as
/// `1/(1+t)` (`eta >= 0`) or `t · (1/(1+t))` (`eta < 0`); about 1–2 ulp,
/// in `[0, 1]` for every non-NaN `eta`.
#[inline(always)]
pub fn logistic(eta: f64) -> f64 {
    sp_lg_kernel(eta).1
}

// ---------------------------------------------------------------------------
// Slice kernels
// ---------------------------------------------------------------------------

/// Error returned by the slice kernels when an output slice's length differs
/// from the input's. Nothing is written in that case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthMismatch {
    /// Length of the input slice.
    pub input: usize,
    /// Length of the offending output slice.
    pub output: usize,
}

impl fmt::Display for LengthMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "slice length mismatch: input has {} elements, output has {}",
            self.input, self.output
        )
    }
}

impl std::error::Error for LengthMismatch {}

#[inline(always)]
fn check(input: usize, output: usize) -> Result<(), LengthMismatch> {
    if input == output {
        Ok(())
    } else {
        Err(LengthMismatch { input, output })
    }
}

/// Loop bodies, `#[inline(always)]` so that they are compiled afresh inside
/// each `#[target_feature]` wrapper. Lengths are already checked.
///
/// The functions are long dependency chains (two polynomials, two
/// divisions), so a vectorised loop that keeps one vector in flight is
/// latency-bound. Most loops therefore cut their slices into four contiguous
/// quarters and walk them together: the loop vectoriser then emits four
/// independent vector chains per iteration, which the out-of-order core
/// overlaps. The (< 4 element) tail uses the same scalar function.
/// `softplus_logistic` is the exception: its kernel is throughput-bound
/// (about 75 vector operations per element), and the plain loop, which LLVM
/// interleaves by itself, avoids the register spills of four hand-made
/// chains (measured 6–15% faster with AVX-512, on par with AVX2 and SSE2).
mod body {
    /// `&x[..]` cut into four slices of length `q` and the tail.
    #[inline(always)]
    fn quarters(x: &[f64]) -> ([&[f64]; 4], &[f64]) {
        let q = x.len() / 4;
        let (a, r) = x.split_at(q);
        let (b, r) = r.split_at(q);
        let (c, r) = r.split_at(q);
        let (d, t) = r.split_at(q);
        ([a, b, c, d], t)
    }

    /// Mutable version of [`quarters`].
    #[inline(always)]
    fn quarters_mut(x: &mut [f64]) -> ([&mut [f64]; 4], &mut [f64]) {
        let q = x.len() / 4;
        let (a, r) = x.split_at_mut(q);
        let (b, r) = r.split_at_mut(q);
        let (c, r) = r.split_at_mut(q);
        let (d, t) = r.split_at_mut(q);
        ([a, b, c, d], t)
    }

    /// `out[i] = $f(x[i])`. A macro rather than a generic function taking a
    /// closure: the `Fn` shim of a function item is not inlined into
    /// `#[target_feature]` callers, which would defeat vectorisation.
    macro_rules! map1 {
        ($x:expr, $out:expr, $f:path) => {{
            let q = $x.len() / 4;
            let ([x0, x1, x2, x3], xt) = quarters($x);
            let ([o0, o1, o2, o3], ot) = quarters_mut($out);
            let (x0, x1, x2, x3) = (&x0[..q], &x1[..q], &x2[..q], &x3[..q]);
            let (o0, o1, o2, o3) = (&mut o0[..q], &mut o1[..q], &mut o2[..q], &mut o3[..q]);
            for i in 0..q {
                o0[i] = $f(x0[i]);
                o1[i] = $f(x1[i]);
                o2[i] = $f(x2[i]);
                o3[i] = $f(x3[i]);
            }
            for (&xi, oi) in xt.iter().zip(ot) {
                *oi = $f(xi);
            }
        }};
    }

    #[inline(always)]
    pub fn softplus_logistic(eta: &[f64], sp: &mut [f64], lg: &mut [f64]) {
        for ((&e, s), l) in eta.iter().zip(sp).zip(lg) {
            (*s, *l) = super::softplus_logistic(e);
        }
    }

    #[inline(always)]
    pub fn softplus(eta: &[f64], out: &mut [f64]) {
        map1!(eta, out, super::softplus);
    }

    #[inline(always)]
    pub fn logistic(eta: &[f64], out: &mut [f64]) {
        map1!(eta, out, super::logistic);
    }

    #[inline(always)]
    pub fn exp(x: &[f64], out: &mut [f64]) {
        map1!(x, out, super::exp);
    }

    #[inline(always)]
    pub fn exp_in_place(x: &mut [f64]) {
        let q = x.len() / 4;
        let ([x0, x1, x2, x3], xt) = quarters_mut(x);
        let (x0, x1, x2, x3) = (&mut x0[..q], &mut x1[..q], &mut x2[..q], &mut x3[..q]);
        for i in 0..q {
            x0[i] = super::exp(x0[i]);
            x1[i] = super::exp(x1[i]);
            x2[i] = super::exp(x2[i]);
            x3[i] = super::exp(x3[i]);
        }
        for v in xt {
            *v = super::exp(*v);
        }
    }

    #[inline(always)]
    pub fn log1p(t: &[f64], out: &mut [f64]) {
        map1!(t, out, super::log1p);
    }
}

/// The slice kernels compiled for the baseline instruction set of the target
/// (SSE2 on x86-64), without run-time dispatch. They return exactly the same
/// bits as the dispatched kernels and the scalar functions.
pub mod portable {
    use super::{body, check, LengthMismatch};

    /// Portable [`softplus_logistic_slice`](super::softplus_logistic_slice).
    pub fn softplus_logistic_slice(
        eta: &[f64],
        softplus: &mut [f64],
        logistic: &mut [f64],
    ) -> Result<(), LengthMismatch> {
        check(eta.len(), softplus.len())?;
        check(eta.len(), logistic.len())?;
        body::softplus_logistic(eta, softplus, logistic);
        Ok(())
    }

    /// Portable [`softplus_slice`](super::softplus_slice).
    pub fn softplus_slice(eta: &[f64], out: &mut [f64]) -> Result<(), LengthMismatch> {
        check(eta.len(), out.len())?;
        body::softplus(eta, out);
        Ok(())
    }

    /// Portable [`logistic_slice`](super::logistic_slice).
    pub fn logistic_slice(eta: &[f64], out: &mut [f64]) -> Result<(), LengthMismatch> {
        check(eta.len(), out.len())?;
        body::logistic(eta, out);
        Ok(())
    }

    /// Portable [`exp_slice`](super::exp_slice).
    pub fn exp_slice(x: &[f64], out: &mut [f64]) -> Result<(), LengthMismatch> {
        check(x.len(), out.len())?;
        body::exp(x, out);
        Ok(())
    }

    /// Portable [`exp_in_place`](super::exp_in_place).
    pub fn exp_in_place(x: &mut [f64]) {
        body::exp_in_place(x);
    }

    /// Portable [`log1p_slice`](super::log1p_slice).
    pub fn log1p_slice(t: &[f64], out: &mut [f64]) -> Result<(), LengthMismatch> {
        check(t.len(), out.len())?;
        body::log1p(t, out);
        Ok(())
    }
}

/// Instruction set chosen by the run-time dispatch of the slice kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// The target's baseline (SSE2 on x86-64; NEON on aarch64; ...).
    Portable,
    /// x86-64 AVX2 (4 lanes of f64).
    Avx2,
    /// x86-64 AVX-512F (8 lanes of f64).
    Avx512,
}

impl Isa {
    /// Short lower-case name (`"portable"`, `"avx2"`, `"avx512f"`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512f",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{body, Isa};
    use std::sync::atomic::{AtomicU8, Ordering};

    /// 0 = not yet detected, 1 = portable, 2 = AVX2, 3 = AVX-512F.
    static LEVEL: AtomicU8 = AtomicU8::new(0);

    #[inline]
    pub fn isa() -> Isa {
        let level = match LEVEL.load(Ordering::Relaxed) {
            0 => {
                let l = detect();
                LEVEL.store(l, Ordering::Relaxed);
                l
            }
            l => l,
        };
        match level {
            3 => Isa::Avx512,
            2 => Isa::Avx2,
            _ => Isa::Portable,
        }
    }

    #[cold]
    fn detect() -> u8 {
        if std::env::var_os("MCLA_MATH_PORTABLE").is_some() {
            1
        } else if is_x86_feature_detected!("avx512f") {
            3
        } else if is_x86_feature_detected!("avx2") {
            2
        } else {
            1
        }
    }

    macro_rules! wrappers {
        ($feat:literal, $($name:ident($($arg:ident: $ty:ty),*);)*) => {
            $(
                /// # Safety
                /// The CPU must support the enabled target feature.
                #[target_feature(enable = $feat)]
                pub unsafe fn $name($($arg: $ty),*) {
                    body::$name($($arg),*)
                }
            )*
        };
    }

    pub mod avx2 {
        use super::body;
        wrappers! {"avx2",
            softplus_logistic(eta: &[f64], sp: &mut [f64], lg: &mut [f64]);
            softplus(eta: &[f64], out: &mut [f64]);
            logistic(eta: &[f64], out: &mut [f64]);
            exp(x: &[f64], out: &mut [f64]);
            exp_in_place(x: &mut [f64]);
            log1p(t: &[f64], out: &mut [f64]);
        }
    }

    pub mod avx512 {
        use super::body;
        wrappers! {"avx512f",
            softplus_logistic(eta: &[f64], sp: &mut [f64], lg: &mut [f64]);
            softplus(eta: &[f64], out: &mut [f64]);
            logistic(eta: &[f64], out: &mut [f64]);
            exp(x: &[f64], out: &mut [f64]);
            exp_in_place(x: &mut [f64]);
            log1p(t: &[f64], out: &mut [f64]);
        }
    }
}

/// The instruction set the slice kernels use on this machine (detected once
/// and cached). Setting the environment variable `MCLA_MATH_PORTABLE` before
/// the first call forces [`Isa::Portable`]; results are bit-identical anyway.
pub fn active_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        x86::isa()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Isa::Portable
    }
}

/// Dispatch `body::$name(args)` to the best compiled version.
macro_rules! dispatch {
    ($name:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            match x86::isa() {
                // SAFETY: `x86::isa()` returns `Avx512` / `Avx2` only when
                // `is_x86_feature_detected!` reported the feature at run time,
                // which is the sole precondition of these functions.
                Isa::Avx512 => unsafe { x86::avx512::$name($($arg),*) },
                Isa::Avx2 => unsafe { x86::avx2::$name($($arg),*) },
                Isa::Portable => body::$name($($arg),*),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            body::$name($($arg),*)
        }
    }};
}

/// `softplus[i], logistic[i] = softplus_logistic(eta[i])` for all `i`,
/// vectorised with run-time CPU dispatch; bit-identical to the scalar
/// [`softplus_logistic`]. Errors (writing nothing) if the lengths differ.
pub fn softplus_logistic_slice(
    eta: &[f64],
    softplus: &mut [f64],
    logistic: &mut [f64],
) -> Result<(), LengthMismatch> {
    check(eta.len(), softplus.len())?;
    check(eta.len(), logistic.len())?;
    dispatch!(softplus_logistic(eta, softplus, logistic));
    Ok(())
}

/// `out[i] = softplus(eta[i])`, vectorised; bit-identical to [`softplus`].
pub fn softplus_slice(eta: &[f64], out: &mut [f64]) -> Result<(), LengthMismatch> {
    check(eta.len(), out.len())?;
    dispatch!(softplus(eta, out));
    Ok(())
}

/// `out[i] = logistic(eta[i])`, vectorised; bit-identical to [`logistic`].
pub fn logistic_slice(eta: &[f64], out: &mut [f64]) -> Result<(), LengthMismatch> {
    check(eta.len(), out.len())?;
    dispatch!(logistic(eta, out));
    Ok(())
}

/// Kernels compiled for an explicitly chosen instruction set, for tests and
/// benchmarks. Each returns `None` (writing nothing) if the CPU lacks `isa`
/// or the lengths differ.
#[doc(hidden)]
pub mod with_isa {
    use super::{body, Isa};

    /// Whether this CPU can run kernels compiled for `isa`.
    pub fn supported(isa: Isa) -> bool {
        match isa {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    macro_rules! forced {
        ($isa:ident, $name:ident($($arg:expr),*)) => {{
            if !supported($isa) {
                return None;
            }
            match $isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `supported` checked the feature at run time.
                Isa::Avx512 => unsafe { super::x86::avx512::$name($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                Isa::Avx2 => unsafe { super::x86::avx2::$name($($arg),*) },
                _ => body::$name($($arg),*),
            }
            Some(())
        }};
    }

    /// [`softplus_logistic_slice`](super::softplus_logistic_slice) on `isa`.
    pub fn softplus_logistic_slice(
        isa: Isa,
        eta: &[f64],
        sp: &mut [f64],
        lg: &mut [f64],
    ) -> Option<()> {
        if eta.len() != sp.len() || eta.len() != lg.len() {
            return None;
        }
        forced!(isa, softplus_logistic(eta, sp, lg))
    }

    /// [`softplus_slice`](super::softplus_slice) on `isa`.
    pub fn softplus_slice(isa: Isa, eta: &[f64], out: &mut [f64]) -> Option<()> {
        if eta.len() != out.len() {
            return None;
        }
        forced!(isa, softplus(eta, out))
    }

    /// [`logistic_slice`](super::logistic_slice) on `isa`.
    pub fn logistic_slice(isa: Isa, eta: &[f64], out: &mut [f64]) -> Option<()> {
        if eta.len() != out.len() {
            return None;
        }
        forced!(isa, logistic(eta, out))
    }

    /// [`exp_slice`](super::exp_slice) on `isa`.
    pub fn exp_slice(isa: Isa, x: &[f64], out: &mut [f64]) -> Option<()> {
        if x.len() != out.len() {
            return None;
        }
        forced!(isa, exp(x, out))
    }

    /// [`log1p_slice`](super::log1p_slice) on `isa`.
    pub fn log1p_slice(isa: Isa, t: &[f64], out: &mut [f64]) -> Option<()> {
        if t.len() != out.len() {
            return None;
        }
        forced!(isa, log1p(t, out))
    }
}

/// `out[i] = exp(x[i])`, vectorised; bit-identical to [`exp`].
pub fn exp_slice(x: &[f64], out: &mut [f64]) -> Result<(), LengthMismatch> {
    check(x.len(), out.len())?;
    dispatch!(exp(x, out));
    Ok(())
}

/// `x[i] = exp(x[i])` in place, vectorised; bit-identical to [`exp`].
pub fn exp_in_place(x: &mut [f64]) {
    dispatch!(exp_in_place(x));
}

/// `out[i] = log1p(t[i])`, vectorised; bit-identical to [`log1p`].
pub fn log1p_slice(t: &[f64], out: &mut [f64]) -> Result<(), LengthMismatch> {
    check(t.len(), out.len())?;
    dispatch!(log1p(t, out));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials() {
        assert_eq!(exp(0.0).to_bits(), 1.0f64.to_bits());
        assert_eq!(exp(-0.0).to_bits(), 1.0f64.to_bits());
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY).to_bits(), 0);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(-746.0), 0.0);
        assert_eq!(log1p(1e-300), 1e-300);
        assert_eq!(log1p(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(log1p(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(log1p(-1.0), f64::NEG_INFINITY);
        assert!(log1p(-1.5).is_nan());
        assert!(log1p(f64::NAN).is_nan());
        assert!(log1p(f64::NEG_INFINITY).is_nan());
        assert_eq!(log1p(f64::INFINITY), f64::INFINITY);
        assert_eq!(softplus_logistic(f64::INFINITY), (f64::INFINITY, 1.0));
        assert_eq!(softplus_logistic(f64::NEG_INFINITY), (0.0, 0.0));
        assert_eq!(softplus_logistic(0.0), (core::f64::consts::LN_2, 0.5));
        let (a, b) = softplus_logistic(f64::NAN);
        assert!(a.is_nan() && b.is_nan());
    }

    #[test]
    fn length_mismatch() {
        let x = [1.0, 2.0];
        let mut a = [0.0; 2];
        let mut b = [0.0; 3];
        assert_eq!(
            softplus_logistic_slice(&x, &mut a, &mut b),
            Err(LengthMismatch {
                input: 2,
                output: 3
            })
        );
        assert_eq!(a, [0.0; 2]);
        assert!(exp_slice(&x, &mut b).is_err());
        assert!(exp_slice(&x, &mut a).is_ok());
    }
}
