"""The OSM source: build from the fixture extract (XML and PBF), Overpass with HTTP mocked, offline, walk graph.

Everything is offline: the fixture ``tests/fixtures/osm/tianjin_fixture.osm`` (real OSM 0.6 schema, real
Tianjin positions, see make_fixture.py) stands in for OpenStreetMap, and ``requests.Session.send`` is replaced
so that no request leaves the machine.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import requests
import shapely
from pyproj import Geod

import tjspatial as tj
from tjspatial.build import build, read_table
from tjspatial.crs import METRIC_CRS
from tjspatial.errors import BuildError
from tjspatial.analysis.network_coverage import load_walk_graph
from tjspatial.sources import osm
from tjspatial.sources.osm_fetch import FetchSettings, fetch_osm_xml
from tjspatial.sources.osm_query import overpass_ql, parse_selector
from tjspatial.validate import layer_problems

FIXTURE = Path(__file__).parent / "fixtures" / "osm" / "tianjin_fixture.osm"
CENSUS_TOTAL = 13_866_009


def osm_layer_ids() -> list[str]:
    return [layer.id for layer in tj.get_catalog() if layer.osm]


def with_deps(ids: list[str]) -> list[str]:
    """``ids`` plus every layer they depend on (transitively), in catalog order."""
    cat = tj.get_catalog()
    want = set(ids) | {"boundary"}
    for layer in reversed(cat.layers):
        if layer.id in want:
            want |= set(layer.depends)
    return [lid for lid in cat.ids if lid in want]


@pytest.fixture(scope="module")
def osm_gpkg(tmp_path_factory) -> Path:
    """Every catalog layer built with --source extract from the XML fixture."""
    tmp = tmp_path_factory.mktemp("osm")
    return build(source="extract", out=tmp / "osm.gpkg", options={"extract": FIXTURE, "cache_dir": tmp / "cache"})


# ------------------------------------------------------------------------------------------------ extract XML


def test_osm_built_gpkg_passes_the_same_validation(osm_gpkg):
    for layer in tj.get_catalog():
        g = tj.load(layer.id, osm_gpkg)
        assert layer_problems(g, layer) == [], layer.id
        assert list(g.columns[:4]) == ["name_zh", "name_en", "accuracy", "source"], layer.id


def test_provenance_says_which_source_built_each_layer(osm_gpkg):
    prov = read_table(osm_gpkg, "provenance").set_index("layer")
    from_osm = set(osm_layer_ids())
    assert from_osm >= {"districts", "rail_stations", "metro_lines", "intercity_rail", "coastline", "water"}
    partial = {"wetlands", "port_districts"}  # OSM areas for some features, schematic for the others
    for lid, row in prov.iterrows():
        expected = "bundled" if lid not in from_osm else ("extract+bundled" if lid in partial else "extract")
        assert row["built_from"] == expected, lid
    assert prov.loc["wetlands", "osm_features"] == 1 and prov.loc["wetlands", "fallback_features"] == 3
    assert "kept schematic" in prov.loc["wetlands", "fallback"]
    assert prov.loc["districts", "osm_features"] == 16 and prov.loc["districts", "fallback_features"] == 0
    assert prov.loc["zones", "osm_inputs"] == "districts" and prov.loc["settlements", "osm_inputs"] == ""
    assert prov.loc["green_barrier", "osm_inputs"] == "airport, districts, wetlands"
    assert "8号线" in prov.loc["metro_lines", "warnings"]  # under construction: left out, and said so
    for lid in from_osm:
        g = tj.load(lid, osm_gpkg)
        osm_rows = g[g["accuracy"] == "osm"]
        assert len(osm_rows) > 0, lid
        assert (
            osm_rows["source"].str.contains("OpenStreetMap extract tianjin_fixture.osm (2025-12-31)", regex=False).all()
        ), lid


def test_districts_from_admin_level_6_with_census(osm_gpkg):
    d = tj.load("districts", osm_gpkg)
    assert len(d) == 16
    assert "安次区" not in set(d["name_zh"])  # the Hebei district across the border is left out
    assert d["pop_2020"].sum() == CENSUS_TOTAL
    assert d["adcode"].tolist() == sorted(d["adcode"])
    row = d.set_index("name_zh").loc["滨海新区"]
    assert row["adcode"] == 120116 and row["pop_2020"] == 2_067_318
    assert row["name_en"] == "Binhai New Area" and row["zone"] == "滨海新区"
    # the outline split in two ways became one polygon with the area of the fixture's ring
    root = ET.parse(FIXTURE).getroot()
    nodes = {n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
    ways = {w.get("id"): [nodes[nd.get("ref")] for nd in w.iter("nd")] for w in root.iter("way")}
    rel = next(
        r
        for r in root.iter("relation")
        if any(t.get("k") == "name" and t.get("v") == "滨海新区" for t in r.iter("tag"))
    )
    w1, w2 = (ways[m.get("ref")] for m in rel.iter("member"))
    ring = shapely.Polygon(w1 + w2[1:])
    expected = gpd.GeoSeries([ring], crs=4326).to_crs(METRIC_CRS).area.iloc[0] / 1e6
    assert row["area_km2"] == pytest.approx(expected, abs=0.001)
    zones = tj.load("zones", osm_gpkg).set_index("zone")
    assert zones.loc["中心城区", "pop_2020"] == 4_057_215
    assert zones["districts"].sum() == 16


def test_rail_stations_feature_by_feature(osm_gpkg):
    s = tj.load("rail_stations", osm_gpkg)
    # 235 named stations of the fixture + 东丽湖 (construction) + an unnamed halt + a tram stop, less 永乐
    # (outside Tianjin + 1 km: dropped by the polygon)
    assert len(s) == 237
    assert s["kind"].value_counts().to_dict() == {"metro": 207, "rail": 29, "tram": 1}
    assert "永乐" not in set(s["name_zh"])
    by = {(k, n): r for k, n, r in zip(s["kind"], s["name_zh"], s.itertuples())}
    tianjin = by[("rail", "天津")]  # OSM name 天津站, written as the bundled layer writes it
    assert tianjin.name_en == "Tianjin Railway Station" and tianjin.name_source == "osm:name"
    assert tianjin.osm_station_tag == "train" and tianjin.inside_tianjin and tianjin.district_zh == "河东区"
    assert by[("rail", "天津西")].name_en == "Tianjin Xi"  # place-name pinyin fallback (not Tianjinxizhan)
    # the pinyin fallback is the bundled layer's English name (tjspatial.names), so a diff shows no name change
    from tjspatial.names import place_name_pinyin

    pinyin = s[(s["name_zh"] != "") & (s["name_en"] != "Tianjin Railway Station")]  # the fixture's one name:en
    assert len(pinyin) > 200 and (pinyin["name_en"] == pinyin["name_zh"].map(place_name_pinyin)).all()
    assert by[("metro", "张贵庄")].name_en == "Zhangguizhuang"
    assert by[("metro", "东丽湖")].name_en == "Donglihu"  # a station is a place name: 湖 is not translated
    assert by[("metro", "团泊健康城")].name_en == "Tuanbo Jiankangcheng"  # as bundled (was "Tuanpo …")
    assert by[("metro", "天津站")].lines == "2号线;3号线;9号线"  # 2号线 by stop name, 3/9 by membership
    assert by[("metro", "营口道")].lines == "1号线;3号线"
    assert by[("metro", "东丽湖")].status == "construction"
    north = by[("rail", "天津北")]
    assert north.station_id.startswith("osm_w") and north.geometry.geom_type == "Point"
    assert by[("tram", "第一大街")].osm_station_tag == "tram_stop"
    unnamed = s[s["name_zh"] == ""]
    assert len(unnamed) == 1 and unnamed["name_source"].iloc[0] == "none"
    assert (s["status"] == "open").sum() == len(s) - 1


def test_metro_lines_from_route_relations(osm_gpkg):
    m = tj.load("metro_lines", osm_gpkg).set_index("line_id")
    assert "8" not in m.index  # state=construction
    assert len(m) == 12
    line1, line2 = m.loc["1"], m.loc["2"]
    assert line1["geometry_quality"] == "station_chords" and line1["colour"] == "#cb333b"
    assert line1["opened"] == "1984-12-28" and line1["name_en"] == "Line 1"
    assert line2["geometry_quality"] == "osm_track" and line2["colour"] == "#e1e000"
    assert line2["stations_total"] == 20 and line2["name_zh"] == "2号线"  # the longer direction is kept
    # length measured in EPSG:4548 on the geometry as stored
    measured = gpd.GeoSeries([line2.geometry], crs=4326).to_crs(METRIC_CRS).length.iloc[0] / 1e3
    assert line2["length_km"] == pytest.approx(measured, abs=0.001)


def test_intercity_rail_ids_categories_and_clip(osm_gpkg):
    r = tj.load("intercity_rail", osm_gpkg).set_index("line_id")
    assert {"jingjin_intercity", "jinghu_hsr", "jingtang_intercity", "jinxing_intercity"} <= set(r.index)
    assert r.loc["jinghu_hsr", "category"] == "hsr" and r.loc["jingshan_rail", "category"] == "conventional"
    assert r.loc["jingjin_intercity", "name_en"] == "Beijing–Tianjin Intercity Railway (with extension)"
    assert r.loc["jingjin_intercity", "opened"] == "2008-08-01"
    assert (r["geometry_quality"] == "osm_track").all()
    # clipped to Tianjin + 1 km: nothing reaches 廊坊 (116.69E, 39.505N), outside the municipality
    poly = osm.query_polygon(tj.load("boundary", osm_gpkg).geometry.iloc[0])
    assert shapely.difference(r.geometry.union_all(), poly).length < 1e-9
    assert not shapely.intersects(r.geometry.union_all(), shapely.Point(116.69, 39.505).buffer(0.02))
    # stations within 300 m of the track: 京津城际 passes 武清, 天津, 军粮城北, 滨海 …
    assert r.loc["jingjin_intercity", "stations_total"] >= 4


def test_coastline_and_water(osm_gpkg):
    c = tj.load("coastline", osm_gpkg).set_index("variant")
    assert set(c.index) == {"osm", "tianditu_derived", "landsat_port"}
    assert c.loc["osm", "accuracy"] == "osm" and c.loc["tianditu_derived", "accuracy"] == "derived"
    measured = gpd.GeoSeries([c.loc["osm"].geometry], crs=4326).to_crs(METRIC_CRS).length.iloc[0] / 1e3
    assert c.loc["osm", "length_km"] == pytest.approx(measured, abs=0.001)
    # the two ways share a node and are merged; the clip to Tianjin + 1 km cuts the line where it leaves
    full = shapely.LineString([(117.56, 39.26), (117.64, 39.15), (117.70, 39.06), (117.735, 38.93), (117.56, 38.62)])
    full_km = gpd.GeoSeries([full], crs=4326).to_crs(METRIC_CRS).length.iloc[0] / 1e3
    assert 0.5 * full_km < c.loc["osm", "length_km"] < full_km
    w = tj.load("water", osm_gpkg).set_index("name_zh")
    assert set(w.index) == {"北大港水库", "水上公园湖", "海河"}
    assert w.loc["海河", "water_class"] == "haihe_channel" and w.loc["海河", "name_en"] == "Hai River"
    assert w.loc["北大港水库", "water_class"] == "reservoir"
    # no name:en: the feature type is translated, the place name is spaced pinyin (tjspatial.names.english_name)
    assert w.loc["北大港水库", "name_en"] == "Beidagang Reservoir"  # was "Beidagangshuiku"
    assert w.loc["水上公园湖", "name_en"] == "Shuishang Park Lake"  # was "Shuishanggongyuan Hu"
    # the reservoir is a multipolygon relation with an island: area = outer ring minus inner ring
    a = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    b = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    outer = shapely.Polygon(np.round(np.c_[117.385 + 0.06 * np.cos(a), 38.745 + 0.035 * np.sin(a)], 7))
    inner = shapely.Polygon(np.round(np.c_[117.385 + 0.01 * np.cos(b), 38.745 + 0.008 * np.sin(b)], 7))
    expected = gpd.GeoSeries([outer.difference(inner)], crs=4326).to_crs(METRIC_CRS).area.iloc[0] / 1e6
    assert w.loc["北大港水库", "area_km2"] == pytest.approx(expected, abs=0.001)
    assert len(shapely.get_interior_ring(w.loc["北大港水库"].geometry, 0).coords) == 7


def _ring(cx, cy, rx, ry, n):
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return shapely.Polygon(np.round(np.c_[cx + rx * np.cos(a), cy + ry * np.sin(a)], 7))


def _km2(geom) -> float:
    return gpd.GeoSeries([geom], crs=4326).to_crs(METRIC_CRS).area.iloc[0] / 1e6


def test_plan_areas_get_osm_outlines_where_osm_has_them(osm_gpkg):
    plan_osm = [lid for lid in osm_layer_ids() if tj.get_catalog()[lid].osm["normalise"] == "plan_areas"]
    assert set(plan_osm) >= {"airport", "wetlands", "port_districts"}
    airport = tj.load("airport", osm_gpkg).iloc[0]
    box = shapely.box(117.33, 39.11, 117.37, 39.14)
    assert airport["accuracy"] == "osm" and airport["iata"] == "TSN"  # schematic attributes are kept
    assert shapely.equals_exact(shapely.normalize(airport.geometry), shapely.normalize(box), tolerance=1e-7)
    assert airport["area_km2"] == pytest.approx(_km2(box), abs=0.001)
    w = tj.load("wetlands", osm_gpkg).set_index("reserve_id")
    assert w.loc["wetland_qilihai", "accuracy"] == "osm"
    reserve = _ring(117.555, 39.285, 0.07, 0.045, 10)  # the protected area holds the wetland: union = reserve
    assert w.loc["wetland_qilihai", "area_km2"] == pytest.approx(_km2(reserve), abs=0.001)
    assert "union of 2 area(s)" in w.loc["wetland_qilihai", "construction"]
    assert (w.drop(index="wetland_qilihai")["accuracy"] == "schematic").all()
    p = tj.load("port_districts", osm_gpkg).set_index("port_area")
    assert p.loc["beijiang", "accuracy"] == "osm" and "天津港" in p.loc["beijiang", "construction"]
    assert (p.drop(index="beijiang")["accuracy"] == "schematic").all()
    prov = read_table(osm_gpkg, "provenance").set_index("layer")
    assert (
        "大黄堡湿地自然保护区" in prov.loc["wetlands", "warnings"]
        and "kept schematic" in prov.loc["wetlands", "warnings"]
    )


@pytest.mark.parametrize("suffix, opener", [(".osm.gz", "gzip"), (".osm.bz2", "bz2")])
def test_compressed_xml_extracts(osm_gpkg, tmp_path, suffix, opener):
    import importlib

    src = tmp_path / f"tianjin{suffix}"
    with importlib.import_module(opener).open(src, "wb") as fh:
        fh.write(FIXTURE.read_bytes())
    out = build(
        source="extract",
        out=tmp_path / "z.gpkg",
        layers=with_deps(["metro_lines", "water"]),
        options={"extract": src, "cache_dir": tmp_path / "cache"},
    )
    for lid in ("metro_lines", "water"):
        a, b = tj.load(lid, osm_gpkg), tj.load(lid, out)
        assert a.drop(columns=["geometry", "source"]).equals(b.drop(columns=["geometry", "source"])), lid
        assert b["source"].str.contains(f"tianjin{suffix} (2025-12-31)", regex=False).all()


# ------------------------------------------------------------------------------------------------ PBF


def _fixture_pbf(path: Path) -> Path:
    """The XML fixture as PBF (pyosmium), plus a station and a coastline way in Shanghai that the clip must
    drop."""
    import osmium

    text = FIXTURE.read_text("utf-8")
    far_nodes = (
        '  <node id="90001" version="1" lat="31.2495" lon="121.4553"><tag k="railway" v="station"/>'
        '<tag k="name" v="上海站"/></node>\n'
        '  <node id="90002" version="1" lat="31.20" lon="121.40"/>\n'
        '  <node id="90003" version="1" lat="31.21" lon="121.41"/>\n'
    )
    far_way = '  <way id="90004" version="1"><nd ref="90002"/><nd ref="90003"/><tag k="natural" v="coastline"/></way>\n'
    i = text.index("  <way ")
    text = text[:i] + far_nodes + text[i:]
    j = text.index("  <relation ")
    text = text[:j] + far_way + text[j:]
    xml = path.with_name("combined.osm")
    xml.write_text(text, encoding="utf-8")
    with osmium.SimpleWriter(str(path)) as w:
        for o in osmium.FileProcessor(str(xml)):
            w.add(o)
    xml.unlink()
    return path


@pytest.mark.parametrize("clipper", ["osmium-tool", "pyosmium"])
def test_pbf_is_clipped_filtered_and_builds_the_same(osm_gpkg, tmp_path, monkeypatch, clipper):
    from tjspatial.sources.osm_extract import tool_path

    if clipper == "pyosmium":
        monkeypatch.setenv("TJSPATIAL_NO_OSMIUM_TOOL", "1")
        assert tool_path() is None
    elif tool_path() is None:
        pytest.skip("osmium-tool is not installed (apt-get install osmium-tool; .ci/run installs it)")
    pbf = _fixture_pbf(tmp_path / "china-latest.osm.pbf")
    ids = with_deps(["districts", "rail_stations", "metro_lines", "coastline"])
    out = build(
        source="extract",
        out=tmp_path / "pbf.gpkg",
        layers=ids,
        options={"extract": pbf, "cache_dir": tmp_path / "cache"},
    )
    clipped = list((tmp_path / "cache").glob("extract-china-latest-*.osm"))
    assert len(clipped) == 1
    text = clipped[0].read_text("utf-8")
    assert "上海站" not in text and 'id="90004"' not in text  # clipped away
    assert 'k="highway"' not in text  # filtered: no query uses highway
    for lid in ("districts", "rail_stations", "metro_lines", "coastline"):
        a, b = tj.load(lid, osm_gpkg), tj.load(lid, out)
        assert len(a) == len(b), lid
        cols = [c for c in a.columns if c not in ("geometry", "source")]
        assert a[cols].equals(b[cols]), lid
        assert shapely.equals_exact(a.geometry.values, b.geometry.values, tolerance=1e-7).all(), lid
    prov = read_table(out, "provenance").set_index("layer")
    assert prov.loc["rail_stations", "built_from"] == "extract"


# ------------------------------------------------------------------------------------------------ Overpass


class FakeTransport:
    """Stands in for ``requests.Session.send``: answers from a script of responses / exceptions."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[requests.PreparedRequest] = []

    def __call__(self, session, request, **kwargs):
        self.requests.append(request)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        status, body, headers = item
        r = requests.Response()
        r.status_code, r._content, r.url, r.request = status, body, request.url, request
        r.headers.update(headers)
        r.reason = {200: "OK", 429: "Too Many Requests", 504: "Gateway Timeout", 400: "Bad Request"}.get(status)
        return r


