"""What a worker process does for one cell: make the data, validate the contender against the
reference, prime it, warm it up, time it and record memory and the machine's load.

See the Timing and Peak memory sections of benchmarks/bench_suite.py's docstring.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import statistics
import sys
import time
import traceback

from . import common
from .common import ADAM, DTYPES, LR, SEED
from .contenders import (NO_SOLVER_NOTE, NumpyAdamTrainer, TorchTrainer, Unsupported, WeightedTrainer,
                         backprop_has_solvers, build_predictor, dropin_fit, fast_path_name, reference_has_solvers,
                         trainer_factory)
from .workloads import flops_train_iter, make_data, training_data


def _proc_status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakRSS:
    """Peak resident memory of what runs after start(), in bytes (see the module docstring)."""

    def start(self):
        import resource

        gc.collect()
        self.method = "ru_maxrss"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak-RSS mark (VmHWM; ru_maxrss reads the same counter)
            rss = _proc_status_kb("VmRSS")
            if rss is not None and _proc_status_kb("VmHWM") is not None:
                self.method = "VmHWM after clear_refs reset"
                self.base_kb = rss
                return self
        except OSError:
            pass
        self.base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def delta_bytes(self):
        import resource

        peak = _proc_status_kb("VmHWM") if self.method.startswith("VmHWM") else None
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0, peak - self.base_kb) * 1024


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


class ForeignLoad:
    """CPU used by everything except this process while it is measured, in cores (from /proc/stat).

    The machine is shared: other people's jobs, invisible from here, take CPU time that our
    timings then miss. This says how much, per cell.
    """

    @staticmethod
    def _busy_s():
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
            idle = v[3] + (v[4] if len(v) > 4 else 0)
            return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def start(self):
        self.t, self.busy, self.own = time.perf_counter(), self._busy_s(), sum(os.times()[:2])
        return self

    @classmethod
    def timed(cls, run) -> dict:
        """``run()``'s seconds (``s``), the wall time around it (``window``) and, where /proc/stat
        tells, the CPU seconds everything but this process used meanwhile (``others_s``)."""
        load = cls().start()
        reply = dict(s=run())
        reply["window"] = time.perf_counter() - load.t
        others = load.others_s()
        if others is not None:
            reply["others_s"] = others
        return reply

    def others_s(self):
        """CPU seconds everything but this process used since ``start``, or None."""
        busy = self._busy_s()
        if busy is None or self.busy is None:
            return None
        return max(0.0, busy - self.busy - (sum(os.times()[:2]) - self.own))

    def cores(self):
        others = self.others_s()
        wall = time.perf_counter() - self.t
        if others is None or wall < 0.5:  # /proc/stat counts in clock ticks (10 ms): too coarse for a shorter window
            return None
        return others / wall


BLAS_CONTENDERS = ("numpy", "article", "sklearn", "sklearn_dropin")  # they compute with numpy's BLAS


def limit_blas(n):
    """Cap numpy's BLAS threads (1 for contenders that do not use it, so idle OpenBLAS threads
    cannot spin against them); silently nothing without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n, user_api="blas")


class BudgetExhausted(Exception):
    pass


def past_deadline(t, margin=0.0):
    return t.get("deadline") is not None and time.time() + margin > t["deadline"]


CHECK_TOL = {"float64": dict(loss_rel=1e-8, proba_abs=1e-8), "float32": dict(loss_rel=1e-3, proba_abs=1e-3)}
XCHECK_TOL = {"float64": 1e-6, "float32": 1e-3}
XCHECK_TOL_RESHUFFLED = 0.05  # row (f), torch / sklearn: first-epoch losses over other permutations of the rows



def against_reference(tr, Xs, ys, k, ref_losses, ref_p, dtype, what):
    """A peer's k training steps from the reference's starting weights, compared with the reference's
    loss curve and probabilities (the cell's validation: the peers run the same algorithm)."""
    import numpy as np

    tr.reset()
    losses = tr.run(Xs, ys, k, record=True)
    p = np.asarray(tr.proba(Xs), dtype=np.float64)
    tol = CHECK_TOL[dtype]
    loss_rel = rel_diff(losses, ref_losses)
    proba_abs = float(np.max(np.abs(p - ref_p))) if p.size else 0.0
    agree = float(np.mean((p >= 0.5) == (ref_p >= 0.5)))
    ok = loss_rel <= tol["loss_rel"] and proba_abs <= tol["proba_abs"]
    return dict(ok=ok, what=what, loss_max_rel_diff=loss_rel, proba_max_abs_diff=proba_abs, label_agreement=agree)

