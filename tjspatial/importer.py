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

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from .atomic import atomic_path
from .build import build
from .build_context import file_sha256, finish_layer
from .catalog import ACCURACY_CLASSES, Catalog, Layer, get_catalog
from .crs import METRIC_CRS, STORAGE_CRS, GcjCheck, check_gcj02, convert_gdf, reference_points
from .errors import ImportLayerError, InputError, UnknownNameError, ValidationError
from .gpkg import as_geopackage, write_gpkg_atomic
from .paths import default_gpkg
from .sources.imported import RECORD_FILE, imports_dir, recorded_imports, recorded_overrides, stored_path
from .validate import geometry_problems, layer_problems

__all__ = ["ImportResult", "import_layer", "check_import", "remove_import", "recorded_imports",
           "recorded_overrides", "imports_dir", "parse_field_map", "CRS_CHOICES", "TIANJIN_MARGIN_M"]

CRS_CHOICES = ("auto", "gcj02", "bd09", "EPSG:<code>")
"""Values of ``crs``: read the file's CRS (and detect GCJ-02), the two Chinese web offsets, or an EPSG code."""
TIANJIN_MARGIN_M = 2_000.0
"""A feature must come within this distance (m) of the municipal boundary to count as inside Tianjin."""
COMPUTED_FIELDS = {"area_km2": "area", "length_km": "length"}
"""Declared float fields the importer measures itself (EPSG:4548) when the file lacks them."""


_imports_path = imports_dir  # the API's ``imports_dir`` arguments shadow the function's name


def parse_field_map(text: str | None) -> dict[str, str]:
    """Parse ``"a=b,c=d"`` (catalog field = file field) into ``{"a": "b", "c": "d"}``.

    Raises :class:`ValueError` naming the malformed item.
    """
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        target, sep, src = item.partition("=")
        if not sep or not target.strip() or not src.strip():
            raise InputError(f"--map-fields item {item!r} is not CATALOG_FIELD=FILE_FIELD")
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


def _read(path: Path, layer_id: str) -> gpd.GeoDataFrame:
    if not path.exists():
        raise _refuse("the file does not exist", layer_id, path)
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several DataSourceError subclasses
        raise _refuse(f"cannot read the file ({type(exc).__name__}: {exc})", layer_id, path) from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry is None:
        raise _refuse("the file has no geometry column", layer_id, path)
    if len(gdf) == 0:
        raise _refuse("the file has no features", layer_id, path, rule="not_empty")
    return gdf


def _feature(gdf: gpd.GeoDataFrame, i: int) -> str:
    name = gdf["name_zh"].iloc[i] if "name_zh" in gdf.columns else None
    return f"#{i}" + (f" ({name})" if isinstance(name, str) and name else "")


def _check_geometry(gdf: gpd.GeoDataFrame, layer: Layer, path: Path) -> None:
    """Refuse missing/empty, wrongly typed and invalid geometries before any conversion (``validate.py``'s rules)."""
    problems = geometry_problems(gdf, layer)
    if problems:
        p = problems[0]
        hint = ("; repair it (e.g. QGIS 'Fix geometries') and import again" if p.rule == "geometry_valid" else "")
        raise _refuse(p.message + hint, layer.id, path, feature=p.feature, rule=p.rule)


# ------------------------------------------------------------------------------------------------ CRS


def _current_layer(layer_id: str, gpkg: Path | None) -> gpd.GeoDataFrame | None:
    """The layer as currently built (WGS84), if the GeoPackage holds it; used for GCJ-02 detection."""
    if gpkg is None or not Path(gpkg).is_file():
        return None
    gp = as_geopackage(gpkg)
    return gp.read(layer_id).to_crs(STORAGE_CRS) if layer_id in gp else None


