"""Shapefile export: one shapefile per layer that opens styled in QGIS and keeps Chinese text intact.

For a layer ``<id>`` the folder gets ``<id>.shp/.shx/.dbf/.prj``, ``<id>.cpg`` (``UTF-8``), ``<id>.qml`` (the
style, loaded by QGIS as the default), ``<id>.qmd`` (QGIS metadata: title, abstract, accuracy, licence,
attribution; "示意 / schematic" for schematic layers) and ``<id>.fields.csv``, the field map back to the
catalog names.

DBF limits and how they are met
-------------------------------
- Field names: ASCII, at most 10 bytes, unique ignoring case (:func:`shapefile_field_names`); the field map
  gives ``shp_field → catalog_field``.
- Text values: at most 254 bytes of UTF-8. A longer value is split at character boundaries into
  continuation fields (``<name>_2``, ``<name>_3`` …, listed in the field map with their part number) and a
  :class:`LongValueWarning` names the layer, field and features; ``long_values="refuse"`` raises
  :class:`ExportError` instead. A value is never cut inside a character, and :func:`read_shapefile` joins
  the parts, so text round-trips exactly.
  At most :data:`MAX_PARTS` parts are kept: beyond that (e.g. a 200,000-character name) the value is cut at a
  character boundary with a :class:`LongValueWarning` naming layer, field and feature (the GeoPackage keeps
  the whole text), or refused with ``long_values="refuse"``.
- Numbers: written by tjspatial's own DBF writer (:func:`write_dbf`) with a width and a decimal count per
  field: floats rounded to the decimals declared for the field in the catalog (``[layer.field_labels]``
  ``decimals``), else to the fewest decimals (≤ 15) that give back each value's shortest form — so QGIS shows
  ``16.037``, not ``16.036999999999999``. Integers exactly.
- Booleans: integers ``N(1,0)``, code **1 = true, 0 = false** (empty = missing), since ``L`` fields read back
  inconsistently ('T'/'F' text in many tools).
- Empty text is written as an empty (blank) value. Note: the DBF format cannot tell an empty text from a
  missing one, and GDAL/QGIS show a blank text field as NULL; :func:`read_shapefile` returns ``''``.
- Aliases: the ``.qml`` carries every field's alias (catalog label, unit and the full field name), so QGIS
  shows full names in attribute tables and forms.
- Lines and polygons are written as Multi geometries.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..catalog import Catalog, Layer, get_catalog
from ..crs import STORAGE_CRS
from ..errors import InputError, MissingFileError, TjSpatialError
from .qgis_project import metadata_qmd
from .qml import style_qml

__all__ = [
    "write_shapefile",
    "read_shapefile",
    "shapefile_field_names",
    "split_utf8",
    "restore_types",
    "write_dbf",
    "float_decimals",
    "ExportError",
    "LongValueWarning",
    "DBF_MAX_BYTES",
    "DBF_MAX_NAME",
    "MAX_PARTS",
    "BOOL_CODES",
]

DBF_MAX_BYTES = 254
"""Longest text a DBF field holds, in bytes (here: bytes of UTF-8)."""
DBF_MAX_NAME = 10
"""Longest DBF field name, in bytes (ASCII)."""
MAX_PARTS = 8
"""Most DBF fields one text value is split into (8 × 254 bytes); longer text is cut, with a warning."""
BOOL_CODES = {True: 1, False: 0}
"""How booleans are stored in the DBF: 1 = true, 0 = false; a blank value is missing."""
FIELD_MAP_COLUMNS = ("shp_field", "catalog_field", "part", "type", "decimals")


class ExportError(TjSpatialError):
    """An export was refused; the message names the layer, file, feature and field at fault."""


class LongValueWarning(UserWarning):
    """A text value was longer than a DBF field holds and was split into continuation fields."""


def _unique(candidate: str, taken: set[str]) -> str:
    name, n = candidate[:DBF_MAX_NAME], 1
    while name.upper() in taken:
        suffix = f"_{n}"
        name = candidate[: DBF_MAX_NAME - len(suffix)] + suffix
        n += 1
    taken.add(name.upper())
    return name


def _ascii_name(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", name.encode("ascii", "replace").decode("ascii"))
    return base if base and not base[0].isdigit() else f"f_{base}"


def shapefile_field_names(layer: Layer) -> dict[str, str]:
    """Catalog field name → DBF field name (ASCII, ≤ 10 bytes, unique ignoring case), in catalog order.

    Names that fit are kept; longer ones are cut to 10 characters, and a clash gets a ``_1``, ``_2`` …
    suffix. Non-ASCII characters become ``_``.

    Parameters
    ----------
    layer : Layer
        The catalog layer.

    Returns
    -------
    dict of str to str
        Catalog field → DBF field name.
    """
    taken: set[str] = set()
    return {name: _unique(_ascii_name(name), taken) for name in layer.all_fields}


def split_utf8(text: str, limit: int = DBF_MAX_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` bytes of UTF-8 each, split only between characters.

    Parameters
    ----------
    text : str
        The value.
    limit : int, optional
        Bytes per piece; default 254 (a DBF text field).

    Returns
    -------
    list of str
        The pieces, in order (one piece, maybe ``""``, when the text fits).
    """
    if len(text.encode("utf-8")) <= limit:
        return [text]
    sizes = np.fromiter((len(ch.encode("utf-8")) for ch in text), dtype=np.int64, count=len(text))
    parts, start, used = [], 0, 0
    for i, size in enumerate(sizes):
        if used + size > limit:
            parts.append(text[start:i])
            start, used = i, 0
        used += size
    parts.append(text[start:])
    return parts


