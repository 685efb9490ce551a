"""benchmarks/bench_dask.py runs end to end at a tiny size and prints its tables (no timing asserted)."""

import pathlib
import re
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dask.py"

pytestmark = [pytest.mark.skipif(not SCRIPT.exists(), reason="tests run outside the source tree"),
              pytest.mark.no_kernels]


def tables(text):
    """The Markdown tables of ``text``: lists of rows, each a list of cells, without the header rule."""
    found, rows = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("| "):
            if "---" not in line:
                rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            found.append(rows)
            rows = []
    return found


def test_bench_dask_prints_every_row():
    pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    out = subprocess.run([sys.executable, str(SCRIPT), "--rows", "3000", "--features", "8", "--hidden", "4",
                          "--block-rows", "1000", "--iterations", "2", "--small-iterations", "2", "--rounds", "1",
                          "--out-of-core-rows", "3000"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    big, small, model, ab = tables(out.stdout)
    for table in (big, small):
        assert table[0][0] == "where" and len(table) == 7, out.stdout  # 6 places
        for row in table[1:]:
            assert float(row[1]) > 0 and float(row[4]) <= 1e-12, row
    assert [row[0] for row in model] == ["workers", "1", "2"], out.stdout
    assert all(float(row[6]) > 0 for row in model[1:]), out.stdout  # measured
    assert [row[0] for row in ab[1:]] == ["whole fit, s", "per iteration, s"], out.stdout
    found = re.search(r"out of core: .* peak resident memory per worker (\d+) MiB .*, (\d+) MiB .* max rel\. weight "
                      r"diff (\S+)", out.stdout)
    assert found and int(found[1]) > 0 and int(found[2]) > 0 and float(found[3]) <= 1e-12, out.stdout
