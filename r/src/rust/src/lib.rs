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

use mcla::infer::compare::{anova, ModelSummary};
use mcla::infer::predict::{Kind, NewData, NewEffect, Scale};
use mcla::{
    AutoM, Csr, Family, Fit, FitOptions, Model, ModelSpec, RandomBlock, ReportInfo, Sampler,
};
use savvy::{
    savvy, ExternalPointerSexp, IntoExtPtrSexp, ListSexp, OwnedListSexp, OwnedLogicalSexp,
    OwnedRealSexp, OwnedStringSexp, Sexp, StringSexp, TypedSexp,
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
    if let Some(l) = flag(opts, "subtrees")? {
        o.subtrees = l;
    }
    if let Some(k) = scalar(opts, "nodes")? {
        o.quadrature_nodes = as_usize(k, "nodes")?;
    }
    // No m: automatic m, exactly as the command line's default (`--m auto`): the adaptive
    // estimator doubles m until the targets are met; the fixed-sample samplers keep R glmm's
    // habit of a given m (the library's default, 10^4).
    if scalar(opts, "m")?.is_none() && o.sampler == Sampler::Adaptive {
        let mut auto = AutoM::default();
        if let Some(r) = scalar(opts, "target_mcse_ratio")? {
            auto.mcse_ratio = r;
        }
        if let Some(l) = scalar(opts, "target_loglik_mcse")? {
            auto.loglik_mcse = l;
        }
        o.auto_m = Some(auto);
    }
    Ok(o)
}

/// What the text report needs besides the fit, from the R call.
fn read_report_info(opts: &ListSexp) -> Result<ReportInfo, Failure> {
    let call = match field(opts, "call") {
        Some(s) => strings(s, "call")?.join("\n"),
        None => String::new(),
    };
    let mut info = ReportInfo::new(call, 0);
    if let Some(r) = scalar(opts, "rows_read")? {
        info.rows_read = as_usize(r, "rows_read")?;
    }
    if let Some(d) = scalar(opts, "dropped_rows")? {
        info.dropped_rows = as_usize(d, "dropped_rows")?;
    }
    Ok(info)
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

/// A fit kept for the methods that need the library after the fit (`predict()`): the fit and
/// the model's random-effect names and components (model order). R holds it as an external
/// pointer in the fit object; it does not survive `saveRDS()` (the pointer is then null).
struct FitHandle {
    fit: Fit,
    effect_names: Vec<String>,
}

impl IntoExtPtrSexp for FitHandle {}

/// What a successful fit returns to R.
struct Fitted {
    fit: Fit,
    eta: Vec<f64>,
    mu: Vec<f64>,
    effect_names: Vec<String>,
}

extern "C" {
    /// R's check for a user interrupt (Ctrl-C, SIGINT): returns, or longjmps into R's handling
    /// of the interrupt. Main thread only.
    fn R_CheckUserInterrupt();
}

/// Whether R has a pending user interrupt. If so, R's interrupt is caught (R_UnwindProtect via
/// savvy) and returned as the token that continues it once this call has returned to R, so that
/// the interrupt reaches R as an ordinary one (tryCatch(interrupt = ) sees it).
fn pending_interrupt() -> Option<savvy::Error> {
    // SAFETY: called on R's main thread (the thread of the .Call); a longjmp out of
    // R_CheckUserInterrupt is caught by R_UnwindProtect and never crosses a Rust frame.
    let r = unsafe {
        savvy::unwind_protect(|| {
            R_CheckUserInterrupt();
            savvy::sexp::null::null()
        })
    };
    r.err()
}

/// How often R's thread checks for an interrupt while the fit runs.
const INTERRUPT_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Validate, fit, and compute the fitted values at u = 0 (the only quantities that need the
/// model after the fit). A panic anywhere in the library is caught and returned as a failure.
///
/// The fit runs on a worker thread while this (R's) thread checks for a user interrupt every
/// 0.1 s; on one, the library's [`mcla::Interrupt`] is triggered, the fit stops within about a
/// second (`FitError::Interrupted`), and the interrupt is returned for R to continue. Only this
/// thread calls R.
fn run(spec: ModelSpec, options: FitOptions) -> Result<Fitted, Interruptible> {
    let interrupt = mcla::Interrupt::new();
    let worker_interrupt = interrupt.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut caught: Option<savvy::Error> = None;
    let result = std::thread::scope(|scope| {
        scope.spawn(move || {
            let r = fit_on_worker(spec, options, &worker_interrupt);
            let _ = tx.send(r);
        });
        loop {
            match rx.recv_timeout(INTERRUPT_POLL) {
                Ok(r) => return r,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if caught.is_none() {
                        if let Some(token) = pending_interrupt() {
                            caught = Some(token);
                            interrupt.trigger();
                        }
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Failure {
                        stage: "panic",
                        message: "internal error in the mcla library (please report it): the fit's worker thread ended without a result".into(),
                    })
                }
            }
        }
    });
    match caught {
        Some(token) => Err(Interruptible::Interrupted(token)),
        None => result.map_err(Interruptible::Failed),
    }
}

/// A failure, or R's interrupt to continue.
enum Interruptible {
    Failed(Failure),
    Interrupted(savvy::Error),
}

fn fit_on_worker(
    spec: ModelSpec,
    options: FitOptions,
    interrupt: &mcla::Interrupt,
) -> Result<Fitted, Failure> {
    guarded(move || {
        let model = Model::new(spec).map_err(|e| Failure {
            stage: "model",
            message: e.to_string(),
        })?;
        options.check(&model).map_err(|e| Failure {
            stage: "options",
            message: e.to_string(),
        })?;
        let fit =
            mcla::fit_interruptible(&model, &options, &mut |_| {}, interrupt).map_err(|e| {
                Failure {
                    stage: "fit",
                    message: e.to_string(),
                }
            })?;
        let eta = model.x_beta(fit.coef());
        let family = model.family();
        let mu = eta
            .iter()
            .zip(model.trials())
            .map(|(&e, &t)| family.mean(e, t))
            .collect();
        Ok(Fitted {
            fit,
            eta,
            mu,
            effect_names: model.effect_names().to_vec(),
        })
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
    /// An external pointer owning the fit (created when the list is built; boxed: a fit is
    /// large beside the other variants).
    Handle(Box<FitHandle>),
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
                Value::Handle(h) => {
                    // protected by set_name_and_value before anything else allocates
                    list.set_name_and_value(i, name, (*h).into_external_pointer())?;
                }
            }
        }
        Ok(list)
    }
}

