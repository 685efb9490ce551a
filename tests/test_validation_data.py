"""A validation set given to ``fit`` (``X_val``, ``y_val``, ``sample_weight_val``) and the
validation loss curve (``validation_loss_curve_``), of the held-out split or of a given set."""

import copy
import pickle

import numpy as np
import pytest
from conftest import make_data

from backprop import NeuralNetwork, reference
from backprop import _training

# short fits of these tests may end predicting one class: that warning is not what they test
pytestmark = pytest.mark.filterwarnings("ignore:the fitted model predicts the single class")


def _sets(n=120, n_val=40, d=3, k=2, seed=0):
    X, y = make_data(n + n_val, d, seed=seed)
    if k > 2:  # three classes from the same rule's score, by thirds
        score = X[:, 0] - 0.5 * X[:, -1] ** 2
        y = np.searchsorted(np.quantile(score, [1 / 3, 2 / 3]), score)
    return X[:n], y[:n], X[n:], y[n:]


def _capture():
    """A callback keeping a copy of the weights after every epoch, and the list it fills."""
    seen = []

    def callback(model, iteration, loss):
        seen.append([W.copy() for W in model.weights_])

    return seen, callback


def _with_weights(model, weights):
    m = copy.copy(model)
    m.weights_ = [W.copy() for W in weights]
    return m


def _sklearn_stop(scores, n_iter_no_change, tol=0.0):
    """(epochs run, best epoch) of scikit-learn's early-stopping rule on the accuracies ``scores``."""
    best, best_at, bad = -np.inf, None, 0
    for e, s in enumerate(scores):
        bad = bad + 1 if s < best + tol else 0
        if s > best:
            best, best_at = s, e
        if bad > n_iter_no_change:
            return e + 1, best_at
    return len(scores), best_at


# ---------------------------------------------------------------------- the given set is the one used
@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("k", [2, 3])
def test_scores_and_stop_follow_the_given_set_scored_by_hand(backend, k):
    """validation_scores_ are predict's accuracy on X_val at each epoch's weights, and the fit
    stops (and keeps the weights) where scikit-learn's rule on those accuracies says; a set on
    which the model is bad (its labels permuted) stops it at another epoch."""
    X, y, X_val, y_val = _sets(k=k)
    stops = []
    for labels in (y_val, (y_val + 1) % k):  # the true labels, then wrong ones
        seen, callback = _capture()
        m = NeuralNetwork(n_hidden=(6,), solver="adam", learning_rate=0.003, batch_size=16, max_iter=150,
                          early_stopping=True, n_iter_no_change=5,
                          random_state=0, backend=backend, callback=callback).fit(X, y, X_val=X_val, y_val=labels)
        by_hand = [np.mean(_with_weights(m, W).predict(X_val) == labels) for W in seen]
        np.testing.assert_array_equal(m.validation_scores_, by_hand)
        n_run, best = _sklearn_stop(by_hand, 5)
        assert m.n_iter_ == n_run == len(seen)
        for W, B in zip(m.weights_, seen[best]):
            np.testing.assert_array_equal(W, B)
        stops.append(m.n_iter_)
    assert stops[1] < stops[0]  # the model gets worse on wrong labels as it learns: an early stop


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("solver, batch_size", [("gd", None), ("adam", 16)])
def test_no_split_is_drawn_all_rows_train(backend, solver, batch_size):
    """With a given set, the fit is the fit of all of X without early stopping, for the epochs up
    to the best one (bitwise: the same rows, the same draws from random_state)."""
    X, y, X_val, y_val = _sets()
    params = dict(n_hidden=(5,), solver=solver, batch_size=batch_size, learning_rate=0.05 if solver == "adam" else 0.5,
                  random_state=3, backend=backend)
    m = NeuralNetwork(**params, max_iter=60, early_stopping=True, n_iter_no_change=4).fit(X, y, X_val=X_val, y_val=y_val)
    best = int(np.argmax(m.validation_scores_))
    plain = NeuralNetwork(**params, max_iter=best + 1).fit(X, y)
    for W, P in zip(m.weights_, plain.weights_):
        np.testing.assert_array_equal(W, P)
    ran = NeuralNetwork(**params, max_iter=m.n_iter_).fit(X, y)
    np.testing.assert_array_equal(m.loss_curve_, ran.loss_curve_)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_without_early_stopping_the_set_is_only_scored(backend):
    X, y, X_val, y_val = _sets()
    params = dict(n_hidden=(4,), max_iter=25, random_state=0, backend=backend, solver="momentum", batch_size=32,
                  learning_rate=0.2)
    m = NeuralNetwork(**params).fit(X, y, X_val=X_val, y_val=y_val)
    plain = NeuralNetwork(**params).fit(X, y)
    assert m.n_iter_ == 25 and len(m.validation_scores_) == 25 and len(m.validation_loss_curve_) == 25
    np.testing.assert_array_equal(m.loss_curve_, plain.loss_curve_)
    for W, P in zip(m.weights_, plain.weights_):
        np.testing.assert_array_equal(W, P)
    assert plain.validation_scores_ is None and plain.validation_loss_curve_ is None
    np.testing.assert_array_equal(m.validation_scores_[-1], np.mean(m.predict(X_val) == y_val))


