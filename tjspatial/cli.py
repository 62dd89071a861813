"""The ``tjspatial`` command: thin wrappers over the public API.

Each sub-command is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and
``_run_<name>(args)`` calls the API. Register new commands in :data:`COMMANDS`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import TjSpatialError


# ------------------------------------------------------------------------------------------------ build
def _add_build(sub) -> None:
    p = sub.add_parser("build", help="build the GeoPackage of every catalog layer",
                       description="Build every catalog layer, validate it, and write layers/tianjin.gpkg "
                                   "atomically (a failed build keeps the previous file).")
    p.add_argument("--source", choices=["bundled", "osm", "extract"], default="bundled",
                   help="where layers come from (default: the bundled files)")
    p.add_argument("extract", nargs="?", help="OSM extract file (.osm, .osm.gz, .osm.bz2, .osm.pbf) "
                                              "with --source extract")
    p.add_argument("--out", type=Path, help="target GeoPackage (default layers/tianjin.gpkg)")
    p.add_argument("--layers", help="comma-separated layer ids to build (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _run_build(args) -> int:
    from .build import build
    options = {}
    if args.source == "extract":
        if not args.extract:
            raise SystemExit("tjspatial build --source extract needs the extract FILE")
        options["extract"] = Path(args.extract)
    for key in ("osm_date", "overpass_url", "cache_dir", "offline", "timeout", "retries"):
        if getattr(args, key, None) not in (None, False):
            options[key] = getattr(args, key)
    layers = args.layers.split(",") if args.layers else None
    out = build(source=args.source, out=args.out, layers=layers, quiet=args.quiet, options=options)
    if args.quiet:
        print(out)
    return 0


# ------------------------------------------------------------------------------------------------ catalog
def _add_catalog(sub) -> None:
    p = sub.add_parser("catalog", help="list the catalog's layers")
    p.add_argument("--csv", action="store_true", help="print the full catalog as CSV")


def _run_catalog(args) -> int:
    from .catalog import catalog
    df = catalog()
    if args.csv:
        df.to_csv(sys.stdout, index=False)
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


COMMANDS = {
    "build": (_add_build, _run_build),
    "catalog": (_add_catalog, _run_catalog),
    "dictionary": (_add_dictionary, _run_dictionary),
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tjspatial", description="Tianjin 14th Five-Year Plan spatial layers: "
                                                                  "build, analyse, publish.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    _, run = COMMANDS[args.command]
    try:
        return run(args)
    except (TjSpatialError, KeyError, FileNotFoundError, ValueError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"tjspatial {args.command}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
