"""The output layers and sample weights: reference against scikit-learn's own ``_backprop`` and
against finite differences of the exact loss; the C++ kernels against the reference.

scikit-learn's layout: ``coefs_[l] = W[l][:, 1:].T``, ``intercepts_[l] = W[l][:, 0]``.
"""

import numpy as np
import pytest

from backprop import _core, reference

from conftest import assert_close, core_train

OUTPUTS = reference.OUTPUTS
SK_ACTIVATION = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu", "identity": "identity"}


def make_problem(output, n_out, n=23, d=4, n_hidden=(5, 3), dtype=np.float64, seed=0, weighted=True,
                 zero_weights=True):
    """X, targets shaped as the kernels take them ((n,) for one output unit), weights with
    non-zero biases, and sample weights (some zero) or None."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if output == "softmax":
        Y = np.eye(n_out)[rng.integers(0, n_out, n)]
    elif output == "logistic":
        Y = (rng.random((n, n_out)) > 0.5).astype(np.float64)
    elif output == "identity":
        Y = rng.normal(size=(n, n_out)) * 2
    else:  # Poisson counts, zeros included
        Y = rng.poisson(1.5, size=(n, n_out)).astype(np.float64)
    weights = reference.init_weights(d, n_hidden, np.random.default_rng(seed + 1), init="glorot", n_outputs=n_out)
    for W in weights:
        W[:, 0] = rng.normal(scale=0.3, size=W.shape[0])
    w = None
    if weighted:
        w = rng.uniform(0.2, 3.0, size=n)
        if zero_weights and n > 2:
            w[[0, n // 2]] = 0.0
    y = Y[:, 0] if n_out == 1 else Y
    cast = lambda a: None if a is None else np.ascontiguousarray(a, dtype=dtype)  # noqa: E731
    return cast(X), cast(y), [cast(W) for W in weights], cast(w)


# (output, m_out) pairs covering each loss, multilabel and multi-output regression included
CASES = [("logistic", 1), ("logistic", 3), ("softmax", 3), ("identity", 1), ("identity", 3), ("exp", 1), ("exp", 3)]
CASE_IDS = [f"{o}-m{m}" for o, m in CASES]


def sklearn_loss_and_gradient(X, y, weights, activation, alpha, output, sample_weight):
    """scikit-learn's ``_backprop`` at our weights: (loss, grads in our layout)."""
    sklearn = pytest.importorskip("sklearn")
    if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) < (1, 7):
        pytest.skip("scikit-learn < 1.7 has no sample_weight in its MLP's loss")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    if output in ("logistic", "softmax"):
        est = MLPClassifier(activation=SK_ACTIVATION[activation], alpha=alpha)
    else:
        est = MLPRegressor(activation=SK_ACTIVATION[activation], alpha=alpha,
                           loss="squared_error" if output == "identity" else "poisson")
    est.out_activation_ = output
    est.coefs_ = [W[:, 1:].T.copy() for W in weights]
    est.intercepts_ = [W[:, 0].copy() for W in weights]
    est.n_layers_ = len(weights) + 1
    Y = y[:, None] if y.ndim == 1 else y
    L = len(weights)
    loss, cg, ig = est._backprop(X, Y, sample_weight, [X] + [None] * L, [None] * L, [None] * L, [None] * L)
    return loss, [np.column_stack([b, c.T]) for b, c in zip(ig, cg)]


@pytest.mark.no_kernels
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_reference_equals_sklearn_backprop(output, n_out, activation, weighted):
    """The loss scikit-learn reports (average_outputs for squared_error) and its gradient, to 1e-12."""
    X, y, weights, w = make_problem(output, n_out, weighted=weighted)
    alpha = 0.3
    sk_loss, sk_grads = sklearn_loss_and_gradient(X, y, weights, activation, alpha, output, w)
    loss, grads = reference.loss_and_gradient(X, y, weights, activation, alpha, output=output, sample_weight=w,
                                              average_outputs=output == "identity")
    np.testing.assert_allclose(loss, sk_loss, rtol=1e-12)
    for g, sk in zip(grads, sk_grads):
        np.testing.assert_allclose(g, sk, rtol=1e-12, atol=1e-15)


