"""Tiny offline models built from configs with pinned seeds, saved once and reused.

Nothing here touches the network: real SD / CLIP weights cannot be fetched on these
machines, so tests and the offline profile run the real loading code
(`from_pretrained(path)`, `clip.load(path)`) against these tiny checkpoints. The one
real asset is CLIP's BPE vocabulary, shipped inside the clip-anytorch package, so
token ids are the real ones.

Every writer publishes atomically (build in a sibling temp dir/file, then rename) so
a crash or a concurrent builder never leaves a half-written model where a reader
would take it for a complete one.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import torch

from pipeline.run.atomic import atomic_dir, atomic_open

# Number of BPE merges CLIP actually uses (clip/simple_tokenizer.py: lines 1..48894 of the
# gz file); 256 byte tokens + 256 byte</w> tokens + merges + 2 specials = 49,408.
_CLIP_N_MERGES = 49152 - 256 - 2
_CLIP_VOCAB_SIZE = 49408
_CLIP_BOS_ID = 49406  # <|startoftext|>
_CLIP_EOS_ID = 49407  # <|endoftext|>, also the pad token of the SD 1.x tokenizer

# Stable Diffusion 1.5's noise schedule, so the tiny scheduler behaves like the real one.
_SD15_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}


def _clip_bpe_vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """Rebuild CLIP's vocabulary exactly as clip.simple_tokenizer.SimpleTokenizer does."""
    from clip.simple_tokenizer import bytes_to_unicode, default_bpe

    with gzip.open(default_bpe()) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = lines[1 : _CLIP_N_MERGES + 1]  # line 0 is the "#version" header
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    tokens += ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != _CLIP_VOCAB_SIZE:
        raise RuntimeError(f"CLIP vocabulary has {len(vocab)} tokens, expected {_CLIP_VOCAB_SIZE}")
    return vocab, merges


