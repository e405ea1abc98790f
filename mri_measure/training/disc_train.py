"""Training of the sagittal disc detector (torch):
``mri-measure train-discs --out DIR [--seed N] [--minutes M | --steps S] [--scenes K]
[--init-from BUNDLE] [--lr LR]``.

A 2-D U-Net labels every pixel of a canonical mid-sagittal view (1.5 mm grid)
as background, disc, vertebra (lumbar and thoracic bodies) or sacrum
(sacral segments with their remnant discs, and the coccyx). It learns only
from synthetic scenes (:mod:`mri_measure.synth.sagittal_scene`): a pool of
``--scenes`` random label maps is made first (seeded), then every batch
renders random views of them with random contrast (domain randomisation).
Each batch is seeded by ``(seed, step)``, so a run is reproducible.

``--init-from BUNDLE`` starts from an existing detector bundle's weights (a
fine-tune, e.g. after a change to the scenes); ``training.init_from`` records
that bundle's name, version and weights sha256, and the version becomes
``1.1+…``.

Writes a bundle into ``DIR`` (``model.safetensors``, ``metadata.json``,
``train.log``); :mod:`mri_measure.segment.disc_detector` reads it.
"""

from __future__ import annotations

import datetime as _dt
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..segment import bundle as _bundle
from ..segment.network import build_network
from ..synth import sagittal_scene as S
from .disc_data import training_pair
from .losses import hard_dice, segmentation_loss
from .train import export_onnx_if_possible, hardware_string, load_bundle_weights, lr_at, write_weights

NETWORK = {"architecture": "UNet2d", "kwargs": {"in_channels": 1, "n_classes": 4, "base": 16, "depth": 5, "max_channels": 128}}
CONFIG: dict[str, Any] = {
    "batch_size": 8,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "warmup_steps": 30,
    "class_weight": [1.0, 3.0, 1.0, 1.5],  # background, disc, vertebra, sacrum
    "log_every": 25,
    "timing_steps": 10,
}
VALIDATION_SEED_OFFSET = 1_000_003


def _scene(args: tuple[int, int]) -> S.Scene:
    seed, k = args
    return S.make_scene(np.random.default_rng([seed, k]))


def make_pool(seed: int, n: int, workers: int = 2) -> list[S.Scene]:
    """``n`` scenes, scene k seeded by ``(seed, k)`` (same pool whatever ``workers``)."""
    jobs = [(seed, k) for k in range(n)]
    if workers <= 1:
        return [_scene(j) for j in jobs]
    with mp.get_context("fork").Pool(workers) as pool:
        return pool.map(_scene, jobs, chunksize=8)


class _Batches(torch.utils.data.Dataset):
    """Batch ``i`` of a run: views of pool scenes seeded by ``(seed, start + i)``."""

    def __init__(self, pool: list[S.Scene], seed: int, batch: int, start: int, n: int) -> None:
        self.pool, self.seed, self.batch, self.start, self.n = pool, seed, batch, start, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.start + i])
        pairs = [training_pair(self.pool[rng.integers(len(self.pool))], rng) for _ in range(self.batch)]
        x = np.stack([p[0] for p in pairs])[:, None]
        y = np.stack([p[1] for p in pairs]).astype(np.int64)
        return torch.from_numpy(x), torch.from_numpy(y)


def _one_hot(y: torch.Tensor) -> torch.Tensor:
    return F.one_hot(y, 4).permute(0, 3, 1, 2).float()


