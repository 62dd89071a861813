"""Raster surfaces over the municipality (100 m cells, EPSG:4548): distance to the nearest station and travel
time to a hub (walk to a station, then rail), and isochrone polygons drawn from a time surface.

Cells outside the ``boundary`` layer hold the nodata value (-9999). Distances are straight lines from the cell
centre (scipy ``cKDTree``), in metres; times are minutes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from affine import Affine
from scipy.spatial import cKDTree

from ..catalog import role_id
from ..crs import METRIC_CRS, to_metric
from ..errors import InputError
from ..io import load
from .context import RunCache, path_key
from .grid import cell_centres, geojson, grid_for_bounds, write_geotiff_atomic

__all__ = ["Surface", "distance_surface", "travel_time_surface", "isochrones", "NODATA", "SURFACE_CELL_M"]

NODATA = -9999.0
SURFACE_CELL_M = 100.0


@dataclass(frozen=True)
class Surface:
    """A float32 raster (north-up, EPSG:4548) with its meaning.

    ``values`` holds ``NODATA`` outside the municipality; ``units`` is ``m`` or ``min``.
    """

    values: np.ndarray
    transform: Affine
    name: str
    units: str
    description: str
    crs: str = METRIC_CRS

    def to_geotiff(self, path: str | Path) -> Path:
        """Write atomically as a one-band GeoTIFF (deflate) with units and description tags.

        Parameters
        ----------
        path : str or pathlib.Path
            The ``.tif`` to write.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        return write_geotiff_atomic(
            path,
            self.values.astype("float32"),
            self.transform,
            self.crs,
            nodata=NODATA,
            tags={"units": self.units, "description": self.description},
            band_description=self.name,
        )

    def valid(self) -> np.ndarray:
        """Cells with a value (not :data:`NODATA`).

        Returns
        -------
        numpy.ndarray
            Boolean, of the surface's shape.
        """
        return self.values != NODATA


def _frame(
    path, cell: float, boundary=None, cache: RunCache | None = None
) -> tuple[Affine, tuple[int, int], np.ndarray, np.ndarray, np.ndarray]:
    """The grid over the boundary, the cells inside it and their centres (once per run and cell size)."""
    if boundary is not None or cache is None:
        return _make_frame(path, cell, boundary)
    return cache.get(("surface_frame", path_key(path), float(cell)), lambda: _make_frame(path, cell, None))


def _make_frame(path, cell: float, boundary=None):
    b = to_metric(load(role_id("municipality"), path) if boundary is None else boundary)
    transform, shape = grid_for_bounds(b.total_bounds, cell)
    inside = rasterio.features.rasterize(
        [(geojson(g), 1) for g in b.geometry.values], out_shape=shape, transform=transform, fill=0, dtype="uint8"
    ).astype(bool)
    x, y = cell_centres(transform, shape)
    return transform, shape, inside, x[inside], y[inside]


def distance_surface(
    stations: gpd.GeoDataFrame,
    *,
    path=None,
    cell: float = SURFACE_CELL_M,
    boundary: gpd.GeoDataFrame | None = None,
    name: str = "distance_to_station",
    cache: RunCache | None = None,
) -> Surface:
    """Straight-line distance (m) from every cell centre of the municipality to the nearest of ``stations``
    (``cache``: the run's memo, which shares the grid frame with the other surfaces).

    Parameters
    ----------
    stations : geopandas.GeoDataFrame
        Station points (any CRS).
    path : str or pathlib.Path, optional
        GeoPackage the municipal boundary is read from (default ``layers/tianjin.gpkg``).
    cell : float, optional
        Cell size, metres (metric CRS).
    boundary : geopandas.GeoDataFrame, optional
        The area covered; default the municipal boundary (role ``municipality``).
    name : str, default "distance_to_station"
        The surface's name (file name and tags).
    cache : RunCache, optional
        The run's memo: the grid frame is shared with the other surfaces.

    Returns
    -------
    Surface
        Metres to the nearest station, per cell (metric CRS).
    """
    transform, shape, inside, x, y = _frame(path, cell, boundary, cache)
    pts = shapely.get_coordinates(to_metric(stations).geometry.values)
    if not len(pts):
        raise InputError("distance_surface: no stations")
    d, _ = cKDTree(pts).query(np.column_stack([x, y]), workers=-1)
    out = np.full(shape, NODATA, dtype="float32")
    out[inside] = d
    return Surface(
        out,
        transform,
        name,
        "m",
        f"distance to the nearest of {len(pts)} stations, metres, straight line, {cell:g} m cells EPSG:4548",
    )


