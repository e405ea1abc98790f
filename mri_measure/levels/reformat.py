"""Geometry-exact reformatting of isotropic 3-D T2 volumes (SimpleITK).

* :func:`volume_to_sitk` — a :class:`LoadedStack` as a SimpleITK image whose
  origin, spacing and direction come from the DICOM geometry (LPS, mm).
* :func:`reformat_axials` — a short axial stack through each disc, parallel to
  the disc plane (perpendicular to the canal), as derived slices with
  deterministic SOP Instance UIDs.
* :func:`sagittal_from_volume` — a few mid-sagittal reformats to find the
  discs on (:func:`mri_measure.levels.find_discs`).

Derived slices say where they came from in ``SliceInfo.source``
(``"derived:<level>:<i>"``); they are never written back into the input.
"""

from __future__ import annotations

from collections.abc import Sequence

from typing import TYPE_CHECKING

import numpy as np
from pydicom.uid import generate_uid

from ..errors import InputError
from ..types import DiscPlane, LevelAssignment, LoadedStack, SliceInfo, Stack
from ..vocabulary import LevelSource, StackRole

if TYPE_CHECKING:  # SimpleITK is imported only when a volume is reformatted
    import SimpleITK as sitk

__all__ = ["reformat_axials", "sagittal_from_volume", "volume_to_sitk"]

_PATIENT_X = np.array([1.0, 0.0, 0.0])
_PATIENT_Y = np.array([0.0, 1.0, 0.0])
_PATIENT_Z = np.array([0.0, 0.0, 1.0])


def _slice_axis(volume: LoadedStack) -> tuple[np.ndarray, float]:
    """Unit vector from one slice to the next and the mean slice step (mm)."""
    pos = np.array([s.position_mm for s in volume.slices], dtype=float)
    if len(pos) < 2:
        raise InputError("a 3-D T2 volume needs at least two slices to reformat; this one has fewer")
    steps = np.diff(pos, axis=0)
    lengths = np.linalg.norm(steps, axis=1)
    step = float(np.mean(lengths))
    if step <= 0 or np.any(np.abs(lengths - step) > 0.1 * step + 0.01):
        raise InputError(
            "the 3-D T2 volume's slices are unevenly spaced, so it cannot be reformatted "
            "exactly; use the 2-D axial series instead"
        )
    axis = (pos[-1] - pos[0]) / np.linalg.norm(pos[-1] - pos[0])
    return axis, step


def volume_to_sitk(volume: LoadedStack) -> sitk.Image:
    """The volume as a SimpleITK image in patient LPS millimetres.

    Index (i, j, k) = (column, row, slice); direction columns are the DICOM row
    direction, column direction and slice-to-slice direction.
    """
    import SimpleITK as sitk

    axis, step = _slice_axis(volume)
    first = volume.slices[0]
    row_dir = np.asarray(first.orientation[:3], dtype=float)
    col_dir = np.asarray(first.orientation[3:6], dtype=float)
    img = sitk.GetImageFromArray(np.ascontiguousarray(volume.pixels, dtype=np.float32))
    img.SetOrigin(tuple(float(v) for v in first.position_mm))
    img.SetSpacing((float(first.spacing_mm[1]), float(first.spacing_mm[0]), step))
    direction = np.column_stack([row_dir, col_dir, axis])
    img.SetDirection(tuple(float(v) for v in direction.ravel()))
    return img


