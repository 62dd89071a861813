"""Normalisation: OSM features → the catalog schema of each layer OSM can supply.

A layer's ``[layer.osm] normalise`` names one function of this module. Each takes the layer's
:class:`~tjspatial.sources.osm_data.OsmDoc` (the OSM XML answer or extract, with the selectors of the layer) and the
build context, and returns a GeoDataFrame in EPSG:4326 with the layer's declared fields, so that downstream
code cannot tell which source built the layer. Every feature gets ``accuracy = "osm"`` and a ``source`` naming
OpenStreetMap and the data date. Lengths and areas are measured in the metric CRS (EPSG:4548 for Tianjin).

Tag mapping (common to all layers): ``name_zh`` from ``name:zh``, ``name:zh-Hans``, then ``name``; ``name_en``
from ``name:en``, else an English ``name``, else made from ``name_zh`` by :mod:`tjspatial.names` (stations:
place-name pinyin, 天津西站 → "Tianjin Xi"; other features: their type translated, 北大港水库 → "Beidagang
Reservoir");
status ``construction`` / ``proposed`` from the ``railway``/``construction``/``proposed`` tags, else ``open``. A normaliser raises :class:`NotCovered` when the data holds nothing for
its layer (the build then keeps the bundled source), reports every geometry repair or drop with the OSM id
(:func:`usable`) and records feature-level fallbacks with ``ctx.fallback``.
"""

from __future__ import annotations

import re
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..build_context import BuildContext
from ..crs import STORAGE_CRS, to_metric
from ..errors import BuildError
from ..names import english_name, place_name_pinyin
from .osm_data import OsmDoc

__all__ = [
    "NotCovered",
    "usable",
    "FORMER_NAMES",
    "names",
    "status",
    "districts",
    "rail_stations",
    "metro_lines",
    "intercity_rail",
    "coastline",
    "water",
    "plan_areas",
]

_CJK = re.compile(r"[\u3400-\u9fff]")


# ------------------------------------------------------------------------------------------------ helpers


class NotCovered(BuildError):
    """The OSM data does not cover this layer: the build keeps the layer's bundled source (and says so), or
    stops with ``--strict``."""

    fallback = True


def usable(f: gpd.GeoDataFrame, ctx: BuildContext) -> gpd.GeoDataFrame:
    """``f`` without the features whose geometry could not be built, after warning about each repair made
    and each feature dropped, naming its OSM element and id.

    Parameters
    ----------
    f : geopandas.GeoDataFrame
        Features built from OSM (``geometry`` None where it failed).
    ctx : BuildContext
        The build's context (warnings, fallbacks, bundled layers).

    Returns
    -------
    geopandas.GeoDataFrame
        The features with a geometry.
    """
    if not len(f):
        return f
    reps = [r for r in f["repairs"] if r] if "repairs" in f.columns else []
    if reps:
        ctx.warn(
            f"repaired {len(reps)} OSM geometr{'y' if len(reps) == 1 else 'ies'} (rings closed, dropped or made "
            f"valid): {capped(reps)}"
        )
    geoms = np.asarray(f.geometry.values)
    bad = pd.isna(geoms) | shapely.is_empty(geoms)
    if bad.any():
        nm = names(f)[0]
        dropped = [
            f"{e} {i} {nm.iloc[k] or ''}".strip() + f" ({f['problems'].iloc[k] or 'no geometry'})"
            for k, (e, i) in enumerate(f.index)
            if bad[k]
        ]
        ctx.warn(f"dropped {len(dropped)} OSM feature(s) without a usable geometry: {capped(dropped)}")
    return f[~bad]


def capped(items: list[str], limit: int = 20, sep: str = "; ") -> str:
    """``items`` joined, at most ``limit`` of them, then ``… and N more`` (warnings stay readable on a
    country-sized extract)."""
    items = list(items)
    text = sep.join(items[:limit])
    return text + (f"{sep}… and {len(items) - limit} more" if len(items) > limit else "")


def tag(f: pd.DataFrame, key: str) -> pd.Series:
    """Tag ``key`` of every feature as text ('' where absent)."""
    if key not in f.columns:
        return pd.Series("", index=f.index, dtype=object)
    col = f[key]
    return col.astype(object).where(col.notna(), "").astype(str)


def _is_english(text: pd.Series) -> pd.Series:
    return text.str.contains(r"[A-Za-z]", regex=True) & ~text.str.contains(_CJK.pattern, regex=True)


