"""Web maps without a browser: map declarations, display data, styles, escaping, offline inlining, site."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from tjspatial import get_catalog, load, load_style, to_metric, wgs84_to_gcj02
from tjspatial.styles import load_cartography
from tjspatial.catalog import THEMES
from tjspatial.publish.map_specs import MapSpec, load_display_settings, load_map_specs, map_layer_ids
from tjspatial.publish.offline_assets import (
    ASSETS_DIR,
    AssetError,
    asset_for_url,
    external_references,
    inline_assets,
    vendored_assets,
)
from tjspatial.publish.site import gallery_html, write_site
from tjspatial.publish.webmap import MapWarning, display_layer, embed_json, make_map

XSS = "<img src=x onerror=alert(1)>"
BREAKOUT = "</script><script>alert(2)</script>"


@pytest.fixture(scope="module")
def xss_gpkg(built_gpkg, tmp_path_factory) -> Path:
    """The session GeoPackage with two hostile station names (a private copy)."""
    dst = tmp_path_factory.mktemp("xss") / "tianjin.gpkg"
    shutil.copy(built_gpkg, dst)
    st = pyogrio.read_dataframe(dst, layer="rail_stations")
    st.loc[st.index[0], "name_zh"] = XSS
    st.loc[st.index[1], "name_en"] = BREAKOUT
    pyogrio.write_dataframe(st, dst, layer="rail_stations")
    return dst


def test_map_declarations_are_data_and_complete():
    specs = load_map_specs()
    assert [s.id for s in specs] == ["dual_city", "ecology", "port", "rail", "coverage", "indicators"]
    assert {s.kind for s in specs} == {"layers", "coverage", "indicators"}
    cat = get_catalog()
    for spec in specs:
        ids, missing = map_layer_ids(spec, cat)
        assert set(ids) <= set(cat.ids)
        assert set(missing) == {lid for lid in spec.layers if lid not in cat}
        for theme in spec.themes:  # every layer of a listed theme is on the map
            assert {lay.id for lay in cat if lay.theme == theme} <= set(ids)
        assert set(spec.hidden) <= set(spec.layers) and set(spec.search) <= set(spec.layers)


def test_display_tolerances_are_metres_per_layer():
    d = load_display_settings()
    assert d.tolerance("water", "Polygon") == 25.0
    assert d.tolerance("rail_stations", "Point") == 0.0
    assert d.tolerance("planned_rail", "LineString") == 15.0


def test_undeclared_and_unbuilt_layers_are_skipped_with_a_warning(tmp_path):
    from tjspatial import build

    small = build(out=tmp_path / "small.gpkg", layers=["boundary", "districts"], quiet=True)
    spec = MapSpec(
        id="t",
        title_zh="测试",
        title_en="Test",
        summary_zh="",
        summary_en="",
        layers=("boundary", "districts", "nodes", "no_such_layer"),
    )
    with pytest.warns(MapWarning) as rec:
        wm = make_map(spec, small)
    msgs = " | ".join(str(w.message) for w in rec)
    assert "'no_such_layer' is not in the catalog" in msgs
    assert "'nodes'" in msgs and "not in small.gpkg" in msgs
    assert [c["id"] for c in wm.config["layers"]] == ["boundary", "districts"]
    assert "no_such_layer" in wm.render() and "nodes" in wm.warnings[1]


def test_display_layer_simplifies_in_metres_and_keeps_area(built_gpkg):
    cat = get_catalog()
    water = load("water", built_gpkg)
    layer = cat["water"]
    disp = display_layer(water, layer, load_style(layer.style), 25.0)
    before = shapely.get_num_coordinates(np.asarray(water.geometry.values)).sum()
    after = shapely.get_num_coordinates(np.asarray(disp.geometry.values)).sum()
    assert after < 0.9 * before  # 28 924 -> ~25 000 vertices: most water polygons are a few 30 m pixels
    a0 = to_metric(water).geometry.area.sum()
    a1 = to_metric(disp).geometry.area.sum()
    assert abs(a1 - a0) / a0 < 0.002
    coast = load("coastline", built_gpkg)
    cdisp = display_layer(coast, cat["coastline"], load_style("coastline"), 30.0)
    n0 = shapely.get_num_coordinates(np.asarray(coast.geometry.values)).sum()
    n1 = shapely.get_num_coordinates(np.asarray(cdisp.geometry.values)).sum()
    assert n1 < 0.75 * n0
    assert to_metric(cdisp).length.sum() == pytest.approx(to_metric(coast).length.sum(), rel=0.005)
    coords = shapely.get_coordinates(np.asarray(disp.geometry.values))
    assert np.allclose(coords, np.round(coords, 5), atol=1e-12, rtol=0)
    stations = load("rail_stations", built_gpkg)
    sdisp = display_layer(stations, cat["rail_stations"], load_style("rail_stations"), 0.0)
    assert len(sdisp) == len(stations)
    assert (
        np.abs(
            shapely.get_coordinates(np.asarray(sdisp.geometry.values))
            - shapely.get_coordinates(np.asarray(stations.geometry.values))
        ).max()
        <= 5e-6 + 1e-12
    )


def test_styles_legend_and_accuracy_come_from_styles_and_catalog(built_gpkg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MapWarning)
        wm = make_map("rail", built_gpkg)
    cfgs = {c["id"]: c for c in wm.config["layers"]}
    cat = get_catalog()
    st = load_style("rail_stations")
    assert cfgs["rail_stations"]["style"]["stroke"] == st.stroke
    assert [e["color"] for e in cfgs["rail_stations"]["legend"]] == list(st.category_colors().values())
    feats = json.loads(cfgs["rail_stations"]["data"])["features"]
    kinds = [f["properties"]["kind"] for f in feats]
    assert [f["properties"]["_c"] for f in feats] == [st.category_colors()[k] for k in kinds]
    # metro lines take their colour from the data's colour field, as the style says
    metro = json.loads(cfgs["metro_lines"]["data"])["features"]
    assert {f["properties"]["_c"] for f in metro} == set(load("metro_lines", built_gpkg)["colour"])
    # styles/cartography.json: status owns the dash, accuracy a casing (legend entries match what is drawn)
    carto = load_cartography()
    for c in wm.config["layers"]:
        if c["id"] in cat and cat[c["id"]].is_schematic:
            assert c["accuracy_label"] == "示意 / schematic" and c["schematic"]
            assert any(e.get("casing") and e["label"] == carto.accuracy_label for e in c["legend"]), c["id"]
    planned = cfgs["planned_rail"]
    statuses = set(load("planned_rail", built_gpkg)["status"])
    dashes = {e["status"]: e["dash"] for e in planned["legend"] if "status" in e}
    assert set(dashes) <= statuses and dashes.get("planned") == carto.dash("planned") == "3 4"
    assert dashes.get("open", None) is None
    assert not any(e.get("casing") for e in cfgs["metro_lines"]["legend"])  # derived, not schematic
    assert any("station-to-station chords" in b["text"] for b in cfgs["metro_lines"]["badges"])
    assert wm.config["cartography"]["casing_px"] == carto.casing_px
    labels = [g["label"] for g in wm.config["groups"]]
    order = [f"{zh} / {en}" for zh, en in THEMES.values()]
    assert labels == [lab for lab in order if lab in labels]
    # the 800 m catchment is measured in EPSG:4548
    catch = json.loads(cfgs["station_catchments"]["data"])["features"][0]["properties"]
    assert catch["stations"] == int(
        (
            (load("rail_stations", built_gpkg)["kind"].isin(["metro", "rail"]))
            & (load("rail_stations", built_gpkg)["name_zh"] != "")
        ).sum()
    )
    assert 100 < catch["area_km2"] < 2000
    # every source of the map's layers is attributed
    for lid in ("rail_stations", "metro_lines", "intercity_rail"):
        for src in cat.layer_sources(lid):
            assert src.attribution in wm.config["sources"].values()


def test_hostile_names_are_escaped_in_the_page(xss_gpkg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MapWarning)
        page = make_map("rail", xss_gpkg, offline=True).render()
    assert XSS not in page and "<img src=x" not in page
    assert BREAKOUT not in page and "alert(2)</script>" not in page
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in page
    assert embed_json({"a": "</script>&\u2028"}) == '{"a":"\\u003c/script\\u003e\\u0026\\u2028"}'


def test_offline_page_has_no_external_script_or_stylesheet(built_gpkg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MapWarning)
        wm = make_map("ecology", built_gpkg, offline=True)
        online = make_map("ecology", built_gpkg, offline=False).render()
    page = wm.render()
    assert external_references(page) == []
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, re.S))
    assert "leaflet-control-layers-toggle" in styles  # the vendored CSS is inlined
    assert not re.search(r"url\(\s*(?![\"']?(?:data:|#))", styles)  # its images too, as data: URIs
    refs = external_references(online)
    assert len(refs) == 12  # leaflet js+css, 5 plugins x (js + css)
    assert {asset_for_url(u).package for u in refs} == {a.package for a in vendored_assets()}
    assert wm.config["basemaps"][0]["id"] == "offline" and wm.config["basemaps"][0]["default"]
    assert "离线版" in page and "offline edition" in page


def test_vendored_assets_have_licences_and_unknown_urls_fail():
    manifest = json.loads((ASSETS_DIR / "MANIFEST.json").read_text())
    for pkg in manifest["packages"]:
        assert (ASSETS_DIR / pkg["licence_file"]).is_file()
        assert pkg["version"] and pkg["licence"] in ("MIT", "BSD-2-Clause")
    with pytest.raises(AssetError, match="https://example.org/evil.js"):
        inline_assets('<script src="https://example.org/evil.js"></script>')


def test_gaode_variant_shifts_overlays_to_gcj02_for_display_only(built_gpkg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MapWarning)
        wgs = make_map("dual_city", built_gpkg)
        gcj = make_map("dual_city", built_gpkg, basemap="gaode")
    assert [b["id"] for b in gcj.config["basemaps"]] == ["offline", "gaode"]
    assert "gaode" not in [b["id"] for b in wgs.config["basemaps"]]
    a = json.loads(next(c for c in wgs.config["layers"] if c["id"] == "nodes")["data"])["features"]
    b = json.loads(next(c for c in gcj.config["layers"] if c["id"] == "nodes")["data"])["features"]
    lon, lat = a[0]["geometry"]["coordinates"]
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert b[0]["geometry"]["coordinates"] == pytest.approx([float(glon), float(glat)], abs=1.1e-5)
    assert 0.003 < b[0]["geometry"]["coordinates"][0] - lon < 0.009  # ~500 m east near Tianjin
    assert load("nodes", built_gpkg).geometry.x.iloc[0] == pytest.approx(lon, abs=1e-5)  # data unchanged
    # coordinates and measurements on the GaoDe edition say GCJ-02, and no GK metres are derived from them
    assert gcj.config["coords"]["crs_label"] == "GCJ-02" and "GCJ-02" in gcj.config["coords"]["note"]
    assert gcj.config["gk"] is None and wgs.config["gk"]["lon0"] == 117.0


def test_site_gallery_thumbnails_and_sizes(built_gpkg, tmp_path):
    res = write_site(tmp_path / "site", built_gpkg, offline=True, maps=["dual_city", "indicators"])
    index = res.index.read_text(encoding="utf-8")
    for spec in load_map_specs():
        if spec.id in ("dual_city", "indicators"):
            assert f'href="{spec.filename}"' in index and spec.title_zh in index and spec.title_en in index
    assert set(res.thumbnails) == {"dual_city"}
    assert res.thumbnails["dual_city"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(size < 5_000_000 for size in res.sizes.values())
    assert not list((tmp_path / "site").glob(".*.tmp"))  # temp files renamed
    page = gallery_html(
        [MapSpec(id="x", title_zh=XSS, title_en="t", summary_zh="s", summary_en="s")],
        thumbnails={},
        date="2026",
        offline=True,
        schematic={},
    )
    assert XSS not in page and "&lt;img src=x" in page


def test_cli_maps_and_publish(built_gpkg, tmp_path, capsys):
    from tjspatial.cli import main

    out = tmp_path / "site"
    assert (
        main(["maps", "--out", str(out), "--gpkg", str(built_gpkg), "--maps", "port", "--offline", "--no-thumbnails"])
        == 0
    )
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["index.html", "port.html"]
    assert external_references((out / "port.html").read_text(encoding="utf-8")) == []
    gpkg = tmp_path / "fresh.gpkg"  # missing: publish builds it first
    assert main(["publish", "--out", str(tmp_path / "pub"), "--gpkg", str(gpkg), "--no-analyse", "--no-export"]) == 0
    assert gpkg.exists()
    names = {p.name for p in (tmp_path / "pub").glob("*.html")}
    assert names == {"index.html"} | {s.filename for s in load_map_specs()}
    assert "steps (s): build" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ #14: data is data
def page_blocks(page: str) -> dict[str, object]:
    """The JSON script blocks of a page, parsed as a browser's JSON.parse would (id → value)."""
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page, re.S)
    return {bid: json.loads(text) for bid, text in blocks}


