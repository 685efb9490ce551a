"""``python -m backprop fit``'s estimator options, --standardize, --verbose, --drop, identifier
columns, warnings in the command line's voice, and the error messages of CSV cells and labels."""

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import backprop
from backprop import _cli
from backprop._params import PARAMS
from cli_helpers import frame, run, write_csv

def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc


def one_line_error(proc, *needles, status=1):
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    if status == 1:
        assert len(lines) == 1 and lines[0].startswith("python -m backprop "), proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr
    return proc.stderr


def predictions(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], np.array([[float(v) for v in r[:-1]] for r in rows[1:]]), [r[-1] for r in rows[1:]]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """120 rows of three features on very different scales (one constant) and a 0/1 label."""
    d = tmp_path_factory.mktemp("options")
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=120), 1000 + 300 * rng.normal(size=120), np.full(120, 7.0)])
    y = (X[:, 0] + (X[:, 1] - 1000) / 300 > 0).astype(int)
    path = write_csv(d / "d.csv", ["a", "b", "c", "y"], [[*X[i].tolist(), y[i]] for i in range(120)])
    return dict(dir=d, path=path, X=X, y=y)


def named(X, columns=("a", "b", "c")):
    return frame(X, columns)


# ------------------------------------------------------------------------------------- options
def test_every_parameter_is_an_option_with_its_doc_and_choices():
    parser = _cli.build_parser()
    fit = parser._subparsers._group_actions[0].choices["fit"]
    actions = {a.dest: a for a in fit._actions}
    for p in PARAMS:
        if p.name in ("callback", "warm_start"):
            assert p.name not in actions
            continue
        a = actions[p.name]
        assert _cli.option_of(p.name) in a.option_strings
        if p.name != "verbose":
            assert p.doc.replace("``", "").split()[-1] in a.help  # the table's doc
        choices = getattr(p.check, "choices", None)
        if choices:
            assert a.metavar == "{" + ",".join(choices()) + "}"
    assert actions["n_hidden"].option_strings == ["--hidden"]
    assert "--no-nesterov" in actions["nesterov"].option_strings
    assert "--early-stopping" in actions["early_stopping"].option_strings
    # the article's defaults, said to differ from the estimator's
    assert actions["n_hidden"].default == (8, 3) and "the article's" in actions["n_hidden"].help
    assert actions["max_iter"].default == 2000 and "the estimator's is 10" in actions["max_iter"].help


OPTIONS = dict(
    n_hidden=("5,2", (5, 2)), learning_rate=("0.01", 0.01), max_iter=("30", 30), threshold=("0.4", 0.4),
    random_state=("3", 3), backend=("numpy", "numpy"), n_threads=("1", 1), activation=("tanh", "tanh"),
    init=("glorot", "glorot"), solver=("adam", "adam"), batch_size=("16", 16), alpha=("0.001", 0.001),
    momentum=("0.5", 0.5), nesterov=(None, False), beta_1=("0.8", 0.8), beta_2=("0.99", 0.99),
    epsilon=("1e-7", 1e-7), tol=("1e-4", 1e-4), n_iter_no_change=("5", 5), early_stopping=(None, True),
    validation_fraction=("0.2", 0.2),
)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_options_reach_the_estimator(data, tmp_path):
    args = []
    for name, (text, _) in OPTIONS.items():
        flag = _cli.option_of(name)
        args += [f"--no-{flag[2:]}"] if text is None and name == "nesterov" else [flag] + ([] if text is None else [text])
    model = tmp_path / "m.npz"
    ok(run("fit", data["path"], "--target", "y", *args, "--out", model))
    saved = backprop.load(model)
    expected = backprop.NeuralNetwork(**{k: v for k, (_, v) in OPTIONS.items()})
    assert saved.get_params() == expected.get_params()
    expected.fit(data["X"], data["y"])  # the same fit through the API
    for a, b in zip(expected.weights_, saved.weights_):
        np.testing.assert_array_equal(a, b)


