"""The article's algorithm in plain numpy, written to be read beside the equations.

This module is the contract: the C++ kernels in ``src/cpp/`` compute the same thing, and the
tests hold the two equal.  It is also a complete implementation on its own (``train`` and
``predict_proba``), which ``NeuralNetwork(backend="numpy")`` runs.

Notation (the article's, "ML From Scratch, Part 3: Backpropagation"):

* ``n`` samples, layer ``i`` maps ``k`` inputs to ``m`` outputs;
* ``a^(0) = X`` (n, d);  ``z^(i) = W^(i) a^(i-1) + b^(i)``;  ``a^(i) = sigmoid(z^(i))``;
  ``y_hat = a^(L)``: one sigmoid output unit;
* the bias is folded into the weights: ``W`` has shape ``(m, k + 1)`` and column 0 is ``b``,
  so ``z = [1, a_prev] @ W.T`` (computed as ``a_prev @ W[:, 1:].T + W[:, 0]``, which is the
  same product without materialising the column of ones);
* ``J = -(1/N) sum_i [y_i ln y_hat_i + (1 - y_i) ln(1 - y_hat_i)]``, the mean binary log-loss;
* ``delta^(i) = dJ/dz^(i)`` (scikit-learn's meaning; the article calls this ``error``):
  ``delta^(L) = y_hat - y`` (times 1/N, applied in the gradient),
  ``delta^(i-1) = (delta^(i) @ W^(i)[:, 1:]) * a^(i-1) * (1 - a^(i-1))``,
  ``dJ/dW^(i) = delta^(i).T @ [1, a^(i-1)] / N``;
* full-batch gradient descent: ``W^(i) -= learning_rate * dJ/dW^(i)``.

Beyond the article (the defaults are the article's model, bit for bit):

* hidden activation ``f`` in {sigmoid, tanh, relu, identity}: ``a^(i) = f(z^(i))``, and the
  delta recurrence uses ``f'`` written through the activation value:
  ``delta^(i-1) = (delta^(i) @ W^(i)[:, 1:]) * f'(a^(i-1))``;
* the output layer is chosen by the row count ``m_out`` of the last matrix: one sigmoid unit
  (``m_out == 1``, y of shape (n,), binary log-loss) or a softmax over ``m_out >= 2`` units
  (Y one-hot of shape (n, m_out), ``J = -(1/n) sum_i log P[i, y_i]``); both give
  ``delta^(L) = a^(L) - y``;
* ``output`` picks another output layer and its loss (:data:`OUTPUTS`; None keeps the choice
  by ``m_out`` above): ``"logistic"`` with any ``m_out >= 1`` (a binary log-loss per column,
  summed: multilabel), ``"softmax"``, ``"identity"`` (half squared error) or ``"exp"`` (half
  Poisson deviance); each is the canonical pair whose output delta is ``a^(L) - y``;
* per-sample weights ``sample_weight`` ``w`` (scikit-learn's form): the data loss becomes
  ``sum_i w_i l_i / sum_i w_i``, the output delta ``w_i (a^(L)_i - y_i)``, and every ``1/n``
  (gradient and L2 term) becomes ``1 / sum_i w_i``; without weights ``w_i = 1``;
* L2 penalty ``alpha`` (scikit-learn's), bias not penalised:
  ``J += 0.5 alpha sum_l ||W^(l)[:, 1:]||^2 / n`` and ``dJ/dW^(l) += alpha [0, W^(l)[:, 1:]] / n``;
* mini-batches (consecutive slices of a row order), and the solvers ``gd``, ``momentum``
  (Nesterov or not) and ``adam``, whose state persists across calls of :func:`train`;
* stopping when the training loss stops improving by ``tol`` (scikit-learn's rule).

Every function keeps the dtype of its inputs (float32 stays float32).
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._params import DEFAULTS
from ._validation import check_sample_weight

#: A float32 or float64 array (every function keeps its input's dtype).
Array = NDArray[np.floating]

__all__ = [
    "ACTIVATIONS",
    "OUTPUTS",
    "output_name",
    "output_activation",
    "output_losses",
    "data_loss",
    "SOLVERS",
    "INITS",
    "sigmoid",
    "activation",
    "activation_derivative",
    "softmax",
    "softmax_log_loss",
    "dense_forward",
    "dense_backward",
    "loss_and_gradient",
    "loss",
    "dense_sigmoid_forward",
    "dense_sigmoid_backward",
    "binary_log_loss",
    "binary_log_loss_backward",
    "network_forward",
    "first_layer_logits",
    "scaled_logits",
    "rows_that_may_overflow",
    "scaled_first_layer",
    "exact_loss",
    "network_backward",
    "gradient_descent_step",
    "momentum_step",
    "adam_step",
    "init_weights",
    "losses_from_logits",
    "output_logits",
    "train",
    "predict_proba",
]


def sigmoid(z: Array) -> Array:
    """Logistic function ``1 / (1 + exp(-z))`` in a form that never overflows.

    ``exp(-|z|)`` is at most 1, so ``sigmoid(z) = 1 / (1 + e)`` for ``z >= 0`` and
    ``e / (1 + e)`` for ``z < 0`` are exact rewrites that stay finite for every finite ``z``
    (|z| up to 1e308).  The C++ kernel (``sigmoid_vec`` in ``vecmath.hpp``) evaluates the same expression.

    Parameters
    ----------
    z : ndarray
        Any shape, float32 or float64.

    Returns
    -------
    ndarray
        ``sigmoid(z)``, same shape and dtype, in [0, 1].
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, e) / (1 + e)


def _relu(z: Array) -> Array:
    return np.maximum(z, 0)


def _identity(z: Array) -> Array:
    return z


#: Solvers of :func:`train` (``solver=``), with the number of state arrays each keeps per layer
#: (momentum: the velocity V; adam: the moments M and S).
SOLVERS: dict = {"gd": 0, "momentum": 1, "adam": 2}
#: Initialisations of :func:`init_weights` (``init=``).
INITS = ("normal", "glorot", "he")

#: Hidden-layer activations ``a = f(z)`` by name (``activation=``): the article's sigmoid,
#: ``tanh(z)``, ``max(z, 0)`` and ``z`` (returned as is).
ACTIVATIONS: dict = {"sigmoid": sigmoid, "tanh": np.tanh, "relu": _relu, "identity": _identity}

#: ``f'(z)`` written through the activation value ``a = f(z)`` (what backpropagation keeps):
#: sigmoid ``a (1 - a)``, tanh ``1 - a^2``, relu ``1 if a > 0 else 0``, identity ``1``.
DERIVATIVES: dict = {
    "sigmoid": lambda a: a * (1 - a),
    "tanh": lambda a: 1 - a * a,
    "relu": lambda a: (a > 0).astype(a.dtype),
    "identity": np.ones_like,
}


