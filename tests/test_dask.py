"""fit, predict and predict_proba on dask collections, on a LocalCluster of worker processes and on
dask's local schedulers: the full-batch fit equals the in-memory one, bitwise the same for any
number of workers; mini-batches train block by block, reproducibly."""

import functools
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import dask_blocks, dask_data

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from backprop import ConvergenceWarning, NeuralNetwork, StabilityWarning  # noqa: E402

# The kernels run inside dask's workers here: the sanitizer and portable jobs skip these tests.
# Most fits are tiny (plumbing, not learning) and some predict one class, which ConvergenceWarning
# rightly reports (test_learning_nothing_is_reported checks that it does).
pytestmark = [pytest.mark.no_kernels, pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")]


data = functools.partial(dask_data, n=1200)
blocks = dask_blocks


def assert_weights_close(a, b, rtol):
    for A, B in zip(a.weights_, b.weights_):
        np.testing.assert_allclose(B, A, rtol=rtol, atol=rtol * float(np.abs(A).max()))


def assert_same_fit(a, b):
    assert all(np.array_equal(A, B) for A, B in zip(a.weights_, b.weights_))
    assert np.array_equal(a.loss_curve_, b.loss_curve_) and a.n_iter_ == b.n_iter_


CASES = [  # n_hidden, activation, classes, alpha, solver
    ((), "sigmoid", 2, 0.0, "gd"),
    ((6,), "sigmoid", 2, 0.0, "gd"),
    ((6, 4), "tanh", 3, 0.5, "gd"),
    ((9,), "relu", 4, 0.1, "momentum"),
    ((5,), "identity", 2, 0.0, "adam"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-k{c[2]}-a{c[3]}-{c[4]}")
@pytest.mark.parametrize("chunks", [300, (100, 450, 37, 613)], ids=["even", "uneven"])
def test_full_batch_fit_equals_the_in_memory_fit(case, chunks, dtype):
    hidden, activation, k, alpha, solver = case
    X, y = data(k=k, dtype=dtype)
    kw = dict(n_hidden=hidden, activation=activation, alpha=alpha, solver=solver, learning_rate=0.5, max_iter=12,
              random_state=3)
    a = NeuralNetwork(**kw).fit(X, y)
    b = NeuralNetwork(**kw).fit(*blocks(X, y, chunks))
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    assert_weights_close(a, b, rtol)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=rtol)
    assert b.loss_curve_.dtype == a.loss_curve_.dtype == dtype and b.n_iter_ == a.n_iter_ == 12
    np.testing.assert_array_equal(b.classes_, a.classes_)


def test_huge_rows_in_one_block_take_the_scaled_first_layer_everywhere_as_in_memory(dtype):
    # the in-memory fit decides from the whole X; every block is told that answer
    X, y = data(n=600, k=2, dtype=dtype)
    X[5] = (1e300 if dtype == np.float64 else 1e30) * np.sign(X[5])  # in the first block only
    kw = dict(n_hidden=(4,), learning_rate=0.5, max_iter=6, random_state=3)
    with np.errstate(over="ignore", invalid="ignore"):
        a = NeuralNetwork(**kw).fit(X, y)
        b = NeuralNetwork(**kw).fit(*blocks(X, y, 100))
    assert_weights_close(a, b, 1e-12 if dtype == np.float64 else 2e-5)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-12 if dtype == np.float64 else 2e-5)


@pytest.mark.parametrize("case", CASES[1:4], ids=lambda c: f"{c[0]}-{c[1]}-k{c[2]}")
def test_the_cluster_fit_is_the_local_fit_bitwise_for_any_number_of_workers(client, case):
    hidden, activation, k, alpha, solver = case
    X, y = data(k=k)
    kw = dict(n_hidden=hidden, activation=activation, alpha=alpha, solver=solver, learning_rate=0.5, max_iter=8,
              random_state=1)
    Xd, yd = blocks(X, y, (250, 250, 100, 600))
    with client.as_current():  # 2 worker processes
        on_cluster = NeuralNetwork(**kw).fit(Xd, yd)
    with dask.config.set(scheduler="sync"):  # 1 worker
        one = NeuralNetwork(**kw).fit(Xd, yd)
    with dask.config.set(scheduler="threads", num_workers=3):  # 3 workers
        three = NeuralNetwork(**kw).fit(Xd, yd)
    assert_same_fit(on_cluster, one)
    assert_same_fit(on_cluster, three)
    assert_weights_close(NeuralNetwork(**kw).fit(X, y), on_cluster, 1e-12)


@pytest.mark.parametrize("learning_rate", [1.0, 0.3])
def test_blocks_that_are_the_kernels_parts_give_the_in_memory_fit_bitwise(learning_rate):
    # The in-memory kernel sums the gradient over 16 fixed parts of 8192 rows (512 rows each, two
    # 256-row blocks), each accumulated block after block, the parts added in order; dask blocks of
    # 512 rows are summed the same way.  With a softmax output (no narrow tail), the weights are
    # bitwise the in-memory ones for any learning rate: the kernel's update rounds lr g, then
    # W - lr g, as numpy's update on the client does (0.3: lr g is not exact).
    # The loss values are added in another grouping (per block first): equal to a few ulps, not bitwise.
    X, y = data(n=8192, d=6, k=3)
    kw = dict(n_hidden=(7,), learning_rate=learning_rate, max_iter=10, random_state=1)
    a = NeuralNetwork(**kw).fit(X, y)
    b = NeuralNetwork(**kw).fit(*blocks(X, y, 512))
    assert all(np.array_equal(A, B) for A, B in zip(a.weights_, b.weights_))
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=4e-15)


