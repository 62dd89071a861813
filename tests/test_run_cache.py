"""The run's memo (tjspatial.analysis.context.RunCache): cached results are the very numbers the uncached
functions compute, and each thing is computed once per run (#12/#15)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine

from tjspatial.analysis.context import RunCache, geometry_key, memo
from tjspatial.analysis.coverage import coverage
from tjspatial.analysis.population import PopulationGrid, model_population, population_variants
from tjspatial.analysis.rail_network import dual_city_sensitivity, rail_graph
from tjspatial.analysis.surfaces import distance_surface, travel_time_surface
from tjspatial.analysis.uncertainty import add_range
from tjspatial.errors import InputError


def test_memo_computes_once_per_key():
    cache, calls = RunCache(), []
    assert memo(cache, ("x", 1), lambda: calls.append(1) or 41) == 41
    assert memo(cache, ("x", 1), lambda: calls.append(1) or 99) == 41  # stored, not recomputed
    assert memo(cache, ("x", 2), lambda: 7) == 7 and memo(None, ("x", 1), lambda: 5) == 5
    assert calls == [1] and cache.hits["x"] == 1 and cache.misses["x"] == 2 and len(cache) == 2
    a = np.asarray([shapely.box(0, 0, 1, 1)], dtype=object)
    assert geometry_key(a, "EPSG:4548") == geometry_key(a.copy(), "EPSG:4548") != geometry_key(a, "EPSG:4326")


def _grid(values, seed):
    return PopulationGrid(
        values=np.asarray(values, dtype=float),
        transform=Affine(100.0, 0.0, 500_000.0, 0.0, -100.0, 4_301_000.0),
        crs="EPSG:4548",
        source=f"test surface {seed}",
        year=2020,
    )


def test_add_range_with_the_cache_equals_the_uncached_sums():
    # a 10 x 10 grid of 100 m cells, two areas and their catchments (circles that cut cells)
    rng = np.random.default_rng(3)
    surfaces = {f"s{i}": _grid(rng.integers(0, 50, size=(10, 10)), i) for i in range(3)}
    areas = gpd.GeoDataFrame(
        {"name_zh": ["西", "东"]},
        geometry=[
            shapely.box(500_000, 4_300_000, 500_450, 4_301_000),
            shapely.box(500_450, 4_300_000, 501_000, 4_301_000),
        ],
        crs="EPSG:4548",
    )
    stations = gpd.GeoDataFrame(
        {"kind": ["metro", "rail"]},
        geometry=[shapely.Point(500_300, 4_300_420), shapely.Point(500_710, 4_300_660)],
        crs="EPSG:4548",
    )
    res = coverage(stations, surfaces["s0"], areas, distance=230)
    plain = add_range(res, surfaces, areas=areas, label="s0")
    cache = RunCache()
    first = add_range(res, surfaces, areas=areas, label="s0", cache=cache)
    again = add_range(res, surfaces, areas=areas, label="s0", cache=cache)
    pd.testing.assert_frame_equal(first, plain, check_exact=True)
    pd.testing.assert_frame_equal(again, plain, check_exact=True)
    assert cache.misses["area_weights"] == 1 and cache.hits["area_weights"] == 1  # one set of weights per layout
    # the numbers themselves: a share is covered persons / persons of the area on that surface
    w = surfaces["s1"].zonal_weights(areas)
    c = surfaces["s1"].zonal_weights(res.attrs["catchments"])
    want = (c @ surfaces["s1"].vector()) / (w @ surfaces["s1"].vector())
    np.testing.assert_array_equal(plain["share_s1"].to_numpy(), want)
    assert ((plain["pop_share_min"] <= plain["share_s2"]) & (plain["share_s2"] <= plain["pop_share_max"])).all()
    with pytest.raises(InputError, match="catchments"):
        add_range(pd.DataFrame({"pop_share": [0.5]}), surfaces)


def test_population_model_and_variants_built_once_and_equal(built_gpkg):
    cache = RunCache()
    model = model_population(path=built_gpkg, cell=1000.0, cache=cache)
    variants = population_variants(built_gpkg, cell=1000.0, variants=("model", "cores_wide"), cache=cache)
    assert variants["model"] is model and cache.misses["population_units"] == 1
    plain = population_variants(built_gpkg, cell=1000.0, variants=("model", "cores_wide"))
    for name, grid in plain.items():
        np.testing.assert_array_equal(variants[name].values, grid.values)
        np.testing.assert_array_equal(variants[name].pieces.persons, grid.pieces.persons)
    assert variants["cores_wide"].same_layout(model)  # one set of zonal weights serves both
    assert model.total == pytest.approx(plain["model"].district_totals().sum())


def test_rail_graphs_share_located_stations_and_equal_the_uncached_ones(built_gpkg):
    cache = RunCache()
    g = rail_graph(built_gpkg, cache=cache)
    assert rail_graph(built_gpkg, cache=cache) is g and cache.hits["rail_graph"] == 1
    plan = rail_graph(built_gpkg, scenario="plan", cache=cache)
    assert cache.misses["rail_inputs"] == 1 and cache.hits["rail_inputs"] == 1
    for cached, plain in ((g, rail_graph(built_gpkg)), (plan, rail_graph(built_gpkg, scenario="plan"))):
        pd.testing.assert_frame_equal(cached.edges, plain.edges, check_exact=True)
        assert cached.nodes.geometry.geom_equals_exact(plain.nodes.geometry, tolerance=0).all()
        assert cached.params_json() == plain.params_json()
    sens = dual_city_sensitivity(built_gpkg, cache=cache)
    pd.testing.assert_frame_equal(sens, dual_city_sensitivity(built_gpkg), check_exact=True)
    assert cache.hits["rail_graph"] == 2  # the sensitivity's model case is the open graph above


def test_surfaces_share_frame_and_nearest_stations(built_gpkg):
    cache = RunCache()
    g = rail_graph(built_gpkg, cache=cache)
    for hub in ("天津站", "滨海"):  # a small surface: 2 km cells
        cached = travel_time_surface(g, hub, path=built_gpkg, cell=2000.0, cache=cache)
        plain = travel_time_surface(g, hub, path=built_gpkg, cell=2000.0)
        np.testing.assert_array_equal(cached.values, plain.values)
        assert cached.transform == plain.transform and cached.description == plain.description
    assert cache.hits["nearest_stations"] == 1 and cache.misses["surface_frame"] == 1
    st = gpd.read_file(built_gpkg, layer="rail_stations")
    d = distance_surface(st, path=built_gpkg, cell=2000.0, cache=cache)
    np.testing.assert_array_equal(d.values, distance_surface(st, path=built_gpkg, cell=2000.0).values)
    assert cache.hits["surface_frame"] == 2


def test_memo_is_thread_safe_one_computation_per_key():
    import threading
    import time

    cache, calls = RunCache(), []

    def slow():
        calls.append(1)
        time.sleep(0.05)
        return 42

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(("slow",), slow))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [42] * 4 and calls == [1] and cache.hits["slow"] == 3


@pytest.mark.filterwarnings("ignore:coverage.*beyond the population grid")
def test_coverage_with_the_cache_resolves_areas_and_stations_once(built_gpkg):
    from tjspatial.analysis.stations import station_set

    pop = _grid(np.ones((5, 5)), 0)  # a tiny grid: only the areas and stations matter here
    metro = station_set("metro", built_gpkg)
    cache = RunCache()
    for stations in (None, metro):
        for d in (500, 800):
            cached = coverage(stations, pop, "zones", distance=d, path=built_gpkg, cache=cache)
            plain = coverage(stations, pop, "zones", distance=d, path=built_gpkg)
            pd.testing.assert_frame_equal(cached, plain, check_exact=True)
    assert cache.misses["coverage_areas"] == 1 and cache.hits["coverage_areas"] == 3
    assert cache.misses["coverage_stations"] == 2 and cache.hits["coverage_stations"] == 2
