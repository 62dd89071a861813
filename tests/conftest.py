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
