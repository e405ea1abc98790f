"""SynthSeg-style training slices: appearance redrawn at random for every sample.

Following Billot et al. (2023, "SynthSeg"), the network should learn what a
dural sac *is* (its shape and place in the anatomy), not what our phantom
looks like. Every call of :func:`sample_synthseg` draws, independently:

- **anatomy** beyond the phantom's defaults: canal shape by level (round at
  L1–L3, triangular/trefoil at L4–S1), epidural fat from none to abundant,
  disc bulge and facet hypertrophy indenting the sac, asymmetric and buckled
  LF, facet joints either round (the phantom's default) or, in half the
  phantoms, elongated articular processes whose bone borders the LF's lateral
  end (``anatomy._facet_bars``), an LF that in 40 % of the phantoms ends short
  of the lateral recess with bone beside the sac in its place (knob
  ``lf_reach``), cauda-equina roots (clumped, mostly posterior; none to many), the conus
  at the upper levels, basivertebral veins, fatty infiltration of the
  paraspinal muscles;
- **geometry**: in-plane spacing 0.3–1.2 mm (10 %: up to 1.6 mm; sometimes
  anisotropic), matrix and FOV (narrow FOVs down to ~50 mm, and strips
  25–60 mm wide like a spine-only crop), the canal anywhere in the field of
  view including at and across its edge, in-plane rotation ±25°, tilt ±15°,
  any of the 8 axis flips/transposes of the matrix (carried by the
  orientation, so labels stay in patient terms), and a smooth random elastic
  deformation of the *sampling coordinates*: tissues, labels and exact
  coverage are all evaluated at the deformed points, so they stay consistent;
- **appearance**: an intensity per tissue from a per-sample mixture (T2,
  fat-suppressed T2, T1-like, fat-suppressed T1, inverted, fully random),
  per-tissue jitter and random re-draws, per-tissue texture at two scales;
  through-plane partial volume of 3–5 mm slices (several sub-planes averaged);
  acquisition resolution (coarser matrix interpolated back) and blur; k-space
  artefacts (Gibbs ringing by truncation, N/2 ghosting, motion phase errors
  on phase-encode lines); wrap-around along the phase-encode axis; random
  bias field; Rician noise at SNR 3–200; random gamma.

The labels are the phantom's exact ground truth on the (deformed) centre
sub-plane, as for :func:`mri_measure.synth.sample_axial_2d`; the result is an
:class:`~mri_measure.synth.sample.AxialSample` whose ``contrast`` is
``"synthseg-<mode>"``.

>>> s = sample_synthseg(np.random.default_rng(3))
>>> s.image.dtype, s.image.shape == s.labels.shape == s.coverage.shape[1:]
(dtype('float32'), True)
>>> bool(np.allclose(s.coverage.sum(axis=0), 1.0, atol=1e-5)), s.contrast.startswith("synthseg-")
(True, True)
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
from scipy import ndimage

from ..errors import OptionError
from ..levels.names import LUMBAR_LEVELS
from . import anatomy as A
from . import render as R
from .phantom import STENOSIS_GRADES, make_phantom, with_level_knobs
from .planes import Plane, PlaneMapper, _lerp_index, disc_plane, plane_tissues, slice_truth
from .sample import AxialSample

# per-sample contrast modes and their probabilities
MODES = ("t2", "t2_fatsat", "t1", "t1_fatsat", "inverted", "random")
MODE_P = (0.22, 0.13, 0.13, 0.07, 0.08, 0.37)

FAT_TISSUES = [A.EPIDURAL_FAT, A.SUBCUT_FAT, A.FAT]


def _as_rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# ------------------------------------------------------------------ anatomy
def _clumped_roots(rng: np.random.Generator, disc_s: np.ndarray, n_lumbar: int) -> np.ndarray:
    """(n, 4) roots (u_norm, v_norm, radius_mm, exit_s) as in the phantom, but
    clumped: a few clusters, mostly in the posterior half of the sac."""
    n = int(rng.integers(0, 40))
    if n == 0:
        return np.zeros((0, 4))
    n_cl = int(rng.integers(1, 4))
    ang_c = rng.uniform(0.2 * np.pi, 0.8 * np.pi, n_cl) if rng.random() < 0.8 else rng.uniform(-np.pi, np.pi, n_cl)
    rad_c = rng.uniform(0.25, 0.65, n_cl)
    k = rng.integers(0, n_cl, n)
    spread = rng.uniform(0.08, 0.3)
    x = np.cos(ang_c[k]) * rad_c[k] + rng.normal(0, spread, n)
    y = np.sin(ang_c[k]) * rad_c[k] + rng.normal(0, spread, n)
    r = np.hypot(x, y)
    f = np.minimum(1.0, 0.85 / np.maximum(r, 1e-6))  # keep them inside the sac
    # where each root leaves the sac: the cauda equina below the conus is about 20
    # roots (L2-Co1), and the 12 sacral and coccygeal ones (S1-Co1) are still inside
    # the sac at L5-S1, so the low levels carry most of the roots, not a sixth of them
    n_exit = min(n_lumbar + 1, len(disc_s))
    p_exit = np.full(n_exit, 0.4 / max(n_exit - 1, 1))
    p_exit[0] = 0.6 if n_exit > 1 else 1.0
    exit_k = rng.choice(n_exit, size=n, p=p_exit / p_exit.sum())
    return np.stack([x * f, y * f, rng.uniform(0.35, 1.2, n), disc_s[exit_k] - 3.0], axis=1)


def random_phantom(rng: np.random.Generator, level: str, stenosis: str | None = None):
    """A phantom with every per-level shape knob of ``level`` drawn wide."""
    grade = stenosis or str(rng.choice(STENOSIS_GRADES, p=[0.5, 0.25, 0.25]))
    seed = int(rng.integers(0, 2**31 - 1))
    ph = make_phantom(seed, stenosis=grade, asymmetry=float(rng.uniform(0, 1)))
    low = LUMBAR_LEVELS.index(level) >= 3  # L4-L5, L5-S1: triangular / trefoil canals
    lf_l = rng.uniform(1.2, 7.0)
    lf_r = lf_l * np.exp(rng.normal(0, 0.3)) if rng.random() < 0.6 else rng.uniform(1.2, 7.0)
    ph = with_level_knobs(
        ph, level,
        lf_left_mm=lf_l, lf_right_mm=float(np.clip(lf_r, 1.0, 7.5)),
        sac_area_mm2=float(np.exp(rng.uniform(np.log(35.0), np.log(300.0)))),
        sac_aspect=rng.uniform(1.15, 1.8) if low else rng.uniform(0.95, 1.4),
        trefoil=rng.uniform(0.04, 0.24) if low else rng.uniform(0.0, 0.05),
        sac_gap_mm=float(rng.choice([rng.uniform(0.2, 1.0), rng.uniform(1.0, 4.5)])),
        canal_bow_mm=rng.uniform(-0.5, 3.5),
        bulge_mm=rng.uniform(0.0, 4.5), facet_scale=rng.uniform(0.85, 1.45),
        slip_mm=rng.uniform(0, 6) if rng.uniform() < 0.12 else 0.0,
    )
    n_lumbar = int(ph.knobs.get("n_lumbar", 5))
    j_l1 = n_lumbar - 1
    knobs = {**ph.knobs, "basivertebral_mm": float(rng.uniform(0.8, 2.2)) if rng.random() < 0.6 else 0.0,
             # half the phantoms: elongated articular processes bordering the LF (anatomy._facet_bars)
             "facet_bars": float(rng.uniform(0.05, 1.0)) if rng.random() < 0.5 else 0.0,
             # 40 %: the LF ends short of the lateral recess, bone beside the sac (anatomy._canal)
             "lf_reach": float(rng.uniform(0.35, 0.8)) if rng.random() < 0.4 else 1.0}
    roots = _clumped_roots(rng, ph.disc_s, n_lumbar) if rng.random() < 0.75 else ph.roots
    return replace(ph, roots=roots, knobs=knobs, _tables={},
                   conus_tip_s=float(ph.disc_s[j_l1] + rng.uniform(-25.0, 25.0)))


# ------------------------------------------------------------------ geometry
class DeformedMapper:
    """A :class:`~mri_measure.synth.planes.PlaneMapper` whose pixel positions
    are displaced by a smooth random field (pixels; bilinear on a lattice).

    The displacement is composed into the mapper's own coarse lattice (its
    local coordinates are evaluated at the displaced lattice points), so a
    deformed mapper costs what an undeformed one does; the field is much
    smoother (>= 8 mm) than the 3 mm lattice, so the bilinear error is small.
    """

    def __init__(self, base: PlaneMapper, field_r: np.ndarray, field_c: np.ndarray, step_px: tuple[float, float]):
        self.fr, self.fc = field_r, field_c
        self.sr, self.sc = step_px
        self.mapper = copy.copy(base)
        rr = -1.0 + np.arange(base.kr) * base.sr
        cc = -1.0 + np.arange(base.kc) * base.sc
        R_, C_ = np.meshgrid(rr, cc, indexing="ij")
        dr, dc = self.displacement(R_, C_)
        self.mapper.fields = [f.astype(np.float32) for f in base.at(R_ + dr, C_ + dc)]

    def displacement(self, rows, cols):
        """(rows, cols) displacement in pixels at fractional positions."""
        ir, tr = _lerp_index(rows, self.fr.shape[0], self.sr, -1.0)
        ic, tc = _lerp_index(cols, self.fr.shape[1], self.sc, -1.0)
        out = []
        for f in (self.fr, self.fc):
            top = f[ir, ic] * (1.0 - tc) + f[ir, ic + 1] * tc
            bot = f[ir + 1, ic] * (1.0 - tc) + f[ir + 1, ic + 1] * tc
            out.append(top * (1.0 - tr) + bot * tr)
        return out

    def at(self, rows, cols):
        return self.mapper.at(rows, cols)

    def grid(self, rows, cols):
        return self.mapper.grid(rows, cols)


def elastic_field(rng: np.random.Generator, plane: Plane, amplitude_mm: float, step_mm: float):
    """Lattice (every ``step_mm``) of random displacements (pixels) for a plane."""
    h, w = plane.shape
    dr, dc = plane.spacing_mm
    sr, sc = max(step_mm / dr, 1.0), max(step_mm / dc, 1.0)
    kr, kc = int(np.ceil((h + 1) / sr)) + 2, int(np.ceil((w + 1) / sc)) + 2
    g = rng.normal(0.0, amplitude_mm, (2, kr, kc)).astype(np.float32)
    g = ndimage.gaussian_filter(g, (0, 0.7, 0.7), mode="nearest")
    return g[0] / dr, g[1] / dc, (sr, sc)


def _flip_plane(plane: Plane, rng: np.random.Generator) -> Plane:
    """One of the 8 flips/transposes of the matrix; the orientation follows."""
    row, col, sp, shape = plane.row_dir, plane.col_dir, plane.spacing_mm, plane.shape
    if rng.random() < 0.5:
        row = -row
    if rng.random() < 0.5:
        col = -col
    if rng.random() < 0.5:
        row, col, sp, shape = col, row, (sp[1], sp[0]), (shape[1], shape[0])
    return Plane(plane.centre, row, col, sp, shape)


# ------------------------------------------------------------------ appearance
def random_intensities(rng: np.random.Generator, mode: str | None = None) -> tuple[np.ndarray, str]:
    """A per-tissue intensity table from the per-label mixture; returns (table, mode)."""
    mode = mode or str(rng.choice(MODES, p=MODE_P))
    if mode not in MODES:
        raise OptionError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "random":
        tab = rng.uniform(0.0, 1500.0, A.N_TISSUES)
    else:
        tab = (R.T1_INTENSITY if mode.startswith("t1") else R.T2_INTENSITY).astype(np.float64).copy()
        tab[A.NUCLEUS] = tab[A.ANNULUS] + (tab[A.NUCLEUS] - tab[A.ANNULUS]) * rng.uniform(0.2, 1.0)
        if mode.endswith("fatsat"):
            tab[FAT_TISSUES] = rng.uniform(60.0, 300.0)
            tab[A.MARROW] *= rng.uniform(0.3, 0.7)
            tab[A.POSTERIOR_BONE] *= rng.uniform(0.3, 0.7)
        tab *= np.exp(rng.normal(0.0, 0.22, A.N_TISSUES))
        if mode == "inverted":
            tab = 1450.0 - tab
        redraw = rng.random(A.N_TISSUES) < 0.12  # single labels off the table
        tab[redraw] = rng.uniform(0.0, 1500.0, int(redraw.sum()))
        tab[A.AIR] = rng.uniform(0.0, 40.0) if rng.random() < 0.9 else tab[A.AIR]
    if rng.random() < 0.85:  # usually both LF alike; sometimes not (asymmetric signal)
        tab[A.LF_RIGHT] = tab[A.LF_LEFT]
    return np.clip(tab, 0.0, None).astype(np.float32), mode


def _smooth_noise(rng, shape, sigma_px: float) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_px, mode="wrap")
    return f / max(float(f.std()), 1e-6)


def _kspace_artefacts(img: np.ndarray, rng: np.random.Generator, pe_axis: int) -> np.ndarray:
    """Gibbs truncation, N/2 ghosting and motion phase errors (along ``pe_axis``)."""
    gibbs, ghost, motion = rng.random() < 0.3, rng.random() < 0.2, rng.random() < 0.2
    if not (gibbs or ghost or motion):
        return img
    F = np.fft.fftshift(np.fft.fft2(img))
    h, w = img.shape
    n_pe = img.shape[pe_axis]
    if gibbs:
        keep = rng.uniform(0.35, 0.85, 2)
        mr = np.abs(np.arange(h) - h / 2) <= keep[0] * h / 2
        mc = np.abs(np.arange(w) - w / 2) <= keep[1] * w / 2
        F = F * (mr[:, None] & mc[None, :])
    line = np.ones(n_pe, np.complex128)
    if ghost:
        line[::2] *= 1.0 + rng.uniform(0.05, 0.3)
    if motion:
        k = np.arange(n_pe) - n_pe / 2
        hit = rng.random(n_pe) < rng.uniform(0.05, 0.3)
        d = rng.uniform(-3.0, 3.0, n_pe) * hit
        line *= np.exp(-2j * np.pi * k * d / n_pe)
    F = F * (line[:, None] if pe_axis == 0 else line[None, :])
    return np.abs(np.fft.ifft2(np.fft.ifftshift(F))).astype(np.float32)


def _fold(img: np.ndarray, m: int, axis: int) -> np.ndarray:
    """Wrap-around: the ``m`` pixels beyond each end of ``axis`` fold back in."""
    a = np.moveaxis(img, axis, 0)
    n = a.shape[0] - 2 * m
    out = a[m:m + n].copy()
    out[:m] += a[m + n:]
    out[n - m:] += a[:m]
    return np.moveaxis(out, 0, axis)


# ------------------------------------------------------------------ the sample
def sample_synthseg(rng=None, *, level: str | None = None, stenosis: str | None = None,
                    max_offset_mm: float = 12.0, mode: str | None = None, edge: bool | None = None,
                    shape: tuple[int, int] | None = None, spacing_mm: float | None = None) -> AxialSample:
    """One SynthSeg-style labelled axial slice (see the module docstring).

    ``edge=True`` forces the canal centre to within a few mm of the field-of-view
    edge (None: sometimes); ``shape``/``spacing_mm`` fix the matrix/pixel size
    (None: random).
    """
    rng = _as_rng(rng)
    if level is not None and level not in LUMBAR_LEVELS:
        raise OptionError(f"level must be one of {', '.join(LUMBAR_LEVELS)}, not {level!r}")
    lev = level or LUMBAR_LEVELS[int(rng.integers(0, len(LUMBAR_LEVELS)))]
    ph = random_phantom(rng, lev, stenosis)

    # ---- geometry: spacing, matrix, canal position, orientation
    if spacing_mm is not None:
        sp = float(spacing_mm)
    else:  # 0.3-1.2 mm, sometimes as coarse as 1.6 mm
        sp = float(np.exp(rng.uniform(np.log(0.3), np.log(1.2)))) if rng.random() < 0.9 else rng.uniform(1.2, 1.6)
    spc = (sp, sp * rng.uniform(0.8, 1.25) if rng.random() < 0.2 else sp)
    if shape is None:
        u = rng.random()
        if u < 0.15:  # a strip: one side as narrow as a spine-only crop (real 3-D T2: 38 mm)
            fov = np.array([rng.uniform(100.0, 260.0), rng.uniform(25.0, 60.0)])[rng.permutation(2)]
        elif u < 0.45:
            fov = rng.uniform(50.0, 300.0, 2)
        else:
            fov = np.full(2, rng.uniform(120.0, 300.0))
        shp = tuple(int(np.clip(round(f / s), 24, 256)) for f, s in zip(fov, spc))
    else:
        shp = (int(shape[0]), int(shape[1]))
    half = np.array(shp) * np.array(spc) / 2  # (rows, cols) half extents, mm
    edge = bool(rng.random() < 0.2) if edge is None else bool(edge)
    if edge:  # canal centre 0-6 mm inside one edge (its far side may be cut off)
        shift = rng.uniform(-0.4, 0.4, 2) * half
        ax = int(rng.integers(0, 2))
        shift[ax] = np.sign(rng.uniform(-1, 1)) * max(half[ax] - rng.uniform(0.0, 6.0), 0.0)
    elif rng.random() < 0.5:  # off-centre anywhere in the field of view
        shift = rng.uniform(-0.85, 0.85, 2) * np.maximum(half - 8.0, 0.0)
    else:
        shift = rng.normal(0.0, 8.0, 2)
    plane = disc_plane(ph, lev, spacing_mm=spc, shape=shp, offset_mm=rng.uniform(-max_offset_mm, max_offset_mm),
                       tilt_deg=(rng.uniform(-15, 15), rng.uniform(-12, 12)), rotation_deg=rng.uniform(-25, 25),
                       shift_mm=(-shift[0], -shift[1]), centre_on="canal")
    plane = _flip_plane(plane, rng)
    pe_axis = int(rng.integers(0, 2))
    wrap = int(rng.uniform(0.05, 0.25) * plane.shape[pe_axis]) if rng.random() < 0.15 else 0
    if wrap:
        ext = list(plane.shape)
        ext[pe_axis] += 2 * wrap
        plane = Plane(plane.centre, plane.row_dir, plane.col_dir, plane.spacing_mm, (ext[0], ext[1]))

    # ---- elastic deformation of the sampling coordinates (all depths alike)
    amp = rng.uniform(0.0, 2.5) if rng.random() < 0.8 else 0.0
    fr, fc, step = elastic_field(rng, plane, amp, rng.uniform(8.0, 20.0))
    def mapper_fn(d: float):
        return DeformedMapper(PlaneMapper(ph, plane, d), fr, fc, step)

    # ---- tissues through the slab (partial volume of 3-5 mm slices) and the truth
    if rng.random() < 0.65:
        thick = rng.uniform(3.0, 5.0)
        n_d = 3 if rng.random() < 0.75 else 5  # odd: an exact centre sub-plane for the labels
        depths = tuple(float(d) for d in np.linspace(-0.4 * thick, 0.4 * thick, n_d))
    else:
        depths = (0.0,)
    tissues = plane_tissues(ph, plane, depths, mapper_fn=mapper_fn)
    ci = depths.index(0.0)
    truth = slice_truth(ph, plane, tissues[ci], mapper=mapper_fn(0.0))
    if rng.random() < 0.5:  # fatty infiltration of the paraspinal muscles
        fat = _smooth_noise(rng, plane.shape, rng.uniform(1.0, 4.0)) > rng.uniform(0.3, 2.0)
        musc = (tissues == A.MUSCLE) | (tissues == A.PSOAS)
        tissues[musc & fat[None]] = A.FAT

    # ---- intensities, texture, slab average
    table, mode_used = random_intensities(rng, mode)
    centre = tissues[ci]
    img = np.zeros(plane.shape, np.float32)
    wts = np.exp(-0.5 * (np.asarray(depths) / max(0.3 * max(depths), 0.5)) ** 2) if len(depths) > 1 else np.ones(1)
    wts = wts / wts.sum()
    for wgt, t in zip(wts, tissues):
        img += np.float32(wgt) * table[t]
    amp_f, amp_c = rng.uniform(0.0, 0.25, A.N_TISSUES), rng.uniform(0.0, 0.25, A.N_TISSUES)
    amp_f[A.MARROW] = rng.uniform(0.05, 0.35)  # marrow: trabecular texture
    tex = (amp_f[centre] * _smooth_noise(rng, plane.shape, rng.uniform(0.5, 1.2))
           + amp_c[centre] * _smooth_noise(rng, plane.shape, rng.uniform(2.0, 6.0)))
    img = img * np.clip(1.0 + tex, 0.2, None)

    # ---- acquisition: resolution, blur, k-space artefacts, bias, noise, gamma
    if rng.random() < 0.5:
        img = R.lower_resolution(img, (rng.uniform(1.0, 2.5), rng.uniform(1.0, 2.5)))
    blur = rng.uniform(0.0, 1.2)
    if blur > 0.1:
        img = ndimage.gaussian_filter(img, blur, mode="nearest")
    img = _kspace_artefacts(img, rng, pe_axis)
    img = img * R.bias_field(plane.shape, rng, strength=rng.uniform(0.0, 0.8), posterior_gain=rng.uniform(-0.1, 0.4),
                             col_dir_posterior=(float(np.dot(plane.col_dir, [0, 1, 0])),
                                                float(np.dot(plane.row_dir, [0, 1, 0]))))
    labels, coverage = truth.labels, truth.coverage
    if wrap:
        margins = [slice(None)] * 2
        margins[pe_axis] = np.r_[0:wrap, plane.shape[pe_axis] - wrap:plane.shape[pe_axis]]  # type: ignore[call-overload]
        if (labels[tuple(margins)] > 0).any():  # never fold an unlabelled copy of the canal in
            keep = [slice(None)] * 2
            keep[pe_axis] = slice(wrap, plane.shape[pe_axis] - wrap)
            img = img[tuple(keep)]
        else:
            img = _fold(img, wrap, pe_axis)
        cut = [slice(None)] * 3
        cut[pe_axis + 1] = slice(wrap, plane.shape[pe_axis] - wrap)
        coverage = coverage[tuple(cut)]
        labels = labels[tuple(cut[1:])]
        ext = list(plane.shape)
        ext[pe_axis] -= 2 * wrap
        plane = Plane(plane.centre, plane.row_dir, plane.col_dir, plane.spacing_mm, (ext[0], ext[1]))
    hi = float(np.percentile(img, 99.5)) or 1.0
    snr = float(np.exp(rng.uniform(np.log(3.0), np.log(200.0))))
    img = R.rician(img, hi / snr, rng)
    gamma = float(np.exp(rng.normal(0.0, 0.35)))
    img = (hi * np.clip(img / hi, 0.0, None) ** gamma).astype(np.float32)

    # measurements follow what is left in the field of view
    px_area = plane.spacing_mm[0] * plane.spacing_mm[1]
    area = float(coverage[1].sum()) * px_area
    complete = not wrap or np.isclose(area, float(truth.coverage[1].sum()) * px_area)
    return AxialSample(
        image=np.ascontiguousarray(img, dtype=np.float32), labels=np.ascontiguousarray(labels),
        coverage=np.ascontiguousarray(coverage),
        spacing_mm=plane.spacing_mm, orientation=plane.orientation,  # type: ignore[arg-type]
        canal_area_mm2=(truth.canal_area_mm2 if complete else area) if area > 0 else None,
        lf_thickness_left_mm=truth.lf_thickness_left_mm if complete else None,
        lf_thickness_right_mm=truth.lf_thickness_right_mm if complete else None,
        canal_ap_mm=truth.canal_ap_mm if complete else None,
        level=truth.level, contrast=f"synthseg-{mode_used}",
    )


__all__ = ["MODES", "DeformedMapper", "random_intensities", "random_phantom", "sample_synthseg"]
