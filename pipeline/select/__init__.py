"""Principle selection: which value principle (if any) applies to a prompt.

LiVO's retriever runs keyword regexes first and asks an LLM about the rest. Here: the
``Selector`` protocol (base), keyword rules (keyword), sentence-embedding retrieval against
principle descriptors with benign anchors (semantic, anchors), the two combined as the
offline default (default), an LLM on any OpenAI-compatible endpoint (llm), and the one
factory that builds the configured selector (factory).
"""
