"""Training (torch): ``mri-measure train --out DIR [--seed N] [--minutes M | --steps S]
[--resume] [--init-from BUNDLE] [--lr LR] [--user-cases FOLDER] [--device cpu|cuda]``.

Both stages are trained together on slices generated on the fly: most
(``1 - realistic_fraction``) are SynthSeg-style slices from
:func:`mri_measure.synth.randomise.sample_synthseg` (appearance, geometry,
artefacts and elastic deformation redrawn for every sample; a
``synthseg_fraction`` below 1 gives the rest of them to the older
domain-randomised :func:`mri_measure.synth.sample_axial_2d`), the others
realistic T2 from :func:`~mri_measure.synth.sample_axial_2d` — optionally
mixed with user cases (format: :mod:`mri_measure.training.data`). Each
training item is seeded by ``(seed, step, index)``, so a run is reproducible
and a resumed run sees exactly the batches an uninterrupted one would.

``--init-from BUNDLE`` starts from an existing bundle's weights (a
fine-tune; both networks must have the configured architecture); the new
bundle's ``training.init_from`` records that bundle's name, version, weights
sha256 and its own training block, so the chain of runs stays traceable.

Writes into ``DIR``: ``model.safetensors`` + ``metadata.json`` (a usable
bundle, refreshed at every checkpoint), ``train.log`` (loss and training
Dice every ``log_every`` steps) and ``checkpoint.pt`` (model, optimiser,
step, elapsed wall time; not needed for inference, kept out of git).

With ``--minutes`` the step count is fixed after a short timing run so the
learning-rate schedule (warm-up, cosine decay) fits the wall-clock budget.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ModelError, OptionError
from ..segment import bundle as _bundle
from ..segment.torch_backend import resolve_device
from ..segment.network import build_network
from ..segment.preprocess import PREPROCESSING
from ..vocabulary import Label
from .data import augment_user_case, load_user_cases, make_training_pair
from .losses import hard_dice, mixed_segmentation_loss, segmentation_loss

log = logging.getLogger(__name__)

DEFAULT_CONFIG: dict[str, Any] = {
    "batch_size": 12,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "warmup_steps": 30,
    "realistic_fraction": 0.3,  # share of synthetic items rendered as realistic T2
    "synthseg_fraction": 1.0,  # of the other synthetic items: share drawn SynthSeg-style (synth/randomise.py)
    "synthseg_max_offset_mm": 12.0,  # SynthSeg-style slices up to this far from the disc mid-plane
    "loc_anywhere": 0.5,  # share of localiser windows placed as at inference (canal anywhere, up to the edge)
    "max_offset_mm": 9.0,  # slices up to this far from the disc mid-plane (a clinical block's outer slices)
    "user_fraction": 0.25,  # share of items drawn from --user-cases when given
    "lf_weight": 3.0,  # CE weight of the thin LF classes
    "log_every": 20,
    "checkpoint_every": 50,
    "timing_steps": 20,
    "mirror_tta": True,  # inference: average the crop's prediction with its mirror image
    "calibrate": True,  # fit the inference logit offsets when training finishes (training/calibrate.py)
    "calibration_slices": 40,
    "calibration_seed": 20_000,
    "num_workers": 1,  # sample generation in 1 worker process overlaps with training
    "threads": 1,  # torch threads for the training process (the worker takes the other core)
    "localiser": {"architecture": "UNet2d",
                  "kwargs": {"in_channels": 1, "n_classes": 2, "base": 8, "depth": 4, "max_channels": 64}},
    "segmenter": {"architecture": "UNet2d",
                  "kwargs": {"in_channels": 1, "n_classes": 4, "base": 16, "depth": 4, "max_channels": 128}},
}

SampleFn = Callable[[np.random.Generator, bool], Any]


def synth_sample(rng: np.random.Generator, randomise: bool, max_offset_mm: float | None = None,
                 synthseg_fraction: float = 0.0, synthseg_max_offset_mm: float = 12.0) -> Any:
    """One synthetic axial slice (realistic T2 ones at a random clinical spacing),
    up to ``max_offset_mm`` from the disc mid-plane (None: the generator's default).
    A randomised item is SynthSeg-style with probability ``synthseg_fraction``."""
    from ..synth import sample_axial_2d

    if randomise:
        if synthseg_fraction > 0 and rng.random() < synthseg_fraction:
            from ..synth.randomise import sample_synthseg

            return sample_synthseg(rng, max_offset_mm=synthseg_max_offset_mm)
        return sample_axial_2d(rng, randomise=True, max_offset_mm=max_offset_mm)
    sp = float(rng.uniform(0.3, 0.95))
    return sample_axial_2d(rng, randomise=False, spacing_mm=(sp, sp), max_offset_mm=max_offset_mm)


class BatchMaker:
    """Deterministic batch ``step`` from ``(seed, step, index)``."""

    def __init__(self, seed: int, config: dict[str, Any], sample_fn: SampleFn, user_cases=None) -> None:
        self.seed, self.config, self.sample_fn = int(seed), config, sample_fn
        self.user_cases = user_cases or []

    def __call__(self, step: int) -> dict[str, np.ndarray]:
        items = []
        for j in range(int(self.config["batch_size"])):
            rng = np.random.default_rng([self.seed, int(step), j])
            if self.user_cases and rng.random() < self.config["user_fraction"]:
                sample = augment_user_case(self.user_cases[int(rng.integers(len(self.user_cases)))], rng)
            else:
                sample = self.sample_fn(rng, bool(rng.random() >= self.config["realistic_fraction"]))
            items.append(make_training_pair(sample, rng, loc_anywhere=float(self.config.get("loc_anywhere", 0.0))))
        return {k: np.stack([it[k] for it in items]) for k in items[0]}


class _Batches(torch.utils.data.Dataset):
    def __init__(self, maker: BatchMaker, start: int, n: int) -> None:
        self.maker, self.start, self.n = maker, start, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self.maker(self.start + i)


def lr_at(step: int, total: int | None, cfg: dict[str, Any]) -> float:
    warm = min(1.0, (step + 1) / cfg["warmup_steps"])
    if not total:
        return cfg["lr"] * warm
    prog = min(1.0, step / max(1, total))
    return cfg["lr"] * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * prog)))


def hardware_string(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    s = f"{cpu}, {os.cpu_count()} logical CPUs visible, torch threads {torch.get_num_threads()}"
    if device.type == "cuda":
        s += f", GPU {torch.cuda.get_device_name(device)}"
    return s


def _state(loc: torch.nn.Module, seg: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {f"localiser.{k}": v.detach().cpu().contiguous() for k, v in loc.state_dict().items()}
    out.update({f"segmenter.{k}": v.detach().cpu().contiguous() for k, v in seg.state_dict().items()})
    return out


def write_weights(out: Path, state: dict[str, torch.Tensor]) -> None:
    """``model.safetensors`` in ``out`` (written beside, then atomically replaced)."""
    from safetensors.torch import save_file

    tmp = out / (_bundle.WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(out / _bundle.WEIGHTS_NAME)


def export_bundle(out: Path, loc, seg, cfg: dict[str, Any], info: dict[str, Any]) -> None:
    """Write ``model.safetensors`` and ``metadata.json`` (atomic replace)."""
    write_weights(out, _state(loc, seg))
    synthseg = float(cfg.get("synthseg_fraction", 0.0)) * (1 - cfg["realistic_fraction"])
    if synthseg > 0:
        mix = ("SynthSeg-style mri_measure.synth.randomise.sample_synthseg "
               f"{synthseg:.0%}, domain-randomised mri_measure.synth.sample_axial_2d "
               f"{1 - cfg['realistic_fraction'] - synthseg:.0%}, realistic T2 {cfg['realistic_fraction']:.0%}")
    else:
        mix = ("mri_measure.synth.sample_axial_2d "
               f"(domain-randomised {1 - cfg['realistic_fraction']:.0%}, realistic T2 "
               f"{cfg['realistic_fraction']:.0%})")
    # real or hand-made slices in the mix: not "synthetic only"
    data = (f"user cases {cfg['user_fraction']:.0%} of the items; the rest synthetic: {mix}"
            if info.get("user_cases") else f"synthetic only: {mix}")
    family = ("2.1" if info.get("user_cases") else "2.0") if synthseg > 0 else "1.0"
    meta = {
        "format": _bundle.BUNDLE_FORMAT,
        "name": out.name,
        "version": f"{family}+seed{info['seed']}.step{info['step']}",
        "description": "Two-stage 2-D U-Net: canal localiser (coarse) + dural sac / LF segmenter (fine crop)",
        "labels": {str(int(lab)): lab.key for lab in Label},
        "label_notes": "channels 2/3 are patient-left/right whatever the image orientation",
        "weights": _bundle.WEIGHTS_NAME,
        "sha256": _bundle.sha256_file(out / _bundle.WEIGHTS_NAME),
        "networks": {"localiser": cfg["localiser"], "segmenter": cfg["segmenter"]},
        "preprocessing": PREPROCESSING,
        "output": "softmax probabilities (n, 4, H, W) on the source grid, summing to 1",
        "inference": {"mirror_tta": bool(cfg.get("mirror_tta", False))},
        "training": {
            "command": info["command"],
            "seed": info["seed"],
            "steps": info["step"],
            "planned_steps": info.get("total_steps"),
            "batch_size": cfg["batch_size"],
            "samples_seen": info["step"] * cfg["batch_size"],
            "wall_time_s": round(info["elapsed_s"], 1),
            "hardware": info["hardware"],
            "device": info["device"],
            "torch_version": torch.__version__,
            "numpy_version": np.__version__,
            "data": data,
            "init_from": info.get("init_from"),
            "config": {k: v for k, v in cfg.items() if k not in ("localiser", "segmenter")},
            "finished": info.get("finished", False),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    _bundle.write_metadata(out, meta)
    export_onnx_if_possible(out)


def export_onnx_if_possible(out: Path) -> None:
    """The bundle's ONNX files (:mod:`.onnx_export`), where ``onnx`` and ONNX Runtime are
    installed; otherwise the bundle runs on torch (metadata.json then has no ``onnx`` entry)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        log.warning("onnx / onnxruntime not installed: %s has no ONNX export and runs on torch", out.name)
        return
    from .onnx_export import export_onnx

    export_onnx(out, log=log.info)


def load_bundle_weights(bundle_dir: str | Path, nets: dict[str, tuple[dict[str, Any], torch.nn.Module]],
                        what: str = "model bundle") -> dict[str, Any]:
    """Load a bundle's weights into ``nets`` (part name → (its network spec, the
    module); each part must have that architecture in the bundle); returns what
    ``training.init_from`` records about the bundle."""
    path = Path(bundle_dir)
    if not (path / "metadata.json").is_file():
        raise OptionError(f"--init-from must be a {what} folder (metadata.json + model.safetensors)")
    meta = _bundle.read_metadata(path)
    for part, (spec, _) in nets.items():
        if meta.get("networks", {}).get(part) != spec:
            raise OptionError(f"--init-from bundle's {part} architecture differs from the training configuration")
    state = _bundle.load_state(_bundle.verified_weights_path(path, meta))
    for part, (_, net) in nets.items():
        pre = part + "."
        net.load_state_dict({k[len(pre):]: v for k, v in state.items() if k.startswith(pre)})
    return {"bundle": meta.get("name"), "version": meta.get("version"), "sha256": meta["sha256"],
            "training": meta.get("training")}


def train(
    out: str | Path,
    *,
    seed: int = 0,
    steps: int | None = None,
    minutes: float | None = None,
    resume: bool = False,
    user_cases: str | Path | None = None,
    device: str = "cpu",
    config: dict[str, Any] | None = None,
    sample_fn: SampleFn | None = None,
    command: str | None = None,
    interrupt_after: int | None = None,
    init_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train both stages; returns a summary dict. See the module docstring.

    ``interrupt_after`` stops after that many steps of this call as if the run
    had been killed just after a checkpoint (for tests of ``resume``)."""
    if steps is None and minutes is None:
        raise OptionError("give --steps or --minutes (e.g. --minutes 40)")
    if steps is not None and steps < 1 or minutes is not None and minutes <= 0:
        raise OptionError("--steps and --minutes must be positive")
    cfg = json.loads(json.dumps({**DEFAULT_CONFIG, **(config or {})}))
    dev = resolve_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(max(1, min(int(cfg["threads"]), os.cpu_count() or 1)))
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    cases = load_user_cases(user_cases) if user_cases else []
    sample_fn = sample_fn or functools.partial(
        synth_sample, max_offset_mm=cfg.get("max_offset_mm"),
        synthseg_fraction=float(cfg.get("synthseg_fraction", 0.0)),
        synthseg_max_offset_mm=float(cfg.get("synthseg_max_offset_mm", 12.0)))

    torch.manual_seed(seed)
    loc = build_network(cfg["localiser"]["architecture"], cfg["localiser"]["kwargs"]).to(dev)
    seg = build_network(cfg["segmenter"]["architecture"], cfg["segmenter"]["kwargs"]).to(dev)
    parent = (load_bundle_weights(init_from, {"localiser": (cfg["localiser"], loc),
                                              "segmenter": (cfg["segmenter"], seg)})
              if init_from is not None else None)
    params = list(loc.parameters()) + list(seg.parameters())
    opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])

    ckpt_path = outp / "checkpoint.pt"
    step, elapsed, total = 0, 0.0, steps
    logf = open(outp / "train.log", "a" if resume else "w", encoding="utf-8")

    def say(msg: str) -> None:
        line = f"{_dt.datetime.now(_dt.timezone.utc):%H:%M:%S} {msg}"
        logf.write(line + "\n")
        logf.flush()
        log.info(msg)

    if resume and ckpt_path.is_file():
        try:
            ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint
            raise ModelError(f"cannot read checkpoint.pt ({exc.__class__.__name__}); delete it and train afresh") from None
        if ck["seed"] != seed:
            raise OptionError(f"checkpoint was trained with --seed {ck['seed']}, not {seed}; use the same seed to resume")
        loc.load_state_dict(ck["localiser"])
        seg.load_state_dict(ck["segmenter"])
        opt.load_state_dict(ck["optimizer"])
        step, elapsed, total = int(ck["step"]), float(ck["elapsed_s"]), ck["total_steps"]
        if steps is not None:
            total = steps
        elif minutes is not None and step > 0:  # a new wall-clock budget: re-plan from the past pace
            total = step + int(max(0.0, minutes * 60.0 - elapsed) / (elapsed / step))
        say(f"resumed at step {step} (elapsed {elapsed:.0f} s)")
    elif resume:
        say("no checkpoint to resume from; starting afresh")
    hw = hardware_string(dev)
    info: dict[str, Any] = {"seed": seed, "device": str(dev), "hardware": hw,
                            "command": command or f"mri-measure train --out {outp} --seed {seed}"
                            + (f" --minutes {minutes:g}" if minutes else f" --steps {steps}"),
                            "user_cases": bool(cases), "init_from": parent}
    say(f"start: seed {seed}, step {step}, steps {steps}, minutes {minutes}, device {dev}, {hw}, "
        f"batch {cfg['batch_size']}, workers {cfg['num_workers']}, user cases {len(cases)}")

    w_loc = torch.tensor([1.0, 1.0], device=dev)
    w_seg = torch.tensor([1.0, 1.0, cfg["lf_weight"], cfg["lf_weight"]], device=dev)
    maker = BatchMaker(seed, cfg, sample_fn, cases)
    budget_s = minutes * 60.0 if minutes is not None else None
    cap = steps if steps is not None else 10_000_000
    loader = torch.utils.data.DataLoader(
        _Batches(maker, step, max(0, cap - step)), batch_size=None, shuffle=False,
        num_workers=int(cfg["num_workers"]),
        prefetch_factor=4 if cfg["num_workers"] else None,
        persistent_workers=False,
    )
    loc.train(), seg.train()
    acc: dict[str, list[float]] = {"loss_loc": [], "loss_seg": [], "dice": []}
    t_run = time.perf_counter()
    elapsed0 = elapsed
    steps_this_run = 0

    def save_checkpoint(finished: bool = False) -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"seed": seed, "step": step, "elapsed_s": elapsed, "total_steps": total,
                    "localiser": loc.state_dict(), "segmenter": seg.state_dict(),
                    "optimizer": opt.state_dict()}, tmp)
        tmp.replace(ckpt_path)
        export_bundle(outp, loc, seg, cfg, {**info, "step": step, "elapsed_s": elapsed,
                                            "total_steps": total, "finished": finished})

    for batch in loader:
        if step >= cap or (total is not None and step >= total):
            break
        if budget_s is not None and elapsed >= budget_s:
            say(f"wall-clock budget of {minutes:g} min reached")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, cfg)
        x1 = torch.as_tensor(batch["loc_x"])[:, None].to(dev)
        y1 = torch.as_tensor(batch["loc_y"]).to(dev)
        y1 = torch.stack([1 - y1, y1], 1)
        x2 = torch.as_tensor(batch["seg_x"])[:, None].to(dev)
        y2 = torch.as_tensor(batch["seg_y"]).to(dev)
        out2 = seg(x2)
        l1 = segmentation_loss(loc(x1), y1, w_loc)
        lf_known = torch.as_tensor(batch["seg_lf_known"]).to(dev) if "seg_lf_known" in batch else None
        l2 = mixed_segmentation_loss(out2, y2, w_seg, lf_known)
        loss = l1 + l2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        steps_this_run += 1
        elapsed = elapsed0 + time.perf_counter() - t_run
        acc["loss_loc"].append(float(l1.detach()))
        acc["loss_seg"].append(float(l2.detach()))
        full = slice(None) if lf_known is None or not bool((lf_known > 0.5).any()) else lf_known > 0.5
        acc["dice"].append(hard_dice(out2.detach()[full], y2[full]))
        if budget_s is not None and steps is None and (
            steps_this_run == cfg["timing_steps"]
            or (steps_this_run > cfg["timing_steps"] and step % cfg["checkpoint_every"] == 0)
        ):  # (re)plan the schedule from the observed speed; the machine's load varies
            per = (elapsed - elapsed0) / steps_this_run
            total = int(min(cap, step + max(0.0, budget_s - elapsed) / per * 0.98))
            say(f"timing: {per:.2f} s/step -> planning {total} steps for the {minutes:g} min budget")
        if step % cfg["log_every"] == 0:
            d = np.mean(acc["dice"], axis=0)
            say(f"step {step} elapsed {elapsed:.0f}s lr {lr_at(step - 1, total, cfg):.2e} "
                f"loss_loc {np.mean(acc['loss_loc']):.4f} loss_seg {np.mean(acc['loss_seg']):.4f} "
                f"dice_sac {d[0]:.3f} dice_lf_left {d[1]:.3f} dice_lf_right {d[2]:.3f}")
            acc = {k: [] for k in acc}
        if step % cfg["checkpoint_every"] == 0:
            save_checkpoint()
        if interrupt_after is not None and steps_this_run >= interrupt_after:
            save_checkpoint()
            say(f"interrupted at step {step}")
            logf.close()
            return {"step": step, "elapsed_s": elapsed, "total_steps": total}
    finished = total is not None and step >= total or (budget_s is not None and elapsed >= budget_s)
    save_checkpoint(finished=bool(finished))
    say(f"done: step {step}, wall time {elapsed:.0f} s, bundle written to {outp.name}/")
    if finished and cfg.get("calibrate", True):
        from .calibrate import fit_logit_offsets

        t_cal = time.perf_counter()
        cal = fit_logit_offsets(outp, n=int(cfg["calibration_slices"]), seed=int(cfg["calibration_seed"]),
                                threads=max(1, min(2, os.cpu_count() or 1)) if dev.type == "cpu" else 1)
        say(f"calibrated logit offsets {cal['chosen']} on {cal['n_slices']} calibration slices "
            f"in {time.perf_counter() - t_cal:.0f} s")
    logf.close()
    return {"step": step, "elapsed_s": elapsed, "total_steps": total}


__all__ = ["train", "DEFAULT_CONFIG", "export_bundle"]
