"""Training in C++ equals training with the numpy reference, from identical initial weights."""

import numpy as np
import pytest
from conftest import assert_close, core_predict_proba, core_train, initial_weights, make_data

from backprop import NeuralNetwork, reference

# (n, d, n_hidden): no hidden layer, one, two, five; 1 sample; 1 feature; 300 features; sizes that
# are no multiple of any SIMD width; more samples than one block of the C++ schedule.
SHAPES = [
    (50, 6, ()),
    (1, 4, (3,)),
    (1, 1, ()),
    (40, 1, (5,)),
    (37, 300, (13,)),
    (101, 20, (8, 3)),
    (64, 7, (5, 4, 3, 6, 2)),
    (513, 17, (33, 9)),
    (1000, 5, (1,)),
]


def _train_both(n, d, n_hidden, dtype, iters, lr=1.0, n_threads=2):
    X, y = make_data(n, d, dtype, seed=n + d)
    w0 = initial_weights(d, n_hidden, dtype, seed=7)
    w_ref = [W.copy() for W in w0]
    w_cpp = [W.copy() for W in w0]
    loss_ref = reference.train(X, y, w_ref, lr, iters)
    loss_cpp, n_iter = core_train(X, y, w_cpp, lr, iters, n_threads)
    assert n_iter == iters
    return X, (w_ref, loss_ref), (w_cpp, loss_cpp)


@pytest.mark.parametrize("iters", [1, 10, 500])
@pytest.mark.parametrize("n,d,n_hidden", SHAPES, ids=[f"{n}x{d}-{h}" for n, d, h in SHAPES])
def test_training_matches_reference(n, d, n_hidden, iters, dtype):
    X, (w_ref, loss_ref), (w_cpp, loss_cpp) = _train_both(n, d, n_hidden, dtype, iters)
    for i, (a, b) in enumerate(zip(w_cpp, w_ref)):
        assert a.dtype == dtype
        assert_close(a, b, dtype, f"weights[{i}] after {iters} iterations")
    assert loss_cpp.dtype == dtype and loss_cpp.shape == (iters,)
    assert_close(loss_cpp, loss_ref, dtype, "loss curve")
    assert_close(core_predict_proba(X, w_cpp, 2), reference.predict_proba(X, w_ref), dtype, "probabilities")


# Wider layers and more samples: the k-sliced products (k > 256: the 300-unit layer feeding the
# output, and the 300 features of SHAPES), several blocks, the cooperative schedule (one
# gradient accumulator shared by all threads), and the gradient product that packs delta's
# columns first (>= 192 inputs read a block of delta larger than L1: 200 features into 136 or 40
# units, 136 in two packed chunks in float64, a last block of 160 rows).
BIG_SHAPES = [(2100, 150, (200, 130)), (1500, 40, (300,)), (4000, 200, (136,)), (4096, 200, (40,))]


@pytest.mark.parametrize("iters", [1, 10])
@pytest.mark.parametrize("n,d,n_hidden", BIG_SHAPES, ids=[f"{n}x{d}-{h}" for n, d, h in BIG_SHAPES])
def test_training_matches_reference_on_wide_layers(n, d, n_hidden, iters, dtype):
    X, (w_ref, loss_ref), (w_cpp, loss_cpp) = _train_both(n, d, n_hidden, dtype, iters, lr=0.5)
    for i, (a, b) in enumerate(zip(w_cpp, w_ref)):
        assert_close(a, b, dtype, f"weights[{i}] after {iters} iterations")
    assert_close(loss_cpp, loss_ref, dtype, "loss curve")


# The gradient product's packed-A path (gemm.hpp, gemm_tn_acc): blocks of >= 64 rows, >= 2 input
# tiles and >= 4 output vectors.  Inputs 16..23 leave every remainder after the whole input tiles
# of 6 (AVX2) and 8 (AVX-512) inputs; 36 outputs end on a single-vector panel in both dtypes;
# 1100 rows take the parts schedule with a last block of 76 rows.
GRAD_TILE_SHAPES = [(1100, d, (36,)) for d in range(16, 24)]


@pytest.mark.parametrize("iters", [1, 10])
@pytest.mark.parametrize("n,d,n_hidden", GRAD_TILE_SHAPES, ids=[f"{n}x{d}-{h}" for n, d, h in GRAD_TILE_SHAPES])
def test_training_matches_reference_on_every_gradient_tile_remainder(n, d, n_hidden, iters, dtype):
    X, (w_ref, loss_ref), (w_cpp, loss_cpp) = _train_both(n, d, n_hidden, dtype, iters)
    for i, (a, b) in enumerate(zip(w_cpp, w_ref)):
        assert_close(a, b, dtype, f"weights[{i}] after {iters} iterations")
    assert_close(loss_cpp, loss_ref, dtype, "loss curve")


