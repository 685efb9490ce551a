"""The parameter table and what is derived from it; the backend interface."""

import dataclasses
import inspect

import numpy as np
import pytest
from conftest import make_data

import backprop
from backprop import NeuralNetwork, _backends, _params, reference


def test_signature_defaults_and_get_params_come_from_the_table():
    sig = inspect.signature(NeuralNetwork)
    assert list(sig.parameters) == [p.name for p in _params.PARAMS]
    assert {k: v.default for k, v in sig.parameters.items()} == {p.name: p.default for p in _params.PARAMS}
    assert NeuralNetwork().get_params() == _params.DEFAULTS._asdict()
    assert NeuralNetwork((4,), 0.5).get_params()["learning_rate"] == 0.5  # positional arguments still work
    with pytest.raises(TypeError):
        NeuralNetwork(colour="red")


def test_docstring_lists_every_parameter_with_its_default():
    for p in _params.PARAMS:
        assert f"    {p.name} : " in NeuralNetwork.__doc__


def test_kernel_defaults_are_the_reference_train_defaults():
    defaults = _params.kernel_defaults()
    assert set(defaults) == {"activation", "alpha", "batch_size", "solver", "momentum", "nesterov", "beta_1",
                             "beta_2", "epsilon", "tol", "n_iter_no_change"}
    sig = inspect.signature(reference.train)
    assert {k: sig.parameters[k].default for k in defaults} == defaults


def test_config_is_frozen_and_normalised():
    config = _params.validate(NeuralNetwork(n_hidden=[3, 2], n_threads=None, verbose=1).get_params())
    assert config.n_hidden == (3, 2) and isinstance(config.n_threads, int) and config.verbose is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.alpha = 1.0
    assert _params.validate(NeuralNetwork(tol=0.1, early_stopping=True).get_params()).kernel_options()["tol"] is None


@pytest.mark.parametrize("name, value, message", [
    ("beta_2", 1.0, r"beta_2 must be a number in \[0.0, 1.0\), got 1.0"),
    ("threshold", 2, r"threshold must be a number in \[0, 1\], got 2"),
    ("solver", "sgd", r"solver must be one of \('gd', 'momentum', 'adam'\), got 'sgd'"),
    ("n_threads", 0, "n_threads must be None or an integer >= 1, got 0"),
])
def test_validation_messages_name_the_parameter(name, value, message):
    X, y = make_data(n=20, d=3)
    with pytest.raises(ValueError, match=message):
        NeuralNetwork(**{name: value}).fit(X, y)


def test_a_backend_plugs_in_without_touching_the_driver(monkeypatch):
    """A backend that wraps the reference (as a distributed one would wrap workers) trains the same model."""
    calls = []

    class Counting(_backends.NumpyBackend):
        def train(self, *args, **options):  # the protocol's keywords (sample_weight, huge_inputs...)
            calls.append("train")
            return super().train(*args, **options)

        def network_output(self, *args):
            calls.append("network_output")
            return super().network_output(*args)

    X, y = make_data(n=60, d=4)
    kw = dict(n_hidden=(3,), max_iter=5, random_state=0, backend="numpy", early_stopping=True, batch_size=9)
    expected = NeuralNetwork(**kw).fit(X, y)
    monkeypatch.setitem(_backends.BACKENDS, "numpy", Counting())
    got = NeuralNetwork(**kw).fit(X, y)
    assert "train" in calls and "network_output" in calls
    for W, V in zip(expected.weights_, got.weights_):
        np.testing.assert_array_equal(W, V)
    np.testing.assert_array_equal(expected.validation_scores_, got.validation_scores_)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_unchecked_prediction_follows_the_backend():
    X, y = make_data(n=40, d=3)
    for backend in ("cpp", "numpy"):
        model = NeuralNetwork(n_hidden=(4,), max_iter=5, random_state=0, backend=backend).fit(X, y)
        np.testing.assert_array_equal(model.predict_proba_unchecked(X), model.predict_proba(X))
    model.set_params(activation="softplus")
    with pytest.raises(ValueError, match="activation must be one of"):
        model.predict_proba_unchecked(X)


def test_pickle_format_parameter_lists():
    assert _params.param_names(1) == _params.param_names()[:8]
    assert _params.param_names(2) == _params.param_names(3) == _params.param_names()[:-1]
    assert _params.param_names(4) == _params.param_names()  # class_weight
    assert backprop.NeuralNetwork().__getstate__()["_format_version"] == 2
    assert backprop.NeuralNetwork(class_weight="balanced").__getstate__()["_format_version"] == 4


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_values_the_docs_allow_reach_the_kernels_as_they_mean():
    """batch_size of any size >= n is the full batch; n_threads beyond the kernels' range is a
    ValueError naming it (no pybind11 cast error), on the estimator's path."""
    import numpy as np

    from backprop import NeuralNetwork

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    full = NeuralNetwork(n_hidden=(3,), max_iter=5, random_state=0).fit(X, y)
    huge = NeuralNetwork(n_hidden=(3,), max_iter=5, random_state=0, batch_size=2**70).fit(X, y)
    for a, b in zip(full.weights_, huge.weights_):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"n_threads must be at most 2147483647"):
        NeuralNetwork(n_hidden=(3,), max_iter=5, n_threads=2**40).fit(X, y)


