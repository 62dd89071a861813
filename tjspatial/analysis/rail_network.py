"""The rail graph: metro and intercity lines as a weighted graph of station nodes, with travel times.

Nodes are (line, station) pairs placed at the station's point in the ``rail_stations`` layer (stations
outside Tianjin at the approximate points of ``external_stations``). Line sequences come from the catalog's
sources ``metro_lines_csv`` and ``intercity_rail_csv``; a station without a point is skipped and the edge
spans it (its dwell is still counted). Edges:

* **ride** between consecutive located stations: ``chord_km * detour(line) / speed(line) * 60 + dwell(mode) *
  stops`` minutes, where ``stops`` counts the stations the edge ends at or passes. Chords are straight lines:
  for a metro line with an official length (``metro_lines_meta.csv``) ``detour(line)`` = official length / sum
  of its chords, otherwise ``detour`` (default 1.1). ``speed(line)`` is the line's running speed from
  :data:`LINE_SPEEDS_KMH` when it has one (Line 9 and Z4 are fast suburban lines; the intercity lines are set
  from published journey times), else the mode's speed from :data:`DEFAULT_SPEEDS_KMH`;
* **transfer** between nodes of different lines only where one can change: a declared interchange
  (``transfer_to`` of ``metro_lines.csv``), or two stations within a walk of ``transfer_radius_m`` (default
  500 m: 天津站 metro ↔ 天津 railway station 136 m, 西站 ↔ 天津西 278 m). Sharing a name is not enough (the 9号线
  塘沽 and the railway station 塘沽 are 1.76 km apart). Time: ``transfer_min + walk distance × walk_detour /
  walk speed``.

Metro stations without an OSM point fall back to the approximate points of ``layers/plan/plan_points.csv``
(寨上, 北塘 for Z4; accuracy ``schematic``). Modes: ``metro`` (metro lines), ``hsr``, ``intercity`` and
``conventional`` (the ``category`` of the ``intercity_rail`` layer). With ``scenario="plan"`` the
``planned_rail`` lines that are not open yet are added through their waypoints (schematic chords; they connect
to the network by the transfer rule).

The model is calibrated against ``layers/sources/rail_calibration.csv`` (timed trips with their sources; a
test keeps every modelled trip within ±15 % of its published time) — see :func:`calibration`. Every time is
still a model estimate: :func:`dual_city_sensitivity` shows how the 20-minute verdict moves with the
assumptions.
"""

from __future__ import annotations

import json
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

from ..catalog import get_catalog, role_id
from ..errors import InputError, UnknownNameError
from ..crs import METRIC_CRS, to_metric
from ..io import load, read_source_table
from .context import RunCache, memo, path_key

__all__ = [
    "RailGraph",
    "rail_graph",
    "DEFAULT_SPEEDS_KMH",
    "DEFAULT_DWELL_MIN",
    "LINE_SPEEDS_KMH",
    "DUAL_CITY_HUBS",
    "hub_gap",
    "dual_city_gap",
    "dual_city_time",
    "dual_city_sensitivity",
    "calibration",
    "RAIL_METHOD",
]

DEFAULT_SPEEDS_KMH = {"metro": 45.0, "hsr": 200.0, "intercity": 150.0, "conventional": 70.0}
"""Running speeds between stops (km/h) by mode (metro: ~35 km/h commercial with the dwell, the usual figure for
Tianjin's urban lines); lines with their own speed are in :data:`LINE_SPEEDS_KMH`."""

LINE_SPEEDS_KMH = {"9": 68.0, "Z4": 62.0, "jingjin_intercity": 160.0, "jinqin_hsr": 170.0}
"""Running speeds (km/h) of single lines, set from published journey times (``rail_calibration.csv``): Line 9
(津滨轻轨, 52.8 km in about an hour: ≈ 55 km/h commercial), Z4 (23.8 km in under 30 min), 京津城际延伸线
(天津 → 滨海 23 min with two stops), 津秦高铁 (天津 → 滨海西 ≈ 20 min)."""

DEFAULT_DWELL_MIN = {"metro": 0.5, "hsr": 2.0, "intercity": 2.0, "conventional": 3.0}
"""Dwell per stop (minutes) by mode."""

