"""Replace a catalog layer with an official file: check it, convert it to EPSG:4326, record it, rebuild.

``tjspatial import-layer LAYER FILE`` (:func:`import_layer`) reads any vector file GDAL reads, converts
it to the storage CRS (a projected CRS such as CGCS2000 Gauss-Krüger by reprojection; GCJ-02 / BD-09 web
coordinates through :func:`tjspatial.crs.convert_gdf`), maps its fields onto the catalog schema, and
refuses it — naming the file, feature, field and rule — when its CRS is wrong or unknown, a declared field
is missing, a geometry is empty, invalid or of the wrong type, or a feature lies outside Tianjin.

An accepted import is recorded in the imports folder (default ``layers/imports/``, i.e.
``$TJSPATIAL_HOME/layers/imports`` when that is set; or the ``imports_dir`` argument):

- ``<layer>.gpkg``: the converted data (EPSG:4326, catalog schema, ``accuracy`` = the declared class);
- ``imports.json``: provenance per layer: original file and its sha256, CRS given / detected, the
  conversion applied, the field map, the declared accuracy, the GCJ-02 check, the time of import.

Every later ``tjspatial build`` uses the recorded file instead of the layer's builder (the build source
:mod:`tjspatial.sources.imported`); the provenance table of the GeoPackage says ``import:<path>``.
:func:`remove_import` goes back to the builder.

This module sits above :mod:`tjspatial.build` (it rebuilds); ``build`` only knows the build source. (It is
not called ``import_layer.py`` so that the module never hides the function ``tjspatial.import_layer``.)
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import stat
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS

from .atomic import atomic_path
from .build import build
from .build_context import BuildContext, file_sha256, finish_layer
from .catalog import ACCURACY_CLASSES, Catalog, Layer, get_catalog
from .crs import METRIC_CRS, STORAGE_CRS, GcjCheck, check_gcj02, convert_gdf, reference_points
from .errors import BuildError, ImportLayerError, InputError, ValidationError
from .gpkg import as_geopackage, write_gpkg_atomic
from .locks import file_lock, gpkg_lock_path
from .paths import default_gpkg, sources_dir
from .sources.imported import (
    LOCK_FILE,
    RECORD_FILE,
    imports_dir,
    overrides_from,
    recorded_imports,
    recorded_overrides,
    stored_path,
)
from .validate import TIANJIN_ENVELOPE, geometry_problems, layer_problems

__all__ = [
    "ImportResult",
    "import_layer",
    "check_import",
    "remove_import",
    "recorded_imports",
    "recorded_overrides",
    "imports_dir",
    "parse_field_map",
    "CRS_CHOICES",
    "TIANJIN_MARGIN_M",
]

CRS_CHOICES = ("auto", "gcj02", "bd09", "EPSG:<code>")
"""Values of ``crs``: read the file's CRS (and detect GCJ-02), the two Chinese web offsets, or an EPSG code."""
TIANJIN_MARGIN_M = 2_000.0
"""A feature must come within this distance (m) of the municipal boundary to count as inside Tianjin
(a layer may declare another margin with ``tianjin_margin_km`` in the catalog)."""
CANDIDATE_CRS = ("EPSG:4548", "EPSG:4527", "EPSG:32650", "EPSG:2384", "EPSG:2436", "EPSG:3857", "EPSG:4326")
"""CRSs Tianjin data come in (CGCS2000 and Xi'an 1980 / Beijing 1954 3-degree Gauss-Krüger CM 117E, with and
without the zone prefix, UTM 50N, Web Mercator, lon/lat): when a file's coordinates are implausible for the
CRS it is declared in, these are tried to name the probable one."""
CRS_OFFSET_MIN_M = 200.0
"""Read in its declared CRS, a file lying this far (m, median) from the current layer while another CRS brings
it within a quarter of that distance is refused (rule ``crs_plausible``)."""
COMPUTED_FIELDS = {"area_km2": "area", "length_km": "length"}
"""Declared float fields the importer measures itself (EPSG:4548) when the file lacks them."""


_imports_path = imports_dir  # the API's ``imports_dir`` arguments shadow the function's name


def parse_field_map(text: str | None) -> dict[str, str]:
    """Parse ``"a=b,c=d"`` (catalog field = file field) into ``{"a": "b", "c": "d"}``.

    Parameters
    ----------
    text : str or None
        The ``--map-fields`` text; None or ``""`` gives an empty map.

    Returns
    -------
    dict of str to str
        Catalog field → file column.

    Raises
    ------
    InputError
        Naming the malformed item (also a :class:`ValueError`).
    """
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        target, sep, src = item.partition("=")
        if not sep or not target.strip() or not src.strip():
            raise InputError(f"--map-fields item {item!r} is not CATALOG_FIELD=FILE_FIELD")
        if "geometry" in (target.strip(), src.strip()):
            raise InputError(
                f"--map-fields item {item!r}: the geometry is not an attribute; map a catalog field "
                "to an attribute column of the file"
            )
        out[target.strip()] = src.strip()
    return out


