"""The grid of fits that benchmarks/compare_builds.py runs in each build's venv.

    python benchmarks/_compare_grid.py OUT.npz [--only SUBSTRING] [--list]

Every result goes into one ``.npz`` (no pickle), one entry per array, named ``<config>::<field>``:
weights (``weights_::0``, ``weights_::1``, ...), ``loss_curve_``, ``n_iter_``,
``validation_scores_``, ``validation_loss_curve_``, ``predict_proba``, ``predict``,
``predict_proba_unchecked``, ``score``, the warnings a step issued and the exception it raised
(as strings), and ``config`` (the parameters, as JSON), so two files compare entry by entry and
byte by byte.

Only the public API is used (``backprop.NeuralNetwork`` and its parameters, ``fit``,
``partial_fit``, the ``predict*`` methods, ``score``, ``backprop.save`` / ``load`` and
``backprop.check_gradients``), so the script runs on any build that has it. Everything is
seeded: two runs of one build give the same file.

The grid: every four values of four different factors below appear together in at least one configuration
(a greedy covering array; the full product would be tens of thousands of fits), the four
(backend, activation, output, solver) factors appear in every combination, and fixed
configurations add the article's runs, awkward shapes, huge inputs, the callback, verbose
output, persistence and the gradient check.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import random
import sys
import tempfile
import time
import warnings

import numpy as np

# the factors of the covering array; "solver" spells momentum with and without Nesterov apart
FACTORS = {
    "backend": ["cpp", "numpy"],
    "activation": ["sigmoid", "tanh", "relu", "identity"],
    "output": ["binary", "3-class"],
    "solver": ["gd", "momentum", "nesterov", "adam"],
    "batch_size": [None, 7, 64],
    "alpha": [0.0, 0.3],
    "tol": [None, 1e-4],
    "early_stopping": [False, True],
    "sequence": ["fit", "warm_start", "partial_fit"],
    "dtype": ["float32", "float64"],
    "n_threads": [1, 2],
    "init": ["normal", "glorot", "he"],
}
# always crossed in full (4 x 2 x 4 x 2 = 64 configurations), the others covered four at a time
FULL_FACTORS = ("backend", "activation", "output", "solver")
LEARNING_RATES = {"gd": 0.3, "momentum": 0.05, "nesterov": 0.05, "adam": 0.01}
SEED = 0
N_TRAIN, N_TEST, N_FEATURES = 90, 25, 5


# ------------------------------------------------------------------------------------- the grid
def _tuples(row, t):
    names = sorted(row)
    return {tuple((n, repr(row[n])) for n in combo) for combo in itertools.combinations(names, t)}


def covering_rows(factors=FACTORS, full=FULL_FACTORS, strength=4, seed=SEED, candidates=30):
    """Rows (dicts factor -> value) in which every `strength`-tuple of factor values occurs.

    Starts from the full product of the `full` factors (other factors chosen greedily), then adds
    greedy rows until nothing is left uncovered. Deterministic for a given seed. Rows are worked on
    as tuples of value indices, one per factor in the order of `factors`.
    """
    rng = random.Random(seed)
    names = list(factors)
    sizes = [len(factors[n]) for n in names]
    combos = list(itertools.combinations(range(len(names)), strength))

    def keys(row):
        return {(c, *(row[j] for j in combo)) for c, combo in enumerate(combos)}

    todo = {(c, *vals) for c, combo in enumerate(combos) for vals in itertools.product(*(range(sizes[j]) for j in combo))}
    rows = []

    def add_best(fixed):
        best, gain = None, -1
        for _ in range(candidates):
            row = tuple(fixed[j] if j in fixed else rng.randrange(sizes[j]) for j in range(len(names)))
            g = len(keys(row) & todo)
            if g > gain:
                best, gain = row, g
        rows.append(best)
        todo.difference_update(keys(best))

    full_idx = [names.index(n) for n in full]
    for vals in itertools.product(*(range(sizes[j]) for j in full_idx)):
        add_best(dict(zip(full_idx, vals)))
    while todo:
        first = min(todo)  # seed each new row from one uncovered tuple so that every step makes progress
        add_best(dict(zip(combos[first[0]], first[1:])))
    return [{n: factors[n][i] for n, i in zip(names, row)} for row in rows]


def covered(rows, factors=FACTORS, strength=2):
    """The `strength`-tuples of factor values that no row holds (empty when all are covered)."""
    seen = set().union(*(_tuples(r, strength) for r in rows)) if rows else set()
    missing = set()
    for combo in itertools.combinations(sorted(factors), strength):
        for values in itertools.product(*(factors[n] for n in combo)):
            t = tuple((n, repr(v)) for n, v in zip(combo, values))
            if t not in seen:
                missing.add(t)
    return missing


def params_of(row):
    """NeuralNetwork keywords of one covering-array row (`output`, `sequence`, `dtype` are not keywords)."""
    solver = row["solver"]
    p = dict(n_hidden=(5, 3), learning_rate=LEARNING_RATES[solver], max_iter=12, random_state=SEED,
             backend=row["backend"], n_threads=row["n_threads"], activation=row["activation"], init=row["init"],
             solver="momentum" if solver in ("momentum", "nesterov") else solver, batch_size=row["batch_size"],
             alpha=row["alpha"], tol=row["tol"], n_iter_no_change=3, early_stopping=row["early_stopping"])
    if solver in ("momentum", "nesterov"):
        p["nesterov"] = solver == "nesterov"
    return p


def grid():
    """[(name, spec)]: spec = dict(params, data, sequence, dtype, extra) for every configuration."""
    out = []
    for i, row in enumerate(covering_rows()):
        name = "c{:03d} {backend} {activation} {output} {solver} b{batch_size} a{alpha} tol{tol} es{early_stopping:d} " \
               "{sequence} {dtype} t{n_threads} {init}".format(i, **row)
        out.append((name, dict(params=params_of(row), data=row["output"], sequence=row["sequence"],
                               dtype=row["dtype"])))
    out.extend(fixed_configs())
    return out


def fixed_configs():
    out = []
    for backend in ("cpp", "numpy"):
        for dtype in ("float64", "float32"):
            for hidden in ((8, 3), ()):
                out.append((f"article {list(hidden)} {backend} {dtype}",
                            dict(params=dict(n_hidden=hidden, learning_rate=1.0, max_iter=2000, random_state=0,
                                             backend=backend), data="article", sequence="fit", dtype=dtype)))
            base = dict(random_state=SEED, backend=backend, max_iter=8)
            shapes = [
                ("2 samples", dict(n_hidden=(3,)), "two-rows"),
                ("1 feature", dict(n_hidden=(4,)), "one-feature"),
                ("1 hidden unit", dict(n_hidden=(1,), solver="adam", learning_rate=0.01, batch_size=7), "binary"),
                ("wide [300]", dict(n_hidden=(300,), solver="momentum", learning_rate=0.05), "3-class"),
                ("deep narrow [5,4,3,2]", dict(n_hidden=(5, 4, 3, 2), activation="tanh"), "binary"),
                ("huge rows sigmoid", dict(n_hidden=(4,)), "huge"),
                ("huge rows tanh", dict(n_hidden=(4,), activation="tanh"), "huge"),
                ("huge rows no hidden", dict(n_hidden=()), "huge"),
                ("huge rows relu", dict(n_hidden=(4,), activation="relu"), "huge-predict"),
                ("huge training rows relu (overflows)", dict(n_hidden=(4,), activation="relu"), "huge"),
                ("huge rows identity 3-class", dict(n_hidden=(4,), activation="identity"), "huge-predict-3"),
                ("custom solver constants", dict(n_hidden=(4,), solver="adam", beta_1=0.8, beta_2=0.99,
                                                 epsilon=1e-6, learning_rate=0.02, batch_size=16), "binary"),
                ("momentum 0.5", dict(n_hidden=(4,), solver="momentum", momentum=0.5, learning_rate=0.1), "3-class"),
                ("early stopping 0.2", dict(n_hidden=(4,), early_stopping=True, validation_fraction=0.2, tol=0.0,
                                            max_iter=30, n_iter_no_change=2), "binary"),
                ("threshold 0.3", dict(n_hidden=(4,), threshold=0.3), "binary"),
                ("generator random_state", dict(n_hidden=(4,), random_state="generator"), "binary"),
            ]
            for label, p, data in shapes:
                out.append((f"{label} {backend} {dtype}", dict(params={**base, **p}, data=data, sequence="fit",
                                                               dtype=dtype)))
            for seq in ("callback", "verbose", "persistence", "gradcheck"):
                out.append((f"{seq} {backend} {dtype}", dict(params={**base, "n_hidden": (4, 3), "alpha": 0.1},
                                                            data="3-class" if seq == "gradcheck" else "binary",
                                                            sequence=seq, dtype=dtype)))
    return out


# ------------------------------------------------------------------------------------- the data
def _synthetic(n, d, n_classes, rng):
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, n_classes))
    y = np.argmax(X @ W + 0.5 * rng.standard_normal((n, n_classes)), axis=1)
    y[:n_classes] = np.arange(n_classes)  # every class present
    return X, y


def article_data():
    """The article's data through backprop.article when it can make them (scikit-learn installed),
    else standard-normal data of the same shape; returns (X_train, y_train, X_test, y_test, source)."""
    try:
        from backprop.article import article_data as make

        d = make()
        return d.X_train, d.y_train, d.X_test, d.y_test, "backprop.article.article_data"
    except ImportError:
        X, y = _synthetic(5000, 20, 2, np.random.default_rng(42))
        return X[:4000], y[:4000], X[4000:], y[4000:], "synthetic 5000x20 (scikit-learn not installed)"


def make_data(kind, dtype):
    """(X, y, X_test, y_test, source) for one data kind, in dtype."""
    rng = np.random.default_rng(7)
    huge = 1e300 if dtype == "float64" else 1e37
    if kind == "article":
        X, y, Xt, yt, source = article_data()
    elif kind in ("binary", "3-class", "huge", "huge-predict", "huge-predict-3"):
        k = 3 if kind in ("3-class", "huge-predict-3") else 2
        X, y = _synthetic(N_TRAIN + N_TEST, N_FEATURES, k, rng)
        X, y, Xt, yt, source = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:], f"synthetic, {k} classes"
        if kind.startswith("huge"):
            Xt = Xt.copy()
            Xt[::3] *= huge  # every third test row is huge (|x| ~ 1e300 in float64)
            Xt[1, 0] = -huge
            if kind == "huge":
                X = X.copy()
                X[::17] *= huge  # and some training rows
    elif kind == "two-rows":
        X, y = np.array([[0.5, -1.0, 2.0], [-0.3, 0.8, -1.5]]), np.array([0, 1])
        Xt, yt, source = X[:1], y[:1], "2 training rows, 1 test row"
    elif kind == "one-feature":
        X, y = _synthetic(N_TRAIN + N_TEST, 1, 2, rng)
        X, y, Xt, yt, source = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:], "1 feature"
    else:
        raise ValueError(kind)
    return (np.ascontiguousarray(X, dtype=dtype), y, np.ascontiguousarray(Xt, dtype=dtype), yt, source)


# ------------------------------------------------------------------------------------- running
class Recorder:
    """Collects one configuration's results as named arrays."""

    def __init__(self, name):
        self.name, self.arrays = name, {}

    def put(self, field, value):
        key = f"{self.name}::{field}"
        if value is None:
            self.arrays[key] = np.array("None")
        elif isinstance(value, str):
            self.arrays[key] = np.array(value)
        elif isinstance(value, (list, tuple)) and (not value or isinstance(value[0], np.ndarray)):
            self.arrays[key + "::len"] = np.array(len(value))
            for i, v in enumerate(value):
                self.arrays[f"{key}::{i}"] = np.asarray(v)
        else:
            self.arrays[key] = np.asarray(value)

    def step(self, prefix, fn):
        """Run fn(), recording its warnings and any exception under `prefix`; returns fn()'s value or None."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = fn()
                error = None
            except Exception as exc:  # noqa: BLE001 - the exception is a result to compare
                value, error = None, f"{type(exc).__name__}: {exc}"
        self.put(f"{prefix}warnings", "\n".join(f"{w.category.__name__}: {w.message}" for w in caught))
        self.put(f"{prefix}error", error)
        return value


def record_model(rec, prefix, model, Xt, yt):
    for attr in ("weights_", "loss_curve_", "n_iter_", "validation_scores_", "validation_loss_curve_", "classes_"):
        rec.put(prefix + attr, getattr(model, attr, "missing"))
    if getattr(model, "weights_", None) is None:
        return  # the fit failed (its error is recorded): an unfitted model's predictions say nothing
    rec.put(prefix + "predict_proba", rec.step(prefix + "predict_proba.", lambda: model.predict_proba(Xt)))
    rec.put(prefix + "predict", rec.step(prefix + "predict.", lambda: model.predict(Xt)))
    rec.put(prefix + "score", rec.step(prefix + "score.", lambda: float(model.score(Xt, yt))))
    rec.put(prefix + "predict_proba_unchecked",
            rec.step(prefix + "unchecked.", lambda: model.predict_proba_unchecked(Xt)))


def run_config(name, spec):
    import backprop

    rec = Recorder(name)
    dtype = spec["dtype"]
    X, y, Xt, yt, source = make_data(spec["data"], dtype)
    params = dict(spec["params"])
    rec.put("config", json.dumps(dict(spec, params=params, data_source=source), sort_keys=True, default=str))
    if params.get("random_state") == "generator":
        params["random_state"] = np.random.default_rng(11)
    seq = spec["sequence"]
    if seq == "callback":
        seen = []

        def callback(model, iteration, loss):
            seen.append((iteration, loss))
            return iteration < 4

        params["callback"] = callback
    if seq == "verbose":
        params["verbose"] = True
    model = backprop.NeuralNetwork(**params)
    if seq == "partial_fit":
        classes = np.unique(y)
        cuts = [0, 40, 70, len(y)]
        for i, (s, e) in enumerate(zip(cuts[:-1], cuts[1:])):
            kw = dict(classes=classes) if i == 0 else {}
            rec.step(f"partial_fit{i}.", lambda s=s, e=e, kw=kw: model.partial_fit(X[s:e], y[s:e], **kw))
            rec.put(f"partial_fit{i}.weights_", getattr(model, "weights_", "missing"))
    else:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            rec.step("fit.", lambda: model.fit(X, y))
    if seq == "warm_start":
        record_model(rec, "first.", model, Xt, yt)
        model.set_params(warm_start=True, max_iter=7)
        rec.step("refit.", lambda: model.fit(X, y))
    if seq == "callback":
        rec.put("callback_iterations", np.array([i for i, _ in seen]))
        rec.put("callback_losses", np.array([loss for _, loss in seen]))
    record_model(rec, "", model, Xt, yt)
    if seq == "persistence":
        run_persistence(rec, model, Xt, yt)
    if seq == "gradcheck":
        for fitted in (False, True):
            m = backprop.NeuralNetwork(**params) if not fitted else model
            res = rec.step(f"gradcheck{int(fitted)}.", lambda m=m: backprop.check_gradients(m, X, y, n_checks=20))
            if res is not None:
                for f in ("ok", "max_abs_error", "max_rel_error", "n_checked", "loss"):
                    rec.put(f"gradcheck{int(fitted)}.{f}", getattr(res, f))
    return rec.arrays


def run_persistence(rec, model, Xt, yt):
    import pickle

    import backprop

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.npz")
        rec.step("save.", lambda: backprop.save(model, path))
        loaded = rec.step("load.", lambda: backprop.load(path))
        if loaded is not None:
            record_model(rec, "loaded.", loaded, Xt, yt)
    unpickled = rec.step("pickle.", lambda: pickle.loads(pickle.dumps(model)))
    if unpickled is not None:
        record_model(rec, "unpickled.", unpickled, Xt, yt)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", help="the .npz to write")
    ap.add_argument("--only", default=None, help="run only the configurations whose name contains this")
    ap.add_argument("--list", action="store_true", help="print the configurations and exit")
    args = ap.parse_args(argv)
    configs = [(n, s) for n, s in grid() if args.only is None or args.only in n]
    if args.list:
        print("\n".join(n for n, _ in configs))
        return 0
    if not args.out:
        ap.error("OUT.npz is required")
    t0 = time.perf_counter()
    arrays = {}
    for i, (name, spec) in enumerate(configs, 1):
        arrays.update(run_config(name, spec))
        if i % 50 == 0:
            print(f"  {i}/{len(configs)} configurations, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    import backprop

    arrays["meta::backprop_file"] = np.array(os.path.dirname(backprop.__file__))
    np.savez(args.out, **arrays)
    print(f"{len(configs)} configurations, {len(arrays)} arrays, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
