"""What the exports read from a fitted model, and the C99 header export (:func:`to_c`).

Both exports (this module's ``to_c`` and ``_onnx.to_onnx``) describe the network through
:func:`network_of`, which reads only the estimator's public fitted attributes (``weights_``,
``activation``, ``classes_``, ``threshold``, ``n_features_in_``) and, for a scikit-learn
``Pipeline`` of a ``StandardScaler`` then a ``NeuralNetwork``, the scaler's ``mean_`` and
``scale_`` (or the scaling a model file stores, which the command line's ``export`` passes).  The forward pass they write out is ``backprop.reference.predict_proba``:

* each layer ``z = W[:, 1:] a + W[:, 0]`` (column 0 of every weight matrix is the bias);
* hidden layers ``a = f(z)``, f the model's ``activation``;
* two classes: one sigmoid unit, ``proba = [1 - p, p]``, label ``classes_[1]`` where
  ``p >= threshold`` (compared in the model's dtype, as ``predict`` does);
* more classes: a softmax over one unit per class, label the first most probable class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np

from . import _params

__all__ = ["to_c"]


@dataclass(frozen=True)
class Network:
    """A fitted network as the exports see it (arrays in the model's dtype)."""

    weights: List[np.ndarray]  # (n_out, n_in + 1) each, bias in column 0
    activation: str  # of the hidden layers
    classes: np.ndarray  # sorted labels, as classes_
    threshold: float  # two classes only
    dtype: np.dtype  # float32 or float64
    mean: Optional[np.ndarray]  # StandardScaler's mean_ (None: no centring)
    scale: Optional[np.ndarray]  # StandardScaler's scale_ (None: no scaling)

    @property
    def n_features(self) -> int:
        return self.weights[0].shape[1] - 1

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def sizes(self) -> List[int]:
        """Units per layer, the input first: ``[n_features, h1, ..., n_out]``."""
        return [self.n_features] + [W.shape[0] for W in self.weights]


def network_of(model: Any, what: str, scaling: Any = None) -> Network:
    """Validate ``model`` (a fitted NeuralNetwork, or a Pipeline of a fitted StandardScaler and a
    fitted NeuralNetwork) and return its :class:`Network`.  ``scaling`` (a ``_scaling.Scaling``,
    what a model file stores) gives a NeuralNetwork's standardisation.  ``what`` names the
    caller in errors."""
    from ._estimator import NeuralNetwork, NotFittedError
    from ._scaling import split_pipeline

    mean = scale = None
    model, scaler = split_pipeline(model, what)
    if scaler is not None:
        if getattr(scaler, "n_features_in_", None) is None:
            raise NotFittedError("The pipeline's StandardScaler is not fitted yet: fit the pipeline first.")
        mean = None if getattr(scaler, "mean_", None) is None or not scaler.with_mean else scaler.mean_
        scale = None if getattr(scaler, "scale_", None) is None or not scaler.with_std else scaler.scale_
    elif scaling is not None:
        mean, scale = scaling.mean, scaling.scale
    if not isinstance(model, NeuralNetwork):
        raise TypeError(
            f"{what} takes a fitted backprop.NeuralNetwork (or a Pipeline of a StandardScaler and one), "
            f"got {type(model).__name__}"
        )
    weights = getattr(model, "weights_", None)
    classes = getattr(model, "classes_", None)
    n_features = getattr(model, "n_features_in_", None)
    if weights is None or classes is None or n_features is None:
        raise NotFittedError(
            f"This NeuralNetwork instance is not fitted yet. Call 'fit' before {what}."
        )
    weights = [np.asarray(W) for W in weights]
    dtype = weights[0].dtype
    if dtype not in (np.float32, np.float64) or any(W.dtype != dtype for W in weights):
        raise ValueError(f"weights_ must all be float32 or all float64, got {[str(W.dtype) for W in weights]}")
    sizes_in = n_features
    for i, W in enumerate(weights):
        if W.ndim != 2 or W.shape[1] != sizes_in + 1:
            raise ValueError(f"weights_[{i}] has shape {W.shape}; expected (n_units, {sizes_in + 1})")
        if not np.isfinite(W).all():
            raise ValueError(f"weights_[{i}] contains NaN or infinity")
        sizes_in = W.shape[0]
    classes = np.asarray(classes)
    k = len(classes)
    if k < 2 or weights[-1].shape[0] != (1 if k == 2 else k):
        raise ValueError(f"the last layer has {weights[-1].shape[0]} units for {k} classes")
    # the estimator's own checks: set_params may have changed either since fit
    activation, threshold = _params.check("activation", model.activation), float(_params.check("threshold", model.threshold))
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1], got {model.threshold!r}")
    for name, v in (("mean_", mean), ("scale_", scale)):
        if v is not None and np.shape(v) != (n_features,):
            raise ValueError(
                f"the StandardScaler's {name} has shape {np.shape(v)}; the NeuralNetwork takes {n_features} features"
            )
    return Network(
        weights=weights,
        activation=activation,
        classes=classes,
        threshold=threshold,
        dtype=np.dtype(dtype),
        mean=None if mean is None else np.asarray(mean, dtype=dtype),
        scale=None if scale is None else np.asarray(scale, dtype=dtype),
    )


