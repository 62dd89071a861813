"""`tjspatial analyse` degrades per result (issue #11): on a GeoPackage built from an OSM extract that lacks the
hub stations (天津站, 西站, 滨海), the results that need a hub are rows "not computed: <reason>" with a warning
naming the station and the results, and everything else is computed as usual; a districts layer whose areas
overlap is refused by the population model with an InputError naming the layer, the districts and the overlap.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tjspatial as tj
from tjspatial.analysis.rail_network import (
    SENSITIVITY_CASES,
    dual_city_gap,
    dual_city_time,
    hub_gap,
    rail_graph,
)
from tjspatial.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
GAP_TJ = "station 天津站 missing from rail_stations"
GAP_XI = "station 西站 missing from rail_stations"
GAP_BH = "station 滨海 missing from rail_stations"
GAP_DUAL = "station 天津站 / 天津 missing from rail_stations; station 滨海 missing from rail_stations"


@pytest.fixture(scope="module")
def analysed(two_stations_build, tmp_path_factory):
    """`tjspatial analyse` run once on the two_stations GeoPackage: (GeoPackage, out folder, CompletedProcess)."""
    gpkg, built = two_stations_build
    assert built.returncode == 0, built.stderr
    out = tmp_path_factory.mktemp("analyse_two")
    r = subprocess.run(
        [sys.executable, "-m", "tjspatial.cli", "analyse", "--gpkg", str(gpkg), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=300,
    )
    return gpkg, out, r


def read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / name, encoding="utf-8-sig")


def test_analyse_exits_0_and_warns_per_missing_hub(analysed):
    _, out, r = analysed
    assert r.returncode == 0, r.stderr
    warns = [line for line in r.stderr.splitlines() if line.startswith("tjspatial analyse: warning: ")]
    assert warns == [
        f"tjspatial analyse: warning: analyse: {GAP_TJ}: not computed: travel_time_tianjin.tif, isochrones from "
        "天津站, rail_times from 天津站 (open), rail_times from 天津站 (plan)",
        f"tjspatial analyse: warning: analyse: {GAP_XI}: not computed: travel_time_tianjinxi.tif, isochrones from "
        "西站, rail_times from 西站 (open)",
        f"tjspatial analyse: warning: analyse: {GAP_BH}: not computed: travel_time_binhai.tif, isochrones from "
        "滨海, rail_times from 滨海 (open)",
        f"tjspatial analyse: warning: analyse: {GAP_DUAL}: not computed: dual_city.csv (open), its sensitivity "
        "cases, indicator dual_city_rail_minutes",
        "tjspatial analyse: warning: analyse: station 天津站 / 天津 missing from rail_stations: not computed: "
        "dual_city.csv (plan)",
    ]
    skipped = (out / "skipped.txt").read_text(encoding="utf-8").splitlines()
    assert [f"tjspatial analyse: warning: {s}" for s in skipped if s.startswith("analyse: station")] == warns
    # no travel-time surface from a missing hub; the distance surface is drawn as usual
    assert not list(out.glob("travel_time_*.tif"))
    assert (out / "distance_to_station.tif").stat().st_size > 0


def test_not_computed_rows_stay_with_the_reason(analysed):
    _, out, _ = analysed
    dual = read(out, "dual_city.csv")
    assert list(dual.columns[:5]) == ["scenario", "case", "from", "to", "minutes"]
    assert list(zip(dual["scenario"], dual["case"])) == [("open", c) for c in SENSITIVITY_CASES] + [("plan", "model")]
    assert dual["minutes"].isna().all()
    assert list(dual["method"]) == [f"not computed: {GAP_DUAL}"] * len(SENSITIVITY_CASES) + [
        "not computed: station 天津站 / 天津 missing from rail_stations"
    ]
    iso = read(out, "isochrones.csv")
    assert list(iso["hub"]) == ["天津站", "西站", "滨海"] and iso["minutes"].isna().all()
    assert list(iso["method"]) == [f"not computed: {g}" for g in (GAP_TJ, GAP_XI, GAP_BH)]
    ind = read(out, "indicators.csv").set_index("key")
    row = ind.loc["dual_city_rail_minutes"]
    assert math.isnan(row["value"]) and row["status"] == "not measurable"
    assert row["note"] == f"not computed: {GAP_DUAL}" and row["method"] == f"not computed: {GAP_DUAL}"
    times = read(out, "rail_times.csv")
    gone = times[times["minutes"].isna()]
    assert list(zip(gone["hub"], gone["scenario"], gone["method"])) == [
        ("天津站", "open", f"not computed: {GAP_TJ}"),
        ("西站", "open", f"not computed: {GAP_XI}"),
        ("滨海", "open", f"not computed: {GAP_BH}"),
        ("天津站", "plan", f"not computed: {GAP_TJ}"),
    ]


def test_everything_else_has_its_normal_values(analysed):
    gpkg, out, _ = analysed
    # the plan graph holds 西站 and 滨海 (planned stations): their times are those of the graph itself
    plan = rail_graph(gpkg, scenario="plan")
    times = read(out, "rail_times.csv")
    for hub in ("西站", "滨海"):
        got = times[(times["hub"] == hub) & (times["scenario"] == "plan")]
        want = plan.station_times(hub)
        assert len(got) == len(want) >= 5
        np.testing.assert_allclose(got["minutes"].to_numpy(), want["minutes"].to_numpy())
        assert list(got["name_zh"]) == list(want["name_zh"])
    # the indicators are those of the Python API (which degrades the same way), the other rows computed
    ind = read(out, "indicators.csv").set_index("key")
    api = tj.indicators(gpkg).set_index("key")
    assert list(ind.index) == list(api.index)
    np.testing.assert_allclose(ind["value"].to_numpy(float), api["value"].to_numpy(float))
    assert list(ind["note"]) == list(api["note"])
    assert ind.loc["metro_km_vs_2020", "value"] > 300 and ind.loc["hsr_km_2025", "value"] > 100
    assert not ind.drop(index="dual_city_rail_minutes")["note"].astype(str).str.startswith("not computed").any()
    cov = read(out, "coverage.csv")
    assert len(cov) > 100 and cov["pop_covered"].notna().all() and (cov["pop_covered"] > 0).any()


def test_hub_gap_names_the_station_and_where_it_is_missing(two_stations_build, built_gpkg):
    gpkg, _ = two_stations_build
    g = rail_graph(gpkg)
    stations = tj.load("rail_stations", gpkg)
    assert hub_gap(g, "西站", stations) == GAP_XI
    assert hub_gap(g, "天津西", stations) is None  # held by the extract
    assert hub_gap(g, "西站") == "station 西站 not in the rail graph"
    assert dual_city_gap(g, stations) == GAP_DUAL
    full = rail_graph(built_gpkg)
    assert dual_city_gap(full, tj.load("rail_stations", built_gpkg)) is None
    assert 15 < dual_city_time(full) < 60


def test_overlapping_districts_are_an_input_error_naming_them(gpkg_copy):
    d = tj.load("districts", gpkg_copy)
    m = d.to_crs("EPSG:4548")
    i = list(m["name_zh"]).index("和平区")
    m.loc[m.index[i], "geometry"] = m.geometry.iloc[i].buffer(500)  # 和平区 grows 500 m into its neighbours
    m.to_crs(d.crs).to_file(gpkg_copy, layer="districts", driver="GPKG")
    with pytest.raises(InputError) as exc:
        tj.population(None, path=gpkg_copy)
    msg = str(exc.value)
    assert msg.startswith(
        "layer 'districts': 4 pair(s) of districts overlap: 和平区 ∩ 南开区 2.93 km², 和平区 ∩ 河西区 2.23 km², "
        "和平区 ∩ 河东区 1.34 km², 和平区 ∩ 河北区 0.801 km²; "
    )
    assert isinstance(exc.value, ValueError)


def test_no_xizhan_loses_only_the_results_from_xizhan(tmp_path):
    """An extract without 西站: its surface, isochrones and rail times are not computed; the dual-city time (天津站
    ↔ 滨海) and the other hubs' results are."""
    sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "osm"))
    from quirks import write_variant

    src, gpkg = write_variant("no_xizhan", tmp_path), tmp_path / "nx.gpkg"
    tj.build(source="extract", out=gpkg, options={"extract": src, "cache_dir": tmp_path / "cache"}, quiet=True)
    with pytest.warns(UserWarning) as caught:
        written = tj.analyse(gpkg, tmp_path / "out", workers=1)
    ours = [str(w.message) for w in caught if str(w.message).startswith("analyse: ")]
    assert ours == [
        f"analyse: {GAP_XI}: not computed: travel_time_tianjinxi.tif, isochrones from 西站, rail_times from 西站 (open)"
    ]
    assert "travel_time_tianjinxi" not in written
    assert {"travel_time_tianjin", "travel_time_binhai"} <= set(written)
    out = tmp_path / "out"
    dual = read(out, "dual_city.csv")
    assert dual["minutes"].notna().all() and not dual["method"].str.startswith("not computed").any()
    assert dual.iloc[0]["minutes"] == pytest.approx(dual_city_time(rail_graph(gpkg)))
    iso = read(out, "isochrones.csv")
    assert list(iso.loc[iso["minutes"].isna(), "method"]) == [f"not computed: {GAP_XI}"]
    assert set(iso.loc[iso["minutes"].notna(), "hub"]) == {"天津站", "滨海"}
    ind = read(out, "indicators.csv").set_index("key")
    assert ind.loc["dual_city_rail_minutes", "value"] == pytest.approx(dual.iloc[0]["minutes"], abs=0.01)
