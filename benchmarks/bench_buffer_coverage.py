"""Buffer coverage at the limit (#15): tjspatial against plain geopandas + rasterio.mask and a KD-tree ideal.

Setting: the bundled Tianjin layers built into a temporary GeoPackage, the modelled population at **100 m**
cells (1,880 x 1,175 = 2.2 M cells, EPSG:4548), the 16 districts as areas, 800 m catchments, 400 and 4,000
stations placed inside the municipality either uniformly or clustered (70 % around the two city centres).

Methods, each timed ``--runs`` times (default 5) in alternation, medians reported:

``tjspatial``
    ``tj.coverage(stations, pop, districts)`` — union of 64-gons, per-area clipping (the catchment polygons),
    exact area-weighted population (boundary integration, :mod:`tjspatial.analysis.zonal`) including the
    bundled model's 29,497 split-cell pieces (census-exact district totals). *cold*: a fresh copy of the
    population surface (values and pieces copied), so its row prefix sums, the district totals and which
    pieces lie in which district are all computed inside the timed call (the areas being the model's own
    districts, matched by their WKB inside the call, each piece's district is the one the model cut it from,
    ``Pieces.district`` — no geometric search; the share of each piece's cell in its district is still
    computed from the district boundaries); *warm*: the surface's cache is
    filled (as for every call after the first in ``analyse``); *from the GeoTIFF*: ``tj.population(tif)``
    (read inside the timed call, float32, no pieces) then ``tj.coverage`` — the same input rasterio gets.
``previous``
    the same with the cell-by-cell exact fractions tjspatial used before (``PopulationGrid.zonal_sum``).
``rasterio.mask``
    what one writes with plain geopandas + rasterio: ``GeoSeries.buffer(800).union_all()``, ``areas.intersection``,
    then ``rasterio.mask.mask(dataset, [polygon]).sum()`` for every district and every covered part (cell-centre
    rule, so its numbers are approximate: their gap to the exact ones is printed). *cold*: the GeoTIFF is opened
    inside the timed call; also shown with the dataset kept open.
``KD-tree ideal``
    a ``cKDTree`` of the populated cell centres, ``query_ball_point(stations, 800)``, unique cells, a per-district
    bincount of a precomputed cell->district raster (no polygons at all; centre rule). Reported with and without
    the tree build.

``--clock cpu`` times with ``time.process_time`` (this process's CPU time), steadier than the default wall clock
on a machine other jobs load.

Run: ``python benchmarks/bench_buffer_coverage.py [--runs 5] [--stations 400 4000]``. Prints ratios; no goal is
asserted (the README quotes the ratios with machine and date).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
import rasterio.mask
import shapely
from rasterio.io import MemoryFile
from scipy.spatial import cKDTree

import tjspatial as tj
from tjspatial.analysis.coverage import coverage, resolve_areas
from tjspatial.analysis.grid import cell_centres
from tjspatial.analysis.population import PopulationGrid


def stations(boundary, n: int, layout: str, rng) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = boundary.bounds
    pts = np.empty((0, 2))
    while len(pts) < n:
        if layout == "uniform":
            xy = np.column_stack([rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)])
        else:  # 70 % around the central city and Binhai, 30 % spread out
            centres = tj.to_metric(
                gpd.GeoDataFrame(geometry=gpd.points_from_xy([117.20, 117.70], [39.13, 39.02]), crs="EPSG:4326")
            ).geometry
            c = shapely.get_coordinates(centres.values)
            k = rng.integers(0, 2, 4 * n)
            xy = c[k] + rng.normal(0, [9_000, 6_000], (4 * n, 2))
            spread = rng.random(4 * n) < 0.3
            xy[spread] = np.column_stack([rng.uniform(minx, maxx, spread.sum()), rng.uniform(miny, maxy, spread.sum())])
        ok = shapely.contains_xy(boundary, xy[:, 0], xy[:, 1])
        pts = np.vstack([pts, xy[ok]])
    pts = pts[:n]
    return gpd.GeoDataFrame(
        {"kind": ["metro"] * n, "status": ["open"] * n},
        geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]),
        crs="EPSG:4548",
    )


def previous(st, pop, ar, distance=800.0):
    """tjspatial before #15: the same polygons, population by cell-by-cell exact fractions."""
    catch = shapely.union_all(shapely.buffer(np.asarray(st.geometry.values), distance, quad_segs=16))
    geoms = np.asarray(ar.geometry.values)
    covered = shapely.intersection(geoms, catch)
    return pop.zonal_sum(geoms, crs="EPSG:4548"), pop.zonal_sum(covered, crs="EPSG:4548"), shapely.area(covered)


