"""One-row prediction latency of the exports against the estimator.

    python benchmarks/bench_export.py              # 20,000 calls per round, median of 7 rounds
    python benchmarks/bench_export.py --rounds 3

The article's [8, 3] float64 network (2000 iterations on its data), one row of 20 features:

* the C header of ``backprop.to_c``, called from C (a small timing program built with -O2);
* onnxruntime's ``InferenceSession.run`` on the model of ``backprop.to_onnx``, a (1, 20)
  array, from Python (one intra-op thread, and the default);
* ``model.predict_proba(x1)`` and ``model.predict_proba_unchecked(x1)``.

Needs the [test] extra (onnx, onnxruntime, scikit-learn) and a C compiler (gcc or cc).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _timing import ensure_clean_blas_env, machine_line

BLAS_NOTE = ensure_clean_blas_env()

import numpy as np  # noqa: E402

import backprop  # noqa: E402
from backprop import article  # noqa: E402

TIMER = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "model.h"

/* Two rows alternate so that no call can be hoisted out of the loop. */
static const {T} rows[2][model_N_FEATURES] = {{ROWS}};

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 20000, i;
    int rounds = argc > 2 ? atoi(argv[2]) : 7, r, c;
    {T} proba[model_N_CLASSES];
    double sink = 0;
    struct timespec t0, t1;
    if (calls == 0) { /* check mode: the probabilities of both rows, one row per line */
        for (i = 0; i < 2; ++i) {
            model_predict_proba(rows[i], proba);
            for (c = 0; c < model_N_CLASSES; ++c) printf("%.17g%c", (double)proba[c], c + 1 < model_N_CLASSES ? ' ' : '\n');
        }
        return 0;
    }
    for (r = 0; r < rounds + 1; ++r) { /* round 0 warms up */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (i = 0; i < calls; ++i) {
            model_predict_proba(rows[i & 1], proba);
            sink += proba[1];
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (r > 0) printf("%.6f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / calls / 1e3);
    }
    fprintf(stderr, "checksum %.17g\n", sink);
    return 0;
}
"""


def per_call_us(fn, calls, rounds):
    """Median over ``rounds`` of the mean time of one call in a loop of ``calls`` (after a warm-up round)."""
    times = []
    for r in range(rounds + 1):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t = (time.perf_counter() - t0) / calls * 1e6
        if r:
            times.append(t)
    return statistics.median(times), times


def c_compiler():
    return shutil.which("gcc") or shutil.which("cc")


def build_c_timer(model, X2, folder):
    """The timing program of the model's C header (backprop.to_c) on the two rows X2, built in folder
    with -O2; returns its path. ``exe CALLS ROUNDS`` prints the microseconds per call of each round,
    ``exe 0`` the probabilities of the two rows."""
    backprop.to_c(model, os.path.join(folder, "model.h"))
    ctype = "float" if np.asarray(X2).dtype == np.float32 else "double"
    rows = ", ".join("{" + ", ".join(repr(float(v)) for v in row) + "}" for row in X2)
    src = os.path.join(folder, "timer.c")
    with open(src, "w") as f:
        f.write(TIMER.replace("{ROWS}", rows).replace("{T}", ctype))
    exe = os.path.join(folder, "timer")
    subprocess.run([c_compiler(), "-std=c99", "-O2", "-Wall", "-o", exe, src, "-lm"], check=True)
    return exe


def run_c_timer(exe, calls, rounds):
    """Microseconds per call of each timed round (after the program's warm-up round)."""
    out = subprocess.run([exe, str(calls), str(rounds)], check=True, capture_output=True, text=True).stdout
    return [float(v) for v in out.split()]


def c_header_proba(exe):
    """The header's probabilities of the timer's two rows, shape (2, n_classes)."""
    out = subprocess.run([exe, "0"], check=True, capture_output=True, text=True).stdout
    return np.array([[float(v) for v in line.split()] for line in out.splitlines()])


def c_latency(model, X2, calls, rounds):
    if c_compiler() is None:
        return None, "no C compiler"
    with tempfile.TemporaryDirectory() as tmp:
        times = run_c_timer(build_c_timer(model, X2, tmp), calls, rounds)
    return statistics.median(times), times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20000, help="calls per timed round (default 20000)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds; the median is reported (default 7)")
    args = parser.parse_args(argv)
    try:
        import onnxruntime as ort
    except ImportError:
        print('error: needs onnxruntime (pip install ".[test]")', file=sys.stderr)
        return 1

    data = article.article_data()
    model = backprop.NeuralNetwork(n_hidden=(8, 3), max_iter=2000, random_state=0).fit(data.X_train, data.y_train)
    x1 = np.ascontiguousarray(data.X_test[:1])
    X2 = data.X_test[:2]
    print(f"backprop {backprop.__version__}: one-row latency, the article's [8, 3] float64 network, 20 features")
    print(f"machine: {machine_line()}; numpy {np.__version__}; onnxruntime {ort.__version__}; BLAS environment: {BLAS_NOTE}")
    print(f"timing: {args.calls} calls per round, median of {args.rounds} rounds after one warm-up round\n")

    rows = []
    c_med, c_times = c_latency(model, X2, args.calls, args.rounds)
    rows.append(("C header (backprop.to_c), called from C, gcc -O2", c_med))
    blob = backprop.to_onnx(model).SerializeToString()
    for threads in (1, 0):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
        feed = {"X": x1}
        med, _ = per_call_us(lambda: sess.run(None, feed), args.calls, args.rounds)
        label = "1 intra-op thread" if threads == 1 else "default threads"
        rows.append((f"onnxruntime InferenceSession.run, (1, 20) array, {label}", med))
    med, _ = per_call_us(lambda: model.predict_proba(x1), args.calls, args.rounds)
    rows.append(("model.predict_proba(x1)", med))
    med, _ = per_call_us(lambda: model.predict_proba_unchecked(x1), args.calls, args.rounds)
    rows.append(("model.predict_proba_unchecked(x1)", med))

    print("| path | µs per call |")
    print("| --- | --- |")
    for name, med in rows:
        print(f"| {name} | {'n/a' if med is None else f'{med:.3f}'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
