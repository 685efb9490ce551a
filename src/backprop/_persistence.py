"""The pickled state of a NeuralNetwork, and the checks of fitted attributes that pickles and
``.npz`` files (``_io``) share.

A pickle holds a dict: ``_format_version``, ``backprop_version``, ``params`` (the parameters as
given) and ``fitted`` (plain numpy arrays and Python ints, nothing of the C++ module), so it loads
on any machine and in later versions.  Format 1 stores the eight parameters of the binary model;
format 2 adds the training options, any number of classes and ``validation_scores_``; format 3
adds ``feature_names_in_``; format 4 adds the parameter ``class_weight``; format 5 adds
``validation_loss_curve_`` (a model is written in the oldest format that holds its state, so a
model without a validation loss curve or class weights is format 2 or 3).  Bump
:data:`FORMAT_VERSION` when the layout changes, and teach :func:`restore` every older version.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._params import DEFAULTS, param_names, validate
from ._validation import all_finite, check_labels

__all__ = ["FORMAT_VERSION", "FITTED_ATTRIBUTES", "state_of", "restore", "check_model", "check_weights", "n_outputs"]

FORMAT_VERSION = 5
FITTED_ATTRIBUTES = ("weights_", "classes_", "n_features_in_", "n_iter_", "loss_curve_", "validation_scores_",
                     "feature_names_in_", "validation_loss_curve_")
#: The fitted attributes each pickle format may hold.
_FORMAT_ATTRIBUTES = {1: FITTED_ATTRIBUTES[:5], 2: FITTED_ATTRIBUTES[:6], 3: FITTED_ATTRIBUTES[:7],
                      4: FITTED_ATTRIBUTES[:7], 5: FITTED_ATTRIBUTES}
#: Fitted attributes that may be None (no validation set), and are then not stored.
_OPTIONAL = ("validation_scores_", "validation_loss_curve_")


def n_outputs(n_classes: int) -> int:
    """Output units for ``n_classes`` classes: one sigmoid unit for two, else one softmax unit per class."""
    return 1 if n_classes == 2 else n_classes


def layer_shapes(n_features: int, n_hidden: tuple, n_out: int) -> list[tuple[int, int]]:
    """The weight matrices' shapes, ``(units, inputs + 1)`` per layer."""
    sizes = [int(n_features), *[int(h) for h in n_hidden], n_out]
    return [(m, k + 1) for k, m in zip(sizes[:-1], sizes[1:])]


def check_weights(
    weights: Any, n_features: int | None = None, n_classes: int | None = None, n_hidden: Any = None
) -> list[np.ndarray]:
    """The weights of a fitted model read from a file or a pickle, checked; returns them C-contiguous
    in native byte order (what the C++ backend reads: a file from a machine of the other
    endianness arrives byte-swapped).

    Raises ``ValueError`` naming the problem: not a non-empty list of 2-D float32/float64 arrays
    of one dtype, not finite, shapes that do not chain from layer to layer, or (when given) that
    do not fit ``n_hidden``, ``n_features`` and ``n_classes``.
    """
    if not isinstance(weights, list) or not weights:
        raise ValueError("weights_ must be a non-empty list of arrays")
    out = []
    for i, W in enumerate(weights):
        if not isinstance(W, np.ndarray) or W.ndim != 2 or W.dtype.type not in (np.float32, np.float64):
            raise ValueError(f"weights_[{i}] must be a 2-D float32 or float64 array, got {W!r:.80}")
        if W.dtype != weights[0].dtype:
            raise ValueError("weights_ mix dtypes")
        if W.shape[0] < 1 or not np.isfinite(W).all():
            raise ValueError(f"weights_[{i}] is empty or not finite")
        out.append(np.ascontiguousarray(W, dtype=W.dtype.newbyteorder("=")))
    got = [W.shape for W in out]
    n_out = None if n_classes is None else n_outputs(n_classes)
    for i in range(1, len(out)):
        if got[i][1] != got[i - 1][0] + 1:
            raise ValueError(f"weights_ shapes do not chain: weights_[{i}] has shape {got[i]}, which does not follow {got[i - 1]}")
    if n_features is not None and (got[0][1] != n_features + 1 or got[-1][0] != n_out):
        raise ValueError(
            f"weights_ shapes {got} do not fit n_features_in_={n_features} and {n_classes} classes_ "
            f"(an output layer of {n_out} unit(s))"
        )
    if n_hidden is not None and got != layer_shapes(n_features, n_hidden, n_out):
        raise ValueError(
            f"weights_ shapes {got} do not fit n_hidden={tuple(n_hidden)} with {n_features} features and "
            f"{n_classes} classes: expected {layer_shapes(n_features, n_hidden, n_out)}"
        )
    return out