def clip_tokenizer_files(dest_dir: str | os.PathLike[str]) -> Path:
    """Write an HF CLIPTokenizer built from clip-anytorch's BPE vocabulary; return its dir.

    The dir holds vocab.json + merges.txt (the SD 1.x tokenizer layout, readable by any
    transformers version) plus tokenizer.json / tokenizer_config.json from save_pretrained.
    Ids equal `clip.tokenize` up to the end token; padding differs (HF pads with
    <|endoftext|> as SD's tokenizer does, clip.tokenize pads with 0). Reused if present.
    """
    from transformers import CLIPTokenizer

    dest = Path(dest_dir)
    if (dest / "tokenizer_config.json").exists() and (dest / "vocab.json").exists():
        return dest
    vocab, merges = _clip_bpe_vocab_and_merges()
    with atomic_dir(dest, marker="tokenizer_config.json") as tmp:
        (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        (tmp / "merges.txt").write_text(
            "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
        )
        # Load from the files just written (not from dicts) so the saved tokenizer.json is
        # exactly what a later from_pretrained of vocab.json + merges.txt would build.
        tokenizer = CLIPTokenizer.from_pretrained(tmp, model_max_length=77)
        tokenizer.save_pretrained(tmp)
    return dest


def ensure_tiny_sd(dest_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """Return a tiny StableDiffusionPipeline dir (64 px images, 32 px latents), building it once.

    Same seed ⇒ identical weights: the torch seed is reset before each component so one
    component's size never shifts another's initialisation, inside a fork of the RNG so the
    caller's global torch RNG state is left as it was.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from pipeline.render.base import quiet_progress_bars

    dest = Path(dest_dir)
    if (dest / "model_index.json").exists():
        return dest

    with atomic_dir(dest, marker="model_index.json") as tmp:
        # The caller's global RNG is put back afterwards: building a model draws nothing from it.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = UNet2DConditionModel(
                block_out_channels=(32, 64),
                layers_per_block=2,
                sample_size=32,
                in_channels=4,
                out_channels=4,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                cross_attention_dim=32,
            )
            torch.manual_seed(seed)
            vae = AutoencoderKL(
                block_out_channels=(32, 64),
                in_channels=3,
                out_channels=3,
                down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
                latent_channels=4,
                sample_size=64,
            )
            torch.manual_seed(seed)
            text_encoder = CLIPTextModel(
                CLIPTextConfig(
                    # bos/eos/pad must match the real tokenizer: CLIPTextModel pools at eos_token_id.
                    bos_token_id=_CLIP_BOS_ID,
                    eos_token_id=_CLIP_EOS_ID,
                    pad_token_id=_CLIP_EOS_ID,
                    hidden_size=32,
                    intermediate_size=37,
                    num_attention_heads=4,
                    num_hidden_layers=5,
                    layer_norm_eps=1e-5,
                    vocab_size=_CLIP_VOCAB_SIZE,
                    max_position_embeddings=77,
                )
            )
        tokenizer = CLIPTokenizer.from_pretrained(clip_tokenizer_files(tmp / "tokenizer"))
        # DDIM with eta=0 is deterministic: the only randomness is the initial latent.
        scheduler = DDIMScheduler(
            **_SD15_BETAS, clip_sample=False, set_alpha_to_one=False, steps_offset=1
        )
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        with quiet_progress_bars():
            pipe.save_pretrained(tmp, safe_serialization=True)
    return dest


def ensure_tiny_sdxl(dest_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """Return a tiny StableDiffusionXLPipeline dir (64 px images, 32 px latents), building it once.

    Shaped as diffusers' own SDXL tests build one, with SDXL's parts: two CLIP text encoders whose
    penultimate hidden states are concatenated (32 + 64 = the UNet's 96-wide cross-attention), the
    second with a projection whose pooled output, with the six size/crop numbers, conditions the
    UNet (``addition_embed_type="text_time"``); `force_zeros_for_empty_prompt` as SDXL base ships
    it; the second tokenizer pads with "!" as SDXL's does; Euler as SDXL base's scheduler. Both
    tokenizers hold the real CLIP vocabulary. Seeds as in `ensure_tiny_sd`.
    """
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from pipeline.render.base import quiet_progress_bars

    dest = Path(dest_dir)
    if (dest / "model_index.json").exists():
        return dest
    time_embed_dim, projection_dim = 8, 32

    def text_config(hidden: int, **extra: int) -> CLIPTextConfig:
        return CLIPTextConfig(
            bos_token_id=_CLIP_BOS_ID, eos_token_id=_CLIP_EOS_ID, pad_token_id=_CLIP_EOS_ID,
            hidden_size=hidden, intermediate_size=37, num_attention_heads=4, num_hidden_layers=5,
            layer_norm_eps=1e-5, vocab_size=_CLIP_VOCAB_SIZE, max_position_embeddings=77, hidden_act="gelu",
            **extra,
        )

    with atomic_dir(dest, marker="model_index.json") as tmp:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = UNet2DConditionModel(
                block_out_channels=(32, 64),
                layers_per_block=2,
                sample_size=32,
                in_channels=4,
                out_channels=4,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                attention_head_dim=(2, 4),
                use_linear_projection=True,
                addition_embed_type="text_time",
                addition_time_embed_dim=time_embed_dim,
                transformer_layers_per_block=(1, 2),
                # the pooled text embedding, then (original size, crop corner, target size) embedded
                projection_class_embeddings_input_dim=6 * time_embed_dim + projection_dim,
                cross_attention_dim=32 + 64,
            )
            torch.manual_seed(seed)
            vae = AutoencoderKL(
                block_out_channels=(32, 64),
                in_channels=3,
                out_channels=3,
                down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
                latent_channels=4,
                sample_size=64,
                scaling_factor=0.13025,  # SDXL's VAE scaling
                force_upcast=True,  # as SDXL's VAE: decoded in float32 when the pipeline runs in float16
            )
            torch.manual_seed(seed)
            text_encoder = CLIPTextModel(text_config(32))
            torch.manual_seed(seed + 1)  # its own weights, not a copy of the first encoder's
            text_encoder_2 = CLIPTextModelWithProjection(text_config(64, projection_dim=projection_dim))
        tokenizer_dir = clip_tokenizer_files(tmp / "tokenizer")
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
        tokenizer_2 = CLIPTokenizer.from_pretrained(tokenizer_dir, pad_token="!")
        scheduler = EulerDiscreteScheduler(
            **_SD15_BETAS, steps_offset=1, timestep_spacing="leading", interpolation_type="linear",
            prediction_type="epsilon", use_karras_sigmas=False,
        )
        pipe = StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,
            tokenizer=tokenizer,
            tokenizer_2=tokenizer_2,
            unet=unet,
            scheduler=scheduler,
            force_zeros_for_empty_prompt=True,
            add_watermarker=False,
        )
        with quiet_progress_bars():
            pipe.save_pretrained(tmp, safe_serialization=True)
    return dest


def ensure_tiny_clip(dest_path: str | os.PathLike[str], seed: int = 0) -> Path:
    """Return a tiny clip-anytorch ViT checkpoint (state dict) that `clip.load(path)` accepts.

    clip.model.build_model infers head counts as width // 64, so widths are 64 and heads 1.
    Weights are cast the way clip.model.convert_weights casts the released checkpoints
    (fp16 linear/conv/attention), so what clip.load rebuilds equals what was saved.
    """
    from clip.model import CLIP, convert_weights

    dest = Path(dest_path)
    if dest.exists():
        return dest
    with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left as it was
        torch.manual_seed(seed)
        model = CLIP(
            embed_dim=64,
            image_resolution=64,  # the tiny SD renders 64 px, so preprocessing is a no-op resize
            vision_layers=2,
            vision_width=64,
            vision_patch_size=16,
            context_length=77,
            vocab_size=_CLIP_VOCAB_SIZE,
            transformer_width=64,
            transformer_heads=1,
            transformer_layers=2,
        )
    convert_weights(model)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(dest, binary=True) as f:
        torch.save(model.state_dict(), f)
    return dest


def resolve_model(name: str, models_dir: Path) -> str:
    """Map the explicit built-in names (`builtin:tiny-sd`, `builtin:tiny-clip`) to their saved
    location, building them once; any other name (hub id, path) is returned as it is."""
    from pipeline.config import TINY_CLIP, TINY_SD

    if name == TINY_SD:
        return str(ensure_tiny_sd(models_dir / "tiny-sd"))
    if name == TINY_CLIP:
        return str(ensure_tiny_clip(models_dir / "tiny-clip.pt"))
    return name
