"""Hostile and unlucky inputs (issue #14): each test reproduces one row of the probe and checks the fix.

Rows 1-2 (web pages), 8 (Overpass), 10 (export folder) and 12 (CLI errors) are tested beside their fixes
(tests/test_webmaps.py, tests/test_osm_fetch_hostile.py, tests/test_export.py, tests/test_cli.py); this file
holds rows 3-7, 9, 11 and 13, and :data:`ROWS` maps every row to its regression tests (checked by
``test_every_row_has_its_regression_tests``). The import fuzz test is tests/test_hostile_fuzz.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.ops

import tjspatial as tj
from tjspatial.build import build, read_table
from tjspatial.errors import ImportLayerError
from tjspatial.importer import check_import, import_layer, recorded_imports, remove_import
from tjspatial.locks import file_lock
from tjspatial.sources.imported import recorded_overrides

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:.*(truncated|laundered|Normalized/laundered).*")


ROWS = {
    1: [
        "test_webmaps.py::test_line_separators_and_markers_in_data_survive_as_text",
        "test_webmaps.py::test_a_value_that_is_not_json_names_layer_feature_and_field",
        "test_webmaps.py::test_a_failed_site_run_leaves_the_previous_site_intact",
    ],
    2: [
        "test_webmaps.py::test_line_separators_and_markers_in_data_survive_as_text",
        "test_webmaps.py::test_hostile_names_are_escaped_in_the_page",
    ],
    3: [
        "test_row3_record_paths_are_confined_to_the_imports_folder",
        "test_row3_cli_remove_refuses_and_build_refuses",
        "test_row3_symlinked_stored_file_pointing_outside_is_refused",
    ],
    4: [
        "test_row4_epsg4548_file_declared_utm50n_is_refused_naming_both_crs",
        "test_row4_lonlat_declared_metric_and_metric_declared_lonlat",
    ],
    5: [
        "test_row5_gbk_shapefile_without_cpg_is_detected",
        "test_row5_undecidable_encoding_is_refused_naming_encoding_option",
        "test_row5_cli_encoding_option",
    ],
    6: ["test_row6_outside_tianjin_refused_without_a_geopackage"],
    7: ["test_row7_census_values_refused_naming_file_field_row", "test_row7_census_rules_are_declared_in_the_catalog"],
    8: [
        "test_osm_fetch_hostile.py::test_retry_after_far_future_is_refused_not_slept",
        "test_osm_fetch_hostile.py::test_retry_after_nonsense_falls_back_to_backoff",
        "test_osm_fetch_hostile.py::test_timeout_bounds_the_whole_request_not_each_read",
        "test_osm_fetch_hostile.py::test_connection_dropped_mid_body_is_retried",
        "test_osm_fetch_hostile.py::test_truncated_xml_is_never_cached",
        "test_osm_fetch_hostile.py::test_poisoned_cache_is_ignored_and_fetched_again",
        "test_osm_fetch_hostile.py::test_timeout_zero_or_nonsense_is_refused",
    ],
    9: [
        "test_row9_concurrent_imports_all_recorded",
        "test_row9_kill_9_during_the_rebuild_leaves_records_and_geopackage_consistent",
        "test_row9_failed_rebuild_records_nothing",
        "test_row9_stale_temp_files_of_dead_writers_are_swept",
        "test_row9_lock_serialises_and_times_out",
        "test_row9_lock_loses_no_update_between_four_processes",
    ],
    10: [
        "test_export.py::test_failed_export_leaves_the_previous_one_whole",
        "test_export.py::test_200k_character_name_is_cut_with_a_warning",
        "test_export.py::test_concurrent_exports_into_one_place_are_serialised",
    ],
    11: [
        "test_row11_impossible_population_rasters_refused",
        "test_row11_cli_analyse_refuses_an_all_nodata_raster",
        "test_row11_negative_population_polygons_refused",
        "test_row11_coverage_refuses_metric_coordinates_labelled_4326_and_nan_stations",
    ],
    12: [
        "test_cli.py::test_user_errors_are_one_line_with_exit_code_2",
        "test_cli.py::test_full_or_read_only_disk_is_one_line",
        "test_cli.py::test_bugs_keep_their_traceback",
        "test_cli.py::test_subprocess_reports_bad_input_without_traceback",
        "test_row12_map_fields_geometry_and_shared_sources",
    ],
    13: [
        "test_row13_folder_and_fifo_are_refused_without_hanging",
        "test_row13_two_layer_geopackage",
        "test_row13_duplicate_names_refused_by_the_declared_unique_rule",
        "test_row13_current_rail_stations_layer_can_be_reimported",
        "test_row9_stale_temp_files_of_dead_writers_are_swept",
    ],
}
"""Probe row of issue #14 → its regression tests (``file.py::name``, or a test of this file)."""


