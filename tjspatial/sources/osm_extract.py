"""Reading OSM files: route relations from OSM XML, and clip-and-filter of ``.osm.pbf`` extracts.

osmnx reads OSM XML (``.osm``, ``.osm.gz``, ``.osm.bz2``) into features and graphs, but not route relations
(line membership) and not PBF. This module fills both gaps:

* :func:`read_routes` reads the route relations an XML file holds, with their tags, ordered members, member
  way geometries and stop names;
* :func:`clip_filter_pbf` cuts a (possibly national) ``.osm.pbf`` down to a bounding box and the tag keys a
  build needs, with pyosmium, and writes reference-complete OSM XML that osmnx can read.
"""
from __future__ import annotations

import bz2
import gzip
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..crs import STORAGE_CRS
from ..errors import BuildError
from .osm_query import Selector

__all__ = ["XML_SUFFIXES", "Routes", "open_osm_xml", "read_routes", "xml_timestamp", "clip_filter_pbf",
           "is_pbf", "is_xml"]

XML_SUFFIXES = (".osm", ".osm.gz", ".osm.bz2", ".xml")


def is_pbf(path: Path) -> bool:
    return str(path).lower().endswith(".pbf")


def is_xml(path: Path) -> bool:
    return str(path).lower().endswith(XML_SUFFIXES)


def open_osm_xml(path: Path):
    """Open an OSM XML file for binary reading, decompressing ``.gz`` / ``.bz2``."""
    name = str(path).lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    return open(path, "rb")


def xml_timestamp(path: Path) -> str:
    """The data date of an OSM XML file: ``osm_base`` of an Overpass answer, the ``<osm timestamp>`` of an
    extract, or the newest element timestamp; ``''`` if none is recorded. ISO date text (YYYY-MM-DD)."""
    newest = ""
    try:
        with open_osm_xml(path) as fh:
            for _, elem in ET.iterparse(fh, events=("start",)):
                if elem.tag == "osm" and elem.get("timestamp"):
                    return elem.get("timestamp")[:10]
                if elem.tag == "meta" and elem.get("osm_base"):
                    return elem.get("osm_base")[:10]
                ts = elem.get("timestamp")
                if ts and ts > newest:
                    newest = ts
    except (ET.ParseError, OSError, EOFError) as exc:
        raise BuildError(f"cannot read OSM XML ({type(exc).__name__}: {exc})", file=str(path)) from exc
    return newest[:10]


