"""Reading catalog layers from a built GeoPackage (``tj.load``), building the default one on first use.

File access itself lives in :mod:`tjspatial.gpkg`; pass a :class:`tjspatial.gpkg.GeoPackage` (see
:func:`open_gpkg`) instead of a path to read each layer from disk only once.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .catalog import get_catalog
from .crs import STORAGE_CRS
from .errors import GeoPackageError, UnknownNameError
from .gpkg import GeoPackage, as_geopackage
from .paths import default_gpkg

__all__ = ["load", "list_layers", "present_layers", "ensure_gpkg", "open_gpkg", "read_source_table", "source_raster"]


def ensure_gpkg(path: str | os.PathLike | GeoPackage | None = None) -> Path | GeoPackage:
    """``path`` as a Path; ``None`` means the default ``layers/tianjin.gpkg``, built from the bundled sources
    first if it does not exist yet. A :class:`~tjspatial.gpkg.GeoPackage` is returned as it is.

    Parameters
    ----------
    path : str, path-like or GeoPackage, optional
        The GeoPackage; default ``layers/tianjin.gpkg`` (built first if missing).

    Returns
    -------
    pathlib.Path or GeoPackage
        ``path`` as a Path, or the GeoPackage reader given.
    """
    if isinstance(path, GeoPackage):
        return path
    if path is not None:
        return Path(path)
    path = default_gpkg()
    if not path.exists():
        from .build import build

        build(out=path)
    return path


def open_gpkg(path: str | os.PathLike | GeoPackage | None = None) -> GeoPackage:
    """A cached reader of ``path`` (default ``layers/tianjin.gpkg``, built first if missing).

    Parameters
    ----------
    path : str, path-like or GeoPackage, optional
        The GeoPackage; a :class:`~tjspatial.gpkg.GeoPackage` is returned as it is.

    Returns
    -------
    GeoPackage
        A cached reader: each layer and table read once, dropped when the file changes.

    Raises
    ------
    GeoPackageError
        If ``path`` does not exist or is not a GeoPackage.
    """
    return as_geopackage(ensure_gpkg(path))


def load(layer_id: str, path: str | os.PathLike | GeoPackage | None = None) -> gpd.GeoDataFrame:
    """Load one catalog layer as a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    layer_id : str
        A catalog layer id (see ``tj.catalog()``).
    path : str, path-like or GeoPackage, optional
        A GeoPackage built by ``tj.build``; default ``layers/tianjin.gpkg``, which is built from the bundled
        sources on first use if it does not exist yet (and rebuilt if it lacks a catalog layer). A
        :class:`~tjspatial.gpkg.GeoPackage` reads each layer from disk once.

    Returns
    -------
    GeoDataFrame
        EPSG:4326; text and date fields without nulls (``""``); ``attrs`` hold the layer's titles,
        accuracy class, licence and the GeoPackage path.

    Raises
    ------
    UnknownNameError
        If ``layer_id`` is not in the catalog or not in the GeoPackage.
    GeoPackageError
        If the GeoPackage does not exist or is not a GeoPackage.
    """
    cat = get_catalog()
    layer = cat[layer_id]  # UnknownNameError naming the known layers
    default = path is None
    gp = open_gpkg(path)
    if default and layer_id not in gp:
        # the catalog gained a layer since the default GeoPackage was built: rebuild it (atomically)
        from .build import build

        build(out=gp.path)
    if layer_id not in gp:
        raise UnknownNameError(f"layer {layer_id!r} is not in {gp.path} (it holds {sorted(gp.names)}); rebuild it")
    gdf = gp.read(layer_id)
    gdf = gdf.to_crs(STORAGE_CRS) if gdf.crs is not None else gdf.set_crs(STORAGE_CRS)
    for name, ftype in layer.all_fields.items():
        if name in gdf.columns and ftype in ("str", "date"):
            gdf[name] = gdf[name].fillna("")
    gdf.attrs.update(
        {
            "layer": layer_id,
            "title_zh": layer.title_zh,
            "title_en": layer.title_en,
            "accuracy": layer.accuracy,
            "licence": cat.licence(layer_id),
            "path": str(gp.path),
        }
    )
    return gdf


def present_layers(path: str | os.PathLike | GeoPackage | None = None) -> set[str]:
    """The catalog layers a GeoPackage holds: the one "which layers are here" check of the analyses.

    Parameters
    ----------
    path : str, path-like or GeoPackage, optional
        The GeoPackage; default ``layers/tianjin.gpkg``, built first if missing (so then every catalog layer).

    Returns
    -------
    set of str
        Layer ids both in the catalog and in the GeoPackage.
    """
    return set(get_catalog().ids) & set(open_gpkg(path).names)


def list_layers(path: str | os.PathLike | GeoPackage | None = None) -> list[str]:
    """Names of the tables in a GeoPackage (layers and attribute tables); default ``layers/tianjin.gpkg``.

    Parameters
    ----------
    path : str, path-like or GeoPackage, optional
        The GeoPackage; default ``layers/tianjin.gpkg``.

    Returns
    -------
    list of str
        Table names: layers and attribute tables (provenance, catalog, reference tables).
    """
    return as_geopackage(path if path is not None else default_gpkg()).names


def _source_table(source_id: str, path, raster: bool) -> tuple[GeoPackage, str]:
    """The GeoPackage holding the table of source ``source_id`` and the table's name."""
    cat = get_catalog()
    if source_id not in cat.sources:
        raise UnknownNameError(f"no source {source_id!r} in the catalog; known sources: {', '.join(cat.sources)}")
    table = cat.sources[source_id].table
    if not table:
        with_table = [s.id for s in cat.sources.values() if s.table]
        raise UnknownNameError(
            f"source {source_id!r} is not copied into the GeoPackage (no `table` in the "
            f"catalog); sources with a table: {', '.join(with_table)}"
        )
    default = path is None
    gp = open_gpkg(path)

    def present() -> bool:
        return table in (gp.rasters if raster else gp.names)

    if default and not present():
        from .build import build  # the default GeoPackage predates this table: rebuild it (atomically)

        build(out=gp.path)
    if not present():
        raise GeoPackageError(
            f"{gp.path} has no table {table!r} (source {source_id!r}): it was built by an "
            f"earlier tjspatial; rebuild it with `tjspatial build --out {gp.path}`",
            path=gp.path,
            layer=table,
        )
    return gp, table


