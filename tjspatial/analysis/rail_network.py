"""The rail graph: metro and intercity lines as a weighted graph of station nodes, with travel times.

Nodes are (line, station) pairs placed at the station's point in the ``rail_stations`` layer (stations
outside Tianjin at the approximate points of ``external_stations``). Line sequences come from the catalog's
sources ``metro_lines_csv`` and ``intercity_rail_csv``; a station without a point is skipped and the edge
spans it (its dwell is still counted). Edges:

* **ride** between consecutive located stations: ``chord_km * detour / speed(mode) * 60 + dwell(mode) * stops``
  minutes, where ``stops`` counts the stations the edge ends at or passes (chords are straight lines, so
  ``detour`` (default 1.1) stretches them towards track length);
* **transfer** between nodes of different lines that share a station name or lie within
  ``transfer_radius_m`` of each other: ``transfer_min + walk distance / walk speed``.

Modes: ``metro`` (metro lines), ``hsr``, ``intercity`` and ``conventional`` (the ``category`` of the
``intercity_rail`` layer). With ``scenario="plan"`` the ``planned_rail`` lines that are not open yet are
added through their waypoints (schematic chords; they connect to the network by the transfer rule).

All speeds, dwells and penalties are parameters; the defaults are round assumptions, not timetables, so
every time here is a model estimate.
"""
from __future__ import annotations

import re

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from ..catalog import get_catalog
from ..crs import METRIC_CRS, to_metric
from ..io import load
from ..paths import sources_dir

__all__ = ["RailGraph", "rail_graph", "DEFAULT_SPEEDS_KMH", "DEFAULT_DWELL_MIN", "DUAL_CITY_HUBS",
           "dual_city_time"]

DEFAULT_SPEEDS_KMH = {"metro": 35.0, "hsr": 250.0, "intercity": 160.0, "conventional": 70.0}
"""Running speeds between stops (km/h) by mode: assumptions, not timetables."""

DEFAULT_DWELL_MIN = {"metro": 0.5, "hsr": 2.0, "intercity": 1.5, "conventional": 3.0}
"""Dwell per stop (minutes) by mode."""

DUAL_CITY_HUBS = {"津城": ("天津站", "天津"), "滨城": ("滨海",)}
"""Station names (any of) standing for each of the two cities' cores: 天津站 and 滨海站 (former 于家堡)."""


def _source_csv(source_id: str, **kwargs) -> pd.DataFrame:
    src = get_catalog().sources[source_id]
    path = sources_dir() / src.file
    if not path.is_file():
        raise FileNotFoundError(f"source {source_id!r}: file {path} is missing")
    return pd.read_csv(path, encoding="utf-8", **kwargs)


