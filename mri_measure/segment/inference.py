"""Two-stage inference: localise the canal on a coarse whole-slice image,
then segment a fixed fine crop around it. The networks run on ONNX Runtime
on a CPU and on torch on a GPU (:mod:`.runtime`).

Per slice: canonicalise by IOP (:mod:`.orientation`) → stage 1 on the
localiser grid (~2 mm/px) gives a dural-sac probability whose largest
component's centroid is the crop centre → stage 2 on a 96×96 crop at
0.45 mm/px gives probabilities of labels 0–3 → those are resampled back to
the canonical source grid (outside the crop: background = 1) and the
canonicalisation is undone, so channel 2 is always the *patient's* left.

Finding the canal wherever it is visible (no single threshold or crop decides
that there is none):

- Stage 1 yields up to :data:`MAX_CANDIDATES` candidate canal centres per
  slice: connected components of the localiser's sac probability above a low
  floor (:data:`CANDIDATE_FLOOR`), ranked by probability mass
  (:func:`canal_candidates`).
- Stage 2 segments a crop around the strongest candidate of every slice (one
  batch). Only *ambiguous* slices pay for more: when that crop's sac is not
  plausible (:func:`fine_score`: no sac of 20–400 mm² or a mean sac
  probability under :data:`CONFIDENT_SAC`) or a rival candidate holds at least
  :data:`RIVAL_MASS` of the first one's mass, the other candidates are
  segmented too (a second batch) and the crop with the best
  :func:`fine_score` is kept.
- A slice on which the localiser finds no candidate at all borrows the
  strongest candidate centres of its nearest neighbours in the same call (up
  to 3 slices away; the pipeline passes a stack's slices in order), and keeps
  such a crop only when its sac is confident and plausible.
- When the kept crop's sac touches the crop edge, the crop is re-centred on
  the sac's centroid and segmented once more; the re-centred result replaces
  the first when it scores at least as well.
- With mirror TTA, :attr:`UNetSegmenter.last_tta_dice` holds, per slice of
  the last call, the Dice between the plain and mirrored predictions of the
  sac, LF-left and LF-right (1.0 where neither predicts it; NaN where no crop
  was segmented), for the quality verdict
  (:mod:`mri_measure.measure.quality`). It is an optional extra, not part of
  the :class:`~.protocol.Segmenter` protocol; it is per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import InputError, ModelError
from . import bundle as _bundle
from .orientation import canonical_transform
from .preprocess import grid_to_source_point, localiser_grid, normalise, segmenter_grid
from .resample import from_grid, to_grid
from .runtime import Net, load_networks, softmax

BATCH = 16
_CACHE: dict[tuple[str, str, str], "UNetSegmenter"] = {}
_LOCK = threading.Lock()


def find_canal_centre(p_canal: np.ndarray, min_peak: float = 0.3) -> tuple[float, float] | None:
    """Probability-weighted centroid of the strongest connected canal component
    on the localiser grid, or ``None`` when no canal is found."""
    if float(p_canal.max()) < min_peak:
        return None
    mask = p_canal >= min(0.5, float(p_canal.max()) * 0.8)
    lab, n = ndimage.label(mask)
    if n == 0:
        return None
    mass = ndimage.sum(p_canal, lab, index=np.arange(1, n + 1))
    best = int(np.argmax(mass)) + 1
    rr, cc = np.nonzero(lab == best)
    w = p_canal[rr, cc]
    return float((rr * w).sum() / w.sum()), float((cc * w).sum() / w.sum())


#: at most this many candidate canal centres per slice
MAX_CANDIDATES = 3
#: localiser sac probability above which a pixel can belong to a candidate
CANDIDATE_FLOOR = 0.05
#: a candidate needs at least this probability mass (localiser pixels; ~2 mm/px)
MIN_CANDIDATE_MASS = 0.5
#: a rival candidate with this fraction of the first one's mass makes a slice ambiguous
RIVAL_MASS = 0.3
#: mean sac probability over the fine sac from which a crop counts as confident
CONFIDENT_SAC = 0.75
#: plausible sac area on the fine crop (mm²), as in the quality verdict
SAC_AREA_MM2 = (20.0, 400.0)
#: a sac this close (fine pixels) to the crop border "touches the edge"
EDGE_PX = 2


def canal_candidates(p_canal: np.ndarray, k: int = MAX_CANDIDATES,
                     floor: float = CANDIDATE_FLOOR) -> list[tuple[tuple[float, float], float]]:
    """Up to ``k`` (centre (row, col), mass) canal candidates on the localiser grid,
    strongest (largest probability mass) first.

    Components of ``p_canal >= floor``; each centre is the probability-weighted
    centroid of the component's core (pixels above half its peak), so a low
    floor does not drag the centre towards faint neighbours.

    >>> p = np.zeros((40, 40), np.float32); p[5:9, 5:9] = 0.9; p[25:28, 30:33] = 0.15
    >>> [(tuple(round(v, 1) for v in c), round(m, 2)) for c, m in canal_candidates(p)]
    [((6.5, 6.5), 14.4), ((26.0, 31.0), 1.35)]
    """
    mask = p_canal >= floor
    lab, n = ndimage.label(mask)
    if n == 0:
        return []
    idx = np.arange(1, n + 1)
    mass = np.asarray(ndimage.sum(p_canal, lab, index=idx), dtype=float)
    peak = np.asarray(ndimage.maximum(p_canal, lab, index=idx), dtype=float)
    out = []
    for j in np.argsort(-mass)[:k]:
        if mass[j] < MIN_CANDIDATE_MASS:
            break
        core = (lab == j + 1) & (p_canal >= 0.5 * peak[j])
        rr, cc = np.nonzero(core)
        w = p_canal[rr, cc].astype(float)
        out.append(((float((rr * w).sum() / w.sum()), float((cc * w).sum() / w.sum())), float(mass[j])))
    return out


def _neighbour_centres(cands: list[list[tuple[tuple[float, float], float]]], k: int,
                       max_gap: int = 3) -> list[tuple[float, float]]:
    """The strongest candidate centres of the nearest slices before and after ``k``
    (within ``max_gap`` slices) that have candidates of their own."""
    out: list[tuple[float, float]] = []
    for step in (-1, 1):
        for j in range(k + step, k + step * (max_gap + 1), step):
            if 0 <= j < len(cands) and cands[j]:
                c = cands[j][0][0]
                if all(abs(c[0] - o[0]) + abs(c[1] - o[1]) > 4.0 for o in out):
                    out.append(c)
                break
    return out


def _sac_component(probs: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of the fine crop's argmax sac."""
    sac = np.argmax(probs, axis=0) == 1
    lab, n = ndimage.label(sac, structure=np.ones((3, 3), bool))
    if n <= 1:
        return sac
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (int(np.argmax(sizes)) + 1)


