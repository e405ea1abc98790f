"""Load a stack's pixels with integrity checks; read its headers.

Never trust a successful read: pydicom returns partial datasets for truncated
files and silently masks bits above BitsStored. Every image is checked
(required tags, pixel data length *before* decoding, plausible matrix size,
values within BitsStored, finite and non-constant values, geometry matching
its stack) and failures become per-slice exclusions with a logged warning —
or an :class:`IntegrityError` when nothing in the stack survives.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array

from ..errors import IntegrityError, InputError
from ..logs import install_library_redaction, redacted_warnings
from ..types import LoadedStack, SliceInfo, Stack
from .headers import (
    BadDicom,
    NotDicom,
    frame_geometry,
    n_frames,
    read_header,
    transfer_syntax_is_compressed,
)
from .sources import open_zip, read_member_bytes, split_zip_locator
from .stacks import ANGLE_TOL_DEG, in_plane_offsets

log = logging.getLogger("mri_measure.io")

MAX_FRAME_BYTES = 64 * 1024**2  # 4096 x 4096 x 32 bit; no MR frame is larger
MAX_DECODE_RATIO = 2000.0  # decoded / compressed bytes, checked on large frames only
_POS_TOL_MM = 1e-3
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


class SliceRejected(Exception):
    """One image failed a check; ``str(exc)`` is a PHI-free reason."""


class _Opener:
    """Opens locators, keeping each zip archive open once per load."""

    def __init__(self) -> None:
        self._zips: dict[str, zipfile.ZipFile] = {}

    @contextlib.contextmanager
    def open(self, locator: str) -> Iterator[BinaryIO]:
        parts = split_zip_locator(locator)
        if parts is None:
            with open(locator, "rb") as fh:
                yield fh
            return
        archive, member = parts
        zf = self._zips.get(archive)
        if zf is None:
            zf = self._zips[archive] = open_zip(archive)
        try:
            data = read_member_bytes(zf, member)
        except KeyError:
            raise OSError("member missing") from None
        yield io.BytesIO(data)

    def close(self) -> None:
        for zf in self._zips.values():
            zf.close()
        self._zips.clear()


def _by_source(slices: tuple[SliceInfo, ...]) -> dict[str, list[int]]:
    """Slice indices per source file, in first-seen order (one read per file)."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(slices):
        groups.setdefault(s.source, []).append(i)
    return groups


def read_headers(stack: Stack) -> list[Dataset]:
    """Headers (no pixel data) of a stack's images, in ``stack.slices`` order.

    Frames of one multi-frame file share one dataset object.
    """
    install_library_redaction()
    opener = _Opener()
    out: list[Dataset | None] = [None] * stack.n_slices
    try:
        with redacted_warnings():
            for locator, idx in _by_source(stack.slices).items():
                try:
                    with opener.open(locator) as fp:
                        ds = read_header(fp)
                except (OSError, NotDicom, BadDicom, InputError):
                    raise IntegrityError(
                        f"stack {stack.stack_id}: a file listed during discovery can no longer be "
                        "read; run inspect again on the input"
                    ) from None
                for i in idx:
                    out[i] = ds
    finally:
        opener.close()
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------- checks


def _require(ds: Dataset, keyword: str) -> int:
    try:
        value = ds.get(keyword)
        return int(value)
    except (TypeError, ValueError):
        raise SliceRejected(f"{keyword} is missing or invalid (truncated file?)") from None


def check_pixel_description(ds: Dataset) -> tuple[int, int, int, int, int, str]:
    """(rows, cols, frames, bits_allocated, bits_stored, pixel keyword) after checks
    that need no decoding: required tags, matrix size, pixel data length."""
    keyword = next((k for k in _PIXEL_KEYWORDS if k in ds), None)
    if keyword is None:
        raise SliceRejected("no pixel data (truncated file?)")
    rows, cols = _require(ds, "Rows"), _require(ds, "Columns")
    bits_alloc = _require(ds, "BitsAllocated")
    bits_stored = int(ds.get("BitsStored") or bits_alloc) if keyword == "PixelData" else bits_alloc
    samples = int(ds.get("SamplesPerPixel") or 1)
    if samples != 1:
        raise SliceRejected("colour (multi-sample) images are not MR magnitude images")
    if rows <= 0 or cols <= 0 or bits_alloc not in (1, 8, 16, 32, 64) or not 0 < bits_stored <= bits_alloc:
        raise SliceRejected("Rows/Columns/BitsAllocated/BitsStored are inconsistent")
    frames = n_frames(ds)
    frame_bytes = rows * cols * samples * bits_alloc // 8
    if frame_bytes > MAX_FRAME_BYTES:
        raise SliceRejected(f"declared matrix {rows}x{cols} is implausibly large for MR")
    value = ds[keyword].value
    actual = len(value) if value is not None else 0
    try:
        encapsulated = keyword == "PixelData" and transfer_syntax_is_compressed(ds)
    except ValueError:
        raise SliceRejected("missing or unknown transfer syntax UID") from None
    if encapsulated:
        if actual == 0:
            raise SliceRejected("compressed pixel data is empty (truncated file?)")
        if frame_bytes > 16 * 1024**2 and frame_bytes * frames / actual > MAX_DECODE_RATIO:
            raise SliceRejected("compressed pixel data is implausibly small for the declared matrix")
    else:
        expected = frame_bytes * frames
        if actual < expected:
            raise SliceRejected(
                f"pixel data holds {actual} bytes but Rows x Columns x frames needs {expected} (truncated file?)"
            )
    return rows, cols, frames, bits_alloc, bits_stored, keyword


