"""Image planes in patient space, and the exact ground truth on a plane.

A :class:`Plane` is a DICOM image geometry: centre, row direction (the
direction in which column index grows), column direction (in which row index
grows), pixel spacing (row spacing, column spacing) and matrix size.

>>> p = Plane.axial(np.zeros(3), spacing_mm=(0.5, 0.5), shape=(4, 6))
>>> p.orientation
(1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
>>> p.pixel_points()[0, 0].tolist(), p.pixel_points()[-1, -1].tolist()
([-1.25, -0.75, 0.0], [1.25, 0.75, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .anatomy import CORTEX, POSTERIOR_BONE, TISSUE_TO_LABEL, canal_parts, tissue_map
from .phantom import SpinePhantom


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def rotation(axis, angle_rad: float) -> np.ndarray:
    """3×3 rotation matrix about ``axis`` (Rodrigues)."""
    k = _unit(axis)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * K + (1 - np.cos(angle_rad)) * K @ K


@dataclass(frozen=True)
class Plane:
    centre: np.ndarray  # patient mm, centre of the matrix
    row_dir: np.ndarray  # unit, along a row (column index grows)
    col_dir: np.ndarray  # unit, along a column (row index grows)
    spacing_mm: tuple[float, float]  # (between rows, between columns)
    shape: tuple[int, int]  # (rows, columns)

    @staticmethod
    def axial(centre, *, spacing_mm, shape) -> "Plane":
        return Plane(np.asarray(centre, float), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]),
                     (float(spacing_mm[0]), float(spacing_mm[1])), (int(shape[0]), int(shape[1])))

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_dir, self.col_dir)

    @property
    def orientation(self) -> tuple[float, ...]:
        return tuple(float(round(x, 10)) + 0.0 for x in (*self.row_dir, *self.col_dir))

    @property
    def position_mm(self) -> tuple[float, float, float]:
        """ImagePositionPatient: centre of the first transmitted pixel."""
        return tuple(float(x) for x in self.pixel_to_patient(0.0, 0.0))  # type: ignore[return-value]

    def pixel_to_patient(self, row, col) -> np.ndarray:
        h, w = self.shape
        dr, dc = self.spacing_mm
        row = np.asarray(row, float)[..., None]
        col = np.asarray(col, float)[..., None]
        return (self.centre + self.row_dir * (col - (w - 1) / 2) * dc
                + self.col_dir * (row - (h - 1) / 2) * dr)

    def pixel_points(self, depth_mm: float = 0.0) -> np.ndarray:
        """(H, W, 3) patient coordinates of the pixel centres, shifted along the normal."""
        h, w = self.shape
        rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        return self.pixel_to_patient(rr, cc) + self.normal * depth_mm

    def moved(self, offset_mm: float) -> "Plane":
        return Plane(self.centre + self.normal * offset_mm, self.row_dir, self.col_dir, self.spacing_mm, self.shape)


def disc_plane(ph: SpinePhantom, level: str, *, spacing_mm, shape, offset_mm: float = 0.0,
               tilt_deg: tuple[float, float] = (0.0, 0.0), rotation_deg: float = 0.0,
               shift_mm: tuple[float, float] = (0.0, 0.0), centre_on: str = "canal") -> Plane:
    """An axial plane parallel to a disc (optionally tilted, rotated, shifted).

    Row direction = patient left (+x), column direction = the disc's posterior
    axis, so the normal is the column tangent (towards the head).  ``tilt_deg``
    rotates the normal about the left-right and the AP axes; ``rotation_deg``
    rotates the matrix in its own plane; ``centre_on`` "canal" puts the dural
    sac near the image centre, "body" the vertebral body.
    """
    c, t, a = ph.disc_frame(level)
    j = ph.level_index(level)
    k = min(j + 1, len(ph.body_depth) - 1)
    depth = (ph.body_depth[j] + ph.body_depth[k]) / 2
    ahead = depth / 2 + 8.0 if centre_on == "canal" else 10.0
    row = np.array([1.0, 0.0, 0.0])
    col = np.asarray(a, float)
    R = rotation(row, np.deg2rad(tilt_deg[0])) @ rotation(col, np.deg2rad(tilt_deg[1]))
    row, col = R @ row, R @ col
    n = np.cross(row, col)
    Rz = rotation(n, np.deg2rad(rotation_deg))
    row, col = Rz @ row, Rz @ col
    centre = c + a * ahead + n * offset_mm + row * shift_mm[1] + col * shift_mm[0]
    return Plane(centre, _unit(row), _unit(col), (float(spacing_mm[0]), float(spacing_mm[1])),
                 (int(shape[0]), int(shape[1])))


def _lerp_index(q: np.ndarray, n_knots: int, step: float, origin: float):
    """Lattice index and weight of positions ``q`` for linear interpolation."""
    f = (np.asarray(q, np.float64) - origin) / step
    i = np.clip(np.floor(f).astype(np.intp), 0, n_knots - 2)
    return i, (f - i).astype(np.float32)


class PlaneMapper:
    """Local ``(u, v, s)`` of any (row, col) of a plane, from a coarse lattice.

    The map from patient space to local coordinates is smooth (the column's
    radius of curvature is ~150-250 mm), so it is computed exactly on a lattice
    every ``step_mm`` and interpolated bilinearly; the error is ~0.01 mm.
    ``u`` is exactly linear and therefore exact.
    """

    def __init__(self, ph: SpinePhantom, plane: Plane, depth_mm: float = 0.0, step_mm: float = 3.0):
        h, w = plane.shape
        dr, dc = plane.spacing_mm
        self.sr = max(step_mm / dr, 1.0)
        self.sc = max(step_mm / dc, 1.0)
        self.kr = int(np.ceil((h + 1) / self.sr)) + 2
        self.kc = int(np.ceil((w + 1) / self.sc)) + 2
        rr = -1.0 + np.arange(self.kr) * self.sr
        cc = -1.0 + np.arange(self.kc) * self.sc
        R, C = np.meshgrid(rr, cc, indexing="ij")
        pts = plane.pixel_to_patient(R, C) + plane.normal * depth_mm
        u, v, s = ph.to_local(pts.reshape(-1, 3))
        self.fields = [f.reshape(self.kr, self.kc).astype(np.float32) for f in (u, v, s)]

    def at(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pointwise u, v, s (float32) at fractional (row, col) positions."""
        ir, tr = _lerp_index(rows, self.kr, self.sr, -1.0)
        ic, tc = _lerp_index(cols, self.kc, self.sc, -1.0)
        out = []
        for f in self.fields:
            top = f[ir, ic] * (1.0 - tc) + f[ir, ic + 1] * tc
            bot = f[ir + 1, ic] * (1.0 - tc) + f[ir + 1, ic + 1] * tc
            out.append(top * (1.0 - tr) + bot * tr)
        return tuple(out)  # type: ignore[return-value]

    def grid(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(len(rows), len(cols)) float32 arrays of u, v, s on a separable grid."""
        ir, tr = _lerp_index(rows, self.kr, self.sr, -1.0)
        ic, tc = _lerp_index(cols, self.kc, self.sc, -1.0)
        tr = tr[:, None]
        out = []
        for f in self.fields:
            fr = f[ir] * (1.0 - tr) + f[ir + 1] * tr  # (rows, kc)
            out.append(fr[:, ic] * (1.0 - tc) + fr[:, ic + 1] * tc)
        return tuple(out)  # type: ignore[return-value]


def plane_tissues(ph: SpinePhantom, plane: Plane, depths_mm=(0.0,), cortex_mm: float = 1.0,
                  mapper_fn=None) -> np.ndarray:
    """(len(depths), H, W) tissue codes sampled at the pixel centres.

    Posterior-element bone gets a dark cortical rim ``cortex_mm`` thick (made
    in image space; the label contract is unaffected: bone is background).
    ``mapper_fn(depth_mm)`` (optional) returns the pixel → local-coordinate
    mapper to use instead of :class:`PlaneMapper` (e.g. an elastically deformed
    one, :mod:`.randomise`).
    """
    h, w = plane.shape
    rows, cols = np.arange(h, dtype=float), np.arange(w, dtype=float)
    out = np.empty((len(depths_mm), h, w), np.uint8)
    n_erode = max(1, int(round(cortex_mm / min(plane.spacing_mm))))
    for i, d in enumerate(depths_mm):
        m = mapper_fn(d) if mapper_fn is not None else PlaneMapper(ph, plane, d)
        t = tissue_map(ph, *m.grid(rows, cols))
        if cortex_mm > 0:
            bone = t == POSTERIOR_BONE
            if bone.any():
                inner = ndimage.binary_erosion(bone, iterations=n_erode, border_value=1)
                t[bone & ~inner] = CORTEX
        out[i] = t
    return out


@dataclass(frozen=True)
class SliceTruth:
    labels: np.ndarray  # (H, W) uint8, contract values
    coverage: np.ndarray  # (4, H, W) float32
    canal_area_mm2: float | None
    lf_thickness_left_mm: float | None
    lf_thickness_right_mm: float | None
    canal_ap_mm: float | None
    level: str


def _thickness(mask: np.ndarray, spacing: tuple[float, float]) -> float | None:
    """Max thickness = twice the largest inscribed radius (EDT on a fine grid)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    edt = ndimage.distance_transform_edt(np.pad(crop, 1), sampling=spacing)
    delta = float(np.sqrt(spacing[0] * spacing[1]))
    return max(2.0 * float(edt.max()) - delta, delta)


def supersampling_factor(spacing_mm: tuple[float, float]) -> int:
    """Sub-samples per pixel side: fine spacing <= ~0.125 mm, at least 4, at most 8.

    >>> supersampling_factor((0.3, 0.3)), supersampling_factor((0.625, 0.625)), supersampling_factor((1.0, 1.0))
    (4, 7, 8)
    """
    return int(np.clip(np.ceil(max(spacing_mm) / 0.1 - 1e-9), 4, 8))


def slice_truth(ph: SpinePhantom, plane: Plane, tissues_centre: np.ndarray | None = None,
                k: int | None = None, exhaustive: bool = False, mapper=None) -> SliceTruth:
    """Exact labels/coverage and measurements on a plane (``k``×``k`` supersampling).

    Pixels whose 5×5 neighbourhood holds one label at the pixel centres are
    taken as uniform; all others are supersampled ``k``×``k`` (``exhaustive``
    supersamples every pixel of the canal window).  Area and LF thickness are
    computed on the fine grid: area = count × fine pixel area, thickness =
    twice the largest inscribed radius (Euclidean distance transform).
    ``tissues_centre`` (H, W) tissue codes at the pixel centres, if already
    computed, save one evaluation. ``mapper`` (optional) replaces the plane's
    :class:`PlaneMapper` (same ``at``/``grid`` methods), e.g. a deformed one.
    """
    h, w = plane.shape
    k = int(k or supersampling_factor(plane.spacing_mm))
    mapper = mapper if mapper is not None else PlaneMapper(ph, plane)
    if tissues_centre is None:
        lab0 = canal_parts(ph, *mapper.grid(np.arange(h, dtype=float), np.arange(w, dtype=float)))
    else:
        lab0 = TISSUE_TO_LABEL[tissues_centre]
    _, _, s_c = ph.to_local(plane.centre[None, :])
    mids = (ph.disc_s[1:] + ph.disc_s[:-1]) / 2
    level = ph.level_name(int(np.searchsorted(mids, s_c[0])))
    coverage = np.zeros((4, h, w), np.float32)
    coverage[0] = 1.0
    labels = np.zeros((h, w), np.uint8)
    rows, cols = np.nonzero(lab0)
    if rows.size == 0:
        return SliceTruth(labels, coverage, None, None, None, None, level)
    r0, r1 = max(rows.min() - 3, 0), min(rows.max() + 4, h)
    c0, c1 = max(cols.min() - 3, 0), min(cols.max() + 4, w)
    win = lab0[r0:r1, c0:c1]
    nr, nc = win.shape
    if exhaustive:
        mixed = np.ones(win.shape, bool)
    else:
        mixed = ndimage.maximum_filter(win, 5) != ndimage.minimum_filter(win, 5)
    fine = np.repeat(np.repeat(win, k, axis=0), k, axis=1)
    mr, mc = np.nonzero(mixed)
    if mr.size:
        sub = (np.arange(k, dtype=np.float32) + 0.5) / k - 0.5
        pr_ = (mr + r0)[:, None, None] + sub[None, :, None] + np.zeros((1, 1, k), np.float32)
        pc_ = (mc + c0)[:, None, None] + np.zeros((1, k, 1), np.float32) + sub[None, None, :]
        vals = canal_parts(ph, *mapper.at(pr_.ravel(), pc_.ravel())).reshape(-1, k, k)
        fine.reshape(nr, k, nc, k)[mr, :, mc, :] = vals
    blocks = fine.reshape(nr, k, nc, k)
    counts = np.stack([(blocks == lab).sum(axis=(1, 3)) for lab in (1, 2, 3)]).astype(np.float32) / (k * k)
    coverage[1:, r0:r1, c0:c1] = counts
    coverage[0, r0:r1, c0:c1] = 1.0 - counts.sum(axis=0)
    labels[r0:r1, c0:c1] = coverage[:, r0:r1, c0:c1].argmax(axis=0)
    fs = (plane.spacing_mm[0] / k, plane.spacing_mm[1] / k)
    sac = fine == 1
    n_sac = int(np.count_nonzero(sac))
    area = n_sac * fs[0] * fs[1] if n_sac else None
    lf_l = _thickness(fine == 2, fs)
    lf_r = _thickness(fine == 3, fs)
    ap = None
    if n_sac:
        # AP axis of the column at this plane, projected into the image plane
        _, _, a = ph.centre_line(s_c[0])
        pr, pc = float(np.dot(a, plane.col_dir)), float(np.dot(a, plane.row_dir))
        norm = np.hypot(pr, pc)
        pr, pc = pr / norm, pc / norm
        rr, cc = np.nonzero(sac)
        y, x = rr * fs[0], cc * fs[1]
        along = y * pr + x * pc
        across = -y * pc + x * pr
        centre = across.mean()
        band = np.abs(across - centre) <= max(fs) * 0.75
        if band.any():
            ap = float(along[band].max() - along[band].min() + np.hypot(fs[0] * pr, fs[1] * pc))
    return SliceTruth(labels, coverage, area, lf_l, lf_r, ap, level)