OK = (200, FIXTURE.read_bytes(), {"Content-Type": "application/osm3s+xml"})


def _mock(monkeypatch, script) -> FakeTransport:
    fake = FakeTransport(script)
    monkeypatch.setattr(requests.Session, "send", lambda self, request, **kw: fake(self, request, **kw))
    return fake


def test_overpass_build_queries_polygon_with_date_and_caches(monkeypatch, tmp_path):
    fake = _mock(monkeypatch, [OK])
    opts = {
        "cache_dir": tmp_path / "cache",
        "osm_date": "2025-12-31",
        "backoff": 0,
        "overpass_url": "https://overpass.example/api/interpreter",
    }
    out = build(source="osm", out=tmp_path / "a.gpkg", layers=["boundary", "districts"], options=opts)
    assert len(fake.requests) == 1
    req = fake.requests[0]
    assert req.url == "https://overpass.example/api/interpreter" and req.method == "POST"
    from urllib.parse import parse_qs

    query = parse_qs(req.body)["data"][0]
    assert '[date:"2025-12-31T00:00:00Z"]' in query and "[out:xml]" in query
    assert 'relation["boundary"="administrative"]["admin_level"="6"](poly:"' in query
    d = tj.load("districts", out)
    assert len(d) == 16 and d["pop_2020"].sum() == CENSUS_TOTAL
    assert d["source"].str.startswith("OpenStreetMap via Overpass (2025-12-31)").all()
    assert read_table(out, "provenance").set_index("layer").loc["districts", "built_from"] == "osm"
    # a second build (and an offline one) reads the cache: no new request
    fake.script = [AssertionError("network used")]
    again = build(
        source="osm", out=tmp_path / "b.gpkg", layers=["boundary", "districts"], options={**opts, "offline": True}
    )
    assert len(fake.requests) == 1
    assert tj.load("districts", again)["name_zh"].tolist() == d["name_zh"].tolist()


