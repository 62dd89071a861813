"""Build the GeoPackage: every catalog layer, validated, written atomically, with provenance.

``build()`` runs each layer's builder in catalog order, fixes its schema (:func:`finish_layer`), validates it
(:mod:`tjspatial.validate`) and writes all layers plus the ``provenance`` and ``catalog`` tables to a
temporary file, which replaces the target only when everything succeeded. A failing build leaves the
previous GeoPackage untouched.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from .build_context import BuildContext, finish_layer
from .catalog import Catalog, Layer, get_catalog
from .errors import BuildError, InputError, UnknownNameError
from .gpkg import read_table, write_gpkg_atomic  # noqa: F401 - also public here (earlier home)
from .locks import file_lock, gpkg_lock_path
from .paths import default_gpkg, sources_dir as default_sources_dir
from .sources.imported import build_from_import, recorded_overrides
from .validate import validate_layer

__all__ = ["build", "write_gpkg_atomic", "read_table", "reference_tables", "format_summary", "SOURCES"]

SOURCES = ("bundled", "osm", "extract")
"""Where ``build`` takes layers from: bundled files, OSM via Overpass, or a local OSM extract file."""


def _progress(quiet: bool) -> Callable[[str], None]:
    if quiet:
        return lambda msg: None
    return lambda msg: print(msg, file=sys.stderr, flush=True)


def _resolve_builder(layer: Layer, ctx: BuildContext) -> tuple[Callable, str]:
    """The function that builds ``layer`` for this build, and a label of where the data came from."""
    if layer.id in ctx.overrides:
        return build_from_import, f"import:{ctx.overrides[layer.id]}"
    source = ctx.options.get("source", "bundled")
    if source != "bundled":
        mod = importlib.import_module("tjspatial.sources.osm")
        func = mod.resolve_builder(layer, ctx)
        if func is not None:
            return func, source
    return layer.builder_func(), "bundled"


def _all_depends(cat: Catalog, layer: Layer) -> set[str]:
    """Every layer ``layer`` depends on, directly or through other layers."""
    seen, todo = set(), list(layer.depends)
    while todo:
        lid = todo.pop()
        if lid not in seen and lid in cat:
            seen.add(lid)
            todo += list(cat[lid].depends)
    return seen


def format_summary(prov: pd.DataFrame) -> str:
    """The per-layer outcome of a build as a text table: where each layer came from, how many features
    came from OSM and how many fell back to the bundled source (and why), and the OSM inputs of derived
    layers.

    Parameters
    ----------
    prov : pandas.DataFrame
        The build's provenance table (one row per layer).

    Returns
    -------
    str
        The text table, one line per layer.
    """
    lines = ["build summary (layer, built from, OSM features, fallback features, why / OSM inputs):"]
    for r in prov.itertuples():
        why = r.fallback if r.fallback else (f"from OSM inputs: {r.osm_inputs}" if r.osm_inputs else "")
        if len(why) > 160:
            why = why[:157] + "…"
        lines.append(f"  {r.layer:<16} {r.built_from:<16} {r.osm_features:>6} {r.fallback_features:>6}  {why}")
    n_fb = int((prov["fallback"] != "").sum())
    lines.append(
        f"  {n_fb} layer(s) with a fallback" + (" (see the provenance table's 'fallback' column)" if n_fb else "")
    )
    return "\n".join(lines)


def reference_tables(cat: Catalog, sources_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, Path]]:
    """The sources the catalog declares a ``table`` for, to be copied into the GeoPackage so that it stands
    alone: CSV files as text tables (parsed by :func:`tjspatial.io.read_source_table` as ``pandas.read_csv``
    parses the file), rasters as raster tables.

    Parameters
    ----------
    cat : Catalog
        The catalog (its sources with a ``table``).
    sources_dir : pathlib.Path
        The folder of the source files (``layers/sources``).

    Returns
    -------
    tables : dict of str to pandas.DataFrame
        CSV sources by table name, as text tables.
    rasters : dict of str to pathlib.Path
        Raster sources by table name (the files to copy).

    Raises
    ------
    BuildError
        Naming the source and file when a file is missing or not readable as UTF-8 CSV.
    """
    tables: dict[str, pd.DataFrame] = {}
    rasters: dict[str, Path] = {}
    for src in cat.sources.values():
        if not (src.table and src.file):
            continue
        f = Path(sources_dir) / src.file
        if not f.is_file():
            raise BuildError(f"source {src.id!r} (table {src.table!r}) is missing", file=str(f))
        if f.suffix.lower() in (".tif", ".tiff"):
            rasters[src.table] = f
            continue
        try:
            tables[src.table] = pd.read_csv(f, dtype=str, keep_default_na=False, encoding="utf-8")
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise BuildError(f"source {src.id!r}: cannot read CSV: {exc}", file=str(f)) from exc
    return tables, rasters


def build(
    source: str = "bundled",
    out: str | Path | None = None,
    *,
    layers: Iterable[str] | None = None,
    quiet: bool = True,
    overrides: dict[str, Path] | None = None,
    options: dict | None = None,
    catalog: Catalog | None = None,
    sources_dir: str | Path | None = None,
) -> Path:
    """Build every catalog layer into one GeoPackage and return its path.

    Parameters
    ----------
    source : {"bundled", "osm", "extract"}
        ``"bundled"`` (files in ``layers/sources``), ``"osm"`` (Overpass via osmnx) or ``"extract"`` (a
        local OSM file given in ``options["extract"]``). Layers a source cannot supply fall back to the
        bundled builder, whole or feature by feature (``options["strict"]``: an error instead); the
        provenance table records per layer ``built_from`` (``extract``, ``extract+bundled``, ``bundled`` …),
        ``osm_features``, ``fallback_features``, ``fallback`` (why), ``osm_inputs`` (the layers it depends on
        that came from OSM) and ``plausibility`` (failed rules), and the build prints this as a summary
        (:func:`format_summary`) unless ``quiet``.
    out : str or Path, optional
        Target GeoPackage; default ``layers/tianjin.gpkg``.
    layers : iterable of str, optional
        Build only these layer ids (plus nothing else: their ``depends`` must be among them).
    quiet : bool
        No progress lines on stderr.
    overrides : dict of str to Path, optional
        Layer id → user file replacing the layer (default: the imports recorded in ``layers/imports``).
    options : dict, optional
        Source options (see :class:`tjspatial.settings.OsmSettings`: OSM endpoint, cache, date, extract...).
    catalog : Catalog, optional
        The catalog to build (default ``tj.get_catalog()``).
    sources_dir : str or Path, optional
        Folder of the source files (default ``layers/sources``).

    Returns
    -------
    Path
        ``out``, written atomically with every layer, the ``provenance`` and ``catalog`` tables and the
        reference tables of the sources the catalog declares a ``table`` for.

    Raises
    ------
    BuildError / ValidationError
        Naming the layer, file, feature, field and rule at fault. The previous GeoPackage is kept.
    LockTimeout
        Another run kept writing the same GeoPackage for longer than :data:`tjspatial.locks.DEFAULT_TIMEOUT_S`
        (concurrent runs on one GeoPackage wait for each other: :func:`tjspatial.locks.file_lock`).
    """
    out = Path(out) if out else default_gpkg()
    with file_lock(gpkg_lock_path(out), what=f"the GeoPackage {out}", on_wait=_progress(quiet)):
        return _build(
            source,
            out,
            layers=layers,
            quiet=quiet,
            overrides=overrides,
            options=options,
            catalog=catalog,
            sources_dir=sources_dir,
        )


def _build(
    source: str,
    out: Path,
    *,
    layers: Iterable[str] | None,
    quiet: bool,
    overrides: dict[str, Path] | None,
    options: dict | None,
    catalog: Catalog | None,
    sources_dir: str | Path | None,
) -> Path:
    if source not in SOURCES:
        raise InputError(f"unknown source {source!r}; use one of {SOURCES}")
    cat = catalog or get_catalog()
    out = Path(out) if out else default_gpkg()
    say = _progress(quiet)
    if overrides is None:
        overrides = recorded_overrides(catalog=cat)
    ctx = BuildContext(
        catalog=cat,
        sources_dir=Path(sources_dir) if sources_dir else default_sources_dir(),
        overrides=dict(overrides),
        options={"source": source, **(options or {})},
    )
    wanted = list(layers) if layers is not None else cat.ids
    unknown = [w for w in wanted if w not in cat]
    if unknown:
        raise UnknownNameError(f"unknown layer(s) {unknown}; known layers: {', '.join(cat.ids)}")
    todo = [lay for lay in cat.layers if lay.id in wanted]
    built_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    prov_rows = []
    osm_built: dict[str, bool] = {}
    if not quiet:
        ctx.options.setdefault("_progress", say)
    t0 = time.perf_counter()
    for n, layer in enumerate(todo, 1):
        t = time.perf_counter()
        ctx.layer = layer
        warn_before = len(ctx.warnings)  # before resolving: a source may warn there (e.g. OSM --offline)
        func, label = _resolve_builder(layer, ctx)
        fell_back = ""
        try:
            try:
                raw = func(ctx)
            except BuildError as exc:
                if not getattr(exc, "fallback", False):
                    raise
                if ctx.options.get("strict"):
                    raise BuildError(
                        f"--strict: {exc.message} (without --strict the layer would keep its bundled source)",
                        layer=layer.id,
                        file=exc.file,
                        rule="strict",
                    ) from exc
                fell_back = exc.message
                ctx.warn(f"{fell_back}; the whole layer kept its bundled source")
                func, label = layer.builder_func(), "bundled"
                ctx.fallbacks.pop(layer.id, None)
                raw = func(ctx)
        except BuildError:
            raise
        except Exception as exc:
            raise BuildError(f"builder failed ({type(exc).__name__}: {exc})", layer=layer.id) from exc
        gdf = finish_layer(raw, layer, source_label=label)
        validate_layer(gdf, layer)
        ctx.layers[layer.id] = gdf
        warnings = ctx.warnings[warn_before:]
        from_osm = label in ("osm", "extract")
        partial = sum(n for n, _ in ctx.fallbacks.get(layer.id, []))
        n_osm = int(gdf["source"].astype(str).str.startswith("OpenStreetMap").sum()) if from_osm else 0
        if from_osm and partial:
            label = f"{label}+bundled"
        osm_built[layer.id] = from_osm
        osm_inputs = sorted(d for d in _all_depends(cat, layer) if osm_built.get(d))
        prov_rows.append(
            {
                "layer": layer.id,
                "title_zh": layer.title_zh,
                "title_en": layer.title_en,
                "built_from": label,
                "sources": ", ".join(layer.sources),
                "licence": cat.licence(layer.id),
                "attribution": cat.attribution(layer.id),
                # an imported layer's class is the one its importer declared (per feature), not the catalog's
                "accuracy": (
                    ", ".join(sorted(set(gdf["accuracy"]))) if label.startswith("import:") else layer.accuracy
                ),
                "feature_count": len(gdf),
                "inputs_sha256": json.dumps(ctx.inputs.get(layer.id, {}), sort_keys=True, ensure_ascii=False),
                "build_time": built_at,
                "warnings": " | ".join(warnings),
                "osm_features": n_osm,
                "fallback_features": len(gdf) if fell_back else partial,
                "fallback": fell_back or " | ".join(r for _, r in ctx.fallbacks.get(layer.id, [])),
                "osm_inputs": ", ".join(osm_inputs),
                "plausibility": " | ".join(ctx.shared.get("plausibility", {}).get(layer.id, [])),
            }
        )
        say(
            f"[{n}/{len(todo)}] {layer.id:<16} {len(gdf):>6} features  {time.perf_counter() - t:5.2f} s"
            + (f"  ({len(warnings)} warning(s))" if warnings else "")
        )
        for w in warnings:
            say(f"        warning: {w}")
    prov = pd.DataFrame(prov_rows)
    tables = {"provenance": prov, "catalog": cat.to_frame()}
    refs, rasters = reference_tables(cat, ctx.sources_dir)
    write_gpkg_atomic(out, {lid: ctx.layers[lid] for lid in wanted}, {**tables, **refs}, rasters)
    if source != "bundled":
        say(format_summary(prov))
    say(f"wrote {out} ({len(todo)} layers) in {time.perf_counter() - t0:.1f} s")
    return out
