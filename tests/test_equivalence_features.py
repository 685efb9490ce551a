"""The training options: the C++ kernels equal backprop.reference for every activation, output,
solver, penalty, batch size and stopping rule (same contract and tolerances as test_equivalence)."""

import itertools

import numpy as np
import pytest
from conftest import assert_close, core_dense_backward, core_dense_forward, core_loss_and_gradient, core_predict_proba, core_train, make_data, tol

from backprop import _core, reference

ACTIVATIONS = ["sigmoid", "tanh", "relu", "identity"]
SOLVERS = [
    ("gd", {}),
    ("momentum", dict(momentum=0.9, nesterov=True)),
    ("momentum", dict(momentum=0.5, nesterov=False)),
    ("adam", dict(beta_1=0.8, beta_2=0.99, epsilon=1e-7)),
]
# Learning rates that keep every combination well inside its stable range over the iterations
# tested, so that the comparison measures the kernels, not amplified chaos.
LR = {"gd": 0.5, "momentum": 0.1, "adam": 0.01}


def _problem(n, d, n_hidden, n_out, dtype, seed=0, init="glorot"):
    X, y = make_data(n, d, dtype, seed=seed)
    if n_out > 1:  # k classes from the same rule, one-hot
        rng = np.random.default_rng(seed)
        labels = (np.digitize(X[:, 0], np.quantile(X[:, 0], np.linspace(0, 1, n_out + 1)[1:-1])) + (rng.random(n) < 0.1)) % n_out
        y = np.eye(n_out, dtype=dtype)[labels]
    w0 = reference.init_weights(d, n_hidden, np.random.default_rng(seed + 1), dtype, init=init, n_outputs=n_out)
    return X, y, w0


def _state(solver, weights):
    k = {"gd": 0, "momentum": 1, "adam": 2}[solver]
    return [np.zeros_like(W) for _ in range(k) for W in weights]


def _train_both(X, y, w0, iters, lr, n_threads=2, **kw):
    solver = kw.get("solver", "gd")
    runs = []
    for backend in ("ref", "cpp"):
        w = [W.copy() for W in w0]
        state = _state(solver, w)
        counters = np.array([0.0, np.inf, 0.0])
        if backend == "ref":
            loss = reference.train(X, y, w, lr, iters, solver_state=state, counters=counters, **kw)
        else:
            loss, n_iter = core_train(X, y, w, lr, iters, n_threads, solver_state=state, counters=counters, **kw)
            assert n_iter == loss.shape[0]
        runs.append((w, loss, state, counters))
    return runs


def _assert_same(runs, dtype, what):
    (w_ref, loss_ref, s_ref, c_ref), (w_cpp, loss_cpp, s_cpp, c_cpp) = runs
    assert loss_cpp.shape == loss_ref.shape, f"{what}: epochs run differ"
    assert loss_cpp.dtype == dtype
    assert_close(loss_cpp, loss_ref, dtype, f"{what}: loss curve")
    for i, (a, b) in enumerate(zip(w_cpp, w_ref)):
        assert_close(a, b, dtype, f"{what}: weights[{i}]")
    for i, (a, b) in enumerate(zip(s_cpp, s_ref)):
        assert_close(a, b, dtype, f"{what}: solver_state[{i}]")
    np.testing.assert_array_equal(c_cpp, c_ref, err_msg=f"{what}: counters")


