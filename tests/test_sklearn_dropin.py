"""backprop.MLPClassifier / MLPRegressor against the installed scikit-learn: the same data,
parameters and random_state give the same model (float64: weights to 1e-12 relative, the same
n_iter_, loss_curve_, validation_scores_; float32: to float32's precision)."""

import inspect
import itertools
import subprocess
import sys
import warnings

import numpy as np
import pytest

sk = pytest.importorskip("sklearn.neural_network")
pytest.importorskip("scipy")

import backprop  # noqa: E402
from backprop import _sklearn  # noqa: E402
from sklearn import __version__ as sklearn_version  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer  # noqa: E402

RTOL = {np.float64: 1e-12, np.float32: 2e-4}

SOLVERS = {
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "sgd-nesterov": dict(solver="sgd", learning_rate_init=0.01),
    "sgd-momentum": dict(solver="sgd", learning_rate_init=0.02, nesterovs_momentum=False, momentum=0.5),
    "sgd-plain": dict(solver="sgd", learning_rate_init=0.05, momentum=0.0),
    "sgd-invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.05, power_t=0.3),
    # tol large enough that the learning rate is divided by 5 during the fit
    "sgd-adaptive": dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.05, tol=0.05, n_iter_no_change=1),
    "adam-stops": dict(solver="adam", learning_rate_init=0.01, tol=0.05, n_iter_no_change=1),
    "lbfgs": dict(solver="lbfgs"),
}
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
TASKS = {"binary": 2, "multiclass": 3}
VARIANTS = [  # (batch_size, early_stopping, n_threads), cycled over the grid's cells
    ("auto", False, 1), (7, True, 2), (1, False, 2), (5, False, 1), ("auto", True, 1), (1000, False, 2),
]


def classification(n_classes, n=40, d=5, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.argmax(X[:, :n_classes] + 0.5 * rng.normal(size=(n, n_classes)), axis=1)
    return X.astype(dtype), np.array(["a", "b", "c"])[y] if n_classes == 3 else y


def weights_of(model):
    return model.coefs_ + model.intercepts_


def assert_same_model(ours, theirs, dtype=np.float64):
    """The fitted state scikit-learn exposes, equal to the dtype's precision."""
    rtol = RTOL[np.dtype(dtype).type]
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.n_layers_ == theirs.n_layers_ and ours.out_activation_ == theirs.out_activation_
    for i, (a, b) in enumerate(zip(weights_of(ours), weights_of(theirs))):
        assert a.dtype == b.dtype and a.shape == b.shape, i
        scale = np.max(np.abs(b))
        err = np.max(np.abs(a - b)) / scale
        assert err <= rtol, f"array {i}: max difference {err:.2e} of its largest value"
    if theirs.solver == "lbfgs":
        np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=rtol)
        return
    assert ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=rtol)
    if theirs.early_stopping:
        assert ours.best_loss_ is None and theirs.best_loss_ is None
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=rtol)
        np.testing.assert_allclose(ours.best_validation_score_, theirs.best_validation_score_, rtol=rtol)
    else:
        assert ours.validation_scores_ is None and theirs.validation_scores_ is None
        np.testing.assert_allclose(ours.best_loss_, theirs.best_loss_, rtol=rtol)
    # Adam's per-step rate is its optimizer's own bookkeeping, which the kernels keep instead
    adam = isinstance(theirs._optimizer, AdamOptimizer)
    assert type(ours._optimizer) is type(theirs._optimizer)
    assert ours._optimizer.learning_rate == theirs._optimizer.learning_rate or adam


def fit_both(make_ours, make_theirs, fit):
    """Both fitted models; their warnings (ConvergenceWarning, batch_size clipped, ...) must match,
    and where scikit-learn's fit raises, ours must raise the same (the test is then skipped)."""
    caught = []
    for make in (make_ours, make_theirs):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                outcome = fit(make())
            except Exception as exc:  # compared below
                outcome = exc
            caught.append((outcome, [(w.category, str(w.message)) for w in record]))
    (ours, ours_warnings), (theirs, theirs_warnings) = caught
    if isinstance(theirs, Exception):
        assert type(ours) is type(theirs) and str(ours) == str(theirs), (ours, theirs)
        pytest.skip(f"scikit-learn {sklearn_version} raises {theirs!r} here, and so do the drop-ins")
    if isinstance(ours, Exception):
        raise ours
    assert ours_warnings == theirs_warnings
    return ours, theirs


