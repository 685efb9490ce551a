"""Pickles hold plain data and a format version; foreign, corrupted or too-new states are refused clearly.

(The same-backend round trip is test_estimator.py::test_pickle_round_trip_gives_identical_predictions.)
"""

import base64
import copy
import pickle

import numpy as np
import pytest
from conftest import make_data

import backprop
from backprop import NeuralNetwork, NotFittedError
from backprop import _params
from backprop._persistence import FORMAT_VERSION

# Most fits here are tiny (a few iterations on a few rows): they test plumbing, not learning,
# and many end predicting one class, which ConvergenceWarning rightly reports.
pytestmark = pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")

BACKENDS = ["cpp", "numpy"]


def _fitted(dtype=np.float64, backend="cpp", **kw):
    X, y = make_data(40, 3, dtype)
    params = dict(n_hidden=(4, 2), max_iter=15, random_state=0, backend=backend, **kw)
    return NeuralNetwork(**params).fit(X, np.where(y > 0, "pos", "neg")), X, y


def _plain(value):
    """True if value is built only from builtins and numpy arrays of plain dtypes (no pointers)."""
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biufU" or (value.dtype == object and all(_plain(v) for v in value.ravel()))
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_is_plain_data_with_a_format_version(dtype):
    nn, _, _ = _fitted(dtype)
    state = nn.__getstate__()
    assert state["_format_version"] == 2 and state["backprop_version"] == backprop.__version__
    assert _plain(state), state
    assert set(state["fitted"]) == {"weights_", "classes_", "n_features_in_", "n_iter_", "loss_curve_"}
    assert set(state["params"]) == set(_params.param_names(2))  # the parameters format 2 stores (not class_weight)
    assert all(W.dtype == dtype for W in state["fitted"]["weights_"])
    unfitted = NeuralNetwork(n_hidden=[3]).__getstate__()
    assert unfitted["fitted"] == {} and unfitted["params"]["n_hidden"] == [3]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("saved_with, loaded_with", [("cpp", "numpy"), ("numpy", "cpp")])
def test_a_pickle_predicts_the_same_on_the_other_backend(saved_with, loaded_with, dtype):
    from conftest import assert_close

    nn, X, y = _fitted(dtype, saved_with)
    loaded = pickle.loads(pickle.dumps(nn)).set_params(backend=loaded_with)
    assert_close(loaded.predict_proba(X), nn.predict_proba(X), dtype, "predict_proba after pickling")
    np.testing.assert_array_equal(loaded.classes_, ["neg", "pos"])
    assert loaded.weights_[0].dtype == dtype
    loaded.set_params(warm_start=True, max_iter=3).fit(X, np.where(y > 0, "pos", "neg"))  # and it trains on
    assert loaded.n_iter_ == 18


def test_unfitted_and_copied_models_round_trip():
    nn = NeuralNetwork(n_hidden=(2,), threshold=0.3, random_state=np.random.default_rng(1))
    loaded = pickle.loads(pickle.dumps(nn))
    assert loaded.get_params().keys() == nn.get_params().keys() and loaded.threshold == 0.3
    with pytest.raises(NotFittedError):
        loaded.predict(np.zeros((1, 2)))
    fitted, X, _ = _fitted()
    for other in (copy.copy(fitted), copy.deepcopy(fitted)):
        np.testing.assert_array_equal(other.predict_proba(X), fitted.predict_proba(X))


def test_weights_from_a_machine_of_the_other_endianness_load():
    nn, X, _ = _fitted()
    state = nn.__getstate__()
    state["fitted"]["weights_"] = [W.astype(W.dtype.newbyteorder()) for W in state["fitted"]["weights_"]]
    loaded = NeuralNetwork.__new__(NeuralNetwork)
    loaded.__setstate__(state)
    assert all(W.dtype.isnative and W.flags.c_contiguous for W in loaded.weights_)
    np.testing.assert_array_equal(loaded.predict_proba(X), nn.predict_proba(X))