RAIL_METHOD = (
    "rail graph model: station chords × per-line detour at per-line running speeds plus dwell per stop; "
    "transfers only at declared interchanges or within a walk; calibrated to rail_calibration.csv"
)
"""One line saying how every modelled rail time was computed (written next to the times)."""

DUAL_CITY_HUBS = {"津城": ("天津站", "天津"), "滨城": ("滨海",)}
"""Station names (any of) standing for each of the two cities' cores: 天津站 and 滨海站 (former 于家堡)."""


def _source_csv(source_id: str, path, **kwargs) -> pd.DataFrame:
    """A reference table from the GeoPackage (the build copies it there; the GeoPackage stands alone)."""
    return read_source_table(source_id, path, **kwargs)


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
        m = sparse.coo_matrix(
            (np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)
        ).tocsr()
        m.sum_duplicates()
        return m

    def _minimal(self) -> sparse.csr_matrix:
        # parallel edges would be summed by scipy: keep the fastest one
        e = self.edges.assign(
            lo=np.minimum(self.edges["a"], self.edges["b"]), hi=np.maximum(self.edges["a"], self.edges["b"])
        )
        e = e.sort_values("minutes").drop_duplicates(["lo", "hi"])
        n = len(self.nodes)
        w = np.maximum(e["minutes"].to_numpy(float), 1e-6)
        return sparse.csr_matrix(
            (np.concatenate([w, w]), (np.concatenate([e["lo"], e["hi"]]), np.concatenate([e["hi"], e["lo"]]))),
            shape=(n, n),
        )

    def nodes_of(self, place) -> np.ndarray:
        """Node indices standing for ``place``: a station name or a tuple of names (all their nodes, on every
        line), or a shapely point / (lon, lat) in EPSG:4326 (the nearest node).

        Names match with or without a final 站, so "天津站" stands for both the metro station 天津站 and the
        railway station 天津 (one hub).

        Parameters
        ----------
        place : str, tuple of str, shapely.Point or tuple of float
            A station name, names, or a point / (lon, lat) in EPSG:4326 (degrees).

        Returns
        -------
        numpy.ndarray
            Node indices.
        """
        if isinstance(place, str):
            place = (place,)
        if isinstance(place, tuple) and place and all(isinstance(p, str) for p in place):
            hit = np.flatnonzero(_names_match(self.nodes["name_zh"], place))
            if not len(hit):
                raise UnknownNameError(f"no station named {' / '.join(place)} in the rail graph")
            return hit
        pt = place if isinstance(place, shapely.Point) else shapely.Point(*place)
        xy = gpd.GeoSeries([pt], crs="EPSG:4326").to_crs(METRIC_CRS).get_coordinates().to_numpy()
        _, i = cKDTree(shapely.get_coordinates(self.nodes.geometry.values)).query(xy)
        return np.atleast_1d(i)

    def times_from(self, place) -> np.ndarray:
        """Minutes from ``place`` to every node (``inf`` if unreachable).

        Parameters
        ----------
        place : str, tuple of str, shapely.Point or tuple of float
            A station name, names, or a point / (lon, lat) in EPSG:4326 (degrees).

        Returns
        -------
        numpy.ndarray
            Minutes to every node.
        """
        src = self.nodes_of(place)
        return dijkstra(self._minimal(), directed=False, indices=src, min_only=True)

    def travel_time(self, a, b) -> float:
        """Fastest modelled time (minutes) between two places (names or points).

        Parameters
        ----------
        a, b : str, tuple of str, shapely.Point or tuple of float
            Places (station names or points in EPSG:4326).

        Returns
        -------
        float
            Minutes (``inf`` if unreachable).
        """
        t = self.times_from(a)
        return float(t[self.nodes_of(b)].min())

    def station_times(self, place) -> pd.DataFrame:
        """Every station's fastest time from ``place`` (one row per station name, minutes), with the ``method``
        and the ``params`` (JSON) the times were computed with.

        Parameters
        ----------
        place : str, tuple of str, shapely.Point or tuple of float
            A station name, names, or a point / (lon, lat) in EPSG:4326 (degrees).

        Returns
        -------
        pandas.DataFrame
            ``name_zh, minutes`` (one row per station name), ``method``, ``params``.
        """
        t = self.times_from(place)
        df = pd.DataFrame(
            {"name_zh": self.nodes["name_zh"].to_numpy(), "minutes": t, "line_id": self.nodes["line_id"].to_numpy()}
        )
        df = df[np.isfinite(df["minutes"])].sort_values("minutes").drop_duplicates("name_zh")
        return df.reset_index(drop=True).assign(method=RAIL_METHOD, params=self.params_json())

    def params_json(self) -> str:
        """The parameters as one JSON string (for a CSV column).

        Returns
        -------
        str
            Sorted-key JSON.
        """
        return json.dumps(self.params, ensure_ascii=False, sort_keys=True)


