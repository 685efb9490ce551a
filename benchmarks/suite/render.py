"""The suite's output: the main table and its supporting tables, the performance targets, the PNG chart."""

from __future__ import annotations

import statistics

from . import common
from .common import DTYPES, N_CPUS
from .contenders import COLORS, CONTENDERS, LABELS, TRAIN_CONTENDERS
from .workloads import rows_in_flight, short_label, solver_state_bytes, workload_rows


BUSY_CORES = 0.5  # a cell whose timed runs shared the machine with more than this is marked "~"


# ---------------------------------------------------------------------- formatting
def fmt_time(s, unit=None):
    if s is None:
        return "-"
    if unit == "us" or (unit is None and s < 1e-3):
        return f"{s * 1e6:.2f}us" if s < 1e-5 else f"{s * 1e6:.1f}us"
    if s < 1:
        return f"{s * 1e3:.1f}ms"
    return f"{s:.2f}s" if s < 100 else f"{s:.0f}s"


def fmt_num(x, nd=1):
    if x is None:
        return "-"
    return f"{x:.{nd}f}" if abs(x) < 1000 else f"{x:.0f}"


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.3f}x" if r < 0.1 else f"{r:.2f}x"


def dtype_short(dtype):
    return {"float64": "f64", "float32": "f32"}[dtype]


def marks(r):
    """'!' failed a validation check, '~' other jobs used > BUSY_CORES cores meanwhile, '?' its spread exceeds
    the margin to its nearest rival (its place in the row is noise)."""
    bad = (r.get("check") and not r["check"].get("ok", True)) or (r.get("xcheck") and not r["xcheck"]["ok"])
    busy = (r.get("foreign_cores") or 0.0) > BUSY_CORES
    return ("!" if bad else "") + ("~" if busy else "") + ("?" if r.get("noisy") else "")


def _unit(seconds):
    return "us" if seconds < 1e-3 else ("ms" if seconds < 1 else "s")


def _in_unit(x, unit):
    x *= {"us": 1e6, "ms": 1e3, "s": 1.0}[unit]
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def min_med(r, unit=None):
    """'min/median' of a cell, in one unit."""
    med = r["median_s"]
    unit = unit or _unit(med)
    return f"{_in_unit(r['min_s'], unit)}/{_in_unit(med, unit)}{unit}"


def fmt_s(seconds):
    return _in_unit(seconds, _unit(seconds)) + _unit(seconds)


def cell_text(r):
    if r is None:
        return "n/a"
    if r["status"] == "skipped":
        return "skipped"
    if r["status"] != "ok":
        return "FAILED"
    t = min_med(r, "us" if r["kind"] == "latency" else None)
    return f"{t:>14} {fmt_ratio(r.get('ratio_to_reference')):>7}{marks(r):<3}"


class _Layout:
    """What every table of one run shares: the cells by (workload, dtype, contender), the columns, the widths."""

    def __init__(self, cfg, rows, contenders):
        self.cfg = cfg
        self.by = {(r["workload"], r["dtype"], r["contender"]): r for r in rows}
        shown = {r["contender"] for r in rows if r["workload"] in {k for k, _, _ in workload_rows(cfg)}}
        self.cols = [c for c in CONTENDERS if c in contenders and c in shown]
        self.W = 25
        self.lw = max((len(lbl) for _, lbl, _ in workload_rows(cfg)), default=8) + 1
        self.minibatch = {w["key"]: w for w in cfg["train"] if w.get("batch_size")}


def render(cfg, meta, rows, peak, scaling, contenders):
    """The text of the run: the main table, then the supporting tables (see the module docstring of bench_suite.py)."""
    lay = _Layout(cfg, rows, contenders)
    L = []
    L.extend(_header(lay, cfg, meta, rows))
    L.extend(_speedups(lay, rows, contenders))
    L.extend(_side_rows(cfg, rows))
    L.extend(_variants(rows))
    L.extend(_machine_limit(lay, meta, peak))
    L.extend(_memory(lay, meta, rows, contenders))
    L.extend(_scaling(lay, cfg, scaling))
    L.extend(_compile(lay, rows))
    L.extend(_validation(lay, rows))
    return "\n".join(L)


