"""Web maps in a real browser: Debian chromium driven by PyPI playwright, offline pages, network blocked.

Every page of the site is opened from file:// with every non-file request aborted. Skipped (with the reason)
where /usr/bin/chromium or playwright is missing; `.ci/run` installs chromium.
"""

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
from scipy.spatial import cKDTree

from tjspatial import get_catalog, to_metric
from tjspatial.publish.map_specs import load_map_specs, map_layer_ids

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<img src=x onerror=alert(1)>"
QUIRKY = "@@OUTLINE@@\u2028@@DATA_0@@\u2029站\u0085"

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's chromium (.ci/run does) to run the browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="PyPI playwright is not installed (pip install -e .[dev])")

SPECS = load_map_specs()
MAP_IDS = [s.id for s in SPECS if s.kind != "indicators"]


@pytest.fixture(scope="module")
def site(built_gpkg, tmp_path_factory):
    """The whole offline site, built from a copy of the session GeoPackage with one hostile station name."""
    from tjspatial.publish.site import write_site

    tmp = tmp_path_factory.mktemp("browser")
    gpkg = tmp / "tianjin.gpkg"
    shutil.copy(built_gpkg, gpkg)
    st = pyogrio.read_dataframe(gpkg, layer="rail_stations")
    xy = shapely.get_coordinates(np.asarray(to_metric(st).geometry.values))
    nearest = cKDTree(xy).query(xy, k=2)[0][:, 1]  # metres to the next station
    named_metro = ((st["kind"] == "metro") & (st["name_zh"] != "")).to_numpy()
    i = st.index[np.argmax(np.where(named_metro, nearest, -1))]  # the most isolated metro station
    st.loc[i, "name_zh"] = XSS
    j = st.index[np.argmin(np.where(named_metro, nearest, np.inf))]
    st.loc[j, "name_zh"] = QUIRKY  # issue #14: line separators and page-assembly markers are just text
    pyogrio.write_dataframe(st, gpkg, layer="rail_stations")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = write_site(tmp / "maps", gpkg, offline=True)
    return res


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A page opened from file:// with the network blocked; console errors, page errors and dialogs recorded."""

    def __init__(self, browser, path: Path, viewport: tuple[int, int] = (1280, 800), hash: str = ""):
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.blocked: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url[:100]}"))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.route("**/*", self._route)
        self.page.goto(path.as_uri() + hash)

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file://", "data:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


def _open_map(browser, path: Path) -> Page:
    p = Page(browser, path)
    p.page.wait_for_function("window.tj && window.tj.ready === true", timeout=15000)
    return p


@pytest.mark.parametrize("map_id", MAP_IDS)
def test_map_opens_offline_lists_layers_toggles_and_draws(site, browser, map_id, tmp_path):
    spec = next(s for s in SPECS if s.id == map_id)
    p = _open_map(browser, site.pages[map_id])
    page = p.page
    # the layer control lists every catalog layer on this map (by its catalog title)
    cat = get_catalog()
    expected, _missing = map_layer_ids(spec, cat)
    listed = page.eval_on_selector_all(
        ".leaflet-control-layers [data-tj-layer]", "els => els.map(e => e.getAttribute('data-tj-layer'))"
    )
    assert set(expected) <= set(listed)
    for lid in expected:
        text = page.inner_text(f".leaflet-control-layers [data-tj-layer='{lid}']")
        assert cat[lid].title_zh in text and cat[lid].title_en in text
        if cat[lid].is_schematic:
            assert "示意 / schematic" in text
    # toggling a layer in the control removes and restores its features
    lid = next(lid for lid in expected if lid not in spec.hidden and lid != "boundary")
    box = page.locator(f".leaflet-control-layers label:has([data-tj-layer='{lid}']) input")
    n_before = page.locator(f".tj-l-{lid}").count()
    assert n_before > 0 and page.evaluate(f"tj.map.hasLayer(tj.layers['{lid}'])")
    box.click()
    assert not page.evaluate(f"tj.map.hasLayer(tj.layers['{lid}'])")
    assert page.locator(f".tj-l-{lid}").count() == 0
    box.click()
    assert page.locator(f".tj-l-{lid}").count() == n_before
    # the legend and the header say what is schematic; the controls are there
    for sel in (
        ".tj-legend",
        ".leaflet-control-scale",
        ".leaflet-control-minimap",
        ".leaflet-control-measure",
        ".leaflet-control-zoom-fullscreen",
        "#tj-header",
    ):
        assert page.locator(sel).count() == 1, sel
    if any(cat[x].is_schematic for x in expected):  # (entries of layers switched off are hidden, not absent)
        assert "示意 / schematic" in page.eval_on_selector(".tj-legend", "e => e.textContent")
    shown = [x for x in expected if x not in spec.hidden]
    if any(cat[x].is_schematic for x in shown):
        assert "示意 / schematic" in page.inner_text(".tj-legend")
    assert "离线" in page.inner_text("#tj-header")
    # a screenshot that is not blank
    shot = tmp_path / f"{map_id}.png"
    page.screenshot(path=str(shot))
    from PIL import Image

    grey = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert grey.std() > 20
    assert p.errors == [] and p.dialogs == [] and p.blocked == []
    if "rail_stations" in expected:
        names = page.evaluate("() => tj.layers.rail_stations.tjMeta.data.features.map(f => f.properties.name_zh)")
        assert QUIRKY in names and XSS in names
    page.close()


def test_tooltip_shows_hostile_name_as_text(site, browser):
    p = _open_map(browser, site.pages["rail"])
    page = p.page
    xy = page.evaluate(
        """name => {
        let hit = null;
        tj.layers.rail_stations.tjGeoJSON.eachLayer(l => { if (l.feature.properties.name_zh === name) hit = l; });
        tj.map.removeLayer(tj.layers.station_catchments);  // only the station under the pointer
        tj.map.setView(hit.getLatLng(), 17, {animate: false});
        const pt = tj.map.latLngToContainerPoint(hit.getLatLng());
        const r = tj.map.getContainer().getBoundingClientRect();
        return [pt.x + r.left, pt.y + r.top];
    }""",
        XSS,
    )
    page.mouse.move(xy[0] + 40, xy[1] + 40)
    page.mouse.move(xy[0], xy[1])
    page.wait_for_selector(".leaflet-tooltip .tj-tt", timeout=5000)
    page.wait_for_timeout(400)  # tooltips closed on the way fade out for 200 ms before they leave the DOM
    tip = page.locator(".leaflet-tooltip")
    assert tip.count() == 1, tip.all_inner_texts()
    assert XSS in tip.inner_text()
    assert tip.locator("img").count() == 0 and page.locator("img[src='x']").count() == 0
    assert "示意" in tip.inner_text() or "开放街图 / OpenStreetMap" in tip.inner_text()
    # the station search finds a station by its Chinese name and opens its popup
    page.click(".search-button")
    page.locator("input.search-input").press_sequentially("Tianjin", delay=30)
    page.wait_for_selector(".search-tip", timeout=5000)
    assert any("天津站" in t for t in page.locator(".search-tip").all_inner_texts())
    page.locator(".search-tip", has_text="天津站").first.click()
    page.wait_for_selector(".leaflet-popup .tj-pop", timeout=5000)
    assert "天津站" in page.inner_text(".leaflet-popup .tj-pop")
    assert p.errors == [] and p.dialogs == [] and p.blocked == []
    page.close()


def test_gallery_and_indicators_pages(site, browser):
    p = Page(browser, site.index)
    page = p.page
    page.wait_for_load_state("load")
    cards = page.locator(".card")
    assert cards.count() == len(SPECS)
    for s in SPECS:
        assert s.title_zh in page.inner_text(f".card[data-map='{s.id}']")
    widths = page.eval_on_selector_all(".card img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == len(MAP_IDS) and min(widths) == 400
    assert p.errors == [] and p.blocked == []
    page.close()
    q = Page(browser, site.pages["indicators"])
    q.page.wait_for_load_state("load")
    text = q.page.inner_text("body")
    assert "规划指标" in text and ("tj.indicators" in text or q.page.locator("table").count() == 1)
    assert q.errors == [] and q.blocked == []
    q.page.close()


def test_measure_tool_works_offline(site, browser):
    p = _open_map(browser, site.pages["dual_city"])
    page = p.page
    page.locator(".leaflet-control-measure-toggle").hover(force=True)
    page.click(".leaflet-control-measure .js-start")
    a = page.evaluate("tj.map.latLngToContainerPoint([39.1, 117.0])")
    b = page.evaluate("tj.map.latLngToContainerPoint([39.1, 117.5])")
    page.mouse.click(a["x"], a["y"])
    page.mouse.click(b["x"], b["y"])
    text = page.inner_text(".leaflet-control-measure")
    km = float(text.split("Path distance")[1].split("Kilometers")[0].replace(",", ""))
    assert km == pytest.approx(43.15, abs=0.3)  # 0.5° of longitude at 39.1°N on a 6371 km sphere: 43.15 km
    page.click(".leaflet-control-measure .js-finish")
    page.wait_for_timeout(300)
    assert p.errors == [] and p.blocked == []
    page.close()


# ------------------------------------------------------------------------------------------------ issue #16
def _grid_visible_share(page) -> float:
    """Share of the viewport where the map itself (not a panel or control) is the topmost thing."""
    return page.evaluate("""() => {
        const W = window.innerWidth, H = window.innerHeight, map = tj.map.getContainer();
        let seen = 0, n = 0;
        for (let y = 2; y < H; y += 12) for (let x = 2; x < W; x += 12) {
            const e = document.elementFromPoint(x, y);
            n++;
            if (!e) continue;
            const mapPart = e === map || (e.closest('.leaflet-map-pane') && !e.closest('.leaflet-popup'));
            if (mapPart) seen++;
        }
        return seen / n;
    }""")


def _label_overlaps(page) -> tuple[int, list]:
    return page.evaluate("""() => {
        const r = [...document.querySelectorAll('.tj-label')].map(e => {
            const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom, e.textContent]; });
        const bad = [];
        for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
            const a = r[i], b = r[j];
            if (a[0] < b[2] - 0.5 && b[0] < a[2] - 0.5 && a[1] < b[3] - 0.5 && b[1] < a[3] - 0.5) bad.push([a[4], b[4]]);
        }
        return [r.length, bad];
    }""")


@pytest.mark.parametrize("size", [(1400, 900), (390, 844)])
def test_opening_view_has_no_label_overlaps_and_the_phone_keeps_the_map(site, browser, size):
    counts = {}
    for map_id in MAP_IDS:
        p = Page(browser, site.pages[map_id], viewport=size)
        p.page.wait_for_function("window.tj && window.tj.ready === true", timeout=15000)
        n, bad = _label_overlaps(p.page)
        assert bad == [], (map_id, size, bad[:5])
        counts[map_id] = n
        if size[0] < 600:  # phone: panels collapsed, the map keeps >= 80 % of the screen, tables scroll inside
            share = _grid_visible_share(p.page)
            assert share >= 0.80, (map_id, share)
            assert p.page.evaluate("document.documentElement.scrollWidth") <= size[0]
            assert not p.page.evaluate("document.getElementById('tj-legend').open")
            if p.page.locator("#tj-panel").count():
                assert not p.page.evaluate("document.querySelector('#tj-panel details').open")
        else:
            assert p.page.evaluate("document.getElementById('tj-legend').open")
        assert p.errors == [] and p.blocked == []
        p.page.close()
    assert counts["dual_city"] >= 10 and counts["rail"] >= 10  # district and place names are drawn


def test_offline_base_map_draws_land_sea_water_and_names(site, browser, tmp_path):
    p = _open_map(browser, site.pages["ecology"])
    page = p.page
    assert page.evaluate("tj.baseId") == "offline"
    for lid in [lid for lid in page.evaluate("Object.keys(tj.layers)")]:
        page.evaluate(f"void tj.map.removeLayer(tj.layers['{lid}'])")  # the base map alone
    page.evaluate("tj.relabel()")
    page.wait_for_timeout(200)
    shot = tmp_path / "base.png"
    page.screenshot(path=str(shot))
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)

    def colour_at(lat, lon):
        xy = page.evaluate(f"tj.map.latLngToContainerPoint([{lat}, {lon}])")
        return img[int(xy["y"]), int(xy["x"])]

    cfg = page.evaluate("tj.cfg.offline_base.parts.map(p => [p.id, p.style.fill])")
    fills = {pid: np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)]) for pid, c in cfg if c}
    assert np.abs(colour_at(38.85, 118.2) - fills["sea"]).max() <= 3  # Bohai off the coast
    assert np.abs(colour_at(39.6, 117.3) - fills["land"]).max() <= 3  # 宝坻, inside Tianjin
    assert np.abs(colour_at(39.0, 116.5) - fills["land"]).max() > 10  # Hebei: not Tianjin's land colour
    labels = page.eval_on_selector_all(".tj-label-base-districts", "els => els.map(e => e.textContent)")
    assert "武清区" in labels and "滨海新区" in labels
    page.evaluate("void tj.map.setView([39.14, 117.2], 12, {animate: false})")
    page.wait_for_timeout(200)
    assert page.locator(".tj-label-base-settlements").count() > 0  # settlement names from zoom 11
    assert p.errors == [] and p.blocked == []
    page.close()


def test_online_base_map_says_when_its_tiles_cannot_load(site, browser):
    p = _open_map(browser, site.pages["dual_city"])
    page = p.page
    assert page.locator("#tj-tile-msg").count() == 0
    page.evaluate("""() => { const c = tj.control; for (const id in c._layers) {
        const o = c._layers[id]; if (!o.overlay && o.layer.tjBaseId === 'osm') {
            tj.map.eachLayer(l => { if (l.tjOffline) tj.map.removeLayer(l); });
            tj.map.addLayer(o.layer); tj.map.fire('baselayerchange', {layer: o.layer}); } } }""")
    page.wait_for_selector("#tj-tile-msg", state="visible", timeout=5000)
    assert "底图瓦片无法加载" in page.inner_text("#tj-tile-msg") and "cannot load" in page.inner_text("#tj-tile-msg")
    assert any("tile.openstreetmap.org" in u for u in p.blocked)
    page.close()


def test_tianditu_tiles_carry_the_key_and_no_shift(built_gpkg, browser, tmp_path):
    import io
    import math
    from PIL import Image
    from tjspatial.publish.webmap import make_map, write_text_atomic

    key = "0123456789abcdef0123456789abcdef"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wm = make_map("dual_city", built_gpkg, tianditu_key=key)
    path = write_text_atomic(tmp_path / "tdt.html", wm.render())
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 220, 200)).save(buf, format="PNG")
    tile = buf.getvalue()
    requested: list[str] = []
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.route(
        "**/*",
        lambda r: (
            r.continue_()
            if r.request.url.startswith(("file:", "data:"))
            else (requested.append(r.request.url), r.fulfill(status=200, body=tile, content_type="image/png"))
            if "tianditu.gov.cn" in r.request.url
            else r.abort()
        ),
    )
    page.goto(path.as_uri() + "#10/39.10000/117.20000&l=nodes")
    page.wait_for_function("window.tj && window.tj.ready === true", timeout=15000)
    page.evaluate("""() => { const c = tj.control; for (const id in c._layers) { const o = c._layers[id];
        if (!o.overlay && o.layer.tjBaseId === 'tianditu_vec') {
            tj.map.eachLayer(l => { if (l.tjOffline) tj.map.removeLayer(l); });
            tj.map.addLayer(o.layer); tj.map.fire('baselayerchange', {layer: o.layer}); } } }""")
    page.wait_for_function("document.querySelectorAll('.leaflet-tile-loaded').length > 4", timeout=10000)
    assert requested and all(f"tk={key}" in u for u in requested)
    layers = {u.split("LAYER=")[1].split("&")[0] for u in requested}
    assert layers == {"vec", "cva"}  # the vector map and its annotation layer
    # no shift: the tile under 39.1N 117.2E at zoom 10 is the plain Web Mercator tile of that WGS84 point
    z, lat, lon = 10, 39.1, 117.2
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    assert any(f"TILEMATRIX={z}&TILEROW={y}&TILECOL={x}" in u for u in requested)
    # ... and the overlays are not GCJ-shifted (CGCS2000 = WGS84 within centimetres)
    node = page.evaluate("tj.layers.nodes.tjMeta.data.features[0].geometry.coordinates")
    stored = pyogrio.read_dataframe(built_gpkg, layer="nodes").geometry.iloc[0]
    assert node == pytest.approx([stored.x, stored.y], abs=1.1e-5)
    attribution = page.inner_text(".leaflet-control-attribution")
    assert "天地图" in attribution and "审图号" in attribution
    assert page.locator("#tj-tile-msg").count() == 0 or not page.is_visible("#tj-tile-msg")
    page.close()


