//! `mcla`: fit generalized linear mixed models by Monte Carlo likelihood approximation from the
//! shell.  This binary only parses arguments, reads files and prints; the statistics live in the
//! `mcla` library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mcla::design::{self, DataRequest, InputError, ModelInput};
use mcla::report::{self, ReportInfo};
use mcla::{AutoM, CrossedDesign, Family, Fit, FitError, FitOptions, Model, Progress, Sampler};
use mcla_formula::FrameOptions;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "cli/infer.rs"]
mod infer;
/// Smallest `--rmax` accepted.
const MIN_RMAX: f64 = 1e-3;

/// Truth of `mcla example` (and the default of `mcla simulate --crossed`).
const EXAMPLE_BETA: [f64; 4] = [1.0, 0.3, -1.9, 1.0];
const EXAMPLE_NU: [f64; 2] = [1.4, 1.25];

#[derive(Parser, Debug)]
#[command(
    name = "mcla",
    version,
    about = "Generalized linear mixed models by Monte Carlo likelihood approximation (the exact MLE; a fast, reproducible replacement for R's glmm)",
    after_help = "Start with `mcla example`; then e.g.\n  mcla fit --data salamander.csv --fixed \"Mate ~ 0 + Cross\" --random \"~ 0 + Female\" --random \"~ 0 + Male\" --varcomps F,M --family bernoulli --m 1e4 --seed 1234"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once
