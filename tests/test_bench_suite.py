"""The benchmark suite runs end to end at its smallest size and writes the JSON it promises.

No timing is asserted: only that every workload x dtype x contender cell is there, that the
contenders which are installed ran and passed their validation, that the timed runs of a row's
contenders interleave (A B C A B C), and that the optional ones (torch, matplotlib, fann2, a C
compiler) are skipped cleanly when absent. Row (f), mini-batch Adam, needs
``NeuralNetwork(solver=..., batch_size=...)``: with an older backprop its C++ and reference cells
must be skipped with a note saying so, never fail.
"""

import importlib.util
import inspect
import json
import pathlib
import shutil
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
        if r["contender"] not in ("cpp", "cpp_fast", "numpy") or r["workload"] == "h":  # (h): see its own test
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


def test_the_articles_code_runs_on_row_a(smoke):
    _, doc, stdout = smoke
    cells = [r for r in doc["rows"] if r["contender"] == "article"]
    assert {(r["workload"], r["dtype"]) for r in cells} == {("a", "float64"), ("a", "float32")}
    for r in cells:
        assert r["status"] == "ok", r
        assert r["check"]["ok"] and r["xcheck"]["ok"], (r["check"], r["xcheck"])  # the reference's trajectory
    assert "article's numpy code at its best BLAS setting" in stdout
    assert "(a) article: its own numpy code" in stdout


def test_every_blas_contender_is_timed_at_its_best_blas_setting(smoke):
    sys.path.insert(0, str(SUITE.parent))
    from suite.common import BLAS_PROBE_SLACK

    _, doc, stdout = smoke
    if not _installed("threadpoolctl") or doc["meta"]["n_threads"] < 2:
        pytest.skip("needs threadpoolctl and 2 threads")
    settings = {"1 BLAS thread", f"{doc['meta']['n_threads']} BLAS threads"}
    blas = {"numpy", "article", "sklearn", "sklearn_dropin"}
    cells = [r for r in doc["rows"] if r["contender"] in blas and r["status"] == "ok"]
    assert {r["contender"] for r in cells} >= {"numpy", "article"}, {r["contender"] for r in cells}
    for r in cells:
        probes = r["blas_probe_s"]
        assert set(probes) == settings, r
        fastest = min(probes, key=probes.get)
        # the fastest probe's setting is timed; a setting far slower in its probe is not
        assert fastest in r["variants"] and set(r["variants"]) <= settings, r
        assert all(probes[v] <= BLAS_PROBE_SLACK * probes[fastest] for v in r["variants"]), r
        best = min(r["variants"], key=lambda v: r["variants"][v]["median_s"])
        assert r["variant"] == best and r["median_s"] == r["variants"][best]["median_s"], r
    assert "at their best setting" in stdout
    others = [r for r in doc["rows"] if r["contender"] not in blas and r["status"] == "ok"]
    assert others and not any("blas_probe_s" in r or "variant" in r for r in others)


def test_side_rows_run_each_path_beside_its_peer(smoke):
    _, doc, stdout = smoke
    rows = {(r["workload"], r["dtype"], r["contender"]): r for r in doc["rows"]}
    pairs = [("h", "cpp", "cpp_weighted")]
    if _installed("sklearn"):
        pairs += [(g, "dropin", "sklearn_dropin") for g in ("g1", "g2", "g3")]
    for key, ours, peer in pairs:
        for dtype in ("float64", "float32"):
            for c in (ours, peer):
                r = rows[(key, dtype, c)]
                assert r["status"] == "ok" and r["check"]["ok"], r
                assert 0 < r["min_s"] <= r["median_s"]
    assert rows[("h", "float64", "cpp_weighted")]["check"]["what"].endswith("same sample_weight")
    if _installed("sklearn"):
        assert "weight_max_rel_diff" in rows[("g3", "float64", "dropin")]["check"]
    one_row = [c for c, there in (("fann", _installed("fann2")), ("c_header", shutil.which("gcc") or shutil.which("cc")))
               if there]
    for c in one_row:
        for dtype in ("float64", "float32"):
            r = rows[("e1", dtype, c)]
            assert r["status"] == "ok" and r["check"]["ok"], r
    if not _installed("fann2"):
        assert "fann2 is not importable" in " ".join(doc["meta"]["notes"])
    assert "New paths against their peers" in stdout


def test_a_rows_timed_runs_interleave_and_report_min_median_and_flags(tmp_path):
    proc = _suite(tmp_path, "--workloads", "a", "--contenders", "cpp,numpy,article", "--repeats", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "suite_smoke.json").read_text())
    for dtype in ("float64", "float32"):
        cells = [r for r in doc["rows"] if r["dtype"] == dtype]
        assert sorted(r["contender"] for r in cells) == ["article", "cpp", "numpy"]
        runs = sorted((t, r["contender"]) for r in cells for t in r["run_starts"])
        order = [c for _, c in runs]
        assert order == order[:3] * 3 and len(set(order[:3])) == 3, order  # A B C A B C A B C
        for r in cells:
            assert r["min_s"] == min(r["times"]) and r["median_s"] == sorted(r["times"])[1]
            assert r["spread"] >= (r["median_s"] - r["min_s"]) / r["min_s"] - 1e-12
            assert r["nearest_rival"] in {"article", "cpp", "numpy"} - {r["contender"]}
            assert r["noisy"] == (r["spread"] > r["margin"])


def test_flag_spreads_marks_cells_whose_spread_exceeds_the_margin_to_the_nearest_rival():
    sys.path.insert(0, str(SUITE.parent))
    from suite.interleave import flag_spreads, summary

    def cell(c, times):
        return dict(workload="a", dtype="float64", contender=c, status="ok", **summary(times))

    a, b, c = cell("cpp", [1.0, 1.3, 1.05]), cell("torch", [1.113, 1.113, 1.2]), cell("numpy", [3.0, 3.0, 3.01])
    flag_spreads([a, b, c])
    assert a["nearest_rival"] == "torch" and b["nearest_rival"] == "cpp" and c["nearest_rival"] == "torch"
    assert a["spread"] == pytest.approx(0.05) and a["margin"] == pytest.approx(0.06)
    assert not a["noisy"]  # 5 % spread, 6 % to torch
    assert b["spread"] == 0 and not b["noisy"]
    d = cell("sklearn", [1.09, 1.30, 1.14])  # 4.6 % spread, 2.4 % from torch
    flag_spreads([a, b, c, d])
    assert d["nearest_rival"] == "torch" and d["margin"] == pytest.approx(1 - 1.113 / 1.14) and d["noisy"]
    assert not a["noisy"] and a["nearest_rival"] == "torch"
    assert summary([1.0, 1.0, 1.0, 2.0, 2.0])["spread"] == pytest.approx(1.0)  # the IQR counts from 4 runs on


def test_the_side_rows_run_alone(tmp_path):
    proc = _suite(tmp_path, "--workloads", "h")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "suite_smoke.json").read_text())
    assert {(r["workload"], r["contender"]) for r in doc["rows"]} == {("h", "cpp"), ("h", "cpp_weighted")}
    assert all(r["status"] == "ok" for r in doc["rows"])
    assert "(h) sample_weight" in proc.stdout and "(a) article" not in proc.stdout
