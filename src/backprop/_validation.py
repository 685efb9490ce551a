"""Checks of the data given to the estimator: arrays, labels, and single numbers.

Each check raises ``ValueError`` or ``TypeError`` with a message naming the argument and the
problem, and returns the value in the form the rest of the package uses.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Optional

import numpy as np

from . import _core

__all__ = ["check_array", "check_y", "check_sample_weight", "as_labels", "check_labels", "check_int", "check_real", "check_finite_real",
           "check_label_kind", "check_n_features", "abs_max",
           "feature_names", "check_feature_names", "plain"]


def plain(value: Any) -> Any:
    """``value`` as plain Python values for a message: numpy scalars and arrays become Python
    scalars and lists (``1`` and ``[0, 1]``, not ``np.int64(1)`` and ``array([0, 1])``)."""
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


def is_sparse(X: Any) -> bool:
    return type(X).__module__.startswith("scipy.sparse") or (hasattr(X, "tocsr") and hasattr(X, "nnz"))


def as_numeric_array(X: Any, name: str) -> np.ndarray:
    """``np.asarray(X)`` with bool/int/uint/float dtype, or a clear error."""
    if not (is_sparse(X) or hasattr(X, "__array__") or isinstance(X, (list, tuple))):
        raise TypeError(f"{name} must be an array-like of numbers, got {type(X).__name__}")
    X = _as_array(X, name, "a numeric array", f", convert it with {name}.toarray()")
    # Text is data to parse, not numbers: scikit-learn refuses it too, rather than guessing.
    if X.dtype.kind in "US" or (X.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in X.flat)):
        raise ValueError(
            f"{name} must hold numbers: dtype='numeric' is not compatible with arrays of bytes/strings. "
            "Convert your data to numeric values explicitly"
        )
    if X.dtype.kind == "O":
        try:
            X = X.astype(np.float64)
        except TypeError as exc:  # e.g. a dict inside an object array
            if any(type(v).__name__ == "NAType" for v in X.flat):  # pandas' missing value, pd.NA
                raise ValueError(f"{name} contains missing values (pandas.NA); impute or drop them first") from None
            raise TypeError(f"{name} must hold numbers: {exc}") from None
        except ValueError as exc:  # e.g. a value whose float() refuses it
            raise ValueError(f"{name} must hold numbers, got dtype {X.dtype}: {exc}") from None
    elif X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    return X


def all_finite(X: np.ndarray) -> bool:
    """No NaN and no infinity in X, without a temporary the size of X (a fit's peak memory would
    otherwise grow by a bool per value)."""
    return finite_scan(X)[0]


def finite_scan(X: np.ndarray, n_threads: int = 1) -> tuple[bool, Optional[bool]]:
    """``(all_finite(X), huge)``: a C-contiguous float32/float64 X in one pass of the kernels' scan
    on up to ``n_threads`` threads, which also answers ``_core.has_huge_values(X)`` (``huge``, when X
    is finite); anything else by min and max, which propagate NaN and expose an infinity (``huge``
    None: not known)."""
    if X.size == 0:
        return True, None
    if X.dtype in (np.float32, np.float64) and X.flags.c_contiguous:
        finite, huge = _core.scan_values(X.reshape(-1), n_threads)
        return bool(finite), bool(huge) if finite else None
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(X.min()) and np.isfinite(X.max())), None


def huge_in_rows(huge: Optional[bool]) -> Optional[bool]:
    """``_core.has_huge_values`` of some of X's rows from X's answer ``huge`` (None: not known):
    the rows of an X without huge values have none; those of an X with some may or may not."""
    return False if huge is False else None


def check_array(X: Any, name: str = "X", dtype: Any = None) -> np.ndarray:
    """Validate ``X`` and return it as a 2-D C-contiguous, finite float32/float64 array.

    float32 and float64 are kept (or converted to ``dtype`` when given); bool, integer and
    float16 data become float64.  An array that already has the right dtype and layout is
    returned as is (no copy).
    """
    return check_array_scanned(X, name, dtype)[0]


def check_array_scanned(X: Any, name: str = "X", dtype: Any = None,
                        n_threads: int = 1) -> tuple[np.ndarray, Optional[bool]]:
    """``check_array``, and the returned X's answer to ``_core.has_huge_values`` when the finite
    check's pass gave it (None otherwise), so that a fit does not scan X again: the check runs
    on up to ``n_threads`` threads."""
    X = as_numeric_array(X, name)
    if X.ndim != 2:
        hint = ""
        if X.ndim == 1:
            hint = (
                " Reshape your data either using array.reshape(-1, 1) if your data has a single feature"
                " or array.reshape(1, -1) if it contains a single sample."
            )
        raise ValueError(f"{name} must be 2-D, got an array of shape {X.shape}.{hint}")
    huge = None
    if X.dtype.kind == "f":
        finite, huge = finite_scan(X, n_threads)
        if not finite:
            raise ValueError(f"{name} contains NaN or infinity")
    if dtype is None:
        dtype = X.dtype.newbyteorder("=") if X.dtype.type in (np.float32, np.float64) else np.float64
    dtype = np.dtype(dtype)
    if X.dtype.kind == "f" and X.dtype.itemsize > dtype.itemsize:
        with np.errstate(over="ignore"):
            X = np.ascontiguousarray(X, dtype=dtype)
        finite, huge = finite_scan(X, n_threads)
        if not finite:
            raise ValueError(f"{name} has values too large for {dtype} (the model works in {dtype})")
        return X, huge
    checked = np.ascontiguousarray(X, dtype=dtype)
    # the scan's answer holds for the values it read, in the dtype it read them in
    return checked, huge if checked.dtype == X.dtype else None


def check_y(y: Any, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the labels; returns ``(y, classes)`` with at least two sorted classes."""
    if y is None:
        raise ValueError("NeuralNetwork requires y to be passed, but the target y is None")
    y = as_labels(y)
    if y.ndim != 1:
        hint = " (a column vector: pass y.ravel())" if y.ndim == 2 and y.shape[1] == 1 else ""
        raise ValueError(f"y must be 1-D, got an array of shape {y.shape}{hint}")
    if y.shape[0] != n_samples:
        raise ValueError(f"X and y have different numbers of samples: {n_samples} and {y.shape[0]}")
    try:
        classes = np.unique(y)
    except TypeError as exc:
        raise ValueError(f"Unknown label type: the labels in y cannot be sorted ({exc})") from None
    k = classes.shape[0]
    if k == 1:
        raise ValueError(f"y has only 1 class ({plain(classes[0])!r}); classification needs at least two classes")
    if y.dtype.kind == "f" and not np.array_equal(classes, np.round(classes)):  # scikit-learn's rule
        raise ValueError(
            f"Unknown label type: continuous. y holds non-integer values ({k} distinct), a regression "
            "target; NeuralNetwork is a classifier (labels may be integers, strings or bools)"
        )
    return y, classes