LINE_SEPARATORS = "北\u2028辰\u2029区\u0085站"


@pytest.fixture(scope="module")
def quirky_gpkg(built_gpkg, tmp_path_factory) -> Path:
    """The session GeoPackage with line separators and page-assembly markers in names and fields."""
    dst = tmp_path_factory.mktemp("quirky") / "tianjin.gpkg"
    shutil.copy(built_gpkg, dst)
    st = pyogrio.read_dataframe(dst, layer="rail_stations")
    st.loc[st.index[0], "name_zh"] = LINE_SEPARATORS
    st.loc[st.index[1], "name_zh"] = "@@OUTLINE@@"
    st.loc[st.index[2], "name_zh"] = "@@DATA_0@@"
    st.loc[st.index[3], "lines"] = '"@@DATA_1@@" \u2028'
    pyogrio.write_dataframe(st, dst, layer="rail_stations")
    d = pyogrio.read_dataframe(dst, layer="districts")
    d.loc[d.index[0], "name_en"] = "Heping\u2029\u0085"
    pyogrio.write_dataframe(d, dst, layer="districts")
    return dst


def test_line_separators_and_markers_in_data_survive_as_text(quirky_gpkg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MapWarning)
        wm = make_map("rail", quirky_gpkg, offline=True)
    page = wm.render()
    blocks = page_blocks(page)  # every block is valid JSON (U+2028/2029/0085 no longer split records)
    cfg = blocks["tj-config"]
    by_id = {c["id"]: c for c in cfg["layers"]}
    assert all("data" not in c for c in cfg["layers"])  # the configuration holds no data, only block ids
    stations = blocks[by_id["rail_stations"]["data_id"]]["features"]
    names = [f["properties"]["name_zh"] for f in stations]
    assert names[:3] == [LINE_SEPARATORS, "@@OUTLINE@@", "@@DATA_0@@"]
    assert stations[3]["properties"]["lines"] == '"@@DATA_1@@" \u2028'
    assert len(stations) == len(load("rail_stations", quirky_gpkg))
    districts = blocks[by_id["districts"]["data_id"]]["features"]
    assert districts[0]["properties"]["name_en"] == "Heping\u2029\u0085" and len(districts) == 16
    # each layer's block is its own FeatureCollection, of its own geometry type
    for c in cfg["layers"]:
        feats = blocks[c["data_id"]]["features"]
        assert len(feats) == c["count"]
        kinds = {f["geometry"]["type"].replace("Multi", "") for f in feats}
        assert kinds <= {c["geometry"]}, c["id"]
    assert cfg["minimap_outline_layer"] == "boundary"
    # the raw separators never reach the page (escaped once), nor does a marker get replaced
    assert "\u2028" not in page and "\u2029" not in page
    assert page.count('"name_zh":"@@OUTLINE@@"') == 1 and page.count('"name_zh":"@@DATA_0@@"') == 1


