"""Rendering: the ``Renderer`` protocol (base), diffusers pipelines (diffusers: SD 1.x/2.x, SDXL), what
makes them fast (speed), the offline tiny models built from configs (tiny_models) and the real-size
random models a full-size profile is rehearsed with (random_models)."""
