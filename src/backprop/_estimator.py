"""``NeuralNetwork``: the article's network behind a scikit-learn style estimator."""

from __future__ import annotations

import functools
import numbers
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core, reference

__all__ = ["NeuralNetwork", "NotFittedError", "StabilityWarning"]

_BACKENDS = ("cpp", "numpy")
_DEFAULT_THREADS = _core.default_threads()  # all cores (read once: asking costs microseconds)

# Version of the dict written by NeuralNetwork.__getstate__.  Bump it when that layout changes,
# and teach __setstate__ to read every older version.
# Format 1 (backprop 0.1.0): the eight parameters of the article's model, binary only.
# Format 2 (issue 5): the parameters of issue 5, any number of classes, validation_scores_.
_FORMAT_VERSION = 2
_FITTED_ATTRIBUTES = ("weights_", "classes_", "n_features_in_", "n_iter_", "loss_curve_", "validation_scores_")


class StabilityWarning(UserWarning):
    """Full-batch gradient descent oscillates or diverges: ``learning_rate`` is above the stability limit.

    Issued once per ``fit`` when the training loss rises or cycles instead of decreasing; the
    message names the largest stable learning rate estimated from the loss's curvature.
    Training itself is never changed: this is only a warning.
    """

    __module__ = "backprop"


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
            if any(type(v).__name__ == "NAType" for v in X.flat):  # pandas' missing value, pd.NA
                raise ValueError(f"{name} contains missing values (pandas.NA); impute or drop them first") from None
            raise TypeError(f"{name} must hold numbers: {exc}") from None
        except ValueError as exc:  # e.g. a string that is not a number
            raise ValueError(f"{name} must hold numbers, got dtype {X.dtype}: {exc}") from None
    elif X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    return X


def _all_finite(X: np.ndarray) -> bool:
    """No NaN and no infinity in X, without a temporary the size of X (a fit's peak memory would
    otherwise grow by a bool per value): min and max propagate NaN and expose an infinity."""
    if X.size == 0:
        return True
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(X.min()) and np.isfinite(X.max()))


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
    if X.dtype.kind == "f" and not _all_finite(X):
        raise ValueError(f"{name} contains NaN or infinity")
    if dtype is None:
        dtype = X.dtype.newbyteorder("=") if X.dtype.type in (np.float32, np.float64) else np.float64
    dtype = np.dtype(dtype)
    if X.dtype.kind == "f" and X.dtype.itemsize > dtype.itemsize:
        with np.errstate(over="ignore"):
            X = np.ascontiguousarray(X, dtype=dtype)
        if not _all_finite(X):
            raise ValueError(f"{name} has values too large for {dtype} (the model works in {dtype})")
        return X
    return np.ascontiguousarray(X, dtype=dtype)


