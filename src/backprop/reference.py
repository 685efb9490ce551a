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

import numpy as np

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


def sigmoid(z):
    """Logistic function ``1 / (1 + exp(-z))`` in a form that never overflows.

    ``exp(-|z|)`` is at most 1, so ``sigmoid(z) = 1 / (1 + e)`` for ``z >= 0`` and
    ``e / (1 + e)`` for ``z < 0`` are exact rewrites that stay finite for every finite ``z``
    (|z| up to 1e308).  The C++ kernel (``sigmoid.hpp``) evaluates the same expression.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, e) / (1 + e)


def dense_sigmoid_forward(a_prev, W):
    """One layer forward: ``a = sigmoid(z)``, ``z = [1, a_prev] @ W.T``.

    a_prev (n, k), W (m, k + 1) with the bias in column 0  ->  a (n, m).
    """
    z = a_prev @ W[:, 1:].T + W[:, 0]  # z^(i) = W^(i) a^(i-1) + b^(i)
    return sigmoid(z)  # a^(i) = sigmoid(z^(i))


def dense_sigmoid_backward(a_prev, W, delta, need_delta_prev=True):
    """One layer backward, given ``delta = dJ/dz`` of this layer (without the 1/N).

    Returns ``(dW, delta_prev)``:

    * ``dW = delta.T @ [1, a_prev] / n``: column 0 (bias) is ``delta.sum(0) / n``;
    * ``delta_prev = (delta @ W[:, 1:]) * a_prev * (1 - a_prev)``: the chain rule through
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


def binary_log_loss(y_hat, y):
    """Mean binary log-loss ``-(1/n) sum log(y ? y_hat : 1 - y_hat)``.

    ``y_hat`` is clipped to ``[eps, 1 - eps]`` (eps of its dtype, as scikit-learn does) so that
    a saturated output gives a large finite loss instead of ``inf``.
    """
    eps = np.finfo(y_hat.dtype).eps
    p = np.clip(y_hat, eps, 1 - eps)
    return -np.mean(np.log(np.where(y == 1, p, 1 - p)))


def binary_log_loss_backward(y_hat, y):
    """``delta^(L) = dJ/dz^(L) = y_hat - y`` (sigmoid output + log-loss; 1/N applied later)."""
    return y_hat - y


def network_forward(X, weights):
    """Forward pass.  Returns ``[a^(0) = X, a^(1), ..., a^(L)]``; ``a^(L)`` has shape (n, 1)."""
    activations = [X]
    for W in weights:
        activations.append(dense_sigmoid_forward(activations[-1], W))
    return activations


def network_backward(activations, weights, y):
    """Backward pass (the delta recurrence).  Returns ``[dJ/dW^(1), ..., dJ/dW^(L)]``."""
    grads = [None] * len(weights)
    delta = binary_log_loss_backward(activations[-1], y[:, None])  # delta^(L), shape (n, 1)
    for i in range(len(weights) - 1, -1, -1):  # layers L .. 1
        grads[i], delta = dense_sigmoid_backward(activations[i], weights[i], delta, need_delta_prev=i > 0)
    return grads


def gradient_descent_step(weights, grads, learning_rate):
    """``W^(i) -= learning_rate * dJ/dW^(i)``, in place, for every layer."""
    for W, dW in zip(weights, grads):
        W -= learning_rate * dW


def init_weights(n_features, n_hidden, rng, dtype=np.float64):
    """The article's initialisation: every weight (bias included) drawn from N(0, 0.1**2).

    Layer sizes are ``n_features -> n_hidden[0] -> ... -> n_hidden[-1] -> 1``; matrices are drawn
    in layer order from ``rng`` (a ``numpy.random.Generator``) in float64, then cast to ``dtype``.
    """
    sizes = [n_features, *n_hidden, 1]
    return [rng.normal(0.0, 0.1, size=(m, k + 1)).astype(dtype) for k, m in zip(sizes[:-1], sizes[1:])]


def train(X, y, weights, learning_rate, max_iter):
    """Full-batch gradient descent for ``max_iter`` iterations, updating ``weights`` in place.

    X (n, d), y (n,) of 0/1 in X's dtype.  Returns the loss curve: the mean log-loss of each
    iteration's forward pass (before that iteration's update).
    """
    loss_curve = np.empty(max_iter, dtype=X.dtype)
    for iteration in range(max_iter):
        activations = network_forward(X, weights)
        loss_curve[iteration] = binary_log_loss(activations[-1][:, 0], y)
        grads = network_backward(activations, weights, y)
        gradient_descent_step(weights, grads, learning_rate)
    return loss_curve


def predict_proba(X, weights):
    """P(class 1 | x) for every row of X, shape (n,)."""
    return network_forward(X, weights)[-1][:, 0]
