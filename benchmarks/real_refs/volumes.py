"""The two real shared volumes and how their axial slices are cut (SimpleITK, numpy).

Each volume is held in NIfTI index order (``vol[i, j, k]``, as nibabel would
give it; SimpleITK's array is transposed back). An axial slice is cut exactly as
the data READMEs say:

* ``sct``: ``sct_t2_upper/t2_thoracic_upper.nii.gz``, RAS, 1 mm; slice ``vol[:, :, k]``
  (rows run to patient right, columns to anterior);
* ``tptbox``: ``tptbox_cervical_t2/sub-mri_label-6_T2w.nii.gz``, P-I-R, 1.5 mm;
  slice ``vol[:, k, :]`` (rows run to posterior, columns to patient right).

The DICOM ImageOrientationPatient of such a slice (LPS: first the direction
along a row = of increasing column index, then along a column = of increasing
row index) comes from the image's direction matrix, so the segmenter's
canonicalisation puts patient left and posterior where they belong.
Pixel spacing (row, col) comes from the header too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
#: ``../shared/data`` beside the checkout (a git worktree one level deeper finds it one further up)
DATA = next((d for d in (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data") if d.is_dir()),
            ROOT.parent / "shared" / "data")

FILES = {
    "sct": (DATA / "sct_t2_upper" / "t2_thoracic_upper.nii.gz", None, 2),
    "tptbox": (DATA / "tptbox_cervical_t2" / "sub-mri_label-6_T2w.nii.gz",
               DATA / "tptbox_cervical_t2" / "sub-mri_seg-subreg_label-6_msk.nii.gz", 1),
}
#: tptbox sub-region labels that make up the dural sac (cord + canal CSF)
TPTBOX_SAC = (60, 61)


@dataclass(frozen=True)
class Volume:
    name: str
    data: np.ndarray            # NIfTI index order, float32
    labels: np.ndarray | None   # same grid (tptbox sub-regions), else None
    slice_axis: int             # the index axis that runs cranio-caudally
    direction: np.ndarray       # 3×3, column i = LPS direction of index axis i
    spacing_mm: tuple[float, float, float]

    @property
    def n_slices(self) -> int:
        return int(self.data.shape[self.slice_axis])

    @property
    def plane_axes(self) -> tuple[int, int]:
        """(row axis, column axis) of an axial slice, in index order."""
        a = [i for i in range(3) if i != self.slice_axis]
        return a[0], a[1]

    def axial(self, k: int, arr: np.ndarray | None = None) -> np.ndarray:
        return np.take(self.data if arr is None else arr, k, axis=self.slice_axis)

    def label_slice(self, k: int) -> np.ndarray:
        assert self.labels is not None
        return self.axial(k, self.labels)

    def sac_label(self, k: int) -> np.ndarray:
        """tptbox's automatic dural sac (labels 60 + 61) on slice k."""
        return np.isin(self.label_slice(k), TPTBOX_SAC)

    @property
    def pixel_spacing_mm(self) -> tuple[float, float]:
        r, c = self.plane_axes
        return float(self.spacing_mm[r]), float(self.spacing_mm[c])

    @property
    def orientation(self) -> tuple[float, ...]:
        """DICOM ImageOrientationPatient of ``axial(k)`` (row direction, then column direction)."""
        r, c = self.plane_axes
        return tuple(float(v) for v in self.direction[:, c]) + tuple(float(v) for v in self.direction[:, r])


def available() -> bool:
    return all(p.is_file() for p, _, _ in FILES.values())


@lru_cache(maxsize=None)
def load(name: str) -> Volume:
    import SimpleITK as sitk

    path, lab_path, axis = FILES[name]
    img = sitk.ReadImage(str(path))
    data = np.transpose(sitk.GetArrayFromImage(img), (2, 1, 0)).astype(np.float32)
    labels = None
    if lab_path is not None:
        labels = np.transpose(sitk.GetArrayFromImage(sitk.ReadImage(str(lab_path))), (2, 1, 0)).astype(np.int16)
    direction = np.asarray(img.GetDirection(), float).reshape(3, 3)
    # the slice axis must be the one closest to patient z (LPS), as the READMEs say
    assert int(np.argmax(np.abs(direction[2]))) == axis, f"{name}: unexpected orientation"
    return Volume(name, data, labels, axis, direction, tuple(float(s) for s in img.GetSpacing()))
