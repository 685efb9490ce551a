"""Good input in any form gives the answer of a contiguous copy; huge values never give NaN.

Memory layouts (Fortran order, sliced, transposed, read-only) of float32/float64 arrays are in
test_equivalence.py::test_estimator_backends_agree_on_any_memory_layout; here are the conversions.
"""

import numpy as np
import pytest
from conftest import make_data

from backprop import NeuralNetwork

# Most fits here are tiny (a few iterations on a few rows): they test plumbing, not learning,
# and many end predicting one class, which ConvergenceWarning rightly reports.
pytestmark = pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")

BACKENDS = ["cpp", "numpy"]
KW = dict(n_hidden=(5, 3), max_iter=30, random_state=3)


def _as_dataframe(X):
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])


def _mixed_dataframe(X):
    df = _as_dataframe(X)
    df["f0"] = (X[:, 0] > 0).astype(np.int64)  # an int column among float columns
    return df


# name -> (make X in that form from float64 X, the float64 values the form stands for)
X_FORMS = {
    "list": (lambda X: X.tolist(), lambda X: X),
    "tuple of tuples": (lambda X: tuple(map(tuple, X)), lambda X: X),
    "DataFrame": (_as_dataframe, lambda X: X),
    "mixed-dtype DataFrame": (_mixed_dataframe, lambda X: np.column_stack([(X[:, 0] > 0), X[:, 1:]])),
    "int32": (lambda X: np.round(4 * X).astype(np.int32), lambda X: np.round(4 * X)),
    "uint8": (lambda X: np.round(4 * np.abs(X)).astype(np.uint8), lambda X: np.round(4 * np.abs(X))),
    "bool": (lambda X: X > 0, lambda X: X > 0),
    "float16": (lambda X: X.astype(np.float16), lambda X: X.astype(np.float16)),
    "big-endian float64": (lambda X: X.astype(">f8"), lambda X: X),
    "object array": (lambda X: X.astype(object), lambda X: X),
    "Fortran int64": (lambda X: np.asfortranarray(np.round(4 * X).astype(np.int64)), lambda X: np.round(4 * X)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", X_FORMS, ids=X_FORMS.keys())
def test_any_input_form_equals_a_contiguous_float64_copy(form, backend):
    X, y = make_data(60, 4, seed=2)
    to_form, values = X_FORMS[form]
    X_form, X_64 = to_form(X), np.ascontiguousarray(values(X), dtype=np.float64)
    got = NeuralNetwork(backend=backend, **KW).fit(X_form, y)
    want = NeuralNetwork(backend=backend, **KW).fit(X_64, y)
    for a, b in zip(got.weights_, want.weights_):
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.loss_curve_, want.loss_curve_)
    np.testing.assert_array_equal(got.predict_proba(X_form), want.predict_proba(X_64))


@pytest.mark.parametrize("backend", BACKENDS)
def test_big_endian_float32_trains_in_float32(backend):
    X, y = make_data(40, 3, np.float32)
    got = NeuralNetwork(backend=backend, **KW).fit(X.astype(">f4"), y)
    want = NeuralNetwork(backend=backend, **KW).fit(X, y)
    for a, b in zip(got.weights_, want.weights_):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def _series(y):
    pd = pytest.importorskip("pandas")
    return pd.Series(y, name="target")


Y_FORMS = {
    "list": lambda y: y.tolist(),
    "Series": _series,
    "int64": lambda y: y.astype(np.int64),
    "bool": lambda y: y.astype(bool),
    "read-only strided": lambda y: np.lib.stride_tricks.as_strided(np.repeat(y, 2)[::2], writeable=False),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", Y_FORMS, ids=Y_FORMS.keys())
def test_any_label_form_gives_the_same_fit(form, backend):
    X, y = make_data(50, 3, seed=4)
    got = NeuralNetwork(backend=backend, **KW).fit(X, Y_FORMS[form](y))
    want = NeuralNetwork(backend=backend, **KW).fit(X, y)
    for a, b in zip(got.weights_, want.weights_):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ huge values
def _with_huge_entries(n, d, scale, seed, fraction=0.3):
    """make_data with a fraction of the entries replaced by +-scale (times a factor in [0.5, 1))."""
    X, y = make_data(n, d, seed=seed)
    rng = np.random.default_rng(seed)
    mask = rng.random((n, d)) < fraction
    X[mask] = np.sign(X[mask]) * scale * rng.uniform(0.5, 1.0, size=mask.sum())
    return X, y


def _assert_finite_model(nn, X):
    assert all(np.isfinite(W).all() for W in nn.weights_)
    assert np.isfinite(nn.loss_curve_).all()
    p = nn.predict_proba(X)
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()


ARCHITECTURES = [(1,), (4,), (13,), (8, 3), (5, 4, 3), (33, 9)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_hidden", ARCHITECTURES, ids=str)
def test_huge_values_with_hidden_layers_give_finite_results(n_hidden, backend):
    for seed, (n, d, lr) in enumerate([(30, 3, 1.0), (7, 20, 10.0), (64, 9, 0.1), (300, 40, 1.0)]):
        X, y = _with_huge_entries(n, d, 1e300, seed)
        X[0] = 1e300 * (-1.0) ** np.arange(d)  # alternating signs in one row: no inf - inf
        nn = NeuralNetwork(n_hidden=n_hidden, max_iter=25, learning_rate=lr, random_state=seed, backend=backend)
        _assert_finite_model(nn.fit(X, y), X)
        _assert_finite_model(nn, np.full((2, d), -1e300))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_hidden", [(), *ARCHITECTURES], ids=str)
@pytest.mark.parametrize("scale", [1e300, 1.7e308])
def test_huge_values_never_give_nan_silently(scale, n_hidden, backend):
    """Without a hidden layer (or near the float range) gradient descent can really diverge past
    the float range; fit must then raise and leave the model as it was, never store NaN."""
    X0, y0 = make_data(20, 1, seed=99)
    for seed in range(6):
        X, y = _with_huge_entries(25, 6, scale, seed, fraction=0.5)
        nn = NeuralNetwork(n_hidden=n_hidden, max_iter=15, random_state=seed, backend=backend).fit(X0, y0)
        before = [W.copy() for W in nn.weights_]
        try:
            nn.fit(X, y)
        except ValueError as exc:
            assert "training diverged" in str(exc)
            assert nn.n_features_in_ == 1 and all(np.array_equal(a, b) for a, b in zip(nn.weights_, before))
            continue
        _assert_finite_model(nn, X)


@pytest.mark.parametrize("backend", BACKENDS)
def test_logistic_regression_on_1e300_trains_to_finite_weights(backend):
    """No hidden layer: the output's delta p - y does not vanish, so the weights grow to ~1e300
    and W x overflows; the first layer then recomputes those rows scaled by a power of two
    (first_layer_logits), giving the sigmoid's exact limits instead of NaN."""
    X, y = make_data(30, 3)
    X[0] = [1e300, -1e300, 1e300]
    X[1] = [1e300, 1e300, -1e300]
    nn = NeuralNetwork(n_hidden=(), max_iter=20, random_state=0, backend=backend).fit(X, y)
    _assert_finite_model(nn, X)
    assert np.abs(nn.weights_[0]).max() > 1e280  # the huge rows really drove the weights
    same = NeuralNetwork(n_hidden=(), max_iter=20, random_state=0, backend="numpy" if backend == "cpp" else "cpp")
    same.fit(X, y)
    np.testing.assert_allclose(same.weights_[0], nn.weights_[0], rtol=1e-10)
    np.testing.assert_allclose(same.loss_curve_, nn.loss_curve_, rtol=1e-10)
    nn = NeuralNetwork(n_hidden=(), max_iter=20, random_state=0, backend=backend).fit(X / 1e290, y)
    _assert_finite_model(nn, X / 1e290)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_hidden", [(), (3,), (4, 2)], ids=str)
def test_predicting_on_huge_rows_gives_the_exact_limit_on_both_backends(n_hidden, dtype):
    """W x of such rows overflows in any summation order (inf - inf, or an infinity of the wrong sign);
    the estimator scales those rows by a power of two, so the output is the true sigmoid limit."""
    X, y = make_data(40, 3, dtype)
    models = [NeuralNetwork(n_hidden=n_hidden, max_iter=5, random_state=0, backend=b).fit(X, y) for b in BACKENDS]
    big = np.finfo(dtype).max
    W = np.zeros((1, 4), dtype)
    W[0, 1:] = [1.0, 3.0, -1.0]  # z = x0 + 3 x1 - x2 = +big, -big, +3 big, -big / 2 ...
    X_huge = np.array([[big, big, big], [big, -big, big], [-big, big, 0], [big / 2, -big / 2, 0], [1, 1, 1]], dtype)
    z_sign = np.array([1, -1, 1, -1, 1])
    for nn in models:
        nn.weights_[0][:] = 0
        nn.weights_[0][:1] = W  # the first unit of the first layer computes z; others give 0.5
        p = nn.predict_proba(X_huge)[:, 1]
        assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
        if n_hidden == ():  # the output unit itself: p = sigmoid(z)
            np.testing.assert_array_equal(p[:4], (z_sign[:4] > 0).astype(dtype))
        np.testing.assert_array_equal(p[[4]], nn.predict_proba(X_huge[[4]])[:, 1])  # normal rows as before
    np.testing.assert_allclose(models[0].predict_proba(X_huge), models[1].predict_proba(X_huge), rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pandas_missing_values_are_a_value_error_naming_them(backend):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"a": pd.array([1.0, 2.0, None, 4.0], dtype="Float64"), "b": [1.0, 2.0, 3.0, 4.0]})
    nn = NeuralNetwork(n_hidden=(2,), max_iter=2, backend=backend)
    for form in (X, X.astype(object)):
        with pytest.raises(ValueError, match=r"missing values \(pandas.NA\)"):
            nn.fit(form, [0, 1, 0, 1])
    nn.fit(X.fillna(0.0), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="missing values"):
        nn.predict(X)
    with pytest.raises(TypeError, match="must hold numbers"):  # not a missing value: a wrong type
        nn.fit(np.array([[1.0, {}], [2.0, 3.0]], dtype=object), [0, 1])


@pytest.mark.parametrize("fit", ["fit", "early_stopping", "X_val", "partial_fit", "partial_fit float32 model"])
def test_the_check_s_pass_tells_the_kernels_about_huge_values_and_changes_nothing(monkeypatch, fit):
    """The pass that checks X also answers ``has_huge_values``; the kernels are told that answer
    (the early-stopping split's rows only when X has no huge values; never when the pass read
    other values than the kernels get: integers converted, a layout copied without a pass), and
    the model is the one of the kernels' own scan, bit for bit."""
    from backprop import _backends, _core

    told = []
    train = _backends.CppBackend.train

    def spy(self, X, *args, **options):
        told.append((options.get("huge_inputs"), bool(_core.has_huge_values(X))))
        if not hinted:
            options.pop("huge_inputs", None)
        return train(self, X, *args, **options)

    monkeypatch.setattr(_backends.CppBackend, "train", spy)
    X, y = make_data(60, 5, seed=1)
    converted = fit.endswith("float32 model")  # a float64 X converted to the model's float32, then scanned
    huge = X.copy()
    huge[::7] *= 1e25 if converted else 1e160  # |x| above sqrt(max) of the model's dtype: overflow-safe sums
    kw = dict(n_hidden=(4,), max_iter=6, random_state=0, solver="adam", batch_size=16)
    cases = [(X, "float64", True), (huge, "float64", True), (np.asfortranarray(X), "Fortran order", converted),
             (np.asfortranarray(huge), "Fortran order", converted),
             (np.round(4 * X).astype(np.int32), "int32", False)]
    for A, form, known in cases:
        expected = known and not (fit == "early_stopping" and A is huge)
        models = []
        for hinted in (True, False):
            told.clear()
            nn = NeuralNetwork(**kw, early_stopping=fit == "early_stopping")
            with np.errstate(all="ignore"):
                if fit == "X_val":
                    nn.fit(A, y, X_val=X[:9], y_val=y[:9])
                elif fit.startswith("partial_fit"):
                    if converted:
                        nn.partial_fit(X[:5].astype(np.float32), y[:5], classes=[0, 1])
                    nn.partial_fit(A, y, classes=[0, 1])
                else:
                    nn.fit(A, y)
            models.append(nn)
            if hinted:
                assert told and all(hint is None or hint is scan for hint, scan in told), (form, told)
                assert (told[-1][0] is not None) == expected, (form, told)
        for a, b in zip(models[0].weights_ + [models[0].loss_curve_], models[1].weights_ + [models[1].loss_curve_]):
            np.testing.assert_array_equal(a, b)
