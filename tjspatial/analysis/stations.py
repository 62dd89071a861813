"""Station sets: which station points a coverage figure counts, by a declared rule, and their snapshot date.

The ``rail_stations`` layer mixes metro stations, railway stations, the TEDA tram stops and railway nodes OSM
tags as stations but that carry no name (junctions, yards, freight or closed halts are among them). Coverage of
"all stations" therefore overstates what a passenger can use. :data:`STATION_SETS` names the sets:

========================= ====================================================================================
``metro``                 every metro station (``kind = metro``), named or not
``rail_passenger``        railway stations with a name (OSM name or matched to a station list), except those
                          known not to be in passenger service (:data:`NOT_IN_SERVICE`)
``tram``                  the TEDA tram stops (``kind = tram``)
``passenger``             ``metro`` + ``rail_passenger`` (the default headline set: what a passenger can board)
``all``                   every point of the layer, including the unnamed railway nodes
========================= ====================================================================================

:data:`PASSENGER_RULE` is the rule in one sentence; :func:`station_snapshot` says how old the station points
are (the bundled OSM extract is of Jan/Feb 2025; a live OSM build gives its build date).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from ..catalog import get_catalog, role_id
from ..errors import InputError, UnknownNameError
from ..gpkg import read_table
from ..io import load
from ..paths import default_gpkg

__all__ = ["STATION_SETS", "PASSENGER_RULE", "NOT_IN_SERVICE", "station_set", "station_snapshot"]

NOT_IN_SERVICE = ("永乐",)
"""Named railway stations known not to be in passenger service (永乐: built on 京津城际, never opened)."""

PASSENGER_RULE = (
    "passenger stations = every metro station + every railway station with a name (OSM name or "
    "matched to a station list) except 永乐 (built, not in service); unnamed railway nodes "
    "(junctions, yards, freight or closed halts) and the TEDA tram stops are left out"
)

STATION_SETS = {
    "metro": "every metro station",
    "rail_passenger": "named railway stations in passenger service",
    "tram": "TEDA tram stops",
    "passenger": "metro + named railway stations in passenger service (" + PASSENGER_RULE + ")",
    "all": "every point of the rail_stations layer, unnamed railway nodes and tram stops included",
}
"""Station set name → what it holds."""


def _mask(gdf: gpd.GeoDataFrame, name: str) -> pd.Series:
    kind = gdf["kind"].astype(str) if "kind" in gdf.columns else pd.Series("", index=gdf.index)
    named = (
        gdf["name_zh"].fillna("").astype(str).str.strip() != ""
        if "name_zh" in gdf.columns
        else pd.Series(False, index=gdf.index)
    )
    rail_p = (kind == "rail") & named & ~gdf.get("name_zh", pd.Series("", index=gdf.index)).isin(NOT_IN_SERVICE)
    return {
        "metro": kind == "metro",
        "rail_passenger": rail_p,
        "tram": kind == "tram",
        "passenger": (kind == "metro") | rail_p,
        "all": pd.Series(True, index=gdf.index),
    }[name]


def station_set(
    name: str = "passenger", path: str | Path | None = None, stations: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """The stations of one set (:data:`STATION_SETS`), with ``attrs`` ``station_set``, ``station_rule`` and
    ``station_snapshot``.

    Parameters
    ----------
    name : str, default "passenger"
        A key of :data:`STATION_SETS`.
    path : str or pathlib.Path, optional
        GeoPackage the station layer is read from (default ``layers/tianjin.gpkg``).
    stations : geopandas.GeoDataFrame, optional
        A station GeoDataFrame to filter instead (columns ``kind`` and ``name_zh``).

    Returns
    -------
    geopandas.GeoDataFrame
        The stations of the set (EPSG:4326).
    """
    if name not in STATION_SETS:
        raise InputError(f"unknown station set {name!r}; use one of {list(STATION_SETS)}")
    gdf = load(role_id("station_points"), path) if stations is None else stations
    for col in ("kind", "name_zh"):
        if col not in gdf.columns and name != "all":
            raise UnknownNameError(
                f"{gdf.attrs.get('layer', 'stations')}: no {col!r} column to select the {name!r} set"
            )
    out = gdf[_mask(gdf, name).to_numpy()].copy()
    out.attrs = {
        **gdf.attrs,
        "station_set": name,
        "station_rule": STATION_SETS[name],
        "station_snapshot": station_snapshot(path),
    }
    return out


def station_snapshot(path: str | Path | None = None) -> str:
    """How current the station points are: the OSM extract date of the bundled stations (catalog source
    ``osm_stations``), or the build date when the GeoPackage was built from live OSM data.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The GeoPackage (default ``layers/tianjin.gpkg``).

    Returns
    -------
    str
        E.g. ``"OSM extract 2025-02-01 (bundled, OMap-GeoDB)"`` or ``"OSM overpass data, built 2026-11-30"``.
    """
    cat = get_catalog()
    bundled = cat.sources["osm_stations"].date if "osm_stations" in cat.sources else ""
    try:
        prov = read_table(path if path is not None else default_gpkg(), "provenance")
        row = prov[prov["layer"] == role_id("station_points")]
    except Exception:  # no provenance table (an older or foreign GeoPackage)
        row = pd.DataFrame()
    if len(row) and "built_from" in row and str(row["built_from"].iloc[0]) not in ("bundled", "", "nan"):
        built = str(row["build_time"].iloc[0])[:10] if "build_time" in row else "?"
        return f"OSM {row['built_from'].iloc[0]} data, built {built}"
    return f"OSM extract {bundled} (bundled, OMap-GeoDB)"
