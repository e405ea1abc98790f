"""The fast 2-D training path: random labelled axial slices near a disc.

>>> import numpy as np
>>> s = sample_axial_2d(np.random.default_rng(1), size_px=(96, 96), spacing_mm=(0.8, 0.8))
>>> s.image.shape, s.labels.shape, s.coverage.shape, s.image.dtype
((96, 96), (96, 96), (4, 96, 96), dtype('float32'))
>>> bool(np.allclose(s.coverage.sum(axis=0), 1.0)) and set(np.unique(s.labels)) <= {0, 1, 2, 3}
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import OptionError
from ..levels.names import LUMBAR_LEVELS
from . import render as R
from .phantom import STENOSIS_GRADES, make_phantom, with_level_knobs
from .planes import Plane, disc_plane, plane_tissues, slice_truth

TRAINING_LEVELS = LUMBAR_LEVELS


@dataclass(frozen=True, eq=False)
class AxialSample:
    """One labelled axial slice. Labels are in *patient* terms (2 = patient-left
    LF) whatever ``orientation`` (the slice's ImageOrientationPatient) is."""

    image: np.ndarray  # (H, W) float32
    labels: np.ndarray  # (H, W) uint8, 0 background, 1 dural sac, 2 LF left, 3 LF right
    coverage: np.ndarray  # (4, H, W) float32 partial-volume fractions of labels 0-3
    spacing_mm: tuple[float, float]  # (row, col)
    orientation: tuple[float, float, float, float, float, float]
    canal_area_mm2: float | None
    lf_thickness_left_mm: float | None
    lf_thickness_right_mm: float | None
    canal_ap_mm: float | None
    level: str
    contrast: str


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _pair(x, name: str) -> tuple[float, float]:
    if x is None:
        return None  # type: ignore[return-value]
    if np.isscalar(x):
        return (float(x), float(x))
    if len(x) != 2:
        raise OptionError(f"{name} must be a number or a (row, col) pair")
    return (float(x[0]), float(x[1]))


def sample_axial_2d(rng=None, *, randomise: bool = True, spacing_mm=None, size_px=None,
                    level: str | None = None, stenosis: str | None = None,
                    max_offset_mm: float | None = None) -> AxialSample:
    """One random axial slice near a lumbar disc, with exact ground truth.

    ``randomise=True`` (training): random subject, LF 1.5-7 mm per side, canal
    40-250 mm² (before compression by the LF), in-plane rotation ±20° carried
    by ``orientation``, tilt ±10°, position ±6 mm from the disc mid-plane,
    spacing 0.3-1.0 mm, random contrast ("t2", "t1like", "inverted",
    "random"), bias field, blur and noise.  ``randomise=False``: realistic T2,
    standard axial orientation (small tilt), clinical spacing, position ±4 mm.
    ``max_offset_mm`` widens or narrows the position range (e.g. 9 mm: the outer
    slices of a clinical block, where the ligament may end).
    """
    rng = _as_rng(rng)
    if stenosis is not None and stenosis not in STENOSIS_GRADES:
        raise OptionError(f"stenosis must be one of {', '.join(STENOSIS_GRADES)}, not {stenosis!r}")
    if level is not None and level not in TRAINING_LEVELS:
        raise OptionError(f"level must be one of {', '.join(TRAINING_LEVELS)}, not {level!r}")
    spacing = _pair(spacing_mm, "spacing_mm")
    shape = tuple(int(v) for v in _pair(size_px, "size_px")) if size_px is not None else (256, 256)
    if min(shape) < 16:
        raise OptionError("size_px must be at least 16 pixels")
    off = float(max_offset_mm) if max_offset_mm is not None else (6.0 if randomise else 4.0)
    if off < 0:
        raise OptionError("max_offset_mm must be >= 0")
    lev = level or TRAINING_LEVELS[int(rng.integers(0, len(TRAINING_LEVELS)))]
    seed = int(rng.integers(0, 2**31 - 1))
    if randomise:
        grade = stenosis or str(rng.choice(STENOSIS_GRADES, p=[0.5, 0.25, 0.25]))
        ph = make_phantom(seed, stenosis=grade, asymmetry=float(rng.uniform(0, 1)))
        ph = with_level_knobs(
            ph, lev,
            lf_left_mm=rng.uniform(1.5, 7.0), lf_right_mm=rng.uniform(1.5, 7.0),
            sac_area_mm2=float(np.exp(rng.uniform(np.log(40.0), np.log(250.0)))),
            bulge_mm=rng.uniform(0.0, 3.5), facet_scale=rng.uniform(0.9, 1.35),
            slip_mm=rng.uniform(0, 5) if rng.uniform() < 0.15 else 0.0,
        )
        if spacing is None:
            sp = rng.uniform(0.3, 1.0)
            spacing = (sp, sp * rng.uniform(0.95, 1.05) if rng.uniform() < 0.2 else sp)
        plane = disc_plane(
            ph, lev, spacing_mm=spacing, shape=shape, offset_mm=rng.uniform(-off, off),
            tilt_deg=(rng.uniform(-10, 10), rng.uniform(-10, 10)), rotation_deg=rng.uniform(-20, 20),
            shift_mm=(rng.uniform(-12, 12), rng.uniform(-12, 12)),
        )
        contrast = str(rng.choice(R.CONTRASTS))
        table = R.tissue_intensities(contrast, rng, nucleus_signal=float(rng.uniform(0.4, 1.0)))
        thick = rng.uniform(2.0, 5.0)
        depths = (-thick / 3, 0.0, thick / 3) if rng.uniform() < 0.3 else (0.0,)
        blur = rng.uniform(0.0, 1.2)
        noise = rng.uniform(0.0, 0.06) * float(table.max())
        bias_strength = rng.uniform(0.0, 0.6)
        low_res = (rng.uniform(1.0, 2.2), rng.uniform(1.0, 2.2)) if rng.uniform() < 0.3 else (1.0, 1.0)
    else:
        grade = stenosis or "none"
        ph = make_phantom(seed, stenosis=grade)
        if spacing is None:
            sp = float(rng.uniform(0.55, 0.8))
            spacing = (sp, sp)
        plane = disc_plane(
            ph, lev, spacing_mm=spacing, shape=shape, offset_mm=rng.uniform(-off, off),
            tilt_deg=(rng.uniform(-3, 3), 0.0), centre_on="canal",
        )
        contrast = "t2"
        j = ph.level_index(lev)
        table = R.tissue_intensities("t2", None, nucleus_signal=float(ph.nucleus_signal[j]))
        depths = (-1.2, 0.0, 1.2)
        blur, noise, bias_strength = 0.5, 14.0, 0.15
        low_res = (1.0, 1.0)
    tissues = plane_tissues(ph, plane, depths)
    centre_idx = len(depths) // 2
    truth = slice_truth(ph, plane, tissues[centre_idx])
    bias = R.bias_field(plane.shape, rng, strength=bias_strength, posterior_gain=0.2)
    image = R.render(tissues, table, rng, blur_px=blur, noise_sigma=0.0, bias=bias)
    image = R.lower_resolution(image, low_res)
    image = R.rician(image, noise, rng)
    return AxialSample(
        image=image, labels=truth.labels, coverage=truth.coverage,
        spacing_mm=plane.spacing_mm, orientation=plane.orientation,  # type: ignore[arg-type]
        canal_area_mm2=truth.canal_area_mm2, lf_thickness_left_mm=truth.lf_thickness_left_mm,
        lf_thickness_right_mm=truth.lf_thickness_right_mm, canal_ap_mm=truth.canal_ap_mm,
        level=truth.level, contrast=contrast,
    )


__all__ = ["AxialSample", "Plane", "sample_axial_2d"]
