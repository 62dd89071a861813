"""Deterministic construction helpers for the schematic plan layers (all geometry in EPSG:4548, metres).

The plan layers are shaped from anchors and described extents, then scaled until their area matches a
published figure: :func:`fit_area` bisects one size parameter (a buffer radius, a scale factor, a width)
of a shape-making function. No random numbers are used anywhere, so every build gives the same geometry.
"""

from __future__ import annotations

from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import affinity

from ..build_context import BuildContext
from ..crs import METRIC_CRS, STORAGE_CRS
from ..errors import BuildError
from ..paths import plan_dir

__all__ = [
    "AREA_RTOL",
    "fit_area",
    "polygonal",
    "ellipse",
    "lonlat_to_metric",
    "lonlat_box",
    "anchors",
    "plan_points",
    "official_area_km2",
    "to_storage",
    "area_km2",
    "length_km",
]

AREA_RTOL = 0.002
"""Relative tolerance of :func:`fit_area` (0.2 %), well inside the 1 % the plan layers promise."""

VERIFIED = ("yes", "secondary")
"""``reference_figures.csv`` ``verified`` values accepted as area targets; ``no`` (derived) is not a target."""


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of ``geom`` (drops points and lines left over by overlays); empty if none.

    Parameters
    ----------
    geom : shapely.Geometry
        Any geometry.

    Returns
    -------
    shapely.Geometry
        Its polygons (a Polygon or MultiPolygon), or an empty polygon.
    """
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def fit_area(
    make: Callable[[float], shapely.Geometry],
    target_km2: float,
    lo: float,
    hi: float,
    *,
    what: str,
    rtol: float = AREA_RTOL,
    max_iter: int = 80,
    measure: Callable[[shapely.Geometry], float] | None = None,
) -> tuple[shapely.Geometry, float]:
    """Bisect ``p`` in ``[lo, hi]`` until ``make(p)`` (EPSG:4548) has ``target_km2`` km² within ``rtol``.

    ``make`` must return a geometry whose area grows with ``p``.

    Parameters
    ----------
    make : callable
        ``p`` → geometry in EPSG:4548 (metres), growing with ``p``.
    target_km2 : float
        The target area, km² (or the target of ``measure``).
    lo, hi : float
        The bracket of ``p``.
    what : str
        The feature, named in the error.
    rtol : float, optional
        Relative tolerance; default :data:`AREA_RTOL` (0.2 %).
    max_iter : int, default 80
        Bisection steps at most.
    measure : callable, optional
        Replaces the area (km²) by another growing measure, e.g. a length in km for lines.

    Returns
    -------
    geometry : shapely.Geometry
        ``make(p)`` at the solution.
    p : float
        The parameter found.

    Raises
    ------
    ValueError
        Naming ``what`` when the target is not reachable between ``make(lo)`` and ``make(hi)`` or the
        bisection does not converge.
    """
    measure = measure or (lambda g: g.area / 1e6)
    a_lo, a_hi = measure(make(lo)), measure(make(hi))
    if not a_lo <= target_km2 <= a_hi:
        raise ValueError(f"{what}: target {target_km2} is outside the reachable {a_lo:.1f}–{a_hi:.1f}")
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        geom = make(mid)
        area = measure(geom)
        if abs(area - target_km2) <= rtol * target_km2:
            return geom, mid
        lo, hi = (mid, hi) if area < target_km2 else (lo, mid)
    raise ValueError(f"{what}: area did not converge to {target_km2} (last {area:.2f})")


def ellipse(cx: float, cy: float, half_x: float, half_y: float, n: int = 32) -> shapely.Polygon:
    """An axis-aligned ellipse (metres) centred on ``(cx, cy)`` with semi-axes ``half_x``, ``half_y``.

    Parameters
    ----------
    cx, cy : float
        Centre, metres (EPSG:4548).
    half_x, half_y : float
        Semi-axes, metres.
    n : int, default 32
        Vertices.

    Returns
    -------
    shapely.Polygon
        The ellipse, EPSG:4548.
    """
    circle = shapely.Point(cx, cy).buffer(1.0, quad_segs=n)
    return affinity.scale(circle, half_x, half_y, origin=(cx, cy))


def lonlat_to_metric(lon, lat) -> np.ndarray:
    """EPSG:4548 coordinates (n × 2, metres) of lon/lat arrays (degrees, EPSG:4326).

    Parameters
    ----------
    lon, lat : array-like of float
        Degrees, EPSG:4326.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` x, y in metres, EPSG:4548.
    """
    pts = gpd.GeoSeries(shapely.points(np.column_stack([np.atleast_1d(lon), np.atleast_1d(lat)])), crs=STORAGE_CRS)
    return shapely.get_coordinates(pts.to_crs(METRIC_CRS).values)


def lonlat_box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A lon/lat box (degrees) as a polygon in EPSG:4548, densified so its edges follow the meridians.

    Parameters
    ----------
    x0, y0, x1, y1 : float
        West, south, east, north, degrees.

    Returns
    -------
    shapely.Polygon
        The box in EPSG:4548 (metres).
    """
    box = shapely.segmentize(shapely.box(x0, y0, x1, y1), 0.01)
    return gpd.GeoSeries([box], crs=STORAGE_CRS).to_crs(METRIC_CRS).iloc[0]


def anchors(ctx: BuildContext) -> pd.DataFrame:
    """``plan_anchors.csv`` indexed by ``feature_id``, with metric ``x``, ``y`` (EPSG:4548) added.

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).

    Returns
    -------
    pandas.DataFrame
        One row per anchor, ``x``/``y`` in metres (EPSG:4548).
    """
    df = ctx.read_csv("plan_anchors")
    for col in ("feature_id", "name_zh", "name_en", "kind", "lon", "lat", "expected_district"):
        if col not in df.columns:
            raise BuildError(
                f"plan anchors lack column {col!r}", layer=ctx.layer_id, file=str(ctx.path("plan_anchors")), field=col
            )
    xy = lonlat_to_metric(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
    return df.assign(x=xy[:, 0], y=xy[:, 1]).set_index("feature_id")


def plan_points(ctx: BuildContext) -> pd.DataFrame:
    """The hand-authored points of ``layers/plan/plan_points.csv`` indexed by ``point_id`` (+ metric x, y).

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).

    Returns
    -------
    pandas.DataFrame
        One row per point, ``x``/``y`` in metres (EPSG:4548).
    """
    path = ctx.file(plan_dir() / "plan_points.csv")
    df = pd.read_csv(path, encoding="utf-8")
    xy = lonlat_to_metric(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
    return df.assign(x=xy[:, 0], y=xy[:, 1]).set_index("point_id")


def official_area_km2(ctx: BuildContext, key: str) -> float | None:
    """A verified area (km²) from ``reference_figures.csv``; ``None`` when the row is derived/unverified.

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).
    key : str
        The row's key in ``reference_figures.csv``.

    Returns
    -------
    float or None
        km².

    Raises
    ------
    BuildError
        Naming the key when the row is missing.
    """
    ref = ctx.read_csv("reference_figures").set_index("key")
    if key not in ref.index:
        raise BuildError(
            f"reference figure {key!r} is missing",
            layer=ctx.layer_id,
            file=str(ctx.path("reference_figures")),
            field=key,
        )
    row = ref.loc[key]
    if row["unit"] != "km2":
        raise BuildError(f"reference figure {key!r} is in {row['unit']!r}, not km2", layer=ctx.layer_id, field=key)
    return float(row["value"]) if str(row["verified"]).strip() in VERIFIED else None


def to_storage(records: list[dict], geoms: list[shapely.Geometry]) -> gpd.GeoDataFrame:
    """Records with EPSG:4548 geometries → GeoDataFrame in EPSG:4326 (repairing rings pinched by the projection).

    Parameters
    ----------
    records : list of dict
        Attributes, one dict per feature.
    geoms : list of shapely.Geometry
        Their geometries in EPSG:4548 (metres).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326.
    """
    gdf = gpd.GeoDataFrame(pd.DataFrame(records), geometry=list(geoms), crs=METRIC_CRS).to_crs(STORAGE_CRS)
    g = np.asarray(gdf.geometry.values)
    bad = ~shapely.is_valid(g)
    if bad.any():  # reprojection can pinch a ring that was valid in metres; repair, keeping the same family
        fixed = shapely.make_valid(g[bad])
        polys = shapely.get_type_id(g[bad]) >= 3
        fixed[polys] = [polygonal(f) for f in fixed[polys]]
        g[bad] = fixed
        gdf = gdf.set_geometry(gpd.GeoSeries(g, index=gdf.index, crs=STORAGE_CRS))
    return gdf


def area_km2(geom: shapely.Geometry) -> float:
    """Area of an EPSG:4548 geometry in km², rounded to 3 decimals.

    Parameters
    ----------
    geom : shapely.Geometry
        In EPSG:4548 (metres).

    Returns
    -------
    float
        km², 3 decimals.
    """
    return round(geom.area / 1e6, 3)


def length_km(geom: shapely.Geometry) -> float:
    """Length of an EPSG:4548 geometry in km, rounded to 3 decimals.

    Parameters
    ----------
    geom : shapely.Geometry
        In EPSG:4548 (metres).

    Returns
    -------
    float
        km, 3 decimals.
    """
    return round(geom.length / 1e3, 3)
