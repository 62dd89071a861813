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
    """The project folder: ``$TJSPATIAL_HOME`` if set, else the folder that holds the package.

    Returns
    -------
    pathlib.Path
        The project folder (absolute).
    """
    env = os.environ.get("TJSPATIAL_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[1]


def layers_dir() -> Path:
    """``layers/``: the catalog, sources, plan inputs, imports and the default GeoPackage.

    Returns
    -------
    pathlib.Path
        ``<project>/layers``.
    """
    return project_root() / "layers"


def catalog_dir() -> Path:
    """``layers/catalog``: the layer catalog (``*.toml``).

    Returns
    -------
    pathlib.Path
        ``<project>/layers/catalog``.
    """
    return layers_dir() / "catalog"


def sources_dir() -> Path:
    """``layers/sources``: the bundled source files (read only by the build).

    Returns
    -------
    pathlib.Path
        ``<project>/layers/sources``.
    """
    return layers_dir() / "sources"


def plan_dir() -> Path:
    """``layers/plan``: hand-authored schematic plan inputs (read only by the build).

    Returns
    -------
    pathlib.Path
        ``<project>/layers/plan``.
    """
    return layers_dir() / "plan"


def styles_dir() -> Path:
    """``styles/``: one JSON style per layer style id.

    Returns
    -------
    pathlib.Path
        ``<project>/styles``.
    """
    return project_root() / "styles"


def osm_cache_dir() -> Path:
    """``layers/osm_cache``: cached Overpass answers, clipped extracts and the walk network.

    Returns
    -------
    pathlib.Path
        ``<project>/layers/osm_cache`` (may not exist yet).
    """
    return layers_dir() / "osm_cache"


def maps_dir() -> Path:
    """``maps/``: the default web-map site folder.

    Returns
    -------
    pathlib.Path
        ``<project>/maps`` (may not exist yet).
    """
    return project_root() / "maps"


def default_gpkg() -> Path:
    """The GeoPackage that :func:`tjspatial.load` reads by default: ``layers/tianjin.gpkg``.

    Returns
    -------
    pathlib.Path
        ``<project>/layers/tianjin.gpkg`` (may not exist yet).
    """
    return layers_dir() / "tianjin.gpkg"
