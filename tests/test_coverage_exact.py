"""Buffer/network coverage after the fast rewrite (#15) gives the outputs of the cell-by-cell method it replaced.

``tests/fixtures/coverage/reference.json`` holds the outputs of the previous implementation (per-cell exact
fractions, ``cell_fractions``) on a deterministic case built by :func:`reference_case`; it was written by
``tests/fixtures/coverage/capture_reference.py`` run against the code before the change.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine

import tjspatial as tj
from tjspatial.analysis.population import PopulationGrid

REFERENCE = Path(__file__).parent / "fixtures" / "coverage" / "reference.json"
X0, Y0 = 500_000.0, 4_300_000.0


def reference_case():
    """A 100 m grid (260 x 240 cells, deterministic uneven values), four areas (one with a hole, one a
    multipolygon, one reaching off the grid) and 160 stations (clusters, a line, some off the grid)."""
    rows, cols = 260, 240
    i, j = np.mgrid[0:rows, 0:cols]
    values = ((i * 7919 + j * 104729) % 97).astype(float) + 50.0 * np.exp(-((i - 120) ** 2 + (j - 90) ** 2) / 800.0)
    pop = PopulationGrid(
        values=values,
        transform=Affine(100, 0, X0, 0, -100, Y0 + rows * 100),
        crs="EPSG:4548",
        source="reference case",
        year=2020,
        accuracy="modelled",
    )
    a = shapely.Polygon(
        [
            (X0 + 1_230, Y0 + 2_170),
            (X0 + 11_870, Y0 + 1_530),
            (X0 + 13_310, Y0 + 9_990),
            (X0 + 6_123, Y0 + 12_777),
            (X0 + 2_001, Y0 + 8_555),
        ]
    )
    b = shapely.Polygon(
        shapely.box(X0 + 13_310, Y0 + 1_000, X0 + 22_950, Y0 + 11_050).exterior.coords,
        [shapely.Point(X0 + 18_000, Y0 + 6_000).buffer(2_345, quad_segs=8).exterior.coords[::-1]],
    )
    c = shapely.MultiPolygon(
        [
            shapely.box(X0 + 500, Y0 + 14_050, X0 + 9_950, Y0 + 22_020),
            shapely.Point(X0 + 16_000, Y0 + 19_000).buffer(3_210, quad_segs=12),
        ]
    )
    d = shapely.Polygon(
        [(X0 - 3_000, Y0 + 23_000), (X0 + 12_000, Y0 + 23_500), (X0 + 11_000, Y0 + 29_000), (X0 - 2_000, Y0 + 28_000)]
    )  # partly west of the grid
    areas = gpd.GeoDataFrame({"name_zh": ["甲", "乙", "丙", "丁"]}, geometry=[a, b, c, d], crs="EPSG:4548")
    k = np.arange(160)
    xs = X0 + np.where(
        k < 60,
        9_000 + 2_500 * np.cos(k * 2.399),
        np.where(k < 100, 1_000 + (k - 60) * 550.0, (k * 7_717.0) % 26_000 - 1_000),
    )
    ys = Y0 + np.where(
        k < 60,
        8_000 + 2_500 * np.sin(k * 2.399) * np.sqrt(k / 60),
        np.where(k < 100, 15_000 + (k - 60) * 123.0, (k * 3_331.0) % 27_000),
    )
    stations = gpd.GeoDataFrame(
        {"kind": ["metro"] * len(k), "status": ["open"] * len(k)}, geometry=gpd.points_from_xy(xs, ys), crs="EPSG:4548"
    )
    return pop, areas, stations


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


COLUMNS = ("pop_total", "pop_covered", "pop_share", "area_km2", "area_covered_km2", "stations")


def test_buffer_coverage_equals_the_previous_outputs():
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    pop, areas, stations = reference_case()
    for d in (500, 800, 1000):
        with (
            pytest.warns(UserWarning, match="1 area.s. reach beyond the population grid") if d == 500 else _no_warning()
        ):  # area 丁 reaches west of the grid: said once
            res = tj.coverage(stations, pop, areas, distance=d)
        exp = ref[f"buffer_{d}"]
        assert list(res["area"]) == exp["area"]
        for col in COLUMNS:
            assert np.asarray(res[col], float) == pytest.approx(np.asarray(exp[col], float), rel=1e-9, abs=1e-9), col
    # the covered population is far from trivial: every area partly covered, some cells cut
    assert 0.05 < min(exp["pop_share"]) and max(exp["pop_share"]) < 0.95


@pytest.mark.filterwarnings("ignore:coverage. 1 area")
def test_area_totals_are_computed_once_per_grid():
    from tjspatial.analysis.zonal import integrator_for

    pop, areas, stations = reference_case()
    tj.coverage(stations, pop, areas, distance=800)
    _, memo = integrator_for(pop)
    keys = [k for k in memo if k[0] == "area_totals"]
    assert len(keys) == 1
    memo[keys[0]][0][:] = 7.0  # a poisoned memo shows that the next call reuses it
    assert list(tj.coverage(stations, pop, areas, distance=500)["pop_total"]) == [7.0] * 4
    pop.values[0, 0] += 1.0  # changing the grid in place drops the memo
    res = tj.coverage(stations, pop, areas, distance=500)
    assert res["pop_total"].iloc[0] == pytest.approx(pop.zonal_sum(areas)[0], rel=1e-12)


@pytest.mark.filterwarnings("ignore:coverage. 1 area")
def test_area_totals_are_cached_on_the_surface_not_in_the_module():
    """#15: each population surface carries its own cache (no module-level state): a copy made with
    dataclasses.replace or a pickle starts empty, and a second surface does not see the first one's totals."""
    import dataclasses
    import pickle

    from tjspatial.analysis import zonal

    pop, areas, stations = reference_case()
    assert not [k for k, v in vars(zonal).items() if isinstance(v, dict) and not k.startswith("__")]
    tj.coverage(stations, pop, areas, distance=800)
    cache = zonal.surface_cache(pop)
    assert cache is zonal.surface_cache(pop)  # the same object on every call
    assert [k[0] for k in cache.memo] == ["area_totals"]
    other = dataclasses.replace(pop, values=pop.values * 2.0)
    assert zonal.surface_cache(other) is not cache and not zonal.surface_cache(other).memo
    res2 = tj.coverage(stations, other, areas, distance=800)
    res1 = tj.coverage(stations, pop, areas, distance=800)
    assert np.asarray(res2["pop_total"]) == pytest.approx(2 * np.asarray(res1["pop_total"]), rel=1e-12)
    clone = pickle.loads(pickle.dumps(pop))
    assert zonal.surface_cache(clone) is not cache and not zonal.surface_cache(clone).memo


