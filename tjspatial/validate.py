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

from .catalog import ACCURACY_CLASSES, CatalogError, Layer
from .crs import STORAGE_CRS, check_gcj02, transformer
from .errors import ValidationError

__all__ = [
    "TIANJIN_ENVELOPE",
    "RULES",
    "geometry_problems",
    "layer_problems",
    "validate_layer",
    "check_coordinates",
    "parse_column_rule",
    "table_problems",
    "check_table",
    "check_population_raster",
]

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
    "coordinates": "coordinates are finite, and within ±180°/±90° when the CRS is geographic",
    "column_type": "a declared table column holds values of its type (int, float, str)",
    "column_min": "a declared table column's values are at least its declared minimum (e.g. census >= 0)",
    "raster_crs": "a population raster has a CRS",
    "raster_overlap": "a population raster overlaps Tianjin's envelope",
    "raster_nodata": "a population raster has valid (not nodata) cells over Tianjin, not all of them 0",
    "raster_sign": "population counts are not negative",
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


_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def geometry_problems(gdf: gpd.GeoDataFrame, layer: Layer) -> list[ValidationError]:
    """The geometry rules (``geometry_present``, ``geometry_type``, ``geometry_valid``) ``gdf`` breaks, in any CRS.

    Used by :func:`layer_problems` and, before any conversion, by the import workflow
    (:mod:`tjspatial.importer`). When a geometry is missing or empty, the other two rules are not checked.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The features (any CRS).
    layer : Layer
        Its catalog declaration (``geometry_type``).

    Returns
    -------
    list of ValidationError
        Empty when the geometries are valid.
    """
    lid = layer.id
    problems: list[ValidationError] = []
    geoms = np.asarray(gdf.geometry.values)
    bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(bad):
        problems.append(
            ValidationError(
                f"{len(bad)} feature(s) have a missing or empty geometry",
                layer=lid,
                feature=_feature(gdf, bad[0]),
                rule="geometry_present",
            )
        )
        return problems
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(types, list(_FAMILY[layer.geometry_type])))
    if len(bad):
        got = int(types[bad[0]])
        problems.append(
            ValidationError(
                f"{len(bad)} feature(s) are {_TYPE_NAMES.get(got, got)}, the catalog declares {layer.geometry_type}",
                layer=lid,
                feature=_feature(gdf, bad[0]),
                rule="geometry_type",
            )
        )
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        reason = shapely.is_valid_reason(geoms[invalid[0]])
        problems.append(
            ValidationError(
                f"{len(invalid)} invalid geometr{'y' if len(invalid) == 1 else 'ies'}: {reason}",
                layer=lid,
                feature=_feature(gdf, invalid[0]),
                rule="geometry_valid",
            )
        )
    return problems


