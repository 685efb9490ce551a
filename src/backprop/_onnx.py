"""ONNX export: :func:`to_onnx`, and :func:`register_skl2onnx` for whole scikit-learn pipelines.

Both write the same graph (``_emit``), the forward pass of ``backprop.reference.predict_proba``:
per layer ``MatMul`` (by ``W[:, 1:].T``), ``Add`` (the bias ``W[:, 0]``) and the hidden activation
(``Sigmoid``, ``Tanh``, ``Relu``, nothing for identity), then ``Sigmoid`` or ``Softmax``.  The
outputs follow skl2onnx's converter for scikit-learn's ``MLPClassifier``:

* a label tensor of shape (N,), int64 for numeric labels and string for strings;
* a probability tensor of shape (N, n_classes), columns in ``classes_`` order, ``[1 - p, p]``
  for two classes; with ``zipmap`` a list of ``{label: probability}`` dicts instead
  (ONNX's ZipMap, float32 only), the outputs then named ``output_label`` and
  ``output_probability`` (skl2onnx's names) instead of ``label`` and ``probabilities``.

Unlike skl2onnx's MLP converter, the label of two classes follows ``threshold``
(``classes_[1]`` where ``p >= threshold``, in the model's dtype), as ``predict`` does.

onnx and skl2onnx are imported when these functions are called, never by ``import backprop``.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, List, Optional

import numpy as np

from ._export import Network, label_kind, network_of

__all__ = ["to_onnx", "register_skl2onnx"]

_INSTALL = 'pip install "backprop[onnx]"'
#: The default ONNX opset: every operator used here has had its current meaning since opset 13,
#: and opset 15 is read by every onnxruntime since 1.10.
DEFAULT_OPSET = 15
_MIN_OPSET = 13


def _require(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{what} needs the {module.split('.')[0]!r} package: {_INSTALL}") from exc


class _Graph:
    """Collects nodes and initializers made with ``onnx.helper`` / ``onnx.numpy_helper``."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.nodes: List[Any] = []
        self.initializers: List[Any] = []
        self._used: Dict[str, int] = {}

    def name(self, hint: str) -> str:
        n = self._used.get(hint, 0)
        self._used[hint] = n + 1
        return hint if n == 0 else f"{hint}{n}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        if value.dtype.kind in "USO":  # labels
            value = np.array([s.encode("utf-8") if isinstance(s, str) else s for s in value.ravel()], dtype=object)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: List[str], output: Optional[str] = None, domain: str = "", **attrs: Any) -> str:
        out = output if output is not None else self.name(op.lower())
        self.nodes.append(
            self.onnx.helper.make_node(op, inputs, [out], name=self.name(op), domain=domain or None, **attrs)
        )
        return out


class _ContainerGraph:
    """The same interface over skl2onnx's scope and container (a converter's arguments)."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope = scope
        self.container = container

    def name(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def const(self, hint: str, value: np.ndarray) -> str:
        from onnx import TensorProto, numpy_helper

        name = self.name(hint)
        if value.dtype.kind in "USO":  # labels
            content = [s.encode("utf-8") if isinstance(s, str) else bytes(s) for s in value.ravel()]
            self.container.add_initializer(name, TensorProto.STRING, list(value.shape), content)
        else:
            tensor = numpy_helper.from_array(value, name)
            self.container.add_initializer(name, tensor.data_type, list(value.shape), tensor)
        return name

    def node(self, op: str, inputs: List[str], output: Optional[str] = None, domain: str = "", **attrs: Any) -> str:
        out = output if output is not None else self.name(op.lower())
        self.container.add_node(
            op, inputs, [out], op_domain=domain, name=self.scope.get_unique_operator_name(op), **attrs
        )
        return out


def _proto_type(dtype: np.dtype) -> int:
    from onnx import TensorProto

    return TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE


def _emit(
    g: Any,
    net: Network,
    x: str,
    label: str,
    proba: str,
    classes: np.ndarray,
    proba_dtype: Optional[np.dtype] = None,
) -> None:
    """Nodes computing ``label`` (N,) and ``proba`` (N, k) from the input ``x`` (N, d) of the
    model's dtype.  ``classes``: the label of each output column (int64 or str array);
    ``proba_dtype``: cast the probabilities to it when it is not the model's dtype."""
    from onnx import TensorProto

    T = net.dtype
    a = x
    if net.mean is not None:
        a = g.node("Sub", [a, g.const("mean", net.mean.reshape(1, -1))])
    if net.scale is not None:
        a = g.node("Div", [a, g.const("scale", net.scale.reshape(1, -1))])
    hidden = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "identity": None}[net.activation]
    L = len(net.weights)
    for i, W in enumerate(net.weights):
        coef = g.const("coefficient", np.ascontiguousarray(W[:, 1:].T))  # z = a @ W[:, 1:].T + W[:, 0]
        bias = g.const("intercepts", np.ascontiguousarray(W[:, 0].reshape(1, -1)))
        a = g.node("Add", [g.node("MatMul", [a, coef]), bias])
        if i < L - 1 and hidden is not None:
            a = g.node(hidden, [a])
    cast_out = proba_dtype is not None and np.dtype(proba_dtype) != T
    raw = g.name("probabilities_raw") if cast_out else proba
    if len(classes) == 2:
        p = g.node("Sigmoid", [a])  # (N, 1): P(classes_[1])
        q = g.node("Sub", [g.const("unity", np.array(1, dtype=T)), p])
        g.node("Concat", [q, p], raw, axis=1)
        # predict's rule p >= threshold, in the model's dtype, written as not(p < threshold)
        # (GreaterOrEqual needs opset 12; skl2onnx may convert at lower opsets)
        below = g.node("Less", [p, g.const("threshold", np.array(net.threshold, dtype=T))])
        index = g.node("Cast", [g.node("Not", [below])], to=TensorProto.INT64)
        index = g.node("Reshape", [index, g.const("shape", np.array([-1], dtype=np.int64))])
    else:
        g.node("Softmax", [a], raw, axis=1)
        index = g.node("ArgMax", [raw], axis=1, keepdims=0)  # the first maximum, as numpy's argmax
    if cast_out:
        g.node("Cast", [raw], proba, to=_proto_type(np.dtype(proba_dtype)))
    g.node("Gather", [g.const("classes", classes), index], label, axis=0)


