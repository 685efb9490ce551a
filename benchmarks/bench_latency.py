"""One-row prediction latency: ``predict_proba`` and ``predict_proba_unchecked`` of a fitted model
called from Python in a loop, each measured in several fresh processes, beside FANN's ``run``
(the ``fann2`` package, when it is installed) in the same loop.

    python benchmarks/bench_latency.py                      # this install
    python benchmarks/bench_latency.py --python A/bin/python --python B/bin/python

With several ``--python`` interpreters (say, two virtual environments with two builds of
backprop), their processes alternate, A B A B ..., so that a change in the machine's load
falls on all of them alike.  Each process fits the model (random data, ``max_iter`` 5), then
times ``--repeats`` loops of ``--calls`` calls of each path, in turn, on one C-contiguous row
of the model's dtype; it reports the median and the minimum of the per-call times, by the wall
clock and by the thread's CPU time (``time.thread_time``).  The table gives, per interpreter
and path, the median and minimum over processes of those, and every process's wall-clock
median (a spread between processes shows there).  On a shared machine the wall clock also
counts the time other processes held the core (a loop of microsecond calls is preempted many
times), which the CPU time leaves out: compare the two, and read the ratios of interleaved
runs rather than absolute values.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PATHS = ("predict_proba", "predict_proba_unchecked", "fann")


def _child(hidden: tuple, d: int, dtype_name: str, calls: int, repeats: int) -> dict:
    import warnings

    import numpy as np

    import backprop

    dtype = np.dtype(dtype_name)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, d)).astype(dtype)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # five iterations do not converge: not the point here
        nn = backprop.NeuralNetwork(n_hidden=hidden, max_iter=5, random_state=0).fit(X, y)
    x = np.ascontiguousarray(X[:1])
    fns = {"predict_proba": (nn.predict_proba, x), "predict_proba_unchecked": (nn.predict_proba_unchecked, x)}
    try:
        from fann2 import libfann

        if dtype == np.float64:  # fann2 computes in double
            ann = libfann.neural_net()
            ann.create_standard_array([d, *hidden, 1])
            ann.set_activation_function_hidden(libfann.SIGMOID)
            ann.set_activation_function_output(libfann.SIGMOID)
            fns["fann"] = (ann.run, x[0].tolist())
    except ImportError:
        pass
    wall: dict = {name: [] for name in fns}
    cpu: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (f, arg) in fns.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            for _ in range(calls):
                f(arg)
            cpu[name].append((time.thread_time() - c0) / calls)
            wall[name].append((time.perf_counter() - t0) / calls)
    return {name: {"median": statistics.median(wall[name]), "min": min(wall[name]),
                   "cpu_median": statistics.median(cpu[name]), "cpu_min": min(cpu[name])} for name in fns}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.3f}"


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", help="interpreter to measure (repeatable; default: this one)")
    parser.add_argument("--hidden", action="append", help="hidden layers, e.g. 8,3 (repeatable; default 8,3 and 32,16)")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--dtype", action="append", choices=["float64", "float32"], help="default: both")
    parser.add_argument("--processes", type=int, default=5, help="fresh processes per interpreter and model")
    parser.add_argument("--calls", type=int, default=20000, help="calls per timed loop")
    parser.add_argument("--repeats", type=int, default=7, help="timed loops per path in each process")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        hidden, d, dtype = json.loads(args.child)
        print(json.dumps(_child(tuple(hidden), d, dtype, args.calls, args.repeats)))
        return
    pythons = args.python or [sys.executable]
    models = [tuple(int(h) for h in s.split(",") if h) for s in (args.hidden or ["8,3", "32,16"])]
    dtypes = args.dtype or ["float64", "float32"]
    print(f"{args.processes} processes per cell, {args.repeats} loops of {args.calls} calls each; "
          f"microseconds per call: median and min over processes of each process's median and min, "
          f"by the wall clock and by CPU time")
    for hidden in models:
        for dtype in dtypes:
            spec = json.dumps([list(hidden), args.features, dtype])
            runs: dict = {p: [] for p in pythons}
            for _ in range(args.processes):
                for python in pythons:  # A B A B ...: drift in the machine's load falls on both
                    out = subprocess.run([python, __file__, "--child", spec, "--calls", str(args.calls),
                                          "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
                    runs[python].append(json.loads(out.stdout))
            print(f"\n{args.features} -> {list(hidden)} -> 1, {dtype}")
            print(f"  {'interpreter':<32} {'path':<24} {'median':>8} {'min':>8} {'cpu med':>8} {'cpu min':>8}"
                  f"  per-process medians")
            for python in pythons:
                for path in PATHS:
                    cells = [r[path] for r in runs[python] if path in r]
                    if not cells:
                        continue
                    medians = [c["median"] for c in cells]
                    cpu = [c["cpu_median"] for c in cells]
                    print(f"  {python[-32:]:<32} {path:<24} {_us(statistics.median(medians)):>8} "
                          f"{_us(min(c['min'] for c in cells)):>8} {_us(statistics.median(cpu)):>8} "
                          f"{_us(min(c['cpu_min'] for c in cells)):>8}  {' '.join(_us(m) for m in medians)}")


if __name__ == "__main__":
    main()
