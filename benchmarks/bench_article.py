"""The article's experiment on both backends, side by side, in float64 and float32.

    python benchmarks/bench_article.py            # full: 2000 iterations, median of 3 fits
    python benchmarks/bench_article.py --quick    # 500 iterations, 1 fit (a smoke run)

The timing table of ``python -m backprop.article`` (section 1), without the figures, the
convergence study and the sweep, and with float32 rows too: both run the same code,
``backprop.article.compare_backends``.  Needs the [bench] extra.
"""

from __future__ import annotations

import argparse
import json
import sys

from _timing import ensure_clean_blas_env, machine_line

BLAS_NOTE = ensure_clean_blas_env()

import numpy as np  # noqa: E402

import backprop  # noqa: E402
from backprop import article  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="500 iterations, one timed fit")
    parser.add_argument("--repeats", type=int, default=None, help="timed fits per cell (default 3, quick 1)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        article._require_extras()
    except article.MissingExtraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    max_iter = 500 if args.quick else 2000
    repeats = args.repeats or (1 if args.quick else 3)

    print(f"backprop {backprop.__version__}: the article's experiment, {max_iter} iterations, learning_rate=1.0")
    print(f"machine: {machine_line()}; numpy {np.__version__}; C++ kernels built for {backprop._core.isa}")
    print(f"BLAS environment: {BLAS_NOTE}")
    print(f"timing: median of {repeats} fit(s) after one 10-iteration warm-up fit\n")
    rows, _ = article.compare_backends(
        article.article_data(), max_iter=max_iter, repeats=repeats, dtypes=(np.float64, np.float32),
        progress=not args.no_progress,
    )
    print(article.timing_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(max_iter=max_iter, repeats=repeats, blas=BLAS_NOTE, machine=machine_line(), rows=rows), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
