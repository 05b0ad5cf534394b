"""Shared fixtures: the reference data in ../shared and the command line `mcla` to compare with.

Tests that need ../shared/data skip with a notice when it is absent, unless
MCLA_REQUIRE_REFERENCE=1 (CI), when they fail.  The command line is $MCLA_CLI, else
$CARGO_TARGET_DIR/release/mcla, else target/release/mcla of the repository (built by
`cargo build --release` or `cargo test --release`).
"""

import json
import math
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRE = os.environ.get("MCLA_REQUIRE_REFERENCE") == "1"


def _missing(what):
    if REQUIRE:
        pytest.fail(f"{what} (MCLA_REQUIRE_REFERENCE=1)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def shared():
    d = ROOT.parent / "shared" / "data"
    if not d.is_dir():
        _missing(f"reference data not found at {d}")
    return d


@pytest.fixture(scope="session")
def cli():
    candidates = []
    if os.environ.get("MCLA_CLI"):
        candidates.append(Path(os.environ["MCLA_CLI"]))
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "mcla")
    candidates.append(ROOT / "target" / "release" / "mcla")
    for c in candidates:
        if c.is_file():
            return c
    _missing(f"the mcla command line was not found ({', '.join(map(str, candidates))}); build it with cargo build --release")


def run_cli(cli, args):
    """(exit code, stdout, stderr) of `mcla ARGS`."""
    p = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def cli_json(cli, args):
    code, out, err = run_cli(cli, ["fit", *args, "--format", "json", "--quiet"])
    assert code == 0, err
    return json.loads(out)


def cli_error(cli, args):
    """The command line's error message (without `error: `) for a failing `mcla fit ARGS`."""
    code, out, err = run_cli(cli, ["fit", *args, "--quiet"])
    assert code != 0, out
    lines = [l for l in err.splitlines() if l.startswith("error: ")]
    assert lines, err
    return lines[-1][len("error: "):]


# Keys that differ between two runs of the same fit by nature: the call, the clock.
VOLATILE = {"call", "timings", "elapsed_seconds"}


def assert_same_json(a, b, tol=1e-12, path="", skip=VOLATILE):
    """Every number of `a` and `b` equal to `tol` (relative, absolute near 0), everything else
    equal, the same keys."""
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        ka = set(a) - skip
        kb = set(b) - skip
        assert ka == kb, f"{path}: keys differ: {sorted(ka ^ kb)}"
        for k in ka:
            assert_same_json(a[k], b[k], tol, f"{path}.{k}", skip=set())
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_json(x, y, tol, f"{path}[{i}]", skip=set())
    elif isinstance(a, bool) or a is None or isinstance(a, str):
        assert a == b, f"{path}: {a!r} vs {b!r}"
    elif isinstance(a, (int, float)):
        assert isinstance(b, (int, float)) and not isinstance(b, bool), f"{path}: {a!r} vs {b!r}"
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), f"{path}: {a!r} vs {b!r}"
        else:
            assert abs(a - b) <= tol * max(1.0, abs(a), abs(b)), f"{path}: {a!r} vs {b!r}"
    else:
        raise AssertionError(f"{path}: unexpected {type(a).__name__}")


@pytest.fixture(scope="session")
def salamander(shared):
    """salamander.csv as pandas reads it, the IDs and Cross as strings (R's factors)."""
    return pd.read_csv(shared / "salamander.csv", dtype={"Female": str, "Male": str, "Cross": str})
