"""Ecology plan layers: the four wetland reserves, the green barrier's three control zones, and the
"三区两带中屏障" ecological pattern. Constructed in EPSG:4548, stored in EPSG:4326, all schematic.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from ..build_context import BuildContext
from ..crs import to_metric
from ..errors import BuildError
from .refs import plan_ref
from .shapes import (
    anchors,
    area_km2,
    ellipse,
    fit_area,
    lonlat_box,
    lonlat_to_metric,
    official_area_km2,
    polygonal,
    to_storage,
)

__all__ = ["build_wetlands", "build_green_barrier", "build_eco_pattern", "WETLANDS", "BARRIER_LEVELS"]

WETLANDS: dict[str, dict] = {
    # anchor id → reference figure and the described extent used to shape the seed
    "wetland_qilihai": {
        "figure": "guhaian_reserve_area",
        "name_en": "Qilihai Wetland (Ancient Coast and Wetland National Nature Reserve)",
        "bbox": None,
        "refs": ("wetlands", "guhaian"),
    },
    "wetland_dahuangpu": {
        "figure": "dahuangpu_reserve_area",
        "name_en": "Dahuangpu Wetland Nature Reserve",
        # 117°10′33″–117°19′58″E, 39°21′04″–39°30′27″N (plan_anchors extent_note)
        "bbox": (117.17583, 39.35111, 117.33278, 39.50750),
        "refs": ("wetlands",),
    },
    "wetland_beidagang": {
        "figure": "beidagang_reserve_area",
        "name_en": "Beidagang Wetland Nature Reserve",
        # 117°14′–117°31′E, 38°30′–38°57′N (plan_anchors extent_note)
        "bbox": (117.23333, 38.5, 117.51667, 38.95),
        "refs": ("wetlands",),
    },
    "wetland_tuanpo": {
        "figure": "tuanpo_reserve_area",
        "name_en": "Tuanbo Bird Nature Reserve (Tuanbowa)",
        "bbox": None,
        "refs": ("wetlands",),
    },
}
"""The four reserves named in 第十章第二节, by ``plan_anchors.csv`` id."""

BARRIER_LEVELS = {
    1: ("一级管控区", "Level 1 control zone", "barrier_level1_area"),
    2: ("二级管控区", "Level 2 control zone", "barrier_level2_area"),
    3: ("三级管控区", "Level 3 control zone", "barrier_level3_area"),
}
BARRIER_NS_M = 50_000.0
"""N–S extent of the barrier (≈50 km, reference_figures ``barrier_extent_ns``)."""
BINHAI_CORE_M = 4_000.0
"""Radius (m) around the 滨海 core anchors that the barrier keeps clear of."""


def _district(districts_m: gpd.GeoDataFrame, name: str, layer: str) -> shapely.Geometry:
    sel = districts_m[districts_m["name_zh"] == name]
    if sel.empty:
        raise BuildError(f"district {name!r} is not in the districts layer", layer=layer, field="expected_district")
    return sel.geometry.union_all()


def build_wetlands(ctx: BuildContext) -> gpd.GeoDataFrame:
    """The four wetland reserves, each inside its district and scaled to its official area (±1 %).

    Shape: an ellipse inscribed in the published bounding box (大黄堡, 北大港) or a circle on the anchor
    point (七里海, 团泊), intersected with the reserve's district, scaled about the anchor by bisection.

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features in EPSG:4326 (the build applies the catalog schema and validation).
    """
    districts = to_metric(ctx.get("districts"))
    anc = anchors(ctx)
    records, geoms = [], []
    for fid, spec in WETLANDS.items():
        if fid not in anc.index:
            raise BuildError(
                f"anchor {fid!r} is missing", layer=ctx.layer_id, file=str(ctx.path("plan_anchors")), feature=fid
            )
        a = anc.loc[fid]
        district = _district(districts, a["expected_district"], ctx.layer_id)
        target = official_area_km2(ctx, spec["figure"])
        if target is None:
            raise BuildError(
                f"reference figure {spec['figure']} is not verified; no area target", layer=ctx.layer_id, feature=fid
            )
        if abs(float(a["official_area_km2"]) - target) > 1e-6:
            raise BuildError(
                f"plan_anchors gives {a['official_area_km2']} km², reference_figures {target} km²",
                layer=ctx.layer_id,
                feature=fid,
                field="official_area_km2",
            )
        if spec["bbox"]:
            (x0, y0), (x1, y1) = lonlat_to_metric(
                [spec["bbox"][0], spec["bbox"][2]], [spec["bbox"][1], spec["bbox"][3]]
            )
            seed = ellipse(a["x"], a["y"], (x1 - x0) / 2, (y1 - y0) / 2)
            geom, s = fit_area(
                lambda s: polygonal(district.intersection(shapely.affinity.scale(seed, s, s, origin=(a["x"], a["y"])))),
                target,
                0.01,
                1.5,
                what=fid,
            )
            how = f"ellipse inscribed in the published bbox, clipped to {a['expected_district']}, scaled ×{s:.3f}"
        else:
            centre = shapely.Point(a["x"], a["y"])
            geom, r = fit_area(
                lambda r: polygonal(district.intersection(centre.buffer(r, quad_segs=16))),
                target,
                100.0,
                60_000.0,
                what=fid,
            )
            how = f"circle on the anchor point, clipped to {a['expected_district']}, radius {r / 1000:.2f} km"
        records.append(
            {
                "name_zh": a["name_zh"],
                "name_en": spec["name_en"],
                "accuracy": "schematic",
                "source": "plan_anchors; reference_figures",
                "reserve_id": fid,
                "district_zh": a["expected_district"],
                "area_km2": area_km2(geom),
                "area_official_km2": target,
                "confidence": a["confidence"],
                "construction": how,
                "plan_ref": plan_ref(*spec["refs"]),
            }
        )
        geoms.append(geom)
    return to_storage(records, geoms)


def build_green_barrier(ctx: BuildContext) -> gpd.GeoDataFrame:
    """The green barrier between 津城 and 滨城 as its three control zones (一级, 二级, 三级管控区).

    The barrier is a ≈50 km N–S band centred on the barrier anchor on the 海河 axis, outside the six
    central districts, the 滨海 core, the airport and the wetland reserves, inside the municipality; its
    E–W width is fitted so the whole barrier measures 736 km². Zones are bands by distance from the axis:
    level 1 (the core band) fitted to 449.3 km², level 2 to 148.7 km²; level 3 is the remainder (its
    138.0 km² is derived, not verified, so it is not a target and ``area_official_km2`` is empty).

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features in EPSG:4326 (the build applies the catalog schema and validation).
    """
    districts = to_metric(ctx.get("districts"))
    boundary = to_metric(ctx.get("boundary")).geometry.union_all()
    anc = anchors(ctx)
    if "green_barrier" not in anc.index:
        raise BuildError("anchor 'green_barrier' is missing", layer=ctx.layer_id, file=str(ctx.path("plan_anchors")))
    x0, y0 = anc.loc["green_barrier", ["x", "y"]]
    core = anc[anc["kind"] == "binhai_core"]
    excluded = shapely.union_all(
        [
            districts.loc[districts["zone"] == "中心城区"].geometry.union_all(),
            shapely.union_all(shapely.buffer(shapely.points(core[["x", "y"]].to_numpy()), BINHAI_CORE_M)),
            to_metric(ctx.get("airport")).geometry.union_all(),
            to_metric(ctx.get("wetlands")).geometry.union_all(),
        ]
    )
    allowed = boundary.difference(excluded)

    def band(half_width: float) -> shapely.Geometry:
        return shapely.box(x0 - half_width, y0 - BARRIER_NS_M / 2, x0 + half_width, y0 + BARRIER_NS_M / 2)

    total_target = official_area_km2(ctx, "project871_green_barrier")
    if total_target is None:
        raise BuildError("the barrier's 736 km² is not verified", layer=ctx.layer_id)
    whole, half = fit_area(
        lambda w: polygonal(allowed.intersection(band(w))), total_target, 500.0, 30_000.0, what="green barrier (whole)"
    )
    targets = {lvl: official_area_km2(ctx, spec[2]) for lvl, spec in BARRIER_LEVELS.items()}
    if targets[1] is None or targets[2] is None:
        raise BuildError("barrier level 1/2 areas are not verified", layer=ctx.layer_id)
    lvl1, w1 = fit_area(lambda w: polygonal(whole.intersection(band(w))), targets[1], 10.0, half, what="level 1")
    inner2, w2 = fit_area(
        lambda w: polygonal(whole.intersection(band(w))), targets[1] + targets[2], w1, half, what="levels 1+2"
    )
    zones = {1: lvl1, 2: polygonal(inner2.difference(lvl1)), 3: polygonal(whole.difference(inner2))}
    how = {
        1: f"core band ±{w1 / 1000:.2f} km either side of the axis",
        2: f"band ±{w1 / 1000:.2f}–{w2 / 1000:.2f} km from the axis",
        3: f"outer band beyond ±{w2 / 1000:.2f} km (remainder of the whole barrier, ±{half / 1000:.2f} km)",
    }
    records, geoms = [], []
    for lvl, (zh, en, _) in BARRIER_LEVELS.items():
        records.append(
            {
                "name_zh": f"双城间绿色生态屏障{zh}",
                "name_en": f"Green ecological barrier, {en.lower()}",
                "accuracy": "schematic",
                "source": "plan_anchors; reference_figures; districts; boundary",
                "level": lvl,
                "level_zh": zh,
                "area_km2": area_km2(zones[lvl]),
                "area_official_km2": targets[lvl] if targets[lvl] is not None else np.nan,
                "construction": how[lvl]
                + f"; ≈50 km N–S band centred on the anchor ({anc.loc['green_barrier', 'lon']}E,"
                f" {anc.loc['green_barrier', 'lat']}N), outside the central districts, 滨海 core, "
                "airport and wetlands",
                "plan_ref": plan_ref("barrier"),
            }
        )
        geoms.append(zones[lvl])
    return to_storage(records, geoms)


RESERVE_NAMES: dict[str, tuple[str, ...]] = {
    "wetland_qilihai": ("七里海", "古海岸", "qilihai"),
    "wetland_dahuangpu": ("大黄堡", "dahuangpu"),
    "wetland_beidagang": ("北大港", "beidagang"),
    "wetland_tuanpo": ("团泊", "tuanbo", "tuanpo"),
}
"""Names by which a reserve is recognised in any wetlands layer (an official file has no tjspatial ids)."""


def match_reserves(wet_m: gpd.GeoDataFrame, anc, layer: str = "eco_pattern") -> dict[str, shapely.Geometry]:
    """The geometry (EPSG:4548) of each of the four reserves in a wetlands layer, however it was made.

    Matched by tjspatial's ``reserve_id`` when the layer has it, else by name (``name_zh``/``name_en`` containing
    the reserve's name, :data:`RESERVE_NAMES`), else spatially: the features within 5 km of the reserve's
    plan anchor. Several matching features are merged.

    Raises
    ------
    BuildError
        Naming the layer ``wetlands`` and the reserve that no feature matches.
    """
    out: dict[str, shapely.Geometry] = {}
    ids = wet_m["reserve_id"].fillna("").astype(str) if "reserve_id" in wet_m else None
    names = (
        wet_m.get("name_zh", "").fillna("").astype(str) + " " + wet_m.get("name_en", "").fillna("").astype(str)
    ).str.lower()
    for fid, keys in RESERVE_NAMES.items():
        sel = wet_m[ids == fid] if ids is not None else wet_m.iloc[0:0]
        if sel.empty:
            sel = wet_m[names.apply(lambda n: any(k.lower() in n for k in keys))]
        if sel.empty and fid in anc.index:
            point = shapely.Point(float(anc.loc[fid, "x"]), float(anc.loc[fid, "y"]))
            sel = wet_m[wet_m.geometry.distance(point) <= 5000.0]
        if sel.empty:
            raise BuildError(
                f"no feature of the wetlands layer is the reserve {fid} (no reserve_id, no name "
                f"containing {' / '.join(keys)}, nothing within 5 km of its plan anchor)",
                layer=layer,
                file="wetlands",
                feature=fid,
                rule="reserve match",
            )
        out[fid] = sel.geometry.union_all()
    return out


def build_eco_pattern(ctx: BuildContext) -> gpd.GeoDataFrame:
    """ "三区两带中屏障": three protection areas, two belts and the barrier (schematic polygons).

    - 北部 protection area: 蓟州区 north of 39.98°N (盘山, 于桥水库; 环秀湖 is not located).
    - 中部 / 南部: the convex hull of their two wetlands (七里海+大黄堡 / 团泊+北大港) widened by 3 km, in Tianjin.
    - 西部生态防护林带: a 5 km band inside the municipal boundary west of 117.10°E.
    - 东部国际蓝色海湾带: 3 km either side of the derived (Tianditu) coastline.
    - 中屏障: the green barrier, dissolved.

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features in EPSG:4326 (the build applies the catalog schema and validation).
    """
    boundary = to_metric(ctx.get("boundary")).geometry.union_all()
    districts = to_metric(ctx.get("districts"))
    reserves = match_reserves(to_metric(ctx.get("wetlands")), anchors(ctx), ctx.layer_id)
    barrier = to_metric(ctx.get("green_barrier")).geometry.union_all()
    coast = to_metric(ctx.get("coastline"))
    coast_line = coast.loc[coast["variant"] == "tianditu_derived"].geometry.union_all()
    if coast_line.is_empty:
        raise BuildError("the coastline layer has no 'tianditu_derived' edge", layer=ctx.layer_id, field="variant")

    def hull(ids: list[str]) -> shapely.Geometry:
        return polygonal(shapely.union_all([reserves[i] for i in ids]).convex_hull.buffer(3000).intersection(boundary))

    jizhou = _district(districts, "蓟州区", ctx.layer_id)
    parts = [
        (
            "北部盘山—于桥水库—环秀湖生态建设保护区",
            "Northern Panshan–Yuqiao Reservoir–Huanxiu Lake protection area",
            "protection_area",
            polygonal(jizhou.intersection(lonlat_box(117.0, 39.98, 118.2, 40.4))),
            "eco_north",
            "蓟州区 north of 39.98°N",
        ),
        (
            "中部七里海—大黄堡—北三河生态湿地保护区",
            "Central Qilihai–Dahuangpu–Beisan rivers wetland protection area",
            "protection_area",
            hull(["wetland_qilihai", "wetland_dahuangpu"]),
            "eco_central",
            "convex hull of the 七里海 and 大黄堡 reserves + 3 km",
        ),
        (
            "南部团泊洼—北大港生态湿地保护区",
            "Southern Tuanbowa–Beidagang wetland protection area",
            "protection_area",
            hull(["wetland_tuanpo", "wetland_beidagang"]),
            "eco_south",
            "convex hull of the 团泊 and 北大港 reserves + 3 km",
        ),
        (
            "西部生态防护林带",
            "Western ecological shelter-forest belt",
            "belt",
            polygonal(boundary.difference(boundary.buffer(-5000)).intersection(lonlat_box(116.0, 38.0, 117.10, 41.0))),
            "eco_belts",
            "5 km band inside the municipal boundary west of 117.10°E",
        ),
        (
            "东部国际蓝色海湾带",
            "Eastern international blue bay belt",
            "belt",
            polygonal(coast_line.buffer(3000)),
            "eco_belts",
            "3 km either side of the derived coastline",
        ),
        (
            "双城间绿色生态屏障",
            "Green ecological barrier between the two cities",
            "barrier",
            barrier,
            "eco_barrier",
            "the green_barrier layer, dissolved",
        ),
    ]
    records = [
        {
            "name_zh": zh,
            "name_en": en,
            "accuracy": "schematic",
            "source": "wetlands; green_barrier; boundary; districts; coastline",
            "component": comp,
            "area_km2": area_km2(g),
            "construction": how,
            "plan_ref": plan_ref("eco_pattern", ref),
        }
        for zh, en, comp, g, ref, how in parts
    ]
    return to_storage(records, [p[3] for p in parts])