def test_overpass_429_and_504_are_retried_with_backoff(monkeypatch, tmp_path):
    fake = _mock(monkeypatch, [(429, b"rate limited", {"Retry-After": "7"}), (504, b"busy", {}), OK])
    waits = []
    settings = FetchSettings(
        url="https://overpass.example/api/interpreter", cache_dir=tmp_path, retries=3, backoff=1.5, timeout=30
    )
    path = fetch_osm_xml("[out:xml];node(1);out;", settings, label="t", sleep=waits.append)
    assert len(fake.requests) == 3
    assert waits == [7.0, 3.0]  # Retry-After wins, then backoff doubles (1.5 s, 3 s)
    assert path.read_bytes() == OK[1]
    assert fake.requests[0].headers["User-Agent"].startswith("tjspatial")


def test_overpass_gives_up_after_retries_on_timeout(monkeypatch, tmp_path):
    fake = _mock(monkeypatch, [requests.ReadTimeout("read timed out")])
    waits = []
    settings = FetchSettings(cache_dir=tmp_path, retries=2, backoff=0.5, timeout=12)
    with pytest.raises(BuildError, match=r"failed after 3 attempt\(s\): no answer within 12 s \(timeout\)"):
        fetch_osm_xml("[out:xml];node(1);out;", settings, label="t", layer_id="water", sleep=waits.append)
    assert len(fake.requests) == 3 and waits == [0.5, 1.0]
    assert not list(tmp_path.iterdir())  # nothing cached