def _check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {name!r}")


def activation(z: Array, name: str) -> Array:
    """A hidden layer's activation ``a = f(z)``, elementwise: ``ACTIVATIONS[name](z)``.

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.
    name : {"sigmoid", "tanh", "relu", "identity"}

    Returns
    -------
    ndarray
        Same shape and dtype as ``z`` (``"identity"`` returns ``z`` itself).
    """
    _check_activation(name)
    return ACTIVATIONS[name](z)


def activation_derivative(a: Array, name: str) -> Array:
    """``f'(z)`` written through the activation value ``a = f(z)``: ``DERIVATIVES[name](a)``.

    Parameters
    ----------
    a : ndarray
        Activations ``f(z)``.
    name : {"sigmoid", "tanh", "relu", "identity"}

    Returns
    -------
    ndarray
        Same shape and dtype as ``a``.
    """
    _check_activation(name)
    return DERIVATIVES[name](a)


def softmax(z: Array) -> Array:
    """Row-wise softmax ``P[i, c] = exp(z[i, c]) / sum_c' exp(z[i, c'])``, computed stably.

    Subtracting the row maximum first (``e = exp(z - max_c z)``) changes nothing mathematically
    and keeps every exponent <= 0, so nothing overflows; the largest entry of each row is 1.

    Parameters
    ----------
    z : ndarray of shape (n, m)
        Pre-activations of the output layer.

    Returns
    -------
    ndarray of shape (n, m)
        Rows of probabilities summing to 1, in ``z``'s dtype.
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))  # e = exp(z - max_c z)
    return e / e.sum(axis=1, keepdims=True)  # P = e / sum_c e


def softmax_log_loss(P: Array, Y: Array) -> np.floating:
    """Mean multinomial cross-entropy ``J = -(1/n) sum_i log(sum_c Y[i, c] clip(P[i, c]))``.

    With one-hot rows ``Y`` the inner sum picks the probability of the true class; ``P`` is
    clipped to ``[eps, 1 - eps]`` (eps of its dtype), as in :func:`binary_log_loss`.

    Parameters
    ----------
    P : ndarray of shape (n, m)
        Softmax probabilities.
    Y : ndarray of shape (n, m)
        One-hot labels, in ``P``'s dtype.

    Returns
    -------
    numpy scalar
        The mean loss, in ``P``'s dtype.
    """
    eps = np.finfo(P.dtype).eps
    p_true = (Y * np.clip(P, eps, 1 - eps)).sum(axis=1)
    return -np.mean(np.log(p_true))


#: Output layers (``output=``) and the loss each is paired with, per sample i, summed over the
#: m_out columns c (``P = a^(L)``, ``Y`` the targets as an (n, m_out) array):
#:
#: * ``"logistic"``: ``P = sigmoid(z)``, ``l_i = -sum_c [Y ln P + (1 - Y) ln(1 - P)]`` (P clipped
#:   to [eps, 1 - eps]); one column is the article's output, several are independent labels;
#: * ``"softmax"``: ``P = softmax(z)`` (m_out >= 2), ``l_i = -ln sum_c Y clip(P)`` (one-hot Y);
#: * ``"identity"``: ``P = z``, ``l_i = 0.5 sum_c (P - Y)^2`` (half squared error);
#: * ``"exp"``: ``P = exp(z)``, ``l_i = sum_c [Y ln(Y / P) - Y + P]`` (half Poisson deviance,
#:   ``0 ln 0 = 0``); ``exp`` is not clipped (as scikit-learn's): it overflows to inf for z above
#:   about 709 (float64) or 88 (float32), and the loss with it.
#:
#: Each pair is canonical, ``dl_i/dz = P_i - Y_i``, which is the output delta of all four.
OUTPUTS = ("logistic", "softmax", "identity", "exp")


def output_name(n_out: int, output: Optional[str] = None) -> str:
    """The output layer of a network with ``n_out`` output units: ``output``, checked, or by
    default the article's choice, ``"logistic"`` for one unit and ``"softmax"`` for more."""
    if output is None:
        return "logistic" if n_out == 1 else "softmax"
    if output not in OUTPUTS:
        raise ValueError(f"output must be None or one of {OUTPUTS}, got {output!r}")
    if output == "softmax" and n_out < 2:
        raise ValueError("output='softmax' needs at least 2 output units (the last weight matrix has 1 row)")
    return output


def output_activation(z: Array, output: str) -> Array:
    """The output layer's activation ``P = g(z)`` for ``output`` (see :data:`OUTPUTS`); z is (n, m)."""
    if output == "logistic":
        return sigmoid(z)
    if output == "softmax":
        return softmax(z)
    if output == "identity":
        return z
    return np.exp(z)


def losses_from_logits(Z: Array, Y: Array, output: str) -> NDArray[np.float64]:
    """The per-sample log-losses ``l_i`` of ``"logistic"`` or ``"softmax"`` from the output
    layer's logits ``Z`` (n, m), in float64, with the clip of ``Z``'s dtype applied to the log
    (``log clip(p, eps, 1 - eps) = clip(log p, log eps, log(1 - eps))``).

    What float32 training reports: from ``P`` in float32, ``1 - P`` has lost its digits once
    ``|z|`` passes about 8 (and ``-log(1 - P)`` with them); ``log sigmoid(z) = -log(1 + e^-z)``
    and ``log softmax(z) = z - logsumexp(z)`` have not.  (The softmax's ``-sum_c Y log P`` equals
    ``-log sum_c Y P`` for the one-hot ``Y`` it is trained on.)
    """
    eps = float(np.finfo(Z.dtype).eps)
    z = np.asarray(Z, dtype=np.float64)
    if output == "logistic":
        log_p = -np.logaddexp(0.0, np.where(Y != 0, -z, z))  # log P(the label) = log sigmoid(+-z)
        return -np.clip(log_p, np.log(eps), np.log1p(-eps)).sum(axis=1)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -(Y * np.clip(log_p, np.log(eps), np.log1p(-eps))).sum(axis=1)


