"""Network (ITDP walk) coverage on a realistic street grid (#15): tjspatial against the per-station pipeline.

The street network: an ``--grid`` x ``--grid`` lattice of 100 m blocks (default 300 x 300 = 90,000 nodes,
30 x 30 km) with every node moved up to ±10 m (edge lengths 80-120 m, so walks end part-way along edges), 6 %
of the streets removed (irregular blocks, dead ends) and 30 % of the streets curved (walk length 1.0-1.25 x
the chord). Stations: ``uniform`` over the interior, or ``clustered`` (70 % around three centres, σ 2.5 km).
Walk 1,000 m, street buffer 100 m, holes < 2 ha filled, population (100 m grid) summed over the catchment.

Methods, alternated, each run ``--runs`` times (default 3), medians printed:

``tjspatial``
    :func:`tjspatial.analysis.network_coverage.walk_catchment` on a :class:`WalkNetwork` (CSR arrays), then the
    exact zonal sum; default ``workers`` (2 GEOS threads on a multi-core machine) and ``workers=1`` (the
    single-thread ratio is printed too, since the baseline runs on one thread, with the ratio of CPU times —
    ``time.process_time`` — which other jobs on a shared machine disturb less than wall-clock times).
``ITDP per station``
    what ITDP's People-Near-Transit code does: per station a networkx Dijkstra with cutoff, every reached edge
    kept as far as the walk goes (cut at the remaining distance from either end), buffered and unioned, then the
    stations' catchments unioned, small holes filled, population summed. With ``--baseline-stations N`` it is
    timed on the first N stations and scaled (said so in the output); otherwise on all of them, and the two
    catchments are compared (area and population).

Also printed: the compact network's store (GeoPackage edge table, then the Parquet one) written and read back —
bytes a node and load time — for ``--scale`` nodes (default 1,210,000).

Run: ``python benchmarks/bench_network_coverage.py [--stations 100 400 1600 6400] [--runs 3] [--grid 300]
[--baseline-stations 400] [--scale 1210000]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
from affine import Affine
from scipy.spatial import cKDTree

from tjspatial.analysis.network_coverage import DEFAULT_MAX_HOLE_M2, WalkNetwork, fill_holes, walk_catchment
from tjspatial.analysis.zonal import GridIntegrator

X0, Y0 = 450_000.0, 4_250_000.0
WALK, BUFFER = 1000.0, 100.0


def street_grid(n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Node xy, edge ends and walk lengths of the perturbed, curved, thinned street lattice."""
    idx = np.arange(n * n).reshape(n, n)
    ii, jj = np.divmod(np.arange(n * n), n)
    xy = np.column_stack([X0 + jj * 100.0, Y0 + ii * 100.0]) + rng.uniform(-10, 10, (n * n, 2))
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) > 0.06
    u, v = u[keep], v[keep]
    chord = np.hypot(*(xy[u] - xy[v]).T)
    curved = rng.random(len(u)) < 0.30
    length = np.where(curved, chord * rng.uniform(1.0, 1.25, len(u)), chord)
    return xy, u, v, length


def stations(n_st: int, n: int, layout: str, rng) -> np.ndarray:
    span = (n - 1) * 100.0
    if layout == "uniform":
        return np.column_stack([rng.uniform(1500, span - 1500, n_st), rng.uniform(1500, span - 1500, n_st)]) + (X0, Y0)
    centres = np.array([[0.3, 0.4], [0.65, 0.6], [0.5, 0.2]]) * span + (X0, Y0)
    k = rng.integers(0, 3, n_st)
    xy = centres[k] + rng.normal(0, 2500, (n_st, 2))
    spread = rng.random(n_st) < 0.3
    xy[spread] = np.column_stack(
        [rng.uniform(1500, span - 1500, spread.sum()), rng.uniform(1500, span - 1500, spread.sum())]
    ) + (X0, Y0)
    return np.clip(xy, (X0 + 500, Y0 + 500), (X0 + span - 500, Y0 + span - 500))


