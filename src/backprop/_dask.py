"""``fit``, ``predict`` and ``predict_proba`` on dask collections: the data stays in dask's blocks.

``NeuralNetwork.fit`` hands dask input (a dask array, DataFrame or Series as ``X`` or ``y``)
here.  The rows are split as dask chunks them, one *block* per row chunk (X must hold whole rows:
one chunk along the columns).  Where the work runs is dask's choice, as for any dask computation:
on the cluster of the current ``dask.distributed`` client (``Client(...)``, or
``with client.as_current():`` for another one), else on dask's local scheduler.  A cluster's
workers keep the blocks in their memory when they fit in half of it (:data:`RESIDENT_FRACTION`
of the workers' memory limits); larger data, and any data on the local scheduler, is read from
its source (zarr, HDF5, a ``.npy`` file read block by block) in every pass, out of core.

Full batches (``batch_size`` None or >= the rows, any solver) are data-parallel, the gradient a
sum over samples.  Each iteration sends the weights to every worker once, inside the worker's one
task (a single round trip); the task returns the loss and gradient *sums* of every block the
worker holds, computed by the backend's kernel on the worker's threads (on the local scheduler,
and for data read from its source, one task and thread per block).  The client adds them in
block order (never in order of arrival) and applies the solver's update (the weights are small).
A fit is therefore the in-memory fit of the same rows up to the order of the sums (<= 1e-12
relative in float64) and bitwise the same from run to run, whatever the number of workers or the
order in which they answer.

Mini-batches move the model to the data: each epoch visits the blocks in an order drawn from
``random_state``, shuffles the rows of each block (a seed per block, also drawn from
``random_state``), and trains that block's batches in one kernel call on the worker holding it;
the weights and the solver's state pass from task to task.  Batches never span two blocks, so
this is another model than the in-memory fit's (whose batches are drawn from all rows).
``early_stopping`` holds out a stratified split of every chunk (a seed per chunk).

The scikit-learn drop-ins (``_sklearn``) train on dask input too.  With ``solver="lbfgs"``
scipy's L-BFGS-B runs on the client, and each evaluation of its objective is the full-batch step
above (:func:`sklearn_loss_and_gradient`); ``sgd`` and ``adam`` chain each epoch over the blocks
(:func:`chained_epoch`, the plan drawn from scikit-learn's ``_random_state``:
:func:`sklearn_plan`).  Their predictions are the blocks' (:func:`sklearn_predict`).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Optional

import numpy as np

from . import _core, _training, reference
from ._backends import BACKENDS, SolverState, class_index, log_proba, network_output
from ._validation import check_array, check_feature_names, check_n_features, check_y, feature_names

__all__ = ["is_dask_collection", "fit", "predict_proba", "predict_log_proba", "predict", "chained_epoch", "sklearn_input",
           "sklearn_blocks", "sklearn_plan", "sklearn_loss_and_gradient", "sklearn_predict"]

#: Epochs of mini-batch plans drawn per driver step (each a block order and one seed per block).
PLAN_VALUES = 1 << 17
#: Rows of each block predicted first by the check that the model learned something.
LEARNED_NOTHING_ROWS = 64
#: Attempts of one cluster step (an iteration's sums, an epoch's chain) when workers are lost.
ATTEMPTS = 3


def is_dask_collection(obj: Any) -> bool:
    """Whether ``obj`` is a dask collection; never imports dask (a dask object means it is imported)."""
    if "dask" not in sys.modules:
        return False
    import dask

    return dask.is_dask_collection(obj)


def _dask_array():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # dask without its array extra
        raise ImportError("dask input needs dask.array: pip install 'backprop[dask]'") from exc
    return dask, da


def _current_client() -> Any:
    """The ``dask.distributed`` client dask computes on (the current one), or None: dask's local scheduler."""
    if "distributed" not in sys.modules:
        return None
    import dask
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:
        return None
    scheduler = dask.base.get_scheduler()
    return client if getattr(scheduler, "__self__", None) is client else None


# ---------------------------------------------------------------------- input
def _as_dask_array(obj: Any, name: str, lengths: bool):
    """A dask array of ``obj``: a dask DataFrame or Series by ``to_dask_array`` (with its chunks'
    lengths when ``lengths``), a dask array as it is."""
    _, da = _dask_array()
    if hasattr(obj, "to_dask_array"):
        return obj.to_dask_array(lengths=True if lengths else None)
    if not isinstance(obj, da.Array):
        raise TypeError(f"{name} must be a dask array, DataFrame or Series, got {type(obj).__name__}")
    return obj


def check_row_blocks(X: Any, name: str = "X") -> None:
    """X must be 2-D and hold whole rows in each block (one chunk along the columns)."""
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got a dask array of shape {X.shape}")
    if X.numblocks[1] != 1:
        raise ValueError(
            f"{name} is chunked along its columns (chunks {X.chunks[1]}); each block must hold whole rows: "
            f"rechunk it with {name}.rechunk({{1: -1}})"
        )


def check_rows_aligned(X: Any, y: Any) -> None:
    """y must hold a row per row of X, in row chunks like X's (a block holds X's and y's rows)."""
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y have different numbers of samples: {X.shape[0]} and {y.shape[0]}")
    if y.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"X and y are chunked differently along the rows ({X.chunks[0]} and {y.chunks[0]}); "
            "rechunk y like X: y.rechunk({0: X.chunks[0]})"
        )


