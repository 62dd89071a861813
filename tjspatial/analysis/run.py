"""``tj.analyse()``: run the standard analyses on the built layers and write their tables and rasters.

Outputs (in ``out_dir``, default ``out/analysis``; each written to a temporary file and renamed when complete):

========================== =========================================================================
``coverage.csv``            buffer coverage, long form: areas (districts, zones, dual_city, boundary) x
                            station set (all, passenger, metro: ``station_set``, ``station_rule``,
                            ``station_snapshot``) x distance (500, 800, 1000 m); at 800 m also
                            ``pop_share_min`` / ``pop_share_max`` (and ``share_<surface>``) over the
                            population model and its variants; plus ``network`` rows per district when a
                            street graph is given
``coverage_delta.csv``      open network vs the 2025 plan network (schematic planned stations), 800 m,
                            all kinds, per district
``coverage_catchments.gpkg`` catchment polygons (800 m, all / metro) per district, EPSG:4326
``indicators.csv``          :func:`tjspatial.analysis.indicators.indicators`
``rail_times.csv``          modelled minutes from each hub to every station (open and plan networks), with method and params
``dual_city.csv``           津城 ↔ 滨城 modelled time, open and plan networks, and the open time under changed assumptions (``case``)
``wetland_rings.csv``       1 / 3 / 5 km ring areas around each wetland and the barrier zones
``rail_in_zones.csv``       km of each rail line inside each ecological zone
``near_wetlands.csv``       stations and port districts within 5 km of a wetland
``clusters_in_barrier.csv`` urban clusters inside / within 1 km of the green barrier
``isochrones.csv`` / ``.gpkg`` area (and polygons, EPSG:4326) reached within 15 / 30 / 45 / 60 min of each hub
``population_grid.tif``     the population used (250 m modelled grid unless a raster was given)
``distance_to_station.tif`` metres to the nearest rail/metro station (100 m cells, EPSG:4548)
``travel_time_<hub>.tif``   minutes to each hub, walk + rail (100 m cells, EPSG:4548)
========================== =========================================================================

CSV files are UTF-8 with a header; every table carries the method, distance and population source it was
computed with as columns. Analyses that need a layer the catalog or GeoPackage lacks are skipped with a note in
the returned ``skipped`` entry.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import pandas as pd
from rasterio.errors import NotGeoreferencedWarning

from ..atomic import atomic_path
from ..catalog import get_catalog
from ..crs import METRIC_CRS
from ..gpkg import GeoPackage, write_gpkg_atomic
from ..io import load, open_gpkg, present_layers
from ..paths import project_root
from .context import RunCache
from .coverage import DEFAULT_DISTANCES, coverage, coverage_delta, plan_stations
from .indicators import indicators
from .population import PopulationGrid, population as make_population
from .rail_network import (
    DUAL_CITY_HUBS,
    RAIL_METHOD,
    SENSITIVITY_CASES,
    dual_city_gap,
    dual_city_sensitivity,
    dual_city_time,
    hub_gap,
    rail_graph,
)
from .stations import STATION_SETS, station_set, station_snapshot
from .surfaces import distance_surface, isochrones, travel_time_surface
from .uncertainty import add_range

__all__ = ["analyse", "HUBS", "write_csv_atomic", "default_out_dir"]

HUBS = {"tianjin": "天津站", "tianjinxi": "西站", "binhai": "滨海"}
"""Hubs of the travel-time surfaces: file key → station name (天津站, 天津西站 (metro 西站), 滨海站)."""


def default_out_dir() -> Path:
    """Where ``tj.analyse`` writes by default: ``out/analysis`` in the project folder.

    Returns
    -------
    pathlib.Path
        ``<project>/out/analysis`` (may not exist yet).
    """
    return project_root() / "out" / "analysis"


def write_csv_atomic(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as CSV in UTF-8 with a byte-order mark (Excel on Chinese Windows then reads it as UTF-8;
    :func:`pandas.read_csv` skips the mark) to a temporary file beside ``path``, then rename it.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    path : pathlib.Path
        The ``.csv`` to write.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8-sig")
    return path


STATION_SETS_ANALYSED = ("all", "passenger", "metro")
"""Station sets of coverage.csv (:data:`tjspatial.analysis.stations.STATION_SETS`)."""


def _surfaces(pop, path, cache: RunCache | None = None) -> dict:
    """The surfaces coverage ranges are taken over: the model and its variants, fetched grids in the cache, and a
    user's population."""
    from .uncertainty import default_surfaces

    return default_surfaces(path, pop, cache=cache)


