"""The ``tjspatial`` command: a light start, user errors in one line with exit code 2, bugs with a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tjspatial import cli
from tjspatial.cli import main
from tjspatial.errors import GeoPackageError

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "geopandas", "pyogrio", "rasterio", "scipy", "folium", "networkx", "osmnx", "shapely")


def _run(code: str) -> str:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    ).stdout.strip()


def test_import_and_help_load_no_heavy_library():
    probe = "import sys\n{}\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & set({!r})))"
    assert _run(probe.format("import tjspatial", HEAVY)) == "[]"
    assert _run(probe.format("from tjspatial.cli import make_parser\nmake_parser().format_help()", HEAVY)) == "[]"


def test_lazy_public_api_resolves_every_name():
    import tjspatial.build  # noqa: F401 - importing the submodule must not rebind tj.build to it
    import tjspatial.catalog  # noqa: F401

    assert callable(tjspatial.build) and tjspatial.build.__module__ == "tjspatial.build"
    assert callable(tjspatial.catalog) and tjspatial.catalog.__name__ == "catalog"
    for name in tjspatial.__all__:
        assert getattr(tjspatial, name) is not None, name
    assert tjspatial.publish_site.__name__ == "publish"
    assert set(tjspatial.__all__) <= set(dir(tjspatial))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tjspatial.nope  # noqa: B018


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "make_args, expected",
    [
        (
            lambda t, g: ["build", "--quiet", "--layers", "boundary", "--out", str(t / "folder")],
            "build: error: {t}/folder: is a folder, not a file",
        ),
        (
            lambda t, g: ["build", "--quiet", "--layers", "boundary", "--out", str(t / "afile" / "x.gpkg")],
            "build: error: {t}/afile: is a file, not a folder",
        ),
        (
            lambda t, g: ["analyse", "--gpkg", str(g), "--out", str(t / "afile")],
            "analyse: error: {t}/afile: is a file, not a folder",
        ),
        (
            lambda t, g: ["export", "--format", "geojson", "--gpkg", str(g), "--out", str(t / "afile")],
            "export: error: {t}/afile: is a file, not a folder",
        ),
        (
            lambda t, g: ["maps", "--gpkg", str(g), "--maps", "port", "--no-thumbnails", "--out", str(t / "afile")],
            "maps: error: {t}/afile",
        ),
        (
            lambda t, g: ["diff", str(t / "notgpkg.gpkg"), str(g)],
            "diff: error: {t}/notgpkg.gpkg is not a GeoPackage (not an SQLite file)",
        ),
        (
            lambda t, g: ["export", "--format", "gpkg", "--gpkg", str(t / "notgpkg.gpkg"), "--out", str(t / "ex")],
            "export: error: {t}/notgpkg.gpkg is not a GeoPackage (not an SQLite file)",
        ),
        (
            lambda t, g: ["analyse", "--gpkg", str(t / "notgpkg.gpkg"), "--out", str(t / "an")],
            "analyse: error: {t}/notgpkg.gpkg is not a GeoPackage (not an SQLite file)",
        ),
        (
            lambda t, g: ["export", "--format", "gpkg", "--gpkg", str(t / "folder"), "--out", str(t / "ex")],
            "export: error: {t}/folder is a folder, not a GeoPackage",
        ),
        (
            lambda t, g: ["indicators", "--gpkg", str(g), "--landcover", str(t / "notraster.tif")],
            "indicators: error: '{t}/notraster.tif' not recognized as being in a supported file format",
        ),
        (
            lambda t, g: ["indicators", "--gpkg", str(t / "missing.gpkg")],
            "indicators: error: no GeoPackage at {t}/missing.gpkg",
        ),
        (
            lambda t, g: ["build", "--layers", "nosuch", "--out", str(t / "x.gpkg")],
            "build: error: unknown layer(s) ['nosuch']; known layers: boundary, districts",
        ),
        (
            lambda t, g: ["build", "--source", "extract", "--out", str(t / "x.gpkg")],
            "build: error: --source extract needs the extract FILE",
        ),
        (
            lambda t, g: ["export", "--gpkg", str(g), "--out", str(t / "ex"), "--layers", "nosuch"],
            "export: error: unknown layer(s) ['nosuch']",
        ),
        (
            lambda t, g: ["maps", "--gpkg", str(g), "--out", str(t / "m"), "--maps", "nosuch"],
            "maps: error: unknown map(s) ['nosuch']",
        ),
        (
            lambda t, g: ["import-layer", "nosuch", str(t / "afile"), "--check"],
            "import-layer: error: no layer 'nosuch' in the catalog",
        ),
        (
            lambda t, g: ["import-layer", "airport", str(t / "afile"), "--check", "--map-fields", "junk"],
            "import-layer: error: --map-fields item 'junk' is not CATALOG_FIELD=FILE_FIELD",
        ),
        (
            lambda t, g: ["import-layer", "airport", str(t / "afile"), "--check", "--map-fields", "name_zh=geometry"],
            "import-layer: error: --map-fields item 'name_zh=geometry': the geometry is not an attribute",
        ),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(make_args, expected, built_gpkg, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    (tmp_path / "notgpkg.gpkg").write_text("this is not a GeoPackage")
    (tmp_path / "notraster.tif").write_text("this is not a GeoTIFF")
    assert main(make_args(tmp_path, built_gpkg)) == 2
    line = _error_line(capsys)
    assert line.startswith("tjspatial " + expected.format(t=tmp_path)), line
    assert not list((tmp_path / "folder").iterdir())  # no temporary file left behind


def test_debug_shows_the_traceback_of_a_user_error(tmp_path):
    (tmp_path / "notgpkg.gpkg").write_text("x")
    with pytest.raises(GeoPackageError, match="not a GeoPackage"):
        main(["--debug", "diff", str(tmp_path / "notgpkg.gpkg"), str(tmp_path / "notgpkg.gpkg")])
    with pytest.raises(GeoPackageError):  # also after the sub-command
        main(["diff", str(tmp_path / "notgpkg.gpkg"), str(tmp_path / "notgpkg.gpkg"), "--debug"])


@pytest.mark.parametrize("bug", [KeyError("name_zh"), ValueError("bad shape"), TypeError("x"), AttributeError("y")])
def test_bugs_keep_their_traceback(bug, monkeypatch):
    def broken(args):
        raise bug

    monkeypatch.setitem(cli.COMMANDS, "catalog", (cli.COMMANDS["catalog"][0], broken))
    with pytest.raises(type(bug)):
        main(["catalog"])


def test_subprocess_reports_bad_input_without_traceback(tmp_path):
    bad = tmp_path / "notgpkg.gpkg"
    bad.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "tjspatial.cli", "diff", str(bad), str(bad)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"tjspatial diff: error: {bad} is not a GeoPackage (not an SQLite file)"


def test_user_error_messages_of_os_errors():
    import errno

    msg = cli.user_error_message
    assert (
        msg(OSError(errno.ENOSPC, "No space left on device", "/data/out.gpkg"))
        == "/data/out.gpkg: no space left on device"
    )
    assert (
        msg(OSError(errno.EROFS, "Read-only file system", "/ro/.tianjin.tmp-123.gpkg")) == "/ro/: read-only file system"
    )
    assert msg(PermissionError(errno.EACCES, "Permission denied", "/x/y.csv")) == "/x/y.csv: Permission denied"
    assert msg(OSError(errno.EROFS, "Read-only file system", "/ro/.maps.staging-77")) == "/ro/: read-only file system"
    assert (
        msg(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
        == "cannot decode text as utf-8 (invalid start byte at byte 0); check the file's encoding"
    )
    assert msg(KeyError("name_zh")) is None and msg(ValueError("x")) is None


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()})")


@pytest.mark.parametrize(
    "options, expected",
    [
        ("size=200k", "/tianjin.gpkg: the disk is full ("),
        ("ro,size=100k", "read-only file system"),
    ],
)
def test_full_or_read_only_disk_is_one_line(options, expected, tmp_path, capsys):
    mnt = tmp_path / "mnt"
    _mount_tmpfs(mnt, options)
    try:
        rc = main(["build", "--quiet", "--out", str(mnt / "tianjin.gpkg")])
        line = _error_line(capsys)
        assert rc == 2 and expected in line, line
        assert list(mnt.iterdir()) == []  # nothing half-written left
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_osm_options_are_declared_once_and_typed():
    from tjspatial.settings import DEFAULT_TIMEOUT, OSM_OPTIONS, OsmSettings

    parser = cli.make_parser()
    build_help = parser._subparsers._group_actions[0].choices["build"].format_help()
    walk_help = parser._subparsers._group_actions[0].choices["walk-network"].format_help()
    for spec in OSM_OPTIONS.values():
        assert spec["flag"] in build_help
    assert f"(default {DEFAULT_TIMEOUT:g})" in " ".join(walk_help.split()) and "--strict" not in walk_help
    args = parser.parse_args(["build", "--source", "osm", "--retries", "0", "--timeout", "30", "--offline"])
    settings = OsmSettings.from_args(args)
    assert settings.retries == 0 and settings.timeout == 30.0 and settings.offline and settings.osm_date is None
    assert cli._osm_options(args) == {"retries": 0, "timeout": 30.0, "offline": True}


def test_commands_report_tjspatial_warnings_once_and_library_noise_never():
    import warnings

    from tjspatial.publish.shapefile import LongValueWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            warnings.warn("layer 'x', field 'plan_ref': 2 value(s) longer than 254 bytes", LongValueWarning)
        warnings.warn("old API", DeprecationWarning)
        warnings.warn_explicit("numeric noise", RuntimeWarning, "/usr/lib/numpy/core.py", 1)
    assert cli._own_warnings(caught) == ["layer 'x', field 'plan_ref': 2 value(s) longer than 254 bytes"]
    assert cli._own_warnings(caught, skip=["layer 'x', field 'plan_ref': 2 value(s) longer than 254 bytes"]) == []
