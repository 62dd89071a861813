"""The layer catalog: every layer declared once, in ``layers/catalog/*.toml``.

Build, validation, analysis, web maps, QGIS export and the data dictionary all read the declarations from
here; no other module keeps a list of layers. Files are read in name order and layers in declaration order,
which is also the build order (a layer may depend on layers declared before it).

A declaration holds: ``id``, ``title_zh``, ``title_en``, ``theme``, ``geometry_type``, ``fields``
(name → type), ``sources`` (source ids), ``accuracy`` (class), ``builder`` (``module:function``), ``style``,
``description``, and optionally ``depends``, ``limitations`` (English), ``limitations_zh``, ``osm`` (the OSM
query for the layer) and ``field_labels``: how each field is shown to people, declared once and used by the web
maps (popups), the QGIS export (field aliases) and the data dictionary::

    [layer.field_labels]
    pop_2020 = { zh = "常住人口（2020 年普查）", en = "Resident population (2020 census)", unit = "人 persons",
                 format = "int" }
    pop_2020_status = { zh = "人口数据状态", en = "Population status", hidden = true }
    kind = { zh = "类型", en = "Type", values = { metro = "地铁站 / metro station" } }

Keys of a field label: ``zh``, ``en`` (display labels), ``unit`` (shown after the value), ``format`` (one of
:data:`FIELD_FORMATS`), ``decimals`` (for ``float``/``percent``), ``hidden`` (an internal field: kept in the data
and exports, not shown in popups), ``values`` (code → ``"中文 / English"`` words shown instead of the code).
A field without a declaration is shown under its own name, formatted by its type (:meth:`Layer.field_label`).

Roles: ``roles = ["municipality", ...]`` on a layer says what code may need it for; code asks
:meth:`Catalog.layer_for` ``(role)`` (or :meth:`Catalog.with_role`) instead of quoting a layer id, so a layer can be
renamed or replaced in the catalog alone. The roles code uses are :data:`ROLES` (one layer each, unless listed in
``_MULTI_ROLES``); tests/test_architecture.py fails on a quoted layer id outside the catalog and the builders.

Analysis overlays (``[[overlay]]`` tables, ``layers/catalog/80_analysis.toml``) are layers the web maps draw
from analysis results at map time (station catchments, coverage shares): declared like a layer, without a
builder, with ``derived_from`` (the catalog layer they are computed from, whose sources they cite) and a
``role`` (how code finds them: :meth:`Catalog.overlay_for`). They are not built into the GeoPackage and are not
among :attr:`Catalog.ids`. Their text may hold ``{distance_m:.0f}``-style fields, filled by
:meth:`Catalog.overlay_for` from the values of the run.
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .errors import TjSpatialError, UnknownNameError
from .paths import catalog_dir

__all__ = [
    "ACCURACY_CLASSES",
    "COMMON_FIELDS",
    "FIELD_TYPES",
    "GEOMETRY_TYPES",
    "THEMES",
    "ROLES",
    "CatalogError",
    "COMMON_FIELD_LABELS",
    "FIELD_FORMATS",
    "FieldLabel",
    "Layer",
    "Source",
    "Catalog",
    "load_catalog",
    "catalog",
    "role_id",
]

ACCURACY_CLASSES: dict[str, tuple[str, str]] = {
    "surveyed": ("实测", "surveyed"),
    "official": ("官方", "official"),
    "osm": ("开放街图", "OpenStreetMap"),
    "derived": ("派生", "derived"),
    "modelled": ("模型估算", "modelled"),
    "schematic": ("示意", "schematic"),
}
"""Accuracy classes with their zh/en labels. ``schematic`` and ``modelled`` are never surveyed data."""

THEMES: dict[str, tuple[str, str]] = {
    "admin": ("行政区划", "Administrative"),
    "plan": ("规划结构", "Plan structure"),
    "ecology": ("生态格局", "Ecology"),
    "transport": ("交通", "Transport"),
    "port": ("港口与机场", "Port and airport"),
    "context": ("背景", "Context"),
    "analysis": ("分析", "Analysis"),
}
"""Themes (layer-control groups) with zh/en labels, in display order."""

GEOMETRY_TYPES = ("Point", "LineString", "Polygon")
"""Declared geometry families; the Multi* variant of each is accepted."""

FIELD_TYPES = ("str", "int", "float", "bool", "date")

ROLES: dict[str, str] = {
    "municipality": "the municipal boundary: inside-Tianjin checks, the land of the offline base map, model extent",
    "district_areas": "the districts: coverage by district, base-map district lines and labels",
    "shoreline": "the coastline: the sea of the offline base map",
    "water_bodies": "water bodies: the offline base map, uninhabited land in the population model",
    "place_names": "settlement points: base-map labels",
    "station_points": "rail and metro stations (``kind``, ``lines``): catchments, coverage, the rail graph",
    "planned_lines": "planned rail lines: the 2025 plan scenario of coverage and the rail graph",
    "planning_zones": "the planning zones (central city, Binhai, outer districts): metro coverage by zone",
    "dual_city_areas": "Jincheng and Bincheng: the dual-city summary",
    "town_seats": "district and town seats (the regional nodes): population kernels",
    "metro_network": "metro lines (``line_id``): which lines are drawn, the rail graph",
    "intercity_network": "intercity and national rail lines: the rail graph, rail indicators",
    "wetland_areas": "the protected wetlands: distance rings, features near wetlands",
    "green_barrier_area": "the green ecological barrier: rings, the barrier indicator, clusters near it",
    "urban_cluster_areas": "the urban clusters: clusters near the green barrier",
    "port_areas": "the port districts: features near wetlands",
    "tourism_sites": "tourism sites: the tourism indicator",
    "qgis_bookmark": "a spatial bookmark of the QGIS project (``bookmark = { group, per, name }``)",
}
"""Layer roles (``roles = [...]`` on a ``[[layer]]``) and what code uses them for."""

_MULTI_ROLES = {"qgis_bookmark"}
"""Roles several layers may declare (:meth:`Catalog.with_role`); every other role names one layer."""

COMMON_FIELDS: dict[str, str] = {"name_zh": "str", "name_en": "str", "accuracy": "str", "source": "str"}
"""Fields every layer carries, first in every table."""


FIELD_FORMATS = ("text", "int", "code", "float", "percent", "date", "bool", "url")
"""How a value is written: ``text`` as is; ``int`` with thousands separators; ``code`` digits without separators
(codes, years); ``float`` with ``decimals`` (default 1) and separators; ``percent`` a value already in percent
with ``decimals``; ``date`` ISO text; ``bool`` 是/否 yes/no; ``url`` a link."""

_DEFAULT_FORMAT = {"str": "text", "int": "int", "float": "float", "bool": "bool", "date": "date"}


@dataclass(frozen=True)
class FieldLabel:
    """How one field is shown to people: zh/en label, unit, format, hidden or not, words for codes."""

    name: str
    zh: str
    en: str
    unit: str = ""
    format: str = "text"
    decimals: int | None = None
    hidden: bool = False
    values: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``"中文 / English"`` (just the name once when both are the field name)."""
        return self.zh if self.zh == self.en else f"{self.zh} / {self.en}"

    @property
    def alias(self) -> str:
        """A short alias for GIS attribute tables: ``"中文 English (unit)"``."""
        text = self.zh if self.zh == self.en else f"{self.zh} {self.en}"
        return f"{text} ({self.unit})" if self.unit else text

    def word(self, value: Any) -> str | None:
        """The ``"中文 / English"`` words for a code value, or None when the value has none declared.

        Parameters
        ----------
        value : Any
            A field value (compared as text with the declared ``values`` codes).

        Returns
        -------
        str or None
            ``"中文 / English"`` (one word when both are equal), or None.
        """
        pair = self.values.get(str(value))
        return None if pair is None else (pair[0] if pair[0] == pair[1] else f"{pair[0]} / {pair[1]}")

    def format_value(self, value: Any) -> str:
        """The value as text for people: code words, number format and unit ('' for a missing value).

        Parameters
        ----------
        value : Any
            A field value; None, NaN, ``pd.NA``, ``NaT`` and ``""`` count as missing.

        Returns
        -------
        str
            E.g. ``"1,234 人 persons"`` (int), ``"12.3 km²"`` (float, 1 decimal), ``"45.6 %"`` (percent).
        """
        if value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT:
            return ""
        if isinstance(value, str) and value == "":
            return ""
        word = self.word(value)
        if word is not None:
            return word
        fmt = self.format
        try:
            if fmt == "int":
                text = f"{int(round(float(value))):,}"
            elif fmt == "code":
                text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            elif fmt in ("float", "percent"):
                d = 1 if self.decimals is None else self.decimals
                text = f"{float(value):,.{d}f}" + (" %" if fmt == "percent" else "")
            elif fmt == "bool":
                text = "是 / yes" if (value is True or str(value).lower() in ("true", "1", "yes")) else "否 / no"
            else:
                text = str(value)
        except (TypeError, ValueError):
            text = str(value)
        return f"{text} {self.unit}" if self.unit and fmt not in ("bool",) else text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (web maps).

        Returns
        -------
        dict
            name, zh, en, label, unit, format, decimals, hidden and values (code → ``"中文 / English"``).
        """
        return {
            "name": self.name,
            "zh": self.zh,
            "en": self.en,
            "label": self.label,
            "unit": self.unit,
            "format": self.format,
            "decimals": self.decimals,
            "hidden": self.hidden,
            "values": {k: (v[0] if v[0] == v[1] else f"{v[0]} / {v[1]}") for k, v in self.values.items()},
        }


COMMON_FIELD_LABELS: dict[str, FieldLabel] = {
    "name_zh": FieldLabel("name_zh", "名称", "Name (Chinese)"),
    "name_en": FieldLabel("name_en", "英文名称", "Name (English)"),
    "accuracy": FieldLabel("accuracy", "精度", "Accuracy", values={k: v for k, v in ACCURACY_CLASSES.items()}),
    "source": FieldLabel("source", "来源", "Source"),
}
"""Display labels of the common fields (every layer); the accuracy codes are shown as their class words."""

_LABEL_KEYS = {"zh", "en", "unit", "format", "decimals", "hidden", "values"}


def _parse_field_labels(raw: dict, fields: dict[str, str], where: str) -> dict[str, FieldLabel]:
    """Every field of a layer (common + declared) with its :class:`FieldLabel` (declared or default)."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: field_labels must be a table of field = {{ zh, en, ... }}")
    all_fields = {**COMMON_FIELDS, **fields}
    out: dict[str, FieldLabel] = {}
    for name, ftype in all_fields.items():
        spec = raw.get(name)
        base = COMMON_FIELD_LABELS.get(name) or FieldLabel(name, name, name, format=_DEFAULT_FORMAT[ftype])
        if spec is None:
            out[name] = base
            continue
        fwhere = f"{where}, field_labels.{name}"
        if not isinstance(spec, dict):
            raise CatalogError(f"{fwhere}: must be a table {{ zh = ..., en = ... }}, not {spec!r}")
        unknown = set(spec) - _LABEL_KEYS
        if unknown:
            raise CatalogError(f"{fwhere}: unknown key(s) {sorted(unknown)}; known: {sorted(_LABEL_KEYS)}")
        fmt = spec.get("format", base.format)
        if fmt not in FIELD_FORMATS:
            raise CatalogError(f"{fwhere}: format {fmt!r} is not one of {FIELD_FORMATS}")
        values: dict[str, tuple[str, str]] = dict(base.values)
        for code, words in spec.get("values", {}).items():
            if isinstance(words, str):
                zh, _, en = words.partition(" / ")
                pair = (zh.strip(), (en or zh).strip())
            elif isinstance(words, list) and len(words) == 2 and all(isinstance(w, str) for w in words):
                pair = (words[0], words[1])
            else:
                raise CatalogError(f'{fwhere}: value {code!r} must be "中文 / English" or [zh, en], not {words!r}')
            values[str(code)] = pair
        decimals = spec.get("decimals", base.decimals)
        if decimals is not None and (not isinstance(decimals, int) or not 0 <= decimals <= 8):
            raise CatalogError(f"{fwhere}: decimals must be an integer 0-8, not {decimals!r}")
        out[name] = FieldLabel(
            name,
            spec.get("zh", base.zh),
            spec.get("en", base.en),
            unit=spec.get("unit", base.unit),
            format=fmt,
            decimals=decimals,
            hidden=bool(spec.get("hidden", base.hidden)),
            values=values,
        )
    extra = set(raw) - set(all_fields)
    if extra:
        raise CatalogError(
            f"{where}: field_labels for undeclared field(s) {sorted(extra)}; declared: {sorted(all_fields)}"
        )
    return out


