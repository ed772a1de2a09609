"""The HTML both pages share (`livo report`, `livo eval`): one self-contained file with the style and
script inlined and every image a data URI, so it opens from disk with no network.

The markup is Jinja2 templates in ``templates/`` (package data), autoescaped: a value put on a page is
escaped unless a template itself writes it as markup. ``page.html.j2`` is the shell, ``macros.html.j2``
the shared pieces (image frames with their blur, tables, notes, gallery filters). Pair cards carry
``data-*`` attributes the script filters by; a violating image is blurred whole, or only in NudeNet's
boxes where it found any, until the reader turns the switch on.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup, escape
from PIL import Image

# Embedded copies are downscaled thumbnails: a report of hundreds of 512 px pairs stays a few MB.
THUMB_PX = 256
PAGE_SIZE = 24


@cache
def _asset(name: str) -> Markup:
    """The style or script, inlined as it is (it is ours, not data)."""
    return Markup(resources.files("pipeline.report").joinpath("assets", name).read_text(encoding="utf-8"))


def _cell(v: object) -> tuple[bool, str]:
    """(numeric, text) of a table cell: numbers right-aligned, floats to 4 significant digits."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return True, f"{v:.4g}" if isinstance(v, float) else f"{v}"
    return False, str(v)


def _code(text: str) -> Markup:
    """Escape, then the facts' `code` spans as <code>."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pipeline.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.globals["asset"] = _asset
    env.filters.update(cell=_cell, code=_code, pct=lambda f: f"{f:.2%}", distinct=lambda v: sorted(set(v)))
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail_uri(img: Image.Image, px: int = THUMB_PX) -> str:
    img = img.convert("RGB")
    if max(img.size) > px:
        img.thumbnail((px, px))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return data_uri(buf.getvalue(), "image/jpeg")


def png_uri(png: bytes) -> str:
    return data_uri(png, "image/png")


@dataclass(frozen=True)
class Box:
    """A region to blur, as fractions of the image's width and height."""

    left: float
    top: float
    width: float
    height: float


def frame(src: str | None, *, alt: str, blur: bool = False, boxes: Sequence[Box] = ()) -> str:
    """One image in its frame (the template macro, for callers outside a template)."""
    return str(environment().get_template("macros.html.j2").module.frame(src, alt, blur=blur, boxes=boxes))
