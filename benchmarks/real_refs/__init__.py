"""Reference dural-sac outlines on the real shared volumes, and the optional
training set of the tptbox slices that are *not* references (issue 18).

Every outlined slice is an **evaluation** slice (:func:`load_refs`); none may be
trained on. :func:`training_cases` exports the other tptbox slices with their
automatic labels (60 + 61 → 1, dural sac) for fine-tuning. See README.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def load_refs(name: str) -> dict[str, np.ndarray]:
    """The stored references of volume ``name`` ("sct" or "tptbox"): ``k`` (slice
    index), ``spacing_mm`` (row, col of the display frame), ``seed_rc``,
    ``accepted`` (visual check passed) and ``masks`` (n, H, W) bool in the
    display frame (``canonical_transform(IOP).apply(axial slice)``)."""
    with np.load(HERE / f"refs_{name}.npz") as z:
        d = {key: z[key] for key in z.files}
    h, w = (int(v) for v in d.pop("shape"))
    d["masks"] = np.unpackbits(d["masks"], axis=-1, count=w).astype(bool).reshape(-1, h, w)
    return d


def eval_slices() -> dict[str, list[int]]:
    """Slice indices that are evaluation slices (every outlined slice, accepted or not)."""
    return {name: [int(k) for k in load_refs(name)["k"]] for name in ("sct", "tptbox")}


def training_cases() -> dict[str, object]:
    """tptbox slices that are not references, for optional training / fine-tuning.

    Returns ``images`` (n, H, W) float32 axial slices cut as ``volume[:, k, :]``
    (native orientation, not canonicalised), ``labels`` (n, H, W) uint8 with
    1 = dural sac (the automatic tptbox labels 60 + 61) and 0 elsewhere — the
    ligamentum flavum is **not** labelled, so a trainer must not learn "no LF"
    from these — ``spacing_mm`` (row, col), ``orientation`` (the DICOM
    ImageOrientationPatient of every slice), ``k`` (slice indices). Slices
    without any sac label are left out. Needs ``../shared/data``.
    """
    from . import volumes

    vol = volumes.load("tptbox")
    used = set(eval_slices()["tptbox"])
    ks = [k for k in range(vol.n_slices) if k not in used and vol.sac_label(k).any()]
    return {
        "images": np.stack([vol.axial(k) for k in ks]).astype(np.float32),
        "labels": np.stack([vol.sac_label(k) for k in ks]).astype(np.uint8),
        "spacing_mm": vol.pixel_spacing_mm,
        "orientation": vol.orientation,
        "k": np.asarray(ks, np.int16),
    }