def test_popups_use_catalog_labels_units_and_words(site, browser):
    p = _open_map(browser, site.pages["rail"])
    page = p.page

    def popup_of(layer_id, pick):
        page.evaluate(f"""() => {{ let hit = null;
            tj.layers['{layer_id}'].tjGeoJSON.eachLayer(l => {{ if (!hit && ({pick})(l.feature.properties)) hit = l; }});
            const g = tj.layers['{layer_id}'].tjGeoJSON; g.getPopup()._source = hit;
            g.openPopup(hit.getLatLng ? hit.getLatLng() : hit.getBounds().getCenter()); }}""")
        page.wait_for_selector(".leaflet-popup .tj-pop", timeout=5000)
        text = page.inner_text(".leaflet-popup .tj-pop")
        table = page.inner_text(".leaflet-popup .tj-pop-tbl")
        page.evaluate("void tj.map.closePopup()")
        page.wait_for_selector(".leaflet-popup", state="detached", timeout=5000)
        return text, table

    d, table = popup_of("districts", "p => p.name_zh === '和平区'")
    assert "常住人口（2020 年普查） / Resident population (2020 census)" in d and " 人" in d
    assert "pop_2020" not in d and "pop_2020_status" not in d and "secondary" not in table
    assert "所属分区 / Zone" in d and "中心城区 / central city" in d
    assert "局限 / limitations: 计算面积" in d and "Computed areas" in d
    s, _ = popup_of("rail_stations", "p => p.name_zh === '天津西'")
    assert "Tianjin Xi" in s and "类型 / Type" in s and "铁路站 / railway station" in s
    assert "osm_station_tag" not in s and "station_id" not in s and "inside_tianjin" not in s
    m, _ = popup_of("metro_lines", "p => true")
    assert "示意：站间直连 / schematic: station-to-station chords" in m and "geometry_quality" not in m
    # unnamed nodes are hidden until asked for; then labelled by their type
    meta = page.evaluate("[tj.layers.rail_stations.tjMeta.unnamed_count, tj.layers.rail_stations.tjMeta.count]")
    n_named = page.evaluate("tj.layers.rail_stations.tjGeoJSON.getLayers().length")
    assert meta[0] > 50 and n_named == meta[1] - meta[0]
    page.check("input[data-tj-unnamed='rail_stations']")
    assert page.evaluate("tj.layers.rail_stations.tjGeoJSON.getLayers().length") == meta[1]
    u, _ = popup_of("rail_stations", "p => !p.name_zh && p.kind === 'rail'")
    assert "铁路站（未命名）/ railway station (unnamed)" in u
    assert p.errors == []
    page.close()


