"""Training data: the shards of a `make shards` run, cached once as latents and text states.

`prepare_cache` streams the shards with pyarrow (one row batch at a time), VAE-encodes both
images of every kept pair (and their horizontal flips when flips are on) and runs the
frozen text encoder on the prompt, once. It stores the VAE posterior (mean, std, already
multiplied by the VAE scaling factor) so a training step can still draw a fresh latent
sample as the official script does, without the VAE. One cache file per shard, written
atomically, with a JSON sidecar that marks it complete: an interrupted prepare resumes, a
finished one is reused, and different ranks can prepare different shards.

`PreferenceDataset` serves one item per kept pair's aligned image; with `sampling="livo"`
its violating partner is drawn at random from the pair's group (LiVO), with `"fixed"` it
is the pair's own violating image. Every random choice is derived from (seed, epoch, index),
so an epoch's data is identical after a resume and independent of worker processes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from PIL import Image

from pipeline.shards import SHARDS_DIR, is_temp_name

log = logging.getLogger("livo_train.data")

CACHE_VERSION = 1
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_META_COLUMNS = ("id", "prompt", "principle", "principle_id", "category", "kind", "pair_type", "source", "attribute")


# ---------------------------------------------------------------- the data run

def shard_files(run_dir: str | Path) -> list[Path]:
    folder = Path(run_dir) / SHARDS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"no {SHARDS_DIR}/ folder in {run_dir}: run `make shards` first")
    files = sorted(p for p in folder.glob("*.parquet") if not is_temp_name(p.name))
    if not files:
        raise FileNotFoundError(f"{folder} holds no shards")
    return files


def run_hash_of(run_dir: str | Path) -> str:
    manifest = Path(run_dir) / "run.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{run_dir} has no run.json: not a run folder written by `make shards`")
    return json.loads(manifest.read_text())["run_hash"]


def run_model(run_dir: str | Path) -> str:
    """The renderer recorded in the shards' `model` column (one per run)."""
    names: set[str] = set()
    for f in shard_files(run_dir):
        names.update(pq.read_table(f, columns=["model"]).column("model").unique().to_pylist())
    names.discard(None)
    if len(names) != 1:
        raise ValueError(f"{run_dir}: expected one rendering model in the shards, found {sorted(names)}")
    return names.pop()


def run_models_dir(run_dir: str | Path) -> Path:
    """Where the run keeps built-in models: its config's models_cache, else <run>/models."""
    from pipeline.config import load_config

    cfg_path = Path(run_dir) / "config.yaml"
    cache = load_config(cfg_path).models_cache if cfg_path.exists() else None
    return Path(cache) if cache else Path(run_dir) / "models"


def resolve_base_model(run_dir: str | Path, base: str | None) -> tuple[str, str]:
    """(name, loadable path or hub id) of the base model: `base`, else the run's renderer."""
    from pipeline.build import resolve_model

    name = base or run_model(run_dir)
    path = resolve_model(name, run_models_dir(run_dir))
    # A local dir is recorded absolute: the trained model is loaded later from anywhere.
    return name, os.path.abspath(path) if os.path.isdir(path) else path


# ---------------------------------------------------------------- images

def load_image(cell: dict, resolution: int | None) -> Image.Image:
    img = Image.open(io.BytesIO(cell["bytes"]))
    img = img.convert("RGB")
    if resolution is not None:
        # Resize the shorter side, then center crop (the official script crops at random; a
        # cache can only hold one crop, and the rendered images are already square).
        w, h = img.size
        scale = resolution / min(w, h)
        if scale != 1:
            img = img.resize((max(resolution, round(w * scale)), max(resolution, round(h * scale))),
                             Image.Resampling.BILINEAR)
        w, h = img.size
        left, top = (w - resolution) // 2, (h - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
    return img


