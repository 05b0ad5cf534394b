//! The command line: every command's arguments (clap derive) and the value parsers (clap
//! reports their errors as `error: invalid value ...`, exit code 2).

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcla::{Family, Sampler};

use std::path::PathBuf;

/// Truth of `mcla example` (and the default of `mcla simulate --crossed`).
pub(crate) const EXAMPLE_BETA: [f64; 4] = [1.0, 0.3, -1.9, 1.0];
pub(crate) const EXAMPLE_NU: [f64; 2] = [1.4, 1.25];

#[derive(Parser, Debug)]
#[command(
    name = "mcla",
    version,
    about = "Generalized linear mixed models by Monte Carlo likelihood approximation (the exact MLE; a fast, reproducible replacement for R's glmm)",
    after_help = "Start with `mcla example`; then e.g.\n  mcla fit --data salamander.csv --fixed \"Mate ~ 0 + Cross\" --random \"~ 0 + Female\" --random \"~ 0 + Male\" --varcomps F,M --family bernoulli --m 1e4 --seed 1234"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once
pub(crate) enum Command {
    /// Fit a GLMM to a CSV file with R-style formulas (like R's glmm + summary).
    Fit(FitArgs),
    /// Write a CSV simulated from a GLMM with given parameter values.
    Simulate(SimulateArgs),
    /// Fit a simulated salamander-shaped crossed design and show the estimates beside the truth.
    Example(ExampleArgs),
    /// Likelihood-ratio tests between nested models on the same data (like lme4's anova).
    #[command(alias = "anova")]
    Compare(CompareArgs),
    /// Parametric bootstrap of a fit: bootstrap SEs, percentile and basic intervals, the
    /// distribution of the variance components; replicates as CSV.
    Bootstrap(BootstrapArgs),
    /// Power of a test of one fixed effect for a planned design, by simulation and refits (as
    /// simr::powerSim), with its Monte Carlo interval.
    Power(PowerArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
    /// One row per parameter in broom.mixed's shape (other tables go to their own files).
    Csv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum PredictKind {
    /// At the predicted random effects of levels seen in the fit (u = 0 otherwise).
    Conditional,
    /// Averaged over the random effects' normal distribution (population-averaged).
    Marginal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum PredictScale {
    /// Mean of the response (probability, expected count).
    Response,
    /// Linear predictor (log odds, log mean).
    Link,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ConfintMethod {
    /// est +- z * SE (the default).
    Wald,
    /// Profile likelihood of the MCLA (re-maximised over the other parameters).
    Profile,
}

/// Standard draws of the adaptive sampler's separator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DrawsArg {
    /// Scrambled Sobol' points (randomised quasi-Monte Carlo; m rounded up to a power of two).
    Sobol,
    /// Antithetic pairs (z, -z).
    Antithetic,
    /// Independent standard normals.
    Plain,
}

/// Options of the Monte Carlo fit shared by `fit` and `example`.
#[derive(Args, Debug, Clone)]
pub(crate) struct McArgs {
    /// Monte Carlo sample size per independent block: auto (default: start at 250 and double
    /// until every MCSE <= 0.02 x its SE and the log-likelihood MCSE <= 0.01), or 10000, 1e4, 10^4.
    #[arg(long, value_parser = parse_m, default_value = "auto", allow_negative_numbers = true)]
    pub(crate) m: MArg,
    /// With --m auto: target MCSE / SE of every parameter.
    #[arg(long, default_value_t = 0.02)]
    pub(crate) target_mcse_ratio: f64,
    /// With --m auto: target MCSE of the log-likelihood.
    #[arg(long, default_value_t = 0.01)]
    pub(crate) target_loglik_mcse: f64,
    /// Gauss-Hermite nodes of the adaptive sampler's conditional integrals.
    #[arg(long, default_value_t = 10)]
    pub(crate) nodes: usize,
    /// In sampled blocks, integrate the parts that nest given the separator (subjects and
    /// their subject x item cells once the items are sampled) by nested quadrature instead
    /// of sampling their upper levels: far fewer sampled effects and a smaller Monte Carlo
    /// error at the same m, at K or more times the work per draw.
    #[arg(long)]
    pub(crate) subtrees: bool,
    /// Standard draws of the adaptive sampler's separator: sobol (default; randomised
    /// quasi-Monte Carlo, its MCSE from --replicates independent scramblings), antithetic or plain.
    #[arg(long, value_enum, default_value = "sobol")]
    pub(crate) draws: DrawsArg,
    /// With --draws sobol: independent scramblings (2 to 1024); their spread is the Monte Carlo error.
    #[arg(long, default_value_t = mcla::integrate::standard_draws::DEFAULT_REPLICATES)]
    pub(crate) replicates: usize,
    /// Seed of every random stream (same seed, same answer, for any --threads).
    #[arg(long, default_value = "1234", value_parser = parse_seed, allow_negative_numbers = true)]
    pub(crate) seed: u64,
    /// Worker threads (default: all cores; at most 4 x the cores). Never changes the result.
    #[arg(long, value_parser = parse_threads, allow_negative_numbers = true)]
    pub(crate) threads: Option<usize>,
    /// Likelihood approximation: adaptive (default; SPEC §12: theta-adaptive sampling of a separator,
    /// the rest by exact quadrature), factorised (one fixed importance sample per independent block)
    /// or joint (R glmm's single fixed sample).
    #[arg(long, value_parser = parse_sampler, default_value = "adaptive")]
    pub(crate) sampler: Sampler,
    /// Confidence level of the Wald intervals.
    #[arg(long, value_parser = parse_level, default_value = "0.95", allow_negative_numbers = true)]
    pub(crate) level: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// No progress indicator on stderr.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Args, Debug)]
pub(crate) struct FitArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    #[command(flatten)]
    pub(crate) inference: InferenceArgs,
    #[command(flatten)]
    pub(crate) mc: McArgs,
}

/// The data, the model and the fit options of `mcla fit` (also read by `mcla bootstrap`).
#[derive(Args, Debug)]
pub(crate) struct ModelArgs {
    /// CSV file with a header row (missing values: empty cells and the --na-strings spellings).
    #[arg(long, value_name = "FILE")]
    pub(crate) data: PathBuf,
    /// Cell texts read as missing, comma-separated (an empty cell is always missing).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "NA,N/A,na,NaN,NULL,null,.,-,?",
        allow_hyphen_values = true
    )]
    pub(crate) na_strings: String,
    /// Fixed-effects formula, e.g. "Mate ~ 0 + Cross" or "cbind(s, f) ~ x * g".
    #[arg(long, value_name = "FORMULA", required_unless_present = "formula")]
    pub(crate) fixed: Option<String>,
    /// One-sided random-effect formula, e.g. "~ 0 + Female" (repeat for several).
    #[arg(long, value_name = "FORMULA")]
    pub(crate) random: Vec<String>,
    /// lme4-style formula instead of --fixed/--random, e.g. "Mate ~ 0 + Cross + (1 | Female) + (1 | Male)".
    #[arg(long, value_name = "FORMULA", conflicts_with_all = ["fixed", "random"])]
    pub(crate) formula: Option<String>,
    /// Variance-component names, one per distinct component, e.g. F,M (default: from the formulas).
    #[arg(long, value_name = "NAMES")]
    pub(crate) varcomps: Option<String>,
    /// Which component each --random formula uses, numbered from 1, e.g. 1,1,2.
    #[arg(long, value_name = "LIST", value_parser = parse_equal)]
    pub(crate) varcomps_equal: Option<Components>,
    /// Response family: bernoulli, binomial (with cbind(successes, failures)) or poisson.
    #[arg(long, value_parser = parse_family, default_value = "bernoulli")]
    pub(crate) family: Family,
    /// Column of non-negative observation weights.
    #[arg(long, value_name = "COL")]
    pub(crate) weights: Option<String>,
    /// Mixture probabilities p1,p2,p3 of the importance distribution (sum 1, p1 > 0).
    #[arg(long, value_name = "P1,P2,P3", value_parser = parse_mixture, allow_hyphen_values = true)]
    pub(crate) mixture: Option<[f64; 3]>,
    /// Degrees of freedom of the t component of the importance distribution.
    #[arg(long, value_parser = parse_zeta, default_value = "5", allow_negative_numbers = true)]
    pub(crate) zeta: f64,
    /// Starting values b1,..,bp,nu1,..,nuT (skips PQL; the importance sample is centred at u = 0).
    #[arg(long, value_name = "LIST", value_parser = parse_list, allow_hyphen_values = true)]
    pub(crate) par_init: Option<Numbers>,
    /// Skip PQL: start at beta = 0, nu = 1.
    #[arg(long, conflicts_with = "par_init")]
    pub(crate) no_pql: bool,
    /// Maximum trust-region radius.
    #[arg(long, default_value_t = 1000.0, allow_negative_numbers = true)]
    pub(crate) rmax: f64,
    /// Maximum number of trust-region iterations.
    #[arg(long, default_value_t = 1000)]
    pub(crate) iterlim: usize,
    /// Regenerate samples instead of storing them (memory independent of m; same results).
    #[arg(long)]
    pub(crate) low_memory: bool,
    /// Treat a numeric column as categorical (IDs coded as numbers); repeatable.
    #[arg(long, value_name = "COL")]
    pub(crate) factor: Vec<String>,
    /// Level order of a categorical column, COL=a,b,c (first = reference level); repeatable.
    #[arg(long, value_name = "COL=LEVELS")]
    pub(crate) levels: Vec<String>,
}

/// What to infer after the fit.
#[derive(Args, Debug, Clone)]
pub(crate) struct InferenceArgs {
    /// Wald test of linear hypotheses, e.g. "CrossR/R = CrossW/W"; comma-separated rows are tested jointly; repeatable.
    #[arg(long, value_name = "HYPOTHESIS", allow_hyphen_values = true)]
    pub(crate) test: Vec<String>,
    /// Write the Wald tests as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) tests_out: Option<PathBuf>,
    /// Predict for the rows of a CSV with the fixed-effect columns (grouping columns optional).
    #[arg(long, value_name = "FILE")]
    pub(crate) predict: Option<PathBuf>,
    /// Write the predictions as CSV to FILE (otherwise they are printed).
    #[arg(long, value_name = "FILE", requires = "predict")]
    pub(crate) predict_out: Option<PathBuf>,
    /// Conditional (at the predicted random effects) or marginal (population-averaged) predictions and emmeans.
    #[arg(long, value_enum, default_value_t = PredictKind::Conditional)]
    pub(crate) predict_kind: PredictKind,
    /// Scale of predictions and emmeans: response (probabilities, means) or link.
    #[arg(long, value_enum, default_value_t = PredictScale::Response)]
    pub(crate) predict_scale: PredictScale,
    /// Estimated marginal means: one row per level of this factor of the fixed effects, with CIs; repeatable.
    #[arg(long, value_name = "FACTOR")]
    pub(crate) emmeans: Vec<String>,
    /// Write the emmeans as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) emmeans_out: Option<PathBuf>,
    /// Write the random-effect predictions E[u|y], SD[u|y] and their MCSE as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) ranef: Option<PathBuf>,
    /// Confidence intervals: wald (default) or profile (profile likelihood of the MCLA).
    #[arg(long, value_enum, default_value_t = ConfintMethod::Wald)]
    pub(crate) confint: ConfintMethod,
    /// Parameters to profile with --confint profile, e.g. F,M (default: all).
    #[arg(long, value_name = "NAMES", requires = "confint")]
    pub(crate) confint_params: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct CompareArgs {
    /// CSV file with a header row.
    #[arg(long, value_name = "FILE")]
    pub(crate) data: PathBuf,
    /// A model as an lme4-style formula, e.g. "Mate ~ 0 + Cross + (1 | Female)"; give two or more. A formula without (1 | g) terms is fitted as a GLM (exact likelihood).
    #[arg(long = "model", value_name = "FORMULA", required = true, num_args = 1)]
    pub(crate) models: Vec<String>,
    /// Response family: bernoulli, binomial or poisson.
    #[arg(long, value_parser = parse_family, default_value = "bernoulli")]
    pub(crate) family: Family,
    /// Treat a numeric column as categorical; repeatable.
    #[arg(long, value_name = "COL")]
    pub(crate) factor: Vec<String>,
    /// Level order of a categorical column, COL=a,b,c; repeatable.
    #[arg(long, value_name = "COL=LEVELS")]
    pub(crate) levels: Vec<String>,
    /// Cell texts read as missing, comma-separated (an empty cell is always missing).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "NA,N/A,na,NaN,NULL,null,.,-,?",
        allow_hyphen_values = true
    )]
    pub(crate) na_strings: String,
    /// Parametric-bootstrap likelihood-ratio test with N simulations under each smaller model
    /// (as pbkrtest::PBmodcomp), beside the chi-square p-value; mixed models only.
    #[arg(long, value_name = "N", value_parser = parse_nsim)]
    pub(crate) bootstrap: Option<usize>,
    /// With --bootstrap: write the replicates (both log-likelihoods and the statistic) as CSV.
    #[arg(long, value_name = "FILE", requires = "bootstrap")]
    pub(crate) bootstrap_out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) mc: McArgs,
}

