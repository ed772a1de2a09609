"""The prepare cache: a run's shards encoded once as VAE latents and frozen text states.

`prepare_cache` streams the shards with pyarrow (one row batch at a time), VAE-encodes both
images of every kept pair (and their horizontal flips when flips are on) and runs the
frozen text encoder on the prompt, once. It stores the VAE posterior (mean, std, already
multiplied by the VAE scaling factor) so a training step can still draw a fresh latent
sample as the official script does, without the VAE. One cache file per shard, written
atomically, with a JSON sidecar that marks it complete: an interrupted prepare resumes, a
finished one is reused, and different ranks can prepare different shards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import torch

from livo_train.data import load_image, to_pixels
from livo_train.model import move, tokenize, value_text
from pipeline.errors import MissingFileError
from pipeline.render.base import torch_dtype
from pipeline.run.atomic import atomic_write_bytes
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import run_hash_of

log = logging.getLogger("livo_train.cache")

CACHE_VERSION = 1
SPEC_FILE = "cache.json"
_META_COLUMNS = ("id", "prompt", "principle", "principle_id", "category", "kind", "pair_type", "source", "attribute")


@dataclass(frozen=True)
class CacheSpec:
    """What the cached tensors depend on; its hash names the cache folder."""

    run_hash: str
    shards: tuple[tuple[str, int], ...]  # (file name, size in bytes)
    base_model: str
    base_path: str
    resolution: int | None
    random_flip: bool
    dtype: str  # storage dtype
    encode_dtype: str = "float32"  # dtype the VAE and text encoder run in while preparing

    def key(self) -> str:
        blob = json.dumps({"version": CACHE_VERSION, **self.__dict__}, sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_spec(run_dir: str | Path, base_name: str, base_path: str, resolution: int | None, random_flip: bool,
               dtype: str, encode_dtype: str = "float32") -> CacheSpec:
    files = RunPaths(run_dir).shard_files()
    return CacheSpec(run_hash_of(run_dir), tuple((f.name, f.stat().st_size) for f in files), base_name,
                     os.path.abspath(base_path) if os.path.isdir(base_path) else base_path, resolution,
                     random_flip, dtype, encode_dtype)


@torch.no_grad()
def _encode_images(vae: Any, pixels: torch.Tensor, flips: bool, device: torch.device, dtype: torch.dtype,
                   batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std (N, F, C, h, w) times the scaling factor; F = 2 with flips."""
    views = [pixels, torch.flip(pixels, dims=[-1])] if flips else [pixels]
    sf = vae.config.scaling_factor
    means, stds = [], []
    for view in views:
        m_parts, s_parts = [], []
        for start in range(0, len(view), batch_size):
            dist = vae.encode(view[start:start + batch_size].to(device, dtype)).latent_dist
            m_parts.append((dist.mean * sf).float().cpu())
            s_parts.append((dist.std * sf).float().cpu())
        means.append(torch.cat(m_parts))
        stds.append(torch.cat(s_parts))
    return torch.stack(means, dim=1), torch.stack(stds, dim=1)


