"""Ranges next to headline shares: the same coverage measured over several population surfaces.

The bundled population is a model; where people live inside a district drives every coverage share. A share is
therefore reported with the range it takes over the model and its variants
(:data:`tjspatial.analysis.population.MODEL_VARIANTS`) — and over any real grid the user adds or has fetched
with ``tjspatial population fetch`` (:func:`default_surfaces`) — as
``pop_share_min`` / ``pop_share_max`` (the min–max over the surfaces, not a confidence interval).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import role_id
from ..crs import METRIC_CRS
from ..errors import InputError
from .context import RunCache, geometry_key, memo, path_key
from .coverage import coverage, resolve_areas
from .population import PopulationGrid, population_variants

__all__ = ["add_range", "area_weights", "coverage_range", "default_surfaces", "RANGE_NOTE"]

RANGE_NOTE = (
    "range = min–max of the share over the population model and its variants (settlements only, urban "
    "cores wide / tight, MODIS urban) and any grid added; not a confidence interval"
)


def default_surfaces(
    path: str | Path | None = None, population=None, *, cache_dir=None, cache: RunCache | None = None
) -> dict:
    """The surfaces ranges are taken over: the model and its variants, every grid fetched with
    ``tjspatial population fetch`` that is in the cache, and ``population`` when it is not the model.

    Parameters
    ----------
    path : str, Path or GeoPackage, optional
        GeoPackage the layers are read from.
    population : optional
        The population the headline shares use (``tj.population(...)``'s result).
    cache_dir : str or Path, optional
        Folder of the fetched grids (default :func:`tjspatial.analysis.population_fetch.default_cache_dir`).
    cache : RunCache, optional
        The run's memo (the model's allocation units are prepared once per run).

    Returns
    -------
    dict
        Name → population (the model first, as ``model``).
    """
    from .population_fetch import PRODUCTS, default_cache_dir
    from .population import population as make_population

    out = dict(population_variants(path, cache=cache))
    if isinstance(population, PopulationGrid) and population.variant == "model":
        out["model"] = population
    elif population is not None:
        out = {"population": population, **out}
    fetched = Path(cache_dir) if cache_dir else default_cache_dir()
    for key in PRODUCTS:
        if (fetched / f"{key}_tianjin.tif").is_file() and key not in out:
            out[key] = make_population(str(fetched / f"{key}_tianjin.tif"), year=PRODUCTS[key].year)
    return out


def add_range(
    res: pd.DataFrame,
    surfaces: dict,
    *,
    areas=None,
    path: str | Path | None = None,
    label: str | None = None,
    cache: RunCache | None = None,
) -> pd.DataFrame:
    """Add ``pop_share_min``, ``pop_share_max`` and ``share_<surface>`` columns to a :func:`coverage` result.

    Parameters
    ----------
    res : pandas.DataFrame
        A coverage result (its ``attrs["catchments"]`` are re-summed over every surface).
    surfaces : dict
        Name → population (what ``tj.population`` returns); the surface ``res`` was computed with may be
        among them (it is then summed again) or not (``label`` names it).
    areas : str or geopandas.GeoDataFrame, optional
        The areas ``res`` was computed over (layer id or GeoDataFrame); default the districts (the layer
        of role ``district_areas``).
    path : str or pathlib.Path, optional
        GeoPackage the areas are read from (default ``layers/tianjin.gpkg``).
    label : str, optional
        Name of the surface ``res`` was computed with (default ``res.attrs['population_variant']`` or
        ``population``).
    cache : RunCache, optional
        The run's memo (:mod:`tjspatial.analysis.context`): the areas' zonal weights over a grid layout are
        computed once per run, whatever the station set or distance.

    Returns
    -------
    pandas.DataFrame
        ``res`` with ``pop_share_min``, ``pop_share_max`` (fractions) and ``share_<surface>`` columns.
    """
    areas = role_id("district_areas") if areas is None else areas
    catch = res.attrs.get("catchments")
    if catch is None:
        raise InputError("add_range: the coverage result has no attrs['catchments'] to re-sum")
    ar = _areas(areas, path, cache)
    geoms, acrs = np.asarray(ar.geometry.values, dtype=object), ar.crs or METRIC_CRS
    akey = geometry_key(geoms, acrs) if cache is not None else None
    cgeoms, ccrs = np.asarray(catch.geometry.values, dtype=object), catch.crs or METRIC_CRS
    label = label or res.attrs.get("population_variant") or "population"
    shares = {label: res["pop_share"].to_numpy(float)}
    cached = None  # (grid, weights of the areas, weights of the catchments), reused across grids of one layout
    for name, pop in surfaces.items():
        if name == label:
            continue
        if isinstance(pop, PopulationGrid):
            if cached is None or not cached[0].same_layout(pop):
                cached = (pop, _area_weights(pop, geoms, acrs, akey, cache), pop.zonal_weights(cgeoms, crs=ccrs))
            v = pop.vector()
            tot, cov = cached[1] @ v, cached[2] @ v
        else:
            tot, cov = pop.zonal_sum(geoms, crs=acrs), pop.zonal_sum(cgeoms, crs=ccrs)
        shares[name] = np.divide(cov, tot, out=np.full(len(tot), np.nan), where=tot > 0)
    out = res.copy()
    stack = np.vstack(list(shares.values()))
    for name, v in shares.items():
        out[f"share_{name}"] = v
    out["pop_share_min"] = np.nanmin(stack, axis=0)
    out["pop_share_max"] = np.nanmax(stack, axis=0)
    out.attrs = {**res.attrs, "range_surfaces": ",".join(shares), "range_note": RANGE_NOTE}
    return out


def _areas(areas, path, cache: RunCache | None):
    """:func:`resolve_areas`, once per run for a layer id."""
    if isinstance(areas, str):
        return memo(cache, ("areas", path_key(path), areas), lambda: resolve_areas(areas, path=path))
    return resolve_areas(areas, path=path)


def area_weights(grid: PopulationGrid, areas, *, path=None, cache: RunCache | None = None):
    """Zonal weights of ``areas`` over the cells and pieces of ``grid`` (:meth:`PopulationGrid.zonal_weights`),
    kept in the run's memo for every grid of the same layout (what :func:`add_range` reuses).

    Parameters
    ----------
    grid : PopulationGrid
        Any grid of the layout.
    areas : str or GeoDataFrame
        Layer id or polygons, as for :func:`add_range`.
    path : str, Path or GeoPackage, optional
        GeoPackage the layers are read from.
    cache : RunCache, optional
        The run's memo.

    Returns
    -------
    scipy.sparse.csr_matrix
        Areas × (cells + pieces) covered shares.
    """
    ar = _areas(areas, path, cache)
    geoms, acrs = np.asarray(ar.geometry.values, dtype=object), ar.crs or METRIC_CRS
    return _area_weights(grid, geoms, acrs, geometry_key(geoms, acrs) if cache is not None else None, cache)


def _area_weights(pop: PopulationGrid, geoms: np.ndarray, crs, key: str | None, cache: RunCache | None):
    """``pop.zonal_weights(geoms)``, computed once per run for each set of areas and grid layout (the weights
    depend on the cells, pieces and polygons, not on the persons)."""
    if cache is None:
        return pop.zonal_weights(geoms, crs=crs)
    # one entry per grid layout: (a grid of that layout, the weights), computed under the layout's key
    layout = (pop.shape, tuple(pop.transform), str(pop.crs), id(pop.pieces.geoms) if pop.pieces is not None else None)
    entry = cache.get(("area_weights", key, layout), lambda: (pop, pop.zonal_weights(geoms, crs=crs)))
    if not entry[0].same_layout(pop):  # another layout under a reused id: compute (never happens in one run)
        return pop.zonal_weights(geoms, crs=crs)
    return entry[1]


def coverage_range(
    stations=None,
    areas=None,
    distance: float = 800,
    *,
    surfaces: dict | None = None,
    path: str | Path | None = None,
    **kwargs,
) -> pd.DataFrame:
    """:func:`~tjspatial.analysis.coverage.coverage` over the first surface, with the min–max share over all.

    Parameters
    ----------
    stations : geopandas.GeoDataFrame or str, optional
        As for :func:`~tjspatial.analysis.coverage.coverage`.
    areas : str or geopandas.GeoDataFrame, optional
        As for :func:`~tjspatial.analysis.coverage.coverage`.
    distance : float, default 800
        Catchment distance, metres.
    surfaces : dict, optional
        Name → population; default :func:`default_surfaces` (the model first, its variants, any fetched grid
        in the cache).
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (default ``layers/tianjin.gpkg``).
    **kwargs
        Passed to :func:`~tjspatial.analysis.coverage.coverage`.

    Returns
    -------
    pandas.DataFrame
        The coverage over the first surface, with ``pop_share_min`` and ``pop_share_max`` over all.
    """
    surfaces = surfaces or default_surfaces(path)
    first = next(iter(surfaces))
    res = coverage(stations, surfaces[first], areas, distance, path=path, **kwargs)
    return add_range(res, surfaces, areas=areas, path=path, label=first)