def output_losses(P: Array, Y: Array, output: str, Z: Optional[Array] = None) -> Array:
    """The per-sample losses ``l_i`` of :data:`OUTPUTS` for outputs ``P`` and targets ``Y``, both
    (n, m).  In float32, given the logits ``Z``, the log-losses come from them
    (:func:`losses_from_logits`, as the kernels compute them)."""
    if Z is not None and P.dtype == np.float32 and output in ("logistic", "softmax"):
        return losses_from_logits(Z, Y, output).astype(P.dtype)
    if output in ("logistic", "softmax"):
        eps = np.finfo(P.dtype).eps
        p = np.clip(P, eps, 1 - eps)
        if output == "softmax":
            return -np.log((Y * p).sum(axis=1))
        return -np.log(np.where(Y != 0, p, 1 - p)).sum(axis=1)
    if output == "identity":
        return 0.5 * ((P - Y) ** 2).sum(axis=1)
    positive = Y > 0
    y_log_y_over_p = np.where(positive, Y * np.log(np.where(positive, Y, 1) / P), 0)  # xlogy(Y, Y / P)
    return (y_log_y_over_p - Y + P).sum(axis=1)


def weight_sum(sample_weight: Optional[Array], n: int) -> float:
    """``sum_i w_i``, what every ``1/n`` of the loss and the gradient becomes with weights (n without)."""
    return n if sample_weight is None else float(np.sum(sample_weight, dtype=np.float64))


def data_loss(P: Array, Y: Array, output: str, sample_weight: Optional[Array] = None,
              average_outputs: bool = False, Z: Optional[Array] = None) -> Any:
    """The data term of ``J``: ``sum_i w_i l_i / sum_i w_i`` (the mean of ``l_i`` without weights).

    ``average_outputs`` divides it by m_out: scikit-learn's ``squared_error`` reports its loss so
    (``np.average(...).mean()`` over the outputs) while its gradient is that of the sum; a
    reported value only, never differentiated here.
    """
    l = output_losses(P, _as_columns(Y), output, Z)
    J = l.mean() if sample_weight is None else (sample_weight * l).sum() / P.dtype.type(weight_sum(sample_weight, 0))
    return J / P.shape[1] if average_outputs else J


def _as_columns(y: Array) -> Array:
    """Targets as (n, m_out): labels (n,) of a one-unit output become one column."""
    return y[:, None] if y.ndim == 1 else y


def dense_forward(a_prev: Array, W: Array, activation_name: str = DEFAULTS.activation) -> Array:
    """One hidden layer forward: ``a = f(z)``, ``z = [1, a_prev] @ W.T``.

    ``activation_name="sigmoid"`` is :func:`dense_sigmoid_forward`, bit for bit.

    Parameters
    ----------
    a_prev : ndarray of shape (n, k)
    W : ndarray of shape (m, k + 1)
        Bias in column 0.
    activation_name : {"sigmoid", "tanh", "relu", "identity"}, default="sigmoid"

    Returns
    -------
    ndarray of shape (n, m)
    """
    z = a_prev @ W[:, 1:].T + W[:, 0]  # z^(i) = W^(i) a^(i-1) + b^(i)
    return activation(z, activation_name)  # a^(i) = f(z^(i))


def dense_backward(
    a_prev: Array, W: Array, delta: Array, need_delta_prev: bool = True, activation_name: str = DEFAULTS.activation,
    weight_sum: Optional[float] = None,
) -> Tuple[Array, Optional[Array]]:
    """One layer backward whose *input* ``a_prev`` came out of the activation ``activation_name``.

    ``dW = delta.T @ [1, a_prev] / n`` (as :func:`dense_sigmoid_backward`; ``n`` is
    ``weight_sum`` when given, the sum of the sample weights that ``delta`` carries) and
    ``delta_prev = (delta @ W[:, 1:]) * f'(a_prev)``, ``f'`` from :func:`activation_derivative`.
    With ``"sigmoid"`` this is :func:`dense_sigmoid_backward`, bit for bit.

    Parameters
    ----------
    a_prev : ndarray of shape (n, k)
    W : ndarray of shape (m, k + 1)
    delta : ndarray of shape (n, m)
        ``delta^(i)`` (without the 1/n).
    need_delta_prev : bool, default=True
    activation_name : {"sigmoid", "tanh", "relu", "identity"}, default="sigmoid"
        The activation that produced ``a_prev`` (irrelevant when ``need_delta_prev`` is false).
    weight_sum : float, optional
        The divisor of the sums over samples (default: the rows n).

    Returns
    -------
    dW : ndarray of shape (m, k + 1)
    delta_prev : ndarray of shape (n, k) or None
    """
    n = a_prev.shape[0] if weight_sum is None else W.dtype.type(weight_sum)
    dW = np.empty_like(W)
    dW[:, 0] = delta.sum(axis=0) / n  # bias: the column of ones in [1, a_prev]
    dW[:, 1:] = delta.T @ a_prev / n  # the transpose sums over the samples
    if not need_delta_prev:
        return dW, None
    delta_prev = (delta @ W[:, 1:]) * activation_derivative(a_prev, activation_name)
    return dW, delta_prev


def dense_sigmoid_forward(a_prev: Array, W: Array) -> Array:
    """One layer forward: ``a = sigmoid(z)``, ``z = [1, a_prev] @ W.T``.

    Parameters
    ----------
    a_prev : ndarray of shape (n, k)
        The previous layer's activations ``a^(i-1)`` (``X`` for the first layer).
    W : ndarray of shape (m, k + 1)
        The layer's weights ``W^(i)``, the bias ``b^(i)`` in column 0.

    Returns
    -------
    ndarray of shape (n, m)
        ``a^(i) = sigmoid(a_prev @ W[:, 1:].T + W[:, 0])``.
    """
    return dense_forward(a_prev, W, "sigmoid")


def dense_sigmoid_backward(
    a_prev: Array, W: Array, delta: Array, need_delta_prev: bool = True
) -> Tuple[Array, Optional[Array]]:
    """One layer backward, given ``delta = dJ/dz`` of this layer (without the 1/N).

    Parameters
    ----------
    a_prev : ndarray of shape (n, k)
        The layer's input ``a^(i-1)``, as in the forward pass.
    W : ndarray of shape (m, k + 1)
        The layer's weights, bias in column 0.
    delta : ndarray of shape (n, m)
        ``delta^(i)``, the layer's ``dJ/dz`` times N.
    need_delta_prev : bool, default=True
        Whether to compute ``delta_prev`` (the first layer does not need it).

    Returns
    -------
    dW : ndarray of shape (m, k + 1)
        ``dJ/dW^(i) = delta.T @ [1, a_prev] / n``; column 0 (bias) is ``delta.sum(0) / n``.
    delta_prev : ndarray of shape (n, k) or None
        ``delta^(i-1) = (delta @ W[:, 1:]) * a_prev * (1 - a_prev)``: the chain rule through
        ``z = W a_prev + b`` (dz/da_prev = W without its bias column) and through the previous
        layer's sigmoid (da/dz = a (1 - a)).  ``None`` when ``need_delta_prev`` is false (the
        first layer: nobody needs dJ/dX).
    """
    return dense_backward(a_prev, W, delta, need_delta_prev, "sigmoid")


