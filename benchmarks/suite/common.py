"""Constants every part of the suite shares, and the thread count of every contender."""

from __future__ import annotations

import os


SEED = 0
LR = 1.0
N_CPUS = os.cpu_count() or 1
# --threads N reaches the workers through this variable; without it every contender uses all cores and
# the C++ backend its own default (n_threads=None)
_THREADS_ENV = os.environ.get("BACKPROP_BENCH_THREADS")
N_THREADS = int(_THREADS_ENV) if _THREADS_ENV else N_CPUS
CPP_THREADS = int(_THREADS_ENV) if _THREADS_ENV else None
# Adam's constants, scikit-learn's names and defaults (= the estimator's and torch's defaults)
ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
DTYPES = ["float64", "float32"]
# a BLAS setting whose probe is more than this much slower than the fastest is not timed further
# (measure.blas_timers)
BLAS_PROBE_SLACK = 1.25


def set_threads(n):
    """--threads N in the orchestrator: every contender on n threads (workers read it from the environment)."""
    global N_THREADS, CPP_THREADS
    N_THREADS = CPP_THREADS = n
