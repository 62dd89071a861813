"""Offline web maps: inline the vendored Leaflet and plugin JavaScript/CSS into a page.

Folium loads Leaflet and its plugins from CDNs. The files in ``tjspatial/publish/assets/`` are copies taken
from the npm packages listed in ``assets/MANIFEST.json`` (package, version, licence, licence file), installed
with tjspatial. :func:`inline_assets` replaces every ``<script src=...>`` and ``<link rel="stylesheet" ...>``
of a rendered page by the matching local copy, with the images its CSS refers to as ``data:`` URIs, so that a
map opens from a USB stick with no network. A reference that has no local copy is an error, never left behind.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import TjSpatialError

__all__ = [
    "AssetError",
    "VendoredAsset",
    "ASSETS_DIR",
    "vendored_assets",
    "asset_for_url",
    "inline_assets",
    "external_references",
    "leaflet_icon_data_uris",
]

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
"""Folder of the vendored JavaScript/CSS (with ``MANIFEST.json`` and each package's licence file)."""

_SCRIPT_RE = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["'][^>]*>\s*</script>""", re.I)
_LINK_RE = re.compile(r"""<link\b[^>]*\bhref\s*=\s*["']([^"']+)["'][^>]*>""", re.I)
_CSS_URL_RE = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")
_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


class AssetError(TjSpatialError):
    """A page refers to a script or stylesheet that has no vendored copy (the message names the URL)."""


@dataclass(frozen=True)
class VendoredAsset:
    """One vendored file: its npm package, version, licence and path under :data:`ASSETS_DIR`."""

    package: str
    version: str
    licence: str
    licence_file: str
    kind: str  # "js" | "css"
    path: Path

    @property
    def key(self) -> str:
        return _key(self.path.name)


def _key(filename: str) -> str:
    """``Control.FullScreen.min.js`` → ``control.fullscreen.js`` (match CDN and local names)."""
    name = filename.split("?")[0].split("#")[0].lower()
    return name.replace(".min.", ".")


@lru_cache(maxsize=1)
def vendored_assets() -> tuple[VendoredAsset, ...]:
    """Every vendored JS/CSS file listed in ``assets/MANIFEST.json``."""
    manifest = json.loads((ASSETS_DIR / "MANIFEST.json").read_text(encoding="utf-8"))
    out = []
    for pkg in manifest["packages"]:
        for kind in ("js", "css"):
            for rel in pkg.get(kind, []):
                path = ASSETS_DIR / rel
                if not path.is_file():
                    raise AssetError(f"assets/MANIFEST.json lists {rel} ({pkg['package']}), which is missing")
                out.append(
                    VendoredAsset(pkg["package"], pkg["version"], pkg["licence"], pkg["licence_file"], kind, path)
                )
    return tuple(out)


def asset_for_url(url: str) -> VendoredAsset:
    """The vendored copy of a CDN URL, matched by file name (``.min`` ignored).

    Parameters
    ----------
    url : str
        A CDN URL of a script or stylesheet.

    Returns
    -------
    VendoredAsset
        The vendored file and its kind.

    Raises
    ------
    AssetError
        When no vendored file has that name.
    """
    key = _key(url.rstrip("/").rsplit("/", 1)[-1])
    for asset in vendored_assets():
        if asset.key == key:
            return asset
    raise AssetError(f"no vendored copy of {url} in {ASSETS_DIR} (add the npm package to assets/MANIFEST.json)")


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


@lru_cache(maxsize=32)
def _inline_css(path: Path) -> str:
    css = path.read_text(encoding="utf-8")

    def repl(m: re.Match) -> str:
        ref = m.group(1).strip()
        if ref.startswith(("data:", "#")):
            return m.group(0)
        if "://" in ref or ref.startswith("//"):
            raise AssetError(f"{path.relative_to(ASSETS_DIR)} refers to the remote file {ref}")
        target = (path.parent / ref).resolve()
        if not target.is_file():
            raise AssetError(f"{path.relative_to(ASSETS_DIR)} refers to {ref}, which is not vendored")
        return f'url("{_data_uri(target)}")'

    return _CSS_URL_RE.sub(repl, css).replace("</style", "<\\/style")


@lru_cache(maxsize=32)
def _inline_js(path: Path) -> str:
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


def inline_assets(html: str) -> str:
    """Replace external ``<script src>`` and stylesheet ``<link>`` tags by the vendored copies, inlined.

    Parameters
    ----------
    html : str
        A rendered page (e.g. ``folium.Map.get_root().render()``).

    Returns
    -------
    str
        The page with no external script or stylesheet left.

    Raises
    ------
    AssetError
        Naming the URL that has no vendored copy.
    """

    def script(m: re.Match) -> str:
        asset = asset_for_url(m.group(1))
        return (
            f"<script>/* {asset.package} {asset.version} ({asset.licence}), inlined by tjspatial */\n"
            f"{_inline_js(asset.path)}\n</script>"
        )

    def link(m: re.Match) -> str:
        tag = m.group(0)
        if not re.search(r"""rel\s*=\s*["']?stylesheet""", tag, re.I):
            return tag
        asset = asset_for_url(m.group(1))
        return (
            f"<style>/* {asset.package} {asset.version} ({asset.licence}), inlined by tjspatial */\n"
            f"{_inline_css(asset.path)}\n</style>"
        )

    return _SCRIPT_RE.sub(script, _LINK_RE.sub(link, html))


def leaflet_icon_data_uris() -> dict[str, str]:
    """Leaflet's default marker images as ``data:`` URIs (``L.Icon.Default`` options for offline pages).

    Plugins such as leaflet-measure place default markers; Leaflet would look for the images beside the page.

    Returns
    -------
    dict of str to str
        ``iconUrl``, ``iconRetinaUrl``, ``shadowUrl`` → ``data:image/png;base64,...``.
    """
    images = ASSETS_DIR / "leaflet" / "dist" / "images"
    return {
        "iconUrl": _data_uri(images / "marker-icon.png"),
        "iconRetinaUrl": _data_uri(images / "marker-icon-2x.png"),
        "shadowUrl": _data_uri(images / "marker-shadow.png"),
    }


def external_references(html: str) -> list[str]:
    """URLs of the scripts and stylesheets a page still loads from elsewhere (empty for an offline page).

    Parameters
    ----------
    html : str
        A rendered page.

    Returns
    -------
    list of str
        The URLs, in page order.
    """
    scripts = _SCRIPT_RE.findall(html)
    sheets = [
        m.group(1) for m in _LINK_RE.finditer(html) if re.search(r"""rel\s*=\s*["']?stylesheet""", m.group(0), re.I)
    ]
    return scripts + sheets
