"""Network (ITDP) coverage on a grid street graph with known walk distances."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from affine import Affine

import tjspatial as tj
from tjspatial.analysis.network_coverage import WalkNetwork, fill_holes, load_walk_graph, walk_catchment
from tjspatial.analysis.population import PopulationGrid

X0, Y0 = 500_000.0, 4_300_000.0


def grid_graph(n: int = 21, spacing: float = 100.0) -> nx.MultiDiGraph:
    """An n x n street grid in EPSG:4548 (osmnx conventions: x/y, length, both directions)."""
    g = nx.MultiDiGraph(crs="EPSG:4548")
    for i in range(n):
        for j in range(n):
            g.add_node((i, j), x=X0 + j * spacing, y=Y0 + i * spacing)
    for i in range(n):
        for j in range(n):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < n and j + dj < n:
                    g.add_edge((i, j), (i + di, j + dj), length=spacing)
                    g.add_edge((i + di, j + dj), (i, j), length=spacing)
    return g


def test_walked_length_matches_manhattan_walk_distances():
    g = grid_graph()
    centre = shapely.Point(X0 + 1000 + 3, Y0 + 1000 - 4)  # snaps to node (10, 10)
    area, info = walk_catchment(np.array([centre], dtype=object), g, 250.0)
    # levels k -> k+1 of Manhattan distance have 4, 12, 20 edges; walked 100, 100 and 50 m of them
    assert info["walked_km"] == pytest.approx((4 * 100 + 12 * 100 + 20 * 50) / 1000, rel=1e-12)
    assert info["stations_off_network"] == 0
    # the catchment is the 100 m buffer of exactly those streets (its 100 m blocks are covered anyway)
    segs = []
    for i in range(-3, 4):
        for j in range(-3, 4):
            d = 100 * (abs(i) + abs(j))
            for di, dj in ((0, 1), (1, 0)):
                d2 = 100 * (abs(i + di) + abs(j + dj))
                near, far = ((i, j), (i + di, j + dj)) if d <= d2 else ((i + di, j + dj), (i, j))
                dn = min(d, d2)
                reach = min(100.0, max(0.0, 250 - dn) + max(0.0, 250 - (dn + 100)))
                if reach > 0:
                    p = np.array([X0 + 1000 + near[1] * 100, Y0 + 1000 + near[0] * 100])
                    q = np.array([X0 + 1000 + far[1] * 100, Y0 + 1000 + far[0] * 100])
                    segs.append(shapely.LineString([p, p + (q - p) * reach / 100]))
    expected = shapely.union_all(shapely.buffer(np.array(segs), 100, quad_segs=4))
    assert area.area == pytest.approx(expected.area, rel=1e-9)
    assert shapely.symmetric_difference(area, expected).area < 1e-3


def test_network_coverage_population_and_attrs():
    g = grid_graph()
    values = np.full((40, 40), 2.0)  # 100 m cells over 4 km x 4 km
    pop = PopulationGrid(
        values=values,
        transform=Affine(100, 0, X0 - 1000, 0, -100, Y0 + 3000),
        crs="EPSG:4548",
        source="uniform",
        year=2020,
    )
    area = gpd.GeoDataFrame(
        {"name_zh": ["区"]}, geometry=[shapely.box(X0 - 1000, Y0 - 1000, X0 + 3000, Y0 + 3000)], crs="EPSG:4548"
    )
    st = gpd.GeoDataFrame(
        {"kind": ["metro"], "status": ["open"]}, geometry=[shapely.Point(X0 + 1000, Y0 + 1000)], crs="EPSG:4548"
    )
    res = tj.coverage(st, pop, area, distance=250, method="network", graph=g)
    net_area = res.attrs["catchments"].geometry.iloc[0].area
    assert res["pop_covered"].iloc[0] == pytest.approx(2.0 * net_area / 1e4, rel=1e-9)
    assert res["area_covered_km2"].iloc[0] == pytest.approx(net_area / 1e6, rel=1e-12)
    assert res.attrs["method"] == "network" and res.attrs["walk_buffer_m"] == 100
    # the walk catchment is smaller than the 250 m + 100 m circle would be, larger than the 250 m diamond
    assert 2 * 250**2 < net_area < np.pi * 350**2
    # a WalkNetwork built once gives the same answer
    res2 = tj.coverage(st, pop, area, distance=250, method="network", graph=WalkNetwork.from_graph(g))
    assert res2["pop_covered"].iloc[0] == res["pop_covered"].iloc[0]


def test_network_without_graph_is_a_clear_error():
    st = gpd.GeoDataFrame({"kind": ["metro"]}, geometry=[shapely.Point(X0, Y0)], crs="EPSG:4548")
    area = gpd.GeoDataFrame(geometry=[shapely.box(X0 - 10, Y0 - 10, X0 + 10, Y0 + 10)], crs="EPSG:4548")
    pop = PopulationGrid(
        values=np.ones((2, 2)), transform=Affine(100, 0, X0 - 100, 0, -100, Y0 + 100), crs="EPSG:4548", source="t"
    )
    with pytest.raises(ValueError, match="street graph"):
        tj.coverage(st, pop, area, method="network")


def test_large_holes_are_kept_and_small_ones_filled():
    ring = shapely.box(0, 0, 1000, 1000).difference(shapely.box(100, 100, 900, 900))
    small_hole = shapely.box(0, 0, 300, 300).difference(shapely.box(100, 100, 200, 200))
    assert fill_holes(ring, 20_000).area == ring.area  # 64 ha hole kept
    assert fill_holes(small_hole, 20_000).area == 300 * 300  # 1 ha hole filled


def test_street_block_larger_than_buffer_leaves_a_hole_when_big():
    # a 1 km square block walked all round: its 800 x 800 m inner hole (64 ha) is not filled
    g = nx.MultiDiGraph(crs="EPSG:4548")
    corners = [(0, 0), (1000, 0), (1000, 1000), (0, 1000)]
    for k, (x, y) in enumerate(corners):
        g.add_node(k, x=X0 + x, y=Y0 + y)
    for k in range(4):
        g.add_edge(k, (k + 1) % 4, length=1000.0)
    area, info = walk_catchment(np.array([shapely.Point(X0, Y0)], dtype=object), g, 5000.0)
    assert info["walked_km"] == pytest.approx(4.0)
    assert area.area == pytest.approx(
        shapely.buffer(shapely.box(X0, Y0, X0 + 1000, Y0 + 1000).exterior, 100, quad_segs=4).area, rel=1e-9
    )


def test_streets_crossing_without_a_node_still_give_the_exact_buffer():
    # a 7 x 7 grid of 100 m blocks plus a diagonal "bridge" across one corner, crossing streets without nodes
    g = grid_graph(n=8)
    g.add_edge((0, 3), (3, 0), length=430.0)
    area, info = walk_catchment(np.array([shapely.Point(X0, Y0)], dtype=object), g, 5000.0)
    net = WalkNetwork.from_graph(g)
    lines = shapely.linestrings(np.stack([net.xy[net.u], net.xy[net.v]], axis=1))
    expected = fill_holes(shapely.union_all(shapely.buffer(lines, 100, quad_segs=4)), 20_000)
    assert area.area == pytest.approx(expected.area, rel=1e-12)
    assert shapely.symmetric_difference(area, expected).area < 1e-6
    assert info["buffers_merged"] < len(lines)  # the buffers inside the grid are proved away, not merged


def test_osm_walk_graph_from_the_fixture_extract(tmp_path):
    """An osmnx-convention graph (int ids, EPSG:4326 x/y, great-circle lengths) from the OSM source."""
    from pathlib import Path

    from tjspatial.sources import osm

    fixture = Path(__file__).parent / "fixtures" / "osm" / "tianjin_fixture.osm"
    out = osm.build_walk_graph(
        source="extract", extract=fixture, out=tmp_path / "walk.graphml", options={"cache_dir": tmp_path / "cache"}
    )
    g = load_walk_graph(out)
    st = gpd.GeoDataFrame({"kind": ["metro"]}, geometry=[shapely.Point(117.2000, 39.1330)], crs="EPSG:4326")
    pts = tj.to_metric(st).geometry.values
    area, info = walk_catchment(pts, g, 1000.0)
    total = sum(d["length"] for _, _, d in g.edges(data=True)) / 2  # every street, both directions stored
    assert info["walked_km"] * 1000 == pytest.approx(total, rel=2e-3)  # straight EPSG:4548 chords vs great circle
    assert info["stations_off_network"] == 0 and area.area > 0


def test_walk_network_edge_table_round_trip(tmp_path):
    """The compact store: a GeoPackage with walk_nodes / walk_edges tables, read back without networkx; GDAL sees
    the tables, and coverage from the file equals coverage from the networkx graph."""
    import pyogrio

    g = grid_graph()
    g.add_edge((0, 0), (0, 1), length=50.0)  # a shorter parallel edge wins
    net = WalkNetwork.from_graph(g)
    out = net.save(tmp_path / "walk.gpkg", source="test grid")
    back = WalkNetwork.load(out)
    assert back.crs == "EPSG:4548" and len(back.xy) == 441 and len(back.u) == 2 * 21 * 20
    assert np.array_equal(back.xy, net.xy) and np.array_equal(back.u, net.u) and np.array_equal(back.v, net.v)
    assert np.array_equal(back.length, net.length) and back.length.min() == 50.0
    assert {"walk_nodes", "walk_edges", "walk_meta"} <= set(pyogrio.list_layers(out)[:, 0])
    assert back.nbytes < 100 * len(back.xy)  # bytes a node, before the CSR matrix and KD-tree
    _ = back.matrix, back.tree
    assert back.nbytes < 300 * len(back.xy)
    values = np.full((40, 40), 2.0)
    pop = PopulationGrid(
        values=values,
        transform=Affine(100, 0, X0 - 1000, 0, -100, Y0 + 3000),
        crs="EPSG:4548",
        source="uniform",
        year=2020,
    )
    area = gpd.GeoDataFrame(
        {"name_zh": ["区"]}, geometry=[shapely.box(X0 - 1000, Y0 - 1000, X0 + 3000, Y0 + 3000)], crs="EPSG:4548"
    )
    st = gpd.GeoDataFrame(
        {"kind": ["metro"] * 2},
        geometry=[shapely.Point(X0 + 1000, Y0 + 1000), shapely.Point(X0 + 330, Y0 + 1770)],
        crs="EPSG:4548",
    )
    a = tj.coverage(st, pop, area, distance=420, method="network", graph=g)
    b = tj.coverage(st, pop, area, distance=420, method="network", graph=str(out))
    assert b["pop_covered"].iloc[0] == a["pop_covered"].iloc[0] > 0
    with pytest.raises(ValueError, match="not a walk network"):
        WalkNetwork.load(_plain_gpkg(tmp_path))


def _plain_gpkg(tmp_path):
    p = tmp_path / "plain.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4326).to_file(p)
    return p


def test_threads_give_the_same_catchment_as_one_worker():
    from tjspatial.analysis.buffer_union import union_by_piece

    rng = np.random.default_rng(3)
    n = 30
    ii, jj = np.divmod(np.arange(n * n), n)
    xy = np.column_stack([X0 + jj * 100.0, Y0 + ii * 100.0]) + rng.uniform(-10, 10, (n * n, 2))
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) > 0.06
    net = WalkNetwork.from_arrays(xy, u[keep], v[keep])
    pts = np.array([[X0 + 800, Y0 + 900], [X0 + 2200, Y0 + 2000], [X0 + 1500, Y0 + 1500]])
    one, info1 = walk_catchment(pts, net, 600.0, workers=1)
    two, info2 = walk_catchment(pts, net, 600.0, workers=2)
    assert info1 == info2
    assert one.area == pytest.approx(two.area, rel=1e-12) and shapely.symmetric_difference(one, two).area < 1e-6
    # and both equal the plain buffer-and-union of every walked segment (holes < 2 ha filled)
    from tjspatial.analysis.network_coverage import walk_distances, walked_segments

    dist, _ = walk_distances(net, pts, 600.0)
    segs = walked_segments(net, dist, 600.0)
    plain = fill_holes(shapely.union_all(shapely.buffer(shapely.linestrings(segs), 100, quad_segs=4)), 20_000)
    assert one.area == pytest.approx(plain.area, rel=1e-12) and shapely.symmetric_difference(one, plain).area < 1e-6
    assert info1["buffers_merged"] < 0.5 * len(segs)  # the rest were proved to lie inside
    polys = shapely.buffer(shapely.linestrings(segs[:400]), 100, quad_segs=4)
    assert union_by_piece(polys, workers=2).area == pytest.approx(union_by_piece(polys).area, rel=1e-12)


@pytest.mark.parametrize("walk_buffer, max_hole", [(100.0, 20_000.0), (60.0, 12_000.0)])
def test_catchment_equals_buffering_every_walked_segment_on_a_realistic_grid(walk_buffer, max_hole):
    """Issue #15: the fast path (only the buffers that may draw the edge merged) gives the same polygon as
    the per-segment method (buffer every walked segment, union, fill holes < 2 ha), on perturbed blocks with
    missing streets (2-ha faces, larger holes), curved streets (walk length > chord) and cut edges."""
    from tjspatial.analysis.network_coverage import walk_distances, walked_segments

    rng = np.random.default_rng(15)
    n = 40
    ii, jj = np.divmod(np.arange(n * n), n)
    xy = np.column_stack([X0 + jj * 100.0, Y0 + ii * 100.0]) + rng.uniform(-10, 10, (n * n, 2))
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) > 0.12
    keep &= ~((jj[u] >= 18) & (jj[u] <= 26) & (ii[u] >= 6) & (ii[u] <= 14) & (jj[v] <= 26) & (ii[v] <= 14))  # a park
    u, v = u[keep], v[keep]
    chord = np.hypot(*(xy[u] - xy[v]).T)
    length = np.where(rng.random(len(u)) < 0.3, chord * rng.uniform(1.0, 1.25, len(u)), chord)
    net = WalkNetwork.from_arrays(xy, u, v, length)
    pts = np.array(
        [
            [X0 + 1650, Y0 + 1000],
            [X0 + 2200, Y0 + 1550],
            [X0 + 2750, Y0 + 1000],
            [X0 + 2200, Y0 + 450],
            [X0 + 900, Y0 + 3000],
        ]
    )
    area, info = walk_catchment(pts, net, 900.0, walk_buffer=walk_buffer, max_hole_m2=max_hole, workers=1)
    dist, _ = walk_distances(net, pts, 900.0)
    segs = walked_segments(net, dist, 900.0)
    capsules = shapely.buffer(shapely.linestrings(segs), walk_buffer, quad_segs=4)
    plain = fill_holes(shapely.union_all(capsules), max_hole)
    assert info["buffers_merged"] < 0.5 * len(segs)  # the shortcut did most of the work
    assert shapely.get_num_interior_rings(shapely.get_parts(plain)).sum() > 0  # a large hole stayed open
    assert area.area == pytest.approx(plain.area, rel=1e-12)
    assert shapely.symmetric_difference(area, plain).area < 1e-6


def _graphml_grid(tmp_path):
    """grid_graph() in EPSG:4326 saved as osmnx GraphML (the import format), plus one node without streets."""
    import osmnx as ox
    from pyproj import Transformer

    g = grid_graph()
    to_ll = Transformer.from_crs("EPSG:4548", "EPSG:4326", always_xy=True)
    for _, d in g.nodes(data=True):
        d["x"], d["y"] = to_ll.transform(d["x"], d["y"])
    g.add_node("lone", x=117.1, y=38.9)
    g.graph["crs"] = "EPSG:4326"
    g = nx.relabel_nodes(g, {k: i * 10 + 7 for i, k in enumerate(g.nodes)})  # int ids, like OSM's
    path = tmp_path / "walk.graphml"
    ox.save_graphml(g, path)
    return path


def test_walk_network_graphml_to_gpkg_and_parquet_gives_the_same_network_and_coverage(tmp_path):
    """#15: the compact edge table (GeoPackage or Parquet) written from a GraphML import loads back to the same
    arrays (GeoPackage: identical; Parquet: the same streets, nodes in id order) and the same catchment."""
    net = WalkNetwork.load(_graphml_grid(tmp_path))
    assert net.crs == "EPSG:4548" and len(net.xy) == 442 and len(net.u) == 2 * 21 * 20
    gp = WalkNetwork.load(net.save(tmp_path / "walk.gpkg", source="grid"))
    for name in ("xy", "u", "v", "length", "node_ids"):
        assert np.array_equal(getattr(gp, name), getattr(net, name)), name
    assert gp.crs == net.crs
    pq = WalkNetwork.load(net.save(tmp_path / "walk.parquet", source="grid"))
    assert pq.crs == net.crs and len(pq.xy) == 442 and np.array_equal(np.sort(pq.node_ids), np.sort(net.node_ids))
    row = {k: i for i, k in enumerate(net.node_ids.tolist())}
    back = np.array([row[k] for k in pq.node_ids.tolist()])
    assert np.array_equal(net.xy[back], pq.xy)
    edges = lambda n, ids: sorted(zip(ids[n.u].tolist(), ids[n.v].tolist(), n.length.tolist()))  # noqa: E731
    assert edges(pq, pq.node_ids) == [tuple(sorted(e[:2])) + (e[2],) for e in edges(net, net.node_ids)]
    pts = np.array([[X0 + 1003, Y0 + 996], [X0 + 310, Y0 + 1790]])
    a, ia = walk_catchment(pts, net, 420.0, workers=1)
    b, ib = walk_catchment(pts, gp, 420.0, workers=1)
    c, ic = walk_catchment(pts, pq, 420.0, workers=1)
    assert ia == ib and a.equals_exact(b, 0) and a.area > 0.5e6
    assert ic["walked_km"] == pytest.approx(ia["walked_km"], rel=1e-12)
    assert c.area == pytest.approx(a.area, rel=1e-12) and shapely.symmetric_difference(a, c).area < 1e-6


def test_bad_walk_network_edge_tables_name_the_file_and_column(tmp_path):
    import sqlite3

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tjspatial.errors import InputError

    net = WalkNetwork.from_graph(grid_graph(n=3))
    gp = net.save(tmp_path / "walk.gpkg")
    con = sqlite3.connect(gp)
    con.execute("ALTER TABLE walk_edges DROP COLUMN length")
    con.commit()
    con.close()
    with pytest.raises(InputError, match=r"walk\.gpkg: table walk_edges lacks column\(s\) length"):
        WalkNetwork.load(gp)
    table = pq.read_table(net.save(tmp_path / "walk.parquet"))
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.drop_columns(["x_v"]).replace_schema_metadata(table.schema.metadata), bad)
    with pytest.raises(InputError, match=r"bad\.parquet: the edge table lacks column\(s\) x_v"):
        WalkNetwork.load(bad)
    neg = tmp_path / "neg.parquet"
    lengths = pa.array(-table.column("length").to_numpy())
    pq.write_table(table.set_column(2, "length", lengths), neg)
    with pytest.raises(InputError, match=r"neg\.parquet: the edge table, column length has 12 values"):
        WalkNetwork.load(neg)
    with pytest.raises(FileNotFoundError, match="tjspatial walk-network"):
        WalkNetwork.load(tmp_path / "none.gpkg")


def test_cli_walk_network_writes_an_edge_table_that_coverage_reads(tmp_path, capsys):
    from pathlib import Path

    from tjspatial.cli import main

    fixture = Path(__file__).parent / "fixtures" / "osm" / "tianjin_fixture.osm"
    out = tmp_path / "walk.gpkg"
    argv = ["walk-network", "--extract", str(fixture), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    assert f"{out}: 4 nodes, 3 streets (EPSG:4548)" in capsys.readouterr().out
    assert (tmp_path / "cache" / "walk_network.graphml").is_file()
    net = WalkNetwork.load(out)
    assert net.crs == "EPSG:4548" and len(net.xy) == 4 and len(net.u) == 3
    st = gpd.GeoDataFrame({"kind": ["metro"]}, geometry=[shapely.Point(117.2000, 39.1330)], crs="EPSG:4326")
    a, _ = walk_catchment(tj.to_metric(st).geometry.values, net, 1000.0)
    b, _ = walk_catchment(
        tj.to_metric(st).geometry.values, load_walk_graph(tmp_path / "cache" / "walk_network.graphml"), 1000.0
    )
    assert a.area == pytest.approx(b.area, rel=1e-12) and a.area > 0


def test_bad_street_arrays_are_input_errors_naming_the_field_and_value():
    from tjspatial.errors import InputError, MissingFileError

    xy = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    with pytest.raises(InputError, match=r"field 'length'.*1 edge\(s\).*first: -5\.0 between nodes 1 and 2"):
        WalkNetwork.from_arrays(xy, [0, 1], [1, 2], [10.0, -5.0])
    with pytest.raises(InputError, match=r"1 edge\(s\) refer to nodes outside 0\.\.2 \(first: 1 -> 7\)"):
        WalkNetwork.from_arrays(xy, [0, 1], [1, 7])
    g = nx.MultiDiGraph(crs="EPSG:4548")
    g.add_node(1, x=0.0, y=0.0)
    g.add_node(2)
    with pytest.raises(InputError, match=r"fields 'x' and 'y'.*node 2 lacks them"):
        WalkNetwork.from_graph(g)
    with pytest.raises(MissingFileError, match="no walk network at"):
        load_walk_graph("/nonexistent/walk.graphml")
