"""Saving and loading fitted models as plain ``.npz`` files (no pickle).

Format version 3 for a model with feature scaling (the ``scaling_*`` entries) or class weights
(``class_weight`` in ``params``), else version 2, which earlier versions of backprop read (version 1 lacks
``feature_names_in``, and loads without names): a numpy ``.npz`` archive (``numpy.savez``)
holding only numeric and unicode arrays, so ``numpy.load(path, allow_pickle=False)`` reads every
entry:

================  =====================================================================
key               content
================  =====================================================================
``format``        the string ``"backprop.NeuralNetwork"``
``format_version``  integer, 2, or 3 with the ``scaling_*`` entries or a ``class_weight``
``backprop_version``  version of backprop that wrote the file
``params``        JSON string: the estimator's ``get_params()``, every parameter (``class_weight``:
                  omitted when None, ``"balanced"``, or a list of ``[label, weight]`` pairs for a
                  dict); a file lacking one is refused rather than read with its default
``n_layers``      integer L, the number of weight matrices
``weights_0``...  ``weights_{L-1}``: ``weights_[i]``, shape (n_out, n_in + 1), column 0 the bias
``classes``       ``classes_`` (numbers, or strings stored as a unicode array); two classes
                  for one sigmoid output unit, k > 2 for a softmax output of k units
``n_features_in``  integer
``n_iter``        integer
``loss_curve``    ``loss_curve_``
``metadata``      JSON string: a dict of extra information (the command line stores the
                  feature names and the target column there); ``"{}"`` when none
``feature_names_in``  optional: ``feature_names_in_`` as a unicode array of n_features_in
                  names, present when the model was fitted on named columns
``scaling_*``     optional (version 3): the standardisation of the input, a
                  ``_scaling.Scaling``: ``scaling_mean``, ``scaling_var``, ``scaling_scale``
                  (float64, n_features_in each: ``StandardScaler``'s ``mean_``, ``var_``,
                  ``scale_``) and ``scaling_n_samples`` (integer, ``n_samples_seen_``);
                  present for a ``Pipeline(StandardScaler, NeuralNetwork)`` or ``fit
                  --standardize``
================  =====================================================================

The validation curves (``validation_scores_``, ``validation_loss_curve_``) are not stored: a
loaded model has both None, whatever the saved one had (pickles keep them).

A file with scaling is version 3 so that an older backprop, which would ignore the scaling and
silently expect standardised input, refuses it; :func:`load` returns it as a scikit-learn
``Pipeline``.

Reading checks each member's ``.npy`` header before its data: the dtype (numbers, or unicode
where text is stored; never objects), the shape (the weights' exactly those ``n_hidden``,
``n_features_in`` and the classes imply, ``loss_curve`` at most ``n_iter`` long), and the
member's declared uncompressed size, which must be the header plus that data (no trailing data,
no zip bomb).  ``params`` holds at most :data:`PARAMS_CHARS` characters, ``metadata``, the labels
and the feature names at most :data:`METADATA_CHARS` each (``save`` refuses more).
"""

from __future__ import annotations

import json
import numbers
import os
import secrets
import stat
import zipfile
import zlib
from typing import Any, BinaryIO, Callable, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from ._estimator import NeuralNetwork
from ._exceptions import NotFittedError
from ._params import checker as _param_checker
from ._params import param_names
from ._persistence import check_model, layer_shapes, state_of
from ._scaling import Scaling, split_pipeline

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "backprop.NeuralNetwork"
FORMAT_VERSION = 3  #: the newest version read; files without scaling or class weights are written as version 2
_SCALING_VERSION = 3

PathLike = Union[str, "os.PathLike[str]"]


class _FormatError(ValueError):
    """A ValueError whose message is already complete (names the file)."""


