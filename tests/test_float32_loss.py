"""float32 losses are accurate: taken from the logits, not from float32 probabilities.

In float32, ``1 - p`` has lost its digits once a logit passes about 8, and ``-log(1 - p)``
with it: on saturated networks the reported loss was off by up to 1e-3 relative.  The kernels
and ``backprop.reference`` now compute the two log-losses from the logits, with the same
clipping (applied to the log).  Held here against a float64 computation of the same float32
network, on both of the kernels' paths (the narrow tail of small networks and the row
kernels), every log-loss output, with sample weights, full batch and mini-batch; and the
reference against the kernels.  The float64 loss is untouched (scikit-learn's formula).
"""

import numpy as np
import pytest

from backprop import _core, reference

from conftest import TRAIN_DEFAULTS

EPS32 = float(np.finfo(np.float32).eps)


def truth(X, Y, weights, output, sample_weight=None, activation="sigmoid"):
    """J of the float32 network computed in float64 from its logits, with float32's clip."""
    z = logits(X, weights, activation)
    Y = Y.reshape(len(Y), -1).astype(np.float64)
    lo, hi = np.log(EPS32), np.log1p(-EPS32)
    if output == "logistic":
        log_p = -np.logaddexp(0.0, np.where(Y != 0, -z, z))
        per_sample = -np.clip(log_p, lo, hi).sum(axis=1)
    else:
        log_p = z - z.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        per_sample = -(Y * np.clip(log_p, lo, hi)).sum(axis=1)
    w = None if sample_weight is None else sample_weight.astype(np.float64)
    return per_sample.mean() if w is None else (w * per_sample).sum() / w.sum()


CASES = {
    # name: (n, d, n_hidden, outputs, output)
    "logistic-no-hidden": (300, 4, (), 1, "logistic"),
    "logistic-narrow-tail": (777, 6, (8, 3), 1, "logistic"),
    "logistic-wide": (300, 6, (40,), 1, "logistic"),
    "multilabel": (300, 5, (7,), 3, "logistic"),
    "softmax": (300, 5, (7,), 4, "softmax"),
    "one-row": (1, 3, (2,), 1, "logistic"),
}


def saturated(case, seed=0, scale=8.0):
    """X, Y, weights, output: a float32 network whose every logit (or softmax margin) lies in
    [8, 15] on X, with the labels it predicts, so that the loss is a sum of small terms -log p
    with p near 1 that float32 probabilities get wrong (and the clip, at |z| ~ 16, not yet binds)."""
    n, d, hidden, m, output = CASES[case]
    rng = np.random.default_rng(seed)
    W = reference.init_weights(d, hidden, np.random.default_rng(seed + 1), np.float64, n_outputs=m)
    W = [Wl * scale for Wl in W]
    pool = rng.normal(size=(400 * n, d)) * 4
    W[-1] *= 12 / np.median(np.abs(logits(pool, W)))
    W = [Wl.astype(np.float32) for Wl in W]
    z = logits(pool.astype(np.float32), W)
    if output == "softmax":
        top2 = np.sort(z, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
    else:
        margin = np.abs(z).min(axis=1)
    keep = np.flatnonzero((margin >= 8) & (margin <= 15))[:n]
    assert len(keep) == n, (case, len(keep))
    X, z = pool[keep].astype(np.float32), z[keep]
    if output == "softmax":
        Y = np.eye(m, dtype=np.float32)[z.argmax(axis=1)]
    else:
        Y = (z > 0).astype(np.float32)
        Y = Y[:, 0] if m == 1 else Y
    return X, Y, W, output


def logits(X, weights, activation="sigmoid"):
    a = X.astype(np.float64)
    for i, W in enumerate(weights):
        z = a @ np.asarray(W[:, 1:], np.float64).T + W[:, 0]
        if i < len(weights) - 1:
            a = reference.ACTIVATIONS[activation](z)
    return z


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_float32_loss_is_accurate_on_saturated_networks(case, weighted):
    X, Y, W, output = saturated(case)
    sw = np.random.default_rng(5).uniform(0.5, 2.0, len(X)).astype(np.float32) if weighted else None
    want = truth(X, Y, W, output, sw)
    for n_threads in (1, 2):
        loss, _ = _core.loss_and_gradient(X, Y, W, n_threads, activation="sigmoid", alpha=0.0, output=output,
                                          sample_weight=sw)
        assert loss == pytest.approx(want, rel=1e-6), (n_threads, loss, want)
    ref, _ = reference.loss_and_gradient(X, Y, W, output=output, sample_weight=sw)
    assert ref == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("batch_size", [None, 64])
@pytest.mark.parametrize("case", ["logistic-narrow-tail", "logistic-wide", "softmax"])
def test_the_float32_loss_curve_is_accurate_and_the_reference_agrees(case, batch_size):
    X, Y, W, output = saturated(case)
    # learning_rate 0: every epoch's loss is that of the starting weights, batch by batch
    curve, _ = _core.train(X, Y, [w.copy() for w in W], 0.0, 3, 2,
                           **{**TRAIN_DEFAULTS, "batch_size": batch_size, "output": output})
    if batch_size is None:
        want = truth(X, Y, W, output)
    else:
        n = len(X)
        want = sum((min(b + batch_size, n) - b) * truth(X[b:b + batch_size], Y[b:b + batch_size], W, output)
                   for b in range(0, n, batch_size)) / n
    np.testing.assert_allclose(curve, want, rtol=1e-6)
    ref = reference.train(X, Y, [w.copy() for w in W], learning_rate=0.0, max_iter=3, batch_size=batch_size,
                          output=output)
    np.testing.assert_allclose(ref, curve, rtol=1e-6)


def test_float64_keeps_the_clipped_probability_formula():
    # scikit-learn's loss_curve_ is computed from the clipped probabilities; float64 keeps it
    X, Y, W, output = saturated("logistic-wide")
    X, Y, W = X.astype(np.float64), Y.astype(np.float64), [w.astype(np.float64) for w in W]
    P = reference.network_forward(X, W)[-1][:, 0]
    loss, _ = _core.loss_and_gradient(X, Y, W, 1, activation="sigmoid", alpha=0.0)
    assert loss == pytest.approx(float(reference.binary_log_loss(P, Y)), rel=1e-13)
