"""OSM queries as declared in the catalog: Overpass QL selectors, evaluated online or against a local file.

A layer's ``[layer.osm]`` table lists its selectors in Overpass QL, e.g.::

    [layer.osm]
    normalise = "rail_stations"
    select = ['node["railway"~"^(station|halt)$"]', 'node["station"="subway"]']
    routes = ['relation["route"~"^(subway|light_rail)$"]']

``select`` picks the layer's features; ``routes`` picks route relations used for line membership, names and
colours. The same selectors are sent to Overpass (:func:`overpass_ql`) and evaluated locally on features read
from an extract (:func:`tags_match`, :meth:`Selector.matches`), so both paths select exactly the same elements.

Supported selector syntax (a subset of Overpass QL): ``node|way|relation|nwr`` followed by any number of
``["key"]``, ``["key"="value"]``, ``["key"!="value"]``, ``["key"~"regex"]`` and ``["key"!~"regex"]``
conditions, all of which must hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import shapely

from ..errors import BuildError

__all__ = ["Selector", "parse_selector", "parse_selectors", "tags_match", "osm_keys", "overpass_ql", "poly_filters"]

_ELEMENTS = {"node": ("node",), "way": ("way",), "relation": ("relation",), "nwr": ("node", "way", "relation")}
_HEAD = re.compile(r"^\s*(node|way|relation|nwr)\s*")
_COND = re.compile(r'\[\s*"([^"]+)"\s*(?:(=|!=|~|!~)\s*"([^"]*)"\s*)?\]\s*')


@dataclass(frozen=True)
class Selector:
    """One Overpass QL selector: element types and the tag conditions that must all hold."""

    elements: tuple[str, ...]
    conditions: tuple[tuple[str, str | None, str | None], ...]  # (key, op, value); op None = key present
    text: str

    def matches(self, element: str, tags: dict[str, str]) -> bool:
        """Whether one element of type ``element`` with ``tags`` is selected.

        Parameters
        ----------
        element : str
            ``node``, ``way`` or ``relation``.
        tags : dict of str to str
            The element's tags.

        Returns
        -------
        bool
            True when the element type and every condition match.
        """
        return element in self.elements and tags_match(tags, self.conditions)


def tags_match(tags: dict[str, str], conditions) -> bool:
    """Whether a tag dictionary satisfies every (key, op, value) condition.

    Parameters
    ----------
    tags : dict of str to str
        An element's tags.
    conditions : iterable of tuple
        ``(key, op, value)`` conditions of a selector.

    Returns
    -------
    bool
        True when every condition holds.
    """
    for key, op, value in conditions:
        v = tags.get(key)
        if op is None:
            ok = v is not None
        elif op == "=":
            ok = v == value
        elif op == "!=":
            ok = v != value
        elif op == "~":
            ok = v is not None and re.search(value, v) is not None
        else:  # "!~"
            ok = v is None or re.search(value, v) is None
        if not ok:
            return False
    return True


def parse_selector(text: str, layer_id: str = "<none>") -> Selector:
    """Parse one selector of a ``[layer.osm]`` query (e.g. ``way[railway=subway]``).

    Parameters
    ----------
    text : str
        The selector.
    layer_id : str, optional
        The layer whose query it is, named in the error.

    Returns
    -------
    Selector
        Element types and (key, op, value) conditions.

    Raises
    ------
    BuildError
        Naming the layer and the selector if it is malformed.
    """
    m = _HEAD.match(text)
    if not m:
        raise BuildError(
            f"OSM selector {text!r} must start with node, way, relation or nwr", layer=layer_id, field="osm.select"
        )
    pos, conds = m.end(), []
    while pos < len(text):
        c = _COND.match(text, pos)
        if not c:
            raise BuildError(
                f"OSM selector {text!r}: cannot read the condition at {text[pos:]!r}",
                layer=layer_id,
                field="osm.select",
            )
        key, op, value = c.groups()
        if op in ("~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise BuildError(
                    f"OSM selector {text!r}: bad regular expression ({exc})", layer=layer_id, field="osm.select"
                ) from exc
        conds.append((key, op, value))
        pos = c.end()
    if not conds:
        raise BuildError(f"OSM selector {text!r} has no tag condition", layer=layer_id, field="osm.select")
    return Selector(_ELEMENTS[m.group(1)], tuple(conds), text.strip())


def parse_selectors(texts, layer_id: str = "<none>") -> list[Selector]:
    """Parse every selector text of a layer's ``[layer.osm]`` query (see :func:`parse_selector`).

    Parameters
    ----------
    texts : iterable of str
        The selector texts.
    layer_id : str, optional
        The layer whose query they are, named in the error.

    Returns
    -------
    list of Selector
        In order.
    """
    return [parse_selector(t, layer_id) for t in (texts or [])]


def osm_keys(selectors: list[Selector]) -> set[str]:
    """Every tag key a list of selectors tests (used to pre-filter extracts).

    Parameters
    ----------
    selectors : list of Selector
        Parsed selectors (:func:`parse_selectors`).

    Returns
    -------
    set of str
        The tag keys.
    """
    return {key for s in selectors for key, op, _ in s.conditions if op in (None, "=", "~")}


def poly_filters(polygon) -> list[str]:
    """Overpass ``poly:"lat lon ..."`` strings, one per polygon part (exterior rings, 6 decimals).

    Parameters
    ----------
    polygon : shapely.Geometry
        Polygon or MultiPolygon, EPSG:4326 (degrees).

    Returns
    -------
    list of str
        One ``poly:"..."`` filter per part.
    """
    parts = shapely.get_parts(polygon)
    out = []
    for part in parts:
        xy = shapely.get_coordinates(shapely.get_exterior_ring(part))
        out.append(" ".join(f"{lat:.6f} {lon:.6f}" for lon, lat in xy))
    return out


def _condition_ql(key: str, op: str | None, value: str | None) -> str:
    if op is None:
        return f'["{key}"]'
    return f'["{key}"{op}"{value}"]'


def overpass_ql(selectors: list[Selector], polygon, *, timeout: int = 180, date: str | None = None) -> str:
    """The Overpass QL query selecting ``selectors`` inside ``polygon`` (EPSG:4326), output as OSM XML.

    Everything the selected elements reference (way nodes, relation members and their nodes) is included
    with its tags (``>``), so the answer can be read with osmnx's XML readers like any extract.
    ``date`` (``YYYY-MM-DD`` or ISO timestamp) asks for the database as of that moment (attic query).

    Parameters
    ----------
    selectors : list of Selector
        Parsed selectors (:func:`parse_selectors`).
    polygon : shapely.Geometry
        The area to query, EPSG:4326 (degrees).
    timeout : int, default 180
        Overpass server timeout, seconds.
    date : str, optional
        ``YYYY-MM-DD`` or ISO timestamp: the database as of that moment (attic query).

    Returns
    -------
    str
        The Overpass QL text.
    """
    head = f"[out:xml][timeout:{int(timeout)}]"
    if date:
        stamp = date if "T" in date else f"{date}T00:00:00Z"
        head += f'[date:"{stamp}"]'
    lines = [head + ";", "("]
    for poly in poly_filters(polygon):
        for sel in selectors:
            conds = "".join(_condition_ql(*c) for c in sel.conditions)
            for element in sel.elements:
                lines.append(f'  {element}{conds}(poly:"{poly}");')
    lines += [");", "(._;>;);", "out body;"]
    return "\n".join(lines)