@pytest.fixture
def threads_on_tiny_data(monkeypatch):
    """Lets n_threads=2 run 2 threads on the grid's tiny problems (the drop-ins use one thread
    when a batch is too small to share)."""
    monkeypatch.setattr(_sklearn, "_MIN_WORK_PER_THREAD", 1)


CELLS = list(itertools.product(SOLVERS, ACTIVATIONS, TASKS))


@pytest.mark.parametrize(("solver", "activation", "task"), CELLS)
def test_classifier_equals_scikit_learn(solver, activation, task, threads_on_tiny_data):
    batch_size, early_stopping, n_threads = VARIANTS[CELLS.index((solver, activation, task)) % len(VARIANTS)]
    X, y = classification(TASKS[task])
    params = dict(hidden_layer_sizes=(4, 3), activation=activation, max_iter=8, random_state=3, batch_size=batch_size,
                  early_stopping=early_stopping and solver != "lbfgs", validation_fraction=0.25, **SOLVERS[solver])
    ours, theirs = fit_both(
        lambda: backprop.MLPClassifier(**params, n_threads=n_threads), lambda: sk.MLPClassifier(**params),
        lambda m: m.fit(X, y),
    )
    assert_same_model(ours, theirs)
    # probabilities to 1e-12 of their scale, 1, as the weights are compared: L-BFGS carries
    # last-bit differences of the gradient (the portable build's, without FMA) to ~2e-12 of small ones
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def regression(loss, n_outputs, n=40, d=5, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    z = X[:, :n_outputs] - 0.3 * X[:, -1:] + 0.2 * rng.normal(size=(n, n_outputs))
    y = rng.poisson(np.exp(z)).astype(float) if loss == "poisson" else z
    return X.astype(dtype), y[:, 0] if n_outputs == 1 else y


def multilabel(n=40, d=5, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = (X[:, :3] + 0.5 * rng.normal(size=(n, 3)) > 0).astype(int)
    return X.astype(dtype), Y


def sample_weights(n, seed=1):
    return np.random.default_rng(seed).uniform(0.0, 3.0, size=n)


TARGETS = {  # name: (estimator pair, data)
    "squared_error-1": ("reg", dict(loss="squared_error"), lambda: regression("squared_error", 1)),
    "squared_error-2": ("reg", dict(loss="squared_error"), lambda: regression("squared_error", 2)),
    "poisson-1": ("reg", dict(loss="poisson"), lambda: regression("poisson", 1)),
    "poisson-2": ("reg", dict(loss="poisson"), lambda: regression("poisson", 2)),
    "multilabel": ("clf", {}, multilabel),
    "binary": ("clf", {}, lambda: classification(2)),
    "multiclass": ("clf", {}, lambda: classification(3)),
}
ESTIMATORS = {"clf": (backprop.MLPClassifier, sk.MLPClassifier), "reg": (backprop.MLPRegressor, sk.MLPRegressor)}
TARGET_CELLS = list(itertools.product(TARGETS, ["adam", "sgd-nesterov", "sgd-adaptive", "lbfgs"], [False, True]))


@pytest.mark.parametrize(("target", "solver", "weighted"), TARGET_CELLS)
def test_losses_and_sample_weights_equal_scikit_learn(target, solver, weighted, threads_on_tiny_data):
    """Regression (squared error, Poisson; one and two outputs), multilabel and the classifiers'
    outputs, with and without sample weights."""
    kind, extra, make = TARGETS[target]
    ours_cls, theirs_cls = ESTIMATORS[kind]
    X, y = make()
    batch_size, early_stopping, n_threads = VARIANTS[TARGET_CELLS.index((target, solver, weighted)) % len(VARIANTS)]
    params = dict(hidden_layer_sizes=(4,), activation="tanh", max_iter=6, random_state=5, batch_size=batch_size,
                  early_stopping=early_stopping and solver != "lbfgs", validation_fraction=0.25, alpha=0.01,
                  **extra, **{**SOLVERS[solver], "learning_rate_init": 0.01} if solver != "lbfgs" else SOLVERS[solver])
    sw = sample_weights(len(X)) if weighted else None
    ours, theirs = fit_both(lambda: ours_cls(**params, n_threads=n_threads), lambda: theirs_cls(**params),
                            lambda m: m.fit(X, y, sample_weight=sw))
    assert_same_model(ours, theirs)
    if kind == "reg":
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        # probabilities to 1e-12 of their scale, 1, as the weights are compared: L-BFGS carries
        # last-bit differences of the gradient (the portable build's, without FMA) to ~2e-12 of small ones
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.score(X, y, sample_weight=sw), theirs.score(X, y, sample_weight=sw), rtol=1e-12)


@pytest.mark.parametrize("target", ["squared_error-2", "poisson-1", "multilabel"])
def test_partial_fit_of_other_targets_equals_scikit_learn(target):
    kind, extra, make = TARGETS[target]
    ours_cls, theirs_cls = ESTIMATORS[kind]
    X, y = make()
    sw = sample_weights(len(X))
    params = dict(hidden_layer_sizes=(5,), random_state=0, batch_size=6, learning_rate_init=0.01, **extra)

    classes = dict(classes=np.arange(3)) if kind == "clf" else {}  # required by the first call

    def calls(model):
        for k in range(3):
            model.partial_fit(X[k::2], y[k::2], sample_weight=sw[k::2], **classes)
        return model

    ours, theirs = fit_both(lambda: ours_cls(**params), lambda: theirs_cls(**params), calls)
    assert_same_model(ours, theirs)


@pytest.mark.parametrize("target", ["squared_error-2", "poisson-1", "multilabel"])
def test_float32_other_targets(target):
    kind, extra, make = TARGETS[target]
    ours_cls, theirs_cls = ESTIMATORS[kind]
    X, y = make()
    X = X.astype(np.float32)
    params = dict(hidden_layer_sizes=(4,), max_iter=4, random_state=0, batch_size=10, learning_rate_init=0.01, **extra)
    ours, theirs = fit_both(lambda: ours_cls(**params), lambda: theirs_cls(**params), lambda m: m.fit(X, y))
    assert_same_model(ours, theirs, np.float32)


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-invscaling", "sgd-adaptive", "lbfgs"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_warm_start_equals_scikit_learn(solver, n_threads, threads_on_tiny_data):
    """A second fit from the first's weights (scikit-learn starts a new optimizer: so do we)."""
    X, y = classification(3)
    params = dict(hidden_layer_sizes=(5,), max_iter=4, random_state=0, warm_start=True, batch_size=9, **SOLVERS[solver])

    def twice(model):
        model.fit(X, y)
        return model.set_params(max_iter=3).fit(X[::-1], y[::-1])

    ours, theirs = fit_both(
        lambda: backprop.MLPClassifier(**params, n_threads=n_threads), lambda: sk.MLPClassifier(**params), twice
    )
    assert_same_model(ours, theirs)


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-invscaling", "sgd-adaptive"])
@pytest.mark.parametrize("after_fit", [False, True])
def test_partial_fit_equals_scikit_learn(solver, after_fit, threads_on_tiny_data):
    """partial_fit carries the solver's state (velocities, Adam's moments and step) from call to call."""
    X, y = classification(2, n=30)
    params = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=1, batch_size=4, **SOLVERS[solver])

    def calls(model):
        if after_fit:
            model.fit(X, y)
        for k in range(4):
            model.partial_fit(X[k::2], y[k::2], classes=[0, 1])
        return model

    ours, theirs = fit_both(lambda: backprop.MLPClassifier(**params, n_threads=2), lambda: sk.MLPClassifier(**params), calls)
    assert_same_model(ours, theirs)


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov"])
def test_unshuffled_epochs_equal_scikit_learn(solver):
    X, y = classification(3)
    params = dict(hidden_layer_sizes=(5,), max_iter=4, random_state=0, batch_size=6, shuffle=False, **SOLVERS[solver])
    ours, theirs = fit_both(lambda: backprop.MLPClassifier(**params), lambda: sk.MLPClassifier(**params),
                            lambda m: m.fit(X, y))
    assert_same_model(ours, theirs)