def _classes_array(net: Network, what: str) -> tuple[str, np.ndarray]:
    kind, labels = label_kind(net.classes, what)
    return kind, np.array(labels, dtype=np.int64 if kind == "int64" else object)


def to_onnx(model: Any, *, target_opset: Optional[int] = None, zipmap: bool = False) -> Any:
    """The fitted model as a standard ONNX model (an ``onnx.ModelProto``).

    The graph is the network's forward pass (``MatMul`` + ``Add`` + the activation per layer,
    then ``Sigmoid`` or ``Softmax``) in the model's dtype: its input ``X`` is a float32 or
    float64 tensor of shape (N, n_features_in_), as the model was trained.  Its outputs are
    skl2onnx's for scikit-learn's ``MLPClassifier``: ``label`` (N,), int64 for numeric labels
    (integral float labels included) or string, and ``probabilities`` (N, n_classes), equal to
    ``predict_proba``; the label of two classes follows ``threshold`` as ``predict`` does.
    Equal for rows whose first-layer sums are finite: unlike ``predict_proba`` (and ``to_c``),
    the graph does not rescale rows of values near the dtype's largest, whose sums overflow.

    Needs the ``onnx`` package (``pip install "backprop[onnx]"``); skl2onnx is not used.  For a
    scikit-learn Pipeline holding other steps, see :func:`register_skl2onnx`.

    Parameters
    ----------
    model : NeuralNetwork or Pipeline
        A fitted :class:`NeuralNetwork`, or a fitted ``Pipeline`` of a ``StandardScaler`` then
        a ``NeuralNetwork`` (the scaling becomes ``Sub`` and ``Div`` nodes).
    target_opset : int, optional
        The ONNX opset (default 15, read by onnxruntime >= 1.10); at least 13.
    zipmap : bool, default=False
        True: the probabilities as skl2onnx's default ``output_probability``, a sequence of
        ``{label: probability}`` maps (ONNX's ``ZipMap``, which takes float32 only: float32
        models only), and the label output named ``output_label``.  False (the default,
        skl2onnx's ``options={"zipmap": False}``): tensors ``label`` and ``probabilities``.

    Returns
    -------
    onnx.ModelProto
        Checked by ``onnx.checker.check_model``; save it with ``onnx.save(m, "model.onnx")``.
    """
    _check_options(target_opset, zipmap)
    return onnx_model(network_of(model, "to_onnx"), target_opset=target_opset, zipmap=zipmap)


