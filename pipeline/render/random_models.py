"""Stable Diffusion 1.5 and SDXL base at their real sizes with random weights, saved as diffusers
folders, and CLIP ViT-L/14 likewise as a clip.load checkpoint: what a full-size profile loads, for
rehearsing it (loading, memory, every code path) where the weights cannot be fetched.

Their images are noise: never a stand-in for the real models, and nothing resolves to them by
name (no ``builtin:`` alias); a profile reads them only through an explicit ``--set`` path. The
architectures are the released configs' (the UNet, VAE and text-encoder sizes of SD 1.5 and SDXL
base 1.0), the tokenizers the real CLIP vocabulary (`tiny_models.clip_tokenizer_files`). Seeds as in
`tiny_models`: the same seed gives the same weights, the caller's RNG is left as it was, and a folder
is published whole (`atomic_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pipeline.render.tiny_models import _CLIP_BOS_ID, _CLIP_EOS_ID, _CLIP_VOCAB_SIZE, _SD15_BETAS, clip_tokenizer_files
from pipeline.run.atomic import atomic_dir, atomic_open


def _clip_text_config(hidden: int, layers: int, heads: int, act: str, projection_dim: int | None = None) -> Any:
    from transformers import CLIPTextConfig

    extra = {} if projection_dim is None else {"projection_dim": projection_dim}
    return CLIPTextConfig(vocab_size=_CLIP_VOCAB_SIZE, hidden_size=hidden, intermediate_size=4 * hidden,
                          num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=77,
                          hidden_act=act, bos_token_id=_CLIP_BOS_ID, eos_token_id=_CLIP_EOS_ID,
                          pad_token_id=_CLIP_EOS_ID, **extra)


def _sd_vae(sample_size: int, **extra: Any) -> Any:
    from diffusers import AutoencoderKL

    # The same 84M-parameter VAE in SD 1.5 and SDXL; SDXL's scales its latents by 0.13025.
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=sample_size,
                         block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, **extra)


def sd15_components() -> dict[str, Any]:
    """SD 1.5's UNet (860M), VAE (84M) and CLIP ViT-L/14 text encoder (123M), random weights."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    return {
        "unet": UNet2DConditionModel(
            sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=768, attention_head_dim=8),
        "vae": _sd_vae(512),
        "text_encoder": CLIPTextModel(_clip_text_config(768, 12, 12, "quick_gelu")),
    }


def sdxl_components() -> dict[str, Any]:
    """SDXL base 1.0's UNet (2.6B), VAE (84M), CLIP ViT-L/14 (123M) and OpenCLIP bigG/14 (695M, with its
    projection) text encoders, random weights."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    return {
        "unet": UNet2DConditionModel(
            sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), use_linear_projection=True,
            cross_attention_dim=768 + 1280, addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=6 * 256 + 1280),
        "vae": _sd_vae(1024, scaling_factor=0.13025, force_upcast=True),
        "text_encoder": CLIPTextModel(_clip_text_config(768, 12, 12, "quick_gelu")),
        "text_encoder_2": CLIPTextModelWithProjection(_clip_text_config(1280, 32, 20, "gelu", projection_dim=1280)),
    }


def write_random_sd15(dest_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """A StableDiffusionPipeline folder of SD 1.5's size, random weights, the PNDM scheduler SD 1.5 ships
    (configs/sd15.yaml swaps it for DPM-Solver++, from its config); reused if present."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline
    from transformers import CLIPTokenizer

    dest = Path(dest_dir)
    if (dest / "model_index.json").exists():
        return dest
    with atomic_dir(dest, marker="model_index.json") as tmp:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            parts = sd15_components()
        pipe = StableDiffusionPipeline(
            **parts, tokenizer=CLIPTokenizer.from_pretrained(clip_tokenizer_files(tmp / "tokenizer")),
            scheduler=PNDMScheduler(**_SD15_BETAS, skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False), safety_checker=None, feature_extractor=None,
            requires_safety_checker=False)
        _save(pipe, tmp)
    return dest


def random_sdxl_pipeline(tokenizer_dir: str | os.PathLike[str], seed: int = 0) -> Any:
    """A StableDiffusionXLPipeline of SDXL base's size in memory (float32, random weights), its Euler
    scheduler and `force_zeros_for_empty_prompt`; the tokenizer files are written to ``tokenizer_dir``."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parts = sdxl_components()
    vocab = clip_tokenizer_files(tokenizer_dir)
    return StableDiffusionXLPipeline(
        **parts, tokenizer=CLIPTokenizer.from_pretrained(vocab),
        tokenizer_2=CLIPTokenizer.from_pretrained(vocab, pad_token="!"),
        scheduler=EulerDiscreteScheduler(**_SD15_BETAS, steps_offset=1, timestep_spacing="leading"),
        force_zeros_for_empty_prompt=True, add_watermarker=False)


def write_random_sdxl(dest_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """A StableDiffusionXLPipeline folder of SDXL base's size (`random_sdxl_pipeline`) holding, as
    configs/sdxl.yaml reads SDXL base (``render.variant: fp16``), only the fp16 variant's weight files
    (about 7 GB); reused if present. About 14 GB of memory while it is built in float32."""
    dest = Path(dest_dir)
    if (dest / "model_index.json").exists():
        return dest
    with atomic_dir(dest, marker="model_index.json") as tmp:
        pipe = random_sdxl_pipeline(tmp / "tokenizer", seed)
        for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
            getattr(pipe, name).to(torch.float16)
        _save(pipe, tmp, variant="fp16")
    return dest


def write_random_clip_l14(dest_path: str | os.PathLike[str], seed: int = 0) -> Path:
    """CLIP ViT-L/14's architecture (428M) with random weights, as clip.load reads a checkpoint; reused if present."""
    from clip.model import CLIP, convert_weights

    dest = Path(dest_path)
    if dest.exists():
        return dest
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIP(embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024, vision_patch_size=14,
                     context_length=77, vocab_size=_CLIP_VOCAB_SIZE, transformer_width=768, transformer_heads=12,
                     transformer_layers=12)
    convert_weights(model)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(dest, binary=True) as f:
        torch.save(model.state_dict(), f)
    return dest


def _save(pipe: Any, folder: Path, variant: str | None = None) -> None:
    from pipeline.render.base import quiet_progress_bars

    with quiet_progress_bars():
        pipe.save_pretrained(folder, safe_serialization=True, variant=variant)