@dataclass
class RailGraph:
    """Station nodes and weighted edges (minutes).

    Attributes
    ----------
    nodes : GeoDataFrame (EPSG:4548): ``node, name_zh, line_id, mode, status, accuracy``.
    edges : DataFrame ``a, b, minutes, kind (ride / transfer), km, line_id``.
    params : the speeds, dwells and penalties the times were computed with.
    """

    nodes: gpd.GeoDataFrame
    edges: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def matrix(self) -> sparse.csr_matrix:
        n = len(self.nodes)
        e = self.edges
        w = np.maximum(e["minutes"].to_numpy(float), 1e-6)
        a, b = e["a"].to_numpy(), e["b"].to_numpy()
        m = sparse.coo_matrix((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                              shape=(n, n)).tocsr()
        m.sum_duplicates()
        return m

    def _minimal(self) -> sparse.csr_matrix:
        # parallel edges would be summed by scipy: keep the fastest one
        e = self.edges.assign(lo=np.minimum(self.edges["a"], self.edges["b"]),
                              hi=np.maximum(self.edges["a"], self.edges["b"]))
        e = e.sort_values("minutes").drop_duplicates(["lo", "hi"])
        n = len(self.nodes)
        w = np.maximum(e["minutes"].to_numpy(float), 1e-6)
        return sparse.csr_matrix((np.concatenate([w, w]), (np.concatenate([e["lo"], e["hi"]]),
                                                           np.concatenate([e["hi"], e["lo"]]))), shape=(n, n))

    def nodes_of(self, place) -> np.ndarray:
        """Node indices standing for ``place``: a station name or a tuple of names (all their nodes, on every
        line), or a shapely point / (lon, lat) in EPSG:4326 (the nearest node).

        Names match with or without a final 站, so "天津站" stands for both the metro station 天津站 and the
        railway station 天津 (one hub)."""
        if isinstance(place, str):
            place = (place,)
        if isinstance(place, tuple) and place and all(isinstance(p, str) for p in place):
            names = self.nodes["name_zh"].astype(str).str.replace(r"(?<=.)站$", "", regex=True).to_numpy()
            wanted = [re.sub(r"(?<=.)站$", "", p) for p in place]
            hit = np.flatnonzero(np.isin(names, wanted))
            if not len(hit):
                raise KeyError(f"no station named {' / '.join(place)} in the rail graph")
            return hit
        pt = place if isinstance(place, shapely.Point) else shapely.Point(*place)
        xy = gpd.GeoSeries([pt], crs="EPSG:4326").to_crs(METRIC_CRS).get_coordinates().to_numpy()
        _, i = cKDTree(shapely.get_coordinates(self.nodes.geometry.values)).query(xy)
        return np.atleast_1d(i)

    def times_from(self, place) -> np.ndarray:
        """Minutes from ``place`` to every node (``inf`` if unreachable)."""
        src = self.nodes_of(place)
        return dijkstra(self._minimal(), directed=False, indices=src, min_only=True)

    def travel_time(self, a, b) -> float:
        """Fastest modelled time (minutes) between two places (names or points)."""
        t = self.times_from(a)
        return float(t[self.nodes_of(b)].min())

    def station_times(self, place) -> pd.DataFrame:
        """Every station's fastest time from ``place`` (one row per station name, minutes)."""
        t = self.times_from(place)
        df = pd.DataFrame({"name_zh": self.nodes["name_zh"].to_numpy(), "minutes": t,
                           "line_id": self.nodes["line_id"].to_numpy()})
        df = df[np.isfinite(df["minutes"])].sort_values("minutes").drop_duplicates("name_zh")
        return df.reset_index(drop=True)


def _locate(names: pd.Series, stations: gpd.GeoDataFrame, kind: str, line_label: str | None,
            external: dict) -> list:
    cand = stations[(stations["kind"] == kind) & (stations["name_zh"] != "")]
    by_name = {n: g for n, g in cand.groupby("name_zh")}
    out = []
    for name in names:
        hits = by_name.get(name)
        if hits is not None and len(hits):
            if line_label and len(hits) > 1:
                on = hits[hits["lines"].str.split(";").map(lambda ls: line_label in ls)]
                hits = on if len(on) else hits
            out.append((hits.geometry.iloc[0], "osm"))
        elif name in external:
            out.append((external[name], "schematic"))
        else:
            out.append((None, ""))
    return out


def rail_graph(path: str | Path | None = None, *, scenario: str = "open", speeds: dict | None = None,
               dwell_min: dict | None = None, transfer_min: float = 5.0, walk_kmh: float = 4.8,
               transfer_radius_m: float = 300.0, detour: float = 1.1) -> RailGraph:
    """Build the rail graph from the line sequences and the station layer.

    Parameters
    ----------
    path : GeoPackage the layers are read from.
    scenario : ``"open"`` (lines and segments open now) or ``"plan"`` (plus the ``planned_rail`` lines that are
        under construction or planned, if that layer exists).
    speeds, dwell_min : per-mode running speed (km/h) and dwell per stop (min), merged over the defaults.
    transfer_min : penalty of a change of line, minutes (plus the walk).
    walk_kmh : walking speed for transfers, km/h.
    transfer_radius_m : nodes of different lines closer than this are connected by a transfer, metres.
    detour : track length / chord length.
    """
    if scenario not in ("open", "plan"):
        raise ValueError(f"scenario must be 'open' or 'plan', not {scenario!r}")
    sp = {**DEFAULT_SPEEDS_KMH, **(speeds or {})}
    dw = {**DEFAULT_DWELL_MIN, **(dwell_min or {})}
    bad = {k: v for k, v in sp.items() if not v > 0} | {f"dwell {k}": v for k, v in dw.items() if v < 0}
    if bad or transfer_min < 0 or not walk_kmh > 0 or detour < 1:
        raise ValueError(f"rail_graph: speeds must be > 0 km/h, dwell and transfer >= 0 min, walk > 0 km/h and "
                         f"detour >= 1 (got {bad or ''} transfer_min={transfer_min}, walk_kmh={walk_kmh}, "
                         f"detour={detour})")
    stations = to_metric(load("rail_stations", path))
    ext = _source_csv("external_stations")
    ext_pts = gpd.GeoSeries(gpd.points_from_xy(ext["lon"], ext["lat"]), crs="EPSG:4326").to_crs(METRIC_CRS)
    external = dict(zip(ext["station_zh"], ext_pts.values))

    node_rows: list[dict] = []
    edges: list[dict] = []

    def add_line(line_id: str, mode: str, names: list[str], located: list, statuses: list[str] | None = None):
        prev = None
        stops = 0
        for i, (name, (geom, acc)) in enumerate(zip(names, located)):
            stops += 1
            if geom is None:
                continue
            idx = len(node_rows)
            node_rows.append({"node": idx, "name_zh": name, "line_id": line_id, "mode": mode,
                              "status": "open" if statuses is None else statuses[i], "accuracy": acc,
                              "geometry": geom})
            if prev is not None:
                km = shapely.distance(node_rows[prev]["geometry"], geom) / 1000 * detour
                if statuses is None or scenario == "plan" or statuses[i] == "open":
                    edges.append({"a": prev, "b": idx, "km": km, "line_id": line_id, "kind": "ride",
                                  "minutes": km / sp[mode] * 60 + dw[mode] * stops})
            prev, stops = idx, 0

    seq = _source_csv("metro_lines_csv", dtype={"line_id": str, "segment": str})
    seq["segment"] = seq["segment"].fillna("")
    for (line_id, _), part in seq.groupby(["line_id", "segment"], sort=False):
        part = part.sort_values("seq")
        label = part["line_name_zh"].iloc[0]
        add_line(line_id, "metro", list(part["station_zh"]), _locate(part["station_zh"], stations, "metro", label, {}))

    ic = _source_csv("intercity_rail_csv", dtype={"opened": str})
    cats = {}
    cat = get_catalog()
    if "intercity_rail" in cat:
        layer = load("intercity_rail", path)
        cats = dict(zip(layer["line_id"], layer["category"]))
    for line_id, part in ic.groupby("line", sort=False):
        part = part.sort_values("seq")
        mode = cats.get(line_id, "intercity")
        if mode not in sp:
            mode = "intercity"
        add_line(line_id, mode, list(part["station_zh"]), _locate(part["station_zh"], stations, "rail", None, external),
                 statuses=list(part["status"]))

    if scenario == "plan" and "planned_rail" in cat:
        plan = to_metric(load("planned_rail", path))
        plan = plan[plan["status"] != "open"]
        for row in plan.itertuples():
            coords = shapely.get_coordinates(row.geometry)
            labels = (row.waypoints.split(";") if row.waypoints else [])
            if len(labels) != len(coords):
                labels = [f"{row.line_id}#{k}" for k in range(len(coords))]
            mode = row.mode if row.mode in sp else "metro"
            add_line(row.line_id, mode, labels, [(shapely.Point(c), "schematic") for c in coords])

    nodes = gpd.GeoDataFrame(node_rows, geometry="geometry", crs=METRIC_CRS)
    # transfers: same name on another line, or within the radius
    xy = shapely.get_coordinates(nodes.geometry.values)
    pairs = cKDTree(xy).query_pairs(transfer_radius_m, output_type="ndarray")
    names = nodes["name_zh"].to_numpy()
    same = pd.DataFrame({"a": nodes.index, "name": names}).merge(pd.DataFrame({"b": nodes.index, "name": names}),
                                                                  on="name")
    same = same[same["a"] < same["b"]][["a", "b"]].to_numpy()
    allp = np.unique(np.concatenate([pairs.reshape(-1, 2), same.reshape(-1, 2)]), axis=0) if len(xy) else pairs
    lines = nodes["line_id"].to_numpy()
    allp = allp[lines[allp[:, 0]] != lines[allp[:, 1]]]
    walk_m = np.hypot(*(xy[allp[:, 0]] - xy[allp[:, 1]]).T)
    tr = pd.DataFrame({"a": allp[:, 0], "b": allp[:, 1], "km": walk_m / 1000, "line_id": "",
                       "kind": "transfer", "minutes": transfer_min + walk_m / 1000 / walk_kmh * 60})
    e = pd.concat([pd.DataFrame(edges), tr], ignore_index=True)
    params = {"scenario": scenario, "speeds_kmh": sp, "dwell_min": dw, "transfer_min": transfer_min,
              "walk_kmh": walk_kmh, "transfer_radius_m": transfer_radius_m, "detour": detour}
    return RailGraph(nodes=nodes, edges=e, params=params)


def dual_city_time(graph: RailGraph, hubs: dict | None = None) -> float:
    """Modelled rail time (minutes) between the cores of 津城 and 滨城 (:data:`DUAL_CITY_HUBS`)."""
    hubs = hubs or DUAL_CITY_HUBS
    a, b = list(hubs.values())[:2]
    return graph.travel_time(tuple(a), tuple(b))
