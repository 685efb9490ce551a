"""The orchestrator's side of interleaved timing: one persistent worker process per contender, and
the rows of the table timed round by round, A B C A B C ..., so that the machine's drift and other
people's jobs hit every contender of a row alike.

For each row (workload x dtype) every contender's worker first sets its cell up (data, the check
against the reference, priming, the warm-up fit); then each round asks every worker in turn for one
timed run. See the Timing section of benchmarks/bench_suite.py's docstring.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class WorkerDied(Exception):
    pass


class Worker:
    """One contender's persistent ``bench_suite.py --serve`` process (its stderr goes to a file)."""

    def __init__(self, contender, script, env):
        self.contender = contender
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench_suite_{contender}_", suffix=".log", delete=False)
        self.proc = subprocess.Popen([sys.executable, str(script), "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        self.hello = self._read(120)

    def _read(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], max(1.0, timeout))
        if not ready:
            self.kill()
            raise WorkerDied(f"no reply within {timeout:.0f} s (worker stopped)")
        line = self.proc.stdout.readline()
        if not line:
            raise WorkerDied(f"worker exited {self.proc.wait()}: {self.stderr_tail()}")
        return json.loads(line)

    def ask(self, timeout, **msg):
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise WorkerDied(f"worker gone ({exc}): {self.stderr_tail()}") from exc
        return self._read(timeout)

    def stderr_tail(self):
        try:
            tail = Path(self.log.name).read_text(errors="replace").strip().splitlines()[-3:]
        except OSError:
            return ""
        return " | ".join(tail)[:300]

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.alive():
            try:
                self.proc.stdin.write(json.dumps(dict(op="quit")) + "\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


class Pool:
    """The workers by contender, started on first use; ``fresh()`` closes them all (a new set per row)."""

    def __init__(self, script, env):
        self.script, self.env, self.workers = script, env, {}

    def get(self, contender):
        w = self.workers.get(contender)
        if w is None or not w.alive():
            w = self.workers[contender] = Worker(contender, self.script, self.env)
        return w

    def drop(self, contender):
        w = self.workers.pop(contender, None)
        if w is not None:
            w.close()

    def fresh(self):
        for c in list(self.workers):
            self.drop(c)


def summary(times):
    """min, median, spread of one cell's timed runs: the larger of (median - min) / min and IQR / median."""
    med, mn = statistics.median(times), min(times)
    spread = (med - mn) / mn
    if len(times) >= 4:
        q = statistics.quantiles(times, n=4)
        spread = max(spread, (q[2] - q[0]) / med)
    return dict(median_s=med, min_s=mn, spread=spread)


def rounds_for(tasks, infos):
    """The row's timed rounds: its repeats, one fewer (at least 2) when a fit looks slower than slow_fit_s."""
    t = tasks[0]
    repeats = t.get("repeats", t.get("samples", 1))
    est = max((i.get("est_s") or 0.0 for i in infos), default=0.0)
    if not t.get("fixed_repeats") and repeats > 2 and est > t.get("slow_fit_s", float("inf")):
        return max(2, repeats - 1)
    return repeats


def run_row(pool, tasks, timeout, deadline=None, hard_deadline=None, settle_s=0.0):
    """Set up every contender's cell of one row, time them round by round, A B C A B C ...; returns one
    result per task (the suite's cell record: status, times, min, median, spread, what the set-up found).

    The time budget: after ``deadline`` a row makes one round only (every cell still gets its timed run);
    after ``hard_deadline`` its cells are skipped. ``settle_s``: a pause before every timed run, so that the
    previous run's spinning threads (in its own process or another) have gone idle."""
    def before(limit, margin=0.0):
        return limit is None or time.time() + margin < limit

    results, live = {}, []
    for t in tasks:
        c = t["contender"]
        if not before(hard_deadline):
            results[c] = dict(status="skipped", note="time budget of the run exhausted (busy machine?)")
            continue
        try:
            info = pool.get(c).ask(timeout, op="setup", task=t)
        except WorkerDied as exc:
            pool.drop(c)
            info = dict(status="failed", note=f"set-up: {exc}")
        results[c] = info
        if info.get("status") == "ok":
            live.append(t)
    n_rounds = rounds_for(tasks, [results[t["contender"]] for t in live]) if live else 0
    runs = {t["contender"]: {} for t in live}
    others = {t["contender"]: [] for t in live}
    starts = {t["contender"]: [] for t in live}  # wall-clock start of every timed run (the order of the rounds)
    longest = 0.0
    for i in range(n_rounds):
        if i > 0 and not before(deadline, longest):
            break  # --quick budget: keep the rounds made so far (every cell has as many)
        t0 = time.perf_counter()
        for t in list(live):
            c = t["contender"]
            time.sleep(settle_s)
            try:
                r = pool.get(c).ask(timeout, op="time")
            except WorkerDied as exc:
                pool.drop(c)
                r = dict(status="failed", note=f"timed run: {exc}")
            if r.get("status") != "ok":
                results[c] = dict(results[c], status=r.get("status", "failed"), note=r.get("note"))
                live.remove(t)
                continue
            for variant, s in r["s"].items():
                runs[c].setdefault(variant, []).append(s)
            starts[c].append(r["started"])
            if r.get("others_s") is not None:
                others[c].append((r["others_s"], r["window"]))
        longest = time.perf_counter() - t0
    for t in live:
        c = t["contender"]
        try:
            results[c].update(pool.get(c).ask(timeout, op="finish"))
        except WorkerDied as exc:
            pool.drop(c)
            results[c].update(status="failed", note=f"finish: {exc}")
        if results[c].get("status") == "ok":
            results[c].update(cell_times(runs[c], others[c]), run_starts=starts[c])
    out = []
    for t in tasks:
        r = results[t["contender"]]
        r["task"] = t
        if t["contender"] == "torch_compile" and r.get("status") == "ok":
            steady_warm = r["median_s"] * t["warm_iters"] / t["iters"]
            r["compile_s"] = max(0.0, r["warm_s"] - steady_warm)
        out.append(r)
    return out


def cell_times(variants, others):
    """The cell's figures from its timed runs by variant: the variant with the lowest median is the cell
    (a contender using numpy's BLAS: its best BLAS setting), the others are kept beside it."""
    best = min(variants, key=lambda v: statistics.median(variants[v]))
    times = variants[best]
    res = dict(times=times, repeats=len(times), **summary(times), foreign_cores=others_cores(others))
    if best != "":
        res["variant"] = best
        res["variants"] = {v: dict(times=ts, **summary(ts)) for v, ts in variants.items()}
    return res


def others_cores(samples):
    """Other jobs' mean CPU (cores) over a cell's timed windows; None when they add up to under 0.5 s
    (/proc/stat counts in 10 ms ticks)."""
    wall = sum(w for _, w in samples)
    return sum(s for s, _ in samples) / wall if wall >= 0.5 else None


def flag_spreads(rows):
    """Mark every cell whose spread exceeds the margin to its nearest rival in the same row (same workload
    and dtype): ``margin`` = |rival median / cell median - 1| for the closest rival, ``noisy`` = spread > margin."""
    by_row = {}
    for r in rows:
        if r.get("status") == "ok" and r.get("median_s"):
            by_row.setdefault((r["workload"], r["dtype"]), []).append(r)
    for cells in by_row.values():
        for r in cells:
            rivals = [o for o in cells if o is not r]
            if not rivals:
                continue
            near = min(rivals, key=lambda o: abs(o["median_s"] / r["median_s"] - 1))
            r["margin"] = abs(near["median_s"] / r["median_s"] - 1)
            r["nearest_rival"] = near["contender"]
            r["noisy"] = r["spread"] > r["margin"]
