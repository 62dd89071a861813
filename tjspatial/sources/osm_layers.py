"""Normalisation: OSM features → the catalog schema of each layer OSM can supply.

A layer's ``[layer.osm] normalise`` names one function of this module. Each takes the layer's
:class:`~tjspatial.sources.osm.OsmDoc` (the OSM XML answer or extract, with the selectors of the layer) and the
build context, and returns a GeoDataFrame in EPSG:4326 with the layer's declared fields, so that downstream
code cannot tell which source built the layer. Every feature gets ``accuracy = "osm"`` and a ``source`` naming
OpenStreetMap and the data date. Lengths and areas are measured in EPSG:4548.

Tag mapping (common to all layers): ``name_zh`` from ``name:zh`` then ``name``; ``name_en`` from ``name:en``,
else the toneless pinyin of ``name_zh`` (pypinyin); status ``construction`` / ``proposed`` from the
``railway``/``construction``/``proposed`` tags, else ``open``.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..build_context import BuildContext
from ..crs import STORAGE_CRS, to_metric
from ..errors import BuildError

if TYPE_CHECKING:  # pragma: no cover
    from .osm import OsmDoc

__all__ = ["pinyin_name", "names", "status", "districts", "rail_stations", "metro_lines", "intercity_rail",
           "coastline", "water", "plan_areas"]

_CJK = re.compile(r"[\u3400-\u9fff]")


# ------------------------------------------------------------------------------------------------ helpers


def tag(f: pd.DataFrame, key: str) -> pd.Series:
    """Tag ``key`` of every feature as text ('' where absent)."""
    if key not in f.columns:
        return pd.Series("", index=f.index, dtype=object)
    col = f[key]
    return col.astype(object).where(col.notna(), "").astype(str)


def pinyin_name(text: str) -> str:
    """Toneless pinyin of the Chinese characters in ``text``, capitalised (``"天津西站"`` → ``"Tianjinxizhan"``);
    other characters are kept. ``''`` stays ``''``."""
    if not text or not _CJK.search(text):
        return text
    from pypinyin import lazy_pinyin
    out = "".join(lazy_pinyin(text))
    return out[:1].upper() + out[1:]


def names(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``(name_zh, name_en, name_source)`` from ``name:zh`` / ``name`` / ``name:en`` (pinyin fallback)."""
    zh_tag, name, en_tag = tag(f, "name:zh"), tag(f, "name"), tag(f, "name:en")
    name_zh = zh_tag.where(zh_tag != "", name)
    source = pd.Series(np.where(zh_tag != "", "osm:name:zh", np.where(name != "", "osm:name", "none")),
                       index=f.index)
    name_en = en_tag.where(en_tag != "", name_zh.map(pinyin_name))
    return name_zh, name_en, source


def status(f: pd.DataFrame) -> pd.Series:
    """``open``, ``construction`` or ``proposed`` from the lifecycle tags."""
    railway, state = tag(f, "railway"), tag(f, "state")
    constr = (railway == "construction") | (tag(f, "construction") != "") | (state == "construction") | \
        (tag(f, "construction:railway") != "")
    proposed = (railway == "proposed") | (tag(f, "proposed") != "") | (state == "proposed") | \
        (tag(f, "proposed:railway") != "")
    return pd.Series(np.where(constr, "construction", np.where(proposed, "proposed", "open")), index=f.index)


def _finish(gdf: gpd.GeoDataFrame, doc: "OsmDoc") -> gpd.GeoDataFrame:
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
    districts = next((ctx.layers[lid] for lid in ctx.layers
                      if "pop_2020" in ctx.layers[lid].columns and "adcode" in ctx.layers[lid].columns
                      and ctx.catalog[lid].geometry_type == "Polygon" and len(ctx.layers[lid]) > 1), None)
    if districts is None:
        return pd.Series("", index=points.index)
    j = gpd.sjoin(points[["geometry"]], districts[["name_zh", "geometry"]], how="left", predicate="within")
    j = j[~j.index.duplicated()]
    return j["name_zh"].fillna("").reindex(points.index)


# ------------------------------------------------------------------------------------------------ admin


