"""Rail graph: edge times from chord length, speed and dwell; transfers; hubs; surfaces."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

import tjspatial as tj
from tjspatial.analysis.rail_network import RailGraph, dual_city_time, rail_graph
from tjspatial.analysis.surfaces import NODATA, distance_surface, isochrones, travel_time_surface
from tjspatial.errors import InputError


def test_constructed_graph_times_and_transfers():
    nodes = gpd.GeoDataFrame(
        {
            "node": [0, 1, 2, 3],
            "name_zh": ["A", "B", "B", "C"],
            "line_id": ["1", "1", "2", "2"],
            "mode": "metro",
            "status": "open",
            "accuracy": "osm",
        },
        geometry=shapely.points([[0, 0], [1000, 0], [1000, 50], [3000, 50]]),
        crs="EPSG:4548",
    )
    edges = pd.DataFrame(
        {
            "a": [0, 2, 1],
            "b": [1, 3, 2],
            "minutes": [2.0, 4.0, 5.5],
            "kind": ["ride", "ride", "transfer"],
            "km": [1, 2, 0.05],
            "line_id": ["1", "2", ""],
        }
    )
    g = RailGraph(nodes, edges)
    assert g.travel_time("A", "C") == pytest.approx(2.0 + 5.5 + 4.0)
    assert g.travel_time("A", "B") == pytest.approx(2.0)  # either node of B counts
    st = g.station_times("A").set_index("name_zh")["minutes"]
    assert st.to_dict() == pytest.approx({"A": 0.0, "B": 2.0, "C": 11.5})


def test_bundled_intercity_edges_follow_the_formula(built_gpkg):
    # hsr as slow as intercity, so that no change onto 津秦高铁 (天津–军粮城北) pays off
    g = rail_graph(
        built_gpkg,
        speeds={"intercity": 120.0, "hsr": 120.0},
        dwell_min={"intercity": 2.0},
        detour=1.0,
        line_speeds={"jingjin_intercity": 120.0, "jinqin_hsr": 120.0},
    )
    st = tj.to_metric(tj.load("rail_stations", built_gpkg))
    rail = st[(st["kind"] == "rail")].drop_duplicates("name_zh").set_index("name_zh").geometry
    names = ["天津", "军粮城北", "塘沽", "滨海"]
    expected = sum(shapely.distance(rail[a], rail[b]) / 1000 / 120 * 60 + 2.0 for a, b in zip(names, names[1:]))
    # 京津城际 天津 → 滨海 (nothing else reaches 滨海 faster at these speeds)
    assert g.travel_time("天津", "滨海") == pytest.approx(expected, rel=1e-9)
    assert g.params["speeds_kmh"]["intercity"] == 120.0
    # the 津城 ↔ 滨城 time is between the two hubs (天津站 metro + 天津 rail, 滨海 rail)
    assert dual_city_time(g) == pytest.approx(expected, rel=1e-9)
    # metro transfer at 西站 (lines 1, 4, 6 share one station)
    lines_at_xizhan = set(g.nodes.loc[g.nodes["name_zh"] == "西站", "line_id"])
    assert {"1", "6"} <= lines_at_xizhan
    assert len(g.edges[g.edges["kind"] == "transfer"]) > 20


def test_model_within_15_percent_of_every_timed_trip(built_gpkg):
    from tjspatial.analysis.rail_network import calibration

    cal = calibration(built_gpkg)
    assert len(cal) >= 8 and cal["source"].str.len().min() > 20
    assert (cal["url"].fillna("").str.startswith("http")).sum() >= 5  # five trips with a page to check
    about = cal[cal["bound"] == "about"]
    at_most = cal[cal["bound"] == "at most"]
    assert len(about) + len(at_most) == len(cal)
    assert (about["error"].abs() <= 0.15).all(), about[["trip_id", "published_min", "model_min"]]
    assert (at_most["model_min"] <= at_most["published_min"] * 1.15).all()
    assert (at_most["model_min"] >= at_most["published_min"] * 0.7).all()
    t = cal.set_index("trip_id")["model_min"]
    assert 52.8 / (t["m9_full"] / 60) == pytest.approx(55, abs=3)  # Line 9 ≈ 55 km/h commercial (was 30)
    assert t["jinqin_tianjin_binhaixi"] > 17  # was 13.6 min


def test_transfers_only_at_interchanges_or_within_a_walk(built_gpkg):
    g = rail_graph(built_gpkg)
    n, e = g.nodes, g.edges
    tr = e[e["kind"] == "transfer"]
    names = n["name_zh"].to_numpy()
    pairs = {frozenset((names[a], names[b])) for a, b in zip(tr["a"], tr["b"])}
    modes = n["mode"].to_numpy()
    tanggu = [(modes[a], modes[b]) for a, b in zip(tr["a"], tr["b"]) if names[a] == names[b] == "塘沽"]
    assert tanggu and all("metro" not in m for m in tanggu)  # 9号线 塘沽 ↔ railway station 塘沽 (1.76 km): no link
    assert frozenset(("天津站", "天津")) in pairs  # metro and railway station 136 m apart
    assert frozenset(("西站", "天津西")) in pairs
    walk = tr["km"].to_numpy() / g.params["walk_detour"] * 1000
    declared = tr[walk > g.params["transfer_radius_m"]]
    assert set(names[declared["a"]]) == set(names[declared["b"]])  # longer links only at declared interchanges
    # 天津站 → 东海路 rides Line 9 (was 64.3 min via a 27-minute "transfer" between the two 塘沽)
    assert g.travel_time("天津站", "东海路") < 60
    st = g.station_times("天津站")
    assert {"method", "params"} <= set(st.columns) and '"line_speeds_kmh"' in st["params"].iloc[0]


def test_dual_city_verdict_shows_its_sensitivity(built_gpkg):
    from tjspatial.analysis.rail_network import dual_city_sensitivity

    sens = dual_city_sensitivity(built_gpkg).set_index("case")
    base = dual_city_time(rail_graph(built_gpkg))
    assert sens.loc["model", "minutes"] == pytest.approx(base, abs=0.05)
    assert sens.loc["intercity/hsr +15 %", "minutes"] < base < sens.loc["intercity/hsr −15 %", "minutes"]
    assert len(sens) == 5 and not sens["within_target"].any()  # above 20 min under every case on the open network


def test_surfaces_and_isochrones(built_gpkg, tmp_path):
    g = rail_graph(built_gpkg)
    stations = tj.load("rail_stations", built_gpkg)
    ds = distance_surface(stations, path=built_gpkg)
    v = ds.values[ds.valid()]
    assert ds.transform.a == 100 and v.min() >= 0 and v.min() < 71  # a cell centre within 100/√2 m of a station
    # the cell holding 天津站 is at most half a diagonal from it
    p = tj.to_metric(stations[stations["name_zh"] == "天津站"]).geometry.iloc[0]
    col, row = ~ds.transform @ (p.x, p.y)
    assert ds.values[int(row), int(col)] <= 100 / np.sqrt(2) + 1e-6
    tt = travel_time_surface(g, "天津站", path=built_gpkg)
    assert tt.values[int(row), int(col)] < 2.0  # walk < 71 m at 4.8 km/h
    assert (tt.values[ds.valid()] >= 0).all() and (tt.values[~ds.valid()] == NODATA).all()
    out = tt.to_geotiff(tmp_path / "tt.tif")
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 4548 and src.res == (100.0, 100.0) and src.nodata == NODATA
        assert np.array_equal(src.read(1), tt.values)
    iso = isochrones(tt, (15, 30))
    assert iso["area_km2"].is_monotonic_increasing
    assert iso["area_km2"].iloc[0] == pytest.approx(((tt.values >= 0) & (tt.values <= 15)).sum() * 0.01, rel=1e-9)


def test_bad_parameters_are_refused(built_gpkg):
    with pytest.raises(InputError, match="speeds must be > 0"):
        rail_graph(built_gpkg, speeds={"metro": 0})
    with pytest.raises(InputError, match="scenario"):
        rail_graph(built_gpkg, scenario="2035")
