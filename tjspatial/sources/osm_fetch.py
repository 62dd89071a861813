"""Fetching OSM XML from an Overpass API endpoint, with a cache folder, deadlines, retries and backoff.

Every answer is stored in the cache folder as an ``.osm`` file named after the hash of the endpoint and the
query, so a repeated build (or ``--offline``) reads it instead of asking again, and the file can be opened
like any extract. Nothing is written to the cache unless the whole answer arrived and is complete OSM XML
(it starts with ``<osm`` and ends with ``</osm>``); a cached file that is not complete is ignored and fetched
again.

Time is bounded three ways: ``timeout`` bounds each request as a whole (connecting, waiting and reading the
body — a server trickling one byte a second is cut off), ``deadline`` bounds all the requests of one build
including the waits between retries, and a ``Retry-After`` header is obeyed only when it is a finite,
non-negative number of seconds (or an HTTP date) no larger than :data:`MAX_RETRY_AFTER` and the time left.
"""

from __future__ import annotations

import email.utils
import hashlib
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests

from ..atomic import atomic_path
from ..errors import BuildError
from ..settings import DEFAULT_BACKOFF, DEFAULT_DEADLINE, DEFAULT_OVERPASS_URL, DEFAULT_RETRIES, DEFAULT_TIMEOUT

__all__ = [
    "DEFAULT_OVERPASS_URL",
    "FetchSettings",
    "OfflineMiss",
    "cache_path",
    "fetch_osm_xml",
    "is_complete_osm_xml",
    "parse_retry_after",
    "MAX_RETRY_AFTER",
    "DEFAULT_TIMEOUT",
    "DEFAULT_DEADLINE",
]

RETRY_STATUS = (429, 502, 503, 504)
"""HTTP statuses that mean "busy, try again later" at an Overpass endpoint."""
MAX_RETRY_AFTER = 300.0
"""Longest wait (s) a ``Retry-After`` header may ask for; a longer one ends the attempts with a clear error."""
_CHUNK = 1 << 16


class OfflineMiss(BuildError):
    """``--offline`` was given and the answer to a query is not in the cache."""


@dataclass(frozen=True)
class FetchSettings:
    """How to talk to Overpass.

    Attributes
    ----------
    url : interpreter endpoint (``.../api/interpreter``).
    cache_dir : folder of cached answers.
    timeout : seconds one HTTP request may take in all, body included (also the Overpass ``[timeout:]``).
    retries : further attempts after a busy status (429/502/503/504), a timeout, a connection error, a
        connection dropped mid-body or an incomplete answer.
    backoff : seconds before the first retry; doubled at each retry (a valid ``Retry-After`` header wins).
    offline : never use the network; read the cache only.
    deadline : ``time.monotonic()`` value after which no request is started and no wait begins (one build's
        budget); ``None`` = no overall limit.
    """

    url: str = DEFAULT_OVERPASS_URL
    cache_dir: Path = Path("layers/osm_cache")
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    offline: bool = False
    deadline: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.timeout, (int, float)) and math.isfinite(self.timeout) and self.timeout > 0):
            raise BuildError(f"--timeout must be a positive number of seconds, not {self.timeout!r}", field="timeout")
        if not (isinstance(self.retries, int) and 0 <= self.retries <= 100):
            raise BuildError(f"--retries must be an integer from 0 to 100, not {self.retries!r}", field="retries")
        if not (math.isfinite(self.backoff) and self.backoff >= 0):
            raise BuildError(f"backoff must be a finite number of seconds >= 0, not {self.backoff!r}", field="backoff")


def cache_path(settings: FetchSettings, query: str, label: str) -> Path:
    """Where the answer to ``query`` at ``settings.url`` is cached (``<label>-<sha256[:16]>.osm``).

    Parameters
    ----------
    settings : FetchSettings
        The Overpass settings (endpoint, cache folder).
    query : str
        The Overpass QL text.
    label : str
        A readable prefix (the layer id).

    Returns
    -------
    pathlib.Path
        The cache file (may not exist yet).
    """
    digest = hashlib.sha256(f"{settings.url}\n{query}".encode("utf-8")).hexdigest()[:16]
    return Path(settings.cache_dir) / f"overpass-{label}-{digest}.osm"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait, or ``None`` when absent or not a finite, non-negative
    number of seconds or an HTTP date (``inf``, ``nan``, ``-5``, ``soon`` → ``None``). Not capped here.

    Parameters
    ----------
    value : str or None
        The header value.
    now : datetime.datetime, optional
        The current time (UTC) for an HTTP date; default now.

    Returns
    -------
    float or None
        Seconds to wait.
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        secs = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        secs = (when - (now or datetime.now(timezone.utc))).total_seconds()
        secs = max(secs, 0.0)
    if not math.isfinite(secs) or secs < 0:
        return None
    return secs