class CatalogError(TjSpatialError, ValueError):
    """A catalog declaration is malformed; the message names the file and the layer."""


@dataclass(frozen=True)
class Source:
    """A source file or service that layers are built from.

    ``file`` is relative to ``layers/sources``. ``table`` names the GeoPackage table the build copies the file
    into (a CSV as an attribute table, a GeoTIFF as a raster table) for code that reads it after the build,
    so a built GeoPackage stands alone: analyses read ``tjspatial.io.read_source_table`` /
    ``source_raster``, never ``layers/sources``.
    """

    id: str
    title: str
    licence: str
    attribution: str
    file: str | None = None
    date: str | None = None
    url: str | None = None
    table: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    """Declared column rules of a table source (``{"pop_2020": "int >= 0"}``), checked when it is read
    (:func:`tjspatial.validate.check_table`)."""


@dataclass(frozen=True)
class Layer:
    """One layer declaration. See the module docstring for the meaning of each attribute."""

    id: str
    title_zh: str
    title_en: str
    theme: str
    geometry_type: str
    accuracy: str
    sources: tuple[str, ...]
    builder: str
    style: str
    description: str
    fields: dict[str, str] = field(default_factory=dict)
    depends: tuple[str, ...] = ()
    limitations: str = ""
    osm: dict[str, Any] | None = None
    catalog_file: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    limitations_zh: str = ""
    field_labels: dict[str, FieldLabel] = field(default_factory=dict)

    def field_label(self, name: str) -> FieldLabel:
        """The display declaration of a field (declared in ``[layer.field_labels]``, else a default).

        Parameters
        ----------
        name : str
            A field name (common or the layer's own).

        Returns
        -------
        FieldLabel
            The declared label, the common field's, or one named after the field and formatted by its type.
        """
        if name in self.field_labels:
            return self.field_labels[name]
        if name in COMMON_FIELD_LABELS:
            return COMMON_FIELD_LABELS[name]
        return FieldLabel(name, name, name, format=_DEFAULT_FORMAT.get(self.fields.get(name, "str"), "text"))

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles the layer declares (``roles = [...]``, see :data:`ROLES`)."""
        return tuple(self.extra.get("roles", ()))

    @property
    def limitations_text(self) -> str:
        """Limitations in Chinese and English (``"中文 / English"``), or whichever is declared."""
        return " / ".join(t for t in (self.limitations_zh, self.limitations) if t)

    @property
    def all_fields(self) -> dict[str, str]:
        """Common fields followed by the layer's own fields (name → type)."""
        return {**COMMON_FIELDS, **self.fields}

    @property
    def is_schematic(self) -> bool:
        return self.accuracy == "schematic"

    @property
    def accuracy_label(self) -> str:
        """``"示意 / schematic"`` style label for the layer's accuracy class."""
        zh, en = ACCURACY_CLASSES[self.accuracy]
        return f"{zh} / {en}"

    def builder_func(self) -> Callable:
        """Import and return the builder function named by ``builder`` (``module:function``).

        Returns
        -------
        callable
            ``builder(ctx: BuildContext) -> GeoDataFrame`` (EPSG:4326).

        Raises
        ------
        CatalogError
            The module or function cannot be imported.
        """
        module, _, func = self.builder.partition(":")
        try:
            return getattr(importlib.import_module(module), func)
        except (ImportError, AttributeError) as exc:
            raise CatalogError(f"layer {self.id!r}: builder {self.builder!r} cannot be imported: {exc}") from exc


