"""Every code block of the README runs as pasted: each Python block in a fresh folder, in a
process of its own, and the C program against the header the README's Python makes."""

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(not README.exists(), reason="tests run outside the source tree")

TEXT = README.read_text() if README.exists() else ""
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", TEXT, re.S | re.M)
C_BLOCKS = re.findall(r"^```c\n(.*?)^```", TEXT, re.S | re.M)


def needs(block):
    """The optional packages a block imports: its test skips when one is missing."""
    return [m for m in ("onnx", "onnxruntime", "skl2onnx", "sklearn", "dask", "distributed") if re.search(rf"^\s*(import|from) {m}\b", block, re.M)]


def run_python(block, cwd):
    return subprocess.run([sys.executable, "-c", block], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_readme_has_blocks():
    assert len(PYTHON_BLOCKS) >= 4 and len(C_BLOCKS) >= 1


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_block_runs_as_pasted(index, tmp_path):
    block = PYTHON_BLOCKS[index]
    for module in needs(block):
        pytest.importorskip(module)
    proc = run_python(block, tmp_path)
    assert proc.returncode == 0, f"block {index}:\n{block}\n{proc.stderr}"
    assert proc.stdout.strip(), f"block {index} prints nothing: a value its comments promise is not shown"


@pytest.mark.parametrize("index", range(len(C_BLOCKS)))
def test_c_block_compiles_and_runs_on_the_readme_header(index, tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    program = C_BLOCKS[index]
    header = re.search(r'#include "(\w+\.h)"', program).group(1)
    makers = [b for b in PYTHON_BLOCKS if f'"{header}"' in b]
    assert makers, f"no Python block of the README writes {header}"
    for module in needs(makers[0]):
        pytest.importorskip(module)
    proc = run_python(makers[0], tmp_path)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "main.c").write_text(program)
    build = subprocess.run([cc, "-std=c99", "-O2", "main.c", "-o", "main", "-lm"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    out = subprocess.run(["./main"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip()
    promised = re.search(r"\./main\s+#\s*(.+)", TEXT)
    if promised:  # the output the README shows beside its command
        assert out.stdout.strip() == promised.group(1).strip()