# ---------------------------------------------------------------------- the validation loss
def _reference_losses(seen, X_val, T_val, alpha, w_val, activation="sigmoid"):
    return [reference.loss_and_gradient(X_val, T_val, W, activation, alpha, sample_weight=w_val)[0] for W in seen]


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_validation_loss_is_loss_and_gradient_at_each_epoch(backend, k, weighted):
    """validation_loss_curve_[e] = reference.loss_and_gradient's J on the validation rows at epoch e's
    weights: the training loss's formula with the L2 term and the rows' weights (sample_weight_val
    times class_weight)."""
    X, y, X_val, y_val = _sets(k=k)
    rng = np.random.default_rng(5)
    w_val = rng.uniform(0.2, 2.0, size=X_val.shape[0]) if weighted else None
    class_weight = {0: 2.0} if weighted else None
    seen, callback = _capture()
    m = NeuralNetwork(n_hidden=(5,), activation="tanh", alpha=0.3, max_iter=20, random_state=1, backend=backend,
                      class_weight=class_weight, callback=callback).fit(X, y, X_val=X_val, y_val=y_val,
                                                                        sample_weight_val=w_val)
    T_val = _training.targets(y_val, m.weights_[-1].shape[0], X.dtype)
    w = None if not weighted else w_val * np.where(y_val == 0, 2.0, 1.0)
    expected = _reference_losses(seen, X_val, T_val, 0.3, w, "tanh")
    np.testing.assert_allclose(m.validation_loss_curve_, expected, rtol=1e-12 if backend == "numpy" else 1e-10)
    if weighted:  # the weights are those of the accuracy too
        by_hand = [np.average(_with_weights(m, W).predict(X_val) == y_val, weights=w) for W in seen]
        np.testing.assert_allclose(m.validation_scores_, by_hand, rtol=1e-12)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_validation_loss_of_the_held_out_split(backend):
    """With early_stopping's split, the curve is the loss of the held-out rows (rebuilt from
    random_state: the initial weights, then the split), and the fit is that of giving those rows
    as the validation set and training on the others (full batch: no later draws)."""
    X, y = make_data(150, 3, seed=2)
    params = dict(n_hidden=(4,), max_iter=40, early_stopping=True, random_state=7, backend=backend, alpha=0.1)
    seen, callback = _capture()
    m = NeuralNetwork(**params, callback=callback).fit(X, y)
    rng = np.random.default_rng(7)
    reference.init_weights(3, (4,), rng, X.dtype)
    y_index = y.astype(np.intp)
    train_rows, val_rows = _training.stratified_split(y_index, 2, 0.1, rng)
    T_val = _training.targets(y_index[val_rows], 1, X.dtype)
    expected = _reference_losses(seen, X[val_rows], T_val, 0.1, None)
    np.testing.assert_allclose(m.validation_loss_curve_, expected, rtol=1e-12 if backend == "numpy" else 1e-10)
    given = NeuralNetwork(**params).fit(X[train_rows], y[train_rows], X_val=X[val_rows], y_val=y[val_rows])
    np.testing.assert_array_equal(given.validation_loss_curve_, m.validation_loss_curve_)
    np.testing.assert_array_equal(given.validation_scores_, m.validation_scores_)
    for W, G in zip(m.weights_, given.weights_):
        np.testing.assert_array_equal(W, G)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_both_backends_record_the_same_validation_values(dtype, early_stopping):
    X, y, X_val, y_val = _sets(k=3)
    X, X_val = X.astype(dtype), X_val.astype(dtype)
    fits = [NeuralNetwork(n_hidden=(6, 3), solver="adam", learning_rate=0.01, batch_size=20, alpha=0.01, max_iter=30,
                          early_stopping=early_stopping, random_state=0, backend=b).fit(X, y, X_val=X_val, y_val=y_val)
            for b in ("cpp", "numpy")]
    rtol = 1e-10 if dtype == np.float64 else 2e-5
    assert fits[0].validation_loss_curve_.dtype == dtype
    np.testing.assert_allclose(fits[0].validation_loss_curve_, fits[1].validation_loss_curve_, rtol=rtol)
    np.testing.assert_array_equal(fits[0].validation_scores_, fits[1].validation_scores_)
    assert fits[0].n_iter_ == fits[1].n_iter_


