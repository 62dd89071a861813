"""Reading layers from a built GeoPackage."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from .errors import UnknownNameError
from .catalog import get_catalog
from .crs import STORAGE_CRS
from .paths import default_gpkg

__all__ = ["load", "list_layers", "ensure_gpkg"]


def ensure_gpkg(path: str | Path | None = None) -> Path:
    """``path`` as a Path; ``None`` means the default ``layers/tianjin.gpkg``, built from the bundled sources
    first if it does not exist yet."""
    if path is not None:
        return Path(path)
    path = default_gpkg()
    if not path.exists():
        from .build import build
        build(out=path)
    return path


def load(layer_id: str, path: str | Path | None = None) -> gpd.GeoDataFrame:
    """Load one catalog layer as a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    layer_id : a catalog layer id (see ``tj.catalog()``).
    path : a GeoPackage built by ``tj.build``; default ``layers/tianjin.gpkg``, which is built from the
        bundled sources on first use if it does not exist yet.
    """
    cat = get_catalog()
    layer = cat[layer_id]  # KeyError naming the known layers
    default = path is None
    path = ensure_gpkg(path)
    if not path.exists():
        raise FileNotFoundError(f"no GeoPackage at {path}; build one with `tjspatial build --out {path}`")
    present = {name for name, _ in pyogrio.list_layers(path)}
    if default and layer_id not in present:
        # the catalog gained a layer since the default GeoPackage was built: rebuild it (atomically)
        from .build import build
        build(out=path)
        present = {name for name, _ in pyogrio.list_layers(path)}
    if layer_id not in present:
        raise UnknownNameError(f"layer {layer_id!r} is not in {path} (it holds {sorted(present)}); rebuild it")
    gdf = pyogrio.read_dataframe(path, layer=layer_id)
    gdf = gdf.to_crs(STORAGE_CRS) if gdf.crs is not None else gdf.set_crs(STORAGE_CRS)
    for name, ftype in layer.all_fields.items():
        if name in gdf.columns and ftype in ("str", "date"):
            gdf[name] = gdf[name].fillna("")
    gdf.attrs.update({"layer": layer_id, "title_zh": layer.title_zh, "title_en": layer.title_en,
                      "accuracy": layer.accuracy, "licence": cat.licence(layer_id), "path": str(path)})
    return gdf


def list_layers(path: str | Path | None = None) -> list[str]:
    """Names of the tables in a GeoPackage (layers and attribute tables)."""
    return [name for name, _ in pyogrio.list_layers(Path(path) if path else default_gpkg())]
