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