def test_share_link_round_trip(site, browser):
    p = _open_map(browser, site.pages["rail"])
    page = p.page
    page.evaluate("void tj.map.setView([39.13, 117.21], 12.5, {animate: false})")
    page.evaluate("void tj.map.removeLayer(tj.layers.station_catchments)")
    h = page.evaluate("location.hash")
    assert h.startswith("#12.5/39.13000/117.21000&l=") and "station_catchments" not in h and "rail_stations" in h
    page.close()
    q = Page(browser, site.pages["rail"], hash=h)
    q.page.wait_for_function("window.tj && window.tj.ready === true", timeout=15000)
    c = q.page.evaluate("[tj.map.getZoom(), tj.map.getCenter().lat, tj.map.getCenter().lng]")
    assert c == pytest.approx([12.5, 39.13, 117.21], abs=1e-5)
    assert not q.page.evaluate("tj.map.hasLayer(tj.layers.station_catchments)")
    assert q.page.evaluate("tj.map.hasLayer(tj.layers.rail_stations)")
    assert q.errors == []
    q.page.close()


def test_print_has_title_legend_north_arrow_scale_and_sources(site, browser, tmp_path):
    p = _open_map(browser, site.pages["dual_city"])
    page = p.page
    page.emulate_media(media="print")
    page.wait_for_timeout(200)
    vw, vh = 1280, 800
    for sel in (
        "#tj-header h1",
        "#tj-legend",
        "#tj-north svg",
        ".leaflet-control-scale",
        ".tj-print-note",
        ".leaflet-control-attribution",
    ):
        box = page.locator(sel).first.bounding_box()
        assert box and box["width"] > 5 and 0 <= box["x"] < vw and 0 <= box["y"] < vh, sel
    for sel in (".leaflet-control-layers", ".leaflet-control-zoom", ".tj-tools", ".leaflet-control-measure"):
        assert not page.locator(sel).first.is_visible(), sel
    assert "示意图，非测绘成果" in page.inner_text(".tj-print-note")
    page.screenshot(path=str(tmp_path / "print.png"))
    pdf = page.pdf(format="A4", landscape=True, print_background=True)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000
    assert p.errors == []
    page.close()