def _to_wgs84(gdf: gpd.GeoDataFrame, crs: str, layer: Layer, path: Path,
              current: gpd.GeoDataFrame | None) -> tuple[gpd.GeoDataFrame, dict, GcjCheck | None, list[str]]:
    """Convert ``gdf`` to WGS84 lon/lat as ``crs`` says; returns (data, CRS record, GCJ check, warnings)."""
    notes: list[str] = []
    file_crs = CRS.from_user_input(gdf.crs) if gdf.crs is not None else None
    rec = {"crs_given": crs, "crs_file": file_crs.to_string() if file_crs else None}
    choice = crs.strip()
    if choice.lower() in ("gcj02", "bd09"):
        if file_crs is not None and not file_crs.is_geographic:
            raise _refuse(f"--crs {choice} means lon/lat web coordinates, but the file is in the projected CRS "
                          f"{file_crs.to_string()}; use --crs auto", layer.id, path, rule="crs")
        gdf = gdf.set_crs(STORAGE_CRS, allow_override=True)
        rec.update(crs_detected=choice.lower(), conversion=f"{choice.lower()} → wgs84 (tjspatial.crs.convert_gdf)")
        return convert_gdf(gdf, choice.lower(), "wgs84"), rec, None, notes
    if choice.lower() == "auto":
        if file_crs is None:
            raise _refuse("the file has no CRS (no .prj / crs member); declare it with --crs EPSG:xxxx, gcj02 "
                          "or bd09", layer.id, path, rule="crs")
    else:
        try:
            given = CRS.from_user_input(choice)
        except Exception as exc:
            raise _refuse(f"--crs {choice!r} is not one of {CRS_CHOICES} ({exc})", layer.id, path, rule="crs") from exc
        if file_crs is not None and not file_crs.equals(given, ignore_axis_order=True):
            raise _refuse(f"the file declares {file_crs.to_string()} but --crs says {given.to_string()}; "
                          "drop --crs (auto) or fix the file's .prj", layer.id, path, rule="crs")
        gdf = gdf.set_crs(given, allow_override=True)
        file_crs = given
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
            rec.update(crs_detected="gcj02 (detected)",
                       conversion="gcj02 → wgs84 (detected by tjspatial.crs.check_gcj02 against the current layer)")
        elif bd is not None and bd.probable:
            out = convert_gdf(out, "bd09", "wgs84")
            chk = GcjCheck(True, chk.offset_m, bd.offset_if_gcj_m, bd.n, bd.method)
            rec.update(crs_detected="bd09 (detected)",
                       conversion="bd09 → wgs84 (detected: read as BD-09 the file matches the current layer)")
        elif chk is not None and not np.isfinite(chk.offset_m):
            notes.append("GCJ-02 detection was not possible; the file is taken as WGS84")
        elif chk is not None and chk.offset_m > 150:
            notes.append(f"the file lies {chk.offset_m:.0f} m (median) from the current layer and reading it as "
                         f"GCJ-02 or BD-09 does not bring it closer ({chk.offset_if_gcj_m:.0f} m as GCJ-02), so it "
                         "is taken as WGS84; if it comes from a Chinese web map, import it with --crs gcj02 or bd09")
    return out, rec, chk, notes


def _outside_tianjin(gdf: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame | None) -> np.ndarray:
    """Indices of features farther than :data:`TIANJIN_MARGIN_M` from the municipal boundary."""
    if boundary is None or boundary.empty:
        return np.array([], dtype=int)
    area = boundary.to_crs(METRIC_CRS).geometry.union_all().buffer(TIANJIN_MARGIN_M)
    feats = np.asarray(gdf.to_crs(METRIC_CRS).geometry.values)
    return np.flatnonzero(~shapely.intersects(feats, area))


# ------------------------------------------------------------------------------------------------ schema


def _map_fields(gdf: gpd.GeoDataFrame, layer: Layer, field_map: dict[str, str], path: Path) -> gpd.GeoDataFrame:
    declared = layer.all_fields
    for target, src in field_map.items():
        if target not in declared:
            raise _refuse(f"--map-fields target {target!r} is not a field of the layer (fields: "
                          f"{', '.join(declared)})", layer.id, path, field=target, rule="fields")
        if src not in gdf.columns:
            raise _refuse(f"--map-fields source {src!r} is not a column of the file (columns: "
                          f"{', '.join(c for c in gdf.columns if c != gdf.geometry.name)})", layer.id, path,
                          field=src, rule="fields")
    renamed = gdf.rename(columns={src: target for target, src in field_map.items()})
    return renamed.loc[:, ~renamed.columns.duplicated(keep="last")]


