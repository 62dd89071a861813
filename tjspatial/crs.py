"""Coordinate reference systems: storage, measurement, and the Chinese web offsets.

tjspatial stores every layer in EPSG:4326 (WGS84 lon/lat) and measures (distance, area, buffers) in
EPSG:4548, CGCS2000 / 3-degree Gauss-Krüger CM 117E, whose central meridian runs through Tianjin. Data
elsewhere is measured in its own zone (:func:`metric_crs_for`: the CGCS2000 3-degree zone nearest its
longitude, EPSG:4534-4554, or UTM outside China), so that a metre stays a metre.

Chinese web maps (Amap/GaoDe, Tencent, Tianditu mirrors of them) publish GCJ-02 coordinates, offset from
WGS84 by about 550 m in Tianjin; Baidu publishes BD-09, a further offset of GCJ-02. This module is the one
place that converts between them and that detects a layer which is probably GCJ-02.

All conversions are vectorised over numpy arrays. Outside China the GCJ-02 functions return their input
unchanged, as the published algorithm does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from .errors import TjSpatialError

__all__ = [
    "STORAGE_CRS",
    "METRIC_CRS",
    "CRSError",
    "to_metric",
    "metric_crs_for",
    "transformer",
    "GK_ZONES",
    "to_storage",
    "require_metric",
    "buffer_m",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "convert_gdf",
    "GcjCheck",
    "check_gcj02",
    "REFERENCE_POINTS",
    "reference_points",
]

STORAGE_CRS = "EPSG:4326"
"""The CRS every layer is stored in (WGS84 longitude/latitude)."""

METRIC_CRS = "EPSG:4548"
"""The CRS every measurement is made in (CGCS2000 / 3-degree Gauss-Krüger CM 117E, metres)."""

# Named reference points: OSM positions (WGS84) of stations that any Tianjin layer of stations will hold.
REFERENCE_POINTS: dict[str, tuple[float, float]] = {
    "天津站": (117.20368, 39.13575),
    "天津西站": (117.15712, 39.15736),
    "天津南站": (117.0545, 39.0561),
    "滨海站": (117.678763, 39.003681),
}


class CRSError(TjSpatialError, ValueError):
    """Raised when geometry is in a CRS that the operation must not be done in."""


# ---------------------------------------------------------------------------------------------------------
# projection helpers


def transformer(src, dst) -> Transformer:
    """A pyproj ``Transformer`` from ``src`` to ``dst`` (anything ``pyproj.CRS.from_user_input`` takes), x/y
    in lon/lat order (``always_xy``), created once per pair of CRSs and reused.

    Creating one between CGCS2000 (EPSG:4490, 4534-4554) and WGS84 costs ~0.1 s (PROJ searches the datum
    transformations) while using it costs microseconds; geopandas' ``to_crs`` memoises the same way.
    pyproj transformers are thread-safe (one PROJ context per thread).

    Parameters
    ----------
    src, dst : str, int, pyproj.CRS or rasterio CRS
        Source and target CRS.

    Returns
    -------
    pyproj.Transformer
        The shared transformer (do not modify it).
    """
    return _transformer(CRS.from_user_input(src), CRS.from_user_input(dst))


@lru_cache(maxsize=64)
def _transformer(src: CRS, dst: CRS) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _centre_lonlat(data) -> tuple[float, float] | None:
    """Centre (lon, lat) of the bounding box of ``data``: a GeoDataFrame / GeoSeries (any CRS), bounds
    ``(minx, miny, maxx, maxy)`` in degrees, or a longitude. ``None`` when there is nothing to locate."""
    if isinstance(data, (int, float, np.floating, np.integer)):
        return float(data), 35.0
    if isinstance(data, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if data.crs is None:
            raise CRSError("the data has no CRS; set it (e.g. gdf.set_crs('EPSG:4326')) before choosing a metric CRS")
        geoms = data.geometry.values if isinstance(data, gpd.GeoDataFrame) else data.values
        ok = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
        if not ok.any():
            return None
        b = shapely.total_bounds(geoms[ok])
        crs = CRS.from_user_input(data.crs)
        if not crs.is_geographic:
            b = transformer(crs, "EPSG:4326").transform_bounds(*b)
        data = b
    minx, miny, maxx, maxy = (float(v) for v in data)
    if not all(np.isfinite([minx, miny, maxx, maxy])):
        return None
    return (minx + maxx) / 2, (miny + maxy) / 2


GK_ZONES = {cm: f"EPSG:{4534 + (cm - 75) // 3}" for cm in range(75, 136, 3)}
"""CGCS2000 / 3-degree Gauss-Krüger CM zones (EPSG:4534-4554), by central meridian (75°E ... 135°E)."""


def metric_crs_for(data) -> str:
    """The metric CRS to measure ``data`` in: the CGCS2000 3-degree Gauss-Krüger zone (EPSG:4534-4554) whose
    central meridian is nearest the centre of the data's extent; outside China (longitude 73.5-136.5°E,
    latitude 15-55°N), the WGS84 UTM zone. Tianjin (116.7-118.1°E) gives EPSG:4548, :data:`METRIC_CRS`.

    Within 1.5° of the central meridian a distance is off by at most ~0.03 % (Gauss-Krüger scale error
    ``(Δλ cos φ)² / 2``); a fixed CM 117°E zone makes an 800 m radius ~815 m at Chengdu (104°E) and ~856 m
    at Urumqi (87.6°E).

    Parameters
    ----------
    data : geopandas.GeoDataFrame, geopandas.GeoSeries, tuple of float or float
        Data in any CRS, its ``(minx, miny, maxx, maxy)`` bounds in degrees, or a longitude (degrees).
        Empty data gives :data:`METRIC_CRS`.

    Returns
    -------
    str
        ``"EPSG:45xx"`` (CGCS2000 3-degree Gauss-Krüger zone) or ``"EPSG:326xx"``/``"EPSG:327xx"`` (UTM);
        units metres.
    """
    c = _centre_lonlat(data)
    if c is None:
        return METRIC_CRS
    lon, lat = c
    if 73.5 <= lon <= 136.5 and 15.0 <= lat <= 55.0:
        cm = int(min(max(round(lon / 3.0) * 3, 75), 135))
        return GK_ZONES[cm]
    zone = int(min(max((lon + 180.0) // 6 + 1, 1), 60))
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def to_metric(gdf: gpd.GeoDataFrame, crs: str | None = None) -> gpd.GeoDataFrame:
    """Return ``gdf`` projected to a metric CRS: ``crs`` if given, else the one that follows the data
    (:func:`metric_crs_for`: EPSG:4548 for anything centred in Tianjin's zone, CM 117°E).

    Data already in the target CRS is returned as is; so is data already in :data:`METRIC_CRS` (EPSG:4548) when
    no ``crs`` is given — it was put there on purpose, and results stay those of earlier versions.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Data in any CRS (it must have one), usually EPSG:4326 as stored.
    crs : str, optional
        Target metric CRS (e.g. ``"EPSG:4548"``), units metres. Default: :func:`metric_crs_for` ``(gdf)``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``gdf`` in the metric CRS (coordinates in metres); the same object when no projection was needed.

    Raises
    ------
    CRSError
        If ``gdf`` has no CRS: a GeoDataFrame without one cannot be measured safely.
    """
    if gdf.crs is None:
        raise CRSError("the GeoDataFrame has no CRS; set it (e.g. gdf.set_crs('EPSG:4326')) before measuring")
    if crs is None and _same_crs(gdf.crs, METRIC_CRS):
        return gdf
    target = metric_crs_for(gdf) if crs is None else crs
    if _same_crs(gdf.crs, target):
        return gdf
    return gdf.to_crs(target)


def _same_crs(a, b) -> bool:
    return CRS.from_user_input(a) == CRS.from_user_input(b)


def to_storage(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``gdf`` in the storage CRS, EPSG:4326.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Data in any CRS (it must have one).

    Returns
    -------
    geopandas.GeoDataFrame
        ``gdf`` in EPSG:4326 (the same object when already there).

    Raises
    ------
    CRSError
        ``gdf`` has no CRS.
    """
    if gdf.crs is None:
        raise CRSError("the GeoDataFrame has no CRS; set it before converting to EPSG:4326")
    if CRS.from_user_input(gdf.crs) == CRS.from_user_input(STORAGE_CRS):
        return gdf
    return gdf.to_crs(STORAGE_CRS)


def require_metric(gdf: gpd.GeoDataFrame | gpd.GeoSeries, what: str = "this operation") -> None:
    """Raise :class:`CRSError` unless ``gdf`` is in a projected CRS with metre units other than Web Mercator.

    Buffers and areas in degrees are meaningless, and EPSG:3857 inflates distances by 1/cos(lat) (about 29 %
    in Tianjin), so both are refused.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or geopandas.GeoSeries
        The data about to be measured.
    what : str, default "this operation"
        What needs metres, named in the error.

    Raises
    ------
    CRSError
        No CRS, a geographic CRS (degrees), units other than metres, or Web Mercator.
    """
    if gdf.crs is None:
        raise CRSError(f"{what} needs a CRS; the geometry has none")
    crs = CRS.from_user_input(gdf.crs)
    if crs.is_geographic:
        raise CRSError(
            f"{what} must not be done in a geographic CRS ({crs.to_string()}): degrees are not "
            f"distances. Project first with tjspatial.crs.to_metric (EPSG:4548)."
        )
    if crs.to_epsg() in (3857, 900913, 3785):
        raise CRSError(
            f"{what} must not be done in Web Mercator ({crs.to_string()}): it stretches distances by "
            f"about 29 % at Tianjin's latitude. Project with tjspatial.crs.to_metric (EPSG:4548)."
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in ("metre", "meter"):
        raise CRSError(f"{what} needs a CRS in metres; {crs.to_string()} uses {unit!r}")


def buffer_m(gdf: gpd.GeoDataFrame | gpd.GeoSeries, distance: float, **kwargs) -> gpd.GeoSeries:
    """Buffer geometries by ``distance`` metres; the input must already be in a metric CRS.

    Parameters
    ----------
    gdf : GeoDataFrame or GeoSeries
        Geometries in a metric CRS (e.g. EPSG:4548).
    distance : float
        Buffer distance, metres.
    **kwargs
        Passed to :meth:`geopandas.GeoSeries.buffer` (e.g. ``resolution``).

    Returns
    -------
    GeoSeries
        The buffers, in the input's CRS.

    Raises
    ------
    CRSError
        For geographic or Web Mercator input (use :func:`to_metric` first).
    """
    require_metric(gdf, f"buffering by {distance} m")
    return gdf.buffer(distance, **kwargs)


# ---------------------------------------------------------------------------------------------------------
# GCJ-02 / BD-09 (published algorithm, vectorised)

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _as_arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    if lon.shape != lat.shape:
        raise CRSError(f"lon and lat differ in shape: {lon.shape} vs {lat.shape}")
    return lon, lat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 lon/lat (degrees, arrays or scalars) to GCJ-02. Points outside China are unchanged.

    Parameters
    ----------
    lon, lat : float or array-like
        Longitude and latitude, degrees (WGS84); scalars or arrays of one shape.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in degrees (GCJ-02).
    """
    lon, lat = _as_arrays(lon, lat)
    dlon, dlat = _gcj_delta(lon, lat)
    out = _out_of_china(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


def gcj02_to_wgs84(lon, lat, tol_deg: float = 1e-10, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat to WGS84 by fixed-point iteration of the forward transform.

    The iteration stops when every point moves less than ``tol_deg`` degrees (1e-10° ≈ 0.01 mm); the round
    trip ``gcj02_to_wgs84(*wgs84_to_gcj02(x, y))`` is then within millimetres of ``(x, y)``.

    Parameters
    ----------
    lon, lat : float or array-like
        Longitude and latitude, degrees (GCJ-02); scalars or arrays of one shape.
    tol_deg : float
        Convergence tolerance, degrees.
    max_iter : int
        Most iterations.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in degrees (WGS84).
    """
    glon, glat = _as_arrays(lon, lat)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.all(np.abs(elon) < tol_deg) and np.all(np.abs(elat) < tol_deg):
            break
    out = _out_of_china(glon, glat)
    return np.where(out, glon, wlon), np.where(out, glat, wlat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat to Baidu BD-09.

    Parameters
    ----------
    lon, lat : float or array-like
        Longitude and latitude, degrees (GCJ-02); scalars or arrays of one shape.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in degrees (BD-09).
    """
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert Baidu BD-09 lon/lat to GCJ-02 (the published closed-form inverse, error < 1 m).

    Parameters
    ----------
    lon, lat : float or array-like
        Longitude and latitude, degrees (BD-09); scalars or arrays of one shape.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in degrees (GCJ-02).
    """
    lon, lat = _as_arrays(lon, lat)
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 lon/lat to BD-09 (through GCJ-02).

    Parameters
    ----------
    lon, lat : array-like of float
        WGS84 longitude and latitude, degrees (same shape).

    Returns
    -------
    lon, lat : numpy.ndarray
        BD-09 longitude and latitude, degrees.
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 lon/lat to WGS84 (through GCJ-02).

    Parameters
    ----------
    lon, lat : array-like of float
        BD-09 longitude and latitude, degrees (same shape).

    Returns
    -------
    lon, lat : numpy.ndarray
        WGS84 longitude and latitude, degrees (the GCJ-02 inverse is iterated to within millimetres).
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_CONVERSIONS = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}


def _convert_geoms(geoms: np.ndarray, func) -> np.ndarray:
    def _xy(coords: np.ndarray) -> np.ndarray:
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, _xy)


def convert_gdf(gdf: gpd.GeoDataFrame | gpd.GeoSeries, src: str, dst: str):
    """Convert the geometry of a lon/lat GeoDataFrame (or GeoSeries) between ``wgs84``, ``gcj02`` and ``bd09``.

    The CRS label stays EPSG:4326 (GCJ-02 and BD-09 have no EPSG code; they are lon/lat with an offset).
    The input must be in a geographic lon/lat CRS; a projected input raises :class:`CRSError`.

    Parameters
    ----------
    gdf : GeoDataFrame or GeoSeries
        Lon/lat geometries.
    src, dst : {"wgs84", "gcj02", "bd09"}
        The datum offsets to convert from and to.

    Returns
    -------
    GeoDataFrame or GeoSeries
        A converted copy (same type as ``gdf``).
    """
    key = (src.lower(), dst.lower())
    if key[0] == key[1]:
        return gdf.copy()
    if key not in _CONVERSIONS:
        raise CRSError(f"unknown conversion {src} → {dst}; use wgs84, gcj02 or bd09")
    if gdf.crs is not None and not CRS.from_user_input(gdf.crs).is_geographic:
        raise CRSError(f"{src} → {dst} converts lon/lat; the data is in {gdf.crs}. Use to_storage first.")
    out = gdf.copy()
    geoms = _convert_geoms(np.asarray(out.geometry.values), _CONVERSIONS[key])
    if isinstance(out, gpd.GeoSeries):
        return gpd.GeoSeries(geoms, index=out.index, crs=out.crs or STORAGE_CRS)
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs or STORAGE_CRS))


