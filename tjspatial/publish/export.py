"""Export the catalog layers for desktop GIS and CAD: a styled GeoPackage with a QGIS project, shapefiles,
GeoJSON, DXF and KML.

``export(fmt, out_dir)`` reads the layers from a built GeoPackage (``tj.load``) and writes, in ``out_dir``:

=================  ==========================================================================================
``gpkg``           ``tianjin.gpkg``: every layer, each with its QGIS style (QML from ``styles/``) as the default
                   in ``layer_styles`` and its QGIS metadata in ``gpkg_metadata``, plus the ``provenance`` and
                   ``catalog`` tables; and ``tianjin.qgz``, a QGIS project over it (themes, draw order, EPSG:4548).
``shp``            ``shp/<id>.shp`` with ``.cpg`` (UTF-8), ``.qml``, ``.qmd`` and ``.fields.csv`` (see
                   :mod:`tjspatial.publish.shapefile`).
``geojson``        ``geojson/<id>.geojson``: RFC 7946 (WGS 84 lon/lat, counter-clockwise outer rings), full
                   coordinate precision, with a ``description`` member giving title, accuracy and licence.
``dxf``            ``dxf/tianjin.dxf``: one CAD layer per catalog layer (:mod:`tjspatial.publish.dxf`), in
                   metres (EPSG:4548 unless ``crs`` says otherwise), with text entities for labels.
``kml``            ``kml/<id>.kml``: placemarks named by ``name_zh`` with a description (WGS 84).
``all``            gpkg, shp and geojson.
=================  ==========================================================================================

Formats can be combined (``"gpkg,dxf"``). Always written: ``layers.csv`` (one row per layer: title, accuracy,
licence, attribution, description, limitations, files; UTF-8 **with BOM**, so Excel opens the Chinese text)
and ``export-manifest.json`` (layers, formats, CRS, and every file with its size and sha256).

Whole-folder atomicity: everything is written into a staging folder beside ``out_dir`` and swapped in only
when complete, so a failure leaves the previous export as it was; files of an earlier export that this one
does not write again are removed (no stale shapefiles), while files tjspatial did not write (not in the
manifest, e.g. a user's notes or a copy of the project) are kept. Exporting some layers into an existing export
(``layers=[...]``) updates those layers inside the full package: the other layers' files are kept, the
GeoPackage and project still hold every layer, ``layers.csv`` and the manifest list all of them. A folder
that holds other files and no manifest is refused (tjspatial never replaces a folder it did not write).

Coordinates: ``crs`` (default EPSG:4326, the storage CRS) for the GeoPackage, shapefiles and DXF (DXF
defaults to EPSG:4548 metres); GeoJSON (RFC 7946) and KML are always WGS 84. The QGIS project displays in
EPSG:4548.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import geopandas as gpd
import pandas as pd
import pyogrio

from ..errors import InputError, UnknownNameError
from ..catalog import Catalog, Layer, get_catalog
from ..io import load, open_gpkg
from ..crs import STORAGE_CRS
from .qgis_layouts import bookmarks
from .qgis_project import display_title, layer_abstract, layer_licences, metadata_qmd, short_name, write_qgz
from .qml import style_qml
from .shapefile import ExportError, LongValueWarning, read_shapefile, restore_types, write_shapefile
from ..atomic import atomic_path, pid_alive
from ..build_context import file_sha256 as sha256_file

__all__ = [
    "export",
    "write_styled_gpkg",
    "write_geojson",
    "read_geojson",
    "read_shapefile",
    "read_index",
    "read_manifest",
    "verify_export",
    "sha256_file",
    "FORMATS",
    "GPKG_NAME",
    "QGZ_NAME",
    "MANIFEST_NAME",
    "INDEX_NAME",
    "DXF_NAME",
    "ExportError",
    "LongValueWarning",
]

FORMATS = ("gpkg", "shp", "geojson", "dxf", "kml", "all")
GPKG_NAME = "tianjin.gpkg"
QGZ_NAME = "tianjin.qgz"
MANIFEST_NAME = "export-manifest.json"
INDEX_NAME = "layers.csv"
DXF_NAME = "tianjin.dxf"
_KNOWN = {GPKG_NAME, QGZ_NAME, MANIFEST_NAME, INDEX_NAME, "shp", "geojson", "dxf", "kml"}
_QGIS_MD_URI = "http://mrcc.com/qgis.dtd"
_METADATA_EXT = "http://www.geopackage.org/spec120/#extension_metadata"


def _summary(layer: Layer, catalog: Catalog) -> str:
    text = f"{display_title(layer)}. 精度 / accuracy: {layer.accuracy_label}."
    return (
        f"{text} Licence: {' | '.join(layer_licences(layer, catalog))}. "
        f"Attribution: {catalog.attribution(layer.id)}. {layer_abstract(layer)}"
    )


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
            exists = con.execute(
                "SELECT 1 FROM gpkg_extensions WHERE table_name = ? AND extension_name = 'gpkg_metadata'", (table,)
            ).fetchone()
            if not exists:
                con.execute(
                    "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, "
                    "scope) VALUES (?, NULL, 'gpkg_metadata', ?, 'read-write')",
                    (table, _METADATA_EXT),
                )
        for table, doc in docs.items():
            cur = con.execute(
                "INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) "
                "VALUES ('dataset', ?, 'text/xml', ?)",
                (_QGIS_MD_URI, doc),
            )
            con.execute(
                "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, "
                "row_id_value, timestamp, md_file_id, md_parent_id) VALUES ('table', ?, NULL, NULL, ?, ?, "
                "NULL)",
                (table, now, cur.lastrowid),
            )


def write_styled_gpkg(
    path: str | Path,
    data: Mapping[str, gpd.GeoDataFrame],
    *,
    catalog: Catalog | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    provenance: Mapping[str, Mapping[str, str]] | None = None,
    crs: str = STORAGE_CRS,
) -> Path:
    """Write layers to a GeoPackage whose layers open styled in QGIS; atomically; returns ``path``.

    Each layer gets: its QML as the default style in ``layer_styles`` (``useAsDefault`` = 1, so QGIS applies
    it when the layer is added), its QGIS metadata in ``gpkg_metadata``, and the title and abstract in
    ``gpkg_contents`` (``identifier``, ``description``) for other GeoPackage readers.

    Parameters
    ----------
    path : str or pathlib.Path
        Target ``.gpkg``.
    data : mapping of str to geopandas.GeoDataFrame
        Layer id → features (catalog schema), written in this order, reprojected to ``crs``.
    catalog : Catalog, optional
        The catalog; default ``tj.get_catalog()``.
    tables : mapping of str to pandas.DataFrame, optional
        Extra attribute tables (e.g. ``provenance``, ``catalog``) copied as they are.
    provenance : mapping of str to mapping, optional
        Layer id → provenance row, for the metadata history.
    crs : str, default "EPSG:4326"
        CRS of the stored coordinates.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    catalog = catalog or get_catalog()
    path = Path(path)
    provenance = dict(provenance or {})
    with atomic_path(path, ".gpkg") as tmp:
        for n, (lid, gdf) in enumerate(data.items()):
            layer = catalog[lid]
            pyogrio.write_dataframe(
                gdf.to_crs(crs),
                tmp,
                layer=lid,
                driver="GPKG",
                promote_to_multi=None,
                dataset_options={"VERSION": "1.2"} if n == 0 else None,
                layer_options={
                    "SPATIAL_INDEX": "YES",
                    "IDENTIFIER": display_title(layer),
                    "DESCRIPTION": layer_abstract(layer),
                },
            )
        for name, df in (tables or {}).items():
            pyogrio.write_dataframe(pd.DataFrame(df), tmp, layer=name, driver="GPKG")
        geom_cols = _geometry_columns(tmp)
        now = pd.Timestamp.now(tz="UTC").floor("s").tz_localize(None)
        styles = pd.DataFrame(
            [
                {
                    "f_table_catalog": "",
                    "f_table_schema": "",
                    "f_table_name": lid,
                    "f_geometry_column": geom_cols[lid],
                    "styleName": f"tjspatial {catalog[lid].style}",
                    "styleQML": style_qml(catalog[lid], data=data[lid]),
                    "styleSLD": "",
                    "useAsDefault": True,
                    "description": f"{display_title(catalog[lid])}: style styles/{catalog[lid].style}.json (tjspatial)",
                    "owner": "tjspatial",
                    "ui": "",
                    "update_time": now,
                }
                for lid in data
            ]
        )
        pyogrio.write_dataframe(styles, tmp, layer="layer_styles", driver="GPKG", layer_options={"FID": "id"})
        _add_qgis_metadata(
            tmp,
            {
                lid: metadata_qmd(
                    catalog[lid],
                    catalog,
                    provenance.get(lid),
                    tuple(gdf.to_crs(STORAGE_CRS).total_bounds) if len(gdf) else None,
                )
                for lid, gdf in data.items()
            },
        )
    return path


