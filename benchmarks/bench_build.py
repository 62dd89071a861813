"""Benchmark: time of a full `tjspatial build` from the bundled sources (goal: under 30 s on 2 cores).

Run: python benchmarks/bench_build.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tjspatial import build, get_catalog


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            t = time.perf_counter()
            build(out=Path(tmp) / f"bench{i}.gpkg", quiet=True)
            times.append(time.perf_counter() - t)
    n = len(get_catalog())
    print(
        f"tjspatial build (bundled, {n} layers): median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s over {args.repeat} runs; goal < 30 s -> "
        f"{'met' if statistics.median(times) < 30 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
