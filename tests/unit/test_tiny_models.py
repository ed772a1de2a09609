"""Tiny offline models: real tokenizer ids, loadable by the real loaders, reproducible, atomic."""

from __future__ import annotations

import json
from pathlib import Path

import clip
import pytest
import torch
from safetensors.torch import load_file

from pipeline.render.tiny_models import ensure_tiny_clip, ensure_tiny_sd, ensure_tiny_sdxl

SENTENCES = [
    "a photo of a cat",
    "A Nurse, holding  a CLIPBOARD!!",
    "naked woman on the beach, 8k, trending on artstation",
    "it's 3 o'clock; we'll see 1,234 cafés",
    "portrait of a CEO — oil on canvas, by greg rutkowski",
]


def _clip_ids(text: str, **kw) -> list[int]:
    """clip.tokenize's ids up to and including <|endoftext|> (it pads with 0, HF with eos)."""
    row = clip.tokenize(text, **kw)[0].tolist()
    return row[: row.index(49407) + 1]


def test_tokenizer_ids_equal_clip_tokenize(tiny_tokenizer_path: Path) -> None:
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(tiny_tokenizer_path)
    for text in SENTENCES:
        assert tok(text).input_ids == _clip_ids(text), text


def test_tokenizer_truncates_like_clip(tiny_tokenizer_path: Path) -> None:
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(tiny_tokenizer_path)
    long = " ".join(["astronaut riding a horse"] * 40)
    ids = tok(long, truncation=True, max_length=77).input_ids
    assert len(ids) == 77
    assert ids == clip.tokenize(long, truncate=True)[0].tolist()


