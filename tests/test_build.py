import json

import geopandas as gpd
import pyogrio
import pytest
import shapely

import tjspatial as tj
from tjspatial.build import build, read_table
from tjspatial.crs import METRIC_CRS, REFERENCE_POINTS, convert_gdf
from tjspatial.errors import BuildError, ValidationError


def test_every_catalog_layer_is_in_the_gpkg(built_gpkg):
    names = {n for n, _ in pyogrio.list_layers(built_gpkg)}
    assert set(tj.get_catalog().ids) <= names
    assert {"provenance", "catalog"} <= names


def test_districts_count_population_and_area(built_gpkg):
    d = tj.load("districts", built_gpkg)
    assert len(d) == 16
    assert d["pop_2020"].sum() == 13_866_009
    assert d.crs.to_epsg() == 4326
    assert d.loc[d.name_zh == "滨海新区", "pop_2020"].item() == 2_067_318
    assert d.loc[d.name_zh == "静海区", "pop_2020"].item() == 787_106
    zones = tj.load("zones", built_gpkg).set_index("zone")
    assert zones.loc["中心城区", "pop_2020"] == 4_057_215
    assert zones.loc["环城四区", "pop_2020"] == 3_889_860
    assert zones.loc["外围五区", "pop_2020"] == 3_851_616
    assert zones["districts"].to_dict() == {"中心城区": 6, "环城四区": 4, "滨海新区": 1, "外围五区": 5}


def test_municipal_area_within_1_5_percent(built_gpkg):
    b = tj.load("boundary", built_gpkg)
    area = b.to_crs(METRIC_CRS).area.sum() / 1e6
    assert abs(area - 11_966) / 11_966 < 0.015
    assert b["area_km2"].iloc[0] == pytest.approx(area, rel=1e-6)
    # districts tile the municipality: same total area within 0.5 %
    d = tj.load("districts", built_gpkg)
    assert d["area_km2"].sum() == pytest.approx(area, rel=0.005)


def test_dual_city_is_flagged_as_administrative_approximation(built_gpkg):
    dc = tj.load("dual_city", built_gpkg).set_index("city")
    assert set(dc.index) == {"津城", "滨城"}
    assert dc.loc["津城", "pop_2020"] == 4_057_215 + 3_889_860
    assert dc["approximation"].str.contains("administrative approximation").all()


def test_tianjin_station_within_100_m_of_osm(built_gpkg):
    st = tj.load("rail_stations", built_gpkg)
    tianjin = st[(st.name_zh == "天津") & (st.kind == "rail")]
    assert len(tianjin) == 1
    ref = gpd.GeoSeries(shapely.points([REFERENCE_POINTS["天津站"]]), crs=4326).to_crs(METRIC_CRS)
    d = tianjin.to_crs(METRIC_CRS).distance(ref.iloc[0]).iloc[0]
    assert d < 100
    assert len(st) == 341
    assert (st.kind == "metro").sum() == 218


def test_metro_lines_chords(built_gpkg):
    m = tj.load("metro_lines", built_gpkg).set_index("line_id")
    assert "Z4" not in m.index  # one located station only: no geometry, not invented
    assert (m["geometry_quality"] == "station_chords").all()
    assert m.loc["2", "stations_located"] == 20 and m.loc["2", "colour"] == "#e1e000"
    # a chord line is shorter than the track but not by much
    assert 0.75 < m.loc["2", "length_chord_km"] / m.loc["2", "length_km"] <= 1.0


def test_every_layer_has_common_fields_and_valid_accuracy(built_gpkg):
    for layer in tj.get_catalog():
        g = tj.load(layer.id, built_gpkg)
        assert list(g.columns[:4]) == ["name_zh", "name_en", "accuracy", "source"], layer.id
        assert g["accuracy"].isin(["surveyed", "official", "osm", "derived", "modelled", "schematic"]).all()
        assert shapely.is_valid(g.geometry.values).all(), layer.id


