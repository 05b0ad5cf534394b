//! R bindings of the `mcla` library, for the R package `mcla` (`r/` of the repository).
//!
//! A thin layer with no statistics of its own: R builds the model matrices (`model.frame`,
//! `model.matrix`) and passes them here as plain vectors; this crate turns them into a
//! [`mcla::ModelSpec`], validates it with [`mcla::Model::new`], fits with [`mcla::fit`] and
//! returns every field of the [`mcla::Fit`] as an R list.
//!
//! Errors never cross the FFI boundary as an R error raised from Rust: every failure of the
//! library (and a panic, caught here) is returned as a value, `list(error = "message",
//! stage = "model" | "options" | "fit" | "input" | "panic")`, and the R code calls `stop()` after
//! this function has returned. Only R's own allocation failures (out of memory) go through
//! savvy's wrapper, which raises them from C, again after the Rust frame has returned.

mod bootstrap;

use mcla::{Csr, Family, Fit, FitOptions, Model, ModelSpec, RandomBlock, Sampler};
use savvy::{
    savvy, ListSexp, OwnedListSexp, OwnedLogicalSexp, OwnedRealSexp, OwnedStringSexp, Sexp,
    StringSexp, TypedSexp,
};

/// A failure to report to R as a value: the stage that failed and the message.
struct Failure {
    stage: &'static str,
    message: String,
}

