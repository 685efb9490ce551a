"""Full-batch gradient descent on dask against the in-memory fit: time per iteration and overhead.

    python benchmarks/bench_dask.py                      # 600,000 x 100, [64] hidden units, 5 iterations
    python benchmarks/bench_dask.py --rows 300000 --features 50
    python benchmarks/bench_dask.py --rows 20000 --iterations 2 --small-iterations 5   # a quick run

The same float64 data (generated block by block, so that a cluster's workers make their own blocks
and nothing is shipped from the client) trains:

* in memory, ``NeuralNetwork.fit`` on a numpy array with ``n_threads=2``, and with 1 (how much
  a second core gives on this machine, the bound of any 2-worker speed-up);
* on dask's local scheduler (2 threads, one block per task), the blocks sliced from the in-memory
  array, and read from a ``.npy`` file, each block a memmapped view of its rows (in every
  iteration: out of core);
* on a ``distributed.LocalCluster`` of 1 and of 2 worker processes x 1 thread.

Time per iteration is the median gap between the callbacks of consecutive iterations; the set-up
(the classes and min/max reductions, the blocks computed into the workers' memory) is the time to
the first callback minus one iteration.  The overhead is the
time per iteration against the in-memory fit's.  A second, small problem shows the fixed cost of
one iteration (broadcast of the weights, one task per worker, gathering the sums), in ms.  Last,
an out-of-core fit: a memmapped ``.npy`` (2,000,000 x 100 float64 by default, 1.5 GiB) on the
local scheduler, with the peak of the fitting process's own memory (its anonymous pages; the
file's pages are the operating system's cache, which it reclaims under pressure).
Needs the [dask] extra.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

from _timing import ensure_clean_blas_env, machine_line

BLAS_NOTE = ensure_clean_blas_env()

import numpy as np  # noqa: E402

from backprop import NeuralNetwork  # noqa: E402


def make_block(block_info=None, features=100, seed=0):
    """Block ``i`` of the data: Gaussian features from a seed of its own, labels from a fixed rule."""
    (start, stop), _ = block_info[None]["array-location"]
    rng = np.random.default_rng([seed, start])
    X = rng.standard_normal((stop - start, features))
    return X


def labels(X):
    s = X[:, 0] - 0.5 * X[:, -1] ** 2 + 0.5 * X[:, 1] * X[:, 2]
    return (s > -0.4).astype(np.int64)


def file_rows(path, block_info=None):
    """The block's rows of the .npy file at ``path``, a view of the file (read when used, never
    copied): ``da.from_array`` of a ``np.memmap`` would copy every chunk into memory up front."""
    (start, stop), _ = block_info[None]["array-location"]
    return np.load(path, mmap_mode="r")[start:stop]


def dataset(rows, features, block_rows):
    import dask.array as da

    chunks = ((block_rows,) * (rows // block_rows) + ((rows % block_rows,) if rows % block_rows else ()), (features,))
    X = da.map_blocks(make_block, dtype=np.float64, chunks=chunks, features=features)
    y = X.map_blocks(labels, dtype=np.int64, drop_axis=1)
    return X, y


def per_iteration(X, y, hidden, k, **params):
    """(seconds per iteration, set-up seconds, fitted model of 1 + k iterations), after a warm-up fit
    (the workers import backprop once).  Iterations are timed by the callback: the median gap
    between consecutive ones; the set-up is the time to the first callback minus one iteration."""
    kw = dict(n_hidden=hidden, learning_rate=0.5, random_state=0, **params)
    NeuralNetwork(max_iter=1, **kw).fit(X, y)
    stamps = []
    model = NeuralNetwork(max_iter=1 + k, callback=lambda m, i, loss: stamps.append(time.perf_counter()), **kw)
    start = time.perf_counter()
    model.fit(X, y)
    it = float(np.median(np.diff(stamps)))
    return it, max(stamps[0] - start - it, 0.0), model


def measure(rows, features, hidden, block_rows, k):
    """The rows of one table: (where, s per iteration, set-up s, max relative weight difference)."""
    import dask
    import dask.array as da
    import distributed

    X, y = dataset(rows, features, block_rows)
    Xm, ym = dask.compute(X, y, scheduler="threads")
    results = []
    it, setup, ref = per_iteration(Xm, ym, hidden, k, n_threads=2)
    results.append(("in memory, n_threads=2", it, setup, 0.0))
    it, setup, _ = per_iteration(Xm, ym, hidden, k, n_threads=1)
    results.append(("in memory, n_threads=1 (what one core does)", it, setup, 0.0))

    def rel(model):
        return max(float(np.max(np.abs(A - B)) / np.max(np.abs(A))) for A, B in zip(ref.weights_, model.weights_))

    chunks = (X.chunks[0], (features,))
    yl = da.from_array(ym, chunks=X.chunks[0])
    with tempfile.TemporaryDirectory() as folder, dask.config.set(scheduler="threads", num_workers=2):
        it, setup, model = per_iteration(da.from_array(Xm, chunks=chunks), yl, hidden, k)
        results.append(("dask local scheduler, 2 threads: blocks of an in-memory array", it, setup, rel(model)))
        np.save(os.path.join(folder, "X.npy"), Xm)
        on_disk = da.map_blocks(file_rows, os.path.join(folder, "X.npy"), dtype=np.float64, chunks=chunks)
        it, setup, model = per_iteration(on_disk, yl, hidden, k)
        results.append(("dask local scheduler, 2 threads: blocks read from a memmapped .npy", it, setup, rel(model)))
    for workers in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None)
            client = distributed.Client(cluster, set_as_default=False)
        try:
            with client.as_current():
                it, setup, model = per_iteration(X, y, hidden, k)
        finally:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client.close()
                cluster.close()
        results.append((f"LocalCluster, {workers} worker{'s' if workers > 1 else ''} x 1 thread", it, setup, rel(model)))
    return results


OUT_OF_CORE = r"""
import sys, threading, time
import numpy as np, dask, dask.array as da
from backprop import NeuralNetwork

