"""Port and airport plan layers: 天津港 "一港六区" and 天津滨海国际机场 (schematic polygons).

Port areas: the six anchors (placed by hand on reclaimed-land blocks) split the coast between them by a
Voronoi partition; each area is its Voronoi cell ∩ the municipality (land, incl. reclaimed land) ∩ a disc
reaching :data:`PORT_REACH_M` beyond the nearest point of the coastline, so every area touches the coast
and none overlaps another. Airport: a rectangle along the runway heading on the airport anchor.
"""

from __future__ import annotations

import geopandas as gpd
import shapely
from shapely import affinity

from ..build_context import BuildContext
from ..crs import to_metric
from ..errors import BuildError
from .refs import plan_ref
from .shapes import anchors, area_km2, polygonal, to_storage

__all__ = ["build_port_districts", "build_airport", "PORT_REACH_M", "PORT_MIN_RADIUS_M"]

PORT_REACH_M = 2_500.0
"""How far (m) a port area reaches beyond the coastline point nearest its anchor."""
PORT_MIN_RADIUS_M = 3_500.0
"""Smallest radius (m) of a port area's disc."""
PORT_REFS = {
    "port_beijiang": ("port", "port_beijiang"),
    "port_dongjiang": ("port", "port_dongjiang"),
    "port_nanjiang": ("port", "port_rail"),
    "port_dagang": ("port", "port_rail"),
}
AIRPORT_SIZE_M = (3_000.0, 5_000.0)
"""E–W × N–S extent (m) of the schematic airport rectangle (two parallel runways of 3,600 m and 3,200 m)."""
AIRPORT_ROTATION_DEG = -17.0
"""Runway heading ≈163°/343° (16/34): the rectangle is turned 17° clockwise from north."""


def _coast(ctx: BuildContext) -> shapely.Geometry:
    coast = to_metric(ctx.get("coastline"))
    line = coast.loc[coast["variant"] == "tianditu_derived"].geometry.union_all()
    if line.is_empty:
        raise BuildError("the coastline layer has no 'tianditu_derived' edge", layer=ctx.layer_id, field="variant")
    return line


def build_port_districts(ctx: BuildContext) -> gpd.GeoDataFrame:
    """The six port areas of 天津港 (北疆, 南疆, 东疆, 大沽口, 高沙岭, 大港) on the Binhai coast.

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
    ports = anc[anc["kind"] == "port_area"]
    if len(ports) != 6:
        raise BuildError(
            f"expected the six port areas of 一港六区 in plan_anchors, found {len(ports)}",
            layer=ctx.layer_id,
            file=str(ctx.path("plan_anchors")),
        )
    land = to_metric(ctx.get("boundary")).geometry.union_all()
    coast = _coast(ctx)
    pts = shapely.points(ports[["x", "y"]].to_numpy())
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.MultiPoint(list(pts)), extend_to=land.envelope.buffer(50_000))
    )
    records, geoms = [], []
    for (fid, row), pt in zip(ports.iterrows(), pts):
        cell = next(c for c in cells if c.contains(pt))
        radius = max(PORT_MIN_RADIUS_M, pt.distance(coast) + PORT_REACH_M)
        geom = polygonal(cell.intersection(land).intersection(pt.buffer(radius, quad_segs=16)))
        if geom.geom_type == "MultiPolygon":  # keep the block the anchor stands on (and those touching it)
            parts = list(geom.geoms)
            main = min(parts, key=lambda g: g.distance(pt))
            geom = shapely.union_all([g for g in parts if g.distance(main) < 1.0])
        records.append(
            {
                "name_zh": row["name_zh"],
                "name_en": row["name_en"],
                "accuracy": "schematic",
                "source": "plan_anchors; boundary; coastline",
                "port_area": fid.removeprefix("port_"),
                "area_km2": area_km2(geom),
                "confidence": row["confidence"],
                "construction": f"Voronoi cell of the anchor ∩ land ∩ disc of {radius / 1000:.1f} km",
                "plan_ref": plan_ref(*PORT_REFS.get(fid, ("port",))),
            }
        )
        geoms.append(geom)
    return to_storage(records, geoms)


def build_airport(ctx: BuildContext) -> gpd.GeoDataFrame:
    """天津滨海国际机场 as a schematic rectangle on the airport anchor, inside its district (东丽区).

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
    if "airport_tsn" not in anc.index:
        raise BuildError("anchor 'airport_tsn' is missing", layer=ctx.layer_id, file=str(ctx.path("plan_anchors")))
    a = anc.loc["airport_tsn"]
    districts = to_metric(ctx.get("districts"))
    district = districts.loc[districts["name_zh"] == a["expected_district"]].geometry.union_all()
    w, h = AIRPORT_SIZE_M
    rect = shapely.box(a["x"] - w / 2, a["y"] - h / 2, a["x"] + w / 2, a["y"] + h / 2)
    geom = polygonal(affinity.rotate(rect, AIRPORT_ROTATION_DEG, origin=(a["x"], a["y"])).intersection(district))
    record = {
        "name_zh": a["name_zh"],
        "name_en": a["name_en"],
        "accuracy": "schematic",
        "source": "plan_anchors; districts",
        "iata": "TSN",
        "icao": "ZBTJ",
        "runways_m": "3600;3200",
        "district_zh": a["expected_district"],
        "area_km2": area_km2(geom),
        "construction": f"{w / 1000:.1f} × {h / 1000:.1f} km rectangle on the anchor, turned "
        f"{-AIRPORT_ROTATION_DEG:.0f}° clockwise (runways 16/34)",
        "plan_ref": plan_ref("airport", "airport_rail"),
    }
    return to_storage([record], [geom])
