"""Reading catalog layers from a built GeoPackage (``tj.load``), building the default one on first use.

File access itself lives in :mod:`tjspatial.gpkg`; pass a :class:`tjspatial.gpkg.GeoPackage` (see
:func:`open_gpkg`) instead of a path to read each layer from disk only once.
"""
from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd

from .catalog import get_catalog
from .crs import STORAGE_CRS
from .errors import UnknownNameError
from .gpkg import GeoPackage, as_geopackage
from .paths import default_gpkg

__all__ = ["load", "list_layers", "ensure_gpkg", "open_gpkg"]


def ensure_gpkg(path: str | os.PathLike | GeoPackage | None = None) -> Path | GeoPackage:
    """``path`` as a Path; ``None`` means the default ``layers/tianjin.gpkg``, built from the bundled sources
    first if it does not exist yet. A :class:`~tjspatial.gpkg.GeoPackage` is returned as it is."""
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
    gdf.attrs.update({"layer": layer_id, "title_zh": layer.title_zh, "title_en": layer.title_en,
                      "accuracy": layer.accuracy, "licence": cat.licence(layer_id), "path": str(gp.path)})
    return gdf


def list_layers(path: str | os.PathLike | GeoPackage | None = None) -> list[str]:
    """Names of the tables in a GeoPackage (layers and attribute tables); default ``layers/tianjin.gpkg``."""
    return as_geopackage(path if path is not None else default_gpkg()).names