def test_partial_fit_survives_pickling():
    import pickle

    X, y = classification(3)
    params = dict(hidden_layer_sizes=(5,), random_state=2, batch_size=8)
    ours = backprop.MLPClassifier(**params).partial_fit(X, y, classes=["a", "b", "c"])
    theirs = sk.MLPClassifier(**params).partial_fit(X, y, classes=["a", "b", "c"])
    ours, theirs = pickle.loads(pickle.dumps(ours)), pickle.loads(pickle.dumps(theirs))
    assert_same_model(ours.partial_fit(X, y), theirs.partial_fit(X, y))


# set_params between calls: scikit-learn's partial_fit continues with the optimizer of its first
# call (its solver and hyperparameters), so a change reaches neither its run nor ours
CHANGED_BETWEEN_CALLS = {
    "sgd-nesterov": ("sgd-nesterov", dict(learning_rate_init=0.1, momentum=0.5, nesterovs_momentum=False)),
    "sgd-momentum": ("sgd-momentum", dict(learning_rate_init=0.1, momentum=0.2, nesterovs_momentum=True)),
    "sgd-invscaling": ("sgd-invscaling", dict(learning_rate_init=0.2, power_t=0.9, learning_rate="constant")),
    "sgd-adaptive": ("sgd-adaptive", dict(learning_rate_init=0.2, momentum=0.1)),
    "adam": ("adam", dict(learning_rate_init=0.1, beta_1=0.5, beta_2=0.9, epsilon=1e-3)),
    "sgd-to-adam": ("sgd-nesterov", dict(solver="adam")),
    "adam-to-sgd": ("adam", dict(solver="sgd", momentum=0.5)),
}