@dataclass(frozen=True)
class Catalog:
    """All layer and source declarations, in build order."""

    layers: tuple[Layer, ...]
    sources: dict[str, Source]
    overlays: tuple[Layer, ...] = ()
    """Analysis overlays (``[[overlay]]``): drawn from analysis results, not built (see the module docstring)."""

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __contains__(self, layer_id: str) -> bool:
        return any(layer.id == layer_id for layer in self.layers)

    def __getitem__(self, layer_id: str) -> Layer:
        for layer in self.layers:
            if layer.id == layer_id:
                return layer
        raise UnknownNameError(f"no layer {layer_id!r} in the catalog; known layers: {', '.join(self.ids)}")

    @property
    def ids(self) -> list[str]:
        return [layer.id for layer in self.layers]

    def coverage_areas(self) -> dict[str, str]:
        """Area layers of the standard coverage tables (``coverage_label = "field"`` in the catalog).

        Returns
        -------
        dict of str to str
            In catalog order: layer id → the field that names each area.
        """
        return {
            layer.id: str(layer.extra["coverage_label"]) for layer in self.layers if "coverage_label" in layer.extra
        }

    def with_role(self, role: str) -> list[Layer]:
        """The layers that declare ``role`` (``roles = [...]``), in catalog order (empty when none does).

        Parameters
        ----------
        role : str
            One of :data:`ROLES`.

        Returns
        -------
        list of Layer
            In catalog (build) order.
        """
        if role not in ROLES:
            raise UnknownNameError(f"no layer role {role!r}; known roles: {', '.join(ROLES)}")
        return [layer for layer in self.layers if role in layer.roles]

    def layer_for(self, role: str) -> Layer:
        """The one layer that declares ``role`` (e.g. ``"municipality"``).

        Parameters
        ----------
        role : str
            One of :data:`ROLES`.

        Returns
        -------
        Layer
            Its declaration; ``.id`` is the layer id to load.

        Raises
        ------
        UnknownNameError
            No layer of the catalog declares the role (or the role is unknown).
        """
        found = self.with_role(role)
        if not found:
            raise UnknownNameError(f"no layer of the catalog declares the role {role!r} ({ROLES[role]})")
        return found[0]

    def overlay_for(self, role: str, **values: Any) -> Layer:
        """The analysis overlay declared with ``role`` (``[[overlay]]``), its text filled from ``values``.

        Parameters
        ----------
        role : str
            The overlay's ``role`` key, e.g. ``"station_catchment"``.
        **values : Any
            Values for the ``{name}`` fields of its titles, description, limitations and field labels, e.g.
            ``distance_m=800.0`` (metres).

        Returns
        -------
        Layer
            The declaration (``builder`` empty), with its text formatted.

        Raises
        ------
        UnknownNameError
            No overlay has this role.
        CatalogError
            Its text names a field that ``values`` does not give.
        """
        for ov in self.overlays:
            if ov.extra.get("role") == role:
                return _format_layer(ov, values)
        known = sorted(str(o.extra.get("role")) for o in self.overlays)
        raise UnknownNameError(f"no analysis overlay with role {role!r} in the catalog; roles: {', '.join(known)}")

    def layer_sources(self, layer_id: str) -> list[Source]:
        """The source declarations of a layer.

        Parameters
        ----------
        layer_id : str
            A catalog layer id.

        Returns
        -------
        list of Source
            In the order the layer lists them.
        """
        return [self.sources[s] for s in self[layer_id].sources]

    def licence(self, layer_id: str) -> str:
        """The licences of a layer's sources, deduplicated, joined by '; '.

        Parameters
        ----------
        layer_id : str
            A catalog layer id.

        Returns
        -------
        str
            E.g. ``"ODbL 1.0"``.
        """
        return "; ".join(dict.fromkeys(s.licence for s in self.layer_sources(layer_id)))

    def attribution(self, layer_id: str) -> str:
        """The attribution texts of a layer's sources, deduplicated, joined by '; '.

        Parameters
        ----------
        layer_id : str
            A catalog layer id.

        Returns
        -------
        str
            E.g. ``"© OpenStreetMap contributors"``.
        """
        return "; ".join(dict.fromkeys(s.attribution for s in self.layer_sources(layer_id)))

    def to_frame(self) -> pd.DataFrame:
        """The declarations as a DataFrame, one row per layer.

        Returns
        -------
        pandas.DataFrame
            id, titles, theme, geometry type, accuracy, fields (``name:type`` text), sources, licence,
            attribution, style, description, limitations, osm_query.
        """
        rows = []
        for layer in self.layers:
            rows.append(
                {
                    "id": layer.id,
                    "title_zh": layer.title_zh,
                    "title_en": layer.title_en,
                    "theme": layer.theme,
                    "geometry_type": layer.geometry_type,
                    "accuracy": layer.accuracy,
                    "fields": ", ".join(f"{k}:{v}" for k, v in layer.all_fields.items()),
                    "sources": ", ".join(layer.sources),
                    "licence": self.licence(layer.id),
                    "attribution": self.attribution(layer.id),
                    "style": layer.style,
                    "description": layer.description,
                    "limitations": layer.limitations,
                    "osm_query": bool(layer.osm),
                }
            )
        return pd.DataFrame(rows)