def binary_log_loss(y_hat: Array, y: Array) -> np.floating:
    """Mean binary log-loss ``J = -(1/n) sum [y ln y_hat + (1 - y) ln(1 - y_hat)]``.

    ``y_hat`` is clipped to ``[eps, 1 - eps]`` (eps of its dtype, as scikit-learn does) so that
    a saturated output gives a large finite loss instead of ``inf``.

    Parameters
    ----------
    y_hat : ndarray of shape (n,)
        Predicted probabilities of class 1.
    y : ndarray of shape (n,)
        Labels, 0 or 1.

    Returns
    -------
    numpy scalar
        The mean loss, in ``y_hat``'s dtype.
    """
    eps = np.finfo(y_hat.dtype).eps
    p = np.clip(y_hat, eps, 1 - eps)
    return -np.mean(np.log(np.where(y == 1, p, 1 - p)))


def binary_log_loss_backward(y_hat: Array, y: Array) -> Array:
    """The output layer's delta: ``delta^(L) = N dJ/dz^(L) = y_hat - y``.

    The sigmoid's derivative ``y_hat (1 - y_hat)`` cancels the log-loss's denominator, which
    leaves this simple difference; the 1/N is applied later, in the weight gradient.

    Parameters
    ----------
    y_hat : ndarray
        Predicted probabilities ``a^(L)``.
    y : ndarray
        Labels (0 or 1), broadcastable to ``y_hat``.

    Returns
    -------
    ndarray
        ``y_hat - y``.
    """
    return y_hat - y


def network_forward(X: Array, weights: Sequence[Array], activation: str = DEFAULTS.activation,
                    output: Optional[str] = None) -> List[Array]:
    """Forward pass through every layer (the article's first two equations, repeated).

    Hidden layers use ``activation``; the output layer applies ``output``'s activation (see
    :data:`OUTPUTS`; by default one sigmoid unit when the last matrix has one row, the
    article's, else a softmax over its rows).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features, ``a^(0)``.
    weights : sequence of ndarray
        ``W^(1), ..., W^(L)``; ``W^(i)`` has shape (m_i, m_(i-1) + 1).
    activation : {"sigmoid", "tanh", "relu", "identity"}, default="sigmoid"
        Activation of the hidden layers.
    output : {"logistic", "softmax", "identity", "exp"} or None, default=None
        The output layer (None: by the last matrix's rows, see :func:`output_name`).

    Returns
    -------
    list of ndarray
        ``[a^(0) = X, a^(1), ..., a^(L)]``; ``a^(L)`` has shape (n, m_out): by default sigmoid
        probabilities of class 1 (m_out = 1) or softmax rows.
    """
    _check_activation(activation)
    output = output_name(weights[-1].shape[0], output)
    activations = [X]
    for i, W in enumerate(weights):
        if i == 0:
            z = first_layer_logits(X, W)  # z^(1) = W^(1) x + b^(1), exact for huge x too
        else:
            z = activations[-1] @ W[:, 1:].T + W[:, 0]  # z^(i) = W^(i) a^(i-1) + b^(i)
        if i < len(weights) - 1:
            activations.append(ACTIVATIONS[activation](z))  # a^(i) = f(z^(i))
        else:
            activations.append(output_activation(z, output))  # P = g(z^(L))
    return activations


def first_layer_logits(X: Array, W: Array) -> Array:
    """``z = X @ W[:, 1:].T + W[:, 0]``, also for rows whose products overflow the float range.

    With features near the float range (|x| ~ 1e300) the sum ``W x`` can overflow, giving
    ``inf - inf = NaN`` or an infinity of the wrong sign.  Such rows (any non-finite ``z``) are
    recomputed as ``s ((x / s) W^T + b / s)`` in float64, with ``s`` a power of two near
    ``max |x|`` (exact scaling): the inner sum stays finite and only the final product may
    round to an infinity, of the right sign, whose sigmoid is exactly 0 or 1.  A finite ``z``
    means nothing overflowed, so other rows keep the ordinary product.  The C++ kernels do the
    same (``fix_overflowed_rows`` in overflow.hpp).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    W : ndarray of shape (m, d + 1)

    Returns
    -------
    ndarray of shape (n, m)
    """
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected and handled here
        z = X @ W[:, 1:].T + W[:, 0]
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        t, s = scaled_logits(X[bad], W)
        with np.errstate(over="ignore"):
            z[bad] = (t * s).astype(z.dtype)
    return z


