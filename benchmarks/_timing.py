"""Shared benchmark plumbing, now living in the package (``backprop._timing``) so that
``python -m backprop.article`` can use it too; this module re-exports it for the scripts here."""

from backprop._timing import BLAS_VARS, blas_env_note, ensure_clean_blas_env, machine_line, median_time

__all__ = ["BLAS_VARS", "blas_env_note", "ensure_clean_blas_env", "machine_line", "median_time"]
