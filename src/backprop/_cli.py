"""The command line: ``python -m backprop fit | predict | info | export``.

    python -m backprop fit data.csv --target label [--standardize] [--drop id] [--hidden 8,3 --solver adam ...] --out model.npz
    python -m backprop predict model.npz data.csv [--out predictions.csv]
    python -m backprop info model.npz [--json]
    python -m backprop export model.npz --format onnx|c --out FILE [--name NAME]

CSV files have a header row of column names and ``,`` as separator; they are read by
``_csv.read_table`` with Python's ``csv`` module and numpy, in one streaming pass (the same code
whether or not pandas is installed, so a file reads the same everywhere).  Every feature column must be numeric; the
target column may hold two or more labels (integers or strings).  ``fit`` has an option for every
estimator parameter (derived from ``_params.PARAMS``), ``--standardize`` stores the features'
scaling in the model file, and an identifier column (``id``, or pandas' unnamed row index) is
left out by default.  Errors are one line on stderr and exit status 1 (2 for a malformed command
line); warnings are one line each, naming the command line's options.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import sys
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

import numpy as np

from ._csv import CLIError, column_list, read_table

__all__ = ["main", "CLIError"]

PROG = "python -m backprop"


def parse_labels(values: List[str]) -> np.ndarray:
    """Target labels: integers if every value is one, else floats if every value is one, else strings."""
    stripped = [v.strip() for v in values]
    for kind in (int, float):
        try:
            return np.array([kind(v) for v in stripped])
        except ValueError:
            pass
    return np.array(stripped, dtype=str)


# ------------------------------------------------------------------------- fit's estimator options
#: The estimator's parameters that are no option of ``fit``: a callback is Python code, and a
#: fit from a CSV file starts from no model to warm-start from.
_NOT_OPTIONS = ("callback", "warm_start")
#: The command line's defaults where they are the article's rather than the estimator's.
_ARTICLE_DEFAULTS: Dict[str, Any] = {"n_hidden": (8, 3), "max_iter": 2000, "learning_rate": 1.0}
#: Parameters whose option is not ``--kebab-case`` of their name.
_FLAGS = {"n_hidden": "--hidden"}
#: How an option's value is spelled where the parameter's doc says it in Python.
_SPELLING = {
    "n_hidden": "Here comma-separated, e.g. 8,3, and 'none' for ().",
    "class_weight": "Here 'balanced' or LABEL=WEIGHT,... (e.g. 0=1,1=4), the labels as in the target column.",
}


def option_of(name: str) -> str:
    """The ``fit`` option of an estimator parameter: ``batch_size`` -> ``--batch-size``."""
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def fit_params() -> List[Any]:
    """The rows of ``_params.PARAMS`` that ``fit`` offers as options, in the table's order."""
    from ._params import PARAMS

    return [p for p in PARAMS if p.name not in _NOT_OPTIONS]


def _hidden(text: str) -> Tuple[int, ...]:
    """``8,3`` -> (8, 3); ``none`` (and only that word) -> () for logistic regression."""
    t = text.strip().lower()
    if t == "none":
        return ()
    parts = t.split(",")
    try:
        sizes = tuple(int(s) for s in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated unit counts like 8,3 (or 'none'), got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"unit counts must be >= 1, got {text!r} (for logistic regression, no hidden layer, say 'none')"
        )
    return sizes


def _class_weight(text: str) -> Any:
    """``balanced``, or ``LABEL=WEIGHT,...`` -> {label: weight}, the labels read as the target
    column's are (:func:`parse_labels`)."""
    if "=" not in text:
        return text
    pairs = [item.split("=", 1) for item in text.split(",")]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(text)
    labels = parse_labels([label for label, _ in pairs]).tolist()
    return dict(zip(labels, (float(weight) for _, weight in pairs)))


def _option_type(p: Any) -> Callable[[str], Any]:
    """Text -> value for parameter ``p``: converted by the type its annotation names (``none``
    for None where it is allowed), then checked by the parameter's own constraint, so that a bad
    value gets the estimator's message."""
    if p.name == "n_hidden":
        convert: Callable[[str], Any] = _hidden
    elif p.name == "class_weight":
        convert = _class_weight
    else:
        convert = {"int": int, "float": float, "str": str}.get(p.annotation.split(" | ")[0], int)  # Any: random_state's seed
    nullable = p.default is None or "None" in p.annotation

    def parse(text: str) -> Any:
        if nullable and text.strip().lower() == "none":
            value = None
        else:
            try:
                value = convert(text.strip())
            except ValueError:
                value = text  # not of the type: the constraint's message says what is expected
        try:
            p.check(value)
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return parse


