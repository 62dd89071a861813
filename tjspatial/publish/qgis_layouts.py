"""Print-ready parts of the QGIS project: map themes, bookmarks and one A3 print layout per thematic map.

Written as plain XML (no QGIS needed) into the project by :func:`tjspatial.publish.qgis_project.project_xml`:

- :func:`print_maps` — one entry per thematic web map of ``layers/catalog/90_maps.toml`` that shows layers
  (the same layers, the same hidden ones), plus an overview of every layer. Each becomes a **map theme**
  (``<visibility-presets>``) and a **print layout** of the same name.
- :func:`bookmarks` — spatial bookmarks (project CRS): 津城 and 滨城 (``dual_city``), each wetland
  (``wetlands``) and the port (all ``port_districts``).
- :func:`layouts_element` — A3 landscape layouts (420 × 297 mm): the map (following its theme), legend
  (following the map's theme), scale bar (km), north arrow, title, a note with the sources and attributions
  of every layer on the map, the "示意 / schematic" note where a schematic layer is shown, and the date.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from typing import Callable, Mapping, Sequence

import geopandas as gpd

from ..catalog import Catalog, get_catalog
from .map_specs import load_map_specs, map_layer_ids
from .qml import LABEL_FONT

__all__ = [
    "PrintMap",
    "Bookmark",
    "print_maps",
    "bookmarks",
    "visibility_presets_element",
    "bookmarks_element",
    "layouts_element",
    "A3_LANDSCAPE_MM",
    "OVERVIEW_ID",
]

A3_LANDSCAPE_MM = (420.0, 297.0)
OVERVIEW_ID = "overview"
_MAP_BOX = (10.0, 24.0, 290.0, 232.0)  # x, y, width, height (mm)
_ITEM = {"page": 65638, "map": 65639, "picture": 65640, "label": 65641, "legend": 65642, "scalebar": 65646}
_NORTH_ARROW_SVG = ":/images/north_arrows/layout_default_north_arrow.svg"


@dataclass(frozen=True)
class PrintMap:
    """A thematic map for print: id, zh/en title, its layers (catalog order) and those switched off."""

    id: str
    title_zh: str
    title_en: str
    layer_ids: tuple[str, ...]
    hidden: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Name of the map theme and of the print layout."""
        return f"{self.title_zh} / {self.title_en}"

    @property
    def visible(self) -> tuple[str, ...]:
        return tuple(lid for lid in self.layer_ids if lid not in self.hidden)


@dataclass(frozen=True)
class Bookmark:
    """A spatial bookmark: name, group and extent (xmin, ymin, xmax, ymax) in ``crs``."""

    name: str
    group: str
    extent: tuple[float, float, float, float]
    crs: str


def print_maps(catalog: Catalog, layer_ids: Sequence[str] | None = None) -> list[PrintMap]:
    """The thematic maps to print: every web map with layers, then an overview of all layers.

    Parameters
    ----------
    catalog : Catalog
        The catalog (its ``[[map]]`` tables).
    layer_ids : sequence of str, optional
        Layers present in the project (default all); maps keep only these and maps left without a layer are
        dropped.

    Returns
    -------
    list of PrintMap
        In the order of the web maps, the overview last.
    """
    present = list(layer_ids) if layer_ids is not None else catalog.ids
    out = []
    for spec in load_map_specs():
        ids, _missing = map_layer_ids(spec, catalog)
        ids = [i for i in ids if i in present]
        if not ids:
            continue
        out.append(
            PrintMap(spec.id, spec.title_zh, spec.title_en, tuple(ids), tuple(h for h in spec.hidden if h in ids))
        )
    out.append(PrintMap(OVERVIEW_ID, "总览", "Overview", tuple(i for i in catalog.ids if i in present)))
    return out


def _grow(b: Sequence[float], share: float = 0.08, minimum: float = 2000.0) -> tuple[float, float, float, float]:
    w, h = b[2] - b[0], b[3] - b[1]
    dx, dy = max(w * share, minimum / 2), max(h * share, minimum / 2)
    return (float(b[0] - dx), float(b[1] - dy), float(b[2] + dx), float(b[3] + dy))


