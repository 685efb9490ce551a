"""Missing and non-finite labels never become a class: one rule (_validation.check_labels) for
every way labels enter the estimator, on both backends."""

import math
from decimal import Decimal

import numpy as np
import pytest

from backprop import NeuralNetwork

pd = pytest.importorskip("pandas")

X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])

BAD_LABELS = {
    "float32 NaN in an object array": lambda: np.array([0, 1, np.float32("nan"), 1, 0, 1], dtype=object),
    "float NaN among strings in a list": lambda: ["a", "b", float("nan"), "a", "b", "a"],
    "pandas.NA in a string Series": lambda: pd.Series(["a", "b", pd.NA, "a", "b", "a"], dtype="string"),
    "pandas.NA in an Int64 Series": lambda: pd.Series([0, 1, pd.NA, 1, 0, 1], dtype="Int64"),
    "None among strings": lambda: ["a", "b", None, "a", "b", "a"],
    "inf in a float array": lambda: np.array([0.0, 1.0, np.inf, 1.0, 0.0, 1.0]),
    "NaN in a float list": lambda: [0.0, 1.0, math.nan, 1.0, 0.0, 1.0],
    "-inf as a numpy scalar in a list": lambda: [0, 1, np.float64("-inf"), 1, 0, 1],
    "Decimal NaN": lambda: np.array([Decimal(0), Decimal(1), Decimal("NaN"), Decimal(1), Decimal(0), Decimal(1)], dtype=object),
    "NaN in a categorical": lambda: pd.Series(pd.Categorical(["a", "b", None, "a", "b", "a"])),
}

BACKENDS = ["cpp", "numpy"]
MATCH = r"contains NaN or infinity, or a missing label \(None, pandas.NA\)"


def _model(backend):
    return NeuralNetwork(n_hidden=(), max_iter=5, random_state=0, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(BAD_LABELS))
def test_fit_refuses_missing_or_non_finite_labels(case, backend):
    with pytest.raises(ValueError, match=MATCH):
        _model(backend).fit(X, BAD_LABELS[case]())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(BAD_LABELS))
def test_partial_fit_refuses_them_in_y_and_in_classes(case, backend):
    bad = BAD_LABELS[case]()
    with pytest.raises(ValueError, match="classes " + MATCH):
        _model(backend).partial_fit(X, [0, 1, 0, 1, 0, 1], classes=bad)
    model = _model(backend).partial_fit(X, [0, 1, 0, 1, 0, 1], classes=[0, 1])
    with pytest.raises(ValueError, match="y " + MATCH):
        model.partial_fit(X, bad)


@pytest.mark.parametrize("classes", [[0.0, 1.0, np.nan], [0, 1, np.inf], np.array(["a", "b", None], dtype=object)])
def test_partial_fit_classes_with_nan_or_inf_are_refused(classes):
    with pytest.raises(ValueError, match="classes " + MATCH):
        _model("cpp").partial_fit(X, [0, 1, 0, 1, 0, 1], classes=classes)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(BAD_LABELS))
def test_score_refuses_them(case, backend):
    model = _model(backend).fit(X, [0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="y " + MATCH):
        model.score(X, BAD_LABELS[case]())


@pytest.mark.parametrize(
    "y", [["a", "b", "nan", "a", "b", "a"], np.array([0, 1, 2, 1, 0, 1], dtype=object), [True, False] * 3]
)
def test_ordinary_labels_still_train(y):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch may well learn nothing: not what this tests
        model = NeuralNetwork(n_hidden=(), max_iter=1, random_state=0).fit(X, y)
    assert len(model.classes_) == len(set(map(str, y)))



@pytest.mark.parametrize(
    "labels, shown",
    [
        (np.array([1, 1, 1]), "(1)"),
        (np.array([1.0, 1.0, 1.0]), "(1.0)"),
        (np.array([True, True, True]), "(True)"),
        (np.array(["a", "a", "a"]), "('a')"),
        (np.array([1, 1, 1], dtype=np.uint8), "(1)"),
    ],
)
def test_one_class_message_shows_plain_values(labels, shown):
    with pytest.raises(ValueError, match="only 1 class") as info:
        NeuralNetwork(max_iter=1).fit(np.zeros((3, 1)), labels)
    assert shown in str(info.value) and "np." not in str(info.value)


@pytest.mark.filterwarnings("ignore::backprop.ConvergenceWarning")  # a tiny fit, not a learning test
def test_label_messages_show_plain_values():
    model = NeuralNetwork(n_hidden=(), max_iter=1).fit(np.arange(4.0).reshape(-1, 1), np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError) as info:
        model.partial_fit(np.zeros((1, 1)), np.array([0]), classes=np.array([0, 2]))
    assert "[0, 2]" in str(info.value) and "[0, 1]" in str(info.value) and "np." not in str(info.value)
    with pytest.raises(ValueError) as info:
        model.partial_fit(np.zeros((1, 1)), np.array([7]))
    assert "np." not in str(info.value) and "array(" not in str(info.value)