class _StationIndex:
    """The named stations of each kind by name (row positions in the layer's order) with their points, built
    once per kind for every line located against them."""

    def __init__(self, stations: gpd.GeoDataFrame):
        self.stations = stations
        self._kinds: dict = {}
        self._lines: dict = {}

    def of(self, kind: str) -> tuple[dict, np.ndarray]:
        if kind not in self._kinds:
            st = self.stations
            cand = st[(st["kind"] == kind) & (st["name_zh"] != "")]
            self._kinds[kind] = (cand, cand.groupby("name_zh").indices, cand.geometry.to_numpy())
        return self._kinds[kind][1:]

    def lines(self, kind: str) -> np.ndarray:
        if kind not in self._lines:
            self.of(kind)
            self._lines[kind] = self._kinds[kind][0]["lines"].to_numpy()
        return self._lines[kind]


def _locate(names: pd.Series, stations, kind: str, line_label: str | None, external: dict) -> list:
    index = stations if isinstance(stations, _StationIndex) else _StationIndex(stations)
    by_name, geoms = index.of(kind)  # name -> row positions, in the layer's order
    lines = index.lines(kind) if line_label else None
    out = []
    for name in names:
        rows = by_name.get(name)
        if rows is not None and len(rows):
            if line_label and len(rows) > 1:  # several stations of that name: the one on this line, if any
                on = [r for r in rows if line_label in str(lines[r]).split(";")]
                rows = on if on else rows
            out.append((geoms[rows[0]], "osm"))
        elif name in external:
            out.append((external[name], "schematic"))
        else:
            out.append((None, ""))
    return out


