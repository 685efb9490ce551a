"""The suite's workloads: the rows of its table in each mode, their FLOP and memory counts, and the data.

See the docstring of benchmarks/bench_suite.py for what each row measures and how FLOPs are counted.
"""

from __future__ import annotations

import math

from .common import DTYPES, SEED


# ====================================================================== configuration
def make_config(mode):
    """Workloads, repeats and the scaling grids of one mode ('full', 'quick' or 'smoke')."""
    if mode == "full":
        train = [
            dict(key="a", name="article", n=4000, d=20, hidden=[8, 3], iters=2000, warm_iters=200, repeats=5,
                 data="article"),
            dict(key="b", name="medium", n=60000, d=784, hidden=[256, 128], iters=20, warm_iters=2, repeats=3),
            dict(key="c", name="wide", n=10000, d=100, hidden=[1024, 1024], iters=20, warm_iters=2, repeats=3),
            dict(key="f", name="mini-batch adam", n=60000, d=784, hidden=[256, 128], iters=3, warm_iters=1, repeats=3,
                 solver="adam", batch_size=256, lr=1e-3),
        ]
        infer = dict(key="d", name="inference", n=1_000_000, d=20, hidden=[8, 3], repeats=5)
        latency = dict(d=20, hidden=[8, 3], rows=[1, 32], samples=7, sample_s=0.2)
        scaling = dict(d=20, hidden=[8, 3], ns=[1000, 4000, 16000, 64000], n_iters=500, iters=[250, 500, 1000, 2000],
                       iter_n=4000, dtypes=DTYPES, repeats=3)
        peak_n, slow_fit_s, timeout, budget = 4096, 20.0, 3600, None
    elif mode == "quick":
        train = [
            dict(key="a", name="article", n=4000, d=20, hidden=[8, 3], iters=100, warm_iters=10, repeats=3),
            dict(key="b", name="medium", n=2000, d=784, hidden=[256, 128], iters=2, warm_iters=1, repeats=2),
            dict(key="c", name="wide", n=500, d=100, hidden=[1024, 1024], iters=2, warm_iters=1, repeats=2),
            dict(key="f", name="mini-batch adam", n=2048, d=784, hidden=[256, 128], iters=2, warm_iters=1, repeats=2,
                 solver="adam", batch_size=256, lr=1e-3),
        ]
        infer = dict(key="d", name="inference", n=100_000, d=20, hidden=[8, 3], repeats=3)
        latency = dict(d=20, hidden=[8, 3], rows=[1, 32], samples=3, sample_s=0.02)
        scaling = dict(d=20, hidden=[8, 3], ns=[1000, 4000, 16000], n_iters=50, iters=[50, 100, 200], iter_n=4000,
                       dtypes=["float64"], repeats=2)
        peak_n, slow_fit_s, timeout, budget = 2048, 5.0, 300, 45.0
    elif mode == "smoke":
        train = [
            dict(key="a", name="article", n=200, d=20, hidden=[8, 3], iters=10, warm_iters=2, repeats=1),
            dict(key="b", name="medium", n=64, d=784, hidden=[16, 8], iters=2, warm_iters=1, repeats=1),
            dict(key="c", name="wide", n=64, d=100, hidden=[32, 32], iters=2, warm_iters=1, repeats=1),
            dict(key="f", name="mini-batch adam", n=300, d=20, hidden=[16, 8], iters=2, warm_iters=1, repeats=1,
                 solver="adam", batch_size=64, lr=1e-3),
        ]
        infer = dict(key="d", name="inference", n=5000, d=20, hidden=[8, 3], repeats=1)
        latency = dict(d=20, hidden=[8, 3], rows=[1, 32], samples=1, sample_s=0.002)
        scaling = dict(d=20, hidden=[8, 3], ns=[250, 500], n_iters=5, iters=[5, 10], iter_n=250, dtypes=["float64"],
                       repeats=1)
        peak_n, slow_fit_s, timeout, budget = 256, 1.0, 300, None
    else:
        raise ValueError(mode)
    a = train[0]
    # (h): the article's row again, fitted with and without sample weights
    weighted = dict(a, key="h", name="sample_weight")
    dropins = dict(rows=dropin_rows(mode), repeats={"full": 3, "quick": 2, "smoke": 1}[mode])
    # the pause before every timed run: the previous contender's idle BLAS / OpenMP threads spin for up to
    # ~0.1 s after its run (OpenBLAS's default thread timeout), on the cores the next one needs
    settle_s = 0.0 if mode == "smoke" else 0.15
    return dict(mode=mode, train=train, infer=infer, latency=latency, scaling=scaling, peak_n=peak_n,
                slow_fit_s=slow_fit_s, timeout=timeout, budget=budget, weighted=weighted, dropins=dropins,
                settle_s=settle_s)