fn encode_fit(fit: &Fit, eta: &[f64], mu: &[f64], effect_names: &[String], report: &str) -> Out {
    let mut o = Out::new();
    o.logicals("m_auto", &[fit.m_auto]);
    o.strings("effect_names", effect_names);
    o.reals("start_u", &fit.start_u);
    let mut ranef = Out::new();
    ranef.strings(
        "component",
        &fit.ranef
            .iter()
            .map(|r| r.component.as_str())
            .collect::<Vec<_>>(),
    );
    ranef.strings(
        "level",
        &fit.ranef
            .iter()
            .map(|r| r.level.as_str())
            .collect::<Vec<_>>(),
    );
    ranef.reals(
        "mean",
        &fit.ranef.iter().map(|r| r.mean).collect::<Vec<_>>(),
    );
    ranef.reals("sd", &fit.ranef.iter().map(|r| r.sd).collect::<Vec<_>>());
    ranef.reals(
        "mcse",
        &fit.ranef.iter().map(|r| r.mcse).collect::<Vec<_>>(),
    );
    o.put("ranef", Value::List(ranef));
    o.string("report", report);
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
    blocks.strings(
        "method",
        &fit.blocks.iter().map(|b| b.method.name()).collect::<Vec<_>>(),
    );
    blocks.reals(
        "draws",
        &fit.blocks
            .iter()
            .map(|b| b.draws as f64)
            .collect::<Vec<_>>(),
    );
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
    let inputs = read_spec(&spec).and_then(|s| {
        let o = read_options(&options)?;
        let info = read_report_info(&options)?;
        Ok((s, o, info))
    });
    let result = inputs
        .map_err(Interruptible::Failed)
        .and_then(|(s, o, mut info)| {
            let fitted = run(s, o)?;
            info.elapsed_seconds = fitted.fit.timings.total;
            let report = guarded(|| Ok(mcla::text_report(&fitted.fit, &info)))
                .map_err(Interruptible::Failed)?;
            Ok((fitted, report))
        });
    match result {
        Ok((f, report)) => {
            let mut o = Out::new();
            o.put(
                "fit",
                Value::List(encode_fit(&f.fit, &f.eta, &f.mu, &f.effect_names, &report)),
            );
            o.put(
                "handle",
                Value::Handle(Box::new(FitHandle {
                    fit: f.fit,
                    effect_names: f.effect_names,
                })),
            );
            Ok(o.build()?.into())
        }
        Err(Interruptible::Failed(f)) => encode_failure(&f),
        // R continues its interrupt after this call has returned (savvy's C wrapper)
        Err(Interruptible::Interrupted(token)) => Err(token),
    }
}