/// `mcla bootstrap`: the model and options of `mcla fit`, then the simulations.
#[derive(Args, Debug)]
pub(crate) struct BootstrapArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Number of bootstrap simulations (refits).
    #[arg(long, value_name = "N", default_value = "1000", value_parser = parse_nsim)]
    pub(crate) nsim: usize,
    /// Seed of the simulations (replicate r uses its own stream from this seed and r; default:
    /// --seed).
    #[arg(long, value_name = "SEED", value_parser = parse_seed)]
    pub(crate) boot_seed: Option<u64>,
    /// Write the replicates (estimates, SEs, log-likelihood, converged, error) as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) mc: McArgs,
}

/// `mcla power`: a planned design, the true effects and the test.
#[derive(Args, Debug)]
pub(crate) struct PowerArgs {
    /// Design CSV of covariates and groups (a response column is not needed).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "crossed",
        requires = "formula"
    )]
    pub(crate) design: Option<PathBuf>,
    /// lme4-style model formula for --design, e.g. "y ~ x + (1 | subject) + (1 | item)".
    #[arg(long, value_name = "FORMULA", requires = "design")]
    pub(crate) formula: Option<String>,
    /// Built-in salamander-shaped crossed design groups,animals,pairings (fixed effects
    /// CrossR/R, CrossR/W, CrossW/R, CrossW/W; variance components F, M).
    #[arg(long, value_name = "G,A,P")]
    pub(crate) crossed: Option<String>,
    /// Response family (--design; the crossed design is bernoulli).
    #[arg(long, value_parser = parse_family, default_value = "bernoulli")]
    pub(crate) family: Family,
    /// True fixed effects b1,..,bp (default with --crossed: 1.0,0.3,-1.9,1.0).
    #[arg(long, value_name = "LIST", value_parser = parse_list, allow_hyphen_values = true)]
    pub(crate) beta: Option<Numbers>,
    /// True variance components nu1,..,nuT (default with --crossed: 1.4,1.25).
    #[arg(long, value_name = "LIST", value_parser = parse_list, allow_hyphen_values = true)]
    pub(crate) nu: Option<Numbers>,
    /// The fixed effect whose test's power is estimated (a column name, e.g. x or CrossR/W).
    #[arg(long, value_name = "NAME")]
    pub(crate) effect: String,
    /// The test: wald (z test, the default) or lrt (likelihood ratio against the model without
    /// the effect).
    #[arg(long, value_parser = parse_power_test, default_value = "wald")]
    pub(crate) test: mcla::PowerTest,
    /// Significance level of the test.
    #[arg(long, default_value = "0.05", value_parser = parse_alpha)]
    pub(crate) alpha: f64,
    /// Number of simulated studies.
    #[arg(long, value_name = "N", default_value = "1000", value_parser = parse_nsim)]
    pub(crate) nsim: usize,
    /// Write the simulated studies (estimate, SE, statistic, p-value, reject) as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Treat a numeric column of the design as categorical; repeatable.
    #[arg(long, value_name = "COL")]
    pub(crate) factor: Vec<String>,
    /// Level order of a categorical column, COL=a,b,c; repeatable.
    #[arg(long, value_name = "COL=LEVELS")]
    pub(crate) levels: Vec<String>,
    /// Cell texts of the design read as missing, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "NA,N/A,na,NaN,NULL,null,.,-,?",
        allow_hyphen_values = true
    )]
    pub(crate) na_strings: String,
    #[command(flatten)]
    pub(crate) mc: McArgs,
}

