"""The article "ML From Scratch, Part 3: Backpropagation", reproduced end to end on both backends.

    python -m backprop.article                 # the full run: 2000 iterations, median of 3 fits
    python -m backprop.article --quick         # a smoke run in well under a minute
    python -m backprop.article --out DIR       # where the PNG figures and results.json go

What it does, in order (every number printed comes from this run):

1. The article's data (``make_classification``, 5000 x 20, ``random_state=42``; the first 4000
   rows train, the last 1000 test) and its two models, logistic regression (``n_hidden=()``)
   and ``n_hidden=(8, 3)``, 2000 iterations at ``learning_rate=1.0``, fitted from the same
   initial weights (``random_state=0``) by the C++ kernels and by the numpy reference
   (``backprop.reference``), which is timed twice: with numpy's default BLAS threads and with
   one BLAS thread.  It prints fit time, the C++ speed-up, train/test accuracy and AUC, and
   draws the ROC curve of each model (``roc_logistic.png``, ``roc_8_3.png``).
2. Our own finding: at ``learning_rate=1.0`` the logistic-regression run does not converge.
   Its loss settles on a cycle between two values (``logistic_convergence.png``); the step is
   above the stability limit of gradient descent.  The same 2000 iterations at
   ``learning_rate=0.1`` converge to the logistic-regression optimum, which it compares with
   scikit-learn's unregularised ``LogisticRegression``.
3. The article's "test AUC against number of hidden nodes": single hidden layers of 1 to 20
   units, three seeds each, C++ backend, 2000 iterations at ``learning_rate=1.0``
   (``auc_vs_hidden_nodes.png`` and a table), with a progress bar.

Timed runs start without the ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` environment
variables, which slow numpy's BLAS on the project's machine: when run as
``python -m backprop.article`` the process re-executes itself once without them and says so.

Needs the ``[bench]`` extra (scikit-learn, matplotlib, tqdm, threadpoolctl):
``pip install ".[bench]"`` in the source tree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import warnings
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import __version__, _core
from ._estimator import NeuralNetwork
from ._exceptions import ConvergenceWarning, StabilityWarning
from ._timing import blas_env_note, ensure_clean_blas_env, machine_line

__all__ = [
    "ArticleData",
    "MissingExtraError",
    "article_data",
    "compare_backends",
    "logistic_convergence",
    "stability_limits",
    "hidden_node_sweep",
    "summarise_sweep",
    "elbow",
    "format_table",
    "timing_table",
    "plot_rocs",
    "plot_convergence",
    "plot_sweep",
    "main",
]

#: Hidden-layer sizes of the sweep (single hidden layers), and its seeds.
SWEEP_SIZES: Tuple[int, ...] = tuple(range(1, 21))
SWEEP_SEEDS: Tuple[int, ...] = (0, 1, 2)
QUICK_SWEEP_SIZES: Tuple[int, ...] = (1, 2, 4, 8)
QUICK_MAX_ITER = 100
QUICK_SWEEP_SEEDS: Tuple[int, ...] = (0,)
#: Learning rates scanned to show where the logistic run stops converging.
LR_SCAN: Tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
QUICK_LR_SCAN: Tuple[float, ...] = (0.1, 0.5, 1.0)

_EXTRAS = {"sklearn": "scikit-learn", "matplotlib": "matplotlib", "tqdm": "tqdm", "threadpoolctl": "threadpoolctl"}


class MissingExtraError(ImportError):
    """Raised when a package of the ``[bench]`` extra is not installed."""


def _require_extras() -> None:
    """Import the ``[bench]`` extra's packages, or raise :class:`MissingExtraError` naming the missing ones."""
    missing = []
    for module, dist in _EXTRAS.items():
        try:
            __import__(module)
        except ImportError:
            missing.append(dist)
    if missing:
        raise MissingExtraError(
            f"python -m backprop.article needs the [bench] extra; missing: {', '.join(missing)}. "
            f'Install it with: pip install ".[bench]" (in the source tree) or pip install {" ".join(missing)}'
        )


# ---------------------------------------------------------------------------------------- data
class ArticleData(NamedTuple):
    """The article's data set, split as in the article (first 4000 rows train, last 1000 test)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def article_data() -> ArticleData:
    """Make the article's synthetic data set.

    ``sklearn.datasets.make_classification`` with the article's arguments (5000 samples, 20
    features of which 15 informative and 3 redundant, 5% of labels flipped,
    ``random_state=42``), split 80/20 by position as the article does.

    Returns
    -------
    ArticleData
        ``X_train`` (4000, 20), ``y_train`` (4000,), ``X_test`` (1000, 20), ``y_test`` (1000,);
        float64 features and 0/1 integer labels.
    """
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=5000,
        n_features=20,
        n_informative=15,
        n_redundant=3,
        n_repeated=0,
        n_classes=2,
        flip_y=0.05,
        class_sep=1.0,
        shuffle=True,
        random_state=42,
    )
    split = int(0.8 * len(y))
    return ArticleData(X[:split], y[:split], X[split:], y[split:])


def _model_name(n_hidden: Sequence[int]) -> str:
    return str(list(n_hidden))


def _metrics(model: NeuralNetwork, data: ArticleData, dtype: Any = np.float64) -> Dict[str, float]:
    from sklearn.metrics import roc_auc_score

    Xtr, Xte = data.X_train.astype(dtype), data.X_test.astype(dtype)
    p_train = model.predict_proba(Xtr)[:, 1]
    p_test = model.predict_proba(Xte)[:, 1]
    return {
        "train acc": model.score(Xtr, data.y_train),
        "test acc": model.score(Xte, data.y_test),
        "train AUC": float(roc_auc_score(data.y_train, p_train)),
        "test AUC": float(roc_auc_score(data.y_test, p_test)),
    }


def _numpy_blas_threads() -> Optional[int]:
    """numpy's default BLAS thread count, read with threadpoolctl (None if it cannot tell)."""
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    numpy_libs = [i for i in blas if "numpy" in os.path.basename(os.path.dirname(i.get("filepath", "")))]
    chosen = (numpy_libs or blas or [None])[0]
    return None if chosen is None else int(chosen["num_threads"])


