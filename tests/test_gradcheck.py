"""backprop.check_gradients: the public finite-difference check, on every activation x output x solver."""

import numpy as np
import pytest

import backprop
from backprop import NeuralNetwork, check_gradients, reference

# Most fits here are tiny (a few iterations on a few rows): they test plumbing, not learning,
# and many end predicting one class, which ConvergenceWarning rightly reports.
pytestmark = pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")

BACKENDS = ["cpp", "numpy"]


def _data(k, n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.array(list("abcd"))[np.arange(n) % k]
    return X, y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("solver", reference.SOLVERS)
@pytest.mark.parametrize("k", [2, 3], ids=["sigmoid_out", "softmax_out"])
@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
def test_fitted_models_pass(activation, k, solver, backend):
    X, y = _data(k)
    nn = NeuralNetwork(n_hidden=(4, 3), activation=activation, solver=solver, alpha=0.1, learning_rate=0.05,
                       max_iter=5, batch_size=16, random_state=0, backend=backend).fit(X, y)
    result = check_gradients(nn, X, y)
    assert result.ok, str(result)
    assert result.n_checked == sum(W.size for W in nn.weights_)  # small model: every weight
    assert [c.n_checked for c in result.layers] == [W.size for W in nn.weights_]
    assert result.max_abs_error < 1e-7


@pytest.mark.parametrize("backend", BACKENDS)
def test_unfitted_model_is_checked_at_its_initial_weights_and_left_alone(backend):
    X, y = _data(3)
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    nn = NeuralNetwork(n_hidden=(5,), activation="relu", init="he", random_state=rng, backend=backend)
    result = check_gradients(nn, X, y)
    assert result.ok and len(result.layers) == 2 and result.layers[1].n_checked == 3 * 6
    assert not hasattr(nn, "weights_") and rng.bit_generator.state == state  # nothing consumed or set
    w = reference.init_weights(3, (5,), np.random.default_rng(3), init="he", n_outputs=3)
    Y = np.eye(3)[np.arange(40) % 3]
    assert result.loss == pytest.approx(reference.loss_and_gradient(X, Y, w, "relu")[0], rel=1e-12)


def test_a_wrong_gradient_is_caught(monkeypatch):
    """The check can fail: a derivative off by 1% in one layer is reported, in that layer."""
    X, y = _data(2)
    nn = NeuralNetwork(n_hidden=(4,), activation="tanh", random_state=0, backend="numpy")
    good = reference.loss_and_gradient

    def wrong(*args, **kwargs):
        loss, grads = good(*args, **kwargs)
        grads[0] = grads[0] * 1.01
        return loss, grads

    monkeypatch.setattr(reference, "loss_and_gradient", wrong)
    result = check_gradients(nn, X, y)
    assert not result.ok
    assert result.layers[0].max_rel_error == pytest.approx(0.01 / 1.01, rel=1e-3)
    assert result.layers[1].max_abs_error < 1e-8
    assert "FAILED" in str(result)


def test_big_models_check_a_random_subset():
    X, y = _data(2, d=30)
    nn = NeuralNetwork(n_hidden=(40,), random_state=0, backend="numpy")
    result = check_gradients(nn, X, y, n_checks=50)
    sizes = [40 * 31, 41]
    assert result.ok
    assert result.layers[0].n_checked == round(50 * sizes[0] / sum(sizes))
    assert result.layers[1].n_checked == 10  # at least min(size, 10) per layer
    default = check_gradients(nn, X, y)  # 1281 weights > 1000: a subset of about 1000
    assert 990 <= default.n_checked <= 1010


def test_bad_arguments():
    X, y = _data(2)
    with pytest.raises(TypeError, match="NeuralNetwork"):
        check_gradients("model", X, y)
    with pytest.raises(ValueError, match="epsilon"):
        check_gradients(NeuralNetwork(backend="numpy"), X, y, epsilon=0)
    with pytest.raises(ValueError, match="activation"):
        check_gradients(NeuralNetwork(activation="swish", backend="numpy"), X, y)
    fitted = NeuralNetwork(n_hidden=(2,), max_iter=1, backend="numpy").fit(X, y)
    with pytest.raises(ValueError, match="not in classes_"):
        check_gradients(fitted, X, np.where(y == "a", "z", y))
    assert backprop.check_gradients is check_gradients


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("scale", [1.0, 20.0, 60.0])
def test_saturated_outputs_raise_no_false_alarm(backend, n_classes, scale):
    """Identity hidden layers and logits far past the clipping (|z| up to ~60): the finite
    differences are taken of the exact loss, so a correct gradient always passes."""
    import numpy as np

    import backprop
    from backprop import reference

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = np.arange(60) % n_classes
    model = backprop.NeuralNetwork(n_hidden=(4,), activation="identity", max_iter=0, backend=backend, random_state=0)
    model.fit(X, y)
    W0 = rng.normal(size=model.weights_[0].shape)
    W1 = rng.normal(size=model.weights_[1].shape)
    logits = np.hstack([np.ones((60, 1)), np.hstack([np.ones((60, 1)), X]) @ W0.T]) @ W1.T
    W1 *= scale / np.abs(logits).max()  # the largest |logit| is now `scale`
    model.weights_ = [W0, W1]
    result = backprop.check_gradients(model, X, y)
    assert result.ok, result
    T = np.eye(n_classes)[y] if n_classes > 2 else y.astype(float)
    if scale == 1.0:  # no clipping binds: the exact loss is the training loss
        loss, _ = model._backend().loss_and_gradient(X, T, model.weights_, 1, "identity", 0.0)
        assert reference.exact_loss(X, T, model.weights_, "identity") == pytest.approx(float(loss), rel=1e-12)


@pytest.mark.parametrize("name, value, message", [
    ("rtol", -1, "rtol must be a finite number >= 0, got -1"),
    ("rtol", np.inf, "rtol must be a finite number >= 0"),
    ("atol", float("nan"), "atol must be a real number, got nan"),
    ("atol", "1e-7", "atol must be a real number"),
    ("epsilon", np.nan, "epsilon must be a real number"),
    ("epsilon", -1e-6, "epsilon must be a finite number > 0"),
    ("n_checks", 0, "n_checks must be an integer >= 1"),
    ("n_checks", 2.5, "n_checks must be an integer >= 1"),
    ("random_state", "seed", "random_state must be None, an int"),
])
def test_numeric_arguments_are_checked_not_reported_as_a_wrong_gradient(name, value, message):
    X, y = _data(2)
    with pytest.raises(ValueError, match=message):
        check_gradients(NeuralNetwork(n_hidden=(2,), backend="numpy"), X, y, **{name: value})


def test_a_random_state_model_is_left_alone():
    X, y = _data(2)
    state = np.random.RandomState(3)
    before = state.get_state()[1].copy()
    assert check_gradients(NeuralNetwork(n_hidden=(3,), random_state=state, backend="numpy"), X, y).ok
    np.testing.assert_array_equal(state.get_state()[1], before)


def test_fitted_model_refuses_labels_of_another_kind():
    X, y = _data(2)
    fitted = NeuralNetwork(n_hidden=(2,), max_iter=1, backend="numpy").fit(X, np.arange(len(X)) % 2)
    with pytest.raises(ValueError, match="Mix of label input types"):
        check_gradients(fitted, X, (np.arange(len(X)) % 2).astype(str))
