"""Plan layers anchored on stations degrade per feature (issue #11): a station missing from the built
``rail_stations`` layer is taken from the bundled snapshot and recorded; one in neither drops only its feature.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import shapely

import tjspatial as tj
from tjspatial.build import build
from tjspatial.errors import BuildError

sys.path.insert(0, str(Path(__file__).parent))
from test_osm_quirks import ROOT, build_variant, cli, prov, with_deps  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "osm"))
from quirks import QUIRKS, Doc, write_variant  # noqa: E402

N_PLANNED_RAIL = 16
N_CLUSTERS = 10


def test_two_stations_full_build_places_plan_lines_on_bundled_stations(two_stations_build, built_gpkg):
    """The whole catalog from an extract with 2 stations: exit 0, every planned line drawn, each fallback named."""
    out, r = two_stations_build
    assert r.returncode == 0, r.stderr
    p = prov(out)
    assert p.loc["rail_stations", "osm_features"] == 2
    assert p.loc["planned_rail", "feature_count"] == N_PLANNED_RAIL
    assert p.loc["planned_rail", "fallback_features"] == 10  # every line drawn through stations; copies need none
    fb = p.loc["planned_rail", "fallback"].split(" | ")
    assert fb[0] == (
        "feature M4-mid: station(s) 西站 (metro), 东南角 (metro) not in the rail_stations layer; "
        "placed on the bundled station position(s) (rail_stations_osm.geojson)"
    )
    assert [f.split(":")[0] for f in fb] == [
        f"feature {i}"
        for i in ("M4-mid", "M8", "B1", "Z2", "Z4-north", "Z4-south", "M2-east", "jingbin-north", "jingbin-south")
        + ("jinwei",)
    ]
    assert "rail_stations_osm.geojson" in json.loads(p.loc["planned_rail", "inputs_sha256"])
    assert p.loc["urban_clusters", "fallback_features"] == 1
    assert "feature 中新天津生态城: station(s) 中新生态城 not in" in p.loc["urban_clusters", "fallback"]
    assert "warning: planned_rail: feature M4-mid: station(s) 西站 (metro), 东南角 (metro)" in r.stderr
    assert "4 layer(s) with a fallback" in r.stderr
    # the fallback positions are those of the bundled build, and the feature says where they came from
    got = tj.load("planned_rail", out).set_index("line_id")
    ref = tj.load("planned_rail", built_gpkg).set_index("line_id")
    assert list(got.index) == list(ref.index)
    for lid in ("M4-mid", "Z2", "jinwei"):
        assert shapely.equals_exact(got.loc[lid, "geometry"], ref.loc[lid, "geometry"], tolerance=1e-9), lid
    assert got.loc["M4-mid", "waypoints"] == "西站;东南角"
    assert got.loc["M4-mid", "geometry_basis"].endswith(
        "; 西站, 东南角 from the bundled stations (not in rail_stations)"
    )
    assert got.loc["M4", "geometry_basis"] == ref.loc["M4", "geometry_basis"]  # a copy: no station needed
    c = tj.load("urban_clusters", out).set_index("name_zh")
    assert len(c) == N_CLUSTERS
    assert c.loc["中新天津生态城", "position_basis"].endswith(
        "中新生态城 from the bundled stations (not in rail_stations)"
    )


def test_one_missing_station_is_one_fallback_and_strict_names_layer_feature_station(tmp_path):
    out = build_variant("no_xizhan", tmp_path, ["planned_rail", "urban_clusters"])
    p = prov(out)
    assert p.loc["planned_rail", "fallback_features"] == 1 and p.loc["planned_rail", "feature_count"] == N_PLANNED_RAIL
    assert p.loc["planned_rail", "fallback"].startswith("feature M4-mid: station(s) 西站 (metro) not in")
    assert p.loc["urban_clusters", "fallback_features"] == 0 and p.loc["urban_clusters", "fallback"] == ""
    with pytest.raises(BuildError) as exc:
        build_variant("no_xizhan", tmp_path / "strict", ["planned_rail"], strict=True)
    assert str(exc.value).startswith(
        "layer 'planned_rail', feature M4-mid, rule strict: --strict: feature M4-mid: station(s) 西站 (metro) "
        "not in the rail_stations layer"
    )


def _without_station(sources: Path, name: str) -> None:
    f = sources / "rail_stations_osm.geojson"
    fc = json.loads(f.read_text(encoding="utf-8"))
    fc["features"] = [x for x in fc["features"] if x["properties"]["name_zh"] != name]
    f.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")


def test_station_in_neither_drops_only_its_feature_with_a_warning(tmp_path, sources_copy):
    _without_station(sources_copy, "中新生态城")
    shutil.copytree(ROOT / "layers" / "plan", sources_copy.parent / "plan")  # sources name ../plan files
    layers = with_deps(["planned_rail", "urban_clusters"])
    out = build(out=tmp_path / "t.gpkg", layers=layers, sources_dir=sources_copy, overrides={})
    p = prov(out)
    rail = tj.load("planned_rail", out)
    assert len(rail) == N_PLANNED_RAIL - 1 and "Z4-north" not in set(rail["line_id"])
    assert (
        "planned_rail: feature Z4-north left out: station(s) 中新生态城 (metro) in neither the rail_stations layer "
        "nor the bundled stations (rail_stations_osm.geojson)"
    ) in p.loc["planned_rail", "warnings"]
    c = tj.load("urban_clusters", out)
    assert len(c) == N_CLUSTERS - 1 and "中新天津生态城" not in set(c["name_zh"])
    assert "feature 中新天津生态城 left out: station(s) 中新生态城 in neither" in p.loc["urban_clusters", "warnings"]
    assert p.loc["planned_rail", "fallback_features"] == 0  # nothing was placed on a bundled position
    with pytest.raises(BuildError, match=r"layer 'planned_rail', feature Z4-north, rule strict: --strict: feature"):
        build(
            out=tmp_path / "s.gpkg",
            layers=layers,
            sources_dir=sources_copy,
            overrides={},
            options={"strict": True},
        )
    assert not (tmp_path / "s.gpkg").exists()


def test_metro_line_missing_from_osm_and_stations_is_drawn_on_bundled_stations(tmp_path, built_gpkg):
    """Two stations and no route relation for line 4: the bundled fallback for line 4 cannot be drawn on the
    built stations; it used to vanish in silence (and planned_rail, which copies M4, stopped the build)."""
    d = Doc()
    QUIRKS["two_stations"](d)
    for r in d.find("relation", type="route", route="subway", ref="4"):
        d.root.remove(r)
    src = d.write(tmp_path / "no_line4.osm")
    out = build(
        source="extract",
        out=tmp_path / "t.gpkg",
        layers=with_deps(["planned_rail"]),
        options={"extract": src, "cache_dir": tmp_path / "cache"},
    )
    p = prov(out)
    assert p.loc["metro_lines", "built_from"] == "extract+bundled"
    assert (p.loc["metro_lines", "osm_features"], p.loc["metro_lines", "fallback_features"]) == (11, 1)
    assert p.loc["metro_lines", "fallback"] == (
        "line_id 4 neither in the OSM data nor drawable on the built rail_stations layer; "
        "drawn on the bundled station positions (rail_stations_osm.geojson)"
    )
    m = tj.load("metro_lines", out).set_index("line_id")
    ref = tj.load("metro_lines", built_gpkg).set_index("line_id")
    assert (
        len(m) == 12
        and m.loc["4", "source"] == ref.loc["4", "source"] == "metro_lines_csv; metro_lines_meta; osm_stations"
    )
    assert shapely.equals_exact(m.loc["4", "geometry"], ref.loc["4", "geometry"], tolerance=1e-9)
    rail = tj.load("planned_rail", out).set_index("line_id")
    assert len(rail) == N_PLANNED_RAIL
    assert shapely.equals_exact(rail.loc["M4", "geometry"], ref.loc["4", "geometry"], tolerance=1e-9)


FULL_BUILD_EXIT = {q: 0 for q in QUIRKS} | {"outside_tianjin": 2}
"""Exit code of a full ``tjspatial build --source extract`` of each variant (2: refused as bad input)."""


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("TJSPATIAL_FULL_QUIRKS"),
    reason="~8 s per variant; set TJSPATIAL_FULL_QUIRKS=1 to build every quirk variant in full",
)
def test_every_quirk_variant_builds_the_whole_catalog(tmp_path):
    """Every variant through every layer (plan layers included), not only the OSM layers, then `analyse`."""
    failed = {}
    for quirk in sorted(QUIRKS):
        src = write_variant(quirk, tmp_path / quirk)
        out = tmp_path / quirk / "q.gpkg"
        r = cli("build", "--source", "extract", src, "--out", out, "--cache-dir", tmp_path / "cache")
        if r.returncode != FULL_BUILD_EXIT[quirk]:
            failed[quirk] = r.stderr[-1000:]
        elif r.returncode == 0:
            p = prov(out)
            counts = (list(p.index), p.loc["planned_rail", "feature_count"], p.loc["urban_clusters", "feature_count"])
            if counts != (tj.get_catalog().ids, N_PLANNED_RAIL, N_CLUSTERS):
                failed[quirk] = counts
            a = cli("analyse", "--gpkg", out, "--out", tmp_path / quirk / "analysis")  # degrades per result
            if a.returncode != 0:
                failed[quirk] = ("analyse", a.stderr[-1000:])
    assert not failed, failed


def test_base_layer_without_a_line_leaves_out_only_its_copy(built_gpkg):
    """A base layer without a line planned_rail copies (e.g. a user's imported metro_lines without line 4)."""
    from tjspatial.build_context import BuildContext
    from tjspatial.paths import sources_dir
    from tjspatial.plan.rail import build_planned_rail

    cat = tj.get_catalog()
    layers = {lid: tj.load(lid, built_gpkg) for lid in ("rail_stations", "metro_lines", "intercity_rail")}
    layers["metro_lines"] = layers["metro_lines"][layers["metro_lines"]["line_id"] != "4"]
    ctx = BuildContext(catalog=cat, sources_dir=sources_dir(), layers=layers, layer=cat["planned_rail"])
    got = build_planned_rail(ctx)
    assert len(got) == N_PLANNED_RAIL - 1 and "M4" not in set(got["line_id"]) and "M4-mid" in set(got["line_id"])
    assert ctx.warnings == ["planned_rail: feature M4 left out: metro_lines has no line '4' to copy"]
    ctx.options["strict"] = True
    with pytest.raises(BuildError, match=r"^layer 'planned_rail', feature M4, rule strict: --strict: feature M4 left"):
        build_planned_rail(ctx)
