"""The ``tjspatial`` command: thin wrappers over the public API.

Each sub-command is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and
``_run_<name>(args)`` calls the API. Register new commands in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import TjSpatialError, UsageError


# ------------------------------------------------------------------------------------------------ build
def _add_build(sub) -> None:
    p = sub.add_parser(
        "build",
        help="build the GeoPackage of every catalog layer",
        description="Build every catalog layer, validate it, and write layers/tianjin.gpkg "
        "atomically (a failed build keeps the previous file).",
    )
    p.add_argument(
        "--source",
        choices=["bundled", "osm", "extract"],
        default="bundled",
        help="where layers come from (default: the bundled files)",
    )
    p.add_argument(
        "extract", nargs="?", help="OSM extract file (.osm, .osm.gz, .osm.bz2, .osm.pbf) with --source extract"
    )
    p.add_argument("--out", type=Path, help="target GeoPackage (default layers/tianjin.gpkg)")
    p.add_argument("--layers", help="comma-separated layer ids to build (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    _add_osm_options(p.add_argument_group("OpenStreetMap (--source osm / extract)"))


def _add_osm_options(group, only=None) -> None:
    """Declare the OSM options (:data:`tjspatial.settings.OSM_OPTIONS`, declared once) on ``group``."""
    from .settings import OSM_OPTIONS

    for name, spec in OSM_OPTIONS.items():
        if only is not None and name not in only:
            continue
        kw = {k: v for k, v in spec.items() if k != "flag"}
        if kw.get("type") == "seconds":
            kw["type"] = _positive_seconds
        group.add_argument(spec["flag"], dest=name, **kw)


def _positive_seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds (``0``, ``-5``, ``inf``, ``nan`` refused)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _osm_options(args) -> dict:
    """The OSM options given on the command line, as ``tj.build``'s ``options`` (unset ones left out)."""
    from dataclasses import replace
    from .settings import OsmSettings

    return replace(OsmSettings.from_args(args), extract=None).as_options()  # each command places its extract


def _run_build(args) -> int:
    from .build import build

    options = _osm_options(args)
    if args.source == "extract":
        if not args.extract:
            raise UsageError("--source extract needs the extract FILE (tjspatial build --source extract FILE)")
        options["extract"] = Path(args.extract)
    layers = args.layers.split(",") if args.layers else None
    out = build(source=args.source, out=args.out, layers=layers, quiet=args.quiet, options=options)
    if args.quiet:
        print(out)
    return 0


def _print_csv(df) -> None:
    """Print ``df`` as CSV in UTF-8 with a byte-order mark, whatever the console encoding (Excel on Chinese
    Windows reads a file redirected from it as UTF-8)."""
    text = df.to_csv(index=False)
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write("\ufeff" + text)
        return
    sys.stdout.flush()
    buffer.write(text.encode("utf-8-sig"))
    buffer.flush()


# ------------------------------------------------------------------------------------------------ catalog
def _add_catalog(sub) -> None:
    p = sub.add_parser("catalog", help="list the catalog's layers")
    p.add_argument("--csv", action="store_true", help="print the full catalog as CSV")


def _run_catalog(args) -> int:
    from .catalog import catalog

    df = catalog()
    if args.csv:
        _print_csv(df)
    else:
        for row in df.itertuples():
            print(f"{row.id:<18} {row.accuracy:<10} {row.geometry_type:<10} {row.title_zh} / {row.title_en}")
    return 0


# ------------------------------------------------------------------------------------------------ dictionary
def _add_dictionary(sub) -> None:
    p = sub.add_parser("dictionary", help="regenerate the data dictionary layers/README.md from the catalog")
    p.add_argument("--check", action="store_true", help="only check that layers/README.md is current")


