"""A QGIS project (``.qgz``) over an exported GeoPackage, and QGIS layer metadata, written as plain XML.

No QGIS is needed: the project XML (``.qgs``) is generated here and zipped. It holds

- the layer tree in drawing order, and **no custom layer order**, so the layers panel controls what is drawn
  on top: three groups, points over lines over polygons (``点 / Points``, ``线 / Lines``, ``面 / Polygons``),
  and within each the style's ``z`` (higher on top). A layer the user adds or drags draws where it sits;
- short layer names (``title_zh``, with "（示意）" for schematic layers); the full zh / en title is the
  metadata title;
- every layer's style (:mod:`tjspatial.publish.qml`: rule-based, legend = what is drawn) and field aliases,
  and its metadata (title; abstract in Chinese and English = description + limitations + accuracy; every
  licence whole and once; attribution as rights; contact; creation and publication dates; extent; keywords
  for accuracy and theme); schematic layers say "示意 / schematic" in their name, title and abstract;
- map themes, bookmarks and one A3 print layout per thematic map (:mod:`tjspatial.publish.qgis_layouts`);
- the project CRS EPSG:4548 (CGCS2000 / 3° Gauss-Krüger CM 117E) and a start view on the layers' extent.

Layer sources are relative (``./tianjin.gpkg|layername=<id>``), so the project and the GeoPackage can be
moved together.
"""

from __future__ import annotations

import warnings
import zipfile
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

from pyproj import CRS

from ..catalog import ACCURACY_CLASSES, THEMES, Catalog, Layer, get_catalog
from ..crs import METRIC_CRS, STORAGE_CRS, transformer
from .qgis_layouts import bookmarks_element, layouts_element, print_maps, visibility_presets_element, Bookmark
from .qml import GEOMETRY_QGIS, aliases_element, layer_style, style_elements
from ..atomic import atomic_path
from ..errors import InputError

__all__ = [
    "display_title",
    "short_name",
    "layer_abstract",
    "layer_licences",
    "metadata_element",
    "metadata_qmd",
    "draw_order",
    "tree_groups",
    "project_xml",
    "write_qgz",
    "SCHEMATIC_NOTE",
    "PROJECT_TITLE",
    "CONTACT",
    "GEOMETRY_GROUPS",
]

CONTACT = {
    "name": "tjspatial maintainers",
    "organization": "tjspatial (Tianjin 14th Five-Year Plan spatial toolkit)",
    "role": "distributor",
    "email": "",
}
"""Contact written into every layer's metadata (the people who publish this export)."""
GEOMETRY_GROUPS = {"Point": "点 / Points", "LineString": "线 / Lines", "Polygon": "面 / Polygons"}
"""Layer tree groups, top to bottom: points draw over lines over polygons."""

SCHEMATIC_NOTE = (
    "示意图层：位置与范围为近似示意，不是测绘或官方数据。"
    " / Schematic layer: positions and extents are approximate, not surveyed or official data."
)
PROJECT_TITLE = "天津市“十四五”规划空间结构 / Tianjin 14th Five-Year Plan spatial structure (tjspatial)"
_QGIS_VERSION = "3.22.0-Białowieża"
_GEOM_RANK = {"Point": 0, "LineString": 1, "Polygon": 2}


def display_title(layer: Layer) -> str:
    """``"<title_zh> / <title_en>"``; for schematic layers each title says 示意 / schematic (added if absent).

    Parameters
    ----------
    layer : Layer
        The catalog layer.

    Returns
    -------
    str
        The bilingual title.
    """
    zh, en = layer.title_zh, layer.title_en
    if layer.is_schematic:
        zh = zh if "示意" in zh else f"{zh}（示意）"
        en = en if "schematic" in en.lower() else f"{en} (schematic)"
    return f"{zh} / {en}"


def short_name(layer: Layer) -> str:
    """Short layer name for the layers panel and legends: ``title_zh``, with "（示意）" for schematic layers.

    Parameters
    ----------
    layer : Layer
        The catalog layer.

    Returns
    -------
    str
        The Chinese title (with "（示意）" when schematic).
    """
    zh = layer.title_zh
    return zh if (not layer.is_schematic or "示意" in zh) else f"{zh}（示意）"


