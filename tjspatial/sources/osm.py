"""Building layers from OpenStreetMap: online through Overpass, or from a local extract file.

``tjspatial build --source osm`` and ``--source extract FILE`` call :func:`resolve_builder` for every catalog
layer. A layer with an ``[layer.osm]`` table gets a builder that reads its OSM data and normalises it to the
catalog schema (:mod:`tjspatial.sources.osm_layers`); any other layer keeps its bundled builder, and the
provenance table's ``built_from`` says which source built each layer (``osm``, ``extract``, ``osm+bundled`` /
``extract+bundled`` when some features fell back, or ``bundled``).

Where the data comes from
-------------------------
* ``osm``: one Overpass query per layer (its selectors, inside the Tianjin polygon from the bundled
  ``boundary`` source buffered by 1 km and simplified at 500 m in EPSG:4548, ~250 vertices — no geocoder
  call), answered in OSM XML and cached in ``cache_dir`` (default ``layers/osm_cache``). Options:
  ``osm_date`` (attic query, ``YYYY-MM-DD``), ``overpass_url``, ``timeout`` (s per request, all included),
  ``deadline`` (s for all requests of the build), ``retries``, ``backoff`` (s, doubled per retry),
  ``offline`` (cache only: layers whose answer is not cached keep their bundled builder and a warning
  names them).
* ``extract``: ``.osm.pbf``, ``.osm``, ``.osm.gz``, ``.osm.bz2``. Files over 20 MB (and every PBF) are first
  clipped to the Tianjin polygon and the tags the catalog's queries use (:func:`extract_data`: osmium-tool,
  else pyosmium) into an XML file in the cache folder; the result is parsed once
  (:class:`~tjspatial.sources.osm_data.OsmData`) and shared by every OSM layer of the build. A file with
  nothing inside Tianjin stops the build with its extent against Tianjin's.

What is not covered falls back
------------------------------
A layer whose OSM data holds nothing usable (:class:`~tjspatial.sources.osm_layers.NotCovered`) keeps its
bundled source (the build records why; ``strict`` makes it an error). Within a layer, the catalog may ask
to keep bundled features the OSM data does not have: ``keep_bundled_outside = true`` (features outside the
area the data covers, e.g. stations beyond a Binhai-only cut) and ``keep_bundled_missing = "line_id"``
(features whose id the data lacks); districts fall back one by one (see ``osm_layers.districts``).
``[layer.osm] plausible`` declares plausibility rules (:data:`PLAUSIBLE_RULES`), checked after the build
of the layer (:func:`check_plausible`).

The walkable street network (:func:`build_walk_graph`, ``tjspatial walk-network``) is saved as GraphML
(default ``layers/osm_cache/walk_network.graphml``) and read back with :func:`load_walk_graph`.
"""

from __future__ import annotations

import functools
import hashlib
import time
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..build_context import BuildContext, finish_layer
from ..catalog import Catalog, Layer
from ..crs import STORAGE_CRS, to_metric, to_storage
from ..errors import BuildError
from ..paths import layers_dir, sources_dir as default_sources_dir
from ..settings import DEFAULT_BACKOFF, DEFAULT_RETRIES
from . import osm_layers
from .osm_data import OsmData, OsmDoc, read_osm_xml, write_selected_ways
from .osm_extract import clip_extract, clip_filter_pbf, file_extent, is_pbf, is_xml, progress_line, tool_path
from .osm_fetch import DEFAULT_DEADLINE, DEFAULT_OVERPASS_URL, DEFAULT_TIMEOUT, FetchSettings, cache_path, fetch_osm_xml
from .osm_query import Selector, osm_keys, overpass_ql, parse_selectors
from ..atomic import atomic_path

__all__ = [
    "OsmDoc",
    "resolve_builder",
    "query_polygon",
    "fetch_settings",
    "default_cache_dir",
    "WALK_SELECTOR",
    "build_walk_graph",
    "default_walk_graph_path",
    "DEFAULT_OVERPASS_URL",
]

