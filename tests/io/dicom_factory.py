"""Small reusable writer of real DICOM test files (pydicom, gdcm for JPEG lossless).

Every dataset carries fake but realistic PHI (:data:`PHI`) so tests can check
that nothing of it reaches outputs or logs.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

PHI = {"PatientName": "DOE^JOHN", "PatientID": "PID778899", "PatientBirthDate": "19580214"}
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SYNTAXES = ("explicit", "implicit", "deflate", "rle", "jpeg-lossless", "jpeg-ls", "jpeg2000")


def tilted_axial(tilt_deg: float) -> tuple[float, ...]:
    """Axial orientation tilted about the patient left-right axis (a per-disc block)."""
    t = np.deg2rad(tilt_deg)
    return (1.0, 0.0, 0.0, 0.0, float(np.cos(t)), float(np.sin(t)))


def normal_of(iop: Sequence[float]) -> np.ndarray:
    n = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
    return n / np.linalg.norm(n)


def pattern_pixels(rows: int, cols: int, seed: int, bits_stored: int = 12) -> np.ndarray:
    """Deterministic non-constant uint16 image within BitsStored."""
    rng = np.random.default_rng(seed)
    hi = (1 << bits_stored) - 1
    yy, xx = np.mgrid[0:rows, 0:cols]
    base = (xx * 37 + yy * 11) % (hi // 2)
    return (base + rng.integers(0, hi // 2, size=(rows, cols))).astype(np.uint16)


def _base(sop_class: str, study_uid: str, series_uid: str, sop_uid: str | None) -> Dataset:
    ds = Dataset()
    sop_uid = sop_uid or generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    for k, v in PHI.items():
        setattr(ds, k, v)
    ds.PatientSex = "M"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240102", "101010", "1", ""
    ds.ReferringPhysicianName = ""
    ds.Modality = "MR"
    ds.StudyDescription = "LUMBAR SPINE"
    return ds


def mr_slice(
    *,
    study_uid: str,
    series_uid: str,
    position: Sequence[float],
    orientation: Sequence[float] = AXIAL,
    spacing: Sequence[float] = (0.7, 0.7),
    rows: int = 32,
    cols: int = 32,
    pixels: np.ndarray | None = None,
    series_number: int = 3,
    instance_number: int = 1,
    te: float | None = 100.0,
    tr: float | None = 4000.0,
    description: str = "T2 TSE AX",
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "M", "NONE"),
    bits_stored: int = 12,
    thickness: float = 4.0,
    slope: float | None = None,
    intercept: float | None = None,
    seed: int = 0,
    sop_uid: str | None = None,
    for_uid: str = "1.2.826.0.1.3680043.8.498.1",
) -> Dataset:
    """One single-frame MR image (uint16, MONOCHROME2)."""
    ds = _base(MRImageStorage, study_uid, series_uid, sop_uid)
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.SeriesDescription = description
    ds.ImageType = list(image_type)
    ds.FrameOfReferenceUID = for_uid
    if te is not None:
        ds.EchoTime = te
    if tr is not None:
        ds.RepetitionTime = tr
    ds.ScanningSequence = "SE"
    ds.ImagePositionPatient = [round(float(v), 4) for v in position]
    ds.ImageOrientationPatient = [round(float(v), 6) for v in orientation]
    ds.PixelSpacing = [float(v) for v in spacing]
    ds.SliceThickness = thickness
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    arr = pattern_pixels(rows, cols, seed, bits_stored) if pixels is None else pixels
    _set_pixels(ds, arr, bits_stored)
    return ds


def _set_pixels(ds: Dataset, arr: np.ndarray, bits_stored: int = 12) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(arr.shape[-2]), int(arr.shape[-1])
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(arr, dtype=np.uint16).tobytes()


def stack_of(
    n: int,
    *,
    study_uid: str,
    series_uid: str,
    orientation: Sequence[float] = AXIAL,
    centre: Sequence[float] = (0.0, 0.0, 0.0),
    step: float = 4.0,
    first_instance: int = 1,
    seed: int = 0,
    **kw,
) -> list[Dataset]:
    """``n`` parallel slices along the orientation's normal, centred on ``centre``."""
    nrm = normal_of(orientation)
    out = []
    for i in range(n):
        pos = np.asarray(centre, float) + (i - (n - 1) / 2) * step * nrm
        out.append(
            mr_slice(
                study_uid=study_uid,
                series_uid=series_uid,
                position=pos,
                orientation=orientation,
                instance_number=first_instance + i,
                seed=seed + i,
                **kw,
            )
        )
    return out


