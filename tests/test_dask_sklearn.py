"""backprop.MLPClassifier / MLPRegressor on dask input: solver="lbfgs" is data-parallel (scipy's
L-BFGS-B on the client, each objective the blocks' sums) and gives the in-memory drop-in's fit,
bitwise the same for any number of workers; sgd and adam chain each epoch over the blocks;
predictions of dask input are dask arrays."""

import functools
import warnings

import numpy as np
import pytest
from conftest import dask_blocks, dask_data

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
pytest.importorskip("sklearn")

from sklearn.exceptions import NotFittedError  # noqa: E402

from backprop import MLPClassifier, MLPRegressor  # noqa: E402

# Short L-BFGS runs stop at max_iter, which scikit-learn reports with ConvergenceWarning.
pytestmark = [pytest.mark.no_kernels, pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

ITERATIONS = 10  # L-BFGS amplifies rounding differences over long runs; 10 iterations keep them at ~1e-14


data = functools.partial(dask_data, n=900)
blocks = dask_blocks


def params(model):
    return model.coefs_ + model.intercepts_


def assert_close_fit(a, b, rtol):
    assert a.n_iter_ == b.n_iter_
    for A, B in zip(params(a), params(b)):
        np.testing.assert_allclose(B, A, rtol=rtol, atol=rtol * float(np.abs(A).max()))
    np.testing.assert_allclose(b.loss_, a.loss_, rtol=rtol)


def assert_same_fit(a, b):
    assert all(np.array_equal(A, B) for A, B in zip(params(a), params(b)))
    assert a.loss_ == b.loss_ and a.n_iter_ == b.n_iter_


def targets(task, y, X):
    """y for each task: class labels (strings for one), multilabel indicators, real values (1 or 2 outputs)."""
    if task == "binary-strings":
        return np.array(["no", "yes"])[y]
    if task == "multilabel":
        return np.stack([y == 1, X[:, 1] > 0, X[:, 2] > 0.5], axis=1).astype(int)
    if task == "regression":
        return X[:, 0] - X[:, 1] ** 2
    if task == "regression-2":
        return np.stack([X[:, 0] - X[:, 1] ** 2, X[:, 2]], axis=1)
    if task == "poisson":
        return np.exp(0.3 * X[:, 0])
    return y


CASES = [  # task, classes, hidden_layer_sizes, activation, alpha
    ("binary", 2, (6,), "logistic", 1e-4),
    ("binary-strings", 2, (), "relu", 0.0),
    ("multiclass", 3, (6, 4), "tanh", 0.1),
    ("multilabel", 2, (5,), "relu", 1e-4),
    ("regression", 2, (6,), "tanh", 1e-3),
    ("regression-2", 2, (4,), "identity", 0.0),
    ("poisson", 2, (3,), "logistic", 1e-4),
]


def estimator(task, **kw):
    if task.startswith("regression"):
        return MLPRegressor(**kw)
    if task == "poisson":
        return MLPRegressor(loss="poisson", **kw)
    return MLPClassifier(**kw)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
@pytest.mark.parametrize("chunks", [300, (100, 450, 37, 313)], ids=["even", "uneven"])
def test_lbfgs_on_dask_equals_the_in_memory_fit(case, chunks, dtype):
    task, k, hidden, activation, alpha = case
    X, labels = data(k=k, dtype=dtype)
    y = targets(task, labels, X)
    kw = dict(solver="lbfgs", hidden_layer_sizes=hidden, activation=activation, alpha=alpha, max_iter=ITERATIONS,
              random_state=3)
    a = estimator(task, **kw).fit(X, y)
    b = estimator(task, **kw).fit(*blocks(X, y, chunks))  # dask's local scheduler
    assert_close_fit(a, b, 1e-12 if dtype == np.float64 else 2e-4)
    assert 3 < b.n_iter_ <= ITERATIONS and b.n_features_in_ == 5 and b.n_outputs_ == a.n_outputs_
    assert b.out_activation_ == a.out_activation_ and b.coefs_[0].dtype == a.coefs_[0].dtype
    if hasattr(a, "classes_"):
        np.testing.assert_array_equal(b.classes_, a.classes_)


@pytest.mark.parametrize("model", [MLPClassifier, MLPRegressor])
def test_the_cluster_fit_is_bitwise_the_same_for_any_number_of_workers(client, model):
    X, y = data(k=3)
    y = y if model is MLPClassifier else X[:, 0] - X[:, 1] ** 2
    Xd, yd = blocks(X, y, (250, 250, 100, 300))
    kw = dict(solver="lbfgs", hidden_layer_sizes=(7,), alpha=1e-3, max_iter=ITERATIONS, random_state=1)
    with client.as_current():  # 2 worker processes
        on_cluster = model(**kw).fit(Xd, yd)
        again = model(**kw).fit(Xd, yd)
    with dask.config.set(scheduler="sync"):  # 1 worker
        one = model(**kw).fit(Xd, yd)
    with dask.config.set(scheduler="threads", num_workers=2):
        two = model(**kw).fit(Xd, yd)
    assert_same_fit(on_cluster, again)
    assert_same_fit(on_cluster, one)
    assert_same_fit(on_cluster, two)
    assert_close_fit(model(**kw).fit(X, y), on_cluster, 1e-12)


def test_a_longer_fit_reaches_the_same_accuracy():
    X, y = data(k=3)
    kw = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=150, random_state=0)
    a = MLPClassifier(**kw).fit(X, y)
    b = MLPClassifier(**kw).fit(*blocks(X, y, 200))
    assert abs(a.score(X, y) - b.score(X, y)) <= 0.02 and b.score(X, y) > 0.8