def anonymous_kib():  # the process's own memory (heap), without the file pages a memmap maps
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))

def file_rows(path, block_info=None):
    (start, stop), _ = block_info[None]["array-location"]
    return np.load(path, mmap_mode="r")[start:stop]

path, labels, block_rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
peak, done = [anonymous_kib()], threading.Event()
def sample():
    while not done.wait(0.005):
        peak.append(anonymous_kib())
threading.Thread(target=sample, daemon=True).start()
base = peak[0]
rows, features = np.load(path, mmap_mode="r").shape
chunks = ((block_rows,) * (rows // block_rows) + ((rows % block_rows,) if rows % block_rows else ()), (features,))
X = da.map_blocks(file_rows, path, dtype=np.float64, chunks=chunks)
y = da.from_array(np.load(labels), chunks=chunks[0])  # the labels, small, in memory
start = time.perf_counter()
with dask.config.set(scheduler="threads", num_workers=2):
    NeuralNetwork(n_hidden=(64,), learning_rate=0.5, max_iter=3, random_state=0).fit(X, y)
done.set()
print(time.perf_counter() - start, (max(peak) - base) / 1024)
"""


def out_of_core(rows, features, block_rows):
    """(file MiB, seconds for 3 iterations, peak MiB of the fitting process's own memory) of a fit on
    the local scheduler reading a memmapped .npy, in a process of its own."""
    import subprocess

    with tempfile.TemporaryDirectory() as folder:
        X_path, y_path = os.path.join(folder, "X.npy"), os.path.join(folder, "y.npy")
        X = np.lib.format.open_memmap(X_path, mode="w+", dtype=np.float64, shape=(rows, features))
        y = np.lib.format.open_memmap(y_path, mode="w+", dtype=np.int64, shape=(rows,))
        for start in range(0, rows, block_rows):  # written block by block: the writer stays small too
            block = make_block({None: {"array-location": [(start, min(rows, start + block_rows)), (0, features)]}},
                               features=features)
            X[start : start + block.shape[0]] = block
            y[start : start + block.shape[0]] = labels(block)
        X.flush(), y.flush()
        del X, y
        out = subprocess.run([sys.executable, "-c", OUT_OF_CORE, X_path, y_path, str(block_rows)],
                             capture_output=True, text=True, check=True)
        seconds, peak = map(float, out.stdout.split())
        return rows * features * 8 / 2**20, seconds, peak


def table(title, results, unit, scale):
    base = results[0][1]
    print(f"\n{title}\n")
    print(f"| where | {unit} per iteration | against in memory | set-up, s | max rel. weight diff |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for where, it, setup, diff in results:
        print(f"| {where} | {it * scale:.3g} | {it / base:.2f}x | {setup:.2f} | {diff:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--block-rows", type=int, default=37_500, help="rows per dask block (default: 16 blocks)")
    parser.add_argument("--iterations", type=int, default=5, help="iterations timed (after a first one)")
    parser.add_argument("--small-iterations", type=int, default=20, help="iterations of the small problem")
    parser.add_argument("--out-of-core-rows", type=int, default=2_000_000,
                        help="rows of the memmapped .npy of the out-of-core fit (0: skip it)")
    args = parser.parse_args()
    print(machine_line())
    if BLAS_NOTE:
        print(BLAS_NOTE)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    big = measure(args.rows, args.features, (args.hidden,), args.block_rows, args.iterations)
    table(f"{args.rows} x {args.features}, [{args.hidden}] hidden units, float64, blocks of {args.block_rows} rows",
          big, "s", 1.0)
    small = measure(4096, 20, (16,), 512, args.small_iterations)
    table("the fixed cost: 4096 x 20, [16] hidden units, blocks of 512 rows (8 blocks)", small, "ms", 1e3)
    if args.out_of_core_rows and os.path.exists("/proc/self/status"):
        size, seconds, peak = out_of_core(args.out_of_core_rows, args.features, args.block_rows)
        print(f"\nout of core: a memmapped .npy of {size:.0f} MiB ({args.out_of_core_rows} x {args.features}), "
              f"local scheduler, 3 iterations in {seconds:.1f} s; peak memory of the fitting process beyond "
              f"its start (anonymous, without the file's cached pages): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