def test_every_row_has_its_regression_tests():
    import ast

    assert sorted(ROWS) == list(range(1, 14))
    names: dict[Path, set[str]] = {}
    for row, tests in ROWS.items():
        for ref in tests:
            file, _, name = ref.rpartition("::")
            path = Path(__file__).with_name(file) if file else Path(__file__)
            if path not in names:
                tree = ast.parse(path.read_text(encoding="utf-8"))
                names[path] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name in names[path], f"row {row}: no test {name} in {path.name}"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tjspatial.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


@pytest.fixture()
def wetlands(built_gpkg) -> gpd.GeoDataFrame:
    return tj.load("wetlands", built_gpkg)


@pytest.fixture(autouse=True)
def real_imports_untouched():
    real = ROOT / "layers" / "imports"
    before = sorted(p.name for p in real.iterdir()) if real.exists() else []
    yield
    after = sorted(p.name for p in real.iterdir()) if real.exists() else []
    assert after == before, "a test wrote into the real layers/imports"


# ------------------------------------------------------------------------------------------------ row 3


@pytest.mark.parametrize("stored", ["../../README.md", "ABSOLUTE", "sub/x.gpkg", "..", "wetlands.gpkg/../../x"])
def test_row3_record_paths_are_confined_to_the_imports_folder(tmp_path, gpkg_copy, stored, monkeypatch):
    victim = tmp_path / "README.md"
    victim.write_text("do not delete", encoding="utf-8")
    imports = tmp_path / "a" / "imports"
    imports.mkdir(parents=True)
    (imports / "imports.json").write_text(
        json.dumps({"wetlands": {"stored": str(victim) if stored == "ABSOLUTE" else stored}}), encoding="utf-8"
    )
    before = sha(gpkg_copy)
    with pytest.raises(
        ImportLayerError, match=r"layer 'wetlands', .*imports\.json, field 'stored', rule import_record"
    ):
        remove_import("wetlands", imports_dir=imports, out=gpkg_copy)
    with pytest.raises(ImportLayerError, match="rule import_record"):  # what build reads
        recorded_overrides(imports)
    assert victim.read_text(encoding="utf-8") == "do not delete" and sha(gpkg_copy) == before
    assert json.loads((imports / "imports.json").read_text("utf-8")) == {
        "wetlands": {"stored": str(victim) if stored == "ABSOLUTE" else stored}
    }


def test_row3_symlinked_stored_file_pointing_outside_is_refused(tmp_path, gpkg_copy):
    victim = tmp_path / "victim.gpkg"
    victim.write_bytes(b"precious")
    imports = tmp_path / "imports"
    imports.mkdir()
    (imports / "wetlands-0123abcd.gpkg").symlink_to(victim)
    (imports / "imports.json").write_text('{"wetlands": {"stored": "wetlands-0123abcd.gpkg"}}', encoding="utf-8")
    with pytest.raises(
        ImportLayerError,
        match=r"rule import_record: the record's 'stored' file "
        r"'wetlands-0123abcd\.gpkg' resolves outside the imports folder",
    ):
        remove_import("wetlands", imports_dir=imports, out=gpkg_copy)
    assert victim.read_bytes() == b"precious"


def test_row3_cli_remove_refuses_and_build_refuses(tmp_path, gpkg_copy, monkeypatch):
    home = tmp_path / "home"
    (home / "layers" / "imports").mkdir(parents=True)
    (home / "layers" / "catalog").symlink_to(ROOT / "layers" / "catalog")
    victim = home / "README.md"
    victim.write_text("keep me", encoding="utf-8")
    (home / "layers" / "imports" / "imports.json").write_text('{"wetlands": {"stored": "../../README.md"}}')
    res = run_cli(
        "import-layer", "wetlands", "--remove", "--out", str(gpkg_copy), "--quiet", env={"TJSPATIAL_HOME": str(home)}
    )
    assert res.returncode != 0 and "rule import_record" in res.stderr and "Traceback" not in res.stderr
    assert victim.read_text(encoding="utf-8") == "keep me"
    monkeypatch.setenv("TJSPATIAL_HOME", str(home))
    with pytest.raises(ImportLayerError, match=r"'stored' value '\.\./\.\./README\.md' is not a plain"):
        build(out=tmp_path / "never.gpkg")
    assert not (tmp_path / "never.gpkg").exists() and victim.exists()


# ------------------------------------------------------------------------------------------------ row 4


