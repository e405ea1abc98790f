"""The 3-D parametric lumbar spine: a curved column and per-level knobs.

Coordinates are DICOM patient coordinates (LPS, mm): +x patient left,
+y posterior, +z head.  The column's centre line lies in the mid-sagittal
plane (x = 0) and is described by arc length ``s`` (mm, 0 at the centre of
the lowest lumbar disc, increasing towards the head) and the angle ``phi(s)``
of its head-pointing tangent, tilted towards posterior.  Every 3-D point maps
to *local* coordinates ``(u, v, s)``: ``u`` = x (lateral, + patient left),
``v`` = distance behind the centre line along the in-plane posterior axis,
``s`` = arc length of its foot point.  Anatomy (see :mod:`.anatomy`) is
written as implicit functions of ``(u, v, s)``, so any plane can be sampled by
evaluating the points of a 2-D grid.

>>> ph = make_phantom(0)
>>> ph.discs[-1], ph.discs[0]
('L5-S1', 'T10-T11')
>>> centre, normal, posterior = ph.disc_frame("L4-L5")
>>> round(float(np.linalg.norm(normal)), 6), round(float(np.dot(normal, posterior)), 6)
(1.0, 0.0)
>>> u, v, s = ph.to_local(centre[None, :])
>>> bool(abs(v[0]) < 1e-3 and abs(s[0] - ph.disc_s[ph.level_index("L4-L5")]) < 1e-3)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import OptionError

STENOSIS_GRADES = ("none", "moderate", "severe")

# Typical adult sizes (mm) per vertebra: body width, body depth, body height.
_BODY_SIZE = {
    "T10": (36.0, 27.0, 21.0),
    "T11": (38.0, 28.0, 22.0),
    "T12": (40.0, 29.0, 23.0),
    "L1": (43.0, 30.0, 25.0),
    "L2": (45.0, 31.0, 26.0),
    "L3": (47.0, 32.0, 26.0),
    "L4": (49.0, 33.0, 26.0),
    "L5": (51.0, 33.0, 25.0),
    "L6": (51.0, 33.0, 25.0),
    "S1": (50.0, 33.0, 28.0),
}
# Disc height (mm) by position counted from the sacrum (0 = lowest lumbar disc).
_DISC_HEIGHT_FROM_SACRUM = (10.5, 11.0, 10.0, 9.0, 8.5, 7.5, 7.0, 6.5, 6.0)
_DISC_WEDGE_FROM_SACRUM = (0.35, 0.2, 0.12, 0.08, 0.05, 0.03, 0.02, 0.02, 0.02)


def _names(n_lumbar: int) -> tuple[str, ...]:
    """Vertebra names from caudal to cranial: S1, L5 … L1, T12, T11, T10."""
    lumbar = [f"L{i}" for i in range(n_lumbar, 0, -1)]
    return ("S1", *lumbar, "T12", "T11", "T10")


@dataclass(frozen=True, eq=False)
class SpinePhantom:
    """A seeded, continuous 3-D lumbar spine.

    Per-disc arrays (index ``j``, caudal → cranial, matching ``discs``) hold
    the pathology knobs; per-vertebra arrays (index ``k``, matching
    ``vertebrae``) the bony sizes.  Build one with :func:`make_phantom`.
    """

    seed: int
    stenosis: str
    vertebrae: tuple[str, ...]
    discs: tuple[str, ...]  # cranial → caudal order (human reading order)
    # per disc, index j from caudal (0 = lowest lumbar disc)
    disc_s: np.ndarray
    disc_height: np.ndarray
    disc_wedge: np.ndarray
    lf_left_mm: np.ndarray
    lf_right_mm: np.ndarray
    sac_area_mm2: np.ndarray  # target area of the un-compressed sac shape
    sac_aspect: np.ndarray  # lateral / AP semi-axis ratio
    sac_gap_mm: np.ndarray  # anterior epidural space
    trefoil: np.ndarray
    canal_ap_mm: np.ndarray  # midline distance body back → laminar surface
    canal_half_width_mm: np.ndarray  # lateral end of the laminar surface
    canal_bow_mm: np.ndarray
    bulge_mm: np.ndarray
    facet_scale: np.ndarray
    nucleus_signal: np.ndarray  # 1 healthy, lower = degenerated (rendering)
    slip_mm: np.ndarray  # anterior slip of the vertebra above the disc
    # per vertebra, index k from caudal (0 = S1)
    body_s: np.ndarray
    body_width: np.ndarray
    body_depth: np.ndarray
    body_height: np.ndarray
    # centre-line tables
    s_tab: np.ndarray
    cy_tab: np.ndarray
    cz_tab: np.ndarray
    phi_tab: np.ndarray
    kappa_tab: np.ndarray
    slip_tab: np.ndarray
    # body habitus and canal contents
    fat_mm: float
    torso_half_width_mm: float
    front_mm: float
    muscle_scale: float
    psoas_scale: float
    conus_tip_s: float
    sac_end_s: float
    roots: np.ndarray  # (n, 4): u_norm, v_norm, radius_mm, exit_s
    knobs: dict[str, Any] = field(default_factory=dict)
    _tables: dict[str, Any] = field(default_factory=dict, repr=False)

    def tables(self) -> dict[str, Any]:
        """Per-``s`` lookup tables of every cross-section parameter (built once)."""
        if not self._tables:
            from .anatomy import build_tables

            self._tables.update(build_tables(self))
        return self._tables

    # ------------------------------------------------------------ levels
    @property
    def n_discs(self) -> int:
        return len(self.disc_s)

    def level_index(self, level: str) -> int:
        """Index ``j`` (from caudal) of a disc level name such as ``"L4-L5"``."""
        names = self.discs[::-1]
        if level not in names:
            raise OptionError(
                f"disc level {level!r} is not in this phantom; choose one of {', '.join(self.discs)}"
            )
        return names.index(level)

    def level_name(self, j: int) -> str:
        return self.discs[::-1][j]

    # ------------------------------------------------------------ curve
    def centre_line(self, s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centre point, unit tangent (towards head) and unit posterior axis at ``s``."""
        s = np.asarray(s, dtype=float)
        y = np.interp(s, self.s_tab, self.cy_tab)
        z = np.interp(s, self.s_tab, self.cz_tab)
        phi = np.interp(s, self.s_tab, self.phi_tab)
        zero = np.zeros_like(y)
        c = np.stack([zero, y, z], axis=-1)
        t = np.stack([zero, np.sin(phi), np.cos(phi)], axis=-1)
        a = np.stack([zero, np.cos(phi), -np.sin(phi)], axis=-1)
        return c, t, a

    def disc_frame(self, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre, normal, posterior) of a disc mid-plane in patient mm.

        The centre is the middle of the disc on the column's centre line; the
        normal is the column tangent (towards the head); ``posterior`` is the
        in-plane axis towards the patient's back.
        """
        j = self.level_index(level)
        c, t, a = self.centre_line(self.disc_s[j])
        return c, t, a

    def to_local(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Map (N, 3) patient points to local ``(u, v, s)`` (float32 arrays).

        Newton iterations on the foot point of each point on the centre line;
        ``v`` includes the spondylolisthesis shear (structures above a slipped
        disc sit ``slip_mm`` further anterior).
        """
        p = np.asarray(points, dtype=np.float64)
        px, py, pz = p[:, 0], p[:, 1], p[:, 2]
        s = np.interp(pz, self.cz_tab, self.s_tab)
        for _ in range(3):
            cy = np.interp(s, self.s_tab, self.cy_tab)
            cz = np.interp(s, self.s_tab, self.cz_tab)
            phi = np.interp(s, self.s_tab, self.phi_tab)
            kap = np.interp(s, self.s_tab, self.kappa_tab)
            sn, cs = np.sin(phi), np.cos(phi)
            dy, dz = py - cy, pz - cz
            f = dy * sn + dz * cs
            v = dy * cs - dz * sn
            s = s + f / np.maximum(1.0 - kap * v, 0.2)
        cy = np.interp(s, self.s_tab, self.cy_tab)
        cz = np.interp(s, self.s_tab, self.cz_tab)
        phi = np.interp(s, self.s_tab, self.phi_tab)
        sn, cs = np.sin(phi), np.cos(phi)
        v = (py - cy) * cs - (pz - cz) * sn
        # points near or beyond the centre of curvature have no unique foot point:
        # put them far outside the body (they lie in the air behind the patient)
        kap = np.interp(s, self.s_tab, self.kappa_tab)
        bad = (np.abs((py - cy) * sn + (pz - cz) * cs) > 0.5) | (kap * v > 0.8)
        v = np.where(bad, 1e4, v + np.interp(s, self.s_tab, self.slip_tab))
        return px.astype(np.float32), v.astype(np.float32), s.astype(np.float32)


