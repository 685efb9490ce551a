"""backprop.to_c: the header compiles warning-free as C99 and reproduces predict_proba and predict."""

import copy
import os
import shutil
import subprocess
import warnings

import numpy as np
import pytest

import backprop
from export_models import (
    N_FEATURES,
    assert_proba_close,
    case_id,
    fitted,
    fitted_pipeline,
    model_cases,
    rows_to_predict,
)

CC = shutil.which("gcc") or shutil.which("cc")
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-Wconversion", "-Wdouble-promotion", "-Wshadow"]
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler")

# Reads rows of N_FEATURES numbers from stdin; prints each row's probabilities (%.17g) and the
# index NAME_predict gives; then, after the last row, the class labels of the header.
PROGRAM = r"""
#include <stdio.h>
#include "{name}.h"

int main(void)
{{
    {T} x[{name}_N_FEATURES], proba[{name}_N_CLASSES];
    double v;
    int j, c;
    for (;;) {{
        for (j = 0; j < {name}_N_FEATURES; ++j) {{
            if (scanf("%lf", &v) != 1) goto done;
            x[j] = ({T})v;
        }}
        {name}_predict_proba(x, proba);
        for (c = 0; c < {name}_N_CLASSES; ++c) printf("%.17g ", (double)proba[c]);
        printf("%d\n", {name}_predict(x));
    }}
done:
    for (c = 0; c < {name}_N_CLASSES; ++c) printf({label_format}, {name}_classes[c]);
    return 0;
}}
"""

# A second translation unit including the same header and using none of it: no duplicate
# symbols at link time and no unused-function warnings.
OTHER_UNIT = '#include "{name}.h"\nint other_unit(void);\nint other_unit(void) {{ return {name}_N_FEATURES; }}\n'


