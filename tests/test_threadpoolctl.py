"""threadpoolctl sees the C++ kernels' threads and limits those of ``n_threads=None``, whichever
of backprop and threadpoolctl is imported first; an explicit ``n_threads`` is kept."""

import json
import subprocess
import sys
import textwrap

import pytest

threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.5")

# Records the n_threads every training kernel call gets (the test hook: the extension's train).
SCRIPT = textwrap.dedent(
    """
    import json, numpy as np
    {imports}
    from backprop import _core, _backends, _params, _threadpool
    seen = []
    train = _core.train
    def recording(*args, **kwargs):
        seen.append(args[5])  # X, T, weights, learning_rate, n_epochs, n_threads
        return train(*args, **kwargs)
    _backends._core.train = recording

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    def fit(**kw):
        seen.clear()
        backprop.NeuralNetwork(n_hidden=(3,), max_iter=2, random_state=0, **kw).fit(X, y)
        return sorted(set(seen))
    info = [d for d in threadpoolctl.threadpool_info() if d["internal_api"] == "backprop"]
    default = fit()
    with threadpoolctl.threadpool_limits(limits=1):
        limited, explicit, resolved = fit(), fit(n_threads=2), _params.resolved_threads(None)
    after = fit()
    print(json.dumps(dict(info=info, default=default, limited=limited, explicit=explicit,
                          resolved=resolved, after=after, cores=_threadpool.ENVIRONMENT_THREADS)))
    """
)


@pytest.mark.parametrize("first", ["backprop", "threadpoolctl"])
def test_threadpool_limits_bound_n_threads_none(first):
    imports = "import backprop\nimport threadpoolctl" if first == "backprop" else "import threadpoolctl\nimport backprop"
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(imports=imports)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert len(r["info"]) == 1 and r["info"][0]["user_api"] == "backprop"
    assert r["info"][0]["num_threads"] == r["cores"]
    if r["cores"] < 2:
        pytest.skip("one core: a limit of 1 changes nothing to observe")
    assert r["default"] == [r["cores"]] and r["after"] == [r["cores"]]  # the limit is lifted on exit
    assert r["limited"] == [1] and r["resolved"] == 1
    assert r["explicit"] == [2]  # n_threads given: not the limit's business


def test_backprop_does_not_import_threadpoolctl():
    code = "import sys, backprop; print('threadpoolctl' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr


def test_set_limit_bounds_n_threads_none_and_the_symbols_hold_it():
    from backprop import _core, _params, _threadpool

    lib = _threadpool._library()
    try:
        _threadpool.set_limit(1)
        assert _params.resolved_threads(None) == 1 == _threadpool.current == lib.backprop_get_num_threads()
        assert _params.resolved_threads(3) == 3
    finally:
        _threadpool.set_limit(0)
    assert _params.resolved_threads(None) == _threadpool.ENVIRONMENT_THREADS
    assert lib.backprop_get_num_threads() == _core.default_threads()
