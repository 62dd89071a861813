"""tjspatial.gpkg: the one place that opens, lists, reads and atomically writes GeoPackages."""

from __future__ import annotations

import os
import shutil

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import tjspatial as tj
from tjspatial.errors import GeoPackageError
from tjspatial.gpkg import GeoPackage, check_gpkg, list_layers, read_table, write_gpkg_atomic
from tjspatial.io import open_gpkg


def test_geopackage_reads_each_layer_once_and_returns_copies(built_gpkg):
    gp = GeoPackage(built_gpkg)
    assert os.fspath(gp) == str(built_gpkg) and gp.name == "tianjin.gpkg"
    assert "districts" in gp and "provenance" in gp and "nope" not in gp
    assert "provenance" not in gp.layers and "districts" in gp.layers
    a = gp.read("districts")
    a["name_zh"] = "changed"
    b = tj.load("districts", gp)
    assert gp.reads == 1 and len(b) == 16 and "changed" not in set(b["name_zh"])
    assert b.crs.to_epsg() == 4326 and b.attrs["path"] == str(built_gpkg)
    prov = gp.table("provenance")
    assert gp.table("provenance").equals(prov) and gp.reads == 2
    assert set(prov["layer"]) >= {"districts", "rail_stations"}
    assert open_gpkg(gp) is gp and list_layers(gp) == gp.names
    with pytest.raises(GeoPackageError, match="no table 'nope'"):
        gp.read("nope")


def test_geopackage_cache_follows_a_rebuilt_file(built_gpkg, tmp_path):
    path = tmp_path / "t.gpkg"
    shutil.copy(built_gpkg, path)
    gp = GeoPackage(path)
    assert len(gp.read("districts")) == 16
    one = gpd.GeoDataFrame({"name_zh": ["甲"]}, geometry=[shapely.box(117, 39, 117.1, 39.1)], crs="EPSG:4326")
    write_gpkg_atomic(path, {"districts": one}, {"provenance": pd.DataFrame({"layer": ["districts"]})})
    assert gp.names == ["districts", "provenance"] and len(gp.read("districts")) == 1
    assert read_table(path, "provenance")["layer"].tolist() == ["districts"]


def test_check_gpkg_names_what_is_wrong(tmp_path):
    (tmp_path / "text.gpkg").write_text("not sqlite")
    with pytest.raises(GeoPackageError, match=r"text.gpkg is not a GeoPackage \(not an SQLite file\)"):
        check_gpkg(tmp_path / "text.gpkg")
    with pytest.raises(GeoPackageError, match="is a folder, not a GeoPackage"):
        GeoPackage(tmp_path)
    with pytest.raises(GeoPackageError, match="no GeoPackage at .*missing.gpkg; build one with"):
        tj.load("districts", tmp_path / "missing.gpkg")


def test_write_failure_keeps_the_previous_file(built_gpkg, tmp_path, monkeypatch):
    path = tmp_path / "t.gpkg"
    shutil.copy(built_gpkg, path)
    before = path.read_bytes()
    bad = gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.Point(117, 39)], crs="EPSG:4326")
    import pyogrio

    def failing(*a, **kw):
        raise pyogrio.errors.DataSourceError("Failed to commit transaction")

    monkeypatch.setattr(pyogrio, "write_dataframe", failing)
    with pytest.raises(GeoPackageError, match=r"cannot write .*t.gpkg: Failed to commit transaction; the previous"):
        write_gpkg_atomic(path, {"districts": bad})
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 512))
    with pytest.raises(GeoPackageError, match=r"the disk is full \(0 kB free in"):
        write_gpkg_atomic(path, {"districts": bad})
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["t.gpkg"]
