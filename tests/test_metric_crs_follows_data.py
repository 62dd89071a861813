"""Geometry projected with ``to_metric`` is labelled with the CRS ``to_metric`` chose, not a fixed EPSG:4548."""

import geopandas as gpd
import numpy as np
import shapely

from tjspatial.catalog import get_catalog
from tjspatial.crs import metric_crs_for, to_metric
from tjspatial.publish.webmap import display_layer
from tjspatial.styles import load_style


def test_web_map_simplification_keeps_data_outside_tianjins_zone_in_place():
    # a lake-sized square and a line at Chengdu (104°E): measured in EPSG:4544 (CM 105°E), not EPSG:4548
    square = shapely.Polygon([(104.0, 30.6), (104.01, 30.6), (104.01, 30.61), (104.0, 30.61)]).segmentize(0.0002)
    line = shapely.LineString([(104.0, 30.7), (104.02, 30.7)]).segmentize(0.0002)
    cat = get_catalog()
    for geom, lid in ((square, "water"), (line, "coastline")):
        gdf = gpd.GeoDataFrame(
            {"name_zh": ["x"], "name_en": ["x"], "accuracy": ["derived"], "source": ["t"]},
            geometry=[geom],
            crs="EPSG:4326",
        )
        assert metric_crs_for(gdf) == "EPSG:4544"
        disp = display_layer(gdf, cat[lid], load_style(cat[lid].style), 25.0)
        assert len(disp) == 1
        assert np.allclose(disp.total_bounds, gdf.total_bounds, atol=2e-5)  # in place (was ~1,200 km off)
        assert shapely.get_num_coordinates(disp.geometry.values[0]) < shapely.get_num_coordinates(geom)
        a, b = to_metric(gdf).geometry.values[0], to_metric(disp).geometry.values[0]
        assert abs(a.length - b.length) / a.length < 0.01