@pytest.mark.no_kernels
@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_average_outputs_divides_the_data_term_only(output, n_out):
    X, y, weights, w = make_problem(output, n_out)
    alpha = 0.4
    J, g = reference.loss_and_gradient(X, y, weights, "tanh", alpha, output=output, sample_weight=w)
    Ja, ga = reference.loss_and_gradient(X, y, weights, "tanh", alpha, output=output, sample_weight=w,
                                         average_outputs=True)
    penalty = 0.5 * alpha * sum(float((W[:, 1:] ** 2).sum()) for W in weights) / w.sum()
    np.testing.assert_allclose(Ja, (J - penalty) / n_out + penalty, rtol=1e-13)
    for a, b in zip(g, ga):
        np.testing.assert_array_equal(a, b)


@pytest.mark.no_kernels
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_reference_gradient_matches_finite_differences_of_the_exact_loss(output, n_out, weighted):
    X, y, weights, w = make_problem(output, n_out, n=11, n_hidden=(3,), weighted=weighted)
    alpha = 0.2
    loss, grads = reference.loss_and_gradient(X, y, weights, "tanh", alpha, output=output, sample_weight=w)
    exact = reference.exact_loss(X, y, weights, "tanh", alpha, output=output, sample_weight=w)
    np.testing.assert_allclose(loss, exact, rtol=1e-12)  # no clipping at these logits
    eps = 1e-6
    for W, G in zip(weights, grads):
        for idx in np.ndindex(W.shape):
            w0 = W[idx]
            W[idx] = w0 + eps
            lp = reference.exact_loss(X, y, weights, "tanh", alpha, output=output, sample_weight=w)
            W[idx] = w0 - eps
            lm = reference.exact_loss(X, y, weights, "tanh", alpha, output=output, sample_weight=w)
            W[idx] = w0
            np.testing.assert_allclose(G[idx], (lp - lm) / (2 * eps), rtol=1e-6, atol=1e-8)


@pytest.mark.no_kernels
def test_integer_weights_equal_repeated_rows():
    """A weight of k is the row taken k times (0: left out), for every output."""
    for output, n_out in CASES:
        X, y, weights, _ = make_problem(output, n_out, weighted=False)
        w = np.arange(X.shape[0]) % 3
        rows = np.repeat(np.arange(X.shape[0]), w)
        J, g = reference.loss_and_gradient(X, y, weights, "relu", 0.5, output=output, sample_weight=w.astype(float))
        Jr, gr = reference.loss_and_gradient(X[rows], y[rows], weights, "relu", 0.5, output=output)
        np.testing.assert_allclose(J, Jr, rtol=1e-12)
        for a, b in zip(g, gr):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


@pytest.mark.no_kernels
@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_reference_predict_applies_the_output_activation(output, n_out):
    X, _, weights, _ = make_problem(output, n_out, weighted=False)
    z = X
    for W in weights[:-1]:
        z = np.tanh(z @ W[:, 1:].T + W[:, 0])
    z = z @ weights[-1][:, 1:].T + weights[-1][:, 0]
    want = {"logistic": lambda: 1 / (1 + np.exp(-z)), "identity": lambda: z, "exp": lambda: np.exp(z),
            "softmax": lambda: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)}[output]()
    p = reference.predict_proba(X, weights, "tanh", output=output)
    np.testing.assert_allclose(p, want[:, 0] if n_out == 1 else want, rtol=1e-13)


@pytest.mark.no_kernels
def test_output_names_are_checked():
    X, y, weights, _ = make_problem("identity", 1, weighted=False)
    with pytest.raises(ValueError, match="output must be None or one of"):
        reference.loss_and_gradient(X, y, weights, output="poisson")
    with pytest.raises(ValueError, match="output='softmax' needs at least 2 output units"):
        reference.predict_proba(X, weights, output="softmax")


@pytest.mark.no_kernels
@pytest.mark.parametrize("bad,match", [
    (np.ones(5), r"sample_weight must have shape \(23,\)"),
    (np.ones((23, 1)), r"sample_weight must have shape \(23,\)"),
    (np.r_[np.ones(22), np.nan], "sample_weight contains NaN or infinity"),
    (np.r_[np.ones(22), -1.0], "sample_weight must be >= 0"),
    (np.zeros(23), "sample_weight must not be all zero"),
])
def test_reference_sample_weight_is_checked(bad, match):
    X, y, weights, _ = make_problem("identity", 1, weighted=False)
    with pytest.raises(ValueError, match=match):
        reference.loss_and_gradient(X, y, weights, output="identity", sample_weight=bad)


# ---- the C++ kernels against the reference -------------------------------------------------