def _model_dtype(X: Any) -> np.dtype:
    """float32 trains in float32, float64 and bool/integer data in float64 (as ``check_array``)."""
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold numbers (bool, integer or float), got dtype {X.dtype}")
    return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)


def _training_arrays(X: Any, y: Any) -> tuple:
    """``(X, y)`` as dask arrays of the model's dtype and labels, chunked alike along the rows."""
    _, da = _dask_array()
    if y is None:
        raise ValueError("NeuralNetwork requires y to be passed, but the target y is None")
    if not is_dask_collection(X):
        X = check_array(X)
        X = da.from_array(X, chunks=(_as_dask_array(y, "y", True).chunks[0], X.shape[1]))
    X = _as_dask_array(X, "X", True)
    if any(np.isnan(c) for c in X.chunks[0]):  # a dask array of unknown block lengths
        X = X.compute_chunk_sizes()
    check_row_blocks(X)
    X = X.astype(_model_dtype(X))
    if not is_dask_collection(y):
        y = np.asarray(y)
        if y.ndim == 1 and y.shape[0] == X.shape[0]:
            y = da.from_array(y, chunks=(X.chunks[0],))
        else:
            check_y(y, X.shape[0])  # raises the in-memory fit's error
    y = _as_dask_array(y, "y", True)
    if any(np.isnan(c) for c in y.chunks[0]):
        y = y.compute_chunk_sizes()
    if y.ndim != 1:
        hint = " (a column vector: pass y.ravel())" if y.ndim == 2 and y.shape[1] == 1 else ""
        raise ValueError(f"y must be 1-D, got an array of shape {y.shape}{hint}")
    check_rows_aligned(X, y)
    return X, y


# ---------------------------------------------------------------------- the blocks' tasks
def _chunk_summary(X_chunk: np.ndarray, y_chunk: np.ndarray, labels: bool = True) -> tuple:
    """What a fit needs to know of a chunk before its blocks, in one task per chunk: y's labels and
    their counts (``labels``; else y's lowest and highest value), and X's lowest and highest value
    (None for a chunk of no rows)."""
    y, X = np.asarray(y_chunk), np.asarray(X_chunk)
    if labels:
        y_part = np.unique(y, return_counts=True)
    else:
        y_part = (y.min(), y.max()) if y.size else (None, None)
    return y_part + ((X.min(), X.max()) if X.size else (None, None))


def _row_chunks(A: Any) -> list:
    """The delayed row chunks of a dask array of one column chunk, in block order."""
    return list(A.to_delayed(optimize_graph=False).ravel())


def _summaries(X_chunks: list, y_chunks: list, labels: bool = True) -> tuple:
    """``_chunk_summary`` of every pair of row chunks, in block order (one pass over the data),
    and X's lowest and highest value over all chunks (NaN when X holds one)."""
    dask, _ = _dask_array()
    summary = dask.delayed(_chunk_summary, pure=True)
    parts = dask.compute([summary(x, c, labels) for x, c in zip(X_chunks, y_chunks)])[0]
    low, high = _range([(p[2], p[3]) for p in parts])
    return parts, low, high


def _range(pairs: list) -> tuple:
    """The lowest and highest of the chunks' (low, high) pairs that are not None; NaN propagates."""
    pairs = [p for p in pairs if p[0] is not None]
    return np.min([p[0] for p in pairs]), np.max([p[1] for p in pairs])


def _aligned(A: np.ndarray) -> np.ndarray:
    """``A``, C-contiguous and aligned to its dtype, copied only when it is not: arrays that came
    over the network may start at any byte, and the kernels copy a misaligned input in every call,
    where a block is copied once.  (Where a block starts within a cache line changes neither the
    kernels' results nor their speed: they pack what they read.)"""
    if A.flags.c_contiguous and A.flags.aligned:
        return A
    return np.array(A, order="C")  # numpy's allocations are aligned to any dtype's size


# A block is one pair (X, T) of a row chunk: the features in the model's dtype, C-contiguous, and
# the targets (training.targets), computed by one task so that a worker holds both.  With
# ``split`` = (seed, fraction, part) it is the training part of the chunk, or for part
# "validation" the pair (X, class index) of its validation rows: the chunk's stratified split.
def _block(X_chunk: np.ndarray, y_chunk: np.ndarray, classes: np.ndarray, n_out: int, dtype: np.dtype,
           split: Optional[tuple] = None) -> tuple:
    X, y_index = _aligned(np.asarray(X_chunk, dtype=dtype)), np.searchsorted(classes, y_chunk)
    if split is not None:
        seed, fraction, part = split
        rows = _training.stratified_split(y_index, len(classes), fraction, np.random.default_rng(seed),
                                          allow_empty=True)[part == "validation"]
        X, y_index = _aligned(X[rows]), y_index[rows]
        if part == "validation":
            return X, y_index
    return X, _training.targets(y_index, n_out, dtype)


def _block_float64(block: tuple) -> tuple:
    return tuple(_aligned(np.asarray(A, dtype=np.float64)) for A in block)