def test_callback_sees_the_curves_up_to_date():
    X, y, X_val, y_val = _sets()
    lengths = []

    def callback(model, iteration, loss):
        lengths.append((iteration, len(model.validation_scores_), len(model.validation_loss_curve_)))

    NeuralNetwork(n_hidden=(3,), max_iter=7, random_state=0, callback=callback).fit(X, y, X_val=X_val, y_val=y_val)
    assert lengths == [(i, i, i) for i in range(1, 8)]


def test_warm_start_and_partial_fit_as_validation_scores():
    X, y, X_val, y_val = _sets()
    m = NeuralNetwork(n_hidden=(3,), max_iter=5, random_state=0, warm_start=True).fit(X, y, X_val=X_val, y_val=y_val)
    first = m.validation_loss_curve_.copy()
    m.fit(X, y, X_val=X_val, y_val=y_val)
    assert len(m.validation_loss_curve_) == len(m.validation_scores_) == 10
    np.testing.assert_array_equal(m.validation_loss_curve_[:5], first)
    m.fit(X, y)  # a fit without a validation set records none
    assert m.validation_loss_curve_ is None and m.validation_scores_ is None
    m.fit(X, y, X_val=X_val, y_val=y_val)
    m.partial_fit(X, y)
    assert m.validation_loss_curve_ is None and m.validation_scores_ is None


# ---------------------------------------------------------------------- checks of the given set
def _bad(name):
    X, y, X_val, y_val = _sets()
    cases = {
        "X_val alone": (dict(X_val=X_val), "X_val is given but y_val is not"),
        "y_val alone": (dict(y_val=y_val), "y_val is given but X_val is not"),
        "sample_weight_val alone": (dict(sample_weight_val=np.ones(40)), "sample_weight_val is given but X_val and y_val"),
        "features": (dict(X_val=X_val[:, :2], y_val=y_val), "X_val has 2 features, but X has 3"),
        "1-D X_val": (dict(X_val=X_val[:, 0], y_val=y_val), "X_val must be 2-D"),
        "NaN": (dict(X_val=np.where(np.arange(40)[:, None] == 3, np.nan, X_val), y_val=y_val), "X_val contains NaN"),
        "empty": (dict(X_val=X_val[:0], y_val=y_val[:0]), "X_val has 0 sample"),
        "lengths": (dict(X_val=X_val, y_val=y_val[:-1]), "y_val must be 1-D with 40 labels"),
        "unknown label": (dict(X_val=X_val, y_val=np.where(np.arange(40) == 0, 7, y_val)), r"y_val holds labels not in classes \[0.0, 1.0\]: \[7.0\]"),
        "missing label": (dict(X_val=X_val, y_val=np.where(np.arange(40) == 0, np.nan, y_val)), "y_val contains NaN"),
        "weights shape": (dict(X_val=X_val, y_val=y_val, sample_weight_val=np.ones(39)), r"sample_weight_val must have shape \(40,\)"),
        "negative weight": (dict(X_val=X_val, y_val=y_val, sample_weight_val=-np.ones(40)), "sample_weight_val must be >= 0"),
        "zero weights": (dict(X_val=X_val, y_val=y_val, sample_weight_val=np.zeros(40)), "sample_weight_val must not be all zero"),
        "sparse": (dict(X_val="sparse", y_val=y_val), "X_val is a sparse matrix"),
    }
    return X, y, cases[name]