def districts(doc: "OsmDoc", ctx: BuildContext) -> gpd.GeoDataFrame:
    """``admin_level=6`` boundaries inside Tianjin, joined to the 2020 census (by name, then adcode) and
    to the bundled district attributes (zone, official area)."""
    f = doc.features()
    f = f.assign(geometry=shapely.make_valid(np.asarray(f.geometry.values)))
    f = f[np.isin(shapely.get_type_id(np.asarray(f.geometry.values)), (3, 6))]
    inside = shapely.within(shapely.point_on_surface(np.asarray(f.geometry.values)), doc.boundary)
    f = f[inside].copy()
    if f.empty:
        raise BuildError("no admin_level=6 boundary lies inside Tianjin", layer=ctx.layer_id, file=str(doc.path))
    f["name_zh"], f["name_en"], _ = names(f)
    census = ctx.read_csv("census_2020")
    attrs = ctx.read_vector("tianditu_districts").drop(columns="geometry")
    by_name = census.set_index("name_zh")["adcode"]
    adcode = f["name_zh"].map(by_name)
    ref = pd.to_numeric(tag(f, "ref").where(tag(f, "ref").str.fullmatch(r"\d{6}"), None), errors="coerce")
    f["adcode"] = adcode.fillna(ref)
    missing = f.loc[f["adcode"].isna() | ~f["adcode"].isin(census["adcode"]), "name_zh"].tolist()
    if missing:
        raise BuildError(f"OSM district(s) {', '.join(missing)} match no row of the 2020 census (by name or "
                         f"adcode)", layer=ctx.layer_id, file=str(ctx.path("census_2020")), field="name_zh")
    f["adcode"] = f["adcode"].astype("int64")
    dup = f.loc[f["adcode"].duplicated(), "name_zh"].tolist()
    if dup:
        raise BuildError(f"OSM has more than one boundary for {', '.join(dup)}", layer=ctx.layer_id,
                         file=str(doc.path))
    c = census.set_index("adcode")
    a = attrs.set_index("adcode")
    f["pop_2020"] = f["adcode"].map(c["pop_2020"])
    f["pop_2020_status"] = f["adcode"].map(c["status"])
    f["zone"] = f["adcode"].map(a["zone"]).fillna("")
    f["area_km2_official"] = f["adcode"].map(a["area_km2_official"])
    en = f["adcode"].map(a["name_en"])
    f["name_en"] = tag(f, "name:en").where(tag(f, "name:en") != "", en.fillna(f["name_en"]))
    lost = sorted(set(census["name_zh"]) - set(f["name_zh"]))
    if lost:
        ctx.warn(f"OSM lacks the district boundary of {', '.join(lost)}")
    gdf = gpd.GeoDataFrame(f, geometry="geometry", crs=STORAGE_CRS)
    gdf["area_km2"] = np.round(to_metric(gdf).area.to_numpy() / 1e6, 3)
    out = _finish(gdf, doc)
    out["source"] = doc.label + "; census_2020"
    return out.sort_values("adcode").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ transport


def _line_label(routes: pd.DataFrame) -> pd.Series:
    """``"1号线"`` for metro routes with a ref, else the route name without its direction suffix."""
    ref = tag(routes, "ref")
    route = tag(routes, "route")
    name_zh = tag(routes, "name:zh").where(tag(routes, "name:zh") != "", tag(routes, "name"))
    base = name_zh.str.replace(r"\s*[:：(（].*$", "", regex=True)
    metro = route.isin(["subway", "light_rail", "monorail"]) & (ref != "")
    return base.where(~metro, ref.str.replace(r"号线$", "", regex=True) + "号线")


def _station_name(name: pd.Series) -> pd.Series:
    """Station names as the bundled layer writes them: without a trailing 站 / 火车站 (天津站 → 天津)."""
    return name.str.replace(r"(火车站|站)$", "", regex=True).where(name.str.len() > 2, name)


def rail_stations(doc: "OsmDoc", ctx: BuildContext) -> gpd.GeoDataFrame:
    """Station nodes (and station areas, as points on surface); kind metro / rail / tram; lines from route
    relations (the station is a member, or a stop of the route has its name within 1 km)."""
    f = doc.features()
    if f.empty:
        raise BuildError("the OSM data holds no station", layer=ctx.layer_id, file=str(doc.path))
    geoms = np.asarray(f.geometry.values)
    f = f.assign(geometry=np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms)))
    name_zh, name_en, name_src = names(f)
    railway, station = tag(f, "railway"), tag(f, "station")
    kind = np.where(station.isin(["subway", "light_rail", "monorail"]) | (tag(f, "subway") == "yes")
                    | (tag(f, "light_rail") == "yes"), "metro",
                    np.where((railway == "tram_stop") | (station == "tram") | (tag(f, "tram") == "yes"), "tram",
                             "rail"))
    elements = f.index.get_level_values(0).astype(str)
    ids = f.index.get_level_values(1).astype("int64")
    out = gpd.GeoDataFrame({
        "name_zh": np.where(kind == "rail", _station_name(name_zh), name_zh),
        "name_en": name_en.to_numpy(),
        "station_id": ("osm_" + elements.str[0] + ids.astype(str)).to_numpy(),
        "kind": kind,
        "status": status(f).to_numpy(),
        "name_source": name_src.to_numpy(),
        "osm_station_tag": station.where(station != "", railway.where(railway != "",
                                                                      tag(f, "public_transport"))).to_numpy(),
        "_element": elements, "_id": ids, "_name": name_zh.to_numpy(),
    }, geometry=gpd.GeoSeries(f.geometry.values, crs=STORAGE_CRS), crs=STORAGE_CRS)
    out["lines"] = _station_lines(out, doc)
    out["district_zh"] = _district_of(out, ctx).to_numpy()
    out["inside_tianjin"] = shapely.within(np.asarray(out.geometry.values), doc.boundary)
    out = out.drop(columns=["_element", "_id", "_name"])
    return _finish(out, doc)


