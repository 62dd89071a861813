"""The rules every built or imported layer is checked by.

:func:`validate_layer` raises :class:`~tjspatial.errors.ValidationError` naming the layer, the feature
(index and name), the field and the rule at fault; :func:`layer_problems` returns every problem instead.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .catalog import ACCURACY_CLASSES, Layer
from .crs import STORAGE_CRS, check_gcj02
from .errors import ValidationError

__all__ = ["TIANJIN_ENVELOPE", "RULES", "geometry_problems", "layer_problems", "validate_layer"]

TIANJIN_ENVELOPE = (116.40, 38.25, 118.40, 40.55)
"""(min lon, min lat, max lon, max lat): Tianjin's extent (116.70–118.06E, 38.55–40.25N) plus ~25 km."""

RULES = {
    "crs": "stored in EPSG:4326",
    "not_empty": "the layer has at least one feature",
    "geometry_present": "no feature has a missing or empty geometry",
    "geometry_type": "geometry matches the declared type (or its Multi* form)",
    "geometry_valid": "geometry is valid (OGC simple features)",
    "fields": "every declared field is present with its type",
    "accuracy": "accuracy is one of the catalog's accuracy classes",
    "unique": "the layer's declared unique_fields have a distinct, non-empty value per feature",
    "envelope": "inside the Tianjin envelope plus margin",
    "gcj02": "not offset like GCJ-02 against the WGS84 reference points",
}

_FAMILY = {"Point": {0, 4}, "LineString": {1, 5}, "Polygon": {3, 6}}  # shapely type ids, incl. Multi*


def _feature(gdf: gpd.GeoDataFrame, i: int) -> str:
    name = gdf["name_zh"].iloc[i] if "name_zh" in gdf.columns else ""
    return f"#{i}" + (f" ({name})" if isinstance(name, str) and name else "")


def _type_ok(series: pd.Series, ftype: str) -> bool:
    if ftype in ("str", "date"):
        return series.map(lambda v: isinstance(v, str)).all()
    if ftype == "int":
        return pd.api.types.is_integer_dtype(series.dtype)
    if ftype == "float":
        return pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype)
    if ftype == "bool":
        return pd.api.types.is_bool_dtype(series.dtype)
    return False


_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
               6: "MultiPolygon", 7: "GeometryCollection"}


def geometry_problems(gdf: gpd.GeoDataFrame, layer: Layer) -> list[ValidationError]:
    """The geometry rules (``geometry_present``, ``geometry_type``, ``geometry_valid``) ``gdf`` breaks, in any CRS.

    Used by :func:`layer_problems` and, before any conversion, by the import workflow
    (:mod:`tjspatial.importer`). When a geometry is missing or empty, the other two rules are not checked.
    """
    lid = layer.id
    problems: list[ValidationError] = []
    geoms = np.asarray(gdf.geometry.values)
    bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(bad):
        problems.append(ValidationError(f"{len(bad)} feature(s) have a missing or empty geometry", layer=lid,
                                        feature=_feature(gdf, bad[0]), rule="geometry_present"))
        return problems
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(types, list(_FAMILY[layer.geometry_type])))
    if len(bad):
        got = int(types[bad[0]])
        problems.append(ValidationError(f"{len(bad)} feature(s) are {_TYPE_NAMES.get(got, got)}, the catalog "
                                        f"declares {layer.geometry_type}", layer=lid, feature=_feature(gdf, bad[0]),
                                        rule="geometry_type"))
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        reason = shapely.is_valid_reason(geoms[invalid[0]])
        problems.append(ValidationError(f"{len(invalid)} invalid geometr{'y' if len(invalid) == 1 else 'ies'}: "
                                        f"{reason}", layer=lid, feature=_feature(gdf, invalid[0]),
                                        rule="geometry_valid"))
    return problems


