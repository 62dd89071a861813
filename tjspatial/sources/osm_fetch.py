"""Fetching OSM XML from an Overpass API endpoint, with a cache folder, timeouts, retries and backoff.

Every answer is stored in the cache folder as an ``.osm`` file named after the hash of the endpoint and the
query, so a repeated build (or ``--offline``) reads it instead of asking again, and the file can be opened
like any extract. Nothing is written to the cache unless the whole answer arrived.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from ..errors import BuildError
from ..atomic import atomic_path

__all__ = ["DEFAULT_OVERPASS_URL", "FetchSettings", "OfflineMiss", "cache_path", "fetch_osm_xml"]

DEFAULT_OVERPASS_URL = "https://overpass-api.de/api/interpreter"
RETRY_STATUS = (429, 502, 503, 504)
"""HTTP statuses that mean "busy, try again later" at an Overpass endpoint."""


class OfflineMiss(BuildError):
    """``--offline`` was given and the answer to a query is not in the cache."""


@dataclass(frozen=True)
class FetchSettings:
    """How to talk to Overpass.

    Attributes
    ----------
    url : interpreter endpoint (``.../api/interpreter``).
    cache_dir : folder of cached answers.
    timeout : seconds for one HTTP request (also sent as the Overpass ``[timeout:]``).
    retries : further attempts after a busy status (429/502/503/504), a timeout or a connection error.
    backoff : seconds before the first retry; doubled at each retry (a ``Retry-After`` header wins).
    offline : never use the network; read the cache only.
    """

    url: str = DEFAULT_OVERPASS_URL
    cache_dir: Path = Path("layers/osm_cache")
    timeout: float = 180.0
    retries: int = 3
    backoff: float = 5.0
    offline: bool = False


def cache_path(settings: FetchSettings, query: str, label: str) -> Path:
    """Where the answer to ``query`` at ``settings.url`` is cached (``<label>-<sha256[:16]>.osm``)."""
    digest = hashlib.sha256(f"{settings.url}\n{query}".encode("utf-8")).hexdigest()[:16]
    return Path(settings.cache_dir) / f"overpass-{label}-{digest}.osm"


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def fetch_osm_xml(query: str, settings: FetchSettings, *, label: str, layer_id: str = "<none>",
                  session: requests.Session | None = None, sleep=time.sleep) -> Path:
    """Run an Overpass query (answer in OSM XML) and return the path of the cached answer.

    Raises
    ------
    OfflineMiss
        ``settings.offline`` and the answer is not cached.
    BuildError
        The endpoint could not be reached, kept answering busy, timed out, or answered an error, after
        ``settings.retries`` retries; the message names the layer, the endpoint and the last failure.
    """
    path = cache_path(settings, query, label)
    if path.is_file() and path.stat().st_size > 0:
        return path
    if settings.offline:
        raise OfflineMiss(f"--offline: no cached Overpass answer ({path.name} not in {settings.cache_dir})",
                          layer=layer_id, file=str(path))
    own = session is None
    session = session or requests.Session()
    last = "no attempt made"
    try:
        for attempt in range(settings.retries + 1):
            wait = settings.backoff * (2 ** attempt)
            try:
                response = session.post(settings.url, data={"data": query}, timeout=settings.timeout,
                                        headers={"User-Agent": "tjspatial (OSM refresh)"})
            except requests.Timeout:
                last = f"no answer within {settings.timeout:g} s (timeout)"
            except requests.ConnectionError as exc:
                last = f"cannot connect ({type(exc).__name__}: {exc})"
            else:
                if response.status_code == 200:
                    body = response.content
                    if b"<osm" not in body[:2000]:
                        raise BuildError(f"Overpass at {settings.url} answered 200 but not OSM XML: "
                                         f"{body[:200]!r}", layer=layer_id)
                    if b"runtime error" in body[-3000:] or b"runtime error" in body[:3000]:
                        raise BuildError(f"Overpass at {settings.url} reported a runtime error (query too "
                                         f"large or timed out on the server; raise --timeout)", layer=layer_id)
                    _write_atomic(path, body)
                    return path
                last = f"HTTP {response.status_code} {response.reason or ''}".strip()
                if response.status_code not in RETRY_STATUS:
                    raise BuildError(f"Overpass at {settings.url} answered {last}: "
                                     f"{response.text[:300]}", layer=layer_id)
                wait = _retry_after(response) or wait
            if attempt < settings.retries:
                sleep(wait)
    finally:
        if own:
            session.close()
    raise BuildError(f"Overpass at {settings.url} failed after {settings.retries + 1} attempt(s): {last}. "
                     f"Check the network or --overpass-url, raise --timeout/--retries, build from the cache "
                     f"with --offline, or use --source extract FILE", layer=layer_id)


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
