"""``python -m backprop.article --quick``: it runs, writes its figures and prints its tables."""

import json
import subprocess
import sys

import numpy as np
import pytest

PNGS = ("roc_logistic.png", "roc_8_3.png", "logistic_convergence.png", "auc_vs_hidden_nodes.png")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    for module in ("sklearn", "matplotlib", "tqdm", "threadpoolctl"):
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("article")
    proc = subprocess.run(
        [sys.executable, "-m", "backprop.article", "--quick", "--no-progress", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout, out


def test_figures_are_written(quick_run):
    stdout, out = quick_run
    for name in PNGS:
        path = out / name
        assert path.exists(), name
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 10_000, name  # a drawn figure, not an empty canvas
        assert str(path) in stdout


def _table(stdout, first_header):
    """The body rows of the table whose header line starts with ``first_header``."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_header))
    assert set(lines[start + 1]) == {"-"}
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_timing_table_has_both_models_on_both_backends(quick_run):
    stdout, _ = quick_run
    rows = _table(stdout, "model ")
    assert len(rows) == 6
    logistic = [r for r in rows if r[0] == "[]"]
    deep = [r for r in rows if r[:2] == ["[8,", "3]"]]
    assert [r[1] for r in logistic] == ["C++", "numpy", "numpy"]
    assert [r[2] for r in deep] == ["C++", "numpy", "numpy"]
    # the backends start from the same weights and agree: same accuracies and AUCs in every row
    for group in (logistic, deep):
        assert len({tuple(r[-4:]) for r in group}) == 1
        assert group[0][-5] == "-" and all(r[-5].endswith("x") for r in group[1:])


def test_convergence_section(quick_run):
    stdout, _ = quick_run
    assert "does not converge" in stdout
    rows = _table(stdout, "logistic regression, n_hidden=[]")
    assert [r[0] for r in rows] == ["learning_rate=1.0", "learning_rate=0.1", "scikit-learn"]
    cycle = [float(v) for v in rows[0][3:6:2]]  # "a / b"
    assert abs(cycle[0] - cycle[1]) > 0.1  # the 2-cycle
    assert "2/L = 0.136" in stdout
    assert "StabilityWarning: the training loss rises or cycles" in stdout  # the guard's message, printed
    assert "largest stable learning rate is about 0.136" in stdout


def test_sweep_table_rows(quick_run):
    stdout, _ = quick_run
    rows = _table(stdout, "units")
    assert [int(r[0]) for r in rows] == [1, 2, 4, 8]
    aucs = [float(r[1]) for r in rows]
    assert all(0.5 < a <= 1.0 for a in aucs)
    assert "flattens at" in stdout


def test_results_json(quick_run):
    _, out = quick_run
    res = json.loads((out / "results.json").read_text())
    assert res["quick"] is True and res["max_iter"] == 100
    assert len(res["timing"]) == 6
    assert [r["units"] for r in res["sweep"]["summary"]] == [1, 2, 4, 8]
    assert len(res["logistic_convergence"]["unstable"]["loss_curve"]) == 100


def test_missing_extra_is_one_clear_line(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from backprop import article\n"
        f"sys.exit(article.main(['--quick', '--out', {str(tmp_path)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "[bench]" in lines[0] and "matplotlib" in lines[0], proc.stderr
    assert not list(tmp_path.iterdir())


def test_helpers():
    from backprop import article

    summary = [dict(units=u, auc_mean=a) for u, a in [(1, 0.80), (2, 0.90), (4, 0.951), (8, 0.955), (16, 0.953)]]
    knee = article.elbow(summary, tolerance=0.005)
    assert knee["units"] == 4 and knee["best_units"] == 8
    text = article.format_table(["a", "bb"], [["x", 1], ["yy", 22]])
    assert text.splitlines() == ["a   bb", "------", "x    1", "yy  22"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    lim = article.stability_limits(X, p=np.full(50, 0.5))
    X1 = np.hstack([np.ones((50, 1)), X])
    lmax = np.linalg.eigvalsh(X1.T @ X1 / 50)[-1]
    assert lim["L"] == pytest.approx(lmax / 4) and lim["global"] == pytest.approx(8 / lmax)
    assert lim["local"] == pytest.approx(lim["global"])  # p = 1/2 is the worst case, D = I/4


@pytest.mark.parametrize("as_module", [False, True], ids=["script", "module"])
def test_blas_variables_are_unset_and_reported(tmp_path, as_module):
    """ensure_clean_blas_env re-runs the program (a script, or python -m module) without the two variables."""
    import os

    module = "probe" if as_module else None
    (tmp_path / "probe.py").write_text(
        "import os, sys\n"
        "from backprop._timing import ensure_clean_blas_env\n"
        f"note = ensure_clean_blas_env(module={module!r})\n"
        "print(sys.argv[1:], os.environ.get('OPENBLAS_CORETYPE'), os.environ.get('OPENBLAS_L2_SIZE'))\n"
        "print(note)\n"
    )
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell", OPENBLAS_L2_SIZE="512")
    program = ["-m", "probe"] if as_module else [str(tmp_path / "probe.py")]
    proc = subprocess.run([sys.executable, *program, "--flag", "x"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    first, note = proc.stdout.splitlines()
    assert first == "['--flag', 'x'] None None"
    assert note.startswith("unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for this run")


def test_the_warm_up_fit_s_convergence_warning_is_not_shown():
    """A 10-iteration warm-up need not have learned anything; its warning would only mislead."""
    import warnings

    from backprop import ConvergenceWarning, NeuralNetwork, article

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 20))
    y = (X[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(int)
    kw = dict(n_hidden=(8, 3), learning_rate=1.0, random_state=0)
    with pytest.warns(ConvergenceWarning):  # what the warm-up fit alone says
        NeuralNetwork(max_iter=10, **kw).fit(X, y)

    class Bar:
        def update(self, n):
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, times = article._timed_fits(X, y, kw, 2000, 1, Bar())
    assert len(times) == 1 and model.n_iter_ == 2000
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)], [str(w.message) for w in caught]