def test_clip_catchment_equals_the_intersection():
    from tjspatial.analysis.coverage import buffer_catchment, clip_catchment

    _, areas, stations = reference_case()
    geoms = np.asarray(areas.geometry.values)
    catch = buffer_catchment(np.asarray(stations.geometry.values), 800)
    got = clip_catchment(geoms, catch)
    exp = shapely.intersection(geoms, catch)
    assert shapely.area(got) == pytest.approx(shapely.area(exp), rel=1e-12)
    assert (shapely.area(shapely.symmetric_difference(got, exp)) < 1e-6).all()
    assert set(shapely.get_type_id(got)) <= {3, 6} and shapely.is_valid(got).all()
    far = shapely.box(0, 0, 10, 10)  # an area the catchment misses: an empty polygon
    assert shapely.is_empty(clip_catchment(np.asarray([far]), catch)[0])


def test_pieces_in_areas_matches_brute_force_intersections():
    """Split cells whose pieces an area takes whole (one set of pieces fits its part of the cell), two halves of
    equal area (two sets fit: decided by interior points), pieces an area cuts (intersected), and cells wholly
    inside: every (area, piece) share equals area(piece ∩ area) / area(piece)."""
    from types import SimpleNamespace

    from tjspatial.analysis.zonal import GridIntegrator, pieces_in_areas

    integ = GridIntegrator.from_grid(np.ones((4, 4)), Affine(10, 0, 0, 0, -10, 40))
    cell = lambda r, c: shapely.box(c * 10, 30 - r * 10, c * 10 + 10, 40 - r * 10)  # noqa: E731
    geoms = [
        shapely.box(10, 20, 15, 30),  # cell (1, 1): left and right halves, equal areas
        shapely.box(15, 20, 20, 30),
        shapely.Polygon([(20, 0), (30, 0), (20, 10)]),  # cell (3, 2): two triangles of equal area
        shapely.Polygon([(30, 0), (30, 10), (20, 10)]),
        shapely.box(30, 30, 33, 40),  # cell (0, 3): three strips of unequal width
        shapely.box(33, 30, 37, 40),
        shapely.box(37, 30, 40, 40),
        cell(2, 0),  # a whole cell as one piece
    ]
    pieces = SimpleNamespace(
        geoms=np.asarray(geoms, dtype=object),
        rows=np.array([1, 1, 3, 3, 0, 0, 0, 2]),
        cols=np.array([1, 1, 2, 2, 3, 3, 3, 0]),
        persons=np.ones(8),
    )
    areas = np.asarray(
        [
            shapely.box(0, 0, 15, 40),  # follows the split of (1, 1): halves of equal area
            shapely.Polygon([(0, 0), (30, 0), (0, 30)]),  # follows the diagonal of (3, 2); holds (2, 0) whole
            shapely.box(33, 0, 40, 40),  # takes two strips of (0, 3) whole
            shapely.box(12.5, 5, 35.5, 36),  # cuts pieces
        ],
        dtype=object,
    )
    gi, pi, share, cshare = pieces_in_areas(integ, pieces, areas)
    got = np.zeros((len(areas), len(geoms)))
    got[gi, pi] = share
    exp = np.array([[shapely.intersection(p, a).area / p.area for p in geoms] for a in areas])
    assert got == pytest.approx(exp, abs=1e-12)
    assert (exp[:3] % 1 == 0).all() and exp[3].min() < 1 and ((exp[3] > 0) & (exp[3] < 1)).sum() >= 4
    cells = np.array(
        [
            [shapely.intersection(cell(r, c), areas[g]).area / 100]
            for g, r, c in zip(gi, pieces.rows[pi], pieces.cols[pi])
        ]
    ).ravel()
    assert cshare == pytest.approx(cells, abs=1e-12)