enum Command {
    /// Fit a GLMM to a CSV file with R-style formulas (like R's glmm + summary).
    Fit(FitArgs),
    /// Write a CSV simulated from a GLMM with given parameter values.
    Simulate(SimulateArgs),
    /// Fit a simulated salamander-shaped crossed design and show the estimates beside the truth.
    Example(ExampleArgs),
    /// Likelihood-ratio tests between nested models on the same data (like lme4's anova).
    #[command(alias = "anova")]
    Compare(CompareArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    /// One row per parameter in broom.mixed's shape (other tables go to their own files).
    Csv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PredictKind {
    /// At the predicted random effects of levels seen in the fit (u = 0 otherwise).
    Conditional,
    /// Averaged over the random effects' normal distribution (population-averaged).
    Marginal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PredictScale {
    /// Mean of the response (probability, expected count).
    Response,
    /// Linear predictor (log odds, log mean).
    Link,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ConfintMethod {
    /// est +- z * SE (the default).
    Wald,
    /// Profile likelihood of the MCLA (re-maximised over the other parameters).
    Profile,
}

/// Options of the Monte Carlo fit shared by `fit` and `example`.
#[derive(Args, Debug, Clone)]
struct McArgs {
    /// Monte Carlo sample size per independent block: auto (default: start at 250 and double
    /// until every MCSE <= 0.02 x its SE and the log-likelihood MCSE <= 0.01), or 10000, 1e4, 10^4.
    #[arg(long, value_parser = parse_m, default_value = "auto", allow_negative_numbers = true)]
    m: MArg,
    /// With --m auto: target MCSE / SE of every parameter.
    #[arg(long, default_value_t = 0.02)]
    target_mcse_ratio: f64,
    /// With --m auto: target MCSE of the log-likelihood.
    #[arg(long, default_value_t = 0.01)]
    target_loglik_mcse: f64,
    /// Gauss-Hermite nodes of the adaptive sampler's conditional integrals.
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Seed of every random stream (same seed, same answer, for any --threads).
    #[arg(long, default_value = "1234", value_parser = parse_seed, allow_negative_numbers = true)]
    seed: u64,
    /// Worker threads (default: all cores; at most 4 x the cores). Never changes the result.
    #[arg(long, value_parser = parse_threads, allow_negative_numbers = true)]
    threads: Option<usize>,
    /// Likelihood approximation: adaptive (default; SPEC §12: theta-adaptive sampling of a separator,
    /// the rest by exact quadrature), factorised (one fixed importance sample per independent block)
    /// or joint (R glmm's single fixed sample).
    #[arg(long, value_parser = parse_sampler, default_value = "adaptive")]
    sampler: Sampler,
    /// Confidence level of the Wald intervals.
    #[arg(long, value_parser = parse_level, default_value = "0.95", allow_negative_numbers = true)]
    level: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// No progress indicator on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct FitArgs {
    /// CSV file with a header row (missing values: empty cells and the --na-strings spellings).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Cell texts read as missing, comma-separated (an empty cell is always missing).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "NA,N/A,na,NaN,NULL,null,.,-,?",
        allow_hyphen_values = true
    )]
    na_strings: String,
    /// Fixed-effects formula, e.g. "Mate ~ 0 + Cross" or "cbind(s, f) ~ x * g".
    #[arg(long, value_name = "FORMULA", required_unless_present = "formula")]
    fixed: Option<String>,
    /// One-sided random-effect formula, e.g. "~ 0 + Female" (repeat for several).
    #[arg(long, value_name = "FORMULA")]
    random: Vec<String>,
    /// lme4-style formula instead of --fixed/--random, e.g. "Mate ~ 0 + Cross + (1 | Female) + (1 | Male)".
    #[arg(long, value_name = "FORMULA", conflicts_with_all = ["fixed", "random"])]
    formula: Option<String>,
    /// Variance-component names, one per distinct component, e.g. F,M (default: from the formulas).
    #[arg(long, value_name = "NAMES")]
    varcomps: Option<String>,
    /// Which component each --random formula uses, numbered from 1, e.g. 1,1,2.
    #[arg(long, value_name = "LIST", value_parser = parse_equal)]
    varcomps_equal: Option<Components>,
    /// Response family: bernoulli, binomial (with cbind(successes, failures)) or poisson.
    #[arg(long, value_parser = parse_family, default_value = "bernoulli")]
    family: Family,
    /// Column of non-negative observation weights.
    #[arg(long, value_name = "COL")]
    weights: Option<String>,
    /// Mixture probabilities p1,p2,p3 of the importance distribution (sum 1, p1 > 0).
    #[arg(long, value_name = "P1,P2,P3", value_parser = parse_mixture, allow_hyphen_values = true)]
    mixture: Option<[f64; 3]>,
    /// Degrees of freedom of the t component of the importance distribution.
    #[arg(long, value_parser = parse_zeta, default_value = "5", allow_negative_numbers = true)]
    zeta: f64,
    /// Starting values b1,..,bp,nu1,..,nuT (skips PQL; the importance sample is centred at u = 0).
    #[arg(long, value_name = "LIST", value_parser = parse_list, allow_hyphen_values = true)]
    par_init: Option<Numbers>,
    /// Skip PQL: start at beta = 0, nu = 1.
    #[arg(long, conflicts_with = "par_init")]
    no_pql: bool,
    /// Maximum trust-region radius.
    #[arg(long, default_value_t = 1000.0, allow_negative_numbers = true)]
    rmax: f64,
    /// Maximum number of trust-region iterations.
    #[arg(long, default_value_t = 1000)]
    iterlim: usize,
    /// Regenerate samples instead of storing them (memory independent of m; same results).
    #[arg(long)]
    low_memory: bool,
    /// Treat a numeric column as categorical (IDs coded as numbers); repeatable.
    #[arg(long, value_name = "COL")]
    factor: Vec<String>,
    /// Level order of a categorical column, COL=a,b,c (first = reference level); repeatable.
    #[arg(long, value_name = "COL=LEVELS")]
    levels: Vec<String>,
    #[command(flatten)]
    inference: InferenceArgs,
    #[command(flatten)]
    mc: McArgs,
}

/// What to infer after the fit.
#[derive(Args, Debug, Clone)]
struct InferenceArgs {
    /// Wald test of linear hypotheses, e.g. "CrossR/R = CrossW/W"; comma-separated rows are tested jointly; repeatable.
    #[arg(long, value_name = "HYPOTHESIS", allow_hyphen_values = true)]
    test: Vec<String>,
    /// Write the Wald tests as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    tests_out: Option<PathBuf>,
    /// Predict for the rows of a CSV with the fixed-effect columns (grouping columns optional).
    #[arg(long, value_name = "FILE")]
    predict: Option<PathBuf>,
    /// Write the predictions as CSV to FILE (otherwise they are printed).
    #[arg(long, value_name = "FILE", requires = "predict")]
    predict_out: Option<PathBuf>,
    /// Conditional (at the predicted random effects) or marginal (population-averaged) predictions and emmeans.
    #[arg(long, value_enum, default_value_t = PredictKind::Conditional)]
    predict_kind: PredictKind,
    /// Scale of predictions and emmeans: response (probabilities, means) or link.
    #[arg(long, value_enum, default_value_t = PredictScale::Response)]
    predict_scale: PredictScale,
    /// Estimated marginal means: one row per level of this factor of the fixed effects, with CIs; repeatable.
    #[arg(long, value_name = "FACTOR")]
    emmeans: Vec<String>,
    /// Write the emmeans as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    emmeans_out: Option<PathBuf>,
    /// Write the random-effect predictions E[u|y], SD[u|y] and their MCSE as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    ranef: Option<PathBuf>,
    /// Confidence intervals: wald (default) or profile (profile likelihood of the MCLA).
    #[arg(long, value_enum, default_value_t = ConfintMethod::Wald)]
    confint: ConfintMethod,
    /// Parameters to profile with --confint profile, e.g. F,M (default: all).
    #[arg(long, value_name = "NAMES", requires = "confint")]
    confint_params: Option<String>,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// CSV file with a header row.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// A model as an lme4-style formula, e.g. "Mate ~ 0 + Cross + (1 | Female)"; give two or more. A formula without (1 | g) terms is fitted as a GLM (exact likelihood).
    #[arg(long = "model", value_name = "FORMULA", required = true, num_args = 1)]
    models: Vec<String>,
    /// Response family: bernoulli, binomial or poisson.
    #[arg(long, value_parser = parse_family, default_value = "bernoulli")]
    family: Family,
    /// Treat a numeric column as categorical; repeatable.
    #[arg(long, value_name = "COL")]
    factor: Vec<String>,
    /// Level order of a categorical column, COL=a,b,c; repeatable.
    #[arg(long, value_name = "COL=LEVELS")]
    levels: Vec<String>,
    /// Cell texts read as missing, comma-separated (an empty cell is always missing).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "NA,N/A,na,NaN,NULL,null,.,-,?",
        allow_hyphen_values = true
    )]
    na_strings: String,
    #[command(flatten)]
    mc: McArgs,
}