def build(tmp_path, model, name="model"):
    """Write the header, compile the program with it, and return a function running rows through it."""
    header = tmp_path / f"{name}.h"
    assert backprop.to_c(model, header, name=name) == os.fspath(header)
    nn = model.steps[-1][1] if hasattr(model, "steps") else model
    T = "float" if nn.weights_[0].dtype == np.float32 else "double"
    label_format = r'"%s\n"' if nn.classes_.dtype.kind == "U" else r'"%lld\n"'
    (tmp_path / "main.c").write_text(PROGRAM.format(name=name, T=T, label_format=label_format))
    (tmp_path / "other.c").write_text(OTHER_UNIT.format(name=name))
    exe = tmp_path / "predict"
    cc = subprocess.run(
        [CC, *CFLAGS, "-o", str(exe), str(tmp_path / "main.c"), str(tmp_path / "other.c"), "-lm"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert cc.returncode == 0, f"{' '.join(cc.args)} failed:\n{cc.stderr}"

    def predict(X):
        text = "\n".join(" ".join(repr(float(v)) for v in row) for row in X) + "\n"
        out = subprocess.run([str(exe)], input=text, check=True, capture_output=True, text=True).stdout
        lines = out.splitlines()
        rows = [line.split() for line in lines[: len(X)]]
        proba = np.array([[float(v) for v in r[:-1]] for r in rows])
        index = np.array([int(r[-1]) for r in rows], dtype=np.intp)
        return proba, index, lines[len(X) :]

    return predict


def expected_labels(classes):
    return [str(c) if isinstance(c, str) else str(int(c)) for c in classes.tolist()]


@needs_cc
@pytest.mark.parametrize("case", model_cases(), ids=case_id)
def test_header_reproduces_predict_proba_and_predict(tmp_path, case):
    activation, n_classes, dtype = case
    model = fitted(activation, n_classes, dtype)
    X = rows_to_predict(dtype)
    proba, index, classes = build(tmp_path, model)(X)
    assert_proba_close(proba, model.predict_proba(X), dtype, case_id(case))
    assert model.classes_[index].tolist() == model.predict(X).tolist()
    assert classes == expected_labels(model.classes_)


@needs_cc
def test_binary_predict_follows_the_threshold(tmp_path):
    model = fitted("tanh", 2, np.float32)  # threshold 0.3
    X = rows_to_predict(np.float32)
    p = model.predict_proba(X)[:, 1]
    assert ((p >= 0.3) & (p < 0.5)).any()
    _, index, _ = build(tmp_path, model)(X)
    assert model.classes_[index].tolist() == model.predict(X).tolist()


@needs_cc
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_header_embeds_a_pipelines_scaling(tmp_path, n_classes, dtype):
    pipe, X = fitted_pipeline(n_classes, dtype)
    proba, index, _ = build(tmp_path, pipe, name="scaled_net")(X)
    assert_proba_close(proba, pipe.predict_proba(X), dtype)
    assert pipe.steps[-1][1].classes_[index].tolist() == pipe.predict(X).tolist()
    text = (tmp_path / "scaled_net.h").read_text()
    assert "scaled_net_mean_" in text and "scaled_net_scale_" in text


def huge_rows(dtype):
    big = np.finfo(dtype).max / 2  # 9e307, 1.7e38: the first layer's sums overflow
    rows = np.zeros((6, N_FEATURES))
    rows[0, :] = big
    rows[1, :] = -big
    rows[2, 0] = big
    rows[3, 1] = -big
    rows[4, :] = np.array([1, -1, 1, -1, 1, -1]) * big
    rows[5, :] = 1e4  # finite products, saturated logits
    return rows.astype(dtype)


@needs_cc
@pytest.mark.parametrize("case", model_cases(), ids=case_id)
def test_huge_inputs_and_saturated_logits_match_predict_proba(tmp_path, case):
    activation, n_classes, dtype = case
    model = fitted(activation, n_classes, dtype)
    W = model.weights_[0]
    # and a row aligned with the unit of largest sum |w|: its sum exceeds the float range
    aligned = np.finfo(dtype).max * np.sign(W[np.argmax(np.abs(W[:, 1:]).sum(axis=1)), 1:])
    X = np.vstack([huge_rows(dtype), aligned.astype(dtype)])
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(X @ W[:, 1:].T + W[:, 0]).all(), "some sums must overflow (the exact path)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float32 relu: the estimator's cast of inf
        try:
            want = model.predict_proba(X)
        except ValueError as exc:  # relu/identity: the output is undefined; predict_proba says so
            assert "undefined" in str(exc)
            want = None
    run = build(tmp_path, model)
    if want is None:  # then at least the rows whose first layer stays finite
        X = X[5:6]
        want = model.predict_proba(X)
    proba, index, _ = run(X)
    assert np.isfinite(proba).all()
    assert_proba_close(proba, want, dtype, case_id(case))
    assert model.classes_[index].tolist() == model.predict(X).tolist()


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
@needs_cc
def test_saturated_weights_give_exact_zeros_and_ones(tmp_path):
    X = rows_to_predict(np.float64)[:50]
    model = backprop.NeuralNetwork(activation="sigmoid", n_hidden=(5, 4), threshold=0.5)
    base = fitted("sigmoid", 3, np.float64)
    model.fit(rows_to_predict(np.float64)[:20], base.classes_[np.arange(20) % 3])  # the shapes
    model.weights_ = [W * 1000 for W in base.weights_]  # logits in the thousands
    want = model.predict_proba(X)
    assert (want == 0).any() and (want == 1).any()
    proba, index, _ = build(tmp_path, model)(X)
    np.testing.assert_array_equal(proba == 0, want == 0)
    assert_proba_close(proba, want, np.float64)


@needs_cc
def test_string_labels_are_escaped(tmp_path):
    X = rows_to_predict(np.float64, n=40)
    labels = np.array(['say "hi"', "what??=", "back\\slash", "caf\u00e9 \u2603", "new\nline"])
    model = backprop.NeuralNetwork(n_hidden=(3,), max_iter=5, random_state=0).fit(X, labels[np.arange(40) % 5])
    proba, index, classes = build(tmp_path, model, name="labels")(X)
    assert_proba_close(proba, model.predict_proba(X), np.float64)
    # the program prints labels with %s\n: the one with a newline comes out on two lines
    assert "\n".join(classes) == "\n".join(model.classes_.tolist())


def test_header_text(tmp_path):
    model = fitted("relu", 3, np.float32)
    path = backprop.to_c(model, tmp_path / "net.h", name="net")
    with open(path) as f:
        text = f.read()
    assert text.startswith("/* net: ") and "backprop.to_c" in text
    assert "#ifndef BACKPROP_net_H" in text and text.rstrip().endswith("#endif /* BACKPROP_net_H */")
    assert f"#define net_N_FEATURES {N_FEATURES}" in text and "#define net_N_CLASSES 3" in text
    assert "static inline void net_predict_proba(const float *x, float *proba)" in text
    assert "static inline int net_predict(const float *x)" in text
    assert "malloc" not in text and "#include <stdlib.h>" not in text
    assert "static const long long net_classes[net_N_CLASSES] = {0LL, 1LL, 2LL};" in text
    # every weight is written exactly: parse the literals back
    body = text.split("static const float net_W1_[5 * 7] = {")[1].split("};")[0]
    values = np.array([float(v.rstrip("f")) for v in body.replace("\n", " ").split(",") if v.strip()], dtype=np.float32)
    np.testing.assert_array_equal(values, model.weights_[0].ravel())


@needs_cc
def test_headers_whose_names_differ_in_case_are_two_headers(tmp_path):
    # each header's guard is its own name: one program includes both and calls both
    a, b = fitted("sigmoid", 2, np.float64), fitted("tanh", 3, np.float64)
    backprop.to_c(a, tmp_path / "net.h", name="net")
    backprop.to_c(b, tmp_path / "Net.h", name="Net")
    (tmp_path / "both.c").write_text(
        '#include <stdio.h>\n#include "net.h"\n#include "Net.h"\n'
        "int main(void) {\n    double x[net_N_FEATURES] = {0}, p[net_N_CLASSES], q[Net_N_CLASSES];\n"
        "    net_predict_proba(x, p);\n    Net_predict_proba(x, q);\n"
        '    printf("%.17g %.17g\\n", p[1], q[2]);\n    return 0;\n}\n'
    )
    exe = tmp_path / "both"
    cc = subprocess.run([CC, *CFLAGS, "-o", str(exe), str(tmp_path / "both.c"), "-lm"], capture_output=True, text=True,
                        cwd=tmp_path)
    assert cc.returncode == 0, cc.stderr
    p, q = map(float, subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split())
    x = np.zeros((1, N_FEATURES))
    np.testing.assert_allclose([p, q], [a.predict_proba(x)[0, 1], b.predict_proba(x)[0, 2]], rtol=1e-14)


def test_replaces_atomically(tmp_path):
    model = fitted("tanh", 2, np.float64)
    path = tmp_path / "model.h"
    path.write_text("old")
    backprop.to_c(model, path)
    assert path.read_text().startswith("/* model: ")
    assert os.listdir(tmp_path) == ["model.h"]  # no temporary file left
    with pytest.raises(FileNotFoundError):
        backprop.to_c(model, tmp_path / "missing" / "x.h")
    assert os.listdir(tmp_path) == ["model.h"]


@pytest.mark.no_kernels
@pytest.mark.parametrize("name", ["", "1model", "my-model", "int", "static", "__x", "_Model", "a b", 3, None])
def test_bad_names(tmp_path, name):
    with pytest.raises(ValueError, match="name"):
        backprop.to_c(backprop.NeuralNetwork(), tmp_path / "x.h", name=name)
    assert os.listdir(tmp_path) == []


@pytest.mark.no_kernels
def test_bad_models(tmp_path):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    with pytest.raises(backprop.NotFittedError):
        backprop.to_c(backprop.NeuralNetwork(), tmp_path / "x.h")
    with pytest.raises(TypeError, match="NeuralNetwork"):
        backprop.to_c("model.npz", tmp_path / "x.h")
    with pytest.raises(TypeError, match="StandardScaler then a NeuralNetwork"):
        backprop.to_c(Pipeline([("s", MinMaxScaler()), ("nn", backprop.NeuralNetwork())]), tmp_path / "x.h")
    with pytest.raises(backprop.NotFittedError):
        backprop.to_c(Pipeline([("s", StandardScaler()), ("nn", backprop.NeuralNetwork())]), tmp_path / "x.h")
    # parameters set_params changed since fit: the estimator's own checks and messages
    model = fitted("sigmoid", 2, np.float64)
    with pytest.raises(ValueError, match=r"activation must be one of \('sigmoid', 'tanh', 'relu', 'identity'\)"):
        backprop.to_c(copy.deepcopy(model).set_params(activation="softplus"), tmp_path / "x.h")
    with pytest.raises(ValueError, match="threshold"):
        backprop.to_c(copy.deepcopy(model).set_params(threshold=2.0), tmp_path / "x.h")
    assert os.listdir(tmp_path) == []


@needs_cc
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_huge_inputs_without_hidden_layers(tmp_path, n_classes, dtype):
    """Logistic regression: the output layer itself overflows; softmax(s t) must not give inf - inf."""
    from export_models import data, labels

    X, s = data(dtype=dtype)
    model = backprop.NeuralNetwork(n_hidden=(), solver="adam", learning_rate=0.05, max_iter=60, random_state=0)
    model.fit(X, labels(s, n_classes, "sigmoid"))
    W = model.weights_[0]
    aligned = [np.finfo(dtype).max * np.sign(W[j, 1:]) for j in range(W.shape[0])]
    X = np.vstack([huge_rows(dtype), *aligned, rows_to_predict(dtype)[:20]]).astype(dtype)
    want = model.predict_proba(X)
    proba, index, _ = build(tmp_path, model, name="logistic")(X)
    assert_proba_close(proba, want, dtype)
    assert model.classes_[index].tolist() == model.predict(X).tolist()