def _header(lay, cfg, meta, rows):
    """The run: machine, versions, load, notes; then the main table of every cell."""
    L = []
    p = L.append
    by = lay.by
    cols = lay.cols
    W = lay.W
    lw = lay.lw
    p(f"backprop benchmark suite ({meta['mode']} mode) - {meta['started']}")
    p(f"machine: {meta['machine']}; CPU flags: {meta['cpu_flags']}; backprop {meta.get('backprop', '?')} "
      f"C++ built for {meta.get('isa', '?')}, {common.N_THREADS} threads")
    p(f"BLAS environment: {meta['blas_env']}; numpy {meta.get('numpy', '?')} BLAS: {meta.get('blas', '?')}")
    p(f"versions: {meta['versions']}")
    fl = [r["foreign_cores"] for r in rows if r.get("foreign_cores") is not None]
    fl_s = (f"mean {statistics.mean(fl):.2f}, max {max(fl):.2f} of {N_CPUS} cores" if fl
            else "not measured (timed windows under 0.5 s)")
    p(f"load average at start {meta['load_start']}, at end {meta.get('load_end')}; other people's jobs during "
      f"the timed runs: {fl_s} (shared machine)")
    for note in meta["notes"]:
        p(f"note: {note}")
    p("")
    p("cell = min/median time of its timed runs (interleaved with the row's other contenders, one run each in "
      "turn) | median / reference median of the same dtype (< 1 = faster); latency in microseconds per call;")
    p(f"'!' = failed a validation check; '~' = other people's jobs used > {BUSY_CORES} cores during the cell's timed "
      f"runs (it is slower than the code is); '?' = the cell's spread (median vs min, or IQR) exceeds the margin to "
      f"its nearest rival in the row: their order is noise; others' CPU = their mean over the row's cells "
      f"(the machine has {N_CPUS} cores)")
    head = f"{'workload':<{lw}} {'dtype':<5}" + "".join(f" | {LABELS[c]:^{W}}" for c in cols) + \
        " | C++ %peak | others' CPU"
    p(head)
    p("-" * len(head))
    for key, label, kind in workload_rows(lay.cfg):
        for dtype in DTYPES:
            cells = []
            for c in cols:
                r = by.get((key, dtype, c))
                cells.append(cell_text(r) if r is not None else "")
            cpp = by.get((key, dtype, "cpp"))
            pct = cpp.get("pct_peak") if cpp and kind != "latency" else None
            pct_s = f"{pct:.1f}%" if pct is not None else "-"
            fl = [r["foreign_cores"] for c in cols for r in [by.get((key, dtype, c))]
                  if r and r.get("foreign_cores") is not None]
            fl_s = f"{statistics.mean(fl):.2f}" if fl else "-"
            p(f"{label:<{lw}} {dtype_short(dtype):<5}" + "".join(f" | {c:>{W}}" for c in cells)
              + f" | {pct_s:>9} | {fl_s:>11}")
    reps = []
    for key, label, kind in workload_rows(lay.cfg):
        rs = [r["repeats"] for r in rows if r["workload"] == key and r["status"] == "ok" and "repeats" in r]
        if rs:
            span = f"{min(rs)}" if min(rs) == max(rs) else f"{min(rs)}-{max(rs)}"
            reps.append(f"({key}) {span}")
    p("timed runs per cell (after a warm-up; fewer when a fit takes > "
      f"{cfg['slow_fit_s']:.0f} s or the time budget ran out; latency: samples of many calls): " + ", ".join(reps))
    p("")
    return L


