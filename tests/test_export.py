"""Export to GeoPackage + QGIS project, shapefiles and GeoJSON: exact round trips of every catalog layer,
styles and metadata as QGIS reads them (checked on the XML here; tests/test_qgis_real.py opens them in QGIS)."""
from __future__ import annotations

import json
import sqlite3
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import tjspatial as tj
from tjspatial.catalog import THEMES
from tjspatial.cli import main
from tjspatial.publish.export import GPKG_NAME, QGZ_NAME, export, read_geojson
from tjspatial.publish.qgis_project import display_title, draw_order
from tjspatial.publish.qml import layer_style, qgis_color, style_qml
from tjspatial.publish.shapefile import (ExportError, LongValueWarning, read_shapefile,
                                         shapefile_field_names, split_utf8, write_shapefile)

CATALOG = tj.get_catalog()
LAYER_IDS = CATALOG.ids


@pytest.fixture(scope="module")
def exported(built_gpkg, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LongValueWarning)  # checked in test_long_values_*
        export("all", out, gpkg=built_gpkg)
    return out


@pytest.fixture(scope="module")
def originals(built_gpkg) -> dict[str, gpd.GeoDataFrame]:
    return {lid: tj.load(lid, built_gpkg) for lid in LAYER_IDS}


def _multi_normalized(geoms) -> np.ndarray:
    """Geometries as Multi* (single parts promoted), normalised (ring orientation, start vertex, part order)."""
    arr = np.asarray(geoms)
    types = shapely.get_type_id(arr)
    out = arr.copy()
    for single, make in ((1, shapely.multilinestrings), (3, shapely.multipolygons)):
        idx = np.flatnonzero(types == single)
        if idx.size:
            out[idx] = make(arr[idx], indices=np.arange(idx.size))
    return shapely.normalize(out)


def _assert_same_values(orig: pd.DataFrame, back: pd.DataFrame, layer_id: str, float_atol: float = 0.0):
    layer = CATALOG[layer_id]
    assert list(back.columns[:-1]) == list(layer.all_fields), layer_id
    for name, ftype in layer.all_fields.items():
        a, b = orig[name].reset_index(drop=True), back[name].reset_index(drop=True)
        if ftype == "float" and float_atol:
            diff = np.abs(a.to_numpy(float) - b.to_numpy(float))
            tol = float_atol + 4 * np.spacing(np.abs(a.to_numpy(float)))
            ok = (diff <= tol) | (a.isna().to_numpy() & b.isna().to_numpy())
            assert ok.all(), f"{layer_id}.{name}: float values differ by up to {np.nanmax(diff)}"
        else:
            pd.testing.assert_series_equal(a, b, check_names=False, obj=f"{layer_id}.{name}")


# ------------------------------------------------------------------------------------------ GeoPackage
@pytest.mark.parametrize("layer_id", LAYER_IDS)
def test_gpkg_round_trip_is_exact(exported, originals, layer_id):
    back = tj.load(layer_id, exported / GPKG_NAME)
    orig = originals[layer_id]
    assert len(back) == len(orig)
    _assert_same_values(orig, back, layer_id)
    assert (back.geometry.to_wkb() == orig.geometry.to_wkb()).all(), f"{layer_id}: geometry WKB differs"


def test_gpkg_keeps_tables_and_chinese_text(exported, built_gpkg):
    names = {n for n, _ in pyogrio.list_layers(exported / GPKG_NAME)}
    assert set(LAYER_IDS) | {"provenance", "catalog", "layer_styles"} <= names
    prov = pyogrio.read_dataframe(exported / GPKG_NAME, layer="provenance", read_geometry=False)
    assert list(prov["layer"]) == LAYER_IDS
    districts = tj.load("districts", exported / GPKG_NAME)
    assert "和平区" in set(districts["name_zh"]) and len(districts) == 16
    assert districts["pop_2020"].sum() == tj.load("districts", built_gpkg)["pop_2020"].sum()


def test_gpkg_default_styles_in_layer_styles(exported):
    with sqlite3.connect(exported / GPKG_NAME) as con:
        rows = con.execute("SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleQML, "
                           "styleSLD, useAsDefault FROM layer_styles ORDER BY id").fetchall()
        geom_cols = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
        registered = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name='layer_styles'").fetchone()
    assert registered == ("attributes",)
    assert [r[2] for r in rows] == LAYER_IDS
    for cat_, schema, table, geom_col, qml, sld, default in rows:
        assert (cat_, schema, default, sld) == ("", "", 1, "")
        assert geom_col == geom_cols[table] == "geom"
        assert qml == style_qml(CATALOG[table])
        ET.fromstring(qml.split("\n", 1)[1])  # well-formed


