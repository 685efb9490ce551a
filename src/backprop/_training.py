"""The training driver shared by ``fit`` and ``partial_fit``.

:func:`train` runs the epochs on a backend in chunks (one backend call per chunk, the row orders
of its epochs drawn up front, their memory bounded), and after every epoch (a hook inside the
backend's loop) the early-stopping score, the callback and the progress line.  It then publishes
the fitted attributes in one step, or, on any error (Ctrl-C included), leaves the model as it was.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any, Optional

import numpy as np

from . import _stability
from ._backends import Backend, SolverState, class_index, network_output
from ._exceptions import ConvergenceWarning
from ._validation import abs_max, all_finite, huge_in_rows, plain

__all__ = ["train", "publish", "predicted_index", "targets", "stratified_split", "held_out_count", "check_memory",
           "class_weights", "training_weights"]

#: Epochs of the first backend call of an unshuffled fit; later calls double the epochs run.
FIRST_CHUNK = 4096


def _grown(buf: np.ndarray, needed: int, head: Optional[np.ndarray]) -> np.ndarray:
    """A buffer of at least ``needed`` entries (twice the size), holding ``buf``'s values, or, for
    the first one, ``head`` (the previous fits' values) at its start."""
    new = np.empty(max(2 * needed, 64), dtype=buf.dtype)
    if buf.shape[0]:
        new[: buf.shape[0]] = buf
    elif head is not None and len(head):
        new[: len(head)] = head
    return new


def _appended(buf: np.ndarray, previous: np.ndarray, values: list) -> tuple[np.ndarray, np.ndarray]:
    """``(buf, view)``: ``buf`` (grown when full) with the last of ``values`` written after
    ``previous`` and the values before it, and the view of all of them (what the callback sees)."""
    n = len(previous) + len(values)
    if buf.shape[0] < n:
        buf = _grown(buf, n, previous)
    buf[n - 1] = values[-1]
    return buf, buf[:n]


def memory_limit() -> Optional[int]:
    """Bytes this process may use: the machine's physical memory, or a lower limit of its cgroup
    (a container's), or None where neither can be read."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
        break
    return min(limits) if limits else None


def check_memory(shapes: list, dtype: np.dtype, solver_arrays: int, limit: Optional[int] = None) -> None:
    """Refuse, before anything is allocated, a network whose weights, their gradient and the
    solver's state (``solver_arrays`` arrays shaped like the weights) alone need more than
    ``limit`` bytes (default :func:`memory_limit`): a ``ValueError`` naming the sizes, instead
    of a ``MemoryError`` deep in an allocation or the system's out-of-memory killer.  What is
    counted is a lower bound of a fit's memory, so a network that fits is never refused."""
    limit = memory_limit() if limit is None else limit
    n_weights = sum(m * k for m, k in shapes)
    needed = n_weights * np.dtype(dtype).itemsize * (2 + solver_arrays)
    if limit is not None and needed > limit:
        raise ValueError(
            f"layers of shapes {shapes} hold {n_weights:,} weights: with their gradient and the solver's state "
            f"a fit needs at least {needed / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB of memory "
            f"available; choose smaller n_hidden"
        )


def train(model: Any, X, y_index, classes, weights: list, warm: bool, rng, config: Any, backend: Backend,
          incremental: bool, extra: Optional[dict] = None, drop: tuple = (),
          sample_weight: Optional[np.ndarray] = None, run_type: Optional[type] = None,
          validation: Optional[tuple] = None, huge_inputs: Optional[bool] = None) -> None:
    """Train ``weights`` (the initial ones) on ``(X, y_index)`` for ``config.max_iter`` epochs and
    publish the fitted attributes on ``model``, with ``extra`` attributes set and those named in
    ``drop`` removed.  ``sample_weight``: the rows' weights in the loss (:func:`training_weights`),
    or None.  ``validation``: the validation set given by the user, ``(X_val, y_val_index, w_val)``
    checked (``w_val`` in X's dtype, or None); it replaces ``early_stopping``'s split (all of X
    trains), and without ``early_stopping`` it is only scored.  Full-batch gradient descent
    (``fit``, not ``partial_fit``) also runs the stability guard.  ``run_type`` (default
    :class:`_Run`) is the class of the run: data that is not in memory (``_dask``) brings a
    subclass that holds it its own way.  ``huge_inputs``: ``_core.has_huge_values(X)`` when the
    caller's check of X answered it (None: the backend scans X in each call).

    Atomic: until the end the model's attributes live in a working copy of its ``__dict__`` (what
    the callback sees); the new state, warnings emitted, replaces it in one assignment.  If
    anything raises before that (an error, a warning turned into one, Ctrl-C in the guard), the
    original ``__dict__``, untouched, is put back.
    """
    original = model.__dict__
    model.__dict__ = dict(original)
    try:
        run = (run_type or _Run)(model, X, y_index, classes, weights, warm, rng, config, backend, sample_weight,
                                 validation=validation, huge_inputs=huge_inputs)
        fitted, guard = run.run(incremental)
        pending = []
        if guard is not None:
            pending.extend(_stability.unstable_warnings(*guard))
        if not incremental and config.max_iter > 0:
            pending.extend(run.learned_nothing_warnings())
        for warning in pending:
            warnings.warn(warning, stacklevel=3)
        state = dict(model.__dict__)
        state.update(fitted)
        state.update(extra or {})
        for name in drop:
            state.pop(name, None)
        model.__dict__ = state
    except BaseException:
        model.__dict__ = original
        raise


def publish(model: Any, weights, classes, n_features, loss_curve, validation_scores, n_iter,
            validation_loss_curve=None) -> None:
    """Sets the fitted attributes the callback sees (on the working copy of the model's state)."""
    model.__dict__.update(fitted_attributes(weights, classes, n_features, loss_curve, validation_scores, n_iter,
                                            validation_loss_curve))


def fitted_attributes(weights, classes, n_features, loss_curve, validation_scores, n_iter,
                      validation_loss_curve=None) -> dict:
    return {
        "loss_curve_": loss_curve,
        "validation_scores_": validation_scores,
        "validation_loss_curve_": validation_loss_curve,
        "n_iter_": int(n_iter),
        "weights_": weights,
        "classes_": classes,
        "n_features_in_": n_features,
    }


def predicted_index(backend: Backend, X: np.ndarray, weights: list, config: Any) -> np.ndarray:
    """Index into ``classes_`` of the predicted label of each row (the validation score's)."""
    return class_index(backend.network_output(X, weights, config.n_threads, config.activation), config.threshold)


def targets(y_index: np.ndarray, n_out: int, dtype: np.dtype) -> np.ndarray:
    """0/1 labels for one sigmoid unit, one-hot rows (model dtype) for a softmax output."""
    if n_out == 1:
        return np.ascontiguousarray(y_index == 1, dtype=dtype)
    T = np.zeros((y_index.shape[0], n_out), dtype=dtype)
    T[np.arange(y_index.shape[0]), y_index] = 1
    return T


def accuracy(correct: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
    """The fraction of correct predictions, ``sum_i w_i [correct_i] / sum_i w_i`` with weights."""
    if weights is None:
        return float(np.mean(correct))
    return float(np.dot(weights, correct) / np.sum(weights))


def class_weights(class_weight: Any, classes: np.ndarray, y_index: np.ndarray) -> Optional[np.ndarray]:
    """The weight of each class (float64, shape (k,)) for the ``class_weight`` parameter, or None.

    ``"balanced"``: ``n / (k * n_c)`` for class c with n_c of the n rows (scikit-learn's
    ``compute_class_weight``; a class without rows gets 1, it weighs no row); a dict: its value
    for each class it names, 1 for the others (ValueError for a label that is not a class).
    """
    if class_weight is None:
        return None
    k = classes.shape[0]
    if isinstance(class_weight, str):  # "balanced"
        counts = np.bincount(y_index, minlength=k)
        return np.where(counts > 0, y_index.shape[0] / (k * np.maximum(counts, 1)), 1.0)
    known = {plain(c): i for i, c in enumerate(classes)}
    unknown = [label for label in class_weight if plain(label) not in known]
    if unknown:
        raise ValueError(f"class_weight has labels that are not classes: {unknown!r} (classes: {plain(classes)!r})")
    weights = np.ones(k)
    for label, weight in class_weight.items():
        weights[known[plain(label)]] = float(weight)
    return weights


def training_weights(sample_weight: Optional[np.ndarray], class_weight: Any, classes: np.ndarray,
                     y_index: np.ndarray, dtype: np.dtype, counted: Optional[np.ndarray] = None,
                     name: str = "sample_weight") -> Optional[np.ndarray]:
    """The rows' weights in the loss: ``sample_weight`` (checked, or None) times the class weight
    of each row's label (:func:`class_weights`), in ``dtype``; None when neither is given.
    ``counted``: the labels ``"balanced"`` counts (default ``y_index``; a validation set given to
    ``fit`` is weighed by the training labels' counts); ``name``: the weights' name in the error.

    Every weight and their sum must be finite in ``dtype``: the loss divides by the sum, and an
    overflow there would train nothing (or diverge) with no word about the weights.  Only the
    weights' ratios matter, so the error asks to rescale them."""
    per_class = class_weights(class_weight, classes, y_index if counted is None else counted)
    if per_class is None:
        w = sample_weight
    else:
        with np.errstate(over="ignore"):
            w = per_class[y_index] if sample_weight is None else sample_weight * per_class[y_index]
            w = np.ascontiguousarray(w, dtype=dtype)
        if not w.any():
            raise ValueError(f"{name} times class_weight is zero for every sample: nothing to fit")
    if w is not None:
        check_weight_sum(w, dtype, name if per_class is None else
                         "class_weight" if sample_weight is None else f"{name} times class_weight")
    return w


def check_weight_sum(w: np.ndarray, dtype: np.dtype, name: str) -> None:
    """The rows' weights ``w`` and their sum finite in ``dtype`` (ValueError naming ``name``)."""
    dtype = np.dtype(dtype)
    big = float(np.finfo(dtype).max)
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.sum(w, dtype=np.float64))  # float64: exceeds float32's range without overflowing
    if not (all_finite(w) and total <= big):
        raise ValueError(
            f"{name}: the rows' weights or their sum overflow {dtype} (the model's dtype; sum "
            f"{total:.3g}, largest finite {big:.3g}). Only the weights' ratios matter: rescale them, e.g. "
            "divide by their largest value (uniform weights give the unweighted fit)"
        )


def held_out_count(n_c, fraction: float):
    """Validation rows of a class of ``n_c`` rows: ``round(fraction * n_c)``, at most ``n_c - 1``
    (every class keeps a training row); ``n_c`` may be an array of counts."""
    n_c = np.asarray(n_c)
    return np.minimum(np.floor(fraction * n_c + 0.5).astype(np.int64), np.maximum(n_c - 1, 0))


def stratified_split(y_index: np.ndarray, n_classes: int, fraction: float, rng: np.random.Generator,
                     allow_empty: bool = False):
    """Rows of the training and of the validation part: :func:`held_out_count` random rows of each
    class c go to validation; both sorted.  An empty validation part raises ``ValueError`` unless
    ``allow_empty`` (one block of several)."""
    n = y_index.shape[0]
    held_out = []
    for c in range(n_classes):
        rows = rng.permutation(np.flatnonzero(y_index == c))
        held_out.append(rows[: int(held_out_count(rows.shape[0], fraction))])
    val = np.sort(np.concatenate(held_out))
    if val.shape[0] == 0 and not allow_empty:
        raise empty_validation_error(fraction, n)
    train_rows = np.setdiff1d(np.arange(n), val, assume_unique=True)
    return train_rows, val


def empty_validation_error(fraction: float, n: int) -> ValueError:
    return ValueError(
        f"early_stopping: validation_fraction={fraction} of {n} samples leaves an empty validation set; "
        "raise validation_fraction or pass more data"
    )


def learned_nothing_warning(label: Any, n_classes: int, config: Any) -> ConvergenceWarning:
    """The warning of a fit whose model predicts the one class ``label`` for every training row of
    ``n_classes`` classes."""
    label = plain(label)
    return ConvergenceWarning(
        f"the fitted model predicts the single class {label!r} for every training sample, while the "
        f"training data holds {n_classes} classes: it learned nothing. Likely causes: unscaled "
        "features (standardize them, e.g. with sklearn.preprocessing.StandardScaler), a learning_rate "
        f"too large or too small (learning_rate={config.learning_rate:g}), or too few iterations "
        f"(max_iter={config.max_iter})"
    )


class _Run:
    """One fit: the data, the solver's state, and what the epoch hook accumulates."""

    def __init__(self, model, X, y_index, classes, weights, warm, rng, config, backend, sample_weight,
                 validation: Optional[tuple] = None, huge_inputs: Optional[bool] = None) -> None:
        self.model, self.classes, self.weights, self.rng = model, classes, weights, rng
        self.config, self.backend = config, backend
        self.given_validation, self.given_huge = validation, huge_inputs
        # the validation set's targets and loss weights (X's dtype): its loss is recorded when set_data sets them
        self.T_val = self.w_val_loss = None
        self.set_data(X, y_index, sample_weight)
        # the solver's state carries over from the previous fit of this object when warm
        self.state_key = (config.solver, self.X.dtype.str, tuple(W.shape for W in weights))
        previous = model.__dict__.get("_solver_state")
        if warm and model.__dict__.get("_solver_key") == self.state_key:
            self.state = previous.copy()
        else:
            self.state = SolverState.zeros(config.solver, weights)
        self.state.counters[1:] = (np.inf, 0.0)  # each fit is a new run of the tol rule
        # the fits this one continues, and this fit's epochs
        self.previous_curve = model.__dict__.get("loss_curve_") if warm else None
        scores = model.__dict__.get("validation_scores_") if warm else None
        self.previous_scores = np.empty(0) if scores is None else np.asarray(scores, dtype=np.float64)
        val_losses = model.__dict__.get("validation_loss_curve_") if warm else None
        self.previous_val_losses = np.asarray([] if val_losses is None else val_losses, dtype=self.X.dtype)
        self.previous_n_iter = int(model.__dict__.get("n_iter_", 0)) if warm else 0
        self.losses: list = []  # every epoch's loss so far (with a hook)
        self.scores: list = []
        self.val_losses: list = []
        self.best_score, self.no_improvement, self.best_weights = -np.inf, 0, None
        # what the callback sees as loss_curve_ / validation_scores_: views of buffers filled as
        # the epochs run (publishing costs O(1) per epoch), grown by doubling with the epochs run
        # (never sized by max_iter, which may be far more than an early stop lets run)
        self.n_prev = 0 if self.previous_curve is None else len(self.previous_curve)
        self.curve_buf = np.empty(0, dtype=self.X.dtype)
        self.score_buf = np.empty(0)
        self.val_loss_buf = np.empty(0, dtype=self.X.dtype)
        self.start = self.last_print = time.perf_counter()

    def set_data(self, X, y_index, sample_weight) -> None:
        """The training data (``X``, ``T``, ``y_train``, ``sample_weight``), the validation set
        (``X_val``, ``y_val``, ``T_val``, ``w_val`` in float64 for the accuracy and ``w_val_loss`` in
        X's dtype for the loss): the one given to ``fit``, else ``early_stopping``'s split (drawn after
        the initial weights), else none; whether epochs shuffle; and the answers of the training X
        and of X_val to ``_core.has_huge_values`` when known (``huge_inputs``, ``huge_val``; None:
        not known)."""
        n_out = self.weights[-1].shape[0]
        T = targets(y_index, n_out, X.dtype)
        self.X_val = self.y_val = self.w_val = None
        train_rows = None
        if self.given_validation is not None:
            self.X_val, self.y_val, self.w_val_loss = self.given_validation
        elif self.config.early_stopping:
            train_rows, val_rows = stratified_split(y_index, len(self.classes), self.config.validation_fraction, self.rng)
            self.X_val, self.y_val = np.ascontiguousarray(X[val_rows]), y_index[val_rows]
            X, T = np.ascontiguousarray(X[train_rows]), np.ascontiguousarray(T[train_rows])
            if sample_weight is not None:
                self.w_val_loss = np.ascontiguousarray(sample_weight[val_rows])
                sample_weight = np.ascontiguousarray(sample_weight[train_rows])
                for part, w in (("training", sample_weight), ("validation", self.w_val_loss)):
                    if not w.any():
                        raise ValueError(f"early_stopping: the weights of the {part} rows are all zero "
                                         "(sample_weight times class_weight); change the weights or validation_fraction")
        if self.X_val is not None:
            self.T_val = targets(self.y_val, n_out, X.dtype)
            if self.w_val_loss is not None:
                self.w_val = np.asarray(self.w_val_loss, dtype=np.float64)
        self.X, self.T, self.sample_weight = X, T, sample_weight
        self.huge_inputs = self.given_huge if train_rows is None else huge_in_rows(self.given_huge)
        self.huge_val = None if train_rows is None else huge_in_rows(self.given_huge)  # X_val's, when known
        self.y_train = y_index if train_rows is None else y_index[train_rows]
        self.shuffle = self.config.batch_size is not None and self.config.batch_size < X.shape[0]

    def run(self, incremental: bool) -> tuple[dict, Optional[tuple]]:
        """The epochs; returns the fitted attributes, and the stability guard's arguments when it applies."""
        config = self.config
        hook = self.on_epoch if (config.callback is not None or config.verbose or self.X_val is not None) else None
        loss_curve, n_epochs = self.run_epochs(hook)
        if config.verbose and self.losses:
            self.report(force=True)
        diverged = not (np.isfinite(loss_curve).all() and all(np.isfinite(W).all() for W in self.weights))
        if diverged:
            raise ValueError(
                "training diverged: the weights or the loss overflowed the "
                f"range of {self.X.dtype} (max |X| = {abs_max(self.X):.3g}). Scale the features (e.g. standardize "
                "them) or lower learning_rate; the estimator was left unchanged"
            )
        final_weights = [W.copy() for W in self.weights]
        if self.best_weights is not None:
            for W, B in zip(self.weights, self.best_weights):  # early stopping ends with the best epoch's weights
                W[...] = B
        all_losses = loss_curve  # the curve of this fit, after those of the fits it continues
        if self.previous_curve is not None:
            all_losses = np.concatenate([np.asarray(self.previous_curve, dtype=self.X.dtype), loss_curve])
        validation = val_losses = None
        if self.X_val is not None:
            validation = np.concatenate([self.previous_scores, np.asarray(self.scores, dtype=np.float64)])
        if self.T_val is not None:
            val_losses = np.concatenate([self.previous_val_losses, np.asarray(self.val_losses, dtype=self.X.dtype)])
        fitted = fitted_attributes(self.weights, self.classes, self.X.shape[1], all_losses, validation,
                                   self.previous_n_iter + n_epochs, val_losses)
        fitted.update(_solver_state=self.state, _solver_key=self.state_key)
        guard = None
        full_batch_gd = config.solver == "gd" and not self.shuffle and not incremental
        if full_batch_gd and len(loss_curve) >= _stability.MIN_ITER:
            guard = self.X, self.T, final_weights, config, self.backend, loss_curve, self.sample_weight
        return fitted, guard

    def learned_nothing_warnings(self) -> list:
        """A ConvergenceWarning (a list of zero or one) when the fitted weights predict one class
        for every training row while the rows hold several.  Up to 32 rows of each class are
        predicted first; only when they all get one class are all rows predicted (the common
        case, a model that learned something, costs a few rows' forward pass)."""
        present = np.flatnonzero(np.bincount(self.y_train, minlength=len(self.classes)))
        if present.shape[0] < 2:
            return []
        sample = np.concatenate([np.flatnonzero(self.y_train == c)[:32] for c in present])
        for rows in (sample, None):
            X = self.X if rows is None else np.ascontiguousarray(self.X[rows])
            try:
                p = network_output(self.backend, X, self.weights, self.config.n_threads, self.config.activation)
            except ValueError:  # outputs undefined in floating point: nothing to say about classes
                return []
            predicted = class_index(p, self.config.threshold)
            if predicted.min() != predicted.max():
                return []
        return [learned_nothing_warning(self.classes[int(predicted[0])], present.shape[0], self.config)]

    def run_epochs(self, hook) -> tuple[np.ndarray, int]:
        """Every epoch in backend calls; with shuffling each call takes the row orders of several
        epochs (one permutation per epoch, drawn in order), at most a twentieth of X's size or
        1 MB: a fit's memory stays bounded by the data, whatever max_iter.  Without shuffling the
        calls run FIRST_CHUNK epochs, then twice as many as all before (the loss curves a call
        fills stay within twice the epochs actually run).  The backends carry every piece of
        state across calls (weights, solver state, counters), so the split changes no result."""
        max_iter, n_train = self.config.max_iter, self.X.shape[0]
        order_bytes = max(self.X.nbytes // 20, 1 << 20)
        chunk = max(1, order_bytes // (8 * n_train)) if self.shuffle else FIRST_CHUNK
        curves, epochs = [], 0
        while epochs < max_iter:
            if not self.shuffle:
                chunk = max(FIRST_CHUNK, epochs)  # doubling: epochs run so far, again
            m = min(chunk, max_iter - epochs)
            order = None
            if self.shuffle:
                order = np.stack([self.rng.permutation(n_train) for _ in range(m)]).astype(np.int64)
            # (sample_weight only with weights; huge_inputs when X's check answered it, which
            # spares the kernels a pass over X in every call)
            options = {} if self.sample_weight is None else {"sample_weight": self.sample_weight}
            if self.huge_inputs is not None:
                options["huge_inputs"] = self.huge_inputs
            curve, ran = self.backend.train(self.X, self.T, self.weights, self.config, self.state, m, order, hook,
                                            **options)
            epochs += ran
            curves.append(curve)
            if ran < m or not np.isfinite(curve).all():
                break  # stopped by tol, early stopping or the callback; or diverged (reported by run)
        return (np.concatenate(curves) if curves else np.empty(0, dtype=self.X.dtype)), epochs

    def on_epoch(self, _epoch: int, loss: float) -> bool:
        """After every epoch, inside the backend's loop (weights updated in place): the validation
        score and loss, the callback and the progress line.  False stops training."""
        config = self.config
        self.losses.append(loss)
        if not np.isfinite(loss):
            return False  # diverged: reported after the loop
        go_on = True
        if self.X_val is not None and not self.score_epoch():
            go_on = False
        if config.callback is not None:
            n = len(self.losses)
            if self.curve_buf.shape[0] < self.n_prev + n:
                self.curve_buf = _grown(self.curve_buf, self.n_prev + n, self.previous_curve)
            self.curve_buf[self.n_prev + n - 1] = loss
            validation = val_losses = None
            if self.X_val is not None:
                self.score_buf, validation = _appended(self.score_buf, self.previous_scores, self.scores)
            if self.T_val is not None:
                self.val_loss_buf, val_losses = _appended(self.val_loss_buf, self.previous_val_losses, self.val_losses)
            curve = self.curve_buf[: self.n_prev + n]
            n_iter = self.previous_n_iter + n
            publish(self.model, self.weights, self.classes, self.X.shape[1], curve, validation, n_iter, val_losses)
            if config.callback(self.model, n_iter, float(loss)) is False:
                go_on = False
        if config.verbose:
            self.report()
        return go_on

    def score_epoch(self) -> bool:
        """The validation set's accuracy (weighted by the rows' weights in the loss when there are
        any) and loss after this epoch; with ``early_stopping``, scikit-learn's rule on the
        accuracy, keeping the best epoch's weights.  False: stop."""
        score = self.validation_accuracy()
        self.scores.append(score)
        if self.T_val is not None:
            self.val_losses.append(self.validation_loss())
        if not self.config.early_stopping:
            return True
        tol = 0.0 if self.config.tol is None else self.config.tol
        self.no_improvement = self.no_improvement + 1 if score < self.best_score + tol else 0
        if score > self.best_score:
            self.best_score, self.best_weights = score, [W.copy() for W in self.weights]
        return self.no_improvement <= self.config.n_iter_no_change

    def validation_accuracy(self) -> float:
        """The accuracy on the validation part, weighted by its rows' weights when there are any."""
        index = predicted_index(self.backend, self.X_val, self.weights, self.config)
        return accuracy(index == self.y_val, self.w_val)

    def validation_loss(self) -> float:
        """The validation set's loss at the current weights: ``J`` as ``loss_and_gradient`` computes
        it (the training loss's formula, the L2 term over the validation weights' sum included)."""
        config = self.config
        return self.backend.loss(self.X_val, self.T_val, self.weights, config.n_threads, config.activation,
                                 config.alpha, sample_weight=self.w_val_loss, huge_inputs=self.huge_val)

    def report(self, force: bool = False) -> None:
        """The progress line, about every half second (and after the first and the last epoch)."""
        now = time.perf_counter()
        n, max_iter = len(self.losses), self.config.max_iter
        if not (force or now - self.last_print >= 0.5 or n == 1):
            return
        self.last_print = now
        elapsed = now - self.start
        eta = elapsed / n * (max_iter - n) if n < max_iter and not force else 0.0
        val = f", validation score {self.scores[-1]:.4f}" if self.scores else ""
        print(
            f"Iteration {self.previous_n_iter + n} ({n}/{max_iter}): loss {self.losses[-1]:.6g}{val}, "
            f"elapsed {elapsed:.1f} s, ETA {eta:.1f} s",
            flush=True,
        )