@pytest.mark.parametrize("case", list(CHANGED_BETWEEN_CALLS))
@pytest.mark.parametrize("after_fit", [False, True])
def test_parameters_changed_before_partial_fit_equal_scikit_learn(case, after_fit):
    solver, changes = CHANGED_BETWEEN_CALLS[case]
    X, y = classification(2, n=30)
    params = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=1, batch_size=4, **SOLVERS[solver])

    def calls(model):
        if after_fit:
            model.fit(X, y)
        else:
            model.partial_fit(X, y, classes=[0, 1])
        model.set_params(**changes)
        for k in range(3):
            model.partial_fit(X[k::2], y[k::2])
        return model

    ours, theirs = fit_both(lambda: backprop.MLPClassifier(**params), lambda: sk.MLPClassifier(**params), calls)
    assert_same_model(ours, theirs)


@pytest.mark.parametrize("solver", ["sgd-nesterov", "adam"])
def test_warm_start_fit_uses_the_changed_parameters_as_scikit_learn(solver):
    """fit (warm_start too) makes a new optimizer: the changed values apply, in both."""
    X, y = classification(2, n=30)
    params = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=1, batch_size=4, warm_start=True,
                  **SOLVERS[solver])

    def twice(model):
        model.fit(X, y)
        return model.set_params(learning_rate_init=0.1, momentum=0.3, beta_1=0.5, epsilon=1e-3).fit(X, y)

    ours, theirs = fit_both(lambda: backprop.MLPClassifier(**params), lambda: sk.MLPClassifier(**params), twice)
    assert_same_model(ours, theirs)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_losses_are_numpy_float64_as_scikit_learns(solver):
    X, y = classification(2, n=30)
    for dtype in (np.float64, np.float32):
        params = dict(hidden_layer_sizes=(3,), max_iter=2, random_state=0, solver=solver)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours = backprop.MLPClassifier(**params).fit(X.astype(dtype), y)
            theirs = sk.MLPClassifier(**params).fit(X.astype(dtype), y)
        assert type(ours.loss_) is type(theirs.loss_) is np.float64
        if solver != "lbfgs":
            assert [type(v) for v in ours.loss_curve_] == [type(v) for v in theirs.loss_curve_]
            assert type(ours.best_loss_) is type(theirs.best_loss_) is np.float64


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_string_targets_of_a_regressor_are_refused(solver, method):
    """scikit-learn's regressor fails on string y with a TypeError (numpy's, from its loss); ours
    refuses them before training with a TypeError that says what to do, where it trained on the
    parsed numbers."""
    if solver == "lbfgs" and method == "partial_fit":
        pytest.skip("no partial_fit for lbfgs")
    X, _ = regression("squared_error", 1, n=10)
    y = np.array(["1.5", "2", "0.5", "3", "1", "2", "4", "1", "0", "2"])
    with pytest.raises(TypeError):
        getattr(sk.MLPRegressor(solver=solver, max_iter=2), method)(X, y)
    with pytest.raises(TypeError, match=r"y must hold numbers \(bool, integer or float\), got dtype <U3"):
        getattr(backprop.MLPRegressor(solver=solver, max_iter=2), method)(X, y)
    # object arrays are converted to float by scikit-learn's check, in both
    params = dict(solver=solver, max_iter=2, random_state=0)
    ours, theirs = fit_both(lambda: backprop.MLPRegressor(**params), lambda: sk.MLPRegressor(**params),
                            lambda m: getattr(m, method)(X, y.astype(object)))
    assert_same_model(ours, theirs)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_poisson_refuses_negative_targets(solver, method):
    """scikit-learn reports a NaN loss for them; the drop-ins refuse them (README)."""
    if solver == "lbfgs" and method == "partial_fit":
        pytest.skip("no partial_fit for lbfgs")
    X, y = regression("poisson", 1, n=20)
    y[3] = -0.5
    with pytest.raises(ValueError, match=r"loss='poisson' needs y >= 0 .*got min\(y\) = -0.5"):
        getattr(backprop.MLPRegressor(loss="poisson", solver=solver, max_iter=2), method)(X, y)
    y[3] = 0.0  # zero is a valid count
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        getattr(backprop.MLPRegressor(loss="poisson", solver=solver, max_iter=2), method)(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "lbfgs"])
@pytest.mark.parametrize("task", list(TASKS))
def test_float32_in_float32_trained(solver, task):
    X, y = classification(TASKS[task], dtype=np.float32)
    params = dict(hidden_layer_sizes=(4,), max_iter=5, random_state=0, batch_size=10, **SOLVERS[solver])
    ours, theirs = fit_both(lambda: backprop.MLPClassifier(**params), lambda: sk.MLPClassifier(**params),
                            lambda m: m.fit(X, y))
    assert_same_model(ours, theirs, np.float32)
    proba = ours.predict_proba(X)
    assert proba.dtype == theirs.predict_proba(X).dtype
    np.testing.assert_allclose(proba, theirs.predict_proba(X), rtol=1e-4, atol=1e-5)


