"""A long axial series for memory and robustness checks: ``n_positions`` axial
slices repeated ``repeats`` times (several acquisitions at the same positions,
as a repeated sequence leaves them), upsampled to ``size``² pixels, built from
a synthetic CD's contiguous axial stack (:func:`mri_measure.synth.cd.write_cd`
with ``axial="contiguous"``), whose sagittal series is kept.

Each new slice takes the pixels and truth labels of the source slice nearest
to its position (image: linear, labels: nearest-neighbour resampling), so the
truth labels (``truth_labels.npz`` beside the CD) still fit the images. No
DICOMDIR: the CD is a plain folder of files. Synthetic phantom data only.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np


def _uid(*parts: object) -> str:
    text = "\x1f".join(["mri-measure-long-series/1", *map(str, parts)])
    return f"2.25.{int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], 'big')}"


def write_long_series(out_dir: str | Path, *, n_positions: int = 299, repeats: int = 2,
                      size: int = 512, seed: int = 0) -> Path:
    """Write ``out_dir/CD`` (sagittal + one axial series of ``n_positions × repeats``
    slices) and ``out_dir/truth_labels.npz``; returns the CD folder."""
    import tempfile

    import pydicom
    from scipy import ndimage

    from .cd import write_cd

    out_dir = Path(out_dir)
    cd = out_dir / "CD"
    (cd / "AX").mkdir(parents=True)
    (cd / "SAG").mkdir()
    with tempfile.TemporaryDirectory(prefix="mri-measure-long-") as tmp:
        src_cd = write_cd(Path(tmp) / "src", seed=seed, axial="contiguous", stenosis="moderate")
        with np.load(Path(tmp) / "src" / "truth_labels.npz") as z:
            truth = {k: z[k] for k in z.files}
        axials, n_sag = [], 0
        for p in sorted(src_cd.rglob("*")):
            if not p.is_file() or p.name == "DICOMDIR":
                continue
            ds = pydicom.dcmread(p)
            if str(ds.SOPInstanceUID) in truth:
                axials.append(ds)
            else:
                n_sag += 1
                ds.save_as(cd / "SAG" / f"IM{n_sag:04d}", enforce_file_format=True)
    axials.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    z_src = np.array([float(d.ImagePositionPatient[2]) for d in axials])
    zoom = size / int(axials[0].Rows)
    spacing = [float(v) / zoom for v in axials[0].PixelSpacing]
    z_new = np.linspace(z_src[0], z_src[-1], n_positions)
    step = float(z_new[1] - z_new[0]) if n_positions > 1 else 4.0
    series_uid = _uid(seed, n_positions, repeats, size, "series")
    labels_out: dict[str, np.ndarray] = {}
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    instance = 0
    for rep in range(repeats):
        for i, z in enumerate(z_new):
            j = int(np.argmin(np.abs(z_src - z)))
            src = axials[j]
            if j not in cache:
                img = ndimage.zoom(src.pixel_array.astype(np.float32), zoom, order=1)
                lab = ndimage.zoom(truth[str(src.SOPInstanceUID)], zoom, order=0)
                cache[j] = (np.clip(np.rint(img), 0, 4095).astype(np.uint16), lab.astype(np.uint8))
            img, lab = cache[j]
            instance += 1
            ds = copy.deepcopy(src)
            sop = _uid(seed, n_positions, repeats, size, "image", rep, i)
            ds.SOPInstanceUID = sop
            ds.file_meta.MediaStorageSOPInstanceUID = sop
            ds.SeriesInstanceUID = series_uid
            ds.InstanceNumber = instance
            ds.AcquisitionNumber = rep + 1
            ipp = [float(v) for v in src.ImagePositionPatient]
            ds.ImagePositionPatient = [f"{ipp[0]:.4f}", f"{ipp[1]:.4f}", f"{z:.4f}"]
            ds.SliceLocation = f"{z:.4f}"
            ds.Rows, ds.Columns = img.shape
            ds.PixelSpacing = [f"{v:.6f}" for v in spacing]
            ds.SliceThickness = f"{max(step, 0.5):.3f}"
            ds.SpacingBetweenSlices = f"{step:.4f}"
            ds.PixelData = img.tobytes()
            ds.save_as(cd / "AX" / f"IM{instance:05d}", enforce_file_format=True)
            labels_out[sop] = lab
    np.savez_compressed(out_dir / "truth_labels.npz", **labels_out)
    return cd
