"""merge_street_buffers merges only the street buffers that draw the union's edge, and must give the very polygon
of merging them all (then filling holes under max_hole_m2): compared on quirky street sets."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tjspatial.analysis.buffer_union import fill_holes, merge_street_buffers, street_buffers, union_by_piece

X0, Y0 = 450_000.0, 4_250_000.0


def _plain(segs, r, max_hole):
    return fill_holes(shapely.union_all(shapely.buffer(shapely.linestrings(segs), r, quad_segs=4)), max_hole)


def _same(got, exp):
    assert shapely.is_valid(got), shapely.is_valid_reason(got)
    assert got.area == pytest.approx(exp.area, rel=1e-12, abs=1e-6)  # the issue: equal to 1e-12 km²
    assert shapely.symmetric_difference(got, exp).area < max(1e-6, 1e-12 * exp.area)  # round-off slivers
    parts = lambda g: np.sort(shapely.area(shapely.get_parts(g)))  # noqa: E731
    assert len(parts(got)) == len(parts(exp)) and np.allclose(parts(got), parts(exp), rtol=1e-12, atol=1e-5)
    holes = lambda g: int(shapely.get_num_interior_rings(shapely.get_parts(g)).sum())  # noqa: E731
    assert holes(got) == holes(exp)


def _grid(n, rng, drop=0.1, jitter=10.0, x0=X0, y0=Y0):
    ii, jj = np.divmod(np.arange(n * n), n)
    xy = np.column_stack([x0 + jj * 100.0, y0 + ii * 100.0]) + rng.uniform(-jitter, jitter, (n * n, 2))
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) > drop
    return np.stack([xy[u[keep]], xy[v[keep]]], axis=1)


def test_a_street_grid_with_a_lake_an_island_and_cut_ends():
    rng = np.random.default_rng(1)
    segs = _grid(30, rng)
    c = np.array([X0 + 1450, Y0 + 1450])
    mid = 0.5 * (segs[:, 0] + segs[:, 1])
    lake = np.abs(mid - c).max(axis=1) < 700  # a 1.4 km lake: a large real hole
    island = np.abs(mid - c).max(axis=1) < 150  # with streets on an island in it
    segs = segs[~lake | island]
    # cut ends of every length along the outer edge, some under 1 m
    ends = np.column_stack([np.full(40, X0 - 5.0), Y0 + np.arange(40) * 70.0])
    stub = np.stack([ends, ends - np.column_stack([np.geomspace(0.01, 95, 40), np.zeros(40)])], axis=1)
    segs = np.concatenate([segs, stub])
    got, merged = merge_street_buffers(segs, 100.0, 20_000.0, workers=2)
    exp = _plain(segs, 100.0, 20_000.0)
    _same(got, exp)
    assert shapely.get_num_interior_rings(shapely.get_parts(got)).sum() == 1  # the lake
    assert len(shapely.get_parts(got)) == 2  # the island stays, inside the lake
    assert merged < 0.6 * len(segs)  # most buffers proved inside


@pytest.mark.parametrize("seed", range(12))
def test_random_street_sets_give_the_merged_union(seed):
    """Clusters of random streets (any direction and length, long roads, short stubs, parallel streets at about
    twice the buffer), several buffer sizes and hole limits, far from the origin."""
    rng = np.random.default_rng(100 + seed)
    r = [100.0, 60.0, 35.0, 150.0][seed % 4]
    max_hole = [20_000.0, 5_000.0, 80_000.0][seed % 3]
    parts = [_grid(int(rng.integers(6, 16)), rng, drop=rng.uniform(0, 0.4), x0=X0 + k * 1200, y0=Y0) for k in range(3)]
    n = 300
    p = rng.uniform([X0, Y0 - 2000], [X0 + 3000, Y0], (n, 2))
    ang = rng.uniform(0, 2 * np.pi, n)
    length = rng.choice([0.3, 5.0, 40.0, 120.0, 400.0, 3_000.0], n, p=[0.05, 0.1, 0.3, 0.35, 0.15, 0.05])
    q = p + np.column_stack([np.cos(ang), np.sin(ang)]) * length[:, None]
    parallel = np.stack(
        [np.column_stack([np.full(8, X0 + 4000.0), Y0 + np.arange(8) * 1.96 * r]), np.zeros((8, 2))], axis=1
    )
    parallel[:, 1] = parallel[:, 0] + [1500.0, 0.0]
    segs = np.concatenate(parts + [np.stack([p, q], axis=1), parallel])
    got, _ = merge_street_buffers(segs, r, max_hole, workers=1 + seed % 2)
    _same(got, _plain(segs, r, max_hole))


def test_strips_on_two_threads_give_the_same_union(monkeypatch):
    import tjspatial.analysis.buffer_union as bu

    rng = np.random.default_rng(2)
    segs = np.concatenate(
        [_grid(25, rng, drop=0.2), _grid(12, rng, x0=X0 + 2300), _grid(8, rng, x0=X0 + 900, y0=Y0 + 2600)]
    )
    one, merged1 = merge_street_buffers(segs, 100.0, 20_000.0, workers=1)
    monkeypatch.setattr(bu, "_STRIP_MIN", 0)
    monkeypatch.setattr(bu, "_HULLS_PER_STRIP", 30)
    two, merged2 = merge_street_buffers(segs, 100.0, 20_000.0, workers=2)
    three, _ = merge_street_buffers(segs, 100.0, 20_000.0, workers=3)
    exp = _plain(segs, 100.0, 20_000.0)
    for got in (one, two, three):
        _same(got, exp)
    assert merged1 == merged2
    # the cut strips are joined without an overlay; when a cut's two sides differ they are merged by one instead
    monkeypatch.setattr(bu, "_cuts_match", lambda merged, cuts: False)
    _same(merge_street_buffers(segs, 100.0, 20_000.0, workers=2)[0], exp)


def test_nothing_filled_or_nothing_to_merge():
    rng = np.random.default_rng(4)
    segs = _grid(12, rng, drop=0.3)
    got, merged = merge_street_buffers(segs, 100.0, 0.0)
    assert merged == len(segs)  # nothing is filled: every buffer is merged
    _same(got, shapely.union_all(shapely.buffer(shapely.linestrings(segs), 100, quad_segs=4)))
    one = segs[:1]
    got, merged = merge_street_buffers(one, 100.0, 20_000.0)
    assert merged == 1 and got.equals(street_buffers(one, 100.0)[0])
    empty, merged = merge_street_buffers(np.empty((0, 2, 2)), 100.0, 20_000.0)
    assert empty.is_empty and merged == 0


def test_a_covered_gap_inside_a_thin_ring_is_filled_and_a_big_one_kept():
    # a ring road 2 km square: its inside (3.2 km², far beyond 2 ha) stays a hole; with a street grid inside, the
    # inside is covered by the grid's buffers (which are never merged) and filled
    sq = np.array([[0, 0], [2000, 0], [2000, 2000], [0, 2000], [0, 0]], dtype=float) + (X0, Y0)
    ring = np.stack([sq[:-1], sq[1:]], axis=1)
    got, _ = merge_street_buffers(ring, 100.0, 20_000.0)
    _same(got, _plain(ring, 100.0, 20_000.0))
    assert shapely.get_num_interior_rings(got) == 1
    rng = np.random.default_rng(9)
    inside = _grid(21, rng, drop=0.0, jitter=0.0, x0=X0, y0=Y0)
    both = np.concatenate([ring, inside])
    got, merged = merge_street_buffers(both, 100.0, 20_000.0)
    _same(got, _plain(both, 100.0, 20_000.0))
    assert shapely.get_num_interior_rings(got) == 0 and merged < len(both) / 2


def test_street_buffers_built_in_numpy_are_geos_buffers():
    """The capsules drawn with numpy are GEOS's, bit for bit (vertices, start, orientation), any direction."""
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 30_000, (2000, 2)) + (X0, Y0)
    q = p + rng.uniform(-150, 150, (2000, 2))
    q[:4] = p[:4] + [[100, 0], [0, -100], [-100, 0], [0, 1e-4]]  # axis-parallel, and one too short (GEOS)
    q[4:400] = p[4:400] + rng.uniform(-1, 1, (396, 2)) * np.geomspace(1e-3, 5, 396)[:, None]  # short cut ends
    segs = np.stack([p, q], axis=1)
    ours = street_buffers(segs, 100.0)
    geos = shapely.buffer(shapely.linestrings(segs), 100.0, quad_segs=4)
    # the same rings, vertex for vertex from the same start (the union's noding follows vertex order)
    assert shapely.equals_exact(ours, geos, tolerance=0).all()
    assert (shapely.is_ccw(shapely.get_exterior_ring(ours)) == shapely.is_ccw(shapely.get_exterior_ring(geos))).all()
    assert shapely.area(ours) == pytest.approx(shapely.area(geos), rel=1e-13)