def test_float32_training_runs_in_float32(monkeypatch):
    """The kernels are handed float32 data, weights and solver state."""
    seen = []
    train = _sklearn._BACKEND.train

    class Spy:
        def train(self, X, T, weights, *rest, **options):
            seen.append({X.dtype, T.dtype, *(W.dtype for W in weights)})
            return train(X, T, weights, *rest, **options)

        def __getattr__(self, name):
            return getattr(_sklearn.BACKENDS["cpp"], name)

    monkeypatch.setattr(_sklearn, "_BACKEND", Spy())
    X, y = classification(2, dtype=np.float32)
    with pytest.warns(ConvergenceWarning):
        backprop.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, y)
    assert seen == [{np.dtype(np.float32)}] * 2


def test_lbfgs_max_fun_and_max_iter_equal_scikit_learn():
    X, y = classification(3, n=60)
    for extra in (dict(max_fun=7), dict(max_iter=5), dict(tol=1e-1)):
        params = dict(solver="lbfgs", hidden_layer_sizes=(6,), random_state=0, alpha=0.3, **extra)
        with warnings.catch_warnings(record=True) as ours_w:
            warnings.simplefilter("always")
            ours = backprop.MLPClassifier(**params).fit(X, y)
        with warnings.catch_warnings(record=True) as theirs_w:
            warnings.simplefilter("always")
            theirs = sk.MLPClassifier(**params).fit(X, y)
        assert [str(w.message) for w in ours_w] == [str(w.message) for w in theirs_w]
        assert_same_model(ours, theirs)


