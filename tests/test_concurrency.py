"""Threads and signals: the GIL is released, concurrent use is safe, Ctrl-C stops a fit cleanly."""

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import core_train, initial_weights, make_data

from backprop import NeuralNetwork

BACKENDS = ["cpp", "numpy"]


@pytest.mark.parametrize("n_threads", [1, None])
@pytest.mark.parametrize("backend", BACKENDS)
def test_many_threads_predicting_with_one_model_get_the_serial_results(backend, n_threads):
    X, y = make_data(1500, 12, seed=1)
    nn = NeuralNetwork(n_hidden=(24, 6), max_iter=20, random_state=0, backend=backend, n_threads=n_threads)
    nn.fit(X, y)
    chunks = [X[i::7] * s for i in range(7) for s in (1.0, -0.5)]  # 14 inputs of different sizes
    serial = [nn.predict_proba(c) for c in chunks]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(nn.predict_proba, chunks * 4))
    for i, p in enumerate(results):
        np.testing.assert_array_equal(p, serial[i % len(chunks)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_models_fitted_in_two_threads_at_once_equal_serial_fits(backend):
    problems = [make_data(800, 9, seed=2), make_data(1200, 5, np.float32, seed=3)]
    kws = [dict(n_hidden=(16, 4), random_state=1), dict(n_hidden=(7,), random_state=2)]

    def fit(i, barrier=None):
        nn = NeuralNetwork(max_iter=40, backend=backend, **kws[i])
        if barrier is not None:
            barrier.wait()
        return nn.fit(*problems[i])

    serial = [fit(0), fit(1)]
    for _ in range(3):
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(max_workers=2) as pool:
            concurrent = list(pool.map(fit, [0, 1], [barrier, barrier]))
        for a, b in zip(concurrent, serial):
            for Wa, Wb in zip(a.weights_, b.weights_):
                np.testing.assert_array_equal(Wa, Wb)
            np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_cpp_fit_and_predict_release_the_gil():
    """While one thread runs a long fit (or prediction), Python code in another keeps running."""
    X, y = make_data(3000, 40, seed=4)
    nn = NeuralNetwork(n_hidden=(64,), max_iter=100, random_state=0, n_threads=1)
    wide = NeuralNetwork(n_hidden=(256, 64), max_iter=1, random_state=0, n_threads=1).fit(X, y)
    X_big = np.repeat(X, 10, axis=0)

    for work in (lambda: nn.fit(X, y), lambda: wide.predict_proba(X_big)):
        worker = threading.Thread(target=work)
        ticks = []
        start = time.perf_counter()
        worker.start()
        while worker.is_alive():
            ticks.append(time.perf_counter())
            time.sleep(0.001)
        duration = time.perf_counter() - start
        worker.join()
        gaps = np.diff([start, *ticks])
        # With the GIL held, this thread would stall for about the whole call: one or two ticks.
        assert len(ticks) >= 10 and gaps.max() < max(0.05, duration / 3), (len(ticks), gaps.max(), duration)


CHILD = textwrap.dedent(
    """
    import json, signal, sys, time
    import numpy as np
    from backprop import NeuralNetwork

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if our parent ignores SIGINT
    backend = sys.argv[1]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 20))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)

    def interrupted_fit(nn):
        print("fitting", flush=True)
        try:
            nn.fit(X, y)
        except KeyboardInterrupt:
            return time.time()  # when the fit stopped
        return None

    # 1. a fitted model, warm-started into a fit that would run for a quarter of an hour
    nn = NeuralNetwork(n_hidden=(16,), max_iter=3, warm_start=True, random_state=0, backend=backend).fit(X, y)
    before, loss_before, proba_before = [W.copy() for W in nn.weights_], nn.loss_curve_.copy(), nn.predict_proba(X)
    nn.set_params(max_iter=10**6)
    stopped_at = interrupted_fit(nn)
    report = dict(
        stopped_at=stopped_at,
        weights_unchanged=all(np.array_equal(a, b) for a, b in zip(nn.weights_, before)),
        n_iter_unchanged=nn.n_iter_ == 3,
        loss_unchanged=bool(np.array_equal(nn.loss_curve_, loss_before)),
        predicts_as_before=bool(np.array_equal(nn.predict_proba(X), proba_before)),
    )
    print(json.dumps(report), flush=True)

    # 2. a fresh model stays unfitted
    fresh = NeuralNetwork(n_hidden=(16,), max_iter=10**6, random_state=0, backend=backend)
    stopped_at = interrupted_fit(fresh)
    print(json.dumps(dict(stopped_at=stopped_at, unfitted=not hasattr(fresh, "weights_"))), flush=True)
    fresh.set_params(max_iter=2).fit(X, y)  # and the next fit works
    print(json.dumps(dict(refit=fresh.n_iter_ == 2)), flush=True)
    """
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_stops_a_long_fit_quickly_and_leaves_the_model_consistent(backend):
    reports, latencies = [], []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, backend], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        try:
            for _ in range(2):
                assert child.stdout.readline().strip() == "fitting", child.stderr.read()
                time.sleep(0.3)  # well inside the fit (one iteration takes about a millisecond)
                sent = time.time()
                child.send_signal(signal.SIGINT)
                line = child.stdout.readline()
                assert line, child.stderr.read()
                reports.append(json.loads(line))
                assert reports[-1]["stopped_at"] is not None, "the fit was not interrupted"
                latencies.append(reports[-1].pop("stopped_at") - sent)
            reports.append(json.loads(child.stdout.readline()))
            assert child.wait(timeout=60) == 0, child.stderr.read()
        finally:
            child.kill()
    fitted, fresh, refit = reports
    assert fitted == dict(weights_unchanged=True, n_iter_unchanged=True, loss_unchanged=True, predicts_as_before=True)
    assert fresh == dict(unfitted=True) and refit == dict(refit=True)
    # "Within a fraction of a second": the C++ loop polls for signals every ~50 ms.
    assert max(latencies) < 0.5, latencies


STRESS = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import numpy as np
    from backprop import _core, reference
    from backprop._params import kernel_defaults

    options = dict(kernel_defaults(), solver_state=[], counters=None, order=None, epoch_hook=None)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = np.random.default_rng(1)
    for n in (200, 2000):  # one block (all threads on each block) and several parts
        X = rng.normal(size=(n, 20))
        y = (X[:, 0] > 0).astype(float)
        for trial in range(15):
            W = reference.init_weights(20, (16,), np.random.default_rng(0), np.float64)
            fire = threading.Timer(0.001 + 0.12 * rng.random(), os.kill, (os.getpid(), signal.SIGINT))
            try:  # on a busy machine the signal may come while start() still waits for the timer
                fire.start()
                _core.train(X, y, W, 1.0, 10**6, 2, **options)
            except KeyboardInterrupt:
                pass
            fire.join()
    print("done", flush=True)
    """
)


def test_ctrl_c_at_random_moments_never_deadlocks_the_thread_team():
    """Signals landing anywhere in an iteration (between blocks, at barriers) must stop every thread
    at the same point; a thread reading the stop verdict late once deadlocked the team."""
    out = subprocess.run([sys.executable, "-c", STRESS], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr


@pytest.mark.parametrize("batch_size", [None, 64])
def test_the_epoch_hook_sees_every_thread_s_update(batch_size):
    """The hook runs on thread 0 after the epoch's update: the weights it reads are the same,
    bit for bit, whatever the number of threads (the update's columns are split among them)."""
    
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 40))
    y = (X[:, 0] > 0).astype(np.float64)
    W0 = [rng.normal(size=(300, 41)) * 0.1, rng.normal(size=(1, 301)) * 0.1]  # 342 columns: 6 chunks

    def seen(n_threads):
        W = [w.copy() for w in W0]
        state = [np.zeros_like(w) for w in W] * 2
        state = [s.copy() for s in state]
        snapshots = []
        core_train(X, y, W, 0.01, 30, n_threads, solver="adam", batch_size=batch_size, solver_state=state,
                    epoch_hook=lambda epoch, loss: snapshots.append([w.copy() for w in W]))
        return snapshots

    serial = seen(1)
    for _ in range(3):
        for epoch, (got, want) in enumerate(zip(seen(3), serial)):
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w, err_msg=f"epoch {epoch + 1}")


