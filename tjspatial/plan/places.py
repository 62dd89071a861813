"""Urban clusters (津城's four cities, 滨城's service clusters) and the "一湾三廊" tourism structure.

Urban clusters are representative points (the plan draws no boundaries): anchors of
``plan_anchors.csv``, a station of the ``rail_stations`` layer, or approximate hand-placed points of
``layers/plan/plan_points.csv``. Tourism: the 世界海洋文明度假湾 as the coast from 大沽口 to 大神堂, the three
corridors as hand-drawn river courses (``layers/plan/tourism_corridors.geojson``), and the ~45 km of
public shoreline as the coast around the four shore sections the plan names, fitted to 45 km.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from ..build_context import BuildContext
from ..crs import METRIC_CRS, to_metric
from ..errors import BuildError
from ..paths import plan_dir
from .anchors import StationAnchors
from .refs import plan_ref
from .shapes import anchors, fit_area, length_km, lonlat_box, plan_points, to_storage

__all__ = ["build_urban_clusters", "build_tourism", "CLUSTERS", "SHORELINE_KM", "BAY_BOX"]

# (source kind, key, city, cluster kind, name_zh or None (take the source's), name_en or None, plan ref key)
CLUSTERS = [
    ("anchor", "jc_zhihui_kejicheng", "津城", "city", "智慧科技城", "Smart technology city", "jc_zhihui"),
    ("anchor", "jc_hangkong_cheng", "津城", "city", "国际航空城", "International aviation city", "jc_hangkong"),
    ("anchor", "jc_yiyao_cheng", "津城", "city", "医药活力城", "Pharmaceutical vitality city", "jc_yiyao"),
    (
        "anchor",
        "jc_kechuang_huizhan",
        "津城",
        "city",
        "科创会展城",
        "Science, innovation and convention city",
        "jc_kechuang",
    ),
    ("anchor", "bh_core_yujiapu", "滨城", "core", "滨海新区核心区（一核）", "Binhai core (the 'one core')", "bc_core"),
    (
        "anchor",
        "bh_core_teda",
        "滨城",
        "service_cluster",
        "天津经济技术开发区中心商务片区",
        "TEDA central business area",
        "bc_clusters",
    ),
    ("point", "bc_teda_east", "滨城", "service_cluster", None, None, "bc_clusters"),
    ("point", "bc_zgc", "滨城", "service_cluster", None, None, "bc_clusters"),
    ("point", "bc_ocean_sci", "滨城", "service_cluster", None, None, "bc_clusters"),
    (
        "station",
        "中新生态城",
        "滨城",
        "service_cluster",
        "中新天津生态城",
        "Sino-Singapore Tianjin Eco-city",
        "bc_clusters",
    ),
]
"""津城's four cities (第十章第一节) and 滨城's 'one core, five service clusters' (专栏19)."""

SHORELINE_KM = 45.0
"""Public shoreline length the plan names (专栏17: 长度约45公里)."""
BAY_BOX = (117.60, 38.95, 118.10, 39.25)
"""Lon/lat box of the 世界海洋文明度假湾 coast: 大沽口 (≈38.97N) north to 大神堂 (≈39.2N)."""


def build_urban_clusters(ctx: BuildContext) -> gpd.GeoDataFrame:
    """津城's four cities and 滨城's core and service clusters as representative points (schematic).

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features in EPSG:4326 (the build applies the catalog schema and validation).
    """
    anc = anchors(ctx)
    pts = plan_points(ctx)
    stations = StationAnchors(ctx)
    districts = to_metric(ctx.get("districts"))
    records, geoms = [], []
    for kind, key, city, ckind, zh, en, ref in CLUSTERS:
        if kind == "anchor":
            if key not in anc.index:
                raise BuildError(f"anchor {key!r} is missing", layer=ctx.layer_id, file=str(ctx.path("plan_anchors")))
            row = anc.loc[key]
            geom, conf = shapely.Point(row["x"], row["y"]), row["confidence"]
            basis = f"plan_anchors {key}: {row['extent_note'] if isinstance(row['extent_note'], str) else ''}".strip()
        elif kind == "point":
            row = pts.loc[key]
            geom, conf, basis = shapely.Point(row["x"], row["y"]), row["confidence"], row["basis"]
            zh, en = row["name_zh"], row["name_en"]
        else:
            at = stations.resolve(zh, [(None, key)])
            if at is None:  # in neither rail_stations nor the bundled stations: warned, left out
                continue
            geom, conf, basis = (
                at[(None, key)],
                "low",
                f"OSM station {key} (rail_stations) as its point" + stations.note(zh),
            )
        inside = districts[districts.contains(geom)]
        records.append(
            {
                "name_zh": zh,
                "name_en": en,
                "accuracy": "schematic",
                "source": {"anchor": "plan_anchors", "point": "plan_points", "station": "rail_stations"}[kind],
                "city": city,
                "cluster_kind": ckind,
                "district_zh": inside["name_zh"].iloc[0] if len(inside) else "",
                "confidence": conf,
                "position_basis": basis,
                "plan_ref": plan_ref(ref),
            }
        )
        geoms.append(geom)
    return to_storage(records, geoms)


def build_tourism(ctx: BuildContext) -> gpd.GeoDataFrame:
    """ "一湾三廊" and the ~45 km public shoreline as schematic lines.

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features in EPSG:4326 (the build applies the catalog schema and validation).
    """
    coast = to_metric(ctx.get("coastline"))
    coast_line = coast.loc[coast["variant"] == "tianditu_derived"].geometry.union_all()
    if coast_line.is_empty:
        raise BuildError("the coastline layer has no 'tianditu_derived' edge", layer=ctx.layer_id, field="variant")
    land = to_metric(ctx.get("boundary")).geometry.union_all()
    path = ctx.file(plan_dir() / "tourism_corridors.geojson")
    try:
        corridors = pyogrio.read_dataframe(path).to_crs(METRIC_CRS).set_index("corridor_id")
    except Exception as exc:
        raise BuildError(f"cannot read the corridors ({exc})", layer=ctx.layer_id, file=str(path)) from exc
    records, geoms = [], []

    def add(zh, en, comp, geom, plan_km, conf, how, *refs):
        records.append(
            {
                "name_zh": zh,
                "name_en": en,
                "accuracy": "schematic",
                "source": how.split(":")[0],
                "component": comp,
                "length_km": length_km(geom),
                "length_plan_km": plan_km,
                "confidence": conf,
                "construction": how,
                "plan_ref": plan_ref("tourism", *refs),
            }
        )
        geoms.append(geom)

    bay = coast_line.intersection(lonlat_box(*BAY_BOX))
    add(
        "世界海洋文明度假湾",
        "World marine civilisation resort bay",
        "bay",
        bay,
        np.nan,
        "low",
        "coastline: derived (Tianditu) coast between 38.95°N (大沽口) and 39.25°N (大神堂)",
        "bay",
    )
    for cid, ref in (("chaobai", "chaobai"), ("duliujian", "duliujian"), ("haihe", "haihe")):
        if cid not in corridors.index:
            raise BuildError(f"corridor {cid!r} is missing", layer=ctx.layer_id, file=str(path), feature=cid)
        row = corridors.loc[cid]
        add(
            row["name_zh"],
            row["name_en"],
            "corridor",
            row.geometry.intersection(land),
            np.nan,
            row["confidence"],
            f"tourism_corridors.geojson: {row['basis']}",
            ref,
        )
    pts = plan_points(ctx)
    seeds = shapely.points(pts.loc[pts["kind"] == "shoreline", ["x", "y"]].to_numpy())
    shore, r = fit_area(
        lambda r: coast_line.intersection(shapely.union_all(shapely.buffer(seeds, r))),
        SHORELINE_KM,
        100.0,
        20_000.0,
        rtol=0.01,
        measure=lambda g: g.length / 1e3,
        what="public shoreline",
    )
    add(
        "公共亲海亲水休闲岸线（约45公里）",
        "Public seaside leisure shoreline (about 45 km)",
        "shoreline",
        shore,
        SHORELINE_KM,
        "low",
        f"plan_points: derived coast within {r / 1000:.2f} km of the four shore sections "
        "(生态城三堤, 东疆滨海公园, 保税区临港湾, 原海滨浴场南侧), fitted to 45 km",
        "shoreline",
    )
    return to_storage(records, geoms)
