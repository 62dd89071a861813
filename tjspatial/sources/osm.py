"""Building layers from OpenStreetMap: online through Overpass, or from a local extract file.

``tjspatial build --source osm`` and ``--source extract FILE`` call :func:`resolve_builder` for every catalog
layer. A layer with an ``[layer.osm]`` table gets a builder that reads its OSM data and normalises it to the
catalog schema (:mod:`tjspatial.sources.osm_layers`); any other layer keeps its bundled builder, and the
provenance table's ``built_from`` says which source built each layer (``osm``, ``extract`` or ``bundled``).

Where the data comes from
-------------------------
* ``osm``: one Overpass query per layer (its selectors, inside the Tianjin polygon from the bundled
  ``boundary`` source buffered by 1 km and simplified at 500 m in EPSG:4548, ~250 vertices — no geocoder
  call), answered in OSM XML and cached in ``cache_dir`` (default ``layers/osm_cache``). Options:
  ``osm_date`` (attic query, ``YYYY-MM-DD``), ``overpass_url``, ``timeout`` (s), ``retries``, ``backoff``
  (s, doubled per retry), ``offline`` (cache only: layers whose answer is not cached keep their bundled
  builder and a warning names them).
* ``extract``: ``.osm``, ``.osm.gz``, ``.osm.bz2`` are read directly with osmnx's XML reader; ``.osm.pbf`` is
  first clipped to the Tianjin bounding box and filtered to the tag keys the catalog's queries use
  (pyosmium), into an XML file in the cache folder.

The walkable street network (:func:`build_walk_graph`, ``tjspatial walk-network``) is saved as GraphML
(default ``layers/osm_cache/walk_network.graphml``) and read back with :func:`load_walk_graph`.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from ..build_context import BuildContext
from ..catalog import Catalog, Layer
from ..crs import STORAGE_CRS, to_metric, to_storage
from ..errors import BuildError
from ..paths import layers_dir, sources_dir as default_sources_dir
from . import osm_layers
from .osm_extract import Routes, clip_filter_pbf, is_pbf, is_xml, read_routes, xml_timestamp
from .osm_fetch import (DEFAULT_DEADLINE, DEFAULT_OVERPASS_URL, DEFAULT_TIMEOUT, FetchSettings, cache_path,
                        fetch_osm_xml)
from .osm_query import Selector, osm_keys, overpass_ql, parse_selectors, selector_mask
from ..atomic import atomic_path

__all__ = ["OsmDoc", "resolve_builder", "query_polygon", "fetch_settings", "default_cache_dir",
           "WALK_SELECTOR", "build_walk_graph", "load_walk_graph", "default_walk_graph_path",
           "DEFAULT_OVERPASS_URL"]

QUERY_MARGIN_M = 1000.0
"""The Tianjin polygon is buffered by this many metres (EPSG:4548) for queries, so border features are kept."""

WALK_SELECTOR = ('way["highway"]["area"!~"yes"]["access"!~"private"]'
                 '["highway"!~"abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed'
                 '|raceway|razed"]["foot"!~"no"]["service"!~"private"]')
"""Walkable ways: osmnx's ``network_type="walk"`` filter, as an Overpass selector."""


def default_cache_dir() -> Path:
    """``layers/osm_cache`` (Overpass answers, clipped extracts, the walk network)."""
    return layers_dir() / "osm_cache"


def default_walk_graph_path(cache_dir: str | Path | None = None) -> Path:
    """Where the walk network is saved: ``<cache_dir>/walk_network.graphml`` (default cache
    ``layers/osm_cache``)."""
    return Path(cache_dir or default_cache_dir()) / "walk_network.graphml"