def test_gpkg_metadata_says_schematic(exported):
    with sqlite3.connect(exported / GPKG_NAME) as con:
        docs = dict(con.execute("SELECT r.table_name, m.metadata FROM gpkg_metadata m JOIN gpkg_metadata_reference r "
                                "ON r.md_file_id = m.id WHERE m.md_standard_uri = 'http://mrcc.com/qgis.dtd'"))
        contents = dict(con.execute("SELECT table_name, identifier FROM gpkg_contents"))
    assert set(docs) == set(LAYER_IDS)
    for lid, doc in docs.items():
        layer = CATALOG[lid]
        root = ET.fromstring(doc.split("\n", 1)[1])
        title, abstract = root.findtext("title"), root.findtext("abstract")
        assert title == contents[lid] == display_title(layer)
        assert layer.description.strip() in abstract
        assert [e.text for e in root.findall("license")] == CATALOG.licence(lid).split("; ")
        assert [e.text for e in root.findall("rights")] == CATALOG.attribution(lid).split("; ")
        acc = root.find("keywords[@vocabulary='tjspatial:accuracy']")
        assert acc.findtext("keyword") == layer.accuracy
        if layer.is_schematic:
            for text in (title, abstract):
                assert "示意" in text and "schematic" in text.lower(), lid
        else:
            assert "示意" not in title


# ------------------------------------------------------------------------------------------ QGIS project
def _project(exported) -> ET.Element:
    with zipfile.ZipFile(exported / QGZ_NAME) as zf:
        assert zf.namelist() == ["tianjin.qgs"]
        text = zf.read("tianjin.qgs").decode("utf-8")
    return ET.fromstring(text.split("\n", 1)[1])


def test_qgz_tree_grouped_by_theme_and_draw_order(exported):
    root = _project(exported)
    assert root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:4548"
    tree = root.find("layer-tree-group")
    groups = tree.findall("layer-tree-group")
    themes = [t for t in THEMES if any(lay.theme == t for lay in CATALOG)]
    assert [g.get("name") for g in groups] == [" / ".join(THEMES[t]) for t in themes]
    for g, theme in zip(groups, themes):
        ids = [n.get("id").removesuffix("_tjspatial") for n in g.findall("layer-tree-layer")]
        assert sorted(ids) == sorted(lay.id for lay in CATALOG if lay.theme == theme)
        for n in g.findall("layer-tree-layer"):
            lid = n.get("id").removesuffix("_tjspatial")
            assert n.get("source") == f"./{GPKG_NAME}|layername={lid}"
            assert n.get("name") == display_title(CATALOG[lid])
    order = tree.find("custom-order")
    assert order.get("enabled") == "1"
    ids = [i.text.removesuffix("_tjspatial") for i in order.findall("item")]
    assert ids == [lay.id for lay in draw_order(list(CATALOG))] and sorted(ids) == sorted(LAYER_IDS)
    rank = {"Point": 0, "LineString": 1, "Polygon": 2}
    keys = [(rank[CATALOG[i].geometry_type], -layer_style(CATALOG[i]).z) for i in ids]
    assert keys == sorted(keys)
    assert CATALOG[ids[0]].geometry_type == "Point" and CATALOG[ids[-1]].geometry_type == "Polygon"


def test_qgz_layers_have_style_and_metadata(exported):
    root = _project(exported)
    layers = {ml.findtext("id").removesuffix("_tjspatial"): ml for ml in root.iter("maplayer")}
    assert set(layers) == set(LAYER_IDS)
    for lid, ml in layers.items():
        layer, style = CATALOG[lid], layer_style(CATALOG[lid])
        assert ml.findtext("datasource") == f"./{GPKG_NAME}|layername={lid}"
        assert ml.findtext("srs/spatialrefsys/authid") == "EPSG:4326"
        r = ml.find("renderer-v2")
        if style.categories:
            assert r.get("type") == "categorizedSymbol" and r.get("attr") == style.categories["field"]
            values = [c.get("value") for c in r.find("categories")]
            assert values == list(style.categories["values"]) + [""]
        else:
            assert r.get("type") == "singleSymbol"
        md = ml.find("resourceMetadata")
        assert md.findtext("title") == ml.findtext("layername") == display_title(layer)
        if layer.is_schematic:
            assert "示意" in md.findtext("abstract") and "schematic" in md.findtext("abstract")
            key, dashed = ("outline_style", "dash") if layer.geometry_type == "Point" else ("use_custom_dash", "1")
            dashes = [p.get("v") for p in ml.iter("prop") if p.get("k") == key]
            assert dashes and set(dashes) == {dashed}, f"{lid}: schematic outlines must be dashed"
        if style.label_field:
            assert ml.find("labeling/settings/text-style").get("fieldName") == style.label_field
            assert ml.get("labelsEnabled") == "1"


