"""Each C++ kernel against its numpy twin in backprop.reference, and gradients against finite differences."""

import numpy as np
import pytest
from conftest import assert_close, core_dense_backward, core_dense_forward, initial_weights, make_data

from backprop import _core, reference

# (n, k, m): one sample, one feature, one output, sizes that are no multiple of any SIMD width.
LAYER_SHAPES = [(1, 1, 1), (1, 5, 3), (2, 1, 7), (7, 3, 1), (13, 17, 9), (31, 8, 16), (64, 33, 5), (257, 100, 37)]


def test_sigmoid_matches_reference_everywhere(dtype):
    big = np.finfo(dtype).max
    z = np.concatenate(
        [
            np.array([-big, -1e30, -800, -745.5, -740, -708.5, -103.9, -88, -30, -1, -1e-12, 0, 1e-12, 1, 30, 800, big]),
            np.random.default_rng(0).normal(0, 20, 10_001),
        ]
    ).astype(dtype)
    z = z[np.isfinite(z)]
    got, want = _core.sigmoid(z), reference.sigmoid(z)
    assert got.dtype == dtype and want.dtype == dtype
    assert np.all(np.isfinite(got)) and np.all((got >= 0) & (got <= 1))
    # to the last few ulps, subnormal results included
    ulp = np.spacing(np.maximum(np.abs(want), np.finfo(dtype).smallest_subnormal))
    assert np.max(np.abs(got - want) / ulp) <= 4


@pytest.mark.parametrize("z", [1e308, -1e308, 1e300, -1e300])
def test_sigmoid_of_huge_arguments_is_exact(z):
    got = _core.sigmoid(np.array([z]))
    assert got[0] == (1.0 if z > 0 else 0.0)
    assert reference.sigmoid(np.array([z]))[0] == got[0]


def test_binary_log_loss_matches_reference(dtype):
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.random(999), [0.0, 1.0, 1e-30, 1 - 1e-17]]).astype(dtype)
    y = (rng.random(p.size) < 0.5).astype(dtype)
    y[-4:] = [1, 0, 1, 0]  # saturated wrong predictions: clipped, large but finite
    got, want = _core.binary_log_loss(p, y), reference.binary_log_loss(p, y)
    assert np.isfinite(got)
    assert_close(np.float64(got), np.float64(want), dtype, "log-loss")


@pytest.mark.parametrize("n,k,m", LAYER_SHAPES)
def test_dense_sigmoid_forward(n, k, m, dtype):
    rng = np.random.default_rng(n * 1000 + k * 10 + m)
    a_prev = rng.random((n, k)).astype(dtype)
    W = rng.normal(0, 1, (m, k + 1)).astype(dtype)
    got = core_dense_forward(a_prev, W)
    assert got.dtype == dtype and got.flags.c_contiguous
    assert_close(got, reference.dense_sigmoid_forward(a_prev, W), dtype, "forward")


@pytest.mark.parametrize("n,k,m", LAYER_SHAPES)
def test_dense_sigmoid_backward(n, k, m, dtype):
    rng = np.random.default_rng(n * 1000 + k * 10 + m)
    a_prev = rng.random((n, k)).astype(dtype)
    W = rng.normal(0, 1, (m, k + 1)).astype(dtype)
    delta = rng.normal(0, 1, (n, m)).astype(dtype)
    dW, delta_prev = core_dense_backward(a_prev, W, delta)
    dW_ref, delta_prev_ref = reference.dense_sigmoid_backward(a_prev, W, delta)
    assert dW.dtype == dtype and delta_prev.dtype == dtype
    assert_close(dW, dW_ref, dtype, "dW")
    assert_close(delta_prev, delta_prev_ref, dtype, "delta_prev")
    dW_only, none = core_dense_backward(a_prev, W, delta, need_delta_prev=False)
    assert none is None
    np.testing.assert_array_equal(dW_only, dW)


def _loss(X, y, weights):
    return reference.binary_log_loss(reference.network_forward(X, weights)[-1][:, 0], y)


def _cpp_gradients(X, y, weights):
    """The network gradient assembled from the C++ layer kernels only (the delta recurrence)."""
    acts = [X]
    for W in weights:
        acts.append(core_dense_forward(acts[-1], W))
    delta = acts[-1] - y[:, None]
    grads = [None] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        grads[i], delta = core_dense_backward(acts[i], weights[i], delta, need_delta_prev=i > 0)
    return grads


@pytest.mark.parametrize("n_hidden", [(), (4,), (5, 3), (3, 3, 3, 3, 3)])
@pytest.mark.parametrize("backend", ["reference", "cpp"])
def test_gradients_match_finite_differences(n_hidden, backend):
    """Central differences (eps = 1e-5, float64) against the backward pass, layer by layer."""
    X, y = make_data(23, 4, seed=3)
    weights = initial_weights(4, n_hidden, np.float64, seed=1)
    weights = [W * 10 for W in weights]  # larger weights: gradients well away from zero
    if backend == "reference":
        grads = reference.network_backward(reference.network_forward(X, weights), weights, y)
    else:
        grads = _cpp_gradients(X, y, weights)
    eps = 1e-5
    for layer, (W, G) in enumerate(zip(weights, grads)):
        numeric = np.empty_like(W)
        for idx in np.ndindex(W.shape):
            old = W[idx]
            W[idx] = old + eps
            up = _loss(X, y, weights)
            W[idx] = old - eps
            down = _loss(X, y, weights)
            W[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        err = np.abs(numeric - G).max() / max(np.abs(numeric).max(), 1e-12)
        assert err < 1e-6, f"layer {layer}: relative gradient error {err:.2e}"


def test_network_gradient_of_cpp_kernels_matches_reference(dtype):
    X, y = make_data(300, 11, dtype, seed=4)
    weights = initial_weights(11, (9, 6, 2), dtype, seed=2)
    got = _cpp_gradients(X, y, weights)
    want = reference.network_backward(reference.network_forward(X, weights), weights, y)
    for layer, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, dtype, f"layer {layer}")