# ---------------------------------------------------------------------------------------- 1. timing
def _timed_fits(X: np.ndarray, y: np.ndarray, kw: Dict[str, Any], max_iter: int, repeats: int, bar: Any):
    """``(model, seconds of each fit)``: ``repeats`` timed fits after one 10-iteration warm-up fit."""
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StabilityWarning)  # reported by section 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # 10 iterations need not have learned anything
            NeuralNetwork(max_iter=min(10, max_iter), **kw).fit(X, y)  # warm-up
        model = NeuralNetwork(max_iter=max_iter, **kw)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.fit(X, y)
            times.append(time.perf_counter() - t0)
            bar.update(1)
    return model, times


def compare_backends(
    data: ArticleData,
    models: Iterable[Sequence[int]] = ((), (8, 3)),
    max_iter: int = 2000,
    repeats: int = 3,
    dtypes: Iterable[Any] = (np.float64,),
    learning_rate: float = 1.0,
    random_state: int = 0,
    progress: bool = True,
) -> Tuple[List[Dict[str, Any]], Dict[Tuple[str, str, str], NeuralNetwork]]:
    """Fit each model on each backend, timing the fits, and score the fitted models.

    Three configurations per model and dtype: the C++ backend on every core, the numpy
    reference with numpy's default BLAS threads, and the numpy reference limited to one BLAS
    thread (``threadpoolctl``).  All fits of a model start from the same initial weights.  The
    C++ fits run first and the default-thread numpy fits last, because idle OpenBLAS threads
    keep spinning for a while after a BLAS call and would slow what runs next.

    Parameters
    ----------
    data : ArticleData
        Training and test sets.
    models : iterable of sequences of int, default=((), (8, 3))
        ``n_hidden`` of each model.
    max_iter : int, default=2000
        Iterations of every fit.
    repeats : int, default=3
        Timed fits per configuration (the median is reported), each after one untimed
        10-iteration warm-up fit.
    dtypes : iterable of dtypes, default=(numpy.float64,)
        Data types to train in.
    learning_rate : float, default=1.0
        The article's step.
    random_state : int, default=0
        Seed of the initial weights.
    progress : bool, default=True
        Show a tqdm progress bar on stderr.

    Returns
    -------
    rows : list of dict
        One per (model, dtype, configuration), in table order, with keys ``model``,
        ``n_hidden``, ``dtype``, ``backend``, ``threads``, ``fit_s`` (median seconds),
        ``fit_min_s``, ``speedup`` (this row's time over the C++ time; 1.0 for C++), and the
        metrics ``train acc``, ``test acc``, ``train AUC``, ``test AUC``.
    fitted : dict
        The last fitted model of each configuration, keyed by (model, dtype, backend label).
    """
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    models = [tuple(m) for m in models]
    dtypes = [np.dtype(d) for d in dtypes]
    cpp_threads = _core.default_threads()
    blas_default = _numpy_blas_threads()
    configs = [
        ("cpp", "C++", f"{cpp_threads} threads", None),
        ("numpy", "numpy", "BLAS 1 thread", 1),
        ("numpy", "numpy", f"BLAS {blas_default if blas_default is not None else '?'} (default)", None),
    ]
    results: Dict[Tuple[str, str, int], Dict[str, Any]] = {}
    fitted: Dict[Tuple[str, str, str], NeuralNetwork] = {}
    bar = tqdm(total=len(configs) * len(models) * len(dtypes) * repeats, desc="timed fits", unit="fit", disable=not progress)
    for c, (backend, label, threads, limit) in enumerate(configs):
        for n_hidden in models:
            for dtype in dtypes:
                kw = dict(n_hidden=n_hidden, learning_rate=learning_rate, random_state=random_state, backend=backend)
                with threadpool_limits(limits=limit, user_api="blas") if limit else contextlib.nullcontext():
                    model, times = _timed_fits(data.X_train.astype(dtype), data.y_train, kw, max_iter, repeats, bar)
                name = _model_name(n_hidden)
                results[(name, dtype.name, c)] = dict(
                    model=name,
                    n_hidden=list(n_hidden),
                    dtype=dtype.name,
                    backend=label,
                    threads=threads,
                    fit_s=statistics.median(times),
                    fit_min_s=min(times),
                    **_metrics(model, data, dtype),
                )
                fitted[(name, dtype.name, f"{label}, {threads}")] = model
    bar.close()
    rows = []
    for n_hidden in models:
        for dtype in dtypes:
            name = _model_name(n_hidden)
            cpp_time = results[(name, dtype.name, 0)]["fit_s"]
            for c in range(len(configs)):
                row = results[(name, dtype.name, c)]
                row["speedup"] = row["fit_s"] / cpp_time
                rows.append(row)
    return rows, fitted


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: Optional[str] = None) -> str:
    """Format rows as a plain-text table.

    Parameters
    ----------
    headers : sequence of str
        Column titles.
    rows : sequence of sequences
        Cells, already formatted or anything ``str()`` accepts.
    align : str, optional
        One character per column, ``"<"`` (left) or ``">"`` (right); default: first column
        left, the others right.

    Returns
    -------
    str
        The header, a rule and one line per row, joined by newlines.
    """
    cells = [[str(c) for c in r] for r in rows]
    align = align or "<" + ">" * (len(headers) - 1)
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(f"{v:{a}{w}}" for v, a, w in zip(values, align, widths)).rstrip()

    out = [line(headers), "-" * len(line(headers))]
    out += [line(r) for r in cells]
    return "\n".join(out)


