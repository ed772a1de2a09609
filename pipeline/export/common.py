"""What the exports share: the output folder rule, image bytes in the format asked for, and
their user error (the console prints it as one `livo: ...` line)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from pipeline.errors import UserError
from pipeline.run.schema import encode_image


class ExportError(UserError):
    """A user error of an export: the message says what to do."""


def fresh_dir(out: Path | str) -> Path:
    """`out`, created; refused when it already holds files (an export never mixes two runs)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and is not an empty folder: choose a new folder or remove it")
    out.mkdir(parents=True, exist_ok=True)
    return out


def image_bytes(cell: dict, fmt: str, quality: int = 95) -> tuple[bytes, str]:
    """(bytes, extension) of a shard image cell: as stored (`fmt` "original") or re-encoded as JPEG."""
    data = cell["bytes"]
    stored = Path(cell.get("path") or "x.png").suffix.lstrip(".").lower() or "png"
    if fmt == "original" or stored in ("jpg", "jpeg"):
        return data, "jpg" if stored == "jpeg" else stored
    return encode_image(Image.open(io.BytesIO(data)), "jpeg", quality), "jpg"
