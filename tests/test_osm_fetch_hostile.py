"""Hostile and unlucky Overpass servers (issue #14 item 8), played by a real HTTP server on 127.0.0.1.

Each test scripts the server's answers; every server loop is bounded (a trickling server sends at most a few
bytes, a dropped connection is closed at once), so no test can hang. Waits between retries go through a
recording ``sleep`` so no test sleeps for real.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tjspatial.errors import BuildError
from tjspatial.sources import osm
from tjspatial.sources.osm_fetch import (
    MAX_RETRY_AFTER,
    FetchSettings,
    cache_path,
    fetch_osm_xml,
    is_complete_osm_xml,
    parse_retry_after,
)

XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="Overpass API">\n'
    b'  <node id="1" lat="39.1" lon="117.2"><tag k="railway" v="station"/></node>\n</osm>\n'
)
QUERY = "[out:xml];node(1);out;"


class FakeOverpass:
    """A one-connection-at-a-time HTTP server on 127.0.0.1 answering from a script.

    Script items: ``("ok", body)``, ``("status", code, headers)``, ``("drop", body, cut)`` (announce the
    whole length, send ``cut`` bytes, close), ``("trickle", n)`` (headers, then one byte every 0.25 s,
    at most ``n`` bytes, then close). The last item repeats.
    """

    def __init__(self, script):
        self.script = list(script)
        self.requests = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/interpreter"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for _ in range(200):  # bounded: at most 200 accept rounds of 0.2 s
            if self.stop.is_set():
                return
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self._answer(conn)
                except OSError:
                    pass

    def _answer(self, conn):
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(
            next((ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")), b"0")
        )
        while len(rest) < length:
            rest += conn.recv(4096)
        self.requests += 1
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        kind = item[0]
        if kind == "ok":
            body = item[1]
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/osm3s+xml\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        elif kind == "status":
            code, headers = item[1], item[2]
            extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            conn.sendall(f"HTTP/1.1 {code} Busy\r\n{extra}Content-Length: 4\r\nConnection: close\r\n\r\nbusy".encode())
        elif kind == "drop":
            body, cut = item[1], item[2]
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:cut]
            )
        elif kind == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100000\r\n\r\n")
            for i in range(item[1]):
                if self.stop.is_set():
                    return
                conn.sendall(XML[i : i + 1])
                time.sleep(0.25)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def server(request):
    servers = []

    def make(script):
        s = FakeOverpass(script)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def settings(srv, tmp_path, **kw) -> FetchSettings:
    base = dict(
        url=srv.url, cache_dir=tmp_path / "cache", timeout=3.0, retries=1, backoff=0.0, deadline=time.monotonic() + 20
    )
    base.update(kw)
    return FetchSettings(**base)


def test_retry_after_far_future_is_refused_not_slept(server, tmp_path):
    srv = server([("status", 429, {"Retry-After": "100000"})])
    waits = []
    t = time.monotonic()
    with pytest.raises(BuildError, match=r"asks to retry after 100000 s, more than allowed \(at most 300 s") as exc:
        fetch_osm_xml(QUERY, settings(srv, tmp_path), label="t", layer_id="water", sleep=waits.append)
    assert exc.value.layer == "water"
    assert waits == [] and srv.requests == 1 and time.monotonic() - t < 3
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("value", ["inf", "-5", "nan", "soon", "1e400"])
def test_retry_after_nonsense_falls_back_to_backoff(server, tmp_path, value):
    srv = server([("status", 503, {"Retry-After": value}), ("ok", XML)])
    waits = []
    path = fetch_osm_xml(QUERY, settings(srv, tmp_path, backoff=0.5), label="t", sleep=waits.append)
    assert waits == [0.5] and srv.requests == 2
    assert path.read_bytes() == XML


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0 and parse_retry_after(" 0 ") == 0.0
    for bad in ("inf", "-inf", "nan", "-5", "", "abc", None):
        assert parse_retry_after(bad) is None, bad
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert MAX_RETRY_AFTER == 300.0


def test_timeout_bounds_the_whole_request_not_each_read(server, tmp_path):
    srv = server([("trickle", 40)])  # one byte every 0.25 s: each read is quick, the answer never ends
    t = time.monotonic()
    with pytest.raises(BuildError, match=r"failed after 2 attempt\(s\): .*within 1 s.*timeout"):
        fetch_osm_xml(QUERY, settings(srv, tmp_path, timeout=1.0), label="t", sleep=lambda s: None)
    assert time.monotonic() - t < 4.5  # two attempts of 1 s each (+ slack), not 40 × 0.25 s × 2
    assert not list((tmp_path / "cache").glob("*.osm"))


def test_build_deadline_stops_retries_and_waits(server, tmp_path):
    srv = server([("status", 504, {})])
    waits = []
    s = settings(srv, tmp_path, retries=50, backoff=10.0, deadline=time.monotonic() + 1.0)
    t = time.monotonic()
    with pytest.raises(BuildError, match="deadline has passed"):
        fetch_osm_xml(QUERY, s, label="t", sleep=lambda w: (waits.append(w), time.sleep(w)))
    assert time.monotonic() - t < 3 and srv.requests == 1
    assert len(waits) == 1 and waits[0] <= 1.0  # the 10 s backoff was cut to the time left


def test_connection_dropped_mid_body_is_retried(server, tmp_path):
    srv = server([("drop", XML, 40), ("ok", XML)])
    path = fetch_osm_xml(QUERY, settings(srv, tmp_path), label="t", sleep=lambda s: None)
    assert srv.requests == 2 and path.read_bytes() == XML


def test_truncated_xml_is_never_cached(server, tmp_path):
    cut = XML[: XML.index(b"</osm>")]
    srv = server([("ok", cut)])
    with pytest.raises(
        BuildError,
        match=r"failed after 2 attempt\(s\): incomplete OSM XML \(\d+ bytes, no "
        r"closing </osm>\)",
    ):
        fetch_osm_xml(QUERY, settings(srv, tmp_path), label="t", sleep=lambda s: None)
    assert srv.requests == 2
    assert not list((tmp_path / "cache").glob("*.osm"))
    # the next run with a healthy server gets the whole answer
    srv2 = server([("ok", XML)])
    path = fetch_osm_xml(QUERY, settings(srv2, tmp_path), label="t", sleep=lambda s: None)
    assert path.read_bytes() == XML and is_complete_osm_xml(path)


def test_poisoned_cache_is_ignored_and_fetched_again(server, tmp_path):
    srv = server([("ok", XML)])
    s = settings(srv, tmp_path)
    poisoned = cache_path(s, QUERY, "t")
    poisoned.parent.mkdir(parents=True)
    poisoned.write_bytes(XML[:60])  # written by an older version that cached a cut-off answer
    path = fetch_osm_xml(QUERY, s, label="t", sleep=lambda s: None)
    assert path == poisoned and path.read_bytes() == XML and srv.requests == 1
    # offline, an incomplete cache entry is not an answer either
    poisoned.write_bytes(XML[:60])
    with pytest.raises(BuildError, match="--offline: no cached Overpass answer"):
        fetch_osm_xml(QUERY, FetchSettings(url=srv.url, cache_dir=tmp_path / "cache", offline=True), label="t")


@pytest.mark.parametrize("bad", [0, -5, float("inf"), float("nan"), "abc"])
def test_timeout_zero_or_nonsense_is_refused(tmp_path, bad):
    with pytest.raises(BuildError, match="--timeout must be a positive number of seconds"):
        osm.fetch_settings({"timeout": bad, "cache_dir": tmp_path})
    with pytest.raises(BuildError, match="--deadline must be a positive number of seconds"):
        osm.fetch_settings({"deadline": bad, "cache_dir": tmp_path})
    s = osm.fetch_settings({"cache_dir": tmp_path})
    assert s.timeout == 180.0 and s.retries == 3


def test_cli_refuses_timeout_zero(tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tjspatial.cli",
            "build",
            "--source",
            "osm",
            "--timeout",
            "0",
            "--out",
            str(tmp_path / "x.gpkg"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    assert "argument --timeout: must be a positive number of seconds, not '0'" in r.stderr
    assert not (tmp_path / "x.gpkg").exists()


def test_deadline_is_per_build(tmp_path):
    """All the requests of one build share one deadline, counted from the build's first Overpass request."""
    options = {"cache_dir": tmp_path, "deadline": 50}
    t = time.monotonic()
    first = osm.fetch_settings(options)
    time.sleep(0.05)
    second = osm.fetch_settings(options)  # a later layer of the same build
    assert first.deadline == second.deadline
    assert t + 49 < first.deadline <= time.monotonic() + 50
    assert osm.fetch_settings({"cache_dir": tmp_path}).deadline > second.deadline + 3000  # a new build: 3600 s


def test_strict_offline_without_cache_is_an_error(tmp_path):
    from tjspatial.build import build

    with pytest.raises(BuildError, match=r"layer 'districts'.*--strict: --offline and no cached Overpass answer"):
        build(
            source="osm",
            out=tmp_path / "x.gpkg",
            layers=["boundary", "districts"],
            options={"cache_dir": tmp_path / "empty", "offline": True, "strict": True},
        )
    assert not (tmp_path / "x.gpkg").exists()
