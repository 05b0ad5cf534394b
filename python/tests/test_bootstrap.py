"""Parametric bootstrap, bootstrap LRT and power from Python: the engine's replicates, the same
bit for bit however they are scheduled (threads, chunks, a process pool, a Dask cluster)."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import mcla


@pytest.fixture(scope="module")
def booth_hobert(shared):
    df = pd.read_csv(shared / "BoothHobert.csv", dtype={"z1": str})
    return mcla.glmm("y ~ 0 + x1", random="~ 0 + z1", varcomps_names=["z1"], data=df, seed=1)


def test_bootstrap_distribution_of_x1_agrees_with_lme4_bootmer(booth_hobert):
    """BoothHobert has one block (integrated exactly): 200 refits take a second.  The slope's
    sampling distribution is skewed to the right (near-separation in some replicates), so its
    bootstrap SD exceeds the Wald SE (1.342) instead of matching it: lme4's bootMer on the same
    model (glmer nAGQ = 25, nsim = 200, set.seed(1); BENCHMARKS.md) gives SD 1.81 (ratio 1.35)
    and quartiles 5.34, 6.13, 7.23, each with a Monte Carlo SD of about 0.15 at 200 replicates
    (the ratio too).  The same checks as the engine's test (tests/bootstrap.rs)."""
    b = booth_hobert.bootstrap(200, seed=11)
    assert b.nsim == 200 and b.used >= 190
    se_boot, se_wald = b.se["x1"], booth_hobert.bse["x1"]
    assert 1.0 <= se_boot / se_wald < 1.8, (se_boot, se_wald)
    assert b.table.loc["x1", "wald_se"] == se_wald
    x1 = b.replicates["x1"][b.replicates["converged"]]
    for q, lme4 in zip(np.quantile(x1, [0.25, 0.5, 0.75]), [5.34, 6.13, 7.23]):
        assert abs(q - lme4) < 0.6, (q, lme4)
    ci = b.conf_int("percentile")
    assert ci.loc["x1", "lower"] < booth_hobert.params["x1"] < ci.loc["x1", "upper"]
    assert list(b.replicates.columns[:2]) == ["x1", "z1"] and len(b.replicates) == 200
    # the variance component's bootstrap distribution has mass on the boundary (bootMer: its
    # 2.5 % quantile is 0)
    assert b.table.loc["z1", "boundary_share"] > 0.025
    assert ci.loc["z1", "lower"] < 1e-4


def test_replicates_are_bit_identical_however_they_are_run(booth_hobert):
    nsim, seed = 24, 5
    ref = booth_hobert.bootstrap(nsim, seed=seed, threads=1).to_json()
    runs = {
        "2 threads": booth_hobert.bootstrap(nsim, seed=seed, threads=2),
        "chunks of 5": booth_hobert.bootstrap(nsim, seed=seed, chunk_size=5),
        "thread pool": None,
        "process pool": None,
    }
    with ThreadPoolExecutor(2) as ex:
        runs["thread pool"] = booth_hobert.bootstrap(nsim, seed=seed, client=ex, chunk_size=7)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as ex:
        runs["process pool"] = booth_hobert.bootstrap(nsim, seed=seed, client=ex, chunk_size=9)
    for what, r in runs.items():
        assert r.to_json() == ref, what
    # another seed gives other replicates
    assert booth_hobert.bootstrap(4, seed=seed + 1).to_json() != \
        booth_hobert.bootstrap(4, seed=seed).to_json()


def test_dask_local_cluster_gives_the_same_replicates(booth_hobert):
    distributed = pytest.importorskip("distributed")
    nsim, seed = 24, 5
    ref = booth_hobert.bootstrap(nsim, seed=seed).to_json()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        for chunk in [None, 5, 24]:
            b = booth_hobert.bootstrap(nsim, seed=seed, client=client, chunk_size=chunk)
            assert b.to_json() == ref, chunk


def power_design(groups=20, per=10):
    g = np.repeat([f"g{k:02d}" for k in range(groups)], per)
    x = np.tile(np.linspace(-1, 1, per), groups)
    return pd.DataFrame({"g": g, "x": x})


def test_power_under_the_null_is_alpha():
    """beta_x = 0: the rejection rate of the Wald test is alpha within its Monte Carlo
    (Clopper-Pearson) interval."""
    p = mcla.power("y ~ x + (1 | g)", data=power_design(), beta=[0.2, 0.0], nu=[0.5],
                   parameter="x", nsim=400, seed=3, alpha=0.05)
    assert p.used >= 390
    lo, hi = p.conf_int
    assert lo <= 0.05 <= hi, (p.power, p.conf_int)
    assert p.rejections == int(p.replicates["reject"].sum())


def test_power_of_a_large_effect_is_near_one():
    p = mcla.power("y ~ x + (1 | g)", data=power_design(), beta=[0.0, 2.5], nu=[0.5],
                   parameter="x", nsim=40, seed=4)
    assert p.power >= 0.95
    with ThreadPoolExecutor(2) as ex:
        q = mcla.power("y ~ x + (1 | g)", data=power_design(), beta=[0.0, 2.5], nu=[0.5],
                       parameter="x", nsim=40, seed=4, client=ex, chunk_size=6)
    assert q.to_json() == p.to_json()


def test_bootstrap_likelihood_ratio_test(shared):
    df = pd.read_csv(shared / "BoothHobert.csv", dtype={"z1": str})
    f0 = mcla.glmer("y ~ 0 + x1 + (1 | z1)", data=df)
    f1 = mcla.glmer("y ~ x1 + (1 | z1)", data=df)
    t = mcla.compare(f0, f1, bootstrap=30, seed=2)
    b = t.attrs["bootstrap"]
    assert b["nsim"] == 30 and b["df"] == 1
    assert 1 / 31 <= b["p_value"] <= 1
    assert b["lrt"] == pytest.approx(t.iloc[1]["chisq"], rel=1e-12)
    with ThreadPoolExecutor(2) as ex:
        t2 = mcla.compare(f0, f1, bootstrap=30, seed=2, client=ex, chunk_size=4)
    assert t2.attrs["bootstrap"] == b


def test_bad_bootstrap_arguments(booth_hobert):
    with pytest.raises(ValueError, match="nsim"):
        booth_hobert.bootstrap(0)
    with pytest.raises(ValueError, match="chunk_size"):
        booth_hobert.bootstrap(5, chunk_size=0)
    with pytest.raises(TypeError, match="Executor"):
        booth_hobert.bootstrap(5, client=object())
    with pytest.raises(mcla.InputError, match="test"):
        mcla.power("y ~ x + (1 | g)", data=power_design(), beta=[0, 1], nu=[1], parameter="x",
                   test="t", nsim=5)
