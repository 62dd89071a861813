"""Export the catalog layers for desktop GIS: a styled GeoPackage with a QGIS project, shapefiles, GeoJSON.

``export(fmt, out_dir)`` reads the layers from a built GeoPackage (``tj.load``) and writes, in ``out_dir``:

=================  ==========================================================================================
``gpkg``           ``tianjin.gpkg``: every layer, each with its QGIS style (QML from ``styles/``) as the default
                   in ``layer_styles`` and its QGIS metadata in ``gpkg_metadata``, plus the ``provenance`` and
                   ``catalog`` tables; and ``tianjin.qgz``, a QGIS project over it (themes, draw order, EPSG:4548).
``shp``            ``shp/<id>.shp`` with ``.cpg`` (UTF-8), ``.qml``, ``.qmd`` and ``.fields.csv`` (see
                   :mod:`tjspatial.publish.shapefile`).
``geojson``        ``geojson/<id>.geojson``: RFC 7946 (WGS 84 lon/lat, counter-clockwise outer rings), full
                   coordinate precision, with a ``description`` member giving title, accuracy and licence.
``all``            all of the above.
=================  ==========================================================================================

and always ``layers.csv``: one row per exported layer with title, accuracy (schematic or not), licence,
attribution, description and limitations. Every file is written to a temporary name in its target folder and
renamed when complete.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import geopandas as gpd
import pandas as pd
import pyogrio

from ..errors import InputError, UnknownNameError
from ..catalog import Catalog, Layer, get_catalog
from ..io import load, open_gpkg
from .qgis_project import display_title, layer_abstract, metadata_qmd, write_qgz
from .qml import style_qml
from .shapefile import ExportError, LongValueWarning, read_shapefile, restore_types, write_shapefile
from ..atomic import atomic_path

__all__ = ["export", "write_styled_gpkg", "write_geojson", "read_geojson", "read_shapefile", "FORMATS",
           "GPKG_NAME", "QGZ_NAME", "ExportError", "LongValueWarning"]

FORMATS = ("gpkg", "shp", "geojson", "all")
GPKG_NAME = "tianjin.gpkg"
QGZ_NAME = "tianjin.qgz"
_QGIS_MD_URI = "http://mrcc.com/qgis.dtd"
_METADATA_EXT = "http://www.geopackage.org/spec120/#extension_metadata"


def _summary(layer: Layer, catalog: Catalog) -> str:
    text = f"{display_title(layer)}. 精度 / accuracy: {layer.accuracy_label}."
    return (f"{text} Licence: {catalog.licence(layer.id)}. Attribution: {catalog.attribution(layer.id)}. "
            f"{layer_abstract(layer)}")


def _geometry_columns(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as con:
        return dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())


def _add_qgis_metadata(path: Path, docs: Mapping[str, str]) -> None:
    """Store QGIS layer metadata documents in the GeoPackage metadata extension, the way QGIS itself does."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with sqlite3.connect(path) as con:
        con.executescript("""
            CREATE TABLE IF NOT EXISTS gpkg_metadata (
              id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL, md_scope TEXT NOT NULL DEFAULT 'dataset',
              md_standard_uri TEXT NOT NULL, mime_type TEXT NOT NULL DEFAULT 'text/xml',
              metadata TEXT NOT NULL DEFAULT '');
            CREATE TABLE IF NOT EXISTS gpkg_metadata_reference (
              reference_scope TEXT NOT NULL, table_name TEXT, column_name TEXT, row_id_value INTEGER,
              timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
              md_file_id INTEGER NOT NULL, md_parent_id INTEGER,
              CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id),
              CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id));
        """)
        for table in ("gpkg_metadata", "gpkg_metadata_reference"):
            exists = con.execute("SELECT 1 FROM gpkg_extensions WHERE table_name = ? AND extension_name = "
                                 "'gpkg_metadata'", (table,)).fetchone()
            if not exists:
                con.execute("INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, "
                            "scope) VALUES (?, NULL, 'gpkg_metadata', ?, 'read-write')", (table, _METADATA_EXT))
        for table, doc in docs.items():
            cur = con.execute("INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) "
                              "VALUES ('dataset', ?, 'text/xml', ?)", (_QGIS_MD_URI, doc))
            con.execute("INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, "
                        "row_id_value, timestamp, md_file_id, md_parent_id) VALUES ('table', ?, NULL, NULL, ?, ?, "
                        "NULL)", (table, now, cur.lastrowid))


