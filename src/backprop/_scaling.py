"""Feature standardisation stored with a model: ``x' = (x - mean) / scale`` per column.

The statistics are scikit-learn's ``StandardScaler``'s (``with_mean=True, with_std=True``): the
column means, the population variances (``ddof=0``) and ``scale = sqrt(var)``, with 1 for
(near-)constant columns, detected by scikit-learn's bound on the variance's rounding error.
:meth:`Scaling.of` is the one place that computes them and :meth:`Scaling.apply` the one place
that applies them (the command line's ``fit --standardize`` and ``predict``); the exports write
the same formula through ``_export.network_of``.  A model file stores a :class:`Scaling`
(``_io``), and ``backprop.load`` returns such a file as a scikit-learn
``Pipeline(StandardScaler, NeuralNetwork)``, so a loaded model never expects scaled input
silently.  numpy is all this module needs; scikit-learn is imported only to build or read a
``StandardScaler``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np

__all__ = ["Scaling", "split_pipeline"]


@dataclass(frozen=True)
class Scaling:
    """The per-column statistics of a standardisation (float64 arrays of n_features)."""

    mean: np.ndarray
    var: np.ndarray
    scale: np.ndarray
    n_samples: int

    @classmethod
    def of(cls, X: np.ndarray) -> "Scaling":
        """The statistics of the rows of ``X`` (n_samples, n_features), as ``StandardScaler().fit(X)``."""
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        mean = X.mean(axis=0)
        var = X.var(axis=0)
        eps = np.finfo(np.float64).eps
        constant = var <= n * eps * var + (n * mean * eps) ** 2  # scikit-learn's _is_constant_feature
        scale = np.sqrt(var)
        scale[constant | (scale < 10 * eps)] = 1.0
        return cls(mean=mean, var=var, scale=scale, n_samples=int(n))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """``(X - mean) / scale`` in ``X``'s dtype, as ``StandardScaler.transform``."""
        X = np.asarray(X)
        return (X - self.mean.astype(X.dtype, copy=False)) / self.scale.astype(X.dtype, copy=False)

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def check(self, n_features: int) -> "Scaling":
        """Itself, after checking the shapes (n_features each) and values (finite; scale > 0)."""
        for name in ("mean", "var", "scale"):
            v = getattr(self, name)
            if v.shape != (n_features,):
                raise ValueError(f"the scaling's {name} has shape {v.shape}; the model takes {n_features} features")
            if not np.isfinite(v).all():
                raise ValueError(f"the scaling's {name} holds NaN or infinity")
        if not (self.scale > 0).all() or not (self.var >= 0).all():
            raise ValueError("the scaling's scale must be > 0 and its var >= 0")
        if self.n_samples < 1:
            raise ValueError(f"the scaling's n_samples must be >= 1, got {self.n_samples}")
        return self

    # ------------------------------------------------------------- scikit-learn's StandardScaler
    @classmethod
    def from_scaler(cls, scaler: Any) -> "Scaling":
        """The statistics of a fitted ``StandardScaler(with_mean=True, with_std=True)``."""
        if not (scaler.with_mean and scaler.with_std) or getattr(scaler, "scale_", None) is None or getattr(scaler, "mean_", None) is None:
            raise ValueError("the StandardScaler must be fitted with with_mean=True and with_std=True to be saved")
        n = np.asarray(scaler.n_samples_seen_)
        return cls(
            mean=np.asarray(scaler.mean_, dtype=np.float64),
            var=np.asarray(scaler.var_, dtype=np.float64),
            scale=np.asarray(scaler.scale_, dtype=np.float64),
            n_samples=int(n.max() if n.ndim else n),
        )

    def to_scaler(self, feature_names: Optional[np.ndarray] = None) -> Any:
        """A fitted ``StandardScaler`` with these statistics (needs scikit-learn)."""
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler()
        scaler.mean_, scaler.var_, scaler.scale_ = self.mean.copy(), self.var.copy(), self.scale.copy()
        scaler.n_samples_seen_ = np.int64(self.n_samples)
        scaler.n_features_in_ = self.n_features
        if feature_names is not None:
            scaler.feature_names_in_ = np.asarray(feature_names, dtype=object)
        return scaler

    def pipeline(self, model: Any) -> Any:
        """``Pipeline([("standardscaler", StandardScaler), ("neuralnetwork", model)])``, fitted.
        The feature names move from ``model`` to the scaler, the step that sees the named
        columns (it passes an array on), as in a Pipeline fitted on a DataFrame."""
        from sklearn.pipeline import make_pipeline

        names = model.__dict__.pop("feature_names_in_", None)
        return make_pipeline(self.to_scaler(names), model)


def split_pipeline(model: Any, what: str) -> Tuple[Any, Optional[Any]]:
    """``(network, scaler)`` of a scikit-learn ``Pipeline`` of a ``StandardScaler`` then a
    ``NeuralNetwork``, or ``(model, None)`` for anything else (a Pipeline of other steps is a
    TypeError naming ``what``).  Imports nothing: a Pipeline means scikit-learn is imported."""
    pipeline = sys.modules.get("sklearn.pipeline")
    if pipeline is None or not isinstance(model, pipeline.Pipeline):
        return model, None
    from sklearn.preprocessing import StandardScaler

    from ._estimator import NeuralNetwork

    steps = [step for _, step in model.steps]
    if len(steps) != 2 or not isinstance(steps[0], StandardScaler) or not isinstance(steps[1], NeuralNetwork):
        kinds = ", ".join(type(s).__name__ for s in steps)
        raise TypeError(f"{what} takes a Pipeline of exactly a StandardScaler then a NeuralNetwork, got ({kinds})")
    return steps[1], steps[0]