#[derive(Args, Debug)]
pub(crate) struct SimulateArgs {
    /// Design CSV: the response column of --fixed is replaced (or added) with simulated values.
    #[arg(long, value_name = "FILE", conflicts_with = "crossed")]
    pub(crate) design: Option<PathBuf>,
    /// Built-in salamander-shaped crossed design: groups,animals,pairings (columns Mate, Cross, Female, Male).
    #[arg(long, value_name = "G,A,P")]
    pub(crate) crossed: Option<String>,
    /// Fixed-effects formula (with --design), e.g. "y ~ x + g".
    #[arg(
        long,
        value_name = "FORMULA",
        requires = "design",
        conflicts_with = "crossed"
    )]
    pub(crate) fixed: Option<String>,
    /// One-sided random-effect formula (with --design); repeatable.
    #[arg(
        long,
        value_name = "FORMULA",
        requires = "design",
        conflicts_with = "crossed"
    )]
    pub(crate) random: Vec<String>,
    /// Which variance component each --random formula uses, e.g. 1,1,2.
    #[arg(long, value_name = "LIST", value_parser = parse_equal)]
    pub(crate) varcomps_equal: Option<Components>,
    /// Response family.
    #[arg(long, value_parser = parse_family, default_value = "bernoulli")]
    pub(crate) family: Family,
    /// Fixed effects b1,..,bp (default with --crossed: 1.0,0.3,-1.9,1.0).
    #[arg(long, value_name = "LIST", value_parser = parse_list, allow_hyphen_values = true)]
    pub(crate) beta: Option<Numbers>,
    /// Variance components nu1,..,nuT (default with --crossed: 1.4,1.25).
    #[arg(long, value_name = "LIST", value_parser = parse_list, allow_hyphen_values = true)]
    pub(crate) nu: Option<Numbers>,
    /// Seed.
    #[arg(long, default_value = "1234", value_parser = parse_seed, allow_negative_numbers = true)]
    pub(crate) seed: u64,
    /// Output CSV (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Treat a numeric column of the design as categorical; repeatable.
    #[arg(long, value_name = "COL")]
    pub(crate) factor: Vec<String>,
    /// Level order of a categorical column, COL=a,b,c; repeatable.
    #[arg(long, value_name = "COL=LEVELS")]
    pub(crate) levels: Vec<String>,
    /// Cell texts of the design read as missing, comma-separated (an empty cell is always missing).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "NA,N/A,na,NaN,NULL,null,.,-,?",
        allow_hyphen_values = true
    )]
    pub(crate) na_strings: String,
}

