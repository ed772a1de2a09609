"""The LiVO training loop (accelerate: one process, DDP over GPUs or CPU processes).

A step runs only the UNet: latents and frozen text states come from the `prepare` cache.
The aligned and violating images of each pair share one noise draw and one timestep and go
through the UNet together (one batch of 2B with the value token, with gradient; one batch
of 2B without it, the reference, under `no_grad`). Only the value encoder is trained.

Noise, timesteps, posterior samples, flips and partner draws are derived from
(seed, rank, micro-step) and (seed, epoch, index), so a resumed run computes exactly what
the uninterrupted one would; accelerate's checkpoint also restores optimizer, scheduler and
global RNG states.

Output folder::

    <out>/train_config.yaml   resolved config     <out>/training.json  base model, data, metrics
    <out>/README.md           model card          <out>/value_encoder/ final weights (safetensors)
    <out>/metrics.jsonl       logged metrics      <out>/logs/          TensorBoard
    <out>/checkpoints/checkpoint-<step>/  value_encoder/, optimizer, scheduler, RNG states
    <out>/cache/<key>/        prepared latents and text states (unless data.cache_dir is set)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F

from livo_train.config import TrainConfig, dump_train_config, identity_hash, load_train_config, train_config_dict
from livo_train.data import (EpochOrder, PairCache, PreferenceDataset, cache_complete, cache_spec, prepare_cache,
                             resolve_base_model, run_hash_of)
from livo_train.loss import dpo_loss, livo_loss
from livo_train.model import BaseComponents, compile_unet, init_value_encoder, load_base, move, prepend_value

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"


class TrainingError(RuntimeError):
    pass


def _step_generator(seed: int, rank: int, micro_step: int) -> torch.Generator:
    # A fixed function of (seed, rank, micro-step): resuming needs no generator state.
    return torch.Generator().manual_seed(((seed * 1_000_003 + rank) * 1_000_000_007 + micro_step) % 2**63)


def _flat(d: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, f"{key}."))
        else:  # TensorBoard hparams take scalars and strings only
            out[key] = v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
    return out


def checkpoint_dirs(out: str | Path) -> list[Path]:
    folder = Path(out) / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("checkpoint-*") if (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


class LiVOTrainer:
    """Build with a validated TrainConfig; `train()` prepares the cache and runs the loop."""

    def __init__(self, cfg: TrainConfig):
        from accelerate import Accelerator
        from accelerate.utils import ProjectConfiguration

        if cfg.data_run is None or cfg.output_dir is None:
            raise TrainingError("data_run and output_dir must be set (livo train --data RUN --out DIR)")
        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        t = cfg.train
        if t.mixed_precision == "fp16" and not torch.cuda.is_available():
            raise TrainingError("train.mixed_precision=fp16 needs a CUDA GPU; use bf16 or no on CPU")
        self.accelerator = Accelerator(
            mixed_precision=t.mixed_precision,
            gradient_accumulation_steps=t.gradient_accumulation_steps,
            cpu=t.device == "cpu",
            log_with="tensorboard",
            project_config=ProjectConfiguration(project_dir=str(self.out), logging_dir=str(self.out / "logs")),
        )
        if t.cpu_threads is not None:
            torch.set_num_threads(t.cpu_threads)
        self.weight_dtype = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[t.mixed_precision]
        if t.allow_tf32 and torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = True
        self.rank = self.accelerator.process_index
        self.world = self.accelerator.num_processes
        self.global_step = 0
        self._ready = False

    # ------------------------------------------------------------ setup

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def _check_output(self, resume: str | None) -> None:
        saved = self.out / "train_config.yaml"
        if saved.exists():
            previous = load_train_config(saved)
            if identity_hash(previous) != identity_hash(self.cfg):
                raise TrainingError(
                    f"{self.out} holds a training run with another configuration "
                    f"(identity {identity_hash(previous)}, now {identity_hash(self.cfg)}); choose another --out"
                )
        if checkpoint_dirs(self.out) and resume is None:
            raise TrainingError(f"{self.out} already has checkpoints: pass --resume latest, or choose another --out")

    def setup(self, resume: str | None = None, *, base: BaseComponents | None = None,
              base_name: str | None = None) -> None:
        """Load models, prepare (or reuse) the cache, build optimizer, scheduler and data.

        `base`: already loaded components (all parts) instead of the base model named by the
        config or the data run; `base_name` is then what the outputs record.
        """
        cfg, acc = self.cfg, self.accelerator
        self._check_output(resume)
        acc.wait_for_everyone()
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            dump_train_config(cfg, self.out / "train_config.yaml")

        if base is None:
            self.base_name, self.base_path = resolve_base_model(cfg.data_run, cfg.model.base)
        else:
            self.base_name = self.base_path = base_name or "in-memory"
        self.data_run_hash = run_hash_of(cfg.data_run)
        spec = cache_spec(cfg.data_run, self.base_name, self.base_path, cfg.data.resolution,
                          cfg.data.random_flip, cfg.data.cache_dtype, str(self.weight_dtype).removeprefix("torch."))
        cache_root = cfg.data.cache_dir or self.out / "cache"
        if base is None:
            parts = ("tokenizer", "text_encoder", "unet", "scheduler")
            if not cache_complete(cfg.data_run, cache_root, spec):
                parts += ("vae",)
            base = load_base(self.base_path, parts=parts)
        # Copied before prepare may cast the text encoder to a half dtype: the trainable copy stays fp32.
        value_encoder = init_value_encoder(base.text_encoder, cfg.model.value_encoder_init)
        self.prepare_report = prepare_cache(
            cfg.data_run, cache_root, spec, base, device=self.device, batch_size=cfg.data.prepare_batch_size,
            rank=self.rank, world=self.world,
        )
        acc.wait_for_everyone()
        # A step needs neither the VAE nor the text encoder: the trainer keeps no reference to them
        # (the caller's `base` still holds them, on the device prepare used).
        self.base = BaseComponents(base.tokenizer, None, None, base.unet, base.noise_scheduler)
        self.cache = PairCache(self.prepare_report.cache_dir)

        unet = move(self.base.unet, self.device, self.weight_dtype)
        from diffusers.models.attention_processor import AttnProcessor2_0

        unet.set_attn_processor(AttnProcessor2_0())  # PyTorch SDPA kernels
        if cfg.train.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
            value_encoder.gradient_checkpointing_enable()
        compile_unet(unet, cfg.train.compile)
        o = cfg.optim
        optimizer = torch.optim.AdamW(value_encoder.parameters(), lr=o.lr, betas=(o.adam_beta1, o.adam_beta2),
                                      weight_decay=o.weight_decay, eps=o.adam_eps)
        from diffusers.optimization import get_scheduler

        # Not passed to accelerator.prepare (which would step it once per process): stepped once
        # per optimizer step here and checkpointed as a registered object.
        self.lr_scheduler = get_scheduler(o.lr_scheduler, optimizer=optimizer, num_warmup_steps=o.warmup_steps,
                                          num_training_steps=cfg.train.max_steps)
        self.value_encoder, self.optimizer = acc.prepare(value_encoder, optimizer)
        acc.register_for_checkpointing(self.lr_scheduler)
        acc.register_save_state_pre_hook(self._save_hook)
        acc.register_load_state_pre_hook(self._load_hook)

        self.dataset = PreferenceDataset(self.cache, sampling=cfg.data.sampling, group_by=cfg.data.group_by,
                                         random_flip=cfg.data.random_flip, seed=cfg.train.seed,
                                         max_pairs=cfg.data.max_pairs)
        self.order = EpochOrder(len(self.dataset), seed=cfg.train.seed, rank=self.rank, world=self.world)
        self.noise_scheduler = self.base.noise_scheduler
        self._ready = True
        if resume is not None:
            self.resume(resume)

    # ------------------------------------------------------------ checkpoints

    def _save_hook(self, models: list, weights: list, output_dir: str) -> None:
        if self.accelerator.is_main_process:
            from pipeline.render import quiet_progress_bars

            with quiet_progress_bars():
                for model in models:
                    self.accelerator.unwrap_model(model).save_pretrained(
                        os.path.join(output_dir, "value_encoder"), safe_serialization=True)
        weights.clear()  # saved above, in the format inference loads

    def _load_hook(self, models: list, input_dir: str) -> None:
        from safetensors.torch import load_file

        state = load_file(os.path.join(input_dir, "value_encoder", "model.safetensors"))
        while models:
            self.accelerator.unwrap_model(models.pop()).load_state_dict(state)

    def save_checkpoint(self) -> Path:
        acc = self.accelerator
        path = self.out / CHECKPOINTS / f"checkpoint-{self.global_step:06d}"
        acc.wait_for_everyone()
        acc.save_state(str(path), safe_serialization=True)
        if acc.is_main_process:
            (path / STATE_FILE).write_text(json.dumps({
                "global_step": self.global_step, "data_run_hash": self.data_run_hash,
                "identity": identity_hash(self.cfg), "num_processes": self.world,
            }))
            keep = self.cfg.train.checkpoints_keep
            if keep is not None:
                for old in checkpoint_dirs(self.out)[:-keep]:
                    shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return path

    def resume(self, which: str) -> int:
        """Load `which` ('latest' or a checkpoint dir); 'latest' with no checkpoint starts fresh."""
        if which == "latest":
            found = checkpoint_dirs(self.out)
            if not found:
                self.accelerator.print(f"no checkpoint in {self.out}: starting a new run")
                return 0
            path = found[-1]
        else:
            path = Path(which)
            if not (path / STATE_FILE).exists():
                raise TrainingError(f"{path} is not a checkpoint (no {STATE_FILE})")
        state = json.loads((path / STATE_FILE).read_text())
        if state["data_run_hash"] != self.data_run_hash:
            raise TrainingError(f"{path} was trained on data run {state['data_run_hash']}, not {self.data_run_hash}")
        if state["num_processes"] != self.world:
            raise TrainingError(f"{path} was written by {state['num_processes']} processes; resume with as many "
                                f"(now {self.world}) so every process continues its own data and noise")
        self.accelerator.load_state(str(path))
        self.global_step = int(state["global_step"])
        metrics_file = self.out / "metrics.jsonl"
        if self.accelerator.is_main_process and metrics_file.exists():
            # Steps after the checkpoint are about to be redone: their old lines would be duplicates.
            lines = metrics_file.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines if json.loads(line)["step"] <= self.global_step]
            metrics_file.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        self.accelerator.print(f"resumed from {path} at step {self.global_step}")
        return self.global_step

    # ------------------------------------------------------------ the step

    def batches(self, start_micro: int = 0):
        """Micro-batches from micro-step `start_micro` on, for ever (EpochOrder.stream: all full)."""
        cfg = self.cfg
        stream = self.order.stream(start_micro * cfg.train.batch_size)
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=cfg.train.batch_size, sampler=stream,
                                             num_workers=cfg.data.num_workers,
                                             pin_memory=self.device.type == "cuda")
        yield from loader

    def compute_loss(self, batch: dict[str, torch.Tensor], micro_step: int) -> tuple[torch.Tensor, dict]:
        """Loss and metrics of one micro-batch (what one training step differentiates)."""
        cfg, dev, wdt = self.cfg, self.device, self.weight_dtype
        g = _step_generator(cfg.train.seed, self.rank, micro_step)
        mean = torch.cat([batch["aligned_mean"], batch["violating_mean"]]).float()
        std = torch.cat([batch["aligned_std"], batch["violating_std"]]).float()
        bsz = batch["value_ids"].shape[0]
        # A fresh draw from each image's VAE posterior, as the official script's latent_dist.sample().
        latents = mean + std * torch.randn(mean.shape, generator=g)
        noise = torch.randn((bsz, *mean.shape[1:]), generator=g)
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (bsz,), generator=g)
        # One noise and one timestep per pair, shared by its two images.
        noise, timesteps = torch.cat([noise, noise]).to(dev), torch.cat([timesteps, timesteps]).to(dev)
        latents = latents.to(dev)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps).to(wdt)
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        states = batch["prompt_states"].to(dev, wdt)
        # Reference first: its activations are freed before the policy's graph is built (lower peak).
        with torch.no_grad():
            ref = self.base.unet(noisy, timesteps, torch.cat([states, states])).sample
        with self.accelerator.autocast():
            value_vec = self.value_encoder(batch["value_ids"].to(dev)).pooler_output
        cond = prepend_value(value_vec.to(wdt), states)
        pred = self.base.unet(noisy, timesteps, torch.cat([cond, cond])).sample
        model_err = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        ref_err = F.mse_loss(ref.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        model_w, model_l = model_err.chunk(2)
        ref_w, ref_l = ref_err.chunk(2)
        lc = cfg.loss
        if lc.type == "livo":
            return livo_loss(model_w, model_l, ref_w, ref_l, beta=lc.beta, alpha=lc.alpha,
                             gamma1=lc.gamma1, gamma2=lc.gamma2)
        return dpo_loss(model_w, model_l, ref_w, ref_l, beta=lc.dpo_beta)

    def train_step(self, batch: dict[str, torch.Tensor], micro_step: int) -> dict:
        """Forward, backward and (on a sync step) clip + optimizer step for one micro-batch.

        The learning-rate scheduler and the step counter advance in `train`, once per optimizer step.
        """
        acc = self.accelerator
        with acc.accumulate(self.value_encoder):
            loss, metrics = self.compute_loss(batch, micro_step)
            acc.backward(loss)
            if acc.sync_gradients and self.cfg.optim.max_grad_norm is not None:
                metrics["grad_norm"] = acc.clip_grad_norm_(self.value_encoder.parameters(),
                                                           self.cfg.optim.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return metrics

    # ------------------------------------------------------------ the loop

    def train(self, resume: str | None = None) -> dict:
        if not self._ready:
            self.setup(resume)
        cfg, acc = self.cfg, self.accelerator
        t = cfg.train
        if acc.is_main_process:
            acc.init_trackers("livo", config=_flat(train_config_dict(cfg)))
        metrics_file = self.out / "metrics.jsonl"
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        last: dict[str, float] = {}
        samples = 0
        t0 = tick = time.perf_counter()
        start_step = self.global_step
        accum = t.gradient_accumulation_steps
        batches = self.batches(self.global_step * accum)
        self.value_encoder.train()
        while self.global_step < t.max_steps:
            for i in range(accum):
                micro = self.global_step * accum + i
                batch = next(batches)
                metrics = self.train_step(batch, micro)
                for k, v in metrics.items():
                    sums[k] += float(v)
                    counts[k] += 1
                samples += batch["value_ids"].shape[0] * self.world
            self.lr_scheduler.step()
            self.global_step += 1
            if self.global_step % t.log_every == 0 or self.global_step == t.max_steps:
                names = sorted(sums)
                local = torch.tensor([sums[k] / counts[k] for k in names], device=self.device)
                mean = acc.reduce(local, reduction="mean") if self.world > 1 else local
                now = time.perf_counter()
                last = {k: float(v) for k, v in zip(names, mean.tolist())}
                last.update(lr=self.lr_scheduler.get_last_lr()[0], samples_per_s=samples / max(now - tick, 1e-9))
                if acc.is_main_process:
                    acc.log(last, step=self.global_step)
                    with metrics_file.open("a", encoding="utf-8") as f:
                        f.write(json.dumps({"step": self.global_step, **last}) + "\n")
                    acc.print(f"step {self.global_step}/{t.max_steps} loss {last['loss']:.4f} "
                              f"acc {last['implicit_acc']:.2f} {last['samples_per_s']:.1f} samples/s")
                sums.clear()
                counts.clear()
                samples = 0
                tick = now
            if self.global_step % t.checkpoint_every == 0:
                self.save_checkpoint()
        summary = self.finish(last, time.perf_counter() - t0, self.global_step - start_step)
        acc.end_training()
        return summary

    def finish(self, last_metrics: dict, seconds: float, steps_run: int) -> dict:
        """Final weights, training.json and the model card (main process)."""
        acc = self.accelerator
        acc.wait_for_everyone()
        record = self.out / "training.json"
        if not last_metrics and record.exists():  # resumed a finished run: keep its metrics
            last_metrics = json.loads(record.read_text())["final_metrics"]
        summary = {
            "name": self.cfg.name,
            "base_model": self.base_name,
            "base_model_path": self.base_path,
            "data_run": str(Path(self.cfg.data_run).resolve()),
            "data_run_hash": self.data_run_hash,
            "cache_dir": str(self.prepare_report.cache_dir),
            "cache_reused_shards": self.prepare_report.reused,
            "pairs": len(self.dataset),
            "identity": identity_hash(self.cfg),
            "global_step": self.global_step,
            "steps_this_run": steps_run,
            "seconds_this_run": round(seconds, 3),
            "num_processes": self.world,
            "value_encoder": "value_encoder",
            "final_metrics": last_metrics,
        }
        if acc.is_main_process:
            from livo_train.model_card import render_model_card
            from pipeline.render import quiet_progress_bars

            with quiet_progress_bars():
                acc.unwrap_model(self.value_encoder).save_pretrained(str(self.out / "value_encoder"),
                                                                     safe_serialization=True)
            record.write_text(json.dumps(summary, indent=2), encoding="utf-8")
            (self.out / "README.md").write_text(render_model_card(self.cfg, summary), encoding="utf-8")
        acc.wait_for_everyone()
        return summary


def train(cfg: TrainConfig, resume: str | None = None) -> dict:
    return LiVOTrainer(cfg).train(resume)