def plain_rasterio(st, ds, ar, distance=800.0):
    """The plain geopandas + rasterio way: buffer in the metric CRS, union, intersect, mask and sum."""
    catch = st.buffer(distance, quad_segs=16).union_all()
    covered = ar.geometry.intersection(catch)
    tot, cov = [], []
    for area, part in zip(ar.geometry.values, covered.values):
        tot.append(float(rasterio.mask.mask(ds, [area], crop=True, filled=False)[0].sum()))
        if part.is_empty:
            cov.append(0.0)
        else:
            cov.append(float(rasterio.mask.mask(ds, [part], crop=True, filled=False)[0].sum()))
    return np.array(tot), np.array(cov), covered.area.to_numpy()


def plain_rasterio_cold(st, tif, ar, distance=800.0):
    """:func:`plain_rasterio` from the GeoTIFF on disk: the file opened inside the call (no block cache)."""
    with rasterio.open(tif) as ds:
        return plain_rasterio(st, ds, ar, distance)


class KDIdeal:
    def __init__(self, pop: PopulationGrid, ar):
        x, y = cell_centres(pop.transform, pop.shape)
        self.zone = rasterio.features.rasterize(
            [(g, i) for i, g in enumerate(ar.geometry.values)],
            out_shape=pop.shape,
            transform=pop.transform,
            fill=-1,
            dtype="int32",
        )
        keep = pop.values > 0
        self.xy = np.column_stack([x[keep], y[keep]])
        self.v = pop.values[keep]
        self.z = self.zone[keep]
        self.n = len(ar)

    def build(self):
        return cKDTree(self.xy)

    def query(self, tree, st, distance=800.0):
        hits = tree.query_ball_point(shapely.get_coordinates(st.geometry.values), distance)
        cells = np.unique(np.concatenate([np.asarray(h, dtype=np.intp) for h in hits]))
        z = self.z[cells]
        ok = z >= 0
        return np.bincount(z[ok], weights=self.v[cells][ok], minlength=self.n)


def fresh(pop: PopulationGrid) -> PopulationGrid:
    """The same grid as a new object (values and split-cell pieces copied): nothing memoised for it yet."""
    pieces = pop.pieces
    if pieces is not None:
        pieces = dataclasses.replace(
            pieces,
            rows=pieces.rows.copy(),
            cols=pieces.cols.copy(),
            geoms=np.array(pieces.geoms, dtype=object),
            persons=pieces.persons.copy(),
            district=pieces.district.copy(),
            district_geoms=None if pieces.district_geoms is None else np.array(pieces.district_geoms, dtype=object),
            _tree=None,
        )
    return dataclasses.replace(pop, values=pop.values.copy(), pieces=pieces)


CLOCK = time.perf_counter