def test_tokenizer_files_are_the_sd_layout(tiny_tokenizer_path: Path) -> None:
    from transformers import CLIPTokenizer

    names = {p.name for p in tiny_tokenizer_path.iterdir()}
    assert {"vocab.json", "merges.txt", "tokenizer_config.json"} <= names
    vocab = json.loads((tiny_tokenizer_path / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == 49408
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    tok = CLIPTokenizer.from_pretrained(tiny_tokenizer_path)
    assert len(tok) == 49408
    assert tok.model_max_length == 77
    assert tok.pad_token_id == tok.eos_token_id == 49407


def test_tiny_sd_loads_as_stable_diffusion(tiny_sd_path: Path) -> None:
    from diffusers import DiffusionPipeline, StableDiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(tiny_sd_path)
    assert isinstance(pipe, StableDiffusionPipeline)
    assert pipe.safety_checker is None
    assert pipe.vae_scale_factor == 2 and pipe.unet.config.sample_size == 32  # 64 px ↔ 32 px
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size == 32
    cfg = pipe.text_encoder.config
    assert (cfg.vocab_size, cfg.max_position_embeddings) == (49408, 77)
    assert (cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id) == (49406, 49407, 49407)
    assert len(pipe.tokenizer) == 49408
    assert pipe.scheduler.config.beta_schedule == "scaled_linear"


def test_tiny_sdxl_loads_as_sdxl_with_two_real_vocabulary_encoders(tiny_sdxl_path: Path) -> None:
    from diffusers import DiffusionPipeline, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    pipe = DiffusionPipeline.from_pretrained(tiny_sdxl_path)
    assert isinstance(pipe, StableDiffusionXLPipeline)
    assert pipe.config.force_zeros_for_empty_prompt  # as SDXL base: None is zeros, "" is encoded
    assert type(pipe.text_encoder) is CLIPTextModel and type(pipe.text_encoder_2) is CLIPTextModelWithProjection
    unet = pipe.unet.config
    assert pipe.vae_scale_factor == 2 and unet.sample_size == 32  # 64 px <-> 32 px
    # Both encoders' penultimate states side by side; the second one's projection plus six size numbers.
    hidden = pipe.text_encoder.config.hidden_size, pipe.text_encoder_2.config.hidden_size
    assert unet.cross_attention_dim == sum(hidden) and hidden[0] != hidden[1]
    assert unet.addition_embed_type == "text_time"
    assert unet.projection_class_embeddings_input_dim == (6 * unet.addition_time_embed_dim
                                                          + pipe.text_encoder_2.config.projection_dim)
    for encoder in (pipe.text_encoder, pipe.text_encoder_2):
        cfg = encoder.config
        assert (cfg.vocab_size, cfg.eos_token_id) == (49408, 49407)
    for text in SENTENCES:
        assert pipe.tokenizer(text).input_ids == _clip_ids(text), text
        if "!" not in text:
            assert pipe.tokenizer_2(text).input_ids == _clip_ids(text), text
    # SDXL's second tokenizer pads with "!" (id 0), its first with <|endoftext|>; being its pad token,
    # "!" is never merged by that tokenizer ("!!" is two 0s), as in SDXL's own.
    assert (pipe.tokenizer.pad_token_id, pipe.tokenizer_2.pad_token_id) == (49407, 0)
    assert pipe.tokenizer_2("wow!!").input_ids[-3:] == [0, 0, 49407]
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert pipe.vae.config.force_upcast and pipe.vae.config.scaling_factor == 0.13025


def test_tiny_sdxl_same_seed_same_weights(tiny_sdxl_path: Path, tmp_path: Path) -> None:
    rng = torch.random.get_rng_state()
    again = _weights(ensure_tiny_sdxl(tmp_path / "again", seed=0))
    assert torch.equal(torch.random.get_rng_state(), rng)  # the caller's global RNG is left as it was
    first = _weights(tiny_sdxl_path)
    assert first.keys() == again.keys() and len(first) > 100
    assert all(torch.equal(first[k], again[k]) for k in first)
    # The two encoders are not copies of each other (their first 32 embedding columns differ).
    tokens = [v for k, v in sorted(first.items()) if k.endswith("embeddings.token_embedding.weight")]
    assert len(tokens) == 2 and not torch.equal(tokens[0][:, :32], tokens[1][:, :32])

def _weights(path: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in sorted(path.glob("*/*.safetensors")):
        out.update({f"{f.parent.name}/{k}": v for k, v in load_file(f).items()})
    return out


def test_tiny_sd_same_seed_same_weights(tiny_sd_path: Path, tmp_path: Path) -> None:
    torch.manual_seed(1234)
    rng = torch.random.get_rng_state()
    again = _weights(ensure_tiny_sd(tmp_path / "again", seed=0))
    assert torch.equal(torch.random.get_rng_state(), rng)  # the caller's global RNG is left as it was
    first = _weights(tiny_sd_path)
    assert first.keys() == again.keys() and len(first) > 100
    assert all(torch.equal(first[k], again[k]) for k in first)
    other = _weights(ensure_tiny_sd(tmp_path / "other", seed=1))
    assert not torch.equal(first["unet/conv_in.weight"], other["unet/conv_in.weight"])


def test_tiny_sd_is_reused_and_published_atomically(tiny_sd_path: Path) -> None:
    index = tiny_sd_path / "model_index.json"
    before = index.stat().st_mtime_ns
    assert ensure_tiny_sd(tiny_sd_path) == tiny_sd_path
    assert index.stat().st_mtime_ns == before  # not rebuilt
    # The temp build dir is renamed into place, never left beside it.
    assert not [p for p in tiny_sd_path.parent.iterdir() if ".tmp-" in p.name]


def test_tiny_sd_refuses_to_overwrite_unknown_dir(tmp_path: Path) -> None:
    dest = tmp_path / "sd"
    dest.mkdir()
    (dest / "notes.txt").write_text("someone else's files")
    with pytest.raises(FileExistsError):
        ensure_tiny_sd(dest)
    assert (dest / "notes.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["sd"]


def test_tiny_clip_loads_with_clip_load(tiny_clip_path: Path) -> None:
    from PIL import Image

    model, preprocess = clip.load(str(tiny_clip_path), device="cpu", jit=False)
    assert model.visual.input_resolution == 64
    saved = torch.load(tiny_clip_path, map_location="cpu")
    assert all(torch.equal(saved[k].float(), v) for k, v in model.state_dict().items())
    with torch.no_grad():
        img = model.encode_image(preprocess(Image.new("RGB", (64, 64), (200, 120, 40)))[None])
        txt = model.encode_text(clip.tokenize(["a photo of a cat", "a dog"]))
    assert img.shape == (1, 64) and txt.shape == (2, 64)
    assert torch.isfinite(img).all() and torch.isfinite(txt).all()


def test_tiny_clip_reproducible_and_reused(tiny_clip_path: Path, tmp_path: Path) -> None:
    rng = torch.random.get_rng_state()
    again = torch.load(ensure_tiny_clip(tmp_path / "c.pt", seed=0))
    assert torch.equal(torch.random.get_rng_state(), rng)  # the caller's global RNG is left as it was
    first = torch.load(tiny_clip_path)
    assert all(torch.equal(first[k], again[k]) for k in first)
    other = torch.load(ensure_tiny_clip(tmp_path / "o.pt", seed=1))
    assert not torch.equal(first["text_projection"], other["text_projection"])
    before = tiny_clip_path.stat().st_mtime_ns
    ensure_tiny_clip(tiny_clip_path, seed=1)  # exists: reused as is, seed ignored
    assert tiny_clip_path.stat().st_mtime_ns == before
