"""The benchmark suite of issue 3 (and issue 5's mini-batch Adam row): every contender side by side, in one
run, on one table.

    python benchmarks/bench_suite.py                 # full run (15-30 min on the 2-core machine)
    python benchmarks/bench_suite.py --quick         # shrunken sizes, whole run under a minute (45 s budget)
    python benchmarks/bench_suite.py --smoke         # tiny sizes, seconds (what tests/test_bench_suite.py runs)
    python benchmarks/bench_suite.py --out DIR       # where the JSON / PNG / TXT go (default benchmarks/results/)

Other options: --threads N (every contender on N threads instead of all cores), --wait-quiet S (wait
up to S seconds for other people's jobs to leave the cores), --contenders cpp,numpy,... (a subset),
--compile / --no-compile, --per-cell / --grouped (process layout, see Timing), --budget S, --repeats N
(N timed runs of every cell instead of the mode's defaults: more of them settle thin margins on a
noisy machine).

It prints ONE main table (rows: workload x dtype; columns: contenders; cell: median time, achieved
GFLOP/s, ratio to the numpy reference of the same dtype) followed by small supporting tables (machine
limit, peak memory of each fit, fit time against N and against max_iter, torch.compile compile time,
validation), and writes suite_<mode>.json, suite_<mode>.png (if matplotlib is installed) and
suite_<mode>.txt into the output folder.

Contenders
----------
* backprop C++ (``NeuralNetwork(backend="cpp")``, all cores), float64 and float32.
* C++ through the no-validation path (inference and latency rows only): a documented fast method of
  ``NeuralNetwork`` when one exists (any public ``predict*`` method other than predict/predict_proba),
  otherwise the private ``backprop._core.predict_proba(X, weights, n_threads)``; the output says which.
* backprop.reference (numpy) through ``NeuralNetwork(backend="numpy")`` for training and through
  ``reference.predict_proba`` for inference, with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from
  the environment (the script re-executes itself without them; see _timing.ensure_clean_blas_env).
* PyTorch eager on the CPU, when importable: Linear layers with sigmoid between them, one output
  logit, BCEWithLogitsLoss (= sigmoid + log-loss, same gradient), full-batch SGD(lr, momentum=0),
  X does not require grad, torch.set_num_threads(all cores).
* torch.compile of the same module (forward + AOT backward compiled, optimizer step eager): steady
  state timed after a warm-up fit; the warm-up's extra time is reported as compile time. Skipped in
  --quick / --smoke (compiling alone takes 5-30 s) unless --compile is given.
* scikit-learn MLPClassifier(activation='logistic', solver='sgd', batch_size=N,
  learning_rate='constant', learning_rate_init=lr, momentum=0, nesterovs_momentum=False, alpha=0,
  tol=0, n_iter_no_change=1e9, shuffle=False, early_stopping=False, max_iter=iters), when importable;
  ConvergenceWarning silenced.
* The machine's limit, measured in the same run: best of 3 numpy float64 / float32 square matmuls
  (4096, quick 2048) on all cores, with the same clean BLAS environment, at the start and (full run)
  at the end; "% peak" uses the higher of the two.

Every training contender starts from the same weights (``reference.init_weights`` with seed 0, the
article's N(0, 0.1^2)): torch and scikit-learn get them copied in (scikit-learn through warm_start),
so all of them follow the same trajectory, which the validation checks.

Row (f), mini-batch Adam (issue 5), has its own configuration of the same contenders:
* backprop C++ / reference: ``NeuralNetwork(n_hidden=..., solver="adam", batch_size=b, learning_rate=1e-3,
  max_iter=epochs, random_state=0, backend="cpp" | "numpy")``, Adam's defaults (beta_1 0.9, beta_2 0.999,
  epsilon 1e-8); the estimator draws one permutation of the rows per epoch from random_state. A backprop
  whose NeuralNetwork has no ``solver`` parameter (issue 5 not installed) gets a "skipped" cell with a note.
* PyTorch eager: the same Sequential, ``torch.optim.Adam(lr, betas, eps)``, BCEWithLogitsLoss (mean over the
  batch), a new permutation every epoch (numpy Generator), consecutive slices of b rows (the last shorter),
  rows gathered with index_select; eps is rescaled per step so that torch's update is exactly
  scikit-learn's and ours (see TorchAdamTrainer). No torch.compile column: a per-batch Python loop with a
  shorter last batch (a second shape) would time recompilation and the eager optimizer more than the graph.
* scikit-learn ``MLPClassifier(solver="adam", batch_size=b, activation="logistic", alpha=0,
  learning_rate_init=1e-3, max_iter=epochs, shuffle=True, tol=0, n_iter_no_change=max_iter+1,
  early_stopping=False)``, our weights copied in as for the other rows.
Torch and scikit-learn shuffle with their own random numbers, so on the full data they follow other
batches than the estimator: the slice check runs them unshuffled against ``reference.train(...,
solver="adam", batch_size=b)`` in natural order (exact agreement), and the full-data cross-check only
asks their first-epoch loss to be within 5 % of the reference cell's. C++ and the reference share the
estimator's permutations and are held to the usual tolerances.

Workloads (full; --quick / --smoke shrink N, iterations and repeats and say so)
--------------------------------------------------------------------------------
(a) article: 4000 x 20, n_hidden=(8, 3), 2000 iterations;   (b) medium: 60000 x 784, (256, 128), 20;
(c) wide: 10000 x 100, (1024, 1024), 20;   (d) inference: predict_proba on 1,000,000 x 20, (8, 3);
(e) latency of predict_proba on 1 row and on 32 rows (d=20, (8, 3)), microseconds per call, median
over samples of many calls each;   (f) mini-batch Adam: 60000 x 784, (256, 128), batches of 256, 3 epochs
(quick: 2048 rows, 2 epochs; smoke: 300 x 20, (16, 8), batches of 64, 2 epochs). Data: standard-normal
X, labels from a noisy linear rule, fixed seeds, generated outside the timed region (in chunks, straight
into the target dtype).

FLOP counting (work actually done; nobody computes the gradient w.r.t. X)
--------------------------------------------------------------------------
Layer l maps k_l inputs to m_l outputs (bias folded in: k_l + 1 columns). Per training iteration:
    forward            2 * N * sum_l (k_l + 1) * m_l
    weight gradient    2 * N * sum_l (k_l + 1) * m_l
    delta propagation  2 * N * sum_{l >= 2} k_l * m_l          (no delta for the input layer)
Inference = the forward term only. Elementwise work (sigmoid, a*(1-a), the loss, Adam's update) is not
counted. Row (f) counts the same per-sample work once per epoch (every row goes forward and backward once
per epoch, whatever the batch size): its "iterations" are epochs.
PERF-ANCHORS.md quotes a "nominal" 3 x forward count; ours is 0.712x of it on (a), 0.714x on (b),
0.969x on (c).

Timing
------
Each training cell runs in a fresh subprocess (in --quick / --smoke: one subprocess per contender,
to save the import time of torch and scikit-learn): make the data, check the contender against the
reference on a slice (loss curve and predictions; llm.c's "validate, then time"), prime it with a
1-iteration fit on 64 rows, then one warm-up fit (fewer iterations on the big workloads), then
``repeats`` timed fits with time.perf_counter (5 on (a), 3 on (b)/(c), 2 when the warm-up predicts
a fit longer than 20 s); the cell is the median (all times and the min are in the JSON). The
warm-up fit's first losses are also compared with the reference cell's (same data, same start).
Everything runs sequentially, one contender at a time, all on the same number of threads.

The machine is shared: jobs of other people that this process cannot see take CPU time, and with
2 threads on 2 cores a busy core stalls every parallel region (OpenBLAS, OpenMP, our thread pool).
Each timed window therefore records how many cores the rest of the machine used meanwhile (from
/proc/stat minus our own CPU time), shown as "others' CPU"; cells measured while it is high are
slower than the code is, for every contender, and small workloads suffer most.

Peak memory
-----------
After data creation and priming: gc, reset the kernel's peak-RSS mark (write 5 to
/proc/self/clear_refs), read VmRSS as the baseline; after the fits read VmHWM (the same high-water
mark ru_maxrss reports, limited to this process). Where the reset is not possible, fall back to
resource.getrusage(RUSAGE_SELF).ru_maxrss minus its value after data creation. Reported next to the
training data (X and y bytes) and to the activations the algorithm must keep (N * sum of layer
widths incl. the output * itemsize). Includes whatever the library allocates on first use
(thread pools, torch.compile's compiler).

Row (f) trains on mini-batches, so what it must keep is bounded by the batch, not by N: its
"activ." figure is batch_size * sum of layer widths * itemsize, and its budget (the C++ ratio column
and the issue-3 memory target) adds Adam's state, two arrays shaped like the weights (M and S; 3.7 MB
in float64 for (256, 128) on 784 features). A fit whose extra memory grows with N (a shuffled copy of
X, activations for all rows) shows up as a ratio well above 1 on the full run's 60000 rows; the rows
of the current batch that a library gathers (index_select, X[idx]) are part of its extra RSS.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _timing import clean_blas_env, ensure_clean_blas_env, machine_line  # noqa: E402

SCHEMA = 1
SEED = 0
LR = 1.0
N_CPUS = os.cpu_count() or 1
# --threads N reaches the workers through this variable; without it every contender uses all cores and
# the C++ backend its own default (n_threads=None)
_THREADS_ENV = os.environ.get("BACKPROP_BENCH_THREADS")
N_THREADS = int(_THREADS_ENV) if _THREADS_ENV else N_CPUS
CPP_THREADS = int(_THREADS_ENV) if _THREADS_ENV else None

CONTENDERS = ["cpp", "cpp_fast", "numpy", "torch", "torch_compile", "sklearn"]
COLORS = {"cpp": "tab:blue", "cpp_fast": "tab:cyan", "numpy": "tab:green", "torch": "tab:red",
          "torch_compile": "tab:orange", "sklearn": "tab:purple"}
LABELS = {
    "cpp": "backprop C++",
    "cpp_fast": "C++ no-valid.",
    "numpy": "reference numpy",
    "torch": "torch eager",
    "torch_compile": "torch.compile",
    "sklearn": "sklearn MLP",
}
TRAIN_CONTENDERS = ["cpp", "numpy", "torch", "torch_compile", "sklearn"]
# the mini-batch Adam row (f): no torch.compile (see the docstring)
MINIBATCH_CONTENDERS = ["cpp", "numpy", "torch", "sklearn"]
# Adam's constants, scikit-learn's names and defaults (= the estimator's and torch's defaults)
ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
INFER_CONTENDERS = ["cpp", "cpp_fast", "numpy", "torch", "sklearn"]
DTYPES = ["float64", "float32"]

# Worker groups: in --quick / --smoke one subprocess per group runs all its cells.
GROUP_OF = {"cpp": "backprop", "cpp_fast": "backprop", "numpy": "numpy", "torch": "torch",
            "torch_compile": "torch_compile", "sklearn": "sklearn"}

FAST_PATH_NAMES = (
    "predict_proba_fast",
    "predict_proba_unchecked",
    "predict_proba_no_validation",
    "predict_proba_nocheck",
    "fast_predict_proba",
    "predict_proba_raw",
)


# ====================================================================== configuration
def make_config(mode):
    """Workloads, repeats and the scaling grids of one mode ('full', 'quick' or 'smoke')."""
    if mode == "full":
        train = [
            dict(key="a", name="article", n=4000, d=20, hidden=[8, 3], iters=2000, warm_iters=200, repeats=5),
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
    return dict(mode=mode, train=train, infer=infer, latency=latency, scaling=scaling, peak_n=peak_n,
                slow_fit_s=slow_fit_s, timeout=timeout, budget=budget)


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


# ====================================================================== worker side
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


def _loadavg():
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


def fast_path_name():
    from backprop import NeuralNetwork

    for name in FAST_PATH_NAMES:
        if callable(getattr(NeuralNetwork, name, None)):
            return name
    for name in sorted(dir(NeuralNetwork)):
        if not name.startswith("_") and "predict" in name and name not in ("predict", "predict_proba"):
            if callable(getattr(NeuralNetwork, name)):
                return name
    return None


# ---------------------------------------------------------------------- trainers
class CppTrainer:
    """NeuralNetwork(backend=...).fit: the public API; the same initial weights every fit (random_state)."""

    def __init__(self, X, y, W0, hidden, backend="cpp"):
        from backprop import NeuralNetwork

        self.model = NeuralNetwork(n_hidden=tuple(hidden), learning_rate=LR, max_iter=1, random_state=SEED,
                                   backend=backend, n_threads=CPP_THREADS if backend == "cpp" else None)

    def reset(self):
        pass

    def run(self, X, y, iters, record=False):
        self.model.set_params(max_iter=iters)
        self.model.fit(X, y)
        return [float(v) for v in self.model.loss_curve_] if record else None

    def proba(self, X):
        return self.model.predict_proba(X)[:, 1]


class NumpyTrainer(CppTrainer):
    def __init__(self, X, y, W0, hidden):
        super().__init__(X, y, W0, hidden, backend="numpy")


class TorchTrainer:
    """The same network in torch: Linear + Sigmoid, one logit, BCEWithLogitsLoss, full-batch SGD."""

    compile = False

    def __init__(self, X, y, W0, hidden):
        import numpy as np
        import torch

        torch.set_num_threads(N_THREADS)
        self.torch = torch
        tdtype = torch.float64 if X.dtype == np.float64 else torch.float32
        self.linears = [torch.nn.Linear(W.shape[1] - 1, W.shape[0], dtype=tdtype) for W in W0]
        layers = []
        for i, lin in enumerate(self.linears):
            layers.append(lin)
            if i < len(self.linears) - 1:
                layers.append(torch.nn.Sigmoid())
        self.model = torch.nn.Sequential(*layers)
        self.forward = torch.compile(self.model) if self.compile else self.model
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=0.0)
        self.loss_fn = torch.nn.BCEWithLogitsLoss()
        self.W0 = W0
        self.reset()

    def reset(self):
        with self.torch.no_grad():
            for lin, W in zip(self.linears, self.W0):
                lin.weight.copy_(self.torch.from_numpy(W[:, 1:]))
                lin.bias.copy_(self.torch.from_numpy(W[:, 0]))

    def run(self, X, y, iters, record=False):
        torch = self.torch
        Xt = torch.from_numpy(X)
        yt = torch.from_numpy(y).view(-1, 1)
        losses = []
        for _ in range(iters):
            self.opt.zero_grad(set_to_none=True)
            logits = self.forward(Xt)
            loss = self.loss_fn(logits, yt)
            if record:  # the reference's loss: p clipped to [eps, 1 - eps] (BCEWithLogits does not clip)
                with torch.no_grad():
                    eps = torch.finfo(logits.dtype).eps
                    p = torch.sigmoid(logits).clamp(eps, 1 - eps)
                    losses.append(float(-torch.where(yt == 1, p, 1 - p).log().mean()))
            loss.backward()
            self.opt.step()
        return losses if record else None

    def proba(self, X):
        with self.torch.inference_mode():
            return self.torch.sigmoid(self.model(self.torch.from_numpy(X))).numpy()[:, 0]


class TorchCompileTrainer(TorchTrainer):
    compile = True


class SklearnTrainer:
    """MLPClassifier as close as it allows; our initial weights copied in through warm_start."""

    def __init__(self, X, y, W0, hidden):
        import numpy as np
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        warnings.simplefilter("ignore", ConvergenceWarning)
        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(hidden), activation="logistic", solver="sgd", batch_size=2,
            learning_rate="constant", learning_rate_init=LR, momentum=0.0, nesterovs_momentum=False, alpha=0.0,
            tol=0.0, n_iter_no_change=10**9, shuffle=False, early_stopping=False, max_iter=1, warm_start=True,
            random_state=SEED,
        )
        # One tiny fit builds the fitted structures (label binarizer, coefs_ shapes); reset() then
        # replaces the weights, and warm_start makes every later fit start from them.
        idx = [int(np.argmin(y)), int(np.argmax(y))]
        self.clf.fit(X[idx], y[idx])
        self.W0 = W0

    def reset(self):
        import numpy as np

        # np.array(copy=True): for a (1, k+1) W, W[:, 1:].T is "contiguous" and ascontiguousarray would
        # return a view, letting sklearn's in-place updates overwrite the shared initial weights
        self.clf.coefs_ = [np.array(W[:, 1:].T, order="C", copy=True) for W in self.W0]
        self.clf.intercepts_ = [W[:, 0].copy() for W in self.W0]

    def run(self, X, y, iters, record=False):
        self.clf.set_params(max_iter=iters, batch_size=X.shape[0])
        before = len(self.clf.loss_curve_)  # warm_start appends to loss_curve_
        self.clf.fit(X, y)
        ran = len(self.clf.loss_curve_) - before
        if ran != iters:
            raise RuntimeError(f"sklearn ran {ran} epochs, expected {iters}")
        losses = [float(v) for v in self.clf.loss_curve_[before:]] if record else None
        del self.clf.loss_curve_[before:]  # keep the list from growing over the repeats
        return losses

    def proba(self, X):
        return self.clf.predict_proba(X)[:, 1]


# ---------------------------------------------------------------------- mini-batch Adam trainers (row f)
class Unsupported(Exception):
    """This contender cannot run this workload in the installed versions: the cell is skipped with the message."""


def backprop_has_solvers():
    """Whether the installed NeuralNetwork takes issue 5's solver / batch_size parameters."""
    import inspect

    from backprop import NeuralNetwork

    return "solver" in inspect.signature(NeuralNetwork).parameters