def test_defaults_are_the_estimators_but_the_articles(data, tmp_path):
    model = tmp_path / "m.npz"
    ok(run("fit", data["path"], "--target", "y", "--out", model, "--max-iter", "3"))
    params = backprop.load(model).get_params()
    defaults = backprop.NeuralNetwork().get_params()
    assert params["n_hidden"] == (8, 3)
    assert {k: v for k, v in params.items() if k not in ("n_hidden", "max_iter")} == {
        k: v for k, v in defaults.items() if k not in ("n_hidden", "max_iter")
    }


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--alpha", "-1", "alpha must be a number in [0.0, inf)"),
        ("--alpha", "abc", "alpha"),
        ("--solver", "sgd", "solver must be one of ('gd', 'momentum', 'adam')"),
        ("--batch-size", "0", "batch_size must be"),
        ("--validation-fraction", "1", "validation_fraction must be a number in (0.0, 1.0)"),
        ("--n-threads", "0", "n_threads must be None or an integer >= 1"),
        ("--max-iter", "-2", "max_iter"),
    ],
)
def test_bad_option_values_get_the_estimators_message(data, tmp_path, option, value, message):
    proc = run("fit", data["path"], "--target", "y", option, value, "--out", tmp_path / "m.npz")
    one_line_error(proc, option, message, status=2)
    assert not (tmp_path / "m.npz").exists()


def test_none_is_accepted_where_the_parameter_allows_it(data, tmp_path):
    model = tmp_path / "m.npz"
    ok(run("fit", data["path"], "--target", "y", "--tol", "none", "--batch-size", "None", "--max-iter", "2",
           "--out", model))
    assert backprop.load(model).tol is None and backprop.load(model).batch_size is None


# ------------------------------------------------------------------------------------ progress
def test_verbose_draws_a_progress_bar_and_changes_nothing(data, tmp_path):
    pytest.importorskip("sklearn")
    quiet, loud = tmp_path / "q.npz", tmp_path / "v.npz"
    common = ["fit", data["path"], "--target", "y", "--max-iter", "400", "--random-state", "0", "--standardize"]
    q = ok(run(*common, "--out", quiet))
    v = ok(run(*common, "--verbose", "--out", loud))
    assert q.stderr == ""
    assert "400/400 epochs" in v.stderr and "[" + "#" * _cli.ProgressBar.WIDTH + "]" in v.stderr
    assert v.stderr.endswith("\n") and "loss" in v.stderr
    a, b = (backprop.load(m).steps[-1][1] for m in (quiet, loud))  # Pipelines: standardized
    for Wa, Wb in zip(a.weights_, b.weights_):
        np.testing.assert_array_equal(Wa, Wb)
    assert a.get_params() == b.get_params() and b.callback is None and b.verbose is False


def test_progress_bar_unit():
    out = io.StringIO()
    bar = _cli.ProgressBar(10, out)
    for i in range(1, 11):
        assert bar(None, i, 0.5) is None  # never stops the fit
    bar.close()
    assert out.getvalue().startswith("\r[") and "10/10 epochs" in out.getvalue() and out.getvalue().endswith("\n")