def fine_score(probs: np.ndarray, spacing_mm: float) -> tuple[float, bool, bool]:
    """(score, confident, touches_edge) of one fine crop's (4, n, n) probabilities.

    ``score`` is the sac probability mass of the main sac component times its
    mean probability (a large, confident sac scores high), 0 when its area is
    outside :data:`SAC_AREA_MM2`; halved when it touches the crop edge (cut off).
    """
    sac = _sac_component(probs)
    npx = int(sac.sum())
    if npx == 0:
        return 0.0, False, False
    area = npx * spacing_mm * spacing_mm
    p = probs[1][sac]
    mean = float(p.mean())
    e = EDGE_PX
    touches = bool(sac[:e].any() or sac[-e:].any() or sac[:, :e].any() or sac[:, -e:].any())
    if not SAC_AREA_MM2[0] <= area <= SAC_AREA_MM2[1]:
        return 0.0, False, touches
    score = float(p.sum()) * mean * (0.5 if touches else 1.0)
    return score, mean >= CONFIDENT_SAC and not touches, touches


def _dice3(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    la, lb = np.argmax(a, axis=0), np.argmax(b, axis=0)
    out = []
    for lab in (1, 2, 3):
        ma, mb = la == lab, lb == lab
        s = int(ma.sum()) + int(mb.sum())
        out.append(1.0 if s == 0 else 2.0 * int((ma & mb).sum()) / s)
    return out[0], out[1], out[2]


class UNetSegmenter:
    """The shipped two-stage U-Net segmenter (implements :class:`~.protocol.Segmenter`).

    ``localiser`` and ``segmenter`` are numpy functions (N, 1, H, W) → logits
    (:mod:`.runtime`: ONNX Runtime or torch); ``backend`` says which."""

    def __init__(self, localiser: Net, segmenter: Net, meta: dict[str, Any], device: str = "cpu") -> None:
        self.localiser = localiser
        self.segmenter = segmenter
        self.backend = str(getattr(segmenter, "backend", "unknown"))
        self.meta = meta
        self.prep = meta["preprocessing"]
        self.device = device
        self.name = str(meta["name"])
        self.version = str(meta["version"])
        self.sha256 = str(meta["sha256"])
        self.mirror_tta = bool(meta.get("inference", {}).get("mirror_tta", False))
        self._local = threading.local()  # per-thread results of the last call (last_tta_dice)
        #: candidate search, neighbour fallback and re-centring; False: one localiser
        #: component above a 0.3 peak and one crop, as before (benchmarks compare the two)
        self.search = True
        # softmax temperature of the segmenter's logits, fitted after training (calibrate.py)
        self.temperature = float(meta.get("inference", {}).get("temperature", 1.0))
        if not 0.05 <= self.temperature <= 20:
            raise ModelError(f"model bundle temperature {self.temperature:g} is out of range; fix metadata.json")
        # per-class logit offsets: undo the prior shift of the class-weighted cross-entropy
        # (weights w_c make the network predict ∝ w_c·p_c, so log w_c is subtracted)
        offs = meta.get("inference", {}).get("logit_offsets")
        self.logit_offsets = None if offs is None else [float(v) for v in offs]
        if self.logit_offsets is not None and len(self.logit_offsets) != 4:
            raise ModelError("model bundle inference.logit_offsets must have 4 values; fix metadata.json")

    # -- network passes --------------------------------------------------
    def _run(self, net: Net, batch: np.ndarray, temperature: float = 1.0,
             offsets: np.ndarray | None = None) -> np.ndarray:
        out = []
        for i in range(0, len(batch), BATCH):
            logits = net(np.ascontiguousarray(batch[i:i + BATCH][:, None], dtype=np.float32))
            if offsets is not None:
                logits = logits + offsets.reshape(1, -1, 1, 1)
            if temperature != 1.0:
                logits = logits / np.float32(temperature)
            out.append(softmax(logits, axis=1))
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    # -- public API --------------------------------------------------------
    @property
    def _offsets(self) -> np.ndarray | None:
        if self.logit_offsets is None:
            return None
        return np.asarray(self.logit_offsets, dtype=np.float32)

    def predict(self, images: np.ndarray, spacing_mm: Sequence[float],
                orientation: Sequence[float]) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or min(images.shape[1:]) < 8:
            raise InputError(f"images must be (n, H, W) axial slices, got shape {images.shape}")
        if len(spacing_mm) != 2 or not all(np.isfinite(s) and s > 0 for s in spacing_mm):
            raise InputError(f"pixel spacing must be two positive numbers (mm), got {tuple(spacing_mm)}")
        t = canonical_transform(orientation)
        canon = t.apply(images.astype(np.float32, copy=False))
        sp = t.spacing(tuple(float(s) for s in spacing_mm))
        shape = canon.shape[1:]
        n = canon.shape[0]
        out = np.zeros((n, 4, *shape), dtype=np.float32)
        out[:, 0] = 1.0
        self._local.tta_dice = np.zeros((0, 3)) if self.mirror_tta else None
        if n == 0:
            return out

        # stage 1: localise
        lgrid = localiser_grid(shape, sp, self.prep)
        coarse = np.stack([to_grid(normalise(im), sp, lgrid) for im in canon])
        p_loc = self._run(self.localiser, coarse)[:, 1]
        centres = []
        for k in range(n):
            c = find_canal_centre(p_loc[k])
            centres.append(None if c is None else grid_to_source_point(lgrid, c, sp))

        # stage 2: segment a fine crop around the best candidate of each slice
        if self.search:
            cands = [[(grid_to_source_point(lgrid, c, sp), m) for c, m in canal_candidates(p_loc[k])]
                     for k in range(n)]
        else:  # the single-candidate inference of before (for comparison benchmarks)
            cands = [[] if c is None else [(grid_to_source_point(lgrid, c, sp), 1.0)]
                     for c in (find_canal_centre(p_loc[k]) for k in range(n))]
        tta = np.full((n, 3), np.nan)
        chosen: dict[int, tuple[Any, np.ndarray, Any, Any]] = {}
        first = [k for k in range(n) if cands[k]]
        results = self._fine(canon, sp, [(k, cands[k][0][0]) for k in first])
        ambiguous = []
        for k, res in zip(first, results):
            chosen[k] = res
            _, confident, _ = res[3]
            rival = len(cands[k]) > 1 and cands[k][1][1] >= RIVAL_MASS * cands[k][0][1]
            if self.search and (not confident or rival):
                ambiguous.append(k)
        extra = [(k, c) for k in ambiguous for c, _ in cands[k][1:]]
        # slices the localiser found nothing on: try where it found the canal on the
        # nearest slices of the same call (a stack's neighbours; the canal moves little)
        borrowed = {k for k in range(n) if not cands[k]} if self.search else set()
        extra += [(k, c) for k in sorted(borrowed) for c in _neighbour_centres(cands, k)]
        for (k, _), res in zip(extra, self._fine(canon, sp, extra)):
            score, confident, _ = res[3]
            best = chosen[k][3][0] if k in chosen else 0.0
            if k in borrowed:  # no own candidate: only a confident, plausible sac counts
                if confident and score > best:
                    chosen[k] = res
            elif score > best:
                chosen[k] = res
        # re-centre once on the sac when it touches the crop edge
        edge = []
        for k, (g, probs, _, sc) in chosen.items():
            if self.search and sc[2]:
                sac = _sac_component(probs)
                c = ndimage.center_of_mass(sac)
                edge.append((k, grid_to_source_point(g, (float(c[0]), float(c[1])), sp)))
        for (k, _), res in zip(edge, self._fine(canon, sp, edge)):
            if res[3][0] >= chosen[k][3][0]:
                chosen[k] = res
        for k, (g, p, dice, _) in chosen.items():
            if dice is not None:
                tta[k] = dice
            from_grid(p, g, sp, shape, fill=(1.0, 0.0, 0.0, 0.0), out=out[k])
            rs, cs = g.source_bbox(sp, shape)
            box = out[k, :, rs, cs]  # renormalise where the crop landed (float rounding)
            np.clip(box, 0.0, 1.0, out=box)
            box /= box.sum(axis=0, keepdims=True)
        self._local.tta_dice = tta if self.mirror_tta else None
        return t.undo(out)

    @property
    def _fine_spacing(self) -> float:
        return float(self.prep["segmenter"]["spacing_mm"])

    def _fine(self, canon: np.ndarray, sp: tuple[float, float],
              todo: list[tuple[int, tuple[float, float]]]) -> list[tuple[Any, np.ndarray, Any, Any]]:
        """Segment a fine crop centred (plus the posterior offset) on each (slice,
        canal centre in canonical source pixels): (grid, (4, n, n) probabilities,
        mirror Dice or None, :func:`fine_score`) per item, in order."""
        if not todo:
            return []
        grids = [segmenter_grid(c, sp, self.prep) for _, c in todo]
        crops = []
        for (k, _), g in zip(todo, grids):
            raw = to_grid(canon[k], sp, g, cval=np.nan)
            inside = np.isfinite(raw)
            crops.append(normalise(np.where(inside, raw, 0.0), inside if inside.any() else None)
                         * inside)
        batch = np.stack(crops).astype(np.float32)
        probs = self._run(self.segmenter, batch, self.temperature, self._offsets)
        dice: list[Any] = [None] * len(todo)
        if self.mirror_tta:  # average with the mirrored crop (LF channels swapped back)
            mirrored = self._run(self.segmenter, np.ascontiguousarray(batch[:, :, ::-1]),
                                 self.temperature, self._offsets)[:, [0, 1, 3, 2], :, ::-1]
            dice = [_dice3(a, b) for a, b in zip(probs, mirrored)]
            probs = 0.5 * (probs + mirrored)
        sp_fine = self._fine_spacing
        return [(g, p, d, fine_score(p, sp_fine)) for g, p, d in zip(grids, probs, dice)]

    @property
    def last_tta_dice(self) -> np.ndarray | None:
        """(n, 3) mirror-TTA Dice (sac, LF-left, LF-right) of this thread's last
        :meth:`predict` call; ``None`` without mirror TTA or before any call."""
        return getattr(self._local, "tta_dice", None)

    def predict_stack(self, loaded_stack: Any) -> np.ndarray:
        return self.predict(loaded_stack.pixels, loaded_stack.stack.spacing_mm,
                            loaded_stack.stack.orientation)


#: the name this class had while it ran on torch alone
TorchSegmenter = UNetSegmenter


def load_segmenter(bundle_dir: str | Path | None = None, device: str = "cpu") -> UNetSegmenter:
    """Load (once per process, per bundle and device) a segmenter bundle.

    ``bundle_dir`` defaults to the shipped ``models/lumbar-axial-unet``.
    Raises :class:`ModelError` with one line when the bundle is missing,
    corrupt (sha256 mismatch) or the device is unavailable.
    """
    from .runtime import requested_backend

    path = Path(bundle_dir) if bundle_dir is not None else _bundle.default_bundle_dir()
    dev = (device or "cpu").strip().lower()
    key = (str(path.resolve()), dev, requested_backend() or "")
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        meta = _bundle.read_metadata(path)
        nets = load_networks(path, meta, ("localiser", "segmenter"), dev)
        model = UNetSegmenter(nets["localiser"], nets["segmenter"], meta, dev)
        _CACHE[key] = model
        return model


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
