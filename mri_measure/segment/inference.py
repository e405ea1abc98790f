"""Two-stage inference (torch): localise the canal on a coarse whole-slice
image, then segment a fixed fine crop around it.

Per slice: canonicalise by IOP (:mod:`.orientation`) → stage 1 on the
localiser grid (~2 mm/px) gives a dural-sac probability whose largest
component's centroid is the crop centre → stage 2 on a 96×96 crop at
0.45 mm/px gives probabilities of labels 0–3 → those are resampled back to
the canonical source grid (outside the crop: background = 1) and the
canonicalisation is undone, so channel 2 is always the *patient's* left.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from ..errors import InputError, ModelError
from . import bundle as _bundle
from .network import build_network, fuse_for_inference
from .orientation import canonical_transform
from .preprocess import grid_to_source_point, localiser_grid, normalise, segmenter_grid
from .resample import from_grid, to_grid
from .threads import configure as _configure_threads

_configure_threads(torch)  # once per process, before the first inference

BATCH = 16
_CACHE: dict[tuple[str, str], "TorchSegmenter"] = {}
_LOCK = threading.Lock()


def resolve_device(device: str | None) -> torch.device:
    name = (device or "cpu").strip().lower()
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"device {device!r} requested but no CUDA GPU is available; use --device cpu")
        return torch.device(name)
    raise ModelError(f"unknown device {device!r}; use cpu or cuda")


def find_canal_centre(p_canal: np.ndarray, min_peak: float = 0.3) -> tuple[float, float] | None:
    """Probability-weighted centroid of the strongest connected canal component
    on the localiser grid, or ``None`` when no canal is found."""
    if float(p_canal.max()) < min_peak:
        return None
    mask = p_canal >= min(0.5, float(p_canal.max()) * 0.8)
    lab, n = ndimage.label(mask)
    if n == 0:
        return None
    mass = ndimage.sum(p_canal, lab, index=np.arange(1, n + 1))
    best = int(np.argmax(mass)) + 1
    rr, cc = np.nonzero(lab == best)
    w = p_canal[rr, cc]
    return float((rr * w).sum() / w.sum()), float((cc * w).sum() / w.sum())


class TorchSegmenter:
    """The shipped two-stage U-Net segmenter (implements :class:`~.protocol.Segmenter`)."""

    def __init__(self, localiser: torch.nn.Module, segmenter: torch.nn.Module,
                 meta: dict[str, Any], device: torch.device) -> None:
        self.localiser = fuse_for_inference(localiser).to(device)
        self.segmenter = fuse_for_inference(segmenter).to(device)
        self.meta = meta
        self.prep = meta["preprocessing"]
        self.device = device
        self.name = str(meta["name"])
        self.version = str(meta["version"])
        self.sha256 = str(meta["sha256"])
        self.mirror_tta = bool(meta.get("inference", {}).get("mirror_tta", False))
        # softmax temperature of the segmenter's logits, fitted after training (calibrate.py)
        self.temperature = float(meta.get("inference", {}).get("temperature", 1.0))
        if not 0.05 <= self.temperature <= 20:
            raise ModelError(f"model bundle temperature {self.temperature:g} is out of range; fix metadata.json")
        # per-class logit offsets: undo the prior shift of the class-weighted cross-entropy
        # (weights w_c make the network predict ∝ w_c·p_c, so log w_c is subtracted)
        offs = meta.get("inference", {}).get("logit_offsets")
        self.logit_offsets = None if offs is None else [float(v) for v in offs]
        if self.logit_offsets is not None and len(self.logit_offsets) != 4:
            raise ModelError("model bundle inference.logit_offsets must have 4 values; fix metadata.json")

    # -- network passes --------------------------------------------------
    def _run(self, net: torch.nn.Module, batch: np.ndarray, temperature: float = 1.0,
             offsets: torch.Tensor | None = None) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(batch), BATCH):
                x = torch.from_numpy(np.ascontiguousarray(batch[i:i + BATCH][:, None])).to(self.device)
                logits = net(x).float()
                if offsets is not None:
                    logits = logits + offsets.view(1, -1, 1, 1)
                out.append(torch.softmax(logits / temperature, dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    # -- public API --------------------------------------------------------
    @property
    def _offsets(self) -> torch.Tensor | None:
        if self.logit_offsets is None:
            return None
        return torch.tensor(self.logit_offsets, dtype=torch.float32, device=self.device)

    def predict(self, images: np.ndarray, spacing_mm: Sequence[float],
                orientation: Sequence[float]) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or min(images.shape[1:]) < 8:
            raise InputError(f"images must be (n, H, W) axial slices, got shape {images.shape}")
        if len(spacing_mm) != 2 or not all(np.isfinite(s) and s > 0 for s in spacing_mm):
            raise InputError(f"pixel spacing must be two positive numbers (mm), got {tuple(spacing_mm)}")
        t = canonical_transform(orientation)
        canon = t.apply(images.astype(np.float32, copy=False))
        sp = t.spacing(tuple(float(s) for s in spacing_mm))
        shape = canon.shape[1:]
        n = canon.shape[0]
        out = np.zeros((n, 4, *shape), dtype=np.float32)
        out[:, 0] = 1.0
        if n == 0:
            return out

        # stage 1: localise
        lgrid = localiser_grid(shape, sp, self.prep)
        coarse = np.stack([to_grid(normalise(im), sp, lgrid) for im in canon])
        p_loc = self._run(self.localiser, coarse)[:, 1]
        centres = []
        for k in range(n):
            c = find_canal_centre(p_loc[k])
            centres.append(None if c is None else grid_to_source_point(lgrid, c, sp))

        # stage 2: segment a fine crop around each canal
        todo = [k for k in range(n) if centres[k] is not None]
        if todo:
            grids = [segmenter_grid(centres[k], sp, self.prep) for k in todo]
            crops = []
            for k, g in zip(todo, grids):
                raw = to_grid(canon[k], sp, g, cval=np.nan)
                inside = np.isfinite(raw)
                crops.append(normalise(np.where(inside, raw, 0.0), inside if inside.any() else None)
                             * inside)
            batch = np.stack(crops).astype(np.float32)
            probs = self._run(self.segmenter, batch, self.temperature, self._offsets)
            if self.mirror_tta:  # average with the mirrored crop (LF channels swapped back)
                mirrored = self._run(self.segmenter, np.ascontiguousarray(batch[:, :, ::-1]),
                                     self.temperature, self._offsets)
                probs = 0.5 * (probs + mirrored[:, [0, 1, 3, 2], :, ::-1])
            for k, g, p in zip(todo, grids, probs):
                from_grid(p, g, sp, shape, fill=(1.0, 0.0, 0.0, 0.0), out=out[k])
                rs, cs = g.source_bbox(sp, shape)
                box = out[k, :, rs, cs]  # renormalise where the crop landed (float rounding)
                np.clip(box, 0.0, 1.0, out=box)
                box /= box.sum(axis=0, keepdims=True)
        return t.undo(out)

    def predict_stack(self, loaded_stack: Any) -> np.ndarray:
        return self.predict(loaded_stack.pixels, loaded_stack.stack.spacing_mm,
                            loaded_stack.stack.orientation)


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


def build_from_state(meta: dict[str, Any], state: dict[str, torch.Tensor]) -> tuple[torch.nn.Module, torch.nn.Module]:
    return build_part(meta, state, "localiser"), build_part(meta, state, "segmenter")


def load_segmenter(bundle_dir: str | Path | None = None, device: str = "cpu") -> TorchSegmenter:
    """Load (once per process, per bundle and device) a segmenter bundle.

    ``bundle_dir`` defaults to the shipped ``models/lumbar-axial-unet``.
    Raises :class:`ModelError` with one line when the bundle is missing,
    corrupt (sha256 mismatch) or the device is unavailable.
    """
    path = Path(bundle_dir) if bundle_dir is not None else _bundle.default_bundle_dir()
    dev = resolve_device(device)
    key = (str(path.resolve()), str(dev))
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        meta = _bundle.read_metadata(path)
        weights = _bundle.verified_weights_path(path, meta)
        loc, seg = build_from_state(meta, _bundle.load_state(weights))
        model = TorchSegmenter(loc, seg, meta, dev)
        _CACHE[key] = model
        return model


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
