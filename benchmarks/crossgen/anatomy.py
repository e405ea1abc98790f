"""One disc level's random anatomy in its own 3-D frame (numpy only).

Anatomy frame, mm: x = patient left (+), y = posterior (+), z = cranial (+)
along the spine, perpendicular to the disc (disc mid-plane z = 0); the dural
sac is centred on x = y = 0. Every structure is a 2-D :class:`StarOutline`
or :class:`Band` extruded along z with a z-dependent scale, so a tilted
slice plane cuts it the way a real angled block does.

:func:`sample_anatomy` draws the parameters; :class:`Anatomy` answers
``tissue(x, y, z)`` (painter's composition, later structures win) and
``truth(x, y, z)`` (dural sac, LF left, LF right) for flat point arrays.
The dural sac is what is left of its outline after the disc (with its
bulge), the facets, the laminae and both ligaments are cut out of it, so
the tissue map and the truth masks are the same sets by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .shapes import Band, StarOutline, bezier, normals, sdf_in_box

# tissue codes
AIR, ABDOMEN, SCFAT, MUSCLE, PSOAS, EPIFAT, MARROW, CORTEX = range(8)
ANNULUS, NUCLEUS, FACET_FLUID, LF, CSF, ROOT, CONUS, VEIN = range(8, 16)
N_TISSUES = 16

UPPER = ("T12-L1", "L1-L2", "L2-L3")
LOWER = ("L4-L5", "L5-S1")
#: how often a level is drawn stenotic (dural sac ≤ 100 mm²)
P_STENOTIC = {"L1-L2": 0.3, "L2-L3": 0.35, "L3-L4": 0.55, "L4-L5": 0.65, "L5-S1": 0.45}
DURA_MARGIN_MM = 0.3  # sac kept this far from ligament, bone and disc


@dataclass
class Params:
    level: str
    target_area_mm2: float
    sac_ctrl: np.ndarray          # unit control radii of the sac outline
    sac_z_curv: float             # sac grows as (1 + a (z/10)²) away from the disc
    fat_post_mm: float
    fat_lat_mm: float
    fat_ant_mm: float
    disc_w_mm: float
    disc_d_mm: float
    disc_h_mm: float
    kidney: float
    bulge_mm: float
    bulge_phi: float
    bulge_width: float
    nucleus_scale: float
    lf_t_mm: tuple[float, float]  # (left, right) max thickness at z = 0
    lf_bow_mm: tuple[float, float]
    lf_buckle_mm: tuple[float, float]
    lf_indent_mm: tuple[float, float]
    lf_peak: tuple[float, float]
    lf_lat_phi: tuple[float, float]
    lf_z_curv: float
    cleft_mm: float
    lamina_mm: float
    sap_r_mm: tuple[float, float]
    iap_r_mm: tuple[float, float]
    spinous_len_mm: float
    spinous_r_mm: float
    spinous_tilt: float
    muscle_depth_mm: float
    muscle_half_w_mm: float
    scfat_mm: float
    body_rx_mm: float
    body_ry_mm: float
    psoas_r_mm: float
    roots: np.ndarray             # (n, 3): x, y, radius in unit-sac coordinates
    conus: tuple[float, float, float] | None
    extra: dict = field(default_factory=dict)


def _sac_ctrl(rng: np.random.Generator, level: str) -> np.ndarray:
    phi = np.arange(16) * 2 * np.pi / 16
    ell = rng.uniform(0.0, 0.22)                  # wider (LR) than deep (AP)
    if level in UPPER:
        tri = rng.uniform(0.0, 0.05)
    elif level in LOWER:
        tri = rng.uniform(0.10, 0.24)             # triangular / trefoil
    else:
        tri = rng.uniform(0.03, 0.15)
    r = (1 + ell * np.cos(2 * phi) + tri * np.cos(3 * (phi - np.pi / 2))
         + rng.normal(0, 0.025, phi.size))
    return r


def sample_anatomy(rng: np.random.Generator, level: str) -> Params:
    stenotic = rng.random() < P_STENOTIC.get(level, 0.4)
    area = rng.uniform(42, 100) if stenotic else float(np.exp(rng.uniform(np.log(100), np.log(250))))
    thick_lf = rng.random() < (0.75 if stenotic else 0.45)
    base_t = rng.uniform(2.6, 6.5) if thick_lf else rng.uniform(1.5, 3.0)
    asym = rng.uniform(0.75, 1.25)
    t_l = float(np.clip(base_t * np.sqrt(asym), 1.5, 7.0))
    t_r = float(np.clip(base_t / np.sqrt(asym), 1.5, 7.0))
    fat_amount = rng.choice([0.0, 0.4, 1.0, 2.0], p=[0.2, 0.3, 0.3, 0.2])
    n_roots = int(rng.integers(10, 26))
    roots = []
    while len(roots) < n_roots:
        # clumped dorsally (supine patient): most roots in the posterior half
        ry = rng.uniform(0.05, 0.75) if rng.random() < 0.75 else rng.uniform(-0.6, 0.4)
        rx = rng.uniform(-0.65, 0.65)
        rr = rng.uniform(0.045, 0.09)
        if rx * rx + ry * ry > 0.6:
            continue
        if all((rx - a) ** 2 + (ry - b) ** 2 > (rr + c + 0.02) ** 2 for a, b, c in roots):
            roots.append((rx, ry, rr))
    conus = None
    if level in ("T12-L1", "L1-L2") and rng.random() < 0.6:   # the conus ends near L1-L2
        conus = (rng.uniform(-0.1, 0.1), rng.uniform(-0.15, 0.15), rng.uniform(0.3, 0.42))
    return Params(
        level=level,
        target_area_mm2=float(area),
        sac_ctrl=_sac_ctrl(rng, level),
        sac_z_curv=rng.uniform(0.0, 0.25),
        fat_post_mm=float(fat_amount * rng.uniform(1.0, 3.0)),
        fat_lat_mm=float(fat_amount * rng.uniform(0.3, 1.5)),
        fat_ant_mm=rng.uniform(0.0, 1.2),
        disc_w_mm=rng.uniform(40, 54),
        disc_d_mm=rng.uniform(30, 38),
        disc_h_mm=rng.uniform(6, 12),
        kidney=rng.uniform(0.03, 0.14),
        bulge_mm=float(rng.uniform(1.5, 6.0) if (stenotic and rng.random() < 0.7) else rng.uniform(0.0, 2.5)),
        bulge_phi=float(np.pi / 2 + rng.normal(0, 0.3)),
        bulge_width=rng.uniform(0.4, 1.0),
        nucleus_scale=rng.uniform(0.5, 0.72),
        lf_t_mm=(t_l, t_r),
        lf_bow_mm=(rng.uniform(-1.0, 2.0), rng.uniform(-1.0, 2.0)),
        lf_buckle_mm=tuple(float(rng.uniform(0.0, 2.0)) if rng.random() < 0.4 else 0.0 for _ in range(2)),
        lf_indent_mm=tuple(float(rng.uniform(0.0, 0.5) * t) if stenotic else float(rng.uniform(0.0, 0.15) * t)
                           for t in (t_l, t_r)),
        lf_peak=(rng.uniform(0.7, 1.4), rng.uniform(0.7, 1.4)),
        lf_lat_phi=(rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4)),
        lf_z_curv=rng.uniform(0.0, 0.2),
        cleft_mm=rng.uniform(0.4, 2.0),
        lamina_mm=rng.uniform(5.0, 9.0),
        sap_r_mm=(rng.uniform(4.0, 6.5), rng.uniform(4.0, 6.5)),
        iap_r_mm=(rng.uniform(4.0, 6.0), rng.uniform(4.0, 6.0)),
        spinous_len_mm=rng.uniform(22, 38),
        spinous_r_mm=rng.uniform(3.0, 5.0),
        spinous_tilt=rng.normal(0, 0.08),
        muscle_depth_mm=rng.uniform(38, 60),
        muscle_half_w_mm=rng.uniform(50, 75),
        scfat_mm=float(np.exp(rng.uniform(np.log(6), np.log(45)))),
        body_rx_mm=rng.uniform(130, 185),
        body_ry_mm=rng.uniform(95, 140),
        psoas_r_mm=rng.uniform(8, 14) if level in UPPER else rng.uniform(13, 22),
        roots=np.asarray(roots, float),
        conus=conus,
        extra={"fat_inf": float(rng.uniform(0.0, 0.45)), "vein": bool(rng.random() < 0.6),
               "fascia_mm": float(rng.uniform(14, 24)), "fascia": bool(rng.random() < 0.5)},
    )


class Anatomy:
    """Structures of one level built from :class:`Params` at sac scale ``scale`` (mm)."""

    def __init__(self, p: Params, scale: float | None = None) -> None:
        self.p = p
        if scale is None:
            scale = float(np.sqrt(p.target_area_mm2 / np.pi))
        self.scale = scale
        self.sac = StarOutline((0.0, 0.0), p.sac_ctrl * scale)
        s = self.sac
        r_ant, r_post = float(s.radius_at(np.array(-np.pi / 2))), float(s.radius_at(np.array(np.pi / 2)))
        self.r_post = r_post
        # disc / vertebral body: kidney-shaped outline anterior to the sac
        phi = np.arange(24) * 2 * np.pi / 24
        a, b = p.disc_w_mm / 2, p.disc_d_mm / 2
        base = a * b / np.sqrt((b * np.cos(phi)) ** 2 + (a * np.sin(phi)) ** 2)
        base = base * (1 - p.kidney * np.exp(-((phi - np.pi / 2 + np.pi) % (2 * np.pi) - np.pi) ** 2 / 0.5))
        post_gap = 0.7 + p.fat_ant_mm
        self.body_cy = -(r_ant + post_gap) - float(np.interp(np.pi / 2, phi, base))
        self.body = StarOutline((0.0, self.body_cy), base)
        dphi = (phi - p.bulge_phi + np.pi) % (2 * np.pi) - np.pi
        self.disc = StarOutline((0.0, self.body_cy), base + p.bulge_mm * np.exp(-dphi**2 / (2 * p.bulge_width**2 * 0.25)))
        self.nucleus = StarOutline((0.0, self.body_cy + 2.0), base * p.nucleus_scale)
        # canal fat: a halo around the sac, thickest posteriorly
        phis = np.arange(16) * 2 * np.pi / 16
        post = np.clip(np.sin(phis), 0, None) ** 2
        halo = p.fat_lat_mm + (p.fat_post_mm - p.fat_lat_mm) * post
        halo = np.where(np.sin(phis) < -0.3, p.fat_ant_mm, halo)
        self.canal = StarOutline((0.0, 0.0), p.sac_ctrl * scale + halo + 1.0)
        # ligamenta flava, laminae, facets
        self.lf: dict[int, Band] = {}
        self.lamina: dict[int, Band] = {}
        self.sap: dict[int, Band] = {}
        self.iap: dict[int, Band] = {}
        y_lf_med = 0.0
        for i, side in enumerate((+1, -1)):          # +1 = patient left (+x)
            t = p.lf_t_mm[i]
            r_end = 0.5 * t * 0.55
            med = np.array([side * (p.cleft_mm / 2 + r_end), r_post + p.fat_post_mm + 0.5 * t - p.lf_indent_mm[i] * 0.5])
            phl = p.lf_lat_phi[i]
            ang = phl if side > 0 else np.pi - phl
            rl = float(s.radius_at(np.array(ang)))
            lat = np.array([np.cos(ang), np.sin(ang)]) * (rl + p.fat_lat_mm + 0.5 * t * 0.6)
            mid = 0.5 * (med + lat)
            out = mid / (np.linalg.norm(mid) or 1.0)
            ctrl = mid + out * (p.lf_bow_mm[i] - p.lf_indent_mm[i])
            line = bezier(lat, ctrl, med, 28)
            sgrid = np.linspace(0, 1, len(line))
            prof = 0.55 + 0.45 * np.sin(np.pi * sgrid ** p.lf_peak[i])
            if p.lf_buckle_mm[i] > 0:
                bump = np.exp(-((sgrid - 0.5) ** 2) / 0.02)
                nrm = normals(line)
                nrm *= np.sign(np.sum(nrm * line, 1))[:, None]   # away from the sac
                line = line - nrm * (p.lf_buckle_mm[i] * bump)[:, None]
                prof = prof + 0.25 * bump
            radii = 0.5 * t * prof / prof.max()
            self.lf[side] = Band(line, radii)
            nrm = normals(line)
            nrm *= np.sign(np.sum(nrm * line, 1))[:, None]
            lam_line = line + nrm * (radii + 0.5 * p.lamina_mm - 0.3)[:, None]
            lam_line = np.vstack([lam_line, [[0.0, lam_line[-1, 1] + 1.0]]])
            self.lamina[side] = Band(lam_line, np.full(len(lam_line), 0.5 * p.lamina_mm))
            y_lf_med = max(y_lf_med, float(lam_line[-1, 1]))
            a1 = lat + np.array([side * (0.5 * t + 0.5), -2.0])
            a2 = a1 + np.array([side * 9.0, -7.0])
            self.sap[side] = Band(np.stack([a1, a2]), np.array([p.sap_r_mm[i], p.sap_r_mm[i] * 0.8]))
            b1 = a1 + np.array([side * (p.sap_r_mm[i] + 1.5), 4.0])
            b2 = b1 + np.array([side * 9.0, 1.0])
            self.iap[side] = Band(np.stack([b1, b2]), np.array([p.iap_r_mm[i], p.iap_r_mm[i] * 0.9]))
        sp0 = np.array([0.0, y_lf_med])
        sp1 = sp0 + p.spinous_len_mm * np.array([np.sin(p.spinous_tilt), np.cos(p.spinous_tilt)])
        self.spinous = Band(np.stack([sp0, sp1]), np.array([p.spinous_r_mm, p.spinous_r_mm * 1.2]))
        # soft tissue
        y_env = y_lf_med + p.muscle_depth_mm
        self.skin_y = y_env + p.scfat_mm
        cy_env = 0.5 * (y_env + self.body_cy)
        phi = np.arange(24) * 2 * np.pi / 24
        ax, ay = p.muscle_half_w_mm, 0.5 * (y_env - self.body_cy)
        env = (np.abs(np.cos(phi)) ** 2.6 / ax**2.6 + np.abs(np.sin(phi)) ** 2.6 / ay**2.6) ** (-1 / 2.6)
        self.muscle = StarOutline((0.0, cy_env), env)
        self.psoas = {sd: StarOutline((sd * (p.disc_w_mm / 2 + p.psoas_r_mm * 0.7), self.body_cy + 3.0),
                                      np.full(8, p.psoas_r_mm) * (1 + 0.15 * np.cos(2 * np.arange(8) * np.pi / 8)))
                      for sd in (+1, -1)}
        bx, by = p.body_rx_mm, p.body_ry_mm
        self.body_outline = StarOutline((0.0, self.skin_y - by), bx * by / np.sqrt((by * np.cos(phi)) ** 2 + (bx * np.sin(phi)) ** 2))
        self.body_inner = StarOutline((0.0, self.skin_y - by), (bx * by / np.sqrt((by * np.cos(phi)) ** 2 + (bx * np.sin(phi)) ** 2)) - p.scfat_mm)

    # -- z dependence -------------------------------------------------
    def _sac_scale(self, z: np.ndarray) -> np.ndarray:
        return 1 + self.p.sac_z_curv * (z / 10.0) ** 2

    def _lf_scale(self, z: np.ndarray) -> np.ndarray:
        return np.clip(1 - self.p.lf_z_curv * (z / 10.0) ** 2, 0.3, 1)

    def _in_disc(self, z: np.ndarray) -> np.ndarray:
        return np.abs(z) < self.p.disc_h_mm / 2

    # -- masks ----------------------------------------------------------
    def lf_sdf(self, side: int, x, y, z) -> np.ndarray:
        return sdf_in_box(self.lf[side], x, y, margin=1.0, radius_scale=self._lf_scale(z))

    def _blockers(self, x, y, z) -> np.ndarray:
        """Everything the dural sac cannot occupy (dilated by the dura margin)."""
        m = DURA_MARGIN_MM
        block = (self.disc.radial_in_box(x, y) < m) & self._in_disc(z)
        block |= self.body.radial_in_box(x, y) < m
        for side in (+1, -1):
            block |= self.lf_sdf(side, x, y, z) < m
            block |= sdf_in_box(self.sap[side], x, y) < m
            block |= sdf_in_box(self.lamina[side], x, y) < m
        return block

    def sac_mask(self, x, y, z) -> np.ndarray:
        out = self.sac.inside(x, y, self._sac_scale(z))
        idx = np.flatnonzero(out)
        if idx.size:
            out[idx] = ~self._blockers(x[idx], y[idx], z[idx])
        return out

    def truth(self, x, y, z):
        """(sac, lf_left, lf_right) boolean masks."""
        return (self.sac_mask(x, y, z), self.lf_sdf(+1, x, y, z) < 0, self.lf_sdf(-1, x, y, z) < 0)

    def tissue(self, x, y, z) -> np.ndarray:
        t = np.full(x.shape, AIR, np.int8)
        t[self.body_outline.inside(x, y)] = SCFAT
        t[self.body_inner.inside(x, y)] = ABDOMEN
        for ps in self.psoas.values():
            t[ps.inside(x, y)] = PSOAS
        mus = self.muscle.inside(x, y) & (y > self.body_cy + 5)
        t[mus] = MUSCLE
        tip = float(self.spinous.p[-1, 1])
        t[mus & (np.abs(x) < 1.2) & (y > tip)] = SCFAT            # midline septum
        fx = self.p.extra.get("fascia_mm", 20.0) + 0.35 * (y - self.spinous.p[0, 1])
        if self.p.extra.get("fascia", True):
            t[mus & (np.abs(np.abs(x) - fx) < 0.4) & (y > self.spinous.p[0, 1] + 4)] = SCFAT
        t[self.canal.inside(x, y)] = EPIFAT
        # vertebral body or disc
        disc = self._in_disc(z)
        rb = self.body.radial_in_box(x, y)
        vb = (rb < 0) & ~disc
        t[vb] = MARROW
        if self.p.extra.get("vein"):
            v = vb & (np.hypot(x / 2.5, (y - (self.body_cy + self.p.disc_d_mm / 2 - 4)) / 1.5) < 1) & (np.abs(z) > self.p.disc_h_mm / 2 + 3)
            t[v] = VEIN
        endplate = vb & (np.abs(z) < self.p.disc_h_mm / 2 + 1.2)
        t[(vb & (rb > -1.2)) | endplate] = CORTEX
        rd = self.disc.radial_in_box(x, y)
        dm = disc & (rd < 0)
        t[dm] = ANNULUS
        t[dm & self.nucleus.inside(x, y)] = NUCLEUS
        # posterior elements
        for band in (self.spinous, *self.lamina.values(), *self.iap.values()):
            d = sdf_in_box(band, x, y)
            t[d < 0] = MARROW
            t[(d < 0) & (d > -1.0)] = CORTEX
        for side in (+1, -1):
            ds = sdf_in_box(self.sap[side], x, y)
            di = sdf_in_box(self.iap[side], x, y)
            t[(ds < 0.8) & (di < 0.8) & (ds >= 0)] = FACET_FLUID
            t[ds < 0] = MARROW
            t[(ds < 0) & (ds > -1.0)] = CORTEX
        for side in (+1, -1):
            t[self.lf_sdf(side, x, y, z) < 0] = LF
        sac = self.sac_mask(x, y, z)
        t[sac] = CSF
        idx = np.flatnonzero(sac)
        if idx.size:
            sc = self.scale * self._sac_scale(z[idx])
            ux, uy = x[idx] / sc, y[idx] / sc
            sub = np.full(idx.size, CSF, np.int8)
            if self.p.conus is not None:
                cx, cy, cr = self.p.conus
                sub[np.hypot((ux - cx) / 1.2, uy - cy) < cr] = CONUS
            for rx, ry, rr in self.p.roots:
                sub[np.hypot(ux - rx, uy - ry) < rr] = ROOT
            t[idx] = sub
        return t


def calibrated(p: Params, iters: int = 3, step_mm: float = 0.1) -> Anatomy:
    """The anatomy whose sac (untilted, at the disc mid-plane) has the target area."""
    scale = float(np.sqrt(p.target_area_mm2 / np.pi))
    for _ in range(iters):
        an = Anatomy(p, scale)
        x0, x1, y0, y1 = an.sac.bbox(1.0)
        xs = np.arange(x0, x1, step_mm) + step_mm / 2
        ys = np.arange(y0, y1, step_mm) + step_mm / 2
        xx, yy = np.meshgrid(xs, ys)
        area = float(an.sac_mask(xx.ravel(), yy.ravel(), np.zeros(xx.size)).sum()) * step_mm**2
        if area <= 0:
            scale *= 1.3
            continue
        scale *= float(np.clip(np.sqrt(p.target_area_mm2 / area), 0.7, 1.5))
    return Anatomy(p, scale)
