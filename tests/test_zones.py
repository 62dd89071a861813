"""analysis/zones.py: rings, features near wetlands, rail in the zones, clusters in the barrier (EPSG:4548)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import tjspatial as tj
from tjspatial.analysis import zones as z


def test_zone_and_line_layers_come_from_the_catalog(built_gpkg):
    assert z.eco_layers(built_gpkg) == ["wetlands", "green_barrier", "eco_pattern"]
    assert z.line_layers(built_gpkg) == ["metro_lines", "intercity_rail", "planned_rail"]


def test_rings_are_the_buffer_differences_measured_in_metres(built_gpkg):
    rings = z.rings("wetlands", path=built_gpkg)
    wet = tj.to_metric(tj.load("wetlands", built_gpkg))
    assert set(rings["ring"]) == {"0–1 km", "1–3 km", "3–5 km"} and set(rings["accuracy"]) == {"schematic"}
    for name, geom in zip(wet["name_zh"], wet.geometry):
        expected = (shapely.buffer(geom, 1000.0).area - geom.area) / 1e6  # km², independently of zones.py
        got = rings[(rings["name_zh"] == name) & (rings["ring"] == "0–1 km")]["area_km2"].item()
        assert got == pytest.approx(expected, rel=2e-3)
        by_ring = rings[rings["name_zh"] == name].set_index("ring")["area_km2"]
        assert by_ring["0–1 km"] < by_ring["1–3 km"] < by_ring["3–5 km"]


def test_features_near_measure_the_distance_to_the_nearest_zone(built_gpkg):
    near = z.features_near("rail_stations", "wetlands", 5.0, path=built_gpkg)
    assert len(near) > 0 and (near["distance_km"] <= 5.0).all()
    assert (near.loc[near["ring"] == "inside", "distance_km"] == 0).all()
    st = tj.to_metric(tj.load("rail_stations", built_gpkg))
    wet = tj.to_metric(tj.load("wetlands", built_gpkg))
    row = near[near["distance_km"] > 0].iloc[0]
    pts = st[st["name_zh"] == row["name_zh"]].geometry
    zone = wet[wet["name_zh"] == row["zone"]].geometry.iloc[0]
    assert np.min(shapely.distance(np.asarray(pts.values), zone)) / 1000 == pytest.approx(row["distance_km"], abs=1e-6)


def test_clusters_in_barrier_name_the_control_level(built_gpkg):
    c = z.clusters_in_barrier(path=built_gpkg)
    assert len(c) >= 1 and set(c["level"]) <= {1, 2, 3} and (c["distance_km"] <= 1.0).all()
    assert c["zone"].str.startswith("双城间绿色生态屏障").all() and set(c["accuracy"]) == {"schematic"}
