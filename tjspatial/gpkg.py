"""The one place that opens, lists, reads, writes and atomically replaces GeoPackages.

:class:`GeoPackage` is a cached reader: each layer and table is read from disk once (and again only if the
file changes), so a whole ``tj.analyse`` run reads every layer once. Analysis, maps and export functions
accept one wherever they accept a GeoPackage path (it is path-like: ``os.fspath(gp)`` is its path).

:func:`write_gpkg_atomic` writes layers and attribute tables to a temporary GeoPackage beside the target and
renames it over the target only when complete; a failure (a full disk, a read-only folder) leaves the previous
file as it was and is reported as a :class:`~tjspatial.errors.GeoPackageError` naming the file.

This module sits just above the storage primitives (:mod:`tjspatial.atomic`, :mod:`tjspatial.errors`): it knows
nothing of the catalog, the build or the analyses.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Mapping

import geopandas as gpd
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from .atomic import atomic_path
from .errors import GeoPackageError

__all__ = ["GeoPackage", "as_geopackage", "list_layers", "read_layer", "read_table", "write_gpkg_atomic", "check_gpkg"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
FULL_DISK_BYTES = 1 << 20
"""A write that fails with less than this many bytes free in the target folder is reported as a full disk."""


def check_gpkg(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it is an existing GeoPackage file.

    Parameters
    ----------
    path : str or path-like
        The file to check.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    GeoPackageError
        If nothing is at ``path``, it is a folder, or it is not an SQLite (GeoPackage) file.
    """
    path = Path(path)
    if not path.exists():
        raise GeoPackageError(f"no GeoPackage at {path}; build one with `tjspatial build --out {path}`", path=path)
    if path.is_dir():
        raise GeoPackageError(f"{path} is a folder, not a GeoPackage", path=path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise GeoPackageError(f"cannot read GeoPackage {path}: {exc.strerror or exc}", path=path) from exc
    if head != _SQLITE_MAGIC:
        raise GeoPackageError(f"{path} is not a GeoPackage (not an SQLite file)", path=path)
    return path


def _signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino


class GeoPackage(os.PathLike):
    """A built GeoPackage, read lazily and once: its table names, layers and attribute tables are cached.

    Parameters
    ----------
    path : str or path-like
        An existing GeoPackage file.

    Notes
    -----
    Frames returned by :meth:`read` and :meth:`table` are copies, so callers may change them. The cache is
    dropped when the file's modification time, size or inode change (e.g. it was rebuilt).

    Examples
    --------
    >>> gp = GeoPackage("layers/tianjin.gpkg")     # doctest: +SKIP
    >>> "districts" in gp, len(gp.read("districts"))  # doctest: +SKIP
    (True, 16)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = check_gpkg(path)
        self._sig = _signature(self.path)
        self._names: dict[str, str | None] | None = None
        self._frames: dict[tuple[str, bool], pd.DataFrame] = {}
        self._rasters: list[str] | None = None
        self._lock = threading.RLock()  # threads of one run (tj.analyse) share the reader: one read per layer
        self.reads = 0
        """Number of layer / table reads from disk (for tests and benchmarks)."""

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        """The file name, e.g. ``tianjin.gpkg``."""
        return self.path.name

    def __repr__(self) -> str:
        return f"GeoPackage({str(self.path)!r})"

    def _fresh(self) -> None:
        try:
            sig = _signature(self.path)
        except OSError as exc:
            raise GeoPackageError(f"GeoPackage {self.path} is gone: {exc.strerror or exc}", path=self.path) from exc
        if sig != self._sig:
            self._sig, self._names, self._frames, self._rasters = sig, None, {}, None

    def _listing(self) -> dict[str, str | None]:
        self._fresh()
        if self._names is None:
            try:
                self._names = {name: geom for name, geom in pyogrio.list_layers(self.path)}
            except DataSourceError as exc:
                raise GeoPackageError(f"cannot open GeoPackage {self.path}: {exc}", path=self.path) from exc
        return self._names

    @property
    def names(self) -> list[str]:
        """Names of every layer and attribute table, in file order."""
        return list(self._listing())

    @property
    def layers(self) -> list[str]:
        """Names of the tables with a geometry column."""
        return [n for n, g in self._listing().items() if g]

    def __contains__(self, name: object) -> bool:
        return name in self._listing()

    @property
    def rasters(self) -> list[str]:
        """Names of the raster (tile) tables, e.g. a land-cover grid copied in by the build."""
        self._fresh()
        if self._rasters is None:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as con:
                rows = con.execute(
                    "SELECT table_name FROM gpkg_contents WHERE data_type IN "
                    "('tiles', '2d-gridded-coverage') ORDER BY table_name"
                ).fetchall()
            self._rasters = [r[0] for r in rows]
        return self._rasters

    def raster(self, name: str) -> str:
        """The GDAL name of the raster table ``name`` (open it with ``rasterio.open``).

        Parameters
        ----------
        name : str
            A raster table of the GeoPackage.

        Returns
        -------
        str
            ``GPKG:<path>:<name>``.
        """
        if name not in self.rasters:
            raise GeoPackageError(
                f"no raster {name!r} in {self.path} (rasters: {self.rasters or 'none'}); rebuild it",
                path=self.path,
                layer=name,
            )
        return f"GPKG:{self.path}:{name}"

    def _read(self, name: str, geometry: bool) -> pd.DataFrame:
        if name not in self._listing():
            raise GeoPackageError(
                f"no table {name!r} in {self.path} (it holds {sorted(self._listing())}); rebuild it",
                path=self.path,
                layer=name,
            )
        key = (name, geometry)
        with self._lock:
            if key not in self._frames:
                try:
                    kw = {} if geometry else {"read_geometry": False}
                    self._frames[key] = pyogrio.read_dataframe(self.path, layer=name, **kw)
                except (DataSourceError, DataLayerError) as exc:
                    raise GeoPackageError(
                        f"cannot read {name!r} from {self.path}: {exc}", path=self.path, layer=name
                    ) from exc
                self.reads += 1
            frame = self._frames[key]
        return frame.copy()

    def read(self, name: str) -> gpd.GeoDataFrame:
        """The layer ``name`` as stored (a copy), with its CRS; no catalog processing (see ``tj.load``).

        Parameters
        ----------
        name : str
            A vector layer of the GeoPackage.

        Returns
        -------
        geopandas.GeoDataFrame
            A copy of the cached layer, in its stored CRS (EPSG:4326 for catalog layers).
        """
        return self._read(name, True)

    def table(self, name: str) -> pd.DataFrame:
        """The attribute table ``name`` (``provenance``, ``catalog``, ...) as a DataFrame (a copy).

        Parameters
        ----------
        name : str
            An attribute table of the GeoPackage.

        Returns
        -------
        pandas.DataFrame
            A copy of the cached table.
        """
        return pd.DataFrame(self._read(name, False))


def as_geopackage(path: str | os.PathLike | GeoPackage) -> GeoPackage:
    """``path`` itself if it is a :class:`GeoPackage`, else a new one opened on it.

    Parameters
    ----------
    path : str, path-like or GeoPackage
        The GeoPackage file or reader.

    Returns
    -------
    GeoPackage
        A cached reader.
    """
    return path if isinstance(path, GeoPackage) else GeoPackage(path)


def list_layers(path: str | os.PathLike | GeoPackage) -> list[str]:
    """Names of the tables in a GeoPackage (layers and attribute tables).

    Parameters
    ----------
    path : str, path-like or GeoPackage
        The GeoPackage file or reader.

    Returns
    -------
    list of str
        Table names, layers and attribute tables.
    """
    return as_geopackage(path).names


def read_layer(path: str | os.PathLike | GeoPackage, name: str) -> gpd.GeoDataFrame:
    """One layer of a GeoPackage as stored (see :meth:`GeoPackage.read`).

    Parameters
    ----------
    path : str, path-like or GeoPackage
        The GeoPackage file or reader.
    name : str
        The layer.

    Returns
    -------
    geopandas.GeoDataFrame
        The layer as stored, with its CRS.
    """
    return as_geopackage(path).read(name)


def read_table(path: str | os.PathLike | GeoPackage, name: str) -> pd.DataFrame:
    """Read an attribute table (``provenance``, ``catalog``, ...) from a GeoPackage.

    Parameters
    ----------
    path : str, path-like or GeoPackage
        The GeoPackage file or reader.
    name : str
        The attribute table.

    Returns
    -------
    pandas.DataFrame
        The table.
    """
    return as_geopackage(path).table(name)


def write_gpkg_atomic(
    out: str | os.PathLike,
    layers: Mapping[str, gpd.GeoDataFrame],
    tables: Mapping[str, pd.DataFrame] | None = None,
    rasters: Mapping[str, str | os.PathLike] | None = None,
) -> Path:
    """Write ``layers`` (and attribute ``tables``) to a new GeoPackage at ``out``, atomically.

    Parameters
    ----------
    out : str or path-like
        Target GeoPackage; its folder is created if needed.
    layers : mapping of str to GeoDataFrame
        Layer name → features (written with a spatial index, geometry types kept as given).
    tables : mapping of str to DataFrame, optional
        Attribute tables without geometry (e.g. ``provenance``).
    rasters : mapping of str to path, optional
        Raster table name → a single-band raster file (GeoTIFF) copied in losslessly (PNG tiles, same grid).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    GeoPackageError
        If GDAL cannot write the file (the message says when the disk is full); ``out`` is left as it was.
    OSError
        If the folder cannot be created or written (read-only, a file in the way...); ``out`` is left as it was.
    """
    out = Path(out)
    with atomic_path(out, ".gpkg") as tmp:
        try:
            for name, gdf in layers.items():
                pyogrio.write_dataframe(
                    gdf, tmp, layer=name, driver="GPKG", promote_to_multi=None, layer_options={"SPATIAL_INDEX": "YES"}
                )
            for name, df in (tables or {}).items():
                pyogrio.write_dataframe(pd.DataFrame(df), tmp, layer=name, driver="GPKG")
            for name, src in (rasters or {}).items():
                _append_raster(tmp, name, src)
        except (DataSourceError, DataLayerError, _rasterio_error()) as exc:
            free = shutil.disk_usage(out.parent).free
            if free < FULL_DISK_BYTES:
                raise GeoPackageError(
                    f"cannot write {out}: the disk is full ({free // 1024} kB free in "
                    f"{out.parent}); the previous file is kept",
                    path=out,
                ) from exc
            raise GeoPackageError(f"cannot write {out}: {exc}; the previous file is kept", path=out) from exc
    return out


def _rasterio_error() -> type[Exception]:
    import sys

    errors = sys.modules.get("rasterio.errors")
    return errors.RasterioIOError if errors is not None else DataSourceError


def _append_raster(gpkg: Path, name: str, src_path: str | os.PathLike) -> None:
    """Copy a single-band raster file into ``gpkg`` as the tile table ``name`` (same grid, PNG tiles)."""
    import rasterio

    with rasterio.open(src_path) as src:
        arr = src.read(1)
        profile = dict(
            driver="GPKG",
            width=src.width,
            height=src.height,
            count=1,
            dtype=arr.dtype,
            crs=src.crs,
            transform=src.transform,
            nodata=src.nodata,
        )
    with rasterio.open(gpkg, "w", RASTER_TABLE=name, APPEND_SUBDATASET="YES", TILE_FORMAT="PNG", **profile) as dst:
        dst.write(arr, 1)
