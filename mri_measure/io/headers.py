"""Header-only reading: is this DICOM, and what images (frames) does it hold.

:func:`read_header` parses a file object without pixel data
(``stop_before_pixels``); :func:`image_headers` turns the dataset into one
:class:`ImageHeader` per 2-D image, splitting Enhanced (multi-frame) MR into
frames with per-frame geometry from the functional groups.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from ..types import SliceInfo

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
MAX_MATRIX = 16384  # rows or columns; MR never comes close
MAX_FRAMES = 20000  # frames in one multi-frame object (a corrupt value must not loop for ever)

#: first group of a DICOM stream written without the preamble
_GROUP_PREFIXES = (b"\x02\x00", b"\x08\x00")


class NotDicom(Exception):
    """The bytes are not a DICOM dataset (clutter: autorun, viewers, html, jpg)."""


class BadDicom(Exception):
    """Looks like DICOM but cannot be parsed; ``str(exc)`` is a PHI-free reason."""


def read_header(fp: BinaryIO, *, stop_before_pixels: bool = True) -> Dataset:
    """Parse a DICOM dataset (header only by default).

    Files with the 128-byte preamble + ``DICM`` are read normally; files without
    it (old ACR-NEMA style, some CDs) only when the first element is a
    group 0002 or 0008 tag. Anything else raises :class:`NotDicom`.
    """
    head = fp.read(132)
    if len(head) >= 132 and head[128:132] == b"DICM":
        force = False
    elif len(head) >= 8 and head[:2] in _GROUP_PREFIXES:
        force = True
    else:
        raise NotDicom
    fp.seek(0)
    try:
        ds = pydicom.dcmread(fp, stop_before_pixels=stop_before_pixels, force=force)
    except InvalidDicomError:
        raise NotDicom from None
    except MemoryError:
        raise BadDicom("header declares absurd element lengths") from None
    except Exception as exc:  # pydicom raises many kinds on corrupt input
        raise BadDicom(f"header cannot be parsed ({type(exc).__name__})") from None
    if force:
        try:
            _fill_transfer_syntax(ds)
        except Exception:
            raise BadDicom("transfer syntax cannot be determined") from None
    if "SOPInstanceUID" not in ds and "SOPClassUID" not in ds:
        if force:
            raise NotDicom
        meta = getattr(ds, "file_meta", None)
        if meta is None or meta.get("MediaStorageSOPClassUID") != MEDIA_STORAGE_DIRECTORY:
            # pydicom returns what it could parse of a truncated file, silently
            raise BadDicom("no SOP Class/Instance UID in the dataset (truncated header?)")
    return ds


def _fill_transfer_syntax(ds: Dataset) -> None:
    """A file without file meta still needs a transfer syntax for decoding:
    the one pydicom actually parsed it with."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" in meta:
        return
    implicit, little = ds.original_encoding
    if implicit:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    elif little is False:
        meta.TransferSyntaxUID = ExplicitVRBigEndian
    else:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian


def transfer_syntax_is_compressed(ds: Dataset) -> bool:
    """Whether pixel data is encapsulated; raises ValueError for an unknown or
    corrupt transfer syntax UID."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid is None:
        raise ValueError("no transfer syntax")
    return bool(uid.is_compressed)


@dataclass(frozen=True)
class ImageHeader:
    """One 2-D image plus the series-level facts stacks and roles need."""

    info: SliceInfo
    study_instance_uid: str
    series_instance_uid: str
    series_number: int | None
    series_description: str
    study_description: str
    modality: str
    frame_of_reference_uid: str | None
    echo_time_ms: float | None
    repetition_time_ms: float | None
    inversion_time_ms: float | None
    image_type: tuple[str, ...]
    scanning_sequence: tuple[str, ...]
    acquisition_contrast: str | None
    #: opaque hash of the normalised PatientID/PatientName/PatientBirthDate
    #: (never the values themselves): images of one study must agree on it
    patient_key: str = ""
    acquisition_number: int | None = None
    #: why PixelSpacing is unusable ("missing", "0 x 0 mm", ...); the image's
    #: ``info.spacing_mm`` is then a placeholder and must never be used
    spacing_issue: str | None = None


def _first(seq_parent: Dataset | None, seq_kw: str) -> Dataset | None:
    if seq_parent is None:
        return None
    seq = seq_parent.get(seq_kw)
    if not seq:
        return None
    try:
        return seq[0]
    except (IndexError, TypeError):
        return None


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, (str, bytes, int, float)) else value
    try:
        vals = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        return None
    return vals


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


_ASCII_VRS = frozenset({"DS", "IS", "UI", "CS"})
_TAGS: dict[str, int] = {}


def _tag(keyword: str) -> int:
    tag = _TAGS.get(keyword)
    if tag is None:
        tag = _TAGS[keyword] = int(tag_for_keyword(keyword))  # type: ignore[arg-type]
    return tag


def _get(ds: Dataset | None, keyword: str) -> Any:
    """Value of ``keyword`` in ``ds`` or ``None``; never raises.

    Plain ASCII elements (DS, IS, UI, CS) still in raw form are decoded here
    directly — a str, or a list of str when multi-valued — which is several
    times faster than pydicom's conversion and tolerant of bad values (the
    numeric parsers below reject them). Everything else goes through pydicom.
    """
    if ds is None:
        return None
    tag = _tag(keyword)
    try:
        elem = ds.get_item(tag)
    except Exception:
        return None
    if elem is None:
        return None
    if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes):
        vr = elem.VR or _dictionary_vr(tag)
        if vr in _ASCII_VRS:
            parts = [p.strip(" \0") for p in elem.value.decode("ascii", "replace").split("\\")]
            if len(parts) == 1:
                return parts[0] or None
            return parts
    try:
        return ds[tag].value
    except Exception:  # a value that fails to convert (bad DS/IS)
        return None


def _dictionary_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def check_orientation(iop: tuple[float, ...] | None) -> tuple[float, ...] | None:
    """Unit, orthogonal direction cosines, or ``None`` when unusable.

    >>> check_orientation((1, 0, 0, 0, 1, 0))
    (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    >>> check_orientation((1, 0, 0, 1, 0, 0)) is None  # parallel rows/columns
    True
    """
    if iop is None:
        return None
    r, c = iop[:3], iop[3:]
    nr = math.sqrt(sum(v * v for v in r))
    nc = math.sqrt(sum(v * v for v in c))
    if not (0.9 < nr < 1.1 and 0.9 < nc < 1.1):
        return None
    r = tuple(v / nr for v in r)
    c = tuple(v / nc for v in c)
    if abs(sum(a * b for a, b in zip(r, c))) > 0.02:
        return None
    return tuple(float(v) for v in r + c)


@dataclass(frozen=True)
class FrameGeometry:
    position_mm: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    spacing_mm: tuple[float, float] | None
    thickness_mm: float | None
    spacing_issue: str | None = None  # why ``spacing_mm`` is None, when it is
    spacing_raw: tuple[float, float] | None = None  # parsed, before the validity check


def spacing_issue(spacing: tuple[float, ...] | None) -> str | None:
    """Why a parsed PixelSpacing cannot be used (``None`` when it can).

    >>> spacing_issue((0.7, 0.7)) is None
    True
    >>> spacing_issue(None), spacing_issue((0.0, 0.0)), spacing_issue((-0.7, -0.7))
    ('missing', 'zero (0 x 0 mm)', 'negative (-0.7 x -0.7 mm)')
    """
    if spacing is None:
        return "missing"
    shown = " x ".join(f"{v:g}" for v in spacing) + " mm"
    if any(v < 0 for v in spacing):
        return f"negative ({shown})"
    if any(v == 0 for v in spacing):
        return f"zero ({shown})"
    if any(v >= 100.0 for v in spacing):
        return f"absurd ({shown})"
    return None


def _geometry_from(sources: list[Dataset | None]) -> FrameGeometry:
    """First usable value of each geometry item over ``sources`` in order."""
    pos = iop = spacing = thick = None
    for src in sources:
        if src is None:
            continue
        if pos is None:
            pos = _floats(_get(_first(src, "PlanePositionSequence") or src, "ImagePositionPatient"), 3)
        if iop is None:
            iop = _floats(_get(_first(src, "PlaneOrientationSequence") or src, "ImageOrientationPatient"), 6)
        measures = _first(src, "PixelMeasuresSequence") or src
        if spacing is None:
            spacing = _floats(_get(measures, "PixelSpacing"), 2)
        if thick is None:
            thick = _float(_get(measures, "SliceThickness"))
    issue = spacing_issue(spacing)
    raw = spacing
    if issue is not None:
        spacing = None
    return FrameGeometry(pos, check_orientation(iop), spacing, thick, issue, raw)  # type: ignore[arg-type]


def n_frames(ds: Dataset) -> int:
    n = _int(_get(ds, "NumberOfFrames"))
    return n if n and n > 0 else 1


def frame_geometry(ds: Dataset, frame_index: int | None) -> FrameGeometry:
    """Geometry of a single-frame image (``frame_index`` None) or one frame."""
    if frame_index is None:
        return _geometry_from([ds])
    per = _get(ds, "PerFrameFunctionalGroupsSequence")
    per_frame = None
    if per is not None and frame_index < len(per):
        per_frame = per[frame_index]
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    return _geometry_from([per_frame, shared, ds])


def _mr_timing(ds: Dataset, frame: Dataset | None) -> tuple[float | None, float | None, float | None]:
    te = _float(_get(ds, "EchoTime"))
    tr = _float(_get(ds, "RepetitionTime"))
    ti = _float(_get(ds, "InversionTime"))
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    for src in (frame, shared):
        if te is None:
            te = _float(_get(_first(src, "MREchoSequence"), "EffectiveEchoTime"))
        if tr is None:
            tr = _float(_get(_first(src, "MRTimingAndRelatedParametersSequence"), "RepetitionTime"))
        if ti is None:
            ti = _float(_get(_first(src, "MRModifierSequence"), "InversionTimes"))
    return te, tr, ti


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip().upper() for v in value.split("\\") if v.strip())
    try:
        return tuple(str(v).strip().upper() for v in value if str(v).strip())
    except TypeError:
        return (str(value).strip().upper(),)


def _norm_text(value: Any) -> str:
    """Upper case, components trimmed, runs of blanks collapsed, empty
    trailing PN components dropped: ``"Doe^John^^"`` == ``"DOE^JOHN"``."""
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:  # a PN pydicom cannot decode
        return "?"
    parts = [" ".join(p.split()).upper() for p in text.replace("=", "^").split("^")]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)


def patient_key(ds: Dataset) -> str:
    """Opaque identity of the patient an image belongs to.

    A hash of the normalised PatientID, PatientName and PatientBirthDate, so
    images can be compared without keeping (or ever printing) the values.
    Anonymised images without any of them all get the same key.
    """
    parts = [_norm_text(_get(ds, kw)) for kw in ("PatientID", "PatientName")]
    parts.append("".join(ch for ch in str(_get(ds, "PatientBirthDate") or "") if ch.isdigit()))
    if not any(parts):
        return "anonymous"
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()[:16]


class ImplausibleImage(Exception):
    """Rows/Columns missing or beyond :data:`MAX_MATRIX`, NumberOfFrames beyond
    :data:`MAX_FRAMES`, or no SOP/series UID."""


class MissingGeometry(Exception):
    """An image without usable PixelSpacing / ImagePositionPatient / ImageOrientationPatient."""


_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def is_uid(text: str) -> bool:
    """A DICOM UID: digit components separated by dots, at most 64 characters.

    A damaged header can leave a UID with stray characters; such an image cannot
    be referenced reliably (JSON, SEG, SR), so it is left out.

    >>> is_uid("1.2.840.10008.5.1.4.1.1.4"), is_uid("1.2.8\xb840"), is_uid("")
    (True, False, False)
    """
    return 0 < len(text) <= 64 and _UID.fullmatch(text) is not None


MR_IMAGE_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR Image Storage
})


def image_headers(ds: Dataset, locator: str) -> list[ImageHeader]:
    """One :class:`ImageHeader` per 2-D image in ``ds`` (empty for non-images).

    Raises :class:`ImplausibleImage` for missing/absurd Rows, Columns,
    NumberOfFrames or UIDs, and :class:`MissingGeometry` (count of unusable
    images in ``args[0]``) when images lack the geometry a stack needs; for a
    multi-frame file with only some frames unusable, the exception's
    ``headers`` holds the usable ones.
    """
    sop_class = str(_get(ds, "SOPClassUID") or "")
    if sop_class == MEDIA_STORAGE_DIRECTORY:
        return []
    if "Rows" not in ds or "Columns" not in ds:
        if sop_class in MR_IMAGE_CLASSES:
            raise ImplausibleImage  # an MR image without a matrix: the header is damaged
        return []  # a non-image object (SR, presentation state, key object, …)
    rows, cols = _int(_get(ds, "Rows")), _int(_get(ds, "Columns"))
    sop_uid = str(_get(ds, "SOPInstanceUID") or "")
    series_uid = str(_get(ds, "SeriesInstanceUID") or "")
    if not rows or not cols or rows > MAX_MATRIX or cols > MAX_MATRIX or not is_uid(sop_uid) or not is_uid(series_uid):
        raise ImplausibleImage
    tsyntax = None
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        tsyntax = str(meta.TransferSyntaxUID)
    frames = n_frames(ds)
    if frames > MAX_FRAMES:
        raise ImplausibleImage
    multi = frames > 1 or "PerFrameFunctionalGroupsSequence" in ds
    per = _get(ds, "PerFrameFunctionalGroupsSequence") if multi else None
    base_kw = dict(
        study_instance_uid=str(_get(ds, "StudyInstanceUID") or "unknown-study"),
        series_instance_uid=series_uid,
        series_number=_int(_get(ds, "SeriesNumber")),
        series_description=str(_get(ds, "SeriesDescription") or ""),
        study_description=str(_get(ds, "StudyDescription") or ""),
        modality=str(_get(ds, "Modality") or ""),
        frame_of_reference_uid=str(_get(ds, "FrameOfReferenceUID") or "") or None,
        image_type=_strings(_get(ds, "ImageType")),
        scanning_sequence=_strings(_get(ds, "ScanningSequence")),
        patient_key=patient_key(ds),
        acquisition_number=_int(_get(ds, "AcquisitionNumber")),
    )
    out: list[ImageHeader] = []
    missing = 0
    for i in range(frames) if multi else [None]:
        geom = frame_geometry(ds, i)
        if geom.position_mm is None or geom.orientation is None:
            missing += 1
            continue
        spacing = geom.spacing_mm
        if spacing is None:
            # kept with a placeholder so discovery can say which series lacks a
            # usable pixel size; such images are never loaded or measured
            spacing = geom.spacing_raw if geom.spacing_raw is not None else (0.0, 0.0)
        frame_ds = per[i] if (per is not None and i is not None and i < len(per)) else None
        te, tr, ti = _mr_timing(ds, frame_ds)
        contrast = _get(_first(frame_ds, "MRImageFrameTypeSequence") or _first(
            _first(ds, "SharedFunctionalGroupsSequence"), "MRImageFrameTypeSequence"), "AcquisitionContrast")
        if contrast is None:
            contrast = _get(ds, "AcquisitionContrast")
        info = SliceInfo(
            sop_instance_uid=sop_uid,
            source=locator,
            position_mm=geom.position_mm,  # type: ignore[arg-type]
            orientation=geom.orientation,  # type: ignore[arg-type]
            spacing_mm=spacing,  # type: ignore[arg-type]
            rows=rows,
            columns=cols,
            instance_number=_int(_get(ds, "InstanceNumber")),
            frame_index=i,
            thickness_mm=geom.thickness_mm,
            transfer_syntax_uid=tsyntax,
        )
        out.append(
            ImageHeader(
                info=info,
                echo_time_ms=te,
                repetition_time_ms=tr,
                inversion_time_ms=ti,
                acquisition_contrast=str(contrast).upper() if contrast else None,
                spacing_issue=geom.spacing_issue,
                **base_kw,  # type: ignore[arg-type]
            )
        )
    if missing and not out:
        raise MissingGeometry(missing, "PixelSpacing/ImagePositionPatient/ImageOrientationPatient")
    if missing:
        # partially usable multi-frame: keep the good frames, report the rest
        raise _PartialFrames(out, missing)
    return out


class _PartialFrames(MissingGeometry):
    def __init__(self, headers: list[ImageHeader], missing: int) -> None:
        super().__init__(missing, "per-frame geometry")
        self.headers = headers