def _run_dictionary(args) -> int:
    from .docs import dictionary_is_current, write_data_dictionary

    if args.check:
        ok = dictionary_is_current()
        print("layers/README.md is current" if ok else "layers/README.md is stale: run `tjspatial dictionary`")
        return 0 if ok else 1
    print(write_data_dictionary())
    return 0


# ------------------------------------------------------------------------------------------------ diff
def _add_diff(sub) -> None:
    p = sub.add_parser(
        "diff",
        help="compare two GeoPackages layer by layer",
        description="Per layer: features added, removed and changed, and the change in count, "
        "length (km) and area (km²), measured in EPSG:4548.",
    )
    p.add_argument("old", type=Path, help="the GeoPackage before (e.g. the published one)")
    p.add_argument("new", type=Path, help="the GeoPackage after (e.g. a refresh from OSM)")
    p.add_argument("--layers", help="comma-separated layer ids (default: every layer in either file)")
    p.add_argument(
        "--features",
        action="store_true",
        help="also list each added, removed and changed feature (changed fields old → new, metres moved, "
        "area/length ratio)",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=20,
        help="list at most this many features per layer and kind of change (default 20; 0 = all)",
    )
    p.add_argument("--csv", action="store_true", help="print the per-layer table as CSV")


def _run_diff(args) -> int:
    from .diff import diff_gpkg, diff_layer, format_diff, format_features

    df = diff_gpkg(args.old, args.new, layers=args.layers.split(",") if args.layers else None)
    if args.csv:
        _print_csv(df)
    else:
        print(format_diff(df, limit=args.limit))
    if args.features:
        for row in df[(df["status"] == "changed")].itertuples():
            d = diff_layer(args.old, args.new, row.layer)
            print(f"\n{row.layer} (matched by {d.attrs['key']}):")
            print("\n".join(format_features(d, limit=args.limit)))
    return 0


# ------------------------------------------------------------------------------------------------ walk-network
def _add_walk_network(sub) -> None:
    p = sub.add_parser(
        "walk-network",
        help="save the walkable street network from OSM (GraphML, or a GeoPackage/Parquet edge table)",
        description="Fetch (Overpass) or read (extract) the walkable ways of Tianjin and save them as an osmnx "
        "GraphML graph for network-based catchments; with --out FILE.gpkg or FILE.parquet also as a compact edge "
        "table (node coordinates in the metric CRS, edge lengths in metres) that `analyse --walk-graph` loads in "
        "seconds without networkx.",
    )
    p.add_argument("--extract", type=Path, help="OSM extract (.osm, .osm.gz, .osm.bz2, .osm.pbf) instead of Overpass")
    p.add_argument(
        "--out",
        type=Path,
        help="GraphML file (default layers/osm_cache/walk_network.graphml), or a .gpkg / .parquet edge table "
        "(the GraphML then stays in the OSM cache folder)",
    )
    _add_osm_options(
        p.add_argument_group("OpenStreetMap"),
        only=("osm_date", "overpass_url", "cache_dir", "offline", "timeout", "deadline", "retries"),
    )


def _run_walk_network(args) -> int:
    from .analysis.network_coverage import WalkNetwork
    from .sources.osm import build_walk_graph

    options = _osm_options(args)
    table = args.out if args.out is not None and args.out.suffix.lower() in (".gpkg", ".parquet") else None
    graphml = build_walk_graph(
        source="extract" if args.extract else "osm",
        extract=args.extract,
        out=None if table else args.out,
        options=options,
    )
    net = WalkNetwork.load(graphml)
    if table is not None:
        net.save(table, source=f"OpenStreetMap walk network ({graphml.name})")
        print(f"{graphml}: GraphML (import format)")
    print(f"{table or graphml}: {len(net.xy)} nodes, {len(net.u)} streets ({net.crs})")
    return 0


