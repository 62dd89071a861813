"""The union of many street buffers, exactly, merging only the buffers that draw its edge.

A walk catchment (:mod:`tjspatial.analysis.network_coverage`) is the union of ``buffer(street, r, quad_segs=4)``
over tens of thousands of walked street segments, with holes under ``max_hole_m2`` filled. Merging them all is
most of the work, yet only the buffers along the catchment's edge (and around its large holes) shape the result.
:func:`merge_street_buffers` finds those without merging anything and proves the rest away:

1. **Disks.** A street buffer with ``quad_segs=4`` is a polygon whose sides and arc chords stay at least
   ``r cos(pi/16)`` = 0.9808 ``r`` from its street, so it holds the disk of radius ``COVER * r`` (``COVER`` = 0.98)
   around every point of the street. Points are sampled along every street (every ``r / 4``; streets under 1 m,
   which GEOS buffers with fewer vertices, are never used as witnesses).
2. **Raster.** A grid of ``r / 4`` cells: a cell is *solid* when a sample lies within ``COVER * r`` of each of its
   points (checked conservatively from the cells the samples fall in, with rectangle footprints). A buffer whose
   bounding box (less its corners) holds only solid cells has its whole boundary strictly inside other buffers (its own samples are
   at least 0.98 ``r`` from its boundary, so the witness is another street): it draws nothing.
3. **Boundary pieces.** The boundary of each remaining buffer is cut into pieces of at most 0.4 ``r`` (its 16
   arc chords and its two sides in equal parts). A piece is *closed* when it lies in solid cells or both its ends
   lie within ``COVER * r`` of one street (the street of the sample nearest either end or its middle, from a
   KD-tree; or, cut at its middle, each half so): the points within ``COVER * r`` of a street form a convex set
   inside its buffer.
4. **Merge.** Every point of the union's boundary lies on an *open* piece (a point on a closed piece is interior).
   Each buffer with open pieces is replaced by the convex polygon of the vertices of its open edges (a subset of
   the buffer, so of the union). These polygons are merged in x strips of about 250 (GEOS merges n polygons in
   about log2 n rounds, each touching every vertex; polygons across a cut are clipped to both sides with the
   same points on the cut), and the strips, which only touch along the cuts, are joined as a coverage; the points
   the cuts added are dropped again. Call the result ``U``: it lies inside the union and holds its boundary, so
   each bounded gap of ``U`` is either inside the union or wholly outside it (a connected set that meets no
   boundary point).
5. **Holes.** Gaps under ``max_hole_m2`` are filled either way. A larger gap is tested at one point just inside
   it (solid cell, else exactly against the buffers of the streets within ``r``): covered gaps are filled, the
   others are the union's real holes. Parts of ``U`` inside another part's filled outline are dropped.

The result is the same polygon as merging every buffer and filling holes (:func:`fill_holes`); its boundary is
made of the same buffer edges, met at the same intersections (tests compare the two to 1e-12 relative). Nothing
here is approximate: the raster and the KD-tree only decide which buffers to merge, never where a boundary lies.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["merge_street_buffers", "street_buffers", "union_by_piece", "fill_holes"]

COVER = 0.98
"""Fraction of the buffer distance around a street point that its buffer (``quad_segs=4``) surely holds; the
polygon holds ``cos(pi / 16)`` = 0.98079 of it."""

_MIN_WITNESS_M = 1.0
"""Streets shorter than this witness nothing (GEOS drops a vertex of some very short buffers)."""

_STRIP_MIN = 4000
"""With ``workers > 1``, the buffers to check are split into x strips checked on their own threads above this
count."""

_HULL_TASKS = 2
"""Hull-building tasks per thread (smaller tasks balance the threads)."""

_HULLS_PER_STRIP = 250
"""The hulls are merged in x strips of about this many (GEOS merges n polygons in about log2(n) rounds, each
touching every vertex: smaller strips mean fewer rounds; the strips are joined without an overlay)."""

_MAX_CELLS = 8_000_000
"""The coverage raster's cell count is kept under this (cells grow beyond ``r / 4`` on very large extents)."""


def street_buffers(segs: np.ndarray, walk_buffer: float) -> np.ndarray:
    """``shapely.buffer(LineString(segment), walk_buffer, quad_segs=4)`` of each segment, built with numpy.

    Round caps of 4 chords a quarter circle, ITDP's street buffer, with the vertices GEOS's offset curve
    generator makes (the left offset from ``p`` to ``q``, the cap round ``q`` clockwise from ``angle + pi/2`` in 8
    equal steps, the right offset, the cap round ``p``; tests compare them with GEOS's): about twice as fast as
    GEOS, which nodes each curve. Segments shorter than 1 m go through GEOS (it drops a vertex of some very short
    ones).

    Parameters
    ----------
    segs : numpy.ndarray
        (n, 2, 2) segment end points, metres.
    walk_buffer : float
        Buffer distance, metres.

    Returns
    -------
    numpy.ndarray
        (n,) shapely polygons.
    """
    if not len(segs):
        return np.empty(0, dtype=object)
    length = np.hypot(segs[:, 1, 0] - segs[:, 0, 0], segs[:, 1, 1] - segs[:, 0, 1])
    short = length < _MIN_WITNESS_M
    out = np.empty(len(segs), dtype=object)
    if short.any():
        out[short] = shapely.buffer(shapely.linestrings(segs[short]), walk_buffer, quad_segs=4)
    if (~short).any():
        out[~short] = shapely.polygons(_rings(segs[~short], walk_buffer))
    return out


