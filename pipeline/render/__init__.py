"""Rendering: the ``Renderer`` protocol (base), diffusers pipelines (diffusers) and the
offline tiny models built from configs (tiny_models)."""
