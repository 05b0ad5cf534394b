"""Long fits release the GIL, and Ctrl-C stops them within a second."""

import _thread
import threading
import time

import pytest

import mcla

RANDOM = ["~ 0 + Female", "~ 0 + Male"]


def test_the_gil_is_released_during_a_fit(salamander):
    count = 0
    during = {}
    stop = threading.Event()

    def counter():
        nonlocal count
        while not stop.is_set():
            count += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        time.sleep(0.05)
        start = count
        t0 = time.monotonic()
        mcla.glmm("Mate ~ 0 + Cross", random=RANDOM, varcomps_names=["F", "M"],
                  data=salamander, m=2000, seed=3)
        elapsed = time.monotonic() - t0
        during["count"] = count - start
    finally:
        stop.set()
        t.join()
    # a thread that held the GIL for the whole fit would leave the counter where it was; with
    # the GIL released the counter runs all along (millions of increments per second)
    assert elapsed > 0.2
    assert during["count"] > 10_000 * elapsed, (during, elapsed)


def test_ctrl_c_interrupts_a_long_fit_within_a_second(salamander):
    fired = {}

    def interrupt():
        fired["t"] = time.monotonic()
        _thread.interrupt_main()

    timer = threading.Timer(0.5, interrupt)
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        # m = 10^6 per block takes a minute or more
        mcla.glmm("Mate ~ 0 + Cross", random=RANDOM, varcomps_names=["F", "M"],
                  data=salamander, m=1_000_000, seed=3)
    done = time.monotonic()
    timer.join()
    assert "t" in fired and done - t0 < 30
    assert done - fired["t"] < 1.0, f"stopped {done - fired['t']:.2f} s after the interrupt"
    # the interpreter and the package still work
    fit = mcla.glmm("Mate ~ 0 + Cross", random=RANDOM, varcomps_names=["F", "M"],
                    data=salamander, m=100)
    assert fit.converged


def test_progress_goes_to_stderr_only_when_asked(salamander, capfd):
    mcla.glmm("Mate ~ 0 + Cross", random=RANDOM, varcomps_names=["F", "M"], data=salamander, m=200)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    mcla.glmm("Mate ~ 0 + Cross", random=RANDOM, varcomps_names=["F", "M"], data=salamander,
              m=200, progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    assert "mcla: " in err and "iteration" in err
