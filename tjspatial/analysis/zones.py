"""Buffers and conflicts around the ecological zones (wetlands, the green barrier): rings, rail inside the
zones, stations and port districts near wetlands, urban clusters in the barrier.

Which layers are "ecological zones" and which are "rail lines" is read from the catalog (theme ``ecology`` /
``transport``, geometry type), never listed here. Every distance is measured in EPSG:4548. The ecological
layers are **schematic** (示意): every table carries the accuracy of the layers it was computed from in an
``accuracy`` column, and a result is never more accurate than its least accurate input.
"""

from __future__ import annotations


import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..catalog import ACCURACY_CLASSES, get_catalog, role_id
from ..crs import METRIC_CRS, to_metric
from ..io import load, present_layers

__all__ = [
    "eco_layers",
    "line_layers",
    "rings",
    "rail_in_zones",
    "features_near",
    "clusters_in_barrier",
    "RING_DISTANCES_KM",
]

RING_DISTANCES_KM = (1.0, 3.0, 5.0)

_ORDER = list(ACCURACY_CLASSES)  # surveyed … schematic: later = less accurate


def _worst(*acc: str) -> str:
    return max(acc, key=lambda a: _ORDER.index(a) if a in _ORDER else len(_ORDER))


def _catalog_layers(path, theme: str, geometry_type: str) -> list[str]:
    """Ids of the catalog's layers of ``theme`` and ``geometry_type`` that the GeoPackage holds, in catalog order."""
    have = present_layers(path)
    return [
        lay.id for lay in get_catalog() if lay.theme == theme and lay.geometry_type == geometry_type and lay.id in have
    ]


def eco_layers(path=None) -> list[str]:
    """Polygon layers of theme ``ecology`` in the catalog that the GeoPackage holds.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The GeoPackage (default ``layers/tianjin.gpkg``).

    Returns
    -------
    list of str
        Layer ids, in catalog order.
    """
    return _catalog_layers(path, "ecology", "Polygon")


def line_layers(path=None) -> list[str]:
    """LineString layers of theme ``transport`` (rail lines, open and planned) that the GeoPackage holds.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The GeoPackage (default ``layers/tianjin.gpkg``).

    Returns
    -------
    list of str
        Layer ids, in catalog order.
    """
    return _catalog_layers(path, "transport", "LineString")


def rings(
    layer: str | None = None, distances_km=RING_DISTANCES_KM, *, path=None, dissolve: bool = False
) -> gpd.GeoDataFrame:
    """Rings around every feature of a polygon layer: 0–1, 1–3, 3–5 km outside it (metric CRS).

    ``dissolve=True`` rings the union of the layer's features instead (e.g. the three levels of the green
    barrier, which touch each other), named after the layer's title.

    Parameters
    ----------
    layer : str, optional
        A polygon layer id; default the wetlands (role ``wetland_areas``).
    distances_km : sequence of float, optional
        Ring limits, km (default 1, 3, 5).
    path : str or pathlib.Path, optional
        The GeoPackage (default ``layers/tianjin.gpkg``).
    dissolve : bool, default False
        Ring the union of the features.

    Returns
    -------
    geopandas.GeoDataFrame
        ``layer, name_zh, ring, from_km, to_km, area_km2, accuracy`` (the ring excludes the feature itself and
        nearer rings).
    """
    layer = role_id("wetland_areas") if layer is None else layer
    src = to_metric(load(layer, path))
    if dissolve:
        lay = get_catalog()[layer]
        src = gpd.GeoDataFrame(
            {"name_zh": [lay.title_zh], "accuracy": [_worst(*src["accuracy"])]},
            geometry=[shapely.union_all(np.asarray(src.geometry.values))],
            crs=METRIC_CRS,
        )
    d = np.asarray(sorted(distances_km), dtype=float)
    geoms = np.asarray(src.geometry.values, dtype=object)
    out = []
    inner = geoms
    lo = 0.0
    for hi in d:
        outer = shapely.buffer(geoms, hi * 1000, quad_segs=16)
        ring = shapely.difference(outer, inner)
        out.append(
            pd.DataFrame(
                {
                    "layer": layer,
                    "name_zh": src["name_zh"].to_numpy(),
                    "ring": f"{lo:g}–{hi:g} km",
                    "from_km": lo,
                    "to_km": hi,
                    "geometry": ring,
                    "accuracy": _worst("derived", *src["accuracy"]),
                }
            )
        )
        inner, lo = outer, hi
    gdf = gpd.GeoDataFrame(pd.concat(out, ignore_index=True), geometry="geometry", crs=METRIC_CRS)
    gdf["area_km2"] = gdf.area / 1e6
    return gdf