@pytest.mark.parametrize("name", ["X_val alone", "y_val alone", "sample_weight_val alone", "features", "1-D X_val", "NaN",
                                  "empty", "lengths", "unknown label", "missing label", "weights shape", "negative weight",
                                  "zero weights", "sparse"])
def test_a_bad_validation_set_is_refused_naming_it(name):
    X, y, (kwargs, match) = _bad(name)
    if isinstance(kwargs.get("X_val"), str):
        sparse = pytest.importorskip("scipy.sparse")
        kwargs["X_val"] = sparse.csr_matrix(_sets()[2])
    m = NeuralNetwork(n_hidden=(3,), max_iter=3, random_state=0).fit(X, y)
    before = copy.deepcopy(m.__dict__)
    with pytest.raises((ValueError, TypeError), match=match):
        m.fit(X, y, **kwargs)
    assert set(m.__dict__) == set(before)  # left as it was
    np.testing.assert_array_equal(m.loss_curve_, before["loss_curve_"])


def test_class_weight_zeroing_the_validation_rows_is_refused():
    X, y, X_val, y_val = _sets()
    with pytest.raises(ValueError, match="sample_weight_val times class_weight is zero"):
        NeuralNetwork(max_iter=2, class_weight={0: 0.0}).fit(X, y, X_val=X_val[y_val == 0], y_val=y_val[y_val == 0])


def test_balanced_class_weight_counts_the_training_labels():
    X, y, X_val, y_val = _sets()
    X_val, y_val = X_val[:10], np.zeros(10, dtype=int)  # one class only: "balanced" of y_val alone would be 1
    seen, callback = _capture()
    m = NeuralNetwork(n_hidden=(3,), max_iter=3, alpha=0.5, random_state=0, class_weight="balanced",
                      callback=callback).fit(X, y, X_val=X_val, y_val=y_val)
    w = _training.class_weights("balanced", np.array([0, 1]), y.astype(np.intp))[y_val]
    expected = _reference_losses(seen, X_val, np.zeros(10), 0.5, w)
    np.testing.assert_allclose(m.validation_loss_curve_, expected, rtol=1e-10)


def test_validation_data_takes_the_dtype_of_X():
    X, y, X_val, y_val = _sets()
    m = NeuralNetwork(n_hidden=(3,), max_iter=4, random_state=0).fit(X.astype(np.float32), y, X_val=X_val, y_val=y_val)
    assert m.validation_loss_curve_.dtype == np.float32
    m = NeuralNetwork(n_hidden=(3,), max_iter=4, random_state=0).fit(X, y, X_val=X_val.astype(int), y_val=y_val)
    assert m.validation_loss_curve_.dtype == np.float64


def test_string_labels():
    X, y, X_val, y_val = _sets()
    names = np.array(["no", "yes"])
    m = NeuralNetwork(n_hidden=(3,), max_iter=30, random_state=0, early_stopping=True).fit(
        X, names[y.astype(int)], X_val=X_val, y_val=list(names[y_val.astype(int)]))
    assert m.validation_scores_.max() == np.mean(m.predict(X_val) == names[y_val.astype(int)])


