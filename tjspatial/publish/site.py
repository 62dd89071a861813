"""The published site under ``maps/``: every declared map, the coverage and indicator pages, the gallery.

:func:`write_site` writes ``maps/<id>.html`` for each ``[[map]]`` of the catalog, a thumbnail per map
(``maps/thumbs/<id>.png``, drawn with matplotlib from the same display data and styles; skipped when matplotlib
is not installed) and ``maps/index.html``. :func:`publish` is the one-shot job: build the GeoPackage if
needed, run the analysis if this version has it, write the site, and export for QGIS if this version has the
exporter. Analysis and export are imported when called, so the site works before (or without) them; a page
whose analysis is missing says so instead of failing.
"""

from __future__ import annotations

import errno
import html
import json
import os
import re
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import UnknownNameError
from ..catalog import Catalog, get_catalog, role_id
from ..io import load, open_gpkg
from ..paths import maps_dir
from ..styles import load_style
from .map_specs import MapSpec, load_map_specs
from .webmap import (
    MapDataError,
    MapWarning,
    WebMap,
    build_date,
    display_layer,
    layer_config,
    make_map,
    write_text_atomic,
)
from ..atomic import atomic_path, pid_alive

__all__ = [
    "SiteResult",
    "MapDataError",
    "write_site",
    "staged_folder",
    "coverage_table",
    "coverage_map",
    "indicators_page",
    "gallery_html",
    "write_thumbnail",
]

e = html.escape


@dataclass
class SiteResult:
    """What :func:`write_site` / :func:`publish` wrote: pages, thumbnails, sizes (bytes) and warnings."""

    out_dir: Path
    pages: dict[str, Path] = field(default_factory=dict)
    thumbnails: dict[str, Path] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    gpkg: Path | None = None
    analysis: Any = None
    exported: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    analysis_note: str = ""

    @property
    def index(self) -> Path:
        return self.out_dir / "index.html"


# ------------------------------------------------------------------------------------------------ coverage
def coverage_table(gpkg: str | Path, *, distance_m: float = 800.0) -> tuple[pd.DataFrame | None, list[str]]:
    """Rail coverage by district, existing network vs the 2025 plan (``tj.coverage``, ``tj.coverage_delta``).

    Parameters
    ----------
    gpkg : str, pathlib.Path or GeoPackage
        The built GeoPackage.
    distance_m : float, default 800.0
        Catchment radius, metres (straight line, metric CRS).

    Returns
    -------
    table : pandas.DataFrame or None
        One row per district with ``name_zh, name_en, area, pop_total, pop_share_pct`` (existing, percent),
        the model range ``pop_share_min_pct``/``pop_share_max_pct`` and, when a plan scenario is available,
        ``pop_share_2025_pct``, ``delta_pp`` (percentage points) and ``stations_2025``; ``table.attrs``
        carries the analysis attrs and the station snapshot.
    notes : list of str
        Says when the catalog has no plan scenario.
    """
    from ..analysis.coverage import coverage as cov, coverage_delta as delta, plan_stations
    from ..analysis.stations import station_snapshot
    from ..analysis.uncertainty import add_range, default_surfaces

    districts = role_id("district_areas")
    existing = cov(areas=districts, distance=distance_m, path=gpkg)
    table = existing[[c for c in ("area", "name_zh", "name_en", "pop_total", "stations") if c in existing]].copy()
    table["pop_share_pct"] = existing["pop_share"].to_numpy() * 100
    # #13: the range over the population model and its variants, and the station snapshot date
    ranged = add_range(existing, default_surfaces(gpkg), areas=districts, path=gpkg)
    table["pop_share_min_pct"] = ranged["pop_share_min"].to_numpy() * 100
    table["pop_share_max_pct"] = ranged["pop_share_max"].to_numpy() * 100
    notes: list[str] = []
    if get_catalog().with_role("planned_lines"):
        scenario = cov(stations=plan_stations(path=gpkg), areas=districts, distance=distance_m, path=gpkg)
        d = delta(existing, scenario)
        table["pop_share_2025_pct"] = d["pop_share_scenario"].to_numpy() * 100
        table["delta_pp"] = d["pop_share_delta"].to_numpy() * 100
        table["stations_2025"] = d["stations_scenario"].to_numpy()
    else:
        notes.append(
            "2025 规划情景尚不可用，仅显示现状 / the 2025 plan scenario is not available in this "
            "version; existing network only"
        )
    table.attrs = {k: v for k, v in existing.attrs.items() if k != "catchments"}
    table.attrs["station_snapshot"] = station_snapshot(gpkg)
    return table, notes


