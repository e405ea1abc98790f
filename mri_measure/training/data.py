"""Training data: turn a labelled axial slice into network inputs and
soft targets for both stages (numpy only), and read user cases.

A *slice sample* is anything with ``image`` (H, W), ``coverage`` (4, H, W)
partial-volume fractions of labels 0–3 (or ``labels`` (H, W) from which a
one-hot coverage is made), ``spacing_mm`` (row, col) and ``orientation``
(IOP) — e.g. :class:`mri_measure.synth.AxialSample`.

User cases (``--user-cases DIR``): every file under ``DIR`` (searched
recursively, sorted by path; names starting with ``.`` skipped) in any mix of
these formats (readers in :mod:`mri_measure.training.user_cases`). Labels
everywhere follow the contract (0 background, 1 dural sac, 2 LF patient-left,
3 LF patient-right; other values count as background).

- ``NAME.npz``, one slice, with arrays ``image`` (H, W) float, the axial slice
  as acquired; ``labels`` (H, W) integer; ``spacing_mm`` (2,) float, DICOM
  PixelSpacing (row, col); ``orientation`` (6,) float, DICOM
  ImageOrientationPatient. This is what the napari plugin's *Save training
  pairs…* writes. Optional ``lf_annotated`` (bool, default true): false marks
  a slice where only the dural sac is outlined (e.g. a public canal label);
  its LF pixels are unknown, not background, and training supervises only
  sac-against-the-rest on it (``seg_lf_known`` = 0, :mod:`.losses`).
- **NIfTI pairs**: image ``NAME.nii`` / ``NAME.nii.gz`` (``.mha``, ``.nrrd``
  too) and labels ``NAME_labels.<ext>`` beside it, on the same grid (size,
  spacing, origin, direction). 2-D or 3-D, read with SimpleITK; each slice
  ``array[k]`` gets its PixelSpacing and IOP from the file's spacing and
  direction (LPS). A 3-D volume must be sliced axially (slice normal within
  45° of head-foot) — sagittal or coronal stacks are rejected, not resliced; a
  2-D image is taken to lie in the axial plane (SimpleITK reads no
  out-of-plane direction for it).
- **PNG pairs**: ``NAME.png`` (grey 8/16-bit; colour is converted to
  luminance), ``NAME_labels.png`` (grey or palette values) and a sidecar
  ``NAME.json`` ``{"spacing_mm": [row, col], "orientation": [6 numbers]}``.
  ``spacing_mm`` is required (pixel spacing is never assumed); without
  ``orientation`` the standard axial display ``[1, 0, 0, 0, 1, 0]`` is
  assumed (columns run to patient left, rows to posterior).
- **DICOM SEG**: a DICOM Segmentation (Modality SEG) such as the ``seg.dcm``
  that ``mri-measure measure --out`` and the napari export write, with the
  MR images it references anywhere under ``DIR`` (e.g. the CD folder beside
  the ``--out`` folder). Segments map to labels by their property type code
  as ``mri_measure/report/seg.py`` writes them (SCT Dura mater → 1, SCT
  Ligament + Left → 2, + Right → 3), else by the same segment label text;
  other segments are ignored. Pixels, PixelSpacing and IOP come from the
  source images through :mod:`mri_measure.io`.

NIfTI, PNG and SEG slices must be axial (slice normal within 45° of
head-foot; anything else is an error, ``.npz`` keeps its 60° limit), and only
slices with at least one label 1–3 become cases (an ``.npz`` is always one
case). Every problem is an :class:`~mri_measure.errors.InputError` with one
line naming the case by its number in sorted path order, never by path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..segment.orientation import canonical_transform
from ..segment.preprocess import PREPROCESSING, normalise, segmenter_grid
from ..segment.protocol import one_hot
from ..segment.resample import Grid, to_grid
from .user_cases import UserCase, read_user_cases

LOCALISER_TRAIN_SIZE = 96  # px at the localiser spacing (192 mm at 2 mm/px)
CENTRE_JITTER_MM = 1.5  # simulated localiser error when cropping for stage 2


def load_user_cases(folder: str | Path) -> list[UserCase]:
    """Read every user case under ``folder`` (formats in the module docstring)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError("--user-cases must be a folder of cases (.npz; NIfTI or PNG image + NAME_labels "
                         "pairs; DICOM SEG with its images)")
    cases = read_user_cases(root)
    if not cases:
        raise InputError("--user-cases folder holds no labelled cases (.npz; NIfTI or PNG image + "
                         "NAME_labels pairs; DICOM SEG with its images)")
    return cases


