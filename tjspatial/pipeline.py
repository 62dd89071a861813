"""``tjspatial publish``: the whole job in one call — build (if needed), analyse, web maps, QGIS export.

This module sits above every step it runs (build, analysis, publish, export) and is the only one that knows
their order. The GeoPackage is opened once as a cached reader (:class:`tjspatial.gpkg.GeoPackage`) and handed
to every step, so each layer is read from disk once for the whole run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .catalog import Catalog, get_catalog
from .gpkg import GeoPackage
from .paths import default_gpkg
from .publish.analysis_outputs import record_analysis
from .publish.site import SiteResult, write_site

__all__ = ["publish", "needs_build"]


def needs_build(gpkg: str | Path, catalog: Catalog | None = None) -> bool:
    """Whether ``gpkg`` is missing or lacks a catalog layer or reference table (so it must be (re)built).

    Parameters
    ----------
    gpkg : str or pathlib.Path
        The GeoPackage.
    catalog : Catalog, optional
        The catalog; default :func:`tjspatial.catalog.get_catalog`.

    Returns
    -------
    bool
        True when it must be (re)built.
    """
    gpkg = Path(gpkg)
    if not gpkg.exists():
        return True
    cat = catalog or get_catalog()
    present = set(GeoPackage(gpkg).names)
    tables = {s.table for s in cat.sources.values() if s.table and not str(s.file).endswith((".tif", ".tiff"))}
    return any(layer.id not in present for layer in cat) or not tables <= present


def publish(
    out_dir: str | Path | None = None,
    gpkg: str | Path | None = None,
    *,
    offline: bool = True,
    gaode: bool = False,
    tianditu_key: str | None = None,
    rebuild: bool = False,
    analyse: bool = True,
    export: bool = True,
    export_dir: str | Path | None = None,
    analysis_dir: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> SiteResult:
    """Build (if needed), analyse, write the maps and gallery, and export.

    Parameters
    ----------
    out_dir : str or Path, optional
        The site folder (default ``maps/``).
    gpkg : str or Path, optional
        The GeoPackage (default ``layers/tianjin.gpkg``); built from the bundled sources when missing, when it
        lacks a catalog layer or reference table, or with ``rebuild``.
    offline, gaode, tianditu_key
        See :func:`tjspatial.publish.site.write_site` (the offline edition is the default).
    rebuild : bool
        Rebuild the GeoPackage even if it is complete.
    analyse : bool
        Run ``tj.analyse`` (tables and rasters in ``out/analysis``, with a record of what they were computed
        from); the coverage map and the indicators page reuse its outputs. Without it, the maps reuse earlier
        outputs only if their record matches this GeoPackage, else compute their own (and say so).
    export : bool
        Run :func:`tjspatial.publish.export.export` (styled GeoPackage, QGIS project, shapefiles, GeoJSON) into
        ``export_dir`` (default ``export/`` beside ``out_dir``).
    export_dir : str or Path, optional
        Export folder.
    analysis_dir : str or Path, optional
        Where ``tj.analyse`` writes and the maps read its outputs (default ``out/analysis``).
    say : callable, optional
        Progress callback (e.g. ``print``).

    Returns
    -------
    SiteResult
        Pages written, ``analysis`` (written paths), ``exported`` files and ``seconds`` per step
        (``step_build``, ``step_analyse``, ``step_maps``, ``step_export``).
    """
    say = say or (lambda _msg: None)
    cat = get_catalog()
    path = Path(gpkg) if gpkg else default_gpkg()
    times: dict[str, float] = {}
    t = time.perf_counter()
    if rebuild or needs_build(path, cat):
        from .build import build

        say(f"building {path} ...")
        build(out=path)
    times["build"] = round(time.perf_counter() - t, 2)
    reader = GeoPackage(path)  # one read per layer for every step below
    analysis = None
    t = time.perf_counter()
    from .analysis.run import default_out_dir

    analysis_dir = Path(analysis_dir) if analysis_dir else default_out_dir()
    if analyse:
        from .analysis.run import analyse as run_analyse

        say("analysing (tj.analyse) ...")
        analysis = run_analyse(reader, analysis_dir)
        record_analysis(analysis_dir, reader, analysis)  # the maps reuse these outputs (#15)
    times["analyse"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    say("writing maps ...")
    res = write_site(
        out_dir, reader, offline=offline, gaode=gaode, tianditu_key=tianditu_key, analysis_dir=analysis_dir, say=say
    )
    times["maps"] = round(time.perf_counter() - t, 2)
    res.analysis = analysis
    t = time.perf_counter()
    if export:
        from .publish.export import export as run_export

        target = Path(export_dir) if export_dir else (res.out_dir.parent / "export")
        say(f"exporting to {target} ...")
        res.exported = list(run_export(fmt="all", out_dir=target, gpkg=reader))
    times["export"] = round(time.perf_counter() - t, 2)
    res.seconds.update({f"step_{k}": v for k, v in times.items()})
    return res