def _speedups(lay, rows, contenders):
    """C++ speed-up over each other contender, and of the no-validation path."""
    L = []
    p = L.append
    by = lay.by
    lw = lay.lw
    p("C++ speed-up over each contender (other's median time / C++ median time; > 1 = C++ faster)")
    others = [c for c in ("numpy", "article", "torch", "torch_compile", "sklearn", "fann", "c_header")
              if c in lay.cols]
    head = f"{'workload':<{lw}} {'dtype':<5}" + "".join(f" | {LABELS[c]:>15}" for c in others) + \
        f" | {'C++ no-valid. vs C++':>20}"
    p(head)
    p("-" * len(head))
    for key, label, kind in workload_rows(lay.cfg):
        for dtype in DTYPES:
            cpp = by.get((key, dtype, "cpp"))
            cells = []
            for c in others:
                o = by.get((key, dtype, c))
                ok = cpp and o and cpp["status"] == "ok" and o["status"] == "ok"
                cells.append(f"{o['median_s'] / cpp['median_s']:.2f}x" if ok else ("" if o is None else "-"))
            fast = by.get((key, dtype, "cpp_fast"))
            fs = (f"{cpp['median_s'] / fast['median_s']:.2f}x faster"
                  if fast and cpp and fast["status"] == "ok" and cpp["status"] == "ok" else "-")
            p(f"{label:<{lw}} {dtype_short(dtype):<5}" + "".join(f" | {c:>15}" for c in cells) + f" | {fs:>20}")
    fast_paths = {r.get("path") for r in rows if r["contender"] == "cpp_fast" and r.get("path")}
    if fast_paths:
        p(f"C++ no-valid. path: {', '.join(sorted(fast_paths))}")
    p("")
    return L



def _side_rows(cfg, rows):
    """The new paths against their peers, same-run ratios: drop-ins vs scikit-learn (g), weighted vs unweighted
    (h), the article's code, FANN and the C header against backprop C++ (from rows (a) and (e) 1 row)."""
    from .workloads import pair_label

    by = {(r["workload"], r["dtype"], r["contender"]): r for r in rows}
    pairs = []  # (label, workload, ours, peer, ratio name, goal text, goal test on peer/ours)
    for row in cfg["dropins"]["rows"]:
        pairs.append((pair_label(cfg, row["key"]), row["key"], "dropin", "sklearn_dropin",
                      "scikit-learn / drop-in", ">= 3x", lambda x: x >= 3))
    pairs.append((pair_label(cfg, "h"), "h", "cpp_weighted", "cpp", "weighted / unweighted", "<= 1.05x",
                  None))
    pairs.append(("(a) article: its own numpy code", "a", "cpp", "article", "article's code / C++", ">= 12x",
                  lambda x: x >= 12))
    pairs.append(("(a) article: backprop.reference", "a", "cpp", "numpy", "reference / C++", "-", None))
    pairs.append(("(e) 1 row: FANN's run vs predict_proba", "e1", "cpp", "fann", "FANN / predict_proba",
                  ">= 1x", lambda x: x >= 1))
    pairs.append(("(e) 1 row: C header (from C) vs predict_proba", "e1", "cpp", "c_header",
                  "C header / predict_proba", "-", None))
    present = [p for p in pairs if any((p[1], dt, c) in by for dt in DTYPES for c in p[2:4])]
    if not present:
        return []
    L = ["New paths against their peers (same run, interleaved; cells min/median; ratio = peer median / ours "
         "median, except (h): weighted / unweighted; flags as in the main table)"]
    lw = max(len(p[0]) for p in present) + 1
    head = (f"{'row':<{lw}} {'dtype':<5} | {'ours':>18} | {'peer':>18} | {'ratio':>24} | goal")
    L.append(head)
    L.append("-" * len(head))
    for label, key, ours, peer, rname, goal, test in present:
        for dt in DTYPES:
            a, b = by.get((key, dt, ours)), by.get((key, dt, peer))
            if a is None and b is None:
                continue

            def cell(r):
                if r is None:
                    return "n/a"
                if r["status"] != "ok":
                    return r["status"]
                unit = "us" if r["kind"] == "latency" else None
                return min_med(r, unit) + marks(r)

            ok = a and b and a["status"] == "ok" and b["status"] == "ok"
            if key == "h":
                ratio = a["median_s"] / b["median_s"] if ok else None
                met = None if ratio is None else ratio <= 1.05
            else:
                ratio = b["median_s"] / a["median_s"] if ok else None
                met = None if ratio is None or test is None else test(ratio)
            rtxt = f"{rname} {ratio:.2f}x" if ratio is not None else "-"
            gtxt = goal + ("" if met is None else (" met" if met else " NOT met"))
            L.append(f"{label:<{lw}} {dtype_short(dt):<5} | {cell(a):>18} | {cell(b):>18} | {rtxt:>24} | {gtxt}")
    L.append("")
    return L


