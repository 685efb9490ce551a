"""Where the network's arithmetic runs: the C++ kernels or ``backprop.reference``.

A backend is an object with these methods (see :class:`Backend`):

* ``train(X, T, weights, config, state, n_epochs, order, hook, *, output=None,
  sample_weight=None, average_outputs=False, huge_inputs=None) -> (loss_curve, n_run)``: up to
  ``n_epochs`` epochs in place on ``weights`` and ``state``, calling ``hook(epoch, loss)`` after
  each (``False`` stops), with the row order of each epoch in ``order`` (None: natural order);
* ``network_output(X, weights, n_threads, activation, output=None)``: the forward pass's
  output, P(class 1) of shape (n,) for one sigmoid unit, softmax rows (n, k) otherwise (or
  ``output``'s activation, (n,) for one unit), without input checks;
* ``loss_and_gradient(X, T, weights, n_threads, activation, alpha, *, output=None,
  sample_weight=None, average_outputs=False, huge_inputs=None) -> (loss, grads)``
  (``huge_inputs``, here and in ``train``: ``_core.has_huge_values(X)`` when the caller knows
  it, so that a driver calling once per iteration or epoch on the same X does not rescan it; the
  reference ignores it);
* ``loss(...)``, the same arguments: ``loss_and_gradient``'s loss alone, the same value, by the
  forward pass (a validation set's loss after every epoch);
* ``predict_lanes() -> {activation: predict}``: the one-call prediction of ``predict_proba``'s
  fast lane and ``predict_proba_unchecked`` (:data:`PREDICT`), so that a one-row call costs a
  few Python steps plus this call.

``output``, ``sample_weight`` and ``average_outputs`` are the kernels' (``reference.OUTPUTS``,
per-sample weights, scikit-learn's reported squared error); the defaults are the article's
outputs without weights.

The training driver (``_training``) and the stability guard see nothing else, so another
backend (one that spreads the block gradients over workers, say) plugs in by implementing these
methods and adding itself to :data:`BACKENDS` (and its name to the ``backend`` parameter).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

import numpy as np

from . import _core, reference
from ._params import BACKENDS as _BACKEND_NAMES

__all__ = ["Backend", "SolverState", "BACKENDS", "PREDICT", "network_output"]


@dataclass
class SolverState:
    """The solver's arrays and counters, updated in place by ``train`` and carried across calls."""

    arrays: list  # [] (gd), [V_1..V_L] (momentum), [M_1..M_L, S_1..S_L] (adam), shaped like the weights
    counters: np.ndarray  # float64 [adam step t, best loss, epochs without improvement]

    @classmethod
    def zeros(cls, solver: str, weights: list) -> SolverState:
        arrays = [np.zeros_like(W) for _ in range(reference.SOLVERS[solver]) for W in weights]
        return cls(arrays, np.array([0.0, np.inf, 0.0]))

    def copy(self) -> SolverState:
        return SolverState([S.copy() for S in self.arrays], self.counters.copy())


class Backend(Protocol):
    def train(
        self, X: np.ndarray, T: np.ndarray, weights: list, config: Any, state: SolverState, n_epochs: int,
        order: Optional[np.ndarray], hook: Optional[Callable[[int, float], Any]], *, output: Optional[str] = None,
        sample_weight: Optional[np.ndarray] = None, average_outputs: bool = False,
        huge_inputs: Optional[bool] = None,
    ) -> tuple[np.ndarray, int]: ...

    def network_output(
        self, X: np.ndarray, weights: list, n_threads: int, activation: str, output: Optional[str] = None
    ) -> np.ndarray: ...

    def loss_and_gradient(
        self, X: np.ndarray, T: np.ndarray, weights: list, n_threads: int, activation: str, alpha: float, *,
        output: Optional[str] = None, sample_weight: Optional[np.ndarray] = None, average_outputs: bool = False,
        huge_inputs: Optional[bool] = None,
    ) -> tuple[float, list]: ...

    def loss(
        self, X: np.ndarray, T: np.ndarray, weights: list, n_threads: int, activation: str, alpha: float, *,
        output: Optional[str] = None, sample_weight: Optional[np.ndarray] = None, average_outputs: bool = False,
        huge_inputs: Optional[bool] = None,
    ) -> float: ...

    def predict_lanes(self) -> dict[str, Callable]: ...