def _block_sums(block: tuple, weights: list, backend: str, activation: str, n_threads: int = 1,
                huge_inputs: Optional[bool] = None, **output: Any) -> tuple:
    """The block's data loss and gradient sums over its rows, without the L2 term: the kernel's
    means times the block's rows (exact when that count is a power of two, else one rounding).
    ``huge_inputs`` is the whole X's (``Blocks.huge_inputs``), as the in-memory fit decides it;
    ``output`` holds the kernels' output options (``output``, ``average_outputs``)."""
    X, T = block
    n = X.shape[0]
    if n == 0:
        return 0.0, [np.zeros_like(W) for W in weights]
    loss, grads = BACKENDS[backend].loss_and_gradient(X, T, weights, n_threads, activation, 0.0,
                                                      huge_inputs=huge_inputs, **output)
    rows = X.dtype.type(n)
    return float(loss) * n, [g * rows for g in grads]


def _block_gram(block: tuple, n_threads: int = 1) -> np.ndarray:
    X = block[0]
    X1 = np.hstack([np.ones((X.shape[0], 1)), np.asarray(X, dtype=np.float64)])
    return X1.T @ X1


def _block_labels_range(block: tuple, weights: list, backend: str, activation: str, threshold: float,
                        rows: Optional[int] = None, n_threads: int = 1) -> Any:
    """(lowest, highest) predicted class index of the block's first ``rows`` rows (None: all), or
    None when undefined."""
    X = block[0][:rows]
    if X.shape[0] == 0:
        return ()
    try:
        p = network_output(BACKENDS[backend], X, weights, n_threads, activation)
    except ValueError:  # outputs undefined in floating point
        return None
    index = class_index(p, threshold)
    return int(index.min()), int(index.max())


def _block_correct(block: tuple, weights: list, config: Any, n_threads: int = 1) -> int:
    """How many of the block's validation rows the network predicts right."""
    X, y_index = block
    if X.shape[0] == 0:
        return 0
    config = dataclasses.replace(config, n_threads=n_threads)
    return int(np.count_nonzero(_training.predicted_index(BACKENDS[config.backend], X, weights, config) == y_index))


def _on_worker(fn, blocks: list, small: Any, static: dict) -> list:
    """``fn`` over the blocks one worker holds, in their order, the kernels on the worker's threads."""
    from distributed import get_worker

    threads = max(1, int(getattr(get_worker().state, "nthreads", 1)))
    extra = () if small is None else (small,)
    return [fn(block, *extra, n_threads=threads, **static) for block in blocks]


def _block_train(block: tuple, carry: tuple, seed: int, config: Any, huge_inputs: Optional[bool] = None,
                 **output: Any) -> tuple:
    """One epoch of mini-batches over the block's rows, shuffled by ``seed`` (-1: in their order),
    from ``carry`` = (weights, solver state, the epoch's loss sum so far); returns the carry after
    it.  ``huge_inputs`` is the whole X's, as for ``_block_sums``; ``output`` holds the kernels'
    output options."""
    X, T = block
    weights, state, loss_sum = carry
    weights = [W.copy() for W in weights]  # the scheduler may hand the same objects to others
    state = state.copy()
    n = X.shape[0]
    if n == 0:
        return weights, state, loss_sum
    order = None if seed < 0 else np.random.default_rng(seed).permutation(n).astype(np.int64)[None]
    curve, _ = BACKENDS[config.backend].train(X, T, weights, config, state, 1, order, None, huge_inputs=huge_inputs,
                                              **output)
    return weights, state, loss_sum + float(curve[0]) * n


def _block_proba(X: np.ndarray, weights: list, backend: str, activation: str, two_columns: bool) -> np.ndarray:
    X = check_array(X, dtype=weights[0].dtype)
    p = network_output(BACKENDS[backend], X, weights, 1, activation)
    return np.stack([1 - p, p], axis=1) if two_columns and p.ndim == 1 else p


def _block_predict(X: np.ndarray, weights: list, backend: str, activation: str, classes: np.ndarray,
                   threshold: float) -> np.ndarray:
    return classes[class_index(_block_proba(X, weights, backend, activation, False), threshold)]


def _block_log_proba(X: np.ndarray, weights: list, backend: str, activation: str) -> np.ndarray:
    return log_proba(BACKENDS[backend], check_array(X, dtype=weights[0].dtype), weights, 1, activation)


# ---------------------------------------------------------------------- the data on dask
#: The share of the workers' memory limits (added over the workers) that the blocks may take in
#: their memory; larger data is read from its source in every pass.
RESIDENT_FRACTION = 0.5


def _fits_in_workers(client: Any, nbytes: int) -> bool:
    """Whether ``nbytes`` of blocks fit in ``RESIDENT_FRACTION`` of the workers' memory limits (a
    worker without a limit, 0, holds anything)."""
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info(n_workers=-1)["workers"].values()]
    return not limits or min(limits) == 0 or nbytes <= RESIDENT_FRACTION * sum(limits)