def _variants(rows):
    """Cells timed at their best BLAS setting: each setting's probe, and the figures of the settings timed."""
    L = []
    for r in rows:
        if r.get("variants"):
            probes = ", ".join(f"{v} {fmt_s(s)}" for v, s in (r.get("blas_probe_s") or {}).items())
            parts = [f"{v} {min_med(dict(x, kind=r['kind']))}" for v, x in r["variants"].items()]
            L.append(f"  ({r['workload']}) {LABELS.get(r['contender'], r['contender'])} {dtype_short(r['dtype'])}: "
                     + (f"probe {probes}; " if probes else "") + "timed " + ", ".join(parts) + f"; kept: {r['variant']}")
    if L:
        slack = f"{(common.BLAS_PROBE_SLACK - 1) * 100:.0f} %"
        L = ["Contenders using numpy's BLAS, at their best setting (each setting probed once; those within "
             f"{slack} of the fastest probe timed in every round, the best median kept):"] + L + [""]
    return L


def _machine_limit(lay, meta, peak):
    """The matmul peak at the start (and end) of the run."""
    L = []
    p = L.append
    p(f"Machine limit: numpy {meta['peak_n']}x{meta['peak_n']} matmul, all cores, best of 3 (GFLOP/s)")
    for i, pk in enumerate(meta["peaks"]):
        when = "start" if i == 0 else "end"
        if pk.get("status") != "ok":
            p(f"  {when}: {pk.get('status')} {pk.get('note', '')}")
            continue
        p(f"  {when}: float64 {pk['float64']['gflops']:.1f} (runs {', '.join(f'{x:.1f}' for x in pk['float64']['runs'])}), "
          f"float32 {pk['float32']['gflops']:.1f} (runs {', '.join(f'{x:.1f}' for x in pk['float32']['runs'])})")
    p(f"  used for % peak: float64 {fmt_num(peak['float64'])}, float32 {fmt_num(peak['float32'])}")
    p("")
    return L


def _memory(lay, meta, rows, contenders):
    """Peak extra memory of each training fit against its data and activations."""
    L = []
    p = L.append
    by = lay.by
    lw = lay.lw
    minibatch = lay.minibatch
    p("Peak memory of each fit: extra RSS over the process after data creation (MB), next to the training "
      "data (X + y) and the activations it must keep (N * sum(widths) * itemsize; with mini-batches "
      "batch_size * sum(widths) * itemsize, plus the solver's state)"
      + (" [cells shared one process per contender in this run, so these are indicative]"
         if not meta.get("per_cell") else ""))
    tcols = [c for c in TRAIN_CONTENDERS if c in contenders]
    head = f"{'workload':<{lw}} {'dtype':<5} | {'data MB':>8} | {'activ. MB':>9}" + \
        "".join(f" | {LABELS[c]:>15}" for c in tcols) + " | C++ (data+extra)/(data+activ.)"
    p(head)
    p("-" * len(head))
    for key, label, kind in workload_rows(lay.cfg):
        if kind != "train":
            continue
        for dtype in DTYPES:
            ref = next((by[(key, dtype, c)] for c in tcols if (key, dtype, c) in by), None)
            if ref is None:
                continue
            data, act = ref["train_data_bytes"], ref["activation_bytes"] + ref.get("solver_state_bytes", 0)
            cells = []
            for c in tcols:
                r = by.get((key, dtype, c))
                if c == "torch_compile" and key in minibatch:
                    cells.append("")
                    continue
                cells.append(f"{r['rss_delta_bytes'] / 1e6:.1f}" if r and r.get("rss_delta_bytes") is not None else "-")
            cpp = by.get((key, dtype, "cpp"))
            budget = ((data + cpp["rss_delta_bytes"]) / (data + act)
                      if cpp and cpp.get("rss_delta_bytes") is not None else None)
            p(f"{label:<{lw}} {dtype_short(dtype):<5} | {data / 1e6:>8.1f} | {act / 1e6:>9.2f}"
              + "".join(f" | {c:>15}" for c in cells) + f" | {fmt_num(budget, 2):>8}")
    for key, w in minibatch.items():
        units = "+".join(map(str, [*w["hidden"], 1]))
        p(f"({key}) trains on mini-batches of {w['batch_size']} rows: its activ. MB is {rows_in_flight(w)} rows x "
          f"({units}) units (not N), plus {w['solver']}'s state (2 x the weights: "
          f"{solver_state_bytes(w, 8) / 1e6:.2f} MB in f64); a fit whose memory grows with N shows it here")
    methods = {r.get("rss_method") for r in rows if r.get("rss_method")}
    if methods:
        p(f"(measured with: {', '.join(sorted(methods))}; includes first-use allocations of each library; "
          f"target: C++ ratio <= 1.10)")
    p("")
    return L