def timing_table(rows: Sequence[Dict[str, Any]]) -> str:
    """The C++ against numpy table printed by ``python -m backprop.article``.

    Parameters
    ----------
    rows : sequence of dict
        The ``rows`` returned by :func:`compare_backends`.

    Returns
    -------
    str
        A plain-text table; ``C++ speed-up`` is how many times faster the C++ fit was than the
        fit of that row.
    """
    show_dtype = len({r["dtype"] for r in rows}) > 1
    headers = ["model"] + (["dtype"] if show_dtype else []) + [
        "backend", "threads", "fit (s)", "C++ speed-up", "train acc", "test acc", "train AUC", "test AUC"
    ]
    body = []
    for r in rows:
        body.append(
            [r["model"]]
            + ([r["dtype"]] if show_dtype else [])
            + [
                r["backend"],
                r["threads"],
                f"{r['fit_s']:.3f}",
                "-" if r["backend"] == "C++" else f"{r['speedup']:.1f}x",
                f"{r['train acc']:.4f}",
                f"{r['test acc']:.4f}",
                f"{r['train AUC']:.4f}",
                f"{r['test AUC']:.4f}",
            ]
        )
    return format_table(headers, body, "<" * (3 + show_dtype) + ">" * 6)


# ---------------------------------------------------------------------------------------- 2. convergence
def stability_limits(X: np.ndarray, p: Optional[np.ndarray] = None) -> Dict[str, float]:
    """Step sizes below which full-batch gradient descent on logistic regression is stable.

    The mean log-loss has Hessian ``X1' D X1 / N`` with ``X1 = [1, X]`` and
    ``D = diag(p (1 - p))``, ``p (1 - p) <= 1/4``.  So it is ``L``-smooth with
    ``L = lambda_max(X1' X1) / (4 N)``, and any step below ``2 / L`` decreases the loss from any
    starting point.  Near the optimum the curvature is lower: a step below
    ``2 / lambda_max(X1' D* X1 / N)`` (``D*`` at the optimum's probabilities ``p``) still
    converges once close, and a larger step makes the iterates leave the optimum along the
    steepest direction, which is where period-2 cycles come from.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training features.
    p : ndarray of shape (n_samples,), optional
        Predicted probabilities at the optimum; when given, the local limit is computed too.

    Returns
    -------
    dict
        ``L`` and ``global`` (= 2 / L); with ``p``, also ``local`` (= 2 / lambda_max of the
        Hessian at ``p``).
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    X1 = np.hstack([np.ones((n, 1)), X])
    L = float(np.linalg.eigvalsh(X1.T @ X1 / n)[-1] / 4)
    out = {"L": L, "global": 2 / L}
    if p is not None:
        w = np.asarray(p, dtype=np.float64) * (1 - np.asarray(p, dtype=np.float64))
        H = X1.T @ (X1 * w[:, None]) / n
        out["local"] = float(2 / np.linalg.eigvalsh(H)[-1])
    return out


def _fit_recording_stability(model: NeuralNetwork, X: np.ndarray, y: np.ndarray) -> Tuple[NeuralNetwork, Optional[str]]:
    """``model.fit(X, y)``, returning the message of its StabilityWarning (or None) instead of issuing it.

    Full-batch gradient descent above the stability limit oscillates, which is the finding of
    section 2; backprop's stability guard warns about it, and the article reports that warning.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StabilityWarning)
        model.fit(X, y)
    message = None
    for w in caught:
        if issubclass(w.category, StabilityWarning):
            message = str(w.message)
        else:  # anything else is not ours to swallow
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model, message


