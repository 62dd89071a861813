"""Interactive web maps (Folium / Leaflet) of the catalog layers.

A map is declared as data (``[[map]]`` in ``layers/catalog/90_maps.toml``, see :mod:`.map_specs`). For each
layer on it, :func:`display_layer` reads the layer from the built GeoPackage, simplifies it for display in
EPSG:4548 (a tolerance in metres per layer), rounds coordinates to 1e-5° (about 1 m) and keeps the catalog's
fields; :func:`layer_config` adds the style (from ``styles/`` via :mod:`tjspatial.styles`), the legend, the
accuracy label and the sources' attribution. The page is a ``folium.Map`` whose overlays, grouped layer
control, legend, tooltips, popups, search, minimap, measure tool, full-screen button and scale bar are built
by one small runtime (``assets/tjspatial/tjmap.js``) from that configuration. Texts from data are inserted
with ``textContent``, never as HTML.

The data stays WGS84: with ``basemap="gaode"`` the overlays are shifted to GCJ-02 at display time
(:func:`tjspatial.crs.convert_gdf`) so that they sit on the GaoDe tiles. 天地图 (CGCS2000, which equals
WGS84 to a few centimetres) needs no shift. The offline edition (the default) inlines Leaflet and the plugins
from the copies vendored in ``assets/`` (:mod:`.offline_assets`) and opens on an offline base map drawn from
the bundled layers (:func:`offline_base_config`: land, sea, water, district lines, place names by zoom);
``offline=False`` (the CDN edition) loads them from CDNs. Online tile base maps say so in the map when their
tiles cannot load.

Page assembly never substitutes text into a template: the configuration and each layer's features are
JSON script blocks (:func:`embed_json`), parsed by the runtime.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from ..errors import InputError, TjSpatialError, UnknownNameError
from ..catalog import ACCURACY_CLASSES, THEMES, Catalog, Layer, get_catalog
from ..crs import METRIC_CRS, STORAGE_CRS, buffer_m, convert_gdf, to_metric
from ..gpkg import list_layers as gpkg_tables, read_table
from ..io import ensure_gpkg, load
from ..names import english_station_name
from ..styles import SCHEMATIC_DASH, Cartography, Style, load_cartography, load_style
from .map_specs import DisplaySettings, MapSpec, load_display_settings, load_map_specs, map_layer_ids
from .offline_assets import ASSETS_DIR, inline_assets, leaflet_icon_data_uris
from ..atomic import atomic_path

__all__ = [
    "MapWarning",
    "MapDataError",
    "Basemap",
    "BASEMAPS",
    "WebMap",
    "display_layer",
    "layer_config",
    "make_map",
    "write_text_atomic",
    "get_map_spec",
    "build_date",
    "embed_json",
]

COORD_DECIMALS = 5
"""Display coordinates are rounded to 1e-5 degrees (about 1.1 m north-south, 0.9 m east-west at 39°N)."""

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


class MapWarning(UserWarning):
    """A map could not show something (a layer not declared or not built yet, an analysis not available)."""


@dataclass(frozen=True)
class Basemap:
    """A basemap: id, bilingual name and the xyzservices provider that gives its URL and attribution."""

    id: str
    name: str
    provider: str
    crs: str = "wgs84"  # the coordinate system the tiles are drawn in: wgs84 or gcj02


BASEMAPS: tuple[Basemap, ...] = (
    Basemap("osm", "OpenStreetMap", "OpenStreetMap.Mapnik"),
    Basemap("light", "浅色底图 / Light (Esri grey canvas)", "Esri.WorldGrayCanvas"),
    Basemap("imagery", "影像 / Imagery (Esri)", "Esri.WorldImagery"),
    Basemap("gaode", "高德地图 / GaoDe (GCJ-02)", "GaoDe.Normal", crs="gcj02"),
)
"""Basemaps offered on every map; GaoDe only in the ``basemap="gaode"`` variant, whose overlays are GCJ-02."""

TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
    "&tk={key}"
)
"""天地图 WMTS tiles in Web Mercator (the ``_w`` matrix set); CGCS2000 coordinates, equal to WGS84 to a few cm."""

TIANDITU_LAYERS = {
    "tianditu_vec": ("天地图 矢量 / Tianditu vector", ("vec", "cva")),
    "tianditu_img": ("天地图 影像 / Tianditu imagery", ("img", "cia")),
}
"""The 天地图 base maps: each a base layer with its Chinese annotation layer (cva / cia) on top."""

TIANDITU_ATTRIBUTION = (
    '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a> 国家地理信息公共服务平台 / '
    "National Platform for Common GeoSpatial Information Services"
)


def resolve_tianditu_key(key: str | None = None) -> str | None:
    """The 天地图 key: ``key`` if given, else the environment variable ``TIANDITU_KEY`` (None when neither)."""
    key = key or os.environ.get("TIANDITU_KEY") or None
    if key is not None and not re.fullmatch(r"[0-9A-Za-z]{8,64}", key):
        raise InputError(
            "the 天地图 key must be 8-64 letters or digits (from console.tianditu.gov.cn); "
            "check --tianditu-key / TIANDITU_KEY"
        )
    return key


def tianditu_review_number() -> str:
    """The 审图号 shown with 天地图 tiles: ``TIANDITU_REVIEW_NO`` or the ``[basemaps] tianditu_review_no`` of the
    catalog's map file. Check it against www.tianditu.gov.cn before publishing."""
    env = os.environ.get("TIANDITU_REVIEW_NO")
    if env:
        return env
    import tomllib
    from ..paths import catalog_dir

    for path in sorted(catalog_dir().glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        if "tianditu_review_no" in raw.get("basemaps", {}):
            return str(raw["basemaps"]["tianditu_review_no"])
    return ""


# CDN URLs of Leaflet and the plugins (the same files folium uses); offline pages inline the vendored copies.
_LEAFLET_JS = [("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js")]
_LEAFLET_CSS = [("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css")]
_PLUGIN_JS = [
    ("fullscreen_js", "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js"),
    ("minimap_js", "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.js"),
    ("measure_js", "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js"),
    ("search_js", "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js"),
    (
        "grouped_js",
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet-groupedlayercontrol/0.6.1/leaflet.groupedlayercontrol.min.js",
    ),
]
_PLUGIN_CSS = [
    ("fullscreen_css", "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css"),
    ("minimap_css", "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.css"),
    ("measure_css", "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css"),
    ("search_css", "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css"),
    (
        "grouped_css",
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet-groupedlayercontrol/0.6.1/leaflet.groupedlayercontrol.min.css",
    ),
]


# ------------------------------------------------------------------------------------------------ helpers
def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a temporary file beside ``path`` and rename it into place when complete.

    Parameters
    ----------
    path : str or pathlib.Path
        The target file.
    text : str
        The content.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def embed_json(obj: Any) -> str:
    """JSON for a ``<script>`` block: ``<``, ``>``, ``&`` and U+2028/2029 escaped so data cannot end it.

    Parameters
    ----------
    obj : Any
        JSON-serialisable data.

    Returns
    -------
    str
        The JSON text, safe inside ``<script type="application/json">``.
    """
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _json_block(block_id: str, json_text: str) -> str:
    """A ``<script type="application/json">`` block holding ``json_text`` (escaped by :func:`embed_json`)."""
    return f'<script type="application/json" id="{block_id}">{embed_json(json_text)}</script>'


def get_map_spec(map_id: str | MapSpec) -> MapSpec:
    """The ``[[map]]`` declaration with this id.

    Parameters
    ----------
    map_id : str or MapSpec
        A map id (a :class:`MapSpec` is returned as it is).

    Returns
    -------
    MapSpec
        The declaration.

    Raises
    ------
    UnknownNameError
        Naming the known ids (also a :class:`KeyError`).
    """
    if isinstance(map_id, MapSpec):
        return map_id
    specs = load_map_specs()
    for spec in specs:
        if spec.id == map_id:
            return spec
    raise UnknownNameError(
        f"no map {map_id!r} in the catalog's [[map]] tables; known maps: {', '.join(s.id for s in specs)}"
    )


def build_date(gpkg: str | Path) -> str:
    """The date (UTC, ``YYYY-MM-DD``) the GeoPackage was built, from its ``provenance`` table ('' if none).

    Parameters
    ----------
    gpkg : str, pathlib.Path or GeoPackage
        The built GeoPackage.

    Returns
    -------
    str
        ``YYYY-MM-DD`` (UTC), or '' when it has no provenance.
    """
    if "provenance" not in gpkg_tables(gpkg):  # a GeoPackage without provenance still maps
        return ""
    prov = read_table(gpkg, "provenance")
    times = prov.get("build_time", pd.Series(dtype=str)).dropna().astype(str)
    return times.max()[:10] if len(times) else ""


def _gpkg_layers(gpkg: Path) -> set[str]:
    return set(gpkg_tables(gpkg))


# ------------------------------------------------------------------------------------------------ layer data
_english_station_name = lru_cache(maxsize=8192)(english_station_name)
""":func:`tjspatial.names.english_station_name` once per name in a run (the stations are on several maps)."""


def display_layer(
    gdf: gpd.GeoDataFrame, layer: Layer, style: Style, tolerance_m: float, *, gcj02: bool = False
) -> gpd.GeoDataFrame:
    """A layer prepared for a web map: simplified, rounded, with style and search helper columns.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer as loaded (EPSG:4326).
    layer : Layer
        Its catalog declaration.
    style : Style
        Its style.
    tolerance_m : float
        Simplification tolerance in metres, applied in the metric CRS (EPSG:4548 for Tianjin;
        topology-preserving); 0 keeps the geometry as is. Points are never simplified.
    gcj02 : bool, default False
        Shift the geometry from WGS84 to GCJ-02 (for the GaoDe basemap). The stored data is unchanged.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 label (GCJ-02 coordinates if ``gcj02``) with the common and declared fields and ``_c``
        (feature colour from the style's categories or colour field, or None), ``_q`` (search text),
        ``_lx``/``_ly`` (label position, for styles with a ``label_field``). Empty geometries are dropped, and
        so are features the style says are drawn by another layer (``drawn_elsewhere``). Station English names
        that are run-together pinyin are shown as spaced place-name pinyin
        (:func:`tjspatial.names.english_station_name`).
    """
    keep = [c for c in layer.all_fields if c in gdf.columns]
    out = gdf[keep + [gdf.geometry.name]].copy()
    out = out[~(out.geometry.isna() | out.geometry.is_empty)]
    if style.drawn_elsewhere and style.drawn_elsewhere.get("field") in out.columns:
        elsewhere = out[style.drawn_elsewhere["field"]].fillna("").astype(str).str.strip() != ""
        out = out[~elsewhere]
    if "station_points" in layer.roles and "name_en" in out.columns:
        out["name_en"] = [
            _english_station_name(z or "", e)
            for z, e in zip(out["name_zh"].fillna("").astype(str), out["name_en"].fillna("").astype(str))
        ]
    geoms = out.geometry.values
    if tolerance_m > 0 and layer.geometry_type != "Point" and len(out):
        metric = to_metric(out)
        simple = shapely.simplify(np.asarray(metric.geometry.values), tolerance_m, preserve_topology=True)
        geoms = gpd.GeoSeries(simple, index=out.index, crs=metric.crs).to_crs(STORAGE_CRS).values
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=STORAGE_CRS))
    if gcj02:
        out = convert_gdf(out, "wgs84", "gcj02")
    rounded = shapely.transform(np.asarray(out.geometry.values), lambda c: np.round(c, COORD_DECIMALS))
    out = out.set_geometry(gpd.GeoSeries(rounded, index=out.index, crs=STORAGE_CRS))
    out = out[~out.geometry.is_empty]

    colour = pd.Series(None, index=out.index, dtype=object)
    if style.categories and style.categories["field"] in out.columns:
        colour = out[style.categories["field"]].astype(str).map(style.category_colors())
    elif style.color_field and style.color_field in out.columns:
        values = out[style.color_field].astype(str)
        colour = values.where(values.str.match(_HEX.pattern))
    out["_c"] = colour.astype(object).where(colour.notna(), None)

    zh = out.get("name_zh", pd.Series("", index=out.index)).fillna("").astype(str)
    en = out.get("name_en", pd.Series("", index=out.index)).fillna("").astype(str)
    out["_q"] = (zh + " " + en).str.strip()
    if style.label_field and style.label_field in out.columns:
        anchor = shapely.point_on_surface(np.asarray(out.geometry.values))
        out["_lx"] = np.round(shapely.get_x(anchor), COORD_DECIMALS)
        out["_ly"] = np.round(shapely.get_y(anchor), COORD_DECIMALS)
        if layer.geometry_type == "Polygon" and len(out):  # larger areas are labelled first
            area = shapely.area(np.asarray(out.geometry.values))
            out["_lr"] = pd.Series(area, index=out.index).rank(ascending=False, method="first").astype(int)
    return out