def _complete_fields(gdf: gpd.GeoDataFrame, layer: Layer, path: Path, accuracy: str,
                     current: gpd.GeoDataFrame | None, inherit: bool) -> tuple[gpd.GeoDataFrame, dict]:
    """Fill the fields the file lacks: measured ones, import notes, and (by ``name_zh``) the current layer's."""
    gdf = gdf.copy()
    how: dict[str, str] = {}
    gdf["accuracy"] = accuracy
    gdf["source"] = f"import:{path.name}"
    if "name_zh" not in gdf.columns:
        raise _refuse("the file has no 'name_zh' field (the feature names); map one with --map-fields "
                      "name_zh=<column>", layer.id, path, field="name_zh", rule="fields")
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
        unknown = sorted(set(gdf["name_zh"].astype(str)) - set(cur.index))
        if not unknown:
            for name in [m for m in missing if m in cur.columns]:
                gdf[name] = gdf["name_zh"].map(cur[name]).values
                how[name] = "inherited from the current layer by name_zh"
            missing = [n for n in layer.all_fields if n not in gdf.columns]
    if missing:
        raise _refuse(f"missing declared field(s) {', '.join(missing)} (file columns: "
                      f"{', '.join(c for c in gdf.columns if c != gdf.geometry.name)}); add them or map them with "
                      "--map-fields FIELD=COLUMN", layer.id, path, field=missing[0], rule="fields")
    return gdf, how


# ------------------------------------------------------------------------------------------------ records


