"""scikit-learn's own tests of its MLPs, run on backprop's drop-ins, and its estimator checks.

The test file is the installed scikit-learn's ``sklearn/neural_network/tests/test_mlp.py``, read
at test time (so it follows new scikit-learn releases) with its estimator import pointed at
``backprop.MLPClassifier`` and ``backprop.MLPRegressor``, and run by pytest in a subprocess.

No test of that file is excluded.  Those that read or call scikit-learn's private members test
real state of the drop-ins, because the drop-ins keep it: ``_optimizer`` is scikit-learn's
optimizer object, which sets the learning rate between epochs (test_learning_rate_warmstart,
test_adaptive_learning_rate); ``_no_improvement_count`` is kept by scikit-learn's
``_update_no_improvement_count``, which the drop-ins call after each epoch
(test_n_iter_no_change, test_n_iter_no_change_inf); ``_loss_grad_lbfgs`` is scikit-learn's
L-BFGS objective, which calls the drop-ins' ``_backprop``, i.e. backprop's loss and gradient
(test_gradient checks them against finite differences); test_fit sets ``_coef_grads`` and
velocity attributes that neither implementation reads, then checks a worked example.
"""

import pathlib
import re
import subprocess
import sys

import pytest

sklearn = pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import backprop  # noqa: E402

SKLEARN_TESTS = pathlib.Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor\n"

#: Tests of scikit-learn's file that are not run, by name, with the reason (none: see above).
EXCLUDED: dict = {}


def backprop_test_file() -> str:
    """The installed test file with its estimators replaced by backprop's (and a check that they are)."""
    text = SKLEARN_TESTS.read_text()
    assert text.count(IMPORT) == 1, f"{SKLEARN_TESTS} no longer imports the estimators with {IMPORT!r}"
    return text.replace(
        IMPORT,
        "from backprop import MLPClassifier, MLPRegressor\n"
        "assert MLPClassifier.__module__ == MLPRegressor.__module__ == 'backprop._sklearn'\n",
    )


def test_scikit_learns_mlp_tests_pass_on_the_drop_ins(tmp_path):
    path = tmp_path / "test_mlp_backprop.py"
    path.write_text(backprop_test_file())
    deselect = [arg for name in EXCLUDED for arg in ("--deselect", f"{path.name}::{name}")]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sklearn.conftest", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(tmp_path), path.name, *deselect],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary and "error" not in summary, summary


def _every_check(estimators):
    """parametrize_with_checks' mark, its checks listed (scikit-learn < 1.8 hands pytest a generator)."""
    mark = parametrize_with_checks(estimators)
    names, values = mark.args
    return pytest.mark.parametrize(names, list(values), **mark.kwargs)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # the checks fit with max_iter=200
@_every_check([backprop.MLPClassifier(), backprop.MLPRegressor()])
def test_check_estimator(estimator, check):
    check(estimator)
