"""Schematic plan layers: the spatial structure of the 14th Five-Year Plan drawn from its text.

No open dataset holds the green barrier, the wetland reserves, the port districts or the planned lines, so
these layers are *constructed*: from the anchors in ``layers/sources/plan_anchors.csv``, the hand-authored
points and lines in ``layers/plan/``, the base layers (districts, boundary, coastline, stations), and the
published areas in ``reference_figures.csv``. Every polygon with a verified official area is scaled until
its EPSG:4548 area is within 1 % of it (see :func:`tjspatial.plan.shapes.fit_area`). Every feature is
``accuracy = schematic`` and carries ``plan_ref``: the chapter, section and the plan's own words.

Modules: :mod:`.refs` (plan clauses), :mod:`.shapes` (deterministic construction helpers),
:mod:`.ecology` (green_barrier, wetlands, eco_pattern), :mod:`.port` (port_districts, airport),
:mod:`.rail` (planned_rail), :mod:`.places` (urban_clusters, tourism).
"""