def reference_has_solvers():
    import inspect

    from backprop import reference

    return "solver" in inspect.signature(reference.train).parameters


NO_SOLVER_NOTE = ("this backprop's NeuralNetwork has no `solver` parameter (issue 5's mini-batch solvers are not "
                  "in the installed build): mini-batch Adam cell skipped")


class CppAdamTrainer(CppTrainer):
    """NeuralNetwork(solver="adam", batch_size=b, learning_rate=lr): shuffles every epoch from random_state."""

    def __init__(self, X, y, W0, hidden, backend="cpp", *, lr, batch_size, shuffle=True):
        from backprop import NeuralNetwork

        if not backprop_has_solvers():
            raise Unsupported(NO_SOLVER_NOTE)
        self.model = NeuralNetwork(n_hidden=tuple(hidden), learning_rate=lr, max_iter=1, random_state=SEED,
                                   backend=backend, n_threads=CPP_THREADS if backend == "cpp" else None,
                                   solver="adam", batch_size=batch_size, **ADAM)


class NumpyAdamTrainer(CppAdamTrainer):
    def __init__(self, X, y, W0, hidden, **kw):
        super().__init__(X, y, W0, hidden, backend="numpy", **kw)


class TorchAdamTrainer(TorchTrainer):
    """The same network in torch with torch.optim.Adam (same betas and eps) on mini-batches.

    Every epoch draws a permutation of the rows (numpy Generator seeded like the run, reset with the
    weights, so every timed fit sees the same batches) and steps through consecutive slices of it, the
    last one shorter when batch_size does not divide N; shuffle=False keeps the natural order (for the
    check against the reference). Rows are gathered per batch with index_select, as scikit-learn and
    the reference gather theirs.

    torch's Adam adds eps to the bias-corrected sqrt(S / (1 - beta_2**t)), scikit-learn and backprop add
    it to sqrt(S) (Kingma & Ba's "eps hat" form). Setting the group's eps to eps / sqrt(1 - beta_2**t)
    before step t makes torch's update exactly theirs (one dict write per step; measured: without it
    the losses differ by ~1e-4 relative after two epochs on (f)'s shapes, since early steps divide
    gradients of 1e-6..1e-5 by sqrt(S) + eps).
    """

    def __init__(self, X, y, W0, hidden, *, lr, batch_size, shuffle=True):
        self.lr, self.batch_size, self.shuffle = lr, batch_size, shuffle
        super().__init__(X, y, W0, hidden)

    def reset(self):
        import numpy as np

        super().reset()
        # a fresh optimizer: Adam's moments and step count start from zero in every fit
        self.opt = self.torch.optim.Adam(self.model.parameters(), lr=self.lr,
                                         betas=(ADAM["beta_1"], ADAM["beta_2"]), eps=ADAM["epsilon"])
        self.group = self.opt.param_groups[0]
        self.t = 0
        self.rng = np.random.default_rng(SEED)

    def run(self, X, y, epochs, record=False):
        torch = self.torch
        Xt = torch.from_numpy(X)
        yt = torch.from_numpy(y).view(-1, 1)
        n, b = X.shape[0], self.batch_size
        losses = []
        for _ in range(epochs):
            order = torch.from_numpy(self.rng.permutation(n)) if self.shuffle else None
            acc = 0.0
            for s in range(0, n, b):
                if order is None:
                    xb, yb = Xt[s:s + b], yt[s:s + b]
                else:
                    idx = order[s:s + b]
                    xb, yb = Xt.index_select(0, idx), yt.index_select(0, idx)
                self.opt.zero_grad(set_to_none=True)
                logits = self.forward(xb)
                loss = self.loss_fn(logits, yb)
                if record:  # the reference's per-epoch loss: sum over batches of (clipped batch mean) * n_b / N
                    with torch.no_grad():
                        eps = torch.finfo(logits.dtype).eps
                        p = torch.sigmoid(logits).clamp(eps, 1 - eps)
                        acc += float(-torch.where(yb == 1, p, 1 - p).log().mean()) * xb.shape[0]
                loss.backward()
                self.t += 1
                self.group["eps"] = ADAM["epsilon"] / math.sqrt(1.0 - ADAM["beta_2"] ** self.t)
                self.opt.step()
            if record:
                losses.append(acc / n)
        return losses if record else None


