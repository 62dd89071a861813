"""Where the project's folders are: ``layers/``, ``styles/``, ``maps/`` beside the package.

Set ``TJSPATIAL_HOME`` to use another project folder (one holding ``layers/`` and ``styles/``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "project_root",
    "layers_dir",
    "catalog_dir",
    "sources_dir",
    "plan_dir",
    "styles_dir",
    "maps_dir",
    "default_gpkg",
    "osm_cache_dir",
]


def project_root() -> Path:
    """The project folder: ``$TJSPATIAL_HOME`` if set, else the folder that holds the package."""
    env = os.environ.get("TJSPATIAL_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[1]


def layers_dir() -> Path:
    """``layers/``: the catalog, sources, plan inputs, imports and the default GeoPackage."""
    return project_root() / "layers"


def catalog_dir() -> Path:
    """``layers/catalog``: the layer catalog (``*.toml``)."""
    return layers_dir() / "catalog"


def sources_dir() -> Path:
    """``layers/sources``: the bundled source files (read only by the build)."""
    return layers_dir() / "sources"


def plan_dir() -> Path:
    """``layers/plan``: hand-authored schematic plan inputs (read only by the build)."""
    return layers_dir() / "plan"


def styles_dir() -> Path:
    """``styles/``: one JSON style per layer style id."""
    return project_root() / "styles"


def osm_cache_dir() -> Path:
    """``layers/osm_cache``: cached Overpass answers, clipped extracts and the walk network."""
    return layers_dir() / "osm_cache"


def maps_dir() -> Path:
    """``maps/``: the default web-map site folder."""
    return project_root() / "maps"


def default_gpkg() -> Path:
    """The GeoPackage that :func:`tjspatial.load` reads by default: ``layers/tianjin.gpkg``."""
    return layers_dir() / "tianjin.gpkg"
