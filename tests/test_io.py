"""``backprop.save`` / ``backprop.load``: plain .npz files, readable by numpy alone, exact round trips."""

import json
import os
import zipfile

import numpy as np
import pytest

import backprop
from backprop import NeuralNetwork, NotFittedError
from backprop._io import read_model
from backprop._params import param_names

# Most fits here are tiny (a few iterations on a few rows): they test plumbing, not learning,
# and many end predicting one class, which ConvergenceWarning rightly reports.
pytestmark = pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")


def _data(n=120, d=4, seed=0, labels=(0, 1)):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.3, labels[1], labels[0])
    return X, y


def _fitted(labels=(0, 1), dtype=np.float64, **kw):
    X, y = _data(labels=labels)
    params = dict(n_hidden=(5, 3), max_iter=50, random_state=0, learning_rate=0.5)
    params.update(kw)
    return NeuralNetwork(**params).fit(X.astype(dtype), y), X.astype(dtype), y


def test_round_trip_is_exact(tmp_path):
    model, X, y = _fitted()
    path = tmp_path / "m.npz"
    backprop.save(model, path)
    loaded = backprop.load(path)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    np.testing.assert_array_equal(loaded.loss_curve_, model.loss_curve_)
    assert loaded.n_iter_ == model.n_iter_ == 50
    assert loaded.n_features_in_ == 4
    for a, b in zip(loaded.weights_, model.weights_):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype and a.flags.c_contiguous


