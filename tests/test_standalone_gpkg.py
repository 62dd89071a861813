"""A built GeoPackage stands alone: reference tables are copied in, and nothing after the build reads
``layers/sources`` or ``layers/plan`` (#12)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pandas as pd
import pytest

import tjspatial as tj
from tjspatial.errors import GeoPackageError, UnknownNameError
from tjspatial.gpkg import GeoPackage
from tjspatial.io import read_source_table, source_raster

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "tjspatial"
BELOW_BUILD = ("build.py", "build_context.py", "paths.py", "importer.py", "docs.py", "catalog.py", "styles.py")


def test_every_source_with_a_table_reads_back_as_its_file(built_gpkg):
    gp = GeoPackage(built_gpkg)
    cat = tj.get_catalog()
    with_table = {s.id: s for s in cat.sources.values() if s.table}
    assert {"metro_lines_csv", "intercity_rail_csv", "external_stations", "reference_figures", "plan_points"} <= set(
        with_table
    )
    for sid, src in with_table.items():
        f = ROOT / "layers" / "sources" / src.file
        if f.suffix == ".tif":
            import rasterio

            with rasterio.open(f) as a, rasterio.open(source_raster(sid, gp)) as b:
                assert (a.read(1) == b.read(1)).all() and a.transform.almost_equals(b.transform)
                assert b.crs.to_epsg() == 4326
            continue
        kw = {"dtype": {"line_id": str, "segment": str}} if sid == "metro_lines_csv" else {}
        pd.testing.assert_frame_equal(read_source_table(sid, gp, **kw), pd.read_csv(f, encoding="utf-8", **kw))
    refs = read_source_table("reference_figures", gp, dtype=str).set_index("key")
    assert refs.loc["plan_barrier_area", "value"] == "736"
    with pytest.raises(UnknownNameError, match="not copied into the GeoPackage"):
        read_source_table("census_2020", gp)


def test_a_geopackage_without_its_tables_asks_for_a_rebuild(built_gpkg, tmp_path):
    old = tmp_path / "old.gpkg"
    gp = GeoPackage(built_gpkg)
    from tjspatial.gpkg import write_gpkg_atomic

    write_gpkg_atomic(old, {lid: gp.read(lid) for lid in gp.layers})  # layers, no reference tables
    with pytest.raises(GeoPackageError, match=r"has no table 'external_stations' .*rebuild it with"):
        tj.rail_graph(old)


def test_no_module_after_the_build_reads_the_source_folders():
    """Static check: analysis, publish and the rest use the GeoPackage, not paths.sources_dir / plan_dir."""
    offenders = []
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG)
        if rel.parts[0] in ("sources", "plan") or str(rel) in BELOW_BUILD:
            continue
        names = {n.id for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))) if isinstance(n, ast.Attribute)}
        bad = names & {"sources_dir", "plan_dir", "layers_dir"}
        if bad:
            offenders.append(f"{rel}: {sorted(bad)}")
    assert offenders == []


@pytest.mark.slow
def test_analyse_with_the_source_folders_gone(built_gpkg, tmp_path, monkeypatch):
    """Build, then move layers/sources and layers/plan out of reach: tj.analyse still runs on the GeoPackage."""
    home = tmp_path / "home"
    shutil.copytree(ROOT / "layers" / "catalog", home / "layers" / "catalog")
    shutil.copytree(ROOT / "styles", home / "styles")
    gpkg = shutil.copy(built_gpkg, tmp_path / "tianjin.gpkg")
    monkeypatch.setenv("TJSPATIAL_HOME", str(home))
    from tjspatial.paths import sources_dir, plan_dir

    assert not sources_dir().exists() and not plan_dir().exists()
    written = tj.analyse(gpkg, tmp_path / "out", distances=(800,))
    ind = pd.read_csv(written["indicators"], encoding="utf-8-sig").set_index("key")
    assert ind.loc["barrier_area", "target"] == "736" and ind.loc["dual_city_rail_minutes", "value"] > 0
    dual = pd.read_csv(written["dual_city"], encoding="utf-8-sig")
    assert (dual["minutes"] > 0).all()
    times = pd.read_csv(written["rail_times"], encoding="utf-8-sig")
    assert len(times) > 100 and times["minutes"].max() > 30