def _resample(
    img: sitk.Image,
    origin: np.ndarray,
    row_dir: np.ndarray,
    col_dir: np.ndarray,
    normal: np.ndarray,
    size: tuple[int, int, int],
    spacing: tuple[float, float, float],
) -> np.ndarray:
    """Linear resampling onto a grid; returns (n, rows, cols) float32."""
    import SimpleITK as sitk

    ref = sitk.Image([int(v) for v in size], sitk.sitkFloat32)
    ref.SetOrigin(tuple(float(v) for v in origin))
    ref.SetSpacing(tuple(float(v) for v in spacing))
    ref.SetDirection(tuple(float(v) for v in np.column_stack([row_dir, col_dir, normal]).ravel()))
    out = sitk.Resample(img, ref, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def _in_plane_axes(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row direction ≈ patient left (+x) and column direction ≈ posterior (+y) in the plane."""
    row = _PATIENT_X - np.dot(_PATIENT_X, normal) * normal
    if np.linalg.norm(row) < 1e-3:  # plane is sagittal: fall back to +y
        row = _PATIENT_Y - np.dot(_PATIENT_Y, normal) * normal
    row /= np.linalg.norm(row)
    col = np.cross(normal, row)
    return row, col / np.linalg.norm(col)


def _derived_stack(
    volume: LoadedStack, slices: Sequence[SliceInfo], suffix: str, role: StackRole, description: str
) -> Stack:
    src = volume.stack
    return Stack(
        stack_id=f"{src.stack_id}.{suffix}",
        study_instance_uid=src.study_instance_uid,
        series_instance_uid=generate_uid(entropy_srcs=[src.series_instance_uid, "derived", suffix]),
        slices=tuple(slices),
        role=role,
        series_number=src.series_number,
        series_description=description,
        modality=src.modality,
        frame_of_reference_uid=src.frame_of_reference_uid,
        echo_time_ms=src.echo_time_ms,
        repetition_time_ms=src.repetition_time_ms,
        image_type=("DERIVED", "SECONDARY", "REFORMATTED"),
    )


def reformat_axials(
    volume: LoadedStack,
    discs: Sequence[DiscPlane],
    *,
    n_slices: int = 5,
    spacing_between_mm: float = 3.0,
    pixel_mm: float = 0.6,
    fov_mm: float = 160.0,
) -> list[tuple[LoadedStack, dict[str, LevelAssignment]]]:
    """One derived axial stack per disc, parallel to the disc plane, centred on it.

    Slice ``i`` of a disc lies ``(i - (n_slices-1)/2) * spacing_between_mm`` along
    the disc normal (inferior first). The field of view (``fov_mm`` square,
    ``pixel_mm`` pixels) is centred on the disc centre; its rows run toward
    patient left (+x) and its columns toward posterior (+y), as on a
    conventional axial. Levels come with ``source="sagittal"``.
    """
    if n_slices < 1 or spacing_between_mm <= 0 or pixel_mm <= 0 or fov_mm <= pixel_mm:
        raise InputError("reformat needs n_slices >= 1 and positive spacing, pixel size and FOV")
    img = volume_to_sitk(volume)
    n_px = int(round(fov_mm / pixel_mm))
    src_uid = volume.stack.series_instance_uid
    result: list[tuple[LoadedStack, dict[str, LevelAssignment]]] = []
    instance = 0
    for disc in discs:
        normal = np.asarray(disc.normal, dtype=float)
        normal /= np.linalg.norm(normal)
        if normal[2] < 0:  # slices ordered inferior → superior
            normal = -normal
        row, col = _in_plane_axes(normal)
        centre = np.asarray(disc.centre_mm, dtype=float)
        offsets = (np.arange(n_slices) - (n_slices - 1) / 2.0) * spacing_between_mm
        half = (n_px - 1) / 2.0 * pixel_mm
        origin0 = centre + offsets[0] * normal - half * row - half * col
        pixels = _resample(
            img, origin0, row, col, normal, (n_px, n_px, n_slices),
            (pixel_mm, pixel_mm, spacing_between_mm if n_slices > 1 else 1.0),
        )
        orientation = tuple(float(v) for v in (*row, *col))
        slices, levels = [], {}
        for i, off in enumerate(offsets):
            instance += 1
            ipp = centre + off * normal - half * row - half * col
            sl = SliceInfo(
                sop_instance_uid=generate_uid(entropy_srcs=[src_uid, disc.level, str(i)]),
                source=f"derived:{disc.level}:{i}",
                position_mm=tuple(float(v) for v in ipp),  # type: ignore[arg-type]
                orientation=orientation,  # type: ignore[arg-type]
                spacing_mm=(float(pixel_mm), float(pixel_mm)),
                rows=n_px,
                columns=n_px,
                instance_number=instance,
                thickness_mm=float(spacing_between_mm),
            )
            slices.append(sl)
            conf = 0.9 * float(disc.confidence) * (1.0 - 0.5 * min(1.0, abs(off) / 19.0))
            levels[sl.key] = LevelAssignment(disc.level, LevelSource.SAGITTAL, round(conf, 3), float(abs(off)))
        stack = _derived_stack(
            volume, slices, f"r{disc.level}", StackRole.AXIAL_T2, f"axial reformat through {disc.level}"
        )
        result.append((LoadedStack(stack=stack, pixels=pixels.astype(np.float32), slices=stack.slices), levels))
    return result


def _volume_corners(volume: LoadedStack) -> np.ndarray:
    """Patient coordinates (8,3) of the volume's corner voxel centres."""
    first, last = volume.slices[0], volume.slices[-1]
    pts = []
    for s in (first, last):
        for r in (0, s.rows - 1):
            for c in (0, s.columns - 1):
                pts.append(s.pixel_to_patient(r, c))
    return np.array(pts)


def sagittal_from_volume(
    volume: LoadedStack, *, n_slices: int = 7, spacing_between_mm: float = 3.0
) -> LoadedStack:
    """A few sagittal reformats around the volume's left-right centre.

    Orientation is the conventional sagittal (rows toward posterior +y,
    columns toward feet −z); pixel size is the volume's finest spacing
    (at least 0.5 mm). :func:`find_discs` picks the slice with the best canal.
    """
    img = volume_to_sitk(volume)
    corners = _volume_corners(volume)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    pixel = max(0.5, float(min(img.GetSpacing())))
    row, col = _PATIENT_Y.copy(), -_PATIENT_Z
    normal = np.cross(row, col)  # (-1, 0, 0)
    n_cols = int(np.floor((hi[1] - lo[1]) / pixel)) + 1
    n_rows = int(np.floor((hi[2] - lo[2]) / pixel)) + 1
    x_mid = (lo[0] + hi[0]) / 2.0
    xs = x_mid - (np.arange(n_slices) - (n_slices - 1) / 2.0) * spacing_between_mm  # along -x
    origin0 = np.array([xs[0], lo[1], hi[2]])
    pixels = _resample(
        img, origin0, row, col, normal, (n_cols, n_rows, n_slices),
        (pixel, pixel, spacing_between_mm if n_slices > 1 else 1.0),
    )
    src_uid = volume.stack.series_instance_uid
    slices = []
    for i, x in enumerate(xs):
        slices.append(
            SliceInfo(
                sop_instance_uid=generate_uid(entropy_srcs=[src_uid, "sagittal", str(i)]),
                source=f"derived:sagittal:{i}",
                position_mm=(float(x), float(lo[1]), float(hi[2])),
                orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
                spacing_mm=(pixel, pixel),
                rows=n_rows,
                columns=n_cols,
                instance_number=i + 1,
                thickness_mm=float(spacing_between_mm),
            )
        )
    stack = _derived_stack(volume, slices, "sag", StackRole.SAGITTAL_T2, "sagittal reformat")
    return LoadedStack(stack=stack, pixels=pixels.astype(np.float32), slices=stack.slices)