# One test per activation x output x solver, on a two-hidden-layer network, full batch.
@pytest.mark.parametrize("solver,params", SOLVERS, ids=["gd", "nesterov", "momentum", "adam"])
@pytest.mark.parametrize("n_out", [1, 3], ids=["sigmoid-out", "softmax-out"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_output_and_solver_matches_the_reference(activation, n_out, solver, params, dtype):
    X, y, w0 = _problem(300, 7, (9, 5), n_out, dtype)
    runs = _train_both(X, y, w0, 30, LR[solver], activation=activation, solver=solver, **params)
    _assert_same(runs, dtype, f"{activation}/{n_out} outputs/{solver}")
    w = runs[1][0]
    assert_close(
        core_predict_proba(X, w, 2, activation=activation),
        reference.predict_proba(X, runs[0][0], activation=activation),
        dtype,
        "probabilities",
    )


# The same through the narrow tail (enough samples for the schedule's parts, a partial last group
# of lanes): every hidden activation and solver, full batch and mini-batches in a given order.
@pytest.mark.parametrize("solver,params", [SOLVERS[0], SOLVERS[1], SOLVERS[3]], ids=["gd", "nesterov", "adam"])
@pytest.mark.parametrize("batch_size", [None, 900])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_and_solver_matches_the_reference_through_the_narrow_tail(
    activation, batch_size, solver, params, dtype
):
    X, y, w0 = _problem(1801, 6, (9, 5, 3), 1, dtype)
    order = np.random.default_rng(3).permutation(1801).astype(np.int64)
    runs = _train_both(
        X, y, w0, 10, LR[solver], activation=activation, solver=solver, batch_size=batch_size, order=order,
        alpha=0.2, **params,
    )
    _assert_same(runs, dtype, f"{activation}/{solver}/batch_size={batch_size}")


# Awkward shapes with the new options: 1 sample, 1 feature, no hidden layer, many layers, wide
# layers (the cooperative schedule), several blocks, batches that do not divide n.
SHAPES = [
    (1, 4, (3,), 1),
    (1, 1, (), 3),
    (40, 1, (5,), 4),
    (64, 7, (5, 4, 3, 6, 2), 3),
    (513, 17, (33, 9), 1),
    (1300, 150, (140,), 5),
]


@pytest.mark.parametrize("batch_size", [None, 1, 7, 256, 300])
@pytest.mark.parametrize("n,d,n_hidden,n_out", SHAPES, ids=[f"{n}x{d}-{h}-{k}" for n, d, h, k in SHAPES])
def test_mini_batches_penalty_and_adam_match_the_reference(n, d, n_hidden, n_out, batch_size, dtype):
    if n > 1000 and batch_size in (1, 7):
        pytest.skip("thousands of Adam steps on single rows: float32 rounding differences grow past the tolerance")
    X, y, w0 = _problem(n, d, n_hidden, n_out, dtype, seed=n + d)
    order = np.random.default_rng(n).permutation(n).astype(np.int64)
    iters = 2 if (batch_size or n) < 8 and n > 100 else 5
    # Adam divides each step by sqrt(S) + epsilon: with thousands of one-row steps, weights whose
    # gradients are ~1e-12 see the ulp-level differences of the two backends' sums magnified to
    # ~1e-6 relative (the normalisation does that, not the kernels); epsilon=1e-4 keeps the
    # comparison about the kernels.
    runs = _train_both(
        X, y, w0, iters, 0.01, activation="tanh", solver="adam", alpha=0.3, batch_size=batch_size, order=order,
        epsilon=1e-4,
    )
    _assert_same(runs, dtype, f"batch_size={batch_size}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_out", [1, 4])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_loss_and_gradient_match_the_reference(activation, n_out, alpha, dtype):
    X, y, w0 = _problem(700, 11, (12, 6), n_out, dtype, init="he")
    loss_cpp, g_cpp = core_loss_and_gradient(X, y, w0, 2, activation=activation, alpha=alpha)
    loss_ref, g_ref = reference.loss_and_gradient(X, y, w0, activation=activation, alpha=alpha)
    assert isinstance(loss_cpp, float)
    assert_close(loss_cpp, loss_ref, dtype, "loss")
    for i, (a, b) in enumerate(zip(g_cpp, g_ref)):
        assert a.dtype == dtype and a.shape == w0[i].shape
        assert_close(a, b, dtype, f"dW[{i}]")


# Every path of the full-batch sweep: one sample, no hidden layer, one block, the parts schedule
# with a partial last block and every gradient tile, the narrow tail (one to many layers), a wide
# layer (all threads on each block).
LOSS_SHAPES = [(1, 4, (3,)), (50, 6, ()), (513, 17, (33, 9)), (1100, 19, (36,)), (1030, 20, (8, 3)),
               (1500, 7, (12, 5, 3, 2)), (800, 3, (4,) * 34), (300, 40, (600,))]


@pytest.mark.parametrize("n,d,n_hidden", LOSS_SHAPES, ids=[f"{n}x{d}-{len(h)}x{h[:1]}" for n, d, h in LOSS_SHAPES])
@pytest.mark.parametrize("output,n_out", [(None, 1), (None, 3), ("logistic", 2), ("identity", 2), ("exp", 1)])
def test_the_loss_alone_is_loss_and_gradient_s_loss_bit_for_bit(n, d, n_hidden, output, n_out, dtype):
    X, y, w0 = _problem(n, d, n_hidden, n_out, dtype, init="he")
    if output == "identity":
        y = np.stack([X[:, 0] - X[:, -1], X[:, 0] ** 2], axis=1).astype(dtype)
    elif output == "exp":
        y = np.abs(X[:, 0]).astype(dtype)
    w = np.random.default_rng(n).uniform(0.0, 2.0, n).astype(dtype)
    for alpha, sample_weight, average_outputs in ((0.0, None, False), (0.3, w, True)):
        kw = dict(activation="tanh", alpha=alpha, output=output, sample_weight=sample_weight,
                  average_outputs=average_outputs)
        J_ref = reference.loss(X, y, w0, **kw)
        assert J_ref == reference.loss_and_gradient(X, y, w0, **kw)[0]
        for n_threads in (1, 2, 3):
            J = _core.loss(X, y, w0, n_threads, **kw)
            assert isinstance(J, float)
            assert J == _core.loss_and_gradient(X, y, w0, n_threads, **kw)[0], (n_threads, alpha)
            assert_close(J, J_ref, dtype, f"loss, {n_threads} threads, alpha={alpha}")
    # rows whose first-layer sums overflow, scanned or told, and arguments checked as
    # loss_and_gradient checks them
    big = 1e300 if dtype == np.float64 else 1e30
    huge = np.ascontiguousarray(np.where(np.arange(n)[:, None] % 7 == 0, big * X, X), dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        both = _core.loss_and_gradient(huge, y, w0, 2, activation="tanh", alpha=0.1, output=output)[0]
        for hint in (None, _core.has_huge_values(huge)):
            J = _core.loss(huge, y, w0, 2, activation="tanh", alpha=0.1, output=output, huge_inputs=hint)
            assert J == both or (np.isnan(J) and np.isnan(both))
    for bad in ({"activation": "elu"}, {"alpha": -1.0}):
        kw = {"activation": "tanh", "alpha": 0.0, "output": output, **bad}
        with pytest.raises(ValueError) as alone:
            _core.loss(X, y, w0, 1, **kw)
        with pytest.raises(ValueError) as both:
            _core.loss_and_gradient(X, y, w0, 1, **kw)
        assert str(alone.value) == str(both.value)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_cpp_gradient_matches_finite_differences(activation):
    """Central differences of the C++ loss, float64, every weight of a small net with softmax and L2."""
    X, y, w0 = _problem(60, 3, (4,), 3, np.float64, init="he")
    _, grads = core_loss_and_gradient(X, y, w0, 1, activation=activation, alpha=0.2)
    h = 1e-6
    for l, W in enumerate(w0):
        for idx in itertools.product(range(W.shape[0]), range(W.shape[1])):
            plus = [V.copy() for V in w0]
            minus = [V.copy() for V in w0]
            plus[l][idx] += h
            minus[l][idx] -= h
            fd = (
                core_loss_and_gradient(X, y, plus, 1, activation=activation, alpha=0.2)[0]
                - core_loss_and_gradient(X, y, minus, 1, activation=activation, alpha=0.2)[0]
            ) / (2 * h)
            assert abs(grads[l][idx] - fd) <= 1e-6 * max(1.0, abs(fd)), (activation, l, idx, grads[l][idx], fd)


def test_training_resumes_exactly_across_calls(dtype):
    """Ten epochs in one call equal 4 + 6 epochs in two calls (state and counters carried over)."""
    X, y, w0 = _problem(600, 5, (8,), 3, dtype)
    order = np.random.default_rng(3).permutation(600).astype(np.int64)
    kw = dict(activation="relu", solver="adam", batch_size=64, order=order, alpha=0.1)
    w1 = [W.copy() for W in w0]
    s1, c1 = _state("adam", w1), np.array([0.0, np.inf, 0.0])
    loss1, _ = core_train(X, y, w1, 0.01, 10, 2, solver_state=s1, counters=c1, **kw)
    w2 = [W.copy() for W in w0]
    s2, c2 = _state("adam", w2), np.array([0.0, np.inf, 0.0])
    loss2a, _ = core_train(X, y, w2, 0.01, 4, 2, solver_state=s2, counters=c2, **kw)
    loss2b, _ = core_train(X, y, w2, 0.01, 6, 2, solver_state=s2, counters=c2, **kw)
    np.testing.assert_array_equal(np.concatenate([loss2a, loss2b]), loss1)
    for a, b in zip(w1 + s1, w2 + s2):
        np.testing.assert_array_equal(a, b)
    assert c1[0] == c2[0] == 10 * 10  # ten batches per epoch, one adam step each


@pytest.mark.parametrize("batch_size", [None, 100])
def test_new_options_are_bitwise_identical_for_any_thread_count(batch_size, dtype):
    # 91 + 71 + 8 weight columns: the update's chunks of 64 columns go to different threads and
    # straddle layers
    X, y, w0 = _problem(1500, 90, (70, 7), 3, dtype)
    order = np.random.default_rng(0).permutation(1500).astype(np.int64)
    runs = []
    for n_threads in (1, 2, 3, 8):
        w = [W.copy() for W in w0]
        state = _state("momentum", w)
        loss, _ = core_train(
            X, y, w, 0.05, 5, n_threads, activation="tanh", solver="momentum", alpha=0.01,
            batch_size=batch_size, order=order, solver_state=state,
        )
        runs.append((loss, w, state))
    for loss, w, state in runs[1:]:
        np.testing.assert_array_equal(loss, runs[0][0])
        for a, b in zip(w + state, runs[0][1] + runs[0][2]):
            np.testing.assert_array_equal(a, b)


def test_tol_stops_at_the_same_epoch_as_the_reference(dtype):
    """A learning rate so small that the loss barely moves: the first epoch improves on inf, the next
    n_iter_no_change + 1 do not, and both backends stop there."""
    X, y, w0 = _problem(200, 4, (3,), 1, dtype)
    runs = _train_both(X, y, w0, 100, 1e-6, tol=1e-3, n_iter_no_change=4)
    _assert_same(runs, dtype, "tol")
    assert runs[1][1].shape == (6,)
    assert runs[1][3][2] == 5  # epochs without improvement
    # and an improving run does not stop
    runs = _train_both(X, y, w0, 30, 1.0, tol=1e-9, n_iter_no_change=2)
    assert runs[0][1].shape == runs[1][1].shape == (30,)


def test_defaults_are_the_article_training_bit_for_bit(dtype):
    """The new keywords at their defaults change nothing: same bits as the plain call."""
    X, y = make_data(700, 6, dtype)
    w0 = reference.init_weights(6, (8, 3), np.random.default_rng(0), dtype)
    a = [W.copy() for W in w0]
    b = [W.copy() for W in w0]
    loss_a, _ = core_train(X, y, a, 1.0, 25, 2)
    loss_b, _ = core_train(
        X, y, b, 1.0, 25, 2, activation="sigmoid", alpha=0.0, batch_size=None, order=None, solver="gd",
        solver_state=[], counters=np.array([0.0, np.inf, 0.0]), tol=None,
    )
    np.testing.assert_array_equal(loss_a, loss_b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_layer_kernels_match_the_reference(activation, dtype):
    rng = np.random.default_rng(1)
    for n, k, m in [(1, 1, 1), (37, 5, 3), (300, 20, 17), (70, 130, 9)]:
        a_prev = rng.normal(size=(n, k)).astype(dtype)
        W = rng.normal(size=(m, k + 1)).astype(dtype)
        assert_close(
            core_dense_forward(a_prev, W, activation=activation),
            reference.dense_forward(a_prev, W, activation),
            dtype,
            f"forward {activation} {n}x{k}->{m}",
        )
        a_in = reference.activation(a_prev, activation)  # a_prev as that activation's output
        delta = rng.normal(size=(n, m)).astype(dtype)
        dW, dp = core_dense_backward(a_in, W, delta, activation=activation)
        dW_ref, dp_ref = reference.dense_backward(a_in, W, delta, True, activation)
        assert_close(dW, dW_ref, dtype, "dW")
        assert_close(dp, dp_ref, dtype, "delta_prev")


def test_tanh_and_softmax_kernels_are_accurate(dtype):
    rng = np.random.default_rng(2)
    big = 1e300 if dtype == np.float64 else 1e30
    z = np.concatenate(
        [rng.normal(0, 4, 5000), np.logspace(-30, 2, 300), -np.logspace(-30, 2, 300), [0.0, -0.0, big, -big]]
    ).astype(dtype)
    t = _core.activation(z, "tanh")
    exact = np.tanh(z.astype(np.float64))
    ulp = np.finfo(dtype).eps
    assert np.all(np.abs(t - exact) <= 4 * ulp * np.abs(exact) + np.finfo(dtype).tiny)
    assert np.array_equal(np.signbit(t), np.signbit(z))  # odd, -0 included
    Z = np.concatenate([rng.normal(0, 5, (200, 7)), [[1e4, -1e4, 0, 0, 0, 0, 0]]]).astype(dtype)
    P = _core.activation(Z, "softmax")
    assert_close(P, reference.softmax(Z), dtype, "softmax")
    assert np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1, rtol=4 * ulp)
    for name in ("relu", "identity", "sigmoid"):
        assert_close(_core.activation(z, name), reference.activation(z, name), dtype, name)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "identity"])
def test_nan_stays_nan_through_every_activation_as_in_the_reference(dtype, name):
    # vector lanes and the scalar tail alike (lengths around the vector width)
    for n in (1, 3, 8, 17):
        z = np.linspace(-2, 2, n).astype(dtype)
        z[n // 2] = np.nan
        got, want = _core.activation(z, name), reference.activation(z, name)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        assert np.isnan(got[n // 2])
    # and through a network: a NaN weight in a relu layer reaches the output (it used to become 0)
    X, _, w0 = _problem(5, 3, (4,), 1, dtype)
    w0[0][1, 2] = np.nan
    p = _core.predict_proba(X, w0, 1, False, False, name, None)
    np.testing.assert_array_equal(np.isnan(p), np.isnan(reference.predict_proba(X, w0, name)))


def test_malformed_calls_with_the_new_options_raise():
    X, y, w0 = _problem(20, 3, (4,), 1, np.float64)
    Y3 = np.eye(3)[np.arange(20) % 3]
    w3 = reference.init_weights(3, (4,), np.random.default_rng(0), n_outputs=3)
    bad = [
        (dict(activation="softplus"), ValueError, "activation must be one of"),
        (dict(solver="sgd"), ValueError, "solver must be one of"),
        (dict(alpha=-1.0), ValueError, "alpha"),
        (dict(alpha=np.nan), ValueError, "alpha"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(order=np.arange(19, dtype=np.int64)), ValueError, "one entry per sample"),
        (dict(order=np.zeros(20, dtype=np.int64)), ValueError, "permutation"),
        (dict(order=np.arange(20, dtype=np.int32)), TypeError, "int64"),
        (dict(solver="momentum"), ValueError, "solver_state must hold 2 arrays"),
        (dict(solver="adam", solver_state=[np.zeros((4, 4)), np.zeros((1, 4)), np.zeros((4, 4)), np.zeros((1, 5))]), ValueError, "expected"),
        (dict(counters=np.zeros(2)), ValueError, r"shape \(3,\)"),
        (dict(tol=np.inf), ValueError, "tol"),
        (dict(n_iter_no_change=0), ValueError, "n_iter_no_change"),
        (dict(momentum=1.5), ValueError, "momentum"),
        (dict(beta_2=1.0), ValueError, "beta_2"),
        (dict(epsilon=0.0), ValueError, "epsilon"),
    ]
    for kw, exc, match in bad:
        with pytest.raises(exc, match=match):
            core_train(X, y, [W.copy() for W in w0], 0.1, 2, 1, **kw)
    w = [W.copy() for W in w0]
    with pytest.raises(ValueError, match="overlap"):
        core_train(X, y, w, 0.1, 2, 1, solver="momentum", solver_state=[w[0][:], np.zeros((1, 5))])
    with pytest.raises(ValueError, match="one-hot"):
        core_train(X, y, [W.copy() for W in w3], 0.1, 2, 1)  # labels for a softmax net
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        core_train(X, Y3[:, :2].copy(), [W.copy() for W in w3], 0.1, 2, 1)
    with pytest.raises(ValueError, match="activation"):
        core_predict_proba(X, w0, 1, activation="elu")
    with pytest.raises(ValueError, match="activation"):
        core_loss_and_gradient(X, y, w0, 1, activation="elu")
    assert core_predict_proba(X, w3, 1, True).shape == (20, 3)


def test_epoch_hook_and_per_epoch_orders_match_the_reference(dtype):
    """order of shape (max_iter, n) gives each epoch its own rows; epoch_hook sees every epoch
    (weights already updated) and stops training by returning False, on both backends."""
    X, y, w0 = _problem(300, 5, (6,), 3, dtype)
    orders = np.stack([np.random.default_rng(e).permutation(300) for e in range(6)]).astype(np.int64)
    seen = {"ref": [], "cpp": []}

    def hook(name, weights):
        def h(epoch, loss):
            seen[name].append((epoch, loss, weights[0][0, 1].item()))
            return epoch < 4  # stop after the fourth epoch
        return h

    w_ref = [W.copy() for W in w0]
    loss_ref = reference.train(X, y, w_ref, 0.1, 6, batch_size=32, order=orders, epoch_hook=hook("ref", w_ref))
    w_cpp = [W.copy() for W in w0]
    loss_cpp, n_iter = core_train(X, y, w_cpp, 0.1, 6, 2, batch_size=32, order=orders, epoch_hook=hook("cpp", w_cpp))
    assert n_iter == 4 and loss_ref.shape == (4,)
    assert_close(loss_cpp, loss_ref, dtype, "loss")
    for a, b in zip(w_cpp, w_ref):
        assert_close(a, b, dtype, "weights")
    assert [e for e, _, _ in seen["cpp"]] == [1, 2, 3, 4]
    assert_close([v for _, v, _ in seen["cpp"]], loss_cpp.astype(np.float64), np.float64, "hook losses")
    assert_close([w for _, _, w in seen["cpp"]], [w for _, _, w in seen["ref"]], dtype, "weights seen by the hook")
    assert len(set(w for _, _, w in seen["cpp"])) == 4  # the weights change between epochs
    # different orders per epoch differ from one order for all epochs
    w_one = [W.copy() for W in w0]
    loss_one, _ = core_train(X, y, w_one, 0.1, 4, 2, batch_size=32, order=orders[0])
    assert not np.array_equal(loss_one, loss_cpp)


def test_epoch_hook_exceptions_propagate_and_stop_the_threads():
    X, y, w0 = _problem(3000, 5, (40,), 1, np.float64)

    def hook(epoch, loss):
        if epoch == 3:
            raise ZeroDivisionError("from the hook")
        return True

    for n_threads in (1, 2, 4):
        with pytest.raises(ZeroDivisionError, match="from the hook"):
            core_train(X, y, [W.copy() for W in w0], 0.1, 50, n_threads, epoch_hook=hook)
    with pytest.raises(TypeError, match="callable"):
        core_train(X, y, [W.copy() for W in w0], 0.1, 5, 1, epoch_hook=3)
    with pytest.raises(ValueError, match="max_iter"):
        core_train(X, y, [W.copy() for W in w0], 0.1, 5, 1, batch_size=100,
                    order=np.stack([np.arange(3000)] * 4).astype(np.int64))


@pytest.mark.parametrize("n_hidden", [(), (4,)], ids=str)
def test_huge_features_take_the_scaled_first_layer_on_both_backends(n_hidden, dtype):
    """Rows whose first-layer sums overflow (|x| near the float range) are recomputed scaled by a
    power of two (reference.first_layer_logits, fix_overflowed_rows in C++): same finite result."""
    big = 1e300 if dtype == np.float64 else 1e30  # (float32: 1e37 would overflow the gradient sums)
    X, y = make_data(600, 3, dtype, seed=4)
    X[::7] = (big * np.array([1.0, -1.0, 0.75])).astype(dtype)  # sums overflow: inf - inf
    X[3::7] = (big * np.array([0.5, 0.9, -0.2])).astype(dtype)
    w0 = reference.init_weights(3, n_hidden, np.random.default_rng(0), dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        runs = _train_both(X, y, w0, 15, 1.0)
    _assert_same(runs, dtype, "huge rows")
    w, loss = runs[1][0], runs[1][1]
    assert np.isfinite(loss).all() and all(np.isfinite(W).all() for W in w)
    z = reference.first_layer_logits(X, w[0])
    assert not np.isnan(z).any()
    if not n_hidden:  # the output's delta does not vanish: the weights grew until W x overflows
        with np.errstate(over="ignore", invalid="ignore"):
            plain = X @ w[0][:, 1:].T + w[0][:, 0]
        assert not np.isfinite(plain).all()


def test_scan_values_is_the_finite_and_huge_rules_on_every_thread_count(dtype):
    """One pass tells whether every value is finite and, when it is, has_huge_values' answer,
    whatever the threads it splits into (each part large enough for a thread of its own)."""
    big = np.sqrt(np.finfo(dtype).max)
    edges = np.array([0.0, 1.0, -1.0, np.nan, big, -big, np.nextafter(big, dtype(0)), np.inf, -np.inf], dtype=dtype)
    for values in itertools.chain.from_iterable(itertools.combinations(range(9), r) for r in (1, 2, 3)):
        A = edges[list(values)]
        finite, huge = _core.scan_values(A)
        assert finite == bool(np.isfinite(A).all()), values
        if finite:
            assert huge == _core.has_huge_values(A), values
    per_thread = 1 << 18  # the values a part needs for a thread of its own
    n = 2 * per_thread + 5
    for at in (0, 1023, per_thread - 1, n // 2, n // 2 + 1, n - 1):
        for value, finite, huge in ((big, True, True), (-big, True, True), (np.nan, False, None), (np.inf, False, None),
                                    (np.nextafter(big, dtype(0)), True, False)):
            A = np.full(n, 0.5, dtype=dtype)
            A[at] = value
            for threads in (1, 2, 3):
                got = _core.scan_values(A.reshape(1, -1) if threads == 3 else A, threads)
                assert got[0] is finite and (huge is None or got[1] is huge), (at, value, threads)
    assert _core.scan_values(np.ones((0, 3), dtype=dtype), 2) == (True, False)
    with pytest.raises(ValueError, match="n_threads"):
        _core.scan_values(np.ones(3, dtype=dtype), 0)


def test_has_huge_values_is_the_scan_rule_and_the_hint_changes_nothing_when_right(dtype):
    big = np.sqrt(np.finfo(dtype).max)
    edges = np.array([0.0, 1.0, -1.0, np.nan, big, -big, np.nextafter(big, dtype(0)), np.inf], dtype=dtype)
    for values in ([0, 1, 2, 3, 6], [4], [5], [3, 6], [7]):
        A = edges[values]
        assert _core.has_huge_values(A) == bool(np.any(np.abs(A) >= big))
        assert _core.has_huge_values(np.ascontiguousarray(np.tile(A, (3, 1)))) == _core.has_huge_values(A)
    # one huge value (or a NaN, which is not huge) anywhere among many, around the scan's chunks
    for n in (1, 1023, 1024, 1025, 3001):
        for at in sorted({0, n // 2, n - 1, min(n - 1, 1023), min(n - 1, 1024)}):
            for value, huge in ((big, True), (-np.inf, True), (np.nan, False)):
                A = np.ones(n, dtype=dtype)
                A[at] = value
                assert _core.has_huge_values(A) is huge, (n, at, value)
    # loss_and_gradient and train told the answer give the bits of the scan, with and without huge rows
    X, y = make_data(300, 3, dtype, seed=5)
    w0 = reference.init_weights(3, (4,), np.random.default_rng(0), dtype)
    order = np.random.default_rng(1).permutation(300).astype(np.int64)
    big = 1e300 if dtype == np.float64 else 1e30
    overflowing = X.copy()
    overflowing[::7] = (big * np.array([1.0, -1.0, 0.0])).astype(dtype)  # with w_big: inf - inf, not 0
    w_big = [W.copy() for W in w0]
    w_big[0][:, 1:] = 1e10
    for rows in (X, np.where(np.arange(300)[:, None] % 7 == 0, big * X, X), overflowing):
        rows = np.ascontiguousarray(rows, dtype=dtype)
        hint = _core.has_huge_values(rows)
        scanned = _core.loss_and_gradient(rows, y, w0, 1, activation="sigmoid", alpha=0.1)
        told = _core.loss_and_gradient(rows, y, w0, 1, activation="sigmoid", alpha=0.1, huge_inputs=hint)
        assert scanned[0] == told[0] or (np.isnan(scanned[0]) and np.isnan(told[0]))
        for a, b in zip(scanned[1], told[1]):
            np.testing.assert_array_equal(a, b)
        fits = []
        for kw in ({}, {"huge_inputs": hint}, {"huge_inputs": False}):
            w = [W.copy() for W in w_big]
            with np.errstate(over="ignore", invalid="ignore"):
                curve, _ = core_train(rows, y, w, 0.1, 3, 2, alpha=0.1, batch_size=64, order=order, **kw)
            fits.append((curve, w))
        np.testing.assert_array_equal(fits[0][0], fits[1][0])
        for a, b in zip(fits[0][1], fits[1][1]):
            np.testing.assert_array_equal(a, b)
        # the hint is what decides: told wrongly, the huge rows' sums overflow (w_big) instead of
        # taking the scaled first layer
        assert hint == any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(fits[0][1], fits[2][1]))


def test_a_nan_probability_gives_a_nan_loss_not_a_number():
    """The vectorised log does not propagate NaN by itself: the loss must still say NaN."""
    for dtype in (np.float64, np.float32):
        p = np.full(40, 0.3, dtype=dtype)
        p[17] = np.nan
        y = (np.arange(40) % 2).astype(dtype)
        assert np.isnan(_core.binary_log_loss(p, y))
        X, y, w0 = _problem(50, 3, (), 3, dtype)
        w0[0][1, 2] = np.nan
        loss, _ = core_loss_and_gradient(X, y, w0, 1)
        assert np.isnan(loss)
        # through the narrow tail (enough rows for it), in a full and in the last, partial run of
        # rows: a NaN in one weight of the output unit, or in one sample of a whole or of the last run
        X, y, w0 = _problem(1030, 3, (8, 3), 1, dtype)
        w0[-1][0, 2] = np.nan
        loss, _ = core_loss_and_gradient(X, y, w0, 2)
        assert np.isnan(loss)
        for row in (500, 1029):
            X, y, w0 = _problem(1030, 3, (8, 3), 1, dtype)
            X[row, 1] = np.nan
            loss, _ = core_loss_and_gradient(X, y, w0, 2)
            assert np.isnan(loss), row


def _subnormal_survives() -> bool:
    """Whether this thread computes subnormal results (its floating-point mode does not flush them)."""
    return bool(np.float32(1e-38) / np.float32(10) != 0) and bool(np.float64(1e-307) / 1e10 != 0)


def test_saturated_training_flushes_subnormals_and_stays_the_reference_fit(dtype):
    """Training computes with subnormal numbers flushed to zero (they cost a hundred cycles or more
    per operation on many x86 cores).  A network whose hidden units saturate, so that activations and
    deltas fall below the smallest normal number, still gives the reference's fit (which keeps
    them): what is flushed lies below the dtype's precision of every sum it enters.  The calling
    thread's mode is its own again after the call, and the epoch hook computes as outside the fit."""
    X, y, w0 = _problem(600, 4, (6, 3), 1, dtype, seed=3)
    # first-layer sums spread over about [-250, 50]: sigmoid(z) for z < -87 (float32) or < -708
    # (float64, with wider weights) is subnormal or 0
    scale = 40.0 if dtype == np.float32 else 300.0
    w0[0][:, 1:] *= scale
    w0[0][:, 0] = -0.5 * scale
    tiny = np.finfo(dtype).tiny
    a1 = reference.network_forward(X, w0, "sigmoid")[1]
    assert np.any((a1 > 0) & (a1 < tiny)), "the problem must have subnormal activations"
    assert _subnormal_survives()
    seen_in_hook = []

    def hook(epoch, loss):
        seen_in_hook.append(_subnormal_survives())
        return True

    with np.errstate(under="ignore"):
        runs = _train_both(X, y, w0, 12, 0.5, batch_size=128, order=np.arange(600, dtype=np.int64))
        _assert_same(runs, dtype, "saturated network")
        core_train(X, y, [W.copy() for W in w0], 0.5, 3, 2, epoch_hook=hook)
        loss_ref, g_ref = reference.loss_and_gradient(X, y, w0, "sigmoid", 0.0)
        loss_cpp, g_cpp = core_loss_and_gradient(X, y, w0, 2)
    assert seen_in_hook == [True] * 3
    assert_close(loss_cpp, loss_ref, dtype, "loss")
    for a, b in zip(g_cpp, g_ref):
        # a flushed term is below tiny: the sums differ by at most n * tiny * max|x| in absolute
        np.testing.assert_allclose(a, b, rtol=tol(dtype)["rtol"], atol=600 * tiny * 10)
    assert _subnormal_survives()
