"""Tissues of the phantom as implicit functions of local ``(u, v, s)``.

``u`` lateral (+ patient left), ``v`` posterior of the column centre line,
``s`` arc length along it (see :mod:`.phantom`).  Each structure is a
signed-distance-like test in a cross-section that changes smoothly with
``s``; posterior elements are placed relative to the nearest disc
(``w = s - disc_s``).  Cross-section parameters are tabulated per 0.25 mm of
``s`` once per phantom (:func:`build_tables`), so evaluating a point costs a
table look-up plus a few arithmetic operations.  :func:`canal_parts` gives
just what the label contract needs (dural sac, LF left/right) so it can be
supersampled cheaply; :func:`tissue_map` paints every tissue for rendering.

>>> from mri_measure.synth.phantom import make_phantom
>>> ph = make_phantom(0)
>>> j = ph.level_index("L4-L5")
>>> s = np.full(3, ph.disc_s[j], np.float32)
>>> u = np.array([0.0, 0.0, 0.0], np.float32)
>>> v = np.array([0.0, 24.0, -60.0], np.float32)   # disc centre, canal, in front
>>> [TISSUE_NAMES[t] for t in tissue_map(ph, u, v, s)]
['nucleus', 'csf', 'viscera']
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Tissue codes. 1-3 coincide with the label contract; everything else is >= 4.
AIR, CSF, LF_LEFT, LF_RIGHT = 0, 1, 2, 3
ROOT, CORD, EPIDURAL_FAT, MARROW, CORTEX, ANNULUS, NUCLEUS = 4, 5, 6, 7, 8, 9, 10
POSTERIOR_BONE, FACET_CARTILAGE, MUSCLE, PSOAS, SUBCUT_FAT, SKIN = 11, 12, 13, 14, 15, 16
VISCERA, LIGAMENT, VESSEL, FAT, NERVE = 17, 18, 19, 20, 21
TISSUE_NAMES = (
    "air", "csf", "lf_left", "lf_right", "root", "cord", "epidural_fat", "marrow", "cortex",
    "annulus", "nucleus", "posterior_bone", "facet_cartilage", "muscle", "psoas",
    "subcut_fat", "skin", "viscera", "ligament", "vessel", "fat", "nerve",
)
N_TISSUES = len(TISSUE_NAMES)

# contract label of each tissue (dural sac contents -> 1, LF -> 2/3)
TISSUE_TO_LABEL = np.zeros(N_TISSUES, np.uint8)
TISSUE_TO_LABEL[[CSF, ROOT, CORD]] = 1
TISSUE_TO_LABEL[LF_LEFT] = 2
TISSUE_TO_LABEL[LF_RIGHT] = 3

MIDLINE_GAP_MM = 0.6  # half-width of the fat cleft between left and right LF
LAMINA_MM = 6.0
_DS = 0.25  # table step along s (mm)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def smooth_interp(s: np.ndarray, knots: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Piecewise interpolation with flat tangents at the knots (a plateau at each
    disc, a smooth change between discs); constant beyond the ends.

    >>> smooth_interp(np.array([0.0, 5.0, 10.0, 20.0]), np.array([0.0, 10.0]), np.array([1.0, 3.0])).tolist()
    [1.0, 2.0, 3.0, 3.0]
    """
    i = np.clip(np.searchsorted(knots, s) - 1, 0, len(knots) - 2)
    f = _smoothstep((s - knots[i]) / (knots[i + 1] - knots[i]))
    return (values[i] * (1.0 - f) + values[i + 1] * f).astype(np.float32)


