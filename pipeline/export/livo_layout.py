"""`livo export RUN --format livo OUT`: the official LiVO training layout, which LiVO's
`value_encoder/train.py --train_data_dir OUT` reads.

    OUT/<group>/<scene>/metadata.jsonl   {"prompt", "value", "file_name", "label"} per image
    OUT/<group>/<scene>/<file_name>      the image (label 1 aligned, 0 violating)

That reader lists OUT and every group folder and expects only folders there, and pairs each aligned
image with a random violating image of its scene. So: group = the principle, scene = one prompt
of it (every pair of the prompt, e.g. one per requested attribute value), and nothing else is
written into OUT (no card: the run folder keeps it). Its training text is ``value + ", " + prompt``:
``value`` is the principle statement, ``prompt`` the input prompt, as our trainer reads them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.export.common import fresh_dir, image_bytes
from pipeline.run.atomic import atomic_open, atomic_write_text
from pipeline.run.layout import RunPaths

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
                with atomic_open(scene / name, binary=True) as fh:
                    fh.write(data)
                metadata[scene].append({"prompt": row["prompt"], "value": row["principle"], "file_name": name,
                                        "label": label})
            pairs += 1
    for scene, rows in metadata.items():
        atomic_write_text(scene / METADATA_FILE, "".join(json.dumps(r) + "\n" for r in rows))
    return target, pairs, len(metadata)
