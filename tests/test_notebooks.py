"""The analyst notebooks (notebooks/*.ipynb) run top to bottom against the bundled data, without network.

Each notebook is executed with nbclient (kernel python3, 300 s per cell, working directory notebooks/). The
notebooks read ``TJSPATIAL_NOTEBOOK_GPKG`` (else ``layers/tianjin.gpkg``): here it is the session's freshly
built GeoPackage, so a stale local ``layers/tianjin.gpkg`` never matters. Select with ``-m notebooks``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
MAX_BYTES = 1_000_000

# what each executed notebook must print (real values from the bundled data and the library's models)
EXPECTED = {
    "01_rail_coverage": [
        r"grid total 13,866,009 persons; every district equal to its census figure: True",
        r"coverage pop_total equal to the census in every district: True",
        r"800 m, open network: 津城 \d+\.\d %, 滨城 \d+\.\d % of residents",
        r"800 m, passenger stations: 滨城 \d+\.\d % \(range \d+\.\d–\d+\.\d %\)",
        r"stations: OSM extract 2025-02",
    ],
    "02_barrier_wetlands": [
        r"green barrier, all levels: 73\d\.\d km² measured; plan target 736 km2",
        r"CRS of the rings: EPSG:4548",
    ],
    "03_ports": [r"expressway indicator: not measurable"],
    "04_dual_city_link": [r"open network: \d+\.\d min; 2025 plan network: \d+\.\d min; target ≈ 20 min"],
    "05_bring_your_own_data": [
        r"refused: layer 'districts', file .*rule crs",
        r"total 13,866,009 persons \(the 250 m grid: 13,866,009\)",
        r"removed tjspatial_nb05_",
    ],
}


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o["text"])
            elif "data" in o and "text/plain" in o["data"]:
                out.append(o["data"]["text/plain"])
    return "\n".join(out)


def test_the_five_notebooks_exist():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]
    assert set(EXPECTED) == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_executed_small_and_honest(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes (keep it under 1 MB)"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), f"{path.name}: commit it executed"
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "精度" in prose and "Accuracy" in prose, f"{path.name} must state the accuracy of what it uses"
    assert re.search(r"[\u4e00-\u9fff]", prose) and re.search(r"[A-Za-z]{4,}", prose)  # Chinese and English
    assert "示意" in prose or "modelled" in prose
    for pattern in EXPECTED[path.stem]:
        assert re.search(pattern, _text(nb)), f"{path.name}: no output matching {pattern!r}"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, built_gpkg, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("TJSPATIAL_NOTEBOOK_GPKG", str(built_gpkg))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # conftest sets Agg
    imports = ROOT / "layers" / "imports"
    before = sorted(p.name for p in imports.iterdir()) if imports.is_dir() else []
    gpkg = ROOT / "layers" / "tianjin.gpkg"
    gpkg_stat = gpkg.stat().st_mtime_ns if gpkg.exists() else None

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}})
    client.execute()  # raises CellExecutionError naming the cell on any error

    for pattern in EXPECTED[path.stem]:
        assert re.search(pattern, _text(nb)), f"{path.name}: no output matching {pattern!r}"
    after = sorted(p.name for p in imports.iterdir()) if imports.is_dir() else []
    assert after == before, "a notebook wrote into layers/imports/"
    assert (gpkg.stat().st_mtime_ns if gpkg.exists() else None) == gpkg_stat, "a notebook rebuilt layers/tianjin.gpkg"
