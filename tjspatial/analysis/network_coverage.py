"""Walk catchments along a street network: the ITDP "People Near Rapid Transport" method, vectorised.

For every station: snap to the nearest street node, walk the shortest paths up to ``distance`` metres, keep
each street edge as far as the walk reaches along it (an edge is cut at the remaining distance, from either
end), buffer the walked streets by ``walk_buffer`` (100 m) and fill holes smaller than ``max_hole_m2``. The
catchment of a set of stations is the union of theirs.

How it is fast
--------------
* the graph is converted once to a :class:`WalkNetwork`: node coordinates in EPSG:4548, a symmetric
  ``scipy.sparse`` matrix of edge lengths and a KD-tree of nodes;
* one multi-source Dijkstra (``scipy.sparse.csgraph.dijkstra(min_only=True, limit=distance)``) gives every
  node's walk distance to the nearest station — the union of the stations' walks needs nothing more;
* edges are cut with numpy on their two end points (street edges are treated as straight segments between
  their nodes; the ``length`` attribute is the walk length, so a curved street is cut in proportion);
* the walked segments are merged and buffered once, and holes are dropped by area in one vectorised pass.

Graph conventions (osmnx): a networkx (Multi)(Di)Graph whose nodes have ``x``/``y`` (in ``graph.graph["crs"]``,
default EPSG:4326) and whose edges have ``length`` in metres (computed as straight lines when absent). Walking
ignores edge direction.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy import sparse
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from ..crs import METRIC_CRS
from ..errors import BuildError
from ..paths import osm_cache_dir

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["WalkNetwork", "walk_catchment", "walk_distances", "walked_segments", "fill_holes",
           "DEFAULT_WALK_BUFFER_M", "DEFAULT_MAX_HOLE_M2", "load_walk_graph"]

DEFAULT_WALK_BUFFER_M = 100.0
"""Buffer around walked streets, metres (ITDP)."""

DEFAULT_MAX_HOLE_M2 = 20_000.0
"""Holes in a catchment smaller than this (2 ha, about a 140 m square block) are filled."""


@dataclass(frozen=True)
class WalkNetwork:
    """A street graph prepared for walking: arrays in EPSG:4548.

    Attributes
    ----------
    xy : (n, 2) float array, node coordinates in metres (EPSG:4548).
    u, v, length : undirected edges (u < v, each pair once, shortest parallel edge kept), length in metres.
    matrix : symmetric CSR matrix of edge lengths (n x n).
    tree : KD-tree of ``xy``.
    node_ids : the graph's node ids, in row order.
    """

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    matrix: sparse.csr_matrix
    tree: cKDTree
    node_ids: np.ndarray

    @classmethod
    def from_arrays(cls, xy: np.ndarray, u: np.ndarray, v: np.ndarray, length: np.ndarray | None = None,
                    node_ids: np.ndarray | None = None) -> "WalkNetwork":
        """Build from node coordinates (EPSG:4548 metres) and edge end indices (lengths default to straight)."""
        xy = np.asarray(xy, dtype=float)
        u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
        if length is None:
            length = np.hypot(*(xy[u] - xy[v]).T)
        length = np.asarray(length, dtype=float)
        keep = u != v
        a, b, w = np.minimum(u, v)[keep], np.maximum(u, v)[keep], length[keep]
        if (w < 0).any() or not np.isfinite(w).all():
            raise ValueError("street graph: edge lengths must be finite and non-negative metres")
        n = len(xy)
        order = np.lexsort((w, b, a))
        a, b, w = a[order], b[order], w[order]
        first = np.ones(len(a), dtype=bool)
        first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        a, b, w = a[first], b[first], w[first]
        # zero-length edges would vanish from a sparse matrix: give them a tiny positive length
        wm = np.maximum(w, 1e-6)
        m = sparse.csr_matrix((np.concatenate([wm, wm]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                              shape=(n, n))
        return cls(xy=xy, u=a, v=b, length=w, matrix=m, tree=cKDTree(xy),
                   node_ids=np.arange(n) if node_ids is None else np.asarray(node_ids))

    @classmethod
    def from_graph(cls, graph) -> "WalkNetwork":
        """Convert a networkx street graph (osmnx conventions, see the module docstring)."""
        if graph is None or graph.number_of_nodes() == 0:
            raise ValueError("the street graph is empty; load one with tjspatial.analysis.network_coverage.load_walk_graph")
        ids = np.fromiter(graph.nodes, dtype=object, count=graph.number_of_nodes())
        try:
            x = np.fromiter((d["x"] for _, d in graph.nodes(data=True)), dtype=float, count=len(ids))
            y = np.fromiter((d["y"] for _, d in graph.nodes(data=True)), dtype=float, count=len(ids))
        except KeyError:
            raise ValueError("street graph: every node needs 'x' and 'y' attributes (osmnx convention)") from None
        crs = CRS.from_user_input(graph.graph.get("crs", "EPSG:4326"))
        if not crs.equals(CRS.from_user_input(METRIC_CRS)):
            x, y = Transformer.from_crs(crs, METRIC_CRS, always_xy=True).transform(x, y)
        edges = list(graph.edges(data="length"))
        if not edges:
            raise ValueError("the street graph has no edges")
        index = pd.Index(ids)
        eu = index.get_indexer(pd.Index([e[0] for e in edges]))
        ev = index.get_indexer(pd.Index([e[1] for e in edges]))
        lengths = np.array([np.nan if e[2] is None else e[2] for e in edges], dtype=float)
        xy = np.column_stack([x, y])
        straight = np.hypot(*(xy[eu] - xy[ev]).T)
        lengths = np.where(np.isnan(lengths), straight, lengths)
        return cls.from_arrays(xy, eu, ev, lengths, node_ids=ids)


def _network(graph) -> WalkNetwork:
    return graph if isinstance(graph, WalkNetwork) else WalkNetwork.from_graph(graph)


def walk_distances(net: WalkNetwork, points_xy: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Walk distance (m) from every node to the nearest station, ``inf`` beyond ``distance``.

    Stations are snapped to their nearest node; a station farther than ``distance`` from every node
    reaches nothing. Returns the distances and the snap distance of each station.
    """
    pts = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    if not len(pts):
        return np.full(len(net.xy), np.inf), np.empty(0)
    snap, node = net.tree.query(pts)
    sources = np.unique(node[snap <= distance])
    if not len(sources):
        return np.full(len(net.xy), np.inf), snap
    dist = dijkstra(net.matrix, directed=False, indices=sources, limit=distance, min_only=True)
    return dist, snap


