"""What a layer builder receives: the catalog, the layers built so far, and checked access to source files.

A builder is a plain function ``build_x(ctx: BuildContext) -> GeoDataFrame`` named in the catalog. It reads
its sources through ``ctx`` (so that a missing or corrupt file is reported with the layer and file at
fault) and returns a GeoDataFrame in EPSG:4326; :func:`finish_layer` then fixes the schema.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from .catalog import Catalog, Layer
from .crs import STORAGE_CRS
from .errors import BuildError
from .validate import check_table

__all__ = ["BuildContext", "finish_layer", "file_sha256"]


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex (read in 1 MiB chunks).

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class BuildContext:
    """State handed to builders during one build.

    Attributes
    ----------
    catalog : the layer catalog.
    sources_dir : folder of the bundled source files (``layers/sources``).
    layers : layers built so far in this build, by id (EPSG:4326).
    layer : the layer being built (set by the build loop).
    overrides : layer id → file a user imported to replace the layer (see ``tjspatial import-layer``).
    options : free-form build options (e.g. OSM settings) that a source module may read.
    warnings : messages collected during the build (shown and written to the provenance table).
    inputs : layer id → {file name: sha256} of every file its builder read.
    fallbacks : layer id → [(number of features, reason)] a source could not supply and took from the
        layer's bundled source instead (see :meth:`fallback`).
    shared : per-build cache a source module may keep data in (e.g. an OSM extract parsed once).
    """

    catalog: Catalog
    sources_dir: Path
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    layer: Layer | None = None
    overrides: dict[str, Path] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    fallbacks: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    shared: dict = field(default_factory=dict)

    @property
    def layer_id(self) -> str:
        return self.layer.id if self.layer else "<none>"

    def warn(self, message: str) -> None:
        """Record a warning about the current layer (printed in the build summary and kept in provenance).

        Parameters
        ----------
        message : str
            What happened; the layer id is prefixed.
        """
        self.warnings.append(f"{self.layer_id}: {message}")

    def fallback(self, count: int, reason: str, feature: str | None = None) -> None:
        """Record that ``count`` features of the current layer fell back to its bundled source, and why.

        Parameters
        ----------
        count : int
            How many features fell back.
        reason : str
            Why (e.g. the OSM answer lacked them).
        feature : str, optional
            The one feature concerned (named in the ``--strict`` error).

        Raises
        ------
        BuildError
            The build runs with ``strict`` (``--strict``): a fallback is an error.
        """
        if self.options.get("strict"):
            raise BuildError(
                f"--strict: {reason} (without --strict {count} feature(s) would keep the bundled source)",
                layer=self.layer_id,
                feature=feature,
                rule="strict",
            )
        self.fallbacks.setdefault(self.layer_id, []).append((int(count), reason))
        self.warn(f"{reason}; {count} feature(s) kept from the bundled source")

    def path(self, source_id: str) -> Path:
        """Path of a declared source's file.

        Parameters
        ----------
        source_id : str
            A catalog source with a ``file``.

        Returns
        -------
        pathlib.Path
            The file in the sources folder (recorded with its sha256).

        Raises
        ------
        BuildError
            The source is not declared, has no file, or the file is not there.
        """
        try:
            src = self.catalog.sources[source_id]
        except KeyError:
            raise BuildError(f"source {source_id!r} is not declared in the catalog", layer=self.layer_id) from None
        if not src.file:
            raise BuildError(f"source {source_id!r} has no file", layer=self.layer_id)
        return self.file(self.sources_dir / src.file)

    def file(self, path: Path) -> Path:
        """Record ``path`` (and its sha256) as an input of the current layer.

        Parameters
        ----------
        path : pathlib.Path
            Any input file (e.g. a plan input in ``layers/plan``).

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        BuildError
            The file is absent.
        """
        path = Path(path)
        if not path.is_file():
            raise BuildError(f"source file is missing: {path}", layer=self.layer_id, file=str(path))
        self.inputs.setdefault(self.layer_id, {})[path.name] = file_sha256(path)
        return path

    def read_vector(self, source_id: str, **kwargs) -> gpd.GeoDataFrame:
        """Read a declared vector source (any format GDAL reads) into EPSG:4326.

        Parameters
        ----------
        source_id : str
            A declared vector source (any format GDAL reads).
        **kwargs
            Passed to ``pyogrio.read_dataframe`` (e.g. ``layer=``).

        Returns
        -------
        geopandas.GeoDataFrame
            The features in EPSG:4326.
        """
        path = self.path(source_id)
        return read_vector_file(path, layer_id=self.layer_id, **kwargs)

    def read_csv(self, source_id: str, **kwargs) -> pd.DataFrame:
        """Read a declared CSV source (UTF-8).

        Parameters
        ----------
        source_id : str
            A declared CSV source (UTF-8).
        **kwargs
            Passed to :func:`pandas.read_csv`.

        Returns
        -------
        pandas.DataFrame
            The table (declared ``columns`` rules checked).
        """
        path = self.path(source_id)
        try:
            df = pd.read_csv(path, encoding="utf-8", **kwargs)
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise BuildError(f"cannot read CSV: {exc}", layer=self.layer_id, file=str(path)) from exc
        rules = self.catalog.sources[source_id].columns
        if rules:  # declared column rules (e.g. census counts: int >= 0), checked before any builder uses them
            key = next((c for c in ("name_zh", "id", "name") if c in df.columns), None)
            df = check_table(df, rules, file=str(path), key=key, layer=self.layer_id)
        return df

    def get(self, layer_id: str) -> gpd.GeoDataFrame:
        """A layer built earlier in this build (declared in ``depends``).

        Parameters
        ----------
        layer_id : str
            A layer declared before the current one (listed in its ``depends``).

        Returns
        -------
        geopandas.GeoDataFrame
            The built layer (EPSG:4326, catalog schema).
        """
        if layer_id not in self.layers:
            raise BuildError(f"needs layer {layer_id!r}, which was not built before it", layer=self.layer_id)
        return self.layers[layer_id]


def read_vector_file(path: Path, layer_id: str = "<none>", **kwargs) -> gpd.GeoDataFrame:
    """Read a vector file into EPSG:4326 with errors that name the layer and the file."""
    try:
        gdf = pyogrio.read_dataframe(path, **kwargs)
    except Exception as exc:  # pyogrio raises several DataSourceError subclasses and RuntimeErrors
        raise BuildError(f"cannot read the file ({type(exc).__name__}: {exc})", layer=layer_id, file=str(path)) from exc
    if gdf.crs is None:
        raise BuildError("the file has no CRS; declare it (e.g. --crs EPSG:4548)", layer=layer_id, file=str(path))
    return gdf.to_crs(STORAGE_CRS)


def _to_str(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "").map(lambda v: v if isinstance(v, str) else str(v))


def finish_layer(gdf: gpd.GeoDataFrame, layer: Layer, source_label: str) -> gpd.GeoDataFrame:
    """Give ``gdf`` exactly the catalog schema of ``layer``: common fields first, declared fields, geometry.

    Missing ``accuracy`` and ``source`` values default to the layer's accuracy class and ``source_label``.
    Types: str and date → text ('' for missing); int → int64 (nullable Int64 where values are missing);
    float → float64; bool → bool. A declared field the builder did not produce raises :class:`BuildError`.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        A builder's output (EPSG:4326).
    layer : Layer
        Its catalog declaration.
    source_label : str
        Default ``source`` value (e.g. ``bundled``, ``osm``).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer in exactly the catalog schema.
    """
    gdf = gdf.copy()
    if "accuracy" not in gdf.columns:
        gdf["accuracy"] = layer.accuracy
    gdf["accuracy"] = gdf["accuracy"].fillna(layer.accuracy)
    if "source" not in gdf.columns:
        gdf["source"] = source_label
    out = {}
    for name, ftype in layer.all_fields.items():
        if name not in gdf.columns:
            raise BuildError(f"builder did not produce declared field {name!r}", layer=layer.id, field=name)
        col = gdf[name]
        if ftype in ("str", "date"):
            col = _to_str(col)
        elif ftype == "int":
            num = pd.to_numeric(col, errors="raise")
            col = num.astype("int64") if num.notna().all() else num.astype("Int64")
        elif ftype == "float":
            col = pd.to_numeric(col, errors="raise").astype("float64")
        elif ftype == "bool":
            col = col.fillna(False).astype(bool)
        out[name] = col.values
    result = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(gdf.geometry.values, crs=gdf.crs), crs=gdf.crs)
    result.index = np.arange(len(result))
    return result
