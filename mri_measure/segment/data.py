"""Training data: turn a labelled axial slice into network inputs and
soft targets for both stages (numpy only), and read user cases.

A *slice sample* is anything with ``image`` (H, W), ``coverage`` (4, H, W)
partial-volume fractions of labels 0–3 (or ``labels`` (H, W) from which a
one-hot coverage is made), ``spacing_mm`` (row, col) and ``orientation``
(IOP) — e.g. :class:`mri_measure.synth.AxialSample`.

User cases (``--user-cases DIR``): one ``.npz`` per slice in ``DIR`` (searched
recursively) with arrays

- ``image``: (H, W) float, the axial slice as acquired;
- ``labels``: (H, W) integer, contract values (0 background, 1 dural sac,
  2 LF patient-left, 3 LF patient-right; other values count as background);
- ``spacing_mm``: (2,) float, DICOM PixelSpacing (row, col);
- ``orientation``: (6,) float, DICOM ImageOrientationPatient.

This is the format the napari plugin saves corrected slices in. (NIfTI/PNG
pairs are not read: they lack a trustworthy IOP and PixelSpacing.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .orientation import canonical_transform
from .preprocess import PREPROCESSING, normalise, segmenter_grid
from .protocol import one_hot
from .resample import Grid, to_grid

LOCALISER_TRAIN_SIZE = 96  # px at the localiser spacing (192 mm at 2 mm/px)
CENTRE_JITTER_MM = 1.5  # simulated localiser error when cropping for stage 2


@dataclass(frozen=True)
class UserCase:
    image: np.ndarray
    labels: np.ndarray
    spacing_mm: tuple[float, float]
    orientation: tuple[float, ...]

    @property
    def coverage(self) -> np.ndarray:
        return one_hot(self.labels)


def load_user_cases(folder: str | Path) -> list[UserCase]:
    """Read every ``*.npz`` user case under ``folder`` (format in the module docstring)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError("--user-cases must be a folder of .npz cases (image, labels, spacing_mm, orientation)")
    cases = []
    for i, path in enumerate(sorted(root.rglob("*.npz"))):
        try:
            with np.load(path) as z:
                img, lab = np.asarray(z["image"], np.float32), np.asarray(z["labels"])
                sp = tuple(float(v) for v in np.asarray(z["spacing_mm"]).reshape(-1))
                iop = tuple(float(v) for v in np.asarray(z["orientation"]).reshape(-1))
        except (KeyError, OSError, ValueError) as exc:
            raise InputError(f"user case #{i + 1} is not a valid case .npz ({exc.__class__.__name__}); "
                             "it needs image, labels, spacing_mm, orientation") from None
        if img.ndim != 2 or img.shape != lab.shape or len(sp) != 2 or len(iop) != 6 or min(sp) <= 0:
            raise InputError(f"user case #{i + 1}: image/labels must be equal 2-D shapes, spacing_mm 2 "
                             "positive numbers, orientation 6 numbers")
        canonical_transform(iop)  # raises if not axial
        cases.append(UserCase(img, lab, (sp[0], sp[1]), iop))
    if not cases:
        raise InputError("--user-cases folder holds no .npz cases")
    return cases


def _coverage(sample: Any) -> np.ndarray:
    cov = getattr(sample, "coverage", None)
    if cov is None:
        return one_hot(sample.labels)
    cov = np.asarray(cov, dtype=np.float32)[:4]
    return cov


def make_training_pair(sample: Any, rng: np.random.Generator, prep: dict | None = None) -> dict[str, np.ndarray]:
    """Inputs and soft targets for both stages from one slice sample.

    Returns ``loc_x`` (S, S), ``loc_y`` (S, S) dural-sac fraction on a
    localiser window, ``seg_x`` (N, N), ``seg_y`` (4, N, N) fractions on the
    fine crop around the (jittered) true canal centre. Random left-right
    mirroring swaps the LF channels, so labels stay in patient terms.
    """
    prep = prep or PREPROCESSING
    t = canonical_transform(sample.orientation)
    img = t.apply(np.asarray(sample.image, dtype=np.float32))
    cov = t.apply(_coverage(sample))
    sp = t.spacing(tuple(sample.spacing_mm))
    h, w = img.shape

    canal = cov[1]
    if canal.sum() > 0:
        rr, cc = np.indices(canal.shape)
        centre = (float((rr * canal).sum() / canal.sum()), float((cc * canal).sum() / canal.sum()))
    else:
        centre = ((h - 1) / 2, (w - 1) / 2)

    # stage 1: a fixed-size coarse window near the slice centre that contains the canal
    s_loc = float(prep["localiser"]["spacing_mm"])
    half_mm = LOCALISER_TRAIN_SIZE * s_loc / 2
    lc = []
    for k, n in enumerate((h, w)):
        mid = (n - 1) / 2 + rng.normal(0, 10.0) / sp[k]
        lim = max(0.0, (half_mm - 15.0) / sp[k])  # keep the canal >= 15 mm inside the window
        lc.append(float(np.clip(mid, centre[k] - lim, centre[k] + lim)))
    lgrid = Grid((lc[0], lc[1]), s_loc, (LOCALISER_TRAIN_SIZE, LOCALISER_TRAIN_SIZE))
    loc_x = to_grid(normalise(img), sp, lgrid)
    loc_y = to_grid(canal, sp, lgrid)

    # stage 2: fine crop around the jittered canal centre
    jitter = np.clip(rng.normal(0, CENTRE_JITTER_MM, 2), -4, 4)
    c2 = (centre[0] + jitter[0] / sp[0], centre[1] + jitter[1] / sp[1])
    g = segmenter_grid(c2, sp, prep)
    raw = to_grid(img, sp, g, cval=np.nan)
    inside = np.isfinite(raw)
    seg_x = normalise(np.where(inside, raw, 0.0), inside if inside.any() else None) * inside
    seg_y = np.stack([to_grid(cov[c], sp, g, cval=1.0 if c == 0 else 0.0) for c in range(4)])
    seg_y = np.clip(seg_y, 0, 1)
    seg_y /= np.maximum(seg_y.sum(0, keepdims=True), 1e-6)

    if rng.random() < 0.5:  # mirror left-right: patient-left LF becomes the other side
        loc_x, loc_y, seg_x = loc_x[:, ::-1], loc_y[:, ::-1], seg_x[:, ::-1]
        seg_y = seg_y[[0, 1, 3, 2], :, ::-1]
    if rng.random() < 0.5:  # mild gamma on the normalised intensities
        gamma = float(np.exp(rng.normal(0, 0.25)))
        seg_x = np.sign(seg_x) * np.abs(seg_x) ** gamma
        loc_x = np.sign(loc_x) * np.abs(loc_x) ** gamma
    return {
        "loc_x": np.ascontiguousarray(loc_x, dtype=np.float32),
        "loc_y": np.ascontiguousarray(loc_y, dtype=np.float32),
        "seg_x": np.ascontiguousarray(seg_x, dtype=np.float32),
        "seg_y": np.ascontiguousarray(seg_y, dtype=np.float32),
    }
