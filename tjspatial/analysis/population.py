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
A 250 m grid in EPSG:4548 over the municipality, labelled ``modelled``: it knows the 2020 census total of each
district (``districts.pop_2020``), four published 2020 township counts, and where settlements, urban cores and
uninhabited land are — nothing finer. Each district's total is spread over its land in proportion to

``weight = habitable * area_share * (1 + Σ_settlements 20·g(1.5 km) + Σ_seats 50·g(3 km)
+ Σ_cores peak / (1 + (d / r)^6) + ring fringe 30·exp(-d_core_city / 3 km))``

* ``g(σ)`` is a Gaussian kernel cut at 3σ around every GeoNames settlement (``settlements``; the bundled
  GeoNames points carry no population, so all rank as villages/towns) and around the seats of the five regional
  nodes (``nodes``);
* the urban cores of ``layers/sources/population_centres.csv`` (滨海新区: 塘沽, TEDA, 于家堡, 胡家园, 大沽, 北塘,
  生态城, 汉沽, 茶淀, 大港, 大港油田) add a flat-topped kernel of radius ``r`` and a peak by size (cut at 2r);
* cells of the four ring districts (环城四区) get a boost decaying with distance from the central city (中心城区),
  whose built-up area runs into them;
* **every kernel stays inside its own district** (宁河's seat 芦台 lends nobody to 滨海);
* ``habitable`` = 1 − water share (``water`` layer: rivers, reservoirs, salt pans and ponds seen by NDWI), times
  1 − 0.98 × the share covered by port land (``port_districts``) or the airport (``airport``) and
  1 − 0.8 × the share covered by wetland reserves (``wetlands``);
* the published township counts of the centres table (大港街道(含胜利、迎宾) 166,134; 大沽 97,854; 北塘 70,356;
  茶淀 69,844) are held exactly inside each centre's constraint zone (cells of the district within its radius,
  nearest centre first); the rest of the district gets the remainder.

Cells a district boundary or the coast crosses are split into pieces (cell ∩ district) that keep their own
persons (:class:`Pieces`), so a zonal sum over a district polygon — and every coverage ``pop_total`` of districts,
zones, the dual city and the city — returns the census total to the person. Persons are whole numbers
(largest remainder within each district and constraint zone). :data:`MODEL_VARIANTS` are the alternatives the
coverage ranges are taken over (``tj.population_variants``). Replace the model with a real raster
(``tj.population("worldpop.tif")``) for anything that depends on where people live inside a district.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
from scipy import sparse
from scipy.spatial import cKDTree

from ..errors import InputError, MissingFileError, UnknownNameError, ValidationError
from ..crs import METRIC_CRS, to_metric, transformer
from ..catalog import get_catalog, role_id
from ..io import load, present_layers, read_source_table, source_raster
from ..validate import check_population_raster
from .context import RunCache, memo, path_key
from .grid import cell_centres, cell_fractions, geojson, grid_for_bounds, polygonal, write_geotiff_atomic

__all__ = [
    "PopulationGrid",
    "PopulationPolygons",
    "Pieces",
    "population",
    "model_population",
    "population_variants",
    "population_centres",
    "BUNDLED_CELL_M",
    "POPULATION_COLUMNS",
    "MODEL_PARAMS",
    "MODEL_VARIANTS",
    "UNINHABITED_FACTORS",
]

BUNDLED_CELL_M = 250.0
"""Cell size of the bundled modelled grid, metres (EPSG:4548)."""

POPULATION_COLUMNS = ("population", "pop", "pop_2020", "count", "persons")
"""Columns tried, in order, when a polygon layer is passed without ``column=``."""

MODEL_PARAMS = {
    "settlement_sigma_m": 1500.0,
    "settlement_peak": 20.0,
    "seat_sigma_m": 3000.0,
    "seat_peak": 50.0,
    "core_scale": 1.0,
    "core_radius_scale": 1.0,
    "fringe_peak": 30.0,
    "fringe_scale_m": 3000.0,
    "modis_peak": 0.0,
    "constraints": True,
    "uninhabited": True,
}
"""Parameters of the bundled model (module docstring): kernel widths (m) and peaks (relative weight per cell)."""

MODEL_VARIANTS = {
    "model": {},
    "settlements_only": {"core_scale": 0.0, "fringe_peak": 0.0},
    "cores_wide": {"core_radius_scale": 1.5, "fringe_scale_m": 4500.0},
    "cores_tight": {"core_radius_scale": 0.7, "fringe_scale_m": 2000.0},
    "modis_urban": {"modis_peak": 30.0},
}
"""The default surface (``model``) and the variants coverage ranges are taken over: ``settlements_only`` is the
earlier rule (settlement and seat kernels on land; no urban cores, fringe, township counts or down-weighting);
``cores_wide`` / ``cores_tight`` stretch / shrink the urban cores and the ring-district fringe; ``modis_urban``
adds the bundled MODIS 2019 urban class (0.05° cells) as a weight."""

UNINHABITED_FACTORS = {"port_districts": 0.02, "airport": 0.02, "wetlands": 0.2}
"""Weight multiplier on the share of a cell covered by each layer: port land and the airport hold almost nobody,
wetland reserves few (villages in their experimental zones)."""


def _as_geoms(polygons, crs) -> tuple[np.ndarray, Any]:
    """Polygons (GeoSeries / GeoDataFrame / array + crs) as a geometry array and its CRS."""
    if isinstance(polygons, (gpd.GeoSeries, gpd.GeoDataFrame)):
        if polygons.crs is None:
            raise InputError("the polygons have no CRS; set one (e.g. EPSG:4548) before summing population")
        return np.asarray(polygons.geometry.values, dtype=object), polygons.crs
    geoms = np.asarray(polygons, dtype=object).reshape(-1)
    if crs is None:
        raise InputError("pass crs= with bare shapely polygons")
    return geoms, crs


