"""``tjspatial import-layer``: official files replace a layer after validation, conversion and recording."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import tjspatial as tj
from tjspatial.build import read_table
from tjspatial.cli import main
from tjspatial.crs import METRIC_CRS, convert_gdf
from tjspatial.errors import ImportLayerError
from tjspatial.importer import (
    check_import,
    import_layer,
    parse_field_map,
    recorded_imports,
    recorded_overrides,
    remove_import,
)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:.*(truncated|laundered).*")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def max_vertex_shift_m(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> float:
    """Largest distance (m, EPSG:4548) between corresponding vertices of two layers with the same shapes."""
    ca = shapely.get_coordinates(a.to_crs(METRIC_CRS).geometry.values)
    cb = shapely.get_coordinates(b.to_crs(METRIC_CRS).geometry.values)
    assert ca.shape == cb.shape
    return float(np.hypot(*(ca - cb).T).max())


@pytest.fixture()
def truth(built_gpkg) -> gpd.GeoDataFrame:
    """The built wetlands (WGS84): stands in for an official file's true positions."""
    return tj.load("wetlands", built_gpkg)


@pytest.fixture(autouse=True)
def real_imports_untouched():
    real = ROOT / "layers" / "imports"
    before = sorted(p.name for p in real.iterdir()) if real.exists() else []
    yield
    after = sorted(p.name for p in real.iterdir()) if real.exists() else []
    assert after == before, "a test wrote into the real layers/imports"


def test_shapefile_in_epsg4548_round_trips_within_1_m(truth, gpkg_copy, tmp_path):
    shp = tmp_path / "official" / "wetlands.shp"
    shp.parent.mkdir()
    src = truth.to_crs(4548)
    src["accuracy"] = "x"  # whatever the file says, the declared accuracy wins
    src.to_file(shp)  # field names are cut to 10 characters: area_official_km2 → area_offic
    imports = tmp_path / "imports"
    res = import_layer(
        "wetlands",
        shp,
        field_map="area_official_km2=area_offic,district_zh=district_z",
        accuracy="official",
        imports_dir=imports,
        out=gpkg_copy,
    )
    got = tj.load("wetlands", gpkg_copy)
    assert max_vertex_shift_m(got, truth) < 1.0
    assert (got["accuracy"] == "official").all() and (got["source"] == "import:wetlands.shp").all()
    assert got["area_official_km2"].tolist() == truth["area_official_km2"].tolist()
    assert got["district_zh"].tolist() == truth["district_zh"].tolist()
    rec = recorded_imports(imports)["wetlands"]
    assert rec["sha256"] == sha(shp) and rec["crs_detected"] == "EPSG:4548" and rec["accuracy"] == "official"
    assert rec["field_map"] == {"area_official_km2": "area_offic", "district_zh": "district_z"}
    assert rec["features"] == 4 and rec["fields_filled"]["construction"] == "import note"
    stored_name = json.loads((imports / "imports.json").read_text("utf-8"))["wetlands"]["stored"]
    assert re.fullmatch(r"wetlands-[0-9a-f]{8}\.gpkg", stored_name) and res.stored == imports / stored_name
    assert recorded_overrides(imports) == {"wetlands": imports / stored_name}
    assert sorted(p.name for p in imports.iterdir()) == ["imports.json", stored_name]
    prov = read_table(gpkg_copy, "provenance").set_index("layer")
    assert prov.loc["wetlands", "built_from"] == f"import:{imports / stored_name}"
    assert prov.loc["wetlands", "accuracy"] == "official"
    assert prov.loc["green_barrier", "built_from"] == "bundled"
    # forgetting the import brings the schematic layer back
    remove_import("wetlands", imports_dir=imports, out=gpkg_copy)
    assert (tj.load("wetlands", gpkg_copy)["accuracy"] == "schematic").all()
    assert recorded_imports(imports) == {} and not (imports / stored_name).exists()