def state_of(model: Any) -> dict[str, Any]:
    """What ``model.__getstate__`` returns: the format version, the parameters and the fitted attributes."""
    from . import __version__

    fitted = {}
    for name in FITTED_ATTRIBUTES:
        value = getattr(model, name, None)
        if value is None:
            continue
        if name == "weights_":
            value = [np.array(W) for W in value]
            value = [W if W.dtype.type in (np.float32, np.float64) else W.astype(np.float64) for W in value]
        elif name in ("classes_", "loss_curve_", "validation_scores_", "validation_loss_curve_"):
            value = np.array(value)
        elif name == "feature_names_in_":
            value = np.array([str(v) for v in value], dtype=object)
        else:
            value = int(value)
        fitted[name] = value
    # the oldest format that holds the state, so that earlier versions of backprop read it when they can
    params = model.get_params()
    version = (5 if "validation_loss_curve_" in fitted else 4 if params["class_weight"] is not None
               else 3 if "feature_names_in_" in fitted else 2)
    params = {name: params[name] for name in param_names(version)}
    return {"_format_version": version, "backprop_version": __version__, "params": params, "fitted": fitted}


def restore(state: Any) -> dict[str, Any]:
    """The ``__dict__`` of the model pickled as ``state``, checked (ValueError if foreign, corrupted or too new)."""
    if not isinstance(state, dict) or "_format_version" not in state:
        raise ValueError(
            f"not a pickled backprop NeuralNetwork: the state is a {type(state).__name__} "
            "without a '_format_version' key"
        )
    version = state["_format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"corrupted NeuralNetwork pickle: _format_version is {version!r}")
    if version > FORMAT_VERSION:
        from . import __version__

        raise ValueError(
            f"this NeuralNetwork was pickled with format version {version} (by backprop "
            f"{state.get('backprop_version', '?')}); backprop {__version__} reads format versions up to "
            f"{FORMAT_VERSION}: upgrade backprop to load it"
        )
    try:
        params, fitted = _checked_state(state, version)
    except ValueError as exc:
        raise ValueError(f"corrupted NeuralNetwork pickle (format version {version}): {exc}") from None
    return {**params, **fitted}


def _checked_state(state: dict, version: int) -> tuple[dict, dict]:
    """``(params, fitted attributes)`` of a format-1 or format-2 state; format 1 (binary models)
    loads with the parameters it lacks at their defaults, which keep the model's behaviour."""
    extra = set(state) - {"_format_version", "backprop_version", "params", "fitted"}
    if extra:
        raise ValueError(f"unexpected keys {sorted(extra)}")
    params, fitted = state.get("params"), state.get("fitted")
    names = param_names(version)
    if not isinstance(params, dict) or set(params) != set(names):
        raise ValueError(f"'params' must be a dict with keys {list(names)}, got {params!r}")
    allowed = _FORMAT_ATTRIBUTES[version]
    if not isinstance(fitted, dict) or not set(fitted) <= set(allowed):
        raise ValueError(f"'fitted' must be a dict with keys among {list(allowed)}")
    params = {**DEFAULTS._asdict(), **params}
    return params, check_model(params, fitted, version, against_params=False)


def check_model(params: dict, fitted: dict, version: int = FORMAT_VERSION, *, against_params: bool = True) -> dict:
    """The one checker of a model read back, from a pickle (:func:`restore`) or a model file
    (``_io.read_model``), and of a model ``_io.save`` is about to write: returns the fitted
    attributes checked (weights C-contiguous in native byte order; a fitted state's
    ``validation_scores_`` and ``validation_loss_curve_`` None when not stored, as after a fit
    without a validation set), or raises ``ValueError`` naming the problem.

    Each attribute must have its type (weights finite float arrays, ``n_iter_`` an int >= 0,
    ``loss_curve_`` and ``validation_loss_curve_`` finite and at most ``n_iter_`` long,
    validation scores in [0, 1], classes at least two labels, sorted, distinct, none missing or
    NaN).  A fitted state (one with ``classes_``) must have ``n_features_in_`` (>= 1) and weights
    chaining from it to the classes' output layer.

    ``against_params`` (model files) also requires parameters that pass the estimator's own
    validation and weights shaped by their ``n_hidden``: the file's reader derives each member's
    shape from them.  A pickle (``against_params=False``) restores the parameters as they were
    given, unchecked, as ``set_params`` takes them: after ``set_params`` they may no longer
    describe the weights (``n_hidden``) or pass validation until the next ``fit`` validates
    them again (a warm start refuses weights its ``n_hidden`` does not describe), as in
    scikit-learn, so that pickling gives back the object as it was.
    """
    present = [name for name in FITTED_ATTRIBUTES if name in fitted and not (name in _OPTIONAL and fitted[name] is None)]
    out = {name: _checked_attribute(name, fitted[name], version) for name in present}
    n_hidden = None
    if "classes_" in out or "n_features_in_" in out:
        if not {"weights_", "classes_", "n_features_in_"} <= set(out):
            raise ValueError("a fitted model needs weights_, classes_ and n_features_in_ together")
        if out["n_features_in_"] < 1:
            raise ValueError(f"n_features_in_ must be >= 1, got {out['n_features_in_']}")
        if against_params:
            try:
                n_hidden = validate(params).n_hidden
            except ValueError as exc:
                raise ValueError(f"invalid parameters: {exc}") from None
        out["weights_"] = check_weights(out["weights_"], out["n_features_in_"], len(out["classes_"]), n_hidden)
    elif "weights_" in out:
        out["weights_"] = check_weights(out["weights_"])
    if "feature_names_in_" in out and len(out["feature_names_in_"]) != out.get("n_features_in_"):
        raise ValueError("feature_names_in_ must hold n_features_in_ names")
    for name in ("loss_curve_", "validation_scores_", "validation_loss_curve_"):
        if name in out and "n_iter_" in out and len(out[name]) > out["n_iter_"]:
            raise ValueError(f"{name} holds {len(out[name])} epochs, more than n_iter_ = {out['n_iter_']}")
    if "classes_" in out:
        for name in _OPTIONAL:  # a fit sets both, None without a validation set
            out.setdefault(name, None)
    return out


def _checked_attribute(name: str, value: Any, version: int) -> Any:
    if name == "weights_":
        return value  # checked with classes_ and n_features_in_
    if name in ("n_features_in_", "n_iter_"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        return value
    if name == "classes_":
        if not isinstance(value, np.ndarray) or value.ndim != 1 or value.shape[0] < 2 or (version == 1 and value.shape != (2,)):
            raise ValueError(f"classes_ must be an array of {'two' if version == 1 else 'at least two'} labels, got {value!r:.80}")
        if value.dtype.kind not in "biufUSO":
            raise ValueError(f"classes_ must hold numbers or strings, got dtype {value.dtype}")
        check_labels(value, "classes_")
        try:
            distinct = np.unique(value)
        except TypeError:
            distinct = None
        if distinct is None or distinct.shape != value.shape or not np.array_equal(distinct, value):
            raise ValueError(f"classes_ must be distinct and sorted, got {value!r:.80}")
        return value
    if name == "feature_names_in_":
        if not (isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind == "O"
                and all(type(v) is str for v in value)):
            raise ValueError(f"feature_names_in_ must be a 1-D object array of strings, got {value!r:.80}")
        return value
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind != "f":
        raise ValueError(f"{name} must be a 1-D float array, got {value!r:.80}")
    if not all_finite(value):
        raise ValueError(f"{name} contains NaN or infinity")
    if name == "validation_scores_" and value.size and not (value.min() >= 0 and value.max() <= 1):
        raise ValueError("validation_scores_ must be accuracies, in [0, 1]")
    return value
