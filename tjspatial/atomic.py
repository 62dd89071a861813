"""Write outputs atomically: to a temporary file beside the target, renamed over it only when complete."""

from __future__ import annotations

import glob
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "sweep_stale_temps", "pid_alive"]


def pid_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists (on this machine).

    Parameters
    ----------
    pid : int
        A process id.

    Returns
    -------
    bool
        True when the process exists (or exists but belongs to another user).
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def sweep_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temporary files a killed writer of ``path`` left beside it; return what was removed.

    A temporary file of :func:`atomic_path` is ``.<stem>.tmp-<pid>...`` (GDAL may add ``-journal``,
    ``-wal`` or ``-shm`` companions); one whose process no longer exists can never be completed, so it is
    deleted. Files of live processes are left alone.

    Parameters
    ----------
    path : str or pathlib.Path
        The target file whose leftovers are swept.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(path.stem)}\.tmp-(\d+)")
    removed = []
    for cand in folder.glob(f".{glob.escape(path.stem)}.tmp-*"):
        m = pattern.match(cand.name)
        if m and not pid_alive(int(m.group(1))) and cand.is_file():
            try:
                cand.unlink()
                removed.append(cand)
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block ends without error.

    The temporary name is ``.<stem>.tmp-<pid><suffix>`` in the target folder (same filesystem, so the rename
    is atomic). ``suffix`` defaults to the target's suffix, which keeps drivers that pick a format by
    extension (GDAL, rasterio) working. On any error the temporary file is removed and the target is left
    as it was. Temporary files of writers that were killed (``kill -9``) are swept first
    (:func:`sweep_stale_temps`).

    Parameters
    ----------
    path : str or pathlib.Path
        The target file.
    suffix : str, optional
        Suffix of the temporary file; default the target's.

    Yields
    ------
    pathlib.Path
        The temporary path to write.

    Examples
    --------
    >>> with atomic_path("out/table.csv") as tmp:          # doctest: +SKIP
    ...     df.to_csv(tmp, index=False)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix if suffix is None else suffix}")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
