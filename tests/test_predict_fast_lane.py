"""The prediction lane of small inputs (``_core.predict_lane``) answers exactly as the general path.

``predict_proba``, ``predict`` and ``predict_proba_unchecked`` first hand the estimator's
``__dict__`` and X to ``_core.predict_lane``, which answers the common case (a fitted C++ model,
X an ndarray of its dtype, C-contiguous, few rows) in one call and returns None for everything
else.  Each test here runs the same call twice, with the lane and with it switched off (so that
the Python lane or the general path answers, as before the lane existed), and requires the same
bytes, dtype and shape, or the same exception and message.  Other tests check that the lane
really answers the common case (or these comparisons would prove nothing) and declines the rest.
"""

import sys
import threading
import warnings

import numpy as np
import pytest
from conftest import make_data

import backprop
from backprop import NeuralNetwork, NotFittedError, _core

# Most fits here are tiny (a few iterations on a few rows): they test plumbing, not learning.
pytestmark = pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")

ESTIMATOR = sys.modules["backprop._estimator"]
ROWS = [0, 1, 2, 3, 4, 5, 8, 64, 300]  # the direct rows, the packed one-thread rows, and beyond
# (hidden layers, features, classes): no hidden layer, one feature, narrow and wide layers,
# widths around the vector sizes, softmax outputs, a long first layer (inputs past one k slice)
SHAPES = [((), 20, 2), ((8, 3), 20, 2), ((32, 16), 20, 2), ((1,), 1, 2), ((5,), 1, 3), ((17,), 7, 4),
          ((64, 33, 9), 37, 2), ((3, 3, 3), 2, 5), ((16,), 300, 2), ((40,), 9, 10)]
ACTIVATIONS = ["sigmoid", "tanh", "relu", "identity"]


def _fit(hidden, d, k, dtype=np.float64, activation="sigmoid", seed=0, **kw):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, d)).astype(dtype)
    y = np.arange(60) % k
    nn = NeuralNetwork(n_hidden=hidden, max_iter=4, random_state=seed, activation=activation, **kw).fit(X, y)
    return nn, rng


def _without_lane(monkeypatch):
    monkeypatch.setattr(ESTIMATOR, "predict_lane", lambda state, X, two_columns, checked: None)


