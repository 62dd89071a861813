"""Shared fixtures: one GeoPackage built from the bundled sources per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def built_gpkg(tmp_path_factory) -> Path:
    """A GeoPackage of every catalog layer, built once from the bundled sources (do not modify it)."""
    from tjspatial import build

    out = tmp_path_factory.mktemp("gpkg") / "tianjin.gpkg"
    return build(out=out, quiet=True)


@pytest.fixture()
def gpkg_copy(built_gpkg, tmp_path) -> Path:
    """A private copy of the session GeoPackage that a test may change."""
    dst = tmp_path / "tianjin.gpkg"
    shutil.copy(built_gpkg, dst)
    return dst


@pytest.fixture()
def sources_copy(tmp_path) -> Path:
    """A private copy of layers/sources that a test may corrupt."""
    dst = tmp_path / "sources"
    shutil.copytree(ROOT / "layers" / "sources", dst)
    return dst


@pytest.fixture(scope="session")
def two_stations_build(tmp_path_factory):
    """The whole catalog built by ``tjspatial build --source extract`` from the OSM quirk extract ``two_stations``
    (an extract holding 2 stations, #11), once per session: ``(GeoPackage path, CompletedProcess)``. Do not
    modify the GeoPackage."""
    import subprocess
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "osm"))
    from quirks import write_variant

    tmp = tmp_path_factory.mktemp("two_stations")
    src, out = write_variant("two_stations", tmp), tmp / "two.gpkg"
    r = subprocess.run(
        [sys.executable, "-m", "tjspatial.cli", "build", "--source", "extract", str(src), "--out", str(out)]
        + ["--cache-dir", str(tmp / "cache")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=300,
    )
    return out, r
