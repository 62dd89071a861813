"""Benchmark: ``tj.analyse`` on the bundled data, with and without the GeoPackage reader of #12, outputs compared.

Baseline (same code, same run): this tree with the access pattern before #12 — every ``tj.load`` re-reads its
layer and re-lists the file, ``indicators`` rebuilds the rail graph and the dual-city sensitivity graphs. Optionally also another git revision
(``--baseline REV``, e.g. ``e1d8ec4``, main before #12; it differs in other helpers' work too, so its ratio is
not #12's alone). Each side runs ``tj.analyse`` in a fresh interpreter, alternately (A B A B ...), so all see
the same machine load. Printed: median wall and CPU seconds of the analyse call, layer/table reads
(``pyogrio.read_dataframe`` calls), GeoPackage listings, the ratio baseline / this tree, and whether the CSV
outputs are identical.

Run: python benchmarks/bench_analyse.py [--repeat 3] [--baseline REV] [--tree FOLDER]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BASELINE = None
"""Optional git revision to compare with too (``e1d8ec4``: main just before ``tjspatial.gpkg`` (#12))."""

PROBE = r"""
import json, sys, time
import pyogrio
counts = {"reads": 0, "lists": 0}
_read, _list = pyogrio.read_dataframe, pyogrio.list_layers
def read(*a, **kw):
    counts["reads"] += 1
    return _read(*a, **kw)
def lst(*a, **kw):
    counts["lists"] += 1
    return _list(*a, **kw)
pyogrio.read_dataframe, pyogrio.list_layers = read, lst
import tjspatial as tj
gpkg, out = sys.argv[1], sys.argv[2]
if sys.argv[3] == "build":
    tj.build(out=gpkg, quiet=True)
    sys.exit(0)
if sys.argv[3] == "uncached":  # this tree with the access pattern before #12: no reader cache, graphs rebuilt
    import tjspatial.gpkg as g
    import tjspatial.analysis.run as run
    cached_read, cached_listing = g.GeoPackage._read, g.GeoPackage._listing
    def uncached_read(self, name, geometry):
        self._frames.clear()
        return cached_read(self, name, geometry)
    def uncached_listing(self):
        self._names = None
        return cached_listing(self)
    g.GeoPackage._read, g.GeoPackage._listing = uncached_read, uncached_listing
    indicators_with_graph = run.indicators
    run.indicators = lambda *a, graph=None, sensitivity=None, **kw: indicators_with_graph(*a, **kw)
tj.analyse  # import the analysis modules before the clock starts
w, c = time.perf_counter(), time.process_time()
tj.analyse(gpkg, out)
print(json.dumps({"wall": time.perf_counter() - w, "cpu": time.process_time() - c, **counts}))
"""


def _run(tree: Path, *args: str) -> dict | None:
    env = {**os.environ, "PYTHONPATH": str(tree), "TJSPATIAL_HOME": str(tree)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, cwd=tree)
    if proc.returncode:
        raise SystemExit(f"{tree} {args}: failed\n{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def _same_csvs(a: Path, b: Path) -> list[str]:
    """Names of CSV outputs that differ (or exist on one side only)."""
    names = sorted({p.name for p in a.glob("*.csv")} | {p.name for p in b.glob("*.csv")})
    diff = []
    for n in names:
        if not (a / n).exists() or not (b / n).exists():
            diff.append(n)
        elif not pd.read_csv(a / n).equals(pd.read_csv(b / n)):
            diff.append(n)
    return diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", default=BASELINE, help="also compare with this git revision")
    ap.add_argument("--tree", type=Path, default=ROOT, help="project folder to time (default: this one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tree = args.tree.resolve()
        sides = {"uncached": (tree, "uncached"), "this tree": (tree, "run")}
        if args.baseline:
            base = tmp / "baseline"
            base.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline, "tjspatial", "layers", "styles"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
            sides = {f"rev {args.baseline}": (base, "run"), **sides}
        gpkgs = {}
        for name, (root, _) in sides.items():
            gpkgs[name] = tmp / f"{root.name}-{len(gpkgs)}.gpkg"
            _run(root, str(gpkgs[name]), "", "build")
        results: dict[str, list[dict]] = {n: [] for n in sides}
        for i in range(args.repeat):
            for name, (root, mode) in sides.items():
                results[name].append(_run(root, str(gpkgs[name]), str(tmp / f"out-{name}-{i}"), mode))
        med = {
            n: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "reads", "lists")}
            for n, rs in results.items()
        }
        t = med["this tree"]
        for n, m in med.items():
            print(
                f"{n:<14} analyse median {m['wall']:7.2f} s wall, {m['cpu']:7.2f} s CPU over {args.repeat} runs; "
                f"{m['reads']:4.0f} reads, {m['lists']:4.0f} listings; baseline / this tree: wall "
                f"{m['wall'] / t['wall']:.2f}x, CPU {m['cpu'] / t['cpu']:.2f}x"
            )
        u = med["uncached"]
        print(
            f"#12 reader and graph reuse (uncached / this tree): wall {u['wall'] / t['wall']:.2f}x, CPU "
            f"{u['cpu'] / t['cpu']:.2f}x; goal >= 2x -> {'met' if u['wall'] / t['wall'] >= 2 else 'NOT met'}"
        )
        for n in sides:
            if n != "this tree":
                differ = _same_csvs(tmp / f"out-{n}-0", tmp / "out-this tree-0")
                print(f"CSV outputs {n} vs this tree: " + ("identical" if not differ else f"differ: {differ}"))


if __name__ == "__main__":
    main()