# ------------------------------------------------------------------------------------------------ import-layer
def _add_import_layer(sub) -> None:
    p = sub.add_parser(
        "import-layer",
        help="replace a layer with an official file (validated, converted, recorded)",
        description="Check FILE against LAYER's catalog schema, convert it to EPSG:4326, record it "
        "in layers/imports/ with its provenance, and rebuild the GeoPackage. A file in "
        "the wrong CRS, with missing fields, empty or invalid geometries, or features "
        "outside Tianjin is refused with a message naming the problem.",
    )
    p.add_argument("layer", help="catalog layer id (see `tjspatial catalog`)")
    p.add_argument("file", nargs="?", type=Path, help="shapefile, GeoJSON, GeoPackage, … (omit with --remove)")
    p.add_argument(
        "--crs",
        default="auto",
        help="auto (the file's CRS; lon/lat files are checked for GCJ-02), gcj02, bd09 or EPSG:xxxx "
        "(for a file without a CRS); default auto",
    )
    p.add_argument(
        "--map-fields",
        default="",
        metavar="FIELD=COLUMN,...",
        help="catalog field = file column pairs, e.g. name_zh=NAME,area_official_km2=AREA",
    )
    p.add_argument("--accuracy", default="official", help="accuracy class of the file (default official)")
    p.add_argument(
        "--encoding",
        help="text encoding of the file's attributes, e.g. gbk (default: the file's .cpg; "
        "a shapefile without one is read as UTF-8 or GBK when its text decodes so)",
    )
    p.add_argument("--imports-dir", type=Path, help="where imports are recorded (default layers/imports)")
    p.add_argument("--out", type=Path, help="GeoPackage to rebuild (default layers/tianjin.gpkg)")
    p.add_argument(
        "--no-inherit",
        action="store_true",
        help="do not fill missing fields from the current layer's features of the same name_zh",
    )
    p.add_argument("--check", action="store_true", help="validate and convert only; record nothing")
    p.add_argument("--remove", action="store_true", help="forget the recorded import of LAYER and rebuild")
    p.add_argument("--quiet", action="store_true", help="no build progress output")


def _run_import_layer(args) -> int:
    from .importer import check_import, import_layer, remove_import

    if args.remove:
        out = remove_import(args.layer, imports_dir=args.imports_dir, out=args.out, quiet=args.quiet)
        print(f"removed the import of {args.layer}; rebuilt {out}")
        return 0
    if args.file is None:
        raise UsageError("import-layer needs FILE (or --remove)")
    kw = dict(
        crs=args.crs,
        field_map=args.map_fields,
        accuracy=args.accuracy,
        inherit=not args.no_inherit,
        encoding=args.encoding,
    )
    if args.check:
        res = check_import(args.layer, args.file, gpkg=args.out, **kw)
    else:
        res = import_layer(args.layer, args.file, imports_dir=args.imports_dir, out=args.out, quiet=args.quiet, **kw)
    rec = res.record
    print(
        f"{'checked' if args.check else 'imported'} {rec['features']} feature(s) of {args.file} as layer "
        f"{args.layer!r}: CRS {rec['crs_detected']} ({rec['conversion']}), accuracy {rec['accuracy']}"
    )
    for name, how in rec["fields_filled"].items():
        if how != "file":
            print(f"  field {name}: {how}")
    for w in res.warnings:
        print(f"  warning: {w}")
    if res.stored:
        print(f"recorded in {res.stored} (provenance: {res.stored.parent / 'imports.json'})")
    if res.gpkg:
        print(f"rebuilt {res.gpkg}")
    return 0