#[derive(Args, Debug)]
struct SimulateArgs {
    /// Design CSV: the response column of --fixed is replaced (or added) with simulated values.
    #[arg(long, value_name = "FILE", conflicts_with = "crossed")]
    design: Option<PathBuf>,
    /// Built-in salamander-shaped crossed design: groups,animals,pairings (columns Mate, Cross, Female, Male).
    #[arg(long, value_name = "G,A,P")]
    crossed: Option<String>,
    /// Fixed-effects formula (with --design), e.g. "y ~ x + g".
    #[arg(
        long,
        value_name = "FORMULA",
        requires = "design",
        conflicts_with = "crossed"
    )]
    fixed: Option<String>,
    /// One-sided random-effect formula (with --design); repeatable.
    #[arg(
        long,
        value_name = "FORMULA",
        requires = "design",
        conflicts_with = "crossed"
    )]
    random: Vec<String>,
    /// Which variance component each --random formula uses, e.g. 1,1,2.
    #[arg(long, value_name = "LIST", value_parser = parse_equal)]
    varcomps_equal: Option<Components>,
    /// Response family.
    #[arg(long, value_parser = parse_family, default_value = "bernoulli")]
    family: Family,
    /// Fixed effects b1,..,bp (default with --crossed: 1.0,0.3,-1.9,1.0).
    #[arg(long, value_name = "LIST", value_parser = parse_list, allow_hyphen_values = true)]
    beta: Option<Numbers>,
    /// Variance components nu1,..,nuT (default with --crossed: 1.4,1.25).
    #[arg(long, value_name = "LIST", value_parser = parse_list, allow_hyphen_values = true)]
    nu: Option<Numbers>,
    /// Seed.
    #[arg(long, default_value = "1234", value_parser = parse_seed, allow_negative_numbers = true)]
    seed: u64,
    /// Output CSV (default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Treat a numeric column of the design as categorical; repeatable.
    #[arg(long, value_name = "COL")]
    factor: Vec<String>,
    /// Level order of a categorical column, COL=a,b,c; repeatable.
    #[arg(long, value_name = "COL=LEVELS")]
    levels: Vec<String>,
    /// Cell texts of the design read as missing, comma-separated (an empty cell is always missing).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "NA,N/A,na,NaN,NULL,null,.,-,?",
        allow_hyphen_values = true
    )]
    na_strings: String,
}

#[derive(Args, Debug)]
struct ExampleArgs {
    /// Seed of the simulated data set.
    #[arg(long, default_value_t = 5)]
    data_seed: u64,
    #[command(flatten)]
    mc: McArgs,
}

// ---------------------------------------------------------------------------------------------
// Value parsers (clap reports their errors as `error: invalid value ...`, exit code 2)

/// A Monte Carlo sample size: `auto` or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
enum MArg {
    Auto,
    Fixed(usize),
}

/// Parse a Monte Carlo sample size: `auto`, `10000`, `1e4`, `10^4`.
fn parse_m(s: &str) -> Result<MArg, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(MArg::Auto);
    }
    parse_m_number(s).map(MArg::Fixed)
}

