"""``NeuralNetwork``: the article's network behind a scikit-learn style estimator."""

from __future__ import annotations

import functools
import numbers
import sys
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core, reference

__all__ = ["NeuralNetwork", "NotFittedError"]

_BACKENDS = ("cpp", "numpy")
_DEFAULT_THREADS = _core.default_threads()  # all cores (read once: asking costs microseconds)

# Version of the dict written by NeuralNetwork.__getstate__.  Bump it when that layout changes,
# and teach __setstate__ to read every older version.
_FORMAT_VERSION = 1
_FITTED_ATTRIBUTES = ("weights_", "classes_", "n_features_in_", "n_iter_", "loss_curve_")


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before ``fit`` (like scikit-learn's, a ValueError and an AttributeError).

    When scikit-learn is already imported, the error raised is also an instance of
    ``sklearn.exceptions.NotFittedError`` (scikit-learn itself is never imported by backprop).
    """

    def __reduce__(self):
        return _not_fitted_error, self.args


@functools.lru_cache(maxsize=None)
def _with_sklearn_base(sklearn_cls: type) -> type:
    namespace = {"__module__": __name__, "__doc__": NotFittedError.__doc__}
    return type("NotFittedError", (NotFittedError, sklearn_cls), namespace)


def _not_fitted_error(*args: Any) -> NotFittedError:
    """A NotFittedError that is also scikit-learn's when scikit-learn is loaded (never imports it)."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    cls = NotFittedError
    if sklearn_exceptions is not None and isinstance(getattr(sklearn_exceptions, "NotFittedError", None), type):
        cls = _with_sklearn_base(sklearn_exceptions.NotFittedError)
    return cls(*args)


# ---------------------------------------------------------------------- input validation
def _is_sparse(X: Any) -> bool:
    return type(X).__module__.startswith("scipy.sparse") or (hasattr(X, "tocsr") and hasattr(X, "nnz"))


def _as_numeric_array(X: Any, name: str) -> np.ndarray:
    """``np.asarray(X)`` with bool/int/uint/float dtype, or a clear error."""
    if _is_sparse(X):
        raise TypeError(
            f"{name} is a sparse matrix ({type(X).__name__}); sparse input is not supported, "
            f"convert it with {name}.toarray()"
        )
    if not (hasattr(X, "__array__") or isinstance(X, (list, tuple))):
        raise TypeError(f"{name} must be an array-like of numbers, got {type(X).__name__}")
    try:
        X = np.asarray(X)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if X.dtype.kind in "OUS":
        try:
            X = X.astype(np.float64)
        except TypeError as exc:  # e.g. a dict inside an object array
            raise TypeError(f"{name} must hold numbers: {exc}") from None
        except ValueError as exc:  # e.g. a string that is not a number
            raise ValueError(f"{name} must hold numbers, got dtype {X.dtype}: {exc}") from None
    elif X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    return X


def _check_array(X: Any, name: str = "X", dtype: Any = None) -> np.ndarray:
    """Validate ``X`` and return it as a 2-D C-contiguous, finite float32/float64 array.

    float32 and float64 are kept (or converted to ``dtype`` when given); bool, integer and
    float16 data become float64.  An array that already has the right dtype and layout is
    returned as is (no copy).
    """
    X = _as_numeric_array(X, name)
    if X.ndim != 2:
        hint = ""
        if X.ndim == 1:
            hint = (
                " Reshape your data either using array.reshape(-1, 1) if your data has a single feature"
                " or array.reshape(1, -1) if it contains a single sample."
            )
        raise ValueError(f"{name} must be 2-D, got an array of shape {X.shape}.{hint}")
    if X.dtype.kind == "f" and X.size and not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if dtype is None:
        dtype = X.dtype.newbyteorder("=") if X.dtype.type in (np.float32, np.float64) else np.float64
    dtype = np.dtype(dtype)
    if X.dtype.kind == "f" and X.dtype.itemsize > dtype.itemsize:
        with np.errstate(over="ignore"):
            X = np.ascontiguousarray(X, dtype=dtype)
        if X.size and not np.isfinite(X).all():
            raise ValueError(f"{name} has values too large for {dtype} (the model works in {dtype})")
        return X
    return np.ascontiguousarray(X, dtype=dtype)


def _check_y(y: Any, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the labels; returns ``(y, classes)`` with exactly two sorted classes."""
    if y is None:
        raise ValueError("NeuralNetwork requires y to be passed, but the target y is None")
    y = _as_labels(y)
    if y.ndim != 1:
        hint = " (a column vector: pass y.ravel())" if y.ndim == 2 and y.shape[1] == 1 else ""
        raise ValueError(f"y must be 1-D, got an array of shape {y.shape}{hint}")
    if y.shape[0] != n_samples:
        raise ValueError(f"X and y have different numbers of samples: {n_samples} and {y.shape[0]}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity")
    if y.dtype.kind == "O" and any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in y):
        raise ValueError("y contains NaN, infinity or None")
    try:
        classes = np.unique(y)
    except TypeError as exc:
        raise ValueError(f"Unknown label type: the labels in y cannot be sorted ({exc})") from None
    k = classes.shape[0]
    if k == 1:
        raise ValueError(f"y has only 1 class ({classes[0]!r}); binary classification needs exactly two classes")
    if k > 2:
        if y.dtype.kind == "f" and not np.array_equal(classes, np.round(classes)):
            raise ValueError(
                f"Unknown label type: continuous. y holds {k} distinct non-integer values, a regression "
                "target; NeuralNetwork is a binary classifier"
            )
        raise ValueError(
            f"Only binary classification is supported (multi-class is not implemented yet): y has {k} classes "
            f"{classes[:10]!r}"
        )
    return y, classes


def _as_labels(y: Any) -> np.ndarray:
    if _is_sparse(y):
        raise TypeError(f"y is a sparse matrix ({type(y).__name__}); sparse input is not supported")
    try:
        y = np.asarray(y)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"y could not be converted to an array: {exc}") from None
    if y.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: y has dtype {y.dtype}")
    return y


def _check_int(value: Any, name: str, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_real(value: Any, name: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value != value:  # NaN != NaN
        raise ValueError(f"{name} must be a real number, got {value!r}")
    return float(value)


class NeuralNetwork:
    """Feed-forward neural network for binary classification, trained by backpropagation.

    The article's model: sigmoid hidden layers, one sigmoid output unit, mean binary log-loss,
    full-batch gradient descent; weights (bias in column 0) drawn from N(0, 0.1**2).

    The constructor only stores its arguments; they are checked by ``fit``, which raises a
    ``ValueError`` naming the parameter.

    Parameters
    ----------
    n_hidden : sequence of int, default=(100,)
        Number of units of each hidden layer (each >= 1); ``()`` gives logistic regression.
    learning_rate : float, default=1.0
        Step size of gradient descent (finite, > 0).
    max_iter : int, default=10
        Number of full-batch iterations per ``fit`` (>= 0).
    threshold : float, default=0.5
        ``predict`` returns ``classes_[1]`` where P(``classes_[1]``) >= threshold (in [0, 1]).
    random_state : None, int or numpy.random.Generator, default=None
        Seed of ``numpy.random.default_rng`` for the initial weights; the same value gives the
        same initial weights on both backends.
    warm_start : bool, default=False
        Continue from the current ``weights_`` (fitted, or assigned by the caller) instead of
        drawing new ones.
    backend : {"cpp", "numpy"}, default="cpp"
        ``"cpp"`` runs the C++ kernels; ``"numpy"`` runs ``backprop.reference``.
    n_threads : int or None, default=None
        Threads of the C++ backend (>= 1); ``None`` uses every core.  Results do not depend on it.

    Attributes
    ----------
    weights_ : list of ndarray
        ``weights_[i]`` has shape ``(n_out, n_in + 1)``, column 0 the bias, in the training
        data's dtype (float32 or float64).
    classes_ : ndarray of shape (2,)
        The two labels, sorted; ``predict_proba``'s columns follow this order.
    n_features_in_ : int
        Number of features seen by ``fit``.
    n_iter_ : int
        Iterations run, summed over warm-started fits.
    loss_curve_ : ndarray
        Mean log-loss of each iteration's forward pass (concatenated over warm-started fits).

    Notes
    -----
    Input: 2-D array-likes (lists, pandas DataFrames, any memory layout); float32 data trains in
    float32, float64 in float64, and bool, integer and float16 data in float64.  Sparse, complex,
    non-finite or empty data, and labels that are not exactly two classes, raise ``ValueError`` or
    ``TypeError`` naming the problem.  Huge values are handled without NaN: ``predict_proba`` computes
    the first layer of rows whose products ``W x`` could overflow in a scaled, exact way; a fit whose
    weights, loss or first-layer products overflow (possible when |x| nears the float range, e.g.
    1e300 without hidden layers) raises ``ValueError`` and leaves the estimator as it was, as does
    an interrupted fit (``KeyboardInterrupt``).

    ``fit`` and ``predict_proba`` release the GIL in the C++ backend: one fitted model may serve
    ``predict``/``predict_proba`` from several threads at once; do not call ``fit`` on a model
    while another thread uses it.

    Pickles hold only numpy arrays, Python builtins (and the parameters as given) and a format
    version; they load on any machine and in later versions of backprop.
    """

    # Pickles name the class by its public path, backprop.NeuralNetwork, so that moving the code
    # between private modules never breaks them.
    __module__ = "backprop"
    # scikit-learn < 1.6 reads this instead of __sklearn_tags__.
    _estimator_type = "classifier"

    def __init__(
        self,
        n_hidden: Any = (100,),
        learning_rate: float = 1.0,
        max_iter: int = 10,
        threshold: float = 0.5,
        random_state: Any = None,
        warm_start: bool = False,
        backend: str = "cpp",
        n_threads: int | None = None,
    ) -> None:
        self.n_hidden = n_hidden
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.threshold = threshold
        self.random_state = random_state
        self.warm_start = warm_start
        self.backend = backend
        self.n_threads = n_threads

    # ------------------------------------------------------------------ scikit-learn protocol
    _param_names = (
        "n_hidden",
        "learning_rate",
        "max_iter",
        "threshold",
        "random_state",
        "warm_start",
        "backend",
        "n_threads",
    )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get the parameters of this estimator (scikit-learn protocol).

        Parameters
        ----------
        deep : bool, default=True
            Ignored: NeuralNetwork holds no sub-estimators.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> NeuralNetwork:
        """Set parameters by name (scikit-learn protocol); values are checked by ``fit``.

        Parameters
        ----------
        **params
            Parameter names and their new values.

        Returns
        -------
        self : NeuralNetwork

        Raises
        ------
        ValueError
            If a name is not a parameter of NeuralNetwork.
        """
        for name in params:
            if name not in self._param_names:
                raise ValueError(f"invalid parameter {name!r} for NeuralNetwork; valid: {', '.join(self._param_names)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self) -> Any:
        """Estimator tags for scikit-learn >= 1.6 (imports scikit-learn, which only the caller needs)."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=False),  # binary only, for now
            input_tags=InputTags(allow_nan=False, sparse=False),
        )

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` has run (used by ``sklearn.utils.validation.check_is_fitted``)."""
        return getattr(self, "weights_", None) is not None and getattr(self, "classes_", None) is not None

    def __repr__(self) -> str:
        defaults = NeuralNetwork()
        changed = [
            f"{k}={v!r}" for k, v in self.get_params().items() if not _same_param(v, getattr(defaults, k))
        ]
        return f"NeuralNetwork({', '.join(changed)})"

    # ------------------------------------------------------------------ persistence
    def __getstate__(self) -> dict[str, Any]:
        """Pickled state: a format version, the parameters and the fitted attributes.

        Fitted attributes are stored as plain numpy arrays and Python ints (no pointers, nothing
        of the C++ module), so a pickle loads on another machine or a later version of backprop.
        Attributes other than the parameters and the fitted attributes are not pickled.
        """
        fitted = {}
        for name in _FITTED_ATTRIBUTES:
            value = getattr(self, name, None)
            if value is None:
                continue
            if name == "weights_":
                value = [np.array(W) for W in value]
                value = [W if W.dtype.type in (np.float32, np.float64) else W.astype(np.float64) for W in value]
            elif name in ("classes_", "loss_curve_"):
                value = np.array(value)
            else:
                value = int(value)
            fitted[name] = value
        from . import __version__

        return {
            "_format_version": _FORMAT_VERSION,
            "backprop_version": __version__,
            "params": self.get_params(),
            "fitted": fitted,
        }

    def __setstate__(self, state: Any) -> None:
        """Restore a pickled state, checking it first (ValueError if foreign, corrupted or too new)."""
        if not isinstance(state, dict) or "_format_version" not in state:
            raise ValueError(
                f"not a pickled backprop NeuralNetwork: the state is a {type(state).__name__} "
                "without a '_format_version' key"
            )
        version = state["_format_version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"corrupted NeuralNetwork pickle: _format_version is {version!r}")
        if version > _FORMAT_VERSION:
            from . import __version__

            raise ValueError(
                f"this NeuralNetwork was pickled with format version {version} (by backprop "
                f"{state.get('backprop_version', '?')}); backprop {__version__} reads format versions up to "
                f"{_FORMAT_VERSION}: upgrade backprop to load it"
            )
        params, fitted = _check_state_v1(state)
        self.__dict__.clear()
        self.__dict__.update(params)
        self.__dict__.update(fitted)

    # ------------------------------------------------------------------ validation helpers
    def _validated_params(self) -> tuple[tuple[int, ...], float, int, int]:
        """Checks every parameter; returns ``(n_hidden, learning_rate, max_iter, n_threads)``."""
        if isinstance(self.n_hidden, (str, bytes)) or not hasattr(self.n_hidden, "__iter__"):
            raise ValueError(f"n_hidden must be a sequence of positive integers, got {self.n_hidden!r}")
        n_hidden = tuple(self.n_hidden)
        for h in n_hidden:
            if not isinstance(h, numbers.Integral) or isinstance(h, bool) or h < 1:
                raise ValueError(f"n_hidden must hold positive integers, got {self.n_hidden!r}")
        n_hidden = tuple(int(h) for h in n_hidden)
        lr = _check_real(self.learning_rate, "learning_rate")
        if not (0 < lr < np.inf):
            raise ValueError(f"learning_rate must be a finite number > 0, got {self.learning_rate!r}")
        max_iter = _check_int(self.max_iter, "max_iter", 0)
        self._validated_threshold()
        self._validated_backend()
        n_threads = self._resolved_threads()
        if not (self.random_state is None or isinstance(self.random_state, np.random.Generator)):
            try:
                np.random.default_rng(self.random_state)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"random_state must be None, an int >= 0 or a numpy.random.Generator, got {self.random_state!r} "
                    f"({exc})"
                ) from None
        return n_hidden, lr, max_iter, n_threads

    def _validated_threshold(self) -> float:
        t = _check_real(self.threshold, "threshold")
        if not (0.0 <= t <= 1.0):
            raise ValueError(f"threshold must be a number in [0, 1], got {self.threshold!r}")
        return t

    def _validated_backend(self) -> str:
        if not isinstance(self.backend, str) or self.backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {self.backend!r}")
        return self.backend

    def _resolved_threads(self) -> int:
        if self.n_threads is None:
            return _DEFAULT_THREADS
        if not isinstance(self.n_threads, numbers.Integral) or isinstance(self.n_threads, bool) or self.n_threads < 1:
            raise ValueError(f"n_threads must be None or an integer >= 1, got {self.n_threads!r}")
        return int(self.n_threads)

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise _not_fitted_error(
                "This NeuralNetwork instance is not fitted yet. Call 'fit' with appropriate arguments first."
            )

    def _check_X_predict(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = _check_array(X, dtype=self.weights_[0].dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but NeuralNetwork is expecting {self.n_features_in_} features as input"
            )
        return X

    def _initial_weights(self, n_features: int, n_hidden: tuple[int, ...], dtype: np.dtype) -> tuple[list, bool]:
        sizes = [n_features, *n_hidden, 1]
        shapes = [(m, k + 1) for k, m in zip(sizes[:-1], sizes[1:])]
        current = getattr(self, "weights_", None)
        if self.warm_start and current is not None:
            current = list(current)
            got = [tuple(np.shape(W)) for W in current]
            if got != shapes:
                raise ValueError(
                    f"warm_start: weights_ have shapes {got}, but n_hidden={n_hidden} with {n_features} features "
                    f"needs {shapes}"
                )
            weights = [np.array(W, dtype=dtype, order="C", copy=True) for W in current]
            if not all(np.isfinite(W).all() for W in weights):
                raise ValueError("warm_start: weights_ contain NaN or infinity")
            return weights, True
        return reference.init_weights(n_features, n_hidden, np.random.default_rng(self.random_state), dtype), False

    # ------------------------------------------------------------------ estimator API
    def fit(self, X: ArrayLike, y: ArrayLike) -> NeuralNetwork:
        """Train the network by full-batch gradient descent for ``max_iter`` iterations.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite; float32 trains in float32, anything else in float64.
        y : array-like of shape (n_samples,)
            Labels: exactly two distinct values (numbers, strings, bools).

        Returns
        -------
        self : NeuralNetwork
            The fitted estimator.

        Raises
        ------
        ValueError
            If a parameter is invalid (the message names it), X or y are malformed, empty or
            non-finite, y does not hold exactly two classes, or training overflowed (weights or
            loss not finite).  The estimator is then left as it was.
        TypeError
            If X is sparse, or is not an array-like of numbers.
        KeyboardInterrupt
            On Ctrl-C; the estimator is left as it was.
        """
        n_hidden, lr, max_iter, n_threads = self._validated_params()
        X = _check_array(X)
        n, d = X.shape
        if n < 1:
            raise ValueError(f"X has 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
        if d < 1:
            raise ValueError(f"X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
        y, classes = _check_y(y, n)
        y01 = np.ascontiguousarray(y == classes[1], dtype=X.dtype)

        warm = self.warm_start and getattr(self, "weights_", None) is not None
        if warm and getattr(self, "classes_", None) is not None and not np.array_equal(self.classes_, classes):
            raise ValueError(f"warm_start: y has classes {classes!r}, but the model was fitted with {self.classes_!r}")
        weights, warm = self._initial_weights(d, n_hidden, X.dtype)

        if self.backend == "cpp":
            loss_curve, n_iter = _core.train(X, y01, weights, lr, max_iter, n_threads)
        else:
            with np.errstate(all="ignore"):  # overflow is checked below, as for the C++ backend
                loss_curve = reference.train(X, y01, weights, lr, max_iter)
            n_iter = max_iter
        diverged = not (np.isfinite(loss_curve).all() and all(np.isfinite(W).all() for W in weights))
        if diverged or _rows_that_may_overflow(X, weights[0]) is not None:
            raise ValueError(
                "training diverged: the weights, the loss or the first layer's products W x overflowed the "
                f"range of {X.dtype} (max |X| = {_abs_max(X):.3g}). Scale the features (e.g. standardize "
                "them) or lower learning_rate; the estimator was left unchanged"
            )

        if warm and getattr(self, "loss_curve_", None) is not None:
            self.loss_curve_ = np.concatenate([np.asarray(self.loss_curve_, dtype=X.dtype), loss_curve])
            self.n_iter_ = int(getattr(self, "n_iter_", 0)) + int(n_iter)
        else:
            self.loss_curve_ = loss_curve
            self.n_iter_ = int(n_iter)
        self.weights_ = weights
        self.classes_ = classes
        self.n_features_in_ = d
        return self

    def _network_proba(self, X: np.ndarray, weights: list) -> np.ndarray:
        if self._validated_backend() == "cpp":
            return _core.predict_proba(X, weights, self._resolved_threads())
        return reference.predict_proba(X, weights)

    def _proba_class1(self, X: np.ndarray) -> np.ndarray:
        """P(classes_[1]) for each row; rows so large that W x could overflow take an exact path."""
        rows = _rows_that_may_overflow(X, self.weights_[0])
        if rows is None:
            return self._network_proba(X, self.weights_)
        p = np.empty(X.shape[0], dtype=X.dtype)
        p[~rows] = self._network_proba(np.ascontiguousarray(X[~rows]), self.weights_)
        a1 = _scaled_first_layer(X[rows], self.weights_[0])
        p[rows] = a1[:, 0] if len(self.weights_) == 1 else self._network_proba(a1, self.weights_[1:])
        return p

    def predict_proba(self, X: ArrayLike) -> NDArray[np.floating]:
        """Class probabilities, columns in ``classes_`` order.

        Column 1 is the article's single output ``a^(L)`` = P(``classes_[1]``); column 0 is
        ``1 - a^(L)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data with the number of features seen by ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            In [0, 1], rows summing to 1; in the dtype of ``weights_``.

        Raises
        ------
        NotFittedError
            If ``fit`` has not been called.
        ValueError
            If X is malformed, non-finite, has the wrong number of features, or values so
            large that the network's output is undefined in floating point.
        """
        fast = self._fast_lane(X, two_columns=True)
        if fast is not None:
            return fast
        X = self._check_X_predict(X)
        p = self._proba_class1(X)
        return np.stack([1 - p, p], axis=1)

    def _fast_lane(self, X: Any, two_columns: bool) -> np.ndarray | None:
        """The C++ answer for the common case, validated in C++: a fitted cpp model and X an ndarray
        already of the model's dtype, 2-D, C-contiguous, with n_features_in_ columns.  The C++
        call checks finiteness (same error as the general path) and returns None when values are
        huge enough to need the exact path; anything else (other input types, numpy backend, a
        problem to report) goes through the general path.  Results are identical either way."""
        weights = self.__dict__.get("weights_")
        if (
            weights is None
            or type(X) is not np.ndarray
            or self.backend != "cpp"
            or X.ndim != 2
            or X.dtype != weights[0].dtype
            or not X.flags.c_contiguous
            or X.shape[1] != self.__dict__.get("n_features_in_")
            or self.__dict__.get("classes_") is None
        ):
            return None
        return _core.predict_proba(X, weights, self._resolved_threads(), two_columns, True)

    def predict_proba_unchecked(self, X: np.ndarray) -> NDArray[np.floating]:
        """``predict_proba`` without input validation: the documented low-latency path.

        For serving one row or a few rows at a time (about 2 microseconds per call here).
        It runs the C++ forward pass directly, whatever ``backend`` says.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features_in_)
            Must already be a C-contiguous array of the model's dtype (``weights_[0].dtype``)
            with finite values of moderate size; the C++ side still checks dtype, layout and
            shape (so a wrong array raises instead of reading out of bounds), but not finiteness
            or overflow: NaN in gives NaN out.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            As ``predict_proba``.
        """
        return _core.predict_proba(X, self.weights_, self._resolved_threads(), True, False)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted labels: ``classes_[1]`` where P(``classes_[1]``) >= ``threshold``, else ``classes_[0]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data with the number of features seen by ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Values from ``classes_`` (and of its dtype).

        Raises
        ------
        NotFittedError
            If ``fit`` has not been called.
        ValueError
            As ``predict_proba``, or if ``threshold`` is not in [0, 1].
        """
        threshold = self._validated_threshold()
        p = self._fast_lane(X, two_columns=False)
        if p is None:
            X = self._check_X_predict(X)
            p = self._proba_class1(X)
        return self.classes_[(p >= threshold).astype(np.intp)]

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """Accuracy of ``predict(X)`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test data.
        y : array-like of shape (n_samples,)
            True labels.

        Returns
        -------
        accuracy : float
            Fraction of samples whose predicted label equals ``y``.
        """
        y = _as_labels(y)
        y_pred = self.predict(X)
        if y.shape != y_pred.shape:
            raise ValueError(f"y must have shape {y_pred.shape}, got {y.shape}")
        return float(np.mean(y_pred == y))


def _abs_max(X: np.ndarray) -> float:
    return max(-float(X.min()), float(X.max())) if X.size else 0.0


def _rows_that_may_overflow(X: np.ndarray, W1: np.ndarray) -> np.ndarray | None:
    """Mask of the rows whose first-layer sums ``b + W1[:, 1:] x`` could overflow (None if none can).

    Every partial sum of row x is at most ``max_h (|b_h| + sum_j |W1[h, j]|) * max(1, max_j |x_j|)``;
    below a quarter of the dtype's largest value it cannot overflow, whatever the summation order.
    Above, the order decides between inf - inf = NaN and an infinity of either sign.
    """
    limit = float(np.finfo(X.dtype).max) / 4
    with np.errstate(over="ignore"):  # a sum of weights overflowing to inf means "may overflow"
        w = float(np.abs(W1).sum(axis=1, dtype=np.float64).max())
    if max(1.0, _abs_max(X)) * w < limit:  # Python floats: inf at worst, no warning
        return None
    rows = np.maximum(np.abs(X).max(axis=1), 1) >= limit / w
    return rows if rows.any() else None


def _scaled_first_layer(X: np.ndarray, W1: np.ndarray) -> np.ndarray:
    """``sigmoid(X W1[:, 1:]^T + W1[:, 0])`` for rows with huge values, without overflow inside the sums.

    Each row is divided by a power of two s > max |x| / 2 (exact), so ``t = W (x / s) + b / s`` stays
    finite; ``z = s t`` may still round to +-inf, but with the right sign, and sigmoid(+-inf) is 1 or 0.
    """
    X = X.astype(np.float64)
    _, e = np.frexp(np.maximum(np.abs(X).max(axis=1), 1.0))  # max |x| < 2**e
    s = np.ldexp(1.0, e - 1)[:, None]  # |x / s| < 2, and s <= 2**1023 stays finite
    W = W1.astype(np.float64)
    with np.errstate(over="ignore", under="ignore"):
        z = ((X / s) @ W[:, 1:].T + W[:, 0] / s) * s
    return np.ascontiguousarray(reference.sigmoid(z), dtype=W1.dtype)


def _check_state_v1(state: dict) -> tuple[dict, dict]:
    """Checks a format-1 state; returns ``(params, fitted attributes)`` ready for ``__dict__``."""

    def corrupted(what: str) -> ValueError:
        return ValueError(f"corrupted NeuralNetwork pickle (format version 1): {what}")

    extra = set(state) - {"_format_version", "backprop_version", "params", "fitted"}
    if extra:
        raise corrupted(f"unexpected keys {sorted(extra)}")
    params, fitted = state.get("params"), state.get("fitted")
    if not isinstance(params, dict) or set(params) != set(NeuralNetwork._param_names):
        raise corrupted(f"'params' must be a dict with keys {list(NeuralNetwork._param_names)}, got {params!r}")
    if not isinstance(fitted, dict) or not set(fitted) <= set(_FITTED_ATTRIBUTES):
        raise corrupted(f"'fitted' must be a dict with keys among {list(_FITTED_ATTRIBUTES)}")
    out = {}
    if "weights_" in fitted:
        weights = fitted["weights_"]
        if not isinstance(weights, list) or not weights:
            raise corrupted("weights_ must be a non-empty list of arrays")
        out["weights_"] = []
        for i, W in enumerate(weights):
            if not isinstance(W, np.ndarray) or W.ndim != 2 or W.dtype.type not in (np.float32, np.float64):
                raise corrupted(f"weights_[{i}] must be a 2-D float32 or float64 array, got {W!r:.80}")
            if W.dtype != weights[0].dtype:
                raise corrupted("weights_ mix dtypes")
            if W.shape[0] < 1 or not np.isfinite(W).all():
                raise corrupted(f"weights_[{i}] is empty or not finite")
            if i and W.shape[1] != weights[i - 1].shape[0] + 1:
                raise corrupted(f"weights_[{i}] has shape {W.shape}, which does not follow {weights[i - 1].shape}")
            # Native byte order and C layout: what the C++ backend reads (a pickle from a machine of
            # the other endianness arrives byte-swapped).
            out["weights_"].append(np.ascontiguousarray(W, dtype=W.dtype.newbyteorder("=")))
    for name in ("n_features_in_", "n_iter_"):
        if name in fitted:
            value = fitted[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise corrupted(f"{name} must be an int >= 0, got {value!r}")
            out[name] = value
    if "classes_" in fitted:
        classes = fitted["classes_"]
        if not isinstance(classes, np.ndarray) or classes.shape != (2,):
            raise corrupted(f"classes_ must be an array of two labels, got {classes!r:.80}")
        out["classes_"] = classes
    if "loss_curve_" in fitted:
        loss = fitted["loss_curve_"]
        if not isinstance(loss, np.ndarray) or loss.ndim != 1 or loss.dtype.kind != "f":
            raise corrupted(f"loss_curve_ must be a 1-D float array, got {loss!r:.80}")
        out["loss_curve_"] = loss
    if "classes_" in out or "n_features_in_" in out:
        if not {"weights_", "classes_", "n_features_in_"} <= set(out):
            raise corrupted("a fitted model needs weights_, classes_ and n_features_in_ together")
        if out["weights_"][0].shape[1] != out["n_features_in_"] + 1 or out["weights_"][-1].shape[0] != 1:
            raise corrupted(
                f"weights_ shapes {[W.shape for W in out['weights_']]} do not fit n_features_in_="
                f"{out['n_features_in_']} and one output unit"
            )
    return dict(params), out


def _same_param(a, b):
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd objects compare however they like
        return a is b
