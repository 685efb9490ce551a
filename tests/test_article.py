"""The article's experiment, reproduced on both backends (make_classification, 4000 train / 1000 test)."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from backprop import NeuralNetwork, StabilityWarning  # noqa: E402


@pytest.fixture(scope="module")
def article_data():
    X, y = make_classification(
        n_samples=5000,
        n_features=20,
        n_informative=15,
        n_redundant=3,
        n_repeated=0,
        n_classes=2,
        flip_y=0.05,
        class_sep=1.0,
        shuffle=True,
        random_state=42,
    )
    return X[:4000], y[:4000], X[4000:], y[4000:]


# slow: the numpy backend's 2000-iteration runs take minutes under the sanitizer job (.ci/sanitize),
# which skips them: they run no C++.
@pytest.mark.parametrize("backend", ["cpp", pytest.param("numpy", marks=pytest.mark.slow)])
def test_logistic_regression_run(article_data, backend):
    X_train, y_train, X_test, y_test = article_data
    nn = NeuralNetwork(n_hidden=(), max_iter=2000, random_state=0, backend=backend)
    # the run oscillates (see README), and the stability guard says so, naming 2/L = 0.136
    with pytest.warns(StabilityWarning, match=r"largest stable learning rate is about 0\.136") as record:
        nn.fit(X_train, y_train)
    assert len([w for w in record if w.category is StabilityWarning]) == 1  # once
    acc = nn.score(X_test, y_test)
    assert 0.70 <= acc <= 0.75  # the article: 0.717


@pytest.mark.parametrize("backend", ["cpp", pytest.param("numpy", marks=pytest.mark.slow)])
def test_two_hidden_layer_run(article_data, backend):
    X_train, y_train, X_test, y_test = article_data
    nn = NeuralNetwork(n_hidden=(8, 3), max_iter=2000, random_state=0, backend=backend).fit(X_train, y_train)
    acc = nn.score(X_test, y_test)
    auc = roc_auc_score(y_test, nn.predict_proba(X_test)[:, 1])
    assert acc >= 0.89 and auc >= 0.93  # the article: 0.91 and 0.96
    assert nn.score(X_train, y_train) > acc  # it fits the training set more closely


@pytest.mark.slow
def test_backends_agree_on_the_article_run(article_data):
    """Strictly equal for 1000 iterations; by 2000 the ulp-level differences of the two backends
    (summation order, FMA) have grown to ~1e-8 relative in the weights: full-batch descent at
    learning_rate=1.0 amplifies them (a property of the dynamics, measured, not of either code)."""
    X_train, y_train, X_test, y_test = article_data
    kw = dict(n_hidden=(8, 3), max_iter=1000, random_state=0)
    cpp = NeuralNetwork(**kw).fit(X_train, y_train)
    ref = NeuralNetwork(backend="numpy", **kw).fit(X_train, y_train)
    for a, b in zip(cpp.weights_, ref.weights_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cpp.loss_curve_, ref.loss_curve_, rtol=1e-10)
    cpp.set_params(warm_start=True).fit(X_train, y_train)
    ref.set_params(warm_start=True).fit(X_train, y_train)
    np.testing.assert_allclose(cpp.predict_proba(X_test), ref.predict_proba(X_test), rtol=1e-5, atol=1e-7)
    assert abs(cpp.score(X_test, y_test) - ref.score(X_test, y_test)) <= 0.002
