"""Exceptions that name what is at fault: the layer, the file, the feature, the field, the rule."""
from __future__ import annotations

__all__ = ["TjSpatialError", "BuildError", "ValidationError", "ImportLayerError"]


class TjSpatialError(Exception):
    """Base class of tjspatial's errors."""


class BuildError(TjSpatialError):
    """A layer could not be built. The message names the layer and, where known, the file, feature and field."""

    def __init__(self, message: str, *, layer: str | None = None, file: str | None = None,
                 feature: str | None = None, field: str | None = None, rule: str | None = None):
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