# The narrow tail (narrow_tail.hpp): layers narrower than a vector at the end of a network with
# one sigmoid output, once there are enough samples for the schedule's parts (more than 3 blocks
# of 256).  A last block of 6 rows (a partial group of lanes), tails of one to four layers, first
# tail inputs of 1, 2, 8, 12 and 40 units, 70 (too many for the tail: the row kernels), and 35
# narrow layers (in float32 more than a tail may have: the first 4 take the row kernels).
TAIL_SHAPES = [
    (1030, 20, (8, 3)),
    (2000, 5, (2,)),
    (1500, 7, (12, 5, 3, 2)),
    (1100, 3, (40, 7)),
    (900, 1, (1, 1)),
    (800, 2, (70, 2)),
    (800, 3, (4,) * 34),
]


@pytest.mark.parametrize("iters", [1, 30])
@pytest.mark.parametrize(
    "n,d,n_hidden", TAIL_SHAPES, ids=[f"{n}x{d}-{h}" if len(h) < 5 else f"{n}x{d}-{len(h)}x{h[0]}" for n, d, h in TAIL_SHAPES]
)
def test_training_matches_reference_through_the_narrow_tail(n, d, n_hidden, iters, dtype):
    X, (w_ref, loss_ref), (w_cpp, loss_cpp) = _train_both(n, d, n_hidden, dtype, iters)
    for i, (a, b) in enumerate(zip(w_cpp, w_ref)):
        assert_close(a, b, dtype, f"weights[{i}] after {iters} iterations")
    assert_close(loss_cpp, loss_ref, dtype, "loss curve")


def test_loss_curve_is_recorded_before_each_update(dtype):
    X, y = make_data(80, 3, dtype)
    w = initial_weights(3, (4,), dtype)
    expected_first = reference.binary_log_loss(reference.predict_proba(X, w), y)
    loss, _ = core_train(X, y, [W.copy() for W in w], 0.5, 3, 1)
    assert_close(loss[0], expected_first, dtype, "loss of the initial weights")


@pytest.mark.parametrize(
    "n, d, n_hidden",
    [
        (1, 9, (8, 3)),
        (255, 9, (8, 3)),
        (257, 9, (8, 3)),
        (4000, 9, (8, 3)),
        (1030, 7, (12, 5, 3, 2)),
        (1300, 150, (140,)),
        (4000, 200, (136,)),
    ],
)
def test_results_are_bitwise_identical_for_any_thread_count(n, d, n_hidden, dtype):
    X, y = make_data(n, d, dtype, seed=5)
    w0 = initial_weights(d, n_hidden, dtype)
    runs = []
    for n_threads in (1, 2, 3, 4, 8):
        w = [W.copy() for W in w0]
        loss, _ = core_train(X, y, w, 1.0, 20, n_threads)
        runs.append((w, loss, core_predict_proba(X, w, n_threads)))
    for w, loss, p in runs[1:]:
        for a, b in zip(w, runs[0][0]):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(loss, runs[0][1])
        np.testing.assert_array_equal(p, runs[0][2])


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed", "readonly"])
def test_estimator_backends_agree_on_any_memory_layout(layout, dtype):
    X, y = make_data(120, 6, dtype, seed=11)
    if layout == "fortran":
        Xl = np.asfortranarray(X)
    elif layout == "strided":
        Xl = np.repeat(X, 2, axis=1)[:, ::2]
    elif layout == "transposed":
        Xl = np.ascontiguousarray(X.T).T
    else:
        Xl = X.copy()
        Xl.flags.writeable = False
    np.testing.assert_array_equal(Xl, X)
    kw = dict(n_hidden=(5, 3), max_iter=50, random_state=3)
    cpp = NeuralNetwork(**kw).fit(Xl, y)
    ref = NeuralNetwork(backend="numpy", **kw).fit(Xl, y)
    contiguous = NeuralNetwork(**kw).fit(X, y)
    for a, b, c in zip(cpp.weights_, ref.weights_, contiguous.weights_):
        assert a.dtype == dtype
        assert_close(a, b, dtype, "cpp vs numpy")
        np.testing.assert_array_equal(a, c)
    assert_close(cpp.predict_proba(Xl), ref.predict_proba(Xl), dtype, "predict_proba")
    assert_close(cpp.loss_curve_, ref.loss_curve_, dtype, "loss_curve_")


def test_estimator_same_random_state_same_initial_weights_on_both_backends():
    X, y = make_data(30, 4)
    a = NeuralNetwork(n_hidden=(3,), max_iter=0, random_state=42).fit(X, y)
    b = NeuralNetwork(n_hidden=(3,), max_iter=0, random_state=42, backend="numpy").fit(X, y)
    for Wa, Wb in zip(a.weights_, b.weights_):
        np.testing.assert_array_equal(Wa, Wb)
    c = NeuralNetwork(n_hidden=(3,), max_iter=0, random_state=43).fit(X, y)
    assert not np.array_equal(a.weights_[0], c.weights_[0])
