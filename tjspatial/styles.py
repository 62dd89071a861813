"""Layer styles: one JSON file per style in ``styles/``, read by both the web maps and the QGIS export.

A style file (``styles/<id>.json``) holds::

    {
      "id": "metro_lines",
      "geometry": "line",                 # point | line | polygon
      "stroke": "#1f78b4",                # outline / line colour (hex)
      "stroke_width": 3,                  # pixels on screen (QGIS: converted to mm at 96 dpi)
      "stroke_opacity": 1.0,
      "dash": null,                       # e.g. "6 4" (pixels on, off)
      "fill": "#a6cee3",                  # polygons and point markers; null for none
      "fill_opacity": 0.4,
      "marker": {"shape": "circle", "radius": 4},   # points: circle | square | triangle | star
      "color_field": "colour",            # optional: take the colour from this attribute (hex values)
      "categories": {"field": "zone", "values": {"中心城区": {"color": "#..", "label": "中心城区 / Central"}}},
      "label_field": "name_zh",           # optional text label
      "ramp": {"field": "pop_share", "colors": ["#f7fbff", "#08306b"], "min": 0, "max": 1,
               "unit": "", "label": "覆盖人口比例 / share covered"},   # optional continuous colour ramp
      "z": 30                              # draw order: higher is drawn on top
    }

Schematic layers additionally get a dashed outline in every renderer (``dash`` defaults to "6 4" when the
layer's accuracy is ``schematic``), so that approximations never look surveyed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .paths import styles_dir

__all__ = ["Style", "StyleError", "load_style", "all_styles", "SCHEMATIC_DASH"]

SCHEMATIC_DASH = "6 4"
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_GEOMS = ("point", "line", "polygon")
_SHAPES = ("circle", "square", "triangle", "star")


class StyleError(ValueError):
    """A style file is missing or malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Style:
    id: str
    geometry: str
    stroke: str = "#333333"
    stroke_width: float = 1.5
    stroke_opacity: float = 1.0
    dash: str | None = None
    fill: str | None = None
    fill_opacity: float = 0.4
    marker: dict[str, Any] = field(default_factory=lambda: {"shape": "circle", "radius": 4})
    color_field: str | None = None
    categories: dict[str, Any] | None = None
    label_field: str | None = None
    ramp: dict[str, Any] | None = None
    z: int = 0

    def category_colors(self) -> dict[str, str]:
        """value → colour of a categorised style (empty when not categorised)."""
        if not self.categories:
            return {}
        return {k: v["color"] for k, v in self.categories["values"].items()}

    def with_schematic(self, schematic: bool) -> "Style":
        """This style, dashed if ``schematic`` and no dash is set."""
        if schematic and not self.dash:
            return Style(**{**self.__dict__, "dash": SCHEMATIC_DASH})
        return self


def _check(raw: dict, path: Path) -> Style:
    where = path.name
    known = set(Style.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise StyleError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    if raw.get("id") != path.stem:
        raise StyleError(f"{where}: 'id' is {raw.get('id')!r}, must equal the file name {path.stem!r}")
    if raw.get("geometry") not in _GEOMS:
        raise StyleError(f"{where}: 'geometry' must be one of {_GEOMS}")
    for key in ("stroke", "fill"):
        v = raw.get(key)
        if v is not None and not _HEX.match(v):
            raise StyleError(f"{where}: {key!r} = {v!r} is not a #rrggbb colour")
    for key in ("stroke_opacity", "fill_opacity"):
        v = raw.get(key, 1.0)
        if not 0 <= float(v) <= 1:
            raise StyleError(f"{where}: {key!r} = {v} is not between 0 and 1")
    marker = raw.get("marker")
    if marker is not None and marker.get("shape", "circle") not in _SHAPES:
        raise StyleError(f"{where}: marker shape must be one of {_SHAPES}")
    cats = raw.get("categories")
    if cats is not None:
        if "field" not in cats or "values" not in cats:
            raise StyleError(f"{where}: 'categories' needs 'field' and 'values'")
        for value, spec in cats["values"].items():
            if not _HEX.match(spec.get("color", "")):
                raise StyleError(f"{where}: category {value!r} has no #rrggbb 'color'")
    ramp = raw.get("ramp")
    if ramp is not None:
        if "field" not in ramp or len(ramp.get("colors", [])) < 2:
            raise StyleError(f"{where}: 'ramp' needs 'field' and at least two 'colors'")
        bad = [c for c in ramp["colors"] if not _HEX.match(str(c))]
        if bad:
            raise StyleError(f"{where}: ramp colour(s) {bad} are not #rrggbb")
        if not float(ramp.get("min", 0)) < float(ramp.get("max", 1)):
            raise StyleError(f"{where}: ramp 'min' must be below 'max'")
    return Style(**raw)


def load_style(style_id: str, directory: str | Path | None = None) -> Style:
    """Read and check ``styles/<style_id>.json``."""
    path = Path(directory or styles_dir()) / f"{style_id}.json"
    if not path.is_file():
        raise StyleError(f"no style file {path} (the catalog names style {style_id!r})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StyleError(f"{path.name}: not valid JSON: {exc}") from exc
    return _check(raw, path)


@lru_cache(maxsize=4)
def _all(directory: str) -> dict[str, Style]:
    return {p.stem: load_style(p.stem, directory) for p in sorted(Path(directory).glob("*.json"))}


def all_styles(directory: str | Path | None = None) -> dict[str, Style]:
    """Every style in ``styles/``, by id."""
    return _all(str(directory or styles_dir()))
