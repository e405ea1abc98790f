"""Compact, exact storage of a measured stack's arrays, so that the pipeline can
stream a big series (hundreds of 512² slices) through segmentation a chunk at a
time and keep only what later stages need.

* :class:`CroppedProbabilities` — the segmenter's (n, 4, H, W) probabilities
  kept as one crop per slice: outside the box where the model looked, every
  pixel is exactly background (1, 0, 0, 0). Inside, values are stored as
  float16 (±0.0005 at 1; 0 and 1 exact): they are kept for display and
  inspection only — every measurement was made from the float32 values while
  the chunk was in memory. Indexing one slice returns a full float32
  (4, H, W) array; ``np.asarray`` materialises the whole stack.
* :class:`PixelBuffer` — a stack's pixels filled a chunk at a time, held as
  uint16/int16 while every value is an integer in range (lossless: MR images
  are integers unless rescaled), as float32 otherwise.

>>> import numpy as np
>>> p = np.zeros((2, 4, 6, 5), np.float32); p[:, 0] = 1
>>> p[1, :, 2:4, 1:3] = 0.25
>>> cp = CroppedProbabilities.from_array(p)
>>> cp.shape, bool(np.array_equal(np.asarray(cp), p)), bool(np.array_equal(cp[1], p[1]))  # 0.25: exact
((2, 4, 6, 5), True, True)
>>> cp.crop_boxes
((0, 0, 0, 0), (2, 4, 1, 3))
>>> b = PixelBuffer(3, (2, 2)); b.append(np.array([[[1, 2], [3, 4]]], np.float32))
>>> b.append(np.full((2, 2, 2), 7.5, np.float32)); arr = b.array()
>>> arr.dtype.name, arr[:, 0, 0].tolist()
('float32', [1.0, 7.5, 7.5])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

BACKGROUND = (1.0, 0.0, 0.0, 0.0)


def _box(p: np.ndarray) -> tuple[int, int, int, int]:
    """(r0, r1, c0, c1) of the pixels of ``p`` (4, H, W) that are not exactly background."""
    differs = p[0] != 1.0
    for k in range(1, p.shape[0]):
        differs |= p[k] != 0.0
    rows = np.flatnonzero(differs.any(axis=1))
    if rows.size == 0:
        return (0, 0, 0, 0)
    cols = np.flatnonzero(differs.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


class CroppedProbabilities:
    """Read-only (n, 4, H, W) float32 probabilities stored as per-slice crops."""

    dtype = np.dtype(np.float32)
    ndim = 4

    def __init__(self, shape_hw: tuple[int, int], n_classes: int = 4) -> None:
        self._hw = (int(shape_hw[0]), int(shape_hw[1]))
        self._classes = int(n_classes)
        self._boxes: list[tuple[int, int, int, int]] = []
        self._crops: list[np.ndarray] = []

    @classmethod
    def from_array(cls, probs: np.ndarray) -> CroppedProbabilities:
        probs = np.asarray(probs, dtype=np.float32)
        out = cls(probs.shape[2:], probs.shape[1])
        out.extend(probs)
        return out

    def extend(self, probs: Iterable[np.ndarray]) -> None:
        """Append slices (each (4, H, W)); only their non-background box is copied."""
        for p in probs:
            if p.shape != (self._classes, *self._hw):
                raise ValueError(f"slice probabilities of shape {p.shape}, expected "
                                 f"{(self._classes, *self._hw)}")
            r0, r1, c0, c1 = _box(p)
            self._boxes.append((r0, r1, c0, c1))
            self._crops.append(np.array(p[:, r0:r1, c0:c1], dtype=np.float16))

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self._boxes), self._classes, *self._hw)

    @property
    def crop_boxes(self) -> tuple[tuple[int, int, int, int], ...]:
        return tuple(self._boxes)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self._crops)

    def __len__(self) -> int:
        return len(self._boxes)

    def _slice(self, k: int) -> np.ndarray:
        out = np.zeros((self._classes, *self._hw), np.float32)
        out[0] = 1.0
        r0, r1, c0, c1 = self._boxes[k]
        out[:, r0:r1, c0:c1] = self._crops[k]
        return out

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            k = int(key)
            if k < 0:
                k += len(self)
            if not 0 <= k < len(self):
                raise IndexError(f"slice {key} out of range for {len(self)} slices")
            return self._slice(k)
        if isinstance(key, tuple) and key and isinstance(key[0], (int, np.integer)):
            return self[key[0]][key[1:]]
        return np.asarray(self)[key]

    def __iter__(self):
        return (self._slice(k) for k in range(len(self)))

    def __array__(self, dtype=None, copy=None):
        out = np.zeros(self.shape, np.float32)
        out[:, 0] = 1.0
        for k, ((r0, r1, c0, c1), crop) in enumerate(zip(self._boxes, self._crops)):
            out[k, :, r0:r1, c0:c1] = crop
        return out if dtype is None else out.astype(dtype, copy=False)

    def argmax(self, axis: int = 1) -> np.ndarray:
        """Labels (n, H, W) without materialising the stack (``axis`` must be 1)."""
        if axis != 1:
            return np.asarray(self).argmax(axis=axis)
        out = np.zeros((len(self), *self._hw), np.intp)
        for k, ((r0, r1, c0, c1), crop) in enumerate(zip(self._boxes, self._crops)):
            out[k, r0:r1, c0:c1] = crop.argmax(axis=0)
        return out

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"CroppedProbabilities(shape={self.shape}, stored={self.nbytes} bytes)"


_INT_TYPES = (np.uint16, np.int16)


class PixelBuffer:
    """A (capacity, H, W) stack of images filled in order, stored losslessly in
    the smallest of uint16 / int16 / float32 that holds every value so far."""

    def __init__(self, capacity: int, shape_hw: Sequence[int]) -> None:
        self._capacity = int(capacity)
        self._hw = (int(shape_hw[0]), int(shape_hw[1]))
        self._arr: np.ndarray | None = None
        self._n = 0

    @staticmethod
    def _fits(chunk: np.ndarray, dtype) -> bool:
        if chunk.size == 0:
            return True
        info = np.iinfo(dtype)
        lo, hi = float(chunk.min()), float(chunk.max())
        return lo >= info.min and hi <= info.max and bool(np.all(np.rint(chunk) == chunk))

    def append(self, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk)
        if chunk.shape[1:] != self._hw:
            raise ValueError(f"images of shape {chunk.shape[1:]}, expected {self._hw}")
        if self._n + len(chunk) > self._capacity:
            raise ValueError("more images than the buffer was made for")
        if self._arr is None:
            dtype = next((t for t in _INT_TYPES if self._fits(chunk, t)), np.float32)
            self._arr = np.empty((self._capacity, *self._hw), dtype)
        elif self._arr.dtype != np.float32 and not self._fits(chunk, self._arr.dtype):
            self._arr = self._arr.astype(np.float32)  # rare: a rescaled slice mid-stack
        self._arr[self._n:self._n + len(chunk)] = chunk
        self._n += len(chunk)

    def __len__(self) -> int:
        return self._n

    def array(self) -> np.ndarray:
        """The filled images (a view; no copy)."""
        if self._arr is None:
            return np.zeros((0, *self._hw), np.float32)
        return self._arr[:self._n]
