"""OSM extracts as they really are (issue #11): one test per row of the issue's table of real-world quirks.

Each variant is one edit of ``tests/fixtures/osm/tianjin_fixture.osm`` (see ``tests/fixtures/osm/quirks.py``),
built with ``--source extract`` for the layers it concerns; the tests assert the exact outcome: counts, the
census total, names, which layers and features fell back and what the build said about it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import tjspatial as tj
from tjspatial.build import build, read_table
from tjspatial.crs import METRIC_CRS
from tjspatial.errors import BuildError

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "osm"))
from quirks import write_variant  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CENSUS_TOTAL = 13_866_009


def with_deps(ids: list[str]) -> list[str]:
    cat = tj.get_catalog()
    want = set(ids) | {"boundary"}
    for layer in reversed(cat.layers):
        if layer.id in want:
            want |= set(layer.depends)
    return [lid for lid in cat.ids if lid in want]


def build_variant(name: str, tmp: Path, layers: list[str] | None, **options) -> Path:
    src = write_variant(name, tmp)
    return build(
        source="extract",
        out=tmp / f"{name}.gpkg",
        layers=with_deps(layers) if layers else None,
        options={"extract": src, "cache_dir": tmp / "cache", **options},
    )


def prov(gpkg: Path):
    return read_table(gpkg, "provenance").set_index("layer")


def cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tjspatial.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


# ------------------------------------------------------------------------------------------------ coverage


def test_binhai_only_extract_builds_what_it_holds_and_keeps_the_rest(tmp_path):
    """Row 1: a bbox cut around Binhai. Exit 0; stations, lines, wetland and port from OSM where the file has
    them, the rest bundled, and the summary says which."""
    src = write_variant("binhai_only", tmp_path)
    r = cli("build", "--source", "extract", src, "--out", tmp_path / "b.gpkg", "--cache-dir", tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "b.gpkg"
    p = prov(out)
    assert p.loc["rail_stations", "built_from"] == "extract+bundled"
    assert p.loc["rail_stations", "osm_features"] == 18 and p.loc["rail_stations", "fallback_features"] == 265
    assert p.loc["metro_lines", "built_from"] == "extract+bundled" and p.loc["metro_lines", "osm_features"] == 1
    assert "min_features = 10: 1 feature(s) from OSM" in p.loc["metro_lines", "plausibility"]
    assert p.loc["wetlands", "osm_features"] == 1 and p.loc["port_districts", "osm_features"] == 1
    for lid in ("districts", "water", "airport"):  # nothing usable for these in the box
        assert p.loc[lid, "built_from"] == "bundled" and p.loc[lid, "fallback"] != "", lid
    assert "member way 2007 lacks 15 of its nodes" in p.loc["districts", "fallback"]
    d = tj.load("districts", out)
    assert len(d) == 16 and d["pop_2020"].sum() == CENSUS_TOTAL
    s = tj.load("rail_stations", out)
    osm = s[s["source"].str.startswith("OpenStreetMap")]
    assert (shapely.get_x(osm.geometry.values) >= 117.45).all()
    assert {"塘沽", "滨海"} <= set(osm["name_zh"])
    m = tj.load("metro_lines", out).set_index("line_id")
    assert (
        len(m) == 12
        and m.loc["9", "source"].startswith("OpenStreetMap")
        and m.loc["1", "source"].startswith("metro_lines_csv")
    )
    assert "build summary" in r.stderr and "rail_stations    extract+bundled      18    265" in r.stderr
    assert "8 layer(s) with a fallback" in r.stderr


@pytest.mark.parametrize("fmt", ["osm", "pbf"])
def test_extract_with_nothing_inside_tianjin_fails_and_keeps_the_gpkg(tmp_path, gpkg_copy, fmt):
    before = gpkg_copy.read_bytes()
    src = write_variant("outside_tianjin", tmp_path)
    if fmt == "pbf":  # a PBF is clipped first; the message then gives the whole file's extent
        import osmium

        pbf = tmp_path / "shanghai.osm.pbf"
        with osmium.SimpleWriter(str(pbf)) as w:
            for o in osmium.FileProcessor(str(src)):
                w.add(o)
        src = pbf
    r = cli("build", "--source", "extract", src, "--out", gpkg_copy, "--cache-dir", tmp_path / "cache")
    assert r.returncode == 2  # the CLI's exit code for bad input
    assert (
        "the OSM extract holds nothing inside Tianjin: the file spans 120.56–122.36°E, 30.40–32.34°N; "
        "Tianjin (+1 km) spans 116.69–118.07°E, 38.55–40.25°N"
    ) in r.stderr
    assert "layer 'districts'" in r.stderr
    assert gpkg_copy.read_bytes() == before
    assert not list(gpkg_copy.parent.glob("*tmp*"))


@pytest.mark.parametrize(
    "quirk, layer, n_bundled",
    [("no_aerodrome", "airport", 1), ("no_wetland", "wetlands", 4), ("no_port", "port_districts", 6)],
)
def test_missing_plan_area_keeps_the_schematic_layer(tmp_path, quirk, layer, n_bundled):
    out = build_variant(quirk, tmp_path, [layer])
    p = prov(out)
    assert p.loc[layer, "built_from"] == "bundled"
    assert p.loc[layer, "fallback"].startswith("the OSM data holds no area matching ")
    assert p.loc[layer, "fallback_features"] == n_bundled and p.loc[layer, "osm_features"] == 0
    g = tj.load(layer, out)
    assert len(g) == n_bundled and (g["accuracy"] == "schematic").all()
    assert "the whole layer kept its bundled source" in p.loc[layer, "warnings"]


def test_strict_turns_a_fallback_into_an_error(tmp_path, gpkg_copy):
    before = gpkg_copy.read_bytes()
    src = write_variant("no_aerodrome", tmp_path)
    r = cli(
        "build",
        "--source",
        "extract",
        src,
        "--strict",
        "--out",
        gpkg_copy,
        "--layers",
        ",".join(with_deps(["airport"])),
        "--cache-dir",
        tmp_path / "cache",
    )
    assert r.returncode == 2
    assert "layer 'airport'" in r.stderr and "rule strict" in r.stderr
    assert '--strict: the OSM data holds no area matching way["aeroway"="aerodrome"]' in r.stderr
    assert gpkg_copy.read_bytes() == before


OSMNX = Path(__file__).parent / "fixtures" / "osm" / "osmnx"


@pytest.mark.parametrize(
    "name, extent",
    [
        ("West-Oakland.osm.bz2", "122.314–122.291°W, 37.804–37.818°N"),
        ("planet_10.068,48.135_10.071,48.137.osm", "10.068–10.071°E, 48.135–48.136°N"),
    ],
)
def test_osmnx_real_extracts_are_refused_by_name(tmp_path, gpkg_copy, name, extent):
    """osmnx's own test extracts (real OSM data, ODbL; see tests/fixtures/osm/osmnx/README.md): each is read
    (West Oakland as .osm.bz2) and refused with its extent, and the GeoPackage is kept."""
    before = gpkg_copy.read_bytes()
    r = cli("build", "--source", "extract", OSMNX / name, "--out", gpkg_copy, "--cache-dir", tmp_path / "cache")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert (
        f"tjspatial build: error: layer 'districts', file {OSMNX / name}: the OSM extract holds nothing inside "
        f"Tianjin: the file spans {extent}; Tianjin (+1 km) spans 116.69–118.07°E, 38.55–40.25°N" in r.stderr
    )
    assert gpkg_copy.read_bytes() == before


def test_osmnx_extract_parses_completely():
    """The parse-once reader reads osmnx's West Oakland extract whole: every node, way and relation."""
    from tjspatial.sources.osm_data import read_osm_xml

    d = read_osm_xml(OSMNX / "West-Oakland.osm.bz2")
    assert d.counts == {"nodes": 446, "ways": 66, "relations": 23}
    assert d.timestamp == "2016-07-12"  # the newest element timestamp (the file's header has none)
    assert d.extent() == pytest.approx((-122.3143312, 37.8040142, -122.290784, 37.8175832))


