"""MR-like rendering of tissue maps: realistic T2 and domain-randomised contrasts.

Images are made from tissue codes (:mod:`.anatomy`): per-tissue intensity,
averaged over the depth samples of the slab (through-plane partial volume),
a point-spread blur, a smooth receive-coil bias field and Rician noise.

>>> t2 = tissue_intensities("t2")
>>> from mri_measure.synth import anatomy as A
>>> bool(t2[A.CSF] > t2[A.EPIDURAL_FAT] > t2[A.MUSCLE] and t2[A.CSF] > t2[A.LF_LEFT])
True
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import OptionError
from . import anatomy as A

CONTRASTS = ("t2", "t1like", "inverted", "random")

# Vendor-like T2 TSE scale (0-1500 at the brightest CSF).
_T2 = {
    A.AIR: 0.0, A.CSF: 1350.0, A.LF_LEFT: 360.0, A.LF_RIGHT: 360.0, A.ROOT: 380.0, A.CORD: 420.0,
    A.EPIDURAL_FAT: 900.0, A.MARROW: 560.0, A.CORTEX: 60.0, A.ANNULUS: 210.0, A.NUCLEUS: 950.0,
    A.POSTERIOR_BONE: 480.0, A.FACET_CARTILAGE: 700.0, A.MUSCLE: 310.0, A.PSOAS: 290.0,
    A.SUBCUT_FAT: 980.0, A.SKIN: 430.0, A.VISCERA: 330.0, A.LIGAMENT: 140.0, A.VESSEL: 70.0,
    A.FAT: 880.0, A.NERVE: 380.0,
}
# T1-like: CSF dark, fat brightest, marrow bright, disc/muscle intermediate.
_T1 = {
    A.AIR: 0.0, A.CSF: 180.0, A.LF_LEFT: 520.0, A.LF_RIGHT: 520.0, A.ROOT: 420.0, A.CORD: 480.0,
    A.EPIDURAL_FAT: 1150.0, A.MARROW: 900.0, A.CORTEX: 60.0, A.ANNULUS: 380.0, A.NUCLEUS: 420.0,
    A.POSTERIOR_BONE: 850.0, A.FACET_CARTILAGE: 400.0, A.MUSCLE: 430.0, A.PSOAS: 420.0,
    A.SUBCUT_FAT: 1200.0, A.SKIN: 500.0, A.VISCERA: 480.0, A.LIGAMENT: 150.0, A.VESSEL: 90.0,
    A.FAT: 1150.0, A.NERVE: 420.0,
}


def _table(d: dict[int, float]) -> np.ndarray:
    out = np.zeros(A.N_TISSUES, np.float32)
    for k, val in d.items():
        out[k] = val
    return out


T2_INTENSITY = _table(_T2)
T1_INTENSITY = _table(_T1)


def tissue_intensities(contrast: str = "t2", rng: np.random.Generator | None = None,
                       nucleus_signal: float = 1.0) -> np.ndarray:
    """Per-tissue intensity table for a contrast; ``rng`` adds per-tissue jitter.

    "random" draws every tissue independently (SynthSeg-style); "inverted" is
    the T2 table upside down.  Air stays dark in every contrast but "random".
    """
    if contrast not in CONTRASTS:
        raise OptionError(f"contrast must be one of {', '.join(CONTRASTS)}, not {contrast!r}")
    if contrast == "random":
        if rng is None:
            raise OptionError("contrast 'random' needs a random generator")
        tab = rng.uniform(0.0, 1500.0, A.N_TISSUES).astype(np.float32)
        tab[A.LF_RIGHT] = tab[A.LF_LEFT]
        return tab
    tab = (T1_INTENSITY if contrast == "t1like" else T2_INTENSITY).copy()
    tab[A.NUCLEUS] = tab[A.ANNULUS] + (tab[A.NUCLEUS] - tab[A.ANNULUS]) * nucleus_signal
    if rng is not None:
        tab *= rng.uniform(0.8, 1.2, A.N_TISSUES).astype(np.float32)
        tab[A.LF_RIGHT] = tab[A.LF_LEFT]
    if contrast == "inverted":
        tab = 1400.0 - tab
        tab[A.AIR] = 0.0
    return np.clip(tab, 0.0, None)


def bias_field(shape: tuple[int, int], rng: np.random.Generator | None, *, strength: float = 0.3,
               posterior_gain: float = 0.0, col_dir_posterior: tuple[float, float] = (1.0, 0.0)) -> np.ndarray:
    """Smooth multiplicative field: random low-order polynomial plus an optional
    gain towards the patient's back (spine coils lie under the back)."""
    h, w = shape
    r = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    c = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    f = np.zeros(shape, np.float32)
    if rng is not None and strength > 0:
        k = rng.normal(0.0, strength / 2, 6).astype(np.float32)
        f = f + k[0] * r + k[1] * c + k[2] * r * r + k[3] * c * c + k[4] * r * c
    if posterior_gain:
        pr, pc = col_dir_posterior
        f = f + posterior_gain * (pr * r + pc * c)
    return np.exp(f).astype(np.float32)


