"""tjspatial: the spatial structure of Tianjin's 14th Five-Year Plan as versioned, honest geospatial layers.

    import tjspatial as tj
    tj.catalog()                      # every layer, declared once
    districts = tj.load("districts")  # GeoDataFrame, EPSG:4326 (built on first use)
    tj.build(out="my.gpkg")           # rebuild from the bundled sources

Geometry is stored in EPSG:4326 and measured in the metric CRS that follows the data (``tj.to_metric``;
EPSG:4548 for Tianjin).

The public names below are imported on first use (PEP 562), so ``import tjspatial`` and the ``tjspatial``
command start quickly; ``tj.analyse`` loads the analysis modules (rasterio, scipy) only when called for.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # name: module that defines it (relative to this package)
    "analyse": ".analysis.run",
    "coverage": ".analysis.coverage",
    "coverage_delta": ".analysis.coverage",
    "indicators": ".analysis.indicators",
    "population": ".analysis.population",
    "rail_graph": ".analysis.rail_network",
    "build": ".build",
    "catalog": ".catalog",
    "get_catalog": ".catalog",
    "METRIC_CRS": ".crs",
    "STORAGE_CRS": ".crs",
    "bd09_to_gcj02": ".crs",
    "buffer_m": ".crs",
    "check_gcj02": ".crs",
    "convert_gdf": ".crs",
    "gcj02_to_bd09": ".crs",
    "gcj02_to_wgs84": ".crs",
    "to_metric": ".crs",
    "wgs84_to_gcj02": ".crs",
    "diff_gpkg": ".diff",
    "diff_layer": ".diff",
    "BuildError": ".errors",
    "ImportLayerError": ".errors",
    "TjSpatialError": ".errors",
    "ValidationError": ".errors",
    "load": ".io",
    "export": ".publish.export",
    "write_site": ".publish.site",
    "make_map": ".publish.webmap",
    "import_layer": ".importer",
    "load_style": ".styles",
}
_RENAMED = {"publish_site": (".pipeline", "publish")}

__all__ = [
    "catalog",
    "get_catalog",
    "load",
    "build",
    "load_style",
    "population",
    "coverage",
    "coverage_delta",
    "indicators",
    "analyse",
    "rail_graph",
    "export",
    "make_map",
    "write_site",
    "publish_site",
    "to_metric",
    "buffer_m",
    "convert_gdf",
    "check_gcj02",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "STORAGE_CRS",
    "METRIC_CRS",
    "TjSpatialError",
    "BuildError",
    "ValidationError",
    "ImportLayerError",
    "import_layer",
    "diff_gpkg",
    "diff_layer",
]


def __getattr__(name: str):
    """Import a public name on first use and keep it (PEP 562)."""
    if name in _LAZY:
        module, attr = _LAZY[name], name
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``tjspatial.build`` and ``tjspatial.catalog`` are the public functions, as they were with eager imports:
    importing the submodules of the same name must not rebind them to the modules."""

    def __setattr__(self, name: str, value) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
