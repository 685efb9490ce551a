"""NeuralNetwork with sample_weight and class_weight, predict_log_proba, and their persistence."""

import pickle

import numpy as np
import pytest

import backprop
from backprop import NeuralNetwork, _training, reference

from conftest import make_data

# Most fits here are tiny (a few iterations on a few rows): they test plumbing, not learning,
# and many end predicting one class, which ConvergenceWarning rightly reports.
pytestmark = pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")


def _data(n=60, d=3, k=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (np.arange(n) % k) if k > 2 else (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("solver,batch_size", [("gd", None), ("adam", 16), ("momentum", 7)])
def test_weighted_fit_is_the_same_on_both_backends(k, solver, batch_size):
    X, y = _data(k=k)
    w = np.random.default_rng(1).uniform(0, 3, size=X.shape[0])
    fits = [
        NeuralNetwork(n_hidden=(4,), solver=solver, batch_size=batch_size, learning_rate=0.1, max_iter=15, alpha=0.1,
                      random_state=0, backend=backend).fit(X, y, sample_weight=w)
        for backend in ("cpp", "numpy")
    ]
    np.testing.assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-10)
    for a, b in zip(fits[0].weights_, fits[1].weights_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_integer_weights_are_repeated_rows():
    X, y = _data()
    w = np.arange(X.shape[0]) % 3
    rows = np.repeat(np.arange(X.shape[0]), w)
    params = dict(n_hidden=(3,), max_iter=20, random_state=0, alpha=0.5)
    a = NeuralNetwork(**params).fit(X, y, sample_weight=w)
    b = NeuralNetwork(**params).fit(X[rows], y[rows])
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
    for Wa, Wb in zip(a.weights_, b.weights_):
        np.testing.assert_allclose(Wa, Wb, rtol=1e-10, atol=1e-14)


def test_weights_change_the_fit_and_ones_do_not():
    X, y = _data()
    params = dict(n_hidden=(3,), max_iter=20, random_state=0)
    plain = NeuralNetwork(**params).fit(X, y)
    ones = NeuralNetwork(**params).fit(X, y, sample_weight=np.ones(X.shape[0]))
    other = NeuralNetwork(**params).fit(X, y, sample_weight=np.linspace(0, 2, X.shape[0]))
    np.testing.assert_allclose(plain.loss_curve_, ones.loss_curve_, rtol=1e-13)
    assert not np.allclose(plain.loss_curve_, other.loss_curve_)


def test_class_weight_is_the_sample_weight_of_each_class():
    X, y = _data(k=3)
    params = dict(n_hidden=(3,), max_iter=10, random_state=0, learning_rate=0.5)
    cw = {0: 2.0, 2: 0.5}  # class 1 omitted: weight 1
    a = NeuralNetwork(class_weight=cw, **params).fit(X, y)
    b = NeuralNetwork(**params).fit(X, y, sample_weight=np.array([2.0, 1.0, 0.5])[y])
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    # and both multiply
    sw = np.random.default_rng(0).uniform(0.5, 1.5, size=X.shape[0])
    c = NeuralNetwork(class_weight=cw, **params).fit(X, y, sample_weight=sw)
    d = NeuralNetwork(**params).fit(X, y, sample_weight=sw * np.array([2.0, 1.0, 0.5])[y])
    np.testing.assert_array_equal(c.loss_curve_, d.loss_curve_)


def test_class_weight_labels_are_the_models_labels():
    X, y = _data()
    labels = np.array(["no", "yes"])[y]
    a = NeuralNetwork(n_hidden=(), max_iter=5, random_state=0, class_weight={"yes": 3.0}).fit(X, labels)
    b = NeuralNetwork(n_hidden=(), max_iter=5, random_state=0).fit(X, labels, sample_weight=np.where(y == 1, 3.0, 1.0))
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    with pytest.raises(ValueError, match=r"class_weight has labels that are not classes: \['maybe'\]"):
        NeuralNetwork(class_weight={"maybe": 1.0}).fit(X, labels)


@pytest.mark.no_kernels
def test_balanced_is_sklearns_compute_class_weight():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 1, 2, 2, 2, 2, 2, 3])
    classes = np.unique(y)
    ours = _training.class_weights("balanced", classes, np.searchsorted(classes, y))
    np.testing.assert_allclose(ours, compute_class_weight("balanced", classes=classes, y=y), rtol=1e-15)
    labels = np.array(["a", "b", "b"])
    ours = _training.class_weights("balanced", np.array(["a", "b"]), np.array([0, 1, 1]))
    np.testing.assert_allclose(ours, compute_class_weight("balanced", classes=np.array(["a", "b"]), y=labels))


