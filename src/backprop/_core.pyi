"""Type stub of ``backprop._core``, the compiled module (``src/cpp/bindings.cpp``).

Private: use :class:`backprop.NeuralNetwork`.  Every function takes C-contiguous float64 or
float32 arrays (all of one dtype, chosen by the first array argument), checks dtype, shape,
contiguity and writeability, and raises ``TypeError`` / ``ValueError`` before touching memory;
nothing is converted or copied.  Long work runs with the GIL released.
"""

from typing import List, Optional, Tuple, TypeVar

import numpy as np
from numpy.typing import NDArray

_F = TypeVar("_F", np.float32, np.float64)

simd_width_bytes: int
"""Width of the SIMD vectors the kernels were compiled for, in bytes (32 for AVX2)."""

isa: str
"""Instruction set the kernels were compiled for: ``"avx512"``, ``"avx2"`` or ``"baseline"``."""

def default_threads() -> int:
    """Number of hardware threads (what ``n_threads=None`` uses).

    Returns
    -------
    int
        At least 1.
    """

def train(
    X: NDArray[_F],
    y: NDArray[_F],
    weights: List[NDArray[_F]],
    learning_rate: float,
    max_iter: int,
    n_threads: int,
) -> Tuple[NDArray[_F], int]:
    """Full-batch gradient descent on the article's network, updating ``weights`` in place.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features, C-contiguous float64 or float32.
    y : ndarray of shape (n,)
        Labels in {0, 1}, same dtype as ``X``.
    weights : list of ndarray
        ``weights[l]`` of shape (m_l, k_l + 1), column 0 the bias, C-contiguous and writeable,
        same dtype as ``X``; the last has one row.  Updated in place.
    learning_rate : float
        Step size (finite).
    max_iter : int
        Iterations (>= 0).
    n_threads : int
        Threads (>= 1); the result does not depend on it.

    Returns
    -------
    loss_curve : ndarray of shape (n_iter,)
        Mean log-loss of each iteration's forward pass (before its update).
    n_iter : int
        Iterations run (``max_iter`` unless interrupted by Ctrl-C, which raises).
    """

def predict_proba(
    X: NDArray[_F],
    weights: List[NDArray[_F]],
    n_threads: int,
    two_columns: bool = False,
    check_finite: bool = False,
) -> Optional[NDArray[_F]]:
    """P(class 1) for each row of ``X``: the network's forward pass.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features, C-contiguous float64 or float32.
    weights : list of ndarray
        As for :func:`train` (need not be writeable).
    n_threads : int
        Threads (>= 1); small inputs run on the calling thread only.
    two_columns : bool, default=False
        Return ``(n, 2)`` columns ``[1 - p, p]`` instead of ``p``.
    check_finite : bool, default=False
        Raise ``ValueError`` when ``X`` holds NaN or infinity, and return ``None`` when its
        values are so large that a first-layer sum could overflow (the caller then takes an
        exact path).

    Returns
    -------
    ndarray of shape (n,) or (n, 2), or None
    """

def dense_sigmoid_forward(a_prev: NDArray[_F], W: NDArray[_F]) -> NDArray[_F]:
    """One layer forward: ``sigmoid(a_prev @ W[:, 1:].T + W[:, 0])``.

    Parameters
    ----------
    a_prev : ndarray of shape (n, k)
    W : ndarray of shape (m, k + 1)
        Column 0 is the bias.

    Returns
    -------
    ndarray of shape (n, m)
    """

def dense_sigmoid_backward(
    a_prev: NDArray[_F], W: NDArray[_F], delta: NDArray[_F], need_delta_prev: bool = True
) -> Tuple[NDArray[_F], Optional[NDArray[_F]]]:
    """One layer backward, given ``delta = dJ/dz`` of this layer (without the 1/n).

    Parameters
    ----------
    a_prev : ndarray of shape (n, k)
        The layer's input (n >= 1).
    W : ndarray of shape (m, k + 1)
    delta : ndarray of shape (n, m)
    need_delta_prev : bool, default=True
        Compute ``delta_prev`` (not needed for the first layer).

    Returns
    -------
    dW : ndarray of shape (m, k + 1)
        ``dW[:, 0] = delta.sum(0) / n``, ``dW[:, 1:] = delta.T @ a_prev / n``.
    delta_prev : ndarray of shape (n, k) or None
        ``(delta @ W[:, 1:]) * a_prev * (1 - a_prev)``; None unless ``need_delta_prev``.
    """

def sigmoid(z: NDArray[_F]) -> NDArray[_F]:
    """Numerically stable elementwise sigmoid of a 1-D array (the kernel the layers use).

    Parameters
    ----------
    z : ndarray of shape (n,)

    Returns
    -------
    ndarray of shape (n,)
    """

def binary_log_loss(p: NDArray[_F], y: NDArray[_F]) -> float:
    """Mean binary log-loss of probabilities ``p`` against labels ``y`` in {0, 1}.

    Parameters
    ----------
    p : ndarray of shape (n,)
        Probabilities (n >= 1).
    y : ndarray of shape (n,)
        Labels, same dtype as ``p``.

    Returns
    -------
    float
    """