class MapDataError(TjSpatialError):
    """A layer's data cannot be put on a web map; the message names the layer, feature and field."""


def _json_value(v: Any) -> Any:
    """A property value as a JSON-ready Python object (NaN/NaT → None, numpy scalars → Python, dates → ISO)."""
    if v is None:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, (pd.Timestamp,)):
        return None if pd.isna(v) else v.isoformat()
    if v is pd.NaT or v is pd.NA:
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


_GEOJSON_TYPES = {
    0: "Point",
    1: "Point",
    2: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
}


def _quantised_geometries(geoms: np.ndarray, scale: int) -> list[str]:
    """Geometries as ``{"type": ..., "q": [...]}`` JSON: coordinates as integers in 1/``scale`` degrees,
    delta-encoded along each ring or line (the runtime decodes them; ``scale=100000`` keeps 1e-5°, ~1 m).

    Points, lines and polygons of one layer are written with one type each (a layer mixing Polygon and
    MultiPolygon is written as MultiPolygon).
    """
    gtype, coords, offsets = shapely.to_ragged_array(geoms)
    q = np.round(coords[:, :2] * scale).astype(np.int64)
    name = _GEOJSON_TYPES[int(gtype)]
    if name == "Point":
        return ['{"type":"Point","q":[%d,%d]}' % (x, y) for x, y in q]
    ring_off = offsets[0]
    d = q.copy()
    d[1:] -= q[:-1]
    starts = ring_off[:-1][np.diff(ring_off) > 0]
    d[starts] = q[starts]
    flat = d.ravel()
    rings = [",".join(map(str, flat[2 * a : 2 * b].tolist())) for a, b in zip(ring_off[:-1], ring_off[1:])]
    if name in ("LineString", "MultiPoint"):
        return ['{"type":"%s","q":[%s]}' % (name, r) for r in rings]
    if name in ("Polygon", "MultiLineString"):
        g = offsets[1]
        return [
            '{"type":"%s","q":[%s]}' % (name, ",".join("[" + rings[k] + "]" for k in range(a, b)))
            for a, b in zip(g[:-1], g[1:])
        ]
    parts, g = offsets[1], offsets[2]
    part_txt = ["[" + ",".join("[" + rings[k] + "]" for k in range(a, b)) + "]" for a, b in zip(parts[:-1], parts[1:])]
    return ['{"type":"MultiPolygon","q":[%s]}' % ",".join(part_txt[a:b]) for a, b in zip(g[:-1], g[1:])]


