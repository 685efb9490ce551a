"""Shared benchmark plumbing: a clean BLAS environment for the numpy reference, and median timings."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time

BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def ensure_clean_blas_env() -> str:
    """Re-run this script without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (they slow numpy's BLAS here).

    They must be gone before numpy loads OpenBLAS, so the process re-executes itself once.
    Returns a sentence for the report saying what was done.
    """
    present = [v for v in BLAS_VARS if v in os.environ]
    if present:
        env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
        env["BACKPROP_BENCH_UNSET"] = ",".join(present)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    unset = os.environ.get("BACKPROP_BENCH_UNSET")
    if unset:
        return f"unset {unset} for this run (they slow numpy's BLAS, which the reference uses)"
    return "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE were not set"


def clean_blas_env() -> dict:
    """A copy of os.environ without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, for child processes.

    After ensure_clean_blas_env() the current environment is already clean; this keeps a child
    clean even when a caller skipped that step (the variables act when OpenBLAS loads).
    """
    return {k: v for k, v in os.environ.items() if k not in BLAS_VARS}


def median_time(fn, repeats: int, warmup: int = 1) -> tuple[float, float]:
    """(median, min) wall time of fn() over `repeats` runs after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def machine_line() -> str:
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