# ------------------------------------------------------------------------------------------------ export
def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export layers for QGIS and CAD: styled GeoPackage + .qgz, shapefiles, GeoJSON, DXF, KML",
        description="Write the catalog layers to DIR: tianjin.gpkg (each layer with its QGIS style "
        "as default and its metadata) and tianjin.qgz (project in EPSG:4548 with map "
        "themes, bookmarks and A3 print layouts), shp/ (UTF-8 shapefiles with .qml, "
        ".qmd and a field map CSV), geojson/ (RFC 7946), dxf/ (CAD, metres, GBK), kml/, "
        "layers.csv (UTF-8 with BOM) and export-manifest.json (sha256 of every file). "
        "The folder is written whole through a staging folder; --layers into an "
        "existing export updates those layers and keeps the others.",
    )
    p.add_argument(
        "--format",
        dest="fmt",
        default="all",
        help="gpkg, shp, geojson, dxf, kml or all (= gpkg,shp,geojson); several comma-separated (default: all)",
    )
    p.add_argument(
        "--crs",
        default=None,
        help="CRS of the coordinates in GeoPackage, shapefiles and DXF, e.g. EPSG:4548 (CGCS2000 "
        "metres); default EPSG:4326 (DXF: EPSG:4548). GeoJSON and KML stay WGS 84",
    )
    p.add_argument("--out", type=Path, required=True, help="target folder (created if needed)")
    p.add_argument("--gpkg", type=Path, help="GeoPackage to read (default layers/tianjin.gpkg)")
    p.add_argument("--layers", help="comma-separated layer ids (default: every catalog layer)")
    p.add_argument(
        "--refuse-long-values",
        action="store_true",
        help="shapefiles: refuse text over 254 bytes instead of splitting it into extra fields",
    )


def _own_warnings(caught, skip=()) -> list[str]:
    """tjspatial's own warnings among ``caught`` (its warning classes, or warned from its modules), each message
    once and not already in ``skip``; library warnings (deprecations, numeric noise) are left out."""
    pkg = str(Path(__file__).resolve().parent)
    out: list[str] = []
    for w in caught:
        ours = w.category.__module__.startswith("tjspatial") or str(w.filename).startswith(pkg)
        msg = str(w.message)
        if ours and issubclass(w.category, UserWarning) and msg not in out and msg not in skip:
            out.append(msg)
    return out


def _run_export(args) -> int:
    import warnings
    from .publish.export import export

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = export(
            args.fmt,
            args.out,
            gpkg=args.gpkg,
            layers=args.layers.split(",") if args.layers else None,
            long_values="refuse" if args.refuse_long_values else "split",
            crs=args.crs,
        )
    for msg in _own_warnings(caught):
        print(f"tjspatial export: warning: {msg}", file=sys.stderr)
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


# ------------------------------------------------------------------------------------------------ indicators
def _add_indicators(sub) -> None:
    p = sub.add_parser(
        "indicators",
        help="the plan's spatial targets: value from the layers, target, status",
        description="Every quantitative spatial target of the plan with the value the layers give, "
        "the target and a status (met / not met / not measurable / baseline / no target, with the reason).",
    )
    p.add_argument("--gpkg", type=Path, help="GeoPackage to read (default layers/tianjin.gpkg)")
    p.add_argument("--landcover", type=Path, help="land-cover GeoTIFF (IGBP classes) for forest cover")
    p.add_argument("--csv", action="store_true", help="print CSV (UTF-8 with BOM) instead of a table")


def _run_indicators(args) -> int:
    from .analysis.indicators import indicators

    df = indicators(args.gpkg, landcover=args.landcover)
    if args.csv:
        _print_csv(df)
        return 0
    for row in df.itertuples():
        value = "—" if row.value is None or row.value != row.value else f"{row.value:,.2f}"
        print(f"{row.status:<15} {row.name_zh} / {row.name_en}: {value} {row.unit} (target {row.target})")
        print(f"{'':<15} {row.note}")
    return 0


