"""Parametric-bootstrap benchmark of the Python package for BENCHMARKS.md (issue 15): wall
time of ``nsim`` refits of BoothHobert (one factor, integrated exactly) and salamander (two
crossed factors, the adaptive estimator with automatic m) on the engine's thread pool with 1
and 2 threads, and on a Dask ``LocalCluster`` of 2 single-threaded worker processes; the
distribution's overhead per replicate is the cluster's time less the 2-thread pool's, over
nsim.  Every way of running gives the same replicates (checked here, as in the tests).

    python python/benches/bench_bootstrap.py [--no-single-thread] [NSIM_BOOTH_HOBERT] [NSIM_SALAMANDER] [CHUNK]

(defaults 1000, 1000 and 25 replicates per chunk; run from the repository root with
``../shared`` beside it, after ``pip install ./python`` and ``pip install distributed``;
``--no-single-thread`` skips the 1-thread runs, which are the engine's own path, timed by
``cargo run --release --example bench_bootstrap``).
"""

import sys
import time
from pathlib import Path

import pandas as pd

import mcla

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def models():
    bh = pd.read_csv(SHARED / "BoothHobert.csv", dtype={"z1": str})
    sal = pd.read_csv(SHARED / "salamander.csv", dtype={"Female": str, "Male": str})
    yield "BoothHobert", mcla.glmm("y ~ 0 + x1", random="~ 0 + z1", varcomps_names=["z1"],
                                   data=bh, seed=1)
    yield "salamander", mcla.glmm("Mate ~ 0 + Cross", random=["~ 0 + Female", "~ 0 + Male"],
                                  varcomps_names=["F", "M"], data=sal, seed=1234)


def main():
    single = "--no-single-thread" not in sys.argv
    args = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    nsims = {"BoothHobert": args[0] if args else 1000,
             "salamander": args[1] if len(args) > 1 else 1000}
    chunk = args[2] if len(args) > 2 else 25
    import distributed

    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    startup = time.perf_counter() - t0
    print(f"LocalCluster of 2 worker processes started in {startup:.2f} s")
    print("| model | refits | how | wall time (s) | per refit (ms) | bootstrap SE (first) |")
    print("|---|---|---|---|---|---|")
    for name, fit in models():
        nsim = nsims[name]
        if nsim == 0:
            continue
        times, ref = {}, None
        hows = [("1 thread", {"threads": 1})] if single else []
        hows += [("2 threads", {"threads": 2}),
                 (f"LocalCluster, 2 workers, chunks of {chunk}",
                  {"client": client, "chunk_size": chunk})]
        for how, kw in hows:
            t = time.perf_counter()
            b = fit.bootstrap(nsim, seed=2026, **kw)
            wall = time.perf_counter() - t
            times[how] = wall
            if ref is None:
                ref = b.to_json()
            else:
                assert b.to_json() == ref, f"{name}: {how} gave other replicates"
            first = b.table.index[0]
            print(f"| {name} | {nsim} | {how} | {wall:.2f} | {1e3 * wall / nsim:.2f} | "
                  f"{first}: {b.se[first]:.4f} |")
        over = times[f"LocalCluster, 2 workers, chunks of {chunk}"] - times["2 threads"]
        print(f"| {name} | {nsim} | distribution overhead (cluster - 2 threads) | {over:.2f} | "
              f"{1e3 * over / nsim:.2f} | |")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
