"""The suite's contenders: how each one trains (full-batch descent, mini-batch Adam) and predicts.

backprop C++ and the numpy reference through ``NeuralNetwork``, PyTorch eager and torch.compile,
scikit-learn's ``MLPClassifier``; every trainer starts from the same initial weights ``W0``
(``reset``), runs ``iters`` iterations or epochs (``run``) and gives P(class 1) (``proba``). The
libraries are imported inside the methods: a worker loads only the one it times.
"""

from __future__ import annotations

import math
import warnings

from . import common
from .common import ADAM, LR, SEED


# the main table's columns, in order (every contender runs in its own worker process)
CONTENDERS = ["cpp", "cpp_fast", "numpy", "article", "torch", "torch_compile", "sklearn", "fann", "c_header"]
COLORS = {"cpp": "tab:blue", "cpp_fast": "tab:cyan", "numpy": "tab:green", "article": "tab:olive",
          "torch": "tab:red", "torch_compile": "tab:orange", "sklearn": "tab:purple", "fann": "tab:brown",
          "c_header": "tab:gray"}
LABELS = {
    "cpp": "backprop C++",
    "cpp_fast": "C++ no-valid.",
    "numpy": "reference numpy",
    "article": "article's code",
    "torch": "torch eager",
    "torch_compile": "torch.compile",
    "sklearn": "sklearn MLP",
    "fann": "FANN run",
    "c_header": "C header",
}
TRAIN_CONTENDERS = ["cpp", "numpy", "article", "torch", "torch_compile", "sklearn"]
ARTICLE_ROWS = {"a"}  # the article's code runs its own workload only
# the mini-batch Adam row (f): no torch.compile (see the docstring)
MINIBATCH_CONTENDERS = ["cpp", "numpy", "torch", "sklearn"]
INFER_CONTENDERS = ["cpp", "cpp_fast", "numpy", "torch", "sklearn"]
ONE_ROW_CONTENDERS = ["fann", "c_header"]  # latency of one row (e1) only
# the side rows' contenders (not columns of the main table): backprop's drop-ins against scikit-learn's
# classes (g), a weighted fit against the unweighted one (h)
LABELS.update(dropin="backprop drop-in", sklearn_dropin="scikit-learn class", cpp_weighted="C++ weighted")


FAST_PATH_NAMES = (
    "predict_proba_fast",
    "predict_proba_unchecked",
    "predict_proba_no_validation",
    "predict_proba_nocheck",
    "fast_predict_proba",
    "predict_proba_raw",
)


def fast_path_name():
    from backprop import NeuralNetwork

    for name in FAST_PATH_NAMES:
        if callable(getattr(NeuralNetwork, name, None)):
            return name
    for name in sorted(dir(NeuralNetwork)):
        if not name.startswith("_") and "predict" in name and name not in ("predict", "predict_proba"):
            if callable(getattr(NeuralNetwork, name)):
                return name
    return None


# ---------------------------------------------------------------------- trainers
class CppTrainer:
    """NeuralNetwork(backend=...).fit: the public API; the same initial weights every fit (random_state)."""

    def __init__(self, X, y, W0, hidden, backend="cpp"):
        from backprop import NeuralNetwork

        self.model = NeuralNetwork(n_hidden=tuple(hidden), learning_rate=LR, max_iter=1, random_state=SEED,
                                   backend=backend, n_threads=common.CPP_THREADS if backend == "cpp" else None)

    def reset(self):
        pass

    def run(self, X, y, iters, record=False):
        self.model.set_params(max_iter=iters)
        self.model.fit(X, y)
        return [float(v) for v in self.model.loss_curve_] if record else None

    def proba(self, X):
        return self.model.predict_proba(X)[:, 1]


class NumpyTrainer(CppTrainer):
    def __init__(self, X, y, W0, hidden):
        super().__init__(X, y, W0, hidden, backend="numpy")


