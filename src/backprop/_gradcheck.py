"""``check_gradients``: a public finite-difference check of a model's backpropagated gradient.

The analytic gradient ``dJ/dW`` of the model's backend (``_core.loss_and_gradient`` for
``backend="cpp"``, ``backprop.reference.loss_and_gradient`` for ``"numpy"``) is compared with
central differences of the loss computed exactly from the output logits
(:func:`backprop.reference.exact_loss`: log-sigmoid / log-softmax, no clipping),

    dJ/dW[l][i, j]  ~  (J(W + eps e_ij) - J(W - eps e_ij)) / (2 eps),

everything in float64, on the full batch, with the model's activation, output layer and L2
penalty.  The reported training loss clips probabilities to [eps, 1 - eps] and loses digits in
log(1 - p); differences of it would flag a correct gradient wherever the outputs saturate
(|logit| above about 17), and its value stops changing beyond about 36.  It is how one trusts a new activation or loss: a wrong derivative anywhere shows up
as a large error here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from . import _params, reference
from ._backends import BACKENDS
from ._estimator import NeuralNetwork
from ._persistence import n_outputs
from ._training import targets
from ._validation import as_labels, check_array, check_finite_real, check_int, check_label_kind, check_sample_weight, check_y

__all__ = ["GradientCheck", "check_gradients", "gradient_check"]

#: Default limit of the weights checked (all of them when the model has no more).
MAX_CHECKS = 1000


@dataclass(frozen=True)
class LayerCheck:
    """The comparison for one weight matrix ``weights_[layer]``."""

    layer: int
    n_checked: int
    max_abs_error: float
    max_rel_error: float


@dataclass(frozen=True)
class GradientCheck:
    """Result of :func:`check_gradients`.

    Attributes
    ----------
    ok : bool
        Every checked weight satisfies ``|analytic - numeric| <= atol + rtol * |numeric|``.
    max_abs_error : float
        Largest ``|analytic - numeric|`` over the checked weights.
    max_rel_error : float
        Largest ``|analytic - numeric| / max(|analytic|, |numeric|)`` over the checked weights
        whose gradient is not negligible (``max(|analytic|, |numeric|) > atol``); 0.0 if none.
    n_checked : int
        Number of weights checked.
    layers : tuple of LayerCheck
        The same figures per weight matrix.
    rtol, atol : float
        The tolerance used for ``ok``.
    loss : float
        The loss at the checked weights.
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    n_checked: int
    layers: Tuple[LayerCheck, ...] = field(repr=False)
    rtol: float
    atol: float
    loss: float

    def __str__(self) -> str:
        rows = [
            f"  layer {c.layer}: {c.n_checked} weights, max abs error {c.max_abs_error:.3g}, max rel error {c.max_rel_error:.3g}"
            for c in self.layers
        ]
        head = (
            f"gradient check {'OK' if self.ok else 'FAILED'}: {self.n_checked} weights, max abs error "
            f"{self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g} (rtol={self.rtol:g}, atol={self.atol:g})"
        )
        return "\n".join([head, *rows])