def _check_y(y: Any, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the labels; returns ``(y, classes)`` with at least two sorted classes."""
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
        raise ValueError(f"y has only 1 class ({classes[0]!r}); classification needs at least two classes")
    if y.dtype.kind == "f" and not np.array_equal(classes, np.round(classes)):  # scikit-learn's rule
        raise ValueError(
            f"Unknown label type: continuous. y holds non-integer values ({k} distinct), a regression "
            "target; NeuralNetwork is a classifier (labels may be integers, strings or bools)"
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
    """Feed-forward neural network classifier, trained by backpropagation.

    With the default parameters, the article's model: sigmoid hidden layers, one sigmoid output
    unit, mean binary log-loss, full-batch gradient descent; weights (bias in column 0) drawn
    from N(0, 0.1**2).  More than two classes get a softmax output layer (one unit per class)
    and the multinomial cross-entropy.  The parameters after ``n_threads`` (issue 5) add other
    activations, initialisations, mini-batches, momentum and Adam, an L2 penalty, stopping
    rules, progress output and a callback; their defaults keep the article's model bit for bit.

    The constructor only stores its arguments; they are checked by ``fit``, which raises a
    ``ValueError`` naming the parameter.

    Parameters
    ----------
    n_hidden : sequence of int, default=(100,)
        Number of units of each hidden layer (each >= 1); ``()`` gives logistic regression.
    learning_rate : float, default=1.0
        Step size of the solver (finite, > 0).
    max_iter : int, default=10
        Maximum number of epochs (passes over the training data) per ``fit`` (>= 0); with full
        batches an epoch is one iteration of gradient descent.
    threshold : float, default=0.5
        Two classes: ``predict`` returns ``classes_[1]`` where P(``classes_[1]``) >= threshold
        (in [0, 1]).  Ignored for more than two classes (``predict`` is the most probable class).
    random_state : None, int or numpy.random.Generator, default=None
        Seed of one ``numpy.random.default_rng`` generator that draws, in this order, the initial
        weights, the validation split (``early_stopping``) and one row permutation per epoch
        (``batch_size`` smaller than the training set); the same value gives the same fit on
        both backends.
    warm_start : bool, default=False
        Continue from the current ``weights_`` (fitted, or assigned by the caller) instead of
        drawing new ones; the solver's state (momentum velocities, Adam's moments and step
        count) carries over from the previous fit of this object.
    backend : {"cpp", "numpy"}, default="cpp"
        ``"cpp"`` runs the C++ kernels; ``"numpy"`` runs ``backprop.reference``.
    n_threads : int or None, default=None
        Threads of the C++ backend (>= 1); ``None`` uses every core.  Results do not depend on it.
    activation : {"sigmoid", "tanh", "relu", "identity"}, default="sigmoid"
        Activation of the hidden layers (the output layer is sigmoid or softmax).
    init : {"normal", "glorot", "he"}, default="normal"
        Initial weights: ``"normal"`` draws every weight, bias included, from N(0, 0.1**2) (the
        article's); ``"glorot"`` draws ``U(-b, b)``, ``b = sqrt(6 / (fan_in + fan_out))``, and
        ``"he"`` draws ``N(0, 2 / fan_in)``, both with zero biases.
    solver : {"gd", "momentum", "adam"}, default="gd"
        ``"gd"``: ``W -= learning_rate * g``; ``"momentum"``: scikit-learn's SGD with
        momentum (``momentum``, ``nesterov``); ``"adam"``: Adam (``beta_1``, ``beta_2``,
        ``epsilon``).  The update follows each batch.
    batch_size : int or None, default=None
        Rows per batch (>= 1); None, or a size >= the number of training rows, uses the full
        batch.  Mini-batches are drawn from a new permutation of the rows every epoch.
    alpha : float, default=0.0
        L2 penalty (>= 0), scikit-learn's: ``0.5 * alpha * sum ||W[:, 1:]||^2 / n_batch`` is
        added to the loss (biases are not penalised).
    momentum : float, default=0.9
        Momentum of ``solver="momentum"``, in [0, 1].
    nesterov : bool, default=True
        Nesterov's momentum (``solver="momentum"``).
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's numerical-stability term (> 0).
    tol : float or None, default=None
        None: run ``max_iter`` epochs.  Else (>= 0) stop when the training loss (or, with
        ``early_stopping``, the validation score) has not improved by at least ``tol`` for more
        than ``n_iter_no_change`` consecutive epochs, as scikit-learn does.
    n_iter_no_change : int, default=10
        Epochs without improvement tolerated by ``tol`` and ``early_stopping`` (>= 1).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (a stratified split drawn from
        ``random_state``), record its accuracy after every epoch in ``validation_scores_``,
        stop when it no longer improves (``tol``; None counts as 0.0 here) and end with the
        weights of the best epoch.
    validation_fraction : float, default=0.1
        Fraction of the data held out by ``early_stopping``, in (0, 1).
    verbose : bool, default=False
        Print the loss (and validation score) with the elapsed time and an estimate of the time
        left, about every half second.  Results are identical with and without it.
    callback : callable or None, default=None
        ``callback(model, iteration, loss)``, called after every epoch with ``model.weights_``
        and ``model.loss_curve_`` up to date and ``iteration`` = ``model.n_iter_``; returning
        ``False`` stops training (the model is then fitted with the epochs run so far).

    Attributes
    ----------
    weights_ : list of ndarray
        ``weights_[i]`` has shape ``(n_out, n_in + 1)``, column 0 the bias, in the training
        data's dtype (float32 or float64).
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted; ``predict_proba``'s columns follow this order.
    n_features_in_ : int
        Number of features seen by ``fit``.
    n_iter_ : int
        Epochs run, summed over warm-started fits and ``partial_fit`` calls.
    loss_curve_ : ndarray
        Training loss of each epoch (log-loss plus the L2 term), concatenated over warm-started
        fits; with full batches, the loss of each iteration's forward pass.
    validation_scores_ : ndarray or None
        With ``early_stopping``: the validation accuracy after each epoch; else None.

    Notes
    -----
    Input: 2-D array-likes (lists, pandas DataFrames, any memory layout); float32 data trains in
    float32, float64 in float64, and bool, integer and float16 data in float64.  Sparse, complex,
    non-finite or empty data, and labels with fewer than two classes, raise ``ValueError`` or
    ``TypeError`` naming the problem.  Huge values (|x| ~ 1e300) are handled without NaN: rows whose
    first-layer sums ``W x`` overflow (or could, in ``predict_proba``) are computed scaled by a power
    of two (``reference.first_layer_logits``), in training and prediction, on both backends.  A fit
    whose weights or loss still overflow (gradient descent really diverging past the float range,
    e.g. |x| near 1e308, relu/identity layers fed 1e300, or a softmax output with no hidden layer
    fed 1e300, whose logits reach inf - inf) raises ``ValueError`` and leaves the
    estimator as it was, as does an interrupted fit (``KeyboardInterrupt``).

    ``fit`` and ``predict_proba`` release the GIL in the C++ backend: one fitted model may serve
    ``predict``/``predict_proba`` from several threads at once; do not call ``fit`` on a model
    while another thread uses it.

    Pickles hold only numpy arrays, Python builtins (and the parameters as given) and a format
    version; they load on any machine and in later versions of backprop.  The solver's state is
    not pickled: warm-starting a loaded model restarts momentum or Adam from zero.

    ``partial_fit(X, y, classes)`` trains one epoch per call (the first call needs ``classes``);
    ``tol`` and ``early_stopping`` do not apply to it.

    Full-batch gradient descent above the stability limit makes the loss oscillate instead of
    decrease (the article's logistic regression at ``learning_rate=1.0`` does): ``fit`` then
    issues a :class:`StabilityWarning` naming the largest stable learning rate it estimates.
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
        activation: str = "sigmoid",
        init: str = "normal",
        solver: str = "gd",
        batch_size: int | None = None,
        alpha: float = 0.0,
        momentum: float = 0.9,
        nesterov: bool = True,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        tol: float | None = None,
        n_iter_no_change: int = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        verbose: bool = False,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        self.n_hidden = n_hidden
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.threshold = threshold
        self.random_state = random_state
        self.warm_start = warm_start
        self.backend = backend
        self.n_threads = n_threads
        self.activation = activation
        self.init = init
        self.solver = solver
        self.batch_size = batch_size
        self.alpha = alpha
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.verbose = verbose
        self.callback = callback

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
        "activation",
        "init",
        "solver",
        "batch_size",
        "alpha",
        "momentum",
        "nesterov",
        "beta_1",
        "beta_2",
        "epsilon",
        "tol",
        "n_iter_no_change",
        "early_stopping",
        "validation_fraction",
        "verbose",
        "callback",
    )
    # The parameters of format-1 pickles (before issue 5); the others take their defaults.
    _param_names_v1 = _param_names[:8]

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
            classifier_tags=ClassifierTags(multi_class=True),  # softmax output for k > 2 classes
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
            elif name in ("classes_", "loss_curve_", "validation_scores_"):
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
        params, fitted = _check_state(state, version)
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

    def _validated_options(self) -> dict[str, Any]:
        """Checks the parameters of issue 5; returns them normalised (ValueError naming the parameter)."""

        def choice(name: str, allowed: tuple) -> str:
            value = getattr(self, name)
            if not isinstance(value, str) or value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
            return value

        def flag(name: str) -> bool:
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {value!r}")
            return bool(value)

        def real(name: str, low: float, high: float, low_open: bool = False, high_open: bool = False) -> float:
            value = _check_real(getattr(self, name), name)
            ok = (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
            if not ok:
                interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
                raise ValueError(f"{name} must be a number in {interval}, got {getattr(self, name)!r}")
            return value

        opts: dict[str, Any] = {
            "activation": choice("activation", reference.ACTIVATIONS),
            "init": choice("init", reference.INITS),
            "solver": choice("solver", reference.SOLVERS),
            "alpha": real("alpha", 0.0, np.inf, high_open=True),
            "momentum": real("momentum", 0.0, 1.0),
            "nesterov": flag("nesterov"),
            "beta_1": real("beta_1", 0.0, 1.0, high_open=True),
            "beta_2": real("beta_2", 0.0, 1.0, high_open=True),
            "epsilon": real("epsilon", 0.0, np.inf, low_open=True, high_open=True),
            "n_iter_no_change": _check_int(self.n_iter_no_change, "n_iter_no_change", 1),
            "early_stopping": flag("early_stopping"),
            "validation_fraction": real("validation_fraction", 0.0, 1.0, low_open=True, high_open=True),
            "verbose": flag("verbose") if isinstance(self.verbose, (bool, np.bool_)) else _check_int(self.verbose, "verbose", 0) > 0,
        }
        opts["batch_size"] = None if self.batch_size is None else _check_int(self.batch_size, "batch_size", 1)
        opts["tol"] = None if self.tol is None else real("tol", 0.0, np.inf, high_open=True)
        if self.callback is not None and not callable(self.callback):
            raise ValueError(f"callback must be None or a callable callback(model, iteration, loss), got {self.callback!r}")
        opts["callback"] = self.callback
        return opts

    def _initial_weights(
        self,
        n_features: int,
        n_hidden: tuple[int, ...],
        dtype: np.dtype,
        rng: np.random.Generator | None = None,
        init: str = "normal",
        n_outputs: int = 1,
        warm: bool | None = None,
    ) -> tuple[list, bool]:
        sizes = [n_features, *n_hidden, n_outputs]
        shapes = [(m, k + 1) for k, m in zip(sizes[:-1], sizes[1:])]
        current = getattr(self, "weights_", None)
        if warm is None:
            warm = self.warm_start
        if warm and current is not None:
            current = list(current)
            got = [tuple(np.shape(W)) for W in current]
            if got != shapes:
                raise ValueError(
                    f"warm_start: weights_ have shapes {got}, but n_hidden={n_hidden} with {n_features} features "
                    f"and {n_outputs} output unit(s) needs {shapes}"
                )
            weights = [np.array(W, dtype=dtype, order="C", copy=True) for W in current]
            if not all(np.isfinite(W).all() for W in weights):
                raise ValueError("warm_start: weights_ contain NaN or infinity")
            return weights, True
        if rng is None:
            rng = np.random.default_rng(self.random_state)
        return reference.init_weights(n_features, n_hidden, rng, dtype, init=init, n_outputs=n_outputs), False

    # ------------------------------------------------------------------ estimator API
    def fit(self, X: ArrayLike, y: ArrayLike) -> NeuralNetwork:
        """Train the network for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite; float32 trains in float32, anything else in float64.
        y : array-like of shape (n_samples,)
            Labels: two or more distinct values (numbers, strings, bools).

        Returns
        -------
        self : NeuralNetwork
            The fitted estimator.

        Raises
        ------
        ValueError
            If a parameter is invalid (the message names it), X or y are malformed, empty or
            non-finite, y holds fewer than two classes, or training overflowed (weights or
            loss not finite).  The estimator is then left as it was.
        TypeError
            If X is sparse, or is not an array-like of numbers.
        KeyboardInterrupt
            On Ctrl-C; the estimator is left as it was.

        Warns
        -----
        StabilityWarning
            When full-batch gradient descent (``solver="gd"``) oscillates or diverges: the
            message names the largest stable learning rate it estimates.
        """
        n_hidden, lr, max_iter, n_threads = self._validated_params()
        opts = self._validated_options()
        X = _check_array(X)
        n, d = X.shape
        if n < 1:
            raise ValueError(f"X has 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
        if d < 1:
            raise ValueError(f"X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
        y, classes = _check_y(y, n)
        warm = self.warm_start and getattr(self, "weights_", None) is not None
        if warm and getattr(self, "classes_", None) is not None and not np.array_equal(self.classes_, classes):
            raise ValueError(f"warm_start: y has classes {classes!r}, but the model was fitted with {self.classes_!r}")
        y_index = np.searchsorted(classes, y)
        rng = np.random.default_rng(self.random_state)
        weights, warm = self._initial_weights(
            d, n_hidden, X.dtype, rng, opts["init"], _n_outputs(len(classes)), warm=self.warm_start
        )
        self._train(X, y_index, classes, weights, warm, rng, lr, max_iter, n_threads, opts, incremental=False)
        self.__dict__.pop("_rng", None)  # a later partial_fit draws its permutations afresh
        return self

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> NeuralNetwork:
        """Train one epoch on ``(X, y)``, continuing from the current weights (streaming data).

        The first call (on an unfitted model) draws the initial weights from ``random_state``
        and needs ``classes``, every label that will ever be seen; later calls continue from
        ``weights_`` and the solver's state (also after ``fit``).  ``max_iter``, ``tol`` and
        ``early_stopping`` do not apply; ``batch_size``, the solver, ``verbose`` and
        ``callback`` do.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels, each among ``classes`` (or ``classes_``).
        classes : array-like of shape (n_classes,), optional
            All the labels (at least two); required on the first call, else must equal ``classes_``.

        Returns
        -------
        self : NeuralNetwork

        Raises
        ------
        ValueError
            As ``fit``; also when ``classes`` is missing on the first call, differs from
            ``classes_`` later, or ``y`` holds a label outside it.
        """
        n_hidden, lr, _, n_threads = self._validated_params()
        opts = self._validated_options()
        opts.update(tol=None, early_stopping=False)
        first = not self.__sklearn_is_fitted__()
        X = _check_array(X, dtype=None if first else self.weights_[0].dtype)
        n, d = X.shape
        if n < 1 or d < 1:
            raise ValueError(f"X has shape {X.shape}; partial_fit needs at least 1 sample and 1 feature")
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit (every label of the stream)")
            classes = np.unique(_as_labels(classes))
            if classes.ndim != 1 or classes.shape[0] < 2:
                raise ValueError(f"classes must hold at least two labels, got {classes!r}")
        else:
            if classes is not None and not np.array_equal(np.unique(_as_labels(classes)), self.classes_):
                raise ValueError(f"classes={classes!r} is not the classes_ of the first call, {self.classes_!r}")
            classes = self.classes_
            if d != self.n_features_in_:
                raise ValueError(f"X has {d} features, but NeuralNetwork is expecting {self.n_features_in_} features as input")
        y = _as_labels(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y must be 1-D with {n} labels, got shape {y.shape}")
        y_index = np.searchsorted(classes, y)
        y_index = np.minimum(y_index, len(classes) - 1)
        unknown = classes[y_index] != y
        if unknown.any():
            raise ValueError(f"y holds labels not in classes {classes!r}: {np.unique(y[unknown])[:10]!r}")
        rng = self.__dict__.get("_rng")
        if rng is None:
            rng = np.random.default_rng(self.random_state)
        weights, warm = self._initial_weights(
            d, n_hidden, X.dtype, rng, opts["init"], _n_outputs(len(classes)), warm=not first
        )
        self._train(X, y_index, classes, weights, warm, rng, lr, 1, n_threads, opts, incremental=True)
        self._rng = rng
        return self

    def _train(
        self,
        X: np.ndarray,
        y_index: np.ndarray,
        classes: np.ndarray,
        weights: list,
        warm: bool,
        rng: np.random.Generator,
        lr: float,
        max_iter: int,
        n_threads: int,
        opts: dict[str, Any],
        incremental: bool,
    ) -> NeuralNetwork:
        """The training loop shared by ``fit`` and ``partial_fit``; leaves ``self`` unchanged on error."""
        snapshot = dict(self.__dict__)
        try:
            stable_lr_check = self._train_loop(X, y_index, classes, weights, warm, rng, lr, max_iter, n_threads, opts, incremental)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise
        if stable_lr_check is not None:
            _stability_guard(self, *stable_lr_check)
        return self

    def _train_loop(
        self,
        X: np.ndarray,
        y_index: np.ndarray,
        classes: np.ndarray,
        weights: list,
        warm: bool,
        rng: np.random.Generator,
        lr: float,
        max_iter: int,
        n_threads: int,
        opts: dict[str, Any],
        incremental: bool,
    ) -> tuple | None:
        n_out = weights[-1].shape[0]
        solver = opts["solver"]
        # targets: 0/1 labels for one sigmoid unit, one-hot rows (model dtype) for a softmax output
        if n_out == 1:
            T = np.ascontiguousarray(y_index == 1, dtype=X.dtype)
        else:
            T = np.zeros((X.shape[0], n_out), dtype=X.dtype)
            T[np.arange(X.shape[0]), y_index] = 1

        X_val = y_val = None
        if opts["early_stopping"]:  # the held-out split, drawn after the initial weights
            train_rows, val_rows = _stratified_split(y_index, len(classes), opts["validation_fraction"], rng)
            X_val, y_val = np.ascontiguousarray(X[val_rows]), y_index[val_rows]
            X, T = np.ascontiguousarray(X[train_rows]), np.ascontiguousarray(T[train_rows])
        n_train = X.shape[0]
        shuffle = opts["batch_size"] is not None and opts["batch_size"] < n_train

        # the solver's state: carried over from the previous fit of this object when warm
        n_state = {"gd": 0, "momentum": 1, "adam": 2}[solver]
        key = (solver, X.dtype.str, tuple(W.shape for W in weights))
        if warm and self.__dict__.get("_solver_key") == key:
            state = [S.copy() for S in self._solver_state]
            counters = self._counters.copy()
        else:
            state = [np.zeros_like(W) for _ in range(n_state) for W in weights]
            counters = np.array([0.0, np.inf, 0.0])
        counters[1:] = (np.inf, 0.0)  # each fit is a new run of the tol rule
        tol_kernel = None if opts["early_stopping"] else opts["tol"]
        kernel = self._kernel_call(X, T, weights, lr, n_threads, opts, state, counters, tol_kernel)

        callback, verbose = opts["callback"], opts["verbose"]
        tol_es = 0.0 if opts["tol"] is None else opts["tol"]
        best_score, no_improvement, best_weights = -np.inf, 0, None
        previous_curve = self.__dict__.get("loss_curve_") if warm else None
        previous_scores = self.__dict__.get("validation_scores_") if warm else None
        previous_n_iter = int(self.__dict__.get("n_iter_", 0)) if warm else 0
        curves: list = []  # the loss curve of each backend call
        scores: list = []
        live: list = []  # every epoch's loss so far (with a hook)
        # what the callback sees as loss_curve_ / validation_scores_: views of buffers filled as
        # the epochs run (publishing costs O(1) per epoch)
        prev_len = 0 if previous_curve is None else len(previous_curve)
        curve_buf = np.empty(prev_len + max_iter, dtype=X.dtype)
        if prev_len:
            curve_buf[:prev_len] = previous_curve
        prev_scores = np.empty(0) if previous_scores is None else np.asarray(previous_scores, dtype=np.float64)
        score_buf = np.empty(len(prev_scores) + max_iter)
        score_buf[: len(prev_scores)] = prev_scores
        epochs = 0
        start = last_print = time.perf_counter()

        def report(force: bool = False) -> None:
            nonlocal last_print
            now = time.perf_counter()
            if not (force or now - last_print >= 0.5 or len(live) == 1):
                return
            last_print = now
            elapsed = now - start
            eta = elapsed / len(live) * (max_iter - len(live)) if len(live) < max_iter and not force else 0.0
            val = f", validation score {scores[-1]:.4f}" if scores else ""
            print(
                f"Iteration {previous_n_iter + len(live)} ({len(live)}/{max_iter}): loss {live[-1]:.6g}{val}, "
                f"elapsed {elapsed:.1f} s, ETA {eta:.1f} s",
                flush=True,
            )

        def on_epoch(_epoch: int, loss: float) -> bool:
            """After every epoch, inside the backend's loop (weights updated in place): the
            validation score, the callback and the progress line.  False stops training."""
            nonlocal best_score, no_improvement, best_weights
            live.append(loss)
            if not np.isfinite(loss):
                return False  # diverged: reported after the loop
            go_on = True
            if opts["early_stopping"]:  # scikit-learn's rule on the validation accuracy
                score = float(np.mean(self._predict_index(X_val, weights, n_threads, opts["activation"]) == y_val))
                scores.append(score)
                no_improvement = no_improvement + 1 if score < best_score + tol_es else 0
                if score > best_score:
                    best_score, best_weights = score, [W.copy() for W in weights]
                if no_improvement > opts["n_iter_no_change"]:
                    go_on = False
            if callback is not None:
                curve_buf[prev_len + len(live) - 1] = loss
                validation = None
                if opts["early_stopping"]:
                    score_buf[len(prev_scores) + len(scores) - 1] = scores[-1]
                    validation = score_buf[: len(prev_scores) + len(scores)]
                self._publish(
                    weights, classes, X.shape[1], curve_buf[: prev_len + len(live)], validation,
                    previous_n_iter + len(live),
                )
                if callback(self, previous_n_iter + len(live), float(loss)) is False:
                    go_on = False
            if verbose:
                report()
            return go_on

        hook = on_epoch if (callback is not None or verbose or opts["early_stopping"]) else None
        # One backend call runs every epoch (the hook does the per-epoch work inside it).  With
        # shuffling, each call takes the row orders of several epochs (one permutation per epoch,
        # drawn in order), at most a twentieth of X's size or 1 MB: a fit's memory stays bounded
        # by the data, whatever max_iter.
        order_bytes = max(X.nbytes // 20, 1 << 20)
        chunk = max(1, order_bytes // (8 * n_train)) if shuffle else max(max_iter, 1)
        while epochs < max_iter:
            m = min(chunk, max_iter - epochs)
            order = np.stack([rng.permutation(n_train) for _ in range(m)]).astype(np.int64) if shuffle else None
            curve, ran = kernel(m, order, hook)
            epochs += ran
            curves.append(curve)
            if ran < m or not np.isfinite(curve).all():
                break  # stopped by tol, early stopping or the callback; or diverged (reported below)
        if verbose and live:
            report(force=True)

        loss_curve = np.concatenate(curves) if curves else np.empty(0, dtype=X.dtype)
        diverged = not (np.isfinite(loss_curve).all() and all(np.isfinite(W).all() for W in weights))
        if diverged:
            raise ValueError(
                "training diverged: the weights or the loss overflowed the "
                f"range of {X.dtype} (max |X| = {_abs_max(X):.3g}). Scale the features (e.g. standardize "
                "them) or lower learning_rate; the estimator was left unchanged"
            )
        final_weights = [W.copy() for W in weights]
        if best_weights is not None:
            for W, B in zip(weights, best_weights):  # early stopping ends with the best epoch's weights
                W[...] = B
        all_losses = loss_curve  # the curve of this fit, after those of the fits it continues
        if previous_curve is not None:
            all_losses = np.concatenate([np.asarray(previous_curve, dtype=X.dtype), loss_curve])
        validation = np.concatenate([prev_scores, np.asarray(scores, dtype=np.float64)]) if opts["early_stopping"] else None
        self._publish(weights, classes, X.shape[1], all_losses, validation, previous_n_iter + epochs)
        self._solver_state, self._counters, self._solver_key = state, counters, key
        if solver == "gd" and not shuffle and not incremental and len(loss_curve) >= _GUARD_MIN_ITER:
            return X, T, final_weights, lr, opts, loss_curve
        return None

    def _publish(self, weights, classes, n_features, loss_curve, validation_scores, n_iter) -> None:
        """Sets the fitted attributes (during training for the callback, and at its end)."""
        self.loss_curve_ = loss_curve
        self.validation_scores_ = validation_scores
        self.n_iter_ = int(n_iter)
        self.weights_ = weights
        self.classes_ = classes
        self.n_features_in_ = n_features

    def _kernel_call(self, X, T, weights, lr, n_threads, opts, state, counters, tol) -> Callable:
        """``run(n_epochs, order, hook) -> (loss_curve, epochs_run)`` on the chosen backend, state persisting."""
        options = {
            "activation": opts["activation"],
            "alpha": opts["alpha"],
            "batch_size": opts["batch_size"],
            "solver": opts["solver"],
            "momentum": opts["momentum"],
            "nesterov": opts["nesterov"],
            "beta_1": opts["beta_1"],
            "beta_2": opts["beta_2"],
            "epsilon": opts["epsilon"],
            "tol": tol,
            "n_iter_no_change": opts["n_iter_no_change"],
        }
        if self.backend == "cpp":
            # Only the keywords that differ from the kernel's defaults: the default model makes the
            # article's call, unchanged.
            defaults = {
                "activation": "sigmoid", "alpha": 0.0, "batch_size": None, "solver": "gd", "momentum": 0.9,
                "nesterov": True, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "tol": None, "n_iter_no_change": 10,
            }  # fmt: skip
            kw = {k: v for k, v in options.items() if v != defaults[k] or (v is None) != (defaults[k] is None)}
            if opts["solver"] != "gd":
                kw["solver_state"] = state
            if opts["solver"] == "adam" or tol is not None:
                kw["counters"] = counters

            def run(m: int, order: np.ndarray | None, hook: Callable | None) -> tuple[np.ndarray, int]:
                extra: dict[str, Any] = {} if order is None else {"order": order}
                if hook is not None:
                    extra["epoch_hook"] = hook
                curve, ran = _core.train(X, T, weights, lr, m, n_threads, **kw, **extra)
                return np.asarray(curve), int(ran)
        else:

            def run(m: int, order: np.ndarray | None, hook: Callable | None) -> tuple[np.ndarray, int]:
                with np.errstate(all="ignore"):  # overflow is checked by the caller, as for the C++ backend
                    curve = reference.train(
                        X, T, weights, lr, m, order=order, solver_state=state, counters=counters, epoch_hook=hook,
                        **options,
                    )
                return curve, len(curve)

        return run

    def _predict_index(self, X: np.ndarray, weights: list, n_threads: int, activation: str) -> np.ndarray:
        """Index into ``classes_`` of the predicted label of each row (used for the validation score)."""
        p = self._network_proba(X, weights)
        if p.ndim == 1:
            return (p >= self._validated_threshold()).astype(np.intp)
        return np.argmax(p, axis=1)

    def _activation_kw(self) -> dict[str, str]:
        """``{"activation": name}`` for the C++ calls, empty for the default (the article's call)."""
        activation = self._validated_activation()
        return {} if activation == "sigmoid" else {"activation": activation}

    def _validated_activation(self) -> str:
        if not isinstance(self.activation, str) or self.activation not in reference.ACTIVATIONS:
            raise ValueError(f"activation must be one of {reference.ACTIVATIONS}, got {self.activation!r}")
        return self.activation

    def _network_proba(self, X: np.ndarray, weights: list) -> np.ndarray:
        """The network's output: P(class 1) of shape (n,) for one sigmoid unit, else softmax rows (n, k)."""
        if self._validated_backend() == "cpp":
            return _core.predict_proba(X, weights, self._resolved_threads(), **self._activation_kw())
        return reference.predict_proba(X, weights, self._validated_activation())

    def _proba_class1(self, X: np.ndarray) -> np.ndarray:
        """The network's output for each row (P(classes_[1]) of shape (n,) for two classes, else (n, k));
        rows so large that W x could overflow take an exact path."""
        rows = _rows_that_may_overflow(X, self.weights_[0])
        if rows is None:
            return self._network_proba(X, self.weights_)
        n_out = self.weights_[-1].shape[0]
        p = np.empty((X.shape[0],) if n_out == 1 else (X.shape[0], n_out), dtype=X.dtype)
        p[~rows] = self._network_proba(np.ascontiguousarray(X[~rows]), self.weights_)
        last = len(self.weights_) == 1
        kind = ("sigmoid" if n_out == 1 else "softmax") if last else self._validated_activation()
        a1 = _scaled_first_layer(X[rows], self.weights_[0], kind)
        if not np.isfinite(a1).all():
            raise ValueError(
                "X has values so large that the network's output is undefined in floating point "
                f"(the first layer's {kind} activations overflow)"
            )
        p[rows] = (a1[:, 0] if n_out == 1 else a1) if last else self._network_proba(a1, self.weights_[1:])
        return p

    def predict_proba(self, X: ArrayLike) -> NDArray[np.floating]:
        """Class probabilities, columns in ``classes_`` order.

        Two classes: column 1 is the article's single output ``a^(L)`` = P(``classes_[1]``);
        column 0 is ``1 - a^(L)``.  More classes: the softmax output, one column per class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data with the number of features seen by ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
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
        return np.stack([1 - p, p], axis=1) if p.ndim == 1 else p

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
        n_threads = self.n_threads
        threads = _DEFAULT_THREADS if n_threads is None else self._resolved_threads()
        activation = self.activation
        if activation == "sigmoid":
            return _core.predict_proba(X, weights, threads, two_columns, True)
        return _core.predict_proba(X, weights, threads, two_columns, True, activation=activation)

    def predict_proba_unchecked(self, X: np.ndarray) -> NDArray[np.floating]:
        """``predict_proba`` without input validation: the documented low-latency path.

        For serving one row or a few rows at a time (about 1.3 microseconds per call here).
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
        proba : ndarray of shape (n_samples, n_classes)
            As ``predict_proba``.
        """
        # the fewest Python steps (this path is timed in microseconds): the C++ call checks the rest
        n_threads = self.n_threads
        threads = _DEFAULT_THREADS if n_threads is None else self._resolved_threads()
        activation = self.activation
        if activation == "sigmoid":
            return _core.predict_proba(X, self.weights_, threads, True, False)
        return _core.predict_proba(X, self.weights_, threads, True, False, activation=activation)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted labels: for two classes ``classes_[1]`` where P(``classes_[1]``) >= ``threshold``,
        else ``classes_[0]``; for more classes the most probable one (the first on ties).

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
        if p.ndim == 2:
            return self.classes_[np.argmax(p, axis=1)]
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


def _scaled_first_layer(X: np.ndarray, W1: np.ndarray, kind: str = "sigmoid") -> np.ndarray:
    """``f(X W1[:, 1:]^T + W1[:, 0])`` for rows with huge values, without overflow inside the sums.

    Each row is divided by a power of two s > max |x| / 2 (exact), so ``t = W (x / s) + b / s`` stays
    finite; ``z = s t`` may still round to +-inf, but with the right sign, and sigmoid(+-inf) is 1 or 0
    (tanh: +-1; relu and identity may give inf, which the caller reports).  ``kind="softmax"``
    computes ``softmax(s t)`` as ``exp(s (t - max t))`` normalised: exponents <= 0, no inf - inf.
    """
    t, s = reference.scaled_logits(X, W1)
    with np.errstate(over="ignore", under="ignore"):
        if kind == "softmax":
            e = np.exp((t - t.max(axis=1, keepdims=True)) * s)
            return np.ascontiguousarray(e / e.sum(axis=1, keepdims=True), dtype=W1.dtype)
        z = t * s
        a = reference.sigmoid(z) if kind == "sigmoid" else reference.activation(z, kind)
    return np.ascontiguousarray(a, dtype=W1.dtype)


# ---------------------------------------------------------------------- early stopping split
def _stratified_split(
    y_index: np.ndarray, n_classes: int, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the training and of the validation part: ``round(fraction * n_c)`` random rows of each
    class c go to validation (at most n_c - 1, so every class keeps a training row); both sorted."""
    n = y_index.shape[0]
    held_out = []
    for c in range(n_classes):
        rows = rng.permutation(np.flatnonzero(y_index == c))
        n_val = min(int(np.floor(fraction * rows.shape[0] + 0.5)), max(rows.shape[0] - 1, 0))
        held_out.append(rows[:n_val])
    val = np.sort(np.concatenate(held_out))
    if val.shape[0] == 0:
        raise ValueError(
            f"early_stopping: validation_fraction={fraction} of {n} samples leaves an empty validation set; "
            "raise validation_fraction or pass more data"
        )
    train = np.setdiff1d(np.arange(n), val, assume_unique=True)
    return train, val


# ---------------------------------------------------------------------- stability guard
#: The guard looks at fits of at least this many full-batch gradient-descent iterations.
_GUARD_MIN_ITER = 20


def _loss_rises_or_cycles(loss_curve: np.ndarray) -> bool:
    """Whether the last half of a loss curve keeps rising or cycling instead of decreasing.

    Conservative on purpose: steps are "rising" only when they exceed float noise (64 ulps of
    the loss, in the curve's dtype); it fires when at least a quarter of the steps of the last
    half rise, and the rises of its last half are not dying out (at least half of those of the
    half before: a 2-cycle, a divergence, or an oscillation that does not decay).  A converged
    curve, flat up to rounding, and a damped oscillation never fire.
    """
    c = np.asarray(loss_curve, dtype=np.float64)
    h = c[c.shape[0] // 2 :]
    if h.shape[0] < 10 or not np.isfinite(h).all():
        return False
    noise = 64 * float(np.finfo(np.asarray(loss_curve).dtype).eps) * max(float(np.abs(h).max()), 1e-300)
    d = np.diff(h)
    rising = d > noise
    if rising.mean() < 0.25:
        return False
    half = d.shape[0] // 2
    early, late = d[:half], d[half:]
    late_rises = float(late[late > noise].sum())
    return late_rises > 0 and late_rises >= 0.5 * float(early[early > noise].sum())


def _gram(A: np.ndarray) -> np.ndarray:
    """``A^T A``, computed in this thread when that takes a few milliseconds at most.

    A BLAS product would wake OpenBLAS's threads, which then spin, waiting for more work, for about
    a tenth of a second on the cores the next fit's C++ threads need: fits of the article's
    logistic regression (whose loss cycles, so that this guard runs) took twice as long after one.
    """
    n, d = A.shape
    if n * d * d <= 1 << 25:
        return np.einsum("ij,ik->jk", A, A)
    return A.T @ A


def _largest_stable_learning_rate(
    X: np.ndarray, T: np.ndarray, weights: list, activation: str, alpha: float
) -> tuple[float, str]:
    """Estimate ``2 / lambda_max`` of the loss's Hessian (gradient descent is stable below it).

    * No hidden layer, one sigmoid unit: the log-loss's Hessian is
      ``X~^T diag(p (1 - p)) X~ / N <= X~^T X~ / (4N)`` with ``X~ = [1, X]``, so
      ``L = lambda_max(X~^T X~) / (4N)`` bounds the curvature everywhere (plus ``alpha / N``).
    * No hidden layer, softmax: the Hessian is ``sum_i (diag(p_i) - p_i p_i^T) (x) x~_i x~_i^T / N``
      and ``lambda_max(diag(p) - p p^T) <= 1/2``, so ``L = lambda_max(X~^T X~) / (2N)`` (plus ``alpha / N``).
    * Hidden layers: ``lambda`` is the top eigenvalue (in magnitude) of the Hessian at the final
      weights, by power iteration on central finite differences of the gradient
      (``_core.loss_and_gradient``, the twin of :func:`backprop.reference.loss_and_gradient`), in float64.

    Returns
    -------
    (learning_rate, how) : the estimate and a short description of the formula used.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if len(weights) == 1:
        X1 = np.hstack([np.ones((n, 1)), X])
        lam = float(np.linalg.eigvalsh(_gram(X1))[-1])
        softmax = weights[0].shape[0] > 1
        L = lam / ((2 if softmax else 4) * n) + alpha / n
        how = f"2/L, L = lambda_max(X~'X~)/({'2' if softmax else '4'}N){' + alpha/N' if alpha else ''} = {L:.4g}, X~ = [1, X]"
        return 2.0 / L, how
    X = np.ascontiguousarray(X)
    T = np.ascontiguousarray(T, dtype=np.float64)
    w = [np.array(W, dtype=np.float64) for W in weights]
    shapes = [W.shape for W in w]
    sizes = [W.size for W in w]

    def grad(flat: np.ndarray) -> np.ndarray:
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        ws = [p.reshape(s) for p, s in zip(parts, shapes)]
        # the C++ kernels in float64 whatever the backend (up to 100 full-data gradients; the
        # reference computes the same quantity, only slower)
        _, g = _core.loss_and_gradient(X, T, ws, _DEFAULT_THREADS, activation=activation, alpha=alpha)
        return np.concatenate([G.ravel() for G in g])

    w0 = np.concatenate([W.ravel() for W in w])
    v = np.random.default_rng(0).normal(size=w0.shape)
    v /= np.linalg.norm(v)
    h = 1e-5 * max(1.0, float(np.linalg.norm(w0)))
    lam = 0.0
    for _ in range(50):
        Hv = (grad(w0 + h * v) - grad(w0 - h * v)) / (2 * h)  # Hessian-vector product
        new = float(v @ Hv)  # Rayleigh quotient
        norm = float(np.linalg.norm(Hv))
        if not np.isfinite(norm) or norm == 0:
            break
        v = Hv / norm
        converged = abs(new - lam) <= 1e-4 * abs(new)
        lam = new
        if converged:
            break
    lam = abs(lam)
    how = f"2/lambda, lambda = {lam:.4g} the top Hessian eigenvalue at the final weights (power iteration)"
    return (2.0 / lam if lam > 0 else np.inf), how


def _stability_guard(model: NeuralNetwork, X, T, weights, lr: float, opts: dict, loss_curve: np.ndarray) -> None:
    """Warn once (StabilityWarning) when a full-batch gradient-descent fit's loss rises or cycles
    and the learning rate is above the estimated stability limit (both must hold: conservative)."""
    if not _loss_rises_or_cycles(loss_curve):
        return
    lr_max, how = _largest_stable_learning_rate(X, T, weights, opts["activation"], opts["alpha"])
    if not lr > lr_max:
        return  # the step size does not explain the rises (e.g. saturated units): stay silent
    warnings.warn(
        StabilityWarning(
            f"the training loss rises or cycles instead of decreasing: full-batch gradient descent at "
            f"learning_rate={lr:g} is above the stability limit of this loss. The largest stable learning "
            f"rate is about {lr_max:.3g} ({how}); use a smaller learning_rate, or solver='adam'"
        ),
        stacklevel=4,
    )

def _check_state(state: dict, version: int) -> tuple[dict, dict]:
    """Checks a format-1 or format-2 state; returns ``(params, fitted attributes)`` ready for ``__dict__``.

    Format 1 (binary models, the eight parameters of backprop 0.1.0) loads with the parameters
    added since at their defaults, which keep the model's behaviour.
    """

    def corrupted(what: str) -> ValueError:
        return ValueError(f"corrupted NeuralNetwork pickle (format version {version}): {what}")

    extra = set(state) - {"_format_version", "backprop_version", "params", "fitted"}
    if extra:
        raise corrupted(f"unexpected keys {sorted(extra)}")
    params, fitted = state.get("params"), state.get("fitted")
    names = NeuralNetwork._param_names_v1 if version == 1 else NeuralNetwork._param_names
    if not isinstance(params, dict) or set(params) != set(names):
        raise corrupted(f"'params' must be a dict with keys {list(names)}, got {params!r}")
    allowed = _FITTED_ATTRIBUTES if version > 1 else _FITTED_ATTRIBUTES[:5]
    if not isinstance(fitted, dict) or not set(fitted) <= set(allowed):
        raise corrupted(f"'fitted' must be a dict with keys among {list(allowed)}")
    defaults = NeuralNetwork().get_params()
    params = {**defaults, **params}
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
        if (
            not isinstance(classes, np.ndarray)
            or classes.ndim != 1
            or classes.shape[0] < 2
            or (version == 1 and classes.shape != (2,))
        ):
            raise corrupted(f"classes_ must be an array of {'two' if version == 1 else 'at least two'} labels, got {classes!r:.80}")
        out["classes_"] = classes
    if fitted.get("validation_scores_") is not None:
        scores = fitted["validation_scores_"]
        if not isinstance(scores, np.ndarray) or scores.ndim != 1 or scores.dtype.kind != "f":
            raise corrupted(f"validation_scores_ must be a 1-D float array, got {scores!r:.80}")
        out["validation_scores_"] = scores
    if "loss_curve_" in fitted:
        loss = fitted["loss_curve_"]
        if not isinstance(loss, np.ndarray) or loss.ndim != 1 or loss.dtype.kind != "f":
            raise corrupted(f"loss_curve_ must be a 1-D float array, got {loss!r:.80}")
        out["loss_curve_"] = loss
    if "classes_" in out or "n_features_in_" in out:
        if not {"weights_", "classes_", "n_features_in_"} <= set(out):
            raise corrupted("a fitted model needs weights_, classes_ and n_features_in_ together")
        n_out = _n_outputs(len(out["classes_"]))
        if out["weights_"][0].shape[1] != out["n_features_in_"] + 1 or out["weights_"][-1].shape[0] != n_out:
            raise corrupted(
                f"weights_ shapes {[W.shape for W in out['weights_']]} do not fit n_features_in_="
                f"{out['n_features_in_']} and {len(out['classes_'])} classes_ (an output layer of {n_out} unit(s))"
            )
    return dict(params), out


def _n_outputs(n_classes: int) -> int:
    """Output units for ``n_classes`` classes: one sigmoid unit for two, else one softmax unit per class."""
    return 1 if n_classes == 2 else n_classes


def _same_param(a, b):
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd objects compare however they like
        return a is b