# A NeuralNetwork(n_hidden=(2,), max_iter=5, random_state=0) fitted on GOLDEN_X below by backprop
# 0.1.0 (format version 1, float64, pickle protocol 4): later versions must keep loading it.
GOLDEN_X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
GOLDEN_Y = np.array([0, 1, 1, 0])
GOLDEN_P1 = [0.5017194091249177, 0.5025409895895865, 0.5024388116043165, 0.5018216996835414]
GOLDEN_PICKLE = (
    "gASV5gIAAAAAAACMCGJhY2twcm9wlIwNTmV1cmFsTmV0d29ya5STlCmBlH2UKIwPX2Zvcm1hdF92ZXJzaW9ulEsBjBBiYWNr"
    "cHJvcF92ZXJzaW9ulIwFMC4xLjCUjAZwYXJhbXOUfZQojAhuX2hpZGRlbpRLAoWUjA1sZWFybmluZ19yYXRllEc/8AAAAAAA"
    "AIwIbWF4X2l0ZXKUSwWMCXRocmVzaG9sZJRHP+AAAAAAAACMDHJhbmRvbV9zdGF0ZZRLAIwKd2FybV9zdGFydJSJjAdiYWNr"
    "ZW5klIwDY3BwlIwJbl90aHJlYWRzlE51jAZmaXR0ZWSUfZQojAh3ZWlnaHRzX5RdlCiMFm51bXB5Ll9jb3JlLm11bHRpYXJy"
    "YXmUjAxfcmVjb25zdHJ1Y3SUk5SMBW51bXB5lIwHbmRhcnJheZSTlEsAhZRDAWKUh5RSlChLAUsCSwOGlGgbjAVkdHlwZZST"
    "lIwCZjiUiYiHlFKUKEsDjAE8lE5OTkr/////Sv////9LAHSUYolDMGxSIaGXZ4Y/2ssYEy25fj8hyBT+ji+wP++gn4X1Pok/"
    "GJDCqhigtb9kBLe1uPqiP5R0lGJoGmgdSwCFlGgfh5RSlChLAUsBSwOGlGgniUMYMIfP4XJxqD+kbQI+F0uqP0lTw/6L3MC/"
    "lHSUYmWMCGNsYXNzZXNflGgaaB1LAIWUaB+HlFKUKEsBSwKFlGgkjAJpOJSJiIeUUpQoSwNoKE5OTkr/////Sv////9LAHSU"
    "YolDEAAAAAAAAAAAAQAAAAAAAACUdJRijA5uX2ZlYXR1cmVzX2luX5RLAowHbl9pdGVyX5RLBYwLbG9zc19jdXJ2ZV+UaBpo"
    "HUsAhZRoH4eUUpQoSwFLBYWUaCSMAmY4lImIh5RSlChLA2goTk5OSv////9K/////0sAdJRiiUMoz2GFjgVC5j/tZteLqjPm"
    "Pw33dFbALeY/1AIQLQ0r5j8bLN0yiynmP5R0lGJ1dWIu"
)


@pytest.mark.skipif(
    np.lib.NumpyVersion(np.__version__) < "2.0.0",
    reason="written by numpy 2, whose arrays pickle as numpy._core: numpy 1.x cannot read them (numpy#28340)",
)
def test_a_pickle_of_format_version_1_still_loads():
    nn = pickle.loads(base64.b64decode(GOLDEN_PICKLE))
    assert type(nn) is NeuralNetwork and nn.n_features_in_ == 2 and nn.n_iter_ == 5
    np.testing.assert_allclose(nn.predict_proba(GOLDEN_X)[:, 1], GOLDEN_P1, rtol=1e-12)
    np.testing.assert_allclose(nn.set_params(backend="numpy").predict_proba(GOLDEN_X)[:, 1], GOLDEN_P1, rtol=1e-12)


def _pickle_with_state(state):
    """Bytes that unpickle to NeuralNetwork.__setstate__(state), as a tampered file would."""

    class Forged:
        def __reduce__(self):
            return object.__new__, (NeuralNetwork,), state

    return pickle.dumps(Forged())


def _corrupt(edit):
    state = _fitted()[0].__getstate__()
    edit(state)
    return state


BAD_STATES = {
    "newer format": (lambda s: s.update(_format_version=FORMAT_VERSION + 1), f"format version {FORMAT_VERSION + 1}.*upgrade backprop"),
    "no format version": (lambda s: s.pop("_format_version"), "not a pickled backprop NeuralNetwork"),
    "format version a string": (lambda s: s.update(_format_version="1"), "_format_version is '1'"),
    "unknown key": (lambda s: s.update(extra=1), "unexpected keys"),
    "missing params": (lambda s: s["params"].pop("max_iter"), "'params' must be a dict"),
    "weights not a list": (lambda s: s["fitted"].update(weights_=np.zeros((1, 5))), "weights_ must be"),
    "weights of ints": (lambda s: s["fitted"]["weights_"].__setitem__(0, np.zeros((4, 4), int)), r"weights_\[0\]"),
    "weights that do not chain": (lambda s: s["fitted"]["weights_"].pop(1), r"weights_\[1\] has shape"),
    "NaN in the weights": (lambda s: s["fitted"]["weights_"][0].__setitem__((0, 0), np.nan), "not finite"),
    "mixed dtypes": (
        lambda s: s["fitted"]["weights_"].__setitem__(1, s["fitted"]["weights_"][1].astype(np.float32)),
        "mix dtypes",
    ),
    "n_features_in_ wrong": (lambda s: s["fitted"].update(n_features_in_=7), "do not fit n_features_in_=7"),
    "n_iter_ negative": (lambda s: s["fitted"].update(n_iter_=-1), "n_iter_ must be"),
    "three classes, one output unit": (lambda s: s["fitted"].update(classes_=np.arange(3)), "3 classes_"),
    "one class": (lambda s: s["fitted"].update(classes_=np.arange(1)), "classes_ must be"),
    "format 1 with the new params": (lambda s: s.update(_format_version=1), "'params' must be a dict"),
    "classes without weights": (lambda s: s["fitted"].pop("weights_"), "together"),
    "loss curve 2-D": (lambda s: s["fitted"].update(loss_curve_=np.zeros((2, 2))), "loss_curve_ must be"),
}


