"""Readers of ``mri-measure train --user-cases DIR`` (numpy, SimpleITK, Pillow,
pydicom/highdicom; no torch).

Every file under ``DIR`` (searched recursively, sorted by path; names starting
with ``.`` are skipped) is read by its kind; each yields zero or more 2-D
axial :class:`UserCase` slices. Formats (details in
:mod:`mri_measure.training.data`):

- ``NAME.npz`` — one slice with ``image``, ``labels``, ``spacing_mm``,
  ``orientation`` (what the napari plugin saves); optional ``lf_annotated``
  (bool, default true): false for a slice with only the dural sac outlined;
- ``NAME.nii`` / ``NAME.nii.gz`` (also ``.mha``, ``.nrrd``) + ``NAME_labels.<ext>``
  — 2-D or 3-D image and label volume, geometry from the file;
- ``NAME.png`` + ``NAME_labels.png`` + sidecar ``NAME.json``
  (``{"spacing_mm": [row, col], "orientation": [6 numbers]}``);
- DICOM Segmentation files (Modality SEG, e.g. ``seg.dcm`` from
  ``mri-measure measure --out`` or the napari export), whose referenced MR
  images lie anywhere under ``DIR``.

Label contract: 0 background, 1 dural sac, 2 LF patient-left, 3 LF
patient-right; other values are background. Errors are
:class:`~mri_measure.errors.InputError` with one line naming the case by its
number in that sorted order ("user case #3"), never by path or UID.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..segment.orientation import canonical_transform
from ..segment.protocol import one_hot
from ..vocabulary import SNOMED_SCHEMES, label_from_codes, label_from_segment_label

#: ImageOrientationPatient assumed for a PNG whose sidecar gives none: the
#: standard axial display (columns run to patient left, rows to posterior).
DEFAULT_PNG_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
LABEL_SUFFIX = "_labels"
VOLUME_EXTENSIONS = (".nii.gz", ".nii", ".mha", ".nrrd")
MAX_AXIAL_TILT_DEG = 45.0  # slice normal within this angle of patient S-I

_SEG_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")


@dataclass(frozen=True)
class UserCase:
    image: np.ndarray
    labels: np.ndarray
    spacing_mm: tuple[float, float]
    orientation: tuple[float, ...]
    #: False for a case whose ligamentum flavum is not outlined (only the dural
    #: sac is): training then learns sac against everything else from it and
    #: never "no LF here" (``.npz`` key ``lf_annotated``)
    lf_annotated: bool = True

    @property
    def coverage(self) -> np.ndarray:
        return one_hot(self.labels)


@dataclass(frozen=True)
class _Entry:
    number: int  # 1-based, in sorted path order of the case files
    kind: str  # "npz" | "volume" | "png" | "seg"
    path: Path
    labels: Path | None = None


# ----------------------------------------------------------------- dispatch


def read_user_cases(root: Path) -> list[UserCase]:
    """Every user case under ``root`` (a folder), in sorted path order."""
    entries = _entries(root)
    cases: list[UserCase] = []
    segs = [e for e in entries if e.kind == "seg"]
    seg_cases = _read_segs(root, segs) if segs else {}
    for e in entries:
        if e.kind == "npz":
            cases.append(_read_npz(e))
        elif e.kind == "volume":
            cases.extend(_read_volume(e))
        elif e.kind == "png":
            cases.extend(_read_png(e))
        else:
            cases.extend(seg_cases[e.number])
    return cases


def _kind_of(name: str) -> tuple[str | None, str]:
    """(kind, base name without extension) from a file name."""
    low = name.lower()
    if low.endswith(".npz"):
        return "npz", name[:-4]
    for ext in VOLUME_EXTENSIONS:
        if low.endswith(ext):
            return "volume", name[: -len(ext)]
    if low.endswith(".png"):
        return "png", name[:-4]
    if low.endswith(".json"):
        return "json", name[:-5]
    return None, name


def _is_seg(path: Path) -> bool:
    import pydicom
    from pydicom.misc import is_dicom

    try:
        if not is_dicom(path):
            return False
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"])
    except Exception:  # noqa: BLE001 - anything unreadable is simply not a SEG case
        return False
    return str(ds.get("Modality", "")).upper() == "SEG" or str(ds.get("SOPClassUID", "")) in _SEG_SOP_CLASSES


def _entries(root: Path) -> list[_Entry]:
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    labels: dict[tuple[Path, str, str], list[Path]] = {}
    images: list[tuple[Path, str, str]] = []  # (path, kind, base)
    for p in files:
        kind, base = _kind_of(p.name)
        if kind in ("volume", "png"):
            if base.endswith(LABEL_SUFFIX) and len(base) > len(LABEL_SUFFIX):
                labels.setdefault((p.parent, base[: -len(LABEL_SUFFIX)], kind), []).append(p)
                continue
            images.append((p, kind, base))
        elif kind == "npz" or (kind is None and _is_seg(p)):
            images.append((p, kind or "seg", base))
    entries = []
    used: set[tuple[Path, str, str]] = set()
    for number, (p, kind, base) in enumerate(images, start=1):
        lab = None
        if kind in ("volume", "png"):
            fmt = _FORMAT[kind]
            key = (p.parent, base, kind)
            found = labels.get(key, [])
            if not found:
                raise InputError(
                    f"user case #{number} ({fmt}) has no label image: save it beside the image as "
                    f"NAME{LABEL_SUFFIX}{'.png' if kind == 'png' else '.nii.gz'} for image NAME"
                    f"{'.png' if kind == 'png' else '.nii.gz'}")
            if len(found) > 1:
                raise InputError(f"user case #{number} ({fmt}) has {len(found)} label images "
                                 f"(NAME{LABEL_SUFFIX} with different extensions); keep one")
            lab = found[0]
            used.add(key)
        entries.append(_Entry(number, kind, p, lab))
    orphans = [k for k in labels if k not in used]
    if orphans:
        kind = orphans[0][2]
        raise InputError(f"{len(orphans)} {_FORMAT[kind]} label image(s) ({'NAME' + LABEL_SUFFIX}) have no "
                         f"image NAME beside them; add the image or remove the label file")
    return entries


_FORMAT = {"npz": "npz", "volume": "NIfTI", "png": "PNG", "seg": "DICOM SEG"}


# ----------------------------------------------------------------- shared checks


def _axial_or_raise(iop: Iterable[float], number: int, fmt: str) -> tuple[float, ...]:
    iop = tuple(float(v) for v in iop)
    ok = len(iop) == 6 and all(math.isfinite(v) for v in iop)
    n = np.cross(np.asarray(iop[:3]), np.asarray(iop[3:6])) if ok else np.zeros(3)
    norm = float(np.linalg.norm(n))
    if not ok or norm < 1e-3:
        raise InputError(f"user case #{number} ({fmt}): its orientation is not two independent "
                         "direction vectors; fix the file's geometry")
    n = n / norm
    if abs(n[2]) < math.cos(math.radians(MAX_AXIAL_TILT_DEG)):
        plane = ("sagittal", "coronal", "axial")[int(np.argmax(np.abs(n)))]
        if abs(n).max() < math.cos(math.radians(30)):
            plane = "oblique"
        raise InputError(
            f"user case #{number} ({fmt}): its slices are {plane}, not axial (slice normal more than "
            f"{MAX_AXIAL_TILT_DEG:.0f}° from head-foot); give axial slices (volumes are not resliced here)")
    try:
        canonical_transform(iop)
    except InputError as exc:  # pragma: no cover - the check above is stricter
        raise InputError(f"user case #{number} ({fmt}): {exc}") from None
    return iop


def _clean_labels(lab: np.ndarray, number: int, fmt: str) -> np.ndarray:
    """Integer labels, values other than 1–3 set to background, as uint8."""
    lab = np.asarray(lab)
    if lab.dtype.kind == "b":
        lab = lab.astype(np.uint8)
    elif lab.dtype.kind == "f":
        if not np.all(np.isfinite(lab)) or not np.array_equal(lab, np.rint(lab)):
            raise InputError(f"user case #{number} ({fmt}): the label image holds non-integer values; "
                             "save labels as integers 0–3")
    elif lab.dtype.kind not in "iu":
        raise InputError(f"user case #{number} ({fmt}): the label image is not numeric; save integers 0–3")
    out = np.zeros(lab.shape, np.uint8)
    for k in (1, 2, 3):
        out[lab == k] = k
    return out


def _image(arr: np.ndarray, number: int, fmt: str) -> np.ndarray:
    img = np.asarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(img)):
        raise InputError(f"user case #{number} ({fmt}): the image holds NaN or infinite values")
    return img


def _positive_pair(values: Any) -> tuple[float, float] | None:
    try:
        v = [float(x) for x in np.asarray(values, dtype=float).reshape(-1)]
    except (TypeError, ValueError):
        return None
    if len(v) != 2 or not all(math.isfinite(x) and x > 0 for x in v):
        return None
    return (v[0], v[1])


# ----------------------------------------------------------------- npz


def _read_npz(e: _Entry) -> UserCase:
    i = e.number - 1
    try:
        with np.load(e.path) as z:
            img, lab = np.asarray(z["image"], np.float32), np.asarray(z["labels"])
            sp = tuple(float(v) for v in np.asarray(z["spacing_mm"]).reshape(-1))
            iop = tuple(float(v) for v in np.asarray(z["orientation"]).reshape(-1))
            lf_annotated = bool(np.asarray(z["lf_annotated"]).reshape(-1)[0]) if "lf_annotated" in z else True
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"user case #{i + 1} is not a valid case .npz ({exc.__class__.__name__}); "
                         "it needs image, labels, spacing_mm, orientation") from None
    if img.ndim != 2 or img.shape != lab.shape or len(sp) != 2 or len(iop) != 6 or min(sp) <= 0:
        raise InputError(f"user case #{i + 1}: image/labels must be equal 2-D shapes, spacing_mm 2 "
                         "positive numbers, orientation 6 numbers")
    canonical_transform(iop)  # raises if not axial
    if not lf_annotated and np.isin(lab, (2, 3)).any():
        raise InputError(f"user case #{i + 1}: lf_annotated is false but its labels contain LF (2, 3); "
                         "drop lf_annotated or the LF labels")
    return UserCase(img, lab, (sp[0], sp[1]), iop, lf_annotated)


# ----------------------------------------------------------------- NIfTI / MHA / NRRD


def _sitk_read(path: Path, number: int, what: str):
    import SimpleITK as sitk

    try:
        im = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError(f"user case #{number} (NIfTI): the {what} cannot be read as NIfTI/MHA/NRRD "
                         "(damaged or not that format)") from None
    if im.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"user case #{number} (NIfTI): the {what} has "
                         f"{im.GetNumberOfComponentsPerPixel()} components per pixel; save one grey value")
    if im.GetDimension() not in (2, 3):
        raise InputError(f"user case #{number} (NIfTI): the {what} is {im.GetDimension()}-D; "
                         "give a 2-D slice or a 3-D volume")
    return im


def _same_geometry(img, lab, number: int) -> None:
    size_ok = img.GetDimension() == lab.GetDimension() and img.GetSize() == lab.GetSize()
    ok = size_ok and (
        np.allclose(img.GetSpacing(), lab.GetSpacing(), rtol=1e-3, atol=1e-5)
        and np.allclose(img.GetOrigin(), lab.GetOrigin(), rtol=0, atol=1e-2)
        and np.allclose(img.GetDirection(), lab.GetDirection(), rtol=0, atol=1e-3)
    )
    if not ok:
        what = "size" if not size_ok else "spacing, origin or direction"
        raise InputError(f"user case #{number} (NIfTI): the label image's {what} differs from the "
                         "image's; save labels on the image's own grid")


def _volume_geometry(im) -> tuple[tuple[float, ...], tuple[float, float]]:
    """IOP and (row, col) spacing of every 2-D slice ``array[k]`` of a SimpleITK image.

    ``sitk.GetArrayFromImage`` gives (z, y, x): an array row follows image
    index y (direction column 1), an array column index x (direction column 0).
    IOP = (direction of increasing column, direction of increasing row), LPS.
    A 2-D image carries no out-of-plane direction in SimpleITK, so its plane is
    taken as the patient x-y (axial) plane.
    """
    d = im.GetDimension()
    direction = np.asarray(im.GetDirection(), dtype=float).reshape(d, d)
    if d == 2:
        direction = np.pad(direction, ((0, 1), (0, 1)))
        direction[2, 2] = 1.0
    sp = im.GetSpacing()
    iop = tuple(float(v) for v in direction[:, 0]) + tuple(float(v) for v in direction[:, 1])
    return iop, (float(sp[1]), float(sp[0]))


def _read_volume(e: _Entry) -> list[UserCase]:
    import SimpleITK as sitk

    n, fmt = e.number, "NIfTI"
    img = _sitk_read(e.path, n, "image")
    lab = _sitk_read(e.labels, n, "label image")
    _same_geometry(img, lab, n)
    iop, spacing = _volume_geometry(img)
    if min(spacing) <= 0:
        raise InputError(f"user case #{n} (NIfTI): the pixel spacing is not positive; fix the header")
    iop = _axial_or_raise(iop, n, fmt)
    arr = _image(sitk.GetArrayFromImage(img), n, fmt)
    labels = _clean_labels(sitk.GetArrayFromImage(lab), n, fmt)
    if arr.ndim == 2:
        arr, labels = arr[None], labels[None]
    return [UserCase(np.ascontiguousarray(arr[k]), np.ascontiguousarray(labels[k]), spacing, iop)
            for k in range(arr.shape[0]) if labels[k].any()]


# ----------------------------------------------------------------- PNG


def _png_array(path: Path, number: int, what: str, label: bool) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if label:
                if mode not in ("L", "P", "1", "I", "I;16", "I;16B", "I;16L"):
                    raise InputError(f"user case #{number} (PNG): the label PNG is {mode}, not a single "
                                     "channel; save grey or palette values 0–3")
                return np.asarray(im)
            if mode in ("L", "I", "F", "I;16", "I;16B", "I;16L"):
                return np.asarray(im, dtype=np.float32)
            if mode == "1":
                return np.asarray(im.convert("L"), dtype=np.float32)
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InputError(f"user case #{number} (PNG): the {what} cannot be read as PNG "
                         "(damaged or not a PNG)") from None
    return rgb @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luminance


def _read_png(e: _Entry) -> list[UserCase]:
    n, fmt = e.number, "PNG"
    sidecar = e.path.with_name(e.path.name[:-4] + ".json")
    need = ('a sidecar NAME.json beside NAME.png with {"spacing_mm": [row, col]} '
            '(and optionally "orientation": 6 numbers)')
    if not sidecar.is_file():
        raise InputError(f"user case #{n} (PNG) has no pixel spacing: PNG carries none, so add {need}")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"user case #{n} (PNG): its sidecar .json cannot be read as JSON; it needs {need}") from None
    if not isinstance(meta, dict) or "spacing_mm" not in meta:
        raise InputError(f"user case #{n} (PNG): its sidecar .json has no spacing_mm (pixel spacing is "
                         f"never assumed); it needs {need}")
    spacing = _positive_pair(meta["spacing_mm"])
    if spacing is None:
        raise InputError(f"user case #{n} (PNG): spacing_mm in its sidecar .json must be 2 positive "
                         "numbers [row, col] in mm")
    iop_raw = meta.get("orientation", DEFAULT_PNG_ORIENTATION)
    try:
        iop = tuple(float(v) for v in np.asarray(iop_raw, dtype=float).reshape(-1))
    except (TypeError, ValueError):
        iop = ()
    if len(iop) != 6:
        raise InputError(f"user case #{n} (PNG): orientation in its sidecar .json must be 6 numbers "
                         "(DICOM ImageOrientationPatient)")
    iop = _axial_or_raise(iop, n, fmt)
    img = _image(_png_array(e.path, n, "image", label=False), n, fmt)
    labels = _clean_labels(_png_array(e.labels, n, "label image", label=True), n, fmt)
    if img.shape != labels.shape:
        raise InputError(f"user case #{n} (PNG): image {img.shape[0]}×{img.shape[1]} and label image "
                         f"{labels.shape[0]}×{labels.shape[1]} differ in size; save labels on the image grid")
    return [UserCase(img, labels, spacing, iop)] if labels.any() else []


# ----------------------------------------------------------------- DICOM SEG


def _segment_label(desc) -> int | None:
    """Contract label of a SEG segment from its property type code (as
    ``mri_measure/report/seg.py`` codes it), else from its exact segment label."""
    prop = desc.SegmentedPropertyTypeCodeSequence[0]
    mods = {str(m.CodeValue) for m in prop.get("SegmentedPropertyTypeModifierCodeSequence", [])
            if str(m.CodingSchemeDesignator).upper() in SNOMED_SCHEMES}
    lab = label_from_codes(str(prop.CodingSchemeDesignator), str(prop.CodeValue), mods)
    if lab is None:
        lab = label_from_segment_label(str(desc.SegmentLabel))
    return None if lab is None else int(lab)


def _pixel_data_complete(seg) -> bool:
    try:
        meta = getattr(seg, "file_meta", None)
        ts = meta.get("TransferSyntaxUID") if meta is not None else None
        if ts is not None and ts.is_encapsulated:
            return "PixelData" in seg  # compressed frames: checked when decoded
        n = int(seg.get("NumberOfFrames", 1) or 1)
        bits = n * int(seg.Rows) * int(seg.Columns) * int(seg.BitsAllocated)
        return len(seg.PixelData) >= (bits + 7) // 8
    except (AttributeError, TypeError, ValueError, KeyError):
        return False


def _parse_seg(e: _Entry):
    import highdicom as hd

    try:
        seg = hd.seg.segread(e.path)
    except Exception:  # noqa: BLE001 - highdicom raises many types for a malformed object
        raise InputError(f"user case #{e.number} (DICOM SEG) cannot be read as a DICOM Segmentation") from None
    if not _pixel_data_complete(seg):  # pydicom/highdicom read a truncated file without complaint
        raise InputError(f"user case #{e.number} (DICOM SEG) cannot be read as a DICOM Segmentation: its "
                         "pixel data is incomplete (truncated file)")
    mapping: dict[int, int] = {}
    for number in seg.segment_numbers:
        label = _segment_label(seg.get_segment_description(number))
        if label is not None:
            mapping[int(number)] = label
    if not mapping:
        raise InputError(
            f"user case #{e.number} (DICOM SEG) has no dural sac or ligamentum flavum segment (coded as "
            "mri-measure writes them: SCT 18545000 Dura mater; SCT 52082005 Ligament with a Left/Right modifier)")
    refs = [str(u[2]) for u in seg.get_source_image_uids()]
    if not refs:
        raise InputError(f"user case #{e.number} (DICOM SEG) does not reference its source images; "
                         "it cannot be paired with them")
    return seg, mapping, list(dict.fromkeys(refs))


def _combine(arr: np.ndarray, numbers: list[int], mapping: dict[int, int]) -> np.ndarray:
    """(rows, cols, n_segments) masks → one label map; on overlap the higher label wins."""
    out = np.zeros(arr.shape[:2], np.uint8)
    for j in sorted(range(len(numbers)), key=lambda j: mapping[numbers[j]]):
        out[arr[..., j] > 0.5] = mapping[numbers[j]]
    return out


def _read_segs(root: Path, entries: list[_Entry]) -> dict[int, list[UserCase]]:
    from ..io import discover, load_stack

    parsed = {e.number: _parse_seg(e) for e in entries}
    try:
        found = discover(root)
        stacks = [st for study in found.studies for st in study.stacks]
    except InputError:
        stacks = []
    where: dict[str, list[tuple[int, Any]]] = {}  # SOPInstanceUID -> [(stack index, SliceInfo)]
    for si, st in enumerate(stacks):
        for info in st.slices:
            where.setdefault(info.sop_instance_uid, []).append((si, info))
    loaded: dict[int, dict[str, tuple[np.ndarray, Any]]] = {}

    def pixels(si: int) -> dict[str, tuple[np.ndarray, Any]]:
        if si not in loaded:
            try:
                ls = load_stack(stacks[si])
                loaded[si] = {info.key: (ls.pixels[k], info) for k, info in enumerate(ls.slices)}
            except InputError:
                loaded[si] = {}
        return loaded[si]

    out: dict[int, list[UserCase]] = {}
    for e in entries:
        n, fmt = e.number, "DICOM SEG"
        seg, mapping, refs = parsed[n]
        missing = [u for u in refs if u not in where]
        if missing:
            raise InputError(
                f"user case #{n} (DICOM SEG): {len(missing)} of the {len(refs)} image(s) it segments are not "
                "in the --user-cases folder; put the SEG and the DICOM series it was made from in it")
        numbers = sorted(mapping)
        # (slice key, SliceInfo, stack index, label map) for every source image / frame
        items: list[tuple[str, Any, int, np.ndarray]] = []
        try:
            single = [u for u in refs if where[u][0][1].frame_index is None]
            if single:
                arr = seg.get_pixels_by_source_instance(
                    single, segment_numbers=numbers, combine_segments=False,
                    assert_missing_frames_are_empty=True)
                for u, a in zip(single, arr):
                    si, info = where[u][0]
                    items.append((info.key, info, si, _combine(a, numbers, mapping)))
            for u in refs:
                frames = sorted(where[u], key=lambda x: x[1].frame_index or 0)
                if frames[0][1].frame_index is None:
                    continue
                arr = seg.get_pixels_by_source_frame(
                    u, [info.frame_index + 1 for _, info in frames], segment_numbers=numbers,
                    combine_segments=False, assert_missing_frames_are_empty=True)
                for (si, info), a in zip(frames, arr):
                    items.append((info.key, info, si, _combine(a, numbers, mapping)))
        except (ValueError, RuntimeError, KeyError, IndexError, AttributeError):
            raise InputError(f"user case #{n} (DICOM SEG): its frames cannot be matched to the images "
                             "it references (geometry or references inconsistent)") from None
        cases = []
        for key, info, si, labels in items:
            if not labels.any():
                continue
            got = pixels(si).get(key)
            if got is None:
                raise InputError(f"user case #{n} (DICOM SEG): an image it segments fails the integrity "
                                 "checks and cannot be loaded; replace the damaged file")
            img, info = got
            if img.shape != labels.shape:
                raise InputError(f"user case #{n} (DICOM SEG): a frame is {labels.shape[0]}×{labels.shape[1]} "
                                 f"but its image {img.shape[0]}×{img.shape[1]}; the SEG does not fit its images")
            iop = _axial_or_raise(info.orientation, n, fmt)
            sp = (float(info.spacing_mm[0]), float(info.spacing_mm[1]))
            cases.append(UserCase(np.asarray(img, np.float32), labels, sp, iop))
        out[n] = cases
    return out