def rel_diff(a, b):
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30))) if a.size else 0.0


def precheck_train(cls, contender, X, y, W0, hidden, iters, dtype):
    """Contender vs backprop.reference on a slice: loss curve and predictions after a few iterations."""
    import numpy as np

    from backprop import reference

    if contender == "numpy":
        return dict(ok=True, what="is the reference")
    if contender == "torch_compile":
        cls = TorchTrainer  # a second shape would make torch.compile recompile: check the eager twin here
    m = min(X.shape[0], 512)
    Xs, ys = np.ascontiguousarray(X[:m]), np.ascontiguousarray(y[:m])
    if ys.min() == ys.max():
        return dict(ok=True, what="skipped: slice holds one class")
    k = min(iters, 5)
    if contender == "cpp_weighted":  # the reference backend with the same sample weights
        ref = WeightedTrainer(Xs, ys, W0, hidden, backend="numpy")
        ref_losses = ref.run(Xs, ys, k, record=True)
        ref_p = np.asarray(ref.proba(Xs), dtype=np.float64)
        what = f"{m} rows x {k} it vs NeuralNetwork(backend='numpy'), same sample_weight"
    else:
        W = [w.copy() for w in W0]
        ref_losses = reference.train(Xs, ys, W, LR, k)
        ref_p = reference.predict_proba(Xs, W)
        what = f"{m} rows x {k} it vs reference" + (" (eager twin)" if contender == "torch_compile" else "")
    tr = cls(Xs, ys, W0, hidden)
    return against_reference(tr, Xs, ys, k, ref_losses, ref_p, dtype, what)


def precheck_minibatch(make, contender, X, y, W0, hidden, t, dtype):
    """Row (f): the contender vs the reference on a slice, a few epochs of mini-batch Adam.

    The slice (up to 640 rows) gives batches of 256, 256 and 128 at the full size: the shorter last batch
    is checked too. The estimator always shuffles (from random_state), so C++ is checked against the same
    estimator with backend="numpy" (same seed, same permutations); torch and scikit-learn run unshuffled
    against reference.train(..., solver="adam", batch_size=b) in natural order.
    """
    import numpy as np

    from backprop import reference

    if contender == "numpy":
        return dict(ok=True, what="is the reference")
    m = min(X.shape[0], 640)
    Xs, ys = np.ascontiguousarray(X[:m]), np.ascontiguousarray(y[:m])
    if ys.min() == ys.max():
        return dict(ok=True, what="skipped: slice holds one class")
    k = min(t["iters"], 2)
    if contender == "cpp":
        ref = NumpyAdamTrainer(Xs, ys, W0, hidden, lr=t["lr"], batch_size=t["batch_size"])
        ref_losses = ref.run(Xs, ys, k, record=True)
        ref_p = np.asarray(ref.proba(Xs), dtype=np.float64)
        what = f"{m} rows x {k} epochs vs NeuralNetwork(backend='numpy'), same shuffles"
        tr = make(Xs, ys, W0, hidden)
    else:
        if not reference_has_solvers():
            return dict(ok=True, what="skipped: backprop.reference.train has no solver='adam' in this build")
        W = [w.copy() for w in W0]
        ref_losses = reference.train(Xs, ys, W, t["lr"], k, solver="adam", batch_size=t["batch_size"], **ADAM)
        ref_p = reference.predict_proba(Xs, W)
        what = f"{m} rows x {k} epochs, natural order, vs reference.train(solver='adam')"
        tr = make(Xs, ys, W0, hidden, shuffle=False)
    return against_reference(tr, Xs, ys, k, ref_losses, ref_p, dtype, what)


