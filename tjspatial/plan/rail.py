"""The rail lines named in the plan for 2021–2025, with their status as of the data date.

Policy (stated in the layer description): every line the plan names is a feature, with ``status`` open /
under_construction / planned as of :data:`STATUS_AS_OF`. Parts that are **open** are drawn elsewhere
already (``base_layer`` names the layer: ``metro_lines`` or ``intercity_rail``) and here copy that
geometry, so a map shows the plan's new lines with ``status != 'open'`` and does not draw a line twice.
Open parts that no base layer draws (Z4 north, 京滨 north: their stations have no OSM point) are drawn here
with ``base_layer = ''``. Lines are straight chords through their waypoints: real stations of the
``rail_stations`` layer where one exists, otherwise approximate hand-placed points from
``layers/plan/plan_points.csv`` (``ends_located`` counts the ends that are real stations). A station the built
``rail_stations`` lacks (a partial OSM extract) takes its bundled position, recorded per feature as a fallback
(see :mod:`tjspatial.plan.anchors`); a station in neither leaves only its line out, with a warning.
"""

from __future__ import annotations

import geopandas as gpd
import shapely

from ..build_context import BuildContext
from ..crs import to_metric
from ..errors import BuildError
from .anchors import StationAnchors, leave_out
from .refs import plan_ref
from .shapes import length_km, plan_points, to_storage

__all__ = ["build_planned_rail", "PLANNED_RAIL", "STATUS_AS_OF", "STATUSES"]

STATUS_AS_OF = "2026-11"
"""Date of the status: that of ``intercity_rail.csv`` and ``metro_lines_meta.csv`` (scraped 2026-08/11)."""
STATUSES = ("open", "under_construction", "planned")

