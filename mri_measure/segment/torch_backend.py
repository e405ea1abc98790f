"""The torch side of inference: build a bundle's networks from its safetensors
weights, and run them on a GPU (``--device cuda``) or where ONNX Runtime is
not installed. Training (:mod:`mri_measure.training`) builds on the same
functions. ``measure`` on a CPU does not import this module (see
:mod:`.runtime`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ModelError
from .network import build_network, fuse_for_inference
from .threads import configure as _configure_threads

_configure_threads(torch)  # once per process, before the first inference


def resolve_device(device: str | None) -> torch.device:
    name = (device or "cpu").strip().lower()
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"device {device!r} requested but no CUDA GPU is available; use --device cpu")
        return torch.device(name)
    raise ModelError(f"unknown device {device!r}; use cpu or cuda")


def build_part(meta: dict[str, Any], state: dict[str, torch.Tensor], part: str) -> torch.nn.Module:
    """The network ``part`` of a bundle (architecture from metadata, weights under ``part.``)."""
    spec = meta["networks"][part]
    try:
        net = build_network(spec["architecture"], dict(spec.get("kwargs", {})))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model bundle network {part!r} cannot be built ({exc}); use a matching mri-measure") from None
    prefix = part + "."
    sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        net.load_state_dict(sub, strict=True)
    except RuntimeError:
        raise ModelError(f"model weights do not fit the {part} architecture in metadata.json; "
                         "the bundle is inconsistent — retrain it") from None
    return net


class TorchNet:
    """A fused, eval-mode network as a numpy function: ``net(x)`` with ``x``
    (N, 1, H, W) float32 returns float32 logits (N, C, H, W)."""

    backend = "torch"

    def __init__(self, net: torch.nn.Module, device: torch.device) -> None:
        self.net = fuse_for_inference(net).to(device)
        self.device = device

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
            return self.net(t).float().cpu().numpy()


def load_parts(meta: dict[str, Any], weights_path, parts: tuple[str, ...], device: str) -> dict[str, TorchNet]:
    from . import bundle as _bundle

    dev = resolve_device(device)
    state = _bundle.load_state(weights_path)
    return {p: TorchNet(build_part(meta, state, p), dev) for p in parts}
