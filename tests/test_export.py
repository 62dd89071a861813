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
from tjspatial.cli import main
from tjspatial.publish.export import (
    GPKG_NAME,
    MANIFEST_NAME,
    QGZ_NAME,
    export,
    read_geojson,
    read_index,
    sha256_file,
    verify_export,
)
from tjspatial.publish.qgis_project import (
    GEOMETRY_GROUPS,
    display_title,
    draw_order,
    layer_attributions,
    layer_licences,
    short_name,
)
from tjspatial.publish.qml import field_aliases, layer_style, legend_classes, qgis_color, style_qml
from tjspatial.publish.shapefile import (
    MAX_PARTS,
    ExportError,
    LongValueWarning,
    float_decimals,
    read_shapefile,
    shapefile_field_names,
    split_utf8,
    write_shapefile,
)

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


def _assert_same_values(orig: pd.DataFrame, back: pd.DataFrame, layer_id: str, float_atol: float | dict = 0.0):
    layer = CATALOG[layer_id]
    assert list(back.columns[:-1]) == list(layer.all_fields), layer_id
    for name, ftype in layer.all_fields.items():
        a, b = orig[name].reset_index(drop=True), back[name].reset_index(drop=True)
        atol = float_atol.get(name, 0.0) if isinstance(float_atol, dict) else float_atol
        if ftype == "float" and atol:
            diff = np.abs(a.to_numpy(float) - b.to_numpy(float))
            tol = atol + 4 * np.spacing(np.abs(a.to_numpy(float)))
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


def test_gpkg_default_styles_in_layer_styles(exported, originals):
    with sqlite3.connect(exported / GPKG_NAME) as con:
        rows = con.execute(
            "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleQML, "
            "styleSLD, useAsDefault FROM layer_styles ORDER BY id"
        ).fetchall()
        geom_cols = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
        registered = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name='layer_styles'").fetchone()
    assert registered == ("attributes",)
    assert [r[2] for r in rows] == LAYER_IDS
    for cat_, schema, table, geom_col, qml, sld, default in rows:
        assert (cat_, schema, default, sld) == ("", "", 1, "")
        assert geom_col == geom_cols[table] == "geom"
        assert qml == style_qml(CATALOG[table], data=originals[table])
        ET.fromstring(qml.split("\n", 1)[1])  # well-formed


def test_gpkg_metadata_says_schematic(exported):
    with sqlite3.connect(exported / GPKG_NAME) as con:
        docs = dict(
            con.execute(
                "SELECT r.table_name, m.metadata FROM gpkg_metadata m JOIN gpkg_metadata_reference r "
                "ON r.md_file_id = m.id WHERE m.md_standard_uri = 'http://mrcc.com/qgis.dtd'"
            )
        )
        contents = dict(con.execute("SELECT table_name, identifier FROM gpkg_contents"))
    assert set(docs) == set(LAYER_IDS)
    for lid, doc in docs.items():
        layer = CATALOG[lid]
        root = ET.fromstring(doc.split("\n", 1)[1])
        title, abstract = root.findtext("title"), root.findtext("abstract")
        assert title == contents[lid] == display_title(layer)
        assert layer.description.strip() in abstract
        licences = [e.text for e in root.findall("license")]
        assert licences == layer_licences(layer, CATALOG) and len(set(licences)) == len(licences)
        assert [e.text for e in root.findall("rights")] == layer_attributions(layer, CATALOG)
        assert "【中文】" in abstract and "[English]" in abstract
        assert root.find("contact/organization").text.startswith("tjspatial")
        assert root.find("dates/date[@type='Published']") is not None
        ext = root.find("extent/spatial")
        assert 115.0 < float(ext.get("minx")) < float(ext.get("maxx")) < 120.0, lid  # degrees (EPSG:4326)
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