@pytest.mark.parametrize("config", [
    dict(n_hidden=(8, 3), X=(4000, 20), kw={}),  # the article's shape: parts, narrow tail
    dict(n_hidden=(300,), X=(600, 40), kw=dict(solver="adam", batch_size=200)),  # cooperative blocks
])
def test_fits_on_busy_cores_equal_the_one_thread_fit(config):
    """With every core kept busy by other processes, the fit's thread 0 runs batches alone and
    brings the team back (how often depends on the machine): the results are those of one
    thread, bit for bit, and no thread is left behind."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=config["X"])
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.5).astype(np.float64)
    W0 = initial_weights(X.shape[1], config["n_hidden"], np.float64)

    def fit(n_threads):
        W = [w.copy() for w in W0]
        state = [np.zeros_like(w) for w in W] * 2 if config["kw"] else []
        state = [s.copy() for s in state]
        curve, _ = core_train(X, y, W, 0.5, 300, n_threads, solver_state=state, **config["kw"])
        return curve, W

    want_curve, want_W = fit(1)
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        time.sleep(0.2)
        for n_threads in (2, 3, 2):
            curve, W = fit(n_threads)
            np.testing.assert_array_equal(curve, want_curve)
            for a, b in zip(W, want_W):
                np.testing.assert_array_equal(a, b)
    finally:
        for p in spin:
            p.kill()
            p.wait()


POOL = textwrap.dedent(
    """
    import os, re, sys
    import numpy as np
    from backprop import _core

    def threads():
        return int(re.search(r"Threads:\\s+(\\d+)", open("/proc/self/status").read()).group(1))

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 20))
    y = (X[:, 0] > 0).astype(float)
    W = [rng.normal(size=(8, 21)) * 0.3, rng.normal(size=(1, 9)) * 0.3]

    def gradient(n_threads):
        return _core.loss_and_gradient(X, y, W, n_threads, activation="sigmoid", alpha=0.0)

    serial = gradient(1)
    before = threads()
    first = gradient(2)
    after_first = threads()
    again = [gradient(2) for _ in range(50)]
    print("helpers", after_first - before, threads() - before)
    print("same", all(r[0] == serial[0] and all(np.array_equal(a, b) for a, b in zip(r[1], serial[1]))
                      for r in [first, *again]))
    pid = os.fork()
    if pid == 0:  # the child has none of the parent's helpers: its team must still run, and agree
        child = gradient(2)
        ok = child[0] == serial[0] and all(np.array_equal(a, b) for a, b in zip(child[1], serial[1]))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status and forks")