def logistic_convergence(
    data: ArticleData,
    max_iter: int = 2000,
    stable_learning_rate: float = 0.1,
    lr_scan: Iterable[float] = LR_SCAN,
    random_state: int = 0,
) -> Dict[str, Any]:
    """The article's logistic-regression run at ``learning_rate=1.0`` against a stable one.

    Fits ``n_hidden=()`` on the C++ backend at ``learning_rate=1.0`` (the article's) and at
    ``stable_learning_rate``, both for ``max_iter`` iterations from the same initial weights;
    fits scikit-learn's unregularised ``LogisticRegression`` (``C=inf``) as the optimum to
    compare with; and, for each learning rate of ``lr_scan``, records the last two losses (equal
    when the run converged, the two values of the cycle when it did not).

    Parameters
    ----------
    data : ArticleData
        Training and test sets.
    max_iter : int, default=2000
        Iterations of each gradient-descent run.
    stable_learning_rate : float, default=0.1
        A step below the stability limit.
    lr_scan : iterable of float
        Learning rates of the scan.
    random_state : int, default=0
        Seed of the initial weights.

    Returns
    -------
    dict
        ``unstable`` and ``stable`` (each: ``learning_rate``, ``loss_curve``, ``last_losses``
        and the metrics), ``sklearn`` (``loss`` and the metrics), ``limits`` (see
        :func:`stability_limits`) and ``scan`` (a list of ``(learning_rate, loss[-2], loss[-1])``).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    def run(lr: float) -> Dict[str, Any]:
        m, warning = _fit_recording_stability(
            NeuralNetwork(n_hidden=(), learning_rate=lr, max_iter=max_iter, random_state=random_state),
            data.X_train,
            data.y_train,
        )
        curve = np.asarray(m.loss_curve_, dtype=np.float64)
        return dict(
            learning_rate=lr,
            model=m,
            loss_curve=curve,
            last_losses=[float(v) for v in curve[-2:]],
            stability_warning=warning,
            **_metrics(m, data),
        )

    unstable = run(1.0)
    stable = run(stable_learning_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = LogisticRegression(C=np.inf, max_iter=10_000).fit(data.X_train, data.y_train)
    from sklearn.metrics import roc_auc_score

    sk_p_train = sk.predict_proba(data.X_train)[:, 1]
    sk_res = {
        "loss": float(log_loss(data.y_train, sk_p_train)),
        "train acc": float(sk.score(data.X_train, data.y_train)),
        "test acc": float(sk.score(data.X_test, data.y_test)),
        "train AUC": float(roc_auc_score(data.y_train, sk_p_train)),
        "test AUC": float(roc_auc_score(data.y_test, sk.predict_proba(data.X_test)[:, 1])),
    }
    limits = stability_limits(data.X_train, sk_p_train)
    scan = []
    for lr in lr_scan:
        r = stable if lr == stable_learning_rate else unstable if lr == 1.0 else run(lr)
        scan.append((float(lr), *r["last_losses"]))
    return dict(unstable=unstable, stable=stable, sklearn=sk_res, limits=limits, scan=scan, max_iter=max_iter)


# ---------------------------------------------------------------------------------------- 3. sweep
def hidden_node_sweep(
    data: ArticleData,
    sizes: Iterable[int] = SWEEP_SIZES,
    seeds: Iterable[int] = SWEEP_SEEDS,
    max_iter: int = 2000,
    learning_rate: float = 1.0,
    progress: bool = True,
) -> List[Dict[str, Any]]:
    """Test AUC against the number of hidden nodes: one single-hidden-layer fit per size and seed.

    Parameters
    ----------
    data : ArticleData
        Training and test sets.
    sizes : iterable of int
        Units of the hidden layer (``n_hidden=(size,)``); default 1 to 20.
    seeds : iterable of int
        ``random_state`` values; default 0, 1, 2.
    max_iter : int, default=2000
        Iterations per fit.
    learning_rate : float, default=1.0
        The article's step.
    progress : bool, default=True
        Show a tqdm progress bar on stderr.

    Returns
    -------
    list of dict
        One per fit: ``units``, ``seed``, ``fit_s`` and the metrics.
    """
    from tqdm import tqdm

    grid = [(h, s) for h in sizes for s in seeds]
    rows = []
    for h, s in tqdm(grid, desc="hidden-node sweep", unit="fit", disable=not progress):
        t0 = time.perf_counter()
        m, warning = _fit_recording_stability(
            NeuralNetwork(n_hidden=(h,), learning_rate=learning_rate, max_iter=max_iter, random_state=s),
            data.X_train,
            data.y_train,
        )
        fit_s = time.perf_counter() - t0
        rows.append(dict(units=h, seed=s, fit_s=fit_s, stability_warning=warning is not None, **_metrics(m, data)))
    return rows


def summarise_sweep(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Average the sweep over seeds.

    Parameters
    ----------
    rows : sequence of dict
        Output of :func:`hidden_node_sweep`.

    Returns
    -------
    list of dict
        One per size, in increasing size: ``units``, ``n`` (seeds), ``auc_mean``, ``auc_min``,
        ``auc_max``, ``test_acc_mean``, ``train_acc_mean``, ``fit_s_mean``.
    """
    out = []
    for h in sorted({r["units"] for r in rows}):
        rs = [r for r in rows if r["units"] == h]
        aucs = [r["test AUC"] for r in rs]
        out.append(
            dict(
                units=h,
                n=len(rs),
                auc_mean=float(np.mean(aucs)),
                auc_min=float(np.min(aucs)),
                auc_max=float(np.max(aucs)),
                test_acc_mean=float(np.mean([r["test acc"] for r in rs])),
                train_acc_mean=float(np.mean([r["train acc"] for r in rs])),
                fit_s_mean=float(np.mean([r["fit_s"] for r in rs])),
            )
        )
    return out


