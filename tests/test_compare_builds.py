"""benchmarks/compare_builds.py: its grid covers what it promises, runs deterministically, and the
comparison finds every difference (and none between identical files).

Building venvs takes minutes, so the two-build run itself is not exercised here; the grid runs
against the installed package, as it does in each build's venv.
"""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

pytestmark = pytest.mark.skipif(not (BENCH / "compare_builds.py").exists(), reason="tests run outside the source tree")


def _module(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def grid():
    return _module("_compare_grid")


@pytest.fixture(scope="module")
def cb():
    return _module("compare_builds")


def test_covering_array_holds_every_pair_triple_and_quadruple(grid):
    rows = grid.covering_rows()
    assert rows == grid.covering_rows()  # deterministic
    for strength in (2, 3, 4):
        assert not grid.covered(rows, strength=strength), strength
    full = {tuple(r[n] for n in grid.FULL_FACTORS) for r in rows}
    assert len(full) == np.prod([len(grid.FACTORS[n]) for n in grid.FULL_FACTORS])


def test_grid_has_the_fixed_configurations(grid):
    names = [n for n, _ in grid.grid()]
    assert len(names) == len(set(names))
    for backend in ("cpp", "numpy"):
        for dtype in ("float64", "float32"):
            for label in ("article [8, 3]", "article []", "2 samples", "1 feature", "1 hidden unit", "wide [300]",
                          "deep narrow [5,4,3,2]", "huge rows sigmoid", "callback", "verbose", "persistence",
                          "gradcheck"):
                assert f"{label} {backend} {dtype}" in names, (label, backend, dtype)


def _run_grid(tmp_path, name, only):
    out = tmp_path / name
    proc = subprocess.run([sys.executable, str(BENCH / "_compare_grid.py"), str(out), "--only", only],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_grid_is_deterministic_and_records_the_fitted_state(tmp_path, cb):
    a, b = _run_grid(tmp_path, "a.npz", "c00"), _run_grid(tmp_path, "b.npz", "c00")
    n_configs, n_arrays, diffs = cb.compare_npz(a, b)
    assert n_configs == 10 and n_arrays > 100 and diffs == []
    with np.load(a) as z:
        fields = {k.split("::", 1)[1] for k in z.files if k.startswith("c000 ")}
    for f in ("weights_::0", "loss_curve_", "n_iter_", "validation_scores_", "predict_proba", "predict",
              "predict_proba_unchecked", "score", "config"):
        assert any(x.endswith(f) for x in fields), f


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_comparison_finds_every_kind_of_difference(tmp_path, cb):
    base = dict(**{"c1::w": np.array([1.0, np.nan, 3.0]), "c1::n": np.array(4), "c2::warnings": np.array("W: x"),
                   "meta::where": np.array("/somewhere")})
    a = _npz(tmp_path / "a.npz", **base)
    same = _npz(tmp_path / "same.npz", **{**base, "meta::where": np.array("/elsewhere")})  # meta is not compared
    assert cb.compare_npz(a, same) == (2, 3, [])
    ulp = np.array([1.0, np.nan, np.nextafter(3.0, 4.0)])
    other = _npz(tmp_path / "b.npz", **{**base, "c1::w": ulp, "c1::n": np.array(4, dtype=np.int32),
                                        "c2::warnings": np.array("W: y"), "c3::extra": np.array(1)})
    n_configs, n_arrays, diffs = cb.compare_npz(a, other)
    found = dict(diffs)
    assert n_configs == 3 and n_arrays == 3
    assert found["c3::extra"] == "only in the second build"
    assert found["c1::n"].startswith("dtype")
    assert "max abs diff 4.44e-16" in found["c1::w"]
    assert "'W: x' vs 'W: y'" in found["c2::warnings"]
    nan_bits = np.array([np.nan, -np.nan])  # two NaNs with different bits are not identical
    assert cb.compare_arrays(nan_bits[:1], nan_bits[1:]) != ""


def test_a_build_that_is_neither_a_tree_nor_a_commit_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "compare_builds.py"), "no-such-ref-xyz", str(tmp_path),
                           "--cache", str(tmp_path / "cache")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "neither a source tree" in proc.stderr


@pytest.fixture(scope="module")
def ab():
    return _module("_compare_bench")


def test_bench_cells_hold_the_rows_the_ab_must_time(ab):
    cfg = ab.scaled(ab.make_config("full"), 0.25)
    tasks = ab.cells(cfg, {"a", "b", "c", "d", "e", "f"}, None)
    have = {(t["workload"], t["dtype"], t["contender"]) for t in tasks}
    for dt in ("float64", "float32"):
        for w in ("a", "b", "c", "f", "d", "e1", "e32"):
            assert (w, dt, "cpp") in have, (w, dt)
        for w in ("d", "e1", "e32"):
            assert (w, dt, "cpp_fast") in have
        assert (("b", dt, "numpy") not in have) and (("f", dt, "numpy") in have)
    a = next(t for t in tasks if t["workload"] == "a")
    assert a["iters"] == 500 and a["n"] == 4000  # the suite's article row, iterations scaled
    only = ab.cells(cfg, {"b"}, ["numpy"])
    assert {t["contender"] for t in only} == {"numpy"} and {t["workload"] for t in only} == {"b"}


def test_bench_alternates_two_workers_and_reports_the_ratio(ab):
    cfg = ab.make_config("smoke")
    tasks = [t for t in ab.cells(cfg, {"a", "e"}, ["cpp", "cpp_fast"]) if t["dtype"] == "float64"][:3]
    with ab.tempfile.TemporaryDirectory() as cwd:
        workers = [ab.Worker(name, sys.executable, ab.worker_env(1), cwd) for name in ("A", "B")]
        try:
            recs = [ab.measure_cell(workers, t, 3) for t in tasks]
        finally:
            for w in workers:
                w.close()
    for rec in recs:
        assert "error" not in rec, rec
        assert rec["checks_ok"] and [len(x) for x in rec["times"]] == [3, 3]
        s = ab.summarise(rec, 0.03)
        assert s["ratio"] > 0 and s["min"][0] <= s["median"][0]
    text = ab.table(recs, cfg, ["A", "B"], 0.03)
    assert "(a) article" in text and "(e) latency" in text and "cells timed" in text