def walked_segments(net: WalkNetwork, dist: np.ndarray, distance: float) -> np.ndarray:
    """The walked parts of every edge as an (m, 2, 2) array of segment end points (EPSG:4548).

    An edge u–v of length L reached at du from u keeps ``a = min(distance - du, L)`` metres from u, likewise
    ``b`` from v; if ``a + b >= L`` the whole edge is walked, otherwise the two ends are cut (straight-line
    interpolation in proportion to the walk length).
    """
    du, dv, L = dist[net.u], dist[net.v], net.length
    a = np.clip(distance - du, 0.0, None)
    b = np.clip(distance - dv, 0.0, None)
    a[~np.isfinite(du)] = 0.0
    b[~np.isfinite(dv)] = 0.0
    touched = (a > 0) | (b > 0)
    pu, pv = net.xy[net.u[touched]], net.xy[net.v[touched]]
    a, b, L = a[touched], b[touched], L[touched]
    whole = (a + b) >= L
    safe = np.where(L > 0, L, 1.0)
    fa = np.clip(a / safe, 0, 1)[:, None]
    fb = np.clip(b / safe, 0, 1)[:, None]
    segs = [np.stack([pu[whole], pv[whole]], axis=1)]
    part = ~whole
    from_u = part & (a > 0)
    from_v = part & (b > 0)
    segs.append(np.stack([pu[from_u], (pu + (pv - pu) * fa)[from_u]], axis=1))
    segs.append(np.stack([pv[from_v], (pv + (pu - pv) * fb)[from_v]], axis=1))
    return np.concatenate(segs, axis=0)


def fill_holes(geom, max_hole_m2: float) -> shapely.Geometry:
    """``geom`` with every interior ring enclosing less than ``max_hole_m2`` (m²) removed, vectorised."""
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
    return shapely.multipolygons(polys) if len(polys) > 1 else polys[0]


def walk_catchment(points, graph, distance: float, *, walk_buffer: float = DEFAULT_WALK_BUFFER_M,
                   max_hole_m2: float = DEFAULT_MAX_HOLE_M2) -> tuple[shapely.Geometry, dict]:
    """Union of the walk catchments of ``points``.

    Parameters
    ----------
    points : shapely points in EPSG:4548, or an (n, 2) array of EPSG:4548 coordinates.
    graph : networkx street graph or :class:`WalkNetwork`.
    distance : walk distance, metres.
    walk_buffer : buffer around walked streets, metres.
    max_hole_m2 : holes smaller than this are filled, m².

    Returns
    -------
    (polygon in EPSG:4548, dict of diagnostics: ``walk_buffer_m``, ``max_hole_m2``, ``stations_off_network``
    (snapped farther than ``distance``), ``walked_km``, ``small_faces_km2`` (area of the street blocks filled
    whole, the shortcut that makes this fast))
    """
    if graph is None:
        raise ValueError("walk catchments need a street graph (tjspatial.analysis.network_coverage.load_walk_graph)")
    net = _network(graph)
    pts = np.asarray(points)
    if pts.dtype == object:
        pts = shapely.get_coordinates(pts)
    dist, snap = walk_distances(net, pts, distance)
    segs = walked_segments(net, dist, distance)
    info = {"walk_buffer_m": float(walk_buffer), "max_hole_m2": float(max_hole_m2),
            "stations_off_network": int((snap > distance).sum()),
            "walked_km": float(np.hypot(*(segs[:, 1] - segs[:, 0]).T).sum() / 1000)}
    if not len(segs):
        return shapely.Polygon(), info
    area, core_area = _buffer_walk(net, dist, distance, segs, walk_buffer, max_hole_m2)
    info["small_faces_km2"] = core_area / 1e6
    return fill_holes(area, max_hole_m2), info