class SklearnAdamTrainer(SklearnTrainer):
    """MLPClassifier(solver="adam", batch_size=b, shuffle=True, ...), our initial weights copied in.

    tol=0 with n_iter_no_change = epochs + 1 never stops early: the no-improvement count rises at most
    once per epoch, and reset() zeroes it (warm_start would otherwise carry it from fit to fit).
    """

    def __init__(self, X, y, W0, hidden, *, lr, batch_size, shuffle=True):
        import numpy as np
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        warnings.simplefilter("ignore", ConvergenceWarning)
        # fits on fewer rows than batch_size (the set-up fit below, the 64-row priming) clip the batch and say so
        warnings.filterwarnings("ignore", message="Got `batch_size` less than 1 or larger than sample size")
        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(hidden), activation="logistic", solver="adam", batch_size=batch_size,
            learning_rate_init=lr, alpha=0.0, max_iter=1, shuffle=shuffle, tol=0.0, n_iter_no_change=2,
            early_stopping=False, warm_start=True, random_state=SEED, **ADAM,
        )
        idx = [int(np.argmin(y)), int(np.argmax(y))]
        self.clf.fit(X[idx], y[idx])
        self.W0 = W0

    def reset(self):
        import numpy as np

        super().reset()
        self.clf._no_improvement_count = 0
        self.clf.best_loss_ = np.inf

    def run(self, X, y, iters, record=False):
        self.clf.set_params(max_iter=iters, n_iter_no_change=iters + 1)
        before = len(self.clf.loss_curve_)
        self.clf.fit(X, y)
        ran = len(self.clf.loss_curve_) - before
        if ran != iters:
            raise RuntimeError(f"sklearn ran {ran} epochs, expected {iters}")
        losses = [float(v) for v in self.clf.loss_curve_[before:]] if record else None
        del self.clf.loss_curve_[before:]
        return losses


TRAINERS = {"cpp": CppTrainer, "numpy": NumpyTrainer, "torch": TorchTrainer, "torch_compile": TorchCompileTrainer,
            "sklearn": SklearnTrainer}
MINIBATCH_TRAINERS = {"cpp": CppAdamTrainer, "numpy": NumpyAdamTrainer, "torch": TorchAdamTrainer,
                      "sklearn": SklearnAdamTrainer}


def trainer_factory(t):
    """cls(X, y, W0, hidden) for the task's contender and algorithm (full-batch gd, or mini-batch Adam)."""
    if not t.get("solver"):
        return TRAINERS[t["contender"]]
    if t["solver"] != "adam" or t["contender"] not in MINIBATCH_TRAINERS:
        raise Unsupported(f"{t['contender']} has no {t['solver']} mini-batch trainer here")
    cls, kw = MINIBATCH_TRAINERS[t["contender"]], dict(lr=t["lr"], batch_size=t["batch_size"])

    def make(X, y, W0, hidden, **extra):
        return cls(X, y, W0, hidden, **kw, **extra)

    make.cls = cls
    return make

CHECK_TOL = {"float64": dict(loss_rel=1e-8, proba_abs=1e-8), "float32": dict(loss_rel=1e-3, proba_abs=1e-3)}
XCHECK_TOL = {"float64": 1e-6, "float32": 1e-3}
XCHECK_TOL_RESHUFFLED = 0.05  # row (f), torch / sklearn: first-epoch losses over other permutations of the rows
BUSY_CORES = 0.5  # a cell whose timed runs shared the machine with more than this is marked "~"


def _rel_diff(a, b):
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
    tr.reset()
    losses = tr.run(Xs, ys, k, record=True)
    p = np.asarray(tr.proba(Xs), dtype=np.float64)
    tol = CHECK_TOL[dtype]
    loss_rel = _rel_diff(losses, ref_losses)
    proba_abs = float(np.max(np.abs(p - ref_p))) if p.size else 0.0
    agree = float(np.mean((p >= 0.5) == (ref_p >= 0.5)))
    ok = loss_rel <= tol["loss_rel"] and proba_abs <= tol["proba_abs"]
    what = f"{m} rows x {k} it vs reference" + (" (eager twin)" if contender == "torch_compile" else "")
    return dict(ok=ok, what=what, loss_max_rel_diff=loss_rel, proba_max_abs_diff=proba_abs, label_agreement=agree)


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
    tr.reset()
    losses = tr.run(Xs, ys, k, record=True)
    p = np.asarray(tr.proba(Xs), dtype=np.float64)
    tol = CHECK_TOL[dtype]
    loss_rel = _rel_diff(losses, ref_losses)
    proba_abs = float(np.max(np.abs(p - ref_p))) if p.size else 0.0
    agree = float(np.mean((p >= 0.5) == (ref_p >= 0.5)))
    ok = loss_rel <= tol["loss_rel"] and proba_abs <= tol["proba_abs"]
    return dict(ok=ok, what=what, loss_max_rel_diff=loss_rel, proba_max_abs_diff=proba_abs, label_agreement=agree)