fn parse_m_number(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let bad = || {
        format!("'{s}' is not a Monte Carlo sample size; give auto or a positive whole number such as 10000, 1e4 or 10^4")
    };
    let v: f64 = if let Some((b, e)) = t.split_once('^') {
        let b: f64 = b.trim().parse().map_err(|_| bad())?;
        let e: f64 = e.trim().parse().map_err(|_| bad())?;
        b.powf(e)
    } else {
        t.parse().map_err(|_| bad())?
    };
    if !v.is_finite() {
        return Err(bad());
    }
    if v <= 0.0 {
        return Err(format!("the Monte Carlo sample size m must be at least 1 (got {s}); give a positive whole number such as 10000, 1e4 or 10^4"));
    }
    if v.fract() != 0.0 {
        return Err(format!("the Monte Carlo sample size m must be a whole number (got {s}); e.g. 10000, 1e4 or 10^4"));
    }
    if v > 1e12 {
        return Err(format!("the Monte Carlo sample size m = {s} is far too large; use at most 1e12 (1e4 to 1e6 is typical)"));
    }
    Ok(v as usize)
}

fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| {
        format!(
            "'{s}' is not a seed; give a whole number from 0 to 18446744073709551615, e.g. 1234"
        )
    })
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("the number of threads must be at least 1; omit --threads to use all cores".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of threads; give a whole number >= 1, or omit --threads to use all cores")),
    }
}

fn parse_family(s: &str) -> Result<Family, String> {
    Family::parse(s).ok_or_else(|| format!("unknown family '{s}'; use bernoulli (0/1 response), binomial (cbind(successes, failures) response) or poisson (counts)"))
}

fn parse_sampler(s: &str) -> Result<Sampler, String> {
    Sampler::parse(s).ok_or_else(|| {
        format!("unknown sampler '{s}'; use adaptive (default), factorised or joint (R glmm's)")
    })
}

fn parse_level(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.001..=0.999999).contains(&v) => Ok(v),
        Ok(v) if v > 0.0 && v < 1.0 => Err(format!(
            "confidence level '{s}' is outside 0.001 to 0.999999: intervals at such levels are not meaningful (they shrink to the estimate or grow without bound); use e.g. 0.95"
        )),
        _ => Err(format!(
            "confidence level '{s}' must be a number strictly between 0 and 1, e.g. 0.95"
        )),
    }
}

fn parse_zeta(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "zeta '{s}' must be a positive number of degrees of freedom, e.g. 5"
        )),
    }
}

/// A comma-separated list of numbers (one clap value).
#[derive(Clone, Debug, PartialEq)]
struct Numbers(Vec<f64>);

/// A comma-separated list of variance-component numbers (one clap value).
#[derive(Clone, Debug, PartialEq)]
struct Components(Vec<usize>);

fn parse_list(s: &str) -> Result<Numbers, String> {
    parse_numbers(s).map(Numbers)
}

fn parse_numbers(s: &str) -> Result<Vec<f64>, String> {
    s.split(',')
        .map(|t| {
            let t = t.trim();
            t.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("'{t}' in '{s}' is not a finite number; give comma-separated numbers, e.g. 1.0,0.3,-1.9"))
        })
        .collect()
}

fn parse_equal(s: &str) -> Result<Components, String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|t| t.trim().parse::<usize>().ok().filter(|&k| k >= 1))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("'{s}' is not a list of component numbers; give one number >= 1 per --random formula, e.g. 1,1,2"))?;
    let mut max = 0;
    for &k in &v {
        if k > max + 1 {
            return Err(format!(
                "'{s}' must number the components 1, 2, ... in order of first use, e.g. 1,1,2"
            ));
        }
        max = max.max(k);
    }
    Ok(Components(v))
}

