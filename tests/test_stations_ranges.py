"""Station sets by a declared rule, their snapshot date, and coverage ranges over the population variants."""

from __future__ import annotations

import numpy as np
import pytest

import tjspatial as tj
from tjspatial.analysis.stations import NOT_IN_SERVICE, STATION_SETS, station_set, station_snapshot
from tjspatial.analysis.uncertainty import add_range, coverage_range
from tjspatial.errors import InputError


def test_station_sets_follow_the_declared_rule(built_gpkg):
    layer = tj.load("rail_stations", built_gpkg)
    sets = {name: station_set(name, built_gpkg) for name in STATION_SETS}
    assert len(sets["all"]) == len(layer) == 341
    assert len(sets["metro"]) == 218 and len(sets["tram"]) == 32
    rail = sets["rail_passenger"]
    assert len(rail) == 28 and (rail["name_zh"] != "").all() and not rail["name_zh"].isin(NOT_IN_SERVICE).any()
    assert len(sets["passenger"]) == 218 + 28  # the 62 unnamed railway nodes and the tram stops are left out
    for gdf in sets.values():
        assert gdf.attrs["station_snapshot"] == "OSM extract 2025-02 (bundled, OMap-GeoDB)"
        assert gdf.attrs["station_rule"]
    assert station_snapshot(built_gpkg).startswith("OSM extract 2025-02")
    with pytest.raises(InputError, match="unknown station set 'bus'"):
        station_set("bus", built_gpkg)


def test_coverage_range_over_the_population_variants(built_gpkg):
    from tjspatial.analysis.population import population_variants

    surfaces = population_variants(built_gpkg)
    res = coverage_range(station_set("passenger", built_gpkg), "dual_city", 800, surfaces=surfaces, path=built_gpkg)
    cols = [f"share_{n}" for n in surfaces]
    assert set(cols) <= set(res.columns)
    assert np.allclose(res["pop_share_min"], res[cols].min(axis=1)) and np.allclose(
        res["pop_share_max"], res[cols].max(axis=1)
    )
    # each variant's share equals a plain coverage() run over that surface
    one = tj.coverage(station_set("passenger", built_gpkg), surfaces["cores_wide"], "dual_city", 800, path=built_gpkg)
    assert np.allclose(res["share_cores_wide"], one["pop_share"], rtol=1e-9)
    bin_ = res.set_index("area").loc["滨城"]
    assert bin_["pop_share_min"] < bin_["pop_share"] <= bin_["pop_share_max"]
    assert bin_["pop_share_max"] - bin_["pop_share_min"] > 0.03  # Binhai's share is driven by the model
    assert "not a confidence interval" in res.attrs["range_note"]
    bare = res.copy()
    bare.attrs = {}
    with pytest.raises(InputError, match="no attrs"):
        add_range(bare, surfaces)


def test_coverage_map_table_shows_the_range_and_the_station_date(built_gpkg):
    from tjspatial.publish.site import _coverage_panel, coverage_table

    table, _ = coverage_table(built_gpkg)
    b = table.set_index("name_zh").loc["滨海新区"]
    assert b["pop_share_min_pct"] <= b["pop_share_pct"] <= b["pop_share_max_pct"]
    assert b["pop_share_max_pct"] - b["pop_share_min_pct"] > 3
    html = _coverage_panel(table)
    assert "模型区间 range %" in html and "OSM extract 2025-02" in html
    assert f"{b['pop_share_min_pct']:.1f}–{b['pop_share_max_pct']:.1f}" in html


def test_every_coverage_result_carries_the_station_snapshot(built_gpkg):
    res = tj.coverage(None, None, "dual_city", 800, path=built_gpkg)
    assert res.attrs["station_snapshot"].startswith("OSM extract 2025-02")
    res = tj.coverage(station_set("passenger", built_gpkg), None, "dual_city", 800, path=built_gpkg)
    assert res.attrs["station_set"] == "passenger" and "named railway" in res.attrs["station_rule"]
