"""Schematic plan layers: areas against the official figures, topology, status, plan references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

import tjspatial as tj
from tjspatial.crs import METRIC_CRS
from tjspatial.paths import sources_dir
from tjspatial.plan.refs import PLAN_REFS, clause_of
from tjspatial.plan.shapes import fit_area
from tjspatial.styles import all_styles

PLAN_LAYERS = [layer.id for layer in tj.get_catalog() if layer.catalog_file == "20_plan.toml"]


def metric(lid, gpkg):
    return tj.load(lid, gpkg).to_crs(METRIC_CRS)


@pytest.fixture(scope="module")
def plan_text() -> str:
    return (sources_dir() / "tianjin_14th_five_year_plan_2021.txt").read_text(encoding="utf-8")


def test_plan_layers_are_declared_schematic_with_styles():
    assert {
        "green_barrier",
        "wetlands",
        "eco_pattern",
        "port_districts",
        "planned_rail",
        "airport",
        "urban_clusters",
        "tourism",
    } <= set(PLAN_LAYERS)
    styles = all_styles()
    for lid in PLAN_LAYERS:
        layer = tj.get_catalog()[lid]
        assert layer.is_schematic and layer.accuracy_label == "示意 / schematic"
        assert "schematic" in layer.limitations
        assert styles[layer.style].dash is None  # dashes mean planned: status picks them (styles/cartography.json)


def test_every_feature_is_schematic_and_quotes_the_plan(built_gpkg, plan_text):
    for lid in PLAN_LAYERS:
        gdf = tj.load(lid, built_gpkg)
        assert (gdf["accuracy"] == "schematic").all(), lid
        for ref in gdf["plan_ref"]:
            assert ref.startswith("第") and "章" in ref, (lid, ref)
            clauses = clause_of(ref)
            assert clauses, (lid, ref)
            for clause in clauses:
                assert clause in plan_text, (lid, clause)
    assert all(clause in plan_text for _, clause in PLAN_REFS.values())


def test_wetland_areas_within_1_percent_and_inside_their_district(built_gpkg):
    wet = metric("wetlands", built_gpkg).set_index("name_zh")
    assert len(wet) == 4
    official = {"七里海": 277.3, "大黄堡": 112.0, "北大港": 348.87, "团泊": 62.7}
    for prefix, km2 in official.items():
        row = wet[wet.index.str.startswith(prefix)].iloc[0]
        assert row["area_official_km2"] == km2
        assert abs(row.geometry.area / 1e6 - km2) / km2 < 0.01, prefix
        assert row["area_km2"] == pytest.approx(row.geometry.area / 1e6, abs=1e-3)
    districts = metric("districts", built_gpkg).set_index("name_zh")
    expected = {"七里海": "宁河区", "大黄堡": "武清区", "北大港": "滨海新区", "团泊": "静海区"}
    for prefix, district in expected.items():
        row = wet[wet.index.str.startswith(prefix)].iloc[0]
        assert row["district_zh"] == district
        outside = row.geometry.difference(districts.loc[district].geometry).area
        assert outside < 1.0, (prefix, outside)  # m²


def test_green_barrier_areas_and_no_overlap_with_central_districts(built_gpkg):
    gb = metric("green_barrier", built_gpkg).set_index("level")
    assert list(gb.index) == [1, 2, 3]
    areas = gb.geometry.area / 1e6
    assert abs(areas[1] - 449.3) / 449.3 < 0.01
    assert abs(areas[2] - 148.7) / 148.7 < 0.01
    assert abs(areas.sum() - 736.0) / 736.0 < 0.01
    assert gb.loc[1, "area_official_km2"] == 449.3 and gb.loc[2, "area_official_km2"] == 148.7
    assert np.isnan(gb.loc[3, "area_official_km2"])  # 138.0 is derived, not a target
    d = metric("districts", built_gpkg)
    central = d[d["zone"] == "中心城区"].geometry.union_all()
    assert len(d[d["zone"] == "中心城区"]) == 6
    assert gb.geometry.union_all().intersection(central).area < 1.0  # m²
    # levels do not overlap each other, and ≈50 km N–S
    assert shapely.intersection(gb.loc[1].geometry, gb.loc[2].geometry).area < 1.0
    minx, miny, maxx, maxy = gb.geometry.union_all().bounds
    assert 45_000 < maxy - miny <= 50_001
    # the barrier keeps out of the wetlands and the airport
    assert gb.geometry.union_all().intersection(metric("wetlands", built_gpkg).geometry.union_all()).area < 1.0
    assert gb.geometry.union_all().intersection(metric("airport", built_gpkg).geometry.union_all()).area < 1.0


def test_port_districts_touch_the_coast_and_do_not_overlap(built_gpkg):
    ports = metric("port_districts", built_gpkg)
    assert sorted(ports["port_area"]) == ["beijiang", "dagang", "dagukou", "dongjiang", "gaoshaling", "nanjiang"]
    coast = metric("coastline", built_gpkg)
    edge = coast[coast["variant"] == "tianditu_derived"].geometry.union_all()
    assert (ports.distance(edge) < 1.0).all()
    d = metric("districts", built_gpkg)
    binhai = d[d["name_zh"] == "滨海新区"].geometry.union_all()
    assert (ports.geometry.difference(binhai).area < 1e4).all()  # on Binhai's land (≤ 1 ha of edge slack)
    geoms = list(ports.geometry)
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            assert geoms[i].intersection(geoms[j]).area < 1.0


def test_airport_in_dongli(built_gpkg):
    ap = metric("airport", built_gpkg)
    assert len(ap) == 1 and ap["iata"].item() == "TSN"
    d = metric("districts", built_gpkg).set_index("name_zh")
    assert ap.geometry.iloc[0].difference(d.loc["东丽区"].geometry).area < 1.0
    assert ap.geometry.iloc[0].area / 1e6 == pytest.approx(15.0, rel=0.01)


def test_planned_rail_status_and_real_station_ends(built_gpkg):
    pr = tj.load("planned_rail", built_gpkg)
    assert set(pr["status"]) == {"open", "under_construction", "planned"}
    status = pr.set_index("line_id")["status"]
    assert {k for k, v in status.items() if v == "open"} == {
        "M4",
        "M7",
        "M10",
        "M11",
        "Z4-north",
        "jingbin-north",
        "jingtang",
        "jinxing",
    }
    assert status["M8"] == status["B1"] == status["Z2"] == status["jinwei"] == "under_construction"
    assert (pr["status_as_of"] == "2026-11").all()
    # open parts drawn by a base layer copy its geometry exactly (so maps can drop them)
    metro = tj.load("metro_lines", built_gpkg).set_index("line_id")
    m7 = pr[pr.line_id == "M7"].geometry.iloc[0]
    assert (
        m7.equals_exact(metro.loc["7"].geometry, 1e-9)
        and pr.loc[pr.line_id == "M7", "base_layer"].item() == "metro_lines"
    )
    # every waypoint named without "≈" is a real station of rail_stations, within 1 m
    st = tj.load("rail_stations", built_gpkg).to_crs(METRIC_CRS)
    st = st[st["name_zh"] != ""]
    prm = pr.to_crs(METRIC_CRS)
    checked = 0
    for row in prm[prm["waypoints"] != ""].itertuples():
        coords = shapely.get_coordinates(row.geometry)
        labels = row.waypoints.split(";")
        assert len(coords) == len(labels)
        real = [(xy, lab) for xy, lab in zip(coords, labels) if not lab.endswith("≈")]
        if row.status != "open":
            assert real, f"{row.line_id} touches no real station"
        for xy, lab in real:
            cand = st[st["name_zh"] == lab]
            assert cand.distance(shapely.Point(xy)).min() < 1.0, (row.line_id, lab)
            checked += 1
        ends = [not labels[0].endswith("≈"), not labels[-1].endswith("≈")]
        assert row.ends_located == sum(ends)
    assert checked == 12


def test_urban_clusters_in_their_districts(built_gpkg):
    uc = tj.load("urban_clusters", built_gpkg).set_index("name_zh")
    assert len(uc) == 10
    assert uc.loc["智慧科技城", "district_zh"] == "西青区"
    assert uc.loc["国际航空城", "district_zh"] == "东丽区"
    assert uc.loc["医药活力城", "district_zh"] == "北辰区"
    assert uc.loc["科创会展城", "district_zh"] == "津南区"
    assert (uc[uc["city"] == "滨城"]["district_zh"] == "滨海新区").all()


def test_tourism_shoreline_and_haihe(built_gpkg):
    t = metric("tourism", built_gpkg).set_index("component", append=True)
    t = t.reset_index(level=1)
    assert sorted(t["component"]) == ["bay", "corridor", "corridor", "corridor", "shoreline"]
    shore = t[t["component"] == "shoreline"].geometry.iloc[0]
    assert abs(shore.length / 1000 - 45.0) / 45.0 < 0.01
    water = metric("water", built_gpkg)
    channel = water[water["water_class"] == "haihe_channel"].geometry.union_all()
    haihe = t[t["name_zh"] == "海河文化休闲廊"].geometry.iloc[0]
    d = shapely.distance(shapely.points(shapely.get_coordinates(haihe)), channel)
    assert d.max() < 1500, d


def test_fit_area_hits_the_target_and_refuses_the_unreachable():
    centre = shapely.Point(0, 0)
    geom, r = fit_area(lambda r: centre.buffer(r, quad_segs=64), 100.0, 1.0, 20_000.0, what="disc")
    assert abs(geom.area / 1e6 - 100.0) <= 0.2
    assert r == pytest.approx(np.sqrt(100e6 / np.pi), rel=0.002)
    with pytest.raises(ValueError, match="disc: target 5000"):
        fit_area(lambda r: centre.buffer(r), 5000.0, 1.0, 20_000.0, what="disc")


def test_plan_layers_are_reproducible(built_gpkg, tmp_path):
    again = tj.build(out=tmp_path / "again.gpkg", quiet=True, overrides={})
    for lid in PLAN_LAYERS:
        a, b = tj.load(lid, built_gpkg), tj.load(lid, again)
        assert len(a) == len(b)
        assert all(shapely.equals_exact(a.geometry.values, b.geometry.values, 0.0)), lid
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
