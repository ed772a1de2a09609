"""`livo export RUN --format pickapic|livo OUT`: a finished run in the layouts other tools train on, and
what the two exports share: the output folder rule, image bytes in the format asked for, and
their user error (the console prints it as one `livo: ...` line).

**Pick-a-Pic v2** (`export_pickapic`), so the diffusers Diffusion-DPO research example
(`train_diffusion_dpo.py --dataset_name OUT`) and other Pick-a-Pic readers train on a run unchanged.
As Pick-a-Pic stores them: ``caption`` (str), ``jpg_0`` / ``jpg_1`` raw encoded image bytes in a
plain binary column (those readers call ``Image.open(io.BytesIO(b))`` on them, so an ``Image``
feature that decodes to PIL would break them), ``label_0`` float64 (1.0 = ``jpg_0`` preferred;
never a 0.5 tie, which they would count as a ``jpg_0`` win). Here ``jpg_0`` is always the aligned
image and ``label_0`` 1.0. Files ``data/train-NNNNN-of-NNNNN.parquet`` (one per shard, so
`load_dataset(OUT)` finds the ``train`` split by name) and a dataset card. Every non-image column of
the run's shards follows, under its own name.

**The official LiVO training layout** (`export_livo`), which LiVO's
`value_encoder/train.py --train_data_dir OUT` reads.

    OUT/<group>/<scene>/metadata.jsonl   {"prompt", "value", "file_name", "label"} per image
    OUT/<group>/<scene>/<file_name>      the image (label 1 aligned, 0 violating)

That reader lists OUT and every group folder and expects only folders there, and pairs each aligned
image with a random violating image of its scene. So: group = the principle, scene = one prompt
of it (every pair of the prompt: each of its planning.samples_per_pair samples, so a scene holds
several aligned and violating images as LiVO's own data does, and a bias prompt's samples the
values they asked for), and nothing else is
written into OUT (no card: the run folder keeps it). Its training text is ``value + ", " + prompt``:
``value`` is the principle statement, ``prompt`` the input prompt, as our trainer reads them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections import defaultdict
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData
from PIL import Image

from pipeline.config import load_config
from pipeline.errors import UserError
from pipeline.run.atomic import atomic_open, atomic_write_text
from pipeline.run.card import license_info
from pipeline.run.layout import RunPaths
from pipeline.run.schema import IMAGE_COLUMNS, ROW_GROUP_SIZE, encode_image


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


# Pick-a-Pic v2

DATA_DIR = "data"
_S, _B, _F64 = datasets.Value("string"), datasets.Value("binary"), datasets.Value("float64")
PICKAPIC_FEATURES: dict[str, object] = {
    "caption": _S, "jpg_0": _B, "jpg_1": _B, "label_0": _F64, "label_1": _F64,
    "are_different": datasets.Value("bool"), "has_label": datasets.Value("bool"),
    "best_image_uid": _S, "image_0_uid": _S, "image_1_uid": _S, "model_0": _S, "model_1": _S,
}


def _features(shard_schema: pa.Schema) -> datasets.Features:
    ours = datasets.Features.from_arrow_schema(shard_schema)
    return datasets.Features({**PICKAPIC_FEATURES, **{k: v for k, v in ours.items() if k not in IMAGE_COLUMNS}})


def pickapic_row(row: dict, image_format: str, quality: int) -> dict:
    jpg_0, _ = image_bytes(row["aligned"], image_format, quality)
    jpg_1, _ = image_bytes(row["violating"], image_format, quality)
    uid_0, uid_1 = f"{row['id']}-aligned", f"{row['id']}-violating"
    return {"caption": row["prompt"], "jpg_0": jpg_0, "jpg_1": jpg_1, "label_0": 1.0, "label_1": 0.0,
            "are_different": True, "has_label": True, "best_image_uid": uid_0, "image_0_uid": uid_0,
            "image_1_uid": uid_1, "model_0": row["model"], "model_1": row["model"],
            **{k: v for k, v in row.items() if k not in IMAGE_COLUMNS}}


def _card(cfg, run: Path, features: datasets.Features, rows: int) -> str:
    lic, license_text = license_info(cfg)
    meta = DatasetCardData(
        pretty_name=f"{cfg.name} (Pick-a-Pic layout)", **lic, task_categories=["text-to-image"],
        tags=["preference", "pick-a-pic", "diffusion-dpo", "livo", "not-for-all-audiences"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": f"{DATA_DIR}/train-*"}]}])
    # the features as `datasets` writes them into its own cards (it reads them back exactly)
    DatasetInfosDict({"default": datasets.DatasetInfo(features=features)}).to_dataset_card_data(meta)
    meta["dataset_info"]["splits"] = [{"name": "train", "num_examples": rows}]
    return str(DatasetCard(f"""---
{meta.to_yaml()}
---
# {cfg.name}: Pick-a-Pic layout

