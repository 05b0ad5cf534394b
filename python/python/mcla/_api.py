"""The fitting functions: R glmm's spelling (:func:`glmm`) and lme4's (:func:`glmer`)."""

import json
import sys
import time
import warnings

from . import _frame
from . import _mcla
from . import _scale
from ._results import GLMMResults


class MclaWarning(UserWarning):
    """A warning of the engine about a fit (boundary estimates, low effective sample size, ...)."""


class ConvergenceWarning(MclaWarning):
    """The optimiser did not converge (or the MLE does not exist); the message says why."""


class DataWarning(MclaWarning):
    """A note about the data: rows dropped for missing values, empty columns dropped."""


# ---------------------------------------------------------------------------------------------
# Options as the command line's texts


def _text(v):
    """An option value as the text the command line would take (parsed by the engine)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _list_text(v):
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return ",".join(_text(x) for x in v)


def _levels(levels):
    """levels={"Cross": ["W/W", "R/R", ...]} -> ["Cross=W/W,R/R,..."]."""
    if levels is None:
        return []
    if not isinstance(levels, dict):
        raise TypeError("levels must be a dict {column: [level, ...]} (the first level is the reference)")
    return [f"{col}={','.join(str(x) for x in lv)}" for col, lv in levels.items()]


def _factors(factor):
    if factor is None:
        return []
    if isinstance(factor, str):
        return [factor]
    return [str(f) for f in factor]


def _options(kw):
    """The engine's option dict from the keyword arguments shared by glmm and glmer."""
    return {
        "family": _text(kw["family"]),
        "weights": kw["weights"],
        "m": _text(kw["m"]),
        "seed": _text(kw["seed"]),
        "threads": _text(kw["threads"]),
        "sampler": _text(kw["sampler"]),
        "nodes": _text(kw["nodes"]),
        "target_mcse_ratio": _text(kw["target_mcse_ratio"]),
        "target_loglik_mcse": _text(kw["target_loglik_mcse"]),
        "mixture": _list_text(kw["mixture"]),
        "zeta": _text(kw["zeta"]),
        "par_init": _list_text(kw["par_init"]),
        "no_pql": bool(kw["no_pql"]),
        "rmax": _text(kw["rmax"]),
        "iterlim": _text(kw["iterlim"]),
        "low_memory": bool(kw["low_memory"]),
        "subtrees": bool(kw.get("subtrees", False)),
        "level": _text(kw["level"]),
        "factor": _factors(kw["factor"]),
        "levels": _levels(kw["levels"]),
        "na_strings": _list_text(kw["na_strings"]) or "",
    }


def _call(fname, positional, kw, defaults):
    """The Python call shown in reports, with the arguments that differ from the defaults."""
    parts = [repr(p) for p in positional]
    for k, v in kw.items():
        if k == "data" or (k in defaults and defaults[k] == v and type(defaults[k]) is type(v)):
            continue
        parts.append(f"{k}={v!r}")
    parts.append("data=...")
    return f"mcla.{fname}({', '.join(parts)})"


# ---------------------------------------------------------------------------------------------
# Progress bar


