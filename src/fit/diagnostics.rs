//! Checks of a fit that the optimiser cannot make itself: whether the maximum likelihood
//! estimate exists (separation, an MLE at infinity) and whether "converged" really means a
//! stationary point.
//!
//! They work on the [`Model`] and what the fit found ([`Reviewed`]: estimates, gradient,
//! Hessian, log-likelihood, the optimiser's verdict), never inside the Monte Carlo kernel, so
//! they hold for every sampler and integrator; their findings go into a [`Verdict`].
//!
//! * [`separation_certificate`] (before the fit, from the data alone): a fixed-effect column
//!   whose non-zero entries all have one sign and sit on rows whose response is at a bound (all
//!   successes where the column is positive and all failures where it is negative, or the
//!   mirror image; for poisson: zero counts) lets the log-likelihood rise for ever along that
//!   coefficient, for any value of the random effects — so the MLE is at infinity.  This is the
//!   typical factor level with all-0 or all-1 responses.
//! * [`review`] (after the fit): a fitted fixed linear predictor beyond [`ETA_SEPARATION`] on the
//!   logit/log scale (a fitted probability within `e^-30` of 0 or 1, a poisson mean below
//!   `e^-30`), or a log-likelihood `>= 0` (impossible for discrete data: every probability is at
//!   most 1), flags an MLE at infinity that a combination of columns produces (complete or
//!   quasi-complete separation by a continuous predictor).  A fit stopped by the optimiser's
//!   tests at a point where a Newton step would still gain more than [`STATIONARY_GAIN`] is not
//!   converged.
//!
//! In both cases [`Verdict::converged`] is set to `false`, [`Verdict::separation`] names the
//! columns or levels, and a warning states the remedy.

use crate::model::family::Family;
use crate::model::options::FitOptions;
use crate::model::Model;
use crate::start::StartSource;

/// A variance component below this is reported as on the boundary (a singular fit).
pub const BOUNDARY_VARIANCE: f64 = 1e-4;

/// What the checks read of a finished fit.
#[derive(Debug, Clone, Copy)]
pub struct Reviewed<'a> {
    /// The estimate theta = (beta, nu).
    pub theta: &'a [f64],
    /// Gradient of the likelihood approximation there.
    pub gradient: &'a [f64],
    /// Its (reported) Hessian there, row-major.
    pub hessian: &'a [f64],
    /// Log-likelihood (with the data constants).
    pub loglik: f64,
    /// Trust-region iterations used.
    pub iterations: usize,
    /// Which of the optimiser's tests stopped it, in words.
    pub stop_reason: &'a str,
    /// Where the start came from, and its values.
    pub start_source: StartSource,
    pub start_theta: &'a [f64],
}

/// The verdict on a fit: starts as the optimiser's, and the checks amend it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether the fit converged to an MLE that exists.
    pub converged: bool,
    /// Columns or levels whose estimates head to infinity (empty when the MLE exists).
    pub separation: Vec<String>,
    /// Warnings a user must see, most important first.
    pub warnings: Vec<String>,
}

/// |fitted fixed linear predictor| beyond which the MLE is taken to be at infinity.
pub const ETA_SEPARATION: f64 = 30.0;

/// Gain of the log-likelihood a full Newton step may still promise at a converged point.
pub const STATIONARY_GAIN: f64 = 1e-4;

/// Trust-region iterations allowed when [`separation_certificate`] proves that the MLE is at
/// infinity: the optimiser would otherwise crawl after the diverging coefficient for hundreds
/// of iterations.
pub const SEPARATION_ITERLIM: usize = 60;

/// A fixed-effect column along which the log-likelihood increases for ever.
#[derive(Debug, Clone, PartialEq)]
pub struct SeparatedColumn {
    /// Column name (e.g. `fL45`).
    pub name: String,
    /// `+1` if the coefficient goes to `+inf`, `-1` if to `-inf`.
    pub direction: f64,
    /// Rows (observations) where the column is non-zero.
    pub rows: usize,
    /// What the response is on those rows ("all 1", "all 0", ...).
    pub response: &'static str,
}

/// Where the response is relative to its bounds.
fn at_bound(model: &Model, i: usize) -> (bool, bool) {
    let y = model.y()[i];
    let upper = match model.family() {
        Family::Poisson => false,
        _ => y == model.trials()[i],
    };
    (y == 0.0, upper)
}