def test_qgz_tree_is_the_draw_order_without_custom_order(exported):
    root = _project(exported)
    assert root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:4548"
    tree = root.find("layer-tree-group")
    groups = tree.findall("layer-tree-group")
    assert [g.get("name") for g in groups] == list(GEOMETRY_GROUPS.values())  # points, lines, polygons
    ids = [n.get("id").removesuffix("_tjspatial") for g in groups for n in g.findall("layer-tree-layer")]
    assert ids == [lay.id for lay in draw_order(list(CATALOG))] and sorted(ids) == sorted(LAYER_IDS)
    for g, geom in zip(groups, GEOMETRY_GROUPS):
        assert {
            CATALOG[n.get("id").removesuffix("_tjspatial")].geometry_type for n in g.findall("layer-tree-layer")
        } == {geom}
    for n in tree.iter("layer-tree-layer"):
        lid = n.get("id").removesuffix("_tjspatial")
        assert n.get("source") == f"./{GPKG_NAME}|layername={lid}"
        assert n.get("name") == short_name(CATALOG[lid])
    assert tree.find("custom-order").get("enabled") == "0"  # the panel order is the drawing order
    rank = {"Point": 0, "LineString": 1, "Polygon": 2}
    keys = [(rank[CATALOG[i].geometry_type], -layer_style(CATALOG[i]).z) for i in ids]
    assert keys == sorted(keys)
    assert short_name(CATALOG["wetlands"]) == "四大湿地自然保护区（示意）"


def _rules(ml) -> list[tuple[dict, list[dict]]]:
    """(rule attributes, [symbol layer props]) of a rule-based renderer element."""
    r = ml.find("renderer-v2")
    syms = {s.get("name"): s for s in r.find("symbols")}
    out = []
    for rule in r.find("rules"):
        sym = syms[rule.get("symbol")]
        out.append(
            (
                dict(rule.attrib),
                [
                    {
                        "class": sl.get("class"),
                        "pass": sl.get("pass"),
                        **{p.get("k"): p.get("v") for p in sl.findall("prop")},
                    }
                    for sl in sym.findall("layer")
                ],
            )
        )
    return out


def test_qgz_layers_status_dash_and_accuracy_casing(exported, originals):
    root = _project(exported)
    layers = {ml.findtext("id").removesuffix("_tjspatial"): ml for ml in root.iter("maplayer")}
    assert set(layers) == set(LAYER_IDS)
    for lid, ml in layers.items():
        layer, style = CATALOG[lid], layer_style(CATALOG[lid])
        assert ml.findtext("datasource") == f"./{GPKG_NAME}|layername={lid}"
        assert ml.findtext("srs/spatialrefsys/authid") == "EPSG:4326"
        r = ml.find("renderer-v2")
        assert r.get("type") == "RuleRenderer" and r.get("symbollevels") == "1"
        rules = _rules(ml)
        assert [a["label"] for a, _ in rules] == [c.label for c in legend_classes(layer, data=originals[lid])]
        for attrs, sls in rules:
            lines = [sl for sl in sls if sl["class"] == "SimpleLine"]
            main = lines[-1] if lines else sls[-1]
            planned = "规划" in attrs["label"] or "在建" in attrs["label"]
            if layer.geometry_type == "Point":
                assert main["outline_style"] == ("dash" if planned else "solid"), (lid, attrs["label"])
            else:
                assert main["use_custom_dash"] == ("1" if planned else "0"), (lid, attrs["label"])
            approx = "示意" in attrs["label"]
            assert len(sls) == (3 if layer.geometry_type == "Polygon" else 2) - (0 if approx else 1), lid
            if approx:  # the casing: translucent, wider, drawn first
                casing = sls[0] if layer.geometry_type != "Polygon" else sls[1]
                colour = casing.get("line_color") or casing.get("color")
                assert colour.rsplit(",", 1)[1] == str(round(0.3 * 255)), (lid, colour)  # 0.3 opacity
        md = ml.find("resourceMetadata")
        assert md.findtext("title") == display_title(layer) and ml.findtext("layername") == short_name(layer)
        if layer.is_schematic:
            assert "示意" in md.findtext("abstract") and "schematic" in md.findtext("abstract")
        if style.label_field:
            ts = ml.find("labeling/settings/text-style")
            assert ts.get("isExpression") == "1" and f'"{style.label_field}"' in ts.get("fieldName")
            assert "（示意）" in ts.get("fieldName")
            assert ml.get("labelsEnabled") == "1"
            rendering = ml.find("labeling/settings/rendering")
            if style.label_max_scale:
                assert rendering.get("scaleVisibility") == "1"
                assert float(rendering.get("scaleMax")) == style.label_max_scale
    assert {"rail_stations", "metro_lines", "intercity_rail", "planned_rail"} <= {
        lid for lid in LAYER_IDS if layer_style(CATALOG[lid]).label_max_scale
    }