def dropin_rows(mode):
    """Row (g): the first three rows of benchmarks/bench_sklearn.py (the default MLPClassifier, the default
    MLPRegressor, lbfgs on the article's data), as keys g1, g2, g3."""
    import sys
    from pathlib import Path

    here = str(Path(__file__).resolve().parents[1])
    if here not in sys.path:
        sys.path.insert(0, here)
    from bench_sklearn import rows

    return [dict(r, key=f"g{i}") for i, r in enumerate(rows(mode)[:3], 1)]


# ====================================================================== the task of one cell
def train_task(cfg, w, contender, dtype):
    """The worker's task for training row `w` (one of cfg["train"]) with one contender and dtype."""
    return dict(type="train", workload=w["key"], contender=contender, dtype=dtype, n=w["n"], d=w["d"],
                hidden=w["hidden"], iters=w["iters"], warm_iters=w["warm_iters"], repeats=w["repeats"],
                slow_fit_s=cfg["slow_fit_s"], fixed_repeats=cfg.get("fixed_repeats", False),
                **{k: w[k] for k in ("solver", "batch_size", "lr", "data") if k in w})


def dropin_task(cfg, row, contender, dtype):
    """Row (g<i>): one fit of the drop-in ("dropin") or of scikit-learn's class ("sklearn_dropin")."""
    return dict(type="dropin", workload=row["key"], contender=contender, dtype=dtype, kind=row["kind"],
                data=list(row["data"]), params=row["params"], repeats=cfg["dropins"]["repeats"],
                slow_fit_s=cfg["slow_fit_s"], fixed_repeats=cfg.get("fixed_repeats", False))


def infer_task(cfg, contender, dtype):
    """Row (d): predict_proba on cfg["infer"]["n"] rows."""
    inf = cfg["infer"]
    return dict(type="infer", workload="d", contender=contender, dtype=dtype, n=inf["n"], d=inf["d"],
                hidden=inf["hidden"], repeats=inf["repeats"])


def latency_task(cfg, contender, dtype, rows):
    """Row (e<rows>): microseconds per predict_proba call on `rows` rows."""
    lat = cfg["latency"]
    return dict(type="latency", workload=f"e{rows}", contender=contender, dtype=dtype, rows=rows,
                d=lat["d"], hidden=lat["hidden"], samples=lat["samples"], sample_s=lat["sample_s"])


# ====================================================================== napkin maths
def layer_dims(d, hidden):
    """[(k_l, m_l)]: inputs and outputs of every layer, output layer (1 unit) included."""
    sizes = [d, *hidden, 1]
    return list(zip(sizes[:-1], sizes[1:]))


def flops_forward(n, d, hidden):
    return 2 * n * sum((k + 1) * m for k, m in layer_dims(d, hidden))


def flops_train_iter(n, d, hidden):
    """forward + weight gradient + delta propagation (none for the input layer)."""
    dims = layer_dims(d, hidden)
    fwd = 2 * n * sum((k + 1) * m for k, m in dims)
    delta = 2 * n * sum(k * m for k, m in dims[1:])
    return 2 * fwd + delta


def activation_bytes(n, hidden, itemsize):
    return n * (sum(hidden) + 1) * itemsize