def names(f: pd.DataFrame, romanise: Callable[[str], str] = english_name) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``(name_zh, name_en, name_source)``: ``name_zh`` from ``name:zh``, ``name:zh-Hans``, then ``name``;
    ``name_en`` from ``name:en``, else an English ``name`` (Latin letters, no Chinese), else ``romanise`` of
    ``name_zh`` (:func:`tjspatial.names.english_name` for features, :func:`~tjspatial.names.place_name_pinyin`
    for stations).

    Parameters
    ----------
    f : pandas.DataFrame
        OSM features with their tags as columns.
    romanise : callable, optional
        Chinese name → English or pinyin (default :func:`tjspatial.names.english_name`).

    Returns
    -------
    name_zh, name_en, name_source : pandas.Series
        The names and where each came from.
    """
    zh_tag = tag(f, "name:zh").where(tag(f, "name:zh") != "", tag(f, "name:zh-Hans"))
    name, en_tag = tag(f, "name"), tag(f, "name:en")
    english = _is_english(name) & (zh_tag != "")
    name_zh = zh_tag.where(zh_tag != "", name)
    source = pd.Series(
        np.where(
            tag(f, "name:zh") != "",
            "osm:name:zh",
            np.where(zh_tag != "", "osm:name:zh-Hans", np.where(name != "", "osm:name", "none")),
        ),
        index=f.index,
    )
    name_en = en_tag.where(en_tag != "", name.where(english, name_zh.map(romanise)))
    return name_zh, name_en, source


def status(f: pd.DataFrame) -> pd.Series:
    """``open``, ``construction`` or ``proposed`` from the lifecycle tags.

    Parameters
    ----------
    f : pandas.DataFrame
        OSM features with their tags as columns.

    Returns
    -------
    pandas.Series
        One status per feature.
    """
    railway, state = tag(f, "railway"), tag(f, "state")

    def stage(word: str) -> pd.Series:  # railway=<word>, <word>=*, state=<word> or <word>:railway=*
        return (railway == word) | (tag(f, word) != "") | (state == word) | (tag(f, f"{word}:railway") != "")

    constr, proposed = stage("construction"), stage("proposed")
    return pd.Series(np.where(constr, "construction", np.where(proposed, "proposed", "open")), index=f.index)


def _finish(gdf: gpd.GeoDataFrame, doc: OsmDoc) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    gdf["accuracy"] = "osm"
    gdf["source"] = doc.label
    return gdf.reset_index(drop=True)


def _clip(gdf: gpd.GeoDataFrame, polygon) -> gpd.GeoDataFrame:
    """Clip lines / polygons to ``polygon`` and drop what falls outside."""
    geoms = shapely.make_valid(np.asarray(gdf.geometry.values))
    clipped = shapely.intersection(geoms, polygon)
    out = gdf.copy()
    out["geometry"] = clipped
    return out[~shapely.is_empty(clipped)]


def _only(geoms: np.ndarray, family: str) -> np.ndarray:
    """Keep only the ``family`` parts (``"line"`` or ``"polygon"``) of each geometry (clipping may leave
    points or lines in a collection); lines are merged. ``None`` where nothing of the family is left."""
    ids = {"line": (1, 5), "polygon": (3, 6)}[family]
    parts, owner = shapely.get_parts(geoms, return_index=True)
    keep = np.isin(shapely.get_type_id(parts), ids)
    grouped = gpd.GeoSeries(parts[keep]).groupby(owner[keep]).agg(lambda s: shapely.union_all(s.to_numpy()))
    out = np.full(len(geoms), None, dtype=object)
    out[grouped.index.to_numpy()] = grouped.to_numpy()
    if family == "line":
        has = ~pd.isna(out)
        out[has] = shapely.line_merge(out[has].astype(object))
    return out


def _district_of(points: gpd.GeoDataFrame, ctx: BuildContext) -> pd.Series:
    """Name of the district each point lies in ('' outside, or when districts were not built before)."""
    districts = next(
        (
            ctx.layers[lid]
            for lid in ctx.layers
            if "pop_2020" in ctx.layers[lid].columns
            and "adcode" in ctx.layers[lid].columns
            and ctx.catalog[lid].geometry_type == "Polygon"
            and len(ctx.layers[lid]) > 1
        ),
        None,
    )
    if districts is None:
        return pd.Series("", index=points.index)
    j = gpd.sjoin(points[["geometry"]], districts[["name_zh", "geometry"]], how="left", predicate="within")
    j = j[~j.index.duplicated()]
    return j["name_zh"].fillna("").reindex(points.index)


# ------------------------------------------------------------------------------------------------ admin


FORMER_NAMES = {"蓟县": "蓟州区", "静海县": "静海区", "宁河县": "宁河区", "宝坻县": "宝坻区", "武清县": "武清区"}
"""Former names of Tianjin districts still found on OSM boundaries (county → district renamings)."""
DISTRICT_CODE_TAGS = ("division_code", "adcode", "ref", "ref:adcode", "cn:adcode")
"""Tags that may carry a district's 6-digit administrative division code (first 6 digits used)."""
DISTRICT_NAME_TAGS = (
    "name:zh",
    "name:zh-Hans",
    "name:zh-CN",
    "name",
    "official_name",
    "official_name:zh",
    "old_name",
    "old_name:zh",
    "name:en",
)
"""Tags whose values are tried, in order, as district names."""


def _district_code(f: pd.DataFrame) -> pd.Series:
    code = pd.Series(np.nan, index=f.index, dtype="float64")
    for key in DISTRICT_CODE_TAGS:
        v = tag(f, key).str.extract(r"^\s*(\d{6})(?:\d{3}|\d{6})?\s*$")[0]
        code = code.fillna(pd.to_numeric(v, errors="coerce"))
    return code


def _district_by_name(f: pd.DataFrame, lookup: dict[str, int]) -> pd.Series:
    """Census adcode of each feature by its name tags (exact, former name, or without 区/县/新区)."""

    def base(n: str) -> str:
        return re.sub(r"(新区|区|县)$", "", n.strip())

    by_base = {base(k): v for k, v in lookup.items() if not k.isascii()}
    out = pd.Series(np.nan, index=f.index, dtype="float64")
    for key in DISTRICT_NAME_TAGS:
        names_ = tag(f, key)
        exact = names_.map(
            lambda n: (
                lookup.get(n.strip())
                or lookup.get(FORMER_NAMES.get(n.strip(), ""))
                or (by_base.get(base(n)) if n and not n.isascii() else None)
                or lookup.get(n.strip().lower())
            )
        )
        out = out.fillna(pd.to_numeric(exact, errors="coerce"))
    return out


