"""backprop: feed-forward neural networks trained by backpropagation.

The hot kernels are C++ (``backprop._core``); ``backprop.reference`` is the same algorithm in
readable numpy, and the tests hold the two equal.  Start with :class:`NeuralNetwork`.
"""

from . import reference
from ._estimator import NeuralNetwork, NotFittedError

__version__ = "0.1.0"
__all__ = ["NeuralNetwork", "NotFittedError", "reference", "__version__"]
