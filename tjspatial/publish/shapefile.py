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
- Numbers: floats are stored as DBF numeric text with 15 decimals (GDAL's ``Real(24,15)``), i.e. to
  0.5e-15 absolute; integers and booleans exactly. Lines and polygons are written as Multi geometries.
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
from ..errors import TjSpatialError
from .qgis_project import metadata_qmd
from .qml import style_qml

__all__ = ["write_shapefile", "read_shapefile", "shapefile_field_names", "split_utf8", "restore_types",
           "ExportError", "LongValueWarning", "DBF_MAX_BYTES", "DBF_MAX_NAME"]

DBF_MAX_BYTES = 254
"""Longest text a DBF field holds, in bytes (here: bytes of UTF-8)."""
DBF_MAX_NAME = 10
"""Longest DBF field name, in bytes (ASCII)."""
FIELD_MAP_COLUMNS = ("shp_field", "catalog_field", "part", "type")


class ExportError(TjSpatialError):
    """An export was refused; the message names the layer, file, feature and field at fault."""


class LongValueWarning(UserWarning):
    """A text value was longer than a DBF field holds and was split into continuation fields."""


def _unique(candidate: str, taken: set[str]) -> str:
    name, n = candidate[:DBF_MAX_NAME], 1
    while name.upper() in taken:
        suffix = f"_{n}"
        name = candidate[:DBF_MAX_NAME - len(suffix)] + suffix
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
    """
    taken: set[str] = set()
    return {name: _unique(_ascii_name(name), taken) for name in layer.all_fields}


def split_utf8(text: str, limit: int = DBF_MAX_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` bytes of UTF-8 each, split only between characters."""
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
    where = ", ".join(f"{i} ({names[i]!r}, {int(nbytes[i])} bytes)" for i in too_long[:5])
    if long_values == "refuse":
        raise ExportError(f"layer {layer.id!r}, field {name!r}: {too_long.size} value(s) longer than the "
                          f"{DBF_MAX_BYTES} bytes a DBF field holds, features {where}; split them (long_values='split', "
                          f"the CLI default) or use the GeoPackage")
    pieces = {i: split_utf8(values.iat[i]) for i in too_long}
    n_parts = max(len(p) for p in pieces.values())
    warnings.warn(f"layer {layer.id!r}, field {name!r}: {too_long.size} value(s) longer than {DBF_MAX_BYTES} "
                  f"bytes split into {n_parts} fields at character boundaries (features {where}); "
                  f"read_shapefile joins them", LongValueWarning, stacklevel=4)
    cols = [values.copy()] + [pd.Series([""] * len(values), index=values.index, dtype=object)
                              for _ in range(n_parts - 1)]
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


def write_shapefile(gdf: gpd.GeoDataFrame, layer: Layer, out_dir: str | Path, *, catalog: Catalog | None = None,
                    provenance: Mapping[str, str] | None = None, long_values: str = "split") -> list[Path]:
    """Write one catalog layer as ``<out_dir>/<layer.id>.shp`` with its sidecars; returns the files written.

    Parameters
    ----------
    gdf : the layer (catalog schema, as from ``tj.load``), EPSG:4326; written in EPSG:4326.
    layer : its catalog declaration.
    out_dir : target folder (created if needed).
    catalog : for licences and attributions in the metadata; default ``tj.get_catalog()``.
    provenance : the layer's row of the GeoPackage ``provenance`` table, for the metadata history.
    long_values : ``"split"`` (default; warn with :class:`LongValueWarning`) or ``"refuse"`` (raise
        :class:`ExportError`) for text values over 254 bytes of UTF-8.

    All files are first written to a temporary folder inside ``out_dir`` and each is renamed into place only
    when the whole set is complete.
    """
    if long_values not in ("split", "refuse"):
        raise ValueError(f"long_values must be 'split' or 'refuse', not {long_values!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = [f for f in layer.all_fields if f not in gdf.columns]
    if missing:
        raise ExportError(f"layer {layer.id!r}: the data lacks catalog field(s) {missing}")
    names = shapefile_field_names(layer)
    taken = {n.upper() for n in names.values()}
    labels = (gdf["name_zh"].astype(str) if "name_zh" in gdf.columns else pd.Series([""] * len(gdf))).tolist()
    columns: dict[str, object] = {}
    rows = []
    for field, ftype in layer.all_fields.items():
        col = gdf[field].reset_index(drop=True)
        if ftype in ("str", "date"):
            col = col.astype(object).where(col.notna(), "").map(str)
            parts = _split_column(layer, field, col, long_values, labels)
        else:
            parts = [col]
        for k, part in enumerate(parts, 1):
            shp = names[field] if k == 1 else _unique(f"{names[field][:DBF_MAX_NAME - 1 - len(str(k))]}_{k}", taken)
            columns[shp] = part.to_numpy() if ftype != "int" else part.array
            rows.append({"shp_field": shp, "catalog_field": field, "part": k, "type": ftype})
    table = gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(gdf.geometry.to_numpy(), crs=gdf.crs))
    table = table.to_crs(STORAGE_CRS) if table.crs is not None else table.set_crs(STORAGE_CRS)
    shp_names = {r["catalog_field"]: r["shp_field"] for r in rows if r["part"] == 1}

    tmp_dir = out_dir / f".{layer.id}.shp.tmp-{os.getpid()}"
    if tmp_dir.exists():
        shutil.rmtree(tmp_dir)
    tmp_dir.mkdir()
    try:
        pyogrio.write_dataframe(table, tmp_dir / f"{layer.id}.shp", driver="ESRI Shapefile", encoding="UTF-8",
                                promote_to_multi=layer.geometry_type != "Point")
        (tmp_dir / f"{layer.id}.cpg").write_text("UTF-8", encoding="ascii")
        (tmp_dir / f"{layer.id}.qml").write_text(style_qml(layer, field_names=shp_names), encoding="utf-8")
        (tmp_dir / f"{layer.id}.qmd").write_text(metadata_qmd(layer, catalog or get_catalog(), provenance),
                                                 encoding="utf-8")
        pd.DataFrame(rows, columns=list(FIELD_MAP_COLUMNS)).to_csv(tmp_dir / f"{layer.id}.fields.csv",
                                                                   index=False, encoding="utf-8")
        return _atomic_files(tmp_dir, out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def restore_types(df: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """Give columns their catalog types: str/date → text ('' for missing), int → int64 (Int64 with
    missing values), float → float64, bool → bool. Columns not in ``types`` are left alone."""
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
    """
    path = Path(path)
    fmap_path = path.with_suffix(".fields.csv")
    if not fmap_path.is_file():
        raise FileNotFoundError(f"{path}: no field map {fmap_path.name} beside it (written by write_shapefile)")
    fmap = pd.read_csv(fmap_path, encoding="utf-8", dtype={"shp_field": str, "catalog_field": str, "type": str})
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
