"""The private module checks everything it is handed: wrong shapes, strides and dtypes raise, never crash."""

import pickle
import sys

import numpy as np
import pytest

from conftest import core_dense_backward, core_dense_forward, core_predict_proba, core_train

from backprop import _core

X = np.zeros((4, 3))
y = np.array([0.0, 1.0, 0.0, 1.0])


def W():
    return [np.zeros((2, 4)), np.zeros((1, 3))]


@pytest.mark.parametrize(
    "args, exc, match",
    [
        ((X.astype(np.int64), y, W()), TypeError, "float64 or float32"),
        ((X, y.astype(np.float32), W()), TypeError, "y must have dtype float64"),
        ((X.astype(np.float32), y, W()), TypeError, "y must have dtype float32"),
        ((X[:, ::2], y, W()), ValueError, "C-contiguous"),
        ((np.asfortranarray(np.zeros((4, 3))), y, W()), ValueError, "C-contiguous"),
        ((X.ravel(), y, W()), ValueError, "must be 2-D"),
        ((X, y[:3], W()), ValueError, "different numbers of samples"),
        ((X, y, [np.zeros((2, 3)), np.zeros((1, 3))]), ValueError, r"weights\[0\] has shape \(2, 3\)"),
        ((X, y, [np.zeros((2, 4)), np.zeros((1, 2))]), ValueError, r"weights\[1\] has shape"),
        ((X, y, [np.zeros((2, 4)), np.zeros((2, 3))]), ValueError, "exactly one row"),
        ((X, y, []), ValueError, "at least one matrix"),
        ((X, y, [np.zeros((2, 4)), "nope"]), TypeError, "not a numpy array"),
        ((X, y, [np.zeros((2, 4), np.float32), np.zeros((1, 3))]), TypeError, "weights"),
        ((X, y, [np.zeros((4, 2)).T, np.zeros((1, 3))]), ValueError, "C-contiguous"),
        ((np.zeros((0, 3)), np.zeros(0), W()), ValueError, "at least one sample"),
    ],
)
def test_train_rejects_malformed_calls(args, exc, match):
    with pytest.raises(exc, match=match):
        core_train(*args, 1.0, 1, 1)


def test_train_rejects_read_only_or_aliased_weights():
    w = W()
    w[0].flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        core_train(X, y, w, 1.0, 1, 1)
    shared = np.zeros((3, 4))  # (3, 3 + 1) chains to itself, so [shared, shared] is well shaped
    with pytest.raises(ValueError, match="distinct"):
        core_train(X, y, [shared, shared, np.zeros((1, 4))], 1.0, 1, 1)


@pytest.mark.parametrize("lr, iters, threads, match", [(np.nan, 1, 1, "learning_rate"), (1.0, -1, 1, "max_iter"),
                                                       (1.0, 1, 0, "n_threads")])
def test_train_rejects_bad_scalars(lr, iters, threads, match):
    with pytest.raises(ValueError, match=match):
        core_train(X, y, W(), lr, iters, threads)


def test_predict_and_kernels_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"weights\[0\] has shape"):
        core_predict_proba(np.zeros((2, 5)), W(), 1)
    with pytest.raises(TypeError):
        core_predict_proba(np.zeros((2, 3), np.float32), W(), 1)
    with pytest.raises(ValueError, match="n_out, n_in"):
        core_dense_forward(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="delta must have shape"):
        core_dense_backward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="different lengths"):
        _core.binary_log_loss(np.zeros(3), np.zeros(2))
    with pytest.raises(TypeError):
        _core.sigmoid(np.zeros(3, np.int32))


def test_returned_arrays_are_fresh_contiguous_and_writeable():
    p = core_predict_proba(X, W(), 1)
    a = core_dense_forward(X, np.zeros((2, 4)))
    for arr in (p, a):
        assert arr.flags.c_contiguous and arr.flags.writeable and arr.flags.owndata
    np.testing.assert_array_equal(p, 0.5)


# ------------------------------------------------------------------ every argument, malformed
# One valid call per function; each array argument in turn is replaced by a malformed version,
# which must raise TypeError or ValueError (never crash, never read out of bounds: the sanitizer
# job runs this under ASan + UBSan).
def _valid_calls():
    return {
        "train": (core_train, [X.copy(), y.copy(), W(), 1.0, 2, 2]),
        "predict_proba": (core_predict_proba, [X.copy(), W(), 2]),
        "dense_forward": (core_dense_forward, [X.copy(), np.zeros((2, 4))]),
        "dense_backward": (core_dense_backward, [X.copy(), np.zeros((2, 4)), np.zeros((4, 2))]),
        "sigmoid": (_core.sigmoid, [y.copy()]),
        "binary_log_loss": (_core.binary_log_loss, [np.full(4, 0.5), y.copy()]),
    }


def _wider(a):
    """Same shape and values, last axis strided (never C-contiguous)."""
    return np.repeat(a, 2, axis=-1)[..., ::2]


