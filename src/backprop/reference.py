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

Every function keeps the dtype of its inputs (float32 stays float32).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import DTypeLike, NDArray

#: A float32 or float64 array (every function keeps its input's dtype).
Array = NDArray[np.floating]

__all__ = [
    "sigmoid",
    "dense_sigmoid_forward",
    "dense_sigmoid_backward",
    "binary_log_loss",
    "binary_log_loss_backward",
    "network_forward",
    "network_backward",
    "gradient_descent_step",
    "init_weights",
    "train",
    "predict_proba",
]


def sigmoid(z: Array) -> Array:
    """Logistic function ``1 / (1 + exp(-z))`` in a form that never overflows.

    ``exp(-|z|)`` is at most 1, so ``sigmoid(z) = 1 / (1 + e)`` for ``z >= 0`` and
    ``e / (1 + e)`` for ``z < 0`` are exact rewrites that stay finite for every finite ``z``
    (|z| up to 1e308).  The C++ kernel (``sigmoid.hpp``) evaluates the same expression.

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
    z = a_prev @ W[:, 1:].T + W[:, 0]  # z^(i) = W^(i) a^(i-1) + b^(i)
    return sigmoid(z)  # a^(i) = sigmoid(z^(i))


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
    n = a_prev.shape[0]
    dW = np.empty_like(W)
    dW[:, 0] = delta.sum(axis=0) / n  # bias: the column of ones in [1, a_prev]
    dW[:, 1:] = delta.T @ a_prev / n  # the transpose sums over the samples
    if not need_delta_prev:
        return dW, None
    delta_prev = (delta @ W[:, 1:]) * (a_prev * (1 - a_prev))
    return dW, delta_prev


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


def network_forward(X: Array, weights: Sequence[Array]) -> List[Array]:
    """Forward pass through every layer (the article's first two equations, repeated).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features, ``a^(0)``.
    weights : sequence of ndarray
        ``W^(1), ..., W^(L)``; ``W^(i)`` has shape (m_i, m_(i-1) + 1), the last has one row.

    Returns
    -------
    list of ndarray
        ``[a^(0) = X, a^(1), ..., a^(L)]``; ``a^(L)`` has shape (n, 1).
    """
    activations = [X]
    for W in weights:
        activations.append(dense_sigmoid_forward(activations[-1], W))
    return activations


def network_backward(activations: Sequence[Array], weights: Sequence[Array], y: Array) -> List[Array]:
    """Backward pass: the delta recurrence from the output layer down to the first.

    Parameters
    ----------
    activations : sequence of ndarray
        The output of :func:`network_forward` for these weights.
    weights : sequence of ndarray
        ``W^(1), ..., W^(L)``.
    y : ndarray of shape (n,)
        Labels, 0 or 1, in the activations' dtype.

    Returns
    -------
    list of ndarray
        ``[dJ/dW^(1), ..., dJ/dW^(L)]``, each shaped like its weight matrix.
    """
    grads: List[Any] = [None] * len(weights)
    delta: Any = binary_log_loss_backward(activations[-1], y[:, None])  # delta^(L), shape (n, 1)
    for i in range(len(weights) - 1, -1, -1):  # layers L .. 1
        grads[i], delta = dense_sigmoid_backward(activations[i], weights[i], delta, need_delta_prev=i > 0)
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


def init_weights(
    n_features: int, n_hidden: Sequence[int], rng: np.random.Generator, dtype: DTypeLike = np.float64
) -> List[Array]:
    """The article's initialisation: every weight (bias included) drawn from N(0, 0.1**2).

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

    Returns
    -------
    list of ndarray
        Layer sizes ``n_features -> n_hidden[0] -> ... -> n_hidden[-1] -> 1``; matrix ``i``
        has shape (size_(i+1), size_i + 1), bias in column 0.
    """
    sizes = [n_features, *n_hidden, 1]
    return [rng.normal(0.0, 0.1, size=(m, k + 1)).astype(dtype) for k, m in zip(sizes[:-1], sizes[1:])]


def train(X: Array, y: Array, weights: List[Array], learning_rate: float, max_iter: int) -> Array:
    """Full-batch gradient descent for ``max_iter`` iterations, updating ``weights`` in place.

    Each iteration is one forward pass, one backward pass and one update of every layer, as in
    the article's ``fit``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features.
    y : ndarray of shape (n,)
        Labels, 0 or 1, in ``X``'s dtype.
    weights : list of ndarray
        Initial weights (see :func:`init_weights`), updated in place.
    learning_rate : float
        Step size.
    max_iter : int
        Number of iterations.

    Returns
    -------
    ndarray of shape (max_iter,)
        The loss curve: the mean log-loss of each iteration's forward pass (before that
        iteration's update).
    """
    loss_curve = np.empty(max_iter, dtype=X.dtype)
    for iteration in range(max_iter):
        activations = network_forward(X, weights)
        loss_curve[iteration] = binary_log_loss(activations[-1][:, 0], y)
        grads = network_backward(activations, weights, y)
        gradient_descent_step(weights, grads, learning_rate)
    return loss_curve


def predict_proba(X: Array, weights: Sequence[Array]) -> Array:
    """P(class 1 | x) for every row of ``X``: the forward pass's output ``a^(L)``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features.
    weights : sequence of ndarray
        The network's weights.

    Returns
    -------
    ndarray of shape (n,)
    """
    return network_forward(X, weights)[-1][:, 0]