def elbow(summary: Sequence[Dict[str, Any]], tolerance: float = 0.005) -> Dict[str, Any]:
    """Where the AUC curve flattens: the smallest size within ``tolerance`` of the best mean AUC.

    Parameters
    ----------
    summary : sequence of dict
        Output of :func:`summarise_sweep`.
    tolerance : float, default=0.005
        AUC distance from the best mean AUC that counts as "as good".

    Returns
    -------
    dict
        ``units`` (the elbow), ``auc`` (its mean AUC), ``best_units``, ``best_auc``, ``tolerance``.
    """
    best = max(summary, key=lambda r: r["auc_mean"])
    first = next(r for r in summary if r["auc_mean"] >= best["auc_mean"] - tolerance)
    return dict(units=first["units"], auc=first["auc_mean"], best_units=best["units"], best_auc=best["auc_mean"], tolerance=tolerance)


# ---------------------------------------------------------------------------------------- figures
def _figure(**kw: Any) -> Any:
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kw)


def _plot_roc(path: str, title: str, curves: Sequence[Tuple[str, np.ndarray, np.ndarray, Dict[str, Any]]]) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure(figsize=(6.4, 6.0))
    ax = fig.add_subplot()
    styles = [dict(color="black", lw=2.2), dict(color="tab:orange", lw=1.2, ls="--"), dict(color="tab:blue", lw=1.6)]
    for (label, y, p, extra), style in zip(curves, styles):
        fpr, tpr, _ = roc_curve(y, p)
        auc = roc_auc_score(y, p)
        ax.step(fpr, tpr, where="post", label=f"{label}: AUC {auc:.4f}", **{**style, **extra})
    ax.plot([0, 1], [0, 1], ls=":", color="gray", lw=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.005), xlabel="False positive rate", ylabel="True positive rate", title=title)
    ax.set_aspect("equal")
    ax.minorticks_on()
    ax.grid(True, which="major", alpha=0.5)
    ax.grid(True, which="minor", alpha=0.15)
    ax.legend(loc="lower right", fontsize=9)
    fig.savefig(path, dpi=120)


def plot_rocs(out: str, data: ArticleData, fitted: Dict[Tuple[str, str, str], NeuralNetwork], conv: Dict[str, Any]) -> List[str]:
    """Draw the test-set ROC curve of the article's two models (``roc_logistic.png``, ``roc_8_3.png``).

    Parameters
    ----------
    out : str
        Output directory.
    data : ArticleData
        The data (the test set is used).
    fitted : dict
        Second value returned by :func:`compare_backends` (float64 models are drawn).
    conv : dict
        Output of :func:`logistic_convergence` (its stable run is added to the logistic figure).

    Returns
    -------
    list of str
        Paths written.
    """
    paths = []
    for name, fname, title in (
        ("[]", "roc_logistic.png", "Logistic regression (n_hidden=[]): test-set ROC"),
        ("[8, 3]", "roc_8_3.png", "n_hidden=[8, 3]: test-set ROC"),
    ):
        ms = [(k[2], m) for k, m in fitted.items() if k[0] == name and k[1] == "float64"]
        if not ms:
            continue
        cpp = next(m for lab, m in ms if lab.startswith("C++"))
        ref = next(m for lab, m in ms if lab.startswith("numpy"))
        it = cpp.n_iter_
        curves: List[Tuple[str, np.ndarray, np.ndarray, Dict[str, Any]]] = [
            (f"C++, learning_rate=1.0, {it} it.", data.y_test, cpp.predict_proba(data.X_test)[:, 1], {}),
            (f"numpy, learning_rate=1.0, {it} it.", data.y_test, ref.predict_proba(data.X_test)[:, 1], {}),
        ]
        if name == "[]":
            st = conv["stable"]
            curves.append(
                (
                    f"C++, learning_rate={st['learning_rate']} (stable step), {conv['max_iter']} it.",
                    data.y_test,
                    st["model"].predict_proba(data.X_test)[:, 1],
                    {},
                )
            )
        path = os.path.join(out, fname)
        _plot_roc(path, title, curves)
        paths.append(path)
    return paths


