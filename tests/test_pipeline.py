"""tjspatial.pipeline: the whole job (build if needed → analyse → maps → export) with one GeoPackage reader."""

from __future__ import annotations

import tjspatial as tj
from tjspatial.gpkg import GeoPackage, write_gpkg_atomic
from tjspatial.pipeline import needs_build, publish


def test_needs_build_when_missing_or_incomplete(built_gpkg, tmp_path):
    assert needs_build(tmp_path / "none.gpkg")
    assert not needs_build(built_gpkg)
    gp = GeoPackage(built_gpkg)
    layers_only = tmp_path / "layers_only.gpkg"
    write_gpkg_atomic(layers_only, {lid: gp.read(lid) for lid in gp.layers})
    assert needs_build(layers_only)  # no reference tables: an earlier build
    assert tj.publish_site is publish


def test_publish_reads_each_layer_once_across_maps(built_gpkg, tmp_path, monkeypatch):
    import pyogrio

    reads = []
    real = pyogrio.read_dataframe
    monkeypatch.setattr(
        pyogrio, "read_dataframe", lambda p, layer=None, **kw: reads.append(layer) or real(p, layer=layer, **kw)
    )
    said = []
    res = publish(tmp_path / "site", built_gpkg, analyse=False, export=False, say=said.append)
    assert res.index.is_file() and len(res.pages) >= 5
    assert sorted(reads) == sorted(set(reads)) and "districts" in reads  # six maps, one read per layer
    assert said == ["writing maps ...", res.analysis_note] and res.exported == []
    assert res.analysis_note.endswith("computing coverage and indicators for the maps")  # no fresh analysis here
    assert {"step_build", "step_analyse", "step_maps", "step_export"} <= set(res.seconds)