def to_networkx(xy, u, v, length) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs="EPSG:4548")
    g.add_nodes_from((int(k), {"x": float(x), "y": float(y)}) for k, (x, y) in enumerate(xy))
    g.add_edges_from((int(a), int(b), {"length": float(w)}) for a, b, w in zip(u, v, length))
    g.add_edges_from((int(b), int(a), {"length": float(w)}) for a, b, w in zip(u, v, length))
    return g


def itdp(g: nx.MultiDiGraph, pts: np.ndarray, nodes_xy: np.ndarray, tree: cKDTree) -> shapely.Geometry:
    """The per-station pipeline (ITDP People Near Transit): networkx Dijkstra, cut edges, buffer, union."""
    _, nearest = tree.query(pts)
    per_station = []
    for node in nearest:
        dist = nx.single_source_dijkstra_path_length(g, int(node), cutoff=WALK, weight="length")
        lines = []
        for a, da in dist.items():
            pa = nodes_xy[a]
            for b, data in g[a].items():
                L = min(d["length"] for d in data.values())
                pb = nodes_xy[b]
                ra = WALK - da
                if b in dist:
                    if a > b:
                        continue  # each walked edge once
                    rb = WALK - dist[b]
                    if ra + rb >= L:
                        lines.append(shapely.LineString([pa, pb]))
                        continue
                    if rb > 0:
                        lines.append(shapely.LineString([pb, pb + (pa - pb) * min(rb, L) / L]))
                if ra > 0:
                    lines.append(shapely.LineString([pa, pa + (pb - pa) * min(ra, L) / L]))
        per_station.append(shapely.unary_union([ln.buffer(BUFFER, quad_segs=4) for ln in lines]))
    return fill_holes(shapely.unary_union(per_station), DEFAULT_MAX_HOLE_M2)


