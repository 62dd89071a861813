"""Benchmarks of rail coverage (not timed tests).

1. Buffer coverage: 400 stations over a 1.2-million-cell population grid (1,100 x 1,100 cells of 100 m,
   EPSG:4548), 16 areas — goal under 2 s end to end (circles, union, per-area intersection, zonal sums).
2. Network coverage (ITDP walk catchments) for 400 stations on a ~500,000-node synthetic street grid (100 m
   blocks), walks up to 1 km, partial edges, 100 m street buffer, holes < 2 ha filled, population summed —
   tjspatial's vectorised way against the straightforward per-station way (networkx Dijkstra, then a shapely
   buffer and union per station, as ITDP's code does), side by side on the same graph and grid.
   Goal: at least 10x faster.

Run: python benchmarks/bench_coverage.py [--stations 400] [--grid 708] [--baseline-stations N]
(``--baseline-stations`` times the straightforward way on the first N stations only and scales it up; by default
it runs on all of them, which takes a while.)
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from affine import Affine

from tjspatial.analysis.coverage import coverage
from tjspatial.analysis.network_coverage import DEFAULT_MAX_HOLE_M2, WalkNetwork, fill_holes, walk_catchment
from tjspatial.analysis.population import PopulationGrid

X0, Y0 = 450_000.0, 4_250_000.0


def _stations(rng, n: int, span: float, margin: float) -> np.ndarray:
    """Half the stations clustered in a central 20 km square, half spread out (like a city and its towns)."""
    half = n // 2
    centre = X0 + span / 2, Y0 + span / 2
    a = rng.uniform(-10_000, 10_000, (half, 2)) + centre
    b = rng.uniform(margin, span - margin, (n - half, 2)) + (X0, Y0)
    return np.vstack([a, b])


def bench_buffer(n_stations: int, rng) -> float:
    cells = 1100
    values = rng.gamma(0.5, 40.0, (cells, cells))
    pop = PopulationGrid(
        values=values,
        transform=Affine(100, 0, X0, 0, -100, Y0 + cells * 100),
        crs="EPSG:4548",
        source="synthetic",
        year=2020,
    )
    span = cells * 100.0
    q = span / 4
    areas = gpd.GeoDataFrame(
        {"name_zh": [f"area{i}{j}" for i in range(4) for j in range(4)]},
        geometry=[
            shapely.box(X0 + i * q, Y0 + j * q, X0 + (i + 1) * q, Y0 + (j + 1) * q) for i in range(4) for j in range(4)
        ],
        crs="EPSG:4548",
    )
    xy = _stations(rng, n_stations, span, 2_000)
    st = gpd.GeoDataFrame(
        {"kind": ["metro"] * len(xy), "status": ["open"] * len(xy)}, geometry=gpd.points_from_xy(*xy.T), crs="EPSG:4548"
    )
    coverage(st.iloc[:5], pop, areas, distance=800)  # warm up imports
    times = []
    for _ in range(3):
        t = time.perf_counter()
        res = coverage(st, pop, areas, distance=800)
        times.append(time.perf_counter() - t)
    best = min(times)
    print(
        f"[buffer] {n_stations} stations, {cells * cells:,} cells, 16 areas: best {best:.2f} s of 3 "
        f"(covered {res['pop_covered'].sum():,.0f} of {res['pop_total'].sum():,.0f} persons); goal < 2 s -> "
        f"{'met' if best < 2 else 'NOT met'} (goal / time = {2 / best:.1f}x)"
    )
    return best


def grid_graph(n: int, spacing: float = 100.0) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs="EPSG:4548")
    idx = np.arange(n * n).reshape(n, n)
    ii, jj = np.divmod(np.arange(n * n), n)
    g.add_nodes_from((int(k), {"x": X0 + j * spacing, "y": Y0 + i * spacing}) for k, i, j in zip(idx.ravel(), ii, jj))
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    g.add_edges_from((int(a), int(b), {"length": spacing}) for a, b in zip(u, v))
    g.add_edges_from((int(b), int(a), {"length": spacing}) for a, b in zip(u, v))
    return g


def straightforward(g: nx.MultiDiGraph, xy: np.ndarray, nodes_xy: np.ndarray, distance: float, buffer_m: float):
    """The per-station way: networkx Dijkstra, cut edges, shapely buffer + union per station, then union."""
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(nodes_xy).query(xy)
    per_station = []
    for node in nearest:
        dist = nx.single_source_dijkstra_path_length(g, int(node), cutoff=distance, weight="length")
        lines = []
        for a, da in dist.items():
            pa = nodes_xy[a]
            for b, data in g[a].items():
                L = data[0]["length"]
                pb = nodes_xy[b]
                ra = distance - da
                if b in dist:
                    if a > b:
                        continue  # each walked edge once
                    rb = distance - dist[b]
                    if ra + rb >= L:
                        lines.append(shapely.LineString([pa, pb]))
                        continue
                    if rb > 0:
                        lines.append(shapely.LineString([pb, pb + (pa - pb) * rb / L]))
                if ra > 0:
                    lines.append(shapely.LineString([pa, pa + (pb - pa) * min(ra, L) / L]))
        per_station.append(shapely.unary_union([ln.buffer(buffer_m, quad_segs=4) for ln in lines]))
    return fill_holes(shapely.unary_union(per_station), DEFAULT_MAX_HOLE_M2)


def bench_network(n_stations: int, n: int, baseline_stations: int | None, rng) -> None:
    t = time.perf_counter()
    g = grid_graph(n)
    t_graph = time.perf_counter() - t
    t = time.perf_counter()
    net = WalkNetwork.from_graph(g)
    t_conv = time.perf_counter() - t
    span = (n - 1) * 100.0
    values = rng.gamma(0.5, 40.0, (n, n))
    pop = PopulationGrid(
        values=values,
        transform=Affine(100, 0, X0 - 50, 0, -100, Y0 - 50 + n * 100),
        crs="EPSG:4548",
        source="synthetic",
        year=2020,
    )
    xy = _stations(rng, n_stations, span, 1_500)
    print(
        f"[network] grid graph {n}x{n} = {g.number_of_nodes():,} nodes, {g.number_of_edges():,} directed edges "
        f"(networkx build {t_graph:.1f} s; conversion to arrays, once per graph: {t_conv:.1f} s)"
    )

    t = time.perf_counter()
    area, info = walk_catchment(xy, net, 1000.0)
    fast_pop = pop.zonal_sum(np.array([area], dtype=object), crs="EPSG:4548")[0]
    t_fast = time.perf_counter() - t
    print(
        f"[network] tjspatial: {n_stations} stations in {t_fast:.2f} s ({t_fast / n_stations * 1000:.1f} ms a station); "
        f"catchment {area.area / 1e6:,.1f} km², {fast_pop:,.0f} persons, walked {info['walked_km']:,.0f} km"
    )

    m = n_stations if baseline_stations is None else min(baseline_stations, n_stations)
    nodes_xy = net.xy
    t = time.perf_counter()
    base_area = straightforward(g, xy[:m], nodes_xy, 1000.0, 100.0)
    base_pop = pop.zonal_sum(np.array([base_area], dtype=object), crs="EPSG:4548")[0]
    t_base = (time.perf_counter() - t) * n_stations / m
    label = "" if m == n_stations else f" (measured on {m}, scaled to {n_stations})"
    print(f"[network] straightforward: {t_base:.2f} s{label} ({t_base / n_stations * 1000:.1f} ms a station)")
    if m == n_stations:
        print(
            f"[network] same answer: catchment areas {area.area / 1e6:,.3f} vs {base_area.area / 1e6:,.3f} km², "
            f"persons {fast_pop:,.0f} vs {base_pop:,.0f}"
        )
    ratio = t_base / t_fast
    print(f"[network] speed-up {ratio:.1f}x; goal >= 10x -> {'met' if ratio >= 10 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=400)
    ap.add_argument("--grid", type=int, default=708, help="nodes per side of the street grid (708² ≈ 501,000)")
    ap.add_argument("--baseline-stations", type=int, default=None)
    ap.add_argument("--skip-network", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(42)
    bench_buffer(args.stations, rng)
    if not args.skip_network:
        bench_network(args.stations, args.grid, args.baseline_stations, rng)


if __name__ == "__main__":
    main()