@pytest.mark.parametrize("labels", [("cat", "dog"), (-1, 1), (-2.0, 2.0), (False, True)])
def test_labels_of_any_plain_type(tmp_path, labels):
    model, X, _ = _fitted(labels=labels)
    backprop.save(model, tmp_path / "m.npz")
    loaded = backprop.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.classes_, np.array(labels))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_object_string_labels_are_stored_as_unicode(tmp_path):
    X, y = _data(labels=("no", "yes"))
    model = NeuralNetwork(n_hidden=(), max_iter=5, random_state=0).fit(X, y.astype(object))
    backprop.save(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as d:
        assert d["classes"].dtype.kind == "U"
        assert d["classes"].tolist() == ["no", "yes"]


def test_numpy_alone_reads_every_entry_without_pickle(tmp_path):
    model, X, _ = _fitted(labels=("a", "b"))
    path = tmp_path / "m.npz"
    backprop.save(model, path, metadata={"feature_names": ["f0", "f1", "f2", "f3"]})
    with np.load(path, allow_pickle=False) as d:
        contents = {k: d[k] for k in d.files}  # raises if anything needed pickle
    assert str(contents["format"]) == "backprop.NeuralNetwork"
    assert int(contents["format_version"]) == 2
    params = json.loads(str(contents["params"]))
    assert params["n_hidden"] == [5, 3] and params["random_state"] == 0
    assert int(contents["n_layers"]) == 3
    assert json.loads(str(contents["metadata"]))["feature_names"] == ["f0", "f1", "f2", "f3"]
    # the article's forward pass from the raw arrays reproduces predict_proba
    a = X
    for i in range(int(contents["n_layers"])):
        W = contents[f"weights_{i}"]
        a = 1 / (1 + np.exp(-(a @ W[:, 1:].T + W[:, 0])))
    np.testing.assert_allclose(a[:, 0], model.predict_proba(X)[:, 1], rtol=1e-12)


def test_float32_model_stays_float32(tmp_path):
    model, X, _ = _fitted(dtype=np.float32)
    backprop.save(model, tmp_path / "m.npz")
    loaded = backprop.load(tmp_path / "m.npz")
    assert all(W.dtype == np.float32 for W in loaded.weights_)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_path_is_used_exactly_and_metadata_comes_back(tmp_path):
    model, _, _ = _fitted()
    path = tmp_path / "model.bin"
    backprop.save(model, str(path), metadata={"target": "y"})
    assert path.exists() and not (tmp_path / "model.bin.npz").exists()
    _, info = read_model(path)
    assert info["metadata"] == {"target": "y"} and info["format_version"] == 2


def test_warm_start_continues_after_load(tmp_path):
    model, X, y = _fitted()
    backprop.save(model, tmp_path / "m.npz")
    loaded = backprop.load(tmp_path / "m.npz")
    loaded.set_params(warm_start=True, max_iter=20).fit(X, y)
    model.set_params(warm_start=True, max_iter=20).fit(X, y)
    assert loaded.n_iter_ == model.n_iter_ == 70
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_generator_random_state_is_saved_as_none(tmp_path):
    model, _, _ = _fitted(random_state=np.random.default_rng(3))
    backprop.save(model, tmp_path / "m.npz")
    assert backprop.load(tmp_path / "m.npz").random_state is None


def test_unfitted_model_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        backprop.save(NeuralNetwork(), tmp_path / "m.npz")
    with pytest.raises(TypeError):
        backprop.save("not a model", tmp_path / "m.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        backprop.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("kind", ["text", "other_npz", "npy", "pickle_npz", "empty", "zip"])
def test_not_a_model(tmp_path, kind):
    path = tmp_path / "x.npz"
    if kind == "text":
        path.write_text("a,b\n1,2\n")
    elif kind == "other_npz":
        np.savez(path, a=np.arange(3))
    elif kind == "npy":
        np.save(tmp_path / "x.npy", np.arange(3))
        path = tmp_path / "x.npy"
    elif kind == "pickle_npz":
        np.savez(path, format=np.array(["backprop.NeuralNetwork"], dtype=object))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="not a backprop model file"):
        backprop.load(path)


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    arrays.update(changes)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_newer_format_version_is_refused(tmp_path):
    model, _, _ = _fitted()
    path = tmp_path / "m.npz"
    backprop.save(model, path)
    _rewrite(path, format_version=np.array(99))
    with pytest.raises(ValueError, match="newer"):
        backprop.load(path)


def test_inconsistent_file_is_refused(tmp_path):
    model, _, _ = _fitted()
    path = tmp_path / "m.npz"
    backprop.save(model, path)
    _rewrite(path, weights_1=np.zeros((4, 6)))
    with pytest.raises(ValueError, match="shapes"):
        backprop.load(path)
    backprop.save(model, path)
    with np.load(path, allow_pickle=False) as d:
        params = {**json.loads(str(d["params"])), "colour": "red"}
    _rewrite(path, params=np.array(json.dumps(params)))
    with pytest.raises(ValueError, match="colour"):
        backprop.load(path)


# ---------------------------------------------------------------------- atomic saves
def _atomic_model():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    return backprop.NeuralNetwork(n_hidden=(), max_iter=50, random_state=0).fit(X, [0, 0, 1, 1])


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_save_leaves_the_previous_file_intact_and_no_temporary_file(tmp_path, monkeypatch, exc):
    path = tmp_path / "model.npz"
    model = _atomic_model()
    backprop.save(model, path)
    before = path.read_bytes()
    real_savez = np.savez

    def failing_savez(f, **arrays):  # writes part of the archive, then fails
        real_savez(f, **{k: arrays[k] for k in list(arrays)[:3]})
        raise exc

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(type(exc)):
        backprop.save(model.set_params(max_iter=7), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_a_folder_or_a_missing_folder_as_the_path_is_named_clearly(tmp_path):
    model = _atomic_model()
    (tmp_path / "folder").mkdir()
    for path in (tmp_path / "folder", f"{tmp_path / 'model.npz'}/"):  # a trailing slash would write model.npz
        with pytest.raises(IsADirectoryError, match="folder: give the file's name"):
            backprop.save(model, path)
    with pytest.raises(FileNotFoundError, match="no such folder") as info:
        backprop.save(model, tmp_path / "missing" / "model.npz")
    assert ".tmp" not in str(info.value)  # the temporary file is not what the user named
    with pytest.raises(FileNotFoundError, match="no such folder"):
        backprop.to_c(model, tmp_path / "missing" / "model.h")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_save_replaces_through_a_symlink_and_keeps_the_permissions(tmp_path):
    model = _atomic_model()
    real = tmp_path / "real.npz"
    backprop.save(model, real)
    os.chmod(real, 0o640)
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    backprop.save(model, link)
    assert link.is_symlink() and (os.stat(real).st_mode & 0o777) == 0o640
    np.testing.assert_array_equal(backprop.load(link).weights_[0], model.weights_[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.npz", "real.npz"]


# ---------------------------------------------------------------------- damaged files
def _flipped(data, pos, mask):
    b = bytearray(data)
    b[pos] ^= mask
    return bytes(b)


def test_a_damaged_file_is_a_value_error_naming_it_or_loads_unchanged(tmp_path):
    # A flipped byte anywhere (a member's data: bad CRC; a zip header: bad magic, "encrypted",
    # an unsupported version, an offset out of the file) is the ValueError naming the file, or,
    # where zip ignores the byte (a timestamp, padding), the model exactly as saved.
    model, X, _ = _fitted(n_hidden=(3,), max_iter=5)
    good = tmp_path / "m.npz"
    backprop.save(model, good)
    data = good.read_bytes()
    bad = tmp_path / "bad.npz"
    for pos in sorted({*range(0, len(data), 41), len(data) // 2, len(data) - 6}):
        for mask in (0x01, 0xFF):
            bad.write_bytes(_flipped(data, pos, mask))
            try:
                loaded = backprop.load(bad)
            except ValueError as exc:
                assert str(bad) in str(exc), (pos, mask, exc)
                continue
            np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
            assert loaded.get_params() == model.get_params()


def test_a_bad_crc_says_the_archive_is_damaged(tmp_path):
    model, _, _ = _fitted(n_hidden=(3,), max_iter=5)
    path = tmp_path / "m.npz"
    backprop.save(model, path)
    with zipfile.ZipFile(path) as z:  # a byte of the weights' data, inside the archive
        info = z.getinfo("weights_0.npy")
    data = path.read_bytes()
    path.write_bytes(_flipped(data, info.header_offset + 30 + len(info.filename) + len(info.extra) + 130, 0x10))
    with pytest.raises(ValueError, match=f"{path} is not a backprop model file.*archive is damaged.*CRC"):
        backprop.load(path)


@pytest.mark.parametrize("missing", [("activation",), ("activation", "n_hidden"), ("threshold",)])
def test_a_file_missing_a_parameter_is_refused_not_read_with_the_default(tmp_path, missing):
    model, _, _ = _fitted(activation="tanh")
    path = tmp_path / "m.npz"
    backprop.save(model, path)
    with np.load(path, allow_pickle=False) as d:
        params = json.loads(str(d["params"]))
    for name in missing:
        del params[name]
    _rewrite(path, params=np.array(json.dumps(params)))
    in_order = [name for name in param_names() if name in missing]
    with pytest.raises(ValueError, match=f"{path}: params lacks {', '.join(in_order)}, which backprop.save"):
        backprop.load(path)


def test_a_version_1_file_needs_only_the_parameters_of_its_time(tmp_path):
    model, X, _ = _fitted()
    path = tmp_path / "m.npz"
    backprop.save(model, path)
    with np.load(path, allow_pickle=False) as d:
        params = {name: value for name, value in json.loads(str(d["params"])).items() if name in param_names(1)}
    _rewrite(path, format_version=np.array(1), params=np.array(json.dumps(params)))
    np.testing.assert_array_equal(backprop.load(path).predict_proba(X), model.predict_proba(X))
    del params["threshold"]
    _rewrite(path, params=np.array(json.dumps(params)))
    with pytest.raises(ValueError, match=f"{path}: params lacks threshold,"):
        backprop.load(path)


def test_validation_curves_are_not_stored_and_load_as_none(tmp_path):
    model, X, y = _fitted()
    with_val, _, _ = _fitted(max_iter=5)
    with_val.fit(X, y, X_val=X, y_val=y)
    assert with_val.validation_scores_ is not None and with_val.validation_loss_curve_ is not None
    for m in (model, with_val):
        backprop.save(m, tmp_path / "m.npz")
        loaded = backprop.load(tmp_path / "m.npz")
        assert loaded.validation_scores_ is None and loaded.validation_loss_curve_ is None