def enhanced_mr(
    n: int,
    *,
    study_uid: str,
    series_uid: str,
    orientation: Sequence[float] = AXIAL,
    step: float = 3.0,
    spacing: Sequence[float] = (0.8, 0.8),
    rows: int = 24,
    cols: int = 20,
    te: float = 110.0,
    tr: float = 3500.0,
    series_number: int = 9,
    seed: int = 0,
    frame_order: Sequence[int] | None = None,
    slope: float = 1.0,
    intercept: float = 0.0,
) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """Enhanced MR multi-frame: returns (dataset, pixels (n,rows,cols), frame z-positions).

    Frames are stored in ``frame_order`` (a permutation of positions), so the
    file order differs from the spatial order.
    """
    ds = _base(EnhancedMRImageStorage, study_uid, series_uid, None)
    ds.SeriesNumber = series_number
    ds.InstanceNumber = 1
    ds.SeriesDescription = "T2 3D SPACE"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.NumberOfFrames = n
    order = list(frame_order) if frame_order is not None else list(range(n))
    nrm = normal_of(orientation)
    positions = np.array([nrm * (k * step) for k in order])

    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = [float(v) for v in spacing]
    pm.SliceThickness = step
    shared.PixelMeasuresSequence = DicomSequence([pm])
    po = Dataset()
    po.ImageOrientationPatient = [float(v) for v in orientation]
    shared.PlaneOrientationSequence = DicomSequence([po])
    timing = Dataset()
    timing.RepetitionTime = tr
    shared.MRTimingAndRelatedParametersSequence = DicomSequence([timing])
    echo = Dataset()
    echo.EffectiveEchoTime = te
    shared.MREchoSequence = DicomSequence([echo])
    pvt = Dataset()
    pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = slope, intercept, "US"
    shared.PixelValueTransformationSequence = DicomSequence([pvt])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])

    per = []
    for i in range(n):
        fg = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [float(v) for v in positions[i]]
        fg.PlanePositionSequence = DicomSequence([pp])
        fc = Dataset()
        fc.InStackPositionNumber = order[i] + 1
        fg.FrameContentSequence = DicomSequence([fc])
        per.append(fg)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per)
    frames = np.stack([pattern_pixels(rows, cols, seed + i) for i in range(n)])
    _set_pixels(ds, frames)
    return ds, frames, positions @ nrm


def save(ds: Dataset, path: str | os.PathLike[str], syntax: str = "explicit") -> Path:
    """Write ``ds`` to ``path`` in a transfer syntax (see :data:`SYNTAXES`), or
    ``"no-preamble"`` (implicit VR, no 128-byte preamble, no file meta)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = copy.deepcopy(ds)
    if syntax == "explicit":
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)
    elif syntax == "implicit":
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)
    elif syntax == "deflate":
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)
    elif syntax in ("rle", "jpeg-ls", "jpeg2000"):
        uid = {"rle": RLELossless, "jpeg-ls": JPEGLSLossless, "jpeg2000": JPEG2000Lossless}[syntax]
        ds.compress(uid, generate_instance_uid=False)
        ds.save_as(path, enforce_file_format=True)
    elif syntax == "jpeg-lossless":
        # pydicom has no JPEG lossless encoder; gdcm (permissive licence) has one
        import gdcm

        tmp = path.with_name(path.name + ".tmp-uncompressed")
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(tmp, enforce_file_format=True)
        reader = gdcm.ImageReader()
        reader.SetFileName(str(tmp))
        assert reader.Read()
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
        change.SetInput(reader.GetImage())
        assert change.Change()
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(path))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        assert writer.Write()
        tmp.unlink()
        import pydicom

        assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == JPEGLosslessSV1
    elif syntax == "no-preamble":
        # old ACR-NEMA style: no preamble, no "DICM", no file meta; implicit VR LE
        import pydicom

        del ds.file_meta
        ds.preamble = None
        pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)
        assert path.read_bytes()[:2] == b"\x08\x00"
    else:
        raise ValueError(syntax)
    return path


def make_cd(root: str | os.PathLike[str], datasets: Sequence[Dataset], *, lowercase: bool = False) -> Path:
    """A CD folder with a DICOMDIR written by :class:`pydicom.fileset.FileSet`.

    With ``lowercase`` every file and folder name is lower-cased afterwards,
    as happens when a CD is copied on Linux (the DICOMDIR keeps upper case IDs).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fs = FileSet()
    for ds in datasets:
        fs.add(ds)
    fs.write(root)
    if lowercase:
        for dirpath, dirnames, filenames in os.walk(root, topdown=False):
            for name in filenames + dirnames:
                src = Path(dirpath) / name
                if name != name.lower():
                    src.rename(Path(dirpath) / name.lower())
    return root


def junk_files(folder: str | os.PathLike[str]) -> int:
    """The clutter patient CDs carry; returns how many files were written."""
    folder = Path(folder)
    (folder / "VIEWER").mkdir(parents=True, exist_ok=True)
    files = {
        "AUTORUN.INF": b"[autorun]\r\nopen=VIEWER\\viewer.exe\r\n",
        "README.HTM": b"<html><body>Patient DOE^JOHN</body></html>",
        "VIEWER/viewer.exe": b"MZ" + bytes(200),
        "VIEWER/logo.jpg": b"\xff\xd8\xff\xe0" + bytes(300),
        "VIEWER/empty.txt": b"",
    }
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    return len(files)