def test_balanced_fit():
    X, y = _data(n=90, k=3)
    y = y.copy()
    y[:30] = 0  # unbalanced: class 0 holds more rows
    counts = np.bincount(y)
    a = NeuralNetwork(n_hidden=(3,), max_iter=5, random_state=0, class_weight="balanced").fit(X, y)
    b = NeuralNetwork(n_hidden=(3,), max_iter=5, random_state=0).fit(X, y, sample_weight=(90 / (3 * counts))[y])
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)


@pytest.mark.parametrize("value,match", [
    ("equal", "class_weight must be None, 'balanced' or a dict"),
    ([1.0, 2.0], "class_weight must be None, 'balanced' or a dict"),
    ({0: -1.0}, "class_weight must map labels to finite weights >= 0"),
    ({0: np.nan}, "class_weight must map labels to finite weights >= 0"),
    ({0: "a"}, "class_weight must map labels to finite weights >= 0"),
])
def test_class_weight_is_checked(value, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        NeuralNetwork(class_weight=value).fit(X, y)


def test_zero_total_weight_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="sample_weight must not be all zero"):
        NeuralNetwork().fit(X, y, sample_weight=np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="sample_weight times class_weight is zero for every sample"):
        NeuralNetwork(class_weight={0: 0.0}).fit(X, y, sample_weight=(y == 0).astype(float))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(60,\)"):
        NeuralNetwork().fit(X, y, sample_weight=np.ones(3))


def test_partial_fit_takes_weights_and_refuses_balanced():
    X, y = _data()
    w = np.random.default_rng(0).uniform(0, 2, size=X.shape[0])
    a = NeuralNetwork(n_hidden=(3,), random_state=0, class_weight={1: 2.0})
    b = NeuralNetwork(n_hidden=(3,), random_state=0)
    for _ in range(3):
        a.partial_fit(X, y, classes=[0, 1], sample_weight=w)
        b.partial_fit(X, y, classes=[0, 1], sample_weight=w * np.where(y == 1, 2.0, 1.0))
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    with pytest.raises(ValueError, match="class_weight='balanced' is not supported by partial_fit"):
        NeuralNetwork(class_weight="balanced").partial_fit(X, y, classes=[0, 1])


def test_early_stopping_scores_the_weighted_validation_accuracy():
    X, y = _data(n=200)
    w = np.random.default_rng(2).uniform(0, 2, size=200)
    params = dict(n_hidden=(4,), max_iter=8, random_state=0, early_stopping=True, tol=None, learning_rate=0.3)
    # the split fit draws (after the initial weights), replayed
    rng = np.random.default_rng(0)
    reference.init_weights(3, (4,), rng, np.float64, n_outputs=1)
    _, val = _training.stratified_split(y, 2, 0.1, rng)
    seen = []

    def callback(model, iteration, loss):
        correct = model.predict(X[val]) == y[val]
        seen.append((model.validation_scores_[-1], float(np.dot(w[val], correct) / w[val].sum()),
                     float(np.mean(correct))))

    NeuralNetwork(callback=callback, **params).fit(X, y, sample_weight=w)
    assert len(seen) == 8
    for score, weighted, _ in seen:
        assert score == pytest.approx(weighted, rel=1e-12)
    assert any(abs(weighted - plain) > 1e-3 for _, weighted, plain in seen)  # the weights do matter here


def test_score_takes_sample_weight():
    X, y = _data()
    model = NeuralNetwork(n_hidden=(3,), max_iter=20, random_state=0).fit(X, y)
    correct = model.predict(X) == y
    w = np.linspace(0, 1, X.shape[0])
    assert model.score(X, y, sample_weight=w) == pytest.approx(np.dot(w, correct) / w.sum())
    assert model.score(X, y) == pytest.approx(correct.mean())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_predict_log_proba_is_the_log_of_predict_proba(k, backend, dtype):
    X, y = _data(k=k)
    X = X.astype(dtype)
    model = NeuralNetwork(n_hidden=(5,), max_iter=30, random_state=0, backend=backend, learning_rate=0.5).fit(X, y)
    log_p = model.predict_log_proba(X)
    assert log_p.shape == (X.shape[0], k) and log_p.dtype == dtype
    assert (log_p <= 0).all()
    np.testing.assert_allclose(np.exp(log_p), model.predict_proba(X), rtol=2e-6 if dtype == np.float32 else 1e-12,
                               atol=1e-7 if dtype == np.float32 else 1e-15)