def _natural_key(label: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", label)]


_ROUTE_KIND = {"subway": "metro", "light_rail": "metro", "monorail": "metro", "tram": "tram", "train": "rail"}
"""Which station kind a route's stops are matched to by name."""


def _station_lines(stations: gpd.GeoDataFrame, doc: "OsmDoc") -> np.ndarray:
    """';'-joined line labels of every station: the station is a member of the route, or a stop of the route
    has the station's name, a matching mode (subway/light_rail → metro, tram → tram, train → rail) and lies
    within 1 km."""
    routes = doc.routes()
    empty = np.full(len(stations), "", dtype=object)
    if routes.relations.empty:
        return empty
    label = pd.Series(_line_label(routes.relations).to_numpy(), index=routes.relations["rel_id"])
    mode = pd.Series(tag(routes.relations, "route").map(_ROUTE_KIND).fillna("").to_numpy(),
                     index=routes.relations["rel_id"])
    m = routes.members
    m = m.assign(label=m["rel_id"].map(label), kind=m["rel_id"].map(mode))
    key = stations["_element"].str[0] + stations["_id"].astype(str)
    direct = m.assign(key=m["type"].str[0] + m["ref"].astype(str)).merge(
        pd.DataFrame({"key": key.to_numpy(), "row": np.arange(len(stations))}), on="key")[["row", "label"]]
    # same-named stop member within 1 km
    stops = m[(m["type"] == "node") & m["ref"].isin(routes.nodes.index)]
    stops = stops.assign(stop_name=stops["ref"].map(routes.nodes["name"]).fillna(""))
    by_name = stops[stops["stop_name"] != ""].merge(
        pd.DataFrame({"stop_name": stations["_name"].to_numpy(), "kind": stations["kind"].to_numpy(),
                      "row": np.arange(len(stations))}),
        on=["stop_name", "kind"])
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


def metro_lines(doc: "OsmDoc", ctx: BuildContext) -> gpd.GeoDataFrame:
    """One feature per metro line (``ref``), from its longest route relation: the track as mapped
    (``geometry_quality = osm_track``) or, without member ways, chords through the stops."""
    routes = doc.routes()
    rel = routes.relations
    if rel.empty:
        raise BuildError("the OSM data holds no metro route relation", layer=ctx.layer_id, file=str(doc.path))
    rel = rel.assign(_label=_line_label(rel).to_numpy(), _status=status(rel).to_numpy())
    track, chord, n_stops, n_located = _route_geometries(routes, rel["rel_id"].to_numpy())
    geom = np.where(pd.isna(track), chord, track)
    rel = rel.assign(_geom=geom, _chord=chord, _stops=n_stops, _located=n_located,
                     _quality=np.where(pd.isna(track), "station_chords", "osm_track"))
    rel = rel[~pd.isna(rel["_geom"])]
    rel = rel.assign(_len=_length_km(rel["_geom"].to_numpy()))
    closed = rel[rel["_status"] != "open"]
    if len(closed):
        ctx.warn(f"left out {closed['_label'].nunique()} line(s) not open: {', '.join(sorted(set(closed['_label'])))}")
    rel = rel[rel["_status"] == "open"]
    best = rel.sort_values("_len", ascending=False).drop_duplicates("_label")
    line_id = tag(best, "ref").str.replace(r"号线$", "", regex=True)
    line_id = line_id.where(line_id != "", "osm_r" + best["rel_id"].astype(str))
    en = tag(best, "name:en").str.replace(r"\s*[:：(].*$", "", regex=True)
    colour = tag(best, "colour").str.lower()
    opened = tag(best, "start_date").where(tag(best, "start_date") != "", tag(best, "opening_date"))
    gdf = gpd.GeoDataFrame({
        "name_zh": best["_label"].to_numpy(),
        "name_en": np.where(en != "", en, np.where(tag(best, "ref") != "", "Line " + line_id,
                                                    best["_label"].map(pinyin_name))),
        "line_id": line_id.to_numpy(), "colour": colour.to_numpy(), "status": "open",
        "length_km": best["_len"].to_numpy(), "length_chord_km": _length_km(best["_chord"].to_numpy()),
        "opened": opened.to_numpy(), "stations_total": best["_stops"].to_numpy(),
        "stations_located": best["_located"].to_numpy(), "geometry_quality": best["_quality"].to_numpy(),
    }, geometry=gpd.GeoSeries(best["_geom"].to_numpy(), crs=STORAGE_CRS), crs=STORAGE_CRS)
    order = sorted(range(len(gdf)), key=lambda i: _natural_key(gdf["line_id"].iloc[i]))
    gdf = gdf.iloc[order]
    return _finish(gdf, doc)


def _base_name(name: pd.Series) -> pd.Series:
    """A line name without its parenthesised qualifier and spaces (京津城际铁路（含延伸线） → 京津城际铁路)."""
    return name.astype(str).str.replace(r"\s*[（(].*$", "", regex=True).str.replace(" ", "", regex=False)


def intercity_rail(doc: "OsmDoc", ctx: BuildContext) -> gpd.GeoDataFrame:
    """One feature per railway line relation (``route=railway``), clipped to Tianjin (+1 km). Category hsr
    (``highspeed=yes`` or 高速 in the name), intercity (城际), else conventional. ``length_chord_km`` holds the
    measured track length (``geometry_quality = osm_track``); stations are the rail stations within 300 m."""
    routes = doc.routes()
    rel = routes.relations
    if rel.empty:
        raise BuildError("the OSM data holds no railway line relation", layer=ctx.layer_id, file=str(doc.path))
    track, _, _, _ = _route_geometries(routes, rel["rel_id"].to_numpy())
    rel = rel.assign(_geom=track)
    rel = rel[~pd.isna(rel["_geom"])]
    gdf = gpd.GeoDataFrame(rel, geometry=gpd.GeoSeries(rel["_geom"].to_numpy(), crs=STORAGE_CRS), crs=STORAGE_CRS)
    gdf = _clip(gdf, doc.polygon)
    gdf["geometry"] = _only(np.asarray(gdf.geometry.values), "line")
    gdf = gdf[gdf.geometry.notna()]
    name_zh, name_en, _ = names(gdf)
    name = name_zh
    category = pd.Series(np.where((tag(gdf, "highspeed") == "yes") | name.str.contains("高速"), "hsr",
                                  np.where(name.str.contains("城际"), "intercity", "conventional")), index=gdf.index)
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
    category = bundled_id.map(lambda i: INTERCITY_EN.get(i, ("", ""))[1] if isinstance(i, str) else "") \
        .where(bundled_id.notna(), category).replace("", np.nan).fillna(category)
    opened = tag(gdf, "start_date").where(tag(gdf, "start_date") != "", tag(gdf, "opening_date"))
    out = gpd.GeoDataFrame({
        "name_zh": name.to_numpy(), "name_en": name_en.to_numpy(), "line_id": line_id.to_numpy(),
        "category": category.to_numpy(), "status": status(gdf).to_numpy(), "opened": opened.to_numpy(), "verified": "osm",
        "length_chord_km": _length_km(np.asarray(gdf.geometry.values)), "geometry_quality": "osm_track",
    }, geometry=gpd.GeoSeries(gdf.geometry.values, crs=STORAGE_CRS), crs=STORAGE_CRS)
    stations = next((ctx.layers[lid] for lid in ctx.catalog[ctx.layer_id].depends if lid in ctx.layers
                     and "kind" in ctx.layers[lid].columns), None)
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


def coastline(doc: "OsmDoc", ctx: BuildContext) -> gpd.GeoDataFrame:
    """``natural=coastline`` ways merged into one line (variant ``osm``), clipped to Tianjin (+1 km); the
    two non-OSM variants of the bundled layer (Tianditu-derived, Landsat port edge) are kept beside it."""
    f = doc.features()
    if f.empty:
        raise BuildError("the OSM data holds no coastline", layer=ctx.layer_id, file=str(doc.path))
    f = _clip(gpd.GeoDataFrame(f, geometry="geometry", crs=STORAGE_CRS), doc.polygon)
    merged = shapely.line_merge(shapely.union_all(_only(np.asarray(f.geometry.values), "line")))
    date = doc.date or "undated"
    osm = gpd.GeoDataFrame({"name_zh": [f"海岸线（OSM，{date}）"], "name_en": [f"OSM coastline ({date})"],
                            "variant": ["osm"], "accuracy": ["osm"], "source": [doc.label]},
                           geometry=[merged], crs=STORAGE_CRS)
    from .bundled import build_coastline
    others = build_coastline(ctx)
    others = others[~others["source"].isin([s for s in ctx.catalog[ctx.layer_id].sources
                                             if "osm" in s])]
    gdf = pd.concat([osm, others.drop(columns=["length_km"])], ignore_index=True)
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=STORAGE_CRS)
    gdf["length_km"] = _length_km(np.asarray(gdf.geometry.values))
    return gdf