def write_styled_gpkg(path: str | Path, data: Mapping[str, gpd.GeoDataFrame], *, catalog: Catalog | None = None,
                      tables: Mapping[str, pd.DataFrame] | None = None,
                      provenance: Mapping[str, Mapping[str, str]] | None = None) -> Path:
    """Write layers to a GeoPackage whose layers open styled in QGIS; atomically; returns ``path``.

    Parameters
    ----------
    path : target ``.gpkg``.
    data : layer id → GeoDataFrame (catalog schema, EPSG:4326), written in this order.
    catalog : the catalog; default ``tj.get_catalog()``.
    tables : extra attribute tables (e.g. ``provenance``, ``catalog``) copied as they are.
    provenance : layer id → provenance row, for the metadata history.

    Each layer gets: its QML as the default style in ``layer_styles`` (``useAsDefault`` = 1, so QGIS applies
    it when the layer is added), its QGIS metadata in ``gpkg_metadata``, and the title and abstract in
    ``gpkg_contents`` (``identifier``, ``description``) for other GeoPackage readers.
    """
    catalog = catalog or get_catalog()
    path = Path(path)
    provenance = dict(provenance or {})
    with atomic_path(path, ".gpkg") as tmp:
        for n, (lid, gdf) in enumerate(data.items()):
            layer = catalog[lid]
            pyogrio.write_dataframe(
                gdf, tmp, layer=lid, driver="GPKG", promote_to_multi=None,
                dataset_options={"VERSION": "1.2"} if n == 0 else None,
                layer_options={"SPATIAL_INDEX": "YES", "IDENTIFIER": display_title(layer),
                               "DESCRIPTION": layer_abstract(layer)})
        for name, df in (tables or {}).items():
            pyogrio.write_dataframe(pd.DataFrame(df), tmp, layer=name, driver="GPKG")
        geom_cols = _geometry_columns(tmp)
        now = pd.Timestamp.now(tz="UTC").floor("s").tz_localize(None)
        styles = pd.DataFrame([{
            "f_table_catalog": "", "f_table_schema": "", "f_table_name": lid,
            "f_geometry_column": geom_cols[lid], "styleName": f"tjspatial {catalog[lid].style}",
            "styleQML": style_qml(catalog[lid]), "styleSLD": "", "useAsDefault": True,
            "description": f"{display_title(catalog[lid])}: style styles/{catalog[lid].style}.json (tjspatial)",
            "owner": "tjspatial", "ui": "", "update_time": now,
        } for lid in data])
        pyogrio.write_dataframe(styles, tmp, layer="layer_styles", driver="GPKG", layer_options={"FID": "id"})
        _add_qgis_metadata(tmp, {lid: metadata_qmd(catalog[lid], catalog, provenance.get(lid)) for lid in data})
    return path


def write_geojson(gdf: gpd.GeoDataFrame, layer: Layer, path: str | Path, *, catalog: Catalog | None = None) -> Path:
    """Write one layer as RFC 7946 GeoJSON (EPSG:4326 lon/lat, 17 significant digits: exact), atomically; returns ``path``.

    The top-level ``name`` member is the layer id and ``description`` gives title, accuracy ("示意 /
    schematic" for schematic layers), licence, attribution, description and limitations.
    """
    catalog = catalog or get_catalog()
    path = Path(path)
    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(gdf.to_crs("EPSG:4326"), tmp, driver="GeoJSON", layer=layer.id,
                                layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "17",
                                               "WRITE_NAME": "YES", "DESCRIPTION": _summary(layer, catalog)})
    return path


def read_geojson(path: str | Path, layer: Layer) -> gpd.GeoDataFrame:
    """Read a GeoJSON written by :func:`write_geojson` with the catalog field order and types of ``layer``."""
    raw = pyogrio.read_dataframe(path, DATE_AS_STRING="YES")  # dates are text in the catalog
    if len(raw) == 0:  # GeoJSON has no schema without features
        raw = raw.assign(**{f: pd.Series([], dtype=object) for f in layer.all_fields if f not in raw.columns})
    missing = [f for f in layer.all_fields if f not in raw.columns]
    if missing:
        raise ExportError(f"{path}: layer {layer.id!r} lacks catalog field(s) {missing}")
    out = gpd.GeoDataFrame({f: raw[f] for f in layer.all_fields}, geometry=raw.geometry, crs=raw.crs)
    return restore_types(out, layer.all_fields)


