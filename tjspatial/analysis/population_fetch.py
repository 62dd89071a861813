"""Real population grids on demand: download once (resumable, checksummed, cached), clip to Tianjin, record
where the numbers come from.

``tjspatial population fetch --source worldpop|ghsl|globpop|aspect`` (or :func:`fetch_population`) downloads a
public population grid, keeps the download in a cache, clips it to Tianjin's outline (plus a margin) in the
product's own CRS and writes ``<cache>/<source>_tianjin.tif`` (atomically) with the source, licence, year, URLs
and SHA-256 of every download as GeoTIFF tags and in ``<source>_tianjin.json``. ``tj.population("worldpop")`` and
``tjspatial analyse --population worldpop`` then use the clipped grid.

================ =========================================================== ========== ===================
source           product                                                     CRS        licence
================ =========================================================== ========== ===================
``worldpop``     WorldPop 2020, constrained, 100 m (3″), China                EPSG:4326  CC BY 4.0
``ghsl``         GHS-POP R2023A, epoch 2020, 100 m, Mollweide tiles (zip)     ESRI:54009 CC BY 4.0
``globpop``      GlobPOP 2022 population count, 30″                           EPSG:4326  CC BY 4.0
``aspect``       ASPECT 100 m census-based grid (no fixed public URL known:   EPSG:4326  CC BY 4.0
                 pass ``url=``)
================ =========================================================== ========== ===================

Downloads resume from a ``.part`` file with an HTTP ``Range`` request (a server that ignores it restarts the
file); a download is accepted only when its SHA-256 matches the one given (``sha256=``) or recorded for it in
the cache; the checksum is stored beside it (``.sha256``). Nothing here runs in the tests against the network:
the tests serve tiny rasters in each product's real format and CRS from a local mock.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.merge
import rasterio.windows
from pyproj import CRS

from ..atomic import atomic_path
from ..build_context import file_sha256
from ..catalog import role_id
from ..crs import transformer
from ..errors import InputError, MissingFileError
from ..io import load
from ..paths import project_root

__all__ = ["PRODUCTS", "Product", "fetch_population", "download", "cached_grid", "default_cache_dir", "ghsl_tiles"]

TIANJIN_BBOX = (116.70, 38.55, 118.07, 40.26)
"""Tianjin's outline bounds (lon/lat, EPSG:4326) used when no GeoPackage is at hand."""


@dataclass(frozen=True)
class Product:
    """A public population grid: what to download and how to label it."""

    key: str
    title: str
    year: int
    crs: str
    licence: str
    citation: str
    urls: tuple[str, ...]
    archive: str = ""  # "zip" when each download is a zip holding one GeoTIFF
    note: str = ""


GHSL_TILE_URL = (
    "https://jeodpp.jrc.ec.europa.eu/ftp/jrc-opendata/GHSL/GHS_POP_GLOBE_R2023A/"
    "GHS_POP_E2020_GLOBE_R2023A_54009_100/V1-0/tiles/GHS_POP_E2020_GLOBE_R2023A_54009_100_V1_0_{tile}.zip"
)

PRODUCTS = {
    "worldpop": Product(
        "worldpop",
        "WorldPop 2020 constrained, 100 m (China)",
        2020,
        "EPSG:4326",
        "CC-BY-4.0",
        "WorldPop (www.worldpop.org), University of Southampton: Global 2000-2020 constrained population, "
        "China 2020 (BSGM)",
        (
            "https://data.worldpop.org/GIS/Population/Global_2000_2020_Constrained/2020/BSGM/CHN/"
            "chn_ppp_2020_constrained.tif",
        ),
    ),
    "ghsl": Product(
        "ghsl",
        "GHS-POP R2023A, epoch 2020, 100 m (Mollweide)",
        2020,
        "ESRI:54009",
        "CC-BY-4.0",
        "Schiavina M., Freire S., Carioli A., MacManus K. (2023): GHS-POP R2023A, European Commission, JRC",
        (),
        archive="zip",
        note="tiles of 1,000 km in Mollweide; the ones covering Tianjin are computed",
    ),
    "globpop": Product(
        "globpop",
        "GlobPOP 2022 population count, 30 arc-seconds",
        2022,
        "EPSG:4326",
        "CC-BY-4.0",
        "Liu L. et al. (2024): GlobPOP, a 31-year (1990-2020) global gridded population dataset, Zenodo 11179644",
        ("https://zenodo.org/records/11179644/files/GlobPOP_Count_30arc_2022_I32.tiff",),
    ),
    "aspect": Product(
        "aspect",
        "ASPECT 100 m census-based population grid",
        2020,
        "EPSG:4326",
        "CC-BY-4.0",
        "ASPECT census-based 100 m population grid",
        (),
        note="tjspatial knows no stable public download URL: pass url= (and sha256=)",
    ),
}
"""The products ``fetch_population`` knows."""


