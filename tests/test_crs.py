import geopandas as gpd
import numpy as np
import pytest
import shapely

from tjspatial import crs


def _grid(n=200):
    rng = np.random.default_rng(42)
    lon = rng.uniform(116.7, 118.1, n)
    lat = rng.uniform(38.5, 40.3, n)
    return lon, lat


def _dist_m(lon1, lat1, lon2, lat2):
    g1 = gpd.GeoSeries(shapely.points(lon1, lat1), crs=4326).to_crs(crs.METRIC_CRS)
    g2 = gpd.GeoSeries(shapely.points(lon2, lat2), crs=4326).to_crs(crs.METRIC_CRS)
    return g1.distance(g2, align=False).to_numpy()


def test_gcj_offset_in_tianjin_is_about_550_m():
    lon, lat = 117.2037, 39.1358  # 天津站
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    d = _dist_m([lon], [lat], [glon], [glat])[0]
    assert 450 < d < 650


@pytest.mark.parametrize(
    "wlat,wlon,glat,glon",
    [  # the published algorithm's test vectors (eviltransform)
        (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
        (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
        (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
    ],
)
def test_gcj_matches_published_vectors(wlat, wlon, glat, glon):
    x, y = crs.wgs84_to_gcj02(wlon, wlat)
    assert x == pytest.approx(glon, abs=1e-9) and y == pytest.approx(glat, abs=1e-9)
    back = crs.gcj02_to_wgs84(glon, glat)
    assert _dist_m([wlon], [wlat], *back)[0] < 0.5


def test_gcj_round_trip_under_half_a_metre_on_many_points():
    lon, lat = _grid(5000)
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    d = _dist_m(lon, lat, *back)
    assert d.max() < 0.5
    assert d.max() < 0.01  # in fact millimetres


def test_bd09_round_trip():
    lon, lat = _grid(1000)
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert _dist_m(lon, lat, *back).max() < 1.0
    g = crs.wgs84_to_gcj02(lon, lat)
    b = crs.gcj02_to_bd09(*g)
    # BD-09 adds roughly another 0.0065 deg lon / 0.006 deg lat
    assert np.all(np.abs(b[0] - g[0] - 0.0065) < 0.002)


def test_outside_china_unchanged():
    lon, lat = np.array([2.35, -73.99]), np.array([48.85, 40.73])
    assert np.array_equal(crs.wgs84_to_gcj02(lon, lat)[0], lon)
    assert np.array_equal(crs.gcj02_to_wgs84(lon, lat)[1], lat)


def test_convert_gdf_polygons_and_round_trip():
    poly = shapely.Polygon([(117.1, 39.0), (117.3, 39.0), (117.3, 39.2), (117.1, 39.2)])
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[poly], crs=4326)
    g = crs.convert_gdf(gdf, "wgs84", "gcj02")
    assert not g.geometry.iloc[0].equals(poly)
    back = crs.convert_gdf(g, "gcj02", "wgs84")
    assert shapely.hausdorff_distance(back.geometry.iloc[0], poly) < 1e-8
    with pytest.raises(crs.CRSError):
        crs.convert_gdf(gdf.to_crs(crs.METRIC_CRS), "wgs84", "gcj02")


def test_buffer_refuses_degrees_and_web_mercator():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(117.2, 39.1)], crs=4326)
    with pytest.raises(crs.CRSError, match="geographic"):
        crs.buffer_m(gdf, 800)
    with pytest.raises(crs.CRSError, match="Web Mercator"):
        crs.buffer_m(gdf.to_crs(3857), 800)
    m = crs.to_metric(gdf)
    assert m.crs.to_epsg() == 4548
    area = crs.buffer_m(m, 800, quad_segs=64).area.iloc[0]
    assert area == pytest.approx(np.pi * 800**2, rel=1e-3)


def test_check_gcj02_flags_shifted_points_and_not_true_ones():
    ref = crs.reference_points()
    assert not crs.check_gcj02(ref).probable
    shifted = crs.convert_gdf(ref, "wgs84", "gcj02")
    chk = crs.check_gcj02(shifted)
    assert chk.probable and chk.method == "named points"
    assert 450 < chk.offset_m < 650 and chk.offset_if_gcj_m < 1
    # 100 m of noise is not GCJ-02
    noisy = ref.copy()
    noisy["geometry"] = noisy.geometry.translate(0.001, 0.0)
    assert not crs.check_gcj02(noisy).probable