def test_rail_rules_open_solid_planned_dashed_nothing_hidden(exported, originals):
    """Open lines are solid whatever their accuracy; planned_rail draws Z4 北段 and 京滨北段 (open, nowhere else)."""
    root = _project(exported)
    layers = {ml.findtext("id").removesuffix("_tjspatial"): ml for ml in root.iter("maplayer")}
    ic = _rules(layers["intercity_rail"])
    assert ic and all(sls[-1]["use_custom_dash"] == "0" for _, sls in ic)  # all 10 lines are open
    assert sum("示意" in a["label"] for a, _ in ic) == 3  # hsr, intercity, conventional have schematic chords
    pr = {a["label"]: sls for a, sls in _rules(layers["planned_rail"])}
    assert pr["地铁 / Metro · 现状 / 已开通 · open · 示意（近似）· schematic"][-1]["use_custom_dash"] == "0"
    assert pr["地铁 / Metro · 规划 · planned · 示意（近似）· schematic"][-1]["customdash"] == "0.7937;1.0583"
    assert (
        pr["城际铁路 / Intercity rail · 在建 · under construction · 示意（近似）· schematic"][-1]["customdash"]
        == "2.6458;1.0583"
    )
    classes = legend_classes(CATALOG["planned_rail"], data=originals["planned_rail"])
    drawn = originals["planned_rail"]
    drawn = drawn[drawn["base_layer"].fillna("") == ""]
    assert {"Z4-north", "jingbin-north"} <= set(drawn.loc[drawn["status"] == "open", "line_id"])
    assert all("base_layer" in c.filter for c in classes)
    assert len(drawn) == 10 and len(originals["planned_rail"]) == 16


def test_qml_translates_style_values(originals):
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
    assert "outlineStyle" not in dd  # accuracy never dashes: status does
    zones = ET.fromstring(style_qml(CATALOG["zones"]).split("\n", 1)[1])
    fills = zones.findall(".//layer[@class='SimpleFill']")
    cols = [{p.get("k"): p.get("v") for p in f.findall("prop")}["color"] for f in fills]
    # without data every class: 4 zones + "other values", each existing or schematic
    assert cols[0] == qgis_color("#e34a33", 0.25) and len(fills) == 10
    with_data = ET.fromstring(style_qml(CATALOG["zones"], data=originals["zones"]).split("\n", 1)[1])
    assert len(with_data.findall(".//layer[@class='SimpleFill']")) == 4  # only the classes drawn
    assert all(r.get("label") != "其他 / other values" for r in with_data.iter("rule"))


# ------------------------------------------------------------------------------------------ shapefiles
@pytest.mark.parametrize("layer_id", LAYER_IDS)
def test_shapefile_round_trip(exported, originals, layer_id):
    shp = exported / "shp" / f"{layer_id}.shp"
    back = read_shapefile(shp)
    orig = originals[layer_id]
    assert len(back) == len(orig)
    # DBF numbers are rounded to the declared decimals (catalog field_labels), else to the fewest decimals that
    # give back each value's shortest form: floats come back to half a unit of the last decimal; the rest exactly
    fmap = pd.read_csv(exported / "shp" / f"{layer_id}.fields.csv", encoding="utf-8-sig")
    decimals = dict(zip(fmap["catalog_field"], fmap["decimals"]))
    layer = CATALOG[layer_id]
    for name, ftype in layer.all_fields.items():
        if ftype == "float":
            declared = layer.field_label(name).decimals
            assert decimals[name] == (
                declared if declared is not None else float_decimals(orig[name].to_numpy(float))
            ), (layer_id, name)
    tol = {n: 0.5 * 10.0 ** -int(d) for n, d in decimals.items()}
    _assert_same_values(orig, back, layer_id, float_atol=tol)
    assert (
        shapely.equals_exact(_multi_normalized(orig.geometry), _multi_normalized(back.geometry), tolerance=0)
    ).all(), f"{layer_id}: geometry differs"
    info = pyogrio.read_info(shp)
    expected = "Point" if CATALOG[layer_id].geometry_type == "Point" else f"Multi{CATALOG[layer_id].geometry_type}"
    assert set(back.geom_type) == {expected}
    for name in info["fields"]:
        assert name.isascii() and len(name.encode()) <= 10
    assert (exported / "shp" / f"{layer_id}.cpg").read_text() == "UTF-8"
    qml = (exported / "shp" / f"{layer_id}.qml").read_text(encoding="utf-8")
    style = layer_style(CATALOG[layer_id])
    names = shapefile_field_names(CATALOG[layer_id])
    if style.categories:
        assert f"&quot;{names[style.categories['field']]}&quot; = " in qml  # rule filters use the short names
    root = ET.fromstring(qml.split("\n", 1)[1])
    aliases = {a.get("field"): a.get("name") for a in root.iter("alias")}
    assert aliases == field_aliases(CATALOG[layer_id], names) | {
        k: v for k, v in aliases.items() if k not in field_aliases(CATALOG[layer_id], names)
    }
    for field, short in names.items():
        assert CATALOG[layer_id].field_label(field).alias in aliases[short]
        if short != field:
            assert f"[{field}]" in aliases[short]
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
    fake = CATALOG["districts"].__class__(
        **{**CATALOG["districts"].__dict__, "fields": {"stations_total": "int", "stations_tot2": "int", "人口": "int"}}
    )
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
    polys = [
        shapely.geometry.shape(f["geometry"])
        for f in doc["features"]
        if f["geometry"] and f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    ]
    for p in polys:  # RFC 7946 winding: exterior rings counter-clockwise
        for part in getattr(p, "geoms", [p]):
            assert shapely.is_ccw(part.exterior)