/// The fixed-effect columns that prove by themselves that the MLE does not exist (see the
/// module docs).  Rows with weight 0 are ignored.
///
/// ```
/// use mcla::{Csr, Family, Model, ModelSpec, RandomBlock};
/// use mcla::fit::diagnostics::separation_certificate;
/// // intercept + indicator of level b, whose two rows are both 1
/// let z = Csr::from_triplets(6, 2, &[(0, 0, 1.0), (1, 1, 1.0), (2, 0, 1.0), (3, 1, 1.0), (4, 0, 1.0), (5, 1, 1.0)]).unwrap();
/// let model = Model::new(ModelSpec {
///     y: vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
///     trials: None,
///     x: vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0],
///     x_names: vec!["(Intercept)".into(), "fb".into()],
///     random: vec![RandomBlock { names: vec!["g1".into(), "g2".into()], z }],
///     varcomps_equal: None, varcomps_names: vec!["g".into()],
///     family: Family::Bernoulli, weights: None,
/// }).unwrap();
/// let sep = separation_certificate(&model);
/// assert_eq!(sep.len(), 1);
/// assert_eq!((sep[0].name.as_str(), sep[0].direction), ("fb", 1.0));
/// ```
pub fn separation_certificate(model: &Model) -> Vec<SeparatedColumn> {
    let (n, p) = (model.n(), model.p());
    let mut out = Vec::new();
    for j in 0..p {
        // up: +inf raises every term (x > 0 only at upper bounds, x < 0 only at lower bounds)
        let (mut up, mut down, mut rows) = (true, true, 0usize);
        let (mut all_low, mut all_high) = (true, true);
        for i in 0..n {
            if model.weights()[i] == 0.0 {
                continue;
            }
            let x = model.x_row(i)[j];
            if x == 0.0 {
                continue;
            }
            rows += 1;
            let (low, high) = at_bound(model, i);
            all_low &= low;
            all_high &= high;
            if x > 0.0 {
                up &= high;
                down &= low;
            } else {
                up &= low;
                down &= high;
            }
            if !up && !down {
                break;
            }
        }
        if rows == 0 || !(up || down) {
            continue;
        }
        let response = match (all_low, all_high) {
            (true, _) => "all 0",
            (_, true) if model.family() == Family::Bernoulli => "all 1",
            (_, true) => "all successes",
            _ if up => "at the top where the column is positive and at the bottom where it is negative (the column separates the outcomes)",
            _ => "at the bottom where the column is positive and at the top where it is negative (the column separates the outcomes)",
        };
        out.push(SeparatedColumn {
            name: model.coef_names()[j].clone(),
            direction: if up { 1.0 } else { -1.0 },
            rows,
            response,
        });
    }
    out
}

/// The remedy sentence shared by the separation warnings.
const REMEDY: &str = "their estimates, standard errors, z values and p-values are meaningless. Remedy: drop or merge the level(s) whose responses are all at one extreme, remove the separating predictor, or use a penalised (bias-reduced, e.g. Firth-type) fit";