def _signed(pp: float) -> str:
    """A change in percentage points, one decimal with its sign; a change that rounds to zero is "+0.0" (never
    "-0.0" from float noise such as -1e-13)."""
    if pd.isna(pp):
        return "—"
    return f"{round(float(pp), 1) + 0.0:+.1f}"


def _coverage_panel(table: pd.DataFrame) -> str:
    has_plan = "pop_share_2025_pct" in table
    has_range = "pop_share_min_pct" in table
    head = (
        "<tr><th>区 / district</th><th>现状 existing %</th>"
        + ("<th>模型区间 range %</th>" if has_range else "")
        + ("<th>2025 规划 plan %</th><th>Δ 百分点 pp</th>" if has_plan else "")
        + "<th>车站 stations</th></tr>"
    )
    rows = []
    for r in table.sort_values("pop_share_pct", ascending=False).itertuples():
        cells = [
            f"<td>{e(str(r.name_zh))} <span class='tj-en'>{e(str(getattr(r, 'name_en', '')))}</span></td>",
            f"<td>{r.pop_share_pct:.1f}</td>",
        ]
        if has_range:
            cells.append(f"<td>{r.pop_share_min_pct:.1f}–{r.pop_share_max_pct:.1f}</td>")
        if has_plan:
            cells += [f"<td>{r.pop_share_2025_pct:.1f}</td>", f"<td>{_signed(r.delta_pp)}</td>"]
        cells.append(f"<td>{int(r.stations) if pd.notna(r.stations) else '—'}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    a = table.attrs
    method = (
        f"方法 / method: {e(str(a.get('method', '?')))}, {e(str(a.get('distance_m', '?')))} m; "
        f"人口 / population: {e(str(a.get('population_source', a.get('source', '?'))))} "
        f"{e(str(a.get('population_year', a.get('year', ''))))}; 车站 / stations: "
        f"{e(str(a.get('station_snapshot', '?')))}, all {e(str(a.get('station_count', '')))} points; "
        f"区间 / range: min–max over the population model and its variants"
    )
    return (
        f"<details open><summary>各区轨道覆盖 / Rail coverage by district</summary>"
        f"<table id='tj-coverage-table'>{head}{''.join(rows)}</table>"
        f"<div class='tj-pop-lim'>{method}. 人口为模型估算 / population is modelled.</div></details>"
    )


def coverage_map(
    spec: MapSpec,
    gpkg: str | Path,
    *,
    offline: bool = True,
    basemap: str = "osm",
    catalog: Catalog | None = None,
    tianditu_key: str | None = None,
    table_notes: tuple[pd.DataFrame | None, list[str]] | None = None,
) -> WebMap:
    """The coverage map: districts coloured by the share of population near a station, with a table.

    ``table_notes`` is a result of :func:`coverage_table` to reuse (computed when None). Degrades to the base
    layers and a clear note when the coverage analysis is not available.

    Parameters
    ----------
    spec : MapSpec
        The coverage map's declaration.
    gpkg : str, pathlib.Path or GeoPackage
        The built GeoPackage.
    offline : bool, default True
        The offline edition (Leaflet inlined, offline base map).
    basemap : {"osm", "gaode"}, default "osm"
        Base maps (``"gaode"`` shifts the overlays to GCJ-02 for display).
    catalog : Catalog, optional
        The catalog; default :func:`tjspatial.catalog.get_catalog`.
    tianditu_key : str, optional
        The 天地图 key (default: environment variable ``TIANDITU_KEY``).
    table_notes : tuple, optional
        A result of :func:`coverage_table` to reuse (computed when None).

    Returns
    -------
    WebMap
        The map, with the coverage overlays (``[[overlay]]`` roles ``coverage_open``, ``coverage_plan``) and the table.
    """
    cat = catalog or get_catalog()
    table, notes = table_notes if table_notes is not None else coverage_table(gpkg)
    notes = list(notes)
    extra: list[dict] = []
    panel = ""
    if table is not None:
        distance_m = float(table.attrs.get("distance_m", 800.0) or 800.0)
        overlays = [cat.overlay_for("coverage_open", distance_m=distance_m)]
        districts = load(overlays[0].extra["derived_from"], gpkg)
        key = "name_zh"
        joined = districts[[key, "name_en", "accuracy", "source", "pop_2020", "geometry"]].merge(
            table.drop(columns=[c for c in ("name_en", "area") if c in table]), on=key, how="left"
        )
        if "pop_share_2025_pct" in joined:
            overlays.append(cat.overlay_for("coverage_plan", distance_m=distance_m))
        for layer in overlays:  # declared in layers/catalog/80_analysis.toml ([[overlay]])
            style = load_style(layer.style)
            gdf = joined[
                [c for c in ["name_zh", "name_en", "accuracy", "source", *layer.fields, "geometry"] if c in joined]
            ].copy()
            gdf["accuracy"] = layer.accuracy
            disp = display_layer(gpd.GeoDataFrame(gdf, crs=districts.crs), layer, style, 60.0, gcj02=basemap == "gaode")
            ramp = {**style.ramp, "field": layer.extra["ramp_field"]}
            extra.append(layer_config(disp, layer, style, cat, show=bool(layer.extra.get("shown", True)), ramp=ramp))
        panel = _coverage_panel(table)
        notes = notes + ["人口为模型估算（示意级精度）/ population is modelled, not counted"]
    return make_map(
        spec,
        gpkg,
        offline=offline,
        basemap=basemap,
        catalog=cat,
        extra_layers=extra,
        notes=notes,
        tianditu_key=tianditu_key,
        panel_html=panel,
    )


# ------------------------------------------------------------------------------------------------ indicators
_PAGE_CSS = """body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:24px auto;
max-width:1100px;padding:0 16px;color:#222}h1{font-size:24px;margin:0}.en{color:#555;font-weight:normal}
table{border-collapse:collapse;width:100%;font-size:13px;margin-top:12px}th,td{border-bottom:1px solid #ddd;
padding:4px 6px;text-align:left;vertical-align:top}th{background:#f4f4f4}.note{color:#8a4b00;margin:8px 0}
.meta{color:#555;font-size:12px}a{color:#0b5394}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:16px;margin-top:16px}
.card{border:1px solid #ddd;border-radius:8px;overflow:hidden;background:#fff}.card img{width:100%;display:block;
background:#eef0f2;aspect-ratio:4/3;object-fit:cover}.card .ph{aspect-ratio:4/3;background:#eef0f2;display:flex;
align-items:center;justify-content:center;font-size:40px;color:#888}.card h2{font-size:17px;margin:8px 10px 2px}
.card p{margin:2px 10px 10px;font-size:13px}.badge{font-size:11px;background:#fff3cd;color:#8a4b00;
border:1px dashed #8a4b00;border-radius:3px;padding:0 4px}.st{display:inline-block;padding:1px 5px;border-radius:3px;
font-size:12px;white-space:nowrap}.st-ok{background:#d9f0d3}.st-bad{background:#fddbc7}.st-na{background:#eee}"""


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"/>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"/><title>{e(title)}</title>'
        f'<meta name="generator" content="tjspatial"/><style>{_PAGE_CSS}</style></head><body>{body}</body></html>'
    )