def as_labels(y: Any, name: str = "y") -> np.ndarray:
    """``np.asarray(y)`` checked by :func:`check_labels`: every way labels enter the estimator
    (``fit``, ``partial_fit``'s ``y`` and ``classes``, ``score``) goes through here."""
    labels = _as_array(y, name, "an array")
    check_labels(labels, name, y)
    return labels


def label_kind(labels: np.ndarray) -> Optional[str]:
    """``"string"`` or ``"number"`` (bools included) for labels all of one kind, else None."""
    kind = labels.dtype.kind
    if kind in "US":
        return "string"
    if kind in "biuf":
        return "number"
    if kind == "O":
        values = labels.ravel().tolist()
        if all(isinstance(v, (str, bytes)) for v in values):
            return "string"
        if all(isinstance(v, numbers.Number) for v in values):
            return "number"
    return None


def check_label_kind(labels: np.ndarray, classes: np.ndarray, name: str = "y") -> None:
    """Labels compared with the fitted ``classes``: of the same kind (ValueError naming ``name``).
    A string never equals a number, so ``"1"`` against class ``1`` would only count as wrong
    (scikit-learn refuses the mix too); int and float labels compare as numbers do."""
    kinds = label_kind(labels), label_kind(classes)
    if None not in kinds and kinds[0] != kinds[1]:
        raise ValueError(
            f"Mix of label input types (string and number): {name} holds {kinds[0]}s ({plain(labels.ravel()[:3])!r}"
            f"{', ...' if labels.size > 3 else ''}) but the classes are {kinds[1]}s ({plain(classes[:3])!r}"
            f"{', ...' if classes.size > 3 else ''}); convert {name} to the classes' type"
        )


def _not_a_label(v: Any) -> bool:
    """Whether one value is missing or not finite: None, pandas.NA / NaT, NaN or infinity of any
    numeric type (numpy scalars, Decimal), so that it can never become a class of its own."""
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(v, (str, bytes, bool, np.bool_, numbers.Integral)):
        return False
    if isinstance(v, numbers.Complex):
        return not (math.isfinite(v.real) and math.isfinite(v.imag))
    try:
        return bool(v != v) or bool(v in (math.inf, -math.inf))  # NaN != NaN; Decimal('Infinity') == inf
    except Exception:  # noqa: BLE001 - odd objects compare however they like: not a missing value
        return False


def check_labels(labels: np.ndarray, name: str = "y", given: Any = None) -> None:
    """The one rule for labels: none may be missing or non-finite (``ValueError`` naming ``name``).

    ``labels`` is ``np.asarray(given)``; when that turned a list into a string array, a float NaN
    among strings became the string ``'nan'``, so the elements of ``given`` are checked instead.
    """
    if labels.dtype.kind == "f":
        bad = None if all_finite(labels) else int(np.flatnonzero(~np.isfinite(labels.ravel()))[0])
    else:
        values = labels
        if labels.dtype.kind in "US" and given is not None and not isinstance(given, np.ndarray):
            values = np.asarray(given, dtype=object)  # the elements as given, before str()
        if values.dtype.kind != "O":
            return
        flat = values.ravel()
        # strings are the common case: only the other values need a closer look
        suspects = [i for i, v in enumerate(flat.tolist()) if not isinstance(v, str) and _not_a_label(v)]
        bad = suspects[0] if suspects else None
    if bad is not None:
        value = labels.ravel()[bad] if labels.dtype.kind == "f" else values.ravel()[bad]
        raise ValueError(
            f"{name} contains NaN or infinity, or a missing label (None, pandas.NA): {plain(value)!r} at position "
            f"{bad}. These cannot be classes: drop those rows or impute the labels first"
        )