def _scaling(lay, cfg, scaling):
    """C++ fit time against N and against max_iter."""
    L = []
    p = L.append
    if scaling and scaling.get("status") == "ok":
        sc = cfg["scaling"]
        hid = ",".join(map(str, sc["hidden"]))
        for kind, key, title in (
            ("by_n", "n", f"C++ fit time against N ({sc['d']} features, [{hid}], {sc['n_iters']} iterations, "
                          f"median of {sc['repeats']})"),
            ("by_iter", "iters", f"C++ fit time against max_iter (N={sc['iter_n']}, {sc['d']} features, [{hid}], "
                                 f"median of {sc['repeats']})"),
        ):
            p(title + " ('~': others used > 0.5 cores meanwhile)")
            head = f"{key:>8}" + "".join(f" | {dtype_short(dt) + ' time':>10} | {'ns/(row*it)':>11} | {'GFLOP/s':>7}"
                                         for dt in sc["dtypes"])
            p(head)
            p("-" * len(head))
            vals = sorted({e[key] for e in scaling[kind]})
            for v in vals:
                line = f"{v:>8}"
                for dt in sc["dtypes"]:
                    e = next((e for e in scaling[kind] if e[key] == v and e["dtype"] == dt), None)
                    if e is None:
                        line += f" | {'-':>10} | {'-':>11} | {'-':>7}"
                        continue
                    ns = e["median_s"] / (e["n"] * e["iters"]) * 1e9
                    busy = "~" if (e.get("foreign_cores") or 0.0) > BUSY_CORES else ""
                    line += f" | {fmt_time(e['median_s']) + busy:>10} | {ns:>11.2f} | {e['gflops']:>7.1f}"
                p(line)
            p("")
    elif scaling:
        p(f"scaling tables: {scaling.get('status')} {scaling.get('note', '')}")
        p("")
    return L


def _compile(lay, rows):
    """torch.compile's compile time."""
    L = []
    p = L.append
    comp = [r for r in rows if r["contender"] == "torch_compile" and r["status"] == "ok"]
    if comp:
        p("torch.compile: first (warm-up) fit incl. compilation, and compile time = warm-up minus the steady-state "
          "time of the same iterations")
        for r in comp:
            p(f"  ({r['workload']}) {dtype_short(r['dtype'])}: warm-up fit ({r['task_warm_iters']} it) {r['warm_s']:.2f} s, "
              f"steady-state fit {r['median_s']:.2f} s, compile ~{r['compile_s']:.1f} s")
        p("")
    return L


def _validation(lay, rows):
    """The checks of every contender against the reference, and the cells that did not run."""
    L = []
    p = L.append
    p("Validation (before timing: each contender vs backprop.reference on a slice; after: warm-up losses on the "
      "full data vs the reference cell)")
    bad = []
    n_ok = 0
    for r in rows:
        for k in ("check", "xcheck"):
            ch = r.get(k)
            if not ch or "ok" not in ch:
                continue
            if ch["ok"]:
                n_ok += 1
            else:
                bad.append(f"  FAILED {k}: ({r['workload']}) {r['contender']} {r['dtype']}: "
                           + ", ".join(f"{a}={b:.3g}" if isinstance(b, float) else f"{a}={b}" for a, b in ch.items()))
    p(f"  {n_ok} checks passed, {len(bad)} failed")
    L.extend(bad)
    worst = {}
    for r in rows:
        for k in ("check", "xcheck"):
            ch = r.get(k) or {}
            for m in ("loss_max_rel_diff", "proba_max_abs_diff"):
                if m in ch:
                    key = (r["contender"], r["dtype"], m)
                    worst[key] = max(worst.get(key, 0.0), ch[m])
    for (c, dt, m), v in sorted(worst.items()):
        p(f"  worst {m} {LABELS.get(c, c)} {dt}: {v:.2e}")
    failed = [r for r in rows if r["status"] == "failed"]
    skipped = sorted({(r["contender"], r.get("note") or "") for r in rows if r["status"] == "skipped"})
    for r in failed:
        p(f"  cell failed: ({r['workload']}) {r['contender']} {r['dtype']}: {r.get('note')}")
    for c, note in skipped:
        p(f"  skipped {LABELS.get(c, c)}: {note}")
    return L


