"""Stations the plan layers anchor on: the built ``rail_stations`` layer first, the bundled snapshot second.

Plan builders (``planned_rail``, ``urban_clusters``) place features on named stations. A build from a
partial OSM extract (or an imported ``rail_stations`` layer) may lack a station the plan names; then the
feature takes the station's position from the bundled snapshot (``layers/sources/rail_stations_osm.geojson``,
read by the catalog's own ``rail_stations`` builder, as in a bundled build) and the build records it per
feature as a fallback (:meth:`tjspatial.build_context.BuildContext.fallback`: a warning naming the layer,
feature and station, the provenance columns ``fallback_features`` and ``fallback``; an error with
``--strict``). A station in neither is not guessed: only that feature is left out, with a warning naming
it (an error with ``--strict``).
"""

from __future__ import annotations

import geopandas as gpd
import shapely

from ..build_context import BuildContext, finish_layer
from ..crs import to_metric
from ..errors import BuildError

__all__ = ["StationAnchors", "leave_out"]

STATION_LAYER = "rail_stations"


def leave_out(ctx: BuildContext, feature: str, reason: str) -> None:
    """Leave one feature of the current layer out, with a warning naming it (an error with ``--strict``).

    Parameters
    ----------
    ctx : BuildContext
        The build's context.
    feature : str
        The feature's id or name.
    reason : str
        Why it cannot be drawn (names the missing input).

    Raises
    ------
    BuildError
        The build runs with ``--strict``.
    """
    message = f"feature {feature} left out: {reason}"
    if ctx.options.get("strict"):
        raise BuildError(f"--strict: {message}", layer=ctx.layer_id, feature=feature, rule="strict")
    ctx.warn(message)


def _lookup(stations: gpd.GeoDataFrame) -> dict[tuple[str | None, str], shapely.Point]:
    """(kind, name_zh) and (None, name_zh) → the first station of that name (metric CRS)."""
    named = stations[stations["name_zh"] != ""]
    out: dict[tuple[str | None, str], shapely.Point] = {}
    for k, n, g in zip(named["kind"], named["name_zh"], named.geometry):
        out.setdefault((k, n), g)
        out.setdefault((None, n), g)
    return out


class StationAnchors:
    """Station positions for one plan layer's features, with per-feature fallback to the bundled stations.

    Parameters
    ----------
    ctx : BuildContext
        The build's context; ``rail_stations`` must have been built before the current layer.
    """

    def __init__(self, ctx: BuildContext):
        self.ctx = ctx
        self.built = _lookup(to_metric(ctx.get(STATION_LAYER)))
        self._bundled: dict | None = None
        self.fell_back: dict[str, list[str]] = {}
        """feature → names of the stations it took from the bundled snapshot."""

    def note(self, feature: str) -> str:
        """Text for a feature's ``*_basis`` field: which stations came from the bundled snapshot ('' if none).

        Parameters
        ----------
        feature : str
            As passed to :meth:`resolve`.

        Returns
        -------
        str
            E.g. ``"; 西站 from the bundled stations (not in rail_stations)"``.
        """
        names = self.fell_back.get(feature)
        return f"; {', '.join(names)} from the bundled stations (not in {STATION_LAYER})" if names else ""

    def bundled(self) -> dict[tuple[str | None, str], shapely.Point]:
        """The bundled station snapshot (read once per layer, only when a station is missing), metric CRS.

        Returns
        -------
        dict
            (kind, name_zh) and (None, name_zh) → point in EPSG:4548.
        """
        if self._bundled is None:
            layer = self.ctx.catalog[STATION_LAYER]
            raw = layer.builder_func()(self.ctx)  # records the files it reads as inputs of the current layer
            self._bundled = _lookup(to_metric(finish_layer(raw, layer, source_label="bundled")))
        return self._bundled

    def resolve(self, feature: str, wanted: list[tuple[str | None, str]]) -> dict | None:
        """Positions of the stations one feature anchors on, or None when the feature must be left out.

        Parameters
        ----------
        feature : str
            The feature's id or name (named in warnings and errors).
        wanted : list of (kind or None, name_zh)
            The stations (``kind`` ``"metro"``/``"rail"``; None = a station of any kind).

        Returns
        -------
        dict or None
            (kind, name_zh) → point (EPSG:4548) for every wanted station; None when a station is in neither
            the built layer nor the bundled snapshot (a warning names the feature and the station).

        Raises
        ------
        BuildError
            With ``--strict``, when a station came from the bundled snapshot or the feature is left out.
        """
        found = {w: self.built[w] for w in wanted if w in self.built}
        missing = [w for w in wanted if w not in found]
        if not missing:
            return found
        names = ", ".join(f"{n} ({k})" if k else n for k, n in missing)
        bundled = self.bundled()
        absent = [w for w in missing if w not in bundled]
        if absent:
            gone = ", ".join(f"{n} ({k})" if k else n for k, n in absent)
            leave_out(
                self.ctx,
                feature,
                f"station(s) {gone} in neither the {STATION_LAYER} layer nor the bundled stations "
                "(rail_stations_osm.geojson)",
            )
            return None
        found.update({w: bundled[w] for w in missing})
        self.fell_back[feature] = [n for _, n in missing]
        self.ctx.fallback(
            1,
            f"feature {feature}: station(s) {names} not in the {STATION_LAYER} layer; "
            "placed on the bundled station position(s) (rail_stations_osm.geojson)",
            feature=feature,
        )
        return found