def _faces(xy: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces of the undirected edges a–b taken as a plane graph.

    Half-edge ``h < m`` is a→b and ``h + m`` is b→a. At each node the outgoing half-edges are sorted by angle;
    the successor of a half-edge along its left face is the half-edge just before its twin in counter-clockwise
    order. Face cycles are the connected components of the successor map, and their signed areas come from
    the shoelace formula (bounded faces are positive). All numpy / scipy.

    Returns
    -------
    face : (2m,) face id of the face left of each half-edge.
    area : (n_faces,) signed area of each face, m².
    """
    m = len(a)
    org = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    d = xy[dst] - xy[org]
    ang = np.arctan2(d[:, 1], d[:, 0])
    order = np.lexsort((ang, org))              # half-edges sorted by origin, then angle (ccw)
    pos = np.empty(2 * m, dtype=np.int64)
    pos[order] = np.arange(2 * m)
    start = np.searchsorted(org[order], org[order], side="left")
    count = np.bincount(org, minlength=len(xy))[org[order]]
    twin = np.concatenate([np.arange(m, 2 * m), np.arange(m)])
    tp = pos[twin]                               # sorted position of each half-edge's twin (at the dest node)
    tstart = start[tp]
    prev_pos = tstart + (tp - tstart - 1) % count[tp]
    nxt = order[prev_pos]                         # successor of each half-edge along its left face
    graph = sparse.csr_matrix((np.ones(2 * m), (np.arange(2 * m), nxt)), shape=(2 * m, 2 * m))
    _, face = connected_components(graph, directed=True, connection="weak")
    cross = xy[org, 0] * xy[dst, 1] - xy[dst, 0] * xy[org, 1]
    return face, 0.5 * np.bincount(face, weights=cross)


def _left_probe(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """A point just left of the middle of each segment pa→pb (at most 1 cm away)."""
    dvec = pb - pa
    length = np.hypot(dvec[:, 0], dvec[:, 1])
    nrm = np.column_stack([-dvec[:, 1], dvec[:, 0]]) / np.maximum(length, 1e-12)[:, None]
    return (pa + pb) / 2 + nrm * np.minimum(1e-3 * length, 0.01)[:, None]


def _core(xy: np.ndarray, a: np.ndarray, b: np.ndarray, max_area: float) -> tuple[np.ndarray, np.ndarray]:
    """The small faces (< ``max_area``) of the walked edges a–b as polygons, and which edges they cover.

    Small faces that share an edge form pieces; each region bounded by edges with a small face on one side only
    is polygonised and kept if the pieces whose interior points fall in it add up to its area — true wherever
    the streets form a plane graph, false around streets that cross without a node (bridges), whose edges are
    then left to the ordinary buffer.

    Returns
    -------
    core : polygons (EPSG:4548) made of small faces.
    covered : (m,) bool, edges with a kept small face on either side (their buffer lies in ``buffer(core)``).
    """
    m = len(a)
    face, area = _faces(xy, a, b)
    small = (area > 0) & (area < max_area)
    hs = small[face]
    left, right = hs[:m], hs[m:]
    rim = left ^ right
    none = (np.empty(0, dtype=object), np.zeros(m, dtype=bool))
    if not rim.any():
        return none
    regions = shapely.get_parts(shapely.polygonize(shapely.linestrings(np.stack([xy[a[rim]], xy[b[rim]]], axis=1))))
    if not len(regions):
        return none
    # small faces sharing an edge form the connected pieces of the core; one interior point per piece, just
    # left of one of its rim half-edges, tells which polygonised region it is
    nf = len(area)
    inner = left & right
    fl, fr = face[:m][inner], face[m:][inner]
    adj = sparse.csr_matrix((np.ones(len(fl)), (fl, fr)), shape=(nf, nf))
    _, comp = connected_components(adj, directed=False)
    comp_area = np.bincount(comp, weights=np.where(small, area, 0.0))
    half_rim = np.flatnonzero(hs & ~np.concatenate([hs[m:], hs[:m]]))   # small face on the left only
    cid, first = np.unique(comp[face[half_rim]], return_index=True)
    h = half_rim[first]
    org = np.concatenate([a, b])[h]
    dst = np.concatenate([b, a])[h]
    ip, ir = shapely.STRtree(regions).query(shapely.points(_left_probe(xy[org], xy[dst])), predicate="within")
    assigned = np.bincount(ir, weights=comp_area[cid[ip]], minlength=len(regions))
    reg_area = shapely.area(regions)
    valid = (assigned > 0) & (np.abs(assigned - reg_area) <= 1e-6 * np.maximum(reg_area, 1.0))
    comp_ok = np.zeros(comp.max() + 1, dtype=bool)
    comp_ok[cid[ip[valid[ir]]]] = True
    ok = comp_ok[comp[face]] & hs
    covered = (left & ok[:m]) | (right & ok[m:])
    return regions[valid], covered


def _buffer_walk(net: WalkNetwork, dist: np.ndarray, distance: float, segs: np.ndarray, walk_buffer: float,
                 max_hole_m2: float) -> tuple[shapely.Geometry, float]:
    """``buffer(walked segments, walk_buffer)`` with small holes filled, without buffering every segment.

    Faces of the walked network smaller than ``max_hole_m2`` would be filled as holes anyway, so their union
    (the *core*, :func:`_core`) belongs to the catchment; ``buffer(core)`` then also covers the buffers of every
    edge inside or on the edge of the core, and only the remaining segments (cut ends, tree-like streets,
    edges between large faces, streets around a crossing without a node) are buffered one by one. The result
    equals the buffer of all walked segments with small holes filled. Returns it and the core area (m²).
    """
    du, dv = dist[net.u], dist[net.v]
    whole = (np.isfinite(du) & np.isfinite(dv)
             & ((np.clip(distance - du, 0, None) + np.clip(distance - dv, 0, None)) >= net.length))
    wa, wb = net.u[whole], net.v[whole]
    parts = []
    other = segs
    core_area = 0.0
    if max_hole_m2 > 0 and len(wa):
        core, covered = _core(net.xy, wa, wb, max_hole_m2)
        if len(core):
            core_area = float(shapely.area(core).sum())
            parts.append(shapely.buffer(shapely.union_all(core), walk_buffer, quad_segs=4))
            skip = np.zeros(len(net.u), dtype=bool)
            skip[np.flatnonzero(whole)[covered]] = True
            other = _segments_excluding(net, dist, distance, skip)
    if len(other):
        parts.extend(shapely.buffer(shapely.linestrings(other), walk_buffer, quad_segs=4))
    if not parts:
        return shapely.Polygon(), core_area
    return shapely.union_all(np.asarray(parts, dtype=object)), core_area


def _segments_excluding(net: WalkNetwork, dist: np.ndarray, distance: float, skip: np.ndarray) -> np.ndarray:
    """Walked segments of the edges not flagged in ``skip`` (edge-indexed boolean)."""
    sub = WalkNetwork(xy=net.xy, u=net.u[~skip], v=net.v[~skip], length=net.length[~skip], matrix=net.matrix,
                      tree=net.tree, node_ids=net.node_ids)
    return walked_segments(sub, dist, distance)


def load_walk_graph(path: str | Path | None = None) -> nx.MultiDiGraph:
    """Read a walk network saved by :func:`tjspatial.sources.osm.build_walk_graph` (``tjspatial walk-network``).

    Parameters
    ----------
    path : str or Path, optional
        GraphML file (default ``layers/osm_cache/walk_network.graphml``).

    Returns
    -------
    networkx.MultiDiGraph with osmnx conventions: node attributes ``x`` (lon), ``y`` (lat) in EPSG:4326, edge
    attribute ``length`` in metres, graph attribute ``crs``.

    Raises
    ------
    FileNotFoundError
        No file at ``path`` (the message says how to build it).
    BuildError
        The file is not such a graph (names the file and what is wrong).
    """
    import osmnx as ox
    path = Path(path) if path else osm_cache_dir() / "walk_network.graphml"
    if not path.is_file():
        raise FileNotFoundError(f"no walk network at {path}; build it with `tjspatial walk-network` "
                                f"(Overpass) or `tjspatial walk-network --extract FILE`")
    try:
        g = ox.load_graphml(path)
    except Exception as exc:
        raise BuildError(f"not a GraphML walk network ({type(exc).__name__}: {exc})", file=str(path)) from exc
    crs = str(g.graph.get("crs", "")).lower()
    if crs not in ("epsg:4326", "wgs84"):
        raise BuildError(f"walk network CRS is {crs!r}, expected EPSG:4326", file=str(path))
    if g.number_of_edges() and not all("length" in d for _, _, d in g.edges(data=True)):
        raise BuildError("walk network edges lack 'length' (metres)", file=str(path), field="length")
    return g