@pytest.mark.parametrize("value", ["False", "no", None, 0, 1])
def test_warm_start_takes_booleans_only(value):
    X, y = make_data(n=20, d=3)
    with pytest.raises(ValueError, match=r"warm_start must be True or False, got "):
        NeuralNetwork(n_hidden=(2,), max_iter=1, warm_start=value).fit(X, y)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # tiny fits: only n_iter_ matters
def test_warm_start_numpy_bool_is_a_bool():
    X, y = make_data(n=20, d=3)
    model = NeuralNetwork(n_hidden=(2,), max_iter=3, warm_start=np.bool_(False)).fit(X, y).fit(X, y)
    assert model.n_iter_ == 3


@pytest.mark.parametrize("value", [iter([4, 3]), (h for h in [4, 3]), {4, 3}, {4: 1, 3: 1}, "43", b"43",
                                   np.array([[4, 3]]), 2.0, True])
def test_n_hidden_refuses_what_is_not_an_int_or_a_sequence(value):
    X, y = make_data(n=20, d=3)
    with pytest.raises(ValueError, match="n_hidden must be an int or a sequence"):
        NeuralNetwork(n_hidden=value, max_iter=1).fit(X, y)


@pytest.mark.parametrize("value, bad", [([4, 0], "0"), (np.array([4.0, 3.0]), "4.0"), ((4, True), "True")])
def test_n_hidden_holds_positive_integers(value, bad):
    X, y = make_data(n=20, d=3)
    with pytest.raises(ValueError, match="n_hidden must hold positive integers"):
        NeuralNetwork(n_hidden=value, max_iter=1).fit(X, y)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # tiny fits: only the shapes matter
@pytest.mark.parametrize("value, layers", [(4, (4,)), (np.int64(4), (4,)), ([4, 3], (4, 3)),
                                           (np.array([4, 3]), (4, 3)), ((), ())])
def test_n_hidden_is_read_not_consumed_and_get_params_returns_it(value, layers):
    from sklearn.base import clone

    X, y = make_data(n=20, d=3)
    model = NeuralNetwork(n_hidden=value, max_iter=1)
    for _ in range(2):  # a refit sees the same layers
        model.fit(X, y)
        assert [W.shape[0] for W in model.weights_[:-1]] == list(layers)
        assert model.get_params()["n_hidden"] is value
    copy = clone(model)
    assert copy.get_params()["n_hidden"] is not value or isinstance(value, (int, np.integer, tuple))
    np.testing.assert_array_equal(copy.get_params()["n_hidden"], value)
    assert [W.shape[0] for W in copy.fit(X, y).weights_[:-1]] == list(layers)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # tiny fits: only reproducibility matters
def test_random_state_may_be_a_random_state_as_documented(tmp_path):
    X, y = make_data(n=40, d=3)
    fits = [NeuralNetwork(n_hidden=(3,), max_iter=3, batch_size=8, random_state=np.random.RandomState(0),
                          backend=backend).fit(X, y) for backend in ("cpp", "numpy", "cpp")]
    for fit in fits[1:]:  # the same state gives the same fit, on both backends
        for W, V in zip(fits[0].weights_, fit.weights_):
            np.testing.assert_allclose(W, V, rtol=1e-12, atol=1e-14)
    state = np.random.RandomState(0)
    model = NeuralNetwork(n_hidden=(3,), max_iter=3, random_state=state).fit(X, y)
    assert not np.array_equal(model.fit(X, y).weights_[0], fits[0].weights_[0])  # advanced, as in scikit-learn
    assert "RandomState" in NeuralNetwork.__doc__ and "RandomState" in _params.PARAMS[4].doc_type
    with pytest.raises(ValueError, match="random_state must be None, an int >= 0, a numpy.random.Generator or a "
                                         "numpy.random.RandomState"):
        NeuralNetwork(random_state="seed").fit(X, y)
    backprop.save(model, tmp_path / "m.json")
    assert backprop.load(tmp_path / "m.json").random_state is None  # saved as null, as a Generator is


def test_predict_proba_unchecked_of_an_unfitted_model_raises_not_fitted():
    X, _ = make_data(n=5, d=3)
    with pytest.raises(backprop.NotFittedError, match="not fitted yet"):
        NeuralNetwork().predict_proba_unchecked(X)


def test_predict_proba_unchecked_names_what_is_wrong_with_X():
    X, y = make_data(n=40, d=3)
    model = NeuralNetwork(n_hidden=(2,), max_iter=200, n_threads=1, random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="model's dtype float64, got float32"):
        model.predict_proba_unchecked(X[:2].astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\), got \(2, 2\)"):
        model.predict_proba_unchecked(np.ascontiguousarray(X[:2, :2]))
    with pytest.raises(TypeError, match="takes a numpy array, got list"):
        model.predict_proba_unchecked(X[:2].tolist())
    with pytest.raises(ValueError, match="C-contiguous"):  # the kernels' own message already names X
        model.predict_proba_unchecked(np.asfortranarray(X[:2]))