def layer_problems(gdf: gpd.GeoDataFrame, layer: Layer, *, check_gcj: bool = True,
                   envelope: tuple[float, float, float, float] = TIANJIN_ENVELOPE) -> list[ValidationError]:
    """Every rule ``gdf`` breaks as declared by ``layer``, as a list of :class:`ValidationError` (empty = valid)."""
    lid = layer.id
    problems: list[ValidationError] = []

    def err(msg, rule, feature=None, field=None):
        problems.append(ValidationError(msg, layer=lid, feature=feature, field=field, rule=rule))

    if gdf.crs is None or CRS.from_user_input(gdf.crs) != CRS.from_user_input(STORAGE_CRS):
        err(f"CRS is {gdf.crs}, not EPSG:4326", "crs")
        return problems
    if len(gdf) == 0:
        err("the layer has no features", "not_empty")
        return problems
    problems += geometry_problems(gdf, layer)
    if any(p.rule == "geometry_present" for p in problems):
        return problems
    geoms = np.asarray(gdf.geometry.values)
    for name, ftype in layer.all_fields.items():
        if name not in gdf.columns:
            err(f"declared field is missing (type {ftype})", "fields", field=name)
        elif not _type_ok(gdf[name], ftype):
            err(f"values are not of the declared type {ftype} (dtype {gdf[name].dtype})", "fields", field=name)
    for name in layer.extra.get("unique_fields", []):
        if name not in gdf.columns:
            continue
        values = gdf[name].astype(object).where(gdf[name].notna(), "").astype(str).str.strip()
        blank = np.flatnonzero((values == "").to_numpy())
        dup = np.flatnonzero(values.duplicated(keep="first").to_numpy() & (values != "").to_numpy())
        if len(blank):
            err(f"{len(blank)} feature(s) have an empty {name} (declared unique_fields: each feature needs its own "
                "value)", "unique", feature=_feature(gdf, blank[0]), field=name)
        elif len(dup):
            err(f"{len(dup)} feature(s) repeat a {name} value ({values.iloc[dup[0]]!r}); declared unique_fields must "
                "differ per feature", "unique", feature=_feature(gdf, dup[0]), field=name)
    if "accuracy" in gdf.columns:
        bad = np.flatnonzero(~gdf["accuracy"].isin(list(ACCURACY_CLASSES)).to_numpy())
        if len(bad):
            err(f"accuracy {gdf['accuracy'].iloc[bad[0]]!r} is not one of {list(ACCURACY_CLASSES)}", "accuracy",
                feature=_feature(gdf, bad[0]), field="accuracy")
    b = shapely.bounds(geoms)
    x0, y0, x1, y1 = envelope
    outside = np.flatnonzero((b[:, 0] < x0) | (b[:, 1] < y0) | (b[:, 2] > x1) | (b[:, 3] > y1))
    if len(outside):
        i = outside[0]
        err(f"{len(outside)} feature(s) lie outside Tianjin (bounds {np.round(b[i], 4).tolist()} exceed "
            f"{list(envelope)}); wrong CRS or swapped lon/lat?", "envelope", feature=_feature(gdf, i))
    if check_gcj and not problems and layer.geometry_type == "Point" and "name_zh" in gdf.columns:
        chk = check_gcj02(gdf)
        if chk.method == "named points" and chk.probable:
            err(f"looks like GCJ-02, not WGS84: the reference stations are {chk.offset_m:.0f} m away as given "
                f"and {chk.offset_if_gcj_m:.0f} m if read as GCJ-02. Convert it (tjspatial.crs.convert_gdf(gdf, "
                f"'gcj02', 'wgs84')) or import it with --crs gcj02", "gcj02")
    return problems


def validate_layer(gdf: gpd.GeoDataFrame, layer: Layer, **kwargs) -> None:
    """Raise the first :class:`ValidationError` of :func:`layer_problems`, or return ``None`` when valid."""
    problems = layer_problems(gdf, layer, **kwargs)
    if problems:
        first = problems[0]
        if len(problems) > 1:
            first.args = (first.args[0] + f" (and {len(problems) - 1} more problem(s))",)
        raise first
