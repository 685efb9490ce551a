"""The benchmark suite (its mini-batch Adam row included): every contender side by side, in one
run, on one table, their timed runs interleaved.

    python benchmarks/bench_suite.py                 # full run (15-30 min on the 2-core machine)
    python benchmarks/bench_suite.py --quick         # shrunken sizes, about a minute (45 s budget)
    python benchmarks/bench_suite.py --smoke         # tiny sizes, seconds (what tests/test_bench_suite.py runs)
    python benchmarks/bench_suite.py --out DIR       # where the JSON / PNG / TXT go (default benchmarks/results/)

Other options: --threads N (every contender on N threads instead of all cores), --wait-quiet S (wait
up to S seconds for other people's jobs to leave the cores), --contenders cpp,numpy,... (a subset of
the main table's columns), --workloads a,e,g,... (a subset of the rows), --compile / --no-compile,
--per-cell / --grouped (process layout, see Timing), --budget S, --repeats N (N timed runs of every
cell instead of the mode's defaults: more of them settle thin margins on a noisy machine).

It prints ONE main table (rows: workload x dtype; columns: contenders; cell: min/median time of its
timed runs, ratio to the numpy reference of the same dtype, flags) followed by supporting tables: the
C++ speed-up over every contender, the new paths against their peers (rows (g), (h), the article's
code, FANN and the C header), the BLAS settings of the contenders that use numpy's BLAS, the machine
limit, peak memory of each fit, fit time against N and against max_iter, torch.compile compile time,
validation. It writes suite_<mode>.json, suite_<mode>.png (if matplotlib
is installed) and suite_<mode>.txt into the output folder.

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
* The article's code as written (``suite/article_code.py``: a standalone copy of the article's
  ``sigmoid`` and ``NeuralNetwork``, its bias column made in the activations' dtype so that float32
  stays float32), row (a) only, from the same initial weights (its ``_random_initialization`` replaced
  by a copy of them), so that the validation checks its trajectory, at its best BLAS setting (below).
  The C++ speed-up over it is reported beside the speed-up over the reference.
* Every contender that computes with numpy's BLAS (the reference, the article's code, scikit-learn in
  every row, the drop-ins' peers) runs at its best BLAS setting: one probe run (the warm-up's length)
  at 1 and at all BLAS threads (threadpoolctl), then every setting within 25 % of the faster probe is
  timed in every round and the better median is its cell; the output lists the probes and the setting
  kept. (On small problems OpenBLAS's threads can cost several times what they save.)
* scikit-learn MLPClassifier(activation='logistic', solver='sgd', batch_size=N,
  learning_rate='constant', learning_rate_init=lr, momentum=0, nesterovs_momentum=False, alpha=0,
  tol=0, n_iter_no_change=1e9, shuffle=False, early_stopping=False, max_iter=iters), when importable;
  ConvergenceWarning silenced.
* (e) one row only: FANN's ``run`` (fann2, when importable) on the row as a Python list of floats (built
  outside the loop), the network built with the same weights (sigmoid steepness 0.5 = the logistic
  function; the bias as FANN's bias neuron; fann2 links FANN's double build, so its float32 row computes
  in double too); and the C header of ``backprop.to_c``, called from a small C
  program built with gcc -O2 (benchmarks/bench_export.py's), one timed run = one round of calls in C.
* The machine's limit, measured in the same run: best of 3 numpy float64 / float32 square matmuls
  (4096, quick 2048) on all cores, with the same clean BLAS environment, at the start and (full run)
  at the end; "% peak" uses the higher of the two.

Every training contender starts from the same weights (``reference.init_weights`` with seed 0, the
article's N(0, 0.1^2)): torch and scikit-learn get them copied in (scikit-learn through warm_start),
so all of them follow the same trajectory, which the validation checks.

Row (f), mini-batch Adam, has its own configuration of the same contenders:
* backprop C++ / reference: ``NeuralNetwork(n_hidden=..., solver="adam", batch_size=b, learning_rate=1e-3,
  max_iter=epochs, random_state=0, backend="cpp" | "numpy")``, Adam's defaults (beta_1 0.9, beta_2 0.999,
  epsilon 1e-8); the estimator draws one permutation of the rows per epoch from random_state. A backprop
  whose NeuralNetwork has no ``solver`` parameter (an older backprop) gets a "skipped" cell with a note.
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

Side rows: each new path beside its peer, same-run ratios
---------------------------------------------------------
(g1) the default ``MLPClassifier()`` on 60000 x 784 (10 classes, 2 epochs), (g2) the default
``MLPRegressor()`` on make_regression(100000, 50) (3 epochs), (g3) ``MLPClassifier(solver="lbfgs")`` on
the article's workload (4000 x 20, (8, 3), logistic, 200 iterations): ``backprop.MLPClassifier`` /
``MLPRegressor`` against scikit-learn's class with the same parameters and random_state (the rows of
benchmarks/bench_sklearn.py; --quick divides N by 10, --smoke by 100). The drop-in's cell first
checks, on a slice and a few iterations, that both give the same weights (1e-9 of each array's largest
value in float64; 1e-2 in float32, where the two round differently and Adam's and L-BFGS's first
steps amplify that). Goal: the drop-in >= 3x faster.
(h) sample_weight: row (a)'s fit with ``sample_weight`` (uniform in [0.5, 1.5), fixed seed) against the
same fit without; the weighted one is checked against the numpy backend with the same weights. Goal:
<= 1.05x the unweighted time.

Workloads (full; --quick / --smoke shrink N, iterations and repeats and say so)
--------------------------------------------------------------------------------
(a) article: 4000 x 20, n_hidden=(8, 3), 2000 iterations;   (b) medium: 60000 x 784, (256, 128), 20;
(c) wide: 10000 x 100, (1024, 1024), 20;   (d) inference: predict_proba on 1,000,000 x 20, (8, 3);
(e) latency of predict_proba on 1 row and on 32 rows (d=20, (8, 3)), microseconds per call, median
over samples of many calls each;   (f) mini-batch Adam: 60000 x 784, (256, 128), batches of 256, 3 epochs
(quick: 2048 rows, 2 epochs; smoke: 300 x 20, (16, 8), batches of 64, 2 epochs). Data: the full run's
row (a) trains on the article's own training set (``backprop.article.article_data``, when scikit-learn is
installed); every other row on standard-normal X with labels from a noisy linear rule, fixed seeds,
generated outside the timed region (in chunks, straight into the target dtype).

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
Interleaved: every contender runs in its own persistent worker process (``--serve``). For each row
(workload x dtype) every contender's worker sets its cell up once: make the data, check the
contender against the reference on a slice (loss curve and predictions; llm.c's "validate, then
time"), prime it with a 1-iteration fit on 64 rows, one warm-up fit (fewer iterations on the big
workloads). Then the row is timed in rounds: each round asks every contender in turn for ONE timed
fit (time.perf_counter around the fit only), A B C A B C ..., so that the machine's drift and other
people's jobs hit all of them alike instead of whichever ran last. Before every timed run the
orchestrator pauses 0.15 s (not in --smoke): the previous run's idle BLAS / OpenMP threads spin for
up to about 0.1 s, on the cores the next contender needs. ``repeats`` rounds (5 on (a),
3 on (b)/(c), one fewer, at least 2, when a warm-up predicts a fit longer than 20 s). Latency cells
do the same with samples of many back-to-back calls (the calls per sample calibrated in each worker).
Each cell reports min and median of its timed runs (all of them are in the JSON, with the wall-clock
start of each, which shows the interleaving) and its spread: the larger of (median - min) / min and,
from 4 runs on, IQR / median. A cell whose spread exceeds the margin to its nearest rival in the row
(|rival median / its median - 1|) is flagged '?': their order is within the noise. The warm-up
fit's first losses are also compared with the reference cell's (same data, same start).
--per-cell (default in the full run) starts a fresh set of workers for every row (clean memory
figures); --grouped (default in --quick / --smoke) keeps one worker per contender for the whole run.
All contenders run on the same number of threads. Under --budget (--quick: 45 s) a row that starts
after the budget makes one round only, and rows after twice the budget are skipped and say so.

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
and the memory target) adds Adam's state, two arrays shaped like the weights (M and S; 3.7 MB
in float64 for (256, 128) on 784 features). A fit whose extra memory grows with N (a shuffled copy of
X, activations for all rows) shows up as a ratio well above 1 on the full run's 60000 rows; the rows
of the current batch that a library gathers (index_select, X[idx]) are part of its extra RSS.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _timing import clean_blas_env, ensure_clean_blas_env, machine_line  # noqa: E402
from suite import common  # noqa: E402
from suite.common import ADAM, DTYPES  # noqa: E402
from suite.contenders import (ARTICLE_ROWS, CONTENDERS, INFER_CONTENDERS, MINIBATCH_CONTENDERS,  # noqa: E402
                              ONE_ROW_CONTENDERS, TRAIN_CONTENDERS)
from suite.interleave import Pool, flag_spreads, run_row  # noqa: E402
from suite.measure import (XCHECK_TOL, XCHECK_TOL_RESHUFFLED, ForeignLoad, loadavg, rel_diff,  # noqa: E402
                           serve_main, worker_main)
from suite.render import plot, render, targets_block  # noqa: E402
from suite.workloads import (activation_bytes, dropin_task, flops_forward, flops_train_iter,  # noqa: E402
                             infer_task, latency_task, make_config, rows_in_flight, solver_state_bytes, train_task,
                             wanted)

SCHEMA = 2
ROW_KEYS = ("a", "b", "c", "d", "e", "f", "g", "h")


# ====================================================================== orchestrator side
def have(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def worker_env():
    env = clean_blas_env()
    env.pop("BACKPROP_BENCH_THREADS", None)
    if common.CPP_THREADS:
        env["BACKPROP_BENCH_THREADS"] = str(common.CPP_THREADS)
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


def plan(cfg, contenders):
    """The rows of the run, in order: [(description, [task per contender])]; each row's cells are timed
    together, round by round. Under a --quick time budget the rows that come late get fewer rounds or
    none, so the order is: (a), the short rows (d), (e), (h), (g), then the long (b), (c), the scaling
    grid (C++ only, when no subset of rows is asked for), and the mini-batch row (f) last."""
    first, late, last = [], [], []
    for w in cfg["train"]:
        cols = MINIBATCH_CONTENDERS if w.get("solver") else [
            c for c in TRAIN_CONTENDERS if c != "article" or w["key"] in ARTICLE_ROWS]
        for dtype in DTYPES:
            tasks = [train_task(cfg, w, c, dtype) for c in cols if c in contenders]
            (last if w.get("solver") else first if w["key"] == "a" else late).append((f"({w['key']}) {dtype}", tasks))
    for dtype in DTYPES:
        if wanted(cfg, "d"):
            first.append((f"(d) {dtype}", [infer_task(cfg, c, dtype) for c in INFER_CONTENDERS if c in contenders]))
        for n in (cfg["latency"]["rows"] if wanted(cfg, "e") else []):
            cols = INFER_CONTENDERS + (ONE_ROW_CONTENDERS if n == 1 else [])
            first.append((f"(e{n}) {dtype}", [latency_task(cfg, c, dtype, n) for c in cols if c in contenders]))
    if wanted(cfg, "h"):
        for dtype in DTYPES:
            first.append((f"(h) {dtype}", [train_task(cfg, cfg["weighted"], c, dtype) for c in ("cpp", "cpp_weighted")]))
    if wanted(cfg, "g") and have("sklearn"):
        for row in cfg["dropins"]["rows"]:
            for dtype in DTYPES:
                first.append((f"({row['key']}) {dtype}", [dropin_task(cfg, row, c, dtype)
                                                           for c in ("dropin", "sklearn_dropin")]))
    if "cpp" in contenders and not cfg.get("only"):
        late.append(("scaling (C++)", [dict(type="scaling", **cfg["scaling"])]))
    return [r for r in first + late + last if r[1]]


def assemble(cfg, results, peaks):
    """Flat rows (one per workload x dtype x contender) with GFLOP/s, ratio to reference, % of peak."""
    rows = []
    peak = {dt: max((p[dt]["gflops"] for p in peaks if p.get("status") == "ok" and dt in p), default=None)
            for dt in DTYPES}
    wl = {w["key"]: w for w in cfg["train"] + [cfg["weighted"]]}
    for r in results:
        t = r["task"]
        if t["type"] not in ("train", "infer", "latency", "dropin"):
            continue
        row = dict(workload=t["workload"], kind=t["type"], dtype=t["dtype"], contender=t["contender"],
                   status=r.get("status"), note=r.get("note"))
        for k in ("median_s", "min_s", "spread", "times", "repeats", "variant", "variants", "blas_probe_s", "check",
                  "path", "calls_per_sample", "warm_s", "compile_s", "rss_delta_bytes", "rss_first_fit_bytes", "rss_method",
                  "loss_head", "load1", "foreign_cores", "run_starts"):
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
        elif t["type"] == "latency":
            row["flops"] = flops_forward(t["rows"], t["d"], t["hidden"])
        if row["status"] == "ok" and "flops" in row:
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
                diff = rel_diff(r["loss_head"][:k], ref["loss_head"][:k])
                tol, what = XCHECK_TOL[r["dtype"]], "warm-up losses on the full data vs the reference cell"
                if wl[r["workload"]].get("batch_size") and r["contender"] != "cpp":
                    # torch and scikit-learn draw their own permutations: same algorithm, other batches
                    tol, what = XCHECK_TOL_RESHUFFLED, what + " (own shuffles: statistical agreement only)"
                r["xcheck"] = dict(ok=diff <= tol, loss_max_rel_diff=diff, iterations=k, what=what)
    flag_spreads(rows)
    return rows, peak


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


def parse_args(argv):
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
                    help="comma-separated subset of the rows a,b,c,d,e,f,g,h (d: inference, e: latency, g: the "
                         "drop-ins against scikit-learn, h: sample_weight; default: all, plus the scaling grid, "
                         "which runs only when no subset is given)")
    ap.add_argument("--repeats", type=int, default=None, metavar="N",
                    help="timed runs of every cell (training fits, inference runs, latency samples) instead of "
                         "the mode's defaults; a fit slower than 20 s then keeps all N")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads of every contender (default: all cores; C++ n_threads, BLAS, torch)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds after which the remaining rows make one timed round each, and after twice which they are "
                         "skipped (default: 45 for --quick, none otherwise)")
    ap.add_argument("--per-cell", dest="per_cell", action="store_true", default=None,
                    help="fresh worker processes for every row (default in the full run: clean memory figures)")
    ap.add_argument("--grouped", dest="per_cell", action="store_false",
                    help="one worker process per contender for the whole run (default in --quick / --smoke: "
                         "saves import time)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for other people's jobs to use < 0.25 cores (shared machine)")
    ap.add_argument("--render", metavar="JSON", help="print the tables of a saved suite_<mode>.json again, run nothing")
    ap.add_argument("--worker", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return ap, ap.parse_args(argv)


def render_saved(path):
    """--render: print the tables of a saved suite_<mode>.json again and redraw its PNG."""
    doc = json.loads(Path(path).read_text())
    cfg = make_config(doc["meta"]["mode"])
    cfg.update(doc["workloads"])
    text = render(cfg, doc["meta"], doc["rows"], doc["peak"], doc["scaling"], doc["meta"]["contenders"])
    print(text + "\n\nPerformance targets against this run (informative):\n" + "\n".join(targets_block(doc["rows"], doc["peak"])))
    png = Path(path).with_suffix(".png")
    note = plot(png, cfg, doc["rows"], doc["meta"], doc["meta"]["contenders"])
    print(f"\n{note}" if note else f"\nwrote {png}")
    return 0


def configure(args, ap, mode):
    """The mode's workloads narrowed by --workloads and --repeats; (cfg, notes)."""
    cfg = make_config(mode)
    if args.workloads:
        keys = {k.strip() for k in args.workloads.split(",")}
        bad = keys - set(ROW_KEYS)
        if bad:
            ap.error(f"unknown workloads {sorted(bad)}; choose from {','.join(ROW_KEYS)}")
        cfg["train"] = [w for w in cfg["train"] if w["key"] in keys]
        cfg["only"] = keys
    notes = []
    if args.repeats is not None:
        if args.repeats < 1:
            ap.error("--repeats must be >= 1")
        for w in cfg["train"] + [cfg["weighted"]]:
            w["repeats"] = args.repeats
        cfg["infer"]["repeats"] = cfg["latency"]["samples"] = cfg["dropins"]["repeats"] = args.repeats
        cfg["fixed_repeats"] = True
        notes.append(f"--repeats {args.repeats}: every cell takes {args.repeats} timed run(s) (latency: samples)")
    return cfg, notes


