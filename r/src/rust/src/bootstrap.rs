//! R bindings of the parametric bootstrap and power studies (`bootstrap()` and `power()` on
//! an `mcla` object, r/R/bootstrap.R).  Like the fit, a thin layer over the library's public
//! API (`mcla::bootstrap`, `mcla::power_replicates`, `mcla::summarise_power`): R passes the
//! fit's model list and options back; the fit is redone (same seed, same bits) and the
//! replicates and their statistics are returned as plain vectors.

use super::{
    as_usize, encode_failure, field, guarded, read_options, read_spec, scalar, strings, whole,
    Failure, Out, Value,
};
use mcla::{FitOptions, Model, ModelSpec, PowerStudy, PowerTest};
use savvy::{savvy, ListSexp, Sexp};

fn stage(stage: &'static str) -> impl Fn(String) -> Failure {
    move |message| Failure { stage, message }
}

fn required(list: &ListSexp, name: &str) -> Result<f64, Failure> {
    scalar(list, name)?.ok_or_else(|| super::input_error(format!("internal: `{name}` missing")))
}

fn model_and_options(spec: ModelSpec, options: &FitOptions) -> Result<Model, Failure> {
    let model = Model::new(spec).map_err(|e| stage("model")(e.to_string()))?;
    options
        .check(&model)
        .map_err(|e| stage("options")(e.to_string()))?;
    Ok(model)
}

