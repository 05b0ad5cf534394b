//! The proposal at theta (SPEC §12 b): the separator mode `v*` by Newton on the quadrature
//! marginal, `L = chol(H)` and the integrated effects' modes there; and its derivatives in
//! theta (implicit function theorem for `v*`, the Cholesky derivative for `L`).

use super::super::conditional;
use super::block::{AdaptiveBlock, LN_2PI};
use super::scratch::Scratch;
use super::subtree::Second;
use rayon::prelude::*;

/// The proposal at one theta.
#[derive(Debug, Clone)]
pub(super) struct Proposal {
    pub(super) v: Vec<f64>,
    /// Lower Cholesky factor of the negative Hessian at `v`, row-major.
    pub(super) l: Vec<f64>,
    pub(super) logdet: f64,
    /// Modes of the integrated effects at `v` (the 1-D effects', then the subtrees'
    /// nodes) and the 1-D effects' curvatures.
    pub(super) u_mode: Vec<f64>,
    pub(super) tau2: Vec<f64>,
    /// Offsets at `v`.
    pub(super) o: Vec<f64>,
    /// `w_i z_ij c''_i` at the mode (linear response of the 1-D modes to the offsets).
    pub(super) wc: Vec<f64>,
    /// `w_i z_ij c'''_i` at the mode (the response's second-order term).
    pub(super) wc3: Vec<f64>,
}

/// Central-difference derivatives of the proposal.
#[derive(Debug, Clone)]
pub(super) struct ProposalDerivs {
    /// `d x nS`.
    pub(super) dv: Vec<f64>,
    /// `d x nS x nS`.
    pub(super) dl: Vec<f64>,
    pub(super) dlogdet: Vec<f64>,
}