def test_integrator_on_constructed_polygons():
    from tjspatial.analysis.zonal import GridIntegrator

    values = np.arange(12, dtype=float).reshape(3, 4)  # 3 rows x 4 cols of 10 m cells
    integ = GridIntegrator.from_grid(values, Affine(10, 0, 0, 0, -10, 30))
    whole = shapely.box(0, 0, 40, 30)
    cell_11 = shapely.box(10, 10, 20, 20)  # row 1, col 1 -> value 5
    half = shapely.box(15, 10, 20, 20)
    quarter_cw = shapely.Polygon([(30, 0), (30, 5), (35, 5), (35, 0)])  # clockwise, row 2 col 3 -> 11 / 4
    holed = shapely.Polygon(whole.exterior.coords, [cell_11.exterior.coords])
    off_grid = shapely.box(-100, 0, 5, 10)  # reaches far west of the grid: half of cell (2, 0)
    tri = shapely.Polygon([(0, 30), (40, 30), (0, 0)])  # the diagonal cuts cells into exact triangles
    got = integ.sum(
        [
            whole,
            cell_11,
            half,
            quarter_cw,
            holed,
            off_grid,
            tri,
            shapely.Polygon(),
            shapely.LineString([(0, 0), (5, 5)]),
            shapely.MultiPolygon([cell_11, half.buffer(0)]),
        ]
    )
    exp_tri = sum(values[r, c] * _frac_tri(r, c) for r in range(3) for c in range(4))
    assert got == pytest.approx([66, 5, 2.5, 11 / 4, 61, 8 / 2, exp_tri, 0, 0, 7.5], rel=1e-12)
    pop = PopulationGrid(values=values, transform=Affine(10, 0, 0, 0, -10, 30), crs="EPSG:4548", source="t")
    assert got[6] == pytest.approx(pop.zonal_sum([tri], crs="EPSG:4548")[0], rel=1e-12)
    south_up = GridIntegrator.from_grid(values[::-1], Affine(10, 0, 0, 0, 10, 0))
    assert south_up.sum([tri, quarter_cw]) == pytest.approx([exp_tri, 11 / 4], rel=1e-12)