def _no_prj_shapefile(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf.to_file(path, encoding="utf-8")
    path.with_suffix(".prj").unlink()
    return path


def test_row4_epsg4548_file_declared_utm50n_is_refused_naming_both_crs(wetlands, built_gpkg, tmp_path):
    gk = wetlands.to_crs(4548)
    shp = _no_prj_shapefile(gk, tmp_path / "gk" / "wetlands.shp")
    # what accepting it would do: every reserve 1.7 km off (the UTM scale factor 0.9996 at 4.3e6 m northing)
    misread = gk.set_crs(32650, allow_override=True).to_crs(4548)
    assert np.round(misread.centroid.distance(gk.centroid).to_numpy(), -1).tolist() == [1740.0, 1750.0, 1720.0, 1720.0]
    # vertex offsets to the nearest edge of the current layer measure part of that shift: 972 m (median)
    with pytest.raises(
        ImportLayerError,
        match=r"rule crs_plausible: read in EPSG:32650 \(given with --crs\) the "
        r"features lie 972 m \(median\) from the current layer; read as "
        r"EPSG:4548 they lie 0 m from it.*give --crs EPSG:4548",
    ):
        check_import("wetlands", shp, crs="EPSG:32650", gpkg=built_gpkg)
    # the same coordinates with a .prj that claims UTM 50N: refused the same way ("declared by the file")
    utm = wetlands.to_crs(4548).set_crs(32650, allow_override=True)
    utm.to_file(tmp_path / "lying_prj.shp", encoding="utf-8")
    with pytest.raises(ImportLayerError, match=r"EPSG:32650 \(declared by the file\).*EPSG:4548"):
        check_import("wetlands", tmp_path / "lying_prj.shp", gpkg=built_gpkg)
    # true UTM 50N coordinates declared as UTM 50N are accepted and land where they belong
    real = _no_prj_shapefile(wetlands.to_crs(32650), tmp_path / "utm" / "wetlands.shp")
    ok = check_import("wetlands", real, crs="EPSG:32650", gpkg=built_gpkg)
    shift = ok.data.to_crs(4548).geometry.centroid.distance(wetlands.to_crs(4548).geometry.centroid)
    assert shift.max() < 1.0 and ok.record["crs_detected"] == "EPSG:32650"


def test_row4_lonlat_declared_metric_and_metric_declared_lonlat(wetlands, built_gpkg, tmp_path):
    shp = _no_prj_shapefile(wetlands, tmp_path / "ll" / "wetlands.shp")  # degrees
    with pytest.raises(
        ImportLayerError,
        match=r"not plausible in EPSG:4548 \(given with --crs\) inside Tianjin.*"
        r"read as EPSG:4326 they lie in Tianjin",
    ):
        check_import("wetlands", shp, crs="EPSG:4548", gpkg=built_gpkg)
    swapped = wetlands.set_geometry(wetlands.geometry.map(lambda g: shapely.ops.transform(lambda x, y: (y, x), g)))
    swapped.to_file(tmp_path / "swapped.geojson", driver="GeoJSON")
    with pytest.raises(
        ImportLayerError,
        match=r"rule crs_plausible: the coordinates are in latitude, longitude order "
        r"\(first point \[39\.\d+, 117\.\d+\]\)",
    ):
        check_import("wetlands", tmp_path / "swapped.geojson", gpkg=built_gpkg)
    gk = _no_prj_shapefile(wetlands.to_crs(4527), tmp_path / "zone" / "wetlands.shp")  # zone-prefixed eastings
    with pytest.raises(ImportLayerError, match=r"not plausible in EPSG:4548 .*read as EPSG:4527 they lie in Tianjin"):
        check_import("wetlands", gk, crs="EPSG:4548", gpkg=built_gpkg)


# ------------------------------------------------------------------------------------------------ row 5


def _gbk_shapefile(gdf: gpd.GeoDataFrame, path: Path, encoding: str = "gbk") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf.to_file(path, encoding=encoding)
    path.with_suffix(".cpg").unlink()  # what Chinese offices send: no .cpg, no code page in the DBF
    return path


def test_row5_gbk_shapefile_without_cpg_is_detected(wetlands, built_gpkg, tmp_path):
    shp = _gbk_shapefile(wetlands.to_crs(4548), tmp_path / "gbk" / "wetlands.shp")
    res = check_import(
        "wetlands", shp, field_map="area_official_km2=area_offic,district_zh=district_z", gpkg=built_gpkg
    )
    assert res.data["name_zh"].tolist() == wetlands["name_zh"].tolist()
    assert res.data["name_zh"].iloc[0] == "七里海湿地（天津古海岸与湿地国家级自然保护区）"
    assert res.data["district_zh"].tolist() == wetlands["district_zh"].tolist()
    assert res.record["encoding"] == "gb18030 (detected; no .cpg)"
    assert any("no .cpg" in w and "GB18030" in w for w in res.warnings)
    # --encoding wins
    res = check_import(
        "wetlands",
        shp,
        field_map="area_official_km2=area_offic,district_zh=district_z",
        encoding="gbk",
        gpkg=built_gpkg,
    )
    assert res.data["name_zh"].iloc[3] == "团泊鸟类自然保护区（团泊洼）" and res.record["encoding"] == "gbk"


def test_row5_undecidable_encoding_is_refused_naming_encoding_option(wetlands, built_gpkg, tmp_path):
    western = wetlands.to_crs(4548).assign(name_en=["Zürich Ñandú café"] * 4, name_zh="x")
    western["name_zh"] = ["a", "b", "c", "d"]
    shp = _gbk_shapefile(western, tmp_path / "cp" / "wetlands.shp", encoding="cp1252")
    with pytest.raises(ImportLayerError, match=r"rule encoding: the shapefile has no \.cpg .*--encoding"):
        check_import("wetlands", shp, gpkg=built_gpkg)
    with pytest.raises(ImportLayerError, match=r"rule encoding: --encoding 'klingon'"):
        check_import("wetlands", shp, encoding="klingon", gpkg=built_gpkg)
    res = check_import(
        "wetlands",
        shp,
        encoding="cp1252",
        inherit=False,
        gpkg=built_gpkg,
        field_map="area_official_km2=area_offic,district_zh=district_z",
    )
    assert res.data["name_en"].iloc[0] == "Zürich Ñandú café"


def test_row5_cli_encoding_option(wetlands, gpkg_copy, tmp_path):
    shp = _gbk_shapefile(wetlands.to_crs(4548), tmp_path / "gbk" / "wetlands.shp")
    res = run_cli(
        "import-layer",
        "wetlands",
        str(shp),
        "--check",
        "--encoding",
        "gbk",
        "--out",
        str(gpkg_copy),
        "--map-fields",
        "area_official_km2=area_offic,district_zh=district_z",
    )
    assert res.returncode == 0, res.stderr
    assert "checked 4 feature(s)" in res.stdout


# ------------------------------------------------------------------------------------------------ row 6

HEBEI = {
    "廊坊": (116.70, 39.52),
    "唐山": (118.18, 39.63),
    "沧州": (116.84, 38.31),
    "霸州": (116.39, 39.12),
    "香河": (117.0, 39.76),
    "三河": (117.07, 39.98),
    "黄骅": (117.33, 38.37),
    "玉田": (117.74, 39.90),
    "大城": (116.65, 38.70),
    "青县": (116.82, 38.58),
}  # each 7-38 km outside Tianjin, inside its envelope


def _hebei_stations(path: Path) -> Path:
    gdf = gpd.GeoDataFrame(
        {
            "name_zh": list(HEBEI),
            "name_en": list(HEBEI),
            "station_id": [f"h{i}" for i in range(10)],
            "kind": "rail",
            "lines": "",
            "status": "open",
            "name_source": "test",
            "osm_station_tag": "",
            "district_zh": "",
            "inside_tianjin": False,
        },
        geometry=[shapely.Point(*xy) for xy in HEBEI.values()],
        crs=4326,
    )
    gdf.to_file(path, driver="GeoJSON")
    return path


def test_row6_outside_tianjin_refused_without_a_geopackage(tmp_path):
    path = _hebei_stations(tmp_path / "hebei.geojson")
    missing = tmp_path / "no" / "tianjin.gpkg"
    with pytest.raises(
        ImportLayerError,
        match=r"feature #0 \(廊坊\), rule outside_tianjin: 10 feature\(s\) lie "
        r"outside Tianjin \(more than 6 km from the bundled municipal "
        r"boundary",
    ):
        check_import("rail_stations", path, gpkg=missing)
    with pytest.raises(ImportLayerError, match="rule outside_tianjin"):
        import_layer("rail_stations", path, imports_dir=tmp_path / "imports", out=missing)
    assert not missing.exists() and recorded_imports(tmp_path / "imports") == {}


# ------------------------------------------------------------------------------------------------ row 9


def test_row9_concurrent_imports_all_recorded(built_gpkg, gpkg_copy, tmp_path):
    """Three import-layer runs at once on one imports folder and GeoPackage: all three recorded and built."""
    files = {}
    for lid in ("wetlands", "airport", "port_districts"):
        files[lid] = tmp_path / f"{lid}.geojson"
        tj.load(lid, built_gpkg).to_file(files[lid], driver="GeoJSON")
    imports = tmp_path / "imports"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tjspatial.cli",
                "import-layer",
                lid,
                str(f),
                "--imports-dir",
                str(imports),
                "--out",
                str(gpkg_copy),
                "--quiet",
                "--accuracy",
                "surveyed",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for lid, f in files.items()
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    records = recorded_imports(imports)
    assert sorted(records) == ["airport", "port_districts", "wetlands"]
    stored = sorted(r["stored"] for r in records.values())
    assert sorted(p.name for p in imports.iterdir() if not p.name.startswith(".")) == sorted(["imports.json", *stored])
    prov = read_table(gpkg_copy, "provenance").set_index("layer")
    for lid, rec in records.items():
        assert prov.loc[lid, "built_from"] == f"import:{imports / rec['stored']}"
        assert prov.loc[lid, "accuracy"] == "surveyed"
    assert not [p for p in gpkg_copy.parent.iterdir() if ".tmp-" in p.name]


_KILL_DURING_WRITE = """
import importlib, sys, time
from pathlib import Path
import pyogrio
b = importlib.import_module("tjspatial.build")  # (the attribute tjspatial.build is the function)
from tjspatial.atomic import atomic_path
def stalled(out, layers, *args, **kwargs):
    with atomic_path(out, ".gpkg") as tmp:
        name, gdf = next(iter(layers.items()))
        pyogrio.write_dataframe(gdf, tmp, layer=name, driver="GPKG")
        Path(sys.argv[1]).write_text("writing")
        time.sleep(120)
b.write_gpkg_atomic = stalled
from tjspatial.importer import import_layer
import_layer("wetlands", sys.argv[2], imports_dir=sys.argv[3], out=sys.argv[4])
"""


def test_row9_kill_9_during_the_rebuild_leaves_records_and_geopackage_consistent(wetlands, gpkg_copy, tmp_path):
    imports = tmp_path / "imports"
    port = tmp_path / "airport.geojson"
    tj.load("airport", gpkg_copy).to_file(port, driver="GeoJSON")
    import_layer("airport", port, imports_dir=imports, out=gpkg_copy, accuracy="surveyed")  # an earlier import
    records_before, gpkg_before = recorded_imports(imports), sha(gpkg_copy)
    src = tmp_path / "wetlands.geojson"
    wetlands.to_file(src, driver="GeoJSON")
    flag = tmp_path / "writing.flag"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_DURING_WRITE, str(flag), str(src), str(imports), str(gpkg_copy)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), proc.stderr.read().decode() if proc.poll() is not None else "the import never got there"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    # the record does not name the unfinished import; the GeoPackage is the previous one
    assert recorded_imports(imports) == records_before and sha(gpkg_copy) == gpkg_before
    leftovers = sorted(p.name for p in imports.iterdir() if p.name.startswith("wetlands-"))
    temps = [p.name for p in gpkg_copy.parent.iterdir() if ".tmp-" in p.name]
    assert len(leftovers) == 1 and len(temps) >= 1  # what kill -9 leaves ...
    # ... a plain build uses only the recorded imports, and sweeps the dead writer's temporary GeoPackage
    build(out=gpkg_copy, overrides=recorded_overrides(imports))
    assert (tj.load("wetlands", gpkg_copy)["accuracy"] == "schematic").all()
    assert (tj.load("airport", gpkg_copy)["accuracy"] == "surveyed").all()
    assert not [p for p in gpkg_copy.parent.iterdir() if ".tmp-" in p.name]
    # ... and the next import run sweeps the orphaned stored file
    res = import_layer("wetlands", src, imports_dir=imports, out=gpkg_copy)
    assert sorted(p.name for p in imports.iterdir() if p.name.endswith(".gpkg")) == sorted(
        [res.stored.name, records_before["airport"]["stored"]]
    )


