"""`livo export --format pickapic` read back as the diffusers Diffusion-DPO SDXL example
(`examples/research_projects/diffusion_dpo/train_diffusion_dpo_sdxl.py`) reads `--dataset_name OUT`, and
fed through one of its training steps on the tiny SDXL. Its data path differs from the SD 1.5 script's
(tests/unit/test_export_pickapic.py): it reads `original_sizes` (height, width) from the decoded
`jpg_0`, resizes `jpg_1` to that size, resizes and crops the pair as one 6-channel tensor and keeps the
crop corner, tokenizes `caption` with both SDXL tokenizers (slow ones, `use_fast=False`) and conditions
the UNet on the six size/crop numbers (`compute_time_ids`) and the second encoder's pooled output."""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

RESOLUTION = 32  # the fake run's images are 32 px: the script's resize is then the identity


def _script_models(model: Path):
    """The script's loading calls: tokenizers by AutoTokenizer, encoder classes from their configs."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import AutoTokenizer, PretrainedConfig

    def encoder(subfolder: str):
        import transformers

        cls = getattr(transformers, PretrainedConfig.from_pretrained(model, subfolder=subfolder).architectures[0])
        return cls.from_pretrained(model, subfolder=subfolder)

    tokenizers = [AutoTokenizer.from_pretrained(model, subfolder=s, use_fast=False) for s in ("tokenizer", "tokenizer_2")]
    return (tokenizers, [encoder("text_encoder"), encoder("text_encoder_2")],
            DDPMScheduler.from_pretrained(model, subfolder="scheduler"),
            AutoencoderKL.from_pretrained(model, subfolder="vae"), UNet2DConditionModel.from_pretrained(model, subfolder="unet"))


def test_the_sdxl_diffusion_dpo_data_path_reads_it_and_trains_a_step(pickapic_export, tiny_sdxl_path):
    tokenizers, encoders, noise_scheduler, vae, unet = _script_models(tiny_sdxl_path)
    train_dataset = datasets.load_dataset(str(pickapic_export), split="train")
    train_resize = transforms.Resize(RESOLUTION, interpolation=transforms.InterpolationMode.BILINEAR)
    train_crop = transforms.CenterCrop(RESOLUTION)
    to_tensor, normalize = transforms.ToTensor(), transforms.Normalize([0.5], [0.5])

    def preprocess_train(examples):  # the script's, with --no_hflip and without --random_crop
        all_pixel_values = []
        images = [Image.open(io.BytesIO(im_bytes)).convert("RGB") for im_bytes in examples["jpg_0"]]
        original_sizes = [(image.height, image.width) for image in images]
        crop_top_lefts = []
        for col_name in ["jpg_0", "jpg_1"]:
            images = [Image.open(io.BytesIO(im_bytes)).convert("RGB") for im_bytes in examples[col_name]]
            if col_name == "jpg_1":
                images = [image.resize(original_sizes[i][::-1]) for i, image in enumerate(images)]
            all_pixel_values.append([to_tensor(image) for image in images])
        combined_pixel_values = []
        for im_tup, label_0 in zip(zip(*all_pixel_values), examples["label_0"]):
            if label_0 == 0:
                im_tup = im_tup[::-1]
            combined_im = train_resize(torch.cat(im_tup, dim=0))
            y1 = max(0, round((combined_im.shape[1] - RESOLUTION) / 2.0))
            x1 = max(0, round((combined_im.shape[2] - RESOLUTION) / 2.0))
            crop_top_lefts.append((y1, x1))
            combined_pixel_values.append(normalize(train_crop(combined_im)))
        examples["pixel_values"] = combined_pixel_values
        examples["original_sizes"] = original_sizes
        examples["crop_top_lefts"] = crop_top_lefts
        examples["input_ids_one"], examples["input_ids_two"] = [
            tok(examples["caption"], truncation=True, padding="max_length", max_length=tok.model_max_length,
                return_tensors="pt").input_ids for tok in tokenizers]
        return examples

    def collate_fn(examples):
        return {"pixel_values": torch.stack([e["pixel_values"] for e in examples]).float(),
                "input_ids_one": torch.stack([e["input_ids_one"] for e in examples]),
                "input_ids_two": torch.stack([e["input_ids_two"] for e in examples]),
                "original_sizes": [e["original_sizes"] for e in examples],
                "crop_top_lefts": [e["crop_top_lefts"] for e in examples]}

    loader = torch.utils.data.DataLoader(train_dataset.with_transform(preprocess_train), batch_size=4,
                                         collate_fn=collate_fn)
    batch = next(iter(loader))
    assert batch["pixel_values"].shape == (4, 6, RESOLUTION, RESOLUTION)
    assert batch["original_sizes"] == [(32, 32)] * 4 and batch["crop_top_lefts"] == [(0, 0)] * 4
    assert batch["input_ids_one"].shape == batch["input_ids_two"].shape == (4, 77)
    # label_0 is 1: jpg_0, the aligned image, is the preferred first half of the channels.
    first = Image.open(io.BytesIO(train_dataset[0]["jpg_0"])).convert("RGB")
    assert torch.allclose(batch["pixel_values"][0, :3], normalize(to_tensor(first)))

    # The script's forward pass on what it read: VAE latents, time ids, both encoders, the UNet.
    with torch.no_grad():
        feed = torch.cat(batch["pixel_values"].chunk(2, dim=1))
        latents = vae.encode(feed).latent_dist.sample() * vae.config.scaling_factor
        noise = torch.randn_like(latents).chunk(2)[0].repeat(2, 1, 1, 1)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (4,)).repeat(2)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        add_time_ids = torch.cat([torch.tensor([list(s + c + (RESOLUTION, RESOLUTION))])
                                  for s, c in zip(batch["original_sizes"], batch["crop_top_lefts"])]).repeat(2, 1)
        embeds, pooled = [], None
        for enc, ids in zip(encoders, (batch["input_ids_one"], batch["input_ids_two"])):
            out = enc(ids, output_hidden_states=True)
            pooled = out[0]
            embeds.append(out.hidden_states[-2])
        prompt_embeds = torch.concat(embeds, dim=-1).repeat(2, 1, 1)
        pred = unet(noisy, timesteps, prompt_embeds,
                    added_cond_kwargs={"time_ids": add_time_ids, "text_embeds": pooled.repeat(2, 1)}).sample
        losses = F.mse_loss(pred.float(), noise.float(), reduction="none").mean(dim=[1, 2, 3])
    assert pred.shape == latents.shape and losses.shape == (8,) and torch.isfinite(losses).all()
