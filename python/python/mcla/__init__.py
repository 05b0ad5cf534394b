"""mcla: exact maximum likelihood for generalized linear mixed models.

Generalized linear mixed models (bernoulli, binomial and poisson responses, independent normal
random effects) fitted by Monte Carlo likelihood approximation, the method of the R package
``glmm``, by the ``mcla`` engine (Rust).  Two spellings of a fit:

>>> fit = mcla.glmm("Mate ~ 0 + Cross", random=["~ 0 + Female", "~ 0 + Male"],
...                 varcomps_names=["F", "M"], data=df, family="bernoulli", seed=1234)
>>> fit = mcla.glmer("Mate ~ 0 + Cross + (1 | Female) + (1 | Male)", data=df,
...                  family="bernoulli")

Both return a :class:`GLMMResults` (statsmodels' names: ``params``, ``bse``, ``pvalues``,
``conf_int()``, ``summary()``, ...).  Everything is computed by the engine, with the same code
path, checks and messages as the command line ``mcla fit``; this package only converts pandas
data in and out.
"""

from ._mcla import InputError, version as _engine_version
from ._api import glmm, glmer, compare, power, PowerResults, ConvergenceWarning, DataWarning, MclaWarning
from ._results import GLMMResults, WaldTestResults, BootstrapResults

__version__ = _engine_version()

__all__ = [
    "glmm",
    "glmer",
    "compare",
    "power",
    "PowerResults",
    "BootstrapResults",
    "GLMMResults",
    "WaldTestResults",
    "InputError",
    "ConvergenceWarning",
    "DataWarning",
    "MclaWarning",
    "__version__",
]
