"""Memory is bounded: sizes are checked before anything is allocated, and what a thread keeps
between calls is given back.

* A network whose weights, gradient and solver state cannot fit in this machine's memory is a
  ``ValueError`` raised before the first allocation (not a ``MemoryError`` from deep inside, or
  the out-of-memory killer), from the estimator and from the command line, and a failed fit
  leaves the model as it was.
* Prediction's per-thread scratch grows for a large call and is released by the next small one,
  so one wide call does not pin hundreds of megabytes for the life of the interpreter.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import backprop
from backprop import _training
from backprop._cli import main


def xy(n=20, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("n_hidden", [(10**9,), (100_000, 100_000), (2**62,)])
def test_a_network_too_big_for_memory_is_refused_before_allocating(backend, n_hidden):
    X, y = xy()
    model = backprop.NeuralNetwork(n_hidden=(3,), max_iter=5, random_state=0, backend=backend).fit(X, y)
    before = [W.copy() for W in model.weights_]
    model.set_params(n_hidden=n_hidden)
    with pytest.raises(ValueError, match=r"GiB.*choose smaller n_hidden"):
        model.fit(X, y)
    assert model.n_hidden == n_hidden and all(np.array_equal(a, b) for a, b in zip(before, model.weights_))
    with pytest.raises(ValueError, match="GiB"):
        backprop.NeuralNetwork(n_hidden=n_hidden, backend=backend).partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize(("dtype", "solver_arrays"), [(np.float64, 0), (np.float32, 1), (np.float64, 2)])
def test_the_bound_counts_weights_gradient_and_solver_state(dtype, solver_arrays):
    shapes = [(7, 5), (1, 8)]  # 43 weights
    needed = 43 * np.dtype(dtype).itemsize * (2 + solver_arrays)
    _training.check_memory(shapes, dtype, solver_arrays, limit=needed)
    with pytest.raises(ValueError, match="43 weights"):
        _training.check_memory(shapes, dtype, solver_arrays, limit=needed - 1)


def test_the_memory_limit_is_a_positive_size_where_it_can_be_read():
    limit = _training.memory_limit()
    if limit is None:
        pytest.skip("neither the physical memory nor a cgroup limit can be read here")
    assert isinstance(limit, int) and limit > 2**20


def test_the_command_line_refuses_a_huge_hidden_layer_in_one_line(tmp_path, capsys):
    X, y = xy()
    path = tmp_path / "d.csv"
    rows = "\n".join(",".join(map(repr, [*x, int(t)])) for x, t in zip(X.tolist(), y.tolist()))
    path.write_text("a,b,c,d,y\n" + rows + "\n")
    out = tmp_path / "m.npz"
    status = main(["fit", str(path), "--target", "y", "--hidden", "1000000000", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 1 and not out.exists()
    assert len(err.splitlines()) == 1 and "GiB" in err and "n_hidden" in err, err


SCRATCH = textwrap.dedent(
    """
    import numpy as np, backprop

    def rss_mib():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

    rng = np.random.default_rng(0)
    model = backprop.NeuralNetwork(n_hidden=(100_000,), max_iter=1, random_state=0, n_threads=2)
    model.fit(rng.normal(size=(64, 1)), np.arange(64) % 2)
    X = rng.normal(size=(100_000, 1))
    one = model.predict_proba(X[:1])
    base = rss_mib()
    model.predict_proba(X)
    big = rss_mib()
    again = model.predict_proba(X[:1])
    print(round(big - base), round(rss_mib() - base), bool(np.array_equal(one, again)))
    """
)


@pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", "") or not sys.platform.startswith("linux"),
    reason="reads Linux's /proc; the sanitizer's allocator keeps freed memory in quarantine",
)
def test_scratch_of_a_wide_prediction_is_released_by_the_next_small_one():
    proc = subprocess.run([sys.executable, "-c", SCRATCH], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    grown, kept, same = proc.stdout.split()
    assert int(grown) > 200, proc.stdout  # the wide call's block buffers: 2 x 256 rows x 100,000 units
    assert int(kept) < 64 and same == "True", proc.stdout
