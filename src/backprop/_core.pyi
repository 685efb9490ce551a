"""Type stub of ``backprop._core``, the compiled module (``src/cpp/bindings.cpp``).

Private: use :class:`backprop.NeuralNetwork`.  Every function takes C-contiguous float64 or
float32 arrays (all of one dtype, chosen by the first array argument), checks dtype, shape,
contiguity and writeability, and raises ``TypeError`` / ``ValueError`` before touching memory;
nothing is converted or copied.  Long work runs with the GIL released.  Every argument is
required: the defaults of the options live in ``backprop._params`` (the estimator's parameter
table), not here.
"""

from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

import numpy as np
from numpy.typing import NDArray

_F = TypeVar("_F", np.float32, np.float64)

__version__: str
"""The project's version, as compiled in (the same as ``backprop.__version__``)."""

simd_width_bytes: int
"""Width of the SIMD vectors the kernels were compiled for, in bytes (32 for AVX2)."""

isa: str
"""Instruction set the kernels were compiled for: ``"avx512"``, ``"avx2"`` or ``"baseline"``."""

MIN_WORK_PER_THREAD: int
"""Multiply-adds of a forward pass that each further thread of a team must have (predict_proba's
rule for splitting its rows)."""

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
    *,
    activation: str,
    alpha: float,
    batch_size: Optional[int],
    order: Optional[NDArray[np.int64]],
    solver: str,
    momentum: float,
    nesterov: bool,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    solver_state: List[NDArray[_F]],
    counters: Optional[NDArray[np.float64]],
    tol: Optional[float],
    n_iter_no_change: int,
    epoch_hook: Optional[Callable[[int, float], Any]],
    output: Optional[str] = None,
    sample_weight: Optional[Any] = None,
    average_outputs: bool = False,
    huge_inputs: Optional[bool] = None,
) -> Tuple[NDArray[_F], int]:
    """Trains the network for ``max_iter`` epochs, updating ``weights`` in place.

    The numpy twin is :func:`backprop.reference.train` (same keywords, same results).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features, C-contiguous float64 or float32.
    y : ndarray of shape (n,) or (n, m_L)
        Labels in {0, 1} when the last weight matrix has one row (one sigmoid output unit), else
        one-hot rows (a softmax over its m_L rows); with ``output``, its targets ((n,) for one
        output unit); same dtype as ``X``.
    weights : list of ndarray
        ``weights[l]`` of shape (m_l, k_l + 1), column 0 the bias, C-contiguous and writeable,
        same dtype as ``X``.  Updated in place.
    learning_rate : float
        Step size (finite).
    max_iter : int
        Epochs (>= 0).
    n_threads : int
        Threads (>= 1); the result does not depend on it.
    activation : {"sigmoid", "tanh", "relu", "identity"}
        The hidden layers' function.
    alpha : float
        L2 penalty (>= 0) on the non-bias weights, scikit-learn's definition.
    batch_size : int or None
        Rows per batch (one update per batch); None: the whole data (full batch).
    order : ndarray of int64, shape (n,) or (max_iter, n), or None
        A permutation of the rows; the batches take consecutive runs of it (None: natural order);
        2-D: one permutation per epoch.
    solver : {"gd", "momentum", "adam"}
        Update rule; ``momentum``/``nesterov`` and ``beta_1``/``beta_2``/``epsilon`` are its parameters.
    solver_state : list of ndarray
        Writeable arrays shaped like the weights, updated in place: ``[]`` (gd), ``[V_1..V_L]``
        (momentum), ``[M_1..M_L, S_1..S_L]`` (adam).
    counters : ndarray of float64, shape (3,), or None
        ``[adam step t, best loss, epochs without improvement]``, updated in place.
    tol : float or None
        Stop when the loss has not improved by ``tol`` for more than ``n_iter_no_change`` epochs
        (None: never).
    n_iter_no_change : int
        See ``tol`` (>= 1).
    epoch_hook : callable or None
        ``epoch_hook(epoch, loss)`` after each epoch (``epoch`` from 1 within this call; the
        weights already updated; the GIL held, the other threads waiting); returning ``False``
        stops training after that epoch, an exception stops it and propagates.
    output : {"logistic", "softmax", "identity", "exp"} or None
        The output layer and its loss (``backprop.reference.OUTPUTS``); None: one sigmoid unit,
        or a softmax over m_L >= 2 units.
    sample_weight : array of shape (n,) or None
        Per-sample weights (>= 0, finite, not all zero; converted to X's dtype).
    average_outputs : bool
        The recorded loss (curve, ``tol``, hook) divides the data term by m_L, as scikit-learn
        reports its squared error; the gradient is unchanged.
    huge_inputs : bool, optional
        :func:`has_huge_values` of X when the caller knows it (a driver calling once per
        epoch on the same X); None scans X.  A wrong answer gives wrong sums for rows whose
        first-layer sums overflow, never unsafe memory.

    Returns
    -------
    loss_curve : ndarray of shape (n_iter,)
        The loss of each epoch (for a full batch: of its forward pass, before its update).
    n_iter : int
        Epochs run (``max_iter`` unless stopped by ``tol``; Ctrl-C raises).
    """