def scaled_logits(X: Array, W: Array) -> Tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(t, s)`` with ``z = s t`` the first layer's logits, computed without overflow inside the sums.

    Each row is divided by a power of two ``s`` with ``max |x| / 2 < s`` (exact, and ``s`` itself
    stays finite), so ``t = (x / s) W[:, 1:]^T + b / s`` stays finite; only ``s t`` may round to an
    infinity, of the right sign.  In float64 whatever the input dtype.  Used by
    :func:`first_layer_logits` and :func:`scaled_first_layer`.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    W : ndarray of shape (m, d + 1)

    Returns
    -------
    t : ndarray of shape (n, m)
    s : ndarray of shape (n, 1)
    """
    X = X.astype(np.float64)
    _, e = np.frexp(np.maximum(np.abs(X).max(axis=1), 1.0))  # max |x| < 2**e
    s = np.ldexp(1.0, e - 1)[:, None]  # |x / s| < 2
    Wd = W.astype(np.float64)
    with np.errstate(over="ignore", under="ignore"):
        t = (X / s) @ Wd[:, 1:].T + Wd[:, 0] / s
    return t, s


def rows_that_may_overflow(X: Array, W1: Array) -> Optional[NDArray[np.bool_]]:
    """Mask of the rows whose first-layer sums ``b + W1[:, 1:] x`` could overflow (None if none can).

    Every partial sum of row x is at most ``max_h (|b_h| + sum_j |W1[h, j]|) * max(1, max_j |x_j|)``;
    below a quarter of the dtype's largest value it cannot overflow, whatever the summation order.
    Above, the order decides between inf - inf = NaN and an infinity of either sign, and the
    prediction of such rows takes :func:`scaled_first_layer`.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    W1 : ndarray of shape (m, d + 1)

    Returns
    -------
    ndarray of bool of shape (n,), or None
    """
    limit = float(np.finfo(X.dtype).max) / 4
    with np.errstate(over="ignore"):  # a sum of weights overflowing to inf means "may overflow"
        w = float(np.abs(W1).sum(axis=1, dtype=np.float64).max())
    abs_max = max(-float(X.min()), float(X.max())) if X.size else 0.0
    if max(1.0, abs_max) * w < limit:  # Python floats: inf at worst, no warning
        return None
    rows = np.maximum(np.abs(X).max(axis=1), 1) >= limit / w
    return rows if rows.any() else None


def scaled_first_layer(X: Array, W1: Array, kind: str = "sigmoid") -> Array:
    """``f(X W1[:, 1:]^T + W1[:, 0])`` for rows with huge values, without overflow inside the sums.

    With ``(t, s)`` from :func:`scaled_logits`, ``z = s t`` may round to +-inf, but with the right
    sign, and sigmoid(+-inf) is 1 or 0 (tanh: +-1; relu and identity may give inf, which the
    caller reports).  ``kind="softmax"`` computes ``softmax(s t)`` as ``exp(s (t - max t))``
    normalised: exponents <= 0, no inf - inf; ``kind="exp"`` (the exp output) is ``exp(s t)``.
    The activation is applied in float64, then cast.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    W1 : ndarray of shape (m, d + 1)
    kind : {"sigmoid", "tanh", "relu", "identity", "softmax", "exp"}, default="sigmoid"

    Returns
    -------
    ndarray of shape (n, m), in ``W1``'s dtype
    """
    t, s = scaled_logits(X, W1)
    with np.errstate(over="ignore", under="ignore"):
        if kind == "softmax":
            e = np.exp((t - t.max(axis=1, keepdims=True)) * s)
            return np.ascontiguousarray(e / e.sum(axis=1, keepdims=True), dtype=W1.dtype)
        a = np.exp(t * s) if kind == "exp" else activation(t * s, kind)
    return np.ascontiguousarray(a, dtype=W1.dtype)


def network_backward(
    activations: Sequence[Array],
    weights: Sequence[Array],
    y: Array,
    activation: str = DEFAULTS.activation,
    alpha: float = DEFAULTS.alpha,
    sample_weight: Optional[Array] = None,
) -> List[Array]:
    """Backward pass: the delta recurrence from the output layer down to the first.

    ``delta^(L) = w_i (a^(L)_i - y_i)`` for every output of :data:`OUTPUTS` (``w_i = 1`` without
    weights), and every sum over samples is divided by ``sum_i w_i`` (n without weights).

    Parameters
    ----------
    activations : sequence of ndarray
        The output of :func:`network_forward` for these weights (and this ``activation``).
    weights : sequence of ndarray
        ``W^(1), ..., W^(L)``.
    y : ndarray of shape (n,) or (n, m_out)
        Labels 0/1 (one sigmoid output) or one-hot rows (softmax), or the targets of the other
        outputs (one column: (n,)), in the activations' dtype.
    activation : {"sigmoid", "tanh", "relu", "identity"}, default="sigmoid"
        Activation of the hidden layers.
    alpha : float, default=0.0
        L2 penalty: adds ``alpha * [0, W[:, 1:]] / n`` to each gradient (bias not penalised).
    sample_weight : ndarray of shape (n,), optional
        Per-sample weights ``w_i``, in the activations' dtype.

    Returns
    -------
    list of ndarray
        ``[dJ/dW^(1), ..., dJ/dW^(L)]``, each shaped like its weight matrix.
    """
    n = activations[0].shape[0]
    sw = None if sample_weight is None else activations[0].dtype.type(weight_sum(sample_weight, n))
    grads: List[Any] = [None] * len(weights)
    # delta^(L) = a^(L) - y: the canonical pairs of OUTPUTS alike; times w_i with weights
    delta: Any = binary_log_loss_backward(activations[-1], _as_columns(y))
    if sample_weight is not None:
        delta = delta * sample_weight[:, None]
    for i in range(len(weights) - 1, -1, -1):  # layers L .. 1
        grads[i], delta = dense_backward(activations[i], weights[i], delta, need_delta_prev=i > 0,
                                         activation_name=activation, weight_sum=sw)
        if alpha > 0:  # dJ/dW += alpha [0, W[:, 1:]] / n  (n: sum_i w_i with weights)
            grads[i][:, 1:] += alpha * weights[i][:, 1:] / (n if sw is None else sw)
    return grads


def gradient_descent_step(weights: Sequence[Array], grads: Sequence[Array], learning_rate: float) -> None:
    """One step of gradient descent, ``W^(i) -= learning_rate * dJ/dW^(i)``, in place.

    Parameters
    ----------
    weights : sequence of ndarray
        Updated in place.
    grads : sequence of ndarray
        The output of :func:`network_backward`.
    learning_rate : float
        Step size.
    """
    for W, dW in zip(weights, grads):
        W -= learning_rate * dW


def momentum_step(
    weights: Sequence[Array],
    grads: Sequence[Array],
    velocities: Sequence[Array],
    learning_rate: float,
    momentum: float = DEFAULTS.momentum,
    nesterov: bool = DEFAULTS.nesterov,
) -> None:
    """One step of SGD with momentum (scikit-learn's), updating ``weights`` and ``velocities`` in place.

    ``V = momentum V - learning_rate g``; the update is ``U = momentum V - learning_rate g``
    (Nesterov's look-ahead, with the new V) or ``U = V``; then ``W += U``.

    Parameters
    ----------
    weights, grads, velocities : sequences of ndarray
        ``W^(l)``, ``g = dJ/dW^(l)`` and ``V^(l)``, all of one shape per layer.
    learning_rate, momentum : float
    nesterov : bool, default=True
    """
    for W, g, V in zip(weights, grads, velocities):
        V[...] = momentum * V - learning_rate * g  # V = momentum V - lr g
        U = momentum * V - learning_rate * g if nesterov else V  # Nesterov: look ahead
        W += U


def adam_step(
    weights: Sequence[Array],
    grads: Sequence[Array],
    first_moments: Sequence[Array],
    second_moments: Sequence[Array],
    t: int,
    learning_rate: float,
    beta_1: float = DEFAULTS.beta_1,
    beta_2: float = DEFAULTS.beta_2,
    epsilon: float = DEFAULTS.epsilon,
) -> None:
    """One Adam step (Kingma & Ba, as scikit-learn implements it), updating arrays in place.

    ``M = beta_1 M + (1 - beta_1) g``;  ``S = beta_2 S + (1 - beta_2) g^2``;
    ``lr_t = learning_rate sqrt(1 - beta_2^t) / (1 - beta_1^t)`` (float64, then cast);
    ``W -= lr_t M / (sqrt(S) + epsilon)``.

    Parameters
    ----------
    weights, grads, first_moments, second_moments : sequences of ndarray
        ``W``, ``g``, ``M`` and ``S`` of each layer.
    t : int
        The step number, counting this one (1 for the first step).
    learning_rate, beta_1, beta_2, epsilon : float
    """
    lr_t = float(learning_rate) * np.sqrt(1.0 - float(beta_2) ** t) / (1.0 - float(beta_1) ** t)
    for W, g, M, S in zip(weights, grads, first_moments, second_moments):
        lr_t_w = W.dtype.type(lr_t)
        M[...] = beta_1 * M + (1 - beta_1) * g  # first moment
        S[...] = beta_2 * S + (1 - beta_2) * (g * g)  # second moment
        W += -lr_t_w * M / (np.sqrt(S) + epsilon)


def init_weights(
    n_features: int,
    n_hidden: Sequence[int],
    rng: np.random.Generator,
    dtype: DTypeLike = np.float64,
    init: str = DEFAULTS.init,
    n_outputs: int = 1,
) -> List[Array]:
    """Initial weights, drawn layer by layer in float64 and then cast.

    * ``"normal"`` (the article's): every weight, bias included, from N(0, 0.1**2);
    * ``"glorot"``: ``W[:, 1:] ~ U(-b, b)``, ``b = sqrt(6 / (fan_in + fan_out))``, bias 0;
    * ``"he"``: ``W[:, 1:] ~ N(0, 2 / fan_in)``, bias 0;

    where ``fan_in`` and ``fan_out`` are the layer's input and output sizes.

    Parameters
    ----------
    n_features : int
        Number of input features d.
    n_hidden : sequence of int
        Units of each hidden layer; ``()`` gives logistic regression (one matrix).
    rng : numpy.random.Generator
        Source of the random numbers; matrices are drawn in layer order, in float64.
    dtype : dtype, default=numpy.float64
        Type the matrices are cast to.
    init : {"normal", "glorot", "he"}, default="normal"
    n_outputs : int, default=1
        Units of the output layer: 1 (one sigmoid unit) or the number of classes (softmax).

    Returns
    -------
    list of ndarray
        Layer sizes ``n_features -> n_hidden[0] -> ... -> n_hidden[-1] -> n_outputs``; matrix
        ``i`` has shape (size_(i+1), size_i + 1), bias in column 0.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    sizes = [n_features, *n_hidden, n_outputs]
    weights = []
    for k, m in zip(sizes[:-1], sizes[1:]):  # fan_in = k, fan_out = m
        if init == "normal":
            W = rng.normal(0.0, 0.1, size=(m, k + 1))
        else:
            W = np.zeros((m, k + 1))
            if init == "glorot":
                bound = np.sqrt(6.0 / (k + m))
                W[:, 1:] = rng.uniform(-bound, bound, size=(m, k))
            else:
                W[:, 1:] = rng.normal(0.0, np.sqrt(2.0 / k), size=(m, k))
        weights.append(W.astype(dtype))
    return weights


def _penalty(weights: Sequence[Array], alpha: float, n: Any) -> Any:
    """``0.5 alpha sum_l ||W^(l)[:, 1:]||^2 / n`` (the bias column is not penalised; n is
    ``sum_i w_i`` with sample weights)."""
    sq = sum(np.sum(W[:, 1:] ** 2) for W in weights)
    return 0.5 * alpha * sq / n


def output_logits(activations: Sequence[Array], weights: Sequence[Array]) -> Array:
    """``z^(L)``, the output layer's logits, from ``a^(L-1)`` as :func:`network_forward` computes them."""
    a, W = activations[-2], weights[-1]
    return first_layer_logits(a, W) if len(weights) == 1 else a @ W[:, 1:].T + W[:, 0]


def _loss(activations: Sequence[Array], y: Array, weights: Sequence[Array], alpha: float, output: str,
          sample_weight: Optional[Array], average_outputs: bool) -> Any:
    """``J`` of one batch: :func:`data_loss` plus the L2 term over ``sum_i w_i`` (n without weights).
    float32 log-losses are taken from the logits (see :func:`losses_from_logits`)."""
    P = activations[-1]
    Z = output_logits(activations, weights) if P.dtype == np.float32 and output in ("logistic", "softmax") else None
    J = data_loss(P, y, output, sample_weight, average_outputs, Z)
    if alpha > 0:
        J = J + _penalty(weights, alpha, weight_sum(sample_weight, P.shape[0]))
    return J


def loss_and_gradient(
    X: Array, y: Array, weights: Sequence[Array], activation: str = DEFAULTS.activation, alpha: float = DEFAULTS.alpha,
    output: Optional[str] = None, sample_weight: Optional[Array] = None, average_outputs: bool = False,
) -> Tuple[float, List[Array]]:
    """The full-batch loss ``J`` and its gradient ``dJ/dW^(l)`` for every layer (no update).

    ``J = sum_i w_i l_i / sum_i w_i + 0.5 alpha sum_l ||W^(l)[:, 1:]||^2 / sum_i w_i`` with the
    per-sample loss ``l_i`` of ``output`` (:data:`OUTPUTS`; by default the binary log-loss of one
    output unit or the softmax cross-entropy of several) and ``w_i = 1`` without
    ``sample_weight``, as :func:`train` records it; the gradient is :func:`network_backward`'s.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,) or (n, m_out)
        Labels 0/1, or one-hot rows for a softmax output, or the targets of the other outputs
        ((n,) for one output unit); in ``X``'s dtype.
    weights : sequence of ndarray
    activation : {"sigmoid", "tanh", "relu", "identity"}, default="sigmoid"
    alpha : float, default=0.0
    output : {"logistic", "softmax", "identity", "exp"} or None, default=None
    sample_weight : ndarray of shape (n,), optional
        Per-sample weights (see :func:`backprop._validation.check_sample_weight` for the rule).
    average_outputs : bool, default=False
        The returned loss divides the data term by m_out (scikit-learn's reported
        ``squared_error``); the gradient is unchanged (it stays that of ``J``).

    Returns
    -------
    loss : float
    grads : list of ndarray
        Shaped like ``weights``, in their dtype.
    """
    activations, J, sample_weight = _forward_and_loss(X, y, weights, activation, alpha, output, sample_weight,
                                                      average_outputs)
    return J, network_backward(activations, weights, y, activation, alpha, sample_weight)


def loss(
    X: Array, y: Array, weights: Sequence[Array], activation: str = DEFAULTS.activation, alpha: float = DEFAULTS.alpha,
    output: Optional[str] = None, sample_weight: Optional[Array] = None, average_outputs: bool = False,
) -> float:
    """The loss ``J`` of :func:`loss_and_gradient` alone (the same arguments; no backward pass)."""
    return _forward_and_loss(X, y, weights, activation, alpha, output, sample_weight, average_outputs)[1]


def _forward_and_loss(X: Array, y: Array, weights: Sequence[Array], activation: str, alpha: float,
                      output: Optional[str], sample_weight: Optional[Array],
                      average_outputs: bool) -> Tuple[List[Array], float, Optional[Array]]:
    """The activations of :func:`network_forward`, ``J`` and the checked sample weights."""
    sample_weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    output = output_name(weights[-1].shape[0], output)
    activations = network_forward(X, weights, activation, output)
    J = _loss(activations, y, weights, alpha, output, sample_weight, average_outputs)
    return activations, float(J), sample_weight


def exact_loss(X: Array, y: Array, weights: Sequence[Array], activation: str = DEFAULTS.activation,
               alpha: float = DEFAULTS.alpha, output: Optional[str] = None,
               sample_weight: Optional[Array] = None) -> float:
    """The training loss ``J`` computed exactly from the output logits, in float64.

    ``binary_log_loss`` and ``softmax_log_loss`` clip the probabilities to ``[eps, 1 - eps]``
    (scikit-learn's definition, which ``loss_curve_`` follows) and lose digits in ``log(1 - p)``
    when ``p`` is near 1; their value flattens once a logit passes about 36.  This is the same
    loss without either, per sample and summed over the output columns: ``log(1 + e^z) - y z``
    for ``"logistic"`` (log-sigmoid), ``logsumexp(z) - z_y`` for a softmax (log-softmax),
    ``0.5 (z - y)^2`` for ``"identity"`` and ``y ln y - y z - y + e^z`` for ``"exp"``; then
    weighted by ``sample_weight`` as :func:`loss_and_gradient` does, plus the L2 term.  Its
    gradient is the backpropagated one exactly (``delta^(L) = w (a^(L) - y)`` is the derivative
    of the unclipped loss), so finite differences of it check that gradient at any logit.
    """
    X = np.asarray(X, dtype=np.float64)
    ws = [np.asarray(W, dtype=np.float64) for W in weights]
    output = output_name(ws[-1].shape[0], output)
    a = X
    for i, W in enumerate(ws):  # the hidden layers as network_forward computes them, then the logits
        z = first_layer_logits(a, W) if i == 0 else a @ W[:, 1:].T + W[:, 0]
        if i < len(ws) - 1:
            a = ACTIVATIONS[activation](z)
    Y = _as_columns(np.asarray(y, dtype=np.float64))
    if output == "logistic":
        per_sample = (np.logaddexp(0.0, z) - Y * z).sum(axis=1)  # -log sigmoid(z) if y else -log(1 - sigmoid(z))
    elif output == "softmax":
        top = z.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
        per_sample = lse - (Y * z).sum(axis=1)  # -log softmax(z)_y
    elif output == "identity":
        per_sample = 0.5 * ((z - Y) ** 2).sum(axis=1)
    else:
        y_log_y = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0)  # xlogy(y, y)
        per_sample = (y_log_y - Y * z - Y + np.exp(z)).sum(axis=1)  # y ln(y / e^z) - y + e^z
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    J = float(per_sample.mean()) if w is None else float((w * per_sample).sum() / w.sum())
    if alpha > 0:
        J += float(_penalty(ws, alpha, weight_sum(w, X.shape[0])))
    return J


def _batch_loss_and_step(
    X: Array, y: Array, weights: List[Array], activation: str, alpha: float, step: Callable[[List[Array]], None],
    output: str, sample_weight: Optional[Array], average_outputs: bool,
) -> Any:
    """One batch: its loss ``J_b`` (data loss + ``0.5 alpha sq / sum_b w``) at the current weights,
    then ``step`` with its gradient.  Returns ``(J_b, activations)``: the caller keeps the
    activations until the next batch has made its own, see :func:`train`.

    A batch whose weights are all zero holds no data: its loss and its gradient (L2 term
    included) are 0, and the solver steps with that zero gradient.  (scikit-learn divides 0 by 0
    there, which makes its weights NaN.)"""
    activations = network_forward(X, weights, activation, output)
    if sample_weight is not None and weight_sum(sample_weight, 0) == 0:
        step([np.zeros_like(W) for W in weights])
        return X.dtype.type(0), activations
    J = _loss(activations, y, weights, alpha, output, sample_weight, average_outputs)
    step(network_backward(activations, weights, y, activation, alpha, sample_weight))
    return J, activations


def train(
    X: Array,
    y: Array,
    weights: List[Array],
    learning_rate: float,
    max_iter: int,
    *,
    activation: str = DEFAULTS.activation,
    alpha: float = DEFAULTS.alpha,
    batch_size: Optional[int] = DEFAULTS.batch_size,
    order: Optional[NDArray[np.int64]] = None,
    solver: str = DEFAULTS.solver,
    momentum: float = DEFAULTS.momentum,
    nesterov: bool = DEFAULTS.nesterov,
    beta_1: float = DEFAULTS.beta_1,
    beta_2: float = DEFAULTS.beta_2,
    epsilon: float = DEFAULTS.epsilon,
    solver_state: Optional[List[Array]] = None,
    counters: Optional[NDArray[np.float64]] = None,
    tol: Optional[float] = DEFAULTS.tol,
    n_iter_no_change: int = DEFAULTS.n_iter_no_change,
    epoch_hook: Optional[Callable[[int, float], Any]] = None,
    output: Optional[str] = None,
    sample_weight: Optional[Array] = None,
    average_outputs: bool = False,
) -> Array:
    """Train for up to ``max_iter`` epochs, updating ``weights`` in place.

    With the defaults this is the article's full-batch gradient descent: each iteration is one
    forward pass, one backward pass and one update of every layer.

    An epoch walks the rows in ``order`` (natural order if None) in consecutive batches of
    ``batch_size`` rows (the last may be shorter; None, 0 or >= n: one batch of all rows, taken
    in natural order, since the full-batch gradient does not depend on the order).  After each
    batch the solver updates the weights with that batch's gradient ``g``:

    * ``"gd"``: ``W -= learning_rate g``;
    * ``"momentum"``: see :func:`momentum_step`;
    * ``"adam"``: see :func:`adam_step`.

    The loss recorded for an epoch is ``J`` of the single batch (full batch), else
    ``sum_b J_b n_b / n`` over its batches (``n_b`` its rows, also with weights: scikit-learn's
    accumulation), each ``J_b`` computed with the weights before that batch's update (the
    penalty term uses ``n_b``, or the batch's ``sum w`` with weights, as the gradient does).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features.
    y : ndarray of shape (n,) or (n, m_out)
        Labels 0/1 in ``X``'s dtype (one sigmoid output), or one-hot rows (softmax output).
    weights : list of ndarray
        Initial weights (see :func:`init_weights`), updated in place.
    learning_rate : float
        Step size.
    max_iter : int
        Maximum number of epochs.
    activation : {"sigmoid", "tanh", "relu", "identity"}, default="sigmoid"
        Hidden activation.
    alpha : float, default=0.0
        L2 penalty (scikit-learn's; bias not penalised).
    batch_size : int or None, default=None
        Rows per batch; None (or 0, or >= n) for full batch.
    order : ndarray of int64, shape (n,) or (max_iter, n), optional
        A permutation of ``range(n)``: the row order of every epoch of this call, or one row
        per epoch (each a permutation).
    solver : {"gd", "momentum", "adam"}, default="gd"
    momentum : float, default=0.9
    nesterov : bool, default=True
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters.
    solver_state : list of ndarray, optional
        The solver's arrays, updated in place so that training resumes across calls:
        ``[]`` (gd), ``[V_1..V_L]`` (momentum), ``[M_1..M_L, S_1..S_L]`` (adam), each shaped
        like its weights.  None: fresh zeros, not returned.
    counters : ndarray of float64, shape (3,), optional
        ``[t, best_loss, no_improvement_count]`` (Adam's step count, and the state of the
        ``tol`` rule), updated in place.  None: ``[0, inf, 0]``, not returned.
    tol : float or None, default=None
        None: run ``max_iter`` epochs.  Else after each epoch (scikit-learn's rule): the count
        grows when ``loss > best_loss - tol`` and resets otherwise; ``best_loss`` tracks the
        minimum; training stops after an epoch that makes the count exceed ``n_iter_no_change``.
    n_iter_no_change : int, default=10
    epoch_hook : callable, optional
        Called after each epoch as ``epoch_hook(epoch, loss)`` (``epoch`` counts from 1 within
        this call, the weights already updated); returning ``False`` stops training after that
        epoch.  This is how the estimator runs callbacks, early stopping and progress reports.
    output : {"logistic", "softmax", "identity", "exp"} or None, default=None
        The output layer and its loss (:data:`OUTPUTS`; None: by the last matrix's rows).
    sample_weight : ndarray of shape (n,), optional
        Per-sample weights of the loss, its gradient and the L2 term (scikit-learn's form).
    average_outputs : bool, default=False
        The recorded loss (and so ``tol``'s rule and ``epoch_hook``) divides the data term by
        m_out, as scikit-learn reports ``squared_error``; the gradient is unchanged.

    Returns
    -------
    ndarray of shape (n_epochs,)
        The loss curve, one value per epoch run (``max_iter`` unless ``tol`` stopped it).
    """
    _check_activation(activation)
    output = output_name(weights[-1].shape[0], output)
    sample_weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {tuple(SOLVERS)}, got {solver!r}")
    L = len(weights)
    if solver_state is None:
        solver_state = [np.zeros_like(W) for _ in range(SOLVERS[solver]) for W in weights]
    if counters is None:
        counters = np.array([0.0, np.inf, 0.0])
    n = X.shape[0]
    full_batch = batch_size is None or batch_size == 0 or batch_size >= n
    # the row order of each epoch (a full batch reads the rows in place: its gradient does not
    # depend on their order)
    orders: Any = np.arange(n)[None] if order is None else np.asarray(order).reshape(-1, n)

    def step(grads: List[Array]) -> None:
        if solver == "gd":
            gradient_descent_step(weights, grads, learning_rate)
        elif solver == "momentum":
            momentum_step(weights, grads, solver_state, learning_rate, momentum, nesterov)
        else:
            counters[0] += 1  # t, shared by every layer
            adam_step(weights, grads, solver_state[:L], solver_state[L:], int(counters[0]), learning_rate, beta_1, beta_2, epsilon)

    loss_curve = np.empty(max_iter, dtype=X.dtype)
    # `held` keeps the last batch's activations alive while the next batch allocates its own:
    # freed first, the allocator would hand their memory back to the system and every batch
    # would fault it in again (a few times the cost of the arithmetic at the article's size).
    held = None
    for epoch in range(max_iter):
        if full_batch:
            loss, held = _batch_loss_and_step(X, y, weights, activation, alpha, step, output, sample_weight,
                                              average_outputs)
        else:
            acc = 0.0
            rows = orders[epoch % len(orders)]  # this epoch's row order
            for idx in (rows[s : s + batch_size] for s in range(0, n, batch_size)):
                w_b = None if sample_weight is None else sample_weight[idx]
                J_b, held = _batch_loss_and_step(X[idx], y[idx], weights, activation, alpha, step, output, w_b,
                                                 average_outputs)
                acc += float(J_b) * idx.shape[0]  # acc += J_b n_b
            loss = acc / n  # J = sum_b J_b n_b / n
        loss_curve[epoch] = loss
        if tol is not None:  # scikit-learn's no-improvement rule on the training loss
            loss = float(loss_curve[epoch])
            counters[2] = counters[2] + 1 if loss > counters[1] - tol else 0
            counters[1] = min(counters[1], loss)
            if counters[2] > n_iter_no_change:
                return loss_curve[: epoch + 1]
        if epoch_hook is not None and epoch_hook(epoch + 1, float(loss_curve[epoch])) is False:
            return loss_curve[: epoch + 1]
    return loss_curve


def predict_proba(X: Array, weights: Sequence[Array], activation: str = DEFAULTS.activation,
                  output: Optional[str] = None) -> Array:
    """The network's output for every row of ``X``: the forward pass's ``a^(L)``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features.
    weights : sequence of ndarray
        The network's weights.
    activation : {"sigmoid", "tanh", "relu", "identity"}, default="sigmoid"
        Hidden activation.
    output : {"logistic", "softmax", "identity", "exp"} or None, default=None
        The output layer's activation (:data:`OUTPUTS`; None: by the last matrix's rows).

    Returns
    -------
    ndarray of shape (n,) or (n, m_out)
        By default P(class 1) for one sigmoid output unit (the article's) and softmax rows when
        the last matrix has ``m_out >= 2`` rows; else ``output``'s activation of the logits,
        (n,) for one output unit.
    """
    a_out = network_forward(X, weights, activation, output)[-1]
    return a_out[:, 0] if a_out.shape[1] == 1 else a_out