def test_cursor_coordinates_wgs84_and_gauss_kruger(site, browser):
    from pyproj import Transformer

    p = _open_map(browser, site.pages["dual_city"])
    page = p.page
    page.evaluate("void tj.map.setView([39.1, 117.3], 10, {animate: false})")
    xy = page.evaluate("tj.map.latLngToContainerPoint([39.1, 117.3])")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.move(box["x"] + xy["x"], box["y"] + xy["y"])
    text = page.inner_text("#tj-coords")
    lat = float(text.split("WGS84 ")[1].split("°N")[0])
    lon = float(text.split("°N ")[1].split("°E")[0])
    assert lat == pytest.approx(39.1, abs=0.003) and lon == pytest.approx(117.3, abs=0.003)
    gx = float(text.split(" X ")[1].split(" m")[0].replace(",", ""))
    gy = float(text.split(", Y ")[1].split(" m")[0].replace(",", ""))
    ex, ey = Transformer.from_crs("EPSG:4326", "EPSG:4548", always_xy=True).transform(lon, lat)
    assert gx == pytest.approx(ex, abs=1.0) and gy == pytest.approx(ey, abs=1.0)
    # the projection itself, away from the central meridian, to the millimetre
    js = page.evaluate("tj.gaussKruger(38.8, 118.05, tj.cfg.gk)")
    ex, ey = Transformer.from_crs("EPSG:4326", "EPSG:4548", always_xy=True).transform(118.05, 38.8)
    assert js == pytest.approx([ex, ey], abs=0.005)
    page.close()


