"""The stability guard: full-batch gradient descent whose loss rises or cycles gets a warning
naming the largest stable learning rate, estimated from the loss's curvature."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ._backends import Backend
from ._exceptions import StabilityWarning

__all__ = ["MIN_ITER", "loss_rises_or_cycles", "largest_stable_learning_rate", "unstable_warnings", "gram",
           "augmented_gram", "float64_data"]


#: The guard looks at fits of at least this many full-batch gradient-descent iterations.
MIN_ITER = 20


def loss_rises_or_cycles(loss_curve: np.ndarray) -> bool:
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


def gram(A: np.ndarray) -> np.ndarray:
    """``A^T A``, computed in this thread when that takes a few milliseconds at most.

    A BLAS product would wake OpenBLAS's threads, which then spin, waiting for more work, for about
    a tenth of a second on the cores the next fit's C++ threads need: fits of the article's
    logistic regression (whose loss cycles, so that this guard runs) took twice as long after one.
    """
    n, d = A.shape
    if n * d * d <= 1 << 25:
        return np.einsum("ij,ik->jk", A, A)
    return A.T @ A


def augmented_gram(X, sample_weight: Optional[np.ndarray] = None) -> np.ndarray:
    """``X~^T diag(w) X~`` in float64, ``X~ = [1, X]`` (w = 1 without weights).  Data not held in
    memory (the blocks of ``_dask``, which take no weights) computes it itself (its
    ``augmented_gram`` method)."""
    if hasattr(X, "augmented_gram"):
        return X.augmented_gram()
    X = np.asarray(X, dtype=np.float64)
    X1 = np.hstack([np.ones((X.shape[0], 1)), X])
    if sample_weight is not None:
        X1 *= np.sqrt(sample_weight)[:, None]  # X~^T diag(w) X~ = (sqrt(w) X~)^T (sqrt(w) X~)
    return gram(X1)


def float64_data(X, T) -> tuple:
    """``X`` and ``T`` as C-contiguous float64, what the guard's gradients are computed on; data not
    held in memory converts itself (its ``float64`` method gives both)."""
    if hasattr(X, "float64"):
        return X.float64(), None
    return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(T, dtype=np.float64)


def largest_stable_learning_rate(
    X: np.ndarray, T: np.ndarray, weights: list, activation: str, alpha: float, backend: Backend, n_threads: int,
    sample_weight: Optional[np.ndarray] = None,
) -> tuple[float, str]:
    """Estimate ``2 / lambda_max`` of the loss's Hessian (gradient descent is stable below it).

    * No hidden layer, one sigmoid unit: the log-loss's Hessian is
      ``X~^T diag(p (1 - p)) X~ / N <= X~^T X~ / (4N)`` with ``X~ = [1, X]``, so
      ``L = lambda_max(X~^T X~) / (4N)`` bounds the curvature everywhere (plus ``alpha / N``).
      With sample weights w, ``X~^T X~`` is ``X~^T diag(w) X~`` and N is ``sum_i w_i``.
    * No hidden layer, softmax: the Hessian is ``sum_i (diag(p_i) - p_i p_i^T) (x) x~_i x~_i^T / N``
      and ``lambda_max(diag(p) - p p^T) <= 1/2``, so ``L = lambda_max(X~^T X~) / (2N)`` (plus ``alpha / N``).
    * Hidden layers: ``lambda`` is the top eigenvalue (in magnitude) of the Hessian at the final
      weights, by power iteration on central finite differences of the gradient
      (the backend's ``loss_and_gradient`` on ``n_threads`` threads), in float64.

    Returns
    -------
    (learning_rate, how) : the estimate and a short description of the formula used.
    """
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n = X.shape[0] if sw is None else float(sw.sum())
    if len(weights) == 1:
        lam = float(np.linalg.eigvalsh(augmented_gram(X, sw))[-1])
        softmax = weights[0].shape[0] > 1
        L = lam / ((2 if softmax else 4) * n) + alpha / n
        how = f"2/L, L = lambda_max(X~'X~)/({'2' if softmax else '4'}N){' + alpha/N' if alpha else ''} = {L:.4g}, X~ = [1, X]"
        return 2.0 / L, how
    X, T = float64_data(X, T)
    w = [np.array(W, dtype=np.float64) for W in weights]
    shapes = [W.shape for W in w]
    sizes = [W.size for W in w]

    def grad(flat: np.ndarray) -> np.ndarray:
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        ws = [p.reshape(s) for p, s in zip(parts, shapes)]
        weighted = {} if sw is None else {"sample_weight": sw}
        _, g = backend.loss_and_gradient(X, T, ws, n_threads, activation, alpha, **weighted)  # up to 100 of them
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


def unstable_warnings(X, T, weights, config: Any, backend: Backend, loss_curve: np.ndarray,
                      sample_weight: Optional[np.ndarray] = None) -> list:
    """The StabilityWarning (a list of zero or one) of a full-batch gradient-descent fit whose loss
    rises or cycles with a learning rate above the estimated stability limit (both must hold:
    conservative).  Returned, not issued: the training driver issues it before it publishes the fit."""
    if not loss_rises_or_cycles(loss_curve):
        return []
    lr = config.learning_rate
    lr_max, how = largest_stable_learning_rate(X, T, weights, config.activation, config.alpha, backend, config.n_threads,
                                               sample_weight)
    if not lr > lr_max:
        return []  # the step size does not explain the rises (e.g. saturated units): stay silent
    return [
        StabilityWarning(
            f"the training loss rises or cycles instead of decreasing: full-batch gradient descent at "
            f"learning_rate={lr:g} is above the stability limit of this loss. The largest stable learning "
            f"rate is about {lr_max:.3g} ({how}); use a smaller learning_rate, or solver='adam'"
        )
    ]
