"""feature_names_in_ with scikit-learn's rules: recorded from named columns, checked at predict,
predict_proba, score and partial_fit; kept by pickle and save/load; on both backends."""

import pickle
import warnings

import numpy as np
import pytest

import backprop
from backprop import NeuralNetwork

pd = pytest.importorskip("pandas")
BACKENDS = ["cpp", "numpy"]
NAMES = ["a", "b", "c"]


def _frame(n=60, seed=0, columns=NAMES):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return pd.DataFrame(X, columns=columns), (X[:, 0] - X[:, 2] > 0).astype(int)


def _model(backend, **kw):
    return NeuralNetwork(**{**dict(n_hidden=(3,), max_iter=50, random_state=0, backend=backend), **kw})


@pytest.mark.parametrize("backend", BACKENDS)
def test_recorded_from_string_columns_and_dropped_by_a_fit_without(backend):
    X, y = _frame()
    model = _model(backend).fit(X, y)
    assert model.feature_names_in_.dtype == object and list(model.feature_names_in_) == NAMES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X.to_numpy(), y)
    assert not hasattr(model, "feature_names_in_")
    assert not hasattr(_model(backend).fit(pd.DataFrame(X.to_numpy()), y), "feature_names_in_")  # int names


def test_mixed_name_types_are_scikit_learns_type_error():
    X, y = _frame(columns=["a", 1, "c"])
    with pytest.raises(TypeError, match="Feature names are only supported if all input features have string names"):
        _model("cpp").fit(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score", "partial_fit"])
@pytest.mark.parametrize(
    "columns, message",
    [
        (["c", "b", "a"], "Feature names must be in the same order as they were in fit."),
        (["a", "b", "z"], "Feature names unseen at fit time:\n- z\nFeature names seen at fit time, yet now missing:\n- c\n"),
    ],
    ids=["reordered", "renamed"],
)
def test_other_names_or_order_are_a_value_error(backend, method, columns, message):
    X, y = _frame()
    model = _model(backend).fit(X, y)
    bad = X.set_axis(columns, axis=1)
    call = getattr(model, method)
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit.\n" + message):
        call(bad, y) if method in ("score", "partial_fit") else call(bad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_names_on_one_side_only_warn_as_scikit_learn_does(backend):
    X, y = _frame()
    named = _model(backend).fit(X, y)
    with pytest.warns(UserWarning, match="X does not have valid feature names, but NeuralNetwork was fitted with feature names"):
        named.predict(X.to_numpy())
    unnamed = _model(backend).fit(X.to_numpy(), y)
    with pytest.warns(UserWarning, match="X has feature names, but NeuralNetwork was fitted without feature names"):
        unnamed.predict_proba(X)
    np.testing.assert_array_equal(named.predict(X), unnamed.predict(X.to_numpy()))


@pytest.mark.parametrize("backend", BACKENDS)
def test_scikit_learns_own_column_name_check_passes(backend):
    sklearn_checks = pytest.importorskip("sklearn.utils.estimator_checks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", backprop.ConvergenceWarning)
        sklearn_checks.check_dataframe_column_names_consistency("NeuralNetwork", _model(backend, max_iter=20))


@pytest.mark.parametrize("backend", BACKENDS)
def test_pickle_and_save_load_keep_them(tmp_path, backend):
    X, y = _frame()
    model = _model(backend).fit(X, y)
    for copy in (pickle.loads(pickle.dumps(model)), None):
        if copy is None:
            backprop.save(model, tmp_path / "m.npz")
            copy = backprop.load(tmp_path / "m.npz")
        assert copy.feature_names_in_.dtype == object and list(copy.feature_names_in_) == NAMES
        with pytest.raises(ValueError, match="same order"):
            copy.predict(X[["b", "a", "c"]])
    assert int(np.load(tmp_path / "m.npz")["format_version"]) == 2
    unnamed = _model(backend).fit(X.to_numpy(), y)
    assert pickle.loads(pickle.dumps(unnamed)).__getstate__()["_format_version"] == 2  # older readers read it


def test_a_format_1_file_loads_without_names(tmp_path):
    X, y = _frame()
    backprop.save(_model("cpp").fit(X.to_numpy(), y), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["format_version"] = np.array(1, dtype=np.int64)
    np.savez(tmp_path / "old.npz", **arrays)
    old = backprop.load(tmp_path / "old.npz")
    assert not hasattr(old, "feature_names_in_")
    np.testing.assert_array_equal(old.predict(X.to_numpy()), backprop.load(tmp_path / "m.npz").predict(X.to_numpy()))