# ---------------------------------------------------------------------------------------------------------
# GCJ-02 detection


@dataclass(frozen=True)
class GcjCheck:
    """Result of :func:`check_gcj02`.

    Attributes
    ----------
    probable : bool
        True when the layer is probably in GCJ-02: it sits far from the reference, and undoing the GCJ-02
        offset brings it much closer.
    offset_m : float
        Median distance (metres) from the layer to the reference as given.
    offset_if_gcj_m : float
        Median distance (metres) after treating the layer as GCJ-02 and converting it to WGS84.
    n : int
        How many points were compared.
    method : str
        ``"named points"`` (features matched by name) or ``"nearest vertex"``.
    """

    probable: bool
    offset_m: float
    offset_if_gcj_m: float
    n: int
    method: str

    def __str__(self) -> str:  # pragma: no cover - message text
        verdict = "probably GCJ-02" if self.probable else "consistent with WGS84"
        return (
            f"{verdict}: median offset {self.offset_m:.0f} m as given, {self.offset_if_gcj_m:.0f} m if read "
            f"as GCJ-02 ({self.n} points, {self.method})"
        )


def reference_points() -> gpd.GeoDataFrame:
    """The named WGS84 reference points (OSM station positions) used to detect GCJ-02 layers.

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``name_zh``, EPSG:4326.
    """
    names = list(REFERENCE_POINTS)
    xy = np.array([REFERENCE_POINTS[n] for n in names])
    return gpd.GeoDataFrame({"name_zh": names}, geometry=shapely.points(xy), crs=STORAGE_CRS)