def _meta(df: pd.DataFrame) -> dict:
    a = df.attrs
    return {
        "method": a.get("method"),
        "distance_m": a.get("distance_m"),
        "kind": a.get("kind"),
        "population_source": a.get("population_source"),
        "population_year": a.get("population_year"),
        "population_accuracy": a.get("population_accuracy"),
    }


class _Done:
    """A call made now, with the ``result()`` of a future (``workers=1``)."""

    def __init__(self, fn, *args, **kwargs):
        self._value = fn(*args, **kwargs)

    def result(self):
        return self._value

    def cancel(self) -> bool:
        return False


def _collect(futures: dict, compute) -> dict:
    """The results of ``futures``: the ones not started yet are cancelled and computed here with
    ``compute(key)``, from the last one back, while the pool works from the first (the same values)."""
    out = {}
    for k in reversed(list(futures)):
        if futures[k].cancel():
            out[k] = compute(k)
        else:
            break
    return {k: out[k] if k in out else f.result() for k, f in futures.items()}


def _range_surfaces(pop, gp, area_layers: list[str], cache: RunCache) -> dict:
    """The population surfaces of the coverage ranges (:func:`_surfaces`), with the zonal weights of every set
    of areas over each grid layout among them put in the run's memo (what :func:`add_range` reuses)."""
    from .uncertainty import area_weights

    surfaces = _surfaces(pop, gp, cache)
    label = getattr(pop, "attrs", {}).get("population_variant") or "population"  # add_range's label: not re-summed
    grids = [g for n, g in surfaces.items() if n != label and isinstance(g, PopulationGrid)]
    layouts = [g for i, g in enumerate(grids) if not any(h.same_layout(g) for h in grids[:i])]
    for areas in area_layers:
        for grid in layouts:
            area_weights(grid, areas, path=gp, cache=cache)
    return surfaces


def _draw_surfaces(graph, stations, gp, out: Path, cache: RunCache, gaps: dict | None = None) -> dict[str, Path]:
    """Distance and travel-time surfaces and the isochrones of :func:`analyse`, written to ``out``; a hub in
    ``gaps`` (hub → reason) gets no surface and one isochrones row saying it was not computed, and why."""
    written = {}
    written["distance_to_station"] = distance_surface(stations, path=gp, cache=cache).to_geotiff(
        out / "distance_to_station.tif"
    )
    iso_rows = []
    for key, hub in HUBS.items():
        if (gaps or {}).get(hub):
            row = {"minutes": None, "area_km2": None, "hub": hub, "hub_key": key}
            row["method"] = f"not computed: {gaps[hub]}"
            iso_rows.append(gpd.GeoDataFrame([row], geometry=[None], crs=METRIC_CRS))  # as the surfaces
            continue
        surf = travel_time_surface(graph, hub, path=gp, cache=cache)
        written[f"travel_time_{key}"] = surf.to_geotiff(out / f"travel_time_{key}.tif")
        iso = isochrones(surf)
        iso_rows.append(iso.assign(hub=hub, hub_key=key, method=surf.description))
    iso_all = gpd.GeoDataFrame(pd.concat(iso_rows, ignore_index=True), geometry="geometry", crs=iso_rows[-1].crs)
    written["isochrones"] = write_csv_atomic(pd.DataFrame(iso_all.drop(columns="geometry")), out / "isochrones.csv")
    written["isochrones_gpkg"] = write_gpkg_atomic(out / "isochrones.gpkg", {"isochrones": iso_all.to_crs("EPSG:4326")})
    return written