def targets_block(rows, peak):
    """The performance targets against this run (informative; nothing fails on them)."""
    by = {(r["workload"], r["dtype"], r["contender"]): r for r in rows}

    def t(w, dt, c):
        r = by.get((w, dt, c))
        return r["median_s"] if r and r["status"] == "ok" else None

    out = []

    def line(desc, value, goal_ok):
        mark = "-" if goal_ok is None else ("met" if goal_ok else "NOT met")
        out.append(f"  {desc:<92} {value:>9}  {mark}")

    for dt, need in (("float64", 8), ("float32", 10)):
        c, r = t("a", dt, "cpp"), t("a", dt, "numpy")
        line(f"(a) C++ >= {need}x faster than the reference, {dt}", f"{r / c:.2f}x" if c and r else "-",
             (r / c >= need) if c and r else None)
    for dt in DTYPES:
        c, r = t("a", dt, "cpp"), t("a", dt, "article")
        best = (by.get(("a", dt, "article")) or {}).get("variant")
        line(f"(a) C++ >= 12x faster than the article's numpy code at its best BLAS setting, {dt}"
             + (f" ({best})" if best else ""), f"{r / c:.2f}x" if c and r else "-", (r / c >= 12) if c and r else None)
    for key in ("g1", "g2", "g3"):
        for dt in DTYPES:
            c, r = t(key, dt, "dropin"), t(key, dt, "sklearn_dropin")
            line(f"({key}) drop-in >= 3x faster than scikit-learn on the same model, {dt}",
                 f"{r / c:.2f}x" if c and r else "-", (r / c >= 3) if c and r else None)
    for dt in DTYPES:
        wt, un = t("h", dt, "cpp_weighted"), t("h", dt, "cpp")
        line(f"(h) sample_weight fit <= 1.05 x the unweighted fit, {dt}", f"{wt / un:.3f}x" if wt and un else "-",
             (wt / un <= 1.05) if wt and un else None)
    for dt in DTYPES:
        c, f = t("e1", dt, "cpp"), t("e1", dt, "fann")
        line(f"(e) 1-row predict_proba at or below FANN's run, {dt}", f"{f / c:.2f}x" if c and f else "-",
             (c <= f) if c and f else None)
    for dt in DTYPES:
        c, r = t("a", dt, "cpp"), t("a", dt, "torch")
        line(f"(a) C++ >= 5x faster than torch eager, {dt}", f"{r / c:.2f}x" if c and r else "-",
             (r / c >= 5) if c and r else None)
    for w, need, dtypes in (("b", 80, DTYPES), ("c", 80, DTYPES), ("f", 65, ("float32",))):
        for dt in dtypes:
            cpp = by.get((w, dt, "cpp"))
            pct = cpp.get("pct_peak") if cpp else None
            line(f"({w}) C++ >= {need}% of the matmul limit, {dt}", f"{pct:.1f}%" if pct is not None else "-",
                 (pct >= need) if pct is not None else None)
    for w, peer, need in (("b", "torch_compile", 1.0), ("c", "torch_compile", 1.0), ("f", "torch", 1.3)):
        for dt in DTYPES:
            c, o = t(w, dt, "cpp"), t(w, dt, peer)
            goal = f"ahead of {LABELS[peer]}" if need == 1 else f">= {need:g}x faster than {LABELS[peer]}"
            line(f"({w}) C++ {goal}, {dt}", f"{o / c:.2f}x" if c and o else "-",
                 (o / c >= need) if c and o else None)
    for w in ("a", "b", "c", "f"):
        for dt in DTYPES:
            c = t(w, dt, "cpp")
            others = {o: t(w, dt, o) for o in ("numpy", "torch", "torch_compile", "sklearn")}
            others = {o: v for o, v in others.items() if v is not None}
            if c is None or not others:
                line(f"({w}) C++ faster than every other contender, {dt}", "-", None)
                continue
            best = min(others, key=others.get)
            line(f"({w}) C++ faster than every other contender that ran, {dt} (best other: {LABELS[best]})",
                 f"{others[best] / c:.2f}x", c < others[best])
    for dt in DTYPES:
        v = t("e1", dt, "cpp")
        line(f"(e) 1-row predict_proba, public API <= 1 us, {dt}", fmt_time(v, "us") if v else "-",
             (v <= 1e-6) if v else None)
        v = t("e1", dt, "cpp_fast")
        line(f"(e) 1-row predict_proba, no-validation path <= 0.7 us, {dt}", fmt_time(v, "us") if v else "-",
             (v <= 0.7e-6) if v else None)
    for dt in DTYPES:
        c, r, tt = t("d", dt, "cpp"), t("d", dt, "numpy"), t("d", dt, "torch")
        line(f"(d) 1M-row inference >= 5x faster than the reference, {dt}", f"{r / c:.2f}x" if c and r else "-",
             (r / c >= 5) if c and r else None)
        line(f"(d) 1M-row inference faster than torch eager, {dt}", f"{tt / c:.2f}x" if c and tt else "-",
             (c < tt) if c and tt else None)
    for w in ("a", "b", "c", "f"):
        for dt in DTYPES:
            cpp = by.get((w, dt, "cpp"))
            if cpp and cpp.get("rss_delta_bytes") is not None:
                data, act = cpp["train_data_bytes"], cpp["activation_bytes"] + cpp.get("solver_state_bytes", 0)
                ratio = (data + cpp["rss_delta_bytes"]) / (data + act)
                line(f"({w}) C++ fit peak memory <= 1.10 x (data + activations), {dt}", f"{ratio:.2f}", ratio <= 1.10)
    return out