def choose_contenders(args, ap, mode, notes):
    """--contenders, minus those not installed and torch.compile where it is not wanted (each says so in notes)."""
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
        notes.append("scikit-learn is not installed: sklearn column and the drop-in rows (g) skipped")
    if "fann" in contenders and not have("fann2"):
        contenders.remove("fann")
        notes.append("fann2 is not importable: no FANN column in (e) 1 row (apt-get install libfann-dev swig; "
                     "pip install fann2)")
    if "c_header" in contenders and not (shutil.which("gcc") or shutil.which("cc")):
        contenders.remove("c_header")
        notes.append("no C compiler (gcc or cc): no C header column in (e) 1 row")
    return contenders


def describe_workloads(cfg, mode, notes):
    """The notes that say how this run's workloads differ from the full run and how each row trains."""
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


def run_cells(cfg, contenders, meta, per_cell, deadline, t_start):
    """The machine limit, then every row, its contenders interleaved; returns (results, peaks).

    Past the time budget (deadline) every row still gets one round; past twice the budget rows are skipped."""
    hard_deadline = None if deadline is None else deadline + (deadline - time.time())
    notes = meta["notes"]
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
    meta["per_cell"] = per_cell
    rows = plan(cfg, contenders)
    pool = Pool(Path(__file__).resolve(), worker_env())
    try:
        for i, (desc, tasks) in enumerate(rows, 1):
            print(f"[{i}/{len(rows)}] {desc}: {', '.join(t.get('contender', 'C++') for t in tasks)} "
                  f"(at {time.perf_counter() - t_start:.0f} s)", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            if tasks[0]["type"] == "scaling":
                results.extend(run_worker(tasks, cfg["timeout"], desc, deadline))
                continue
            results.extend(run_row(pool, tasks, cfg["timeout"], deadline, hard_deadline, cfg["settle_s"]))
            print(f"  {desc}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
            if per_cell:
                pool.fresh()  # a new process per contender for the next row: clean memory figures
    finally:
        pool.fresh()
    if meta["mode"] == "full":
        peaks.append(run_worker([dict(type="peak", n=cfg["peak_n"])], cfg["timeout"], "machine limit (end)")[0])
    return results, peaks


def write_outputs(out, cfg, meta, rows, peak, scaling, contenders, t_start):
    """Print the tables and write suite_<mode>.json / .txt / .png into `out`."""
    mode = meta["mode"]
    text = render(cfg, meta, rows, peak, scaling, contenders)
    text += "\n\nPerformance targets against this run (informative):\n" + "\n".join(targets_block(rows, peak))
    out = Path(out)
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


def main(argv=None):
    ap, args = parse_args(argv)
    if args.worker:
        return worker_main(*args.worker)
    if args.serve:
        return serve_main()
    if args.render:
        return render_saved(args.render)

    blas_note = ensure_clean_blas_env()  # may re-execute this script without the two variables
    t_start = time.perf_counter()
    if args.threads:
        common.set_threads(args.threads)
    mode = "smoke" if args.smoke else ("quick" if args.quick else "full")
    cfg, notes = configure(args, ap, mode)
    budget = args.budget if args.budget is not None else cfg["budget"]
    deadline = time.time() + budget if budget else None
    if args.threads:
        notes.append(f"--threads {args.threads}: every contender runs on {args.threads} thread(s)")
    if budget:
        notes.append(f"time budget {budget:.0f} s: rows still to run after it make one timed round each, rows "
                     f"still to run after {2 * budget:.0f} s are skipped and marked so")
    contenders = choose_contenders(args, ap, mode, notes)
    describe_workloads(cfg, mode, notes)
    if args.wait_quiet:
        notes.append(wait_quiet(args.wait_quiet))
    started = datetime.datetime.now().isoformat(timespec="seconds")
    meta = dict(schema=SCHEMA, mode=mode, started=started, machine=machine_line(), cpu_flags=cpu_flags(),
                blas_env=blas_note, versions=versions(), n_threads=common.N_THREADS, load_start=loadavg(),
                peak_n=cfg["peak_n"], contenders=contenders, notes=notes)
    print(f"backprop bench suite, {mode} mode: {len(contenders)} contenders; progress on stderr", file=sys.stderr)
    per_cell = args.per_cell if args.per_cell is not None else (mode == "full")
    results, peaks = run_cells(cfg, contenders, meta, per_cell, deadline, t_start)
    meta["peaks"] = peaks
    meta["load_end"] = loadavg()
    rows, peak = assemble(cfg, results, peaks)
    scaling = next((r for r in results if r["task"]["type"] == "scaling"), None)
    meta["wall_s"] = time.perf_counter() - t_start
    write_outputs(args.out, cfg, meta, rows, peak, scaling, contenders, t_start)
    return 0

if __name__ == "__main__":
    sys.exit(main())