# --------------------------------------------------------------------------------- standardize
def test_standardize_round_trip(data, tmp_path):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = tmp_path / "s.npz"
    out = ok(run("fit", data["path"], "--target", "y", "--standardize", "--hidden", "4", "--max-iter", "300",
                 "--random-state", "0", "--out", model)).stdout
    assert "(standardized)" in out
    loaded = backprop.load(model)
    assert isinstance(loaded, Pipeline) and sklearn is not None
    scaler, net = loaded.steps[0][1], loaded.steps[1][1]
    ref = StandardScaler().fit(data["X"])
    np.testing.assert_allclose(scaler.mean_, ref.mean_, rtol=1e-13)
    np.testing.assert_allclose(scaler.scale_, ref.scale_, rtol=1e-13)
    assert scaler.scale_[2] == 1.0  # the constant column, as StandardScaler
    assert scaler.feature_names_in_.tolist() == ["a", "b", "c"]  # the step that sees the named columns
    # the network was fitted on the scaled columns
    api = backprop.NeuralNetwork(n_hidden=(4,), max_iter=300, random_state=0).fit(ref.transform(data["X"]), data["y"])
    for a, b in zip(api.weights_, net.weights_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    expected = loaded.predict_proba(named(data["X"]))
    header, proba, labels = predictions(ok(run("predict", model, data["path"])).stdout)
    np.testing.assert_array_equal(proba, expected)
    assert labels == [str(v) for v in loaded.predict(named(data["X"])).tolist()]
    info = ok(run("info", model)).stdout
    assert "scaling:     standardized" in info and "version 3" in info
    js = json.loads(ok(run("info", model, "--json")).stdout)
    np.testing.assert_allclose(js["scaling"]["mean"], ref.mean_, rtol=1e-13)
    # save and load the Pipeline itself in Python
    again = tmp_path / "p.npz"
    backprop.save(loaded, again)
    back = backprop.load(again)
    np.testing.assert_array_equal(back.predict_proba(named(data["X"])), expected)


def test_standardized_exports_equal_predict_proba(data, tmp_path):
    from test_c_export import CC, CFLAGS, PROGRAM

    model = tmp_path / "s.npz"
    ok(run("fit", data["path"], "--target", "y", "--standardize", "--hidden", "3", "--max-iter", "200",
           "--random-state", "1", "--out", model))
    _, expected, _ = predictions(ok(run("predict", model, data["path"])).stdout)
    X = data["X"]
    if CC is not None:
        ok(run("export", model, "--format", "c", "--out", tmp_path / "net.h", "--name", "net"))
        (tmp_path / "main.c").write_text(PROGRAM.format(name="net", T="double", label_format=r'"%lld\n"'))
        subprocess.run([CC, *CFLAGS, "-o", str(tmp_path / "p"), str(tmp_path / "main.c"), "-lm"], check=True, cwd=tmp_path)
        text = "\n".join(" ".join(repr(float(v)) for v in row) for row in X) + "\n"
        lines = subprocess.run([str(tmp_path / "p")], input=text, capture_output=True, text=True, check=True).stdout.splitlines()
        proba = np.array([[float(v) for v in line.split()[:-1]] for line in lines[: len(X)]])
        np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=1e-15)
    ort = pytest.importorskip("onnxruntime")
    ok(run("export", model, "--format", "onnx", "--out", tmp_path / "net.onnx"))
    _, proba = ort.InferenceSession(str(tmp_path / "net.onnx")).run(None, {"X": np.ascontiguousarray(X)})
    np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=1e-15)


def test_load_without_scikit_learn_refuses_a_scaled_model(data, tmp_path):
    model = tmp_path / "s.npz"
    ok(run("fit", data["path"], "--target", "y", "--standardize", "--max-iter", "5", "--out", model))
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import backprop\n"
        f"try:\n    backprop.load({str(model)!r})\nexcept ImportError as e:\n    print('refused:', e)\n"
    )
    proc = ok(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60))
    assert proc.stdout.startswith("refused:") and "stores feature scaling" in proc.stdout
    # the command line needs no scikit-learn for it
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from backprop._cli import main\n"
        f"sys.exit(main(['predict', {str(model)!r}, {str(data['path'])!r}]))\n"
    )
    proc = ok(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60))
    assert len(proc.stdout.splitlines()) == 121


