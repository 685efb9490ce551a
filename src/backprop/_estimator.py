"""``NeuralNetwork``: the article's network behind a scikit-learn style estimator.

The estimator checks its input, builds one :class:`~backprop._params.Config` per fit, and hands
the work to a backend (``_backends``) through the training driver (``_training``); pickling is
``_persistence``'s.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _dask, _params, _persistence, _threadpool, _training, reference
from ._backends import BACKENDS, PREDICT, Backend, class_index, log_proba, network_output
from ._core import predict_lane
from ._exceptions import NotFittedError, StabilityWarning, not_fitted_error
from ._params import PARAMS, resolved_threads
from ._validation import (as_labels, check_array, check_array_scanned, check_feature_names, check_label_kind, check_n_features,
                          check_sample_weight, check_y, feature_names, plain)

__all__ = ["NeuralNetwork", "NotFittedError", "StabilityWarning"]

_PARAM_NAMES = _params.param_names()
_SIGNATURE = _params.signature()
_check_threshold = _params.checker("threshold")
_not_fitted_error = not_fitted_error  # what pickles of NotFittedError written by earlier versions name


class NeuralNetwork:
    """Feed-forward neural network classifier, trained by backpropagation.

    With the default parameters, the article's model: sigmoid hidden layers, one sigmoid output
    unit, mean binary log-loss, full-batch gradient descent; weights (bias in column 0) drawn
    from N(0, 0.1**2).  More than two classes get a softmax output layer (one unit per class)
    and the multinomial cross-entropy.  The parameters after ``n_threads`` add other
    activations, initialisations, mini-batches, momentum and Adam, an L2 penalty, stopping
    rules, progress output and a callback; their defaults keep the article's model bit for bit.

    The constructor only stores its arguments; they are checked by ``fit``, which raises a
    ``ValueError`` naming the parameter.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    weights_ : list of ndarray
        ``weights_[i]`` has shape ``(n_out, n_in + 1)``, column 0 the bias, in the training
        data's dtype (float32 or float64).
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted; ``predict_proba``'s columns follow this order.
    n_features_in_ : int
        Number of features seen by ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,), dtype object
        The column names of ``X`` when ``fit`` (or the first ``partial_fit``) saw a pandas
        DataFrame (any ``X`` with a ``columns`` attribute) whose names are all strings; absent
        otherwise.  ``predict``, ``predict_proba``, ``score`` and ``partial_fit`` then check the
        names of ``X`` as scikit-learn does (a warning when one side has none, ValueError for
        other names or another order).
    n_iter_ : int
        Epochs run, summed over warm-started fits and ``partial_fit`` calls.
    loss_curve_ : ndarray
        Training loss of each epoch (log-loss plus the L2 term), concatenated over warm-started
        fits; with full batches, the loss of each iteration's forward pass.
    validation_scores_ : ndarray or None
        The validation accuracy after each epoch, when the fit has a validation set (the one
        given to ``fit`` as ``X_val``/``y_val``, or ``early_stopping``'s split); else None.
    validation_loss_curve_ : ndarray or None
        The validation set's loss after each epoch, beside ``validation_scores_``: ``J`` with the
        training loss's formula (``fit``'s), on the validation rows and their weights
        (``sample_weight_val`` or the split's share of ``sample_weight``, times ``class_weight``),
        the L2 term included (divided by the validation weights' sum); with ``alpha=0``, the
        validation set's mean (weighted) log-loss.  In the dtype of ``loss_curve_``.  Not
        recorded for dask input (None).

    Notes
    -----
    Input: 2-D array-likes (lists, pandas DataFrames, any memory layout); float32 data trains in
    float32, float64 in float64, and bool, integer and float16 data in float64.  Sparse, complex,
    text (strings or bytes, digits included: convert them to numbers explicitly), non-finite or
    empty data, and labels with fewer than two classes, raise ``ValueError`` or ``TypeError``
    naming the problem.  Huge values (|x| ~ 1e300) are handled without NaN: rows whose
    first-layer sums ``W x`` overflow (or could, in ``predict_proba``) are computed scaled by a power
    of two (``reference.first_layer_logits``), in training and prediction, on both backends.  A fit
    whose weights or loss still overflow (gradient descent really diverging past the float range,
    e.g. |x| near 1e308, relu/identity layers fed 1e300, or a softmax output with no hidden layer
    fed 1e300, whose logits reach inf - inf) raises ``ValueError`` and leaves the
    estimator as it was, as does an interrupted fit (``KeyboardInterrupt``).

    ``fit`` and ``predict_proba`` release the GIL in the C++ backend (but for predictions of a few
    microseconds, which keep it): one fitted model may serve
    ``predict``/``predict_proba`` from several threads at once; do not call ``fit`` on a model
    while another thread uses it.

    Pickles hold only numpy arrays, Python builtins (and the parameters as given) and a format
    version; they load on any machine and in later versions of backprop.  The solver's state is
    neither pickled nor saved by ``backprop.save``: warm-starting a loaded or unpickled model
    restarts momentum or Adam from zero, while plain ``gd`` continues exactly.  ``copy.copy`` and
    ``copy.deepcopy`` copy the object whole, the solver's state included, and continue as it would.

    ``partial_fit(X, y, classes)`` trains one epoch per call (the first call needs ``classes``);
    ``tol`` and ``early_stopping`` do not apply to it, and it records no validation scores or loss.

    ``validation_scores_`` and ``validation_loss_curve_`` are concatenated over warm-started fits
    that have a validation set (a fit without one sets both to None); pickles keep both, model
    files (``save``) neither.

    Full-batch gradient descent above the stability limit makes the loss oscillate instead of
    decrease (the article's logistic regression at ``learning_rate=1.0`` does): ``fit`` then
    issues a :class:`StabilityWarning` naming the largest stable learning rate it estimates.
    """

    # Pickles name the class by its public path, backprop.NeuralNetwork, so that moving the code
    # between private modules never breaks them.
    __module__ = "backprop"
    # scikit-learn < 1.6 reads this instead of __sklearn_tags__.
    _estimator_type = "classifier"

    def __init__(self, *args: Any, **params: Any) -> None:
        # The signature (what inspect, scikit-learn's clone and get_params see) is the parameter
        # table's: NeuralNetwork(n_hidden=(100,), learning_rate=1.0, ...).
        bound = _SIGNATURE.bind(self, *args, **params)
        bound.apply_defaults()
        for name in _PARAM_NAMES:
            setattr(self, name, bound.arguments[name])

    __init__.__signature__ = _SIGNATURE  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ scikit-learn protocol
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
        return {name: getattr(self, name) for name in _PARAM_NAMES}

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
            if name not in _PARAM_NAMES:
                raise ValueError(f"invalid parameter {name!r} for NeuralNetwork; valid: {', '.join(_PARAM_NAMES)}")
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
        changed = [f"{p.name}={getattr(self, p.name)!r}" for p in PARAMS if not _same(getattr(self, p.name), p.default)]
        return f"NeuralNetwork({', '.join(changed)})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickled state: a format version, the parameters and the fitted attributes.

        Fitted attributes are stored as plain numpy arrays and Python ints (no pointers, nothing
        of the C++ module), so a pickle loads on another machine or a later version of backprop.
        Attributes other than the parameters and the fitted attributes are not pickled.
        """
        return _persistence.state_of(self)

    def __copy__(self) -> NeuralNetwork:
        """A shallow copy of the whole object (not through the pickled state, which leaves out the
        solver's state and the random generator: a copy in memory needs no portable form)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo: dict) -> NeuralNetwork:
        """A deep copy of the whole object, the solver's state included (see ``__copy__``)."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def __setstate__(self, state: Any) -> None:
        """Restore a pickled state, checking it first (ValueError if foreign, corrupted or too new)."""
        restored = _persistence.restore(state)
        self.__dict__.clear()
        self.__dict__.update(restored)

    # ------------------------------------------------------------------ training
    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None, *, X_val: ArrayLike | None = None,
            y_val: ArrayLike | None = None, sample_weight_val: ArrayLike | None = None) -> NeuralNetwork:
        """Train the network for up to ``max_iter`` epochs.

        A validation set may be given (``X_val``, ``y_val``, optionally ``sample_weight_val``):
        scikit-learn's own form (``HistGradientBoostingClassifier.fit``, 1.7+, what its MLP request
        #18748 asks), the three beside ``X``, ``y``, ``sample_weight`` and named alike.  With
        ``early_stopping`` it replaces the split of ``validation_fraction`` (none is drawn: all of
        ``X`` trains); without, it is only scored.  Either way ``validation_scores_`` and
        ``validation_loss_curve_`` record its accuracy and loss after every epoch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite; float32 trains in float32, anything else in float64.  A dask
            array or DataFrame (X or y) trains where dask holds it, block by block: see the
            README's "Training on dask".
        y : array-like of shape (n_samples,)
            Labels: two or more distinct values (numbers, strings, bools).
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each sample in the loss (finite, >= 0, not all zero; times ``class_weight``,
            each and their sum finite in the model's dtype), scikit-learn's form:
            ``J = sum_i w_i l_i / sum_i w_i + 0.5 alpha sum ||W[:, 1:]||^2 / sum_i w_i`` over each
            batch (``w_i`` times ``class_weight``'s weight of its class); None weighs every sample 1.
        X_val : array-like of shape (n_val, n_features), optional
            Validation data, checked as X (finite, X's features and column names; converted to
            X's dtype).  Keyword only, with ``y_val``; not with dask input.
        y_val : array-like of shape (n_val,), optional
            Its labels, each one of the classes of ``y``.
        sample_weight_val : array-like of shape (n_val,), optional
            Weights of the validation rows in their accuracy and loss, checked as
            ``sample_weight``, times ``class_weight``'s weight of each row's class (``"balanced"``
            counts the classes of ``y``); None weighs every row 1 (times ``class_weight``).

        Returns
        -------
        self : NeuralNetwork
            The fitted estimator.

        Raises
        ------
        ValueError
            If a parameter is invalid (the message names it), X or y are malformed, empty or
            non-finite, y holds fewer than two classes, the validation set is malformed (only one
            of ``X_val``/``y_val``, other features, labels not in ``y``'s classes: the message
            names the argument), or training overflowed (weights or loss not finite).  The
            estimator is then left as it was.
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
        config = _params.validate(self.get_params())
        given_validation = X_val is not None or y_val is not None or sample_weight_val is not None
        if _dask.is_dask_collection(X) or _dask.is_dask_collection(y):  # trained where dask holds the data
            if sample_weight is not None or config.class_weight is not None:
                raise ValueError("sample_weight and class_weight are not supported with dask input: fit in memory")
            if given_validation:
                raise ValueError("X_val, y_val and sample_weight_val are not supported with dask input: fit in "
                                 "memory, or use early_stopping's split")
            return _dask.fit(self, X, y, config)
        continuing = config.warm_start and self.__sklearn_is_fitted__()
        if continuing:  # a warm start continues the fit it starts from: the same columns
            check_feature_names(self.__dict__.get("feature_names_in_"), X)
        names = feature_names(X)
        X, huge_inputs = check_array_scanned(X, n_threads=config.n_threads)
        n, d = X.shape
        if n < 1:
            raise ValueError(f"X has 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
        if d < 1:
            raise ValueError(f"X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
        y, classes = check_y(y, n)
        sample_weight = check_sample_weight(sample_weight, n, X.dtype)
        y_index = np.searchsorted(classes, y)
        sample_weight = _training.training_weights(sample_weight, config.class_weight, classes, y_index, X.dtype)
        warm = config.warm_start and getattr(self, "weights_", None) is not None
        if warm and getattr(self, "classes_", None) is not None and not np.array_equal(self.classes_, classes):
            raise ValueError(f"warm_start: y has classes {plain(classes)!r}, but the model was fitted with {plain(self.classes_)!r}")
        validation = None
        if given_validation:
            validation = _validation_set(X_val, y_val, sample_weight_val, names, X, classes, y_index, config.class_weight)
        rng = np.random.default_rng(config.random_state)
        weights, warm = self._initial_weights(d, len(classes), X.dtype, config, rng, config.warm_start)
        backend = BACKENDS[config.backend]
        # a later partial_fit draws its permutations afresh: the stream's generator is dropped
        named = {} if continuing or names is None else {"feature_names_in_": names}
        drop = ("_rng",) if continuing or names is not None else ("_rng", "feature_names_in_")
        _training.train(self, X, y_index, classes, weights, warm, rng, config, backend, False,
                        extra=named, drop=drop, sample_weight=sample_weight, validation=validation,
                        huge_inputs=huge_inputs)
        return self

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None,
                    sample_weight: ArrayLike | None = None) -> NeuralNetwork:
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
        sample_weight : array-like of shape (n_samples,), optional
            As for ``fit``.

        Returns
        -------
        self : NeuralNetwork

        Raises
        ------
        ValueError
            As ``fit``; also when ``classes`` is missing on the first call, differs from
            ``classes_`` later, or ``y`` holds a label outside it, and for
            ``class_weight="balanced"`` (one call sees part of the data: pass a dict).
        """
        config = _params.validate(self.get_params(), max_iter=1, tol=None, early_stopping=False)
        if _dask.is_dask_collection(X) or _dask.is_dask_collection(y):
            raise TypeError("partial_fit takes in-memory data (one batch of a stream); dask input trains with fit")
        if isinstance(config.class_weight, str):
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit (each call sees part of the data); pass a "
                "dict of class weights, e.g. computed on the whole stream's labels as n / (k * n_c)"
            )
        first = not self.__sklearn_is_fitted__()
        if not first:
            check_feature_names(self.__dict__.get("feature_names_in_"), X)
        names = feature_names(X) if first else None
        X, huge_inputs = check_array_scanned(X, dtype=None if first else self.weights_[0].dtype,
                                             n_threads=config.n_threads)
        n, d = X.shape
        if n < 1 or d < 1:
            raise ValueError(f"X has shape {X.shape}; partial_fit needs at least 1 sample and 1 feature")
        classes = self._stream_classes(classes, first)
        if not first:
            check_n_features(X, self.n_features_in_)
        y_index = _label_index(y, n, classes)
        sample_weight = check_sample_weight(sample_weight, n, X.dtype)
        sample_weight = _training.training_weights(sample_weight, config.class_weight, classes, y_index, X.dtype)
        rng = self.__dict__.get("_rng")
        # the stream's generator advances on a copy, published with the fit (atomic: a failed call
        # leaves the stored one where it was)
        rng = np.random.default_rng(config.random_state) if rng is None else copy.deepcopy(rng)
        weights, warm = self._initial_weights(d, len(classes), X.dtype, config, rng, not first)
        extra = {"_rng": rng, **({} if names is None else {"feature_names_in_": names})}
        _training.train(self, X, y_index, classes, weights, warm, rng, config, BACKENDS[config.backend], True,
                        extra=extra, drop=("feature_names_in_",) if first and names is None else (),
                        sample_weight=sample_weight, huge_inputs=huge_inputs)
        return self

    def _stream_classes(self, classes: Any, first: bool) -> np.ndarray:
        """``partial_fit``'s classes: required on the first call, ``classes_`` (or equal to it) later."""
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit (every label of the stream)")
            classes = np.unique(as_labels(classes, "classes"))
            if classes.ndim != 1 or classes.shape[0] < 2:
                raise ValueError(f"classes must hold at least two labels, got {plain(classes)!r}")
            return classes
        if classes is not None and not np.array_equal(np.unique(as_labels(classes, "classes")), self.classes_):
            raise ValueError(f"classes={plain(classes)!r} is not the classes_ of the first call, {plain(self.classes_)!r}")
        return self.classes_

    def _initial_weights(
        self, n_features: int, n_classes: int, dtype: np.dtype, config: Any, rng: np.random.Generator, warm: bool
    ) -> tuple[list, bool]:
        """``(weights, warm)``: a copy of ``weights_`` when warm-starting from them, else new ones from ``rng``."""
        n_out = _persistence.n_outputs(n_classes)
        shapes = _persistence.layer_shapes(n_features, config.n_hidden, n_out)
        _training.check_memory(shapes, dtype, reference.SOLVERS[config.solver])
        current = getattr(self, "weights_", None)
        if not (warm and current is not None):
            return reference.init_weights(n_features, config.n_hidden, rng, dtype, init=config.init, n_outputs=n_out), False
        current = list(current)
        got = [tuple(np.shape(W)) for W in current]
        if got != shapes:
            raise ValueError(
                f"warm_start: weights_ have shapes {got}, but n_hidden={config.n_hidden} with {n_features} features "
                f"and {n_out} output unit(s) needs {shapes}"
            )
        weights = [np.array(W, dtype=dtype, order="C", copy=True) for W in current]
        if not all(np.isfinite(W).all() for W in weights):
            raise ValueError("warm_start: weights_ contain NaN or infinity")
        return weights, True

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise not_fitted_error(
                "This NeuralNetwork instance is not fitted yet. Call 'fit' with appropriate arguments first."
            )

    def _check_X_predict(self, X: Any) -> np.ndarray:
        self._check_fitted()
        check_feature_names(self.__dict__.get("feature_names_in_"), X)
        X = check_array(X, dtype=self.weights_[0].dtype)
        check_n_features(X, self.n_features_in_)
        return X

    def _backend_name(self) -> str:
        return _params.check("backend", self.backend)

    def _backend(self) -> Backend:
        return BACKENDS[self._backend_name()]

    def _activation(self) -> str:
        return _params.check("activation", self.activation)

    def _network_output(self, X: np.ndarray) -> np.ndarray:
        """The network's output on checked X: P(classes_[1]) of shape (n,) for two classes, else (n, k)."""
        backend, n_threads = self._backend(), resolved_threads(self.n_threads)
        return network_output(backend, X, self.weights_, n_threads, self._activation())

    def _fast_lane(self, X: Any, two_columns: bool) -> np.ndarray | None:
        """The backend's one-call answer for the common case: a fitted model and X an ndarray already
        of the model's dtype, 2-D, C-contiguous, with n_features_in_ columns.  Small inputs have
        already been answered by ``_core.predict_lane`` (the same rules, read in C++ from
        ``__dict__``); this is the lane of large ones, whose thread count it supplies.  The C++
        backend checks finiteness (same error as the general path) and returns None when values
        are huge enough to need the exact path; anything else (other input types, the numpy
        backend, a problem to report) goes through the general path.  Results are identical
        either way."""
        state = self.__dict__
        weights = state.get("weights_")
        if (
            weights is None
            or type(X) is not np.ndarray
            or X.ndim != 2
            or X.dtype != weights[0].dtype
            or not X.flags.c_contiguous
            or X.shape[1] != state.get("n_features_in_")
            or state.get("classes_") is None
            or "feature_names_in_" in state  # an ndarray has no names: the general path warns
        ):
            return None
        try:
            lane = PREDICT[self.backend][self.activation]
        except (KeyError, TypeError):  # not a backend or activation name: the general path reports it
            return None
        n_threads = self.n_threads
        return lane(X, weights, _threadpool.current if n_threads is None else resolved_threads(n_threads), two_columns, True)

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
            In [0, 1], rows summing to 1; in the dtype of ``weights_``.  For a dask X, a dask
            array computed block by block.

        Raises
        ------
        NotFittedError
            If ``fit`` has not been called.
        ValueError
            If X is malformed, non-finite, has the wrong number of features, or values so
            large that the network's output is undefined in floating point.
        """
        fast = predict_lane(self.__dict__, X, True, True)  # a few rows: one C++ call, the same checks
        if fast is not None:
            return fast
        fast = self._fast_lane(X, True)
        if fast is not None:
            return fast
        if _dask.is_dask_collection(X):  # a dask array, computed block by block
            self._check_fitted()
            return _dask.predict_proba(self, X, self._backend_name(), self._activation())
        p = self._network_output(self._check_X_predict(X))
        return np.stack([1 - p, p], axis=1) if p.ndim == 1 else p

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.floating]:
        """Logarithms of the class probabilities, columns in ``classes_`` order, computed from the
        output logits z (not as ``log(predict_proba(X))``, which rounds to ``log 1 = 0`` and
        ``log 0 = -inf`` once a probability is within an ulp of 1):

        two classes: ``[log(1 - sigmoid(z)), log sigmoid(z)] = [-log(1 + e^z), -log(1 + e^-z)]``;
        more: ``z - logsumexp(z)`` (log-softmax).  In float64, returned in the dtype of ``weights_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data with the number of features seen by ``fit``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``<= 0``; ``exp`` of it is ``predict_proba(X)`` up to rounding.  For a dask X, a dask
            array computed block by block.

        Raises
        ------
        NotFittedError, ValueError
            As ``predict_proba``.
        """
        if _dask.is_dask_collection(X):  # a dask array, computed block by block
            self._check_fitted()
            return _dask.predict_log_proba(self, X, self._backend_name(), self._activation())
        X = self._check_X_predict(X)
        return log_proba(self._backend(), X, self.weights_, resolved_threads(self.n_threads), self._activation())

    def predict_proba_unchecked(self, X: np.ndarray) -> NDArray[np.floating]:
        """``predict_proba`` without input validation: the documented low-latency path.

        For serving one row or a few rows at a time: one call of the backend's forward pass
        (``backend="cpp"``: the C++ kernels, on ``n_threads`` threads for large inputs).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features_in_)
            Must already be a C-contiguous array of the model's dtype (``weights_[0].dtype``)
            with finite values of moderate size; the C++ backend still checks dtype, layout and
            shape (so a wrong array raises instead of reading out of bounds), but not finiteness
            or overflow: NaN in gives NaN out.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            As ``predict_proba``.

        Raises
        ------
        NotFittedError
            If ``fit`` has not been called.
        """
        # the fewest Python steps (this path is timed in microseconds): a few rows in one C++ call
        p = predict_lane(self.__dict__, X, True, False)
        if p is not None:
            return p
        n_threads = self.n_threads
        try:
            lane = PREDICT[self.backend][self.activation]
        except (KeyError, TypeError):
            self._backend(), _params.check("activation", self.activation)  # raises, naming the parameter
            raise
        try:  # free when fitted; an unfitted model gets predict_proba's NotFittedError, not an AttributeError
            weights = self.weights_
        except AttributeError:
            self._check_fitted()
            raise
        try:
            return lane(X, weights, _threadpool.current if n_threads is None else resolved_threads(n_threads), True, False)
        except (TypeError, ValueError):
            _check_unchecked_input(X, weights)  # the kernels' errors speak of their arguments: say it of X
            raise

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
            Values from ``classes_`` (and of its dtype).  For a dask X, a dask array computed
            block by block.

        Raises
        ------
        NotFittedError
            If ``fit`` has not been called.
        ValueError
            As ``predict_proba``, or if ``threshold`` is not in [0, 1].
        """
        threshold = _check_threshold(self.threshold)
        p = predict_lane(self.__dict__, X, False, True)
        if p is None:
            p = self._fast_lane(X, False)
        if p is None and _dask.is_dask_collection(X):  # a dask array, computed block by block
            self._check_fitted()
            return _dask.predict(self, X, self._backend_name(), self._activation(), threshold)
        if p is None:
            p = self._network_output(self._check_X_predict(X))
        return self.classes_[class_index(p, threshold)]

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Accuracy of ``predict(X)`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test data.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples (the rule of ``fit``'s).

        Returns
        -------
        accuracy : float
            Fraction of samples whose predicted label equals ``y``; with weights,
            ``sum_i w_i [correct_i] / sum_i w_i``.

        Raises
        ------
        ValueError
            If ``y``'s labels are strings and ``classes_`` numbers, or the reverse ("Mix of label
            input types"; int and float labels compare as numbers), or as ``predict``.
        """
        y = as_labels(y)
        y_pred = self.predict(X)
        if y.shape != y_pred.shape:
            raise ValueError(f"y must have shape {y_pred.shape}, got {y.shape}")
        check_label_kind(y, self.classes_)
        w = check_sample_weight(sample_weight, y.shape[0], np.float64)
        return _training.accuracy(y_pred == y, w)


if NeuralNetwork.__doc__:  # None under python -OO
    # the entries come from the parameter table, which holds each parameter's default and description
    NeuralNetwork.__doc__ = NeuralNetwork.__doc__.replace("    {parameters}", _params.docstring())


def _check_unchecked_input(X: Any, weights: list) -> None:
    """``predict_proba_unchecked``'s contract on X (a C-contiguous ndarray of the model's dtype and
    ``n_features_in_`` columns), raising what is wrong with X; the kernels' own messages name
    the weights when X's dtype or width does not match them."""
    dtype, n = weights[0].dtype, weights[0].shape[1] - 1
    if not isinstance(X, np.ndarray):
        raise TypeError(f"predict_proba_unchecked takes a numpy array, got {type(X).__name__}: use predict_proba, "
                        "which converts its input")
    if X.dtype != dtype:
        raise TypeError(f"predict_proba_unchecked takes X of the model's dtype {dtype}, got {X.dtype}: pass "
                        f"X.astype(np.{dtype}), or use predict_proba, which converts")
    if X.ndim != 2 or X.shape[1] != n:
        raise ValueError(f"predict_proba_unchecked takes X of shape (n_samples, {n}), got {X.shape}")


def _label_index(y: Any, n: int, classes: np.ndarray, name: str = "y") -> np.ndarray:
    """Index into ``classes`` of each of the ``n`` labels of ``y`` (ValueError, naming ``name``, for
    a label outside it)."""
    y = as_labels(y, name)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with {n} labels, got shape {y.shape}")
    check_label_kind(y, classes, name)
    y_index = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
    unknown = classes[y_index] != y
    if unknown.any():
        raise ValueError(f"{name} holds labels not in classes {plain(classes)!r}: {plain(np.unique(y[unknown])[:10])!r}")
    return y_index


def _validation_set(X_val: Any, y_val: Any, sample_weight_val: Any, names: Any, X: np.ndarray, classes: np.ndarray,
                    y_index: np.ndarray, class_weight: Any) -> tuple:
    """``fit``'s validation set, checked as the training data is: ``(X_val, y_val_index, w_val)``,
    X_val in X's dtype, ``w_val`` (X's dtype, or None) ``sample_weight_val`` times the class weight
    of each row's label (``"balanced"`` counted on the training labels ``y_index``)."""
    if X_val is None or y_val is None:
        given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
        if X_val is None and y_val is None:
            given, missing = "sample_weight_val", "X_val and y_val"
        raise ValueError(f"{given} is given but {missing} is not: a validation set needs X_val and y_val")
    if _dask.is_dask_collection(X_val) or _dask.is_dask_collection(y_val):
        raise TypeError("X_val and y_val must be in memory (dask input is not supported for the validation set)")
    check_feature_names(names, X_val, name="X_val")
    X_val = check_array(X_val, "X_val", dtype=X.dtype)
    n_val = X_val.shape[0]
    if n_val < 1:
        raise ValueError(f"X_val has 0 sample(s) (shape={X_val.shape}) while a minimum of 1 is required.")
    if X_val.shape[1] != X.shape[1]:
        raise ValueError(f"X_val has {X_val.shape[1]} features, but X has {X.shape[1]}")
    y_val_index = _label_index(y_val, n_val, classes, "y_val")
    w_val = check_sample_weight(sample_weight_val, n_val, X.dtype, "sample_weight_val")
    w_val = _training.training_weights(w_val, class_weight, classes, y_val_index, X.dtype, counted=y_index,
                                       name="sample_weight_val")
    return X_val, y_val_index, w_val


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd objects compare however they like
        return a is b
