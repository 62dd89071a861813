"""Code gates that run with the test suite (so ``.ci/run``'s ``python -m pytest`` runs them): ruff lint,
docstrings on every public name, numpydoc validation of the public API's parameters and return values."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tjspatial

ROOT = Path(__file__).resolve().parents[1]

NUMPYDOC_CHECKS = ("GL08", "PR01", "PR02", "PR07", "RT01")
"""No docstring; a parameter undocumented; documented but not a parameter; a parameter without a description
(the ``name : description`` form, which numpydoc reads as a type); no Returns section."""

NUMPYDOC_TODO: dict[str, dict[str, int]] = {
    # public functions of ``tj.*`` whose docstrings predate the gate: (name, check) -> count still allowed.
    # Empty: every ``tj.*`` function passes; keep it so.
}


def _ruff() -> list[str]:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.fail("ruff is not installed: `python -m pip install -e .[dev]` (it is a dev dependency)")
    return [sys.executable, "-m", "ruff"]


def test_ruff_lint_passes():
    """``ruff check`` with the rules in pyproject.toml ([tool.ruff.lint])."""
    proc = subprocess.run(
        [*_ruff(), "check", "--output-format", "concise", "tjspatial", "tests", "benchmarks"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean():
    """``ruff format --check``: the tree stays formatted as one (configured in pyproject.toml, [tool.ruff])."""
    proc = subprocess.run(
        [*_ruff(), "format", "--check", "tjspatial", "tests", "benchmarks"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_vulture_finds_no_dead_code():
    """Unused imports, variables, unreachable code (vulture, 80 % confidence and up). At lower confidence
    vulture lists builders and public API named only in the catalog or by users, so that level is not gated."""
    pytest.importorskip("vulture", reason="vulture is a dev dependency")
    proc = subprocess.run(
        [sys.executable, "-m", "vulture", "tjspatial", "--min-confidence", "80"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def _public_objects():
    for info in pkgutil.walk_packages(tjspatial.__path__, "tjspatial."):
        mod = importlib.import_module(info.name)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == mod.__name__:
                yield f"{mod.__name__}.{name}", obj


def test_every_public_function_and_class_has_a_docstring():
    missing = [name for name, obj in _public_objects() if not inspect.getdoc(obj)]
    assert missing == []


def test_public_api_docstrings_pass_numpydoc_validation():
    validate = pytest.importorskip("numpydoc.validate", reason="numpydoc is a dev dependency").validate
    worse = []
    for name in tjspatial.__all__:
        obj = getattr(tjspatial, name)
        if not inspect.isfunction(obj):
            continue
        found: dict[str, int] = {}
        for code, _msg in validate(f"{obj.__module__}.{obj.__qualname__}")["errors"]:
            if code in NUMPYDOC_CHECKS:
                found[code] = found.get(code, 0) + 1
        allowed = NUMPYDOC_TODO.get(name, {})
        for code, n in found.items():
            if n > allowed.get(code, 0):
                worse.append(f"tj.{name}: {n} x {code} (allowed {allowed.get(code, 0)})")
    assert worse == [], "fix these docstrings (numpydoc: `name : type` then an indented description)"


NUMPYDOC_MODULE_TODO: dict[str, int] = {
    # every public function and public method of a public class (a module's ``__all__``), beyond ``tj.*``:
    # module -> numpydoc problems (NUMPYDOC_CHECKS) still allowed. Empty: every one passes; keep it so.
}


def _public_callables():
    for name, obj in _public_objects():
        if inspect.isfunction(obj):
            yield name, obj
        else:  # a class: its public methods (the class's own parameters are its documented attributes)
            for mname, member in vars(obj).items():
                if inspect.isfunction(member) and not mname.startswith("_"):
                    yield f"{name}.{mname}", member


def test_every_public_docstring_passes_numpydoc_validation():
    validate = pytest.importorskip("numpydoc.validate", reason="numpydoc is a dev dependency").validate
    found: dict[str, list[str]] = {}
    for name, obj in _public_callables():
        for code, _msg in validate(f"{obj.__module__}.{obj.__qualname__}")["errors"]:
            if code in NUMPYDOC_CHECKS:
                found.setdefault(obj.__module__, []).append(f"{name} {code}")
    worse = [
        f"{mod}: {len(problems)} (allowed {NUMPYDOC_MODULE_TODO.get(mod, 0)}): {problems}"
        for mod, problems in sorted(found.items())
        if len(problems) > NUMPYDOC_MODULE_TODO.get(mod, 0)
    ]
    assert worse == [], "fix these docstrings (numpydoc: `name : type` then an indented description; Returns)"
