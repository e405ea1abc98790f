"""Shape primitives of the cross-generator phantom (numpy only).

Two primitives, both evaluated on flat arrays of points (x, y) in mm:

- :class:`StarOutline` — a closed outline given as a radius per angle around
  a centre (periodic cubic interpolation of a few control radii), so
  "inside" is one ``atan2`` and one interpolation per point;
- :class:`Band` — a swept disc of varying radius along a polyline (a
  ligament, a lamina, a spinous process), with a signed distance
  (negative inside) to its surface.

>>> import numpy as np
>>> o = StarOutline((0.0, 0.0), np.full(8, 5.0))
>>> o.inside(np.array([0.0, 4.9, 5.1]), np.array([0.0, 0.0, 0.0])).tolist()
[True, True, False]
>>> b = Band(np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([1.0, 1.0]))
>>> np.round(b.sdf(np.array([5.0, 5.0]), np.array([0.0, 3.0])), 6).tolist()
[-1.0, 2.0]
"""

from __future__ import annotations

import numpy as np


def periodic_cubic(ctrl: np.ndarray, n: int = 720) -> np.ndarray:
    """Catmull-Rom resampling of periodic control values to ``n`` samples."""
    ctrl = np.asarray(ctrl, float)
    m = len(ctrl)
    t = np.arange(n) * m / n
    i = np.floor(t).astype(int)
    f = t - i
    p0, p1, p2, p3 = (ctrl[(i + k) % m] for k in (-1, 0, 1, 2))
    return 0.5 * ((2 * p1) + (-p0 + p2) * f + (2 * p0 - 5 * p1 + 4 * p2 - p3) * f**2
                  + (-p0 + 3 * p1 - 3 * p2 + p3) * f**3)


class StarOutline:
    """Closed outline r(φ) around ``centre``; φ = atan2(y - cy, x - cx)."""

    def __init__(self, centre, ctrl_radii: np.ndarray, n: int = 720) -> None:
        self.cx, self.cy = float(centre[0]), float(centre[1])
        self.r = periodic_cubic(ctrl_radii, n)
        self.n = n
        self._box = None

    def radius_at(self, phi: np.ndarray) -> np.ndarray:
        t = (np.mod(phi, 2 * np.pi)) * self.n / (2 * np.pi)
        i = np.floor(t).astype(int) % self.n
        f = t - np.floor(t)
        return self.r[i] * (1 - f) + self.r[(i + 1) % self.n] * f

    def radial(self, x: np.ndarray, y: np.ndarray, scale=1.0) -> np.ndarray:
        """ρ − s·r(φ): negative inside (a radial, not Euclidean, distance)."""
        dx, dy = x - self.cx, y - self.cy
        return np.hypot(dx, dy) - scale * self.radius_at(np.arctan2(dy, dx))

    def inside(self, x: np.ndarray, y: np.ndarray, scale=1.0) -> np.ndarray:
        return self.radial_in_box(x, y, scale) < 0

    def radial_in_box(self, x: np.ndarray, y: np.ndarray, scale=1.0, margin: float = 2.0) -> np.ndarray:
        """:meth:`radial` inside the bounding box (+inf outside it; scale ≤ 1.6)."""
        out = np.full(np.shape(x), np.inf)
        box = self.bbox(margin)
        grow = 1.6 if np.ndim(scale) else float(scale)
        cx, cy = self.cx, self.cy
        box = (cx + (box[0] - cx) * grow, cx + (box[1] - cx) * grow,
               cy + (box[2] - cy) * grow, cy + (box[3] - cy) * grow)
        m = in_bbox(x, y, box)
        if m.any():
            out[m] = self.radial(x[m], y[m], scale[m] if np.ndim(scale) else scale)
        return out

    def polygon(self) -> np.ndarray:
        phi = np.arange(self.n) * 2 * np.pi / self.n
        return np.stack([self.cx + self.r * np.cos(phi), self.cy + self.r * np.sin(phi)], 1)

    def bbox(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        if self._box is None:
            p = self.polygon()
            self._box = (p[:, 0].min(), p[:, 0].max(), p[:, 1].min(), p[:, 1].max())
        b = self._box
        return (b[0] - margin, b[1] + margin, b[2] - margin, b[3] + margin)


class Band:
    """Union of capsules along ``points`` (N, 2) with radii ``radii`` (N,)."""

    def __init__(self, points: np.ndarray, radii: np.ndarray) -> None:
        self.p = np.asarray(points, float)
        self.r = np.asarray(radii, float)

    def bbox(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        rm = self.r.max() + margin
        return (self.p[:, 0].min() - rm, self.p[:, 0].max() + rm,
                self.p[:, 1].min() - rm, self.p[:, 1].max() + rm)

    def sdf(self, x: np.ndarray, y: np.ndarray, radius_scale=1.0) -> np.ndarray:
        """min over segments of (distance to segment − interpolated radius)."""
        out = np.full(np.shape(x), np.inf)
        for a, b, ra, rb in zip(self.p[:-1], self.p[1:], self.r[:-1], self.r[1:]):
            d = b - a
            L2 = float(d @ d) or 1e-12
            t = np.clip(((x - a[0]) * d[0] + (y - a[1]) * d[1]) / L2, 0.0, 1.0)
            dist = np.hypot(x - (a[0] + t * d[0]), y - (a[1] + t * d[1]))
            np.minimum(out, dist - (ra + (rb - ra) * t) * radius_scale, out=out)
        return out


def in_bbox(x: np.ndarray, y: np.ndarray, box) -> np.ndarray:
    return (x >= box[0]) & (x <= box[1]) & (y >= box[2]) & (y <= box[3])


def sdf_in_box(shape, x: np.ndarray, y: np.ndarray, margin: float = 2.0, **kw) -> np.ndarray:
    """``shape.sdf`` evaluated only inside its bounding box (+inf elsewhere)."""
    out = np.full(np.shape(x), np.inf)
    m = in_bbox(x, y, shape.bbox(margin))
    if m.any():
        sub = {k: (v[m] if isinstance(v, np.ndarray) and v.shape == x.shape else v) for k, v in kw.items()}
        out[m] = shape.sdf(x[m], y[m], **sub)
    return out


def bezier(p0, p1, p2, n: int = 24) -> np.ndarray:
    """Quadratic Bézier polyline through p0 → p2 with control point p1."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2 = (np.asarray(p, float) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def normals(poly: np.ndarray) -> np.ndarray:
    """Unit normals (tangent rotated +90°) of a polyline."""
    g = np.gradient(poly, axis=0)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return np.stack([-g[:, 1], g[:, 0]], 1)