fn parse_mixture(s: &str) -> Result<[f64; 3], String> {
    let v = parse_numbers(s)?;
    let p: [f64; 3] = v.as_slice().try_into().map_err(|_| format!("--mixture needs three probabilities p1,p2,p3 (got {} values in '{s}'), e.g. 0.3333,0.3333,0.3334", v.len()))?;
    let sum: f64 = p.iter().sum();
    if let Some(x) = p.iter().find(|x| !(0.0..=1.0).contains(*x)) {
        return Err(format!("mixture probability {x} in '{s}' is not between 0 and 1: each of p1,p2,p3 must be in [0, 1] (and they sum to 1), e.g. 0.5,0.25,0.25"));
    }
    if (sum - 1.0).abs() > 1e-6 {
        return Err(format!("mixture probabilities must each be in [0, 1] and sum to 1, but '{s}' sums to {sum}; e.g. 0.5,0.25,0.25"));
    }
    if p[0] <= 0.0 {
        return Err("the first mixture probability p1 (the heavy-tailed t component) must be > 0: it keeps the importance weights' variance finite; e.g. 0.1,0.45,0.45".into());
    }
    // absorb rounding so the engine sees an exact sum of 1
    Ok([p[0], p[1], 1.0 - p[0] - p[1]])
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error with its exit code: 2 for usage/input problems, 1 for failures of the computation.
struct CliError {
    code: u8,
    error: anyhow::Error,
}

impl From<InputError> for CliError {
    fn from(e: InputError) -> Self {
        CliError {
            code: 2,
            error: anyhow::Error::new(e),
        }
    }
}

fn input(msg: String) -> CliError {
    CliError {
        code: 2,
        error: anyhow::anyhow!(msg),
    }
}

fn fit_error(e: FitError) -> CliError {
    let code = match e {
        FitError::Options(_) => 2,
        _ => 1,
    };
    CliError {
        code,
        error: anyhow::anyhow!("the fit failed: {e}"),
    }
}

fn io_error(e: anyhow::Error) -> CliError {
    CliError { code: 1, error: e }
}

/// Frame options from --factor/--levels; every column quoted throughout the file is categorical
/// too (R's `write.csv` quotes factors: `"10"` is an ID, not the number 10).
fn frame_options(
    factor: &[String],
    levels: &[String],
    na_strings: &str,
) -> Result<FrameOptions, CliError> {
    let mut lv = Vec::new();
    for spec in levels {
        let (col, list) = spec
            .split_once('=')
            .ok_or_else(|| input(format!("--levels '{spec}' must look like COL=a,b,c (the column, '=', then its levels in order, first = reference level)")))?;
        let levels: Vec<String> = list.split(',').map(|l| l.trim().to_string()).collect();
        if col.trim().is_empty() || levels.iter().any(String::is_empty) {
            return Err(input(format!("--levels '{spec}' must look like COL=a,b,c with a column name and non-empty levels")));
        }
        lv.push((col.trim().to_string(), levels));
    }
    Ok(FrameOptions {
        factor_columns: factor.iter().map(|f| f.trim().to_string()).collect(),
        levels: lv,
        quoted_as_categorical: true,
        na_strings: Some(
            na_strings
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        ),
    })
}

/// Default variance-component names: the right-hand side of each random formula (`~ 0 + Female` → `Female`).
fn default_varcomps(random: &[String]) -> Vec<String> {
    random
        .iter()
        .map(|r| {
            let rhs = r.split_once('~').map(|(_, b)| b).unwrap_or(r);
            let terms: Vec<&str> = rhs
                .split('+')
                .map(str::trim)
                .filter(|t| !t.is_empty() && *t != "0" && *t != "-1" && *t != "1")
                .collect();
            if terms.is_empty() {
                rhs.trim().to_string()
            } else {
                terms.join("+")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Progress

/// A spinner on stderr that appears only when the fit takes longer than a second.
struct ProgressUi {
    bar: ProgressBar,
    done: Option<mpsc::Sender<()>>,
    timer: Option<std::thread::JoinHandle<()>>,
}

impl ProgressUi {
    fn new(enabled: bool) -> ProgressUi {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed}] {msg}") {
            bar.set_style(style);
        }
        if !enabled {
            return ProgressUi {
                bar,
                done: None,
                timer: None,
            };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let shown = bar.clone();
        let timer = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(1)) {
                shown.set_draw_target(ProgressDrawTarget::stderr());
                shown.enable_steady_tick(Duration::from_millis(120));
                let _ = rx.recv();
            }
        });
        ProgressUi {
            bar,
            done: Some(tx),
            timer: Some(timer),
        }
    }

    fn callback(&self, data_constant: f64) -> impl FnMut(Progress) + Send + 'static {
        let bar = self.bar.clone();
        move |p| {
            let msg = match p {
                Progress::Pql => {
                    "PQL: starting values and the importance distribution's centre".to_string()
                }
                Progress::Sampling { total } => format!("drawing {total} importance samples"),
                Progress::Iteration { iteration, loglik } => {
                    format!(
                        "optimising: iteration {iteration}, log-likelihood {}",
                        report::format_signif(loglik + data_constant, 7)
                    )
                }
                Progress::Mcse => "Monte Carlo standard errors".to_string(),
            };
            bar.set_message(msg);
        }
    }

    fn finish(mut self) {
        drop(self.done.take());
        if let Some(t) = self.timer.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

fn run_fit(model: &Model, options: &FitOptions, quiet: bool) -> Result<Fit, CliError> {
    let ui = ProgressUi::new(!quiet && std::io::stderr().is_terminal());
    let mut cb = ui.callback(model.data_constant());
    let res = mcla::fit_with_progress(model, options, &mut cb);
    ui.finish();
    res.map_err(fit_error)
}

fn fit_options(mc: &McArgs) -> FitOptions {
    let max = mcla::options::max_threads();
    let threads = match mc.threads {
        Some(t) if t > max => {
            eprintln!("note: --threads {t} is more than 4 x the cores of this machine; using {max} threads (the result does not depend on the number)");
            Some(max)
        }
        t => t,
    };
    let defaults = FitOptions::default();
    let (m, auto_m) = match mc.m {
        MArg::Fixed(m) => (m, None),
        MArg::Auto if mc.sampler == Sampler::Adaptive => (
            defaults.m,
            Some(AutoM {
                mcse_ratio: mc.target_mcse_ratio,
                loglik_mcse: mc.target_loglik_mcse,
                ..AutoM::default()
            }),
        ),
        // the fixed-sample samplers keep R glmm's habit of a given m (default 10^4)
        MArg::Auto => (defaults.m, None),
    };
    FitOptions {
        m,
        auto_m,
        quadrature_nodes: mc.nodes,
        seed: mc.seed,
        threads,
        sampler: mc.sampler,
        ..defaults
    }
}

fn print_out(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // a closed pipe (`mcla fit ... | head`) is not an error
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(io_error(
            anyhow::Error::new(e).context("cannot write to standard output"),
        )),
    }
}

