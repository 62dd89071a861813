"""The layer catalog: every layer declared once, in ``layers/catalog/*.toml``.

Build, validation, analysis, web maps, QGIS export and the data dictionary all read the declarations from
here; no other module keeps a list of layers. Files are read in name order and layers in declaration order,
which is also the build order (a layer may depend on layers declared before it).

A declaration holds: ``id``, ``title_zh``, ``title_en``, ``theme``, ``geometry_type``, ``fields``
(name → type), ``sources`` (source ids), ``accuracy`` (class), ``builder`` (``module:function``), ``style``,
``description``, and optionally ``depends``, ``limitations`` and ``osm`` (the OSM query for the layer).
"""
from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .paths import catalog_dir

__all__ = [
    "ACCURACY_CLASSES",
    "COMMON_FIELDS",
    "FIELD_TYPES",
    "GEOMETRY_TYPES",
    "THEMES",
    "CatalogError",
    "Layer",
    "Source",
    "Catalog",
    "load_catalog",
    "catalog",
    "get_layer",
    "layer_ids",
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

COMMON_FIELDS: dict[str, str] = {"name_zh": "str", "name_en": "str", "accuracy": "str", "source": "str"}
"""Fields every layer carries, first in every table."""


class CatalogError(ValueError):
    """A catalog declaration is malformed; the message names the file and the layer."""


@dataclass(frozen=True)
class Source:
    """A source file or service that layers are built from."""

    id: str
    title: str
    licence: str
    attribution: str
    file: str | None = None
    date: str | None = None
    url: str | None = None


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
        """Import and return the builder function named by ``builder`` (``module:function``)."""
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
        raise KeyError(f"no layer {layer_id!r} in the catalog; known layers: {', '.join(self.ids)}")

    @property
    def ids(self) -> list[str]:
        return [layer.id for layer in self.layers]

    def layer_sources(self, layer_id: str) -> list[Source]:
        return [self.sources[s] for s in self[layer_id].sources]

    def licence(self, layer_id: str) -> str:
        """The licences of a layer's sources, deduplicated, joined by '; '."""
        return "; ".join(dict.fromkeys(s.licence for s in self.layer_sources(layer_id)))

    def attribution(self, layer_id: str) -> str:
        """The attribution texts of a layer's sources, deduplicated, joined by '; '."""
        return "; ".join(dict.fromkeys(s.attribution for s in self.layer_sources(layer_id)))

    def to_frame(self) -> pd.DataFrame:
        """The declarations as a DataFrame, one row per layer (fields as 'name:type' text)."""
        rows = []
        for layer in self.layers:
            rows.append({
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
            })
        return pd.DataFrame(rows)


_LAYER_KEYS = {"id", "title_zh", "title_en", "theme", "geometry_type", "accuracy", "sources", "builder",
               "style", "description", "fields", "depends", "limitations", "osm"}
_REQUIRED = ("id", "title_zh", "title_en", "theme", "geometry_type", "accuracy", "sources", "builder",
             "style", "description")


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
    return Layer(
        id=lid, title_zh=raw["title_zh"], title_en=raw["title_en"], theme=raw["theme"],
        geometry_type=raw["geometry_type"], accuracy=raw["accuracy"], sources=tuple(raw["sources"]),
        builder=raw["builder"], style=raw["style"], description=raw["description"], fields=fields,
        depends=tuple(raw.get("depends", ())), limitations=raw.get("limitations", ""), osm=raw.get("osm"),
        catalog_file=path.name, extra=extra,
    )


def load_catalog(directory: str | Path | None = None) -> Catalog:
    """Read and check every ``*.toml`` declaration file in ``directory`` (default ``layers/catalog``).

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
    return Catalog(layers=tuple(layers), sources=sources)


@lru_cache(maxsize=4)
def _cached(directory: str) -> Catalog:
    return load_catalog(directory)


def get_catalog(directory: str | Path | None = None) -> Catalog:
    """The catalog, read once per directory and cached (the declarations are immutable)."""
    return _cached(str(Path(directory) if directory else catalog_dir()))


def catalog(directory: str | Path | None = None) -> pd.DataFrame:
    """The layer declarations as a DataFrame, one row per layer (``tj.catalog()``)."""
    return get_catalog(directory).to_frame()


def get_layer(layer_id: str) -> Layer:
    """The declaration of one layer; ``KeyError`` naming the known ids if there is none."""
    return get_catalog()[layer_id]


def layer_ids() -> list[str]:
    """Layer ids in build order."""
    return get_catalog().ids
