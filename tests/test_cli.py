"""``python -m backprop fit | predict | info``, run as a user would (a subprocess per command)."""

import csv
import io
import json

import numpy as np
import pytest

import backprop
from cli_helpers import frame, run, write_csv


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """200 rows: an id column, three numeric features, a string label; and a model fitted on it."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.where(X[:, 0] - X[:, 1] + 0.2 * X[:, 2] > 0, "spam", "ham")
    rows = [[f"id{i}", *X[i].tolist(), y[i]] for i in range(200)]
    data = write_csv(d / "train.csv", ["id", "x1", "x2", "x3", "kind"], rows)
    model = d / "model.npz"
    proc = run("fit", data, "--target", "kind", "--features", "x1,x2,x3", "--hidden", "4", "--max-iter", "300",
               "--learning-rate", "0.5", "--random-state", "0", "--out", model)
    assert proc.returncode == 0, proc.stderr
    return dict(dir=d, data=data, model=model, X=X, y=y, fit_stdout=proc.stdout)


def named(X, columns=("x1", "x2", "x3")):
    return frame(X, columns)


def parse_predictions(text):
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    proba = np.array([[float(r[0]), float(r[1])] for r in body])
    labels = np.array([r[2] for r in body])
    return header, proba, labels


def test_fit_reports_and_saves(dataset):
    assert "200 rows x 3 features" in dataset["fit_stdout"] and "saved to" in dataset["fit_stdout"]
    model = backprop.load(dataset["model"])
    assert model.get_params()["n_hidden"] == (4,)
    assert model.learning_rate == 0.5 and model.max_iter == 300 and model.random_state == 0
    assert model.classes_.tolist() == ["ham", "spam"]
    assert model.feature_names_in_.tolist() == ["x1", "x2", "x3"]
    assert model.score(named(dataset["X"]), dataset["y"]) > 0.9
    # the same fit through the API gives the same weights
    api = backprop.NeuralNetwork(n_hidden=(4,), max_iter=300, learning_rate=0.5, random_state=0)
    api.fit(dataset["X"], dataset["y"])
    for a, b in zip(api.weights_, model.weights_):
        np.testing.assert_array_equal(a, b)


def test_predict_to_stdout_matches_the_api(dataset):
    proc = run("predict", dataset["model"], dataset["data"])
    assert proc.returncode == 0, proc.stderr
    header, proba, labels = parse_predictions(proc.stdout)
    assert header == ["proba_ham", "proba_spam", "label"]
    model = backprop.load(dataset["model"])
    np.testing.assert_array_equal(proba, model.predict_proba(named(dataset["X"])))  # repr() round-trips exactly
    assert labels.tolist() == model.predict(named(dataset["X"])).tolist()


def test_predict_to_file_with_reordered_columns_and_no_target(dataset):
    d = dataset["dir"]
    X = dataset["X"]
    rows = [[X[i, 2], X[i, 0], X[i, 1]] for i in range(20)]
    data = write_csv(d / "new.csv", ["x3", "x1", "x2"], rows)
    out = d / "pred.csv"
    proc = run("predict", dataset["model"], data, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    _, proba, labels = parse_predictions(out.read_text())
    model = backprop.load(dataset["model"])
    np.testing.assert_array_equal(proba, model.predict_proba(named(X[:20])))
    assert labels.tolist() == model.predict(named(X[:20])).tolist()


def test_predict_reads_standard_input(dataset):
    text = dataset["data"].read_text()
    proc = run("predict", dataset["model"], "-", stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 201


def test_info(dataset):
    proc = run("info", dataset["model"])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "3 -> 4 -> 1" in out and "21 weights" in out  # 4 x (3 + 1) + 1 x (4 + 1)
    assert "ham, spam" in out and "x1, x2, x3" in out and "target:      kind" in out
    assert "300 iterations" in out
    proc = run("info", dataset["model"], "--json")
    info = json.loads(proc.stdout)
    assert info["layers"] == [3, 4, 1] and info["n_parameters"] == 21
    assert info["params"]["n_hidden"] == [4] and info["classes"] == ["ham", "spam"]
    assert info["feature_names"] == ["x1", "x2", "x3"] and info["target"] == "kind"


def test_numeric_labels_and_logistic_regression(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] > 0).astype(int)
    data = write_csv(tmp_path / "d.csv", ["a", "b", "y"], [[*X[i].tolist(), y[i]] for i in range(80)])
    model = tmp_path / "m.npz"
    proc = run("fit", data, "--target", "y", "--hidden", "none", "--max-iter", "50", "--learning-rate", "0.1",
               "--random-state", "1", "--backend", "numpy", "--out", model)
    assert proc.returncode == 0, proc.stderr
    m = backprop.load(model)
    assert m.n_hidden == () and m.backend == "numpy" and m.classes_.dtype.kind == "i"
    proc = run("predict", model, data)
    header, _, labels = parse_predictions(proc.stdout)
    assert header == ["proba_0", "proba_1", "label"] and set(labels) <= {"0", "1"}


def _error(proc, *needles):
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line, no traceback
    assert lines[0].startswith("python -m backprop ")
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_error_missing_target_column(dataset, tmp_path):
    _error(run("fit", dataset["data"], "--target", "nope", "--out", tmp_path / "m.npz"), "no column named 'nope'", "x1")
    assert not (tmp_path / "m.npz").exists()


def test_error_missing_feature_column_at_predict(dataset, tmp_path):
    data = write_csv(tmp_path / "d.csv", ["x1", "x3"], [[0.1, 0.2]])
    _error(run("predict", dataset["model"], data), "lacks the feature column(s) 'x2'", "x1, x2, x3")


def test_error_non_numeric_feature(dataset, tmp_path):
    # an id column is used when --features names it, and "id" holds text
    _error(run("fit", dataset["data"], "--target", "kind", "--features", "id,x1", "--out", tmp_path / "m.npz"),
           "column 'id' is not numeric", "'id0'")
    data = write_csv(tmp_path / "d.csv", ["x1", "x2", "x3"], [[0.1, "", 0.3]])
    _error(run("predict", dataset["model"], data), "column 'x2' has an empty cell")


def test_error_not_a_model(dataset):
    _error(run("predict", dataset["data"], dataset["data"]), "is not a backprop model file")
    _error(run("info", dataset["data"]), "is not a backprop model file")


def test_error_missing_files(dataset, tmp_path):
    _error(run("fit", tmp_path / "none.csv", "--target", "y", "--out", tmp_path / "m.npz"), "none.csv: no such file")
    _error(run("predict", tmp_path / "none.npz", dataset["data"]), "none.npz: no such file")
    _error(run("predict", dataset["model"], tmp_path / "none.csv"), "none.csv: no such file")
    _error(run("info", tmp_path / "none.npz"), "none.npz: no such file")


def test_error_bad_csv_and_labels(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _error(run("fit", empty, "--target", "y", "--out", tmp_path / "m.npz"), "is empty")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,y\n1,0\n2\n")
    _error(run("fit", ragged, "--target", "y", "--out", tmp_path / "m.npz"), "line 3", "1 fields")
    one = write_csv(tmp_path / "one.csv", ["a", "y"], [[1, "r"], [2, "r"], [3, "r"]])
    _error(run("fit", one, "--target", "y", "--out", tmp_path / "m.npz"), "only 1 class")


def test_three_classes_fit_and_predict(tmp_path):
    rows = [[i, ["r", "g", "b"][i % 3]] for i in range(30)]
    data = write_csv(tmp_path / "three.csv", ["a", "y"], rows)
    model = tmp_path / "m.npz"
    proc = run("fit", data, "--target", "y", "--hidden", "3", "--max-iter", "5", "--out", model, "--backend", "numpy")
    assert proc.returncode == 0, proc.stderr
    proc = run("predict", model, data)
    assert proc.returncode == 0, proc.stderr
    out = list(csv.reader(io.StringIO(proc.stdout)))
    assert out[0] == ["proba_b", "proba_g", "proba_r", "label"]
    proba = np.array([[float(v) for v in r[:3]] for r in out[1:]])
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert [r[3] for r in out[1:]] == [["b", "g", "r"][i] for i in proba.argmax(axis=1)]


def test_malformed_command_line_is_a_usage_error(dataset, tmp_path):
    proc = run("fit", dataset["data"], "--target", "kind", "--hidden", "8,x", "--out", tmp_path / "m.npz")
    assert proc.returncode == 2 and "--hidden" in proc.stderr and "Traceback" not in proc.stderr
    proc = run()
    assert proc.returncode == 2 and "fit" in proc.stderr


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"backprop {backprop.__version__}"


@pytest.mark.parametrize("hidden", ["0", "", "8,0", "8,,3", "-1"])
def test_hidden_sizes_that_are_not_layers_are_usage_errors(dataset, tmp_path, hidden):
    proc = run("fit", dataset["data"], "--target", "kind", "--features", "x1,x2,x3", "--hidden", hidden,
               "--out", tmp_path / "m.npz")
    assert proc.returncode == 2 and "--hidden" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "m.npz").exists()


def test_export_c_header(dataset, tmp_path):
    out = tmp_path / "net.h"
    proc = run("export", dataset["model"], "--format", "c", "--out", out, "--name", "spam")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "spam_predict_proba" in text and "#define spam_N_FEATURES 3" in text


def test_export_onnx(dataset, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "net.onnx"
    proc = run("export", dataset["model"], "--format", "onnx", "--out", out)
    assert proc.returncode == 0, proc.stderr
    onnx.checker.check_model(onnx.load(str(out)))
    model = backprop.load(dataset["model"])
    X = np.ascontiguousarray(dataset["X"][:10])
    _, proba = ort.InferenceSession(str(out)).run(None, {"X": X})
    np.testing.assert_allclose(proba, model.predict_proba(named(X)), rtol=1e-12, atol=1e-15)


def test_export_errors(dataset, tmp_path):
    _error(run("export", tmp_path / "none.npz", "--format", "c", "--out", tmp_path / "m.h"), "none.npz: no such file")
    _error(run("export", dataset["model"], "--format", "c", "--out", tmp_path / "m.h", "--name", "1bad"), "name")
    proc = run("export", dataset["model"], "--format", "pdf", "--out", tmp_path / "m.h")
    assert proc.returncode == 2


def test_error_damaged_model_file(dataset, tmp_path):
    data = bytearray(dataset["model"].read_bytes())
    data[len(data) // 2] ^= 0xFF  # a member's data: its CRC no longer matches
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    _error(run("info", bad), "bad.npz is not a backprop model file", "damaged")