def _norm_name(s: pd.Series) -> pd.Series:
    s = s.fillna("").astype(str).str.strip()
    return s.str.replace(r"(火车站|站)$", "", regex=True)


def _sample_vertices(geoms: np.ndarray, max_points: int) -> np.ndarray:
    pts = shapely.get_coordinates(geoms)
    if len(pts) > max_points:  # deterministic thinning
        pts = pts[np.linspace(0, len(pts) - 1, max_points).astype(int)]
    return pts


def check_gcj02(
    gdf: gpd.GeoDataFrame,
    reference: gpd.GeoDataFrame | None = None,
    *,
    min_offset_m: float | None = None,
    improvement: float = 0.5,
    max_points: int = 5000,
) -> GcjCheck:
    """Tell whether ``gdf`` (lon/lat) is probably in GCJ-02 rather than WGS84.

    Method: compare the layer with a WGS84 reference, once as given and once after converting it from
    GCJ-02 to WGS84. When both carry ``name_zh`` and share names (e.g. 天津站), the named pairs are compared;
    otherwise each vertex of the layer is compared with the nearest reference geometry. The layer is flagged
    when the median offset as given exceeds ``min_offset_m`` metres and reading it as GCJ-02 shrinks that
    offset to less than ``improvement`` times itself. GCJ-02 shifts Tianjin by about 550 m, so a WGS84 layer
    is not flagged by ordinary positional noise. ``min_offset_m`` defaults to 150 m for named points and
    60 m for vertices (a vertex measures only the part of the shift across the reference edge).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer to test, in EPSG:4326 (or unlabelled lon/lat, degrees).
    reference : geopandas.GeoDataFrame, optional
        WGS84 reference geometries (any CRS with one set); default :func:`reference_points` (OSM station
        positions).
    min_offset_m : float, optional
        Median offset (metres) above which the layer may be flagged; default 150 m for named points, 60 m for
        vertices.
    improvement : float, default 0.5
        Flag only if reading the layer as GCJ-02 shrinks the median offset below this fraction of itself.
    max_points : int, default 5000
        At most this many vertices are sampled from ``gdf`` (evenly) in the nearest-vertex method.

    Returns
    -------
    GcjCheck
        ``probable``, the two median offsets (metres), the number of points compared and the method used.
    """
    if reference is None:
        reference = reference_points()
    reference = to_storage(reference)
    geoms = np.asarray(gdf.geometry.values)
    method = "nearest vertex"
    if "name_zh" in gdf.columns and "name_zh" in reference.columns:
        left = pd.DataFrame({"key": _norm_name(gdf["name_zh"]).values, "i": np.arange(len(gdf))})
        right = pd.DataFrame({"key": _norm_name(reference["name_zh"]).values, "j": np.arange(len(reference))})
        pairs = left[left.key != ""].merge(right[right.key != ""], on="key")
        point_pairs = pairs[shapely.get_type_id(geoms[pairs.i.values]) == 0] if len(pairs) else pairs
        if len(point_pairs):
            method = "named points"
            a = shapely.get_coordinates(geoms[point_pairs.i.values])
            b = shapely.get_coordinates(np.asarray(reference.geometry.values)[point_pairs.j.values])
            return _offsets_pairs(a, b, method, 150.0 if min_offset_m is None else min_offset_m, improvement)
    pts = _sample_vertices(geoms, max_points)
    if len(pts) == 0:
        return GcjCheck(False, float("nan"), float("nan"), 0, method)
    ref_m = to_metric(reference)
    ref_geoms = np.asarray(ref_m.geometry.values)
    ref_geoms = np.where(shapely.get_type_id(ref_geoms) >= 3, shapely.boundary(ref_geoms), ref_geoms)
    tree = shapely.STRtree(ref_geoms)

    def _median_dist(lonlat: np.ndarray) -> float:
        p = gpd.GeoSeries(shapely.points(lonlat), crs=STORAGE_CRS).to_crs(METRIC_CRS).values
        _, dist = tree.query_nearest(np.asarray(p), return_distance=True, all_matches=False)
        return float(np.median(dist))

    d0 = _median_dist(pts)
    wx, wy = gcj02_to_wgs84(pts[:, 0], pts[:, 1])
    d1 = _median_dist(np.column_stack([wx, wy]))
    min_offset_m = 60.0 if min_offset_m is None else min_offset_m
    return GcjCheck(bool(d0 > min_offset_m and d1 < improvement * d0), d0, d1, len(pts), method)


def _offsets_pairs(a: np.ndarray, b: np.ndarray, method: str, min_offset_m: float, improvement: float) -> GcjCheck:
    pa = gpd.GeoSeries(shapely.points(a), crs=STORAGE_CRS).to_crs(METRIC_CRS)
    pb = gpd.GeoSeries(shapely.points(b), crs=STORAGE_CRS).to_crs(METRIC_CRS)
    wx, wy = gcj02_to_wgs84(a[:, 0], a[:, 1])
    pw = gpd.GeoSeries(shapely.points(wx, wy), crs=STORAGE_CRS).to_crs(METRIC_CRS)
    d0 = float(np.median(pa.distance(pb, align=False)))
    d1 = float(np.median(pw.distance(pb, align=False)))
    return GcjCheck(bool(d0 > min_offset_m and d1 < improvement * d0), d0, d1, len(a), method)
