"""backprop.to_onnx and the skl2onnx converter: onnxruntime reproduces predict_proba and predict."""

import subprocess
import sys

import numpy as np
import pytest

import backprop
from export_models import (
    assert_proba_close,
    case_id,
    fitted,
    fitted_pipeline,
    model_cases,
    rows_to_predict,
)

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def run(model_proto, X):
    session = ort.InferenceSession(model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: X})))


def same_labels(got, want):
    assert np.asarray(got).tolist() == np.asarray(want).tolist()


@pytest.mark.parametrize("case", model_cases(), ids=case_id)
def test_onnxruntime_reproduces_predict_proba_and_predict(case):
    activation, n_classes, dtype = case
    model = fitted(activation, n_classes, dtype)
    X = rows_to_predict(dtype)
    m = backprop.to_onnx(model)
    assert [i.name for i in m.graph.input] == ["X"]
    assert m.graph.input[0].type.tensor_type.elem_type == (
        onnx.TensorProto.FLOAT if dtype == np.float32 else onnx.TensorProto.DOUBLE
    )
    out = run(m, X)
    assert list(out) == ["label", "probabilities"]
    assert out["probabilities"].dtype == dtype and out["probabilities"].shape == (len(X), n_classes)
    assert_proba_close(out["probabilities"], model.predict_proba(X), dtype, case_id(case))
    same_labels(out["label"], model.predict(X))
    expected_label_type = np.object_ if model.classes_.dtype.kind == "U" else np.int64
    assert out["label"].dtype == expected_label_type


def test_binary_label_follows_the_threshold_not_argmax():
    model = fitted("sigmoid", 2, np.float64)  # threshold 0.3
    X = rows_to_predict(np.float64)
    p = model.predict_proba(X)[:, 1]
    assert ((p >= 0.3) & (p < 0.5)).any(), "the data must have rows between the threshold and 0.5"
    same_labels(run(backprop.to_onnx(model), X)["label"], model.predict(X))


def test_zipmap_gives_skl2onnx_default_outputs():
    model = fitted("tanh", 3, np.float32)
    X = rows_to_predict(np.float32)
    out = run(backprop.to_onnx(model, zipmap=True), X)
    assert list(out) == ["output_label", "output_probability"]
    same_labels(out["output_label"], model.predict(X))
    P = model.predict_proba(X)
    assert [sorted(d) for d in out["output_probability"]] == [list(model.classes_)] * len(X)
    got = np.array([[d[c] for c in model.classes_] for d in out["output_probability"]])
    assert_proba_close(got.astype(np.float32), P, np.float32)


def test_zipmap_refuses_float64():
    with pytest.raises(ValueError, match="ZipMap takes float32"):
        backprop.to_onnx(fitted("tanh", 3, np.float64), zipmap=True)


@pytest.mark.parametrize("opset", [13, None])
def test_target_opset(opset):
    model = fitted("relu", 3, np.float64)
    m = backprop.to_onnx(model, target_opset=opset)
    assert {o.domain: o.version for o in m.opset_import}[""] == (opset or 15)
    X = rows_to_predict(np.float64)
    assert_proba_close(run(m, X)["probabilities"], model.predict_proba(X), np.float64)


