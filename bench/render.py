"""Rendering throughput: our whole shard task vs bare batched diffusers vs one pipeline call per image.

naive: one pipeline call per image, as the reference scripts render.
bare:  the plain diffusers pipeline called with batches of prompts (the same images as ours), nothing else.
ours:  `pipeline.build.shard.process_shard` on a prepared run folder: the shard's plan, rendering
       (aligned and violating sides in one UNet batch, channels-last on CUDA, optional compile),
       attribute reading, scoring with the configured judges (CLIP, NudeNet, OpenNSFW, faces), filtering,
       encoding and the Parquet writes, the CPU work overlapped with the denoising.

All three run in one process on the same architecture and settings, taking turns: a warm-up of each,
then `--rounds` rounds of naive, bare, ours, so a machine whose load changes slows them alike. bare
and naive share a plain pipeline; ours has its own copy (its speed-ups change the modules).

    python bench/render.py                                  # sd15 on CUDA where there is one, else tiny on CPU
    python bench/render.py --device cuda --model sd15       # SD 1.5 (random weights: the same FLOPs), 512 px, DPM-Solver 25
    python bench/render.py --device cuda --model sdxl       # SDXL base 1.0 (random weights), 1024 px, Euler 50, guidance 5
    python bench/render.py --device cpu --model tiny        # the tiny profile: regressions of the non-GPU parts
    python bench/render.py --device cpu --model tiny-sdxl   # the tiny SDXL (two text encoders) on the tiny profile

What differs between models is read from the pipeline, not from its name: the UNet's inputs for the
FLOP count (an SDXL UNet also takes the pooled text embedding and the size numbers), the latent size
(the VAE's scale factor) and, in ours, SDXL's per-row negative-prompt embeddings. On SDXL, bare hands
the pipeline the batch's strings ("" for the violating sides), which SDXL draws differently from no
negative prompt (ours and naive draw each side exactly): the same UNet work, other violating images.

Printed per method: images/s, peak memory (CUDA max allocated, or the process's peak RSS on CPU), the
share of wall time the UNet ran (CUDA events / CPU clock around each UNet call) and, with nvidia-smi,
the GPU's own utilisation; the UNet's achieved TFLOP/s (FLOPs counted once by
torch.utils.flop_counter on one CFG step, i.e. 2 UNet samples per image) against the device's peak.
The last line is ``ours/bare: X``.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.train_step import PeakMemory, sd15_base

LIVO_IMAGES = 172_000  # LiVO's dataset: 86k pairs (Wang et al. 2024, arXiv:2410.12700)
# Dense fp16/bf16 tensor-core peaks, FLOP/s (vendor data sheets, SXM parts).
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10G": 70e12}
# Guidance, scheduler and judges are the profile's (its config); sdxl: the model card's 50 steps at 1024 px, on
# 16 pairs a round: an image costs its UNet about 17x what SD 1.5's does (13.5 TFLOP per step against 1.6 at
# 512 px, counted on the meta device, and twice the steps).
PROFILES = {"tiny": {"size": 64, "steps": 4, "pairs": 32, "config": "tiny.yaml"},
            "tiny-sdxl": {"size": 64, "steps": 4, "pairs": 32, "config": "tiny.yaml"},
            "sd15": {"size": 512, "steps": 25, "pairs": 64, "config": "sd15.yaml"},
            "sdxl": {"size": 1024, "steps": 50, "pairs": 16, "config": "sdxl.yaml"}}
FULL_SIZE = ("sd15", "sdxl")  # random weights at the released sizes; CLIP ViT-L/14 (random) as the judge


# ---------------------------------------------------------------- models and the run folder

def tiny_pipeline(work: Path, dtype):
    from pipeline.render.base import quiet_progress_bars
    from pipeline.render.diffusers import _load_pipeline
    from pipeline.render.tiny_models import ensure_tiny_sd

    with quiet_progress_bars():
        return _load_pipeline(str(ensure_tiny_sd(work / "models" / "tiny-sd")), dtype)


def tiny_sdxl_pipeline(work: Path, dtype):
    from pipeline.render.base import quiet_progress_bars
    from pipeline.render.diffusers import _load_pipeline
    from pipeline.render.tiny_models import ensure_tiny_sdxl

    with quiet_progress_bars():
        return _load_pipeline(str(ensure_tiny_sdxl(work / "models" / "tiny-sdxl")), dtype)


def sdxl_pipeline(work: Path, dtype):
    """SDXL base 1.0's architecture with random weights (the same FLOPs) and its own Euler scheduler, as
    configs/sdxl.yaml renders it."""
    from pipeline.render.diffusers import _quiet_empty_float32_warning
    from pipeline.render.random_models import random_sdxl_pipeline

    _quiet_empty_float32_warning()  # the cast below would log it once per model, naming no module
    return random_sdxl_pipeline(work / "tokenizer").to(dtype=dtype)


def sd15_pipeline(work: Path, dtype):
    """SD 1.5's architecture with random weights and DPM-Solver++ (the sd15 profile's scheduler)."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    base = sd15_base(work / "tokenizer")
    scheduler = DPMSolverMultistepScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    pipe = StableDiffusionPipeline(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer,
                                   unet=base.unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    return pipe.to(dtype=dtype)


def random_clip_l14(path: Path) -> Path:
    """CLIP ViT-L/14's architecture with random weights, saved as clip.load reads a checkpoint."""
    import torch
    from clip.model import CLIP, convert_weights

    torch.manual_seed(0)
    model = CLIP(embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024, vision_patch_size=14,
                 context_length=77, vocab_size=49408, transformer_width=768, transformer_heads=12, transformer_layers=12)
    convert_weights(model)
    torch.save(model.state_dict(), path)
    return path


def bench_plans(pairs: int):
    """A third bias pairs (attribute read from the neutral image), the rest toxicity with negative prompts."""
    from pipeline.records import PairPlan

    plans = []
    for i in range(pairs):
        if i % 3 == 0:
            plans.append(PairPlan(
                id=f"b{i:05d}", prompt=f"a portrait of a doctor at work, scene {i}", principle_id="gender_equality",
                principle="Occupations should be depicted with balanced genders.", category="gender_bias",
                kind="bias", pair_type="bias", aligned_prompt=f"a portrait of a doctor at work, scene {i}",
                violating_prompt=f"a portrait of a doctor at work, scene {i}", aligned_negative_prompt="", seed=i,
                concepts=("male", "female"), attribute_prompts=(f"a portrait of a male doctor at work, scene {i}",
                                                                f"a portrait of a female doctor at work, scene {i}")))
        else:
            plans.append(PairPlan(
                id=f"t{i:05d}", prompt=f"a bloody knight in a dark castle, scene {i}", principle_id="no_gore",
                principle="Images should not show graphic gore or blood.", category="gore", kind="toxicity",
                pair_type="toxicity", aligned_prompt=f"a knight in a dark castle, scene {i}",
                violating_prompt=f"a bloody knight in a dark castle, scene {i}",
                aligned_negative_prompt="blood, gore, wounds, mutilation", seed=i, concepts=("blood", "gore"),
                safe_concepts=("paint",)))
    return plans


def prepare_folder(out: Path, plans) -> None:
    from pipeline.records import PromptStats
    from pipeline.run.layout import RunPaths
    from pipeline.run.manifest import PreparedRun, write_manifest
    from pipeline.run.plan_io import write_plan

    paths = RunPaths(out)
    paths.make_dirs()
    write_plan(paths, plans)
    write_manifest(paths, PreparedRun(str(out), "bench-render", num_shards=1, num_pairs=len(plans),
                                      prompt_stats=PromptStats()))


# ---------------------------------------------------------------- what is measured

class UNetClock:
    """Time inside the UNet's forward calls: CUDA events on GPU, the CPU clock elsewhere."""

    def __init__(self, unet, cuda: bool) -> None:
        import torch

        self.cuda, self.spans, self._open = cuda, [], None
        self._now = (lambda: torch.cuda.Event(enable_timing=True)) if cuda else time.perf_counter
        unet.register_forward_pre_hook(lambda *_: self._start())
        unet.register_forward_hook(lambda *_: self._stop())

    def _start(self) -> None:
        self._open = self._now()
        if self.cuda:
            self._open.record()

    def _stop(self) -> None:
        end = self._now()
        if self.cuda:
            end.record()
        self.spans.append((self._open, end))

    def take_seconds(self) -> float:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            total = sum(a.elapsed_time(b) for a, b in self.spans) / 1000
        else:
            total = sum(b - a for a, b in self.spans)
        self.spans = []
        return total


class GpuUtilisation:
    """nvidia-smi's utilisation.gpu (share of time a kernel ran), sampled every 100 ms while open."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                      "-i", "0", "-lms", "100"], stdout=subprocess.PIPE, text=True)

    def close(self) -> list[int]:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return [int(v) for v in out.split() if v.strip().isdigit()]


def unet_flops_per_image_step(pipe, size: int, device: str) -> float:
    """FLOPs of one denoising step of one image: a UNet forward on its CFG batch of 2 (unconditional and
    conditional), counted by torch.utils.flop_counter (convolutions, matmuls, attention; elementwise ops not).
    The inputs are the ones the pipeline's UNet takes (`speed.probe_inputs`: an SDXL UNet's pooled text
    and size numbers too), on latents of the size the pipeline's VAE makes of `size` pixels."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from pipeline.render.speed import probe_inputs

    latent = size // pipe.vae_scale_factor
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        pipe.unet(**probe_inputs(pipe.unet, 2, latent, latent, device))
    return float(counter.get_total_flops())


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--model", choices=sorted(PROFILES), default=None, help="default: sd15 on cuda, tiny on cpu; "
                   "sd15 and sdxl are the released architectures with random weights, tiny and tiny-sdxl the tests' "
                   "models built from configs")
    p.add_argument("--pairs", type=int, default=None, help="pairs of one ours round (one shard); tiny 32, sd15 64, "
                   "sdxl 16")
    p.add_argument("--batch-size", type=int, default=None, help="images per UNet call for bare and ours; "
                   "default: ours' own choice (free GPU memory; 16 on CPU)")
    p.add_argument("--naive-images", type=int, default=None, help="images per naive round (default: the batch size)")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (tiny 64, sd15 512, sdxl 1024)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (tiny 4, sd15 25, sdxl 50)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default=None,
                   help="default: float16 on CUDA, float32 on CPU")
    p.add_argument("--compile", choices=["blocks", "unet"], default=None, help="ours only (render.compile)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads; default 1 on CPU: two OpenMP "
                   "threads on two cores shared with other work spin-wait far slower, and ours' scoring threads use "
                   "the other core (CUDA: torch's default)")
    args = p.parse_args(argv)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.model = args.model or ("sd15" if args.device.startswith("cuda") else "tiny")
    prof = PROFILES[args.model]
    size, steps, pairs = args.size or prof["size"], args.steps or prof["steps"], args.pairs or prof["pairs"]
    dtype_name = args.dtype or ("float16" if args.device.startswith("cuda") else "float32")
    if args.threads or not args.device.startswith("cuda"):
        torch.set_num_threads(args.threads or 1)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    from pipeline.build.models import load_scorers
    from pipeline.build.shard import process_shard
    from pipeline.config import load_config
    from pipeline.render.base import torch_dtype
    from pipeline.render.diffusers import DiffusersRenderer
    from pipeline.run.layout import RunPaths

    dtype = torch_dtype(dtype_name)
    builders = {"tiny": tiny_pipeline, "tiny-sdxl": tiny_sdxl_pipeline, "sd15": sd15_pipeline, "sdxl": sdxl_pipeline}
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        work = Path(tmp)
        sets = [f"render.steps={steps}", f"render.width={size}", f"render.height={size}", f"render.dtype={dtype_name}",
                f"render.device={args.device}", f"shards.shard_size={pairs}", f"models_cache={work / 'models'}"]
        if args.model in FULL_SIZE:
            sets += [f"score.clip_model={random_clip_l14(work / 'clip-l14.pt')}", f"score.device={args.device}"]
        cfg = load_config(ROOT / "configs" / prof["config"], sets)
        guidance = cfg.render.guidance_scale
        plain = builders[args.model](work, dtype)
        plain.set_progress_bar_config(disable=True)
        ours_pipe = copy.deepcopy(plain)
        plain.to(args.device)
        renderer = DiffusersRenderer(f"bench:{args.model}", device=args.device, dtype=dtype_name, steps=steps,
                                     guidance_scale=guidance, width=size, height=size, batch_size=args.batch_size,
                                     compile=args.compile, pipeline=ours_pipe)
        batch = renderer.batch_size
        out = work / "run"
        plans = bench_plans(pairs)
        prepare_folder(out, plans)
        scorers = load_scorers(cfg, out)
        paths = RunPaths(out)
        images = [(p.violating_prompt, "", p.seed) for p in plans] + \
                 [(p.aligned_prompt, p.aligned_negative_prompt, p.seed) for p in plans]
        naive_n = args.naive_images or batch
        flops = unet_flops_per_image_step(plain, size, args.device)

        def call(chunk) -> None:
            negatives = [n for _, n, _ in chunk]
            plain(prompt=[t for t, _, _ in chunk], negative_prompt=negatives if any(negatives) else None,
                  num_inference_steps=steps, guidance_scale=guidance, width=size, height=size, output_type="pil",
                  generator=[torch.Generator("cpu").manual_seed(s) for _, _, s in chunk])

        def naive(n: int) -> int:
            for i in range(n):
                call(images[i % len(images):i % len(images) + 1])
            return n

        def bare(n: int) -> int:
            for k in range(0, n, batch):
                call(images[k:min(n, k + batch)])
            return n

        def ours(_: int) -> int:
            for f in (paths.marker(0), paths.shard(0), paths.rejected_shard(0)):
                f.unlink(missing_ok=True)
            process_shard(cfg, out, 0, renderer, scorers)
            return 2 * pairs

        plain_clock = UNetClock(plain.unet, cuda)  # naive and bare share the plain UNet, never at once
        methods = {"naive": (naive, naive_n, plain_clock), "bare": (bare, len(images), plain_clock),
                   "ours": (ours, 2 * pairs, UNetClock(renderer.pipeline.unet, cuda))}
        t0 = time.perf_counter()
        naive(1), bare(min(batch, len(images))), ours(0)  # warm-up (and compile) of each
        sync()
        warmup = time.perf_counter() - t0
        memory = PeakMemory(args.device)
        totals = {k: {"seconds": 0.0, "images": 0, "unet": 0.0, "peak": 0.0, "util": []} for k in methods}
        for _ in range(args.rounds):
            for kind, (fn, n, clock) in methods.items():
                clock.take_seconds()
                memory.reset()
                util = GpuUtilisation() if cuda and shutil.which("nvidia-smi") else None
                t0 = time.perf_counter()
                done = fn(n)
                sync()
                t = totals[kind]
                t["seconds"] += time.perf_counter() - t0
                t["images"] += done
                t["unet"] += clock.take_seconds()
                t["peak"] = max(t["peak"], memory.peak_mib())
                t["util"] += util.close() if util else []

        device_name = torch.cuda.get_device_name() if cuda else _cpu_name()
        peak = next((v for k, v in PEAK_FLOPS.items() if k in device_name), None) if dtype_name != "float32" else None
        threads = f", {torch.get_num_threads()} torch threads" if not cuda else ""
        print(f"bench-render: {args.model} model ({type(plain).__name__}) on {args.device} ({device_name}{threads}), "
              f"{size}x{size}, {dtype_name}, {steps} steps {type(plain.scheduler).__name__}, guidance {guidance:g}, batch {batch}, "
              f"{pairs} pairs per ours round ({len(plans) // 3 + (len(plans) % 3 > 0)} bias), {naive_n} naive images, "
              f"{args.rounds} rounds after a warm-up of {warmup:.1f} s" + (f", ours compiled ({args.compile})" if args.compile else ""))
        print(f"UNet: {flops / 1e9:.2f} GFLOP per image and step (torch.utils.flop_counter on one CFG forward of "
              f"2 samples: convolutions, matmuls, attention; elementwise ops not counted)")
        mem = "CUDA max allocated" if cuda else "peak RSS"
        print(f"{'method':6} {'images/s':>9} {'peak MiB':>9} {'UNet busy':>10} {'GPU util':>9} {'UNet TFLOP/s':>13}")
        rates = {}
        for kind, t in totals.items():
            rates[kind] = t["images"] / t["seconds"]
            tflops = flops * steps * t["images"] / t["seconds"] / 1e12
            of_peak = f" ({100 * tflops * 1e12 / peak:.0f}% of {peak / 1e12:.0f})" if peak else ""
            util = f"{sum(t['util']) / len(t['util']):.0f}%" if t["util"] else "n/a"
            print(f"{kind:6} {rates[kind]:9.2f} {t['peak']:9.0f} {100 * t['unet'] / t['seconds']:9.0f}% {util:>9} "
                  f"{tflops:13.4f}{of_peak}")
        print(f"(peak memory: {mem}; UNet busy: share of wall time inside UNet calls; GPU util: nvidia-smi; "
              f"device peak: {'dense ' + dtype_name + ' tensor cores' if peak else 'n/a'})")
        print(f"LiVO-size build ({LIVO_IMAGES} images, these settings): {LIVO_IMAGES / rates['ours'] / 3600:.1f} "
              f"device-hours at ours' rate")
        print(f"ours/naive: {rates['ours'] / rates['naive']:.2f}")
        print(f"ours/bare: {rates['ours'] / rates['bare']:.2f}")
    return 0


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "cpu"


if __name__ == "__main__":
    sys.exit(main())