def test_overpass_bad_request_is_not_retried(monkeypatch, tmp_path):
    fake = _mock(monkeypatch, [(400, b"Error: line 1: parse error", {})])
    with pytest.raises(BuildError, match="HTTP 400 Bad Request: Error: line 1: parse error"):
        fetch_osm_xml("bad", FetchSettings(cache_dir=tmp_path), label="t", sleep=lambda s: None)
    assert len(fake.requests) == 1


def test_no_network_fails_clearly_and_keeps_the_gpkg(monkeypatch, gpkg_copy, tmp_path):
    before = gpkg_copy.read_bytes()
    fake = _mock(monkeypatch, [requests.ConnectionError("Failed to resolve 'overpass-api.de'")])
    with pytest.raises(BuildError) as exc:
        build(source="osm", out=gpkg_copy, options={"cache_dir": tmp_path / "cache", "retries": 1, "backoff": 0})
    msg = str(exc.value)
    assert exc.value.layer == "districts"  # the first layer OSM supplies
    assert "cannot connect" in msg and "--offline" in msg and "overpass-api.de" in msg
    assert len(fake.requests) == 2
    assert gpkg_copy.read_bytes() == before
    assert not list(gpkg_copy.parent.glob("*tmp-*")) and not list(gpkg_copy.parent.glob(".*tmp-*"))