def test_a_value_that_is_not_json_names_layer_feature_and_field(built_gpkg):
    from tjspatial.publish.webmap import MapDataError, _features_json

    gdf = load("nodes", built_gpkg).head(3).copy()
    gdf["plan_ref"] = gdf["plan_ref"].astype(object)
    gdf.loc[gdf.index[1], "plan_ref"] = b"\xff\xfe"
    with pytest.raises(MapDataError) as exc:
        _features_json(gdf, "nodes")
    msg = str(exc.value)
    assert "layer 'nodes'" in msg and "field 'plan_ref'" in msg and f"feature {gdf.index[1]!r}" in msg
    assert gdf["name_zh"].iloc[1] in msg


def test_a_failed_site_run_leaves_the_previous_site_intact(built_gpkg, tmp_path, monkeypatch):
    from tjspatial.publish import site as site_mod

    out = tmp_path / "site"
    out.mkdir()
    (out / "screenshot.png").write_bytes(b"not ours")  # a file tjspatial did not write is kept
    write_site(out, built_gpkg, offline=True, maps=["dual_city", "port"], thumbnails=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"dual_city.html", "port.html", "index.html", "screenshot.png"} <= set(before)
    real = site_mod.make_map

    def failing(spec, *a, **k):
        if getattr(spec, "id", spec) == "port":
            raise site_mod.MapDataError("layer 'port_districts', feature 3, field 'port_area': boom")
        return real(spec, *a, **k)

    monkeypatch.setattr(site_mod, "make_map", failing)
    with pytest.raises(site_mod.MapDataError, match="layer 'port_districts'.*field 'port_area'"):
        write_site(out, built_gpkg, offline=True, maps=["dual_city", "port"], thumbnails=False)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # nothing half-written: the first map's new page never replaced the old one
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # no staging folder left behind
    # a later full run drops its own stale outputs but keeps foreign files
    monkeypatch.setattr(site_mod, "make_map", real)
    (out / "old_map.html").write_text("stale")
    res = write_site(out, built_gpkg, offline=True, maps=["port"], thumbnails=False)
    assert (out / "dual_city.html").read_bytes() == before["dual_city.html"]  # partial run: carried over
    assert res.pages["port"] == out / "port.html" and res.pages["port"].is_file()
    assert (out / "screenshot.png").read_bytes() == b"not ours" and (out / "old_map.html").exists()