def layer_abstract(layer: Layer) -> str:
    """The metadata abstract: a Chinese summary, then the description, limitations and accuracy (English).

    Parameters
    ----------
    layer : Layer
        The catalog layer.

    Returns
    -------
    str
        The abstract text.
    """
    zh, en = ACCURACY_CLASSES[layer.accuracy]
    summary = (
        f"【中文】{layer.title_zh}。精度：{zh}；每个要素的精度见其 accuracy 字段，示意要素以半透明衬边绘制，"
        f"虚线仅表示在建或规划。" + ("位置与范围为近似示意，不是测绘或官方数据。" if layer.is_schematic else "")
    )
    parts = [summary, f"[English] {layer.title_en}. {layer.description.strip()}"]
    if layer.limitations:
        parts.append(f"局限 / Limitations: {layer.limitations.strip()}")
    parts.append(
        f"精度 / Accuracy: {layer.accuracy_label}. Each feature's own class is in its 'accuracy' field "
        f"(schematic features are drawn with a translucent casing; dashes mean under construction or "
        f"planned)."
    )
    if layer.is_schematic:
        parts.insert(0, SCHEMATIC_NOTE)
    return "\n\n".join(parts)


def layer_licences(layer: Layer, catalog: Catalog) -> list[str]:
    """Every licence of the layer's sources, each whole (never split at "; "), once, in source order.

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    catalog : Catalog
        The catalog holding its sources.

    Returns
    -------
    list of str
        The licences, deduplicated.
    """
    return list(dict.fromkeys(s.licence for s in catalog.layer_sources(layer.id)))


def layer_attributions(layer: Layer, catalog: Catalog) -> list[str]:
    """Every attribution of the layer's sources, each whole, once, in source order."""
    return list(dict.fromkeys(s.attribution for s in catalog.layer_sources(layer.id)))


@lru_cache(maxsize=8)
def _srs_values(crs_like: str) -> tuple[tuple[str, str], ...]:
    crs = CRS.from_user_input(crs_like)
    auth = crs.to_authority() or ("", "")
    with warnings.catch_warnings():  # "you will likely lose important projection information" (PROJ string)
        warnings.simplefilter("ignore", UserWarning)
        proj4 = crs.to_proj4()
    return (
        ("wkt", crs.to_wkt()),
        ("proj4", proj4),
        ("srid", auth[1]),
        ("authid", f"{auth[0]}:{auth[1]}"),
        ("description", crs.name),
        ("projectionacronym", "longlat" if crs.is_geographic else "tmerc"),
        ("ellipsoidacronym", ""),
        ("geographicflag", "true" if crs.is_geographic else "false"),
    )


def _spatialrefsys(crs_like: str) -> ET.Element:
    el = ET.Element("spatialrefsys")
    for tag, text in _srs_values(crs_like):
        ET.SubElement(el, tag).text = text
    return el