def test_union_by_piece_equals_the_global_union():
    k = np.arange(400)
    # clusters of overlapping street buffers, far-apart singles, and a ring around a separate piece
    segs = np.stack(
        [
            np.column_stack([(k % 20) * 70.0 + (k // 100) * 5_000, (k % 7) * 60.0 + (k // 20) * 13.0]),
            np.column_stack([(k % 20) * 70.0 + 90 + (k // 100) * 5_000, (k % 7) * 60.0 + 40]),
        ],
        axis=1,
    )
    polys = shapely.buffer(shapely.linestrings(segs), 100, quad_segs=4)
    ring = shapely.box(-3000, -3000, 3000, 3000).exterior.buffer(100)
    inner = shapely.Point(0, 0).buffer(500)
    polys = np.concatenate([polys, [ring, inner]])
    got = union_by_piece(polys)
    exp = shapely.union_all(polys)
    assert shapely.is_valid(got) and got.area == pytest.approx(exp.area, rel=1e-12)
    assert shapely.symmetric_difference(got, exp).area < 1e-6
    assert union_by_piece(polys[:1]).equals(polys[0]) and union_by_piece(polys[:0]).is_empty
    # one city-wide piece (most polygons chained together) is merged in x strips on two threads
    k = np.arange(1500)
    p = np.column_stack([(k % 50) * 60.0, (k // 50) * 60.0]) + np.random.default_rng(5).uniform(-20, 20, (1500, 2))
    chain = shapely.buffer(shapely.linestrings(np.stack([p, p + [45.0, 30.0]], axis=1)), 40, quad_segs=4)
    chain = np.concatenate([chain, [shapely.Point(10_000, 0).buffer(50)]])  # and a lone one
    two, one = union_by_piece(chain, workers=2), shapely.union_all(chain)
    assert shapely.is_valid(two) and len(shapely.get_parts(two)) == len(shapely.get_parts(one)) == 2
    assert two.area == pytest.approx(one.area, rel=1e-12) and shapely.symmetric_difference(two, one).area < 1e-6


def test_fill_holes_drops_an_island_in_a_filled_hole():
    outer = shapely.box(0, 0, 300, 300).difference(shapely.box(100, 100, 200, 200))  # a 1 ha hole
    island = shapely.box(140, 140, 160, 160)
    filled = fill_holes(shapely.MultiPolygon([outer, island]), 20_000)
    assert shapely.is_valid(filled) and filled.area == 300 * 300 and len(shapely.get_parts(filled)) == 1
    # in a hole that stays open the island stays too
    kept = fill_holes(shapely.MultiPolygon([outer, island]), 5_000)
    assert shapely.is_valid(kept) and kept.area == outer.area + island.area


@pytest.mark.parametrize("seed", [2, 4, 9, 14, 20, 51])
def test_mixed_street_sets_in_strips(seed, monkeypatch):
    """Random grids and loose streets (stubs of 1 cm to 1 m, which GEOS buffers with fewer vertices), buffers of
    20-400 m, hole limits of 1 m² to 1 km², merged in one piece and in x strips on two and three threads."""
    import tjspatial.analysis.buffer_union as bu

    rng = np.random.default_rng(1000 + seed)
    r = float(rng.choice([20.0, 35.0, 60.0, 100.0, 150.0, 400.0]))
    max_hole = float(rng.choice([1.0, 2_000.0, 20_000.0, 80_000.0, 1e6]))
    grids = [
        _grid(
            int(rng.integers(3, 20)),
            rng,
            drop=rng.uniform(0, 0.6),
            jitter=rng.uniform(0, 40),
            x0=X0 + k * 1500 * rng.uniform(0.3, 1.2),
            y0=Y0 + rng.uniform(-500, 500),
        )
        for k in range(int(rng.integers(1, 4)))
    ]
    n = int(rng.integers(0, 400))
    p = rng.uniform([X0 - 1000, Y0 - 2000], [X0 + 3000, Y0 + 1000], (n, 2))
    ang = rng.uniform(0, 2 * np.pi, n)
    length = rng.choice([0.01, 0.3, 1.0, 5.0, 40.0, 120.0, 400.0, 3_000.0], n)
    q = p + np.column_stack([np.cos(ang), np.sin(ang)]) * length[:, None]
    segs = np.concatenate(grids + [np.stack([p, q], axis=1)])
    exp = _plain(segs, r, max_hole)
    _same(merge_street_buffers(segs, r, max_hole)[0], exp)
    monkeypatch.setattr(bu, "_STRIP_MIN", 0)
    monkeypatch.setattr(bu, "_HULLS_PER_STRIP", 20)  # many cuts
    _same(merge_street_buffers(segs, r, max_hole, workers=2 + seed % 2)[0], exp)
