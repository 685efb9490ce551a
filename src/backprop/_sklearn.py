"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` with backprop's kernels doing the arithmetic.

The classes subclass scikit-learn's and replace only the arithmetic, so that everything else
(parameters and their validation, input checks, label binarisation, initialisation and its draws
from ``random_state``, the early-stopping split, L-BFGS-B driven by scipy with ``max_fun``,
schedules, stopping rules, fitted attributes, warnings, tags) is scikit-learn's own code (one
exception: X's test for NaN and infinity is the kernels' pass over X that also finds the huge
values training must know of; X or y that fails it, or that it does not apply to, goes through
scikit-learn's checks as they are, so every error is scikit-learn's):

* ``_backprop`` (the loss and its gradient, which scikit-learn's L-BFGS objective
  ``_loss_grad_lbfgs`` calls) runs ``loss_and_gradient`` of the C++ backend;
* ``_fit_stochastic`` (``sgd``, ``adam``) draws each epoch's row order as scikit-learn does
  (its ``shuffle`` with the estimator's ``_random_state``) and runs that epoch in one call of
  the C++ ``train``, the solver's state (momentum velocities, Adam's moments and step count) kept
  in backprop's weight layout from epoch to epoch and, for ``partial_fit``, from call to call;
  scikit-learn's optimizer object (for ``partial_fit``, the first call's, as scikit-learn keeps
  it) gives each epoch its solver and hyperparameters, and between epochs sets the learning rate
  (``invscaling``, ``adaptive``); ``_update_no_improvement_count`` applies ``tol`` /
  ``n_iter_no_change`` and early stopping;
* ``_forward_pass_fast`` (every prediction) runs the backend's forward pass.

Dask input (``backprop._dask``): ``fit`` keeps scikit-learn's drivers on the client;
``_validate_input`` hands the checks to ``_dask.sklearn_input`` (scikit-learn's own bookkeeping
on a summary of the data).  For ``lbfgs``, ``_fit_lbfgs`` holds the blocks on dask's workers for
the fit and ``_backprop`` of them is the blocks' sums, added in block order; for ``sgd`` and
``adam``, each epoch is chained over the blocks (their order and row shuffles drawn from
``_random_state``), scikit-learn's schedule and stopping rule applied between epochs as in
memory.  ``predict``, ``predict_proba`` and ``predict_log_proba`` of dask input are dask arrays
of the in-memory method's blocks.  ``partial_fit``, ``sample_weight`` and (for ``sgd``, ``adam``)
``early_stopping`` are refused on dask input.

Every output layer of scikit-learn's MLPs runs on the kernels (``out_activation_``: logistic,
multilabel included, softmax, identity, exp), with ``sample_weight``.

Weight layout: backprop's ``W`` of layer i is ``(n_out, 1 + n_in)`` with the bias in column 0;
scikit-learn's ``coefs_[i] = W[:, 1:].T`` and ``intercepts_[i] = W[:, 0]``.  The arithmetic runs
in X's dtype (float32 in, float32 trained); ``coefs_`` and ``intercepts_`` keep theirs.  Sparse
X is converted to a dense array (the kernels read dense rows).  This module imports
scikit-learn: ``backprop.MLPClassifier`` loads it on first use.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from dataclasses import dataclass
from numbers import Integral
from typing import Optional

import numpy as np
import scipy.sparse as sp
from sklearn import config_context
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.utils import shuffle
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from . import _core, _dask
from ._backends import BACKENDS, SolverState
from ._params import resolved_threads
from ._validation import all_finite, finite_scan, huge_in_rows

__all__ = ["MLPClassifier", "MLPRegressor"]

#: scikit-learn's hidden activations by backprop's names.
HIDDEN_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}

_BACKEND = BACKENDS["cpp"]

# Multiply-adds of a call's forward pass per further thread: the C++ predict_proba's rule.
_MIN_WORK_PER_THREAD = _core.MIN_WORK_PER_THREAD


def _weights_of(sample_weight, dtype):
    """Per-sample weights as the kernels take them (None: every weight 1)."""
    return None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=dtype)


