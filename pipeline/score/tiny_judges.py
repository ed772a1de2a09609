"""Tiny random VLM judges built from their configs, saved as the hub's folders are, for tests and the
offline profile: no judge weights exist on these machines, so the real loading code
(`from_pretrained(path)`) runs against these.

ShieldGemma 2 (`ensure_tiny_shieldgemma`): a two-layer Gemma 3 text model and a two-layer SigLIP
vision tower, 32 px images as four soft tokens, and a small Gemma tokenizer (BPE with byte
fallback, trained here on the words of ShieldGemma's prompt, its built-in policies and our
principles) with the special tokens the processor and the chat template use. The chat template
writes the released model's prompt (its model card's instruction around the policy), so the tiny
model reads the same text, token for token in its own vocabulary, as the real one would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from pipeline.run.atomic import atomic_dir

# ShieldGemma 2's prompt: one user turn per content item, the image's then the policy's, then the
# model's turn; the processor expands <start_of_image> into the image's soft tokens.
SHIELDGEMMA_INSTRUCTION = (
    "You are a policy expert trying to help determine whether a generated or real image is in violation of the "
    "safety policy below. Your decision must very clearly follow the specific language used in the safety policy "
    "and should not include any interpretation outside of the safety policy.")
SHIELDGEMMA_QUESTION = "Does the image violate the above policy? Your Answer must start with 'Yes' or 'No'."
SHIELDGEMMA_CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- for item in message['content'] -%}"
    "{{- '<start_of_turn>user\\n' -}}"
    "{%- if item['type'] == 'image' -%}{{- '<start_of_image>' -}}"
    "{%- elif item['type'] == 'text' -%}"
    "{{- " + json.dumps(SHIELDGEMMA_INSTRUCTION + "\n\n<BEGIN_SAFETY_POLICY>\n") + " + item['text'] + "
    + json.dumps("\n</END_SAFETY_POLICY>\n\n" + SHIELDGEMMA_QUESTION + "<end_of_turn>\n") + " -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{- '<start_of_turn>model\\n' -}}"
    "{%- endfor -%}"
)

# Gemma's special tokens at Gemma's low ids (pad 0, eos 1, bos 2, unk 3, mask 4), then the turn and
# image tokens the template and the processor write.
_SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")
_TURNS = ("<start_of_turn>", "<end_of_turn>")
_IMAGE_TOKENS = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
_BYTES = tuple(f"<0x{i:02X}>" for i in range(256))  # byte fallback: any text tokenizes, as in Gemma's vocabulary
_ANSWERS = ("Yes", "No")  # ShieldGemma reads P(yes) from these two tokens' logits

_IMAGE_SIZE, _PATCH, _IMAGE_TOKENS_PER_IMAGE = 32, 8, 4  # 4x4 patches pooled to 2x2 soft tokens
_HIDDEN = 32


def _corpus() -> list[str]:
    """The text the tiny tokenizer learns its words from: the prompt, the built-in policies and every
    policy our catalog's principles make."""
    from transformers.models.shieldgemma2.processing_shieldgemma2 import DEFAULT_SHIELDGEMMA2_POLICIES

    from pipeline.catalog.principles import load_catalog
    from pipeline.score.shieldgemma import catalog_policies

    return [SHIELDGEMMA_INSTRUCTION, SHIELDGEMMA_QUESTION, *DEFAULT_SHIELDGEMMA2_POLICIES.values(),
            *catalog_policies(load_catalog()).values(), *_ANSWERS, "user", "model"]