def dequantise(fc: dict) -> dict:
    """A FeatureCollection written with ``quantise`` back to plain GeoJSON coordinates (in place)."""
    scale = fc.pop("quantised", None)
    if not scale:
        return fc

    def ring(a):
        xy = np.cumsum(np.asarray(a, dtype=np.int64).reshape(-1, 2), axis=0) / scale
        return xy.tolist()

    for f in fc["features"]:
        g = f["geometry"]
        q = g.pop("q", None)
        if q is None:
            continue
        t = g["type"]
        g["coordinates"] = (
            ring(q)[0]
            if t == "Point"
            else ring(q)
            if t in ("LineString", "MultiPoint")
            else [ring(r) for r in q]
            if t in ("Polygon", "MultiLineString")
            else [[ring(r) for r in p] for p in q]
        )
    return fc


def _columns_json(gdf: gpd.GeoDataFrame, layer_id: str, scale: int = 100_000) -> str:
    """A large layer as columns (``{"type": "TjColumns", ...}``), drawn by the runtime's canvas layer.

    Geometry: every coordinate as an integer in 1/``scale`` degrees, delta-encoded across the whole layer
    (``coords`` = dx, dy, ...), with vertex counts per ring or line (``rings``), rings per polygon part
    (``parts``, polygons) and parts per feature (``feats``, multi-part layers). Properties: one entry per
    field, ``{"c": value}`` when every feature has the same value, else ``{"v": [values]}``. About a third of
    the size of GeoJSON for building footprints; :func:`columns_to_features` reads it back.

    Raises
    ------
    MapDataError
        As :func:`_features_json` (names the layer, feature and field of a value that is not JSON).
    """
    geoms = np.asarray(gdf.geometry.values)
    out: dict[str, Any] = {"type": "TjColumns", "n": int(len(gdf)), "scale": int(scale)}
    if len(gdf):
        if not np.isfinite(shapely.get_coordinates(geoms)).all():
            _features_json(gdf, layer_id)  # raises, naming the feature
        gtype, coords, offsets = shapely.to_ragged_array(geoms)
        q = np.round(coords[:, :2] * scale).astype(np.int64)
        d = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
        name = _GEOJSON_TYPES[int(gtype)]
        out.update(geometry=name, coords=d.ravel().tolist())
        if name in ("LineString", "MultiPoint"):
            out["rings"] = np.diff(offsets[0]).tolist()
        elif name == "MultiLineString":
            out["rings"], out["feats"] = np.diff(offsets[0]).tolist(), np.diff(offsets[1]).tolist()
        elif name == "Polygon":
            out["rings"], out["parts"] = np.diff(offsets[0]).tolist(), np.diff(offsets[1]).tolist()
        elif name == "MultiPolygon":
            out["rings"], out["parts"] = np.diff(offsets[0]).tolist(), np.diff(offsets[1]).tolist()
            out["feats"] = np.diff(offsets[2]).tolist()
    props: dict[str, dict] = {}
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    for col in frame.columns:
        series = frame[col].round(3) if pd.api.types.is_float_dtype(frame[col]) else frame[col]
        values = [_json_value(v) for v in series.to_numpy(dtype=object)]
        first = values[0] if values else None
        props[col] = {"c": first} if all(v == first for v in values) else {"v": values}
        try:
            dumps(props[col])
        except (TypeError, ValueError):
            _features_json(gdf, layer_id)  # raises, naming the feature and field
    out["props"] = props
    return dumps(out)


def columns_to_features(data: dict) -> dict:
    """A layer written by :func:`_columns_json` as a plain GeoJSON FeatureCollection (other input unchanged)."""
    if data.get("type") != "TjColumns":
        return data
    n, scale = data["n"], data["scale"]
    props = [{k: (spec["c"] if "c" in spec else spec["v"][i]) for k, spec in data["props"].items()} for i in range(n)]
    if not n:
        return {"type": "FeatureCollection", "features": []}
    xy = (np.cumsum(np.asarray(data["coords"], dtype=np.int64).reshape(-1, 2), axis=0) / scale).tolist()
    name = data["geometry"]

    def take(counts):
        pos, out = 0, []
        for c in counts:
            out.append(xy[pos : pos + c] if isinstance(xy, list) else None)
            pos += c
        return out

    def group(items, counts):
        pos, out = 0, []
        for c in counts:
            out.append(items[pos : pos + c])
            pos += c
        return out

    if name == "Point":
        coords = xy
    elif name in ("LineString", "MultiPoint"):
        coords = take(data["rings"])
    elif name == "MultiLineString":
        coords = group(take(data["rings"]), data["feats"])
    elif name == "Polygon":
        coords = group(take(data["rings"]), data["parts"])
    else:
        coords = group(group(take(data["rings"]), data["parts"]), data["feats"])
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": {"type": name, "coordinates": c}}
            for p, c in zip(props, coords)
        ],
    }


def _features_json(gdf: gpd.GeoDataFrame, layer_id: str = "?", *, quantise: int | None = None) -> str:
    """A GeoJSON FeatureCollection string written with a real JSON encoder (one record at a time).

    Every text is data: any character (U+2028, U+2029, U+0085, quotes, ``@@…@@``) survives as itself.
    With ``quantise`` (e.g. 100000) geometries are written as delta-encoded integers (:func:`dequantise`),
    about a third of the size of decimal coordinates.

    Raises
    ------
    MapDataError
        Naming the layer, the feature (index and name) and the field of a value that is not JSON
        (e.g. bytes) or a geometry with non-finite coordinates.
    """
    if not len(gdf):
        return '{"type":"FeatureCollection","features":[]}'
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    for col in props.columns:
        if pd.api.types.is_float_dtype(props[col]):
            props[col] = props[col].round(3)
    cols = list(props.columns)
    columns = [props[c].to_numpy(dtype=object) for c in cols]
    geoms = np.asarray(gdf.geometry.values)
    bad = ~np.isfinite(shapely.get_coordinates(geoms)).all(axis=1) if len(geoms) else np.array([], bool)
    if bad.any():
        counts = shapely.get_num_coordinates(geoms)
        row = int(np.searchsorted(np.cumsum(counts), int(np.argmax(bad)), side="right"))
        raise MapDataError(_where(layer_id, gdf, row, None) + "geometry has non-finite (NaN/inf) coordinates")
    gjson = _quantised_geometries(geoms, quantise) if quantise else shapely.to_geojson(geoms)
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    feats = []
    for i in range(len(gdf)):
        rec = {c: _json_value(col[i]) for c, col in zip(cols, columns)}
        try:
            p = dumps(rec)
        except (TypeError, ValueError) as exc:
            field_name = next((c for c in cols if not _encodes(dumps, rec[c])), None)
            raise MapDataError(
                _where(layer_id, gdf, i, field_name)
                + f"value {rec.get(field_name)!r:.80} cannot be written as JSON ({exc})"
            ) from exc
        feats.append('{"type":"Feature","properties":' + p + ',"geometry":' + gjson[i] + "}")
    head = '{"type":"FeatureCollection",' + (f'"quantised":{int(quantise)},' if quantise else "")
    return head + '"features":[' + ",".join(feats) + "]}"