def districts(doc: OsmDoc, ctx: BuildContext) -> gpd.GeoDataFrame:
    """The 16 districts: ``admin_level=6`` boundaries matched to the 2020 census, district by district.

    Matching: by division code first (``division_code`` / ``adcode`` / ``ref``, first 6 digits), then by
    name (``name:zh``, ``name:zh-Hans``, ``name``, official and old names, known former names such as
    蓟县 → 蓟州区, the name without 区/县, ``name:en`` against the bundled English names). Boundaries inside
    Tianjin that match no census district (e.g. a development zone) are ignored with a warning naming them.
    A district whose boundary is missing, broken (member way missing, ring not closed: relation and way ids
    in the message) or implausible (area outside 0.5–2 × the bundled polygon's) keeps its bundled polygon;
    :meth:`BuildContext.fallback` records it (an error with ``--strict``). The result always has exactly the
    census districts and the census total, and no two polygons overlap (an overlap stays with one district,
    with a warning: :func:`_without_overlaps`).

    Parameters
    ----------
    doc : OsmDoc
        The parsed OSM answer or extract.
    ctx : BuildContext
        The build's context (warnings, fallbacks, bundled layers).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features, EPSG:4326.
    """
    census = ctx.read_csv("census_2020")
    attrs = ctx.read_vector("tianditu_districts")
    bundled = ctx.catalog[ctx.layer_id].builder_func()(ctx).reset_index(drop=True)
    lookup = {n: int(c) for n, c in zip(census["name_zh"], census["adcode"])}
    lookup.update({str(n).lower(): int(c) for n, c in zip(attrs["name_en"], attrs["adcode"]) if isinstance(n, str)})
    f = doc.features(repair=False)
    if len(f):
        f = f.assign(_code=_district_code(f))
        f["_code"] = f["_code"].where(f["_code"].isin(census["adcode"]), _district_by_name(f, lookup))
    else:
        f = f.assign(_code=pd.Series(dtype="float64"))
    geoms = np.asarray(f.geometry.values)
    has_geom = ~pd.isna(geoms)
    inside = np.zeros(len(f), dtype=bool)
    if has_geom.any():
        inside[has_geom] = shapely.within(shapely.point_on_surface(geoms[has_geom].astype(object)), doc.boundary)
    label = [f"{n or '(no name)'} ({e} {i})" for n, (e, i) in zip(names(f)[0], f.index)] if len(f) else []
    extra = [label[i] for i in range(len(f)) if pd.isna(f["_code"].iloc[i]) and inside[i]]
    if extra:
        ctx.warn(
            f"ignored {len(extra)} admin_level=6 area(s) inside Tianjin that match no census district: "
            f"{', '.join(extra)}"
        )
    matched = f[f["_code"].notna()].copy()
    if matched.empty:
        raise NotCovered(
            "the OSM data holds no admin_level=6 boundary of a Tianjin district", layer=ctx.layer_id, file=str(doc.path)
        )
    matched["_code"] = matched["_code"].astype("int64")
    gm = np.asarray(matched.geometry.values)
    matched["_area"] = np.where(pd.isna(gm), 0.0, _geod_area_km2(gm))
    ref_area = dict(zip(bundled["adcode"], bundled["area_km2"]))
    reasons: dict[int, str] = {}
    good = []
    for code, grp in matched.groupby("_code", sort=True):  # one iteration per census district (16)
        ok = grp[[not p and g is not None for p, g in zip(grp["problems"], grp.geometry.values)]]
        if len(ok) == 0:
            reasons[code] = "; ".join(p for p in grp["problems"] if p) or "no geometry"
            continue
        best = ok.sort_values("_area", ascending=False).iloc[[0]]
        if len(ok) > 1:
            ctx.warn(
                f"{len(ok)} OSM boundaries match {lookup_name(census, code)}; kept the largest "
                f"({best.index[0][0]} {best.index[0][1]})"
            )
        ratio = best["_area"].iloc[0] / ref_area.get(code, np.nan)
        if not (0.5 <= ratio <= 2.0):
            reasons[code] = (
                f"{best.index[0][0]} {best.index[0][1]} has {ratio:.2f} × the area of the bundled polygon (implausible)"
            )
            continue
        good.append(best)
    osm_rows = pd.concat(good) if good else matched.iloc[:0]
    missing = [c for c in census["adcode"] if c not in set(osm_rows["_code"])]
    if not len(osm_rows):
        raise NotCovered(
            "no district boundary in the OSM data is usable: "
            + "; ".join(f"{lookup_name(census, c)}: {reasons.get(c, 'not in the data')}" for c in missing),
            layer=ctx.layer_id,
            file=str(doc.path),
        )
    f = osm_rows.assign(adcode=osm_rows["_code"].to_numpy())
    name_zh, name_en, _ = names(f)
    c = census.set_index("adcode")
    a = attrs.drop(columns="geometry").set_index("adcode")
    f["name_zh"] = f["adcode"].map(c["name_zh"])
    f["pop_2020"] = f["adcode"].map(c["pop_2020"])
    f["pop_2020_status"] = f["adcode"].map(c["status"])
    f["zone"] = f["adcode"].map(a["zone"]).fillna("")
    f["area_km2_official"] = f["adcode"].map(a["area_km2_official"])
    en = f["adcode"].map(a["name_en"])
    f["name_en"] = tag(f, "name:en").where(tag(f, "name:en") != "", en.fillna(name_en))
    renamed = [f"{n} → {z}" for n, z in zip(name_zh, f["name_zh"]) if n and n != z and not n.isascii()]
    if renamed:
        ctx.warn(f"OSM names matched to census districts: {', '.join(renamed)}")
    gdf = gpd.GeoDataFrame(f, geometry="geometry", crs=STORAGE_CRS)
    gdf["area_km2"] = np.round(to_metric(gdf).area.to_numpy() / 1e6, 3)
    out = _finish(gdf, doc)
    out["source"] = doc.label + "; census_2020"
    if missing:
        why = [f"{lookup_name(census, code)} ({reasons.get(code, 'no boundary in the OSM data')})" for code in missing]
        ctx.fallback(len(missing), f"district boundary not usable from OSM for {', '.join(why)}")
        out = pd.concat([out, bundled[bundled["adcode"].isin(missing)]], ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=STORAGE_CRS)
    return _without_overlaps(out.sort_values("adcode").reset_index(drop=True), ctx)


OVERLAP_REPORT_KM2 = 0.01
"""Overlaps between district polygons smaller than this are removed without being listed one by one."""


def _without_overlaps(gdf: gpd.GeoDataFrame, ctx: BuildContext) -> gpd.GeoDataFrame:
    """The districts as a partition: where two polygons overlap (OSM outlines mapped or simplified apart, or an
    OSM outline beside a bundled fallback one), the overlap stays with one district only (an OSM polygon before
    a bundled one, then the larger district), with a warning naming each overlap and its area. A person
    counted in two districts would break the census total of any areal sum (e.g. the population model)."""
    geoms = np.array(gdf.geometry.values, dtype=object)  # a copy: gdf is not changed
    metric = np.asarray(to_metric(gdf).geometry.values, dtype=object)
    osm = gdf["source"].astype(str).str.startswith("OpenStreetMap").to_numpy()
    area = shapely.area(metric)
    order = sorted(range(len(gdf)), key=lambda i: (not osm[i], -area[i]))
    names_zh = gdf["name_zh"].astype(str).to_numpy()
    kept: list[int] = []
    changed, notes, total = [], [], 0.0
    for i in order:
        before = [j for j in kept if shapely.intersects(geoms[i], geoms[j])]
        overlap = [(j, shapely.area(shapely.intersection(metric[i], metric[j]))) for j in before]
        overlap = [(j, a) for j, a in overlap if a > 0]
        kept.append(i)
        if not overlap:
            continue
        cut = shapely.difference(geoms[i], shapely.union_all([geoms[j] for j, _ in overlap]))
        # on OSM's 1e-7° grid: no near-coincident edges left that turn invalid when projected
        geoms[i] = _polygonal(shapely.set_precision(shapely.make_valid(cut), 1e-7))
        changed.append(i)
        total += sum(a for _, a in overlap)
        notes += [(a, f"{names_zh[i]} ∩ {names_zh[j]} {a / 1e6:.2f} km²") for j, a in overlap]
    if not changed:
        return gdf
    out = gdf.copy()
    out["geometry"] = gpd.GeoSeries(geoms, crs=gdf.crs, index=gdf.index)
    out.loc[out.index[changed], "area_km2"] = np.round(to_metric(out.iloc[changed]).area.to_numpy() / 1e6, 3)
    ctx.warn(
        f"district polygons overlapped ({total / 1e6:.2f} km² in all); each overlap kept by one district only "
        f"(OSM before bundled, then the larger): "
        + (capped([n for a, n in sorted(notes, reverse=True) if a / 1e6 >= OVERLAP_REPORT_KM2]) or "all under 0.01 km²")
    )
    return out


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of an overlay result (a Polygon or MultiPolygon)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def lookup_name(census: pd.DataFrame, code: int) -> str:
    hit = census.loc[census["adcode"] == code, "name_zh"]
    return str(hit.iloc[0]) if len(hit) else str(code)