def is_complete_osm_xml(data: bytes | Path) -> bool:
    """Whether ``data`` (bytes or a file) looks like a whole OSM XML document: ``<osm`` near the start and
    ``</osm>`` as its last tag (a cut-off answer fails).

    Parameters
    ----------
    data : bytes or pathlib.Path
        The answer or its file.

    Returns
    -------
    bool
        True when it starts with ``<osm`` and ends with ``</osm>``.
    """
    if isinstance(data, Path):
        try:
            size = data.stat().st_size
            with open(data, "rb") as fh:
                head = fh.read(4096)
                fh.seek(max(size - 4096, 0))
                tail = fh.read()
        except OSError:
            return False
    else:
        head, tail = data[:4096], data[-4096:]
    return b"<osm" in head and tail.rstrip().endswith(b"</osm>")


class _Retry(Exception):
    """One attempt failed in a way worth retrying (the message says how)."""


def _read_body(response: requests.Response, stop_at: float, timeout: float) -> bytes:
    """The whole body, read in pieces as they arrive (``read1``), so that ``stop_at`` (``time.monotonic()``)
    bounds a slow server; :class:`_Retry` when it passes or the connection drops mid-body."""
    import urllib3.exceptions as u3

    chunks, size = [], 0
    raw = getattr(response, "raw", None)
    if raw is None or not hasattr(raw, "read1"):  # a response built in memory (tests, adapters)
        return response.content
    try:
        while True:
            if time.monotonic() > stop_at:
                raise _Retry(f"answer not complete within {timeout:g} s ({size:,} bytes received; timeout)")
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except u3.ReadTimeoutError:
        raise _Retry(f"no answer within {timeout:g} s ({size:,} bytes received; timeout)") from None
    except (u3.HTTPError, OSError) as exc:
        raise _Retry(
            f"connection dropped while reading the answer after {size:,} bytes ({type(exc).__name__})"
        ) from None
    return b"".join(chunks)


def _bounded(func, seconds: float):
    """Run ``func()`` in a worker thread and wait at most ``seconds`` for it (connecting and slow headers
    included); :class:`_Retry` (timeout) if it is not done by then. The worker notices its own deadline and
    ends by itself."""
    import threading

    box: dict = {}

    def run():
        try:
            box["value"] = func()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, name="overpass-request", daemon=True)
    worker.start()
    worker.join(seconds + 0.5)
    if worker.is_alive():
        raise _Retry(f"no complete answer within {seconds:g} s (timeout)")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _attempt(
    session: requests.Session, settings: FetchSettings, query: str, budget: float, stop_at: float
) -> tuple[int, str, str | None, bytes]:
    """One POST: ``(status, reason, Retry-After header, body)``; a busy answer's body is not read."""
    response = session.post(
        settings.url,
        data={"data": query},
        timeout=budget,
        stream=True,
        headers={"User-Agent": "tjspatial (OSM refresh)"},
    )
    try:
        if response.status_code != 200 and response.status_code in RETRY_STATUS:
            return response.status_code, response.reason, response.headers.get("Retry-After"), b""
        body = _read_body(response, stop_at, budget)
        return response.status_code, response.reason, response.headers.get("Retry-After"), body
    finally:
        if getattr(response, "raw", None) is not None:
            response.close()


