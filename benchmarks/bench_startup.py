"""Benchmark: start-up time of ``import tjspatial`` and ``tjspatial --help`` (goals: < 1.5 s and < 0.5 s).

Each command runs in a fresh interpreter; the baseline in the same run is the eager import of every public
name (what ``import tjspatial`` cost before the public API became lazy), so the ratio says what laziness saves.

Run: python benchmarks/bench_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "import tjspatial": [sys.executable, "-c", "import tjspatial"],
    "tjspatial --help": [sys.executable, "-m", "tjspatial.cli", "--help"],
    "baseline: every public name": [
        sys.executable,
        "-c",
        "import tjspatial as tj\nfor n in tj.__all__: getattr(tj, n)",
    ],
}
GOALS = {"import tjspatial": 1.5, "tjspatial --help": 0.5}


def _time(cmd: list[str], repeat: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    for cmd in COMMANDS.values():  # warm the file cache
        _time(cmd, 1)
    medians = {name: statistics.median(_time(cmd, args.repeat)) for name, cmd in COMMANDS.items()}
    base = medians["baseline: every public name"]
    for name, med in medians.items():
        goal = GOALS.get(name)
        verdict = f"; goal < {goal} s -> {'met' if med < goal else 'NOT met'}" if goal else ""
        print(f"{name:<30} median {med:6.3f} s over {args.repeat} runs  ({med / base:5.2f} x baseline){verdict}")


if __name__ == "__main__":
    main()