# Waypoints: ("metro", name) / ("rail", name) = a station of the rail_stations layer of that kind;
# ("point", id) = an approximate point of layers/plan/plan_points.csv.
PLANNED_RAIL: list[dict] = [
    {
        "line_id": "M4",
        "name_zh": "地铁4号线（北段、南段）",
        "name_en": "Metro Line 4 (north and south sections)",
        "mode": "metro",
        "status": "open",
        "base": ("metro_lines", "4"),
        "refs": ("metro",),
        "basis": "north 小街–西站 and south 东南角–新兴村 open (metro_lines_meta.csv)",
    },
    {
        "line_id": "M4-mid",
        "name_zh": "地铁4号线中段（西站—东南角）",
        "name_en": "Metro Line 4 middle section",
        "mode": "metro",
        "status": "planned",
        "way": [("metro", "西站"), ("metro", "东南角")],
        "refs": ("metro",),
        "basis": "西站–东南角 not built/open (metro_lines_meta.csv); construction status not verified",
    },
    {
        "line_id": "M7",
        "name_zh": "地铁7号线",
        "name_en": "Metro Line 7",
        "mode": "metro",
        "status": "open",
        "base": ("metro_lines", "7"),
        "refs": ("metro",),
        "basis": "opened 2025-09-28 (metro_lines_meta.csv)",
    },
    {
        "line_id": "M8",
        "name_zh": "地铁8号线一期（绿水公园—渌水道）",
        "name_en": "Metro Line 8 phase 1",
        "mode": "metro",
        "status": "under_construction",
        "way": [("point", "st_lvshui_gongyuan"), ("metro", "渌水道")],
        "refs": ("metro",),
        "basis": "started 2020-01-24, 17 stations 绿水公园–渌水道 (newton.com.tw); not open",
    },
    {
        "line_id": "M10",
        "name_zh": "地铁10号线",
        "name_en": "Metro Line 10",
        "mode": "metro",
        "status": "open",
        "base": ("metro_lines", "10"),
        "refs": ("metro",),
        "basis": "opened 2022-11-18 (metro_lines_meta.csv)",
    },
    {
        "line_id": "M11",
        "name_zh": "地铁11号线",
        "name_en": "Metro Line 11",
        "mode": "metro",
        "status": "open",
        "base": ("metro_lines", "11"),
        "refs": ("metro",),
        "basis": "opened 2023-12-28 / 2024-12-28 (metro_lines_meta.csv)",
    },
    {
        "line_id": "B1",
        "name_zh": "滨海新区B1线一期",
        "name_en": "Binhai Line B1 phase 1",
        "mode": "metro",
        "status": "under_construction",
        "way": [("point", "st_xinjiayuan"), ("rail", "滨海"), ("point", "st_nanbu_xincheng")],
        "refs": ("metro",),
        "basis": "欣嘉园–滨海站–于家堡–南部新城, 31.6 km, 22 stations, tunnels 2020 (public news); not open",
    },
    {
        "line_id": "Z2",
        "name_zh": "Z2线一期（滨海机场—北塘）",
        "name_en": "Line Z2 phase 1 (airport–Beitang)",
        "mode": "metro",
        "status": "under_construction",
        "way": [("metro", "滨海国际机场"), ("rail", "滨海西"), ("point", "st_beitang")],
        "refs": ("metro", "airport_rail", "z2"),
        "basis": "滨海机场站~北塘站, 39.2 km, 14 stations, started 2021-12-09 (public notices); not open",
    },
    {
        "line_id": "Z4-north",
        "name_zh": "Z4线一期北段（寨上—北塘）",
        "name_en": "Line Z4 phase 1 north (Zhaishang–Beitang)",
        "mode": "metro",
        "status": "open",
        "base": None,
        "way": [("point", "st_zhaishang"), ("metro", "中新生态城"), ("point", "st_beitang")],
        "refs": ("metro",),
        "basis": "opened 2026-01-18 (metro_lines_meta.csv); drawn here: metro_lines has no geometry (one OSM station)",
    },
    {
        "line_id": "Z4-south",
        "name_zh": "Z4线一期南段（北塘—滨海站）",
        "name_en": "Line Z4 phase 1 south (Beitang–Binhai)",
        "mode": "metro",
        "status": "under_construction",
        "way": [("point", "st_beitang"), ("rail", "滨海")],
        "refs": ("metro",),
        "basis": "to reach 滨海站 end of 2026 (滨海新区住建委, public news); not open",
    },
    {
        "line_id": "M2-east",
        "name_zh": "地铁2号线东延（进入机场T3）",
        "name_en": "Metro Line 2 east extension (airport T3)",
        "mode": "metro",
        "status": "planned",
        "way": [("metro", "滨海国际机场"), ("point", "st_m2_t3")],
        "refs": ("airport_rail", "airport_m2"),
        "basis": "named in the plan (专栏4); status not verified",
    },
    {
        "line_id": "jingbin-north",
        "name_zh": "京滨城际铁路北段（宝坻—北辰）",
        "name_en": "Beijing–Binhai intercity, north",
        "mode": "intercity",
        "status": "open",
        "base": None,
        "way": [("rail", "宝坻"), ("point", "st_baodi_nan"), ("point", "st_beichen_jingbin")],
        "refs": ("intercity",),
        "basis": "opened 2022-12-30 (intercity_rail.csv); drawn here: intercity_rail has no geometry",
    },
    {
        "line_id": "jingbin-south",
        "name_zh": "京滨城际铁路南段（北辰—天津机场—滨海西）",
        "name_en": "Beijing–Binhai intercity, south (via the airport)",
        "mode": "intercity",
        "status": "under_construction",
        "way": [("point", "st_beichen_jingbin"), ("point", "st_tianjin_jichang"), ("rail", "滨海西")],
        "refs": ("intercity", "airport_rail", "jingbin_airport"),
        "basis": "under construction (intercity_rail.csv)",
    },
    {
        "line_id": "jingtang",
        "name_zh": "京唐城际铁路",
        "name_en": "Beijing–Tangshan intercity",
        "mode": "intercity",
        "status": "open",
        "base": ("intercity_rail", "jingtang_intercity"),
        "refs": ("intercity",),
        "basis": "opened 2022-12-30 (intercity_rail.csv)",
    },
    {
        "line_id": "jinxing",
        "name_zh": "津兴城际铁路",
        "name_en": "Tianjin–Xiong'an (Daxing) intercity",
        "mode": "intercity",
        "status": "open",
        "base": ("intercity_rail", "jinxing_intercity"),
        "refs": ("intercity",),
        "basis": "opened 2023-12-18 (intercity_rail.csv)",
    },
    {
        "line_id": "jinwei",
        "name_zh": "津潍高速铁路（天津段）",
        "name_en": "Tianjin–Weifang HSR (Tianjin section)",
        "mode": "hsr",
        "status": "under_construction",
        "way": [("rail", "滨海"), ("point", "st_binhai_dong"), ("point", "st_binhai_nan")],
        "refs": ("intercity",),
        "basis": "under construction (intercity_rail.csv); station order unverified",
    },
]
"""Every rail line the plan names for 2021–2025, split where one part is open and another is not."""


