"""Render axial lumbar T2-like slices of :mod:`.anatomy` with exact truth.

A slice is a plane of the anatomy frame tilted by ``tilt_deg`` about the
patient left-right axis and rotated in-plane by ``rot_deg``; image columns
run to patient left (+x) and rows to posterior (+y), the standard axial
display (ImageOrientationPatient [1,0,0, 0,cos t,sin t] in the DICOM
files). The image is the mean over ``k×k`` sub-pixels in-plane and
``n_w`` sub-planes through the slice thickness (partial volume), blurred
by a small PSF, multiplied by a posterior coil-array bias and given Rician
noise.

Truth is taken in the slice's central plane on a grid of ``TRUTH_STEP_MM``
or finer (≥ 8× the pixel), aligned with the pixels:

- ``canal_area_mm2`` — dural-sac area (CSF + roots inside the dura);
- ``lf_left_mm`` / ``lf_right_mm`` — 2 × the largest inscribed radius of
  each ligamentum flavum (CLINICAL.md), from a Euclidean distance transform
  of the fine mask (the nearest outside sample lies 0–½ step beyond the
  boundary, so a ¼-step correction bounds the error by ±½ step, 0.025 mm);
- ``labels`` — per pixel 0 background, 1 sac, 2 LF patient-left, 3 LF
  patient-right (the fine mask's majority).

>>> import numpy as np
>>> case = render_level("L4-L5", 0.8, seed=3, fov_mm=120.0)
>>> len(case.slices), case.slices[0].image.dtype, int(case.slices[0].labels.max()) <= 3
(3, dtype('uint16'), True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from . import anatomy as A
from .texture import coil_bias, fractal_noise, rician

TRUTH_STEP_MM = 0.05

# (mean, texture amplitude) per tissue on T2 TSE, before per-case jitter
T2 = {
    A.AIR: (0.0, 0.0), A.ABDOMEN: (0.34, 0.25), A.SCFAT: (0.86, 0.06), A.MUSCLE: (0.24, 0.12),
    A.PSOAS: (0.22, 0.1), A.EPIFAT: (0.8, 0.08), A.MARROW: (0.42, 0.22), A.CORTEX: (0.05, 0.2),
    A.ANNULUS: (0.13, 0.15), A.NUCLEUS: (0.55, 0.12), A.FACET_FLUID: (0.62, 0.1), A.LF: (0.16, 0.12),
    A.CSF: (1.0, 0.03), A.ROOT: (0.28, 0.1), A.CONUS: (0.32, 0.05), A.VEIN: (0.7, 0.1),
}


@dataclass
class Acquisition:
    spacing_mm: float
    rows: int
    cols: int
    thickness_mm: float
    gap_mm: float
    tilt_deg: float       # slice plane vs the anatomy's axial plane
    rot_deg: float        # in-plane rotation of the anatomy
    canal_rc: tuple[float, float]  # canal centre, (row, col) in pixels
    snr: float            # CSF signal / noise sigma at the canal
    block_offset_mm: float


@dataclass
class Slice:
    image: np.ndarray     # uint16, 12 bit
    labels: np.ndarray    # uint8
    offset_mm: float      # along the block normal, from the block centre
    canal_area_mm2: float
    lf_left_mm: float
    lf_right_mm: float


@dataclass
class LevelCase:
    level: str
    seed: int
    acq: Acquisition
    params: A.Params
    slices: list[Slice]

    def truth(self) -> dict:
        """Per level: minimum sac area and maximum LF per side over the block."""
        return {
            "canal_area_mm2": min(s.canal_area_mm2 for s in self.slices),
            "lf_left_mm": max(s.lf_left_mm for s in self.slices),
            "lf_right_mm": max(s.lf_right_mm for s in self.slices),
        }


def sample_acquisition(rng: np.random.Generator, spacing_mm: float, fov_mm: float | None = None) -> Acquisition:
    fov = float(fov_mm if fov_mm is not None else rng.uniform(160, 220))
    n = int(round(fov / spacing_mm / 2)) * 2
    rows = n
    cols = n if rng.random() < 0.7 else int(round(n * rng.uniform(0.8, 1.0) / 2)) * 2
    return Acquisition(
        spacing_mm=float(spacing_mm), rows=rows, cols=cols,
        thickness_mm=float(rng.uniform(3.0, 4.0)), gap_mm=float(rng.choice([0.0, 0.3, 0.4, 0.8])),
        tilt_deg=float(rng.uniform(-12, 12)), rot_deg=float(rng.uniform(-8, 8)),
        canal_rc=(rows * rng.uniform(0.45, 0.68), cols * rng.uniform(0.38, 0.62)),
        snr=float(np.exp(rng.uniform(np.log(8), np.log(35)))),
        block_offset_mm=float(rng.uniform(-1.5, 1.5)),
    )


def plane_to_anatomy(u, v, w, acq: Acquisition, z0: float):
    """In-plane (u → columns, v → rows) and normal (w) offsets in mm of a
    slice whose centre is ``z0`` along the block normal → anatomy x, y, z."""
    b, a = np.deg2rad(acq.rot_deg), np.deg2rad(acq.tilt_deg)
    up = np.cos(b) * u - np.sin(b) * v
    vp = np.sin(b) * u + np.cos(b) * v
    n = z0 + w
    return up, vp * np.cos(a) - n * np.sin(a), vp * np.sin(a) + n * np.cos(a)


def _pixel_uv(acq: Acquisition, rows: np.ndarray, cols: np.ndarray):
    return (cols - acq.canal_rc[1]) * acq.spacing_mm, (rows - acq.canal_rc[0]) * acq.spacing_mm


def render_intensity(an: A.Anatomy, acq: Acquisition, z0: float, rng: np.random.Generator,
                     k: int | None = None, n_w: int = 3) -> np.ndarray:
    """Noise-free partial-volume image (float, CSF ≈ 1)."""
    k = k or (1 if acq.spacing_mm < 0.5 else 2)
    h, w = acq.rows, acq.cols
    nt = A.N_TISSUES
    mean = np.array([T2[t][0] for t in range(nt)]) * rng.uniform(0.85, 1.15, nt)
    mean[A.CSF] = 1.0
    mean[A.NUCLEUS] = rng.uniform(0.2, 0.85)       # degenerated … healthy
    mean[A.EPIFAT] = mean[A.SCFAT] * rng.uniform(0.85, 1.05)
    amp = np.array([T2[t][1] for t in range(nt)])
    mix = rng.dirichlet([1, 1, 1], nt) * amp[:, None]
    fine = (h * k, w * k)
    tex = [fractal_noise(fine, rng, beta) for beta in (1.2, 2.2, 3.2)]
    fat_field = fractal_noise(fine, rng, 2.4)
    fat_inf = an.p.extra.get("fat_inf", 0.0)
    fat_thr = np.quantile(fat_field, 1 - fat_inf) if fat_inf > 0 else np.inf
    abd_fat = fractal_noise(fine, rng, 2.8) > rng.uniform(0.3, 1.0)
    fat_val = mean[A.SCFAT] * 0.9
    out = np.zeros((h, w))
    rr, cc = np.mgrid[0:h, 0:w].astype(float)
    for j in range(k):
        for i in range(k):
            u, v = _pixel_uv(acq, rr + (j + 0.5) / k - 0.5, cc + (i + 0.5) / k - 0.5)
            t0, t1, t2 = (t[j::k, i::k] for t in tex)
            for wi in range(n_w):
                wo = acq.thickness_mm * ((wi + 0.5) / n_w - 0.5)
                x, y, z = plane_to_anatomy(u.ravel(), v.ravel(), wo, acq, z0)
                tis = an.tissue(x, y, z).reshape(h, w)
                mx = mix[tis]
                img = mean[tis] * np.clip(1 + mx[..., 0] * t0 + mx[..., 1] * t1 + mx[..., 2] * t2, 0.05, None)
                img[(tis == A.MUSCLE) & (fat_field[j::k, i::k] > fat_thr)] = fat_val
                img[(tis == A.ABDOMEN) & abd_fat[j::k, i::k]] = fat_val * 0.9   # retroperitoneal fat
                out += img
    return out / (k * k * n_w)


def render_truth(an: A.Anatomy, acq: Acquisition, z0: float):
    """Labels (pixels) and exact truth numbers in the slice's central plane."""
    h, w = acq.rows, acq.cols
    s = acq.spacing_mm
    # coarse pass finds the region holding sac and ligaments
    rr, cc = np.mgrid[0:h, 0:w].astype(float)
    u, v = _pixel_uv(acq, rr.ravel(), cc.ravel())
    x, y, z = plane_to_anatomy(u, v, 0.0, acq, z0)
    near = np.hypot(x, y) < 45
    any_m = np.zeros(h * w, bool)
    sub = [m for m in an.truth(x[near], y[near], z[near])]
    any_m[near] = sub[0] | sub[1] | sub[2]
    labels = np.zeros((h, w), np.uint8)
    if not any_m.any():
        return labels, 0.0, 0.0, 0.0
    r_idx, c_idx = np.nonzero(any_m.reshape(h, w))
    r0, r1 = max(r_idx.min() - 4, 0), min(r_idx.max() + 5, h)
    c0, c1 = max(c_idx.min() - 4, 0), min(c_idx.max() + 5, w)
    m = int(np.ceil(s / TRUTH_STEP_MM))
    step = s / m
    fr = r0 - 0.5 + (np.arange((r1 - r0) * m) + 0.5) / m
    fc = c0 - 0.5 + (np.arange((c1 - c0) * m) + 0.5) / m
    FR, FC = np.meshgrid(fr, fc, indexing="ij")
    u, v = _pixel_uv(acq, FR.ravel(), FC.ravel())
    x, y, z = plane_to_anatomy(u, v, 0.0, acq, z0)
    sac, lfl, lfr = (q.reshape(FR.shape) for q in an.truth(x, y, z))
    area = float(sac.sum()) * step * step

    def thick(mask: np.ndarray) -> float:
        if not mask.any():
            return 0.0
        d = ndimage.distance_transform_edt(np.pad(mask, 1))
        return float(2 * (d.max() - 0.25) * step)

    shp = (r1 - r0, m, c1 - c0, m)
    for lab, mk in ((1, sac), (2, lfl), (3, lfr)):
        frac = mk.reshape(shp).mean(axis=(1, 3))
        labels[r0:r1, c0:c1][frac > 0.5] = lab
    return labels, area, thick(lfl), thick(lfr)