def _option_help(p: Any, default: Any) -> str:
    """The parameter's doc with the estimator's names written as options, and its default."""
    names = {q.name for q in fit_params()}
    text = re.sub(r"``([a-z_0-9]+)``", lambda m: option_of(m.group(1)) if m.group(1) in names else m.group(1), p.doc)
    text = text.replace("``", "").replace("%", "%%")
    if p.name in _SPELLING:
        text = f"{text} {_SPELLING[p.name]}"
    if p.name in _ARTICLE_DEFAULTS and _ARTICLE_DEFAULTS[p.name] != p.default:
        return f"{text} (default: {shown_default(default)}, the article's; the estimator's is {shown_default(p.default)})"
    return f"{text} (default: {shown_default(default)})"


def shown_default(value: Any) -> str:
    """An option's default as the command line spells it: ``8,3``, ``none``, ``on``/``off``, ``0.5``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "none"
    return "none" if value is None else str(value)


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    """One option per parameter of ``fit_params()``, derived from its row of the table."""
    group = p.add_argument_group("estimator options (the parameters of backprop.NeuralNetwork)")
    for param in fit_params():
        flag = option_of(param.name)
        default = _ARTICLE_DEFAULTS.get(param.name, param.default)
        if param.name == "verbose":
            group.add_argument(flag, action="store_true", dest="verbose",
                               help="draw a progress bar on standard error while fitting (the results are identical)")
        elif isinstance(param.default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, dest=param.name,
                               help=_option_help(param, default))
        else:
            choices = getattr(param.check, "choices", None)
            metavar = "{" + ",".join(choices()) + "}" if choices else ("N,N,..." if param.name == "n_hidden" else param.name.upper())
            group.add_argument(flag, type=_option_type(param), default=default, dest=param.name, metavar=metavar,
                               help=_option_help(param, default))


def estimator_params(args: argparse.Namespace) -> Dict[str, Any]:
    """The estimator's keyword arguments given by ``fit``'s options (``verbose`` draws the
    command line's progress bar instead of the estimator's printed lines)."""
    return {p.name: (False if p.name == "verbose" else getattr(args, p.name)) for p in fit_params()}


# ------------------------------------------------------------------ warnings and progress on stderr
#: Library advice in Python's words -> the command line's (applied before the keywords below).
_PHRASES = ((re.compile(r"standardize them, e\.g\. with sklearn\.preprocessing\.StandardScaler"),
             "standardize them: add --standardize"),)
_KEYWORD = re.compile(r"\b([a-z][a-z0-9_]*)=('[^']*'|\"[^\"]*\"|[^\s,;)]+)")


def cli_warning(command: str, message: Any) -> str:
    """A warning's text as one line in the command line's voice: ``solver='adam'`` becomes
    ``--solver adam``, Python-only advice the option that does it."""
    text = " ".join(str(message).split())
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    names = {p.name for p in fit_params()}

    def option(m: "re.Match[str]") -> str:
        name, value = m.group(1), m.group(2).strip("'\"")
        return f"{option_of(name)} {value}" if name in names else m.group(0)

    return f"{PROG} {command}: warning: {_KEYWORD.sub(option, text)}"


@contextlib.contextmanager
def warnings_as_lines(command: str) -> Iterator[None]:
    """Warnings raised inside the block printed as :func:`cli_warning` lines on stderr, without
    Python's source lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                print(cli_warning(command, w.message), file=sys.stderr)


class ProgressBar:
    """``fit --verbose``'s progress bar on stderr, drawn by the estimator's ``callback`` (every
    epoch; redrawn about ten times a second).  It returns None, so it never stops a fit."""

    WIDTH = 30

    def __init__(self, max_iter: int, stream: TextIO) -> None:
        self.total, self.stream = max(int(max_iter), 1), stream
        self.start = self.last = time.perf_counter()
        self.line = ""

    def __call__(self, model: Any, iteration: int, loss: float) -> None:
        now = time.perf_counter()
        if now - self.last >= 0.1 or iteration >= self.total or not self.line:
            self.last = now
            done = min(iteration / self.total, 1.0)
            bar = "#" * int(self.WIDTH * done)
            self.line = (f"[{bar:<{self.WIDTH}}] {iteration}/{self.total} epochs, loss {float(loss):.6g}, "
                         f"{now - self.start:.1f} s")
            self.stream.write("\r" + self.line)
            self.stream.flush()

    def close(self) -> None:
        if self.line:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------------------- commands
