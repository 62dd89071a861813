"""Reading and cutting OSM files: opening (de)compressed OSM XML, and clipping extracts to Tianjin.

* :func:`clip_extract` cuts a (possibly national) ``.osm.pbf`` / ``.osm`` / ``.osm.bz2`` down to the Tianjin
  polygon and the tags a build needs — with osmium-tool (``tags-filter`` + ``extract --strategy smart``,
  C++) when it is installed, else with pyosmium (:func:`clip_filter_pbf`) — and writes reference-complete
  OSM XML that :func:`tjspatial.sources.osm_data.read_osm_xml` parses once for all layers;
* :func:`file_extent` gives a file's extent (for the "nothing inside Tianjin" message).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import shapely

from ..errors import BuildError
from .osm_query import Selector

__all__ = [
    "XML_SUFFIXES",
    "open_osm_xml",
    "clip_extract",
    "clip_filter_pbf",
    "file_extent",
    "filter_expressions",
    "tool_path",
    "is_pbf",
    "is_xml",
    "progress_line",
]

XML_SUFFIXES = (".osm", ".osm.gz", ".osm.bz2", ".xml")


def is_pbf(path: Path) -> bool:
    """Whether ``path`` names an OSM PBF extract (``.pbf``).

    Parameters
    ----------
    path : pathlib.Path
        A file name.

    Returns
    -------
    bool
        True for ``*.pbf``.
    """
    return str(path).lower().endswith(".pbf")


def is_xml(path: Path) -> bool:
    """Whether ``path`` names an OSM XML extract (``.osm``, optionally gzip / bzip2 compressed).

    Parameters
    ----------
    path : pathlib.Path
        A file name.

    Returns
    -------
    bool
        True for ``*.osm``, ``*.osm.gz``, ``*.osm.bz2``.
    """
    return str(path).lower().endswith(XML_SUFFIXES)


class _Counting(io.RawIOBase):
    """A binary file that counts the bytes read from disk (``pos``), below any decompression."""

    def __init__(self, path: Path):
        self._fh = open(path, "rb")
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._fh.readinto(b)
        self.pos += n or 0
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def open_osm_xml(path: Path, *, counting: bool = False):
    """Open an OSM XML file for binary reading, decompressing ``.gz`` / ``.bz2``.

    Parameters
    ----------
    path : pathlib.Path
        The ``.osm``, ``.osm.gz`` or ``.osm.bz2`` file.
    counting : bool, default False
        Also return a counter of the bytes read on disk (for a progress share and ETA).

    Returns
    -------
    file object or tuple
        The binary file, or ``(file, counter)`` with ``counter.pos`` the bytes read so far.
    """
    name = str(path).lower()
    raw = _Counting(Path(path))
    if name.endswith(".gz"):
        fh = gzip.GzipFile(fileobj=io.BufferedReader(raw), mode="rb")
    elif name.endswith(".bz2"):
        fh = bz2.BZ2File(io.BufferedReader(raw), mode="rb")
    else:
        fh = io.BufferedReader(raw)
    return (fh, raw) if counting else fh


def progress_line(what: str, n: int, share: float, elapsed: float) -> str:
    """One progress line of a long step, the same for every step of an extract build.

    Parameters
    ----------
    what : str
        The step (``"parsing x.osm"``, ``"pyosmium pass 1/4 (tagged nodes and ways) over x.osm.pbf"``).
    n : int
        Objects handled so far.
    share : float
        Share of the input read so far (0–1); NaN when unknown.
    elapsed : float
        Seconds since the step started.

    Returns
    -------
    str
        ``"        parsing x.osm: 1,500,000 objects, 50% (300,000 objects/s, ETA 5 s)"``; with an unknown share,
        ``"…, ?% (… objects/s, ETA unknown)"``.
    """
    rate = n / elapsed if elapsed > 0 else 0.0
    known = share == share and share > 0
    eta = elapsed * (1 - share) / share if known else float("nan")
    eta_text = f"ETA {eta:,.0f} s" if eta == eta else "ETA unknown"
    share_text = f"{share:.0%}" if share == share else "?%"
    return f"        {what}: {n:,} objects, {share_text} ({rate:,.0f} objects/s, {eta_text})"


def _file_share(path: Path) -> Callable[[], float]:
    """A function giving how far (0–1) this process has read ``path`` while a reader has it open: the position
    of the file descriptor that reads it (Linux ``/proc/self/fdinfo``, the furthest one if several) over the
    file's size, below any decompression, as :func:`open_osm_xml`'s counter gives it for the XML parser. 1 when
    no descriptor has the file open any more (the reader has read it all and closed it); NaN where positions
    cannot be read (a system without ``/proc``)."""
    target = os.path.realpath(path)
    size = max(os.path.getsize(path), 1)

    def share() -> float:
        best = float("nan")
        try:
            fds = os.listdir("/proc/self/fd")
        except OSError:
            return best
        for fd in fds:
            try:
                if os.readlink(f"/proc/self/fd/{fd}") != target:
                    continue
                with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as fh:
                    pos = int(fh.readline().split()[1])  # "pos:\t<bytes>"
            except (OSError, ValueError, IndexError):
                continue
            best = pos / size if best != best else max(best, pos / size)
        return 1.0 if best != best else min(best, 1.0)

    return share


class _Ticker:
    """Counts the objects of one pass and hands :func:`progress_line` to ``progress`` at most every
    ``interval`` seconds (the clock is read every ``check`` objects)."""

    def __init__(
        self,
        what: str,
        progress: Callable[[str], None] | None,
        share: Callable[[], float],
        *,
        interval: float = 5.0,
        check: int = 10_000,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.what, self.progress, self.share = what, progress, share
        self.interval, self.check, self.clock = interval, check, clock
        self.n = 0
        self.t0 = self.last = clock() if progress is not None else 0.0

    def tick(self) -> None:
        self.n += 1
        if self.progress is not None and self.n % self.check == 0:
            now = self.clock()
            if now - self.last >= self.interval:
                self.last = now
                self.progress(progress_line(self.what, self.n, self.share(), now - self.t0))


def tool_path() -> str | None:
    """The osmium-tool program (Debian ``osmium-tool``), or ``None`` when absent or disabled with the
    environment variable ``TJSPATIAL_NO_OSMIUM_TOOL=1`` (then pyosmium clips).

    Returns
    -------
    str or None
        The path of ``osmium``.
    """
    if os.environ.get("TJSPATIAL_NO_OSMIUM_TOOL"):
        return None
    return shutil.which("osmium")


def filter_expressions(selectors: list[Selector]) -> list[str]:
    """osmium ``tags-filter`` expressions that keep at least what ``selectors`` pick: per selector its most
    specific positive condition (``key=value``; ``key~"^(a|b)$"`` → ``key=a,b``; else ``key``), on the
    selector's element types (``n``, ``w``, ``r``).

    Parameters
    ----------
    selectors : list of Selector
        Parsed selectors (:func:`parse_selectors`).

    Returns
    -------
    list of str
        The ``tags-filter`` expressions, e.g. ``w/railway=subway``.
    """
    out = []
    for sel in selectors:
        conds = [(k, op, v) for k, op, v in sel.conditions if op in (None, "=", "~")]
        if not conds:
            continue

        def rank(c):
            k, op, v = c
            return (k == "type", op is None, op == "~" and _alternatives(v) is None)

        key, op, value = sorted(conds, key=rank)[0]
        kinds = "".join(e[0] for e in sel.elements)
        if op == "=":
            out.append(f"{kinds}/{key}={value}")
        elif op == "~" and _alternatives(value):
            out.append(f"{kinds}/{key}={','.join(_alternatives(value))}")
        else:
            out.append(f"{kinds}/{key}")
    return sorted(set(out))


def _alternatives(regex: str) -> list[str] | None:
    m = re.fullmatch(r"\^\(?([\w:|-]+?)\)?\$", regex or "")
    return m.group(1).split("|") if m else None


def _run(cmd: list[str], what: str, src: Path) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise BuildError(f"cannot run osmium-tool for {what} ({exc})", file=str(src)) from exc
    if r.returncode != 0:
        raise BuildError(f"osmium-tool failed to {what}: {r.stderr.strip()[-400:]}", file=str(src))


def clip_extract(
    src: Path, out: Path, polygon, keys: set[str], *, selectors: list[Selector] | None = None, progress=None
) -> Path:
    """Write to ``out`` (OSM XML) the objects of ``src`` (``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.gz``)
    that a build needs inside ``polygon`` (EPSG:4326), with everything they reference.

    With osmium-tool (C++): ``osmium tags-filter`` keeps the objects the catalog's selectors (or
    ``selectors``) can pick plus their referenced ways and nodes, then ``osmium extract --strategy smart``
    cuts that to the polygon keeping ways whole and multipolygon, boundary and route relations complete.
    Without it, :func:`clip_filter_pbf` does the same with pyosmium on the polygon's bounding box. The file is
    written to a temporary name in ``out``'s folder and renamed when complete.

    Parameters
    ----------
    src : pathlib.Path
        The extract (``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.gz``).
    out : pathlib.Path
        The OSM XML file to write.
    polygon : shapely.Geometry
        The area, EPSG:4326 (degrees).
    keys : set of str
        Tag keys the build's selectors test (:func:`tjspatial.sources.osm_query.osm_keys`).
    selectors : list of Selector, optional
        Selectors to keep instead of the catalog's.
    progress : callable, optional
        Receives progress lines.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    BuildError
        The file cannot be read or clipped (naming the file and what failed).
    """
    import tempfile

    tool = tool_path()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if tool is None:
        sels = selectors
        return clip_filter_pbf(src, out, tuple(shapely.bounds(polygon)), keys, selectors=sels, progress=progress)
    from .osm_query import parse_selectors

    sels = selectors or parse_selectors([f'nwr["{k}"]' for k in sorted(keys)])
    exprs = filter_expressions(sels)
    say = progress or (lambda msg: None)
    bar = ["--progress"] if progress is not None and sys.stderr.isatty() else ["--no-progress"]
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".clip-") as tmpdir:
        tmp = Path(tmpdir)
        poly = tmp / "tianjin.geojson"
        poly.write_text(
            json.dumps({"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(polygon)}),
            encoding="utf-8",
        )
        t = time.perf_counter()
        filtered = tmp / "filtered.osm.pbf"
        _run([tool, "tags-filter", str(src), *exprs, "-o", str(filtered), "-O", *bar], "filter the tags", src)
        say(
            f"        osmium tags-filter: {filtered.stat().st_size / 1e6:,.1f} MB kept "
            f"({time.perf_counter() - t:.1f} s)"
        )
        t = time.perf_counter()
        part = tmp / "clipped.osm"
        _run(
            [
                tool,
                "extract",
                "-p",
                str(poly),
                "--strategy",
                "smart",
                "-S",
                "types=multipolygon,boundary,route",
                str(filtered),
                "-o",
                str(part),
                "-f",
                "osm",
                "-O",
                *bar,
            ],
            "clip to the Tianjin polygon",
            src,
        )
        say(
            f"        osmium extract --strategy smart: {part.stat().st_size / 1e6:,.1f} MB "
            f"({time.perf_counter() - t:.1f} s)"
        )
        os.replace(part, out)
    return out


def file_extent(src: Path) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of every node of an OSM file (osmium-tool ``fileinfo -e``, else
    the file header's box, else a pyosmium pass); ``None`` if it has no node.

    Parameters
    ----------
    src : pathlib.Path
        An OSM file (PBF or XML).

    Returns
    -------
    tuple of float or None
        ``(min lon, min lat, max lon, max lat)`` in degrees, or None when it has no node.
    """
    tool = tool_path()
    if tool:
        r = subprocess.run([tool, "fileinfo", "-e", "-g", "data.bbox", str(src)], capture_output=True, text=True)
        nums = re.findall(r"-?\d+(?:\.\d+)?", r.stdout)
        if r.returncode == 0 and len(nums) == 4:
            return tuple(float(v) for v in nums)
    import osmium

    x0 = y0 = np.inf
    x1 = y1 = -np.inf
    for obj in osmium.FileProcessor(str(src), osmium.osm.NODE):
        loc = obj.location
        if loc.valid():
            x0, y0, x1, y1 = min(x0, loc.lon), min(y0, loc.lat), max(x1, loc.lon), max(y1, loc.lat)
    return None if x0 == np.inf else (x0, y0, x1, y1)