# ------------------------------------------------------------------------------------------------ districts


def test_extra_admin_area_is_ignored_with_a_warning(tmp_path):
    out = build_variant("extra_admin_area", tmp_path, ["districts"])
    d = tj.load("districts", out)
    assert len(d) == 16 and d["pop_2020"].sum() == CENSUS_TOTAL and (d["accuracy"] == "osm").all()
    assert "天津经济技术开发区" not in set(d["name_zh"])
    assert (
        "ignored 1 admin_level=6 area(s) inside Tianjin that match no census district: "
        "天津经济技术开发区 (relation 900006)"
    ) in prov(out).loc["districts", "warnings"]


def test_old_name_division_code_and_zh_hans_are_matched(tmp_path):
    out = build_variant("old_names", tmp_path, ["districts"])
    d = tj.load("districts", out).set_index("name_zh")
    assert len(d) == 16 and d["pop_2020"].sum() == CENSUS_TOTAL and (d["accuracy"] == "osm").all()
    assert d.loc["蓟州区", "adcode"] == 120119 and d.loc["宁河区", "adcode"] == 120117
    assert d.loc["宁河区", "name_en"] == "Ninghe District"
    p = prov(out).loc["districts"]
    assert p["built_from"] == "extract" and p["fallback"] == ""
    assert "OSM names matched to census districts: 东丽 → 东丽区, 蓟县 → 蓟州区" in p["warnings"]


