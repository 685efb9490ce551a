"""NeuralNetwork's scikit-learn style API, on both backends."""

import pickle

import numpy as np
import pytest
from conftest import make_data

from backprop import NeuralNetwork, NotFittedError

BACKENDS = ["cpp", "numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def test_constructor_only_stores_parameters():
    nn = NeuralNetwork(n_hidden=[8, 3], learning_rate="not checked yet", max_iter=-1)
    assert nn.n_hidden == [8, 3] and nn.learning_rate == "not checked yet" and nn.max_iter == -1
    assert not any(k.endswith("_") for k in vars(nn))


def test_get_params_set_params_round_trip():
    nn = NeuralNetwork()
    params = nn.get_params()
    assert params == dict(
        n_hidden=(100,),
        learning_rate=1.0,
        max_iter=10,
        threshold=0.5,
        random_state=None,
        warm_start=False,
        backend="cpp",
        n_threads=None,
    )
    assert nn.set_params(max_iter=5, n_hidden=(2,)) is nn
    assert nn.get_params()["max_iter"] == 5 and nn.n_hidden == (2,)
    with pytest.raises(ValueError, match="invalid parameter 'bogus'"):
        nn.set_params(bogus=1)
    assert "max_iter=5" in repr(nn)


def test_fit_returns_self_and_sets_fitted_attributes(backend, dtype):
    X, y = make_data(60, 5, dtype)
    nn = NeuralNetwork(n_hidden=(4, 3), max_iter=7, random_state=0, backend=backend)
    assert nn.fit(X, y) is nn
    assert [W.shape for W in nn.weights_] == [(4, 6), (3, 5), (1, 4)]
    assert all(W.dtype == dtype for W in nn.weights_)
    assert nn.n_features_in_ == 5 and nn.n_iter_ == 7
    assert nn.loss_curve_.shape == (7,) and nn.loss_curve_.dtype == dtype
    np.testing.assert_array_equal(nn.classes_, [0.0, 1.0])


@pytest.mark.parametrize(
    "labels", [np.array([3, 7]), np.array(["no", "yes"]), np.array([False, True]), np.array([-1.5, 2.0])]
)
def test_any_two_labels(labels, backend):
    X, y01 = make_data(80, 3)
    y = labels[y01.astype(int)]
    nn = NeuralNetwork(n_hidden=(4,), max_iter=200, learning_rate=0.5, random_state=0, backend=backend).fit(X, y)
    np.testing.assert_array_equal(nn.classes_, np.sort(labels))
    pred = nn.predict(X)
    assert pred.dtype == labels.dtype and set(pred) <= set(labels)
    proba = nn.predict_proba(X)
    assert proba.shape == (80, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # column 1 is P(classes_[1]); predict follows it at the threshold
    np.testing.assert_array_equal(pred, nn.classes_[(proba[:, 1] >= 0.5).astype(int)])
    assert nn.score(X, y) == np.mean(pred == y) > 0.7


def test_threshold_moves_the_decision(backend):
    X, y = make_data(100, 4)
    nn = NeuralNetwork(n_hidden=(3,), max_iter=50, random_state=0, backend=backend).fit(X, y)
    p1 = nn.predict_proba(X)[:, 1]
    for t in (0.0, 0.3, 0.5, 0.9, 1.0):
        nn.threshold = t
        np.testing.assert_array_equal(nn.predict(X), (p1 >= t).astype(float))


def test_float32_trains_and_predicts_in_float32(backend):
    X, y = make_data(50, 4, np.float32)
    nn = NeuralNetwork(n_hidden=(3,), max_iter=5, random_state=0, backend=backend).fit(X, y)
    assert nn.weights_[0].dtype == np.float32
    assert nn.predict_proba(X).dtype == np.float32
    assert nn.predict_proba(X.astype(np.float64)).dtype == np.float32


def test_int_and_bool_and_list_input_is_treated_as_float64(backend):
    X, y = make_data(40, 3)
    Xi = np.round(X * 10).astype(np.int32)
    a = NeuralNetwork(n_hidden=(2,), max_iter=5, random_state=1, backend=backend).fit(Xi, y)
    b = NeuralNetwork(n_hidden=(2,), max_iter=5, random_state=1, backend=backend).fit(Xi.astype(float).tolist(), list(y))
    assert a.weights_[0].dtype == np.float64
    for Wa, Wb in zip(a.weights_, b.weights_):
        np.testing.assert_array_equal(Wa, Wb)
    NeuralNetwork(n_hidden=(2,), max_iter=2, backend=backend).fit(Xi > 0, y)


def test_warm_start_continues_training(backend):
    X, y = make_data(70, 4)
    kw = dict(n_hidden=(3,), random_state=5, backend=backend)
    once = NeuralNetwork(max_iter=30, **kw).fit(X, y)
    twice = NeuralNetwork(max_iter=15, warm_start=True, **kw).fit(X, y).fit(X, y)
    assert twice.n_iter_ == 30
    np.testing.assert_allclose(twice.loss_curve_, once.loss_curve_, rtol=1e-12)
    for a, b in zip(twice.weights_, once.weights_):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    cold = NeuralNetwork(max_iter=15, **kw).fit(X, y).fit(X, y)  # no warm start: starts over
    np.testing.assert_array_equal(cold.loss_curve_, once.loss_curve_[:15])


def test_warm_start_from_assigned_weights_makes_backends_agree():
    X, y = make_data(90, 5)
    rng = np.random.default_rng(0)
    w0 = [rng.normal(size=(4, 6)), rng.normal(size=(1, 5))]
    models = []
    for backend in BACKENDS:
        nn = NeuralNetwork(n_hidden=(4,), max_iter=20, warm_start=True, backend=backend)
        nn.weights_ = [W.copy() for W in w0]
        models.append(nn.fit(X, y))
    for a, b in zip(*(m.weights_ for m in models)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert not np.array_equal(models[0].weights_[0], w0[0])
    bad = NeuralNetwork(n_hidden=(4,), warm_start=True)
    bad.weights_ = [np.zeros((3, 6)), np.zeros((1, 4))]
    with pytest.raises(ValueError, match="weights_ have shapes"):
        bad.fit(X, y)


def test_pickle_round_trip_gives_identical_predictions(backend, dtype):
    X, y = make_data(50, 4, dtype)
    nn = NeuralNetwork(n_hidden=(5, 2), max_iter=20, random_state=0, backend=backend).fit(X, y)
    clone = pickle.loads(pickle.dumps(nn))
    np.testing.assert_array_equal(clone.predict_proba(X), nn.predict_proba(X))
    np.testing.assert_array_equal(clone.predict(X), nn.predict(X))
    assert clone.get_params() == nn.get_params()


def test_max_iter_zero_keeps_initial_weights(backend):
    X, y = make_data(20, 3)
    nn = NeuralNetwork(n_hidden=(2,), max_iter=0, random_state=0, backend=backend).fit(X, y)
    assert nn.n_iter_ == 0 and nn.loss_curve_.shape == (0,)


def test_predict_before_fit_raises_not_fitted(backend):
    nn = NeuralNetwork(backend=backend)
    for method in (nn.predict, nn.predict_proba):
        with pytest.raises(NotFittedError, match="not fitted"):
            method(np.zeros((2, 3)))
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


@pytest.mark.parametrize(
    "X, y, match",
    [
        (np.zeros(5), np.arange(5) % 2, "must be 2-D"),
        (np.zeros((2, 3, 1)), np.arange(2) % 2, "must be 2-D"),
        (np.zeros((5, 2)), np.arange(4) % 2, "different numbers of samples"),
        (np.zeros((5, 2)), np.zeros((5, 1)), "y must be 1-D"),
        (np.full((4, 2), np.nan), np.arange(4) % 2, "NaN or infinity"),
        (np.full((4, 2), np.inf), np.arange(4) % 2, "NaN or infinity"),
        (np.zeros((4, 2)), np.array([0.0, 1.0, np.nan, 1.0]), "NaN or infinity"),
        (np.zeros((4, 2)), np.zeros(4), "exactly two classes"),
        (np.zeros((6, 2)), np.arange(6) % 3, "exactly two classes"),
        (np.zeros((0, 2)), np.zeros(0), "at least one sample"),
        (np.zeros((3, 0)), np.arange(3) % 2, "at least one feature"),
        (np.array([["a", "b"], ["c", "d"]]), np.array([0, 1]), "must hold numbers"),
    ],
)
def test_bad_input_gets_a_clear_error(X, y, match, backend):
    with pytest.raises(ValueError, match=match):
        NeuralNetwork(n_hidden=(2,), max_iter=1, backend=backend).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=float("nan")), "learning_rate"),
        (dict(max_iter=-1), "max_iter"),
        (dict(max_iter=2.5), "max_iter"),
        (dict(n_hidden=(3, 0)), "n_hidden"),
        (dict(n_hidden=(-2,)), "n_hidden"),
        (dict(threshold=1.5), "threshold"),
        (dict(backend="fortran"), "backend"),
        (dict(n_threads=0), "n_threads"),
    ],
)
def test_bad_hyper_parameters_are_named(params, match):
    X, y = make_data(10, 2)
    with pytest.raises(ValueError, match=match):
        NeuralNetwork(**params).fit(X, y)


def test_wrong_n_features_at_predict_time(backend):
    X, y = make_data(20, 3)
    nn = NeuralNetwork(n_hidden=(2,), max_iter=2, backend=backend).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but NeuralNetwork was fitted with 3"):
        nn.predict_proba(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        nn.predict(np.full((2, 3), np.nan))


def test_huge_inputs_give_finite_probabilities(backend):
    X, y = make_data(30, 3)
    X[0] = [1e300, -1e300, 1e300]
    nn = NeuralNetwork(n_hidden=(4,), max_iter=20, random_state=0, backend=backend).fit(X, y)
    assert all(np.isfinite(W).all() for W in nn.weights_)
    assert np.isfinite(nn.loss_curve_).all()
    p = nn.predict_proba(X)
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