_REQUIRED = (
    "id",
    "title_zh",
    "title_en",
    "theme",
    "geometry_type",
    "accuracy",
    "sources",
    "builder",
    "style",
    "description",
)
_LAYER_KEYS = {*_REQUIRED, "fields", "depends", "limitations", "osm", "limitations_zh", "field_labels"}
"""Keys a layer declaration may use; any other key is kept in ``Layer.extra``."""


def _parse_layer(raw: dict, path: Path, sources: dict[str, Source], seen: list[str]) -> Layer:
    lid = raw.get("id", "<no id>")
    where = f"{path.name}, layer {lid!r}"
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise CatalogError(f"{where}: missing {', '.join(missing)}")
    if lid in seen:
        raise CatalogError(f"{where}: layer id declared twice")
    if raw["theme"] not in THEMES:
        raise CatalogError(f"{where}: theme {raw['theme']!r} is not one of {list(THEMES)}")
    if raw["geometry_type"] not in GEOMETRY_TYPES:
        raise CatalogError(f"{where}: geometry_type {raw['geometry_type']!r} is not one of {GEOMETRY_TYPES}")
    if raw["accuracy"] not in ACCURACY_CLASSES:
        raise CatalogError(f"{where}: accuracy {raw['accuracy']!r} is not one of {list(ACCURACY_CLASSES)}")
    for s in raw["sources"]:
        if s not in sources:
            raise CatalogError(f"{where}: source {s!r} is not declared in any [source.*] table")
    fields = dict(raw.get("fields", {}))
    for name, ftype in fields.items():
        if ftype not in FIELD_TYPES:
            raise CatalogError(f"{where}: field {name!r} has type {ftype!r}, not one of {FIELD_TYPES}")
        if name in COMMON_FIELDS:
            raise CatalogError(f"{where}: field {name!r} is a common field; do not declare it")
    for dep in raw.get("depends", []):
        if dep not in seen:
            raise CatalogError(f"{where}: depends on {dep!r}, which is not declared before it")
    extra = {k: v for k, v in raw.items() if k not in _LAYER_KEYS}
    roles = extra.get("roles", [])
    if not isinstance(roles, list) or any(r not in ROLES for r in roles):
        raise CatalogError(f"{where}: roles must be a list of {list(ROLES)}, not {roles!r}")
    return Layer(
        id=lid,
        title_zh=raw["title_zh"],
        title_en=raw["title_en"],
        theme=raw["theme"],
        geometry_type=raw["geometry_type"],
        accuracy=raw["accuracy"],
        sources=tuple(raw["sources"]),
        builder=raw["builder"],
        style=raw["style"],
        description=raw["description"],
        fields=fields,
        depends=tuple(raw.get("depends", ())),
        limitations=raw.get("limitations", ""),
        osm=raw.get("osm"),
        catalog_file=path.name,
        extra=extra,
        limitations_zh=raw.get("limitations_zh", ""),
        field_labels=_parse_field_labels(raw.get("field_labels", {}), fields, where),
    )


