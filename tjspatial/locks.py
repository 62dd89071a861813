"""Advisory file locks that serialise the writers of one GeoPackage or one imports folder.

Two ``tjspatial build`` or ``import-layer`` runs on the same target would otherwise each read the state,
work, and write: the last writer wins and the other's work is silently lost (three concurrent imports
used to leave two records). :func:`file_lock` makes the second run wait for the first.

The lock is an ``flock`` on a small file (``.<name>.lock`` beside a GeoPackage, ``.lock`` inside the
imports folder) holding the owner's process id, removed when the lock is released; the operating system
releases the lock when the process ends, even by ``kill -9`` (the file left then is simply locked again by
the next run), so a lock is never left stale. Within one thread the lock is re-entrant (the import
workflow holds it around the build, which takes it too).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import TjSpatialError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: msvcrt locks a byte range instead
    fcntl = None
    import msvcrt

__all__ = ["LockTimeout", "file_lock", "gpkg_lock_path", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 900.0
"""How long (s) a run waits for another run holding the same lock before it gives up."""

_held: dict[tuple[str, int], int] = {}  # (lock file, thread) → depth, for re-entrancy in one thread


class LockTimeout(TjSpatialError):
    """Another run held the lock longer than the timeout."""


def gpkg_lock_path(gpkg: str | Path) -> Path:
    """The lock file that serialises writers of the GeoPackage ``gpkg``: ``.<name>.lock`` beside it.

    Parameters
    ----------
    gpkg : str or pathlib.Path
        The GeoPackage.

    Returns
    -------
    pathlib.Path
        ``.<name>.lock`` in the GeoPackage's folder.
    """
    gpkg = Path(gpkg)
    return gpkg.with_name(f".{gpkg.name}.lock")


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


@contextmanager
def file_lock(
    lock_file: str | Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    what: str = "",
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold an exclusive lock on ``lock_file`` (created if needed) for the duration of the block.

    Parameters
    ----------
    lock_file : str or pathlib.Path
        The lock file (created if needed; left in place).
    timeout : float, optional
        Seconds to wait for another holder before raising :class:`LockTimeout`.
    what : str, default ""
        What the lock protects, for the messages (e.g. ``"GeoPackage layers/tianjin.gpkg"``).
    on_wait : callable, optional
        Called once with a message when the lock is not free within a second (e.g. a progress printer).

    Yields
    ------
    pathlib.Path
        The lock file, held until the block ends.
    """
    lock_file = Path(lock_file)
    key = (str(lock_file.absolute()), threading.get_ident())
    if key in _held:
        _held[key] += 1
        try:
            yield lock_file
        finally:
            _held[key] -= 1
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            waited = time.monotonic()
            while not _try_lock(fd):
                if on_wait is not None and waited is not None and time.monotonic() - waited > 1.0:
                    on_wait(f"waiting for another run (process {_holder(fd)}) to finish writing {what or lock_file}")
                    waited = None
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{what or lock_file} is being written by another run (process "
                        f"{_holder(fd)}); gave up after {timeout:g} s waiting for {lock_file}"
                    )
                time.sleep(0.05)
            try:  # the holder before us removes the file when it is done: lock the file that is there now
                same = os.stat(lock_file).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _held[key] = 1
        try:
            yield lock_file
        finally:
            del _held[key]
            try:
                os.unlink(lock_file)  # while still locked, so no one else holds this inode; leaves no file behind
            except OSError:
                pass
    finally:
        os.close(fd)  # closing the descriptor releases the lock (so does the end of the process, even kill -9)


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
    except OSError:
        return "unknown"