def _check_options(target_opset: Any, zipmap: Any) -> int:
    """The opset to write (ValueError for a bad ``target_opset`` or ``zipmap``)."""
    onnx = _require("onnx", "backprop.to_onnx")
    if zipmap not in (True, False):
        raise ValueError(f"zipmap must be True or False, got {zipmap!r}")
    latest = onnx.defs.onnx_opset_version()
    opset = DEFAULT_OPSET if target_opset is None else target_opset
    if not isinstance(opset, (int, np.integer)) or isinstance(opset, bool) or not _MIN_OPSET <= opset <= latest:
        raise ValueError(
            f"target_opset must be an integer from {_MIN_OPSET} to {latest} (this onnx's latest), got {target_opset!r}"
        )
    return int(opset)


def onnx_model(net: Network, *, target_opset: Optional[int] = None, zipmap: bool = False) -> Any:
    """The ONNX model of a network as :func:`network_of` describes it (:func:`to_onnx`'s work)."""
    opset = _check_options(target_opset, zipmap)
    onnx = _require("onnx", "backprop.to_onnx")
    from onnx import TensorProto, helper

    from . import __version__

    if zipmap and net.dtype != np.float32:
        raise ValueError(
            "zipmap=True needs a float32 model: ONNX's ZipMap takes float32 probabilities only "
            "(the model is float64; use zipmap=False, or fit on float32 data)"
        )
    kind, classes = _classes_array(net, "to_onnx")
    g = _Graph(onnx)
    label_name, proba_name = ("output_label", "output_probability") if zipmap else ("label", "probabilities")
    proba_tensor = g.name("probability_tensor") if zipmap else proba_name
    _emit(g, net, "X", label_name, proba_tensor, classes)
    label_type = TensorProto.INT64 if kind == "int64" else TensorProto.STRING
    T = _proto_type(net.dtype)
    outputs = [helper.make_tensor_value_info(label_name, label_type, [None])]
    opsets = [helper.make_opsetid("", int(opset))]
    if zipmap:
        key = "classlabels_int64s" if kind == "int64" else "classlabels_strings"
        g.node("ZipMap", [proba_tensor], proba_name, domain="ai.onnx.ml", **{key: classes.tolist()})
        map_type = helper.make_map_type_proto(label_type, helper.make_tensor_type_proto(TensorProto.FLOAT, None))
        outputs.append(helper.make_value_info(proba_name, helper.make_sequence_type_proto(map_type)))
        opsets.append(helper.make_opsetid("ai.onnx.ml", 1))
    else:
        outputs.append(helper.make_tensor_value_info(proba_name, T, [None, net.n_classes]))
    graph = helper.make_graph(
        g.nodes,
        "backprop_NeuralNetwork",
        [helper.make_tensor_value_info("X", T, [None, net.n_features])],
        outputs,
        initializer=g.initializers,
    )
    sizes = " -> ".join(map(str, net.sizes))
    m = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="backprop",
        producer_version=__version__,
        ir_version=helper.find_min_ir_version_for(opsets),
        doc_string=(
            f"backprop NeuralNetwork, layers {sizes}, hidden activation {net.activation}, "
            f"{'sigmoid' if net.n_classes == 2 else 'softmax'} output, {net.dtype.name}"
            + (", input standardised" if net.mean is not None or net.scale is not None else "")
        ),
    )
    helper.set_model_props(
        m,
        {
            "classes": repr(net.classes.tolist()),
            "threshold": repr(net.threshold),
            "activation": net.activation,
        },
    )
    onnx.checker.check_model(m, full_check=True)
    return m


# ------------------------------------------------------------------------------- skl2onnx
_REGISTERED = False


def _zipmap_option(scope: Any, model: Any) -> bool:
    zipmap = scope.get_options(model, dict(zipmap=True))["zipmap"]
    if zipmap not in (True, False):
        raise ValueError(f"option zipmap must be True or False for a NeuralNetwork, got {zipmap!r}")
    return bool(zipmap)


def _parser(scope: Any, model: Any, inputs: List[Any], custom_parsers: Any = None) -> List[Any]:
    """A classifier's two outputs, named as skl2onnx names them: ``label`` and ``probabilities``,
    or with ``zipmap`` (the default) ``output_label`` and ``output_probability`` (a sequence of maps)."""
    from skl2onnx import get_model_alias
    from skl2onnx.common.data_types import (
        DictionaryType,
        FloatTensorType,
        Int64TensorType,
        SequenceType,
        StringTensorType,
        guess_tensor_type,
    )

    net = network_of(model, "the skl2onnx converter")  # fitted, or NotFittedError
    _check_inputs(inputs, net.n_features)
    kind, _ = label_kind(net.classes, "the skl2onnx converter")
    label_type = Int64TensorType([None]) if kind == "int64" else StringTensorType([None])
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = list(inputs)
    if _zipmap_option(scope, model):
        label = scope.declare_local_variable("output_label", label_type)
        proba_type = SequenceType(DictionaryType(label_type.__class__([]), FloatTensorType([])))
        proba = scope.declare_local_variable("output_probability", proba_type)
    else:
        label = scope.declare_local_variable("label", label_type)
        proba = scope.declare_local_variable("probabilities", guess_tensor_type(inputs[0].type))
    operator.outputs.append(label)
    operator.outputs.append(proba)
    return operator.outputs