def _rings(segs: np.ndarray, walk_buffer: float) -> np.ndarray:
    """(n, 19, 2) closed rings of the buffers of segments at least 1 m long (see :func:`street_buffers`)."""
    p, q = segs[:, 0], segs[:, 1]
    dx, dy = q[:, 0] - p[:, 0], q[:, 1] - p[:, 1]
    length = np.sqrt(dx * dx + dy * dy)
    r = float(walk_buffer)
    ux, uy = r * dx / length, r * dy / length  # GEOS: sideSign * distance * dx / len
    uxr, uyr = (-r) * dx / length, (-r) * dy / length
    steps = -np.arange(1, 8)[None, :]  # clockwise; the first and last points of each cap are the offsets

    def cap(angle):
        start = angle + np.pi / 2.0
        inc = np.abs(start - (angle - np.pi / 2.0)) / 8
        return start[:, None] + steps * inc[:, None]

    # the C library's atan2, as GEOS calls it (numpy's own differs in the last bit for ~8 % of angles)
    aq = cap(np.fromiter(map(math.atan2, dy.tolist(), dx.tolist()), dtype=float, count=len(dx)))
    ap = cap(np.fromiter(map(math.atan2, (-dy).tolist(), (-dx).tolist()), dtype=float, count=len(dx)))
    ring = np.empty((len(p), 19, 2))  # starting where GEOS's ring starts (its union follows vertex order)
    ring[:, 0, 0], ring[:, 0, 1] = q[:, 0] - uy, q[:, 1] + ux
    ring[:, 1:8, 0] = q[:, 0, None] + r * np.cos(aq)
    ring[:, 1:8, 1] = q[:, 1, None] + r * np.sin(aq)
    ring[:, 8, 0], ring[:, 8, 1] = q[:, 0] - uyr, q[:, 1] + uxr
    ring[:, 9, 0], ring[:, 9, 1] = p[:, 0] - uyr, p[:, 1] + uxr
    ring[:, 10:17, 0] = p[:, 0, None] + r * np.cos(ap)
    ring[:, 10:17, 1] = p[:, 1, None] + r * np.sin(ap)
    ring[:, 17, 0], ring[:, 17, 1] = p[:, 0] - uy, p[:, 1] + ux
    ring[:, 18] = ring[:, 0]
    return ring


def fill_holes(geom, max_hole_m2: float) -> shapely.Geometry:
    """``geom`` with every interior ring enclosing less than ``max_hole_m2`` (m²) removed, vectorised.

    Parameters
    ----------
    geom : shapely.Geometry
        Polygon or MultiPolygon, metric CRS.
    max_hole_m2 : float
        Square metres.

    Returns
    -------
    shapely.Geometry
        The geometry without the small holes (and without the parts that lay inside them).
    """
    if geom is None or shapely.is_empty(geom) or max_hole_m2 <= 0:
        return geom
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3]
    rings, idx = shapely.get_rings(parts, return_index=True)
    first = np.ones(len(idx), dtype=bool)
    first[1:] = idx[1:] != idx[:-1]
    small = ~first & (shapely.area(shapely.polygons(rings)) < max_hole_m2)
    if not small.any():
        return geom
    polys = shapely.polygons(rings[~small], indices=idx[~small])
    if len(polys) > 1:  # a part inside a filled hole (an island) is covered now: drop it
        inner, outer = shapely.STRtree(polys).query(shapely.point_on_surface(parts), predicate="within")
        polys = np.delete(polys, inner[inner != outer])
    return _one_geometry(polys)