@dataclass(frozen=True)
class _KernelData:
    """X, its targets and sample weights as the kernels take them, and X's answer to
    ``_core.has_huge_values``: made once for an L-BFGS fit, whose objective reads them in every
    evaluation."""

    X: np.ndarray
    T: np.ndarray
    sample_weight: Optional[np.ndarray]
    huge_inputs: bool

    @classmethod
    def of(cls, X, y, sample_weight, kernel_targets, huge_inputs: Optional[bool] = None) -> "_KernelData":
        """``huge_inputs``: X's answer when the caller has it (None: X is scanned)."""
        X = np.ascontiguousarray(X.toarray() if sp.issparse(X) else X)
        if huge_inputs is None:
            huge_inputs = bool(_core.has_huge_values(X))
        return cls(X, kernel_targets(y, X.dtype), _weights_of(sample_weight, X.dtype), huge_inputs)


@dataclass(frozen=True)
class _InputScan:
    """The X that ``_validate_input`` returned and its answer to ``_core.has_huge_values``, from the
    pass that checked its values: held for one ``_fit``, whose solvers would scan X again."""

    X: np.ndarray
    huge: bool


@dataclass(frozen=True)
class _EpochConfig:
    """What the backend's ``train`` reads of a configuration, for one epoch of scikit-learn's
    stochastic solvers (``tol`` off: the stopping rule is applied between epochs); ``backend``
    for an epoch chained over dask's blocks."""

    learning_rate: float
    n_threads: int
    options: dict
    backend: str = "cpp"

    def kernel_options(self) -> dict:
        return self.options