def _level_knobs(names_caudal: list[str], rng: np.random.Generator, stenosis: str) -> dict[str, np.ndarray]:
    n = len(names_caudal)
    pos = np.arange(n, dtype=float)  # 0 = lowest lumbar disc
    lumbar_low = np.clip(1.0 - pos / 3.0, 0.0, 1.0)  # 1 at L5-S1 … 0 from L2-L3 up
    lf_l = rng.uniform(2.2, 3.4, n) * np.where(pos > 4, 0.8, 1.0)
    lf_r = np.clip(lf_l + rng.normal(0.0, 0.2, n), 1.6, None)
    area = rng.uniform(135.0, 175.0, n)
    area[0] = rng.uniform(120.0, 165.0)
    aspect = rng.uniform(1.2, 1.45, n)
    gap = np.where(pos == 0, rng.uniform(1.8, 3.0, n), rng.uniform(0.7, 1.4, n))
    trefoil = 0.02 + 0.1 * np.clip(1.0 - (pos - 1) / 2.0, 0, 1) * rng.uniform(0.7, 1.2, n)
    canal_ap = rng.uniform(18.5, 21.0, n) + 1.0 * (pos == 0)
    half_w = 13.0 + 3.0 * lumbar_low + rng.uniform(-0.5, 0.5, n)
    bow = 2.6 - 1.8 * np.clip(1.0 - (pos - 1) / 2.0, 0, 1) + rng.uniform(-0.3, 0.3, n)
    bulge = rng.uniform(0.0, 1.2, n) * (pos < 4)
    facet = 1.0 + rng.uniform(-0.05, 0.1, n)
    nucleus = np.clip(1.0 - 0.25 * lumbar_low * rng.uniform(0, 1.5, n), 0.45, 1.0)
    knobs = dict(
        lf_left_mm=lf_l, lf_right_mm=lf_r, sac_area_mm2=area, sac_aspect=aspect,
        sac_gap_mm=gap, trefoil=trefoil, canal_ap_mm=canal_ap, canal_half_width_mm=half_w,
        canal_bow_mm=bow, bulge_mm=bulge, facet_scale=facet, nucleus_signal=nucleus,
        slip_mm=np.zeros(n),
    )
    if stenosis != "none":
        j45 = names_caudal.index("L4-L5") if "L4-L5" in names_caudal else 1
        j34 = j45 + 1
        if stenosis == "moderate":
            lf = rng.uniform(4.2, 5.0, 2)
            knobs["sac_area_mm2"][j45] = rng.uniform(78.0, 90.0)
            knobs["bulge_mm"][j45] = rng.uniform(1.5, 2.5)
        else:
            lf = rng.uniform(5.2, 6.0, 2)
            knobs["sac_area_mm2"][j45] = rng.uniform(52.0, 64.0)
            knobs["bulge_mm"][j45] = rng.uniform(2.5, 3.5)
            knobs["lf_left_mm"][j34] = rng.uniform(3.8, 4.3)
            knobs["lf_right_mm"][j34] = rng.uniform(3.8, 4.3)
            knobs["sac_area_mm2"][j34] = rng.uniform(92.0, 105.0)
            knobs["facet_scale"][j34] = 1.15
        knobs["lf_left_mm"][j45], knobs["lf_right_mm"][j45] = lf
        knobs["trefoil"][j45] = 0.14
        knobs["facet_scale"][j45] = 1.2 if stenosis == "moderate" else 1.3
        knobs["nucleus_signal"][j45] = 0.55
    return knobs