def _geod_area_km2(geoms: np.ndarray) -> np.ndarray:
    s = gpd.GeoSeries(geoms, crs=STORAGE_CRS)
    return to_metric(gpd.GeoDataFrame(geometry=s)).area.fillna(0).to_numpy() / 1e6


# ------------------------------------------------------------------------------------------------ transport


def canonical_metro_id(ref: str, name: str = "") -> str:
    """The catalog's metro line id for an OSM ``ref`` / ``name``: ``3``, ``M3``, ``3号线``, ``Line 3``,
    ``天津地铁3号线`` → ``3``; ``6-II``, ``6号线二期`` → ``6-II``; ``JJ``, ``津静线`` → ``JJ``; ``Z4``, ``Z4线``
    → ``Z4``. ``''`` when neither says which line."""
    for text in (ref or "", name or ""):
        t = text.strip().upper().replace("（", "(").replace("）", ")")
        if not t:
            continue
        if "津静" in t or t in ("JJ", "JJX"):
            return "JJ"
        m = re.search(r"Z\s*(\d+)", t)
        if m:
            return f"Z{m.group(1)}"
        m = re.search(r"(?:^|M|LINE\s*|地铁|^\D*?)(\d+)\s*(?:号线)?\s*(-\s*(?:II|2)\b|二期|PHASE\s*(?:II|2))?", t)
        if m:
            return m.group(1) + ("-II" if m.group(2) else "")
    return ""


def _line_label(routes: pd.DataFrame, names_by_id: dict[str, str] | None = None) -> pd.Series:
    """The line a route belongs to: metro routes → the catalog's line name (``3号线``, ``津静线``, ``6号线二期``)
    when ``names_by_id`` knows the canonical id, else ``<id>号线``; other routes → the route name without its
    direction suffix."""
    ref = tag(routes, "ref")
    route = tag(routes, "route")
    name_zh = tag(routes, "name:zh").where(tag(routes, "name:zh") != "", tag(routes, "name"))
    base = name_zh.str.replace(r"\s*[:：(（].*$", "", regex=True)
    ids = pd.Series([canonical_metro_id(r, n) for r, n in zip(ref, name_zh)], index=routes.index, dtype=object)
    metro = route.isin(["subway", "light_rail", "monorail"]) & (ids != "")
    names_by_id = names_by_id or {}
    label = ids.map(lambda i: names_by_id.get(i) or (f"{i}号线" if i else ""))
    return base.where(~metro, label)


def _metro_names(ctx: BuildContext, column: str = "name_zh") -> dict[str, str]:
    """Canonical metro line names by id from the bundled metadata (parenthesised notes removed)."""
    try:
        meta = ctx.read_csv("metro_lines_meta", dtype={"line_id": str})
    except BuildError:
        return {}
    return {str(i): re.sub(r"\s*[（(].*$", "", str(n)).strip() for i, n in zip(meta["line_id"], meta[column])}


def hex_colour(value: str) -> str:
    """An OSM ``colour`` as ``#rrggbb`` (``#E1E000``, ``e1e000``, ``#fc0``, ``red``); ``''`` if unreadable."""
    v = (value or "").strip().lower()
    if not v:
        return ""
    if re.fullmatch(r"#?[0-9a-f]{6}", v):
        return "#" + v.lstrip("#")
    if re.fullmatch(r"#?[0-9a-f]{3}", v):
        return "#" + "".join(c * 2 for c in v.lstrip("#"))
    try:
        from matplotlib.colors import to_hex

        return to_hex(v)
    except (ImportError, ValueError):
        return ""


def _station_name(name: pd.Series) -> pd.Series:
    """Station names as the bundled layer writes them: without a trailing 站 / 火车站 (天津站 → 天津)."""
    return name.str.replace(r"(火车站|站)$", "", regex=True).where(name.str.len() > 2, name)


def rail_stations(doc: OsmDoc, ctx: BuildContext) -> gpd.GeoDataFrame:
    """Station nodes (and station areas, as points on surface); kind metro / rail / tram; lines from route
    relations (the station is a member, or a stop of the route has its name within 1 km).

    Parameters
    ----------
    doc : OsmDoc
        The parsed OSM answer or extract.
    ctx : BuildContext
        The build's context (warnings, fallbacks, bundled layers).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features, EPSG:4326.
    """
    f = usable(doc.features(), ctx)
    if f.empty:
        raise NotCovered("the OSM data holds no station", layer=ctx.layer_id, file=str(doc.path))
    geoms = np.asarray(f.geometry.values)
    f = f.assign(geometry=np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms)))
    name_zh, name_en, name_src = names(f, romanise=place_name_pinyin)
    railway, station = tag(f, "railway"), tag(f, "station")
    kind = np.where(
        station.isin(["subway", "light_rail", "monorail"])
        | (tag(f, "subway") == "yes")
        | (tag(f, "light_rail") == "yes"),
        "metro",
        np.where((railway == "tram_stop") | (station == "tram") | (tag(f, "tram") == "yes"), "tram", "rail"),
    )
    elements = f.index.get_level_values(0).astype(str)
    ids = f.index.get_level_values(1).astype("int64")
    short = pd.Series(np.where(kind == "rail", _station_name(name_zh), name_zh), index=f.index)
    out = gpd.GeoDataFrame(
        {
            "name_zh": short.to_numpy(),
            "name_en": name_en.to_numpy(),
            "station_id": ("osm_" + elements.str[0] + ids.astype(str)).to_numpy(),
            "kind": kind,
            "status": status(f).to_numpy(),
            "name_source": name_src.to_numpy(),
            "osm_station_tag": station.where(
                station != "", railway.where(railway != "", tag(f, "public_transport"))
            ).to_numpy(),
            "_element": elements,
            "_id": ids,
            "_name": name_zh.to_numpy(),
        },
        geometry=gpd.GeoSeries(f.geometry.values, crs=STORAGE_CRS),
        crs=STORAGE_CRS,
    )
    out["lines"] = _station_lines(out, doc, _metro_names(ctx))
    out["_stop"] = (
        tag(f, "public_transport").isin(["stop_position", "platform"]).to_numpy() | (railway == "platform").to_numpy()
    )
    out["_area"] = elements != "node"
    out = _merge_stations(out, ctx)
    out["district_zh"] = _district_of(out, ctx).to_numpy()
    out["inside_tianjin"] = shapely.within(np.asarray(out.geometry.values), doc.boundary)
    out = out.drop(columns=["_element", "_id", "_name", "_stop", "_area"])
    return _finish(out, doc)