#[derive(Args, Debug)]
pub(crate) struct ExampleArgs {
    /// Seed of the simulated data set.
    #[arg(long, default_value_t = 5)]
    pub(crate) data_seed: u64,
    #[command(flatten)]
    pub(crate) mc: McArgs,
}

// ---------------------------------------------------------------------------------------------
// Value parsers (clap reports their errors as `error: invalid value ...`, exit code 2)

// The parsers are the library's (`mcla::request`), shared with the Python package, so that
// every front end accepts the same texts and words its errors the same way.
pub(crate) use mcla::request::{
    parse_family, parse_level, parse_m, parse_mixture, parse_numbers, parse_sampler, parse_seed,
    parse_threads, parse_zeta, MArg,
};

/// A comma-separated list of numbers (one clap value).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Numbers(pub(crate) Vec<f64>);

/// A comma-separated list of variance-component numbers (one clap value).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Components(pub(crate) Vec<usize>);

pub(crate) fn parse_list(s: &str) -> Result<Numbers, String> {
    parse_numbers(s).map(Numbers)
}

pub(crate) fn parse_equal(s: &str) -> Result<Components, String> {
    mcla::request::parse_equal(s).map(Components)
}

/// A number of simulations: a whole number >= 1.
pub(crate) fn parse_nsim(s: &str) -> Result<usize, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v >= 1.0 && v.fract() == 0.0 && v <= 1e9 => Ok(v as usize),
        _ => Err(format!(
            "'{s}' is not a number of simulations; give a whole number from 1 to 1e9, e.g. 1000"
        )),
    }
}

fn parse_alpha(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!(
            "significance level '{s}' must be a number strictly between 0 and 1, e.g. 0.05"
        )),
    }
}

fn parse_power_test(s: &str) -> Result<mcla::PowerTest, String> {
    mcla::PowerTest::parse(s).ok_or_else(|| {
        format!("unknown test '{s}'; use wald (z test of the effect) or lrt (likelihood ratio)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcla::request::default_varcomps;

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