def test_row9_failed_rebuild_records_nothing(wetlands, gpkg_copy, tmp_path, monkeypatch):
    import tjspatial.importer as importer
    from tjspatial.errors import BuildError

    def broken(**kwargs):
        raise BuildError("builder failed (KeyError: 'wetland_qilihai')", layer="eco_pattern")

    monkeypatch.setattr(importer, "build", broken)
    src = tmp_path / "w.geojson"
    wetlands.to_file(src, driver="GeoJSON")
    before = sha(gpkg_copy)
    with pytest.raises(
        ImportLayerError,
        match=r"rule rebuild: with this import the GeoPackage cannot be rebuilt, "
        r"so nothing was recorded .*layer 'eco_pattern'",
    ):
        import_layer("wetlands", src, imports_dir=tmp_path / "imports", out=gpkg_copy)
    assert sha(gpkg_copy) == before and recorded_imports(tmp_path / "imports") == {}
    assert sorted(p.name for p in (tmp_path / "imports").iterdir()) == []


def test_row9_stale_temp_files_of_dead_writers_are_swept(gpkg_copy, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = [gpkg_copy.with_name(f".tianjin.tmp-{pid}.gpkg"), gpkg_copy.with_name(f".tianjin.tmp-{pid}.gpkg-journal")]
    alive = gpkg_copy.with_name(f".tianjin.tmp-{os.getpid()}9.gpkg")  # a pid that is surely not ours ...
    mine = gpkg_copy.with_name(f".tianjin.tmp-{os.getppid()}.gpkg")  # ... and a live process's temp file
    for p in (*stale, mine):
        p.write_bytes(b"half a GeoPackage")
    build(out=gpkg_copy, layers=["boundary"])
    assert not any(p.exists() for p in stale) and mine.exists()
    mine.unlink()
    assert not alive.exists()


def test_row9_lock_serialises_and_times_out(tmp_path):
    lock = tmp_path / ".lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from tjspatial.locks import file_lock\n"
            "with file_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(30)",
            str(lock),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        from tjspatial.locks import LockTimeout

        with pytest.raises(
            LockTimeout,
            match=rf"the imports folder x is being written by another run \(process "
            rf"{holder.pid}\); gave up after 0.3 s",
        ):
            with file_lock(lock, timeout=0.3, what="the imports folder x"):
                pass
        said = []
        with pytest.raises(LockTimeout):
            with file_lock(lock, timeout=1.5, what="the GeoPackage y", on_wait=said.append):
                pass
        assert said == [f"waiting for another run (process {holder.pid}) to finish writing the GeoPackage y"]
    finally:
        holder.kill()
        holder.wait()
    with file_lock(lock, timeout=5):  # released by the kernel when the holder died (kill -9)
        with file_lock(lock, timeout=0.1):  # re-entrant in one thread
            pass
    assert not lock.exists()  # removed on release


_COUNT = """
import sys
from pathlib import Path
from tjspatial.locks import file_lock
counter = Path(sys.argv[2])
for _ in range(25):
    with file_lock(sys.argv[1]):
        n = int(counter.read_text())  # read-modify-write: loses updates unless serialised
        counter.write_text(str(n + 1))
"""


def test_row9_lock_loses_no_update_between_four_processes(tmp_path):
    counter = tmp_path / "n.txt"
    counter.write_text("0")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _COUNT, str(tmp_path / ".lock"), str(counter)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert counter.read_text() == "100" and not (tmp_path / ".lock").exists()


# ------------------------------------------------------------------------------------------------ row 12 (importer)


def test_row12_map_fields_geometry_and_shared_sources(wetlands, built_gpkg, tmp_path):
    path = tmp_path / "w.geojson"
    wetlands.to_file(path, driver="GeoJSON")
    from tjspatial.errors import InputError

    with pytest.raises(InputError, match=r"--map-fields item 'name_zh=geometry': the geometry is not an attribute"):
        check_import("wetlands", path, field_map="name_zh=geometry", gpkg=built_gpkg)  # the CLI's text form
    with pytest.raises(
        ImportLayerError,
        match=r"field 'name_zh', rule fields: --map-fields source 'geometry' is the "
        r"file's geometry",
    ):
        check_import("wetlands", path, field_map={"name_zh": "geometry"}, gpkg=built_gpkg)  # the Python form
    res = check_import("wetlands", path, field_map="name_en=name_zh,plan_ref=name_zh", gpkg=built_gpkg)
    assert res.data["name_en"].tolist() == res.data["plan_ref"].tolist() == wetlands["name_zh"].tolist()
    assert res.data["name_zh"].tolist() == wetlands["name_zh"].tolist()  # the source column keeps its own role
    swapped = check_import("wetlands", path, field_map="name_zh=name_en,name_en=name_zh", gpkg=built_gpkg)
    assert swapped.data["name_zh"].tolist() == wetlands["name_en"].tolist()
    assert swapped.data["name_en"].tolist() == wetlands["name_zh"].tolist()


# ------------------------------------------------------------------------------------------------ row 13


def test_row13_folder_and_fifo_are_refused_without_hanging(tmp_path, built_gpkg):
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(ImportLayerError, match=r"rule file: this is a folder, not a file"):
        check_import("wetlands", folder, gpkg=built_gpkg)
    fifo = tmp_path / "pipe.geojson"
    os.mkfifo(fifo)
    res = run_cli("import-layer", "wetlands", str(fifo), "--check", "--out", str(built_gpkg), timeout=60)
    assert res.returncode != 0 and "rule file: this is a FIFO (named pipe)" in res.stderr
    assert "Traceback" not in res.stderr


def test_row13_two_layer_geopackage(wetlands, built_gpkg, tmp_path):
    two = tmp_path / "two.gpkg"
    wetlands.to_file(two, layer="a", driver="GPKG")
    tj.load("districts", built_gpkg).to_file(two, layer="b", driver="GPKG")
    with pytest.raises(
        ImportLayerError,
        match=r"rule one_layer: the file holds 2 spatial layers \(a, b\) and none "
        r"is named 'wetlands'",
    ):
        check_import("wetlands", two, gpkg=built_gpkg)
    wetlands.to_file(two, layer="wetlands", driver="GPKG")  # a layer named like the catalog layer is taken
    res = check_import("wetlands", two, gpkg=built_gpkg)
    assert res.record["file_layer"] == "wetlands" and len(res.data) == 4


def test_row13_duplicate_names_refused_by_the_declared_unique_rule(wetlands, built_gpkg, tmp_path):
    dup = wetlands.copy()
    dup.loc[1, "name_zh"] = dup.loc[0, "name_zh"]
    dup = dup.drop(columns=["reserve_id"])  # inherited by name: 七里海 twice, 大黄堡 lost
    path = tmp_path / "dup.geojson"
    dup.to_file(path, driver="GeoJSON")
    with pytest.raises(
        ImportLayerError,
        match=r"feature #1 \(七里海湿地（天津古海岸与湿地国家级自然保护区）\), field "
        r"'reserve_id', rule unique: 1 feature\(s\) repeat a reserve_id "
        r"value \('wetland_qilihai'\)",
    ):
        check_import("wetlands", path, gpkg=built_gpkg)


def test_row13_current_rail_stations_layer_can_be_reimported(built_gpkg, tmp_path):
    stations = tj.load("rail_stations", built_gpkg)
    path = tmp_path / "stations.geojson"
    stations.to_file(path, driver="GeoJSON")
    res = check_import("rail_stations", path, gpkg=built_gpkg, accuracy="osm")
    assert len(res.data) == len(stations) == 341
    assert res.data["name_zh"].tolist() == stations["name_zh"].tolist()
    # the four stations beyond the border are the layer's own (inside_tianjin = false), 2.8-4.7 km out
    metric = stations.to_crs(4548)
    boundary = tj.load("boundary", built_gpkg).to_crs(4548).geometry.union_all()
    out_km = metric.distance(boundary) / 1000
    assert sorted(np.round(out_km[out_km > 2], 1).tolist()) == [2.8, 3.1, 3.6, 4.7]
    assert not stations.loc[out_km > 2, "inside_tianjin"].any()


# ------------------------------------------------------------------------------------------------ row 7


@pytest.mark.parametrize(
    "value, pattern",
    [
        (
            "-355000",
            r"layer 'districts', file .*census_2020_districts\.csv, feature row 1 \(name_zh 和平区\), field "
            r"'pop_2020', rule column_min: row 1 \(name_zh 和平区\): value -355000 is below the declared minimum 0",
        ),
        (
            "abc",
            r"feature row 1 \(name_zh 和平区\), field 'pop_2020', rule column_type: row 1 \(name_zh 和平区\): value "
            r"'abc' is not a number",
        ),
        ("355000.5", r"field 'pop_2020', rule column_type: .*value 355000\.5 is not a whole number"),
    ],
)
def test_row7_census_values_refused_naming_file_field_row(sources_copy, tmp_path, value, pattern):
    from tjspatial.errors import ValidationError

    csv = sources_copy / "census_2020_districts.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[1].startswith("120101,和平区,355000,")
    lines[1] = lines[1].replace(",355000,", f",{value},", 1)
    csv.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "t.gpkg"
    with pytest.raises(ValidationError, match=pattern):
        build(out=out, sources_dir=sources_copy, layers=["boundary", "districts"])
    assert not out.exists()


def test_row7_census_rules_are_declared_in_the_catalog():
    from tjspatial.validate import parse_column_rule

    cols = tj.get_catalog().sources["census_2020"].columns
    assert cols == {"adcode": "int >= 110000", "pop_2020": "int >= 0"}
    assert parse_column_rule(cols["pop_2020"]) == ("int", 0.0)
    with pytest.raises(ValueError, match="not TYPE or TYPE >= NUMBER"):
        parse_column_rule("int > 0")


# ------------------------------------------------------------------------------------------------ row 11


def _raster(path: Path, values: np.ndarray, *, crs="EPSG:4548", x0=500_000.0, y0=4_330_000.0, nodata=-1.0) -> Path:
    import rasterio
    from affine import Affine

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=values.shape[0],
        width=values.shape[1],
        count=1,
        dtype="float32",
        crs=crs,
        transform=Affine(100, 0, x0, 0, -100, y0),
        nodata=nodata,
    ) as dst:
        dst.write(values.astype("float32"), 1)
    return path


