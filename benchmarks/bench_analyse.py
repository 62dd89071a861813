"""Benchmark: ``tj.analyse`` on the bundled data, with and without the run's reader, memo and threads; outputs
compared.

Sides, each run in a fresh interpreter, alternately (A B C ...), so all see the same machine load:

* ``uncached`` — this tree with the access pattern before #12/#15: every ``tj.load`` re-reads its layer and
  re-lists the file, ``indicators`` rebuilds the rail graph, the dual-city sensitivity graphs and its metro
  coverage, the run's memo (:class:`tjspatial.analysis.context.RunCache`: population units, zone weights, rail
  graphs, surface frames, resolved areas and stations) stores nothing, one thread (``workers=1``);
* ``1 thread`` — this tree with ``workers=1`` (``--no-threads-side`` leaves it out);
* ``this tree`` — ``tj.analyse`` as shipped (default ``workers=2``);
* ``rev REV`` with ``--baseline REV`` (e.g. ``0d96564``, main when the #15 work on analyse began; it differs in
  other helpers' work too, so its ratio is not this work's alone).

Printed: median wall and CPU seconds of the analyse call, layer/table reads (``pyogrio.read_dataframe`` calls),
GeoPackage listings and the ratio side / this tree. Two threads only pay on an idle second core.

Outputs: every file ``tj.analyse`` writes is compared with the same file written by ``--reference REV``
(default ``main``) and by every timed side: CSV and GeoTIFF files byte for byte, GeoPackages table by table
(SQL dump) with only the write timestamps of ``gpkg_contents`` blanked. ``uncached`` and ``1 thread``
must be identical to this tree.

Run: python benchmarks/bench_analyse.py [--repeat 3] [--baseline REV] [--reference REV] [--tree FOLDER]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = None
"""Optional git revision to time too (``0d96564``: main when the #15 work on ``analyse`` began)."""
REFERENCE = "main"
"""Git revision whose outputs this tree's must equal."""

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
    run.indicators = lambda *a, graph=None, sensitivity=None, metro_coverage=None, cache=None, **kw: (
        indicators_with_graph(*a, **kw)
    )
    class NoMemo(run.RunCache):  # computes every time
        def get(self, key, compute):
            self.misses[key[0]] += 1
            return compute()
    run.RunCache = NoMemo
kw = {"uncached": {"workers": 1}, "run1": {"workers": 1}}.get(sys.argv[3], {})
tj.analyse  # import the analysis modules before the clock starts
w, c = time.perf_counter(), time.process_time()
tj.analyse(gpkg, out, **kw)
print(json.dumps({"wall": time.perf_counter() - w, "cpu": time.process_time() - c, **counts}))
"""


def _run(tree: Path, *args: str) -> dict | None:
    env = {**os.environ, "PYTHONPATH": str(tree), "TJSPATIAL_HOME": str(tree)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, cwd=tree)
    if proc.returncode:
        raise SystemExit(f"{tree} {args}: failed\n{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


_STAMP = re.compile(r"'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z'")


def _gpkg_dump(path: Path) -> list[str]:
    """SQL dump of a GeoPackage with the write timestamps blanked (they differ between any two writes)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        return [_STAMP.sub("'T'", line) for line in con.iterdump()]


def _same_outputs(a: Path, b: Path) -> list[str]:
    """Names of output files that differ (or exist on one side only): CSV / GeoTIFF / text byte for byte,
    GeoPackages by their SQL dump without timestamps."""
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    diff = []
    for n in names:
        if not (a / n).exists() or not (b / n).exists():
            diff.append(f"{n} (only in {'the first' if (a / n).exists() else 'the second'})")
        elif n.endswith(".gpkg"):
            if _gpkg_dump(a / n) != _gpkg_dump(b / n):
                diff.append(n)
        elif (a / n).read_bytes() != (b / n).read_bytes():
            diff.append(n)
    return diff


def _tree_of(rev: str, dest: Path) -> Path:
    """The package, layers and styles of git revision ``rev``, extracted into ``dest``."""
    dest.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "tjspatial", "layers", "styles"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", default=BASELINE, help="also time this git revision")
    ap.add_argument("--reference", default=REFERENCE, help="git revision whose outputs must be identical")
    ap.add_argument("--no-threads-side", action="store_true", help="skip the side that runs this tree with workers=1")
    ap.add_argument("--tree", type=Path, default=ROOT, help="project folder to time (default: this one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tree = args.tree.resolve()
        sides = {
            "uncached": (tree, "uncached"),
            "1 thread": (tree, "run1"),
            "this tree": (tree, "run"),
        }
        if args.baseline:
            sides = {f"rev {args.baseline}": (_tree_of(args.baseline, tmp / "baseline"), "run"), **sides}
        if args.no_threads_side:
            sides.pop("1 thread")
        gpkgs = {}
        for name, (root, _) in sides.items():
            gpkgs[name] = tmp / f"{root.name}-{len(gpkgs)}.gpkg"
            _run(root, str(gpkgs[name]), "", "build")
        if args.reference:  # its outputs, once (not timed)
            ref = _tree_of(args.reference, tmp / "reference")
            _run(ref, str(tmp / "reference.gpkg"), "", "build")
            _run(ref, str(tmp / "reference.gpkg"), str(tmp / "out-reference"), "run")
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
            f"reader and run memo (uncached / this tree): wall {u['wall'] / t['wall']:.2f}x, CPU "
            f"{u['cpu'] / t['cpu']:.2f}x"
        )
        if args.baseline:
            b = med[f"rev {args.baseline}"]
            for n in ("this tree", "1 thread"):
                if n in med:
                    r = b["wall"] / med[n]["wall"]
                    print(
                        f"rev {args.baseline} / {n}: wall {r:.2f}x; goal >= 2x -> {'met' if r >= 2 else 'NOT met'} "
                        "(one machine, same run)"
                    )
        others = [f"out-{n}-{i}" for n in sides for i in range(args.repeat) if (n, i) != ("this tree", 0)]
        if args.reference:
            others.insert(0, "out-reference")
        for o in others:
            differ = _same_outputs(tmp / o, tmp / "out-this tree-0")
            label = f"rev {args.reference}" if o == "out-reference" else o[4:]
            print(f"outputs {label} vs this tree: " + ("identical" if not differ else f"differ: {differ}"))


if __name__ == "__main__":
    main()