def _frac_tri(r: int, c: int) -> float:
    """Share of cell (row r, col c) of the 4 x 3 grid above the line from (0, 0) to (40, 30) (exact)."""
    cell = shapely.box(c * 10, 30 - (r + 1) * 10, (c + 1) * 10, 30 - r * 10)
    return shapely.intersection(cell, shapely.Polygon([(0, 30), (40, 30), (0, 0)])).area / 100


def test_bundled_coverage_matches_cell_by_cell_sums(built_gpkg):
    """The bundled model keeps split cells as per-district pieces: areas aligned with the districts, the whole
    city, and boxes that cut through pieces all give the cell-by-cell sums of PopulationGrid.zonal_sum."""
    pop = tj.population(path=built_gpkg)
    d = tj.to_metric(tj.load("districts", built_gpkg))
    x0, y0, x1, y1 = d.total_bounds
    boxes = gpd.GeoDataFrame(
        {"name_zh": ["a", "b", "c"]},
        crs="EPSG:4548",
        geometry=[
            shapely.box(x0 + 30_000.3, y0 + 60_000.7, x0 + 75_000.1, y0 + 110_000.9),
            shapely.Point((x0 + x1) / 2, (y0 + y1) / 2).buffer(23_456.7),
            shapely.box(x1 - 40_000.2, y0, x1, y0 + 80_000.4),
        ],
    )
    for areas in ("districts", "boundary", boxes):
        res = tj.coverage(None, pop, areas, distance=800, path=built_gpkg)
        cat = res.attrs["catchments"]
        ar = tj.to_metric(tj.load(areas, built_gpkg)) if isinstance(areas, str) else areas
        assert np.asarray(res["pop_covered"]) == pytest.approx(pop.zonal_sum(cat), rel=1e-9, abs=1e-6)
        assert np.asarray(res["pop_total"]) == pytest.approx(pop.zonal_sum(ar), rel=1e-9, abs=1e-6)
        assert res["pop_covered"].sum() > 1e5


def test_sparse_and_dense_station_sets_give_the_union_of_circles():
    from tjspatial.analysis.coverage import buffer_catchment

    k = np.arange(300)
    sparse = shapely.points(X0 + (k * 7_717.0) % 60_000, Y0 + (k * 3_331.0) % 50_000)  # ~0.5 neighbours each
    dense = shapely.points(X0 + (k * 77.0) % 3_000, Y0 + (k * 31.0) % 2_000)  # all overlap
    for pts in (sparse, dense):
        got = buffer_catchment(pts, 800)
        exp = shapely.union_all(shapely.buffer(pts, 800, quad_segs=16))
        assert got.area == pytest.approx(exp.area, rel=1e-12)
        assert shapely.symmetric_difference(got, exp).area < 1e-6


@pytest.mark.filterwarnings("ignore:coverage. 1 area")
def test_coverage_at_chengdu_measures_in_its_own_zone():
    """Stations and areas west of Tianjin's zone are measured in theirs (EPSG:4544 at Chengdu): the catchment of
    one station is a true 800 m circle on the ground (geodesic area), not the 785 m one of a fixed CM 117E."""
    from pyproj import Geod

    lon, lat = 104.0657, 30.6595
    st = gpd.GeoDataFrame({"kind": ["metro"], "status": ["open"]}, geometry=[shapely.Point(lon, lat)], crs=4326)
    region = gpd.GeoDataFrame(
        {"name_zh": ["成都测试区"]}, geometry=[shapely.box(lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05)], crs=4326
    )
    c = tj.to_metric(st).geometry.iloc[0]
    pop = PopulationGrid(
        values=np.full((100, 100), 5.0),
        transform=Affine(100, 0, c.x - 5_000, 0, -100, c.y + 5_000),
        crs="EPSG:4544",
        source="uniform",
        year=2020,
    )
    res = tj.coverage(st, pop, region, distance=800)
    cat = res.attrs["catchments"]
    assert cat.crs.to_epsg() == 4544
    ground = abs(Geod(ellps="GRS80").geometry_area_perimeter(cat.to_crs(4326).geometry.iloc[0])[0])
    polygon_share = 64 / (2 * np.pi) * np.sin(2 * np.pi / 64)  # 64-gon / circle
    assert ground == pytest.approx(np.pi * 800**2 * polygon_share, rel=5e-4)
    assert res["pop_covered"].iloc[0] == pytest.approx(5.0 * cat.area.iloc[0] / 1e4, rel=1e-9)


