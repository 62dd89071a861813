"""Benchmark: web maps that scale (issue #15) — 50,000 polygons, page size and first render in headless Chromium.

Builds a page with one synthetic layer of N building-like footprints (rotated rectangles 8-40 m, clustered over
central Tianjin, 5 vertices each) on top of the dual-city map, twice in the same run:

- ``baseline``: the previous way — every feature an SVG path, decimal GeoJSON coordinates;
- ``scaled``: what ``layer_config`` picks for a large layer — the layer written as columns (coordinates as
  integers in 1e-5°, delta-encoded across the layer; one array per field, constant fields once) and drawn by the
  runtime's canvas layer: only features in view, sub-pixel vertices skipped at each zoom (zoom-dependent
  simplification), one path per colour; the feature under the pointer is found (bounding box, then the shape)
  and its tooltip or popup built only then.

Each page is opened from file:// in Debian's chromium (network blocked) ``--repeat`` times; the time is from
navigation start to the map being ready (``tj.ready``) plus two animation frames (the canvas is painted), the
median is reported with the ratio baseline / scaled. Goals: 50,000 polygons ready < 2 s, page <= 5 MB.

Run: python benchmarks/bench_maps_scale.py [--features 50000] [--repeat 3] [--gpkg layers/tianjin.gpkg]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import warnings
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from tjspatial import build, get_catalog
from tjspatial.catalog import Layer
from tjspatial.publish import webmap
from tjspatial.styles import Style

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def footprints(n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """``n`` rotated rectangles (8-40 m) in 60 clusters over central Tianjin (EPSG:4326)."""
    rng = np.random.default_rng(seed)
    centres = np.column_stack([rng.uniform(117.05, 117.75, 60), rng.uniform(38.95, 39.25, 60)])
    c = centres[rng.integers(0, 60, n)] + rng.normal(0, 0.02, (n, 2))
    w = rng.uniform(8, 40, n) / 86_000  # metres → degrees of longitude at 39°N (approx.)
    h = rng.uniform(8, 40, n) / 111_000
    a = rng.uniform(0, np.pi, n)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float) / 2
    xs = c[:, :1] + corners[:, 0] * w[:, None] * np.cos(a)[:, None] - corners[:, 1] * h[:, None] * np.sin(a)[:, None]
    ys = c[:, 1:] + corners[:, 0] * w[:, None] * np.sin(a)[:, None] + corners[:, 1] * h[:, None] * np.cos(a)[:, None]
    rings = np.stack([xs, ys], axis=-1)
    polys = shapely.polygons(rings)
    return gpd.GeoDataFrame(
        {
            "name_zh": "",
            "name_en": "",
            "accuracy": "derived",
            "source": "synthetic",
            "height_m": rng.integers(3, 120, n),
        },
        geometry=polys,
        crs="EPSG:4326",
    )


def page(gpkg: Path, gdf: gpd.GeoDataFrame, mode: str) -> str:
    layer = Layer(
        id="buildings",
        title_zh="建筑（合成）",
        title_en="Buildings (synthetic)",
        theme="context",
        geometry_type="Polygon",
        accuracy="derived",
        sources=("osm",) if "osm" in get_catalog().sources else tuple(get_catalog().sources)[:1],
        builder="",
        style="water",
        description="synthetic benchmark layer",
        fields={"height_m": "int"},
    )
    style = Style(
        id="buildings", geometry="polygon", stroke="#8c6d46", stroke_width=0.5, fill="#d9c4a1", fill_opacity=0.8, z=30
    )
    disp = webmap.display_layer(gdf, layer, style, 0.0)
    cfg = webmap.layer_config(disp, layer, style, get_catalog(), render="svg" if mode == "baseline" else None)
    if mode == "baseline":
        assert cfg["render"] == "svg"
    else:
        assert cfg["render"] == "canvas"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return webmap.make_map("dual_city", gpkg, extra_layers=[cfg]).render()


def render_ms(path: Path, repeat: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for _ in range(repeat):
            pg = browser.new_page(viewport={"width": 1280, "height": 800})
            pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
            pg.goto(path.as_uri(), timeout=120_000)
            pg.wait_for_function("window.tj && window.tj.ready === true", timeout=120_000)
            out.append(
                pg.evaluate(
                    "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"
                )
            )
            pg.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--features", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gpkg", type=Path, help="GeoPackage (default: build one from the bundled data)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = args.gpkg or build(out=Path(tmp) / "tianjin.gpkg", quiet=True)
        gdf = footprints(args.features)
        res = {}
        for mode in ("baseline", "scaled"):
            path = Path(tmp) / f"{mode}.html"
            path.write_text(page(gpkg, gdf, mode), encoding="utf-8")
            res[mode] = (path.stat().st_size, render_ms(path, args.repeat))
    print(
        f"{args.features:,} polygons, {args.repeat} runs each, {platform.node()} "
        f"({platform.processor() or platform.machine()}), {date.today()}"
    )
    for mode, (size, times) in res.items():
        print(
            f"  {mode:<9} page {size / 1e6:6.2f} MB   ready+painted median {statistics.median(times):8.0f} ms   "
            f"runs {', '.join(f'{t:.0f}' for t in times)}"
        )
    b, s = res["baseline"], res["scaled"]
    print(
        f"  ratio baseline/scaled: size {b[0] / s[0]:.2f}x, time {statistics.median(b[1]) / statistics.median(s[1]):.2f}x"
    )
    print(
        f"  goals: scaled page <= 5 MB: {'yes' if s[0] <= 5e6 else 'NO'}; "
        f"ready < 2 s: {'yes' if statistics.median(s[1]) < 2000 else 'NO'}"
    )


if __name__ == "__main__":
    main()