def test_offline_without_cache_keeps_bundled_and_names_the_layers(monkeypatch, tmp_path):
    _mock(monkeypatch, [AssertionError("network used")])
    ids = with_deps(["districts", "water"])
    out = build(
        source="osm", out=tmp_path / "o.gpkg", layers=ids, options={"cache_dir": tmp_path / "empty", "offline": True}
    )
    prov = read_table(out, "provenance").set_index("layer")
    for lid in ("districts", "water"):
        assert prov.loc[lid, "built_from"] == "bundled"
        assert "--offline: no cached Overpass answer" in prov.loc[lid, "warnings"]
    assert tj.load("water", out)["source"].eq("landsat_water").all()


# ------------------------------------------------------------------------------------------------ queries, walk


def test_selectors_and_query_text():
    sel = parse_selector('nwr["railway"~"^(station|halt)$"]["access"!="no"]')
    assert sel.elements == ("node", "way", "relation")
    assert sel.matches("way", {"railway": "halt"}) and not sel.matches("way", {"railway": "halt", "access": "no"})
    with pytest.raises(BuildError, match="layer 'x'.*cannot read the condition"):
        parse_selector('node["a"="b"', "x")
    q = overpass_ql([sel], shapely.box(117.0, 39.0, 117.1, 39.1), timeout=25)
    assert q.startswith("[out:xml][timeout:25];") and q.count("(poly:") == 3 and q.rstrip().endswith("out body;")
    assert '(poly:"39.000000 117.100000 39.100000 117.100000 ' in q  # lat lon order