class ArticleTrainer:
    """The article's own numpy code (suite/article_code.py) from the suite's initial weights W0.

    ``_random_initialization`` is replaced on the instance by a copy of W0, so its fit follows the
    same trajectory as every other contender; everything else is the article's code, run as written.
    With record=True it steps one iteration at a time (forward_propagation, back_propagation, as its
    fit does) and records the loss of each forward pass, as the reference records it.
    """

    def __init__(self, X, y, W0, hidden):
        from . import article_code

        self.W0 = W0
        self.net = article_code.NeuralNetwork(n_hidden=list(hidden), learning_rate=LR, max_iter=1)
        self.net._random_initialization = self._initial_weights

    def _initial_weights(self):
        from .article_code import sigmoid

        self.net.layers = [[W.copy(), sigmoid] for W in self.W0]

    def reset(self):
        pass  # every fit starts from W0 (its _random_initialization)

    def run(self, X, y, iters, record=False):
        import numpy as np

        net = self.net
        net.max_iter = iters
        if not record:
            with np.errstate(over="ignore"):  # the article's sigmoid overflows exp(-z) to inf for z << 0: p = 0
                net.fit(X, y)
            return None
        from backprop import reference

        net.n_input, net.n_output = X.shape[1], 1
        Y = np.atleast_2d(y).T
        net._random_initialization()
        losses = []
        with np.errstate(over="ignore"):
            for _ in range(iters):
                net.forward_propagation(X)
                losses.append(float(reference.binary_log_loss(net._activations[-1][:, 0], y)))
                net.back_propagation(Y)
        return losses

    def proba(self, X):
        with __import__("numpy").errstate(over="ignore"):
            return self.net.predict_proba(X)[:, 0]


class WeightedTrainer(CppTrainer):
    """NeuralNetwork(...).fit(X, y, sample_weight=w): the same fit as CppTrainer, every row weighted.

    The weights are ``sample_weights(n)`` (uniform in [0.5, 1.5), fixed seed), the first m of them for
    a slice of m rows.
    """

    def __init__(self, X, y, W0, hidden, backend="cpp"):
        super().__init__(X, y, W0, hidden, backend=backend)
        self.sw = sample_weights(X.shape[0], X.dtype)

    def run(self, X, y, iters, record=False):
        self.model.set_params(max_iter=iters)
        self.model.fit(X, y, sample_weight=self.sw[: X.shape[0]])
        return [float(v) for v in self.model.loss_curve_] if record else None


def sample_weights(n, dtype):
    import numpy as np

    return np.random.default_rng(SEED + 1).uniform(0.5, 1.5, n).astype(dtype)


class TorchTrainer:
    """The same network in torch: Linear + Sigmoid, one logit, BCEWithLogitsLoss, full-batch SGD."""

    compile = False

    def __init__(self, X, y, W0, hidden):
        import numpy as np
        import torch

        torch.set_num_threads(common.N_THREADS)
        self.torch = torch
        tdtype = torch.float64 if X.dtype == np.float64 else torch.float32
        self.linears = [torch.nn.Linear(W.shape[1] - 1, W.shape[0], dtype=tdtype) for W in W0]
        layers = []
        for i, lin in enumerate(self.linears):
            layers.append(lin)
            if i < len(self.linears) - 1:
                layers.append(torch.nn.Sigmoid())
        self.model = torch.nn.Sequential(*layers)
        self.forward = torch.compile(self.model) if self.compile else self.model
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=0.0)
        self.loss_fn = torch.nn.BCEWithLogitsLoss()
        self.W0 = W0
        self.reset()

    def reset(self):
        with self.torch.no_grad():
            for lin, W in zip(self.linears, self.W0):
                lin.weight.copy_(self.torch.from_numpy(W[:, 1:]))
                lin.bias.copy_(self.torch.from_numpy(W[:, 0]))

    def run(self, X, y, iters, record=False):
        torch = self.torch
        Xt = torch.from_numpy(X)
        yt = torch.from_numpy(y).view(-1, 1)
        losses = []
        for _ in range(iters):
            self.opt.zero_grad(set_to_none=True)
            logits = self.forward(Xt)
            loss = self.loss_fn(logits, yt)
            if record:  # the reference's loss: p clipped to [eps, 1 - eps] (BCEWithLogits does not clip)
                with torch.no_grad():
                    eps = torch.finfo(logits.dtype).eps
                    p = torch.sigmoid(logits).clamp(eps, 1 - eps)
                    losses.append(float(-torch.where(yt == 1, p, 1 - p).log().mean()))
            loss.backward()
            self.opt.step()
        return losses if record else None

    def proba(self, X):
        with self.torch.inference_mode():
            return self.torch.sigmoid(self.model(self.torch.from_numpy(X))).numpy()[:, 0]


class TorchCompileTrainer(TorchTrainer):
    compile = True


