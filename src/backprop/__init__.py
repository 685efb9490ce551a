"""backprop: feed-forward neural networks trained by backpropagation.

The hot kernels are C++ (``backprop._core``); ``backprop.reference`` is the same algorithm in
readable numpy, and the tests hold the two equal.  Start with :class:`NeuralNetwork`;
:func:`save` and :func:`load` store fitted models as plain ``.npz`` files.

``backprop.MLPClassifier`` and ``backprop.MLPRegressor`` are scikit-learn's estimators on
backprop's kernels (they need scikit-learn: the ``[sklearn]`` extra).

Command line: ``python -m backprop fit | predict | info`` (CSV in, model and predictions out),
and ``python -m backprop.article`` reproduces the article with figures and timings.
"""

from . import reference
from ._core import __version__
from ._estimator import NeuralNetwork
from ._exceptions import ConvergenceWarning, NotFittedError, StabilityWarning
from ._gradcheck import GradientCheck, check_gradients
from ._export import to_c
from ._io import load, save
from ._onnx import register_skl2onnx, to_onnx  # onnx and skl2onnx are imported when used
from ._threadpool import install as _install_threadpool_controller

_install_threadpool_controller()  # threadpoolctl is not imported: its controller is registered when it is

__all__ = [
    "ConvergenceWarning",
    "MLPClassifier",
    "MLPRegressor",
    "NeuralNetwork",
    "NotFittedError",
    "StabilityWarning",
    "GradientCheck",
    "check_gradients",
    "load",
    "reference",
    "register_skl2onnx",
    "save",
    "to_c",
    "to_onnx",
    "__version__",
]


_SKLEARN_DROP_INS = ("MLPClassifier", "MLPRegressor")


def __dir__():
    return sorted(set(globals()) | set(_SKLEARN_DROP_INS))


def __getattr__(name: str):
    # scikit-learn's drop-ins import scikit-learn: loaded on first use, so that importing backprop
    # needs numpy only.
    if name in _SKLEARN_DROP_INS:
        from . import _sklearn

        return getattr(_sklearn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