# ------------------------------------------------------------------------------------------------ #16
def test_station_english_names_are_spaced_place_name_pinyin():
    from tjspatial.names import english_station_name, place_name_pinyin

    assert place_name_pinyin("天津西站") == "Tianjin Xi"
    assert english_station_name("天津西", "") == "Tianjin Xi"
    assert english_station_name("天津站", "Tianjinzhan") == "Tianjin"
    assert english_station_name("招远路", "Zhaoyuanlu") == "Zhaoyuan Lu"
    assert english_station_name("福安大街", "Fuandajie") == "Fu'an Dajie"
    assert english_station_name("宜兴埠北", "Yixingfubei") == "Yixingfu Bei"  # keeps the source's reading of 埠
    assert english_station_name("张贵庄", "Zhangguizhuang") == "Zhangguizhuang"  # 庄 is part of the place name
    assert english_station_name("天津西站", "Tianjin West Railway Station") == "Tianjin West Railway Station"


def test_tianditu_base_maps_need_a_key_and_never_shift(built_gpkg, monkeypatch):
    from tjspatial.publish.webmap import resolve_tianditu_key

    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MapWarning)
        plain = make_map("dual_city", built_gpkg)
        monkeypatch.setenv("TIANDITU_KEY", "abcdef0123456789")
        tdt = make_map("dual_city", built_gpkg)
        gaode = make_map("dual_city", built_gpkg, basemap="gaode")
    assert not any(b["id"].startswith("tianditu") for b in plain.config["basemaps"])
    bases = {b["id"]: b for b in tdt.config["basemaps"]}
    assert [b for b in bases if b.startswith("tianditu")] == ["tianditu_vec", "tianditu_img"]
    vec = bases["tianditu_vec"]
    assert [u.split("LAYER=")[1].split("&")[0] for u in vec["urls"]] == ["vec", "cva"]
    assert all(u.endswith("&tk=abcdef0123456789") and "TILEMATRIXSET=w" in u for u in vec["urls"])
    assert "审图号" in vec["attribution_html"] and "天地图" in vec["attribution_html"]
    assert not any(b["id"].startswith("tianditu") for b in gaode.config["basemaps"])
    # CGCS2000 tiles: the overlays are the stored WGS84 coordinates, unshifted
    a = json.loads(next(c for c in tdt.config["layers"] if c["id"] == "nodes")["data"])["features"]
    assert a[0]["geometry"]["coordinates"] == pytest.approx(
        [load("nodes", built_gpkg).geometry.x.iloc[0], load("nodes", built_gpkg).geometry.y.iloc[0]], abs=1e-5
    )
    with pytest.raises(ValueError, match="天地图 key"):
        resolve_tianditu_key('bad key"><script>')


