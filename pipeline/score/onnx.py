"""ONNX Runtime execution providers for a torch-style device string."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def providers(device: str) -> list[str]:
    """CUDA first for a cuda device when this onnxruntime build has it, always CPU last.

    The PyPI `onnxruntime` wheel is CPU-only; a cuda device then runs the judges on CPU
    (correct, slower), which is said once in the log rather than failing a build."""
    import onnxruntime as ort

    if device.startswith("cuda"):
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        log.warning("onnxruntime has no CUDA provider here (install onnxruntime-gpu): ONNX judges run on CPU")
    return ["CPUExecutionProvider"]