def test_gcj02_geojson_is_detected_and_lands_within_1_m(truth, gpkg_copy, tmp_path):
    path = tmp_path / "wetlands_gcj.geojson"
    shifted = convert_gdf(truth, "wgs84", "gcj02")
    assert max_vertex_shift_m(shifted, truth) > 300  # GCJ-02 moves Tianjin by hundreds of metres
    shifted.to_file(path, driver="GeoJSON")
    res = import_layer("wetlands", path, crs="auto", imports_dir=tmp_path / "imports", out=gpkg_copy)
    assert res.record["crs_detected"] == "gcj02 (detected)" and res.record["gcj02_check"]["probable"]
    assert max_vertex_shift_m(tj.load("wetlands", gpkg_copy), truth) < 1.0
    # declared explicitly, without rebuilding
    res = check_import("wetlands", path, crs="gcj02", gpkg=gpkg_copy)
    assert res.record["conversion"].startswith("gcj02 → wgs84")
    assert max_vertex_shift_m(res.data, truth) < 1.0


def test_bd09_file_is_detected_and_converted(built_gpkg, tmp_path):
    ports = tj.load("port_districts", built_gpkg)
    path = tmp_path / "ports_bd09.geojson"
    convert_gdf(ports, "wgs84", "bd09").to_file(path, driver="GeoJSON")
    for crs, detected in (("auto", "bd09 (detected)"), ("bd09", "bd09")):
        res = check_import("port_districts", path, crs=crs, gpkg=built_gpkg)
        assert res.record["crs_detected"] == detected
        assert max_vertex_shift_m(res.data, ports) < 1.0  # the closed-form BD-09 inverse is good to ~0.2 m


def test_wgs84_file_is_not_converted(truth, built_gpkg, tmp_path):
    path = tmp_path / "wetlands.geojson"
    truth.to_file(path, driver="GeoJSON")
    res = check_import("wetlands", path, gpkg=built_gpkg)
    assert not res.record["gcj02_check"]["probable"]
    assert max_vertex_shift_m(res.data, truth) < 1e-3 and res.warnings == []
    # a lon/lat file unlike the current layer is taken as WGS84, with a hint about --crs gcj02
    moved = truth.set_geometry(truth.translate(0.02, 0.0))
    moved.to_file(path, driver="GeoJSON")
    res = check_import("wetlands", path, gpkg=built_gpkg)
    assert not res.record["gcj02_check"]["probable"]
    assert any("--crs gcj02" in w for w in res.warnings)


def _bowtie(truth):
    bad = truth.copy()
    bad.loc[1, "geometry"] = shapely.Polygon([(117.2, 39.4), (117.3, 39.5), (117.3, 39.4), (117.2, 39.5)])
    return bad


def _empty(truth):
    bad = truth.copy()
    bad.loc[2, "geometry"] = shapely.Polygon()
    return bad


def _beijing(truth):
    bad = truth.copy()
    bad.loc[0, "geometry"] = shapely.box(116.35, 39.85, 116.45, 39.95)  # Tiananmen, not Tianjin
    return bad


def _points(truth):
    return truth.set_geometry(truth.representative_point())


def _no_names(truth):
    return truth.drop(columns=["name_zh"])


