"""mcla.glmm and mcla.glmer against the command line: the same numbers for the same options.

The command line's JSON (`mcla fit --format json`) and the Python result's to_dict() must agree
in every number to 1e-12 (they run the same engine code on the same model: in practice the
numbers are bit-identical), and the two Python spellings must give identical estimates.
"""

import json

import numpy as np
import pandas as pd
import pytest

import mcla
from conftest import assert_same_json, cli_json

SALAMANDER_CLI = ["--fixed", "Mate ~ 0 + Cross", "--random", "~ 0 + Female", "--random",
                  "~ 0 + Male", "--varcomps", "F,M", "--family", "bernoulli", "--seed", "1234",
                  "--m", "1000"]


@pytest.fixture(scope="module")
def salamander_glmm(salamander):
    return mcla.glmm("Mate ~ 0 + Cross", random=["~ 0 + Female", "~ 0 + Male"],
                     varcomps_names=["F", "M"], data=salamander, family="bernoulli",
                     m=1000, seed=1234)


def test_salamander_glmm_equals_the_command_line_json(shared, cli, salamander_glmm):
    ref = cli_json(cli, ["--data", shared / "salamander.csv", *SALAMANDER_CLI])
    assert_same_json(salamander_glmm.to_dict(), ref)
    # to_json is the same document as to_dict
    assert json.loads(salamander_glmm.to_json()) == salamander_glmm.to_dict()


def test_salamander_glmer_equals_the_command_line_and_the_glmm_spelling(shared, cli, salamander,
                                                                         salamander_glmm):
    fit = mcla.glmer("Mate ~ 0 + Cross + (1 | Female) + (1 | Male)", data=salamander,
                     family="bernoulli", m=1000, seed=1234)
    ref = cli_json(cli, ["--data", shared / "salamander.csv", "--formula",
                         "Mate ~ 0 + Cross + (1 | Female) + (1 | Male)", "--family", "bernoulli",
                         "--seed", "1234", "--m", "1000"])
    assert_same_json(fit.to_dict(), ref)
    # the two spellings: identical numbers (the components are named after the factors)
    assert list(fit.params.index) == ["CrossR/R", "CrossR/W", "CrossW/R", "CrossW/W", "Female", "Male"]
    for attr in ["params", "bse", "mcse", "pvalues", "zvalues"]:
        np.testing.assert_array_equal(getattr(fit, attr).to_numpy(),
                                      getattr(salamander_glmm, attr).to_numpy(), err_msg=attr)
    np.testing.assert_array_equal(fit.cov_params().to_numpy(), salamander_glmm.cov_params().to_numpy())
    assert fit.llf == salamander_glmm.llf


