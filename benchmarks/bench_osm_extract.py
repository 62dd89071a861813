"""Benchmark: clipping and building from a country-sized OSM extract, new code vs the code before issue #11.

Writes a synthetic China-like PBF (not committed; in a temporary folder): the Tianjin test fixture
(tests/fixtures/osm/tianjin_fixture.osm, all layers present) plus ``--nodes`` synthetic nodes in ways of 10
nodes spread over China (73–135°E, 18–54°N), ``--inside`` of them inside Tianjin's box. Of the synthetic
ways 2 % are ``building=yes``, ``--water`` (default 2 %) closed ``natural=water`` rings and the rest
``highway=residential``, so the tag filter has real work and water (a catalog key) survives it.

Then, each in a fresh subprocess (time, and peak memory = max RSS of the process or its children):

* clip: the old pyosmium per-object loop (``clip_filter_pbf``, still the fallback) vs the new
  ``clip_extract`` (osmium-tool ``tags-filter`` + ``extract --strategy smart``);
* build: ``tjspatial build --source extract`` with the code before #11 (``git archive`` of ``--old-rev``,
  osmnx re-parse per layer) vs the current tree (clip once, parse once).

Run: python benchmarks/bench_osm_extract.py [--nodes 3500000] [--inside 0.14] [--skip-old-build]
Prints one line per step and the ratios old/new measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "osm" / "tianjin_fixture.osm"
TIANJIN_BOX = (116.70, 38.55, 118.06, 40.25)
OLD_REV = "0d96564"  # main before the #11 work (osmnx per layer, pyosmium clip loop)


def write_pbf(path: Path, n_nodes: int, inside: float, water: float = 0.02, seed: int = 7) -> dict:
    """The synthetic extract (see the module docstring); returns its counts."""
    import osmium

    rng = np.random.default_rng(seed)
    n_ways = n_nodes // 10
    centres = np.c_[rng.uniform(73, 135, n_ways), rng.uniform(18, 54, n_ways)]
    k = int(inside * n_ways)
    x0, y0, x1, y1 = TIANJIN_BOX
    centres[:k] = np.c_[rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)]
    rng.shuffle(centres)
    kind = rng.choice(3, size=n_ways, p=[0.98 - water, 0.02, water])
    angle = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    fixture = []  # copies: FileProcessor objects live only during their iteration
    M = osmium.osm.mutable
    for o in osmium.FileProcessor(str(FIXTURE)):
        tags = {t.k: t.v for t in o.tags}
        if o.is_node():
            fixture.append(M.Node(id=o.id, location=(o.location.lon, o.location.lat), tags=tags))
        elif o.is_way():
            fixture.append(M.Way(id=o.id, nodes=[n.ref for n in o.nodes], tags=tags))
        else:
            fixture.append(M.Relation(id=o.id, members=[(m.type, m.ref, m.role) for m in o.members], tags=tags))
    base = 10_000_000
    with osmium.SimpleWriter(str(path), overwrite=True) as w:
        for o in fixture:
            if isinstance(o, M.Node):
                w.add_node(o)
        jitter = rng.uniform(-0.002, 0.002, size=(n_ways, 10, 2))
        ring = np.stack([np.cos(angle), np.sin(angle)], axis=-1) * 0.001
        for j in range(n_ways):
            pts = centres[j] + (ring if kind[j] == 2 else jitter[j])
            for i in range(10):
                w.add_node(osmium.osm.mutable.Node(id=base + j * 10 + i, location=(pts[i, 0], pts[i, 1])))
        for o in fixture:
            if isinstance(o, M.Way):
                w.add_way(o)
        tags = ({"highway": "residential"}, {"building": "yes"}, {"natural": "water", "name": "池塘"})
        for j in range(n_ways):
            refs = list(range(base + j * 10, base + j * 10 + 10))
            if kind[j] == 2:
                refs.append(refs[0])
            w.add_way(osmium.osm.mutable.Way(id=base + j, nodes=refs, tags=tags[kind[j]]))
        for o in fixture:
            if isinstance(o, M.Relation):
                w.add_relation(o)
    return {"nodes": n_nodes + sum(isinstance(o, M.Node) for o in fixture), "ways": n_ways, "inside_nodes": k * 10}


def measure(code: str, pythonpath: Path, cwd: Path) -> tuple[float, float, str]:
    """Run ``python -c code`` with ``pythonpath``; (seconds, peak MB of the process tree, stdout)."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    t = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-c", code], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = p.communicate()
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"step failed ({p.returncode}):\n{err[-2000:]}")
    # peak RSS: the child prints its own high-water mark and that of its children (osmium-tool)
    peak = float(out.strip().splitlines()[-1])
    return dt, peak, out


