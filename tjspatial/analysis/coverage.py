"""Rail coverage: how many people and how much land lie within a walk of a station, per area.

``coverage(stations, population, areas, distance=800, method="buffer")`` returns a DataFrame, one row per
area, with ``pop_total, pop_covered, pop_share, area_km2, area_covered_km2, area_share, stations``. The
catchment of each area (the covered part of the area, polygons in the metric CRS, EPSG:4548 for Tianjin) is in
``result.attrs["catchments"]`` (a GeoDataFrame with the same ``area`` keys), and ``result.attrs`` also records
``method``, ``distance_m``, ``kind``, ``status``, ``population_source``, ``population_year``,
``population_accuracy`` and ``station_count``.

Methods
-------
``buffer``
    Circles of radius ``distance`` around every station, in the metric CRS (EPSG:4548 for Tianjin; 64-gon: 0.16 %
    less area than the circle), unioned and intersected with each area.
``network``
    The ITDP "People Near Rapid Transport" walk catchment on a street graph
    (:mod:`tjspatial.analysis.network_coverage`).

Population within a catchment is a zonal sum of the population (:mod:`tjspatial.analysis.population`): for a
grid, cells the catchment boundary crosses count with the share of their area covered. ``pop_total`` of an
area is summed the same way, so shares are consistent; with the bundled model an area's ``pop_total`` of districts,
zones, the dual city or the city is its census total (split cells are kept as per-district pieces).

Speed (#15)
-----------
For a grid population both sums are computed from the polygons' boundaries, not cell by cell
(:mod:`tjspatial.analysis.zonal`: the exact area-weighted sum, equal to the cell-by-cell one to ~1e-12
relative, at a cost proportional to the number of cells the boundaries cross). What depends only on the
surface and the areas (the grid's row prefix sums, each area's total, which split-cell pieces lie in which
area) is cached on the population object itself (:func:`tjspatial.analysis.zonal.surface_cache`; no module
state), so repeated calls over one surface (several distances, kinds, scenarios) only sum their catchments;
a first call computes them on a second thread while the circles are unioned. When the areas are the very
district polygons the bundled model cut its split cells with (matched by WKB), each piece's district is taken
from the model (:func:`tjspatial.analysis.zonal.pieces_in_districts`) instead of being found geometrically.
The circles are unioned by groups of overlapping ones (:func:`buffer_catchment`; large station sets that split
into two far-apart sets on two threads) and each area keeps the catchment parts inside it whole, intersecting
only those its boundary crosses (:func:`clip_catchment`). Measured by ``benchmarks/bench_buffer_coverage.py``
(README, Benchmarks).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..catalog import get_catalog, role_id
from ..crs import METRIC_CRS, to_metric
from ..errors import InputError, UnknownNameError
from ..io import load
from ..validate import check_coordinates

__all__ = [
    "coverage",
    "coverage_delta",
    "plan_stations",
    "PLAN_STATION_SPACING_M",
    "select_stations",
    "resolve_areas",
    "buffer_catchment",
    "clip_catchment",
    "DEFAULT_DISTANCES",
    "STATION_KINDS",
]

DEFAULT_DISTANCES = (500, 800, 1000)
"""The usual catchment distances, metres."""

STATION_KINDS = ("all", "metro", "rail", "tram")


def _as_list(v) -> list | None:
    if v is None:
        return None
    return [v] if isinstance(v, str) else list(v)


def select_stations(
    stations=None, *, kind: str | Iterable[str] = "all", status=None, path: str | Path | None = None, crs=None
) -> gpd.GeoDataFrame:
    """Stations as metric points (``crs``, default the zone that follows the data: EPSG:4548 in Tianjin),
    filtered by ``kind`` (metro / rail / tram / all) and ``status``.

    Parameters
    ----------
    stations : geopandas.GeoDataFrame or str, optional
        Points (any CRS), a layer id, or ``None`` for the catalog's station layer (role ``station_points``).
    kind : str or iterable of str, default "all"
        ``"all"`` or one or more of ``metro``, ``rail``, ``tram`` (matched against the ``kind`` column).
    status : str or iterable of str, optional
        ``None`` for every status, else one or more values of the ``status`` column (``open``, ``planned``,
        ``under_construction`` ...).
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (default ``layers/tianjin.gpkg``).
    crs : optional
        Metric CRS of the result; default :func:`tjspatial.crs.metric_crs_for` of the stations.

    Returns
    -------
    geopandas.GeoDataFrame
        The selected points in metres.
    """
    if stations is None:
        stations = role_id("station_points")
    if isinstance(stations, str):
        lid = stations
        stations = load(stations, path)
        if lid == role_id("station_points"):  # #13: every coverage result says how old its station points are
            from .stations import station_snapshot

            stations.attrs = {**stations.attrs, "station_snapshot": station_snapshot(path)}
    if not isinstance(stations, gpd.GeoDataFrame):
        raise TypeError(f"stations must be a GeoDataFrame or a layer id, not {type(stations).__name__}")
    label = stations.attrs.get("layer", "stations")
    check_coordinates(stations, label)  # NaN, or metres labelled EPSG:4326: refused, not zero coverage
    gdf = stations[~stations.geometry.is_empty & stations.geometry.notna()]
    types = set(gdf.geom_type.unique())
    if types - {"Point"}:
        raise InputError(f"{label}: stations must be points, found {sorted(types)}")
    kinds = _as_list(kind)
    if kinds and kinds != ["all"]:
        unknown = set(kinds) - set(STATION_KINDS)
        if unknown:
            raise InputError(f"unknown station kind(s) {sorted(unknown)}; use {STATION_KINDS}")
        if "kind" not in gdf.columns:
            raise UnknownNameError(f"{label}: no 'kind' column to filter kind={kinds} on")
        gdf = gdf[gdf["kind"].isin(kinds)]
    statuses = _as_list(status)
    if statuses:
        if "status" not in gdf.columns:
            raise UnknownNameError(f"{label}: no 'status' column to filter status={statuses} on")
        gdf = gdf[gdf["status"].isin(statuses)]
    out = to_metric(gdf, crs)
    out.attrs = {**stations.attrs}
    return out


def resolve_areas(areas=None, *, path: str | Path | None = None, label: str | None = None) -> gpd.GeoDataFrame:
    """Areas as metric polygons (the zone that follows the data, :func:`tjspatial.crs.metric_crs_for`: EPSG:4548
    in Tianjin) with an ``area`` key column (and ``name_zh``/``name_en`` where known).

    Parameters
    ----------
    areas : str or geopandas.GeoDataFrame, optional
        A polygon layer id of the catalog (districts, zones, dual city, boundary, ...) or polygons; default
        the districts (the layer of role ``district_areas``).
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (default ``layers/tianjin.gpkg``).
    label : str, optional
        The column naming each area (default: ``name_zh``, else the index).

    Returns
    -------
    geopandas.GeoDataFrame
        Polygons in metres with ``area``.
    """
    if areas is None:
        areas = role_id("district_areas")
    if isinstance(areas, str):
        lid = areas
        cat = get_catalog()
        if lid in cat and cat[lid].geometry_type != "Polygon":
            raise InputError(f"layer {lid!r} holds {cat[lid].geometry_type}s, not polygons")
        areas = load(lid, path)
        label = label or cat.coverage_areas().get(lid, "name_zh")  # the catalog's coverage_label
    if not isinstance(areas, gpd.GeoDataFrame):
        raise TypeError(f"areas must be a GeoDataFrame or a layer id, not {type(areas).__name__}")
    name = areas.attrs.get("layer", "areas")
    types = set(areas.geom_type.unique())
    if types - {"Polygon", "MultiPolygon"}:
        raise InputError(f"{name}: areas must be polygons, found {sorted(types)}")
    m = to_metric(areas)
    if label is None:
        label = "name_zh" if "name_zh" in m.columns and (m["name_zh"] != "").all() else None
    keys = m[label].astype(str).to_numpy() if label else m.index.astype(str).to_numpy()
    cols = {"area": keys, **{c: m[c].to_numpy() for c in ("name_zh", "name_en") if c in m.columns}}
    out = gpd.GeoDataFrame(cols, geometry=m.geometry.values, crs=m.crs)  # one construction (~0.5 ms less a call)
    out.attrs = {"layer": name}
    return out


def buffer_catchment(points: np.ndarray, distance: float, quad_segs: int = 16) -> shapely.Geometry:
    """Union of circles of ``distance`` metres around ``points`` (shapely points in a metric CRS, e.g. EPSG:4548).

    Each circle is the ``4 * quad_segs``-gon GEOS draws. The circles are unioned group by group of overlapping
    ones (``shapely.disjoint_subset_union_all``: the same polygon as ``union_all``, 1.5-15x faster on station
    sets, measured by ``benchmarks/bench_buffer_coverage.py``); the result is a Polygon or MultiPolygon whose
    parts are the separate catchments. With 64 to 20,000 stations on a machine with two cores or more, stations
    that split into two sets far enough apart (no circle of one touching a circle of the other) are unioned on
    two threads: the same parts (bit for bit), possibly in another order.

    Parameters
    ----------
    points : array of shapely Points
        Stations in a metric CRS (metres).
    distance : float
        Radius, metres.
    quad_segs : int, default 16
        Segments per quarter circle.

    Returns
    -------
    shapely.Geometry
        The union (an empty Polygon for no points).
    """
    return _union_circles(np.asarray(points, dtype=object), distance, quad_segs)


def _union_circles(pts: np.ndarray, distance: float, quad_segs: int = 16, split: bool = True) -> shapely.Geometry:
    """:func:`buffer_catchment`; ``split=False``: on this thread only (when another thread is busy already)."""
    if not len(pts):
        return shapely.Polygon()
    parallel = split and _PARALLEL_UNION_MIN <= len(pts) <= _PARALLEL_UNION_MAX and (os.cpu_count() or 1) > 1
    groups = _separate_groups(pts, distance) if parallel else None
    if groups is None:
        return shapely.disjoint_subset_union_all(shapely.buffer(pts, distance, quad_segs=quad_segs))

    def union(sel):
        return shapely.get_parts(
            shapely.disjoint_subset_union_all(shapely.buffer(pts[sel], distance, quad_segs=quad_segs))
        )

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:  # GEOS releases the GIL: the two groups on two cores
        other = pool.submit(union, groups[1])
        parts = np.concatenate([union(groups[0]), other.result()])
    return parts[0] if len(parts) == 1 else shapely.multipolygons(parts)


_PARALLEL_UNION_MIN, _PARALLEL_UNION_MAX = 64, 20_000
"""Station sets of this many points are unioned on two threads when they split (:func:`buffer_catchment`; above
the maximum, finding the groups costs 0.1-0.7 s and dense sets do not split)."""

_SPLIT_WHILE_PREFETCH = 1000
"""...and, while a first call's worker thread fills the surface's cache (:class:`_Prefetch`), this many."""


def _separate_groups(pts: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Two sets of station indices, of similar size, such that no circle of one can touch a circle of the other
    (their centres are more than ``2 distance`` apart), or ``None`` when the stations do not split so.

    The groups are unions of the connected components of the "within 2 distance" graph, each a union of the
    groups of circles GEOS's disjoint-subset union forms (circles that intersect); a group of circles is unioned
    the same way whatever else is in the call (GEOS orders them by an STR tree of their envelopes), so the
    parts equal those of one call over all circles; only their order differs."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    xy = shapely.get_coordinates(pts)
    if len(xy) != len(pts):
        return None  # an empty point
    pairs = cKDTree(xy).query_pairs(2.0 * distance * (1 + 1e-9) + 1e-6, output_type="ndarray")
    n = len(xy)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    ncomp, label = connected_components(graph, directed=False)
    if ncomp < 2:
        return None
    size = np.bincount(label, minlength=ncomp)
    side = np.zeros(ncomp, dtype=bool)
    load = [0, 0]
    for c in np.argsort(-size, kind="stable"):  # largest first, each to the lighter side
        k = int(load[1] < load[0])
        side[c] = bool(k)
        load[k] += int(size[c])
    if min(load) < max(load) // 8:  # one group dominates: not worth a thread
        return None
    member = side[label]
    return np.flatnonzero(~member), np.flatnonzero(member)


def clip_catchment(geoms: np.ndarray, catch) -> np.ndarray:
    """``geoms[i] ∩ catch`` for every area polygon, as Polygons / MultiPolygons (an empty Polygon where none).

    Parts of ``catch`` (its separate polygons) lying inside an area are taken whole (a prepared
    ``contains_properly`` test); only the parts an area boundary crosses are intersected with it. Same point
    sets as ``shapely.intersection(geoms, catch)`` (polygonal part), at a fraction of the overlay work.

    Parameters
    ----------
    geoms : array of shapely geometries
        Area polygons, in the catchment's metric CRS.
    catch : shapely.Geometry
        A valid polygonal catchment (e.g. :func:`buffer_catchment`); other geometries are intersected as is.

    Returns
    -------
    numpy.ndarray
        object array of Polygons / MultiPolygons, one per area.
    """
    geoms = np.asarray(geoms, dtype=object)
    if shapely.get_type_id(catch) not in (3, 6):  # valid polygons assumed (a union): parts do not overlap
        return np.asarray([_poly(g) for g in shapely.intersection(geoms, catch)], dtype=object)
    parts = shapely.get_parts(catch)
    parts = parts[~shapely.is_empty(parts)]
    out = np.asarray([shapely.Polygon() for _ in geoms], dtype=object)
    if not len(parts) or not len(geoms):
        return out
    ia, ip = shapely.STRtree(parts).query(geoms)  # envelopes
    keep = ~(shapely.is_empty(geoms[ia]) | shapely.is_missing(geoms[ia]))
    ia, ip = ia[keep], ip[keep]
    shapely.prepare(geoms)
    whole = shapely.contains_properly(geoms[ia], parts[ip])
    rest = np.flatnonzero(~whole)
    rest = rest[shapely.intersects(geoms[ia[rest]], parts[ip[rest]])]
    clipped = shapely.intersection(geoms[ia[rest]], parts[ip[rest]])
    cparts, cidx = shapely.get_parts(clipped, return_index=True)
    ok = (shapely.get_type_id(cparts) == 3) & ~shapely.is_empty(cparts)
    polys = np.concatenate([parts[ip[whole]], cparts[ok]])
    owner = np.concatenate([ia[whole], ia[rest][cidx[ok]]])
    order = np.argsort(owner, kind="stable")
    polys, owner = polys[order], owner[order]
    bounds = np.searchsorted(owner, np.arange(len(geoms) + 1))
    for i in np.flatnonzero(np.diff(bounds)):
        lo, hi = bounds[i], bounds[i + 1]
        out[i] = polys[lo] if hi - lo == 1 else shapely.multipolygons(polys[lo:hi])
    return out


def _population(population, path):
    if population is None:
        from .population import population as make

        return make(path=path)
    if isinstance(population, (str, Path, gpd.GeoDataFrame)):
        from .population import population as make

        return make(population, path=path)
    if not hasattr(population, "zonal_sum"):
        raise TypeError("population must be what tj.population(...) returns (an object with zonal_sum)")
    return population


def coverage(
    stations=None,
    population=None,
    areas=None,
    distance: float = 800,
    method: str = "buffer",
    *,
    graph=None,
    kind: str | Iterable[str] = "all",
    status=None,
    path: str | Path | None = None,
    walk_buffer: float = 100.0,
    max_hole_m2: float | None = None,
    cache=None,
) -> pd.DataFrame:
    """Population and land within ``distance`` of a station, per area.

    Parameters
    ----------
    stations : geopandas.GeoDataFrame or str, optional
        Station points, or a layer id; default the catalog's station layer (role ``station_points``).
    population : optional
        What ``tj.population(...)`` returns (``None`` = the bundled modelled grid), or a source it accepts
        (GeoTIFF path, polygon layer id / GeoDataFrame).
    areas : str or geopandas.GeoDataFrame, optional
        A polygon layer id (districts, zones, dual city, boundary) or polygons; default the districts (the
        layer of role ``district_areas``).
    distance : float, default 800
        Catchment distance, metres (straight-line radius for ``buffer``, walk for ``network``).
    method : {"buffer", "network"}, default "buffer"
        Straight-line buffers or walks along the street graph.
    graph : WalkNetwork, str, pathlib.Path or networkx.MultiDiGraph, optional
        Street graph for ``network``: a :class:`~tjspatial.analysis.network_coverage.WalkNetwork`, the path of
        one saved with ``WalkNetwork.save`` (GeoPackage edge table; or a ``.graphml`` file, imported), or a
        networkx MultiDiGraph with osmnx conventions.
    kind : str or iterable of str, default "all"
        Station kinds kept (``metro``, ``rail``, ``tram``; see :func:`select_stations`).
    status : str or iterable of str, optional
        Station statuses kept (see :func:`select_stations`).
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (default ``layers/tianjin.gpkg``).
    walk_buffer : float, default 100.0
        ``network`` only: buffer around the walked streets, metres.
    max_hole_m2 : float, optional
        ``network`` only: holes of the catchment smaller than this are filled, square metres.
    cache : RunCache, optional
        A run's memo (:class:`tjspatial.analysis.context.RunCache`): the areas and the selected stations are
        then resolved once per run, not on every call (``tj.analyse``).

    Returns
    -------
    pandas.DataFrame
        One row per area: ``area, name_zh, name_en, pop_total, pop_covered, pop_share, area_km2,
        area_covered_km2, area_share, stations``; ``attrs["catchments"]`` holds the covered part of each area
        (GeoDataFrame, EPSG:4548), ``attrs`` the method, distance, filters and population source and year.
    """
    if method not in ("buffer", "network"):
        raise InputError(f"method must be 'buffer' or 'network', not {method!r}")
    if not distance > 0:
        raise InputError(f"distance must be positive metres, got {distance!r}")
    ar = _resolved_areas(areas, path, cache)
    st = _selected_stations(stations, kind, status, path, ar.crs, cache)  # one metric CRS for both
    pop = _population(population, path)
    pts = np.asarray(st.geometry.values, dtype=object)
    extra = {}
    if method == "buffer":
        # the surface's per-area totals (first call on a surface) on a second core while the circles are unioned
        with _Prefetch(pop, ar) as pre:
            # while the worker computes the surface's totals, split only large unions (~140 ms at 4,000 stations)
            catch = _union_circles(pts, distance, split=pre.future is None or len(pts) >= _SPLIT_WHILE_PREFETCH)
            extra = {"_parts": (pts, distance)}  # the circles, for the few split cells the catchment boundary crosses
            return _summarise(
                ar,
                catch,
                pop,
                pts,
                st,
                method=method,
                distance=distance,
                kind=kind,
                status=status,
                extra=extra,
                ready=pre.wait,
            )
    else:
        from .network_coverage import DEFAULT_MAX_HOLE_M2, walk_catchment

        if graph is None:
            raise InputError(
                "method='network' needs a street graph: pass graph= (e.g. "
                "tjspatial.analysis.network_coverage.load_walk_graph(path) or an osmnx walk graph)"
            )
        holes = DEFAULT_MAX_HOLE_M2 if max_hole_m2 is None else max_hole_m2
        net = _walk_network(graph, ar.crs)
        catch, extra = walk_catchment(pts, net, distance, walk_buffer=walk_buffer, max_hole_m2=holes)
    return _summarise(ar, catch, pop, pts, st, method=method, distance=distance, kind=kind, status=status, extra=extra)


def _resolved_areas(areas, path, cache):
    """:func:`resolve_areas`, once per run (``cache``) for a layer id."""
    if cache is None or not isinstance(areas, str):
        return resolve_areas(areas, path=path)
    from .context import path_key

    return cache.get(("coverage_areas", path_key(path), areas), lambda: resolve_areas(areas, path=path))


def _selected_stations(stations, kind, status, path, crs, cache):
    """:func:`select_stations`, once per run (``cache``) for the same stations (layer id, or the same frame
    object), filters and CRS."""

    def select():
        return select_stations(stations, kind=kind, status=status, path=path, crs=crs)

    if cache is None:
        return select()
    from .context import path_key

    filters = (_as_list(kind) and tuple(_as_list(kind)), _as_list(status) and tuple(_as_list(status)), str(crs))
    if stations is None or isinstance(stations, str):
        return cache.get(("coverage_stations", path_key(path), stations, filters), select)
    given, selected = cache.get(("coverage_stations", id(stations), filters), lambda: (stations, select()))
    return selected if given is stations else select()  # (an id reused by another frame: select it)


def _walk_network(graph, crs):
    """The street graph as a WalkNetwork in ``crs`` (the areas' metric CRS)."""
    from .network_coverage import WalkNetwork

    if isinstance(graph, (str, Path)):
        graph = WalkNetwork.load(graph)
    if not isinstance(graph, WalkNetwork):
        return WalkNetwork.from_graph(graph, crs=crs)
    if not CRS.from_user_input(graph.crs).equals(CRS.from_user_input(crs)):
        raise InputError(
            f"the walk network is in {graph.crs} but the areas are measured in {crs}; build it with "
            f"WalkNetwork.from_graph(graph, crs={str(crs)!r})"
        )
    return graph


class _Prefetch:
    """Compute the surface's memo entry for these areas (:func:`_area_entry`) on a worker thread, when the
    surface is a grid summed here and the machine has a second core; :meth:`wait` joins it (re-raising its
    error). GEOS and numpy release the GIL, so the union of the circles proceeds meanwhile."""

    def __init__(self, pop, ar: gpd.GeoDataFrame):
        self.pop, self.ar, self.future, self.pool = pop, ar, None, None

    def __enter__(self) -> "_Prefetch":
        route = _grid_route(self.pop, self.ar.crs)
        if route is not None and (os.cpu_count() or 1) > 1:
            from concurrent.futures import ThreadPoolExecutor

            from .zonal import peek_cache

            pieces, same = route
            geoms = np.asarray(self.ar.geometry.values, dtype=object)
            cache = peek_cache(self.pop)
            if same and cache is not None and _areas_key(geoms) in cache.memo:
                return self  # cached (checked against the values again when used)
            self.pool = ThreadPoolExecutor(max_workers=1)
            self.future = self.pool.submit(self._fill, _to_grid_crs(self.pop, geoms, self.ar.crs, same), pieces)
        return self

    def _fill(self, geoms: np.ndarray, pieces):
        from .zonal import surface_cache

        cache = surface_cache(self.pop)
        _area_entry(self.pop, geoms, pieces, cache)
        return cache

    def wait(self):
        """The surface's cache the worker filled (checked against the values a moment ago), or ``None``."""
        return None if self.future is None else self.future.result()

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _summarise(
    ar: gpd.GeoDataFrame, catch, pop, pts, st, *, method, distance, kind, status, extra: dict, ready=None
) -> pd.DataFrame:
    geoms = np.asarray(ar.geometry.values, dtype=object)
    covered = clip_catchment(geoms, catch)
    filled = ready() if ready is not None else None
    pop_total, pop_cov = _zonal_sums(pop, geoms, covered, extra.pop("_parts", None), crs=ar.crs, cache=filled)
    area = shapely.area(geoms) / 1e6
    area_cov = shapely.area(covered) / 1e6
    if len(pts):
        ia, _ = shapely.STRtree(pts).query(geoms, predicate="intersects")
        n_st = np.bincount(ia, minlength=len(geoms))
    else:
        n_st = np.zeros(len(geoms), dtype=int)
    cols = {"area": ar["area"].to_numpy()}
    for col in ("name_zh", "name_en"):
        if col in ar.columns:
            cols[col] = ar[col].to_numpy()
    n = len(geoms)
    cols["pop_total"] = pop_total
    cols["pop_covered"] = pop_cov
    cols["pop_share"] = np.divide(pop_cov, pop_total, out=np.full(n, np.nan), where=pop_total > 0)
    cols["area_km2"] = area
    cols["area_covered_km2"] = area_cov
    cols["area_share"] = np.divide(area_cov, area, out=np.full(n, np.nan), where=area > 0)
    cols["stations"] = n_st.astype(int)
    df = pd.DataFrame(cols)  # one construction (column by column costs ~3 ms a call)
    catchments = gpd.GeoDataFrame({"area": df["area"].to_numpy()}, geometry=covered, crs=ar.crs)
    df.attrs = {
        "method": method,
        "distance_m": float(distance),
        "kind": kind if isinstance(kind, str) else ",".join(kind),
        "status": status if status is None or isinstance(status, str) else ",".join(status),
        "station_count": int(len(pts)),
        "stations_layer": st.attrs.get("layer", "stations"),
        **{k: st.attrs[k] for k in ("station_set", "station_rule", "station_snapshot") if k in st.attrs},
        "areas_layer": ar.attrs.get("layer", "areas"),
        **pop.attrs,
        **extra,
        "catchments": catchments,
    }
    return df


def _grid_route(pop, crs):
    """``(pieces, same_crs)`` if ``pop`` is a north-up grid summed from boundaries here, else ``None``."""
    values, transform = getattr(pop, "values", None), getattr(pop, "transform", None)
    pieces = getattr(pop, "pieces", None)
    gcrs = getattr(pop, "crs", None) or crs
    same = CRS.from_user_input(gcrs).equals(CRS.from_user_input(crs))
    if values is None or transform is None or transform.b != 0 or transform.d != 0 or (pieces is not None and not same):
        return None
    return pieces, same


def _to_grid_crs(pop, geoms: np.ndarray, crs, same: bool) -> np.ndarray:
    if same:
        return geoms
    return np.asarray(gpd.GeoSeries(geoms, crs=crs).to_crs(pop.crs).values, dtype=object)


def _areas_key(geoms: np.ndarray, wkb: np.ndarray | None = None) -> tuple:
    wkb = shapely.to_wkb(geoms) if wkb is None else wkb
    return ("area_totals", hashlib.sha1(b"".join(wkb)).hexdigest())


def _own_districts(pieces, wkb: np.ndarray) -> np.ndarray | None:
    """Per district the pieces were cut from (``pieces.district_geoms``), the index of the area that is that very
    polygon (same WKB), or -1; ``None`` unless every area is one of them, each once."""
    dgeoms = getattr(pieces, "district_geoms", None)
    if dgeoms is None or not len(wkb):
        return None
    index = {w: i for i, w in enumerate(shapely.to_wkb(np.asarray(dgeoms, dtype=object)))}
    area_of = np.full(len(index), -1, dtype=np.int64)
    if len(index) != len(dgeoms):
        return None  # two districts with the same polygon
    for i, w in enumerate(wkb):
        j = index.get(w)
        if j is None or area_of[j] >= 0:
            return None
        area_of[j] = i
    return area_of


def _area_entry(pop, geoms: np.ndarray, pieces, cache=None) -> list:
    """The per-surface memo entry of a set of areas (grid CRS): ``[totals, pairs, n_outside, warned]``, computed
    once per surface and set of areas (``cache``: the surface's, if already looked up)."""
    from .zonal import piece_moments, pieces_in_areas, pieces_in_districts, surface_cache

    if cache is None:
        cache = surface_cache(pop)
    integ, memo = cache.integrator, cache.memo
    wkb = shapely.to_wkb(geoms)
    key = _areas_key(geoms, wkb)
    hit = memo.get(key)
    if hit is None:
        abp = integ.boundary_pieces(geoms)
        totals = integ.sum(geoms, bp=abp)
        pairs = None
        if pieces is not None:
            area_of = _own_districts(pieces, wkb)
            if area_of is not None:  # the areas are the districts the pieces were cut from (the default)
                pairs = pieces_in_districts(integ, pieces, area_of, geoms, bp=abp)
            else:
                if ("piece_moments",) not in memo:  # the same for every set of areas
                    memo[("piece_moments",)] = piece_moments(integ, pieces)
                pairs = pieces_in_areas(integ, pieces, geoms, bp=abp, pmom=memo[("piece_moments",)])
            totals = totals + np.bincount(
                pairs[0], weights=np.asarray(pieces.persons, float)[pairs[1]] * pairs[2], minlength=len(geoms)
            )
        hit = memo[key] = [totals, pairs, _outside(geoms, integ), False]
    return hit


def _zonal_sums(
    pop, geoms: np.ndarray, covered: np.ndarray, catch_parts=None, *, crs=METRIC_CRS, cache=None
) -> tuple[np.ndarray, np.ndarray]:
    """Population inside each area and inside its covered part ``covered = geoms ∩ catchment`` (EPSG:4548);
    ``catch_parts``, if given, are polygons whose union is the catchment (the station circles).

    For a grid population (``values`` + ``transform``) both are exact area-weighted zonal sums computed from
    the polygons' boundaries (:mod:`tjspatial.analysis.zonal`); the areas' totals (and which split-cell pieces
    of the bundled model lie in which area) are memoised on the surface per set of areas, so that repeated
    calls over the same surface only sum their catchments. Other populations (polygons with counts, grids in
    another CRS with pieces) answer through their own ``zonal_sum``. ``cache``: the surface's cache, if it was
    just looked up in this call (:class:`_Prefetch`).
    """
    route = _grid_route(pop, crs)
    if route is None:
        return pop.zonal_sum(geoms, crs=crs), pop.zonal_sum(covered, crs=crs)
    from .zonal import pieces_covered, surface_cache

    pieces, same = route
    geoms = _to_grid_crs(pop, geoms, crs, same)
    covered = _to_grid_crs(pop, covered, crs, same)
    cache = surface_cache(pop) if cache is None else cache
    entry = _area_entry(pop, geoms, pieces, cache)
    totals, pairs, n_out, warned = entry
    if n_out and not warned:  # said once per surface and set of areas
        _warn_outside(pop, n_out)
        entry[3] = True
    integ = cache.integrator
    bp = integ.boundary_pieces(covered)
    cov = integ.sum(covered, bp=bp)
    if pairs is not None:
        cov = cov + pieces_covered(integ, pieces, pairs, covered, bp, catch_parts if same else None)
    return totals.copy(), cov


def _outside(geoms: np.ndarray, integ) -> int:
    """How many areas reach more than a cell beyond the grid."""
    t, (rows, cols) = integ.transform, integ.shape
    xs, ys = sorted((t.c, t.c + cols * t.a)), sorted((t.f, t.f + rows * t.e))
    b = shapely.bounds(geoms)
    ok = ~np.isnan(b).any(axis=1)
    tol = max(abs(t.a), abs(t.e))
    out = ok & ((b[:, 0] < xs[0] - tol) | (b[:, 2] > xs[1] + tol) | (b[:, 1] < ys[0] - tol) | (b[:, 3] > ys[1] + tol))
    return int(out.sum())


def _warn_outside(pop, n_out: int) -> None:
    """Warn when areas reach more than a cell beyond the population grid (a raster read in a window, or one that
    does not cover the study area): people there are not counted."""
    import warnings

    warnings.warn(
        f"coverage: {n_out} area(s) reach beyond the population grid "
        f"({getattr(pop, 'description', '') or getattr(pop, 'source', '')}); people outside it are "
        f"not counted",
        stacklevel=4,
    )


def _poly(g):
    from .grid import polygonal

    return polygonal(g)


def coverage_delta(existing: pd.DataFrame, scenario: pd.DataFrame) -> pd.DataFrame:
    """Per-area change from one coverage result to another (e.g. open network → 2025 plan network).

    Parameters
    ----------
    existing : pandas.DataFrame
        A result of :func:`coverage` (e.g. the open network).
    scenario : pandas.DataFrame
        A result of :func:`coverage` over the same areas, distance and population (e.g. the 2025 plan).

    Returns
    -------
    pandas.DataFrame
        ``area`` (and names), ``pop_covered_existing``, ``pop_covered_scenario``, ``pop_covered_delta``
        (persons), ``pop_share_existing``, ``pop_share_scenario``, ``pop_share_delta`` (percentage points as a
        fraction), the same three for ``area_covered_km2`` (km²), and ``stations_existing/scenario/delta``.
    """
    for key in ("distance_m", "method", "population_source"):
        a, b = existing.attrs.get(key), scenario.attrs.get(key)
        if a != b:
            raise InputError(f"coverage_delta: the two results differ in {key} ({a!r} vs {b!r})")
    if list(existing["area"]) != list(scenario["area"]):
        raise InputError("coverage_delta: the two results cover different areas")
    out = existing[[c for c in ("area", "name_zh", "name_en") if c in existing.columns]].copy()
    for col in ("pop_covered", "pop_share", "area_covered_km2", "stations"):
        out[f"{col}_existing"] = existing[col].to_numpy()
        out[f"{col}_scenario"] = scenario[col].to_numpy()
        out[f"{col}_delta"] = scenario[col].to_numpy() - existing[col].to_numpy()
    out["pop_total"] = existing["pop_total"].to_numpy()
    out.attrs = {k: v for k, v in existing.attrs.items() if k != "catchments"}
    out.attrs["scenario_station_count"] = scenario.attrs.get("station_count")
    return out


PLAN_STATION_SPACING_M = {"metro": 1500.0}
"""Spacing of the schematic stations placed along planned lines, by mode (metres); other modes: waypoints only."""


def plan_stations(
    path: str | Path | None = None, *, spacing_m: dict | None = None, include_open: bool = True
) -> gpd.GeoDataFrame:
    """Stations of the 2025 plan network: the open ``rail_stations`` plus schematic stations on the lines of the
    ``planned_rail`` layer that are not open yet (EPSG:4326).

    The planned lines are schematic chords whose stations are not known: a station is placed at every waypoint
    and, for modes in ``spacing_m`` (default: metro every 1.5 km), evenly along each chord. Those points carry
    ``accuracy = schematic``, ``status`` of their line and ``kind`` metro (metro lines) or rail.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (default ``layers/tianjin.gpkg``).
    spacing_m : dict, optional
        Mode → station spacing along a planned chord, metres (default metro 1500).
    include_open : bool, default True
        Include the open stations.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 with ``kind``, ``status``, ``accuracy``.
    """
    cat = get_catalog()
    plan_id = cat.layer_for("planned_lines").id  # UnknownNameError (a KeyError) when the catalog has none
    spacing = {**PLAN_STATION_SPACING_M, **(spacing_m or {})}
    plan = to_metric(load(plan_id, path))
    plan = plan[plan["status"] != "open"]
    pts, rows = [], []
    for geom, mode, status, name, line_id in zip(
        plan.geometry.values, plan["mode"], plan["status"], plan["name_zh"], plan["line_id"]
    ):
        coords = shapely.get_coordinates(geom)
        step = spacing.get(mode)
        if step:
            length = shapely.length(geom)
            n = max(int(np.ceil(length / step)), 1)
            extra = shapely.get_coordinates(shapely.line_interpolate_point(geom, np.linspace(0, length, n + 1)))
            coords = np.unique(np.round(np.vstack([coords, extra]), 3), axis=0)
        pts.append(coords)
        rows += [
            {
                "name_zh": f"{name}（规划站点≈）",
                "name_en": "",
                "line_id": line_id,
                "status": status,
                "kind": "metro" if mode == "metro" else "rail",
                "accuracy": "schematic",
                "source": "planned_rail (schematic station positions)",
            }
        ] * len(coords)
    xy = np.vstack(pts) if pts else np.empty((0, 2))
    new = gpd.GeoDataFrame(rows, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=plan.crs).to_crs("EPSG:4326")
    if not include_open:
        return new
    base = load(cat.layer_for("station_points").id, path)
    out = pd.concat([base, new], ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    out.attrs = {"layer": "rail_stations + planned_rail (2025 plan scenario)"}
    return out
