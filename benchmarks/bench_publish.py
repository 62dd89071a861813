"""Benchmark: ``tjspatial publish --offline`` from a fresh copy, this tree against baseline git revisions (#15).

Each side is a fresh copy of the project (``git archive`` of the baseline revision; this tree's files as they are
on disk, uncommitted changes included) with no GeoPackage and no ``out/``, so every run builds, analyses, writes
the maps and exports, as from a fresh clone. The sides run alternately (A B A B ...) in fresh interpreters,
``--repeat`` times (at least 3), into temporary site and export folders, so all see the same machine load.

Printed: per side the median wall seconds of the whole command and of each step the command reports
(``steps (s): build, analyse, maps, export``), the ratio baseline / this tree, and whether the site pages are
byte-identical between this tree's runs (#16: no random folium ids) and to each baseline's once folium's random
ids are masked (older baselines differ in content too; the masked comparison says which pages).

Run: python benchmarks/bench_publish.py [--repeat 3] [--baseline REV ...] [--tree FOLDER]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ["0d96564", "fa0142d"]
"""Default baselines: ``0d96564`` (2026-11-27, named as the start of the #15 work; it runs fewer analyses: no
population variants or coverage ranges) and ``fa0142d`` (main when the analysis-reuse work began on 2026-11-30;
``publish --offline`` ≈ 23 s idle from a fresh clone)."""

COPY = ("tjspatial", "layers", "styles", "pyproject.toml")
"""What a side needs to run ``publish`` (maps and exports go to temporary folders)."""

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tianjin.gpkg", "*.tmp*", "osm_cache", ".*.lock")
_FOLIUM_ID = re.compile(rb"map_[0-9a-f]{32}")


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for name in COPY:
        p = src / name
        if p.is_dir():
            shutil.copytree(p, dst / name, ignore=_IGNORE)
        elif p.is_file():
            shutil.copy2(p, dst / name)


def _archive(rev: str, dst: Path) -> None:
    dst.mkdir(parents=True)
    names = [
        n for n in COPY if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{rev}:{n}"]).returncode == 0
    ]
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *names], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=data, check=True)


def _fresh(tree: Path) -> None:
    """As from a fresh clone: no GeoPackage, no analysis outputs, no caches."""
    (tree / "layers" / "tianjin.gpkg").unlink(missing_ok=True)
    shutil.rmtree(tree / "out", ignore_errors=True)


def _run(tree: Path, site: Path, export: Path) -> dict[str, float]:
    _fresh(tree)
    env = {**os.environ, "PYTHONPATH": str(tree), "TJSPATIAL_HOME": str(tree), "MPLBACKEND": "Agg"}
    env.pop("TJSPATIAL_CACHE", None)
    cmd = [sys.executable, "-m", "tjspatial.cli", "publish", "--offline", "--out", str(site)]
    cmd += ["--export-dir", str(export)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"{tree}: publish failed\n{proc.stderr[-3000:]}")
    m = re.search(r"^steps \(s\): (.*)$", proc.stdout, re.M)
    steps = {k: float(v) for k, v in (p.rsplit(" ", 1) for p in m.group(1).split(", "))} if m else {}
    return {"total": wall, **steps}


def _pages(site: Path, mask: bool = False) -> dict[str, bytes]:
    out = {}
    for p in sorted(site.rglob("*")):
        if p.is_file() and p.name != ".tjspatial-site.json":
            data = p.read_bytes()
            out[str(p.relative_to(site))] = _FOLIUM_ID.sub(b"map_ID", data) if mask else data
    return out


def _differ(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    return sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3, help="runs per side (at least 3)")
    ap.add_argument(
        "--baseline", action="append", help="git revision to compare with (repeatable; default 0d96564 and fa0142d)"
    )
    ap.add_argument("--tree", type=Path, default=ROOT, help="project folder to time (default: this one)")
    args = ap.parse_args()
    repeat = max(3, args.repeat)
    baselines = args.baseline or BASELINES
    with tempfile.TemporaryDirectory(prefix="bench_publish_") as tmp:
        tmp = Path(tmp)
        sides: dict[str, Path] = {}
        for rev in baselines:
            sides[f"rev {rev}"] = tmp / f"rev-{rev}"
            _archive(rev, sides[f"rev {rev}"])
        sides["this tree"] = tmp / "this"
        _copy_tree(args.tree.resolve(), sides["this tree"])
        runs: dict[str, list[dict]] = {n: [] for n in sides}
        for i in range(repeat):
            for name, tree in sides.items():
                key = name.replace(" ", "-")
                runs[name].append(_run(tree, tmp / f"site-{key}-{i}", tmp / f"export-{key}-{i}"))
                r = runs[name][-1]
                print(
                    f"  run {i + 1}/{repeat} {name:<14} " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True
                )
        steps = ["total", "build", "analyse", "maps", "export"]
        med = {n: {s: statistics.median(r.get(s, float("nan")) for r in rs) for s in steps} for n, rs in runs.items()}
        this = med["this tree"]
        print(f"\npublish --offline from a fresh copy, medians of {repeat} alternating runs (seconds)")
        print(f"{'side':<16}" + "".join(f"{s:>10}" for s in steps) + "   ratio side / this tree (total, maps)")
        for n, m in med.items():
            print(
                f"{n:<16}"
                + "".join(f"{m[s]:10.2f}" for s in steps)
                + f"   {m['total'] / this['total']:.2f}x, {m['maps'] / this['maps']:.2f}x"
            )
        for n in sides:
            if n != "this tree":
                ratio = med[n]["total"] / this["total"]
                print(f"{n} / this tree: {ratio:.2f}x; goal >= 1.5x -> {'met' if ratio >= 1.5 else 'NOT met'}")
        key = "this-tree"
        first = _pages(tmp / f"site-{key}-0")
        same = all(_pages(tmp / f"site-{key}-{i}") == first for i in range(1, repeat))
        print(
            f"this tree: site pages and thumbnails byte-identical across its {repeat} runs: {'yes' if same else 'NO'}"
        )
        for n in sides:
            if n != "this tree":
                d = _differ(
                    _pages(tmp / f"site-{n.replace(' ', '-')}-0", mask=True), _pages(tmp / f"site-{key}-0", True)
                )
                print(f"{n} vs this tree, folium ids masked: " + ("identical" if not d else f"differ: {', '.join(d)}"))


if __name__ == "__main__":
    main()
