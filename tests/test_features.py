"""NeuralNetwork's options, on both backends: multi-class, activations, solvers, mini-batches,
stopping rules, partial_fit, warm_start, verbose, callback and the stability guard."""

import re
import warnings

import numpy as np
import pytest
from conftest import make_data

from backprop import NeuralNetwork, StabilityWarning, reference

# Most fits here are tiny (a few iterations on a few rows): they test plumbing, not learning,
# and many end predicting one class, which ConvergenceWarning rightly reports.
pytestmark = pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")

BACKENDS = ["cpp", "numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def _blobs(n=150, k=3, d=2, seed=0, spread=0.5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(k, d))
    y = np.arange(n) % k
    return centers[y] + spread * rng.normal(size=(n, d)), y


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([0, 1, 1, 0])


# ---------------------------------------------------------------------- defaults: the article, unchanged
@pytest.mark.parametrize("n_hidden", [(), (4,), (5, 3)])
def test_default_model_trains_bit_for_bit_as_reference_train(backend, n_hidden):
    """A default NeuralNetwork makes exactly the article's computation (reference.train's original loop)."""
    X, y = make_data(60, 4, seed=3)
    nn = NeuralNetwork(n_hidden=n_hidden, max_iter=25, random_state=1, backend=backend).fit(X, y)
    w = reference.init_weights(4, n_hidden, np.random.default_rng(1))
    curve = np.empty(25)
    for i in range(25):  # the article's loop, written out
        acts = reference.network_forward(X, w)
        curve[i] = reference.binary_log_loss(acts[-1][:, 0], y)
        reference.gradient_descent_step(w, reference.network_backward(acts, w, y), 1.0)
    if backend == "numpy":
        np.testing.assert_array_equal(nn.loss_curve_, curve)
        for a, b in zip(nn.weights_, w):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(nn.loss_curve_, curve, rtol=1e-10)
        for a, b in zip(nn.weights_, w):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- multi-class
def test_multi_class_softmax(backend):
    X, y = _blobs()
    labels = np.array(["cat", "dog", "eel"])[y]
    nn = NeuralNetwork(n_hidden=(6,), solver="adam", learning_rate=0.05, max_iter=300, random_state=0, backend=backend)
    nn.fit(X, labels)
    np.testing.assert_array_equal(nn.classes_, ["cat", "dog", "eel"])
    assert nn.weights_[-1].shape == (3, 7)
    P = nn.predict_proba(X)
    assert P.shape == (150, 3) and P.dtype == np.float64
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(nn.predict(X), nn.classes_[P.argmax(axis=1)])
    assert nn.score(X, labels) > 0.95
    # the recorded loss is the softmax cross-entropy
    assert nn.loss_curve_[-1] < 0.3 < nn.loss_curve_[0]


def test_multi_class_float32_and_no_hidden_layer(backend):
    X, y = _blobs(k=4, seed=1)
    nn = NeuralNetwork(n_hidden=(), learning_rate=0.1, max_iter=200, random_state=0, backend=backend)
    nn.fit(X.astype(np.float32), y)
    assert nn.weights_[0].shape == (4, 3) and nn.weights_[0].dtype == np.float32
    assert nn.predict_proba(X).dtype == np.float32 and nn.predict_proba(X).shape == (150, 4)
    assert nn.score(X, y) > 0.9


def test_multi_class_huge_rows_take_the_exact_path():
    X, y = _blobs(seed=2)
    nn = NeuralNetwork(n_hidden=(), learning_rate=0.1, max_iter=50, random_state=0, backend="numpy").fit(X, y)
    big = np.array([[1e300, -1e300], [-1e300, 1e300]])
    P = nn.predict_proba(big)
    assert np.isfinite(P).all() and P.shape == (2, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    z = np.sign(big) @ nn.weights_[0][:, 1:].T  # the direction decides: the largest logit wins
    np.testing.assert_array_equal(P.argmax(axis=1), z.argmax(axis=1))


# ---------------------------------------------------------------------- activations, init, convergence
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_xor_needs_a_hidden_layer(backend, activation):
    # 16 units: with 8, some seeds leave too few live ReLUs to carve XOR (dead units)
    nn = NeuralNetwork(n_hidden=(16,), activation=activation, init="glorot", solver="adam", learning_rate=0.05,
                       max_iter=500, random_state=0, backend=backend)
    nn.fit(XOR_X, XOR_Y)
    np.testing.assert_array_equal(nn.predict(XOR_X), XOR_Y)
    assert nn.loss_curve_[-1] < 0.1


def test_logistic_regression_cannot_learn_xor(backend):
    nn = NeuralNetwork(n_hidden=(), solver="adam", learning_rate=0.05, max_iter=500, random_state=0, backend=backend)
    nn.fit(XOR_X, XOR_Y)
    assert nn.score(XOR_X, XOR_Y) <= 0.75  # no line separates XOR
    assert nn.loss_curve_[-1] > 0.69  # stuck at log 2: p = 1/2 everywhere is the best a line can do


def test_separable_data_with_a_small_stable_step_converges_to_zero_loss(backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    X += np.where(y == 1, 0.5, -0.5)[:, None] * np.array([1.0, 0.5])  # a margin
    X1 = np.hstack([np.ones((100, 1)), X])
    lr = 0.9 * 2 / (np.linalg.eigvalsh(X1.T @ X1)[-1] / (4 * 100))  # below 2/L: monotone descent
    with warnings.catch_warnings():
        warnings.simplefilter("error", StabilityWarning)
        nn = NeuralNetwork(n_hidden=(), learning_rate=lr, max_iter=3000, random_state=0, backend=backend).fit(X, y)
    assert nn.score(X, y) == 1.0
    assert nn.loss_curve_[-1] < 0.02
    assert (np.diff(nn.loss_curve_) <= 1e-15).all()  # a stable step never increases the loss


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
def test_activation_changes_the_model(backend, activation):
    X, y = make_data(40, 3, seed=1)
    nn = NeuralNetwork(n_hidden=(4,), activation=activation, init="he", max_iter=5, learning_rate=0.1, random_state=0,
                       backend=backend).fit(X, y)
    w = reference.init_weights(3, (4,), np.random.default_rng(0), init="he")
    expected = reference.train(X, y.astype(float), w, 0.1, 5, activation=activation)
    np.testing.assert_allclose(nn.loss_curve_, expected, rtol=1e-10)
    np.testing.assert_allclose(nn.predict_proba(X)[:, 1], reference.predict_proba(X, w, activation), rtol=1e-10)


# ---------------------------------------------------------------------- solvers and mini-batches
@pytest.mark.parametrize("solver", reference.SOLVERS)
def test_solver_matches_the_reference_with_the_generator_order(backend, solver):
    """Weights first, then one permutation per epoch, all from default_rng(random_state)."""
    X, y = make_data(50, 3, seed=2)
    kw = dict(solver=solver, batch_size=16, alpha=0.01, learning_rate=0.05)
    nn = NeuralNetwork(n_hidden=(5,), max_iter=4, random_state=7, backend=backend, **kw).fit(X, y)
    rng = np.random.default_rng(7)
    w = reference.init_weights(3, (5,), rng)
    state = [np.zeros_like(W) for _ in range({"gd": 0, "momentum": 1, "adam": 2}[solver]) for W in w]
    counters = np.array([0.0, np.inf, 0.0])
    curve = np.concatenate([
        reference.train(X, y.astype(float), w, 0.05, 1, order=rng.permutation(50).astype(np.int64), solver=solver,
                        batch_size=16, alpha=0.01, solver_state=state, counters=counters)
        for _ in range(4)
    ])
    np.testing.assert_allclose(nn.loss_curve_, curve, rtol=1e-10)
    for a, b in zip(nn.weights_, w):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert nn.n_iter_ == 4


@pytest.mark.parametrize("solver", ["momentum", "adam"])
def test_solvers_beat_plain_gd_at_a_small_step(backend, solver):
    X, y = _blobs(k=2, seed=3, spread=2.0)
    kw = dict(n_hidden=(4,), learning_rate=0.01, max_iter=200, random_state=0, backend=backend)
    gd = NeuralNetwork(**kw).fit(X, y)
    fast = NeuralNetwork(solver=solver, **kw).fit(X, y)
    assert fast.loss_curve_[-1] < 0.8 * gd.loss_curve_[-1]


def test_batch_size_at_least_n_is_full_batch(backend):
    X, y = make_data(30, 2, seed=4)
    a = NeuralNetwork(n_hidden=(3,), max_iter=10, random_state=0, backend=backend).fit(X, y)
    b = NeuralNetwork(n_hidden=(3,), max_iter=10, random_state=0, backend=backend, batch_size=30).fit(X, y)
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)


# ---------------------------------------------------------------------- stopping
def test_tol_stops_on_the_training_loss(backend):
    X, y = make_data(60, 3, seed=5)
    kw = dict(n_hidden=(3,), learning_rate=0.5, random_state=0, backend=backend)
    full = NeuralNetwork(max_iter=500, **kw).fit(X, y)
    nn = NeuralNetwork(max_iter=500, tol=1e-3, n_iter_no_change=5, **kw).fit(X, y)
    assert 6 < nn.n_iter_ < 500 and len(nn.loss_curve_) == nn.n_iter_
    np.testing.assert_allclose(nn.loss_curve_, full.loss_curve_[: nn.n_iter_], rtol=1e-12)
    best, count = np.inf, 0
    for i, loss in enumerate(full.loss_curve_):  # scikit-learn's rule, replayed
        count = count + 1 if loss > best - 1e-3 else 0
        best = min(best, loss)
        if count > 5:
            break
    assert nn.n_iter_ == i + 1


def test_early_stopping_restores_the_best_weights(backend):
    X, y = _blobs(n=200, k=3, seed=6, spread=3.0)  # overlapping: validation accuracy saturates early
    nn = NeuralNetwork(n_hidden=(16,), solver="adam", learning_rate=0.05, max_iter=400, early_stopping=True,
                       validation_fraction=0.2, n_iter_no_change=5, random_state=0, backend=backend).fit(X, y)
    scores = nn.validation_scores_
    assert scores.shape == (nn.n_iter_,) and nn.n_iter_ < 400
    assert len(nn.loss_curve_) == nn.n_iter_
    best = int(np.argmax(scores))  # the first best epoch
    assert nn.n_iter_ == best + 5 + 2  # then n_iter_no_change + 1 epochs without improvement (tol None -> 0.0)
    # the validation part: 20% of each class, from the generator after the weights
    rng = np.random.default_rng(0)
    reference.init_weights(2, (16,), rng, n_outputs=3)
    val = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[: round(0.2 * np.sum(y == c))] for c in range(3)]))
    assert scores[best] == pytest.approx(np.mean(nn.predict(X[val]) == y[val]))  # best weights restored