def label_kind(classes: np.ndarray, what: str) -> tuple[str, list]:
    """``("int64", [ints])`` for integer, bool or integral float labels, ``("string", [strs])``
    for strings; anything else raises ValueError (ONNX labels are int64 or strings)."""
    values = classes.tolist()
    if all(isinstance(v, str) for v in values):
        return "string", values
    if all(isinstance(v, (bool, int, float)) for v in values):
        ints = [int(v) for v in values]
        if any(float(i) != float(v) for i, v in zip(ints, values)) or any(
            not -(2**63) <= i < 2**63 for i in ints
        ):
            raise ValueError(f"{what}: class labels must be strings or integers that fit int64, got {values!r}")
        return "int64", ints
    raise ValueError(f"{what}: class labels must be all strings or all numbers, got {values!r}")


# ---------------------------------------------------------------------------------- C header
_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline "
    "int long register restrict return short signed sizeof static struct switch typedef union unsigned "
    "void volatile while _Bool _Complex _Imaginary bool true false".split()
)


def check_c_name(name: Any) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"name must be a C identifier (letters, digits, '_', not starting with a digit), got {name!r}")
    if name in _C_KEYWORDS:
        raise ValueError(f"name must not be a C keyword, got {name!r}")
    if name.startswith("__") or re.match(r"_[A-Z]", name):
        raise ValueError(f"name must not start with '__' or '_' and a capital letter (reserved in C), got {name!r}")
    return name


def _c_number(v: Any, dtype: np.dtype) -> str:
    """The shortest decimal literal that reads back as exactly ``v`` in ``dtype`` (C99 syntax)."""
    s = np.format_float_scientific(dtype.type(v), unique=True, trim="0")  # e.g. '1.e+00', '-2.5e-01'
    return s + "f" if dtype == np.float32 else s


def _c_string(s: str) -> str:
    """A C string literal holding ``s`` in UTF-8: printable ASCII as is (but \\, " and ? escaped,
    ? against trigraphs), every other byte as a three-digit octal escape."""
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c in '\\"?':
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _c_array(decl: str, values: np.ndarray, dtype: np.dtype, per_line: int = 6) -> str:
    """``decl = {...};`` with the values of each row of ``values`` (1-D: one row) on lines of their own."""
    lines = []
    for row in np.atleast_2d(values):
        items = [_c_number(v, dtype) for v in row]
        lines += ["    " + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)]
    return f"{decl} = {{\n" + "\n".join(lines) + "\n};\n"


def _comment_text(s: str) -> str:
    return s.replace("*/", "* /")


