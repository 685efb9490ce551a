"""One checker (_persistence.check_model) for models read back: the same impossible models are
refused by backprop.load (naming the file) and by unpickling ("corrupted NeuralNetwork pickle"),
on models fitted by both backends; malformed parameters and metadata are ValueErrors, one line
on the command line."""

import json
import pickle

import numpy as np
import pytest

import backprop
from backprop import NeuralNetwork
from backprop._cli import main

BACKENDS = ["cpp", "numpy"]


def _fitted(backend="cpp"):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    return NeuralNetwork(n_hidden=(4,), max_iter=40, random_state=0, backend=backend).fit(X, (X[:, 0] > 0).astype(int))


def _forged(state):
    class Forged:
        def __reduce__(self):
            return object.__new__, (NeuralNetwork,), state

    return pickle.dumps(Forged())


# (what to change in the pickled state's "fitted"/"params", the same in a model file, the message)
IMPOSSIBLE = {
    "infinite weight": (lambda f, p: f["weights_"][0].__setitem__((0, 1), np.inf), lambda a: a["weights_0"].__setitem__((0, 1), np.inf), "not finite"),
    "duplicated classes": (lambda f, p: f.update(classes_=np.array([1, 1])), lambda a: a.update(classes=np.array([1, 1])), "distinct and sorted"),
    "unsorted classes": (lambda f, p: f.update(classes_=np.array([1, 0])), lambda a: a.update(classes=np.array([1, 0])), "distinct and sorted"),
    "NaN class": (lambda f, p: f.update(classes_=np.array([0.0, np.nan])), lambda a: a.update(classes=np.array([0.0, np.nan])), "NaN or infinity"),
    "negative n_iter": (lambda f, p: f.update(n_iter_=-3), lambda a: a.update(n_iter=np.array(-3)), "n_iter"),
    "infinite loss": (lambda f, p: f["loss_curve_"].__setitem__(0, np.inf), lambda a: a["loss_curve"].__setitem__(0, np.inf), "loss_curve_ contains NaN"),
    "loss curve longer than n_iter": (lambda f, p: f.update(n_iter_=2), lambda a: a.update(n_iter=np.array(2)), "more than n_iter_"),
}


# Parameters that no longer describe the fitted state, as set_params may leave them (fit
# validates them again): a model file cannot hold them (its reader derives the weights' shapes
# from n_hidden), so load refuses them and save does not write them; a pickle keeps them as given.
PARAMS_CHANGED = {
    "invalid learning rate": (dict(learning_rate=-1.0), "learning_rate must be"),
    "invalid activation": (dict(activation="swish"), "activation must be one of"),
    "n_hidden not the weights'": (dict(n_hidden=(5,)), "do not fit n_hidden"),
}


def _params(arrays, **changes):
    params = json.loads(str(arrays["params"]))
    params.update(changes)
    arrays["params"] = np.array(json.dumps(params))


def _rewrite(path, edit):
    with np.load(path, allow_pickle=False) as d:
        arrays = {k: d[k].copy() for k in d.files}
    edit(arrays)
    np.savez(path, **arrays)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_impossible_models_are_refused_by_both_paths(tmp_path, backend, case):
    edit_state, edit_file, match = IMPOSSIBLE[case]
    model = _fitted(backend)
    state = model.__getstate__()
    edit_state(state["fitted"], state["params"])
    with pytest.raises(ValueError, match="corrupted NeuralNetwork pickle.*" + match):
        pickle.loads(_forged(state))
    path = tmp_path / "m.npz"
    backprop.save(model, path)
    _rewrite(path, edit_file)
    with pytest.raises(ValueError, match=f"{path}.*{match}"):
        backprop.load(path)


@pytest.mark.parametrize("case", list(PARAMS_CHANGED))
def test_parameters_set_after_fit_round_trip_through_pickles_but_not_into_files(tmp_path, case):
    import copy

    changes, match = PARAMS_CHANGED[case]
    model = _fitted()
    X = np.random.default_rng(1).normal(size=(10, 3))
    expected = model.predict_proba(X)
    model.set_params(**changes)
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert other.get_params() == model.get_params()
        np.testing.assert_array_equal(other.weights_[0], model.weights_[0])
        if case != "invalid activation":  # predict needs a known activation, as the original does
            np.testing.assert_array_equal(other.predict_proba(X), expected)
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match=f"cannot save the model to {path}: .*{match}"):
        backprop.save(model, path)
    assert not path.exists()
    backprop.save(model.set_params(**_fitted().get_params()), path)  # a file whose params were edited: refused
    _rewrite(path, lambda a: _params(a, **{k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}))
    with pytest.raises(ValueError, match=f"{path}.*{match}"):
        backprop.load(path)


def test_a_pickle_still_checks_the_weights_against_the_features_and_classes():
    model = _fitted()
    for edit, match in ((lambda f: f.update(n_features_in_=5), "do not fit n_features_in_=5"),
                        (lambda f: f.update(classes_=np.array([0, 1, 2])), "do not fit n_features_in_=3 and 3 classes_"),
                        (lambda f: f["weights_"].__setitem__(1, np.zeros((1, 7))), "do not chain")):
        state = model.__getstate__()
        state["params"]["n_hidden"] = (9, 9)  # not checked against the weights in a pickle
        edit(state["fitted"])
        with pytest.raises(ValueError, match="corrupted NeuralNetwork pickle.*" + match):
            pickle.loads(_forged(state))


@pytest.mark.parametrize("version", [0, -1])
def test_format_version_below_1_is_refused(tmp_path, version):
    path = tmp_path / "m.npz"
    backprop.save(_fitted(), path)
    _rewrite(path, lambda a: a.update(format_version=np.array(version)))
    with pytest.raises(ValueError, match=f"format_version must be >= 1, got {version}"):
        backprop.load(path)


@pytest.mark.parametrize("key", ["params", "metadata"])
def test_deeply_nested_json_is_a_value_error(tmp_path, key):
    path = tmp_path / "m.npz"
    backprop.save(_fitted(), path)
    _rewrite(path, lambda a: a.update({key: np.array("[" * 100000 + "]" * 100000)}))
    with pytest.raises(ValueError, match=f"{key}.*nested too deeply"):
        backprop.load(path)


@pytest.mark.parametrize(
    "metadata",
    ["[1, 2]", '{"feature_names": 3}', '{"feature_names": ["a", 1, "c"]}', '{"target": [1]}', '{"feature_names": ["a"]}'],
)
def test_metadata_of_the_wrong_type_is_one_line_on_the_command_line(tmp_path, capsys, metadata):
    path = tmp_path / "m.npz"
    backprop.save(_fitted(), path)
    _rewrite(path, lambda a: a.update(metadata=np.array(metadata)))
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    (tmp_path / "x.csv").write_text("a,b,c\n1,2,3\n")
    assert main(["predict", str(path), str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err
