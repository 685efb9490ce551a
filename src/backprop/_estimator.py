"""``NeuralNetwork``: the article's network behind a scikit-learn style estimator."""

from __future__ import annotations

import numbers

import numpy as np

from . import _core, reference

__all__ = ["NeuralNetwork", "NotFittedError"]

_BACKENDS = ("cpp", "numpy")


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before ``fit`` (like scikit-learn's, a ValueError and an AttributeError)."""


def _check_array(X, name="X", ndim=2, dtype=None):
    """Validate ``X`` and return it as a C-contiguous float32/float64 array.

    float32 and float64 are kept (or converted to ``dtype`` when given); bool, integer and
    float16 data become float64.  An array that already has the right dtype and layout is
    returned as is (no copy).
    """
    if hasattr(X, "__array__") or isinstance(X, (list, tuple)):
        try:
            X = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    else:
        raise TypeError(f"{name} must be an array-like of numbers, got {type(X).__name__}")
    if X.dtype.kind not in "biuf":
        if X.dtype.kind == "c":
            raise TypeError(f"{name} must be real-valued, got complex dtype {X.dtype}")
        try:
            X = X.astype(np.float64)
        except (ValueError, TypeError):
            raise ValueError(f"{name} must hold numbers, got dtype {X.dtype}") from None
    if X.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got an array of shape {X.shape}")
    if dtype is None:
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    X = np.ascontiguousarray(X, dtype=dtype)
    if X.size and not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return X


class NeuralNetwork:
    """Feed-forward neural network for binary classification, trained by backpropagation.

    The article's model: sigmoid hidden layers, one sigmoid output unit, mean binary log-loss,
    full-batch gradient descent; weights (bias in column 0) drawn from N(0, 0.1**2).

    Parameters
    ----------
    n_hidden : sequence of int, default=(100,)
        Number of units of each hidden layer; ``()`` gives logistic regression.
    learning_rate : float, default=1.0
        Step size of gradient descent (> 0).
    max_iter : int, default=10
        Number of full-batch iterations per ``fit`` (>= 0).
    threshold : float, default=0.5
        ``predict`` returns ``classes_[1]`` where P(classes_[1]) >= threshold (in [0, 1]).
    random_state : None, int or numpy.random.Generator, default=None
        Seed of ``numpy.random.default_rng`` for the initial weights; the same value gives the
        same initial weights on both backends.
    warm_start : bool, default=False
        Continue from the current ``weights_`` (fitted, or assigned by the caller) instead of
        drawing new ones.
    backend : {"cpp", "numpy"}, default="cpp"
        ``"cpp"`` runs the C++ kernels; ``"numpy"`` runs ``backprop.reference``.
    n_threads : int or None, default=None
        Threads of the C++ backend; ``None`` uses every core.  Results do not depend on it.

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
    """

    def __init__(
        self,
        n_hidden=(100,),
        learning_rate=1.0,
        max_iter=10,
        threshold=0.5,
        random_state=None,
        warm_start=False,
        backend="cpp",
        n_threads=None,
    ):
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

    def get_params(self, deep=True):
        """Parameters of this estimator, as a dict (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params):
        """Set parameters by name and return ``self`` (scikit-learn protocol)."""
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(f"invalid parameter {name!r} for NeuralNetwork; valid: {', '.join(self._param_names)}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = NeuralNetwork()
        changed = [
            f"{k}={v!r}" for k, v in self.get_params().items() if not _same_param(v, getattr(defaults, k))
        ]
        return f"NeuralNetwork({', '.join(changed)})"

    # ------------------------------------------------------------------ validation helpers
    def _validated_params(self):
        try:
            n_hidden = tuple(self.n_hidden)
        except TypeError:
            raise TypeError(f"n_hidden must be a sequence of ints, got {self.n_hidden!r}") from None
        for h in n_hidden:
            if not isinstance(h, numbers.Integral) or isinstance(h, bool) or h < 1:
                raise ValueError(f"n_hidden must hold positive integers, got {self.n_hidden!r}")
        n_hidden = tuple(int(h) for h in n_hidden)
        lr = self.learning_rate
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning_rate must be a finite number > 0, got {lr!r}")
        if not isinstance(self.max_iter, numbers.Integral) or isinstance(self.max_iter, bool) or self.max_iter < 0:
            raise ValueError(f"max_iter must be an integer >= 0, got {self.max_iter!r}")
        t = self.threshold
        if not isinstance(t, numbers.Real) or isinstance(t, bool) or not (0.0 <= t <= 1.0):
            raise ValueError(f"threshold must be a number in [0, 1], got {t!r}")
        if self.backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {self.backend!r}")
        return n_hidden, float(lr), int(self.max_iter)

    def _resolved_threads(self):
        if self.n_threads is None:
            return _core.default_threads()
        if not isinstance(self.n_threads, numbers.Integral) or isinstance(self.n_threads, bool) or self.n_threads < 1:
            raise ValueError(f"n_threads must be None or an integer >= 1, got {self.n_threads!r}")
        return int(self.n_threads)

    def _check_fitted(self):
        if getattr(self, "classes_", None) is None or getattr(self, "weights_", None) is None:
            raise NotFittedError(
                "This NeuralNetwork instance is not fitted yet. Call 'fit' with appropriate arguments first."
            )

    def _check_X_predict(self, X):
        self._check_fitted()
        X = _check_array(X, dtype=self.weights_[0].dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but NeuralNetwork was fitted with {self.n_features_in_} features")
        return X

    def _initial_weights(self, n_features, n_hidden, dtype):
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
    def fit(self, X, y):
        """Train on X (n_samples, n_features) and y (n_samples,) holding two distinct labels.

        Returns
        -------
        self
        """
        n_hidden, lr, max_iter = self._validated_params()
        n_threads = self._resolved_threads() if self.backend == "cpp" else 1
        X = _check_array(X)
        n, d = X.shape
        if n < 1:
            raise ValueError(f"X must have at least one sample, got shape {X.shape}")
        if d < 1:
            raise ValueError(f"X must have at least one feature, got shape {X.shape}")
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got an array of shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"X and y have different numbers of samples: {n} and {y.shape[0]}")
        if y.dtype.kind in "fc" and not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        classes = np.unique(y)
        if classes.shape[0] != 2:
            raise ValueError(
                f"y must hold exactly two classes (binary classification), got {classes.shape[0]}: {classes[:10]!r}"
            )
        y01 = np.ascontiguousarray(y == classes[1], dtype=X.dtype)

        warm = self.warm_start and getattr(self, "weights_", None) is not None
        if warm and getattr(self, "classes_", None) is not None and not np.array_equal(self.classes_, classes):
            raise ValueError(f"warm_start: y has classes {classes!r}, but the model was fitted with {self.classes_!r}")
        weights, warm = self._initial_weights(d, n_hidden, X.dtype)

        if self.backend == "cpp":
            loss_curve, n_iter = _core.train(X, y01, weights, lr, max_iter, n_threads)
        else:
            loss_curve = reference.train(X, y01, weights, lr, max_iter)
            n_iter = max_iter

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

    def _proba_class1(self, X):
        if self.backend == "cpp":
            return _core.predict_proba(X, self.weights_, self._resolved_threads())
        return reference.predict_proba(X, self.weights_)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, 2), columns in ``classes_`` order.

        Column 1 is the article's single output ``a^(L)`` = P(``classes_[1]``); column 0 is
        ``1 - a^(L)``.
        """
        X = self._check_X_predict(X)
        p = self._proba_class1(X)
        return np.stack([1 - p, p], axis=1)

    def predict(self, X):
        """Labels from ``classes_``: ``classes_[1]`` where P(``classes_[1]``) >= ``threshold``."""
        X = self._check_X_predict(X)
        p = self._proba_class1(X)
        return self.classes_[(p >= self.threshold).astype(np.intp)]

    def score(self, X, y):
        """Accuracy of ``predict(X)`` against ``y``."""
        y = np.asarray(y)
        y_pred = self.predict(X)
        if y.shape != y_pred.shape:
            raise ValueError(f"y must have shape {y_pred.shape}, got {y.shape}")
        return float(np.mean(y_pred == y))


def _same_param(a, b):
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd objects compare however they like
        return a is b

