"""The estimator's parameters: one table, and everything derived from it.

Each row of :data:`PARAMS` gives a parameter's name, default, constraint (a function that
checks a value and returns it normalised, or raises ``ValueError`` naming the parameter), its
type as the signature and as the docstring show it, its description, whether it reaches the
backend's training kernel, and the first pickle format that stores it.  The estimator's
signature and the ``Parameters`` section of its docstring, ``get_params``/``set_params``,
``repr``, the validation in ``fit``, the persisted formats' parameter lists, :class:`Config`
and the defaults of ``backprop.reference`` all come from this table.
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
import textwrap
from typing import Any, Callable, NamedTuple

import numpy as np

from . import _threadpool
from ._validation import check_int, check_real

__all__ = ["PARAMS", "DEFAULTS", "Config", "validate", "kernel_defaults", "param_names", "signature", "docstring"]



_MAX_THREADS = 2**31 - 1  # the kernels' thread count is a C int (they start no more than the work can use)  # read once, at import: asking costs microseconds

BACKENDS = ("cpp", "numpy")  # the names of _backends' implementations


# ---------------------------------------------------------------------- constraints
def _choice(name: str, allowed: tuple | str) -> Callable[[Any], str]:
    """One of ``allowed``: a tuple, or the name of a table of ``backprop.reference`` (looked up when
    checking: reference takes its defaults from this module)."""

    def check(value: Any) -> str:
        names = allowed
        if isinstance(allowed, str):
            from . import reference

            names = tuple(getattr(reference, allowed))
        if not isinstance(value, str) or value not in names:
            raise ValueError(f"{name} must be one of {names}, got {value!r}")
        return value

    def choices() -> tuple:
        from . import reference

        return tuple(getattr(reference, allowed)) if isinstance(allowed, str) else tuple(allowed)

    check.choices = choices  # type: ignore[attr-defined]  # the allowed names, for the command line's help
    return check


def _flag(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {value!r}")
        return bool(value)

    return check


def _interval(name: str, low: float, high: float, low_open: bool = False, high_open: bool = False) -> Callable:
    """A real number in the interval; the message writes the bounds as given (``[0, 1]``, ``[0.0, inf)``)."""

    def check(value: Any) -> float:
        x = check_real(value, name)
        if not ((low < x if low_open else low <= x) and (x < high if high_open else x <= high)):
            interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
        return x

    return check


def _at_least(name: str, minimum: int) -> Callable[[Any], int]:
    return lambda value: check_int(value, name, minimum)


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _hidden_sizes(value: Any) -> tuple[int, ...]:
    """An int n (one hidden layer of n units, scikit-learn's ``hidden_layer_sizes=n``) or a
    sequence of them: a tuple, a list or a 1-D integer ndarray.  The value is read, never
    consumed, so every fit sees the same layers and ``get_params`` returns what was given;
    iterators and generators (emptied by the first fit), sets and dicts (no order, or keys that
    are not sizes) and strings are refused."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        sizes: tuple = (value,)
    elif isinstance(value, (tuple, list)):
        sizes = tuple(value)
    elif isinstance(value, np.ndarray) and value.ndim == 1:
        sizes = tuple(value.tolist())  # a float array gives floats, refused below
    else:
        raise ValueError(
            "n_hidden must be an int or a sequence (tuple, list or 1-D array) of positive integers, got "
            f"{type(value).__name__} {value!r}"
        )
    for h in sizes:
        if not isinstance(h, numbers.Integral) or isinstance(h, (bool, np.bool_)) or h < 1:
            raise ValueError(f"n_hidden must hold positive integers, got {value!r}")
    return tuple(int(h) for h in sizes)


def _learning_rate(value: Any) -> float:
    lr = check_real(value, "learning_rate")
    if not (0 < lr < np.inf):
        raise ValueError(f"learning_rate must be a finite number > 0, got {value!r}")
    return lr


def _random_state(value: Any) -> Any:
    """None, an int seed, a ``numpy.random.Generator`` or (scikit-learn's habit) a
    ``numpy.random.RandomState``, whose bit generator ``default_rng`` draws from: a Generator or
    RandomState is advanced by each fit, as in scikit-learn."""
    if not (value is None or isinstance(value, (np.random.Generator, np.random.RandomState))):
        try:
            np.random.default_rng(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                "random_state must be None, an int >= 0, a numpy.random.Generator or a numpy.random.RandomState, "
                f"got {value!r} ({exc})"
            ) from None
    return value


def resolved_threads(value: Any) -> int:
    """``n_threads`` as a count: None means every core, fewer under ``OMP_NUM_THREADS`` or a
    ``threadpoolctl.threadpool_limits`` (``_threadpool``)."""
    if value is None:
        return _threadpool.current
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"n_threads must be None or an integer >= 1, got {value!r}")
    if value > _MAX_THREADS:
        raise ValueError(f"n_threads must be at most {_MAX_THREADS} (more threads than the work can use are not started), got {value!r}")
    return int(value)


