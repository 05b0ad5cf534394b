"""Running replicates (bootstrap, bootstrap LRT, power) locally or over a cluster.

The engine computes replicate r from its own seed stream ``replicate_seed(seed, r)``, so any
split of ``0..nsim`` into chunks, run anywhere, gives the same replicates bit for bit.  Here
the chunks are only scheduled: locally on the engine's thread pool, or with ``client=`` over a
``dask.distributed.Client`` or any ``concurrent.futures.Executor``.  Each task receives the
*inputs* of the fit (the data frame's columns and the options, a few hundred kB at most); a
worker refits them once (same seed, same options: the same fit bit for bit, which is checked)
and keeps that fit for its later chunks.  With Dask the inputs are scattered to every worker
once.
"""

import hashlib
import json
import math
import os
import pickle

from . import _mcla

# Fits rebuilt in this (worker) process, by the digest of their inputs.
_CACHE = {}
_CACHE_SIZE = 4


def _digest(payload):
    return hashlib.sha256(pickle.dumps(payload, protocol=4)).hexdigest()


def _rebuild(payload):
    """The native fit of `payload` = (kind, inputs, theta), rebuilt once per process."""
    key = _digest(payload)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    kind, inputs, theta = payload
    if kind == "fit":
        cols, args, call = inputs
        obj = _mcla.fit(cols, args, call)
        if obj.theta() != list(theta):
            raise RuntimeError(
                "the fit rebuilt on this worker differs from the original (its estimates are "
                "not bit-identical): the worker's mcla differs from the client's; install the "
                "same mcla version everywhere"
            )
    elif kind == "lrt":
        (small, large) = inputs
        obj = (_rebuild(small), _rebuild(large))
    elif kind == "power":
        cols, args, beta, nu, parameter, test, alpha = inputs
        obj = _mcla.power_study(cols, args, beta, nu, parameter, test, alpha)
    else:
        raise ValueError(f"unknown task kind {kind!r}")
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = obj
    return obj


def run_chunk(payload, start, stop, seed, threads):
    """Replicates start..stop of `payload` as a JSON list (the task a worker runs)."""
    kind = payload[0]
    obj = _rebuild(payload)
    if kind == "fit":
        return obj.bootstrap(start, stop, seed, threads)
    if kind == "lrt":
        small, large = obj
        return _mcla.bootstrap_lrt(small, large, start, stop, seed, threads)
    return obj.replicates(start, stop, seed, threads)


def _n_workers(client):
    info = getattr(client, "scheduler_info", None)
    if callable(info):  # dask.distributed.Client
        try:
            return max(1, len(info()["workers"]))
        except Exception:  # noqa: BLE001 - a scheduler without the key: a reasonable default
            return 1
    n = getattr(client, "_max_workers", None)  # concurrent.futures executors
    return max(1, int(n)) if n else (os.cpu_count() or 1)


def chunks(nsim, n_workers, chunk_size=None):
    """Split 0..nsim into chunks: `chunk_size` each, or about 4 per worker."""
    if chunk_size is None:
        chunk_size = max(1, math.ceil(nsim / (4 * n_workers)))
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be at least 1 (got {chunk_size})")
    chunk_size = int(chunk_size)
    return [(a, min(a + chunk_size, nsim)) for a in range(0, nsim, chunk_size)]


def run(payload, nsim, seed, client=None, chunk_size=None, threads=None, local=None):
    """All replicates 0..nsim as a list of dicts, in index order.

    Without `client`, `local(start, stop)` computes them here (the engine's thread pool).
    With a Dask client or an Executor the chunks are mapped over its workers; `threads` is the
    engine's thread count per chunk there (default 1: one core per task).
    """
    if isinstance(nsim, bool) or not isinstance(nsim, int) or nsim < 1:
        raise ValueError(f"nsim must be a whole number >= 1 (got {nsim!r})")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be a whole number from 0 to 2^64 - 1 (got {seed!r})")
    if client is None:
        if chunk_size is None:
            return json.loads(local(0, nsim))
        reps = []
        for a, b in chunks(nsim, 1, chunk_size):
            reps.extend(json.loads(local(a, b)))
        return reps
    threads = 1 if threads is None else threads
    parts = chunks(nsim, _n_workers(client), chunk_size)
    if hasattr(client, "scatter") and hasattr(client, "gather"):  # dask.distributed
        # hash=False: a key of its own, so that releasing an earlier identical scatter (a
        # previous call) cannot release this one
        data = client.scatter(payload, broadcast=True, hash=False)
        futures = [client.submit(run_chunk, data, a, b, seed, threads, pure=False) for a, b in parts]
        results = client.gather(futures)
    elif hasattr(client, "submit"):  # concurrent.futures.Executor
        futures = [client.submit(run_chunk, payload, a, b, seed, threads) for a, b in parts]
        results = [f.result() for f in futures]
    else:
        raise TypeError(
            "client must be a dask.distributed.Client or a concurrent.futures.Executor "
            f"(ThreadPoolExecutor, ProcessPoolExecutor), not {type(client).__name__}"
        )
    reps = []
    for r in results:
        reps.extend(json.loads(r))
    return reps