def plot_convergence(path: str, conv: Dict[str, Any]) -> str:
    """Draw the logistic-regression loss curves and the learning-rate scan (``logistic_convergence.png``).

    Parameters
    ----------
    path : str
        PNG file to write.
    conv : dict
        Output of :func:`logistic_convergence`.

    Returns
    -------
    str
        ``path``.
    """
    un, st, sk, lim = conv["unstable"], conv["stable"], conv["sklearn"], conv["limits"]
    fig = _figure(figsize=(15, 4.8))
    a1, a2, a3 = fig.subplots(1, 3)
    n_zoom = min(40, len(un["loss_curve"]))
    it = np.arange(n_zoom)
    a1.plot(it, un["loss_curve"][:n_zoom], "o-", color="tab:red", ms=3.5, lw=1, label="learning_rate=1.0 (the article's)")
    a1.plot(it, st["loss_curve"][:n_zoom], "o-", color="tab:blue", ms=3.5, lw=1, label=f"learning_rate={st['learning_rate']}")
    a1.axhline(sk["loss"], color="black", ls="--", lw=1, label="optimum (scikit-learn)")
    a1.set(xlabel="iteration", ylabel="training log-loss", title=f"(a) the first {n_zoom} iterations")
    a1.legend(fontsize=8)

    curve = un["loss_curve"]
    n = len(curve)
    even, odd = np.arange(0, n, 2), np.arange(1, n, 2)
    a2.plot(even + 1, curve[even], color="tab:red", lw=1.5, label="learning_rate=1.0, iterations 1, 3, 5, ...")
    a2.plot(odd + 1, curve[odd], color="tab:orange", lw=1.5, label="learning_rate=1.0, iterations 2, 4, 6, ...")
    a2.plot(np.arange(1, n + 1), st["loss_curve"], color="tab:blue", lw=1.5, label=f"learning_rate={st['learning_rate']}")
    a2.axhline(sk["loss"], color="black", ls="--", lw=1, label="optimum (scikit-learn)")
    a2.set_xscale("log")
    a2.set(xlabel="iteration (log scale)", ylabel="training log-loss", title=f"(b) all {n} iterations: a 2-cycle at 1.0")
    a2.legend(fontsize=8)

    scan = np.array(conv["scan"])
    a3.plot(scan[:, 0], scan[:, 1], "o", color="tab:red", ms=5, label="loss at iteration n-1")
    a3.plot(scan[:, 0], scan[:, 2], "x", color="black", ms=6, label="loss at iteration n")
    a3.axvline(lim["global"], color="gray", ls=":", label=f"2/L = {lim['global']:.3f} (always stable below)")
    if "local" in lim:
        a3.axvline(lim["local"], color="gray", ls="--", label=f"local limit at the optimum = {lim['local']:.3f}")
    a3.axhline(sk["loss"], color="black", ls="--", lw=1)
    a3.set(xlabel="learning_rate", ylabel="training log-loss", title=f"(c) last two losses after {conv['max_iter']} iterations")
    a3.legend(fontsize=8, loc="upper left")
    for ax in (a1, a2, a3):
        ax.grid(True, alpha=0.3)
    fig.suptitle("Logistic regression (n_hidden=[]) by full-batch gradient descent: the article's step does not converge")
    fig.savefig(path, dpi=110)
    return path


def plot_sweep(path: str, rows: Sequence[Dict[str, Any]], summary: Sequence[Dict[str, Any]], knee: Dict[str, Any],
               reference: Optional[Tuple[int, float]] = None, max_iter: int = 2000) -> str:
    """Draw test AUC against the number of hidden nodes (``auc_vs_hidden_nodes.png``).

    Parameters
    ----------
    path : str
        PNG file to write.
    rows, summary, knee
        Outputs of :func:`hidden_node_sweep`, :func:`summarise_sweep` and :func:`elbow`.
    reference : (int, float), optional
        Total hidden units and test AUC of the [8, 3] model, drawn as a separate marker.
    max_iter : int, default=2000
        Iterations of the sweep's fits (for the title).

    Returns
    -------
    str
        ``path``.
    """
    fig = _figure(figsize=(8, 5.2))
    ax = fig.add_subplot()
    u = np.array([r["units"] for r in summary])
    if any(r["n"] > 1 for r in summary):
        ax.fill_between(u, [r["auc_min"] for r in summary], [r["auc_max"] for r in summary], color="tab:blue",
                        alpha=0.15, label="min to max over seeds (dots: single fits)")
    ax.plot(u, [r["auc_mean"] for r in summary], "o-", color="tab:blue", label="mean test AUC")
    ax.plot([r["units"] for r in rows], [r["test AUC"] for r in rows], ".", color="tab:blue", alpha=0.45, ms=4)
    ax.axvline(knee["units"], color="gray", ls="--", lw=1,
               label=f"flattens at {knee['units']} units (within {knee['tolerance']} of the best mean)")
    if reference is not None:
        ax.plot([reference[0]], [reference[1]], "*", color="tab:red", ms=13, label="n_hidden=[8, 3] (11 units in all, seed 0)")
    seeds = sorted({r["seed"] for r in rows})
    ax.set(xlabel="units in the single hidden layer", ylabel="test AUC",
           title=f"Test AUC against number of hidden nodes\n(one hidden layer, {max_iter} iterations, learning_rate=1.0, "
                 f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})")
    ax.set_xticks(u)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.savefig(path, dpi=120)
    return path