def _write_index(path: Path, layers: Sequence[Layer], data: Mapping[str, gpd.GeoDataFrame], catalog: Catalog,
                 files: Mapping[str, list[str]]) -> Path:
    rows = [{
        "id": lay.id, "title": display_title(lay), "title_zh": lay.title_zh, "title_en": lay.title_en,
        "theme": lay.theme, "geometry_type": lay.geometry_type, "features": len(data[lay.id]),
        "accuracy": lay.accuracy, "accuracy_label": lay.accuracy_label, "schematic": lay.is_schematic,
        "licence": catalog.licence(lay.id), "attribution": catalog.attribution(lay.id),
        "description": lay.description, "limitations": lay.limitations, "files": " ".join(files.get(lay.id, [])),
    } for lay in layers]
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, encoding="utf-8")
    return path


def export(fmt: str = "all", out_dir: str | Path = "export", gpkg: str | Path | None = None,
           layers: Iterable[str] | None = None, *, long_values: str = "split") -> list[Path]:
    """Export catalog layers for QGIS and other desktop GIS; returns the paths written.

    Parameters
    ----------
    fmt : ``"gpkg"`` (styled GeoPackage + ``.qgz`` project), ``"shp"``, ``"geojson"`` or ``"all"``.
    out_dir : target folder (created if needed). Layout: see the module docstring.
    gpkg : GeoPackage built by ``tj.build`` to read from; default ``layers/tianjin.gpkg`` (built from the
        bundled sources if missing).
    layers : layer ids to export, default every catalog layer (in catalog order).
    long_values : shapefiles only: ``"split"`` text over 254 bytes into continuation fields (with a
        :class:`LongValueWarning`) or ``"refuse"`` it (:class:`ExportError`).

    Coordinates stay in EPSG:4326 in every file; the QGIS project displays them in EPSG:4548.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; use one of {FORMATS}")
    catalog = get_catalog()
    ids = list(layers) if layers is not None else catalog.ids
    unknown = [i for i in ids if i not in catalog]
    if unknown:
        raise UnknownNameError(f"unknown layer(s) {unknown}; known layers: {', '.join(catalog.ids)}")
    if not ids:
        raise InputError("no layers to export")
    chosen = [lay for lay in catalog.layers if lay.id in ids]
    source = open_gpkg(gpkg)  # each layer and table read once
    data = {lay.id: load(lay.id, source) for lay in chosen}
    tables = {name: source.table(name) for name in ("provenance", "catalog") if name in source}
    prov = {}
    if "provenance" in tables:
        prov = {r["layer"]: {k: str(v) for k, v in r.items()} for r in tables["provenance"].to_dict("records")}

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    files: dict[str, list[str]] = {lay.id: [] for lay in chosen}
    if fmt in ("gpkg", "all"):
        gpkg_out = write_styled_gpkg(out_dir / GPKG_NAME, data, catalog=catalog, tables=tables, provenance=prov)
        bounds = {lid: tuple(gdf.total_bounds) for lid, gdf in data.items() if len(gdf)}
        qgz = write_qgz(out_dir / QGZ_NAME, chosen, GPKG_NAME, catalog=catalog, bounds=bounds, provenance=prov)
        written += [gpkg_out, qgz]
        for lid in files:
            files[lid] += [f"{GPKG_NAME}|layername={lid}"]
    if fmt in ("shp", "all"):
        for lay in chosen:
            out = write_shapefile(data[lay.id], lay, out_dir / "shp", catalog=catalog, provenance=prov.get(lay.id),
                                  long_values=long_values)
            written += out
            files[lay.id] += [f"shp/{lay.id}.shp"]
    if fmt in ("geojson", "all"):
        for lay in chosen:
            written.append(write_geojson(data[lay.id], lay, out_dir / "geojson" / f"{lay.id}.geojson",
                                         catalog=catalog))
            files[lay.id] += [f"geojson/{lay.id}.geojson"]
    written.append(_write_index(out_dir / "layers.csv", chosen, data, catalog, files))
    return written
