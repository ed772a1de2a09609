"""The fine-tuned half of the default head: the sentence model's top transformer layers,
trained on the labelled prompts with a softmax layer over their mean-pooled output.

A frozen sentence embedding is made for similarity, not for harm: "rabbis walking past
Hitler" and "rabbis kicking Hitler" sit close together. Training the top layers lets
attention weigh the words that decide harm in context, where the word features of the linear
half only count them. The lower layers stay frozen (their output is computed once per
prompt), which keeps training within minutes on two cores. The two halves' probabilities
are averaged: out of fold on the real training prompts each alone is about as good as the
other, and the average is better than either (docs/selection.md).

Weights are saved in the head's ``.npz`` as float16 arrays (plain arrays, no pickle); the
layers' architecture comes from the sentence model the head names, so a head and a model
that do not fit are refused on load.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from sentence_transformers import SentenceTransformer

PREFIX = "tuned."  # npz keys of the tuned layers' tensors
DEFAULT_LAYERS = 2
DEFAULT_EPOCHS = 3
DEFAULT_LR = 1e-4
_BATCH = 32


def _bert(model: SentenceTransformer):
    return model[0].auto_model


def frozen_states(model: SentenceTransformer, texts: Sequence[str], layers: int, batch_size: int = 64) -> list:
    """Per text, the hidden states (tokens × width, padding removed) that enter the model's top
    ``layers`` transformer layers, truncated as the sentence model truncates."""
    import torch

    bert, tok = _bert(model), model.tokenizer
    start = len(bert.encoder.layer) - layers
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            batch = tok(list(texts[i:i + batch_size]), padding=True, truncation=True,
                        max_length=model.max_seq_length, return_tensors="pt")
            states = bert(**batch, output_hidden_states=True).hidden_states[start]
            for row, mask in zip(states, batch["attention_mask"]):
                out.append(row[: int(mask.sum())].clone())
    return out


def _padded(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    n = max(s.shape[0] for s in states)
    h = torch.zeros(len(states), n, states[0].shape[1])
    m = torch.zeros(len(states), n)
    for j, s in enumerate(states):
        h[j, : s.shape[0]], m[j, : s.shape[0]] = s, 1.0
    return h, m


def _module(model: SentenceTransformer, layers: int, n_classes: int):
    import torch

    bert = _bert(model)
    width = bert.config.hidden_size

    class TunedTop(torch.nn.Module):
        def __init__(self):
            super().__init__()
            total = len(bert.encoder.layer)
            self.layers = torch.nn.ModuleList(copy.deepcopy(bert.encoder.layer[i]) for i in range(total - layers, total))
            self.drop = torch.nn.Dropout(0.1)
            self.out = torch.nn.Linear(width, n_classes)

        def forward(self, h, m):
            additive = (1.0 - m[:, None, None, :]) * torch.finfo(h.dtype).min
            for layer in self.layers:
                h = layer(h, attention_mask=additive)
                h = h[0] if isinstance(h, tuple) else h
            pooled = (h * m[..., None]).sum(1) / m.sum(1, keepdim=True)
            return self.out(self.drop(pooled))

    return TunedTop()


class TunedLayers:
    """The top layers and their softmax layer; ``probabilities`` reads `frozen_states`."""

    def __init__(self, module, layers: int):
        self.module, self.layers = module, layers

    @classmethod
    def fit(cls, model: SentenceTransformer, states: Sequence[torch.Tensor], y: np.ndarray, n_classes: int, *,
            layers: int = DEFAULT_LAYERS, epochs: int = DEFAULT_EPOCHS, lr: float = DEFAULT_LR,
            seed: int = 0) -> TunedLayers:
        """Cross-entropy on ``y`` (class indices), AdamW, batches of 32 in a seeded order."""
        import torch

        with torch.random.fork_rng():  # dropout draws from the global generator; leave it as found
            torch.manual_seed(seed)
            module = _module(model, layers, n_classes)
            opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=0.01)
            order = np.random.default_rng(seed)
            target = torch.as_tensor(np.asarray(y), dtype=torch.long)
            module.train()
            for _ in range(epochs):
                perm = order.permutation(len(states))
                for i in range(0, len(perm), _BATCH):
                    idx = perm[i:i + _BATCH]
                    h, m = _padded([states[j] for j in idx])
                    loss = torch.nn.functional.cross_entropy(module(h, m), target[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        module.eval()
        with torch.no_grad():  # as saved: float16 weights, so out-of-fold scores are the saved head's
            for p in module.parameters():
                p.copy_(p.half().float())
        return cls(module, layers)

    def probabilities(self, states: Sequence[torch.Tensor], batch_size: int = 64) -> np.ndarray:
        import torch

        n_classes = self.module.out.out_features
        if not states:
            return np.zeros((0, n_classes))
        out = []
        with torch.inference_mode():
            for i in range(0, len(states), batch_size):
                out.append(torch.softmax(self.module(*_padded(states[i:i + batch_size])).double(), -1).numpy())
        return np.concatenate(out)

    def arrays(self) -> dict[str, np.ndarray]:
        return {PREFIX + k: v.detach().numpy().astype(np.float16) for k, v in self.module.state_dict().items()}

    @classmethod
    def from_arrays(cls, model: SentenceTransformer, arrays: Mapping[str, np.ndarray], layers: int,
                    n_classes: int) -> TunedLayers:
        """Raises ValueError when the arrays do not fit ``model``'s layers."""
        import torch

        module = _module(model, layers, n_classes)
        state = {k[len(PREFIX):]: torch.from_numpy(np.asarray(arrays[k], dtype=np.float32))
                 for k in arrays if k.startswith(PREFIX)}
        module.load_state_dict(state, strict=True)
        module.eval()
        return cls(module, layers)