class Blocks:
    """The training data as dask holds it: one block (X, T) per row chunk, in block order, with what
    the training driver asks of its data (``shape``, ``dtype``, ``min``, ``max``: None for blocks
    that no driver reads, the drop-ins' L-BFGS).

    On a cluster the blocks are computed once into the workers' memory (futures, ``resident``)
    when X's bytes fit in ``RESIDENT_FRACTION`` of the workers' memory limits together; else, and
    with the local scheduler, they are recomputed from their source (their files) in every pass,
    one task per block, so that they need not fit in memory."""

    def __init__(self, blocks: list, rows: tuple, n_features: int, dtype: np.dtype, low: Optional[float],
                 high: Optional[float], client: Any) -> None:
        self.client = client
        self.rows = rows
        self.shape = (int(sum(rows)), n_features)
        self.dtype = np.dtype(dtype)
        self.low, self.high = low, high
        self.resident = client is not None and _fits_in_workers(client, self.shape[0] * n_features * self.dtype.itemsize)
        self.blocks = client.compute(blocks) if self.resident else blocks
        self.holders: Optional[dict] = None  # resident: {worker: indices of the blocks it holds}

    def min(self) -> float:
        return self.low

    def max(self) -> float:
        return self.high

    def huge_inputs(self) -> Optional[bool]:
        """``_core.has_huge_values`` of the whole X, from its lowest and highest value (None when
        not known: each block's call scans its rows)."""
        if self.low is None or self.high is None:
            return None
        return bool(_core.has_huge_values(np.array([self.low, self.high], dtype=self.dtype)))

    def on_cluster(self, step, *args: Any) -> Any:
        """``step(*args)`` on the cluster, again when it fails for a lost worker (a connection
        closed, data lost): dask recomputes the lost blocks from their source, and the step, a pure
        function of its arguments, gives the same result.  After ``ATTEMPTS`` failures a
        RuntimeError says so."""
        from concurrent.futures import CancelledError

        for attempt in range(ATTEMPTS):
            try:
                return step(*args)
            except (OSError, CancelledError) as exc:
                if attempt == ATTEMPTS - 1:
                    raise RuntimeError(
                        f"the dask cluster lost workers or data {ATTEMPTS} times in one step of the fit ({exc!r}); "
                        "the estimator was left unchanged"
                    ) from exc
                self.client.wait_for_workers(1)

    def map(self, fn, small: Any = None, **static: Any) -> list:
        """``fn(block, [small,] **static)`` for every block, the results in block order.  ``small``
        (the weights) goes to each worker once per call."""
        dask, _ = _dask_array()
        if self.resident:
            return self.on_cluster(self._map_on_cluster, fn, small, static)
        extra = () if small is None else (dask.delayed(small, traverse=False),)  # one key: shipped once
        task = dask.delayed(fn, pure=False)
        tasks = [task(block, *extra, **static) for block in self.blocks]
        if self.client is None:
            return list(dask.compute(*tasks))
        return self.on_cluster(lambda: self.client.gather(self.client.compute(tasks)))

    def _map_on_cluster(self, fn, small: Any, static: dict) -> list:
        """One task per worker, over the blocks it holds (what dask's scheduler knows of where they
        are, asked once and again after a failure; a task whose worker has gone runs elsewhere)."""
        if self.holders is None:
            from distributed import wait

            wait(self.blocks)  # computed, so that dask knows where each one is
            who_has = self.client.who_has(self.blocks)
            self.holders = {}
            for i, future in enumerate(self.blocks):
                where = who_has.get(future.key) or (None,)
                self.holders.setdefault(where[0], []).append(i)
        futures = {}  # the weights travel in each worker's task: no scatter, one round trip per call
        for worker, held in self.holders.items():
            where = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
            futures[worker] = self.client.submit(_on_worker, fn, [self.blocks[i] for i in held], small, static,
                                                 pure=False, **where)
        try:
            done = dict(zip(futures, self.client.gather(list(futures.values()))))
        except BaseException:
            self.holders = None
            raise
        finally:
            for f in futures.values():
                f.release()
        results = [None] * len(self.blocks)
        for worker, held in self.holders.items():
            for i, result in zip(held, done[worker]):
                results[i] = result
        return results

    def chain(self, plan: np.ndarray, carry: tuple, config: Any, **output: Any) -> tuple:
        """``_block_train`` over the blocks in ``plan``'s order ([block, seed] rows), the carry passed
        from one task to the next (resident blocks: each task on the block's worker); returns the
        last carry."""
        dask, _ = _dask_array()
        if self.resident:
            return self.on_cluster(self._chain_on_cluster, plan, carry, config, output)
        task = dask.delayed(_block_train, pure=False)
        for block, seed in plan:
            carry = task(self.blocks[block], carry, int(seed), config, **output)
        if self.client is None:
            return carry.compute()
        return self.on_cluster(lambda: self.client.compute(carry).result())

    def _chain_on_cluster(self, plan: np.ndarray, carry: tuple, config: Any, output: dict) -> tuple:
        for block, seed in plan:
            carry = self.client.submit(_block_train, self.blocks[block], carry, int(seed), config, pure=False,
                                       **output)
        return carry.result()

    def augmented_gram(self) -> np.ndarray:
        """``X~^T X~`` (float64, ``X~ = [1, X]``), the blocks' terms added in block order."""
        total = None
        for G in self.map(_block_gram):
            total = G if total is None else total + G
        return total

    def float64(self) -> Blocks:
        """The same blocks in float64 (the stability guard's data)."""
        if self.dtype == np.float64:
            return self
        dask, _ = _dask_array()
        cast = dask.delayed(_block_float64, pure=True)
        return Blocks([cast(b) for b in self.blocks], self.rows, self.shape[1], np.float64, self.low, self.high,
                      self.client)

    def release(self) -> None:
        if self.resident:
            for f in self.blocks:
                f.release()