def build_tables(ph) -> dict[str, Any]:
    """Tabulate every ``s``-dependent cross-section parameter of a phantom."""
    s = np.arange(ph.s_tab[0], ph.s_tab[-1], _DS)
    kn = ph.disc_s
    mids = (kn[1:] + kn[:-1]) / 2
    j = np.searchsorted(mids, s)
    s1_top = kn[0] - ph.disc_height[0] / 2
    # the sacrum narrows steadily down to the coccyx: no abrupt, disc-like end
    taper = np.clip(1.0 - (s1_top - s) / 100.0, 0.12, 1.0)
    end = np.sqrt(np.clip((s - ph.sac_end_s) / 15.0, 0.0, 1.0))
    area = smooth_interp(s, kn, ph.sac_area_mm2)
    aspect = smooth_interp(s, kn, ph.sac_aspect)
    b = np.sqrt(area / (np.pi * aspect)) * end
    n_lumbar = ph.knobs.get("n_lumbar", 5)
    s_t12 = kn[min(n_lumbar, ph.n_discs - 1)]
    j45 = max(n_lumbar - 4, 0)
    f32 = np.float32
    t = {
        "s0": float(s[0]), "n": len(s), "s1_top": float(s1_top),
        "j": j.astype(np.int16),
        "disc_s": kn[j].astype(f32),
        "W": (np.interp(s, ph.body_s, ph.body_width) * taper).astype(f32),
        "D": (np.interp(s, ph.body_s, ph.body_depth) * np.sqrt(taper)).astype(f32),
        "bone": (s > s1_top - 88.0) & (s < ph.body_s[-1] + ph.body_height[-1] / 2),
        "ap": (smooth_interp(s, kn, ph.canal_ap_mm) * np.sqrt(taper)).astype(f32),
        "hw": (smooth_interp(s, kn, ph.canal_half_width_mm) * taper).astype(f32),
        "bow": smooth_interp(s, kn, ph.canal_bow_mm),
        "sac_b": b.astype(f32), "sac_a": (aspect * b).astype(f32),
        "sac_gap": smooth_interp(s, kn, ph.sac_gap_mm), "trefoil": smooth_interp(s, kn, ph.trefoil),
        "h": ph.disc_height[j].astype(f32), "wedge": ph.disc_wedge[j].astype(f32),
        "bulge": ph.bulge_mm[j].astype(f32), "lf_l": ph.lf_left_mm[j].astype(f32),
        "lf_r": ph.lf_right_mm[j].astype(f32), "facet": ph.facet_scale[j].astype(f32),
        "alpha": np.deg2rad(20.0 + 25.0 * np.clip(1.0 - j / 3.0, 0.0, 1.0)).astype(f32),
        "psoas": (ph.psoas_scale * (0.35 + 0.65 * np.clip((s_t12 - s) / max(s_t12, 1.0), 0, 1))
                  * (s > s1_top - 30)).astype(f32),
        "para": np.clip((s - (s1_top - 40.0)) / 40.0, 0.25, 1.0).astype(f32),
        "ql": ((s > s1_top + 20) & (s < s_t12)),
        "spread": np.clip((kn[j45] + 15.0 - s) * 0.45, 0.0, 30.0).astype(f32),
        "cord": np.sqrt(np.clip((s - ph.conus_tip_s) / 30.0, 0.0, 1.0)).astype(f32),
    }
    return t