def fetch_osm_xml(
    query: str,
    settings: FetchSettings,
    *,
    label: str,
    layer_id: str = "<none>",
    session: requests.Session | None = None,
    sleep=time.sleep,
) -> Path:
    """Run an Overpass query (answer in OSM XML) and return the path of the cached answer.

    Each attempt may take at most ``settings.timeout`` seconds in all; attempts and the waits between them
    stop at ``settings.deadline``. Busy statuses, timeouts, connection errors (also mid-body) and incomplete
    XML are retried ``settings.retries`` times.

    Parameters
    ----------
    query : str
        The Overpass QL text (output OSM XML).
    settings : FetchSettings
        Endpoint, cache folder, timeout (s), retries, backoff (s), offline, deadline (s).
    label : str
        Prefix of the cache file name (the layer id).
    layer_id : str, optional
        The layer, named in errors.
    session : requests.Session, optional
        HTTP session (tests pass a fake).
    sleep : callable, optional
        Waits between retries, seconds (default ``time.sleep``).

    Returns
    -------
    pathlib.Path
        The cached answer (OSM XML).

    Raises
    ------
    OfflineMiss
        ``settings.offline`` and the answer is not cached.
    BuildError
        The endpoint could not be reached, kept answering busy, timed out, asked to retry later than allowed,
        sent incomplete XML, or answered an error, after ``settings.retries`` retries or at the deadline; the
        message names the layer, the endpoint and the last failure.
    """
    path = cache_path(settings, query, label)
    if path.is_file():
        if is_complete_osm_xml(path):
            return path
        path.unlink(missing_ok=True)  # an incomplete answer cached by an older version: fetch again
    if settings.offline:
        raise OfflineMiss(
            f"--offline: no cached Overpass answer ({path.name} not in {settings.cache_dir})",
            layer=layer_id,
            file=str(path),
        )
    own = session is None
    session = session or requests.Session()
    last = "no attempt made"
    attempts = 0

    def left() -> float:
        return math.inf if settings.deadline is None else settings.deadline - time.monotonic()

    try:
        for attempt in range(settings.retries + 1):
            if left() <= 0:
                last += "; the build's Overpass deadline has passed"
                break
            attempts += 1
            wait = settings.backoff * (2**attempt)
            budget = min(settings.timeout, left())
            stop_at = time.monotonic() + budget
            try:
                status, reason, retry_after, body = _bounded(
                    lambda: _attempt(session, settings, query, budget, stop_at), budget
                )
                if status == 200:
                    if b"<osm" not in body[:4096]:
                        raise BuildError(
                            f"Overpass at {settings.url} answered 200 but not OSM XML: {body[:200]!r}", layer=layer_id
                        )
                    if b"runtime error" in body[-3000:] or b"runtime error" in body[:3000]:
                        raise BuildError(
                            f"Overpass at {settings.url} reported a runtime error (query too "
                            f"large or timed out on the server; raise --timeout)",
                            layer=layer_id,
                        )
                    if not is_complete_osm_xml(body):
                        raise _Retry(f"incomplete OSM XML ({len(body):,} bytes, no closing </osm>)")
                    _write_atomic(path, body)
                    return path
                last = f"HTTP {status} {reason or ''}".strip()
                if status not in RETRY_STATUS:
                    text = body[:300].decode("utf-8", "replace")
                    raise BuildError(f"Overpass at {settings.url} answered {last}: {text}", layer=layer_id)
                asked = parse_retry_after(retry_after)
                if asked is not None:
                    if asked > MAX_RETRY_AFTER or asked > left():
                        raise BuildError(
                            f"Overpass at {settings.url} answered {last} and asks to retry after {asked:g} s, "
                            f"more than allowed (at most {MAX_RETRY_AFTER:g} s, {max(left(), 0):.0f} s left of "
                            f"the build's deadline); try later, another --overpass-url, --offline or "
                            f"--source extract FILE",
                            layer=layer_id,
                        )
                    wait = asked
            except _Retry as exc:
                last = str(exc)
            except requests.Timeout:
                last = f"no answer within {budget:g} s (timeout)"
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                last = f"connection dropped while reading the answer ({type(exc).__name__})"
            except requests.ConnectionError as exc:
                last = f"cannot connect ({type(exc).__name__}: {exc})"
            if attempt < settings.retries:
                wait = min(wait, max(left(), 0))
                if wait > 0:
                    sleep(wait)
    finally:
        if own:
            session.close()
    raise BuildError(
        f"Overpass at {settings.url} failed after {attempts} attempt(s): {last}. "
        f"Check the network or --overpass-url, raise --timeout/--retries, build from the cache "
        f"with --offline, or use --source extract FILE",
        layer=layer_id,
    )


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
