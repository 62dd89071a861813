"""Analysis: population, rail coverage (buffer and network), buffers and conflicts, the rail graph and travel
times, raster surfaces, and the plan's spatial indicators.

Modules: :mod:`.population` (``tj.population``), :mod:`.coverage` (``tj.coverage``, ``tj.coverage_delta``,
``plan_stations``), :mod:`.network_coverage` (ITDP walk catchments), :mod:`.zones` (rings and conflicts),
:mod:`.rail_network` (``tj.rail_graph``, travel times), :mod:`.surfaces` (distance / travel-time GeoTIFFs,
isochrones), :mod:`.indicators` (``tj.indicators``), :mod:`.run` (``tj.analyse``), :mod:`.grid` (exact cell
fractions, atomic GeoTIFF writing).
"""

from __future__ import annotations

from .coverage import coverage, coverage_delta, plan_stations
from .indicators import indicators
from .population import population
from .rail_network import rail_graph
from .run import analyse

__all__ = ["population", "coverage", "coverage_delta", "plan_stations", "indicators", "rail_graph", "analyse"]