def _split_column(layer: Layer, name: str, values: pd.Series, long_values: str, names: list[str]) -> list[pd.Series]:
    """The text column as 1..n part columns of at most DBF_MAX_BYTES bytes each."""
    nbytes = values.str.encode("utf-8").str.len().fillna(0).to_numpy()
    too_long = np.flatnonzero(nbytes > DBF_MAX_BYTES)
    if too_long.size == 0:
        return [values]
    where = ", ".join(f"{i} ({names[i][:40]!r}, {int(nbytes[i])} bytes)" for i in too_long[:5])
    if long_values == "refuse":
        raise ExportError(
            f"layer {layer.id!r}, field {name!r}: {too_long.size} value(s) longer than the "
            f"{DBF_MAX_BYTES} bytes a DBF field holds, features {where}; split them (long_values='split', "
            f"the CLI default) or use the GeoPackage"
        )
    pieces = {i: split_utf8(values.iat[i]) for i in too_long}
    cut = [i for i, p in pieces.items() if len(p) > MAX_PARTS]
    if cut:
        where_cut = ", ".join(f"{i} ({names[i][:40]!r}, {int(nbytes[i])} bytes)" for i in cut[:5])
        warnings.warn(
            f"layer {layer.id!r}, field {name!r}: {len(cut)} value(s) longer than {MAX_PARTS} DBF fields "
            f"({MAX_PARTS * DBF_MAX_BYTES} bytes) cut at a character boundary, features {where_cut}; "
            f"the GeoPackage keeps the whole text",
            LongValueWarning,
            stacklevel=4,
        )
        for i in cut:
            pieces[i] = pieces[i][:MAX_PARTS]
    n_parts = max(len(p) for p in pieces.values())
    warnings.warn(
        f"layer {layer.id!r}, field {name!r}: {too_long.size} value(s) longer than {DBF_MAX_BYTES} "
        f"bytes split into {n_parts} fields at character boundaries (features {where}); "
        f"read_shapefile joins them",
        LongValueWarning,
        stacklevel=4,
    )
    cols = [values.copy()] + [
        pd.Series([""] * len(values), index=values.index, dtype=object) for _ in range(n_parts - 1)
    ]
    for i, parts in pieces.items():
        for k, part in enumerate(parts):
            cols[k].iat[i] = part
    return cols


def _atomic_files(tmp_dir: Path, out_dir: Path) -> list[Path]:
    out = []
    for f in sorted(tmp_dir.iterdir()):
        os.replace(f, out_dir / f.name)
        out.append(out_dir / f.name)
    return out