# awkward shapes: (n, d, n_hidden); 1 row, 1 feature, no hidden layer, a wide layer (the
# cooperative mode), many rows (the parts)
SHAPES = [(23, 4, (5, 3)), (1, 3, (4,)), (17, 1, (3,)), (9, 2, ()), (600, 6, (9, 4)), (70, 5, (300,))]
SHAPE_IDS = ["small", "one_row", "one_feature", "no_hidden", "parts", "wide"]


def core_loss_and_gradient(X, y, weights, n_threads, activation, alpha, output, w, average_outputs=False):
    return _core.loss_and_gradient(X, y, weights, n_threads, activation=activation, alpha=alpha, output=output,
                                   sample_weight=w, average_outputs=average_outputs)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_core_loss_and_gradient_equals_reference(output, n_out, shape, weighted, dtype):
    n, d, hidden = shape
    X, y, weights, w = make_problem(output, n_out, n=n, d=d, n_hidden=hidden, dtype=dtype, weighted=weighted)
    want, want_g = reference.loss_and_gradient(X, y, weights, "tanh", 0.3, output=output, sample_weight=w,
                                               average_outputs=output == "identity")
    for threads in (1, 2):
        loss, grads = core_loss_and_gradient(X, y, weights, threads, "tanh", 0.3, output, w, output == "identity")
        assert_close(loss, want, dtype, f"loss, {threads} threads")
        for l, (g, wg) in enumerate(zip(grads, want_g)):
            assert g.dtype == dtype
            assert_close(g, wg, dtype, f"grad {l}, {threads} threads")


@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_core_gradient_matches_finite_differences_with_weights(output, n_out):
    X, y, weights, w = make_problem(output, n_out, n=300, n_hidden=(6,))
    _, grads = core_loss_and_gradient(X, y, weights, 2, "sigmoid", 0.1, output, w)
    rng = np.random.default_rng(3)
    eps = 1e-6
    for W, G in zip(weights, grads):
        for flat in rng.choice(W.size, size=min(W.size, 12), replace=False):
            idx = np.unravel_index(flat, W.shape)
            w0 = W[idx]
            W[idx] = w0 + eps
            lp = reference.exact_loss(X, y, weights, "sigmoid", 0.1, output=output, sample_weight=w)
            W[idx] = w0 - eps
            lm = reference.exact_loss(X, y, weights, "sigmoid", 0.1, output=output, sample_weight=w)
            W[idx] = w0
            np.testing.assert_allclose(G[idx], (lp - lm) / (2 * eps), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_core_equals_sklearn_backprop(output, n_out):
    """The kernels' loss and gradient against scikit-learn's, weighted and not, to 1e-12."""
    for weighted in (False, True):
        X, y, weights, w = make_problem(output, n_out, n=300, n_hidden=(7, 4), weighted=weighted)
        sk_loss, sk_grads = sklearn_loss_and_gradient(X, y, weights, "relu", 0.2, output, w)
        loss, grads = core_loss_and_gradient(X, y, weights, 2, "relu", 0.2, output, w, output == "identity")
        np.testing.assert_allclose(loss, sk_loss, rtol=1e-12)
        for g, sk in zip(grads, sk_grads):
            np.testing.assert_allclose(g, sk, rtol=1e-12, atol=1e-15)


TRAIN_CASES = [  # (solver, batch_size, shuffled)
    ("gd", None, False), ("momentum", 7, True), ("adam", 1, True), ("adam", 64, False), ("momentum", 256, True),
]


@pytest.mark.parametrize("solver,batch_size,shuffled", TRAIN_CASES, ids=[f"{s}-b{b}-{'perm' if p else 'nat'}" for s, b, p in TRAIN_CASES])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_core_train_equals_reference(output, n_out, weighted, solver, batch_size, shuffled, dtype):
    n = 40 if batch_size == 1 else 300
    X, y, weights, w = make_problem(output, n_out, n=n, d=3, n_hidden=(6,), dtype=dtype, weighted=weighted)
    epochs = 3
    order = np.stack([np.random.default_rng(e).permutation(n) for e in range(epochs)]) if shuffled else None
    lr = 0.01 if output == "exp" else 0.05
    options = dict(activation="tanh", alpha=0.1, batch_size=batch_size, order=order, solver=solver, tol=None,
                   output=output, sample_weight=w, average_outputs=output == "identity")
    ref_w = [W.copy() for W in weights]
    ref_state = [np.zeros_like(W) for _ in range(reference.SOLVERS[solver]) for W in ref_w]
    want = reference.train(X, y, ref_w, lr, epochs, solver_state=ref_state, **options)
    results = []
    for threads in (1, 2):
        ws = [W.copy() for W in weights]
        state = [np.zeros_like(W) for _ in range(reference.SOLVERS[solver]) for W in ws]
        curve, n_iter = core_train(X, y, ws, lr, epochs, threads, solver_state=state, **options)
        assert n_iter == epochs
        assert_close(curve, want, dtype, f"loss curve, {threads} threads")
        for l, (a, b) in enumerate(zip(ws, ref_w)):
            assert_close(a, b, dtype, f"weights {l}, {threads} threads")
        results.append((curve, ws))
    np.testing.assert_array_equal(results[0][0], results[1][0])  # bitwise the same for any thread count
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(3000, 8, (12,)), (300, 20, (400,))], ids=["parts", "wide"])
@pytest.mark.parametrize("output,n_out", [("logistic", 1), ("identity", 3), ("exp", 1)], ids=["logistic", "identity", "exp"])
def test_core_weighted_train_is_independent_of_threads(output, n_out, shape):
    n, d, hidden = shape
    X, y, weights, w = make_problem(output, n_out, n=n, d=d, n_hidden=hidden)
    order = np.random.default_rng(0).permutation(n)
    runs = []
    for threads in (1, 2):
        ws = [W.copy() for W in weights]
        state = [np.zeros_like(W) for _ in range(2) for W in ws]
        curve, _ = core_train(X, y, ws, 0.001, 2, threads, batch_size=1000, order=order, solver="adam",
                              solver_state=state, tol=None, output=output, sample_weight=w)
        runs.append((curve, ws))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_all_ones_weights_are_the_unweighted_fit():
    X, y, weights, _ = make_problem("logistic", 1, n=500, weighted=False)
    runs = []
    for w in (None, np.ones(500)):
        ws = [W.copy() for W in weights]
        curve, _ = core_train(X, y, ws, 0.5, 5, 2, batch_size=100, tol=None, sample_weight=w)
        runs.append((curve, ws))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-13)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_core_predict_equals_reference(output, n_out, shape, dtype):
    n, d, hidden = shape
    X, _, weights, _ = make_problem(output, n_out, n=n, d=d, n_hidden=hidden, dtype=dtype, weighted=False)
    want = reference.predict_proba(X, weights, "relu", output=output)
    for threads in (1, 2):
        p = _core.predict_proba(X, weights, threads, False, False, "relu", output=output)
        assert_close(p, want, dtype, "predict_proba")
        assert_close(_core.predictor("relu", output)(X, weights, threads, False, False), want, dtype, "predictor")
    two = _core.predict_proba(X, weights, 1, True, False, "relu", output=output)
    if output == "logistic" and n_out == 1:
        assert_close(two, np.stack([1 - want, want], axis=1), dtype, "two columns")
    else:
        assert_close(two, want, dtype, "two_columns ignored")


