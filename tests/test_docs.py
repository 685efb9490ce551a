"""The README's promises: its test command is CI's, its API table names every parameter."""

import inspect
import pathlib

import pytest

from backprop import NeuralNetwork

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"

pytestmark = pytest.mark.skipif(not README.exists(), reason="tests run outside the source tree")


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in CI.read_text().splitlines() if "pytest" in line and not line.startswith("#")]
    assert len(ci_lines) == 1
    readme_lines = [line.strip() for line in README.read_text().splitlines()]
    assert ci_lines[0] in readme_lines


def test_readme_api_table_names_every_parameter():
    text = README.read_text()
    for name in inspect.signature(NeuralNetwork).parameters:
        assert f"| `{name}` |" in text, name
    for attr in ("weights_", "classes_", "n_features_in_", "n_iter_", "loss_curve_"):
        assert f"| `{attr}` |" in text, attr