def clip_filter_pbf(
    src: Path,
    out: Path,
    bbox: tuple[float, float, float, float],
    keys: set[str],
    selectors: list[Selector] | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    interval: float = 5.0,
    check: int = 10_000,
    clock: Callable[[], float] = time.perf_counter,
) -> Path:
    """Write to ``out`` (OSM XML) the objects of ``src`` (``.osm.pbf``) that carry one of ``keys`` and lie in
    ``bbox`` (min lon, min lat, max lon, max lat, EPSG:4326), plus everything they reference.

    Nodes are kept when inside the box; ways when any of their nodes is; relations when any member node or
    way was kept. Referenced objects (way nodes, relation members) are added whole with their tags (pyosmium
    ``BackReferenceWriter``), so multipolygons and routes crossing the box stay complete. With ``selectors``,
    an object must also be picked by one of them (e.g. the walkable-way selector). ``src`` may also be OSM
    XML (pyosmium reads both). The file is written to a temporary name in ``out``'s folder and renamed when
    complete.

    It reads ``src`` in up to four passes (tagged nodes and ways; tagged relations; the positions of relation
    members; the relations kept). With ``progress``, each pass hands it a :func:`progress_line` at most every ``interval``
    seconds (``clock``, checked every ``check`` objects) — objects so far, share of the file read, objects/s
    and ETA — as the osmium-tool path and the XML parser do.

    Parameters
    ----------
    src : pathlib.Path
        The extract (``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.gz``).
    out : pathlib.Path
        The OSM XML file to write.
    bbox : tuple of float
        ``(min lon, min lat, max lon, max lat)``, degrees (EPSG:4326).
    keys : set of str
        Tag keys an object must carry one of.
    selectors : list of Selector, optional
        An object must also be picked by one of them.
    progress : callable, optional
        Receives a progress line at most every ``interval`` seconds.
    interval : float, default 5.0
        Seconds between progress lines.
    check : int, default 10000
        Objects between clock checks.
    clock : callable, optional
        Time source in seconds (default ``time.perf_counter``; tests pass a fake).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    BuildError
        pyosmium is not installed, or the PBF cannot be read (naming the file).
    """
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - osmium is a dependency
        raise BuildError("reading .osm.pbf needs pyosmium (pip install osmium)", file=str(src)) from exc
    x0, y0, x1, y1 = bbox
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.stem}.tmp-{os.getpid()}.osm")
    tmp.unlink(missing_ok=True)
    tracker = osmium.IdTracker()
    share = _file_share(src)

    def node_inside(loc) -> bool:
        return loc.valid() and x0 <= loc.lon <= x1 and y0 <= loc.lat <= y1

    def way_inside(way) -> bool:
        return any(node_inside(nd.location) for nd in way.nodes)

    def ticker(what: str) -> _Ticker:
        return _Ticker(
            f"pyosmium pass {what} over {src.name}", progress, share, interval=interval, check=check, clock=clock
        )

    try:
        with osmium.BackReferenceWriter(str(tmp), ref_src=str(src), overwrite=True, remove_tags=False) as writer:
            fp = (
                osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY)
                .with_locations()
                .with_filter(osmium.filter.KeyFilter(*sorted(keys)))
            )
            tick = ticker("1/4 (tagged nodes and ways)")
            for obj in fp:
                tick.tick()
                if selectors is not None:
                    kind = "node" if obj.is_node() else "way"
                    tags = dict(obj.tags)
                    if not any(sel.matches(kind, tags) for sel in selectors):
                        continue
                if obj.is_node():
                    if node_inside(obj.location):
                        tracker.add_node(obj.id)
                        writer.add_node(obj)
                elif way_inside(obj):
                    tracker.add_way(obj.id)
                    writer.add_way(obj)
            # a relation's member may lack the keys (e.g. an untagged outer way): find member positions
            rels = []
            tick = ticker("2/4 (tagged relations)")
            for obj in osmium.FileProcessor(str(src), osmium.osm.RELATION).with_filter(
                osmium.filter.KeyFilter(*sorted(keys))
            ):
                tick.tick()
                if selectors is not None and not any(sel.matches("relation", dict(obj.tags)) for sel in selectors):
                    continue
                rels.append((obj.id, [(m.type, m.ref) for m in obj.members]))
            member_ways = {ref for _, ms in rels for t, ref in ms if t == "w"}
            member_nodes = {ref for _, ms in rels for t, ref in ms if t == "n"}
            inside_w, inside_n = set(), set()
            if member_ways or member_nodes:
                tick = ticker("3/4 (positions of relation members)")
                for obj in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY).with_locations():
                    tick.tick()
                    if obj.is_node():
                        if obj.id in member_nodes and node_inside(obj.location):
                            inside_n.add(obj.id)
                    elif obj.id in member_ways and way_inside(obj):
                        inside_w.add(obj.id)
            keep = {
                rid
                for rid, ms in rels
                if any((t == "w" and r in inside_w) or (t == "n" and r in inside_n) for t, r in ms)
            }
            if keep:
                tick = ticker("4/4 (relations kept)")
                for obj in osmium.FileProcessor(str(src), osmium.osm.RELATION):
                    tick.tick()
                    if obj.id in keep:
                        writer.add_relation(obj)
        os.replace(tmp, out)
    except BuildError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"cannot clip/filter the PBF extract ({type(exc).__name__}: {exc})", file=str(src)) from exc
    return out