PEAK = (
    "import resource; print(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024)"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=3_500_000, help="synthetic nodes (default 3.5 M)")
    ap.add_argument("--inside", type=float, default=0.14, help="share of them inside Tianjin (default 0.14)")
    ap.add_argument(
        "--water",
        type=float,
        default=0.02,
        help="share of synthetic ways that are natural=water rings, kept by the tag filter (default 0.02)",
    )
    ap.add_argument("--old-rev", default=OLD_REV, help="git revision of the old code (default %(default)s)")
    ap.add_argument("--skip-old-build", action="store_true", help="only compare the clip for the old code")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-osm-") as tmp:
        tmp = Path(tmp)
        pbf = tmp / "china-synthetic.osm.pbf"
        t = time.perf_counter()
        counts = write_pbf(pbf, args.nodes, args.inside, args.water)
        print(
            f"synthetic PBF: {counts['nodes']:,} nodes ({counts['inside_nodes']:,} in Tianjin's box), "
            f"{counts['ways']:,} ways ({args.water:.0%} water), {pbf.stat().st_size / 1e6:.1f} MB, written in {time.perf_counter() - t:.0f} s"
        )
        old = tmp / "old"
        old.mkdir()
        subprocess.run(f"git -C {ROOT} archive {args.old_rev} | tar -x -C {old}", shell=True, check=True)
        rows = {}
        setup = (
            "import shapely, numpy as np; from pathlib import Path; import tjspatial as tj; "
            "from tjspatial.sources import osm; from tjspatial.build_context import BuildContext; "
            "from tjspatial.paths import sources_dir; cat = tj.get_catalog(); "
            "ctx = BuildContext(catalog=cat, sources_dir=sources_dir()); "
            "poly = osm.query_polygon(osm.tianjin_boundary(ctx)); "
            "keys = set(osm.osm_keys(osm._all_selectors(cat))); "
        )
        clip_old = setup + (
            f"from tjspatial.sources.osm_extract import clip_filter_pbf; "
            f"clip_filter_pbf(Path('{pbf}'), Path('{tmp}/old-clip.osm'), "
            f"tuple(np.round(shapely.bounds(poly), 6)), keys); " + PEAK
        )
        clip_new = setup + (
            f"from tjspatial.sources.osm_extract import clip_extract; "
            f"clip_extract(Path('{pbf}'), Path('{tmp}/new-clip.osm'), poly, keys); " + PEAK
        )
        rows["clip, pyosmium loop (old)"] = measure(clip_old, ROOT, ROOT)
        rows["clip, osmium-tool (new)"] = measure(clip_new, ROOT, ROOT)
        build = (
            "from pathlib import Path; from tjspatial.build import build; "
            "build(source='extract', out=Path('{out}'), options={{'extract': Path('{pbf}'), "
            "'cache_dir': Path('{cache}')}}); " + PEAK
        )
        if not args.skip_old_build:
            rows["full build (old code)"] = measure(
                build.format(out=tmp / "old.gpkg", pbf=pbf, cache=tmp / "old-cache"), old, old
            )
        rows["full build (new code)"] = measure(
            build.format(out=tmp / "new.gpkg", pbf=pbf, cache=tmp / "new-cache"), ROOT, ROOT
        )
        for name, (dt, mb, _) in rows.items():
            print(f"{name:<28} {dt:8.1f} s  {mb:8.0f} MB peak")
        o, n = rows["clip, pyosmium loop (old)"], rows["clip, osmium-tool (new)"]
        print(f"clip: new is {o[0] / n[0]:.1f}x faster, peak memory {n[1]:.0f} MB vs {o[1]:.0f} MB")
        if "full build (old code)" in rows:
            o, n = rows["full build (old code)"], rows["full build (new code)"]
            print(f"full build: new is {o[0] / n[0]:.1f}x faster, peak memory {n[1]:.0f} MB vs {o[1]:.0f} MB")


if __name__ == "__main__":
    main()