_OVERLAY_REQUIRED = tuple(k for k in _REQUIRED if k not in ("builder", "sources")) + ("derived_from", "role")


def _parse_overlay(raw: dict, path: Path, layers: list[Layer], sources: dict[str, Source], seen: list[str]) -> Layer:
    """An ``[[overlay]]`` declaration as a :class:`Layer` (no builder; sources those of ``derived_from``)."""
    oid = raw.get("id", "<no id>")
    where = f"{path.name}, overlay {oid!r}"
    missing = [k for k in _OVERLAY_REQUIRED if k not in raw]
    if missing:
        raise CatalogError(f"{where}: missing {', '.join(missing)}")
    if "builder" in raw or "osm" in raw:
        raise CatalogError(f"{where}: an overlay is drawn from analysis results; it has no builder or osm query")
    if oid in seen or oid in [lay.id for lay in layers]:
        raise CatalogError(f"{where}: id already declared (as a layer or an overlay)")
    base = next((lay for lay in layers if lay.id == raw["derived_from"]), None)
    if base is None:
        raise CatalogError(f"{where}: derived_from {raw['derived_from']!r} is not a declared layer")
    raw = {**raw, "builder": "", "sources": list(raw.get("sources", base.sources))}
    layer = _parse_layer(raw, path, sources, [lay.id for lay in layers])
    labels = {
        name: (base.field_labels[name] if name in base.field_labels and name not in raw.get("field_labels", {}) else fl)
        for name, fl in layer.field_labels.items()
    }
    return Layer(**{**layer.__dict__, "field_labels": labels, "catalog_file": path.name})