def _polygons(doc: "OsmDoc", ctx: BuildContext, what: str) -> gpd.GeoDataFrame:
    f = doc.features()
    if f.empty:
        raise BuildError(f"the OSM data holds no {what}", layer=ctx.layer_id, file=str(doc.path))
    f = gpd.GeoDataFrame(f, geometry="geometry", crs=STORAGE_CRS)
    f = f[np.isin(shapely.get_type_id(np.asarray(f.geometry.values)), (3, 6))]
    f = _clip(f, doc.polygon)
    f["geometry"] = _only(np.asarray(f.geometry.values), "polygon")
    return f[f.geometry.notna()]


def water(doc: "OsmDoc", ctx: BuildContext) -> gpd.GeoDataFrame:
    """Water areas (``natural=water``, ``waterway=riverbank``, reservoirs, basins) clipped to Tianjin;
    ``water_class`` is ``haihe_channel`` for the 海河 and otherwise the ``water`` tag (``river``, ``lake``,
    ``reservoir`` …) or ``water``."""
    f = _polygons(doc, ctx, "water area")
    name_zh, name_en, _ = names(f)
    wclass = tag(f, "water").where(tag(f, "water") != "", tag(f, "landuse").where(tag(f, "landuse") != "", "water"))
    wclass = wclass.where(tag(f, "waterway") != "riverbank", "river")
    wclass = wclass.where(name_zh != "海河", "haihe_channel")
    out = gpd.GeoDataFrame({"name_zh": name_zh.to_numpy(), "name_en": name_en.to_numpy(),
                            "water_class": wclass.to_numpy()},
                           geometry=gpd.GeoSeries(f.geometry.values, crs=STORAGE_CRS), crs=STORAGE_CRS)
    out["area_km2"] = np.round(to_metric(out).area.to_numpy() / 1e6, 3)
    return _finish(out, doc)