def test_breast_cancer_csv_learns_with_standardize(tmp_path):
    datasets = pytest.importorskip("sklearn.datasets")
    bc = datasets.load_breast_cancer()
    names = [n.replace(" ", "_") for n in bc.feature_names]
    path = write_csv(tmp_path / "bc.csv", [*names, "diagnosis"],
                     [[*row.tolist(), int(t)] for row, t in zip(bc.data, bc.target)])
    raw = run("fit", path, "--target", "diagnosis", "--random-state", "0", "--out", tmp_path / "raw.npz")
    ok(raw)
    warning = [line for line in raw.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("python -m backprop fit: warning: ")
    assert "--standardize" in warning[0] and "sklearn" not in warning[0] and "learning_rate=" not in warning[0]
    assert "--learning-rate 1" in warning[0] and "--max-iter 2000" in warning[0]
    scaled = ok(run("fit", path, "--target", "diagnosis", "--standardize", "--random-state", "0",
                    "--out", tmp_path / "bc.npz"))
    accuracy = float(scaled.stdout.split("training accuracy ")[1].split()[0])
    assert accuracy >= 0.95 and "warning" not in scaled.stderr


# --------------------------------------------------------------------------- warnings' voice
def test_cli_warning_translates_python_keywords_to_options():
    text = ("the training loss rises or cycles instead of decreasing: full-batch gradient descent at "
            "learning_rate=8 is above the stability limit of this loss. The largest stable learning rate is "
            "about 2.1 (2/lambda); use a smaller learning_rate, or solver='adam'")
    line = _cli.cli_warning("fit", text)
    assert line.startswith("python -m backprop fit: warning: ")
    assert "--learning-rate 8" in line and "--solver adam" in line and "solver='adam'" not in line
    assert "2/lambda" in line and "\n" not in _cli.cli_warning("fit", "two\nlines")
    assert "n_hidden" not in _cli.cli_warning("fit", "n_hidden=(3,)") and "--hidden" in _cli.cli_warning("fit", "n_hidden=3")


def test_stability_warning_is_one_line_naming_options(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    path = write_csv(tmp_path / "d.csv", ["a", "b", "c", "y"], [[*X[i].tolist(), y[i]] for i in range(200)])
    X1 = np.hstack([np.ones((200, 1)), X])
    limit = 2 / (np.linalg.eigvalsh(X1.T @ X1)[-1] / (4 * 200))  # full-batch gd's stability limit
    proc = ok(run("fit", path, "--target", "y", "--hidden", "none", "--learning-rate", repr(float(3 * limit)),
                  "--max-iter", "200", "--random-state", "0", "--out", tmp_path / "m.npz"))
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("python -m backprop fit: warning: ") for line in lines), proc.stderr
    assert any("--solver adam" in line for line in lines) and "solver='adam'" not in proc.stderr
    assert "warnings.warn" not in proc.stderr and "Warning:" not in proc.stderr


# ---------------------------------------------------------------------------- columns chosen
def test_id_column_is_left_out_with_a_note(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    path = write_csv(tmp_path / "d.csv", ["ID", "a", "b", "y"], [[i + 100, *X[i].tolist(), y[i]] for i in range(60)])
    proc = ok(run("fit", path, "--target", "y", "--max-iter", "5", "--out", tmp_path / "m.npz"))
    notes = [line for line in proc.stderr.splitlines() if "note:" in line]
    assert len(notes) == 1 and "note: column 'ID' left out" in notes[0] and "--features" in notes[0]
    assert backprop.load(tmp_path / "m.npz").feature_names_in_.tolist() == ["a", "b"]
    proc = ok(run("fit", path, "--target", "y", "--features", "ID,a", "--max-iter", "5", "--out", tmp_path / "m.npz"))
    assert "note" not in proc.stderr
    assert backprop.load(tmp_path / "m.npz").feature_names_in_.tolist() == ["ID", "a"]
    proc = ok(run("fit", path, "--target", "y", "--drop", "a,ID", "--max-iter", "5", "--out", tmp_path / "m.npz"))
    assert backprop.load(tmp_path / "m.npz").feature_names_in_.tolist() == ["b"] and "note" not in proc.stderr
    one_line_error(run("fit", path, "--target", "y", "--drop", "nope", "--out", tmp_path / "m.npz"),
                   "--drop", "no column named 'nope'")
    one_line_error(run("fit", path, "--target", "y", "--drop", "a,b,ID", "--out", tmp_path / "m.npz"),
                   "no feature columns")
    # predict uses exactly the stored names: the id column (and any other) is ignored there
    ok(run("fit", path, "--target", "y", "--max-iter", "5", "--out", tmp_path / "m.npz"))
    header, proba, _ = predictions(ok(run("predict", tmp_path / "m.npz", path)).stdout)
    assert proba.shape == (60, 2)


@pytest.mark.parametrize("start", [0, 1])
def test_pandas_index_column_is_left_out(tmp_path, start):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    path = write_csv(tmp_path / "d.csv", ["", "a", "b", "y"], [[i + start, *X[i].tolist(), y[i]] for i in range(30)])
    proc = ok(run("fit", path, "--target", "y", "--max-iter", "5", "--out", tmp_path / "m.npz"))
    assert "note: the unnamed first column" in proc.stderr and "30 rows x 2 features" in proc.stdout
    assert backprop.load(tmp_path / "m.npz").feature_names_in_.tolist() == ["a", "b"]
    ok(run("predict", tmp_path / "m.npz", path))


def test_unnamed_first_column_that_is_no_index_is_an_error(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["", "a", "y"], [[5 - i, i, i % 2] for i in range(6)])
    one_line_error(run("fit", path, "--target", "y", "--out", tmp_path / "m.npz"),
                   "first column has no name and is not a row index")


# ------------------------------------------------------------------------------- error texts
@pytest.mark.parametrize(
    "cell, needle",
    [("inf", "non-finite value 'inf'"), ("-Infinity", "non-finite"), ("nan", "non-finite value 'nan'"),
     ("abc", "is not numeric: data row 3 has 'abc'"), ("", "empty cell in data row 3")],
)
def test_bad_feature_cell_names_file_column_and_row(tmp_path, cell, needle):
    rows = [[1.0, 2.0, 0], [2.0, 3.0, 1], [3.0, cell, 0], [4.0, 5.0, 1]]
    path = write_csv(tmp_path / "bad.csv", ["a", "b", "y"], rows)
    msg = one_line_error(run("fit", path, "--target", "y", "--out", tmp_path / "m.npz"), "bad.csv", "column 'b'", needle)
    assert "row 3" in msg


def test_empty_target_cell_names_file_and_row(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "y"], [[1, "x"], [2, ""], [3, "z"]])
    one_line_error(run("fit", path, "--target", "y", "--out", tmp_path / "m.npz"),
                   "t.csv", "target column 'y' has an empty cell in data row 2")


@pytest.mark.parametrize("label, shown", [("1", "(1)"), ("2.5", "(2.5)"), ("r", "('r')")])
def test_one_class_error_shows_a_plain_value(tmp_path, label, shown):
    path = write_csv(tmp_path / "one.csv", ["a", "y"], [[1, label], [2, label]])
    msg = one_line_error(run("fit", path, "--target", "y", "--out", tmp_path / "m.npz"), "only 1 class", shown)
    assert "np." not in msg


@pytest.mark.parametrize(("text", "value"), [("balanced", "balanced"), ("none", None), ("0=1,1=4", {0: 1.0, 1: 4.0}),
                                             ("a=2.5", {"a": 2.5})])
def test_class_weight_option(text, value):
    args = _cli.build_parser().parse_args(["fit", "d.csv", "--target", "y", "--out", "m.npz", "--class-weight", text])
    assert args.class_weight == value


def test_class_weight_option_refuses_other_text(capsys):
    with pytest.raises(SystemExit) as exc:
        _cli.build_parser().parse_args(["fit", "d.csv", "--target", "y", "--out", "m.npz", "--class-weight", "0=x"])
    assert exc.value.code == 2 and "class_weight" in capsys.readouterr().err