def fetch_settings(options: dict) -> FetchSettings:
    """Overpass settings from build options (``overpass_url, cache_dir, timeout, retries, backoff, offline,
    deadline``). ``deadline`` (s, default :data:`~tjspatial.sources.osm_fetch.DEFAULT_DEADLINE`) bounds all the
    Overpass requests of one build: it is counted from the first call with the same ``options`` dict.

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
            raise BuildError(f"--{key} must be a positive number of seconds, not {options.get(key)!r}",
                             field=key)
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
        retries=int(retries) if retries is not None else 3,
        backoff=float(options["backoff"]) if options.get("backoff") is not None else 5.0,
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


def query_polygon(boundary: shapely.Geometry, margin_m: float = QUERY_MARGIN_M,
                  tolerance_m: float = 500.0) -> shapely.Geometry:
    """``boundary`` (EPSG:4326) buffered by ``margin_m`` and simplified by ``tolerance_m`` metres in EPSG:4548,
    holes dropped, back in EPSG:4326: the polygon every OSM query and clip uses."""
    g = to_metric(gpd.GeoDataFrame(geometry=[boundary], crs=STORAGE_CRS))
    from ..crs import buffer_m
    buf = buffer_m(g, margin_m).simplify(tolerance_m)
    parts = shapely.get_parts(np.asarray(buf.values))
    shells = shapely.polygons(shapely.get_exterior_ring(parts))
    out = gpd.GeoSeries([shapely.union_all(shells)], crs=g.crs)
    return to_storage(gpd.GeoDataFrame(geometry=out)).geometry.iloc[0]


# ------------------------------------------------------------------------------------------------ the document


@dataclass
class OsmDoc:
    """The OSM data of one layer: an OSM XML file, the layer's selectors, and the query polygon.

    Attributes
    ----------
    path : OSM XML file (Overpass answer, extract, or clipped PBF).
    layer : the catalog layer.
    polygon : Tianjin + 1 km (EPSG:4326); features outside are dropped.
    boundary : the Tianjin outline (EPSG:4326).
    label : text for the ``source`` column, naming OpenStreetMap and the data date.
    date : data date (YYYY-MM-DD) or ''.
    """

    path: Path
    layer: Layer
    polygon: shapely.Geometry
    boundary: shapely.Geometry
    label: str
    date: str = ""
    _routes: Routes | None = field(default=None, repr=False)

    @property
    def select(self) -> list[Selector]:
        return parse_selectors(self.layer.osm.get("select"), self.layer.id)

    @property
    def route_selectors(self) -> list[Selector]:
        return parse_selectors(self.layer.osm.get("routes"), self.layer.id)

    def features(self) -> gpd.GeoDataFrame:
        """The features the layer's ``select`` picks inside the polygon (osmnx ``features_from_xml``): index
        ``(element, id)``, one column per tag, geometry in EPSG:4326. Empty if none."""
        import osmnx as ox
        from osmnx._errors import InsufficientResponseError
        sels = self.select
        tags = {k: True for k in sorted(osm_keys(sels))}
        try:
            f = ox.features_from_xml(self.path, polygon=self.polygon, tags=tags)
        except InsufficientResponseError:
            return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=STORAGE_CRS)
        except Exception as exc:
            raise BuildError(f"osmnx cannot read the OSM XML ({type(exc).__name__}: {exc})", layer=self.layer.id,
                             file=str(self.path)) from exc
        f = f[selector_mask(f, sels)]
        return f.set_crs(STORAGE_CRS, allow_override=True)

    def routes(self) -> Routes:
        """The route relations the layer's ``routes`` selectors pick (read once)."""
        if self._routes is None:
            self._routes = read_routes(self.path, self.route_selectors, self.layer.id)
        return self._routes


def _all_selectors(catalog: Catalog) -> list[Selector]:
    return [s for layer in catalog if layer.osm
            for s in parse_selectors(list(layer.osm.get("select", [])) + list(layer.osm.get("routes", [])),
                                     layer.id)]


def _extract_xml(ctx: BuildContext, src: Path, polygon) -> Path:
    """The XML to read for extract ``src``: itself if XML, else its clipped-and-filtered copy (cached by the
    file's path, size and mtime, the box and the keys)."""
    if not src.is_file():
        raise BuildError(f"OSM extract not found: {src}", layer=ctx.layer_id, file=str(src))
    if is_xml(src):
        return src
    if not is_pbf(src):
        raise BuildError("unknown extract format; use .osm, .osm.gz, .osm.bz2 or .osm.pbf", layer=ctx.layer_id,
                         file=str(src))
    keys = sorted(osm_keys(_all_selectors(ctx.catalog)))
    bbox = tuple(np.round(shapely.bounds(polygon), 6))
    st = src.stat()
    digest = hashlib.sha256(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}|{bbox}|{keys}".encode()).hexdigest()
    out = fetch_settings(ctx.options).cache_dir / f"extract-{src.name.split('.')[0]}-{digest[:16]}.osm"
    if not out.is_file():
        clip_filter_pbf(src, out, bbox, set(keys))
    return out


def _build_from_doc(ctx: BuildContext, *, layer: Layer, normalise: Callable, path_of: Callable[[], Path],
                    polygon, boundary, label_of: Callable[[Path], tuple[str, str]]) -> gpd.GeoDataFrame:
    path = path_of()
    ctx.file(path)
    label, date = label_of(path)
    doc = OsmDoc(path=path, layer=layer, polygon=polygon, boundary=boundary, label=label, date=date)
    return normalise(doc, ctx)


