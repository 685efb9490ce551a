"""The command line: ``python -m backprop fit | predict | info | export``.

    python -m backprop fit data.csv --target label --hidden 8,3 --max-iter 2000 --out model.npz
    python -m backprop predict model.npz data.csv [--out predictions.csv]
    python -m backprop info model.npz [--json]
    python -m backprop export model.npz --format onnx|c --out FILE [--name NAME]

CSV files have a header row of column names and ``,`` as separator; they are read by
``_csv.read_table`` with Python's ``csv`` module and numpy, in one streaming pass (the same code
whether or not pandas is installed, so a file reads the same everywhere).  Every feature column must be numeric; the
target column may hold two or more labels (integers or strings).  Errors are one line on stderr
and exit status 1 (2 for a malformed command line).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

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


# ---------------------------------------------------------------------------------------- commands
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


def _fit_columns(args: argparse.Namespace, header: List[str]) -> Tuple[List[str], str]:
    """The feature columns and the target column of ``fit``, checked against the header."""
    if args.target not in header:
        raise CLIError(f"{args.data}: no column named {args.target!r} (columns: {column_list(header)})")
    if args.features:
        features = [f.strip() for f in args.features.split(",") if f.strip()]
        if args.target in features:
            raise CLIError(f"the target column {args.target!r} cannot also be a feature")
    else:
        features = [h for h in header if h != args.target]
    if not features:
        raise CLIError(f"{args.data}: no feature columns besides the target {args.target!r}")
    return features, args.target


def _cmd_fit(args: argparse.Namespace) -> int:
    from ._estimator import NeuralNetwork
    from ._io import save

    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise CLIError(f"--out {args.out}: directory {out_dir} does not exist")
    table = read_table(args.data, lambda header: _fit_columns(args, header))
    X, features = table.X, table.features
    y = parse_labels(table.labels)
    model = NeuralNetwork(
        n_hidden=args.hidden,
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        threshold=args.threshold,
        random_state=args.random_state,
        backend=args.backend,
        n_threads=args.n_threads,
    )
    model.fit(X, y)
    save(model, args.out, metadata={"feature_names": features, "target": args.target, "data": os.path.basename(args.data)})
    loss = f"{float(model.loss_curve_[-1]):.6g}" if len(model.loss_curve_) else "n/a"
    print(
        f"fitted n_hidden={list(args.hidden)} on {X.shape[0]} rows x {X.shape[1]} features, target {args.target!r} "
        f"(classes {', '.join(map(str, model.classes_))}): {model.n_iter_} iterations, final loss {loss}, "
        f"training accuracy {model.score(X, y):.4f}"
    )
    print(f"saved to {args.out}")
    return 0


def _stored_columns(path: str, model: Any, metadata: Dict[str, Any]) -> Tuple[Optional[List[str]], Optional[str]]:
    """The feature names and the target the command line stored in a model file's metadata,
    checked: ``feature_names`` None or ``n_features_in_`` strings, ``target`` None or a string."""
    features, target = metadata.get("feature_names"), metadata.get("target")
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
        if features is None and len(header) != model.n_features_in_:
            raise CLIError(
                f"{args.model} stores no feature names, so every column of {args.data} is a feature: it has "
                f"{len(header)} columns, the model needs {model.n_features_in_}"
            )
        return (header if features is None else features), None

    X = read_table(args.data, columns).X.astype(model.weights_[0].dtype, copy=False)
    proba = model.predict_proba(X)
    if proba.shape[1] == 2:
        labels = model.classes_[(proba[:, 1] >= model.threshold).astype(np.intp)]
    else:  # more than two classes: the most probable one
        labels = model.classes_[np.argmax(proba, axis=1)]
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
    w.writerow([*(f"proba_{c}" for c in classes), "label"])
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
    loss = "n/a" if d["final_loss"] is None else f"{d['final_loss']:.6g}"
    print(f"training:    {d['n_iter']} iterations, final loss {loss}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ._io import read_model

    model, _ = read_model(args.model)
    if args.format == "c":
        from ._export import to_c

        to_c(model, args.out, name=args.name)
    else:
        from ._io import write_atomically
        from ._onnx import to_onnx

        data = to_onnx(model).SerializeToString()
        write_atomically(args.out, lambda f: f.write(data))
    print(f"wrote {args.out} ({args.format})")
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
                       description="Train a NeuralNetwork on a CSV file (header row; numeric features) and save it as .npz.")
    p.add_argument("data", help="CSV file with a header row ('-' for standard input)")
    p.add_argument("--target", required=True, help="name of the label column (two or more distinct labels)")
    p.add_argument("--features", help="comma-separated feature columns (default: every column but the target)")
    p.add_argument("--hidden", type=_hidden, default=(8, 3), metavar="N,N,...",
                   help="units of each hidden layer, e.g. 8,3; 'none' for logistic regression (default: 8,3)")
    p.add_argument("--max-iter", type=int, default=2000, help="gradient-descent iterations (default: %(default)s)")
    p.add_argument("--learning-rate", type=float, default=1.0, help="gradient-descent step (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.5, help="decision threshold on P(second class) (default: %(default)s)")
    p.add_argument("--random-state", type=int, default=None, help="seed of the initial weights (default: none, random)")
    p.add_argument("--backend", choices=("cpp", "numpy"), default="cpp", help="C++ kernels or numpy reference (default: cpp)")
    p.add_argument("--n-threads", type=int, default=None, help="threads of the C++ backend (default: all cores)")
    p.add_argument("--out", required=True, help="model file to write (.npz)")
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
    except (ValueError, TypeError, OSError) as exc:
        msg = str(exc) or type(exc).__name__
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    print(f"{PROG} {args.command}: error: {msg.splitlines()[0] if msg else 'failed'}", file=sys.stderr)
    return 1