def plot(path, cfg, rows, meta, contenders):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no PNG"
    by = {(r["workload"], r["dtype"], r["contender"]): r for r in rows}
    keys = workload_rows(cfg)
    cols = [c for c in CONTENDERS if c in contenders]
    fig, axes = plt.subplots(1, 2, figsize=(15, 6), sharey=True)
    width = 0.8 / len(cols)
    for ax, dtype in zip(axes, DTYPES):
        for j, c in enumerate(cols):
            xs, ys, hatches = [], [], []
            for i, (key, _, _) in enumerate(keys):
                r = by.get((key, dtype, c))
                if r and r.get("ratio_to_reference"):
                    xs.append(i + (j - (len(cols) - 1) / 2) * width)
                    ys.append(r["ratio_to_reference"])
                    ref = by.get((key, dtype, "numpy")) or {}
                    busy = max(r.get("foreign_cores") or 0.0, ref.get("foreign_cores") or 0.0) > BUSY_CORES
                    hatches.append("///" if busy else None)
            bars = ax.bar(xs, ys, width=width, label=LABELS[c], color=COLORS[c])
            for bar, h in zip(bars, hatches):
                if h:
                    bar.set_hatch(h)
            if c == "cpp":
                for x, y in zip(xs, ys):
                    ax.annotate(f"{1 / y:.1f}x", (x, y), ha="center", va="bottom", fontsize=7)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([short_label(key) for key, _, _ in keys], rotation=20)
        ax.set_title(f"{dtype}: time / reference time (lower is faster; labels: C++ speed-up)")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("median time relative to backprop.reference (log)")
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=COLORS[c], label=LABELS[c]) for c in cols]
    handles.append(Patch(facecolor="white", edgecolor="k", hatch="///", label="machine busy (others > 0.5 cores)"))
    axes[1].legend(handles=handles, fontsize=8)
    fig.suptitle(f"backprop benchmark suite, {meta['mode']} mode, {meta['started']} - {meta['machine']}; hatched: "
                 f"this cell or its reference timed while other jobs used > {BUSY_CORES} cores", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