def _encodes(dumps, value) -> bool:
    try:
        dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _where(layer_id: str, gdf: gpd.GeoDataFrame, row: int, field_name: str | None) -> str:
    name = str(gdf["name_zh"].iloc[row]) if "name_zh" in gdf else ""
    feature = f"feature {gdf.index[row]!r}" + (f" ({name[:40]!r})" if name else "")
    return f"layer {layer_id!r}, {feature}" + (f", field {field_name!r}" if field_name else "") + ": "


LARGE_LAYER_FEATURES = 1000
"""Layers with more features (or more than 100 000 vertices) are drawn on canvas with quantised coordinates."""

_QUANTISE = 100_000  # 1e-5 degrees, the display rounding


def _status_values(gdf: gpd.GeoDataFrame, carto: Cartography) -> list[str]:
    if carto.status_field not in gdf:
        return []
    values = gdf[carto.status_field].fillna("").astype(str).replace("", carto.default_status)
    present = set(values)
    return [v for v in carto.statuses if v in present] + sorted(present - set(carto.statuses))


def _legend_entries(gdf: gpd.GeoDataFrame, layer: Layer, style: Style, carto: Cartography | None = None) -> list[dict]:
    """Legend rows that match what is drawn: colours (categories or colour field), then the status dashes
    present (``styles/cartography.json``), then the accuracy casing when any feature is approximate."""
    carto = carto or load_cartography()
    entries: list[dict] = []
    if style.categories:
        field_name = style.categories["field"]
        present = set(gdf[field_name].astype(str)) if field_name in gdf else set()
        for value, spec in style.categories["values"].items():
            if present and value not in present:
                continue
            entries.append({"color": spec["color"], "label": spec.get("label", value), "dash": None})
    elif style.color_field and "_c" in gdf:
        named = gdf[gdf["_c"].notna()]
        names = named.groupby("_c", sort=False)["name_zh"].agg(lambda s: "、".join(dict.fromkeys(s))[:40])
        entries = [{"color": c, "label": n, "dash": None} for c, n in names.items()]
    else:
        entries.append({"color": None, "label": layer.title_zh, "dash": None})
    statuses = _status_values(gdf, carto)
    if layer.geometry_type != "Point" and (len(statuses) > 1 or (statuses and statuses[0] != carto.default_status)):
        for v in statuses:
            cls = carto.statuses.get(v)
            entries.append(
                {"color": None, "label": cls.label if cls else v, "dash": cls.dash if cls else None, "status": v}
            )
    if "accuracy" in gdf and gdf["accuracy"].isin(list(carto.approximate)).any():
        entries.append({"color": None, "label": carto.accuracy_label, "dash": None, "casing": True})
    if style.drawn_elsewhere and style.drawn_elsewhere.get("label"):
        entries.append({"color": None, "label": style.drawn_elsewhere["label"], "dash": None, "note": True})
    return entries


def _scale_to_zoom(denominator: float, lat: float = 39.1) -> float:
    """The web-map zoom at which the scale is 1:``denominator`` (96 dpi screens, Web Mercator at ``lat``)."""
    metres_per_px = denominator * 0.0254 / 96
    return math.log2(156543.03392 * math.cos(math.radians(lat)) / metres_per_px)


def _chords(gdf: gpd.GeoDataFrame) -> bool:
    return "geometry_quality" in gdf and (gdf["geometry_quality"] == "station_chords").any()


def layer_config(
    gdf: gpd.GeoDataFrame,
    layer: Layer,
    style: Style,
    catalog: Catalog,
    *,
    show: bool = True,
    ramp: dict | None = None,
    imported: str | None = None,
    render: str | None = None,
) -> dict:
    """The runtime configuration of one overlay (style, legend, labels, fields, attribution, data).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The display frame from :func:`display_layer`.
    layer : Layer
        The catalog declaration (or an analysis overlay, :meth:`Catalog.overlay_for`).
    style : Style
        Its style. Dashes follow the features' ``status`` and a casing their accuracy
        (``styles/cartography.json``), the same rule as the QGIS export.
    catalog : Catalog
        For the sources' attribution.
    show : bool, default True
        Whether the overlay is on when the map opens.
    ramp : dict, optional
        A continuous colour ramp ``{"field", "colors", "min", "max", "unit", "label"}`` (choropleths).
    imported : str, optional
        The file name when the layer was replaced by an import (``tjspatial import-layer``); its
        accuracy then comes from the data, and a layer imported as official is no longer called 示意.
    render : {"svg", "canvas"}, optional
        ``"svg"`` (each feature an SVG path, decimal GeoJSON) or ``"canvas"`` (one canvas, coordinates
        quantised and delta-encoded); default: canvas for layers over :data:`LARGE_LAYER_FEATURES` features
        or 100,000 vertices.

    Returns
    -------
    dict
        The overlay's configuration, JSON-ready (``data``: GeoJSON text, or quantised columns for canvas).
    """
    carto = load_cartography()
    acc_values = set(gdf["accuracy"].dropna().astype(str)) if "accuracy" in gdf else set()
    if imported and acc_values:
        order = list(ACCURACY_CLASSES)
        accuracy = max(acc_values, key=lambda a: order.index(a) if a in order else -1)  # the least accurate
    else:
        accuracy = layer.accuracy
    schematic = accuracy in carto.approximate
    zh, en = ACCURACY_CLASSES.get(accuracy, (accuracy, accuracy))
    accuracy_label = f"{zh} / {en}"
    badges = [{"text": accuracy_label, "warn": schematic}]
    if _chords(gdf):
        badges.append({"text": "示意 · 站间直连 / schematic · station-to-station chords", "warn": True})
    if imported:
        badges.append({"text": f"导入 / imported: {imported}", "warn": False})
        limitations = f"由用户导入的文件替换 / replaced by an imported file: {imported} ({accuracy_label})" + (
            "" if schematic else ""
        )
    else:
        limitations = layer.limitations_text
    fields = [
        layer.field_label(f).to_dict() for f in layer.fields if f in gdf.columns and not layer.field_label(f).hidden
    ]
    n_vertices = int(shapely.get_num_coordinates(np.asarray(gdf.geometry.values)).sum()) if len(gdf) else 0
    large = (render == "canvas") if render else (len(gdf) > LARGE_LAYER_FEATURES or n_vertices > 100_000)
    unnamed = {}
    if "kind" in layer.fields and "kind" in gdf:
        fl = layer.field_label("kind")
        unnamed = {
            k: f"{w.split(' / ')[0]}（未命名）/ {w.split(' / ')[-1]} (unnamed)"
            for k, w in ((k, fl.word(k) or k) for k in fl.values)
        }
    label_field = style.label_field if "_lx" in gdf else None
    title_zh, title_en = layer.title_zh, layer.title_en
    if imported and not schematic:  # an official import is not called 示意 anywhere
        title_zh = re.sub(r"\s*[（(]示意[）)]", "", title_zh)
        title_en = re.sub(r"\s*\(schematic\)", "", title_en)
    return {
        "id": layer.id,
        "title_zh": title_zh,
        "title_en": title_en,
        "theme": layer.theme,
        "group_label": _group_label(layer.theme),
        "geometry": layer.geometry_type,
        "accuracy": accuracy,
        "accuracy_label": accuracy_label,
        "schematic": schematic,
        "imported": imported,
        "badges": badges,
        "schematic_dash": SCHEMATIC_DASH,
        "has_status": carto.status_field in gdf.columns,
        "style": {
            "stroke": style.stroke,
            "stroke_width": style.stroke_width,
            "stroke_opacity": style.stroke_opacity,
            "dash": None,
            "fill": style.fill,
            "fill_opacity": style.fill_opacity,
            "marker": style.marker or {"shape": "circle", "radius": 4},
            "z": style.z,
        },
        "label_field": label_field,
        "label_min_zoom": round(_scale_to_zoom(style.label_max_scale), 2) if style.label_max_scale else 0,
        "label_priority": int(style.z),
        "fields": fields,
        "unnamed_label": "kind" if unnamed else None,
        "unnamed_hidden": bool(unnamed),
        "unnamed_count": int(
            (
                (gdf.get("name_zh", pd.Series("", index=gdf.index)).fillna("") == "")
                & (gdf.get("name_en", pd.Series("", index=gdf.index)).fillna("") == "")
            ).sum()
        )
        if unnamed
        else 0,
        "unnamed_labels": unnamed,
        "unnamed_default": "（未命名）/ unnamed",
        "legend": _legend_entries(gdf, layer, style, carto),
        "ramp": ramp,
        "limitations": limitations,
        "source_ids": list(layer.sources),
        "show": show,
        "count": int(len(gdf)),
        "render": "canvas" if large else "svg",
        "data": _columns_json(gdf, layer.id, _QUANTISE) if large else _features_json(gdf, layer.id),
    }