def _write_json_atomic(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_gpkg_atomic(path: Path, gdf: gpd.GeoDataFrame, layer_id: str) -> None:
    write_gpkg_atomic(path, {layer_id: gdf})


# ------------------------------------------------------------------------------------------------ API


def check_import(layer_id: str, file: str | Path, *, crs: str = "auto", field_map: dict[str, str] | str | None = None,
                 accuracy: str = "official", gpkg: str | Path | None = None, inherit: bool = True,
                 catalog: Catalog | None = None) -> ImportResult:
    """Validate and convert ``file`` for ``layer_id`` without recording anything.

    Parameters
    ----------
    layer_id : a catalog layer id.
    file : any vector file GDAL reads (shapefile, GeoJSON, GeoPackage, KML, …).
    crs : ``auto`` (the file's own CRS; lon/lat files are checked for the GCJ-02 and BD-09 offsets against
        the current layer), ``gcj02``, ``bd09`` (lon/lat with a Chinese web offset), or an EPSG code (for files without
        a CRS; it must agree with the file's CRS when there is one).
    field_map : ``{catalog_field: file_column}`` or ``"a=b,c=d"``.
    accuracy : the accuracy class the user declares for the data (default ``official``).
    gpkg : the built GeoPackage holding the current layers (default ``layers/tianjin.gpkg``): the current
        layer (GCJ-02 reference, fields inherited by ``name_zh``) and the boundary (inside-Tianjin check).
    inherit : fill fields the file lacks from the current layer's feature of the same ``name_zh``.

    Raises
    ------
    ImportLayerError
        Naming the layer, file, feature, field and rule at fault.
    """
    cat = catalog or get_catalog()
    layer = cat[layer_id]
    path = Path(file)
    if accuracy not in ACCURACY_CLASSES:
        raise _refuse(f"accuracy {accuracy!r} is not one of {list(ACCURACY_CLASSES)}", layer_id, path,
                      field="accuracy", rule="accuracy")
    fmap = parse_field_map(field_map) if isinstance(field_map, str) or field_map is None else dict(field_map)
    gpkg = Path(gpkg) if gpkg else default_gpkg()
    raw = _read(path, layer_id)
    _check_geometry(raw, layer, path)
    current = _current_layer(layer_id, gpkg)
    data, crs_rec, chk, notes = _to_wgs84(raw, crs, layer, path, current)
    boundary = _current_layer("boundary", gpkg) if "boundary" in cat else None
    outside = _outside_tianjin(data, boundary)
    if len(outside):
        b = np.round(shapely.bounds(np.asarray(data.geometry.values)[outside[0]]), 4).tolist()
        raise _refuse(f"{len(outside)} feature(s) lie outside Tianjin (more than {TIANJIN_MARGIN_M / 1000:g} km from "
                      f"the municipal boundary; first at lon/lat bounds {b}); wrong CRS or wrong file?", layer_id,
                      path, feature=_feature(data, outside[0]), rule="outside_tianjin")
    data = _map_fields(data, layer, fmap, path)
    data, how = _complete_fields(data, layer, path, accuracy, current, inherit)
    try:
        data = finish_layer(data, layer, source_label=f"import:{path.name}")
    except (ValueError, TypeError) as exc:
        raise _refuse(f"a field cannot be converted to its declared type: {exc}", layer_id, path,
                      rule="fields") from exc
    problems = layer_problems(data, layer, check_gcj=False)
    if problems:
        p: ValidationError = problems[0]
        rule = "outside_tianjin" if p.rule == "envelope" else p.rule
        raise _refuse(f"{p.message}" + (" (the data may be in another CRS than declared)" if p.rule == "envelope"
                                        else ""), layer_id, path, feature=p.feature, field=p.field, rule=rule)
    record = {
        "layer": layer_id, "file": str(path.resolve()), "file_name": path.name, "sha256": file_sha256(path)
        if path.is_file() else "", **crs_rec, "field_map": fmap, "fields_filled": how, "accuracy": accuracy,
        "features": int(len(data)),
        "gcj02_check": None if chk is None else {"probable": chk.probable, "offset_m": round(chk.offset_m, 1)
                                                 if np.isfinite(chk.offset_m) else None,
                                                 "offset_if_gcj_m": round(chk.offset_if_gcj_m, 1)
                                                 if np.isfinite(chk.offset_if_gcj_m) else None,
                                                 "n": chk.n, "method": chk.method},
        "imported_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "stored": f"{layer_id}.gpkg",
    }
    return ImportResult(layer=layer_id, data=data, record=record, warnings=notes)


def import_layer(layer_id: str, file: str | Path, *, crs: str = "auto", field_map: dict[str, str] | str | None = None,
                 accuracy: str = "official", imports_dir: str | Path | None = None, out: str | Path | None = None,
                 rebuild: bool = True, inherit: bool = True, quiet: bool = True,
                 catalog: Catalog | None = None) -> ImportResult:
    """Replace ``layer_id`` with an official ``file``: check and convert it, record it, rebuild.

    See :func:`check_import` for ``crs``, ``field_map``, ``accuracy`` and ``inherit``. The converted data
    and its provenance go to ``imports_dir`` (default ``layers/imports``); then the GeoPackage ``out``
    (default ``layers/tianjin.gpkg``) is rebuilt with every recorded import. If the rebuild fails, the
    previous record is restored and the GeoPackage is left as it was.
    """
    out_path = Path(out) if out else default_gpkg()
    result = check_import(layer_id, file, crs=crs, field_map=field_map, accuracy=accuracy, gpkg=out_path,
                          inherit=inherit, catalog=catalog)
    base = _imports_path(imports_dir)
    base.mkdir(parents=True, exist_ok=True)
    stored = base / f"{layer_id}.gpkg"
    records_before = recorded_imports(base)
    backup = stored.with_name(f"{stored.stem}.previous-{os.getpid()}.gpkg")
    had_previous = stored.is_file()
    if had_previous:
        os.replace(stored, backup)
    try:
        _write_gpkg_atomic(stored, result.data, layer_id)
        _write_json_atomic(base / RECORD_FILE, {**records_before, layer_id: result.record})
        if rebuild:
            result.gpkg = build(out=out_path, quiet=quiet, overrides=recorded_overrides(base, catalog), catalog=catalog)
    except BaseException:
        if stored.exists():
            stored.unlink()
        if had_previous:
            os.replace(backup, stored)
        _write_json_atomic(base / RECORD_FILE, records_before)
        raise
    if had_previous and backup.exists():
        backup.unlink()
    result.stored = stored
    return result


def remove_import(layer_id: str, *, imports_dir: str | Path | None = None, out: str | Path | None = None,
                  rebuild: bool = True, quiet: bool = True) -> Path | None:
    """Forget the recorded import of ``layer_id`` (the builder takes over again) and rebuild ``out``."""
    base = _imports_path(imports_dir)
    records = recorded_imports(base)
    if layer_id not in records:
        raise UnknownNameError(f"no recorded import for layer {layer_id!r} in {base} (imported: {sorted(records) or 'none'})")
    stored = stored_path(layer_id, records.pop(layer_id), base)
    _write_json_atomic(base / RECORD_FILE, records)
    if stored.exists():
        stored.unlink()
    if rebuild:
        return build(out=Path(out) if out else None, quiet=quiet, overrides=recorded_overrides(base))
    return None