def test_exp_output_overflows_as_sklearn_does():
    """exp is not clipped: a logit past log(max) gives inf predictions and a loss that is not finite."""
    X = np.array([[1.0], [2.0]])
    weights = [np.array([[0.0, 800.0]])]
    y = np.array([1.0, 2.0])
    p = _core.predict_proba(X, weights, 1, False, False, "relu", output="exp")
    assert np.isinf(p).all()
    loss, grads = core_loss_and_gradient(X, y, weights, 1, "relu", 0.0, "exp", None)
    with np.errstate(all="ignore"):  # numpy warns of the overflow, as scikit-learn's does
        ref_loss, _ = reference.loss_and_gradient(X, y, weights, "relu", 0.0, output="exp")
    assert not np.isfinite(loss) and not np.isfinite(ref_loss)  # y log(y / inf) + inf: NaN, as in scikit-learn
    assert not np.isfinite(grads[0]).all()


@pytest.mark.parametrize("bad,error,match", [
    (np.ones(5), ValueError, r"sample_weight must have shape \(23,\)"),
    (np.ones((23, 1)), ValueError, r"sample_weight must have shape \(23,\)"),
    (np.r_[np.ones(22), np.inf], ValueError, "sample_weight contains NaN or infinity"),
    (np.r_[np.ones(22), -1.0], ValueError, "sample_weight must be >= 0"),
    (np.zeros(23), ValueError, "sample_weight must not be all zero"),
    (np.array(["a"] * 23), TypeError, "sample_weight must hold numbers"),
])
def test_core_sample_weight_is_checked(bad, error, match):
    X, y, weights, _ = make_problem("identity", 1, weighted=False)
    with pytest.raises(error, match=match):
        core_loss_and_gradient(X, y, weights, 1, "tanh", 0.0, "identity", bad)
    with pytest.raises(error, match=match):
        core_train(X, y, weights, 0.1, 1, 1, output="identity", sample_weight=bad)