def c_header(net: Network, name: str) -> str:
    """The text of the C99 header for ``net`` (see :func:`to_c`)."""
    from . import __version__

    T = "float" if net.dtype == np.float32 else "double"
    fx = "f" if T == "float" else ""  # float literal suffix and math.h function suffix
    sizes = net.sizes
    L = len(net.weights)
    k = net.n_classes
    binary = k == 2
    width = max(sizes)
    kind, labels = label_kind(net.classes, "to_c")
    guard = f"BACKPROP_{name}_H"  # the name as given: C names are case-sensitive, so net and Net are two headers
    act = net.activation
    arch = " -> ".join(
        [f"{net.n_features} features"]
        + [f"{m} {act}" for m in sizes[1:-1]]
        + [f"{sizes[-1]} {'sigmoid' if binary else 'softmax'} output{'s' if sizes[-1] > 1 else ''}"]
    )
    label_list = ", ".join(f"{i}: {_comment_text(repr(v))}" for i, v in enumerate(net.classes.tolist()))
    scaling = []
    if net.mean is not None or net.scale is not None:
        formula = "(x_j - mean_j) / scale_j" if net.mean is not None and net.scale is not None else (
            "x_j - mean_j" if net.mean is not None else "x_j / scale_j"
        )
        scaling = [f" * Input scaling (the pipeline's StandardScaler): x_j <- {formula}, in {T}."]
    out_rule = (
        [
            " * Output: p = sigmoid(z), the probability of class 1; proba = {1 - p, p}.",
            f" * {name}_predict: class 1 where p >= {net.threshold!r} (the model's threshold), else 0.",
        ]
        if binary
        else [
            " * Output: softmax, e_c = exp(z_c - max_c' z_c'), proba_c = e_c / sum_c' e_c'.",
            f" * {name}_predict: the index of the largest probability (the first one on ties).",
        ]
    )
    h = []
    h += [
        f"/* {name}: a fitted neural network as a dependency-free C99 header.",
        f" * Generated by backprop {__version__} (backprop.to_c) from a fitted NeuralNetwork; do not edit.",
        " *",
        f" * Network: {arch}; arithmetic in {T}.",
        *scaling,
        " * Every layer: z_j = sum_k W[j][k] a_k + b_j (a = the layer's input), then",
        " *   sigmoid(z) = 1 / (1 + exp(-z)) for z >= 0, exp(z) / (1 + exp(z)) for z < 0 (never overflows)",
        " *   tanh(z) = tanh(z) from math.h;  relu(z) = z > 0 || z != z ? z : 0 (NaN stays NaN);  identity(z) = z",
        f" * with {act} for the hidden layers.",
        *out_rule,
        " * A layer whose sums overflow (inputs near the floating-point range) is recomputed as",
        " * z = s (W (a / s) + b / s) in double, s a power of two with max |a| < 2 s, as backprop's",
        " * predict_proba does, so huge finite inputs saturate instead of giving NaN.",
        f" * Classes (index: label): {label_list}",
        " *",
        " * Usage:",
        f" *   {T} x[{name}_N_FEATURES] = {{...}}, proba[{name}_N_CLASSES];",
        f" *   {name}_predict_proba(x, proba);   (x must be finite)",
        f" *   int c = {name}_predict(x);        (an index into {name}_classes)",
        " * No allocation, no global state: the functions are reentrant.  Link with -lm.",
        " */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <float.h>",
        "#include <math.h>",
        "",
        f"#define {name}_N_FEATURES {net.n_features}",
        f"#define {name}_N_CLASSES {k}",
        "",
    ]
    if kind == "string":
        h.append(
            f"static const char *const {name}_classes[{name}_N_CLASSES] = {{"
            + ", ".join(_c_string(v) for v in labels)
            + "};"
        )
    else:
        h.append(
            f"static const long long {name}_classes[{name}_N_CLASSES] = {{"
            + ", ".join(f"{v}LL" if -(2**63) < v else f"({v + 1}LL - 1)" for v in labels)
            + "};"
        )
    h.append("")
    if net.mean is not None:
        h.append(_c_array(f"static const {T} {name}_mean_[{net.n_features}]", net.mean, net.dtype))
    if net.scale is not None:
        h.append(_c_array(f"static const {T} {name}_scale_[{net.n_features}]", net.scale, net.dtype))
    for i, W in enumerate(net.weights):
        m, n1 = W.shape
        h.append(
            f"/* layer {i + 1}: {n1 - 1} -> {m}; row j: the bias b_j, then W[j][0..{n1 - 2}] */\n"
            + _c_array(f"static const {T} {name}_W{i + 1}_[{m} * {n1}]", W, net.dtype)
        )
    narrow = (
        f"""/* double -> float without undefined behaviour: out-of-range values become +-INFINITY */
static inline float {name}_narrow_(double v)
{{
    return v > (double)FLT_MAX ? INFINITY : v < -(double)FLT_MAX ? -INFINITY : (float)v;
}}
"""
        if T == "float"
        else f"""static inline double {name}_narrow_(double v) {{ return v; }}
"""
    )
    hidden_act = {
        "sigmoid": f"return {name}_sigmoid_(z);",
        "tanh": f"return tanh{fx}(z);",
        "relu": "return z > 0 || z != z ? z : 0;",
        "identity": "return z;",
    }[act]
    h.append(
        f"""static inline {T} {name}_sigmoid_({T} z)
{{
    {T} e;
    if (z >= 0) return 1 / (1 + exp{fx}(-z));
    e = exp{fx}(z);
    return e / (1 + e);
}}

/* the hidden layers' activation: {act} */
static inline {T} {name}_act_({T} z)
{{
    {hidden_act}
}}

{narrow}
/* z_j = sum_k W[j][1 + k] a_k + W[j][0] for j < n_out; returns 0 if some z_j is not finite */
static inline int {name}_dense_(const {T} *W, int n_in, int n_out, const {T} *a, {T} *z)
{{
    int j, k, finite = 1;
    for (j = 0; j < n_out; ++j) {{
        const {T} *w = W + j * (n_in + 1);
        {T} acc = 0;
        for (k = 0; k < n_in; ++k) acc += w[1 + k] * a[k];
        z[j] = acc + w[0];
        finite = finite && isfinite(z[j]);
    }}
    return finite;
}}

/* the same sums for a layer that overflowed: z_j = s t_j, t_j = sum_k W[j][1 + k] (a_k / s) + W[j][0] / s,
   in double, with s a power of two with max(1, max_k |a_k|) < 2 s (an exact scaling); returns s */
static inline double {name}_dense_scaled_(const {T} *W, int n_in, int n_out, const {T} *a, double *t)
{{
    int j, k, e = 0;
    double mx = 1, s = 1;
    for (k = 0; k < n_in; ++k)
        if (fabs((double)a[k]) > mx) mx = fabs((double)a[k]);
    if (mx <= DBL_MAX) {{
        frexp(mx, &e);
        s = ldexp(1.0, e - 1);
    }}
    for (j = 0; j < n_out; ++j) {{
        const {T} *w = W + j * (n_in + 1);
        double acc = 0;
        for (k = 0; k < n_in; ++k) acc += (double)w[1 + k] * ((double)a[k] / s);
        t[j] = acc + (double)w[0] / s;
    }}
    return s;
}}

/* one layer: z = W a + b, recomputed by {name}_dense_scaled_ if it overflowed */
static inline void {name}_layer_(const {T} *W, int n_in, int n_out, const {T} *a, {T} *z)
{{
    double t[{width}], s;
    int j;
    if ({name}_dense_(W, n_in, n_out, a, z)) return;
    s = {name}_dense_scaled_(W, n_in, n_out, a, t);
    for (j = 0; j < n_out; ++j) z[j] = {name}_narrow_(t[j] * s);
}}
"""
    )
    # predict_proba
    body = [f"static inline void {name}_predict_proba(const {T} *x, {T} *proba)", "{"]
    body.append("    BUFFERS")  # replaced below by the buffers the layers use
    body.append("    int j;")
    if binary:
        body.append(f"    {T} p;")
    else:
        body.append(f"    double t[{k}], s, m;")
        body.append(f"    {T} zmax, sum;")
    src = "x"
    if net.mean is not None or net.scale is not None:
        expr = "x[j]"
        if net.mean is not None:
            expr = f"({expr} - {name}_mean_[j])"
        if net.scale is not None:
            expr = f"{expr} / {name}_scale_[j]"
        body.append(f"    for (j = 0; j < {net.n_features}; ++j) v[j] = {expr};")
        src = "v"
    bufs = ["u", "v"]
    cur = 0
    for i in range(L):
        n_in, n_out = sizes[i], sizes[i + 1]
        dst = bufs[cur] if src != bufs[cur] else bufs[1 - cur]
        Wn = f"{name}_W{i + 1}_"
        if i < L - 1:
            body.append(f"    {name}_layer_({Wn}, {n_in}, {n_out}, {src}, {dst});   /* layer {i + 1}, {act} */")
            if act != "identity":
                body.append(f"    for (j = 0; j < {n_out}; ++j) {dst}[j] = {name}_act_({dst}[j]);")
            src = dst
            cur = 0 if dst == "v" else 1
            continue
        body.append(f"    /* layer {i + 1}, the output */")
        if binary:
            body += [
                f"    {name}_layer_({Wn}, {n_in}, 1, {src}, {dst});",
                f"    p = {name}_sigmoid_({dst}[0]);",
                "    proba[0] = 1 - p;",
                "    proba[1] = p;",
            ]
        else:
            body += [
                f"    if ({name}_dense_({Wn}, {n_in}, {k}, {src}, {dst})) {{",
                f"        zmax = {dst}[0];",
                f"        for (j = 1; j < {k}; ++j) if ({dst}[j] > zmax) zmax = {dst}[j];",
                "        sum = 0;",
                f"        for (j = 0; j < {k}; ++j) sum += proba[j] = exp{fx}({dst}[j] - zmax);",
                f"        for (j = 0; j < {k}; ++j) proba[j] /= sum;",
                "        return;",
                "    }",
                "    /* overflowed: softmax(s t) = exp(s (t - max t)) / sum, every exponent <= 0 */",
                f"    s = {name}_dense_scaled_({Wn}, {n_in}, {k}, {src}, t);",
                "    m = t[0];",
                f"    for (j = 1; j < {k}; ++j) if (t[j] > m) m = t[j];",
                "    {",
                "        double e[%d], total = 0;" % k,
                f"        for (j = 0; j < {k}; ++j) total += e[j] = exp((t[j] - m) * s);",
                f"        for (j = 0; j < {k}; ++j) proba[j] = ({T})(e[j] / total);",
                "    }",
            ]
    body.append("}")
    if not any("(j = " in line for line in body):
        body.remove("    int j;")
    used = [b for b in ("u", "v") if any(re.search(rf"\b{b}\b", line) for line in body)]
    body[body.index("    BUFFERS")] = f"    {T} " + ", ".join(f"{b}[{width}]" for b in used) + ";"
    h.append(
        f"/* proba[c] = P(class c | x) for one row x of {name}_N_FEATURES values, c < {name}_N_CLASSES */"
    )
    h.append("\n".join(body) + "\n")
    if binary:
        pred = [
            f"/* the index of the predicted class: 1 where P(class 1) >= {net.threshold!r}, else 0 */",
            f"static inline int {name}_predict(const {T} *x)",
            "{",
            f"    {T} proba[2];",
            f"    {name}_predict_proba(x, proba);",
            f"    return proba[1] >= {_c_number(net.threshold, net.dtype)} ? 1 : 0;",
            "}",
        ]
    else:
        pred = [
            "/* the index of the predicted class: the most probable one (the first on ties) */",
            f"static inline int {name}_predict(const {T} *x)",
            "{",
            f"    {T} proba[{k}];",
            "    int c, best = 0;",
            f"    {name}_predict_proba(x, proba);",
            f"    for (c = 1; c < {k}; ++c) if (proba[c] > proba[best]) best = c;",
            "    return best;",
            "}",
        ]
    h.append("\n".join(pred) + "\n")
    h.append(f"#endif /* {guard} */\n")
    return "\n".join(h)