def test_warm_start_continues_the_dask_fit():
    X, y = data()
    kw = dict(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=4, random_state=0, warm_start=True)
    a = MLPClassifier(**kw).fit(X, y).fit(X, y)
    b = MLPClassifier(**kw).fit(*blocks(X, y, 300)).fit(*blocks(X, y, 300))
    assert_close_fit(a, b, 1e-12)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        b.fit(*blocks(X, np.where(y == 1, 2, y), 300))  # scikit-learn's own check


def test_dataframes_keep_the_feature_names_and_predict_block_by_block(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = data(n=600, d=3, k=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    Xf = dd.from_pandas(frame, npartitions=3)
    yf = dd.from_pandas(pd.Series(y, name="label"), npartitions=3)
    kw = dict(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=ITERATIONS, random_state=0)
    with client.as_current():
        b = MLPClassifier(**kw).fit(Xf, yf)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no feature-name warning from the blocks
            p = b.predict_proba(Xf).compute()
    a = MLPClassifier(**kw).fit(frame, y)
    assert list(b.feature_names_in_) == ["a", "b", "c"]
    assert_close_fit(a, b, 1e-12)
    np.testing.assert_array_equal(p, b.predict_proba(frame))
    with pytest.raises(ValueError, match="feature names"):
        b.predict(dd.from_pandas(frame.rename(columns={"a": "z"}), npartitions=2))


@pytest.mark.parametrize("task", ["binary-strings", "multiclass", "multilabel", "regression", "regression-2"])
def test_predictions_of_a_dask_array_are_dask_arrays_block_by_block(client, task):
    X, labels = data(n=700, k=3 if task == "multiclass" else 2, dtype=np.float32)
    y = targets(task, labels, X)
    model = estimator(task, solver="lbfgs", hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    Xd = da.from_array(X, chunks=(128, 5))
    methods = ["predict"] + (["predict_proba", "predict_log_proba"] if hasattr(model, "predict_proba") else [])
    with client.as_current():
        lazy = {m: getattr(model, m)(Xd) for m in methods}
        computed = dask.compute(lazy)[0]
    for m in methods:
        expected = getattr(model, m)(X)
        assert isinstance(lazy[m], da.Array) and lazy[m].chunks[0] == Xd.chunks[0]
        assert lazy[m].shape == expected.shape and lazy[m].dtype == expected.dtype
        np.testing.assert_array_equal(computed[m], expected)


def test_unsupported_input_is_refused_clearly():
    X, y = data(n=300, d=4)
    Xd, yd = blocks(X, y, 100)
    for solver in ("sgd", "adam"):
        model = MLPClassifier(solver=solver, early_stopping=True)
        refused = f"early_stopping=True is not supported with dask input for solver='{solver}'"
        with pytest.raises(ValueError, match=refused):
            model.fit(Xd, yd)
        with pytest.raises(TypeError, match="partial_fit takes in-memory data"):
            model.partial_fit(Xd, yd, classes=[0, 1])
        assert not hasattr(model, "coefs_")
    model = MLPClassifier(solver="lbfgs", max_iter=2)
    with pytest.raises(ValueError, match="sample_weight is not supported with dask input"):
        model.fit(Xd, yd, sample_weight=np.ones(300))
    with pytest.raises(ValueError, match=r"chunked along its columns .*rechunk"):
        model.fit(da.from_array(X, chunks=(100, 2)), yd)
    with pytest.raises(ValueError, match="chunked differently along the rows"):
        model.fit(Xd, da.from_array(y, chunks=150))
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.fit(Xd, y[:200])
    with pytest.raises(ValueError, match="X must be 2-D"):
        model.fit(X[:, 0], yd)
    bad = X.copy()
    bad[123, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        model.fit(*blocks(bad, y, 100))
    with pytest.raises(ValueError, match="y contains NaN or infinity"):
        MLPRegressor(solver="lbfgs").fit(Xd, da.from_array(np.where(y == 1, np.inf, 0.0), chunks=100))
    with pytest.raises(NotFittedError):
        model.predict(Xd)
    assert not hasattr(model, "coefs_")
    model.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4"):
        model.predict_proba(da.from_array(X[:, :3], chunks=(100, 3)))


def test_regression_targets_are_refused_as_in_memory():
    """The in-memory drop-in's rules on a regressor's y (the same errors), checked on the blocks."""
    X, y = data(n=300, d=4)
    y = y.astype(float)
    y[150] = -0.5
    for solver in ("lbfgs", "adam"):
        model = MLPRegressor(loss="poisson", solver=solver, max_iter=2)
        with pytest.raises(ValueError, match=r"loss='poisson' needs y >= 0 .*got min\(y\) = -0.5"):
            model.fit(*blocks(X, y, 100))
        assert not hasattr(model, "coefs_")
        with pytest.raises(TypeError, match=r"y must hold numbers \(bool, integer or float\), got dtype <U"):
            model.fit(*blocks(X, y.astype(str), 100))
    y[150] = 0.0
    MLPRegressor(loss="poisson", solver="lbfgs", max_iter=2).fit(*blocks(X, y, 100))


def test_one_side_in_memory_is_chunked_like_the_other():
    X, y = data(n=500)
    kw = dict(solver="lbfgs", hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    a = MLPClassifier(**kw).fit(X, y)
    Xd, yd = blocks(X, y, 120)
    assert_close_fit(a, MLPClassifier(**kw).fit(Xd, y), 1e-12)
    assert_close_fit(a, MLPClassifier(**kw).fit(X, yd), 1e-12)


SGD = dict(solver="sgd", learning_rate_init=0.05)
ADAM = dict(solver="adam", learning_rate_init=0.01)


@pytest.mark.parametrize("solver", [SGD, ADAM], ids=["sgd", "adam"])
def test_mini_batches_in_block_order_are_the_in_memory_fit(solver):
    # without shuffle, blocks of whole batches make the in-memory epoch's batches, in its order
    X, y = data(n=800, k=3)
    kw = dict(hidden_layer_sizes=(6,), batch_size=50, shuffle=False, max_iter=5, random_state=0, **solver)
    a = MLPClassifier(**kw).fit(X, y)
    b = MLPClassifier(**kw).fit(*blocks(X, y, 200))
    assert_close_fit(a, b, 1e-12)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-12)
    assert b.t_ == a.t_ == 5 * 800


@pytest.mark.parametrize("solver", [SGD, ADAM], ids=["sgd", "adam"])
def test_mini_batches_train_block_by_block_reproducibly(client, solver):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1000, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)  # separable
    Xd, yd = blocks(X, y, 250)
    kw = dict(hidden_layer_sizes=(6,), batch_size=25, max_iter=8, random_state=2, **solver)
    with client.as_current():
        a = MLPClassifier(**kw).fit(Xd, yd)
        b = MLPClassifier(**kw).fit(Xd, yd)
    c = MLPClassifier(**kw).fit(Xd, yd)  # local scheduler
    assert_same_fit(a, b)
    assert_same_fit(a, c)
    assert a.loss_curve_ == c.loss_curve_ and a.score(X, y) >= 0.95
    assert a.loss_curve_[-1] < a.loss_curve_[0]
    other = MLPClassifier(**{**kw, "random_state": 3}).fit(Xd, yd)  # another block order and shuffles
    assert not np.array_equal(a.coefs_[0], other.coefs_[0])
    r = MLPRegressor(hidden_layer_sizes=(4,), batch_size=50, max_iter=5, random_state=0, **solver).fit(
        Xd, da.from_array(X[:, 0] - X[:, 1], chunks=250))
    assert r.score(X, X[:, 0] - X[:, 1]) > 0.5