def timed(f, *a, **k):
    s = CLOCK()
    out = f(*a, **k)
    return CLOCK() - s, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--stations", type=int, nargs="+", default=[400, 4000])
    ap.add_argument("--layouts", nargs="+", default=["uniform", "clustered"])
    ap.add_argument("--cell", type=float, default=100.0)
    ap.add_argument("--gpkg", type=Path, default=None, help="a built GeoPackage to use (default: build one)")
    ap.add_argument("--previous-runs", type=int, default=1, help="runs of the slow previous method (0: skip)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    rng = np.random.default_rng(15)
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = args.gpkg or tj.build(out=Path(tmp) / "tianjin.gpkg", quiet=True)
        pop = tj.population(path=gpkg, cell=args.cell)
        ar = resolve_areas("districts", path=gpkg)
        tif = pop.to_geotiff(Path(tmp) / "population.tif")  # float32, as population rasters come
        _main(args, rng, pop, ar, tif)


def _main(args, rng, pop, ar, tif) -> None:
    boundary = shapely.union_all(ar.geometry.values)
    print(
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"grid {pop.shape[0]} x {pop.shape[1]} = {pop.values.size:,} cells of {args.cell:g} m, {len(ar)} districts, "
        f"800 m; medians of {args.runs} alternating runs, {args.clock} clock"
    )
    mf = MemoryFile()
    ds = mf.open(
        driver="GTiff",
        height=pop.shape[0],
        width=pop.shape[1],
        count=1,
        dtype="float64",
        crs=pop.crs,
        transform=pop.transform,
    )
    ds.write(pop.values, 1)
    kd = KDIdeal(pop, ar)
    coverage(stations(boundary, 10, "uniform", rng), pop, ar)  # warm imports and the grid's cache
    plain_rasterio_cold(stations(boundary, 10, "uniform", rng), tif, ar)
    tj.population(tif, window=None)  # the process's first PROJ transformer, as rasterio's side has had its GDAL set-up
    for layout in args.layouts:
        for n in args.stations:
            st = stations(boundary, n, layout, rng)
            keys = ("warm", "cold", "tif", "mask_warm", "mask", "kd_build", "kd_query", "previous")
            t = {k: [] for k in keys}
            for i in range(args.runs):
                dt, res = timed(coverage, st, pop, ar, distance=800)
                t["warm"].append(dt)
                p2 = fresh(pop)
                dt, cold = timed(coverage, st, p2, ar, distance=800)
                t["cold"].append(dt)
                dt, (mt, mc, _) = timed(plain_rasterio_cold, st, tif, ar)
                t["mask"].append(dt)
                dt, rtif = timed(lambda: coverage(st, tj.population(tif, window=None), ar, distance=800))
                t["tif"].append(dt)
                t["mask_warm"].append(timed(plain_rasterio, st, ds, ar)[0])
                dt, tree = timed(kd.build)
                t["kd_build"].append(dt)
                dt, kc = timed(kd.query, tree, st)
                t["kd_query"].append(dt)
                if i < args.previous_runs:
                    dt, (pt, pc, _) = timed(previous, st, pop, ar)
                    t["previous"].append(dt)
            m = {k: statistics.median(v) if v else float("nan") for k, v in t.items()}
            kd_full = statistics.median(np.add(t["kd_build"], t["kd_query"]))
            cov = res["pop_covered"].to_numpy()
            assert np.array_equal(cov, cold["pop_covered"].to_numpy())
            gap_prev = np.abs(cov - pc).max() if t["previous"] else float("nan")
            print(
                f"[{layout:9s} {n:>5} stations] tjspatial cold {m['cold']:.3f} s, warm {m['warm']:.3f} s, "
                f"from the GeoTIFF {m['tif']:.3f} s | rasterio.mask {m['mask']:.3f} s (dataset kept open: "
                f"{m['mask_warm']:.3f} s) | previous {m['previous']:.3f} s | KD-tree {m['kd_query']:.3f} s "
                f"(+ build {kd_full:.3f} s)"
            )
            print(
                f"    speed-up vs rasterio.mask (goal >= 2x): cold {m['mask'] / m['cold']:.1f}x, "
                f"GeoTIFF vs GeoTIFF {m['mask'] / m['tif']:.1f}x, warm vs dataset kept open "
                f"{m['mask_warm'] / m['warm']:.1f}x | time / KD-tree incl. build (goal <= 3x): cold "
                f"{m['cold'] / kd_full:.2f}x, GeoTIFF {m['tif'] / kd_full:.2f}x, warm {m['warm'] / kd_full:.2f}x; "
                f"without build: warm {m['warm'] / m['kd_query']:.1f}x | vs previous: cold "
                f"{m['previous'] / m['cold']:.1f}x"
            )
            tifcov = rtif["pop_covered"].to_numpy()
            print(
                f"    covered persons: tjspatial {cov.sum():,.0f} (previous: max gap {gap_prev:.2e} persons; from the "
                f"GeoTIFF, float32 and split cells counted whole: {(tifcov.sum() / cov.sum() - 1) * 100:+.4f} %), rasterio.mask {mc.sum():,.0f} "
                f"({(mc.sum() / cov.sum() - 1) * 100:+.2f} %), KD-tree {kc.sum():,.0f} "
                f"({(kc.sum() / cov.sum() - 1) * 100:+.2f} %)"
            )


if __name__ == "__main__":
    main()