def test_binhai_missing_member_way_falls_back_for_binhai_only(tmp_path):
    out = build_variant("binhai_missing_member", tmp_path, ["districts", "dual_city"])
    d = tj.load("districts", out).set_index("name_zh")
    assert len(d) == 16 and d["pop_2020"].sum() == CENSUS_TOTAL
    assert (
        d.loc["滨海新区", "accuracy"] == "official" and d.loc["滨海新区", "source"] == "tianditu_districts; census_2020"
    )
    assert (d.drop(index="滨海新区")["accuracy"] == "osm").all()
    p = prov(out)
    assert p.loc["districts", "built_from"] == "extract+bundled"
    assert p.loc["districts", "osm_features"] == 15 and p.loc["districts", "fallback_features"] == 1
    assert "滨海新区 (relation 3013: member way 2014 (outer) is missing from the file" in p.loc["districts", "fallback"]
    dual = tj.load("dual_city", out).set_index("city")
    assert dual.loc["滨城", "pop_2020"] == 2_067_318  # dual_city builds; the error is not blamed on it
    assert p.loc["dual_city", "osm_inputs"] == "districts"


def test_hebei_open_ring_keeps_16_districts_and_the_census_total(tmp_path):
    out = build_variant("hebei_open_ring", tmp_path, ["districts", "zones"])
    d = tj.load("districts", out).set_index("name_zh")
    assert len(d) == 16 and d["pop_2020"].sum() == CENSUS_TOTAL  # not 15 with 647,702 residents gone
    assert d.loc["河北区", "pop_2020"] == 647_702 and d.loc["河北区", "accuracy"] == "official"
    p = prov(out).loc["districts"]
    assert (
        p["fallback"] == "district boundary not usable from OSM for 河北区 (relation 3005: outer ring not "
        "closed (gap 4,865 m))"
    )
    assert tj.load("zones", out).set_index("zone").loc["中心城区", "pop_2020"] == 4_057_215
    with pytest.raises(BuildError, match=r"--strict: district boundary not usable from OSM for 河北区"):
        build_variant("hebei_open_ring", tmp_path / "strict", ["districts"], strict=True)


@pytest.mark.parametrize("quirk", ["no_port", "hebei_open_ring"])
def test_overlapping_district_polygons_become_a_partition(tmp_path, quirk, built_gpkg):
    """The fixture's outlines are simplified one by one, so neighbours overlap (as outlines mapped apart, or an
    OSM outline beside a bundled fallback one, do): each overlap stays with one district, with a warning, so
    that no area (and no resident of an areal sum such as the population model) is counted twice."""
    out = build_variant(quirk, tmp_path, ["districts"])
    d = tj.load("districts", out)
    g = np.asarray(d.to_crs(METRIC_CRS).geometry.values)
    assert shapely.is_valid(g).all() and len(d) == 16 and d["pop_2020"].sum() == CENSUS_TOTAL
    assert shapely.area(g).sum() - shapely.union_all(g).area < 0.05e6  # m²: overlaps gone (was 43.5 km²)
    warn = prov(out).loc["districts", "warnings"]
    assert "district polygons overlapped (" in warn and "each overlap kept by one district only" in warn
    assert "宝坻区 ∩ 武清区 5.29 km²" in warn  # the larger 武清区 keeps it
    if quirk == "hebei_open_ring":  # the bundled 河北区 gives way to its OSM neighbours
        hebei = d.set_index("name_zh").loc["河北区"]
        bundled = tj.load("districts", built_gpkg).set_index("name_zh").loc["河北区"]
        assert hebei["accuracy"] == "official" and hebei["area_km2"] < bundled["area_km2"]