def indicators_page(spec: MapSpec, gpkg: str | Path, results: pd.DataFrame | None = None) -> tuple[str, list[str]]:
    """The plan indicators as a readable page (``tj.indicators``; ``results``, if given, is its result to reuse).

    Parameters
    ----------
    spec : MapSpec
        The indicators page's declaration.
    gpkg : str, pathlib.Path or GeoPackage
        The built GeoPackage.
    results : pandas.DataFrame, optional
        A result of ``tj.indicators`` to reuse.

    Returns
    -------
    html : str
        The page.
    notes : list of str
        Header notes (e.g. a row that could not be measured).
    """

    notes: list[str] = []
    head = (
        f'<p><a href="index.html">← 地图目录 / Gallery</a></p><h1>{e(spec.title_zh)} '
        f'<span class="en">{e(spec.title_en)}</span></h1><p class="meta">数据日期 / data date: 构建 built '
        f"{e(build_date(gpkg) or 'unknown')}</p>"
    )
    if results is None:
        from ..analysis.indicators import indicators

        results = indicators(gpkg)
    df = results
    table = _indicators_table(df)
    meta = "; ".join(f"{e(str(k))}: {e(str(v))}" for k, v in df.attrs.items() if isinstance(v, (str, int, float)))
    body = head + f'<p class="meta">{meta}</p>' + table
    return _page(f"{spec.title_zh} {spec.title_en}", body), notes


