"""The benchmark suite runs end to end at its smallest size and writes the JSON it promises.

No timing is asserted: only that every workload x dtype x contender cell is there, that the
contenders which are installed ran and passed their validation, and that the optional ones
(torch, matplotlib) are skipped cleanly when absent. Row (f), mini-batch Adam, needs
``NeuralNetwork(solver=..., batch_size=...)``: with an older backprop its C++ and reference cells
must be skipped with a note saying so, never fail.
"""

import importlib.util
import inspect
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


def _has_solvers():
    from backprop import NeuralNetwork

    return "solver" in inspect.signature(NeuralNetwork).parameters


def _suite(out, *args, timeout=600):
    """Runs the suite in --smoke mode with `args`, writing into `out`."""
    return subprocess.run([sys.executable, str(SUITE), "--smoke", *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = _suite(out)
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
        for c in train:
            if c != "torch_compile":  # row (f) has no torch.compile column
                assert ("f", dtype, c) in rows, ("f", dtype, c)
        for w in ("d", "e1", "e32"):
            for c in infer:
                assert (w, dtype, c) in rows, (w, dtype, c)


def test_backprop_and_reference_cells_ran_and_validated(smoke):
    _, doc, _ = smoke
    for r in doc["rows"]:
        if r["contender"] not in ("cpp", "cpp_fast", "numpy"):
            continue
        if r["workload"] == "f" and not _has_solvers():
            assert r["status"] == "skipped" and "`solver`" in r["note"], r
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


def test_minibatch_adam_row(smoke):
    """(f): mini-batches (a shorter last one too), FLOPs per epoch, memory budget bounded by the batch."""
    _, doc, stdout = smoke
    w = next(w for w in doc["workloads"]["train"] if w["key"] == "f")
    assert w["solver"] == "adam" and w["lr"] == 1e-3
    assert 1 < w["batch_size"] < w["n"] and w["n"] % w["batch_size"] != 0
    rows = [r for r in doc["rows"] if r["workload"] == "f"]
    assert rows
    b = next(r for r in rows if r["contender"] == "numpy" and r["dtype"] == "float64")
    layers = list(zip([w["d"], *w["hidden"]], [*w["hidden"], 1]))
    fwd = 2 * w["n"] * sum((k + 1) * m for k, m in layers)
    per_epoch = 2 * fwd + 2 * w["n"] * sum(k * m for k, m in layers[1:])
    assert b["flops"] == per_epoch * w["iters"]
    assert b["activation_bytes"] == w["batch_size"] * (sum(w["hidden"]) + 1) * 8  # the batch, not N
    assert b["solver_state_bytes"] == 2 * sum((k + 1) * m for k, m in layers) * 8  # Adam's M and S
    ran = [r for r in rows if r["status"] == "ok"]
    assert {r["contender"] for r in ran} >= ({"cpp", "numpy"} if _has_solvers() else set())
    for r in ran:
        assert r["check"]["ok"], r["check"]
        if r["contender"] != "numpy" and "xcheck" in r:
            assert r["xcheck"]["ok"], r["xcheck"]
    assert "(f) mini-batch adam" in stdout


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


def test_repeats_option_sets_the_timed_runs_of_every_cell(tmp_path):
    proc = _suite(tmp_path, "--workloads", "a,d,e", "--contenders", "cpp", "--repeats", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "suite_smoke.json").read_text())
    rows = [r for r in doc["rows"] if r["status"] == "ok"]
    assert {r["workload"] for r in rows} >= {"a", "d", "e1", "e32"}
    for r in rows:  # the smoke mode's own default is 1
        assert r["repeats"] == 3 and len(r["times"]) == 3, (r["workload"], r["contender"], r["times"])
    assert "--repeats 3" in proc.stdout
    bad = _suite(tmp_path, "--repeats", "0", timeout=60)
    assert bad.returncode == 2 and "--repeats must be >= 1" in bad.stderr


def test_workloads_option_runs_only_the_rows_asked_for(tmp_path):
    proc = _suite(tmp_path, "--workloads", "a,e", "--contenders", "cpp,numpy")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "suite_smoke.json").read_text())
    assert {r["workload"] for r in doc["rows"]} == {"a", "e1", "e32"}
    assert all(r["status"] == "ok" for r in doc["rows"]), [r for r in doc["rows"] if r["status"] != "ok"]
    assert doc["scaling"] is None
    assert "(a) article" in proc.stdout and "(b) medium" not in proc.stdout
    bad = _suite(tmp_path, "--workloads", "z", timeout=60)
    assert bad.returncode == 2 and "unknown workloads" in bad.stderr
