"""Stored feature scaling (``backprop._scaling``): StandardScaler's statistics, saved with the
network, loaded as a Pipeline, exported by to_c/to_onnx through network_of."""

import numpy as np
import pytest

import backprop
from backprop._scaling import Scaling

sklearn = pytest.importorskip("sklearn")
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

rng = np.random.default_rng(0)
CASES = {
    "mixed scales": np.column_stack([rng.normal(size=50), 1e4 + 3e3 * rng.normal(size=50), rng.uniform(0, 1e-3, 50)]),
    "one row": rng.normal(size=(1, 3)),
    "constant and near-constant": np.column_stack([np.full(40, 7.0), 1e8 + 1e-8 * rng.normal(size=40), rng.normal(size=40)]),
    "one feature": rng.normal(size=(30, 1)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_statistics_are_standard_scalers(name):
    X = CASES[name]
    ours, ref = Scaling.of(X), StandardScaler().fit(X)
    np.testing.assert_allclose(ours.mean, ref.mean_, rtol=1e-14)
    # variances to rounding: that of the values' magnitude for a (near-)constant column
    assert np.all(np.abs(ours.var - ref.var_) <= 1e-12 * ref.var_ + 1e-15 * ref.mean_**2)
    np.testing.assert_array_equal(ours.scale == 1.0, ref.scale_ == 1.0)  # the same columns left unscaled
    np.testing.assert_allclose(ours.scale, ref.scale_, rtol=1e-12)
    np.testing.assert_allclose(ours.apply(X), ref.transform(X), rtol=1e-12, atol=1e-12)
    # applied with a scaler's own statistics, the formula is transform's, bit for bit
    np.testing.assert_array_equal(Scaling.from_scaler(ref).apply(X), ref.transform(X))


def test_pipeline_saved_and_loaded_as_a_pipeline(tmp_path):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(CASES["mixed scales"], columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    pipe = make_pipeline(StandardScaler(), backprop.NeuralNetwork(n_hidden=(3,), max_iter=50, random_state=0)).fit(X, y)
    backprop.save(pipe, tmp_path / "p.npz")
    back = backprop.load(tmp_path / "p.npz")
    assert [type(s).__name__ for _, s in back.steps] == ["StandardScaler", "NeuralNetwork"]
    assert back.steps[0][1].feature_names_in_.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(back.predict_proba(X), pipe.predict_proba(X))
    assert back.predict(X).tolist() == pipe.predict(X).tolist()
    assert int(np.load(tmp_path / "p.npz")["format_version"]) == 3
    # the exports of the loaded pipeline hold the scaling
    backprop.to_c(back, tmp_path / "m.h")
    assert "model_mean_" in (tmp_path / "m.h").read_text()


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_unscaled_models_stay_format_2_and_load_as_networks(tmp_path):
    X = CASES["mixed scales"]
    model = backprop.NeuralNetwork(n_hidden=(), max_iter=3).fit(X, (X[:, 0] > 0).astype(int))
    backprop.save(model, tmp_path / "m.npz")
    assert int(np.load(tmp_path / "m.npz")["format_version"]) == 2
    assert isinstance(backprop.load(tmp_path / "m.npz"), backprop.NeuralNetwork)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_pipelines_that_cannot_be_saved(tmp_path):
    X = CASES["mixed scales"]
    y = (X[:, 0] > 0).astype(int)
    no_mean = make_pipeline(StandardScaler(with_mean=False), backprop.NeuralNetwork(max_iter=2)).fit(X, y)
    with pytest.raises(ValueError, match="with_mean=True and with_std=True"):
        backprop.save(no_mean, tmp_path / "m.npz")
    from sklearn.preprocessing import MinMaxScaler

    other = make_pipeline(MinMaxScaler(), backprop.NeuralNetwork(max_iter=2)).fit(X, y)
    with pytest.raises(TypeError, match="exactly a StandardScaler then a NeuralNetwork"):
        backprop.save(other, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_bad_stored_scaling_is_refused(tmp_path):
    X = CASES["mixed scales"]
    pipe = make_pipeline(StandardScaler(), backprop.NeuralNetwork(max_iter=2)).fit(X, (X[:, 0] > 0).astype(int))
    backprop.save(pipe, tmp_path / "p.npz")
    members = dict(np.load(tmp_path / "p.npz"))
    for key, value, message in [
        ("scaling_scale", np.array([1.0, 0.0, 1.0]), "scale must be > 0"),
        ("scaling_mean", np.array([np.nan, 0.0, 0.0]), "NaN or infinity"),
        ("scaling_mean", np.zeros(2), "scaling_mean must hold n_features_in = 3"),
        ("format_version", np.array(2), "must have format version 3"),
    ]:
        bad = dict(members, **{key: value})
        np.savez(tmp_path / "bad.npz", **bad)
        with pytest.raises(ValueError, match=message):
            backprop.load(tmp_path / "bad.npz")
