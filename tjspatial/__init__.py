"""tjspatial: the spatial structure of Tianjin's 14th Five-Year Plan as versioned, honest geospatial layers.

    import tjspatial as tj
    tj.catalog()                      # every layer, declared once
    districts = tj.load("districts")  # GeoDataFrame, EPSG:4326 (built on first use)
    tj.build(out="my.gpkg")           # rebuild from the bundled sources

Geometry is stored in EPSG:4326 and measured in EPSG:4548 (``tj.to_metric``).
"""
from __future__ import annotations

from .analysis import analyse, coverage, coverage_delta, indicators, population, rail_graph
from .build import build
from .catalog import catalog, get_catalog
from .crs import (METRIC_CRS, STORAGE_CRS, bd09_to_gcj02, buffer_m, check_gcj02, convert_gdf, gcj02_to_bd09,
                  gcj02_to_wgs84, to_metric, wgs84_to_gcj02)
from .diff import diff_gpkg, diff_layer
from .errors import BuildError, ImportLayerError, TjSpatialError, ValidationError
from .io import load
from .publish.export import export
from .publish.site import publish as publish_site
from .publish.site import write_site
from .publish.webmap import make_map
from .sources.imports import import_layer
from .styles import load_style

__version__ = "0.1.0"

__all__ = [
    "catalog", "get_catalog", "load", "build", "load_style",
    "population", "coverage", "coverage_delta", "indicators", "analyse", "rail_graph",
    "export", "make_map", "write_site", "publish_site",
    "to_metric", "buffer_m", "convert_gdf", "check_gcj02",
    "wgs84_to_gcj02", "gcj02_to_wgs84", "gcj02_to_bd09", "bd09_to_gcj02",
    "STORAGE_CRS", "METRIC_CRS",
    "TjSpatialError", "BuildError", "ValidationError", "ImportLayerError",
    "import_layer",
    "diff_gpkg", "diff_layer",
]