def _check_inputs(inputs: List[Any], n_features: int) -> None:
    """The converter reads one 2-D tensor of the model's ``n_features`` columns (a DataFrame's
    columns arrive as one input each, which the network cannot take)."""
    if len(inputs) != 1:
        raise ValueError(
            f"the skl2onnx converter of NeuralNetwork takes one input tensor of {n_features} columns, got "
            f"{len(inputs)} inputs ({', '.join(v.onnx_name for v in inputs)}): skl2onnx makes one input per "
            "column of a DataFrame; pass an array (X.to_numpy()[:1]) or initial_types=[('X', "
            f"FloatTensorType([None, {n_features}]))]"
        )
    shape = getattr(inputs[0].type, "shape", None) or []  # [] inside a pipeline: not known yet
    if len(shape) == 2 and isinstance(shape[1], int) and shape[1] != n_features:
        raise ValueError(f"the skl2onnx converter of NeuralNetwork takes an input of shape [None, {n_features}], "
                         f"got {list(shape)}")


def _shape_calculator(operator: Any) -> None:
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type.shape = [n]
    if not _zipmap_option(operator.scope_inst, operator.raw_operator):
        operator.outputs[1].type.shape = [n, len(operator.raw_operator.classes_)]


def _converter(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto
    from skl2onnx.common.data_types import guess_proto_type

    net = network_of(operator.raw_operator, "the skl2onnx converter")
    kind, classes = _classes_array(net, "the skl2onnx converter")
    g = _ContainerGraph(scope, container)
    x = operator.inputs[0].full_name
    if guess_proto_type(operator.inputs[0].type) != _proto_type(net.dtype):  # compute in the model's dtype
        x = g.node("Cast", [x], to=_proto_type(net.dtype))
    label, proba = operator.outputs[0].full_name, operator.outputs[1].full_name
    if _zipmap_option(scope, operator.raw_operator):
        if net.dtype != np.float32:
            raise ValueError(
                "option zipmap=True (skl2onnx's default) needs float32: ONNX's ZipMap takes float32 "
                "probabilities only and this NeuralNetwork is float64; pass "
                "options={backprop.NeuralNetwork: {'zipmap': False}}"
            )
        tensor = g.name("probability_tensor")
        _emit(g, net, x, label, tensor, classes)
        key = "classlabels_int64s" if kind == "int64" else "classlabels_strings"
        g.node("ZipMap", [tensor], proba, domain="ai.onnx.ml", **{key: classes.tolist()})
        return
    out_type = guess_proto_type(operator.outputs[1].type)
    _emit(g, net, x, label, proba, classes, np.float64 if out_type == TensorProto.DOUBLE else np.float32)


def register_skl2onnx() -> None:
    """Register :class:`NeuralNetwork` with skl2onnx, so that ``skl2onnx.to_onnx`` (or
    ``convert_sklearn``) converts scikit-learn pipelines holding one as a whole.

    Call it once before converting (calling it again does nothing); ``import backprop`` does not
    import skl2onnx, so the registration is not automatic.  The converter writes the graph of
    :func:`to_onnx` with skl2onnx's classifier outputs: by default (option ``zipmap=True``,
    skl2onnx's default) ``output_label`` and ``output_probability``, a sequence of maps, which
    ONNX's ZipMap allows for float32 only; with ``options={backprop.NeuralNetwork: {"zipmap":
    False}}``, tensors ``label`` and ``probabilities``.  It computes in the model's dtype
    (casting the input if needed) and gives the probabilities in the input's type.  float64
    pipelines: give float64 data (or ``initial_types=[("X", DoubleTensorType([None, d]))]``)
    and ``zipmap=False``.  Needs skl2onnx (``pip install "backprop[onnx]"``).
    """
    global _REGISTERED
    if _REGISTERED:
        return
    skl2onnx = _require("skl2onnx", "backprop.register_skl2onnx")
    from ._estimator import NeuralNetwork

    skl2onnx.update_registered_converter(
        NeuralNetwork,
        "BackpropNeuralNetwork",
        _shape_calculator,
        _converter,
        parser=_parser,
        options={"zipmap": [True, False]},
    )
    _REGISTERED = True
