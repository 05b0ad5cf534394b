//! Streaming importance-weighted moments of a fixed sample's draws (for `ranef`).

use super::sampler::CHUNK;
use crate::integrate::moments::BlockMoments;

/// Streaming accumulator of self-normalised importance-weighted moments over chunks of draws
/// (`log` weights `b_k`), rescaled to a running maximum so nothing overflows.
#[derive(Debug, Clone)]
pub struct MomentAcc {
    max: f64,
    s0: f64,
    s1: Vec<f64>,
    s2: Vec<f64>,
    t0: f64,
    t1: Vec<f64>,
    t2: Vec<f64>,
    bad: bool,
}

impl MomentAcc {
    /// For `q` effects.
    pub fn new(q: usize) -> MomentAcc {
        MomentAcc {
            max: f64::NEG_INFINITY,
            s0: 0.0,
            s1: vec![0.0; q],
            s2: vec![0.0; q],
            t0: 0.0,
            t1: vec![0.0; q],
            t2: vec![0.0; q],
            bad: false,
        }
    }

    /// Add `len` draws: log weights `b[k]`, draws `u[j][k]`.
    pub fn add_chunk(&mut self, b: &[f64], u: &[[f64; CHUNK]], len: usize) {
        if b.iter().any(|v| v.is_nan()) {
            self.bad = true;
            return;
        }
        let a = b[..len].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !a.is_finite() {
            return;
        }
        if a > self.max {
            let r = if self.max.is_finite() {
                (self.max - a).exp()
            } else {
                0.0
            };
            let r2 = r * r;
            self.s0 *= r;
            self.t0 *= r2;
            for j in 0..self.s1.len() {
                self.s1[j] *= r;
                self.s2[j] *= r;
                self.t1[j] *= r2;
                self.t2[j] *= r2;
            }
            self.max = a;
        }
        let mut w = [0.0f64; CHUNK];
        for k in 0..len {
            w[k] = (b[k] - self.max).exp();
            self.s0 += w[k];
            self.t0 += w[k] * w[k];
        }
        for (j, uj) in u.iter().enumerate().take(self.s1.len()) {
            let (mut a1, mut a2, mut c1, mut c2) = (0.0, 0.0, 0.0, 0.0);
            for k in 0..len {
                let (wk, x) = (w[k], uj[k]);
                a1 += wk * x;
                a2 += wk * x * x;
                c1 += wk * wk * x;
                c2 += wk * wk * x * x;
            }
            self.s1[j] += a1;
            self.s2[j] += a2;
            self.t1[j] += c1;
            self.t2[j] += c2;
        }
    }

    /// The moments; `None` when every weight underflowed or a weight was NaN.
    pub fn finish(&self) -> Option<BlockMoments> {
        if self.bad || !(self.s0 > 0.0) {
            return None;
        }
        let q = self.s1.len();
        let mut out = BlockMoments {
            mean: vec![0.0; q],
            sd: vec![0.0; q],
            mcse: vec![0.0; q],
        };
        let s02 = self.s0 * self.s0;
        for j in 0..q {
            let m = self.s1[j] / self.s0;
            out.mean[j] = m;
            out.sd[j] = (self.s2[j] / self.s0 - m * m).max(0.0).sqrt();
            out.mcse[j] = ((self.t2[j] - 2.0 * m * self.t1[j] + m * m * self.t0) / s02)
                .max(0.0)
                .sqrt();
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulator_matches_direct_weighted_moments_across_rescaling() {
        // two chunks, the second with a much larger log weight (forces rescaling)
        let b1 = [0.0, -1.0, 0.5];
        let b2 = [30.0, 29.0];
        let mut u1 = vec![[0.0; CHUNK]];
        u1[0][..3].copy_from_slice(&[1.0, 2.0, 3.0]);
        let mut u2 = vec![[0.0; CHUNK]];
        u2[0][..2].copy_from_slice(&[-1.0, 4.0]);
        let mut acc = MomentAcc::new(1);
        acc.add_chunk(&b1, &u1, 3);
        acc.add_chunk(&b2, &u2, 2);
        let m = acc.finish().unwrap();
        let all_b = [0.0, -1.0, 0.5, 30.0, 29.0];
        let all_u = [1.0, 2.0, 3.0, -1.0, 4.0];
        let w: Vec<f64> = all_b.iter().map(|b| (b - 30.0f64).exp()).collect();
        let s: f64 = w.iter().sum();
        let v: Vec<f64> = w.iter().map(|x| x / s).collect();
        let mean: f64 = v.iter().zip(&all_u).map(|(a, b)| a * b).sum();
        let var: f64 = v
            .iter()
            .zip(&all_u)
            .map(|(a, b)| a * (b - mean).powi(2))
            .sum();
        let mc: f64 = v
            .iter()
            .zip(&all_u)
            .map(|(a, b)| a * a * (b - mean).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((m.mean[0] - mean).abs() < 1e-12);
        assert!((m.sd[0] - var.sqrt()).abs() < 1e-12);
        assert!((m.mcse[0] - mc).abs() < 1e-12);
    }
}
