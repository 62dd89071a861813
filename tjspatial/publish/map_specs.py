"""Which catalog layers go on which web map: the ``[[map]]`` tables of ``layers/catalog/*.toml``.

The maps are declared as data, in one place (``layers/catalog/90_maps.toml``), beside the layers they show.
A map names catalog ``themes`` (every layer of that theme goes on it) and/or explicit ``layers``; each is
looked up in the catalog when the map is made, so a layer that is not declared (or not built) yet is skipped
with a warning rather than crashing the site.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import THEMES, Catalog, CatalogError
from ..paths import catalog_dir

__all__ = ["MapSpec", "DisplaySettings", "MAP_KINDS", "load_map_specs", "load_display_settings", "map_layer_ids"]

MAP_KINDS = ("layers", "coverage", "indicators")


@dataclass(frozen=True)
class MapSpec:
    """One web map: id (file ``<id>.html``), zh/en titles and one-line summaries, kind, layers."""

    id: str
    title_zh: str
    title_en: str
    summary_zh: str
    summary_en: str
    kind: str = "layers"
    themes: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    catchment_m: float | None = None
    compare: dict | None = None
    catalog_file: str = ""

    @property
    def filename(self) -> str:
        return f"{self.id}.html"


@dataclass(frozen=True)
class DisplaySettings:
    """Display simplification tolerances (metres, applied in EPSG:4548) by layer id and by geometry type."""

    tolerance_m: dict[str, float] = field(default_factory=dict)
    default_tolerance_m: dict[str, float] = field(default_factory=dict)

    def tolerance(self, layer_id: str, geometry_type: str) -> float:
        """Tolerance in metres for ``layer_id`` (its own, else its geometry type's default, else 0).

        Parameters
        ----------
        layer_id : str
            The layer.
        geometry_type : str
            Its geometry family (``Point``, ``LineString``, ``Polygon``).

        Returns
        -------
        float
            Metres, applied in the metric CRS (EPSG:4548 for Tianjin).
        """
        if layer_id in self.tolerance_m:
            return float(self.tolerance_m[layer_id])
        return float(self.default_tolerance_m.get(geometry_type, 0.0))


def _raw_files(directory: Path) -> list[tuple[Path, dict]]:
    out = []
    for path in sorted(directory.glob("*.toml")):
        try:
            out.append((path, tomllib.loads(path.read_text(encoding="utf-8"))))
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{path.name}: not valid TOML: {exc}") from exc
    return out


def load_map_specs(directory: str | Path | None = None) -> list[MapSpec]:
    """Every ``[[map]]`` declared in the catalog folder, in file and declaration order.

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        The catalog folder; default ``layers/catalog``.

    Returns
    -------
    list of MapSpec
        In file and declaration order.

    Raises
    ------
    CatalogError
        Naming the file and map id of a malformed declaration (missing key, unknown kind or theme,
        duplicate id).
    """
    directory = Path(directory) if directory else catalog_dir()
    specs: list[MapSpec] = []
    known = set(MapSpec.__dataclass_fields__) - {"catalog_file"}
    for path, raw in _raw_files(directory):
        for entry in raw.get("map", []):
            mid = entry.get("id", "<no id>")
            where = f"{path.name}, map {mid!r}"
            missing = [k for k in ("id", "title_zh", "title_en", "summary_zh", "summary_en") if k not in entry]
            if missing:
                raise CatalogError(f"{where}: missing {', '.join(missing)}")
            unknown = set(entry) - known
            if unknown:
                raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
            if entry.get("kind", "layers") not in MAP_KINDS:
                raise CatalogError(f"{where}: kind {entry['kind']!r} is not one of {MAP_KINDS}")
            bad = [t for t in entry.get("themes", []) if t not in THEMES]
            if bad:
                raise CatalogError(f"{where}: theme(s) {bad} not one of {list(THEMES)}")
            if any(s.id == mid for s in specs):
                raise CatalogError(f"{where}: map id declared twice")
            cmp = entry.get("compare")
            if cmp is not None and (not isinstance(cmp, dict) or not cmp.get("left") or not cmp.get("right")):
                raise CatalogError(f"{where}: compare needs left = [layer ids] and right = [layer ids]")
            specs.append(
                MapSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}, catalog_file=path.name)
            )
    return specs


def load_display_settings(directory: str | Path | None = None) -> DisplaySettings:
    """The ``[display]`` table of the catalog folder (simplification tolerances in metres).

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        The catalog folder; default ``layers/catalog``.

    Returns
    -------
    DisplaySettings
        Tolerances in metres by layer id and by geometry type.
    """
    directory = Path(directory) if directory else catalog_dir()
    tol: dict[str, float] = {}
    default: dict[str, float] = {}
    for _path, raw in _raw_files(directory):
        display = raw.get("display", {})
        tol.update(display.get("tolerance_m", {}))
        default.update(display.get("default_tolerance_m", {}))
    return DisplaySettings(tolerance_m=tol, default_tolerance_m=default)


def map_layer_ids(spec: MapSpec, catalog: Catalog) -> tuple[list[str], list[str]]:
    """The catalog layers on a map, in catalog (build) order, and the ids it names that the catalog lacks.

    Parameters
    ----------
    spec : MapSpec
        The map.
    catalog : Catalog
        The catalog.

    Returns
    -------
    layer_ids : list of str
        Layers of ``spec.themes`` plus ``spec.layers`` that the catalog declares, in catalog order.
    missing : list of str
        The explicitly named ids it does not declare (yet).
    """
    wanted = set(spec.layers) | {lay.id for lay in catalog if lay.theme in spec.themes}
    ids = [lay.id for lay in catalog if lay.id in wanted]
    missing = [lid for lid in spec.layers if lid not in catalog]
    return ids, missing
