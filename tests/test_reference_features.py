"""backprop.reference beyond the article: activations, softmax, L2, batches, solvers, tol.

Everything here is checked against an independent computation: central finite differences of
the loss, or a step worked out by hand in the test.  The C++ side is held equal to the
reference by tests/test_equivalence.py.
"""

import numpy as np
import pytest

from backprop import reference

ACTIVATIONS = reference.ACTIVATIONS


def _problem(n_out, seed=0, n=13, d=3, n_hidden=(4, 2), init="glorot"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if n_out == 1:
        y = (rng.random(n) > 0.5).astype(np.float64)
    else:
        y = np.eye(n_out)[rng.integers(0, n_out, n)]
    weights = reference.init_weights(d, n_hidden, np.random.default_rng(seed + 1), init=init, n_outputs=n_out)
    for W in weights:  # non-zero biases, so that their gradients are tested too
        W[:, 0] = rng.normal(scale=0.3, size=W.shape[0])
    return X, y, weights


def _numerical_gradient(X, y, weights, activation, alpha, eps=1e-6):
    grads = []
    for W in weights:
        G = np.empty_like(W)
        for idx in np.ndindex(W.shape):
            w0 = W[idx]
            W[idx] = w0 + eps
            lp, _ = reference.loss_and_gradient(X, y, weights, activation, alpha)
            W[idx] = w0 - eps
            lm, _ = reference.loss_and_gradient(X, y, weights, activation, alpha)
            W[idx] = w0
            G[idx] = (lp - lm) / (2 * eps)
        grads.append(G)
    return grads


@pytest.mark.parametrize("alpha", [0.0, 0.7])
@pytest.mark.parametrize("n_out", [1, 3], ids=["sigmoid_out", "softmax_out"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_matches_finite_differences(activation, n_out, alpha):
    X, y, weights = _problem(n_out)
    loss, grads = reference.loss_and_gradient(X, y, weights, activation, alpha)
    assert isinstance(loss, float)
    numerical = _numerical_gradient(X, y, weights, activation, alpha)
    for g, num in zip(grads, numerical):
        assert g.shape == num.shape and g.dtype == np.float64
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_no_hidden_layer_softmax_gradient():
    X, y, weights = _problem(4, n_hidden=())
    _, grads = reference.loss_and_gradient(X, y, weights, "relu", 0.3)
    np.testing.assert_allclose(grads[0], _numerical_gradient(X, y, weights, "relu", 0.3)[0], rtol=1e-6, atol=1e-8)


def test_activations_and_their_derivatives():
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(reference.activation(z, "tanh"), np.tanh(z))
    np.testing.assert_array_equal(reference.activation(z, "relu"), [0, 0, 0, 0.5, 2])
    np.testing.assert_array_equal(reference.activation(z, "identity"), z)
    np.testing.assert_allclose(reference.activation(z, "sigmoid"), 1 / (1 + np.exp(-z)))
    h = 1e-6
    for name in ACTIVATIONS:
        a = reference.activation(z + 0.25, name)  # avoid relu's kink at 0
        numeric = (reference.activation(z + 0.25 + h, name) - reference.activation(z + 0.25 - h, name)) / (2 * h)
        np.testing.assert_allclose(reference.activation_derivative(a, name), numeric, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="activation"):
        reference.activation(z, "softplus")


def test_softmax_is_stable_and_normalised():
    z = np.array([[1000.0, 1000.0, -1000.0], [0.0, np.log(3.0), 0.0]])
    P = reference.softmax(z)
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P, [[0.5, 0.5, 0.0], [0.2, 0.6, 0.2]], atol=1e-15)
    Y = np.array([[0, 1, 0], [0, 1, 0.0]])
    np.testing.assert_allclose(reference.softmax_log_loss(P, Y), -(np.log(0.5) + np.log(0.6)) / 2)
    # a zero probability of the true class is clipped to eps: large, finite
    Y0 = np.array([[0, 0, 1], [1, 0, 0.0]])
    assert np.isfinite(reference.softmax_log_loss(P, Y0))


def test_predict_proba_shapes():
    X, _, w1 = _problem(1)
    X, _, w3 = _problem(3)
    assert reference.predict_proba(X, w1, "tanh").shape == (13,)
    P = reference.predict_proba(X, w3, "tanh")
    assert P.shape == (13, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


@pytest.mark.parametrize("init", ["glorot", "he"])
def test_init_schemes(init):
    weights = reference.init_weights(400, (300, 5), np.random.default_rng(0), init=init, n_outputs=3)
    assert [W.shape for W in weights] == [(300, 401), (5, 301), (3, 6)]
    W = weights[0]
    assert (W[:, 0] == 0).all()
    if init == "glorot":
        b = np.sqrt(6 / 700)
        assert np.abs(W[:, 1:]).max() <= b and np.abs(W[:, 1:]).max() > 0.99 * b
        assert abs(W[:, 1:].std() - b / np.sqrt(3)) < 0.01 * b
    else:
        assert abs(W[:, 1:].std() - np.sqrt(2 / 400)) < 0.01 * np.sqrt(2 / 400)


def test_init_normal_unchanged_by_n_outputs_one():
    a = reference.init_weights(3, (4,), np.random.default_rng(7))
    b = reference.init_weights(3, (4,), np.random.default_rng(7), init="normal", n_outputs=1)
    rng = np.random.default_rng(7)
    expected = [rng.normal(0, 0.1, size=(4, 4)), rng.normal(0, 0.1, size=(1, 5))]
    for x, y, e in zip(a, b, expected):
        np.testing.assert_array_equal(x, e)
        np.testing.assert_array_equal(y, e)


def test_penalty_in_loss_and_gradient():
    X, y, weights = _problem(1)
    l0, g0 = reference.loss_and_gradient(X, y, weights, "tanh", 0.0)
    l1, g1 = reference.loss_and_gradient(X, y, weights, "tanh", 2.0)
    n = X.shape[0]
    sq = sum((W[:, 1:] ** 2).sum() for W in weights)
    assert l1 == pytest.approx(l0 + 0.5 * 2.0 * sq / n, rel=1e-14)
    for W, a, b in zip(weights, g0, g1):
        np.testing.assert_array_equal(a[:, 0], b[:, 0])  # the bias is not penalised
        np.testing.assert_allclose(b[:, 1:] - a[:, 1:], 2.0 * W[:, 1:] / n, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------- solvers, by hand
def _one_step(solver, steps=1, **kw):
    X, y, weights = _problem(1, seed=3)
    w = [W.copy() for W in weights]
    curve = reference.train(X, y, w, 0.1, steps, solver=solver, **kw)
    return X, y, weights, w, curve


def test_gd_step_by_hand():
    X, y, w0, w1, curve = _one_step("gd", alpha=0.5, activation="relu")
    loss, g = reference.loss_and_gradient(X, y, w0, "relu", 0.5)
    assert curve[0] == pytest.approx(loss, rel=1e-14)
    for a, b, gl in zip(w0, w1, g):
        np.testing.assert_allclose(b, a - 0.1 * gl, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("nesterov", [True, False])
def test_momentum_two_steps_by_hand(nesterov):
    X, y, w0, w2, _ = _one_step("momentum", steps=2, momentum=0.8, nesterov=nesterov)
    w = [W.copy() for W in w0]
    V = [np.zeros_like(W) for W in w]
    for _ in range(2):
        _, g = reference.loss_and_gradient(X, y, w)
        for W, Vl, gl in zip(w, V, g):
            Vl[:] = 0.8 * Vl - 0.1 * gl
            W += (0.8 * Vl - 0.1 * gl) if nesterov else Vl
    for a, b in zip(w, w2):
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-16)


def test_adam_two_steps_by_hand():
    X, y, w0, w2, _ = _one_step("adam", steps=2, beta_1=0.8, beta_2=0.9, epsilon=1e-7)
    w = [W.copy() for W in w0]
    M = [np.zeros_like(W) for W in w]
    S = [np.zeros_like(W) for W in w]
    for t in (1, 2):
        _, g = reference.loss_and_gradient(X, y, w)
        for W, Ml, Sl, gl in zip(w, M, S, g):
            Ml[:] = 0.8 * Ml + 0.2 * gl
            Sl[:] = 0.9 * Sl + 0.1 * gl**2
            W -= 0.1 * np.sqrt(1 - 0.9**t) / (1 - 0.8**t) * Ml / (np.sqrt(Sl) + 1e-7)
    for a, b in zip(w, w2):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-16)
    # the first Adam step moves every weight with a non-zero gradient by about learning_rate
    _, _, w0, w1, _ = _one_step("adam")
    assert np.allclose(np.abs(w1[0] - w0[0]), 0.1, rtol=5e-3)


@pytest.mark.parametrize("solver", reference.SOLVERS)
def test_solver_state_resumes_across_calls(solver):
    """Two calls of one epoch each, passing the state along, equal one call of two epochs."""
    X, y, weights = _problem(3, seed=4)
    Y = y
    a = [W.copy() for W in weights]
    curve_a = reference.train(X, Y, a, 0.05, 2, solver=solver, batch_size=5)
    b = [W.copy() for W in weights]
    state = [np.zeros_like(W) for _ in range({"gd": 0, "momentum": 1, "adam": 2}[solver]) for W in b]
    counters = np.array([0.0, np.inf, 0.0])
    curve_b = np.concatenate(
        [reference.train(X, Y, b, 0.05, 1, solver=solver, batch_size=5, solver_state=state, counters=counters) for _ in range(2)]
    )
    np.testing.assert_array_equal(curve_a, curve_b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert counters[0] == (6 if solver == "adam" else 0)  # 3 batches per epoch, 2 epochs


# ---------------------------------------------------------------------- batches and stopping
def test_mini_batch_epoch_by_hand():
    """Batches are consecutive slices of ``order``; the epoch's loss is sum_b J_b n_b / n."""
    X, y, weights = _problem(1, seed=5, n=11)
    order = np.random.default_rng(0).permutation(11).astype(np.int64)
    w = [W.copy() for W in weights]
    curve = reference.train(X, y, w, 0.3, 1, batch_size=4, order=order, alpha=0.1, activation="tanh")
    expect = [W.copy() for W in weights]
    acc = 0.0
    for s in (0, 4, 8):
        idx = order[s : s + 4]
        J_b, g = reference.loss_and_gradient(X[idx], y[idx], expect, "tanh", 0.1)
        acc += J_b * len(idx)
        for W, gl in zip(expect, g):
            W -= 0.3 * gl
    assert curve.shape == (1,) and curve[0] == pytest.approx(acc / 11, rel=1e-14)
    for a, b in zip(w, expect):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("batch_size", [None, 0, 11, 50])
def test_full_batch_spellings_agree(batch_size):
    X, y, weights = _problem(1, seed=6, n=11)
    a, b = [W.copy() for W in weights], [W.copy() for W in weights]
    np.testing.assert_array_equal(reference.train(X, y, a, 0.5, 3), reference.train(X, y, b, 0.5, 3, batch_size=batch_size))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_tol_stops_after_n_iter_no_change():
    """The loss of a converged run stops improving by tol: training stops with the count > n_iter_no_change."""
    X, y, weights = _problem(1, seed=7)
    full = reference.train(X, y, [W.copy() for W in weights], 0.5, 300)
    tol = 1e-3
    counters = np.array([0.0, np.inf, 0.0])
    curve = reference.train(X, y, [W.copy() for W in weights], 0.5, 300, tol=tol, n_iter_no_change=5, counters=counters)
    assert 6 < len(curve) < 300
    np.testing.assert_array_equal(curve, full[: len(curve)])
    # replay scikit-learn's rule on the full curve: it stops at the same epoch
    best, count = np.inf, 0
    for i, loss in enumerate(full):
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count > 5:
            break
    assert len(curve) == i + 1
    assert counters[2] == 6 and counters[1] == full[: i + 1].min()


def test_tol_none_runs_every_epoch():
    X, y, weights = _problem(1, seed=7)
    assert len(reference.train(X, y, weights, 0.5, 40)) == 40


def test_float32_stays_float32():
    X, y, weights = _problem(3, seed=8)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    w32 = [W.astype(np.float32) for W in weights]
    curve = reference.train(X32, y32, w32, 0.1, 3, solver="adam", batch_size=4, alpha=0.1, activation="relu")
    assert curve.dtype == np.float32 and all(W.dtype == np.float32 for W in w32)
    loss, grads = reference.loss_and_gradient(X32, y32, w32, "relu", 0.1)
    assert all(g.dtype == np.float32 for g in grads)