def test_predict_log_proba_keeps_the_logarithm_of_saturated_probabilities():
    X = np.array([[-1.0], [1.0]])
    model = NeuralNetwork(n_hidden=(), max_iter=0).fit(X, [0, 1])
    model.weights_ = [np.array([[0.0, 50.0]])]  # logits -50 and 50
    log_p = model.predict_log_proba(np.array([[1.0], [-1.0]]))
    np.testing.assert_allclose(log_p, [[-50.0, -np.log1p(np.exp(-50.0))], [-np.log1p(np.exp(-50.0)), -50.0]], rtol=1e-14)
    with np.errstate(divide="ignore"):
        naive = np.log(model.predict_proba(np.array([[1.0], [-1.0]])))
    assert naive[0, 1] == 0.0  # where log(predict_proba) has lost it
    three = NeuralNetwork(n_hidden=(), max_iter=0).fit(np.zeros((3, 1)), [0, 1, 2])
    three.weights_ = [np.array([[0.0, 0.0], [0.0, 800.0], [0.0, -800.0]])]
    log_p = three.predict_log_proba(np.array([[1.0]]))
    np.testing.assert_allclose(log_p, [[-800.0, 0.0, -1600.0]])


@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 2.5, 1: 0.5}])
def test_class_weight_survives_pickles_and_model_files(class_weight, tmp_path):
    X, y = _data()
    model = NeuralNetwork(n_hidden=(3,), max_iter=3, class_weight=class_weight).fit(X, y)
    state = model.__getstate__()
    assert state["_format_version"] == (2 if class_weight is None else 4)
    for back in (pickle.loads(pickle.dumps(model)), _saved_and_loaded(model, tmp_path)):
        assert back.class_weight == class_weight
        np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert int(np.load(tmp_path / "m.npz")["format_version"]) == (2 if class_weight is None else 3)


def _saved_and_loaded(model, tmp_path):
    backprop.save(model, tmp_path / "m.npz")
    return backprop.load(tmp_path / "m.npz")


def test_string_labels_in_class_weight_survive_model_files(tmp_path):
    X, y = _data()
    labels = np.array(["no", "yes"])[y]
    model = NeuralNetwork(n_hidden=(), max_iter=2, class_weight={"yes": 2.0}).fit(X, labels)
    back = _saved_and_loaded(model, tmp_path)
    assert back.class_weight == {"yes": 2.0}
    back.set_params(warm_start=True).fit(X, labels)  # the stored weights still name the model's labels


def test_zero_weights_leave_rows_out():
    X, y = make_data(40, 3)
    w = np.ones(40)
    w[::2] = 0
    a = NeuralNetwork(n_hidden=(2,), max_iter=10, random_state=0).fit(X, y, sample_weight=w)
    b = NeuralNetwork(n_hidden=(2,), max_iter=10, random_state=0).fit(X[1::2], y[1::2])
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("weights, name", [
    (dict(class_weight={0: 1e39, 1: 1}), "class_weight"),  # a row's weight overflows float32
    (dict(class_weight={0: 1e37, 1: 1e37}), "class_weight"),  # their sum does
    (dict(sample_weight=np.full(60, 1e37)), "sample_weight"),
    (dict(sample_weight=np.full(60, 1e36), class_weight={0: 10.0, 1: 10.0}), "sample_weight times class_weight"),
])
def test_weights_overflowing_the_models_dtype_are_refused_naming_them(backend, weights, name):
    X, y = _data()
    model = NeuralNetwork(n_hidden=(3,), max_iter=3, backend=backend, class_weight=weights.get("class_weight"))
    with pytest.raises(ValueError, match=rf"^{name}: the rows' weights or their sum overflow float32.*rescale them"):
        model.fit(X.astype(np.float32), y, sample_weight=weights.get("sample_weight"))
    assert not hasattr(model, "weights_")
    model.fit(X, y, sample_weight=weights.get("sample_weight"))  # float64 holds them
    assert np.isfinite(model.loss_curve_).all()


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_validation_weights_overflowing_are_refused_naming_them(backend):
    X, y = _data()
    X = X.astype(np.float32)
    with pytest.raises(ValueError, match="^sample_weight_val: the rows' weights or their sum overflow float32"):
        NeuralNetwork(n_hidden=(3,), max_iter=3, backend=backend).fit(X, y, X_val=X, y_val=y,
                                                                      sample_weight_val=np.full(60, 1e37))