def _as_array(value: Any, name: str, what: str, sparse_hint: str = "") -> np.ndarray:
    """``np.asarray(value)`` refusing sparse matrices and complex numbers (TypeError / ValueError naming ``name``)."""
    if is_sparse(value):
        raise TypeError(f"{name} is a sparse matrix ({type(value).__name__}); sparse input is not supported{sparse_hint}")
    try:
        value = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be converted to {what}: {exc}") from None
    if value.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {value.dtype}")
    return value


def check_int(value: Any, name: str, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(value: Any, name: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value != value:  # NaN != NaN
        raise ValueError(f"{name} must be a real number, got {value!r}")
    return float(value)


def check_finite_real(value: Any, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite real number >= ``minimum`` (> when ``strict``), as a float."""
    x = check_real(value, name)
    if not (math.isfinite(x) and (x > minimum if strict else x >= minimum)):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return x


def check_sample_weight(sample_weight: Any, n: int, dtype: Any, name: str = "sample_weight") -> Optional[np.ndarray]:
    """``sample_weight`` as a C-contiguous (n,) array of ``dtype`` (X's), or None.

    The rule the kernels' bindings apply too: shape (n,), finite, every weight >= 0, and not all
    zero (the loss divides by their sum).  ``name``: the argument's name in the errors.
    """
    if sample_weight is None:
        return None
    w = as_numeric_array(sample_weight, name)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), one weight per sample, got shape {w.shape}")
    with np.errstate(over="ignore"):
        w = np.ascontiguousarray(w, dtype=dtype)
    if not all_finite(w):
        raise ValueError(f"{name} contains NaN or infinity (or values too large for the model's dtype)")
    if n and float(w.min()) < 0:
        raise ValueError(f"{name} must be >= 0, got a negative weight")
    if not w.any():
        raise ValueError(f"{name} must not be all zero (the loss is divided by their sum)")
    return w


def check_n_features(X: np.ndarray, n_features: int) -> None:
    """``X`` has the number of features the model was fitted with."""
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but NeuralNetwork is expecting {n_features} features as input")


def abs_max(X: np.ndarray) -> float:
    """``max |X|`` without a temporary the size of X (0 for an empty array)."""
    return max(-float(X.min()), float(X.max())) if X.size else 0.0


def feature_names(X: Any) -> Optional[np.ndarray]:
    """The column names of ``X`` (an object array) when it has a ``columns`` attribute (a pandas
    DataFrame, ...) whose names are all strings, else None; scikit-learn's rule, its TypeError
    for names that mix strings and other types included."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    try:
        names = np.asarray(list(columns), dtype=object)
    except TypeError:
        return None
    if names.ndim != 1 or names.shape[0] == 0:
        return None
    types = sorted(t.__qualname__ for t in set(type(v) for v in names))
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. "
            "If you want feature names to be stored and validated, you must convert "
            "them all to strings, by using X.columns = X.columns.astype(str) for "
            "example. Otherwise you can remove feature / column names from your input "
            "data, or convert them all to a non-string data type."
        )
    return names if types == ["str"] else None


def check_feature_names(fitted: Optional[np.ndarray], X: Any, estimator: str = "NeuralNetwork", name: str = "X") -> None:
    """The names of ``X``'s columns against ``feature_names_in_`` (``fitted``), with
    scikit-learn's warnings (names on one side only) and ValueError (other names, or another order).
    ``name``: the argument's name in the warnings."""
    names = feature_names(X)
    if fitted is None and names is None:
        return
    if names is not None and fitted is None:
        warnings.warn(f"{name} has feature names, but {estimator} was fitted without feature names", UserWarning,
                      stacklevel=3)
        return
    if names is None:
        warnings.warn(
            f"{name} does not have valid feature names, but {estimator} was fitted with feature names", UserWarning,
            stacklevel=3
        )
        return
    if len(fitted) == len(names) and bool(np.all(fitted == names)):
        return
    message = ("" if name == "X" else f"{name}: ") + "The feature names should match those that were passed during fit.\n"
    unexpected = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))

    def listed(items: list) -> str:
        out = "".join(f"- {name}\n" for name in items[:5])
        return out + ("- ...\n" if len(items) > 5 else "")

    if unexpected:
        message += "Feature names unseen at fit time:\n" + listed(unexpected)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + listed(missing)
    if not unexpected and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)
