"""Real grids on demand, offline: a mock HTTP opener serves tiny rasters in each product's real format and CRS."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_bounds

import tjspatial as tj
from tjspatial.analysis.population_fetch import PRODUCTS, download, fetch_population, ghsl_tiles
from tjspatial.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _tif_bytes(crs: str, bounds, shape=(40, 30), dtype="float32", nodata=-99999.0, value=10.0) -> bytes:
    """A small GeoTIFF (persons per cell) over ``bounds`` in ``crs``, with a nodata cell in the middle."""
    arr = np.full(shape, value, dtype=dtype)
    arr[shape[0] // 2, shape[1] // 2] = nodata  # inside Tianjin: must become 0, not -99999
    buf = io.BytesIO()
    with rasterio.MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            height=shape[0],
            width=shape[1],
            count=1,
            dtype=dtype,
            crs=crs,
            transform=from_bounds(*bounds, shape[1], shape[0]),
            nodata=nodata,
        ) as dst:
            dst.write(arr, 1)
        buf.write(mem.read())
    return buf.getvalue()


class _Resp:
    def __init__(self, body: bytes, status: int):
        self._b, self.status = io.BytesIO(body), status

    def read(self, n=-1):
        return self._b.read(n)

    def getcode(self):
        return self.status

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class MockHTTP:
    """``urlopen`` stand-in: serves ``files[url]``, honours ``Range: bytes=N-`` with 206, records requests."""

    def __init__(self, files: dict):
        self.files, self.requests = files, []

    def __call__(self, req, timeout=None):
        url = req.full_url
        rng = req.get_header("Range")
        self.requests.append((url, rng))
        body = self.files[url]
        if rng:
            start = int(rng.split("=")[1].rstrip("-"))
            return _Resp(body[start:], 206)
        return _Resp(body, 200)


LONLAT = (116.6, 38.5, 118.2, 40.3)


def test_worldpop_fetch_clips_caches_and_feeds_population(built_gpkg, tmp_path, monkeypatch):
    url = PRODUCTS["worldpop"].urls[0]
    http = MockHTTP({url: _tif_bytes("EPSG:4326", LONLAT)})
    out = fetch_population("worldpop", path=built_gpkg, cache_dir=tmp_path, opener=http)
    assert out == tmp_path / "worldpop_tianjin.tif" and len(http.requests) == 1
    with rasterio.open(out) as src:
        tags = src.tags()
        assert src.crs.to_epsg() == 4326 and src.read(1).min() >= 0
        assert tags["licence"] == "CC-BY-4.0" and tags["year"] == "2020" and tags["urls"] == url
        assert tags["sha256"] == hashlib.sha256(http.files[url]).hexdigest()
    assert (tmp_path / "worldpop_tianjin.json").is_file()
    # a second fetch uses the cache: no request
    fetch_population("worldpop", path=built_gpkg, cache_dir=tmp_path, opener=http)
    assert len(http.requests) == 1
    # tj.population("worldpop") reads the fetched grid, labelled with its source, licence and year
    monkeypatch.setenv("TJSPATIAL_CACHE", str(tmp_path.parent / "c"))
    (tmp_path.parent / "c" / "population").mkdir(parents=True)
    for f in tmp_path.glob("worldpop_tianjin.*"):
        (tmp_path.parent / "c" / "population" / f.name).write_bytes(f.read_bytes())
    pop = tj.population("worldpop")
    assert pop.year == 2020 and "WorldPop" in pop.source and "CC-BY-4.0" in pop.source
    z = pop.zonal_sum(tj.load("districts", built_gpkg))
    assert (z > 0).all()
    cov = tj.coverage(None, pop, "dual_city", 800, path=built_gpkg)
    assert cov.attrs["population_year"] == 2020 and (cov["pop_share"].between(0, 1)).all()


def test_download_resumes_and_checks_the_checksum(tmp_path):
    body = bytes(range(256)) * 1000
    url = "https://example.invalid/grid.tif"
    http = MockHTTP({url: body})
    dest = tmp_path / "grid.tif"
    (tmp_path / "grid.tif.part").write_bytes(body[:100_000])  # an interrupted earlier download
    p, digest = download(url, dest, sha256=hashlib.sha256(body).hexdigest(), opener=http)
    assert http.requests == [(url, "bytes=100000-")] and p.read_bytes() == body
    assert (tmp_path / "grid.tif.sha256").read_text().split()[0] == digest
    # a wrong checksum removes the download and names the URL
    other = tmp_path / "other.tif"
    with pytest.raises(InputError, match="example.invalid/grid.tif: SHA-256 .* does not match"):
        download(url, other, sha256="0" * 64, opener=http)
    assert not other.exists() and not (tmp_path / "other.tif.part").exists()


def test_ghsl_tiles_in_mollweide_zip(built_gpkg, tmp_path):
    tiles = ghsl_tiles()
    assert tiles and all(t.startswith("R") and "_C" in t for t in tiles)
    assert tiles == ["R5_C28", "R5_C29"]  # Tianjin straddles two 1,000 km Mollweide tiles
    tif = _tif_bytes("ESRI:54009", (9_800_000, 4_500_000, 10_300_000, 4_950_000), shape=(30, 20))
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("GHS_POP_E2020_GLOBE_R2023A_54009_100_V1_0.tif", tif)
    from tjspatial.analysis.population_fetch import GHSL_TILE_URL

    http = MockHTTP({GHSL_TILE_URL.format(tile=t): zbuf.getvalue() for t in tiles})
    out = fetch_population("ghsl", path=built_gpkg, cache_dir=tmp_path, opener=http)
    assert len(http.requests) == len(tiles)
    with rasterio.open(out) as src:
        assert "Mollweide" in src.crs.to_wkt() and src.read(1).sum() > 0
        assert src.tags()["product"] == "ghsl"


def test_globpop_int32_and_aspect_needs_a_url(built_gpkg, tmp_path):
    url = PRODUCTS["globpop"].urls[0]
    http = MockHTTP({url: _tif_bytes("EPSG:4326", LONLAT, dtype="int32", nodata=-2147483648, value=7)})
    out = fetch_population("globpop", path=built_gpkg, cache_dir=tmp_path, opener=http)
    with rasterio.open(out) as src:
        a = src.read(1)
        assert a.dtype == np.float32 and a.min() == 0 and a.max() == 7 and src.tags()["year"] == "2022"
    with pytest.raises(InputError, match="pass url="):
        fetch_population("aspect", path=built_gpkg, cache_dir=tmp_path, opener=http)
    aurl = "https://example.invalid/aspect_chn_100m.tif"
    http.files[aurl] = _tif_bytes("EPSG:4326", LONLAT)
    assert fetch_population("aspect", path=built_gpkg, cache_dir=tmp_path, url=aurl, opener=http).is_file()
    # a grid with nobody inside Tianjin is refused, naming the source
    far = "https://example.invalid/elsewhere.tif"
    http.files[far] = _tif_bytes("EPSG:4326", (0, 0, 1, 1))
    with pytest.raises(InputError, match="holds nobody inside Tianjin"):
        fetch_population("aspect", path=built_gpkg, cache_dir=tmp_path / "x", url=far, opener=http)


def test_cli_population_fetch_without_url_is_a_clear_error(tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tjspatial.cli",
            "population",
            "fetch",
            "--source",
            "aspect",
            "--cache-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and "pass url=" in r.stderr
    with pytest.raises(FileNotFoundError, match="tjspatial population fetch --source ghsl"):
        from tjspatial.analysis.population_fetch import cached_grid

        cached_grid("ghsl", tmp_path)


def test_a_fetched_grid_joins_the_coverage_range(built_gpkg, tmp_path):
    from tjspatial.analysis.stations import station_set
    from tjspatial.analysis.uncertainty import coverage_range, default_surfaces

    url = PRODUCTS["globpop"].urls[0]
    fetch_population(
        "globpop",
        path=built_gpkg,
        cache_dir=tmp_path,
        opener=MockHTTP({url: _tif_bytes("EPSG:4326", LONLAT, value=3.0)}),
    )
    surfaces = default_surfaces(built_gpkg, cache_dir=tmp_path)
    assert list(surfaces)[0] == "model" and "globpop" in surfaces and surfaces["globpop"].year == 2022
    res = coverage_range(station_set("passenger", built_gpkg), "boundary", 800, surfaces=surfaces, path=built_gpkg)
    row = res.iloc[0]
    # a uniform grid: its share is about the covered share of land (clipped to the grid's cells)
    assert row["share_globpop"] == pytest.approx(row["area_share"], abs=0.02)
    assert row["pop_share_min"] <= row["share_globpop"] <= row["pop_share_max"]