MALFORMED = {
    "int64": lambda a: a.astype(np.int64),
    "float16": lambda a: a.astype(np.float16),
    "complex": lambda a: a.astype(complex),
    "object": lambda a: a.astype(object),
    "bool": lambda a: a.astype(bool),
    "big-endian": lambda a: a.astype(">f8"),
    "float32": lambda a: a.astype(np.float32),
    "0-D": lambda a: np.array(0.5),
    "one axis more": lambda a: a[..., None],
    "one axis less": lambda a: a[0] if a.ndim == 1 else a.reshape(-1),  # 1-D -> a numpy scalar
    "strided": _wider,
    "reversed": lambda a: a[::-1] if a.shape[0] > 1 else _wider(a),
    "Fortran": lambda a: np.asfortranarray(a) if a.ndim == 2 and min(a.shape) > 1 else _wider(a),
    "list": lambda a: a.tolist(),
    "None": lambda a: None,
}


def _array_arguments():
    for fname, (_, args) in _valid_calls().items():
        for i, arg in enumerate(args):
            if isinstance(arg, np.ndarray):
                yield fname, i, None
            elif isinstance(arg, list):  # the weights: malform each matrix in turn
                for j in range(len(arg)):
                    yield fname, i, j


@pytest.mark.parametrize(
    "fname, i, j, kind",
    [
        (*where, kind)
        for where in _array_arguments()
        for kind in MALFORMED
        if not (where[0] == "sigmoid" and kind == "float32")  # float32 is valid for sigmoid's only argument
    ],
    ids=lambda v: str(v),
)
def test_every_malformed_array_argument_raises(fname, i, j, kind):
    f, args = _valid_calls()[fname]
    f(*args)  # the unmodified call is valid
    f, args = _valid_calls()[fname]
    target = args[i] if j is None else args[i][j]
    bad = MALFORMED[kind](target)
    if j is None:
        args[i] = bad
    else:
        args[i][j] = bad
    with pytest.raises((TypeError, ValueError)):
        f(*args)


# Dtype objects that are not numpy's own float64 instance but describe the same type: the
# bindings decide most dtypes from the type number and byte order, and these must still pass.
EQUIVALENT_DTYPES = {
    "native order, own instance": lambda a: a.view(a.dtype.newbyteorder("=")),
    "explicit native order": lambda a: a.view(np.dtype("<f8" if sys.byteorder == "little" else ">f8")),
    "with metadata": lambda a: a.view(np.dtype(np.float64, metadata={"unit": "m"})),
    "pickled": lambda a: pickle.loads(pickle.dumps(a)),
}


@pytest.mark.parametrize("kind", EQUIVALENT_DTYPES)
@pytest.mark.parametrize("where", list(_array_arguments()), ids=str)
def test_equivalent_dtype_objects_are_accepted(where, kind):
    fname, i, j = where
    f, args = _valid_calls()[fname]
    expected = f(*args)
    f, args = _valid_calls()[fname]
    target = args[i] if j is None else args[i][j]
    same = EQUIVALENT_DTYPES[kind](target)
    assert same.dtype == np.float64 and same.flags.c_contiguous
    if j is None:
        args[i] = same
    else:
        args[i][j] = same
    np.testing.assert_array_equal(_flat(f(*args)), _flat(expected))


def _flat(result):
    """All numbers of a binding's result (array, scalar, or tuples and lists of them) in one array."""
    if isinstance(result, (tuple, list)):
        return np.concatenate([_flat(r) for r in result]) if result else np.zeros(0)
    return np.ravel(np.asarray(result, dtype=np.float64))


@pytest.mark.parametrize(
    "weights, match",
    [
        ((np.zeros((2, 4)), np.zeros((1, 3))), "incompatible function arguments"),  # a tuple, not a list
        ([np.zeros((2, 4)), None], "not a numpy array"),
        ([np.zeros((2, 4)), np.zeros((0, 3))], r"weights\[1\]"),
        ([np.zeros((0, 4))], r"weights\[0\]"),
    ],
)
def test_malformed_weight_lists_raise(weights, match):
    for call in (lambda: core_train(X, y, list(weights) if isinstance(weights, list) else weights, 1.0, 1, 1),
                 lambda: core_predict_proba(X, weights, 1)):
        with pytest.raises((TypeError, ValueError), match=match):
            call()


def test_train_rejects_weights_that_overlap_each_other_or_the_data():
    buf = np.zeros(30)
    W0, W1 = buf[:12].reshape(3, 4), buf[8:12].reshape(1, 4)  # W1 is the last row of W0
    with pytest.raises(ValueError, match=r"weights\[0\] and weights\[1\] overlap"):
        core_train(X, y, [W0, W1], 1.0, 1, 1)
    data = np.zeros(4 * 3 + 8)
    X_view, W_view = data[:12].reshape(4, 3), data[8:16].reshape(2, 4)  # W overlaps the end of X
    with pytest.raises(ValueError, match=r"weights\[0\] overlaps X or y"):
        core_train(X_view, y, [W_view, np.zeros((1, 3))], 1.0, 1, 1)
    with pytest.raises(ValueError, match="overlaps X or y"):
        core_train(X, y, [np.zeros((2, 4)), y.reshape(1, 4)[:, :3]], 1.0, 1, 1)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_train_rejects_infinite_learning_rate(bad):
    with pytest.raises(ValueError, match="learning_rate"):
        core_train(X, y, W(), bad, 1, 1)