def test_national_raster_is_read_in_a_float32_window_around_the_study_area(built_gpkg, tmp_path):
    import rasterio
    from tjspatial.errors import InputError

    # a 'national' raster: 0.05 degree cells over 100-125E, 30-45N, persons varying with position
    rows, cols = 300, 500
    i, j = np.mgrid[0:rows, 0:cols]
    values = (1000 + 7 * i + 3 * j).astype("float32")
    path = tmp_path / "national.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=rows,
        width=cols,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=Affine(0.05, 0, 100, 0, -0.05, 45),
        nodata=-1,
    ) as dst:
        dst.write(values, 1)
    pop = tj.population(path, path=built_gpkg)
    whole = tj.population(path, path=built_gpkg, window=None)
    assert pop.values.dtype == np.float32 and whole.values.shape == (rows, cols)
    assert pop.values.size < 0.01 * whole.values.size and "window: layer 'boundary' + 5 km" in pop.description
    # the window lies where the whole raster has the same numbers
    r0, c0 = rasterio.transform.rowcol(whole.transform, pop.transform.c + 0.01, pop.transform.f - 0.01)
    assert np.array_equal(pop.values, whole.values[r0 : r0 + pop.shape[0], c0 : c0 + pop.shape[1]])
    a = tj.coverage(None, pop, "districts", distance=800, path=built_gpkg)
    b = tj.coverage(None, whole, "districts", distance=800, path=built_gpkg)
    assert np.asarray(a["pop_covered"]) == pytest.approx(np.asarray(b["pop_covered"]), rel=1e-9)
    assert np.asarray(a["pop_total"]) == pytest.approx(np.asarray(b["pop_total"]), rel=1e-9)
    assert a["pop_total"].sum() > 0
    # areas beyond the window are counted as far as the grid reaches, with a warning
    far = gpd.GeoDataFrame({"name_zh": ["成都"]}, geometry=[shapely.box(103.9, 30.5, 104.2, 30.8)], crs=4326)
    with pytest.warns(UserWarning, match="beyond the population grid"):
        assert tj.coverage(None, pop, far, path=built_gpkg)["pop_total"].iloc[0] == 0
    with pytest.raises(InputError, match="does not overlap the study area"):
        tj.population(path, path=built_gpkg, window=(10.0, 50.0, 11.0, 51.0))


def test_districts_take_their_pieces_from_the_model(built_gpkg):
    """#15: over the model's own districts (the default areas) each split-cell piece is taken in the district it
    was cut from, without locating it geometrically; the coverage equals the geometric matching's (used for any
    other areas) to 1e-12, and pop_total is each district's census total."""
    import dataclasses

    from tjspatial.analysis import zonal

    pop = tj.population(path=built_gpkg)
    districts = tj.load("districts", built_gpkg)
    stations = tj.load("rail_stations", built_gpkg)
    plain = dataclasses.replace(pop, pieces=dataclasses.replace(pop.pieces, district_geoms=None, _tree=None))
    for d in (500, 800):
        fast = tj.coverage(stations, pop, "districts", distance=d, path=built_gpkg)
        slow = tj.coverage(stations, plain, "districts", distance=d, path=built_gpkg)
        for col in ("pop_total", "pop_covered", "pop_share", "area_covered_km2"):
            assert np.asarray(fast[col]) == pytest.approx(np.asarray(slow[col]), rel=1e-12, abs=0), col
    assert np.asarray(fast["pop_total"]) == pytest.approx(districts["pop_2020"].to_numpy(float), abs=1e-6)
    assert fast["pop_covered"].sum() > 1e6
    # the geometric matching ran only for the copy without the district polygons
    assert ("piece_moments",) not in zonal.surface_cache(pop).memo
    assert ("piece_moments",) in zonal.surface_cache(plain).memo
    # areas that are not the model's districts (moved by 1 mm) take the geometric matching
    moved = tj.to_metric(districts)
    moved["geometry"] = moved.geometry.translate(0.001, 0)
    tj.coverage(stations, pop, moved, distance=800, path=built_gpkg)
    assert ("piece_moments",) in zonal.surface_cache(pop).memo