impl AdaptiveBlock {
    /// `log h(v)`, its gradient in `v` and (if `hess`) its negative Hessian (row-major),
    /// with the 1-D modes found to machine precision from `u_mode` (updated).
    pub(super) fn marginal(
        &self,
        xb: &[f64],
        theta: &[f64],
        v: &[f64],
        u_mode: &mut [f64],
        tau2: &mut [f64],
        hess: bool,
        s: &mut Scratch,
    ) -> (f64, Vec<f64>, Vec<f64>) {
        let ns = self.n_s();
        let nu = &theta[self.p..];
        let mut f = 0.0;
        let mut g = vec![0.0; ns];
        let mut h = if hess { vec![0.0; ns * ns] } else { Vec::new() };
        let mut o = std::mem::take(&mut s.o);
        self.offsets(xb, v, &mut o);
        for k in 0..ns {
            let nuk = nu[self.s_comp[k]];
            f += -0.5 * (LN_2PI + nuk.ln()) - 0.5 * v[k] * v[k] / nuk;
            g[k] -= v[k] / nuk;
            if hess {
                h[k * ns + k] += 1.0 / nuk;
            }
        }
        let n_iobs = self.i_ptr[self.n_i()];
        for i in n_iobs..self.n() {
            let (ll, mu, var) = conditional::obs_terms(self.family, self.y[i], self.nt[i], o[i]);
            f += self.w[i] * ll;
            let res = self.w[i] * (self.y[i] - mu);
            let wv = self.w[i] * var;
            for e in self.s_ptr[i]..self.s_ptr[i + 1] {
                let (a, za) = (self.s_idx[e], self.s_val[e]);
                g[a] += res * za;
                if hess {
                    for e2 in self.s_ptr[i]..self.s_ptr[i + 1] {
                        h[a * ns + self.s_idx[e2]] += wv * za * self.s_val[e2];
                    }
                }
            }
        }
        let kk = self.rule.len();
        let isa = mcla_math::active_isa();
        for j in 0..self.n_i() {
            let (obs, r) = self.effect_obs(j);
            let oj = &o[r.clone()];
            let nuj = nu[self.i_comp[j]];
            let (c, t2) = conditional::mode_precise(self.family, &obs, oj, nuj, u_mode[j]);
            u_mode[j] = c;
            tau2[j] = t2;
            f +=
                conditional::integrate(self.family, &self.rule, &obs, oj, nuj, c, t2, &mut s.nodes);
            let nj = r.len();
            let nodes = &s.nodes;
            s.emu.clear();
            s.emu.resize(nj, 0.0);
            let mut evar = std::mem::take(&mut s.evar);
            evar.clear();
            evar.resize(nj, 0.0);
            for n in 0..kk {
                for i in 0..nj {
                    s.emu[i] += nodes.pi[n] * nodes.mu[n * nj + i];
                    evar[i] += nodes.pi[n] * nodes.var[n * nj + i];
                }
            }
            for (ii, i) in r.clone().enumerate() {
                let res = self.w[i] * (self.y[i] - s.emu[ii]);
                let wv = self.w[i] * evar[ii];
                for e in self.s_ptr[i]..self.s_ptr[i + 1] {
                    let (a, za) = (self.s_idx[e], self.s_val[e]);
                    g[a] += res * za;
                    if hess {
                        for e2 in self.s_ptr[i]..self.s_ptr[i + 1] {
                            h[a * ns + self.s_idx[e2]] += wv * za * self.s_val[e2];
                        }
                    }
                }
            }
            if hess {
                // - Cov_j[s_j], s_j[t] = sum_i w_i z_it (y_i - mu_i): per node
                // delta_n[pos] = sum_i w_i z_it (mu_in - E mu_i).
                let tr = self.touch_ptr[j]..self.touch_ptr[j + 1];
                let nt_ = tr.len();
                s.delta.clear();
                s.delta.resize(nt_, 0.0);
                // the touched entries of h, gathered once (they are distinct), updated
                // node by node in a contiguous copy, scattered back: the same
                // operations on each entry as updating h in place.  An effect that touches
                // every separator effect in order (a fully crossed design) updates h itself.
                let touched = &self.touch[tr.clone()];
                let dense = nt_ == ns && touched.iter().enumerate().all(|(k, &t)| k == t);
                let mut loc = std::mem::take(&mut s.hloc);
                loc.clear();
                if dense {
                    std::mem::swap(&mut loc, &mut h);
                } else {
                    for &ta in touched {
                        loc.extend(touched.iter().map(|&tb| h[ta * ns + tb]));
                    }
                }
                for n in 0..kk {
                    s.delta.iter_mut().for_each(|v| *v = 0.0);
                    for (ii, i) in r.clone().enumerate() {
                        let dm = self.w[i] * (nodes.mu[n * nj + ii] - s.emu[ii]);
                        for e in self.s_ptr[i]..self.s_ptr[i + 1] {
                            s.delta[self.s_pos[e]] += dm * self.s_val[e];
                        }
                    }
                    subtract_outer(isa, &mut loc, &s.delta, nodes.pi[n]);
                }
                if dense {
                    std::mem::swap(&mut loc, &mut h);
                } else {
                    for (&ta, row) in touched.iter().zip(loc.chunks_exact(nt_)) {
                        for (&tb, &v) in touched.iter().zip(row) {
                            h[ta * ns + tb] = v;
                        }
                    }
                }
                s.hloc = loc;
            }
            s.evar = evar;
        }
        s.o = o;
        // the subtrees: log A_T(v), its gradient and (negative) curvature in the touched u_S
        let second = if hess { Second::Separator } else { Second::No };
        for st in &self.subtrees {
            let Some(r) = st.integrate(theta, |k| v[k], u_mode, second, &mut s.ext, &mut s.tree)
            else {
                return (f64::NAN, g, h);
            };
            f += r.log;
            for (&a, &x) in st.touch.iter().zip(r.us_score) {
                g[a] += x;
            }
            let t = st.touch.len();
            if hess && t > 0 {
                for (&a, row) in st.touch.iter().zip(r.second.chunks_exact(t)) {
                    for (&b, &x) in st.touch.iter().zip(row) {
                        h[a * ns + b] -= x;
                    }
                }
            }
            let n_nodes = st.tree.n_nodes();
            u_mode[st.mode_at..st.mode_at + n_nodes].copy_from_slice(s.tree.mode());
        }
        (f, g, h)
    }