def prepare_train(t):
    """One training cell up to its timed fits: the data, the check against the reference on a slice,
    the trainer primed on 64 rows; returns (trainer, X, y, check)."""
    import numpy as np

    contender, dtype = t["contender"], t["dtype"]
    n, d, hidden = t["n"], t["d"], t["hidden"]
    if contender == "torch_compile":
        os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # compile in-process: no worker pool left behind
    cls = trainer_factory(t)
    if t.get("solver") and contender in ("cpp", "numpy") and not backprop_has_solvers():
        raise Unsupported(NO_SOLVER_NOTE)
    # numpy's BLAS threads: all cores for the contenders that use numpy's BLAS, 1 for the others
    limit_blas(common.N_THREADS if contender in BLAS_CONTENDERS else 1)
    X, y = training_data(t, dtype)
    from backprop import reference

    W0 = reference.init_weights(d, hidden, np.random.default_rng(SEED), np.dtype(dtype))
    if t.get("solver"):
        check = precheck_minibatch(cls, contender, X, y, W0, hidden, t, dtype)
    else:
        check = precheck_train(cls, contender, X, y, W0, hidden, t["iters"], dtype)
    tr = cls(X, y, W0, hidden)
    # prime: first-use initialisation of the library on 64 rows (not for torch.compile: a new shape recompiles)
    if contender != "torch_compile":
        m = min(64, n)
        tr.reset()
        tr.run(np.ascontiguousarray(X[:m]), np.ascontiguousarray(y[:m]), 1)
    return tr, X, y, check


def time_fit(tr, X, y, iters):
    """One timed fit from the initial weights (reset outside the timed window)."""
    tr.reset()
    t0 = time.perf_counter()
    tr.run(X, y, iters)
    return time.perf_counter() - t0


def _p1(out):
    import numpy as np

    out = np.asarray(out, dtype=np.float64)
    return out[:, -1] if out.ndim == 2 else out.ravel()


def _precheck_predict(fn, contender, X, W0, dtype):
    import numpy as np

    from backprop import reference

    m = min(1000, X.shape[0])
    Xs = np.ascontiguousarray(X[:m])
    diff = float(np.max(np.abs(_p1(fn(Xs)) - reference.predict_proba(Xs, W0))))
    tol = CHECK_TOL[dtype]["proba_abs"]
    return dict(ok=diff <= tol, what=f"{m} rows vs reference", proba_max_abs_diff=diff)


def prepare_predictor(t, n_rows):
    """An inference or latency cell up to its timed calls: data of n_rows, the contender's predictor
    holding the initial weights, checked against the reference; returns (fn, X, label, check)."""
    import numpy as np

    from backprop import reference

    contender, dtype = t["contender"], t["dtype"]
    limit_blas(common.N_THREADS if contender in BLAS_CONTENDERS else 1)
    X, y = make_data(n_rows, t["d"], np.dtype(dtype))
    W0 = reference.init_weights(t["d"], t["hidden"], np.random.default_rng(SEED), np.dtype(dtype))
    fn, label = build_predictor(contender, X, y, W0, t["hidden"])
    check = _precheck_predict(fn, contender, X, W0, dtype)
    return fn, X, label, check


def time_call(fn, X):
    t0 = time.perf_counter()
    fn(X)
    return time.perf_counter() - t0


def calls_per_sample(fn, Xq, sample_s):
    """How many back-to-back calls of fn(Xq) take about sample_s seconds."""
    calls = 1  # calibrate: double until one batch of calls takes >= 10 ms
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(Xq)
        el = time.perf_counter() - t0
        if el >= 0.01 or calls >= 1 << 20:
            break
        calls *= 2
    return max(1, int(calls * sample_s / max(el, 1e-9)))


