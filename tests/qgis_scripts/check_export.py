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

from qgis.core import (QgsApplication, QgsMapRendererSequentialJob, QgsMapSettings, QgsProject,  # noqa: E402
                       QgsVectorLayer, QgsWkbTypes)
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
        layers.append({
            "class": sl.layerType(),
            "color": sl.color().name(),
            "alpha": sl.color().alpha(),
            "stroke": (sl.strokeColor().name() if hasattr(sl, "strokeColor") else None),
            "use_custom_dash": props.get("use_custom_dash"),
            "customdash": props.get("customdash"),
            "data_defined": active,
        })
    return {"type": symbol.type(), "layers": layers}


def renderer_info(layer):
    r = layer.renderer()
    info = {"type": r.type() if r else None}
    if r is None:
        return info
    if r.type() == "categorizedSymbol":
        info["attr"] = r.classAttribute()
        info["categories"] = [{"value": c.value() if c.value() is not None else None, "label": c.label(),
                               "color": c.symbol().color().name(), "symbol": symbol_info(c.symbol())}
                              for c in r.categories()]
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
    return {"width": w, "height": h, "variance": var, "distinct_colours": len(colours),
            "non_background_fraction": non_bg / n}


def main():
    export_dir, png = Path(sys.argv[1]), Path(sys.argv[2])
    app = QgsApplication([], False)
    app.initQgis()
    out = {}
    project = QgsProject.instance()
    out["read"] = project.read(str(export_dir / "tianjin.qgz"))
    out["crs"] = project.crs().authid()
    root = project.layerTreeRoot()
    out["groups"] = [{"name": g.name(), "layers": [n.name() for n in g.findLayers()]} for g in root.children()
                     if g.nodeType() == 0]
    out["has_custom_order"] = root.hasCustomLayerOrder()
    out["draw_order"] = [lay.name() for lay in root.layerOrder()]
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
    print(json.dumps(out, ensure_ascii=False, default=_plain))
    app.exitQgis()


if __name__ == "__main__":
    main()
