"""Fuzz ``import-layer`` (issue #14): random attributes and geometries either import correctly or are refused by name.

Hypothesis generates small files (GeoJSON or GeoPackage) for a Point, a Polygon and an int-typed layer: text
with control characters, U+2028, RTL marks, long strings; numbers, NaN, booleans, None where text is declared;
geometries inside and outside Tianjin, empty, of the wrong type, invalid, with NaN or huge coordinates; columns
missing. Every run must end in one of two ways: an :class:`ImportLayerError` naming the layer, the file and a
rule, or a result that passes the catalog's validation with every feature kept. Anything else (a traceback
from pandas, GDAL, shapely, pyproj) fails the test.
"""

from __future__ import annotations

import math
import os

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import tjspatial as tj
from tjspatial.errors import ImportLayerError
from tjspatial.importer import check_import
from tjspatial.validate import RULES, validate_layer

IMPORT_RULES = set(RULES) | {
    "file",
    "one_layer",
    "encoding",
    "crs",
    "crs_plausible",
    "outside_tianjin",
    "fields",
    "accuracy",
}
LAYERS = ("nodes", "water", "districts")

pytestmark = pytest.mark.filterwarnings("ignore")

texts = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.sampled_from(
        ["天津站", "\u2028", "a\u2029b", "\x85", "\x00x", "@@OUTLINE@@", "‮evil", "<script>", "'\"", "x" * 300, "", " "]
    ),
)
junk = st.one_of(
    texts, st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none()
)
INSIDE = [
    (117.21, 39.14),
    (117.70, 39.03),
    (117.04, 39.38),
    (117.31, 39.72),
    (117.41, 40.05),
    (116.97, 38.95),
    (117.83, 39.33),
    (117.01, 39.14),
]  # 天津站, 滨海, 武清, 宝坻, 蓟州, 静海, 宁河, 西青: well inside Tianjin
jitter = st.floats(-0.02, 0.02)


@st.composite
def geometry(draw, kind: str, clean: bool):
    choice = (
        "ok"
        if clean
        else draw(st.sampled_from(["ok"] * 4 + ["outside", "empty", "none", "wrong", "nan", "huge", "bowtie"]))
    )
    x0, y0 = draw(st.sampled_from(INSIDE))
    x, y = x0 + draw(jitter), y0 + draw(jitter)
    if choice == "outside":
        x, y = draw(st.sampled_from([(2.35, 48.85), (116.39, 39.91), (121.47, 31.23), (0.0, 0.0)]))
    if choice == "empty":
        return shapely.Point() if kind == "Point" else shapely.Polygon()
    if choice == "none":
        return None
    if choice == "nan":
        x = math.nan
    if choice == "huge":
        x, y = 5.0e5, 4.3e6  # metres labelled as degrees
    if choice == "bowtie":
        return shapely.Polygon([(x, y), (x + 0.01, y + 0.01), (x + 0.01, y), (x, y + 0.01)])
    if choice == "wrong":
        kind = "Polygon" if kind == "Point" else "Point"
    if kind == "Point":
        return shapely.Point(x, y)
    size = draw(st.floats(0.001, 0.02))
    return shapely.box(x, y, x + size, y + size)


@st.composite
def import_file(draw):
    layer = tj.get_catalog()[draw(st.sampled_from(LAYERS))]
    n = draw(st.integers(1, 5))
    clean_geoms, clean_attrs = draw(st.booleans()), draw(st.booleans())
    cols = {}
    for name, ftype in {"name_zh": "str", "name_en": "str", **layer.fields}.items():
        if not clean_attrs and draw(st.integers(0, 6)) == 0:
            continue  # column missing
        good = {
            "str": texts,
            "int": st.integers(0, 10**7),
            "float": st.floats(0, 1e4),
            "bool": st.booleans(),
            "date": st.sampled_from(["2020-01-01", "2025-12"]),
        }[ftype]
        values = good if clean_attrs or draw(st.booleans()) else st.one_of(good, junk)
        cols[name] = [draw(values) for _ in range(n)]
    geoms = [draw(geometry(layer.geometry_type, clean_geoms)) for _ in range(n)]
    fmt = draw(st.sampled_from(["GeoJSON", "GPKG"]))
    field_map = None
    if draw(st.integers(0, 3)) == 0:  # --map-fields, sensible or not
        targets = st.sampled_from([*layer.all_fields, "geometry", "nope"])
        sources = st.sampled_from([*cols, "geometry", "nope"])
        field_map = {draw(targets): draw(sources) for _ in range(draw(st.integers(1, 3)))}
    return layer, cols, geoms, fmt, field_map


@settings(
    max_examples=int(os.environ.get("TJSPATIAL_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=import_file())
def test_import_fuzz_imports_correctly_or_refuses_by_name(case, built_gpkg, tmp_path_factory):
    layer, cols, geoms, fmt, field_map = case
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / ("in.geojson" if fmt == "GeoJSON" else "in.gpkg")
    frame = gpd.GeoDataFrame(cols, geometry=geoms, crs=4326)
    try:
        pyogrio.write_dataframe(frame, path, driver=fmt)
    except Exception:  # the generator made something no writer accepts: nothing to import
        assume(False)
    try:
        res = check_import(layer.id, path, gpkg=built_gpkg, accuracy="official", field_map=field_map)
    except ImportLayerError as err:
        assert err.layer == layer.id and err.file == str(path), str(err)
        assert err.rule in IMPORT_RULES, str(err)
        event(f"refused: {err.rule}")
        return
    event(f"imported: {layer.id}")
    data = res.data
    validate_layer(data, layer, check_gcj=False)  # exactly the catalog schema, valid, inside Tianjin
    assert len(data) == len(frame)
    assert (data["accuracy"] == "official").all()
    assert data.crs.to_epsg() == 4326
    coords = shapely.get_coordinates(np.asarray(data.geometry.values))
    assert np.isfinite(coords).all()
