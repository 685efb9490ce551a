"""Model-file members are checked from their .npy headers before any data is read: a zip bomb, a
member declaring a shape the model does not have, or an oversized JSON string is a ValueError
naming the member, raised at once with memory bounded by the model's real size."""

import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import backprop
from backprop import NeuralNetwork
from backprop._io import METADATA_CHARS, PARAMS_CHARS


def _saved(tmp_path, backend="cpp"):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    model = NeuralNetwork(n_hidden=(4,), max_iter=30, random_state=0, backend=backend).fit(X, (X[:, 0] > 0).astype(int))
    path = tmp_path / "m.npz"
    backprop.save(model, path)
    return path


def _replace_member(path, key, write):
    """Rewrite the archive with member ``key``.npy replaced by what ``write(fp)`` streams (deflated)."""
    src = zipfile.ZipFile(path)
    out = path.with_name("bad.npz")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename == key + ".npy":
                with dst.open(key + ".npy", "w", force_zip64=True) as fp:
                    write(fp)
            else:
                dst.writestr(info.filename, src.read(info.filename))
    src.close()
    return out


def _header(fp, dtype, shape):
    np.lib.format.write_array_header_1_0(fp, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                               "fortran_order": False, "shape": shape})


def _bounded(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, time.perf_counter() - t0


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_a_zip_bomb_member_is_refused_unread(tmp_path, backend):
    path = _saved(tmp_path, backend)
    W = backprop.load(path).weights_[0]

    def bomb(fp):  # the right header and data, then 256 MB of zeros that deflate to ~250 KB
        _header(fp, W.dtype, W.shape)
        fp.write(W.tobytes())
        zeros = bytes(1 << 20)
        for _ in range(256):
            fp.write(zeros)

    bad = _replace_member(path, "weights_0", bomb)
    assert bad.stat().st_size < 2 << 20
    def load():
        with pytest.raises(ValueError, match=r"entry 'weights_0' declares 268435[0-9]+ bytes uncompressed"):
            backprop.load(bad)

    peak, seconds = _bounded(load)
    assert peak < 8 << 20 and seconds < 5  # nothing of the 256 MB inflated


def test_a_member_declaring_a_huge_shape_is_a_value_error_not_a_memory_error(tmp_path):
    path = _saved(tmp_path)
    bad = _replace_member(path, "weights_0", lambda fp: (_header(fp, np.float64, (10**12, 4)), fp.write(b"\0" * 64)))
    with pytest.raises(ValueError, match=r"entry 'weights_0' has shape \(1000000000000, 4\): weights_ shapes do not fit"):
        backprop.load(bad)
    bad = _replace_member(path, "loss_curve", lambda fp: (_header(fp, np.float64, (10**12,)), fp.write(b"\0" * 64)))
    with pytest.raises(ValueError, match=r"entry 'loss_curve' has shape \(1000000000000,\): a loss curve of more than n_iter_"):
        backprop.load(bad)


def test_a_huge_model_declared_consistently_but_absent_is_refused_before_reading(tmp_path):
    path = _saved(tmp_path)
    with np.load(path) as d:
        arrays = {k: d[k] for k in d.files}
    params = json.loads(str(arrays["params"]))
    params["n_hidden"] = [10**9]
    arrays["params"] = np.array(json.dumps(params))
    np.savez(path, **arrays)
    bad = _replace_member(path, "weights_0", lambda fp: (_header(fp, np.float64, (10**9, 4)), fp.write(b"\0" * 64)))
    with pytest.raises(ValueError, match=r"entry 'weights_0' declares \d+ bytes uncompressed, but its header and data take"):
        backprop.load(bad)


@pytest.mark.parametrize("key, chars", [("params", PARAMS_CHARS), ("metadata", METADATA_CHARS)])
def test_json_members_are_capped(tmp_path, key, chars):
    path = _saved(tmp_path)
    bad = _replace_member(path, key, lambda fp: (_header(fp, f"<U{chars + 1}", ()), fp.write(b"\0" * 16)))
    with pytest.raises(ValueError, match=rf"entry '{key}' declares {4 * (chars + 1)} bytes of data, more than"):
        backprop.load(bad)


def test_object_members_are_refused(tmp_path):
    path = _saved(tmp_path)
    bad = _replace_member(path, "classes", lambda fp: (_header(fp, object, (2,)), fp.write(b"\0" * 16)))
    with pytest.raises(ValueError, match="entry 'classes' has dtype object"):
        backprop.load(bad)