class DaskBackend:
    """The data-parallel side of a fit on :class:`Blocks`: ``train`` and ``loss_and_gradient`` as the
    ``_backends.Backend`` interface has them (what the training driver and the stability guard
    call; a dask fit records no validation loss, so the driver never asks it for ``loss``), with
    the blocks in place of X (T is unused: the blocks hold the targets).  Each block's
    arithmetic runs on ``kernels``, the fit's backend: on a cluster in one task per worker, on its
    threads; on the local scheduler in one task per block, on one thread (dask runs the tasks in
    parallel)."""

    def __init__(self, kernels: str) -> None:
        self.kernels = kernels

    def loss_and_gradient(self, data: Blocks, T: Any, weights: list, n_threads: int, activation: str,
                          alpha: float, *, output: Optional[str] = None, sample_weight: Any = None,
                          average_outputs: bool = False) -> tuple[float, list]:
        """The full-batch loss and gradient: the blocks' sums added in block order, divided by the
        rows, then the L2 term, each in the kernels' arithmetic (``g += alpha W / n`` in the dtype).
        ``output`` and ``average_outputs`` as the kernels have them; no sample weights."""
        assert sample_weight is None
        parts = data.map(_block_sums, small=weights, backend=self.kernels, activation=activation, output=output,
                         average_outputs=average_outputs, huge_inputs=data.huge_inputs())
        total, sums = parts[0][0], [G.copy() for G in parts[0][1]]
        for loss_sum, block in parts[1:]:
            total += loss_sum
            for G, B in zip(sums, block):
                G += B
        n = data.shape[0]
        rows = data.dtype.type(n)
        grads = [G / rows for G in sums]
        loss = total / n
        if alpha > 0:
            a = data.dtype.type(alpha)
            for g, W in zip(grads, weights):
                g[:, 1:] += a * W[:, 1:] / rows
            loss += 0.5 * alpha * sum(float(np.sum(np.square(W[:, 1:], dtype=np.float64))) for W in weights) / n
        return loss, grads

    def train(self, data: Blocks, T: Any, weights: list, config: Any, state: SolverState, n_epochs: int,
              order: Optional[np.ndarray], hook: Any) -> tuple[np.ndarray, int]:
        """Up to ``n_epochs`` epochs in place on ``weights`` and ``state``: full-batch steps without
        ``order``; with it, mini-batch epochs, ``order[e]`` the (block, seed) plan of epoch e."""
        curve = []
        for epoch in range(n_epochs):
            if order is None:
                loss, grads = self.loss_and_gradient(data, None, weights, 1, config.activation, config.alpha)
                _step(config, weights, grads, state)
            else:
                loss = self._epoch_on_blocks(data, weights, config, state, order[epoch])
            recorded = float(data.dtype.type(loss))
            curve.append(recorded)
            stop = config.tol is not None and not config.early_stopping and _no_improvement(recorded, config, state)
            if hook is not None and hook(epoch + 1, recorded) is False:
                stop = True
            if stop or not np.isfinite(recorded):
                break
        return np.asarray(curve, dtype=data.dtype), len(curve)

    def _epoch_on_blocks(self, data: Blocks, weights: list, config: Any, state: SolverState, plan: np.ndarray) -> float:
        block_config = dataclasses.replace(config, backend=self.kernels, n_threads=1, tol=None, early_stopping=False,
                                           callback=None, verbose=False)
        return chained_epoch(data, weights, state, block_config, plan)


def chained_epoch(data: Blocks, weights: list, state: SolverState, config: Any, plan: np.ndarray,
                  **output: Any) -> float:
    """One epoch of mini-batches chained over the blocks in ``plan``'s order, in place on ``weights``
    and ``state``; ``config`` is what ``_block_train`` hands the kernels (its ``backend`` included).
    Returns the epoch's mean loss."""
    carry = ([W.copy() for W in weights], state.copy(), 0.0)
    new_weights, new_state, loss_sum = data.chain(plan, carry, config, huge_inputs=data.huge_inputs(), **output)
    for W, N in zip(weights, new_weights):
        W[...] = N
    for S, N in zip(state.arrays, new_state.arrays):
        S[...] = N
    state.counters[0] = new_state.counters[0]  # Adam's step count; the tol rule's stay here
    return loss_sum / data.shape[0]


def _step(config: Any, weights: list, grads: list, state: SolverState) -> None:
    """The solver's update for a full-batch gradient (``reference``'s step functions)."""
    if config.solver == "gd":
        reference.gradient_descent_step(weights, grads, config.learning_rate)
    elif config.solver == "momentum":
        reference.momentum_step(weights, grads, state.arrays, config.learning_rate, config.momentum, config.nesterov)
    else:
        state.counters[0] += 1
        L = len(weights)
        reference.adam_step(weights, grads, state.arrays[:L], state.arrays[L:], int(state.counters[0]),
                            config.learning_rate, config.beta_1, config.beta_2, config.epsilon)


def _no_improvement(loss: float, config: Any, state: SolverState) -> bool:
    """scikit-learn's rule on the training loss (the kernels' ``no_improvement_stop``); True: stop."""
    c = state.counters
    c[2] = c[2] + 1 if loss > c[1] - config.tol else 0.0
    c[1] = min(c[1], loss)
    return c[2] > config.n_iter_no_change