def layer_problems(
    gdf: gpd.GeoDataFrame,
    layer: Layer,
    *,
    check_gcj: bool = True,
    envelope: tuple[float, float, float, float] = TIANJIN_ENVELOPE,
) -> list[ValidationError]:
    """Every rule ``gdf`` breaks as declared by ``layer``, as a list of :class:`ValidationError` (empty = valid).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        A built layer (EPSG:4326, catalog schema).
    layer : Layer
        Its catalog declaration (fields, accuracy, ``unique_fields``, ``tianjin_margin_km``).
    check_gcj : bool, default True
        Also test whether lon/lat data is probably in GCJ-02 (:func:`tjspatial.crs.check_gcj02`).
    envelope : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)`` in degrees that the data must overlap; default Tianjin's.

    Returns
    -------
    list of ValidationError
        Every rule broken (empty = valid).
    """
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
            err(
                f"{len(blank)} feature(s) have an empty {name} (declared unique_fields: each feature needs its own "
                "value)",
                "unique",
                feature=_feature(gdf, blank[0]),
                field=name,
            )
        elif len(dup):
            err(
                f"{len(dup)} feature(s) repeat a {name} value ({values.iloc[dup[0]]!r}); declared unique_fields must "
                "differ per feature",
                "unique",
                feature=_feature(gdf, dup[0]),
                field=name,
            )
    if "accuracy" in gdf.columns:
        bad = np.flatnonzero(~gdf["accuracy"].isin(list(ACCURACY_CLASSES)).to_numpy())
        if len(bad):
            err(
                f"accuracy {gdf['accuracy'].iloc[bad[0]]!r} is not one of {list(ACCURACY_CLASSES)}",
                "accuracy",
                feature=_feature(gdf, bad[0]),
                field="accuracy",
            )
    b = shapely.bounds(geoms)
    x0, y0, x1, y1 = envelope
    outside = np.flatnonzero((b[:, 0] < x0) | (b[:, 1] < y0) | (b[:, 2] > x1) | (b[:, 3] > y1))
    if len(outside):
        i = outside[0]
        err(
            f"{len(outside)} feature(s) lie outside Tianjin (bounds {np.round(b[i], 4).tolist()} exceed "
            f"{list(envelope)}); wrong CRS or swapped lon/lat?",
            "envelope",
            feature=_feature(gdf, i),
        )
    if check_gcj and not problems and layer.geometry_type == "Point" and "name_zh" in gdf.columns:
        chk = check_gcj02(gdf)
        if chk.method == "named points" and chk.probable:
            err(
                f"looks like GCJ-02, not WGS84: the reference stations are {chk.offset_m:.0f} m away as given "
                f"and {chk.offset_if_gcj_m:.0f} m if read as GCJ-02. Convert it (tjspatial.crs.convert_gdf(gdf, "
                f"'gcj02', 'wgs84')) or import it with --crs gcj02",
                "gcj02",
            )
    return problems


def validate_layer(gdf: gpd.GeoDataFrame, layer: Layer, **kwargs) -> None:
    """Raise the first :class:`ValidationError` of :func:`layer_problems`, or return ``None`` when valid.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        A built layer.
    layer : Layer
        Its catalog declaration.
    **kwargs
        Passed to :func:`layer_problems`.

    Raises
    ------
    ValidationError
        The first rule broken, naming layer, feature, field and rule.
    """
    problems = layer_problems(gdf, layer, **kwargs)
    if problems:
        first = problems[0]
        if len(problems) > 1:
            first.args = (first.args[0] + f" (and {len(problems) - 1} more problem(s))",)
        raise first


# ------------------------------------------------------------------------------------------------ coordinates


def check_coordinates(gdf: gpd.GeoDataFrame | gpd.GeoSeries, what: str) -> None:
    """Refuse coordinates that cannot be what their CRS says (rule ``coordinates``).

    NaN or infinite coordinates, and in a geographic CRS (e.g. EPSG:4326) longitudes beyond ±180° or
    latitudes beyond ±90° — typically metric coordinates labelled EPSG:4326 — raise
    :class:`~tjspatial.errors.ValidationError` naming ``what`` (a layer id or description) and the feature.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or geopandas.GeoSeries
        The geometries, with their CRS.
    what : str
        A layer id or description, named in the error.

    Raises
    ------
    ValidationError
        Rule ``coordinates``.
    """
    geoms = np.asarray(gdf.geometry.values if isinstance(gdf, gpd.GeoDataFrame) else gdf.values)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    coords, index = shapely.get_coordinates(geoms[present], return_index=True)
    rows = np.flatnonzero(present)
    frame = gdf if isinstance(gdf, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=gdf)
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        i = rows[index[bad][0]]
        raise ValidationError(
            f"{int(np.unique(index[bad]).size)} feature(s) have NaN or infinite coordinates",
            layer=what,
            feature=_feature(frame, i),
            rule="coordinates",
        )
    crs = gdf.crs
    if crs is not None and CRS.from_user_input(crs).is_geographic and len(coords):
        out = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
        if out.any():
            i = rows[index[out][0]]
            x, y = coords[out][0]
            raise ValidationError(
                f"{int(np.unique(index[out]).size)} feature(s) have coordinates ({x:.1f}, {y:.1f}) "
                f"beyond ±180°/±90°, yet the CRS is {CRS.from_user_input(crs).to_string()} "
                "(lon/lat): metric coordinates labelled as degrees? Set the real CRS "
                "(gdf.set_crs('EPSG:4548', allow_override=True))",
                layer=what,
                feature=_feature(frame, i),
                rule="coordinates",
            )