    /// Build the proposal at theta: Newton for `v*` to machine precision, then the factor.
    pub(super) fn proposal(
        &self,
        theta: &[f64],
        warm: Option<&Proposal>,
        s: &mut Scratch,
    ) -> Option<Proposal> {
        let (p, ns) = (self.p, self.n_s());
        let xb = self.x_beta(&theta[..p]);
        let mut v = warm.map_or_else(|| self.v_start.clone(), |w| w.v.clone());
        let mut u_mode = warm.map_or_else(|| self.initial_modes(), |w| w.u_mode.clone());
        let mut tau2 = vec![0.0; self.n_i()];
        let mut finishing = false;
        let mut l = vec![0.0; ns * ns];
        let mut converged = false;
        for _ in 0..100 {
            let (f, g, h) = self.marginal(&xb, theta, &v, &mut u_mode, &mut tau2, true, s);
            if !f.is_finite() {
                return None;
            }
            if !cholesky(&h, ns, &mut l) {
                return None;
            }
            if finishing {
                converged = true;
                break;
            }
            let step = chol_solve(&l, ns, &g);
            let mut t = 1.0;
            let vmax = v.iter().fold(0.0f64, |a, b| a.max(b.abs()));
            let smax = step.iter().fold(0.0f64, |a, b| a.max(b.abs()));
            if smax > 1e-3 * (1.0 + vmax) {
                // guard large steps with a backtracking check on log h
                for _ in 0..40 {
                    let trial: Vec<f64> = v.iter().zip(&step).map(|(a, b)| a + t * b).collect();
                    let mut um = u_mode.clone();
                    let mut t2 = tau2.clone();
                    let (ft, _, _) = self.marginal(&xb, theta, &trial, &mut um, &mut t2, false, s);
                    if ft.is_finite() && ft >= f - 1e-12 * f.abs() {
                        break;
                    }
                    t *= 0.5;
                }
            }
            for (a, b) in v.iter_mut().zip(&step) {
                *a += t * b;
            }
            if t == 1.0 && smax <= 1e-9 * (1.0 + vmax) {
                // quadratic convergence: one more full step lands on the fixed point
                let (_, g2, _) = self.marginal(&xb, theta, &v, &mut u_mode, &mut tau2, false, s);
                let step2 = chol_solve(&l, ns, &g2);
                for (a, b) in v.iter_mut().zip(&step2) {
                    *a += b;
                }
                finishing = true;
            }
        }
        if !converged {
            return None;
        }
        let logdet: f64 = (0..ns).map(|k| l[k * ns + k].ln()).sum();
        let mut o = Vec::new();
        self.offsets(&xb, &v, &mut o);
        let (mut wc, mut wc3) = (vec![0.0; self.n()], vec![0.0; self.n()]);
        for j in 0..self.n_i() {
            for i in self.i_ptr[j]..self.i_ptr[j + 1] {
                let (_, mu, var) = conditional::obs_terms(
                    self.family,
                    self.y[i],
                    self.nt[i],
                    o[i] + self.zi[i] * u_mode[j],
                );
                let slope = conditional::variance_slope(self.family, self.nt[i], mu, var);
                wc[i] = self.w[i] * self.zi[i] * var;
                wc3[i] = self.w[i] * self.zi[i] * slope;
            }
        }
        Some(Proposal {
            v,
            l,
            logdet,
            u_mode,
            tau2,
            o,
            wc,
            wc3,
        })
    }

    /// The start of effect `j`'s per-draw Newton steps: its mode's second-order response to
    /// the draw's offsets `o`, from the proposal's mode.  With `d_i = o_i - o*_i` over the
    /// effect's observations, the first order `c1 = c* - sum_i w_i z_i c''_i d_i / tau2` and,
    /// with `a_i = d_i + z_i (c1 - c*)`, `c = c1 - (1/2) sum_i w_i z_i c'''_i a_i^2 / tau2` (the
    /// implicit function theorem for the score's zero, to second order).  Measured on the
    /// draws (`per_draw_newton_steps_and_node_counts_against_the_precise_integrals`): after 2
    /// Newton steps from it the conditional integrals are within 7e-10 (bernoulli) of those at
    /// the precise mode, where the linear response needed 3 steps (2 left 1.4e-8).
    #[inline]
    pub(super) fn response_start(&self, prop: &Proposal, j: usize, o: &[f64]) -> f64 {
        let r = self.i_ptr[j]..self.i_ptr[j + 1];
        let (c0, t2) = (prop.u_mode[j], prop.tau2[j]);
        let mut c1 = c0;
        for i in r.clone() {
            c1 -= prop.wc[i] * (o[i] - prop.o[i]) / t2;
        }
        let mut q = 0.0;
        for i in r {
            let a = (o[i] - prop.o[i]) + self.zi[i] * (c1 - c0);
            q += prop.wc3[i] * a * a;
        }
        c1 - 0.5 * q / t2
    }