def travel_time_surface(
    graph,
    hub,
    *,
    path=None,
    cell: float = SURFACE_CELL_M,
    walk_kmh: float = 4.8,
    k: int = 8,
    max_walk_m: float | None = None,
    boundary: gpd.GeoDataFrame | None = None,
    cache: RunCache | None = None,
) -> Surface:
    """Minutes from every cell to ``hub``: straight-line walk to one of the ``k`` nearest stations, then rail.

    Parameters
    ----------
    graph : RailGraph
        A :class:`~tjspatial.analysis.rail_network.RailGraph`.
    hub : str, list of str or tuple of float
        Station name (or names) or a (lon, lat) point, degrees.
    path : str or pathlib.Path, optional
        GeoPackage the municipal boundary is read from (default ``layers/tianjin.gpkg``).
    cell : float, optional
        Cell size, metres (metric CRS).
    walk_kmh : float, default 4.8
        Walking speed, km/h (straight-line distance; no street network).
    k : int, default 8
        Stations considered per cell (the best of them is kept).
    max_walk_m : float, optional
        Cells farther than this (metres) from every station get NODATA (default: no limit).
    boundary : geopandas.GeoDataFrame, optional
        The area covered; default the municipal boundary.
    cache : RunCache, optional
        The run's memo (:mod:`tjspatial.analysis.context`): the grid frame and the ``k`` nearest stations of
        every cell are found once for all hubs reached from the same stations.

    Returns
    -------
    Surface
        Minutes to the hub, per cell (metric CRS).
    """
    transform, shape, inside, x, y = _frame(path, cell, boundary, cache)
    rail = graph.times_from(hub)
    ok = np.isfinite(rail)
    xy = shapely.get_coordinates(graph.nodes.geometry.values)[ok]
    rail = rail[ok]
    k = min(k, len(xy))

    def nearest():
        d, i = cKDTree(xy).query(np.column_stack([x, y]), k=k, workers=-1)
        d, i = d.reshape(len(x), k), i.reshape(len(x), k)
        # walk minutes to each of the k stations; (k, cells) so that each hub's minimum runs over rows
        return d, np.ascontiguousarray(i.T), np.ascontiguousarray((d / 1000 / walk_kmh * 60).T)

    if cache is None or boundary is not None:
        d, i, walk = nearest()
    else:
        key = ("nearest_stations", path_key(path), float(cell), k, walk_kmh, hashlib.sha1(xy.tobytes()).hexdigest())
        d, i, walk = cache.get(key, nearest)
    t = walk[0] + rail[i[0]]  # the best of the k stations: the same minimum as over axis 1 of (cells, k)
    for j in range(1, k):
        np.minimum(t, walk[j] + rail[i[j]], out=t)
    if max_walk_m is not None:
        t[d.min(axis=1) > max_walk_m] = NODATA
    out = np.full(shape, NODATA, dtype="float32")
    out[inside] = t
    label = hub if isinstance(hub, str) else "/".join(hub) if isinstance(hub, tuple) else str(hub)
    return Surface(
        out,
        transform,
        f"travel_time_{label}",
        "min",
        f"modelled minutes to {label}: straight walk at {walk_kmh:g} km/h to the best of the {k} nearest "
        f"stations, then rail ({graph.params.get('scenario', 'open')} network); {cell:g} m cells EPSG:4548",
    )


def isochrones(surface: Surface, thresholds=(15, 30, 45, 60)) -> gpd.GeoDataFrame:
    """Polygons of the cells reached within each threshold (EPSG:4548): ``minutes, area_km2, geometry``.

    Parameters
    ----------
    surface : Surface
        A travel-time surface (minutes).
    thresholds : sequence of float, default (15, 30, 45, 60)
        Minutes.

    Returns
    -------
    geopandas.GeoDataFrame
        ``minutes, area_km2, geometry``, one row per threshold, metric CRS.
    """
    rows = []
    valid = surface.valid()
    for th in thresholds:
        mask = valid & (surface.values <= th)
        polys = [
            shapely.geometry.shape(g)
            for g, v in rasterio.features.shapes(mask.astype("uint8"), mask=mask, transform=surface.transform)
        ]
        geom = shapely.union_all(polys) if polys else shapely.Polygon()
        rows.append({"minutes": float(th), "area_km2": shapely.area(geom) / 1e6, "geometry": geom})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=surface.crs)
