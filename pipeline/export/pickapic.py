"""`livo export RUN --format pickapic OUT`: the Pick-a-Pic v2 layout, so the diffusers Diffusion-DPO
research example (`train_diffusion_dpo.py --dataset_name OUT`) and other Pick-a-Pic readers train on
a run unchanged.

As Pick-a-Pic stores them: ``caption`` (str), ``jpg_0`` / ``jpg_1`` raw encoded image bytes in a
plain binary column (those readers call ``Image.open(io.BytesIO(b))`` on them, so an ``Image``
feature that decodes to PIL would break them), ``label_0`` float64 (1.0 = ``jpg_0`` preferred;
never a 0.5 tie, which they would count as a ``jpg_0`` win). Here ``jpg_0`` is always the aligned
image and ``label_0`` 1.0. Files ``data/train-NNNNN-of-NNNNN.parquet`` (one per shard, so
`load_dataset(OUT)` finds the ``train`` split by name) and a dataset card. Every non-image column of
the run's shards follows, under its own name.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

from pipeline.config import load_config
from pipeline.export.common import fresh_dir, image_bytes
from pipeline.run.atomic import atomic_open, atomic_write_text
from pipeline.run.card import license_info
from pipeline.run.layout import RunPaths
from pipeline.run.schema import IMAGE_COLUMNS, ROW_GROUP_SIZE

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
