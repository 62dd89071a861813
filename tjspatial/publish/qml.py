"""QGIS styles (QML) translated from the shared style files in ``styles/``.

:func:`style_qml` turns a catalog layer's :class:`~tjspatial.styles.Style` into a QGIS 3 layer style
document; :func:`style_elements` gives the same renderer and labelling as XML elements, for embedding in a
project (``.qgs``). Nothing here picks a colour: every colour, width, dash, marker and label field comes from
the style file, so the web maps and QGIS show the same thing.

Translation
-----------
Every layer gets a rule-based renderer with one rule per drawn class (:func:`legend_classes`): colour class ×
status × accuracy, so the legend shows exactly the symbols on the map. The cartography rule
(``styles/cartography.json``, :func:`tjspatial.styles.load_cartography`) is applied to every layer:

- **status owns the dash**: a feature's ``status`` (open / under_construction / planned; layers without the
  field are existing, i.e. open) picks a solid line, long dashes or short dashes — for lines, polygon outlines
  and marker outlines alike;
- **accuracy owns the casing**: features whose ``accuracy`` is schematic get a translucent casing in their own
  colour (a wider line or outline drawn first, a larger disc under markers), "示意" in their legend class and
  "（示意）" after their label. Accuracy never dashes a line.
- ``categories`` → one colour class per listed value (labels from the style); a "其他 / other values" class
  only where features hold an unlisted value (or when no data is given).
- ``color_field`` → the colour is data-defined from that attribute (``#rrggbb`` text), falling back to the
  style colour where the value is empty.
- ``drawn_elsewhere`` → features with that field filled are drawn by another layer and left out here.
- ``label_field`` → labels in Noto Sans CJK SC (QGIS substitutes a default font where it is not installed:
  Debian ``fonts-noto-cjk``), in the stroke colour with a halo; ``label_max_scale`` makes them
  scale-dependent (shown only at scales larger than 1:N).
- Widths, marker radii and dashes are screen pixels in the style files; QGIS gets millimetres at 96 dpi.

Polygon outlines are a separate line symbol layer (a simple fill cannot draw a custom dash).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..catalog import Layer
from ..styles import Cartography, Style, StyleError, load_cartography, load_style

__all__ = [
    "style_qml",
    "style_elements",
    "layer_style",
    "legend_classes",
    "LegendClass",
    "label_expression",
    "field_aliases",
    "aliases_element",
    "qgis_color",
    "px_to_mm",
    "LABEL_FONT",
    "GEOMETRY_QGIS",
    "OTHER_LABEL",
]

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
_STYLE_CATEGORIES = "Symbology|Labeling|Fields"


def px_to_mm(px: float) -> float:
    """Screen pixels (96 dpi) to millimetres, rounded to 4 decimals.

    Parameters
    ----------
    px : float
        Screen pixels at 96 dpi.

    Returns
    -------
    float
        Millimetres, rounded to 4 decimals.
    """
    return round(float(px) * MM_PER_PX, 4)


def qgis_color(hex_color: str | None, opacity: float = 1.0) -> str:
    """``#rrggbb`` and an opacity (0–1) as QGIS's ``"r,g,b,a"``; fully transparent for ``None``.

    Parameters
    ----------
    hex_color : str or None
        ``#rrggbb``.
    opacity : float, default 1.0
        0 (transparent) to 1 (opaque).

    Returns
    -------
    str
        ``"r,g,b,a"`` with 0-255 components.
    """
    if not hex_color:
        return "0,0,0,0"
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(255 * float(opacity))}"


def layer_style(layer: Layer, directory=None) -> Style:
    """The style of ``layer`` from ``styles/`` (dashes and casings come from the cartography rule).

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    directory : str or pathlib.Path, optional
        The styles folder; default ``styles/``.

    Returns
    -------
    Style
        The layer's style.
    """
    return load_style(layer.style, directory)


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


def _sql_list(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _line_layer(
    style: Style,
    color: str,
    dd: dict,
    *,
    outline: bool,
    dash: str | None = None,
    width_px: float | None = None,
    pass_: int = 0,
) -> ET.Element:
    """A SimpleLine symbol layer (a line symbol, or the outline of a fill symbol)."""
    el = ET.Element("layer", attrib={"class": "SimpleLine", "pass": str(pass_), "enabled": "1", "locked": "0"})
    _props(
        el,
        {
            "line_color": color,
            "line_width": px_to_mm(style.stroke_width if width_px is None else width_px),
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
        },
    )
    _data_defined(el, dd)
    return el


def _symbol(
    geometry_type: str,
    style: Style,
    name: str,
    main_color: str | None,
    fields: Mapping[str, str],
    *,
    dash: str | None,
    approximate: bool,
    carto: Cartography,
) -> ET.Element:
    """One QGIS symbol: ``main_color`` (``#rrggbb``) overrides the fill (or line) colour, ``dash`` is the
    status's dash ("on off" px, ``None`` solid), ``approximate`` adds the accuracy casing (a translucent
    wider line, outline or marker in the feature's colour, drawn first)."""
    kind = GEOMETRY_QGIS[geometry_type][0]
    sym = ET.Element(
        "symbol", attrib={"type": kind, "name": name, "alpha": "1", "clip_to_extent": "1", "force_rhr": "0"}
    )
    _data_defined(sym, {})
    cf = fields.get(style.color_field) if style.color_field else None
    casing_alpha = carto.casing_opacity
    if kind == "line":
        base = main_color or style.stroke
        dd, cdd = {}, {}
        if cf:
            dd["outlineColor"] = ("expression", _color_expression(cf, base, style.stroke_opacity))
            cdd["outlineColor"] = ("expression", _color_expression(cf, base, casing_alpha))
        if approximate:
            sym.append(
                _line_layer(
                    style,
                    qgis_color(base, casing_alpha),
                    cdd,
                    outline=False,
                    width_px=style.stroke_width + carto.casing_px,
                    pass_=0,
                )
            )
        sym.append(_line_layer(style, qgis_color(base, style.stroke_opacity), dd, outline=False, dash=dash, pass_=1))
    elif kind == "fill":
        fill_hex = main_color or style.fill
        fill = ET.SubElement(sym, "layer", attrib={"class": "SimpleFill", "pass": "0", "enabled": "1", "locked": "0"})
        _props(
            fill,
            {
                "color": qgis_color(fill_hex, style.fill_opacity),
                "style": "solid" if (fill_hex or cf) else "no",
                "outline_style": "no",
                "outline_color": qgis_color(style.stroke, style.stroke_opacity),
                "outline_width": 0,
                "outline_width_unit": "MM",
                "offset": "0,0",
                "offset_unit": "MM",
                "joinstyle": "round",
            },
        )
        fdd = {}
        if cf:
            fdd["fillColor"] = ("expression", _color_expression(cf, fill_hex or style.stroke, style.fill_opacity))
        _data_defined(fill, fdd)
        if approximate:
            sym.append(
                _line_layer(
                    style,
                    qgis_color(style.stroke, casing_alpha),
                    {},
                    outline=True,
                    width_px=style.stroke_width + carto.casing_px,
                    pass_=1,
                )
            )
        sym.append(
            _line_layer(style, qgis_color(style.stroke, style.stroke_opacity), {}, outline=True, dash=dash, pass_=2)
        )
    else:  # marker
        fill_hex = main_color or style.fill
        marker = style.marker or {}
        size_px = 2 * float(marker.get("radius", 4))
        mdd = {}
        if cf:
            mdd["fillColor"] = ("expression", _color_expression(cf, fill_hex or style.stroke, style.fill_opacity))
        if approximate:
            casing = ET.SubElement(
                sym, "layer", attrib={"class": "SimpleMarker", "pass": "0", "enabled": "1", "locked": "0"}
            )
            _props(
                casing,
                {
                    "name": "circle",
                    "size": px_to_mm(size_px + carto.casing_px),
                    "size_unit": "MM",
                    "color": qgis_color(fill_hex or style.stroke, casing_alpha),
                    "outline_style": "no",
                    "outline_color": "0,0,0,0",
                    "outline_width": 0,
                    "scale_method": "diameter",
                    "angle": 0,
                    "offset": "0,0",
                    "offset_unit": "MM",
                    "horizontal_anchor_point": 1,
                    "vertical_anchor_point": 1,
                },
            )
            _data_defined(casing, {})
        el = ET.SubElement(sym, "layer", attrib={"class": "SimpleMarker", "pass": "1", "enabled": "1", "locked": "0"})
        _props(
            el,
            {
                "name": marker.get("shape", "circle"),
                "size": px_to_mm(size_px),
                "size_unit": "MM",
                "color": qgis_color(fill_hex, style.fill_opacity),
                "outline_color": qgis_color(style.stroke, style.stroke_opacity),
                "outline_width": px_to_mm(style.stroke_width),
                "outline_width_unit": "MM",
                "outline_style": "dash" if dash else "solid",
                "scale_method": "diameter",
                "angle": 0,
                "offset": "0,0",
                "offset_unit": "MM",
                "joinstyle": "round",
                "horizontal_anchor_point": 1,
                "vertical_anchor_point": 1,
            },
        )
        _data_defined(el, mdd)
    return sym


@dataclass(frozen=True)
class LegendClass:
    """One drawn class: colour class × status × accuracy, with its filter, label and symbol parameters."""

    key: str
    filter: str
    label: str
    color: str | None
    status: str
    approximate: bool
    dash: str | None


def _present(data, column: str | None) -> set | None:
    if data is None or column is None or column not in data.columns:
        return None
    return set(data[column].astype(object).where(data[column].notna(), "").map(str))


def legend_classes(
    layer: Layer,
    style: Style | None = None,
    data=None,
    field_names: Mapping[str, str] | None = None,
    carto: Cartography | None = None,
) -> list[LegendClass]:
    """The classes a layer is drawn with, one per combination of colour class, status and accuracy.

    Each class has a QGIS filter expression; together the filters cover every drawn feature exactly once.
    Status comes from the layer's status field (layers without one are all ``default_status``); features
    whose ``drawn_elsewhere`` field is filled are excluded (they are drawn by another layer).

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    style : Style, optional
        Its style; default from ``styles/``.
    data : geopandas.GeoDataFrame, optional
        The layer's features. When given, only combinations that occur among the features that are drawn
        are listed (so the legend shows nothing that is not on the map); otherwise every combination.
    field_names : mapping of str to str, optional
        Catalog field → field name in the file (shapefiles).
    carto : Cartography, optional
        The status-vs-accuracy rule; default :func:`~tjspatial.styles.load_cartography`.

    Returns
    -------
    list of LegendClass
        Each with its key, filter expression, label, colour, status, accuracy (approximate or not) and dash.
    """
    style = style or layer_style(layer)
    carto = carto or load_cartography()
    names = {f: f for f in layer.all_fields}
    names.update(field_names or {})
    q = lambda f: _quote_field(names.get(f, f))  # noqa: E731
    texts: dict[str, np.ndarray] = {}

    def text(col: str) -> np.ndarray:  # a column as text ('' for missing), computed once
        if col not in texts:
            texts[col] = data[col].astype(object).where(data[col].notna(), "").map(str).to_numpy()
        return texts[col]

    keep = None
    base: list[str] = []
    if style.drawn_elsewhere:
        base.append(f"coalesce({q(style.drawn_elsewhere['field'])}, '') = ''")
        if data is not None and style.drawn_elsewhere["field"] in data.columns:
            keep = text(style.drawn_elsewhere["field"]) == ""
    # colour classes: key, filter, colour, label, python test on the text values
    colours: list[tuple] = []
    if style.categories:
        field = style.categories["field"]
        values = [str(v) for v in style.categories["values"]]
        for i, (value, spec) in enumerate(style.categories["values"].items()):
            colours.append(
                (
                    f"c{i}",
                    f"{q(field)} = {_sql_list([value])}",
                    spec["color"],
                    spec.get("label", str(value)),
                    field,
                    lambda v, value=str(value): v == value,
                )
            )
        colours.append(
            (
                "cx",
                f"coalesce({q(field)}, '') NOT IN ({_sql_list(values)})",
                None,
                OTHER_LABEL,
                field,
                lambda v, values=tuple(values): ~np.isin(v, values),
            )
        )
    else:
        colours.append(("c", "", None, display_name(layer), None, None))
    has_status = carto.status_field in layer.all_fields
    statuses: list[tuple] = []
    if has_status:
        others = [v for v in carto.statuses if v != carto.default_status]
        for v in carto.statuses:
            if v == carto.default_status:
                statuses.append(
                    (
                        v,
                        f"coalesce({q(carto.status_field)}, '') NOT IN ({_sql_list(others)})",
                        lambda x, o=tuple(others): ~np.isin(x, o),
                    )
                )
            else:
                statuses.append((v, f"{q(carto.status_field)} = {_sql_list([v])}", lambda x, v=v: x == v))
    else:
        statuses.append((carto.default_status, "", None))
    appr = tuple(carto.approximate)
    accs = [
        (False, f"coalesce({q(carto.accuracy_field)}, '') NOT IN ({_sql_list(appr)})", lambda x: ~np.isin(x, appr)),
        (True, f"{q(carto.accuracy_field)} IN ({_sql_list(appr)})", lambda x: np.isin(x, appr)),
    ]
    out = []
    for ckey, cflt, colour, clabel, cfield, ctest in colours:
        for status, sflt, stest in statuses:
            for approx, aflt, atest in accs:
                if data is not None:
                    mask = np.ones(len(data), dtype=bool) if keep is None else keep.copy()
                    if ctest is not None and cfield in data.columns:
                        mask &= ctest(text(cfield))
                    if stest is not None and carto.status_field in data.columns:
                        mask &= stest(text(carto.status_field))
                    if carto.accuracy_field in data.columns:
                        mask &= atest(text(carto.accuracy_field))
                    if not mask.any():
                        continue
                parts = [p for p in (*base, cflt, sflt, aflt) if p]
                label = clabel
                if has_status:
                    label += f" · {carto.statuses[status].label}"
                if approx:
                    label += f" · {carto.accuracy_label}"
                out.append(
                    LegendClass(
                        f"{ckey}_{status}_{'a' if approx else 'e'}",
                        " AND ".join(f"({p})" for p in parts),
                        label,
                        colour,
                        status,
                        approx,
                        carto.dash(status),
                    )
                )
    return out


def display_name(layer: Layer) -> str:
    """Legend label of a single-class layer: ``"<title_zh> / <title_en>"``."""
    return f"{layer.title_zh} / {layer.title_en}"


def _renderer(layer: Layer, style: Style, fields: Mapping[str, str], data=None) -> ET.Element:
    """A rule-based renderer: one rule per :func:`legend_classes` entry, so that the legend shows exactly the
    symbols drawn (status dash and accuracy casing included). Symbol levels draw casings under lines."""
    carto = load_cartography()
    classes = legend_classes(layer, style, data, fields, carto)
    r = ET.Element(
        "renderer-v2",
        attrib={
            "type": "RuleRenderer",
            "forceraster": "0",
            "symbollevels": "1",
            "enableorderby": "0",
            "referencescale": "-1",
        },
    )
    rules = ET.SubElement(r, "rules", key="{tjspatial-root}")
    syms = ET.SubElement(r, "symbols")
    for i, cls in enumerate(classes):
        ET.SubElement(rules, "rule", key=f"{{tjspatial-{cls.key}}}", filter=cls.filter, label=cls.label, symbol=str(i))
        syms.append(
            _symbol(
                layer.geometry_type,
                style,
                str(i),
                cls.color,
                fields,
                dash=cls.dash,
                approximate=cls.approximate,
                carto=carto,
            )
        )
    return r


def label_expression(layer: Layer, style: Style, fields: Mapping[str, str], carto: Cartography | None = None) -> str:
    """QGIS expression of a layer's label: the label field, followed by "（示意）" for approximate features.

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    style : Style
        Its style (``label_field``).
    fields : mapping of str to str
        Catalog field → field name in the file.
    carto : Cartography, optional
        The status-vs-accuracy rule; default :func:`~tjspatial.styles.load_cartography`.

    Returns
    -------
    str
        A QGIS expression.
    """
    carto = carto or load_cartography()
    q = lambda f: _quote_field(fields.get(f, f))  # noqa: E731
    return (
        f"coalesce(to_string({q(style.label_field)}), '') || if({q(carto.accuracy_field)} IN "
        f"({_sql_list(carto.approximate)}), '{carto.label_suffix}', '')"
    )


def _labeling(layer: Layer, style: Style, fields: Mapping[str, str]) -> ET.Element:
    lab = ET.Element("labeling", type="simple")
    settings = ET.SubElement(lab, "settings", calloutType="simple")
    ts = ET.SubElement(
        settings,
        "text-style",
        attrib={
            "fieldName": label_expression(layer, style, fields),
            "isExpression": "1",
            "fontFamily": LABEL_FONT,
            "namedStyle": "Regular",
            "fontSize": "9",
            "fontSizeUnit": "Point",
            "fontWeight": "50",
            "fontItalic": "0",
            "textColor": qgis_color(style.stroke),
            "textOpacity": "1",
            "multilineHeight": "1",
            "blendMode": "0",
            "allowHtml": "0",
            "capitalization": "0",
            "textOrientation": "horizontal",
        },
    )
    ET.SubElement(ts, "families")
    ET.SubElement(
        ts,
        "text-buffer",
        attrib={
            "bufferDraw": "1",
            "bufferSize": "0.8",
            "bufferSizeUnits": "MM",
            "bufferColor": qgis_color(style.fill or "#ffffff"),
            "bufferOpacity": "0.9",
            "bufferNoFill": "1",
            "bufferJoinStyle": "128",
            "bufferBlendMode": "0",
        },
    )
    placement = {"Point": "6", "LineString": "2", "Polygon": "1"}[layer.geometry_type]
    ET.SubElement(
        settings,
        "placement",
        attrib={
            "placement": placement,
            "dist": "1",
            "distUnits": "MM",
            "placementFlags": "10",
            "priority": "5",
            "overrunDistance": "0",
            "centroidInside": "1",
            "centroidWhole": "0",
            "fitInPolygonOnly": "0",
        },
    )
    scaled = style.label_max_scale is not None
    ET.SubElement(
        settings,
        "rendering",
        attrib={
            "obstacle": "1",
            "scaleVisibility": "1" if scaled else "0",
            # QGIS's names: scaleMax holds the most zoomed-out scale shown (1:N), scaleMin the most zoomed-in (0: none)
            "scaleMax": f"{float(style.label_max_scale):g}" if scaled else "0",
            "scaleMin": "0",
            "displayAll": "0",
            "upsidedownLabels": "0",
            "limitNumLabels": "0",
            "mergeLines": "1" if layer.geometry_type == "LineString" else "0",
            "drawLabels": "1",
            "fontLimitPixelSize": "0",
            "labelPerPart": "0",
        },
    )
    return lab


def field_aliases(layer: Layer, field_names: Mapping[str, str] | None = None) -> dict[str, str]:
    """Field name in the file → alias shown by QGIS (attribute table, forms, identify).

    The alias is the field's display label declared in the catalog (``Layer.field_label(name).alias``:
    "中文 English (unit)"); where a file shortens the name (shapefiles: 10 characters), the full catalog name
    follows in brackets, e.g. ``面积（官方） Area, official (km²) [area_km2_official]``. With ``field_names``
    (a shapefile) boolean fields also give their code: ``(1 = 是 true, 0 = 否 false)``.

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    field_names : mapping of str to str, optional
        Catalog field name → field name in the file (shapefiles).

    Returns
    -------
    dict of str to str
        Field name in the file → alias.
    """
    names = dict(field_names or {})
    out = {}
    for f, ftype in layer.all_fields.items():
        short = names.get(f, f)
        alias = layer.field_label(f).alias if hasattr(layer, "field_label") else f
        alias = alias if short == f else f"{alias} [{f}]"
        if field_names is not None and ftype == "bool":  # shapefiles store booleans as 1/0
            alias += " (1 = 是 true, 0 = 否 false)"
        out[short] = alias
    return out


def aliases_element(
    layer: Layer, field_names: Mapping[str, str] | None = None, file_fields: list[str] | None = None
) -> ET.Element:
    """``<aliases>`` for a QML or project layer: one ``<alias>`` per field of the file, in file order.

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    field_names : mapping of str to str, optional
        Catalog field name → field name in the file (shapefiles).
    file_fields : list of str, optional
        The file's fields in order; default the catalog fields, renamed.

    Returns
    -------
    xml.etree.ElementTree.Element
        ``<aliases>``.
    """
    aliases = field_aliases(layer, field_names)
    el = ET.Element("aliases")
    for i, name in enumerate(file_fields or list(aliases)):
        ET.SubElement(el, "alias", field=name, index=str(i), name=aliases.get(name, ""))
    return el


def style_elements(
    layer: Layer, style: Style | None = None, field_names: Mapping[str, str] | None = None, data=None
) -> list[ET.Element]:
    """The renderer (and labelling, if any) of ``layer`` as XML elements for a QML or a project layer.

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    style : Style, optional
        Its style; default :func:`layer_style` (from ``styles/``).
    field_names : mapping of str to str, optional
        Catalog field name → field name in the target file (e.g. a shapefile's 10-byte names); names not in
        the mapping are used unchanged.
    data : geopandas.GeoDataFrame, optional
        The layer's features; when given the legend lists only the classes that are drawn
        (:func:`legend_classes`).

    Returns
    -------
    list of xml.etree.ElementTree.Element
        ``<renderer-v2>`` and, when the style has a label field, ``<labeling>``.
    """
    style = style or layer_style(layer)
    fields = dict(field_names or {})
    for f in layer.all_fields:
        fields.setdefault(f, f)
    for key, f in (
        ("categories.field", (style.categories or {}).get("field")),
        ("color_field", style.color_field),
        ("label_field", style.label_field),
    ):
        if f and f not in layer.all_fields:
            raise StyleError(
                f"style {style.id!r} of layer {layer.id!r}: {key} {f!r} is not a field of the layer "
                f"({', '.join(layer.all_fields)})"
            )
    out = [_renderer(layer, style, fields, data)]
    if style.label_field:
        out.append(_labeling(layer, style, fields))
    return out


def style_qml(
    layer: Layer,
    style: Style | None = None,
    field_names: Mapping[str, str] | None = None,
    data=None,
    file_fields: list[str] | None = None,
) -> str:
    """A QGIS layer style document (QML text) for ``layer``, from its style in ``styles/``.

    The document holds symbology and labels only (``styleCategories="Symbology|Labeling"``), so loading it
    leaves a layer's forms and metadata alone; it also carries field aliases (``Fields``: the catalog names of
    a shapefile's short fields). It is what the GeoPackage's ``layer_styles`` table and the shapefiles' sidecar
    ``.qml`` files hold.

    Parameters
    ----------
    layer : Layer
        The catalog layer.
    style : Style, optional
        Its style; default :func:`layer_style` (from ``styles/``).
    field_names : mapping of str to str, optional
        Catalog field name → field name in the target file (e.g. a shapefile's 10-byte names); names not in
        the mapping are used unchanged.
    data : geopandas.GeoDataFrame, optional
        The layer's features; when given the legend lists only the classes that are drawn
        (:func:`legend_classes`).
    file_fields : list of str, optional
        The fields of the file in order; default the catalog fields, renamed by ``field_names``.

    Returns
    -------
    str
        The QML document (UTF-8 XML text).
    """
    style = style or layer_style(layer)
    elements = style_elements(layer, style, field_names, data)
    root = ET.Element(
        "qgis",
        attrib={
            "version": _QGIS_VERSION,
            "styleCategories": _STYLE_CATEGORIES,
            "labelsEnabled": "1" if style.label_field else "0",
        },
    )
    root.extend(elements)
    root.append(aliases_element(layer, field_names, file_fields))
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerOpacity").text = "1"
    ET.SubElement(root, "layerGeometryType").text = str(GEOMETRY_QGIS[layer.geometry_type][2])
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"
