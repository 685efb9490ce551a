"""The private module checks everything it is handed: wrong shapes, strides and dtypes raise, never crash."""

import numpy as np
import pytest

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
        _core.train(*args, 1.0, 1, 1)


def test_train_rejects_read_only_or_aliased_weights():
    w = W()
    w[0].flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core.train(X, y, w, 1.0, 1, 1)
    shared = np.zeros((3, 4))  # (3, 3 + 1) chains to itself, so [shared, shared] is well shaped
    with pytest.raises(ValueError, match="distinct"):
        _core.train(X, y, [shared, shared, np.zeros((1, 4))], 1.0, 1, 1)


@pytest.mark.parametrize("lr, iters, threads, match", [(np.nan, 1, 1, "learning_rate"), (1.0, -1, 1, "max_iter"),
                                                       (1.0, 1, 0, "n_threads")])
def test_train_rejects_bad_scalars(lr, iters, threads, match):
    with pytest.raises(ValueError, match=match):
        _core.train(X, y, W(), lr, iters, threads)


def test_predict_and_kernels_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"weights\[0\] has shape"):
        _core.predict_proba(np.zeros((2, 5)), W(), 1)
    with pytest.raises(TypeError):
        _core.predict_proba(np.zeros((2, 3), np.float32), W(), 1)
    with pytest.raises(ValueError, match="n_out, n_in"):
        _core.dense_sigmoid_forward(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="delta must have shape"):
        _core.dense_sigmoid_backward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="different lengths"):
        _core.binary_log_loss(np.zeros(3), np.zeros(2))
    with pytest.raises(TypeError):
        _core.sigmoid(np.zeros(3, np.int32))


def test_returned_arrays_are_fresh_contiguous_and_writeable():
    p = _core.predict_proba(X, W(), 1)
    a = _core.dense_sigmoid_forward(X, np.zeros((2, 4)))
    for arr in (p, a):
        assert arr.flags.c_contiguous and arr.flags.writeable and arr.flags.owndata
    np.testing.assert_array_equal(p, 0.5)