def _verbose(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return check_int(value, "verbose", 0) > 0


def _callback(value: Any) -> Any:
    if value is not None and not callable(value):
        raise ValueError(f"callback must be None or a callable callback(model, iteration, loss), got {value!r}")
    return value


def _class_weight(value: Any) -> Any:
    """None, ``"balanced"``, or a dict of label -> weight (finite, >= 0), copied."""
    if value is None or (isinstance(value, str) and value == "balanced"):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {value!r}")
    for label, weight in value.items():
        if not isinstance(weight, numbers.Real) or isinstance(weight, bool) or not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"class_weight must map labels to finite weights >= 0, got {label!r}: {weight!r}")
    return dict(value)


# ---------------------------------------------------------------------- the table
class Param(NamedTuple):
    name: str
    default: Any
    check: Callable[[Any], Any]  # checks a value, returns it normalised, or raises ValueError
    annotation: str  # the signature's
    doc_type: str  # the docstring's
    doc: str
    kernel: bool = False  # passed to the backend's training kernel
    since_format: int = 1  # the first pickle format that stores it (older ones load it at its default)


# The signature's order (positional arguments keep working); validation follows it too.
PARAMS: tuple[Param, ...] = (
    Param(
        "n_hidden", (100,), _hidden_sizes, "Any", "int or sequence of int",
        "Number of units of each hidden layer (each >= 1): a tuple, list or 1-D integer array, or an int "
        "for one layer; ``()`` gives logistic regression.",
    ),
    Param(
        "learning_rate", 1.0, _learning_rate, "float", "float",
        "Step size of the solver (finite, > 0).",
    ),
    Param(
        "max_iter", 10, _at_least("max_iter", 0), "int", "int",
        "Maximum number of epochs (passes over the training data) per ``fit`` (>= 0); with full batches "
        "an epoch is one iteration of gradient descent.",
    ),
    Param(
        "threshold", 0.5, _interval("threshold", 0, 1), "float", "float",
        "Two classes: ``predict`` returns ``classes_[1]`` where P(``classes_[1]``) >= threshold (in [0, "
        "1]).  Ignored for more than two classes (``predict`` is the most probable class).",
    ),
    Param(
        "random_state", None, _random_state, "Any", "None, int, numpy.random.Generator or numpy.random.RandomState",
        "Seed of one ``numpy.random.default_rng`` generator that draws, in this order, the initial "
        "weights, the validation split (``early_stopping``) and one row permutation per epoch "
        "(``batch_size`` smaller than the training set); the same value gives the same fit on both "
        "backends.  A ``Generator`` is used as is and a ``RandomState`` through its bit generator: "
        "each fit advances it (as in scikit-learn): two fits from one such object differ, fits from "
        "objects in the same state (e.g. two fresh ``RandomState(0)``) are equal.",
    ),
    Param(
        "warm_start", False, _flag("warm_start"), "bool", "bool",
        "Continue from the current ``weights_`` (fitted, or assigned by the caller) instead of drawing "
        "new ones; the solver's state (momentum velocities, Adam's moments and step count) carries over "
        "from the previous fit of this object.",
    ),
    Param(
        "backend", "cpp", _choice("backend", BACKENDS), "str", '{"cpp", "numpy"}',
        '``"cpp"`` runs the C++ kernels; ``"numpy"`` runs ``backprop.reference``.',
    ),
    Param(
        "n_threads", None, resolved_threads, "int | None", "int or None",
        "Threads of the C++ backend (>= 1); ``None`` uses every core, or fewer as the ecosystem's limits "
        "say: ``OMP_NUM_THREADS`` (read at import), as joblib's worker processes have it, and "
        "``threadpoolctl.threadpool_limits(limits=k)`` (threadpoolctl >= 3.5; backprop is listed by "
        "``threadpool_info()``).  Results do not depend on it.",
    ),
    Param(
        "activation", "sigmoid", _choice("activation", "ACTIVATIONS"), "str", '{"sigmoid", "tanh", "relu", "identity"}',
        "Activation of the hidden layers (the output layer is sigmoid or softmax).",
        kernel=True, since_format=2,
    ),
    Param(
        "init", "normal", _choice("init", "INITS"), "str", '{"normal", "glorot", "he"}',
        'Initial weights: ``"normal"`` draws every weight, bias included, from N(0, 0.1**2) (the '
        'article\'s); ``"glorot"`` draws ``U(-b, b)``, ``b = sqrt(6 / (fan_in + fan_out))``, and '
        '``"he"`` draws ``N(0, 2 / fan_in)``, both with zero biases.',
        since_format=2,
    ),
    Param(
        "solver", "gd", _choice("solver", "SOLVERS"), "str", '{"gd", "momentum", "adam"}',
        '``"gd"``: ``W -= learning_rate * g``; ``"momentum"``: scikit-learn\'s SGD with momentum '
        '(``momentum``, ``nesterov``); ``"adam"``: Adam (``beta_1``, ``beta_2``, ``epsilon``).  The '
        "update follows each batch.",
        kernel=True, since_format=2,
    ),
    Param(
        "batch_size", None, _optional(_at_least("batch_size", 1)), "int | None", "int or None",
        "Rows per batch (>= 1); None, or a size >= the number of training rows, uses the full batch. "
        "Mini-batches are drawn from a new permutation of the rows every epoch.",
        kernel=True, since_format=2,
    ),
    Param(
        "alpha", 0.0, _interval("alpha", 0.0, np.inf, high_open=True), "float", "float",
        "L2 penalty (>= 0), scikit-learn's: ``0.5 * alpha * sum ||W[:, 1:]||^2 / n_batch`` is added to "
        "the loss (biases are not penalised).",
        kernel=True, since_format=2,
    ),
    Param(
        "momentum", 0.9, _interval("momentum", 0.0, 1.0), "float", "float",
        'Momentum of ``solver="momentum"``, in [0, 1].',
        kernel=True, since_format=2,
    ),
    Param(
        "nesterov", True, _flag("nesterov"), "bool", "bool",
        'Nesterov\'s momentum (``solver="momentum"``).',
        kernel=True, since_format=2,
    ),
    Param(
        "beta_1", 0.9, _interval("beta_1", 0.0, 1.0, high_open=True), "float", "float",
        "Adam's decay rate of the first moment estimates, in [0, 1).",
        kernel=True, since_format=2,
    ),
    Param(
        "beta_2", 0.999, _interval("beta_2", 0.0, 1.0, high_open=True), "float", "float",
        "Adam's decay rate of the second moment estimates, in [0, 1).",
        kernel=True, since_format=2,
    ),
    Param(
        "epsilon", 1e-8, _interval("epsilon", 0.0, np.inf, True, True), "float", "float",
        "Adam's numerical-stability term (> 0).",
        kernel=True, since_format=2,
    ),
    Param(
        "tol", None, _optional(_interval("tol", 0.0, np.inf, high_open=True)), "float | None", "float or None",
        "None: run ``max_iter`` epochs.  Else (>= 0) stop when the training loss (or, with "
        "``early_stopping``, the validation score) has not improved by at least ``tol`` for more than "
        "``n_iter_no_change`` consecutive epochs, as scikit-learn does.",
        kernel=True, since_format=2,
    ),
    Param(
        "n_iter_no_change", 10, _at_least("n_iter_no_change", 1), "int", "int",
        "Epochs without improvement tolerated by ``tol`` and ``early_stopping`` (>= 1).",
        kernel=True, since_format=2,
    ),
    Param(
        "early_stopping", False, _flag("early_stopping"), "bool", "bool",
        "Hold out ``validation_fraction`` of the training data (a stratified split drawn from "
        "``random_state``), or use the validation set given to ``fit`` (``X_val``, ``y_val``: nothing is "
        "held out), record its accuracy after every epoch in ``validation_scores_``, stop when "
        "it no longer improves (``tol``; None counts as 0.0 here) and end with the weights of the best "
        "epoch.",
        since_format=2,
    ),
    Param(
        "validation_fraction", 0.1, _interval("validation_fraction", 0.0, 1.0, True, True), "float", "float",
        "Fraction of the data held out by ``early_stopping``, in (0, 1); unused when ``fit`` is given ``X_val``.",
        since_format=2,
    ),
    Param(
        "verbose", False, _verbose, "bool", "bool",
        "Print the loss (and validation score) with the elapsed time and an estimate of the time left, "
        "about every half second.  Results are identical with and without it.",
        since_format=2,
    ),
    Param(
        "callback", None, _callback, "Callable[..., Any] | None", "callable or None",
        "``callback(model, iteration, loss)``, called after every epoch with ``model.weights_`` and "
        "``model.loss_curve_`` up to date and ``iteration`` = ``model.n_iter_``; returning ``False`` "
        "stops training (the model is then fitted with the epochs run so far).",
        since_format=2,
    ),
    Param(
        "class_weight", None, _class_weight, "Any", 'None, "balanced" or dict',
        "Weights of the classes in the loss: sample i counts ``class_weight[y_i]`` times (times its "
        "``sample_weight``), in the log-loss, its gradient, the L2 term's divisor (``sum_i w_i``) and "
        "the validation accuracy of ``early_stopping``.  A dict maps labels to weights (>= 0; labels it "
        "omits weigh 1); ``\"balanced\"`` gives class c the weight ``n / (k * n_c)`` (n rows of ``y``, k "
        "classes, n_c rows of class c: scikit-learn's ``compute_class_weight``; ``sample_weight`` does not "
        "enter it), computed from the ``y`` of each ``fit`` (``partial_fit`` needs a dict).",
        since_format=4,
    ),
)


