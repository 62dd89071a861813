"""Population: the bundled modelled grid, GeoTIFF zonal sums with partial cells, areal weighting."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

import tjspatial as tj
from tjspatial.analysis.grid import cell_fractions, grid_for_bounds
from tjspatial.analysis.population import PopulationGrid, PopulationPolygons


def test_cell_fractions_exact_for_circle_and_polygon_with_hole():
    t, shape = grid_for_bounds((0, 0, 20_000, 20_000), 100)
    circle = shapely.buffer(shapely.Point(10_037.0, 9_911.0), 800, quad_segs=16)
    r, c, w = cell_fractions(circle, t, shape)
    assert w.sum() * 100 * 100 == pytest.approx(circle.area, rel=1e-12)
    poly = shapely.Polygon([(1000, 1000), (5050, 1000), (5050, 5020), (1000, 5020)],
                           [[(2000.5, 2000.5), (3000.2, 2000.5), (2500, 3000.7)]])
    r, c, w = cell_fractions(poly, t, shape)
    assert w.sum() * 1e4 == pytest.approx(poly.area, rel=1e-12)
    assert w.max() == 1.0 and w.min() > 0


def test_geotiff_partial_cells_weighted_by_covered_area(tmp_path):
    values = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype="float32") * 100
    transform = Affine(100, 0, 500_000, 0, -100, 4_300_300)
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=3, width=3, count=1, dtype="float32",
                       crs="EPSG:4548", transform=transform, nodata=-1) as dst:
        dst.write(values, 1)
    pop = tj.population(path)
    assert isinstance(pop, PopulationGrid) and pop.total == 4500
    # the left half of the top row (cells 100, 200, half of 300 -> x from 500000 to 500250), and a quarter of
    # the centre cell (500) from its lower-left corner
    zone_a = shapely.box(500_000, 4_300_200, 500_250, 4_300_300)
    zone_b = shapely.box(500_100, 4_300_100, 500_150, 4_300_150)
    sums = pop.zonal_sum(gpd.GeoSeries([zone_a, zone_b], crs="EPSG:4548"))
    assert sums[0] == pytest.approx(100 + 200 + 0.5 * 300, rel=1e-12)
    assert sums[1] == pytest.approx(0.25 * 500, rel=1e-12)
    # the same zone given in EPSG:4326 is projected to the raster's CRS first
    sums_ll = pop.zonal_sum(gpd.GeoSeries([zone_a], crs="EPSG:4548").to_crs("EPSG:4326"))
    assert sums_ll[0] == pytest.approx(450, rel=1e-6)


def test_polygons_areal_weighting():
    polys = gpd.GeoDataFrame({"persons": [100.0, 300.0]},
                             geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)],
                             crs="EPSG:4548")
    pop = tj.population(polys)
    assert isinstance(pop, PopulationPolygons) and pop.column == "persons"
    zone = gpd.GeoSeries([shapely.box(500, 0, 1500, 1000), shapely.box(0, 0, 250, 500)], crs="EPSG:4548")
    assert pop.zonal_sum(zone) == pytest.approx([50 + 150, 100 / 8])


def test_polygons_without_count_column_is_an_error():
    polys = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4548")
    with pytest.raises(ValueError, match="no count column"):
        tj.population(polys)


def test_bundled_grid_sums_exactly_to_census(built_gpkg):
    grid = tj.population(path=built_gpkg)
    districts = tj.load("districts", built_gpkg).set_index("name_zh")
    totals = grid.district_totals()
    assert (totals.to_numpy() == districts.loc[totals.index, "pop_2020"].to_numpy()).all()
    assert grid.total == 13_866_009
    assert grid.accuracy == "modelled" and grid.year == 2020 and grid.cell_area_m2 == 250 * 250
    assert np.array_equal(grid.values, np.round(grid.values))  # whole persons
    # zonal sums by district polygon agree with the census within the cells the boundaries split (< 2 %)
    z = grid.zonal_sum(tj.load("districts", built_gpkg))
    assert np.abs(z / tj.load("districts", built_gpkg)["pop_2020"].to_numpy() - 1).max() < 0.02
    # a cell wholly inside a big water polygon holds nobody
    water = tj.to_metric(tj.load("water", built_gpkg))
    big = water.geometry.values[np.argmax(water.area.to_numpy())]
    r, c, w = cell_fractions(big, grid.transform, grid.shape)
    full = w == 1.0
    assert full.sum() > 0 and grid.values[r[full], c[full]].sum() == 0
