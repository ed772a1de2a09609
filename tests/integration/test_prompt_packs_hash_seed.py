"""Prompt-pack expansion does not depend on Python's hash seed: the expansion here equals the one a
second interpreter makes under another PYTHONHASHSEED. The packs themselves: tests/unit/test_prompt_packs.py."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from pipeline.prompts.expand import expand_packs
from pipeline.prompts.packs import DEFAULT_PACK_DIR, load_packs
from pipeline.records import PromptRecord


@pytest.fixture(scope="module")
def expanded() -> list[PromptRecord]:
    return expand_packs(load_packs(DEFAULT_PACK_DIR))


def test_expansion_does_not_depend_on_python_hash_seed(expanded):
    digest = hashlib.sha256("\n".join(f"{r.text}|{r.aligned_text}" for r in expanded).encode()).hexdigest()
    code = (
        "import hashlib; from pipeline.prompts.packs import load_packs; from pipeline.prompts.expand import expand_packs; "
        "print(hashlib.sha256('\\n'.join(f'{r.text}|{r.aligned_text}' for r in expand_packs(load_packs())).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == digest