def read_source_table(
    source_id: str, path: str | os.PathLike | GeoPackage | None = None, **read_csv_kwargs
) -> pd.DataFrame:
    """A reference table (a CSV source) as the build copied it into the GeoPackage.

    The build stores the CSV's text unchanged; it is parsed here as ``pandas.read_csv`` parses the file, so
    the result is the same as reading ``layers/sources/<file>`` directly, but a GeoPackage built elsewhere
    (or from other sources) answers with its own copy.

    Parameters
    ----------
    source_id : str
        A catalog source with a ``table`` (e.g. ``"reference_figures"``, ``"metro_lines_csv"``).
    path : str, path-like or GeoPackage, optional
        The GeoPackage (default ``layers/tianjin.gpkg``, rebuilt when it predates the table).
    **read_csv_kwargs
        Passed to :func:`pandas.read_csv` (e.g. ``dtype={"line_id": str}``).

    Returns
    -------
    pandas.DataFrame
        The table, parsed as ``pandas.read_csv`` parses the source file.

    Raises
    ------
    UnknownNameError
        If the source is unknown or has no table.
    GeoPackageError
        If the GeoPackage lacks the table (built by an earlier version: rebuild it).
    """
    gp, table = _source_table(source_id, path, raster=False)
    text = gp.table(table).to_csv(index=False)
    return pd.read_csv(io.StringIO(text), **read_csv_kwargs)


def source_raster(source_id: str, path: str | os.PathLike | GeoPackage | None = None) -> str:
    """The GDAL name of a raster source copied into the GeoPackage (open it with ``rasterio.open``).

    Parameters
    ----------
    source_id : str
        A catalog source with a ``table`` whose file is a raster (e.g. ``"landcover_modis"``).
    path : str, path-like or GeoPackage, optional
        The GeoPackage (default ``layers/tianjin.gpkg``, rebuilt when it predates the table).

    Returns
    -------
    str
        A GDAL dataset name (``GPKG:<path>:<table>``) for ``rasterio.open``.
    """
    gp, table = _source_table(source_id, path, raster=True)
    return gp.raster(table)
