"""CAD and Google Earth exports: one DXF with a layer per catalog layer (ezdxf), and KML per layer (GDAL).

DXF (:func:`write_dxf`)
-----------------------
- Encoding: written by ezdxf as AutoCAD 2000 DXF (``AC1015``) in **GBK**, with ``$DWGCODEPAGE = ANSI_936``
  (the code page of Chinese AutoCAD). Chosen by test: GDAL (3.6 and 3.12; ``ogr2ogr``, QGIS) honours the
  code page of an R2000 file but reads an R2007+ UTF-8 file through ``$DWGCODEPAGE`` too, garbling it; GBK +
  ANSI_936 reads back intact in GDAL and ezdxf (tested) and is the native code page of Chinese AutoCAD (not
  tested here: no AutoCAD). The rare characters outside GBK (e.g. "€",
  CJK extension B) are written as ``\\U+XXXX`` escapes, the DXF convention: AutoCAD shows the character, GDAL
  and ezdxf return the escape text (tested: ``"€"`` → ``"\\U+20ac"``). Every name in the bundled layers is in GBK.
- Coordinates in metres of a projected CRS, EPSG:4548 (CGCS2000 / 3° Gauss-Krüger CM 117E) by default;
  ``$INSUNITS`` = 6 (metres). DXF has no CRS field: the CRS is written as a ``.prj`` (ESRI WKT) beside it.
- One CAD layer per catalog layer, named by its Chinese title (:func:`dxf_layer_name`), coloured with the
  nearest AutoCAD colour index (ACI) to the style's stroke colour. Points are ``POINT``, lines ``LWPOLYLINE``, polygons closed
  ``LWPOLYLINE`` rings. The cartography rule holds in CAD too: the feature's status picks the linetype
  (open ``CONTINUOUS``, under construction ``DASHED``, planned ``DOT``).
- Labels are ``TEXT`` entities on the same layer (the label field, else ``name_zh``, plus "（示意）" for
  schematic features), in a text style using a CJK font (``simsun.ttc``; CAD programs substitute where it is
  missing), 120 m high (2.4 mm at 1:50,000).

KML (:func:`write_kml`)
-----------------------
One file per layer, WGS 84, each placemark named by ``name_zh`` with a description giving the layer title,
the feature's accuracy ("示意 / schematic" where so), source and the layer's licence.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from ..atomic import atomic_path
from ..catalog import ACCURACY_CLASSES, Catalog, Layer, get_catalog
from ..styles import load_cartography
from .qgis_project import display_title, layer_licences
from .qml import layer_style

__all__ = [
    "write_dxf",
    "write_kml",
    "dxf_layer_name",
    "DXF_VERSION",
    "DXF_ENCODING",
    "DXF_CODEPAGE",
    "LABEL_HEIGHT_M",
    "STATUS_LINETYPES",
]

DXF_VERSION = "R2000"
DXF_ENCODING = "gbk"
DXF_CODEPAGE = "ANSI_936"
LABEL_HEIGHT_M = 120.0
STATUS_LINETYPES = {"open": "CONTINUOUS", "under_construction": "DASHED", "planned": "DOT"}
"""DXF linetype per status (the cartography rule: status owns the dash)."""
_FORBIDDEN = re.compile(r'[<>/\\":;?*|=`,]')


def dxf_layer_name(layer: Layer) -> str:
    """The CAD layer name of a catalog layer: its Chinese title, characters DXF forbids replaced by ``_``.

    Parameters
    ----------
    layer : Layer
        The catalog layer.

    Returns
    -------
    str
        The CAD layer name.
    """
    return _FORBIDDEN.sub("_", layer.title_zh).strip() or layer.id


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _nearest_aci(rgb: tuple[int, int, int]) -> int:
    """The AutoCAD colour index (1–255) closest to ``rgb``."""
    from ezdxf.colors import DXF_DEFAULT_COLORS, int2rgb

    best, dist = 7, None
    for aci in range(1, 256):
        r, g, b = int2rgb(DXF_DEFAULT_COLORS[aci])
        d = (r - rgb[0]) ** 2 + (g - rgb[1]) ** 2 + (b - rgb[2]) ** 2
        if dist is None or d < dist:
            best, dist = aci, d
    return best


def _label_text(row: pd.Series, field: str, suffix: str, approximate: bool) -> str:
    v = row.get(field)
    text = "" if v is None or (isinstance(v, float) and v != v) else str(v)
    return f"{text}{suffix}" if (text and approximate) else text


def write_dxf(
    path: str | Path, data: Mapping[str, gpd.GeoDataFrame], *, catalog: Catalog | None = None, crs: str = "EPSG:4548"
) -> Path:
    """Write layers into one DXF, a CAD layer per catalog layer, atomically; returns ``path``.

    Parameters
    ----------
    path : str or pathlib.Path
        Target ``.dxf``; a ``.prj`` with the CRS is written beside it.
    data : mapping of str to geopandas.GeoDataFrame
        Layer id → features (any CRS; reprojected to ``crs``), in drawing order.
    catalog : Catalog, optional
        The catalog; default ``tj.get_catalog()``.
    crs : str, default "EPSG:4548"
        Target CRS, projected in metres.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import ezdxf
    from ezdxf import colors

    catalog = catalog or get_catalog()
    carto = load_cartography()
    target = CRS.from_user_input(crs)
    path = Path(path)
    doc = ezdxf.new(DXF_VERSION, setup=True)
    doc.encoding = DXF_ENCODING  # ezdxf writes $DWGCODEPAGE = ANSI_936 from it
    metres = bool(target.axis_info) and target.axis_info[0].unit_name in ("metre", "meter")
    doc.header["$INSUNITS"] = 6 if metres else 0
    doc.header["$MEASUREMENT"] = 1
    doc.header["$PDMODE"] = 34  # points drawn as a circle with a cross, visible in CAD
    doc.header["$PDSIZE"] = LABEL_HEIGHT_M / 2 if metres else 0
    if "TJ_CJK" not in doc.styles:
        doc.styles.add("TJ_CJK", font="simsun.ttc")
    msp = doc.modelspace()
    for lid, gdf in data.items():
        layer = catalog[lid]
        style = layer_style(layer)
        name = dxf_layer_name(layer)
        cad = doc.layers.add(name)
        cad.color = _nearest_aci(_rgb(style.stroke))
        cad.description = f"{display_title(layer)} ({layer.id}); 精度 / accuracy: {layer.accuracy_label}"
        g = gdf.to_crs(target)
        label_field = style.label_field or "name_zh"
        has_status = carto.status_field in g.columns
        for _, row in g.iterrows():
            geom = row.geometry
            if geom is None or geom.is_empty:
                continue
            status = str(row[carto.status_field]) if has_status and pd.notna(row[carto.status_field]) else ""
            linetype = STATUS_LINETYPES.get(status or carto.default_status, "CONTINUOUS")
            attribs = {"layer": name, "linetype": linetype}
            approximate = carto.is_approximate(row.get(carto.accuracy_field))
            kind = geom.geom_type
            parts = list(getattr(geom, "geoms", [geom]))
            for part in parts:
                if part.geom_type == "Point":
                    msp.add_point((part.x, part.y), dxfattribs={"layer": name})
                elif part.geom_type == "LineString":
                    msp.add_lwpolyline(list(part.coords), format="xy", dxfattribs=attribs)
                elif part.geom_type == "Polygon":
                    for ring in [part.exterior, *part.interiors]:
                        msp.add_lwpolyline(list(ring.coords)[:-1], format="xy", close=True, dxfattribs=attribs)
            text = _label_text(row, label_field, carto.label_suffix, approximate)
            if text:
                if kind in ("Point", "MultiPoint"):
                    anchor = parts[0]
                elif kind in ("LineString", "MultiLineString"):
                    longest = max(parts, key=lambda p: p.length)
                    anchor = longest.interpolate(0.5, normalized=True)
                else:
                    anchor = shapely.point_on_surface(geom)
                msp.add_text(
                    text, height=LABEL_HEIGHT_M, dxfattribs={"layer": name, "style": "TJ_CJK", "color": colors.BYLAYER}
                ).set_placement((anchor.x, anchor.y))
    with atomic_path(path) as tmp:
        doc.saveas(tmp)
    with atomic_path(path.with_suffix(".prj")) as tmp:
        tmp.write_text(target.to_wkt("WKT1_ESRI") or target.to_wkt(), encoding="ascii")
    return path