@pytest.mark.parametrize("clipper", ["osmium-tool", "pyosmium"])
def test_walk_graph_from_extract(tmp_path, monkeypatch, clipper):
    from tjspatial.sources.osm_extract import tool_path

    if clipper == "pyosmium":
        monkeypatch.setenv("TJSPATIAL_NO_OSMIUM_TOOL", "1")
    elif tool_path() is None:
        pytest.skip("osmium-tool is not installed")
    out = osm.build_walk_graph(
        source="extract", extract=FIXTURE, out=tmp_path / "walk.graphml", options={"cache_dir": tmp_path / "cache"}
    )
    g = load_walk_graph(out)
    assert g.number_of_nodes() == 4 and g.number_of_edges() == 6  # motorway and cycleway are not walkable
    assert {d["highway"] for _, _, d in g.edges(data=True)} == {"residential", "footway"}
    # lengths in metres (great-circle), node x/y in EPSG:4326
    geod = Geod(ellps="WGS84")
    a, b, c = (117.2000, 39.1330), (117.2030, 39.1340), (117.2060, 39.1350)
    street = geod.line_length([a[0], b[0], c[0]], [a[1], b[1], c[1]])
    lengths = sorted(d["length"] for _, _, d in g.edges(data=True))
    assert sum(lengths) / 2 == pytest.approx(street + geod.line_length([b[0], 117.2030], [b[1], 39.1370]), rel=1e-3)
    xs = [d["x"] for _, d in g.nodes(data=True)]
    assert min(xs) == pytest.approx(117.2) and max(xs) == pytest.approx(117.206)
    with pytest.raises(FileNotFoundError, match="tjspatial walk-network"):
        load_walk_graph(tmp_path / "none.graphml")