def _metadata_children(
    parent: ET.Element,
    layer: Layer,
    catalog: Catalog,
    provenance: Mapping[str, str] | None,
    bounds: Sequence[float] | None = None,
) -> ET.Element:
    ET.SubElement(parent, "identifier").text = layer.id
    ET.SubElement(parent, "parentidentifier").text = "tjspatial"
    ET.SubElement(parent, "language").text = "zho; eng"
    ET.SubElement(parent, "type").text = "dataset"
    ET.SubElement(parent, "title").text = display_title(layer)
    ET.SubElement(parent, "abstract").text = layer_abstract(layer)
    kw = ET.SubElement(parent, "keywords", vocabulary="tjspatial:accuracy")
    ET.SubElement(kw, "keyword").text = layer.accuracy
    ET.SubElement(kw, "keyword").text = ACCURACY_CLASSES[layer.accuracy][0]
    kw = ET.SubElement(parent, "keywords", vocabulary="tjspatial:theme")
    ET.SubElement(kw, "keyword").text = " / ".join(THEMES[layer.theme])
    contact = ET.SubElement(parent, "contact")
    for key in ("name", "organization", "position", "voice", "fax", "email", "role"):
        ET.SubElement(contact, key).text = CONTACT.get(key, "")
    ET.SubElement(parent, "links")
    dates = ET.SubElement(parent, "dates")
    built = (provenance or {}).get("build_time", "")
    if built:
        ET.SubElement(dates, "date", type="Created", value=str(built))
    ET.SubElement(dates, "date", type="Published", value=_now_iso())
    if provenance:
        ET.SubElement(parent, "history").text = (
            f"Built {provenance.get('build_time', '')} from {provenance.get('built_from', '')} "
            f"(sources: {provenance.get('sources', '')}); {provenance.get('feature_count', '')} features."
        )
        if provenance.get("warnings"):
            ET.SubElement(parent, "history").text = f"Build warnings: {provenance['warnings']}"
    ET.SubElement(parent, "fees")
    ET.SubElement(parent, "constraints", type="accuracy").text = (
        SCHEMATIC_NOTE if layer.is_schematic else f"Accuracy class: {layer.accuracy_label}"
    )
    for attribution in layer_attributions(layer, catalog):
        ET.SubElement(parent, "rights").text = attribution
    for licence in layer_licences(layer, catalog):
        ET.SubElement(parent, "license").text = licence
    ET.SubElement(parent, "encoding").text = "UTF-8"
    crs = ET.SubElement(parent, "crs")
    crs.append(_spatialrefsys(STORAGE_CRS))
    extent = ET.SubElement(parent, "extent")
    if bounds is not None and all(v == v for v in bounds):
        spatial = ET.SubElement(
            extent,
            "spatial",
            attrib={
                "minx": repr(float(bounds[0])),
                "miny": repr(float(bounds[1])),
                "maxx": repr(float(bounds[2])),
                "maxy": repr(float(bounds[3])),
                "minz": "0",
                "maxz": "0",
                "dimensions": "2",
            },
        )
        spatial.append(_spatialrefsys(STORAGE_CRS))
    return parent


def _now_iso() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def metadata_element(
    layer: Layer,
    catalog: Catalog | None = None,
    provenance: Mapping[str, str] | None = None,
    bounds: Sequence[float] | None = None,
) -> ET.Element:
    """The QGIS ``<resourceMetadata>`` of a layer (for a project's ``<maplayer>``).

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    catalog : Catalog, optional
        The catalog (for licences and attributions); default ``tj.get_catalog()``.
    provenance : mapping of str to str, optional
        The layer's row of the GeoPackage ``provenance`` table (build time, source, warnings).
    bounds : sequence of float, optional
        The layer's extent (xmin, ymin, xmax, ymax) in EPSG:4326 degrees.

    Returns
    -------
    xml.etree.ElementTree.Element
        ``<resourceMetadata>``.
    """
    return _metadata_children(ET.Element("resourceMetadata"), layer, catalog or get_catalog(), provenance, bounds)


def metadata_qmd(
    layer: Layer,
    catalog: Catalog | None = None,
    provenance: Mapping[str, str] | None = None,
    bounds: Sequence[float] | None = None,
) -> str:
    """A QGIS layer metadata document (``.qmd`` text; also what QGIS keeps in a GeoPackage's ``gpkg_metadata``).

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    catalog : Catalog, optional
        The catalog (for licences and attributions); default ``tj.get_catalog()``.
    provenance : mapping of str to str, optional
        The layer's row of the GeoPackage ``provenance`` table (build time, source, warnings).
    bounds : sequence of float, optional
        The layer's extent (xmin, ymin, xmax, ymax) in EPSG:4326 degrees.

    Returns
    -------
    str
        The ``.qmd`` XML text.
    """
    root = _metadata_children(
        ET.Element("qgis", version=_QGIS_VERSION), layer, catalog or get_catalog(), provenance, bounds
    )
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"


def draw_order(layers: Sequence[Layer]) -> list[Layer]:
    """Layers from top to bottom: points over lines over polygons; within each, higher style ``z`` on top.

    Parameters
    ----------
    layers : sequence of Layer
        Catalog layers.

    Returns
    -------
    list of Layer
        Top to bottom.
    """
    return sorted(layers, key=lambda lay: (_GEOM_RANK[lay.geometry_type], -layer_style(lay).z))


def _layer_ref(layer: Layer) -> str:
    return f"{layer.id}_tjspatial"


def _extent(parent: ET.Element, tag: str, bounds: Sequence[float]) -> None:
    ext = ET.SubElement(parent, tag)
    for name, v in zip(("xmin", "ymin", "xmax", "ymax"), bounds):
        ET.SubElement(ext, name).text = repr(float(v))