def to_c(model: Any, path: Any, name: str = "model") -> str:
    """Write a fitted model as one dependency-free C99 header.

    The header holds the weights as ``static const`` arrays (no allocation, no global state) and

    * ``void NAME_predict_proba(const T *x, T *proba)``: the probabilities of one row ``x`` of
      ``NAME_N_FEATURES`` values, ``NAME_N_CLASSES`` of them in ``classes_`` order, as
      ``predict_proba`` gives them (T is ``double`` or ``float``, the model's dtype);
    * ``int NAME_predict(const T *x)``: the index of the predicted class in ``NAME_classes``
      (``classes_`` as a ``long long`` or string array), by the ``threshold`` rule for two
      classes, the most probable class for more;
    * a comment saying what produced it and every formula.

    The functions are ``static inline``, so the header can be included in several files.
    The activations are the kernels' formulas (a sigmoid that never overflows, ``tanh`` from
    ``math.h``, a softmax with the maximum subtracted), and a layer whose sums overflow is
    recomputed exactly as ``predict_proba`` does, so the results agree to rounding.

    Parameters
    ----------
    model : NeuralNetwork or Pipeline
        A fitted :class:`NeuralNetwork`, or a fitted scikit-learn ``Pipeline`` of a
        ``StandardScaler`` then a ``NeuralNetwork``, whose scaling (``mean_``, ``scale_``) is
        then applied to ``x`` inside ``NAME_predict_proba``.
    path : str or path-like
        The header to write (replaced atomically: a temporary file in the same folder, then
        ``os.replace``).
    name : str, default="model"
        Prefix of every name in the header: a C identifier.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    NotFittedError
        If the model (or the pipeline's scaler) is not fitted.
    TypeError
        If ``model`` is neither a NeuralNetwork nor such a Pipeline.
    ValueError
        If ``name`` is not a C identifier, or the model's attributes are inconsistent.
    """
    name = check_c_name(name)
    net = network_of(model, "to_c")
    text = c_header(net, name)
    from ._io import write_atomically

    return write_atomically(path, lambda f: f.write(text.encode("utf-8")))