@torch.no_grad()
def _encode_texts(text_encoder: Any, ids: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    parts = [text_encoder(ids[s:s + batch_size].to(device))[0].float().cpu() for s in range(0, len(ids), batch_size)]
    return torch.cat(parts)


def _prepare_shard(path: Path, out: Path, base: Any, *, resolution: int | None, flips: bool, dtype: torch.dtype,
                   device: torch.device, model_dtype: torch.dtype, batch_size: int) -> int:
    from safetensors.torch import save

    chunks: dict[str, list[torch.Tensor]] = defaultdict(list)
    meta: dict[str, list] = defaultdict(list)
    pf = pq.ParquetFile(path)
    # Streams: only one row batch of decoded images is in memory at a time.
    for batch in pf.iter_batches(batch_size=batch_size, columns=[*_META_COLUMNS, "aligned", "violating"]):
        rows = batch.to_pylist()
        for side in ("aligned", "violating"):
            pixels = to_pixels([load_image(r[side], resolution) for r in rows])
            mean, std = _encode_images(base.vae, pixels, flips, device, model_dtype, batch_size)
            chunks[f"{side}_mean"].append(mean.to(dtype))
            chunks[f"{side}_std"].append(std.to(dtype))
        prompt_ids = tokenize(base.tokenizer, [r["prompt"] for r in rows])
        chunks["prompt_states"].append(_encode_texts(base.text_encoder, prompt_ids, device, batch_size).to(dtype))
        value_ids = tokenize(base.tokenizer, [value_text(r["principle"], r["prompt"]) for r in rows])
        chunks["value_ids"].append(value_ids.to(torch.int32))
        for r in rows:
            for c in _META_COLUMNS:
                meta[c].append(r[c])
    n = len(meta["id"])
    if n:
        tensors = {k: torch.cat(v).contiguous() for k, v in chunks.items()}
        atomic_write_bytes(out.with_suffix(".safetensors"), save(tensors))
    # The sidecar is the completion marker: written last.
    atomic_write_bytes(out.with_suffix(".json"), json.dumps({"rows": n, **meta}).encode())
    return n


def cache_complete(run_dir: str | Path, cache_root: str | Path, spec: CacheSpec) -> bool:
    """True when every shard of the run is already in the cache (prepare would only reuse)."""
    cache_dir = Path(cache_root) / spec.key()
    return all((cache_dir / f"{p.stem}.json").exists() for p in RunPaths(run_dir).shard_files())


@dataclass
class PrepareReport:
    cache_dir: Path
    shards: int
    prepared: int  # shards encoded now
    reused: int  # shards found complete in the cache
    pairs: int  # pairs encoded now (by this rank)


def prepare_cache(run_dir: str | Path, cache_root: str | Path, spec: CacheSpec, base: Any, *,
                  device: torch.device | str = "cpu", batch_size: int = 16, rank: int = 0,
                  world: int = 1) -> PrepareReport:
    """Encode every shard not yet in the cache; this rank takes shards rank, rank+world, ...

    `base` needs tokenizer, text_encoder and vae. Call it on every rank, then wait for all
    ranks before reading the cache (the trainer does).
    """
    cache_dir = Path(cache_root) / spec.key()
    cache_dir.mkdir(parents=True, exist_ok=True)
    spec_file = cache_dir / SPEC_FILE
    if rank == 0 and not spec_file.exists():
        atomic_write_bytes(spec_file, json.dumps(spec.__dict__, indent=2, default=list).encode())
    files = RunPaths(run_dir).shard_files()
    device = torch.device(device)
    model_dtype = torch_dtype(spec.encode_dtype)
    prepared = reused = pairs = 0
    for i, path in enumerate(files):
        out = cache_dir / path.stem
        if out.with_suffix(".json").exists():
            reused += 1
            continue
        if i % world != rank:
            continue
        if base.vae is None or base.text_encoder is None:
            raise ValueError("prepare needs the base model's VAE and text encoder")
        move(base.vae, device, model_dtype)
        move(base.text_encoder, device, model_dtype)
        pairs += _prepare_shard(path, out, base, resolution=spec.resolution, flips=spec.random_flip,
                                dtype=torch_dtype(spec.dtype), device=device, model_dtype=model_dtype,
                                batch_size=batch_size)
        prepared += 1
        log.info("cached %s (%d/%d)", path.name, i + 1, len(files))
    return PrepareReport(cache_dir, len(files), prepared, reused, pairs)


class PairCache:
    """Read access to a complete cache folder: the row index and lazy tensor slices."""

    def __init__(self, cache_dir: str | Path):
        self.dir = Path(cache_dir)
        spec_file = self.dir / SPEC_FILE
        if not spec_file.exists():
            raise MissingFileError(f"{self.dir} is not a prepared cache (no {SPEC_FILE})")
        self.spec = json.loads(spec_file.read_text())
        self.files: list[Path] = []
        self.rows: list[tuple[int, int]] = []  # global row -> (file index, row in file)
        self.meta: dict[str, list] = defaultdict(list)
        for name, _size in self.spec["shards"]:
            sidecar = self.dir / f"{Path(name).stem}.json"
            if not sidecar.exists():
                raise MissingFileError(f"cache {self.dir} misses {sidecar.name}: run prepare first")
            info = json.loads(sidecar.read_text())
            if info["rows"] == 0:
                continue
            fi = len(self.files)
            self.files.append(sidecar.with_suffix(".safetensors"))
            self.rows += [(fi, r) for r in range(info["rows"])]
            for c in _META_COLUMNS:
                self.meta[c] += info[c]
        if not self.rows:
            raise ValueError(f"cache {self.dir} holds no pairs")
        self._handles: dict[int, Any] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def num_flips(self) -> int:
        return 2 if self.spec["random_flip"] else 1

    def _handle(self, fi: int) -> Any:
        from safetensors import safe_open

        if os.getpid() != self._pid:  # a DataLoader worker: handles do not survive fork
            self._handles, self._pid = {}, os.getpid()
        if fi not in self._handles:
            self._handles[fi] = safe_open(str(self.files[fi]), framework="pt")
        return self._handles[fi]

    def get(self, row: int, name: str) -> torch.Tensor:
        fi, r = self.rows[row]
        return self._handle(fi).get_slice(name)[r]

    def groups(self, columns: Sequence[str]) -> list[list[int]]:
        """Rows grouped by the values of `columns`, each group's rows in cache order."""
        by_key: dict[tuple, list[int]] = defaultdict(list)
        for i in range(len(self)):
            by_key[tuple(self.meta[c][i] for c in columns)].append(i)
        return list(by_key.values())