def write_geojson(gdf: gpd.GeoDataFrame, layer: Layer, path: str | Path, *, catalog: Catalog | None = None) -> Path:
    """Write one layer as RFC 7946 GeoJSON (EPSG:4326 lon/lat, 17 significant digits: exact), atomically; returns ``path``.

    The top-level ``name`` member is the layer id and ``description`` gives title, accuracy ("示意 /
    schematic" for schematic layers), licence, attribution, description and limitations.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer (catalog schema, any CRS; written in EPSG:4326).
    layer : Layer
        Its catalog layer.
    path : str or pathlib.Path
        Target ``.geojson``.
    catalog : Catalog, optional
        For licences and attributions; default ``tj.get_catalog()``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    catalog = catalog or get_catalog()
    path = Path(path)
    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(
            gdf.to_crs("EPSG:4326"),
            tmp,
            driver="GeoJSON",
            layer=layer.id,
            layer_options={
                "RFC7946": "YES",
                "COORDINATE_PRECISION": "17",
                "WRITE_NAME": "YES",
                "DESCRIPTION": _summary(layer, catalog),
            },
        )
    return path


def read_geojson(path: str | Path, layer: Layer) -> gpd.GeoDataFrame:
    """Read a GeoJSON written by :func:`write_geojson` with the catalog field order and types of ``layer``.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.geojson`` file.
    layer : Layer
        Its catalog layer.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, catalog schema.
    """
    raw = pyogrio.read_dataframe(path, DATE_AS_STRING="YES")  # dates are text in the catalog
    if len(raw) == 0:  # GeoJSON has no schema without features
        raw = raw.assign(**{f: pd.Series([], dtype=object) for f in layer.all_fields if f not in raw.columns})
    missing = [f for f in layer.all_fields if f not in raw.columns]
    if missing:
        raise ExportError(f"{path}: layer {layer.id!r} lacks catalog field(s) {missing}")
    out = gpd.GeoDataFrame({f: raw[f] for f in layer.all_fields}, geometry=raw.geometry, crs=raw.crs)
    return restore_types(out, layer.all_fields)


def _write_index(
    path: Path,
    layers: Sequence[Layer],
    data: Mapping[str, gpd.GeoDataFrame],
    catalog: Catalog,
    files: Mapping[str, list[str]],
) -> Path:
    """``layers.csv``: one row per layer, UTF-8 with BOM (Excel on Chinese Windows reads it as UTF-8)."""
    rows = [
        {
            "id": lay.id,
            "name": short_name(lay),
            "title": display_title(lay),
            "title_zh": lay.title_zh,
            "title_en": lay.title_en,
            "theme": lay.theme,
            "geometry_type": lay.geometry_type,
            "features": len(data[lay.id]),
            "accuracy": lay.accuracy,
            "accuracy_label": lay.accuracy_label,
            "schematic": lay.is_schematic,
            "licence": " | ".join(layer_licences(lay, catalog)),
            "attribution": catalog.attribution(lay.id),
            "description": lay.description,
            "limitations": lay.limitations,
            "files": " ".join(files.get(lay.id, [])),
        }
        for lay in layers
    ]
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, encoding="utf-8-sig")
    return path


def read_index(path: str | Path) -> pd.DataFrame:
    """Read an export's ``layers.csv`` (UTF-8 with BOM).

    Parameters
    ----------
    path : str or pathlib.Path
        The ``layers.csv`` file.

    Returns
    -------
    pandas.DataFrame
        One row per exported layer.
    """
    return pd.read_csv(path, encoding="utf-8-sig")


def read_manifest(out_dir: str | Path) -> dict | None:
    """The manifest of an export folder (``export-manifest.json``), or None when there is none.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        The export folder.

    Returns
    -------
    dict or None
        The parsed manifest (files with sizes and sha256, CRS, formats), or None.
    """
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable export manifest ({exc}); remove it or export into a new folder") from exc


def verify_export(out_dir: str | Path) -> list[str]:
    """Check an export folder against its manifest; returns the problems (empty when every file matches).

    Parameters
    ----------
    out_dir : str or pathlib.Path
        The export folder.

    Returns
    -------
    list of str
        One line per missing, changed or unlisted file; empty when every file matches.
    """
    out_dir = Path(out_dir)
    man = read_manifest(out_dir)
    if man is None:
        return [f"{out_dir}: no {MANIFEST_NAME}"]
    problems = []
    for rel, info in man["files"].items():
        p = out_dir / rel
        if not p.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(p) != info["sha256"]:
            problems.append(f"{rel}: sha256 differs from the manifest")
    listed = set(man["files"]) | {MANIFEST_NAME}
    for p in out_dir.rglob("*"):
        if p.is_file() and str(p.relative_to(out_dir)) not in listed:
            problems.append(f"{p.relative_to(out_dir)}: not in the manifest (not written by tjspatial)")
    return problems


def _parse_formats(fmt: str) -> list[str]:
    parts = [f.strip() for f in str(fmt).split(",") if f.strip()]
    bad = [f for f in parts if f not in FORMATS]
    if bad or not parts:
        raise InputError(f"unknown export format {fmt!r}; use one of {FORMATS} (or several, comma-separated)")
    out: list[str] = []
    for f in parts:
        for g in ("gpkg", "shp", "geojson") if f == "all" else (f,):
            if g not in out:
                out.append(g)
    return out


def _normalise_crs(crs: str | None, default: str) -> str:
    from pyproj import CRS

    if crs is None:
        return default
    try:
        c = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj.exceptions.CRSError
        raise InputError(f"export crs {crs!r} is not a CRS pyproj knows (e.g. EPSG:4548): {exc}") from exc
    auth = c.to_authority()
    if not auth:
        raise InputError(f"export crs {crs!r} has no EPSG code; give one as 'EPSG:<code>'")
    return f"{auth[0]}:{auth[1]}"


def _check_target(out_dir: Path) -> dict | None:
    """The previous manifest of ``out_dir``; refuses a non-empty folder tjspatial did not write."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: is a file, not a folder (export target)")
    if not out_dir.is_dir():
        return None
    man = read_manifest(out_dir)
    if man is None:
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in _KNOWN and not p.name.startswith("."))
        if foreign:
            raise ExportError(
                f"export target {out_dir} already holds files that tjspatial did not write "
                f"({', '.join(foreign[:5])}{' …' if len(foreign) > 5 else ''}) and no {MANIFEST_NAME}; "
                f"export into an empty or new folder"
            )
    return man


