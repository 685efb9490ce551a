"""The package's warning and exception classes.

``NotFittedError`` is also scikit-learn's ``NotFittedError`` when scikit-learn is loaded, so that
scikit-learn's own checks recognise it; backprop never imports scikit-learn for that.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

__all__ = ["NotFittedError", "StabilityWarning", "ConvergenceWarning", "not_fitted_error"]


class ConvergenceWarning(UserWarning):
    """A fit learned nothing: it ends predicting a single class for training data that holds several.

    The message names the likely causes (unscaled features, the learning rate, too few
    iterations).  Filter it with ``warnings.simplefilter("ignore", backprop.ConvergenceWarning)``.
    """

    __module__ = "backprop"


class StabilityWarning(UserWarning):
    """Full-batch gradient descent oscillates or diverges: ``learning_rate`` is above the stability limit.

    Issued once per ``fit`` when the training loss rises or cycles instead of decreasing; the
    message names the largest stable learning rate estimated from the loss's curvature.
    Training itself is never changed: this is only a warning.
    """

    __module__ = "backprop"


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before ``fit`` (like scikit-learn's, a ValueError and an AttributeError).

    When scikit-learn is already imported, the error raised is also an instance of
    ``sklearn.exceptions.NotFittedError`` (scikit-learn itself is never imported by backprop).
    """

    def __reduce__(self):
        return not_fitted_error, self.args


@functools.lru_cache(maxsize=None)
def _with_sklearn_base(sklearn_cls: type) -> type:
    namespace = {"__module__": __name__, "__doc__": NotFittedError.__doc__}
    return type("NotFittedError", (NotFittedError, sklearn_cls), namespace)


def not_fitted_error(*args: Any) -> NotFittedError:
    """A NotFittedError that is also scikit-learn's when scikit-learn is loaded (never imports it)."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    cls = NotFittedError
    if sklearn_exceptions is not None and isinstance(getattr(sklearn_exceptions, "NotFittedError", None), type):
        cls = _with_sklearn_base(sklearn_exceptions.NotFittedError)
    return cls(*args)