def _json_param(name: str, value: Any) -> Any:
    """A JSON-representable copy of a parameter value (tuples become lists)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if name == "n_hidden":
        return [int(h) for h in value]
    if name == "callback":
        # A function has no JSON form; it only matters for a future fit.
        return None
    if name == "random_state":
        # A numpy Generator (or RandomState) has no JSON form; it only matters for a future fit.
        return None
    if name == "class_weight":  # a dict: [label, weight] pairs (JSON object keys are strings only)
        return [[_json_label(label), float(weight)] for label, weight in value.items()]
    raise TypeError(f"cannot save parameter {name}={value!r}: not a number, string, bool or None")


def _json_label(label: Any) -> Any:
    label = label.item() if isinstance(label, np.generic) else label
    if not isinstance(label, (str, int, float)):
        raise TypeError(f"cannot save class_weight: label {label!r} is not a number, string or bool")
    return label


def _classes_array(classes: Any) -> np.ndarray:
    """``classes_`` as an array numpy can store without pickling."""
    c = np.asarray(classes)
    if c.dtype.kind == "O":
        items = list(c)
        if all(isinstance(v, str) for v in items):
            c = np.array(items, dtype=str)
        else:
            c = np.array(items)
        if c.dtype.kind == "O":
            raise TypeError(f"cannot save classes_ {classes!r} without pickling: use numbers or strings as labels")
    if c.dtype.kind not in "biufUS":
        raise TypeError(f"cannot save classes_ of dtype {c.dtype}: use numbers or strings as labels")
    return c


def save(model: Any, path: PathLike, metadata: Optional[Mapping[str, Any]] = None) -> None:
    """Save a fitted :class:`~backprop.NeuralNetwork` to an ``.npz`` file, without pickle.

    A fitted scikit-learn ``Pipeline`` of a ``StandardScaler`` then a ``NeuralNetwork`` is saved
    too: the scaler's statistics are stored with the network, and :func:`load` returns the
    pipeline.

    The file holds plain arrays, a format version and the estimator's parameters as a JSON
    string (see the module docstring for the keys), so ``numpy.load(path, allow_pickle=False)``
    reads it without backprop installed.  The file is written at ``path`` exactly (no ``.npz``
    suffix is added).

    Parameters
    ----------
    model : NeuralNetwork or Pipeline
        A fitted model, or a fitted ``Pipeline(StandardScaler(), NeuralNetwork())`` (the scaler
        with its default ``with_mean=True, with_std=True``).
    path : str or os.PathLike
        File to write, replaced atomically if it exists: the model is written to a temporary
        file in the same folder, fsynced, then renamed over ``path``, so that a failed save
        (full disk, quota, Ctrl-C) leaves the previous file intact.
    metadata : mapping, optional
        Extra JSON-serialisable information stored with the model (the command line stores
        ``feature_names`` and ``target``).  Read it back with
        ``json.loads(str(numpy.load(path)["metadata"]))``.

    Raises
    ------
    NotFittedError
        If ``model`` has not been fitted.
    ValueError
        If the model would not load back (the checks :func:`load` applies): parameters that the
        estimator's validation refuses, or weights that do not fit ``n_hidden`` (both possible
        after ``set_params`` on a fitted model; the reader derives the weights' shapes from
        ``n_hidden``).  The message names the parameter.  Nothing is written.
    IsADirectoryError, FileNotFoundError
        If ``path`` is a folder (or ends with a slash), or its folder does not exist.
    TypeError
        If a parameter or ``classes_`` cannot be stored without pickling (for example a
        ``random_state`` that is not an int or None is stored as None; labels that are neither
        numbers nor strings raise).

    Examples
    --------
    >>> import numpy as np, backprop
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array(["no", "no", "yes", "yes"])
    >>> model = backprop.NeuralNetwork(n_hidden=(), max_iter=100, random_state=0).fit(X, y)
    >>> backprop.save(model, "model.npz")                              # doctest: +SKIP
    >>> backprop.load("model.npz").predict(X)                          # doctest: +SKIP
    array(['no', 'no', 'yes', 'yes'], dtype='<U3')
    """
    model, scaler = split_pipeline(model, "save")
    if scaler is not None and getattr(scaler, "n_features_in_", None) is None:
        raise NotFittedError("The pipeline's StandardScaler is not fitted yet: fit the pipeline before saving")
    names = None if scaler is None else getattr(scaler, "feature_names_in_", None)
    write_model(model, path, metadata, None if scaler is None else Scaling.from_scaler(scaler), names)


def write_model(model: NeuralNetwork, path: PathLike, metadata: Optional[Mapping[str, Any]] = None,
                scaling: Optional[Scaling] = None, feature_names: Optional[Any] = None) -> None:
    """:func:`save`'s work: a NeuralNetwork, with the :class:`~backprop._scaling.Scaling` of its
    input when it has one (the command line's ``fit --standardize`` passes it), and the feature
    names (``feature_names``, a pipeline's scaler's, else the model's ``feature_names_in_``)."""
    if not isinstance(model, NeuralNetwork):
        raise TypeError(f"model must be a backprop.NeuralNetwork, got {type(model).__name__}")
    if getattr(model, "weights_", None) is None or getattr(model, "classes_", None) is None:
        raise NotFittedError("This NeuralNetwork instance is not fitted yet: fit it before saving")
    try:  # what load checks, before writing: parameters changed by set_params since fit may not pass
        check_model(model.get_params(), state_of(model)["fitted"])
    except ValueError as exc:
        raise ValueError(f"cannot save the model to {os.fspath(path)}: {exc}") from None
    params = {name: _json_param(name, value) for name, value in model.get_params().items()}
    if params["class_weight"] is None:  # the version-2 layout, which earlier versions read
        del params["class_weight"]
    weights = [np.ascontiguousarray(W) for W in model.weights_]
    arrays: Dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION if scaling is not None or "class_weight" in params else 2, dtype=np.int64),
        "backprop_version": np.array(_version()),
        "params": np.array(json.dumps(params, sort_keys=True)),
        "n_layers": np.array(len(weights), dtype=np.int64),
        "classes": _classes_array(model.classes_),
        "n_features_in": np.array(int(model.n_features_in_), dtype=np.int64),
        "n_iter": np.array(int(getattr(model, "n_iter_", 0)), dtype=np.int64),
        "loss_curve": np.asarray(getattr(model, "loss_curve_", np.empty(0))),
        "metadata": np.array(json.dumps(dict(metadata or {}), sort_keys=True)),
    }
    for i, W in enumerate(weights):
        arrays[f"weights_{i}"] = W
    for key in ("params", "metadata"):
        cap = PARAMS_CHARS if key == "params" else METADATA_CHARS
        if len(str(arrays[key][()])) > cap:
            raise ValueError(f"cannot save: the {key} JSON takes {len(str(arrays[key][()]))} characters, more than {cap}")
    if scaling is not None:
        scaling.check(int(model.n_features_in_))
        arrays.update(scaling_mean=scaling.mean, scaling_var=scaling.var, scaling_scale=scaling.scale,
                      scaling_n_samples=np.array(scaling.n_samples, dtype=np.int64))
    names = feature_names if feature_names is not None else getattr(model, "feature_names_in_", None)
    if names is not None:
        arrays["feature_names_in"] = np.array([str(v) for v in names], dtype=str)
    write_atomically(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]  # (numpy's stub fears an "allow_pickle" key)


