"""fit and partial_fit are atomic: interrupted or failed anywhere (the stability guard included),
the estimator is exactly as it was.  And their memory follows the epochs run, not max_iter."""

import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import make_data

import backprop
from backprop import NeuralNetwork, StabilityWarning, _stability, _training

# Most fits here are tiny (a few iterations on a few rows): they test plumbing, not learning,
# and many end predicting one class, which ConvergenceWarning rightly reports.
pytestmark = pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")

BACKENDS = ["cpp", "numpy"]


def _data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] - X[:, 1] > 0).astype(int)


def _state(model):
    """Every attribute, by identity and by value (arrays by their bytes)."""
    def value(v):
        if isinstance(v, np.ndarray):
            return ("array", v.dtype.str, v.shape, v.tobytes())
        if isinstance(v, list):
            return [value(w) for w in v]
        if isinstance(v, np.random.Generator):
            return ("rng", repr(v.bit_generator.state))
        if hasattr(v, "arrays") and hasattr(v, "counters"):  # the solver's state
            return ("solver", value(list(v.arrays)), value(v.counters))
        return v

    return {k: (id(v), value(v)) for k, v in model.__dict__.items()}


def _fitted(backend, **params):
    X, y = _data()
    model = NeuralNetwork(**{**dict(n_hidden=(3,), max_iter=30, learning_rate=0.5, random_state=0, backend=backend), **params})
    return model.fit(X, y), X, y


class Boom(Exception):
    pass


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("exc", [KeyboardInterrupt, Boom])
def test_an_interrupted_stability_guard_leaves_the_model_as_it_was(monkeypatch, backend, exc):
    model, X, y = _fitted(backend, warm_start=True)
    before = _state(model)

    def guard(*args):
        raise exc()

    monkeypatch.setattr(_stability, "unstable_warnings", guard)
    with pytest.raises(exc):
        model.fit(X, y)
    assert _state(model) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_warning_turned_into_an_error_leaves_the_model_as_it_was(backend):
    X, y = make_data(200, 3, seed=11)  # an oscillating logistic regression (as in test_features)
    X = X * 3
    X1 = np.hstack([np.ones((200, 1)), X])
    limit = 2 / (np.linalg.eigvalsh(X1.T @ X1)[-1] / (4 * 200))
    model = NeuralNetwork(n_hidden=(), learning_rate=3 * limit, max_iter=200, random_state=0, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    model.set_params(max_iter=150)
    before = _state(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StabilityWarning)
        with pytest.raises(StabilityWarning):
            model.fit(X, y)
    assert _state(model) == before


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["callback", "publish", "solver state", "partial_fit"])
def test_a_failure_anywhere_leaves_the_model_as_it_was(monkeypatch, backend, where):
    model, X, y = _fitted(backend, solver="adam", learning_rate=0.01, batch_size=16, warm_start=True)
    model.partial_fit(X, y)  # the stream's generator is part of the state too
    before = _state(model)
    if where == "callback":
        start = model.n_iter_  # interrupted after three epochs, which the callback saw published
        model.callback = lambda m, i, loss: (_ for _ in ()).throw(KeyboardInterrupt()) if i > start + 2 else None
        before = _state(model)
    elif where == "publish":
        monkeypatch.setattr(_training, "fitted_attributes", lambda *a: (_ for _ in ()).throw(Boom()))
    elif where == "solver state":
        monkeypatch.setattr(backprop._backends.SolverState, "copy", lambda self: (_ for _ in ()).throw(Boom()))
    else:
        monkeypatch.setattr(_training._Run, "run_epochs", lambda self, hook: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises((KeyboardInterrupt, Boom)):
        if where == "partial_fit":
            model.partial_fit(X, y)
        else:
            model.fit(X, y)
    assert _state(model) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_first_fit_leaves_an_unfitted_model(monkeypatch, backend):
    X, y = _data()
    model = NeuralNetwork(n_hidden=(2,), max_iter=25, random_state=0, backend=backend)
    before = _state(model)
    monkeypatch.setattr(_stability, "unstable_warnings", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    assert _state(model) == before and not hasattr(model, "weights_")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "params",
    [
        dict(tol=1e-3),
        dict(tol=1e-3, callback=lambda m, i, loss: None),
        dict(early_stopping=True, tol=1e-3, callback=lambda m, i, loss: None),
        dict(tol=1e-3, solver="adam", learning_rate=0.05, batch_size=20),
    ],
    ids=["tol", "tol+callback", "early_stopping+callback", "adam minibatch"],
)
def test_memory_follows_the_epochs_run_not_max_iter(backend, params):
    """max_iter=10**10 used to allocate max_iter-long buffers (a MemoryError before the first
    epoch); it now stops early with memory of the epochs run, and the fit of a smaller max_iter
    that stops at the same epoch is bitwise the same."""
    X, y = _data()
    common = dict(n_hidden=(3,), random_state=0, backend=backend, learning_rate=0.5, n_iter_no_change=5)
    tracemalloc.start()
    try:
        big = NeuralNetwork(max_iter=10**10, **{**common, **params}).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert big.n_iter_ < 5000
    assert peak < 20 * 2**20  # bounded by the work: a few MB, not 80 GB
    small = NeuralNetwork(max_iter=5000, **{**common, **params}).fit(X, y)
    assert small.n_iter_ == big.n_iter_
    for a, b in zip(big.weights_, small.weights_):
        assert a.tobytes() == b.tobytes()
    assert big.loss_curve_.tobytes() == small.loss_curve_.tobytes()


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_fits_split_into_backend_calls_are_unchanged(backend):
    """More epochs than one backend call runs (FIRST_CHUNK): the same result as the epochs run one
    call at a time through the callback's view (the loss curve is continuous, n_iter_ exact)."""
    X, y = _data(30)
    n = _training.FIRST_CHUNK + 5
    seen = []
    model = NeuralNetwork(n_hidden=(2,), max_iter=n, random_state=0, backend=backend,
                          callback=lambda m, i, loss: seen.append((i, loss, m.loss_curve_[-1]))).fit(X, y)
    assert model.n_iter_ == n == len(model.loss_curve_) == len(seen)
    assert [i for i, _, _ in seen] == list(range(1, n + 1))
    assert np.array_equal([c for _, _, c in seen], model.loss_curve_)