def _is_identifier(name: str) -> bool:
    """A column named ``id`` in any case: an identifier, not a feature."""
    return name.lower() == "id"


def _is_row_index(column: np.ndarray) -> bool:
    """Values 0..n-1 or 1..n in order: the index pandas' ``to_csv`` writes as an unnamed first column."""
    n = column.shape[0]
    return bool(np.array_equal(column, np.arange(n)) or np.array_equal(column, np.arange(1, n + 1)))


def _note(command: str, text: str) -> None:
    print(f"{PROG} {command}: note: {text}", file=sys.stderr)


def _fit_columns(args: argparse.Namespace, header: List[str]) -> Tuple[List[str], str]:
    """The feature columns and the target column of ``fit``, checked against the header.  By
    default every column but the target, ``--drop``'s and an identifier column (``id``) is a
    feature; an unnamed first column is read as a candidate row index (see :func:`_cmd_fit`)."""
    if args.target not in header:
        raise CLIError(f"{args.data}: no column named {args.target!r} (columns: {column_list(header)})")
    drop = [c.strip() for c in (args.drop or "").split(",") if c.strip()]
    unknown = [c for c in drop if c not in header]
    if unknown:
        raise CLIError(f"--drop: {args.data} has no column named {', '.join(map(repr, unknown))} (columns: {column_list(header)})")
    if args.target in drop:
        raise CLIError(f"--drop: {args.target!r} is the target column")
    if args.features:
        features = [f.strip() for f in args.features.split(",") if f.strip()]
        if args.target in features:
            raise CLIError(f"the target column {args.target!r} cannot also be a feature")
    else:
        features = [h for h in header if h != args.target and not _is_identifier(h)]
        for h in header:
            if _is_identifier(h) and h not in drop and h != args.target:
                _note("fit", f"column {h!r} left out (an identifier, not a feature); to use it, list it in --features")
    features = [f for f in features if f not in drop]
    if not features or features == [""]:
        raise CLIError(f"{args.data}: no feature columns besides the target {args.target!r}")
    return features, args.target


def _cmd_fit(args: argparse.Namespace) -> int:
    from ._estimator import NeuralNetwork
    from ._io import write_model
    from ._scaling import Scaling

    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise CLIError(f"--out {args.out}: directory {out_dir} does not exist")
    table = read_table(args.data, lambda header: _fit_columns(args, header))
    X, features = table.X, table.features
    if features[0] == "":  # an unnamed first column: a row index is no feature
        if not _is_row_index(X[:, 0]):
            raise CLIError(
                f"{args.data}: the first column has no name and is not a row index (0..n-1 or 1..n): name it in "
                "the header to use it as a feature, or choose the columns with --features"
            )
        X, features = np.ascontiguousarray(X[:, 1:]), features[1:]
        _note("fit", "the unnamed first column (a row index, as pandas' to_csv writes) left out; "
                     "to use it, give it a name in the header")
    y = parse_labels(table.labels)
    scaling = Scaling.of(X) if args.standardize else None
    model = NeuralNetwork(**estimator_params(args))
    progress = ProgressBar(args.max_iter, sys.stderr) if args.verbose else None
    model.set_params(callback=progress)
    try:
        with warnings_as_lines("fit"):
            model.fit(X if scaling is None else scaling.apply(X), y)
    finally:
        if progress is not None:
            progress.close()
    model.set_params(callback=None)
    model.feature_names_in_ = np.asarray(features, dtype=object)
    metadata = {"feature_names": features, "target": args.target, "data": os.path.basename(args.data)}
    write_model(model, args.out, metadata=metadata, scaling=scaling)
    loss = f"{float(model.loss_curve_[-1]):.6g}" if len(model.loss_curve_) else "n/a"
    accuracy = float(np.mean(_labels(model, _proba(model, X, scaling)) == y))
    print(
        f"fitted n_hidden={list(args.n_hidden)} on {X.shape[0]} rows x {X.shape[1]} features"
        f"{' (standardized)' if scaling is not None else ''}, target {args.target!r} "
        f"(classes {', '.join(map(str, model.classes_.tolist()))}): {model.n_iter_} iterations, final loss {loss}, "
        f"training accuracy {accuracy:.4f}"
    )
    print(f"saved to {args.out}")
    return 0


