"""backprop: feed-forward neural networks trained by backpropagation.

The hot kernels are C++ (``backprop._core``); ``backprop.reference`` is the same algorithm in
readable numpy, and the tests hold the two equal.  Start with :class:`NeuralNetwork`;
:func:`save` and :func:`load` store fitted models as plain ``.npz`` files.

Command line: ``python -m backprop fit | predict | info`` (CSV in, model and predictions out),
and ``python -m backprop.article`` reproduces the article with figures and timings.
"""

from . import reference
from ._estimator import NeuralNetwork
from ._exceptions import NotFittedError, StabilityWarning
from ._gradcheck import GradientCheck, check_gradients
from ._io import load, save

__version__ = "0.1.0"
__all__ = [
    "NeuralNetwork",
    "NotFittedError",
    "StabilityWarning",
    "check_gradients",
    "load",
    "reference",
    "save",
    "__version__",
]
from ._onnx import register_skl2onnx, to_c, to_onnx  # noqa: E402  (onnx itself is imported lazily)
__all__ += ["register_skl2onnx", "to_c", "to_onnx"]