def _format_layer(layer: Layer, values: dict[str, Any]) -> Layer:
    """``layer`` with ``{name}`` fields of its text filled from ``values`` (str.format syntax)."""

    def fmt(text: str) -> str:
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise CatalogError(f"{layer.catalog_file}, overlay {layer.id!r}: cannot fill {text!r}: {exc!r}") from exc

    labels = {
        n: FieldLabel(**{**fl.__dict__, "zh": fmt(fl.zh), "en": fmt(fl.en)}) for n, fl in layer.field_labels.items()
    }
    text = {k: fmt(getattr(layer, k)) for k in ("title_zh", "title_en", "description", "limitations", "limitations_zh")}
    return Layer(**{**layer.__dict__, **text, "field_labels": labels})


def load_catalog(directory: str | Path | None = None) -> Catalog:
    """Read and check every ``*.toml`` declaration file in ``directory`` (default ``layers/catalog``).

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        Folder of the ``*.toml`` files, read in name order; default ``layers/catalog``.

    Returns
    -------
    Catalog
        Layers in build order, sources by id, analysis overlays.

    Raises
    ------
    CatalogError
        Naming the file and layer of the first malformed declaration.
    """
    directory = Path(directory) if directory else catalog_dir()
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CatalogError(f"no catalog files (*.toml) in {directory}")
    raw_files = []
    for path in files:
        try:
            raw_files.append((path, tomllib.loads(path.read_text(encoding="utf-8"))))
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{path.name}: not valid TOML: {exc}") from exc
    sources: dict[str, Source] = {}
    for path, raw in raw_files:
        for sid, s in raw.get("source", {}).items():
            if sid in sources:
                raise CatalogError(f"{path.name}: source {sid!r} declared twice")
            try:
                sources[sid] = Source(id=sid, **s)
            except TypeError as exc:
                raise CatalogError(f"{path.name}: source {sid!r}: {exc}") from exc
    layers: list[Layer] = []
    for path, raw in raw_files:
        for entry in raw.get("layer", []):
            layers.append(_parse_layer(entry, path, sources, [lay.id for lay in layers]))
    overlays: list[Layer] = []
    for path, raw in raw_files:
        for entry in raw.get("overlay", []):
            overlays.append(_parse_overlay(entry, path, layers, sources, [o.id for o in overlays]))
    roles = [o.extra["role"] for o in overlays]
    if len(set(roles)) != len(roles):
        raise CatalogError(f"two analysis overlays declare the same role: {sorted(roles)}")
    for role in set(ROLES) - _MULTI_ROLES:
        holders = [lay.id for lay in layers if role in lay.roles]
        if len(holders) > 1:
            raise CatalogError(f"layers {holders} all declare the role {role!r}, which names one layer")
    return Catalog(layers=tuple(layers), sources=sources, overlays=tuple(overlays))