{rows} value-preference pairs of the run `{run.name}` in the Pick-a-Pic v2 layout: `caption` is the
prompt, `jpg_0` the image aligned with the value principle, `jpg_1` the violating one (raw image
bytes), `label_0` = 1.0. The run's own columns (`principle`, `category`, `pair_type`, scores, ...)
follow; its dataset card describes them.

> **Content warning.** `jpg_1` images were made to violate a value principle: they may be disturbing.

```bash
accelerate launch train_diffusion_dpo.py --dataset_name <this folder> --pretrained_model_name_or_path ...
```

License: {license_text}
"""))  # parsed back: a header the Hub cannot read is an error here


def export_pickapic(run: str | Path, out: str | Path, image_format: str = "jpeg") -> tuple[Path, int]:
    """Write the export; returns (folder, pairs)."""
    paths = RunPaths(Path(run))
    cfg = load_config(paths.config)
    files = paths.shard_files()
    target = fresh_dir(out)
    features = _features(pq.read_schema(files[0]))
    schema = features.arrow_schema
    (target / DATA_DIR).mkdir()
    rows = 0
    for i, f in enumerate(files):
        table = pa.Table.from_pylist([pickapic_row(r, image_format, cfg.shards.jpeg_quality)
                                      for r in pq.read_table(f).to_pylist()], schema=schema)
        with atomic_open(target / DATA_DIR / f"train-{i:05d}-of-{len(files):05d}.parquet", binary=True) as fh:
            pq.write_table(table, fh, row_group_size=ROW_GROUP_SIZE)
        rows += table.num_rows
    atomic_write_text(target / "README.md", _card(cfg, paths.root, features, rows))
    return target, rows


# LiVO's training folders

METADATA_FILE = "metadata.jsonl"


def scene_name(prompt: str) -> str:
    """A readable, collision-free folder name for a prompt: a slug and 8 hex of its sha256."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:48] or "prompt"
    return f"{slug}-{hashlib.sha256(prompt.encode()).hexdigest()[:8]}"


def export_livo(run: str | Path, out: str | Path) -> tuple[Path, int, int]:
    """Write the export; returns (folder, pairs, scenes). Images keep their stored bytes."""
    paths = RunPaths(Path(run))
    files = paths.shard_files()
    target = fresh_dir(out)
    metadata: dict[Path, list[dict]] = defaultdict(list)
    pairs = 0
    for f in files:
        for row in pq.read_table(f).to_pylist():
            scene = target / row["principle_id"] / scene_name(row["prompt"])
            scene.mkdir(parents=True, exist_ok=True)
            for side, label in (("aligned", 1), ("violating", 0)):
                data, ext = image_bytes(row[side], "original")
                name = f"{row['id']}-{side}.{ext}"
                # one fsync per image made a 20k-pair export take minutes: the images are synced
                # once, below, before any metadata that names them is written
                with atomic_open(scene / name, binary=True, fsync=False) as fh:
                    fh.write(data)
                metadata[scene].append({"prompt": row["prompt"], "value": row["principle"], "file_name": name,
                                        "label": label})
            pairs += 1
    os.sync()
    for scene, rows in metadata.items():
        atomic_write_text(scene / METADATA_FILE, "".join(json.dumps(r) + "\n" for r in rows))
    return target, pairs, len(metadata)