    /// Start of the modes of the integrated effects: 0 for the 1-D effects (found from there
    /// to machine precision), the subtrees' start values.
    pub(super) fn initial_modes(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.n_i()];
        for st in &self.subtrees {
            m.extend_from_slice(st.tree.start());
        }
        m
    }

    /// Steps of the central differences of the proposal's derivatives.
    pub(super) fn fd_step(&self, theta: &[f64], j: usize) -> f64 {
        super::super::objective::difference_step(self.settings.proposal_step, theta, self.p, j)
    }

    /// `g` (and, if `hess`, `H`) of [`marginal`](Self::marginal) at the `2d` points
    /// `(theta ± h_j e_j, v* ± h_j dv_j)` of the mode's path (`dv` zero: at fixed `v*`).
    fn path_passes(
        &self,
        theta: &[f64],
        centre: &Proposal,
        dv: &[f64],
        hess: bool,
    ) -> Vec<Option<(Vec<f64>, Vec<f64>)>> {
        let (p, ns) = (self.p, self.n_s());
        (0..2 * self.d)
            .into_par_iter()
            .map_init(Scratch::default, |s, k| {
                let (j, sign) = (k / 2, if k % 2 == 0 { 1.0 } else { -1.0 });
                let h = sign * self.fd_step(theta, j);
                let mut t = theta.to_vec();
                t[j] += h;
                let v: Vec<f64> = (0..ns).map(|a| centre.v[a] + h * dv[j * ns + a]).collect();
                let xb = self.x_beta(&t[..p]);
                let (mut um, mut t2) = (centre.u_mode.clone(), centre.tau2.clone());
                let (f, g, hm) = self.marginal(&xb, &t, &v, &mut um, &mut t2, hess, s);
                f.is_finite().then_some((g, hm))
            })
            .collect()
    }

    /// Derivatives of the proposal in theta, without re-solving for the mode at shifted
    /// thetas.  `v*` is the zero of `g`, the gradient of `log h` in `v`, so along its path
    /// `g` does not change: `dv*/dtheta_j` is the `dv_j` for which the central difference of
    /// `g` along `(theta ± h e_j, v* ± h dv_j)` vanishes, found by two Newton steps
    /// `dv_j += H^{-1} Δ_j g / (2h)` from `dv_j = 0` (`H`, the posterior-moment curvature,
    /// differs from `-∂g/∂v` by the rule's error, ~1e-5 relative at K = 10, so each step
    /// gains about five digits; the third residual, from the Hessian pass, is applied too).
    /// `dH_j` is the central difference of the negative Hessian along that path (which
    /// follows the mode to second order: the error stays O(h^2)), and
    /// `dL_j = L Phi(L^{-1} dH_j L^{-T})` (`Phi`: the lower triangle, diagonal halved) the
    /// derivative of the Cholesky factor.  Per parameter: four gradient-only and two Hessian
    /// passes of [`marginal`](Self::marginal), where re-solving the mode at `theta ± h e_j`
    /// took about six Hessian and two gradient passes.
    pub(super) fn derivs(&self, theta: &[f64], centre: &Proposal) -> Option<ProposalDerivs> {
        let (d, ns) = (self.d, self.n_s());
        let mut dv = vec![0.0; d * ns];
        let correct = |dv: &mut [f64], passes: &[Option<(Vec<f64>, Vec<f64>)>]| -> Option<()> {
            for j in 0..d {
                let (plus, minus) = (passes[2 * j].as_ref()?, passes[2 * j + 1].as_ref()?);
                let h2 = 2.0 * self.fd_step(theta, j);
                let r: Vec<f64> = (0..ns).map(|k| (plus.0[k] - minus.0[k]) / h2).collect();
                let dx = chol_solve(&centre.l, ns, &r);
                for (a, b) in dv[j * ns..(j + 1) * ns].iter_mut().zip(&dx) {
                    *a += b;
                }
            }
            Some(())
        };
        for _ in 0..2 {
            let passes = self.path_passes(theta, centre, &dv, false);
            correct(&mut dv, &passes)?;
        }
        let hessians = self.path_passes(theta, centre, &dv, true);
        let mut dl = vec![0.0; d * ns * ns];
        let mut dlogdet = vec![0.0; d];
        let mut dh = vec![0.0; ns * ns];
        for j in 0..d {
            let (plus, minus) = (
                &hessians[2 * j].as_ref()?.1,
                &hessians[2 * j + 1].as_ref()?.1,
            );
            let h2 = 2.0 * self.fd_step(theta, j);
            for r in 0..ns {
                for c in 0..ns {
                    let (rc, cr) = (r * ns + c, c * ns + r);
                    dh[rc] = 0.5 * ((plus[rc] - minus[rc]) + (plus[cr] - minus[cr])) / h2;
                }
            }
            let dlj = &mut dl[j * ns * ns..(j + 1) * ns * ns];
            cholesky_derivative(&centre.l, ns, &dh, dlj);
            dlogdet[j] = (0..ns)
                .map(|k| dlj[k * ns + k] / centre.l[k * ns + k])
                .sum();
        }
        correct(&mut dv, &hessians)?;
        Some(ProposalDerivs { dv, dl, dlogdet })
    }
}