QUERY_MARGIN_M = 1000.0
"""The Tianjin polygon is buffered by this many metres (EPSG:4548) for queries, so border features are kept."""

WALK_SELECTOR = (
    'way["highway"]["area"!~"yes"]["access"!~"private"]'
    '["highway"!~"abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed'
    '|raceway|razed"]["foot"!~"no"]["service"!~"private"]'
)
"""Walkable ways: osmnx's ``network_type="walk"`` filter, as an Overpass selector."""


def default_cache_dir() -> Path:
    """``layers/osm_cache`` (Overpass answers, clipped extracts, the walk network).

    Returns
    -------
    pathlib.Path
        ``layers/osm_cache``.
    """
    return layers_dir() / "osm_cache"


def default_walk_graph_path(cache_dir: str | Path | None = None) -> Path:
    """Where the walk network is saved: ``<cache_dir>/walk_network.graphml`` (default cache
    ``layers/osm_cache``).

    Parameters
    ----------
    cache_dir : str or pathlib.Path, optional
        The OSM cache folder; default ``layers/osm_cache``.

    Returns
    -------
    pathlib.Path
        ``<cache_dir>/walk_network.graphml``.
    """
    return Path(cache_dir or default_cache_dir()) / "walk_network.graphml"


def fetch_settings(options: dict) -> FetchSettings:
    """Overpass settings from build options (``overpass_url, cache_dir, timeout, retries, backoff, offline,
    deadline``). ``deadline`` (s, default :data:`~tjspatial.sources.osm_fetch.DEFAULT_DEADLINE`) bounds all the
    Overpass requests of one build: it is counted from the first call with the same ``options`` dict.

    Parameters
    ----------
    options : dict
        Build options (``tj.build``'s ``options``, :meth:`OsmSettings.as_options`).

    Returns
    -------
    FetchSettings
        The settings, with the build's shared deadline.

    Raises
    ------
    BuildError
        ``timeout`` or ``deadline`` is not a positive finite number (``--timeout 0`` is refused, not replaced
        by the default), or ``retries`` is not an integer from 0 to 100.
    """
    import math
    import time

    def positive(key: str, default: float) -> float:
        value = options.get(key)
        if value is None:
            return default
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise BuildError(f"--{key} must be a positive number of seconds, not {options.get(key)!r}", field=key)
        return value

    timeout = positive("timeout", DEFAULT_TIMEOUT)
    budget = positive("deadline", DEFAULT_DEADLINE)
    started = options.setdefault("_overpass_started", time.monotonic())
    retries = options.get("retries")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int)):
        raise BuildError(f"--retries must be an integer, not {retries!r}", field="retries")
    return FetchSettings(
        url=options.get("overpass_url") or DEFAULT_OVERPASS_URL,
        cache_dir=Path(options.get("cache_dir") or default_cache_dir()),
        timeout=timeout,
        retries=int(retries) if retries is not None else DEFAULT_RETRIES,
        backoff=float(options["backoff"]) if options.get("backoff") is not None else DEFAULT_BACKOFF,
        offline=bool(options.get("offline")),
        deadline=started + budget,
    )


# ------------------------------------------------------------------------------------------------ the polygon


def tianjin_boundary(ctx: BuildContext) -> shapely.Geometry:
    """The Tianjin outline (EPSG:4326): the boundary built earlier in this build, else the bundled file."""
    lay = ctx.layers.get("boundary")
    if lay is None:
        src = ctx.catalog["boundary"].sources[0] if "boundary" in ctx.catalog else "tianditu_boundary"
        lay = ctx.read_vector(src)
    return shapely.union_all(shapely.make_valid(np.asarray(lay.geometry.values)))