@dataclass(frozen=True)
class Pieces:
    """Parts of grid cells (cell ∩ district) with their persons: the cells a district boundary or the coast
    crosses, kept whole-district so that zonal sums over district polygons return the census totals.

    Attributes
    ----------
    rows, cols : int arrays, the cell of each piece.
    geoms : shapely polygons (grid CRS).
    persons : float64 persons per piece.
    district : int array, index into the grid's ``district_names``.
    district_geoms : optional, the district polygons (grid CRS) the pieces were cut from: piece ``j`` is the part
        of its cell inside ``district_geoms[district[j]]``. Coverage over exactly these polygons then takes each
        piece's district from ``district`` instead of locating the pieces geometrically.
    """

    rows: np.ndarray
    cols: np.ndarray
    geoms: np.ndarray
    persons: np.ndarray
    district: np.ndarray
    district_geoms: Any = field(default=None, repr=False, compare=False)
    _tree: Any = field(default=None, repr=False, compare=False)

    def weights(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(zone index, piece index, share of the piece's area inside the zone) for every overlapping pair.

        Parameters
        ----------
        geoms : numpy.ndarray
            Zone polygons (shapely), grid CRS.

        Returns
        -------
        zone : numpy.ndarray
            Zone index of each pair.
        piece : numpy.ndarray
            Piece index of each pair.
        share : numpy.ndarray
            Share of the piece's area inside the zone.
        """
        tree = self._tree
        if tree is None:
            tree = shapely.STRtree(self.geoms)
            object.__setattr__(self, "_tree", tree)
        iz, ip = tree.query(geoms, predicate="intersects")
        frac = np.ones(len(iz))
        if len(iz):
            shapely.prepare(geoms)
            inside = shapely.contains(geoms[iz], self.geoms[ip])
            part = np.flatnonzero(~inside)
            if len(part):
                inter = shapely.intersection(self.geoms[ip[part]], geoms[iz[part]])
                frac[part] = shapely.area(inter) / shapely.area(self.geoms[ip[part]])
        return iz, ip, frac

    def zonal_sum(self, geoms: np.ndarray) -> np.ndarray:
        """Persons of the pieces inside each polygon (grid CRS), areal weighting within a piece.

        Parameters
        ----------
        geoms : numpy.ndarray
            Zone polygons (shapely), grid CRS.

        Returns
        -------
        numpy.ndarray
            Persons per polygon.
        """
        iz, ip, frac = self.weights(geoms)
        return np.bincount(iz, weights=self.persons[ip] * frac, minlength=len(geoms))


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
    district : optional int array (rows, cols): index into ``district_names`` of the district holding each
        cell's centre (-1 outside), for the bundled model.
    pieces : for the bundled model, the persons of the cells a district boundary or the coast crosses, kept
        per district piece (``values`` holds their per-cell totals too).
    variant, params : the model variant and its parameters (bundled model).
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
    pieces: Pieces | None = None
    variant: str = ""
    params: dict = field(default_factory=dict)

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
        out = {
            "population_source": self.source,
            "population_year": self.year,
            "population_accuracy": self.accuracy,
            "population_kind": "grid",
        }
        if self.variant:
            out["population_variant"] = self.variant
        return out

    def zonal_sum(self, polygons, crs=None) -> np.ndarray:
        """Persons inside each polygon, partial cells weighted by covered area.

        Parameters
        ----------
        polygons : geopandas.GeoSeries, geopandas.GeoDataFrame or array-like of shapely.Polygon
            Any CRS (projected to the grid's CRS); bare shapely polygons need ``crs``.
        crs : optional
            CRS of bare shapely polygons.

        Returns
        -------
        numpy.ndarray
            Persons per polygon (float).
        """
        return self.zonal_weights(polygons, crs) @ self.vector()

    def same_layout(self, other) -> bool:
        """True when ``other`` has the same cells and pieces, so :meth:`zonal_weights` can be reused.

        Parameters
        ----------
        other : PopulationGrid
            Another grid.

        Returns
        -------
        bool
            True for the same cells and pieces.
        """
        return (
            isinstance(other, PopulationGrid)
            and other.shape == self.shape
            and other.transform == self.transform
            and CRS.from_user_input(other.crs).equals(CRS.from_user_input(self.crs))
            and (
                (self.pieces is None and other.pieces is None)
                or (self.pieces is not None and other.pieces is not None and other.pieces.geoms is self.pieces.geoms)
            )
        )

    def vector(self) -> np.ndarray:
        """Persons of every cell (row-major; cells held by pieces are 0) followed by the persons of the pieces.

        Returns
        -------
        numpy.ndarray
            Persons, cells then pieces.
        """
        values = self.values.ravel()
        if self.pieces is None:
            return values
        values = values.copy()
        values[self.pieces.rows * self.shape[1] + self.pieces.cols] = 0.0
        return np.concatenate([values, self.pieces.persons])

    def zonal_weights(self, polygons, crs=None) -> sparse.csr_matrix:
        """Sparse (polygons × (cells + pieces)) matrix of covered shares: ``zonal_weights(p) @ vector()`` is
        :meth:`zonal_sum`, and the matrix serves every grid of the :meth:`same_layout`.

        Parameters
        ----------
        polygons : geopandas.GeoSeries, geopandas.GeoDataFrame or array-like of shapely.Polygon
            Any CRS (projected to the grid's CRS); bare shapely polygons need ``crs``.
        crs : optional
            CRS of bare shapely polygons.

        Returns
        -------
        scipy.sparse.csr_matrix
            Covered shares, polygons × (cells + pieces).
        """
        geoms, gcrs = _as_geoms(polygons, crs)
        if not CRS.from_user_input(gcrs).equals(CRS.from_user_input(self.crs)):
            geoms = np.asarray(gpd.GeoSeries(geoms, crs=gcrs).to_crs(self.crs).values, dtype=object)
        ncell = self.values.size
        npiece = 0 if self.pieces is None else len(self.pieces.persons)
        zi, cj, ww = [], [], []
        for i, g in enumerate(geoms):  # one rasterisation per zone; the cells are vectorised
            r, c, w = cell_fractions(g, self.transform, self.shape)
            zi.append(np.full(len(r), i))
            cj.append(r * self.shape[1] + c)
            ww.append(w)
        if self.pieces is not None:
            iz, ip, frac = self.pieces.weights(np.asarray([polygonal(g) for g in geoms], dtype=object))
            zi.append(iz)
            cj.append(ncell + ip)
            ww.append(frac)
        zi, cj, ww = (np.concatenate(a) if a else np.empty(0) for a in (zi, cj, ww))
        return sparse.csr_matrix((ww, (zi.astype(np.intp), cj.astype(np.intp))), shape=(len(geoms), ncell + npiece))

    def district_totals(self) -> pd.Series:
        """Persons per district (bundled model only): equals the census totals exactly.

        Returns
        -------
        pandas.Series
            Persons by district name.
        """
        if self.district is None:
            raise InputError("this grid has no district allocation (only the bundled model has one)")
        values, n = self.values, len(self.district_names)
        if self.pieces is not None:
            values = values.copy()
            values[self.pieces.rows, self.pieces.cols] = 0.0
        inside = self.district >= 0
        sums = np.bincount(self.district[inside], weights=values[inside], minlength=n)
        if self.pieces is not None:
            sums += np.bincount(self.pieces.district, weights=self.pieces.persons, minlength=n)
        return pd.Series(sums, index=list(self.district_names), name="population")

    def to_geotiff(self, path: str | Path) -> Path:
        """Write the grid as a float32 GeoTIFF (persons per cell), atomically.

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
            nodata=None,
            tags={"units": "persons per cell", "source": self.source, "year": self.year, "accuracy": self.accuracy},
            band_description="population",
        )


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
        return {
            "population_source": self.source,
            "population_year": self.year,
            "population_accuracy": self.accuracy,
            "population_kind": "polygons (areal weighting)",
        }

    def zonal_sum(self, polygons, crs=None) -> np.ndarray:
        """Persons inside each polygon: Σ count · area(zone ∩ polygon) / area(polygon), areas in the polygons'
        metric CRS (EPSG:4548 in Tianjin).

        Parameters
        ----------
        polygons : geopandas.GeoSeries, geopandas.GeoDataFrame or array-like of shapely.Polygon
            Any CRS (projected to the grid's CRS); bare shapely polygons need ``crs``.
        crs : optional
            CRS of bare shapely polygons.

        Returns
        -------
        numpy.ndarray
            Persons per polygon (float).
        """
        geoms, gcrs = _as_geoms(polygons, crs)
        own = self.polygons.crs or METRIC_CRS
        if not CRS.from_user_input(gcrs).equals(CRS.from_user_input(own)):
            geoms = np.asarray(gpd.GeoSeries(geoms, crs=gcrs).to_crs(own).values, dtype=object)
        src = np.asarray(self.polygons.geometry.values, dtype=object)
        counts = self.polygons[self.column].to_numpy(dtype=float)
        src_area = shapely.area(src)
        iz, ip = shapely.STRtree(src).query(geoms, predicate="intersects")
        inter = shapely.area(shapely.intersection(geoms[iz], src[ip]))
        share = np.divide(inter, src_area[ip], out=np.zeros_like(inter), where=src_area[ip] > 0)
        return np.bincount(iz, weights=counts[ip] * share, minlength=len(geoms))


RASTER_WINDOW_MARGIN_M = 5_000.0
"""Margin around the study area kept when a population raster is read in a window, metres."""


def _study_bounds(window, path) -> tuple[tuple[float, float, float, float] | None, str]:
    """(minx, miny, maxx, maxy) in EPSG:4326 to read a raster in, and a label; ``(None, ...)`` for all of it."""
    if window is None:
        return None, "whole raster"
    if isinstance(window, str):
        from ..paths import default_gpkg

        if path is None and not default_gpkg().exists():  # do not build a GeoPackage just to clip a raster
            return None, f"whole raster (no GeoPackage to read layer {window!r} from)"
        try:
            gdf = load(window, path)
        except Exception as exc:  # noqa: BLE001 - no GeoPackage / layer: read it all, and say so
            return None, f"whole raster (layer {window!r} unavailable: {exc})"
        label = f"window: layer {window!r} + {RASTER_WINDOW_MARGIN_M / 1000:g} km"
    elif isinstance(window, (gpd.GeoDataFrame, gpd.GeoSeries)):
        gdf, label = window, f"window: given areas + {RASTER_WINDOW_MARGIN_M / 1000:g} km"
    else:
        return tuple(float(v) for v in window), "window: given bounds"
    m = to_metric(gdf)
    b = np.asarray(m.total_bounds) + np.array([-1, -1, 1, 1]) * RASTER_WINDOW_MARGIN_M
    return transformer(m.crs, "EPSG:4326").transform_bounds(*b), label


def _grid_from_tif(
    path: Path, year: int | None, accuracy: str, window=None, gpkg: str | Path | None = None
) -> PopulationGrid:
    """Read a population GeoTIFF as float32, only the window covering ``window`` (see :func:`population`)."""
    bounds, label = _study_bounds(window, gpkg)
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InputError(f"population raster {path} has no CRS")
            if src.transform.b != 0 or src.transform.d != 0:
                raise InputError(f"population raster {path} is rotated; warp it north-up first")
            win = None
            if bounds is not None:
                from rasterio.windows import Window, from_bounds

                b = transformer("EPSG:4326", src.crs).transform_bounds(*bounds)
                w = from_bounds(*b, transform=src.transform)
                c0, r0 = int(np.floor(w.col_off)), int(np.floor(w.row_off))
                c1, r1 = int(np.ceil(w.col_off + w.width)), int(np.ceil(w.row_off + w.height))
                c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, src.width), min(r1, src.height)
                if c1 <= c0 or r1 <= r0:
                    raise InputError(
                        f"population raster {path} does not overlap the study area ({label}); pass "
                        f"window=None to read it whole"
                    )
                win = Window(c0, r0, c1 - c0, r1 - r0)
            arr = src.read(1, masked=True, window=win, out_dtype="float32")
            transform = src.transform if win is None else src.window_transform(win)
            crs = src.crs
            tags = src.tags()
            shape_all = (src.height, src.width)
    except rasterio.errors.RasterioIOError as exc:
        if not Path(path).is_file():
            raise MissingFileError(f"no population raster at {path}") from exc
        raise InputError(f"population raster {path} is not a readable raster (GeoTIFF): {exc}") from exc
    check_population_raster(arr, transform, crs, str(path))  # CRS, overlap with Tianjin, nodata share, sign
    values = np.asarray(arr.filled(0.0), dtype=np.float32)
    values[~np.isfinite(values) | (values < 0)] = 0.0
    if transform.e > 0:  # south-up: flip to north-up
        values = values[::-1]
        transform = transform @ Affine.translation(0, values.shape[0]) @ Affine.scale(1, -1)
    return PopulationGrid(
        values=values,
        transform=transform,
        crs=crs,
        source=f"raster:{path.name}",
        year=year if year is not None else _year_from(tags),
        accuracy=accuracy,
        description=f"GeoTIFF {path}, float32, {label}: {values.shape[0]} x {values.shape[1]} of "
        f"{shape_all[0]} x {shape_all[1]} cells",
    )


def _year_from(tags: dict) -> int | None:
    for k in ("year", "YEAR", "TIFFTAG_DATETIME"):
        if k in tags:
            try:
                return int(str(tags[k])[:4])
            except ValueError:
                pass
    return None


def _polygons(
    gdf: gpd.GeoDataFrame, column: str | None, year: int | None, accuracy: str, source: str
) -> PopulationPolygons:
    if column is None:
        column = next((c for c in POPULATION_COLUMNS if c in gdf.columns), None)
        if column is None:
            raise InputError(
                f"population polygons {source}: no count column; pass column= (columns: "
                f"{[c for c in gdf.columns if c != gdf.geometry.name]})"
            )
    if column not in gdf.columns:
        raise UnknownNameError(f"population polygons {source}: no column {column!r}")
    vals = pd.to_numeric(gdf[column], errors="coerce")
    if vals.isna().any():
        bad = list(gdf.index[vals.isna()][:5])
        raise InputError(
            f"population polygons {source}: column {column!r} has missing / non-numeric values (rows {bad})"
        )
    if (vals < 0).any():
        bad = list(gdf.index[vals < 0][:5])
        raise ValidationError(
            f"population polygons {source}: {int((vals < 0).sum())} negative count(s) (rows {bad}); "
            "counts cannot be negative",
            field=column,
            feature=f"row {bad[0]}",
            rule="raster_sign",
        )
    m = to_metric(gdf[[gdf.geometry.name]].assign(**{column: vals.to_numpy(float)}))
    if year is None and column.endswith(("_2020", "2020")):
        year = 2020
    return PopulationPolygons(polygons=m, column=column, source=source, year=year, accuracy=accuracy)


def population(
    source=None,
    *,
    path: str | Path | None = None,
    column: str | None = None,
    year: int | None = None,
    accuracy: str | None = None,
    cell: float = BUNDLED_CELL_M,
    window="boundary",
    cache: RunCache | None = None,
):
    """The population to measure coverage with.

    Parameters
    ----------
    source : None, str, pathlib.Path or geopandas.GeoDataFrame, optional
        ``None`` for the bundled modelled grid (module docstring); a path to a GeoTIFF (persons per cell, any
        CRS); ``"worldpop"``, ``"ghsl"``, ``"globpop"`` or ``"aspect"`` for a grid fetched with
        ``tjspatial population fetch`` (:mod:`tjspatial.analysis.population_fetch`); a polygon GeoDataFrame with
        a count column (areal weighting); or a layer id holding polygons with counts (e.g. the districts,
        column ``pop_2020``).
    path : str or pathlib.Path, optional
        The GeoPackage layers are read from (default ``layers/tianjin.gpkg``).
    column : str, optional
        The count column of polygons, persons (default: the first of :data:`POPULATION_COLUMNS` present).
    year : int, optional
        Year the counts are for, to label the result (default 2020 for the bundled grid).
    accuracy : str, optional
        Accuracy class to label the result (default ``modelled`` for the bundled grid).
    cell : float, optional
        Cell size of the bundled grid, metres (in the metric CRS, EPSG:4548 for Tianjin).
    window : str, geopandas.GeoDataFrame, tuple of float or None, default "boundary"
        GeoTIFFs only: the part of the raster read (float32), so that a national raster costs what the
        study area needs: ``"boundary"`` (the extent of that layer of ``path`` plus 5 km; the whole raster if
        the layer cannot be read), another layer id, a GeoDataFrame, ``(minx, miny, maxx, maxy)`` in degrees,
        or ``None`` for the whole raster. Coverage warns when an area reaches beyond the grid read.
    cache : RunCache, optional
        The run's memo (:mod:`tjspatial.analysis.context`): the bundled model is built once per run.

    Returns
    -------
    PopulationGrid or PopulationPolygons
        Both have ``zonal_sum(polygons) -> ndarray``, ``total`` and ``attrs``.
    """
    if source is None:
        return model_population(path=path, cell=cell, cache=cache)
    if isinstance(source, gpd.GeoDataFrame):
        return _polygons(source, column, year, accuracy or "derived", source.attrs.get("layer", "polygons"))
    if isinstance(source, str) and not Path(source).exists():
        from .population_fetch import PRODUCTS, cached_grid

        if source in PRODUCTS:  # a grid fetched with `tjspatial population fetch`
            prod = PRODUCTS[source]
            g = _grid_from_tif(cached_grid(source), year if year is not None else prod.year, accuracy or "derived")
            return replace(g, source=f"{prod.title} ({prod.licence}), fetched and clipped to Tianjin")
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.suffix.lower() in (".tif", ".tiff", ".vrt") or p.is_file():
            if not p.is_file():
                raise MissingFileError(f"no population raster at {p}")
            return _grid_from_tif(p, year, accuracy or "derived", window, path)
        gdf = load(str(source), path)
        return _polygons(gdf, column, year, accuracy or gdf.attrs.get("accuracy", "derived"), f"layer:{source}")
    raise TypeError(
        f"population source must be None, a GeoTIFF path, a layer id or a GeoDataFrame, not {type(source).__name__}"
    )


def _points_district(pts: np.ndarray, dgeoms: np.ndarray) -> np.ndarray:
    """Index of the district polygon holding each point (-1 outside every district)."""
    out = np.full(len(pts), -1, dtype=np.intp)
    if not len(pts):
        return out
    ip, idist = shapely.STRtree(dgeoms).query(shapely.points(pts), predicate="intersects")
    out[ip] = idist
    return out


def _add_kernel(
    weight: np.ndarray,
    tree: cKDTree,
    uxy: np.ndarray,
    udist: np.ndarray,
    pts: np.ndarray,
    pdist: np.ndarray,
    reach: np.ndarray,
    value,
) -> None:
    """Add ``value(d, k)`` (d: metres to point ``k``) to the units within ``reach[k]`` of each point, only to
    units of the point's own district (a kernel never crosses a district boundary), vectorised."""
    ok = pdist >= 0
    pts, pdist, reach, ks = pts[ok], pdist[ok], reach[ok], np.flatnonzero(ok)
    if not len(pts):
        return
    hits = [tree.query_ball_point(p, r=r) for p, r in zip(pts, reach)]
    lens = np.fromiter((len(h) for h in hits), dtype=np.intp, count=len(hits))
    if not lens.sum():
        return
    cells = np.concatenate([np.asarray(h, dtype=np.intp) for h in hits])
    src = np.repeat(np.arange(len(pts)), lens)
    same = udist[cells] == pdist[src]
    cells, src = cells[same], src[same]
    d = np.sqrt(((uxy[cells] - pts[src]) ** 2).sum(axis=1))
    np.add.at(weight, cells, value(d, ks[src]))


def population_centres(path: str | Path | None = None) -> pd.DataFrame:
    """The urban centres of the ``population_centres`` table (Binhai's urban cores with the published 2020
    township counts where there is one), with ``x, y`` in EPSG:4548.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The GeoPackage holding the table (default ``layers/tianjin.gpkg``).

    Returns
    -------
    pandas.DataFrame
        One row per centre, ``x``/``y`` in metres.
    """
    df = read_source_table("population_centres", path, dtype={"census_2020": "Int64"})
    xy = gpd.GeoSeries(gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326").to_crs(METRIC_CRS)
    return df.assign(x=xy.x.to_numpy(), y=xy.y.to_numpy())


def _units(districts: gpd.GeoDataFrame, transform: Affine, shape: tuple[int, int], cell: float):
    """Allocation units: whole cells inside one district, and pieces (cell ∩ district) of the cells a district
    boundary or the coast crosses. Returns (idx, rows, cols, district, area_fraction, piece geometries or None)."""
    dgeoms = np.asarray(districts.geometry.values, dtype=object)
    idx = rasterio.features.rasterize(
        [(geojson(g), i) for i, g in enumerate(dgeoms)],
        out_shape=shape,
        transform=transform,
        fill=-1,
        all_touched=False,
        dtype="int32",
    )
    edge = rasterio.features.rasterize(
        [(geojson(shapely.boundary(g)), 1) for g in dgeoms],
        out_shape=shape,
        transform=transform,
        fill=0,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    pr, pc = np.nonzero(~edge & (idx >= 0))
    sr, sc = np.nonzero(edge)
    boxes = _cell_boxes(transform, sr, sc)
    ib, idist = shapely.STRtree(dgeoms).query(boxes, predicate="intersects")
    pieces = shapely.intersection(boxes[ib], dgeoms[idist])
    pieces = np.asarray([g if shapely.get_type_id(g) in (3, 6) else polygonal(g) for g in pieces], dtype=object)
    frac = shapely.area(pieces) / (cell * cell)
    keep = frac > 1e-9
    rows = np.concatenate([pr, sr[ib][keep]])
    cols = np.concatenate([pc, sc[ib][keep]])
    dist = np.concatenate([idx[pr, pc], idist[keep]]).astype(np.intp)
    afrac = np.concatenate([np.ones(len(pr)), frac[keep]])
    # every district is tiled by its whole cells and pieces: a cell missed by the boundary rasterisation
    # would lose or double-count people, so check the areas
    got = np.bincount(dist, weights=afrac * cell * cell, minlength=len(dgeoms))
    want = shapely.area(dgeoms)
    if not np.allclose(got, want, rtol=1e-6):
        bad = list(districts["name_zh"].to_numpy()[~np.isclose(got, want, rtol=1e-6)])
        _refuse_overlaps(districts, dgeoms)  # the usual cause: an imported districts layer whose areas overlap
        raise RuntimeError(f"population model: cells and pieces do not tile district(s) {bad}")
    return idx, rows, cols, dist, afrac, pieces[keep], len(pr)


def _refuse_overlaps(districts: gpd.GeoDataFrame, dgeoms: np.ndarray, min_km2: float = 0.01) -> None:
    """Raise :class:`InputError` naming the layer, the pairs of districts that overlap by ``min_km2`` or more
    (every overlap when none is that large) and the overlap areas (km², largest first); each cell's people go to
    one district, so the model needs districts that do not overlap."""
    a, b = shapely.STRtree(dgeoms).query(dgeoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    km2 = shapely.area(shapely.intersection(dgeoms[a], dgeoms[b])) / 1e6
    if not len(km2) or km2.max() < 1e-6:
        return
    big = km2 >= min_km2 if km2.max() >= min_km2 else km2 >= 1e-6  # slivers only when nothing larger overlaps
    order = np.argsort(-km2[big], kind="stable")
    a, b, km2 = a[big][order], b[big][order], km2[big][order]
    names = districts["name_zh"].astype(str).to_numpy()
    pairs = [f"{names[i]} ∩ {names[j]} {k:.3g} km²" for i, j, k in zip(a, b, km2)]
    raise InputError(
        f"layer 'districts': {len(pairs)} pair(s) of districts overlap: {', '.join(pairs)}; the population model "
        "gives each cell's people to one district, so districts must not overlap (fix the layer, e.g. the file "
        "given to `tjspatial import-layer districts`)"
    )


def _cell_boxes(transform: Affine, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    x0 = transform.c + cols * transform.a
    y1 = transform.f + rows * transform.e
    return shapely.box(x0, y1 + transform.e, x0 + transform.a, y1)


def _layer_fraction(layer: str, path, transform: Affine, shape: tuple[int, int]) -> np.ndarray | None:
    """Share of every cell covered by the polygons of ``layer`` (None if the layer is not available)."""
    if layer not in present_layers(path):
        return None
    gdf = to_metric(load(layer, path))
    gdf = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
    out = np.zeros(shape)
    if len(gdf):
        r, c, w = cell_fractions(shapely.union_all(np.asarray(gdf.geometry.values)), transform, shape)
        out[r, c] = w
    return out


def _largest_remainder(group: np.ndarray, totals: np.ndarray, weight: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Whole persons per unit: ``totals[g]`` spread over the units of group ``g`` in proportion to ``weight``
    (by area where a group's weights are all 0), rounded by largest remainder so each group sums exactly."""
    n = len(totals)
    wsum = np.bincount(group, weights=weight, minlength=n)
    weight = np.where(wsum[group] > 0, weight, area)
    wsum = np.bincount(group, weights=weight, minlength=n)
    exact = totals[group] * weight / wsum[group]
    persons = np.floor(exact)
    short = totals - np.bincount(group, weights=persons, minlength=n).round().astype(np.int64)
    order = np.lexsort((-(exact - persons), group))
    first = np.searchsorted(group[order], np.arange(n))
    rank = np.arange(len(order)) - first[group[order]]
    persons[order[rank < short[group[order]]]] += 1.0
    return persons


@dataclass
class _Prepared:
    """What every variant of the model shares: the allocation units, land shares and kernel points."""

    districts: gpd.GeoDataFrame
    transform: Affine
    shape: tuple
    idx: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    udist: np.ndarray
    afrac: np.ndarray
    pieces: np.ndarray
    n_whole: int
    uxy: np.ndarray
    tree: Any
    water: np.ndarray
    uninhabited: dict
    notes: list
    kernels: dict
    centres: pd.DataFrame
    cdist: np.ndarray
    ring: np.ndarray
    ring_dist: np.ndarray | None


def _prepare(path, cell: float) -> _Prepared:
    districts = to_metric(load(role_id("district_areas"), path))
    bad = districts["pop_2020"].isna() | (districts["pop_2020"] < 0)
    if bad.any():
        raise InputError(f"layer 'districts', field 'pop_2020': missing for {list(districts.loc[bad, 'name_zh'])}")
    dnames = districts["name_zh"].to_numpy()
    dgeoms = np.asarray(districts.geometry.values, dtype=object)
    transform, shape = grid_for_bounds(districts.total_bounds, cell)
    idx, rows, cols, udist, afrac, pieces, n_whole = _units(districts, transform, shape, cell)
    x, y = cell_centres(transform, shape)
    uxy = np.column_stack([x[rows, cols], y[rows, cols]])
    ncell = np.bincount(udist, weights=afrac, minlength=len(districts))
    if (ncell == 0).any():
        raise InputError(
            f"layer 'districts': no {cell:g} m cell falls inside "
            f"{list(districts.loc[ncell == 0, 'name_zh'])}; use a smaller cell"
        )
    notes = []
    water_bodies = get_catalog().with_role("water_bodies")
    wf = _layer_fraction(water_bodies[0].id, path, transform, shape) if water_bodies else None
    water = np.zeros(len(rows)) if wf is None else wf[rows, cols]
    uninhabited = {}
    for layer in UNINHABITED_FACTORS:
        f = _layer_fraction(layer, path, transform, shape)
        if f is None:
            notes.append(f"{layer} not available")
        else:
            uninhabited[layer] = f[rows, cols]
    kernels = {}
    for role in ("place_names", "town_seats"):  # settlement points and town seats (tjspatial.catalog.ROLES)
        pts = shapely.get_coordinates(to_metric(load(role_id(role), path)).geometry.values)
        kernels[role] = (pts, _points_district(pts, dgeoms))
    centres = population_centres(path)
    cdist = np.asarray(
        [np.flatnonzero(dnames == d)[0] if (dnames == d).any() else -1 for d in centres["district_zh"]], dtype=np.intp
    )
    ring, ring_dist = np.zeros(len(rows), bool), None
    if "zone" in districts.columns:
        core_city = districts["zone"].to_numpy() == "中心城区"
        ring = np.isin(udist, np.flatnonzero(districts["zone"].to_numpy() == "环城四区"))
        if core_city.any() and ring.any():
            cc = shapely.union_all(dgeoms[core_city])
            shapely.prepare(cc)
            ring_dist = shapely.distance(shapely.points(uxy[ring]), cc)
    return _Prepared(
        districts,
        transform,
        shape,
        idx,
        rows,
        cols,
        udist,
        afrac,
        pieces,
        n_whole,
        uxy,
        cKDTree(uxy),
        water,
        uninhabited,
        notes,
        kernels,
        centres,
        cdist,
        ring,
        ring_dist,
    )


def model_population(
    *,
    path: str | Path | None = None,
    cell: float = BUNDLED_CELL_M,
    variant: str = "model",
    _prep: _Prepared | None = None,
    cache: RunCache | None = None,
    **params,
) -> PopulationGrid:
    """Build the bundled modelled population grid (see the module docstring for the rule).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (districts with ``pop_2020``, water, settlements, town seats;
        port districts, airport, wetlands when present).
    cell : float, optional
        Cell size, metres (the metric CRS, EPSG:4548 for Tianjin).
    variant : str, default "model"
        A key of :data:`MODEL_VARIANTS` (``model`` is the default surface; the others are the variants the
        coverage ranges are taken over).
    cache : RunCache, optional
        The run's memo (:mod:`tjspatial.analysis.context`): the allocation units and land shares are prepared
        once per GeoPackage and cell, and each variant is built once.
    _prep : optional
        Internal: inputs prepared once and shared by the variants.
    **params
        Override single parameters of :data:`MODEL_PARAMS`.

    Returns
    -------
    PopulationGrid
        Whole persons; every district sums exactly to its census total, every published township count is
        met exactly inside its constraint zone, and :meth:`PopulationGrid.zonal_sum` of a district polygon
        returns the census total (cells the boundary or coast splits are kept as pieces).
    """
    if variant not in MODEL_VARIANTS:
        raise InputError(f"unknown population model variant {variant!r}; use one of {list(MODEL_VARIANTS)}")
    unknown = set(params) - set(MODEL_PARAMS)
    if unknown:
        raise TypeError(f"model_population: unknown parameter(s) {sorted(unknown)}; known: {list(MODEL_PARAMS)}")
    p = {**MODEL_PARAMS, **MODEL_VARIANTS[variant], **params}
    if cache is None:
        return _model(path, cell, variant, p, _prep if _prep is not None else _prepare(path, cell))
    key = ("population_model", path_key(path), float(cell), variant, tuple(sorted(p.items())))
    return cache.get(
        key, lambda: _model(path, cell, variant, p, _prep if _prep is not None else _units_of(path, cell, cache))
    )


def _units_of(path, cell: float, cache: RunCache | None) -> _Prepared:
    """The model's allocation units and land shares, prepared once per run (GeoPackage and cell)."""
    return memo(cache, ("population_units", path_key(path), float(cell)), lambda: _prepare(path, cell))


def _model(path, cell: float, variant: str, p: dict, q: _Prepared) -> PopulationGrid:
    """The model grid of :func:`model_population` with the parameters ``p``, from the prepared units ``q``."""
    districts, udist, uxy, tree = q.districts, q.udist, q.uxy, q.tree
    dnames = districts["name_zh"].to_numpy()

    # habitable share of each unit: land (not water), and land no one lives on down-weighted
    habit = 1.0 - q.water
    if p["uninhabited"]:
        for layer, f in q.uninhabited.items():
            habit = habit * (1.0 - (1.0 - UNINHABITED_FACTORS[layer]) * f)

    weight = np.ones(len(q.rows))

    def gauss(peak, sigma):
        return lambda d, k: peak * np.exp(-d * d / (2 * sigma * sigma))

    for role, key in (("place_names", "settlement"), ("town_seats", "seat")):
        pts, pdist = q.kernels[role]
        sigma = p[f"{key}_sigma_m"]
        _add_kernel(weight, tree, uxy, udist, pts, pdist, np.full(len(pts), 3 * sigma), gauss(p[f"{key}_peak"], sigma))
    centres, cdist = q.centres, q.cdist
    cpts = centres[["x", "y"]].to_numpy()
    if p["core_scale"] > 0:
        radius = centres["radius_km"].to_numpy(float) * 1000 * p["core_radius_scale"]
        peak = centres["peak"].to_numpy(float) * p["core_scale"]
        _add_kernel(
            weight, tree, uxy, udist, cpts, cdist, 2 * radius, lambda d, k: peak[k] / (1 + (d / radius[k]) ** 6)
        )
    if p["fringe_peak"] > 0 and q.ring_dist is not None:
        weight[q.ring] += p["fringe_peak"] * np.exp(-q.ring_dist / p["fringe_scale_m"])
    if p["modis_peak"] > 0:
        weight += p["modis_peak"] * _modis_urban(uxy, path)
    weight *= habit * q.afrac

    # groups: a constraint zone per published township count, the rest of each district
    group = udist.copy()
    totals = list(districts["pop_2020"].to_numpy(dtype=np.int64))
    constrained = centres[centres["census_2020"].notna() & (cdist >= 0)] if p["constraints"] else centres.iloc[0:0]
    if len(constrained):
        k_idx = constrained.index.to_numpy()
        dmin, near = cKDTree(cpts[k_idx]).query(uxy)
        kr = constrained["radius_km"].to_numpy(float)[near] * 1000
        member = (dmin <= kr) & (udist == cdist[k_idx][near])
        for j, k in enumerate(k_idx):
            sel = member & (near == j)
            if not sel.any():
                raise InputError(
                    f"population_centres: no cell of {centres.at[k, 'district_zh']} within "
                    f"{centres.at[k, 'radius_km']} km of {centres.at[k, 'name_zh']}"
                )
            group[sel] = len(totals)
            totals.append(int(centres.at[k, "census_2020"]))
            totals[cdist[k]] -= int(centres.at[k, "census_2020"])
        if min(totals) < 0:
            raise InputError("population_centres: township counts exceed their district's census total")
    persons = _largest_remainder(group, np.asarray(totals, dtype=np.int64), weight, q.afrac)

    values = np.zeros(q.shape)
    np.add.at(values, (q.rows, q.cols), persons)
    nw = q.n_whole
    pc = Pieces(
        rows=q.rows[nw:],
        cols=q.cols[nw:],
        geoms=q.pieces,
        persons=persons[nw:],
        district=udist[nw:],
        district_geoms=np.asarray(districts.geometry.values, dtype=object),
    )
    notes = q.notes if p["uninhabited"] else []
    desc = (
        f"{cell:g} m modelled grid, EPSG:4548, variant {variant!r}: 2020 census district totals spread over "
        f"land (water excluded; port land, airport, wetland reserves down-weighted) by settlements "
        f"(σ {p['settlement_sigma_m'] / 1000:g} km), district seats (σ {p['seat_sigma_m'] / 1000:g} km), urban "
        f"cores (population_centres.csv, radius ×{p['core_radius_scale']:g}), the central-city fringe of the "
        f"ring districts (scale {p['fringe_scale_m'] / 1000:g} km)"
        + (", MODIS urban" if p["modis_peak"] > 0 else "")
        + (f"; {len(constrained)} published township counts held exactly" if len(constrained) else "")
        + "; kernels stay inside their district; sums to the census totals by district"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
    return PopulationGrid(
        values=values,
        transform=q.transform,
        crs=METRIC_CRS,
        source=f"tjspatial modelled grid ({variant}): 2020 census district totals spread by settlements, "
        "urban cores and land",
        year=2020,
        accuracy="modelled",
        district=q.idx,
        district_names=tuple(dnames),
        description=desc,
        pieces=pc,
        variant=variant,
        params=p,
    )


def _modis_urban(uxy: np.ndarray, path) -> np.ndarray:
    """1 where the bundled MODIS 2019 land cover (0.05°) is urban (IGBP 13), else 0, at EPSG:4548 points."""
    f = source_raster("landcover_modis", path)  # the bundled GeoTIFF, copied into the GeoPackage
    # the coordinates alone, through the transformer GeoSeries.to_crs would use (no point objects: 10x faster)
    to_ll = transformer(METRIC_CRS, "EPSG:4326")
    lon, lat = to_ll.transform(np.ascontiguousarray(uxy[:, 0]), np.ascontiguousarray(uxy[:, 1]))
    with rasterio.open(f) as src:
        arr = src.read(1)
        r, c = rasterio.transform.rowcol(src.transform, lon, lat)
    r, c = np.asarray(r), np.asarray(c)
    ok = (r >= 0) & (r < arr.shape[0]) & (c >= 0) & (c < arr.shape[1])
    out = np.zeros(len(uxy))
    out[ok] = arr[r[ok], c[ok]] == 13
    return out


def population_variants(
    path: str | Path | None = None, *, cell: float = BUNDLED_CELL_M, variants=None, cache: RunCache | None = None
) -> dict[str, PopulationGrid]:
    """The default model and its variants (:data:`MODEL_VARIANTS`), for coverage ranges.

    Parameters
    ----------
    path : str, Path or GeoPackage, optional
        GeoPackage the layers are read from.
    cell : float
        Cell size, metres.
    variants : sequence of str, optional
        Keys of :data:`MODEL_VARIANTS` (default all).
    cache : RunCache, optional
        The run's memo: the ``model`` variant is then the grid ``tj.population(path=path, cache=cache)`` gave.

    Returns
    -------
    dict of str to PopulationGrid
        Variant name → grid, sharing one set of allocation units (one grid layout).
    """
    prep = _units_of(path, cell, cache)  # the units and land shares are built once for all variants
    return {
        v: model_population(path=path, cell=cell, variant=v, _prep=prep, cache=cache)
        for v in (variants or MODEL_VARIANTS)
    }