def task_train(t):
    import numpy as np

    contender, dtype = t["contender"], t["dtype"]
    n, d, hidden = t["n"], t["d"], t["hidden"]
    if contender == "torch_compile":
        os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # compile in-process: no worker pool left behind
    cls = trainer_factory(t)
    if t.get("solver") and contender in ("cpp", "numpy") and not backprop_has_solvers():
        raise Unsupported(NO_SOLVER_NOTE)
    # numpy's BLAS threads: all cores for the contenders that use numpy's BLAS, 1 for the others
    limit_blas(N_THREADS if contender in ("numpy", "sklearn") else 1)
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
    mem = PeakRSS().start()
    load = _loadavg()
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
        tr.reset()
        t0 = time.perf_counter()
        tr.run(X, y, t["iters"])
        times.append(time.perf_counter() - t0)
    res = dict(status="ok", median_s=statistics.median(times), min_s=min(times), times=times, repeats=len(times),
               foreign_cores=foreign.cores(),
               warm_s=warm_s, warm_iters=t["warm_iters"], loss_head=warm_losses[:5], check=check,
               rss_delta_bytes=mem.delta_bytes(), rss_first_fit_bytes=rss_first, rss_method=mem.method,
               load1=load[0] if load else None)
    if contender == "torch_compile":
        steady_warm = res["median_s"] * t["warm_iters"] / t["iters"]
        res["compile_s"] = max(0.0, warm_s - steady_warm)
    return res


# ---------------------------------------------------------------------- predictors
def build_predictor(contender, X, y, W0, hidden):
    """(fn, label): fn(X) -> something holding P(class 1); the model carries the weights W0."""
    import numpy as np

    if contender in ("cpp", "cpp_fast"):
        from backprop import NeuralNetwork, _core

        model = NeuralNetwork(n_hidden=tuple(hidden), max_iter=0, random_state=SEED, backend="cpp",
                              n_threads=CPP_THREADS).fit(X[:64], y[:64])
        model.weights_ = [w.copy() for w in W0]
        if contender == "cpp":
            return model.predict_proba, "NeuralNetwork.predict_proba"
        name = fast_path_name()
        if name is not None:
            fn = getattr(model, name)
            try:
                fn(np.ascontiguousarray(X[:2]))
                return fn, f"NeuralNetwork.{name}"
            except Exception as exc:  # noqa: BLE001 - unknown signature: fall back, say so
                note = f"{name} failed ({type(exc).__name__}); "
        else:
            note = ""
        weights, nt = model.weights_, CPP_THREADS or _core.default_threads()
        return (lambda Xq: _core.predict_proba(Xq, weights, nt)), note + "_core.predict_proba (private, no validation)"
    if contender == "numpy":
        from backprop import reference

        return (lambda Xq: reference.predict_proba(Xq, W0)), "reference.predict_proba"
    if contender == "torch":
        tr = TorchTrainer(X[:64], y[:64], W0, hidden)
        torch = tr.torch

        def fn(Xq):
            with torch.inference_mode():
                return torch.sigmoid(tr.model(torch.from_numpy(Xq))).numpy()

        return fn, "torch eager, inference_mode"
    if contender == "sklearn":
        tr = SklearnTrainer(X[:64], y[:64], W0, hidden)
        tr.reset()
        return tr.clf.predict_proba, "MLPClassifier.predict_proba"
    raise ValueError(contender)


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


def task_infer(t):
    import numpy as np

    from backprop import reference

    contender, dtype = t["contender"], t["dtype"]
    limit_blas(N_THREADS if contender in ("numpy", "sklearn") else 1)
    X, y = make_data(t["n"], t["d"], np.dtype(dtype))
    W0 = reference.init_weights(t["d"], t["hidden"], np.random.default_rng(SEED), np.dtype(dtype))
    fn, label = build_predictor(contender, X, y, W0, t["hidden"])
    check = _precheck_predict(fn, contender, X, W0, dtype)
    fn(X)  # warm-up
    load = _loadavg()
    times = []
    foreign = ForeignLoad().start()
    for _ in range(t["repeats"]):
        if times and past_deadline(t, margin=times[-1]):
            break
        t0 = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - t0)
    return dict(status="ok", median_s=statistics.median(times), min_s=min(times), times=times, repeats=len(times),
                foreign_cores=foreign.cores(),
                path=label, check=check, load1=load[0] if load else None)


def task_latency(t):
    import numpy as np

    from backprop import reference

    contender, dtype = t["contender"], t["dtype"]
    limit_blas(N_THREADS if contender in ("numpy", "sklearn") else 1)
    X, y = make_data(max(64, t["rows"]), t["d"], np.dtype(dtype))
    W0 = reference.init_weights(t["d"], t["hidden"], np.random.default_rng(SEED), np.dtype(dtype))
    fn, label = build_predictor(contender, X, y, W0, t["hidden"])
    check = _precheck_predict(fn, contender, X, W0, dtype)
    Xq = np.ascontiguousarray(X[: t["rows"]])
    calls = 1  # calibrate: double until one batch of calls takes >= 10 ms
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(Xq)
        el = time.perf_counter() - t0
        if el >= 0.01 or calls >= 1 << 20:
            break
        calls *= 2
    calls = max(1, int(calls * t["sample_s"] / max(el, 1e-9)))
    load = _loadavg()
    per_call = []
    foreign = ForeignLoad().start()
    for _ in range(t["samples"]):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(Xq)
        per_call.append((time.perf_counter() - t0) / calls)
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
                              n_threads=CPP_THREADS)
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
    limit_blas(N_THREADS)
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
    info["load"] = _loadavg()
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


# ====================================================================== orchestrator side
def have(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def worker_env():
    env = clean_blas_env()
    env.pop("BACKPROP_BENCH_THREADS", None)
    if CPP_THREADS:
        env["BACKPROP_BENCH_THREADS"] = str(CPP_THREADS)
    return env


def run_worker(tasks, timeout, desc, deadline=None):
    """Run tasks in one fresh interpreter; return their results (failed ones marked)."""
    if deadline is not None:
        timeout = max(1.0, min(timeout, deadline - time.time() + 5.0))
        for t in tasks:
            t["deadline"] = deadline
    with tempfile.TemporaryDirectory(prefix="bench_suite_") as tmp:
        spec, out = Path(tmp, "spec.json"), Path(tmp, "out.json")
        spec.write_text(json.dumps(tasks))
        t0 = time.perf_counter()
        err_note = None
        try:
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(spec), str(out)],
                                  env=worker_env(),
                                  capture_output=True, text=True, timeout=timeout)
            if proc.returncode != 0:
                tail = (proc.stderr or "").strip().splitlines()[-3:]
                err_note = f"worker exited {proc.returncode}: {' | '.join(tail)[:300]}"
        except subprocess.TimeoutExpired:
            err_note = f"worker timed out after {timeout} s"
        results = json.loads(out.read_text()) if out.exists() else []
    done = len(results)
    for t in tasks[done:]:
        if deadline is not None and time.time() > deadline:
            results.append(dict(status="skipped", note="time budget of the run exhausted (busy machine?)", task=t))
        else:
            results.append(dict(status="failed", note=err_note or "no result", task=t))
    print(f"  {desc}: {time.perf_counter() - t0:.1f} s" + (f"  [{err_note}]" if err_note else ""), file=sys.stderr,
          flush=True)
    return results


def wanted(cfg, key):
    """Whether row `key` ('d' inference, 'e' latency) is among the --workloads asked for (all when none)."""
    only = cfg.get("only")
    return not only or key in only


def plan(cfg, contenders, per_cell):
    """All tasks of the run, grouped into worker invocations: [(description, [task, ...])].

    The mini-batch row (f) runs last in each worker (and after every other invocation with --per-cell),
    so that under a --quick time budget it cannot push the rows of issue 3 out.
    """
    lat, inf = cfg["latency"], cfg["infer"]
    groups = {}  # group -> tasks (quick/smoke)
    invocations = []
    late_groups, late_invocations = {}, []  # row (f)
    for w in cfg["train"]:
        for dtype in DTYPES:
            for c in (MINIBATCH_CONTENDERS if w.get("solver") else TRAIN_CONTENDERS):
                if c not in contenders:
                    continue
                task = dict(type="train", workload=w["key"], contender=c, dtype=dtype, n=w["n"], d=w["d"],
                            hidden=w["hidden"], iters=w["iters"], warm_iters=w["warm_iters"], repeats=w["repeats"],
                            slow_fit_s=cfg["slow_fit_s"], fixed_repeats=cfg.get("fixed_repeats", False),
                            **{k: w[k] for k in ("solver", "batch_size", "lr") if k in w})
                if per_cell:
                    (late_invocations if w.get("solver") else invocations).append(
                        (f"train ({w['key']}) {c} {dtype}", [task]))
                else:
                    (late_groups if w.get("solver") else groups).setdefault(GROUP_OF[c], []).append(task)
    for c in INFER_CONTENDERS:
        if c not in contenders or not (wanted(cfg, "d") or wanted(cfg, "e")):
            continue
        tasks = []
        for dtype in DTYPES:
            if wanted(cfg, "d"):
                tasks.append(dict(type="infer", workload="d", contender=c, dtype=dtype, n=inf["n"], d=inf["d"],
                                  hidden=inf["hidden"], repeats=inf["repeats"]))
            for rows in (lat["rows"] if wanted(cfg, "e") else []):
                tasks.append(dict(type="latency", workload=f"e{rows}", contender=c, dtype=dtype, rows=rows,
                                  d=lat["d"], hidden=lat["hidden"], samples=lat["samples"], sample_s=lat["sample_s"]))
        if per_cell:
            invocations.append((f"inference + latency {c}", tasks))
        else:
            groups.setdefault(GROUP_OF[c], []).extend(tasks)
    if "cpp" in contenders and not cfg.get("only"):  # the scaling grid: full runs only
        sc = dict(type="scaling", **cfg["scaling"])
        if per_cell:
            invocations.append(("scaling (C++)", [sc]))
        else:
            groups.setdefault("backprop", []).append(sc)
    for g, tasks in late_groups.items():
        groups.setdefault(g, []).extend(tasks)
    for g, tasks in groups.items():
        invocations.append((f"{g}: {len(tasks)} cells", tasks))
    return invocations + late_invocations


