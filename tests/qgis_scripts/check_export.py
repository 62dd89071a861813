"""Open a tjspatial export in real QGIS (PyQGIS, run under Debian's /usr/bin/python3) and report what it sees.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 check_export.py EXPORT_DIR OUT_PNG

Prints one JSON object on stdout: project CRS, layer tree groups, custom draw order, and for each project
layer its validity, feature count, renderer (type, attribute, categories with colours, symbol colours,
data-defined properties, dash use), labelling, metadata; the same for each GeoPackage layer loaded directly
(default style from ``layer_styles``); for shapefiles loaded directly (sidecar .qml/.qmd); and statistics of
the project rendered to OUT_PNG. The pytest side (tests/test_qgis_real.py) asserts on it.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (
    QgsApplication,
    QgsExpressionContextUtils,
    QgsLayoutExporter,  # noqa: E402
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsRenderContext,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402


def _plain(value):
    """JSON for QVariant values (NULL → null)."""
    if hasattr(value, "isNull") and value.isNull():
        return None
    return str(value.value()) if hasattr(value, "value") else str(value)


def symbol_info(symbol):
    layers = []
    for i in range(symbol.symbolLayerCount()):
        sl = symbol.symbolLayer(i)
        props = sl.properties()
        dd = sl.dataDefinedProperties()
        active = {}
        for key in dd.propertyKeys():
            prop = dd.property(key)
            if prop.isActive():
                active[str(key)] = prop.expressionString() or prop.field()
        layers.append(
            {
                "class": sl.layerType(),
                "color": sl.color().name(),
                "alpha": sl.color().alpha(),
                "stroke": (sl.strokeColor().name() if hasattr(sl, "strokeColor") else None),
                "use_custom_dash": props.get("use_custom_dash"),
                "customdash": props.get("customdash"),
                "data_defined": active,
            }
        )
    return {"type": symbol.type(), "layers": layers}


def _main_line(sym_info):
    lines = [sl for sl in sym_info["layers"] if sl["class"] == "SimpleLine"]
    main = lines[-1] if lines else sym_info["layers"][-1]
    return main


def features_vs_legend(layer, key_field):
    """For every feature: the legend items it is drawn with, and whether the drawn symbol equals the legend's."""
    r = layer.renderer()
    ctx = QgsRenderContext()
    ctx.expressionContext().appendScopes(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
    legend = {item.ruleKey(): item for item in r.legendSymbolItems()}
    r.startRender(ctx, layer.fields())
    out = []
    for f in layer.getFeatures():
        ctx.expressionContext().setFeature(f)
        keys = sorted(k for k in r.legendKeysForFeature(f, ctx) if k in legend)
        drawn = [symbol_info(s) for s in r.symbolsForFeature(f, ctx)]
        shown = [symbol_info(legend[k].symbol()) for k in keys if k in legend]
        out.append(
            {
                "key": _plain(f[key_field]),
                "status": _plain(f["status"]) if "status" in f.fields().names() else None,
                "accuracy": _plain(f["accuracy"]),
                "legend": [legend[k].label() for k in keys],
                "drawn_dash": [_main_line(d)["use_custom_dash"] for d in drawn],
                "drawn_layers": [len(d["layers"]) for d in drawn],
                "legend_matches": drawn == shown,
            }
        )
    r.stopRender(ctx)
    return out


def renderer_info(layer):
    r = layer.renderer()
    info = {"type": r.type() if r else None}
    if r is None:
        return info
    if r.type() == "RuleRenderer":
        info["rules"] = [
            {
                "label": rule.label(),
                "filter": rule.filterExpression(),
                "symbol": symbol_info(rule.symbol()) if rule.symbol() else None,
            }
            for rule in r.rootRule().children()
        ]
        info["legend"] = [{"label": it.label(), "symbol": symbol_info(it.symbol())} for it in r.legendSymbolItems()]
    if r.type() == "categorizedSymbol":
        info["attr"] = r.classAttribute()
        info["categories"] = [
            {
                "value": c.value() if c.value() is not None else None,
                "label": c.label(),
                "color": c.symbol().color().name(),
                "symbol": symbol_info(c.symbol()),
            }
            for c in r.categories()
        ]
    elif r.type() == "singleSymbol":
        info["symbol"] = symbol_info(r.symbol())
        info["color"] = r.symbol().color().name()
    return info


def layer_info(layer):
    labeling = layer.labeling() if layer.labelsEnabled() else None
    md = layer.metadata()
    return {
        "name": layer.name(),
        "valid": layer.isValid(),
        "features": layer.featureCount(),
        "crs": layer.crs().authid(),
        "wkb_type": QgsWkbTypes.displayString(layer.wkbType()),
        "renderer": renderer_info(layer),
        "label_field": labeling.settings().fieldName if labeling is not None else None,
        "label_font": labeling.settings().format().font().family() if labeling is not None else None,
        "title": md.title(),
        "abstract": md.abstract(),
        "licenses": list(md.licenses()),
        "rights": list(md.rights()),
        "keywords": {k: list(v) for k, v in md.keywords().items()},
        "first_name_zh": next(layer.getFeatures()).attribute("name_zh") if layer.featureCount() else None,
        "aliases": {fld.name(): layer.attributeAlias(i) for i, fld in enumerate(layer.fields())},
        "label_expression": labeling.settings().isExpression if labeling is not None else None,
        "label_scale": (
            [labeling.settings().scaleVisibility, labeling.settings().minimumScale] if labeling is not None else None
        ),
    }


def image_stats(path):
    from qgis.PyQt.QtGui import QImage

    img = QImage(str(path))
    w, h = img.width(), img.height()
    step = 4
    values, colours, non_bg = [], set(), 0
    bg = QColor(255, 255, 255).rgb()
    for y in range(0, h, step):
        for x in range(0, w, step):
            px = img.pixel(x, y)
            colours.add(px)
            c = QColor(px)
            values.append(0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue())
            if px != bg:
                non_bg += 1
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / n
    return {
        "width": w,
        "height": h,
        "variance": var,
        "distinct_colours": len(colours),
        "non_background_fraction": non_bg / n,
    }


def main():
    export_dir, png = Path(sys.argv[1]), Path(sys.argv[2])
    app = QgsApplication([], False)
    app.initQgis()
    out = {}
    project = QgsProject.instance()
    out["read"] = project.read(str(export_dir / "tianjin.qgz"))
    out["crs"] = project.crs().authid()
    root = project.layerTreeRoot()
    out["groups"] = [
        {"name": g.name(), "layers": [n.name() for n in g.findLayers()]} for g in root.children() if g.nodeType() == 0
    ]
    out["has_custom_order"] = root.hasCustomLayerOrder()
    out["draw_order"] = [lay.name() for lay in root.layerOrder()]
    out["tree_order"] = [n.name() for n in root.findLayers()]
    out["themes"] = {
        name: [lay.name() for lay in project.mapThemeCollection().mapThemeVisibleLayers(name)]
        for name in project.mapThemeCollection().mapThemes()
    }
    out["bookmarks"] = [
        {
            "name": b.name(),
            "group": b.group(),
            "crs": b.extent().crs().authid(),
            "extent": [b.extent().xMinimum(), b.extent().yMinimum(), b.extent().xMaximum(), b.extent().yMaximum()],
        }
        for b in project.bookmarkManager().bookmarks()
    ]
    out["layouts"] = {}
    for i, layout in enumerate(project.layoutManager().printLayouts()):
        page = layout.pageCollection().page(0)
        items = [type(it).__name__ for it in layout.items() if hasattr(it, "uuid")]
        maps = [it for it in layout.items() if type(it).__name__ == "QgsLayoutItemMap"]
        labels = [it.currentText() for it in layout.items() if type(it).__name__ == "QgsLayoutItemLabel"]
        pdf = png.parent / f"layout_{i}.pdf"
        exporter = QgsLayoutExporter(layout)
        settings = QgsLayoutExporter.PdfExportSettings()
        settings.dpi = 96
        result = exporter.exportToPdf(str(pdf), settings)
        info = {
            "page_mm": [page.pageSize().width(), page.pageSize().height()],
            "items": sorted(items),
            "pdf_result": int(result),
            "pdf_bytes": pdf.stat().st_size if pdf.exists() else 0,
            "pdf_head": pdf.read_bytes()[:5].decode("ascii", "replace") if pdf.exists() else "",
            "map_theme": maps[0].followVisibilityPresetName() if maps else None,
            "map_follows": maps[0].followVisibilityPreset() if maps else None,
            "map_scale": maps[0].scale() if maps else None,
            "labels": labels,
        }
        if i == 0:
            img_path = png.parent / "layout_0.png"
            img_settings = QgsLayoutExporter.ImageExportSettings()
            img_settings.dpi = 40
            info["png_result"] = int(exporter.exportToImage(str(img_path), img_settings))
            info["png_stats"] = image_stats(img_path)
        out["layouts"][layout.name()] = info
    lines = {}
    for lay in project.mapLayers().values():
        sid = lay.source().split("layername=")[-1]
        if sid in ("intercity_rail", "metro_lines", "planned_rail"):
            lines[sid] = features_vs_legend(lay, "line_id")
    out["line_features"] = lines
    dxf = export_dir / "dxf" / "tianjin.dxf"
    if dxf.exists():  # read by QGIS's own GDAL (Debian's), as a QGIS user adding the DXF would
        lay = QgsVectorLayer(f"{dxf}|layername=entities", "dxf", "ogr")
        idx = lay.fields().indexOf("Layer")
        ext = lay.extent()
        out["dxf"] = {
            "valid": lay.isValid(),
            "crs_units": lay.crs().mapUnits() if lay.crs().isValid() else None,
            "layers": sorted(str(v) for v in lay.uniqueValues(idx)),
            "texts": sorted({str(f["Text"]) for f in lay.getFeatures() if f["Text"]}),
            "extent": [ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum()],
        }
    out["project_layers"] = {}
    for lay in project.mapLayers().values():
        source_id = lay.source().split("layername=")[-1]
        out["project_layers"][source_id] = layer_info(lay)

    out["gpkg_layers"] = {}
    for source_id in out["project_layers"]:
        lay = QgsVectorLayer(f"{export_dir / 'tianjin.gpkg'}|layername={source_id}", source_id, "ogr")
        out["gpkg_layers"][source_id] = layer_info(lay)

    out["shp_layers"] = {}
    for shp in sorted((export_dir / "shp").glob("*.shp")):
        lay = QgsVectorLayer(str(shp), shp.stem, "ogr")  # loads <stem>.qml as the default style
        lay.loadDefaultMetadata()  # <stem>.qmd, as QGIS desktop does when a layer is added
        out["shp_layers"][shp.stem] = layer_info(lay)

    settings = QgsMapSettings()
    settings.setLayers(root.layerOrder())
    settings.setDestinationCrs(project.crs())
    settings.setTransformContext(project.transformContext())
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setOutputSize(QSize(1400, 1100))
    extent = None
    for lay in root.layerOrder():
        ext = settings.layerExtentToOutputExtent(lay, lay.extent())
        if extent is None:
            extent = ext
        else:
            extent.combineExtentWith(ext)
    extent.scale(1.05)
    settings.setExtent(extent)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(png), "PNG")
    out["render"] = image_stats(png)
    out["render"]["errors"] = [f"{e.layerID}: {e.message}" for e in job.errors()]
    # a layer the user adds at the top of the panel draws on top (no custom order)
    user = QgsVectorLayer("Point?crs=EPSG:4326", "user layer", "memory")
    project.addMapLayer(user, False)
    root.insertLayer(0, user)
    out["user_layer_draws_first"] = root.layerOrder()[0].name() == "user layer"
    out["user_layer_first_in_canvas_order"] = [lay.name() for lay in root.layerOrder()][:2]
    print(json.dumps(out, ensure_ascii=False, default=_plain))
    app.exitQgis()


if __name__ == "__main__":
    main()