def test_cli_forwards_the_osm_options(monkeypatch, capsys):
    import sys
    from tjspatial.cli import main

    build_module = sys.modules["tjspatial.build"]  # the module (tjspatial.build is the function)
    seen = {}
    monkeypatch.setattr(build_module, "build", lambda **kw: seen.update(kw) or Path("new.gpkg"))
    assert (
        main(
            [
                "build",
                "--source",
                "osm",
                "--retries",
                "0",
                "--timeout",
                "30",
                "--osm-date",
                "2025-12-31",
                "--offline",
                "--cache-dir",
                "c",
                "--overpass-url",
                "http://o/api/interpreter",
                "--quiet",
            ]
        )
        == 0
    )
    assert seen["source"] == "osm"
    assert seen["options"] == {
        "retries": 0,
        "timeout": 30.0,
        "osm_date": "2025-12-31",
        "offline": True,
        "cache_dir": Path("c"),
        "overpass_url": "http://o/api/interpreter",
    }
    assert capsys.readouterr().out.strip() == "new.gpkg"


def test_overpass_answers_without_data_fall_back_layer_by_layer(monkeypatch, tmp_path):
    """Overpass answers every query with an empty (but complete) document: each OSM layer keeps its bundled
    source, says why, and the build succeeds."""
    empty = (
        200,
        b'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="Overpass API">\n'
        b'<meta osm_base="2025-12-31T00:00:00Z"/>\n</osm>\n',
        {},
    )
    _mock(monkeypatch, [empty])
    ids = with_deps(["districts", "rail_stations", "water", "airport"])
    out = build(source="osm", out=tmp_path / "e.gpkg", layers=ids, options={"cache_dir": tmp_path / "c", "backoff": 0})
    prov = read_table(out, "provenance").set_index("layer")
    assert prov.loc["districts", "fallback"] == "the OSM data holds no admin_level=6 boundary of a Tianjin district"
    assert prov.loc["rail_stations", "fallback"] == "the OSM data holds no station"
    assert prov.loc["water", "fallback"] == "the OSM data holds no water area"
    for lid in ("districts", "rail_stations", "water", "airport"):
        assert prov.loc[lid, "built_from"] == "bundled" and prov.loc[lid, "osm_features"] == 0, lid
        assert prov.loc[lid, "fallback_features"] == len(tj.load(lid, out)), lid
    assert tj.load("districts", out)["pop_2020"].sum() == CENSUS_TOTAL


@pytest.mark.parametrize("suffix", [".osm", ".osm.bz2"])
def test_parse_progress_reports_share_of_the_file(tmp_path, suffix):
    import bz2
    from tjspatial.sources.osm_data import read_osm_xml

    src = FIXTURE if suffix == ".osm" else tmp_path / "t.osm.bz2"
    if suffix == ".osm.bz2":
        src.write_bytes(bz2.compress(FIXTURE.read_bytes()))
    seen = []
    d = read_osm_xml(src, progress=lambda n, share: seen.append((n, share)), every=100)
    assert [n for n, _ in seen] == list(range(100, 974 + 1, 100))  # 874 nodes + 57 ways + 43 relations
    shares = [s for _, s in seen]
    assert shares == sorted(shares) and 0 < shares[0] and shares[-1] <= 1.0
    if suffix == ".osm":  # (a 12 kB .bz2 is read from disk in one buffer: 100 % at once)
        assert shares[0] < 0.2 and shares[-1] > 0.8
    assert d.counts == {"nodes": 874, "ways": 57, "relations": 43}
    from tjspatial.sources.osm_extract import progress_line

    assert (
        progress_line("parsing x.osm", 1_500_000, 0.5, 5.0)
        == "        parsing x.osm: 1,500,000 objects, 50% (300,000 objects/s, ETA 5 s)"
    )
    assert progress_line("x", 10, float("nan"), 2.0) == "        x: 10 objects, ?% (5 objects/s, ETA unknown)"