def _to_crs_bounds(b: Sequence[float], src: str, dst: str) -> tuple[float, float, float, float]:
    if src == dst:
        return tuple(float(v) for v in b)  # type: ignore[return-value]
    t = transformer(src, dst)
    xs, ys = t.transform([b[0], b[2], b[0], b[2]], [b[1], b[1], b[3], b[3]])
    return (min(xs), min(ys), max(xs), max(ys))


def _maplayer(
    layer: Layer,
    gpkg_name: str,
    catalog: Catalog,
    bounds: Sequence[float] | None,
    provenance: Mapping[str, str] | None,
    data=None,
    data_crs: str = STORAGE_CRS,
) -> ET.Element:
    style = layer_style(layer)
    ml = ET.Element(
        "maplayer",
        attrib={
            "type": "vector",
            "geometry": GEOMETRY_QGIS[layer.geometry_type][1],
            "labelsEnabled": "1" if style.label_field else "0",
            "styleCategories": "AllStyleCategories",
            "hasScaleBasedVisibilityFlag": "0",
            "minScale": "100000000",
            "maxScale": "0",
            "readOnly": "0",
            "simplifyDrawingHints": "1",
            "simplifyDrawingTol": "1",
            "simplifyLocal": "1",
            "simplifyAlgorithm": "0",
            "simplifyMaxScale": "1",
            "autoRefreshEnabled": "0",
            "autoRefreshTime": "0",
            "refreshOnNotifyEnabled": "0",
            "refreshOnNotifyMessage": "",
            "symbologyReferenceScale": "-1",
        },
    )
    wgs = None
    if bounds is not None:
        wgs = _to_crs_bounds(bounds, data_crs, STORAGE_CRS)
        _extent(ml, "extent", bounds)
        _extent(ml, "wgs84extent", wgs)
    ET.SubElement(ml, "id").text = _layer_ref(layer)
    ET.SubElement(ml, "datasource").text = f"./{gpkg_name}|layername={layer.id}"
    kw = ET.SubElement(ml, "keywordList")
    for word in (layer.accuracy, layer.theme, "tjspatial"):
        ET.SubElement(kw, "value").text = word
    ET.SubElement(ml, "layername").text = short_name(layer)
    srs = ET.SubElement(ml, "srs")
    srs.append(_spatialrefsys(data_crs))
    ml.append(metadata_element(layer, catalog, provenance, wgs))
    ET.SubElement(ml, "provider", encoding="UTF-8").text = "ogr"
    ET.SubElement(ml, "vectorjoins")
    ET.SubElement(ml, "layerDependencies")
    ET.SubElement(ml, "dataDependencies")
    ET.SubElement(ml, "expressionfields")
    sm = ET.SubElement(ml, "map-layer-style-manager", current="default")
    ET.SubElement(sm, "map-layer-style", name="default")
    flags = ET.SubElement(ml, "flags")
    for name, value in (("Identifiable", "1"), ("Removable", "1"), ("Searchable", "1"), ("Private", "0")):
        ET.SubElement(flags, name).text = value
    ml.extend(style_elements(layer, style, data=data))
    ml.append(aliases_element(layer))
    ET.SubElement(ml, "blendMode").text = "0"
    ET.SubElement(ml, "featureBlendMode").text = "0"
    ET.SubElement(ml, "layerOpacity").text = "1"
    ET.SubElement(ml, "previewExpression").text = '"name_zh"'
    ET.SubElement(ml, "layerGeometryType").text = str(GEOMETRY_QGIS[layer.geometry_type][2])
    return ml


def _union_bounds(bounds: Mapping[str, Sequence[float]]) -> tuple[float, float, float, float] | None:
    vals = [b for b in bounds.values() if b is not None and all(map(lambda v: v == v, b))]
    if not vals:
        return None
    return (min(b[0] for b in vals), min(b[1] for b in vals), max(b[2] for b in vals), max(b[3] for b in vals))