def test_qml_translates_style_values():
    assert qgis_color("#1f78b4", 0.4) == "31,120,180,102"
    assert qgis_color(None) == "0,0,0,0"
    metro = ET.fromstring(style_qml(CATALOG["metro_lines"]).split("\n", 1)[1])
    line = metro.find(".//layer[@class='SimpleLine']")
    props = {p.get("k"): p.get("v") for p in line.findall("prop")}
    assert float(props["line_width"]) == pytest.approx(3 * 25.4 / 96, abs=1e-4)  # 3 px at 96 dpi
    assert props["line_color"] == "31,120,180,255"  # #1f78b4
    dd = {o.get("name"): o for o in line.find("data_defined_properties/Option/Option[@name='properties']")}
    expr = dd["outlineColor"].find("Option[@name='expression']").get("value")
    assert '"colour"' in expr and "#1f78b4" in expr
    assert "outlineStyle" in dd  # per-feature schematic dashes
    zones = ET.fromstring(style_qml(CATALOG["zones"]).split("\n", 1)[1])
    fills = zones.findall(".//layer[@class='SimpleFill']")
    cols = [{p.get("k"): p.get("v") for p in f.findall("prop")}["color"] for f in fills]
    assert cols[0] == qgis_color("#e34a33", 0.25) and len(fills) == 5


# ------------------------------------------------------------------------------------------ shapefiles
@pytest.mark.parametrize("layer_id", LAYER_IDS)
def test_shapefile_round_trip(exported, originals, layer_id):
    shp = exported / "shp" / f"{layer_id}.shp"
    back = read_shapefile(shp)
    orig = originals[layer_id]
    assert len(back) == len(orig)
    # DBF numbers are text with 15 decimals: floats come back to 0.5e-15; everything else exactly
    _assert_same_values(orig, back, layer_id, float_atol=5e-16)
    assert (shapely.equals_exact(_multi_normalized(orig.geometry), _multi_normalized(back.geometry), tolerance=0)
            ).all(), f"{layer_id}: geometry differs"
    info = pyogrio.read_info(shp)
    expected = "Point" if CATALOG[layer_id].geometry_type == "Point" else f"Multi{CATALOG[layer_id].geometry_type}"
    assert set(back.geom_type) == {expected}
    for name in info["fields"]:
        assert name.isascii() and len(name.encode()) <= 10
    assert (exported / "shp" / f"{layer_id}.cpg").read_text() == "UTF-8"
    qml = (exported / "shp" / f"{layer_id}.qml").read_text(encoding="utf-8")
    style = layer_style(CATALOG[layer_id])
    if style.categories:
        names = shapefile_field_names(CATALOG[layer_id])
        assert f'attr="{names[style.categories["field"]]}"' in qml
    qmd = (exported / "shp" / f"{layer_id}.qmd").read_text(encoding="utf-8")
    assert display_title(CATALOG[layer_id]) in qmd


def test_shapefile_chinese_names_exact(exported, originals):
    back = read_shapefile(exported / "shp" / "districts.shp")
    assert list(back["name_zh"]) == list(originals["districts"]["name_zh"])
    assert "滨海新区" in set(back["name_zh"])
    raw = pyogrio.read_dataframe(exported / "shp" / "districts.shp")
    assert "area_km2_o" in raw.columns and "pop_2020_s" in raw.columns
    fmap = pd.read_csv(exported / "shp" / "districts.fields.csv")
    assert dict(zip(fmap["shp_field"], fmap["catalog_field"]))["area_km2_o"] == "area_km2_official"


def test_field_names_ascii_unique_short():
    names = shapefile_field_names(CATALOG["rail_stations"])
    assert names["osm_station_tag"] == "osm_statio" and names["inside_tianjin"] == "inside_tia"
    for layer in CATALOG:
        short = list(shapefile_field_names(layer).values())
        assert len({s.upper() for s in short}) == len(short)
        assert all(s.isascii() and len(s) <= 10 for s in short)
    fake = CATALOG["districts"].__class__(**{**CATALOG["districts"].__dict__,
                                             "fields": {"stations_total": "int", "stations_tot2": "int",
                                                        "人口": "int"}})
    names = shapefile_field_names(fake)
    assert names["stations_total"] == "stations_t" and names["stations_tot2"] == "stations_1"
    assert names["人口"] == "__"


def test_split_utf8_never_cuts_a_character():
    text = "a" + "天津" * 100 + "𠀀" * 30 + "b" * 7  # 1, 3 and 4-byte characters
    parts = split_utf8(text, 254)
    assert "".join(parts) == text
    assert all(len(p.encode("utf-8")) <= 254 for p in parts)
    assert [len(p.encode("utf-8")) for p in parts] == [253, 252, 223]
    assert split_utf8("短", 254) == ["短"]


def _long_layer(originals):
    gdf = originals["nodes"].copy()
    gdf.loc[1, "plan_ref"] = "x" + "规划" * 120  # 721 bytes: three DBF fields
    return gdf