def _outcome(f, X):
    """What f(X) gives: ("ok", bytes, dtype, shape), or ("raises", type, message), warnings included."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            r = np.asarray(f(X))
            out = ("ok", r.tobytes(), r.dtype.str, r.shape)
        except Exception as exc:  # noqa: BLE001 - the exception itself is what is compared
            out = ("raises", type(exc), str(exc))
    return out + tuple(sorted(f"{w.category.__name__}: {w.message}" for w in caught))


def _same_with_and_without_lane(monkeypatch, nn, X, methods=("predict_proba", "predict")):
    with_lane = [_outcome(getattr(nn, m), X) for m in methods]
    with monkeypatch.context() as mp:
        _without_lane(mp)
        without = [_outcome(getattr(nn, m), X) for m in methods]
    for m, a, b in zip(methods, with_lane, without):
        assert a == b, f"{m}: {a[:1] + a[2:]} != {b[:1] + b[2:]}"
    return with_lane


@pytest.mark.parametrize("hidden,d,k", SHAPES, ids=[f"{h}-d{d}-k{k}" for h, d, k in SHAPES])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_lane_gives_the_general_paths_bytes(monkeypatch, dtype, hidden, d, k, activation):
    nn, rng = _fit(hidden, d, k, dtype, activation)
    for n in ROWS:
        for scale in (1.0, 30.0):  # ordinary values, and saturated sigmoids / large logits
            X = (scale * rng.normal(size=(n, d))).astype(dtype)
            _same_with_and_without_lane(monkeypatch, nn, X, ("predict_proba", "predict", "predict_proba_unchecked"))


def test_lane_answers_the_common_case(dtype):
    """Or the comparisons above would compare the general path with itself."""
    for hidden, d, k in SHAPES:
        nn, rng = _fit(hidden, d, k, dtype)
        for n in (1, 2, 5, 64):
            X = rng.normal(size=(n, d)).astype(dtype)
            for two_columns in (True, False):
                for checked in (True, False):
                    p = _core.predict_lane(nn.__dict__, X, two_columns, checked)
                    assert p is not None, (hidden, n, two_columns, checked)
                    want = _core.predict_proba(X, nn.weights_, 1, two_columns, False, "sigmoid", None)
                    assert p.dtype == want.dtype and p.shape == want.shape
                    assert p.tobytes() == want.tobytes()


def test_lane_output_is_a_new_array_the_caller_owns():
    nn, rng = _fit((8, 3), 20, 2)
    x = rng.normal(size=(1, 20))
    a, b = nn.predict_proba(x), nn.predict_proba(x)
    assert a is not b and not np.shares_memory(a, b) and not np.shares_memory(a, x)
    assert a.flags.owndata and a.flags.writeable and a.flags.c_contiguous
    a[:] = -1.0  # the caller's to change: the next answer is unaffected
    np.testing.assert_array_equal(nn.predict_proba(x), b)


class _Subclass(np.ndarray):
    pass


def _awkward_inputs(d, dtype, rng):
    """Inputs the lane declines (each must be answered by the general path, as before)."""
    X = rng.normal(size=(4, d)).astype(dtype)
    other = np.float32 if dtype == np.float64 else np.float64
    pd = pytest.importorskip("pandas")
    wide = np.zeros((4, 2 * d + 1), dtype=dtype)
    wide[:, 1::2] = X
    misaligned = np.frombuffer(b"\0" + X.tobytes(), dtype=dtype, count=X.size, offset=1).reshape(X.shape)
    assert not misaligned.flags.aligned
    return {
        "Fortran order": np.asfortranarray(X),
        "non-contiguous slice": wide[:, 1::2],
        "transposed": np.ascontiguousarray(X.T).T,
        "other float dtype": X.astype(other),
        "int64": np.round(4 * X).astype(np.int64),
        "bool": X > 0,
        "float16": X.astype(np.float16),
        "big-endian": X.astype(np.dtype(dtype).newbyteorder(">")),
        "misaligned": misaligned,
        "read-only": np.lib.stride_tricks.as_strided(X, writeable=False),
        "list": X.tolist(),
        "one row list": X[:1].tolist(),
        "tuple": tuple(map(tuple, X)),
        "ndarray subclass": X.view(_Subclass),
        "DataFrame": pd.DataFrame(X, columns=[f"f{j}" for j in range(d)]),
        "1-D row": X[0],
        "3-D": X[None],
        "0-D": np.asarray(dtype(1.0)),
        "no features": np.zeros((1, 0), dtype=dtype),
        "wrong width": rng.normal(size=(1, d + 1)).astype(dtype),
        "NaN": np.where(np.arange(d) == d - 1, np.nan, 1.0)[None].astype(dtype),
        "inf": np.where(np.arange(d) == 0, -np.inf, 1.0)[None].astype(dtype),
        "NaN and wrong width": np.full((1, d + 1), np.nan, dtype=dtype),
        "huge values": np.full((1, d), np.finfo(dtype).max, dtype=dtype),
        "huge row among ordinary": np.vstack([X[:2], np.full((1, d), -np.finfo(dtype).max, dtype=dtype)]),
        "complex": X.astype(np.complex128),
        "strings": X.astype(str),
        "object": X.astype(object),
        "None": None,
        "dict": {"a": 1},
    }


@pytest.mark.parametrize("hidden,d,k", [((8, 3), 20, 2), ((), 1, 2), ((6,), 3, 3)])
def test_awkward_inputs_give_the_general_paths_answer_or_error(monkeypatch, dtype, hidden, d, k):
    nn, rng = _fit(hidden, d, k, dtype)
    inputs = _awkward_inputs(d, dtype, rng)
    outcomes = {}
    for name, X in inputs.items():
        outcomes[name] = _same_with_and_without_lane(monkeypatch, nn, X)
    # the comparisons cover errors and conversions alike
    assert outcomes["NaN"][0][:2] == ("raises", ValueError) and "NaN or infinity" in outcomes["NaN"][0][2]
    assert outcomes["inf"][0][:2] == ("raises", ValueError)
    assert outcomes["wrong width"][0][:2] == ("raises", ValueError) and "features" in outcomes["wrong width"][0][2]
    assert outcomes["1-D row"][0][:2] == ("raises", ValueError) and "2-D" in outcomes["1-D row"][0][2]
    assert outcomes["NaN and wrong width"][0][2] == outcomes["NaN"][0][2]  # finiteness is checked first
    assert outcomes["Fortran order"][0][0] == outcomes["other float dtype"][0][0] == "ok"
    assert all(np.isfinite(np.frombuffer(outcomes["huge values"][0][1], dtype=dtype)))


def test_lane_declines_what_the_general_path_must_see(dtype):
    nn, rng = _fit((4,), 3, 2, dtype)
    x = rng.normal(size=(1, 3)).astype(dtype)
    lane = _core.predict_lane
    assert lane(nn.__dict__, x, True, True) is not None
    for name, X in _awkward_inputs(3, dtype, rng).items():
        if name in ("NaN", "inf", "NaN and wrong width", "read-only"):
            continue  # the lane's own error (as the general path's), or a plain array it answers
        assert lane(nn.__dict__, X, True, True) is None, name
    assert lane(dict(nn.__dict__), x, True, True) is not None
    assert lane(object(), x, True, True) is None
    for key, value in [("backend", "numpy"), ("backend", "gpu"), ("activation", "softplus"), ("activation", None),
                       ("n_threads", 0), ("n_threads", -1), ("n_threads", 2**31), ("n_threads", True),
                       ("n_threads", 1.0), ("n_threads", np.int64(2)), ("classes_", None),
                       ("n_features_in_", 4), ("n_features_in_", np.int64(3)), ("weights_", tuple(nn.weights_)),
                       ("weights_", []), ("weights_", [nn.weights_[0].astype(np.float16)] + nn.weights_[1:]),
                       ("weights_", [np.asfortranarray(nn.weights_[0])] + nn.weights_[1:]),
                       ("feature_names_in_", np.array(["a", "b", "c"], dtype=object))]:
        state = dict(nn.__dict__, **{key: value})
        assert lane(state, x, True, True) is None, (key, value)
    for key in ("weights_", "classes_", "n_features_in_", "backend", "activation", "n_threads"):
        state = dict(nn.__dict__)
        del state[key]
        assert lane(state, x, True, True) is None, key
    # predict_proba_unchecked does not look at names (nor at finiteness)
    named = dict(nn.__dict__, feature_names_in_=np.array(["a", "b", "c"], dtype=object))
    assert lane(named, x, True, False) is not None
    assert np.isnan(lane(nn.__dict__, np.full((1, 3), np.nan, dtype=dtype), True, False)).all()
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        lane(nn.__dict__, np.full((1, 3), np.inf, dtype=dtype), True, True)
    with pytest.raises(TypeError, match="takes 4 arguments"):
        lane(nn.__dict__, x)


def test_unfitted_and_misconfigured_models_raise_as_before(monkeypatch):
    x = np.zeros((1, 3))
    for method in ("predict_proba", "predict"):
        with pytest.raises(NotFittedError):
            getattr(NeuralNetwork(), method)(x)
    nn, rng = _fit((4,), 3, 2)
    x = rng.normal(size=(1, 3))
    fitted = {a: v for a, v in nn.__dict__.items() if a.endswith("_")}
    changes = [("activation", "softplus"), ("backend", "gpu"), ("n_threads", 0), ("n_threads", 1.5),
               ("n_threads", np.int64(1)), ("threshold", 2.0), ("backend", "numpy"), ("activation", "relu"),
               ("weights_", nn.weights_[:1]), ("weights_", nn.weights_[::-1]), ("weights_", tuple(nn.weights_)),
               ("weights_", [W.astype(np.float32) for W in nn.weights_]), ("weights_", [None]),
               ("n_features_in_", 4), ("classes_", None)]
    for key, value in changes:
        model = NeuralNetwork(**nn.get_params())
        model.__dict__.update(fitted)
        setattr(model, key, value)
        _same_with_and_without_lane(monkeypatch, model, x, ("predict_proba", "predict", "predict_proba_unchecked"))


def test_feature_names_are_checked_as_before(monkeypatch):
    pd = pytest.importorskip("pandas")
    X, y = make_data(40, 3)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    named = NeuralNetwork(n_hidden=(4,), max_iter=3, random_state=0).fit(df, y)
    plain = NeuralNetwork(n_hidden=(4,), max_iter=3, random_state=0).fit(X, y)
    row = X[:1]
    forms = {"ndarray": row, "same names": df[:1], "other order": df[["b", "a", "c"]][:1],
             "other names": pd.DataFrame(row, columns=["a", "b", "z"]), "list": row.tolist()}
    for nn in (named, plain):
        results = {name: _same_with_and_without_lane(monkeypatch, nn, X_) for name, X_ in forms.items()}
        if nn is named:
            assert any("does not have valid feature names" in w for w in results["ndarray"][0][4:])
            assert results["other order"][0][:2] == ("raises", ValueError)
        else:
            assert any("has feature names" in w for w in results["same names"][0][4:])
        assert results["list"][0][0] == "ok"


def test_float32_model_on_float64_rows_is_the_float32_answer(monkeypatch):
    nn, rng = _fit((8, 3), 20, 2, np.float32)
    x64 = rng.normal(size=(1, 20))
    got = _same_with_and_without_lane(monkeypatch, nn, x64)
    want = nn.predict_proba(x64.astype(np.float32))
    assert got[0][1] == want.tobytes() and got[0][2] == np.dtype(np.float32).str


def test_lane_result_does_not_depend_on_threads():
    nn, rng = _fit((32, 16), 20, 2)
    X = rng.normal(size=(3, 20))
    answers = set()
    for n_threads in (None, 1, 2, 7):
        nn.set_params(n_threads=n_threads)
        answers.add(nn.predict_proba(X).tobytes())
    assert len(answers) == 1


def test_weights_changed_in_place_are_used():
    """Nothing is cached: the lane reads weights_ on every call."""
    nn, rng = _fit((8, 3), 20, 2)
    x = rng.normal(size=(1, 20))
    before = nn.predict_proba(x)
    nn.weights_[-1][0, 0] += 1.0
    after = nn.predict_proba(x)
    assert after[0, 1] > before[0, 1]
    nn.weights_ = [W.copy() for W in nn.weights_]
    nn.weights_[-1][0, 0] -= 1.0
    np.testing.assert_array_equal(nn.predict_proba(x), before)


def test_lane_serves_several_threads_at_once():
    nn, rng = _fit((32, 16), 20, 3)
    rows = rng.normal(size=(64, 1, 20))
    want = [nn.predict_proba(r).tobytes() for r in rows]
    errors = []

    def serve():
        for _ in range(20):
            if [nn.predict_proba(r).tobytes() for r in rows] != want:
                errors.append("different answer")

    threads = [threading.Thread(target=serve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_loaded_model_takes_the_lane(tmp_path):
    nn, rng = _fit((8, 3), 20, 2)
    path = tmp_path / "m.npz"
    backprop.save(nn, path)
    loaded = backprop.load(path)
    x = rng.normal(size=(1, 20))
    assert _core.predict_lane(loaded.__dict__, x, True, True) is not None
    np.testing.assert_array_equal(loaded.predict_proba(x), nn.predict_proba(x))


def test_bench_latency_runs():
    import pathlib
    import subprocess

    script = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_latency.py"
    out = subprocess.run([sys.executable, str(script), "--hidden", "3", "--dtype", "float32", "--processes", "1",
                          "--calls", "5", "--repeats", "2"], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines() if "predict_proba" in line]
    assert [r[1] for r in rows] == ["predict_proba", "predict_proba_unchecked"]
    assert all(float(v) > 0 for r in rows for v in r[2:6])


def test_weights_replaced_by_another_thread_during_calls():
    """A call long enough to release the GIL holds the weight arrays it reads: another thread
    replacing weights_ meanwhile gives each call the old or the new model, never freed memory."""
    nn, rng = _fit((512, 256), 64, 2)
    x = rng.normal(size=(2, 64))
    old = [W.copy() for W in nn.weights_]
    new = [W * 0.5 for W in old]
    answers = {nn.predict_proba(x).tobytes()}
    nn.weights_ = new
    answers.add(nn.predict_proba(x).tobytes())
    stop = threading.Event()

    def swap():
        i = 0
        while not stop.is_set():
            i += 1
            nn.weights_ = [W.copy() for W in (old if i % 2 else new)]

    t = threading.Thread(target=swap)
    t.start()
    try:
        for _ in range(300):
            assert nn.predict_proba(x).tobytes() in answers
    finally:
        stop.set()
        t.join()
