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
from tjspatial.catalog import THEMES
from tjspatial.publish.export import export
from tjspatial.publish.qgis_project import display_title, draw_order
from tjspatial.publish.qml import OTHER_LABEL, layer_style
from tjspatial.publish.shapefile import LongValueWarning, shapefile_field_names

pytestmark = pytest.mark.qgis

QGIS_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).parent / "qgis_scripts" / "check_export.py"
CATALOG = tj.get_catalog()


def _qgis_missing() -> str | None:
    if not Path(QGIS_PYTHON).exists():
        return f"{QGIS_PYTHON} not found (Debian python3 with python3-qgis is needed)"
    probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, text=True,
                           env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, timeout=120)
    if probe.returncode != 0:
        return f"PyQGIS does not import under {QGIS_PYTHON} (install Debian qgis + python3-qgis): " \
               f"{probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else probe.returncode}"
    return None


@pytest.fixture(scope="module")
def qgis_report(built_gpkg, tmp_path_factory) -> tuple[dict, Path]:
    reason = _qgis_missing()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("qgis_export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LongValueWarning)
        export("all", out, gpkg=built_gpkg)
    png = out / "render.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(out)})
    proc = subprocess.run([QGIS_PYTHON, str(SCRIPT), str(out), str(png)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, f"QGIS script failed:\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    keep = os.environ.get("TJSPATIAL_QGIS_RENDER")  # optional: copy the render somewhere to look at it
    if keep:
        shutil.copy(png, keep)
    return report, png


def _hex(hex_color: str | None) -> str | None:
    return hex_color.lower() if hex_color else None


def _check_renderer(info: dict, layer, where: str, field_names: dict[str, str] | None = None) -> None:
    style = layer_style(layer)
    names = field_names or {}
    r = info["renderer"]
    if style.categories:
        assert r["type"] == "categorizedSymbol", where
        field = style.categories["field"]
        assert r["attr"] == names.get(field, field), where
        cats = r["categories"]
        expected = style.categories["values"]
        assert len(cats) == len(expected) + 1, where  # + the catch-all class
        for cat, (value, spec) in zip(cats, expected.items()):
            assert cat["value"] == value and cat["label"] == spec.get("label", value), where
            assert cat["color"] == _hex(spec["color"]), f"{where}: class {value!r}"
        assert cats[-1]["label"] == OTHER_LABEL and cats[-1]["value"] in ("", None), where
    else:
        assert r["type"] == "singleSymbol", where
        kind = layer.geometry_type
        first = r["symbol"]["layers"][0]
        if kind == "LineString":
            assert first["color"] == _hex(style.stroke), where
        elif style.fill:
            assert first["color"] == _hex(style.fill), where
        if style.color_field:
            dd = first["data_defined"]
            assert any(f'"{names.get(style.color_field, style.color_field)}"' in v for v in dd.values()), where
    symbols = [c["symbol"] for c in r.get("categories", [])] or [r["symbol"]]
    if layer.is_schematic and layer.geometry_type != "Point":
        for sym in symbols:
            lines = [sl for sl in sym["layers"] if sl["class"] == "SimpleLine"]
            assert lines and all(sl["use_custom_dash"] == "1" for sl in lines), f"{where}: schematic → dashed"
    label = style.label_field
    assert info["label_field"] == (names.get(label, label) if label else None), where
    if label:
        assert info["label_font"] == "Noto Sans CJK SC", where


def test_project_opens_in_epsg4548_grouped_by_theme(qgis_report):
    report, _ = qgis_report
    assert report["read"] is True
    assert report["crs"] == "EPSG:4548"
    themes = [t for t in THEMES if any(lay.theme == t for lay in CATALOG)]
    assert [g["name"] for g in report["groups"]] == [" / ".join(THEMES[t]) for t in themes]
    assert report["has_custom_order"] is True
    assert report["draw_order"] == [display_title(lay) for lay in draw_order(list(CATALOG))]


def test_every_project_layer_valid_and_styled(qgis_report, built_gpkg):
    report, _ = qgis_report
    layers = report["project_layers"]
    assert sorted(layers) == sorted(CATALOG.ids)
    for lid, info in layers.items():
        layer = CATALOG[lid]
        assert info["valid"], lid
        assert info["features"] == len(tj.load(lid, built_gpkg)), lid
        assert info["crs"] == "EPSG:4326", lid
        assert info["name"] == info["title"] == display_title(layer), lid
        _check_renderer(info, layer, f"project {lid}")
        assert info["licenses"] == CATALOG.licence(lid).split("; "), lid
        assert info["keywords"]["tjspatial:accuracy"][0] == layer.accuracy, lid
        if layer.is_schematic:
            assert "示意" in info["abstract"] and "schematic" in info["abstract"], lid


def test_gpkg_layers_get_default_style_from_layer_styles(qgis_report):
    report, _ = qgis_report
    for lid, info in report["gpkg_layers"].items():
        layer = CATALOG[lid]
        assert info["valid"], lid
        _check_renderer(info, layer, f"gpkg {lid}")
        assert info["title"] == display_title(layer), f"gpkg {lid}: metadata from gpkg_metadata"


def test_shapefiles_open_styled_with_chinese_names(qgis_report, built_gpkg):
    report, _ = qgis_report
    shp = report["shp_layers"]
    assert sorted(shp) == sorted(CATALOG.ids)
    for lid, info in shp.items():
        layer = CATALOG[lid]
        assert info["valid"], lid
        if layer.geometry_type != "Point":
            assert info["wkb_type"] == f"Multi{layer.geometry_type}", lid
        _check_renderer(info, layer, f"shp {lid}", shapefile_field_names(layer))
        assert info["title"] == display_title(layer), f"shp {lid}: metadata from .qmd"
        first = tj.load(lid, built_gpkg)["name_zh"].iloc[0]
        assert (info["first_name_zh"] or "") == first, lid
    assert report["shp_layers"]["districts"]["first_name_zh"] == "和平区"


def test_project_renders_to_a_non_blank_png(qgis_report):
    report, png = qgis_report
    stats = report["render"]
    assert png.stat().st_size > 10_000
    assert stats["errors"] == []
    assert (stats["width"], stats["height"]) == (1400, 1100)
    assert stats["variance"] > 200, stats  # a blank or single-colour image has 0
    assert stats["distinct_colours"] > 100, stats
    assert stats["non_background_fraction"] > 0.05, stats