class DaskRun(_training._Run):
    """A fit of the training driver on :class:`Blocks`: the epochs are :class:`DaskBackend`'s (mini-
    batch plans drawn from ``random_state`` in steps of bounded size), the rest is the driver's."""

    def set_data(self, X: tuple, y_index: Any, sample_weight: Any) -> None:
        """``X`` = (the training blocks, the validation blocks or None); no sample weights (the
        estimator refuses them with dask input)."""
        assert sample_weight is None
        (self.X, self.X_val), self.T, self.y_val, self.y_train = X, None, None, None
        self.sample_weight = self.w_val = None
        self.shuffle = self.config.batch_size is not None and self.config.batch_size < self.X.shape[0]

    def validation_accuracy(self) -> float:
        config = dataclasses.replace(self.config, backend=self.backend.kernels, n_threads=1, callback=None)
        return sum(self.X_val.map(_block_correct, small=self.weights, config=config)) / self.X_val.shape[0]

    def run_epochs(self, hook) -> tuple[np.ndarray, int]:
        max_iter, n_blocks = self.config.max_iter, len(self.X.rows)
        chunk = max(1, PLAN_VALUES // n_blocks) if self.shuffle else max_iter
        curves, epochs = [], 0
        while epochs < max_iter:
            m = min(chunk, max_iter - epochs)
            plan = None
            if self.shuffle:  # each epoch: the block order, then one seed per block
                plan = np.stack([
                    np.stack([self.rng.permutation(n_blocks), self.rng.integers(0, 2**63, size=n_blocks)], axis=1)
                    for _ in range(m)
                ])
            curve, ran = self.backend.train(self.X, None, self.weights, self.config, self.state, m, plan, hook)
            epochs += ran
            curves.append(curve)
            if ran < m or not np.isfinite(curve).all():
                break
        return (np.concatenate(curves) if curves else np.empty(0, dtype=self.X.dtype)), epochs

    def learned_nothing_warnings(self) -> list:
        """The driver's ConvergenceWarning, from the blocks' ranges of predicted classes: of each
        block's first ``LEARNED_NOTHING_ROWS`` rows first, and only when they all get one class, of
        all rows (a model that learned something costs a few rows' forward pass, as in memory)."""
        for rows in (LEARNED_NOTHING_ROWS, None):
            ranges = self.X.map(_block_labels_range, small=self.weights, backend=self.backend.kernels,
                                activation=self.config.activation, threshold=self.config.threshold, rows=rows)
            if any(r is None for r in ranges):
                return []
            ranges = [r for r in ranges if r]
            if min(r[0] for r in ranges) != max(r[1] for r in ranges):
                return []
        return [_training.learned_nothing_warning(self.classes[ranges[0][0]], len(self.classes), self.config)]


# ---------------------------------------------------------------------- the estimator's entry points
def fit(model: Any, X: Any, y: Any, config: Any) -> Any:
    """``model.fit(X, y)`` for dask input, with the in-memory fit's checks and its driver."""
    dask, _ = _dask_array()
    continuing = config.warm_start and model.__sklearn_is_fitted__()
    if continuing:
        check_feature_names(model.__dict__.get("feature_names_in_"), X)
    names = feature_names(X)
    X, y = _training_arrays(X, y)
    n, d = X.shape
    if n < 1:
        raise ValueError(f"X has 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
    if d < 1:
        raise ValueError(f"X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    client = _current_client()
    X_chunks, y_chunks = _row_chunks(X), _row_chunks(y)
    counted, low, high = _summaries(X_chunks, y_chunks)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError("X contains NaN or infinity")
    _, classes = check_y(np.concatenate([labels for labels, *_ in counted]), sum(len(labels) for labels, *_ in counted))
    if continuing and not np.array_equal(model.classes_, classes):
        raise ValueError(f"warm_start: y has classes {classes!r}, but the model was fitted with {model.classes_!r}")
    dtype = X.dtype
    rng = np.random.default_rng(config.random_state)
    weights, warm = model._initial_weights(d, len(classes), dtype, config, rng, config.warm_start)
    block = dask.delayed(_block, pure=True)
    n_out = weights[-1].shape[0]
    if config.early_stopping:  # each chunk's stratified split, from a seed drawn after the initial weights
        seeds = rng.integers(0, 2**63, size=len(X_chunks))
        per_class = np.zeros((len(X_chunks), len(classes)), dtype=np.int64)
        for row, (labels, counts, *_) in zip(per_class, counted):
            row[np.searchsorted(classes, labels)] = counts
        val_rows = _training.held_out_count(per_class, config.validation_fraction).sum(axis=1)
        if val_rows.sum() == 0:
            raise _training.empty_validation_error(config.validation_fraction, n)
        parts = []
        for part, rows in (("train", np.asarray(X.chunks[0]) - val_rows), ("validation", val_rows)):
            blocks = [block(x, c, classes, n_out, dtype, (int(seed), config.validation_fraction, part))
                      for x, c, seed in zip(X_chunks, y_chunks, seeds)]
            parts.append(Blocks(blocks, tuple(int(r) for r in rows), d, dtype, float(low), float(high), client))
        data, validation = parts
    else:
        blocks = [block(x, c, classes, n_out, dtype) for x, c in zip(X_chunks, y_chunks)]
        data, validation = Blocks(blocks, X.chunks[0], d, dtype, float(low), float(high), client), None
    named = {} if continuing or names is None else {"feature_names_in_": names}
    drop = ("_rng",) if continuing or names is not None else ("_rng", "feature_names_in_")
    try:
        _training.train(model, (data, validation), None, classes, weights, warm, rng, config,
                        DaskBackend(config.backend), False, extra=named, drop=drop, run_type=DaskRun)
    finally:
        data.release()
        if validation is not None:
            validation.release()
    return model


def _prediction_input(model: Any, X: Any):
    check_feature_names(model.__dict__.get("feature_names_in_"), X)
    X = _as_dask_array(X, "X", False)
    check_row_blocks(X)
    check_n_features(X, model.n_features_in_)
    return X


def _per_class(model: Any, X: Any, block_fn, *args: Any) -> Any:
    """``block_fn(block, weights, *args)`` of each block of a dask X: a dask array of one column
    per class."""
    X = _prediction_input(model, X)
    weights = model.weights_
    k = max(2, weights[-1].shape[0])
    return X.map_blocks(block_fn, weights, *args, dtype=weights[0].dtype, chunks=(X.chunks[0], (k,)))


def predict_proba(model: Any, X: Any, backend: str, activation: str) -> Any:
    """``model.predict_proba(X)`` of a dask array: a dask array of the blocks' probabilities."""
    return _per_class(model, X, _block_proba, backend, activation, True)


def predict_log_proba(model: Any, X: Any, backend: str, activation: str) -> Any:
    """``model.predict_log_proba(X)`` of a dask array: a dask array of the blocks' log probabilities."""
    return _per_class(model, X, _block_log_proba, backend, activation)


def predict(model: Any, X: Any, backend: str, activation: str, threshold: float) -> Any:
    """``model.predict(X)`` of a dask array: a dask array of the blocks' labels."""
    X = _prediction_input(model, X)
    classes = model.classes_
    return X.map_blocks(_block_predict, model.weights_, backend, activation, classes, threshold,
                        dtype=classes.dtype, drop_axis=1, chunks=(X.chunks[0],))


# ---------------------------------------------------------------------- scikit-learn's drop-ins
# backprop.MLPClassifier / MLPRegressor on dask input.  scikit-learn's own code runs on the client
# as in memory (its input bookkeeping on a summary of the data, its L-BFGS-B driver, its epoch
# loop); each evaluation of the L-BFGS objective is the blocks' sums, each epoch of sgd and adam a
# chain over the blocks.
def _known_rows(A: Any) -> Any:
    """``A`` with its blocks' lengths known (a dask DataFrame's partitions may not know theirs)."""
    return A.compute_chunk_sizes() if any(np.isnan(c) for c in A.chunks[0]) else A


def _summary(like: Any, rows: int, dtype: np.dtype) -> Any:
    """``rows`` rows of zeros with ``like``'s columns: a pandas DataFrame when ``like`` has named
    columns (a dask DataFrame), else an array: what scikit-learn's feature checks read of X."""
    X = np.zeros((rows, like.shape[1]), dtype=dtype)
    if hasattr(like, "columns"):
        import pandas as pd

        return pd.DataFrame(X, columns=like.columns)
    return X


def _label_indicators(y_chunk: np.ndarray, binarizer: Any) -> np.ndarray:
    return binarizer.transform(np.asarray(y_chunk)).astype(bool)


def sklearn_input(model: Any, X: Any, y: Any, incremental: bool, reset: bool, validate: Any,
                  classifier: bool) -> tuple:
    """What a drop-in's ``_validate_input`` returns, for dask input (X or y a dask collection): X
    as a dask array of the model's dtype, and the targets as a 2-D dask array chunked as X's rows
    (the classifier's label indicators, the regressor's values).

    The values are checked here, on the blocks, in one pass (numbers, finite, the labels);
    ``validate`` is scikit-learn's own ``_validate_input``, called on a summary of the data (a row
    per label, or one row; the columns' names kept), so that scikit-learn keeps its own books:
    ``n_features_in_``, ``feature_names_in_``, ``classes_``, the label binarizer, the warm-start
    checks, their errors and warnings."""
    dask, da = _dask_array()
    if incremental:
        raise TypeError("partial_fit takes in-memory data (one batch of a stream); dask input trains with fit")
    if model.solver != "lbfgs" and model.early_stopping:
        raise ValueError(
            f"early_stopping=True is not supported with dask input for solver={model.solver!r} (its split is drawn "
            "from all rows in memory): fit in memory, or train backprop.NeuralNetwork on the dask input"
        )
    if y is None:
        raise ValueError(f"{type(model).__name__} requires y to be passed, but the target y is None")
    like = X
    X = _known_rows(_as_dask_array(X, "X", True)) if is_dask_collection(X) else X
    y = _known_rows(_as_dask_array(y, "y", True)) if is_dask_collection(y) else y
    if not is_dask_collection(X):
        X = np.asarray(X)
        X = da.from_array(X, chunks=(y.chunks[0],) + X.shape[1:]) if X.ndim == 2 and len(X) == len(y) else X
    if not is_dask_collection(y):
        y = np.asarray(y)
        y = da.from_array(y, chunks=(X.chunks[0],) + y.shape[1:]) if y.ndim in (1, 2) and len(y) == len(X) else y
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got an array of shape {X.shape}")
    if not is_dask_collection(X) or not is_dask_collection(y):
        raise ValueError(f"X and y have different numbers of samples: {len(X)} and {len(y)}")
    check_row_blocks(X)
    dtype = _model_dtype(X)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D, got an array of shape {y.shape}")
    check_rows_aligned(X, y)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X has shape {X.shape}: a minimum of 1 sample and 1 feature is required")
    y = y.rechunk({1: -1}) if y.ndim == 2 else y
    if not classifier:
        model._refuse_non_numeric_targets(y.dtype)
    parts, *bounds = _summaries(_row_chunks(X), _row_chunks(y), labels=classifier)
    if not classifier:
        bounds += _range([(p[0], p[1]) for p in parts])
    if not np.isfinite(bounds).all():
        raise ValueError("X contains NaN or infinity" if not np.isfinite(bounds[:2]).all() else
                         "y contains NaN or infinity")
    if not classifier:
        model._refuse_negative_poisson_targets(bounds[2])
    if classifier:  # a row per label: the labels' type (binary, multiclass, multilabel) is the data's
        labels = np.unique(np.concatenate([p[0] for p in parts]))
        y_summary = labels if y.ndim == 1 else np.repeat(labels[:, None], y.shape[1], axis=1)
    else:
        y_summary = np.zeros((1,) + y.shape[1:], dtype=y.dtype)
    validate(_summary(like, len(y_summary), dtype), y_summary, incremental, reset)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y  # scikit-learn's column_or_1d (it warned)
    if classifier:
        binarizer = model._label_binarizer
        width = _label_indicators(y_summary[:1] if y.ndim == 1 else y_summary[:1, :], binarizer).shape[1]
        T = y.map_blocks(_label_indicators, binarizer, dtype=bool, chunks=(y.chunks[0], (width,)),
                         **({"new_axis": 1} if y.ndim == 1 else {}))
    else:
        T = y[:, None] if y.ndim == 1 else y
    return X.astype(dtype), T


def _sklearn_block(X_chunk: np.ndarray, T_chunk: np.ndarray, targets: Any, dtype: np.dtype) -> tuple:
    return _aligned(np.asarray(X_chunk, dtype=dtype)), _aligned(targets(T_chunk, dtype))


def sklearn_blocks(X: Any, T: Any, targets: Any) -> Blocks:
    """The blocks of :func:`sklearn_input`'s arrays, targets as ``targets(T_chunk, dtype)`` gives
    them (the drop-ins' kernel targets), on the current client's workers or the local scheduler."""
    dask, _ = _dask_array()
    block = dask.delayed(_sklearn_block, pure=True)
    pairs = zip(_row_chunks(X), _row_chunks(T))
    blocks = [block(x, t, targets, X.dtype) for x, t in pairs]
    return Blocks(blocks, X.chunks[0], X.shape[1], X.dtype, None, None, _current_client())


def sklearn_plan(random_state: np.random.RandomState, n_blocks: int, shuffle: bool) -> np.ndarray:
    """An epoch's [block, seed] rows for :func:`chained_epoch`: the blocks in an order drawn from
    the drop-in's ``random_state`` and a seed per block for its rows' shuffle; without ``shuffle``
    the blocks and their rows in order (seed -1)."""
    if not shuffle:
        return np.stack([np.arange(n_blocks), np.full(n_blocks, -1)], axis=1)
    return np.stack([random_state.permutation(n_blocks),
                     random_state.randint(0, 2**63 - 1, size=n_blocks, dtype=np.int64)], axis=1)


def sklearn_loss_and_gradient(data: Blocks, weights: list, activation: str, alpha: float, **output: Any) -> tuple:
    """The drop-ins' ``_backprop`` on :func:`sklearn_blocks`: the full batch's loss and gradient."""
    return DaskBackend("cpp").loss_and_gradient(data, None, weights, 1, activation, alpha, **output)


def _sklearn_block_method(X: np.ndarray, model: Any, method: str) -> np.ndarray:
    # the feature names were checked on the whole input (sklearn_predict); a block is an array
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return getattr(model, method)(X)


def sklearn_predict(model: Any, X: Any, method: str) -> Any:
    """``model.<method>(X)`` (predict, predict_proba, predict_log_proba) of a dask array or
    DataFrame: a dask array, each block the in-memory method's answer on the block's rows."""
    from sklearn.utils.validation import _check_feature_names, _check_n_features, check_is_fitted

    check_is_fitted(model)
    A = _as_dask_array(X, "X", False)
    check_row_blocks(A)
    _check_feature_names(model, _summary(X, 0, np.float64), reset=False)
    _check_n_features(model, A, reset=False)
    probe = _sklearn_block_method(np.zeros((1, A.shape[1]), dtype=A.dtype), model, method)  # dtype and width
    return A.map_blocks(_sklearn_block_method, model, method, dtype=probe.dtype,
                        chunks=(A.chunks[0],) + tuple((k,) for k in probe.shape[1:]),
                        **({"drop_axis": 1} if probe.ndim == 1 else {}))
