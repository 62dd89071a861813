"""The layers of the package and what may import what (DEVELOPERS.md, "Layers"): a lower layer never imports
a higher one, not even inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "tjspatial"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "paths", "atomic", "settings", "crs", "names", "locks")),
    ("catalog and storage", ("catalog", "styles", "validate", "gpkg")),
    ("sources", ("build_context", "sources", "plan")),
    ("build", ("build",)),
    ("layers", ("io",)),
    ("analysis", ("analysis", "diff", "docs")),
    ("publish and export", ("publish", "importer")),
    ("pipeline", ("pipeline",)),
    ("command and public API", ("cli", "__init__")),
]
"""Bottom to top. A module may import modules of its own layer and of the layers below it."""


def _layer_of(module: str) -> int:
    """Index in LAYERS of a dotted module name relative to the package (``analysis.run`` → analysis)."""
    head = module.split(".")[0]
    for i, (_, members) in enumerate(LAYERS):
        if head in members:
            return i
    raise AssertionError(f"module tjspatial.{module} is in no layer of tests/test_architecture.py: add it")


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(name: str, path: Path) -> set[str]:
    """Package-relative names of the tjspatial modules ``name`` imports (anywhere in the file)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    if name == "__init__":
        base = []
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(anchor + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("tjspatial"):
                mod = node.module[len("tjspatial.") :] if node.module != "tjspatial" else ""
            else:
                continue
            if node.module:
                found.add(mod)
            else:  # from . import x: x is a module of that package
                found.update(".".join(anchor + [a.name]) for a in node.names)
            if node.module == "tjspatial":  # from tjspatial import x
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name[len("tjspatial.") :] for a in node.names if a.name.startswith("tjspatial."))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).startswith("tjspatial")
        ):
            found.add(str(node.args[0].value)[len("tjspatial.") :] or "__init__")
    return found


def test_every_module_has_a_layer():
    for name in _modules():
        _layer_of(name if name else "__init__")


def test_no_module_imports_a_higher_layer():
    upward = []
    for name, path in sorted(_modules().items()):
        mine = _layer_of(name or "__init__")
        for target in sorted(_imports(name, path)):
            try:
                theirs = _layer_of(target)
            except AssertionError:
                continue  # a name imported from a package (from . import x) that is not a module
            if theirs > mine:
                upward.append(f"tjspatial.{name} ({LAYERS[mine][0]}) imports tjspatial.{target} ({LAYERS[theirs][0]})")
    assert upward == []


def test_the_import_checker_sees_lazy_and_relative_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text(
        "from ..build import build\nfrom . import zones\ndef f():\n    from ..publish.export import export\n"
        "    import importlib\n    importlib.import_module('tjspatial.cli')\n",
        encoding="utf-8",
    )
    assert _imports("analysis.x", f) == {"build", "analysis.zones", "publish.export", "cli"}


LIST_ALLOWED = {
    # file: why it may list layer ids
    "analysis/population.py": "the population model's inputs (kernel layers, uninhabited-land factors) are "
    "model parameters calibrated with the model, not a list of layers to show",
}


def test_no_module_keeps_its_own_list_of_layers():
    """Lists, tuples, sets and dict keys of two or more catalog layer ids live in the catalog (roles such as
    ``coverage_label``, map specs, themes), not in code; the builders (sources/, plan/) are exempt."""
    import tjspatial as tj

    ids = set(tj.get_catalog().ids)
    found = []
    for f in sorted(PKG.rglob("*.py")):
        rel = str(f.relative_to(PKG))
        if rel.startswith(("sources/", "plan/")) or rel == "catalog.py" or rel in LIST_ALLOWED:
            continue
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                elts = node.elts
            elif isinstance(node, ast.Dict):
                elts = [k for k in node.keys if k is not None]
            else:
                continue
            hits = [e.value for e in elts if isinstance(e, ast.Constant) and e.value in ids]
            if len(hits) >= 2:
                found.append(f"tjspatial/{rel}:{node.lineno} {hits}")
    assert found == [], "declare these in layers/catalog (e.g. a role key read through tjspatial.catalog)"


def test_coverage_areas_come_from_the_catalog():
    import tjspatial as tj

    assert tj.get_catalog().coverage_areas() == {
        "boundary": "name_zh",
        "districts": "name_zh",
        "zones": "zone",
        "dual_city": "city",
    }


QUOTED_ID_ALLOWED = {
    # (file, quoted string): why it may stay
    ("publish/webmap.py", "water"): "the id of a part of the offline base map (sea, land, water, district_lines)",
    ("analysis/network_coverage.py", "nodes"): "the node count in a saved walk network's metadata table",
    ("analysis/run.py", "dual_city"): "the name of an output (dual_city.csv, the dual-city travel times)",
    ("analysis/population.py", "boundary"): "the documented default of population(window=...), a layer id",
    **{
        ("analysis/population.py", lid): "UNINHABITED_FACTORS: parameters of the population model, calibrated "
        "with it (as LIST_ALLOWED says)"
        for lid in ("port_districts", "airport", "wetlands")
    },
}

QUOTED_ID_TODO: dict[str, int] = {
    # files still quoting layer ids (ask tjspatial.catalog: role_id(role), Catalog.layer_for, overlays):
    # file -> count still allowed. Empty: keep it so.
}