/// The fit behind an external pointer made by [`mcla_fit_impl`] (R passes only the `handle`
/// of an object of class "mcla"); `None` when the pointer is null (after `readRDS()`).
fn handle_of(s: Sexp) -> Result<&'static FitHandle, Failure> {
    let restored = || {
        Failure {
        stage: "input",
        message: "this fit was restored from a file (saveRDS/readRDS or a saved workspace), which keeps its numbers but not the library's fit object that predict() needs: run glmm() again in this session".into(),
    }
    };
    let ptr = ExternalPointerSexp::try_from(s).map_err(|_| restored())?;
    // SAFETY: R passes `object$handle` of a fit made by glmm(), which is an external pointer
    // created from a `FitHandle` (Value::Handle) or null after deserialisation; the fit object
    // keeps it alive during this call.
    let p = unsafe { ptr.cast_unchecked::<FitHandle>() };
    if p.is_null() {
        return Err(restored());
    }
    Ok(unsafe { &*p })
}

/// Predictions for new rows. `newdata` = list(x = <column-major n x p>, n, blocks = list of
/// list(i, j, x, names, component) (the new rows' random-effect design values, row indices from 0),
/// scale = "link" | "response", level).
fn predict(
    h: &FitHandle,
    newdata: &ListSexp,
) -> Result<Vec<mcla::infer::predict::Prediction>, Failure> {
    let fit = &h.fit;
    let n = as_usize(scalar(newdata, "n")?.unwrap_or(f64::NAN), "n")?;
    let x = required_reals(newdata, "x")?;
    let p = fit.p;
    if x.len() != n * p {
        return Err(input_error(format!(
            "internal: newdata x has {} values for {n} rows and {p} fixed effects",
            x.len()
        )));
    }
    let mut new = NewData {
        labels: (1..=n).map(|i| i.to_string()).collect(),
        x: (0..n)
            .map(|i| (0..p).map(|j| x[j * n + i]).collect())
            .collect(),
        z: vec![Vec::new(); n],
    };
    if let Some(blocks) = field(newdata, "blocks") {
        let blocks = ListSexp::try_from(blocks)
            .map_err(|_| input_error("internal: blocks must be a list"))?;
        for b in blocks.values_iter() {
            let b = ListSexp::try_from(b).map_err(|_| input_error("internal: block"))?;
            let rows = required_reals(&b, "i")?;
            let cols = required_reals(&b, "j")?;
            let vals = required_reals(&b, "x")?;
            let names = required_strings(&b, "names")?;
            let component = as_usize(scalar(&b, "component")?.unwrap_or(f64::NAN), "component")?;
            let known = flag(&b, "known")?.unwrap_or(true);
            for ((&i, &j), &v) in rows.iter().zip(&cols).zip(&vals) {
                let (i, j) = (as_usize(i, "i")?, as_usize(j, "j")?);
                let name = names
                    .get(j)
                    .ok_or_else(|| input_error("internal: block column out of range"))?;
                let row = new
                    .z
                    .get_mut(i)
                    .ok_or_else(|| input_error("internal: block row out of range"))?;
                row.push(NewEffect {
                    component,
                    value: v,
                    effect: if known {
                        h.effect_names.iter().position(|e| e == name)
                    } else {
                        None
                    },
                });
            }
        }
    }
    let scale = match required_strings(newdata, "scale")?
        .first()
        .map(String::as_str)
    {
        Some("link") => Scale::Link,
        Some("response") => Scale::Response,
        other => return Err(input_error(format!("internal: scale {other:?}"))),
    };
    let level = scalar(newdata, "level")?.unwrap_or(0.95);
    fit.predict_level(&new, scale, Kind::Conditional, level)
        .map_err(|e| Failure {
            stage: "predict",
            message: e.to_string(),
        })
}

/// Predictions from a fit (`predict.mcla`): `list(estimate, std_error, conf_low, conf_high,
/// mcse)` or `list(error, stage)`.
///
/// @noRd
#[savvy]
fn mcla_predict_impl(handle: Sexp, newdata: ListSexp) -> savvy::Result<Sexp> {
    let r = handle_of(handle).and_then(|h| guarded(|| predict(h, &newdata)));
    match r {
        Ok(rows) => {
            let mut o = Out::new();
            let col = |f: fn(&mcla::infer::predict::Prediction) -> f64| {
                rows.iter().map(f).collect::<Vec<_>>()
            };
            o.reals("estimate", &col(|r| r.estimate));
            o.reals("std_error", &col(|r| r.std_error));
            o.reals("conf_low", &col(|r| r.conf_low));
            o.reals("conf_high", &col(|r| r.conf_high));
            o.reals("mcse", &col(|r| r.mcse));
            Ok(o.build()?.into())
        }
        Err(f) => encode_failure(&f),
    }
}