def query_polygon(
    boundary: shapely.Geometry, margin_m: float = QUERY_MARGIN_M, tolerance_m: float = 500.0
) -> shapely.Geometry:
    """``boundary`` (EPSG:4326) buffered by ``margin_m`` and simplified by ``tolerance_m`` metres in EPSG:4548,
    holes dropped, back in EPSG:4326: the polygon every OSM query and clip uses.

    Parameters
    ----------
    boundary : shapely.Geometry
        The municipal boundary, EPSG:4326.
    margin_m : float, optional
        Buffer, metres (default :data:`QUERY_MARGIN_M`).
    tolerance_m : float, default 500.0
        Simplification tolerance, metres.

    Returns
    -------
    shapely.Geometry
        The query polygon, EPSG:4326.
    """
    g = to_metric(gpd.GeoDataFrame(geometry=[boundary], crs=STORAGE_CRS))
    from ..crs import buffer_m

    buf = buffer_m(g, margin_m).simplify(tolerance_m)
    parts = shapely.get_parts(np.asarray(buf.values))
    shells = shapely.polygons(shapely.get_exterior_ring(parts))
    out = gpd.GeoSeries([shapely.union_all(shells)], crs=g.crs)
    return to_storage(gpd.GeoDataFrame(geometry=out)).geometry.iloc[0]


def _all_selectors(catalog: Catalog) -> list[Selector]:
    return [
        s
        for layer in catalog
        if layer.osm
        for s in parse_selectors(list(layer.osm.get("select", [])) + list(layer.osm.get("routes", [])), layer.id)
    ]


DIRECT_XML_BYTES = 20_000_000
"""OSM XML files up to this size are parsed whole; larger ones (and every PBF) are clipped first."""


def _fmt_box(box) -> str:
    """``"116.69–118.07°E, 38.55–40.25°N"`` (W/S for negative values; 3 decimals for extents under 0.1°)."""
    x0, y0, x1, y1 = box
    nd = 3 if min(x1 - x0, y1 - y0) < 0.1 else 2

    def lon(v):
        return f"{abs(v):.{nd}f}°{'E' if v >= 0 else 'W'}"

    def lat(v):
        return f"{abs(v):.{nd}f}°{'N' if v >= 0 else 'S'}"

    xs = f"{lon(x0)[:-2]}–{lon(x1)}" if (x0 >= 0) == (x1 >= 0) else f"{lon(x0)}–{lon(x1)}"
    ys = f"{lat(y0)[:-2]}–{lat(y1)}" if (y0 >= 0) == (y1 >= 0) else f"{lat(y0)}–{lat(y1)}"
    return f"{xs}, {ys}"