def test_check_gcj02_polygons_against_reference_layer():
    poly = shapely.Polygon([(117.0, 39.0), (117.4, 39.0), (117.4, 39.3), (117.0, 39.3)]).segmentize(0.01)
    ref = gpd.GeoDataFrame(geometry=[poly], crs=4326)
    assert not crs.check_gcj02(ref, ref).probable
    chk = crs.check_gcj02(crs.convert_gdf(ref, "wgs84", "gcj02"), ref)
    assert chk.probable and chk.method == "nearest vertex"


# ------------------------------------------------------------------------------------------ the metric CRS follows the data
@pytest.mark.parametrize(
    "name,lon,lat,epsg",
    [
        ("天津站", 117.20368, 39.13575, 4548),
        ("成都", 104.0657, 30.6595, 4544),
        ("乌鲁木齐", 87.6168, 43.8256, 4538),
        ("哈尔滨", 126.535, 45.803, 4551),
    ],
)
def test_an_800_m_buffer_is_800_m_geodesically_where_the_data_is(name, lon, lat, epsg):
    from pyproj import Geod

    gdf = gpd.GeoDataFrame({"name_zh": [name]}, geometry=[shapely.Point(lon, lat)], crs=4326)
    m = crs.to_metric(gdf)
    assert m.crs.to_epsg() == epsg == int(crs.metric_crs_for(gdf).split(":")[1])
    ring = gpd.GeoSeries([shapely.buffer(m.geometry.iloc[0], 800, quad_segs=64).exterior], crs=m.crs).to_crs(4326)
    xy = shapely.get_coordinates(ring.values)
    geod = Geod(ellps="GRS80")  # CGCS2000's ellipsoid
    _, _, dist = geod.inv(np.full(len(xy), lon), np.full(len(xy), lat), xy[:, 0], xy[:, 1])
    assert np.abs(dist - 800).max() < 0.1  # within 10 cm all round
    # the fixed Tianjin zone (CM 117E) would not: its map metres are stretched away from 117E, so an "800 m"
    # buffer covers 785 m of ground at Chengdu and 748 m at Urumqi (a true 800 m reads as 815 m / 856 m there)
    fixed = gpd.GeoSeries(
        [shapely.buffer(crs.to_metric(gdf, "EPSG:4548").geometry.iloc[0], 800, quad_segs=64).exterior], crs=4548
    ).to_crs(4326)
    fxy = shapely.get_coordinates(fixed.values)
    _, _, fdist = geod.inv(np.full(len(fxy), lon), np.full(len(fxy), lat), fxy[:, 0], fxy[:, 1])
    expected = {4548: 800.0, 4544: 785.0, 4538: 748.1, 4551: 794.6}[epsg]
    assert fdist.mean() == pytest.approx(expected, abs=0.3)


def test_metric_crs_for_zones_bounds_and_outside_china():
    assert crs.metric_crs_for(117.2) == "EPSG:4548" == crs.METRIC_CRS
    assert crs.metric_crs_for((116.7, 38.5, 118.1, 40.3)) == "EPSG:4548"  # all of Tianjin
    assert crs.metric_crs_for(75.1) == "EPSG:4534" and crs.metric_crs_for(134.9) == "EPSG:4554"
    assert crs.metric_crs_for((2.2, 48.8, 2.5, 48.9)) == "EPSG:32631"  # Paris: UTM 31N
    assert crs.metric_crs_for((151.1, -33.9, 151.3, -33.8)) == "EPSG:32756"  # Sydney: UTM 56S
    tianjin_m = gpd.GeoDataFrame(geometry=[shapely.Point(500_000, 4_330_000)], crs=4548)
    assert crs.metric_crs_for(tianjin_m) == "EPSG:4548" and crs.to_metric(tianjin_m) is tianjin_m
    assert crs.metric_crs_for(gpd.GeoDataFrame(geometry=[], crs=4326)) == "EPSG:4548"
    with pytest.raises(crs.CRSError, match="no CRS"):
        crs.metric_crs_for(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)]))