def test_provenance_table(built_gpkg):
    prov = read_table(built_gpkg, "provenance").set_index("layer")
    assert prov.loc["districts", "feature_count"] == 16
    inputs = json.loads(prov.loc["districts", "inputs_sha256"])
    assert set(inputs) == {"tianjin_districts.geojson", "census_2020_districts.csv"}
    assert all(len(h) == 64 for h in inputs.values())
    assert "ODbL" in prov.loc["rail_stations", "licence"]
    assert prov.loc["rail_stations", "built_from"] == "bundled"


def test_build_is_deterministic(built_gpkg, tmp_path):
    again = build(out=tmp_path / "again.gpkg")
    for layer in tj.get_catalog():
        a = tj.load(layer.id, built_gpkg)
        b = tj.load(layer.id, again)
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), layer.id
        assert shapely.equals_exact(a.geometry.values, b.geometry.values, tolerance=0).all(), layer.id


def _snapshot(path):
    return path.read_bytes()


def test_corrupted_source_is_rejected_and_previous_gpkg_survives(gpkg_copy, sources_copy):
    before = _snapshot(gpkg_copy)
    (sources_copy / "tianjin_districts.geojson").write_text('{"type": "FeatureCollection", "features": [', "utf-8")
    with pytest.raises(BuildError) as exc:
        build(out=gpkg_copy, sources_dir=sources_copy)
    msg = str(exc.value)
    assert "districts" in msg and "tianjin_districts.geojson" in msg
    assert _snapshot(gpkg_copy) == before
    assert not list(gpkg_copy.parent.glob("*tmp-*")) and not list(gpkg_copy.parent.glob(".*tmp-*"))


def test_gcj_shifted_stations_are_rejected(gpkg_copy, sources_copy):
    before = _snapshot(gpkg_copy)
    path = sources_copy / "rail_stations_osm.geojson"
    g = gpd.read_file(path)
    convert_gdf(g, "wgs84", "gcj02").to_file(path, driver="GeoJSON")
    with pytest.raises(ValidationError) as exc:
        build(out=gpkg_copy, sources_dir=sources_copy)
    assert exc.value.layer == "rail_stations" and exc.value.rule == "gcj02"
    assert "GCJ-02" in str(exc.value)
    assert _snapshot(gpkg_copy) == before


def test_missing_census_row_names_the_district(gpkg_copy, sources_copy):
    path = sources_copy / "census_2020_districts.csv"
    lines = path.read_text("utf-8").splitlines()
    path.write_text("\n".join(ln for ln in lines if "南开区" not in ln) + "\n", "utf-8")
    with pytest.raises(BuildError, match="南开区"):
        build(out=gpkg_copy, sources_dir=sources_copy)


def test_invalid_geometry_names_feature_and_rule(gpkg_copy, sources_copy):
    path = sources_copy / "tianjin_districts.geojson"
    data = json.loads(path.read_text("utf-8"))
    feat = data["features"][3]
    ring = (
        feat["geometry"]["coordinates"][0]
        if feat["geometry"]["type"] == "Polygon"
        else feat["geometry"]["coordinates"][0][0]
    )
    ring[1], ring[2] = ring[2], ring[1]  # a bow-tie: self-intersection
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    with pytest.raises(ValidationError) as exc:
        build(out=gpkg_copy, sources_dir=sources_copy)
    assert exc.value.rule == "geometry_valid" and exc.value.layer == "districts"
    assert feat["properties"]["name_zh"] in str(exc.value)


def test_load_unknown_layer_names_known_ones(built_gpkg):
    with pytest.raises(KeyError, match="districts"):
        tj.load("no_such_layer", built_gpkg)


def test_cli_build_quiet(tmp_path, capsys):
    from tjspatial.cli import main

    out = tmp_path / "cli.gpkg"
    assert main(["build", "--out", str(out), "--quiet", "--layers", "boundary,districts,zones"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert {n for n, _ in pyogrio.list_layers(out)} >= {"boundary", "districts", "zones"}
