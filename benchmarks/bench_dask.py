"""Full-batch gradient descent on dask against the in-memory fit: time per iteration, a cost model
checked against the 1- and 2-worker points, an A/B of the 2-worker fit against the in-memory one,
and an out-of-core fit on a cluster whose workers' memory limit is below the file's size.

    python benchmarks/bench_dask.py                      # 600,000 x 100, [64] hidden units, 5 iterations
    python benchmarks/bench_dask.py --rows 300000 --features 50
    python benchmarks/bench_dask.py --rows 20000 --iterations 2 --small-iterations 5 --rounds 1 \
        --out-of-core-rows 20000                         # a quick run

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
the first callback minus one iteration.  A second, small problem shows the fixed cost of one
iteration (weights to the workers, one task per worker, the sums gathered), in ms.

Then ``--rounds`` rounds (5) of four fits in turn, each ``--iterations`` iterations: in memory
on 1 and on 2 threads, on 1 worker and on 2 workers x 1 thread (the data persisted in the
workers, as the in-memory fit's is in RAM).  Their medians are the measured points of the cost
model of one iteration on w workers,

    t(w) = C / w + L * (1 + log2 w) + bytes(w) / bandwidth,   bytes(w) = (B + w) * g

(C the compute, L the latency of one round trip from the client, B blocks, g the bytes of one
block's gradient sums and of the weights), whose constants come from this run: L is the small
problem's per-iteration overhead on 1 worker (against the in-memory fit on 1 thread), the
bandwidth a timed transfer of B arrays like the gradient sums (lengthened to 16 MiB in all) from
a worker to the client (less a transfer of a few bytes), and C the 1-worker time less the other
two terms, so that the 1-worker point is met by construction (a second prediction takes C from
the in-memory fit on 1 thread).  The 2-worker point checks the model.  The same rounds give the
A/B of the 2-worker fit against the in-memory fit on 2 threads: the whole fit's time and the time
per iteration, min and median of each, and their ratios.

Last, an out-of-core fit on a ``LocalCluster`` of 2 workers x 1 thread whose memory limit
(``--memory-limit``, per worker) is below the size of the memmapped ``.npy`` it trains on
(``--out-of-core-rows``): each block is read from the file inside a worker in every iteration.
Each worker's resident memory is sampled every 10 ms (what distributed's memory limit watches);
the run reports its peak per worker.  The same code path on a small file is checked against the
in-memory fit of the same rows.  Needs the [dask] extra.
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

from backprop import ConvergenceWarning, NeuralNetwork  # noqa: E402


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
    start, stop = block_info[None]["array-location"][0]
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
    seconds, its, model = timed_fit(X, y, 1 + k, **kw)
    it = float(np.median(its))
    return it, max(seconds - it * len(its) - it, 0.0), model


def timed_fit(X, y, iterations, **kw):
    """(seconds of the whole fit, the gaps between consecutive iterations, the model)."""
    stamps = []
    model = NeuralNetwork(max_iter=iterations, callback=lambda m, i, loss: stamps.append(time.perf_counter()), **kw)
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start, np.diff(stamps), model


def local_cluster(workers, **kw):
    import logging

    import distributed

    logging.getLogger("distributed").setLevel(logging.ERROR)  # the cluster's notices at start and close
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # start-up notices (ports, deprecations)
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None, **kw)
        return cluster, distributed.Client(cluster, set_as_default=False)


def close(cluster, client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.close()
        cluster.close()


def _arrays(n_arrays, size):
    return [np.ones(size) for _ in range(n_arrays)]


def bandwidth(client, n_arrays, size, least=16 * 2**20, repeats=7):
    """Bytes per second from a worker to the client: the median time to compute ``n_arrays``
    float64 arrays of ``size`` values (one iteration's gradient sums), each made longer when
    they add to fewer than ``least`` bytes, on a worker and gather them, less the time to do the
    same with 1 value per array (the round trip's latency), the two timed in alternation."""
    size = max(size, -(-least // (8 * n_arrays)))

    def once(m):
        start = time.perf_counter()
        client.submit(_arrays, n_arrays, m, pure=False).result()
        return time.perf_counter() - start

    big, tiny = [], []
    for _ in range(repeats):
        big.append(once(size))
        tiny.append(once(1))
    seconds = float(np.median(big) - np.median(tiny))
    return n_arrays * size * 8 / seconds if seconds > 0 else float("inf")


def measure(rows, features, hidden, block_rows, k, clusters):
    """The rows of one table, (where, s per iteration, set-up s, max relative weight difference),
    and the fitted in-memory model.  ``clusters`` = {workers: (cluster, client)}."""
    import dask
    import dask.array as da

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
    for workers, client in clusters.items():
        with client.as_current():
            it, setup, model = per_iteration(X, y, hidden, k)
        results.append((f"LocalCluster, {workers} worker{'s' if workers > 1 else ''} x 1 thread", it, setup, rel(model)))
    return results, ref


#: The fits of the interleaved rounds: (where, threads in memory or workers of 1 thread).
ARMS = {"in memory, 1 thread": ("memory", 1), "in memory, 2 threads": ("memory", 2),
        "1 worker x 1 thread": ("cluster", 1), "2 workers x 1 thread": ("cluster", 2)}


def interleaved(rows, features, hidden, block_rows, k, rounds, clients):
    """``rounds`` rounds of the four fits of ``ARMS`` in turn, ``k`` iterations each, the data
    persisted in each cluster's workers as the in-memory fit's is in RAM: {arm: (fit seconds, s per
    iteration)}, lists of one value per round, and the in-memory model."""
    import dask

    X, y = dataset(rows, features, block_rows)
    Xm, ym = dask.compute(X, y, scheduler="threads")
    persisted = {w: client.persist([X, y]) for w, client in clients.items()}
    kw = dict(n_hidden=hidden, learning_rate=0.5, random_state=0)
    for w, client in clients.items():
        with client.as_current():
            NeuralNetwork(max_iter=1, **kw).fit(*persisted[w])  # warm-up: the workers import backprop
    out = {arm: ([], []) for arm in ARMS}
    for _ in range(rounds):
        for arm, (where, w) in ARMS.items():
            if where == "memory":
                seconds, its, ref = timed_fit(Xm, ym, k, n_threads=w, **kw)
            else:
                with clients[w].as_current():
                    seconds, its, _ = timed_fit(*persisted[w], k, **kw)
            out[arm][0].append(seconds)
            out[arm][1].append(float(np.median(its)))
    return out, ref


def cost_model(rounds, small, ref, blocks, client):
    """The model's constants from this run and its predictions for 1 and 2 workers (see the module's
    docstring): {name: value}, and rows (workers, C/w, latency, transfer, predicted, predicted
    from the in-memory compute, measured), the measured times the medians of the interleaved rounds."""
    t = {arm: float(np.median(its)) for arm, (_, its) in rounds.items()}
    ts = {where: it for where, it, _, _ in small}
    values = sum(W.size for W in ref.weights_)
    g = values * 8
    latency = max(ts["LocalCluster, 1 worker x 1 thread"] - ts["in memory, n_threads=1 (what one core does)"], 0.0)
    beta = bandwidth(client, blocks, values)
    measured = {1: t["1 worker x 1 thread"], 2: t["2 workers x 1 thread"]}
    compute = measured[1] - latency - (blocks + 1) * g / beta
    compute_in_memory = t["in memory, 1 thread"]
    rows = []
    for w in (1, 2):
        rest = latency * (1 + np.log2(w)) + (blocks + w) * g / beta
        rows.append((w, compute / w, latency * (1 + np.log2(w)), (blocks + w) * g / beta,
                     compute / w + rest, compute_in_memory / w + rest, measured[w]))
    latency_2 = ts["LocalCluster, 2 workers x 1 thread"] - ts["in memory, n_threads=1 (what one core does)"]
    constants = {"C": compute, "C_in_memory": compute_in_memory, "L": latency, "L2": latency_2, "bandwidth": beta,
                 "g": g, "B": blocks, "second_thread": t["in memory, 1 thread"] / t["in memory, 2 threads"]}
    return constants, rows


def _start_sampler(dask_worker):
    """Sample the worker process's resident memory every 10 ms, keeping the peak on the worker."""
    import threading

    import psutil

    process = psutil.Process()
    dask_worker.bench_peak = process.memory_info().rss
    dask_worker.bench_stop = threading.Event()

    def sample():
        while not dask_worker.bench_stop.wait(0.01):
            dask_worker.bench_peak = max(dask_worker.bench_peak, process.memory_info().rss)

    threading.Thread(target=sample, daemon=True).start()
    return dask_worker.bench_peak


def _stop_sampler(dask_worker):
    dask_worker.bench_stop.set()
    return dask_worker.bench_peak


def write_npy(folder, rows, features, block_rows):
    """X.npy and y.npy of the benchmark's data in ``folder``, written block by block (the writer
    stays small too); their paths."""
    X_path, y_path = os.path.join(folder, "X.npy"), os.path.join(folder, "y.npy")
    X = np.lib.format.open_memmap(X_path, mode="w+", dtype=np.float64, shape=(rows, features))
    y = np.lib.format.open_memmap(y_path, mode="w+", dtype=np.int64, shape=(rows,))
    for start in range(0, rows, block_rows):
        block = make_block({None: {"array-location": [(start, min(rows, start + block_rows)), (0, features)]}},
                           features=features)
        X[start : start + block.shape[0]] = block
        y[start : start + block.shape[0]] = labels(block)
    X.flush(), y.flush()
    return X_path, y_path


def from_npy(X_path, y_path, block_rows):
    """X and y as dask arrays whose blocks are read from the memmapped files where they are computed."""
    import dask.array as da

    rows, features = np.load(X_path, mmap_mode="r").shape
    chunks = ((block_rows,) * (rows // block_rows) + ((rows % block_rows,) if rows % block_rows else ()),)
    X = da.map_blocks(file_rows, X_path, dtype=np.float64, chunks=chunks + ((features,),))
    y = da.map_blocks(file_rows, y_path, dtype=np.int64, chunks=chunks)
    return X, y


def out_of_core(rows, features, hidden, block_rows, memory_limit, check_rows):
    """A fit of 3 iterations on a 2-worker cluster with ``memory_limit`` per worker, from a memmapped
    .npy of ``rows`` rows: {file MiB, limit MiB, seconds, s per iteration, peaks and starts (MiB,
    per worker), max relative weight difference of a ``check_rows`` fit against in memory}."""
    from dask.utils import parse_bytes

    kw = dict(n_hidden=hidden, learning_rate=0.5, random_state=0)
    cluster, client = local_cluster(2, memory_limit=memory_limit)
    try:
        with tempfile.TemporaryDirectory() as folder, client.as_current():
            small = write_npy(folder, check_rows, features, max(1, check_rows // 4))
            X, y = from_npy(*small, max(1, check_rows // 4))
            model = NeuralNetwork(max_iter=3, **kw).fit(X, y)  # also the warm-up: the workers import backprop
            ref = NeuralNetwork(max_iter=3, n_threads=2, **kw).fit(np.load(small[0]), np.load(small[1]))
            diff = max(float(np.max(np.abs(A - B)) / np.max(np.abs(A))) for A, B in zip(ref.weights_, model.weights_))
            X, y = from_npy(*write_npy(folder, rows, features, block_rows), block_rows)
            starts = client.run(_start_sampler)
            seconds, its, _ = timed_fit(X, y, 3, **kw)
            peaks = client.run(_stop_sampler)
    finally:
        close(cluster, client)
    mib = 2.0**-20
    return {"file": rows * features * 8 * mib, "limit": parse_bytes(memory_limit) * mib, "seconds": seconds,
            "iteration": float(np.median(its)), "peaks": [peaks[w] * mib for w in sorted(peaks)],
            "starts": [starts[w] * mib for w in sorted(starts)], "diff": diff, "check_rows": check_rows}


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
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of the 4 fits of the cost model and the A/B")
    parser.add_argument("--out-of-core-rows", type=int, default=2_000_000,
                        help="rows of the memmapped .npy of the out-of-core fit (0: skip it)")
    parser.add_argument("--memory-limit", default="600MiB", help="each worker's memory limit in the out-of-core fit")
    args = parser.parse_args()
    # A few iterations at a timing's learning rate learn nothing yet: each fit's warning saying so
    # is expected here, not news.
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(machine_line())
    if BLAS_NOTE:
        print(BLAS_NOTE)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, load average {os.getloadavg()[0]:.1f} at the start")
    clusters = {w: local_cluster(w) for w in (1, 2)}
    try:
        clients = {w: client for w, (_, client) in clusters.items()}
        big, _ = measure(args.rows, args.features, (args.hidden,), args.block_rows, args.iterations, clients)
        table(f"{args.rows} x {args.features}, [{args.hidden}] hidden units, float64, blocks of {args.block_rows} rows",
              big, "s", 1.0)
        small, _ = measure(4096, 20, (16,), 512, args.small_iterations, clients)
        table("the fixed cost: 4096 x 20, [16] hidden units, blocks of 512 rows (8 blocks)", small, "ms", 1e3)
        n_blocks = -(-args.rows // args.block_rows)
        rounds, ref = interleaved(args.rows, args.features, (args.hidden,), args.block_rows, args.iterations,
                                  args.rounds, clients)
        print(f"\n{args.rounds} interleaved rounds of 4 fits ({args.iterations} iterations each; the data in memory, "
              "or persisted in the workers), s per iteration: "
              + "; ".join(f"{arm} {' '.join(f'{v:.3f}' for v in its)}" for arm, (_, its) in rounds.items()))
        constants, rows = cost_model(rounds, small, ref, n_blocks, clients[1])
        print(f"\ncost model t(w) = C / w + L (1 + log2 w) + (B + w) g / bandwidth: C = {constants['C']:.3f} s "
              f"(the 1-worker point; in memory on 1 thread: {constants['C_in_memory']:.3f} s), "
              f"L = {constants['L'] * 1e3:.1f} ms (the small problem on 1 worker), B = {constants['B']} blocks, "
              f"g = {constants['g']} bytes, bandwidth = {constants['bandwidth'] / 1e6:.0f} MB/s (a timed transfer); "
              f"a second thread speeds the in-memory fit up {constants['second_thread']:.2f}x "
              "(C / w assumes w free cores)\n")
        print("| workers | C / w, s | latency, s | transfer, s | predicted, s | predicted from in-memory C, s "
              "| measured, s | measured / predicted |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for w, c, lat, tr, pred, pred_mem, meas in rows:
            print(f"| {w} | {c:.3f} | {lat:.4f} | {tr:.4f} | {pred:.3f} | {pred_mem:.3f} | {meas:.3f} | "
                  f"{meas / pred:.2f} |")
        print(f"\nthe latency term on 2 workers: {2 * constants['L'] * 1e3:.1f} ms predicted (2 L), "
              f"{constants['L2'] * 1e3:.1f} ms measured (the small problem on 2 workers)")
        print(f"\nA/B of the same {args.rounds} rounds: in memory on 2 threads against 2 workers x 1 thread\n")
        print("| | in memory min | in memory median | dask min | dask median | ratio of mins | ratio of medians |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for i, what in enumerate(("whole fit, s", "per iteration, s")):
            a, b = np.asarray(rounds["in memory, 2 threads"][i]), np.asarray(rounds["2 workers x 1 thread"][i])
            print(f"| {what} | {a.min():.3f} | {np.median(a):.3f} | {b.min():.3f} | {np.median(b):.3f} | "
                  f"{b.min() / a.min():.2f}x | {np.median(b) / np.median(a):.2f}x |")
    finally:
        for cluster, client in clusters.values():
            close(cluster, client)
    if args.out_of_core_rows:
        r = out_of_core(args.out_of_core_rows, args.features, (args.hidden,), args.block_rows, args.memory_limit,
                        min(args.out_of_core_rows, 20_000))
        print(f"\nout of core: a memmapped .npy of {r['file']:.0f} MiB ({args.out_of_core_rows} x {args.features}) "
              f"on a LocalCluster of 2 workers x 1 thread, memory limit {r['limit']:.0f} MiB per worker: "
              f"3 iterations in {r['seconds']:.1f} s ({r['iteration']:.2f} s per iteration); peak resident memory "
              "per worker " + ", ".join(f"{p:.0f} MiB (from {s:.0f})" for p, s in zip(r["peaks"], r["starts"]))
              + f"; the same fit of {r['check_rows']} rows against in memory: max rel. weight diff {r['diff']:.1e}")
        if r["file"] <= r["limit"]:
            print("(the file is not larger than the memory limit at this size)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
