"""Builders of the base layers from the files bundled in ``layers/sources/``.

Each ``build_<layer>(ctx)`` returns a GeoDataFrame in EPSG:4326 with the fields its catalog declaration
lists; areas and lengths are measured in the metric CRS (EPSG:4548 for Tianjin).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..build_context import BuildContext
from ..crs import STORAGE_CRS, to_metric
from ..errors import BuildError
from ..names import english_station_name
from ..validate import TIANJIN_ENVELOPE

ZONE_EN = {
    "中心城区": "Central city (6 districts)",
    "环城四区": "Four ring districts",
    "滨海新区": "Binhai New Area",
    "外围五区": "Five outer districts",
}
ZONE_ORDER = list(ZONE_EN)

DUAL_CITY = {
    "津城": ("Jincheng (Tianjin main city)", ["中心城区", "环城四区"]),
    "滨城": ("Bincheng (Binhai city)", ["滨海新区"]),
}

INTERCITY_EN = {
    "jingjin_intercity": ("Beijing–Tianjin Intercity Railway (with extension)", "intercity"),
    "jinghu_hsr": ("Beijing–Shanghai High-Speed Railway", "hsr"),
    "jinghu_hsr_tianjinxi": ("Beijing–Shanghai HSR Tianjin West link", "hsr"),
    "jinqin_hsr": ("Tianjin–Qinhuangdao High-Speed Railway", "hsr"),
    "jinbao_rail": ("Tianjin–Baoding Railway", "intercity"),
    "jinxing_intercity": ("Tianjin–Xiong'an Intercity Railway", "intercity"),
    "jingbin_intercity": ("Beijing–Binhai Intercity Railway", "intercity"),
    "jingtang_intercity": ("Beijing–Tangshan Intercity Railway", "intercity"),
    "jinwei_hsr": ("Tianjin–Weifang High-Speed Railway", "hsr"),
    "jingshan_rail": ("Beijing–Shanhaiguan Railway (conventional)", "conventional"),
    "jinghu_rail": ("Beijing–Shanghai Railway, Tianjin–Pukou section (conventional)", "conventional"),
    "jinji_rail": ("Tianjin–Jizhou Railway (conventional)", "conventional"),
}

PLAN_REF_DUAL_CITY = "第十章第一节 构建“津城”“滨城”双城发展格局: 以海河为纽带，…“津城”“滨城”双城发展格局"
PLAN_REF_NODES = "第十章第一节: 武清、宝坻、静海、宁河、蓟州五个节点城市"


def _area_km2(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.round(to_metric(gdf).area.values / 1e6, 3)


def _length_km(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.round(to_metric(gdf).length.values / 1e3, 3)


# ------------------------------------------------------------------------------------------------ admin


def build_boundary(ctx: BuildContext) -> gpd.GeoDataFrame:
    gdf = ctx.read_vector("tianditu_boundary")
    gdf["area_km2"] = _area_km2(gdf)
    gdf["source"] = "tianditu_boundary"
    return gdf


def build_districts(ctx: BuildContext) -> gpd.GeoDataFrame:
    gdf = ctx.read_vector("tianditu_districts")
    census = ctx.read_csv("census_2020")
    for col in ("adcode", "name_zh", "pop_2020", "status"):
        if col not in census.columns:
            raise BuildError(
                f"census table lacks column {col!r}", layer=ctx.layer_id, file=str(ctx.path("census_2020")), field=col
            )
    gdf = gdf.drop(columns=[c for c in ("pop_2020", "pop_2020_status") if c in gdf.columns])
    gdf = gdf.merge(
        census[["adcode", "pop_2020", "status"]].rename(columns={"status": "pop_2020_status"}),
        on="adcode",
        how="left",
        validate="one_to_one",
    )
    missing = gdf.loc[gdf["pop_2020"].isna(), "name_zh"].tolist()
    if missing:
        raise BuildError(
            f"no 2020 census population for {', '.join(missing)}",
            layer=ctx.layer_id,
            file=str(ctx.path("census_2020")),
            field="pop_2020",
        )
    gdf["area_km2"] = _area_km2(gdf)
    gdf["source"] = "tianditu_districts; census_2020"
    return gdf.sort_values("adcode")


def _dissolve(districts: gpd.GeoDataFrame, key: str) -> gpd.GeoDataFrame:
    g = districts.groupby(key, sort=False)
    geoms = g.geometry.apply(lambda s: shapely.union_all(np.asarray(s.values), grid_size=1e-6))
    out = gpd.GeoDataFrame(
        {key: geoms.index, "districts": g.size().values, "pop_2020": g["pop_2020"].sum().values},
        geometry=gpd.GeoSeries(geoms.values, crs=districts.crs),
        crs=districts.crs,
    )
    return out


def build_zones(ctx: BuildContext) -> gpd.GeoDataFrame:
    zones = _dissolve(ctx.get("districts"), "zone")
    unknown = set(zones["zone"]) - set(ZONE_EN)
    if unknown:
        raise BuildError(f"unknown zone value(s) {sorted(unknown)}", layer=ctx.layer_id, field="zone")
    zones["name_zh"] = zones["zone"]
    zones["name_en"] = zones["zone"].map(ZONE_EN)
    zones["area_km2"] = _area_km2(zones)
    zones["source"] = "tianditu_districts; census_2020"
    zones["_order"] = zones["zone"].map(ZONE_ORDER.index)
    return zones.sort_values("_order")


def build_dual_city(ctx: BuildContext) -> gpd.GeoDataFrame:
    districts = ctx.get("districts")
    rows = []
    for city, (name_en, zones) in DUAL_CITY.items():
        part = districts[districts["zone"].isin(zones)]
        rows.append(
            {
                "name_zh": city,
                "name_en": name_en,
                "city": city,
                "approximation": "行政区近似 / administrative approximation: " + " + ".join(zones),
                "districts": "、".join(part["name_zh"]),
                "pop_2020": int(part["pop_2020"].sum()),
                "plan_ref": PLAN_REF_DUAL_CITY,
                "geometry": shapely.union_all(np.asarray(part.geometry.values), grid_size=1e-6),
            }
        )
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=districts.crs)
    gdf["area_km2"] = _area_km2(gdf)
    gdf["source"] = "tianditu_districts; census_2020; plan_text"
    return gdf


def build_nodes(ctx: BuildContext) -> gpd.GeoDataFrame:
    anchors = ctx.read_csv("plan_anchors")
    seats = anchors[anchors["kind"] == "district_seat"].copy()
    if len(seats) != 5:
        raise BuildError(
            f"expected 5 district_seat anchors, found {len(seats)}",
            layer=ctx.layer_id,
            file=str(ctx.path("plan_anchors")),
        )
    gdf = gpd.GeoDataFrame(seats, geometry=shapely.points(seats[["lon", "lat"]].to_numpy()), crs=STORAGE_CRS)
    gdf["district_zh"] = gdf["expected_district"]
    gdf["accuracy"] = np.where(gdf["confidence"] == "low", "schematic", "derived")
    gdf["source"] = np.where(
        gdf["source"].fillna("").str.contains("GeoNames", case=False),
        "plan_anchors (GeoNames)",
        "plan_anchors (approximate)",
    )
    gdf["plan_ref"] = PLAN_REF_NODES
    return gdf


# ------------------------------------------------------------------------------------------------ transport


def build_rail_stations(ctx: BuildContext) -> gpd.GeoDataFrame:
    gdf = ctx.read_vector("osm_stations")
    seq = ctx.read_csv("metro_lines_csv")
    en = seq.drop_duplicates("station_zh").set_index("station_zh")["station_en_metroman"]
    gdf["name_zh"] = gdf["name_zh"].fillna("")
    given = gdf["name_en"].fillna("").astype(str) if "name_en" in gdf.columns else pd.Series("", index=gdf.index)
    given = given.where(given.str.strip() != "", gdf["name_zh"].map(en).fillna(""))
    # a real English name is kept; run-together pinyin (metroman "Tianjinxizhan") and missing names become
    # spaced place-name pinyin (天津西 → "Tianjin Xi"), see tjspatial.names
    gdf["name_en"] = [english_station_name(z, e) for z, e in zip(gdf["name_zh"], given)]
    gdf["lines"] = gdf["lines"].fillna("")
    gdf["status"] = "open"
    gdf["station_id"] = [f"osm_st_{i:04d}" for i in range(1, len(gdf) + 1)]
    gdf["source"] = "osm_stations"
    return gdf


def _locate_stations(stations: gpd.GeoDataFrame, names: pd.Series, line_label: str | None, kind: str) -> np.ndarray:
    """Geometry of each named station (None where not located), preferring nodes that list the line."""
    cand = stations[(stations["kind"] == kind) & (stations["name_zh"] != "")]
    out = np.empty(len(names), dtype=object)
    for i, name in enumerate(names):
        hits = cand[cand["name_zh"] == name]
        if line_label is not None and len(hits) > 1:
            on_line = hits[hits["lines"].str.split(";").map(lambda ls: line_label in ls)]
            hits = on_line if len(on_line) else hits
        out[i] = hits.geometry.iloc[0] if len(hits) else None
    return out


def _chords(points: list) -> shapely.Geometry | None:
    pts = [p for p in points if p is not None]
    if len(pts) < 2:
        return None
    return shapely.linestrings(shapely.get_coordinates(np.asarray(pts)))


def build_metro_lines(ctx: BuildContext) -> gpd.GeoDataFrame:
    seq = ctx.read_csv("metro_lines_csv", dtype={"line_id": str, "segment": str})
    meta = ctx.read_csv("metro_lines_meta", dtype={"line_id": str}).set_index("line_id")
    stations = ctx.get("rail_stations")
    seq["segment"] = seq["segment"].fillna("")
    rows = []
    for line_id, part in seq.groupby("line_id", sort=False):
        if line_id not in meta.index:
            raise BuildError(
                f"line {line_id!r} has no row in metro_lines_meta.csv",
                layer=ctx.layer_id,
                file=str(ctx.path("metro_lines_meta")),
                field="line_id",
            )
        m = meta.loc[line_id]
        label = part["line_name_zh"].iloc[0]
        pieces, located = [], 0
        for _, seg in part.groupby("segment", sort=False):
            seg = seg.sort_values("seq")
            pts = _locate_stations(stations, seg["station_zh"], label, "metro")
            located += sum(p is not None for p in pts)
            chord = _chords(list(pts))
            if chord is not None:
                pieces.append(chord)
        if not pieces:
            ctx.warn(f"line {label} has {located} located station(s); fewer than two, so no geometry")
            continue
        geom = pieces[0] if len(pieces) == 1 else shapely.multilinestrings(pieces)
        rows.append(
            {
                "name_zh": m["name_zh"],
                "name_en": m["name_en"],
                "line_id": line_id,
                "colour": m["colour"],
                "status": "open",
                "length_km": float(m["length_km"]),
                "opened": m["opened"],
                "stations_total": len(part),
                "stations_located": located,
                "geometry_quality": "station_chords",
                "geometry": geom,
            }
        )
    # the columns named: no row at all when no line has two located stations (an extract with almost none)
    columns = ["name_zh", "name_en", "line_id", "colour", "status", "length_km", "opened", "stations_total"]
    columns += ["stations_located", "geometry_quality", "geometry"]
    gdf = gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry="geometry", crs=STORAGE_CRS)
    gdf["length_chord_km"] = _length_km(gdf)
    gdf["source"] = "metro_lines_csv; metro_lines_meta; osm_stations"
    return gdf


def build_intercity_rail(ctx: BuildContext) -> gpd.GeoDataFrame:
    seq = ctx.read_csv("intercity_rail_csv", dtype={"opened": str})
    stations = ctx.get("rail_stations")
    ext = ctx.read_csv("external_stations")
    external = pd.DataFrame({"geometry": shapely.points(ext[["lon", "lat"]].to_numpy())}, index=ext["station_zh"])
    rows = []
    for line_id, part in seq.groupby("line", sort=False):
        part = part.sort_values("seq").reset_index(drop=True)
        if line_id not in INTERCITY_EN:
            raise BuildError(
                f"line {line_id!r} has no English name / category",
                layer=ctx.layer_id,
                file=str(ctx.path("intercity_rail_csv")),
                field="line",
            )
        name_en, category = INTERCITY_EN[line_id]
        pts = _locate_stations(stations, part["station_zh"], None, "rail")
        approx = np.array([p is None and n in external.index for p, n in zip(pts, part["station_zh"])])
        for i in np.flatnonzero(approx):
            pts[i] = external.loc[part["station_zh"][i], "geometry"]
        # the segment ending at station i has that station's status; runs of one status make one feature
        status = part["status"].tolist()
        runs: list[tuple[str, list[int]]] = []
        for i in range(1, len(part)):
            if runs and runs[-1][0] == status[i]:
                runs[-1][1].append(i)
            else:
                runs.append((status[i], [i - 1, i]))
        for st, idx in runs:
            chord = _chords([pts[i] for i in idx])
            if chord is None:
                ctx.warn(f"{part['line_zh'][0]} ({st}): fewer than two located stations, no geometry")
                continue
            opened = part.loc[idx, "opened"].dropna()
            rows.append(
                {
                    "name_zh": part["line_zh"][0],
                    "name_en": name_en,
                    "line_id": line_id,
                    "category": category,
                    "status": st,
                    "opened": opened.min() if len(opened) else "",
                    "verified": part.loc[idx, "verified"].iloc[-1],
                    "stations_total": len(idx),
                    "stations_located": int(sum(pts[i] is not None for i in idx)),
                    "geometry_quality": "station_chords",
                    "geometry": chord,
                    "accuracy": "schematic" if approx[idx].any() else "derived",
                }
            )
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS)
    x0, y0, x1, y1 = TIANJIN_ENVELOPE
    gdf["geometry"] = gdf.geometry.clip_by_rect(x0 + 0.01, y0 + 0.01, x1 - 0.01, y1 - 0.01)
    gdf["length_chord_km"] = _length_km(gdf)
    gdf["source"] = np.where(
        gdf["accuracy"] == "schematic",
        "intercity_rail_csv; osm_stations; external_stations",
        "intercity_rail_csv; osm_stations",
    )
    return gdf


# ------------------------------------------------------------------------------------------------ context


COASTLINES = {
    "coastline_tianditu": (
        "tianditu_derived",
        "海岸线（天地图边界派生）",
        "Land/sea edge derived from the Tianditu outline",
    ),
    "coastline_osm": ("osm_2018", "海岸线（OSM，约2017–18年）", "OSM coastline (c. 2017-18)"),
    "coastline_landsat": ("landsat_port", "港区海陆边界（Landsat 30 m）", "Port land/sea edge (Landsat, 30 m)"),
}


def build_coastline(ctx: BuildContext) -> gpd.GeoDataFrame:
    parts = []
    for sid, (variant, zh, en) in COASTLINES.items():
        g = ctx.read_vector(sid)
        geom = shapely.line_merge(shapely.union_all(np.asarray(g.geometry.values)))
        parts.append({"name_zh": zh, "name_en": en, "variant": variant, "source": sid, "geometry": geom})
    gdf = gpd.GeoDataFrame(parts, geometry="geometry", crs=STORAGE_CRS)
    gdf["length_km"] = _length_km(gdf)
    return gdf


def build_settlements(ctx: BuildContext) -> gpd.GeoDataFrame:
    gdf = ctx.read_vector("geonames")
    gdf["name_zh"] = ""
    gdf["name_en"] = gdf["name_geonames"]
    gdf["source"] = "geonames"
    return gdf.sort_values(["district_zh", "name_en"], kind="stable")


WATER_CLASS = {"haihe_channel": ("海河干流", "Haihe main channel"), "water_ndwi": ("水体", "Water body")}


def build_water(ctx: BuildContext) -> gpd.GeoDataFrame:
    gdf = ctx.read_vector("landsat_water")
    unknown = set(gdf["layer"]) - set(WATER_CLASS)
    if unknown:
        raise BuildError(f"unknown water class(es) {sorted(unknown)}", layer=ctx.layer_id, field="layer")
    gdf["water_class"] = gdf["layer"]
    gdf["name_zh"] = gdf["layer"].map(lambda v: WATER_CLASS[v][0])
    gdf["name_en"] = gdf["layer"].map(lambda v: WATER_CLASS[v][1])
    gdf["area_km2"] = _area_km2(gdf)
    gdf["source"] = "landsat_water"
    return gdf