/// Check the finished fit (see the module docs): separation / an MLE at infinity, and whether
/// the optimiser stopped at a stationary point.  Sets [`Verdict::converged`] to `false`, fills
/// [`Verdict::separation`] and adds warnings when a check fails.
pub fn review(model: &Model, options: &FitOptions, fit: &Reviewed<'_>, verdict: &mut Verdict) {
    let certain = separation_certificate(model);
    let p = model.p();
    let beta = fit.theta[..p].to_vec();
    let eta = model.x_beta(&beta);
    let extreme: Vec<usize> = (0..model.n())
        .filter(|&i| model.weights()[i] > 0.0)
        .filter(|&i| match model.family() {
            Family::Poisson => eta[i] < -ETA_SEPARATION,
            _ => eta[i].abs() > ETA_SEPARATION,
        })
        .collect();
    let loglik_impossible = fit.loglik >= 0.0;
    let mut names: Vec<String> = certain.iter().map(|c| c.name.clone()).collect();
    if !extreme.is_empty() || loglik_impossible {
        // the columns that carry the extreme linear predictor
        for j in 0..p {
            let reach = (0..model.n())
                .map(|i| (model.x_row(i)[j] * beta[j]).abs())
                .fold(0.0, f64::max);
            let name = &model.coef_names()[j];
            if reach > 0.5 * ETA_SEPARATION && !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    if !certain.is_empty() || !extreme.is_empty() || loglik_impossible {
        let mut why = Vec::new();
        if !certain.is_empty() {
            let shown: Vec<String> = certain
                .iter()
                .take(10)
                .map(|c| {
                    format!(
                        "{} (its {} row{} have response {}, so its coefficient goes to {}infinity)",
                        c.name,
                        c.rows,
                        if c.rows == 1 { "" } else { "s" },
                        c.response,
                        if c.direction > 0.0 { "+" } else { "-" }
                    )
                })
                .collect();
            let more = if certain.len() > 10 {
                format!(" and {} more", certain.len() - 10)
            } else {
                String::new()
            };
            why.push(format!("{}{more}", shown.join("; ")));
        }
        if !extreme.is_empty() {
            why.push(format!(
                "the fitted fixed linear predictor is beyond {ETA_SEPARATION} in absolute value for {} of {} observations ({})",
                extreme.len(),
                model.n(),
                if model.family() == Family::Poisson { "fitted means of essentially 0" } else { "fitted probabilities of essentially 0 or 1" }
            ));
        }
        if loglik_impossible {
            why.push(format!(
                "the log-likelihood ({:.4}) is not negative, which is impossible for {} data (every probability is at most 1): the fit is at the edge of the parameter space",
                fit.loglik,
                model.family().name()
            ));
        }
        let stopped = if fit.iterations >= SEPARATION_ITERLIM && !certain.is_empty() {
            format!(
                " The optimiser was stopped after {} iterations because the estimate cannot converge.",
                fit.iterations
            )
        } else {
            String::new()
        };
        // the generic non-convergence advice (rerun with --par-init, a larger iterlim) cannot help
        verdict
            .warnings
            .retain(|w| !w.starts_with("the trust-region optimiser did NOT converge"));
        verdict.warnings.insert(
            0,
            format!(
                "the maximum likelihood estimate does not exist (separation): {}. The coefficient(s) {} head to +/-infinity, so {REMEDY}.{stopped}",
                why.join("; "),
                if names.is_empty() { "of the linear predictor".to_string() } else { names.join(", ") },
            ),
        );
        verdict.separation = if names.is_empty() {
            vec!["(linear predictor)".into()]
        } else {
            names
        };
        verdict.converged = false;
        return;
    }
    if verdict.converged {
        check_stationary(model, options, fit, verdict);
    }
    if fit.start_source == StartSource::ParInit {
        for (t, name) in model.varcomps_names().iter().enumerate() {
            let (start, est) = (fit.start_theta[p + t], fit.theta[p + t]);
            let ratio = est / start;
            if !(0.1..=10.0).contains(&ratio) {
                verdict.warnings.insert(0, format!(
                    "the importance sample was built for {name} = {} (from --par-init) but the estimate is {}: the Monte Carlo likelihood is accurate only near the variance it was built for, so this estimate may be far from the MLE; refit from the estimates (--par-init {}) until they stop moving, or omit --par-init to start from PQL",
                    short(start),
                    short(est),
                    fit.theta.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(",")
                    ),
                );
            }
        }
    }
}

fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// A converged fit must sit where a Newton step gains (almost) nothing; variance components on
/// the boundary are left out (their gradient need not vanish).
fn check_stationary(
    model: &Model,
    options: &FitOptions,
    fit: &Reviewed<'_>,
    verdict: &mut Verdict,
) {
    let d = fit.theta.len();
    let free: Vec<usize> = (0..d)
        .filter(|&j| j < model.p() || fit.theta[j] >= BOUNDARY_VARIANCE)
        .collect();
    let k = free.len();
    if k == 0 {
        return;
    }
    let g: Vec<f64> = free.iter().map(|&j| fit.gradient[j]).collect();
    let h: Vec<f64> = free
        .iter()
        .flat_map(|&r| free.iter().map(move |&c| (r, c)))
        .map(|(r, c)| fit.hessian[r * d + c])
        .collect();
    let gain = match super::vcov::vcov_from_hessian(&h, k) {
        // 0.5 g' (-H)^{-1} g: what a full Newton step would still gain
        Some(inv) => {
            let mut q = 0.0;
            for r in 0..k {
                for c in 0..k {
                    q += g[r] * inv[r * k + c] * g[c];
                }
            }
            0.5 * q
        }
        None => {
            // not concave here: only a vanishing gradient can make it stationary
            let gmax = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            if gmax > 1e-3 {
                f64::INFINITY
            } else {
                0.0
            }
        }
    };
    if gain.is_finite() && gain <= STATIONARY_GAIN {
        return;
    }
    let hint = if options.rmax < 1.0 {
        format!(
            "the maximum trust radius (--rmax {}) keeps the steps too short; use the default 1000",
            options.rmax
        )
    } else if fit.start_source == StartSource::ParInit {
        "the start (--par-init) is far from the maximum; start nearer, or omit --par-init to start from PQL".to_string()
    } else {
        "rerun from the current estimates with --par-init, or with a larger m".to_string()
    };
    let gain_text = if gain.is_finite() {
        format!(
            "a Newton step would still raise the log-likelihood by {}",
            short(gain)
        )
    } else {
        "the gradient is not zero and the log-likelihood is not concave there".to_string()
    };
    verdict.warnings.insert(
        0,
        format!(
            "the optimiser stopped after {} iteration{} ({}), but not at a maximum: {gain_text}. The estimates are not the MCMLE; {hint}",
            fit.iterations,
            if fit.iterations == 1 { "" } else { "s" },
            fit.stop_reason
        ),
    );
    verdict.converged = false;
}
