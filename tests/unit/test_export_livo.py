"""`livo export --format livo`: read back the way LiVO's official `value_encoder/train.py` reads
`--train_data_dir` (its ValueEncoderDataset): sorted group folders, sorted scene folders, each scene's
metadata.jsonl, label 1 = aligned, a violating partner drawn within the scene, images opened by
file name and converted to RGB, training text `value + ", " + prompt`. The command line itself:
tests/integration/test_export_livo_cli.py."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from PIL import Image

from fake_run import make_run


def _official_read(train_data_dir: Path) -> list[dict]:
    samples, negatives = [], []
    for type_dir in sorted(os.listdir(train_data_dir)):
        for scene_dir in sorted(os.listdir(train_data_dir / type_dir)):
            with open(train_data_dir / type_dir / scene_dir / "metadata.jsonl") as f:
                metadata_list = [json.loads(line) for line in f]
            pos, neg = [], []
            for m in metadata_list:
                if m["label"] == 1:
                    pos.append({"prompt": m["prompt"], "value": m["value"], "file_name": m["file_name"],
                                "file_dir": train_data_dir / type_dir / scene_dir, "neg_list_idx": len(negatives)})
                else:
                    neg.append(m["file_name"])
            samples += pos
            negatives.append(neg)
    rng = random.Random(0)
    out = []
    for s in samples:
        pos_img = Image.open(s["file_dir"] / s["file_name"]).convert("RGB")
        neg_img = Image.open(s["file_dir"] / rng.choice(negatives[s["neg_list_idx"]])).convert("RGB")
        out.append({"valued_caption": s["value"] + ", " + s["prompt"], "pos": pos_img, "neg": neg_img,
                    "file": s["file_name"]})
    return out


def test_official_reader_gets_every_pair(tmp_path):
    from pipeline.export.layouts import export_livo
    from pipeline.run.browse import load_pairs

    run = make_run(tmp_path / "run", kept=6)
    out, pairs, scenes = export_livo(run, tmp_path / "livo")
    assert (pairs, scenes) == (6, 6)
    read = _official_read(out)
    df = load_pairs(run)
    assert sorted(r["file"] for r in read) == sorted(f"{i}-aligned.png" for i in df.id)
    first = next(r for r in read if r["file"] == f"{df.id[0]}-aligned.png")
    assert first["valued_caption"] == f"{df.principle[0]}, {df.prompt[0]}"
    assert first["pos"].getpixel((0, 0)) == df.aligned[0].open().convert("RGB").getpixel((0, 0))
    assert first["neg"].getpixel((0, 0)) == df.violating[0].open().convert("RGB").getpixel((0, 0))
    assert all(p.is_dir() for p in out.iterdir())  # the reader lists OUT: folders only