@lru_cache(maxsize=4)
def _cached(directory: str) -> Catalog:
    return load_catalog(directory)


def get_catalog(directory: str | Path | None = None) -> Catalog:
    """The catalog, read once per directory and cached (the declarations are immutable).

    Parameters
    ----------
    directory : str or Path, optional
        Folder of ``*.toml`` catalog files (default ``layers/catalog``).

    Returns
    -------
    Catalog
        Layers in build order, sources by id.
    """
    return _cached(str(Path(directory) if directory else catalog_dir()))


def role_id(role: str, catalog: Catalog | None = None) -> str:
    """The id of the one layer that declares ``role`` (:meth:`Catalog.layer_for`), e.g. ``"municipality"``.

    Parameters
    ----------
    role : str
        One of :data:`ROLES`.
    catalog : Catalog, optional
        The catalog; default :func:`get_catalog`.

    Returns
    -------
    str
        The layer id.

    Raises
    ------
    UnknownNameError
        No layer declares the role.
    """
    return (catalog or get_catalog()).layer_for(role).id


def catalog(directory: str | Path | None = None) -> pd.DataFrame:
    """The layer declarations as a DataFrame, one row per layer (``tj.catalog()``).

    Parameters
    ----------
    directory : str or Path, optional
        Folder of ``*.toml`` catalog files (default ``layers/catalog``).

    Returns
    -------
    pandas.DataFrame
        One row per layer: id, titles, theme, geometry type, accuracy, sources, style, fields...
    """
    return get_catalog(directory).to_frame()
