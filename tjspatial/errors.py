"""Exceptions that name what is at fault: the layer, the file, the feature, the field, the rule.

Every error tjspatial raises on purpose derives from :class:`TjSpatialError`; the ``tjspatial`` command
reports those (and file-system, GDAL and parse errors) as one line with exit code 2, while anything else is a
bug and keeps its traceback. Several also derive from the built-in class the Python API has always raised
(``KeyError`` for an unknown name, ``ValueError`` for a bad value), so ``except KeyError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "TjSpatialError",
    "BuildError",
    "ValidationError",
    "ImportLayerError",
    "UnknownNameError",
    "InputError",
    "GeoPackageError",
    "UsageError",
    "MissingFileError",
]


class TjSpatialError(Exception):
    """Base class of tjspatial's errors."""


class BuildError(TjSpatialError):
    """A layer could not be built. The message names the layer and, where known, the file, feature and field."""

    def __init__(
        self,
        message: str,
        *,
        layer: str | None = None,
        file: str | None = None,
        feature: str | None = None,
        field: str | None = None,
        rule: str | None = None,
    ):
        self.layer, self.file, self.feature, self.field, self.rule = layer, file, feature, field, rule
        parts = []
        if layer:
            parts.append(f"layer {layer!r}")
        if file:
            parts.append(f"file {file}")
        if feature is not None:
            parts.append(f"feature {feature}")
        if field:
            parts.append(f"field {field!r}")
        if rule:
            parts.append(f"rule {rule}")
        self.message = message
        super().__init__(f"{', '.join(parts)}: {message}" if parts else message)


class ValidationError(BuildError):
    """A built layer breaks a validation rule (named in ``rule``)."""


class ImportLayerError(BuildError):
    """A user file offered to replace a layer was refused."""


class UnknownNameError(TjSpatialError, KeyError):
    """An unknown layer, map, source, station or import id; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputError(TjSpatialError, ValueError):
    """A value or file given by the user cannot be used; the message names it and says why."""


class GeoPackageError(TjSpatialError):
    """A GeoPackage cannot be opened, read or written; the message names the file (and layer)."""

    def __init__(self, message: str, *, path=None, layer: str | None = None):
        self.path, self.layer = path, layer
        super().__init__(message)


class UsageError(TjSpatialError):
    """A command-line call that lacks something it needs (e.g. ``build --source extract`` without a file)."""


class MissingFileError(TjSpatialError, FileNotFoundError):
    """A file the user named, or one a command should have made first, is missing; the message names it and
    the command that makes it (also a :class:`FileNotFoundError`)."""