STATION_MERGE_M = 600.0
"""Station features of the same kind and name within this distance (m) are one station."""


def _merge_stations(st: gpd.GeoDataFrame, ctx: BuildContext) -> gpd.GeoDataFrame:
    """One feature per real station: nodes, station areas, interchange nodes and stop positions / platforms of
    the same kind and name within :data:`STATION_MERGE_M` collapse to one (a node, not an area or a stop,
    is kept; ``lines`` lists every line of the group). Stop positions and platforms never count as stations
    on their own: those without a station are dropped. Unnamed features are kept as they are."""
    st = st.reset_index(drop=True)
    xy = shapely.get_coordinates(np.asarray(to_metric(st).geometry.values))
    named = st["name_zh"] != ""
    group = np.arange(len(st))
    for (kind, name), idx in st[named].groupby(["kind", "name_zh"]).groups.items():  # names seen twice or more
        idx = np.asarray(idx)
        if len(idx) < 2:
            continue
        d = np.hypot(*(xy[idx][:, None, :] - xy[idx][None, :, :]).transpose(2, 0, 1))
        label = np.arange(len(idx))
        for _ in range(len(idx)):  # single-linkage clusters by repeated relaxation (groups are tiny)
            near = d <= STATION_MERGE_M
            new = np.where(near, label[None, :], len(idx)).min(axis=1)
            if (new == label).all():
                break
            label = new
        group[idx] = idx[label]
    st = st.assign(_group=group)
    rank = st["_stop"].astype(int) * 2 + st["_area"].astype(int)
    st = st.assign(_rank=rank.to_numpy()).sort_values(["_group", "_rank"], kind="stable")
    lines = st.groupby("_group")["lines"].agg(
        lambda s: ";".join(sorted({x for v in s for x in v.split(";") if x}, key=_natural_key))
    )
    only_stops = st.groupby("_group")["_stop"].all()
    size = st.groupby("_group").size()
    keep = st.drop_duplicates("_group").set_index("_group")
    keep["lines"] = lines
    merged = size[size > 1]
    dropped = keep[only_stops & (size >= 1)]
    if len(merged):
        ex = ", ".join(f"{keep.loc[g, 'name_zh']} ×{n}" for g, n in merged.sort_values(ascending=False).items())
        ctx.warn(
            f"merged {int(merged.sum())} OSM station features into {len(merged)} station(s): "
            f"{ex if len(ex) < 300 else ex[:297] + '…'}"
        )
    if len(dropped):
        ctx.warn(
            f"dropped {len(dropped)} stop position(s)/platform(s) with no station of the same name nearby: "
            f"{', '.join(map(str, dropped['name_zh'].head(10)))}"
        )
    keep = keep[~(only_stops.reindex(keep.index).to_numpy())]
    return gpd.GeoDataFrame(keep.reset_index(drop=True).drop(columns=["_rank"]), geometry="geometry", crs=STORAGE_CRS)