/// `loc -= pn delta delta'` over the row-major `n x n` block `loc` (`n = delta.len()`): the
/// posterior covariance of an integrated effect's separator scores, one quadrature node at a
/// time, the Hessian passes' largest cost where an effect touches many separator effects
/// (every item of a fully crossed design).  Compiled for the CPU's vector extensions (plain
/// IEEE products and differences entry by entry: the same bits on every instruction set).
fn subtract_outer(isa: mcla_math::Isa, loc: &mut [f64], delta: &[f64], pn: f64) {
    #[inline(always)]
    fn body(loc: &mut [f64], delta: &[f64], pn: f64) {
        for (row, &d) in loc.chunks_exact_mut(delta.len()).zip(delta) {
            let da = pn * d;
            for (x, &db) in row.iter_mut().zip(delta) {
                *x -= da * db;
            }
        }
    }
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(loc: &mut [f64], delta: &[f64], pn: f64) {
        body(loc, delta, pn)
    }
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2(loc: &mut [f64], delta: &[f64], pn: f64) {
        body(loc, delta, pn)
    }
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY (both): `isa` is what `mcla_math::active_isa` reported for this CPU, which
        // checked the feature at run time.
        mcla_math::Isa::Avx512 => return unsafe { avx512(loc, delta, pn) },
        mcla_math::Isa::Avx2 => return unsafe { avx2(loc, delta, pn) },
        _ => {}
    }
    let _ = isa;
    body(loc, delta, pn)
}

/// The derivative `dL = L Phi(L^{-1} dA L^{-T})` of the lower Cholesky factor `L` of `A`
/// in the direction of the symmetric `dA` (row-major, `n x n`); `Phi` keeps the lower
/// triangle and halves the diagonal.
fn cholesky_derivative(l: &[f64], n: usize, da: &[f64], dl: &mut [f64]) {
    // Y = L^{-1} dA (column by column), X = L^{-1} Y' = (Y L^{-T})' = L^{-1} dA L^{-T}
    // (symmetric), both by forward substitution on columns
    let forward = |b: &mut [f64]| {
        // solve L Y = B in place, B row-major n x n
        for r in 0..n {
            for k in 0..r {
                let lrk = l[r * n + k];
                if lrk != 0.0 {
                    for c in 0..n {
                        b[r * n + c] -= lrk * b[k * n + c];
                    }
                }
            }
            let lrr = l[r * n + r];
            for c in 0..n {
                b[r * n + c] /= lrr;
            }
        }
    };
    let mut y = da.to_vec();
    forward(&mut y);
    let mut x = vec![0.0; n * n];
    for r in 0..n {
        for c in 0..n {
            x[r * n + c] = y[c * n + r];
        }
    }
    forward(&mut x);
    // Phi(X), then dL = L Phi
    for r in 0..n {
        for c in r + 1..n {
            x[r * n + c] = 0.0;
        }
        x[r * n + r] *= 0.5;
    }
    for r in 0..n {
        for c in 0..=r {
            let mut s = 0.0;
            for k in c..=r {
                s += l[r * n + k] * x[k * n + c];
            }
            dl[r * n + c] = s;
        }
        for c in r + 1..n {
            dl[r * n + c] = 0.0;
        }
    }
}

/// Lower Cholesky factor of the row-major `n x n` matrix `a` into `l`; false when
/// `a` is not (numerically) positive definite.
fn cholesky(a: &[f64], n: usize, l: &mut [f64]) -> bool {
    l.iter_mut().for_each(|v| *v = 0.0);
    for r in 0..n {
        for c in 0..=r {
            let mut s = 0.5 * (a[r * n + c] + a[c * n + r]);
            for k in 0..c {
                s -= l[r * n + k] * l[c * n + k];
            }
            if r == c {
                if !(s > 0.0) || !s.is_finite() {
                    return false;
                }
                l[r * n + r] = s.sqrt();
            } else {
                l[r * n + c] = s / l[c * n + c];
            }
        }
    }
    true
}

/// Solve `L L' x = b`.
fn chol_solve(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = b.to_vec();
    for r in 0..n {
        for c in 0..r {
            y[r] -= l[r * n + c] * y[c];
        }
        y[r] /= l[r * n + r];
    }
    for r in (0..n).rev() {
        for c in r + 1..n {
            y[r] -= l[c * n + r] * y[c];
        }
        y[r] /= l[r * n + r];
    }
    y
}