# ------------------------------------------------------------------------------------------------ analyse
def _add_analyse(sub) -> None:
    p = sub.add_parser(
        "analyse",
        help="run the standard analyses; write CSV tables and GeoTIFF surfaces",
        description="Coverage (buffer, 500/800/1000 m), the plan-scenario delta, indicators, rail "
        "times, travel-time and distance surfaces (100 m, EPSG:4548), isochrones, "
        "rings and conflicts around the ecological zones. Files are written atomically.",
    )
    p.add_argument("--gpkg", type=Path, help="GeoPackage to read (default layers/tianjin.gpkg)")
    p.add_argument("--out", type=Path, help="output folder (default out/analysis)")
    p.add_argument(
        "--population",
        help="population GeoTIFF, polygon layer id, or a fetched grid (worldpop, ghsl, "
        "globpop, aspect: see `tjspatial population fetch`); default: the modelled grid",
    )
    p.add_argument("--landcover", type=Path, help="land-cover GeoTIFF for the forest-cover indicator")
    p.add_argument(
        "--walk-graph",
        type=Path,
        help="walk network (tjspatial walk-network): a .gpkg or .parquet edge table, or GraphML, for ITDP "
        "network coverage by district",
    )


def _run_analyse(args) -> int:
    import warnings

    from .analysis.run import analyse

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opts = {"population": args.population, "landcover": args.landcover, "graph": args.walk_graph}
        written = analyse(args.gpkg, args.out, quiet=False, **opts)
    for msg in _own_warnings(caught):  # e.g. a hub missing from rail_stations: what was not computed (#11)
        print(f"tjspatial analyse: warning: {msg}", file=sys.stderr)
    from .analysis.run import default_out_dir
    from .paths import default_gpkg
    from .publish.analysis_outputs import record_analysis

    # what the outputs were computed from, so that `tjspatial maps` can reuse them (#15)
    written["record"] = record_analysis(
        args.out or default_out_dir(),
        args.gpkg or default_gpkg(),
        written,
        population=args.population,
        landcover=args.landcover,
        graph=args.walk_graph,
    )
    for key, path in written.items():
        print(f"{key:<22} {path}")
    return 0


# ------------------------------------------------------------------------------------------------ population
def _add_population(sub) -> None:
    p = sub.add_parser(
        "population",
        help="fetch a real population grid (WorldPop, GHSL, GlobPOP, ASPECT)",
        description="Download a public population grid once (resumable, SHA-256 checked, cached), "
        "clip it to Tianjin and record its source, licence and year; then "
        "`tjspatial analyse --population <source>` uses it.",
    )
    p.add_argument("action", choices=["fetch"], help="fetch: download and clip")
    p.add_argument("--source", required=True, choices=["worldpop", "ghsl", "globpop", "aspect"])
    p.add_argument("--url", help="download URL (overrides the product's; needed for aspect)")
    p.add_argument("--sha256", help="expected SHA-256 of the download")
    p.add_argument("--cache-dir", type=Path, help="cache folder (default out/cache/population)")
    p.add_argument("--gpkg", type=Path, help="GeoPackage whose boundary the grid is clipped to")


def _run_population(args) -> int:
    from .analysis.population_fetch import fetch_population

    out = fetch_population(args.source, path=args.gpkg, cache_dir=args.cache_dir, url=args.url, sha256=args.sha256)
    print(out)
    return 0


# ------------------------------------------------------------------------------------------------ maps
def _add_map_options(p) -> None:
    p.add_argument("--out", type=Path, help="site folder (default maps/)")
    p.add_argument("--gpkg", type=Path, help="GeoPackage to read (default layers/tianjin.gpkg)")
    edition = p.add_mutually_exclusive_group()
    edition.add_argument(
        "--offline",
        dest="offline",
        action="store_true",
        default=True,
        help="the offline edition (default): Leaflet and the plugins inlined, an offline base map "
        "drawn from the bundled layers; the maps open with no network",
    )
    edition.add_argument(
        "--cdn",
        dest="offline",
        action="store_false",
        help="the CDN edition: Leaflet and the plugins loaded from CDNs (needs a network)",
    )
    p.add_argument(
        "--gaode",
        action="store_true",
        help="also write <map>.gaode.html: GaoDe basemap, overlays shifted to GCJ-02 for display",
    )
    p.add_argument(
        "--tianditu-key",
        default=None,
        help="天地图 key (default: environment variable TIANDITU_KEY): adds 天地图 vector and imagery "
        "base maps with their annotation layers",
    )