fn input_error(message: impl Into<String>) -> Failure {
    Failure {
        stage: "input",
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the R lists
// ---------------------------------------------------------------------------------------------

fn field(list: &ListSexp, name: &str) -> Option<Sexp> {
    list.get(name).filter(|s| !s.is_null())
}

fn reals(s: Sexp, name: &str) -> Result<Vec<f64>, Failure> {
    match s.into_typed() {
        TypedSexp::Real(r) => Ok(r.to_vec()),
        TypedSexp::Integer(i) => Ok(i
            .iter()
            .map(|&v| if v == i32::MIN { f64::NAN } else { v as f64 })
            .collect()),
        TypedSexp::Logical(l) => Ok(l
            .as_slice_raw()
            .iter()
            .map(|&v| if v == i32::MIN { f64::NAN } else { v as f64 })
            .collect()),
        _ => Err(input_error(format!("internal: `{name}` must be numeric"))),
    }
}

fn required_reals(list: &ListSexp, name: &str) -> Result<Vec<f64>, Failure> {
    let s = field(list, name).ok_or_else(|| input_error(format!("internal: `{name}` missing")))?;
    reals(s, name)
}

fn optional_reals(list: &ListSexp, name: &str) -> Result<Option<Vec<f64>>, Failure> {
    field(list, name).map(|s| reals(s, name)).transpose()
}

fn scalar(list: &ListSexp, name: &str) -> Result<Option<f64>, Failure> {
    match optional_reals(list, name)? {
        None => Ok(None),
        Some(v) if v.len() == 1 => Ok(Some(v[0])),
        Some(_) => Err(input_error(format!("`{name}` must be a single number"))),
    }
}

fn strings(s: Sexp, name: &str) -> Result<Vec<String>, Failure> {
    StringSexp::try_from(s)
        .map(|v| v.iter().map(|x| x.to_string()).collect())
        .map_err(|_| input_error(format!("internal: `{name}` must be a character vector")))
}

fn required_strings(list: &ListSexp, name: &str) -> Result<Vec<String>, Failure> {
    let s = field(list, name).ok_or_else(|| input_error(format!("internal: `{name}` missing")))?;
    strings(s, name)
}

fn flag(list: &ListSexp, name: &str) -> Result<Option<bool>, Failure> {
    Ok(scalar(list, name)?.map(|v| v != 0.0))
}

/// A non-negative whole number that fits the target (R passes doubles).
fn whole(v: f64, name: &str) -> Result<u64, Failure> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_992.0 {
        Ok(v as u64)
    } else {
        Err(input_error(format!(
            "`{name}` must be a non-negative whole number (got {v})"
        )))
    }
}

fn as_usize(v: f64, name: &str) -> Result<usize, Failure> {
    let w = whole(v, name)?;
    usize::try_from(w).map_err(|_| input_error(format!("`{name}` is too large ({v})")))
}

/// One random-effect design block: `list(i, j, x, nrow, ncol, names)`, indices from 0.
fn random_block(s: Sexp, k: usize) -> Result<RandomBlock, Failure> {
    let what = format!("random[[{}]]", k + 1);
    let list = ListSexp::try_from(s).map_err(|_| input_error(format!("internal: {what}")))?;
    let rows = required_reals(&list, "i")?;
    let cols = required_reals(&list, "j")?;
    let vals = required_reals(&list, "x")?;
    let n_rows = as_usize(scalar(&list, "nrow")?.unwrap_or(f64::NAN), "nrow")?;
    let n_cols = as_usize(scalar(&list, "ncol")?.unwrap_or(f64::NAN), "ncol")?;
    let names = required_strings(&list, "names")?;
    if rows.len() != cols.len() || rows.len() != vals.len() {
        return Err(input_error(format!(
            "internal: {what}: i, j and x differ in length"
        )));
    }
    let mut triplets = Vec::with_capacity(rows.len());
    for ((&i, &j), &v) in rows.iter().zip(&cols).zip(&vals) {
        triplets.push((as_usize(i, "i")?, as_usize(j, "j")?, v));
    }
    let z = Csr::from_triplets(n_rows, n_cols, &triplets).map_err(|e| Failure {
        stage: "model",
        message: e.to_string(),
    })?;
    Ok(RandomBlock { names, z })
}

fn read_spec(spec: &ListSexp) -> Result<ModelSpec, Failure> {
    let family_name = required_strings(spec, "family")?;
    let family = family_name
        .first()
        .and_then(|f| Family::parse(f))
        .ok_or_else(|| {
            input_error(format!(
                "unknown family {family_name:?}: use bernoulli.glmm, binomial.glmm or poisson.glmm"
            ))
        })?;
    let random_list = field(spec, "random")
        .ok_or_else(|| input_error("internal: `random` missing"))
        .and_then(|s| {
            ListSexp::try_from(s).map_err(|_| input_error("internal: `random` must be a list"))
        })?;
    let random = random_list
        .values_iter()
        .enumerate()
        .map(|(k, s)| random_block(s, k))
        .collect::<Result<Vec<_>, _>>()?;
    let varcomps_equal = optional_reals(spec, "varcomps_equal")?
        .map(|v| {
            v.iter()
                .map(|&e| as_usize(e, "varcomps.equal"))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(ModelSpec {
        y: required_reals(spec, "y")?,
        trials: optional_reals(spec, "trials")?,
        x: required_reals(spec, "x")?,
        x_names: required_strings(spec, "x_names")?,
        random,
        varcomps_equal,
        varcomps_names: required_strings(spec, "varcomps_names")?,
        family,
        weights: optional_reals(spec, "weights")?,
    })
}

/// The library's options: its defaults, overridden by the entries R gives (absent or NULL
/// entries keep the library default, so defaults live in one place: `FitOptions::default()`).
fn read_options(opts: &ListSexp) -> Result<FitOptions, Failure> {
    let mut o = FitOptions::default();
    if let Some(m) = scalar(opts, "m")? {
        o.m = as_usize(m, "m")?;
    }
    if let Some(seed) = scalar(opts, "seed")? {
        o.seed = whole(seed, "seed")?;
    }
    if let Some(p) = optional_reals(opts, "mixture")? {
        o.mixture = p
            .try_into()
            .map_err(|_| input_error("the mixture (p1, p2, p3) must have three numbers"))?;
    }
    if let Some(z) = scalar(opts, "zeta")? {
        o.zeta = z;
    }
    if let Some(d) = flag(opts, "do_pql")? {
        o.do_pql = d;
    }
    o.par_init = optional_reals(opts, "par_init")?;
    if let Some(r) = scalar(opts, "rmax")? {
        o.rmax = r;
    }
    if let Some(i) = scalar(opts, "iterlim")? {
        o.iterlim = as_usize(i, "iterlim")?;
    }
    if let Some(t) = scalar(opts, "threads")? {
        o.threads = Some(as_usize(t, "threads")?);
    }
    if let Some(s) = field(opts, "sampler") {
        let name = strings(s, "sampler")?;
        let name = name.first().cloned().unwrap_or_default();
        o.sampler = Sampler::parse(&name).ok_or_else(|| {
            input_error(format!(
                "unknown sampler '{name}': see ?glmm for the samplers of this version of mcla"
            ))
        })?;
    }
    if let Some(l) = flag(opts, "low_memory")? {
        o.low_memory = l;
    }
    Ok(o)
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Validate, fit, and compute the fitted values at u = 0 (the only quantities that need the
/// model after the fit). A panic anywhere in the library is caught and returned as a failure.
fn run(spec: ModelSpec, options: FitOptions) -> Result<(Fit, Vec<f64>, Vec<f64>), Failure> {
    guarded(move || {
        let model = Model::new(spec).map_err(|e| Failure {
            stage: "model",
            message: e.to_string(),
        })?;
        options.check(&model).map_err(|e| Failure {
            stage: "options",
            message: e.to_string(),
        })?;
        let fit = mcla::fit(&model, &options).map_err(|e| Failure {
            stage: "fit",
            message: e.to_string(),
        })?;
        let eta = model.x_beta(fit.coef());
        let family = model.family();
        let mu = eta
            .iter()
            .zip(model.trials())
            .map(|(&e, &t)| family.mean(e, t))
            .collect();
        Ok((fit, eta, mu))
    })
}

/// Run `f`, turning a panic into a [`Failure`] (never unwinding into R).
fn guarded<T>(f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(Failure {
            stage: "panic",
            message: format!(
                "internal error in the mcla library (please report it): {}",
                panic_message(payload.as_ref())
            ),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing the R list
// ---------------------------------------------------------------------------------------------

/// An R value to be created. Values are kept as Rust data until [`Out::build`] allocates the
/// list, and each R vector is stored into the (protected) list right after it is allocated: an
/// unprotected R object is never held across another allocation.
enum Value {
    Reals(Vec<f64>, Option<Vec<&'static str>>),
    Strings(Vec<String>),
    Logicals(Vec<bool>),
    List(Out),
}

/// Named list builder.
struct Out {
    entries: Vec<(&'static str, Value)>,
}

impl Out {
    fn new() -> Out {
        Out {
            entries: Vec::new(),
        }
    }
    fn put(&mut self, name: &'static str, v: Value) {
        self.entries.push((name, v));
    }
    fn reals(&mut self, name: &'static str, v: &[f64]) {
        self.put(name, Value::Reals(v.to_vec(), None));
    }
    fn real(&mut self, name: &'static str, v: f64) {
        self.reals(name, &[v])
    }
    fn strings<S: AsRef<str>>(&mut self, name: &'static str, v: &[S]) {
        let v = v.iter().map(|x| x.as_ref().to_string()).collect();
        self.put(name, Value::Strings(v));
    }
    fn string(&mut self, name: &'static str, v: &str) {
        self.strings(name, &[v])
    }
    fn logicals(&mut self, name: &'static str, v: &[bool]) {
        self.put(name, Value::Logicals(v.to_vec()));
    }
    fn build(self) -> savvy::Result<OwnedListSexp> {
        let mut list = OwnedListSexp::new(self.entries.len(), true)?;
        for (i, (name, value)) in self.entries.into_iter().enumerate() {
            match value {
                Value::Reals(v, names) => {
                    let mut r = OwnedRealSexp::try_from_slice(&v)?;
                    if let Some(n) = names {
                        r.set_names(n)?;
                    }
                    list.set_name_and_value(i, name, r)?;
                }
                Value::Strings(v) => {
                    let mut s = OwnedStringSexp::new(v.len())?;
                    for (k, x) in v.iter().enumerate() {
                        s.set_elt(k, x)?;
                    }
                    list.set_name_and_value(i, name, s)?;
                }
                Value::Logicals(v) => {
                    let mut l = OwnedLogicalSexp::new(v.len())?;
                    for (k, &b) in v.iter().enumerate() {
                        l.set_elt(k, b)?;
                    }
                    list.set_name_and_value(i, name, l)?;
                }
                Value::List(o) => {
                    let child = o.build()?;
                    list.set_name_and_value(i, name, child)?;
                }
            }
        }
        Ok(list)
    }
}

fn encode_fit(fit: &Fit, eta: &[f64], mu: &[f64]) -> Out {
    let mut o = Out::new();
    o.strings("parameter_names", &fit.parameter_names);
    o.real("p", fit.p as f64);
    o.reals("theta", &fit.theta);
    o.real("loglik", fit.loglik);
    o.real("loglik_glmm", fit.loglik_glmm);
    o.real("loglik_mcse", fit.loglik_mcse);
    o.reals("gradient", &fit.gradient);
    // Matrices are row-major in the library and symmetric; R fills by column.
    o.reals("hessian", &fit.hessian);
    o.reals("vcov", &fit.vcov);
    o.reals("se", &fit.se);
    o.reals("mcvcov", &fit.mcvcov);
    o.reals("mcse", &fit.mcse);
    // z values and p-values of the library's tables (two-sided for fixed effects, one-sided for
    // variance components), so that R computes no statistics of its own.
    let rows: Vec<_> = fit
        .fixed_table()
        .into_iter()
        .chain(fit.varcomps_table())
        .collect();
    o.reals(
        "z_values",
        &rows.iter().map(|r| r.z_value).collect::<Vec<_>>(),
    );
    o.reals(
        "p_values",
        &rows.iter().map(|r| r.p_value).collect::<Vec<_>>(),
    );
    o.logicals("converged", &[fit.converged]);
    o.real("iterations", fit.iterations as f64);
    let mut path = Out::new();
    path.reals(
        "iteration",
        &fit.path
            .iter()
            .map(|s| s.iteration as f64)
            .collect::<Vec<_>>(),
    );
    path.reals(
        "theta",
        &fit.path
            .iter()
            .flat_map(|s| s.theta.iter().copied())
            .collect::<Vec<_>>(),
    );
    path.reals(
        "value",
        &fit.path.iter().map(|s| s.value).collect::<Vec<_>>(),
    );
    path.reals(
        "radius",
        &fit.path.iter().map(|s| s.radius).collect::<Vec<_>>(),
    );
    path.reals("rho", &fit.path.iter().map(|s| s.rho).collect::<Vec<_>>());
    path.logicals(
        "accepted",
        &fit.path.iter().map(|s| s.accepted).collect::<Vec<_>>(),
    );
    o.put("path", Value::List(path));
    let mut blocks = Out::new();
    blocks.reals(
        "q",
        &fit.blocks.iter().map(|b| b.q as f64).collect::<Vec<_>>(),
    );
    blocks.reals(
        "n",
        &fit.blocks.iter().map(|b| b.n as f64).collect::<Vec<_>>(),
    );
    blocks.reals("ess", &fit.blocks.iter().map(|b| b.ess).collect::<Vec<_>>());
    o.put("blocks", Value::List(blocks));
    o.real("n", fit.n as f64);
    o.real("m", fit.m as f64);
    // Seeds are whole numbers below 2^53 when they come from R; report exactly what was used.
    o.real("seed", fit.seed as f64);
    o.real("threads", fit.threads as f64);
    o.string("sampler", fit.sampler.name());
    o.logicals("low_memory", &[fit.low_memory]);
    o.string("family", &fit.family);
    o.string("link", &fit.link);
    let source = serde_json::to_value(fit.start_source)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    o.string("start_source", &source);
    o.reals("start_theta", &fit.start_theta);
    o.strings("warnings", &fit.warnings);
    let t = &fit.timings;
    o.put(
        "timings",
        Value::Reals(
            vec![t.start, t.sampling, t.optimisation, t.mcse, t.total],
            Some(vec!["start", "sampling", "optimisation", "mcse", "total"]),
        ),
    );
    o.reals("linear_predictor", eta);
    o.reals("fitted", mu);
    o
}

fn encode_failure(f: &Failure) -> savvy::Result<Sexp> {
    let mut o = Out::new();
    o.string("error", &f.message);
    o.string("stage", f.stage);
    Ok(o.build()?.into())
}

/// Fit a GLMM. `spec` and `options` are the lists built by R's `glmm()`; the result is
/// `list(fit = <list>)` or `list(error = <message>, stage = <stage>)`.
///
/// @noRd
#[savvy]
fn mcla_fit_impl(spec: ListSexp, options: ListSexp) -> savvy::Result<Sexp> {
    let inputs = read_spec(&spec).and_then(|s| read_options(&options).map(|o| (s, o)));
    let result = inputs.and_then(|(s, o)| run(s, o));
    match result {
        Ok((fit, eta, mu)) => {
            let mut o = Out::new();
            o.put("fit", Value::List(encode_fit(&fit, &eta, &mu)));
            Ok(o.build()?.into())
        }
        Err(f) => encode_failure(&f),
    }
}

/// The library's default options (so that R never hard-codes them) and the version.
///
/// @noRd
#[savvy]
fn mcla_defaults_impl() -> savvy::Result<Sexp> {
    let d = FitOptions::default();
    let mut o = Out::new();
    o.real("m", d.m as f64);
    o.real("seed", d.seed as f64);
    o.reals("mixture", &d.mixture);
    o.real("zeta", d.zeta);
    o.real("rmax", d.rmax);
    o.real("iterlim", d.iterlim as f64);
    o.string("sampler", d.sampler.name());
    o.logicals("low_memory", &[d.low_memory]);
    o.string("version", env!("CARGO_PKG_VERSION"));
    Ok(o.build()?.into())
}

/// Whether `name` is a sampler this library knows (parsed by `Sampler::parse`).
///
/// @noRd
#[savvy]
fn mcla_sampler_known_impl(name: &str) -> savvy::Result<Sexp> {
    let mut l = OwnedLogicalSexp::new(1)?;
    l.set_elt(0, Sampler::parse(name).is_some())?;
    Ok(l.into())
}

/// A deliberate panic inside the binding, to test that it reaches R as an ordinary error.
///
/// @noRd
#[savvy]
fn mcla_panic_test_impl() -> savvy::Result<Sexp> {
    let r: Result<(), Failure> = guarded(|| panic!("deliberate test panic"));
    match r {
        Ok(()) => Ok(Out::new().build()?.into()),
        Err(f) => encode_failure(&f),
    }
}