def finish(clean: np.ndarray, an: A.Anatomy, acq: Acquisition, rng: np.random.Generator) -> np.ndarray:
    """PSF blur, coil bias, Rician noise, 12-bit scaling."""
    img = ndimage.gaussian_filter(clean, rng.uniform(0.25, 0.6))
    rr, cc = np.mgrid[0:acq.rows, 0:acq.cols].astype(float)
    u, v = _pixel_uv(acq, rr, cc)
    bias = coil_bias(u, v, rng, an.skin_y)
    img = img * bias
    rc = (int(np.clip(acq.canal_rc[0], 0, acq.rows - 1)), int(np.clip(acq.canal_rc[1], 0, acq.cols - 1)))
    sigma = float(bias[rc]) / acq.snr
    img = rician(img, sigma, rng)
    top = np.quantile(img, 0.998)
    return np.clip(img / top * 3000.0 * rng.uniform(0.6, 1.2), 0, 4095).astype(np.uint16)


def render_level(level: str, spacing_mm: float, seed: int, *, fov_mm: float | None = None,
                 n_slices: int = 3, params: A.Params | None = None,
                 acq: Acquisition | None = None, study_acq: Acquisition | None = None) -> LevelCase:
    """One disc level: a block of ``n_slices`` parallel slices through the disc.

    ``study_acq`` fixes the matrix, spacing, thickness and gap (one series
    holding several blocks); tilt, rotation, canal position and SNR are
    still drawn per level.
    """
    rng = np.random.default_rng(seed)
    p = params if params is not None else A.sample_anatomy(rng, level)
    if acq is None:
        acq = sample_acquisition(rng, spacing_mm, fov_mm)
        if study_acq is not None:
            acq = replace(acq, spacing_mm=study_acq.spacing_mm, rows=study_acq.rows, cols=study_acq.cols,
                          thickness_mm=study_acq.thickness_mm, gap_mm=study_acq.gap_mm,
                          canal_rc=(study_acq.rows * acq.canal_rc[0] / acq.rows,
                                    study_acq.cols * acq.canal_rc[1] / acq.cols))
    an = A.calibrated(p)
    step = acq.thickness_mm + acq.gap_mm
    slices = []
    for i in range(n_slices):
        off = (i - (n_slices - 1) / 2) * step
        z0 = off + acq.block_offset_mm
        clean = render_intensity(an, acq, z0, rng)
        labels, area, lfl, lfr = render_truth(an, acq, z0)
        slices.append(Slice(finish(clean, an, acq, rng), labels, off, area, lfl, lfr))
    return LevelCase(level, seed, acq, p, slices)