# ------------------------------------------------------------------------------------------ export / CLI
def test_export_writes_index_and_no_temp_files(exported):
    raw = (exported / "layers.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel on Chinese Windows reads the Chinese text
    index = read_index(exported / "layers.csv")
    assert list(index["id"]) == LAYER_IDS
    assert index.set_index("id").loc["districts", "name"] == "区级行政区"
    tdt = index.set_index("id").loc["districts", "licence"]
    assert tdt.startswith("天地图 public administrative-division data (no explicit open licence; see NOTICE L1)")
    schematic = set(index.loc[index["schematic"], "id"])
    assert schematic == {lay.id for lay in CATALOG if lay.is_schematic}
    leftovers = [p for p in exported.rglob("*") if p.name.startswith(".") or ".tmp-" in p.name]
    assert leftovers == []
    assert len(list((exported / "shp").glob("*.shp"))) == len(LAYER_IDS)
    assert len(list((exported / "geojson").glob("*.geojson"))) == len(LAYER_IDS)


def test_manifest_lists_every_file_with_sha256(exported):
    man = json.loads((exported / MANIFEST_NAME).read_text(encoding="utf-8"))
    files = {str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file()} - {MANIFEST_NAME}
    assert set(man["files"]) == files
    assert man["layers"] == LAYER_IDS and man["crs"] == "EPSG:4326" and man["formats"] == ["gpkg", "shp", "geojson"]
    gp = man["files"][GPKG_NAME]
    assert gp["sha256"] == sha256_file(exported / GPKG_NAME) and len(gp["sha256"]) == 64
    assert gp["bytes"] == (exported / GPKG_NAME).stat().st_size
    assert verify_export(exported) == []


def test_shapefile_dbf_numbers_booleans_and_text(exported, originals):
    """Numbers as QGIS users expect (16.037, not 16.036999999999999), booleans as 1/0, text as written."""
    dbf = (exported / "shp" / "rail_stations.dbf").read_bytes()
    n_fields = (int.from_bytes(dbf[8:10], "little") - 33) // 32
    desc = {
        dbf[32 + 32 * i : 32 + 32 * i + 11].rstrip(b"\0").decode(): (
            chr(dbf[32 + 32 * i + 11]),
            dbf[32 + 32 * i + 16],
            dbf[32 + 32 * i + 17],
        )
        for i in range(n_fields)
    }
    assert desc["inside_tia"] == ("N", 1, 0)  # boolean: 1 = true, 0 = false
    raw = pyogrio.read_dataframe(exported / "shp" / "rail_stations.shp")
    assert set(raw["inside_tia"]) <= {0, 1}
    assert raw["inside_tia"].sum() == originals["rail_stations"]["inside_tianjin"].sum()
    qml = (exported / "shp" / "rail_stations.qml").read_text(encoding="utf-8")
    assert "在天津市内 Inside Tianjin [inside_tianjin] (1 = 是 true, 0 = 否 false)" in qml  # the code, in QGIS
    ddesc = (exported / "shp" / "districts.dbf").read_bytes()
    assert b"N" in ddesc[32 : 33 + 32 * 12]
    d = pyogrio.read_dataframe(exported / "shp" / "districts.shp")
    area = dict(zip(d["name_zh"], d["area_km2"]))
    orig = dict(zip(originals["districts"]["name_zh"], originals["districts"]["area_km2"]))
    assert area["和平区"] == round(orig["和平区"], 1)  # declared: 1 decimal
    text = (exported / "shp" / "districts.dbf").read_bytes().decode("utf-8", "replace")
    assert "999999" not in text  # no float noise in the DBF text


def test_float_decimals_shortest_form():
    assert float_decimals(np.array([16.037, 1.5, np.nan])) == 3
    assert float_decimals(np.array([2.0, 3.0])) == 0
    assert float_decimals(np.array([0.1 + 0.2])) == 15  # 0.30000000000000004 needs 17 digits: capped at 15
    assert float_decimals(np.array([1.23456]), declared=1) == 1


def test_subset_reexport_updates_layers_inside_the_full_package(exported, built_gpkg, tmp_path):
    import shutil

    out = tmp_path / "exp"
    shutil.copytree(exported, out)  # a full export (gpkg, shp, geojson) of every layer
    before = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    (out / "shp" / "old_layer.shp").write_bytes(b"stale")  # a file of ours that no export writes any more
    before["files"]["shp/old_layer.shp"] = {"bytes": 5, "sha256": sha256_file(out / "shp" / "old_layer.shp")}
    (out / MANIFEST_NAME).write_text(json.dumps(before), encoding="utf-8")
    (out / "shp" / "我的笔记.txt").write_text("mine", encoding="utf-8")  # the user's: never deleted
    export("gpkg", out, gpkg=built_gpkg, layers=["wetlands"])
    assert (out / "shp" / "我的笔记.txt").read_text(encoding="utf-8") == "mine"
    assert verify_export(out) == ["shp/我的笔记.txt: not in the manifest (not written by tjspatial)"]
    (out / "shp" / "我的笔记.txt").unlink()
    names = {n for n, _ in pyogrio.list_layers(out / GPKG_NAME)}
    assert set(LAYER_IDS) <= names  # the other 18 layers stay in the package
    root = _project(out)
    assert sorted(ml.findtext("id").removesuffix("_tjspatial") for ml in root.iter("maplayer")) == sorted(LAYER_IDS)
    man = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert man["layers"] == LAYER_IDS and man["updated_layers"] == ["wetlands"]
    assert man["formats"] == ["gpkg", "shp", "geojson"]  # every format of the export, updated
    assert not (out / "shp" / "old_layer.shp").exists()  # stale file removed
    assert len(list((out / "shp").glob("*.shp"))) == 19 and len(list((out / "geojson").glob("*.geojson"))) == 19
    for rel in ("shp/districts.shp", "geojson/districts.geojson"):  # untouched layers: the same bytes
        assert man["files"][rel]["sha256"] == before["files"][rel]["sha256"]
    assert len(read_index(out / "layers.csv")) == 19
    assert verify_export(out) == []
    assert len(tj.load("districts", out / GPKG_NAME)) == 16


def test_export_refuses_foreign_folder_and_crs_mix(built_gpkg, tmp_path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "my_thesis.docx").write_text("precious")
    with pytest.raises(ExportError, match=r"already holds files that tjspatial did not write \(my_thesis.docx\)"):
        export("geojson", mine, gpkg=built_gpkg, layers=["districts"])
    assert (mine / "my_thesis.docx").read_text() == "precious" and len(list(mine.iterdir())) == 1
    out = tmp_path / "exp"
    export("geojson", out, gpkg=built_gpkg, layers=["districts", "nodes"])
    with pytest.raises(ExportError, match=r"holds an export in EPSG:4326; exporting nodes in EPSG:4548"):
        export("geojson", out, gpkg=built_gpkg, layers=["nodes"], crs="EPSG:4548")
    assert verify_export(out) == []


def test_failed_export_leaves_the_previous_one_whole(built_gpkg, tmp_path, monkeypatch):
    out = tmp_path / "exp"
    export("geojson", out, gpkg=built_gpkg, layers=["districts", "nodes"])
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    import tjspatial.publish.export as ex

    def boom(gdf, layer, path, **kw):
        if layer.id == "nodes":
            raise OSError(28, "No space left on device")
        return ex.__dict__["_orig_write_geojson"](gdf, layer, path, **kw)

    monkeypatch.setitem(ex.__dict__, "_orig_write_geojson", ex.write_geojson)
    monkeypatch.setattr(ex, "write_geojson", boom)
    with pytest.raises(OSError, match="No space left"):
        export("geojson", out, gpkg=built_gpkg, layers=["districts", "nodes", "zones"])
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # nothing mixed: the old export, whole
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # staging removed


def test_concurrent_exports_into_one_place_are_serialised(built_gpkg, tmp_path):
    from tjspatial.publish.export import export_lock

    out = tmp_path / "exp"
    with export_lock(out):  # another export is writing here
        with pytest.raises(ExportError, match=r"another export into .* is still running \(waited 0.3 s\)"):
            export("geojson", out, gpkg=built_gpkg, layers=["nodes"], lock_timeout=0.3)
    assert not out.exists()
    export("geojson", out, gpkg=built_gpkg, layers=["nodes"], lock_timeout=0.3)  # free again
    assert verify_export(out) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # no lock file


def test_200k_character_name_is_cut_with_a_warning(originals, tmp_path):
    gdf = originals["nodes"].copy()
    gdf.loc[2, "name_zh"] = "笑" * 200_000  # e.g. from a billion-laughs test file the build accepted
    with pytest.warns(LongValueWarning, match=r"layer 'nodes', field 'name_zh': 1 value\(s\) longer than 8 DBF fields"):
        write_shapefile(gdf, CATALOG["nodes"], tmp_path)
    back = read_shapefile(tmp_path / "nodes.shp")
    assert back.loc[2, "name_zh"] == "笑" * (MAX_PARTS * (254 // 3))  # cut at a character boundary
    assert list(back["name_zh"])[:2] == list(gdf["name_zh"])[:2]
    with pytest.raises(ExportError, match="layer 'nodes', field 'name_zh'"):
        write_shapefile(gdf, CATALOG["nodes"], tmp_path / "r", long_values="refuse")


def test_export_crs_4548_dxf_and_kml(built_gpkg, tmp_path):
    import ezdxf
    from tjspatial.publish.dxf import dxf_layer_name

    out = tmp_path / "cad"
    export(
        "gpkg,shp,dxf,kml", out, gpkg=built_gpkg, layers=["districts", "metro_lines", "planned_rail"], crs="EPSG:4548"
    )
    info = pyogrio.read_info(out / GPKG_NAME, layer="districts")
    assert info["crs"] == "EPSG:4548"
    b = pyogrio.read_dataframe(out / GPKG_NAME, layer="districts").total_bounds
    assert 400_000 < b[0] < b[2] < 650_000 and 4_200_000 < b[1] < b[3] < 4_500_000  # metres
    assert pyogrio.read_info(out / "shp" / "districts.shp")["crs"] == "EPSG:4548"
    assert "CGCS2000" in (out / "shp" / "districts.prj").read_text()
    # DXF: GBK with $DWGCODEPAGE ANSI_936; Chinese layer names intact in GDAL and ezdxf; metres
    dxf = out / "dxf" / "tianjin.dxf"
    df = pyogrio.read_dataframe(dxf)
    expected = {dxf_layer_name(CATALOG[i]) for i in ("districts", "metro_lines", "planned_rail")}
    assert set(df["Layer"]) == expected and "区级行政区" in expected
    assert "和平区" in set(df["Text"].dropna())
    assert "Z4线一期北段（寨上—北塘）（示意）" in set(df["Text"].dropna())
    bb = df.total_bounds
    assert 400_000 < bb[0] < bb[2] < 650_000 and 4_200_000 < bb[1] < bb[3] < 4_500_000
    doc = ezdxf.readfile(dxf)
    assert expected <= {lay.dxf.name for lay in doc.layers}
    assert doc.header["$DWGCODEPAGE"] == "ANSI_936" and doc.header["$INSUNITS"] == 6
    lts = {e.dxf.linetype for e in doc.modelspace().query("LWPOLYLINE") if e.dxf.layer == "规划轨道交通线路（示意）"}
    assert lts == {"CONTINUOUS", "DASHED", "DOT"}  # status owns the dash in CAD too
    # KML: names and descriptions, WGS 84
    k = pyogrio.read_dataframe(out / "kml" / "planned_rail.kml")
    assert "地铁4号线中段（西站—东南角）" in set(k["Name"])
    assert k["description"].str.contains("示意 / schematic").all()
    assert -180 < k.total_bounds[0] < 180
    man = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert man["crs"] == "EPSG:4548" and man["dxf_crs"] == "EPSG:4548"
    index = read_index(out / "layers.csv").set_index("id")
    assert "dxf/tianjin.dxf|layer=区级行政区" in index.loc["districts", "files"].split()


def test_dxf_text_outside_gbk_is_escaped_and_bundled_names_fit_gbk(originals, tmp_path):
    from tjspatial.publish.dxf import dxf_layer_name, write_dxf

    for lid, gdf in originals.items():  # every label and layer name of the bundled data is in GBK
        dxf_layer_name(CATALOG[lid]).encode("gbk")
        for v in gdf["name_zh"]:
            v.encode("gbk")
    g = originals["nodes"].copy()
    g.loc[0, "name_zh"] = "武清€"
    write_dxf(tmp_path / "t.dxf", {"nodes": g})
    texts = pyogrio.read_dataframe(tmp_path / "t.dxf")["Text"].dropna().tolist()
    assert texts[0] == "武清\\U+20ac" and texts[1] == "静海（静海镇）"  # the DXF escape; AutoCAD shows €


def test_export_rejects_bad_arguments(built_gpkg, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'pdf'"):
        export("pdf", tmp_path, gpkg=built_gpkg)
    with pytest.raises(ValueError, match="'EPSG:999999' is not a CRS"):
        export("shp", tmp_path, gpkg=built_gpkg, crs="EPSG:999999")
    with pytest.raises(KeyError, match="no_such_layer"):
        export("shp", tmp_path, gpkg=built_gpkg, layers=["no_such_layer"])


def test_cli_export_subset(built_gpkg, tmp_path, capsys):
    rc = main(
        [
            "export",
            "--format",
            "geojson",
            "--out",
            str(tmp_path),
            "--gpkg",
            str(built_gpkg),
            "--layers",
            "districts,nodes",
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "geojson").iterdir()) == ["districts.geojson", "nodes.geojson"]
    assert len(gpd.read_file(tmp_path / "geojson" / "districts.geojson")) == 16
    assert "wrote" in capsys.readouterr().out


def test_cli_export_dxf_in_cgcs2000(built_gpkg, tmp_path, capsys):
    rc = main(
        [
            "export",
            "--format",
            "dxf,kml",
            "--crs",
            "EPSG:4548",
            "--out",
            str(tmp_path / "cad"),
            "--gpkg",
            str(built_gpkg),
            "--layers",
            "wetlands",
        ]
    )
    assert rc == 0
    df = pyogrio.read_dataframe(tmp_path / "cad" / "dxf" / "tianjin.dxf")
    assert set(df["Layer"]) == {"四大湿地自然保护区（示意）"}
    assert "七里海湿地（天津古海岸与湿地国家级自然保护区）（示意）" in set(df["Text"].dropna())
    assert 400_000 < df.total_bounds[0] < 650_000
    assert sorted(p.name for p in (tmp_path / "cad").iterdir()) == ["dxf", MANIFEST_NAME, "kml", "layers.csv"]


def test_shapefile_qml_uses_short_field_names():
    from tjspatial.styles import Style

    layer = CATALOG["districts"]
    style = Style(
        id="districts",
        geometry="polygon",
        fill="#f2efe9",
        label_field="pop_2020_status",
        categories={"field": "area_km2_official", "values": {"1": {"color": "#e34a33"}}},
    )
    names = shapefile_field_names(layer)
    root = ET.fromstring(style_qml(layer, style, names).split("\n", 1)[1])
    assert all('"area_km2_o"' in r.get("filter") for r in root.iter("rule"))
    assert root.find("labeling/settings/text-style").get("fieldName").startswith('coalesce(to_string("pop_2020_s")')
    with pytest.raises(ValueError, match="label_field 'nope' is not a field of the layer"):
        style_qml(layer, Style(id="districts", geometry="polygon", label_field="nope"))