fn bootstrap_out(spec: ModelSpec, options: FitOptions, control: &ListSexp) -> Result<Out, Failure> {
    let nsim = as_usize(required(control, "nsim")?, "nsim")?;
    let seed = whole(required(control, "seed")?, "seed")?;
    let level = required(control, "level")?;
    guarded(move || {
        let model = model_and_options(spec, &options)?;
        let fit = mcla::fit(&model, &options).map_err(|e| stage("fit")(e.to_string()))?;
        let b = mcla::bootstrap(&model, &fit, &options, nsim, seed, level)
            .map_err(|e| stage("bootstrap")(e.to_string()))?;
        let d = fit.theta.len();
        let mut o = Out::new();
        o.strings("parameter_names", &fit.parameter_names);
        o.reals("fit_theta", &fit.theta);
        let mut reps = Out::new();
        let r = &b.replicates;
        reps.reals("index", &r.iter().map(|x| x.index as f64).collect::<Vec<_>>());
        let padded = |v: &[f64]| {
            let mut w = v.to_vec();
            w.resize(d, f64::NAN);
            w
        };
        reps.reals(
            "theta",
            &r.iter().flat_map(|x| padded(&x.theta)).collect::<Vec<_>>(),
        );
        reps.reals("se", &r.iter().flat_map(|x| padded(&x.se)).collect::<Vec<_>>());
        reps.reals("loglik", &r.iter().map(|x| x.loglik).collect::<Vec<_>>());
        reps.logicals("converged", &r.iter().map(|x| x.converged).collect::<Vec<_>>());
        reps.strings(
            "error",
            &r.iter()
                .map(|x| x.error.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
        );
        o.put("replicates", Value::List(reps));
        let s = &b.summary;
        let p = &s.parameters;
        let mut sum = Out::new();
        sum.reals("estimate", &p.iter().map(|x| x.estimate).collect::<Vec<_>>());
        sum.reals("mean", &p.iter().map(|x| x.mean).collect::<Vec<_>>());
        sum.reals("bias", &p.iter().map(|x| x.bias).collect::<Vec<_>>());
        sum.reals("se", &p.iter().map(|x| x.se).collect::<Vec<_>>());
        sum.reals("wald_se", &p.iter().map(|x| x.wald_se).collect::<Vec<_>>());
        sum.reals("perc_lower", &p.iter().map(|x| x.percentile.0).collect::<Vec<_>>());
        sum.reals("perc_upper", &p.iter().map(|x| x.percentile.1).collect::<Vec<_>>());
        sum.reals("basic_lower", &p.iter().map(|x| x.basic.0).collect::<Vec<_>>());
        sum.reals("basic_upper", &p.iter().map(|x| x.basic.1).collect::<Vec<_>>());
        sum.reals(
            "boundary_share",
            &p.iter()
                .map(|x| x.boundary_share.unwrap_or(f64::NAN))
                .collect::<Vec<_>>(),
        );
        sum.reals(
            "quantiles",
            &p.iter()
                .flat_map(|x| x.quantiles.iter().copied())
                .collect::<Vec<_>>(),
        );
        sum.reals("quantile_probs", &mcla::infer::bootstrap::QUANTILE_PROBS);
        sum.real("nsim", s.nsim as f64);
        sum.real("used", s.used as f64);
        sum.real("failed", s.failed as f64);
        sum.real("not_converged", s.not_converged as f64);
        sum.real("level", s.level);
        o.put("summary", Value::List(sum));
        Ok(o)
    })
}

/// The parametric bootstrap of the fit of `spec` with `options` (the lists `glmm()` built):
/// `control = list(nsim, seed, level)`.  Returns `list(parameter_names, fit_theta,
/// replicates = list(...), summary = list(...))` or `list(error, stage)`.
///
/// @noRd
#[savvy]
fn mcla_bootstrap_impl(spec: ListSexp, options: ListSexp, control: ListSexp) -> savvy::Result<Sexp> {
    let res = read_spec(&spec)
        .and_then(|s| read_options(&options).map(|o| (s, o)))
        .and_then(|(s, o)| bootstrap_out(s, o, &control));
    match res {
        Ok(o) => Ok(o.build()?.into()),
        Err(f) => encode_failure(&f),
    }
}

fn power_out(spec: ModelSpec, options: FitOptions, control: &ListSexp) -> Result<Out, Failure> {
    let nsim = as_usize(required(control, "nsim")?, "nsim")?;
    let seed = whole(required(control, "seed")?, "seed")?;
    let level = required(control, "level")?;
    let alpha = required(control, "alpha")?;
    let beta = super::required_reals(control, "beta")?;
    let nu = super::required_reals(control, "nu")?;
    let parameter = super::required_strings(control, "parameter")?
        .first()
        .cloned()
        .unwrap_or_default();
    let test_name = field(control, "test")
        .map(|s| strings(s, "test"))
        .transpose()?
        .and_then(|v| v.first().cloned())
        .unwrap_or_else(|| "wald".into());
    let test = PowerTest::parse(&test_name).ok_or_else(|| {
        super::input_error(format!("unknown test \"{test_name}\": use \"wald\" or \"lrt\""))
    })?;
    guarded(move || {
        let study = PowerStudy {
            design: spec,
            beta,
            nu,
            parameter,
            test,
            alpha,
        };
        let reps = mcla::power_replicates(&study, &options, 0..nsim, seed)
            .map_err(|e| stage("power")(e.to_string()))?;
        let s = mcla::summarise_power(&study, &reps, level)
            .map_err(|e| stage("power")(e.to_string()))?;
        let mut o = Out::new();
        o.real("power", s.power);
        o.reals("ci", &[s.ci.0, s.ci.1]);
        o.real("rejections", s.rejections as f64);
        o.real("used", s.used as f64);
        o.real("nsim", s.nsim as f64);
        o.real("alpha", s.alpha);
        o.real("level", s.level);
        o.string("test", s.test.name());
        o.string("parameter", &s.parameter);
        let mut r = Out::new();
        r.reals("index", &reps.iter().map(|x| x.index as f64).collect::<Vec<_>>());
        r.reals("estimate", &reps.iter().map(|x| x.estimate).collect::<Vec<_>>());
        r.reals("se", &reps.iter().map(|x| x.se).collect::<Vec<_>>());
        r.reals("statistic", &reps.iter().map(|x| x.statistic).collect::<Vec<_>>());
        r.reals("p_value", &reps.iter().map(|x| x.p_value).collect::<Vec<_>>());
        r.logicals("reject", &reps.iter().map(|x| x.reject).collect::<Vec<_>>());
        r.logicals("converged", &reps.iter().map(|x| x.converged).collect::<Vec<_>>());
        r.strings(
            "error",
            &reps
                .iter()
                .map(|x| x.error.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
        );
        o.put("replicates", Value::List(r));
        Ok(o)
    })
}

/// The power of a test of one fixed effect for the design of `spec` (its response is
/// ignored): `control = list(beta, nu, parameter, test, alpha, nsim, seed, level)`.
///
/// @noRd
#[savvy]
fn mcla_power_impl(spec: ListSexp, options: ListSexp, control: ListSexp) -> savvy::Result<Sexp> {
    let res = read_spec(&spec)
        .and_then(|s| read_options(&options).map(|o| (s, o)))
        .and_then(|(s, o)| power_out(s, o, &control));
    match res {
        Ok(o) => Ok(o.build()?.into()),
        Err(f) => encode_failure(&f),
    }
}
