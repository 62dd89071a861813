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
(:func:`tjspatial.crs.convert_gdf`) so that they sit on the GaoDe tiles. With ``offline=True`` Leaflet and
the plugins are inlined from the copies vendored in ``assets/`` (:mod:`.offline_assets`); basemap tiles then
need a network, so the map opens on a plain background and says so.
"""
from __future__ import annotations

import html
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from ..errors import TjSpatialError, UnknownNameError
from ..catalog import ACCURACY_CLASSES, THEMES, Catalog, Layer, get_catalog
from ..crs import METRIC_CRS, STORAGE_CRS, buffer_m, convert_gdf, to_metric
from ..gpkg import list_layers as gpkg_tables, read_table
from ..io import ensure_gpkg, load
from ..styles import SCHEMATIC_DASH, Style, load_style
from .map_specs import DisplaySettings, MapSpec, load_display_settings, load_map_specs, map_layer_ids
from .offline_assets import ASSETS_DIR, inline_assets, leaflet_icon_data_uris
from ..atomic import atomic_path

__all__ = ["MapWarning", "MapDataError", "Basemap", "BASEMAPS", "WebMap", "display_layer", "layer_config", "make_map",
           "render_map", "write_map", "write_text_atomic", "get_map_spec", "build_date", "embed_json"]

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

# CDN URLs of Leaflet and the plugins (the same files folium uses); offline pages inline the vendored copies.
_LEAFLET_JS = [("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js")]
_LEAFLET_CSS = [("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css")]
_PLUGIN_JS = [
    ("fullscreen_js", "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js"),
    ("minimap_js", "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.js"),
    ("measure_js", "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js"),
    ("search_js", "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js"),
    ("grouped_js", "https://cdnjs.cloudflare.com/ajax/libs/leaflet-groupedlayercontrol/0.6.1/"
                   "leaflet.groupedlayercontrol.min.js"),
]
_PLUGIN_CSS = [
    ("fullscreen_css", "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css"),
    ("minimap_css", "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.css"),
    ("measure_css", "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css"),
    ("search_css", "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css"),
    ("grouped_css", "https://cdnjs.cloudflare.com/ajax/libs/leaflet-groupedlayercontrol/0.6.1/"
                    "leaflet.groupedlayercontrol.min.css"),
]


# ------------------------------------------------------------------------------------------------ helpers
def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a temporary file beside ``path`` and rename it into place when complete."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def embed_json(obj: Any) -> str:
    """JSON for a ``<script>`` block: ``<``, ``>``, ``&`` and U+2028/2029 escaped so data cannot end it."""
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _json_block(block_id: str, json_text: str) -> str:
    """A ``<script type="application/json">`` block holding ``json_text`` (escaped by :func:`embed_json`)."""
    return f'<script type="application/json" id="{block_id}">{embed_json(json_text)}</script>'


def get_map_spec(map_id: str | MapSpec) -> MapSpec:
    """The ``[[map]]`` declaration with this id (``KeyError`` naming the known ids otherwise)."""
    if isinstance(map_id, MapSpec):
        return map_id
    specs = load_map_specs()
    for spec in specs:
        if spec.id == map_id:
            return spec
    raise UnknownNameError(f"no map {map_id!r} in the catalog's [[map]] tables; known maps: "
                   f"{', '.join(s.id for s in specs)}")


def build_date(gpkg: str | Path) -> str:
    """The date (UTC, ``YYYY-MM-DD``) the GeoPackage was built, from its ``provenance`` table ('' if none)."""
    if "provenance" not in gpkg_tables(gpkg):  # a GeoPackage without provenance still maps
        return ""
    prov = read_table(gpkg, "provenance")
    times = prov.get("build_time", pd.Series(dtype=str)).dropna().astype(str)
    return times.max()[:10] if len(times) else ""


def _gpkg_layers(gpkg: Path) -> set[str]:
    return set(gpkg_tables(gpkg))


# ------------------------------------------------------------------------------------------------ layer data
def display_layer(gdf: gpd.GeoDataFrame, layer: Layer, style: Style, tolerance_m: float, *,
                  gcj02: bool = False) -> gpd.GeoDataFrame:
    """A layer prepared for a web map: simplified, rounded, with style and search helper columns.

    Parameters
    ----------
    gdf : the layer as loaded (EPSG:4326).
    layer, style : its catalog declaration and style.
    tolerance_m : simplification tolerance in metres, applied in EPSG:4548 (topology-preserving);
        0 keeps the geometry as is. Points are never simplified.
    gcj02 : shift the geometry from WGS84 to GCJ-02 (for the GaoDe basemap). The stored data is unchanged.

    Returns
    -------
    GeoDataFrame (EPSG:4326 label; GCJ-02 coordinates if ``gcj02``) with the common and declared fields and
    ``_c`` (feature colour from the style's categories or colour field, or None), ``_q`` (search text),
    ``_lx``/``_ly`` (label position, for styles with a ``label_field``). Empty geometries are dropped.
    """
    keep = [c for c in layer.all_fields if c in gdf.columns]
    out = gdf[keep + [gdf.geometry.name]].copy()
    out = out[~(out.geometry.isna() | out.geometry.is_empty)]
    geoms = out.geometry.values
    if tolerance_m > 0 and layer.geometry_type != "Point" and len(out):
        metric = to_metric(out).geometry.values
        simple = shapely.simplify(np.asarray(metric), tolerance_m, preserve_topology=True)
        geoms = gpd.GeoSeries(simple, index=out.index, crs=METRIC_CRS).to_crs(STORAGE_CRS).values
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


def _features_json(gdf: gpd.GeoDataFrame, layer_id: str = "?") -> str:
    """A GeoJSON FeatureCollection string written with a real JSON encoder (one record at a time).

    Every text is data: any character (U+2028, U+2029, U+0085, quotes, ``@@…@@``) survives as itself.

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
    gjson = shapely.to_geojson(geoms)
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    feats = []
    for i in range(len(gdf)):
        rec = {c: _json_value(col[i]) for c, col in zip(cols, columns)}
        try:
            p = dumps(rec)
        except (TypeError, ValueError) as exc:
            field_name = next((c for c in cols if not _encodes(dumps, rec[c])), None)
            raise MapDataError(_where(layer_id, gdf, i, field_name)
                               + f"value {rec.get(field_name)!r:.80} cannot be written as JSON ({exc})") from exc
        feats.append('{"type":"Feature","properties":' + p + ',"geometry":' + gjson[i] + "}")
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


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


def _legend_entries(gdf: gpd.GeoDataFrame, layer: Layer, style: Style) -> list[dict]:
    schematic = layer.is_schematic
    entries: list[dict] = []
    if style.categories:
        present = set(gdf[style.categories["field"]].astype(str)) if style.categories["field"] in gdf else set()
        for value, spec in style.categories["values"].items():
            if present and value not in present:
                continue
            entries.append({"color": spec["color"], "label": spec.get("label", value), "dash": schematic})
    elif style.color_field and "_c" in gdf:
        named = gdf[gdf["_c"].notna()]
        names = named.groupby("_c", sort=False)["name_zh"].agg(lambda s: "、".join(dict.fromkeys(s))[:40])
        entries = [{"color": c, "label": n, "dash": schematic} for c, n in names.items()]
    else:
        entries.append({"color": None, "label": layer.title_zh, "dash": schematic})
    if not schematic and "accuracy" in gdf and (gdf["accuracy"] == "schematic").any():
        entries.append({"color": None, "label": "示意要素（虚线）/ schematic features (dashed)", "dash": True})
    return entries


def _escape_attr(text: str) -> str:
    return html.escape(text, quote=True)


def layer_config(gdf: gpd.GeoDataFrame, layer: Layer, style: Style, catalog: Catalog, *, show: bool = True,
                 ramp: dict | None = None) -> dict:
    """The runtime configuration of one overlay (style, legend, labels, attribution, data).

    Parameters
    ----------
    gdf : the display frame from :func:`display_layer`.
    layer, style : the catalog declaration and its style (made dashed when the layer is schematic).
    catalog : for the sources' attribution.
    show : whether the overlay is on when the map opens.
    ramp : a continuous colour ramp ``{"field", "colors", "min", "max", "unit", "label"}`` (choropleths).
    """
    style = style.with_schematic(layer.is_schematic)
    return {
        "id": layer.id,
        "title_zh": layer.title_zh,
        "title_en": layer.title_en,
        "theme": layer.theme,
        "group_label": _group_label(layer.theme),
        "geometry": layer.geometry_type,
        "accuracy": layer.accuracy,
        "accuracy_label": layer.accuracy_label,
        "schematic": layer.is_schematic,
        "schematic_dash": SCHEMATIC_DASH,
        "style": {
            "stroke": style.stroke, "stroke_width": style.stroke_width, "stroke_opacity": style.stroke_opacity,
            "dash": style.dash, "fill": style.fill, "fill_opacity": style.fill_opacity,
            "marker": style.marker or {"shape": "circle", "radius": 4}, "z": style.z,
        },
        # scale-dependent labels (label_max_scale) are not drawn on the web maps until they honour the scale
        "label_field": style.label_field if "_lx" in gdf and not style.label_max_scale else None,
        "fields": [f for f in layer.fields if f in gdf.columns],
        "legend": _legend_entries(gdf, layer, style),
        "ramp": ramp,
        "limitations": layer.limitations,
        "source_ids": list(layer.sources),
        "show": show,
        "count": int(len(gdf)),
        "data": _features_json(gdf, layer.id),
    }


def _sources_html(sources: dict) -> str:
    """A collapsible attribution listing every source of the map's layers (escaped HTML)."""
    e = html.escape
    osm = any("OpenStreetMap" in s.attribution for s in sources.values())
    items = "".join(f"<li>{e(s.attribution)} <span class='tj-en'>({e(s.licence)}; {e(s.date or 'undated')})</span></li>"
                    for _, s in sorted(sources.items()))
    lead = "© OpenStreetMap contributors · " if osm else ""
    return (f"<details class='tj-sources'><summary>{lead}数据来源 / Data sources ({len(sources)})</summary>"
            f"<ul>{items}</ul></details>")


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
        self.js = (ASSETS_DIR / "tjspatial" / "tjmap.js").read_text(encoding="utf-8").replace("</script",
                                                                                             "<\\/script")


@dataclass
class WebMap:
    """A rendered web map: the folium map, its runtime configuration and what it had to leave out."""

    spec: MapSpec
    map: folium.Map
    config: dict
    warnings: list[str] = field(default_factory=list)
    offline: bool = False

    def frames(self) -> list[tuple[dict, gpd.GeoDataFrame]]:
        """Each overlay's configuration with its display data as a GeoDataFrame (EPSG:4326 label)."""
        out = []
        for cfg in self.config["layers"]:
            fc = json.loads(cfg["data"])
            gdf = (gpd.GeoDataFrame.from_features(fc["features"], crs=STORAGE_CRS) if fc["features"]
                   else gpd.GeoDataFrame(geometry=[], crs=STORAGE_CRS))
            out.append((cfg, gdf))
        return out

    def render(self) -> str:
        """The complete HTML page (Leaflet and plugins inlined when ``offline``)."""
        page = self.map.get_root().render()
        return inline_assets(page) if self.offline else page


def _basemap_configs(basemap: str, offline: bool) -> list[dict]:
    import xyzservices.providers as xyz

    wanted = [b for b in BASEMAPS if (b.crs == "gcj02") == (basemap == "gaode")]
    out = []
    if offline:
        out.append({"id": "none", "name": "无底图（离线）/ No basemap (offline)", "url": None, "default": True})
    for i, b in enumerate(wanted):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            provider = xyz.query_name(b.provider)
        url = provider.build_url().replace("http://", "https://")
        name = b.name + ("（需联网 / needs network）" if offline else "")
        out.append({"id": b.id, "name": name, "url": url, "max_zoom": provider.get("max_zoom", 19),
                    "subdomains": provider.get("subdomains", "abc"),
                    "attribution_html": provider.get("html_attribution", provider.get("attribution", "")),
                    "default": (not offline and i == 0)})
    return out


def _catchment_config(stations: gpd.GeoDataFrame, stations_layer: Layer, catalog: Catalog, distance_m: float,
                      gcj02: bool) -> dict:
    """An overlay of the union of ``distance_m`` buffers (EPSG:4548) around the named metro and rail stations."""
    style = load_style(stations_layer.style)
    sel = stations[stations["kind"].isin(["metro", "rail"]) & (stations["name_zh"] != "")] \
        if "kind" in stations else stations
    union = shapely.union_all(np.asarray(buffer_m(to_metric(sel), distance_m).values))
    area_km2 = float(shapely.area(union)) / 1e6
    colour = style.category_colors().get("metro", style.stroke)
    gdf = gpd.GeoDataFrame({"name_zh": [f"车站 {distance_m:.0f} 米服务范围"],
                            "name_en": [f"{distance_m:.0f} m station catchment"],
                            "accuracy": ["derived"], "source": [stations_layer.sources[0]],
                            "stations": [int(len(sel))], "area_km2": [round(area_km2, 1)]},
                           geometry=[union], crs=METRIC_CRS).to_crs(STORAGE_CRS)
    if gcj02:
        gdf = convert_gdf(gdf, "wgs84", "gcj02")
    gdf = gdf.set_geometry(shapely.transform(np.asarray(gdf.geometry.values), lambda c: np.round(c, 5)))
    gdf["_c"] = None
    gdf["_q"] = ""
    layer = Layer(id="station_catchments", title_zh=f"车站 {distance_m:.0f} 米服务范围",
                  title_en=f"{distance_m:.0f} m station catchments", theme="analysis", geometry_type="Polygon",
                  accuracy="derived", sources=stations_layer.sources, builder="", style=stations_layer.style,
                  description=f"Union of {distance_m:.0f} m buffers (EPSG:4548) around named metro and rail stations.",
                  limitations="Straight-line distance, not walking distance; stations missing from OSM are absent.",
                  fields={"stations": "int", "area_km2": "float"})
    cat_style = Style(id=style.id, geometry="polygon", stroke=colour, stroke_width=1, fill=colour,
                      fill_opacity=0.2, z=5)
    return layer_config(gdf, layer, cat_style, catalog, show=True)


def _header_html(spec: MapSpec, *, date: str, offline: bool, gcj02: bool, schematic: bool, missing: list[str],
                 notes: list[str], source_dates: str) -> str:
    e = html.escape
    lines = [f'<div class="tj-header" id="tj-header"><h1>{e(spec.title_zh)} '
             f'<span class="tj-en">{e(spec.title_en)}</span></h1>',
             f'<div class="tj-note"><a href="index.html">← 地图目录 / Gallery</a> · '
             f'数据日期 / data date: 构建 built {e(date or "unknown")} · 来源 sources {e(source_dates)}</div>']
    if schematic:
        lines.append('<div class="tj-warn">⚠ 虚线图层为示意位置，非测绘数据 / dashed layers are schematic, '
                     'not surveyed</div>')
    if offline:
        lines.append('<div class="tj-warn">离线模式：底图瓦片需联网，显示为空白背景 / offline: basemap tiles '
                     'need a network, shown as a plain background</div>')
    if gcj02:
        lines.append('<div class="tj-note">叠加图层已在显示时偏移至 GCJ-02 以对齐高德底图；数据本身为 WGS84 / '
                     'overlays shifted to GCJ-02 for the GaoDe basemap; the data stays WGS84</div>')
    if missing:
        lines.append(f'<div class="tj-warn">尚未生成，未显示 / not built yet, not shown: {e(", ".join(missing))}</div>')
    for note in notes:
        lines.append(f'<div class="tj-warn">{e(note)}</div>')
    lines.append("</div>")
    return "\n".join(lines)


def make_map(spec: str | MapSpec, gpkg: str | Path | None = None, *, offline: bool = False,
             basemap: str = "osm", catalog: Catalog | None = None, display: DisplaySettings | None = None,
             extra_layers: list[dict] | None = None, notes: list[str] | None = None,
             panel_html: str = "") -> WebMap:
    """Make one thematic web map from the built GeoPackage.

    Parameters
    ----------
    spec : a map id of the catalog's ``[[map]]`` tables, or a :class:`MapSpec`.
    gpkg : the GeoPackage (default ``layers/tianjin.gpkg``, built if missing).
    offline : inline Leaflet and the plugins from the vendored copies; the map opens on a plain background.
    basemap : ``"osm"`` (OpenStreetMap, light, imagery; overlays in WGS84) or ``"gaode"`` (GaoDe tiles;
        overlays shifted to GCJ-02 for display).
    extra_layers : further overlay configurations (from :func:`layer_config`), e.g. analysis choropleths.
    notes : extra lines for the header (e.g. an analysis that is not available).
    panel_html : escaped HTML for a side panel (e.g. a table).

    Returns
    -------
    WebMap
        With ``warnings`` naming each layer that was skipped (not declared or not built yet); the same
        messages are issued as :class:`MapWarning`.
    """
    if basemap not in ("osm", "gaode"):
        raise ValueError(f"basemap must be 'osm' or 'gaode', not {basemap!r}")
    spec = get_map_spec(spec)
    cat = catalog or get_catalog()
    display = display or load_display_settings()
    gpkg = ensure_gpkg(gpkg)
    present = _gpkg_layers(gpkg)
    gcj02 = basemap == "gaode"
    ids, undeclared = map_layer_ids(spec, cat)
    messages = [f"map {spec.id!r}: layer {lid!r} is not in the catalog (yet); skipped" for lid in undeclared]
    missing = list(undeclared)
    configs: list[dict] = []
    frames: dict[str, gpd.GeoDataFrame] = {}
    for lid in ids:
        layer = cat[lid]
        if lid not in present:
            messages.append(f"map {spec.id!r}: layer {lid!r} ({layer.title_en}) is not in {gpkg.name}; "
                            f"rebuild with `tjspatial build`; skipped")
            missing.append(lid)
            continue
        style = load_style(layer.style)
        gdf = load(lid, gpkg)
        frames[lid] = gdf
        disp = display_layer(gdf, layer, style, display.tolerance(lid, layer.geometry_type), gcj02=gcj02)
        configs.append(layer_config(disp, layer, style, cat, show=lid not in spec.hidden))
    if spec.catchment_m and "rail_stations" in frames:
        configs.append(_catchment_config(frames["rail_stations"], cat["rail_stations"], cat, spec.catchment_m, gcj02))
    configs.extend(extra_layers or [])
    for msg in messages:
        warnings.warn(msg, MapWarning, stacklevel=2)
    theme_order = list(THEMES)
    configs.sort(key=lambda c: (theme_order.index(c["theme"]), -c["style"]["z"]))
    groups = [{"label": _group_label(t)} for t in theme_order if any(c["theme"] == t for c in configs)]

    bounds = None
    if "boundary" in frames:
        b = frames["boundary"]
        b = convert_gdf(b, "wgs84", "gcj02") if gcj02 else b
        bounds = [round(float(v), 4) for v in b.total_bounds]
    elif frames:
        tb = pd.concat([f.geometry for f in frames.values()]).total_bounds
        bounds = [round(float(v), 4) for v in tb] if np.isfinite(tb).all() else None
    outline = any(c["id"] == "boundary" for c in configs)

    srcs = {s: cat.sources[s] for c in configs for s in c.pop("source_ids") if s in cat.sources}
    dates = sorted(s.date for s in srcs.values() if s.date)
    source_dates = f"{dates[0]} – {dates[-1]}" if dates else "—"
    bases = _basemap_configs(basemap, offline)
    cfg = {
        "map_id": spec.id,
        "accuracy": {k: list(v) for k, v in ACCURACY_CLASSES.items()},
        "sources": {sid: s.attribution for sid, s in srcs.items()},
        "attribution_html": _sources_html(srcs),
        "groups": groups,
        "layers": configs,
        "basemaps": bases,
        "search": list(spec.search),
        "search_placeholder": "搜索车站、地点 / Search stations, places",
        "bounds": bounds,
        "minimap_url": None if offline else next((b["url"] for b in bases if b.get("url")), None),
        "default_icon": leaflet_icon_data_uris() if offline else None,
        "minimap_outline_layer": "boundary" if outline else None,
        "minimap_style": {"color": cat_style_stroke("boundary", cat), "weight": 1, "fill": False},
    }
    center = [39.2, 117.3] if bounds is None else [(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2]
    m = folium.Map(location=center, zoom_start=8, tiles=None, control_scale=False, zoom_snap=0.25, zoom_delta=0.5)
    m.default_js = list(_LEAFLET_JS)
    m.default_css = list(_LEAFLET_CSS)
    root = m.get_root()
    root.title = f"{spec.title_zh} {spec.title_en} · tjspatial"
    root.header.add_child(Element('<meta name="generator" content="tjspatial"/>'), name="tj_generator")
    schematic = any(c["schematic"] or any(e.get("dash") for e in c["legend"]) for c in configs)
    root.html.add_child(Element(_header_html(spec, date=build_date(gpkg), offline=offline, gcj02=gcj02,
                                             schematic=schematic, missing=missing, notes=list(notes or []),
                                             source_dates=source_dates)), name="tj_header")
    if panel_html:
        root.html.add_child(Element(f'<div class="tj-panel" id="tj-panel">{panel_html}</div>'), name="tj_panel")
    # data is data: the configuration and each layer's features go into their own JSON script blocks, written by
    # a JSON encoder and escaped in one pass; the runtime parses them. Nothing is substituted into a template.
    for i, c in enumerate(configs):
        c["data_id"] = f"tj-data-{i}"
    public = {**cfg, "layers": [{k: v for k, v in c.items() if k != "data"} for c in configs]}
    blocks = [_json_block("tj-config", json.dumps(public, ensure_ascii=False, separators=(",", ":")))]
    blocks += [_json_block(c["data_id"], c["data"]) for c in configs]
    root.html.add_child(Element("\n".join(blocks)), name="tj_data")
    m.add_child(_TjRuntime(), name="tj_runtime")
    return WebMap(spec=spec, map=m, config=cfg, warnings=messages, offline=offline)


def cat_style_stroke(layer_id: str, catalog: Catalog) -> str:
    """The stroke colour of a layer's style (used for the minimap outline)."""
    style_id = catalog[layer_id].style if layer_id in catalog else layer_id
    return load_style(style_id).stroke


def render_map(spec: str | MapSpec, gpkg: str | Path | None = None, **kwargs) -> str:
    """The HTML page of one map (see :func:`make_map` for the parameters)."""
    return make_map(spec, gpkg, **kwargs).render()


def write_map(spec: str | MapSpec, out_dir: str | Path, gpkg: str | Path | None = None, *,
              filename: str | None = None, **kwargs) -> Path:
    """Write one map to ``out_dir/<id>.html`` atomically and return the path (see :func:`make_map`)."""
    wm = make_map(spec, gpkg, **kwargs)
    name = filename or wm.spec.filename
    return write_text_atomic(Path(out_dir) / name, wm.render())