fn emit(
    fit: &Fit,
    info: &ReportInfo,
    format: Format,
    preamble: Option<&str>,
) -> Result<(), CliError> {
    match format {
        Format::Text => {
            let mut s = String::new();
            if let Some(p) = preamble {
                s.push_str(p);
            }
            s.push_str(&report::text_report(fit, info));
            print_out(&s)
        }
        Format::Csv => print_out(&mcla::tidy::params_csv(fit, info.level, None)),
        Format::Json => {
            let v = report::json_report(fit, info);
            let s = serde_json::to_string_pretty(&v)
                .context("cannot encode the result as JSON")
                .map_err(io_error)?;
            print_out(&(s + "\n"))
        }
    }
}

fn call_line() -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(a) = args.first_mut() {
        *a = "mcla".into();
    }
    report::command_line(&args)
}

// ---------------------------------------------------------------------------------------------
// Commands

/// `--formula` or `--fixed`/`--random`: the fixed formula, the random formulas and the default
/// variance-component names.
fn resolve_formulas(a: &FitArgs) -> Result<(String, Vec<String>, Vec<String>), CliError> {
    match (&a.formula, &a.fixed) {
        (Some(f), _) => {
            let m = mcla_formula::expand_mixed_formula(f).map_err(|e| input(format!("--formula: {e}")))?;
            Ok((m.fixed, m.random, m.names))
        }
        (None, Some(fixed)) => Ok((fixed.clone(), a.random.clone(), default_varcomps(&a.random))),
        (None, None) => Err(input("give the model as --formula \"y ~ x + (1 | g)\" or as --fixed \"y ~ x\" with --random \"~ 0 + g\"".into())),
    }
}

fn cmd_fit(a: FitArgs) -> Result<(), CliError> {
    let t0 = Instant::now();
    let fopts = frame_options(&a.factor, &a.levels, &a.na_strings)?;
    let (fixed, random, default_names) = resolve_formulas(&a)?;
    let varcomps_names = match &a.varcomps {
        Some(v) => v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        None if a.varcomps_equal.is_some() => {
            return Err(input("--varcomps-equal needs --varcomps with one name per distinct component, e.g. --varcomps-equal 1,1,2 --varcomps A,B".into()))
        }
        None => default_names,
    };
    let input_spec = ModelInput {
        family: a.family,
        varcomps_names,
        varcomps_equal: a.varcomps_equal.clone().map(|c| c.0),
    };
    design::check_varcomps(random.len(), &input_spec)?;
    let frame = design::read_frame(&a.data, &fopts)?;
    let request = DataRequest {
        fixed,
        random,
        weights: a.weights.clone(),
        input: input_spec,
    };
    let (dsg, model, notes) = design::load_model_with_notes(&frame, &request)?;
    if a.mc.format == Format::Text {
        for n in &notes {
            eprintln!("note: {n}");
        }
    }
    if dsg.dropped_rows > 0 && a.mc.format == Format::Text {
        eprintln!(
            "note: {} of {} data rows dropped because they have a missing value (an empty cell or one of --na-strings, e.g. NA) in a column the model uses",
            dsg.dropped_rows, dsg.n_rows_read
        );
    }
    let options = FitOptions {
        mixture: a.mixture.unwrap_or(FitOptions::default().mixture),
        zeta: a.zeta,
        do_pql: !a.no_pql,
        par_init: a.par_init.clone().map(|p| p.0),
        rmax: a.rmax,
        iterlim: a.iterlim,
        low_memory: a.low_memory,
        ..fit_options(&a.mc)
    };
    if a.rmax <= 0.0 || !a.rmax.is_finite() {
        return Err(input(format!(
            "--rmax must be a positive number (got {}); the default is 1000",
            a.rmax
        )));
    }
    if a.rmax < MIN_RMAX {
        return Err(input(format!(
            "--rmax {:e} is too small: steps that short change the log-likelihood by less than the optimiser's stopping tolerance, so it would stop where it started; use at least {MIN_RMAX} (the default 1000 suits almost every model)",
            a.rmax
        )));
    }
    let options = FitOptions {
        rinit: options.rinit.min(options.rmax),
        ..options
    };
    options
        .check(&model)
        .map_err(|e| input(format!("{e}; see `mcla fit --help`")))?;
    let plan = infer::plan(
        &a.inference,
        a.mc.format,
        &model,
        &frame,
        &dsg,
        &request,
        &fopts,
    )?;
    let mut fit = run_fit(&model, &options, a.mc.quiet)?;
    fit.warnings.extend(design::design_warnings(&dsg));
    let results = infer::run(&plan, &a.inference, a.mc.level, &model, &options, &fit)?;
    let info = ReportInfo {
        call: call_line(),
        rows_read: dsg.n_rows_read,
        dropped_rows: dsg.dropped_rows,
        level: a.mc.level,
        elapsed_seconds: t0.elapsed().as_secs_f64(),
        truth: None,
    };
    infer::emit(&fit, &info, a.mc.format, &a.inference, &results)
}