def default_cache_dir() -> Path:
    """``$TJSPATIAL_CACHE/population`` if set, else ``out/cache/population`` in the project.

    Returns
    -------
    pathlib.Path
        The folder (may not exist yet).
    """
    env = os.environ.get("TJSPATIAL_CACHE")
    return (Path(env) if env else project_root() / "out" / "cache") / "population"


def ghsl_tiles(bounds_lonlat=TIANJIN_BBOX) -> list[str]:
    """GHSL Mollweide tile ids (``R<row>_C<col>``, 1,000 km tiles from x = −18,041,000, y = 9,000,000 m)
    covering a lon/lat box.

    Parameters
    ----------
    bounds_lonlat : tuple of float, optional
        ``(min lon, min lat, max lon, max lat)``, degrees; default Tianjin's box.

    Returns
    -------
    list of str
        Tile ids.
    """
    t = transformer("EPSG:4326", "ESRI:54009")
    lon0, lat0, lon1, lat1 = bounds_lonlat
    lons, lats = np.meshgrid(np.linspace(lon0, lon1, 9), np.linspace(lat0, lat1, 9))
    x, y = t.transform(lons.ravel(), lats.ravel())
    rows = np.floor((9_000_000 - np.asarray(y)) / 1_000_000).astype(int) + 1
    cols = np.floor((np.asarray(x) + 18_041_000) / 1_000_000).astype(int) + 1
    return sorted({f"R{r}_C{c}" for r, c in zip(rows, cols)})