class _KernelArithmetic:
    """The arithmetic of scikit-learn's ``BaseMultilayerPerceptron`` on backprop's kernels.

    Placed before scikit-learn's class in the bases: its methods replace theirs of the same
    name, with their signatures and contracts.
    """

    # ------------------------------------------------------------------ layout and data
    def _output_options(self) -> dict:
        """The kernels' output layer: scikit-learn's ``out_activation_`` (logistic, multilabel
        included; softmax; identity; exp), and the squared error reported as scikit-learn reports
        it (averaged over the outputs; the gradient is not)."""
        return dict(output=self.out_activation_, average_outputs=self.out_activation_ == "identity")

    def _kernel_weights(self, dtype) -> list:
        """backprop's weights, C-contiguous in ``dtype``, from ``coefs_`` and ``intercepts_`` (made
        for every L-BFGS evaluation: filled in place, not stacked)."""
        weights = []
        for c, b in zip(self.coefs_, self.intercepts_):
            c = np.asarray(c)
            W = np.empty((c.shape[1], c.shape[0] + 1), dtype=dtype)
            W[:, 0] = np.reshape(b, -1)
            W[:, 1:] = c.T
            weights.append(W)
        return weights

    def _store_weights(self, weights: list) -> None:
        """Writes backprop's weights into ``coefs_`` and ``intercepts_`` in place (their dtype kept,
        and every alias of them, such as scikit-learn's best-weights lists, sees the update as it
        sees its own optimizer's in-place steps)."""
        for c, b, W in zip(self.coefs_, self.intercepts_, weights):
            np.copyto(c, W[:, 1:].T, casting="unsafe")
            np.copyto(b, W[:, 0], casting="unsafe")

    @staticmethod
    def _kernel_targets(y, dtype) -> np.ndarray:
        """The targets as the kernels take them: (n,) for one output unit, else (n, m), in ``dtype``."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        return np.ascontiguousarray(y, dtype=dtype)

    def _threads(self, rows: int) -> int:
        """The threads for a call whose batches have ``rows`` rows: ``n_threads``, fewer for small
        work, by the rule the C++ predict_proba applies to its rows (scikit-learn's solvers call
        the kernels once per epoch or per L-BFGS evaluation, so small problems would pay a team's
        wake-up on every call)."""
        work = rows * sum(np.size(c) for c in self.coefs_)
        return int(max(1, min(resolved_threads(self.n_threads), work // _MIN_WORK_PER_THREAD)))

    def _fit(self, X, y, sample_weight=None, incremental=False):
        dask_input = _dask.is_dask_collection(X) or _dask.is_dask_collection(y)
        if dask_input and sample_weight is not None:
            raise ValueError("sample_weight is not supported with dask input: fit in memory")
        try:
            return super()._fit(X, y, sample_weight=sample_weight, incremental=incremental)
        finally:
            self.__dict__.pop("_input_scan", None)  # X is not kept past its fit

    def _validate_input(self, X, y, incremental, reset):
        if _dask.is_dask_collection(X) or _dask.is_dask_collection(y):  # trained where dask holds the data
            return _dask.sklearn_input(self, X, y, incremental, reset, super()._validate_input, is_classifier(self))
        huge = self._scan_checked_input(X, y)
        if huge is None:
            X, y = super()._validate_input(X, y, incremental, reset)
        else:  # X's values are checked: scikit-learn's checks run without their own pass over them
            with config_context(assume_finite=True):
                X, y = super()._validate_input(X, y, incremental, reset)
        if not is_classifier(self):
            self._refuse_non_numeric_targets(y.dtype)
            self._refuse_negative_poisson_targets(np.min(y))
        X = np.ascontiguousarray(X.toarray() if sp.issparse(X) else X)
        if huge is not None:
            self._input_scan = _InputScan(X, huge)
        return X, y

    def _scan_checked_input(self, X, y) -> Optional[bool]:
        """X's answer to ``_core.has_huge_values`` from one pass over X on the kernels' threads that
        also finds whether every value is finite, for a C-contiguous float32 or float64 X and
        finite numeric or string targets; None when that does not apply or something is not
        finite: scikit-learn's checks then run as they are, and raise their own errors."""
        if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.flags.c_contiguous
                and X.dtype in (np.float32, np.float64)):  # anything else: no pass of our own
            return None
        targets = np.asarray(y)  # numbers, all finite, or strings (never NaN); object arrays may hide a NaN
        if targets.dtype.kind not in "biufUS" or (targets.dtype.kind == "f" and not all_finite(targets)):
            return None
        return finite_scan(X, resolved_threads(self.n_threads))[1]

    def _huge_inputs(self, X, rows=None) -> bool:
        """``_core.has_huge_values`` of X, or of ``rows`` (some of X's rows), from the pass that
        checked X when there was one (rows of an X without huge values have none)."""
        rows = X if rows is None else rows
        scan = self.__dict__.get("_input_scan")
        huge = scan.huge if scan is not None and scan.X is X else None
        if rows is not X:
            huge = huge_in_rows(huge)
        return bool(_core.has_huge_values(rows)) if huge is None else huge

    # A regressor's targets that its loss is not defined on are refused before training (in memory
    # here, on dask input by ``_dask.sklearn_input``), where the kernels would train on them.
    def _refuse_non_numeric_targets(self, dtype) -> None:
        """Strings and other non-numbers (scikit-learn's check converts only object arrays to
        float; the kernels would parse strings, where scikit-learn's own loss fails with a
        TypeError)."""
        if np.dtype(dtype).kind not in "biuf":
            raise TypeError(
                f"y must hold numbers (bool, integer or float), got dtype {dtype}: "
                "convert it (e.g. y.astype(float)) before fitting"
            )

    def _refuse_negative_poisson_targets(self, y_min) -> None:
        """For ``loss='poisson'``, negative targets: the Poisson deviance needs y >= 0 (scikit-learn
        trains on them and reports a NaN loss)."""
        if self.loss == "poisson" and y_min < 0:
            raise ValueError(
                "loss='poisson' needs y >= 0 (the Poisson deviance is undefined for negative targets), "
                f"got min(y) = {float(y_min)}"
            )

    # ------------------------------------------------------------------ loss and gradient
    def _backprop(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads):
        if isinstance(X, _dask.Blocks):  # dask input (_fit_lbfgs): the blocks' sums, on dask's workers
            loss, grads = _dask.sklearn_loss_and_gradient(
                X, self._kernel_weights(X.dtype), HIDDEN_ACTIVATIONS[self.activation], float(self.alpha),
                **self._output_options(),
            )
        else:
            data = X if isinstance(X, _KernelData) else _KernelData.of(X, y, sample_weight, self._kernel_targets)
            loss, grads = _BACKEND.loss_and_gradient(
                data.X, data.T, self._kernel_weights(data.X.dtype), self._threads(data.X.shape[0]),
                HIDDEN_ACTIVATIONS[self.activation], float(self.alpha),
                sample_weight=data.sample_weight, huge_inputs=data.huge_inputs, **self._output_options(),
            )
        for i, G in enumerate(grads):
            coef_grads[i] = G[:, 1:].T
            intercept_grads[i] = G[:, 0]
        # an np.float64 as scikit-learn's (lbfgs' loss_ is this value)
        return np.float64(loss), coef_grads, intercept_grads

    def _fit_lbfgs(self, X, y, sample_weight, *args):
        # The objective runs on the kernels; what is left to numpy's BLAS is scipy's L-BFGS-B
        # update, level-1 operations on vectors of the parameters' length, whose threads cost
        # more to wake than they save (most of an lbfgs fit of a small network on 2 cores).
        with threadpool_limits(limits=1, user_api="blas"):
            if not _dask.is_dask_collection(X):  # converted once, for every evaluation of the objective
                data = _KernelData.of(X, y, sample_weight, self._kernel_targets, self._huge_inputs(X))
                return super()._fit_lbfgs(data, None, None, *args)
            data = _dask.sklearn_blocks(X, y, self._kernel_targets)  # computed once, held by the workers
            try:
                return super()._fit_lbfgs(data, None, None, *args)
            finally:
                data.release()

    # ------------------------------------------------------------------ prediction
    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        X = X.toarray() if sp.issparse(X) else np.asarray(X)
        # numpy's promotion of X @ coefs_ + intercepts_, as scikit-learn computes it
        dtype = np.result_type(X.dtype, *self.coefs_, *self.intercepts_)
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        X = np.ascontiguousarray(X, dtype=dtype)
        # The plain forward pass, as scikit-learn's: sums that overflow give inf or NaN outputs (a
        # diverged fit's validation score is NaN), where NeuralNetwork takes an exact path.
        p = _BACKEND.network_output(
            X, self._kernel_weights(dtype), self._threads(X.shape[0]), HIDDEN_ACTIVATIONS[self.activation],
            self.out_activation_,
        )
        return p.reshape(X.shape[0], -1)

    # ------------------------------------------------------------------ stochastic solvers
    def _new_optimizer(self):
        """scikit-learn's optimizer object, made from the hyperparameters as ``_fit_stochastic``
        makes it: its ``learning_rate`` schedule (``iteration_ends``, ``trigger_stopping``) is
        used between epochs, and its hyperparameters configure the kernels' epochs
        (``_epoch_config``); its own update arrays are never used."""
        params = self.coefs_ + self.intercepts_
        if self.solver == "sgd":
            return SGDOptimizer(
                params, self.learning_rate_init, self.learning_rate, self.momentum, self.nesterovs_momentum,
                self.power_t,
            )
        return AdamOptimizer(params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)

    def _epoch_config(self, batch_size: int) -> _EpochConfig:
        """One epoch's configuration, read from the kept optimizer ``_optimizer`` (not from the
        estimator's parameters): scikit-learn's ``partial_fit`` keeps the optimizer of its first
        call, so later ``set_params`` changes of ``solver``, ``learning_rate_init``, ``momentum``,
        ``nesterovs_momentum``, ``beta_1``, ``beta_2`` or ``epsilon`` do not reach the run it
        continues, and must not reach the kernels either."""
        opt = self._optimizer
        sgd = isinstance(opt, SGDOptimizer)
        # The kernel takes every solver's hyperparameters; those of the solver not run are unused,
        # and passed as the estimator's (validated by scikit-learn, so within the kernel's ranges).
        options = dict(
            activation=HIDDEN_ACTIVATIONS[self.activation], alpha=float(self.alpha), batch_size=int(batch_size),
            solver="momentum" if sgd else "adam", momentum=float(self.momentum),
            nesterov=bool(self.nesterovs_momentum), beta_1=float(self.beta_1), beta_2=float(self.beta_2),
            epsilon=float(self.epsilon), tol=None, n_iter_no_change=1,
        )
        if sgd:
            options.update(momentum=float(opt.momentum), nesterov=bool(opt.nesterov))
            # the rate the schedule has reached ('invscaling', 'adaptive' change it between epochs)
            lr = opt.learning_rate
        else:
            options.update(beta_1=float(opt.beta_1), beta_2=float(opt.beta_2), epsilon=float(opt.epsilon))
            # Adam's step size follows from learning_rate_init and its step count (kept by the kernel)
            lr = opt.learning_rate_init
        return _EpochConfig(float(lr), self._threads(int(batch_size)), options)

    def _early_stopping_split(self, X, y, sample_weight):
        """scikit-learn's validation split: the same call, with the same draws from ``_random_state``."""
        stratify = y if is_classifier(self) and self.n_outputs_ == 1 else None  # not for multilabel
        arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
        parts = train_test_split(
            *arrays, random_state=self._random_state, test_size=self.validation_fraction, stratify=stratify
        )
        X_train, X_val, y_train, y_val = parts[:4]
        sw_train, sw_val = parts[4:] if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        if is_classifier(self):
            y_val = self._label_binarizer.inverse_transform(y_val)
        return X_train, X_val, y_train, y_val, sw_train, sw_val

    def _fit_stochastic(
        self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units, incremental
    ):
        weights = self._kernel_weights(X.dtype)
        # As scikit-learn's: partial_fit continues with the optimizer (and its state) of the first
        # call, of that call's solver even if ``solver`` has been changed since; fit starts anew.
        if not incremental or getattr(self, "_solver_state", None) is None or not hasattr(self, "_optimizer"):
            self._optimizer = self._new_optimizer()
            kind = "momentum" if isinstance(self._optimizer, SGDOptimizer) else "adam"
            self._solver_state = SolverState.zeros(kind, weights)
        state = self._solver_state
        state.arrays = [np.ascontiguousarray(S, dtype=X.dtype) for S in state.arrays]

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        X_val = y_val = sw_val = None
        if _dask.is_dask_collection(X):  # each epoch chained over dask's blocks, on their workers
            data = _dask.sklearn_blocks(X, y, self._kernel_targets)
            n_samples = X.shape[0]

            def epoch(config):
                plan = _dask.sklearn_plan(self._random_state, len(data.rows), self.shuffle)
                return _dask.chained_epoch(data, weights, state, config, plan, **self._output_options())
        else:
            data = None
            if early_stopping:
                X_train, X_val, y_train, y_val, sw_train, sw_val = self._early_stopping_split(X, y, sample_weight)
            else:
                X_train, y_train, sw_train = X, y, sample_weight
            X_train = np.ascontiguousarray(X_train)
            T_train = self._kernel_targets(y_train, X.dtype)
            sw_train = _weights_of(sw_train, X.dtype)
            huge_inputs = self._huge_inputs(X, X_train)  # known once, not scanned in every epoch's call
            n_samples = X_train.shape[0]
            sample_idx = np.arange(n_samples, dtype=int)

            def epoch(config):
                nonlocal sample_idx
                order = None
                if self.shuffle:
                    sample_idx = shuffle(sample_idx, random_state=self._random_state)
                    order = sample_idx.astype(np.int64)
                curve, _ = _BACKEND.train(X_train, T_train, weights, config, state, 1, order, None,
                                          sample_weight=sw_train, huge_inputs=huge_inputs, **self._output_options())
                return float(curve[0])

        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = np.clip(self.batch_size, 1, n_samples)

        # The kernel's batches are consecutive runs of batch_size rows of the epoch's order, the
        # last one shorter: scikit-learn's gen_batches slices of its shuffled indices (on dask,
        # of each block's rows).
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                # an np.float64 as scikit-learn's (loss_curve_ and best_loss_ take it), whatever X's dtype
                self.loss_ = np.float64(epoch(self._epoch_config(batch_size)))
                self._store_weights(weights)
                self.n_iter_ += 1
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(early_stopping, X_val, y_val, sw_val)
                self._optimizer.iteration_ends(self.t_)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score did not improve more than" if early_stopping else (
                        "Training loss did not improve more than"
                    )
                    msg = "%s tol=%f for %d consecutive epochs." % (what, self.tol, self.n_iter_no_change)
                    if self._optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization hasn't "
                        "converged yet." % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            self._store_weights(weights)  # the kernel stops after a whole batch's update
            warnings.warn("Training interrupted by user.")
        finally:
            if data is not None:
                data.release()

        if early_stopping:
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts


