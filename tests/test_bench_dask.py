"""benchmarks/bench_dask.py runs end to end at a tiny size and prints its tables (no timing asserted)."""

import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dask.py"

pytestmark = [pytest.mark.skipif(not SCRIPT.exists(), reason="tests run outside the source tree"),
              pytest.mark.no_kernels]


def test_bench_dask_prints_every_row():
    pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    out = subprocess.run([sys.executable, str(SCRIPT), "--rows", "3000", "--features", "8", "--hidden", "4",
                          "--block-rows", "1000", "--iterations", "2", "--small-iterations", "2",
                          "--out-of-core-rows", "3000"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    rows = [row for row in rows if not row.startswith("| where")]
    assert len(rows) == 12, out.stdout  # 6 places, two problems
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1]) > 0 and float(cells[4].replace("e", "E")) <= 1e-12, row
    assert "out of core: a memmapped .npy" in out.stdout