def download(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    opener: Callable | None = None,
    chunk: int = 1 << 20,
    timeout: float = 60.0,
) -> tuple[Path, str]:
    """Download ``url`` to ``dest`` once: resume a ``.part`` file, check the SHA-256, keep ``dest.sha256``.

    Parameters
    ----------
    url : str
        http(s) URL.
    dest : str or pathlib.Path
        Final file path (its folder is created).
    sha256 : str, optional
        Expected hex digest; a mismatch deletes the download and raises :class:`InputError`.
    opener : callable, optional
        ``urllib.request.urlopen``-like callable (tests pass a mock).
    chunk : int, optional
        Bytes per read.
    timeout : float, default 60.0
        Seconds per request.

    Returns
    -------
    path : pathlib.Path
        ``dest``.
    sha256 : str
        Its hex digest.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    side = dest.with_name(dest.name + ".sha256")
    if dest.is_file():
        digest = file_sha256(dest)
        recorded = side.read_text().split()[0] if side.is_file() else None
        if (sha256 or recorded) in (None, digest):
            return dest, digest
        dest.unlink()  # cached file does not match: fetch again
    opener = opener or urllib.request.urlopen
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "tjspatial population fetch"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with opener(req, timeout=timeout) as resp:
        status = getattr(resp, "status", None) or resp.getcode()
        if status == 416:  # nothing left to fetch
            pass
        elif status not in (200, 206):
            raise InputError(f"population fetch: {url} answered HTTP {status}")
        mode = "ab" if (have and status == 206) else "wb"
        if status != 416:
            with open(part, mode) as f:
                while True:
                    block = resp.read(chunk)
                    if not block:
                        break
                    f.write(block)
    digest = file_sha256(part)
    if sha256 and digest != sha256.lower():
        part.unlink()
        raise InputError(
            f"population fetch: {url}: SHA-256 {digest} does not match the expected {sha256}; "
            "the partial download was removed"
        )
    os.replace(part, dest)
    side.write_text(f"{digest}  {dest.name}\n", encoding="utf-8")
    return dest, digest


def _tif_from(path: Path, product: Product) -> Path:
    if product.archive != "zip" and not zipfile.is_zipfile(path):
        return path
    out = path.with_suffix(".tif")
    if out.is_file():
        return out
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.lower().endswith((".tif", ".tiff"))]
        if not names:
            raise InputError(f"population fetch: {path.name} holds no GeoTIFF ({z.namelist()[:5]})")
        with z.open(names[0]) as src, atomic_path(out) as tmp, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return out


def _bounds(path, product_crs) -> tuple[float, float, float, float]:
    """Tianjin's bounds (with a 2 km margin) in the product's CRS."""
    try:
        b = load(role_id("municipality"), path).to_crs("EPSG:4548").buffer(2000).to_crs(product_crs).total_bounds
    except Exception:  # no GeoPackage at hand: the bundled bounding box
        lon0, lat0, lon1, lat1 = TIANJIN_BBOX
        b = gpd.GeoSeries.from_xy([lon0, lon1], [lat0, lat1], crs="EPSG:4326").to_crs(product_crs).total_bounds
    return tuple(float(v) for v in b)


def fetch_population(
    source: str,
    *,
    path=None,
    cache_dir: str | Path | None = None,
    url: str | None = None,
    sha256: str | None = None,
    opener: Callable | None = None,
) -> Path:
    """Download (once) and clip a population grid to Tianjin; returns the clipped GeoTIFF.

    Parameters
    ----------
    source : str
        A key of :data:`PRODUCTS` (``worldpop``, ``ghsl``, ``globpop``, ``aspect``).
    path : str or pathlib.Path, optional
        GeoPackage whose municipal boundary the grid is clipped to (default ``layers/tianjin.gpkg``).
    cache_dir : str or pathlib.Path, optional
        Where downloads and the clipped grid go (default :func:`default_cache_dir`).
    url : str, optional
        Override the product's URL (needed for ``aspect``).
    sha256 : str, optional
        Pin the download's checksum (hex).
    opener : callable, optional
        ``urlopen``-like callable for tests.

    Returns
    -------
    pathlib.Path
        The clipped GeoTIFF (persons per cell).
    """
    if source not in PRODUCTS:
        raise InputError(f"unknown population source {source!r}; use one of {list(PRODUCTS)}")
    product = PRODUCTS[source]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    urls = (url,) if url else product.urls
    if source == "ghsl" and not url:
        urls = tuple(GHSL_TILE_URL.format(tile=t) for t in ghsl_tiles())
    if not urls:
        raise InputError(f"population source {source!r}: {product.note or 'no download URL'}")
    got = []
    for u in urls:
        p, digest = download(
            u,
            cache / "raw" / source / u.rsplit("/", 1)[-1].split("?")[0],
            sha256=sha256 if len(urls) == 1 else None,
            opener=opener,
        )
        got.append({"url": u, "file": p.name, "sha256": digest, "tif": _tif_from(p, product)})
    with rasterio.open(got[0]["tif"]) as src0:
        crs = src0.crs or CRS.from_user_input(product.crs)
        nodata = src0.nodata
    bounds = _bounds(path, crs)
    srcs = [rasterio.open(g["tif"]) for g in got]
    try:
        arr, transform = rasterio.merge.merge(srcs, bounds=bounds, nodata=nodata)
    finally:
        for s in srcs:
            s.close()
    data = arr[0].astype("float32")
    bad = ~np.isfinite(data) | (data < 0) | ((data == nodata) if nodata is not None else False)
    data[bad] = 0.0
    if not data.sum() > 0:
        raise InputError(
            f"population source {source!r}: the downloaded grid holds nobody inside Tianjin's "
            f"bounds {tuple(round(v) for v in bounds)} ({crs}); wrong file or wrong area?"
        )
    out = cache / f"{source}_tianjin.tif"
    fetched = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tags = {
        "source": product.title,
        "product": source,
        "licence": product.licence,
        "year": product.year,
        "citation": product.citation,
        "urls": " ".join(g["url"] for g in got),
        "sha256": " ".join(g["sha256"] for g in got),
        "fetched": fetched,
        "units": "persons per cell",
        "clip": "Tianjin boundary + 2 km, in the product's CRS",
    }
    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "compress": "deflate",
        "nodata": None,
    }
    with atomic_path(out) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data, 1)
        dst.update_tags(**{k: str(v) for k, v in tags.items()})
    prov = {
        **tags,
        "downloads": [{k: v for k, v in g.items() if k != "tif"} for g in got],
        "total_persons_in_clip": float(data.sum()),
        "crs": str(crs),
    }
    with atomic_path(out.with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps(prov, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


def cached_grid(source: str, cache_dir: str | Path | None = None) -> Path:
    """The clipped grid of ``source`` in the cache; an error saying how to fetch it when it is missing.

    Parameters
    ----------
    source : str
        A key of :data:`PRODUCTS`.
    cache_dir : str or pathlib.Path, optional
        The cache folder (default :func:`default_cache_dir`).

    Returns
    -------
    pathlib.Path
        The clipped GeoTIFF.
    """
    p = (Path(cache_dir) if cache_dir else default_cache_dir()) / f"{source}_tianjin.tif"
    if not p.is_file():
        raise MissingFileError(
            f"no fetched {source!r} population grid at {p}: run `tjspatial population fetch --source {source}` first"
        )
    return p
