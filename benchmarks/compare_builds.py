"""Install two builds of backprop side by side and compare them: results bit for bit, or speed.

    python benchmarks/compare_builds.py BASE [HEAD]            # results: a grid of fits, byte for byte
    python benchmarks/compare_builds.py --bench BASE [HEAD]    # speed: the suite's rows, A B A B

BASE and HEAD are each a git commit or ref of the repository this script lives in (exported with
``git archive``; its venv is cached by commit hash, so a second run reuses it) or the path of a
source tree (``.`` is the working tree, uncommitted changes included; rebuilt on every run,
incrementally through the tree's own build directory). HEAD defaults to ``.``.

Each build gets a venv made by ``python -m venv`` (``--system-site-packages`` when the interpreter
already has numpy, else numpy is installed in it), then ``pip install`` of the tree, with
``--no-build-isolation`` when scikit-build-core and pybind11 are importable in the venv (no
downloads). scikit-learn is added when it can be, so that the article's data come from
``backprop.article``; without it both builds get standard-normal data of the same shape. The
venvs live in --cache (default: $BACKPROP_COMPARE_CACHE, else ``backprop-compare-builds`` in the
system's temporary directory), never in the repository.

Results (the default): benchmarks/_compare_grid.py runs in each venv and writes every result to an
``.npz``; every entry of the two files must have the same dtype, shape and bytes (so NaN equals
NaN when its bits do). The summary gives the number of configurations and of arrays compared, and
the first differences with their largest absolute and relative difference. Exit status 1 on any
difference, 2 on a usage or build error.

Speed (--bench): the same venvs, the suite's rows that run backprop (C++, the unchecked predict
path, the numpy backend), each build in a persistent worker process, timed alternately base, head,
base, head, ... (--repeats N each, default 5); the table gives each build's min and median, the
speed ratio base median / head median (> 1: head faster) and flags rows whose spread exceeds
--margin. --workloads a,e,f picks rows, --size quick|smoke the suite's smaller sizes, --scale 0.25
a quarter of the training iterations; the full default takes about 15 minutes on an idle 2-core
machine (five timed runs of each build: about 12 minutes of fits), much longer on a busy one.
Exit status 1 when a cell failed. Details: benchmarks/_compare_bench.py.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRID = HERE / "_compare_grid.py"
SHOW_DIFFS = 10


class BuildError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------- builds
def repo_root():
    out = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if out.returncode != 0:
        raise BuildError(f"{HERE} is not in a git repository: {out.stderr.strip()}")
    return Path(out.stdout.strip())


def resolve(spec):
    """('path', Path) for a source tree, ('commit', full hash) for a git commit or ref."""
    p = Path(spec)
    if p.is_dir() and (p / "pyproject.toml").exists():
        return "path", p.resolve()
    out = subprocess.run(["git", "-C", str(repo_root()), "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise BuildError(f"{spec!r} is neither a source tree (a folder with pyproject.toml) nor a git commit")
    return "commit", out.stdout.strip()


def default_cache():
    return Path(os.environ.get("BACKPROP_COMPARE_CACHE") or Path(tempfile.gettempdir(), "backprop-compare-builds"))


def run(cmd, log, **kw):
    """Run cmd, appending its output to log; raise BuildError with the tail of the log on failure."""
    with open(log, "a") as f:
        f.write(f"$ {' '.join(map(str, cmd))}\n")
        f.flush()
        proc = subprocess.run([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT, **kw)
    if proc.returncode != 0:
        tail = Path(log).read_text().splitlines()[-15:]
        raise BuildError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n" + "\n".join(tail))


def can_import(python, *modules):
    code = "import " + ", ".join(modules)
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


def venv_python(venv):
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_venv(venv, base_python, log):
    """A fresh venv at `venv` with numpy (system site packages when the base interpreter has it)."""
    if venv.exists():
        shutil.rmtree(venv)
    system = can_import(base_python, "numpy")
    run([base_python, "-m", "venv", *(["--system-site-packages"] if system else []), venv], log)
    py = venv_python(venv)
    if not can_import(py, "numpy"):
        run([py, "-m", "pip", "install", "-q", "numpy"], log)
    if not can_import(py, "sklearn"):
        try:  # optional: the article's data (backprop.article) need it
            run([py, "-m", "pip", "install", "-q", "scikit-learn"], log)
        except BuildError:
            pass
    return py


def pip_install(py, tree, log):
    isolated = not can_import(py, "scikit_build_core", "pybind11")
    run([py, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
         *([] if isolated else ["--no-build-isolation"]), tree], log)


def export_commit(sha, dest, log):
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    tar = dest.with_suffix(".tar")
    run(["git", "-C", repo_root(), "archive", "--format=tar", "-o", tar, sha], log)
    with tarfile.open(tar) as t:
        if hasattr(tarfile, "data_filter"):
            t.extractall(dest, filter="data")
        else:
            t.extractall(dest)
    tar.unlink()


def python_tag(base_python):
    out = subprocess.run([str(base_python), "-c", "import sys; print('py%d%d' % sys.version_info[:2])"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "py"


def build(spec, cache, base_python, say):
    """Install one build; returns (label, python of its venv)."""
    kind, ref = resolve(spec)
    tag = python_tag(base_python)
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if kind == "commit":
        venv = cache / f"venv-{ref[:12]}-{tag}"
        stamp = venv / "backprop-build.ok"
        label = f"{spec} ({ref[:10]})" if not ref.startswith(spec) else ref[:10]
        if stamp.exists():
            say(f"{label}: cached venv {venv}")
            return label, venv_python(venv)
        log = cache / f"build-{ref[:12]}-{tag}.log"
        log.write_text("")
        say(f"{label}: exporting and building into {venv} (log: {log})")
        src = cache / f"src-{ref[:12]}"
        export_commit(ref, src, log)
        py = make_venv(venv, base_python, log)
        pip_install(py, src, log)
        stamp.write_text(ref + "\n")  # written last: an interrupted build is never reused
    else:
        key = hashlib.sha1(str(ref).encode()).hexdigest()[:12]
        venv = cache / f"venv-path-{key}-{tag}"
        label = f"{spec} ({ref})" if str(ref) != spec else str(ref)
        log = cache / f"build-path-{key}-{tag}.log"
        log.write_text("")
        say(f"{label}: building the tree into {venv} (log: {log})")
        py = venv_python(venv) if (venv / "backprop-venv.ok").exists() else None
        if py is None:
            py = make_venv(venv, base_python, log)
            (venv / "backprop-venv.ok").write_text(str(ref) + "\n")
        pip_install(py, ref, log)
    say(f"{label}: ready in {time.perf_counter() - t0:.1f} s")
    return label, venv_python(venv)


# ------------------------------------------------------------------------------------- results
def run_grid(py, out, extra, say):
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="compare_grid_") as cwd:  # never import a source tree by accident
        proc = subprocess.run([str(py), str(GRID), str(out), *extra], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"the grid failed in {py}:\n{proc.stderr[-3000:]}")
    say(f"  grid: {proc.stderr.strip().splitlines()[-1]} (wall {time.perf_counter() - t0:.1f} s)")


def differences(a, b):
    """Max absolute and relative difference of two numeric arrays of one shape (NaN-aware), or None."""
    import numpy as np

    if a.shape != b.shape or a.dtype.kind not in "fiub" or b.dtype.kind not in "fiub":
        return None
    x, y = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(x) & np.isnan(y)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(both_nan | (x == y), 0.0, np.abs(x - y))
        rel = np.where(d == 0, 0.0, d / np.maximum(np.abs(y), np.finfo(np.float64).tiny))
    d = np.where(np.isnan(d), np.inf, d)
    return (float(d.max()) if d.size else 0.0, float(np.nanmax(rel)) if rel.size else 0.0)


def compare_npz(path_a, path_b):
    """(n_configs, n_compared, diffs): diffs = [(key, what)] for every entry that is not byte-identical."""
    import numpy as np

    with np.load(path_a, allow_pickle=False) as za, np.load(path_b, allow_pickle=False) as zb:
        ka = {k for k in za.files if not k.startswith("meta::")}
        kb = {k for k in zb.files if not k.startswith("meta::")}
        diffs = [(k, "only in the first build") for k in sorted(ka - kb)]
        diffs += [(k, "only in the second build") for k in sorted(kb - ka)]
        for k in sorted(ka & kb):
            what = compare_arrays(za[k], zb[k])
            if what:
                diffs.append((k, what))
        configs = {k.split("::", 1)[0] for k in ka | kb}
        return len(configs), len(ka & kb), diffs


def compare_arrays(a, b):
    """'' when dtype, shape and raw bytes agree, else what differs."""
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} vs {b.dtype}"
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}"
    if a.tobytes() == b.tobytes():
        return ""
    if a.dtype.kind in "US":
        return f"{str(a)[:200]!r} vs {str(b)[:200]!r}"
    d = differences(a, b)
    return f"max abs diff {d[0]:.3g}, max rel diff {d[1]:.3g}" if d else "bytes differ"


def report(label_a, label_b, n_configs, n_arrays, diffs, say):
    say(f"{n_configs} configurations, {n_arrays} arrays compared: {label_a} vs {label_b}")
    if not diffs:
        say("all identical (dtype, shape and bytes of every array)")
        return 0
    configs = sorted({k.split("::", 1)[0] for k, _ in diffs})
    say(f"DIFFERENT: {len(diffs)} arrays in {len(configs)} configurations; the first {min(SHOW_DIFFS, len(diffs))}:")
    for k, what in diffs[:SHOW_DIFFS]:
        cfg, _, field = k.partition("::")
        say(f"  [{cfg}] {field}: {what}")
    fields = {}
    for k, _ in diffs:  # weights_::0 and first.weights_::1 both count as weights_
        field = k.split("::")[1].rsplit(".", 1)[-1]
        fields[field] = fields.get(field, 0) + 1
    say("differing arrays by field: " + ", ".join(f"{f} {n}" for f, n in sorted(fields.items())))
    return 1


def compare_results(args, builds, say):
    (la, pa), (lb, pb) = builds
    with tempfile.TemporaryDirectory(prefix="compare_builds_") as tmp:
        outs = []
        for label, py in builds:
            out = Path(tmp, f"grid{len(outs)}.npz")
            say(f"running the grid with {label}")
            run_grid(py, out, ["--only", args.only] if args.only else [], say)
            outs.append(out)
        n_configs, n_arrays, diffs = compare_npz(*outs)
    return report(la, lb, n_configs, n_arrays, diffs, say)


# ------------------------------------------------------------------------------------- main
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="git commit/ref or source tree of the first build")
    ap.add_argument("head", nargs="?", default=".", help="the second build (default: the working tree, '.')")
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder of the venvs and exported trees (default: $BACKPROP_COMPARE_CACHE or "
                         "<temp dir>/backprop-compare-builds)")
    ap.add_argument("--python", default=sys.executable, help="interpreter the venvs are made from (default: this one)")
    ap.add_argument("--only", default=None, help="results: only the grid's configurations whose name contains this")
    ap.add_argument("--bench", action="store_true", help="compare speed instead of results (see _compare_bench.py)")
    ap.add_argument("--workloads", default=None, help="--bench: rows to time, e.g. a,e,f (default: all)")
    ap.add_argument("--repeats", type=int, default=5, help="--bench: timed runs of each build per row (default 5)")
    ap.add_argument("--size", choices=("full", "quick", "smoke"), default="full",
                    help="--bench: the suite's workload sizes (default: full)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="--bench: multiply the iterations (epochs) of the training rows by this (e.g. 0.25)")
    ap.add_argument("--margin", type=float, default=0.03,
                    help="--bench: flag rows whose spread (max/min - 1 of either build) exceeds this (default 0.03)")
    ap.add_argument("--contenders", default=None,
                    help="--bench: subset of cpp,cpp_fast,numpy for every row (default: cpp and cpp_fast everywhere, "
                         "numpy on a,d,e,f)")
    ap.add_argument("--threads", type=int, default=None, help="--bench: threads of every contender (default: all cores)")
    ap.add_argument("--json", default=None, help="--bench: also write every timing to this JSON file")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    def say(msg):
        print(msg, flush=True)

    cache = args.cache or default_cache()
    t0 = time.perf_counter()
    try:
        builds = [build(spec, cache, args.python, say) for spec in (args.base, args.head)]
        if args.bench:
            sys.path.insert(0, str(HERE))
            from _compare_bench import compare_speed

            status = compare_speed(args, builds, say)
        else:
            status = compare_results(args, builds, say)
    except BuildError as exc:
        print(f"compare_builds: {exc}", file=sys.stderr)
        return 2
    say(f"wall time {time.perf_counter() - t0:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