class CppBackend:
    """``backprop._core``: every option is passed by keyword, as the config holds it."""

    def train(self, X, T, weights, config, state, n_epochs, order, hook, *, output=None, sample_weight=None,
              average_outputs=False, huge_inputs=None):
        curve, n_run = _core.train(
            X, T, weights, config.learning_rate, n_epochs, config.n_threads, **config.kernel_options(),
            solver_state=state.arrays, counters=state.counters, order=order, epoch_hook=hook,
            output=output, sample_weight=sample_weight, average_outputs=average_outputs, huge_inputs=huge_inputs,
        )
        return np.asarray(curve), int(n_run)

    def network_output(self, X, weights, n_threads, activation, output=None):
        return _core.predict_proba(X, weights, n_threads, False, False, activation, output)

    def loss_and_gradient(self, X, T, weights, n_threads, activation, alpha, *, output=None, sample_weight=None,
                          average_outputs=False, huge_inputs=None):
        return _core.loss_and_gradient(X, T, weights, n_threads, activation=activation, alpha=alpha, output=output,
                                       sample_weight=sample_weight, average_outputs=average_outputs,
                                       huge_inputs=huge_inputs)

    def loss(self, X, T, weights, n_threads, activation, alpha, *, output=None, sample_weight=None,
             average_outputs=False, huge_inputs=None):
        return _core.loss(X, T, weights, n_threads, activation=activation, alpha=alpha, output=output,
                          sample_weight=sample_weight, average_outputs=average_outputs, huge_inputs=huge_inputs)

    def predict_lanes(self):
        # One compiled function per activation, the activation bound in C++: a keyword would cost
        # about a third of a one-row call.
        return {a: _core.predictor(a) for a in reference.ACTIVATIONS}


class NumpyBackend:
    """``backprop.reference``, single-threaded (``n_threads`` is ignored)."""

    def train(self, X, T, weights, config, state, n_epochs, order, hook, *, output=None, sample_weight=None,
              average_outputs=False, huge_inputs=None):
        with np.errstate(all="ignore"):  # overflow is reported by the driver, as for the C++ backend
            curve = reference.train(
                X, T, weights, config.learning_rate, n_epochs, **config.kernel_options(),
                solver_state=state.arrays, counters=state.counters, order=order, epoch_hook=hook,
                output=output, sample_weight=sample_weight, average_outputs=average_outputs,
            )
        return curve, len(curve)

    def network_output(self, X, weights, n_threads, activation, output=None):
        return reference.predict_proba(X, weights, activation, output)

    def loss_and_gradient(self, X, T, weights, n_threads, activation, alpha, *, output=None, sample_weight=None,
                          average_outputs=False, huge_inputs=None):
        return reference.loss_and_gradient(X, T, weights, activation, alpha, output=output,
                                           sample_weight=sample_weight, average_outputs=average_outputs)

    def loss(self, X, T, weights, n_threads, activation, alpha, *, output=None, sample_weight=None,
             average_outputs=False, huge_inputs=None):
        return reference.loss(X, T, weights, activation, alpha, output=output, sample_weight=sample_weight,
                              average_outputs=average_outputs)

    def predict_lanes(self):
        return {a: functools.partial(_reference_predict, activation=a) for a in reference.ACTIVATIONS}


BACKENDS: dict[str, Backend] = {"cpp": CppBackend(), "numpy": NumpyBackend()}
assert tuple(BACKENDS) == _BACKEND_NAMES