def float_decimals(values: np.ndarray, declared: int | None = None, limit: int = 15) -> int:
    """Decimals a float column is written with: ``declared`` if given, else the fewest (≤ ``limit``) that
    give back every value's shortest decimal form (16.037 → 3).

    Parameters
    ----------
    values : numpy.ndarray
        The column's values (NaN for missing).
    declared : int, optional
        Decimals declared in the catalog (``decimals``).
    limit : int, default 15
        The most decimals used.

    Returns
    -------
    int
        The decimals.
    """
    if declared is not None:
        return int(declared)
    vals = np.unique(values[np.isfinite(values)])
    for d in range(limit + 1):
        if all(float(f"{v:.{d}f}") == v for v in vals):
            return d
    return limit


def write_dbf(path: str | Path, columns: list[tuple[str, str, list, int]], n_records: int) -> Path:
    """Write a dBase III table (``.dbf``) with exact field widths and decimals; returns ``path``.

    Text is padded with blanks; missing numbers are blanks (read as NULL by GDAL and QGIS).

    Parameters
    ----------
    path : str or pathlib.Path
        Target file.
    columns : list of tuple
        ``(name, kind, values, decimals)`` per field, in order: kind ``"C"`` (text, UTF-8, values str),
        ``"N"`` (number; values float/int or None/NaN for missing, formatted with ``decimals``).
    n_records : int
        Number of records (every ``values`` list has this length).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import datetime as _dt
    import struct

    encoded: list[tuple[str, str, list[bytes], int, int]] = []
    for name, kind, values, decimals in columns:
        if len(values) != n_records:
            raise ExportError(f"{path}: field {name!r} has {len(values)} values for {n_records} records")
        if kind == "C":
            cells = [("" if v is None else str(v)).encode("utf-8") for v in values]
            width = max([len(c) for c in cells] + [1])
            if width > DBF_MAX_BYTES:
                raise ExportError(f"{path}: field {name!r} holds a value of {width} bytes (> {DBF_MAX_BYTES})")
            dec = 0
        elif kind == "N":
            cells = []
            for v in values:
                if v is None or v is pd.NA or (isinstance(v, float) and not np.isfinite(v)):
                    cells.append(b"")
                elif decimals:
                    text = f"{float(v):.{decimals}f}"
                    cells.append(text.encode("ascii"))
                else:
                    cells.append(str(int(round(float(v)))).encode("ascii"))
            width = max([len(c) for c in cells] + [1])
            if width > 32:
                raise ExportError(f"{path}: field {name!r}: a number needs {width} characters (DBF numbers: <= 32)")
            dec = int(decimals)
        else:
            raise ValueError(f"DBF field kind must be 'C' or 'N', not {kind!r}")
        encoded.append((name, kind, cells, width, dec))
    header_len = 32 + 32 * len(encoded) + 1
    record_len = 1 + sum(e[3] for e in encoded)
    today = _dt.date.today()
    head = struct.pack(
        "<BBBBIHH20x", 0x03, today.year - 1900, today.month, today.day, n_records, header_len, record_len
    )
    parts = [head]
    for name, kind, _cells, width, dec in encoded:
        raw = name.encode("ascii")[:DBF_MAX_NAME]
        parts.append(struct.pack("<11sc4xBB14x", raw, kind.encode("ascii"), width, dec))
    parts.append(b"\r")
    for i in range(n_records):
        row = [b" "]
        for _name, kind, cells, width, _dec in encoded:
            row.append(cells[i].ljust(width) if kind == "C" else cells[i].rjust(width))
        parts.append(b"".join(row))
    parts.append(b"\x1a")
    path = Path(path)
    path.write_bytes(b"".join(parts))
    return path


def write_shapefile(
    gdf: gpd.GeoDataFrame,
    layer: Layer,
    out_dir: str | Path,
    *,
    catalog: Catalog | None = None,
    provenance: Mapping[str, str] | None = None,
    long_values: str = "split",
    crs: str = STORAGE_CRS,
) -> list[Path]:
    """Write one catalog layer as ``<out_dir>/<layer.id>.shp`` with its sidecars; returns the files written.

    All files are first written to a temporary folder inside ``out_dir`` and each is renamed into place only
    when the whole set is complete.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer (catalog schema, as from ``tj.load``).
    layer : Layer
        Its catalog declaration.
    out_dir : str or pathlib.Path
        Target folder (created if needed).
    catalog : Catalog, optional
        For licences and attributions in the metadata; default ``tj.get_catalog()``.
    provenance : mapping of str to str, optional
        The layer's row of the GeoPackage ``provenance`` table, for the metadata history.
    long_values : {"split", "refuse"}, default "split"
        ``"split"`` (warn with :class:`LongValueWarning`) or ``"refuse"`` (raise :class:`ExportError`) for text
        values over 254 bytes of UTF-8.
    crs : str, default "EPSG:4326"
        CRS of the written coordinates (e.g. ``"EPSG:4548"`` for CGCS2000 metres).

    Returns
    -------
    list of pathlib.Path
        ``.shp``, ``.shx``, ``.dbf``, ``.prj``, ``.cpg``, ``.qml``, ``.qmd`` (metadata) and ``.fields.csv``.
    """
    if long_values not in ("split", "refuse"):
        raise InputError(f"long_values must be 'split' or 'refuse', not {long_values!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = [f for f in layer.all_fields if f not in gdf.columns]
    if missing:
        raise ExportError(f"layer {layer.id!r}: the data lacks catalog field(s) {missing}")
    names = shapefile_field_names(layer)
    taken = {n.upper() for n in names.values()}
    labels = (gdf["name_zh"].astype(str) if "name_zh" in gdf.columns else pd.Series([""] * len(gdf))).tolist()
    dbf_cols: list[tuple[str, str, list, int]] = []
    rows = []
    for field, ftype in layer.all_fields.items():
        col = gdf[field].reset_index(drop=True)
        label = layer.field_label(field) if hasattr(layer, "field_label") else None
        if ftype in ("str", "date"):
            col = col.astype(object).where(col.notna(), "").map(str)
            parts = _split_column(layer, field, col, long_values, labels)
            kinds = [("C", list(p), 0) for p in parts]
        elif ftype == "bool":
            vals = [
                None if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else BOOL_CODES[bool(v)]
                for v in col.tolist()
            ]
            kinds = [("N", vals, 0)]
        elif ftype == "int":
            kinds = [
                (
                    "N",
                    [
                        None if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else int(v)
                        for v in col.tolist()
                    ],
                    0,
                )
            ]
        else:
            num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            declared = getattr(label, "decimals", None) if label is not None else None
            d = float_decimals(num, declared)
            kinds = [("N", [None if not np.isfinite(v) else float(np.round(v, d)) for v in num], d)]
        for k, (kind, vals, dec) in enumerate(kinds, 1):
            shp = names[field] if k == 1 else _unique(f"{names[field][: DBF_MAX_NAME - 1 - len(str(k))]}_{k}", taken)
            dbf_cols.append((shp, kind, vals, dec))
            rows.append({"shp_field": shp, "catalog_field": field, "part": k, "type": ftype, "decimals": dec})
    geoms = gpd.GeoSeries(gdf.geometry.to_numpy(), crs=gdf.crs if gdf.crs is not None else STORAGE_CRS)
    table = gpd.GeoDataFrame({"_tj_": np.zeros(len(gdf), dtype=np.int32)}, geometry=geoms.to_crs(crs))
    shp_names = {r["catalog_field"]: r["shp_field"] for r in rows if r["part"] == 1}

    tmp_dir = out_dir / f".{layer.id}.shp.tmp-{os.getpid()}"
    if tmp_dir.exists():
        shutil.rmtree(tmp_dir)
    tmp_dir.mkdir()
    try:
        pyogrio.write_dataframe(
            table,
            tmp_dir / f"{layer.id}.shp",
            driver="ESRI Shapefile",
            encoding="UTF-8",
            promote_to_multi=layer.geometry_type != "Point",
        )
        write_dbf(tmp_dir / f"{layer.id}.dbf", dbf_cols, len(gdf))
        (tmp_dir / f"{layer.id}.cpg").write_text("UTF-8", encoding="ascii")
        (tmp_dir / f"{layer.id}.qml").write_text(
            style_qml(layer, field_names=shp_names, data=gdf, file_fields=[c[0] for c in dbf_cols]), encoding="utf-8"
        )
        bounds = tuple(gdf.to_crs(STORAGE_CRS).total_bounds) if len(gdf) else None
        (tmp_dir / f"{layer.id}.qmd").write_text(
            metadata_qmd(layer, catalog or get_catalog(), provenance, bounds), encoding="utf-8"
        )
        pd.DataFrame(rows, columns=list(FIELD_MAP_COLUMNS)).to_csv(
            tmp_dir / f"{layer.id}.fields.csv", index=False, encoding="utf-8-sig"
        )
        return _atomic_files(tmp_dir, out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def restore_types(df: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """Give columns their catalog types: str/date → text ('' for missing), int → int64 (Int64 with
    missing values), float → float64, bool → bool. Columns not in ``types`` are left alone.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    types : mapping of str to str
        Column → catalog type (``str``, ``int``, ``float``, ``bool``, ``date``).

    Returns
    -------
    pandas.DataFrame
        A copy with the types restored.
    """
    df = df.copy()
    for name, ftype in types.items():
        if name not in df.columns:
            continue
        col = df[name]
        if ftype in ("str", "date"):
            df[name] = col.astype(object).where(col.notna(), "").map(str)
        elif ftype == "int":
            num = pd.to_numeric(col)
            df[name] = num.astype("int64") if num.notna().all() else num.astype("Int64")
        elif ftype == "float":
            df[name] = pd.to_numeric(col).astype("float64")
        elif ftype == "bool":
            df[name] = col.fillna(False).astype(bool)
    return df


def read_shapefile(path: str | Path) -> gpd.GeoDataFrame:
    """Read a shapefile written by :func:`write_shapefile` back with catalog field names and types.

    Continuation parts of long text values are joined; the field map ``<id>.fields.csv`` beside the
    shapefile gives the names. Lines and polygons come back as Multi geometries (a shapefile does not
    distinguish single from multi parts), in EPSG:4326.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.shp`` file (its ``<id>.fields.csv`` must be beside it).

    Returns
    -------
    geopandas.GeoDataFrame
        Catalog field names and types, EPSG:4326.

    Raises
    ------
    MissingFileError
        The field map is not beside the shapefile.
    """
    path = Path(path)
    fmap_path = path.with_suffix(".fields.csv")
    if not fmap_path.is_file():
        raise MissingFileError(f"{path}: no field map {fmap_path.name} beside it (written by write_shapefile)")
    fmap = pd.read_csv(fmap_path, encoding="utf-8-sig", dtype={"shp_field": str, "catalog_field": str, "type": str})
    raw = pyogrio.read_dataframe(path, encoding="UTF-8")
    missing = sorted(set(fmap["shp_field"]) - set(raw.columns))
    if missing:
        raise ExportError(f"{path}: fields {missing} of the field map are not in the DBF")
    data = {}
    for field, group in fmap.sort_values("part", kind="stable").groupby("catalog_field", sort=False):
        cols = [raw[s] for s in group["shp_field"]]
        if len(cols) == 1:
            data[field] = cols[0]
        else:
            joined = cols[0].astype(object).where(cols[0].notna(), "").map(str)
            for c in cols[1:]:
                joined = joined + c.astype(object).where(c.notna(), "").map(str)
            data[field] = joined
    order = list(dict.fromkeys(fmap["catalog_field"]))
    geoms = raw.geometry.to_numpy().copy()
    types = shapely.get_type_id(geoms)
    for single, make in ((1, shapely.multilinestrings), (3, shapely.multipolygons)):  # the DBF has no Multi flag
        idx = np.flatnonzero(types == single)
        if idx.size:
            geoms[idx] = make(geoms[idx], indices=np.arange(idx.size))
    out = gpd.GeoDataFrame({f: data[f] for f in order}, geometry=gpd.GeoSeries(geoms, crs=raw.crs), crs=raw.crs)
    types = dict(zip(fmap.loc[fmap["part"] == 1, "catalog_field"], fmap.loc[fmap["part"] == 1, "type"]))
    return restore_types(out, types)
