"""Reuse what ``tj.analyse`` wrote instead of computing it again for the maps (#15).

``tjspatial publish`` runs the analysis and then the maps; the coverage map and the indicators page show
results the analysis has just written (``coverage.csv``, ``coverage_delta.csv``, ``indicators.csv`` in
``out/analysis``). :func:`record_analysis` writes, beside those outputs, :data:`RECORD`: what they were computed
from — the GeoPackage (path, size, modification time, SHA-256), the analysis inputs (population, land cover,
walk graph), a fingerprint of the code and catalog, the fetched population grids in the cache — and the SHA-256
of each output. :func:`load_analysis` reuses the outputs only when all of that still holds for the GeoPackage
being mapped; otherwise it says why, and the maps compute their own results. Stale results are never used
silently.

Reused and recomputed results give byte-identical pages (tests/test_publish_reuse.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..build_context import file_sha256
from ..paths import catalog_dir

__all__ = ["RECORD", "AnalysisOutputs", "record_analysis", "load_analysis", "gpkg_fingerprint"]

RECORD = "analysis_record.json"
"""The provenance record :func:`record_analysis` writes in the analysis folder."""

_REUSED = ("coverage.csv", "coverage_delta.csv", "indicators.csv")
"""The outputs the maps read (their SHA-256 is in the record)."""

_VERSION = 1


def gpkg_fingerprint(gpkg: str | Path) -> dict:
    """The GeoPackage's path, size, modification time (ns) and SHA-256.

    Parameters
    ----------
    gpkg : str, pathlib.Path or GeoPackage
        The GeoPackage.

    Returns
    -------
    dict
        ``path``, ``size`` (bytes), ``mtime_ns``, ``sha256``.
    """
    path = Path(getattr(gpkg, "path", gpkg)).resolve()
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_sha256(path)}


def _code_fingerprint() -> str:
    """SHA-256 over the package's Python sources and the catalog files (what the results are computed by)."""
    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for root, pattern in ((pkg, "**/*.py"), (catalog_dir(), "*.toml")):
        for p in sorted(root.glob(pattern)):
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _population_cache() -> list[list]:
    """The fetched population grids the coverage ranges include (name, size, modification time)."""
    from ..analysis.population_fetch import default_cache_dir

    cache = default_cache_dir()
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(cache.glob("*_tianjin.tif"))]


def _inputs(population=None, landcover=None, graph=None) -> dict:
    """The analysis arguments that change the reused outputs, as text (None: the default)."""

    def text(v):
        return None if v is None else (str(v) if isinstance(v, (str, Path)) else f"<{type(v).__name__}>")

    return {"population": text(population), "landcover": text(landcover), "walk_graph": text(graph)}


def record_analysis(
    out_dir: str | Path, gpkg: str | Path, written: dict, *, population=None, landcover=None, graph=None
) -> Path:
    """Write :data:`RECORD` in ``out_dir`` for the outputs ``tj.analyse`` just wrote there from ``gpkg``.

    Parameters
    ----------
    out_dir : str or Path
        The analysis folder.
    gpkg : str, Path or GeoPackage
        The GeoPackage the analysis read.
    written : dict
        What ``tj.analyse`` returned (output name → path).
    population, landcover, graph
        The arguments ``tj.analyse`` was called with.

    Returns
    -------
    Path
        The record written (atomically).
    """
    out = Path(out_dir)
    outputs = {}
    for p in written.values():
        p = Path(p)
        if p.name in _REUSED and p.parent.resolve() == out.resolve() and p.is_file():
            outputs[p.name] = file_sha256(p)
    record = {
        "version": _VERSION,
        "analysed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "gpkg": gpkg_fingerprint(gpkg),
        "inputs": _inputs(population, landcover, graph),
        "code": _code_fingerprint(),
        "population_cache": _population_cache(),
        "outputs": outputs,
    }
    path = out / RECORD
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


