"""The naive training step of bench/train_step.py, written the way the official LiVO
`value_encoder/train.py` does it: every step decodes the PNGs, VAE-encodes both images, runs
the frozen text encoder, calls the UNet four times (policy and reference, aligned and
violating, each a batch of B) and computes the reference passes outside `no_grad`."""

from __future__ import annotations

import copy
import random
from collections import defaultdict


class NaiveStep:
    """The official script's data path and step (value_encoder/train.py), same hyper-parameters."""

    def __init__(self, args, base, base_name: str):
        import pyarrow.parquet as pq
        import torch

        from livo_train.config import precision_dtype
        from livo_train.model import value_text
        from pipeline.run.layout import RunPaths

        self.args, self.base = args, base
        cuda = args.device.startswith("cuda")
        self.device = torch.device(args.device)
        self.dtype = precision_dtype(args.mixed_precision)
        for m in (base.vae, base.text_encoder, base.unet):
            m.to(self.device, self.dtype)  # the official script casts the frozen models
        if args.gradient_checkpointing:
            base.unet.enable_gradient_checkpointing()
        self.value_encoder = copy.deepcopy(base.text_encoder).to(self.device, torch.float32)
        self.value_encoder.requires_grad_(True)
        self.value_encoder.train()
        if args.gradient_checkpointing:
            self.value_encoder.gradient_checkpointing_enable()
        self.optimizer = torch.optim.AdamW(self.value_encoder.parameters(), lr=1e-6, weight_decay=1e-2)
        self.scaler = torch.amp.GradScaler("cuda") if cuda and args.mixed_precision == "fp16" else None
        # Official layout: positives with their scene group's list of negatives (here: prompt groups).
        groups: dict = defaultdict(list)
        self.positives = []
        for f in RunPaths(args.data).shard_files():
            for r in pq.read_table(f, columns=["prompt", "principle", "principle_id", "aligned", "violating"]).to_pylist():
                key = (r["principle_id"], r["prompt"])
                groups[key].append(r["violating"]["bytes"])
                self.positives.append((r["prompt"], r["principle"], r["aligned"]["bytes"], key))
        self.groups = groups
        self.value_text = value_text
        self.rng = random.Random(args.seed)
        self.order: list[int] = []

    def _transform(self, data: bytes, flip: bool):
        import numpy as np
        import torch
        from PIL import Image

        from livo_train.data import load_image

        img = load_image({"bytes": data}, self.args.resolution)
        if flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(arr).permute(2, 0, 1)

    def _batch(self):
        import torch

        from livo_train.model import tokenize

        items = []
        for _ in range(self.args.batch_size):
            if not self.order:
                self.order = list(range(len(self.positives)))
                self.rng.shuffle(self.order)
            prompt, principle, pos, key = self.positives[self.order.pop()]
            neg = self.rng.choice(self.groups[key])
            # RandomHorizontalFlip in the official transforms: drawn per image
            items.append((prompt, self.value_text(principle, prompt), self._transform(pos, self.rng.random() < 0.5),
                          self._transform(neg, self.rng.random() < 0.5)))
        tok = self.base.tokenizer
        return {"input_ids": tokenize(tok, [i[0] for i in items]), "valued_input_ids": tokenize(tok, [i[1] for i in items]),
                "pixel_values": torch.stack([i[2] for i in items]), "neg_pixel_values": torch.stack([i[3] for i in items])}

    def step(self) -> int:
        import torch
        import torch.nn.functional as F

        from livo_train.loss import livo_loss

        b, base, dev, dt = self._batch(), self.base, self.device, self.dtype
        sf = base.vae.config.scaling_factor
        latents = base.vae.encode(b["pixel_values"].to(dev, dt)).latent_dist.sample() * sf
        neg_latents = base.vae.encode(b["neg_pixel_values"].to(dev, dt)).latent_dist.sample() * sf
        noise = torch.randn_like(latents)
        t = torch.randint(0, base.noise_scheduler.config.num_train_timesteps, (latents.shape[0],), device=dev)
        noisy = base.noise_scheduler.add_noise(latents, noise, t)
        neg_noisy = base.noise_scheduler.add_noise(neg_latents, noise, t)
        states = base.text_encoder(b["input_ids"].to(dev))[0]
        with torch.autocast(dev.type, dtype=dt, enabled=dt != torch.float32):
            value = self.value_encoder(b["valued_input_ids"].to(dev))[1]
        cond = torch.cat([value.unsqueeze(1), states], dim=1).to(dt)
        pred = base.unet(noisy, t, cond).sample
        neg_pred = base.unet(neg_noisy, t, cond).sample
        ref_pred = base.unet(noisy, t, states).sample  # reference outside no_grad, as the official code
        ref_neg_pred = base.unet(neg_noisy, t, states).sample

        def err(p):
            return F.mse_loss(p.float(), noise.float(), reduction="none").mean(dim=(1, 2, 3))

        loss, _ = livo_loss(err(pred), err(neg_pred), err(ref_pred), err(ref_neg_pred),
                            beta=1000.0, alpha=500.0, gamma1=1.0, gamma2=0.5)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.value_encoder.parameters(), 1.0)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.value_encoder.parameters(), 1.0)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return self.args.batch_size
