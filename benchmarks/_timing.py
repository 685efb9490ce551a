"""Shared benchmark plumbing, now living in the package (``backprop._timing``) so that
``python -m backprop.article`` can use it too; this module re-exports it for the scripts here."""

import os

from backprop._timing import BLAS_VARS, blas_env_note, ensure_clean_blas_env, machine_line, median_time

__all__ = ["BLAS_VARS", "blas_env_note", "clean_blas_env", "ensure_clean_blas_env", "machine_line", "median_time"]


def clean_blas_env() -> dict:
    """A copy of os.environ without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, for child processes.

    After ensure_clean_blas_env() the current environment is already clean; this keeps a child
    clean even when a caller skipped that step (the variables act when OpenBLAS loads).
    """
    return {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