class _Progress:
    """A one-line progress indicator on stderr (tqdm's when tqdm is installed)."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.bar = None
        try:
            from tqdm.auto import tqdm  # noqa: F401

            self.bar = tqdm(total=None, bar_format="{desc} [{elapsed}]", file=sys.stderr, leave=False)
        except ImportError:
            self.width = 0

    def __call__(self, message):
        if self.bar is not None:
            self.bar.set_description_str(f"mcla: {message}")
            return
        elapsed = int(time.monotonic() - self.t0)
        line = f"mcla: {message} [{elapsed // 60:02d}:{elapsed % 60:02d}]"
        pad = " " * max(0, self.width - len(line))
        self.width = len(line)
        sys.stderr.write("\r" + line + pad)
        sys.stderr.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Fitting


def _fit(args, data, call, progress):
    df = _frame.as_pandas(data)
    cols = _frame.columns(df)
    bar = _Progress() if progress else None
    try:
        native = _mcla.fit(cols, args, call, bar)
    finally:
        if bar is not None:
            bar.close()
    result = GLMMResults(native, df, (cols, args, call))
    for note in native.notes:
        warnings.warn(note, DataWarning, stacklevel=3)
    if not result.converged:
        warnings.warn(
            f"the fit did not converge: {result.to_dict()['stop_reason']}",
            ConvergenceWarning,
            stacklevel=3,
        )
    for w in result.warnings:
        warnings.warn(w, MclaWarning, stacklevel=3)
    return result


_COMMON_DEFAULTS = dict(
    weights=None,
    m="auto",
    seed=1234,
    threads=None,
    sampler="adaptive",
    nodes=10,
    target_mcse_ratio=0.02,
    target_loglik_mcse=0.01,
    mixture=None,
    zeta=5,
    par_init=None,
    no_pql=False,
    rmax=1000,
    iterlim=1000,
    low_memory=False,
    subtrees=False,
    level=0.95,
    factor=None,
    levels=None,
    na_strings=None,
    progress=False,
)


def glmm(
    fixed,
    random,
    varcomps_names=None,
    data=None,
    family="bernoulli",
    varcomps_equal=None,
    *,
    weights=None,
    m="auto",
    seed=1234,
    threads=None,
    sampler="adaptive",
    nodes=10,
    target_mcse_ratio=0.02,
    target_loglik_mcse=0.01,
    mixture=None,
    zeta=5,
    par_init=None,
    no_pql=False,
    rmax=1000,
    iterlim=1000,
    low_memory=False,
    subtrees=False,
    level=0.95,
    factor=None,
    levels=None,
    na_strings=None,
    progress=False,
):
    """Fit a GLMM with R glmm's arguments: ``mcla fit --fixed ... --random ...``.

    Parameters
    ----------
    fixed : str
        Two-sided fixed-effects formula, e.g. ``"Mate ~ 0 + Cross"``; a binomial response with
        trials is ``"cbind(successes, failures) ~ ..."``.
    random : str or list of str
        One-sided random-effect formulas, e.g. ``["~ 0 + Female", "~ 0 + Male"]``.
    varcomps_names : list of str, optional
        One name per distinct variance component (default: from the formulas).
    data : pandas.DataFrame
        The data (a polars DataFrame or a dict of columns also works).  Numeric columns are
        numbers (NaN is missing), ``Categorical`` columns keep their level order, string and
        object columns are factors with sorted levels.
    family : {"bernoulli", "binomial", "poisson"}
        R glmm's names (``"bernoulli.glmm"``, ...) are accepted too.
    varcomps_equal : list of int, optional
        Which component each random formula uses, numbered from 1 (``[1, 1, 2]``).
    weights : str, optional
        Column of non-negative observation weights.
    m : "auto" or int
        Monte Carlo sample size per independent block (``"auto"``: until every MCSE is at most
        ``target_mcse_ratio`` of its SE and the log-likelihood's at most ``target_loglik_mcse``).
    seed : int
        Seed of every random stream: the same seed gives the same answer for any ``threads``.
    threads : int, optional
        Worker threads (default: all cores); never changes the result.
    sampler : {"adaptive", "factorised", "joint"}
        The likelihood approximation (see the README).
    nodes, mixture, zeta, par_init, no_pql, rmax, iterlim, low_memory, subtrees
        As the command line's ``--nodes``, ``--mixture``, ... (``mcla fit --help``).
    level : float
        Confidence level of the Wald intervals in ``summary()`` and ``to_dict()``.
    factor : str or list of str
        Numeric columns to treat as factors (IDs coded as numbers).
    levels : dict
        Level orders, ``{"Cross": ["W/W", "R/R", "R/W", "W/R"]}`` (first = reference level).
    na_strings : list of str
        Strings in text columns read as missing (None and NaN always are).
    progress : bool
        Show a progress line on stderr while fitting.

    Returns
    -------
    GLMMResults

    Raises
    ------
    mcla.InputError
        Bad data or options, with the command line's message.
    KeyboardInterrupt
        Ctrl-C stops a running fit within about a second.
    """
    if data is None:
        raise TypeError("glmm() needs data=, a pandas DataFrame")
    if isinstance(random, str):
        random = [random]
    kw = dict(
        weights=weights, m=m, seed=seed, threads=threads, sampler=sampler, nodes=nodes,
        target_mcse_ratio=target_mcse_ratio, target_loglik_mcse=target_loglik_mcse,
        mixture=mixture, zeta=zeta, par_init=par_init, no_pql=no_pql, rmax=rmax,
        iterlim=iterlim, low_memory=low_memory, subtrees=subtrees, level=level, factor=factor, levels=levels,
        na_strings=na_strings, family=family,
    )
    args = _options(kw)
    args["fixed"] = fixed
    args["random"] = list(random)
    args["varcomps"] = _list_text(varcomps_names)
    args["varcomps_equal"] = _list_text(varcomps_equal)
    shown = dict(kw, random=list(random), varcomps_names=varcomps_names,
                 varcomps_equal=varcomps_equal, progress=progress)
    call = _call("glmm", [fixed], shown,
                 dict(_COMMON_DEFAULTS, family="bernoulli", varcomps_names=None, varcomps_equal=None))
    return _fit(args, data, call, progress)


def glmer(
    formula,
    data=None,
    family="bernoulli",
    *,
    weights=None,
    m="auto",
    seed=1234,
    threads=None,
    sampler="adaptive",
    nodes=10,
    target_mcse_ratio=0.02,
    target_loglik_mcse=0.01,
    mixture=None,
    zeta=5,
    par_init=None,
    no_pql=False,
    rmax=1000,
    iterlim=1000,
    low_memory=False,
    subtrees=False,
    level=0.95,
    factor=None,
    levels=None,
    na_strings=None,
    progress=False,
):
    """Fit a GLMM with lme4's formula: ``mcla fit --formula "y ~ x + (1 | g)"``.

    ``formula`` is lme4-style, e.g. ``"Mate ~ 0 + Cross + (1 | Female) + (1 | Male)"``; a
    binomial response with trials is ``"cbind(successes, failures) ~ ..."`` with
    ``family="binomial"``, and ``family="binomial"`` with a 0/1 response is the bernoulli
    model (as in lme4).  The variance components are named after the grouping factors.  The
    other arguments are those of :func:`glmm`.
    """
    if data is None:
        raise TypeError("glmer() needs data=, a pandas DataFrame")
    kw = dict(
        weights=weights, m=m, seed=seed, threads=threads, sampler=sampler, nodes=nodes,
        target_mcse_ratio=target_mcse_ratio, target_loglik_mcse=target_loglik_mcse,
        mixture=mixture, zeta=zeta, par_init=par_init, no_pql=no_pql, rmax=rmax,
        iterlim=iterlim, low_memory=low_memory, subtrees=subtrees, level=level, factor=factor, levels=levels,
        na_strings=na_strings, family=family,
    )
    args = _options(kw)
    args["formula"] = formula
    call = _call("glmer", [formula], dict(kw, progress=progress),
                 dict(_COMMON_DEFAULTS, family="bernoulli"))
    return _fit(args, data, call, progress)


def compare(*fits, labels=None, bootstrap=None, seed=1234, client=None, chunk_size=None,
            threads=None):
    """Likelihood-ratio tests between nested fits on the same rows (``mcla compare``, lme4's
    ``anova``), with the boundary correction for variance components tested at zero.

    Returns a pandas DataFrame, one row per model ordered by the number of parameters; its
    ``attrs["text"]`` is the command line's table.  With ``bootstrap=N`` (two models) the
    parametric-bootstrap likelihood-ratio test is added, as ``pbkrtest::PBmodcomp``: N
    responses simulated under the smaller model, both models refitted, p = (1 + #{LRT_r >=
    LRT_obs}) / (1 + N); ``attrs["bootstrap"]`` holds it (``p_value``, ``bartlett_p_value``,
    ...) and ``attrs["bootstrap_replicates"]`` the replicates.  ``client``, ``chunk_size``
    and ``threads`` as for :meth:`GLMMResults.bootstrap`.
    """
    import pandas as pd

    if len(fits) == 1 and isinstance(fits[0], (list, tuple)):
        fits = tuple(fits[0])
    for f in fits:
        if not isinstance(f, GLMMResults):
            raise TypeError(f"compare() takes fits returned by mcla.glmm/glmer, not {type(f).__name__}")
    if labels is None:
        labels = [f"model {k + 1}" for k in range(len(fits))]
    out = json.loads(_mcla.compare([f._native for f in fits], list(labels)))
    table = pd.DataFrame(out["anova"]).set_index("label")
    table.attrs["text"] = out["text"]
    if bootstrap is not None:
        if len(fits) != 2:
            raise ValueError("a bootstrap likelihood-ratio test compares two fits")
        small, large = sorted(fits, key=lambda f: len(f.params))
        payload = ("lrt", (small._payload(), large._payload()), None)

        def local(a, b):
            return _mcla.bootstrap_lrt(small._native, large._native, a, b, seed, threads)

        reps = _scale.run(payload, bootstrap, seed, client, chunk_size, threads, local)
        table.attrs["bootstrap"] = json.loads(
            _mcla.summarise_lrt(small._native, large._native, json.dumps(reps)))
        table.attrs["bootstrap_replicates"] = pd.DataFrame(reps).set_index("index")
    return table


class PowerResults:
    """A power study (from :func:`power`): ``power`` with its Clopper–Pearson interval
    ``conf_int`` (as ``simr::powerSim``), ``rejections`` of ``used`` simulations, and the
    ``replicates`` (estimate, SE, statistic, p-value, reject, converged, error)."""

    def __init__(self, reps, summary):
        import pandas as pd

        self.summary_dict = summary
        self.power = summary["power"]
        self.conf_int = tuple(summary["ci"])
        self.rejections = summary["rejections"]
        self.used = summary["used"]
        self.nsim = summary["nsim"]
        self.alpha = summary["alpha"]
        self.parameter = summary["parameter"]
        self.test = summary["test"]
        self._reps = reps
        self.replicates = pd.DataFrame(reps).set_index("index")

    def to_json(self):
        return json.dumps(self._reps)

    def __repr__(self):
        lo, hi = self.conf_int
        return (f"<mcla.PowerResults: power {self.power:.3f} ({lo:.3f}, {hi:.3f}) for "
                f"{self.parameter} ({self.test}, alpha {self.alpha}), {self.rejections} of "
                f"{self.used} rejected>")


def power(
    formula=None,
    data=None,
    beta=None,
    nu=None,
    parameter=None,
    *,
    fixed=None,
    random=None,
    varcomps_names=None,
    varcomps_equal=None,
    family="bernoulli",
    test="wald",
    alpha=0.05,
    nsim=1000,
    seed=1234,
    client=None,
    chunk_size=None,
    threads=None,
    conf_level=0.95,
    progress=False,
    **options,
):
    """The power of a test of one fixed effect for a planned design, by simulation and exact
    refits (as ``simr::powerSim``): "what is the power to detect beta_x = 0.3 with 40
    subjects x 20 items?".

    ``data`` is the design: a data frame of covariates and groups (its response column, if
    present, is replaced by simulated values).  The model is an lme4-style ``formula`` or
    ``fixed`` + ``random`` (as :func:`glmm`); ``beta`` (one value per fixed-effect column) and
    ``nu`` (one per variance component) are the truth; ``parameter`` is the tested fixed-effect
    column (H0: it is 0) by a Wald z test (``test="wald"``) or a likelihood-ratio test
    (``"lrt"``) at level ``alpha``.  Each simulated study is refitted with the fit options
    given as keywords (``m``, ``sampler``, ... as for :func:`glmm`); ``nsim``, ``seed``,
    ``client``, ``chunk_size`` and ``threads`` as for :meth:`GLMMResults.bootstrap`.
    Returns a :class:`PowerResults`.
    """
    if data is None or beta is None or nu is None or parameter is None:
        raise TypeError("power() needs data= (the design), beta=, nu= and parameter=")
    if (formula is None) == (fixed is None):
        raise TypeError("give the model as formula= (lme4-style) or as fixed= with random=")
    kw = dict(_COMMON_DEFAULTS)
    kw.update(options)
    kw["family"] = family
    unknown = set(kw) - set(_COMMON_DEFAULTS) - {"family"}
    if unknown:
        raise TypeError(f"power() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    args = _options(kw)
    if formula is not None:
        args["formula"] = formula
    else:
        args["fixed"] = fixed
        args["random"] = [random] if isinstance(random, str) else list(random or [])
        args["varcomps"] = _list_text(varcomps_names)
        args["varcomps_equal"] = _list_text(varcomps_equal)
    df = _frame.as_pandas(data)
    cols = _frame.columns(df)
    beta = [float(b) for b in beta]
    nu = [float(v) for v in nu]
    study = _mcla.power_study(cols, args, beta, nu, str(parameter), str(test), float(alpha))
    payload = ("power", (cols, args, beta, nu, str(parameter), str(test), float(alpha)), None)
    bar = _Progress() if progress and client is None else None

    def local(a, b):
        return study.replicates(a, b, seed, threads, bar)

    try:
        reps = _scale.run(payload, nsim, seed, client, chunk_size, threads, local)
    finally:
        if bar is not None:
            bar.close()
    summary = json.loads(study.summarise(json.dumps(reps), float(conf_level)))
    return PowerResults(reps, summary)