def tree_groups(layers: Sequence[Layer]) -> list[tuple[str, list[Layer]]]:
    """The layer tree, top to bottom: (group name, layers) for points, lines, polygons, in drawing order.

    Parameters
    ----------
    layers : sequence of Layer
        Catalog layers.

    Returns
    -------
    list of tuple of (str, list of Layer)
        Group name and its layers, top to bottom; empty groups left out.
    """
    ordered = draw_order(layers)
    return [
        (name, [lay for lay in ordered if lay.geometry_type == geom])
        for geom, name in GEOMETRY_GROUPS.items()
        if any(lay.geometry_type == geom for lay in ordered)
    ]


def project_xml(
    layers: Sequence[Layer],
    gpkg_name: str = "tianjin.gpkg",
    *,
    catalog: Catalog | None = None,
    bounds: Mapping[str, Sequence[float]] | None = None,
    provenance: Mapping[str, Mapping[str, str]] | None = None,
    data: Mapping[str, object] | None = None,
    data_crs: str = STORAGE_CRS,
    marks: Sequence[Bookmark] | None = None,
    export_date: str | None = None,
) -> str:
    """The ``.qgs`` XML of a QGIS project showing ``layers`` from the GeoPackage ``gpkg_name`` beside it.

    Parameters
    ----------
    layers : sequence of Layer
        Catalog layers to include (any order; the tree order is computed: points, lines, polygons).
    gpkg_name : str, default "tianjin.gpkg"
        File name of the GeoPackage, relative to the project file.
    catalog : Catalog, optional
        For licences and attributions; default ``tj.get_catalog()``.
    bounds : mapping of str to sequence of float, optional
        Layer id → (xmin, ymin, xmax, ymax) in ``data_crs``; sets layer extents, metadata extents, the
        start view and the print layouts' map extents.
    provenance : mapping of str to mapping, optional
        Layer id → its row of the GeoPackage ``provenance`` table (written to the metadata history).
    data : mapping of str to geopandas.GeoDataFrame, optional
        Layer id → features; when given each legend lists only the classes drawn.
    data_crs : str, default "EPSG:4326"
        CRS of the layers in the GeoPackage.
    marks : sequence of Bookmark, optional
        Spatial bookmarks (:func:`tjspatial.publish.qgis_layouts.bookmarks`).
    export_date : str, optional
        ISO date printed on the layouts (default today).

    Returns
    -------
    str
        The project XML (display CRS EPSG:4548).
    """
    catalog = catalog or get_catalog()
    bounds = dict(bounds or {})
    provenance = dict(provenance or {})
    data = dict(data or {})
    ordered = draw_order(layers)
    root = ET.Element("qgis", attrib={"projectname": PROJECT_TITLE, "version": _QGIS_VERSION})
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = PROJECT_TITLE
    ET.SubElement(root, "autotransaction", active="0")
    ET.SubElement(root, "evaluateDefaultValues", active="0")
    ET.SubElement(root, "trust", active="0")
    ET.SubElement(root, "projectCrs").append(_spatialrefsys(METRIC_CRS))

    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    for name, members in tree_groups(ordered):
        group = ET.SubElement(tree, "layer-tree-group", name=name, checked="Qt::Checked", expanded="1")
        ET.SubElement(group, "customproperties")
        for lay in members:
            node = ET.SubElement(
                group,
                "layer-tree-layer",
                attrib={
                    "id": _layer_ref(lay),
                    "name": short_name(lay),
                    "providerKey": "ogr",
                    "source": f"./{gpkg_name}|layername={lay.id}",
                    "checked": "Qt::Checked",
                    "expanded": "0",
                    "legend_exp": "",
                },
            )
            ET.SubElement(node, "customproperties")
    # no custom order: the panel (tree) order is the drawing order
    order = ET.SubElement(tree, "custom-order", enabled="0")
    for lay in ordered:
        ET.SubElement(order, "item").text = _layer_ref(lay)

    projectlayers = ET.SubElement(root, "projectlayers")
    for lay in ordered:
        projectlayers.append(
            _maplayer(lay, gpkg_name, catalog, bounds.get(lay.id), provenance.get(lay.id), data.get(lay.id), data_crs)
        )
    layerorder = ET.SubElement(root, "layerorder")
    for lay in ordered:
        ET.SubElement(layerorder, "layer", id=_layer_ref(lay))

    props = ET.SubElement(root, "properties")
    paths = ET.SubElement(props, "Paths")
    ET.SubElement(paths, "Absolute", type="bool").text = "false"
    srs = ET.SubElement(props, "SpatialRefSys")
    ET.SubElement(srs, "ProjectionsEnabled", type="int").text = "1"
    measure = ET.SubElement(props, "Measure")
    ET.SubElement(measure, "Ellipsoid", type="QString").text = "EPSG:1024"  # CGCS2000
    units = ET.SubElement(props, "Measurement")
    ET.SubElement(units, "DistanceUnits", type="QString").text = "meters"
    ET.SubElement(units, "AreaUnits", type="QString").text = "km2"

    metric = {
        lid: _to_crs_bounds(b, data_crs, METRIC_CRS)
        for lid, b in bounds.items()
        if b is not None and all(v == v for v in b)
    }
    full = _union_bounds(metric)
    if full is not None:
        canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
        ET.SubElement(canvas, "units").text = "meters"
        _extent(canvas, "extent", full)
        ET.SubElement(canvas, "rotation").text = "0"
        ET.SubElement(canvas, "destinationsrs").append(_spatialrefsys(METRIC_CRS))
        ET.SubElement(canvas, "rendermaptile").text = "0"

    maps = print_maps(catalog, [lay.id for lay in ordered])
    root.append(visibility_presets_element(maps, lambda lid: f"{lid}_tjspatial"))
    root.append(bookmarks_element(list(marks or []), _spatialrefsys))
    root.append(
        layouts_element(
            maps, catalog, metric, project_title=PROJECT_TITLE, schematic_note=SCHEMATIC_NOTE, export_date=export_date
        )
    )

    meta = ET.SubElement(root, "projectMetadata")
    ET.SubElement(meta, "identifier").text = "tjspatial"
    ET.SubElement(meta, "title").text = PROJECT_TITLE
    schematic = [display_title(lay) for lay in ordered if lay.is_schematic]
    abstract = (
        "天津市“十四五”规划空间结构图层，由 tjspatial 导出。每个要素带有 accuracy（精度）与 source（来源）字段。"
        "实线为现状/已开通，虚线为在建或规划；半透明衬边表示示意（位置近似）。\n\n"
        "Layers of the spatial structure of Tianjin's 14th Five-Year Plan, exported by tjspatial. "
        f"Stored in {data_crs}; the project CRS is EPSG:4548 (CGCS2000 / 3-degree Gauss-Kruger CM 117E). "
        "Every feature carries 'accuracy' and 'source'. Solid lines are open, dashes under construction or "
        "planned; a translucent casing marks schematic (approximate) features."
    )
    if schematic:
        abstract += f"\n\n{SCHEMATIC_NOTE}\n示意图层 / schematic layers: " + "; ".join(schematic)
    ET.SubElement(meta, "abstract").text = abstract
    contact = ET.SubElement(meta, "contact")
    for key in ("name", "organization", "position", "voice", "fax", "email", "role"):
        ET.SubElement(contact, key).text = CONTACT.get(key, "")
    ET.SubElement(meta, "links")
    ET.SubElement(meta, "author").text = CONTACT["organization"]
    ET.SubElement(meta, "creation").text = _now_iso()
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"


def write_qgz(path: str | Path, layers: Sequence[Layer], gpkg_name: str = "tianjin.gpkg", **kwargs) -> Path:
    """Write a zipped QGIS project (``.qgz``) for ``layers``, atomically; returns ``path``.

    The project file inside the archive is named after ``path`` (``tianjin.qgz`` → ``tianjin.qgs``).
    Keyword arguments go to :func:`project_xml`. The archive is written to a temporary file in the target
    folder and renamed over ``path`` when complete.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.qgz`` file.
    layers : sequence of Layer
        Catalog layers to include.
    gpkg_name : str, default "tianjin.gpkg"
        File name of the GeoPackage, relative to the project.
    **kwargs
        Passed to :func:`project_xml`.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        ``path`` does not end in ``.qgz``.
    """
    path = Path(path)
    if path.suffix.lower() != ".qgz":
        raise InputError(f"{path}: a QGIS project archive must end in .qgz")
    xml = project_xml(layers, gpkg_name, **kwargs)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{path.stem}.qgs", xml.encode("utf-8"))
    return path
