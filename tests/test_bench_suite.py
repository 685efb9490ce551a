"""The benchmark suite runs end to end at its smallest size and writes the JSON it promises.

No timing is asserted: only that every workload x dtype x contender cell is there, that the
contenders which are installed ran and passed their validation, and that the optional ones
(torch, matplotlib) are skipped cleanly when absent.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SUITE = ROOT / "benchmarks" / "bench_suite.py"

pytestmark = pytest.mark.skipif(not SUITE.exists(), reason="tests run outside the source tree")


def _installed(module):
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(SUITE), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((out / "suite_smoke.json").read_text())
    return out, doc, proc.stdout


def test_json_has_the_promised_sections(smoke):
    _, doc, _ = smoke
    assert {"meta", "workloads", "peak", "rows", "scaling", "targets"} <= set(doc)
    meta = doc["meta"]
    assert meta["mode"] == "smoke"
    for key in ("machine", "cpu_flags", "blas_env", "versions", "n_threads", "peaks", "contenders", "notes", "wall_s"):
        assert key in meta, key
    assert "OPENBLAS_CORETYPE" in meta["blas_env"]
    for dtype in ("float64", "float32"):
        assert doc["peak"][dtype] > 0


def test_every_cell_is_present(smoke):
    _, doc, _ = smoke
    rows = {(r["workload"], r["dtype"], r["contender"]): r for r in doc["rows"]}
    contenders = doc["meta"]["contenders"]
    train = [c for c in ("cpp", "numpy", "torch", "torch_compile", "sklearn") if c in contenders]
    infer = [c for c in ("cpp", "cpp_fast", "numpy", "torch", "sklearn") if c in contenders]
    assert {"cpp", "cpp_fast", "numpy"} <= set(contenders)
    for dtype in ("float64", "float32"):
        for w in ("a", "b", "c"):
            for c in train:
                assert (w, dtype, c) in rows, (w, dtype, c)
        for w in ("d", "e1", "e32"):
            for c in infer:
                assert (w, dtype, c) in rows, (w, dtype, c)


def test_backprop_and_reference_cells_ran_and_validated(smoke):
    _, doc, _ = smoke
    for r in doc["rows"]:
        if r["contender"] not in ("cpp", "cpp_fast", "numpy"):
            continue
        assert r["status"] == "ok", r
        for key in ("median_s", "min_s", "repeats", "gflops", "ratio_to_reference", "flops"):
            assert key in r, (key, r["workload"], r["contender"])
        assert r["median_s"] > 0 and r["flops"] > 0
        assert r["check"]["ok"], r["check"]
        if r["kind"] == "train":
            assert r["rss_delta_bytes"] >= 0
            assert r["train_data_bytes"] > 0 and r["activation_bytes"] > 0
            if r["contender"] != "numpy":
                assert r["xcheck"]["ok"], r["xcheck"]
        if r["contender"] == "numpy":
            assert r["ratio_to_reference"] == pytest.approx(1.0)


def test_optional_contenders_run_or_are_skipped_with_a_note(smoke):
    _, doc, stdout = smoke
    contenders = doc["meta"]["contenders"]
    notes = " ".join(doc["meta"]["notes"])
    if _installed("torch"):
        assert "torch" in contenders
        assert all(r["status"] == "ok" and r["check"]["ok"] for r in doc["rows"] if r["contender"] == "torch")
    else:
        assert "torch" not in contenders and "PyTorch is not installed" in notes
    if _installed("sklearn"):
        assert all(r["status"] == "ok" and r["check"]["ok"] for r in doc["rows"] if r["contender"] == "sklearn")
    assert "torch_compile" not in contenders  # never in --smoke unless --compile
    assert "backprop C++" in stdout and "reference numpy" in stdout


def test_scaling_tables_and_outputs(smoke):
    out, doc, _ = smoke
    sc = doc["scaling"]
    assert sc["status"] == "ok"
    assert {e["n"] for e in sc["by_n"]} == set(doc["workloads"]["scaling"]["ns"])
    assert {e["iters"] for e in sc["by_iter"]} == set(doc["workloads"]["scaling"]["iters"])
    assert (out / "suite_smoke.txt").exists()
    assert (out / "suite_smoke.png").exists() == _installed("matplotlib")