def _alive(pid: int) -> bool:
    """Whether the export that named a folder with ``pid`` may still be running (never this process: its own
    leftovers are stale)."""
    return pid != os.getpid() and pid_alive(pid)


def _sweep(out_dir: Path) -> None:
    """Remove staging/old folders left by killed exports into ``out_dir``."""
    for p in out_dir.parent.glob(f".{out_dir.name}.staging-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
    for p in out_dir.parent.glob(f".{out_dir.name}.old-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)) and out_dir.exists():
            shutil.rmtree(p, ignore_errors=True)


@contextmanager
def export_lock(out_dir: str | Path, timeout: float = 120.0) -> Iterator[None]:
    """Hold an exclusive lock on the parent folder of ``out_dir`` while exporting into it (POSIX ``flock``).

    Concurrent exports into the same place wait for each other (up to ``timeout`` seconds, then
    :class:`ExportError`); no lock file is left behind. Where ``fcntl`` is missing (Windows) no lock is taken.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    parent = Path(out_dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ExportError(
                        f"{out_dir}: another export into {parent} is still running (waited "
                        f"{timeout:g} s); try again when it has finished"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _swap_in(stage: Path, out_dir: Path) -> None:
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        os.replace(out_dir, old)
    try:
        os.replace(stage, out_dir)
    except BaseException:
        if old.exists() and not out_dir.exists():
            os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def export(
    fmt: str = "all",
    out_dir: str | Path = "export",
    gpkg: str | Path | None = None,
    layers: Iterable[str] | None = None,
    *,
    long_values: str = "split",
    crs: str | None = None,
    lock_timeout: float = 120.0,
) -> list[Path]:
    """Export catalog layers for QGIS, other desktop GIS and CAD; returns the paths written (in ``out_dir``).

    Parameters
    ----------
    fmt : str, default "all"
        ``"gpkg"`` (styled GeoPackage + ``.qgz`` project), ``"shp"``, ``"geojson"``, ``"dxf"``, ``"kml"``,
        ``"all"`` (gpkg, shp, geojson), or several comma-separated.
    out_dir : str or pathlib.Path, default "export"
        Target folder (created if needed). Layout: see the module docstring. Written whole through a
        staging folder; an existing tjspatial export there is updated (see ``layers``), other files refused.
    gpkg : str, pathlib.Path or tjspatial.gpkg.GeoPackage, optional
        GeoPackage built by ``tj.build`` to read from; default ``layers/tianjin.gpkg`` (built from the
        bundled sources if missing).
    layers : iterable of str, optional
        Layer ids to export, default every catalog layer (in catalog order). Into an existing export
        these layers are updated and the others kept, in every format the export already has; the CRS must
        match the existing export's.
    long_values : {"split", "refuse"}, default "split"
        Shapefiles only: ``"split"`` text over 254 bytes into continuation fields (with a
        :class:`LongValueWarning`) or ``"refuse"`` it (:class:`ExportError`).
    crs : str, optional
        CRS of the coordinates in the GeoPackage, shapefiles and DXF, e.g. ``"EPSG:4548"`` (CGCS2000 /
        3° Gauss-Krüger CM 117E, metres). Default: EPSG:4326 (DXF: EPSG:4548). GeoJSON and KML are always
        WGS 84. The QGIS project always displays in EPSG:4548.
    lock_timeout : float, default 120.0
        Seconds to wait while another export writes into the same parent folder (exports are
        serialised by a lock on that folder, so two runs never interleave their swaps).

    Returns
    -------
    list of pathlib.Path
        The files written, in ``out_dir`` (GeoPackage, ``.qgz``, shapefiles, GeoJSON, DXF, KML, README).

    Raises
    ------
    ExportError
        The target holds foreign files, an existing export there has another CRS, or another export kept
        the folder locked for ``lock_timeout`` seconds; nothing is changed.
    """
    formats = _parse_formats(fmt)
    catalog = get_catalog()
    ids = list(layers) if layers is not None else catalog.ids
    unknown = [i for i in ids if i not in catalog]
    if unknown:
        raise UnknownNameError(f"unknown layer(s) {unknown}; known layers: {', '.join(catalog.ids)}")
    if not ids:
        raise InputError("no layers to export")
    data_crs = _normalise_crs(crs, STORAGE_CRS)
    dxf_crs = _normalise_crs(crs, "EPSG:4548")
    out_dir = Path(out_dir)
    with export_lock(out_dir, timeout=lock_timeout):
        return _export_locked(formats, out_dir, ids, gpkg, catalog, data_crs, dxf_crs, long_values)


def _export_locked(
    formats: list[str],
    out_dir: Path,
    ids: list[str],
    gpkg,
    catalog: Catalog,
    data_crs: str,
    dxf_crs: str,
    long_values: str,
) -> list[Path]:
    previous = _check_target(out_dir)
    if out_dir.parent.exists():
        _sweep(out_dir)
    keep: list[str] = []
    if previous is not None:
        prev_crs = previous.get("crs", STORAGE_CRS)
        prev_layers = [lid for lid in previous.get("layers", []) if lid in catalog]
        keep = [lid for lid in prev_layers if lid not in ids]
        if keep and prev_crs != data_crs:
            raise ExportError(
                f"{out_dir} holds an export in {prev_crs}; exporting {', '.join(ids)} in {data_crs} "
                f"would mix CRSs in one package. Use crs={prev_crs!r} (--crs {prev_crs}) or "
                f"export into a new folder"
            )
        if keep:
            formats += [f for f in previous.get("formats", []) if f not in formats and f in FORMATS]
    chosen = [lay for lay in catalog.layers if lay.id in ids]
    every = [lay for lay in catalog.layers if lay.id in ids or lay.id in keep]
    source = open_gpkg(gpkg)  # each layer and table read once
    data = {lay.id: load(lay.id, source) for lay in chosen}
    tables = {name: source.table(name) for name in ("provenance", "catalog") if name in source}
    prov = {}
    if "provenance" in tables:
        prov = {r["layer"]: {k: str(v) for k, v in r.items()} for r in tables["provenance"].to_dict("records")}
    old_gpkg = out_dir / GPKG_NAME
    if keep:
        # the kept layers as they are in the existing export (its GeoPackage), for the package and project
        if old_gpkg.is_file():
            kept_present = {name for name, _ in pyogrio.list_layers(old_gpkg)}
            missing = [lid for lid in keep if lid not in kept_present]
            if missing:
                raise ExportError(
                    f"{old_gpkg}: the existing export lacks layer(s) {missing} that its manifest "
                    f"lists; export every layer again (no layers=...) or into a new folder"
                )
            for lid in keep:
                data[lid] = load(lid, old_gpkg).to_crs(STORAGE_CRS)
        else:
            for lid in keep:
                data[lid] = load(lid, gpkg)
    data = {lay.id: data[lay.id] for lay in every}

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        files = _write_all(
            stage,
            out_dir,
            formats,
            every,
            chosen,
            keep,
            data,
            catalog,
            tables,
            prov,
            previous,
            data_crs=data_crs,
            dxf_crs=dxf_crs,
            long_values=long_values,
        )
        _write_index(stage / INDEX_NAME, every, data, catalog, files)
        manifest = {
            "tjspatial_export": 1,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "crs": data_crs,
            "dxf_crs": dxf_crs if "dxf" in formats else None,
            "formats": formats,
            "layers": [lay.id for lay in every],
            "updated_layers": [lay.id for lay in chosen],
            "files": {
                str(p.relative_to(stage)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                for p in sorted(stage.rglob("*"))
                if p.is_file()
            },
        }
        (stage / MANIFEST_NAME).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        written = sorted(stage.rglob("*"))
        _carry_over_foreign(previous, out_dir, stage)
        _swap_in(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return [out_dir / p.relative_to(stage) for p in written if not p.is_dir()]


def _carry_over_foreign(previous: dict | None, out_dir: Path, stage: Path) -> list[str]:
    """Copy files of ``out_dir`` that no tjspatial export wrote (not in its manifest; e.g. a user's notes or
    an edited copy of the project) into the stage, so the swap never deletes them; returns their paths."""
    if previous is None or not out_dir.is_dir():
        return []
    ours = set(previous.get("files", {})) | {MANIFEST_NAME}
    carried = []
    for f in sorted(out_dir.rglob("*")):
        rel = str(f.relative_to(out_dir))
        if not f.is_file() or rel in ours or (stage / rel).exists() or ".tmp-" in f.name:
            continue
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, stage / rel)
        carried.append(rel)
    return carried


def _copy_kept(previous: dict | None, out_dir: Path, stage: Path, prefix: str, keep: Sequence[str]) -> list[Path]:
    """Copy the files of kept layers under ``prefix`` (e.g. ``shp/``) from the old export into the stage."""
    if not previous or not keep:
        return []
    out = []
    for rel in previous.get("files", {}):
        parts = Path(rel).parts
        if len(parts) == 2 and parts[0] == prefix.rstrip("/"):
            stem = parts[1].split(".", 1)[0]
            if stem in keep and (out_dir / rel).is_file():
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(out_dir / rel, stage / rel)
                out.append(stage / rel)
    return out


def _write_all(
    stage: Path,
    out_dir: Path,
    formats: Sequence[str],
    every: Sequence[Layer],
    chosen: Sequence[Layer],
    keep: Sequence[str],
    data: Mapping[str, gpd.GeoDataFrame],
    catalog: Catalog,
    tables,
    prov,
    previous: dict | None,
    *,
    data_crs: str,
    dxf_crs: str,
    long_values: str,
) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {lay.id: [] for lay in every}
    if "gpkg" in formats:
        write_styled_gpkg(stage / GPKG_NAME, data, catalog=catalog, tables=tables, provenance=prov, crs=data_crs)
        bounds = {lid: tuple(gdf.to_crs(data_crs).total_bounds) for lid, gdf in data.items() if len(gdf)}
        write_qgz(
            stage / QGZ_NAME,
            list(every),
            GPKG_NAME,
            catalog=catalog,
            bounds=bounds,
            provenance=prov,
            data=data,
            data_crs=data_crs,
            marks=bookmarks(data, "EPSG:4548", catalog),
        )
        for lid in files:
            files[lid] += [f"{GPKG_NAME}|layername={lid}"]
    if "shp" in formats:
        for lay in chosen:
            write_shapefile(
                data[lay.id],
                lay,
                stage / "shp",
                catalog=catalog,
                provenance=prov.get(lay.id),
                long_values=long_values,
                crs=data_crs,
            )
        _copy_kept(previous, out_dir, stage, "shp", keep)
        for lid in files:
            files[lid] += [f"shp/{lid}.shp"]
    if "geojson" in formats:
        for lay in chosen:
            write_geojson(data[lay.id], lay, stage / "geojson" / f"{lay.id}.geojson", catalog=catalog)
        _copy_kept(previous, out_dir, stage, "geojson", keep)
        for lid in files:
            files[lid] += [f"geojson/{lid}.geojson"]
    if "kml" in formats:
        from .dxf import write_kml

        for lay in chosen:
            write_kml(data[lay.id], lay, stage / "kml" / f"{lay.id}.kml", catalog=catalog)
        _copy_kept(previous, out_dir, stage, "kml", keep)
        for lid in files:
            files[lid] += [f"kml/{lid}.kml"]
    if "dxf" in formats:
        from .dxf import dxf_layer_name, write_dxf

        write_dxf(stage / "dxf" / DXF_NAME, {lay.id: data[lay.id] for lay in every}, catalog=catalog, crs=dxf_crs)
        for lid in files:
            files[lid] += [f"dxf/{DXF_NAME}|layer={dxf_layer_name(catalog[lid])}"]
    return files
