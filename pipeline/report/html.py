"""The HTML both pages share (`livo report`, `livo eval`): one self-contained file with the style and
script inlined and every image a data URI, so it opens from disk with no network.

Pair cards carry ``data-*`` attributes the script filters by; a violating image is blurred whole,
or only in NudeNet's boxes where it found any, until the reader turns the switch on.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources

from PIL import Image

# Embedded copies are downscaled thumbnails: a report of hundreds of 512 px pairs stays a few MB.
THUMB_PX = 256
PAGE_SIZE = 24


def _asset(name: str) -> str:
    return resources.files("pipeline.report").joinpath("assets", name).read_text(encoding="utf-8")


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
    """One image in its frame; `blur` hides it (its `boxes` only, when there are any)."""
    if src is None:
        return '<div class="frame"><span class="noimage">no image stored</span></div>'
    cls = "frame" + (" blur-full" if blur and not boxes else "")
    overlays = "".join(
        f'<div class="box" style="left:{b.left:.2%};top:{b.top:.2%};width:{b.width:.2%};height:{b.height:.2%}">'
        "</div>" for b in boxes) if blur else ""
    return f'<div class="{cls}"><img src="{src}" alt="{escape(alt)}">{overlays}</div>'


def table(head: Sequence[str], rows: Iterable[Sequence[object]], caption: str | None = None) -> str:
    def cell(v: object) -> str:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return f'<td class="num">{v:.4g}</td>' if isinstance(v, float) else f'<td class="num">{v}</td>'
        return f"<td>{escape(str(v))}</td>"

    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{cap}<tr>{''.join(f'<th>{escape(h)}</th>' for h in head)}</tr>{body}</table>"


def note(text: str, warning: bool = False) -> str:
    return f'<div class="note{" warning" if warning else ""}">{text}</div>'


def select(filter_key: str, label: str, values: Iterable[str]) -> str:
    """A gallery filter over the cards' ``data-<filter_key>`` attribute (all values by default)."""
    options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in sorted(set(values)))
    return (f'<label>{escape(label)} <select id="f-{filter_key}" data-filter="{filter_key}">'
            f'<option value="">all</option>{options}</select></label>')


def controls(filters: Sequence[str]) -> str:
    return ('<div class="controls">' + "".join(filters)
            + '<button id="prev" type="button">previous</button><button id="next" type="button">next</button>'
            '<span id="page-info"></span>'
            '<label><input type="checkbox" id="show-violating"> show violating images unblurred</label></div>')


def page(title: str, body: str, page_size: int = PAGE_SIZE) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_asset("report.css")}</style></head>
<body data-page-size="{page_size}">
{body}
<script>{_asset("report.js")}</script>
</body></html>
"""