_N_THREADS_CONSTRAINT = {"n_threads": [None, Interval(Integral, 1, None, closed="left")]}


def _init_with_n_threads(base: type):
    """An ``__init__`` taking ``base``'s parameters and, keyword-only, ``n_threads``: its signature
    (what scikit-learn's ``get_params``, ``clone`` and checks read) is ``base.__init__``'s plus
    that one, so that scikit-learn's defaults stay written in scikit-learn only."""
    base_init = base.__init__

    def __init__(self, *args, n_threads=None, **kwargs):
        base_init(self, *args, **kwargs)
        self.n_threads = n_threads

    n_threads = inspect.Parameter("n_threads", inspect.Parameter.KEYWORD_ONLY, default=None)
    __init__.__signature__ = inspect.signature(base_init).replace(  # type: ignore[attr-defined]
        parameters=[*inspect.signature(base_init).parameters.values(), n_threads])
    __init__.__doc__ = base_init.__doc__
    return __init__

def _dask_aware(base: type, name: str):
    """``base``'s prediction method ``name``; of a dask array or DataFrame, a dask array whose
    blocks are that method's answers on the blocks' rows."""
    method = getattr(base, name)

    @functools.wraps(method)
    def predict(self, X):
        if _dask.is_dask_collection(X):
            return _dask.sklearn_predict(self, X, name)
        return method(self, X)

    return predict


