"""Shared helpers for the tests: data makers and a comparison that explains its failures."""

import numpy as np
import pytest

try:  # numpy's BLAS on one thread: its threads spin-wait and fight the C++ threads on small
    # machines, which made the numpy-backend tests several times slower (timing is not tested)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
    pass

from backprop import _core, reference
from backprop._params import DEFAULTS, kernel_defaults

# Tolerances of the C++ path against the numpy reference (the project's contract).
TOL = {
    np.float64: dict(rtol=1e-10, atol=1e-12),
    np.float32: dict(rtol=2e-4, atol=2e-5),
}


def tol(dtype):
    return TOL[np.dtype(dtype).type]


def assert_close(actual, desired, dtype, what=""):
    """assert_allclose with the dtype's tolerance, reporting max abs / rel differences (llm.c habit)."""
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != {desired.shape}"
    diff = np.abs(actual.astype(np.float64) - desired.astype(np.float64))
    rel = diff / np.maximum(np.abs(desired.astype(np.float64)), np.finfo(np.float64).tiny)
    np.testing.assert_allclose(
        actual,
        desired,
        **tol(dtype),
        err_msg=f"{what}: max abs diff {diff.max(initial=0):.3e}, max rel diff {rel.max(initial=0):.3e}",
    )


def make_data(n, d, dtype=np.float64, seed=0):
    """Gaussian X and labels from a noisy nonlinear rule, so that training has something to learn."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    score = X[:, 0] - 0.5 * X[:, -1] ** 2 + 0.3 * rng.normal(size=n)
    y = (score > np.median(score)).astype(dtype) if n > 1 else np.array([1.0], dtype=dtype)
    return X.astype(dtype), y


def dask_data(n, d=5, k=2, seed=0, dtype=np.float64):
    """Gaussian X and ``k`` classes of about equal size from a noisy nonlinear rule (the dask tests' data)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    s = X[:, 0] - 0.5 * X[:, -1] ** 2 + 0.3 * rng.normal(size=n)
    y = np.digitize(s, np.quantile(s, np.linspace(0, 1, k + 1)[1:-1]))
    return X.astype(dtype), y


def dask_blocks(X, y, chunks):
    """X and y as dask arrays of the same row chunks (``chunks``: dask's row chunks), X's columns whole."""
    import dask.array as da

    return da.from_array(X, chunks=(chunks, X.shape[1])), da.from_array(y, chunks=(chunks,) + y.shape[1:])


def initial_weights(d, n_hidden, dtype, seed=0):
    return reference.init_weights(d, n_hidden, np.random.default_rng(seed), dtype)


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture(scope="session")
def client():
    """A dask.distributed client of a LocalCluster of 2 worker processes x 1 thread (the dask tests'
    cluster, started once), not the default client: a test computes on it inside ``client.as_current()``."""
    import warnings

    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cluster's start-up notices (ports, deprecations) are not ours
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = distributed.Client(cluster, set_as_default=False)
    yield client
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.close()
        cluster.close()


# The C++ entry points take every argument explicitly (their defaults live in the estimator's
# parameter table); the tests call them through these, with the table's defaults filled in.
TRAIN_DEFAULTS = {**kernel_defaults(), "solver_state": [], "counters": None, "order": None, "epoch_hook": None}


def core_train(X, y, weights, learning_rate, max_iter, n_threads, **options):
    return _core.train(X, y, weights, learning_rate, max_iter, n_threads, **{**TRAIN_DEFAULTS, **options})


def core_loss_and_gradient(X, y, weights, n_threads, activation=DEFAULTS.activation, alpha=DEFAULTS.alpha):
    return _core.loss_and_gradient(X, y, weights, n_threads, activation=activation, alpha=alpha)


def core_predict_proba(X, weights, n_threads, two_columns=False, check_finite=False, activation=DEFAULTS.activation):
    return _core.predict_proba(X, weights, n_threads, two_columns, check_finite, activation)


def core_dense_forward(a_prev, W, activation=DEFAULTS.activation):
    return _core.dense_forward(a_prev, W, activation=activation)


def core_dense_backward(a_prev, W, delta, need_delta_prev=True, activation=DEFAULTS.activation):
    return _core.dense_backward(a_prev, W, delta, need_delta_prev, activation=activation)