# ---------------------------------------------------------------------------------------- main
def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items() if k != "model"}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _print_header(quick: bool, max_iter: int, repeats: int, blas_note: Optional[str]) -> None:
    blas_default = _numpy_blas_threads()
    print(f'backprop {__version__}: "ML From Scratch, Part 3: Backpropagation", reproduced on both backends'
          + (f" (QUICK MODE: {max_iter} iterations, not the article's numbers)" if quick else ""))
    print("data: make_classification(n_samples=5000, n_features=20, n_informative=15, n_redundant=3, flip_y=0.05, "
          "random_state=42); first 4000 rows train, last 1000 test")
    print(f"machine: {machine_line()}; numpy {np.__version__}; C++ kernels built for {_core.isa}")
    print(f"BLAS environment: {blas_note or blas_env_note()}")
    print(f"timing: median of {repeats} fit(s), each configuration after one 10-iteration warm-up fit; C++ on "
          f"{_core.default_threads()} threads; numpy reference with 1 BLAS thread and with its default ({blas_default})")


def _section_timing(data: ArticleData, max_iter: int, repeats: int, progress: bool):
    """Section 1: the article's two models on both backends."""
    print(f"\n1. The article's two models: {max_iter} iterations, learning_rate=1.0, random_state=0, float64\n")
    rows, fitted = compare_backends(data, max_iter=max_iter, repeats=repeats, progress=progress)
    print(timing_table(rows))
    slow = [r for r in rows if r["threads"].endswith("(default)")
            and r["fit_s"] > 1.5 * next(q["fit_s"] for q in rows if q["model"] == r["model"] and q["threads"] == "BLAS 1 thread")]
    if slow:
        print("\nnumpy with its default BLAS threads was slower than with one thread here"
              f" ({', '.join(r['model'] for r in slow)}): OpenBLAS splits each of these small"
              "\nproducts over its threads, and when other processes share the cores the threads wait for each other;"
              "\nthose times depend on the machine's load, the 1-thread ones much less.")
    print("\nThe article: n_hidden=[] train accuracy 0.719, test accuracy 0.717, test AUC 0.7866;"
          "\n             n_hidden=[8, 3] \"0.96 AUC and 95% accuracy on the training set and 91% accuracy on the test set\".")
    return rows, fitted


def _section_convergence(data: ArticleData, max_iter: int, lr_scan: Sequence[float]) -> Dict[str, Any]:
    """Section 2: the logistic regression at the article's step does not converge."""
    conv = logistic_convergence(data, max_iter=max_iter, lr_scan=lr_scan)
    un, st, sk, lim = conv["unstable"], conv["stable"], conv["sklearn"], conv["limits"]
    print("\n2. Our finding: the article's logistic-regression run does not converge\n")
    print(f"Full-batch gradient descent on the mean log-loss of logistic regression is guaranteed to descend only for"
          f"\nlearning_rate < 2/L = {lim['global']:.3f}, where L = lambda_max(X1'X1)/(4N) = {lim['L']:.2f} (X1 = [1, X_train]);"
          f"\nnear the optimum the curvature is lower and steps up to {lim['local']:.3f} still converge. At learning_rate=1.0"
          f"\nthe loss alternates between {un['last_losses'][0]:.4f} and {un['last_losses'][1]:.4f} (iterations "
          f"{max_iter - 1} and {max_iter}), far above the optimum.")
    conv_rows = [
        ["learning_rate=1.0 (the article's)", f"{un['last_losses'][0]:.5f} / {un['last_losses'][1]:.5f}",
         f"{un['train acc']:.4f}", f"{un['test acc']:.4f}", f"{un['test AUC']:.4f}"],
        [f"learning_rate={st['learning_rate']} (stable)", f"{st['last_losses'][0]:.5f} / {st['last_losses'][1]:.5f}",
         f"{st['train acc']:.4f}", f"{st['test acc']:.4f}", f"{st['test AUC']:.4f}"],
        ["scikit-learn LogisticRegression(C=inf)", f"{sk['loss']:.5f}", f"{sk['train acc']:.4f}", f"{sk['test acc']:.4f}",
         f"{sk['test AUC']:.4f}"],
    ]
    print()
    print(format_table(["logistic regression, n_hidden=[]", "last two losses", "train acc", "test acc", "test AUC"], conv_rows))
    if un["stability_warning"]:
        print(f"\nbackprop's stability guard flags the learning_rate=1.0 run:\n  StabilityWarning: {un['stability_warning']}")
    print("\nlearning-rate scan (last two losses): " + ", ".join(
        f"{lr:g}: {a:.4f}" + ("" if abs(a - b) <= 1e-9 * max(1.0, abs(a)) else f"/{b:.4f}") for lr, a, b in conv["scan"]))
    reached = abs(st["last_losses"][-1] - sk["loss"]) <= 1e-6 * sk["loss"]
    print(f"\nIn one sentence: at the article's learning_rate=1.0 the logistic regression never converges (its loss cycles"
          f"\nbetween two values and the seed picks which one iteration {max_iter} lands on), while a stable step "
          f"(learning_rate={st['learning_rate']},\nsame {max_iter} iterations) {'reaches' if reached else 'approaches'} "
          f"the optimum: test accuracy {st['test acc']:.3f} and AUC {st['test AUC']:.4f} instead of "
          f"{un['test acc']:.3f} and {un['test AUC']:.4f}.")
    return conv