def check_bits_stored(arr: np.ndarray, bits_stored: int, signed: bool) -> None:
    """Reject integer pixel values that do not fit BitsStored.

    >>> check_bits_stored(np.array([0, 4095], dtype=np.uint16), 12, False)
    >>> check_bits_stored(np.array([0, 4096], dtype=np.uint16), 12, False)
    Traceback (most recent call last):
    ...
    mri_measure.io.load.SliceRejected: pixel values exceed BitsStored=12 (corrupt or mislabelled data)
    """
    if arr.dtype.kind not in "iu" or bits_stored >= arr.dtype.itemsize * 8:
        return
    lo, hi = (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed else (0, (1 << bits_stored) - 1)
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise SliceRejected(f"pixel values exceed BitsStored={bits_stored} (corrupt or mislabelled data)")


def _rescale(ds: Dataset, frame_index: int | None) -> tuple[float, float]:
    sources: list[Dataset | None] = []
    if frame_index is not None:
        per = ds.get("PerFrameFunctionalGroupsSequence")
        if per is not None and frame_index < len(per):
            sources.append(per[frame_index])
        shared = ds.get("SharedFunctionalGroupsSequence")
        if shared:
            sources.append(shared[0])
    for src in sources:
        seq = src.get("PixelValueTransformationSequence") if src is not None else None
        if seq:
            return _slope_intercept(seq[0])
    return _slope_intercept(ds)


def _slope_intercept(ds: Dataset) -> tuple[float, float]:
    try:
        slope = float(ds.get("RescaleSlope", 1.0) if ds.get("RescaleSlope") not in (None, "") else 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) if ds.get("RescaleIntercept") not in (None, "") else 0.0)
    except (TypeError, ValueError):
        raise SliceRejected("RescaleSlope/RescaleIntercept are not numbers") from None
    if not (math.isfinite(slope) and math.isfinite(intercept)) or slope == 0.0:
        raise SliceRejected("RescaleSlope/RescaleIntercept are invalid")
    return slope, intercept


