"""threadpoolctl sees and limits the C++ kernels' threads.

The extension exports two C functions, ``backprop_get_num_threads`` and
``backprop_set_num_threads``: a process-wide limit that ``n_threads=None`` follows
(``_params.resolved_threads``).  :class:`BackpropController` is threadpoolctl's ``LibController``
for them, so ``threadpoolctl.threadpool_info()`` lists backprop and
``threadpoolctl.threadpool_limits(limits=k)`` limits its fits and predictions as it limits
OpenMP and BLAS.  threadpoolctl (>= 3.5, where libraries can register a controller) is never
imported by backprop: the controller is registered when backprop is imported if threadpoolctl
already is, and otherwise right after threadpoolctl's own import, by a one-shot import hook.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import importlib.util
import os
import sys
from typing import Any, Optional

from . import _core

__all__ = ["limit", "install"]

_LIBRARY: Optional[ctypes.CDLL] = None


def _library() -> ctypes.CDLL:
    global _LIBRARY
    if _LIBRARY is None:
        lib = ctypes.CDLL(_core.__file__)  # the extension itself: already loaded, so this only finds it
        lib.backprop_get_num_threads.restype = ctypes.c_int
        lib.backprop_get_num_threads.argtypes = []
        lib.backprop_set_num_threads.restype = None
        lib.backprop_set_num_threads.argtypes = [ctypes.c_int]
        _LIBRARY = lib
    return _LIBRARY


def limit() -> int:
    """The threadpoolctl limit of ``n_threads=None``: the count set, or the hardware threads."""
    return int(_library().backprop_get_num_threads())


def _controller_class(threadpoolctl: Any) -> type:
    from . import _params

    class BackpropController(threadpoolctl.LibController):
        """threadpoolctl's view of backprop's C++ kernels: their threads with ``n_threads=None``."""

        user_api = "backprop"
        internal_api = "backprop"
        filename_prefixes = (os.path.basename(_core.__file__).lower(),)
        check_symbols = ("backprop_get_num_threads", "backprop_set_num_threads")

        def get_num_threads(self) -> int:
            return _params.resolved_threads(None)

        def set_num_threads(self, num_threads: int) -> None:
            _library().backprop_set_num_threads(int(num_threads))

        def get_version(self) -> str:
            return _core.__version__

    return BackpropController


def _register(threadpoolctl: Any) -> None:
    if hasattr(threadpoolctl, "register") and hasattr(threadpoolctl, "LibController"):  # threadpoolctl >= 3.5
        threadpoolctl.register(_controller_class(threadpoolctl))


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``threadpoolctl`` is first imported, lets the usual finders
    find it and registers the controller once its module has run; then removes itself."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "threadpoolctl":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            _register(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]  # this spec's loader only
        return spec


def install() -> None:
    """Register the controller now if threadpoolctl is imported, else when it is."""
    if "threadpoolctl" in sys.modules:
        _register(sys.modules["threadpoolctl"])
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())