def _print_site(res) -> None:
    for key, path in res.pages.items():
        size = path.stat().st_size
        print(f"{path}  {size / 1e6:6.2f} MB")
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"open {res.index}")


def _add_maps(sub) -> None:
    p = sub.add_parser(
        "maps",
        help="write the web maps and the gallery (maps/index.html)",
        description="Write every map declared in layers/catalog/90_maps.toml, the coverage and "
        "indicator pages, thumbnails and the gallery maps/index.html.",
    )
    _add_map_options(p)
    p.add_argument("--maps", help="comma-separated map ids (default: all)")
    p.add_argument("--no-thumbnails", dest="thumbnails", action="store_false", help="skip the PNG thumbnails")
    p.add_argument(
        "--analysis",
        type=Path,
        help="folder of `tjspatial analyse` outputs (default out/analysis): the coverage map and indicators "
        "page reuse them when they were computed from the same GeoPackage, else compute their own",
    )
    p.add_argument(
        "--recompute", action="store_true", help="compute coverage and indicators, ignoring the analysis outputs"
    )


def _run_maps(args) -> int:
    import warnings
    from .publish.site import write_site

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = write_site(
            args.out,
            args.gpkg,
            offline=args.offline,
            gaode=args.gaode,
            tianditu_key=args.tianditu_key,
            maps=args.maps.split(",") if args.maps else None,
            thumbnails=args.thumbnails,
            analysis_dir=args.analysis,
            reuse_analysis=not args.recompute,
            say=print,
        )
    res.warnings.extend(_own_warnings(caught, skip=res.warnings))
    _print_site(res)
    return 0


# ------------------------------------------------------------------------------------------------ publish
def _add_publish(sub) -> None:
    p = sub.add_parser(
        "publish",
        help="build (if needed), analyse, write the maps and export, in one go",
        description="The whole job: build layers/tianjin.gpkg when missing or incomplete, run "
        "tj.analyse, write the web maps and gallery, and export the styled "
        "GeoPackage, QGIS project and shapefiles.",
    )
    _add_map_options(p)
    p.add_argument("--rebuild", action="store_true", help="rebuild the GeoPackage even if it is complete")
    p.add_argument("--no-analyse", dest="analyse", action="store_false", help="skip tj.analyse")
    p.add_argument("--no-export", dest="export", action="store_false", help="skip the QGIS / file export")
    p.add_argument("--export-dir", type=Path, help="export folder (default export/ beside maps/)")


def _run_publish(args) -> int:
    import warnings
    from .pipeline import publish

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = publish(
            args.out,
            args.gpkg,
            offline=args.offline,
            gaode=args.gaode,
            tianditu_key=args.tianditu_key,
            rebuild=args.rebuild,
            analyse=args.analyse,
            export=args.export,
            export_dir=args.export_dir,
            say=print,
        )
    res.warnings.extend(_own_warnings(caught, skip=res.warnings))
    _print_site(res)
    if res.exported:
        print(f"exported {len(res.exported)} files")
    print("steps (s): " + ", ".join(f"{k[5:]} {v}" for k, v in res.seconds.items() if k.startswith("step_")))
    return 0