def test_out_of_range_integers_raise():
    with pytest.raises(TypeError):
        core_train(X, y, W(), 1.0, 10**20, 1)
    with pytest.raises(TypeError):
        core_predict_proba(X, W(), 2**40)
    with pytest.raises(MemoryError):  # a loss curve of 10**15 values cannot be allocated
        core_train(X, y, W(), 1.0, 10**15, 1)


# Valid calls at the edges: empty batches, layers without inputs or outputs, many threads.
def test_edge_shapes_match_the_reference():
    from backprop import reference

    rng = np.random.default_rng(0)
    for n, k, m in [(0, 3, 2), (5, 0, 2), (5, 3, 0), (1, 1, 1)]:
        a_prev, Wl = rng.random((n, k)), rng.normal(size=(m, k + 1))
        np.testing.assert_allclose(core_dense_forward(a_prev, Wl), reference.dense_sigmoid_forward(a_prev, Wl))
        if n:
            delta = rng.normal(size=(n, m))
            for got, want in zip(core_dense_backward(a_prev, Wl, delta),
                                 reference.dense_sigmoid_backward(a_prev, Wl, delta)):
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert core_predict_proba(np.zeros((0, 3)), W(), 4).shape == (0,)
    assert _core.sigmoid(np.zeros(0)).shape == (0,)
    p = core_predict_proba(X, W(), 1000)  # more threads than rows
    np.testing.assert_array_equal(p, 0.5)
    loss, n_iter = core_train(X, y, W(), 1.0, 3, 1000)
    assert n_iter == 3 and loss.shape == (3,)


def test_core_reports_the_package_version():
    """_core.__version__ is the version CMake compiled in: the package's own."""
    import backprop

    assert isinstance(_core.__version__, str)
    assert _core.__version__ == backprop.__version__


def test_batch_size_beyond_the_integer_range_is_the_full_batch():
    """batch_size >= n is the full batch, however large (also past the C++ integer range)."""
    W_full, W_huge = W(), W()
    full, _ = core_train(X, y, W_full, 0.5, 3, 1)
    huge, _ = core_train(X, y, W_huge, 0.5, 3, 1, batch_size=2**70)
    np.testing.assert_array_equal(full, huge)
    for a, b in zip(W_full, W_huge):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="batch_size must be None or an integer >= 1"):
        core_train(X, y, W(), 0.5, 1, 1, batch_size=-(2**70))
    with pytest.raises(TypeError, match="batch_size must be None or an integer, got float"):
        core_train(X, y, W(), 0.5, 1, 1, batch_size=2.0)


@pytest.mark.parametrize("tol", ["0.1", [0.1], object()])
def test_non_numeric_tol_is_a_type_error_naming_it(tol):
    with pytest.raises(TypeError, match="tol must be None or a number"):
        core_train(X, y, W(), 0.5, 1, 1, tol=tol)


def test_solver_state_errors_name_the_solver_state():
    state = [np.zeros_like(w) for w in W()]
    state[0].flags.writeable = False
    with pytest.raises(ValueError, match=r"solver_state\[0\] must be writeable"):
        core_train(X, y, W(), 0.5, 1, 1, solver="momentum", solver_state=state)
    with pytest.raises(TypeError, match=r"solver_state\[1\] is not a numpy array"):
        core_train(X, y, W(), 0.5, 1, 1, solver="momentum", solver_state=[np.zeros_like(W()[0]), [0.0]])


def misaligned(a):
    """A C-contiguous copy of ``a`` whose data start one byte past an aligned address."""
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def test_misaligned_inputs_are_read_from_an_aligned_copy():
    """Inputs whose numpy `aligned` flag is false give the aligned results (no misaligned loads:
    the sanitizer job runs this too); arrays written in place must be aligned."""
    for dtype in (np.float64, np.float32):
        Xd, yd, Wd = X.astype(dtype), y.astype(dtype), [w.astype(dtype) for w in W()]
        want = core_predict_proba(Xd, Wd, 2, True, True)
        np.testing.assert_array_equal(core_predict_proba(misaligned(Xd), [misaligned(w) for w in Wd], 2, True, True), want)
        W1, W2 = [w.copy() for w in Wd], [w.copy() for w in Wd]
        curve1, _ = core_train(Xd, yd, W1, 0.5, 3, 2)
        curve2, _ = core_train(misaligned(Xd), misaligned(yd), W2, 0.5, 3, 2)
        np.testing.assert_array_equal(curve1, curve2)
        for a, b in zip(W1, W2):
            np.testing.assert_array_equal(a, b)
        with pytest.raises(ValueError, match=r"weights\[0\] is not aligned"):
            core_train(Xd, yd, [misaligned(Wd[0]), Wd[1].copy()], 0.5, 1, 1)