def bookmarks(data: Mapping[str, gpd.GeoDataFrame], crs: str, catalog: Catalog | None = None) -> list[Bookmark]:
    """Bookmarks in ``crs`` (the project CRS, metres) of the catalog layers with the role ``qgis_bookmark``.

    A layer's ``bookmark = { group, per, name }`` says how: ``per = "feature"`` gives one bookmark per feature,
    named by its ``name_zh`` (津城, 滨城, each wetland); ``per = "layer"`` one for the whole layer, named
    ``name`` (the port). Each extent is the bounding box grown by 8 % (at least 1 km) on every side.

    Parameters
    ----------
    data : mapping of str to geopandas.GeoDataFrame
        Layers by id (any CRS); a bookmarked layer missing from it, or empty, gives no bookmark.
    crs : str
        The project CRS, e.g. ``"EPSG:4548"`` (metres).
    catalog : Catalog, optional
        The layer catalog; default :func:`tjspatial.catalog.get_catalog`.

    Returns
    -------
    list of Bookmark
        In catalog order of the layers, then feature order.
    """
    out: list[Bookmark] = []
    for layer in (catalog or get_catalog()).with_role("qgis_bookmark"):
        gdf = data.get(layer.id)
        if gdf is None or not len(gdf):
            continue
        spec = layer.extra.get("bookmark") or {}
        group = str(spec.get("group", layer.title_zh))
        gdf = gdf.to_crs(crs)
        if spec.get("per", "feature") == "layer":
            out.append(Bookmark(str(spec.get("name", layer.title_zh)), group, _grow(gdf.total_bounds), crs))
            continue
        for _, row in gdf.iterrows():
            if row.geometry is not None and not row.geometry.is_empty:
                out.append(Bookmark(str(row["name_zh"]), group, _grow(row.geometry.bounds), crs))
    return out


def visibility_presets_element(maps: Sequence[PrintMap], layer_ref: Callable[[str], str]) -> ET.Element:
    """``<visibility-presets>``: one map theme per print map; layers not listed are off in the theme.

    Parameters
    ----------
    maps : sequence of PrintMap
        The print maps.
    layer_ref : callable
        Layer id → the project's layer reference (``id`` attribute of its ``<maplayer>``).

    Returns
    -------
    xml.etree.ElementTree.Element
        ``<visibility-presets>``.
    """
    root = ET.Element("visibility-presets")
    for pm in maps:
        preset = ET.SubElement(
            root, "visibility-preset", attrib={"name": pm.name, "has-expanded-info": "1", "has-checked-group-info": "1"}
        )
        for lid in pm.visible:
            ET.SubElement(
                preset, "layer", attrib={"id": layer_ref(lid), "visible": "1", "style": "default", "expanded": "1"}
            )
        ET.SubElement(preset, "expanded-legend-nodes")
        ET.SubElement(preset, "checked-group-nodes")
        ET.SubElement(preset, "expanded-group-nodes")
    return root


def bookmarks_element(marks: Sequence[Bookmark], srs: Callable[[str], ET.Element]) -> ET.Element:
    """``<Bookmarks>`` of the project (QGIS bookmark manager).

    Parameters
    ----------
    marks : sequence of Bookmark
        The bookmarks.
    srs : callable
        CRS text → its ``<spatialrefsys>`` element.

    Returns
    -------
    xml.etree.ElementTree.Element
        ``<Bookmarks>``.
    """
    root = ET.Element("Bookmarks")
    for i, bm in enumerate(marks):
        x0, y0, x1, y1 = bm.extent
        wkt = f"POLYGON(({x0!r} {y0!r}, {x1!r} {y0!r}, {x1!r} {y1!r}, {x0!r} {y1!r}, {x0!r} {y0!r}))"
        el = ET.SubElement(
            root,
            "Bookmark",
            attrib={"id": f"tjspatial_bookmark_{i}", "name": bm.name, "group": bm.group, "extent": wkt},
        )
        el.append(srs(bm.crs))
    return root