def rail_in_zones(*, path=None, zones: list[str] | None = None, lines: list[str] | None = None) -> pd.DataFrame:
    """Length (km, EPSG:4548) of every rail line inside every ecological zone feature.

    One row per (line feature, zone feature) with a positive length: ``line_layer, line, line_id, status,
    zone_layer, zone, level, km_inside, accuracy``. Features of a layer with a ``base_layer`` column that copy
    another layer's geometry (``planned_rail``'s open lines) are left out, so that no line is counted twice.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The GeoPackage (default ``layers/tianjin.gpkg``).
    zones : list of str, optional
        Zone layer ids; default :func:`eco_layers`.
    lines : list of str, optional
        Line layer ids; default :func:`line_layers`.

    Returns
    -------
    pandas.DataFrame
        One row per (line feature, zone feature) with a positive length: ``line_layer, line, line_id, status,
        zone_layer, zone, level, km_inside, accuracy``.
    """
    zones = eco_layers(path) if zones is None else zones
    lines = line_layers(path) if lines is None else lines
    rows = []
    for lid in lines:
        ln = to_metric(load(lid, path))
        if "base_layer" in ln.columns:  # features that copy a base layer's geometry would count twice
            ln = ln[ln["base_layer"].fillna("") == ""]
        lgeo = np.asarray(ln.geometry.values, dtype=object)
        for zid in zones:
            zn = to_metric(load(zid, path))
            zgeo = np.asarray(zn.geometry.values, dtype=object)
            il, iz = shapely.STRtree(zgeo).query(lgeo, predicate="intersects")
            if not len(il):
                continue
            km = shapely.length(shapely.intersection(lgeo[il], zgeo[iz])) / 1000
            rows.append(
                pd.DataFrame(
                    {
                        "line_layer": lid,
                        "line": ln["name_zh"].to_numpy()[il],
                        "line_id": ln["line_id"].to_numpy()[il] if "line_id" in ln else "",
                        "status": ln["status"].to_numpy()[il] if "status" in ln else "",
                        "zone_layer": zid,
                        "zone": zn["name_zh"].to_numpy()[iz],
                        "level": zn["level"].to_numpy()[iz] if "level" in zn else pd.NA,
                        "km_inside": km,
                        "accuracy": [
                            _worst(a, b) for a, b in zip(ln["accuracy"].to_numpy()[il], zn["accuracy"].to_numpy()[iz])
                        ],
                    }
                )
            )
    cols = ["line_layer", "line", "line_id", "status", "zone_layer", "zone", "level", "km_inside", "accuracy"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.concat(rows, ignore_index=True)
    return df[df["km_inside"] > 0][cols].reset_index(drop=True)


def features_near(
    layer: str, zone_layer: str | None = None, within_km: float = 5.0, *, path=None, kind: str | None = None
) -> pd.DataFrame:
    """Features of ``layer`` (points or polygons) within ``within_km`` of a ``zone_layer`` feature.

    Parameters
    ----------
    layer : str
        The layer whose features are listed.
    zone_layer : str, optional
        The zones; default the wetlands (role ``wetland_areas``).
    within_km : float, default 5.0
        Distance, km.
    path : str or pathlib.Path, optional
        The GeoPackage (default ``layers/tianjin.gpkg``).
    kind : str, optional
        Keep only features with this ``kind`` (e.g. ``metro``).

    Returns
    -------
    pandas.DataFrame
        ``layer, name_zh, zone, distance_km (0 = inside or touching), ring, accuracy``, nearest zone first.
    """
    layer = role_id("wetland_areas") if layer is None else layer
    src = to_metric(load(layer, path))
    if kind is not None:
        src = src[src["kind"] == kind]
    zone_layer = role_id("wetland_areas") if zone_layer is None else zone_layer
    zn = to_metric(load(zone_layer, path))
    sgeo = np.asarray(src.geometry.values, dtype=object)
    zgeo = np.asarray(zn.geometry.values, dtype=object)
    isrc, iz = shapely.STRtree(zgeo).query(sgeo, predicate="dwithin", distance=within_km * 1000)
    dist = shapely.distance(sgeo[isrc], zgeo[iz]) / 1000
    edges = np.asarray([0.0, *RING_DISTANCES_KM])
    ring = np.where(dist == 0, "inside", [f"0–{within_km:g} km"] * len(dist))
    for lo, hi in zip(edges[:-1], edges[1:]):
        ring = np.where((dist > lo) & (dist <= hi), f"{lo:g}–{hi:g} km", ring)
    ring = np.where(dist == 0, "inside", ring)
    df = pd.DataFrame(
        {
            "layer": layer,
            "name_zh": src["name_zh"].to_numpy()[isrc],
            "zone": zn["name_zh"].to_numpy()[iz],
            "distance_km": dist,
            "ring": ring,
            "accuracy": [_worst(a, b) for a, b in zip(src["accuracy"].to_numpy()[isrc], zn["accuracy"].to_numpy()[iz])],
        }
    )
    return df.sort_values(["distance_km", "name_zh"]).reset_index(drop=True)


def clusters_in_barrier(
    *, path=None, barrier: str | None = None, clusters: str | None = None, near_km: float = 1.0
) -> pd.DataFrame:
    """Urban clusters inside or within ``near_km`` of the green barrier, by barrier level.

    The clusters are points (schematic positions), so "overlap" is a cluster point inside a barrier zone;
    ``distance_km`` is 0 inside.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The GeoPackage (default ``layers/tianjin.gpkg``).
    barrier : str, optional
        The barrier layer; default role ``green_barrier_area``.
    clusters : str, optional
        The cluster layer; default role ``urban_cluster_areas``.
    near_km : float, default 1.0
        Distance, km.

    Returns
    -------
    pandas.DataFrame
        ``name_zh, city, zone, level, distance_km, accuracy``.
    """
    cl = to_metric(load(role_id("urban_cluster_areas") if clusters is None else clusters, path))
    br = to_metric(load(role_id("green_barrier_area") if barrier is None else barrier, path))
    cg = np.asarray(cl.geometry.values, dtype=object)
    bg = np.asarray(br.geometry.values, dtype=object)
    ic, ib = shapely.STRtree(bg).query(cg, predicate="dwithin", distance=near_km * 1000)
    dist = shapely.distance(cg[ic], bg[ib]) / 1000
    df = pd.DataFrame(
        {
            "name_zh": cl["name_zh"].to_numpy()[ic],
            "city": cl["city"].to_numpy()[ic] if "city" in cl else "",
            "zone": br["name_zh"].to_numpy()[ib],
            "level": br["level"].to_numpy()[ib] if "level" in br else pd.NA,
            "distance_km": dist,
            "accuracy": "schematic"
            if (cl["accuracy"].eq("schematic").any() or br["accuracy"].eq("schematic").any())
            else "derived",
        }
    )
    return df.sort_values(["distance_km", "name_zh"]).reset_index(drop=True)
