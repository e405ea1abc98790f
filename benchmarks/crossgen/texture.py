"""Procedural textures, coil bias and Rician noise (numpy only).

>>> import numpy as np
>>> f = fractal_noise((64, 64), np.random.default_rng(0), beta=2.0)
>>> f.shape, round(float(f.std()), 3)
((64, 64), 1.0)
"""

from __future__ import annotations

import numpy as np


def fractal_noise(shape, rng: np.random.Generator, beta: float = 2.0, cutoff: float = 0.0) -> np.ndarray:
    """Zero-mean unit-variance 1/f^β noise by spectral synthesis (FFT).

    ``cutoff`` (cycles/pixel) removes the coarsest frequencies below it.
    """
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    if cutoff > 0:
        amp[f < cutoff] = 0.0
    spec = amp * (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape))
    out = np.fft.irfft2(spec, s=(h, w))
    out -= out.mean()
    sd = out.std()
    return out / sd if sd > 0 else out


def coil_bias(xx: np.ndarray, yy: np.ndarray, rng: np.random.Generator, skin_y: float) -> np.ndarray:
    """Receive sensitivity of a posterior spine array plus a weak anterior
    element: a sum of 2-D Gaussians sitting just behind the back, normalised
    so the field spans roughly [floor, 1] over the image."""
    field = np.zeros_like(xx, dtype=float)
    n = int(rng.integers(3, 6))
    for cx in rng.uniform(-70, 70, n):
        cy = skin_y + rng.uniform(5, 30)
        s = rng.uniform(50, 110)
        field += rng.uniform(0.6, 1.0) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    field += rng.uniform(0.05, 0.35) * np.exp(-((xx - rng.uniform(-40, 40)) ** 2
                                                + (yy + rng.uniform(120, 200)) ** 2) / (2 * 120.0**2))
    field /= field.max()
    floor = rng.uniform(0.25, 0.6)
    return floor + (1 - floor) * field


def rician(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the complex signal with Gaussian noise on both channels."""
    return np.hypot(img + rng.normal(0.0, sigma, img.shape), rng.normal(0.0, sigma, img.shape))