class _Frame:
    """Per-point parameters looked up once and shared by all structures."""

    def __init__(self, ph, u, v, s):
        self.ph = ph
        T = ph.tables()
        self.u, self.v, self.s = u, v, s
        self.ua = np.abs(u)
        idx = ((s - T["s0"]) * (1.0 / _DS) + 0.5).astype(np.int32)
        np.clip(idx, 0, T["n"] - 1, out=idx)
        self.idx = idx
        self.T = T
        self._cache: dict[str, np.ndarray] = {}
        self.s1_top = T["s1_top"]
        g = self.get
        self.W, self.D = g("W"), g("D")
        self.bone_exists = g("bone")
        self.j = g("j")
        self.w = s - g("disc_s")
        self.ap, self.hw, self.bow = g("ap"), g("hw"), g("bow")
        h = g("h")
        self.h = h
        self.h_half = h / 2 * (1.0 - g("wedge") * np.clip(v / (self.D / 2), -1.3, 1.3))
        self.in_disc = (np.abs(self.w) < self.h_half) & (s > self.s1_top - 1.0)
        half_w = self.W / 2
        self.v_back = self.D / 2 - 1.5 * np.clip(1.0 - (u / half_w) ** 2, 0.0, 1.0)
        bulge = g("bulge") * np.clip(1.0 - (self.w / np.maximum(self.h_half, 0.5)) ** 2, 0, 1)
        self.bulge = np.where(self.in_disc, bulge, 0.0).astype(np.float32)
        self.v_front = self.v_back + self.bulge * np.exp(-((u / (0.32 * self.W)) ** 2))
        self.v_a0 = self.D / 2 - 1.5  # midline posterior body surface
        self._lines()
        self.in_disc_body = self._body_or_disc()

    def get(self, name):
        """Table value ``name`` at every point (gathered once, then cached)."""
        out = self._cache.get(name)
        if out is None:
            out = self._cache[name] = self.T[name][self.idx]
        return out

    def _lines(self):
        """LF / laminar-surface geometry in mirrored coordinates (ua >= 0).

        ``xi`` runs 0 → 1 from the midline apex to the lateral end next to the
        facet; ``eta`` is the distance outwards (posterior-lateral) from the
        laminar surface, which bows outwards by ``bow`` mm in the middle.
        """
        g = MIDLINE_GAP_MM
        p0v = self.v_a0 + self.ap
        dx = self.hw - g
        dy = (self.v_a0 + 3.0) - p0v
        inv_l = 1.0 / np.sqrt(dx * dx + dy * dy)
        qx = np.maximum(self.ua, g) - g
        qy = self.v - p0v
        self.xi = (qx * dx + qy * dy) * inv_l * inv_l
        eta = (qy * dx - qx * dy) * inv_l
        xi_c = np.clip(self.xi, 0.0, 1.0)
        self.eta = eta - self.bow * 4.0 * xi_c * (1.0 - xi_c)
        self.p0v = p0v
        w = self.w
        window = _smoothstep((w + 14.0) / 3.0) * _smoothstep((9.0 - w) / 3.0)
        t_side = np.where(self.u >= 0, self.get("lf_l"), self.get("lf_r"))
        xi = self.xi
        prof = np.minimum(np.minimum(0.5 + 0.5 * xi / 0.3, 1.0), 0.35 + 0.65 * (1.0 - xi) / 0.25)
        self.t_lf = t_side * window * np.clip(prof, 0.0, 1.0)
        self.lamina_present = ((w >= -1.0) | (w <= -9.0)) & self.bone_exists

    def _body_or_disc(self):
        ex = self.u / (self.W / 2)
        ey = self.v / (self.D / 2)
        self.rho_e2 = ex * ex + ey * ey
        body = (self.rho_e2 <= 1.0) & (self.v <= self.v_back) & self.bone_exists
        yb = (self.v - self.bulge / 2) / (self.D / 2 + self.bulge / 2)
        disc = (ex * ex / 1.06 + yb * yb <= 1.0) & (self.v <= self.v_front)
        return np.where(self.in_disc, disc, body)

    def pedicle(self):
        """Pedicles: rods from the body to the arch, in the upper part of each vertebra."""
        if getattr(self, "_pedicle", None) is not None:
            return self._pedicle
        present = ((self.w >= 9.0) | (self.w <= -15.0)) & self.bone_exists & (self.s > self.s1_top - 30)
        d = _seg_dist(self.ua, self.v, 0.3 * self.W, self.D / 2 - 4.0, self.hw + 1.0, self.v_a0 + 8.0)
        self._pedicle = present & (d < 4.2)
        return self._pedicle


