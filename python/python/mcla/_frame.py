"""Columns of a data frame as the engine takes them (no statistics here: a conversion only).

Numbers go as little-endian float64 bytes (NaN and pandas' NA are missing), booleans as bytes
(2 = missing), pandas ``Categorical`` columns as their categories (in their order) with int64
codes, and every other column (strings, objects) as a list of ``str`` or ``None``: the engine
makes a factor of it with sorted levels, as R's ``factor()`` and the ``mcla`` command line do.
"""

import math

import numpy as np
import pandas as pd


def as_pandas(data, what="data"):
    """A pandas DataFrame from a pandas or polars DataFrame or a dict of columns."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        return pd.DataFrame(data)
    to_pandas = getattr(data, "to_pandas", None)  # polars, pyarrow tables
    if callable(to_pandas):
        return to_pandas()
    raise TypeError(
        f"{what} must be a pandas DataFrame (or a polars DataFrame or a dict of columns), "
        f"not {type(data).__name__}"
    )


def _missing(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def column(name, s):
    """One column: (name, kind, payload)."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        levels = [str(c) for c in dt.categories]
        codes = np.ascontiguousarray(s.cat.codes.to_numpy(), dtype="<i8")
        return (name, "categorical", (levels, codes.tobytes()))
    if pd.api.types.is_bool_dtype(dt):
        na = s.isna().to_numpy()
        vals = s.fillna(False).to_numpy(dtype=bool).astype(np.uint8)
        vals[na] = 2
        return (name, "logical", vals.tobytes())
    if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_complex_dtype(dt):
        arr = s.to_numpy(dtype="<f8", na_value=np.nan)
        return (name, "numeric", np.ascontiguousarray(arr).tobytes())
    return (name, "text", [None if _missing(v) else str(v) for v in s.tolist()])


def columns(df):
    """All columns of a pandas DataFrame, names as strings."""
    return [column(str(n), df.iloc[:, j]) for j, n in enumerate(df.columns)]