def _warn_gaps(gaps: dict, dual_gaps: dict, skipped: list[str]) -> None:
    """One warning per missing hub naming the station and the results not computed (also put in ``skipped``)."""
    lost: dict[str, list[str]] = {}
    for scen, hubs in gaps.items():
        for key, hub in HUBS.items():
            if hubs[hub]:
                what = lost.setdefault(hubs[hub], [])
                if scen == "open":
                    what += [f"travel_time_{key}.tif", f"isochrones from {hub}"]
                what.append(f"rail_times from {hub} ({scen})")
    for scen, why in dual_gaps.items():
        if why:
            lost.setdefault(why, []).append(f"dual_city.csv ({scen})")
            if scen == "open":
                lost[why] += ["its sensitivity cases", "indicator dual_city_rail_minutes"]
    for why, what in lost.items():
        msg = f"analyse: {why}: not computed: {', '.join(what)}"
        warnings.warn(msg, UserWarning, stacklevel=3)
        skipped.append(msg)


def _buffers_and_conflicts(gp, have: set[str], out: Path) -> tuple[dict[str, Path], list[str]]:
    """Wetland rings, features near wetlands, rail in ecological zones, clusters in the barrier (written to
    ``out``), and the analyses skipped for lack of a layer."""
    from . import zones as z

    written: dict[str, Path] = {}
    skipped: list[str] = []
    role = {r: layer.id for layer in get_catalog() for r in layer.roles}  # layer id by role (catalog.ROLES)
    wetlands, barrier = role.get("wetland_areas"), role.get("green_barrier_area")
    if wetlands in have:
        rg = [z.rings(wetlands, path=gp)]
        if barrier in have:
            rg.append(z.rings(barrier, path=gp, dissolve=True))
        ring_tab = pd.DataFrame(pd.concat(rg, ignore_index=True).drop(columns="geometry"))
        written["wetland_rings"] = write_csv_atomic(ring_tab, out / "wetland_rings.csv")
        near = [z.features_near(role["station_points"], wetlands, 5.0, path=gp)]
        if role.get("port_areas") in have:
            near.append(z.features_near(role["port_areas"], wetlands, 5.0, path=gp))
        written["near_wetlands"] = write_csv_atomic(pd.concat(near, ignore_index=True), out / "near_wetlands.csv")
    else:
        skipped.append("wetland rings: no wetlands layer")
    if z.eco_layers(gp):
        written["rail_in_zones"] = write_csv_atomic(z.rail_in_zones(path=gp), out / "rail_in_zones.csv")
    if barrier in have and role.get("urban_cluster_areas") in have:
        written["clusters_in_barrier"] = write_csv_atomic(
            z.clusters_in_barrier(path=gp), out / "clusters_in_barrier.csv"
        )
    return written, skipped


