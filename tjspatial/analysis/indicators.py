"""The plan's quantitative spatial targets, measured from the layers: value, target, and an honest status.

Every row of ``layers/sources/reference_figures.csv`` with ``kind = plan_target`` (and the barrier area the
plan text fixes) becomes one indicator. ``status`` is

* ``met`` / ``not met`` — only when the plan sets a target and the loaded layers measure the quantity well
  enough to decide;
* ``baseline / no target`` — the plan quotes the figure as a status (e.g. 232 km of metro at end 2020) and sets
  no target for it: the value is reported, never judged;
* ``not measurable`` — otherwise, with the reason in ``note`` (no layer holds the quantity; the layer is
  schematic, so its value is drawn, not measured; chord geometry only bounds a length from below; a
  land-cover raster is missing or too coarse ...). Official figures that bear on a target are quoted in the
  note, never turned into a status.

Lengths and areas are measured in EPSG:4548 inside the ``boundary`` layer; every row's ``method`` says how its
value was obtained. Rail lengths are de-duplicated: chords that two lines share (津保/津兴 天津西–胜芳, 京津城际延伸/
津秦 天津–军粮城北) count once, and every open line counts, also where a station has only an approximate point
(京滨城际 north section 宝坻–北辰).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS

from ..errors import InputError
from ..catalog import get_catalog, role_id
from ..crs import to_metric
from ..io import load, present_layers, read_source_table
from .grid import cell_fractions

__all__ = ["indicators", "forest_cover", "STATUSES", "FOREST_CLASSES_IGBP", "MAX_LANDCOVER_CELL_M"]

STATUSES = ("met", "not met", "not measurable", "baseline / no target")
FOREST_CLASSES_IGBP = (1, 2, 3, 4, 5)
"""IGBP forest classes (evergreen/deciduous needle/broadleaf, mixed)."""
MAX_LANDCOVER_CELL_M = 100.0
"""A land-cover raster coarser than this cannot measure forest cover of a zone a few km wide."""

COLUMNS = ["key", "name_zh", "name_en", "value", "unit", "target", "status", "note", "method", "plan_ref"]


def _refs(path) -> pd.DataFrame:
    return read_source_table("reference_figures", path, dtype=str).set_index("key")


def _has(layer_id: str, path) -> bool:
    return layer_id in present_layers(path)


def _held(role: str, path) -> str | None:
    """The id of the layer of ``role`` (tjspatial.catalog.ROLES) if the GeoPackage holds it, else None."""
    found = get_catalog().with_role(role)
    return found[0].id if found and found[0].id in present_layers(path) else None


def _length_inside(gdf: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame) -> float:
    m = to_metric(gdf)
    b = shapely.union_all(np.asarray(to_metric(boundary).geometry.values))
    return float(shapely.length(shapely.intersection(np.asarray(m.geometry.values), b)).sum() / 1000)


def rail_km(path=None, *, modes=("hsr", "intercity"), boundary: gpd.GeoDataFrame | None = None, graph=None) -> dict:
    """Length (km) of the open rail lines of ``modes`` inside Tianjin, shared chords counted once.

    The lines are the ride edges of the open rail graph (:func:`~tjspatial.analysis.rail_network.rail_graph`):
    straight chords between consecutive located stations (OSM points; approximate points where a station has
    none). Returns ``km`` (union of the chords inside the boundary), ``km_sum`` (sum per line, shared
    corridors counted once per line), ``shared_km`` (the difference) and ``lines`` (line ids).
    """
    from .rail_network import rail_graph

    g = graph if graph is not None else rail_graph(path)
    e = g.edges[g.edges["kind"] == "ride"]
    mode = g.nodes["mode"].to_numpy()
    e = e[np.isin(mode[e["a"].to_numpy()], modes)]
    xy = shapely.get_coordinates(g.nodes.geometry.values)
    segs = shapely.linestrings(np.stack([xy[e["a"].to_numpy()], xy[e["b"].to_numpy()]], axis=1))
    b = shapely.union_all(
        np.asarray(to_metric(load(role_id("municipality"), path) if boundary is None else boundary).geometry.values)
    )
    inside = shapely.intersection(segs, b)
    per_line = pd.Series(shapely.length(inside) / 1000, index=e["line_id"].to_numpy()).groupby(level=0).sum()
    km = float(shapely.length(shapely.union_all(inside)) / 1000)
    return {
        "km": km,
        "km_sum": float(per_line.sum()),
        "shared_km": float(per_line.sum() - km),
        "lines": sorted(per_line.index),
    }


def forest_cover(landcover: str | Path, zone: gpd.GeoDataFrame, *, classes=FOREST_CLASSES_IGBP) -> tuple[float, float]:
    """Share of ``zone`` covered by the forest ``classes`` of a land-cover raster, and the raster's cell size.

    Cells are weighted by the share of their area inside the zone (in the raster's CRS); nodata cells are left
    out of both numerator and denominator.

    Parameters
    ----------
    landcover : str or pathlib.Path
        A land-cover GeoTIFF (IGBP classes by default).
    zone : geopandas.GeoDataFrame
        The zone (any CRS).
    classes : sequence of int, optional
        Raster values counted as forest.

    Returns
    -------
    share : float
        In [0, 1].
    cell_m : float
        The raster's approximate cell size, metres.
    """
    with rasterio.open(landcover) as src:
        if src.crs is None:
            raise InputError(f"land-cover raster {landcover} has no CRS")
        arr = src.read(1)
        nodata = src.nodata
        transform, crs = src.transform, src.crs
    geom = shapely.union_all(np.asarray(zone.to_crs(crs).geometry.values))
    r, c, w = cell_fractions(geom, transform, arr.shape)
    vals = arr[r, c]
    ok = np.ones(len(vals), bool) if nodata is None else vals != nodata
    share = float((w * np.isin(vals, classes))[ok].sum() / w[ok].sum()) if w[ok].sum() > 0 else float("nan")
    cell = abs(transform.a)
    if CRS.from_user_input(crs).is_geographic:
        lat = shapely.centroid(geom).y
        cell = cell * 111_320 * np.cos(np.radians(lat))
    return share, float(cell)


def _class_words(classes) -> str:
    """Land-cover classes in words, for a note: ``(1, 2, 3, 4, 5)`` → ``"1–5 (forests)"`` when they are the IGBP
    forest classes, else ``"1, 3 and 8"``; never a Python list literal."""
    codes = [int(c) for c in classes]
    if len(codes) > 2 and codes == list(range(codes[0], codes[-1] + 1)):
        text = f"{codes[0]}–{codes[-1]}"
    else:
        text = (
            ", ".join(map(str, codes[:-1])) + (" and " if len(codes) > 1 else "") + str(codes[-1]) if codes else "none"
        )
    return text + (" (forests)" if tuple(codes) == FOREST_CLASSES_IGBP else "")


def indicators(
    path: str | Path | None = None,
    *,
    landcover: str | Path | None = None,
    population=None,
    forest_classes=FOREST_CLASSES_IGBP,
    max_landcover_cell_m: float = MAX_LANDCOVER_CELL_M,
    graph=None,
    surfaces: dict | None = None,
    sensitivity: pd.DataFrame | None = None,
    metro_coverage: pd.DataFrame | None = None,
    cache=None,
) -> pd.DataFrame:
    """The plan's spatial targets with the value the layers give and a status (module docstring).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        GeoPackage the layers are read from (default ``layers/tianjin.gpkg``).
    landcover : str or pathlib.Path, optional
        A land-cover GeoTIFF (IGBP classes by default) for the barrier's level-1 forest cover; without one
        that row is "not measurable".
    population : optional
        Population for the metro-coverage row (default: the bundled modelled grid).
    forest_classes : sequence of int, optional
        Raster values counted as forest (绿化); default the IGBP forest classes.
    max_landcover_cell_m : float, optional
        Rasters with coarser cells (metres) give a value but no status.
    graph : RailGraph, optional
        The open-network ``tj.rail_graph(path)`` if already built (built here otherwise).
    surfaces : dict, optional
        Name → population for the range of the coverage row (default: the model and its variants when
        ``population`` is None; none otherwise).
    sensitivity : pandas.DataFrame, optional
        ``dual_city_sensitivity(path)`` if already computed (computed here otherwise).
    metro_coverage : pandas.DataFrame, optional
        ``coverage(station_set("metro", path), population, <zones>, distance=800, path=path)`` if already
        computed, with its range over ``surfaces`` (``add_range``) if it has one (computed here otherwise).
    cache : RunCache, optional
        The run's memo (:mod:`tjspatial.analysis.context`) for what is computed here.

    Returns
    -------
    pandas.DataFrame
        Columns ``key, name_zh, name_en, value, unit, target, status, note, method, plan_ref``; one row per
        target (units in ``unit``: km, km², %, minutes...).
    """
    refs = _refs(path)
    rows: list[dict] = []

    def ref(key: str) -> tuple[str, str]:
        if key not in refs.index:
            return "", ""
        r = refs.loc[key]
        return str(r["value"]), str(r["source"])

    def add(key, name_zh, name_en, value, unit, target, status, note, ref_key, method=""):
        assert status in STATUSES, status
        if status in ("met", "not met") and not str(target).strip():
            raise ValueError(f"indicator {key}: a row without a target cannot be {status!r}")
        rows.append(
            {
                "key": key,
                "name_zh": name_zh,
                "name_en": name_en,
                "value": None if value is None else round(float(value), 2),
                "unit": unit,
                "target": target,
                "status": status,
                "note": note,
                "method": method or ("no measurement: " + note.split(";")[0] if value is None else ""),
                "plan_ref": ref(ref_key)[1],
            }
        )

    boundary = load(role_id("municipality"), path)
    from .rail_network import rail_graph

    g = graph if graph is not None else rail_graph(path, cache=cache)

    # 1. high-speed / intercity rail km (shared chords once, every open line)
    if _held("intercity_network", path):
        rk = rail_km(path, boundary=boundary, graph=g)
        km = rk["km"]
        official = ref("hsr_intercity_km_end2025")[0]
        status = "met" if km >= 470 else "not measurable"
        note = (
            f"open hsr + intercity lines inside Tianjin ({len(rk['lines'])} lines incl. the open 京滨城际 north "
            f"section); {rk['shared_km']:.1f} km of chords shared by two lines (津保/津兴, 京津城际延伸/津秦) counted "
            f"once (sum per line {rk['km_sum']:.1f} km). Chords between stations bound the track length from below, "
            f"so only a value ≥ 470 km could decide. Official figure: {official} km at end 2025 "
            "(reference_figures, secondary) — below the target."
        )
        add(
            "hsr_km_2025",
            "高速（城际）铁路总里程",
            "High-speed / intercity rail length",
            km,
            "km",
            "470",
            status,
            note,
            "plan_hsr_km_2025",
            "union of the straight chords between consecutive open stations of the hsr and intercity lines "
            "(rail graph; approximate points where OSM has none), clipped to the boundary, EPSG:4548",
        )

    # 2. expressways
    if _has("expressways", path):
        km = _length_inside(load("expressways", path), boundary)
        add(
            "expressway_km_2025",
            "高速公路通车里程",
            "Expressway length",
            km,
            "km",
            "> 1350",
            "met" if km > 1350 else "not met",
            "length of the expressways layer inside Tianjin",
            "plan_expressway_km_2025",
            "length of the expressways layer clipped to the boundary, EPSG:4548",
        )
    else:
        add(
            "expressway_km_2025",
            "高速公路通车里程",
            "Expressway length",
            None,
            "km",
            "> 1350",
            "not measurable",
            f"no expressway layer in the catalog. Official figure: {ref('expressway_km_end2025')[0]} km at end 2025 "
            "(reference_figures, secondary).",
            "plan_expressway_km_2025",
        )

    # 3. barrier area, 4. level-1 forest cover
    if barrier_id := _held("green_barrier_area", path):
        gb = load(barrier_id, path)
        area = float(to_metric(gb).area.sum() / 1e6)
        schematic = (gb["accuracy"] == "schematic").any()
        add(
            "barrier_area",
            "双城间绿色生态屏障面积",
            "Green barrier area",
            area,
            "km2",
            "736",
            "not measurable" if schematic else ("met" if area >= 736 * 0.99 else "not met"),
            "the green_barrier layer is schematic (示意): drawn to the official areas, so its area cannot confirm them"
            if schematic
            else "area of the green_barrier layer (EPSG:4548)",
            "plan_barrier_area",
            "area of the green_barrier polygons, EPSG:4548",
        )
        lvl1 = gb[gb["level"] == 1] if "level" in gb.columns else gb.iloc[0:0]

        def add_forest(value, status, note, method=""):
            add(
                "barrier_level1_forest_cover",
                "一级管控区森林（绿化）覆盖率",
                "Forest cover, barrier level-1 zone",
                value,
                "percent",
                "25",
                status,
                note,
                "plan_barrier_level1_forest_cover",
                method,
            )

        if landcover is None:
            add_forest(
                None,
                "not measurable",
                "needs a land-cover raster: tj.indicators(landcover='file.tif') (IGBP classes, ≤ "
                f"{max_landcover_cell_m:g} m cells)",
            )
        elif lvl1.empty:
            add_forest(None, "not measurable", "the green_barrier layer has no level-1 zone")
        else:
            share, cell_m = forest_cover(landcover, lvl1, classes=forest_classes)
            reasons = []
            if cell_m > max_landcover_cell_m:
                reasons.append(f"the raster's cells (~{cell_m:,.0f} m) are far too coarse for a zone a few km wide")
            if (lvl1["accuracy"] == "schematic").any():
                reasons.append("the level-1 zone is schematic (示意)")
            status = "not measurable" if reasons else ("met" if share * 100 >= 25 else "not met")
            add_forest(
                share * 100,
                status,
                f"share of IGBP classes {_class_words(forest_classes)} in {Path(landcover).name}, cells weighted by covered "
                "area" + ("; " + "; ".join(reasons) if reasons else ""),
                f"share of forest-class cells of {Path(landcover).name} in the level-1 zone, cells weighted by the "
                "share of their area inside",
            )

    # 5. natural coastline
    add(
        "natural_coastline_km",
        "自然岸线保有量",
        "Natural coastline retained",
        None,
        "km",
        "≥ 18",
        "not measurable",
        "the coastline layer does not tell natural from artificial shoreline. Official figure: "
        f"{ref('natural_shoreline_redline')[0]} km in the 2018 ecological red line (reference_figures, secondary).",
        "plan_natural_coastline_min",
    )

    # 6. public shoreline
    if tourism_id := _held("tourism_sites", path):
        t = load(tourism_id, path)
        sh = t[t["component"] == "shoreline"] if "component" in t.columns else t.iloc[0:0]
        km = float(to_metric(sh).length.sum() / 1000) if len(sh) else None
        add(
            "public_shoreline_km",
            "公共亲海亲水休闲岸线",
            "Public seaside / waterside shoreline",
            km,
            "km",
            "≈ 45",
            "not measurable",
            "the tourism layer's shoreline is schematic (示意), drawn to the plan's ~45 km; it "
            "cannot show what is built",
            "plan_public_shoreline",
            "length of the tourism layer's shoreline features (schematic), EPSG:4548",
        )
    else:
        add(
            "public_shoreline_km",
            "公共亲海亲水休闲岸线",
            "Public seaside / waterside shoreline",
            None,
            "km",
            "≈ 45",
            "not measurable",
            "no shoreline layer",
            "plan_public_shoreline",
        )

    # 7. 20-minute dual-city link
    from .rail_network import DUAL_CITY_HUBS, RAIL_METHOD, dual_city_gap, dual_city_sensitivity, dual_city_time

    # a hub missing from the stations (a partial OSM extract, #11): the row stays, not computed, with the reason
    st_id = _held("station_points", path)
    gap = dual_city_gap(g, load(st_id, path) if st_id else None)
    if gap:
        add(
            "dual_city_rail_minutes",
            "津城—滨城直达轨道时间",
            "Jincheng–Bincheng rail time",
            None,
            "min",
            "20 (Z2 line)",
            "not measurable",
            f"not computed: {gap}",
            "plan_dual_city_rail_link",
            f"not computed: {gap}",
        )
    else:
        minutes = dual_city_time(g)
        sens = sensitivity if sensitivity is not None else dual_city_sensitivity(path, cache=cache)
        sens_txt = f"{sens['minutes'].min():.1f}–{sens['minutes'].max():.1f} min"
        z2_open = False
        if plan_id := _held("planned_lines", path):
            pr = load(plan_id, path)
            z2_open = bool((pr["line_id"].str.startswith("Z2") & (pr["status"] == "open")).any())
        hubs = " ↔ ".join("/".join(v) for v in DUAL_CITY_HUBS.values())
        add(
            "dual_city_rail_minutes",
            "津城—滨城直达轨道时间",
            "Jincheng–Bincheng rail time",
            minutes,
            "min",
            "20 (Z2 line)",
            "met" if (z2_open and minutes <= 20) else "not met",
            f"modelled fastest rail time {hubs} on the open network ({minutes:.1f} min; per-line speeds calibrated to "
            f"published journey times, dwell and {g.params['transfer_min']:g} min transfers); the target's direct line "
            "Z2 is "
            f"{'open' if z2_open else 'not open'} in the planned_rail layer; under changed assumptions (intercity/hsr "
            f"±15 %, +1 min dwell, 6 min transfers) the time stays {sens_txt}",
            "plan_dual_city_rail_link",
            RAIL_METHOD + " (rail_calibration.csv: every timed trip within ±15 %)",
        )

    # 8. metro coverage of key areas, with its range over the population surfaces
    from .coverage import coverage
    from .stations import station_set
    from .uncertainty import add_range

    metro = station_set("metro", path)
    cov = (
        metro_coverage
        if metro_coverage is not None
        else coverage(metro, population, role_id("planning_zones"), distance=800, path=path)
    )
    if surfaces is None and population is None:
        from .population import population_variants

        surfaces = population_variants(path, cache=cache)
    keys = ["中心城区", "滨海新区", "环城四区"]
    sel = cov["area"].isin(keys).to_numpy()
    share = float(cov["pop_covered"][sel].sum() / cov["pop_total"][sel].sum()) if sel.any() else None
    rng = ""
    if share is not None and ("range_surfaces" in cov.attrs or surfaces):
        ranged = (
            cov
            if "range_surfaces" in cov.attrs
            else add_range(cov, surfaces, areas=role_id("planning_zones"), path=path, cache=cache)
        )
        # the key areas together: re-weight each surface's shares by that surface's totals (= census by zone)
        tot = cov["pop_total"][sel].to_numpy()
        per = [
            float((ranged[f"share_{n}"][sel].to_numpy() * tot).sum() / tot.sum())
            for n in ranged.attrs["range_surfaces"].split(",")
        ]
        rng = f"; range over the population model and its variants {min(per) * 100:.1f}–{max(per) * 100:.1f} %"
    add(
        "metro_coverage_key_areas",
        "中心城区、滨海新区及环城四区地铁覆盖",
        "Metro coverage of the key areas",
        None if share is None else share * 100,
        "percent of residents within 800 m",
        "key areas fully covered",
        "not measurable",
        "the plan does not delimit its 重点区域 (key areas); value = residents of 中心城区, 滨海新区 "
        f"and 环城四区 within 800 m (straight line) of a metro station, {cov.attrs['population_source']} "
        f"({cov.attrs['population_accuracy']}, {cov.attrs.get('population_year')}){rng}; stations: "
        f"{metro.attrs['station_snapshot']}",
        "plan_metro_coverage_2025",
        f"buffer coverage, 800 m straight line, {len(metro)} metro stations ({metro.attrs['station_snapshot']}), "
        "zonal sums of the population over the catchments (zones layer)",
    )

    # 9. metro length: a baseline (232 km at end 2020), not a target
    meta_src = get_catalog().sources.get("metro_lines_meta")
    if meta_src is not None:
        meta = read_source_table("metro_lines_meta", path, dtype={"line_id": str})
        as_of = str(meta_src.date or "")
        opened = pd.to_datetime(meta["opened"], errors="coerce")
        cutoff = pd.to_datetime(as_of, errors="coerce")
        open_lines = meta[opened.notna() & ((opened <= cutoff) if pd.notna(cutoff) else True)]
        km = float(open_lines["length_km"].sum())
        metro_id = _held("metro_network", path)
        drawn = set(load(metro_id, path)["line_id"].astype(str)) if metro_id else set()
        undrawn = [n for lid, n in zip(open_lines["line_id"], open_lines["name_zh"]) if lid not in drawn]
        add(
            "metro_km_vs_2020",
            "地铁运营里程（2020年232公里）",
            "Metro length (232 km at end 2020)",
            km,
            "km",
            "232 (end-2020 status)",
            "baseline / no target",
            f"{len(open_lines)} lines open by {as_of} (incl. Z4 北段, open since 2026-01-18); the plan records 232 km "
            "as the end-2020 status and sets no length target for 2025, so no status is given"
            + (f"; lines without a drawn geometry: {', '.join(undrawn)}" if undrawn else ""),
            "plan_metro_km_2020_baseline",
            f"sum of the official line lengths (metro_lines_meta.csv, length_km) of every line opened on or before "
            f"{as_of}",
        )

    # 10. non-spatial or out-of-area targets in the same list
    add(
        "port_teu_2025",
        "天津港集装箱吞吐量",
        "Port container throughput",
        None,
        "M TEU",
        "22",
        "not measurable",
        "not a spatial quantity; no layer holds throughput. Official figure: "
        f"{ref('port_throughput_2025')[0]} Mt / 24 M TEU in 2025 (reference_figures, secondary).",
        "plan_port_teu_2025",
    )
    add(
        "jjx_commute_min",
        "京津雄半小时通勤圈",
        "Beijing–Tianjin–Xiong'an half-hour commute",
        None,
        "min",
        "30",
        "not measurable",
        "the rail graph ends at the first station outside Tianjin (approximate positions)",
        "plan_jjx_commute",
    )

    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs = {"method": "tjspatial indicators", "landcover": str(landcover) if landcover else None}
    return df