def _uuid(*parts: str) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "tjspatial:" + ":".join(parts))) + "}"


def _item(
    parent: ET.Element, kind: str, uid: str, x: float, y: float, w: float, h: float, z: int, **attrs: str
) -> ET.Element:
    el = ET.SubElement(
        parent,
        "LayoutItem",
        attrib={
            "type": str(_ITEM[kind]),
            "uuid": uid,
            "templateUuid": uid,
            "id": attrs.pop("item_id", ""),
            "position": f"{x:g},{y:g},mm",
            "positionOnPage": f"{x:g},{y:g},mm",
            "size": f"{w:g},{h:g},mm",
            "referencePoint": "0",
            "zValue": str(z),
            "visibility": "1",
            "positionLock": "false",
            "opacity": "1",
            "frame": attrs.pop("frame", "false"),
            "background": attrs.pop("background", "false"),
            "outlineWidthM": "0.3,mm",
            "frameJoinStyle": "miter",
            "blendMode": "0",
            "excludeFromExports": "0",
            "itemRotation": "0",
            "groupUuid": "",
            **attrs,
        },
    )
    ET.SubElement(el, "FrameColor", red="0", green="0", blue="0", alpha="255")
    ET.SubElement(el, "BackgroundColor", red="255", green="255", blue="255", alpha="255")
    obj = ET.SubElement(el, "LayoutObject")
    ET.SubElement(obj, "dataDefinedProperties")
    ET.SubElement(obj, "customproperties")
    return el


def _font(size: float, bold: bool = False) -> str:
    """A QFont description string for the label font."""
    return f"{LABEL_FONT},{size:g},-1,5,{75 if bold else 50},0,0,0,0,0"


def _label(
    parent: ET.Element, uid: str, text: str, x, y, w, h, z, size: float, bold: bool = False, item_id: str = ""
) -> None:
    el = _item(
        parent,
        "label",
        uid,
        x,
        y,
        w,
        h,
        z,
        item_id=item_id,
        labelText=text,
        htmlState="0",
        halign="1",
        valign="32",
        marginX="1",
        marginY="1",
    )
    ET.SubElement(el, "LabelFont", description=_font(size, bold), style="")
    ET.SubElement(el, "FontColor", red="0", green="0", blue="0", alpha="255")


def _fit_extent(b: Sequence[float], w_mm: float, h_mm: float) -> tuple[float, float, float, float]:
    """Grow ``b`` (metres) by 5 % and to the aspect of a ``w_mm`` × ``h_mm`` frame."""
    x0, y0, x1, y1 = b
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = max(x1 - x0, 1.0) * 1.05, max(y1 - y0, 1.0) * 1.05
    if w / h < w_mm / h_mm:
        w = h * w_mm / h_mm
    else:
        h = w * h_mm / w_mm
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _notes(pm: PrintMap, catalog: Catalog, export_date: str, schematic_note: str) -> str:
    sources: dict[str, None] = {}
    for lid in pm.layer_ids:
        for s in catalog.layer_sources(lid):
            sources.setdefault(f"{s.title} ({s.attribution})" if s.attribution else s.title)
    lines = ["数据来源与署名 / Sources and attribution: " + "; ".join(sources)]
    schematic = [catalog[lid].title_zh for lid in pm.layer_ids if catalog[lid].is_schematic]
    if schematic:
        lines.append(schematic_note)
        lines.append("示意图层 / schematic layers: " + "、".join(schematic))
    lines.append(
        "实线 = 现状/已开通，长虚线 = 在建，短虚线 = 规划；半透明衬边 = 示意（位置近似）。"
        " / Solid = open, long dashes = under construction, short dashes = planned; "
        "translucent casing = schematic (approximate position)."
    )
    lines.append(
        f"坐标系 / CRS: EPSG:4548 (CGCS2000 / 3° Gauss-Krüger CM 117E)。导出日期 / Exported: {export_date}; "
        "打印日期 / Printed: [% format_date(now(), 'yyyy-MM-dd') %]。tjspatial"
    )
    return "\n".join(lines)