def export(out: Path, net: torch.nn.Module, info: dict[str, Any]) -> None:
    """Write ``model.safetensors`` and ``metadata.json``."""
    write_weights(out, {f"detector.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()})
    meta = {
        "format": _bundle.BUNDLE_FORMAT,
        "name": out.name,
        "version": f"{'1.1' if info.get('init_from') else '1.0'}+seed{info['seed']}.step{info['step']}",
        "description": "2-D U-Net labelling a canonical mid-sagittal view: disc / vertebra / sacrum",
        "labels": {str(i): n for i, n in enumerate(S.TARGET_NAMES)},
        "weights": _bundle.WEIGHTS_NAME,
        "sha256": _bundle.sha256_file(out / _bundle.WEIGHTS_NAME),
        "networks": {"detector": NETWORK},
        "preprocessing": {
            "view": "canonical sagittal: rows head → feet, columns anterior → posterior",
            "grid_mm": S.DETECTOR_GRID_MM,
            "intensity": "NaN → 0, divided by the 99.5th percentile, clipped to [0, 1.2]",
            "pad_multiple": 16,
        },
        "output": "softmax probabilities (4, H, W) on the detector grid",
        "training": {
            "command": info["command"],
            "seed": info["seed"],
            "steps": info["step"],
            "scenes": info["scenes"],
            "batch_size": CONFIG["batch_size"],
            "wall_time_s": round(info["elapsed_s"], 1),
            "hardware": info["hardware"],
            "torch_version": torch.__version__,
            "data": "synthetic only: mri_measure.synth.sagittal_scene (random scenes, random contrast)",
            "validation_dice": info.get("validation_dice"),
            "init_from": info.get("init_from"),
            "config": {**CONFIG, "lr": info.get("lr", CONFIG["lr"])},
            "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    _bundle.write_metadata(out, meta)
    export_onnx_if_possible(out)


def validation_set(seed: int, n: int = 48, scenes: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` views of ``scenes`` validation scenes (seeded apart from the training pool)."""
    pool = make_pool(seed + VALIDATION_SEED_OFFSET, scenes, workers=1)
    rng = np.random.default_rng([seed + VALIDATION_SEED_OFFSET, 0])
    pairs = [training_pair(pool[i % len(pool)], rng) for i in range(n)]
    return (torch.from_numpy(np.stack([p[0] for p in pairs])[:, None]),
            torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64)))


def validate(net: torch.nn.Module, val) -> list[float]:
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(val[0][i : i + 16]) for i in range(0, len(val[0]), 16)])
    net.train()
    return [round(d, 4) for d in hard_dice(logits, _one_hot(val[1]))]


def train_discs(out: str | Path, seed: int = 0, minutes: float | None = None, steps: int | None = None,
                scenes: int = 1000, log=print, command: str = "", init_from: str | Path | None = None,
                lr: float | None = None) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    t_start = time.perf_counter()
    logf = open(out / "train.log", "a", encoding="utf-8")

    def say(msg: str) -> None:
        line = f"[{time.perf_counter() - t_start:7.1f}s] {msg}"
        log(line)
        logf.write(line + "\n")
        logf.flush()

    say(f"making {scenes} scenes (seed {seed})")
    pool = make_pool(seed, scenes)
    # a smoke run with a tiny pool gets a tiny validation set too (the full run: 12 scenes, 48 views)
    val = validation_set(seed) if scenes >= 12 else validation_set(seed, n=8, scenes=2)
    say(f"pool ready; {len(val[0])} validation views")
    net = build_network(NETWORK["architecture"], NETWORK["kwargs"])
    parent = (load_bundle_weights(init_from, {"detector": (NETWORK, net)}, what="detector bundle")
              if init_from is not None else None)
    if parent:
        say(f"starting from {parent['bundle']} {parent['version']}")
    cfg = {**CONFIG, "lr": float(lr) if lr is not None else CONFIG["lr"]}
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    weight = torch.tensor(CONFIG["class_weight"])
    budget_s = None if minutes is None else 60.0 * minutes
    total = steps or 10**9
    loader = torch.utils.data.DataLoader(_Batches(pool, seed, CONFIG["batch_size"], 0, total), batch_size=None,
                                         shuffle=False, num_workers=1, prefetch_factor=4, persistent_workers=False)
    planned = steps
    t_mark, step_mark = time.perf_counter(), 0
    step = 0
    for x, y in loader:
        if budget_s is not None and step > 0 and (
                step == CONFIG["timing_steps"] or (step > CONFIG["timing_steps"] and step % 100 == 0)):
            # (re)plan from the observed speed: a shared machine's load varies during a run
            now = time.perf_counter()
            per = (now - t_mark) / (step - step_mark)  # the speed since the last plan
            t_mark, step_mark = now, step
            planned = max(step + 1, int((budget_s - (now - t_start)) / per * 0.97) + step)
            say(f"{per:.2f} s/step → {planned} steps in the budget")
        if planned is not None and step >= planned:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, planned, cfg)
        logits = net(x)
        loss = segmentation_loss(logits, _one_hot(y), weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % CONFIG["log_every"] == 0:
            say(f"step {step} loss {loss.item():.4f} dice {[round(d, 3) for d in hard_dice(logits.detach(), _one_hot(y))]}")
        if step % 500 == 0:
            say(f"validation dice (disc, vertebra, sacrum) {validate(net, val)}")
    vd = validate(net, val)
    say(f"finished at step {step}; validation dice (disc, vertebra, sacrum) {vd}")
    net.eval()
    export(out, net, {"seed": seed, "step": step, "scenes": scenes, "elapsed_s": time.perf_counter() - t_start,
                      "hardware": hardware_string(torch.device("cpu")), "validation_dice": vd,
                      "command": command, "init_from": parent, "lr": cfg["lr"]})
    logf.close()
    return out
