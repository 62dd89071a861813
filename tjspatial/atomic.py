"""Write outputs atomically: to a temporary file beside the target, renamed over it only when complete."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block ends without error.

    The temporary name is ``.<stem>.tmp-<pid><suffix>`` in the target folder (same filesystem, so the rename
    is atomic). ``suffix`` defaults to the target's suffix, which keeps drivers that pick a format by
    extension (GDAL, rasterio) working. On any error the temporary file is removed and the target is left
    as it was.

    Examples
    --------
    >>> with atomic_path("out/table.csv") as tmp:          # doctest: +SKIP
    ...     df.to_csv(tmp, index=False)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix if suffix is None else suffix}")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
