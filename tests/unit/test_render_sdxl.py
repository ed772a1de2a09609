"""DiffusersRenderer on the tiny SDXL: the class comes from model_index.json, and in a batch that mixes
aligned and violating sides every image is what SDXL draws for its own prompt and negative prompt, a
side without one getting SDXL's `negative_prompt=None` (zeroed embeddings), not the encoding of ""."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from contracts import check_renderer

from factories import pixels, sdxl_renderer, tiny_config
from pipeline.render.diffusers import _init_options, pipeline_class
from pipeline.render.speed import probe_inputs

# Across batch compositions the CPU kernels may sum in another order: a pixel moves by a level or so.
MAX_LEVELS, MAX_MEAN = 4, 0.5


def _alone(pipe, prompt: str, seed: int, negative: str | None, guidance: float = 7.5):
    """What the SDXL pipeline draws for one prompt by itself, as its users call it."""
    return pipe(prompt=[prompt], negative_prompt=None if negative is None else [negative], num_inference_steps=2,
                guidance_scale=guidance, width=64, height=64,
                generator=[torch.Generator("cpu").manual_seed(seed)]).images[0]


def _close(a, b) -> bool:
    diff = np.abs(pixels(a) - pixels(b))
    return diff.max() <= MAX_LEVELS and diff.mean() < MAX_MEAN


def test_renderer_loads_sdxl_and_keeps_the_contract(tiny_sdxl_renderer, tiny_sdxl_path: Path) -> None:
    from diffusers import StableDiffusionXLPipeline

    assert isinstance(tiny_sdxl_renderer.pipeline, StableDiffusionXLPipeline)
    assert tiny_sdxl_renderer.model == str(tiny_sdxl_path)
    assert tiny_sdxl_renderer.pipeline.watermark is None  # no environment-dependent watermark in the bytes
    check_renderer(tiny_sdxl_renderer, ["a red car", "a cat", "a tree", "a house", "a boat"], [0, 1, 2, 3, 4], size=64)


def test_the_pipeline_class_is_read_from_the_model_not_its_name(tmp_path: Path, tiny_sdxl_path: Path,
                                                                 tiny_sd_path: Path) -> None:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    misnamed_sdxl, misnamed_sd = tmp_path / "stable-diffusion-v1-5", tmp_path / "my-sdxl-base"
    misnamed_sdxl.symlink_to(tiny_sdxl_path, target_is_directory=True)
    misnamed_sd.symlink_to(tiny_sd_path, target_is_directory=True)
    assert pipeline_class(str(misnamed_sdxl)) is StableDiffusionXLPipeline
    assert pipeline_class(str(misnamed_sd)) is StableDiffusionPipeline
    # Each pipeline gets only the options it takes: SD's checker off, SDXL's watermark off.
    assert _init_options(StableDiffusionPipeline) == {"safety_checker": None, "requires_safety_checker": False}
    assert _init_options(StableDiffusionXLPipeline) == {"add_watermarker": False}
    assert _init_options(None) == {}


def test_a_mixed_batch_renders_each_side_as_sdxl_draws_it_alone(tiny_sdxl_renderer) -> None:
    # As a shard batches them: a toxicity pair's violating and aligned sides, a bias pair's neutral
    # (violating) side and its aligned side, whose negative prompt is empty.
    rows = [("a bloody knight", 5, ""), ("a knight", 5, "blood, gore"), ("a doctor", 6, ""),
            ("a female doctor", 6, "")]
    got = tiny_sdxl_renderer.render([p for p, _, _ in rows], [s for _, s, _ in rows], [n for _, _, n in rows])
    pipe = tiny_sdxl_renderer.pipeline
    for image, (prompt, seed, negative) in zip(got, rows, strict=True):
        # An empty negative prompt is none: SDXL's negative_prompt=None.
        expected = _alone(pipe, prompt, seed, negative or None)
        assert _close(image, expected), (prompt, np.abs(pixels(image) - pixels(expected)).max())
    # What the batch's strings would have drawn for the violating side (the encoding of "") is another
    # image, far outside the tolerance: the check above tells the two apart.
    encoded_empty = _alone(pipe, "a bloody knight", 5, "")
    assert np.abs(pixels(got[0]) - pixels(encoded_empty)).mean() > 10 * MAX_MEAN


def test_a_batch_without_negative_prompts_is_the_plain_pipeline_call(tiny_sdxl_renderer) -> None:
    prompts, seeds = ["a cat", "a bloody knight", "a tree"], [1, 2, 3]
    expected = tiny_sdxl_renderer.pipeline(
        prompt=prompts, num_inference_steps=2, guidance_scale=7.5, width=64, height=64,
        generator=[torch.Generator("cpu").manual_seed(s) for s in seeds]).images
    for negatives in (None, ["", "", ""]):
        got = tiny_sdxl_renderer.render(prompts, seeds, negatives)
        assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(got, expected, strict=True))


def test_without_guidance_negative_prompts_are_ignored_as_sdxl_ignores_them(tiny_sdxl_renderer,
                                                                            tiny_sdxl_path: Path) -> None:
    renderer = sdxl_renderer(tiny_sdxl_path, guidance_scale=1.0, pipeline=tiny_sdxl_renderer.pipeline)
    got = renderer.render(["a knight", "a bloody knight"], [5, 5], ["blood, gore", ""])
    assert _close(got[0], _alone(renderer.pipeline, "a knight", 5, "blood, gore", guidance=1.0))
    assert _close(got[1], _alone(renderer.pipeline, "a bloody knight", 5, None, guidance=1.0))


def test_float16_sdxl_keeps_the_pipelines_float32_vae_decode(tiny_sdxl_path: Path) -> None:
    # SDXL's VAE overflows in float16; the pipeline decodes in float32 when force_upcast is set, then
    # casts the VAE back. The renderer leaves that to the pipeline.
    renderer = sdxl_renderer(tiny_sdxl_path, dtype="float16")
    assert renderer.pipeline.vae.config.force_upcast
    seen: list[torch.dtype] = []
    hook = renderer.pipeline.vae.decoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0].dtype))
    try:
        images = renderer.render(["a cat", "a dog"], [1, 2], ["ugly", ""])
    finally:
        hook.remove()
    assert seen == [torch.float32]
    assert renderer.pipeline.vae.dtype == torch.float16
    assert all(pixels(im).std() > 1 for im in images)  # decoded pictures, not a flat NaN-to-zero image


@pytest.mark.parametrize("which", ["sd", "sdxl"])
def test_the_memory_probe_feeds_each_unet_what_it_takes(which: str, tiny_renderer, tiny_sdxl_renderer) -> None:
    # auto_batch_size runs this probe on CUDA; an SDXL UNet also needs the pooled text and size numbers.
    unet = (tiny_renderer if which == "sd" else tiny_sdxl_renderer).pipeline.unet
    with torch.inference_mode():
        out = unet(**probe_inputs(unet, 4, 32, 32, "cpu")).sample
    assert out.shape == (4, 4, 32, 32)


def test_the_sdxl_profile_loads_with_sd15s_thresholds() -> None:
    from conftest import ROOT
    from pipeline.config import load_config

    sdxl, sd15 = load_config(ROOT / "configs" / "sdxl.yaml"), load_config(ROOT / "configs" / "sd15.yaml")
    r = sdxl.render
    assert r.model == "stabilityai/stable-diffusion-xl-base-1.0" and (r.width, r.height) == (1024, 1024)
    assert (r.steps, r.guidance_scale, r.scheduler, r.dtype) == (50, 5.0, None, "float16")  # SDXL's model card
    # Starting thresholds copied from SD 1.5 and marked uncalibrated in the file.
    assert sdxl.filters == sd15.filters
    assert "UNCALIBRATED FOR SDXL" in (ROOT / "configs" / "sdxl.yaml").read_text()


def test_the_sdxl_profile_reads_sdxl_bases_fp16_files_and_hashes_the_variant() -> None:
    from conftest import ROOT
    from pipeline.config import PERFORMANCE_ONLY, RESUMABLE, config_dict, config_hash, load_config
    from pipeline.typed_config import hash_without

    assert load_config(ROOT / "configs" / "sdxl.yaml").render.variant == "fp16"
    tiny = ROOT / "configs" / "tiny.yaml"
    # Other files, other weights: part of the run's identity, while unset the hash of the runs from before it.
    assert "render.variant" not in PERFORMANCE_ONLY
    assert config_hash(load_config(tiny, ["render.variant=fp16"])) != config_hash(load_config(tiny))
    # Unset, the field is not hashed at all: the run hash of a config from before it stays.
    cfg = load_config(tiny)
    before = config_dict(cfg)
    # (nor are the other sections that are off: the LLM, the VLM and ShieldGemma judges, implicit harm)
    del before["render"]["variant"], before["llm"], before["score"]["vlm"], before["score"]["shieldgemma"]
    del before["planning"]["implicit_harm"]
    assert hash_without(before, PERFORMANCE_ONLY + RESUMABLE) == config_hash(cfg)


def test_a_folder_without_the_variants_files_is_refused_in_one_line(tmp_path: Path, tiny_sdxl_path: Path) -> None:
    from pipeline.build.models import load_models
    from pipeline.errors import UserError
    from pipeline.render.diffusers import ModelVariantError

    # render.variant as a build loads the renderer from its config.
    cfg = tiny_config([f"render.model={tiny_sdxl_path}", "render.variant=fp16"])
    with pytest.raises(ModelVariantError) as refused:
        load_models(cfg, tmp_path / "run")
    message = str(refused.value)
    assert isinstance(refused.value, UserError) and "\n" not in message
    assert "no fp16 variant weights" in message and "text_encoder, text_encoder_2, unet, vae" in message
    assert message.endswith("or save the model with save_pretrained(..., variant='fp16')")


def test_a_folder_saved_with_the_fp16_variant_loads_with_it_and_only_with_it(tmp_path: Path,
                                                                             tiny_sdxl_path: Path) -> None:
    from pipeline.render.diffusers import ModelVariantError, _load_pipeline

    full = _load_pipeline(str(tiny_sdxl_path), torch.float32)
    for module in (full.unet, full.vae, full.text_encoder, full.text_encoder_2):
        module.to(torch.float16)
    saved = tmp_path / "tiny-sdxl-fp16"
    full.save_pretrained(saved, variant="fp16")
    assert (saved / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_file()

    half = _load_pipeline(str(saved), torch.float16, variant="fp16")
    assert half.unet.dtype == torch.float16
    # The variant's files are the full weights rounded to float16: the same tensors, at half precision.
    assert torch.equal(half.unet.conv_in.weight, full.unet.conv_in.weight)
    with pytest.raises(ModelVariantError, match=r"holds only fp16 variant weights in .*: text_encoder, "
                                                r"text_encoder_2, unet, vae; set render.variant: fp16 to load them$"):
        _load_pipeline(str(saved), torch.float32)
    # A component whose variant file is gone is named, not loaded from another file.
    (saved / "vae" / "diffusion_pytorch_model.fp16.safetensors").rename(saved / "vae" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(ModelVariantError, match=r"no fp16 variant weights .* in [^;]*: vae; set render.variant: null"):
        _load_pipeline(str(saved), torch.float16, variant="fp16")


@pytest.mark.parametrize("name,variant", [
    ("diffusion_pytorch_model.safetensors", None), ("model.fp16.safetensors", "fp16"),
    ("pytorch_model.bin", None), ("pytorch_model.fp16.bin", "fp16"),
    ("diffusion_pytorch_model.fp16-00001-of-00002.safetensors", "fp16"),
    ("diffusion_pytorch_model-00001-of-00002.safetensors", None),
    ("diffusion_pytorch_model.safetensors.index.fp16.json", "fp16"),
    ("diffusion_pytorch_model.safetensors.index.json", None),
    ("model.non_ema.safetensors", "non_ema"),
    ("config.json", False), ("tokenizer.json", False), ("merges.txt", False),
])
def test_weight_files_are_told_apart_by_their_variant(name: str, variant) -> None:
    from pipeline.render.diffusers import _weights_variant

    assert _weights_variant(name) is variant if variant in (None, False) else _weights_variant(name) == variant