fn cmd_simulate(a: SimulateArgs) -> Result<(), CliError> {
    let csv = match &a.design {
        Some(path) => {
            let fixed = a.fixed.clone().ok_or_else(|| input("mcla simulate --design needs --fixed \"y ~ ...\" (the response column is replaced or added) and at least one --random formula".into()))?;
            let beta = a.beta.clone().map(|b| b.0).ok_or_else(|| input("mcla simulate --design needs --beta b1,..,bp (one value per fixed-effect column)".into()))?;
            let nu = a.nu.clone().map(|b| b.0).ok_or_else(|| {
                input(
                    "mcla simulate --design needs --nu nu1,..,nuT (one variance per component)"
                        .into(),
                )
            })?;
            let n_comp = a
                .varcomps_equal
                .as_ref()
                .map(|e| e.0.iter().copied().max().unwrap_or(0))
                .unwrap_or(a.random.len());
            let names = (1..=n_comp).map(|i| format!("nu{i}")).collect();
            let fopts = frame_options(&a.factor, &a.levels, &a.na_strings)?;
            let frame = design::read_frame(path, &fopts)?;
            let request = DataRequest {
                fixed,
                random: a.random.clone(),
                weights: None,
                input: ModelInput {
                    family: a.family,
                    varcomps_names: names,
                    varcomps_equal: a.varcomps_equal.clone().map(|c| c.0),
                },
            };
            if request.random.is_empty() {
                return Err(InputError::NoRandom.into());
            }
            let (csv, _kept, dropped) =
                design::simulate_on_frame(&frame, &request, &beta, &nu, a.seed)?;
            if dropped > 0 {
                eprintln!("note: {dropped} design rows have a missing value in a column the model uses; their response is written as NA");
            }
            csv
        }
        None => {
            let spec = a.crossed.as_deref().unwrap_or("6,10,6");
            let v: Vec<usize> = spec
                .split(',')
                .map(|t| t.trim().parse::<usize>().ok())
                .collect::<Option<_>>()
                .unwrap_or_default();
            let [groups, animals, pairings] = v.as_slice() else {
                return Err(input(format!("--crossed '{spec}' must be three whole numbers groups,animals,pairings, e.g. 6,10,6 (the salamander shape)")));
            };
            if a.family != Family::Bernoulli {
                return Err(input("the built-in crossed design simulates a bernoulli response (Mate); use --design with your own CSV for other families".into()));
            }
            let d = CrossedDesign {
                groups: *groups,
                animals: *animals,
                pairings: *pairings,
            };
            let beta = a.beta.clone().map(|b| b.0).unwrap_or(EXAMPLE_BETA.to_vec());
            let nu = a.nu.clone().map(|b| b.0).unwrap_or(EXAMPLE_NU.to_vec());
            design::crossed_design_csv(&d, &beta, &nu, a.seed)?
        }
    };
    match &a.out {
        Some(path) => std::fs::write(path, csv)
            .with_context(|| {
                format!(
                    "cannot write '{}'; check that the directory exists and is writable",
                    path.display()
                )
            })
            .map_err(|e| CliError { code: 2, error: e }),
        None => print_out(&csv),
    }
}