def test_opacity_fullscreen_title_and_no_focus_box(site, browser):
    p = _open_map(browser, site.pages["dual_city"])
    page = p.page
    page.locator("input[data-tj-opacity='districts']").fill("40")
    page.locator("input[data-tj-opacity='districts']").dispatch_event("input")
    assert page.evaluate("tj.map.getPane(tj.layers.districts.tjPane).style.opacity") == "0.4"
    # full screen shows the map container: the title and warnings live inside it
    assert page.evaluate("!!document.getElementById('tj-header').closest('.leaflet-container')")
    # a clicked polygon gets no focus outline
    xy = page.evaluate("tj.map.latLngToContainerPoint([39.75, 117.4])")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + xy["x"], box["y"] + xy["y"])
    page.wait_for_selector(".leaflet-popup", timeout=5000)
    page.wait_for_timeout(600)  # the map pans the popup clear of the header (animated)
    outline = page.evaluate("document.activeElement && getComputedStyle(document.activeElement).outlineStyle")
    assert outline in (None, "none")
    # the popup is not hidden under the header
    pop = page.locator(".leaflet-popup-content-wrapper").bounding_box()
    head = page.locator("#tj-header").bounding_box()
    assert pop["y"] >= head["y"] + head["height"] - 1 or pop["x"] >= head["x"] + head["width"]
    page.close()