@pytest.mark.parametrize("edit, match", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_corrupted_or_too_new_pickles_are_refused_clearly(edit, match):
    data = _pickle_with_state(_corrupt(edit))
    with pytest.raises(ValueError, match=match):
        pickle.loads(data)


@pytest.mark.parametrize("state", [42, [1, 2], "weights", {"coefs_": [np.zeros((2, 2))]}], ids=repr)
def test_foreign_states_are_refused(state):
    with pytest.raises(ValueError, match="not a pickled backprop NeuralNetwork"):
        pickle.loads(_pickle_with_state(state))


def test_truncated_or_garbled_bytes_raise_and_never_crash():
    data = pickle.dumps(_fitted()[0])
    with pytest.raises((pickle.UnpicklingError, EOFError, ValueError)):
        pickle.loads(data[: len(data) // 2])
    rng = np.random.default_rng(0)
    for _ in range(50):  # flip a byte: pickle's own error, our ValueError, or a model that checks out
        garbled = bytearray(data)
        garbled[rng.integers(len(data))] ^= 0xFF
        try:
            nn = pickle.loads(bytes(garbled))
        except Exception:  # noqa: BLE001 - any Python exception is fine; a crash is not
            continue
        if isinstance(nn, NeuralNetwork) and nn.__sklearn_is_fitted__():
            p = nn.predict_proba(np.zeros((2, nn.n_features_in_)))
            assert p.shape == (2, 2)


def test_format_1_pickles_still_load_with_the_new_parameters_at_their_defaults():
    """A pickle written by backprop 0.1.0 (format 1: eight parameters, binary) loads and predicts as before."""
    nn, X, _ = _fitted()
    state = nn.__getstate__()
    state["_format_version"] = 1
    state["backprop_version"] = "0.1.0"
    state["params"] = {k: v for k, v in state["params"].items() if k in _params.param_names(1)}
    assert len(state["params"]) == 8
    loaded = pickle.loads(_pickle_with_state(state))
    assert loaded.get_params() == nn.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), nn.predict_proba(X))
    bad = dict(state, fitted=dict(state["fitted"], classes_=np.arange(3)))
    with pytest.raises(ValueError, match="two labels"):
        pickle.loads(_pickle_with_state(bad))


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_multi_class_model_round_trips(backend):
    X, _ = make_data(60, 3)
    y = np.array(["a", "b", "c"])[np.arange(60) % 3]
    nn = NeuralNetwork(n_hidden=(4,), max_iter=5, random_state=0, backend=backend, early_stopping=True,
                       activation="tanh", validation_fraction=0.2).fit(X, y)
    loaded = pickle.loads(pickle.dumps(nn))
    np.testing.assert_array_equal(loaded.classes_, ["a", "b", "c"])
    np.testing.assert_array_equal(loaded.validation_scores_, nn.validation_scores_)
    np.testing.assert_array_equal(loaded.predict_proba(X), nn.predict_proba(X))
    assert loaded.predict_proba(X).shape == (60, 3)


def test_a_pickle_without_validation_curves_restores_them_as_none():
    fitted, X, y = _fitted()
    assert fitted.validation_scores_ is None and fitted.validation_loss_curve_ is None
    for other in (pickle.loads(pickle.dumps(fitted)), copy.deepcopy(fitted)):
        assert other.validation_scores_ is None and other.validation_loss_curve_ is None
    labels = np.where(y > 0, "pos", "neg")
    with_val = NeuralNetwork(n_hidden=(3,), max_iter=5, random_state=0).fit(X, labels, X_val=X, y_val=labels)
    other = pickle.loads(pickle.dumps(with_val))  # pickles keep both curves
    np.testing.assert_array_equal(other.validation_scores_, with_val.validation_scores_)
    np.testing.assert_array_equal(other.validation_loss_curve_, with_val.validation_loss_curve_)
    assert not hasattr(pickle.loads(pickle.dumps(NeuralNetwork())), "validation_scores_")  # unfitted: as new


@pytest.mark.parametrize("solver", ["gd", "momentum", "adam"])
def test_the_solver_state_is_not_pickled_so_a_warm_start_restarts_it_but_copies_keep_it(solver):
    X, y = make_data(40, 3, np.float64)
    model = NeuralNetwork(n_hidden=(4,), max_iter=5, random_state=0, solver=solver, learning_rate=0.1).fit(X, y)
    unpickled, shallow, deep = pickle.loads(pickle.dumps(model)), copy.copy(model), copy.deepcopy(model)
    assert shallow.get_params() == model.get_params() and shallow.weights_ is model.weights_
    deep.set_params(warm_start=True).fit(X, y)  # before the original continues: the copy owns its state
    for m in (model, unpickled):
        m.set_params(warm_start=True).fit(X, y)
    # the deep copy continues exactly as the original did
    np.testing.assert_array_equal(deep.predict_proba(X), model.predict_proba(X))
    # gd has no state and continues exactly; momentum and Adam restart from zero after a pickle
    assert np.array_equal(unpickled.predict_proba(X), model.predict_proba(X)) == (solver == "gd")