_STATUS = {
    "met": ("已达到", "met", "ok"),
    "not met": ("未达到", "not met", "bad"),
    "not measurable": ("无法由图层判断", "not measurable", "na"),
    "baseline / no target": ("基线，无目标", "baseline / no target", "na"),
}


def _fmt_value(v, unit: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "—"
    text = f"{v:,.4g}" if isinstance(v, (int, float, np.number)) else str(v)
    return f"{text} {unit}".strip()


_DICT_RE = re.compile(r"\{(\s*'[^']+'\s*:\s*[-\d.]+\s*,?)+\s*\}")


def _tidy_note(text: str) -> str:
    """A note for people: a Python dict literal such as ``{'metro': 45.0}`` is written as ``metro 45``."""

    def repl(m: re.Match) -> str:
        pairs = re.findall(r"'([^']+)'\s*:\s*([-\d.]+)", m.group(0))
        return ", ".join(f"{k} {float(v):g}" for k, v in pairs)

    return _DICT_RE.sub(repl, text)


def _is_baseline(row) -> bool:
    """A row whose 'target' is a base-year status (e.g. the end-2020 figure), not a target to meet."""
    text = f"{getattr(row, 'target', '')} {getattr(row, 'note', '')} {getattr(row, 'key', '')}".lower()
    return "baseline" in text or "status)" in text or "not a 2025 target" in text or "基期" in text


def _indicators_table(df: pd.DataFrame) -> str:
    """The indicator rows as an escaped HTML table: indicator, target, value, status, note, plan reference."""
    needed = {"name_zh", "name_en", "value", "unit", "target", "status", "note"}
    if not needed <= set(df.columns):  # another shape: show every column, escaped
        return df.to_html(index=False, escape=True, na_rep="—", border=0, table_id="tj-indicators")
    rows = []
    for r in df.itertuples(index=False):
        unit = "" if pd.isna(r.unit) else str(r.unit)
        zh, en, cls = _STATUS.get(str(r.status), (str(r.status), "", "na"))
        if _is_baseline(r):  # a base-year figure is context, never "met"
            zh, en, cls = "基期值（非目标）", "baseline, not a target", "na"
        ref = getattr(r, "plan_ref", "")
        rows.append(
            f"<tr><td><b>{e(str(r.name_zh))}</b><br/><span class='en'>{e(str(r.name_en))}</span></td>"
            f"<td>{e(str(r.target))} {e(unit)}</td><td>{e(_fmt_value(r.value, unit))}</td>"
            f"<td><span class='st st-{cls}'>{e(zh)}<br/>{e(en)}</span></td>"
            f"<td>{e(_tidy_note(str(r.note)))}<div class='meta'>{e('' if pd.isna(ref) else str(ref))}</div></td></tr>"
        )
    head = (
        "<tr><th>指标 / indicator</th><th>目标 / target</th><th>图层给出的值 / value from the layers</th>"
        "<th>状态 / status</th><th>说明与出处 / note and plan reference</th></tr>"
    )
    return f"<table id='tj-indicators'>{head}{''.join(rows)}</table>"


# ------------------------------------------------------------------------------------------------ thumbnails
def _colour_arg(colours: pd.Series):
    """One colour when all features share it (much faster to draw), else the per-feature list."""
    uniq = colours.unique()
    return uniq[0] if len(uniq) == 1 else colours.tolist()


def write_thumbnail(webmap: WebMap, path: str | Path, *, width_px: int = 400, height_px: int = 300) -> Path | None:
    """Draw a small PNG of a map's visible overlays with their styles (matplotlib); None without matplotlib.

    Parameters
    ----------
    webmap : WebMap
        The map.
    path : str or pathlib.Path
        The ``.png`` to write.
    width_px : int, default 400
        Width, pixels.
    height_px : int, default 300
        Height, pixels.

    Returns
    -------
    pathlib.Path or None
        ``path``, or None without matplotlib.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    ax = fig.add_subplot()
    fig.patch.set_facecolor("#eef0f2")
    ax.set_facecolor("#eef0f2")
    for cfg, gdf in sorted(webmap.frames(), key=lambda cg: cg[0]["style"]["z"]):
        if not len(gdf) or not cfg["show"]:
            continue
        s = cfg["style"]
        colours = gdf["_c"] if "_c" in gdf else pd.Series(None, index=gdf.index)
        if cfg.get("ramp"):
            r = cfg["ramp"]
            v = pd.to_numeric(gdf[r["field"]], errors="coerce").to_numpy()
            t = np.clip((v - r["min"]) / (r["max"] - r["min"]), 0, 1)
            import matplotlib.colors as mcolors

            cmap = mcolors.LinearSegmentedColormap.from_list("ramp", r["colors"])
            colours = pd.Series([mcolors.to_hex(c) for c in cmap(np.nan_to_num(t))], index=gdf.index)
        ls = "-"  # styles/cartography.json: dashes mean planned / under construction (lines below), never accuracy
        if cfg["geometry"] == "Polygon":
            if cfg.get("ramp") or s["fill"] or colours.notna().any():
                fill = colours.where(colours.notna(), s["fill"] or s["stroke"])
                gdf.plot(
                    ax=ax,
                    color=_colour_arg(fill),
                    alpha=max(float(s["fill_opacity"]), 0.2),
                    edgecolor="none",
                    zorder=s["z"],
                )
            gdf.boundary.plot(ax=ax, color=s["stroke"], linewidth=s["stroke_width"] * 0.4, linestyle=ls, zorder=s["z"])
        elif cfg["geometry"] == "LineString":
            status = gdf["status"].fillna("open").astype(str) if "status" in gdf else pd.Series("open", index=gdf.index)
            for planned, part in gdf.groupby(status.isin(["planned", "under_construction"])):
                part_colours = colours.loc[part.index]
                part.plot(
                    ax=ax,
                    color=_colour_arg(part_colours.where(part_colours.notna(), s["stroke"])),
                    linewidth=s["stroke_width"] * 0.5,
                    linestyle="--" if planned else "-",
                    zorder=s["z"],
                )
        else:
            radius = (s.get("marker") or {}).get("radius", 4)
            gdf.plot(
                ax=ax,
                color=_colour_arg(colours.where(colours.notna(), s["fill"] or s["stroke"])),
                markersize=radius**2 * 0.6,
                edgecolor=s["stroke"],
                linewidth=0.3,
                zorder=s["z"],
            )
    b = webmap.config.get("bounds")
    if b:
        ax.set_xlim(b[0], b[2])
        ax.set_ylim(b[1], b[3])
        ax.set_aspect(1 / np.cos(np.radians((b[1] + b[3]) / 2)))
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, facecolor=fig.get_facecolor())
    return path


# ------------------------------------------------------------------------------------------------ gallery
def gallery_html(
    specs: list[MapSpec],
    *,
    thumbnails: dict[str, str],
    date: str,
    offline: bool,
    schematic: dict[str, bool],
    gaode: bool = False,
) -> str:
    """The gallery page: a card per map with thumbnail, zh/en title and one line (all text escaped).

    Parameters
    ----------
    specs : list of MapSpec
        The maps, in gallery order.
    thumbnails : dict of str to str
        Map id → thumbnail file name.
    date : str
        Build date shown (``YYYY-MM-DD``).
    offline : bool
        The offline edition.
    schematic : dict of str to bool
        Map id → whether it shows schematic layers (badge).
    gaode : bool, default False
        The maps use GaoDe base maps (GCJ-02 display).

    Returns
    -------
    str
        The HTML page.
    """
    cards = []
    for s in specs:
        thumb = (
            f'<img src="{e(thumbnails[s.id])}" alt="{e(s.title_zh)} {e(s.title_en)}"/>'
            if s.id in thumbnails
            else '<div class="ph">▦</div>'
        )
        badge = ' <span class="badge">含示意图层 / includes schematic layers</span>' if schematic.get(s.id) else ""
        alt = (
            f' · <a href="{e(s.id)}.gaode.html">高德底图版 / GaoDe version</a>'
            if gaode and s.kind != "indicators"
            else ""
        )
        cards.append(
            f'<div class="card" data-map="{e(s.id)}"><a href="{e(s.filename)}">{thumb}</a>'
            f'<h2><a href="{e(s.filename)}">{e(s.title_zh)}</a> <span class="en">{e(s.title_en)}</span></h2>'
            f"<p>{e(s.summary_zh)} / {e(s.summary_en)}{badge}{alt}</p></div>"
        )
    mode = (
        "离线版：地图脚本与离线底图已内嵌，无需联网 / offline edition: map scripts and an offline base map are "
        "inlined; no network needed"
        if offline
        else "在线版：地图脚本与底图来自网络 / online edition: scripts and basemaps load from the network"
    )
    body = (
        f"<h1>天津“十四五”规划空间格局 <span class='en'>Tianjin 14th Five-Year Plan: spatial structure</span></h1>"
        f"<p class='meta'>数据日期 / data date: 构建 built {e(date or 'unknown')} · {e(mode)}</p>"
        "<p class='note'>虚线与“示意 / schematic”标记的图层为示意位置，非测绘数据 / layers marked “示意 / "
        "schematic” (dashed) are approximate positions, not surveyed data.</p>"
        f"<div class='cards'>{''.join(cards)}</div>"
        "<p class='meta'>Maps: Leaflet (BSD-2-Clause) and plugins leaflet.fullscreen, leaflet-minimap, "
        "leaflet-measure, leaflet-search, leaflet-groupedlayercontrol (MIT / BSD-2-Clause); data sources and "
        "licences are listed on each map. Made with tjspatial.</p>"
    )
    return _page("天津“十四五”规划空间格局 · tjspatial", body)


# ------------------------------------------------------------------------------------------------ site
MANIFEST = ".tjspatial-site.json"
"""The list of files a site run wrote (in the site folder), so that the next run knows which files are its own."""


def _sweep_stale(out: Path) -> None:
    """Remove staging/old folders left beside ``out`` by runs that were killed (their process is gone)."""
    for p in out.parent.glob(f".{out.name}.*-*"):
        kind, _, pid = p.name.rpartition("-")
        if p.is_dir() and kind.endswith((".staging", ".old")) and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


@contextmanager
def staged_folder(out: str | Path, *, partial: bool = False) -> Iterator[Path]:
    """Yield a staging folder beside ``out``; swap it in for ``out`` when the block ends without error.

    On success, files of the previous ``out`` that this run did not write are carried over: files tjspatial
    did not write (not in the previous :data:`MANIFEST`, e.g. a screenshot) always, and its own earlier files
    too when ``partial`` (only some maps were written). Then ``out`` is renamed aside, the staging folder
    renamed to ``out`` and the old folder removed. On any error the staging folder is removed and ``out`` is
    untouched. Staging folders of killed runs are swept first.

    Parameters
    ----------
    out : str or pathlib.Path
        The site folder (e.g. ``maps/``).
    partial : bool, default False
        Only some maps are written: keep the earlier ones.

    Yields
    ------
    pathlib.Path
        The staging folder to write into.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():  # never swap a folder in for a user's file
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(out)
    pid = os.getpid()
    stage = out.parent / f".{out.name}.staging-{pid}"
    old = out.parent / f".{out.name}.old-{pid}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        written = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
        ours: set[str] = set()
        if out.is_dir():
            try:
                ours = set(json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("files", []))
            except (OSError, ValueError):
                ours = set()
            for f in out.rglob("*"):
                rel = str(f.relative_to(out))
                if not f.is_file() or f.name == MANIFEST or (stage / rel).exists() or f.name.startswith(".tmp"):
                    continue
                if rel in ours and not partial:
                    continue  # an earlier output of ours that this run no longer writes: stale
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, stage / rel)
                if rel in ours:
                    written.append(rel)
        (stage / MANIFEST).write_text(json.dumps({"files": sorted(set(written))}, indent=1), encoding="utf-8")
        if out.exists():
            os.replace(out, old)
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if old.exists() and not out.exists():
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_site(
    out_dir: str | Path | None = None,
    gpkg: str | Path | None = None,
    *,
    offline: bool = True,
    gaode: bool = False,
    maps: list[str] | None = None,
    thumbnails: bool = True,
    catalog: Catalog | None = None,
    tianditu_key: str | None = None,
    analysis_dir: str | Path | None = None,
    reuse_analysis: bool = True,
    say: Callable[[str], None] | None = None,
) -> SiteResult:
    """Write every declared map, the coverage and indicator pages, thumbnails and ``index.html``.

    Parameters
    ----------
    out_dir : str or Path, optional
        Target folder (default ``maps/``). The whole site is written into a staging folder beside it and
        swapped in only when every page succeeded (:func:`staged_folder`): a failure leaves the previous site
        as it was.
    gpkg : str, Path or GeoPackage, optional
        The built GeoPackage (default ``layers/tianjin.gpkg``, built if missing); read once for all maps.
    offline : bool
        The offline edition (default): Leaflet and the plugins inlined (vendored copies), no external script
        or stylesheet, an offline base map drawn from the bundled layers. ``False``: the CDN edition.
    tianditu_key : str, optional
        天地图 key (default ``TIANDITU_KEY``) for the 天地图 base maps.
    gaode : bool
        Also write ``<id>.gaode.html`` with the GaoDe basemap and overlays shifted to GCJ-02.
    maps : list of str, optional
        Only these map ids (default: all).
    thumbnails : bool
        Draw ``thumbs/<id>.png`` (needs matplotlib).
    catalog : Catalog, optional
        The catalog (default: ``tj.get_catalog()``).
    analysis_dir : str or Path, optional
        Where ``tj.analyse`` wrote its outputs (default ``out/analysis``). The coverage map and the indicators
        page reuse them when their record (:mod:`tjspatial.publish.analysis_outputs`) matches this GeoPackage;
        otherwise they are computed again and ``say`` / ``SiteResult.analysis_note`` says why.
    reuse_analysis : bool
        ``False``: always compute coverage and indicators here.
    say : callable, optional
        Progress callback (e.g. ``print``): whether the analysis outputs were reused.

    Returns
    -------
    SiteResult
        The pages, thumbnails, sizes and warnings written.
    """
    out = Path(out_dir) if out_dir else maps_dir()
    cat = catalog or get_catalog()
    gpkg = open_gpkg(gpkg)  # a cached reader: each layer read once for all the maps
    specs = load_map_specs()
    if maps:
        unknown = set(maps) - {s.id for s in specs}
        if unknown:
            raise UnknownNameError(f"unknown map(s) {sorted(unknown)}; known: {', '.join(s.id for s in specs)}")
        specs = [s for s in specs if s.id in maps]
    res = SiteResult(out_dir=out, gpkg=gpkg)
    results = _AnalysisResults(gpkg, analysis_dir if reuse_analysis else None, reuse_analysis, res, say)
    with staged_folder(out, partial=bool(maps)) as stage:
        _write_pages(
            res,
            stage,
            specs,
            gpkg,
            cat,
            offline=offline,
            gaode=gaode,
            thumbnails=thumbnails,
            maps=maps,
            tianditu_key=tianditu_key,
            results=results,
        )
    res.pages = {k: out / p.relative_to(stage) for k, p in res.pages.items()}
    res.thumbnails = {k: out / p.relative_to(stage) for k, p in res.thumbnails.items()}
    return res


