"""NeuralNetwork's scikit-learn style API, on both backends."""

import pickle

import numpy as np
import pytest
from conftest import make_data

from backprop import NeuralNetwork, NotFittedError

# Most fits here are tiny (a few iterations on a few rows): they test plumbing, not learning,
# and many end predicting one class, which ConvergenceWarning rightly reports.
pytestmark = pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")

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
        activation="sigmoid",
        init="normal",
        solver="gd",
        batch_size=None,
        alpha=0.0,
        momentum=0.9,
        nesterov=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        verbose=False,
        callback=None,
        class_weight=None,
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
    "labels", [np.array([3, 7]), np.array(["no", "yes"]), np.array([False, True]), np.array([-1.0, 2.0])]
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


# Every case raises the same error on both backends (validation happens before any backend runs).
BAD_FIT_INPUT = {
    "X 1-D": (np.zeros(5), np.arange(5) % 2, ValueError, "must be 2-D.*Reshape your data"),
    "X 3-D": (np.zeros((2, 3, 1)), np.arange(2) % 2, ValueError, "must be 2-D"),
    "X 0-D": (np.float64(3.0), np.arange(1) % 2, ValueError, "must be 2-D"),
    "X, y lengths": (np.zeros((5, 2)), np.arange(4) % 2, ValueError, "different numbers of samples: 5 and 4"),
    "y column vector": (np.zeros((5, 2)), np.zeros((5, 1)), ValueError, "y must be 1-D.*column vector"),
    "y 2-D": (np.zeros((4, 2)), np.zeros((4, 2)), ValueError, "y must be 1-D"),
    "y None": (np.zeros((4, 2)), None, ValueError, "requires y to be passed"),
    "NaN in X": (np.full((4, 2), np.nan), np.arange(4) % 2, ValueError, "X contains NaN or infinity"),
    "inf in X": (np.full((4, 2), np.inf), np.arange(4) % 2, ValueError, "X contains NaN or infinity"),
    "-inf in float16 X": (np.array([[0, -np.inf], [1, 1]], np.float16), [0, 1], ValueError, "X contains NaN"),
    "NaN in y": (np.zeros((4, 2)), np.array([0.0, 1.0, np.nan, 1.0]), ValueError, "y contains NaN or infinity"),
    "inf in y": (np.zeros((4, 2)), np.array([0.0, 1.0, np.inf, 1.0]), ValueError, "y contains NaN or infinity"),
    "None in y": (np.zeros((4, 2)), np.array(["a", "b", None, "a"], object), ValueError, "y contains NaN.*None"),
    "one class": (np.zeros((4, 2)), np.zeros(4), ValueError, "only 1 class"),
    # (three classes train a softmax output: tests/test_features.py)
    "continuous y": (np.zeros((6, 2)), np.linspace(0, 1, 6), ValueError, "Unknown label type: continuous"),
    "two non-integer floats in y": (np.zeros((4, 2)), [0.5, 1.5, 0.5, 1.5], ValueError, "Unknown label type: continuous"),
    "unsortable y": (np.zeros((4, 2)), np.array([1, "a", 1, "a"], object), ValueError, "Unknown label type"),
    "0 samples": (np.zeros((0, 2)), np.zeros(0), ValueError, r"0 sample\(s\) \(shape=\(0, 2\)\)"),
    "0 features": (np.zeros((3, 0)), np.arange(3) % 2, ValueError, r"0 feature\(s\) \(shape=\(3, 0\)\)"),
    "strings in X": (np.array([["a", "b"], ["c", "d"]]), np.array([0, 1]), ValueError, "must hold numbers"),
    "dict in X": (np.array([[{}, 1.0], [2.0, 3.0]], object), [0, 1], TypeError, "must hold numbers.*dict"),
    "complex X": (np.ones((2, 2), complex), [0, 1], ValueError, "Complex data not supported"),
    "complex y": (np.ones((2, 2)), np.array([0, 1j]), ValueError, "Complex data not supported"),
    "ragged X": ([[1.0, 2.0], [3.0]], [0, 1], ValueError, "could not be converted"),
    "X a string": ("abc", [0, 1], TypeError, "array-like"),
    "X a dict": ({"a": [1, 2]}, [0, 1], TypeError, "array-like"),
    "datetimes": (np.zeros((2, 2), "datetime64[s]"), [0, 1], TypeError, "must hold numbers"),
    "digit strings in X": (np.array([["1", "2"], ["3", "4"]]), [0, 1], ValueError,
                           "dtype='numeric' is not compatible with arrays of bytes/strings. Convert your data"),
    "digit bytes in X": (np.array([[b"1", b"2"], [b"3", b"4"]]), [0, 1], ValueError, "arrays of bytes/strings"),
    "digit strings in a list": ([["1", "2"], ["3", "4"]], [0, 1], ValueError, "arrays of bytes/strings"),
    "a digit string among numbers": (np.array([[1.0, "2"], [3.0, 4.0]], object), [0, 1], ValueError,
                                     "arrays of bytes/strings"),
}


@pytest.mark.parametrize("X, y, exc, match", BAD_FIT_INPUT.values(), ids=BAD_FIT_INPUT.keys())
def test_bad_input_gets_a_clear_error(X, y, exc, match, backend):
    with pytest.raises(exc, match=match):
        NeuralNetwork(n_hidden=(2,), max_iter=1, backend=backend).fit(X, y)