@dataclass
class Routes:
    """Route relations read from an OSM file.

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


def read_routes(path: Path, selectors: list[Selector], layer_id: str = "<none>") -> Routes:
    """Read the relations of ``path`` (OSM XML, optionally .gz/.bz2) that ``selectors`` pick.

    Raises :class:`BuildError` naming the layer and the file if the XML cannot be parsed.
    """
    node_ids, node_xy, node_names = [], [], {}
    way_refs: dict[int, list[int]] = {}
    rels, members = [], []
    try:
        with open_osm_xml(path) as fh:
            for _, elem in ET.iterparse(fh, events=("end",)):
                tag = elem.tag
                if tag == "node":
                    nid = int(elem.get("id"))
                    node_ids.append(nid)
                    node_xy.append((float(elem.get("lon")), float(elem.get("lat"))))
                    tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                    name = tags.get("name:zh") or tags.get("name")
                    if name:
                        node_names[nid] = name
                    elem.clear()
                elif tag == "way":
                    way_refs[int(elem.get("id"))] = [int(nd.get("ref")) for nd in elem.iter("nd")]
                    elem.clear()
                elif tag == "relation":
                    tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                    if any(s.matches("relation", tags) for s in selectors):
                        rid = int(elem.get("id"))
                        rels.append({"rel_id": rid, **tags})
                        for i, m in enumerate(elem.iter("member")):
                            members.append((rid, i, m.get("type"), int(m.get("ref")), m.get("role") or ""))
                    elem.clear()
    except (ET.ParseError, OSError, EOFError) as exc:
        raise BuildError(f"cannot read OSM XML ({type(exc).__name__}: {exc})", layer=layer_id,
                         file=str(path)) from exc
    members_df = pd.DataFrame(members, columns=["rel_id", "seq", "type", "ref", "role"])
    xy = np.asarray(node_xy, dtype="float64").reshape(-1, 2)
    pos = pd.Series(np.arange(len(node_ids)), index=pd.Index(node_ids, dtype="int64"))
    pos = pos[~pos.index.duplicated()]
    # member ways → LineStrings, built in one vectorised call
    wanted_ways = members_df.loc[members_df["type"] == "way", "ref"].unique()
    wanted_ways = [w for w in wanted_ways if w in way_refs]
    refs = [way_refs[w] for w in wanted_ways]
    flat = np.fromiter((r for rs in refs for r in rs), dtype="int64", count=sum(map(len, refs)))
    owner = np.repeat(np.arange(len(refs)), [len(r) for r in refs])
    known = np.isin(flat, pos.index.to_numpy())
    flat, owner = flat[known], owner[known]
    counts = np.bincount(owner, minlength=len(refs))
    ok = counts >= 2
    keep = ok[owner]
    geoms = np.full(len(refs), None, dtype=object)
    if keep.any():
        lines = shapely.linestrings(xy[pos.loc[flat[keep]].to_numpy()], indices=owner[keep])
        geoms[np.flatnonzero(ok)] = lines
    ways = gpd.GeoSeries(geoms, index=pd.Index(wanted_ways, dtype="int64"), crs=STORAGE_CRS).dropna()
    wanted_nodes = members_df.loc[members_df["type"] == "node", "ref"].unique()
    wanted_nodes = np.asarray([n for n in wanted_nodes if n in pos.index], dtype="int64")
    nodes = gpd.GeoDataFrame(
        {"name": [node_names.get(int(n), "") for n in wanted_nodes]},
        geometry=shapely.points(xy[pos.loc[wanted_nodes].to_numpy()]) if len(wanted_nodes) else [],
        index=pd.Index(wanted_nodes, dtype="int64"), crs=STORAGE_CRS)
    return Routes(pd.DataFrame(rels) if rels else pd.DataFrame({"rel_id": pd.Series(dtype="int64")}),
                  members_df, ways, nodes)


def clip_filter_pbf(src: Path, out: Path, bbox: tuple[float, float, float, float], keys: set[str],
                    selectors: list[Selector] | None = None) -> Path:
    """Write to ``out`` (OSM XML) the objects of ``src`` (``.osm.pbf``) that carry one of ``keys`` and lie in
    ``bbox`` (min lon, min lat, max lon, max lat, EPSG:4326), plus everything they reference.

    Nodes are kept when inside the box; ways when any of their nodes is; relations when any member node or
    way was kept. Referenced objects (way nodes, relation members) are added whole with their tags (pyosmium
    ``BackReferenceWriter``), so multipolygons and routes crossing the box stay complete. With ``selectors``,
    an object must also be picked by one of them (e.g. the walkable-way selector). ``src`` may also be OSM
    XML (pyosmium reads both). The file is
    written to a temporary name in ``out``'s folder and renamed when complete.

    Raises
    ------
    BuildError
        pyosmium is not installed, or the PBF cannot be read (naming the file).
    """
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - osmium is a dependency
        raise BuildError("reading .osm.pbf needs pyosmium (pip install osmium)", file=str(src)) from exc
    x0, y0, x1, y1 = bbox
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.stem}.tmp-{os.getpid()}.osm")
    tmp.unlink(missing_ok=True)
    tracker = osmium.IdTracker()
    try:
        with osmium.BackReferenceWriter(str(tmp), ref_src=str(src), overwrite=True, remove_tags=False) as writer:
            fp = (osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY).with_locations()
                  .with_filter(osmium.filter.KeyFilter(*sorted(keys))))
            for obj in fp:
                if selectors is not None:
                    kind = "node" if obj.is_node() else "way"
                    tags = dict(obj.tags)
                    if not any(sel.matches(kind, tags) for sel in selectors):
                        continue
                if obj.is_node():
                    loc = obj.location
                    if loc.valid() and x0 <= loc.lon <= x1 and y0 <= loc.lat <= y1:
                        tracker.add_node(obj.id)
                        writer.add_node(obj)
                else:
                    for nd in obj.nodes:
                        loc = nd.location
                        if loc.valid() and x0 <= loc.lon <= x1 and y0 <= loc.lat <= y1:
                            tracker.add_way(obj.id)
                            writer.add_way(obj)
                            break
            # a relation's member may lack the keys (e.g. an untagged outer way): find member positions
            rels = []
            for obj in osmium.FileProcessor(str(src), osmium.osm.RELATION).with_filter(
                    osmium.filter.KeyFilter(*sorted(keys))):
                if selectors is not None and not any(sel.matches("relation", dict(obj.tags)) for sel in selectors):
                    continue
                rels.append((obj.id, [(m.type, m.ref) for m in obj.members]))
            member_ways = {ref for _, ms in rels for t, ref in ms if t == "w"}
            member_nodes = {ref for _, ms in rels for t, ref in ms if t == "n"}
            inside_w, inside_n = set(), set()
            if member_ways or member_nodes:
                for obj in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY).with_locations():
                    if obj.is_node():
                        if obj.id in member_nodes:
                            loc = obj.location
                            if loc.valid() and x0 <= loc.lon <= x1 and y0 <= loc.lat <= y1:
                                inside_n.add(obj.id)
                    elif obj.id in member_ways:
                        for nd in obj.nodes:
                            loc = nd.location
                            if loc.valid() and x0 <= loc.lon <= x1 and y0 <= loc.lat <= y1:
                                inside_w.add(obj.id)
                                break
            keep = {rid for rid, ms in rels
                    if any((t == "w" and r in inside_w) or (t == "n" and r in inside_n) for t, r in ms)}
            if keep:
                for obj in osmium.FileProcessor(str(src), osmium.osm.RELATION):
                    if obj.id in keep:
                        writer.add_relation(obj)
        os.replace(tmp, out)
    except BuildError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"cannot clip/filter the PBF extract ({type(exc).__name__}: {exc})",
                         file=str(src)) from exc
    return out