def rician(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise on both channels."""
    if sigma <= 0:
        return image
    n1 = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma)
    n2 = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma)
    return np.sqrt((image + n1) ** 2 + n2 ** 2)


# Relative amplitude of smooth intensity texture per tissue (marrow, muscle, bowel…).
TEXTURE = np.full(A.N_TISSUES, 0.03, np.float32)
TEXTURE[[A.MARROW, A.POSTERIOR_BONE]] = 0.16
TEXTURE[[A.MUSCLE, A.PSOAS]] = 0.16
TEXTURE[A.VISCERA] = 0.45
TEXTURE[[A.FAT, A.SUBCUT_FAT, A.EPIDURAL_FAT]] = 0.04
TEXTURE[A.AIR] = 0.0


def render(tissue_stack: np.ndarray, table: np.ndarray, rng: np.random.Generator | None, *,
           blur_px: float = 0.5, noise_sigma: float = 12.0, bias: np.ndarray | None = None,
           texture: float = 1.0, texture_px: float = 2.0) -> np.ndarray:
    """Render (depth, H, W) tissue codes into one float32 image.

    Averaging over the depth samples integrates the slab; ``texture`` scales a
    smooth random per-tissue texture (``TEXTURE``, correlation ``texture_px``);
    ``blur_px`` is the in-plane point-spread (Gaussian sigma, pixels).
    """
    img = table[tissue_stack].mean(axis=0)
    if rng is not None and texture > 0:
        field = ndimage.gaussian_filter(rng.standard_normal(img.shape, dtype=np.float32), texture_px)
        field /= max(float(field.std()), 1e-6)
        centre = tissue_stack[len(tissue_stack) // 2]
        img = img * (1.0 + texture * TEXTURE[centre] * field)
    if blur_px > 0:
        img = ndimage.gaussian_filter(img, blur_px, mode="nearest")
    if bias is not None:
        img = img * bias
    if rng is not None and noise_sigma > 0:
        img = rician(img, noise_sigma, rng)
    return img.astype(np.float32)


def lower_resolution(image: np.ndarray, factors: tuple[float, float]) -> np.ndarray:
    """Simulate a coarser acquisition matrix interpolated back to the display grid
    (e.g. 256×192 reconstructed to 320×320): average down by ``factors`` (row, col),
    then linear interpolation back up.

    >>> img = np.zeros((8, 8), np.float32); img[:, 4:] = 1
    >>> out = lower_resolution(img, (1.0, 2.0))
    >>> out.shape, bool(0 < out[0, 3] < 1 or 0 < out[0, 4] < 1)
    ((8, 8), True)
    """
    fr, fc = (max(float(f), 1.0) for f in factors)
    if fr == 1.0 and fc == 1.0:
        return image
    small = ndimage.zoom(ndimage.uniform_filter(image, (fr, fc), mode="nearest"), (1 / fr, 1 / fc), order=1,
                         mode="nearest", grid_mode=True)
    back = ndimage.zoom(small, (image.shape[0] / small.shape[0], image.shape[1] / small.shape[1]), order=1,
                        mode="nearest", grid_mode=True)
    return back[: image.shape[0], : image.shape[1]].astype(np.float32)