def store(n_nodes: int) -> None:
    """Write a lattice of ``n_nodes`` to the GeoPackage edge table, then load it in a fresh process."""
    side = int(round(np.sqrt(n_nodes)))
    rng = np.random.default_rng(1)
    xy, u, v, length = street_grid(side, rng)
    net = WalkNetwork.from_arrays(xy, u, v, length)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "walk.gpkg"
        t = time.perf_counter()
        net.save(path, source="benchmark lattice")
        t_save = time.perf_counter() - t
        # peak memory from /proc (VmHWM; ru_maxrss would carry this process's peak across exec)
        code = (
            "import time, re; from tjspatial.analysis.network_coverage import WalkNetwork; "
            "kb = lambda k: int(re.search(k + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
            "r0 = kb('VmRSS'); t = time.perf_counter(); "
            f"net = WalkNetwork.load({str(path)!r}); t1 = time.perf_counter() - t; net.matrix; net.tree; "
            "t2 = time.perf_counter() - t; r1 = kb('VmHWM'); "
            "print(t1, t2, net.nbytes, len(net.xy), r0, r1)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        t1, t2, nbytes, n, r0, r1 = float(out[0]), float(out[1]), int(out[2]), int(out[3]), int(out[4]), int(out[5])
        size = path.stat().st_size
        pq_path = Path(tmp) / "walk.parquet"
        net.save(pq_path, source="benchmark lattice")
        t = time.perf_counter()
        WalkNetwork.load(pq_path)
        t_pq = time.perf_counter() - t
        pq_size = pq_path.stat().st_size
    print(
        f"[store] Parquet edge table: {pq_size / 1e6:.0f} MB ({pq_size / n:.0f} B a node), load {t_pq:.1f} s "
        f"(in this process)"
    )
    print(
        f"[store] {n:,} nodes, {len(u):,} edges: saved in {t_save:.1f} s ({size / 1e6:.0f} MB GeoPackage, "
        f"{size / n:.0f} B a node); load {t1:.1f} s, + CSR matrix and KD-tree {t2:.1f} s; arrays {nbytes / n:.0f} B "
        f"a node; process peak {r1 / 1024:.0f} MB ({(r1 - r0) / 1024:.0f} MB for the network) "
        f"-> goals <= 1 KB a node, < 2 GB, load < 10 s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, nargs="+", default=[100, 400, 1600, 6400])
    ap.add_argument("--layouts", nargs="+", default=["clustered", "uniform"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--grid", type=int, default=300)
    ap.add_argument(
        "--baseline-stations",
        type=int,
        default=None,
        help="time the per-station pipeline on this many stations and scale (default: all)",
    )
    ap.add_argument("--scale", type=int, default=1_210_000, help="nodes of the store test (0: skip)")
    args = ap.parse_args()
    print(
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; medians of "
        f"{args.runs} alternating runs"
    )
    if args.scale:
        store(args.scale)
    rng = np.random.default_rng(15)
    xy, u, v, length = street_grid(args.grid, rng)
    net = WalkNetwork.from_arrays(xy, u, v, length)
    g = to_networkx(xy, u, v, length)
    tree = cKDTree(xy)
    span = args.grid * 100.0
    cells = int(span / 100) + 2
    values = rng.gamma(0.5, 40.0, (cells, cells))
    integ = GridIntegrator.from_grid(values, Affine(100, 0, X0 - 100, 0, -100, Y0 - 100 + cells * 100))
    print(
        f"[network] {len(xy):,} nodes, {len(net.u):,} streets ({(length > np.hypot(*(xy[u] - xy[v]).T) + 1e-9).mean():.0%} "
        f"curved), walk {WALK:g} m, buffer {BUFFER:g} m"
    )
    for layout in args.layouts:
        for n_st in args.stations:
            pts = stations(n_st, args.grid, layout, rng)
            m = n_st if args.baseline_stations is None else min(args.baseline_stations, n_st)
            tf, t1, tb, c1, cb = [], [], [], [], []
            for _ in range(args.runs):
                t = time.perf_counter()
                area, info = walk_catchment(pts, net, WALK, walk_buffer=BUFFER)
                pop = integ.sum([area])[0]
                tf.append(time.perf_counter() - t)
                t, c = time.perf_counter(), time.process_time()
                area1, _ = walk_catchment(pts, net, WALK, walk_buffer=BUFFER, workers=1)
                integ.sum([area1])
                t1.append(time.perf_counter() - t)
                c1.append(time.process_time() - c)
                t, c = time.perf_counter(), time.process_time()
                base = itdp(g, pts[:m], xy, tree)
                base_pop = integ.sum([base])[0]
                tb.append((time.perf_counter() - t) * n_st / m)
                cb.append((time.process_time() - c) * n_st / m)
            f, f1, b = statistics.median(tf), statistics.median(t1), statistics.median(tb)
            cut = info["walked_km"]
            label = "" if m == n_st else f" (timed on {m}, scaled to {n_st})"
            same = ""
            if m == n_st:
                same = (
                    f"; same answer: area {area.area / 1e6:,.6f} vs {base.area / 1e6:,.6f} km² "
                    f"(diff {abs(area.area - base.area) / 1e6:.1e} km², {abs(area.area / base.area - 1):.1e} "
                    f"relative; symmetric difference {shapely.symmetric_difference(area, base).area:.1e} m²), "
                    f"persons {pop:,.3f} vs {base_pop:,.3f} ({abs(pop / base_pop - 1):.1e} relative)"
                )
            print(
                f"[{layout:9s} {n_st:>5}] tjspatial {f:.2f} s (1 thread {f1:.2f} s) | ITDP per station {b:.2f} s{label}"
                f" | speed-up {b / f:.1f}x, 1 thread {b / f1:.1f}x (goal >= 20x at 400); CPU time, 1 thread "
                f"{statistics.median(c1):.2f} vs {statistics.median(cb):.2f} s: "
                f"{statistics.median(cb) / statistics.median(c1):.1f}x | walked {cut:,.0f} km{same}"
            )


if __name__ == "__main__":
    main()