_N_THREADS_DOC = """
    n_threads : int or None, default=None
        Threads of backprop's kernels (>= 1); ``None`` uses every core, or ``OMP_NUM_THREADS`` when
        it is set lower.  Results do not depend on it.
"""


class MLPClassifier(_KernelArithmetic, _SkMLPClassifier):
    __doc__ = (
        "scikit-learn's MLPClassifier trained and evaluated by backprop's kernels: same parameters "
        "(plus ``n_threads``), same model, same fitted attributes.\n\n"
        "See ``sklearn.neural_network.MLPClassifier`` for the parameters; backprop adds:\n" + _N_THREADS_DOC
    )

    _parameter_constraints: dict = {**_SkMLPClassifier._parameter_constraints, **_N_THREADS_CONSTRAINT}

    __init__ = _init_with_n_threads(_SkMLPClassifier)
    predict = _dask_aware(_SkMLPClassifier, "predict")
    predict_proba = _dask_aware(_SkMLPClassifier, "predict_proba")
    predict_log_proba = _dask_aware(_SkMLPClassifier, "predict_log_proba")


class MLPRegressor(_KernelArithmetic, _SkMLPRegressor):
    __doc__ = (
        "scikit-learn's MLPRegressor trained and evaluated by backprop's kernels: same parameters "
        "(plus ``n_threads``), same model, same fitted attributes.\n\n"
        "See ``sklearn.neural_network.MLPRegressor`` for the parameters; backprop adds:\n" + _N_THREADS_DOC
    )

    _parameter_constraints: dict = {**_SkMLPRegressor._parameter_constraints, **_N_THREADS_CONSTRAINT}

    __init__ = _init_with_n_threads(_SkMLPRegressor)

    predict = _dask_aware(_SkMLPRegressor, "predict")