def test_glmer_binomial_with_a_01_response_is_the_bernoulli_model(salamander, salamander_glmm):
    fit = mcla.glmer("Mate ~ 0 + Cross + (1 | Female) + (1 | Male)", data=salamander,
                     family="binomial", m=1000, seed=1234)
    np.testing.assert_allclose(fit.params.to_numpy(), salamander_glmm.params.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(fit.llf, salamander_glmm.llf, rtol=1e-9)


def test_result_names_follow_statsmodels(salamander_glmm):
    f = salamander_glmm
    names = ["CrossR/R", "CrossR/W", "CrossW/R", "CrossW/W", "F", "M"]
    d = f.to_dict()
    for s in [f.params, f.bse, f.zvalues, f.tvalues, f.pvalues, f.mcse]:
        assert isinstance(s, pd.Series) and list(s.index) == names
    assert list(f.fe_params.index) == names[:4] and list(f.varcomps.index) == ["F", "M"]
    assert f.bse["F"] == d["se"]["F"] and f.mcse["M"] == d["mcse"]["M"]
    assert f.llf == d["loglik"] and f.nobs == 360 and f.m == d["m"] >= 1000 and f.converged
    assert list(f.ess) == d["ess"]
    np.testing.assert_array_equal(f.cov_params().to_numpy(), np.array(d["vcov"]))
    np.testing.assert_array_equal(f.mc_cov_params().to_numpy(), np.array(d["mcvcov"]))
    ci = f.conf_int()
    assert list(ci.columns) == ["lower", "upper"]
    assert ci.loc["CrossW/R", "lower"] == d["confint"]["CrossW/R"][0]
    # AIC/BIC with lme4's definitions, from the engine (mcla::infer::compare::ModelSummary)
    assert f.aic == pytest.approx(-2 * f.llf + 2 * 6, rel=1e-12)
    assert f.bic == pytest.approx(-2 * f.llf + 6 * np.log(360), rel=1e-12)
    assert "Fixed Effects:" in f.summary() and "Call:\nmcla.glmm('Mate ~ 0 + Cross'" in f.summary()
    r = repr(f)
    assert r.startswith("<mcla.GLMMResults: bernoulli, n = 360") and "\n" not in r
    assert str(f) == r


def test_inference_matches_the_command_line(shared, cli, tmp_path, salamander, salamander_glmm):
    f = salamander_glmm
    new = salamander.iloc[[0, 100, 359]][["Cross", "Female", "Male"]]
    new.to_csv(tmp_path / "new.csv", index=False)
    ref = cli_json(cli, ["--data", shared / "salamander.csv", *SALAMANDER_CLI, "--test",
                         "CrossR/R = CrossW/W", "--emmeans", "Cross", "--predict",
                         tmp_path / "new.csv", "--predict-kind", "marginal"])
    w = f.wald_test("CrossR/R = CrossW/W")
    assert_same_json(w.tests, ref["tests"])
    assert "Wald test" in str(w) and w.df == 1
    # the emmeans of the command line are on its --predict-kind (marginal) and response scale
    em = f.emmeans("Cross", kind="marginal")
    assert list(em.index) == ["R/R", "R/W", "W/R", "W/W"]
    for row, r in zip(em.itertuples(), ref["emmeans"]["Cross"]):
        assert (row.estimate, row.std_error, row.conf_low, row.conf_high, row.mcse) == \
            (r["estimate"], r["std_error"], r["conf_low"], r["conf_high"], r["mcse"])
    p = f.predict(new, kind="marginal")
    assert list(p.index) == list(new.index)
    np.testing.assert_array_equal(p["estimate"].to_numpy(), [r["estimate"] for r in ref["predictions"]])
    np.testing.assert_array_equal(p["std_error"].to_numpy(), [r["std_error"] for r in ref["predictions"]])
    re = f.random_effects()
    assert len(re) == 120 and list(re.columns) == ["mean", "sd", "mcse"]
    assert re.loc[("F", "Female10"), "mean"] == ref["ranef"][0]["mean"]


def test_categorical_level_order_is_respected(shared, cli, salamander):
    order = ["W/W", "R/R", "R/W", "W/R"]
    df = salamander.assign(Cross=pd.Categorical(salamander["Cross"], categories=order))
    fit = mcla.glmm("Mate ~ Cross", random=["~ 0 + Female", "~ 0 + Male"],
                    varcomps_names=["F", "M"], data=df, m=500, seed=7)
    assert list(fit.fe_params.index) == ["(Intercept)", "CrossR/R", "CrossR/W", "CrossW/R"]
    ref = cli_json(cli, ["--data", shared / "salamander.csv", "--fixed", "Mate ~ Cross",
                         "--random", "~ 0 + Female", "--random", "~ 0 + Male", "--varcomps",
                         "F,M", "--levels", "Cross=" + ",".join(order), "--m", "500",
                         "--seed", "7"])
    assert_same_json(fit.to_dict(), ref)
    # levels= does the same for a string column
    fit2 = mcla.glmm("Mate ~ Cross", random=["~ 0 + Female", "~ 0 + Male"],
                     varcomps_names=["F", "M"], data=salamander, m=500, seed=7,
                     levels={"Cross": order})
    np.testing.assert_array_equal(fit2.params.to_numpy(), fit.params.to_numpy())


def test_booth_hobert_equals_the_command_line(shared, cli):
    df = pd.read_csv(shared / "BoothHobert.csv", dtype={"z1": str})
    fit = mcla.glmm("y ~ 0 + x1", random="~ 0 + z1", varcomps_names=["z1"], data=df)
    ref = cli_json(cli, ["--data", shared / "BoothHobert.csv", "--fixed", "y ~ 0 + x1",
                         "--random", "~ 0 + z1", "--varcomps", "z1"])
    assert_same_json(fit.to_dict(), ref)
    # the exact MLE (lme4, 25-point AGQ; ../shared/data/README.md): 6.132, 1.766, -44.056
    assert fit.params["x1"] == pytest.approx(6.132, abs=2e-3)
    assert fit.params["z1"] == pytest.approx(1.766, abs=2e-3)
    assert fit.llf == pytest.approx(-44.056, abs=2e-3)


def test_bacteria_equals_the_command_line(shared, cli):
    df = pd.read_csv(shared / "bacteria.csv", dtype={"ID": str})
    df["trt"] = pd.Categorical(df["trt"], categories=["placebo", "drug", "drug+"])
    fit = mcla.glmer("y2 ~ trt + I(week > 2) + (1 | ID)", data=df, family="bernoulli")
    ref = cli_json(cli, ["--data", shared / "bacteria.csv", "--formula",
                         "y2 ~ trt + I(week > 2) + (1 | ID)", "--levels", "trt=placebo,drug,drug+"])
    assert_same_json(fit.to_dict(), ref)
    assert list(fit.fe_params.index)[:3] == ["(Intercept)", "trtdrug", "trtdrug+"]


def test_radish2_poisson_equals_the_command_line(shared, cli):
    df = pd.read_csv(shared / "radish2.csv", dtype={"Block": str})
    fit = mcla.glmm("resp ~ Site * Region", random=["~ 0 + Block", "~ 0 + Pop"],
                    varcomps_names=["Block", "Pop"], data=df, family="poisson", m=500)
    ref = cli_json(cli, ["--data", shared / "radish2.csv", "--fixed", "resp ~ Site * Region",
                         "--random", "~ 0 + Block", "--random", "~ 0 + Pop", "--varcomps",
                         "Block,Pop", "--family", "poisson", "--m", "500"])
    assert_same_json(fit.to_dict(), ref)


def test_compare_is_the_command_lines_likelihood_ratio_test(shared, cli, salamander):
    f0 = mcla.glmer("Mate ~ 0 + Cross + (1 | Female)", data=salamander, m=500)
    f1 = mcla.glmer("Mate ~ 0 + Cross + (1 | Female) + (1 | Male)", data=salamander, m=500)
    table = mcla.compare(f0, f1, labels=["Mate ~ 0 + Cross + (1 | Female)",
                                         "Mate ~ 0 + Cross + (1 | Female) + (1 | Male)"])
    from conftest import run_cli
    code, out, err = run_cli(cli, ["compare", "--data", shared / "salamander.csv", "--model",
                                   "Mate ~ 0 + Cross + (1 | Female)", "--model",
                                   "Mate ~ 0 + Cross + (1 | Female) + (1 | Male)", "--m", "500",
                                   "--format", "json", "--quiet"])
    assert code == 0, err
    ref = json.loads(out)["anova"]
    assert list(table.index) == [r["label"] for r in ref]
    for (label, row), r in zip(table.iterrows(), ref):
        for k in ["npar", "aic", "bic", "loglik", "deviance"]:
            assert row[k] == pytest.approx(r[k], rel=1e-12), k
    assert table.iloc[1]["p_value"] == pytest.approx(ref[1]["p_value"], rel=1e-12)
    assert table.iloc[1]["boundary_components"] == 1
    assert "Chisq" in table.attrs["text"] or "chisq" in table.attrs["text"].lower()


def test_profile_intervals_contain_the_estimate(salamander):
    df = salamander
    fit = mcla.glmm("Mate ~ 0 + Cross", random=["~ 0 + Female", "~ 0 + Male"],
                    varcomps_names=["F", "M"], data=df, m=300)
    ci = fit.conf_int(method="profile", params=["F"])
    assert list(ci.index) == ["F"]
    lo, hi = ci.loc["F", "lower"], ci.loc["F", "upper"]
    assert lo < fit.params["F"] < hi
    assert "rofile" in ci.attrs["text"]


def test_subtrees_option_equals_the_command_line(cli, tmp_path):
    # subjects x items x 2 trials with a subject:item effect: subtrees=True integrates each
    # subject and its cells given the sampled items, as the command line's --subtrees
    rows = []
    for r in range(8 * 5 * 2):
        cell, s = r // 2, r // 10
        i = cell % 5
        rows.append(dict(y=int((r * 7 + s * 3 + i * 5) % 11 < 5 + s % 3), subj=f"s{s}",
                         item=f"i{i}", cell=f"c{s}_{i}", cond=(cell % 2) - 0.5))
    df = pd.DataFrame(rows)
    path = tmp_path / "subtrees.csv"
    df.to_csv(path, index=False)
    formula = "y ~ cond + (1 | subj) + (1 | item) + (1 | cell)"
    fit = mcla.glmer(formula, data=df, m=256, subtrees=True)
    ref = cli_json(cli, ["--data", path, "--formula", formula, "--m", "256", "--subtrees"])
    assert_same_json(fit.to_dict(), ref)
    assert fit.to_dict()["block_sizes"][0]["method"] == "sampled_separator_subtrees"