def _sources_html(sources: dict) -> str:
    """A collapsible attribution listing every source of the map's layers (escaped HTML)."""
    e = html.escape
    osm = any("OpenStreetMap" in s.attribution for s in sources.values())
    items = "".join(
        f"<li>{e(s.attribution)} <span class='tj-en'>({e(s.licence)}; {e(s.date or 'undated')})</span></li>"
        for _, s in sorted(sources.items())
    )
    lead = "© OpenStreetMap contributors · " if osm else ""
    return (
        f"<details class='tj-sources'><summary>{lead}数据来源 / Data sources ({len(sources)})</summary>"
        f"<ul>{items}</ul></details>"
    )


def _group_label(theme: str) -> str:
    zh, en = THEMES[theme]
    return f"{zh} / {en}"


# ------------------------------------------------------------------------------------------------ the map
class _TjRuntime(MacroElement):
    """Loads the Leaflet plugins and calls ``tj.init(map, config)``."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        {% for name, url in this.plugin_css %}<link rel="stylesheet" href="{{ url }}"/>
        {% endfor %}{% for name, url in this.plugin_js %}<script src="{{ url }}"></script>
        {% endfor %}<style>{{ this.css }}</style>
        <script>{{ this.js }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        tj.init({{ this._parent.get_name() }}, tj.readConfig());
        {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "TjRuntime"
        self.plugin_js = _PLUGIN_JS
        self.plugin_css = _PLUGIN_CSS
        self.css = (ASSETS_DIR / "tjspatial" / "tjmap.css").read_text(encoding="utf-8")
        self.js = (ASSETS_DIR / "tjspatial" / "tjmap.js").read_text(encoding="utf-8").replace("</script", "<\\/script")


@dataclass
class WebMap:
    """A rendered web map: the folium map, its runtime configuration and what it had to leave out."""

    spec: MapSpec
    map: folium.Map
    config: dict
    warnings: list[str] = field(default_factory=list)
    offline: bool = False

    def frames(self) -> list[tuple[dict, gpd.GeoDataFrame]]:
        """Each overlay's configuration with its display data as a GeoDataFrame (EPSG:4326 label).

        Returns
        -------
        list of tuple of (dict, geopandas.GeoDataFrame)
            Configuration and display data per overlay, in drawing order.
        """
        out = []
        for cfg in self.config["layers"]:
            fc = dequantise(columns_to_features(json.loads(cfg["data"])))
            gdf = (
                gpd.GeoDataFrame.from_features(fc["features"], crs=STORAGE_CRS)
                if fc["features"]
                else gpd.GeoDataFrame(geometry=[], crs=STORAGE_CRS)
            )
            out.append((cfg, gdf))
        return out

    def render(self) -> str:
        """The complete HTML page (Leaflet and plugins inlined when ``offline``).

        Returns
        -------
        str
            The HTML page.
        """
        page = self.map.get_root().render()
        return inline_assets(page) if self.offline else page


def _basemap_configs(
    basemap: str, offline: bool, *, tianditu: str | None = None, has_offline_base: bool = True
) -> list[dict]:
    """The base maps of one map: the offline base map (drawn from the bundled layers) and the online tiles.

    The offline edition opens on the offline base map; the CDN edition on the first online tiles. With a
    天地图 key, 天地图 vector and imagery (each with its annotation layer) are offered beside OSM (WGS84
    edition; CGCS2000 tiles need no shift) — never on the GaoDe edition, whose overlays are GCJ-02.
    """
    import xyzservices.providers as xyz

    wanted = [b for b in BASEMAPS if (b.crs == "gcj02") == (basemap == "gaode")]
    out = []
    if has_offline_base:
        out.append(
            {
                "id": "offline",
                "kind": "offline",
                "name": "离线底图（随包图层）/ Offline base map (bundled layers)",
                "url": None,
                "default": offline,
            }
        )
    else:
        out.append({"id": "none", "name": "无底图 / No base map", "url": None, "default": offline})
    needs = "（需联网 / needs network）"
    for i, b in enumerate(wanted):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            provider = xyz.query_name(b.provider)
        url = provider.build_url().replace("http://", "https://")
        out.append(
            {
                "id": b.id,
                "kind": "tiles",
                "name": b.name + needs,
                "url": url,
                "max_zoom": provider.get("max_zoom", 19),
                "subdomains": provider.get("subdomains", "abc"),
                "attribution_html": provider.get("html_attribution", provider.get("attribution", "")),
                "crs": b.crs,
                "default": (not offline and i == 0),
            }
        )
    if tianditu and basemap != "gaode":
        review = tianditu_review_number()
        attribution = TIANDITU_ATTRIBUTION + (f" · 审图号 {html.escape(review)}" if review else "")
        for tid, (name, layers) in TIANDITU_LAYERS.items():
            urls = [TIANDITU_URL.replace("{layer}", lay).replace("{key}", tianditu) for lay in layers]
            out.append(
                {
                    "id": tid,
                    "kind": "tiles",
                    "name": name + needs,
                    "url": urls[0],
                    "urls": urls,
                    "max_zoom": 18,
                    "subdomains": "01234567",
                    "attribution_html": attribution,
                    "crs": "cgcs2000",
                    "default": False,
                }
            )
    return out


def _sea_polygon(boundary: gpd.GeoDataFrame, coast: gpd.GeoDataFrame | None) -> shapely.Geometry | None:
    """The sea off the Tianjin coast: the box from the coastline's west edge to 119°E over the coast's
    latitudes, minus the municipality, keeping only the parts that reach the open sea (the east edge)."""
    if coast is None or not len(coast):
        return None
    lines = coast[coast["variant"] == "tianditu_derived"] if "variant" in coast else coast
    if not len(lines):
        lines = coast
    x0, y0, _x1, y1 = lines.total_bounds
    box = shapely.box(x0, y0 - 0.02, 119.0, y1 + 0.02)
    sea = shapely.difference(box, shapely.union_all(np.asarray(boundary.geometry.values)))
    parts = [g for g in shapely.get_parts(np.asarray([sea])) if g.bounds[2] >= 119.0 - 1e-9]
    return shapely.union_all(parts) if parts else None


def offline_base_config(gpkg, present: set[str], *, gcj02: bool = False) -> tuple[dict | None, list[str]]:
    """See :func:`_offline_base_uncached`; cached per GeoPackage file version (path, size, modification time).

    ``gpkg`` may be a path or a :class:`tjspatial.gpkg.GeoPackage` reader (whose cached layers are then used).
    """
    cfg, blocks = _offline_base(_GpkgKey(gpkg), frozenset(present), gcj02)
    return (json.loads(json.dumps(cfg)) if cfg is not None else None), list(blocks)


class _GpkgKey:
    """A GeoPackage (path or reader) that hashes as its file version, for :func:`functools.lru_cache`."""

    def __init__(self, gpkg):
        self.gpkg = gpkg
        st = Path(gpkg).stat()
        self.key = (str(Path(gpkg).resolve()), st.st_size, st.st_mtime_ns)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, _GpkgKey) and other.key == self.key


@lru_cache(maxsize=4)
def _offline_base(key: _GpkgKey, present: frozenset, gcj02: bool) -> tuple[dict | None, tuple]:
    cfg, blocks = _offline_base_uncached(key.gpkg, set(present), gcj02=gcj02)
    return cfg, tuple(blocks)


def _role_ids(cat: Catalog) -> dict[str, str]:
    """Layer id by role (:data:`tjspatial.catalog.ROLES`) of the roles one layer of ``cat`` declares."""
    return {role: layer.id for layer in cat for role in layer.roles}


def _offline_base_uncached(gpkg, present: set[str], *, gcj02: bool = False) -> tuple[dict | None, list[str]]:
    """The offline base map drawn from the bundled layers, with its data blocks.

    Parts (bottom to top, styled by ``styles/basemap_*.json``), from the catalog layers of these roles: sea off
    the coast (``municipality`` + ``shoreline``), Tianjin's land (``municipality``), water bodies
    (``water_bodies``), district lines (``district_areas``); labels: district names from zoom 7.5, settlement
    names (``place_names``) from zoom 11.

    Returns
    -------
    (config, blocks) : the ``offline_base`` configuration (None when the GeoPackage has no municipal
        boundary) and the JSON data blocks (``<script type="application/json">``) it refers to.
    """
    role = _role_ids(get_catalog())
    if role.get("municipality") not in present:
        return None, []
    boundary = load(role["municipality"], gpkg)
    coast = load(role["shoreline"], gpkg) if role.get("shoreline") in present else None
    frames: list[tuple[str, str, str, gpd.GeoDataFrame, float, str]] = []
    sea = _sea_polygon(boundary, coast)
    if sea is not None and not sea.is_empty:
        frames.append(
            (
                "sea",
                "basemap_sea",
                "Polygon",
                gpd.GeoDataFrame(geometry=[sea], crs=STORAGE_CRS),
                200.0,
                "海域（示意，天津岸线以外）/ sea (approximate, off the Tianjin coast)",
            )
        )
    frames.append(("land", "basemap_land", "Polygon", boundary[["geometry"]], 60.0, "天津市域 / Tianjin"))
    if role.get("water_bodies") in present:
        frames.append(
            (
                "water",
                "basemap_water",
                "Polygon",
                load(role["water_bodies"], gpkg)[["geometry"]],
                40.0,
                "水体（部分）/ water (partial coverage)",
            )
        )
    districts = load(role["district_areas"], gpkg) if role.get("district_areas") in present else None
    if districts is not None:
        lines = gpd.GeoDataFrame(geometry=districts.boundary.values, crs=STORAGE_CRS)
        frames.append(("district_lines", "basemap_district_lines", "LineString", lines, 60.0, "区界 / district lines"))
    parts, blocks = [], []
    for pid, style_id, geom, gdf, tol, legend in frames:
        style = load_style(style_id)
        metric = to_metric(gdf)
        simple = gpd.GeoSeries(
            shapely.simplify(np.asarray(metric.geometry.values), tol, preserve_topology=True), crs=metric.crs
        ).to_crs(STORAGE_CRS)
        out = gpd.GeoDataFrame(geometry=simple.values, crs=STORAGE_CRS)
        out = out[~out.geometry.is_empty]
        if gcj02:
            out = convert_gdf(out, "wgs84", "gcj02")
        block_id = f"tj-base-{pid}"
        blocks.append(_json_block(block_id, _features_json(out, f"base map {pid}", quantise=_QUANTISE)))
        parts.append(
            {
                "id": pid,
                "data_id": block_id,
                "geometry": geom,
                "legend": legend,
                "style": {
                    "stroke": style.stroke,
                    "stroke_width": style.stroke_width,
                    "stroke_opacity": style.stroke_opacity,
                    "fill": style.fill,
                    "fill_opacity": style.fill_opacity,
                },
            }
        )
    labels = []

    def anchors(gdf: gpd.GeoDataFrame, text: pd.Series) -> list[list]:
        g = convert_gdf(gdf, "wgs84", "gcj02") if gcj02 else gdf
        pts = shapely.point_on_surface(np.asarray(g.geometry.values))
        return [
            [round(float(x), 5), round(float(y), 5), str(t)]
            for x, y, t in zip(shapely.get_x(pts), shapely.get_y(pts), text)
            if str(t).strip()
        ]

    if districts is not None:
        order = districts.assign(_a=districts.to_crs(METRIC_CRS).area).sort_values("_a", ascending=False)
        labels.append(
            {
                "id": role["district_areas"],
                "min_zoom": 7.5,
                "priority": 5,
                "items": anchors(order, order["name_zh"].fillna("")),
            }
        )
    if role.get("place_names") in present:
        st = load(role["place_names"], gpkg)
        text = (
            st["name_zh"]
            .fillna("")
            .astype(str)
            .where(st["name_zh"].fillna("") != "", st["name_en"].fillna("").astype(str))
        )
        labels.append({"id": role["place_names"], "min_zoom": 11, "priority": 1, "items": anchors(st, text)})
    outside = load_style("basemap_outside")
    config = {
        "name": "离线底图 / offline base map",
        "parts": parts,
        "labels": labels,
        "background": outside.fill,
        "background_legend": "天津市域以外 / outside Tianjin",
        "note": "底图由随包图层绘制（示意）：天津市域、海域、水体、区界与地名 / base map drawn from the bundled "
        "layers (approximate): Tianjin, sea, water, district lines and place names",
    }
    return config, blocks


def _catchment_config(
    stations: gpd.GeoDataFrame, overlay: Layer, catalog: Catalog, distance_m: float, gcj02: bool
) -> dict:
    """An overlay of the union of ``distance_m`` buffers (metres, metric CRS: EPSG:4548 for Tianjin) around the
    named stations of the overlay's ``station_kinds`` (catalog ``[[overlay]]`` with role ``station_catchment``)."""
    kinds = list(overlay.extra.get("station_kinds", []))
    sel = stations[stations["kind"].isin(kinds) & (stations["name_zh"] != "")] if "kind" in stations else stations
    sel_m = to_metric(sel)
    union = shapely.union_all(np.asarray(buffer_m(sel_m, distance_m).values))
    area_km2 = float(shapely.area(union)) / 1e6
    gdf = gpd.GeoDataFrame(
        {
            "name_zh": [overlay.title_zh],
            "name_en": [overlay.title_en],
            "accuracy": [overlay.accuracy],
            "source": [overlay.sources[0]],
            "stations": [int(len(sel))],
            "area_km2": [round(area_km2, 1)],
        },
        geometry=[union],
        crs=sel_m.crs,
    ).to_crs(STORAGE_CRS)
    if gcj02:
        gdf = convert_gdf(gdf, "wgs84", "gcj02")
    gdf = gdf.set_geometry(shapely.transform(np.asarray(gdf.geometry.values), lambda c: np.round(c, 5)))
    gdf["_c"] = None
    gdf["_q"] = ""
    return layer_config(gdf, overlay, load_style(overlay.style), catalog, show=True)