def check_gradients(
    model: NeuralNetwork,
    X: ArrayLike,
    y: ArrayLike,
    *,
    epsilon: float = 1e-6,
    n_checks: Optional[int] = None,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    random_state: Any = 0,
    sample_weight: Optional[ArrayLike] = None,
) -> GradientCheck:
    """Compare the model backend's analytic gradient with central finite differences of the exact loss.

    Works on a fitted model (at ``weights_``, labels mapped through ``classes_``) and on an
    unfitted one, configured but never fitted: its weights are then the initial weights
    ``fit(X, y)`` would start from (``n_hidden``, ``init``, ``random_state``, and an output
    layer for the classes of ``y``).  The model is never modified.  The loss is the model's
    training loss on ``(X, y)`` as one full batch: log-loss (two classes) or softmax
    cross-entropy, with the L2 term when ``alpha > 0``, for its ``activation``.

    Parameters
    ----------
    model : NeuralNetwork
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    epsilon : float, default=1e-6
        Step of the central differences.
    n_checks : int or None, default=None
        How many weights to check.  None: every weight when the model has at most 1000
        (``MAX_CHECKS``), else a random subset of 1000.  Each layer gets a share proportional to
        its size, and at least ``min(size, 10)`` weights.
    rtol, atol : float, default=1e-5, 1e-7
        Finite, >= 0 (``epsilon`` finite, > 0; a ``ValueError`` names a bad one).  ``ok`` when ``|analytic - numeric| <= atol + rtol * |numeric|`` for every checked
        weight.  With ``epsilon=1e-6`` in float64 the difference quotient is accurate to about
        1e-9 (rounding) and ``epsilon**2`` (truncation); a wrong derivative errs by the order of
        the gradient itself.  A ReLU whose input lies within ``epsilon`` of its kink can fail
        spuriously (rare for continuous data).
    random_state : int, default=0
        Seed of the subset of weights checked (as the estimator's ``random_state``: None, an int
        >= 0, a Generator or a RandomState).
    sample_weight : array-like of shape (n_samples,), optional
        Per-sample weights of the loss (as ``fit(X, y, sample_weight)`` uses them; the model's
        ``class_weight`` is not applied here).

    Returns
    -------
    GradientCheck
        ``ok``, ``max_abs_error``, ``max_rel_error``, ``n_checked`` and per-layer figures.

    Examples
    --------
    >>> import numpy as np, backprop
    >>> X = np.random.default_rng(0).normal(size=(30, 3)); y = np.arange(30) % 3
    >>> backprop.check_gradients(backprop.NeuralNetwork(n_hidden=(4,), activation="tanh", backend="numpy"), X, y).ok
    True
    """
    if not isinstance(model, NeuralNetwork):
        raise TypeError(f"model must be a backprop.NeuralNetwork, got {type(model).__name__}")
    config = _params.validate(model.get_params())
    X = check_array(X, dtype=np.float64)
    weights, T = _problem(model, X, y, config)
    w = check_sample_weight(sample_weight, X.shape[0], np.float64)
    return gradient_check(X, T, weights, backend=config.backend, n_threads=config.n_threads,
                          activation=config.activation, alpha=config.alpha, sample_weight=w, epsilon=epsilon,
                          n_checks=n_checks, rtol=rtol, atol=atol, random_state=random_state)


def gradient_check(
    X: np.ndarray,
    T: np.ndarray,
    weights: List[np.ndarray],
    *,
    backend: str,
    n_threads: int,
    activation: str,
    alpha: float,
    output: Optional[str] = None,
    sample_weight: Optional[np.ndarray] = None,
    epsilon: float = 1e-6,
    n_checks: Optional[int] = None,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    random_state: Any = 0,
) -> GradientCheck:
    """:func:`check_gradients` on a problem given in the kernels' terms: float64 ``X`` (n, d),
    targets ``T`` as the kernels take them, ``weights`` (float64, changed and restored), the
    backend's name and the loss's options, any output of ``reference.OUTPUTS`` included (the
    scikit-learn drop-ins check their regressors and multilabel models with it)."""
    # Checked first: a negative or NaN tolerance would only make ``ok`` False, read as a wrong gradient.
    epsilon = check_finite_real(epsilon, "epsilon", 0.0, strict=True)
    rtol = check_finite_real(rtol, "rtol")
    atol = check_finite_real(atol, "atol")
    if n_checks is not None:
        n_checks = check_int(n_checks, "n_checks", 1)
    _params.check("random_state", random_state)
    kernels = BACKENDS[backend]

    def loss_and_gradient(ws: List[np.ndarray]) -> Tuple[float, List[np.ndarray]]:
        loss, grads = kernels.loss_and_gradient(X, T, ws, n_threads, activation, alpha, output=output,
                                                sample_weight=sample_weight)
        return float(loss), [np.asarray(g) for g in grads]

    loss, analytic = loss_and_gradient(weights)
    layers, all_abs, all_rel, ok = [], [], [], True
    for l, (W, idx) in enumerate(zip(weights, _choose(weights, n_checks, random_state))):
        exact = lambda: reference.exact_loss(X, T, weights, activation, alpha, output, sample_weight)  # noqa: E731
        abs_err, rel_err, layer_ok = _check_layer(W, idx, analytic[l], exact, epsilon, rtol, atol)
        layers.append(LayerCheck(l, len(idx), max(abs_err, default=0.0), max(rel_err, default=0.0)))
        all_abs += abs_err
        all_rel += rel_err
        ok = ok and layer_ok
    return GradientCheck(
        ok=bool(ok),
        max_abs_error=float(max(all_abs, default=0.0)),
        max_rel_error=float(max(all_rel, default=0.0)),
        n_checked=len(all_abs),
        layers=tuple(layers),
        rtol=rtol,
        atol=atol,
        loss=loss,
    )


