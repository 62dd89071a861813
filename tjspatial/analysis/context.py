"""One run's memo: results that several analyses need, computed once per ``tj.analyse`` run and reused.

``tj.analyse`` creates one :class:`RunCache` and passes it down (``cache=``) to the functions that build
something another step needs again: the population model's allocation units and land shares (shared by the
model and its variants), the rail graph and its located stations (shared by the open and plan networks and the
dual-city sensitivity cases), the zonal weights of every set of areas over a grid layout (shared by the coverage
ranges of every station set), the raster frame and nearest-station query of the surfaces (shared by the hubs).

The memo is an ordinary object, not module state: it lives as long as the run holds it, so nothing leaks
between GeoPackages, runs or user calls. Keys are tuples of immutable inputs (the GeoPackage path, parameters,
hashes of geometries); without a cache every function computes as before, so cached and uncached results are
the same numbers (tests/test_run_cache.py). It is thread-safe: a result asked for by two threads at once is
computed by the first and waited for by the second.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from typing import Any, Callable, Hashable

import numpy as np
import shapely

__all__ = ["RunCache", "memo", "geometry_key"]


class RunCache:
    """Results of one analysis run, keyed by their inputs.

    Attributes
    ----------
    hits, misses : collections.Counter
        Per kind of result (the first element of the key), how often it was reused / computed (for tests and
        benchmarks).
    """

    def __init__(self) -> None:
        self._memo: dict[Hashable, Any] = {}
        self._busy: dict[Hashable, threading.Lock] = {}  # a lock per key being computed
        self._lock = threading.Lock()
        self.hits: Counter = Counter()
        self.misses: Counter = Counter()

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The value stored under ``key``, computed with ``compute()`` the first time.

        Parameters
        ----------
        key : tuple
            Hashable description of the inputs; its first element names the kind of result.
        compute : callable
            Called without arguments when ``key`` is not stored yet.

        Returns
        -------
        object
            The stored (shared) value: callers must not change it.
        """
        with self._lock:
            if key in self._memo:
                self.hits[key[0]] += 1
                return self._memo[key]
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:  # another thread computing the same key: wait for it
            with self._lock:
                if key in self._memo:
                    self.hits[key[0]] += 1
                    return self._memo[key]
                self.misses[key[0]] += 1
            value = compute()
            with self._lock:
                self._memo[key] = value
                self._busy.pop(key, None)
        return value

    def __len__(self) -> int:
        return len(self._memo)

    def __repr__(self) -> str:
        return f"RunCache({len(self._memo)} results, {sum(self.hits.values())} reuses)"


def memo(cache: RunCache | None, key: tuple, compute: Callable[[], Any]) -> Any:
    """``cache.get(key, compute)``, or just ``compute()`` when there is no cache.

    Parameters
    ----------
    cache : RunCache or None
        The run's memo.
    key : tuple
        What the value is computed from.
    compute : callable
        Computes the value (no arguments).

    Returns
    -------
    Any
        The cached or computed value.
    """
    return compute() if cache is None else cache.get(key, compute)


def path_key(path) -> str | None:
    """The GeoPackage a result was read from, as a string key (``None`` for the default one)."""
    return None if path is None else os.fspath(path)


def geometry_key(geoms, crs=None) -> str:
    """A content key of a geometry array (SHA-1 of its WKB) and its CRS.

    Parameters
    ----------
    geoms : array-like of shapely.Geometry
        The geometries.
    crs : optional
        Their CRS (anything pyproj accepts).

    Returns
    -------
    str
        A hex digest.
    """
    arr = np.asarray(geoms, dtype=object).reshape(-1)
    h = hashlib.sha1(b"".join(shapely.to_wkb(arr)))
    h.update(str(crs).encode())
    return h.hexdigest()
