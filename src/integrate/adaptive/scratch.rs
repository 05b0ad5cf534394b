//! Per-chunk results and per-worker scratch of the adaptive block (sized on first use and
//! reused for every later chunk: no per-draw allocation).

use super::super::conditional::{Lane, LaneNodes, Nodes, LANES};
use super::super::nested::GivenScratch;

/// Per-chunk results.
#[derive(Debug, Clone, Default)]
pub(super) struct ChunkOut {
    pub(super) lw: Vec<f64>,
    /// `len x d` partial scores.
    pub(super) part: Vec<f64>,
    /// `len x d` total scores.
    pub(super) total: Vec<f64>,
    /// `max lw` of the chunk and `sum_k exp(lw_k - max) H_k`.
    pub(super) h_max: f64,
    pub(super) h_sum: Vec<f64>,
}

/// Scratch of one worker.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    pub(super) nodes: Nodes,
    /// Standard draws of one chunk (draw-major).
    pub(super) z: Vec<f64>,
    pub(super) us: Vec<f64>,
    pub(super) o: Vec<f64>,
    pub(super) g: Vec<f64>,
    pub(super) part: Vec<f64>,
    pub(super) hk: Vec<f64>,
    pub(super) delta: Vec<f64>,
    pub(super) emu: Vec<f64>,
    pub(super) evar: Vec<f64>,
    pub(super) hloc: Vec<f64>,
    pub(super) hs: Vec<f64>,
    pub(super) lanes: LaneScratch,
    /// A subtree's coordinates and recursion buffers.
    pub(super) ext: Vec<f64>,
    pub(super) tree: GivenScratch,
}

pub(super) const ZERO: Lane = [0.0; LANES];

/// Scratch of the lane kernels (one lane group of draws at a time); sized on first
/// use and reused for every later group and chunk.
#[derive(Debug, Default)]
pub(super) struct LaneScratch {
    /// Standard normal draws and `z'z`.
    pub(super) z: Vec<Lane>,
    pub(super) zz: Lane,
    /// `b = L^{-T} z`, `u_S = v + b`.
    pub(super) b: Vec<Lane>,
    pub(super) us: Vec<Lane>,
    /// Gradient in `u_S` and `a = L^{-1} g`.
    pub(super) g: Vec<Lane>,
    pub(super) a: Vec<Lane>,
    /// Partial and total scores (`d`), `∂² log h` (`d x d`), log weights.
    pub(super) part: Vec<Lane>,
    pub(super) total: Vec<Lane>,
    pub(super) hk: Vec<Lane>,
    pub(super) lw: Lane,
    /// Offsets of one effect's observations.
    pub(super) o: Vec<Lane>,
    /// Beta-score deviations of the nodes (node-major, per active column).
    pub(super) delta: Vec<Lane>,
    pub(super) nodes: LaneNodes,
    /// A subtree's coordinates and recursion buffers (one draw at a time).
    pub(super) ext: Vec<f64>,
    pub(super) tree: GivenScratch,
}

impl LaneScratch {
    /// Load draws `first..first + count` (`count <= LANES`) of a chunk's draw-major standard
    /// draws `zc` (`ns` per draw) into `z` (lane-major; lanes past `count` hold zeros) and
    /// their `z'z` into `zz`.
    pub(super) fn load_draws(&mut self, zc: &[f64], ns: usize, first: usize, count: usize) {
        self.z.clear();
        self.z.resize(ns, ZERO);
        self.zz = ZERO;
        for k in 0..count {
            let mut zz = 0.0;
            for r in 0..ns {
                let v = zc[(first + k) * ns + r];
                zz += v * v;
                self.z[r][k] = v;
            }
            self.zz[k] = zz;
        }
    }
}
