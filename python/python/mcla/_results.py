"""The result of a fit, named as statsmodels names its results.

Every number comes from the engine (the command line's JSON); this module only arranges them
as pandas objects indexed by the printed parameter names.
"""

import json

import numpy as np
import pandas as pd

from . import _frame
from . import _scale


def _level(alpha):
    return 1.0 - float(alpha)


class WaldTestResults:
    """Wald tests of linear hypotheses (``mcla fit --test``)."""

    def __init__(self, tests, text):
        self.tests = tests
        self._text = text
        rows = []
        for t in tests:
            for r in t["rows"]:
                rows.append(dict(hypothesis=t["hypothesis"], **r))
        self.table = pd.DataFrame(rows)
        last = tests[-1] if tests else {}
        self.statistic = last.get("chisq")
        self.df = last.get("df")
        self.pvalue = last.get("p_value")
        self.statistic_mcse = last.get("chisq_mcse")

    def summary(self):
        return self._text

    def __str__(self):
        return self._text

    def __repr__(self):
        if len(self.tests) == 1:
            return f"<WaldTestResults: chi2 = {self.statistic:.4g}, df = {self.df}, p = {self.pvalue:.4g}>"
        return f"<WaldTestResults: {len(self.tests)} tests>"


class GLMMResults:
    """A fitted GLMM (from :func:`mcla.glmm` or :func:`mcla.glmer`).

    Attributes follow statsmodels: ``params`` (fixed effects then variance components),
    ``fe_params``, ``varcomps``, ``bse``, ``tvalues`` (= ``zvalues``), ``pvalues`` (variance
    components one-sided, as R glmm), ``llf``, ``aic``, ``bic``, ``nobs``; and Monte Carlo
    error: ``mcse``, ``mc_cov_params()``, ``ess`` (per block), ``m``.
    """

    def __init__(self, native, data, inputs=None):
        self._native = native
        self._data = data
        # (columns, options, call): what a worker needs to rebuild this fit
        self._inputs = inputs
        self._d = json.loads(native.json())
        d = self._d
        self._names = list(d["parameter_names"])
        self._p = len(d["coefficients"])

    # -- estimates ------------------------------------------------------------------------
    def _series(self, key, name=None):
        v = self._d[key]
        return pd.Series([v[n] for n in self._names], index=self._names, name=name or key, dtype=float)

    @property
    def param_names(self):
        return list(self._names)

    @property
    def params(self):
        fe = self._d["coefficients"]
        vc = self._d["varcomps"]
        vals = [fe[n] if k < self._p else vc[n] for k, n in enumerate(self._names)]
        return pd.Series(vals, index=self._names, name="params", dtype=float)

    @property
    def fe_params(self):
        return self.params.iloc[: self._p]

    @property
    def varcomps(self):
        return self.params.iloc[self._p :]

    @property
    def bse(self):
        return self._series("se", "bse")

    @property
    def zvalues(self):
        return self._series("z_values", "zvalues")

    tvalues = zvalues

    @property
    def pvalues(self):
        return self._series("p_values", "pvalues")

    @property
    def mcse(self):
        return self._series("mcse")

    def _matrix(self, key):
        return pd.DataFrame(np.array(self._d[key], dtype=float), index=self._names, columns=self._names)

    def cov_params(self):
        """Covariance of the estimates, ``(-H)^-1``."""
        return self._matrix("vcov")

    def mc_cov_params(self):
        """Monte Carlo covariance of the estimates (run-to-run variability at these data)."""
        return self._matrix("mcvcov")

    def conf_int(self, alpha=0.05, method="wald", params=None):
        """Confidence intervals: ``method="wald"`` (est ± z SE) or ``"profile"`` (profile
        likelihood of the MCLA, re-maximised over the other parameters; slow).  A DataFrame
        with columns ``lower`` and ``upper`` indexed by parameter."""
        level = _level(alpha)
        if method == "wald":
            rows = json.loads(self._native.confint(level))
            df = pd.DataFrame(rows, columns=["name", "lower", "upper"]).set_index("name")
        elif method == "profile":
            names = [] if params is None else ([params] if isinstance(params, str) else list(params))
            js, text = self._native.profile(names, level)
            df = pd.DataFrame(json.loads(js)).set_index("name")
            df.attrs["text"] = text
            return df[["lower", "upper"] + [c for c in df.columns if c not in ("lower", "upper")]]
        else:
            raise ValueError(f"method must be 'wald' or 'profile', not {method!r}")
        df.index.name = None
        if params is not None:
            df = df.loc[[params] if isinstance(params, str) else list(params)]
        return df

    # -- likelihood ---------------------------------------------------------------------------
    @property
    def llf(self):
        """The log-likelihood at the MLE (exact-likelihood approximation, with the data
        constants: comparable with lme4/glmmTMB)."""
        return float(self._d["loglik"])

    @property
    def llf_mcse(self):
        return float(self._d["loglik_mcse"])

    @property
    def aic(self):
        return self._native.criteria()[0]

    @property
    def bic(self):
        return self._native.criteria()[1]

    @property
    def nobs(self):
        return int(self._d["n"])

    # -- Monte Carlo and convergence ----------------------------------------------------------
    @property
    def ess(self):
        """Effective sample size of the importance weights, per independent block."""
        return np.array(self._d["ess"], dtype=float)

    @property
    def m(self):
        return int(self._d["m"])

    @property
    def converged(self):
        return bool(self._d["converged"])

    @property
    def warnings(self):
        return list(self._d["warnings"])

    @property
    def family(self):
        return self._d["family"]

    # -- inference ------------------------------------------------------------------------------
    def wald_test(self, hypothesis):
        """Wald test of linear hypotheses, e.g. ``"CrossR/R = CrossW/W"``; comma-separated
        restrictions are tested jointly; a list gives several tests."""
        hs = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
        return WaldTestResults(json.loads(self._native.wald(hs)), self._native.wald_text(hs))

    def predict(self, newdata=None, kind="conditional", scale="response", alpha=0.05):
        """Predictions with delta-method SEs and confidence limits for the rows of ``newdata``
        (default: the data of the fit).  ``kind="conditional"``: at the predicted random effects
        of levels seen in the fit (0 for new levels); ``"marginal"``: averaged over the random
        effects.  ``scale="response"`` (probabilities, means) or ``"link"``."""
        nd = self._data if newdata is None else _frame.as_pandas(newdata, "newdata")
        rows = json.loads(self._native.predict(_frame.columns(nd), kind, scale, _level(alpha)))
        df = pd.DataFrame(rows)
        if len(df) == len(nd):
            df.index = nd.index
        return df.drop(columns=["label", "kind", "scale"], errors="ignore")

    def emmeans(self, factor, kind="conditional", scale="response", alpha=0.05):
        """Estimated marginal means: one row per level of a factor of the fixed effects."""
        rows = json.loads(self._native.emmeans(factor, kind, scale, _level(alpha)))
        df = pd.DataFrame(rows).set_index("label")
        df.index.name = factor
        return df.drop(columns=["kind", "scale"], errors="ignore")

    def random_effects(self):
        """Conditional means E[u|y], SDs SD[u|y] and their MCSE, one row per random effect."""
        df = pd.DataFrame(json.loads(self._native.ranef()))
        if len(df):
            df = df.set_index(["component", "level"])
        return df

    # -- parametric bootstrap ---------------------------------------------------------------------
    def _payload(self):
        if self._inputs is None:
            raise RuntimeError("this fit has no inputs to send to workers")
        return ("fit", self._inputs, self._native.theta())

    def bootstrap(self, nsim=1000, seed=1234, client=None, chunk_size=None, threads=None,
                  alpha=0.05, progress=False):
        """Parametric bootstrap: ``nsim`` responses simulated from the fitted model, each
        refitted with the fit's own options (started at the estimate).

        Replicate r uses its own seed stream (from ``seed`` and r), so the replicates are the
        same bit for bit however they are run: locally on the engine's threads (``client=None``;
        ``threads`` as for the fit), or with ``client=`` a ``dask.distributed.Client`` or any
        ``concurrent.futures.Executor``, over which chunks of ``chunk_size`` replicates (default:
        about 4 chunks per worker) are mapped; each worker rebuilds the fit once from its inputs
        (and checks it is the same fit) and runs its chunks with ``threads`` engine threads
        (default 1 with a client).  Returns a :class:`BootstrapResults`.
        """
        bar = None
        if progress and client is None:
            from ._api import _Progress

            bar = _Progress()

        def local(a, b):
            return self._native.bootstrap(a, b, seed, threads, bar)

        try:
            reps = _scale.run(self._payload(), nsim, seed, client, chunk_size, threads, local)
        finally:
            if bar is not None:
                bar.close()
        summary = json.loads(self._native.summarise_bootstrap(json.dumps(reps), _level(alpha)))
        return BootstrapResults(reps, summary, self._names, seed)

    # -- output -----------------------------------------------------------------------------------
    def summary(self, alpha=None):
        """The command line's R-like report."""
        return self._native.text(None if alpha is None else _level(alpha))

    def to_dict(self):
        """The command line's JSON (``mcla fit --format json``) as a dict."""
        return json.loads(self._native.json())

    def to_json(self):
        """The command line's JSON (``mcla fit --format json``) as text."""
        return self._native.json()

    def __repr__(self):
        d = self._d
        return (
            f"<mcla.GLMMResults: {d['family']}, n = {d['n']}, {self._p} fixed effects, "
            f"{len(self._names) - self._p} variance components, loglik {d['loglik']:.4f} "
            f"(MCSE {d['loglik_mcse']:.2g}), m = {d['m']}, "
            f"{'converged' if d['converged'] else 'NOT converged'}>"
        )