def _natural_key(label: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", label)]


_ROUTE_KIND = {"subway": "metro", "light_rail": "metro", "monorail": "metro", "tram": "tram", "train": "rail"}
"""Which station kind a route's stops are matched to by name."""


def _station_lines(stations: gpd.GeoDataFrame, doc: OsmDoc, names_by_id: dict | None = None) -> np.ndarray:
    """';'-joined line labels of every station: the station is a member of the route, or a stop of the route
    has the station's name, a matching mode (subway/light_rail → metro, tram → tram, train → rail) and lies
    within 1 km."""
    routes = doc.routes()
    empty = np.full(len(stations), "", dtype=object)
    if routes.relations.empty:
        return empty
    label = pd.Series(_line_label(routes.relations, names_by_id).to_numpy(), index=routes.relations["rel_id"])
    mode = pd.Series(
        tag(routes.relations, "route").map(_ROUTE_KIND).fillna("").to_numpy(), index=routes.relations["rel_id"]
    )
    m = routes.members
    m = m.assign(label=m["rel_id"].map(label), kind=m["rel_id"].map(mode))
    key = stations["_element"].str[0] + stations["_id"].astype(str)
    direct = m.assign(key=m["type"].str[0] + m["ref"].astype(str)).merge(
        pd.DataFrame({"key": key.to_numpy(), "row": np.arange(len(stations))}), on="key"
    )[["row", "label"]]
    # same-named stop member within 1 km
    stops = m[(m["type"] == "node") & m["ref"].isin(routes.nodes.index)]
    stops = stops.assign(stop_name=stops["ref"].map(routes.nodes["name"]).fillna(""))
    by_name = stops[stops["stop_name"] != ""].merge(
        pd.DataFrame(
            {
                "stop_name": stations["_name"].to_numpy(),
                "kind": stations["kind"].to_numpy(),
                "row": np.arange(len(stations)),
            }
        ),
        on=["stop_name", "kind"],
    )
    if len(by_name):
        a = to_metric(gpd.GeoDataFrame(geometry=routes.nodes.geometry.loc[by_name["ref"]].values, crs=STORAGE_CRS))
        b = to_metric(gpd.GeoDataFrame(geometry=stations.geometry.iloc[by_name["row"]].values, crs=STORAGE_CRS))
        near = shapely.distance(np.asarray(a.geometry.values), np.asarray(b.geometry.values)) <= 1000
        by_name = by_name[near][["row", "label"]]
    pairs = pd.concat([direct, by_name[["row", "label"]] if len(by_name) else direct.iloc[:0]])
    pairs = pairs.dropna().drop_duplicates()
    joined = pairs.groupby("row")["label"].agg(lambda s: ";".join(sorted(s, key=_natural_key)))
    empty[joined.index.to_numpy()] = joined.to_numpy()
    return empty


def _route_geometries(routes, rel_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per relation: track geometry (merged member ways, None if none), chord through the stops, number of
    stops, and number of stops with a position."""
    m = routes.members
    track = np.full(len(rel_ids), None, dtype=object)
    chord = np.full(len(rel_ids), None, dtype=object)
    n_stops = np.zeros(len(rel_ids), dtype="int64")
    n_located = np.zeros(len(rel_ids), dtype="int64")
    for i, rid in enumerate(rel_ids):  # one iteration per route relation (tens), geometry ops vectorised
        part = m[m["rel_id"] == rid]
        ways = part[(part["type"] == "way") & ~part["role"].str.contains("platform|stop")]
        geoms = routes.ways.reindex(ways["ref"]).dropna().to_numpy()
        if len(geoms):
            track[i] = shapely.line_merge(shapely.union_all(geoms))
        stops = part[(part["type"] == "node") & part["role"].str.startswith("stop")]
        stops = stops.drop_duplicates("ref")
        n_stops[i] = len(stops)
        pts = routes.nodes.geometry.reindex(stops["ref"]).dropna().to_numpy()
        n_located[i] = len(pts)
        if len(pts) >= 2:
            chord[i] = shapely.linestrings(shapely.get_coordinates(pts))
    return track, chord, n_stops, n_located


def _length_km(geoms: np.ndarray) -> np.ndarray:
    s = gpd.GeoSeries(geoms, crs=STORAGE_CRS)
    return np.round(to_metric(gpd.GeoDataFrame(geometry=s)).length.fillna(0).to_numpy() / 1e3, 3)


def metro_lines(doc: OsmDoc, ctx: BuildContext) -> gpd.GeoDataFrame:
    """One feature per metro line (``ref``), from its longest route relation: the track as mapped
    (``geometry_quality = osm_track``) or, without member ways, chords through the stops.

    Parameters
    ----------
    doc : OsmDoc
        The parsed OSM answer or extract.
    ctx : BuildContext
        The build's context (warnings, fallbacks, bundled layers).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features, EPSG:4326.
    """
    routes = doc.routes()
    rel = routes.relations
    if rel.empty:
        raise NotCovered("the OSM data holds no metro route relation", layer=ctx.layer_id, file=str(doc.path))
    canon = _metro_names(ctx)
    masters = rel[tag(rel, "type") == "route_master"]
    rel = rel[tag(rel, "type") != "route_master"]
    # a route without ref/name of its own takes its route_master's
    m = routes.members
    master_of = m[m["rel_id"].isin(masters["rel_id"]) & (m["type"] == "relation")].set_index("ref")["rel_id"]
    master_of = master_of[~master_of.index.duplicated()]
    mref = pd.Series(tag(masters, "ref").to_numpy(), index=masters["rel_id"].to_numpy())
    mname = pd.Series(tag(masters, "name").to_numpy(), index=masters["rel_id"].to_numpy())
    own_id = pd.Series(
        [canonical_metro_id(r, n) for r, n in zip(tag(rel, "ref"), tag(rel, "name"))], index=rel.index, dtype=object
    )
    via_master = rel["rel_id"].map(master_of)
    from_master = pd.Series(
        [canonical_metro_id(mref.get(x, ""), mname.get(x, "")) if pd.notna(x) else "" for x in via_master],
        index=rel.index,
        dtype=object,
    )
    line_id = own_id.where(own_id != "", from_master)
    label = line_id.map(lambda i: canon.get(i) or (f"{i}号线" if i else ""))
    label = label.where(label != "", _line_label(rel, canon))
    rel = rel.assign(_label=label.to_numpy(), _id=line_id.to_numpy(), _status=status(rel).to_numpy())
    track, chord, n_stops, n_located = _route_geometries(routes, rel["rel_id"].to_numpy())
    geom = np.where(pd.isna(track), chord, track)
    rel = rel.assign(
        _geom=geom,
        _chord=chord,
        _stops=n_stops,
        _located=n_located,
        _quality=np.where(pd.isna(track), "station_chords", "osm_track"),
    )
    rel = rel[~pd.isna(rel["_geom"])]
    rel = rel.assign(_len=_length_km(rel["_geom"].to_numpy()))
    closed = rel[rel["_status"] != "open"]
    if len(closed):
        ctx.warn(f"left out {closed['_label'].nunique()} line(s) not open: {', '.join(sorted(set(closed['_label'])))}")
    rel = rel[rel["_status"] == "open"]
    if rel.empty:
        raise NotCovered("the OSM data holds no open metro route", layer=ctx.layer_id, file=str(doc.path))
    n_rel = rel.groupby("_label").size()
    multi = n_rel[n_rel > 1]
    if len(multi):
        ctx.warn(
            f"one feature per line from {int(multi.sum())} route relations (directions, variants): "
            + ", ".join(f"{k} ×{v}" for k, v in multi.items())
        )
    odd = rel.loc[(rel["_id"] != "") & ~rel["_id"].isin(list(canon)), "_label"].unique().tolist()
    if odd and canon:
        ctx.warn(f"line(s) not in the catalog's metro list: {', '.join(map(str, odd))}")
    # colour and opening date: from any route of the line that has them
    colour_any = rel.assign(_c=tag(rel, "colour").map(hex_colour)).query("_c != ''").groupby("_label")["_c"].first()
    best = rel.sort_values("_len", ascending=False).drop_duplicates("_label")
    line_id = best["_id"].where(best["_id"] != "", "osm_r" + best["rel_id"].astype(str))
    en = tag(best, "name:en").str.replace(r"\s*[:：(].*$", "", regex=True)
    colour = best["_label"].map(colour_any).fillna("")
    opened = tag(best, "start_date").where(tag(best, "start_date") != "", tag(best, "opening_date"))
    gdf = gpd.GeoDataFrame(
        {
            "name_zh": best["_label"].to_numpy(),
            "name_en": np.where(
                en != "",
                en,
                np.where(
                    best["_id"].map(_metro_names(ctx, "name_en")).notna(),
                    best["_id"].map(_metro_names(ctx, "name_en")),
                    np.where(best["_id"] != "", "Line " + line_id, best["_label"].map(english_name)),
                ),
            ),
            "line_id": line_id.to_numpy(),
            "colour": colour.to_numpy(),
            "status": "open",
            "length_km": best["_len"].to_numpy(),
            "length_chord_km": _length_km(best["_chord"].to_numpy()),
            "opened": opened.to_numpy(),
            "stations_total": best["_stops"].to_numpy(),
            "stations_located": best["_located"].to_numpy(),
            "geometry_quality": best["_quality"].to_numpy(),
        },
        geometry=gpd.GeoSeries(best["_geom"].to_numpy(), crs=STORAGE_CRS),
        crs=STORAGE_CRS,
    )
    order = sorted(range(len(gdf)), key=lambda i: _natural_key(gdf["line_id"].iloc[i]))
    gdf = gdf.iloc[order]
    return _finish(gdf, doc)


def _base_name(name: pd.Series) -> pd.Series:
    """A line name without its parenthesised qualifier and spaces (京津城际铁路（含延伸线） → 京津城际铁路)."""
    return name.astype(str).str.replace(r"\s*[（(].*$", "", regex=True).str.replace(" ", "", regex=False)


def intercity_rail(doc: OsmDoc, ctx: BuildContext) -> gpd.GeoDataFrame:
    """One feature per railway line relation (``route=railway``), clipped to Tianjin (+1 km). Category hsr
    (``highspeed=yes`` or 高速 in the name), intercity (城际), else conventional. ``length_chord_km`` holds the
    measured track length (``geometry_quality = osm_track``); stations are the rail stations within 300 m.

    Parameters
    ----------
    doc : OsmDoc
        The parsed OSM answer or extract.
    ctx : BuildContext
        The build's context (warnings, fallbacks, bundled layers).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features, EPSG:4326.
    """
    routes = doc.routes()
    rel = routes.relations
    if rel.empty:
        raise NotCovered("the OSM data holds no railway line relation", layer=ctx.layer_id, file=str(doc.path))
    track, _, _, _ = _route_geometries(routes, rel["rel_id"].to_numpy())
    rel = rel.assign(_geom=track)
    rel = rel[~pd.isna(rel["_geom"])]
    gdf = gpd.GeoDataFrame(rel, geometry=gpd.GeoSeries(rel["_geom"].to_numpy(), crs=STORAGE_CRS), crs=STORAGE_CRS)
    gdf = _clip(gdf, doc.polygon)
    gdf["geometry"] = _only(np.asarray(gdf.geometry.values), "line")
    gdf = gdf[gdf.geometry.notna()]
    name_zh, name_en, _ = names(gdf)
    name = name_zh
    category = pd.Series(
        np.where(
            (tag(gdf, "highspeed") == "yes") | name.str.contains("高速"),
            "hsr",
            np.where(name.str.contains("城际"), "intercity", "conventional"),
        ),
        index=gdf.index,
    )
    line_id = tag(gdf, "ref").where(tag(gdf, "ref") != "", "osm_r" + gdf["rel_id"].astype(str))
    # the bundled line ids, English names and categories where the OSM name is a bundled line's name
    from .bundled import INTERCITY_EN

    known = ctx.read_csv("intercity_rail_csv").drop_duplicates("line")
    by_name = pd.Series(known["line"].to_numpy(), index=_base_name(known["line_zh"]).to_numpy())
    by_name = by_name[~by_name.index.duplicated()]
    bundled_id = _base_name(name).map(by_name)
    line_id = bundled_id.fillna(line_id)
    en_known = bundled_id.map(lambda i: INTERCITY_EN.get(i, ("", ""))[0] if isinstance(i, str) else "")
    name_en = name_en.where((tag(gdf, "name:en") != "") | (en_known == ""), en_known)
    category = (
        bundled_id.map(lambda i: INTERCITY_EN.get(i, ("", ""))[1] if isinstance(i, str) else "")
        .where(bundled_id.notna(), category)
        .replace("", np.nan)
        .fillna(category)
    )
    opened = tag(gdf, "start_date").where(tag(gdf, "start_date") != "", tag(gdf, "opening_date"))
    out = gpd.GeoDataFrame(
        {
            "name_zh": name.to_numpy(),
            "name_en": name_en.to_numpy(),
            "line_id": line_id.to_numpy(),
            "category": category.to_numpy(),
            "status": status(gdf).to_numpy(),
            "opened": opened.to_numpy(),
            "verified": "osm",
            "length_chord_km": _length_km(np.asarray(gdf.geometry.values)),
            "geometry_quality": "osm_track",
        },
        geometry=gpd.GeoSeries(gdf.geometry.values, crs=STORAGE_CRS),
        crs=STORAGE_CRS,
    )
    stations = next(
        (
            ctx.layers[lid]
            for lid in ctx.catalog[ctx.layer_id].depends
            if lid in ctx.layers and "kind" in ctx.layers[lid].columns
        ),
        None,
    )
    if stations is not None and len(out):
        rail = to_metric(stations[stations["kind"] == "rail"])
        lines_m = to_metric(out)
        tree = shapely.STRtree(np.asarray(rail.geometry.values))
        pairs = tree.query(np.asarray(lines_m.geometry.values), predicate="dwithin", distance=300.0)
        counts = np.bincount(pairs[0], minlength=len(out))
    else:
        counts = np.zeros(len(out), dtype="int64")
    out["stations_total"] = counts
    out["stations_located"] = counts
    return _finish(out, doc)


# ------------------------------------------------------------------------------------------------ context


def coastline(doc: OsmDoc, ctx: BuildContext) -> gpd.GeoDataFrame:
    """``natural=coastline`` ways merged into one line (variant ``osm``), clipped to Tianjin (+1 km); the
    two non-OSM variants of the bundled layer (Tianditu-derived, Landsat port edge) are kept beside it.

    Parameters
    ----------
    doc : OsmDoc
        The parsed OSM answer or extract.
    ctx : BuildContext
        The build's context (warnings, fallbacks, bundled layers).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features, EPSG:4326.
    """
    f = usable(doc.features(), ctx)
    if f.empty:
        raise NotCovered("the OSM data holds no coastline", layer=ctx.layer_id, file=str(doc.path))
    f = _clip(gpd.GeoDataFrame(f, geometry="geometry", crs=STORAGE_CRS), doc.polygon)
    merged = shapely.line_merge(shapely.union_all(_only(np.asarray(f.geometry.values), "line")))
    date = doc.date or "undated"
    osm = gpd.GeoDataFrame(
        {
            "name_zh": [f"海岸线（OSM，{date}）"],
            "name_en": [f"OSM coastline ({date})"],
            "variant": ["osm"],
            "accuracy": ["osm"],
            "source": [doc.label],
        },
        geometry=[merged],
        crs=STORAGE_CRS,
    )
    from .bundled import build_coastline

    others = build_coastline(ctx)
    others = others[~others["source"].isin([s for s in ctx.catalog[ctx.layer_id].sources if "osm" in s])]
    gdf = pd.concat([osm, others.drop(columns=["length_km"])], ignore_index=True)
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=STORAGE_CRS)
    gdf["length_km"] = _length_km(np.asarray(gdf.geometry.values))
    return gdf


def _polygons(doc: OsmDoc, ctx: BuildContext, what: str) -> gpd.GeoDataFrame:
    f = usable(doc.features(), ctx)
    if f.empty:
        raise NotCovered(f"the OSM data holds no {what}", layer=ctx.layer_id, file=str(doc.path))
    f = gpd.GeoDataFrame(f, geometry="geometry", crs=STORAGE_CRS)
    f = f[np.isin(shapely.get_type_id(np.asarray(f.geometry.values)), (3, 6))]
    f = _clip(f, doc.polygon)
    f["geometry"] = _only(np.asarray(f.geometry.values), "polygon")
    f = f[f.geometry.notna()]
    if f.empty:
        raise NotCovered(f"the OSM data holds no {what} inside Tianjin", layer=ctx.layer_id, file=str(doc.path))
    return f


def water(doc: OsmDoc, ctx: BuildContext) -> gpd.GeoDataFrame:
    """Water areas (``natural=water``, ``waterway=riverbank``, reservoirs, basins) clipped to Tianjin;
    ``water_class`` is ``haihe_channel`` for the 海河 and otherwise the ``water`` tag (``river``, ``lake``,
    ``reservoir`` …) or ``water``.

    Parameters
    ----------
    doc : OsmDoc
        The parsed OSM answer or extract.
    ctx : BuildContext
        The build's context (warnings, fallbacks, bundled layers).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features, EPSG:4326.
    """
    f = _polygons(doc, ctx, "water area")
    name_zh, name_en, _ = names(f)
    wclass = tag(f, "water").where(tag(f, "water") != "", tag(f, "landuse").where(tag(f, "landuse") != "", "water"))
    wclass = wclass.where(tag(f, "waterway") != "riverbank", "river")
    wclass = wclass.where(name_zh != "海河", "haihe_channel")
    out = gpd.GeoDataFrame(
        {"name_zh": name_zh.to_numpy(), "name_en": name_en.to_numpy(), "water_class": wclass.to_numpy()},
        geometry=gpd.GeoSeries(f.geometry.values, crs=STORAGE_CRS),
        crs=STORAGE_CRS,
    )
    out["area_km2"] = np.round(to_metric(out).area.to_numpy() / 1e6, 3)
    return _finish(out, doc)


def plan_areas(doc: OsmDoc, ctx: BuildContext) -> gpd.GeoDataFrame:
    """Real outlines for a schematic polygon layer (wetland reserves, port areas, the airport).

    The layer's own (schematic) builder runs first and gives the features, their ids and attributes. Each
    OSM area the layer's selectors pick is assigned to the schematic feature it overlaps most (intersection
    area in EPSG:4548); a feature with at least one OSM area gets their union as its geometry,
    ``accuracy = "osm"``, the OSM ``source``, a re-measured ``area_km2`` and, where the layer has a
    ``construction`` field, a note naming the OSM areas. Features OSM does not cover keep their schematic
    geometry and ``accuracy = "schematic"`` (a warning names them), so the layer stays honest feature by
    feature and downstream code finds the same ids.

    Parameters
    ----------
    doc : OsmDoc
        The parsed OSM answer or extract.
    ctx : BuildContext
        The build's context (warnings, fallbacks, bundled layers).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features, EPSG:4326.
    """
    layer = ctx.catalog[ctx.layer_id]
    base = layer.builder_func()(ctx)
    base = gpd.GeoDataFrame(base, geometry="geometry", crs=STORAGE_CRS).reset_index(drop=True)
    if "accuracy" not in base.columns:
        base["accuracy"] = layer.accuracy
    f = _polygons(doc, ctx, "area matching " + " or ".join(s.text for s in doc.select)).reset_index()
    if f.empty:
        ctx.warn("no OSM area matches; every feature keeps its schematic geometry")
        return base
    fm = np.asarray(to_metric(f).geometry.values)
    bm = np.asarray(to_metric(base).geometry.values)
    osm_i, base_i = shapely.STRtree(bm).query(fm, predicate="intersects")
    overlap = shapely.area(shapely.intersection(fm[osm_i], bm[base_i]))
    pairs = pd.DataFrame({"osm": osm_i, "base": base_i, "overlap": overlap})
    pairs = pairs[pairs["overlap"] > 0].sort_values("overlap", ascending=False).drop_duplicates("osm")
    name_zh, _, _ = names(f)
    out = base.copy()
    for b, grp in pairs.groupby("base"):  # one iteration per schematic feature (a handful)
        geom = shapely.union_all(np.asarray(f.geometry.values)[grp["osm"].to_numpy()])
        out.loc[b, "geometry"] = geom
        out.loc[b, "accuracy"] = "osm"
        out.loc[b, "source"] = doc.label
        if "construction" in out.columns:
            labels = [
                n or f"{e}/{i}"
                for n, e, i in zip(name_zh.iloc[grp["osm"]], f["element"].iloc[grp["osm"]], f["id"].iloc[grp["osm"]])
            ]
            out.loc[b, "construction"] = (
                f"OpenStreetMap: union of {len(grp)} area(s) overlapping the schematic shape ({', '.join(labels)})"
            )
    if "area_km2" in layer.fields:
        out["area_km2"] = np.round(to_metric(out).area.to_numpy() / 1e6, 3)
    missing = out.loc[out["accuracy"] != "osm", "name_zh"].tolist()
    if missing:
        ctx.fallback(len(missing), f"OSM has no area for {', '.join(map(str, missing))}; kept schematic")
    return out
