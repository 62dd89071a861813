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
      "label_max_scale": 100000,          # optional: labels only at scales larger than 1:N (zoomed in)
      "drawn_elsewhere": {"field": "base_layer", "label": "..."},   # optional: features with a non-empty
                                          # value here are drawn by another layer and not drawn again
      "z": 30                              # draw order: higher is drawn on top
    }

Status vs accuracy: one rule for every renderer
-----------------------------------------------
A style file never sets a dash. ``styles/cartography.json`` (:func:`load_cartography`) holds the one rule
that the web maps and QGIS both apply to every layer:

- **status owns the dash pattern.** A feature's ``status`` field (``open`` / ``under_construction`` /
  ``planned``; layers without the field count as ``open``, i.e. existing) picks the dash:
  :meth:`Cartography.dash` — open is solid, under construction long dashes, planned short dashes.
- **accuracy owns a second channel.** A feature whose ``accuracy`` is approximate (``schematic``) gets a
  translucent casing in its own colour (``casing_px`` wider than the stroke, or than the marker for points,
  at ``casing_opacity``), and "示意" in the legend (:attr:`Cartography.accuracy_label`) and after its label
  (:attr:`Cartography.label_suffix`). Accuracy never changes the dash.
- Legends show both channels, one entry per combination that is drawn, with the symbol actually drawn.

``Style.dash`` stays for code that builds a :class:`Style` in Python; :meth:`Style.with_schematic` is kept for
old callers but new renderers use :func:`load_cartography` instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import TjSpatialError
from .paths import styles_dir

__all__ = [
    "Style",
    "StyleError",
    "Cartography",
    "StatusClass",
    "load_style",
    "all_styles",
    "load_cartography",
    "SCHEMATIC_DASH",
    "CARTOGRAPHY_FILE",
]

SCHEMATIC_DASH = "6 4"
CARTOGRAPHY_FILE = "cartography.json"
"""The rule file in ``styles/``; not a layer style (skipped by :func:`all_styles`)."""
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_GEOMS = ("point", "line", "polygon")
_SHAPES = ("circle", "square", "triangle", "star")


class StyleError(TjSpatialError, ValueError):
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
    label_max_scale: float | None = None
    drawn_elsewhere: dict[str, str] | None = None
    z: int = 0

    def category_colors(self) -> dict[str, str]:
        """value → colour of a categorised style (empty when not categorised).

        Returns
        -------
        dict of str to str
            Category value → hex colour (empty when the style is not categorised).
        """
        if not self.categories:
            return {}
        return {k: v["color"] for k, v in self.categories["values"].items()}

    def with_schematic(self, schematic: bool) -> "Style":
        """This style, dashed if ``schematic`` and no dash is set.

        Deprecated: dashes mean planned (:func:`load_cartography`); schematic features get a casing instead.

        Parameters
        ----------
        schematic : bool
            Whether the layer is schematic.

        Returns
        -------
        Style
            This style, or a copy with :data:`SCHEMATIC_DASH`.
        """
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
    if raw.get("dash") is not None:
        raise StyleError(
            f"{where}: 'dash' is not set per style: the feature's status picks the dash (styles/{CARTOGRAPHY_FILE})"
        )
    lms = raw.get("label_max_scale")
    if lms is not None and not float(lms) > 0:
        raise StyleError(f"{where}: 'label_max_scale' must be a scale denominator > 0, not {lms!r}")
    de = raw.get("drawn_elsewhere")
    if de is not None and (not isinstance(de, dict) or "field" not in de):
        raise StyleError(f"{where}: 'drawn_elsewhere' needs a 'field'")
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
    """Read and check ``styles/<style_id>.json``.

    Parameters
    ----------
    style_id : str
        The style id a catalog layer names (its ``style``).
    directory : str or Path, optional
        Folder of the style files (default ``styles/``).

    Returns
    -------
    Style
        The checked style (colours, widths, dashes, labels) that web maps and QGIS both translate.
    """
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
    return {
        p.stem: load_style(p.stem, directory)
        for p in sorted(Path(directory).glob("*.json"))
        if p.name != CARTOGRAPHY_FILE
    }