def loss_and_gradient(
    X: NDArray[_F],
    y: NDArray[_F],
    weights: List[NDArray[_F]],
    n_threads: int,
    *,
    activation: str,
    alpha: float,
    output: Optional[str] = None,
    sample_weight: Optional[Any] = None,
    average_outputs: bool = False,
    huge_inputs: Optional[bool] = None,
) -> Tuple[float, List[NDArray[_F]]]:
    """The mean loss (with the L2 term) and its gradient at ``weights``, over all of ``X``.

    Parameters
    ----------
    X, y, weights, n_threads, activation, alpha, output, sample_weight, average_outputs
        As for :func:`train` (the weights need not be writeable; they are not changed).
    huge_inputs : bool, optional
        As for :func:`train`.

    Returns
    -------
    loss : float
        Computed in double precision.
    grads : list of ndarray
        ``dJ/dW_l``, shaped like ``weights[l]``.
    """

def loss(
    X: NDArray[_F],
    y: NDArray[_F],
    weights: List[NDArray[_F]],
    n_threads: int,
    *,
    activation: str,
    alpha: float,
    output: Optional[str] = None,
    sample_weight: Optional[Any] = None,
    average_outputs: bool = False,
    huge_inputs: Optional[bool] = None,
) -> float:
    """:func:`loss_and_gradient`'s loss alone, the same value bit for bit, by the forward pass
    (no backward pass: about a third of the work).  The same arguments, checked the same way."""

def has_huge_values(X: NDArray[_F]) -> bool:
    """Whether some ``|x|`` of the C-contiguous 1-D or 2-D float array X reaches the square root of
    its dtype's largest value: the rule by which training takes the overflow-safe first layer."""

def scan_values(X: NDArray[_F], n_threads: int = 1) -> Tuple[bool, bool]:
    """``(finite, huge)`` of the C-contiguous 1-D or 2-D float array X in one pass, on up to
    ``n_threads`` threads: whether every value is finite, and :func:`has_huge_values` of X when it
    is (when it is not, ``huge`` may be False wrongly: the pass stops at the first chunk with a
    value that is not finite)."""

def predict_proba(
    X: NDArray[_F],
    weights: List[NDArray[_F]],
    n_threads: int,
    two_columns: bool,
    check_finite: bool,
    activation: str,
    output: Optional[str] = None,
) -> Optional[NDArray[_F]]:
    """The network's output for each row of ``X``: P(class 1), or softmax rows.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features, C-contiguous float64 or float32.
    weights : list of ndarray
        As for :func:`train` (need not be writeable).
    n_threads : int
        Threads (>= 1); small inputs run on the calling thread only.
    two_columns : bool
        Return ``(n, 2)`` columns ``[1 - p, p]`` instead of ``p``.
    check_finite : bool
        Raise ``ValueError`` when ``X`` holds NaN or infinity, and return ``None`` when its
        values are so large that a first-layer sum could overflow (the caller then takes an
        exact path).
    activation : {"sigmoid", "tanh", "relu", "identity"}
        The hidden layers' function.
    output : {"logistic", "softmax", "identity", "exp"} or None
        The output layer as for :func:`train`: its activation is applied (identity: z, exp:
        exp(z)); ``two_columns`` applies to one sigmoid unit only.

    Returns
    -------
    ndarray of shape (n,) or (n, 2), or (n, m_L) when m_L >= 2, or None
    """