def _angle_deg(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


def check_geometry(ds: Dataset, info: SliceInfo, stack: Stack) -> None:
    """The file's geometry must still match discovery and agree with the stack."""
    geom = frame_geometry(ds, info.frame_index)
    if geom.position_mm is None or geom.orientation is None or geom.spacing_mm is None:
        raise SliceRejected("PixelSpacing, ImagePositionPatient or ImageOrientationPatient missing")
    if (
        np.max(np.abs(np.subtract(geom.position_mm, info.position_mm))) > _POS_TOL_MM
        or np.max(np.abs(np.subtract(geom.orientation, info.orientation))) > 1e-4
        or np.max(np.abs(np.subtract(geom.spacing_mm, info.spacing_mm))) > 1e-6
    ):
        raise SliceRejected("geometry differs from what discovery read (file changed?)")
    if (
        (info.rows, info.columns) != (stack.rows, stack.columns)
        or np.max(np.abs(np.subtract(info.spacing_mm, stack.spacing_mm))) > 1e-3
        or _angle_deg(info.normal, stack.normal) > ANGLE_TOL_DEG
    ):
        raise SliceRejected("geometry disagrees with its stack (matrix, spacing or orientation)")
    if (int(ds.Rows), int(ds.Columns)) != (info.rows, info.columns):
        raise SliceRejected("matrix size differs from what discovery read (file changed?)")


def decode_frame(ds: Dataset, info: SliceInfo, bits_stored: int, keyword: str) -> np.ndarray:
    """One checked, rescaled float32 image of shape (rows, columns)."""
    try:
        raw = pixel_array(ds, index=info.frame_index, correct_unused_bits=False)
    except MemoryError:
        raise SliceRejected("pixel data could not be decoded (out of memory)") from None
    except Exception as exc:  # decoder errors come in many types
        raise SliceRejected(f"pixel data could not be decoded ({type(exc).__name__})") from None
    if raw.ndim == 3 and raw.shape[0] == 1:
        raw = raw[0]
    if raw.shape != (info.rows, info.columns):
        raise SliceRejected(f"decoded image has shape {raw.shape}, header says {(info.rows, info.columns)}")
    if keyword == "PixelData":
        check_bits_stored(raw, bits_stored, signed=int(ds.get("PixelRepresentation") or 0) == 1)
    slope, intercept = _rescale(ds, info.frame_index)
    img = raw.astype(np.float64) * slope + intercept
    if not np.all(np.isfinite(img)):
        raise SliceRejected("NaN or infinite pixel values")
    if img.size == 0 or float(img.max()) == float(img.min()):
        raise SliceRejected("constant image (blank frame)")
    return img.astype(np.float32)


OFF_LINE_MIN_MM = 2.0  # a slice this far (or 3 pixels) off its stack's line is not trusted


def off_line_slices(stack: Stack) -> dict[int, str]:
    """Slices whose position lies off the line the rest of the stack lies on.

    Parallel slices of one stack share an in-plane position; one that sits
    elsewhere (a corrupt or edited ImagePositionPatient) would be measured in
    the wrong place and given the wrong level, so it is excluded. Uses the
    median in-plane position, so one bad slice cannot move the reference.

    >>> from mri_measure.types import SliceInfo
    >>> def at(x, z): return SliceInfo(f"{x},{z}", "", (x, 0, z), (1, 0, 0, 0, 1, 0), (0.5, 0.5), 4, 4)
    >>> sl = tuple(at(0, z) for z in (0, 4, 8)) + (at(37, 12),)
    >>> from mri_measure.types import Stack
    >>> off_line_slices(Stack("1.1", "1", "2", sl))
    {3: 'position disagrees with its neighbours (37.0 mm off the stack line)'}
    """
    if stack.n_slices < 3:
        return {}
    inplane = in_plane_offsets(np.array([s.position_mm for s in stack.slices], dtype=float), stack.normal)
    centre = np.median(inplane, axis=0)
    off = np.linalg.norm(inplane - centre, axis=1)
    limit = max(OFF_LINE_MIN_MM, 3.0 * max(stack.spacing_mm))
    return {
        i: f"position disagrees with its neighbours ({d:.1f} mm off the stack line)"
        for i, d in enumerate(off)
        if d > limit
    }


def load_stack(stack: Stack, *, check_line: bool = True, allow_empty: bool = False) -> LoadedStack:
    """Pixels of ``stack`` (float32, rescaled) for the images that pass every check.

    Images failing a check are listed in ``excluded`` as (slice key, reason)
    and logged; if none passes, :class:`IntegrityError` says why.

    For loading a big stack a part at a time (the pipeline streams): with
    ``check_line=False`` the off-line check (:func:`off_line_slices`, which needs
    the whole stack) is left to the caller, and with ``allow_empty=True`` a part
    none of whose images passes comes back with no pixels instead of raising.
    """
    install_library_redaction()
    if stack.unusable:
        raise IntegrityError(stack.unusable)
    images: dict[int, np.ndarray] = {}
    excluded: dict[int, str] = off_line_slices(stack) if check_line else {}
    opener = _Opener()
    try:
        with redacted_warnings():
            for locator, idx in _by_source(stack.slices).items():
                try:
                    with opener.open(locator) as fp:
                        ds = read_header(fp, stop_before_pixels=False)
                    _, _, frames, _, bits_stored, keyword = check_pixel_description(ds)
                except (OSError, InputError):
                    for i in idx:
                        excluded[i] = "file can no longer be read"
                    continue
                except (NotDicom, BadDicom) as exc:
                    for i in idx:
                        excluded[i] = str(exc) or "file is no longer a readable DICOM file"
                    continue
                except SliceRejected as exc:
                    for i in idx:
                        excluded[i] = str(exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - pydicom decodes damaged values lazily
                    for i in idx:
                        excluded[i] = f"header element could not be decoded ({type(exc).__name__})"
                    continue
                for i in idx:
                    if i in excluded:
                        continue
                    info = stack.slices[i]
                    try:
                        if info.frame_index is not None and info.frame_index >= frames:
                            raise SliceRejected("frame index beyond NumberOfFrames")
                        check_geometry(ds, info, stack)
                        images[i] = decode_frame(ds, info, bits_stored, keyword)
                    except SliceRejected as exc:
                        excluded[i] = str(exc)
                    except Exception as exc:  # noqa: BLE001 - a damaged value pydicom parses lazily
                        excluded[i] = f"header element could not be decoded ({type(exc).__name__})"
                del ds
    finally:
        opener.close()
    for i, reason in sorted(excluded.items()):
        log.warning("stack %s: image %s excluded: %s", stack.stack_id, stack.slices[i].key, reason)
    if not images and allow_empty:
        return LoadedStack(stack=stack, pixels=np.zeros((0, stack.rows, stack.columns), np.float32),
                           slices=(), excluded=tuple((stack.slices[i].key, excluded[i]) for i in sorted(excluded)))
    if not images:
        first = excluded[min(excluded)] if excluded else "the stack is empty"
        raise IntegrityError(
            f"stack {stack.stack_id}: none of its {stack.n_slices} image(s) passed integrity checks "
            f"(first: {first}); the files may be truncated or corrupt"
        )
    kept = sorted(images)
    pixels = np.stack([images[i] for i in kept]).astype(np.float32, copy=False)
    return LoadedStack(
        stack=stack,
        pixels=pixels,
        slices=tuple(stack.slices[i] for i in kept),
        excluded=tuple((stack.slices[i].key, excluded[i]) for i in sorted(excluded)),
    )