class SklearnTrainer:
    """MLPClassifier as close as it allows; our initial weights copied in through warm_start."""

    def __init__(self, X, y, W0, hidden):
        import numpy as np
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        warnings.simplefilter("ignore", ConvergenceWarning)
        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(hidden), activation="logistic", solver="sgd", batch_size=2,
            learning_rate="constant", learning_rate_init=LR, momentum=0.0, nesterovs_momentum=False, alpha=0.0,
            tol=0.0, n_iter_no_change=10**9, shuffle=False, early_stopping=False, max_iter=1, warm_start=True,
            random_state=SEED,
        )
        # One tiny fit builds the fitted structures (label binarizer, coefs_ shapes); reset() then
        # replaces the weights, and warm_start makes every later fit start from them.
        idx = [int(np.argmin(y)), int(np.argmax(y))]
        self.clf.fit(X[idx], y[idx])
        self.W0 = W0

    def reset(self):
        import numpy as np

        # np.array(copy=True): for a (1, k+1) W, W[:, 1:].T is "contiguous" and ascontiguousarray would
        # return a view, letting sklearn's in-place updates overwrite the shared initial weights
        self.clf.coefs_ = [np.array(W[:, 1:].T, order="C", copy=True) for W in self.W0]
        self.clf.intercepts_ = [W[:, 0].copy() for W in self.W0]

    def run(self, X, y, iters, record=False):
        self.clf.set_params(max_iter=iters, batch_size=X.shape[0])
        before = len(self.clf.loss_curve_)  # warm_start appends to loss_curve_
        self.clf.fit(X, y)
        ran = len(self.clf.loss_curve_) - before
        if ran != iters:
            raise RuntimeError(f"sklearn ran {ran} epochs, expected {iters}")
        losses = [float(v) for v in self.clf.loss_curve_[before:]] if record else None
        del self.clf.loss_curve_[before:]  # keep the list from growing over the repeats
        return losses

    def proba(self, X):
        return self.clf.predict_proba(X)[:, 1]


# ---------------------------------------------------------------------- mini-batch Adam trainers (row f)
class Unsupported(Exception):
    """This contender cannot run this workload in the installed versions: the cell is skipped with the message."""


def backprop_has_solvers():
    """Whether the installed NeuralNetwork takes the solver / batch_size parameters."""
    import inspect

    from backprop import NeuralNetwork

    return "solver" in inspect.signature(NeuralNetwork).parameters


def reference_has_solvers():
    import inspect

    from backprop import reference

    return "solver" in inspect.signature(reference.train).parameters


NO_SOLVER_NOTE = ("this backprop's NeuralNetwork has no `solver` parameter (the mini-batch solvers are not "
                  "in the installed build): mini-batch Adam cell skipped")


class CppAdamTrainer(CppTrainer):
    """NeuralNetwork(solver="adam", batch_size=b, learning_rate=lr): shuffles every epoch from random_state."""

    def __init__(self, X, y, W0, hidden, backend="cpp", *, lr, batch_size, shuffle=True):
        from backprop import NeuralNetwork

        if not backprop_has_solvers():
            raise Unsupported(NO_SOLVER_NOTE)
        self.model = NeuralNetwork(n_hidden=tuple(hidden), learning_rate=lr, max_iter=1, random_state=SEED,
                                   backend=backend, n_threads=common.CPP_THREADS if backend == "cpp" else None,
                                   solver="adam", batch_size=batch_size, **ADAM)


class NumpyAdamTrainer(CppAdamTrainer):
    def __init__(self, X, y, W0, hidden, **kw):
        super().__init__(X, y, W0, hidden, backend="numpy", **kw)


