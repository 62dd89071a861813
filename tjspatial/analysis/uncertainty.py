"""Ranges next to headline shares: the same coverage measured over several population surfaces.

The bundled population is a model; where people live inside a district drives every coverage share. A share is
therefore reported with the range it takes over the model and its variants
(:data:`tjspatial.analysis.population.MODEL_VARIANTS`) — and over any real grid the user adds — as
``pop_share_min`` / ``pop_share_max`` (the min–max over the surfaces, not a confidence interval).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..crs import METRIC_CRS
from .coverage import coverage, resolve_areas
from .population import PopulationGrid, population_variants

__all__ = ["add_range", "coverage_range", "RANGE_NOTE"]

RANGE_NOTE = ("range = min–max of the share over the population model and its variants (settlements only, urban "
              "cores wide / tight, MODIS urban) and any grid added; not a confidence interval")


def add_range(res: pd.DataFrame, surfaces: dict, *, areas="districts", path: str | Path | None = None,
              label: str | None = None) -> pd.DataFrame:
    """Add ``pop_share_min``, ``pop_share_max`` and ``share_<surface>`` columns to a :func:`coverage` result.

    Parameters
    ----------
    res : a coverage result (its ``attrs["catchments"]`` are re-summed over every surface).
    surfaces : name → population (what ``tj.population`` returns); the surface ``res`` was computed with may be
        among them (it is then summed again) or not (``label`` names it).
    areas : the areas ``res`` was computed over (layer id or GeoDataFrame).
    label : name of the surface ``res`` was computed with (default ``res.attrs['population_variant']`` or
        ``population``).
    """
    catch = res.attrs.get("catchments")
    if catch is None:
        raise ValueError("add_range: the coverage result has no attrs['catchments'] to re-sum")
    geoms = np.asarray(resolve_areas(areas, path=path).geometry.values, dtype=object)
    cgeoms = np.asarray(catch.geometry.values, dtype=object)
    label = label or res.attrs.get("population_variant") or "population"
    shares = {label: res["pop_share"].to_numpy(float)}
    cached = None  # (grid, weights of the areas, weights of the catchments), reused across grids of one layout
    for name, pop in surfaces.items():
        if name == label:
            continue
        if isinstance(pop, PopulationGrid):
            if cached is None or not cached[0].same_layout(pop):
                cached = (pop, pop.zonal_weights(geoms, crs=METRIC_CRS), pop.zonal_weights(cgeoms, crs=METRIC_CRS))
            v = pop.vector()
            tot, cov = cached[1] @ v, cached[2] @ v
        else:
            tot, cov = pop.zonal_sum(geoms, crs=METRIC_CRS), pop.zonal_sum(cgeoms, crs=METRIC_CRS)
        shares[name] = np.divide(cov, tot, out=np.full(len(tot), np.nan), where=tot > 0)
    out = res.copy()
    stack = np.vstack(list(shares.values()))
    for name, v in shares.items():
        out[f"share_{name}"] = v
    out["pop_share_min"] = np.nanmin(stack, axis=0)
    out["pop_share_max"] = np.nanmax(stack, axis=0)
    out.attrs = {**res.attrs, "range_surfaces": ",".join(shares), "range_note": RANGE_NOTE}
    return out


def coverage_range(stations=None, areas="districts", distance: float = 800, *, surfaces: dict | None = None,
                   path: str | Path | None = None, **kwargs) -> pd.DataFrame:
    """:func:`~tjspatial.analysis.coverage.coverage` over the first surface, with the min–max share over all.

    Parameters
    ----------
    stations, areas, distance, **kwargs : as for :func:`~tjspatial.analysis.coverage.coverage`.
    surfaces : name → population; default :func:`~tjspatial.analysis.population.population_variants` (the
        model first).
    """
    surfaces = surfaces or population_variants(path)
    first = next(iter(surfaces))
    res = coverage(stations, surfaces[first], areas, distance, path=path, **kwargs)
    return add_range(res, surfaces, areas=areas, path=path, label=first)