def test_convergence_warning_and_no_change_messages_are_scikit_learns(capsys):
    X, y = classification(2)
    for params in (dict(max_iter=3), dict(max_iter=50, tol=10.0, n_iter_no_change=2, verbose=True),
                   dict(max_iter=50, tol=10.0, n_iter_no_change=2, early_stopping=True, verbose=True),
                   dict(max_iter=5, n_iter_no_change=np.inf, tol=1e9)):
        out = []
        for cls in (backprop.MLPClassifier, sk.MLPClassifier):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cls(hidden_layer_sizes=(3,), random_state=0, **params).fit(X, y)
            out.append(([(w.category, str(w.message)) for w in caught], capsys.readouterr().out))
        assert out[0] == out[1]


def test_sparse_input_gives_the_dense_model():
    sparse = pytest.importorskip("scipy.sparse")
    X, y = classification(3)
    X[X < 0.3] = 0
    params = dict(hidden_layer_sizes=(4,), max_iter=4, random_state=0, batch_size=10)
    ours, theirs = fit_both(lambda: backprop.MLPClassifier(**params), lambda: sk.MLPClassifier(**params),
                            lambda m: m.fit(sparse.csr_matrix(X), y))
    assert_same_model(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(sparse.csc_matrix(X)), theirs.predict_proba(X), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("where, value", [("X", np.nan), ("X", np.inf), ("y", np.nan), ("y", -np.inf)])
def test_data_that_is_not_finite_gets_scikit_learns_own_error(dtype, where, value):
    """X's values are checked by the kernels' pass over X; data that fails it goes through
    scikit-learn's checks, whose error is raised word for word."""
    for ours, theirs, regression in ((backprop.MLPClassifier, sk.MLPClassifier, False),
                                     (backprop.MLPRegressor, sk.MLPRegressor, True)):
        X, y = classification(2, dtype=dtype)
        y = y.astype(dtype if regression else np.float64)
        (X if where == "X" else y)[3] = value
        with pytest.raises(ValueError) as expected:
            theirs(max_iter=2).fit(X, y)
        with pytest.raises(ValueError) as got:
            ours(max_iter=2).fit(X, y)
        assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("solver, early_stopping", [("adam", False), ("adam", True), ("lbfgs", False)])
def test_the_check_s_pass_answers_the_solvers_and_changes_nothing(monkeypatch, solver, early_stopping):
    """The pass that checks X tells the solvers whether X has huge values (the early-stopping
    split's rows are scanned only when X has some); the model is the one of scikit-learn's checks
    followed by the solver's own scan, bit for bit, huge values or not."""
    X, y = classification(3, n=80)
    huge = X.copy()
    huge[::9] *= 1e160  # |x| above sqrt(max): the first layer takes its overflow-safe sums
    params = dict(hidden_layer_sizes=(4,), solver=solver, early_stopping=early_stopping, max_iter=4,
                  batch_size=16, random_state=0)
    scans = []
    has_huge_values = _sklearn._core.has_huge_values
    monkeypatch.setattr(_sklearn._core, "has_huge_values", lambda A: scans.append(A.shape) or has_huge_values(A))
    for data, rescans in ((X, 0), (huge, int(early_stopping))):
        fits = []
        for one_pass in (True, False):
            with monkeypatch.context() as m:
                if not one_pass:
                    m.setattr(_sklearn._KernelArithmetic, "_scan_checked_input", lambda self, X, y: None)
                scans.clear()
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    fits.append(backprop.MLPClassifier(**params).fit(data, y))
                assert len(scans) == (rescans if one_pass else 1), (one_pass, scans)
        assert fits[0].n_iter_ == fits[1].n_iter_
        for a, b in zip(*[weights_of(f) + [np.array(f.loss_)] for f in fits]):
            np.testing.assert_array_equal(a, b)
        assert "_input_scan" not in vars(fits[0])  # X is not kept past the fit


def test_threads_do_not_change_the_model(threads_on_tiny_data):
    X, y = classification(3, n=80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [backprop.MLPClassifier(hidden_layer_sizes=(7,), max_iter=3, batch_size=16, random_state=0,
                                       n_threads=t).fit(X, y) for t in (1, 2)]
    for a, b in zip(weights_of(fits[0]), weights_of(fits[1])):
        np.testing.assert_array_equal(a, b)


def test_bad_n_threads_is_refused_naming_it():
    X, y = classification(2)
    with pytest.raises(ValueError, match="n_threads"):
        backprop.MLPClassifier(n_threads=0).fit(X, y)


@pytest.mark.no_kernels
@pytest.mark.parametrize(("ours", "theirs"), [(backprop.MLPClassifier, sk.MLPClassifier),
                                              (backprop.MLPRegressor, sk.MLPRegressor)])
def test_signature_is_scikit_learns_plus_n_threads(ours, theirs):
    mine = dict(inspect.signature(ours).parameters)
    assert mine.pop("n_threads").default is None
    assert list(mine.values()) == list(inspect.signature(theirs).parameters.values())
    assert issubclass(ours, theirs)


def test_import_backprop_does_not_import_scikit_learn():
    code = "import sys, backprop; assert 'sklearn' not in sys.modules; backprop.MLPClassifier; assert 'sklearn' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_kernels_do_the_arithmetic(monkeypatch):
    """fit (stochastic and lbfgs), predict and the validation score call the backend, nothing else
    computes: scikit-learn's own _backprop and forward pass are never reached."""
    calls = []
    cpp = _sklearn.BACKENDS["cpp"]

    class Spy:
        def __getattr__(self, name):
            method = getattr(cpp, name)
            return lambda *args, **kwargs: calls.append(name) or method(*args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("scikit-learn's arithmetic was called")

    monkeypatch.setattr(_sklearn, "_BACKEND", Spy())
    for name in ("_backprop", "_forward_pass_fast", "_forward_pass"):
        monkeypatch.setattr(sk.MLPClassifier, name, refuse)
        monkeypatch.setattr(sk.MLPRegressor, name, refuse)
    X, y = classification(3)
    y = np.searchsorted(np.unique(y), y)  # integer labels: scikit-learn 1.7 cannot score string ones
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        backprop.MLPClassifier(hidden_layer_sizes=(3,), max_iter=3, early_stopping=True, validation_fraction=0.3).fit(X, y)
        assert calls == ["train", "network_output"] * 3
        calls.clear()
        model = backprop.MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=3).fit(X, X[:, 0])
        assert set(calls) == {"loss_and_gradient"}
        calls.clear()
        model.predict(X)
        assert calls == ["network_output"]


@pytest.mark.no_kernels
def test_the_overridden_methods_keep_scikit_learns_signatures():
    """The drop-ins replace private methods of scikit-learn's classes: a release that renames them
    or changes their arguments must fail here, not silently run scikit-learn's arithmetic."""
    for name in ("_backprop", "_fit_stochastic", "_fit_lbfgs", "_forward_pass_fast", "_validate_input"):
        theirs = inspect.signature(getattr(sk.MLPClassifier, name))
        ours = inspect.signature(getattr(backprop.MLPClassifier, name))
        if name != "_fit_lbfgs":  # ours forwards *args, **kwargs
            assert ours == theirs, name
    for name in ("_update_no_improvement_count", "_score", "_initialize"):
        assert hasattr(sk.MLPClassifier, name) and hasattr(sk.MLPRegressor, name), name