def rows_in_flight(w):
    """Rows whose activations a fit must keep at once: all N for full-batch descent, one batch with mini-batches."""
    return min(w["n"], w["batch_size"]) if w.get("batch_size") else w["n"]


def solver_state_bytes(w, itemsize):
    """Adam's two moment arrays (M and S, each shaped like the weights); nothing for plain gradient descent."""
    if w.get("solver") != "adam":
        return 0
    return 2 * sum((k + 1) * m for k, m in layer_dims(w["d"], w["hidden"])) * itemsize


def train_label(w):
    hid = ",".join(str(h) for h in w["hidden"])
    if w.get("batch_size"):
        return f"({w['key']}) {w['name']} {w['n']}x{w['d']} [{hid}] batch {w['batch_size']}, {w['iters']} epochs"
    return f"({w['key']}) {w['name']} {w['n']}x{w['d']} [{hid}] {w['iters']}it"


# ====================================================================== data and table rows
def make_data(n, d, dtype, seed=SEED, chunk=4096):
    """Standard-normal X (n, d) and labels y (n,) in {0, 1} from a noisy linear rule.

    Generated in float64 chunks written straight into arrays of the target dtype, so the data of
    both dtypes are the same numbers and the process never holds a second full-size copy.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d) / math.sqrt(d)
    X = np.empty((n, d), dtype=dtype)
    y = np.empty(n, dtype=dtype)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        block = rng.standard_normal((e - s, d))
        X[s:e] = block
        y[s:e] = (block @ w + 0.5 * rng.standard_normal(e - s)) > 0
    if n >= 2 and (y.min() == y.max()):  # both classes must be present (tiny smoke sizes)
        y[0], y[1] = 0, 1
    return X, y


def training_data(t, dtype):
    """X, y of a training row: the article's own training set (4000 x 20, ``make_classification``
    as ``backprop.article`` makes it) for a row with ``data="article"`` when scikit-learn is
    installed, else make_data's standard-normal data of the row's size."""
    import numpy as np

    if t.get("data") == "article":
        try:
            from backprop.article import article_data
        except ImportError:
            pass
        else:
            try:
                data = article_data()
            except ImportError:  # no scikit-learn
                pass
            else:
                return data.X_train.astype(dtype), data.y_train.astype(dtype)
    return make_data(t["n"], t["d"], np.dtype(dtype))


def wanted(cfg, key):
    """Whether row `key` ('d' inference, 'e' latency) is among the --workloads asked for (all when none)."""
    only = cfg.get("only")
    return not only or key in only


def workload_rows(cfg):
    """[(key, label, kind)] in table order (by key: (a)-(c) training, (d) inference, (e) latency, (f) Adam)."""
    out = [(w["key"], train_label(w), "train") for w in cfg["train"]]
    inf = cfg["infer"]
    if wanted(cfg, "d"):
        out.append(("d", f"(d) predict_proba {inf['n']:,}x{inf['d']}", "infer"))
    for rows in (cfg["latency"]["rows"] if wanted(cfg, "e") else []):
        out.append((f"e{rows}", f"(e) latency {rows} row{'s' if rows > 1 else ''} per call", "latency"))
    return sorted(out, key=lambda r: (r[0][0], len(r[0]), r[0]))


def pair_label(cfg, key):
    """The label of a side row: (g<i>) drop-in against scikit-learn, (h) weighted against unweighted."""
    if key == "h":
        w = cfg["weighted"]
        return f"(h) sample_weight, {w['n']}x{w['d']} {w['hidden']} {w['iters']}it"
    row = next(r for r in cfg["dropins"]["rows"] if r["key"] == key)
    return f"({key}) {row['name']}" + (f", max_iter={row['params']['max_iter']}" if "max_iter" in row["params"] else "")


def short_label(key):
    return {"a": "(a) article", "b": "(b) medium", "c": "(c) wide", "d": "(d) inference",
            "f": "(f) mini-batch adam"}.get(key, f"(e) {key[1:]} row{'s' if key != 'e1' else ''}")