def test_sparse_input_is_refused_with_a_hint(backend):
    sparse = pytest.importorskip("scipy.sparse")
    X, y = make_data(10, 3)
    nn = NeuralNetwork(n_hidden=(2,), max_iter=1, backend=backend)
    for container in (sparse.csr_matrix, sparse.csr_array, sparse.coo_matrix):
        with pytest.raises(TypeError, match=r"sparse input is not supported.*toarray\(\)"):
            nn.fit(container(X), y)
    nn.fit(X, y)
    with pytest.raises(TypeError, match="sparse"):
        nn.predict(sparse.csr_matrix(X))


BAD_PARAMS = {
    "learning_rate": [-1.0, 0.0, float("nan"), float("inf"), "1.0", None],
    "max_iter": [-1, 2.5, None, True, "10"],
    "n_hidden": [(3, 0), (-2,), "12", (2.5,), (True,), None, [4, None], 0, {4: 1}],
    "threshold": [1.5, -0.1, float("nan"), "0.5", None],
    "backend": ["fortran", None, "CPP", ["cpp"]],
    "n_threads": [0, -1, 1.5, "2"],
    "random_state": ["seed", -1, 1.5],
}


@pytest.mark.parametrize(
    "name, value", [(k, v) for k, vs in BAD_PARAMS.items() for v in vs], ids=lambda v: repr(v)[:12]
)
def test_bad_hyper_parameters_are_named_at_fit(name, value, backend):
    X, y = make_data(10, 2)
    nn = NeuralNetwork(n_hidden=(2,), max_iter=3, random_state=0, backend=backend).fit(X, y)
    before = [W.copy() for W in nn.weights_]
    nn.set_params(**{name: value})  # stored, not checked
    with pytest.raises(ValueError, match=name):
        nn.fit(X, y)
    for a, b in zip(nn.weights_, before):  # the failed fit left the fitted model as it was
        np.testing.assert_array_equal(a, b)


def test_predict_checks_threshold_and_backend_set_after_fit(backend):
    X, y = make_data(10, 2)
    nn = NeuralNetwork(n_hidden=(2,), max_iter=3, backend=backend).fit(X, y)
    nn.threshold = 2.0
    with pytest.raises(ValueError, match="threshold"):
        nn.predict(X)
    nn.set_params(threshold=0.5, backend="gpu")
    with pytest.raises(ValueError, match="backend"):
        nn.predict_proba(X)


@pytest.mark.parametrize("fit_dtype", [np.float64, np.float32])
def test_bad_input_at_predict_time(backend, fit_dtype):
    X, y = make_data(20, 3, fit_dtype)
    nn = NeuralNetwork(n_hidden=(2,), max_iter=2, backend=backend).fit(X, y)
    cases = [
        (np.zeros((2, 4)), "X has 4 features, but NeuralNetwork is expecting 3 features as input"),
        (np.full((2, 3), np.nan), "NaN or infinity"),
        (np.zeros(3), "Reshape your data"),
        (np.zeros((2, 0)), "X has 0 features"),
    ]
    if fit_dtype == np.float32:  # finite in float64, not in the model's float32
        cases.append((np.full((2, 3), 1e300), "too large for float32"))
    for X_bad, match in cases:
        for method in (nn.predict, nn.predict_proba):
            with pytest.raises(ValueError, match=match):
                method(X_bad)
    assert nn.predict_proba(np.zeros((0, 3))).shape == (0, 2)


@pytest.mark.parametrize("value, expected", [("1", 1), ("1000", None), ("0", None), ("x", None), ("1,2", 1)])
def test_n_threads_none_follows_omp_num_threads(value, expected):
    """OMP_NUM_THREADS (what joblib's workers get) caps n_threads=None; nonsense is ignored."""
    import os
    import subprocess
    import sys

    code = "import backprop._params as p, backprop._core as c; print(p.resolved_threads(None), c.default_threads())"
    env = dict(os.environ, OMP_NUM_THREADS=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got, cores = map(int, out.stdout.split())
    assert got == (cores if expected is None else min(expected, cores))


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit: only the columns' type matters
def test_a_dataframe_of_digit_strings_is_refused():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": ["1", "2", "3", "4"], "b": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="X must hold numbers: dtype='numeric' is not compatible"):
        NeuralNetwork(n_hidden=(2,), max_iter=1).fit(frame, [0, 1, 0, 1])
    model = NeuralNetwork(n_hidden=(2,), max_iter=1).fit(frame.astype({"a": float}), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="arrays of bytes/strings"):
        model.predict(frame)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # tiny fits: only the labels' kind matters
@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_score_refuses_labels_of_another_kind_than_classes(backend):
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.arange(30) % 2
    numbers = NeuralNetwork(n_hidden=(3,), max_iter=3, random_state=0, backend=backend).fit(X, y)
    with pytest.raises(ValueError, match=r"Mix of label input types \(string and number\): y holds strings"):
        numbers.score(X, y.astype(str))
    with pytest.raises(ValueError, match="Mix of label input types"):
        numbers.score(X, y.astype(str).astype(object))
    assert numbers.score(X, y.astype(float)) == numbers.score(X, y)  # numeric kinds compare as numbers
    strings = NeuralNetwork(n_hidden=(3,), max_iter=3, random_state=0, backend=backend).fit(X, y.astype(str))
    with pytest.raises(ValueError, match="y holds numbers .* but the classes are strings"):
        strings.score(X, y)
    assert strings.score(X, y.astype(str)) == numbers.score(X, y)
    with pytest.raises(ValueError, match="Mix of label input types"):  # the same rule where partial_fit maps y
        NeuralNetwork(n_hidden=(3,), max_iter=1).partial_fit(X, y.astype(str), classes=[0, 1])