def build_planned_rail(ctx: BuildContext) -> gpd.GeoDataFrame:
    """The plan's rail lines (metro M4, M7, M8, M10, M11, B1, Z2, Z4, M2 east; 京滨, 京唐, 津兴, 津潍).

    Parameters
    ----------
    ctx : BuildContext
        The build's context (sources, plan inputs, earlier layers, warnings).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer's features in EPSG:4326 (the build applies the catalog schema and validation).
    """
    stations = StationAnchors(ctx)
    pts = plan_points(ctx)
    base = {"metro_lines": to_metric(ctx.get("metro_lines")), "intercity_rail": to_metric(ctx.get("intercity_rail"))}
    records, geoms = [], []
    for spec in PLANNED_RAIL:
        if spec["status"] not in STATUSES:
            raise BuildError(
                f"status {spec['status']!r} is not one of {STATUSES}",
                layer=ctx.layer_id,
                feature=spec["line_id"],
                field="status",
            )
        if spec.get("base"):
            layer, key = spec["base"]
            rows = base[layer][base[layer]["line_id"] == key]
            if rows.empty:  # e.g. an imported base layer without it: only this feature is left out, named
                leave_out(ctx, spec["line_id"], f"{layer} has no line {key!r} to copy")
                continue
            geom, names, located = rows.geometry.union_all(), "", 2
            basis = f"copy of the {layer} geometry (station chords)"
        else:
            at = stations.resolve(spec["line_id"], [(k, r) for k, r in spec["way"] if k != "point"])
            if at is None:  # a station in neither rail_stations nor the bundled stations: warned, left out
                continue
            coords, labels, real = [], [], []
            for kind, ref in spec["way"]:
                if kind == "point":
                    if ref not in pts.index:
                        raise BuildError(
                            f"plan point {ref!r} is missing",
                            layer=ctx.layer_id,
                            file="layers/plan/plan_points.csv",
                            feature=spec["line_id"],
                        )
                    coords.append((pts.loc[ref, "x"], pts.loc[ref, "y"]))
                    labels.append(pts.loc[ref, "name_zh"].split("（")[0] + "≈")
                    real.append(False)
                else:
                    p = at[(kind, ref)]
                    coords.append((p.x, p.y))
                    labels.append(ref)
                    real.append(True)
            geom = shapely.LineString(coords)
            names, located = ";".join(labels), int(real[0]) + int(real[-1])
            basis = "chords through stations of rail_stations and approximate points (≈) of layers/plan"
            basis += stations.note(spec["line_id"])
        records.append(
            {
                "name_zh": spec["name_zh"],
                "name_en": spec["name_en"],
                "accuracy": "schematic",
                "source": "plan_text; " + (spec["base"][0] if spec.get("base") else "rail_stations; plan_points"),
                "line_id": spec["line_id"],
                "mode": spec["mode"],
                "status": spec["status"],
                "status_as_of": STATUS_AS_OF,
                "status_basis": spec["basis"],
                "waypoints": names,
                "ends_located": located,
                "base_layer": spec["base"][0] if spec.get("base") else "",
                "length_km": length_km(geom),
                "geometry_basis": basis,
                "plan_ref": plan_ref(*spec["refs"]),
            }
        )
        geoms.append(geom)
    return to_storage(records, geoms)
