"""backprop: feed-forward neural networks trained by backpropagation.

The hot kernels are C++ (``backprop._core``); ``backprop.reference`` is the same algorithm in
readable numpy, and the tests hold the two equal.  Start with :class:`NeuralNetwork`;
:func:`save` and :func:`load` store fitted models as plain ``.npz`` files.

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