def write_atomically(path: Any, write: Callable[[BinaryIO], Any]) -> str:
    """``write(f)`` into a temporary file of the target's folder, flushed and fsynced, then
    ``os.replace``d over the target (and the folder fsynced where the system allows): a reader,
    or a crash, sees the old file or the whole new one; a failed write leaves the old one intact
    and no temporary file behind.  A symbolic link is followed (its target is replaced); the new
    file gets the old one's permission bits, or the usual ones (0o666 less the umask).  Used by
    ``save``, ``to_c`` and the command line's ``export``; returns ``path``."""
    path = os.fspath(path)
    if path.endswith(("/", os.sep)) or os.path.isdir(path):  # else realpath would drop the slash, or replace fails
        what = "is a folder" if os.path.isdir(path) else "ends with a slash, which names a folder"
        raise IsADirectoryError(f"{path} {what}: give the file's name (e.g. {os.path.join(path, 'model.npz')})")
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):  # else the error would name the temporary file
        raise FileNotFoundError(f"{path}: no such folder {folder}")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:  # no such file yet (or not readable): the usual permissions
        mode = None
    tmp = None
    for _ in range(100):
        candidate = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        tmp = candidate
        break
    if tmp is None:
        raise OSError(f"{path}: could not create a temporary file in {folder}")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself durable: fsync the folder (not possible on every system)
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def _version() -> str:
    from . import __version__

    return __version__