class TorchAdamTrainer(TorchTrainer):
    """The same network in torch with torch.optim.Adam (same betas and eps) on mini-batches.

    Every epoch draws a permutation of the rows (numpy Generator seeded like the run, reset with the
    weights, so every timed fit sees the same batches) and steps through consecutive slices of it, the
    last one shorter when batch_size does not divide N; shuffle=False keeps the natural order (for the
    check against the reference). Rows are gathered per batch with index_select, as scikit-learn and
    the reference gather theirs.

    torch's Adam adds eps to the bias-corrected sqrt(S / (1 - beta_2**t)), scikit-learn and backprop add
    it to sqrt(S) (Kingma & Ba's "eps hat" form). Setting the group's eps to eps / sqrt(1 - beta_2**t)
    before step t makes torch's update exactly theirs (one dict write per step; measured: without it
    the losses differ by ~1e-4 relative after two epochs on (f)'s shapes, since early steps divide
    gradients of 1e-6..1e-5 by sqrt(S) + eps).
    """

    def __init__(self, X, y, W0, hidden, *, lr, batch_size, shuffle=True):
        self.lr, self.batch_size, self.shuffle = lr, batch_size, shuffle
        super().__init__(X, y, W0, hidden)

    def reset(self):
        import numpy as np

        super().reset()
        # a fresh optimizer: Adam's moments and step count start from zero in every fit
        self.opt = self.torch.optim.Adam(self.model.parameters(), lr=self.lr,
                                         betas=(ADAM["beta_1"], ADAM["beta_2"]), eps=ADAM["epsilon"])
        self.group = self.opt.param_groups[0]
        self.t = 0
        self.rng = np.random.default_rng(SEED)

    def run(self, X, y, epochs, record=False):
        torch = self.torch
        Xt = torch.from_numpy(X)
        yt = torch.from_numpy(y).view(-1, 1)
        n, b = X.shape[0], self.batch_size
        losses = []
        for _ in range(epochs):
            order = torch.from_numpy(self.rng.permutation(n)) if self.shuffle else None
            acc = 0.0
            for s in range(0, n, b):
                if order is None:
                    xb, yb = Xt[s:s + b], yt[s:s + b]
                else:
                    idx = order[s:s + b]
                    xb, yb = Xt.index_select(0, idx), yt.index_select(0, idx)
                self.opt.zero_grad(set_to_none=True)
                logits = self.forward(xb)
                loss = self.loss_fn(logits, yb)
                if record:  # the reference's per-epoch loss: sum over batches of (clipped batch mean) * n_b / N
                    with torch.no_grad():
                        eps = torch.finfo(logits.dtype).eps
                        p = torch.sigmoid(logits).clamp(eps, 1 - eps)
                        acc += float(-torch.where(yb == 1, p, 1 - p).log().mean()) * xb.shape[0]
                loss.backward()
                self.t += 1
                self.group["eps"] = ADAM["epsilon"] / math.sqrt(1.0 - ADAM["beta_2"] ** self.t)
                self.opt.step()
            if record:
                losses.append(acc / n)
        return losses if record else None


class SklearnAdamTrainer(SklearnTrainer):
    """MLPClassifier(solver="adam", batch_size=b, shuffle=True, ...), our initial weights copied in.

    tol=0 with n_iter_no_change = epochs + 1 never stops early: the no-improvement count rises at most
    once per epoch, and reset() zeroes it (warm_start would otherwise carry it from fit to fit).
    """

    def __init__(self, X, y, W0, hidden, *, lr, batch_size, shuffle=True):
        import numpy as np
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        warnings.simplefilter("ignore", ConvergenceWarning)
        # fits on fewer rows than batch_size (the set-up fit below, the 64-row priming) clip the batch and say so
        warnings.filterwarnings("ignore", message="Got `batch_size` less than 1 or larger than sample size")
        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(hidden), activation="logistic", solver="adam", batch_size=batch_size,
            learning_rate_init=lr, alpha=0.0, max_iter=1, shuffle=shuffle, tol=0.0, n_iter_no_change=2,
            early_stopping=False, warm_start=True, random_state=SEED, **ADAM,
        )
        idx = [int(np.argmin(y)), int(np.argmax(y))]
        self.clf.fit(X[idx], y[idx])
        self.W0 = W0

    def reset(self):
        import numpy as np

        super().reset()
        self.clf._no_improvement_count = 0
        self.clf.best_loss_ = np.inf

    def run(self, X, y, iters, record=False):
        self.clf.set_params(max_iter=iters, n_iter_no_change=iters + 1)
        before = len(self.clf.loss_curve_)
        self.clf.fit(X, y)
        ran = len(self.clf.loss_curve_) - before
        if ran != iters:
            raise RuntimeError(f"sklearn ran {ran} epochs, expected {iters}")
        losses = [float(v) for v in self.clf.loss_curve_[before:]] if record else None
        del self.clf.loss_curve_[before:]
        return losses


TRAINERS = {"cpp": CppTrainer, "numpy": NumpyTrainer, "article": ArticleTrainer, "torch": TorchTrainer,
            "torch_compile": TorchCompileTrainer, "sklearn": SklearnTrainer, "cpp_weighted": WeightedTrainer}
MINIBATCH_TRAINERS = {"cpp": CppAdamTrainer, "numpy": NumpyAdamTrainer, "torch": TorchAdamTrainer,
                      "sklearn": SklearnAdamTrainer}


def trainer_factory(t):
    """cls(X, y, W0, hidden) for the task's contender and algorithm (full-batch gd, or mini-batch Adam)."""
    if not t.get("solver"):
        return TRAINERS[t["contender"]]
    if t["solver"] != "adam" or t["contender"] not in MINIBATCH_TRAINERS:
        raise Unsupported(f"{t['contender']} has no {t['solver']} mini-batch trainer here")
    cls, kw = MINIBATCH_TRAINERS[t["contender"]], dict(lr=t["lr"], batch_size=t["batch_size"])

    def make(X, y, W0, hidden, **extra):
        return cls(X, y, W0, hidden, **kw, **extra)

    make.cls = cls
    return make


