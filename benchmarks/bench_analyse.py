"""Benchmark: ``tj.analyse`` on the bundled data, this tree vs a baseline revision, outputs compared.

The baseline is another git revision of this repository (default: the last one before the GeoPackage reader of
#12, which read a layer 97 times and built the rail graph three times per run). Each side builds its GeoPackage
from the bundled sources with its own code, then runs ``tj.analyse`` in a fresh interpreter, alternately
(A B A B ...), so both see the same machine load. Printed: median wall and CPU seconds of the analyse call,
layer reads (``pyogrio.read_dataframe`` calls) and GeoPackage listings, the ratio baseline / this tree, and
whether every CSV output is identical.

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
BASELINE = "e1d8ec4"
"""main just before ``tjspatial.gpkg`` (#12) was merged."""

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
tj.analyse  # import the analysis modules before the clock starts
w, c = time.perf_counter(), time.process_time()
tj.analyse(gpkg, out)
print(json.dumps({"wall": time.perf_counter() - w, "cpu": time.process_time() - c, **counts}))
"""


def _run(tree: Path, *args: str) -> dict | None:
    env = {**os.environ, "PYTHONPATH": str(tree), "TJSPATIAL_HOME": str(tree)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True,
                          check=True, cwd=tree)
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
    ap.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    ap.add_argument("--tree", type=Path, default=ROOT, help="project folder to time (default: this one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = tmp / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "tjspatial", "layers", "styles"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        sides = {"baseline": base, "this tree": args.tree.resolve()}
        for name, tree in sides.items():
            _run(tree, str(tmp / f"{name}.gpkg"), "", "build")
        results: dict[str, list[dict]] = {n: [] for n in sides}
        for i in range(args.repeat):
            for name, tree in sides.items():
                results[name].append(_run(tree, str(tmp / f"{name}.gpkg"), str(tmp / f"out-{name}-{i}"), "run"))
        med = {n: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "reads", "lists")}
               for n, rs in results.items()}
        for n, m in med.items():
            print(f"{n:<10} ({args.baseline if n == 'baseline' else 'HEAD + changes'}): analyse median "
                  f"{m['wall']:6.2f} s wall, {m['cpu']:6.2f} s CPU over {args.repeat} runs; "
                  f"{m['reads']:.0f} layer reads, {m['lists']:.0f} listings")
        b, t = med["baseline"], med["this tree"]
        print(f"speed-up (baseline / this tree): wall {b['wall'] / t['wall']:.2f}x, CPU {b['cpu'] / t['cpu']:.2f}x; "
              f"goal >= 2x -> {'met' if b['wall'] / t['wall'] >= 2 else 'NOT met'}")
        differ = _same_csvs(tmp / "out-baseline-0", tmp / "out-this tree-0")
        print("CSV outputs identical" if not differ else f"CSV outputs differ: {differ}")


if __name__ == "__main__":
    main()
