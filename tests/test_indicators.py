"""Plan indicators: values from the layers, honest statuses; tj.analyse writes its tables and rasters."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

import tjspatial as tj
from tjspatial.analysis.indicators import COLUMNS, STATUSES, forest_cover

MODIS = Path(__file__).resolve().parents[1] / "layers" / "sources" / "landcover_modis_2019_igbp.tif"


@pytest.fixture(scope="module")
def table(built_gpkg):
    return tj.indicators(built_gpkg, landcover=MODIS).set_index("key")


def test_columns_and_statuses(table):
    assert list(table.reset_index().columns) == COLUMNS
    assert set(table["status"]) <= set(STATUSES)
    assert (table["note"].str.len() > 20).all() and (table["plan_ref"] != "").all()


def test_values_come_from_the_layers(table, built_gpkg):
    barrier = tj.to_metric(tj.load("green_barrier", built_gpkg))
    assert table.loc["barrier_area", "value"] == pytest.approx(barrier.area.sum() / 1e6, abs=0.01)
    # metro: every open line's official length (Z4 included, 394.0 km), a baseline with no target, never "met"
    assert table.loc["metro_km_vs_2020", "value"] == pytest.approx(394.0, abs=0.01)
    assert table.loc["metro_km_vs_2020", "status"] == "baseline / no target"
    assert "Z4" in table.loc["metro_km_vs_2020", "note"]
    # rail: shared chords once (津保/津兴, 京津城际延伸/津秦: 43.6 km), 京滨城际 north section included
    from tjspatial.analysis.indicators import rail_km

    rk = rail_km(built_gpkg)
    assert "jingbin_intercity" in rk["lines"] and rk["shared_km"] == pytest.approx(43.6, abs=0.5)
    assert table.loc["hsr_km_2025", "value"] == pytest.approx(rk["km"], abs=0.01)
    assert table.loc["hsr_km_2025", "value"] == pytest.approx(rk["km_sum"] - rk["shared_km"], abs=0.01)
    # every row says how it was measured
    assert (table["method"].str.len() > 10).all()
    # the coverage row carries its range over the population variants and the station snapshot date
    note = table.loc["metro_coverage_key_areas", "note"]
    assert "range over the population model and its variants" in note and "2025-02" in note


def test_notes_are_words_not_python_literals(table):
    text = " ".join(table["note"].astype(str)) + " " + " ".join(table["method"].astype(str))
    assert not re.search(r"[{}]|\[\d|'\w+':", text)
    assert (
        "share of IGBP classes 1–5 (forests) in landcover_modis_2019_igbp.tif"
        in table.loc["barrier_level1_forest_cover", "note"]
    )


def test_a_row_without_a_target_is_never_met(table):
    for key, row in table.iterrows():
        if row["status"] in ("met", "not met"):
            assert str(row["target"]).strip() and "status" not in str(row["target"]), key
    assert "met" not in set(table["status"])


def test_no_status_is_guessed(table):
    # schematic layers, chord lengths, missing layers and a 5 km raster never decide a target
    for key in (
        "hsr_km_2025",
        "expressway_km_2025",
        "barrier_area",
        "natural_coastline_km",
        "public_shoreline_km",
        "metro_coverage_key_areas",
        "barrier_level1_forest_cover",
    ):
        assert table.loc[key, "status"] == "not measurable", key
    assert "too coarse" in table.loc["barrier_level1_forest_cover", "note"]
    assert table.loc["hsr_km_2025", "value"] < 470
    # 20-minute link: the named line Z2 is not open, and the modelled time is above 20 minutes
    assert table.loc["dual_city_rail_minutes", "status"] == "not met"
    assert table.loc["dual_city_rail_minutes", "value"] > 20


def test_forest_cover_weights_partial_cells(tmp_path):
    # 2 x 2 cells of 1 km: forest (1) in the left column, cropland (12) on the right
    arr = np.array([[1, 12], [1, 12]], dtype="uint8")
    path = tmp_path / "lc.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=2,
        width=2,
        count=1,
        dtype="uint8",
        crs="EPSG:4548",
        transform=Affine(1000, 0, 500_000, 0, -1000, 4_302_000),
    ) as dst:
        dst.write(arr, 1)
    zone = gpd.GeoDataFrame(geometry=[shapely.box(500_250, 4_300_000, 501_750, 4_302_000)], crs="EPSG:4548")
    share, cell = forest_cover(path, zone)
    assert share == pytest.approx(750 / 1500) and cell == 1000
    zone2 = gpd.GeoDataFrame(geometry=[shapely.box(500_500, 4_300_000, 501_000, 4_301_000)], crs="EPSG:4548")
    assert forest_cover(path, zone2)[0] == pytest.approx(1.0)


def test_analyse_writes_tables_and_rasters(built_gpkg, tmp_path, monkeypatch):
    pop = tj.population(path=built_gpkg)
    # a 2 km x 2 km street grid (100 m blocks) centred on 天津站, as an osmnx-style graph in EPSG:4548
    st = tj.to_metric(tj.load("rail_stations", built_gpkg))
    c = st[st["name_zh"] == "天津站"].geometry.iloc[0]
    g = nx.MultiDiGraph(crs="EPSG:4548")
    for i in range(21):
        for j in range(21):
            g.add_node((i, j), x=c.x - 1000 + 100 * j, y=c.y - 1000 + 100 * i)
            for di, dj in ((0, 1), (1, 0)):
                if i + di < 21 and j + dj < 21:
                    g.add_edge((i, j), (i + di, j + dj), length=100.0)
    # one read per layer, one listing, one rail graph per scenario (#12)
    import pyogrio
    from tjspatial.analysis import rail_network

    reads, lists, graphs = [], [], []
    real_read, real_list, real_graph = pyogrio.read_dataframe, pyogrio.list_layers, rail_network.rail_graph
    monkeypatch.setattr(
        pyogrio, "read_dataframe", lambda p, layer=None, **kw: reads.append(layer) or real_read(p, layer=layer, **kw)
    )
    monkeypatch.setattr(pyogrio, "list_layers", lambda p, *a, **kw: lists.append(p) or real_list(p, *a, **kw))
    monkeypatch.setattr("tjspatial.analysis.run.rail_graph", lambda *a, **kw: graphs.append(kw) or real_graph(*a, **kw))
    sens_calls, real_sens = [], rail_network.dual_city_sensitivity
    for where in (
        "tjspatial.analysis.run.dual_city_sensitivity",
        "tjspatial.analysis.rail_network.dual_city_sensitivity",
    ):
        monkeypatch.setattr(where, lambda *a, **kw: sens_calls.append(a) or real_sens(*a, **kw))
    # each graph built once (#15): open, plan and the 4 changed-assumption cases (the model case is the open
    # graph), all from one set of located stations
    builds, located = [], []
    real_build, real_inputs = rail_network._build_graph, rail_network._rail_inputs
    monkeypatch.setattr(rail_network, "_build_graph", lambda *a: builds.append(a[1]) or real_build(*a))
    monkeypatch.setattr(rail_network, "_rail_inputs", lambda *a: located.append(a) or real_inputs(*a))
    written = tj.analyse(built_gpkg, tmp_path, population=pop, distances=(800,), graph=g)
    assert sorted(reads) == sorted(set(reads)) and "rail_stations" in reads and len(lists) == 1
    assert [{k: v for k, v in kw.items() if k != "cache"} for kw in graphs] == [{}, {"scenario": "plan"}]
    assert len(sens_calls) == 1 and builds == ["open", "plan"] + ["open"] * 4 and len(located) == 1
    for key in (
        "coverage",
        "coverage_delta",
        "indicators",
        "rail_times",
        "dual_city",
        "distance_to_station",
        "travel_time_tianjin",
        "isochrones",
        "wetland_rings",
        "rail_in_zones",
        "near_wetlands",
    ):
        assert written[key].is_file() and written[key].parent == tmp_path, key
    assert not list(tmp_path.glob("*.tmp-*")) and not list(tmp_path.glob(".*tmp-*"))
    tables = [p for p in written.values() if p.suffix == ".csv"]
    assert len(tables) >= 10 and all(p.read_bytes()[:3] == b"\xef\xbb\xbf" for p in tables)  # UTF-8 BOM (Excel)
    cov = pd.read_csv(written["coverage"], encoding="utf-8-sig")
    d = cov[(cov["areas"] == "districts") & (cov["kind"] == "all") & (cov["method"] == "buffer")]
    assert len(d) == 16 and (d["distance_m"] == 800).all()
    assert d["pop_total"].sum() == pytest.approx(pop.total, rel=5e-3)
    assert set(cov["population_accuracy"]) == {"modelled"}
    # station sets by a declared rule, the snapshot date on every row, the range over the population variants
    assert set(cov["station_set"]) == {"all", "passenger", "metro"}
    assert cov["station_snapshot"].str.contains("2025-02").all() and cov["station_rule"].str.len().min() > 10
    b = cov[(cov["areas"] == "boundary") & (cov["method"] == "buffer")].set_index("kind")
    assert (b["pop_share_min"] <= b["pop_share"] + 1e-12).all() and (b["pop_share"] <= b["pop_share_max"] + 1e-12).all()
    assert b.loc["passenger", "stations"] < b.loc["all", "stations"]
    assert b.loc["all", "pop_share_max"] - b.loc["all", "pop_share_min"] > 0.01  # the model drives the share
    dual = pd.read_csv(written["dual_city"], encoding="utf-8-sig")
    assert len(dual) == 6 and dual["method"].str.contains("calibrated").all()
    assert {"method", "params"} <= set(pd.read_csv(written["rail_times"], encoding="utf-8-sig").columns)
    net = cov[cov["method"] == "network"]
    assert len(net) == 32 and net["pop_covered"].sum() > 0
    # the walk catchment never exceeds the 800 m circles of the same stations
    circ = cov[(cov["method"] == "buffer") & (cov["areas"] == "districts") & cov["kind"].isin(["all", "metro"])]
    circ = circ.set_index(["area", "kind"])
    assert (net.set_index(["area", "kind"])["pop_covered"] <= circ["pop_covered"] + 1e-6).all()
    assert written["isochrones_gpkg"].is_file()
    delta = pd.read_csv(written["coverage_delta"], encoding="utf-8-sig")
    assert delta["station_snapshot"].str.contains("2025-02").all()
    assert (delta["pop_covered_delta"] >= -1e-6).all() and delta["stations_delta"].sum() > 0
    with rasterio.open(written["distance_to_station"]) as src:
        assert src.crs.to_epsg() == 4548 and src.res == (100.0, 100.0)
