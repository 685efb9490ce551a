"""backprop's drop-ins against scikit-learn: the same model fitted by ``backprop.MLPClassifier`` /
``backprop.MLPRegressor`` and by scikit-learn's classes, side by side in one run.

    python benchmarks/bench_sklearn.py            # the rows below (a few minutes on 2 cores)
    python benchmarks/bench_sklearn.py --quick    # shrunken sizes, under half a minute
    python benchmarks/bench_sklearn.py --smoke    # tiny sizes, seconds (what tests/test_bench_sklearn.py runs)
    python benchmarks/bench_sklearn.py --threads 1

Rows (each in float64 and float32; the estimators' defaults unless named):
* ``MLPClassifier()`` on 60000x784 (10 classes), a few epochs (``max_iter``);
* ``MLPRegressor()`` on ``make_regression(100000, 50)``, a few epochs;
* ``MLPClassifier(solver="lbfgs")`` on the article's data (4000x20, hidden (8, 3), the suite's
  ``make_data``), 200 iterations;
* ``MLPClassifier(solver="sgd", learning_rate="adaptive")`` on 20000x100 (hidden (100,)).

Both fits of a row get the same parameters and ``random_state``, so they compute the same model:
the script prints the largest difference of their weights (relative to each array's largest
value), flagged with (!) above 1e-9 in float64.  In float32 the two round differently (and
scikit-learn's lbfgs computes in float64 once scipy hands it float64 parameters).  Over hundreds
of L-BFGS iterations, differences of one rounding in the gradient (our sums and OpenBLAS's are
added in different orders) grow until the two runs take different paths, in float64 too (on the
article's data: 5e-14 after 5 iterations, 4e-12 after 10, 5e-8 after 50, 6e-3 after 100, 0.2
after 200, two different minima): the lbfgs row's difference is that of a second pair of fits
stopped after 10 iterations (``check_iter``), the timed fits' own printed below it.  Cells: the
median of ``--repeats`` fits (wall time), the two fits of a row alternating (scikit-learn,
backprop, scikit-learn, ...); ratio = scikit-learn's time / backprop's.
``python benchmarks/bench_suite.py`` times the first three rows too (its row (g)), each side in
its own process, interleaved with the others' timed runs.  Here numpy's BLAS
(scikit-learn's arithmetic) and backprop's kernels use the same number of threads (all cores
unless ``--threads``); the suite times scikit-learn at its better BLAS setting, 1 or all threads
(on small problems OpenBLAS's threads can cost more than they save).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from suite.common import N_CPUS  # noqa: E402
from suite.measure import limit_blas  # noqa: E402
from suite.workloads import make_data  # noqa: E402


def rows(mode: str) -> list[dict]:
    s = {"full": 1, "quick": 10, "smoke": 100}[mode]
    return [
        dict(name=f"MLPClassifier() {60000 // s}x784, 10 classes", kind="clf", data=("classes", 60000 // s, 784, 10),
             params=dict(max_iter=2)),
        dict(name=f"MLPRegressor() {100000 // s}x50 make_regression", kind="reg", data=("regression", 100000 // s, 50),
             params=dict(max_iter=3)),
        dict(name="lbfgs, article's data 4000x20 [8,3]", kind="clf", data=("article", 4000, 20),
             params=dict(solver="lbfgs", hidden_layer_sizes=(8, 3), activation="logistic", max_iter=200 // s),
             check_iter=10),
        dict(name=f"sgd adaptive {20000 // s}x100", kind="clf", data=("classes", 20000 // s, 100, 2),
             params=dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.01, max_iter=10,
                         n_iter_no_change=2, tol=1e-3)),
    ]


def data(spec, dtype):
    kind, n, d = spec[:3]
    if kind == "article":
        return make_data(n, d, dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(dtype)
    if kind == "regression":
        from sklearn.datasets import make_regression

        X, y = make_regression(n, d, noise=10.0, random_state=0)
        return X.astype(dtype), (y - y.mean()) / y.std()
    W = rng.standard_normal((d, spec[3]))
    return X, np.argmax(X @ W + rng.standard_normal((n, spec[3])), axis=1)


def fit_once(cls, params, X, y):
    """(seconds, fitted model) of one fit of a fresh estimator."""
    model = cls(random_state=0, **params)
    t = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - t, model


def fit_times(fits, X, y, repeats):
    """The fits [(cls, params), ...] timed in turn, A B A B ... (drift hits both alike); returns
    [(median seconds, last model), ...] in the order of ``fits``."""
    times, models = [[] for _ in fits], [None] * len(fits)
    for _ in range(repeats):
        for i, (cls, params) in enumerate(fits):
            s, models[i] = fit_once(cls, params, X, y)
            times[i].append(s)
    return [(statistics.median(ts), m) for ts, m in zip(times, models)]


def max_rel(a, b):
    return max(float(np.max(np.abs(x - z)) / max(np.max(np.abs(z)), 1e-300)) for x, z in zip(a, b))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--threads", type=int, default=N_CPUS)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # ConvergenceWarning: a few epochs on purpose

    import sklearn
    import sklearn.neural_network as sk

    import backprop

    limit_blas(args.threads)
    print(f"scikit-learn {sklearn.__version__}, backprop {backprop.__version__}, {args.threads} thread(s)")
    header = f"{'row':46} {'dtype':8} {'scikit-learn':>12} {'backprop':>10} {'ratio':>7} {'max rel diff':>13}"
    print(header)
    print("-" * len(header))
    for row in rows("smoke" if args.smoke else "quick" if args.quick else "full"):
        ours = backprop.MLPClassifier if row["kind"] == "clf" else backprop.MLPRegressor
        theirs = sk.MLPClassifier if row["kind"] == "clf" else sk.MLPRegressor
        for dtype in (np.float64, np.float32):
            X, y = data(row["data"], dtype)
            (t_sk, m_sk), (t_bp, m_bp) = fit_times(
                [(theirs, row["params"]), (ours, {**row["params"], "n_threads": args.threads})], X, y, args.repeats)
            timed_diff = max_rel(m_bp.coefs_ + m_bp.intercepts_, m_sk.coefs_ + m_sk.intercepts_)
            diff, note = timed_diff, ""
            if "check_iter" in row:  # the agreement of a short pair of fits (see the docstring)
                short = {**row["params"], "max_iter": min(row["check_iter"], row["params"]["max_iter"])}
                (_, c_sk), (_, c_bp) = fit_times([(theirs, short), (ours, {**short, "n_threads": args.threads})],
                                                 X, y, 1)
                diff = max_rel(c_bp.coefs_ + c_bp.intercepts_, c_sk.coefs_ + c_sk.intercepts_)
                note = (f"{'':55}(the difference of a pair stopped after {short['max_iter']} iterations; "
                        f"the timed fits': {timed_diff:.1e})\n")
            ok = diff <= 1e-9 or dtype == np.float32
            print(
                f"{row['name']:46} {np.dtype(dtype).name:8} {t_sk:11.3f}s {t_bp:9.3f}s {t_sk / t_bp:6.2f}x "
                f"{diff:12.1e}{'' if ok else ' (!)'}\n{note}",
                end="", flush=True,
            )


if __name__ == "__main__":
    main()