@pytest.mark.no_kernels
@pytest.mark.parametrize("opset", [12, 10**6, "15", True])
def test_bad_target_opset(opset):
    with pytest.raises(ValueError, match="target_opset"):
        backprop.to_onnx(backprop.NeuralNetwork(), target_opset=opset)  # checked before the model


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_to_onnx_embeds_a_pipelines_scaling(n_classes, dtype):
    pipe, X = fitted_pipeline(n_classes, dtype)
    out = run(backprop.to_onnx(pipe), X)
    assert_proba_close(out["probabilities"], pipe.predict_proba(X), dtype)
    same_labels(out["label"], pipe.predict(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_skl2onnx_converts_a_pipeline_as_a_whole(n_classes, dtype):
    skl2onnx = pytest.importorskip("skl2onnx")
    backprop.register_skl2onnx()
    backprop.register_skl2onnx()  # idempotent
    pipe, X = fitted_pipeline(n_classes, dtype)
    m = skl2onnx.to_onnx(pipe, X[:1], options={backprop.NeuralNetwork: {"zipmap": False}})
    out = run(m, X)
    assert list(out) == ["label", "probabilities"]
    assert out["probabilities"].dtype == dtype
    assert_proba_close(out["probabilities"], pipe.predict_proba(X), dtype)
    same_labels(out["label"], pipe.predict(X))


def test_skl2onnx_pipeline_float64_with_initial_types_and_zipmap_default():
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import DoubleTensorType

    backprop.register_skl2onnx()
    pipe, X = fitted_pipeline(2, np.float64)
    initial = [("X", DoubleTensorType([None, X.shape[1]]))]
    with pytest.raises(ValueError, match="zipmap"):  # ZipMap is float32 only, as for MLPClassifier
        skl2onnx.convert_sklearn(pipe, initial_types=initial)
    nn = pipe.steps[-1][1]
    m = skl2onnx.convert_sklearn(pipe, initial_types=initial, options={id(nn): {"zipmap": False}})
    assert_proba_close(run(m, X)["probabilities"], pipe.predict_proba(X), np.float64)


def test_skl2onnx_pipeline_float32_default_zipmap():
    skl2onnx = pytest.importorskip("skl2onnx")
    backprop.register_skl2onnx()
    pipe, X = fitted_pipeline(3, np.float32)
    out = run(skl2onnx.to_onnx(pipe, X[:1]), X)
    assert list(out) == ["output_label", "output_probability"]
    same_labels(out["output_label"], pipe.predict(X))
    classes = pipe.steps[-1][1].classes_
    got = np.array([[d[c] for c in classes] for d in out["output_probability"]], dtype=np.float32)
    assert_proba_close(got, pipe.predict_proba(X), np.float32)


def test_skl2onnx_casts_an_input_of_another_dtype():
    skl2onnx = pytest.importorskip("skl2onnx")
    backprop.register_skl2onnx()
    model = fitted("sigmoid", 2, np.float64)
    X = rows_to_predict(np.float32)
    m = skl2onnx.to_onnx(model, X[:1], options={backprop.NeuralNetwork: {"zipmap": False}})
    out = run(m, X)
    assert out["probabilities"].dtype == np.float32  # the input's type, as skl2onnx's converters
    assert_proba_close(out["probabilities"], model.predict_proba(X).astype(np.float32), np.float32)
    same_labels(out["label"], model.predict(X))


def test_skl2onnx_refuses_an_unfitted_model_and_a_dataframes_columns_clearly():
    skl2onnx = pytest.importorskip("skl2onnx")
    pd = pytest.importorskip("pandas")
    backprop.register_skl2onnx()
    X = rows_to_predict(np.float64)
    with pytest.raises(backprop.NotFittedError, match="not fitted"):
        skl2onnx.to_onnx(backprop.NeuralNetwork(), X[:1])
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    model = backprop.NeuralNetwork(n_hidden=(3,), max_iter=300, n_threads=1, random_state=0).fit(frame, X[:, 0] > 0)
    options = {backprop.NeuralNetwork: {"zipmap": False}}
    with pytest.raises(ValueError, match=f"one input tensor of {X.shape[1]} columns, got {X.shape[1]} inputs"):
        skl2onnx.to_onnx(model, frame[:1], options=options)  # one input per column
    out = run(skl2onnx.to_onnx(model, frame.to_numpy()[:1], options=options), X)  # what the message says to do
    assert_proba_close(out["probabilities"], model.predict_proba(frame), np.float64)


def test_model_metadata_and_check():
    model = fitted("identity", 2, np.float32)
    m = backprop.to_onnx(model)
    onnx.checker.check_model(m, full_check=True)
    assert m.producer_name == "backprop"
    props = {p.key: p.value for p in m.metadata_props}
    assert props["activation"] == "identity" and props["threshold"] == "0.5"
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("MatMul") == 3 and "Relu" not in ops and "Sigmoid" in ops


@pytest.mark.no_kernels
def test_errors():
    with pytest.raises(backprop.NotFittedError):
        backprop.to_onnx(backprop.NeuralNetwork())
    with pytest.raises(TypeError, match="NeuralNetwork"):
        backprop.to_onnx(object())
    with pytest.raises(ValueError, match="zipmap"):
        backprop.to_onnx(backprop.NeuralNetwork(), zipmap="columns")


@pytest.mark.no_kernels
def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(ImportError, match=r'pip install "backprop\[onnx\]"'):
        backprop.to_onnx(backprop.NeuralNetwork())
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    monkeypatch.setattr(backprop._onnx, "_REGISTERED", False)
    with pytest.raises(ImportError, match=r'pip install "backprop\[onnx\]"'):
        backprop.register_skl2onnx()


@pytest.mark.no_kernels
def test_import_backprop_does_not_import_onnx():
    code = "import sys, backprop; assert not {'onnx', 'skl2onnx', 'onnxruntime', 'sklearn'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