#: The largest ``params`` JSON string a model file may hold, in characters (a model's parameters
#: take well under a kilobyte; a million hidden layers would take a few megabytes).
PARAMS_CHARS = 1 << 20
#: The largest ``metadata`` JSON string, and the largest total of the labels or feature names, in
#: characters: the command line's feature names of a million columns fit.
METADATA_CHARS = 1 << 24
_HIDDEN = _param_checker("n_hidden")
#: What ``zipfile`` raises for an archive it cannot read: a bad CRC or header (BadZipFile), a
#: member cut short (EOFError), an unsupported compression or zip feature (NotImplementedError, a
#: RuntimeError, as is "encrypted"), a corrupt deflate stream (zlib.error), an offset out of the
#: file (OSError).  Reading a model file turns each into its ValueError naming the file.
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, RuntimeError, zlib.error, OSError)


class _BoundedArchive:
    """The members of an ``.npz`` file, each read only after its ``.npy`` header (dtype, shape)
    has been checked against what the model needs, and the member's declared uncompressed size
    against the header plus that many bytes: a member that would inflate beyond it (a zip bomb,
    trailing data) or declares a shape the model does not have is refused before any of its data
    is read.  Memory stays bounded by the model's real size."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path)
        self.members = {n[:-4]: n for n in self.zip.namelist() if n.endswith(".npy")}
        self.files = list(self.members)

    def __enter__(self) -> "_BoundedArchive":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.zip.close()

    def scalar(self, key: str, kinds: str, max_chars: int = 0) -> Any:
        a = self.array(key, kinds, lambda shape: shape == (), max(4 * max_chars, 16), "not a single value")
        return str(a[()]) if a.dtype.kind == "U" else a[()].item()

    def array(self, key: str, kinds: str, shape_ok: Callable[[tuple], bool], max_bytes: int, rule: str = "") -> np.ndarray:
        if key not in self.members:
            raise KeyError(key)
        name = self.members[key]
        info = self.zip.getinfo(name)
        with self.zip.open(name) as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f"entry {key!r} has .npy format version {version}")
            if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None:
                raise ValueError(f"entry {key!r} has dtype {dtype}")
            if not shape_ok(tuple(shape)):
                raise ValueError(f"entry {key!r} has shape {tuple(shape)}{': ' + rule if rule else ''}")
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if nbytes > max_bytes:
                raise ValueError(f"entry {key!r} declares {nbytes} bytes of data, more than the {max_bytes} the model needs")
            expected = fp.tell() + nbytes
            if info.file_size != expected:
                raise ValueError(
                    f"entry {key!r} declares {info.file_size} bytes uncompressed, but its header and data take "
                    f"{expected}: refused unread"
                )
            buf = bytearray(nbytes)
            view, got = memoryview(buf), 0
            while got < nbytes:
                n = fp.readinto(view[got:])
                if not n:
                    raise ValueError(f"entry {key!r} is truncated")
                got += n
        a = np.frombuffer(buf, dtype=dtype)
        return a.reshape(shape, order="F" if fortran else "C")


def _stored_params(version: int) -> Tuple[str, ...]:
    """The parameters every file of format ``version`` holds: ``save`` writes each parameter of
    pickle format 2 (version-1 files: of format 1), ``class_weight`` only when it is not None."""
    return param_names(1 if version < 2 else 2)


def _json(text: str, key: str) -> Any:
    """``json.loads(text)``; a ValueError for malformed or too deeply nested JSON (RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"entry {key!r} is JSON nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"entry {key!r} is not valid JSON ({exc})") from None


def read_model(path: PathLike) -> Tuple[NeuralNetwork, Dict[str, Any]]:
    """Load a model and its metadata (what :func:`load` does, plus the metadata dict).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.

    Returns
    -------
    model : NeuralNetwork
        The fitted model.
    info : dict
        ``metadata`` (the dict given to :func:`save`), ``format_version``,
        ``backprop_version`` and ``scaling`` (the stored :class:`~backprop._scaling.Scaling` of
        the model's input, or None): the model expects input standardised by it.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a backprop model file (the archive damaged included: a bad CRC, a file cut
        short), or was written by a newer format version.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory, not a model file")
    not_a_model = f"{path} is not a backprop model file (expected an .npz written by backprop.save or 'python -m backprop fit')"
    try:
        archive = _BoundedArchive(path)
    except (ValueError, *_DAMAGED):
        raise ValueError(not_a_model) from None
    with archive as data:
        try:
            if "format" not in data.files or data.scalar("format", "U", 64) != FORMAT:
                raise _FormatError(not_a_model)
            version = data.scalar("format_version", "iu")
            if version < 1:
                raise _FormatError(f"{path}: format_version must be >= 1, got {version}")
            if version > FORMAT_VERSION:
                raise _FormatError(
                    f"{path} has model format version {version}, newer than this backprop ({_version()}) "
                    f"reads ({FORMAT_VERSION}): upgrade backprop"
                )
            params = _json(data.scalar("params", "U", PARAMS_CHARS), "params")
            metadata = _json(data.scalar("metadata", "U", METADATA_CHARS), "metadata") if "metadata" in data.files else {}
            if not isinstance(params, dict):
                raise _FormatError(f"{not_a_model}: params is not a JSON object")
            missing = [name for name in _stored_params(version) if name not in params]
            if missing:  # a default would stand in for it silently, and predict otherwise
                raise _FormatError(f"{path}: params lacks {', '.join(missing)}, which backprop.save always stores")
            try:
                n_hidden = _HIDDEN(tuple(params.get("n_hidden", ())) if isinstance(params.get("n_hidden", ()), list) else params.get("n_hidden", ()))
            except (ValueError, TypeError) as exc:
                raise _FormatError(f"{path}: {exc}") from None
            n_layers = data.scalar("n_layers", "iu")
            n_features = data.scalar("n_features_in", "iu")
            n_iter = data.scalar("n_iter", "iu")
            if n_layers != len(n_hidden) + 1 or n_features < 1:
                raise _FormatError(
                    f"{path}: n_layers={n_layers} and n_features_in={n_features} do not fit n_hidden={n_hidden}"
                )
            # the classes' count gives the output layer; every member's shape is then known
            classes = data.array("classes", "biufUS", lambda shape: len(shape) == 1 and shape[0] >= 2, METADATA_CHARS * 4,
                                 "classes must hold at least two labels")
            n_out = 1 if classes.shape[0] == 2 else classes.shape[0]
            shapes = layer_shapes(n_features, n_hidden, n_out)
            weights = [
                data.array(f"weights_{i}", "f", lambda shape, s=s: tuple(shape) == s, 8 * s[0] * s[1],
                           f"weights_ shapes do not fit n_hidden={n_hidden} with {n_features} features and "
                           f"{classes.shape[0]} classes: expected {shapes}")
                for i, s in enumerate(shapes)
            ]
            loss_curve = data.array("loss_curve", "f", lambda shape: len(shape) == 1 and shape[0] <= n_iter, 8 * max(n_iter, 0),
                                    f"a loss curve of more than n_iter_ = {n_iter} epochs")
            names = None
            if "feature_names_in" in data.files:
                names = data.array("feature_names_in", "U", lambda shape: tuple(shape) == (n_features,), METADATA_CHARS * 4,
                                   f"feature_names_in must hold n_features_in = {n_features} names")
            scaling = None
            if "scaling_mean" in data.files:
                if version < _SCALING_VERSION:
                    raise _FormatError(f"{path}: a model file with scaling must have format version {_SCALING_VERSION}, not {version}")
                one = lambda key: np.array(data.array(key, "f", lambda shape: tuple(shape) == (n_features,), 8 * n_features,  # noqa: E731
                                                      f"{key} must hold n_features_in = {n_features} values"), dtype=np.float64)
                scaling = Scaling(mean=one("scaling_mean"), var=one("scaling_var"), scale=one("scaling_scale"),
                                  n_samples=int(data.scalar("scaling_n_samples", "iu")))
            saved_by = data.scalar("backprop_version", "U", 64) if "backprop_version" in data.files else "unknown"
        except _FormatError:
            raise
        except KeyError as exc:
            raise ValueError(f"{not_a_model}: missing entry {exc}") from None
        except ValueError as exc:  # json.JSONDecodeError included
            raise ValueError(f"{not_a_model}: {exc}") from None
        except _DAMAGED as exc:  # the members' bytes do not read back (a flipped byte, a cut file)
            raise ValueError(f"{not_a_model}: the archive is damaged ({type(exc).__name__}: {exc})") from None
    if not isinstance(params, dict):
        raise ValueError(f"{not_a_model}: params is not a JSON object")
    if not isinstance(metadata, dict):
        raise ValueError(f"{not_a_model}: metadata is not a JSON object")
    if isinstance(params.get("n_hidden"), list):
        params["n_hidden"] = tuple(params["n_hidden"])
    if isinstance(params.get("class_weight"), list):
        try:
            params["class_weight"] = {label: weight for label, weight in params["class_weight"]}
        except (TypeError, ValueError):
            raise ValueError(f"{not_a_model}: class_weight is not a list of [label, weight] pairs") from None
    model = NeuralNetwork()
    try:
        model.set_params(**params)
        fitted = {"weights_": weights, "classes_": classes, "n_features_in_": int(n_features), "n_iter_": int(n_iter),
                  "loss_curve_": loss_curve}
        if names is not None:
            if names.shape != (int(n_features),) or names.dtype.kind != "U":
                raise ValueError(f"feature_names_in must be {int(n_features)} strings, got dtype {names.dtype} and shape {names.shape}")
            fitted["feature_names_in_"] = np.array(names.tolist(), dtype=object)
        fitted = check_model(model.get_params(), fitted)
        if scaling is not None:
            scaling.check(int(n_features))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    model.__dict__.update(fitted)
    return model, {"metadata": metadata, "format_version": int(version), "backprop_version": saved_by, "scaling": scaling}


def load(path: PathLike) -> NeuralNetwork:
    """Load a model saved by :func:`save` (or by ``python -m backprop fit``).

    Parameters
    ----------
    path : str or os.PathLike
        An ``.npz`` file written by :func:`save`.

    Returns
    -------
    NeuralNetwork or Pipeline
        A fitted model with the saved parameters, ``weights_``, ``classes_``,
        ``n_features_in_``, ``n_iter_`` and ``loss_curve_`` (``validation_scores_`` and
        ``validation_loss_curve_`` are not stored: None); it predicts exactly as the saved one
        did, and ``warm_start=True`` continues its training from the saved weights.  The
        solver's state (momentum's velocities, Adam's moments and step count) is stored neither
        in the file nor in a pickle, so a warm start of the loaded model restarts momentum and
        Adam from zero; plain ``gd``, which has no state, continues exactly as the saved model
        would.  A file that stores feature scaling (saved from a ``Pipeline(StandardScaler,
        NeuralNetwork)``, or by ``python -m backprop fit --standardize``) is returned as that
        fitted scikit-learn ``Pipeline``, so that it takes raw features as the saved model did.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_model`.
    ImportError
        If the file stores feature scaling and scikit-learn is not installed (rather than
        return a network that silently expects standardised input).
    """
    model, info = read_model(path)
    scaling = info["scaling"]
    if scaling is None:
        return model
    try:
        return scaling.pipeline(model)
    except ImportError:
        raise ImportError(
            f"{os.fspath(path)} stores feature scaling (saved from a Pipeline(StandardScaler, NeuralNetwork) or by "
            "'fit --standardize'), which backprop.load returns as a scikit-learn Pipeline: install scikit-learn "
            "(pip install scikit-learn). 'python -m backprop predict' and 'export' apply the scaling without it."
        ) from None