# ---------------------------------------------------------------------- formatting
def fmt_time(s, unit=None):
    if s is None:
        return "-"
    if unit == "us" or (unit is None and s < 1e-3):
        return f"{s * 1e6:.2f}us" if s < 1e-5 else f"{s * 1e6:.1f}us"
    if s < 1:
        return f"{s * 1e3:.1f}ms"
    return f"{s:.2f}s" if s < 100 else f"{s:.0f}s"


def fmt_num(x, nd=1):
    if x is None:
        return "-"
    return f"{x:.{nd}f}" if abs(x) < 1000 else f"{x:.0f}"


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.3f}x" if r < 0.1 else f"{r:.2f}x"


def dtype_short(dtype):
    return {"float64": "f64", "float32": "f32"}[dtype]


def assemble(cfg, results, peaks):
    """Flat rows (one per workload x dtype x contender) with GFLOP/s, ratio to reference, % of peak."""
    rows = []
    peak = {dt: max((p[dt]["gflops"] for p in peaks if p.get("status") == "ok" and dt in p), default=None)
            for dt in DTYPES}
    wl = {w["key"]: w for w in cfg["train"]}
    for r in results:
        t = r["task"]
        if t["type"] not in ("train", "infer", "latency"):
            continue
        row = dict(workload=t["workload"], kind=t["type"], dtype=t["dtype"], contender=t["contender"],
                   status=r.get("status"), note=r.get("note"))
        for k in ("median_s", "min_s", "times", "repeats", "check", "path", "calls_per_sample", "warm_s",
                  "compile_s", "rss_delta_bytes", "rss_first_fit_bytes", "rss_method", "loss_head", "load1",
                  "foreign_cores", "task_s"):
            if k in r:
                row[k] = r[k]
        if "warm_iters" in t:
            row["task_warm_iters"] = t["warm_iters"]
        itemsize = 8 if t["dtype"] == "float64" else 4
        if t["type"] == "train":
            w = wl[t["workload"]]
            row["flops"] = flops_train_iter(w["n"], w["d"], w["hidden"]) * w["iters"]
            row["train_data_bytes"] = w["n"] * (w["d"] + 1) * itemsize
            row["activation_bytes"] = activation_bytes(rows_in_flight(w), w["hidden"], itemsize)
            row["solver_state_bytes"] = solver_state_bytes(w, itemsize)
            if w.get("batch_size"):
                row["batch_size"] = w["batch_size"]
        elif t["type"] == "infer":
            row["flops"] = flops_forward(t["n"], t["d"], t["hidden"])
        else:
            row["flops"] = flops_forward(t["rows"], t["d"], t["hidden"])
        if row["status"] == "ok":
            row["gflops"] = row["flops"] / row["median_s"] / 1e9
            if peak[t["dtype"]]:
                row["pct_peak"] = 100.0 * row["gflops"] / peak[t["dtype"]]
        rows.append(row)
    by = {(r["workload"], r["dtype"], r["contender"]): r for r in rows}
    for r in rows:
        ref = by.get((r["workload"], r["dtype"], "numpy"))
        if r["status"] == "ok" and ref and ref["status"] == "ok":
            r["ratio_to_reference"] = r["median_s"] / ref["median_s"]
            if r["kind"] == "train" and r["contender"] != "numpy" and r.get("loss_head") and ref.get("loss_head"):
                k = min(len(r["loss_head"]), len(ref["loss_head"]))
                diff = _rel_diff(r["loss_head"][:k], ref["loss_head"][:k])
                tol, what = XCHECK_TOL[r["dtype"]], "warm-up losses on the full data vs the reference cell"
                if wl[r["workload"]].get("batch_size") and r["contender"] != "cpp":
                    # torch and scikit-learn draw their own permutations: same algorithm, other batches
                    tol, what = XCHECK_TOL_RESHUFFLED, what + " (own shuffles: statistical agreement only)"
                r["xcheck"] = dict(ok=diff <= tol, loss_max_rel_diff=diff, iterations=k, what=what)
    return rows, peak


def workload_rows(cfg):
    """[(key, label, kind)] in table order (by key: (a)-(c) training, (d) inference, (e) latency, (f) Adam)."""
    out = [(w["key"], train_label(w), "train") for w in cfg["train"]]
    inf = cfg["infer"]
    if wanted(cfg, "d"):
        out.append(("d", f"(d) predict_proba {inf['n']:,}x{inf['d']}", "infer"))
    for rows in (cfg["latency"]["rows"] if wanted(cfg, "e") else []):
        out.append((f"e{rows}", f"(e) latency {rows} row{'s' if rows > 1 else ''} per call", "latency"))
    return sorted(out, key=lambda r: (r[0][0], len(r[0]), r[0]))


def short_label(key):
    return {"a": "(a) article", "b": "(b) medium", "c": "(c) wide", "d": "(d) inference",
            "f": "(f) mini-batch adam"}.get(key, f"(e) {key[1:]} row{'s' if key != 'e1' else ''}")


def cell_text(r):
    if r is None:
        return "n/a"
    if r["status"] == "skipped":
        return "skipped"
    if r["status"] != "ok":
        return "FAILED"
    bad = (r.get("check") and not r["check"].get("ok", True)) or (r.get("xcheck") and not r["xcheck"]["ok"])
    t = fmt_time(r["median_s"], "us" if r["kind"] == "latency" else None)
    gf = fmt_num(r.get("gflops")) if r["kind"] != "latency" else "-"
    busy = (r.get("foreign_cores") or 0.0) > BUSY_CORES
    mark = ("!" if bad else "") + ("~" if busy else "")
    return f"{t:>8} {gf:>5} {fmt_ratio(r.get('ratio_to_reference')):>7}{mark:<2}"