# ------------------------------------------------------------------------------------------------ tables


def parse_column_rule(rule: str, column: str = "") -> tuple[str, float | None]:
    """``"int >= 0"`` → ``("int", 0.0)``; ``"float"`` → ``("float", None)``: a declared column rule.

    Parameters
    ----------
    rule : str
        ``TYPE`` or ``TYPE >= NUMBER``, TYPE one of int, float, str (a source's ``columns`` in the catalog).
    column : str, optional
        The column the rule is declared for (named in the error).

    Returns
    -------
    tuple of (str, float or None)
        The type and the minimum (None when the rule has none).

    Raises
    ------
    CatalogError
        For anything else (also a :class:`ValueError`), naming the column and the rule.
    """
    text = str(rule).replace(" ", "")
    ftype, sep, bound = text.partition(">=")
    if ftype not in ("int", "float", "str") or (sep and not bound):
        raise CatalogError(
            f"{'column ' + repr(column) + ': ' if column else ''}column rule {rule!r} is not TYPE or "
            "TYPE >= NUMBER (TYPE: int, float, str)"
        )
    return ftype, (float(bound) if sep else None)


def table_problems(
    df: pd.DataFrame, columns: dict[str, str], *, file: str | None = None, key: str | None = None
) -> list[ValidationError]:
    """Every declared column rule (``{"pop_2020": "int >= 0"}``) that the table ``df`` (read from ``file``) breaks.

    Each problem names the file, the field, the row (1-based data row; ``key`` adds that column's value)
    and the rule (``fields`` for a missing column, ``column_type``, ``column_min``).

    Parameters
    ----------
    df : pandas.DataFrame
        The table as read.
    columns : dict of str to str
        Column rules (``"int >= 0"``, ``"float"``, ``"str"``).
    file : str, optional
        The file it was read from, named in the problems.
    key : str, optional
        A column whose value names the row in the problems.

    Returns
    -------
    list of ValidationError
        Empty when every rule holds.
    """
    problems: list[ValidationError] = []
    for name, rule in columns.items():
        ftype, minimum = parse_column_rule(rule, name)
        if name not in df.columns:
            problems.append(
                ValidationError(f"declared column is missing (rule {rule!r})", file=file, field=name, rule="fields")
            )
            continue
        col = df[name]

        def show(v) -> str:
            return repr(v) if isinstance(v, str) else str(v.item() if hasattr(v, "item") else v)

        def row(i: int) -> str:
            tag = f" ({key} {df[key].iloc[i]})" if key and key in df.columns and key != name else ""
            return f"row {i + 1}{tag}"

        if ftype == "str":
            continue
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            problems.append(
                ValidationError(
                    f"{row(bad[0])}: value {show(col.iloc[bad[0]])} is not a number "
                    f"({len(bad)} such row(s); declared {rule!r})",
                    file=file,
                    field=name,
                    feature=row(bad[0]),
                    rule="column_type",
                )
            )
            continue
        if ftype == "int":
            frac = np.flatnonzero(values != np.round(values))
            if len(frac):
                problems.append(
                    ValidationError(
                        f"{row(frac[0])}: value {show(col.iloc[frac[0]])} is not a whole number (declared {rule!r})",
                        file=file,
                        field=name,
                        feature=row(frac[0]),
                        rule="column_type",
                    )
                )
                continue
        if minimum is not None:
            low = np.flatnonzero(values < minimum)
            if len(low):
                problems.append(
                    ValidationError(
                        f"{row(low[0])}: value {show(col.iloc[low[0]])} is below the declared "
                        f"minimum {minimum:g} ({len(low)} such row(s); rule {rule!r})",
                        file=file,
                        field=name,
                        feature=row(low[0]),
                        rule="column_min",
                    )
                )
    return problems


