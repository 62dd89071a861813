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
from tjspatial.errors import InputError


def test_cell_fractions_exact_for_circle_and_polygon_with_hole():
    t, shape = grid_for_bounds((0, 0, 20_000, 20_000), 100)
    circle = shapely.buffer(shapely.Point(10_037.0, 9_911.0), 800, quad_segs=16)
    r, c, w = cell_fractions(circle, t, shape)
    assert w.sum() * 100 * 100 == pytest.approx(circle.area, rel=1e-12)
    poly = shapely.Polygon(
        [(1000, 1000), (5050, 1000), (5050, 5020), (1000, 5020)], [[(2000.5, 2000.5), (3000.2, 2000.5), (2500, 3000.7)]]
    )
    r, c, w = cell_fractions(poly, t, shape)
    assert w.sum() * 1e4 == pytest.approx(poly.area, rel=1e-12)
    assert w.max() == 1.0 and w.min() > 0


def test_geotiff_partial_cells_weighted_by_covered_area(tmp_path):
    values = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype="float32") * 100
    transform = Affine(100, 0, 500_000, 0, -100, 4_300_300)
    path = tmp_path / "pop.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=3,
        width=3,
        count=1,
        dtype="float32",
        crs="EPSG:4548",
        transform=transform,
        nodata=-1,
    ) as dst:
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
    polys = gpd.GeoDataFrame(
        {"persons": [100.0, 300.0]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)],
        crs="EPSG:4548",
    )
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
    assert grid.variant == "model" and grid.attrs["population_variant"] == "model"
    assert np.array_equal(grid.values, np.round(grid.values))  # whole persons
    assert np.array_equal(grid.pieces.persons, np.round(grid.pieces.persons))
    # zonal sums over the district polygons give the census totals to the person: the cells a boundary or
    # the coast crosses are kept as pieces of one district each (和平 was 349,414 by area-split cells)
    z = grid.zonal_sum(tj.load("districts", built_gpkg))
    census = tj.load("districts", built_gpkg)["pop_2020"].to_numpy()
    assert np.abs(z - census).max() < 1e-3
    assert (np.round(z).astype(np.int64) == census).all()
    # a cell wholly inside a big water polygon holds nobody
    water = tj.to_metric(tj.load("water", built_gpkg))
    big = water.geometry.values[np.argmax(water.area.to_numpy())]
    r, c, w = cell_fractions(big, grid.transform, grid.shape)
    full = w == 1.0
    assert full.sum() > 0 and grid.values[r[full], c[full]].sum() == 0


def test_every_coverage_pop_total_is_the_census(built_gpkg):
    grid = tj.population(path=built_gpkg)
    census = tj.load("districts", built_gpkg).set_index("name_zh")["pop_2020"]
    for areas in ("districts", "zones", "dual_city", "boundary"):
        res = tj.coverage(None, grid, areas, distance=800, kind="metro", path=built_gpkg)
        layer = tj.load(areas, built_gpkg)
        want = layer["pop_2020"].to_numpy() if "pop_2020" in layer else np.array([census.sum()])
        assert (np.round(res["pop_total"].to_numpy()).astype(np.int64) == want).all(), areas
    assert want[0] == 13_866_009


def _binhai_cores(built_gpkg):
    from tjspatial.analysis.population import population_centres

    c = population_centres()
    bh = c[c["district_zh"] == "滨海新区"]
    return c, shapely.union_all(
        shapely.buffer(shapely.points(bh[["x", "y"]].to_numpy()), bh["radius_km"].to_numpy() * 1000)
    )


def test_binhai_lives_in_its_urban_cores_and_township_counts_hold(built_gpkg):
    grid = tj.population(path=built_gpkg)
    centres, cores = _binhai_cores(built_gpkg)
    binhai = 2_067_318
    in_cores = grid.zonal_sum([cores], crs="EPSG:4548")[0]
    assert in_cores / binhai >= 0.70  # was 12 % in 塘沽 + TEDA + 于家堡 with the settlements-only model
    assert shapely.area(cores) / 1e6 < 300  # on about an eighth of the district's 2,368 km²
    published = {"大港": 166_134, "大沽": 97_854, "北塘": 70_356, "茶淀": 69_844}
    rows = centres[centres["census_2020"].notna()]
    assert len(rows) == 4
    for _, r in rows.iterrows():
        key = next(k for k in published if k in r["name_zh"])
        assert int(r["census_2020"]) == published[key]
        circle = shapely.buffer(shapely.Point(r["x"], r["y"]), r["radius_km"] * 1000)
        got = grid.zonal_sum([circle], crs="EPSG:4548")[0]
        assert got == pytest.approx(published[key], rel=0.05), r["name_zh"]