@dataclass
class AnalysisOutputs:
    """The analysis outputs the maps may reuse, or why they may not.

    ``usable`` is True when the record matches the GeoPackage being mapped; ``reason`` says, in one line, what
    was reused or why the results are computed again.
    """

    folder: Path
    usable: bool
    reason: str
    record: dict = field(default_factory=dict)

    def _read(self, name: str) -> pd.DataFrame | None:
        p = self.folder / name
        if not self.usable or name not in self.record.get("outputs", {}) or not p.is_file():
            return None
        return pd.read_csv(p, encoding="utf-8-sig")

    def coverage_table(self, gpkg) -> tuple[pd.DataFrame | None, list[str]] | None:
        """:func:`tjspatial.publish.site.coverage_table` rebuilt from ``coverage.csv`` and ``coverage_delta.csv``
        (districts, all stations, 800 m buffers); None when they are not usable.

        Parameters
        ----------
        gpkg : str, pathlib.Path or GeoPackage
            The GeoPackage the maps are drawn from (for the station count).

        Returns
        -------
        tuple or None
            ``(table, notes)`` as :func:`tjspatial.publish.site.coverage_table` returns, or None.
        """
        from ..analysis.coverage import select_stations
        from ..catalog import get_catalog, role_id

        cov = self._read("coverage.csv")
        if cov is None:
            return None
        rows = cov[
            (cov["areas"] == role_id("district_areas"))
            & (cov["station_set"] == "all")
            & (cov["method"] == "buffer")
            & (cov["distance_m"] == 800.0)
        ].reset_index(drop=True)
        if not len(rows) or "pop_share_min" not in rows:
            return None
        table = rows[[c for c in ("area", "name_zh", "name_en", "pop_total", "stations") if c in rows]].copy()
        table["pop_share_pct"] = rows["pop_share"].to_numpy() * 100
        table["pop_share_min_pct"] = rows["pop_share_min"].to_numpy() * 100
        table["pop_share_max_pct"] = rows["pop_share_max"].to_numpy() * 100
        notes: list[str] = []
        if get_catalog().with_role("planned_lines"):
            delta = self._read("coverage_delta.csv")
            if delta is None or list(delta["area"]) != list(rows["area"]):
                return None
            table["pop_share_2025_pct"] = delta["pop_share_scenario"].to_numpy() * 100
            table["delta_pp"] = delta["pop_share_delta"].to_numpy() * 100
            table["stations_2025"] = delta["stations_scenario"].to_numpy()
        else:
            notes.append(
                "2025 规划情景尚不可用，仅显示现状 / the 2025 plan scenario is not available in this "
                "version; existing network only"
            )
        first = rows.iloc[0]
        table.attrs = {
            "method": first["method"],
            "distance_m": float(first["distance_m"]),
            "kind": "all",
            "station_count": int(len(select_stations(None, kind="all", path=gpkg))),
            "population_source": first["population_source"],
            "population_year": int(first["population_year"]),
            "population_accuracy": first["population_accuracy"],
            "station_snapshot": first["station_snapshot"],
        }
        return table, notes

    def indicators(self) -> pd.DataFrame | None:
        """``indicators.csv`` as ``tj.indicators`` returns it (None when not usable).

        Returns
        -------
        pandas.DataFrame or None
            The indicators table, or None.
        """
        df = self._read("indicators.csv")
        if df is not None:
            df.attrs = {"method": "tjspatial indicators", "landcover": None}
        return df


def load_analysis(folder: str | Path, gpkg: str | Path) -> AnalysisOutputs:
    """The analysis outputs in ``folder`` if its :data:`RECORD` matches ``gpkg`` (and the code, the inputs and
    the outputs themselves); otherwise an :class:`AnalysisOutputs` with ``usable=False`` saying why.

    Parameters
    ----------
    folder : str or Path
        The analysis folder (``out/analysis``).
    gpkg : str, Path or GeoPackage
        The GeoPackage the maps are drawn from.

    Returns
    -------
    AnalysisOutputs
    """
    folder = Path(folder)

    def no(reason: str, record: dict | None = None) -> AnalysisOutputs:
        return AnalysisOutputs(folder, False, f"{reason}: computing coverage and indicators for the maps", record or {})

    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return no(f"no analysis record in {folder}")
    except (OSError, ValueError) as err:
        return no(f"unreadable analysis record {folder / RECORD} ({err})")
    if not isinstance(record, dict) or record.get("version") != _VERSION:
        return no(f"analysis record {folder / RECORD} is of another version")
    fp = gpkg_fingerprint(gpkg)
    old = record.get("gpkg") or {}
    if old.get("sha256") != fp["sha256"]:
        return no(
            f"analysis outputs in {folder} are stale: made from {old.get('path', '?')} (SHA-256 "
            f"{str(old.get('sha256'))[:12]}…), not from {fp['path']} (SHA-256 {fp['sha256'][:12]}…)",
            record,
        )
    inputs = {k: v for k, v in (record.get("inputs") or {}).items() if k != "walk_graph"}  # adds rows only
    if inputs != {k: v for k, v in _inputs().items() if k != "walk_graph"}:
        changed = {k: v for k, v in inputs.items() if v is not None}
        return no(f"analysis outputs in {folder} were made with {changed}, the maps use the defaults", record)
    if record.get("code") != _code_fingerprint():
        return no(f"analysis outputs in {folder} were made by other tjspatial code or catalog", record)
    if record.get("population_cache") != _population_cache():
        return no(f"the fetched population grids changed since the analysis in {folder}", record)
    for name, sha in (record.get("outputs") or {}).items():
        p = folder / name
        if not p.is_file() or file_sha256(p) != sha:
            return no(f"{p} changed since the analysis wrote it", record)
    return AnalysisOutputs(
        folder,
        True,
        f"reusing coverage and indicators from {folder} (analysed {record.get('analysed_at', '?')} from the same "
        f"GeoPackage, SHA-256 {fp['sha256'][:12]}…)",
        record,
    )