class _AnalysisResults:
    """Coverage and indicators for the pages: from the analysis outputs when they match the GeoPackage, else
    computed here; each at most once per site run."""

    def __init__(self, gpkg, folder, reuse: bool, res: SiteResult, say) -> None:
        self.gpkg, self.folder, self.reuse, self.res, self.say = gpkg, folder, reuse, res, say or (lambda _m: None)
        self._outputs = None
        self._cov = None
        self._ind = None

    def _usable(self):
        if self._outputs is None:
            if not self.reuse:
                self.res.analysis_note = "coverage and indicators computed for the maps (reuse switched off)"
                self._outputs = False
            else:
                from ..analysis.run import default_out_dir
                from .analysis_outputs import load_analysis

                found = load_analysis(self.folder or default_out_dir(), self.gpkg)
                self.res.analysis_note = found.reason
                self._outputs = found if found.usable else False
            self.say(self.res.analysis_note)
        return self._outputs

    def _missing(self, what: str) -> None:
        self.say(f"{what} not among the analysis outputs in {self._outputs.folder}: computing it for the maps")

    def coverage(self) -> tuple:
        if self._cov is None:
            found = self._usable()
            self._cov = found.coverage_table(self.gpkg) if found else None
            if self._cov is None:
                if found:
                    self._missing("district coverage (800 m, all stations, with plan scenario)")
                self._cov = coverage_table(self.gpkg)
        return self._cov

    def indicators(self) -> pd.DataFrame:
        if self._ind is None:
            found = self._usable()
            self._ind = found.indicators() if found else None
            if self._ind is None:
                if found:
                    self._missing("indicators.csv")
                from ..analysis.indicators import indicators

                self._ind = indicators(self.gpkg)
        return self._ind


