"""#15/#16: the maps reuse the analysis outputs (never stale ones), and the same data gives the same bytes."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import tjspatial as tj
from tjspatial.publish import analysis_outputs as ao
from tjspatial.publish import site
from tjspatial.publish.site import coverage_table, write_site

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def analysed(built_gpkg, tmp_path_factory) -> Path:
    """tj.analyse (800 m only, to keep it short) of the session GeoPackage, with its record."""
    out = tmp_path_factory.mktemp("analysis")
    written = tj.analyse(built_gpkg, out, distances=(800,))
    ao.record_analysis(out, built_gpkg, written)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_record_names_the_geopackage_and_outputs(analysed, built_gpkg):
    rec = json.loads((analysed / ao.RECORD).read_text(encoding="utf-8"))
    assert rec["gpkg"]["sha256"] == hashlib.sha256(built_gpkg.read_bytes()).hexdigest()
    assert rec["gpkg"]["size"] == built_gpkg.stat().st_size
    assert rec["inputs"] == {"population": None, "landcover": None, "walk_graph": None}
    assert set(rec["outputs"]) == {"coverage.csv", "coverage_delta.csv", "indicators.csv"}
    for name, sha in rec["outputs"].items():
        assert hashlib.sha256((analysed / name).read_bytes()).hexdigest() == sha
    found = ao.load_analysis(analysed, built_gpkg)
    assert found.usable and found.reason.startswith(f"reusing coverage and indicators from {analysed}")


def test_reused_pages_equal_recomputed_byte_for_byte(analysed, built_gpkg, tmp_path, monkeypatch):
    said = []
    reused = write_site(
        tmp_path / "reused", built_gpkg, maps=["coverage", "indicators"], analysis_dir=analysed, say=said.append
    )
    assert said == [reused.analysis_note] and "reusing" in said[0]
    fresh = []
    monkeypatch.setattr(site, "coverage_table", lambda gpkg: fresh.append(coverage_table(gpkg)) or fresh[-1])
    computed = write_site(tmp_path / "computed", built_gpkg, maps=["coverage", "indicators"], reuse_analysis=False)
    assert "computed" in computed.analysis_note and len(fresh) == 1
    a, b = _files(tmp_path / "reused"), _files(tmp_path / "computed")
    assert {"coverage.html", "indicators.html", "thumbs/coverage.png", "index.html"} <= set(a)
    assert a == b
    page = a["coverage.html"].decode()
    assert "tj-coverage-table" in page and "all 341 points" in page

    # the table itself: the same values (exactly) and the attributes the page shows
    table, notes = ao.load_analysis(analysed, built_gpkg).coverage_table(built_gpkg)
    pd.testing.assert_frame_equal(table, fresh[0][0], check_exact=True)
    assert notes == fresh[0][1]
    for key in ("method", "distance_m", "station_count", "population_source", "population_year", "station_snapshot"):
        assert table.attrs[key] == fresh[0][0].attrs[key], key
    assert table.attrs["station_count"] == 341 and table.attrs["distance_m"] == 800.0
    assert len(table) == 16  # districts; 和平区 93.2 % existing (#13)
    assert round(float(table.set_index("name_zh").loc["和平区", "pop_share_pct"]), 1) == 93.2


def test_site_written_twice_is_byte_identical(analysed, built_gpkg, tmp_path):
    first = write_site(tmp_path / "one", built_gpkg, analysis_dir=analysed)
    write_site(tmp_path / "two", built_gpkg, analysis_dir=analysed)
    a, b = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert len([n for n in a if n.endswith(".html")]) == 7 and a == b
    # the folium map id comes from the map id and edition, not from uuid4
    ids = set(re.findall(r'id="map_([0-9a-f]+)"', a["rail.html"].decode()))
    assert len(ids) == 1 and ids <= {hashlib.sha256(f"rail.osm:{n}".encode()).hexdigest()[:32] for n in range(50)}
    assert "reusing" in first.analysis_note


def test_stale_outputs_are_not_used_and_the_reason_is_said(analysed, built_gpkg, tmp_path, monkeypatch):
    # another GeoPackage (one table more): stale
    other = tmp_path / "other.gpkg"
    shutil.copy(built_gpkg, other)
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE tj_test_note (a TEXT)")
    found = ao.load_analysis(analysed, other)
    assert not found.usable and "stale" in found.reason and str(built_gpkg.resolve()) in found.reason
    assert found.reason.endswith("computing coverage and indicators for the maps")
    assert found.coverage_table(other) is None and found.indicators() is None
    # an output edited after the analysis
    copy = tmp_path / "analysis"
    shutil.copytree(analysed, copy)
    (copy / "indicators.csv").write_bytes((copy / "indicators.csv").read_bytes().replace(b"375.28", b"999.99"))
    found = ao.load_analysis(copy, built_gpkg)
    assert not found.usable and "indicators.csv changed since the analysis wrote it" in found.reason
    # other analysis inputs (a user population), other code, no record
    rec = json.loads((analysed / ao.RECORD).read_text(encoding="utf-8"))
    shutil.copy(analysed / "indicators.csv", copy / "indicators.csv")
    (copy / ao.RECORD).write_text(json.dumps({**rec, "inputs": {**rec["inputs"], "population": "worldpop"}}))
    assert "{'population': 'worldpop'}" in ao.load_analysis(copy, built_gpkg).reason
    (copy / ao.RECORD).write_text(json.dumps({**rec, "code": "0" * 64}))
    assert "other tjspatial code" in ao.load_analysis(copy, built_gpkg).reason
    (copy / ao.RECORD).write_text(json.dumps(rec))
    assert ao.load_analysis(copy, built_gpkg).usable
    (copy / ao.RECORD).unlink()
    assert "no analysis record" in ao.load_analysis(copy, built_gpkg).reason
    # the site then computes its own indicators and says why
    module = importlib.import_module("tjspatial.analysis.indicators")
    monkeypatch.setattr(module, "indicators", lambda gpkg: pd.read_csv(analysed / "indicators.csv"))
    said = []
    res = write_site(tmp_path / "site", other, maps=["indicators"], analysis_dir=analysed, say=said.append)
    assert len(said) == 1 and "stale" in said[0] and res.analysis_note == said[0]


def test_cli_maps_says_it_reuses(analysed, built_gpkg, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tjspatial.cli", "maps", "--gpkg", str(built_gpkg), "--out", str(tmp_path / "s")]
        + ["--maps", "indicators", "--analysis", str(analysed)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"reusing coverage and indicators from {analysed}" in proc.stdout
    assert (tmp_path / "s" / "indicators.html").is_file()


def test_cli_analyse_writes_the_record(analysed, built_gpkg, tmp_path, monkeypatch, capsys):
    from tjspatial import cli

    out = tmp_path / "analysis"
    shutil.copytree(analysed, out)
    (out / ao.RECORD).unlink()
    calls = []

    def fake_analyse(path, out_dir, **kw):  # the outputs of a real run (the fixture), not a second 10 s run
        calls.append((path, out_dir, kw))
        return {p.stem: p for p in sorted(Path(out_dir).glob("*.csv"))}

    monkeypatch.setattr(importlib.import_module("tjspatial.analysis.run"), "analyse", fake_analyse)
    assert cli.main(["analyse", "--gpkg", str(built_gpkg), "--out", str(out)]) == 0
    assert calls and calls[0][2]["population"] is None
    assert f"record                 {out / ao.RECORD}" in capsys.readouterr().out
    assert ao.load_analysis(out, built_gpkg).usable
    assert cli.main(["analyse", "--gpkg", str(built_gpkg), "--out", str(out), "--population", "worldpop"]) == 0
    reason = ao.load_analysis(out, built_gpkg).reason
    assert "{'population': 'worldpop'}" in reason and reason.endswith("computing coverage and indicators for the maps")


def test_publish_records_the_analysis_and_the_maps_reuse_it(analysed, built_gpkg, tmp_path, monkeypatch):
    from tjspatial.pipeline import publish

    def fake_analyse(path, out_dir, **kw):  # what a real run wrote (the fixture), copied as tj.analyse writes it
        shutil.copytree(analysed, out_dir, dirs_exist_ok=True)
        (Path(out_dir) / ao.RECORD).unlink()
        return {p.stem: p for p in sorted(Path(out_dir).glob("*.csv"))}

    monkeypatch.setattr(importlib.import_module("tjspatial.analysis.run"), "analyse", fake_analyse)
    module = importlib.import_module("tjspatial.analysis.indicators")
    monkeypatch.setattr(module, "indicators", lambda *a, **kw: pytest.fail("indicators computed again"))
    monkeypatch.setattr(site, "coverage_table", lambda *a, **kw: pytest.fail("coverage computed again"))
    said = []
    res = publish(tmp_path / "site", built_gpkg, export=False, analysis_dir=tmp_path / "analysis", say=said.append)
    assert said[:2] == ["analysing (tj.analyse) ...", "writing maps ..."]
    assert said[2] == res.analysis_note and res.analysis_note.startswith("reusing coverage and indicators")
    assert (tmp_path / "analysis" / ao.RECORD).is_file() and res.pages["coverage"].is_file()
    assert "all 341 points" in res.pages["coverage"].read_text(encoding="utf-8")


def test_change_in_points_never_shows_minus_zero():
    assert [site._signed(v) for v in (-1e-13, -0.04, 0.0, 0.05, 5.84, -2.26)] == [
        "+0.0",
        "+0.0",
        "+0.0",
        "+0.1",
        "+5.8",
        "-2.3",
    ]
    assert site._signed(float("nan")) == "—"