def shieldgemma_tokenizer():
    """A Gemma tokenizer (BPE, byte fallback, spaces as "▁") over the tiny model's vocabulary, with the
    image tokens the ShieldGemma 2 processor asks its tokenizer for."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import GemmaTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    bpe.normalizer = normalizers.Replace(" ", "▁")
    # Learnt per word ("▁the"); Gemma applies the merges to the whole text, which makes the same tokens.
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    specials = [*_SPECIALS, *_TURNS, *_IMAGE_TOKENS.values(), *_BYTES]
    # Room for every word of the corpus to become one token, as common words are in Gemma's vocabulary.
    trainer = trainers.BpeTrainer(vocab_size=4096, special_tokens=specials, show_progress=False)
    bpe.train_from_iterator(_corpus(), trainer)
    learnt = json.loads(bpe.to_str())["model"]
    tokenizer = GemmaTokenizer(vocab=learnt["vocab"], merges=[tuple(m) for m in learnt["merges"]],
                               extra_special_tokens=dict(_IMAGE_TOKENS))
    tokenizer.add_tokens(list(_TURNS), special_tokens=True)
    for answer in _ANSWERS:
        if tokenizer.tokenize(answer) != [answer]:
            raise RuntimeError(f"the tiny ShieldGemma vocabulary has no token {answer!r}")
    return tokenizer


def ensure_tiny_shieldgemma(dest_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """Return a tiny ShieldGemma 2 folder (config, weights, processor, tokenizer, chat template) that
    ``ShieldGemma2ForImageClassification.from_pretrained`` and ``AutoProcessor.from_pretrained`` load
    as they load ``google/shieldgemma-2-4b-it``; built once, the same weights for the same seed."""
    from transformers import (
        Gemma3ImageProcessor,
        Gemma3TextConfig,
        ShieldGemma2Config,
        ShieldGemma2ForImageClassification,
        ShieldGemma2Processor,
        SiglipVisionConfig,
    )
    from transformers.models.shieldgemma2.processing_shieldgemma2 import DEFAULT_SHIELDGEMMA2_POLICIES

    from pipeline.render.base import quiet_progress_bars

    dest = Path(dest_dir)
    if (dest / "config.json").exists():
        return dest
    tokenizer = shieldgemma_tokenizer()
    text = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=_HIDDEN, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16,
        # Gemma 3's local and global layers; a window shorter than the prompt, so the local one is local
        sliding_window=64, layer_types=["sliding_attention", "full_attention"], max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    vision = SiglipVisionConfig(hidden_size=_HIDDEN, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                image_size=_IMAGE_SIZE, patch_size=_PATCH, vision_use_head=False)
    ids = tokenizer.convert_tokens_to_ids
    config = ShieldGemma2Config(
        text_config=text.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=_IMAGE_TOKENS_PER_IMAGE,
        boi_token_index=ids(_IMAGE_TOKENS["boi_token"]), eoi_token_index=ids(_IMAGE_TOKENS["eoi_token"]),
        image_token_index=ids(_IMAGE_TOKENS["image_token"]),
        # the released model reads these at its own vocabulary's ids (10784, 3771) by default
        yes_token_index=ids("Yes"), no_token_index=ids("No"))
    with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left as it was
        torch.manual_seed(seed)
        model = ShieldGemma2ForImageClassification(config).eval()
        # Gemma 3 starts its image projection at zero (trained weights replace it): random here, or
        # the tiny judge would never see its images.
        projection = model.model.model.multi_modal_projector.mm_input_projection_weight
        with torch.no_grad():
            projection.normal_(0.0, _HIDDEN**-0.5)
    processor = ShieldGemma2Processor(
        image_processor=Gemma3ImageProcessor(size={"height": _IMAGE_SIZE, "width": _IMAGE_SIZE}),
        tokenizer=tokenizer, chat_template=SHIELDGEMMA_CHAT_TEMPLATE, image_seq_length=_IMAGE_TOKENS_PER_IMAGE,
        policy_definitions=dict(DEFAULT_SHIELDGEMMA2_POLICIES))
    with atomic_dir(dest, marker="config.json") as tmp, quiet_progress_bars():
        processor.save_pretrained(tmp)
        model.save_pretrained(tmp)
    return dest
