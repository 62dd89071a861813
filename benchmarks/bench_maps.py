"""Benchmark: web-map size and render time in headless Chromium (goals: largest map < 5 MB, render < 2 s).

Writes the offline site from the bundled data into a temporary folder, then opens each map from file:// in
Debian's chromium (PyPI playwright, network blocked) several times and reports the time from navigation start
to the map being ready (``tj.ready``: overlays, controls and legend built), median over the runs.

Run: python benchmarks/bench_maps.py [--repeat 5] [--gpkg layers/tianjin.gpkg]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from tjspatial import build
from tjspatial.publish.site import write_site

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def render_times(pages: dict[str, Path], repeat: int) -> dict[str, list[float]]:
    """Milliseconds from navigation start to ``tj.ready`` for each page, ``repeat`` times."""
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for key, path in pages.items():
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.route(
                    "**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort()
                )
                page.goto(path.as_uri())
                page.wait_for_function("window.tj && window.tj.ready === true", timeout=30000)
                out.setdefault(key, []).append(page.evaluate("performance.now()"))
                page.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gpkg", type=Path, help="GeoPackage (default: build one from the bundled data)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = args.gpkg or build(out=Path(tmp) / "tianjin.gpkg", quiet=True)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = write_site(Path(tmp) / "maps", gpkg, offline=True)
        site_s = time.perf_counter() - t
        maps = {k: p for k, p in res.pages.items() if k not in ("index", "indicators")}
        sizes = {k: res.sizes[k] for k in maps}
        times = render_times(maps, args.repeat)
    print(f"write_site (offline, all maps + thumbnails): {site_s:.1f} s")
    print(f"{'map':<12} {'HTML MB':>8} {'render ms (median)':>20} {'min':>7}")
    for k in maps:
        print(f"{k:<12} {sizes[k] / 1e6:8.2f} {statistics.median(times[k]):20.0f} {min(times[k]):7.0f}")
    largest = max(sizes, key=sizes.get)
    med = statistics.median(times[largest])
    print(
        f"largest map: {largest} {sizes[largest] / 1e6:.2f} MB (goal < 5 MB: "
        f"{'met' if sizes[largest] < 5e6 else 'NOT met'}), render {med:.0f} ms median over {args.repeat} runs "
        f"(goal < 2000 ms: {'met' if med < 2000 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