def test_feature_names_are_checked():
    pd = pytest.importorskip("pandas")
    X, y, X_val, y_val = _sets()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    m = NeuralNetwork(n_hidden=(3,), max_iter=2, random_state=0)
    m.fit(frame, y, X_val=pd.DataFrame(X_val, columns=["a", "b", "c"]), y_val=y_val)
    with pytest.raises(ValueError, match="X_val: The feature names should match"):
        m.fit(frame, y, X_val=pd.DataFrame(X_val, columns=["a", "c", "b"]), y_val=y_val)
    with pytest.warns(UserWarning, match="X_val does not have valid feature names"):
        m.fit(frame, y, X_val=X_val, y_val=y_val)


@pytest.mark.no_kernels
def test_dask_input_is_refused():
    da = pytest.importorskip("dask.array")
    X, y, X_val, y_val = _sets()
    with pytest.raises(ValueError, match="not supported with dask input"):
        NeuralNetwork(max_iter=1).fit(da.from_array(X, chunks=40), da.from_array(y, chunks=40), X_val=X_val, y_val=y_val)
    with pytest.raises(TypeError, match="X_val and y_val must be in memory"):
        NeuralNetwork(max_iter=1).fit(X, y, X_val=da.from_array(X_val, chunks=20), y_val=y_val)


def test_dask_fits_record_no_validation_loss():
    """Documented: the dask run scores its held-out blocks but records no validation loss."""
    da = pytest.importorskip("dask.array")
    X, y, _, _ = _sets()
    m = NeuralNetwork(n_hidden=(3,), max_iter=5, early_stopping=True, random_state=0).fit(
        da.from_array(X, chunks=40), da.from_array(y, chunks=40))
    assert len(m.validation_scores_) == 5 and m.validation_loss_curve_ is None


# ---------------------------------------------------------------------- persistence
def test_pickle_keeps_the_validation_loss_curve():
    X, y, X_val, y_val = _sets()
    m = NeuralNetwork(n_hidden=(3,), max_iter=6, random_state=0).fit(X, y, X_val=X_val, y_val=y_val)
    state = m.__getstate__()
    assert state["_format_version"] == 5
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.validation_loss_curve_, m.validation_loss_curve_)
    np.testing.assert_array_equal(back.validation_scores_, m.validation_scores_)
    plain = NeuralNetwork(n_hidden=(3,), max_iter=6, random_state=0).fit(X, y)
    assert plain.__getstate__()["_format_version"] == 2  # a model without a validation set: the old format
    assert "validation_loss_curve_" not in plain.__getstate__()["fitted"]


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.update(validation_loss_curve_=np.full(6, np.nan)), "validation_loss_curve_ contains NaN"),
    (lambda f: f.update(validation_loss_curve_=np.ones(7)), "validation_loss_curve_ holds 7 epochs, more than n_iter_ = 6"),
    (lambda f: f.update(validation_loss_curve_=[1.0]), "validation_loss_curve_ must be a 1-D float array"),
])
def test_corrupted_validation_loss_curve_is_refused(edit, match):
    X, y, X_val, y_val = _sets()
    state = NeuralNetwork(n_hidden=(3,), max_iter=6, random_state=0).fit(X, y, X_val=X_val, y_val=y_val).__getstate__()
    edit(state["fitted"])
    with pytest.raises(ValueError, match=match):
        NeuralNetwork().__setstate__(state)


def test_format_4_pickles_hold_no_validation_loss_curve():
    X, y, X_val, y_val = _sets()
    state = NeuralNetwork(n_hidden=(3,), max_iter=6, random_state=0).fit(X, y, X_val=X_val, y_val=y_val).__getstate__()
    state["_format_version"] = 4
    with pytest.raises(ValueError, match="'fitted' must be a dict with keys among"):
        NeuralNetwork().__setstate__(state)


def test_model_files_do_not_store_it(tmp_path):
    import backprop

    X, y, X_val, y_val = _sets()
    m = NeuralNetwork(n_hidden=(3,), max_iter=6, random_state=0).fit(X, y, X_val=X_val, y_val=y_val)
    backprop.save(m, tmp_path / "m.npz")
    back = backprop.load(tmp_path / "m.npz")
    assert getattr(back, "validation_loss_curve_", None) is None
    np.testing.assert_array_equal(back.predict_proba(X_val), m.predict_proba(X_val))
