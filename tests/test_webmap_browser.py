"""Web maps in a real browser: Debian chromium driven by PyPI playwright, offline pages, network blocked.

Every page of the site is opened from file:// with every non-file request aborted. Skipped (with the reason)
where /usr/bin/chromium or playwright is missing; `.ci/run` installs chromium.
"""
from __future__ import annotations

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
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
XSS = "<img src=x onerror=alert(1)>"
QUIRKY = "@@OUTLINE@@\u2028@@DATA_0@@\u2029站\u0085"

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does) to run the browser tests",
                allow_module_level=True)
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

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.blocked: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url[:100]}"))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.route("**/*", self._route)
        self.page.goto(path.as_uri())

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
    listed = page.eval_on_selector_all(".leaflet-control-layers [data-tj-layer]",
                                       "els => els.map(e => e.getAttribute('data-tj-layer'))")
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
    for sel in (".tj-legend", ".leaflet-control-scale", ".leaflet-control-minimap", ".leaflet-control-measure",
                ".leaflet-control-zoom-fullscreen", "#tj-header"):
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
    xy = page.evaluate("""name => {
        let hit = null;
        tj.layers.rail_stations.tjGeoJSON.eachLayer(l => { if (l.feature.properties.name_zh === name) hit = l; });
        tj.map.removeLayer(tj.layers.station_catchments);  // only the station under the pointer
        tj.map.setView(hit.getLatLng(), 17, {animate: false});
        const pt = tj.map.latLngToContainerPoint(hit.getLatLng());
        const r = tj.map.getContainer().getBoundingClientRect();
        return [pt.x + r.left, pt.y + r.top];
    }""", XSS)
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
