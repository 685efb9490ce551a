"""scikit-learn compatibility, proven by scikit-learn's own estimator checks and its meta-estimators.

scikit-learn is a test dependency only: backprop never imports it (see
test_backprop_does_not_import_sklearn).
"""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")
from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from backprop import NeuralNetwork, NotFittedError  # noqa: E402

# Checks that fail by design, with the reason.  Unsupported features that scikit-learn can skip
# by itself are declared through the tags instead (NeuralNetwork.__sklearn_tags__): sparse input
# (input_tags.sparse=False: the sparse checks expect a clear TypeError), NaN
# (input_tags.allow_nan=False).  Multi-class is supported
# (classifier_tags.multi_class=True): the multi-class checks run and pass.
# Skipped by scikit-learn itself: check_array_api_input (only runs with SCIPY_ARRAY_API=1 set
# before scipy is imported; NeuralNetwork does not claim array-API support anyway).
EXPECTED_FAILED_CHECKS = {
    "check_supervised_y_2d": (
        "a column-vector y of shape (n, 1) is a ValueError by design (a wrong ndim is an "
        "error), where scikit-learn warns with DataConversionWarning and ravels it"
    ),
}

# Small networks so the ~50 checks per estimator take a few seconds; both backends.  200 iterations:
# the multi-class checks want a training accuracy above 0.83 on a 3-class problem.
ESTIMATORS = [
    NeuralNetwork(n_hidden=(5,), max_iter=200, random_state=0, solver="adam", learning_rate=0.05),
    NeuralNetwork(n_hidden=(3,), max_iter=200, random_state=0, learning_rate=0.3, backend="numpy"),
]


# NeuralNetwork does not inherit from sklearn.base.BaseEstimator on purpose (numpy is the only
# runtime dependency); it implements the protocol by hand, which is what the checks verify.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Estimator NeuralNetwork does not inherit from", UserWarning)
    _sklearn_checks = parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
@_sklearn_checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) * [1, 10, 100, 0.1] + [0, 5, -50, 0]
    y = np.where(X[:, 0] + X[:, 1] / 10 + 0.3 * rng.normal(size=n) > 0.5, "yes", "no")
    return X, y


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_in_a_pipeline(backend):
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), NeuralNetwork(n_hidden=(4,), max_iter=200, random_state=0, backend=backend))
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.8
    assert pipe.predict_proba(X).shape == (120, 2)
    assert set(pipe.predict(X)) <= {"no", "yes"}
    np.testing.assert_array_equal(pipe.classes_, ["no", "yes"])


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_in_grid_search():
    X, y = _data()
    X = StandardScaler().fit_transform(X)
    grid = GridSearchCV(
        NeuralNetwork(max_iter=100, random_state=0),
        {"n_hidden": [(), (3,)], "learning_rate": [0.1, 1.0], "backend": ["cpp", "numpy"]},
        cv=3,
    )
    grid.fit(X, y)
    assert set(grid.best_params_) == {"n_hidden", "learning_rate", "backend"}
    assert grid.best_score_ > 0.8
    scores = grid.cv_results_["mean_test_score"].reshape(2, 4)  # keys sorted: backend varies slowest
    assert list(grid.cv_results_["param_backend"][::4]) == ["cpp", "numpy"]
    np.testing.assert_allclose(scores[0], scores[1])  # the two backends score the same
    assert isinstance(grid.best_estimator_, NeuralNetwork) and grid.best_estimator_.n_iter_ == 100


def test_cross_val_score_is_stratified_and_reproducible():
    X, y = _data()
    X = StandardScaler().fit_transform(X)
    nn = NeuralNetwork(n_hidden=(3,), max_iter=100, random_state=0)
    assert is_classifier(nn)  # so cross_val_score uses StratifiedKFold
    a = cross_val_score(nn, X, y, cv=4)
    b = cross_val_score(nn.set_params(backend="numpy"), X, y, cv=4)
    assert a.shape == (4,) and a.mean() > 0.8
    np.testing.assert_allclose(a, b)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_clone_copies_parameters_and_drops_the_fit():
    X, y = _data()
    rng = np.random.default_rng(5)
    nn = NeuralNetwork(n_hidden=[3, 2], learning_rate=0.3, max_iter=7, threshold=0.4, random_state=rng, n_threads=1)
    nn.fit(X, y)
    c = clone(nn)
    assert type(c) is NeuralNetwork and c is not nn
    assert c.get_params().keys() == nn.get_params().keys()
    for name, value in nn.get_params().items():
        if name == "random_state":  # clone deep-copies a Generator: same state, another object
            assert c.random_state is not rng and c.random_state.bit_generator.state == rng.bit_generator.state
        else:
            assert getattr(c, name) == value, name
    assert not hasattr(c, "weights_")
    with pytest.raises(NotFittedError):
        c.predict(X)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_not_fitted_error_is_sklearns_too_when_sklearn_is_loaded():
    nn = NeuralNetwork()
    with pytest.raises(SklearnNotFittedError) as info:
        nn.predict_proba(np.zeros((1, 2)))
    err = info.value
    assert isinstance(err, NotFittedError) and isinstance(err, ValueError) and isinstance(err, AttributeError)
    again = pickle.loads(pickle.dumps(err))  # e.g. sent back by a joblib worker
    assert isinstance(again, NotFittedError) and isinstance(again, SklearnNotFittedError)
    assert str(again) == str(err)
    assert sklearn.utils.validation.check_is_fitted(nn.fit(np.eye(2), [0, 1])) is None


def test_backprop_does_not_import_sklearn():
    code = (
        "import sys, numpy as np, backprop\n"
        "nn = backprop.NeuralNetwork(n_hidden=(2,), max_iter=2).fit(np.eye(4), [0, 1, 0, 1])\n"
        "nn.predict(np.eye(4))\n"
        "try:\n    backprop.NeuralNetwork().predict(np.eye(2))\nexcept backprop.NotFittedError:\n    pass\n"
        "assert not any(m == 'sklearn' or m.startswith('sklearn.') for m in sys.modules), 'sklearn imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