# ------------------------------------------------------------------------------------------------ transport


def test_station_duplicates_collapse_to_one_station(tmp_path):
    out = build_variant("station_duplicates", tmp_path, ["rail_stations"])
    s = tj.load("rail_stations", out)
    assert len(s) == 237  # as the clean fixture: 6 extra features merged, the lone stop position dropped
    yk = s[(s["name_zh"] == "营口道")]
    assert len(yk) == 1 and yk["station_id"].iloc[0] == "osm_n1698" and yk["lines"].iloc[0] == "1号线;3号线"
    assert (
        len(s[s["name_zh"] == "天津西"]) == 1 and s.loc[s["name_zh"] == "天津西", "station_id"].iloc[0] == "osm_n1751"
    )
    assert "孤立站台" not in set(s["name_zh"])
    w = prov(out).loc["rail_stations", "warnings"]
    assert "merged 6 OSM station features into 2 station(s): 营口道 ×4, 天津西 ×2" in w
    assert "dropped 1 stop position(s)/platform(s) with no station of the same name nearby: 孤立站台" in w


def test_line_refs_and_directions_are_normalised(tmp_path):
    out = build_variant("line_refs", tmp_path, ["metro_lines"])
    m = tj.load("metro_lines", out)
    assert m["line_id"].tolist() == ["1", "2", "3", "4", "5", "6", "6-II", "7", "9", "10", "11", "JJ"]
    assert m["name_zh"].tolist() == [
        "1号线",
        "2号线",
        "3号线",
        "4号线",
        "5号线",
        "6号线",
        "6号线二期",
        "7号线",
        "9号线",
        "10号线",
        "11号线",
        "津静线",
    ]
    assert not m["name_zh"].str.contains("M3|JJ号线|6-II号线|天津地铁").any()
    m = m.set_index("line_id")
    assert m.loc["3", "colour"] == "#00acd0" and m.loc["7", "colour"] == "#008080"  # teal → hex
    assert m.loc["JJ", "name_en"] == "Jinjing Line" and m.loc["6-II", "name_en"] == "Line 6 Phase II"
    assert m.loc["2", "stations_total"] == 20  # one feature for both directions: the longer one
    assert (m["accuracy"] == "osm").all() and prov(out).loc["metro_lines", "fallback"] == ""
    assert "2号线 ×2" in prov(out).loc["metro_lines", "warnings"]


def test_english_name_wins_and_pinyin_is_spaced(tmp_path):
    out = build_variant("english_name", tmp_path, ["rail_stations"])
    s = tj.load("rail_stations", out).set_index(["kind", "name_zh"])
    assert s.loc[("rail", "天津西"), "name_en"] == "Tianjin West"
    assert s.loc[("rail", "天津西"), "name_source"] == "osm:name:zh"
    assert s.loc[("rail", "天津北"), "name_en"] == "Tianjin Bei"  # pinyin as place names are written
    assert s.loc[("metro", "营口道"), "name_en"] == "Yingkou Dao"


def test_implausibly_few_stations_warn_and_fail_with_strict(tmp_path):
    out = build_variant("two_stations", tmp_path, ["rail_stations", "metro_lines"])
    p = prov(out).loc["rail_stations"]
    assert p["osm_features"] == 2
    # metro_lines still builds from the route relations (its bundled yardstick, drawn from 2 stations, has no
    # line at all: it used to crash the build with "Unknown column geometry")
    m = tj.load("metro_lines", out)
    assert len(m) == 12 and (m["accuracy"] == "osm").all() and prov(out).loc["metro_lines", "built_from"] == "extract"
    assert p["plausibility"] == (
        "min_share_of_bundled = 0.5: 2 feature(s) from OSM, 1% of the 235 bundled ones "
        "inside the area the OSM data covers"
    )
    with pytest.raises(BuildError, match=r"rule plausible.*--strict: plausibility rule min_share_of_bundled"):
        build_variant("two_stations", tmp_path / "strict", ["rail_stations"], strict=True)


