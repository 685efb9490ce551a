"""What a worker process does for one cell: make the data, validate the contender against the
reference, prime it, warm it up, time it and record memory and the machine's load.

See the Timing and Peak memory sections of benchmarks/bench_suite.py's docstring.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
import traceback

from . import common
from .common import ADAM, DTYPES, LR, SEED
from .contenders import (NO_SOLVER_NOTE, NumpyAdamTrainer, TorchTrainer, Unsupported, backprop_has_solvers,
                         build_predictor, fast_path_name, reference_has_solvers, trainer_factory)
from .workloads import flops_train_iter, make_data


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

    def cores(self):
        busy = self._busy_s()
        if busy is None or self.busy is None:
            return None
        wall = time.perf_counter() - self.t
        own = sum(os.times()[:2]) - self.own
        if wall < 0.5:  # /proc/stat counts in clock ticks (10 ms): too coarse for a shorter window
            return None
        return max(0.0, (busy - self.busy - own) / wall)


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
    W = [w.copy() for w in W0]
    ref_losses = reference.train(Xs, ys, W, LR, k)
    ref_p = reference.predict_proba(Xs, W)
    tr = cls(Xs, ys, W0, hidden)
    what = f"{m} rows x {k} it vs reference" + (" (eager twin)" if contender == "torch_compile" else "")
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
    limit_blas(common.N_THREADS if contender in ("numpy", "sklearn") else 1)
    X, y = make_data(n, d, np.dtype(dtype))
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


def task_train(t):
    tr, X, y, check = prepare_train(t)
    mem = PeakRSS().start()
    load = loadavg()
    tr.reset()
    t0 = time.perf_counter()
    warm_losses = tr.run(X, y, t["warm_iters"], record=True)
    warm_s = time.perf_counter() - t0
    rss_first = mem.delta_bytes()
    est_fit = warm_s * t["iters"] / max(1, t["warm_iters"])
    slow = est_fit > t["slow_fit_s"] and t["repeats"] > 2 and not t.get("fixed_repeats")
    repeats = max(2, t["repeats"] - 1) if slow else t["repeats"]
    times = []
    foreign = ForeignLoad().start()
    for _ in range(repeats):
        if times and past_deadline(t, margin=times[-1]):
            break  # --quick budget: keep what we have
        times.append(time_fit(tr, X, y, t["iters"]))
    res = dict(status="ok", median_s=statistics.median(times), min_s=min(times), times=times, repeats=len(times),
               foreign_cores=foreign.cores(),
               warm_s=warm_s, warm_iters=t["warm_iters"], loss_head=warm_losses[:5], check=check,
               rss_delta_bytes=mem.delta_bytes(), rss_first_fit_bytes=rss_first, rss_method=mem.method,
               load1=load[0] if load else None)
    if t["contender"] == "torch_compile":
        steady_warm = res["median_s"] * t["warm_iters"] / t["iters"]
        res["compile_s"] = max(0.0, warm_s - steady_warm)
    return res


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
    limit_blas(common.N_THREADS if contender in ("numpy", "sklearn") else 1)
    X, y = make_data(n_rows, t["d"], np.dtype(dtype))
    W0 = reference.init_weights(t["d"], t["hidden"], np.random.default_rng(SEED), np.dtype(dtype))
    fn, label = build_predictor(contender, X, y, W0, t["hidden"])
    check = _precheck_predict(fn, contender, X, W0, dtype)
    return fn, X, label, check


def time_call(fn, X):
    t0 = time.perf_counter()
    fn(X)
    return time.perf_counter() - t0


def task_infer(t):
    fn, X, label, check = prepare_predictor(t, t["n"])
    fn(X)  # warm-up
    load = loadavg()
    times = []
    foreign = ForeignLoad().start()
    for _ in range(t["repeats"]):
        if times and past_deadline(t, margin=times[-1]):
            break
        times.append(time_call(fn, X))
    return dict(status="ok", median_s=statistics.median(times), min_s=min(times), times=times, repeats=len(times),
                foreign_cores=foreign.cores(),
                path=label, check=check, load1=load[0] if load else None)


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


def task_latency(t):
    import numpy as np

    fn, X, label, check = prepare_predictor(t, max(64, t["rows"]))
    Xq = np.ascontiguousarray(X[: t["rows"]])
    calls = calls_per_sample(fn, Xq, t["sample_s"])
    load = loadavg()
    per_call = []
    foreign = ForeignLoad().start()
    for _ in range(t["samples"]):
        per_call.append(latency_sample(fn, Xq, calls))
    return dict(status="ok", median_s=statistics.median(per_call), min_s=min(per_call), times=per_call,
                repeats=len(per_call), calls_per_sample=calls, path=label, check=check, foreign_cores=foreign.cores(),
                load1=load[0] if load else None)


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


TASKS = {"train": task_train, "infer": task_infer, "latency": task_latency, "scaling": task_scaling,
         "peak": task_peak}


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