def _header_html(
    spec: MapSpec,
    *,
    date: str,
    offline: bool,
    gcj02: bool,
    schematic: bool,
    missing: list[str],
    notes: list[str],
    source_dates: str,
    chords: bool = False,
    base_note: str = "",
) -> str:
    """The map's title block: title, then the notes in a collapsible block (collapsed on phones)."""
    e = html.escape
    lines = [
        f'<div class="tj-header" id="tj-header"><h1>{e(spec.title_zh)} '
        f'<span class="tj-en">{e(spec.title_en)}</span></h1>',
        '<details class="tj-hd-more" open><summary>说明 / notes</summary>',
        f'<div class="tj-note"><a href="index.html">← 地图目录 / Gallery</a> · '
        f"数据日期 / data date: 构建 built {e(date or 'unknown')} · 来源 sources {e(source_dates)}</div>",
    ]
    if schematic:
        lines.append(
            '<div class="tj-warn">⚠ 带半透明外框的要素为示意位置，非测绘数据；虚线表示规划或在建 / '
            "features with a translucent casing are schematic (approximate), not surveyed; dashes mean "
            "planned or under construction</div>"
        )
    if chords:
        lines.append(
            '<div class="tj-warn">轨道线为示意：站间直连折线，非线路走向 / rail lines are schematic: '
            "station-to-station chords, not track alignments</div>"
        )
    if offline:
        lines.append(
            f'<div class="tj-note">离线版：无需联网；{e(base_note or "底图由随包图层绘制")} / offline '
            "edition: no network needed; online base maps are listed but need a network</div>"
        )
    if gcj02:
        lines.append(
            '<div class="tj-note">叠加图层已在显示时偏移至 GCJ-02 以对齐高德底图；数据本身为 WGS84；'
            "光标坐标与量测为 GCJ-02 / overlays shifted to GCJ-02 for the GaoDe basemap; the data stays "
            "WGS84; cursor coordinates and measurements are GCJ-02</div>"
        )
    if missing:
        lines.append(f'<div class="tj-warn">尚未生成，未显示 / not built yet, not shown: {e(", ".join(missing))}</div>')
    for note in notes:
        lines.append(f'<div class="tj-warn">{e(note)}</div>')
    lines.append("</details>")
    lines.append(
        f'<div class="tj-print-only tj-print-note">示意图，非测绘成果 / schematic map, not a survey product · '
        f"{e(spec.title_zh)} {e(spec.title_en)} · tjspatial</div>"
    )
    lines.append("</div>")
    return "\n".join(lines)