@pytest.mark.parametrize(
    "kind, pattern",
    [
        ("all_nodata", r"rule raster_nodata: all 16 cells are nodata"),
        ("all_negative", r"rule raster_sign: 16 of 16 valid cells are negative \(minimum -200\)"),
        ("some_negative", r"rule raster_sign: 1 of 16 valid cells are negative \(minimum -5\)"),
        ("all_zero", r"rule raster_nodata: all 16 valid cells are 0: no population"),
        (
            "africa",
            r"rule raster_overlap: the raster covers lon/lat \[15\.00, 3\.58, 15\.00, 3\.58\], which does not "
            r"overlap Tianjin",
        ),
    ],
)
def test_row11_impossible_population_rasters_refused(tmp_path, kind, pattern, built_gpkg):
    from tjspatial.errors import ValidationError

    values = np.full((4, 4), 100.0)
    kw = {}
    if kind == "all_nodata":
        values[:] = -1.0
    elif kind == "all_negative":
        values[:] = -200.0
    elif kind == "some_negative":
        values[2, 2] = -5.0
    elif kind == "all_zero":
        values[:] = 0.0
    elif kind == "africa":
        kw = {"crs": "EPSG:32633", "y0": 396_000.0}  # UTM 33N: Cameroon
    path = _raster(tmp_path / f"{kind}.tif", values, **kw)
    with pytest.raises(ValidationError, match=pattern) as err:
        tj.population(path, window=None)  # the whole raster, by the declared raster rules
    assert err.value.file == str(path)
    if kind == "africa":  # read by default in a window around Tianjin: refused before any cell is read
        from tjspatial.errors import InputError

        with pytest.raises(InputError, match=r"africa\.tif does not overlap the study area"):
            # an explicit GeoPackage: in a fresh clone the default one may not be built yet (no window then)
            tj.population(path, path=built_gpkg)
    else:
        with pytest.raises(ValidationError, match=pattern):
            tj.population(path)
    # a plausible raster over Tianjin is accepted: 16 cells x 100 persons
    good = tj.population(_raster(tmp_path / "good.tif", np.full((4, 4), 100.0)))
    assert good.total == 1600


