"""Buffer coverage on constructed cases (uniform population, one station) and on the bundled data."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine

import tjspatial as tj
from tjspatial.analysis.population import PopulationGrid

X0, Y0 = 500_000.0, 4_300_000.0


def _uniform(per_cell: float = 3.0) -> PopulationGrid:
    """20 km x 20 km of 100 m cells (EPSG:4548) with ``per_cell`` persons each."""
    values = np.full((200, 200), per_cell)
    return PopulationGrid(
        values=values,
        transform=Affine(100, 0, X0, 0, -100, Y0 + 20_000),
        crs="EPSG:4548",
        source="uniform test grid",
        year=2020,
        accuracy="modelled",
    )


def _stations(xy) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"kind": ["metro"] * len(xy), "status": ["open"] * len(xy)},
        geometry=gpd.points_from_xy(*np.asarray(xy, float).T),
        crs="EPSG:4548",
    )


REGION = gpd.GeoDataFrame(
    {"name_zh": ["测试区"]}, geometry=[shapely.box(X0 + 2000, Y0 + 3000, X0 + 12_000, Y0 + 11_000)], crs="EPSG:4548"
)


def test_one_station_share_is_circle_area_over_region_area():
    st = _stations([(X0 + 7_013.0, Y0 + 6_987.0)])
    res = tj.coverage(st, _uniform(), REGION, distance=800)
    row = res.iloc[0]
    circle = res.attrs["catchments"].geometry.iloc[0]
    region_area = 10_000 * 8_000
    assert row["pop_total"] == pytest.approx(3.0 * region_area / 1e4, rel=1e-12)
    assert row["pop_share"] == pytest.approx(circle.area / region_area, rel=1e-9)
    assert row["pop_share"] == pytest.approx(math.pi * 800**2 / region_area, rel=2e-3)
    assert row["area_km2"] == pytest.approx(80.0, rel=1e-12)
    assert row["area_share"] == pytest.approx(row["pop_share"], rel=1e-9)
    assert row["stations"] == 1
    assert res.attrs["method"] == "buffer" and res.attrs["distance_m"] == 800
    assert res.attrs["population_source"] == "uniform test grid" and res.attrs["population_year"] == 2020


def test_circle_cut_by_area_edge_and_station_outside():
    # a station 300 m outside the region's west edge: only the segment of the circle inside counts
    st = _stations([(X0 + 1_700.0, Y0 + 7_000.0)])
    res = tj.coverage(st, _uniform(), REGION, distance=800)
    seg = shapely.intersection(
        shapely.buffer(shapely.Point(X0 + 1_700, Y0 + 7_000), 800, quad_segs=16), REGION.geometry.iloc[0]
    )
    assert res["area_covered_km2"].iloc[0] == pytest.approx(seg.area / 1e6, rel=1e-12)
    assert res["pop_covered"].iloc[0] == pytest.approx(3.0 * seg.area / 1e4, rel=1e-9)
    assert res["stations"].iloc[0] == 0


def test_kind_and_status_filters():
    st = _stations([(X0 + 5_000.0, Y0 + 5_000.0), (X0 + 9_000.0, Y0 + 9_000.0)])
    st.loc[1, "kind"] = "rail"
    st.loc[1, "status"] = "planned"
    one = tj.coverage(st, _uniform(), REGION, distance=500, kind="metro")
    both = tj.coverage(st, _uniform(), REGION, distance=500)
    opened = tj.coverage(st, _uniform(), REGION, distance=500, status="open")
    assert one["stations"].iloc[0] == 1 and both["stations"].iloc[0] == 2
    assert both["pop_covered"].iloc[0] == pytest.approx(2 * one["pop_covered"].iloc[0], rel=1e-9)
    assert opened["pop_covered"].iloc[0] == pytest.approx(one["pop_covered"].iloc[0], rel=1e-12)
    with pytest.raises(ValueError, match="unknown station kind"):
        tj.coverage(st, _uniform(), REGION, kind="bus")


def test_scenario_delta_adds_the_new_station_exactly():
    pop = _uniform()
    existing = tj.coverage(_stations([(X0 + 4_000.0, Y0 + 5_000.0)]), pop, REGION, distance=800)
    scenario = tj.coverage(
        _stations([(X0 + 4_000.0, Y0 + 5_000.0), (X0 + 10_000.0, Y0 + 9_000.0)]), pop, REGION, distance=800
    )
    delta = tj.coverage_delta(existing, scenario)
    circle = shapely.buffer(shapely.Point(0, 0), 800, quad_segs=16).area
    assert delta["pop_covered_delta"].iloc[0] == pytest.approx(3.0 * circle / 1e4, rel=1e-9)
    assert delta["stations_delta"].iloc[0] == 1
    assert delta["pop_share_scenario"].iloc[0] == pytest.approx(2 * delta["pop_share_existing"].iloc[0], rel=1e-9)
    other = tj.coverage(_stations([(X0 + 4_000.0, Y0 + 5_000.0)]), pop, REGION, distance=500)
    with pytest.raises(ValueError, match="distance"):
        tj.coverage_delta(existing, other)


def test_bundled_metro_coverage_by_district(built_gpkg):
    pop = tj.population(path=built_gpkg)
    res = tj.coverage(None, pop, "districts", distance=800, kind="metro", path=built_gpkg)
    assert len(res) == 16 and list(res.columns[:3]) == ["area", "name_zh", "name_en"]
    row = res.set_index("area")
    stations = tj.load("rail_stations", built_gpkg)
    # every metro station inside Tianjin lies in exactly one district
    metro_in = stations[(stations["kind"] == "metro") & stations["inside_tianjin"]]
    assert row["stations"].sum() == len(metro_in)
    assert row.loc["和平区", "pop_share"] > 0.9  # the smallest central district is almost all covered
    assert row.loc["蓟州区", "stations"] == 0 and row.loc["蓟州区", "pop_covered"] == 0
    assert (row["pop_share"].between(0, 1)).all() and (row["area_share"].between(0, 1)).all()
    assert res.attrs["population_accuracy"] == "modelled"
    city = tj.coverage(None, pop, "boundary", distance=800, kind="metro", path=built_gpkg)
    assert city["pop_covered"].iloc[0] == pytest.approx(res["pop_covered"].sum(), rel=1e-3)


# ------------------------------------------------------------------------------------------- buffers and conflicts
def test_rings_partition_the_5km_buffer(built_gpkg):
    from tjspatial.analysis.zones import rings

    r = rings("wetlands", path=built_gpkg)
    wet = tj.to_metric(tj.load("wetlands", built_gpkg))
    assert len(r) == 3 * len(wet) and set(r["accuracy"]) == {"schematic"}
    for name, geom in zip(wet["name_zh"], wet.geometry):
        mine = r[r["name_zh"] == name]
        outer = shapely.buffer(geom, 5000, quad_segs=16)
        assert mine["area_km2"].sum() == pytest.approx((outer.area - geom.area) / 1e6, rel=1e-9)
        assert list(mine["to_km"]) == [1.0, 3.0, 5.0]


def test_rail_inside_zones_and_features_near(built_gpkg):
    from tjspatial.analysis.zones import features_near, rail_in_zones

    tab = rail_in_zones(path=built_gpkg, zones=["green_barrier"], lines=["intercity_rail"])
    ic = tj.to_metric(tj.load("intercity_rail", built_gpkg))
    gb = shapely.union_all(tj.to_metric(tj.load("green_barrier", built_gpkg)).geometry.values)
    expected = shapely.length(shapely.intersection(ic.geometry.values, gb)).sum() / 1000
    assert tab["km_inside"].sum() == pytest.approx(expected, rel=1e-9)  # barrier levels do not overlap
    near = features_near("rail_stations", "wetlands", 5.0, path=built_gpkg)
    st = tj.to_metric(tj.load("rail_stations", built_gpkg))
    wet = shapely.union_all(tj.to_metric(tj.load("wetlands", built_gpkg)).geometry.values)
    assert near["distance_km"].max() <= 5.0
    assert (near["distance_km"] == 0).sum() == int(shapely.intersects(st.geometry.values, wet).sum())


def test_dissolved_rings_around_the_barrier(built_gpkg):
    from tjspatial.analysis.zones import rings

    r = rings("green_barrier", path=built_gpkg, dissolve=True)
    gb = shapely.union_all(tj.to_metric(tj.load("green_barrier", built_gpkg)).geometry.values)
    assert len(r) == 3
    assert r["area_km2"].sum() == pytest.approx((shapely.buffer(gb, 5000, quad_segs=16).area - gb.area) / 1e6, rel=1e-9)
