"""`livo export --format pickapic`: read back exactly as the diffusers Diffusion-DPO research example
(`examples/research_projects/diffusion_dpo/train_diffusion_dpo.py`) reads `--dataset_name OUT`:
`load_dataset(name, split=...)`, then per batch `Image.open(io.BytesIO(b)).convert("RGB")` on the raw
bytes of `jpg_0` / `jpg_1`, the pair swapped when `label_0 == 0`, `examples["caption"]` tokenized. The
command line itself: tests/integration/test_export_pickapic_cli.py."""

from __future__ import annotations

import io

import datasets
import torch
from PIL import Image
from torchvision import transforms


def test_diffusion_dpo_loading_calls_read_it(pickapic_export, tiny_tokenizer_path):
    from transformers import CLIPTokenizer

    train_dataset = datasets.load_dataset(str(pickapic_export), split="train")  # the script's call, a local folder
    assert isinstance(train_dataset[0]["jpg_0"], bytes)  # raw bytes, not an Image feature
    tokenizer = CLIPTokenizer.from_pretrained(str(tiny_tokenizer_path))
    train_transforms = transforms.Compose([transforms.Resize(16), transforms.CenterCrop(16), transforms.ToTensor(),
                                           transforms.Normalize([0.5], [0.5])])

    def preprocess_train(examples):
        all_pixel_values = []
        for col_name in ["jpg_0", "jpg_1"]:
            images = [Image.open(io.BytesIO(im_bytes)).convert("RGB") for im_bytes in examples[col_name]]
            all_pixel_values.append([train_transforms(image) for image in images])
        combined = []
        for im_tup, label_0 in zip(zip(*all_pixel_values), examples["label_0"]):
            if label_0 == 0:
                im_tup = im_tup[::-1]
            combined.append(torch.cat(im_tup, dim=0))
        examples["pixel_values"] = combined
        examples["input_ids"] = tokenizer(examples["caption"], truncation=True, padding="max_length",
                                          max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
        return examples

    loader = torch.utils.data.DataLoader(
        train_dataset.with_transform(preprocess_train), batch_size=4,
        collate_fn=lambda ex: {"pixel_values": torch.stack([e["pixel_values"] for e in ex]),
                               "input_ids": torch.stack([e["input_ids"] for e in ex])})
    batch = next(iter(loader))
    assert batch["pixel_values"].shape == (4, 6, 16, 16) and batch["input_ids"].shape == (4, 77)


def test_jpg_0_is_the_aligned_image_and_our_columns_follow(pickapic_export):
    from pipeline.run.browse import load_pairs

    ds = datasets.load_dataset(str(pickapic_export), split="train")
    assert set(ds["label_0"]) == {1.0} and set(ds["label_1"]) == {0.0}
    assert Image.open(io.BytesIO(ds[0]["jpg_0"])).format == "JPEG"  # as Pick-a-Pic stores them
    assert {"principle", "principle_id", "category", "pair_type", "aligned_prompt", "aligned_clip"} <= set(ds.features)
    run = pickapic_export.parent / "run"
    first = load_pairs(run, n=None).iloc[0]
    assert ds[0]["caption"] == first.prompt and ds[0]["image_0_uid"] == f"{first.id}-aligned"
    aligned = first.aligned.open().convert("RGB").getpixel((3, 3))
    jpg_0 = Image.open(io.BytesIO(ds[0]["jpg_0"])).convert("RGB").getpixel((3, 3))
    assert max(abs(a - b) for a, b in zip(aligned, jpg_0)) < 8  # JPEG of the same flat colour