def _compare_config(spec: MapSpec, configs: list[dict]) -> dict | None:
    """The swipe comparison of a map (``compare`` in its ``[[map]]`` table), limited to layers on the map."""
    if not spec.compare:
        return None
    ids = {c["id"] for c in configs}
    left = [i for i in spec.compare["left"] if i in ids]
    right = [i for i in spec.compare["right"] if i in ids]
    if not left or not right:
        return None
    return {
        "left": left,
        "right": right,
        "left_label": spec.compare.get("left_label", "←"),
        "right_label": spec.compare.get("right_label", "→"),
    }


def _imports(gpkg: Path) -> dict[str, str]:
    """Layers the GeoPackage's provenance says were built from an imported file: layer id → file name."""
    if "provenance" not in gpkg_tables(gpkg):  # no provenance: nothing imported
        return {}
    prov = read_table(gpkg, "provenance")
    if "built_from" not in prov or "layer" not in prov:
        return {}
    rows = prov[prov["built_from"].fillna("").astype(str).str.startswith("import:")]
    return {str(r.layer): str(r.built_from).split(":", 1)[1] for r in rows.itertuples()}


def make_map(
    spec: str | MapSpec,
    gpkg: str | Path | None = None,
    *,
    offline: bool = True,
    basemap: str = "osm",
    catalog: Catalog | None = None,
    display: DisplaySettings | None = None,
    extra_layers: list[dict] | None = None,
    notes: list[str] | None = None,
    panel_html: str = "",
    tianditu_key: str | None = None,
) -> WebMap:
    """Make one thematic web map from the built GeoPackage.

    Parameters
    ----------
    spec : str or MapSpec
        A map id of the catalog's ``[[map]]`` tables, or a :class:`MapSpec`.
    gpkg : str, pathlib.Path or tjspatial.gpkg.GeoPackage, optional
        The GeoPackage (default ``layers/tianjin.gpkg``, built if missing).
    offline : bool, default True
        The offline edition: Leaflet and the plugins inlined from the vendored copies, and the map opens on
        the offline base map drawn from the bundled layers. ``False`` is the CDN edition.
    basemap : {"osm", "gaode"}, default "osm"
        ``"osm"`` (offline base map, OpenStreetMap, light, imagery, 天地图 with a key; overlays in WGS84) or
        ``"gaode"`` (GaoDe tiles; overlays shifted to GCJ-02 for display).
    catalog : Catalog, optional
        The layer catalog; default :func:`tjspatial.catalog.get_catalog`.
    display : DisplaySettings, optional
        Display simplification tolerances (metres, applied in the metric CRS); default the catalog's.
    extra_layers : list of dict, optional
        Further overlay configurations (from :func:`layer_config`), e.g. analysis choropleths.
    notes : list of str, optional
        Extra lines for the header (e.g. an analysis that is not available).
    panel_html : str, default ""
        Escaped HTML for a side panel (e.g. a table).
    tianditu_key : str, optional
        The 天地图 key (default: environment variable ``TIANDITU_KEY``); without one, no 天地图.

    Returns
    -------
    WebMap
        With ``warnings`` naming each layer that was skipped (not declared or not built yet); the same
        messages are issued as :class:`MapWarning`.
    """
    if basemap not in ("osm", "gaode"):
        raise InputError(f"basemap must be 'osm' or 'gaode', not {basemap!r}")
    spec = get_map_spec(spec)
    cat = catalog or get_catalog()
    display = display or load_display_settings()
    gpkg = ensure_gpkg(gpkg)
    present = _gpkg_layers(gpkg)
    imported = _imports(gpkg)
    gcj02 = basemap == "gaode"
    tkey = resolve_tianditu_key(tianditu_key) if basemap != "gaode" else None
    ids, undeclared = map_layer_ids(spec, cat)
    messages = [f"map {spec.id!r}: layer {lid!r} is not in the catalog (yet); skipped" for lid in undeclared]
    missing = list(undeclared)
    configs: list[dict] = []
    frames: dict[str, gpd.GeoDataFrame] = {}
    for lid in ids:
        layer = cat[lid]
        if lid not in present:
            messages.append(
                f"map {spec.id!r}: layer {lid!r} ({layer.title_en}) is not in {gpkg.name}; "
                f"rebuild with `tjspatial build`; skipped"
            )
            missing.append(lid)
            continue
        style = load_style(layer.style)
        gdf = load(lid, gpkg)
        frames[lid] = gdf
        disp = display_layer(gdf, layer, style, display.tolerance(lid, layer.geometry_type), gcj02=gcj02)
        configs.append(layer_config(disp, layer, style, cat, show=lid not in spec.hidden, imported=imported.get(lid)))
    if spec.catchment_m:
        overlay = cat.overlay_for("station_catchment", distance_m=spec.catchment_m)
        if overlay.extra["derived_from"] in frames:
            stations = frames[overlay.extra["derived_from"]]
            configs.append(_catchment_config(stations, overlay, cat, spec.catchment_m, gcj02))
    configs.extend(extra_layers or [])
    for msg in messages:
        warnings.warn(msg, MapWarning, stacklevel=2)
    theme_order = list(THEMES)
    configs.sort(key=lambda c: (theme_order.index(c["theme"]), -c["style"]["z"]))
    groups = [{"label": _group_label(t)} for t in theme_order if any(c["theme"] == t for c in configs)]

    bounds = None
    muni = _role_ids(cat).get("municipality")
    if muni in frames:
        b = frames[muni]
        b = convert_gdf(b, "wgs84", "gcj02") if gcj02 else b
        bounds = [round(float(v), 4) for v in b.total_bounds]
    elif frames:
        tb = pd.concat([f.geometry for f in frames.values()]).total_bounds
        bounds = [round(float(v), 4) for v in tb] if np.isfinite(tb).all() else None
    outline = any(c["id"] == muni for c in configs)
    base_cfg, base_blocks = offline_base_config(gpkg, present, gcj02=gcj02)

    srcs = {s: cat.sources[s] for c in configs for s in c.pop("source_ids") if s in cat.sources}
    dates = sorted(s.date for s in srcs.values() if s.date)
    source_dates = f"{dates[0]} – {dates[-1]}" if dates else "—"
    bases = _basemap_configs(basemap, offline, tianditu=tkey, has_offline_base=base_cfg is not None)
    carto = load_cartography()
    gk_note = (
        "GCJ-02（高德显示坐标，偏离 WGS84 约 500 米；量测亦为 GCJ-02）/ GCJ-02 (GaoDe display coordinates, ~500 m "
        "off WGS84; measurements too)"
        if gcj02
        else ""
    )
    cfg = {
        "map_id": spec.id,
        "title": f"{spec.title_zh} / {spec.title_en}",
        "edition": "offline" if offline else "cdn",
        "accuracy": {k: list(v) for k, v in ACCURACY_CLASSES.items()},
        "sources": {sid: s.attribution for sid, s in srcs.items()},
        "attribution_html": _sources_html(srcs),
        "groups": groups,
        "layers": configs,
        "basemaps": bases,
        "has_offline_base": base_cfg is not None,
        "offline_base": base_cfg,
        "cartography": {
            "status_field": carto.status_field,
            "default_status": carto.default_status,
            "statuses": {k: {"dash": v.dash, "label": v.label} for k, v in carto.statuses.items()},
            "approximate": list(carto.approximate),
            "casing_px": carto.casing_px,
            "casing_opacity": carto.casing_opacity,
            "accuracy_label": carto.accuracy_label,
            "label_suffix": carto.label_suffix,
        },
        "gk": {"lon0": 117.0, "false_easting": 500000.0, "label": "CGCS2000 GK 117°E (EPSG:4548)"},
        "coords": {
            "crs_label": "GCJ-02" if gcj02 else "WGS84",
            "note": gk_note,
            "hint": "移动光标显示坐标 / move the cursor for coordinates",
        },
        "compare": _compare_config(spec, configs),
        "search": list(spec.search),
        "search_placeholder": "搜索车站、地点 / Search stations, places",
        "bounds": bounds,
        "minimap_url": None if offline else next((b["url"] for b in bases if b.get("url")), None),
        "default_icon": leaflet_icon_data_uris() if offline else None,
        "minimap_outline_layer": muni if outline else None,
        "minimap_style": {"color": cat_style_stroke(muni, cat) if outline else None, "weight": 1, "fill": False},
    }
    if gcj02:  # GCJ-02 display coordinates are ~500 m off WGS84: no GK metres that would pass for real ones
        cfg["gk"] = None

    center = [39.2, 117.3] if bounds is None else [(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2]
    m = folium.Map(location=center, zoom_start=8, tiles=None, control_scale=False, zoom_snap=0.25, zoom_delta=0.5)
    m.default_js = list(_LEAFLET_JS)
    m.default_css = list(_LEAFLET_CSS)
    root = m.get_root()
    root.title = f"{spec.title_zh} {spec.title_en} · tjspatial"
    root.header.add_child(Element('<meta name="generator" content="tjspatial"/>'), name="tj_generator")
    root.header.add_child(
        Element('<meta name="viewport" content="width=device-width, initial-scale=1"/>'), name="tj_viewport"
    )
    schematic = any(c["schematic"] or any(e.get("casing") for e in c["legend"]) for c in configs)
    chords = any(any("station-to-station" in b["text"] for b in c.get("badges", [])) for c in configs)
    root.html.add_child(
        Element(
            _header_html(
                spec,
                date=build_date(gpkg),
                offline=offline,
                gcj02=gcj02,
                schematic=schematic,
                missing=missing,
                notes=list(notes or []),
                source_dates=source_dates,
                chords=chords,
                base_note=(base_cfg or {}).get("note", ""),
            )
        ),
        name="tj_header",
    )
    if panel_html:
        root.html.add_child(Element(f'<div class="tj-panel" id="tj-panel">{panel_html}</div>'), name="tj_panel")
    # data is data: the configuration and each layer's features go into their own JSON script blocks, written by
    # a JSON encoder and escaped in one pass; the runtime parses them. Nothing is substituted into a template.
    for i, c in enumerate(configs):
        c["data_id"] = f"tj-data-{i}"
    public = {**cfg, "layers": [{k: v for k, v in c.items() if k != "data"} for c in configs]}
    blocks = [_json_block("tj-config", json.dumps(public, ensure_ascii=False, separators=(",", ":")))]
    blocks += [_json_block(c["data_id"], c["data"]) for c in configs]
    blocks += base_blocks
    root.html.add_child(Element("\n".join(blocks)), name="tj_data")
    m.add_child(_TjRuntime(), name="tj_runtime")
    _stable_ids(m.get_root(), f"{spec.id}.{basemap}")
    return WebMap(spec=spec, map=m, config=cfg, warnings=messages, offline=offline)


def _stable_ids(root: Element, seed: str) -> None:
    """Give every element under ``root`` an id derived from ``seed`` and its place in the tree.

    Folium/branca draw a random id per element (``map_<uuid>`` in the page), so two writes of the same map
    differed by a few lines; with ids from the map id, the basemap edition and the element's position, the same
    data gives the same bytes (#16, #15).
    """
    todo, n = [root], 0
    while todo:
        el = todo.pop(0)
        el._id = hashlib.sha256(f"{seed}:{n}".encode()).hexdigest()[:32]
        n += 1
        todo.extend(el._children.values())


def cat_style_stroke(layer_id: str, catalog: Catalog) -> str:
    """The stroke colour of a layer's style (used for the minimap outline)."""
    style_id = catalog[layer_id].style if layer_id in catalog else layer_id
    return load_style(style_id).stroke
