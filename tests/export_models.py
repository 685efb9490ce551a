"""Fitted models and comparisons shared by the export tests (test_onnx.py, test_c_export.py)."""

import functools

import numpy as np

import backprop

ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
DTYPES = (np.float64, np.float32)

# Agreement with predict_proba: relative, with an absolute floor of a few units in the last place
# for the entries that come out of a cancellation (1 - p for p near 1 in two-class models).
TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-15), np.float32: dict(rtol=1e-5, atol=1e-6)}

N_FEATURES = 6


def data(n=240, dtype=np.float64, seed=0):
    """X (n, 6) and a score from a nonlinear rule that the labels below cut into classes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    s = X[:, 0] - 0.5 * X[:, 1] ** 2 + X[:, 2] * X[:, 3] + 0.3 * rng.normal(size=n)
    return X.astype(dtype), s


def labels(s, n_classes, activation):
    """Two classes: strings (sigmoid, relu) or numbers; three: strings (tanh), integral floats
    (relu) or integers.  The label types the exports must carry."""
    if n_classes == 2:
        index = (s > np.quantile(s, 0.6)).astype(int)
        names = np.array(["no", "yes"]) if activation in ("sigmoid", "relu") else np.array([-3, 7])
    else:
        index = np.digitize(s, np.quantile(s, [1 / 3, 2 / 3]))
        names = {"tanh": np.array(["a", "b", "c"]), "relu": np.array([0.0, 1.0, 2.0])}.get(activation, np.array([0, 1, 2]))
    return names[index]


def threshold(n_classes, activation):
    """Not 0.5 for half of the two-class models, so that the label rule is really tested."""
    return 0.3 if n_classes == 2 and activation in ("sigmoid", "tanh") else 0.5


@functools.lru_cache(maxsize=None)
def fitted(activation, n_classes, dtype):
    """A small fitted NeuralNetwork (6 -> 5 -> 4 -> output), cached across tests."""
    X, s = data(dtype=dtype)
    model = backprop.NeuralNetwork(
        n_hidden=(5, 4),
        activation=activation,
        init="glorot",
        solver="adam",
        learning_rate=0.02,
        max_iter=60,
        threshold=threshold(n_classes, activation),
        random_state=0,
    )
    return model.fit(X, labels(s, n_classes, activation))


@functools.lru_cache(maxsize=None)
def fitted_pipeline(n_classes, dtype, activation="tanh"):
    """A fitted Pipeline of a StandardScaler and a NeuralNetwork, on features far from standard."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, s = data(dtype=dtype, seed=1)
    X = (X * np.array([1, 10, 100, 0.1, 3, 1000]) + np.array([5, -20, 300, 0, 1, 1e4])).astype(dtype)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("nn", backprop.NeuralNetwork(n_hidden=(5,), activation=activation, solver="adam", learning_rate=0.02,
                                          max_iter=60, threshold=threshold(n_classes, "sigmoid"), random_state=0)),
        ]
    )
    return pipe.fit(X, labels(s, n_classes, "tanh")), X


def rows_to_predict(dtype, n=200):
    """Rows to predict: fresh data, some of it spread wider so that the outputs saturate."""
    X, _ = data(n=n, dtype=dtype, seed=7)
    X[n // 2 :] *= 4
    return X.astype(dtype)


def assert_proba_close(got, want, dtype, what=""):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.isfinite(got).all(), f"{what}: non-finite values"
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    rel = diff / np.maximum(np.abs(want.astype(np.float64)), np.finfo(np.float64).tiny)
    np.testing.assert_allclose(
        got, want, **TOLERANCE[np.dtype(dtype).type],
        err_msg=f"{what}: max abs diff {diff.max(initial=0):.3e}, max rel diff {rel.max(initial=0):.3e}",
    )


def model_cases():
    """(activation, n_classes, dtype) for every activation, output kind and dtype."""
    return [(a, k, d) for a in ACTIVATIONS for k in (2, 3) for d in DTYPES]


def case_id(case):
    a, k, d = case
    return f"{a}-{'binary' if k == 2 else '3class'}-{np.dtype(d).name}"
