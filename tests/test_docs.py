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


def test_readme_api_table_names_every_public_function():
    import backprop

    text = README.read_text()
    for name in backprop.__all__:
        if name.startswith("__"):
            continue
        assert f"| `backprop.{name}" in text or f"| `{name}" in text, name


def test_readme_documents_every_command_line_option():
    from backprop import _cli

    text = README.read_text()
    parser = _cli.build_parser()
    sub = next(a for a in parser._actions if a.choices and "fit" in a.choices)
    for command, subparser in sub.choices.items():
        assert f"python -m backprop {command}" in text, command
        for action in subparser._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert f"`{opt}" in text, f"{command} {opt}"
    for opt in ("--quick", "--out"):
        assert f"python -m backprop.article {opt}" in text or f"`{opt}`" in text, opt


def test_readme_table_of_fit_options_is_the_parsers():
    """One row per estimator option of ``fit``, its flags and default as the parser has them."""
    import argparse

    from backprop import _cli

    text = README.read_text()
    parser = _cli.build_parser()
    sub = next(a for a in parser._actions if a.choices and "fit" in a.choices)
    actions = {a.dest: a for a in sub.choices["fit"]._actions}
    rows = [line for line in text.splitlines() if line.startswith("| `--") and "` | `" in line]
    expected = []
    for p in _cli.fit_params():
        a = actions[p.name]
        flags = " / ".join(f"`{o}`" for o in a.option_strings)
        expected.append(f"| {flags} | `{p.name}` | {_cli.shown_default(a.default)} |")
        if isinstance(a, argparse.BooleanOptionalAction):
            assert len(a.option_strings) == 2
    assert rows == expected


def test_readme_first_command_runs_the_article():
    lines = [line.strip() for line in README.read_text().splitlines() if line.startswith("    python3 -m venv")]
    assert lines[0].endswith('pip install ".[bench]" && python -m backprop.article')


def _stub_names_and_params():
    import ast

    import backprop

    stub = pathlib.Path(backprop.__file__).with_name("_core.pyi")
    tree = ast.parse(stub.read_text())
    names, params = set(), {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
            params[node.name] = [a.arg for a in node.args.args + node.args.kwonlyargs]
        elif isinstance(node, ast.AnnAssign) and not node.target.id.startswith("_"):
            names.add(node.target.id)  # dunders (__version__) are left out, as dir(_core) below is
    return names, params


def test_core_stub_is_installed_and_matches_the_compiled_module():
    """Every public name of backprop._core is in _core.pyi, with the same parameter names."""
    import backprop
    from backprop import _core

    assert pathlib.Path(backprop.__file__).with_name("py.typed").exists()
    names, params = _stub_names_and_params()
    public = {n for n in dir(_core) if not n.startswith("_")}
    assert names == public
    for name, stub_params in params.items():
        # pybind11 puts the signature on the docstring's first line: "train(X: ..., y: ...) -> tuple"
        signature = getattr(_core, name).__doc__.splitlines()[0]
        inside = signature[signature.index("(") + 1 : signature.rindex(")")]
        compiled = [p.split(":")[0].strip() for p in inside.split(", ") if p.strip() and ":" in p]
        assert compiled == stub_params, name