def test_early_stopping_off_means_no_validation_scores():
    X, y = make_data(30, 2)
    assert NeuralNetwork(n_hidden=(2,), max_iter=3, backend="numpy").fit(X, y).validation_scores_ is None


# ---------------------------------------------------------------------- partial_fit and warm_start
def test_partial_fit_streams_epochs(backend):
    X, y = _blobs(n=90, k=3, seed=7)
    kw = dict(n_hidden=(5,), solver="adam", learning_rate=0.05, random_state=0, backend=backend)
    nn = NeuralNetwork(**kw)
    with pytest.raises(ValueError, match="classes must be passed"):
        nn.partial_fit(X, y)
    for _ in range(3):
        nn.partial_fit(X, y, classes=[0, 1, 2])
    assert nn.n_iter_ == 3 and len(nn.loss_curve_) == 3
    # three partial_fits of the whole set = fit with max_iter=3 (state carried: Adam's t and moments)
    ref = NeuralNetwork(max_iter=3, **kw).fit(X, y)
    np.testing.assert_allclose(nn.loss_curve_, ref.loss_curve_, rtol=1e-12)
    for a, b in zip(nn.weights_, ref.weights_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    # a chunk with only some classes is fine once classes_ is known; unknown labels are not
    nn.partial_fit(X[y == 0], y[y == 0])
    with pytest.raises(ValueError, match="not in classes"):
        nn.partial_fit(X[:3], [0, 1, 5])
    with pytest.raises(ValueError, match="classes_"):
        nn.partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize("solver", reference.SOLVERS)
def test_warm_start_continues_every_solver(backend, solver):
    X, y = make_data(40, 3, seed=8)
    kw = dict(n_hidden=(4,), solver=solver, learning_rate=0.05, random_state=0, backend=backend)
    once = NeuralNetwork(max_iter=6, **kw).fit(X, y)
    twice = NeuralNetwork(max_iter=3, warm_start=True, **kw).fit(X, y).fit(X, y)
    assert twice.n_iter_ == 6
    np.testing.assert_allclose(twice.loss_curve_, once.loss_curve_, rtol=1e-12)
    for a, b in zip(twice.weights_, once.weights_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------- verbose and callback
def test_verbose_prints_progress_and_changes_nothing(backend, capsys):
    X, y = make_data(50, 3, seed=9)
    kw = dict(n_hidden=(4,), max_iter=30, random_state=0, learning_rate=0.5, backend=backend)
    quiet = NeuralNetwork(**kw).fit(X, y)
    assert capsys.readouterr().out == ""
    loud = NeuralNetwork(verbose=True, **kw).fit(X, y)
    out = capsys.readouterr().out.strip().splitlines()
    assert out and re.match(r"Iteration 1 \(1/30\): loss [0-9.e+-]+, elapsed [0-9.]+ s, ETA [0-9.]+ s", out[0])
    assert out[-1].startswith("Iteration 30 (30/30): loss ") and out[-1].endswith("ETA 0.0 s")
    np.testing.assert_array_equal(quiet.loss_curve_, loud.loss_curve_)
    for a, b in zip(quiet.weights_, loud.weights_):
        np.testing.assert_array_equal(a, b)
    NeuralNetwork(verbose=True, early_stopping=True, **kw).fit(X, y)
    assert "validation score" in capsys.readouterr().out


def test_callback_sees_every_epoch_and_can_stop(backend):
    X, y = make_data(50, 3, seed=10)
    seen = []

    def callback(model, iteration, loss):
        seen.append((iteration, loss, model.loss_curve_[-1], model.n_iter_))
        return iteration < 4

    nn = NeuralNetwork(n_hidden=(3,), max_iter=20, random_state=0, learning_rate=0.5, backend=backend, callback=callback)
    nn.fit(X, y)
    assert [s[0] for s in seen] == [1, 2, 3, 4] and nn.n_iter_ == 4 and len(nn.loss_curve_) == 4
    assert all(loss == last and it == n for it, loss, last, n in seen)
    full = NeuralNetwork(n_hidden=(3,), max_iter=4, random_state=0, learning_rate=0.5, backend=backend).fit(X, y)
    np.testing.assert_array_equal(nn.loss_curve_, full.loss_curve_)
    np.testing.assert_array_equal(nn.predict_proba(X), full.predict_proba(X))


def test_callback_error_leaves_the_model_unchanged():
    X, y = make_data(30, 2)
    nn = NeuralNetwork(n_hidden=(2,), max_iter=5, backend="numpy", random_state=0).fit(X, y)
    before = [W.copy() for W in nn.weights_]

    def boom(model, iteration, loss):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        nn.set_params(callback=boom, max_iter=3).fit(X, y)
    for a, b in zip(nn.weights_, before):
        np.testing.assert_array_equal(a, b)
    assert nn.n_iter_ == 5


# ---------------------------------------------------------------------- parameters are checked at fit
BAD_PARAMS = {
    "activation": "softplus",
    "init": "xavier",
    "solver": "lbfgs",
    "batch_size": 0,
    "alpha": -1.0,
    "momentum": 1.5,
    "nesterov": "yes",
    "beta_1": 1.0,
    "beta_2": -0.1,
    "epsilon": 0.0,
    "tol": -1e-4,
    "n_iter_no_change": 0,
    "early_stopping": None,
    "validation_fraction": 1.0,
    "callback": 42,
}


@pytest.mark.parametrize("name, value", BAD_PARAMS.items(), ids=BAD_PARAMS.keys())
def test_bad_parameters_name_themselves(name, value):
    X, y = make_data(20, 2)
    nn = NeuralNetwork(backend="numpy", **{name: value})  # stored as given
    with pytest.raises(ValueError, match=name):
        nn.fit(X, y)


# ---------------------------------------------------------------------- stability guard
def test_stability_warning_on_an_oscillating_logistic_regression(backend):
    X, y = make_data(200, 3, seed=11)
    X = X * 3
    X1 = np.hstack([np.ones((200, 1)), X])
    limit = 2 / (np.linalg.eigvalsh(X1.T @ X1)[-1] / (4 * 200))
    with pytest.warns(StabilityWarning, match=f"about {limit:.3g} ") as record:
        NeuralNetwork(n_hidden=(), learning_rate=3 * limit, max_iter=200, random_state=0, backend=backend).fit(X, y)
    assert sum(w.category is StabilityWarning for w in record) == 1


@pytest.mark.parametrize("shape", [(200, 4), (1, 1), (40000, 30)], ids=["small", "one value", "past the einsum limit"])
def test_the_guards_gram_matrix_is_a_transpose_a(shape):
    # the guard's A^T A is computed without BLAS when small (see _gram): the same matrix either way
    from backprop._stability import gram as _gram

    A = np.random.default_rng(3).standard_normal(shape)
    np.testing.assert_allclose(_gram(A), A.T @ A, rtol=1e-12, atol=1e-12 * shape[0])


@pytest.mark.parametrize("kw", [
    dict(n_hidden=(), learning_rate=0.5),  # stable: converges
    dict(n_hidden=(8, 3), learning_rate=1.0),  # the article's network and step
    dict(n_hidden=(), learning_rate=5.0, solver="adam"),  # not plain gradient descent: not guarded
    dict(n_hidden=(), learning_rate=5.0, batch_size=10),  # mini-batches: noisy by nature, not guarded
], ids=["stable", "article-8-3", "adam", "mini-batch"])
def test_no_stability_warning_on_stable_or_unguarded_runs(backend, kw):
    X, y = make_data(200, 3, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StabilityWarning)
        NeuralNetwork(max_iter=300, random_state=0, backend=backend, **kw).fit(X, y)


def test_stability_warning_with_hidden_layers_estimates_the_hessian():
    """A cycling hidden-layer run: the estimate 2/lambda is below the learning rate that cycles."""
    X, y = make_data(200, 3, seed=11)
    X = X * 4
    with pytest.warns(StabilityWarning, match="top Hessian eigenvalue") as record:
        NeuralNetwork(n_hidden=(2,), learning_rate=20.0, max_iter=300, random_state=0, backend="numpy").fit(X, y)
    estimate = float(re.search(r"about ([0-9.e+-]+) ", str(record[0].message)).group(1))
    assert 0 < estimate < 20.0