def analyse(
    path: str | Path | GeoPackage | None = None,
    out_dir: str | Path | None = None,
    *,
    population=None,
    landcover: str | Path | None = None,
    distances=DEFAULT_DISTANCES,
    graph=None,
    quiet: bool = True,
    workers: int = 2,
) -> dict[str, Path]:
    """Run the standard analyses on the layers in ``path`` and write tables and rasters to ``out_dir``.

    Parameters
    ----------
    path : str, Path or GeoPackage, optional
        The built GeoPackage (default ``layers/tianjin.gpkg``); a :class:`tjspatial.gpkg.GeoPackage` reader
        is used as it is. Every layer is read from disk once per run.
    out_dir : str or Path, optional
        Output folder (default ``out/analysis``).
    population : optional
        Population source (default: the bundled modelled grid); anything ``tj.population`` accepts, or its
        result.
    landcover : str or Path, optional
        Land-cover GeoTIFF (IGBP classes) for the forest-cover indicator.
    distances : sequence of float
        Buffer coverage distances, metres.
    graph : networkx graph, WalkNetwork, str or Path, optional
        A street graph (osmnx conventions), or a file for
        :meth:`tjspatial.analysis.network_coverage.WalkNetwork.load` (a .gpkg / .parquet edge table, or
        GraphML); when given, ``coverage.csv`` also holds ``network`` rows (ITDP walk catchments) for the
        districts.
    quiet : bool
        No progress lines.
    workers : int
        Threads: with 2 (default) the raster surfaces, the population variants and the coverage ranges are
        computed on a second thread while the coverage, plan and rail results are computed on the calling one;
        1 computes everything on the calling thread. The outputs are the same. On an idle 2-core machine two
        threads take ~35 % less time; when other processes hold the cores, one thread is faster.

    Returns
    -------
    dict of str to Path
        Output name → written path (see the module docstring); ``skipped`` lists analyses not run, if any.
    """
    say = (lambda m: None) if quiet else (lambda m: print(m, flush=True))
    out = Path(out_dir) if out_dir else default_out_dir()
    out.mkdir(parents=True, exist_ok=True)
    cat = get_catalog()
    gp = open_gpkg(path)  # every layer is read from disk once in this run
    if path is None and not set(cat.ids) <= set(gp.names):
        from ..build import build  # the catalog gained a layer since the default GeoPackage was built

        build(out=gp.path)
    have = present_layers(gp)  # the catalog layers this GeoPackage holds
    role = {r: layer.id for layer in cat for r in layer.roles}  # layer id by role (tjspatial.catalog.ROLES)
    districts, plan = role.get("district_areas"), role.get("planned_lines")
    # one memo for the run: population units, zone weights, rail graphs, surface frames are computed once
    cache = RunCache()
    written: dict[str, Path] = {}
    skipped: list[str] = []

    # rail graph (built once per scenario); the raster surfaces and isochrones need only it, the stations and
    # the boundary, so they are drawn on another thread while the coverage tables are summed. Work handed to the
    # thread shares nothing mutable (the memo and the GeoPackage reader are thread-safe; all the raster (GDAL)
    # work runs on that one thread, in order, or on this one while it waits), so the outputs are those of
    # workers=1.
    graphs = {"open": rail_graph(gp, cache=cache)}
    if plan in have:
        graphs["plan"] = rail_graph(gp, scenario="plan", cache=cache)
    stations = load(role["station_points"], gp)
    # hubs a partial extract lacks (#11): the results that need one are rows "not computed: <reason>", with a
    # warning naming the station and the results; everything else is computed as usual
    gaps = {s: {h: hub_gap(g, h, stations) for h in HUBS.values()} for s, g in graphs.items()}
    dual_gaps = {s: dual_city_gap(g, stations) for s, g in graphs.items()}
    _warn_gaps(gaps, dual_gaps, skipped)
    area_layers = [a for a in cat.coverage_areas() if a in have]  # declared in the catalog (coverage_label)
    pool = ThreadPoolExecutor(max_workers=workers - 1) if workers > 1 else None

    def submit(fn, *args, **kwargs):
        return pool.submit(fn, *args, **kwargs) if pool is not None else _Done(fn, *args, **kwargs)

    pop = population if hasattr(population, "zonal_sum") else None
    if pop is None and population is not None:  # a user's population: read (and refused) before anything runs
        pop = make_population(population, path=gp, cache=cache)
    # rasterio's in-memory rasters warn "no geotransform" while being set up and silence it with
    # warnings.catch_warnings, which is not thread-safe: keep it silenced for the whole threaded part
    quiet_gdal = warnings.catch_warnings()
    quiet_gdal.__enter__()
    warnings.simplefilter("ignore", NotGeoreferencedWarning)
    drawn = submit(_draw_surfaces, graphs["open"], stations, gp, out, cache, gaps["open"])
    try:
        if pop is None:  # the bundled model, built while the surfaces are drawn
            pop = make_population(None, path=gp, cache=cache)
        # coverage tables: per station set (declared rule, snapshot date), range over the population surfaces
        # at 800 m; the surfaces (model variants) and the areas' zonal weights over them are made meanwhile
        ranging = submit(_range_surfaces, pop, gp, area_layers, cache) if districts in have else None
        zoning = submit(_buffers_and_conflicts, gp, have, out)  # buffers and conflicts, after the surfaces
        snapshot = station_snapshot(gp)
        sets = {kind: (None if kind == "all" else station_set(kind, gp)) for kind in STATION_SETS_ANALYSED}
        raw = {}  # (areas, station set, distance) -> coverage result
        for areas in cat.coverage_areas():
            if areas not in have:
                skipped.append(f"coverage by {areas}: layer missing")
                continue
            for kind, st in sets.items():
                for d in distances:
                    raw[(areas, kind, d)] = coverage(
                        st, pop, areas, distance=d, kind="all" if st is not None else kind, path=gp, cache=cache
                    )
        net_tables = []
        if graph is not None and districts in have:
            from .network_coverage import WalkNetwork

            if isinstance(graph, (str, Path)):
                graph = WalkNetwork.load(graph)  # .gpkg / .parquet edge table, or GraphML
            net = graph if isinstance(graph, WalkNetwork) else WalkNetwork.from_graph(graph)
            for kind in ("all", "metro"):
                for d in distances:
                    res = coverage(
                        None, pop, districts, distance=d, method="network", graph=net, kind=kind, path=gp, cache=cache
                    )
                    net_tables.append(
                        res.assign(
                            areas=districts,
                            **_meta(res),
                            station_set=kind,
                            station_rule=STATION_SETS[kind],
                            station_snapshot=snapshot,
                        )
                    )
            say("network coverage done")

        # plan scenario
        delta = None
        if plan in have and districts in have:
            existing = raw.get((districts, "all", 800))  # computed above (all stations, 800 m)
            if existing is None:
                existing = coverage(None, pop, districts, distance=800, path=gp, cache=cache)
            scenario = coverage(plan_stations(gp), pop, districts, distance=800, path=gp, cache=cache)
            delta = coverage_delta(existing, scenario).assign(
                **_meta(existing),
                station_snapshot=snapshot,
                scenario="open + planned_rail (示意 / schematic station positions)",
            )
        else:
            skipped.append("coverage_delta: no planned_rail layer")

        # dual-city times and rail times; how the 20-minute verdict moves with the assumptions (#13): once per
        # run, its model case is graphs["open"]
        sens = dual_city_sensitivity(gp, cache=cache) if not dual_gaps["open"] else None
        rows, dual = [], []
        for scen, g in graphs.items():
            if dual_gaps[scen]:
                why = f"not computed: {dual_gaps[scen]}"
                ends = ["/".join(h) for h in list(DUAL_CITY_HUBS.values())[:2]]
                row = {"scenario": scen, "case": "model", "from": ends[0], "to": ends[1], "minutes": None}
                row.update({"target_minutes": 20, "method": why, "params": g.params_json()})
                dual.append(row)
                if scen == "open":
                    dual += [{**row, "case": c} for c in SENSITIVITY_CASES if c != "model"]
            for key, hub in HUBS.items():
                if gaps[scen][hub]:
                    why = f"not computed: {gaps[scen][hub]}"
                    st = {"name_zh": None, "minutes": None, "line_id": None, "method": why, "params": g.params_json()}
                    rows.append(pd.DataFrame([{**st, "hub": hub, "hub_key": key, "scenario": scen}]))
                else:
                    rows.append(g.station_times(hub).assign(hub=hub, hub_key=key, scenario=scen))
            if dual_gaps[scen]:
                continue
            dual.append(
                {
                    "scenario": scen,
                    "case": "model",
                    "from": "/".join(list(DUAL_CITY_HUBS.values())[0]),
                    "to": "/".join(list(DUAL_CITY_HUBS.values())[1]),
                    "minutes": dual_city_time(g),
                    "target_minutes": 20,
                    "method": RAIL_METHOD,
                    "params": g.params_json(),
                }
            )
            if scen == "open":  # how the 20-minute verdict moves with the assumptions (#13)
                for r in sens[sens["case"] != "model"].itertuples():
                    dual.append({**dual[-1], "case": r.case, "minutes": r.minutes, "params": r.params})

        surfaces = ranging.result() if ranging is not None else {}
        # the ranges at 800 m: the other thread takes them from the first, this one the ones not started yet
        # from the last (_collect)
        ranged = {
            k: submit(add_range, r, surfaces, areas=k[0], path=gp, cache=cache)
            for k, r in raw.items()
            if k[2] == 800 and surfaces
        }
        ranged = _collect(ranged, lambda k: add_range(raw[k], surfaces, areas=k[0], path=gp, cache=cache))
        results = {k: ranged.get(k, r) for k, r in raw.items()}
        tables, catch = [], []
        for (areas, kind, d), res in results.items():
            tables.append(
                res.assign(
                    areas=areas,
                    **{**_meta(res), "kind": kind},
                    station_set=kind,
                    station_rule=STATION_SETS[kind],
                    station_snapshot=snapshot,
                )
            )
            if areas == districts and d == 800:
                c = res.attrs["catchments"].assign(kind=kind, distance_m=d, station_snapshot=snapshot)
                catch.append(c)
        tables += net_tables
        if tables:
            cov = pd.concat(tables, ignore_index=True)
            lead = ["areas", "area", "name_zh", "name_en", "kind", "distance_m", "method"]
            cov = cov[lead + [c for c in cov.columns if c not in lead]]
            written["coverage"] = write_csv_atomic(cov, out / "coverage.csv")
            say(f"coverage: {len(cov)} rows")
        if catch:
            gdf = gpd.GeoDataFrame(pd.concat(catch, ignore_index=True), geometry="geometry", crs=catch[0].crs)
            written["coverage_catchments"] = write_gpkg_atomic(
                out / "coverage_catchments.gpkg", {"catchments": gdf.to_crs("EPSG:4326")}
            )
        if delta is not None:
            written["coverage_delta"] = write_csv_atomic(delta, out / "coverage_delta.csv")
        written["indicators"] = write_csv_atomic(
            indicators(
                gp,
                landcover=landcover,
                population=pop,
                graph=graphs["open"],
                surfaces=surfaces or None,
                sensitivity=sens,
                metro_coverage=results.get((role.get("planning_zones"), "metro", 800)),
                cache=cache,
            ),
            out / "indicators.csv",
        )
        written["rail_times"] = write_csv_atomic(pd.concat(rows, ignore_index=True), out / "rail_times.csv")
        written["dual_city"] = write_csv_atomic(pd.DataFrame(dual), out / "dual_city.csv")

        if isinstance(pop, PopulationGrid):
            written["population_grid"] = pop.to_geotiff(out / "population_grid.tif")
        written.update(drawn.result())  # the surfaces drawn on the other thread
        zoned = zoning.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        quiet_gdal.__exit__(None, None, None)
    say("rail graph, surfaces and isochrones written")

    written.update(zoned[0])  # buffers and conflicts, made on the other thread
    skipped += zoned[1]
    if skipped:
        note = out / "skipped.txt"
        with atomic_path(note) as tmp:
            tmp.write_text("\n".join(skipped) + "\n", encoding="utf-8")
        written["skipped"] = note
    return written