def _coverage(sample: Any) -> np.ndarray:
    cov = getattr(sample, "coverage", None)
    if cov is None:
        return one_hot(sample.labels)
    cov = np.asarray(cov, dtype=np.float32)[:4]
    return cov


def augment_user_case(case: UserCase, rng: np.random.Generator) -> UserCase:
    """A randomly varied copy of a (real) user case, so a few real slices do not
    teach one scanner's look: rotation ±15°, anatomy scaled ±12 % (the stated
    pixel spacing scaled, image and labels untouched, so the truth stays exact),
    a smooth multiplicative bias and added Rician noise. Labels rotate with
    nearest-neighbour sampling; the LF annotation flag is kept."""
    angle = float(rng.uniform(-15.0, 15.0))
    img = ndimage.rotate(np.asarray(case.image, np.float32), angle, reshape=False, order=1, mode="nearest")
    lab = ndimage.rotate(np.asarray(case.labels), angle, reshape=False, order=0, mode="constant", cval=0)
    scale = float(np.exp(rng.uniform(np.log(0.88), np.log(1.12))))
    h, w = img.shape
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = rng.uniform(-0.25, 0.25, 2)
    bias = np.exp(a * (rr / max(h - 1, 1) - 0.5) + b * (cc / max(w - 1, 1) - 0.5))
    img = img * bias
    hi = float(np.percentile(img, 99.5)) or 1.0
    sigma = hi * float(rng.uniform(0.0, 0.06))
    if sigma > 0:
        img = np.hypot(img + rng.normal(0, sigma, img.shape), rng.normal(0, sigma, img.shape))
    sp = (case.spacing_mm[0] * scale, case.spacing_mm[1] * scale)
    return UserCase(img.astype(np.float32), lab, sp, case.orientation, case.lf_annotated)


def make_training_pair(sample: Any, rng: np.random.Generator, prep: dict | None = None,
                       loc_anywhere: float = 0.0) -> dict[str, np.ndarray]:
    """Inputs and soft targets for both stages from one slice sample.

    Returns ``loc_x`` (S, S), ``loc_y`` (S, S) dural-sac fraction on a
    localiser window, ``seg_x`` (N, N), ``seg_y`` (4, N, N) fractions on the
    fine crop around the (jittered) true canal centre, ``seg_lf_known`` (a
    scalar: 0 for a sample whose LF is not outlined, ``lf_annotated`` false). Random left-right
    mirroring swaps the LF channels, so labels stay in patient terms.

    The localiser window is normally placed near the slice centre with the
    canal >= 15 mm inside it. With probability ``loc_anywhere`` it is placed
    as inference places it instead: centred on the slice (the canal wherever
    it is in the slice, up to the image edge, the area beyond the image zero)
    or, when the slice is larger than the window, anywhere that keeps the
    canal centre >= 2 mm inside.
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
    anywhere = loc_anywhere > 0 and rng.random() < loc_anywhere
    for k, n in enumerate((h, w)):
        if anywhere:  # inference-like: the slice centre; if it is too big, a random window
            mid = (n - 1) / 2 + (rng.uniform(-1, 1) * max(0.0, n * sp[k] / 2 - half_mm) / sp[k])
            lim = max(0.0, (half_mm - 2.0) / sp[k])
        else:
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
        "seg_lf_known": np.float32(1.0 if getattr(sample, "lf_annotated", True) else 0.0),
    }