def test_a_layer_imported_as_official_loses_its_schematic_marks(built_gpkg, tmp_path):
    gpkg = tmp_path / "tianjin.gpkg"
    shutil.copy(built_gpkg, gpkg)
    wet = pyogrio.read_dataframe(gpkg, layer="wetlands")
    wet["accuracy"] = "official"
    pyogrio.write_dataframe(wet, gpkg, layer="wetlands")
    prov = pyogrio.read_dataframe(gpkg, layer="provenance", read_geometry=False)
    prov.loc[prov["layer"] == "wetlands", "built_from"] = "import:wetlands_official.gpkg"
    pyogrio.write_dataframe(prov, gpkg, layer="provenance")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MapWarning)
        before = {c["id"]: c for c in make_map("ecology", built_gpkg).config["layers"]}["wetlands"]
        after = {c["id"]: c for c in make_map("ecology", gpkg).config["layers"]}["wetlands"]
    assert before["schematic"] and any(e.get("casing") for e in before["legend"])
    assert not after["schematic"] and after["accuracy_label"] == "官方 / official"
    assert not any(e.get("casing") for e in after["legend"])
    assert "示意" not in after["limitations"] and "wetlands_official.gpkg" in after["limitations"]
    assert not any(b["warn"] for b in after["badges"])
    assert before["title_zh"] == "四大湿地自然保护区（示意）" and after["title_zh"] == "四大湿地自然保护区"
    assert after["title_en"] == "Four wetland nature reserves"


