"""``tjspatial diff``: per-layer added / removed / changed features and count, length and area changes."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import tjspatial as tj
from tjspatial.build import read_table, write_gpkg_atomic
from tjspatial.cli import main
from tjspatial.crs import METRIC_CRS
from tjspatial.diff import diff_gpkg, diff_layer


def km(g: gpd.GeoSeries) -> float:
    return g.to_crs(METRIC_CRS).length.sum() / 1e3


def km2(g: gpd.GeoSeries) -> float:
    return g.to_crs(METRIC_CRS).area.sum() / 1e6


@pytest.fixture(scope="module")
def changed_gpkg(built_gpkg, tmp_path_factory):
    """The bundled GeoPackage with known edits: districts (和平区 removed, 河东区 population +1, 河西区
    enlarged), metro line 2 removed and line 3 shortened, one station added; every other layer unchanged."""
    layers = {layer.id: tj.load(layer.id, built_gpkg) for layer in tj.get_catalog()}
    d = layers["districts"].copy()
    d = d[d["name_zh"] != "和平区"].reset_index(drop=True)
    d.loc[d["name_zh"] == "河东区", "pop_2020"] += 1
    i = d.index[d["name_zh"] == "河西区"][0]
    d.loc[i, "geometry"] = shapely.affinity.scale(d.loc[i, "geometry"], 1.1, 1.1)
    layers["districts"] = d
    m = layers["metro_lines"].copy()
    m = m[m["line_id"] != "2"].reset_index(drop=True)
    j = m.index[m["line_id"] == "3"][0]
    coords = shapely.get_coordinates(m.loc[j, "geometry"])
    m.loc[j, "geometry"] = shapely.LineString(coords[:-1])
    layers["metro_lines"] = m
    s = layers["rail_stations"]
    new = s.iloc[[0]].copy()
    new["station_id"], new["name_zh"] = "osm_new_0001", "新站"
    new["geometry"] = [shapely.Point(117.3, 39.2)]
    layers["rail_stations"] = pd.concat([s, new], ignore_index=True)
    out = tmp_path_factory.mktemp("diff") / "new.gpkg"
    tables = {"provenance": read_table(built_gpkg, "provenance"), "catalog": read_table(built_gpkg, "catalog")}
    write_gpkg_atomic(out, {k: gpd.GeoDataFrame(v, geometry="geometry", crs=4326) for k, v in layers.items()}, tables)
    return out


def test_diff_counts_per_layer(built_gpkg, changed_gpkg):
    df = diff_gpkg(built_gpkg, changed_gpkg).set_index("layer")
    assert list(df.index) == tj.get_catalog().ids
    d = df.loc["districts"]
    assert (d["count_old"], d["count_new"], d["count_change"]) == (16, 15, -1)
    assert (d["added"], d["removed"], d["changed"], d["unchanged"]) == (0, 1, 2, 13)
    assert d["key"] == "adcode"
    m = df.loc["metro_lines"]
    assert (m["added"], m["removed"], m["changed"], m["count_change"]) == (0, 1, 1, -1)
    s = df.loc["rail_stations"]
    assert (s["added"], s["removed"], s["changed"], s["count_change"]) == (1, 0, 0, 1)
    same = df[~df.index.isin(["districts", "metro_lines", "rail_stations"])]
    assert (same["status"] == "same").all() and (same[["added", "removed", "changed"]] == 0).all().all()
    assert (df.loc[["districts", "metro_lines", "rail_stations"], "status"] == "changed").all()


def test_diff_lengths_and_areas(built_gpkg, changed_gpkg):
    df = diff_gpkg(built_gpkg, changed_gpkg, layers=["districts", "metro_lines", "rail_stations"]).set_index("layer")
    old_d, new_d = tj.load("districts", built_gpkg), tj.load("districts", changed_gpkg)
    assert df.loc["districts", "area_km2_old"] == pytest.approx(km2(old_d.geometry), rel=1e-9)
    assert df.loc["districts", "area_km2_change"] == pytest.approx(km2(new_d.geometry) - km2(old_d.geometry), rel=1e-9)
    # removing 和平区 and enlarging 河西区 by 1.1 × 1.1: the change is (1.21 − 1) 河西 − 和平, to within projection
    hexi = km2(old_d[old_d.name_zh == "河西区"].geometry)
    heping = km2(old_d[old_d.name_zh == "和平区"].geometry)
    assert df.loc["districts", "area_km2_change"] == pytest.approx(0.21 * hexi - heping, rel=0.01)
    old_m = tj.load("metro_lines", built_gpkg).set_index("line_id")
    new_m = tj.load("metro_lines", changed_gpkg).set_index("line_id")
    line2 = km(old_m.loc[["2"]].geometry)
    cut3 = km(old_m.loc[["3"]].geometry) - km(new_m.loc[["3"]].geometry)
    assert cut3 > 0
    assert df.loc["metro_lines", "length_km_change"] == pytest.approx(-(line2 + cut3), rel=1e-9)
    assert pd.isna(df.loc["districts", "length_km_old"]) and pd.isna(df.loc["metro_lines", "area_km2_old"])
    assert pd.isna(df.loc["rail_stations", "length_km_change"])


def test_diff_layer_lists_the_features(built_gpkg, changed_gpkg):
    d = diff_layer(built_gpkg, changed_gpkg, "districts").set_index("name_zh")
    assert d.loc["和平区", "change"] == "removed"
    assert d.loc["河东区", "change"] == "changed" and d.loc["河东区", "what"] == "pop_2020"
    assert d.loc["河西区", "change"] == "changed" and d.loc["河西区", "what"] == "geometry"
    assert len(d) == 3
    st = diff_layer(built_gpkg, changed_gpkg, "rail_stations")
    assert st["change"].tolist() == ["added"] and st["key"].tolist() == ["osm_new_0001"]


def test_identical_files_have_no_change(built_gpkg):
    df = diff_gpkg(built_gpkg, built_gpkg)
    assert (df["status"] == "same").all() and (df["count_change"] == 0).all()
    assert df["length_km_change"].fillna(0).eq(0).all() and df["area_km2_change"].fillna(0).eq(0).all()


def test_diff_cli(built_gpkg, changed_gpkg, capsys):
    assert main(["diff", str(built_gpkg), str(changed_gpkg), "--layers", "districts,metro_lines", "--features"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("districts "))
    assert "16→15" in line and "changed" in line
    assert "removed  和平区" in out or "removed  120101" in out
    assert main(["diff", str(built_gpkg), str(changed_gpkg), "--csv"]) == 0
    csv = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out)).set_index("layer")
    assert csv.loc["districts", "removed"] == 1
    assert main(["diff", str(built_gpkg), "/nonexistent.gpkg"]) == 2
    assert "no GeoPackage at /nonexistent.gpkg" in capsys.readouterr().err


def test_ids_of_different_sources_fall_back_to_names():
    from tjspatial.diff import match_key

    pts = gpd.GeoSeries(shapely.points([(117.2, 39.1), (117.3, 39.2), (117.4, 39.3)]), crs=4326)
    old = gpd.GeoDataFrame(
        {"name_zh": ["天津", "天津西", ""], "station_id": ["osm_st_0001", "osm_st_0002", "osm_st_0003"]}, geometry=pts
    )
    new = gpd.GeoDataFrame(
        {"name_zh": ["天津", "天津西", ""], "station_id": ["osm_n1", "osm_n2", "osm_n3"]}, geometry=pts
    )
    a, b, how = match_key(old, new, ["name_zh", "station_id"])
    assert how.startswith("name_zh")
    assert a.tolist() == ["天津", "天津西", "@117.4000,39.3000"] and a.tolist() == b.tolist()
    same_ids = new.assign(station_id=old["station_id"])
    assert match_key(old, same_ids, ["name_zh", "station_id"])[2] == "station_id"


def test_diff_details_old_new_values_and_geometry_change(built_gpkg, changed_gpkg):
    d = diff_layer(built_gpkg, changed_gpkg, "districts").set_index("name_zh")
    assert d.loc["河东区", "details"] == "pop_2020: 858787 → 858788"
    hexi = d.loc["河西区"]
    assert hexi["size_ratio"] == pytest.approx(1.21, abs=0.002)  # scaled 1.1 × 1.1 about its centre
    assert hexi["details"].startswith("geometry moved up to ") and ", area ×1.21" in hexi["details"]
    old = tj.load("districts", built_gpkg).set_index("name_zh").loc[["河西区"]].to_crs(METRIC_CRS)
    new = tj.load("districts", changed_gpkg).set_index("name_zh").loc[["河西区"]].to_crs(METRIC_CRS)
    assert hexi["moved_m"] == pytest.approx(old.geometry.iloc[0].hausdorff_distance(new.geometry.iloc[0]), rel=1e-6)
    m = diff_layer(built_gpkg, changed_gpkg, "metro_lines").set_index("key")
    old3 = km(tj.load("metro_lines", built_gpkg).set_index("line_id").loc[["3"]].geometry)
    new3 = km(tj.load("metro_lines", changed_gpkg).set_index("line_id").loc[["3"]].geometry)
    assert m.loc["3", "size_ratio"] == pytest.approx(new3 / old3, rel=1e-6) and ", length ×0." in m.loc["3", "details"]


def test_diff_cli_lists_are_capped_with_a_count(built_gpkg, tmp_path, capsys):
    layers = {layer.id: tj.load(layer.id, built_gpkg) for layer in tj.get_catalog()}
    s = layers["rail_stations"].copy()
    s["geometry"] = s.geometry.translate(0.001, 0)  # every station moves ~86 m east
    layers["rail_stations"] = s
    prov = read_table(built_gpkg, "provenance")
    prov["fallback"] = ""
    prov["plausibility"] = ""
    prov.loc[prov["layer"] == "rail_stations", "plausibility"] = "min_share_of_bundled = 0.5: 2 feature(s) from OSM"
    out = tmp_path / "moved.gpkg"
    write_gpkg_atomic(out, layers, {"provenance": prov, "catalog": read_table(built_gpkg, "catalog")})
    assert main(["diff", str(built_gpkg), str(out), "--layers", "rail_stations", "--features", "--limit", "5"]) == 0
    text = capsys.readouterr().out
    listed = [ln for ln in text.splitlines() if ln.startswith("  changed ")]
    assert len(listed) == 5 and f"  … and {len(s) - 5} more" in text
    assert "geometry moved up to 86 m" in listed[0]
    assert "failed plausibility rules in the new file:\n  rail_stations: min_share_of_bundled = 0.5" in text