def latency_sample(fn, Xq, calls):
    """Seconds per call of fn(Xq), over `calls` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn(Xq)
    return (time.perf_counter() - t0) / calls


# ---------------------------------------------------------------------- interleaved cells
class Cell:
    """One cell set up in its worker process, ready for timed runs interleaved with its rivals'.

    ``timers`` maps a variant name ("" for most cells; the BLAS setting for numpy's BLAS users)
    to a callable that makes one timed run and returns its seconds (seconds per call for latency);
    ``info`` is what the set-up found (the validation, the warm-up); ``cleanup`` runs at the end.
    """

    def __init__(self, timers, info, mem=None, cleanup=None):
        self.timers, self.info, self.mem, self.cleanup = timers, info, mem, cleanup

    def time_once(self):
        return {v: fn() for v, fn in self.timers.items()}

    def finish(self):
        out = {}
        if self.mem is not None:
            out.update(rss_delta_bytes=self.mem.delta_bytes(), rss_method=self.mem.method)
        if self.cleanup is not None:
            self.cleanup()
        return out


def blas_timers(contender, timed, probe, info):
    """The timers of a cell.  A contender that computes with numpy's BLAS is timed at its best BLAS
    setting: ``probe`` (one short run of the same work: a timer itself, or returning None and timed
    here) runs once at each setting the suite tries, 1 thread and all of the run's threads
    (threadpoolctl, set outside the timed window), and every setting within
    common.BLAS_PROBE_SLACK of the fastest probe is timed in every round; the setting with the
    best median is the cell (interleave.cell_times).  The probes' seconds go into ``info``.
    Other contenders, or no threadpoolctl: ``timed`` alone."""
    if contender not in BLAS_CONTENDERS or importlib.util.find_spec("threadpoolctl") is None:
        return {"": timed}

    def under(n, fn):
        def run():
            with limit_blas(n):
                return fn()
        return run

    settings = {f"{n} BLAS thread{'s' if n > 1 else ''}": n for n in sorted({1, common.N_THREADS})}
    probe_s = {}
    for name, n in settings.items():
        t0 = time.perf_counter()
        seconds = under(n, probe)()  # a timer's own figure (seconds per call for latency), else the wall time
        probe_s[name] = seconds if seconds is not None else time.perf_counter() - t0
    info["blas_probe_s"] = probe_s
    fastest = min(probe_s.values())
    slack = common.BLAS_PROBE_SLACK
    return {name: under(n, timed) for name, n in settings.items() if probe_s[name] <= slack * fastest}


def setup_train(t):
    """Data, check on a slice, priming, then the warm-up fit (its losses and time, the memory meter started)."""
    tr, X, y, check = prepare_train(t)
    mem = PeakRSS().start()
    load = loadavg()
    tr.reset()
    t0 = time.perf_counter()
    warm_losses = tr.run(X, y, t["warm_iters"], record=True)
    warm_s = time.perf_counter() - t0
    info = dict(check=check, warm_s=warm_s, warm_iters=t["warm_iters"], loss_head=warm_losses[:5],
                rss_first_fit_bytes=mem.delta_bytes(), load1=load[0] if load else None,
                est_s=warm_s * t["iters"] / max(1, t["warm_iters"]))

    def timed():
        return time_fit(tr, X, y, t["iters"])

    def probe():
        tr.reset()
        tr.run(X, y, t["warm_iters"])

    return Cell(blas_timers(t["contender"], timed, probe, info), info, mem)


def setup_infer(t):
    fn, X, label, check = prepare_predictor(t, t["n"])
    load = loadavg()
    t0 = time.perf_counter()
    fn(X)  # warm-up
    info = dict(check=check, path=label, load1=load[0] if load else None, est_s=time.perf_counter() - t0)

    def timed():
        return time_call(fn, X)

    return Cell(blas_timers(t["contender"], timed, timed, info), info)


def setup_latency(t):
    import numpy as np

    if t["contender"] == "c_header":
        return setup_c_header(t)
    fn, X, label, check = prepare_predictor(t, max(64, t["rows"]))
    Xq = np.ascontiguousarray(X[: t["rows"]])
    if t["contender"] == "fann":
        Xq = Xq[0].tolist()  # FANN's run takes one row as a list of floats, built outside the loop
    calls = calls_per_sample(fn, Xq, t["sample_s"])
    load = loadavg()
    info = dict(check=check, path=label, calls_per_sample=calls, load1=load[0] if load else None,
                est_s=t["sample_s"])

    def timed():
        return latency_sample(fn, Xq, calls)

    return Cell(blas_timers(t["contender"], timed, timed, info), info)


def setup_c_header(t):
    """The model's C header (backprop.to_c) in a small C timing program (benchmarks/bench_export.py):
    each timed run is one round of calls in C, as many as take about sample_s."""
    import shutil
    import tempfile

    import numpy as np

    import bench_export
    from backprop import NeuralNetwork, reference

    if bench_export.c_compiler() is None:
        raise Unsupported("no C compiler (gcc or cc): C header cell skipped")
    dtype = np.dtype(t["dtype"])
    X, y = make_data(64, t["d"], dtype)
    W0 = reference.init_weights(t["d"], t["hidden"], np.random.default_rng(SEED), dtype)
    model = NeuralNetwork(n_hidden=tuple(t["hidden"]), max_iter=0, random_state=SEED, backend="cpp").fit(X, y)
    model.weights_ = [w.copy() for w in W0]
    folder = tempfile.mkdtemp(prefix="bench_suite_c_")
    exe = bench_export.build_c_timer(model, X[:2], folder)
    diff = float(np.max(np.abs(bench_export.c_header_proba(exe)[:, -1] - reference.predict_proba(X[:2], W0))))
    check = dict(ok=diff <= CHECK_TOL[t["dtype"]]["proba_abs"], what="2 rows vs reference", proba_max_abs_diff=diff)
    per_call_us = bench_export.run_c_timer(exe, 2000, 1)[0]
    calls = max(1, int(t["sample_s"] / max(per_call_us * 1e-6, 1e-9)))
    info = dict(check=check, path="model_predict_proba of backprop.to_c's header, called from C (gcc -O2)",
                calls_per_sample=calls, est_s=t["sample_s"])
    return Cell({"": lambda: bench_export.run_c_timer(exe, calls, 1)[0] * 1e-6}, info,
                cleanup=lambda: shutil.rmtree(folder, ignore_errors=True))


# largest weight difference, relative to each array's largest: in float32 the two libraries round
# differently, and Adam's first steps (m / sqrt(v) of tiny gradients) and L-BFGS's line searches
# amplify that to a few 1e-3 within a few iterations (benchmarks/bench_sklearn.py's docstring)
DROPIN_TOL = {"float64": 1e-9, "float32": 1e-2}


def setup_dropin(t):
    """Row (g): the data of benchmarks/bench_sklearn.py's row; the drop-in's cell also checks it against
    scikit-learn's class on a slice (same parameters, fewer iterations: the same model, weight for weight)."""
    import numpy as np

    from bench_sklearn import data as dropin_data
    from bench_sklearn import max_rel

    contender, kind, params = t["contender"], t["kind"], t["params"]
    limit_blas(common.N_THREADS if contender in BLAS_CONTENDERS else 1)
    X, y = dropin_data(t["data"], np.dtype(t["dtype"]))
    if contender == "dropin":
        m = min(X.shape[0], 1000)
        few = dict(params, max_iter=min(params.get("max_iter", 200), 10 if params.get("solver") == "lbfgs" else 2))
        ours = dropin_fit("dropin", kind, few, X[:m], y[:m])
        theirs = dropin_fit("sklearn_dropin", kind, few, X[:m], y[:m])
        diff = max_rel(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_)
        check = dict(ok=diff <= DROPIN_TOL[t["dtype"]], what=f"{m} rows x {few['max_iter']} it vs scikit-learn",
                     weight_max_rel_diff=diff)
    else:
        check = dict(ok=True, what="is the peer")
    mem = PeakRSS().start()
    t0 = time.perf_counter()
    dropin_fit(contender, kind, params, X, y)  # warm-up
    warm_s = time.perf_counter() - t0
    info = dict(check=check, warm_s=warm_s, est_s=warm_s)

    def timed():
        t0 = time.perf_counter()
        dropin_fit(contender, kind, params, X, y)
        return time.perf_counter() - t0

    return Cell(blas_timers(contender, timed, timed, info), info, mem)


SETUPS = {"train": setup_train, "infer": setup_infer, "latency": setup_latency, "dropin": setup_dropin}


def serve_json_lines(hello: dict, answer) -> int:
    """Answer JSON requests on stdin, one per line, with one JSON reply line each on stdout (after
    ``hello``), until stdin ends or ``answer(request)`` returns None.  While it serves, what the
    libraries print goes to stderr, so that it cannot corrupt the replies."""
    out, sys.stdout = sys.stdout, sys.stderr
    out.write(json.dumps(hello) + "\n")
    out.flush()
    for line in sys.stdin:
        reply = answer(json.loads(line))
        if reply is None:
            break
        out.write(json.dumps(reply, default=str) + "\n")
        out.flush()
    return 0


def serve_main():
    """A persistent worker (bench_suite.py --serve): JSON lines on stdin, one reply line each on stdout.

    ``setup`` (a task) builds its cell; ``time`` makes one timed run of every variant of the cell and
    reports the other jobs' CPU seconds during it; ``finish`` ends the cell (memory, clean-up); ``quit``.
    """
    cell = None

    def answer(msg):
        nonlocal cell
        try:
            if msg["op"] == "setup":
                cell = None
                gc.collect()
                cell = SETUPS[msg["task"]["type"]](msg["task"])
                return dict(status="ok", **cell.info)
            if msg["op"] == "time":
                started = time.time()
                return dict(status="ok", started=started, **ForeignLoad.timed(cell.time_once))
            if msg["op"] == "finish":
                reply, cell = dict(status="ok", **(cell.finish() if cell is not None else {})), None
                return reply
            return None
        except Unsupported as exc:
            cell = None
            return dict(status="skipped", note=str(exc))
        except ImportError as exc:
            cell = None
            return dict(status="skipped", note=f"not importable: {exc}")
        except Exception as exc:  # noqa: BLE001 - the orchestrator reports it and goes on with the next cell
            cell = None
            return dict(status="failed", note=traceback.format_exception_only(type(exc), exc)[-1].strip()[:300])

    return serve_json_lines(dict(ok=True, pid=os.getpid()), answer)



def task_scaling(t):
    """C++ fit time against N (fixed iterations) and against max_iter (fixed N)."""
    import numpy as np

    from backprop import NeuralNetwork

    limit_blas(1)
    out = dict(status="ok", by_n=[], by_iter=[])

    def timed(X, y, iters):
        model = NeuralNetwork(n_hidden=tuple(t["hidden"]), max_iter=iters, random_state=SEED, backend="cpp",
                              n_threads=common.CPP_THREADS)
        model.set_params(max_iter=max(1, iters // 10)).fit(X, y)  # warm-up
        model.set_params(max_iter=iters)
        ts = []
        foreign = ForeignLoad().start()
        for _ in range(t["repeats"]):
            if ts and past_deadline(t, margin=ts[-1]):
                break
            t0 = time.perf_counter()
            model.fit(X, y)
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts), min(ts), foreign.cores()

    for dtype in t["dtypes"]:
        for n in t["ns"]:
            if past_deadline(t):
                out["note"] = "cut short: time budget of the run exhausted"
                break
            X, y = make_data(n, t["d"], np.dtype(dtype))
            med, mn, fc = timed(X, y, t["n_iters"])
            out["by_n"].append(dict(dtype=dtype, n=n, iters=t["n_iters"], median_s=med, min_s=mn, foreign_cores=fc,
                                    gflops=flops_train_iter(n, t["d"], t["hidden"]) * t["n_iters"] / med / 1e9))
        X, y = make_data(t["iter_n"], t["d"], np.dtype(dtype))
        for iters in t["iters"]:
            if past_deadline(t):
                out["note"] = "cut short: time budget of the run exhausted"
                break
            med, mn, fc = timed(X, y, iters)
            out["by_iter"].append(dict(dtype=dtype, n=t["iter_n"], iters=iters, median_s=med, min_s=mn, foreign_cores=fc,
                                       gflops=flops_train_iter(t["iter_n"], t["d"], t["hidden"]) * iters / med / 1e9))
    return out


def task_peak(t):
    """GFLOP/s of a large square numpy matmul on all cores, float64 and float32 (best of 3), plus versions."""
    import numpy as np

    info = dict(status="ok", n=t["n"], numpy=np.__version__)
    limit_blas(common.N_THREADS)
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture", "threading_layer", "num_threads")}
            for p in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = None
    try:
        import backprop
        from backprop import _core

        info["backprop"] = backprop.__version__
        info["isa"] = getattr(_core, "isa", "?")
        info["default_threads"] = _core.default_threads()
        info["fast_path"] = fast_path_name()
    except Exception as exc:  # noqa: BLE001
        info["backprop_error"] = repr(exc)
    n = t["n"]
    rng = np.random.default_rng(SEED)
    for dtype in DTYPES:
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        c = a @ b  # warm-up
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            runs.append(2.0 * n**3 / (time.perf_counter() - t0) / 1e9)
        info[dtype] = dict(gflops=max(runs), runs=runs)
        del a, b, c
    info["load"] = loadavg()
    return info


TASKS = {"scaling": task_scaling, "peak": task_peak}


def worker_main(spec_path, out_path):
    with open(spec_path) as f:
        tasks = json.load(f)
    results = []
    for t in tasks:
        t0 = time.perf_counter()
        try:
            if past_deadline(t):
                raise BudgetExhausted()
            res = TASKS[t["type"]](t)
        except BudgetExhausted:
            res = dict(status="skipped", note="time budget of the run exhausted (busy machine?)")
        except Unsupported as exc:
            res = dict(status="skipped", note=str(exc))
        except ImportError as exc:
            res = dict(status="skipped", note=f"not importable: {exc}")
        except Exception as exc:  # noqa: BLE001 - report and continue with the next cell
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            res = dict(status="failed", note=tb[:300])
        res["task"] = t
        res["task_s"] = time.perf_counter() - t0
        results.append(res)
        with open(out_path, "w") as f:  # after every task: partial results survive a crash or timeout
            json.dump(results, f)
        gc.collect()
    return 0
