"""Bad input raises mcla.InputError (a ValueError) with the command line's message, and the
interpreter goes on: a good fit works right after each failure."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mcla
from conftest import cli_error, cli_json

FIXED = "Mate ~ 0 + Cross"
RANDOM = ["~ 0 + Female", "~ 0 + Male"]
CLI_MODEL = ["--random", "~ 0 + Female", "--random", "~ 0 + Male", "--varcomps", "F,M"]


def small_fit_still_works(df):
    fit = mcla.glmm(FIXED, random=RANDOM, varcomps_names=["F", "M"], data=df, m=100)
    assert fit.converged


def test_input_error_is_a_value_error():
    assert issubclass(mcla.InputError, ValueError)
    assert issubclass(mcla.ConvergenceWarning, UserWarning)


def test_missing_column(salamander, shared, cli):
    with pytest.raises(mcla.InputError) as e:
        mcla.glmm("Mate ~ 0 + Crosss", random=RANDOM, varcomps_names=["F", "M"], data=salamander)
    ref = cli_error(cli, ["--data", shared / "salamander.csv", "--fixed", "Mate ~ 0 + Crosss", *CLI_MODEL])
    assert str(e.value) == ref
    assert "Crosss" in ref and "Cross" in ref
    small_fit_still_works(salamander)


def test_three_level_response(salamander, tmp_path, cli):
    df = salamander.copy()
    df.loc[5, "Mate"] = 2
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(mcla.InputError) as e:
        mcla.glmm(FIXED, random=RANDOM, varcomps_names=["F", "M"], data=df)
    ref = cli_error(cli, ["--data", tmp_path / "bad.csv", "--fixed", FIXED, *CLI_MODEL,
                          "--factor", "Female", "--factor", "Male"])
    assert str(e.value) == ref
    assert "bernoulli" in ref
    small_fit_still_works(salamander)


def test_negative_m(salamander, shared, cli):
    with pytest.raises(mcla.InputError) as e:
        mcla.glmm(FIXED, random=RANDOM, varcomps_names=["F", "M"], data=salamander, m=-5)
    ref = cli_error(cli, ["--data", shared / "salamander.csv", "--fixed", FIXED, *CLI_MODEL, "--m", "-5"])
    # the command line: invalid value '-5' for '--m <M>': <the parser's message>
    parser_text = ref.split(": ", 1)[1]
    assert str(e.value) == f"invalid value '-5' for m: {parser_text}"
    assert "must be at least 1" in parser_text
    small_fit_still_works(salamander)


@pytest.mark.parametrize("kw, cli_args", [
    (dict(family="gaussian"), ["--family", "gaussian"]),
    (dict(sampler="mcmc"), ["--sampler", "mcmc"]),
    (dict(mixture=[0.5, 0.5, 0.5]), ["--mixture", "0.5,0.5,0.5"]),
    (dict(level=1.5), ["--level", "1.5"]),
    (dict(threads=0), ["--threads", "0"]),
])
def test_option_values_are_checked_by_the_command_lines_parsers(salamander, shared, cli, kw, cli_args):
    with pytest.raises(mcla.InputError) as e:
        mcla.glmm(FIXED, random=RANDOM, varcomps_names=["F", "M"], data=salamander, **kw)
    ref = cli_error(cli, ["--data", shared / "salamander.csv", "--fixed", FIXED, *CLI_MODEL, *cli_args])
    assert str(e.value).split(": ", 1)[1] == ref.split(": ", 1)[1]


def test_option_checks_after_the_model(salamander, shared, cli):
    with pytest.raises(mcla.InputError) as e:
        mcla.glmm(FIXED, random=RANDOM, varcomps_names=["F", "M"], data=salamander,
                  par_init=[0, 0, 0])
    ref = cli_error(cli, ["--data", shared / "salamander.csv", "--fixed", FIXED, *CLI_MODEL,
                          "--par-init", "0,0,0"])
    assert str(e.value) == ref
    with pytest.raises(mcla.InputError) as e:
        mcla.glmm(FIXED, random=RANDOM, varcomps_names=["F"], data=salamander)
    ref = cli_error(cli, ["--data", shared / "salamander.csv", "--fixed", FIXED, "--random",
                          "~ 0 + Female", "--random", "~ 0 + Male", "--varcomps", "F"])
    assert str(e.value) == ref


def test_nan_is_missing_and_its_rows_are_dropped_as_by_the_command_line(salamander, tmp_path, cli):
    """NaN (and None, pd.NA) in a column the model uses is a missing value: the row is dropped
    with a DataWarning, exactly as the command line drops a row with an empty cell or NA."""
    df = salamander.copy()
    df["Mate"] = df["Mate"].astype(float)
    df.loc[[3, 50], "Mate"] = np.nan
    df.loc[7, "Cross"] = None
    df.to_csv(tmp_path / "na.csv", index=False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fit = mcla.glmm(FIXED, random=RANDOM, varcomps_names=["F", "M"], data=df, m=300)
    notes = [str(x.message) for x in w if issubclass(x.category, mcla.DataWarning)]
    assert notes == ["3 of 360 data rows dropped because they have a missing value (an empty cell "
                     "or one of --na-strings, e.g. NA) in a column the model uses"]
    assert fit.nobs == 357
    ref = cli_json(cli, ["--data", tmp_path / "na.csv", "--fixed", FIXED, *CLI_MODEL,
                         "--factor", "Female", "--factor", "Male", "--m", "300"])
    # Female/Male are numbers in the CSV written by pandas: the same levels as strings here
    # only in a different order, so compare the estimates to 1e-9 rather than bit for bit
    np.testing.assert_allclose([fit.to_dict()["coefficients"][k] for k in ref["coefficients"]],
                               list(ref["coefficients"].values()), rtol=1e-6)
    assert ref["n"] == 357 and ref["dropped_rows"] == 3


def test_infinite_values_are_an_error(salamander):
    df = salamander.copy()
    df["x"] = 1.0
    df.loc[2, "x"] = np.inf
    with pytest.raises(mcla.InputError, match="x"):
        mcla.glmm("Mate ~ 0 + Cross + x", random=RANDOM, varcomps_names=["F", "M"], data=df)


def test_data_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="pandas DataFrame"):
        mcla.glmm(FIXED, random=RANDOM, data=[1, 2, 3])
    with pytest.raises(TypeError):
        mcla.glmm(FIXED, random=RANDOM)