def _write_pages(
    res: SiteResult,
    out: Path,
    specs: list[MapSpec],
    gpkg: Path,
    cat: Catalog,
    *,
    offline: bool,
    gaode: bool,
    thumbnails: bool,
    maps: list[str] | None,
    tianditu_key: str | None = None,
    results: _AnalysisResults,
) -> None:
    """Write the pages into ``out`` (the staging folder), recording them in ``res``."""
    thumbs: dict[str, str] = {}
    schematic: dict[str, bool] = {}
    for spec in specs:
        t0 = time.perf_counter()
        variants = [("osm", spec.filename)] + ([("gaode", f"{spec.id}.gaode.html")] if gaode else [])
        if spec.kind == "indicators":
            page, notes = indicators_page(spec, gpkg, results.indicators())
            res.pages[spec.id] = write_text_atomic(out / spec.filename, page)
            res.warnings += [f"map {spec.id!r}: {n}" for n in notes]
            res.sizes[spec.id] = res.pages[spec.id].stat().st_size
            continue
        for basemap, filename in variants:
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always", MapWarning)
                if spec.kind == "coverage":
                    wm = coverage_map(
                        spec,
                        gpkg,
                        offline=offline,
                        basemap=basemap,
                        catalog=cat,
                        table_notes=results.coverage(),
                        tianditu_key=tianditu_key,
                    )
                else:
                    wm = make_map(spec, gpkg, offline=offline, basemap=basemap, catalog=cat, tianditu_key=tianditu_key)
            key = spec.id if basemap == "osm" else f"{spec.id}.gaode"
            res.pages[key] = write_text_atomic(out / filename, wm.render())
            res.sizes[key] = res.pages[key].stat().st_size
            if basemap == "osm":
                res.warnings += wm.warnings
                schematic[spec.id] = any(c["schematic"] for c in wm.config["layers"])
                if thumbnails:
                    p = write_thumbnail(wm, out / "thumbs" / f"{spec.id}.png")
                    if p is not None:
                        res.thumbnails[spec.id] = p
                        thumbs[spec.id] = f"thumbs/{spec.id}.png"
        res.seconds[spec.id] = round(time.perf_counter() - t0, 2)
    res.pages["index"] = write_text_atomic(
        out / "index.html",
        gallery_html(
            load_map_specs() if not maps else specs,
            thumbnails=thumbs,
            date=build_date(gpkg),
            offline=offline,
            schematic=schematic,
            gaode=gaode,
        ),
    )