def test_cdn_edition_is_an_explicit_opt_in(built_gpkg, tmp_path):
    from tjspatial.cli import main

    assert (
        main(["maps", "--out", str(tmp_path / "a"), "--gpkg", str(built_gpkg), "--maps", "port", "--no-thumbnails"])
        == 0
    )
    assert external_references((tmp_path / "a" / "port.html").read_text(encoding="utf-8")) == []
    assert (
        main(
            [
                "maps",
                "--cdn",
                "--out",
                str(tmp_path / "b"),
                "--gpkg",
                str(built_gpkg),
                "--maps",
                "port",
                "--no-thumbnails",
            ]
        )
        == 0
    )
    assert len(external_references((tmp_path / "b" / "port.html").read_text(encoding="utf-8"))) == 12


def test_indicators_page_never_says_met_for_a_baseline_nor_prints_a_dict(built_gpkg):
    from tjspatial.publish.site import _indicators_table
    import pandas as pd

    df = pd.DataFrame(
        [
            {
                "key": "metro_km_vs_2020",
                "name_zh": "地铁运营里程",
                "name_en": "Metro length",
                "value": 370.3,
                "unit": "km",
                "target": "232 (end-2020 status)",
                "status": "met",
                "plan_ref": "p",
                "note": "the plan text records 232 km as the end-2020 status, not a 2025 target",
            },
            {
                "key": "rail_min",
                "name_zh": "时间",
                "name_en": "Time",
                "value": 24.1,
                "unit": "min",
                "target": "20",
                "status": "not met",
                "plan_ref": "p",
                "note": "assumed speeds {'metro': 45.0, 'hsr': 200.0} and dwell",
            },
        ]
    )
    html_ = _indicators_table(df)
    assert "已达到" not in html_ and ">met<" not in html_ and "基期值（非目标）" in html_
    assert "{" not in html_ and "assumed speeds metro 45, hsr 200 and dwell" in html_
    assert "未达到" in html_