def _check_layer(W: np.ndarray, idx: np.ndarray, analytic: np.ndarray, loss: Any, epsilon: float, rtol: float,
                 atol: float) -> Tuple[List[float], List[float], bool]:
    """Central differences of ``loss()`` for the weights ``idx`` of ``W`` (changed in place, then
    restored) against the analytic gradient: absolute and relative errors, and whether all pass."""
    abs_err, rel_err, ok = [], [], True
    for flat in idx:
        i = np.unravel_index(flat, W.shape)
        w0 = W[i]
        W[i] = w0 + epsilon
        lp = loss()
        W[i] = w0 - epsilon
        lm = loss()
        W[i] = w0
        numeric = (lp - lm) / (2 * epsilon)  # central difference
        a = float(analytic[i])
        err = abs(a - numeric)
        scale = max(abs(a), abs(numeric))
        abs_err.append(err)
        rel_err.append(err / scale if scale > atol else 0.0)
        ok = ok and err <= atol + rtol * abs(numeric)
    return abs_err, rel_err, ok


def _problem(model: NeuralNetwork, X: np.ndarray, y: Any, config: Any) -> Tuple[List[np.ndarray], np.ndarray]:
    """The float64 weights ``fit`` would start from (or the fitted ones) and the targets of ``y``."""
    if model.__sklearn_is_fitted__():
        classes = model.classes_
        if X.shape[1] != model.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but the model was fitted with {model.n_features_in_}")
        y = as_labels(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        check_label_kind(y, classes)
        y_index = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
        if not np.array_equal(classes[y_index], y):
            raise ValueError(f"y holds labels that are not in classes_ {classes!r}")
        weights = [np.array(W, dtype=np.float64) for W in model.weights_]
    else:
        y, classes = check_y(y, X.shape[0])
        y_index = np.searchsorted(classes, y)
        rng = np.random.default_rng(model.random_state)
        if isinstance(model.random_state, (np.random.Generator, np.random.RandomState)):
            rng = np.random.default_rng(copy.deepcopy(model.random_state))  # do not advance the caller's generator
        weights = reference.init_weights(
            X.shape[1], config.n_hidden, rng, np.float64, init=config.init, n_outputs=n_outputs(len(classes))
        )
    return weights, targets(y_index, weights[-1].shape[0], np.dtype(np.float64))


def _choose(weights: List[np.ndarray], n_checks: Optional[int], random_state: Any) -> List[np.ndarray]:
    """Flat indices of the weights to check in each layer (all, or a random share per layer)."""
    sizes = [W.size for W in weights]
    total = sum(sizes)
    if n_checks is None:
        n_checks = min(total, MAX_CHECKS)
    if n_checks >= total:
        return [np.arange(size) for size in sizes]
    rng = np.random.default_rng(random_state)
    return [
        np.sort(rng.choice(size, size=min(size, max(10, round(n_checks * size / total))), replace=False))
        for size in sizes
    ]