def test_team_helpers_are_kept_between_calls_and_a_forked_child_makes_its_own():
    """Small calls made many times over (an L-BFGS evaluation) wake parked helpers instead of
    starting threads: the thread count stays as it is after the first call, every call gives the
    one-thread bits, and a child forked after the helpers exist (it has none of them) still runs
    its team.  A 2-thread team keeps its one helper parked (a thread started per call would be
    gone once the call returns)."""
    out = subprocess.run([sys.executable, "-c", POOL], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["helpers", "1", "1", "same", "True", "child", "0"], (out.stdout, out.stderr)


def test_a_callback_may_run_a_team_of_its_own_inside_a_fit():
    """The callback runs on the fit's thread 0, inside its team: a prediction it makes on several
    threads gets threads of its own (the kept helpers are busy) and the bits of one made outside."""
    X, y = make_data(20000, 20, seed=6)
    other = NeuralNetwork(n_hidden=(32,), max_iter=2, random_state=0, n_threads=2).fit(X, y)
    expected = other.predict_proba(X)
    seen = []

    def callback(model, n_iter, loss):
        seen.append(np.array_equal(other.predict_proba(X), expected))

    NeuralNetwork(n_hidden=(8,), max_iter=3, random_state=0, n_threads=2, callback=callback).fit(X, y)
    assert seen == [True, True, True]