def test_swipe_compares_existing_and_plan(site, browser):
    p = _open_map(browser, site.pages["rail"])
    page = p.page
    assert page.evaluate("tj.cfg.compare.left") == ["metro_lines", "intercity_rail"]
    page.click(".tj-compare-btn")
    assert page.is_visible("#tj-compare") and "现状 / existing" in page.inner_text("#tj-compare")
    page.locator(".tj-compare-range").fill("300")
    page.locator(".tj-compare-range").dispatch_event("input")
    clips = page.evaluate("""() => { const nw = tj.map.containerPointToLayerPoint([0, 0]);
        const W = tj.map.getSize().x, cut = nw.x + 0.3 * W;
        const clip = id => tj.map.getPane(tj.layers[id].tjPane).style.clip;
        return [clip('metro_lines'), clip('planned_rail'), cut, nw.y]; }""")
    left, right, cut, top = clips
    nums = lambda s: [float(v) for v in s.replace("rect(", "").replace(")", "").replace("px", "").split(",")]
    assert nums(left)[1] == pytest.approx(cut, abs=0.5) and nums(right)[3] == pytest.approx(cut, abs=0.5)
    assert page.evaluate("tj.map.hasLayer(tj.layers.planned_rail)")
    page.click(".tj-compare-btn")
    assert page.evaluate("tj.map.getPane(tj.layers.metro_lines.tjPane).style.clip") == ""
    assert p.errors == []
    page.close()