def resolve_builder(layer: Layer, ctx: BuildContext) -> Callable[[BuildContext], gpd.GeoDataFrame] | None:
    """The builder that makes ``layer`` from OSM for this build, or ``None`` when the layer keeps its bundled
    builder (no ``[layer.osm]`` table, or ``--offline`` and its Overpass answer is not cached: a warning
    then names the layer).

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
        raise BuildError(f"[layer.osm] normalise = {name!r} is not a function of tjspatial.sources.osm_layers",
                         layer=layer.id, field="osm.normalise")
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
        path_of = functools.partial(_extract_xml, ctx, src, polygon)

        def label_of(path: Path) -> tuple[str, str]:
            date = xml_timestamp(path) if is_xml(path) else ""
            return (f"OpenStreetMap extract {src.name}" + (f" ({date})" if date else ""), date)
    else:
        settings = fetch_settings(ctx.options)
        all_sels = sels + route_sels
        query = overpass_ql(all_sels, polygon, timeout=int(settings.timeout), date=ctx.options.get("osm_date"))
        if settings.offline and not cache_path(settings, query, layer.id).is_file():
            ctx.warn(f"--offline: no cached Overpass answer for this layer in {settings.cache_dir}; "
                     f"built from its bundled source instead")
            return None
        path_of = functools.partial(fetch_osm_xml, query, settings, label=layer.id, layer_id=layer.id)
        pinned = ctx.options.get("osm_date")

        def label_of(path: Path) -> tuple[str, str]:
            date = pinned or xml_timestamp(path)
            return (f"OpenStreetMap via Overpass ({date})" if date else "OpenStreetMap via Overpass", date or "")
    return functools.partial(_build_from_doc, layer=layer, normalise=normalise, path_of=path_of,
                             polygon=polygon, boundary=boundary, label_of=label_of)


# ------------------------------------------------------------------------------------------------ walk network


def build_walk_graph(*, source: str = "osm", extract: str | Path | None = None, out: str | Path | None = None,
                     polygon: shapely.Geometry | None = None, options: dict | None = None,
                     sources_dir: str | Path | None = None) -> Path:
    """Build the walkable street network of Tianjin (or ``polygon``, EPSG:4326) and save it as GraphML.

    Parameters
    ----------
    source : ``"osm"`` (Overpass, with the same cache/offline/date/endpoint options as the build) or
        ``"extract"`` (``extract`` = .osm / .osm.gz / .osm.bz2 / .osm.pbf, clipped and filtered with pyosmium).
    out : GraphML path; default :func:`default_walk_graph_path` (``layers/osm_cache/walk_network.graphml``).
    polygon : area to cover; default the Tianjin boundary + 1 km.

    Returns
    -------
    Path of the GraphML file: an osmnx MultiDiGraph (both directions of every way), edge ``length`` in metres,
    node ``x``/``y`` in EPSG:4326. Written to a temporary file and renamed when complete.
    """
    import osmnx as ox
    from ..catalog import get_catalog
    options = dict(options or {})
    cat = get_catalog()
    ctx = BuildContext(catalog=cat, sources_dir=Path(sources_dir) if sources_dir else default_sources_dir(),
                       options={"source": source, **options})
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
        xml = settings.cache_dir / f"walk-{src.name.split('.')[0]}-{hashlib.sha256(str(bbox).encode()).hexdigest()[:12]}.osm"
        clip_filter_pbf(src, xml, bbox, {"highway"}, selectors=sel)
    else:
        query = overpass_ql(sel, polygon, timeout=int(settings.timeout), date=options.get("osm_date"))
        xml = fetch_osm_xml(query, settings, label="walk_network", layer_id="walk_network")
    try:
        g = ox.graph_from_xml(xml, bidirectional=True, simplify=True, retain_all=True)
    except Exception as exc:
        raise BuildError(f"cannot build the walk network ({type(exc).__name__}: {exc})", layer="walk_network",
                         file=str(xml)) from exc
    g = ox.truncate.truncate_graph_polygon(g, polygon, truncate_by_edge=True)
    with atomic_path(out, ".graphml") as tmp:
        ox.save_graphml(g, tmp)
    return out


def load_walk_graph(path: str | Path | None = None) -> nx.MultiDiGraph:
    """Read a walk network saved by :func:`build_walk_graph`.

    Returns
    -------
    networkx.MultiDiGraph with osmnx conventions: node attributes ``x`` (lon), ``y`` (lat) in EPSG:4326, edge
    attribute ``length`` in metres, graph attribute ``crs``.

    Raises
    ------
    FileNotFoundError
        No file at ``path`` (the message says how to build it).
    BuildError
        The file is not such a graph (names the file and what is wrong).
    """
    import osmnx as ox
    path = Path(path) if path else default_walk_graph_path()
    if not path.is_file():
        raise FileNotFoundError(f"no walk network at {path}; build it with `tjspatial walk-network` "
                                f"(Overpass) or `tjspatial walk-network --extract FILE`")
    try:
        g = ox.load_graphml(path)
    except Exception as exc:
        raise BuildError(f"not a GraphML walk network ({type(exc).__name__}: {exc})", file=str(path)) from exc
    crs = str(g.graph.get("crs", "")).lower()
    if crs not in ("epsg:4326", "wgs84"):
        raise BuildError(f"walk network CRS is {crs!r}, expected EPSG:4326", file=str(path))
    if g.number_of_edges() and not all("length" in d for _, _, d in g.edges(data=True)):
        raise BuildError("walk network edges lack 'length' (metres)", file=str(path), field="length")
    return g
