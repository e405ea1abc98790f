"""Random mid-sagittal spine scenes (label maps) for training the disc detector.

A scene is a 2-D tissue-label map in the canonical sagittal view used by
:mod:`mri_measure.levels.sagittal` — rows run head → feet, columns anterior →
posterior, ``SCENE_MM`` millimetres per pixel — with the disc and vertebra
instances it contains. It is built in *straightened* coordinates along the
posterior wall of the vertebral column (``u``: arc length downward, ``v``:
distance anterior of the wall) and bent into the image along a random
thoraco-lumbo-sacral curve: thoracic kyphosis above, lumbar lordosis, the
lumbosacral angle concentrated at L5-S1, the sacrum curving backwards and the
coccyx forwards.

What the detector must not confuse with a disc is drawn on purpose: the
sacral segments' remnant discs (short and thin, they do not cross the whole
sacrum), endplate cortex, Modic/haemangioma spots in the bodies, the
posterior elements (laminae, spinous processes), vessels, bowel and pelvic
organs, and thin or dark degenerate discs beside bright healthy ones. The
number of lumbar vertebrae varies (4–6 above the sacrum: transitional
anatomy), discs slip (spondylolisthesis) and bulge, and the field of view
cuts the scene anywhere above the pelvis.

Intensities are made separately (:func:`render_scene`): either T2-like
tissue priors with wide jitter or fully random per-tissue values (domain
randomisation), per-instance variation (each disc and body its own
brightness), texture, blur, bias field, noise and gamma.

>>> rng = np.random.default_rng(0)
>>> scene = make_scene(rng)
>>> scene.labels.dtype, scene.labels.ndim
(dtype('uint8'), 2)
>>> int(scene.n_discs) >= 5 and bool((scene.target == TARGET_DISC).any())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

SCENE_MM = 1.0  # millimetres per scene pixel
SCENE_SHAPE = (400, 340)  # rows × cols (mm)

# tissue labels of a scene
(AIR, ANNULUS, NUCLEUS, MARROW, CORTEX, SACRUM_MARROW, REMNANT, CSF, CORD, EPIDURAL_FAT,
 POSTERIOR_BONE, POSTERIOR_SOFT, SUBCUT_FAT, PREVERTEBRAL, VESSEL, ORGAN_A, ORGAN_B, ORGAN_C,
 ABDOMINAL_FAT, SPOT, LIGAMENT, SACRUM_CORTEX, SKIN) = range(23)
N_TISSUES = 23

# detector targets
TARGET_BACKGROUND, TARGET_DISC, TARGET_VERTEBRA, TARGET_SACRUM = range(4)
TARGET_NAMES = ("background", "disc", "vertebra", "sacrum")
_TARGET_OF = np.zeros(N_TISSUES, np.uint8)
_TARGET_OF[[ANNULUS, NUCLEUS]] = TARGET_DISC
_TARGET_OF[[MARROW, CORTEX, SPOT]] = TARGET_VERTEBRA
_TARGET_OF[[SACRUM_MARROW, REMNANT, SACRUM_CORTEX]] = TARGET_SACRUM


@dataclass(frozen=True)
class Scene:
    labels: np.ndarray  # (H, W) uint8 tissue labels
    instance: np.ndarray  # (H, W) int16: disc k → 1 + k (head → feet), body k → 100 + k, else 0
    n_discs: int  # discs above the sacrum in the scene (all of them, also outside a later crop)

    @property
    def target(self) -> np.ndarray:
        return _TARGET_OF[self.labels]


def _theta_profile(rng, n_thoracic: int, n_lumbar: int) -> list[float]:
    """Tilt of the column toward posterior (radians from straight down) at each
    segment: thoracic vertebrae, lumbar vertebrae, then S1…S5 and coccyx."""
    out = []
    t_top, t_l1 = rng.uniform(-0.45, 0.0), rng.uniform(-0.3, 0.05)  # thoracic kyphosis
    for i in range(n_thoracic):
        out.append(t_top + (t_l1 - t_top) * i / n_thoracic + rng.normal(0, 0.03))
    t_l5 = rng.uniform(0.1, 0.5)  # lumbar lordosis
    for i in range(n_lumbar):
        out.append(t_l1 + (t_l5 - t_l1) * (i / max(n_lumbar - 1, 1)) ** 1.5 + rng.normal(0, 0.04))
    s1 = max(t_l5 + 0.1, rng.uniform(0.45, 1.0))  # sacral slope
    for d in (0.0, 0.1, 0.2, 0.2, 0.05, -0.35):
        out.append(s1 + d * rng.uniform(0.5, 1.5))
    return out


def make_scene(rng: np.random.Generator, shape=SCENE_SHAPE) -> Scene:
    """One random mid-sagittal scene (see the module docstring)."""
    H, W = shape
    size = rng.uniform(0.8, 1.2)  # body size
    n_lumbar = int(rng.choice([4, 5, 5, 5, 5, 5, 5, 6]))
    n_thoracic = 8
    heights, discs, depths = [], [], []  # vertebra height, disc height below it, AP depth
    for i in range(n_thoracic):
        heights.append(size * rng.uniform(17, 23) * (0.85 + 0.15 * i / n_thoracic))
        discs.append(size * rng.uniform(3.5, 7.0))
        depths.append(size * rng.uniform(24, 32))
    for i in range(n_lumbar):
        heights.append(size * rng.uniform(23, 31))
        d = size * rng.uniform(6.5, 13.0)
        if rng.random() < 0.3:  # degenerate: thin
            d *= rng.uniform(0.3, 0.7)
        discs.append(d)
        depths.append(size * rng.uniform(30, 44))
    n_vert = n_thoracic + n_lumbar
    sac = [size * v for v in (rng.uniform(22, 28), rng.uniform(17, 22), rng.uniform(13, 17),
                               rng.uniform(10, 13), rng.uniform(8, 11), rng.uniform(15, 30))]
    sac_depth = [size * v for v in (rng.uniform(38, 50), 32, 25, 19, 14, 9)]
    remnant = [size * rng.uniform(0.5, 3.5) * (rng.random() < 0.8) for _ in range(5)]
    theta = _theta_profile(rng, n_thoracic, n_lumbar)

    # segment list along u: (kind, index, u0, u1, depth, theta)
    segs = []
    u = 0.0
    for i in range(n_vert):
        segs.append(("body", i, u, u + heights[i], depths[i], theta[i]))
        u += heights[i]
        segs.append(("disc", i, u, u + discs[i], 0.5 * (depths[i] + (depths[i + 1] if i + 1 < n_vert else sac_depth[0])), None))
        u += discs[i]
    for k in range(6):
        segs.append(("sacrum" if k < 5 else "coccyx", k, u, u + sac[k], sac_depth[k], theta[n_vert + k]))
        u += sac[k]
        if k < 4:
            segs.append(("remnant", k, u, u + remnant[k], sac_depth[k], None))
            u += remnant[k]
    u_total = u

    # the wall curve: each bone's tilt at its centre, interpolated along the arc and smoothed
    du = 0.25
    us = np.arange(0.0, u_total + 60.0, du)
    bones = [(0.5 * (s[2] + s[3]), s[5]) for s in segs if s[5] is not None]
    th = np.interp(us, [b[0] for b in bones], [b[1] for b in bones])
    th = ndi.gaussian_filter1d(th, 4.0 / du)
    th += rng.uniform(-0.2, 0.2)  # patient position
    tang = np.stack([np.cos(th), np.sin(th)], 1)  # (down, posterior) per step
    pts = np.cumsum(tang * du, 0)
    # place the scene: random vertical offset so that the field of view starts anywhere
    # between T6 and L2 and reaches below the sacrum or not
    u_s1 = next(s[2] for s in segs if s[0] == "sacrum")
    top_u = rng.uniform(u_s1 - 0.9 * H * SCENE_MM, u_s1 - 0.45 * H * SCENE_MM)
    k_top = int(np.clip(top_u / du, 0, len(us) - 1))
    origin = np.array([pts[k_top, 0], pts[k_top, 1]])
    pts = pts - origin  # row (mm) 0 at top_u
    col_wall = rng.uniform(0.35, 0.7) * W * SCENE_MM
    pts[:, 1] += col_wall - pts[k_top:, 1].mean() * 0.3
    tree = cKDTree(pts)
    rr, cc = np.mgrid[0:H, 0:W].astype(np.float32) * SCENE_MM
    P = np.stack([rr.ravel(), cc.ravel()], 1)
    _, idx = tree.query(P)
    U = us[idx].reshape(H, W)
    t = tang[idx]
    ant = np.stack([t[:, 1], -t[:, 0]], 1)  # anterior normal: the tangent turned by −90°
    V = np.einsum("ij,ij->i", P - pts[idx], ant).reshape(H, W)

    lab = np.full((H, W), POSTERIOR_SOFT, np.uint8)
    inst = np.zeros((H, W), np.int16)

    # --- posterior to the wall: canal, epidural fat, posterior elements, fat, skin, air
    canal = size * rng.uniform(11, 18)
    cord_end_u = next(s[2] for s in segs if s[0] == "body" and s[1] == n_thoracic + 1) + rng.uniform(-15, 10)
    sac_end_u = next(s[3] for s in segs if s[0] == "sacrum" and s[1] == 1)
    canal_u = np.clip((sac_end_u + 20 - U) / 20, 0, 1)  # the sacral canal narrows to nothing
    canal_depth = canal * (0.35 + 0.65 * canal_u)
    back_fat = rng.uniform(5, 45)
    skin_v = -(canal + size * rng.uniform(45, 75) + back_fat) + 8 * np.sin(U / rng.uniform(40, 90) + rng.uniform(0, 6))
    lab[V < skin_v] = AIR
    lab[(V >= skin_v) & (V < skin_v + back_fat)] = SUBCUT_FAT
    lab[(V >= skin_v) & (V < skin_v + 1.5)] = SKIN
    in_canal = (V < 0) & (V > -canal_depth) & (U < sac_end_u + 20)
    lab[(V < 0) & (V > -canal_depth - 3) & ~in_canal] = EPIDURAL_FAT
    sac_u = U < sac_end_u
    lab[in_canal] = EPIDURAL_FAT
    lab[in_canal & sac_u & (V > -canal_depth + rng.uniform(0.5, 3))] = CSF
    cord_w = size * rng.uniform(3, 4.5)
    cord_w_u = cord_w * np.clip((cord_end_u - U) / 15, 0, 1)
    mid = -0.55 * canal_depth
    lab[in_canal & (np.abs(V - mid) < cord_w_u)] = CORD
    for _ in range(rng.integers(0, 5)):  # cauda equina roots
        off = rng.uniform(-0.35, 0.35) * canal
        lab[in_canal & sac_u & (U > cord_end_u) & (np.abs(V - mid - off) < 0.6)] = CORD

    # --- the column: discs first (reaching into the endplates' concavity), then bones
    Uf, Vf, labf, instf = U.ravel(), V.ravel(), lab.ravel(), inst.ravel()
    slips = {i: rng.normal(0, 1.0) + (rng.uniform(3, 10) * rng.choice([-1, 1]) if rng.random() < 0.07 else 0.0)
             for i in range(n_thoracic, n_vert)}
    shift = {}  # anterior shift of each vertebra relative to the sacrum (spondylolisthesis)
    acc = 0.0
    for i in range(n_vert - 1, -1, -1):
        acc += slips.get(i, 0.0)
        shift[i] = acc

    def band(u0: float, u1: float) -> np.ndarray:
        return np.flatnonzero((Uf >= u0) & (Uf < u1))

    for kind, i, u0, u1, depth, _ in segs:
        if kind == "disc":
            idx = band(u0 - 2.5, u1 + 2.5)
            u, v = Uf[idx], Vf[idx]
            sh = shift[i + 1] if i + 1 < n_vert else 0.0
            sh = 0.5 * (shift[i] + sh)
            bulge = rng.uniform(0, 5) if rng.random() < 0.5 else 0.0
            t = np.clip((u - u0) / max(u1 - u0, 1e-3), 0, 1)
            dm = (v - sh >= -bulge * np.sin(np.pi * t)) & (v - sh <= depth + 1.5)
            labf[idx[dm]] = ANNULUS
            instf[idx[dm]] = 1 + i
            h = u1 - u0
            nuc = ((u - 0.5 * (u0 + u1)) / (0.32 * h + 0.2)) ** 2 + ((v - sh - 0.5 * depth) / (0.3 * depth)) ** 2 < 1
            labf[idx[dm & nuc]] = NUCLEUS
    spots = []
    for kind, i, u0, u1, depth, _ in segs:
        if kind == "remnant":
            idx = band(u0, u1)
            w = rng.uniform(0.3, 0.85)
            v = Vf[idx]
            rm = (v > depth * (1 - w) * 0.5) & (v < depth * (1 - (1 - w) * 0.5))
            labf[idx[rm]] = REMNANT
            continue
        if kind == "disc":
            continue
        idx = band(u0, u1)
        if not len(idx):
            continue
        u, v = Uf[idx], Vf[idx] - (shift[i] if kind == "body" else 0.0)
        conc = rng.uniform(0.0, 2.5)
        bow = conc * np.sin(np.pi * np.clip(v / depth, 0, 1))  # concave endplates
        body = (v >= 0) & (v <= depth) & (u >= u0 + bow) & (u < u1 - bow)
        r = 4.0  # rounded anterior corners
        dc = np.hypot(np.minimum(np.abs(u - (u0 + r)), np.abs(u - (u1 - r))), v - (depth - r))
        body &= ~((v > depth - r) & ((u < u0 + r) | (u > u1 - r)) & (dc > r))
        sacral = kind != "body"
        # cortex: within ~1 mm of the body's outline
        thick = rng.uniform(0.7, 1.8)
        inner = (v >= thick) & (v <= depth - thick) & (u >= u0 + bow + thick) & (u < u1 - bow - thick)
        labf[idx[body]] = SACRUM_CORTEX if sacral else CORTEX
        labf[idx[body & inner]] = SACRUM_MARROW if sacral else MARROW
        if kind == "body":
            instf[idx[body]] = 100 + i
            for _ in range(rng.poisson(0.4)):
                spots.append((rng.uniform(u0 + 3, u1 - 3), shift[i] + rng.uniform(3, depth - 3), rng.uniform(2, 8)))
        # posterior elements: lamina + spinous process (none on the lower sacrum, coccyx)
        if kind == "coccyx" or (kind == "sacrum" and i >= 3):
            continue
        h = u1 - u0
        idx = band(u0, u1 + 0.6 * h)
        u, v = Uf[idx], Vf[idx] + canal_depth.ravel()[idx]
        ls0 = u0 + 0.25 * h
        sp_len = size * rng.uniform(15, 35) * (1.0 if kind == "body" else 0.5)
        lam = (u > ls0) & (u < u1 + 0.3 * h) & (v < -3) & (v > -10)
        uu = u - ls0 + rng.uniform(0.2, 0.6) * (v + 10)
        sp = (uu > 0) & (uu < size * rng.uniform(8, 14)) & (v <= -10) & (v > -10 - sp_len)
        keep = (labf[idx] != AIR) & (labf[idx] != SUBCUT_FAT) & (labf[idx] != SKIN)
        labf[idx[(lam | sp) & keep]] = POSTERIOR_BONE
        lf = (u > u1 - 2) & (u < u1 + 6) & (v < -2) & (v > -6) & (labf[idx] == EPIDURAL_FAT)
        labf[idx[lf]] = LIGAMENT
    for su, sv, sr in spots:
        idx = band(su - sr, su + sr)
        m = ((Uf[idx] - su) ** 2 + (Vf[idx] - sv) ** 2 < sr**2) & (labf[idx] == MARROW)
        labf[idx[m]] = SPOT

    # --- anterior of the column: ligament, vessels, muscle, organs, fat
    d_front = np.interp(U, [s[2] for s in segs], [s[4] for s in segs])
    front = V > d_front + 1.0
    lab[front] = ABDOMINAL_FAT
    lab[front & (V < d_front + 2.5)] = LIGAMENT
    vessel_end = next(s[3] for s in segs if s[0] == "body" and s[1] == n_thoracic + 3) + rng.uniform(-20, 10)
    vw = rng.uniform(8, 14)
    lab[front & (V > d_front + 3) & (V < d_front + 3 + vw) & (U < vessel_end)] = VESSEL
    pv = rng.uniform(10, 35)
    lab[front & (V > d_front + 3 + vw) & (V < d_front + 3 + vw + pv) & (U < u_s1)] = PREVERTEBRAL
    front_coords = np.argwhere(front[::8, ::8]) * 8
    for _ in range(rng.integers(4, 14)):
        if not len(front_coords):
            break
        r0, c0 = front_coords[rng.integers(len(front_coords))]
        a, b = rng.uniform(8, 40, 2)
        ang = rng.uniform(0, np.pi)
        dr, dc = (rr - r0 * SCENE_MM), (cc - c0 * SCENE_MM)
        x = dr * np.cos(ang) + dc * np.sin(ang)
        y = -dr * np.sin(ang) + dc * np.cos(ang)
        blob = front & ((x / a) ** 2 + (y / b) ** 2 < 1)
        lab[blob] = rng.choice([ORGAN_A, ORGAN_B, ORGAN_C, VESSEL, PREVERTEBRAL])
    # beyond the abdominal wall
    wall = rng.uniform(120, 260)
    lab[V > wall] = AIR
    return Scene(lab, inst, n_lumbar + n_thoracic)


# --- rendering --------------------------------------------------------------

_T2_PRIOR = {  # (low, high) of a T2-like tissue brightness, 0-1
    AIR: (0.0, 0.03), ANNULUS: (0.05, 0.35), NUCLEUS: (0.08, 0.95), MARROW: (0.25, 0.65),
    CORTEX: (0.0, 0.15), SACRUM_MARROW: (0.25, 0.65), REMNANT: (0.05, 0.7), CSF: (0.75, 1.0),
    CORD: (0.2, 0.5), EPIDURAL_FAT: (0.5, 0.95), POSTERIOR_BONE: (0.2, 0.6),
    POSTERIOR_SOFT: (0.15, 0.45), SUBCUT_FAT: (0.6, 1.0), PREVERTEBRAL: (0.1, 0.35),
    VESSEL: (0.0, 0.8), ORGAN_A: (0.0, 1.0), ORGAN_B: (0.0, 1.0), ORGAN_C: (0.0, 1.0),
    ABDOMINAL_FAT: (0.4, 0.95), SPOT: (0.0, 1.0), LIGAMENT: (0.0, 0.2), SACRUM_CORTEX: (0.0, 0.15),
    SKIN: (0.2, 0.6),
}


def _smooth_noise(rng, shape, sigma_px: float) -> np.ndarray:
    n = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_px)
    return n / max(float(n.std()), 1e-6)


def render_scene(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """An MR-like float32 image of a scene, roughly 0-1 (see the module docstring)."""
    lab = scene.labels
    if rng.random() < 0.6:
        mean = np.array([rng.uniform(*_T2_PRIOR[k]) for k in range(N_TISSUES)], np.float32)
    else:
        mean = rng.uniform(0, 1, N_TISSUES).astype(np.float32)
        mean[AIR] = rng.uniform(0, 0.1)
    img = mean[lab]
    # per-instance brightness: each disc (nucleus) and each body its own
    inst = scene.instance
    ids = np.unique(inst[inst > 0])
    if len(ids):
        gain = np.ones(int(ids.max()) + 1, np.float32)
        gain[ids] = rng.uniform(0.6, 1.4, len(ids))
        img = img * np.where(inst > 0, gain[inst], 1.0)
    # texture
    tex = rng.uniform(0.03, 0.25)
    img = img * (1 + tex * _smooth_noise(rng, lab.shape, rng.uniform(0.7, 3.0)))
    img = ndi.gaussian_filter(img, rng.uniform(0.3, 1.5))
    # bias field
    bias = np.exp(rng.uniform(0.0, 0.5) * _smooth_noise(rng, lab.shape, 60.0))
    img = img * bias.astype(np.float32)
    img = np.clip(img, 0, None)
    # noise (Rician-like) and gamma
    s = rng.uniform(0.005, 0.08)
    img = np.hypot(img + s * rng.standard_normal(lab.shape), s * rng.standard_normal(lab.shape))
    img = img / max(float(np.percentile(img, 99.5)), 1e-6)
    img = np.clip(img, 0, 1.2) ** rng.uniform(0.6, 1.6)
    return img.astype(np.float32)


# --- training pairs ----------------------------------------------------------

DETECTOR_GRID_MM = 1.5  # the detector's working grid (canonical view, mm per pixel)
TRAIN_SHAPE = (192, 160)  # rows × cols of a training crop (288 × 240 mm)


def scene_view(scene: Scene, rng: np.random.Generator, shape=TRAIN_SHAPE,
               grid_mm: float = DETECTOR_GRID_MM) -> tuple[np.ndarray, np.ndarray]:
    """(image float32, target uint8) of one random view of ``scene`` on the
    detector grid: random apparent scale (0.7–1.4: body size and an unknown
    pixel spacing), in-plane rotation (±12°), field of view anywhere along the
    column and the column anywhere across it. Labels are sampled at twice the
    grid, rendered, and averaged 2 × 2 (partial volume). The image is not yet
    normalised: :func:`mri_measure.training.disc_data.training_pair` applies
    the detector's input scaling (:mod:`mri_measure.segment.preprocess`)."""
    H, W = shape
    scale = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
    ang = float(np.deg2rad(rng.uniform(-12, 12)))
    col = np.argwhere(scene.labels[::4, ::4] == MARROW) * 4
    if not len(col):
        col = np.argwhere(scene.target[::4, ::4] > 0) * 4
    centre = col[rng.integers(len(col))].astype(float) * SCENE_MM
    centre += [rng.uniform(-40, 40), rng.uniform(-0.3, 0.3) * W * grid_mm / scale]
    fine = grid_mm / scale / 2.0  # scene mm per oversampled output pixel
    ii, jj = np.mgrid[0 : 2 * H, 0 : 2 * W].astype(np.float32)
    di, dj = (ii - H + 0.5) * fine, (jj - W + 0.5) * fine
    c, s = np.cos(ang), np.sin(ang)
    r = (centre[0] + c * di - s * dj) / SCENE_MM
    q = (centre[1] + s * di + c * dj) / SCENE_MM
    lab = ndi.map_coordinates(scene.labels, [r, q], order=0, mode="constant", cval=AIR)
    inst = ndi.map_coordinates(scene.instance, [r, q], order=0, mode="constant", cval=0)
    img = render_scene(Scene(lab.astype(np.uint8), inst.astype(np.int16), scene.n_discs), rng)
    img = img.reshape(H, 2, W, 2).mean((1, 3))
    target = _TARGET_OF[lab[::2, ::2]]
    return img, target.astype(np.uint8)

