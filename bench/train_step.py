"""Training-step throughput: our LiVO step vs a naive step written the way the official script does it.

naive (official `value_encoder/train.py`): every step decodes the PNGs, VAE-encodes both images,
runs the frozen text encoder, calls the UNet four times (policy and reference, aligned and
violating, each a batch of B) and computes the reference passes outside `no_grad`.
ours (`livo_train.trainer.LiVOTrainer.train_step`): latents and text states from the
`prepare` cache, one UNet call of 2B with the value token and one of 2B under `no_grad`.

Both run the same pairs, the same frozen model and value-encoder initialisation, the same
batch size, precision and optimizer, each in its own process (so peak memory is its own:
CUDA max allocated, or CPU peak RSS of the measured steps). They take turns: warm-up, then
`--rounds` alternating blocks of `--steps` steps, so a machine whose load changes during the
run slows both alike. The one-time prepare (cache) cost of ours is printed separately.

    python bench/train_step.py --data runs/tiny                       # tiny model, CPU
    python bench/train_step.py --device cuda --model-size sd15        # random-init SD 1.5, GPU

The last line is ``ratio: X`` = ours / naive samples per second.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.naive_train_step import NaiveStep

# ---------------------------------------------------------------- models and data

def sd15_base(tokenizer_dir: Path):
    """Random-initialised SD 1.5 architecture (UNet 860M, VAE 84M, CLIP text 123M), real CLIP vocabulary."""
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from livo_train.model import BaseComponents
    from pipeline.render.tiny_models import clip_tokenizer_files

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768, attention_head_dim=8,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=49406, eos_token_id=49407,
        pad_token_id=49407,
    ))
    tokenizer = CLIPTokenizer.from_pretrained(clip_tokenizer_files(tokenizer_dir))
    scheduler = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              num_train_timesteps=1000)
    for m in (unet, vae, text_encoder):
        m.requires_grad_(False)
        m.eval()
    return BaseComponents(tokenizer, text_encoder, vae, unet, scheduler)


def load_bench_base(args):
    if args.model_size == "sd15":
        return sd15_base(Path(args.workdir) / "tokenizer"), "random:sd15"
    from livo_train.model import load_base, resolve_base_model

    name, path = resolve_base_model(args.data, None)
    return load_base(path), name


def synthetic_run(folder: Path, pairs: int, size: int) -> Path:
    """A run folder with `pairs` pairs of smooth random size×size PNGs (SD 1.5 mode: no real data)."""
    import numpy as np
    from PIL import Image

    from pipeline.records import PairPlan, PromptStats
    from pipeline.run.layout import RunPaths
    from pipeline.run.manifest import PreparedRun, write_manifest
    from pipeline.run.schema import SHARD_SCHEMA, encode_image, pair_row
    from pipeline.run.tables import write_table_atomic

    rng = np.random.default_rng(0)

    def image() -> bytes:
        small = (rng.random((size // 16, size // 16, 3)) * 255).astype("uint8")
        return encode_image(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))

    rows = []
    for i in range(pairs):
        plan = PairPlan(id=f"p{i:05d}", prompt=f"a photo of a person number {i} at work", principle_id="gender_equality",
                        principle="People of all genders should be equally represented in every profession and role.",
                        category="gender_bias", kind="bias", pair_type="bias",
                        aligned_prompt=f"a photo of a person number {i} at work, female",
                        violating_prompt=f"a photo of a person number {i} at work", aligned_negative_prompt="",
                        seed=i, concepts=("male", "female"), attribute="female", source="synthetic")
        rows.append(pair_row(plan, image(), image(), {}, model="random:sd15", config_hash="synthetic", image_ext="png"))
    paths = RunPaths(folder)
    write_table_atomic(rows, paths.shard(0), SHARD_SCHEMA)
    write_manifest(paths, PreparedRun(str(folder), f"synthetic-{pairs}-{size}", num_shards=1, num_pairs=pairs,
                                      prompt_stats=PromptStats()))
    return folder


# ---------------------------------------------------------------- memory

class PeakMemory:
    """Peak memory of this process from `reset()` on: CUDA max allocated, else peak RSS (VmHWM)."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def reset(self) -> None:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            # Linux: writing 5 resets the process's peak RSS counter to its current RSS.
            Path("/proc/self/clear_refs").write_text("5")

    def peak_mib(self) -> float:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/self/status")


# ---------------------------------------------------------------- the two steps

class OursStep:
    """LiVOTrainer itself: prepare once (timed apart), then train_step on cached batches."""

    def __init__(self, args, base, base_name: str):
        from livo_train.config import load_train_config
        from livo_train.trainer import LiVOTrainer

        work = Path(args.workdir) / "ours"
        sets = [f"data_run={args.data}", f"output_dir={work}", f"data.cache_dir={work / 'cache'}",
                f"train.batch_size={args.batch_size}", f"train.mixed_precision={args.mixed_precision}",
                f"train.device={'cpu' if args.device == 'cpu' else 'null'}", f"train.seed={args.seed}",
                f"train.gradient_checkpointing={str(args.gradient_checkpointing).lower()}",
                f"data.resolution={args.resolution}" if args.resolution else "data.resolution=null",
                "data.random_flip=true", "data.sampling=livo", "train.max_steps=1000000",
                f"train.compile={args.compile or 'null'}"]
        self.trainer = LiVOTrainer(load_train_config(None, sets))
        t0 = time.perf_counter()
        self.trainer.setup(base=base, base_name=base_name)
        self.prepare_seconds = time.perf_counter() - t0
        self.pairs = len(self.trainer.dataset)
        self.batches = self.trainer.batches()
        self.micro = 0

    def step(self) -> int:
        batch = next(self.batches)
        self.trainer.train_step(batch, self.micro)
        self.trainer.lr_scheduler.step()
        self.micro += 1
        return batch["value_ids"].shape[0]