def test_core_sample_weight_is_converted_to_the_dtype_of_X():
    X, y, weights, w = make_problem("identity", 3, dtype=np.float32)
    want = core_loss_and_gradient(X, y, weights, 1, "tanh", 0.1, "identity", w)
    integers = np.arange(23) % 3
    want_int = core_loss_and_gradient(X, y, weights, 1, "tanh", 0.1, "identity", integers.astype(np.float32))
    for given, expected in ((w.astype(np.float64), want), (list(w.astype(np.float64)), want),
                            (w[::-1].copy()[::-1], want), (integers, want_int), (integers.astype(bool), None)):
        got = core_loss_and_gradient(X, y, weights, 1, "tanh", 0.1, "identity", given)
        assert got[1][0].dtype == np.float32
        if expected is not None:
            assert got[0] == expected[0]
            for a, b in zip(got[1], expected[1]):
                np.testing.assert_array_equal(a, b)


def test_core_output_is_checked():
    X, y, weights, _ = make_problem("identity", 1, weighted=False)
    with pytest.raises(ValueError, match="output must be None or one of"):
        core_loss_and_gradient(X, y, weights, 1, "tanh", 0.0, "poisson", None)
    with pytest.raises(ValueError, match="output='softmax' needs at least 2 output units"):
        _core.predict_proba(X, weights, 1, False, False, "tanh", output="softmax")
    with pytest.raises(TypeError, match="output must be None or a string"):
        core_train(X, y, weights, 0.1, 1, 1, output=3)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("output,n_out", CASES, ids=CASE_IDS)
def test_gradient_check_covers_every_output_with_weights(output, n_out, backend):
    from backprop._gradcheck import gradient_check

    X, y, weights, w = make_problem(output, n_out, n=40, n_hidden=(4,))
    result = gradient_check(X, y, weights, backend=backend, n_threads=2, activation="tanh", alpha=0.3, output=output,
                            sample_weight=w)
    assert result.ok, str(result)
    assert result.n_checked == sum(W.size for W in weights)
    want, _ = reference.loss_and_gradient(X, y, weights, "tanh", 0.3, output=output, sample_weight=w)
    assert result.loss == pytest.approx(want, rel=1e-10)


def test_check_gradients_takes_sample_weight():
    import backprop

    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.arange(30) % 3
    w = np.random.default_rng(1).uniform(0, 2, size=30)
    for backend in ("cpp", "numpy"):
        model = backprop.NeuralNetwork(n_hidden=(4,), activation="tanh", backend=backend, alpha=0.1)
        assert backprop.check_gradients(model, X, y, sample_weight=w).ok
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        backprop.check_gradients(model, X, y, sample_weight=w[:5])


@pytest.mark.parametrize("shuffled", [False, True], ids=["natural", "perm"])
def test_core_weighted_narrow_tail_equals_reference(shuffled, dtype):
    """Batches of several blocks, handed out in parts: the network's narrow sigmoid end runs in the
    narrow tail, weighted as the row kernels are."""
    n = 2000
    X, y, weights, w = make_problem("logistic", 1, n=n, d=5, n_hidden=(6, 3), dtype=dtype)
    order = np.stack([np.random.default_rng(e).permutation(n) for e in range(2)]) if shuffled else None
    options = dict(activation="sigmoid", alpha=0.2, batch_size=1024, order=order, solver="adam", tol=None,
                   sample_weight=w)
    ref_w = [W.copy() for W in weights]
    ref_state = [np.zeros_like(W) for _ in range(2) for W in ref_w]
    want = reference.train(X, y, ref_w, 0.01, 2, solver_state=ref_state, **options)
    for threads in (1, 2):
        ws = [W.copy() for W in weights]
        state = [np.zeros_like(W) for _ in range(2) for W in ws]
        curve, _ = core_train(X, y, ws, 0.01, 2, threads, solver_state=state, **options)
        assert_close(curve, want, dtype, "loss curve")
        for a, b in zip(ws, ref_w):
            assert_close(a, b, dtype, "weights")