fn cmd_example(a: ExampleArgs) -> Result<(), CliError> {
    let t0 = Instant::now();
    let d = CrossedDesign::default();
    let spec = d
        .simulate(&EXAMPLE_BETA, &EXAMPLE_NU, a.data_seed)
        .map_err(|e| input(e.to_string()))?;
    let model = Model::new(spec).map_err(|e| input(e.to_string()))?;
    let options = fit_options(&a.mc);
    let fit = run_fit(&model, &options, a.mc.quiet)?;
    let mut truth = EXAMPLE_BETA.to_vec();
    truth.extend(EXAMPLE_NU);
    let info = ReportInfo {
        call: call_line(),
        rows_read: model.n(),
        dropped_rows: 0,
        level: a.mc.level,
        elapsed_seconds: t0.elapsed().as_secs_f64(),
        truth: Some(truth),
    };
    let preamble = format!(
        "mcla example: a simulated experiment shaped like the salamander mating data \
(McCullagh & Nelder 1989): {g} independent groups of {a} females and {a} males, each animal paired \
{k} times ({n} pairings), four cross types (R/R, R/W, W/R, W/W; female first). Whether a pair mates is \
bernoulli with logit P = beta[cross] + female effect + male effect, the effects normal with variances \
nu_F and nu_M. The data were drawn with the truth shown below (data seed {ds}); mcla fits them by Monte \
Carlo likelihood approximation with the {sampler} sampler (m = {m} draws per independent group) and \
reports the maximum likelihood estimates beside the truth. Estimates differ \
from the truth by sampling error (Std. Error), not by Monte Carlo error (MCSE, much smaller). The \
same model on your own data: mcla fit --data salamander.csv --fixed \"Mate ~ 0 + Cross\" --random \
\"~ 0 + Female\" --random \"~ 0 + Male\" --varcomps F,M --family bernoulli\n\n",
        g = d.groups,
        a = d.animals,
        k = d.pairings,
        n = d.n(),
        ds = a.data_seed,
        sampler = fit.sampler.name(),
        m = if fit.m_auto { format!("{} (chosen automatically)", fit.m) } else { fit.m.to_string() }
    );
    emit(&fit, &info, a.mc.format, Some(&preamble))
}

/// Whether standard output was closed when mcla started (`mcla fit ... >&-`).  The Rust runtime
/// reopens a closed descriptor 1 as `/dev/null` (read-write) before `main`, so every write would
/// silently vanish; a shell's `> /dev/null` opens it write-only, which stays allowed.  Linux only
/// (elsewhere this returns false).
fn stdout_is_closed() -> bool {
    let Ok(target) = std::fs::read_link("/proc/self/fd/1") else {
        return false;
    };
    if target != std::path::Path::new("/dev/null") {
        return false;
    }
    let Ok(info) = std::fs::read_to_string("/proc/self/fdinfo/1") else {
        return false;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & 0o3 == 0o2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version are not errors
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let writes_stdout = match &cli.command {
        Command::Simulate(a) => a.out.is_none(),
        _ => true,
    };
    if writes_stdout && stdout_is_closed() {
        eprintln!("error: standard output is closed, so the results cannot be written; run the command without closing it (e.g. drop `>&-`), redirect it to a file (> results.txt){}", if matches!(cli.command, Command::Simulate(_)) { " or use --out FILE" } else { "" });
        return ExitCode::from(1);
    }
    let res = match cli.command {
        Command::Fit(a) => cmd_fit(a),
        Command::Simulate(a) => cmd_simulate(a),
        Command::Example(a) => cmd_example(a),
        Command::Compare(a) => infer::cmd_compare(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError { code, error }) => {
            let mut msg = format!("{error}");
            for cause in error.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(&format!(": {c}"));
                }
            }
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_sizes() {
        assert_eq!(parse_m("10000"), Ok(MArg::Fixed(10000)));
        assert_eq!(parse_m("1e4"), Ok(MArg::Fixed(10000)));
        assert_eq!(parse_m("10^4"), Ok(MArg::Fixed(10000)));
        assert_eq!(parse_m(" 2.5e3 "), Ok(MArg::Fixed(2500)));
        assert_eq!(parse_m("auto"), Ok(MArg::Auto));
        assert_eq!(parse_m("AUTO"), Ok(MArg::Auto));
        for bad in ["0", "-5", "abc", "1.5", "1e400", "", "10^-1"] {
            assert!(parse_m(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_and_mixture() {
        assert_eq!(parse_equal("1,1,2"), Ok(Components(vec![1, 1, 2])));
        assert!(parse_equal("2,1").is_err());
        assert!(parse_equal("0,1").is_err());
        assert!(parse_mixture("0.2,0.4,0.4").is_ok());
        assert!(parse_mixture("0.5,0.5,0.5").is_err());
        assert!(parse_mixture("0,0.5,0.5").is_err());
        assert!(parse_mixture("0.5,0.5").is_err());
        assert_eq!(parse_list("1,-2.5"), Ok(Numbers(vec![1.0, -2.5])));
        assert_eq!(
            default_varcomps(&["~ 0 + Female".into(), "~0+Male".into()]),
            ["Female", "Male"]
        );
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