def test_long_values_split_with_warning_and_rejoined(originals, tmp_path):
    gdf = _long_layer(originals)
    with pytest.warns(LongValueWarning, match=r"layer 'nodes', field 'plan_ref'.*features 1"):
        write_shapefile(gdf, CATALOG["nodes"], tmp_path)
    raw = pyogrio.read_dataframe(tmp_path / "nodes.shp")
    assert {"plan_ref", "plan_ref_2", "plan_ref_3"} <= set(raw.columns)
    parts = raw[["plan_ref", "plan_ref_2", "plan_ref_3"]].fillna("")
    assert parts.map(lambda v: len(v.encode())).to_numpy().max() == 253  # ≤ 254, cut between characters
    assert "".join(parts.iloc[1]) == gdf.loc[1, "plan_ref"]
    back = read_shapefile(tmp_path / "nodes.shp")
    assert list(back["plan_ref"]) == list(gdf["plan_ref"])
    assert list(back.columns[:-1]) == list(CATALOG["nodes"].all_fields)


def test_long_values_refused_names_feature(originals, tmp_path):
    with pytest.raises(ExportError, match=r"layer 'nodes', field 'plan_ref'.*features 1"):
        write_shapefile(_long_layer(originals), CATALOG["nodes"], tmp_path, long_values="refuse")
    assert not list(tmp_path.iterdir())  # nothing half-written


# ------------------------------------------------------------------------------------------ GeoJSON
@pytest.mark.parametrize("layer_id", LAYER_IDS)
def test_geojson_round_trip(exported, originals, layer_id):
    path = exported / "geojson" / f"{layer_id}.geojson"
    back = read_geojson(path, CATALOG[layer_id])
    orig = originals[layer_id]
    _assert_same_values(orig, back, layer_id)
    a, b = shapely.normalize(orig.geometry.to_numpy()), shapely.normalize(back.geometry.to_numpy())
    assert shapely.equals_exact(a, b, tolerance=0).all(), f"{layer_id}: geometry differs"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert "crs" not in doc and doc["name"] == layer_id
    if CATALOG[layer_id].is_schematic:
        assert "示意" in doc["description"] and "schematic" in doc["description"]
    polys = [shapely.geometry.shape(f["geometry"]) for f in doc["features"]
             if f["geometry"] and f["geometry"]["type"] in ("Polygon", "MultiPolygon")]
    for p in polys:  # RFC 7946 winding: exterior rings counter-clockwise
        for part in getattr(p, "geoms", [p]):
            assert shapely.is_ccw(part.exterior)


# ------------------------------------------------------------------------------------------ export / CLI
def test_export_writes_index_and_no_temp_files(exported):
    index = pd.read_csv(exported / "layers.csv")
    assert list(index["id"]) == LAYER_IDS
    schematic = set(index.loc[index["schematic"], "id"])
    assert schematic == {lay.id for lay in CATALOG if lay.is_schematic}
    leftovers = [p for p in exported.rglob("*") if p.name.startswith(".") or ".tmp-" in p.name]
    assert leftovers == []
    assert len(list((exported / "shp").glob("*.shp"))) == len(LAYER_IDS)
    assert len(list((exported / "geojson").glob("*.geojson"))) == len(LAYER_IDS)


def test_export_rejects_bad_arguments(built_gpkg, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'kml'"):
        export("kml", tmp_path, gpkg=built_gpkg)
    with pytest.raises(KeyError, match="no_such_layer"):
        export("shp", tmp_path, gpkg=built_gpkg, layers=["no_such_layer"])


def test_cli_export_subset(built_gpkg, tmp_path, capsys):
    rc = main(["export", "--format", "geojson", "--out", str(tmp_path), "--gpkg", str(built_gpkg),
               "--layers", "districts,nodes"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "geojson").iterdir()) == ["districts.geojson", "nodes.geojson"]
    assert len(gpd.read_file(tmp_path / "geojson" / "districts.geojson")) == 16
    assert "wrote" in capsys.readouterr().out


def test_shapefile_qml_uses_short_field_names():
    from tjspatial.styles import Style
    layer = CATALOG["districts"]
    style = Style(id="districts", geometry="polygon", fill="#f2efe9", label_field="pop_2020_status",
                  categories={"field": "area_km2_official", "values": {"1": {"color": "#e34a33"}}})
    names = shapefile_field_names(layer)
    root = ET.fromstring(style_qml(layer, style, names).split("\n", 1)[1])
    assert root.find("renderer-v2").get("attr") == "area_km2_o"
    assert root.find("labeling/settings/text-style").get("fieldName") == "pop_2020_s"
    with pytest.raises(ValueError, match="label_field 'nope' is not a field of the layer"):
        style_qml(layer, Style(id="districts", geometry="polygon", label_field="nope"))