def render(cfg, meta, rows, peak, scaling, contenders):
    L = []
    p = L.append
    by = {(r["workload"], r["dtype"], r["contender"]): r for r in rows}
    cols = [c for c in CONTENDERS if c in contenders]
    W = 24
    lw = max(len(lbl) for _, lbl, _ in workload_rows(cfg)) + 1
    minibatch = {w["key"]: w for w in cfg["train"] if w.get("batch_size")}
    p(f"backprop benchmark suite ({meta['mode']} mode) - {meta['started']}")
    p(f"machine: {meta['machine']}; CPU flags: {meta['cpu_flags']}; backprop {meta.get('backprop', '?')} "
      f"C++ built for {meta.get('isa', '?')}, {N_THREADS} threads")
    p(f"BLAS environment: {meta['blas_env']}; numpy {meta.get('numpy', '?')} BLAS: {meta.get('blas', '?')}")
    p(f"versions: {meta['versions']}")
    fl = [r["foreign_cores"] for r in rows if r.get("foreign_cores") is not None]
    fl_s = (f"mean {statistics.mean(fl):.2f}, max {max(fl):.2f} of {N_CPUS} cores" if fl
            else "not measured (timed windows under 0.5 s)")
    p(f"load average at start {meta['load_start']}, at end {meta.get('load_end')}; other people's jobs during "
      f"the timed runs: {fl_s} (shared machine)")
    for note in meta["notes"]:
        p(f"note: {note}")
    p("")
    p("cell = median time | achieved GFLOP/s (work actually done, see docstring) | time / reference time "
      "of the same dtype (< 1 = faster); '!' = failed a validation check; latency in microseconds per call;")
    p(f"'~' = other people's jobs used > {BUSY_CORES} cores during the cell's timed runs (it is slower than the code "
      f"is); others' CPU = their mean over the row's cells (the machine has {N_CPUS} cores)")
    head = f"{'workload':<{lw}} {'dtype':<5}" + "".join(f" | {LABELS[c]:^{W}}" for c in cols) + \
        " | C++ %peak | others' CPU"
    p(head)
    p("-" * len(head))
    for key, label, kind in workload_rows(cfg):
        for dtype in DTYPES:
            cells = []
            for c in cols:
                if kind == "train" and c == "cpp_fast":
                    cells.append("")
                    continue
                if c == "torch_compile" and (kind != "train" or key in minibatch):
                    cells.append("")
                    continue
                cells.append(cell_text(by.get((key, dtype, c))))
            cpp = by.get((key, dtype, "cpp"))
            pct = cpp.get("pct_peak") if cpp and kind != "latency" else None
            pct_s = f"{pct:.1f}%" if pct is not None else "-"
            fl = [r["foreign_cores"] for c in cols for r in [by.get((key, dtype, c))]
                  if r and r.get("foreign_cores") is not None]
            fl_s = f"{statistics.mean(fl):.2f}" if fl else "-"
            p(f"{label:<{lw}} {dtype_short(dtype):<5}" + "".join(f" | {c:>{W}}" for c in cells)
              + f" | {pct_s:>9} | {fl_s:>11}")
    reps = []
    for key, label, kind in workload_rows(cfg):
        rs = [r["repeats"] for r in rows if r["workload"] == key and r["status"] == "ok" and "repeats" in r]
        if rs:
            span = f"{min(rs)}" if min(rs) == max(rs) else f"{min(rs)}-{max(rs)}"
            reps.append(f"({key}) {span}")
    p("timed runs per cell (after a warm-up; fewer when a fit takes > "
      f"{cfg['slow_fit_s']:.0f} s or the time budget ran out; latency: samples of many calls): " + ", ".join(reps))
    p("")
    # ------------------------------------------------------------ speed-ups
    p("C++ speed-up over each contender (other's median time / C++ median time; > 1 = C++ faster)")
    others = [c for c in ("numpy", "torch", "torch_compile", "sklearn") if c in contenders]
    head = f"{'workload':<{lw}} {'dtype':<5}" + "".join(f" | {LABELS[c]:>15}" for c in others) + \
        f" | {'C++ no-valid. vs C++':>20}"
    p(head)
    p("-" * len(head))
    for key, label, kind in workload_rows(cfg):
        for dtype in DTYPES:
            cpp = by.get((key, dtype, "cpp"))
            cells = []
            for c in others:
                o = by.get((key, dtype, c))
                ok = cpp and o and cpp["status"] == "ok" and o["status"] == "ok"
                cells.append(f"{o['median_s'] / cpp['median_s']:.2f}x" if ok else "-")
            fast = by.get((key, dtype, "cpp_fast"))
            fs = (f"{cpp['median_s'] / fast['median_s']:.2f}x faster"
                  if fast and cpp and fast["status"] == "ok" and cpp["status"] == "ok" else "-")
            p(f"{label:<{lw}} {dtype_short(dtype):<5}" + "".join(f" | {c:>15}" for c in cells) + f" | {fs:>20}")
    fast_paths = {r.get("path") for r in rows if r["contender"] == "cpp_fast" and r.get("path")}
    if fast_paths:
        p(f"C++ no-valid. path: {', '.join(sorted(fast_paths))}")
    p("")
    # ------------------------------------------------------------ machine limit
    p(f"Machine limit: numpy {meta['peak_n']}x{meta['peak_n']} matmul, all cores, best of 3 (GFLOP/s)")
    for i, pk in enumerate(meta["peaks"]):
        when = "start" if i == 0 else "end"
        if pk.get("status") != "ok":
            p(f"  {when}: {pk.get('status')} {pk.get('note', '')}")
            continue
        p(f"  {when}: float64 {pk['float64']['gflops']:.1f} (runs {', '.join(f'{x:.1f}' for x in pk['float64']['runs'])}), "
          f"float32 {pk['float32']['gflops']:.1f} (runs {', '.join(f'{x:.1f}' for x in pk['float32']['runs'])})")
    p(f"  used for % peak: float64 {fmt_num(peak['float64'])}, float32 {fmt_num(peak['float32'])}")
    p("")
    # ------------------------------------------------------------ memory
    p("Peak memory of each fit: extra RSS over the process after data creation (MB), next to the training "
      "data (X + y) and the activations it must keep (N * sum(widths) * itemsize; with mini-batches "
      "batch_size * sum(widths) * itemsize, plus the solver's state)"
      + (" [cells shared one process per contender in this run, so these are indicative]"
         if not meta.get("per_cell") else ""))
    tcols = [c for c in TRAIN_CONTENDERS if c in contenders]
    head = f"{'workload':<{lw}} {'dtype':<5} | {'data MB':>8} | {'activ. MB':>9}" + \
        "".join(f" | {LABELS[c]:>15}" for c in tcols) + " | C++ (data+extra)/(data+activ.)"
    p(head)
    p("-" * len(head))
    for key, label, kind in workload_rows(cfg):
        if kind != "train":
            continue
        for dtype in DTYPES:
            ref = next((by[(key, dtype, c)] for c in tcols if (key, dtype, c) in by), None)
            if ref is None:
                continue
            data, act = ref["train_data_bytes"], ref["activation_bytes"] + ref.get("solver_state_bytes", 0)
            cells = []
            for c in tcols:
                r = by.get((key, dtype, c))
                if c == "torch_compile" and key in minibatch:
                    cells.append("")
                    continue
                cells.append(f"{r['rss_delta_bytes'] / 1e6:.1f}" if r and r.get("rss_delta_bytes") is not None else "-")
            cpp = by.get((key, dtype, "cpp"))
            budget = ((data + cpp["rss_delta_bytes"]) / (data + act)
                      if cpp and cpp.get("rss_delta_bytes") is not None else None)
            p(f"{label:<{lw}} {dtype_short(dtype):<5} | {data / 1e6:>8.1f} | {act / 1e6:>9.2f}"
              + "".join(f" | {c:>15}" for c in cells) + f" | {fmt_num(budget, 2):>8}")
    for key, w in minibatch.items():
        units = "+".join(map(str, [*w["hidden"], 1]))
        p(f"({key}) trains on mini-batches of {w['batch_size']} rows: its activ. MB is {rows_in_flight(w)} rows x "
          f"({units}) units (not N), plus {w['solver']}'s state (2 x the weights: "
          f"{solver_state_bytes(w, 8) / 1e6:.2f} MB in f64); a fit whose memory grows with N shows it here")
    methods = {r.get("rss_method") for r in rows if r.get("rss_method")}
    if methods:
        p(f"(measured with: {', '.join(sorted(methods))}; includes first-use allocations of each library; "
          f"target of issue 3: C++ ratio <= 1.10)")
    p("")
    # ------------------------------------------------------------ scaling
    if scaling and scaling.get("status") == "ok":
        sc = cfg["scaling"]
        hid = ",".join(map(str, sc["hidden"]))
        for kind, key, title in (
            ("by_n", "n", f"C++ fit time against N ({sc['d']} features, [{hid}], {sc['n_iters']} iterations, "
                          f"median of {sc['repeats']})"),
            ("by_iter", "iters", f"C++ fit time against max_iter (N={sc['iter_n']}, {sc['d']} features, [{hid}], "
                                 f"median of {sc['repeats']})"),
        ):
            p(title + " ('~': others used > 0.5 cores meanwhile)")
            head = f"{key:>8}" + "".join(f" | {dtype_short(dt) + ' time':>10} | {'ns/(row*it)':>11} | {'GFLOP/s':>7}"
                                         for dt in sc["dtypes"])
            p(head)
            p("-" * len(head))
            vals = sorted({e[key] for e in scaling[kind]})
            for v in vals:
                line = f"{v:>8}"
                for dt in sc["dtypes"]:
                    e = next((e for e in scaling[kind] if e[key] == v and e["dtype"] == dt), None)
                    if e is None:
                        line += f" | {'-':>10} | {'-':>11} | {'-':>7}"
                        continue
                    ns = e["median_s"] / (e["n"] * e["iters"]) * 1e9
                    busy = "~" if (e.get("foreign_cores") or 0.0) > BUSY_CORES else ""
                    line += f" | {fmt_time(e['median_s']) + busy:>10} | {ns:>11.2f} | {e['gflops']:>7.1f}"
                p(line)
            p("")
    elif scaling:
        p(f"scaling tables: {scaling.get('status')} {scaling.get('note', '')}")
        p("")
    # ------------------------------------------------------------ compile
    comp = [r for r in rows if r["contender"] == "torch_compile" and r["status"] == "ok"]
    if comp:
        p("torch.compile: first (warm-up) fit incl. compilation, and compile time = warm-up minus the steady-state "
          "time of the same iterations")
        for r in comp:
            p(f"  ({r['workload']}) {dtype_short(r['dtype'])}: warm-up fit ({r['task_warm_iters']} it) {r['warm_s']:.2f} s, "
              f"steady-state fit {r['median_s']:.2f} s, compile ~{r['compile_s']:.1f} s")
        p("")
    # ------------------------------------------------------------ validation
    p("Validation (before timing: each contender vs backprop.reference on a slice; after: warm-up losses on the "
      "full data vs the reference cell)")
    bad = []
    n_ok = 0
    for r in rows:
        for k in ("check", "xcheck"):
            ch = r.get(k)
            if not ch or "ok" not in ch:
                continue
            if ch["ok"]:
                n_ok += 1
            else:
                bad.append(f"  FAILED {k}: ({r['workload']}) {r['contender']} {r['dtype']}: "
                           + ", ".join(f"{a}={b:.3g}" if isinstance(b, float) else f"{a}={b}" for a, b in ch.items()))
    p(f"  {n_ok} checks passed, {len(bad)} failed")
    L.extend(bad)
    worst = {}
    for r in rows:
        for k in ("check", "xcheck"):
            ch = r.get(k) or {}
            for m in ("loss_max_rel_diff", "proba_max_abs_diff"):
                if m in ch:
                    key = (r["contender"], r["dtype"], m)
                    worst[key] = max(worst.get(key, 0.0), ch[m])
    for (c, dt, m), v in sorted(worst.items()):
        p(f"  worst {m} {LABELS[c]} {dt}: {v:.2e}")
    failed = [r for r in rows if r["status"] == "failed"]
    skipped = sorted({(r["contender"], r.get("note") or "") for r in rows if r["status"] == "skipped"})
    for r in failed:
        p(f"  cell failed: ({r['workload']}) {r['contender']} {r['dtype']}: {r.get('note')}")
    for c, note in skipped:
        p(f"  skipped {LABELS[c]}: {note}")
    return "\n".join(L)