def check_table(
    df: pd.DataFrame,
    columns: dict[str, str],
    *,
    file: str | None = None,
    key: str | None = None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Raise the first problem of :func:`table_problems`; else return ``df`` with the numeric columns converted.

    Parameters
    ----------
    df : pandas.DataFrame
        The table as read.
    columns : dict of str to str
        Column rules (``"int >= 0"``, ``"float"``, ``"str"``).
    file : str, optional
        The file it was read from, named in the error.
    key : str, optional
        A column whose value names the row in the error.
    layer : str, optional
        The layer being built, named in the error.

    Returns
    -------
    pandas.DataFrame
        A copy with ``int`` columns as int64 and ``float`` columns as float64.

    Raises
    ------
    ValidationError
        The first rule broken.
    """
    problems = table_problems(df, columns, file=file, key=key)
    if problems:
        first = problems[0]
        first.layer = layer
        raise ValidationError(
            first.message + (f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""),
            layer=layer,
            file=file,
            feature=first.feature,
            field=first.field,
            rule=first.rule,
        )
    out = df.copy()
    for name, rule in columns.items():
        ftype, _ = parse_column_rule(rule, name)
        if ftype == "int":
            out[name] = pd.to_numeric(out[name]).astype("int64")
        elif ftype == "float":
            out[name] = pd.to_numeric(out[name]).astype("float64")
    return out


# ------------------------------------------------------------------------------------------------ rasters


def check_population_raster(
    values: np.ma.MaskedArray, transform, crs, path: str, envelope: tuple[float, float, float, float] = TIANJIN_ENVELOPE
) -> None:
    """Refuse a population raster no analysis of Tianjin can use (rules ``raster_*``).

    ``values`` is band 1 read with ``masked=True`` (nodata masked). Refused: no CRS; bounds that do not
    overlap Tianjin's envelope (e.g. a raster over Africa); no valid cell over Tianjin, or all of them 0;
    negative counts (an undeclared nodata value such as -200 or -99999 is the usual cause).

    Parameters
    ----------
    values : numpy.ma.MaskedArray
        Band 1 read with ``masked=True`` (persons per cell).
    transform : affine.Affine
        The raster's transform.
    crs : rasterio.crs.CRS or None
        The raster's CRS.
    path : str
        The file, named in the error.
    envelope : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)`` in degrees; default Tianjin's.

    Raises
    ------
    ValidationError
        Rules ``raster_crs``, ``raster_overlap``, ``raster_nodata``, ``raster_sign``.
    """
    if crs is None:
        raise ValidationError("the raster has no CRS", file=path, rule="raster_crs")
    h, w = values.shape
    x0, y1 = transform * (0, 0)
    x1, y0 = transform * (w, h)
    try:
        tr = transformer(CRS.from_user_input(crs), "EPSG:4326")  # created once per CRS (~0.1 s each)
        lon0, lat0, lon1, lat1 = tr.transform_bounds(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    except Exception as exc:  # pyproj errors: a CRS that cannot reach lon/lat
        raise ValidationError(f"cannot place the raster on the globe ({exc})", file=path, rule="raster_crs") from exc
    ex0, ey0, ex1, ey1 = envelope
    if not (np.isfinite([lon0, lat0, lon1, lat1]).all() and lon0 < ex1 and lon1 > ex0 and lat0 < ey1 and lat1 > ey0):
        raise ValidationError(
            f"the raster covers lon/lat [{lon0:.2f}, {lat0:.2f}, {lon1:.2f}, {lat1:.2f}], which does "
            f"not overlap Tianjin {list(envelope)}; wrong file or wrong CRS?",
            file=path,
            rule="raster_overlap",
        )
    data = np.ma.masked_invalid(values)
    n_valid = int(data.count())
    if n_valid == 0:
        raise ValidationError(f"all {values.size} cells are nodata", file=path, rule="raster_nodata")
    neg = int((data < 0).sum())
    if neg:
        raise ValidationError(
            f"{neg} of {n_valid} valid cells are negative (minimum {float(data.min()):g}); counts "
            "cannot be negative. If that is a nodata value, declare it (e.g. gdal_edit.py "
            "-a_nodata VALUE)",
            file=path,
            rule="raster_sign",
        )
    if float(data.sum()) <= 0:
        raise ValidationError(f"all {n_valid} valid cells are 0: no population", file=path, rule="raster_nodata")