def _section_sweep(data: ArticleData, sizes: Sequence[int], seeds: Sequence[int], max_iter: int, progress: bool):
    """Section 3: test AUC against the number of hidden nodes."""
    print(f"\n3. Test AUC against number of hidden nodes: single hidden layers of {sizes[0]} to {sizes[-1]} units"
          f" ({len(sizes)} sizes), seeds {list(seeds)},\n   C++ backend, {max_iter} iterations, learning_rate=1.0\n")
    sweep = hidden_node_sweep(data, sizes, seeds, max_iter=max_iter, progress=progress)
    summary = summarise_sweep(sweep)
    knee = elbow(summary)
    seed_cols = len(seeds) > 1
    table = []
    for r in summary:
        table.append([r["units"], f"{r['auc_mean']:.4f}"] + ([f"{r['auc_min']:.4f}", f"{r['auc_max']:.4f}"] if seed_cols else [])
                     + [f"{r['test_acc_mean']:.4f}", f"{r['train_acc_mean']:.4f}"])
    print(format_table(["units", "test AUC (mean)" if seed_cols else "test AUC"] + (["min", "max"] if seed_cols else []) + ["test acc", "train acc"],
                       table, ">" * (len(table[0]) if table else 1)))
    print(f"\nThe curve flattens at {knee['units']} units: the smallest layer whose mean test AUC ({knee['auc']:.4f}) is within "
          f"{knee['tolerance']} of the best\n({knee['best_auc']:.4f} at {knee['best_units']} units). The article saw its elbow "
          f"near 10 nodes.")
    flagged = sorted({r["units"] for r in sweep if r["stability_warning"]})
    if flagged:
        n_flagged = sum(r["stability_warning"] for r in sweep)
        print(f"The stability guard warned on {n_flagged} of {len(sweep)} sweep fits (units {flagged}): their loss cycles "
              f"at learning_rate=1.0 too.")
    return sweep, summary, knee


def _write_outputs(out: str, data: ArticleData, rows, fitted, conv, sweep_results, results: Dict[str, Any]) -> List[str]:
    """The figures and results.json in ``out``; returns their paths."""
    sweep, summary, knee = sweep_results
    max_iter = results["max_iter"]
    eight3 = next((r for r in rows if r["model"] == "[8, 3]" and r["backend"] == "C++"), None)
    files = plot_rocs(out, data, fitted, conv)
    files.append(plot_convergence(os.path.join(out, "logistic_convergence.png"), conv))
    files.append(plot_sweep(os.path.join(out, "auc_vs_hidden_nodes.png"), sweep, summary, knee,
                            (11, eight3["test AUC"]) if eight3 else None, max_iter))
    results_path = os.path.join(out, "results.json")
    with open(results_path, "w") as f:
        json.dump(_json_safe(results), f, indent=1)
    files.append(results_path)
    return files


def main(argv: Optional[Sequence[str]] = None, blas_note: Optional[str] = None) -> int:
    """Run the whole reproduction and print its report.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default ``sys.argv[1:]``): ``--quick``, ``--out DIR``,
        ``--repeats N``, ``--no-progress``.
    blas_note : str, optional
        What was done about the BLAS environment variables (from
        :func:`backprop._timing.ensure_clean_blas_env`); default: describe the current environment.

    Returns
    -------
    int
        Exit status: 0, or 1 when the ``[bench]`` extra is missing (with a message on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m backprop.article",
        description="Reproduce 'ML From Scratch, Part 3: Backpropagation' on the C++ and numpy backends.",
    )
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK_MAX_ITER} iterations, one timed fit, sweep of 1, 2, 4, 8 units with one seed")
    parser.add_argument("--out", default="backprop-article", help="directory for the PNGs and results.json (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=None, help="timed fits per configuration (default 3; 1 with --quick)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        _require_extras()
    except MissingExtraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    max_iter = QUICK_MAX_ITER if args.quick else 2000
    repeats = args.repeats or (1 if args.quick else 3)
    sizes, seeds = (QUICK_SWEEP_SIZES, QUICK_SWEEP_SEEDS) if args.quick else (SWEEP_SIZES, SWEEP_SEEDS)
    lr_scan = QUICK_LR_SCAN if args.quick else LR_SCAN
    progress = not args.no_progress
    os.makedirs(args.out, exist_ok=True)
    t_start = time.perf_counter()

    data = article_data()
    _print_header(args.quick, max_iter, repeats, blas_note)
    rows, fitted = _section_timing(data, max_iter, repeats, progress)
    conv = _section_convergence(data, max_iter, lr_scan)
    sweep, summary, knee = _section_sweep(data, sizes, seeds, max_iter, progress)

    files = _write_outputs(args.out, data, rows, fitted, conv, (sweep, summary, knee), dict(
        backprop=__version__, quick=args.quick, max_iter=max_iter, repeats=repeats, machine=machine_line(),
        isa=_core.isa, numpy=np.__version__, blas=blas_note or blas_env_note(), timing=rows,
        logistic_convergence={key: conv[key] for key in ("unstable", "stable", "sklearn", "limits", "scan")},
        sweep=dict(sizes=list(sizes), seeds=list(seeds), fits=sweep, summary=summary, elbow=knee),
    ))
    print(f"\nwrote {len(files)} files in {time.perf_counter() - t_start:.0f} s:")
    for p in files:
        print(f"  {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(blas_note=ensure_clean_blas_env(module="backprop.article")))
