"""Population: the bundled modelled grid, a user's GeoTIFF, or polygons with counts — one zonal-sum interface.

``tj.population()`` returns one of two objects that both answer ``zonal_sum(polygons)``:

:class:`PopulationGrid`
    A raster: ``values`` (persons per cell, float64, rows x cols, north-up) with an affine ``transform`` in
    ``crs``. Zonal sums weight each cell by the share of its area the polygon covers (exact for cells the
    boundary crosses, see :func:`tjspatial.analysis.grid.cell_fractions`). Used for the bundled model and for
    GeoTIFFs (GHSL, WorldPop, ...), which are read with rasterio in their own CRS; polygons are projected to
    that CRS before the fractions are taken.
:class:`PopulationPolygons`
    Polygons with a count (census tracts, districts): areal weighting — a polygon's count is spread uniformly
    over its area, so a zone receives ``count * area(zone ∩ polygon) / area(polygon)``.

The bundled model (``source=None``)
-----------------------------------
A 250 m grid in EPSG:4548 over the municipality. Each cell belongs to the district holding its centre; the
2020 census population of each district (``districts.pop_2020``) is spread over that district's cells in
proportion to

``weight = land_share * (1 + 20 * Σ_settlements exp(-d² / 2σs²) + 50 * Σ_seats exp(-d² / 2σn²))``

with σs = 1.5 km around every GeoNames settlement point (``settlements`` layer), σn = 3 km around the district
seats of the five regional nodes (``nodes`` layer), kernels cut at 3σ, and ``land_share`` = 1 − the share of
the cell covered by the ``water`` layer. Counts are then rounded to whole persons by largest remainder, so the
cells of every district sum **exactly** to its census total. This is a modelled surface (accuracy
``modelled``): it knows nothing finer than district totals and the positions of settlements. Replace it with a
real raster (``tj.population("worldpop.tif")``) for anything that depends on where people live inside a
district.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS
from scipy.spatial import cKDTree

from ..crs import METRIC_CRS, to_metric
from ..io import load
from .grid import cell_centres, cell_fractions, grid_for_bounds, write_geotiff_atomic

__all__ = ["PopulationGrid", "PopulationPolygons", "population", "model_population", "BUNDLED_CELL_M",
           "POPULATION_COLUMNS"]

BUNDLED_CELL_M = 250.0
"""Cell size of the bundled modelled grid, metres (EPSG:4548)."""

POPULATION_COLUMNS = ("population", "pop", "pop_2020", "count", "persons")
"""Columns tried, in order, when a polygon layer is passed without ``column=``."""

SETTLEMENT_SIGMA_M, SETTLEMENT_PEAK = 1500.0, 20.0
SEAT_SIGMA_M, SEAT_PEAK = 3000.0, 50.0


def _as_geoms(polygons, crs) -> tuple[np.ndarray, Any]:
    """Polygons (GeoSeries / GeoDataFrame / array + crs) as a geometry array and its CRS."""
    if isinstance(polygons, (gpd.GeoSeries, gpd.GeoDataFrame)):
        if polygons.crs is None:
            raise ValueError("the polygons have no CRS; set one (e.g. EPSG:4548) before summing population")
        return np.asarray(polygons.geometry.values, dtype=object), polygons.crs
    geoms = np.asarray(polygons, dtype=object).reshape(-1)
    if crs is None:
        raise ValueError("pass crs= with bare shapely polygons")
    return geoms, crs


@dataclass(frozen=True)
class PopulationGrid:
    """A population raster: persons per cell.

    Attributes
    ----------
    values : float64 array (rows, cols), persons per cell, 0 where there are none (never NaN).
    transform : affine transform of the grid (north-up), in ``crs`` units.
    crs : the grid's CRS (EPSG:4548 for the bundled model).
    source : where the numbers come from (shown in every result's ``attrs``).
    year : reference year of the counts.
    accuracy : ``modelled`` for the bundled grid; ``official`` / ``derived`` ... for a user's raster.
    district : optional int array (rows, cols): index into ``district_names`` of the district each cell was
        allocated to (-1 outside), for the bundled model.
    """

    values: np.ndarray
    transform: Affine
    crs: Any
    source: str
    year: int | None = None
    accuracy: str = "modelled"
    district: np.ndarray | None = None
    district_names: tuple[str, ...] = ()
    description: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    @property
    def cell_area_m2(self) -> float:
        """Area of one cell in the grid's CRS units squared (m² for a metric CRS)."""
        return abs(self.transform.a * self.transform.e)

    @property
    def total(self) -> float:
        return float(self.values.sum())

    @property
    def attrs(self) -> dict:
        return {"population_source": self.source, "population_year": self.year,
                "population_accuracy": self.accuracy, "population_kind": "grid"}

    def zonal_sum(self, polygons, crs=None) -> np.ndarray:
        """Persons inside each polygon, partial cells weighted by covered area.

        Parameters
        ----------
        polygons : GeoSeries / GeoDataFrame (any CRS; projected to the grid's CRS), or shapely polygons with
            ``crs``.
        """
        geoms, gcrs = _as_geoms(polygons, crs)
        if not CRS.from_user_input(gcrs).equals(CRS.from_user_input(self.crs)):
            geoms = np.asarray(gpd.GeoSeries(geoms, crs=gcrs).to_crs(self.crs).values, dtype=object)
        out = np.zeros(len(geoms))
        for i, g in enumerate(geoms):  # one rasterisation per zone; the cells are vectorised
            r, c, w = cell_fractions(g, self.transform, self.shape)
            out[i] = self.values[r, c] @ w
        return out

    def district_totals(self) -> pd.Series:
        """Persons per allocated district (bundled model only): equals the census totals exactly."""
        if self.district is None:
            raise ValueError("this grid has no district allocation (only the bundled model has one)")
        inside = self.district >= 0
        sums = np.bincount(self.district[inside], weights=self.values[inside], minlength=len(self.district_names))
        return pd.Series(sums, index=list(self.district_names), name="population")

    def to_points(self) -> gpd.GeoDataFrame:
        """Non-empty cells as cell-centre points with ``population`` (grid CRS)."""
        x, y = cell_centres(self.transform, self.shape)
        m = self.values > 0
        return gpd.GeoDataFrame({"population": self.values[m]}, geometry=gpd.points_from_xy(x[m], y[m]),
                                crs=self.crs)

    def to_geotiff(self, path: str | Path) -> Path:
        """Write the grid as a float32 GeoTIFF (persons per cell), atomically."""
        return write_geotiff_atomic(path, self.values.astype("float32"), self.transform, self.crs, nodata=None,
                                    tags={"units": "persons per cell", "source": self.source, "year": self.year,
                                          "accuracy": self.accuracy}, band_description="population")


@dataclass(frozen=True)
class PopulationPolygons:
    """Population counts on polygons, summed into zones by areal weighting.

    Attributes
    ----------
    polygons : GeoDataFrame in EPSG:4548 with the count column ``column``.
    """

    polygons: gpd.GeoDataFrame
    column: str
    source: str
    year: int | None = None
    accuracy: str = "derived"
    _tree: Any = field(default=None, repr=False, compare=False)

    @property
    def total(self) -> float:
        return float(self.polygons[self.column].sum())

    @property
    def attrs(self) -> dict:
        return {"population_source": self.source, "population_year": self.year,
                "population_accuracy": self.accuracy, "population_kind": "polygons (areal weighting)"}

    def zonal_sum(self, polygons, crs=None) -> np.ndarray:
        """Persons inside each polygon: Σ count · area(zone ∩ polygon) / area(polygon), areas in EPSG:4548."""
        geoms, gcrs = _as_geoms(polygons, crs)
        if not CRS.from_user_input(gcrs).equals(CRS.from_user_input(METRIC_CRS)):
            geoms = np.asarray(gpd.GeoSeries(geoms, crs=gcrs).to_crs(METRIC_CRS).values, dtype=object)
        src = np.asarray(self.polygons.geometry.values, dtype=object)
        counts = self.polygons[self.column].to_numpy(dtype=float)
        src_area = shapely.area(src)
        iz, ip = shapely.STRtree(src).query(geoms, predicate="intersects")
        inter = shapely.area(shapely.intersection(geoms[iz], src[ip]))
        share = np.divide(inter, src_area[ip], out=np.zeros_like(inter), where=src_area[ip] > 0)
        return np.bincount(iz, weights=counts[ip] * share, minlength=len(geoms))


def _grid_from_tif(path: Path, year: int | None, accuracy: str) -> PopulationGrid:
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise ValueError(f"population raster {path} has no CRS")
            if src.transform.b != 0 or src.transform.d != 0:
                raise ValueError(f"population raster {path} is rotated; warp it north-up first")
            arr = src.read(1, masked=True).astype("float64")
            transform, crs = src.transform, src.crs
            tags = src.tags()
    except rasterio.errors.RasterioIOError as exc:
        raise FileNotFoundError(f"cannot read population raster {path}: {exc}") from exc
    values = np.asarray(arr.filled(0.0))
    values[~np.isfinite(values) | (values < 0)] = 0.0
    if transform.e > 0:  # south-up: flip to north-up
        values = values[::-1]
        transform = transform @ Affine.translation(0, values.shape[0]) @ Affine.scale(1, -1)
    return PopulationGrid(values=values, transform=transform, crs=crs, source=f"raster:{path.name}",
                          year=year if year is not None else _year_from(tags), accuracy=accuracy,
                          description=f"GeoTIFF {path}")


def _year_from(tags: dict) -> int | None:
    for k in ("year", "YEAR", "TIFFTAG_DATETIME"):
        if k in tags:
            try:
                return int(str(tags[k])[:4])
            except ValueError:
                pass
    return None


def _polygons(gdf: gpd.GeoDataFrame, column: str | None, year: int | None, accuracy: str,
              source: str) -> PopulationPolygons:
    if column is None:
        column = next((c for c in POPULATION_COLUMNS if c in gdf.columns), None)
        if column is None:
            raise ValueError(f"population polygons {source}: no count column; pass column= (columns: "
                             f"{[c for c in gdf.columns if c != gdf.geometry.name]})")
    if column not in gdf.columns:
        raise KeyError(f"population polygons {source}: no column {column!r}")
    vals = pd.to_numeric(gdf[column], errors="coerce")
    if vals.isna().any():
        bad = list(gdf.index[vals.isna()][:5])
        raise ValueError(f"population polygons {source}: column {column!r} has missing / non-numeric values "
                         f"(rows {bad})")
    m = to_metric(gdf[[gdf.geometry.name]].assign(**{column: vals.to_numpy(float)}))
    if year is None and column.endswith(("_2020", "2020")):
        year = 2020
    return PopulationPolygons(polygons=m, column=column, source=source, year=year, accuracy=accuracy)


def population(source=None, *, path: str | Path | None = None, column: str | None = None,
               year: int | None = None, accuracy: str | None = None, cell: float = BUNDLED_CELL_M):
    """The population to measure coverage with.

    Parameters
    ----------
    source : ``None`` for the bundled modelled grid (module docstring); a path to a GeoTIFF (persons per
        cell, any CRS); a polygon GeoDataFrame with a count column (areal weighting); or a layer id holding
        polygons with counts (e.g. ``"districts"``, column ``pop_2020``).
    path : the GeoPackage layers are read from (default ``layers/tianjin.gpkg``).
    column : the count column of polygons (default: the first of :data:`POPULATION_COLUMNS` present).
    year, accuracy : label the result (defaults: 2020 / ``modelled`` for the bundled grid).
    cell : cell size of the bundled grid, metres (EPSG:4548).

    Returns
    -------
    PopulationGrid or PopulationPolygons
        Both have ``zonal_sum(polygons) -> ndarray``, ``total`` and ``attrs``.
    """
    if source is None:
        return model_population(path=path, cell=cell)
    if isinstance(source, gpd.GeoDataFrame):
        return _polygons(source, column, year, accuracy or "derived", source.attrs.get("layer", "polygons"))
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.suffix.lower() in (".tif", ".tiff", ".vrt") or p.is_file():
            if not p.is_file():
                raise FileNotFoundError(f"no population raster at {p}")
            return _grid_from_tif(p, year, accuracy or "derived")
        gdf = load(str(source), path)
        return _polygons(gdf, column, year, accuracy or gdf.attrs.get("accuracy", "derived"), f"layer:{source}")
    raise TypeError(f"population source must be None, a GeoTIFF path, a layer id or a GeoDataFrame, "
                    f"not {type(source).__name__}")


def _kernel(weight: np.ndarray, tree: cKDTree, xy: np.ndarray, pts: np.ndarray, sigma: float,
            peak: float) -> None:
    """Add ``peak * exp(-d²/2σ²)`` around every point of ``pts`` to ``weight`` (cut at 3σ), vectorised."""
    if not len(pts):
        return
    hits = tree.query_ball_point(pts, r=3 * sigma)
    lens = np.fromiter((len(h) for h in hits), dtype=np.intp, count=len(hits))
    if not lens.sum():
        return
    cells = np.concatenate([np.asarray(h, dtype=np.intp) for h in hits])
    src = np.repeat(np.arange(len(pts)), lens)
    d2 = ((xy[cells] - pts[src]) ** 2).sum(axis=1)
    np.add.at(weight, cells, peak * np.exp(-d2 / (2 * sigma * sigma)))


def model_population(*, path: str | Path | None = None, cell: float = BUNDLED_CELL_M) -> PopulationGrid:
    """Build the bundled modelled population grid (see the module docstring for the rule).

    Reads the ``districts`` (``pop_2020``), ``water``, ``settlements`` and ``nodes`` layers from ``path``.
    Takes about a second; the result sums exactly to each district's census total.
    """
    districts = to_metric(load("districts", path))
    bad = districts["pop_2020"].isna() | (districts["pop_2020"] < 0)
    if bad.any():
        raise ValueError(f"layer 'districts', field 'pop_2020': missing for {list(districts.loc[bad, 'name_zh'])}")
    transform, shape = grid_for_bounds(districts.total_bounds, cell)
    idx = rasterio.features.rasterize(
        [(g, i) for i, g in enumerate(districts.geometry.values)], out_shape=shape, transform=transform,
        fill=-1, all_touched=False, dtype="int32")
    x, y = cell_centres(transform, shape)
    flat = idx.ravel()
    inside = np.flatnonzero(flat >= 0)
    xy = np.column_stack([x.ravel()[inside], y.ravel()[inside]])

    land = np.ones(len(inside))
    water = to_metric(load("water", path))
    if len(water):
        wfrac = np.zeros(shape)
        r, c, w = cell_fractions(shapely.union_all(np.asarray(water.geometry.values)), transform, shape)
        wfrac[r, c] = w
        land = 1.0 - wfrac.ravel()[inside]

    weight = np.ones(len(inside))
    tree = cKDTree(xy)
    sett = to_metric(load("settlements", path))
    _kernel(weight, tree, xy, shapely.get_coordinates(sett.geometry.values), SETTLEMENT_SIGMA_M, SETTLEMENT_PEAK)
    nodes = to_metric(load("nodes", path))
    _kernel(weight, tree, xy, shapely.get_coordinates(nodes.geometry.values), SEAT_SIGMA_M, SEAT_PEAK)
    weight *= land

    d = flat[inside]
    n = len(districts)
    wsum = np.bincount(d, weights=weight, minlength=n)
    ncell = np.bincount(d, minlength=n)
    if (ncell == 0).any():
        raise ValueError(f"layer 'districts': no {cell:g} m cell centre falls inside "
                         f"{list(districts.loc[ncell == 0, 'name_zh'])}; use a smaller cell")
    # a district that is all water (never in practice) falls back to uniform weights
    weight = np.where(wsum[d] > 0, weight, 1.0)
    wsum = np.bincount(d, weights=weight, minlength=n)
    census = districts["pop_2020"].to_numpy(dtype=np.int64)
    exact = census[d] * weight / wsum[d]
    persons = np.floor(exact)
    short = census - np.bincount(d, weights=persons, minlength=n).round().astype(np.int64)
    # largest remainder within each district: sort by district, then by remainder descending
    order = np.lexsort((-(exact - persons), d))
    first = np.searchsorted(d[order], np.arange(n))
    rank = np.arange(len(order)) - first[d[order]]
    persons[order[rank < short[d[order]]]] += 1.0

    values = np.zeros(shape[0] * shape[1])
    values[inside] = persons
    return PopulationGrid(
        values=values.reshape(shape), transform=transform, crs=METRIC_CRS,
        source="tjspatial modelled grid: 2020 census district totals spread by settlements, seats and land",
        year=2020, accuracy="modelled", district=idx, district_names=tuple(districts["name_zh"]),
        description=f"{cell:g} m modelled grid, EPSG:4548; weights: settlements (σ 1.5 km), node seats (σ 3 km), "
                    "water excluded; sums exactly to the 2020 census district totals")