def write_kml(gdf: gpd.GeoDataFrame, layer: Layer, path: str | Path, *, catalog: Catalog | None = None) -> Path:
    """Write one layer as KML (WGS 84): placemark name = ``name_zh``, description = title, accuracy, source,
    licence. Atomic.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The features (any CRS; written in EPSG:4326).
    layer : Layer
        Its catalog layer.
    path : str or pathlib.Path
        Target ``.kml``.
    catalog : Catalog, optional
        The catalog (licences); default ``tj.get_catalog()``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    catalog = catalog or get_catalog()
    path = Path(path)
    licences = " | ".join(layer_licences(layer, catalog))
    out = gdf.to_crs("EPSG:4326").copy()

    def describe(row: pd.Series) -> str:
        acc = str(row.get("accuracy") or layer.accuracy)
        zh, en = ACCURACY_CLASSES.get(acc, (acc, acc))
        return (
            f"{display_title(layer)}\n精度 / accuracy: {zh} / {en}\n来源 / source: {row.get('source', '')}\n"
            f"许可 / licence: {licences}"
        )

    out["description"] = out.apply(describe, axis=1) if len(out) else pd.Series([], dtype=object)
    cols = ["name_zh", "description"] + [c for c in out.columns if c not in ("name_zh", "description", "geometry")]
    out = out[cols + ["geometry"]]
    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(
            out,
            tmp,
            driver="KML",
            layer=layer.id,
            dataset_options={"NameField": "name_zh", "DescriptionField": "description"},
        )
    return path