def test_row11_cli_analyse_refuses_an_all_nodata_raster(built_gpkg, tmp_path):
    path = _raster(tmp_path / "nodata.tif", np.full((4, 4), -1.0))
    res = run_cli("analyse", "--gpkg", str(built_gpkg), "--out", str(tmp_path / "out"), "--population", str(path))
    assert res.returncode != 0 and "rule raster_nodata: all 16 cells are nodata" in res.stderr
    assert "Traceback" not in res.stderr
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no table written with zero people


def test_row11_negative_population_polygons_refused(built_gpkg):
    from tjspatial.errors import ValidationError

    districts = tj.load("districts", built_gpkg)
    districts.loc[districts.index[0], "pop_2020"] = -710000
    with pytest.raises(ValidationError, match=r"field 'pop_2020', rule raster_sign: .*1 negative count"):
        tj.population(districts, column="pop_2020")


def test_row11_coverage_refuses_metric_coordinates_labelled_4326_and_nan_stations(built_gpkg):
    from tjspatial.errors import ValidationError

    stations = tj.load("rail_stations", built_gpkg)
    metres = stations.to_crs(4548).set_crs(4326, allow_override=True)
    with pytest.raises(
        ValidationError,
        match=r"rule coordinates: 341 feature\(s\) have coordinates \(5\d{5}\.\d, "
        r"4\d{6}\.\d\) beyond ±180°/±90°, yet the CRS is EPSG:4326",
    ):
        tj.coverage(metres, path=built_gpkg)
    nan = stations.copy()
    nan.loc[nan.index[3], "geometry"] = shapely.Point(float("nan"), float("nan"))
    with pytest.raises(ValidationError, match=r"feature #3.*rule coordinates: 1 feature\(s\) have NaN or infinite"):
        tj.coverage(nan, path=built_gpkg)