def test_prefix_sums_are_the_row_cumsum_bit_for_bit():
    """Tall grids get their row prefix sums column by column (column-major): the same additions in the same order
    as numpy's row cumsum, for float64 and float32 values, with the cells of split-cell pieces counting zero."""
    from tjspatial.analysis.zonal import _COLUMN_SWEEP_ROWS, GridIntegrator

    rng = np.random.default_rng(5)
    t = Affine(100, 0, X0, 0, -100, Y0)
    for rows, dtype in ((_COLUMN_SWEEP_ROWS + 37, np.float64), (_COLUMN_SWEEP_ROWS + 1, np.float32), (40, np.float64)):
        values = (rng.random((rows, 83)) * 1e3).astype(dtype)
        zero = (rng.integers(0, rows, 50), rng.integers(0, 83, 50))
        exp = values.astype(np.float64)
        exp[zero] = 0.0
        got = GridIntegrator.from_grid(values, t, zero=zero).prefix
        assert np.array_equal(got, np.cumsum(exp, axis=1))


def test_areas_are_matched_to_the_model_districts_by_their_polygons():
    """_own_districts maps each area to the district polygon it is (same WKB), in any order and for a subset;
    an area that is no district, or one district given twice, leaves the pieces to the geometric matching."""
    import importlib
    from types import SimpleNamespace

    own = importlib.import_module("tjspatial.analysis.coverage")._own_districts
    d = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(0, 10, 20, 20)]
    pieces = SimpleNamespace(district_geoms=np.asarray(d, dtype=object))
    wkb = lambda gs: shapely.to_wkb(np.asarray(gs, dtype=object))  # noqa: E731
    assert own(pieces, wkb([d[2], d[0], d[1]])).tolist() == [1, 2, 0]
    assert own(pieces, wkb([d[1]])).tolist() == [-1, 0, -1]
    assert own(pieces, wkb([d[0], shapely.box(0, 0, 10, 10.5)])) is None
    assert own(pieces, wkb([d[0], d[0]])) is None
    assert own(SimpleNamespace(district_geoms=None), wkb(d)) is None


def test_large_station_sets_are_unioned_in_two_groups_with_the_same_parts(monkeypatch):
    """#15: 64 stations or more that split into two sets whose circles cannot touch are unioned on two threads;
    the parts are those of one disjoint-subset union over all circles, bit for bit, and so is each area's
    covered part."""
    import importlib

    cov = importlib.import_module("tjspatial.analysis.coverage")
    monkeypatch.setattr(cov.os, "cpu_count", lambda: 2)
    k = np.arange(240)
    xs = X0 + np.where(k % 3 == 0, 4_000, 18_000) + 3_000 * np.cos(k * 2.399) * np.sqrt(k / 240)
    ys = Y0 + 9_000 + 3_000 * np.sin(k * 2.399) * np.sqrt(k / 240)
    pts = shapely.points(
        np.where(k % 17 == 0, X0 + (k * 7_717.0) % 26_000, xs), np.where(k % 17 == 0, Y0 + (k * 3_331.0) % 27_000, ys)
    )
    groups = cov._separate_groups(pts, 800)
    assert groups is not None and min(map(len, groups)) >= 30
    xy = shapely.get_coordinates(pts)
    gap = np.hypot(*(xy[groups[0]][:, None, :] - xy[groups[1]][None, :, :]).transpose(2, 0, 1))
    assert gap.min() > 1_600  # no circle of one group touches one of the other
    split = cov.buffer_catchment(pts, 800)
    whole = shapely.disjoint_subset_union_all(shapely.buffer(pts, 800, quad_segs=16))
    assert sorted(shapely.to_wkb(shapely.get_parts(split))) == sorted(shapely.to_wkb(shapely.get_parts(whole)))
    _, areas, _ = reference_case()
    geoms = np.asarray(areas.geometry.values)
    got, exp = cov.clip_catchment(geoms, split), cov.clip_catchment(geoms, whole)
    assert [shapely.normalize(g).wkb for g in got] == [shapely.normalize(g).wkb for g in exp]
    dense = shapely.points(X0 + (k * 77.0) % 3_000, Y0 + (k * 31.0) % 2_000)  # one group of circles: no split
    assert cov._separate_groups(dense, 800) is None