fn model_summary(s: Sexp) -> Result<ModelSummary, Failure> {
    let l = ListSexp::try_from(s).map_err(|_| input_error("internal: model summary"))?;
    let rows = optional_reals(&l, "rows")?
        .map(|r| {
            r.iter()
                .map(|&v| as_usize(v, "rows"))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(ModelSummary {
        label: required_strings(&l, "label")?.join(" "),
        loglik: scalar(&l, "loglik")?.unwrap_or(f64::NAN),
        loglik_mcse: scalar(&l, "loglik_mcse")?.unwrap_or(0.0),
        n: as_usize(scalar(&l, "n")?.unwrap_or(f64::NAN), "n")?,
        fixed_names: field(&l, "fixed_names")
            .map_or(Ok(Vec::new()), |s| strings(s, "fixed_names"))?,
        varcomp_names: field(&l, "varcomp_names")
            .map_or(Ok(Vec::new()), |s| strings(s, "varcomp_names"))?,
        rows,
    })
}

/// Likelihood-ratio tests between fits (`anova.mcla`), by the library's `compare::anova`:
/// `models` is a list of list(label, loglik, loglik_mcse, n, fixed_names, varcomp_names, rows).
///
/// @noRd
#[savvy]
fn mcla_anova_impl(models: ListSexp) -> savvy::Result<Sexp> {
    let r = models
        .values_iter()
        .map(model_summary)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|m| {
            anova(&m).map_err(|e| Failure {
                stage: "anova",
                message: e.to_string(),
            })
        });
    match r {
        Ok(rows) => {
            let mut o = Out::new();
            let num = |v: Option<f64>| v.unwrap_or(f64::NAN);
            o.strings(
                "label",
                &rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(),
            );
            o.reals(
                "npar",
                &rows.iter().map(|r| r.npar as f64).collect::<Vec<_>>(),
            );
            o.reals("aic", &rows.iter().map(|r| r.aic).collect::<Vec<_>>());
            o.reals("bic", &rows.iter().map(|r| r.bic).collect::<Vec<_>>());
            o.reals("loglik", &rows.iter().map(|r| r.loglik).collect::<Vec<_>>());
            o.reals(
                "loglik_mcse",
                &rows.iter().map(|r| r.loglik_mcse).collect::<Vec<_>>(),
            );
            o.reals(
                "deviance",
                &rows.iter().map(|r| r.deviance).collect::<Vec<_>>(),
            );
            o.reals(
                "chisq",
                &rows.iter().map(|r| num(r.chisq)).collect::<Vec<_>>(),
            );
            o.reals(
                "chisq_mcse",
                &rows.iter().map(|r| num(r.chisq_mcse)).collect::<Vec<_>>(),
            );
            o.reals(
                "df",
                &rows
                    .iter()
                    .map(|r| num(r.df.map(|d| d as f64)))
                    .collect::<Vec<_>>(),
            );
            o.reals(
                "p_value",
                &rows.iter().map(|r| num(r.p_value)).collect::<Vec<_>>(),
            );
            o.strings(
                "note",
                &rows.iter().map(|r| r.note.as_str()).collect::<Vec<_>>(),
            );
            Ok(o.build()?.into())
        }
        Err(f) => encode_failure(&f),
    }
}

/// An lme4-style formula split by the library's formula crate (as the command line's
/// `--formula`): `list(fixed, random, names)` or `list(error, stage)`.
///
/// @noRd
#[savvy]
fn mcla_expand_formula_impl(text: &str) -> savvy::Result<Sexp> {
    match mcla_formula::expand_mixed_formula(text) {
        Ok(m) => {
            let mut o = Out::new();
            o.string("fixed", &m.fixed);
            o.strings("random", &m.random);
            o.strings("names", &m.names);
            Ok(o.build()?.into())
        }
        Err(e) => encode_failure(&Failure {
            stage: "input",
            message: e.to_string(),
        }),
    }
}

/// The command line's message for a random-effect formula with an intercept (the rule lives
/// in the formula crate's design builder; R decides the intercept with `terms()`).
///
/// @noRd
#[savvy]
fn mcla_random_intercept_message_impl(formula: &str, labels: StringSexp) -> savvy::Result<Sexp> {
    let labels: Vec<String> = labels.iter().map(str::to_string).collect();
    let e = mcla_formula::DesignError::random_intercept(formula, &labels);
    let mut s = OwnedStringSexp::new(1)?;
    s.set_elt(0, &e.to_string())?;
    Ok(s.into())
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
