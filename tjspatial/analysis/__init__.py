"""Analysis: population, rail coverage (buffer and network), buffers and conflicts, the rail graph and travel
times, raster surfaces, and the plan's spatial indicators.

Modules: :mod:`.population` (``tj.population``), :mod:`.coverage` (``tj.coverage``, ``tj.coverage_delta``),
:mod:`.network_coverage` (ITDP walk catchments), :mod:`.grid` (exact cell fractions, GeoTIFF writing).
"""
from __future__ import annotations

from .coverage import coverage, coverage_delta
from .population import population

__all__ = ["population", "coverage", "coverage_delta"]