@pytest.mark.parametrize(
    "make, kwargs, pattern",
    [
        (
            _bowtie,
            {},
            r"feature #1 \(大黄堡湿地自然保护区\), rule geometry_valid: 1 invalid geometry: Self-intersection",
        ),
        (_empty, {}, r"feature #2 \(北大港湿地自然保护区\), rule geometry_present"),
        (_beijing, {}, r"feature #0 .*rule outside_tianjin: 1 feature\(s\) lie outside Tianjin"),
        (_points, {}, r"rule geometry_type: 4 feature\(s\) are Point, the catalog declares Polygon"),
        (_no_names, {}, r"field 'name_zh', rule fields: the file has no 'name_zh' field"),
        (
            lambda t: t[["name_zh", "geometry"]],
            {"inherit": False},
            r"rule fields: missing declared field\(s\) name_en, reserve_id, district_zh",
        ),
        (lambda t: t, {"field_map": "plan_ref=nonexistent"}, r"--map-fields source 'nonexistent' is not a column"),
        (lambda t: t, {"accuracy": "guessed"}, r"accuracy 'guessed' is not one of"),
    ],
)
def test_refusals_name_the_problem_and_change_nothing(truth, gpkg_copy, tmp_path, make, kwargs, pattern):
    path = tmp_path / "bad.geojson"
    make(truth).to_file(path, driver="GeoJSON")
    before = sha(gpkg_copy)
    with pytest.raises(ImportLayerError, match=pattern) as err:
        import_layer("wetlands", path, imports_dir=tmp_path / "imports", out=gpkg_copy, **kwargs)
    assert "layer 'wetlands'" in str(err.value) and str(path) in str(err.value)
    assert sha(gpkg_copy) == before
    assert not (tmp_path / "imports" / "imports.json").exists()


def test_wrong_or_missing_crs_is_refused(truth, gpkg_copy, tmp_path):
    shp = tmp_path / "w.shp"
    truth.to_crs(4548).to_file(shp)
    with pytest.raises(ImportLayerError, match=r"declares EPSG:4548 but --crs says EPSG:4326"):
        check_import("wetlands", shp, crs="EPSG:4326", gpkg=gpkg_copy)
    with pytest.raises(ImportLayerError, match=r"gcj02 means lon/lat .* projected CRS EPSG:4548"):
        check_import("wetlands", shp, crs="gcj02", gpkg=gpkg_copy)
    shp.with_suffix(".prj").unlink()
    with pytest.raises(ImportLayerError, match=r"rule crs: the file has no CRS"):
        check_import("wetlands", shp, gpkg=gpkg_copy)
    # Gauss-Krüger metres read as degrees: refused, naming the CRS given and the one that fits
    with pytest.raises(ImportLayerError, match=r"rule crs_plausible: .* not plausible in EPSG:4326 .*--crs EPSG:4548"):
        check_import("wetlands", shp, crs="EPSG:4326", gpkg=gpkg_copy)
    ok = check_import("wetlands", shp, crs="EPSG:4548", gpkg=gpkg_copy)  # the right declaration is accepted
    assert max_vertex_shift_m(ok.data, truth) < 1.0


def test_cli_imports_and_refuses(truth, gpkg_copy, tmp_path, capsys):
    good, bad = tmp_path / "airport.geojson", tmp_path / "airport_bad.geojson"
    airport = tj.load("airport", gpkg_copy)
    airport.to_file(good, driver="GeoJSON")
    imports = tmp_path / "imports"
    rc = main(
        [
            "import-layer",
            "airport",
            str(good),
            "--accuracy",
            "surveyed",
            "--imports-dir",
            str(imports),
            "--out",
            str(gpkg_copy),
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "imported 1 feature(s)" in out and "accuracy surveyed" in out
    assert tj.load("airport", gpkg_copy)["accuracy"].item() == "surveyed"
    airport.set_geometry(airport.representative_point()).to_file(bad, driver="GeoJSON")
    rc = main(["import-layer", "airport", str(bad), "--imports-dir", str(imports), "--out", str(gpkg_copy)])
    assert rc == 2 and "are Point, the catalog declares Polygon" in capsys.readouterr().err
    assert recorded_imports(imports)["airport"]["accuracy"] == "surveyed"  # the good import is kept


def test_parse_field_map():
    assert parse_field_map("a=b, c = d") == {"a": "b", "c": "d"}
    assert parse_field_map("") == {}
    with pytest.raises(ValueError, match="'oops' is not CATALOG_FIELD=FILE_FIELD"):
        parse_field_map("a=b,oops")
