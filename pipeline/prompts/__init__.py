"""Prompts: text rules (text), template packs (packs), file import (importer), LLM-written
prompts (llm), and the one function that collects them for a run (collect)."""