def test_eco_pattern_finds_reserves_in_an_official_file_without_tjspatial_ids(built_gpkg):
    from tjspatial.errors import BuildError
    from tjspatial.plan.ecology import match_reserves
    from tjspatial.plan.shapes import lonlat_to_metric
    import pandas as pd

    wet = to_metric(load("wetlands", built_gpkg))
    xy = lonlat_to_metric([117.55, 117.25], [39.28, 39.42])
    anc = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}, index=["wetland_qilihai", "wetland_dahuangpu"])
    by_id = match_reserves(wet, anc)
    official = wet.drop(columns=["reserve_id"]).copy()  # an official file: its own names, no tjspatial ids
    official["name_zh"] = ["七里海湿地自然保护区", "大黄堡湿地", "北大港湿地自然保护区", "团泊鸟类自然保护区"][
        : len(official)
    ]
    by_name = match_reserves(official, anc)
    assert set(by_name) == set(by_id) == {"wetland_qilihai", "wetland_dahuangpu", "wetland_beidagang", "wetland_tuanpo"}
    for fid in by_id:
        assert by_name[fid].equals(by_id[fid]), fid
    unnamed = official.assign(name_zh="", name_en="")
    with pytest.raises(BuildError, match="wetland_beidagang"):  # no id, no name, and no anchor given for it
        match_reserves(unnamed, anc)
    anc_all = anc.copy()
    for fid, g in by_id.items():
        p = g.representative_point()
        anc_all.loc[fid, ["x", "y"]] = [p.x, p.y]
    spatial = match_reserves(unnamed, anc_all)  # matched by position near the plan anchors
    assert all(spatial[f].equals(by_id[f]) for f in by_id)


def test_coverage_overlays_have_labelled_fields(built_gpkg):
    from tjspatial.publish.site import coverage_map
    from tjspatial.publish.webmap import get_map_spec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MapWarning)
        wm = coverage_map(get_map_spec("coverage"), built_gpkg)
    cfgs = {c["id"]: c for c in wm.config["layers"]}
    labels = {f["name"]: f for f in cfgs["coverage_existing"]["fields"]}
    assert (
        labels["pop_share_pct"]["label"]
        == "车站 800 米内人口比例（现状） / Residents within 800 m of a station (existing)"
    )
    assert labels["pop_share_pct"]["format"] == "percent" and labels["pop_share_pct"]["decimals"] == 1
    assert labels["pop_2020"]["unit"] == "人"
    assert all(f["label"] != f["name"] for c in wm.config["layers"] for f in c["fields"])
    assert "人口为模型估算" in cfgs["coverage_existing"]["limitations"]
