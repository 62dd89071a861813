"""OSM data read once and queried by every layer: nodes, ways, relations, features and routes.

:func:`read_osm_xml` parses an OSM XML file (``.osm``, ``.osm.gz``, ``.osm.bz2``; an Overpass answer, an extract
or a clipped PBF) in one streaming pass into an :class:`OsmData`. Every OSM layer of a build then asks it for
its features (:meth:`OsmData.features`: the elements a layer's selectors pick, with geometries) and route
relations (:meth:`OsmData.routes`), so a clipped extract is parsed once for all layers.

Geometries are built here rather than by osmnx, so that what real extracts do to them is seen and reported:

* a way whose nodes are missing from the file (a bbox cut) keeps the nodes it has, or is dropped with fewer
  than two;
* a multipolygon / boundary relation is assembled from its member ways (role ``outer``, ``inner`` or empty =
  outer): ways are merged into rings; a member way missing from the file and a ring that does not close are
  *problems* (``problems`` column, one text per problem naming the relation and way ids and the gap in metres);
* with ``repair=True`` (default) a ring whose ends are at most :data:`REPAIR_GAP_M` metres apart — or 10 % of
  its length — is closed with a straight segment, other open rings are dropped, and an invalid result is
  made valid (``shapely.make_valid``); each such step is written to the ``repairs`` column.

Lengths and gaps are measured on the ellipsoid (pyproj ``Geod``), so no projection is needed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from ..catalog import Layer
from ..crs import STORAGE_CRS
from ..errors import BuildError
from .osm_query import Selector, parse_selectors

__all__ = ["OsmData", "OsmDoc", "Routes", "read_osm_xml", "write_selected_ways", "REPAIR_GAP_M", "AREA_RELATIONS"]

REPAIR_GAP_M = 500.0
"""An open ring whose ends are at most this far apart (m), or 10 % of its length, is closed when repairing."""
AREA_RELATIONS = ("multipolygon", "boundary")
"""Relation types assembled into (multi)polygons."""
_GEOD = Geod(ellps="WGS84")


@dataclass
class Routes:
    """Route relations read from OSM data.

    Attributes
    ----------
    relations : one row per relation: ``rel_id`` and one column per tag key.
    members : one row per member, in relation order: ``rel_id, seq, type, ref, role``.
    ways : member way geometries (LineString, EPSG:4326), indexed by way id.
    nodes : member node positions and names (Point, EPSG:4326), indexed by node id; column ``name``.
    """

    relations: pd.DataFrame
    members: pd.DataFrame
    ways: gpd.GeoSeries
    nodes: gpd.GeoDataFrame


@dataclass
class OsmData:
    """The nodes, ways and relations of one OSM file.

    Attributes
    ----------
    path : the file read.
    node_ids : sorted node ids (int64); ``lon``, ``lat`` their positions (EPSG:4326).
    node_tags : tags of the nodes that have any.
    way_nodes : node ids of every way, in order.
    way_tags : tags of the ways that have any.
    relations : relation id → (tags, [(type, ref, role), ...]).
    timestamp : data date (YYYY-MM-DD): ``osm_base`` of an Overpass answer, the ``<osm timestamp>`` of an
        extract, else the newest element timestamp; ``''`` if none.
    """

    path: Path
    node_ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    node_tags: dict[int, dict[str, str]]
    way_nodes: dict[int, list[int]]
    way_tags: dict[int, dict[str, str]]
    relations: dict[int, tuple[dict[str, str], list[tuple[str, int, str]]]]
    timestamp: str = ""
    _way_geom: dict = field(default_factory=dict, repr=False)

    # -------------------------------------------------------------------------------------------- basics
    @property
    def counts(self) -> dict[str, int]:
        return {"nodes": len(self.node_ids), "ways": len(self.way_nodes), "relations": len(self.relations)}

    def extent(self) -> tuple[float, float, float, float] | None:
        """(min lon, min lat, max lon, max lat) of every node, or ``None`` if the file has none.

        Returns
        -------
        tuple of float or None
            Degrees, EPSG:4326.
        """
        if not len(self.node_ids):
            return None
        return float(self.lon.min()), float(self.lat.min()), float(self.lon.max()), float(self.lat.max())

    def coverage(self, polygon=None):
        """The area this data covers (EPSG:4326): the convex hull of its nodes, within ``polygon`` if given.

        An extract cut to a box or a region covers its hull; features of a layer outside it are not missing
        from OSM, they are simply not in the file.

        Parameters
        ----------
        polygon : shapely.Geometry, optional
            EPSG:4326 (degrees).

        Returns
        -------
        shapely.Geometry
            The covered area (empty when there is no node).
        """
        if "coverage" not in self._way_geom:
            pts = shapely.multipoints(np.c_[self.lon, self.lat]) if len(self.node_ids) else shapely.Point()
            self._way_geom["coverage"] = shapely.convex_hull(pts)
        hull = self._way_geom["coverage"]
        return hull if polygon is None else shapely.intersection(hull, polygon)

    def nodes_inside(self, polygon) -> int:
        """How many nodes lie inside ``polygon`` (EPSG:4326).

        Parameters
        ----------
        polygon : shapely.Geometry
            EPSG:4326 (degrees).

        Returns
        -------
        int
            The count.
        """
        if not len(self.node_ids):
            return 0
        return int(shapely.contains_xy(polygon, self.lon, self.lat).sum())

    def _positions(self, refs) -> tuple[np.ndarray, np.ndarray]:
        """(xy of the refs found, mask of found) for node ids ``refs``."""
        refs = np.asarray(refs, dtype="int64")
        i = np.searchsorted(self.node_ids, refs)
        i = np.clip(i, 0, max(len(self.node_ids) - 1, 0))
        found = (self.node_ids[i] == refs) if len(self.node_ids) else np.zeros(len(refs), dtype=bool)
        xy = np.c_[self.lon[i[found]], self.lat[i[found]]] if len(self.node_ids) else np.empty((0, 2))
        return xy, found

    def way_line(self, way_id: int) -> tuple[shapely.LineString | None, int]:
        """The way as a LineString from the nodes present, and how many of its nodes are missing.

        Parameters
        ----------
        way_id : int
            The OSM way id.

        Returns
        -------
        line : shapely.LineString or None
            None with fewer than two nodes present.
        missing : int
            Nodes of the way not in the data.
        """
        if way_id in self._way_geom:
            return self._way_geom[way_id]
        refs = self.way_nodes.get(way_id)
        if refs is None:
            out = (None, -1)
        else:
            xy, found = self._positions(refs)
            out = (shapely.linestrings(xy) if len(xy) >= 2 else None, int((~found).sum()))
        self._way_geom[way_id] = out
        return out

    # -------------------------------------------------------------------------------------------- features
    def features(
        self, selectors: list[Selector], *, polygon=None, areas: bool = True, repair: bool = True
    ) -> gpd.GeoDataFrame:
        """The elements ``selectors`` pick, with geometries, optionally only those intersecting ``polygon``.

        Parameters
        ----------
        selectors : list of Selector
            Parsed selectors (:func:`tjspatial.sources.osm_query.parse_selectors`).
        polygon : shapely.Geometry, optional
            EPSG:4326 (degrees). Only elements intersecting it are kept.
        areas : bool, default True
            Closed ways become Polygons (``False``: LineStrings, e.g. coastline).
        repair : bool, default True
            Close near-closed rings and make invalid polygons valid (see the module docstring).

        Returns
        -------
        geopandas.GeoDataFrame
            EPSG:4326, indexed by ``(element, id)``, one column per tag key, plus ``problems`` and ``repairs``
            (texts, '' when none). Relations whose geometry could not be built at all keep a ``None`` geometry
            (their ``problems`` say why); they are never dropped silently.
        """
        rows, index, geoms, problems, repairs = [], [], [], [], []
        picked = [nid for nid, tags in self.node_tags.items() if any(s.matches("node", tags) for s in selectors)]
        xy, found = self._positions(picked)
        for nid, pt in zip(np.asarray(picked, dtype="int64")[found], shapely.points(xy) if len(xy) else []):
            rows.append(self.node_tags[int(nid)]), index.append(("node", int(nid))), geoms.append(pt)
            problems.append(""), repairs.append("")
        for wid, tags in self.way_tags.items():
            if any(s.matches("way", tags) for s in selectors):
                line, missing = self.way_line(wid)
                note = (
                    f"way {wid}: {missing} of {len(self.way_nodes[wid])} nodes missing from the file"
                    if missing > 0
                    else ""
                )
                if line is None:
                    rows.append(tags), index.append(("way", wid)), geoms.append(None)
                    problems.append(note or f"way {wid}: no geometry"), repairs.append("")
                    continue
                refs = self.way_nodes[wid]
                closed = refs[0] == refs[-1] and missing == 0 and tags.get("area") != "no"
                geom = (
                    shapely.polygons(shapely.get_coordinates(line)) if (areas and closed and len(refs) >= 4) else line
                )
                rows.append(tags), index.append(("way", wid)), geoms.append(geom)
                problems.append(note), repairs.append("")
        for rid, (tags, members) in self.relations.items():
            if any(s.matches("relation", tags) for s in selectors):
                if tags.get("type") in AREA_RELATIONS:
                    geom, probs, reps = self.assemble(rid, members, repair=repair)
                else:
                    geom, probs, reps = self._relation_lines(members), [], []
                rows.append(tags), index.append(("relation", rid)), geoms.append(geom)
                problems.append("; ".join(probs)), repairs.append("; ".join(reps))
        df = pd.DataFrame(
            rows,
            index=pd.MultiIndex.from_tuples(index, names=["element", "id"])
            if index
            else pd.MultiIndex.from_arrays([[], []], names=["element", "id"]),
        )
        df["problems"] = problems
        df["repairs"] = repairs
        gdf = gpd.GeoDataFrame(
            df,
            geometry=gpd.GeoSeries(np.asarray(geoms, dtype=object), index=df.index, crs=STORAGE_CRS),
            crs=STORAGE_CRS,
        )
        if polygon is not None and len(gdf):
            g = np.asarray(gdf.geometry.values)
            keep = pd.isna(g) | shapely.intersects(g, polygon)
            # a geometry-less relation is kept only if some of its members reach into the polygon
            for i in np.flatnonzero(pd.isna(g)):
                el, oid = gdf.index[i]
                keep[i] = el == "relation" and self._touches(oid, polygon)
            gdf = gdf[keep]
        return gdf

    def _touches(self, rel_id: int, polygon) -> bool:
        for t, ref, _ in self.relations[rel_id][1]:
            if t == "way":
                line, _ = self.way_line(ref)
                if line is not None and shapely.intersects(line, polygon):
                    return True
        return False

    def _relation_lines(self, members):
        lines = [self.way_line(ref)[0] for t, ref, _ in members if t == "way"]
        lines = [ln for ln in lines if ln is not None]
        return shapely.line_merge(shapely.multilinestrings(lines)) if lines else None

    def assemble(self, rel_id: int, members, *, repair: bool = True):
        """A multipolygon/boundary relation as (geometry or None, problems, repairs).

        Parameters
        ----------
        rel_id : int
            The relation id.
        members : list of tuple
            Its members ``(type, ref, role)``.
        repair : bool, default True
            Close near-closed rings and make invalid polygons valid.

        Returns
        -------
        geometry : shapely.Geometry or None
            The (multi)polygon, EPSG:4326.
        problems : list of str
            Why it could not be built, or is incomplete.
        repairs : list of str
            The repairs made.
        """
        problems, repairs = [], []
        lines = {"outer": [], "inner": []}
        for t, ref, role in members:
            if t != "way" or role not in ("outer", "inner", ""):
                continue
            role = role or "outer"
            line, missing = self.way_line(ref)
            if line is None and missing == -1:
                problems.append(f"relation {rel_id}: member way {ref} ({role}) is missing from the file")
                continue
            if missing:
                problems.append(f"relation {rel_id}: member way {ref} lacks {missing} of its nodes")
            if line is not None:
                lines[role].append(line)
        polys = {}
        for role in ("outer", "inner"):
            polys[role] = []
            if not lines[role]:
                continue
            merged = shapely.line_merge(shapely.multilinestrings(lines[role]))
            for part in shapely.get_parts(merged):
                xy = shapely.get_coordinates(part)
                if len(xy) >= 4 and np.array_equal(xy[0], xy[-1]):
                    polys[role].append(shapely.polygons(xy))
                    continue
                gap = _GEOD.inv(xy[0, 0], xy[0, 1], xy[-1, 0], xy[-1, 1])[2]
                length = _GEOD.line_length(xy[:, 0], xy[:, 1])
                what = f"relation {rel_id}: {role} ring not closed (gap {gap:,.0f} m)"
                problems.append(what)
                if repair and len(xy) >= 3 and (gap <= REPAIR_GAP_M or gap <= 0.1 * length):
                    polys[role].append(shapely.polygons(np.r_[xy, xy[:1]]))
                    repairs.append(what + ": closed with a straight segment")
                elif repair:
                    repairs.append(what + f": {role} ring dropped")
        if not polys["outer"]:
            if not problems:
                problems.append(f"relation {rel_id}: no outer ring")
            return None, problems, repairs
        outer = [shapely.make_valid(p) for p in polys["outer"]]
        inner = shapely.union_all([shapely.make_valid(p) for p in polys["inner"]]) if polys["inner"] else None
        parts = []
        for o in outer:
            if inner is not None:
                o = shapely.difference(o, shapely.intersection(inner, o))
            parts.append(o)
        geom = shapely.union_all(parts) if len(parts) > 1 else parts[0]
        if not shapely.is_valid(geom):
            geom = shapely.make_valid(geom)
            repairs.append(f"relation {rel_id}: invalid polygon made valid")
        polys_only = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
        if not polys_only:
            problems.append(f"relation {rel_id}: no polygon left")
            return None, problems, repairs
        return shapely.union_all(polys_only), problems, repairs

    # -------------------------------------------------------------------------------------------- routes
    def routes(self, selectors: list[Selector]) -> Routes:
        """The relations ``selectors`` pick, their members, member way lines and member node names.

        Parameters
        ----------
        selectors : list of Selector
            Parsed selectors (:func:`tjspatial.sources.osm_query.parse_selectors`).

        Returns
        -------
        Routes
            Relations, members, member way lines and member node names.
        """
        rels, members = [], []
        for rid, (tags, ms) in self.relations.items():
            if any(s.matches("relation", tags) for s in selectors):
                rels.append({"rel_id": rid, **tags})
                members += [(rid, i, t, ref, role) for i, (t, ref, role) in enumerate(ms)]
        members_df = pd.DataFrame(members, columns=["rel_id", "seq", "type", "ref", "role"])
        way_ids = members_df.loc[members_df["type"] == "way", "ref"].unique()
        lines = {int(w): self.way_line(int(w))[0] for w in way_ids}
        ways = gpd.GeoSeries({w: g for w, g in lines.items() if g is not None}, crs=STORAGE_CRS)
        if ways.empty:
            ways = gpd.GeoSeries([], index=pd.Index([], dtype="int64"), crs=STORAGE_CRS)
        node_ids = np.asarray(members_df.loc[members_df["type"] == "node", "ref"].unique(), dtype="int64")
        xy, found = self._positions(node_ids)
        node_ids = node_ids[found]
        names = [
            (self.node_tags.get(int(n), {}).get("name:zh") or self.node_tags.get(int(n), {}).get("name") or "")
            for n in node_ids
        ]
        nodes = gpd.GeoDataFrame(
            {"name": names},
            geometry=shapely.points(xy) if len(xy) else [],
            index=pd.Index(node_ids, dtype="int64"),
            crs=STORAGE_CRS,
        )
        rel_df = pd.DataFrame(rels) if rels else pd.DataFrame({"rel_id": pd.Series(dtype="int64")})
        return Routes(rel_df, members_df, ways, nodes)


@dataclass
class OsmDoc:
    """The OSM data of one layer: the parsed OSM file, the layer's selectors, and the query polygon.

    Attributes
    ----------
    path : OSM XML file (Overpass answer, extract, or clipped extract).
    layer : the catalog layer.
    polygon : Tianjin + 1 km (EPSG:4326); features outside are dropped.
    boundary : the Tianjin outline (EPSG:4326).
    label : text for the ``source`` column, naming OpenStreetMap and the data date.
    date : data date (YYYY-MM-DD) or ''.
    data : the file parsed once (shared by every layer built from the same file).
    """

    path: Path
    layer: Layer
    polygon: shapely.Geometry
    boundary: shapely.Geometry
    label: str
    date: str = ""
    data: OsmData | None = None
    _routes: Routes | None = field(default=None, repr=False)

    @property
    def select(self) -> list[Selector]:
        return parse_selectors(self.layer.osm.get("select"), self.layer.id)

    @property
    def route_selectors(self) -> list[Selector]:
        return parse_selectors(self.layer.osm.get("routes"), self.layer.id)

    def _data(self) -> OsmData:
        if self.data is None:
            self.data = read_osm_xml(self.path, layer_id=self.layer.id)
        return self.data

    def features(self, *, repair: bool = True) -> gpd.GeoDataFrame:
        """The features the layer's ``select`` picks inside the polygon: index ``(element, id)``, one column
        per tag, ``problems`` / ``repairs`` texts (see :mod:`tjspatial.sources.osm_data`), geometry in
        EPSG:4326 (``None`` for a relation that could not be assembled). Empty if none.

        Parameters
        ----------
        repair : bool, default True
            Close near-closed rings and make invalid polygons valid.

        Returns
        -------
        geopandas.GeoDataFrame
            EPSG:4326, indexed by ``(element, id)``.
        """
        return self._data().features(
            self.select, polygon=self.polygon, areas=self.layer.geometry_type != "LineString", repair=repair
        )

    def routes(self) -> Routes:
        """The route relations the layer's ``routes`` selectors pick (read once).

        Returns
        -------
        Routes
            The route relations and their members.
        """
        if self._routes is None:
            self._routes = self._data().routes(self.route_selectors)
        return self._routes


def _tags(elem: ET.Element) -> dict[str, str]:
    """The ``<tag k v>`` children of an OSM element as a dict."""
    return {t.get("k"): t.get("v") for t in elem.iter("tag")}


def read_osm_xml(path: str | Path, *, layer_id: str = "<none>", progress=None, every: int = 500_000) -> OsmData:
    """Parse an OSM XML file (optionally ``.gz`` / ``.bz2``) in one streaming pass.

    ``progress(objects, share)`` is called every ``every`` objects with the share (0–1) of the file on disk
    read so far (of the compressed file for ``.gz`` / ``.bz2``), from which a rate and an ETA follow.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.osm`` / ``.osm.gz`` / ``.osm.bz2`` file.
    layer_id : str, optional
        The layer being built, named in errors.
    progress : callable, optional
        ``progress(objects, share)``.
    every : int, default 500000
        Objects between progress calls.

    Returns
    -------
    OsmData
        Nodes, ways, relations and tags.

    Raises
    ------
    BuildError
        The file cannot be read or is not well-formed XML (names the file and the layer).
    """
    from .osm_extract import open_osm_xml

    path = Path(path)
    ids, lons, lats = [], [], []
    node_tags, way_nodes, way_tags, relations = {}, {}, {}, {}
    root_stamp, newest = "", ""
    n = 0
    size = max(path.stat().st_size, 1) if path.is_file() else 1
    try:
        fh, counter = open_osm_xml(path, counting=True)
        with fh:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                tag = elem.tag
                if event == "start":
                    if tag == "osm" and elem.get("timestamp"):
                        root_stamp = elem.get("timestamp")
                    elif tag == "meta" and elem.get("osm_base"):
                        root_stamp = elem.get("osm_base")
                    continue
                if tag == "node":
                    nid = int(elem.get("id"))
                    ids.append(nid)
                    lons.append(float(elem.get("lon")))
                    lats.append(float(elem.get("lat")))
                    tags = _tags(elem)
                    if tags:
                        node_tags[nid] = tags
                elif tag == "way":
                    wid = int(elem.get("id"))
                    way_nodes[wid] = [int(nd.get("ref")) for nd in elem.iter("nd")]
                    tags = _tags(elem)
                    if tags:
                        way_tags[wid] = tags
                elif tag == "relation":
                    rid = int(elem.get("id"))
                    tags = _tags(elem)
                    relations[rid] = (
                        tags,
                        [(m.get("type"), int(m.get("ref")), m.get("role") or "") for m in elem.iter("member")],
                    )
                else:
                    continue
                ts = elem.get("timestamp")
                if ts and ts > newest:
                    newest = ts
                elem.clear()
                n += 1
                if progress is not None and n % every == 0:
                    progress(n, min(counter.pos / size, 1.0))
    except (ET.ParseError, OSError, EOFError, ValueError, TypeError) as exc:
        raise BuildError(f"cannot read OSM XML ({type(exc).__name__}: {exc})", layer=layer_id, file=str(path)) from exc
    node_ids = np.asarray(ids, dtype="int64")
    order = np.argsort(node_ids, kind="stable")
    return OsmData(
        path=path,
        node_ids=node_ids[order],
        lon=np.asarray(lons, dtype="float64")[order],
        lat=np.asarray(lats, dtype="float64")[order],
        node_tags=node_tags,
        way_nodes=way_nodes,
        way_tags=way_tags,
        relations=relations,
        timestamp=(root_stamp or newest)[:10],
    )


def write_selected_ways(data: OsmData, selectors: list[Selector], out: Path) -> Path:
    """Write to ``out`` (OSM XML, atomically) the ways of ``data`` that ``selectors`` pick, with their tags,
    and the nodes they reference (e.g. the walkable ways for osmnx's ``graph_from_xml``).

    Parameters
    ----------
    data : OsmData
        Parsed OSM data.
    selectors : list of Selector
        Parsed selectors (:func:`tjspatial.sources.osm_query.parse_selectors`).
    out : pathlib.Path
        The OSM XML file to write.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    from xml.sax.saxutils import quoteattr

    from ..atomic import atomic_path

    ways = [w for w, tags in data.way_tags.items() if any(s.matches("way", tags) for s in selectors)]
    refs = np.unique(np.fromiter((r for w in ways for r in data.way_nodes[w]), dtype="int64"))
    xy, found = data._positions(refs)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tjspatial">']
    lines += [f'  <node id="{n}" lat="{y:.7f}" lon="{x:.7f}"/>' for n, (x, y) in zip(refs[found], xy)]
    for w in ways:
        nds = "".join(f'<nd ref="{r}"/>' for r in data.way_nodes[w])
        tags = "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in data.way_tags[w].items())
        lines.append(f'  <way id="{w}">{nds}{tags}</way>')
    lines.append("</osm>\n")
    with atomic_path(Path(out)) as tmp:
        Path(tmp).write_text("\n".join(lines), encoding="utf-8")
    return Path(out)