# ---------------------------------------------------------------------- predictors
def build_predictor(contender, X, y, W0, hidden):
    """(fn, label): fn(X) -> something holding P(class 1); the model carries the weights W0."""
    import numpy as np

    if contender in ("cpp", "cpp_fast"):
        from backprop import NeuralNetwork, _core

        model = NeuralNetwork(n_hidden=tuple(hidden), max_iter=0, random_state=SEED, backend="cpp",
                              n_threads=common.CPP_THREADS).fit(X[:64], y[:64])
        model.weights_ = [w.copy() for w in W0]
        if contender == "cpp":
            return model.predict_proba, "NeuralNetwork.predict_proba"
        name = fast_path_name()
        if name is not None:
            fn = getattr(model, name)
            try:
                fn(np.ascontiguousarray(X[:2]))
                return fn, f"NeuralNetwork.{name}"
            except Exception as exc:  # noqa: BLE001 - unknown signature: fall back, say so
                note = f"{name} failed ({type(exc).__name__}); "
        else:
            note = ""
        weights, nt = model.weights_, common.CPP_THREADS or _core.default_threads()
        return (lambda Xq: _core.predict_proba(Xq, weights, nt)), note + "_core.predict_proba (private, no validation)"
    if contender == "numpy":
        from backprop import reference

        return (lambda Xq: reference.predict_proba(Xq, W0)), "reference.predict_proba"
    if contender == "torch":
        tr = TorchTrainer(X[:64], y[:64], W0, hidden)
        torch = tr.torch

        def fn(Xq):
            with torch.inference_mode():
                return torch.sigmoid(tr.model(torch.from_numpy(Xq))).numpy()

        return fn, "torch eager, inference_mode"
    if contender == "sklearn":
        tr = SklearnTrainer(X[:64], y[:64], W0, hidden)
        tr.reset()
        return tr.clf.predict_proba, "MLPClassifier.predict_proba"
    if contender == "fann":
        ann = fann_network(W0)

        def fn(Xq):  # a list of floats (the latency loop's argument) or rows of an array (the check)
            if isinstance(Xq, list):
                return ann.run(Xq)
            return np.array([ann.run(row) for row in Xq.tolist()])

        return fn, "fann2 libfann.neural_net.run(list of floats; FANN's double build)"
    raise ValueError(contender)


def fann_network(W0):
    """A FANN network (fann2) holding the weights W0: sigmoid layers, the bias as FANN's bias neuron.

    FANN's SIGMOID is 1 / (1 + exp(-2 s x)); steepness s = 0.5 makes it the logistic function. FANN
    numbers the neurons layer after layer, each layer's bias neuron last; neuron j of layer l reads
    every neuron of layer l - 1, its bias neuron included (our column 0).
    """
    from fann2 import libfann

    sizes = [W0[0].shape[1] - 1] + [W.shape[0] for W in W0]
    ann = libfann.neural_net()
    ann.create_standard_array(sizes)
    ann.set_activation_function_hidden(libfann.SIGMOID)
    ann.set_activation_function_output(libfann.SIGMOID)
    ann.set_activation_steepness_hidden(0.5)
    ann.set_activation_steepness_output(0.5)
    start = [0]
    for n in sizes:
        start.append(start[-1] + n + 1)  # n neurons and the bias neuron
    for l, W in enumerate(W0, 1):
        prev, cur, n_prev = start[l - 1], start[l], sizes[l - 1]
        for j in range(W.shape[0]):
            ann.set_weight(prev + n_prev, cur + j, float(W[j, 0]))
            for k in range(n_prev):
                ann.set_weight(prev + k, cur + j, float(W[j, 1 + k]))
    return ann


# ---------------------------------------------------------------------- drop-ins against scikit-learn (row g)
def dropin_class(contender, kind):
    """backprop's drop-in (contender "dropin") or scikit-learn's own class ("sklearn_dropin")."""
    if contender == "dropin":
        import backprop

        return backprop.MLPClassifier if kind == "clf" else backprop.MLPRegressor
    import sklearn.neural_network as sk

    return sk.MLPClassifier if kind == "clf" else sk.MLPRegressor


def dropin_params(contender, params):
    """The row's parameters, plus backprop's thread count for the drop-in (scikit-learn: numpy's BLAS)."""
    return {**params, "n_threads": common.CPP_THREADS} if contender == "dropin" else dict(params)


def dropin_fit(contender, kind, params, X, y):
    """One fit of a fresh estimator (random_state=0, the row's parameters); returns it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few epochs on purpose
        return dropin_class(contender, kind)(random_state=SEED, **dropin_params(contender, params)).fit(X, y)
