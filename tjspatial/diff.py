"""Compare two built GeoPackages layer by layer, so a refresh (e.g. from OSM) can be reviewed before publishing.

:func:`diff_gpkg` gives one row per layer: features added, removed, changed and unchanged, and the change in
feature count, total length (km, line layers) and total area (km², polygon layers), measured in the metric CRS
(:func:`tjspatial.crs.metric_crs_for`: EPSG:4548 for Tianjin).
:func:`diff_layer` lists the features themselves.

Features are matched by a key chosen per layer: the first declared identifier field (``*_id``, ``adcode``,
``variant``, ``city``, ``zone``) whose values are unique and non-empty in both files and shared by at least
half of the features (ids of different sources, e.g. bundled vs OSM station ids, are not); else ``name_zh`` where
it is unique and non-empty, and for the other features the name plus the position of a point on the feature
rounded to 1e-4° (~10 m). A matched feature is *changed* when its geometry differs by more than
``tolerance_deg`` or any attribute other than ``source`` differs.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import UnknownNameError
from .gpkg import GeoPackage
from .catalog import Catalog, get_catalog
from .crs import to_metric
from .io import load

__all__ = ["diff_gpkg", "diff_layer", "format_diff", "format_features", "cap", "match_key"]

_ID_FIELDS = ("adcode", "variant", "city", "zone")
_IGNORED = {"source"}


def _layers_in(path: Path) -> set[str]:
    return set(GeoPackage(path).layers)  # GeoPackageError if missing or not a GeoPackage


def match_key(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, fields: list[str]) -> tuple[pd.Series, pd.Series, str]:
    """The key each feature of ``old`` and ``new`` is matched by, and a description of the key.

    Parameters
    ----------
    old, new : geopandas.GeoDataFrame
        The layer in the old and the new GeoPackage.
    fields : list of str
        The layer's fields; an ``*_id`` or id-like field unique and shared by half the features is the key.

    Returns
    -------
    old_key, new_key : pandas.Series
        The key of each feature (index as the frames').
    description : str
        The field used, or ``name_zh (+ position where not unique)``.
    """
    for f in [f for f in fields if f.endswith("_id")] + [f for f in _ID_FIELDS if f in fields]:
        if f in old.columns and f in new.columns:
            a, b = old[f].astype(str), new[f].astype(str)
            shared = len(set(a) & set(b))
            if (
                a.is_unique
                and b.is_unique
                and (a != "").all()
                and (b != "").all()
                and shared >= 0.5 * min(len(a), len(b))
            ):
                return a, b, f
    return _name_key(old), _name_key(new), "name_zh (+ position where not unique)"


def _name_key(g: gpd.GeoDataFrame) -> pd.Series:
    name = g["name_zh"].fillna("").astype(str)
    unique = (name != "") & ~name.duplicated(keep=False)
    pts = shapely.point_on_surface(np.asarray(g.geometry.values))
    xy = np.round(shapely.get_coordinates(pts), 4)
    pos = pd.Series([f"@{x:.4f},{y:.4f}" for x, y in xy], index=g.index)
    return name.where(unique, name + pos)


def diff_layer(
    old_path: str | Path,
    new_path: str | Path,
    layer_id: str,
    *,
    tolerance_deg: float = 1e-7,
    catalog: Catalog | None = None,
) -> gpd.GeoDataFrame:
    """The features of ``layer_id`` that were added, removed or changed between two GeoPackages.

    Parameters
    ----------
    old_path, new_path : str or Path
        The GeoPackage before (e.g. the published one) and after (e.g. a refresh from OpenStreetMap).
    layer_id : str
        A catalog layer id.
    tolerance_deg : float
        Coordinates closer than this (degrees, EPSG:4326) count as unchanged.
    catalog : Catalog, optional
        The catalog (default ``tj.get_catalog()``).

    Returns
    -------
    GeoDataFrame (EPSG:4326) with ``key``, ``name_zh``, ``change`` (``added`` / ``removed`` / ``changed``),
    ``what`` (``geometry`` and/or the changed field names), ``details`` (each changed field as ``old → new``; for
    the geometry the largest displacement in metres and the new/old area or length ratio), ``moved_m``,
    ``size_ratio`` (metric CRS, EPSG:4548 for Tianjin) and the new geometry (old for removed features).
    ``.attrs["key"]`` describes the matching key.
    """
    cat = catalog or get_catalog()
    fields = list(cat[layer_id].all_fields) if layer_id in cat else []
    return _diff_frames(load(layer_id, old_path), load(layer_id, new_path), layer_id, fields, tolerance_deg)


def _diff_frames(
    old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, layer_id: str, fields: list[str], tolerance_deg: float
) -> gpd.GeoDataFrame:
    fields = fields or [c for c in new.columns if c != "geometry"]
    ka, kb, how = match_key(old, new, fields)
    old = old.assign(_key=ka.to_numpy())
    new = new.assign(_key=kb.to_numpy())
    old = old[~old["_key"].duplicated()]
    new = new[~new["_key"].duplicated()]
    both = old.merge(
        pd.DataFrame(new.drop(columns="geometry").assign(_geom_new=new.geometry.values)),
        on="_key",
        suffixes=("_old", "_new"),
    )
    geo_changed = ~shapely.equals_exact(
        np.asarray(both["geometry"].values), np.asarray(both["_geom_new"].values), tolerance=tolerance_deg
    )
    compare = [f for f in fields if f not in _IGNORED and f"{f}_old" in both.columns]
    what = [[] for _ in range(len(both))]
    for f in compare:
        a, b = both[f"{f}_old"], both[f"{f}_new"]
        differs = ~((a == b) | (a.isna() & b.isna()))
        if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
            differs &= ~np.isclose(a.fillna(np.inf), b.fillna(np.inf), rtol=0, atol=1e-9)
        for i in np.flatnonzero(differs.to_numpy()):
            what[i].append(f)
    for i in np.flatnonzero(geo_changed):
        what[i].insert(0, "geometry")
    changed = np.array([bool(w) for w in what], dtype=bool)
    name_col = "name_zh_new" if "name_zh_new" in both.columns else "name_zh"
    moved, ratio = _geometry_change(both["geometry"].to_numpy(), both["_geom_new"].to_numpy(), old.crs)
    details = []
    for i in np.flatnonzero(changed):
        bits = []
        for f in what[i]:
            if f == "geometry":
                g = f"geometry moved up to {moved[i]:,.0f} m"
                if np.isfinite(ratio[i]):
                    g += f", {'area' if _is_area(both['geometry'].iloc[i]) else 'length'} ×{ratio[i]:.3f}"
                bits.append(g)
            else:
                bits.append(f"{f}: {_show(both[f'{f}_old'].iloc[i])} → {_show(both[f'{f}_new'].iloc[i])}")
        details.append("; ".join(bits))
    parts = [
        gpd.GeoDataFrame(
            {
                "key": both["_key"][changed].to_numpy(),
                "name_zh": both[name_col][changed].to_numpy(),
                "change": "changed",
                "what": [", ".join(w) for w, c in zip(what, changed) if c],
                "details": details,
                "moved_m": moved[changed],
                "size_ratio": ratio[changed],
            },
            geometry=gpd.GeoSeries(both["_geom_new"][changed].to_numpy(), crs=new.crs),
        ),
    ]
    added = new[~new["_key"].isin(old["_key"])]
    removed = old[~old["_key"].isin(new["_key"])]
    for g, label in ((added, "added"), (removed, "removed")):
        parts.append(
            gpd.GeoDataFrame(
                {
                    "key": g["_key"].to_numpy(),
                    "name_zh": g["name_zh"].to_numpy(),
                    "change": label,
                    "what": "",
                    "details": "",
                    "moved_m": np.nan,
                    "size_ratio": np.nan,
                },
                geometry=gpd.GeoSeries(g.geometry.values, crs=new.crs),
            )
        )
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=new.crs)
    out.attrs.update({"layer": layer_id, "key": how, "unchanged": int((~changed).sum())})
    return out


def _is_area(geom) -> bool:
    return geom is not None and shapely.get_type_id(geom) in (3, 6)


def _show(v) -> str:
    """A value as ``diff`` prints it: text quoted when empty, floats to 6 significant digits, at most 60
    characters."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "(none)"
    if isinstance(v, (float, np.floating)):
        text = f"{v:.6g}"
    else:
        text = str(v)
    if text == "":
        return "''"
    return text if len(text) <= 60 else text[:57] + "…"


def _geometry_change(old_geoms: np.ndarray, new_geoms: np.ndarray, crs) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, in the metric CRS (EPSG:4548 for Tianjin): the largest displacement (Hausdorff distance, m; for
    points the distance moved) and the size ratio new/old (area for polygons, length for lines, NaN for points)."""
    if not len(old_geoms):
        return np.zeros(0), np.zeros(0)
    a = np.asarray(to_metric(gpd.GeoDataFrame(geometry=gpd.GeoSeries(old_geoms, crs=crs))).geometry.values)
    b = np.asarray(to_metric(gpd.GeoDataFrame(geometry=gpd.GeoSeries(new_geoms, crs=crs))).geometry.values)
    moved = shapely.hausdorff_distance(a, b)
    poly = np.isin(shapely.get_type_id(a), (3, 6))
    line = np.isin(shapely.get_type_id(a), (1, 2, 5))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            poly, shapely.area(b) / shapely.area(a), np.where(line, shapely.length(b) / shapely.length(a), np.nan)
        )
    return np.asarray(moved, dtype=float), np.asarray(ratio, dtype=float)


def _measure(g: gpd.GeoDataFrame, geometry_type: str) -> tuple[float, float]:
    if g is None or g.empty:
        return 0.0, 0.0
    m = to_metric(g)
    if geometry_type == "LineString":
        return float(m.length.sum() / 1e3), np.nan
    if geometry_type == "Polygon":
        return np.nan, float(m.area.sum() / 1e6)
    return np.nan, np.nan


def diff_gpkg(
    old_path: str | Path,
    new_path: str | Path,
    *,
    layers: list[str] | None = None,
    tolerance_deg: float = 1e-7,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Per-layer change between two GeoPackages built by ``tjspatial build``.

    Parameters
    ----------
    old_path, new_path : str or Path
        The GeoPackage before (e.g. the published one) and after (e.g. a refresh from OpenStreetMap).
    layers : list of str, optional
        Only these layer ids (default: every catalog layer in either file).
    tolerance_deg : float
        Coordinates closer than this (degrees, EPSG:4326) count as unchanged.
    catalog : Catalog, optional
        The catalog (default ``tj.get_catalog()``).

    Returns
    -------
    DataFrame, one row per catalog layer present in either file (in catalog order): ``layer, status``
    (``same`` / ``changed`` / ``added`` / ``removed``), ``count_old, count_new, count_change, added, removed,
    changed, unchanged, length_km_old, length_km_new, length_km_change`` (line layers),
    ``area_km2_old, area_km2_new, area_km2_change`` (polygon layers). Lengths and areas are measured in
    the metric CRS (EPSG:4548 for Tianjin); ``key`` says how features were matched.
    """
    cat = catalog or get_catalog()
    in_old, in_new = _layers_in(Path(old_path)), _layers_in(Path(new_path))
    ids = [lid for lid in cat.ids if lid in in_old | in_new]
    if layers is not None:
        unknown = [lid for lid in layers if lid not in ids]
        if unknown:
            raise UnknownNameError(f"layer(s) {unknown} are in neither GeoPackage; they hold {sorted(in_old | in_new)}")
        ids = [lid for lid in ids if lid in layers]
    rows = []
    for lid in ids:
        gtype = cat[lid].geometry_type
        old = load(lid, old_path) if lid in in_old else None
        new = load(lid, new_path) if lid in in_new else None
        len_o, area_o = _measure(old, gtype)
        len_n, area_n = _measure(new, gtype)
        n_o, n_n = (len(old) if old is not None else 0), (len(new) if new is not None else 0)
        if old is not None and new is not None:
            d = _diff_frames(old, new, lid, list(cat[lid].all_fields), tolerance_deg)
            counts = d["change"].value_counts()
            added, removed, changed = (int(counts.get(k, 0)) for k in ("added", "removed", "changed"))
            unchanged, key = d.attrs["unchanged"], d.attrs["key"]
            status = "same" if not (added or removed or changed) else "changed"
        else:
            added, removed, changed, unchanged, key = n_n, n_o, 0, 0, ""
            status = "added" if old is None else "removed"
        rows.append(
            {
                "layer": lid,
                "status": status,
                "count_old": n_o,
                "count_new": n_n,
                "count_change": n_n - n_o,
                "added": added,
                "removed": removed,
                "changed": changed,
                "unchanged": unchanged,
                "length_km_old": len_o,
                "length_km_new": len_n,
                "length_km_change": len_n - len_o,
                "area_km2_old": area_o,
                "area_km2_new": area_n,
                "area_km2_change": area_n - area_o,
                "key": key,
            }
        )
    out = pd.DataFrame(rows)
    notes = _provenance_notes(Path(new_path))
    out["new_fallback"] = out["layer"].map(lambda lid: notes.get(lid, ("", ""))[0])
    out["new_plausibility"] = out["layer"].map(lambda lid: notes.get(lid, ("", ""))[1])
    out.attrs.update(
        {
            "old": str(old_path),
            "new": str(new_path),
            "measured_in": "the metric CRS of each layer (EPSG:4548 for Tianjin)",
        }
    )
    return out


def _provenance_notes(path: Path) -> dict[str, tuple[str, str]]:
    """layer → (fallback, failed plausibility rules) from the ``provenance`` table of a GeoPackage (empty
    when the table or the columns are absent, e.g. a bundled build)."""
    gpkg = GeoPackage(path)
    if "provenance" not in gpkg:
        return {}
    prov = gpkg.table("provenance")
    cols = [c for c in ("fallback", "plausibility") if c in prov.columns]
    if not cols:
        return {}
    prov = prov.fillna("")
    return {r["layer"]: (str(r.get("fallback", "")), str(r.get("plausibility", ""))) for _, r in prov.iterrows()}


def format_diff(df: pd.DataFrame, *, limit: int = 10) -> str:
    """The diff as a plain-text table (one line per layer; lengths in km, areas in km²), followed by the new
    file's fallbacks and failed plausibility rules (from its provenance table), at most ``limit`` of each
    with a count of the rest.

    Parameters
    ----------
    df : pandas.DataFrame
        The result of :func:`diff_gpkg` (one row per layer).
    limit : int, default 10
        At most this many fallbacks and failed rules are listed (``<= 0``: all).

    Returns
    -------
    str
        The text, lines separated by newlines.
    """
    lines = [
        f"{'layer':<18} {'status':<8} {'count':>13} {'+add':>5} {'-rem':>5} {'~chg':>5}  "
        f"{'length km (Δ)':>22}  {'area km² (Δ)':>24}"
    ]
    for r in df.itertuples():
        count = f"{r.count_old}→{r.count_new}"
        length = "" if np.isnan(r.length_km_old) else f"{r.length_km_new:,.1f} ({r.length_km_change:+,.1f})"
        area = "" if np.isnan(r.area_km2_old) else f"{r.area_km2_new:,.1f} ({r.area_km2_change:+,.1f})"
        lines.append(
            f"{r.layer:<18} {r.status:<8} {count:>13} {r.added:>5} {r.removed:>5} {r.changed:>5}  "
            f"{length:>22}  {area:>24}"
        )
    for col, title in (
        ("new_plausibility", "failed plausibility rules in the new file"),
        ("new_fallback", "fallbacks to the bundled source in the new file"),
    ):
        if col in df.columns and (df[col] != "").any():
            rows = [f"  {r.layer}: {getattr(r, col)}" for r in df.itertuples() if getattr(r, col)]
            lines += ["", f"{title}:"] + cap(rows, limit)
    return "\n".join(lines)


def cap(rows: list[str], limit: int) -> list[str]:
    """``rows`` cut to ``limit`` lines, with ``… and N more`` when longer (``limit <= 0``: no cap).

    Parameters
    ----------
    rows : list of str
        The lines.
    limit : int
        The most lines kept (``<= 0``: no cap).

    Returns
    -------
    list of str
        At most ``limit`` lines plus the ``… and N more`` line.
    """
    if limit <= 0 or len(rows) <= limit:
        return rows
    return rows[:limit] + [f"  … and {len(rows) - limit} more"]


def format_features(d: gpd.GeoDataFrame, *, limit: int = 20) -> list[str]:
    """One line per added, removed and changed feature of :func:`diff_layer`'s result: key, name, and for a
    changed feature every changed field as ``old → new`` and how far the geometry moved (m) and its size
    ratio; at most ``limit`` lines per kind of change, with a count of the rest.

    Parameters
    ----------
    d : geopandas.GeoDataFrame
        The result of :func:`diff_layer`.
    limit : int, default 20
        At most this many lines per kind of change (``<= 0``: all).

    Returns
    -------
    list of str
        The lines.
    """
    out = []
    for change in ("added", "removed", "changed"):
        part = d[d["change"] == change]
        rows = []
        for f in part.itertuples():
            name = f" {f.name_zh}" if f.name_zh and str(f.name_zh) != str(f.key) else ""
            rows.append(f"  {change:<8} {f.key}{name}" + (f"  [{f.details}]" if f.details else ""))
        out += cap(rows, limit)
    return out