def all_styles(directory: str | Path | None = None) -> dict[str, Style]:
    """Every style in ``styles/``, by id.

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        The styles folder; default ``styles/``.

    Returns
    -------
    dict of str to Style
        Every style file but :data:`CARTOGRAPHY_FILE`, by id.
    """
    return _all(str(directory or styles_dir()))


@dataclass(frozen=True)
class StatusClass:
    """One status value: its dash (``None`` = solid; else "on off" pixels) and legend label."""

    value: str
    dash: str | None
    label: str


@dataclass(frozen=True)
class Cartography:
    """The status-vs-accuracy rule of ``styles/cartography.json`` (see the module docstring).

    Attributes
    ----------
    status_field : attribute holding the status (``"status"``).
    default_status : status of features without the field or with an empty value (``"open"``).
    statuses : status value → :class:`StatusClass`, in legend order.
    accuracy_field : attribute holding the accuracy class (``"accuracy"``).
    approximate : accuracy classes drawn with the casing (``("schematic",)``).
    casing_px : how much wider than the stroke (lines, outlines) or the marker (points) the casing is, pixels.
    casing_opacity : opacity of the casing (0–1), in the feature's own colour.
    accuracy_label : legend text of the casing ("示意 …").
    label_suffix : appended to the labels of approximate features ("（示意）").
    """

    status_field: str
    default_status: str
    statuses: dict[str, StatusClass]
    accuracy_field: str
    approximate: tuple[str, ...]
    casing_px: float
    casing_opacity: float
    accuracy_label: str
    label_suffix: str

    def dash(self, status: str | None) -> str | None:
        """The dash pattern ("on off" pixels, ``None`` = solid) of a status; unknown or empty → the default's.

        Parameters
        ----------
        status : str or None
            A feature's ``status`` (``open``, ``under_construction``, ``planned``).

        Returns
        -------
        str or None
            The dash pattern ("on off" pixels) or None for a solid line.
        """
        cls = self.statuses.get(status or self.default_status) or self.statuses[self.default_status]
        return cls.dash

    def is_approximate(self, accuracy: str | None) -> bool:
        """Whether features of this accuracy class get the casing.

        Parameters
        ----------
        accuracy : str or None
            An accuracy class.

        Returns
        -------
        bool
            True for the classes the rule lists as approximate (``schematic``).
        """
        return accuracy in self.approximate


def load_cartography(directory: str | Path | None = None) -> Cartography:
    """Read and check the status-vs-accuracy rule, ``styles/cartography.json``.

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        The styles folder; default ``styles/``.

    Returns
    -------
    Cartography
        The rule (dash by status, casing by accuracy).
    """
    path = Path(directory or styles_dir()) / CARTOGRAPHY_FILE
    where = path.name
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StyleError(f"no cartography rule file {path}") from exc
    except json.JSONDecodeError as exc:
        raise StyleError(f"{where}: not valid JSON: {exc}") from exc
    try:
        st, acc = raw["status"], raw["accuracy"]
        statuses = {v: StatusClass(v, spec.get("dash"), spec["label"]) for v, spec in st["values"].items()}
        carto = Cartography(
            status_field=st["field"],
            default_status=st["default"],
            statuses=statuses,
            accuracy_field=acc["field"],
            approximate=tuple(acc["approximate"]),
            casing_px=float(acc["casing_px"]),
            casing_opacity=float(acc["casing_opacity"]),
            accuracy_label=acc["label"],
            label_suffix=acc["label_suffix"],
        )
    except KeyError as exc:
        raise StyleError(f"{where}: missing key {exc}") from exc
    if carto.default_status not in statuses:
        raise StyleError(f"{where}: status 'default' {carto.default_status!r} is not one of {list(statuses)}")
    if statuses[carto.default_status].dash is not None:
        raise StyleError(f"{where}: the default status {carto.default_status!r} must be solid (dash null)")
    for cls in statuses.values():
        if cls.dash is not None and not re.fullmatch(r"\d+(\.\d+)?( \d+(\.\d+)?)+", cls.dash):
            raise StyleError(f"{where}: status {cls.value!r}: dash {cls.dash!r} is not 'on off' pixels")
    if not 0 < carto.casing_opacity <= 1 or carto.casing_px <= 0:
        raise StyleError(f"{where}: accuracy casing_px must be > 0 and casing_opacity in (0, 1]")
    return carto
