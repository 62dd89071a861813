"""The data dictionary (``layers/README.md``), generated from the catalog.

``tjspatial dictionary`` rewrites it; ``tjspatial dictionary --check`` (and a test) fails when it is stale.
"""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_path
from .catalog import ACCURACY_CLASSES, COMMON_FIELDS, ROLES, THEMES, Catalog, get_catalog
from .paths import layers_dir

__all__ = ["data_dictionary", "write_data_dictionary", "dictionary_is_current"]

_COMMON_DOC = {
    "name_zh": "Chinese name (may be empty where the source has none)",
    "name_en": "English or pinyin name (may be empty)",
    "accuracy": "accuracy class of this feature: " + ", ".join(ACCURACY_CLASSES),
    "source": "source id(s) this feature was built from (see Sources)",
}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def data_dictionary(catalog: Catalog | None = None) -> str:
    """The data dictionary as Markdown: every layer, field, source, licence, accuracy and limitation.

    Parameters
    ----------
    catalog : Catalog, optional
        The catalog; default :func:`tjspatial.catalog.get_catalog`.

    Returns
    -------
    str
        The Markdown text (layers, fields with labels/units/formats, analysis overlays, sources).
    """
    cat = catalog or get_catalog()
    out = [
        "# tjspatial data dictionary",
        "",
        "Generated from the layer catalog (`layers/catalog/*.toml`) by `tjspatial dictionary`; do not edit by hand.",
        "",
        "Geometry is stored in EPSG:4326 and measured in EPSG:4548. Accuracy classes: "
        + "; ".join(f"`{k}` {zh} / {en}" for k, (zh, en) in ACCURACY_CLASSES.items())
        + ".",
        "",
        "Field labels, units, formats, hidden (internal) fields and the words shown for codes are declared once in "
        "`[layer.field_labels]` of the catalog; web-map popups, QGIS field aliases and this dictionary use them.",
        "",
        "Every layer carries the common fields " + ", ".join(f"`{k}` ({_COMMON_DOC[k]})" for k in COMMON_FIELDS) + ".",
        "",
        "## Layers",
        "",
        "| id | title | theme | geometry | accuracy |",
        "|---|---|---|---|---|",
    ]
    for layer in cat:
        zh, en = ACCURACY_CLASSES[layer.accuracy]
        out.append(
            f"| [`{layer.id}`](#{layer.id}) | {_cell(layer.title_zh)} / {_cell(layer.title_en)} | "
            f"{THEMES[layer.theme][0]} / {THEMES[layer.theme][1]} | {layer.geometry_type} | {zh} / {en} |"
        )
    for layer in cat:
        out += [
            "",
            f"### {layer.id}",
            "",
            f"**{layer.title_zh} / {layer.title_en}** — "
            f"{layer.accuracy_label}{' — 示意图层，非实测数据 / schematic layer, not surveyed data' if layer.is_schematic else ''}",
            "",
            layer.description,
            "",
        ]
        if layer.limitations_zh:
            out += [f"*局限：* {layer.limitations_zh}", ""]
        if layer.limitations:
            out += [f"*Limitations:* {layer.limitations}", ""]
        out += [
            f"- theme: {THEMES[layer.theme][0]} / {THEMES[layer.theme][1]}; geometry: {layer.geometry_type}; "
            f"style: `styles/{layer.style}.json`",
            f"- licence: {cat.licence(layer.id)}",
            f"- attribution: {cat.attribution(layer.id)}",
        ]
        if layer.roles:
            out.append("- roles (what the code uses it for): " + "; ".join(f"`{r}` {ROLES[r]}" for r in layer.roles))
        if layer.depends:
            out.append(f"- built from layers: {', '.join(f'`{d}`' for d in layer.depends)}")
        if layer.osm:
            out.append("- OpenStreetMap query: yes (`tjspatial build --source osm`)")
            rules = layer.osm.get("plausible") or {}
            if rules:
                out.append(
                    "- OSM plausibility rules (a warning, an error with `--strict`): "
                    + ", ".join(f"`{k} = {v}`" for k, v in rules.items())
                )
        out += [
            "",
            "| field | type | label 中文 / English | unit | format | shown in popups | values |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, ftype in layer.all_fields.items():
            fl = layer.field_label(name)
            words = "; ".join(f"`{k}` {fl.word(k)}" for k in fl.values) if name != "accuracy" else "accuracy classes"
            out.append(
                f"| `{name}` | {ftype} | {_cell(fl.label)} | {_cell(fl.unit)} | {fl.format}"
                f"{'' if fl.decimals is None else f' ({fl.decimals} dp)'} | {'no (internal)' if fl.hidden else 'yes'}"
                f" | {_cell(words)} |"
            )
    if cat.overlays:
        out += [
            "",
            "## Analysis overlays",
            "",
            "Drawn on the web maps from analysis results when a map is made (`[[overlay]]` in the catalog); not "
            "built into the GeoPackage. `{distance_m:.0f}` is the distance of the run, in metres.",
            "",
            "| id | title | theme | geometry | accuracy | derived from | fields |",
            "|---|---|---|---|---|---|---|",
        ]
        for ov in cat.overlays:
            zh, en = ACCURACY_CLASSES[ov.accuracy]
            fields = ", ".join(
                f"`{n}` ({_cell(ov.field_label(n).label)}{', ' + _cell(ov.field_label(n).unit) if ov.field_label(n).unit else ''})"
                for n in ov.fields
            )
            out.append(
                f"| `{ov.id}` | {_cell(ov.title_zh)} / {_cell(ov.title_en)} | {THEMES[ov.theme][0]} / "
                f"{THEMES[ov.theme][1]} | {ov.geometry_type} | {zh} / {en} | `{ov.extra['derived_from']}` | {fields} |"
            )
    out += ["", "## Sources", "", "| id | title | file | licence | attribution | date |", "|---|---|---|---|---|---|"]
    for sid, src in cat.sources.items():
        out.append(
            f"| `{sid}` | {_cell(src.title)} | {_cell(src.file or '')} | {_cell(src.licence)} | "
            f"{_cell(src.attribution)} | {_cell(src.date or '')} |"
        )
    return "\n".join(out) + "\n"


def write_data_dictionary(path: str | Path | None = None) -> Path:
    """Write the data dictionary (default ``layers/README.md``) atomically and return its path.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The file to write; default ``layers/README.md``.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path) if path else layers_dir() / "README.md"
    with atomic_path(path) as tmp:
        tmp.write_text(data_dictionary(), encoding="utf-8")
    return path


def dictionary_is_current(path: str | Path | None = None) -> bool:
    """True when the file at ``path`` (default ``layers/README.md``) equals the freshly generated dictionary.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The file to compare; default ``layers/README.md``.

    Returns
    -------
    bool
        True when the file exists and equals :func:`data_dictionary` ``()``.
    """
    path = Path(path) if path else layers_dir() / "README.md"
    return path.is_file() and path.read_text(encoding="utf-8") == data_dictionary()
