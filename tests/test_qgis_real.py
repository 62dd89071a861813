"""The export opened in a real QGIS (Debian's qgis / python3-qgis, QGIS 3.22), offscreen.

PyQGIS imports only under Debian's /usr/bin/python3, so tests/qgis_scripts/check_export.py runs there as a
subprocess and reports what QGIS sees as JSON; the assertions are here. Skipped, with the reason, where QGIS
is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

import tjspatial as tj
from tjspatial.publish.export import export
from tjspatial.publish.qgis_layouts import A3_LANDSCAPE_MM, print_maps
from tjspatial.publish.qgis_project import GEOMETRY_GROUPS, display_title, draw_order, layer_licences, short_name
from tjspatial.publish.qml import field_aliases, layer_style, legend_classes
from tjspatial.publish.shapefile import LongValueWarning, shapefile_field_names

pytestmark = pytest.mark.qgis

QGIS_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).parent / "qgis_scripts" / "check_export.py"
CATALOG = tj.get_catalog()


def _qgis_missing() -> str | None:
    if not Path(QGIS_PYTHON).exists():
        return f"{QGIS_PYTHON} not found (Debian python3 with python3-qgis is needed)"
    probe = subprocess.run(
        [QGIS_PYTHON, "-c", "import qgis.core"],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        timeout=120,
    )
    if probe.returncode != 0:
        return (
            f"PyQGIS does not import under {QGIS_PYTHON} (install Debian qgis + python3-qgis): "
            f"{probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else probe.returncode}"
        )
    return None


@pytest.fixture(scope="module")
def qgis_report(built_gpkg, tmp_path_factory) -> tuple[dict, Path]:
    reason = _qgis_missing()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("qgis_export") / "export"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LongValueWarning)
        export("all,dxf", out, gpkg=built_gpkg)
        # then a re-export of one layer into it: QGIS must still find all 19 layers in package and project
        export("gpkg", out, gpkg=built_gpkg, layers=["wetlands"])
    png = out / "render.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(out)})
    proc = subprocess.run(
        [QGIS_PYTHON, str(SCRIPT), str(out), str(png)], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, f"QGIS script failed:\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    keep = os.environ.get("TJSPATIAL_QGIS_RENDER")  # optional: copy the render somewhere to look at it
    if keep:
        shutil.copy(png, keep)
    return report, png


def _hex(hex_color: str | None) -> str | None:
    return hex_color.lower() if hex_color else None


def _check_renderer(info: dict, layer, where: str, data, field_names: dict[str, str] | None = None) -> None:
    """Rule-based renderer: one rule per drawn class, legend = rules, status dash, accuracy casing."""
    style = layer_style(layer)
    names = field_names or {}
    r = info["renderer"]
    assert r["type"] == "RuleRenderer", where
    classes = legend_classes(layer, data=data, field_names=names)
    assert [rule["label"] for rule in r["rules"]] == [c.label for c in classes], where
    assert [it["label"] for it in r["legend"]] == [c.label for c in classes], f"{where}: legend = rules"
    for rule, item, cls in zip(r["rules"], r["legend"], classes):
        assert item["symbol"] == rule["symbol"], f"{where}: legend symbol differs from the drawn one"
        sls = rule["symbol"]["layers"]
        lines = [sl for sl in sls if sl["class"] == "SimpleLine"]
        if layer.geometry_type != "Point":
            assert lines[-1]["use_custom_dash"] == ("1" if cls.dash else "0"), (where, cls.label)
        assert len(sls) == (3 if layer.geometry_type == "Polygon" else 2) - (0 if cls.approximate else 1), where
        if cls.approximate:
            casing = sls[1] if layer.geometry_type == "Polygon" else sls[0]
            assert casing["alpha"] == round(0.3 * 255), where
        if cls.color and layer.geometry_type == "LineString":
            assert lines[-1]["color"] == cls.color.lower(), where
    label = style.label_field
    if label:
        assert info["label_expression"] is True, where
        assert info["label_field"].startswith(f'coalesce(to_string("{names.get(label, label)}")'), where
        assert info["label_font"] == "Noto Sans CJK SC", where
        if style.label_max_scale:
            assert info["label_scale"] == [True, style.label_max_scale], where
    else:
        assert info["label_field"] is None, where


def test_project_opens_in_epsg4548_panel_order_is_draw_order(qgis_report):
    report, _ = qgis_report
    assert report["read"] is True
    assert report["crs"] == "EPSG:4548"
    assert [g["name"] for g in report["groups"]] == list(GEOMETRY_GROUPS.values())
    assert report["has_custom_order"] is False  # the panel controls drawing order
    expected = [short_name(lay) for lay in draw_order(list(CATALOG))]
    assert report["tree_order"] == report["draw_order"] == expected
    kinds = [
        CATALOG[lid].geometry_type
        for lid in [next(lay.id for lay in CATALOG if short_name(lay) == n) for n in report["draw_order"]]
    ]
    assert kinds == sorted(kinds, key=["Point", "LineString", "Polygon"].index)  # points over lines over polygons
    assert report["user_layer_draws_first"] is True  # a layer added at the top of the panel draws on top


def test_every_project_layer_valid_and_styled_after_one_layer_reexport(qgis_report, built_gpkg):
    report, _ = qgis_report
    layers = report["project_layers"]
    assert sorted(layers) == sorted(CATALOG.ids)  # 19 layers: the wetlands re-export kept the other 18
    assert len(report["gpkg_layers"]) == 19
    for lid, info in layers.items():
        layer = CATALOG[lid]
        data = tj.load(lid, built_gpkg)
        assert info["valid"], lid
        assert info["features"] == len(data), lid
        assert info["crs"] == "EPSG:4326", lid
        assert info["name"] == short_name(layer) and info["title"] == display_title(layer), lid
        _check_renderer(info, layer, f"project {lid}", data)
        assert info["licenses"] == layer_licences(layer, CATALOG), lid
        assert info["keywords"]["tjspatial:accuracy"][0] == layer.accuracy, lid
        if layer.is_schematic:
            assert "示意" in info["abstract"] and "schematic" in info["abstract"], lid


def test_open_lines_solid_planned_dashed_legend_matches(qgis_report):
    """Every rail feature: the legend entry QGIS shows for it carries exactly the symbol it is drawn with."""
    report, _ = qgis_report
    feats = report["line_features"]
    assert len(feats["intercity_rail"]) == 10 and len(feats["metro_lines"]) == 12 and len(feats["planned_rail"]) == 16
    for lid, rows in feats.items():
        for row in rows:
            where = (lid, row["key"], row["status"], row["accuracy"])
            assert row["legend_matches"], where
            if lid == "planned_rail" and row["key"] in ("M4", "M7", "M10", "M11", "jingtang", "jinxing"):
                assert row["drawn_dash"] == [] and row["legend"] == [], where  # drawn in metro_lines/intercity_rail
                continue
            assert len(row["legend"]) == 1, where
            assert row["drawn_dash"] == ["0" if row["status"] == "open" else "1"], where  # status owns the dash
            assert ("示意" in row["legend"][0]) == (row["accuracy"] == "schematic"), where
    pr = {row["key"]: row for row in feats["planned_rail"]}
    for key in ("Z4-north", "jingbin-north"):  # open, exist nowhere else: drawn, solid
        assert pr[key]["drawn_dash"] == ["0"] and "open" in pr[key]["legend"][0]
    ic = feats["intercity_rail"]
    assert sum(r["accuracy"] == "schematic" for r in ic) == 9 and {r["drawn_dash"][0] for r in ic} == {"0"}


def test_gpkg_layers_get_default_style_from_layer_styles(qgis_report, built_gpkg):
    report, _ = qgis_report
    for lid, info in report["gpkg_layers"].items():
        layer = CATALOG[lid]
        assert info["valid"], lid
        _check_renderer(info, layer, f"gpkg {lid}", tj.load(lid, built_gpkg))
        assert info["title"] == display_title(layer), f"gpkg {lid}: metadata from gpkg_metadata"


def test_shapefiles_open_styled_with_chinese_names_and_aliases(qgis_report, built_gpkg):
    report, _ = qgis_report
    shp = report["shp_layers"]
    assert sorted(shp) == sorted(CATALOG.ids)
    for lid, info in shp.items():
        layer = CATALOG[lid]
        data = tj.load(lid, built_gpkg)
        assert info["valid"], lid
        if layer.geometry_type != "Point":
            assert info["wkb_type"] == f"Multi{layer.geometry_type}", lid
        names = shapefile_field_names(layer)
        _check_renderer(info, layer, f"shp {lid}", data, names)
        assert info["title"] == display_title(layer), f"shp {lid}: metadata from .qmd"
        assert (info["first_name_zh"] or "") == data["name_zh"].iloc[0], lid
        expected = field_aliases(layer, names)
        for short, alias in expected.items():  # the alias QGIS shows for every (short) field
            assert info["aliases"][short] == alias, (lid, short)
    assert report["shp_layers"]["districts"]["first_name_zh"] == "和平区"
    assert report["shp_layers"]["districts"]["aliases"]["area_km2_o"].endswith("[area_km2_official]")


def test_print_layouts_themes_bookmarks(qgis_report, built_gpkg):
    report, png = qgis_report
    maps = print_maps(CATALOG)
    assert len(maps) == 6
    layouts = report["layouts"]
    assert sorted(layouts) == sorted(pm.name for pm in maps)
    assert sorted(report["themes"]) == sorted(pm.name for pm in maps)
    for pm in maps:
        lay = layouts[pm.name]
        assert lay["page_mm"] == list(A3_LANDSCAPE_MM), pm.id
        assert lay["items"].count("QgsLayoutItemLabel") == 3, pm.id  # title, subtitle, sources + notes
        for kind in ("QgsLayoutItemMap", "QgsLayoutItemLegend", "QgsLayoutItemScaleBar", "QgsLayoutItemPicture"):
            assert kind in lay["items"], (pm.id, kind)
        assert lay["map_follows"] is True and lay["map_theme"] == pm.name
        assert 1e5 < lay["map_scale"] < 2e6, pm.id
        assert lay["pdf_result"] == 0 and lay["pdf_head"] == "%PDF-" and lay["pdf_bytes"] > 50_000, pm.id
        notes = next(t for t in lay["labels"] if t.startswith("数据来源"))
        for lid in pm.layer_ids:
            for src in CATALOG.layer_sources(lid):
                assert src.attribution in notes, (pm.id, lid, src.id)  # attribution on every layout
        assert ("示意" in notes) and "Exported:" in notes
        assert any(pm.title_zh in t for t in lay["labels"])
        theme = report["themes"][pm.name]
        assert sorted(theme) == sorted(short_name(CATALOG[lid]) for lid in pm.visible)
    first = layouts[maps[0].name]
    assert first["png_result"] == 0
    stats = first["png_stats"]
    assert stats["variance"] > 200 and stats["distinct_colours"] > 100 and stats["non_background_fraction"] > 0.1
    marks = {b["name"]: b for b in report["bookmarks"]}
    wetlands = tj.load("wetlands", built_gpkg)["name_zh"].tolist()
    assert {"津城", "滨城", "天津港 / Port of Tianjin", *wetlands} == set(marks)
    for b in marks.values():
        assert b["crs"] == "EPSG:4548"
        x0, y0, x1, y1 = b["extent"]
        assert 400_000 < x0 < x1 < 650_000 and 4_200_000 < y0 < y1 < 4_500_000, b["name"]


def test_dxf_read_by_qgis_gdal_chinese_layer_names_and_metres(qgis_report):
    from tjspatial.publish.dxf import dxf_layer_name

    report, _ = qgis_report
    dxf = report["dxf"]
    assert dxf["valid"]
    assert dxf["layers"] == sorted(dxf_layer_name(lay) for lay in CATALOG)  # all 19 after the re-export
    assert "四大湿地自然保护区（示意）" in dxf["layers"] and "区级行政区" in dxf["layers"]
    assert {"和平区", "北大港湿地自然保护区（示意）"} <= set(dxf["texts"])
    x0, y0, x1, y1 = dxf["extent"]  # EPSG:4548 metres (false easting 500 km, ~4,300 km north)
    assert 400_000 < x0 < x1 < 650_000 and 4_200_000 < y0 < y1 < 4_500_000


def test_project_renders_to_a_non_blank_png(qgis_report):
    report, png = qgis_report
    stats = report["render"]
    assert png.stat().st_size > 10_000
    assert stats["errors"] == []
    assert (stats["width"], stats["height"]) == (1400, 1100)
    assert stats["variance"] > 200, stats  # a blank or single-colour image has 0
    assert stats["distinct_colours"] > 100, stats
    assert stats["non_background_fraction"] > 0.05, stats