def _proba(model: Any, X: np.ndarray, scaling: Any) -> np.ndarray:
    """``predict_proba`` of raw feature rows: scaled first when the model stores a scaling.  The
    columns were chosen by the model's feature names, so the check of names an array cannot
    carry is done."""
    X = X.astype(model.weights_[0].dtype, copy=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
        return model.predict_proba(X if scaling is None else scaling.apply(X))


def _labels(model: Any, proba: np.ndarray) -> np.ndarray:
    """``predict``'s labels from the probabilities: ``threshold`` for two classes, else the most probable."""
    if proba.shape[1] == 2:
        return model.classes_[(proba[:, 1] >= model.threshold).astype(np.intp)]
    return model.classes_[np.argmax(proba, axis=1)]


def _stored_columns(path: str, model: Any, metadata: Dict[str, Any]) -> Tuple[Optional[List[str]], Optional[str]]:
    """The model's feature names (``feature_names_in_``, else those the command line stored in the
    metadata of older files) and the target, checked: names None or ``n_features_in_`` strings,
    ``target`` None or a string."""
    features, target = metadata.get("feature_names"), metadata.get("target")
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        features = [str(f) for f in names]
    if features is not None and not (
        isinstance(features, list) and len(features) == model.n_features_in_ and all(isinstance(f, str) for f in features)
    ):
        raise CLIError(f"{path}: metadata's feature_names must be a list of {model.n_features_in_} strings, got {features!r:.80}")
    if target is not None and not isinstance(target, str):
        raise CLIError(f"{path}: metadata's target must be a string, got {target!r:.80}")
    return features, target


def _cmd_predict(args: argparse.Namespace) -> int:
    from ._io import read_model

    model, info = read_model(args.model)
    features, _ = _stored_columns(args.model, model, info["metadata"])

    def columns(header: List[str]) -> Tuple[List[str], None]:
        if features is None:
            if len(header) != model.n_features_in_:
                raise CLIError(
                    f"{args.model} stores no feature names, so every column of {args.data} is a feature: it has "
                    f"{len(header)} columns, the model needs {model.n_features_in_}"
                )
            return header, None
        missing = [f for f in features if f not in header]
        if missing:
            raise CLIError(
                f"{args.data} lacks the feature column(s) {', '.join(map(repr, missing[:5]))}"
                f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''} that {args.model} was fitted on "
                f"(it needs: {column_list(features)})"
            )
        return features, None

    X = read_table(args.data, columns).X
    with warnings_as_lines("predict"):
        proba = _proba(model, X, info["scaling"])
    labels = _labels(model, proba)
    if args.out:
        try:
            with open(args.out, "w", newline="", encoding="utf-8") as f:
                _write_predictions(f, model.classes_, proba, labels)
        except OSError as exc:
            raise CLIError(f"{args.out}: {exc.strerror or exc}") from None
        print(f"wrote {len(labels)} predictions to {args.out}", file=sys.stderr)
    else:
        _write_predictions(sys.stdout, model.classes_, proba, labels)
    return 0


