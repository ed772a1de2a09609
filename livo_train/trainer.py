"""The LiVO training loop (accelerate: one process, DDP over GPUs or CPU processes).

A step runs only the UNet: latents and frozen text states come from the `prepare` cache.
The aligned and violating images of each pair share one noise draw and one timestep and go
through the UNet together (one batch of 2B with the value token, with gradient; one batch
of 2B without it, the reference, under `no_grad`). Only the value encoder is trained.

Noise, timesteps, posterior samples, flips and partner draws are derived from
(seed, rank, micro-step) and (seed, epoch, index), so a resumed run computes exactly what
the uninterrupted one would; accelerate's checkpoint also restores optimizer, scheduler and
global RNG states.

The output folder's layout is in outputs.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from livo_train.cache import PairCache, cache_complete, cache_spec, prepare_cache
from livo_train.checkpoints import Checkpoints, check_output
from livo_train.config import (
    TrainConfig,
    TrainingError,
    dump_train_config,
    identity_hash,
    precision_dtype,
    train_config_dict,
)
from livo_train.data import EpochOrder, PreferenceDataset, noisy_pairs, step_generator
from livo_train.loss import dpo_loss, livo_loss
from livo_train.metrics import MetricsLog, flat_hparams, truncate_metrics
from livo_train.model import (
    BaseComponents,
    compile_unet,
    describe_base,
    init_value_encoder,
    load_base,
    move,
    prepend_value,
    resolve_base_model,
    run_model,
)
from livo_train.outputs import (
    CACHE_DIR,
    CONFIG_FILE,
    LOGS_DIR,
    METRICS_FILE,
    TRAINING_RECORD,
    VALUE_ENCODER,
    read_training_record,
    write_final,
)
from pipeline.render.speed import torch_settings
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import run_hash_of


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
            project_config=ProjectConfiguration(project_dir=str(self.out), logging_dir=str(self.out / LOGS_DIR)),
        )
        self.weight_dtype = precision_dtype(t.mixed_precision)
        self.rank = self.accelerator.process_index
        self.world = self.accelerator.num_processes
        self.checkpoints = Checkpoints(self.accelerator, self.out, t.checkpoints_keep)
        self.global_step = 0
        self.data_problems: list[str] = []  # set by `livo train --allow-incomplete` (livo_train.cli)
        self._ready = False

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    # ------------------------------------------------------------ setup

    def setup(self, resume: str | None = None, *, base: BaseComponents | None = None,
              base_name: str | None = None) -> None:
        """Load models, prepare (or reuse) the cache, build optimizer, scheduler and data.

        `base`: already loaded components (all parts) instead of the base model named by the
        config or the data run; `base_name` is then what the outputs record.
        """
        with torch_settings(self.cfg.train.cpu_threads, self.cfg.train.allow_tf32):  # restored after, as in train()
            # Inputs first: a base model LiVO cannot train is refused before the output folder is made.
            self._identify_inputs(in_memory=base is not None, base_name=base_name)
            self._init_output(resume)
            if base is None:
                base = self._load_base()
            # Copied before prepare may cast the text encoder to a half dtype: the trainable copy stays fp32.
            value_encoder = init_value_encoder(base.text_encoder, self.cfg.model.value_encoder_init)
            self._prepare_cache(base)
            self._prepare_models(value_encoder)
            self._build_optimizer(value_encoder)
            self._build_data()
        self._ready = True
        if resume is not None:
            self.resume(resume)

    def _init_output(self, resume: str | None) -> None:
        check_output(self.out, self.cfg, resume)
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            dump_train_config(self.cfg, self.out / CONFIG_FILE)

    def _identify_inputs(self, in_memory: bool, base_name: str | None) -> None:
        """Base model name and path, the data run's hash and the cache spec (what the outputs record)."""
        cfg = self.cfg
        if in_memory:
            self.base_name = self.base_path = base_name or "in-memory"
        else:
            self.base_name, self.base_path = resolve_base_model(cfg.data_run, cfg.model.base)
            note = describe_base(self.base_name, self.base_path, run_model(cfg.data_run),
                                 RunPaths(cfg.data_run).saved_models())
            if note is not None:
                self.accelerator.print(note)
        self.data_run_hash = run_hash_of(cfg.data_run)
        self.cache_spec = cache_spec(cfg.data_run, self.base_name, self.base_path, cfg.data.resolution,
                                     cfg.data.random_flip, cfg.data.cache_dtype,
                                     str(self.weight_dtype).removeprefix("torch."))
        self.cache_root = cfg.data.cache_dir or self.out / CACHE_DIR

    def _load_base(self) -> BaseComponents:
        parts = ("tokenizer", "text_encoder", "unet", "scheduler")
        if not cache_complete(self.cfg.data_run, self.cache_root, self.cache_spec):
            parts += ("vae",)
        return load_base(self.base_path, parts=parts)

    def _prepare_cache(self, base: BaseComponents) -> None:
        self.prepare_report = prepare_cache(
            self.cfg.data_run, self.cache_root, self.cache_spec, base, device=self.device,
            batch_size=self.cfg.data.prepare_batch_size, rank=self.rank, world=self.world,
        )
        self.accelerator.wait_for_everyone()
        # A step needs neither the VAE nor the text encoder: the trainer keeps no reference to them
        # (the caller's `base` still holds them, on the device prepare used).
        self.base = BaseComponents(base.tokenizer, None, None, base.unet, base.noise_scheduler)
        self.noise_scheduler = self.base.noise_scheduler
        self.cache = PairCache(self.prepare_report.cache_dir)

    def _prepare_models(self, value_encoder: Any) -> None:
        """The frozen UNet on the device in the weight dtype, with SDPA attention; memory and compile options."""
        from diffusers.models.attention_processor import AttnProcessor2_0

        t = self.cfg.train
        unet = move(self.base.unet, self.device, self.weight_dtype)
        unet.set_attn_processor(AttnProcessor2_0())  # PyTorch SDPA kernels
        if t.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
            value_encoder.gradient_checkpointing_enable()
        compile_unet(unet, t.compile)

    def _build_optimizer(self, value_encoder: Any) -> None:
        from diffusers.optimization import get_scheduler

        o, acc = self.cfg.optim, self.accelerator
        optimizer = torch.optim.AdamW(value_encoder.parameters(), lr=o.lr, betas=(o.adam_beta1, o.adam_beta2),
                                      weight_decay=o.weight_decay, eps=o.adam_eps)
        # Not passed to accelerator.prepare (which would step it once per process): stepped once
        # per optimizer step here and checkpointed as a registered object.
        self.lr_scheduler = get_scheduler(o.lr_scheduler, optimizer=optimizer, num_warmup_steps=o.warmup_steps,
                                          num_training_steps=self.cfg.train.max_steps)
        self.value_encoder, self.optimizer = acc.prepare(value_encoder, optimizer)
        acc.register_for_checkpointing(self.lr_scheduler)
        self.checkpoints.register()

    def _build_data(self) -> None:
        d, seed = self.cfg.data, self.cfg.train.seed
        self.dataset = PreferenceDataset(self.cache, sampling=d.sampling, group_by=d.group_by,
                                         random_flip=d.random_flip, seed=seed, max_pairs=d.max_pairs)
        self.order = EpochOrder(len(self.dataset), seed=seed, rank=self.rank, world=self.world)

    # ------------------------------------------------------------ checkpoints

    def save_checkpoint(self) -> Path:
        return self.checkpoints.save(self.global_step, self.data_run_hash, self.cfg)

    def resume(self, which: str) -> int:
        """Load `which` ('latest' or a checkpoint dir); 'latest' with no checkpoint starts fresh."""
        step = self.checkpoints.load(which, self.data_run_hash, self.cfg)
        if step is not None:
            self.global_step = step
            if self.accelerator.is_main_process:
                truncate_metrics(self.out / METRICS_FILE, step)
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
        g = step_generator(cfg.train.seed, self.rank, micro_step)
        noisy, timesteps, target = noisy_pairs(batch, self.noise_scheduler, g, dev, wdt)
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
        acc, t = self.accelerator, self.cfg.train
        if acc.is_main_process:
            acc.init_trackers("livo", config=flat_hparams(train_config_dict(self.cfg)))
        last: dict[str, float] = {}
        t0 = time.perf_counter()
        log = MetricsLog(acc, self.out / METRICS_FILE, start=t0)
        start_step = self.global_step
        accum = t.gradient_accumulation_steps
        batches = self.batches(self.global_step * accum)
        with torch_settings(t.cpu_threads, t.allow_tf32):  # restored after: the caller's process goes on
            self.value_encoder.train()
            while self.global_step < t.max_steps:
                for i in range(accum):
                    batch = next(batches)
                    metrics = self.train_step(batch, self.global_step * accum + i)
                    log.add(metrics, batch["value_ids"].shape[0] * self.world)
                self.lr_scheduler.step()
                self.global_step += 1
                if self.global_step % t.log_every == 0 or self.global_step == t.max_steps:
                    last = log.write(self.global_step, self.lr_scheduler.get_last_lr()[0], t.max_steps)
                if self.global_step % t.checkpoint_every == 0:
                    self.save_checkpoint()
            summary = self.finish(last, time.perf_counter() - t0, self.global_step - start_step)
        acc.end_training()
        return summary

    def finish(self, last_metrics: dict, seconds: float, steps_run: int) -> dict:
        """Final weights, training.json and the model card (main process)."""
        acc = self.accelerator
        acc.wait_for_everyone()
        if not last_metrics and (self.out / TRAINING_RECORD).exists():  # resumed a finished run: keep its metrics
            last_metrics = read_training_record(self.out)["final_metrics"]
        summary = {
            "name": self.cfg.name,
            "base_model": self.base_name,
            "base_model_path": self.base_path,
            "data_run": str(Path(self.cfg.data_run).resolve()),
            "data_run_hash": self.data_run_hash,
            # why the data run was not a complete build, when trained on anyway (--allow-incomplete)
            "data_run_incomplete": self.data_problems,
            "cache_dir": str(self.prepare_report.cache_dir),
            "cache_reused_shards": self.prepare_report.reused,
            "pairs": len(self.dataset),
            "identity": identity_hash(self.cfg),
            "global_step": self.global_step,
            "steps_this_run": steps_run,
            "seconds_this_run": round(seconds, 3),
            "num_processes": self.world,
            "value_encoder": VALUE_ENCODER,
            "final_metrics": last_metrics,
        }
        if acc.is_main_process:
            write_final(self.out, self.cfg, summary, acc.unwrap_model(self.value_encoder))
        acc.wait_for_everyone()
        return summary