def _apply_per_level(arr: np.ndarray, value: Any, names_caudal: list[str], knob: str) -> None:
    """Set a per-disc knob from a scalar (all levels) or a {level: value} dict."""
    if isinstance(value, dict):
        for level, val in value.items():
            if level not in names_caudal:
                raise OptionError(f"knob {knob}: unknown disc level {level!r}")
            arr[names_caudal.index(level)] = float(val)
    else:
        arr[:] = float(value)


_PER_LEVEL_KNOBS = (
    "lf_left_mm", "lf_right_mm", "sac_area_mm2", "sac_aspect", "trefoil", "canal_ap_mm",
    "canal_half_width_mm", "canal_bow_mm", "bulge_mm", "facet_scale", "nucleus_signal", "slip_mm", "sac_gap_mm",
)


def make_phantom(seed: int, *, stenosis: str = "none", **knobs: Any) -> SpinePhantom:
    """A seeded random lumbar spine.

    Knobs (all optional): ``n_lumbar`` (4, 5 or 6: transitional anatomy),
    ``lordosis_deg`` (L1–S1 curve), ``asymmetry`` (0–1, left/right LF
    difference), ``lf_thickness_mm`` (scalar or ``{level: (left, right)}``),
    and any per-level array knob (``lf_left_mm``, ``lf_right_mm``,
    ``sac_area_mm2``, ``bulge_mm``, ``facet_scale``, ``slip_mm``, …) as a scalar
    or ``{level: value}``.  ``stenosis`` "moderate"/"severe" narrows the canal
    and thickens the LF at L4-L5 (and milder at L3-L4 for severe).

    >>> ph = make_phantom(3, stenosis="severe")
    >>> j = ph.level_index("L4-L5")
    >>> bool(ph.lf_left_mm[j] > 5.0 and ph.sac_area_mm2[j] < 70)
    True
    """
    if stenosis not in STENOSIS_GRADES:
        raise OptionError(f"stenosis must be one of {', '.join(STENOSIS_GRADES)}, not {stenosis!r}")
    knobs = dict(knobs)
    n_lumbar = int(knobs.pop("n_lumbar", 5))
    if n_lumbar not in (4, 5, 6):
        raise OptionError(f"n_lumbar must be 4, 5 or 6 (transitional anatomy), not {n_lumbar}")
    rng = np.random.default_rng([int(seed), 7919])
    verts = _names(n_lumbar)
    disc_names_caudal = [f"{verts[k + 1]}-{verts[k]}" for k in range(len(verts) - 1)]
    # ---- sizes
    scale = rng.uniform(0.92, 1.08)
    size = np.array([_BODY_SIZE[v] for v in verts]) * scale
    size[:, 2] *= rng.uniform(0.95, 1.05, len(verts))
    n_d = len(disc_names_caudal)
    dh = np.array(_DISC_HEIGHT_FROM_SACRUM[:n_d]) * rng.uniform(0.85, 1.1, n_d)
    wedge = np.array(_DISC_WEDGE_FROM_SACRUM[:n_d])
    lv = _level_knobs(disc_names_caudal, rng, stenosis)
    phantom_knobs_given = set(knobs)
    if "lf_thickness_mm" in knobs:
        val = knobs.pop("lf_thickness_mm")
        if isinstance(val, dict):
            for level, pair in val.items():
                if level not in disc_names_caudal:
                    raise OptionError(f"knob lf_thickness_mm: unknown disc level {level!r}")
                left, right = (pair, pair) if np.isscalar(pair) else pair
                lv["lf_left_mm"][disc_names_caudal.index(level)] = float(left)
                lv["lf_right_mm"][disc_names_caudal.index(level)] = float(right)
        else:
            lv["lf_left_mm"][:] = float(val)
            lv["lf_right_mm"][:] = float(val)
    if "lf_thickness_mm" in phantom_knobs_given and (
            np.any(lv["lf_left_mm"] < 0.5) or np.any(lv["lf_left_mm"] > 9.0)
            or np.any(lv["lf_right_mm"] < 0.5) or np.any(lv["lf_right_mm"] > 9.0)):
        raise OptionError("LF thickness must be between 0.5 and 9 mm")
    asym = float(knobs.pop("asymmetry", 0.0))
    if asym:
        f = 1.0 + asym * rng.uniform(-0.35, 0.35, n_d)
        # kept within the valid range: a severe grade's 6.5 mm LF times 1.35 would
        # otherwise fail the check below (1 phantom in ~500 at asymmetry 1)
        lv["lf_left_mm"] = np.clip(lv["lf_left_mm"] * f, 0.5, 9.0)
        lv["lf_right_mm"] = np.clip(lv["lf_right_mm"] / f, 0.5, 9.0)
    lordosis = float(knobs.pop("lordosis_deg", rng.uniform(25.0, 45.0)))
    for name in _PER_LEVEL_KNOBS:
        if name in knobs:
            _apply_per_level(lv[name], knobs.pop(name), disc_names_caudal, name)
    if knobs:
        raise OptionError(f"unknown phantom knob(s): {', '.join(sorted(knobs))}")
    for key in ("lf_left_mm", "lf_right_mm"):
        if np.any(lv[key] < 0.5) or np.any(lv[key] > 9.0):
            raise OptionError("LF thickness must be between 0.5 and 9 mm")
    # ---- positions along the column (s = 0 at the lowest disc centre)
    disc_s = np.zeros(n_d)
    body_s = np.zeros(len(verts))
    body_s[0] = -dh[0] / 2 - size[0, 2] / 2
    for j in range(1, n_d):
        disc_s[j] = disc_s[j - 1] + dh[j - 1] / 2 + size[j, 2] + dh[j] / 2
    for k in range(1, len(verts)):
        body_s[k] = disc_s[k - 1] + dh[k - 1] / 2 + size[k, 2] / 2
    # ---- centre line: tangent angle (towards posterior) grows linearly up the lumbar spine
    s_tab = np.arange(-260.0, disc_s[-1] + 160.0, 0.5)
    s_top = disc_s[min(n_lumbar, n_d - 1)]  # thoraco-lumbar junction
    # Lordosis is concentrated low (L4-S1): the tangent angle rises like
    # 1 - exp(-s / 120 mm); radius of curvature stays >= ~110 mm so that the
    # back (v up to ~95 mm) keeps a unique foot point on the centre line.
    phi0 = np.deg2rad(-rng.uniform(22.0, 32.0))
    lam = np.deg2rad(lordosis)
    L = 120.0
    g = (1.0 - np.exp(-np.clip(s_tab, 0, s_top) / L)) / (1.0 - np.exp(-s_top / L))
    kappa_t = np.deg2rad(rng.uniform(0.0, 6.0)) / 100.0
    # the sacrum tilts further back below L5-S1 (radius of curvature >= ~150 mm)
    sacral_tilt = np.deg2rad(rng.uniform(15.0, 25.0))
    phi = phi0 + lam * g + np.where(s_tab > s_top, kappa_t * (s_tab - s_top), 0.0) \
        - np.where(s_tab < 0, sacral_tilt * (1.0 - np.exp(np.minimum(s_tab, 0.0) / 60.0)), 0.0)
    kappa = np.gradient(phi, s_tab)
    ds = 0.5
    dy = np.sin(phi) * ds
    dz = np.cos(phi) * ds
    cy = np.concatenate([[0.0], np.cumsum((dy[1:] + dy[:-1]) / 2)])
    cz = np.concatenate([[0.0], np.cumsum((dz[1:] + dz[:-1]) / 2)])
    # place the L3 region near the origin, like a scanner isocentre on the lumbar spine
    ref = disc_s[min(2, n_d - 1)]
    cy = cy - np.interp(ref, s_tab, cy) + rng.uniform(-10, 10)
    cz = cz - np.interp(ref, s_tab, cz) + rng.uniform(-15, 15)
    # ---- spondylolisthesis: structures above a slipped disc shift anteriorly
    slip_tab = np.zeros_like(s_tab)
    for j in range(n_d):
        if lv["slip_mm"][j]:
            t = np.clip((s_tab - disc_s[j] + dh[j] / 2) / dh[j], 0, 1)
            slip_tab += lv["slip_mm"][j] * t * t * (3 - 2 * t)
    # ---- canal contents
    n_roots = 22
    ang = rng.uniform(0.15 * np.pi, 0.85 * np.pi, n_roots)
    rad = rng.uniform(0.35, 0.8, n_roots)
    roots = np.stack([
        np.cos(ang) * rad * 1.05, np.sin(ang) * rad * 0.9,
        rng.uniform(0.6, 1.1, n_roots),
        disc_s[rng.integers(0, min(n_lumbar + 1, n_d), n_roots)] - 3.0,
    ], axis=1)
    j_l1 = n_lumbar - 1  # disc L1-L2
    conus_tip_s = float(disc_s[j_l1] + rng.uniform(5, 25))
    sac_end_s = float(-dh[0] / 2 - rng.uniform(40, 55))
    return SpinePhantom(
        seed=int(seed), stenosis=stenosis, vertebrae=verts,
        discs=tuple(disc_names_caudal[::-1]),
        disc_s=disc_s, disc_height=dh, disc_wedge=wedge,
        body_s=body_s, body_width=size[:, 0], body_depth=size[:, 1], body_height=size[:, 2],
        s_tab=s_tab, cy_tab=cy, cz_tab=cz, phi_tab=phi, kappa_tab=kappa, slip_tab=slip_tab,
        fat_mm=float(rng.uniform(8, 28)), torso_half_width_mm=float(rng.uniform(135, 175)),
        front_mm=float(rng.uniform(95, 140)), muscle_scale=float(rng.uniform(0.85, 1.15)),
        psoas_scale=float(rng.uniform(0.8, 1.2)), conus_tip_s=conus_tip_s, sac_end_s=sac_end_s,
        roots=roots, knobs={"n_lumbar": n_lumbar, "lordosis_deg": lordosis},
        **lv,
    )


def with_level_knobs(ph: SpinePhantom, level: str, **values: float) -> SpinePhantom:
    """A copy of ``ph`` with per-level knobs changed at one disc level."""
    j = ph.level_index(level)
    changes = {}
    for name, val in values.items():
        if name not in _PER_LEVEL_KNOBS:
            raise OptionError(f"unknown per-level knob {name!r}")
        arr = getattr(ph, name).copy()
        arr[j] = float(val)
        changes[name] = arr
    return replace(ph, _tables={}, **changes)
