"""What the command-line tests share: running ``python -m backprop`` as a user would (one
subprocess per command), writing a CSV, and framing an array with the CSV's column names."""

import csv
import subprocess
import sys

import pytest


def run(*args, stdin=None, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "backprop", *map(str, args)],
                          capture_output=True, text=True, input=stdin, cwd=cwd, timeout=timeout)


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def frame(X, columns):
    """X as a DataFrame with the CSV's column names, as a model fitted by the command line expects it."""
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(X, columns=list(columns))