def targets_block(rows, peak):
    """Issue 3's targets against this run (informative; nothing fails on them)."""
    by = {(r["workload"], r["dtype"], r["contender"]): r for r in rows}

    def t(w, dt, c):
        r = by.get((w, dt, c))
        return r["median_s"] if r and r["status"] == "ok" else None

    out = []

    def line(desc, value, goal_ok):
        mark = "-" if goal_ok is None else ("met" if goal_ok else "NOT met")
        out.append(f"  {desc:<92} {value:>9}  {mark}")

    for dt, need in (("float64", 8), ("float32", 10)):
        c, r = t("a", dt, "cpp"), t("a", dt, "numpy")
        line(f"(a) C++ >= {need}x faster than the reference, {dt}", f"{r / c:.2f}x" if c and r else "-",
             (r / c >= need) if c and r else None)
    for dt in DTYPES:
        c, r = t("a", dt, "cpp"), t("a", dt, "torch")
        line(f"(a) C++ >= 5x faster than torch eager, {dt}", f"{r / c:.2f}x" if c and r else "-",
             (r / c >= 5) if c and r else None)
    for w in ("b", "c"):
        for dt in DTYPES:
            cpp = by.get((w, dt, "cpp"))
            pct = cpp.get("pct_peak") if cpp else None
            line(f"({w}) C++ >= 65% of the matmul peak, {dt}", f"{pct:.1f}%" if pct is not None else "-",
                 (pct >= 65) if pct is not None else None)
    for w in ("a", "b", "c", "f"):
        for dt in DTYPES:
            c = t(w, dt, "cpp")
            others = {o: t(w, dt, o) for o in ("numpy", "torch", "torch_compile", "sklearn")}
            others = {o: v for o, v in others.items() if v is not None}
            if c is None or not others:
                line(f"({w}) C++ faster than every other contender, {dt}", "-", None)
                continue
            best = min(others, key=others.get)
            line(f"({w}) C++ faster than every other contender that ran, {dt} (best other: {LABELS[best]})",
                 f"{others[best] / c:.2f}x", c < others[best])
    for dt in DTYPES:
        v = t("e1", dt, "cpp")
        line(f"(e) 1-row predict_proba, public API < 5 us, {dt}", fmt_time(v, "us") if v else "-",
             (v < 5e-6) if v else None)
        v = t("e1", dt, "cpp_fast")
        line(f"(e) 1-row predict_proba, no-validation path < 2 us, {dt}", fmt_time(v, "us") if v else "-",
             (v < 2e-6) if v else None)
    for dt in DTYPES:
        c, r, tt = t("d", dt, "cpp"), t("d", dt, "numpy"), t("d", dt, "torch")
        line(f"(d) 1M-row inference >= 5x faster than the reference, {dt}", f"{r / c:.2f}x" if c and r else "-",
             (r / c >= 5) if c and r else None)
        line(f"(d) 1M-row inference faster than torch eager, {dt}", f"{tt / c:.2f}x" if c and tt else "-",
             (c < tt) if c and tt else None)
    for w in ("a", "b", "c", "f"):
        for dt in DTYPES:
            cpp = by.get((w, dt, "cpp"))
            if cpp and cpp.get("rss_delta_bytes") is not None:
                data, act = cpp["train_data_bytes"], cpp["activation_bytes"] + cpp.get("solver_state_bytes", 0)
                ratio = (data + cpp["rss_delta_bytes"]) / (data + act)
                line(f"({w}) C++ fit peak memory <= 1.10 x (data + activations), {dt}", f"{ratio:.2f}", ratio <= 1.10)
    return out


