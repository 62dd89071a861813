"""Walk catchments along a street network: the ITDP "People Near Rapid Transport" method, vectorised.

For every station: snap to the nearest street node, walk the shortest paths up to ``distance`` metres, keep
each street edge as far as the walk reaches along it (an edge is cut at the remaining distance, from either
end), buffer the walked streets by ``walk_buffer`` (100 m) and fill holes smaller than ``max_hole_m2``. The
catchment of a set of stations is the union of theirs.

How it is fast
--------------
* the graph is held as a :class:`WalkNetwork`: flat arrays (node coordinates in the metric CRS, EPSG:4548 in
  Tianjin; int32 edge ends; lengths), ~150 B a node plus a symmetric CSR matrix of edge lengths
  (``scipy.sparse``) and a KD-tree of nodes built on first use — 1.2 M nodes in ~0.4 GB. It is stored as a
  GeoPackage edge table (:meth:`WalkNetwork.save` / :meth:`WalkNetwork.load`: tables ``walk_nodes``,
  ``walk_edges``, ``walk_meta``; a 1.2 M-node network loads in seconds, without networkx); GraphML (osmnx) stays
  the import format (:meth:`WalkNetwork.from_graph`, :func:`load_walk_graph`);
* one multi-source Dijkstra (``scipy.sparse.csgraph.dijkstra(min_only=True, limit=distance)``) gives every
  node's walk distance to the nearest station — the union of the stations' walks needs nothing more;
* edges are cut with numpy on their two end points (street edges are treated as straight segments between
  their nodes; the ``length`` attribute is the walk length, so a curved street is cut in proportion along
  its chord — edge geometries are not used);
* every walked segment is buffered as the per-station method buffers it (``quad_segs=4``), but only the
  buffers that may draw the catchment's edge are merged (:func:`tjspatial.analysis.buffer_union.merge_street_buffers`):
  a raster of the street samples and a KD-tree prove the others lie inside it (every point of their outline lies
  within 0.98 ``walk_buffer`` of another street, inside that street's buffer). The merged polygons are cut down
  to the parts of their outline that may lie on the edge, merged in x strips joined without an overlay, and the
  gaps are sorted: small or covered gaps are filled, large uncovered ones stay as holes. The catchment is
  therefore the same polygon as buffering and merging every walked segment (tests compare the two to 1e-12
  relative; benchmarks/bench_network_coverage.py prints the difference from the per-station pipeline);
* with ``workers=2`` (default on a multi-core machine) the KD-tree queries and the merge run on two threads
  (shapely releases the GIL); the geometry is the same as with one thread.

Graph conventions (osmnx): a networkx (Multi)(Di)Graph whose nodes have ``x``/``y`` (in ``graph.graph["crs"]``,
default EPSG:4326) and whose edges have ``length`` in metres (computed as straight lines when absent). Walking
ignores edge direction.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from ..crs import METRIC_CRS, transformer
from ..errors import BuildError, InputError, MissingFileError
from ..paths import osm_cache_dir
from .buffer_union import fill_holes, merge_street_buffers

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "WalkNetwork",
    "walk_catchment",
    "walk_distances",
    "walked_segments",
    "fill_holes",
    "DEFAULT_WALK_BUFFER_M",
    "DEFAULT_MAX_HOLE_M2",
    "load_walk_graph",
]

DEFAULT_WALK_BUFFER_M = 100.0
"""Buffer around walked streets, metres (ITDP)."""

DEFAULT_MAX_HOLE_M2 = 20_000.0
"""Holes in a catchment smaller than this (2 ha, about a 140 m square block) are filled."""


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """A street graph prepared for walking: flat arrays in a metric CRS (EPSG:4548 in Tianjin), about 150-250
    bytes a node (networkx holds ~1.2 KB a node in memory and GraphML costs ~18 KB a node to load).

    Attributes
    ----------
    xy : (n, 2) float array, node coordinates in metres (``crs``).
    u, v, length : undirected edges (u < v, each pair once, shortest parallel edge kept; int32 node rows),
        walk length in metres.
    node_ids : the graph's node ids (e.g. OSM ids), in row order.
    crs : the metric CRS of ``xy``.

    ``matrix`` (symmetric CSR matrix of edge lengths, scipy.sparse) and ``tree`` (KD-tree of ``xy``) are built
    on first use and kept.
    """

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    node_ids: np.ndarray
    crs: str = METRIC_CRS

    @cached_property
    def matrix(self) -> sparse.csr_matrix:
        n = len(self.xy)
        # zero-length edges would vanish from a sparse matrix: give them a tiny positive length
        wm = np.maximum(self.length, 1e-6)
        return sparse.csr_matrix(
            (np.concatenate([wm, wm]), (np.concatenate([self.u, self.v]), np.concatenate([self.v, self.u]))),
            shape=(n, n),
        )

    @cached_property
    def tree(self) -> cKDTree:
        return cKDTree(self.xy)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (and the CSR matrix / KD-tree once built)."""
        n = self.xy.nbytes + self.u.nbytes + self.v.nbytes + self.length.nbytes + getattr(self.node_ids, "nbytes", 0)
        if "matrix" in self.__dict__:
            m = self.__dict__["matrix"]
            n += m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
        if "tree" in self.__dict__:
            n += self.xy.nbytes + self.__dict__["tree"].indices.nbytes + 16 * (len(self.xy) // 8 + 1) * 8
        return n

    @classmethod
    def from_arrays(
        cls,
        xy: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        length: np.ndarray | None = None,
        node_ids: np.ndarray | None = None,
        crs: str = METRIC_CRS,
    ) -> "WalkNetwork":
        """Build from node coordinates (metres in ``crs``) and edge end indices (lengths default to straight)."""
        xy = np.ascontiguousarray(xy, dtype=float)
        u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
        n = len(xy)
        out = np.flatnonzero((u < 0) | (u >= n) | (v < 0) | (v >= n))
        if len(out):  # checked before the default lengths index xy with them
            i = out[0]
            raise InputError(
                f"street graph: {len(out)} edge(s) refer to nodes outside 0..{n - 1} (first: {u[i]} -> {v[i]})"
            )
        if length is None:
            length = np.hypot(*(xy[u] - xy[v]).T)
        length = np.asarray(length, dtype=float)
        keep = u != v
        a, b, w = np.minimum(u, v)[keep], np.maximum(u, v)[keep], length[keep]
        if (w < 0).any() or not np.isfinite(w).all():
            bad = np.flatnonzero((w < 0) | ~np.isfinite(w))
            raise InputError(
                f"street graph: field 'length' must be finite, non-negative metres; {len(bad)} edge(s) are not "
                f"(first: {float(w[bad[0]])!r} between nodes {a[bad[0]]} and {b[bad[0]]})"
            )
        order = np.lexsort((w, b, a))
        a, b, w = a[order], b[order], w[order]
        first = np.ones(len(a), dtype=bool)
        first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        idx = np.int32 if n < 2**31 else np.int64
        return cls(
            xy=xy,
            u=a[first].astype(idx),
            v=b[first].astype(idx),
            length=w[first],
            node_ids=np.arange(n) if node_ids is None else np.asarray(node_ids),
            crs=str(crs),
        )

    @classmethod
    def from_graph(cls, graph, crs: str | None = None) -> "WalkNetwork":
        """Convert a networkx street graph (osmnx conventions, see the module docstring) — the GraphML import
        path; ``crs``: the metric CRS (default: the zone that follows the nodes, EPSG:4548 in Tianjin)."""
        if graph is None or graph.number_of_nodes() == 0:
            raise InputError(
                "the street graph is empty; load one with tjspatial.analysis.network_coverage.load_walk_graph"
            )
        ids = np.fromiter(graph.nodes, dtype=object, count=graph.number_of_nodes())
        try:
            x = np.fromiter((d["x"] for _, d in graph.nodes(data=True)), dtype=float, count=len(ids))
            y = np.fromiter((d["y"] for _, d in graph.nodes(data=True)), dtype=float, count=len(ids))
        except KeyError:
            raise InputError(
                "street graph: every node needs fields 'x' and 'y' (osmnx convention); "
                f"node {next(k for k, d in graph.nodes(data=True) if 'x' not in d or 'y' not in d)!r} lacks them"
            ) from None
        src = CRS.from_user_input(graph.graph.get("crs", "EPSG:4326"))
        if crs is None:
            import geopandas as gpd
            from ..crs import metric_crs_for

            b = (x.min(), y.min(), x.max(), y.max())
            crs = (
                metric_crs_for(gpd.GeoSeries(shapely.box(*b), crs=src))
                if not src.equals(CRS.from_user_input(METRIC_CRS))
                else METRIC_CRS
            )
        if not src.equals(CRS.from_user_input(crs)):
            x, y = transformer(src, crs).transform(x, y)
        edges = list(graph.edges(data="length"))
        if not edges:
            raise InputError(f"the street graph ({len(ids)} nodes) has no edges")
        index = pd.Index(ids)
        eu = index.get_indexer(pd.Index([e[0] for e in edges]))
        ev = index.get_indexer(pd.Index([e[1] for e in edges]))
        lengths = np.array([np.nan if e[2] is None else e[2] for e in edges], dtype=float)
        xy = np.column_stack([x, y])
        straight = np.hypot(*(xy[eu] - xy[ev]).T)
        lengths = np.where(np.isnan(lengths), straight, lengths)
        try:
            ids = ids.astype(np.int64)
        except (TypeError, ValueError):
            pass
        return cls.from_arrays(xy, eu, ev, lengths, node_ids=ids, crs=crs)

    # ------------------------------------------------------------------------------------------ edge table
    def save(self, path, *, source: str = "") -> Path:
        """Write the network as an edge table, atomically (temporary file, then rename); :meth:`load` reads it
        back in seconds, without networkx.

        ``.parquet``: one table, a row per edge — ``u``, ``v`` (node ids), ``length`` (metres), ``x_u``, ``y_u``,
        ``x_v``, ``y_v`` (node coordinates in ``crs``); a node without edges is a row with ``u == v`` and length 0;
        the CRS and source in the file's key-value metadata (needs pyarrow). Anything else: a GeoPackage with
        ``walk_nodes`` (node_id, x, y), ``walk_edges`` (u, v: ``walk_nodes`` rows; length: metres) and
        ``walk_meta`` (crs, counts, source), attribute tables GDAL and QGIS list.

        Parameters
        ----------
        path : str or pathlib.Path
            ``.parquet`` or ``.gpkg`` file.
        source : str, default ""
            Where the network came from (stored in the metadata).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        path = Path(path)
        if path.suffix.lower() == ".parquet":
            return self._save_parquet(path, source)
        return self._save_gpkg(path, source)

    def _node_ids(self) -> np.ndarray:
        ids = np.asarray(self.node_ids)
        return ids.astype(np.int64) if np.issubdtype(ids.dtype, np.integer) else np.arange(len(ids))

    def _save_gpkg(self, path: Path, source: str) -> Path:
        from ..atomic import atomic_path

        meta = {
            "crs": self.crs,
            "nodes": len(self.xy),
            "edges": len(self.u),
            "source": source,
            "format": "tjspatial walk network 1 (node rows 0..n-1; u < v; length in metres)",
        }
        with atomic_path(path) as tmp:
            import pyogrio

            # GDAL writes the GeoPackage skeleton (and the small metadata table); the two big tables follow in
            # bulk through sqlite, registered as attribute tables
            pyogrio.write_dataframe(
                pd.DataFrame({"key": list(meta), "value": [str(v) for v in meta.values()]}),
                tmp,
                layer="walk_meta",
                driver="GPKG",
            )
            con = sqlite3.connect(tmp)
            try:
                con.execute(
                    "CREATE TABLE walk_nodes (fid INTEGER PRIMARY KEY, node_id INTEGER, x REAL NOT NULL, "
                    "y REAL NOT NULL)"
                )
                con.execute(
                    "CREATE TABLE walk_edges (fid INTEGER PRIMARY KEY, u INTEGER NOT NULL, "
                    "v INTEGER NOT NULL, length REAL NOT NULL)"
                )
                con.executemany(
                    "INSERT INTO walk_nodes VALUES (?, ?, ?, ?)",
                    zip(range(len(self.xy)), self._node_ids().tolist(), self.xy[:, 0].tolist(), self.xy[:, 1].tolist()),
                )
                con.executemany(
                    "INSERT INTO walk_edges VALUES (?, ?, ?, ?)",
                    zip(range(len(self.u)), self.u.tolist(), self.v.tolist(), self.length.tolist()),
                )
                for t, d in (
                    ("walk_nodes", f"walk network nodes (x, y in {self.crs})"),
                    ("walk_edges", "walk network edges (u, v: walk_nodes.fid; length: metres)"),
                ):
                    con.execute(
                        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                        "VALUES (?, 'attributes', ?, ?)",
                        (t, t, d),
                    )
                con.commit()
            finally:
                con.close()
        return path

    def _save_parquet(self, path: Path, source: str) -> Path:
        import json

        pa, pq = _pyarrow(path)
        from ..atomic import atomic_path

        ids = self._node_ids()
        lone = np.setdiff1d(np.arange(len(self.xy)), np.concatenate([self.u, self.v]))
        u = np.concatenate([self.u, lone])
        v = np.concatenate([self.v, lone])
        cols = {
            "u": ids[u],
            "v": ids[v],
            "length": np.concatenate([self.length, np.zeros(len(lone))]),
            "x_u": self.xy[u, 0],
            "y_u": self.xy[u, 1],
            "x_v": self.xy[v, 0],
            "y_v": self.xy[v, 1],
        }
        meta = {"crs": self.crs, "source": source, "format": _PARQUET_FORMAT}
        table = pa.table(cols).replace_schema_metadata({"tjspatial": json.dumps(meta)})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    @classmethod
    def load(cls, path) -> "WalkNetwork":
        """Read a network written by :meth:`save` (a GeoPackage with ``walk_nodes``/``walk_edges``/``walk_meta``,
        or a ``.parquet`` edge table), or import a GraphML file (``.graphml``, through networkx: slow and
        memory-hungry for a city-wide network).

        Raises
        ------
        MissingFileError
            No file at ``path`` (also a :class:`FileNotFoundError`).
        InputError
            The file is not such a network: the message names the file, the table and the missing column (or the
            bad values).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".graphml":
            return cls.from_graph(load_walk_graph(path))
        if not path.is_file():
            raise MissingFileError(f"no walk network at {path}; write one with `tjspatial walk-network --out FILE`")
        if suffix == ".parquet":
            return cls._load_parquet(path)
        return cls._load_gpkg(path)

    @classmethod
    def _load_gpkg(cls, path: Path) -> "WalkNetwork":
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            try:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            except sqlite3.DatabaseError as exc:
                raise InputError(f"{path}: not a walk network GeoPackage ({exc})") from None
            missing = [t for t in _GPKG_COLUMNS if t not in tables]
            if missing:
                raise InputError(
                    f"{path}: not a walk network GeoPackage (table(s) {', '.join(missing)} missing); write one with "
                    f"`tjspatial walk-network --out FILE.gpkg` or WalkNetwork.save"
                )
            for table, need in _GPKG_COLUMNS.items():
                have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
                lack = [c for c in need if c not in have]
                if lack:
                    raise InputError(
                        f"{path}: table {table} lacks column(s) {', '.join(lack)} (a walk network needs {table}"
                        f"({', '.join(need)}))"
                    )
                for c in need[1:] if table == "walk_meta" else need:
                    if c != "node_id" and con.execute(f"SELECT 1 FROM {table} WHERE {c} IS NULL LIMIT 1").fetchone():
                        raise InputError(f"{path}: table {table}, column {c} has empty values")
            meta = dict(con.execute("SELECT key, value FROM walk_meta"))
            if "crs" not in meta:
                raise InputError(f"{path}: table walk_meta has no 'crs' row (the CRS of walk_nodes x, y)")
            n = con.execute("SELECT COUNT(*) FROM walk_nodes").fetchone()[0]
            m = con.execute("SELECT COUNT(*) FROM walk_edges").fetchone()[0]
            nodes = np.fromiter(
                con.execute("SELECT coalesce(node_id, fid), x, y FROM walk_nodes ORDER BY fid"),
                dtype=[("id", "i8"), ("x", "f8"), ("y", "f8")],
                count=n,
            )
            edges = np.fromiter(
                con.execute("SELECT u, v, length FROM walk_edges ORDER BY fid"),
                dtype=[("u", "i4" if n < 2**31 else "i8"), ("v", "i4" if n < 2**31 else "i8"), ("l", "f8")],
                count=m,
            )
        finally:
            con.close()
        xy = np.column_stack([nodes["x"], nodes["y"]])
        if m and (min(edges["u"].min(), edges["v"].min()) < 0 or max(edges["u"].max(), edges["v"].max()) >= n):
            raise InputError(f"{path}: table walk_edges, columns u, v refer to nodes outside walk_nodes (0..{n - 1})")
        _check_lengths(edges["l"], path, "walk_edges")
        u, v = edges["u"], edges["v"]
        if m and ((u >= v).any()):
            # not written by save (u < v, one row per pair): canonicalise
            return cls.from_arrays(xy, u, v, edges["l"], node_ids=nodes["id"], crs=meta["crs"])
        return cls(
            xy=xy,
            u=u.copy(),
            v=v.copy(),
            length=edges["l"].copy(),
            node_ids=nodes["id"].copy(),
            crs=meta["crs"],
        )

    @classmethod
    def _load_parquet(cls, path: Path) -> "WalkNetwork":
        import json

        _, pq = _pyarrow(path)
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # pyarrow raises its own error classes for a file that is not Parquet
            raise InputError(f"{path}: not a Parquet file ({type(exc).__name__}: {exc})") from None
        lack = [c for c in _PARQUET_COLUMNS if c not in schema.names]
        if lack:
            raise InputError(
                f"{path}: the edge table lacks column(s) {', '.join(lack)} (a walk network edge table needs "
                f"{', '.join(_PARQUET_COLUMNS)}: node ids, metres, node coordinates)"
            )
        meta = json.loads((schema.metadata or {}).get(b"tjspatial", b"{}"))
        if "crs" not in meta:
            raise InputError(f"{path}: no 'tjspatial' metadata with the CRS of x_u, y_u, x_v, y_v")
        table = pq.read_table(path, columns=list(_PARQUET_COLUMNS))
        cols = {}
        for c in _PARQUET_COLUMNS:
            col = table.column(c)
            if col.null_count:
                raise InputError(f"{path}: column {c} has {col.null_count} empty values")
            cols[c] = col.to_numpy()
        _check_lengths(cols["length"], path, "the edge table")
        ids, first, inv = np.unique(np.concatenate([cols["u"], cols["v"]]), return_index=True, return_inverse=True)
        x = np.concatenate([cols["x_u"], cols["x_v"]])[first]
        y = np.concatenate([cols["y_u"], cols["y_v"]])[first]
        m = len(cols["u"])
        return cls.from_arrays(np.column_stack([x, y]), inv[:m], inv[m:], cols["length"], node_ids=ids, crs=meta["crs"])


_GPKG_COLUMNS = {"walk_nodes": ("node_id", "x", "y"), "walk_edges": ("u", "v", "length"), "walk_meta": ("key", "value")}
_PARQUET_COLUMNS = ("u", "v", "length", "x_u", "y_u", "x_v", "y_v")
_PARQUET_FORMAT = "tjspatial walk network edge table 1 (u, v: node ids; length: metres; x, y in crs)"


def _pyarrow(path: Path):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: a Parquet walk network needs pyarrow (pip install pyarrow) or use .gpkg") from None
    return pa, pq


def _check_lengths(length: np.ndarray, path: Path, table: str) -> None:
    bad = ~np.isfinite(length) | (length < 0)
    if bad.any():
        raise InputError(
            f"{path}: {table}, column length has {int(bad.sum())} values that are not finite non-negative metres "
            f"(first at row {int(np.argmax(bad))})"
        )


def _network(graph) -> WalkNetwork:
    return graph if isinstance(graph, WalkNetwork) else WalkNetwork.from_graph(graph)


def walk_distances(net: WalkNetwork, points_xy: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Walk distance (m) from every node to the nearest station, ``inf`` beyond ``distance``.

    Stations are snapped to their nearest node; a station farther than ``distance`` from every node
    reaches nothing.

    Parameters
    ----------
    net : WalkNetwork
        The street network (metric CRS).
    points_xy : numpy.ndarray
        (n, 2) station coordinates, metres.
    distance : float
        Walk distance, metres.

    Returns
    -------
    dist : numpy.ndarray
        Metres from every node to the nearest station (``inf`` beyond ``distance``).
    snap : numpy.ndarray
        Metres from each station to its node.
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

    Parameters
    ----------
    net : WalkNetwork
        The street network (metric CRS).
    dist : numpy.ndarray
        Walk distance of every node, metres (:func:`walk_distances`).
    distance : float
        Walk distance, metres.

    Returns
    -------
    numpy.ndarray
        (m, 2, 2) segment end points, metres.
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


def walk_catchment(
    points,
    graph,
    distance: float,
    *,
    walk_buffer: float = DEFAULT_WALK_BUFFER_M,
    max_hole_m2: float = DEFAULT_MAX_HOLE_M2,
    workers: int | None = None,
) -> tuple[shapely.Geometry, dict]:
    """Union of the walk catchments of ``points``.

    Parameters
    ----------
    points : numpy.ndarray
        Shapely points in the metric CRS (EPSG:4548 for Tianjin), or an (n, 2) array of its coordinates.
    graph : networkx.MultiDiGraph or WalkNetwork
        The street graph.
    distance : float
        Walk distance, metres.
    walk_buffer : float, optional
        Buffer around walked streets, metres.
    max_hole_m2 : float, optional
        Holes smaller than this are filled, m².
    workers : int, optional
        Threads for merging the street buffers (default: 2, or 1 on a one-core machine); the catchment is the
        same geometry whatever the number (only its vertex order may differ).

    Returns
    -------
    catchment : shapely.Geometry
        Polygon or MultiPolygon in the metric CRS.
    info : dict
        ``walk_buffer_m``, ``max_hole_m2``, ``stations_off_network`` (snapped farther than ``distance``),
        ``walked_km``, ``buffers_merged`` (how many walked segments' buffers were merged: those that may draw
        the catchment's edge; the others were proved to lie inside it, :mod:`tjspatial.analysis.buffer_union`).
    """
    if graph is None:
        raise InputError("walk catchments need a street graph (tjspatial.analysis.network_coverage.load_walk_graph)")
    net = _network(graph)
    pts = np.asarray(points)
    if pts.dtype == object:
        pts = shapely.get_coordinates(pts)
    dist, snap = walk_distances(net, pts, distance)
    segs = walked_segments(net, dist, distance)
    info = {
        "walk_buffer_m": float(walk_buffer),
        "max_hole_m2": float(max_hole_m2),
        "stations_off_network": int((snap > distance).sum()),
        "walked_km": float(np.hypot(*(segs[:, 1] - segs[:, 0]).T).sum() / 1000),
    }
    if not len(segs):
        return shapely.Polygon(), info
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    area, merged = merge_street_buffers(segs, walk_buffer, max_hole_m2, workers=max(1, int(workers)))
    info["buffers_merged"] = merged
    return area, info


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
    MissingFileError
        No file at ``path`` (the message says how to build it; also a :class:`FileNotFoundError`).
    BuildError
        The file is not such a graph (names the file and what is wrong).
    """
    import osmnx as ox

    path = Path(path) if path else osm_cache_dir() / "walk_network.graphml"
    if not path.is_file():
        raise MissingFileError(
            f"no walk network at {path}; build it with `tjspatial walk-network` "
            f"(Overpass) or `tjspatial walk-network --extract FILE`"
        )
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
