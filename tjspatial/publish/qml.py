"""QGIS styles (QML) translated from the shared style files in ``styles/``.

:func:`style_qml` turns a catalog layer's :class:`~tjspatial.styles.Style` into a QGIS 3 layer style
document; :func:`style_elements` gives the same renderer and labelling as XML elements, for embedding in a
project (``.qgs``). Nothing here picks a colour: every colour, width, dash, marker and label field comes from
the style file, so the web maps and QGIS show the same thing.

Translation
-----------
- ``categories`` → a categorised renderer on the category field, one class per value (labels from the style)
  plus a last "其他 / other values" class in the base colours, so that an unlisted value is still drawn.
- ``color_field`` → a single symbol whose colour is data-defined from that attribute (``#rrggbb`` text),
  falling back to the style colour where the value is empty.
- ``dash`` → a custom dash pattern. Schematic layers are dashed ("6 4" px) even when the style sets no dash
  (:meth:`Style.with_schematic`); in other layers, features whose own ``accuracy`` is ``schematic`` are
  drawn with a dashed stroke through a data-defined stroke style, so approximations never look surveyed.
- ``label_field`` → simple labels in Noto Sans CJK SC, in the stroke colour, with a halo in the fill colour.
- Widths, marker radii and dashes are screen pixels in the style files; QGIS gets millimetres at 96 dpi.

Polygon outlines are a separate line symbol layer (a simple fill cannot draw a custom dash).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Mapping

from ..catalog import Layer
from ..styles import Style, load_style

__all__ = ["style_qml", "style_elements", "layer_style", "qgis_color", "px_to_mm", "LABEL_FONT",
           "GEOMETRY_QGIS", "OTHER_LABEL"]

MM_PER_PX = 25.4 / 96
"""Millimetres per screen pixel at 96 dpi (the unit of widths in ``styles/*.json``)."""

LABEL_FONT = "Noto Sans CJK SC"
"""Label font: covers Chinese and Latin text (Debian package fonts-noto-cjk)."""

OTHER_LABEL = "其他 / other values"
"""Legend label of the catch-all class that categorised renderers end with."""

GEOMETRY_QGIS: dict[str, tuple[str, str, int]] = {
    "Point": ("marker", "Point", 0),
    "LineString": ("line", "Line", 1),
    "Polygon": ("fill", "Polygon", 2),
}
"""Catalog geometry type → (QGIS symbol type, maplayer ``geometry`` attribute, ``layerGeometryType``)."""

_QGIS_VERSION = "3.22.0-Białowieża"
_STYLE_CATEGORIES = "Symbology|Labeling"


def px_to_mm(px: float) -> float:
    """Screen pixels (96 dpi) to millimetres, rounded to 4 decimals."""
    return round(float(px) * MM_PER_PX, 4)


def qgis_color(hex_color: str | None, opacity: float = 1.0) -> str:
    """``#rrggbb`` and an opacity (0–1) as QGIS's ``"r,g,b,a"``; fully transparent for ``None``."""
    if not hex_color:
        return "0,0,0,0"
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(255 * float(opacity))}"


def layer_style(layer: Layer, directory=None) -> Style:
    """The style of ``layer`` from ``styles/``, dashed when the layer is schematic."""
    return load_style(layer.style, directory).with_schematic(layer.is_schematic)


def _dash_mm(dash: str) -> str:
    return ";".join(f"{px_to_mm(float(v)):g}" for v in dash.replace(",", " ").split())


def _props(parent: ET.Element, props: Mapping[str, object]) -> None:
    for k, v in props.items():
        ET.SubElement(parent, "prop", k=k, v=str(v))


def _data_defined(parent: ET.Element, props: Mapping[str, tuple[str, str]]) -> None:
    """``<data_defined_properties>`` with ``name → ("field"|"expression", value)``."""
    dd = ET.SubElement(parent, "data_defined_properties")
    top = ET.SubElement(dd, "Option", type="Map")
    ET.SubElement(top, "Option", type="QString", name="name", value="")
    if props:
        pmap = ET.SubElement(top, "Option", type="Map", name="properties")
        for name, (kind, value) in props.items():
            p = ET.SubElement(pmap, "Option", type="Map", name=name)
            ET.SubElement(p, "Option", type="bool", name="active", value="true")
            if kind == "field":
                ET.SubElement(p, "Option", type="QString", name="field", value=value)
                ET.SubElement(p, "Option", type="int", name="type", value="2")
            else:
                ET.SubElement(p, "Option", type="QString", name="expression", value=value)
                ET.SubElement(p, "Option", type="int", name="type", value="3")
    else:
        ET.SubElement(top, "Option", name="properties")
    ET.SubElement(top, "Option", type="QString", name="type", value="collection")


def _quote_field(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _color_expression(field: str, fallback_hex: str, opacity: float) -> str:
    """Expression: the colour in ``field`` (``#rrggbb``), or the fallback, with the given opacity."""
    expr = f"coalesce(nullif({_quote_field(field)}, ''), '{fallback_hex}')"
    if opacity < 1:
        expr = f"set_color_part({expr}, 'alpha', {round(255 * opacity)})"
    return expr


def _schematic_stroke_expression(accuracy_field: str, solid: str) -> str:
    return f"if({_quote_field(accuracy_field)} = 'schematic', 'dash', '{solid}')"


def _line_layer(style: Style, color: str, dd: dict, *, outline: bool) -> ET.Element:
    """A SimpleLine symbol layer (a line symbol, or the outline of a fill symbol)."""
    el = ET.Element("layer", attrib={"class": "SimpleLine", "pass": "0", "enabled": "1", "locked": "0"})
    dash = style.dash
    _props(el, {
        "line_color": color,
        "line_width": px_to_mm(style.stroke_width),
        "line_width_unit": "MM",
        "line_style": "solid",
        "use_custom_dash": 1 if dash else 0,
        "customdash": _dash_mm(dash) if dash else "5;2",
        "customdash_unit": "MM",
        "capstyle": "round" if not outline else "square",
        "joinstyle": "round",
        "offset": 0,
        "offset_unit": "MM",
        "draw_inside_polygon": 0,
        "ring_filter": 0,
    })
    _data_defined(el, dd)
    return el


def _symbol(geometry_type: str, style: Style, name: str, main_color: str | None,
            fields: Mapping[str, str], schematic_layer: bool) -> ET.Element:
    """One QGIS symbol for the style; ``main_color`` (``#rrggbb``) overrides the fill (or line) colour."""
    kind = GEOMETRY_QGIS[geometry_type][0]
    sym = ET.Element("symbol", attrib={"type": kind, "name": name, "alpha": "1", "clip_to_extent": "1",
                                       "force_rhr": "0"})
    _data_defined(sym, {})
    cf = fields.get(style.color_field) if style.color_field else None
    acc = fields.get("accuracy", "accuracy")
    # per-feature schematic dashes where the layer as a whole is not schematic and has no dash of its own
    dash_dd = {} if (schematic_layer or style.dash) else {
        "outlineStyle": ("expression", _schematic_stroke_expression(acc, "solid"))}
    if kind == "line":
        base = main_color or style.stroke
        dd = dict(dash_dd)
        if cf:
            dd["outlineColor"] = ("expression", _color_expression(cf, base, style.stroke_opacity))
        sym.append(_line_layer(style, qgis_color(base, style.stroke_opacity), dd, outline=False))
    elif kind == "fill":
        fill_hex = main_color or style.fill
        fill = ET.SubElement(sym, "layer", attrib={"class": "SimpleFill", "pass": "0", "enabled": "1",
                                                   "locked": "0"})
        _props(fill, {
            "color": qgis_color(fill_hex, style.fill_opacity),
            "style": "solid" if (fill_hex or cf) else "no",
            "outline_style": "no",
            "outline_color": qgis_color(style.stroke, style.stroke_opacity),
            "outline_width": 0,
            "outline_width_unit": "MM",
            "offset": "0,0",
            "offset_unit": "MM",
            "joinstyle": "round",
        })
        fdd = {}
        if cf:
            fdd["fillColor"] = ("expression", _color_expression(cf, fill_hex or style.stroke, style.fill_opacity))
        _data_defined(fill, fdd)
        sym.append(_line_layer(style, qgis_color(style.stroke, style.stroke_opacity), dash_dd, outline=True))
    else:  # marker
        fill_hex = main_color or style.fill
        marker = style.marker or {}
        el = ET.SubElement(sym, "layer", attrib={"class": "SimpleMarker", "pass": "0", "enabled": "1",
                                                 "locked": "0"})
        _props(el, {
            "name": marker.get("shape", "circle"),
            "size": px_to_mm(2 * float(marker.get("radius", 4))),
            "size_unit": "MM",
            "color": qgis_color(fill_hex, style.fill_opacity),
            "outline_color": qgis_color(style.stroke, style.stroke_opacity),
            "outline_width": px_to_mm(style.stroke_width),
            "outline_width_unit": "MM",
            "outline_style": "dash" if style.dash else "solid",
            "scale_method": "diameter",
            "angle": 0,
            "offset": "0,0",
            "offset_unit": "MM",
            "joinstyle": "round",
            "horizontal_anchor_point": 1,
            "vertical_anchor_point": 1,
        })
        mdd = dict(dash_dd)
        if cf:
            mdd["fillColor"] = ("expression", _color_expression(cf, fill_hex or style.stroke, style.fill_opacity))
        _data_defined(el, mdd)
    return sym


def _renderer(layer: Layer, style: Style, fields: Mapping[str, str]) -> ET.Element:
    if style.categories:
        attr = fields.get(style.categories["field"], style.categories["field"])
        r = ET.Element("renderer-v2", attrib={"type": "categorizedSymbol", "attr": attr, "forceraster": "0",
                                              "symbollevels": "0", "enableorderby": "0",
                                              "referencescale": "-1"})
        cats = ET.SubElement(r, "categories")
        syms = ET.SubElement(r, "symbols")
        values = list(style.categories["values"].items())
        for i, (value, spec) in enumerate(values):
            ET.SubElement(cats, "category", value=str(value), symbol=str(i), label=spec.get("label", str(value)),
                          render="true")
            syms.append(_symbol(layer.geometry_type, style, str(i), spec["color"], fields, layer.is_schematic))
        n = len(values)
        ET.SubElement(cats, "category", value="", symbol=str(n), label=OTHER_LABEL, render="true")
        syms.append(_symbol(layer.geometry_type, style, str(n), None, fields, layer.is_schematic))
    else:
        r = ET.Element("renderer-v2", attrib={"type": "singleSymbol", "forceraster": "0", "symbollevels": "0",
                                              "enableorderby": "0", "referencescale": "-1"})
        syms = ET.SubElement(r, "symbols")
        syms.append(_symbol(layer.geometry_type, style, "0", None, fields, layer.is_schematic))
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return r


def _labeling(layer: Layer, style: Style, fields: Mapping[str, str]) -> ET.Element:
    field = fields.get(style.label_field, style.label_field)
    lab = ET.Element("labeling", type="simple")
    settings = ET.SubElement(lab, "settings", calloutType="simple")
    ts = ET.SubElement(settings, "text-style", attrib={
        "fieldName": field, "isExpression": "0", "fontFamily": LABEL_FONT, "namedStyle": "Regular",
        "fontSize": "9", "fontSizeUnit": "Point", "fontWeight": "50", "fontItalic": "0",
        "textColor": qgis_color(style.stroke), "textOpacity": "1", "multilineHeight": "1",
        "blendMode": "0", "allowHtml": "0", "capitalization": "0", "textOrientation": "horizontal"})
    ET.SubElement(ts, "families")
    ET.SubElement(ts, "text-buffer", attrib={
        "bufferDraw": "1" if style.fill else "0", "bufferSize": "0.8", "bufferSizeUnits": "MM",
        "bufferColor": qgis_color(style.fill or style.stroke), "bufferOpacity": "0.9", "bufferNoFill": "1",
        "bufferJoinStyle": "128", "bufferBlendMode": "0"})
    placement = {"Point": "6", "LineString": "2", "Polygon": "1"}[layer.geometry_type]
    ET.SubElement(settings, "placement", attrib={
        "placement": placement, "dist": "1", "distUnits": "MM", "placementFlags": "10", "priority": "5",
        "overrunDistance": "0", "centroidInside": "1", "centroidWhole": "0", "fitInPolygonOnly": "0"})
    ET.SubElement(settings, "rendering", attrib={
        "obstacle": "1", "scaleVisibility": "0", "displayAll": "0", "upsidedownLabels": "0", "limitNumLabels": "0",
        "mergeLines": "0", "drawLabels": "1", "fontLimitPixelSize": "0", "labelPerPart": "0"})
    return lab


def style_elements(layer: Layer, style: Style | None = None,
                   field_names: Mapping[str, str] | None = None) -> list[ET.Element]:
    """The renderer (and labelling, if any) of ``layer`` as XML elements for a QML or a project layer.

    Parameters
    ----------
    layer : catalog layer.
    style : its style; default :func:`layer_style` (from ``styles/``, dashed if schematic).
    field_names : catalog field name → field name in the target file (e.g. a shapefile's 10-byte names);
        names not in the mapping are used unchanged.
    """
    style = style or layer_style(layer)
    fields = dict(field_names or {})
    for f in layer.all_fields:
        fields.setdefault(f, f)
    for key, f in (("categories.field", (style.categories or {}).get("field")), ("color_field", style.color_field),
                   ("label_field", style.label_field)):
        if f and f not in layer.all_fields:
            raise ValueError(f"style {style.id!r} of layer {layer.id!r}: {key} {f!r} is not a field of the layer "
                             f"({', '.join(layer.all_fields)})")
    out = [_renderer(layer, style, fields)]
    if style.label_field:
        out.append(_labeling(layer, style, fields))
    return out


def style_qml(layer: Layer, style: Style | None = None, field_names: Mapping[str, str] | None = None) -> str:
    """A QGIS layer style document (QML text) for ``layer``, from its style in ``styles/``.

    The document holds symbology and labels only (``styleCategories="Symbology|Labeling"``), so loading it
    leaves a layer's fields, forms and metadata alone. It is what the GeoPackage's ``layer_styles`` table and
    the shapefiles' sidecar ``.qml`` files hold. See :func:`style_elements` for the parameters.
    """
    style = style or layer_style(layer)
    elements = style_elements(layer, style, field_names)
    root = ET.Element("qgis", attrib={"version": _QGIS_VERSION, "styleCategories": _STYLE_CATEGORIES,
                                      "labelsEnabled": "1" if style.label_field else "0"})
    root.extend(elements)
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerOpacity").text = "1"
    ET.SubElement(root, "layerGeometryType").text = str(GEOMETRY_QGIS[layer.geometry_type][2])
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"
