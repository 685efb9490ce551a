"""Timing plumbing shared by ``backprop.article`` and the scripts in ``benchmarks/``.

Two environment variables, ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, make numpy's BLAS
(which the numpy reference uses) slower on the project's machine.  OpenBLAS reads them once,
when numpy is first imported, so a timed run must start without them: :func:`ensure_clean_blas_env`
re-executes the current process once without them, and :func:`blas_env_note` says what happened.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from typing import Callable, Optional, Sequence, Tuple

__all__ = ["BLAS_VARS", "ensure_clean_blas_env", "blas_env_note", "median_time", "machine_line"]

BLAS_VARS: Tuple[str, ...] = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_MARKER = "BACKPROP_BENCH_UNSET"


def ensure_clean_blas_env(module: Optional[str] = None, argv: Optional[Sequence[str]] = None) -> str:
    """Re-run this process without ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` if either is set.

    Call it only from a program's entry point (``if __name__ == "__main__":``): when one of the
    variables is set, the process is replaced (``os.execve``) by a fresh interpreter running
    the same program without them, so nothing after the call runs in the original process.

    Parameters
    ----------
    module : str, optional
        Name of the module run with ``python -m`` (for example ``"backprop.article"``); the new
        process runs ``python -m module``.  ``None`` re-runs the script ``sys.argv[0]``.
    argv : sequence of str, optional
        Command-line arguments for the new process; default ``sys.argv[1:]``.

    Returns
    -------
    str
        A sentence for the report saying what was done (see :func:`blas_env_note`).
    """
    present = [v for v in BLAS_VARS if v in os.environ]
    if present:
        args = list(sys.argv[1:] if argv is None else argv)
        program = ["-m", module] if module else [sys.argv[0]]
        env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
        env[_MARKER] = ",".join(present)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *program, *args], env)
    return blas_env_note()


def blas_env_note() -> str:
    """Describe the BLAS environment variables of this process, in one sentence.

    Returns
    -------
    str
        Whether the variables were unset by :func:`ensure_clean_blas_env`, are still set (then
        numpy timings are pessimistic), or were never set.
    """
    unset = [v for v in os.environ.get(_MARKER, "").split(",") if v]
    if unset:
        verb = "they slow" if len(unset) > 1 else "it slows"
        return f"unset {' and '.join(unset)} for this run ({verb} numpy's BLAS, which the numpy reference uses)"
    present = [v for v in BLAS_VARS if v in os.environ]
    if present:
        return f"{', '.join(present)} still set: numpy's BLAS may be slowed, so the numpy timings are pessimistic"
    return "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE were not set"


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Tuple[float, float]:
    """Wall time of ``fn()``: median and minimum over ``repeats`` runs after ``warmup`` untimed runs.

    Parameters
    ----------
    fn : callable
        Called with no arguments.
    repeats : int
        Number of timed calls (>= 1).
    warmup : int, default=1
        Number of untimed calls first.

    Returns
    -------
    (float, float)
        Median and minimum time in seconds.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def machine_line() -> str:
    """One line naming the CPU, the number of logical CPUs and the Python version.

    Returns
    -------
    str
        For example ``"AMD EPYC, 2 logical CPUs, Python 3.11.7"``.
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"