def predictor(
    activation: str, output: Optional[str] = None
) -> Callable[[NDArray[_F], List[NDArray[_F]], int, bool, bool], Optional[NDArray[_F]]]:
    """:func:`predict_proba` with ``activation`` (checked here, once) and ``output`` bound.

    Returns ``f(X, weights, n_threads, two_columns, check_finite)``, the one-row paths' call: it
    skips the keyword matching and the activation's parsing, a third of such a call.
    """

def predict_lane(state: Dict[str, Any], X: Any, two_columns: bool, checked: bool) -> Optional[NDArray[_F]]:
    """The estimator's prediction of a few rows in one call, or None: its ``__dict__`` and ``X`` read
    in C++ (``NeuralNetwork.predict_proba``, ``predict`` and ``predict_proba_unchecked`` try it first).

    Answers only the common case: a fitted model on the C++ backend (``n_threads`` None or an
    int, a known activation; with ``checked``, no ``feature_names_in_``), ``X`` an ndarray of the
    weights' dtype, 2-D, C-contiguous, aligned, with ``n_features_in_`` columns, and few enough
    rows for one thread; ``predict_proba``'s output (``two_columns``: ``(n, 2)`` for one sigmoid
    unit, else ``(n,)``; softmax rows ``(n, k)``), a new array.  Anything else returns None,
    and the caller takes its general path, which checks and reports everything.

    checked : bool
        Raise ``ValueError("X contains NaN or infinity")`` as the general path would, and
        return None for values so large that a first-layer sum could overflow (the exact
        path); False (``predict_proba_unchecked``) takes ``X`` as finite.
    """

def dense_forward(a_prev: NDArray[_F], W: NDArray[_F], *, activation: str) -> NDArray[_F]:
    """One layer forward: ``f(a_prev @ W[:, 1:].T + W[:, 0])``, f the activation.

    Parameters
    ----------
    a_prev : ndarray of shape (n, k)
    W : ndarray of shape (m, k + 1)
        Column 0 is the bias.
    activation : {"sigmoid", "tanh", "relu", "identity"}

    Returns
    -------
    ndarray of shape (n, m)
    """

def dense_backward(
    a_prev: NDArray[_F], W: NDArray[_F], delta: NDArray[_F], need_delta_prev: bool, *, activation: str
) -> Tuple[NDArray[_F], Optional[NDArray[_F]]]:
    """One layer backward, given ``delta = dJ/dz`` of this layer (without the 1/n).

    Parameters
    ----------
    a_prev : ndarray of shape (n, k)
        The layer's input (n >= 1).
    W : ndarray of shape (m, k + 1)
    delta : ndarray of shape (n, m)
    need_delta_prev : bool
        Compute ``delta_prev`` (not needed for the first layer).
    activation : {"sigmoid", "tanh", "relu", "identity"}
        The function that produced ``a_prev`` (its derivative is written through ``a_prev``).

    Returns
    -------
    dW : ndarray of shape (m, k + 1)
        ``dW[:, 0] = delta.sum(0) / n``, ``dW[:, 1:] = delta.T @ a_prev / n``.
    delta_prev : ndarray of shape (n, k) or None
        ``(delta @ W[:, 1:]) * f'(z_prev)`` (sigmoid: ``a_prev * (1 - a_prev)``); None unless
        ``need_delta_prev``.
    """

def activation(z: NDArray[_F], name: str) -> NDArray[_F]:
    """An activation by the vector kernels: ``f(z)`` of a 1-D array, or softmax rows of a 2-D one.

    Parameters
    ----------
    z : ndarray of shape (n,), or (n, m) for ``"softmax"``
    name : {"sigmoid", "tanh", "relu", "identity", "softmax"}

    Returns
    -------
    ndarray shaped like ``z``
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