def plan_areas(doc: "OsmDoc", ctx: BuildContext) -> gpd.GeoDataFrame:
    """Real outlines for a schematic polygon layer (wetland reserves, port areas, the airport).

    The layer's own (schematic) builder runs first and gives the features, their ids and attributes. Each
    OSM area the layer's selectors pick is assigned to the schematic feature it overlaps most (intersection
    area in EPSG:4548); a feature with at least one OSM area gets their union as its geometry,
    ``accuracy = "osm"``, the OSM ``source``, a re-measured ``area_km2`` and, where the layer has a
    ``construction`` field, a note naming the OSM areas. Features OSM does not cover keep their schematic
    geometry and ``accuracy = "schematic"`` (a warning names them), so the layer stays honest feature by
    feature and downstream code finds the same ids.
    """
    layer = ctx.catalog[ctx.layer_id]
    base = layer.builder_func()(ctx)
    base = gpd.GeoDataFrame(base, geometry="geometry", crs=STORAGE_CRS).reset_index(drop=True)
    if "accuracy" not in base.columns:
        base["accuracy"] = layer.accuracy
    f = _polygons(doc, ctx, "matching area").reset_index()
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
            labels = [n or f"{e}/{i}" for n, e, i in zip(name_zh.iloc[grp["osm"]], f["element"].iloc[grp["osm"]],
                                                          f["id"].iloc[grp["osm"]])]
            out.loc[b, "construction"] = (f"OpenStreetMap: union of {len(grp)} area(s) overlapping the schematic "
                                          f"shape ({', '.join(labels)})")
    if "area_km2" in layer.fields:
        out["area_km2"] = np.round(to_metric(out).area.to_numpy() / 1e6, 3)
    missing = out.loc[out["accuracy"] != "osm", "name_zh"].tolist()
    if missing:
        ctx.warn(f"OSM has no area for {', '.join(map(str, missing))}; kept schematic")
    return out
