"""A fit that learns nothing says so: backprop.ConvergenceWarning, on both backends; the
article's own runs stay silent."""

import warnings

import numpy as np
import pytest

import backprop
from backprop import ConvergenceWarning, NeuralNetwork

BACKENDS = ["cpp", "numpy"]


def test_it_is_a_user_warning_exported_by_backprop():
    assert issubclass(ConvergenceWarning, UserWarning) and backprop.ConvergenceWarning is ConvergenceWarning
    assert "ConvergenceWarning" in backprop.__all__


@pytest.mark.parametrize("backend", BACKENDS)
def test_unscaled_features_that_teach_nothing_warn(backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)) * 1000 + 5000  # unscaled, as a raw CSV of measurements
    y = (X[:, 0] > 5000).astype(int)
    with pytest.warns(ConvergenceWarning, match="predicts the single class .* for every training sample.*unscaled"):
        model = NeuralNetwork(n_hidden=(8, 3), max_iter=200, random_state=0, backend=backend).fit(X, y)
    assert len(set(model.predict(X))) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_classes_and_filtering(backend):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 2)) * 1e4
    y = np.repeat(["a", "b", "c"], 30)
    model = NeuralNetwork(n_hidden=(2,), max_iter=1, learning_rate=1e-9, random_state=0, backend=backend)
    with pytest.warns(ConvergenceWarning, match="holds 3 classes"):
        model.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)  # a category a user can filter
        model.fit(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fit_that_learns_is_silent_and_max_iter_0_asks_for_nothing(backend):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NeuralNetwork(n_hidden=(4,), max_iter=300, random_state=0, backend=backend).fit(X, y)
        NeuralNetwork(n_hidden=(4,), max_iter=0, random_state=0, backend=backend).fit(X, y)


@pytest.mark.parametrize("n_hidden", [(8, 3), ()], ids=["8-3", "logistic"])
def test_the_articles_runs_stay_silent(n_hidden):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=5000, n_features=20, n_informative=15, n_redundant=3,
                               flip_y=0.05, random_state=42)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        NeuralNetwork(n_hidden=n_hidden, learning_rate=1.0, max_iter=2000, random_state=0).fit(X[:4000], y[:4000])
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