def _write_predictions(f: TextIO, classes: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> None:
    w = csv.writer(f, lineterminator="\n")
    w.writerow([*(f"proba_{c}" for c in classes.tolist()), "label"])
    for row, lab in zip(proba.tolist(), labels.tolist()):
        w.writerow([*map(repr, row), lab])


def describe(path: str) -> Dict[str, Any]:
    """What ``info`` prints, as a dict of JSON values."""
    from ._io import read_model

    model, info = read_model(path)
    features, target = _stored_columns(path, model, info["metadata"])
    params = model.get_params()
    sizes = [model.n_features_in_, *[W.shape[0] for W in model.weights_]]
    loss = model.loss_curve_
    scaling = info["scaling"]
    return {
        "file": path,
        "format_version": info["format_version"],
        "saved_by": f"backprop {info['backprop_version']}",
        "layers": sizes,
        "n_parameters": int(sum(W.size for W in model.weights_)),
        "dtype": str(model.weights_[0].dtype),
        "params": {k: (list(v) if k == "n_hidden" else v) for k, v in params.items()},
        "classes": model.classes_.tolist(),
        "n_features_in": int(model.n_features_in_),
        "feature_names": features,
        "target": target,
        "scaling": None if scaling is None else {"mean": scaling.mean.tolist(), "scale": scaling.scale.tolist()},
        "n_iter": int(model.n_iter_),
        "final_loss": float(loss[-1]) if len(loss) else None,
    }


def _cmd_info(args: argparse.Namespace) -> int:
    d = describe(args.model)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(f"{d['file']}: backprop NeuralNetwork, model format version {d['format_version']} (saved by {d['saved_by']})")
    print(f"layers:      {' -> '.join(map(str, d['layers']))} ({d['n_parameters']} weights incl. biases, {d['dtype']})")
    print(f"parameters:  {', '.join(f'{k}={v!r}' for k, v in d['params'].items())}")
    print(f"classes:     {', '.join(map(str, d['classes']))}")
    if d["feature_names"] is not None:
        names = d["feature_names"]
        shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
        print(f"features:    {shown}")
    else:
        print(f"features:    {d['n_features_in']} (no names stored)")
    if d["target"] is not None:
        print(f"target:      {d['target']}")
    if d["scaling"] is not None:
        pairs = [f"{m:.6g}/{s:.6g}" for m, s in zip(d["scaling"]["mean"], d["scaling"]["scale"])]
        shown = ", ".join(pairs[:6]) + (", ..." if len(pairs) > 6 else "")
        print(f"scaling:     standardized, (x - mean) / scale per feature, mean/scale: {shown}")
    loss = "n/a" if d["final_loss"] is None else f"{d['final_loss']:.6g}"
    print(f"training:    {d['n_iter']} iterations, final loss {loss}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ._export import c_header, check_c_name, network_of
    from ._io import read_model, write_atomically

    model, info = read_model(args.model)
    net = network_of(model, "export", info["scaling"])
    if args.format == "c":
        text = c_header(net, check_c_name(args.name)).encode("utf-8")
    else:
        from ._onnx import onnx_model

        text = onnx_model(net).SerializeToString()
    write_atomically(args.out, lambda f: f.write(text))
    print(f"wrote {args.out} ({args.format}{', input standardized' if info['scaling'] is not None else ''})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m backprop``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train, apply and inspect backprop neural networks on CSV files.",
        epilog="The article's experiment with figures and timings: python -m backprop.article",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"backprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{fit,predict,info,export}")
    sub.required = True

    p = sub.add_parser("fit", help="train a model on a CSV file and save it",
                       description="Train a NeuralNetwork on a CSV file (header row; numeric features) and save it as .npz. "
                                   "Every parameter of backprop.NeuralNetwork but callback and warm_start is an option.")
    p.add_argument("data", help="CSV file with a header row ('-' for standard input)")
    p.add_argument("--target", required=True, help="name of the label column (two or more distinct labels)")
    p.add_argument("--features", metavar="COLUMN[,COLUMN]",
                   help="comma-separated feature columns (default: every column but the target and an identifier "
                        "column named id; an unnamed first column holding 0..n-1 or 1..n, a row index, is left out too)")
    p.add_argument("--drop", metavar="COLUMN[,COLUMN]", help="columns that are not features (removed from the default or --features)")
    p.add_argument("--standardize", action="store_true",
                   help="standardize each feature, (x - mean) / std, as scikit-learn's StandardScaler; the means and "
                        "scales are stored in the model file and applied by predict and both exports")
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    _add_fit_options(p)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("predict", help="write class probabilities and labels as CSV",
                       description="Apply a saved model to a CSV file; writes proba_<class0>,proba_<class1>,...,label.")
    p.add_argument("model", help="model file written by 'fit' or backprop.save")
    p.add_argument("data", help="CSV file with the model's feature columns ('-' for standard input)")
    p.add_argument("--out", help="write the predictions here instead of standard output")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("info", help="describe a saved model", description="Describe a saved model.")
    p.add_argument("model", help="model file written by 'fit' or backprop.save")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("export", help="write a saved model as ONNX or as a C header",
                       description="Write a saved model as an ONNX model (needs the [onnx] extra) or a C99 header.")
    p.add_argument("model", help="model file written by 'fit' or backprop.save")
    p.add_argument("--format", required=True, choices=("onnx", "c"), help="onnx: an ONNX model; c: one C99 header")
    p.add_argument("--out", required=True, help="file to write (.onnx or .h)")
    p.add_argument("--name", default="model", help="prefix of the C header's names (default: %(default)s)")
    p.set_defaults(func=_cmd_export)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``python -m backprop`` with ``argv`` (default ``sys.argv[1:]``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``python -m backprop``.

    Returns
    -------
    int
        Exit status: 0 on success, 1 after an error (reported as one line on stderr), 2 for a
        malformed command line (argparse's usage message).
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        msg = str(exc)
    except BrokenPipeError:  # e.g. "| head": stop quietly, and keep Python's exit flush quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, OSError, ImportError) as exc:
        msg = str(exc) or type(exc).__name__
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    print(f"{PROG} {args.command}: error: {msg.splitlines()[0] if msg else 'failed'}", file=sys.stderr)
    return 1
