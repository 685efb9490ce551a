"""The threads of ``n_threads=None``, and threadpoolctl's view and limit of them.

:data:`current` is what ``n_threads=None`` means now: every core, fewer when ``OMP_NUM_THREADS``
is set lower (read at import; joblib's worker processes, e.g. of ``GridSearchCV(n_jobs=k)``, get
it set to cores // k so that k fits do not each take every core), and fewer again inside a
``threadpoolctl.threadpool_limits(limits=k)``.  The estimator reads it on every call (a module
attribute: one-row predictions are timed in microseconds), and only :func:`set_limit` changes it.

:class:`BackpropController` is threadpoolctl's ``LibController`` for it, so
``threadpoolctl.threadpool_info()`` lists backprop and ``threadpool_limits`` limits its fits and
predictions as it limits OpenMP and BLAS.  threadpoolctl finds a library among the loaded ones by
C symbols: the extension exports ``backprop_get_num_threads`` / ``backprop_set_num_threads``,
which hold the same limit for C callers (:func:`set_limit` writes both).  threadpoolctl
(>= 3.5, where libraries can register a controller) is never imported by backprop: the
controller is registered when backprop is imported if threadpoolctl already is, and otherwise
right after threadpoolctl's own import, by a one-shot import hook.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import importlib.util
import os
import sys
from typing import Any, Optional

from . import _core

__all__ = ["current", "set_limit", "install"]


def _environment_threads() -> int:
    """Every core, or ``OMP_NUM_THREADS`` when it is set lower."""
    cores = _core.default_threads()
    try:
        limit = int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0])
    except ValueError:
        return cores
    return min(cores, limit) if limit >= 1 else cores


#: The threads of ``n_threads=None`` outside any threadpoolctl limit (read once: asking costs microseconds).
ENVIRONMENT_THREADS = _environment_threads()

#: The threads of ``n_threads=None`` now.
current = ENVIRONMENT_THREADS

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


def set_limit(num_threads: int) -> None:
    """Limit ``n_threads=None`` to ``num_threads`` (< 1: no limit), as ``threadpool_limits`` does."""
    global current
    n = int(num_threads)
    _library().backprop_set_num_threads(n)
    current = min(ENVIRONMENT_THREADS, n) if n >= 1 else ENVIRONMENT_THREADS


def _controller_class(threadpoolctl: Any) -> type:
    class BackpropController(threadpoolctl.LibController):
        """threadpoolctl's view of backprop's C++ kernels: their threads with ``n_threads=None``."""

        user_api = "backprop"
        internal_api = "backprop"
        filename_prefixes = (os.path.basename(_core.__file__).lower(),)
        check_symbols = ("backprop_get_num_threads", "backprop_set_num_threads")

        def get_num_threads(self) -> int:
            return current

        def set_num_threads(self, num_threads: int) -> None:
            set_limit(num_threads)

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
