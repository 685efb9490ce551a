"""Property-based tests (hypothesis): random shapes, dtypes, memory layouts and architectures.

The number of examples per property is BACKPROP_HYPOTHESIS_EXAMPLES (default 25), so that the
suite stays fast; raise it for a longer search (e.g. 1000).
"""

import os
import warnings

import numpy as np
import pytest
from conftest import assert_close

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from backprop import ConvergenceWarning, NeuralNetwork, StabilityWarning  # noqa: E402

EXAMPLES = int(os.environ.get("BACKPROP_HYPOTHESIS_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=False)

dtypes = st.sampled_from([np.float64, np.float32])
architectures = st.lists(st.integers(1, 9), max_size=3).map(tuple)
layouts = st.sampled_from(["C", "F", "strided", "transposed", "read-only"])


def in_layout(X, layout):
    """X's values in the given memory layout (a view or copy that is not C-contiguous, or read-only)."""
    if layout == "F":
        return np.asfortranarray(X)
    if layout == "strided":
        return np.repeat(X, 2, axis=1)[:, ::2]
    if layout == "transposed":
        return np.ascontiguousarray(X.T).T
    if layout == "read-only":
        X = X.copy()
        X.flags.writeable = False
    return X


@st.composite
def problems(draw, max_abs=10.0, min_n=2, max_n=70, max_d=12):
    """(X, y, dtype): X (n, d) with finite values in [-max_abs, max_abs], y with both labels present."""
    dtype = draw(dtypes)
    n, d = draw(st.integers(min_n, max_n)), draw(st.integers(1, max_d))
    width = 32 if dtype == np.float32 else 64
    elements = st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False, width=width)
    X = draw(arrays(dtype, (n, d), elements=elements))
    y = draw(arrays(np.int8, n, elements=st.integers(0, 1)))
    y[0], y[-1] = 0, 1
    return X, y, dtype


@SETTINGS
@given(problem=problems(), n_hidden=architectures, layout=layouts, max_iter=st.integers(0, 8),
       learning_rate=st.floats(0.05, 2.0), seed=st.integers(0, 2**32 - 1))
@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_cpp_equals_reference_for_any_shape_dtype_layout_and_architecture(
    problem, n_hidden, layout, max_iter, learning_rate, seed
):
    X, y, dtype = problem
    kw = dict(n_hidden=n_hidden, max_iter=max_iter, learning_rate=learning_rate, random_state=seed)
    Xl = in_layout(X, layout)
    cpp = NeuralNetwork(**kw).fit(Xl, y)
    ref = NeuralNetwork(backend="numpy", **kw).fit(Xl, y)
    contiguous = NeuralNetwork(**kw).fit(X, y)
    for i, (a, b, c) in enumerate(zip(cpp.weights_, ref.weights_, contiguous.weights_)):
        assert a.dtype == dtype
        assert_close(a, b, dtype, f"weights_[{i}], cpp vs numpy")
        np.testing.assert_array_equal(a, c, err_msg="the layout changed the C++ result")
    assert_close(cpp.loss_curve_, ref.loss_curve_, dtype, "loss_curve_")
    assert_close(cpp.predict_proba(Xl), ref.predict_proba(Xl), dtype, "predict_proba")


@st.composite
def any_finite(draw, dtype, n, d):
    """Finite values over the dtype's whole range, biased toward the extremes and zero."""
    info = np.finfo(dtype)
    width = 32 if dtype == np.float32 else 64
    values = st.one_of(
        st.floats(-10, 10, width=width),
        st.floats(allow_nan=False, allow_infinity=False, width=width),
        st.sampled_from([0.0, float(info.max), float(-info.max), float(info.tiny), 1e30]),
    )
    return draw(arrays(dtype, (n, d), elements=values))


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
@SETTINGS
@given(data=st.data(), n_hidden=architectures, dtype=dtypes, backend=st.sampled_from(["cpp", "numpy"]))
def test_predict_proba_rows_are_distributions_for_any_finite_input(data, n_hidden, dtype, backend):
    X_train, y_train, _ = data.draw(problems(max_n=20, max_d=6).filter(lambda p: p[2] == dtype))
    nn = NeuralNetwork(n_hidden=n_hidden, max_iter=data.draw(st.integers(0, 30)), random_state=0, backend=backend)
    with warnings.catch_warnings():
        # learning_rate=1.0 on arbitrary data is often above the stability limit; the guard may say so
        warnings.simplefilter("ignore", StabilityWarning)
        nn.fit(X_train, y_train)
    X = data.draw(any_finite(dtype, data.draw(st.integers(0, 30)), X_train.shape[1]))
    proba = nn.predict_proba(X)
    assert proba.shape == (X.shape[0], 2) and proba.dtype == dtype
    assert np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=np.finfo(dtype).eps)
    np.testing.assert_array_equal(nn.predict(X), nn.classes_[(proba[:, 1] >= nn.threshold).astype(int)])


@SETTINGS
@given(data=st.data(), n_hidden=architectures, dtype=dtypes, backend=st.sampled_from(["cpp", "numpy"]),
       learning_rate=st.sampled_from([0.01, 1.0, 100.0]))
def test_fit_never_produces_nan_from_finite_input(data, n_hidden, dtype, backend, learning_rate):
    """Any finite data, however large: the fit is finite, or it raises and changes nothing."""
    n, d = data.draw(st.integers(2, 30)), data.draw(st.integers(1, 8))
    X = data.draw(any_finite(dtype, n, d))
    y = np.arange(n) % 2
    nn = NeuralNetwork(n_hidden=n_hidden, max_iter=data.draw(st.integers(0, 20)), learning_rate=learning_rate,
                       random_state=1, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning (overflow, invalid value) escapes
        warnings.simplefilter("ignore", StabilityWarning)  # (an honest warning at learning_rate=100)
        warnings.simplefilter("ignore", ConvergenceWarning)  # (honest too: one epoch may teach nothing)
        try:
            nn.fit(X, y)
        except ValueError as exc:
            assert "training diverged" in str(exc)
            assert not hasattr(nn, "weights_")
            event("fit refused: diverged")
            return
        event("fit finite")
        assert all(np.isfinite(W).all() for W in nn.weights_)
        assert np.isfinite(nn.loss_curve_).all()
        proba = nn.predict_proba(X)
    assert np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all()