def test_pyosmium_fallback_clip_prints_rate_share_and_eta(tmp_path):
    """The pyosmium clip (no osmium-tool) prints the same progress line as the parser: objects, share of the
    file read, objects/s and ETA, for each of its passes (fake clock: 1 s per reading)."""
    import itertools
    import re

    from tjspatial.sources.osm_extract import _Ticker, clip_filter_pbf

    # one pass, fake clock and a share that grows by 25 % per reading: exact lines
    clock, shares, lines = itertools.count(), itertools.count(1), []
    tick = _Ticker("pass", lines.append, lambda: next(shares) / 4, interval=2, check=100, clock=lambda: next(clock))
    for _ in range(450):
        tick.tick()
    # the clock is read at 100, 200, 300, 400 objects (t = 1, 2, 3, 4); a line at most every 2 s: t = 2 and 4
    assert lines == [
        "        pass: 200 objects, 25% (100 objects/s, ETA 6 s)",
        "        pass: 400 objects, 50% (100 objects/s, ETA 4 s)",
    ]
    # the real fallback on the fixture (874 nodes, 57 ways, 43 relations), a line every 10 objects
    lines, clock = [], itertools.count()
    keys = {"railway", "boundary", "natural", "water", "route", "type"}
    clip_filter_pbf(
        FIXTURE,
        tmp_path / "clip.osm",
        (116.7, 38.5, 118.1, 40.3),
        keys,
        progress=lines.append,
        interval=0,
        check=10,
        clock=lambda: float(next(clock)),
    )
    parsed = [
        re.fullmatch(
            r" {8}pyosmium pass (\d)/4 \(.*\) over tianjin_fixture\.osm: ([\d,]+) objects, (\d+)% "
            r"\(([\d,]+) objects/s, ETA (\d+) s\)",
            line,
        )
        for line in lines
    ]
    assert all(parsed), lines
    by_pass = {}
    for m in parsed:
        by_pass.setdefault(int(m[1]), []).append(m)
    assert sorted(by_pass) == [1, 2, 3, 4]
    assert len(by_pass[3]) == 93 and by_pass[3][-1][2] == "930"  # every node and way: 931 objects
    assert [m[2] for m in by_pass[4]] == ["10", "20", "30", "40"]  # every relation: 43
    for ms in by_pass.values():
        for i, m in enumerate(ms, start=1):  # i-th line of a pass: i s elapsed, 10 i objects
            n, share, rate, eta = int(m[2].replace(",", "")), int(m[3]) / 100, int(m[4].replace(",", "")), int(m[5])
            assert n == 10 * i and rate == 10 and 0 < share <= 1
            assert abs(eta - i * (1 - share) / share) <= 0.5 + i * 0.005 / share**2  # ETA from the printed share
    assert (tmp_path / "clip.osm").stat().st_size > 0


@pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="file positions are read from /proc")
def test_share_of_a_file_read_is_the_readers_position(tmp_path):
    from tjspatial.sources.osm_extract import _file_share

    src = tmp_path / "x.osm.pbf"
    src.write_bytes(bytes(1000))
    share = _file_share(src)
    with open(src, "rb", buffering=0) as fh:  # unbuffered: the position is what was read
        assert share() == 0.0
        fh.read(250)
        assert share() == 0.25  # the reader's position over the size on disk
        with open(src, "rb", buffering=0) as other:  # a second reader further on: the furthest counts
            other.read(600)
            assert share() == 0.6
    assert share() == 1.0  # no reader has it open any more: read to the end and closed


def test_large_xml_extracts_are_clipped_too(osm_gpkg, tmp_path, monkeypatch):
    """.osm / .osm.bz2 files over DIRECT_XML_BYTES are clipped like a PBF before parsing (here: all)."""
    import bz2

    monkeypatch.setattr(osm, "DIRECT_XML_BYTES", 0)
    src = tmp_path / "big.osm.bz2"
    src.write_bytes(bz2.compress(FIXTURE.read_bytes()))
    out = build(
        source="extract",
        out=tmp_path / "x.gpkg",
        layers=with_deps(["districts", "rail_stations"]),
        options={"extract": src, "cache_dir": tmp_path / "cache"},
    )
    assert len(list((tmp_path / "cache").glob("extract-big-*.osm"))) == 1
    for lid in ("districts", "rail_stations"):
        a, b = tj.load(lid, osm_gpkg), tj.load(lid, out)
        cols = [c for c in a.columns if c not in ("geometry", "source")]
        assert a[cols].equals(b[cols]), lid
