//! Maximising over some coordinates with the others held: the map between the free
//! coordinates and the whole point, and the restriction of an [`Evaluation`] to them.

use crate::solver::Evaluation;

/// The coordinates `free` of the point `base`, the others held at `base`'s values.
///
/// ```
/// use mcla_trust::{Evaluation, Subspace};
/// let s = Subspace::new(vec![1.0, 2.0, 3.0], vec![0, 2]);
/// assert_eq!(s.start(), vec![1.0, 3.0]);
/// assert_eq!(s.expand(&[5.0, 6.0]), vec![5.0, 2.0, 6.0]);
/// let e = Evaluation::new(0.5, vec![1.0, 2.0, 3.0], (1..=9).map(f64::from).collect());
/// let r = s.restrict(&e);
/// assert_eq!((r.gradient, r.hessian), (vec![1.0, 3.0], vec![1.0, 3.0, 7.0, 9.0]));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Subspace {
    base: Vec<f64>,
    free: Vec<usize>,
}

impl Subspace {
    /// `free`: indices into `base`, ascending.
    pub fn new(base: Vec<f64>, free: Vec<usize>) -> Self {
        Subspace { base, free }
    }
    /// The free coordinates of `base`.
    pub fn start(&self) -> Vec<f64> {
        self.free.iter().map(|&j| self.base[j]).collect()
    }
    /// The whole point with the free coordinates `x`.
    pub fn expand(&self, x: &[f64]) -> Vec<f64> {
        let mut t = self.base.clone();
        for (&j, &v) in self.free.iter().zip(x) {
            t[j] = v;
        }
        t
    }
    /// The value, and the gradient and Hessian in the free coordinates, of `e` (an evaluation
    /// at a whole point).
    pub fn restrict(&self, e: &Evaluation) -> Evaluation {
        let d = self.base.len();
        let g = self.free.iter().map(|&j| e.gradient[j]).collect();
        let h = self
            .free
            .iter()
            .flat_map(|&r| self.free.iter().map(move |&c| e.hessian[r * d + c]))
            .collect();
        Evaluation::new(e.value, g, h)
    }
}