def _quoted_layer_ids(path: Path, ids: set[str]) -> list[tuple[int, str]]:
    """(line, id) of every string constant in ``path`` that is a catalog layer or overlay id (docstrings aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ids
        if id(node) not in docstrings
    )


def test_no_quoted_layer_ids_outside_the_catalog_and_builders():
    """Code names a layer by what it needs it for (a catalog role: ``cat.layer_for("municipality").id``), not by
    its id; the catalog (catalog.py), the builders (sources/, plan/, build.py) and the tests are exempt."""
    import tjspatial as tj

    cat = tj.get_catalog()
    ids = set(cat.ids) | {o.id for o in cat.overlays}
    over = []
    for f in sorted(PKG.rglob("*.py")):
        rel = str(f.relative_to(PKG))
        if rel.startswith(("sources/", "plan/")) or rel in ("catalog.py", "build.py"):
            continue
        hits = [(line, v) for line, v in _quoted_layer_ids(f, ids) if (rel, v) not in QUOTED_ID_ALLOWED]
        if len(hits) > QUOTED_ID_TODO.get(rel, 0):
            over.append(
                f"tjspatial/{rel}: {len(hits)} quoted layer id(s) (allowed {QUOTED_ID_TODO.get(rel, 0)}): {hits}"
            )
    assert over == [], "ask the catalog for the layer of a role (tjspatial.catalog.ROLES) instead"


def test_the_quoted_id_checker_skips_docstrings_and_sees_code(tmp_path):
    f = tmp_path / "x.py"
    f.write_text('"""The boundary."""\ndef f(cat):\n    """Uses "boundary"."""\n    return cat["boundary"]\n')
    assert _quoted_layer_ids(f, {"boundary"}) == [(4, "boundary")]


BUILTIN_RAISE_ALLOWED = {
    # (file, line text) that may raise a built-in exception: why it is not a user-facing error
    ("plan/shapes.py", "ValueError"): "inside the plan builders; build() reports it as a BuildError naming the layer",
    ("publish/shapefile.py", "ValueError"): "an internal invariant of the DBF writer (a bug if reached)",
    ("analysis/coverage.py", "TypeError"): "a wrong Python type for stations/areas/population: a caller's bug",
    ("analysis/indicators.py", "ValueError"): "indicators() row builder: 'met'/'not met' without a target is a bug",
    ("analysis/population.py", "TypeError"): "a wrong source type or unknown model keyword (Python API only): a bug",
    (
        "analysis/population.py",
        "RuntimeError",
    ): "model tiling invariant, checked after _refuse_overlaps (a bug if reached)",
}

BUILTIN_RAISE_TODO: dict[str, int] = {
    # file -> count of plain built-in raises still allowed; it may only shrink (analysis/* done in #12)
}

_BUILTIN_ERRORS = {"ValueError", "TypeError", "KeyError", "RuntimeError", "FileNotFoundError", "OSError", "Exception"}


def test_every_deliberate_error_is_a_tjspatial_error():
    """User-facing errors are :class:`tjspatial.errors.TjSpatialError` subclasses (which may also derive from
    the built-in class, e.g. ``InputError`` is a ``ValueError``), so the CLI reports them in one line and
    anything else surfaces as a bug with its traceback. Private exception classes (``_Retry``: control flow
    caught inside its module) are exempt."""
    over = []
    for f in sorted(PKG.rglob("*.py")):
        rel = str(f.relative_to(PKG))
        found = []
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                call = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                name = getattr(call, "id", None)
                if name in _BUILTIN_ERRORS and (rel, name) not in BUILTIN_RAISE_ALLOWED:
                    found.append(f"{node.lineno}: {name}")
            elif isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") in _BUILTIN_ERRORS for b in node.bases):
                if not node.name.startswith(("_", "TjSpatialError")) and not any(
                    getattr(b, "id", "") == "TjSpatialError" for b in node.bases
                ):
                    found.append(f"{node.lineno}: class {node.name} is not a TjSpatialError")
        if len(found) > BUILTIN_RAISE_TODO.get(rel, 0):
            over.append(f"tjspatial/{rel}: {found} (allowed {BUILTIN_RAISE_TODO.get(rel, 0)})")
    assert over == [], "raise a tjspatial.errors class (InputError, MissingFileError, ...) naming layer/file/field"


LAYER_CONSTRUCTED_TODO: dict[str, int] = {
    # files that still build a catalog Layer(...) in code; declare it as an [[overlay]] instead (may only shrink)
}


def test_layers_are_declared_in_the_catalog_not_built_in_code():
    """Analysis overlays are ``[[overlay]]`` declarations (``Catalog.overlay_for``); only catalog.py makes a
    :class:`~tjspatial.catalog.Layer`."""
    over = []
    for f in sorted(PKG.rglob("*.py")):
        rel = str(f.relative_to(PKG))
        if rel == "catalog.py":
            continue
        calls = [
            node.lineno
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Layer"
        ]
        if len(calls) > LAYER_CONSTRUCTED_TODO.get(rel, 0):
            over.append(f"tjspatial/{rel}: Layer(...) at lines {calls}")
    assert over == []