def _reference_predict(
    X: np.ndarray, weights: list, n_threads: int, two_columns: bool, check_finite: bool, activation: str
) -> Optional[np.ndarray]:
    """``_core.predict_proba``'s contract on the reference; with ``check_finite`` it always answers
    None, which sends the caller to the general path (checks, then :func:`network_output`)."""
    if check_finite:
        return None
    p = reference.predict_proba(X, weights, activation)
    return np.stack([1 - p, p], axis=1) if two_columns and p.ndim == 1 else p


#: ``PREDICT[backend][activation](X, weights, n_threads, two_columns, check_finite)``, with
#: ``_core.predict_proba``'s contract (with ``check_finite``, None asks for the general path).
#: Two lookups in small dicts cost what two string comparisons do.
PREDICT: dict = {name: backend.predict_lanes() for name, backend in BACKENDS.items()}


#: The first layer's function in :func:`network_output`'s exact path when it is the output layer.
_OUTPUT_KIND = {"logistic": "sigmoid", "softmax": "softmax", "identity": "identity", "exp": "exp"}


def network_output(backend: Backend, X: np.ndarray, weights: list, n_threads: int, activation: str,
                   output: Optional[str] = None) -> np.ndarray:
    """The network's output on checked data, rows with huge values included.

    Rows whose first-layer sums could overflow (``reference.rows_that_may_overflow``) take the
    exact path: their first layer by ``reference.scaled_first_layer``, the rest of the network
    on the backend; the other rows go to the backend as they are.  A hidden first layer whose
    activations overflow is an error; an identity or exp output that overflows is its answer
    (inf, as the ordinary path gives for large logits).
    """
    n_out = weights[-1].shape[0]
    output = reference.output_name(n_out, output)
    rows = reference.rows_that_may_overflow(X, weights[0])
    if rows is None:
        return backend.network_output(X, weights, n_threads, activation, output)
    p = np.empty((X.shape[0],) if n_out == 1 else (X.shape[0], n_out), dtype=X.dtype)
    p[~rows] = backend.network_output(np.ascontiguousarray(X[~rows]), weights, n_threads, activation, output)
    last = len(weights) == 1
    kind = _OUTPUT_KIND[output] if last else activation
    a1 = reference.scaled_first_layer(X[rows], weights[0], kind)
    if not last and not np.isfinite(a1).all():
        raise ValueError(
            "X has values so large that the network's output is undefined in floating point "
            f"(the first layer's {kind} activations overflow)"
        )
    p[rows] = (a1[:, 0] if n_out == 1 else a1) if last else backend.network_output(a1, weights[1:], n_threads, activation,
                                                                                   output)
    return p


def class_index(p: np.ndarray, threshold: float) -> np.ndarray:
    """Index into ``classes_`` of each row's predicted label from the network's output ``p``: for
    one sigmoid unit 1 where ``p >= threshold`` (compared in ``p``'s dtype), else the most probable
    column (the first on ties).  ``predict``'s rule, everywhere a label is predicted."""
    if p.ndim == 1:
        return (p >= threshold).astype(np.intp)
    return np.argmax(p, axis=1)


def log_proba(backend: Backend, X: np.ndarray, weights: list, n_threads: int, activation: str) -> np.ndarray:
    """The log class probabilities on checked data, one column per class, from the output layer's
    logits z (not ``log`` of the probabilities, which rounds to 0 and -inf within an ulp of 1 and
    0): two classes ``[-log(1 + e^z), -log(1 + e^-z)]``, more ``z - logsumexp(z)``.  Computed in
    float64, returned in the weights' dtype."""
    z = np.asarray(network_output(backend, X, weights, n_threads, activation, output="identity"), dtype=np.float64)
    if z.ndim == 1:
        log_p = np.stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)], axis=1)
    else:
        top = z.max(axis=1, keepdims=True)
        log_p = z - (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))
    return log_p.astype(weights[0].dtype)