COMMANDS = {
    "build": (_add_build, _run_build),
    "catalog": (_add_catalog, _run_catalog),
    "import-layer": (_add_import_layer, _run_import_layer),
    "diff": (_add_diff, _run_diff),
    "walk-network": (_add_walk_network, _run_walk_network),
    "dictionary": (_add_dictionary, _run_dictionary),
    "export": (_add_export, _run_export),
    "indicators": (_add_indicators, _run_indicators),
    "analyse": (_add_analyse, _run_analyse),
    "population": (_add_population, _run_population),
    "maps": (_add_maps, _run_maps),
    "publish": (_add_publish, _run_publish),
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tjspatial",
        description="Tianjin 14th Five-Year Plan spatial layers: build, analyse, publish.",
        epilog="Bad input (a missing or unreadable file, an unknown layer, a full "
        "disk...) is reported in one line with exit code 2; --debug shows "
        "the traceback.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    for p in sub.choices.values():  # --debug also after the sub-command
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


# ------------------------------------------------------------------------------------------------ errors
_PARSE_ERRORS = (
    ("json", "JSONDecodeError"),
    ("tomllib", "TOMLDecodeError"),
    ("pandas.errors", "ParserError"),
    ("pandas.errors", "EmptyDataError"),
    ("csv", "Error"),
    ("xml.etree.ElementTree", "ParseError"),
)
"""Errors that mean a file given by the user could not be parsed (looked up only if their module is loaded)."""
_GDAL_ERRORS = (
    ("pyogrio.errors", "DataSourceError"),
    ("pyogrio.errors", "DataLayerError"),
    ("rasterio.errors", "RasterioError"),
    ("rasterio.errors", "RasterioIOError"),
    ("pyproj.exceptions", "CRSError"),
)
"""GDAL / PROJ errors: a file that is not what it claims, or cannot be opened or written."""


def _loaded(names) -> tuple[type, ...]:
    found = []
    for module, name in names:
        mod = sys.modules.get(module)
        cls = getattr(mod, name, None) if mod is not None else None
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def _where(name) -> str:
    """A file name for messages; a temporary ``.<stem>.tmp-<pid>`` file (or staging folder) is reported as
    its folder."""
    p = Path(str(name))
    temporary = p.name.startswith(".") and any(k in p.name for k in (".tmp-", ".staging-", ".old-"))
    return f"{p.parent}/" if temporary else str(p)


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an error caused by the user's input or machine, or ``None`` for a bug.

    User errors: every :class:`~tjspatial.errors.TjSpatialError`, file-system errors (``OSError``: missing,
    unreadable, read-only, full disk, a file where a folder is expected...), GDAL / PROJ errors (pyogrio,
    rasterio, pyproj) and parse errors of user files (JSON, TOML, CSV, XML, text encodings).
    """
    import errno

    if isinstance(exc, TjSpatialError):
        return str(exc)
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        target = exc.filename2 if exc.filename2 is not None else exc.filename
        if exc.errno == errno.ENOSPC:
            what = "no space left on device"
        elif isinstance(exc, (FileExistsError, NotADirectoryError)) and target is not None:
            what = "is a file, not a folder"
        elif isinstance(exc, IsADirectoryError) and target is not None:
            what = "is a folder, not a file"
        elif exc.errno == errno.EROFS:
            what = "read-only file system"
        return f"{_where(target)}: {what}" if target is not None else what
    if isinstance(exc, _loaded(_GDAL_ERRORS)):
        msg = str(exc).split("; It might help")[0].rstrip(". ")
        if "Failed to commit transaction" in msg:
            msg += " (is the disk full?)"
        return msg
    if isinstance(exc, UnicodeDecodeError):
        return f"cannot decode text as {exc.encoding} ({exc.reason} at byte {exc.start}); check the file's encoding"
    if isinstance(exc, _loaded(_PARSE_ERRORS)):
        return f"cannot parse input: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the ``tjspatial`` command; returns the exit code (0 ok, 2 bad input; a bug raises)."""
    args = make_parser().parse_args(argv)
    _, run = COMMANDS[args.command]
    try:
        return run(args)
    except KeyboardInterrupt:
        print(f"tjspatial {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        msg = user_error_message(exc)
        if msg is None or args.debug:
            raise  # a bug (or --debug): keep the traceback
        print(f"tjspatial {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
