"""Same-run speed A/B of two builds: ``python benchmarks/compare_builds.py --bench BASE [HEAD]``.

The rows are the suite's (benchmarks/suite/workloads.py: (a) article, (b) medium, (c) wide, (d)
inference, (e) one-row and 32-row latency, (f) mini-batch Adam) for the contenders that run
backprop: ``cpp`` (``NeuralNetwork(backend="cpp")``; ``predict_proba`` for (d) and (e)),
``cpp_fast`` (``predict_proba_unchecked``, (d) and (e) only) and ``numpy`` (the estimator with the
numpy reference backend; by default only on the rows that take a few seconds: (a), (d), (e), (f)).

Each build runs one persistent worker process (this file with ``--serve``, in the build's venv).
For each cell both workers set up as the suite does (data, the check against the reference, a
priming fit on 64 rows, the warm-up fit; latency: the calls per sample calibrated by the base build
and used by both), then time it alternately, base, head, base, head, ..., with the suite's own timed
windows (suite/measure.py: time_fit, time_call, latency_sample), so that the machine's drift and
other people's jobs hit both builds alike. The table gives each build's min and median and the
speed ratio = base median / head median (> 1: head faster; the redesign's bar is >= 0.97), and flags
rows whose spread (max / min - 1 over one build's runs) exceeds --margin: their ratio is noise.
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from suite.common import DTYPES  # noqa: E402
from suite.workloads import infer_task, latency_task, make_config, train_task  # noqa: E402

# the environment variables that slow numpy's BLAS on this kind of machine (backprop._timing.BLAS_VARS;
# written out here because the driver may run where backprop is not installed)
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
DEFAULT_NUMPY_ROWS = {"a", "d", "e1", "e32", "f"}  # the numpy reference takes ~30 s per fit on (b) and (c)
BAR = 0.97


# ------------------------------------------------------------------------------------- the cells
def scaled(cfg, scale):
    """cfg with the training rows' iterations (epochs) multiplied by scale (at least 1)."""
    for w in cfg["train"]:
        w["iters"] = max(1, round(w["iters"] * scale))
        w["warm_iters"] = max(1, min(w["iters"], round(w["warm_iters"] * scale)))
    return cfg


def cells(cfg, keys, contenders):
    """The suite's tasks for the rows in `keys` and the backprop contenders, in table order."""
    explicit = contenders is not None
    contenders = contenders or ["cpp", "cpp_fast", "numpy"]

    def runs(c, workload):
        return c in contenders and (explicit or c != "numpy" or workload in DEFAULT_NUMPY_ROWS)

    out = []
    for w in cfg["train"]:
        if w["key"] in keys:
            out += [train_task(cfg, w, c, dt) for dt in DTYPES for c in ("cpp", "numpy") if runs(c, w["key"])]
    for dt in DTYPES:
        if "d" in keys:
            out += [infer_task(cfg, c, dt) for c in ("cpp", "cpp_fast", "numpy") if runs(c, "d")]
        if "e" in keys:
            out += [latency_task(cfg, c, dt, rows) for rows in cfg["latency"]["rows"]
                    for c in ("cpp", "cpp_fast", "numpy") if runs(c, f"e{rows}")]
    return sorted(out, key=lambda t: (t["workload"][0], len(t["workload"]), t["workload"]))


# ------------------------------------------------------------------------------------- worker side
def setup(t):
    """Prepare one cell as the suite does; returns (time_once, info)."""
    import numpy as np

    from suite import measure

    if t["type"] == "train":
        tr, X, y, check = measure.prepare_train(t)
        tr.reset()
        tr.run(X, y, t["warm_iters"])  # the suite's warm-up fit
        return (lambda: measure.time_fit(tr, X, y, t["iters"])), dict(check=check)
    if t["type"] == "infer":
        fn, X, label, check = measure.prepare_predictor(t, t["n"])
        fn(X)  # warm-up
        return (lambda: measure.time_call(fn, X)), dict(check=check, path=label)
    fn, X, label, check = measure.prepare_predictor(t, max(64, t["rows"]))
    Xq = np.ascontiguousarray(X[: t["rows"]])
    calls = t.get("calls") or measure.calls_per_sample(fn, Xq, t["sample_s"])
    return (lambda: measure.latency_sample(fn, Xq, calls)), dict(check=check, path=label, calls=calls)