def test_dataframe_and_series_input_keep_the_feature_names(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = data(n=600, d=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    Xf = dd.from_pandas(frame, npartitions=3)
    yf = dd.from_pandas(pd.Series(y, name="label"), npartitions=3)
    kw = dict(n_hidden=(4,), max_iter=6, random_state=0)
    with client.as_current():
        b = NeuralNetwork(**kw).fit(Xf, yf)
        p = b.predict_proba(Xf).compute()
    a = NeuralNetwork(**kw).fit(frame, y)
    assert list(b.feature_names_in_) == ["a", "b", "c"]
    assert_weights_close(a, b, 1e-12)
    # the same blocks from an array give the same fit, bitwise
    rows = tuple(int(len(part)) for part in np.array_split(np.arange(600), 3))
    c = NeuralNetwork(**kw).fit(*blocks(X, y, rows))
    assert all(np.array_equal(B, C) for B, C in zip(b.weights_, c.weights_))
    np.testing.assert_array_equal(p, b.predict_proba(frame))


@pytest.mark.parametrize("k", [2, 3])
def test_predict_and_predict_proba_of_a_dask_array_are_dask_arrays_block_by_block(client, k):
    X, y = data(n=700, k=k, dtype=np.float32)
    nn = NeuralNetwork(n_hidden=(5,), max_iter=5, random_state=0).fit(X, y)
    Xd = da.from_array(X, chunks=(128, 5))
    with client.as_current():
        proba, log_proba, labels = nn.predict_proba(Xd), nn.predict_log_proba(Xd), nn.predict(Xd)
        assert all(isinstance(a, da.Array) for a in (proba, log_proba, labels))
        assert proba.chunks == log_proba.chunks == (Xd.chunks[0], (k,)) and labels.chunks == (Xd.chunks[0],)
        proba, log_proba, labels = dask.compute(proba, log_proba, labels)
    np.testing.assert_array_equal(proba, nn.predict_proba(X))
    np.testing.assert_array_equal(log_proba, nn.predict_log_proba(X))
    np.testing.assert_array_equal(labels, nn.predict(X))
    assert proba.dtype == log_proba.dtype == np.float32


def test_data_on_disk_trains_out_of_core(tmp_path):
    # dask's local scheduler reads the blocks from the files in every pass
    X, y = data(n=900)
    np.save(tmp_path / "X.npy", X)

    def file_rows(path, block_info=None):  # a view of the file's rows: read when used, never copied
        (start, stop), _ = block_info[None]["array-location"]
        return np.load(path, mmap_mode="r")[start:stop]

    on_disk = da.map_blocks(file_rows, str(tmp_path / "X.npy"), dtype=X.dtype, chunks=((200,) * 4 + (100,), (5,)))
    kw = dict(n_hidden=(4,), max_iter=6, random_state=0)
    b = NeuralNetwork(**kw).fit(on_disk, da.from_array(y, chunks=(200,)))
    assert_weights_close(NeuralNetwork(**kw).fit(X, y), b, 1e-12)
    zarr = pytest.importorskip("zarr")
    z = zarr.open_array(str(tmp_path / "X.zarr"), mode="w", shape=X.shape, chunks=(200, 5), dtype=X.dtype)
    z[...] = X
    c = NeuralNetwork(**kw).fit(da.from_zarr(str(tmp_path / "X.zarr")), da.from_array(y, chunks=(200,)))
    assert_same_fit(b, c)


@pytest.mark.parametrize("solver", ["adam", "momentum", "gd"])
def test_mini_batches_train_block_by_block_reproducibly(client, solver):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1000, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)  # separable
    Xd, yd = blocks(X, y, 250)
    kw = dict(n_hidden=(6,), solver=solver, batch_size=25, learning_rate={"adam": 0.01, "momentum": 0.1, "gd": 1.0}[solver],
              max_iter=6, random_state=2)
    with client.as_current():
        a = NeuralNetwork(**kw).fit(Xd, yd)
        b = NeuralNetwork(**kw).fit(Xd, yd)
    c = NeuralNetwork(**kw).fit(Xd, yd)  # local scheduler
    assert_same_fit(a, b)
    assert_same_fit(a, c)
    assert a.score(X, y) >= 0.95
    assert a.loss_curve_[-1] < a.loss_curve_[0]
    assert not np.array_equal(a.weights_[0], NeuralNetwork(**{**kw, "random_state": 3}).fit(Xd, yd).weights_[0])


def test_tol_callback_and_verbose_work_as_in_memory(capsys):
    X, y = data(n=500)
    seen = []
    kw = dict(n_hidden=(3,), learning_rate=0.5, max_iter=200, tol=1e-3, n_iter_no_change=3, random_state=0)
    a = NeuralNetwork(**kw).fit(X, y)
    b = NeuralNetwork(**kw, verbose=True, callback=lambda m, i, loss: seen.append((i, loss, m.n_iter_))).fit(
        *blocks(X, y, 128))
    assert b.n_iter_ == a.n_iter_ < 200
    assert [i for i, _, _ in seen] == list(range(1, b.n_iter_ + 1)) == [n for _, _, n in seen]
    np.testing.assert_allclose([loss for _, loss, _ in seen], a.loss_curve_, rtol=1e-12)
    assert "Iteration 1 " in capsys.readouterr().out
    stopped = NeuralNetwork(n_hidden=(3,), max_iter=50, random_state=0, callback=lambda m, i, loss: i < 4)
    assert stopped.fit(*blocks(X, y, 128)).n_iter_ == 4


def test_warm_start_continues_the_dask_fit():
    X, y = data(n=400)
    kw = dict(n_hidden=(3,), max_iter=5, random_state=0, warm_start=True)
    a = NeuralNetwork(**kw).fit(X, y).fit(X, y)
    b = NeuralNetwork(**kw).fit(*blocks(X, y, 100)).fit(*blocks(X, y, 100))
    assert b.n_iter_ == 10 and len(b.loss_curve_) == 10
    assert_weights_close(a, b, 1e-12)


def test_the_stability_guard_runs_on_the_blocks():
    X, y = data(n=200, d=3)
    X = X * 3
    X1 = np.hstack([np.ones((200, 1)), X])
    limit = 2 / (np.linalg.eigvalsh(X1.T @ X1)[-1] / (4 * 200))
    with pytest.warns(StabilityWarning, match=f"about {limit:.3g} "):
        NeuralNetwork(n_hidden=(), learning_rate=3 * limit, max_iter=200, random_state=0).fit(*blocks(X, y, 64))


def test_learning_nothing_is_reported():
    X, y = data(n=300)
    with pytest.warns(ConvergenceWarning, match="learned nothing"):
        NeuralNetwork(n_hidden=(3,), learning_rate=1e-6, max_iter=1, random_state=0).fit(*blocks(X, y, 100))


def test_the_learned_nothing_check_predicts_all_rows_only_when_the_first_rows_get_one_class(monkeypatch):
    from backprop import _dask

    X, y = data(n=400)
    kw = dict(n_hidden=(3,), learning_rate=1.0, max_iter=100, random_state=0)
    p = NeuralNetwork(**kw).fit(X, y).predict_proba(X)[:, 1]
    first = 8  # each block of 100 rows starts with 8 of the 32 rows the model most surely puts in class 0
    zero = np.argsort(p)[:32]
    others = np.setdiff1d(np.arange(400), zero)
    order = np.concatenate([np.concatenate([zero[8 * b : 8 * b + 8], others[92 * b : 92 * b + 92]]) for b in range(4)])
    assert p[zero].max() < 0.45 and p.max() > 0.55 and sorted(order) == list(range(400))
    seen, check = [], _dask._block_labels_range

    def spy(*args, rows=None, **kwargs):
        seen.append(rows)
        return check(*args, rows=rows, **kwargs)

    monkeypatch.setattr(_dask, "_block_labels_range", spy)
    monkeypatch.setattr(_dask, "LEARNED_NOTHING_ROWS", first)
    for rows, passes in ((order, {first, None}), (np.arange(400), {first})):
        seen.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            model = NeuralNetwork(**kw).fit(*blocks(X[rows], y[rows], 100))
        assert set(seen) == passes and len(np.unique(model.predict(X))) == 2


def test_clear_errors_leave_the_estimator_unchanged(client):
    X, y = data(n=300, d=4)
    nn = NeuralNetwork(n_hidden=(3,), max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=r"chunked along its columns .*rechunk"):
        nn.fit(da.from_array(X, chunks=(100, 2)), da.from_array(y, chunks=100))
    Xd, yd = da.from_array(X, chunks=(100, 4)), da.from_array(y, chunks=150)
    with pytest.raises(ValueError, match=r"chunked differently along the rows .*y\.rechunk\(\{0: X\.chunks\[0\]\}\)"):
        nn.fit(Xd, yd)
    assert NeuralNetwork(n_hidden=(3,), max_iter=2, random_state=0).fit(Xd, yd.rechunk({0: Xd.chunks[0]})).n_iter_ == 2
    with pytest.raises(ValueError, match="different numbers of samples"):
        nn.fit(da.from_array(X, chunks=(100, 4)), da.from_array(y[:200], chunks=100))
    bad = X.copy()
    bad[123, 2] = np.nan
    with client.as_current(), pytest.raises(ValueError, match="NaN or infinity"):
        nn.fit(*blocks(bad, y, 100))
    with pytest.raises(ValueError, match="only 1 class"):
        nn.fit(*blocks(X, np.zeros(300, dtype=int), 100))
    with pytest.raises(ValueError, match="empty validation set"):
        NeuralNetwork(early_stopping=True, validation_fraction=0.001).fit(*blocks(X, y, 100))
    with pytest.raises(TypeError, match="numbers"):
        nn.fit(da.from_array(X.astype(complex), chunks=(100, 4)), da.from_array(y, chunks=100))
    with pytest.raises(ValueError, match="not fitted"):
        nn.predict(da.from_array(X, chunks=(100, 4)))
    with pytest.raises(TypeError, match="partial_fit takes in-memory data"):
        nn.partial_fit(*blocks(X, y, 100), classes=[0, 1])
    assert not hasattr(nn, "weights_")
    nn.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        nn.predict_proba(da.from_array(X[:, :3], chunks=(100, 3)))


def test_a_failing_fit_leaves_the_fitted_model_as_it_was(client):
    X, y = data(n=300, d=4)
    nn = NeuralNetwork(n_hidden=(3,), max_iter=3, random_state=0).fit(X, y)
    before = [W.copy() for W in nn.weights_]

    def interrupt(model, i, loss):
        if i == 5:  # the second epoch of the warm start
            raise KeyboardInterrupt

    nn.set_params(callback=interrupt, warm_start=True)
    with client.as_current(), pytest.raises(KeyboardInterrupt):
        nn.fit(*blocks(X, y, 100))
    assert all(np.array_equal(A, B) for A, B in zip(before, nn.weights_)) and nn.n_iter_ == 3


def test_importing_backprop_does_not_import_dask():
    code = "import sys, backprop; backprop.NeuralNetwork().get_params(); assert 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_worker_killed_mid_fit_is_replaced_and_the_fit_is_the_same():
    X, y = data(n=1200)
    Xd, yd = blocks(X, y, 200)
    kw = dict(n_hidden=(4,), learning_rate=0.5, max_iter=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = distributed.Client(cluster, set_as_default=False)
    killed = []

    def kill_a_worker(model, i, loss):
        if i == 3:  # the blocks held by this worker are lost: dask recomputes them from their source
            worker = sorted(client.scheduler_info()["workers"])[0]
            pid = client.run(os.getpid, workers=[worker])[worker]
            os.kill(pid, signal.SIGKILL)
            killed.append(worker)

    try:
        with client.as_current():
            undisturbed = NeuralNetwork(**kw).fit(Xd, yd)
            disturbed = NeuralNetwork(**kw, callback=kill_a_worker).fit(Xd, yd)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.close()
            cluster.close()
    assert killed
    assert_same_fit(undisturbed, disturbed)


@pytest.mark.parametrize("batch_size", [None, 40])
def test_early_stopping_holds_out_a_stratified_split_of_every_block(client, batch_size):
    X, y = data(n=1000, k=3)
    Xd, yd = blocks(X, y, (300, 300, 250, 150))
    seen = []
    kw = dict(n_hidden=(6,), learning_rate=0.5, max_iter=60, early_stopping=True, validation_fraction=0.2,
              n_iter_no_change=3, tol=0.01, batch_size=batch_size, random_state=4)
    with client.as_current():
        a = NeuralNetwork(**kw, callback=lambda m, i, loss: seen.append([W.copy() for W in m.weights_])).fit(Xd, yd)
    b = NeuralNetwork(**kw).fit(Xd, yd)  # local scheduler
    assert_same_fit(a, b)
    np.testing.assert_array_equal(a.validation_scores_, b.validation_scores_)
    scores = a.validation_scores_
    assert len(scores) == a.n_iter_ < 60  # stopped by the rule
    # 20% of each class of each block: the scores are counts of right predictions out of those rows
    per_block = [np.bincount(y[s:e], minlength=3) for s, e in ((0, 300), (300, 600), (600, 850), (850, 1000))]
    n_val = sum(int(np.minimum(np.floor(0.2 * c + 0.5), c - 1).sum()) for c in per_block)
    np.testing.assert_allclose(scores * n_val, np.round(scores * n_val), atol=1e-9)
    assert scores.max() > 0.5
    best = int(np.argmax(scores))  # the fit ends with the weights of the (first) best epoch
    assert all(np.array_equal(A, B) for A, B in zip(a.weights_, seen[best]))


def test_one_side_in_memory_is_chunked_like_the_other():
    X, y = data(n=500)
    kw = dict(n_hidden=(3,), max_iter=5, random_state=0)
    a = NeuralNetwork(**kw).fit(X, y)
    Xd, yd = blocks(X, y, 120)
    assert_weights_close(a, NeuralNetwork(**kw).fit(Xd, y), 1e-12)
    assert_weights_close(a, NeuralNetwork(**kw).fit(X, yd), 1e-12)


def test_a_cluster_that_keeps_failing_raises_and_leaves_the_estimator_unchanged(client, monkeypatch):
    from backprop import _dask

    X, y = data(n=300, d=4)
    nn = NeuralNetwork(n_hidden=(3,), max_iter=3, random_state=0).fit(X, y)
    before = [W.copy() for W in nn.weights_]
    calls = []

    def lost(self, *args):
        calls.append(1)
        raise OSError("connection closed")

    monkeypatch.setattr(_dask.Blocks, "_map_on_cluster", lost)
    with client.as_current(), pytest.raises(RuntimeError, match="lost workers or data 3 times"):
        nn.set_params(warm_start=True).fit(*blocks(X, y, 100))
    assert len(calls) == _dask.ATTEMPTS
    assert all(np.array_equal(A, B) for A, B in zip(before, nn.weights_)) and nn.n_iter_ == 3


@pytest.mark.parametrize("batch_size", [None, 150], ids=["full-batch", "mini-batch"])
def test_blocks_too_large_for_the_workers_are_read_from_their_source_in_every_pass(client, tmp_path, monkeypatch,
                                                                                    batch_size):
    # the blocks stay in the workers' memory when they fit, else (here: forced) every pass reads the file
    from backprop import _dask

    X, y = data(n=900)
    np.save(tmp_path / "X.npy", X)

    def file_rows(path, block_info=None):
        start, stop = block_info[None]["array-location"][0]
        return np.load(path, mmap_mode="r")[start:stop]

    Xd = da.map_blocks(file_rows, str(tmp_path / "X.npy"), dtype=X.dtype, chunks=((200,) * 4 + (100,), (5,)))
    yd = da.from_array(y, chunks=(200,))
    kw = dict(n_hidden=(4,), max_iter=6, learning_rate=0.5, random_state=0, batch_size=batch_size)
    made, init = [], _dask.Blocks.__init__

    def recording_init(self, *args):
        init(self, *args)
        made.append(self)

    monkeypatch.setattr(_dask.Blocks, "__init__", recording_init)
    with client.as_current():
        resident = NeuralNetwork(**kw).fit(Xd, yd)
        monkeypatch.setattr(_dask, "RESIDENT_FRACTION", 0.0)
        streamed = NeuralNetwork(**kw).fit(Xd, yd)
    assert [b.resident for b in made] == [True, False]
    assert_same_fit(resident, streamed)
    if batch_size is None:
        assert_weights_close(NeuralNetwork(**kw).fit(X, y), streamed, 1e-12)


def test_blocks_stay_in_the_workers_memory_when_they_fit_in_half_of_it(client):
    from backprop import _dask

    limits = sum(w["memory_limit"] for w in client.scheduler_info(n_workers=-1)["workers"].values())
    assert limits > 0 and _dask.RESIDENT_FRACTION == 0.5
    assert _dask._fits_in_workers(client, limits // 2) and not _dask._fits_in_workers(client, limits // 2 + 1)