def test_a_large_layer_is_drawn_on_canvas_with_lazy_popups(built_gpkg, browser, tmp_path):
    import importlib.util
    from tjspatial.publish.webmap import columns_to_features, write_text_atomic

    spec = importlib.util.spec_from_file_location(
        "bench_scale", Path(__file__).parents[1] / "benchmarks" / "bench_maps_scale.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    gdf = bench.footprints(6000, seed=3)
    html_ = bench.page(built_gpkg, gdf, "scaled")
    path = write_text_atomic(tmp_path / "big.html", html_)
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', html_, re.S)
    data = next(json.loads(t) for _, t in blocks if '"TjColumns"' in t[:40])
    back = columns_to_features(data)["features"]
    assert len(back) == 6000 and back[17]["properties"]["height_m"] == int(gdf["height_m"].iloc[17])
    assert np.allclose(
        back[17]["geometry"]["coordinates"][0], np.round(shapely.get_coordinates(gdf.geometry.iloc[17]), 5), atol=1e-9
    )
    p = Page(browser, path)
    page = p.page
    page.wait_for_function("window.tj && window.tj.ready === true", timeout=30000)
    assert page.evaluate("tj.layers.buildings.tjMeta.render") == "canvas"
    assert page.locator("path.tj-l-buildings").count() == 0  # no SVG element per feature
    assert int(page.get_attribute(".tj-l-canvas-buildings", "data-tj-drawn")) == 6000
    # zoom onto one footprint: drawn, and a click inside it opens its popup (built on demand)
    c = gdf.geometry.iloc[17].centroid
    page.evaluate(f"void tj.map.setView([{c.y}, {c.x}], 18, {{animate: false}})")
    page.wait_for_timeout(200)
    drawn = int(page.get_attribute(".tj-l-canvas-buildings", "data-tj-drawn"))
    assert 1 <= drawn < 200
    xy = page.evaluate(f"tj.map.latLngToContainerPoint([{c.y}, {c.x}])")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + xy["x"], box["y"] + xy["y"])
    page.wait_for_selector(".leaflet-popup .tj-pop", timeout=5000)
    text = page.inner_text(".leaflet-popup .tj-pop")
    assert "建筑（合成）" in text and str(int(gdf["height_m"].iloc[17])) in text
    assert p.errors == []
    page.close()