def test_kernels_stay_inside_their_district(built_gpkg):
    """宁河's seat 芦台 lies 2 km from the 滨海 border: a stronger seat kernel must not move anyone into 滨海."""
    from tjspatial.analysis.population import model_population

    a = model_population(path=built_gpkg)
    b = model_population(path=built_gpkg, seat_peak=500.0)
    split = np.zeros(a.shape, bool)
    split[a.pieces.rows, a.pieces.cols] = True  # cells shared with a neighbour: compared piece by piece
    binhai = (a.district == a.district_names.index("滨海新区")) & ~split
    pa = a.pieces.district == a.district_names.index("滨海新区")
    assert np.array_equal(a.values[binhai], b.values[binhai])
    assert np.array_equal(a.pieces.persons[pa], b.pieces.persons[pa])
    ninghe = a.district == a.district_names.index("宁河区")
    assert not np.array_equal(a.values[ninghe], b.values[ninghe])


def test_uninhabited_land_is_down_weighted(built_gpkg):
    grid = tj.population(path=built_gpkg)
    districts = tj.to_metric(tj.load("districts", built_gpkg)).set_index("name_zh")
    for layer, district in (("port_districts", "滨海新区"), ("airport", "东丽区")):
        zone = tj.to_metric(tj.load(layer, built_gpkg))
        density = grid.zonal_sum(zone).sum() / (zone.area.sum() / 1e6)
        mean = districts.loc[district, "pop_2020"] / (districts.loc[district].geometry.area / 1e6)
        assert density < mean / 10, layer  # port land ~40 /km² against 滨海's 873 /km²


def test_model_variants_keep_the_census_and_differ(built_gpkg):
    from tjspatial.analysis.population import MODEL_VARIANTS, model_population

    assert set(MODEL_VARIANTS) == {"model", "settlements_only", "cores_wide", "cores_tight", "modis_urban"}
    census = tj.load("districts", built_gpkg)["pop_2020"].to_numpy()
    g = model_population(path=built_gpkg, variant="cores_wide")
    assert (g.district_totals().to_numpy() == census).all()
    assert "cores_wide" in g.source and g.params["core_radius_scale"] == 1.5
    with pytest.raises(InputError, match="unknown population model variant 'nope'"):
        model_population(path=built_gpkg, variant="nope")
    with pytest.raises(TypeError, match="unknown parameter"):
        model_population(path=built_gpkg, sigma=3)


def test_township_constraints_name_real_streets(built_gpkg):
    """The four published counts belong to 街道 of 滨海新区 in the NBS 2023 code list."""
    import pandas as pd
    from pathlib import Path
    from tjspatial.analysis.population import population_centres

    nbs = pd.read_csv(Path(__file__).resolve().parents[1] / "layers" / "sources" / "towns_streets_nbs2023.csv")
    streets = set(nbs.loc[nbs["district_zh"] == "滨海新区", "name_zh"])
    c = population_centres(built_gpkg)
    for name in c.loc[c["census_2020"].notna(), "name_zh"]:
        street = name.split("（")[0]
        street = street if street.endswith("街道") else street.replace("城区", "街道")
        assert street in streets, name
    assert int(c["census_2020"].sum()) == 166_134 + 97_854 + 70_356 + 69_844


def test_population_raster_missing_or_unreadable_names_the_file(tmp_path):
    from tjspatial.errors import MissingFileError

    with pytest.raises(MissingFileError, match=r"no population raster at .*none\.tif"):
        tj.population(tmp_path / "none.tif")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(InputError, match=r"population raster .*bad\.tif is not a readable raster"):
        tj.population(bad)