def layouts_element(
    maps: Sequence[PrintMap],
    catalog: Catalog,
    extents: Mapping[str, Sequence[float]],
    *,
    project_title: str,
    schematic_note: str,
    export_date: str | None = None,
) -> ET.Element:
    """``<Layouts>``: one A3 landscape print layout per :class:`PrintMap`.

    Parameters
    ----------
    maps : sequence of PrintMap
        The print maps (their ``name`` is the layout's and the map theme's name).
    catalog : Catalog
        For titles, sources and attributions.
    extents : mapping of str to sequence of float
        Layer id → (xmin, ymin, xmax, ymax) in the project CRS (metres); a map's extent is the union of its
        visible layers' extents.
    project_title : str
        Shown under each layout's title.
    schematic_note : str
        The "示意 / schematic" sentence printed when a schematic layer is on the map.
    export_date : str, optional
        ISO date printed on the layouts; default today.

    Returns
    -------
    xml.etree.ElementTree.Element
        ``<Layouts>``.
    """
    export_date = export_date or date.today().isoformat()
    root = ET.Element("Layouts")
    pw, ph = A3_LANDSCAPE_MM
    mx, my, mw, mh = _MAP_BOX
    for pm in maps:
        lay = ET.SubElement(
            root, "Layout", attrib={"name": pm.name, "units": "mm", "worldFileMap": "", "printResolution": "300"}
        )
        ET.SubElement(lay, "Snapper", snapToGrid="0", snapToGuides="1", tolerance="5", snapToItems="1")
        ET.SubElement(lay, "Grid", offsetUnits="mm", offsetX="0", resolution="10", offsetY="0", resUnits="mm")
        pages = ET.SubElement(lay, "PageCollection")
        _item(pages, "page", _uuid(pm.id, "page"), 0, 0, pw, ph, 0, background="true")
        ET.SubElement(pages, "GuideCollection", visible="1")
        boxes = [extents[lid] for lid in pm.visible if lid in extents] or [
            extents[lid] for lid in pm.layer_ids if lid in extents
        ]
        if boxes:
            ext = _fit_extent(
                (
                    min(b[0] for b in boxes),
                    min(b[1] for b in boxes),
                    max(b[2] for b in boxes),
                    max(b[3] for b in boxes),
                ),
                mw,
                mh,
            )
        else:
            ext = (0.0, 0.0, 1.0, 1.0)
        map_uuid = _uuid(pm.id, "map")
        m = _item(
            lay,
            "map",
            map_uuid,
            mx,
            my,
            mw,
            mh,
            1,
            item_id="map",
            frame="true",
            background="true",
            followPreset="true",
            followPresetName=pm.name,
            keepLayerSet="false",
            drawCanvasItems="true",
            mapRotation="0",
            mapFlags="0",
            labelMargin="0,mm",
            isTemporal="0",
        )
        ET.SubElement(m, "Extent", xmin=repr(ext[0]), ymin=repr(ext[1]), xmax=repr(ext[2]), ymax=repr(ext[3]))
        ET.SubElement(m, "LayerSet")
        ET.SubElement(m, "AtlasMap", margin="0.1", scalingMode="2", atlasDriven="0")
        ET.SubElement(m, "labelBlockingItems")
        _label(lay, _uuid(pm.id, "title"), pm.name, 10, 6, 400, 11, 2, 20, bold=True, item_id="title")
        _label(lay, _uuid(pm.id, "subtitle"), project_title, 10, 16.5, 400, 7, 2, 10, item_id="subtitle")
        leg = _item(
            lay,
            "legend",
            _uuid(pm.id, "legend"),
            305,
            24,
            105,
            266,
            3,
            item_id="legend",
            frame="true",
            background="true",
            map_uuid=map_uuid,
            title="图例 / Legend",
            resizeToContents="0",
            legendFilterByMap="1",
            columnCount="1",
            splitLayer="1",
            equalColumnWidth="0",
            wrapChar="",
            symbolWidth="7",
            symbolHeight="4",
            titleAlignment="1",
            symbolAlignment="1",
            lineSpacing="1",
            boxSpace="2",
            columnSpace="2",
            legendFilterByAtlas="0",
            fontColor="#000000",
            rasterBorder="1",
            rasterBorderColor="0,0,0,255",
            rasterBorderWidth="0",
            wmsLegendWidth="50",
            wmsLegendHeight="25",
            minSymbolSize="0",
            maxSymbolSize="0",
        )
        styles = ET.SubElement(leg, "styles")
        for name, size, margin in (
            ("title", 12, ("marginBottom", "3")),
            ("group", 9, ("marginTop", "2")),
            ("subgroup", 8, ("marginTop", "2")),
            ("symbol", 7, ("marginTop", "1.5")),
            ("symbolLabel", 7, ("marginTop", "1.5")),
        ):
            st = ET.SubElement(
                styles, "style", attrib={"name": name, "alignment": "1", "indent": "0", margin[0]: margin[1]}
            )
            ET.SubElement(st, "styleFont", description=_font(size, name in ("title", "group")), style="")
        km_per_mm = (ext[2] - ext[0]) / 1000.0 / mw
        seg_km = next((v for v in (0.5, 1, 2, 5, 10, 20, 25, 50, 100) if v >= 15 * km_per_mm), 100)
        sb = _item(
            lay,
            "scalebar",
            _uuid(pm.id, "scalebar"),
            12,
            my + mh - 14,
            90,
            12,
            5,
            item_id="scalebar",
            background="true",
            mapUuid=map_uuid,
            style="Single Box",
            unitType="km",
            unitLabel="km",
            numMapUnitsPerScaleBarUnit="1",
            numSegments="4",
            numSegmentsLeft="0",
            numSubdivisions="1",
            subdivisionsHeight="1.5",
            segmentSizeMode="0",
            minBarWidth="50",
            maxBarWidth="150",
            numUnitsPerSegment=f"{seg_km:g}",
            segmentMillimeters="0",
            height="2.5",
            labelBarSpace="2",
            boxContentSpace="1",
            alignment="0",
            labelVerticalPlacement="0",
            labelHorizontalPlacement="0",
            lineJoinStyle="miter",
            lineCapStyle="square",
            outlineWidth="0.3",
        )
        ts = ET.SubElement(
            sb,
            "text-style",
            attrib={
                "fontFamily": LABEL_FONT,
                "fontSize": "8",
                "fontSizeUnit": "Point",
                "textColor": "0,0,0,255",
                "textOpacity": "1",
                "namedStyle": "Regular",
            },
        )
        ET.SubElement(ts, "families")
        _item(
            lay,
            "picture",
            _uuid(pm.id, "north"),
            mx + mw - 18,
            my + 4,
            14,
            20,
            6,
            item_id="north_arrow",
            file=_NORTH_ARROW_SVG,
            mode="2",
            resizeMode="0",
            pictureRotation="0",
            northMode="0",
            northOffset="0",
            anchorPoint="0",
            svgFillColor="0,0,0,255",
            svgBorderColor="0,0,0,255",
            svgBorderWidth="0.2",
            pictureWidth="14",
            pictureHeight="20",
            mapUuid=map_uuid,
        )
        _label(
            lay,
            _uuid(pm.id, "notes"),
            _notes(pm, catalog, export_date, schematic_note),
            mx,
            my + mh + 1.5,
            mw,
            pw - (my + mh + 1.5) - 4,
            4,
            5.5,
            item_id="sources",
        )
        ET.SubElement(lay, "customproperties")
        ET.SubElement(
            lay,
            "Atlas",
            coverageLayer="",
            enabled="0",
            hideCoverage="0",
            filterFeatures="0",
            sortFeatures="0",
            pageNameExpression="",
            filenamePattern="'output_'||@atlas_featurenumber",
        )
    return root
