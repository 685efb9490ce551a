"""benchmarks/bench_sklearn.py runs end to end at a tiny size and prints its table (no timing asserted)."""

import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sklearn.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="tests run outside the source tree")


def test_bench_sklearn_prints_every_row_with_equal_float64_models():
    pytest.importorskip("sklearn")
    out = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if "float64" in line or "float32" in line]
    assert len(rows) == 8, out.stdout
    for row in rows:
        assert "(!)" not in row, row  # the smoke sizes run few iterations: the float64 models agree
        *_, sk_time, ours, ratio, diff = row.split()
        assert float(sk_time.rstrip("s")) > 0 and float(ours.rstrip("s")) > 0 and ratio.endswith("x"), row
        assert float(diff) >= 0, row