def extract_data(ctx: BuildContext, src: Path, polygon) -> OsmData:
    """The extract ``src`` clipped to ``polygon``'s box and the catalog's tag keys (cached in the cache folder
    by the file's path, size and mtime, the box and the keys) and parsed once per build.

    Raises
    ------
    BuildError
        The file is missing or of unknown format, or holds nothing inside Tianjin (the message gives the
        file's extent against Tianjin's; the build stops and the previous GeoPackage is kept).
    """
    key = ("extract", str(src))
    if key in ctx.shared:
        return ctx.shared[key]
    if not src.is_file():
        raise BuildError(f"OSM extract not found: {src}", layer=ctx.layer_id, file=str(src))
    if not (is_xml(src) or is_pbf(src)):
        raise BuildError(
            "unknown extract format; use .osm, .osm.gz, .osm.bz2 or .osm.pbf", layer=ctx.layer_id, file=str(src)
        )
    say = ctx.options.get("_progress") or (lambda msg: None)
    t0 = time.perf_counter()
    clipped = not (is_xml(src) and src.stat().st_size <= DIRECT_XML_BYTES)
    if clipped:
        keys = sorted(osm_keys(_all_selectors(ctx.catalog)))
        bbox = tuple(np.round(shapely.bounds(polygon), 6))
        st = src.stat()
        digest = hashlib.sha256(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}|{bbox}|{keys}".encode()).hexdigest()
        out = fetch_settings(ctx.options).cache_dir / f"extract-{src.name.split('.')[0]}-{digest[:16]}.osm"
        if not out.is_file():
            say(
                f"        clipping {src.name} ({src.stat().st_size / 1e6:,.1f} MB) to Tianjin's box "
                f"{_fmt_box(bbox)} and {len(keys)} tag keys …"
            )
            clip_extract(src, out, polygon, set(keys), progress=say)
        path = out
    else:
        path = src
    t1 = time.perf_counter()
    data = read_osm_xml(
        path,
        layer_id=ctx.layer_id,
        progress=lambda n, share: say(progress_line(f"parsing {path.name}", n, share, time.perf_counter() - t1)),
    )
    c = data.counts
    say(
        f"        read {path.name}: {c['nodes']:,} nodes, {c['ways']:,} ways, {c['relations']:,} relations "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    if data.nodes_inside(polygon) == 0:
        box = data.extent() if not clipped else file_extent(src)
        where = f"the file spans {_fmt_box(box)}" if box else "the file holds no node at all"
        raise BuildError(
            f"the OSM extract holds nothing inside Tianjin: {where}; Tianjin (+1 km) spans "
            f"{_fmt_box(shapely.bounds(polygon))}. Use an extract that covers Tianjin (e.g. "
            f"Geofabrik's china-latest.osm.pbf or a BBBike cut of Tianjin); nothing was written",
            layer=ctx.layer_id,
            file=str(src),
        )
    ctx.shared[key] = data
    return data


def _overpass_data(ctx: BuildContext, path: Path) -> OsmData:
    key = ("overpass", str(path))
    if key not in ctx.shared:
        ctx.shared[key] = read_osm_xml(path, layer_id=ctx.layer_id)
    return ctx.shared[key]


def _build_from_doc(
    ctx: BuildContext,
    *,
    layer: Layer,
    normalise: Callable,
    data_of: Callable[[], OsmData],
    polygon,
    boundary,
    label_of: Callable[[OsmData], tuple[str, str]],
) -> gpd.GeoDataFrame:
    data = data_of()
    ctx.file(data.path)
    label, date = label_of(data)
    doc = OsmDoc(path=data.path, layer=layer, polygon=polygon, boundary=boundary, label=label, date=date, data=data)
    gdf = normalise(doc, ctx)
    # an Overpass answer covers the whole query polygon; an extract covers the hull of its nodes
    covered = polygon if ctx.options.get("source") == "osm" else data.coverage()
    bundled = None
    if layer.osm.get("keep_bundled_outside"):
        bundled = _bundled_quietly(layer, ctx)
        g = np.asarray(bundled.geometry.values)
        outside = shapely.intersects(g, polygon) & ~shapely.intersects(g, covered)
        if outside.any():
            ctx.fallback(int(outside.sum()), "outside the area the OSM data covers (its nodes' hull)")
            gdf = _with_bundled(gdf, bundled[outside])
    key = layer.osm.get("keep_bundled_missing")
    if key:
        bundled = bundled if bundled is not None else _bundled_quietly(layer, ctx)
        absent = ~bundled[key].astype(str).isin(set(gdf[key].astype(str)))
        if absent.any():
            ctx.fallback(
                int(absent.sum()), f"{key} {', '.join(map(str, bundled.loc[absent, key]))} not in the OSM data"
            )
            gdf = _with_bundled(gdf, bundled[absent])
        if STATIONS in layer.depends and STATIONS in ctx.layers:
            # a feature the bundled builder cannot draw on the built stations (a partial extract lacks them)
            # is drawn on the bundled station positions, as in a bundled build, rather than lost in silence
            ref = _on_bundled_stations(layer, ctx)
            more = ~ref[key].astype(str).isin(set(gdf[key].astype(str)))
            if more.any():
                ctx.fallback(
                    int(more.sum()),
                    f"{key} {', '.join(map(str, ref.loc[more, key]))} neither in the OSM data nor drawable on "
                    f"the built {STATIONS} layer; drawn on the bundled station positions (rail_stations_osm.geojson)",
                )
                gdf = _with_bundled(gdf, ref[more])
    check_plausible(layer, gdf, ctx, covered, bundled)
    return gdf


def _with_bundled(gdf: gpd.GeoDataFrame, extra: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with the bundled fallback features ``extra`` appended (only the columns ``gdf`` has)."""
    extra = extra[[c for c in extra.columns if c in gdf.columns]]
    return gpd.GeoDataFrame(pd.concat([gdf, extra], ignore_index=True), geometry="geometry", crs=STORAGE_CRS)


def _bundled_quietly(layer: Layer, ctx: BuildContext) -> gpd.GeoDataFrame:
    """The layer as its bundled builder makes it, as a yardstick or a source of fallback features; the
    builder's own warnings (about features it could not draw) are not the OSM build's and are dropped."""
    n = len(ctx.warnings)
    out = layer.builder_func()(ctx)
    del ctx.warnings[n:]
    return out


STATIONS = "rail_stations"


def _on_bundled_stations(layer: Layer, ctx: BuildContext) -> gpd.GeoDataFrame:
    """The layer as its bundled builder makes it on the bundled stations (not the built ``rail_stations``)."""
    built = ctx.layers[STATIONS]
    st = ctx.catalog[STATIONS]
    ctx.layers[STATIONS] = finish_layer(_bundled_quietly(st, ctx), st, source_label="bundled")
    try:
        return _bundled_quietly(layer, ctx)
    finally:
        ctx.layers[STATIONS] = built


PLAUSIBLE_RULES = {
    "min_features": "at least this many features come from OSM",
    "max_features": "at most this many features",
    "features": "exactly this many features (OSM and fallback together)",
    "min_share_of_bundled": "OSM features ≥ this share of the bundled layer's features inside the area the OSM "
    "data covers",
}
"""Plausibility rules a layer may declare in ``[layer.osm.plausible]``."""


def check_plausible(
    layer: Layer, gdf: gpd.GeoDataFrame, ctx: BuildContext, covered, bundled: gpd.GeoDataFrame | None = None
) -> list[str]:
    """Check ``gdf`` (built from OSM) against the layer's ``[layer.osm.plausible]`` rules. A failed rule is a
    warning naming the rule and the numbers (recorded for the provenance table's ``plausibility`` column),
    or a :class:`BuildError` with ``--strict``. Returns the failures."""
    rules = layer.osm.get("plausible") or {}
    unknown = set(rules) - set(PLAUSIBLE_RULES)
    if unknown:
        raise BuildError(
            f"unknown plausibility rule(s) {sorted(unknown)}; known: {sorted(PLAUSIBLE_RULES)}",
            layer=layer.id,
            field="osm.plausible",
        )
    n_osm = int(gdf["source"].astype(str).str.startswith("OpenStreetMap").sum()) if "source" in gdf else len(gdf)
    fails = []
    if "min_features" in rules and n_osm < rules["min_features"]:
        fails.append(f"min_features = {rules['min_features']}: {n_osm} feature(s) from OSM")
    if "features" in rules and len(gdf) != rules["features"]:
        fails.append(f"features = {rules['features']}: {len(gdf)} features")
    if "max_features" in rules and len(gdf) > rules["max_features"]:
        fails.append(f"max_features = {rules['max_features']}: {len(gdf)} features")
    if "min_share_of_bundled" in rules:
        if bundled is None:
            bundled = _bundled_quietly(layer, ctx)
        if "name_zh" in bundled.columns:  # unnamed bundled points (freight nodes …) are no yardstick
            bundled = bundled[bundled["name_zh"].fillna("").astype(str) != ""]
        g = np.asarray(bundled.geometry.values)
        n_ref = int((shapely.intersects(g, covered)).sum())
        need = rules["min_share_of_bundled"] * n_ref
        if n_ref and n_osm < need:
            fails.append(
                f"min_share_of_bundled = {rules['min_share_of_bundled']:g}: {n_osm} feature(s) from OSM, "
                f"{n_osm / n_ref:.0%} of the {n_ref} bundled ones inside the area the OSM data covers"
            )
    for msg in fails:
        if ctx.options.get("strict"):
            raise BuildError(f"--strict: plausibility rule {msg}", layer=layer.id, rule="plausible")
        ctx.warn(f"plausibility rule {msg}")
    ctx.shared.setdefault("plausibility", {})[layer.id] = fails
    return fails


def resolve_builder(layer: Layer, ctx: BuildContext) -> Callable[[BuildContext], gpd.GeoDataFrame] | None:
    """The builder that makes ``layer`` from OSM for this build, or ``None`` when the layer keeps its bundled
    builder (no ``[layer.osm]`` table, or ``--offline`` and its Overpass answer is not cached: a warning
    then names the layer).

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    ctx : BuildContext
        The build's context (options: source, extract, offline...).

    Returns
    -------
    callable or None
        ``builder(ctx) -> GeoDataFrame`` or None.

    Raises
    ------
    BuildError
        The layer's OSM table is malformed (names the layer and the field), or the extract is missing.
    """
    if not layer.osm:
        return None
    name = layer.osm.get("normalise", "")
    normalise = getattr(osm_layers, name, None) if name and not name.startswith("_") else None
    if normalise is None:
        raise BuildError(
            f"[layer.osm] normalise = {name!r} is not a function of tjspatial.sources.osm_layers",
            layer=layer.id,
            field="osm.normalise",
        )
    sels = parse_selectors(layer.osm.get("select"), layer.id)
    route_sels = parse_selectors(layer.osm.get("routes"), layer.id)
    if not sels and not route_sels:
        raise BuildError("[layer.osm] has neither select nor routes", layer=layer.id, field="osm.select")
    boundary = tianjin_boundary(ctx)
    polygon = query_polygon(boundary)
    source = ctx.options.get("source")
    if source == "extract":
        src = Path(ctx.options.get("extract") or "")
        if not str(src) or str(src) == ".":
            raise BuildError("--source extract needs the extract FILE", layer=layer.id)
        data_of = functools.partial(extract_data, ctx, src, polygon)

        def label_of(data: OsmData) -> tuple[str, str]:
            date = data.timestamp
            return (f"OpenStreetMap extract {src.name}" + (f" ({date})" if date else ""), date)
    else:
        settings = fetch_settings(ctx.options)
        all_sels = sels + route_sels
        query = overpass_ql(all_sels, polygon, timeout=int(settings.timeout), date=ctx.options.get("osm_date"))
        if settings.offline and not cache_path(settings, query, layer.id).is_file():
            if ctx.options.get("strict"):
                raise BuildError(
                    f"--strict: --offline and no cached Overpass answer for this layer in {settings.cache_dir}",
                    layer=layer.id,
                    rule="strict",
                )
            ctx.warn(
                f"--offline: no cached Overpass answer for this layer in {settings.cache_dir}; "
                f"built from its bundled source instead"
            )
            return None

        def data_of() -> OsmData:
            return _overpass_data(ctx, fetch_osm_xml(query, settings, label=layer.id, layer_id=layer.id))

        pinned = ctx.options.get("osm_date")

        def label_of(data: OsmData) -> tuple[str, str]:
            date = pinned or data.timestamp
            return (f"OpenStreetMap via Overpass ({date})" if date else "OpenStreetMap via Overpass", date or "")

    return functools.partial(
        _build_from_doc,
        layer=layer,
        normalise=normalise,
        data_of=data_of,
        polygon=polygon,
        boundary=boundary,
        label_of=label_of,
    )


# ------------------------------------------------------------------------------------------------ walk network


def build_walk_graph(
    *,
    source: str = "osm",
    extract: str | Path | None = None,
    out: str | Path | None = None,
    polygon: shapely.Geometry | None = None,
    options: dict | None = None,
    sources_dir: str | Path | None = None,
) -> Path:
    """Build the walkable street network of Tianjin (or ``polygon``, EPSG:4326) and save it as GraphML.

    Parameters
    ----------
    source : {"osm", "extract"}, default "osm"
        ``"osm"`` (Overpass, with the same cache/offline/date/endpoint options as the build) or ``"extract"``.
    extract : str or pathlib.Path, optional
        With ``source="extract"``: a .osm / .osm.gz / .osm.bz2 / .osm.pbf file, clipped and filtered with
        pyosmium.
    out : str or pathlib.Path, optional
        GraphML path; default :func:`default_walk_graph_path` (``layers/osm_cache/walk_network.graphml``).
    polygon : shapely.Geometry, optional
        Area to cover, EPSG:4326; default the Tianjin boundary + 1 km.
    options : dict, optional
        Overpass options as for ``tj.build`` (cache, offline, timeout, retries, endpoint).
    sources_dir : str or pathlib.Path, optional
        Folder of the bundled sources (for the boundary); default ``layers/sources``.

    Returns
    -------
    pathlib.Path
        The GraphML file: an osmnx MultiDiGraph (both directions of every way), edge ``length`` in metres,
        node ``x``/``y`` in EPSG:4326. Written to a temporary file and renamed when complete.
    """
    import osmnx as ox
    from ..catalog import get_catalog

    options = dict(options or {})
    cat = get_catalog()
    ctx = BuildContext(
        catalog=cat,
        sources_dir=Path(sources_dir) if sources_dir else default_sources_dir(),
        options={"source": source, **options},
    )
    if polygon is None:
        polygon = query_polygon(tianjin_boundary(ctx))
    settings = fetch_settings(options)
    out = Path(out) if out else default_walk_graph_path(settings.cache_dir)
    sel = parse_selectors([WALK_SELECTOR], "walk_network")
    if source == "extract":
        src = Path(extract or options.get("extract") or "")
        if not src.is_file():
            raise BuildError(f"OSM extract not found: {src}", layer="walk_network", file=str(src))
        bbox = tuple(np.round(shapely.bounds(polygon), 6))
        xml = (
            settings.cache_dir
            / f"walk-{src.name.split('.')[0]}-{hashlib.sha256(str(bbox).encode()).hexdigest()[:12]}.osm"
        )
        if tool_path():  # osmium-tool: keep highway ways in the polygon, then only the walkable ones
            clipped = xml.with_name(xml.stem + ".highways.osm")
            clip_extract(src, clipped, polygon, {"highway"}, selectors=sel)
            write_selected_ways(read_osm_xml(clipped, layer_id="walk_network"), sel, xml)
            clipped.unlink(missing_ok=True)
        else:
            clip_filter_pbf(src, xml, bbox, {"highway"}, selectors=sel)
    else:
        query = overpass_ql(sel, polygon, timeout=int(settings.timeout), date=options.get("osm_date"))
        xml = fetch_osm_xml(query, settings, label="walk_network", layer_id="walk_network")
    try:
        g = ox.graph_from_xml(xml, bidirectional=True, simplify=True, retain_all=True)
    except Exception as exc:
        raise BuildError(
            f"cannot build the walk network ({type(exc).__name__}: {exc})", layer="walk_network", file=str(xml)
        ) from exc
    g = ox.truncate.truncate_graph_polygon(g, polygon, truncate_by_edge=True)
    with atomic_path(out, ".graphml") as tmp:
        ox.save_graphml(g, tmp)
    return out