# ---------------------------------------------------------------- worker processes

def worker(kind: str, args: argparse.Namespace, conn) -> None:
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if kind == "naive" or args.model_size == "sd15":
        base, name = load_bench_base(args)
    else:
        base, name = None, None  # the trainer loads what it needs itself (no VAE once the cache exists)
    stepper = (NaiveStep if kind == "naive" else OursStep)(args, base, name)
    if kind != "naive":
        del base  # ours keeps only what the trainer holds (UNet, tokenizer, scheduler)
    if kind == "prepare":  # the one-time cache, in its own process so it leaves nothing behind in "ours"
        conn.send({"prepare_seconds": stepper.prepare_seconds, "pairs": stepper.pairs})
        return
    memory = PeakMemory(args.device)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        stepper.step()
    sync()
    warmup_seconds = time.perf_counter() - t0
    memory.reset()
    conn.send({"ready": True, "warmup_seconds": warmup_seconds,
               "prepare_seconds": getattr(stepper, "prepare_seconds", None),
               "pairs": getattr(stepper, "pairs", len(getattr(stepper, "positives", [])))})
    while True:
        cmd = conn.recv()
        if cmd == "stop":
            conn.send({"peak_mib": memory.peak_mib()})
            return
        t0, samples = time.perf_counter(), 0
        for _ in range(cmd):
            samples += stepper.step()
        sync()
        conn.send({"seconds": time.perf_counter() - t0, "samples": samples})


def _recv(conn, proc) -> dict:
    """The worker's next message; fails instead of waiting forever when the worker died."""
    while not conn.poll(1.0):
        if not proc.is_alive():
            raise RuntimeError(f"bench worker {proc.name} exited with code {proc.exitcode}")
    return conn.recv()


def main(argv: list[str] | None = None) -> int:
    from pipeline.run.layout import RunPaths

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="runs/tiny", help="run folder from `make shards` (tiny mode)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--model-size", choices=["tiny", "sd15"], default="tiny",
                   help="tiny: the data run's model; sd15: random-initialised SD 1.5 on synthetic 512 px pairs")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=4, help="steps per measured block")
    p.add_argument("--rounds", type=int, default=3, help="alternating measured blocks per method")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default=None,
                   help="default: fp16 on CUDA (as the official script), no on CPU")
    p.add_argument("--gradient-checkpointing", action="store_true", help="for both steps")
    p.add_argument("--resolution", type=int, default=None, help="resize/crop images (default: as rendered)")
    p.add_argument("--compile", choices=["blocks", "unet"], default=None,
                   help="ours only (train.compile; the official script does not compile): compile time is "
                        "spent in warm-up and printed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per worker (default: torch's)")
    args = p.parse_args(argv)
    if args.mixed_precision is None:
        args.mixed_precision = "fp16" if args.device.startswith("cuda") else "no"

    with tempfile.TemporaryDirectory(prefix="bench-train-") as work:
        args.workdir = work
        if args.model_size == "sd15":
            args.data = str(synthetic_run(Path(work) / "run", pairs=4 * args.batch_size, size=args.resolution or 512))
        elif not RunPaths(args.data).shards.is_dir():
            print(f"bench-train: no shards in {args.data}; run `make shards` first", file=sys.stderr)
            return 2
        ctx = mp.get_context("spawn")
        conns, procs, warm = {}, {}, {}
        for kind in ("prepare", "naive", "ours"):  # one at a time: setups do not compete for the CPU
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(kind, args, child), daemon=True)
            proc.start()
            info = _recv(parent, proc)
            if kind == "prepare":
                proc.join(timeout=60)
                print(f"ours: one-time prepare (VAE latents + text states of {info['pairs']} pairs, both flips) "
                      f"{info['prepare_seconds']:.1f} s")
                continue
            conns[kind], procs[kind] = parent, proc
            warm[kind] = info["warmup_seconds"]
        threads = f", {args.threads} CPU thread(s)" if args.threads else ""
        compiled = (f", ours compiled ({args.compile}; warm-up incl. compile {warm['ours']:.1f} s)"
                    if args.compile else "")
        print(f"bench-train: {args.model_size} model on {args.device}, batch {args.batch_size}, "
              f"precision {args.mixed_precision}{threads}{compiled}, {args.rounds} rounds x {args.steps} steps "
              f"per method after {args.warmup} warm-up steps")
        totals = {k: [0.0, 0] for k in conns}
        for _ in range(args.rounds):
            for kind, conn in conns.items():
                conn.send(args.steps)
                r = _recv(conn, procs[kind])
                totals[kind][0] += r["seconds"]
                totals[kind][1] += r["samples"]
        rates, peaks = {}, {}
        for kind, conn in conns.items():
            conn.send("stop")
            peaks[kind] = _recv(conn, procs[kind])["peak_mib"]
            procs[kind].join(timeout=60)
            rates[kind] = totals[kind][1] / totals[kind][0]
        what = "CUDA max allocated" if args.device.startswith("cuda") else "peak RSS while stepping"
        for kind in ("naive", "ours"):
            print(f"{kind:5}: {rates[kind]:8.2f} samples/s   peak memory {peaks[kind]:9.1f} MiB ({what})")
        print(f"ratio: {rates['ours'] / rates['naive']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