def to_pixels(images: Sequence[Image.Image]) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1], as the SD VAE expects."""
    sizes = {im.size for im in images}
    if len(sizes) != 1:
        raise ValueError(f"images of different sizes {sorted(sizes)}: set data.resolution")
    arr = np.stack([np.asarray(im, dtype=np.float32) for im in images]) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


# ---------------------------------------------------------------- cache

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
    files = shard_files(run_dir)
    return CacheSpec(run_hash_of(run_dir), tuple((f.name, f.stat().st_size) for f in files), base_name,
                     os.path.abspath(base_path) if os.path.isdir(base_path) else base_path, resolution,
                     random_flip, dtype, encode_dtype)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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

    from livo_train.model import tokenize, value_text

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
        _atomic_write_bytes(out.with_suffix(".safetensors"), save(tensors))
    # The sidecar is the completion marker: written last.
    _atomic_write_bytes(out.with_suffix(".json"), json.dumps({"rows": n, **meta}).encode())
    return n


def cache_complete(run_dir: str | Path, cache_root: str | Path, spec: CacheSpec) -> bool:
    """True when every shard of the run is already in the cache (prepare would only reuse)."""
    cache_dir = Path(cache_root) / spec.key()
    return all((cache_dir / f"{p.stem}.json").exists() for p in shard_files(run_dir))


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
    spec_file = cache_dir / "cache.json"
    if rank == 0 and not spec_file.exists():
        _atomic_write_bytes(spec_file, json.dumps(spec.__dict__, indent=2, default=list).encode())
    from livo_train.model import move

    files = shard_files(run_dir)
    device = torch.device(device)
    model_dtype = _DTYPES[spec.encode_dtype]
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
                                dtype=_DTYPES[spec.dtype], device=device, model_dtype=model_dtype,
                                batch_size=batch_size)
        prepared += 1
        log.info("cached %s (%d/%d)", path.name, i + 1, len(files))
    return PrepareReport(cache_dir, len(files), prepared, reused, pairs)


class PairCache:
    """Read access to a complete cache folder: the row index and lazy tensor slices."""

    def __init__(self, cache_dir: str | Path):
        self.dir = Path(cache_dir)
        spec_file = self.dir / "cache.json"
        if not spec_file.exists():
            raise FileNotFoundError(f"{self.dir} is not a prepared cache (no cache.json)")
        self.spec = json.loads(spec_file.read_text())
        self.files: list[Path] = []
        self.rows: list[tuple[int, int]] = []  # global row -> (file index, row in file)
        self.meta: dict[str, list] = defaultdict(list)
        for name, _size in self.spec["shards"]:
            sidecar = self.dir / f"{Path(name).stem}.json"
            if not sidecar.exists():
                raise FileNotFoundError(f"cache {self.dir} misses {sidecar.name}: run prepare first")
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


_PARTNER, _FLIP = 0, 1  # independent random streams per item


def _item_rng(seed: int, epoch: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index, stream])


class PreferenceDataset(torch.utils.data.Dataset):
    """One item per kept pair: its aligned image and a violating partner, as cached latents.

    Item: aligned/violating posterior mean and std (C, h, w) in the same flip, the prompt's
    frozen text states (L, D) and the value encoder's token ids (L,).
    """

    def __init__(self, cache: PairCache, *, sampling: str = "livo", group_by: Sequence[str] = ("principle_id", "prompt"),
                 random_flip: bool = True, seed: int = 0, max_pairs: int | None = None):
        if sampling not in ("fixed", "livo"):
            raise ValueError(f"sampling must be 'fixed' or 'livo', got {sampling!r}")
        if random_flip and cache.num_flips < 2:
            raise ValueError("random_flip needs a cache prepared with flips")
        self.cache, self.sampling, self.random_flip, self.seed = cache, sampling, random_flip, seed
        self.epoch = 0
        self.size = len(cache) if max_pairs is None else min(max_pairs, len(cache))
        self.group_of: list[list[int]] = [[]] * self.size
        for group in cache.groups(group_by):
            group = [i for i in group if i < self.size]
            for i in group:
                self.group_of[i] = group

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def partner(self, index: int, epoch: int | None = None) -> int:
        """The row whose violating image is paired with row `index`'s aligned image in `epoch` (default: set_epoch's)."""
        if self.sampling == "fixed":
            return index
        epoch = self.epoch if epoch is None else epoch
        group = self.group_of[index]
        return group[int(_item_rng(self.seed, epoch, index, _PARTNER).integers(len(group)))]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """`dataset[index]` (in set_epoch's epoch) or `dataset[epoch, index]` (what EpochOrder.stream yields)."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        partner = self.partner(index, epoch)
        # One flip for both images: they were rendered from the same noise, so their layouts
        # correspond; flipping only one would break the minimal difference within a pair.
        flip = int(_item_rng(self.seed, epoch, index, _FLIP).integers(2)) if self.random_flip else 0
        c = self.cache
        return {
            "aligned_mean": c.get(index, "aligned_mean")[flip],
            "aligned_std": c.get(index, "aligned_std")[flip],
            "violating_mean": c.get(partner, "violating_mean")[flip],
            "violating_std": c.get(partner, "violating_std")[flip],
            "prompt_states": c.get(index, "prompt_states"),
            "value_ids": c.get(index, "value_ids").long(),
        }


class EpochOrder:
    """The order pairs are drawn in: a fresh permutation per epoch from (seed, epoch), split across ranks.

    Every rank gets ceil(N / world) indices per epoch (the permutation wraps around to even them
    out, as DistributedSampler does), so all ranks run the same number of steps and no pair is
    left out.
    """

    def __init__(self, n: int, *, seed: int = 0, rank: int = 0, world: int = 1):
        if n < 1:
            raise ValueError("empty dataset")
        self.n, self.seed, self.rank, self.world = n, seed, rank, world

    def per_rank(self) -> int:
        return math.ceil(self.n / self.world)

    def indices(self, epoch: int) -> list[int]:
        """This rank's indices of `epoch`, in order."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        total = self.per_rank() * self.world
        perm = (perm * math.ceil(total / self.n))[:total]
        return perm[self.rank:total:self.world]

    def stream(self, position: int = 0) -> Iterator[tuple[int, int]]:
        """(epoch, index) for ever, epoch after epoch, from `position` (= items this rank has drawn so far).

        Batches cut from the stream are all full (the last ones of an epoch run into the next), so every
        step has the same shape (no recompile, no odd-sized step) and each pair still comes once per epoch.
        """
        epoch, offset = divmod(position, self.per_rank())
        while True:
            for index in self.indices(epoch)[offset:]:
                yield epoch, index
            epoch, offset = epoch + 1, 0
