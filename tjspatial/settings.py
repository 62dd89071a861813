"""Typed settings of the OpenStreetMap sources, declared once: defaults, command-line flags and help.

``OsmSettings`` is what the ``tjspatial build`` and ``tjspatial walk-network`` commands build from their
arguments; ``OsmSettings.as_options()`` is the ``options`` mapping ``tj.build`` and
``tjspatial.sources.osm.build_walk_graph`` accept (only the values that were set, so each source applies the
defaults below). The Overpass client (:mod:`tjspatial.sources.osm_fetch`) takes its defaults from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

__all__ = [
    "OsmSettings",
    "OSM_OPTIONS",
    "DEFAULT_OVERPASS_URL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_DEADLINE",
    "DEFAULT_RETRIES",
    "DEFAULT_BACKOFF",
]

DEFAULT_OVERPASS_URL = "https://overpass-api.de/api/interpreter"
"""Overpass interpreter endpoint."""
DEFAULT_TIMEOUT = 180.0
"""Seconds one Overpass request may take in all (also sent as the query's ``[timeout:]``)."""
DEFAULT_DEADLINE = 3600.0
"""Seconds all the Overpass requests of one build may take, waits included."""
DEFAULT_RETRIES = 3
"""Further attempts after a busy status, a timeout or a dropped connection."""
DEFAULT_BACKOFF = 5.0
"""Seconds before the first retry (doubled at each retry)."""


@dataclass(frozen=True)
class OsmSettings:
    """Options of the OSM sources; ``None`` / ``False`` means "not given": the source's default applies.

    Attributes
    ----------
    osm_date : str or None
        Query OSM as of this date (``YYYY-MM-DD``, Overpass attic data).
    overpass_url : str or None
        Overpass interpreter endpoint (default :data:`DEFAULT_OVERPASS_URL`).
    cache_dir : Path or None
        Folder of cached Overpass answers and clipped extracts (default ``layers/osm_cache``).
    offline : bool
        No network: cached answers only; layers without one keep their bundled source.
    timeout : float or None
        Seconds one Overpass request may take in all, answer included (default :data:`DEFAULT_TIMEOUT`).
    deadline : float or None
        Seconds all Overpass requests of a build may take, waits included (default :data:`DEFAULT_DEADLINE`).
    retries : int or None
        Retries after HTTP 429/502/503/504, timeouts and connection errors (default :data:`DEFAULT_RETRIES`).
    strict : bool
        Fail instead of falling back when the OSM data does not cover a layer or district.
    extract : Path or None
        A local OSM extract (``.osm``, ``.osm.gz``, ``.osm.bz2``, ``.osm.pbf``) instead of Overpass.
    """

    osm_date: str | None = None
    overpass_url: str | None = None
    cache_dir: Path | None = None
    offline: bool = False
    timeout: float | None = None
    deadline: float | None = None
    retries: int | None = None
    strict: bool = False
    extract: Path | None = None

    @classmethod
    def from_args(cls, args: Any) -> "OsmSettings":
        """The settings found as attributes of ``args`` (an ``argparse.Namespace``); missing ones unset."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None})

    def as_options(self) -> dict[str, Any]:
        """The settings that were given, as the ``options`` mapping of ``tj.build`` (``--retries 0`` kept).

        Returns
        -------
        dict of str to Any
            Option name → value, only the settings that were given.
        """
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}


OSM_OPTIONS: dict[str, dict[str, Any]] = {
    "osm_date": {"flag": "--osm-date", "help": "query OSM as of this date (YYYY-MM-DD, Overpass attic)"},
    "overpass_url": {
        "flag": "--overpass-url",
        "help": f"Overpass interpreter endpoint (default {DEFAULT_OVERPASS_URL})",
    },
    "cache_dir": {
        "flag": "--cache-dir",
        "type": Path,
        "help": "folder of cached Overpass answers and clipped extracts (default layers/osm_cache)",
    },
    "offline": {
        "flag": "--offline",
        "action": "store_true",
        "help": "no network: use cached answers only; layers without one keep their bundled source",
    },
    "timeout": {
        "flag": "--timeout",
        "type": "seconds",
        "help": f"seconds one Overpass request may take in all, answer included (default {DEFAULT_TIMEOUT:g})",
    },
    "deadline": {
        "flag": "--deadline",
        "type": "seconds",
        "help": f"seconds all Overpass requests may take, waits included (default {DEFAULT_DEADLINE:g})",
    },
    "retries": {
        "flag": "--retries",
        "type": int,
        "help": "retries after HTTP 429/502/503/504, timeouts, connection errors, with doubling backoff "
        f"(default {DEFAULT_RETRIES})",
    },
    "strict": {
        "flag": "--strict",
        "action": "store_true",
        "help": "fail instead of falling back: a layer or district the OSM data does not cover, or a "
        "failed plausibility rule, is an error",
    },
}
"""Command-line declaration of each :class:`OsmSettings` field (``extract`` is positional per command)."""