#: The default of every parameter, by attribute: ``DEFAULTS.beta_2``.
DEFAULTS = NamedTuple("Defaults", [(p.name, Any) for p in PARAMS])(*(p.default for p in PARAMS))

_BY_NAME = {p.name: p for p in PARAMS}


def _kernel_options(config: Any) -> dict[str, Any]:
    """The keywords of the backend's training kernel (``tol`` is None with early stopping,
    whose rule the training driver applies to the validation score instead)."""
    options = {p.name: getattr(config, p.name) for p in PARAMS if p.kernel}
    if config.early_stopping:
        options["tol"] = None
    return options


#: The validated parameters of one fit (n_hidden a tuple, n_threads a count, verbose a bool, ...);
#: ``config.kernel_options()`` gives what the training kernel takes.
Config = dataclasses.make_dataclass(
    "Config", [(p.name, Any) for p in PARAMS], frozen=True, namespace={"kernel_options": _kernel_options}
)
Config.__module__ = __name__


def kernel_defaults() -> dict[str, Any]:
    """The defaults of the kernel's options (activation, alpha, batch_size, solver, momentum,
    nesterov, beta_1, beta_2, epsilon, tol, n_iter_no_change)."""
    return {p.name: p.default for p in PARAMS if p.kernel}


def param_names(format_version: int | None = None) -> tuple[str, ...]:
    """Every parameter's name, or those a pickle of ``format_version`` stores."""
    return tuple(p.name for p in PARAMS if format_version is None or p.since_format <= format_version)


