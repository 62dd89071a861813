"""The build source of imported layers: the records in the imports folder and the builder that reads them.

An accepted ``tjspatial import-layer`` (the workflow lives in :mod:`tjspatial.importer`) leaves in the
imports folder (default ``layers/imports/``, i.e. ``$TJSPATIAL_HOME/layers/imports`` when that is set):

- ``<layer>.gpkg``: the converted data (EPSG:4326, catalog schema, ``accuracy`` = the declared class);
- ``imports.json``: provenance per layer (original file, sha256, CRS, field map, accuracy, time, ``stored``).

``build`` asks :func:`recorded_overrides` which layers are imported and builds them with
:func:`build_from_import` instead of their builder. A record's ``stored`` file name is confined to the
imports folder (:func:`stored_path`): a record naming ``../../README.md`` or an absolute path is refused,
so neither ``build`` nor ``import-layer --remove`` ever reads or deletes a file outside it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from ..build_context import BuildContext, read_vector_file
from ..catalog import Catalog, get_catalog
from ..errors import ImportLayerError
from ..paths import layers_dir

__all__ = [
    "RECORD_FILE",
    "LOCK_FILE",
    "imports_dir",
    "recorded_imports",
    "recorded_overrides",
    "overrides_from",
    "stored_path",
    "build_from_import",
]

RECORD_FILE = "imports.json"
"""The provenance file of the imports folder."""
LOCK_FILE = ".lock"
"""The lock file inside the imports folder that serialises import and remove runs (:mod:`tjspatial.locks`)."""
_STORED_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\.gpkg")


def imports_dir(directory: str | Path | None = None) -> Path:
    """The imports folder: ``directory`` if given, else ``layers/imports`` (under ``$TJSPATIAL_HOME`` if set).

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        The imports folder; default ``layers/imports``.

    Returns
    -------
    pathlib.Path
        The folder (may not exist yet).
    """
    return Path(directory) if directory else layers_dir() / "imports"


def recorded_imports(directory: str | Path | None = None) -> dict[str, dict]:
    """The provenance entries of ``imports.json`` by layer id (empty when nothing was imported).

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        The imports folder; default ``layers/imports``.

    Returns
    -------
    dict of str to dict
        Layer id → its provenance entry.

    Raises
    ------
    ImportLayerError
        When ``imports.json`` is not valid JSON or not an object of objects (rule ``import_record``).
    """
    path = imports_dir(directory) / RECORD_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportLayerError(
            f"the import record is not valid UTF-8 JSON: {exc}", file=str(path), rule="import_record"
        ) from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ImportLayerError(
            "the import record must be a JSON object of layer id → record object", file=str(path), rule="import_record"
        )
    return data


def stored_path(layer_id: str, record: dict, directory: str | Path | None = None) -> Path:
    """The recorded file of ``layer_id``'s import, confined to the imports folder.

    ``record["stored"]`` must be a plain file name (``<name>.gpkg``: letters, digits, ``_ . -``; no
    folder, no ``..``, not absolute) of a file directly inside the imports folder.

    Parameters
    ----------
    layer_id : str
        The imported layer.
    record : dict
        Its import record.
    directory : str or pathlib.Path, optional
        The imports folder; default ``layers/imports``.

    Returns
    -------
    pathlib.Path
        The stored file inside the imports folder.

    Raises
    ------
    ImportLayerError
        Naming the layer, the record file and rule ``import_record`` when the name is anything else.
    """
    base = imports_dir(directory)
    name = record.get("stored") if isinstance(record, dict) else None
    if not isinstance(name, str) or not _STORED_NAME.fullmatch(name) or name in (".gpkg", "..gpkg"):
        raise ImportLayerError(
            f"the record's 'stored' value {name!r} is not a plain <name>.gpkg file name inside "
            f"the imports folder {base}; refusing to use it (edit or delete the record)",
            layer=layer_id,
            file=str(base / RECORD_FILE),
            field="stored",
            rule="import_record",
        )
    path = base / name
    if path.resolve().parent != base.resolve():  # e.g. a symlinked name; belt and braces
        raise ImportLayerError(
            f"the record's 'stored' file {name!r} resolves outside the imports folder {base}",
            layer=layer_id,
            file=str(base / RECORD_FILE),
            field="stored",
            rule="import_record",
        )
    return path


def recorded_overrides(directory: str | Path | None = None, catalog: Catalog | None = None) -> dict[str, Path]:
    """Layer id → recorded file of every import whose layer is still in the catalog (used by ``build``).

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        The imports folder; default ``layers/imports``.
    catalog : Catalog, optional
        The catalog; default :func:`tjspatial.catalog.get_catalog`.

    Returns
    -------
    dict of str to pathlib.Path
        Layer id → the stored ``.gpkg``.
    """
    return overrides_from(recorded_imports(directory), directory, catalog)


def overrides_from(
    records: dict[str, dict], directory: str | Path | None = None, catalog: Catalog | None = None
) -> dict[str, Path]:
    """Layer id → stored file of the given import ``records`` (as :func:`recorded_overrides` for a record set).

    Parameters
    ----------
    records : dict of str to dict
        Layer id → import record (as in ``imports.json``).
    directory : str or pathlib.Path, optional
        The imports folder; default ``layers/imports``.
    catalog : Catalog, optional
        The catalog; default :func:`tjspatial.catalog.get_catalog`.

    Returns
    -------
    dict of str to pathlib.Path
        Layer id → the stored ``.gpkg``.
    """
    cat = catalog or get_catalog()
    out = {}
    for lid, rec in records.items():
        if lid not in cat:
            continue
        stored = stored_path(lid, rec, directory)
        if stored.is_file():
            out[lid] = stored
    return out


def build_from_import(ctx: BuildContext) -> gpd.GeoDataFrame:
    """Builder used by ``build`` for a layer in ``ctx.overrides``: read the imported file (EPSG:4326).

    A recorded import (``layers/imports/<layer>.gpkg``) is already converted and complete; a raw file
    passed directly as an override must carry a CRS and every declared field.

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features in EPSG:4326 (the build applies the catalog schema and validation).
    """
    path = ctx.file(Path(ctx.overrides[ctx.layer_id]))
    layers = [n for n, _ in pyogrio.list_layers(path)] if path.suffix.lower() == ".gpkg" else []
    kwargs = {"layer": ctx.layer_id} if ctx.layer_id in layers else {}
    gdf = read_vector_file(path, layer_id=ctx.layer_id, **kwargs)
    if "source" not in gdf.columns:
        gdf["source"] = f"import:{path.name}"
    if "accuracy" in gdf.columns:
        gdf["accuracy"] = gdf["accuracy"].replace("", pd.NA)
    return gdf