def _approx_points(path) -> dict:
    """Approximate station points of ``layers/plan/plan_points.csv`` (``approx_station``; the GeoPackage's
    ``plan_points`` table), by the name before the bracket, in EPSG:4548."""
    df = _source_csv("plan_points", path)
    df = df[df["kind"] == "approx_station"]
    pts = gpd.GeoSeries(gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326").to_crs(METRIC_CRS)
    return {re.split(r"[（(]", n)[0]: g for n, g in zip(df["name_zh"], pts.values)}


def _line_detours(seq: pd.DataFrame, stations, approx: dict, default: float, path) -> dict:
    """Official length / sum of station chords, per metro line (lines without a length keep ``default``)."""
    try:
        meta = _source_csv("metro_lines_meta", path, dtype={"line_id": str})
    except (KeyError, FileNotFoundError):
        return {}
    length = dict(zip(meta["line_id"], meta["length_km"]))
    out = {}
    for line_id, part in seq.groupby("line_id", sort=False):
        if line_id not in length or not np.isfinite(length[line_id]):
            continue
        chords = 0.0
        for _, seg in part.groupby("segment", sort=False):
            seg = seg.sort_values("seq")
            pts = [
                g
                for g, _ in _locate(seg["station_zh"], stations, "metro", seg["line_name_zh"].iloc[0], approx)
                if g is not None
            ]
            chords += sum(shapely.distance(a, b) for a, b in zip(pts, pts[1:])) / 1000
        if chords > 0:
            out[line_id] = float(np.clip(length[line_id] / chords, 1.0, 1.6))
    return out


@dataclass(frozen=True)
class _RailInputs:
    """What every rail graph of one GeoPackage shares: the line sequences with their located stations."""

    metro: list  # (line_id, station names, located, declared transfers) per line segment
    intercity: list  # (line_id, category, station names, located, statuses) per line
    line_detour: dict


def _rail_inputs(path) -> _RailInputs:
    """Locate the stations of every metro and intercity line (the part of :func:`rail_graph` that does not
    depend on speeds, dwells or transfers)."""
    stations = _StationIndex(to_metric(load(role_id("station_points"), path)))
    ext = _source_csv("external_stations", path)
    ext_pts = gpd.GeoSeries(gpd.points_from_xy(ext["lon"], ext["lat"]), crs="EPSG:4326").to_crs(METRIC_CRS)
    external = dict(zip(ext["station_zh"], ext_pts.values))
    approx = _approx_points(path)
    seq = _source_csv("metro_lines_csv", path, dtype={"line_id": str, "segment": str})
    seq["segment"] = seq["segment"].fillna("")
    line_detour = _line_detours(seq, stations, approx, 1.1, path)
    metro = []
    for (line_id, _), part in seq.groupby(["line_id", "segment"], sort=False):
        part = part.sort_values("seq")
        label = part["line_name_zh"].iloc[0]
        located = _locate(part["station_zh"], stations, "metro", label, approx)
        transfers = set()
        for name, to in zip(part["station_zh"], part["transfer_to"].fillna("").astype(str)):
            transfers |= {(name, line_id, t) for t in to.split(";") if t}
        metro.append((line_id, list(part["station_zh"]), located, transfers))
    ic = _source_csv("intercity_rail_csv", path, dtype={"opened": str})
    cats = {}
    if get_catalog().with_role("intercity_network"):
        layer = load(role_id("intercity_network"), path)
        cats = dict(zip(layer["line_id"], layer["category"]))
    intercity = []
    for line_id, part in ic.groupby("line", sort=False):
        part = part.sort_values("seq")
        located = _locate(part["station_zh"], stations, "rail", None, {**approx, **external})
        intercity.append(
            (line_id, cats.get(line_id, "intercity"), list(part["station_zh"]), located, list(part["status"]))
        )
    return _RailInputs(metro=metro, intercity=intercity, line_detour=line_detour)


def _plan_lines(path) -> list:
    """The ``planned_rail`` lines not open yet: (line_id, mode, waypoint labels, located waypoints)."""
    plan = to_metric(load(role_id("planned_lines"), path))
    plan = plan[plan["status"] != "open"]
    out = []
    for row in plan.itertuples():
        coords = shapely.get_coordinates(row.geometry)
        labels = row.waypoints.split(";") if row.waypoints else []
        if len(labels) != len(coords):
            labels = [f"{row.line_id}#{k}" for k in range(len(coords))]
        out.append((row.line_id, row.mode, labels, [(shapely.Point(c), "schematic") for c in coords]))
    return out


def rail_graph(
    path: str | Path | None = None,
    *,
    scenario: str = "open",
    speeds: dict | None = None,
    dwell_min: dict | None = None,
    transfer_min: float = 3.0,
    walk_kmh: float = 4.8,
    transfer_radius_m: float = 500.0,
    detour: float = 1.1,
    line_speeds: dict | None = None,
    walk_detour: float = 1.3,
    cache: RunCache | None = None,
) -> RailGraph:
    """Build the rail graph from the line sequences and the station layer.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (default ``layers/tianjin.gpkg``).
    scenario : {"open", "plan"}, default "open"
        ``"open"`` (lines and segments open now) or ``"plan"`` (plus the planned rail lines that are under
        construction or planned, if the catalog has that layer).
    speeds : dict, optional
        Per-mode running speed, km/h, merged over the defaults.
    dwell_min : dict, optional
        Per-mode dwell per stop, minutes, merged over the defaults.
    transfer_min : float, default 3.0
        Penalty of a change of line, minutes (plus the walk).
    walk_kmh : float, default 4.8
        Walking speed for transfers, km/h.
    transfer_radius_m : float, default 500.0
        Walking cap: nodes of different lines closer than this are connected by a transfer, metres (declared
        interchanges are connected whatever the distance between their points).
    detour : float, default 1.1
        Track length / chord length for lines without an official length.
    line_speeds : dict, optional
        Per-line running speeds, km/h, merged over :data:`LINE_SPEEDS_KMH`.
    walk_detour : float, default 1.3
        Walked distance / straight distance of a transfer.
    cache : RunCache, optional
        The run's memo (:mod:`tjspatial.analysis.context`): the located stations are shared by every graph of
        the run, and a graph with the same parameters is built once.

    Returns
    -------
    RailGraph
        Nodes (station × line, metric CRS), edges with travel times in minutes and lengths in km, parameters.
    """
    if scenario not in ("open", "plan"):
        raise InputError(f"scenario must be 'open' or 'plan', not {scenario!r}")
    sp = {**DEFAULT_SPEEDS_KMH, **(speeds or {})}
    lsp = {**LINE_SPEEDS_KMH, **(line_speeds or {})}
    dw = {**DEFAULT_DWELL_MIN, **(dwell_min or {})}
    bad = (
        {k: v for k, v in sp.items() if not v > 0}
        | {f"dwell {k}": v for k, v in dw.items() if v < 0}
        | {f"line {k}": v for k, v in lsp.items() if not v > 0}
    )
    if bad or transfer_min < 0 or not walk_kmh > 0 or detour < 1:
        raise InputError(
            f"rail_graph: speeds must be > 0 km/h, dwell and transfer >= 0 min, walk > 0 km/h and "
            f"detour >= 1 (got {bad or ''} transfer_min={transfer_min}, walk_kmh={walk_kmh}, "
            f"detour={detour})"
        )
    key = (
        "rail_graph",
        path_key(path),
        scenario,
        tuple(sp.items()),
        tuple(lsp.items()),
        tuple(dw.items()),
        transfer_min,
        walk_kmh,
        transfer_radius_m,
        detour,
        walk_detour,
    )
    return memo(
        cache,
        key,
        lambda: _build_graph(
            path, scenario, sp, lsp, dw, transfer_min, walk_kmh, transfer_radius_m, detour, walk_detour, cache
        ),
    )


def _build_graph(
    path, scenario, sp, lsp, dw, transfer_min, walk_kmh, transfer_radius_m, detour, walk_detour, cache
) -> RailGraph:
    """:func:`rail_graph` once its parameters are checked and merged over the defaults."""
    inp = memo(cache, ("rail_inputs", path_key(path)), lambda: _rail_inputs(path))
    line_detour = inp.line_detour
    node_rows: list[dict] = []
    edges: list[dict] = []

    def add_line(line_id: str, mode: str, names: list[str], located: list, statuses: list[str] | None = None):
        speed = lsp.get(line_id, sp[mode])
        stretch = line_detour.get(line_id, detour)
        prev = None
        stops = 0
        for i, (name, (geom, acc)) in enumerate(zip(names, located)):
            stops += 1
            if geom is None:
                continue
            idx = len(node_rows)
            node_rows.append(
                {
                    "node": idx,
                    "name_zh": name,
                    "line_id": line_id,
                    "mode": mode,
                    "status": "open" if statuses is None else statuses[i],
                    "accuracy": acc,
                    "geometry": geom,
                }
            )
            if prev is not None:
                km = shapely.distance(node_rows[prev]["geometry"], geom) / 1000 * stretch
                if statuses is None or scenario == "plan" or statuses[i] == "open":
                    edges.append(
                        {
                            "a": prev,
                            "b": idx,
                            "km": km,
                            "line_id": line_id,
                            "kind": "ride",
                            "minutes": km / speed * 60 + dw[mode] * stops,
                        }
                    )
            prev, stops = idx, 0

    interchange = set()
    for line_id, names, located, transfers in inp.metro:
        add_line(line_id, "metro", names, located)
        interchange |= transfers
    for line_id, mode, names, located, statuses in inp.intercity:
        add_line(line_id, mode if mode in sp else "intercity", names, located, statuses=statuses)

    if scenario == "plan" and get_catalog().with_role("planned_lines"):
        plan = memo(cache, ("rail_plan_lines", path_key(path)), lambda: _plan_lines(path))
        for line_id, mode, labels, located in plan:
            add_line(line_id, mode if mode in sp else "metro", labels, located)

    nodes = gpd.GeoDataFrame(node_rows, geometry="geometry", crs=METRIC_CRS)
    # transfers: declared metro interchanges, and any two stations of different lines within a walk
    xy = shapely.get_coordinates(nodes.geometry.values)
    pairs = cKDTree(xy).query_pairs(transfer_radius_m, output_type="ndarray").reshape(-1, 2)
    names = nodes["name_zh"].to_numpy()
    lines = nodes["line_id"].to_numpy()
    key = {(n, ln): i for i, (n, ln) in enumerate(zip(names, lines))}
    declared = [(key[(n, a)], key[(n, b)]) for n, a, b in interchange if (n, a) in key and (n, b) in key]
    declared = np.asarray(declared, dtype=np.intp).reshape(-1, 2)
    allp = np.concatenate([pairs, declared])
    allp = np.unique(np.sort(allp, axis=1), axis=0) if len(allp) else allp
    allp = allp[lines[allp[:, 0]] != lines[allp[:, 1]]]
    walk_m = np.hypot(*(xy[allp[:, 0]] - xy[allp[:, 1]]).T) * walk_detour
    tr = pd.DataFrame(
        {
            "a": allp[:, 0],
            "b": allp[:, 1],
            "km": walk_m / 1000,
            "line_id": "",
            "kind": "transfer",
            "minutes": transfer_min + walk_m / 1000 / walk_kmh * 60,
        }
    )
    e = pd.concat([pd.DataFrame(edges), tr], ignore_index=True)
    params = {
        "scenario": scenario,
        "speeds_kmh": sp,
        "line_speeds_kmh": lsp,
        "dwell_min": dw,
        "transfer_min": transfer_min,
        "walk_kmh": walk_kmh,
        "walk_detour": walk_detour,
        "transfer_radius_m": transfer_radius_m,
        "detour": detour,
        "line_detour": {k: round(v, 3) for k, v in line_detour.items()},
    }
    return RailGraph(nodes=nodes, edges=e, params=params)


def dual_city_time(graph: RailGraph, hubs: dict | None = None) -> float:
    """Modelled rail time (minutes) between the cores of 津城 and 滨城 (:data:`DUAL_CITY_HUBS`).

    Parameters
    ----------
    graph : RailGraph
        The rail graph.
    hubs : dict, optional
        City → station names of its core; default :data:`DUAL_CITY_HUBS`.

    Returns
    -------
    float
        Minutes.
    """
    hubs = hubs or DUAL_CITY_HUBS
    a, b = list(hubs.values())[:2]
    return graph.travel_time(tuple(a), tuple(b))


def _names_match(name_zh: pd.Series, place: tuple[str, ...]) -> np.ndarray:
    """Whether each station name is one of ``place``, a final 站 ignored on both sides (天津站 = 天津)."""
    bare = [re.sub(r"(?<=.)站$", "", p) for p in place]
    return name_zh.astype(str).str.replace(r"(?<=.)站$", "", regex=True).isin(bare).to_numpy()


def hub_gap(graph: RailGraph, place, stations=None) -> str | None:
    """Why ``place`` has no node in ``graph``, or None when it has one (issue #11: the results that need a hub
    are reported as not computed, the rest is computed as usual).

    Parameters
    ----------
    graph : RailGraph
        The rail graph.
    place : str or tuple of str
        A station name or names, as in :data:`DUAL_CITY_HUBS` (matched as :meth:`RailGraph.nodes_of` does).
    stations : GeoDataFrame, optional
        The ``rail_stations`` layer, to say whether the station is missing from it or only from every line.

    Returns
    -------
    str or None
        ``"station 西站 missing from rail_stations"``, ``"station … on no line of the rail graph"`` or
        ``"station … not in the rail graph"`` (no ``stations``); None when the graph holds the station.
    """
    names = (place,) if isinstance(place, str) else tuple(place)
    try:
        graph.nodes_of(names)
        return None
    except UnknownNameError:
        pass
    label = " / ".join(names)
    if stations is None:
        return f"station {label} not in the rail graph"
    held = _names_match(stations["name_zh"], names).any()
    return f"station {label} on no line of the rail graph" if held else f"station {label} missing from rail_stations"


def dual_city_gap(graph: RailGraph, stations=None, hubs: dict | None = None) -> str | None:
    """Why :func:`dual_city_time` cannot be computed on ``graph``, or None when it can.

    Parameters
    ----------
    graph : RailGraph
        The rail graph.
    stations : GeoDataFrame, optional
        The ``rail_stations`` layer (see :func:`hub_gap`).
    hubs : dict, optional
        The two hubs (default :data:`DUAL_CITY_HUBS`).

    Returns
    -------
    str or None
        The :func:`hub_gap` of each missing hub, joined by "; ".
    """
    gaps = [hub_gap(graph, h, stations) for h in list((hubs or DUAL_CITY_HUBS).values())[:2]]
    return "; ".join(g for g in gaps if g) or None


def calibration(path: str | Path | None = None, graph: RailGraph | None = None) -> pd.DataFrame:
    """Modelled minutes of every timed trip of the ``rail_calibration`` table next to its published time.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (default ``layers/tianjin.gpkg``).
    graph : RailGraph, optional
        The open graph, if already built.

    Returns
    -------
    pandas.DataFrame
        The table's columns plus ``model_min`` and ``error`` (model / published − 1).
    """
    g = graph if graph is not None else rail_graph(path)
    cal = _source_csv("rail_calibration", path, dtype={"line": str})
    m = g._minimal()
    lines = g.nodes["line_id"].astype(str).to_numpy()
    model = []
    for a, b, line in zip(cal["from_zh"], cal["to_zh"], cal["line"]):
        ia, ib = g.nodes_of(a), g.nodes_of(b)
        on_a, on_b = ia[lines[ia] == line], ib[lines[ib] == line]  # the trip starts and ends on its line
        ia, ib = (on_a if len(on_a) else ia), (on_b if len(on_b) else ib)
        model.append(float(dijkstra(m, directed=False, indices=ia, min_only=True)[ib].min()))
    out = cal.assign(model_min=np.round(model, 1))
    out["error"] = out["model_min"] / out["published_min"] - 1
    return out


SENSITIVITY_CASES = {
    "model": {},
    "intercity/hsr −15 %": {"speed_factor": 0.85},
    "intercity/hsr +15 %": {"speed_factor": 1.15},
    "dwell +1 min (rail)": {"dwell_add": 1.0},
    "transfer 6 min": {"transfer_min": 6.0},
}
"""Assumptions the 20-minute verdict is tested against (:func:`dual_city_sensitivity`)."""


def dual_city_sensitivity(
    path: str | Path | None = None,
    *,
    target: float = 20.0,
    scenario: str = "open",
    cases: dict | None = None,
    cache: RunCache | None = None,
) -> pd.DataFrame:
    """The 津城 ↔ 滨城 time under the model and each changed assumption, and whether it is within ``target``.

    Returns ``case, minutes, within_target, params`` (one row per case; ``within_target`` is a plain
    comparison of a modelled time, not a verdict on the plan's Z2 target). With the run's ``cache`` the graphs
    share their located stations, and the ``model`` case is the run's open graph.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (default ``layers/tianjin.gpkg``).
    target : float, default 20.0
        Minutes the plan targets.
    scenario : {"open", "plan"}, default "open"
        The network.
    cases : dict, optional
        Case name → :func:`rail_graph` keyword arguments changed; default the module's cases.
    cache : RunCache, optional
        The run's memo.

    Returns
    -------
    pandas.DataFrame
        ``case, minutes, within_target, params``, one row per case.
    """
    rows = []
    for name, c in (cases or SENSITIVITY_CASES).items():
        f = c.get("speed_factor", 1.0)
        speeds = {m: DEFAULT_SPEEDS_KMH[m] * f for m in ("hsr", "intercity")}
        lines = {k: v * f for k, v in LINE_SPEEDS_KMH.items() if k not in ("9", "Z4")}
        dwell = {m: DEFAULT_DWELL_MIN[m] + c.get("dwell_add", 0.0) for m in ("hsr", "intercity", "conventional")}
        g = rail_graph(
            path,
            scenario=scenario,
            speeds=speeds,
            line_speeds=lines,
            dwell_min=dwell,
            transfer_min=c.get("transfer_min", 3.0),
            cache=cache,
        )
        m = dual_city_time(g)
        rows.append(
            {
                "case": name,
                "minutes": round(m, 1),
                "within_target": bool(m <= target),
                "target_minutes": target,
                "method": RAIL_METHOD,
                "params": g.params_json(),
            }
        )
    return pd.DataFrame(rows)