@dataclass
class ImportResult:
    """What :func:`import_layer` (or :func:`check_import`) did.

    Attributes
    ----------
    layer : the layer id.
    data : the converted layer (EPSG:4326, catalog schema).
    record : the provenance entry written to ``imports.json``.
    stored : the recorded ``<layer>.gpkg`` (None for :func:`check_import`).
    gpkg : the rebuilt GeoPackage (None when not rebuilt).
    warnings : notes for the user (e.g. GCJ-02 detection undecided, fields inherited).
    """

    layer: str
    data: gpd.GeoDataFrame
    record: dict
    stored: Path | None = None
    gpkg: Path | None = None
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ reading


def _refuse(msg: str, layer: str, file: Path | str | None = None, **kw) -> ImportLayerError:
    return ImportLayerError(msg, layer=layer, file=str(file) if file else None, **kw)


def _check_file_kind(path: Path, layer_id: str) -> None:
    """Refuse what is not a regular file (a folder, a FIFO that would block forever, a device)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise _refuse("the file does not exist", layer_id, path, rule="file") from None
    except OSError as exc:
        raise _refuse(f"cannot access the file ({exc.strerror or exc})", layer_id, path, rule="file") from exc
    if stat.S_ISDIR(mode):
        if path.suffix.lower() == ".gdb":  # an Esri file geodatabase is a folder GDAL reads
            return
        raise _refuse(
            "this is a folder, not a file; give the data file itself (e.g. the .shp, .gpkg or .geojson)",
            layer_id,
            path,
            rule="file",
        )
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file"
        raise _refuse(f"this is {kind}; give a vector data file", layer_id, path, rule="file")


def _pick_layer(path: Path, layer_id: str) -> str | None:
    """The layer of a multi-layer file to read: the only spatial one, or the one named like ``layer_id``."""
    try:
        info = pyogrio.list_layers(path)
    except Exception as exc:  # pyogrio raises several DataSourceError subclasses
        raise _refuse(f"cannot read the file ({type(exc).__name__}: {exc})", layer_id, path, rule="file") from exc
    spatial = [str(n) for n, g in info if g is not None]
    if len(info) <= 1:
        return None
    if layer_id in spatial:
        return layer_id
    if len(spatial) == 1:
        return spatial[0]
    raise _refuse(
        f"the file holds {len(spatial)} spatial layers ({', '.join(spatial) or 'none'}) and none is named "
        f"{layer_id!r}; extract the one to import into its own file (or name it {layer_id!r})",
        layer_id,
        path,
        rule="one_layer",
    )


def _texts(gdf: gpd.GeoDataFrame) -> list[str]:
    out = [c for c in gdf.columns if isinstance(c, str)]
    for col in gdf.columns:
        if col != gdf.geometry.name and gdf[col].dtype.kind not in "biufcmM":
            out += [v for v in gdf[col] if isinstance(v, str) and not v.isascii()]
    return out


def _guess_dbf_encoding(path: Path, kwargs: dict, layer_id: str) -> tuple[str | None, str | None]:
    """The encoding of a shapefile without ``.cpg`` whose DBF declares none: ``(encoding, note)``.

    Reads the text as raw bytes (latin-1) and tries UTF-8, then GB18030 (a superset of GBK/GB2312, what
    Chinese GIS offices write). GB18030 is accepted only when the decoded text is mostly Chinese; anything
    else is refused, naming ``--encoding``.
    """
    raw = pyogrio.read_dataframe(path, encoding="latin1", **kwargs)
    texts = [t.encode("latin1") for t in _texts(raw) if not t.isascii()]
    if not texts:
        return None, None
    for enc in ("utf-8", "gb18030"):
        try:
            decoded = [t.decode(enc) for t in texts]
        except UnicodeDecodeError:
            continue
        if enc == "utf-8":
            return "utf-8", "the shapefile has no .cpg; its text decodes as UTF-8, so it was read as UTF-8"
        chars = [c for t in decoded for c in t if not c.isascii()]
        cjk = sum(1 for c in chars if "\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef")
        if chars and cjk / len(chars) >= 0.9:
            return "gb18030", (
                "the shapefile has no .cpg; its text decodes as GBK/GB18030 Chinese, so it was read "
                "as GB18030 (give --encoding to choose another)"
            )
    raise _refuse(
        "the shapefile has no .cpg and its text is neither UTF-8 nor GBK Chinese; give its encoding with "
        "--encoding (e.g. --encoding gbk, big5, cp1252) or add a .cpg file",
        layer_id,
        path,
        rule="encoding",
    )


def _read(path: Path, layer_id: str, encoding: str | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """Read ``path`` (refusing folders, FIFOs, several layers, empty files); returns (data, reading record)."""
    _check_file_kind(path, layer_id)
    kwargs = {}
    picked = _pick_layer(path, layer_id)
    if picked is not None:
        kwargs["layer"] = picked
    rec: dict = {"file_layer": picked}
    notes: list[str] = []
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise _refuse(
                f"--encoding {encoding!r} is not an encoding Python knows (e.g. utf-8, gbk, gb18030, big5)",
                layer_id,
                path,
                rule="encoding",
            ) from None
        kwargs["encoding"] = encoding
        rec["encoding"] = encoding
    elif (
        path.suffix.lower() in (".shp", ".dbf")
        and not path.with_suffix(".cpg").exists()
        and not path.with_suffix(".CPG").exists()
    ):
        try:
            declared = pyogrio.read_info(path, **kwargs).get("encoding")
        except Exception:  # reported by read_dataframe below
            declared = None
        if declared in (None, "ISO-8859-1"):  # GDAL's fallback when the DBF declares nothing
            try:
                enc, note = _guess_dbf_encoding(path, kwargs, layer_id)
            except ImportLayerError:
                raise
            except Exception:  # unreadable: read_dataframe below names the problem
                enc, note = None, None
            if enc:
                kwargs["encoding"] = enc
                rec["encoding"] = f"{enc} (detected; no .cpg)"
                notes.append(note)
    try:
        gdf = pyogrio.read_dataframe(path, **kwargs)
    except Exception as exc:  # pyogrio raises several DataSourceError subclasses
        raise _refuse(f"cannot read the file ({type(exc).__name__}: {exc})", layer_id, path, rule="file") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry is None:
        raise _refuse("the file has no geometry column", layer_id, path, rule="file")
    if len(gdf) == 0:
        raise _refuse("the file has no features", layer_id, path, rule="not_empty")
    rec["notes"] = notes
    return gdf, rec


def _feature(gdf: gpd.GeoDataFrame, i: int) -> str:
    name = gdf["name_zh"].iloc[i] if "name_zh" in gdf.columns else None
    return f"#{i}" + (f" ({name})" if isinstance(name, str) and name else "")


def _check_geometry(gdf: gpd.GeoDataFrame, layer: Layer, path: Path) -> None:
    """Refuse missing/empty, wrongly typed and invalid geometries before any conversion (``validate.py``'s rules)."""
    problems = geometry_problems(gdf, layer)
    if problems:
        p = problems[0]
        hint = "; repair it (e.g. QGIS 'Fix geometries') and import again" if p.rule == "geometry_valid" else ""
        raise _refuse(p.message + hint, layer.id, path, feature=p.feature, rule=p.rule)


# ------------------------------------------------------------------------------------------------ CRS


def _current_layer(layer_id: str, gpkg: Path | None) -> gpd.GeoDataFrame | None:
    """The layer as currently built (WGS84), if the GeoPackage holds it; used for GCJ-02 detection."""
    if gpkg is None or not Path(gpkg).is_file():
        return None
    try:
        gp = as_geopackage(gpkg)
        return gp.read(layer_id).to_crs(STORAGE_CRS) if layer_id in gp else None
    except Exception:  # not a GeoPackage (or damaged): the rebuild will replace it; the import cannot use it
        return None


def _boundary(cat: Catalog, gpkg: Path | None) -> tuple[gpd.GeoDataFrame | None, str]:
    """The municipal boundary: from the built GeoPackage, else built from the bundled source (no GeoPackage yet)."""
    if not cat.with_role("municipality"):
        return None, ""
    layer = cat.layer_for("municipality")
    current = _current_layer(layer.id, gpkg)
    if current is not None and len(current):
        return current, f"the {layer.id} layer of {gpkg}"
    ctx = BuildContext(catalog=cat, sources_dir=sources_dir())
    ctx.layer = layer
    try:
        return layer.builder_func()(ctx).to_crs(STORAGE_CRS), "the bundled municipal boundary"
    except Exception:  # no bundled boundary either: only the envelope rule of validate.py applies
        return None, ""


def _sample_xy(gdf: gpd.GeoDataFrame, max_points: int = 2000) -> np.ndarray:
    xy = shapely.get_coordinates(np.asarray(gdf.geometry.values))
    xy = xy[np.isfinite(xy).all(axis=1)]
    step = max(1, len(xy) // max_points)
    return xy[::step]


def _lonlat(xy: np.ndarray, crs: CRS | str) -> np.ndarray:
    """``xy`` (in ``crs``) as lon/lat; NaN where the transformation fails."""
    with np.errstate(all="ignore"):
        pts = gpd.GeoSeries(shapely.points(xy), crs=crs).to_crs(STORAGE_CRS)
    out = shapely.get_coordinates(np.asarray(pts.values))
    if len(out) != len(xy):  # an empty point drops out of get_coordinates
        return np.full_like(xy, np.nan)
    out[~np.isfinite(out).all(axis=1)] = np.nan
    return out


def _inside_envelope(lonlat: np.ndarray) -> bool:
    x0, y0, x1, y1 = TIANJIN_ENVELOPE
    ok = np.isfinite(lonlat).all(axis=1)
    return bool(
        len(lonlat)
        and ok.all()
        and (lonlat[:, 0] >= x0).all()
        and (lonlat[:, 0] <= x1).all()
        and (lonlat[:, 1] >= y0).all()
        and (lonlat[:, 1] <= y1).all()
    )


def _median_offset_m(lonlat: np.ndarray, reference: gpd.GeoDataFrame) -> float:
    """Median distance (m, EPSG:4548) of the points ``lonlat`` to the nearest feature of ``reference``."""
    ref = np.asarray(reference.to_crs(METRIC_CRS).geometry.values)
    ref = ref[~(shapely.is_missing(ref) | shapely.is_empty(ref))]
    if len(ref) == 0 or len(lonlat) == 0:
        return float("nan")
    ref = np.where(shapely.get_type_id(ref) >= 3, shapely.boundary(ref), ref)
    pts = np.asarray(gpd.GeoSeries(shapely.points(lonlat), crs=STORAGE_CRS).to_crs(METRIC_CRS).values)
    _, dist = shapely.STRtree(ref).query_nearest(pts, return_distance=True, all_matches=False)
    return float(np.median(dist)) if len(dist) else float("nan")


def _check_crs_plausible(
    raw: gpd.GeoDataFrame, crs: CRS, how: str, layer: Layer, path: Path, current: gpd.GeoDataFrame | None
) -> dict:
    """Refuse ``raw`` when its coordinates are checkably not in ``crs`` inside Tianjin (rule ``crs_plausible``).

    Two tests: (1) read in ``crs`` the coordinates must fall in the Tianjin envelope — if they do not and one
    of :data:`CANDIDATE_CRS` puts them there, that CRS is named; (2) for a projected ``crs`` and a current
    layer to compare with: if the data lie more than :data:`CRS_OFFSET_MIN_M` (median) from it while a
    candidate CRS brings them within a quarter of that, the candidate is named (e.g. EPSG:4548 coordinates
    declared as UTM 50N land 1.7 km north). Returns a record of the test.
    """
    xy = _sample_xy(raw)
    if len(xy) == 0:
        return {}
    name = crs.to_string()
    declared = _lonlat(xy, crs)
    others = [c for c in CANDIDATE_CRS if not CRS.from_user_input(c).equals(crs, ignore_axis_order=True)]
    if not _inside_envelope(declared):
        if crs.is_geographic and _inside_envelope(_lonlat(xy[:, ::-1], crs)):
            raise _refuse(
                f"the coordinates are in latitude, longitude order (first point {xy[0].round(4).tolist()}), "
                f"but {name} ({how}) is read as longitude, latitude here; swap the columns (x = longitude) "
                "and import again",
                layer.id,
                path,
                rule="crs_plausible",
            )
        fits = [c for c in others if _inside_envelope(_lonlat(xy, c))]
        if not fits:
            return {}  # no CRS puts it in Tianjin: the outside-Tianjin rule reports it
        b = [round(float(v), 1) for v in (*xy.min(axis=0), *xy.max(axis=0))]
        raise _refuse(
            f"the coordinates (x/y bounds {b}) are not plausible in {name} ({how}) inside Tianjin: read so "
            f"they fall outside {list(TIANJIN_ENVELOPE)}; read as {' or '.join(fits)} they lie in Tianjin. "
            f"Give the right CRS with --crs (e.g. --crs {fits[0]}) or fix the file's .prj",
            layer.id,
            path,
            rule="crs_plausible",
        )
    if current is None or not len(current) or crs.is_geographic:
        return {}
    d0 = _median_offset_m(declared, current)
    if not np.isfinite(d0) or d0 <= CRS_OFFSET_MIN_M:
        return {"crs_offset_m": None if not np.isfinite(d0) else round(d0, 1)}
    tried = {}
    for c in others:
        if CRS.from_user_input(c).is_geographic:
            continue
        ll = _lonlat(xy, c)
        if _inside_envelope(ll):
            tried[c] = _median_offset_m(ll, current)
    if tried:
        best = min(tried, key=lambda c: tried[c] if np.isfinite(tried[c]) else np.inf)
        if np.isfinite(tried[best]) and tried[best] < 0.25 * d0:
            raise _refuse(
                f"read in {name} ({how}) the features lie {d0:.0f} m (median) from the current layer; read "
                f"as {best} they lie {tried[best]:.0f} m from it. The file is probably in {best}, not "
                f"{name}: give --crs {best} (or fix the file's .prj)",
                layer.id,
                path,
                rule="crs_plausible",
            )
    return {"crs_offset_m": round(d0, 1)}


def _to_wgs84(
    gdf: gpd.GeoDataFrame, crs: str, layer: Layer, path: Path, current: gpd.GeoDataFrame | None
) -> tuple[gpd.GeoDataFrame, dict, GcjCheck | None, list[str]]:
    """Convert ``gdf`` to WGS84 lon/lat as ``crs`` says; returns (data, CRS record, GCJ check, warnings)."""
    notes: list[str] = []
    file_crs = CRS.from_user_input(gdf.crs) if gdf.crs is not None else None
    rec = {"crs_given": crs, "crs_file": file_crs.to_string() if file_crs else None}
    choice = crs.strip()
    if choice.lower() in ("gcj02", "bd09"):
        if file_crs is not None and not file_crs.is_geographic:
            raise _refuse(
                f"--crs {choice} means lon/lat web coordinates, but the file is in the projected CRS "
                f"{file_crs.to_string()}; use --crs auto",
                layer.id,
                path,
                rule="crs",
            )
        gdf = gdf.set_crs(STORAGE_CRS, allow_override=True)
        rec.update(crs_detected=choice.lower(), conversion=f"{choice.lower()} → wgs84 (tjspatial.crs.convert_gdf)")
        return convert_gdf(gdf, choice.lower(), "wgs84"), rec, None, notes
    if choice.lower() == "auto":
        if file_crs is None:
            raise _refuse(
                "the file has no CRS (no .prj / crs member); declare it with --crs EPSG:xxxx, gcj02 or bd09",
                layer.id,
                path,
                rule="crs",
            )
    else:
        try:
            given = CRS.from_user_input(choice)
        except Exception as exc:
            raise _refuse(f"--crs {choice!r} is not one of {CRS_CHOICES} ({exc})", layer.id, path, rule="crs") from exc
        if file_crs is not None and not file_crs.equals(given, ignore_axis_order=True):
            raise _refuse(
                f"the file declares {file_crs.to_string()} but --crs says {given.to_string()}; "
                "drop --crs (auto) or fix the file's .prj",
                layer.id,
                path,
                rule="crs",
            )
        gdf = gdf.set_crs(given, allow_override=True)
        file_crs = given
    how = "given with --crs" if choice.lower() != "auto" else "declared by the file"
    rec.update(_check_crs_plausible(gdf, file_crs, how, layer, path, current))
    out = gdf.to_crs(STORAGE_CRS)
    rec.update(crs_detected=file_crs.to_string(), conversion=f"{file_crs.to_string()} → EPSG:4326 (pyproj)")
    chk = None
    if file_crs.is_geographic and choice.lower() == "auto":  # lon/lat: WGS84 or a web offset?
        reference = current if current is not None and len(current) else reference_points()
        try:
            chk = check_gcj02(out, reference)
        except Exception as exc:  # detection is advisory; never fail an import because of it
            notes.append(f"GCJ-02 detection failed ({exc}); the file is taken as WGS84")
        bd = None
        if chk is not None and not chk.probable and np.isfinite(chk.offset_m) and chk.offset_m > 150:
            # BD-09 is GCJ-02 plus a further offset: undo that offset and test the result for GCJ-02
            bd = check_gcj02(convert_gdf(out, "bd09", "gcj02"), reference)
        if chk is not None and chk.probable:
            out = convert_gdf(out, "gcj02", "wgs84")
            rec.update(
                crs_detected="gcj02 (detected)",
                conversion="gcj02 → wgs84 (detected by tjspatial.crs.check_gcj02 against the current layer)",
            )
        elif bd is not None and bd.probable:
            out = convert_gdf(out, "bd09", "wgs84")
            chk = GcjCheck(True, chk.offset_m, bd.offset_if_gcj_m, bd.n, bd.method)
            rec.update(
                crs_detected="bd09 (detected)",
                conversion="bd09 → wgs84 (detected: read as BD-09 the file matches the current layer)",
            )
        elif chk is not None and not np.isfinite(chk.offset_m):
            notes.append("GCJ-02 detection was not possible; the file is taken as WGS84")
        elif chk is not None and chk.offset_m > 150:
            notes.append(
                f"the file lies {chk.offset_m:.0f} m (median) from the current layer and reading it as "
                f"GCJ-02 or BD-09 does not bring it closer ({chk.offset_if_gcj_m:.0f} m as GCJ-02), so it "
                "is taken as WGS84; if it comes from a Chinese web map, import it with --crs gcj02 or bd09"
            )
    return out, rec, chk, notes


def _margin_m(layer: Layer) -> float:
    """How far (m) a feature of ``layer`` may lie beyond the municipal boundary (``tianjin_margin_km``)."""
    km = layer.extra.get("tianjin_margin_km")
    return TIANJIN_MARGIN_M if km is None else float(km) * 1000.0


def _outside_tianjin(gdf: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame | None, margin_m: float) -> np.ndarray:
    """Indices of features farther than ``margin_m`` from the municipal boundary."""
    if boundary is None or boundary.empty:
        return np.array([], dtype=int)
    area = boundary.to_crs(METRIC_CRS).geometry.union_all().buffer(margin_m)
    feats = np.asarray(gdf.to_crs(METRIC_CRS).geometry.values)
    return np.flatnonzero(~shapely.intersects(feats, area))


# ------------------------------------------------------------------------------------------------ schema


def _map_fields(gdf: gpd.GeoDataFrame, layer: Layer, field_map: dict[str, str], path: Path) -> gpd.GeoDataFrame:
    declared = layer.all_fields
    for target, src in field_map.items():
        if target not in declared:
            raise _refuse(
                f"--map-fields target {target!r} is not a field of the layer (fields: {', '.join(declared)})",
                layer.id,
                path,
                field=target,
                rule="fields",
            )
        if src not in gdf.columns:
            raise _refuse(
                f"--map-fields source {src!r} is not a column of the file (columns: "
                f"{', '.join(c for c in gdf.columns if c != gdf.geometry.name)})",
                layer.id,
                path,
                field=src,
                rule="fields",
            )
        if src == gdf.geometry.name:
            raise _refuse(
                f"--map-fields source {src!r} is the file's geometry, not an attribute column",
                layer.id,
                path,
                field=target,
                rule="fields",
            )
    out = gdf.copy()
    for target, src in field_map.items():  # copies, so one column may feed several fields (or fields swap)
        out[target] = gdf[src].to_numpy()
    return out


def _complete_fields(
    gdf: gpd.GeoDataFrame, layer: Layer, path: Path, accuracy: str, current: gpd.GeoDataFrame | None, inherit: bool
) -> tuple[gpd.GeoDataFrame, dict]:
    """Fill the fields the file lacks: measured ones, import notes, and (by ``name_zh``) the current layer's."""
    gdf = gdf.copy()
    how: dict[str, str] = {}
    gdf["accuracy"] = accuracy
    gdf["source"] = f"import:{path.name}"
    if "name_zh" not in gdf.columns:
        raise _refuse(
            "the file has no 'name_zh' field (the feature names); map one with --map-fields name_zh=<column>",
            layer.id,
            path,
            field="name_zh",
            rule="fields",
        )
    metric = gdf.to_crs(METRIC_CRS)
    for name, ftype in layer.fields.items():
        if name in gdf.columns:
            how[name] = "file"
        elif name in COMPUTED_FIELDS and ftype == "float":
            measured = metric.area.values / 1e6 if COMPUTED_FIELDS[name] == "area" else metric.length.values / 1e3
            gdf[name] = np.round(measured, 3)
            how[name] = "measured in EPSG:4548"
        elif name in ("construction", "geometry_basis", "position_basis"):
            gdf[name] = f"imported official file {path.name}"
            how[name] = "import note"
    missing = [n for n in layer.all_fields if n not in gdf.columns]
    if missing and inherit and current is not None and "name_zh" in current.columns:
        cur = current.drop_duplicates("name_zh").set_index("name_zh")
        unknown = {v if isinstance(v, str) else "" for v in gdf["name_zh"]} - {
            v for v in cur.index if isinstance(v, str)
        }
        if not unknown:
            for name in [m for m in missing if m in cur.columns]:
                gdf[name] = gdf["name_zh"].map(cur[name]).values
                how[name] = "inherited from the current layer by name_zh"
            missing = [n for n in layer.all_fields if n not in gdf.columns]
    if missing:
        raise _refuse(
            f"missing declared field(s) {', '.join(missing)} (file columns: "
            f"{', '.join(c for c in gdf.columns if c != gdf.geometry.name)}); add them or map them with "
            "--map-fields FIELD=COLUMN",
            layer.id,
            path,
            field=missing[0],
            rule="fields",
        )
    return gdf, how


# ------------------------------------------------------------------------------------------------ records


def _write_json_atomic(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_gpkg_atomic(path: Path, gdf: gpd.GeoDataFrame, layer_id: str) -> None:
    write_gpkg_atomic(path, {layer_id: gdf})


# ------------------------------------------------------------------------------------------------ API


def _sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents, sorted) for a file geodatabase."""
    if path.is_file():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode("utf-8") + b"\0" + file_sha256(f).encode("ascii"))
    return h.hexdigest()


def check_import(
    layer_id: str,
    file: str | Path,
    *,
    crs: str = "auto",
    field_map: dict[str, str] | str | None = None,
    accuracy: str = "official",
    gpkg: str | Path | None = None,
    inherit: bool = True,
    encoding: str | None = None,
    catalog: Catalog | None = None,
) -> ImportResult:
    """Validate and convert ``file`` for ``layer_id`` without recording anything.

    Parameters
    ----------
    layer_id : str
        A catalog layer id.
    file : str or pathlib.Path
        Any vector file GDAL reads (shapefile, GeoJSON, GeoPackage, KML, …).
    crs : str, default "auto"
        ``auto`` (the file's own CRS; lon/lat files are checked for the GCJ-02 and BD-09 offsets against
        the current layer), ``gcj02``, ``bd09`` (lon/lat with a Chinese web offset), or an EPSG code (for files
        without a CRS; it must agree with the file's CRS when there is one).
    field_map : dict of str to str, or str, optional
        ``{catalog_field: file_column}`` or ``"a=b,c=d"``.
    accuracy : str, default "official"
        The accuracy class the user declares for the data.
    gpkg : str or pathlib.Path, optional
        The built GeoPackage holding the current layers (default ``layers/tianjin.gpkg``): the current
        layer (GCJ-02 reference, fields inherited by ``name_zh``) and the boundary (inside-Tianjin check).
    inherit : bool, default True
        Fill fields the file lacks from the current layer's feature of the same ``name_zh``.
    encoding : str, optional
        The text encoding of the file's attributes (e.g. ``gbk``); by default the file's own
        (``.cpg``), and for a shapefile without one: UTF-8 or GBK/GB18030 detected, else refused.
    catalog : Catalog, optional
        The layer catalog; default :func:`tjspatial.catalog.get_catalog`.

    Returns
    -------
    ImportResult
        The converted layer and its provenance record (``stored`` and ``gpkg`` are None).

    Raises
    ------
    ImportLayerError
        Naming the layer, file, feature, field and rule at fault.
    """
    cat = catalog or get_catalog()
    layer = cat[layer_id]
    path = Path(file)
    if accuracy not in ACCURACY_CLASSES:
        raise _refuse(
            f"accuracy {accuracy!r} is not one of {list(ACCURACY_CLASSES)}",
            layer_id,
            path,
            field="accuracy",
            rule="accuracy",
        )
    fmap = parse_field_map(field_map) if isinstance(field_map, str) or field_map is None else dict(field_map)
    gpkg = Path(gpkg) if gpkg else default_gpkg()
    raw, read_rec = _read(path, layer_id, encoding)
    _check_geometry(raw, layer, path)
    current = _current_layer(layer_id, gpkg)
    data, crs_rec, chk, notes = _to_wgs84(raw, crs, layer, path, current)
    notes = read_rec.pop("notes") + notes
    boundary, boundary_from = _boundary(cat, gpkg)
    margin = _margin_m(layer)
    outside = _outside_tianjin(data, boundary, margin)
    if len(outside):
        b = np.round(shapely.bounds(np.asarray(data.geometry.values)[outside[0]]), 4).tolist()
        raise _refuse(
            f"{len(outside)} feature(s) lie outside Tianjin (more than {margin / 1000:g} km from "
            f"{boundary_from}; first at lon/lat bounds {b}); wrong CRS or wrong file?",
            layer_id,
            path,
            feature=_feature(data, outside[0]),
            rule="outside_tianjin",
        )
    data = _map_fields(data, layer, fmap, path)
    data, how = _complete_fields(data, layer, path, accuracy, current, inherit)
    try:
        data = finish_layer(data, layer, source_label=f"import:{path.name}")
    except (ValueError, TypeError) as exc:
        raise _refuse(
            f"a field cannot be converted to its declared type: {exc}", layer_id, path, rule="fields"
        ) from exc
    problems = layer_problems(data, layer, check_gcj=False)
    if problems:
        p: ValidationError = problems[0]
        rule = "outside_tianjin" if p.rule == "envelope" else p.rule
        raise _refuse(
            f"{p.message}" + (" (the data may be in another CRS than declared)" if p.rule == "envelope" else ""),
            layer_id,
            path,
            feature=p.feature,
            field=p.field,
            rule=rule,
        )
    record = {
        "layer": layer_id,
        "file": str(path.resolve()),
        "file_name": path.name,
        "sha256": _sha256(path),
        **read_rec,
        **crs_rec,
        "field_map": fmap,
        "fields_filled": how,
        "accuracy": accuracy,
        "features": int(len(data)),
        "gcj02_check": None
        if chk is None
        else {
            "probable": chk.probable,
            "offset_m": round(chk.offset_m, 1) if np.isfinite(chk.offset_m) else None,
            "offset_if_gcj_m": round(chk.offset_if_gcj_m, 1) if np.isfinite(chk.offset_if_gcj_m) else None,
            "n": chk.n,
            "method": chk.method,
        },
        "imported_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "stored": None,  # set by import_layer
    }
    return ImportResult(layer=layer_id, data=data, record=record, warnings=notes)


def _sweep_imports(base: Path, records: dict[str, dict]) -> list[Path]:
    """Remove what killed or failed runs left in the imports folder (call with the folder's lock held).

    Stored files no record names (``<layer>-<8 hex>.gpkg`` of an import that never finished), the old
    ``<layer>.previous-<pid>.gpkg`` backups and temporary files (``.<name>.tmp-<pid>…``). Other files (a
    README, the user's own files) are left alone.
    """
    keep = set()
    for lid, rec in records.items():
        try:
            keep.add(stored_path(lid, rec, base).name)
        except ImportLayerError:
            pass
    removed = []
    for f in base.iterdir():
        stale = (_STAGED.fullmatch(f.name) and f.name not in keep) or _BACKUP.fullmatch(f.name) or _TEMP.match(f.name)
        if stale and f.is_file():
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


_STAGED = re.compile(r"[A-Za-z0-9_]+-[0-9a-f]{8}\.gpkg")
_BACKUP = re.compile(r"[A-Za-z0-9_]+\.previous-\d+\.gpkg")
_TEMP = re.compile(r"\..+\.tmp-\d+")


def import_layer(
    layer_id: str,
    file: str | Path,
    *,
    crs: str = "auto",
    field_map: dict[str, str] | str | None = None,
    accuracy: str = "official",
    imports_dir: str | Path | None = None,
    out: str | Path | None = None,
    rebuild: bool = True,
    inherit: bool = True,
    quiet: bool = True,
    encoding: str | None = None,
    catalog: Catalog | None = None,
) -> ImportResult:
    """Replace ``layer_id`` with an official ``file``: check and convert it, record it, rebuild.

    See :func:`check_import` for ``crs``, ``field_map``, ``accuracy``, ``inherit`` and ``encoding``. The
    converted data go to a new file in ``imports_dir`` (default ``layers/imports``), ``<layer>-<8 hex>.gpkg``;
    the GeoPackage ``out`` (default ``layers/tianjin.gpkg``) is rebuilt with it and every other recorded
    import; only then is ``imports.json`` updated (and the layer's previous file removed). So the record
    never names an import whose rebuild did not finish: if the rebuild fails, or the process is killed, the
    record and the GeoPackage stay as they were and the new file is swept by the next run.

    Concurrent runs on the same imports folder (or GeoPackage) wait for each other
    (:func:`tjspatial.locks.file_lock`), so none of their records is lost.

    Parameters
    ----------
    layer_id : str
        A catalog layer id (e.g. ``"districts"``).
    file : str or pathlib.Path
        Any vector file GDAL reads (shapefile, GeoJSON, GeoPackage, KML, …).
    crs : str, default "auto"
        ``"auto"`` (the file's own CRS; lon/lat files are checked for the GCJ-02 and BD-09 offsets),
        ``"gcj02"``, ``"bd09"`` or an EPSG code (for files without a CRS); see :func:`check_import`.
    field_map : dict of str to str, or str, optional
        ``{catalog_field: file_column}`` or ``"a=b,c=d"``.
    accuracy : str, default "official"
        The accuracy class the user declares for the data (one of the catalog's accuracy classes).
    imports_dir : str or pathlib.Path, optional
        Folder of recorded imports and ``imports.json``; default ``layers/imports``.
    out : str or pathlib.Path, optional
        The GeoPackage to rebuild; default ``layers/tianjin.gpkg``.
    rebuild : bool, default True
        Rebuild ``out`` with the import (``False``: convert and record only).
    inherit : bool, default True
        Fill fields the file lacks from the current layer's feature of the same ``name_zh``.
    quiet : bool, default True
        Print no build progress.
    encoding : str, optional
        The text encoding of the file's attributes (e.g. ``"gbk"``); default the file's own or detected.
    catalog : Catalog, optional
        The layer catalog; default :func:`tjspatial.catalog.get_catalog`.

    Returns
    -------
    ImportResult
        The converted layer (EPSG:4326, catalog schema), its provenance record, the stored file, the rebuilt
        GeoPackage and the notes for the user.

    Raises
    ------
    ImportLayerError
        Naming the layer, file, feature, field and rule at fault; the record and GeoPackage are unchanged.
    """
    cat = catalog or get_catalog()
    out_path = Path(out) if out else default_gpkg()
    base = _imports_path(imports_dir)
    base.mkdir(parents=True, exist_ok=True)
    with file_lock(base / LOCK_FILE, what=f"the imports folder {base}"):
        records_before = recorded_imports(base)
        _sweep_imports(base, records_before)
        result = check_import(
            layer_id,
            file,
            crs=crs,
            field_map=field_map,
            accuracy=accuracy,
            gpkg=out_path,
            inherit=inherit,
            encoding=encoding,
            catalog=cat,
        )
        stored = base / f"{layer_id}-{uuid.uuid4().hex[:8]}.gpkg"
        result.record["stored"] = stored.name
        records_after = {**records_before, layer_id: result.record}
        previous = None
        if layer_id in records_before:
            try:
                previous = stored_path(layer_id, records_before[layer_id], base)
            except ImportLayerError:  # a damaged previous record: replaced, its file left alone
                previous = None
        try:
            _write_gpkg_atomic(stored, result.data, layer_id)
            if rebuild:
                with file_lock(gpkg_lock_path(out_path), what=f"the GeoPackage {out_path}"):
                    try:
                        result.gpkg = build(
                            out=out_path, quiet=quiet, overrides=overrides_from(records_after, base, cat), catalog=cat
                        )
                    except BuildError as exc:
                        if isinstance(exc, ImportLayerError):
                            raise
                        raise _refuse(
                            f"with this import the GeoPackage cannot be rebuilt, so nothing was recorded "
                            f"and {out_path} is unchanged: {exc}",
                            layer_id,
                            Path(file),
                            rule="rebuild",
                        ) from exc
                    _write_json_atomic(base / RECORD_FILE, records_after)
            else:
                _write_json_atomic(base / RECORD_FILE, records_after)
        except BaseException:
            stored.unlink(missing_ok=True)
            raise
        if previous is not None and previous != stored:
            previous.unlink(missing_ok=True)
    result.stored = stored
    return result


def remove_import(
    layer_id: str,
    *,
    imports_dir: str | Path | None = None,
    out: str | Path | None = None,
    rebuild: bool = True,
    quiet: bool = True,
    catalog: Catalog | None = None,
) -> Path | None:
    """Forget the recorded import of ``layer_id`` (the builder takes over again) and rebuild ``out``.

    The record is updated only after the rebuild succeeded; the stored file (which must lie in the imports
    folder: rule ``import_record``) is deleted last.

    Parameters
    ----------
    layer_id : str
        A catalog layer id with a recorded import.
    imports_dir : str or pathlib.Path, optional
        Folder of recorded imports and ``imports.json``; default ``layers/imports``.
    out : str or pathlib.Path, optional
        The GeoPackage to rebuild; default ``layers/tianjin.gpkg``.
    rebuild : bool, default True
        Rebuild ``out`` without the import.
    quiet : bool, default True
        Print no build progress.
    catalog : Catalog, optional
        The layer catalog; default :func:`tjspatial.catalog.get_catalog`.

    Returns
    -------
    pathlib.Path or None
        The rebuilt GeoPackage, or None when not rebuilt.
    """
    cat = catalog or get_catalog()
    base = _imports_path(imports_dir)
    out_path = Path(out) if out else default_gpkg()
    with file_lock(base / LOCK_FILE, what=f"the imports folder {base}"):
        records = recorded_imports(base)
        if layer_id not in records:
            raise ImportLayerError(
                f"no recorded import for layer {layer_id!r} in {base} (imported: "
                f"{', '.join(sorted(records)) or 'none'})",
                layer=layer_id,
                file=str(base / RECORD_FILE),
                rule="import_record",
            )
        stored = stored_path(layer_id, records[layer_id], base)
        remaining = {k: v for k, v in records.items() if k != layer_id}
        built = None
        if rebuild:
            with file_lock(gpkg_lock_path(out_path), what=f"the GeoPackage {out_path}"):
                built = build(out=out_path, quiet=quiet, overrides=overrides_from(remaining, base, cat), catalog=cat)
                _write_json_atomic(base / RECORD_FILE, remaining)
        else:
            _write_json_atomic(base / RECORD_FILE, remaining)
        stored.unlink(missing_ok=True)
        _sweep_imports(base, remaining)
    return built