def serve():
    """Answer JSON lines on stdin (setup / time / teardown / quit) with JSON lines on stdout."""
    import backprop

    from suite.measure import ForeignLoad, serve_json_lines

    timer = None

    def answer(msg):
        nonlocal timer
        try:
            if msg["op"] == "setup":
                timer, info = setup(msg["task"])
                return dict(ok=True, **info)
            if msg["op"] == "time":
                return dict(ok=True, **ForeignLoad.timed(timer))
            if msg["op"] == "teardown":
                timer = None
                gc.collect()
                return dict(ok=True)
            return None
        except Exception as exc:  # noqa: BLE001 - the driver reports it and skips the cell
            timer = None
            return dict(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])

    hello = dict(ok=True, backprop=os.path.dirname(backprop.__file__), version=getattr(backprop, "__version__", "?"))
    return serve_json_lines(hello, answer)


# ------------------------------------------------------------------------------------- driver side
class Worker:
    """One build's persistent --serve process."""

    def __init__(self, label, python, env, cwd):
        self.label = label
        self.proc = subprocess.Popen([str(python), str(Path(__file__).resolve()), "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
        self.hello = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker of {self.label} exited ({self.proc.wait()})")
        return json.loads(line)

    def ask(self, **msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps(dict(op="quit")) + "\n")
                self.proc.stdin.flush()
            except OSError:
                pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.proc.wait(timeout=60)


def measure_cell(workers, t, repeats):
    """Set up both workers, then time base, head, base, head, ...; returns the row's record."""
    rec = dict(task=t, times=[[], []], others=[])
    info = workers[0].ask(op="setup", task=t)
    if info.get("ok") and "calls" in info:
        t = dict(t, calls=info["calls"])  # the head build makes as many calls per sample as the base
    infos = [info, workers[1].ask(op="setup", task=t)]
    bad = [f"{w.label}: {i.get('error')}" for w, i in zip(workers, infos) if not i.get("ok")]
    if bad:
        rec["error"] = "; ".join(bad)
    else:
        rec["checks_ok"] = all(i["check"].get("ok", True) for i in infos)
        for _ in range(repeats):
            for k, w in enumerate(workers):
                r = w.ask(op="time")
                if not r.get("ok"):
                    rec["error"] = f"{w.label}: {r.get('error')}"
                    break
                rec["times"][k].append(r["s"])
                if r.get("others_s") is not None:
                    rec["others"].append((r["others_s"], r["window"]))
            if "error" in rec:
                break
    for w in workers:
        w.ask(op="teardown")
    return rec


def summarise(rec, margin):
    a, b = rec["times"]
    if rec.get("error") or not a or not b:
        return None
    spread = max(max(x) / min(x) - 1 for x in (a, b))
    ratio = statistics.median(a) / statistics.median(b)
    flags = []
    if ratio < BAR:
        flags.append(f"slower (< {BAR})")
    if spread > margin:
        flags.append(f"noisy (spread {100 * spread:.0f} % > {100 * margin:.0f} %)")
    if not rec.get("checks_ok", True):
        flags.append("check failed")
    return dict(min=(min(a), min(b)), median=(statistics.median(a), statistics.median(b)), ratio=ratio,
                spread=spread, others=others_cores(rec["others"]), flags=flags)


def others_cores(samples):
    """Other jobs' mean CPU (cores) over a cell's timed windows; None when they add up to under 0.5 s
    (/proc/stat counts in 10 ms ticks)."""
    wall = sum(w for _, w in samples)
    return sum(s for s, _ in samples) / wall if wall >= 0.5 else None


def fmt(s, latency):
    if latency:
        return f"{s * 1e6:.2f}us"
    return f"{s * 1e3:.1f}ms" if s < 1 else f"{s:.3f}s"


def row_label(t, cfg):
    from suite.workloads import train_label

    if t["type"] == "train":
        return train_label(next(w for w in cfg["train"] if w["key"] == t["workload"]))
    if t["type"] == "infer":
        return f"(d) predict_proba {t['n']:,}x{t['d']}"
    return f"(e) latency {t['rows']} row{'s' if t['rows'] > 1 else ''} per call"


def table(recs, cfg, labels, margin):
    names = {"cpp": "C++", "cpp_fast": "C++ unchecked", "numpy": "numpy backend"}
    lw = max(len(row_label(r["task"], cfg)) for r in recs) + 1
    head = (f"{'workload':<{lw}} {'dtype':<5} {'contender':<13} | {'base min':>10} {'base med':>10} | "
            f"{'head min':>10} {'head med':>10} | {'speed':>6} | {'spread':>6} | others | flags")
    lines = [f"base = {labels[0]}", f"head = {labels[1]}",
             "speed = base median / head median (> 1: head faster); spread = max/min - 1 of the noisier build; "
             "others = other jobs' CPU (cores) during the timed runs", head, "-" * len(head)]
    for r in recs:
        t, s = r["task"], summarise(r, margin)
        lat = t["type"] == "latency"
        lead = f"{row_label(t, cfg):<{lw}} {t['dtype'].replace('float', 'f'):<5} {names[t['contender']]:<13}"
        if s is None:
            lines.append(f"{lead} | {r.get('error', 'no timings')}")
            continue
        others = f"{s['others']:.2f}" if s["others"] is not None else "-"
        lines.append(f"{lead} | {fmt(s['min'][0], lat):>10} {fmt(s['median'][0], lat):>10} | "
                     f"{fmt(s['min'][1], lat):>10} {fmt(s['median'][1], lat):>10} | {s['ratio']:>6.3f} | "
                     f"{100 * s['spread']:>5.1f}% | {others:>6} | {', '.join(s['flags'])}")
    done = [x for x in (summarise(r, margin) for r in recs) if x]
    if done:
        slower = [x for x in done if x["ratio"] < BAR]
        noisy = [x for x in slower if x["spread"] > margin]
        geo = math.exp(statistics.mean(math.log(x["ratio"]) for x in done))
        lines.append(f"{len(done)} cells timed; speed < {BAR} in {len(slower)} ({len(noisy)} of them noisy); "
                     f"geometric mean of the speed ratios {geo:.3f}")
    return "\n".join(lines)


def worker_env(threads):
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS and k != "BACKPROP_BENCH_THREADS"}
    if threads:
        env["BACKPROP_BENCH_THREADS"] = str(threads)
    return env


def options(args):
    """(cfg, row keys, contenders) from the --bench options."""
    cfg = scaled(make_config(args.size), args.scale)
    keys = {"a", "b", "c", "d", "e", "f"} if not args.workloads else {k.strip() for k in args.workloads.split(",")}
    bad = keys - {"a", "b", "c", "d", "e", "f"}
    if bad:
        raise ValueError(f"unknown workloads {sorted(bad)}; choose from a,b,c,d,e,f")
    contenders = [c.strip() for c in args.contenders.split(",")] if getattr(args, "contenders", None) else None
    if contenders and set(contenders) - {"cpp", "cpp_fast", "numpy"}:
        raise ValueError(f"--contenders: choose from cpp,cpp_fast,numpy, got {contenders}")
    if args.repeats < 1:
        raise ValueError("--repeats must be >= 1")
    return cfg, keys, contenders


def compare_speed(args, builds, say):
    """The A/B of the two builds (label, python); returns the exit status (0 unless a cell failed)."""
    try:
        cfg, keys, contenders = options(args)
    except ValueError as exc:
        print(f"compare_builds: {exc}", file=sys.stderr)
        return 2
    todo = cells(cfg, keys, contenders)
    labels = [label for label, _ in builds]
    recs = []
    with tempfile.TemporaryDirectory(prefix="compare_bench_") as cwd:
        workers = [Worker(label, py, worker_env(args.threads), cwd) for label, py in builds]
        try:
            for w in workers:
                say(f"{w.label}: worker imports backprop {w.hello.get('version')} from {w.hello.get('backprop')}")
            t0 = time.perf_counter()
            for i, t in enumerate(todo, 1):
                recs.append(measure_cell(workers, t, args.repeats))
                s = summarise(recs[-1], args.margin)
                say(f"[{i}/{len(todo)}] ({t['workload']}) {t['dtype']} {t['contender']}: "
                    + (f"speed {s['ratio']:.3f}" if s else recs[-1].get("error", "no timings"))
                    + f" (at {time.perf_counter() - t0:.0f} s)")
        finally:
            for w in workers:
                w.close()
    say("")
    say(f"same-run A/B, {args.size} sizes" + (f", iterations x {args.scale:g}" if args.scale != 1 else "")
        + f", {args.repeats} timed runs of each build per cell, alternating base and head")
    say(table(recs, cfg, labels, args.margin))
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(dict(builds=labels, size=args.size, scale=args.scale,
                                                   repeats=args.repeats, rows=recs), indent=1, default=str))
        say(f"wrote {args.json}")
    return 1 if any(r.get("error") for r in recs) else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        sys.exit(serve())
    sys.exit(f"usage: python {Path(__file__).name} --serve   (run by compare_builds.py --bench)")