def _replicate_frame(reps, names):
    rows = []
    for r in reps:
        row = {"index": r["index"]}
        theta = r.get("theta") or [np.nan] * len(names)
        se = r.get("se") or [np.nan] * len(names)
        for n, v in zip(names, theta):
            row[n] = float(v) if not isinstance(v, str) else float(v.replace("Inf", "inf"))
        for n, v in zip(names, se):
            row[f"se_{n}"] = float(v) if not isinstance(v, str) else float(v.replace("Inf", "inf"))
        ll = r.get("loglik")
        row["loglik"] = float(ll) if not isinstance(ll, str) else float(ll.replace("Inf", "inf"))
        row["converged"] = r.get("converged")
        row["error"] = r.get("error")
        rows.append(row)
    return pd.DataFrame(rows).set_index("index")


class BootstrapResults:
    """A parametric bootstrap (from :meth:`GLMMResults.bootstrap`).

    ``replicates``: one row per replicate (estimates, their SEs, log-likelihood, converged,
    error); ``se``: bootstrap standard errors; ``conf_int(method="percentile" | "basic")``;
    ``table``: per parameter the estimate, bootstrap mean, bias, SE, Wald SE, intervals and
    (variance components) the share of replicates on the boundary.  All computed by the engine
    (``mcla::infer::bootstrap``).
    """

    def __init__(self, reps, summary, names, seed):
        self._reps = reps
        self.summary_dict = summary
        self.seed = seed
        self.nsim = summary["nsim"]
        self.used = summary["used"]
        self.failed = summary["failed"]
        self.not_converged = summary["not_converged"]
        self.level = summary["level"]
        self.replicates = _replicate_frame(reps, names)
        rows = []
        for p in summary["parameters"]:
            rows.append(dict(
                name=p["name"], estimate=p["estimate"], mean=p["mean"], bias=p["bias"],
                se=p["se"], wald_se=p["wald_se"], percentile_lower=p["percentile"][0],
                percentile_upper=p["percentile"][1], basic_lower=p["basic"][0],
                basic_upper=p["basic"][1], boundary_share=p.get("boundary_share"),
            ))
        self.table = pd.DataFrame(rows).set_index("name")
        self.table.index.name = None

    @property
    def se(self):
        return self.table["se"].rename("bootstrap_se")

    def conf_int(self, method="percentile"):
        if method not in ("percentile", "basic"):
            raise ValueError(f"method must be 'percentile' or 'basic', not {method!r}")
        return self.table[[f"{method}_lower", f"{method}_upper"]].set_axis(["lower", "upper"], axis=1)

    def to_json(self):
        """The replicates as the engine's JSON (the same text however they were run)."""
        return json.dumps(self._reps)

    def __repr__(self):
        return (f"<mcla.BootstrapResults: {self.nsim} replicates, {self.used} used, "
                f"level {self.level}>")