# ------------------------------------------------------------------------------------------------ water


def _area_km2(geom) -> float:
    return gpd.GeoSeries([geom], crs=4326).to_crs(METRIC_CRS).area.iloc[0] / 1e6


def _reservoir():
    a = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    b = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    outer = shapely.Polygon(np.round(np.c_[117.385 + 0.06 * np.cos(a), 38.745 + 0.035 * np.sin(a)], 7))
    inner = shapely.Polygon(np.round(np.c_[117.385 + 0.01 * np.cos(b), 38.745 + 0.008 * np.sin(b)], 7))
    return outer, inner


@pytest.mark.parametrize(
    "quirk, gap",
    [
        ("water_broken_inner", "inner ring not closed (gap 30 m)"),
        ("water_broken_outer", "outer ring not closed (gap 2,065 m)"),
    ],
)
def test_broken_multipolygon_ring_is_closed_and_reported(tmp_path, quirk, gap):
    out = build_variant(quirk, tmp_path, ["water"])
    w = tj.load("water", out).set_index("name_zh")
    assert set(w.index) == {"北大港水库", "水上公园湖", "海河"}
    geom = w.loc["北大港水库"].geometry
    assert shapely.get_num_interior_rings(geom) == 1  # the lake keeps its hole
    outer, inner = _reservoir()
    assert _area_km2(geom) == pytest.approx(_area_km2(outer.difference(inner)), rel=0.002)
    assert f"relation 3043: {gap}: closed with a straight segment" in prov(out).loc["water", "warnings"]


def test_unrepairable_multipolygon_is_dropped_and_reported(tmp_path):
    out = build_variant("water_half_outer", tmp_path, ["water"])
    w = tj.load("water", out)
    assert set(w["name_zh"]) == {"水上公园湖", "海河"}
    assert (
        "dropped 1 OSM feature(s) without a usable geometry: relation 3043 北大港水库 (relation 3043: outer ring "
        "not closed (gap 9,924 m))"
    ) in prov(out).loc["water", "warnings"]


# ------------------------------------------------------------------------------------------------ realistic


def test_realistic_tagging_builds_the_same_layers(tmp_path):
    """Districts as relations of shared ways (one way per common edge), both directions of every metro line
    under route_masters, platforms and stop positions at every metro station, an area beside every railway
    station node: the build gives the same 16 districts, 237 stations and 12 lines, with nothing falling back."""
    out = build_variant("realistic", tmp_path, ["districts", "rail_stations", "metro_lines"])
    p = prov(out)
    assert (p.loc[["districts", "rail_stations", "metro_lines"], "built_from"] == "extract").all()
    assert (p.loc[["districts", "rail_stations", "metro_lines"], "fallback"] == "").all()
    d = tj.load("districts", out)
    assert len(d) == 16 and d["pop_2020"].sum() == CENSUS_TOTAL and (d["accuracy"] == "osm").all()
    bundled = tj.load("districts", build(out=tmp_path / "bundled.gpkg", layers=["boundary", "districts"]))
    ratio = d.set_index("adcode")["area_km2"] / bundled.set_index("adcode")["area_km2"]
    assert ratio.between(0.97, 1.03).all(), ratio.to_dict()  # rings assembled from the shared ways
    s = tj.load("rail_stations", out)
    assert len(s) == 237 and s["kind"].value_counts().to_dict() == {"metro": 207, "rail": 29, "tram": 1}
    assert "merged 54 OSM station features into 27 station(s)" in p.loc["rail_stations", "warnings"]
    m = tj.load("metro_lines", out)
    assert m["line_id"].tolist() == ["1", "2", "3", "4", "5", "6", "6-II", "7", "9", "10", "11", "JJ"]
    assert "one feature per line from 25 route relations" in p.loc["metro_lines", "warnings"]
    assert "Z4" not in p.loc["metro_lines", "warnings"]  # the bundled yardstick's own warnings are not shown


def test_long_repair_lists_are_capped():
    from tjspatial.sources.osm_layers import capped

    assert capped([f"relation {i}" for i in range(25)], 3) == "relation 0; relation 1; relation 2; … and 22 more"
    assert capped(["a", "b"]) == "a; b"