def merge_street_buffers(
    segs: np.ndarray, walk_buffer: float, max_hole_m2: float, *, workers: int = 1
) -> tuple[shapely.Geometry, int]:
    """``fill_holes(union of street_buffers(segs, walk_buffer), max_hole_m2)``, merging only the buffers that draw
    the union's edge (see the module docstring for the method and why it is exact).

    Parameters
    ----------
    segs : numpy.ndarray
        (n, 2, 2) street segment end points, metres (a metric CRS).
    walk_buffer : float
        Buffer distance, metres.
    max_hole_m2 : float
        Holes smaller than this are filled, m² (with 0 or less nothing is filled and every buffer is merged).
    workers : int, default 1
        Threads for checking the buffers and merging the strips (the geometry does not depend on it).

    Returns
    -------
    union : shapely.Geometry
        Polygon or MultiPolygon (empty without segments).
    merged : int
        How many buffers were merged (the others were proved to lie inside the union's interior).
    """
    segs = np.asarray(segs, dtype=float).reshape(-1, 2, 2)
    if not len(segs):
        return shapely.Polygon(), 0
    r = float(walk_buffer)
    length = np.hypot(segs[:, 1, 0] - segs[:, 0, 0], segs[:, 1, 1] - segs[:, 0, 1])
    witness = length >= _MIN_WITNESS_M
    if max_hole_m2 <= 0 or r <= 0 or witness.sum() < 2:
        return _merge_all(segs, r, max_hole_m2, workers)
    lo, hi = np.minimum(segs[:, 0], segs[:, 1]), np.maximum(segs[:, 0], segs[:, 1])
    wrow = np.flatnonzero(witness)
    samples, owner = _samples(segs[wrow], length[wrow], r / 4)
    grid, si, sj = _CoverGrid.build(samples, lo.min(axis=0) - 2 * r, hi.max(axis=0) + 2 * r, r)
    # 2. buffers whose bounding box is all solid draw nothing
    # (a disk of radius r lies in the union of the boxes r x r/sqrt(2) and r/sqrt(2) x r: two boxes, not the corners)
    open_near = np.zeros(len(segs), dtype=bool)
    for dx, dy in ((r, r / math.sqrt(2)), (r / math.sqrt(2), r)):
        i0, j0 = grid.cells(lo - (dx, dy))
        i1, j1 = grid.cells(hi + (dx, dy))
        open_near |= grid.open_cells(i0, j0, i1, j1) > 0
    cand = np.flatnonzero(witness & open_near)
    # 3. open boundary pieces of the others and their hulls, in x strips on ``workers`` threads
    tree_pts = _TreeSamples.build(segs, samples, si, sj, wrow[owner])
    order = cand[np.argsort(lo[cand, 0] + hi[cand, 0], kind="stable")]
    strips = np.array_split(order, _HULL_TASKS * workers if len(cand) > _STRIP_MIN and workers > 1 else 1)
    strips[0] = np.concatenate([strips[0], np.flatnonzero(~witness)])  # buffers of streets under 1 m: merged whole
    if len(strips) > 1:
        with ThreadPoolExecutor(workers) as ex:
            hulls = np.concatenate(
                list(ex.map(lambda rows: _strip_hulls(segs, rows, length, r, grid, tree_pts, 1), strips))
            )
    else:
        hulls = _strip_hulls(segs, strips[0], length, r, grid, tree_pts, workers)
    if not len(hulls):  # every boundary closed: impossible for a bounded union, merge everything
        return _merge_all(segs, r, max_hole_m2, workers)
    # 4. merged, cut in x strips merged on their own threads; 5. the gaps sorted
    n_cut = min(len(hulls) // _HULLS_PER_STRIP, 64)
    merged = _merge_in_strips(hulls, n_cut, workers) if n_cut > 1 else union_by_piece(hulls, workers=workers)
    return _fill_gaps(merged, segs, lo, hi, r, max_hole_m2, grid, tree_pts), len(hulls)


def _merge_all(segs: np.ndarray, r: float, max_hole_m2: float, workers: int) -> tuple[shapely.Geometry, int]:
    """Every buffer merged, holes under ``max_hole_m2`` filled (the plain method, for the cases the proof skips)."""
    return fill_holes(union_by_piece(street_buffers(segs, r), workers=workers), max_hole_m2), len(segs)


def _one_geometry(polys: np.ndarray) -> shapely.Geometry:
    """The polygon when there is one, else a MultiPolygon of them."""
    return polys[0] if len(polys) == 1 else shapely.multipolygons(polys)


def _strip_hulls(
    segs: np.ndarray,
    rows: np.ndarray,
    length: np.ndarray,
    r: float,
    grid: "_CoverGrid",
    tree_pts: "_TreeSamples",
    workers: int,
) -> np.ndarray:
    """Step 3 for the buffers of ``rows``: the hulls of the open edges of those that have any. Sides are cut in
    pieces of at most 0.4 ``r``, in groups of similar length; buffers of streets longer than 64 such pieces or
    shorter than 1 m are taken whole. ``workers``: threads for the KD-tree queries."""
    piece = 0.4 * r
    whole = (length[rows] < _MIN_WITNESS_M) | (length[rows] > 64 * piece)
    polys = [street_buffers(segs[rows[whole]], r)]
    rows = rows[~whole]
    k_side = np.maximum(1, np.ceil(length[rows] / piece)).astype(np.int64)
    tree = _WitnessTree(tree_pts, grid, r, workers)
    for k_lo, k_hi in ((1, 3), (4, 12), (13, 64)):
        sel = rows[(k_side >= k_lo) & (k_side <= k_hi)]
        if not len(sel):
            continue
        rings = _rings(segs[sel], r)
        open_edge = _open_edges(rings, k_hi, piece, grid, tree)
        has = open_edge.any(axis=1)
        if has.any():
            polys.append(_open_hulls(rings[has], open_edge[has], segs[sel[has]]))
    return np.concatenate(polys)


def _merge_in_strips(polys: np.ndarray, n: int, threads: int) -> shapely.Geometry:
    """The union of ``polys`` merged in ``n`` x strips on ``threads`` threads.

    Polygons crossing a cut line are clipped to each side (:func:`_clip_convex`: the same points on the line from
    both sides), each strip is merged on its own, and the strips — which only touch along the cut lines, with
    the same vertices there — are joined as a coverage (no overlay). The points the cuts added on the union's
    boundary are dropped, which restores the original edges. If the two sides of a cut do not match exactly
    (GEOS may snap while merging), the strips are merged by an overlay instead.
    """
    b = shapely.bounds(polys)
    centre = 0.5 * (b[:, 0] + b[:, 2])
    cuts = np.quantile(centre, np.arange(1, n) / n) + 0.0371  # off any round number a vertex might have
    lo_x, hi_x = b[:, 0].min() - 1, b[:, 2].max() + 1
    edges = np.concatenate([[lo_x], cuts, [hi_x]])
    # each polygon to the strips from the one of its left edge to the one of its right edge
    first = np.searchsorted(cuts, b[:, 0])
    last = np.searchsorted(cuts, b[:, 2])
    order = np.argsort(first, kind="stable")
    whole = order[(first == last)[order]]
    start = np.searchsorted(first[whole], np.arange(n + 1))
    span = np.flatnonzero(first != last)

    def strip(k: int) -> np.ndarray:
        cross = span[(first[span] <= k) & (last[span] >= k)]
        clipped = _clip_convex(polys[cross], edges[k], edges[k + 1])
        return shapely.get_parts(union_by_piece(np.concatenate([polys[whole[start[k] : start[k + 1]]], clipped])))

    with ThreadPoolExecutor(threads) as ex:
        merged = list(ex.map(strip, range(n)))
    same = _cuts_match(merged, cuts)
    parts = np.concatenate(merged)
    if not same:
        return union_by_piece(parts)
    joined = shapely.get_parts(shapely.coverage_union_all(parts))
    rings, part = shapely.get_rings(joined, return_index=True)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    keep = ~np.isin(xy[:, 0], cuts)
    if keep.all():
        return _one_geometry(joined)
    if (np.bincount(ring[keep], minlength=len(rings)) < 4).any():  # a tiny ring would lose its shape: keep them
        return _one_geometry(joined)
    xy, ring = xy[keep], ring[keep]
    first = np.r_[True, ring[1:] != ring[:-1]]
    last = np.r_[ring[1:] != ring[:-1], True]
    closed = (xy[first] == xy[last]).all(axis=1)  # a ring that started on a cut point: close it again
    xy = np.insert(xy, np.flatnonzero(last)[~closed] + 1, xy[first][~closed], axis=0)
    ring = np.insert(ring, np.flatnonzero(last)[~closed] + 1, ring[first][~closed])
    out = shapely.polygons(shapely.linearrings(xy, indices=ring), indices=part)
    return _one_geometry(out)


def _clip_convex(polys: np.ndarray, x0: float, x1: float) -> np.ndarray:
    """The parts of convex polygons between x = ``x0`` and x = ``x1``, with each point on a line computed from
    the original edge's end points taken in x order: a polygon cut by a line gets bit-identical points on it
    from both sides (``clip_by_rect`` computes them in different orders)."""
    if not len(polys):
        return polys
    xy, which = shapely.get_coordinates(shapely.get_exterior_ring(polys), return_index=True)
    body = np.r_[which[1:] == which[:-1], False]  # without each ring's closing point
    a = xy[body]
    which = which[body]
    start = np.r_[True, which[1:] != which[:-1]]
    first = np.flatnonzero(start)
    nxt = np.arange(len(a)) + 1
    nxt[np.r_[first[1:], len(a)] - 1] = first  # each ring's last vertex goes back to its first
    b = a[nxt]
    lo = np.where((a[:, 0] <= b[:, 0])[:, None], a, b)  # the edge's end points in x order
    hi = np.where((a[:, 0] <= b[:, 0])[:, None], b, a)
    out = [np.where(((a[:, 0] >= x0) & (a[:, 0] <= x1))[:, None], a, np.nan)]  # the vertex, if inside
    # then the edge's crossings of x0 and x1, in the order the edge meets them
    t = []
    for x in (x0, x1):
        cross = (np.minimum(a[:, 0], b[:, 0]) < x) & (np.maximum(a[:, 0], b[:, 0]) > x)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = lo[:, 1] + (x - lo[:, 0]) * (hi[:, 1] - lo[:, 1]) / (hi[:, 0] - lo[:, 0])
        out.append(np.where(cross[:, None], np.column_stack([np.full(len(a), x), y]), np.nan))
        t.append(np.where(cross, np.abs(x - a[:, 0]), np.inf))
    swap = t[1] < t[0]
    out[1], out[2] = np.where(swap[:, None], out[2], out[1]), np.where(swap[:, None], out[1], out[2])
    pts = np.stack(out, axis=1).reshape(-1, 2)  # vertex, first crossing, second crossing of every edge
    ring = np.repeat(which, 3)
    ok = ~np.isnan(pts[:, 0])
    pts, ring = pts[ok], ring[ok]
    count = np.bincount(ring, minlength=len(polys))
    keep = count >= 3
    ring_start = np.r_[0, np.cumsum(count)]
    closing = pts[ring_start[:-1][keep]]
    xy = np.insert(pts, np.repeat(ring_start[1:][keep], 1), closing, axis=0)  # close each kept ring
    ring = np.insert(ring, np.repeat(ring_start[1:][keep], 1), np.flatnonzero(keep))
    xy, ring = xy[keep[ring]], ring[keep[ring]]
    n = np.bincount(ring, minlength=len(polys))[keep]
    return shapely.from_ragged_array(shapely.GeometryType.POLYGON, xy, (np.r_[0, np.cumsum(n)], np.arange(len(n) + 1)))


def _cuts_match(merged: list[np.ndarray], cuts: np.ndarray) -> bool:
    """Whether the strips' merged parts have the same points on each cut line from both sides."""
    for k, x in enumerate(cuts):
        a, b = shapely.get_coordinates(merged[k]), shapely.get_coordinates(merged[k + 1])
        if not np.array_equal(np.unique(a[a[:, 0] == x, 1]), np.unique(b[b[:, 0] == x, 1])):
            return False
    return True


def _samples(segs: np.ndarray, length: np.ndarray, spacing: float, kmax: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``spacing`` metres or less along each segment, both ends included, and their segment's row."""
    k = np.maximum(1, np.ceil(length / spacing)).astype(np.int64)
    p, d = segs[:, 0], segs[:, 1] - segs[:, 0]
    few = np.flatnonzero(k <= kmax)
    f = np.minimum(np.arange(kmax + 1)[None, :] / k[few, None], 1.0)  # short segments repeat their end point
    xy = [(p[few, None, :] + d[few, None, :] * f[..., None]).reshape(-1, 2)]
    owner = [np.repeat(few, kmax + 1)]
    many = np.flatnonzero(k > kmax)
    if len(many):
        n = k[many] + 1
        row = np.repeat(many, n)
        at = (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)) / k[row]
        xy.append(p[row] + d[row] * at[:, None])
        owner.append(row)
    return np.concatenate(xy), np.concatenate(owner)


def _dilate(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``mask`` OR-ed with itself shifted by up to ``rows`` rows and ``cols`` columns (a rectangle footprint)."""
    out = mask.copy()
    for k in range(1, rows + 1):
        out[k:] |= mask[:-k]
        out[:-k] |= mask[k:]
    res = out.copy()
    for k in range(1, cols + 1):
        res[:, k:] |= out[:, :-k]
        res[:, :-k] |= out[:, k:]
    return res


@dataclass(frozen=True)
class _CoverGrid:
    """Square cells over the streets; ``solid`` cells lie wholly within ``COVER * r`` of one sample."""

    x0: float
    y0: float
    h: float
    solid: np.ndarray
    open_sum: np.ndarray  # (ny + 1, nx + 1) prefix sums of the cells that are not solid

    @classmethod
    def build(
        cls, samples: np.ndarray, lo: np.ndarray, hi: np.ndarray, r: float
    ) -> tuple["_CoverGrid", np.ndarray, np.ndarray]:
        """The grid over ``lo``..``hi`` (metres) with the cells the samples fall in burnt; and those cells (row,
        column of each sample)."""
        h = max(r / 4, math.sqrt(float(np.prod(hi - lo)) / _MAX_CELLS))
        ny, nx = int((hi[1] - lo[1]) // h) + 1, int((hi[0] - lo[0]) // h) + 1
        si = ((samples[:, 1] - lo[1]) * (1.0 / h)).astype(np.intp)  # as cells() computes them
        sj = ((samples[:, 0] - lo[0]) * (1.0 / h)).astype(np.intp)
        burnt = np.zeros(ny * nx, dtype=bool)
        burnt[si * nx + sj] = 1
        burnt = burnt.reshape(ny, nx)
        # a point of cell A is within |offset| * h + sqrt(2) * h of a sample in cell B (offset between the two
        # cells' centres): cells whose offset to a burnt cell keeps this within COVER * r are solid. The disk of
        # such offsets is covered by the largest rectangles (a, b) with a² + b² <= reach².
        reach2 = ((COVER * r - math.sqrt(2) * h) / h) ** 2
        solid = np.zeros_like(burnt)
        widest = -1
        for a in range(int(math.isqrt(int(reach2))), -1, -1) if reach2 >= 0 else ():
            b = int(math.isqrt(int(reach2 - a * a)))
            if b > widest:  # (a, b) not inside a rectangle already used
                solid |= _dilate(burnt, a, b)
                widest = b
        open_sum = np.zeros((ny + 1, nx + 1), dtype=np.int32)
        np.cumsum(np.cumsum(~solid, axis=0, dtype=np.int32), axis=1, out=open_sum[1:, 1:])
        return cls(float(lo[0]), float(lo[1]), float(h), solid, open_sum), si, sj

    def cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cell of each point (n, 2), clipped to the grid."""
        ny, nx = self.solid.shape
        # a point within 1e-12 of a cell edge may land in the next cell: the 8 cm between 0.98 r and the buffer's
        # 0.9808 r absorbs that
        i = np.clip(((xy[..., 1] - self.y0) * (1.0 / self.h)).astype(np.intp), 0, ny - 1)
        j = np.clip(((xy[..., 0] - self.x0) * (1.0 / self.h)).astype(np.intp), 0, nx - 1)
        return i, j

    def open_cells(self, i0, j0, i1, j1) -> np.ndarray:
        """How many cells of each box of rows i0..i1 and columns j0..j1 are not solid."""
        s = self.open_sum
        return s[i1 + 1, j1 + 1] - s[i0, j1 + 1] - s[i1 + 1, j0] + s[i0, j0]


@dataclass(frozen=True)
class _TreeSamples:
    """The street samples a :class:`_WitnessTree` draws from (shared, read-only): their cells and streets."""

    samples: np.ndarray
    cell_i: np.ndarray
    cell_j: np.ndarray
    owner: np.ndarray  # row of each sample's street
    p: np.ndarray  # streets: start, direction, 1 / squared length
    d: np.ndarray
    inv: np.ndarray

    @classmethod
    def build(
        cls, segs: np.ndarray, samples: np.ndarray, si: np.ndarray, sj: np.ndarray, owner: np.ndarray
    ) -> "_TreeSamples":
        """The samples of ``segs`` (in cells ``si``, ``sj``; ``owner``: their rows)."""
        d = segs[:, 1] - segs[:, 0]
        inv = 1.0 / np.maximum(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1], 1e-300)
        return cls(samples, si, sj, owner, segs[:, 0], d, inv)


class _WitnessTree:
    """KD-tree of the street samples (built lazily over the cells near the points it is asked about), to find for
    a point a street within ``COVER * r``: a *witness* whose buffer holds the point."""

    def __init__(self, pts: _TreeSamples, grid: _CoverGrid, r: float, workers: int):
        # samples are looked up within rho only: a street within rho whose samples all lie farther (they are r / 4
        # apart) is a witness lost, never a false one; short queries, and the point's own street is never found
        self.pts, self.grid, self.rho, self.workers = pts, grid, COVER * r, max(1, workers)
        self._asked = np.zeros(grid.solid.shape, dtype=bool)
        self._keep = np.empty(0, dtype=np.intp)
        self._tree = None

    def prepare(self, xy: np.ndarray) -> None:
        """(Re)build the tree over the samples within ``COVER * r`` of the cells of ``xy`` and of every point
        asked about before."""
        i, j = self.grid.cells(xy)
        if self._tree is not None and self._asked[i, j].all():
            return
        self._asked[i, j] = True
        w = int(math.ceil(self.rho / self.grid.h)) + 1
        self._keep = np.flatnonzero(_dilate(self._asked, w, w)[self.pts.cell_i, self.pts.cell_j])
        self._tree = cKDTree(self.pts.samples[self._keep], balanced_tree=False, compact_nodes=False)

    def nearest(self, xy: np.ndarray) -> np.ndarray:
        """For each point, the street (row of ``segs``) of its nearest sample within ``COVER * r``, else -1."""
        self.prepare(xy)
        if not len(xy) or not len(self._keep):
            return np.full(len(xy), -1)
        d, k = self._tree.query(xy, distance_upper_bound=self.rho, workers=self.workers)
        ok = np.isfinite(d)
        return np.where(ok, self.pts.owner[self._keep[np.where(ok, k, 0)]], -1)

    def within(self, xy: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """Whether each point lies within ``COVER * r`` of its street (``seg`` -1: no street, False)."""
        s = np.maximum(seg, 0)
        v = xy - self.pts.p[s]
        d = self.pts.d[s]
        t = np.clip((v[:, 0] * d[:, 0] + v[:, 1] * d[:, 1]) * self.pts.inv[s], 0.0, 1.0)
        ex, ey = v[:, 0] - t * d[:, 0], v[:, 1] - t * d[:, 1]
        return (seg >= 0) & (ex * ex + ey * ey <= self.rho * self.rho)


def _open_edges(rings: np.ndarray, k: int, piece: float, grid: _CoverGrid, tree: _WitnessTree) -> np.ndarray:
    """(n, 18) whether each edge of each buffer ring (:func:`_rings`) may hold a point of the union's boundary.

    Chords are one piece; the two sides (edges 8 and 17) are cut in equal pieces of at most ``piece`` metres (at
    most ``k``; padding pieces of length 0 keep every ring at ``18 + 2 (k - 1)`` pieces). A piece is closed when
    its cells are all solid or both its ends lie within ``COVER * r`` of one street: that of the sample nearest
    either end, or its middle, or — cut at its middle — each half so.
    """
    n = len(rings)
    pieces = np.clip(np.ceil(np.hypot(*(rings[:, 9] - rings[:, 8]).T) / piece), 1, k)
    f = np.minimum(np.arange(1, k)[None, :] / pieces[:, None], 1.0)
    side1 = rings[:, 8, None] + (rings[:, 9] - rings[:, 8])[:, None] * f[..., None]
    side2 = rings[:, 17, None] + (rings[:, 18] - rings[:, 17])[:, None] * f[..., None]
    seq = np.concatenate([rings[:, 0:9], side1, rings[:, 9:18], side2], axis=1)  # cyclic points of each ring
    m = seq.shape[1]
    edge_of = np.concatenate([np.arange(8), np.full(k, 8), np.arange(9, 17), np.full(k, 17)])  # piece -> edge
    a = seq.reshape(-1, 2)
    nxt = np.arange(n * m).reshape(n, m) + 1
    nxt[:, -1] -= m
    nxt = nxt.ravel()
    b = a[nxt]
    ia, ja = grid.cells(a)
    ib, jb = ia[nxt], ja[nxt]
    closed = grid.open_cells(np.minimum(ia, ib), np.minimum(ja, jb), np.maximum(ia, ib), np.maximum(ja, jb)) == 0
    todo = np.flatnonzero(~closed)
    if len(todo):
        tree.prepare(np.concatenate([a[todo], b[todo], 0.5 * (a[todo] + b[todo])]))
        ask = np.zeros(len(a), dtype=bool)
        ask[todo] = True
        ask[nxt[todo]] = True
        ends = np.flatnonzero(ask)
        wit = np.full(len(a), -1)
        wit[ends] = tree.nearest(a[ends])
        # one street within COVER * r of both ends: that of the first end, else that of the second
        closed[todo] = tree.within(a[todo], wit[todo]) & tree.within(b[todo], wit[todo])
        e = todo[~closed[todo]]
        closed[e] = tree.within(a[e], wit[nxt[e]]) & tree.within(b[e], wit[nxt[e]])
        e = todo[~closed[todo] & (wit[todo] >= 0) & (wit[nxt[todo]] >= 0)]  # an end without a street stays open
        if len(e):  # the street nearest the middle, for the whole piece or for each half
            mid = 0.5 * (a[e] + b[e])
            wm = tree.nearest(mid)
            wa, wb = wit[e], wit[nxt[e]]
            in_a, in_b, in_m = tree.within(a[e], wm), tree.within(b[e], wm), tree.within(mid, wm)
            first = (in_a & in_m) | (tree.within(a[e], wa) & tree.within(mid, wa))
            second = (in_b & in_m) | (tree.within(b[e], wb) & tree.within(mid, wb))
            closed[e] = (in_a & in_b) | (first & second)
    open_edge = np.zeros((n, 18), dtype=bool)
    np.logical_or.at(open_edge, (np.repeat(np.arange(n), m), np.tile(edge_of, n)), ~closed)
    return open_edge


def _open_hulls(rings: np.ndarray, open_edge: np.ndarray, segs: np.ndarray) -> np.ndarray:
    """For each buffer, the convex polygon of the end points of its open edges (with the middle of its street
    when only one edge is open): a subset of the buffer holding every open edge."""
    keep = open_edge | np.roll(open_edge, 1, axis=1)  # vertex v ends edges v - 1 and v
    count = keep.sum(axis=1)
    order = np.argsort(~keep, axis=1, kind="stable")  # the kept vertices first, in ring order
    xy = np.take_along_axis(rings[:, :18], order[..., None], axis=1)
    xy = np.concatenate([xy, xy[:, :2]], axis=1)  # room for a middle point and the closing point
    one = count < 3
    xy[one, 2] = 0.5 * (segs[one, 0] + segs[one, 1])
    count = np.where(one, 3, count)
    xy[np.arange(len(xy)), count] = xy[:, 0]  # close each ring
    used = np.arange(xy.shape[1])[None, :] <= count[:, None]
    ring_end = np.concatenate([[0], np.cumsum(count + 1)])
    return shapely.from_ragged_array(shapely.GeometryType.POLYGON, xy[used], (ring_end, np.arange(len(xy) + 1)))


def _fill_gaps(
    merged: shapely.Geometry,
    segs: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    r: float,
    max_hole_m2: float,
    grid: _CoverGrid,
    tree_pts: _TreeSamples,
) -> shapely.Geometry:
    """The merged open-edge polygons with their gaps sorted (step 5 of the module docstring).

    Each hole of a part is a gap: kept when it is at least ``max_hole_m2`` and no buffer covers it, else
    filled. A part inside a filled gap (its innermost enclosing hole) is dropped and its kept holes go to the
    nearest enclosing part that stays; a part inside a kept gap (an island in a lake) stays.
    """
    parts = shapely.get_parts(merged)
    parts = parts[shapely.get_type_id(parts) == 3]
    if not len(parts):
        return shapely.Polygon()
    rings, part_of = shapely.get_rings(parts, return_index=True)
    is_shell = np.ones(len(part_of), dtype=bool)
    is_shell[1:] = part_of[1:] != part_of[:-1]
    holes = np.flatnonzero(~is_shell)
    hole_part = part_of[holes]
    hole_poly = shapely.polygons(rings[holes])
    hole_area = shapely.area(hole_poly)
    kept = hole_area >= max_hole_m2
    kept[kept] = ~_covered(_inside_ring(rings[holes[kept]]), segs, lo, hi, r, grid, tree_pts)
    container = np.full(len(parts), -1)  # innermost hole around each part
    if len(holes):
        i, j = shapely.STRtree(hole_poly).query(shapely.point_on_surface(parts), predicate="within")
        o = np.lexsort((hole_area[j], i))
        i, j = i[o], j[o]
        first = np.r_[True, i[1:] != i[:-1]][: len(i)]
        container[i[first]] = j[first]
    stays = container < 0
    stays[~stays] = kept[container[~stays]]
    owner = hole_part[kept]
    for _ in range(len(parts)):  # hand each kept hole up to the nearest enclosing part that stays
        up = ~stays[owner]
        if not up.any():
            break
        owner[up] = hole_part[container[owner[up]]]
    out_part = np.flatnonzero(stays)
    slot = np.full(len(parts), -1)
    slot[out_part] = np.arange(len(out_part))
    ring_of = np.concatenate([rings[is_shell][out_part], rings[holes[kept]]])
    index = np.concatenate([np.arange(len(out_part)), slot[owner]])
    order = np.argsort(index, kind="stable")  # each outline first, then its holes
    out = shapely.polygons(ring_of[order], indices=index[order])
    return _one_geometry(out)


def _inside_ring(rings: np.ndarray) -> np.ndarray:
    """(n, 2) a point just inside each ring (1 cm, or 1/1000 of the edge, off the middle of its longest edge)."""
    if not len(rings):
        return np.empty((0, 2))
    xy, which = shapely.get_coordinates(rings, return_index=True)
    same = which[1:] == which[:-1]
    k = np.flatnonzero(same)
    d = xy[k + 1] - xy[k]
    length = np.hypot(d[:, 0], d[:, 1])
    longest = k[np.lexsort((length, which[k]))]
    longest = longest[np.r_[which[longest][1:] != which[longest][:-1], True]]  # the last of each ring
    a, b = xy[longest], xy[longest + 1]
    d = b - a
    size = np.hypot(d[:, 0], d[:, 1])
    side = np.where(shapely.is_ccw(rings), 1.0, -1.0)  # the inside lies left of a counter-clockwise ring
    off = np.minimum(1e-3 * size, 0.01) * side / np.maximum(size, 1e-12)
    return 0.5 * (a + b) + np.column_stack([-d[:, 1], d[:, 0]]) * off[:, None]


def _covered(
    xy: np.ndarray, segs: np.ndarray, lo: np.ndarray, hi: np.ndarray, r: float, grid: _CoverGrid, tree_pts: _TreeSamples
) -> np.ndarray:
    """Whether each point lies in a street buffer: a solid cell or a street within ``COVER * r``, else tested
    against the buffers of the streets whose box grown by ``r`` holds it."""
    if not len(xy):
        return np.zeros(0, dtype=bool)
    out = grid.solid[grid.cells(xy)]
    if not out.all():
        tree = _WitnessTree(tree_pts, grid, r, 1)
        rest = np.flatnonzero(~out)
        out[rest] = tree.within(xy[rest], tree.nearest(xy[rest]))
    for n in np.flatnonzero(~out):
        x, y = xy[n]
        near = np.flatnonzero((lo[:, 0] - r <= x) & (hi[:, 0] + r >= x) & (lo[:, 1] - r <= y) & (hi[:, 1] + r >= y))
        out[n] = bool(len(near)) and bool(shapely.contains_xy(street_buffers(segs[near], r), x, y).any())
    return out


def union_by_piece(polys: np.ndarray, *, workers: int = 1, executor=None) -> shapely.Geometry:
    """Union of polygons, piece by piece, without a global union.

    Polygons whose bounding boxes chain together form a piece; each piece is unioned on its own (one GEOS
    unary union per piece, vectorised; a piece of one polygon is that polygon) and the pieces — disjoint, since
    no two of their polygons' boxes meet — are gathered into one MultiPolygon. ``workers > 1`` spreads the
    pieces over that many threads (balanced by polygon count). When one piece holds most polygons (catchments
    that merge across a city) the polygons are cut into ``workers`` strips of equal count by x instead, each
    strip is merged on its own thread and the strips' pieces are merged where they meet. The result is the same
    geometry whatever ``workers``.

    Parameters
    ----------
    polys : numpy.ndarray
        Shapely polygons.
    workers : int, default 1
        Threads (shapely releases the GIL).
    executor : concurrent.futures.Executor, optional
        An executor to use instead of making one.

    Returns
    -------
    shapely.Geometry
        Polygon or MultiPolygon (an empty Polygon without input).
    """
    polys = np.asarray(polys, dtype=object)
    if len(polys) < 2:
        return polys[0] if len(polys) else shapely.Polygon()
    n = len(polys)
    lab = _pieces(polys)
    n_lab = int(lab.max()) + 1
    size = np.bincount(lab)
    own = executor is None and workers > 1
    ex = ThreadPoolExecutor(workers) if own else executor
    try:
        if workers > 1 and size.max() > 0.6 * n and n >= 1000:
            b = shapely.bounds(polys)
            order = np.argsort(b[:, 0] + b[:, 2], kind="stable")
            strips = [polys[s] for s in np.array_split(order, workers)]
            merged = list(ex.map(union_by_piece, strips))
            parts = np.concatenate([shapely.get_parts(m) for m in merged])
            return union_by_piece(parts)
        if workers > 1 and n_lab > 1:
            group = np.empty(n_lab, dtype=np.int64)
            load = np.zeros(workers)
            for piece in np.argsort(-size, kind="stable"):  # largest piece first, to the least loaded worker
                k = int(np.argmin(load))
                group[piece] = k
                load[k] += size[piece]
            sels = [np.flatnonzero(group[lab] == k) for k in range(workers)]
            sels = [s for s in sels if len(s)]
            parts = np.concatenate(list(ex.map(lambda sel: _union_pieces(polys, lab, size, sel), sels)))
        else:
            parts = _union_pieces(polys, lab, size, np.arange(n))
    finally:
        if own:
            ex.shutdown()
    parts = parts[shapely.get_type_id(parts) == 3]
    return _one_geometry(parts)


def _pieces(polys: np.ndarray) -> np.ndarray:
    """Label of the piece of each polygon (bounding boxes that chain together)."""
    a, b = shapely.STRtree(polys).query(polys)  # no predicate: bounding boxes only
    n = len(polys)
    return connected_components(
        sparse.csr_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)), directed=False
    )[1]


def _union_pieces(polys: np.ndarray, lab: np.ndarray, size: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """The union of each piece among the polygons ``sel``, as polygons (a piece of one polygon passes as is)."""
    alone = sel[size[lab[sel]] == 1]
    sel = sel[size[lab[sel]] > 1]
    order = sel[np.argsort(lab[sel], kind="stable")]
    _, idx = np.unique(lab[order], return_inverse=True)
    merged = shapely.lib.unary_union(shapely.geometrycollections(polys[order], indices=idx)) if len(order) else []
    return np.concatenate([shapely.get_parts(merged), shapely.get_parts(polys[alone])])