def plot(path, cfg, rows, meta, contenders):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no PNG"
    by = {(r["workload"], r["dtype"], r["contender"]): r for r in rows}
    keys = workload_rows(cfg)
    cols = [c for c in CONTENDERS if c in contenders]
    fig, axes = plt.subplots(1, 2, figsize=(15, 6), sharey=True)
    width = 0.8 / len(cols)
    for ax, dtype in zip(axes, DTYPES):
        for j, c in enumerate(cols):
            xs, ys, hatches = [], [], []
            for i, (key, _, _) in enumerate(keys):
                r = by.get((key, dtype, c))
                if r and r.get("ratio_to_reference"):
                    xs.append(i + (j - (len(cols) - 1) / 2) * width)
                    ys.append(r["ratio_to_reference"])
                    ref = by.get((key, dtype, "numpy")) or {}
                    busy = max(r.get("foreign_cores") or 0.0, ref.get("foreign_cores") or 0.0) > BUSY_CORES
                    hatches.append("///" if busy else None)
            bars = ax.bar(xs, ys, width=width, label=LABELS[c], color=COLORS[c])
            for bar, h in zip(bars, hatches):
                if h:
                    bar.set_hatch(h)
            if c == "cpp":
                for x, y in zip(xs, ys):
                    ax.annotate(f"{1 / y:.1f}x", (x, y), ha="center", va="bottom", fontsize=7)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([short_label(key) for key, _, _ in keys], rotation=20)
        ax.set_title(f"{dtype}: time / reference time (lower is faster; labels: C++ speed-up)")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("median time relative to backprop.reference (log)")
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=COLORS[c], label=LABELS[c]) for c in cols]
    handles.append(Patch(facecolor="white", edgecolor="k", hatch="///", label="machine busy (others > 0.5 cores)"))
    axes[1].legend(handles=handles, fontsize=8)
    fig.suptitle(f"backprop benchmark suite, {meta['mode']} mode, {meta['started']} - {meta['machine']}; hatched: "
                 f"this cell or its reference timed while other jobs used > {BUSY_CORES} cores", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def wait_quiet(max_wait, threshold=0.25, window=5.0):
    """Sleep until the machine's other users take < threshold cores over a window, or max_wait passes."""
    t0 = time.time()
    seen = []
    while True:
        fl = ForeignLoad().start()
        time.sleep(window)
        cores = fl.cores()
        seen.append(cores if cores is not None else 0.0)
        print(f"  waiting for a quiet machine: others use {seen[-1]:.2f} cores", file=sys.stderr, flush=True)
        if seen[-1] < threshold:
            return f"--wait-quiet: started after {time.time() - t0:.0f} s, others used {seen[-1]:.2f} cores then"
        if time.time() - t0 > max_wait:
            return (f"--wait-quiet: machine still busy after {time.time() - t0:.0f} s (others used "
                    f"{seen[-1]:.2f} cores); started anyway")


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    have_ = [x for x in ("avx2", "fma", "avx512f") if x in flags]
                    s = "+".join(x.upper() for x in have_ if x != "avx512f")
                    return s + (" + AVX-512" if "avx512f" in flags else ", no AVX-512")
    except OSError:
        pass
    return platform.machine()


def versions():
    from importlib import metadata

    out = {}
    for pkg in ("numpy", "scikit-learn", "torch", "threadpoolctl", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shrunken sizes and repeats: whole run under a minute")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat: a few seconds (for the tests)")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for suite_<mode>.json/.png/.txt")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None,
                    help="include torch.compile (default: only in the full run)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--contenders", default=None,
                    help=f"comma-separated subset of {','.join(CONTENDERS)} (default: all that are installed)")
    ap.add_argument("--workloads", default=None, metavar="KEYS",
                    help="comma-separated subset of the rows a,b,c,d,e,f (d: inference, e: latency; default: all, "
                         "plus the scaling grid, which runs only when no subset is given)")
    ap.add_argument("--repeats", type=int, default=None, metavar="N",
                    help="timed runs of every cell (training fits, inference runs, latency samples) instead of "
                         "the mode's defaults; a fit slower than 20 s then keeps all N")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads of every contender (default: all cores; C++ n_threads, BLAS, torch)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds after which remaining cells are skipped (default: 50 for --quick, none otherwise)")
    ap.add_argument("--per-cell", dest="per_cell", action="store_true", default=None,
                    help="one fresh process per training cell (default in the full run: clean memory figures)")
    ap.add_argument("--grouped", dest="per_cell", action="store_false",
                    help="one process per contender (default in --quick / --smoke: saves import time)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for other people's jobs to use < 0.25 cores (shared machine)")
    ap.add_argument("--render", metavar="JSON", help="print the tables of a saved suite_<mode>.json again, run nothing")
    ap.add_argument("--worker", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(*args.worker)
    if args.render:
        doc = json.loads(Path(args.render).read_text())
        cfg = make_config(doc["meta"]["mode"])
        cfg.update(doc["workloads"])
        text = render(cfg, doc["meta"], doc["rows"], doc["peak"], doc["scaling"], doc["meta"]["contenders"])
        print(text + "\n\nIssue 3 targets against this run (informative):\n" + "\n".join(targets_block(doc["rows"], doc["peak"])))
        png = Path(args.render).with_suffix(".png")
        note = plot(png, cfg, doc["rows"], doc["meta"], doc["meta"]["contenders"])
        print(f"\n{note}" if note else f"\nwrote {png}")
        return 0

    blas_note = ensure_clean_blas_env()  # may re-execute this script without the two variables
    t_start = time.perf_counter()
    global N_THREADS, CPP_THREADS
    if args.threads:
        N_THREADS = CPP_THREADS = args.threads
    mode = "smoke" if args.smoke else ("quick" if args.quick else "full")
    cfg = make_config(mode)
    if args.workloads:
        keys = {k.strip() for k in args.workloads.split(",")}
        bad = keys - {"a", "b", "c", "d", "e", "f"}
        if bad:
            ap.error(f"unknown workloads {sorted(bad)}; choose from a,b,c,d,e,f")
        cfg["train"] = [w for w in cfg["train"] if w["key"] in keys]
        cfg["only"] = keys
    notes = []
    if args.repeats is not None:
        if args.repeats < 1:
            ap.error("--repeats must be >= 1")
        for w in cfg["train"]:
            w["repeats"] = args.repeats
        cfg["infer"]["repeats"] = cfg["latency"]["samples"] = args.repeats
        cfg["fixed_repeats"] = True
        notes.append(f"--repeats {args.repeats}: every cell takes {args.repeats} timed run(s) (latency: samples)")
    budget = args.budget if args.budget is not None else cfg["budget"]
    deadline = time.time() + budget if budget else None
    if args.threads:
        notes.append(f"--threads {args.threads}: every contender runs on {args.threads} thread(s)")
    if budget:
        notes.append(f"time budget {budget:.0f} s: cells still to run after it are skipped and marked so")
    contenders = list(CONTENDERS) if args.contenders is None else [c.strip() for c in args.contenders.split(",")]
    unknown = [c for c in contenders if c not in CONTENDERS]
    if unknown:
        ap.error(f"unknown contenders {unknown}; choose from {CONTENDERS}")
    if not have("torch"):
        for c in ("torch", "torch_compile"):
            if c in contenders:
                contenders.remove(c)
        notes.append("PyTorch is not installed: torch columns skipped (pip install torch==2.13.0 for the CPU build)")
    want_compile = args.compile if args.compile is not None else (mode == "full")
    if "torch_compile" in contenders and not want_compile:
        contenders.remove("torch_compile")
        notes.append(f"torch.compile skipped in --{mode} mode (compiling alone takes 5-30 s); --compile forces it")
    if not have("sklearn"):
        if "sklearn" in contenders:
            contenders.remove("sklearn")
        notes.append("scikit-learn is not installed: sklearn column skipped")
    if mode != "full":
        w = cfg["train"]
        notes.append(f"--{mode}: sizes, iterations and repeats shrunk (" + "; ".join(
            f"({x['key']}) {x['n']}x{x['d']} {x['hidden']} "
            + (f"batch {x['batch_size']}, {x['iters']} epochs" if x.get("batch_size") else f"{x['iters']} it")
            + f", median of {x['repeats']}" for x in w)
            + f"; (d) {cfg['infer']['n']:,} rows; matmul {cfg['peak_n']}); not comparable with the full run")
    notes.append("numpy reference: training through NeuralNetwork(backend='numpy').fit, inference through "
                 "reference.predict_proba; numpy's BLAS on all cores")
    notes.append("every training contender starts from the same weights (reference.init_weights, seed 0) and "
                 "runs the same full-batch steps at learning_rate=1.0")
    for x in cfg["train"]:
        if x.get("solver"):
            notes.append(f"({x['key']}): mini-batch {x['solver']} (learning_rate={x['lr']:g}, betas "
                         f"{ADAM['beta_1']}/{ADAM['beta_2']}, eps {ADAM['epsilon']:g}), batches of {x['batch_size']} "
                         "rows from a new permutation every epoch; C++ and the reference share the estimator's "
                         "permutations, torch and scikit-learn draw their own; no torch.compile column")
    if args.wait_quiet:
        notes.append(wait_quiet(args.wait_quiet))
    started = datetime.datetime.now().isoformat(timespec="seconds")
    meta = dict(schema=SCHEMA, mode=mode, started=started, machine=machine_line(), cpu_flags=cpu_flags(),
                blas_env=blas_note, versions=versions(), n_threads=N_THREADS, load_start=_loadavg(),
                peak_n=cfg["peak_n"], contenders=contenders, notes=notes)
    print(f"backprop bench suite, {mode} mode: {len(contenders)} contenders; progress on stderr", file=sys.stderr)

    peaks = [run_worker([dict(type="peak", n=cfg["peak_n"])], cfg["timeout"], "machine limit (start)", deadline)[0]]
    p0 = peaks[0]
    meta.update({k: p0.get(k) for k in ("backprop", "isa", "numpy", "default_threads", "fast_path")})
    if p0.get("threadpools"):
        meta["blas"] = "; ".join(f"{x['internal_api']} {x['version']} {x['architecture']} kernel, "
                                 f"{x['threading_layer']}, {x['num_threads']} threads" for x in p0["threadpools"])
    if "cpp_fast" in contenders:
        fp = p0.get("fast_path")
        notes.append(f"C++ no-valid. column: NeuralNetwork.{fp}" if fp else
                     "C++ no-valid. column: no documented fast path on NeuralNetwork yet, so the private "
                     "backprop._core.predict_proba(X, weights, n_threads) is timed (X already C-contiguous, right dtype)")

    results = []
    per_cell = args.per_cell if args.per_cell is not None else (mode == "full")
    meta["per_cell"] = per_cell
    invocations = plan(cfg, contenders, per_cell)
    for i, (desc, tasks) in enumerate(invocations, 1):
        print(f"[{i}/{len(invocations)}] {desc} (at {time.perf_counter() - t_start:.0f} s)", file=sys.stderr,
              flush=True)
        results.extend(run_worker(tasks, cfg["timeout"], desc, deadline))
    if mode == "full":
        peaks.append(run_worker([dict(type="peak", n=cfg["peak_n"])], cfg["timeout"], "machine limit (end)")[0])
    meta["peaks"] = peaks
    meta["load_end"] = _loadavg()
    rows, peak = assemble(cfg, results, peaks)
    scaling = next((r for r in results if r["task"]["type"] == "scaling"), None)
    meta["wall_s"] = time.perf_counter() - t_start

    text = render(cfg, meta, rows, peak, scaling, contenders)
    text += "\n\nIssue 3 targets against this run (informative):\n" + "\n".join(targets_block(rows, peak))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png_note = plot(out / f"suite_{mode}.png", cfg, rows, meta, contenders)
    meta["wall_s"] = time.perf_counter() - t_start
    text += f"\n\nwall time of the whole run: {meta['wall_s']:.1f} s"
    files = [out / f"suite_{mode}.json", out / f"suite_{mode}.txt"] + ([] if png_note else [out / f"suite_{mode}.png"])
    text += "\nwrote " + ", ".join(str(f) for f in files) + (f" ({png_note})" if png_note else "")
    print(text)
    doc = dict(meta=meta, workloads=dict(train=cfg["train"], infer=cfg["infer"], latency=cfg["latency"],
                                         scaling=cfg["scaling"], only=sorted(cfg["only"]) if cfg.get("only") else None),
               peak=peak, rows=rows, scaling=scaling, targets=targets_block(rows, peak))
    (out / f"suite_{mode}.json").write_text(json.dumps(doc, indent=1, default=str))
    (out / f"suite_{mode}.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