def _seg_dist(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    ex, ey = px - ax - t * dx, py - ay - t * dy
    return np.sqrt(ex * ex + ey * ey)


def _canal(fr: _Frame) -> dict[str, np.ndarray]:
    eta, xi, t = fr.eta, fr.xi, fr.t_lf
    band = (eta <= 0.0) & (eta >= -t) & (xi >= -0.02) & (xi <= 1.0) & (fr.ua >= MIDLINE_GAP_MM) & (t > 0.05)
    reach = float(fr.ph.knobs.get("lf_reach", 1.0))
    lf = band & (xi <= reach) if reach < 1.0 else band
    canal = (eta < -t) & (xi <= 1.0) & (fr.ua <= fr.hw + 1.0) & (fr.v > fr.v_front)
    canal &= fr.bone_exists & ~fr.in_disc_body & ~fr.pedicle()
    # dural sac: ellipse with a posterior-apex trefoil, cut by everything around it
    b, a = fr.get("sac_b"), fr.get("sac_a")
    vc = fr.v_a0 + fr.get("sac_gap") + b
    x = fr.u / np.maximum(a, 1e-3)
    y = (fr.v - vc) / np.maximum(b, 1e-3)
    rho2 = x * x + y * y
    near = canal & (rho2 < 1.7) & (b > 0.3)
    sac = np.zeros_like(near)
    if near.any():
        xs, ys = x[near], y[near]
        theta = np.arctan2(ys, xs)
        r = 1.0 + fr.get("trefoil")[near] * np.cos(3.0 * (theta - np.pi / 2))
        sac[near] = rho2[near] <= r * r
    return {"lf_left": lf & (fr.u > 0), "lf_right": lf & (fr.u < 0), "canal": canal, "sac": sac,
            "sac_x": x, "sac_y": y, "sac_b": b, "sac_a": a, "lf_cut": band & ~lf}


def canal_parts(ph, u, v, s) -> np.ndarray:
    """Contract label (0-3) at local points: 1 dural sac, 2 LF left, 3 LF right.

    This is the ground truth; supersample it for exact coverage.
    """
    u, v, s = (np.asarray(x, np.float32) for x in (u, v, s))
    lab = np.zeros(u.shape, np.uint8)
    # only points near the canal can carry a label
    T = ph.tables()
    idx = np.clip(((s - T["s0"]) / _DS + 0.5).astype(np.int32), 0, T["n"] - 1)
    D = T["D"][idx]
    near = (np.abs(u) < T["hw"][idx] + 4.0) & (v > D / 2 - 6.0) & (v < D / 2 + T["ap"][idx] + 6.0)
    if not near.any():
        return lab
    fr = _Frame(ph, u[near], v[near], s[near])
    parts = _canal(fr)
    sub = np.zeros(fr.u.shape, np.uint8)
    sub[parts["sac"]] = 1
    sub[parts["lf_left"]] = 2
    sub[parts["lf_right"]] = 3
    lab[near] = sub
    return lab


def tissue_map(ph, u, v, s) -> np.ndarray:
    """Tissue code (see ``TISSUE_NAMES``) at each local point; uint8, same shape as ``u``."""
    u, v, s = (np.asarray(x, np.float32) for x in (u, v, s))
    shape = u.shape
    u, v, s = u.ravel(), v.ravel(), s.ravel()
    T = ph.tables()
    idx = np.clip(((s - T["s0"]) / _DS + 0.5).astype(np.int32), 0, T["n"] - 1)
    D, W = T["D"][idx], T["W"][idx]
    ua = np.abs(u)
    out = np.zeros(u.shape, np.uint8)
    # ---- torso: skin, subcutaneous fat, deep fat; abdomen in front
    ms, f = ph.muscle_scale, ph.fat_mm
    v_a0 = D / 2 - 1.5
    back = v_a0 + 20.0 + 30.0 * ms + f
    front = -D / 2 - ph.front_mm
    vc, bd, aw = (back + front) / 2, (back - front) / 2, ph.torso_half_width_mm
    x2 = (ua / aw) ** 2
    tor = x2 * (0.7 + 0.3 * x2) + ((v - vc) / bd) ** 2
    out[tor <= 1.0] = SKIN
    out[tor <= (1.0 - 2.5 / bd) ** 2] = SUBCUT_FAT
    x2 = (ua / (aw - 1.3 * f)) ** 2
    inner = x2 * (0.7 + 0.3 * x2) + ((v - vc + 0.1 * f) / (bd - f)) ** 2
    out[inner <= 1.0] = FAT
    v_in = front + f + 3.0  # inner anterior abdominal wall
    v_back_visc = -D / 2 - 14.0
    bv = np.maximum((v_back_visc - v_in) / 2, 5.0)
    visc = (u / (aw - 1.3 * f - 10)) ** 2 + ((v - (v_in + bv)) / bv) ** 2
    out[visc <= 1.0] = VISCERA
    # ---- muscles: paraspinal mass (multifidus + erector spinae), psoas
    # paraspinal mass: a rounded rectangle per side (superellipse, exponent 3) from the
    # spinous process out past the transverse processes, laminae to fascia
    pw = 25.0 * ms * T["para"][idx]
    top, bottom = v_a0 + 4.0, back - f - 2.0
    px = np.abs(ua - pw - 1.0) / pw
    py = np.abs(v - (top + bottom) / 2) / np.maximum((bottom - top) / 2, 5.0)
    para = px * px * px + py * py * (0.6 + 0.4 * py)
    out[para <= 1.0] = MUSCLE
    pz = T["psoas"][idx]
    pso = ((ua - (W / 2 + 3 + 10 * pz)) / (6 + 10 * pz)) ** 2 + ((v - (-1 + 2 * pz)) / (8 + 9 * pz)) ** 2
    out[pso <= 1.0] = PSOAS
    ql = ((ua - (W / 2 + 44)) / 13.0) ** 2 + ((v - (v_a0 + 8)) / 7.0) ** 2
    out[(ql <= 1.0) & T["ql"][idx]] = MUSCLE
    # ---- great vessels (flow voids) in front of the spine; iliac bifurcation near L4
    spread = T["spread"][idx]
    vy = -D / 2 - 10.0
    dv = v - vy
    art = ((u - 9.0 - spread) ** 2 + dv * dv <= 81.0) | ((spread > 3) & ((u + 2 + spread) ** 2 + dv * dv <= 42.0))
    vein = (((u + 17.0 + 0.8 * spread) / 11.0) ** 2 + ((dv + 1) / 7.0) ** 2 <= 1.0) | (
        (spread > 3) & (((u - 12 - 1.1 * spread) / 7.0) ** 2 + ((dv - 4) / 6.0) ** 2 <= 1.0))
    out[(art | vein) & (v < 0)] = VESSEL
    # ---- spine (only points in a box around the column)
    box = (ua < W / 2 + 45.0) & (v > -D / 2 - 6.0) & (v < v_a0 + T["ap"][idx] + 40.0) & T["bone"][idx]
    box |= (ua < 30.0) & (v > 0) & (v < v_a0 + T["ap"][idx] + 40.0)  # canal/sac beyond the bones
    if box.any():
        out[box] = _spine(ph, u[box], v[box], s[box], out[box])
    return out.reshape(shape)


def _facet_bars(fr: _Frame, size: np.ndarray, alpha: np.ndarray, length_scale: float):
    """Facet joint as two elongated articular processes (mirrored coordinates).

    The variant real axial slices at the disc level often show: the joint line
    starts at the lateral recess, just lateral to the LF's lateral end, and runs
    posterolaterally at ``alpha`` from the sagittal plane; the superior
    articular process (lower vertebra) is a rounded bar on its anterolateral
    side, the inferior one (upper vertebra) a bar on its posteromedial side,
    joined to the lamina. The LF's capsular part lies on the medial face of the
    superior process, so bone borders the ligament along its lateral end.
    Returns (inferior process, joint space, superior process) masks.
    """
    ca, sa = np.cos(alpha), np.sin(alpha)
    length = (11.0 + 6.0 * length_scale) * np.maximum(size, 0.3)
    ax_, ay_ = fr.hw + 0.8, fr.v_a0 + 1.5  # anteromedial end of the joint line
    bx_, by_ = ax_ + length * sa, ay_ + length * ca
    nx, ny = ca, -sa  # unit normal towards anterolateral
    gap = 0.5
    r_sap, r_iap = 2.0 * size + 0.6, 2.4 * size + 0.6
    o = gap + r_sap
    sap = _seg_dist(fr.ua, fr.v, ax_ + o * nx - 3.0 * sa, ay_ + o * ny - 3.0 * ca,
                    bx_ + o * nx, by_ + o * ny) < r_sap
    o = gap + r_iap
    iap = _seg_dist(fr.ua, fr.v, ax_ - o * nx + 1.5 * sa, ay_ - o * ny + 1.5 * ca,
                    bx_ - o * nx, by_ - o * ny) < r_iap
    joint = (_seg_dist(fr.ua, fr.v, ax_, ay_, bx_, by_) < gap + 0.3) & ~sap & ~iap
    return iap, joint, sap


def _spine(ph, u, v, s, out):
    fr = _Frame(ph, u, v, s)
    ua, W, D, s1_top = fr.ua, fr.W, fr.D, fr.s1_top
    ms = ph.muscle_scale
    # ---- body / disc
    inb = fr.in_disc_body
    body = inb & ~fr.in_disc
    rho_e = np.sqrt(fr.rho_e2)
    cortex = body & (((1.0 - rho_e) * np.minimum(W, D) / 2 < 0.9) | (fr.v_back - v < 0.9)
                     | (np.abs(fr.w) - fr.h_half < 0.8))
    out[body] = MARROW
    bv = float(ph.knobs.get("basivertebral_mm", 0.0))
    if bv > 0:  # basivertebral vein: a channel from the posterior cortex into the mid-body
        vein = body & (ua < bv) & (v > fr.v_back - 4.0 * bv - 4.0) & (np.abs(fr.w) > fr.h_half + 5.0)
        vein |= body & (np.abs(fr.w) > fr.h_half + 5.0) & (
            (ua / (3.0 * bv + 3.0)) ** 2 + ((v - (fr.v_back - 4.0 * bv - 4.0)) / (bv + 0.5)) ** 2 <= 1.0)
        out[vein] = VESSEL
    out[cortex] = CORTEX
    disc = inb & fr.in_disc
    out[disc] = ANNULUS
    nuc = (u / (0.6 * W / 2)) ** 2 + ((v + 1.5) / (0.55 * D / 2)) ** 2 + (fr.w / (0.4 * fr.h)) ** 2 <= 1.0
    out[disc & nuc] = NUCLEUS
    # ---- sacral ala and transverse processes
    ala_w = 0.5 * W + 26 * np.sqrt(np.clip((s1_top - s) / 30, 0.2, 1))
    ala = (s < s1_top - 4) & (s > s1_top - 60) & (ua > 0.3 * W) & (
        ((ua - 0.3 * W) / ala_w) ** 2 + ((v - (fr.v_a0 + 2)) / (0.5 * D + 5)) ** 2 <= 1.0)
    tp_present = ((fr.w >= 12.0) | (fr.w <= -18.0)) & fr.bone_exists & (s > s1_top)
    tp = tp_present & (_seg_dist(ua, v, fr.hw + 2.0, fr.v_a0 + 7.0, W / 2 + 22.0, fr.v_a0 + 4.0) < 3.3)
    ped = fr.pedicle()
    # ---- posterior arch: laminae, spinous processes, ligaments, facets
    eta, xi = fr.eta, fr.xi
    lam = fr.lamina_present & (eta > 0.0) & (eta <= LAMINA_MM) & (xi >= -0.12) & (xi <= 1.02)
    sp_len = 24.0 * ms
    v_sp0 = fr.p0v + 2.0
    rel = v - v_sp0
    sp_zone = (rel > 0) & (rel < LAMINA_MM + sp_len)
    spin_width = 3.2 - 1.2 * np.clip(rel / (sp_len + LAMINA_MM), 0, 1)
    spin = sp_zone & (ua < spin_width) & (fr.w >= -6.0) & (fr.w <= 19.0) & fr.bone_exists
    ligament = sp_zone & (ua < 1.6) & ~spin & fr.bone_exists
    # facet joint: the inferior articular process (upper vertebra, posteromedial, round)
    # sits in the concavity of the superior articular process (lower vertebra,
    # anterolateral, a curved shell); a thin joint space (fluid) between them
    fs = fr.get("facet")
    size = fs * np.sqrt(np.clip(1.0 - (fr.w / (13.0 * fs)) ** 2, 0.0, 1.0))
    fx, fy = ua - (fr.hw + 4.0), v - (fr.v_a0 + 11.0)
    d = np.sqrt(fx * fx + fy * fy)
    alpha = fr.get("alpha")
    facing = fx * np.cos(alpha) - fy * np.sin(alpha) > -1.5 * size  # anterolateral half
    r_iap = 4.5 * size
    if float(ph.knobs.get("facet_bars", 0.0)) > 0:
        iap, joint, sap = _facet_bars(fr, size, alpha, float(ph.knobs["facet_bars"]))
    else:
        iap = d < r_iap
        joint = (d >= r_iap) & (d < r_iap + 1.0) & facing
        sap = (d >= r_iap + 1.0) & (d < r_iap + 1.0 + 3.8 * size) & facing
    ok = fr.bone_exists & (s > s1_top - 12) & (size > 0.05)
    iap &= ok
    joint &= ok
    sap &= ok
    out[ligament] = LIGAMENT
    out[ala | tp | ped | lam | spin | iap | sap] = POSTERIOR_BONE
    out[joint] = FACET_CARTILAGE
    # ---- canal: epidural fat, LF, dural sac with cord / roots
    parts = _canal(fr)
    canal = parts["canal"]
    out[canal] = EPIDURAL_FAT
    # traversing nerve roots in the lateral recesses (outside the dura: not label 1)
    nerve = canal & ((ua - (fr.hw - 3.5)) ** 2 + (v - (fr.v_a0 + 3.0)) ** 2 <= 2.6) & (s > s1_top - 20)
    out[nerve] = NERVE
    # knob lf_reach < 1: the LF ends short of the lateral recess and the articular
    # process's bone takes its place there, so bone borders the canal beside the sac
    out[parts["lf_cut"] & fr.bone_exists & (s > s1_top - 12)] = POSTERIOR_BONE
    out[parts["lf_left"]] = LF_LEFT
    out[parts["lf_right"]] = LF_RIGHT
    sac = parts["sac"]
    if sac.any():
        idx = np.nonzero(sac)[0]
        x, y, b = parts["sac_x"][idx], parts["sac_y"][idx], parts["sac_b"][idx]
        a = parts["sac_a"][idx]
        ss = s[idx]
        ct = fr.get("cord")[idx]
        cord = ((x * a / (4.6 * ct + 1e-3)) ** 2 + ((y * b + 1.0) / (3.8 * ct + 1e-3)) ** 2 <= 1.0) & (ct > 0.15)
        root = np.zeros(idx.shape, bool)
        below_conus = ss < ph.conus_tip_s + 10
        for ru, rv, rr, exit_s in ph.roots:
            d2 = ((x - ru) * a) ** 2 + ((y - rv) * b) ** 2
            root |= (d2 <= rr * rr) & (ss > exit_s)
        root &= below_conus
        out[idx] = np.where(cord, CORD, np.where(root, ROOT, CSF)).astype(np.uint8)
    return out