def validate(params: dict[str, Any], **overrides: Any) -> Any:
    """Checks every parameter (``ValueError`` naming the first bad one); returns the :class:`Config`,
    with ``overrides`` (e.g. ``partial_fit``'s ``tol=None``) replacing checked values."""
    config = Config(**{p.name: p.check(params[p.name]) for p in PARAMS})
    return dataclasses.replace(config, **overrides) if overrides else config


def check(name: str, value: Any) -> Any:
    """One parameter, checked and normalised (what prediction needs of ``backend`` or ``activation``)."""
    return _BY_NAME[name].check(value)


def checker(name: str) -> Callable[[Any], Any]:
    """The constraint of one parameter: ``checker("threshold")(0.5)``."""
    return _BY_NAME[name].check


def _default_doc(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def docstring() -> str:
    """The numpydoc ``Parameters`` entries of every parameter (indented for a class docstring)."""
    entries = []
    for p in PARAMS:
        entries.append(f"    {p.name} : {p.doc_type}, default={_default_doc(p.default)}")
        entries.extend("        " + line for line in textwrap.wrap(p.doc, 92))
    return "\n".join(entries)


def signature() -> inspect.Signature:
    """The estimator's ``__init__(self, n_hidden=(100,), ...)`` signature."""
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = [
        inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default, annotation=p.annotation)
        for p in PARAMS
    ]
    return inspect.Signature([self, *params], return_annotation="None")
