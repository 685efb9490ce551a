"""benchmarks/bench_export.py runs end to end at a tiny size and prints its table (no timing asserted)."""

import pathlib
import shutil
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_export.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="tests run outside the source tree")


def test_bench_export_prints_every_row():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("sklearn")
    out = subprocess.run([sys.executable, str(SCRIPT), "--calls", "50", "--rounds", "1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 5, out.stdout
    for row in rows:
        value = row.rsplit("|", 2)[1].strip()
        if "C header" in row and shutil.which("gcc") is None and shutil.which("cc") is None:
            assert value == "n/a"
        else:
            assert float(value) > 0, row
