"""A complete synthetic patient CD: DICOMDIR, sagittal T2 and axial T2, plus truth.

Layout written by :func:`write_cd`::

    out_dir/CD/DICOMDIR                       written with pydicom's FileSet
    out_dir/CD/PT000000/ST000000/SE00000n/IM0000nn   PS3.10 file IDs, no extensions
    out_dir/truth.json                        ground truth keyed by SOPInstanceUID
    out_dir/truth_labels.npz                  one uint8 label map per axial SOPInstanceUID

Everything is deterministic for a seed (UIDs are derived from it).  The
patient identity is obviously fake (``PHANTOM^SYNTHETIC``, ``SYNTH-<seed>``)
unless ``phi`` overrides it (tests use distinctive fake PHI).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OptionError
from ..levels.names import LUMBAR_LEVELS
from . import render as R
from .phantom import SpinePhantom, make_phantom
from .planes import Plane, disc_plane, plane_tissues, slice_truth

TRUTH_SCHEMA = "mri-measure-truth/1"
DEFAULT_LEVELS = LUMBAR_LEVELS[-3:]  # L3-L4, L4-L5, L5-S1
AXIAL_MODES = ("blocks", "contiguous", "volume3d")
COMPRESSIONS = ("explicit", "deflate", "rle", "jpeg-lossless", "jpeg-ls", "jpeg2000")
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_TS = {
    "explicit": "1.2.840.10008.1.2.1",
    "deflate": "1.2.840.10008.1.2.1.99",
    "rle": "1.2.840.10008.1.2.5",
    "jpeg-lossless": "1.2.840.10008.1.2.4.70",
    "jpeg-ls": "1.2.840.10008.1.2.4.80",
    "jpeg2000": "1.2.840.10008.1.2.4.90",
}


@dataclass
class _Image:
    plane: Plane
    pixels: np.ndarray  # uint16
    series: str  # "axial" | "sagittal"
    thickness_mm: float
    spacing_between_mm: float
    truth: dict[str, Any]
    labels: np.ndarray | None = None


class _Uids:
    """Deterministic UIDs from the seed and a name."""

    def __init__(self, seed: int, stenosis: str, axial: str):
        self._base = ["mri-measure-synth/1", str(seed), stenosis, axial]

    def __call__(self, *parts: Any) -> str:
        """A "2.25." UUID-derived UID from a SHA-256 of the seed and ``parts``
        (pydicom's generate_uid ignores entropy sources when prefix is None)."""
        import hashlib

        text = "\x1f".join([*self._base, *map(str, parts)])
        return f"2.25.{int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], 'big')}"


def _render_plane(ph: SpinePhantom, plane: Plane, rng: np.random.Generator, table: np.ndarray,
                  thickness_mm: float, noise: float = 13.0) -> tuple[np.ndarray, np.ndarray]:
    n = 3 if thickness_mm > 1.5 else 1
    depths = tuple(np.linspace(-thickness_mm / 3, thickness_mm / 3, n)) if n > 1 else (0.0,)
    tissues = plane_tissues(ph, plane, depths)
    post = (float(np.dot(plane.col_dir, [0, 1, 0])), float(np.dot(plane.row_dir, [0, 1, 0])))
    bias = R.bias_field(plane.shape, rng, strength=0.15, posterior_gain=0.25, col_dir_posterior=post)
    img = R.render(tissues, table, rng, blur_px=0.5, noise_sigma=noise, bias=bias)
    return tissues[len(depths) // 2], np.clip(np.rint(img), 0, 4095).astype(np.uint16)


def _sagittal_planes(ph: SpinePhantom, n: int = 15, gap: float = 4.4, size=(384, 384), sp=0.85):
    # from T12 down to the tip of the sacrum (as clinical lumbar sagittals do), a
    # little behind the bodies; 326 mm field of view
    j_top = min(ph.knobs["n_lumbar"], ph.n_discs - 1)  # T12-L1
    c_top, _, _ = ph.centre_line(ph.disc_s[j_top] + 10.0)
    c_bot, _, _ = ph.centre_line(ph.disc_s[0] - 95.0)  # sacral tip
    centre = (c_top + c_bot) / 2 + np.array([0.0, 15.0, 0.0])
    row, col = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])
    normal = np.cross(row, col)  # -x: towards patient right
    planes = []
    for i in range(n):
        # instance 1 at patient left, like most sagittal protocols
        off = ((n - 1) / 2 - i) * gap
        planes.append(Plane(centre - normal * off, row, col, (sp, sp), size))
    return planes


def _axial_planes(ph: SpinePhantom, axial: str, levels: tuple[str, ...]):
    """(plane, block level or None) for the axial series."""
    sp, size = 0.625, (320, 320)
    out = []
    if axial == "blocks":
        for lev in levels:
            for i in range(5):
                p = disc_plane(ph, lev, spacing_mm=(sp, sp), shape=size, offset_mm=(i - 2) * 4.0,
                               centre_on="canal")
                out.append((p, lev))
        return out, 4.0, 4.0
    # contiguous straight axial stack from above the top level to below the bottom one
    js = [ph.level_index(lev) for lev in levels]
    c_hi, _, _ = ph.centre_line(ph.disc_s[max(js)] + 10.0)
    c_lo, _, _ = ph.centre_line(ph.disc_s[min(js)] - 10.0)
    n = int(np.ceil((c_hi[2] - c_lo[2]) / 4.0)) + 1
    mid = (c_hi + c_lo) / 2 + np.array([0.0, 20.0, 0.0])
    for i in range(n):
        z = c_lo[2] + i * 4.0
        centre = np.array([0.0, mid[1], z])
        out.append((Plane.axial(centre, spacing_mm=(sp, sp), shape=size), None))
    return out, 4.0, 4.0


def _volume3d_planes(ph: SpinePhantom, size=(256, 256), n=64):
    j_top = min(ph.knobs["n_lumbar"], ph.n_discs - 1)
    c_top, _, _ = ph.centre_line(ph.disc_s[j_top])
    c_bot, _, _ = ph.centre_line(ph.disc_s[0] - 40.0)
    centre = (c_top + c_bot) / 2 + np.array([0.0, 20.0, 0.0])
    row, col = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])
    normal = np.cross(row, col)
    return [Plane(centre - normal * (((n - 1) / 2 - i) * 1.0), row, col, (1.0, 1.0), size) for i in range(n)]


def _dataset(img: _Image, *, seed: int, series_number: int, series_uid: str,
             instance: int, sop_uid: str, frame_uid: str, study_uid: str, phi: dict[str, Any] | None,
             description: str, mr_3d: bool):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "MRIMEASURE_SYN"
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.SOPClassUID = MR_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240101"
    ds.StudyTime = "090000"
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = f"09{series_number:02d}00"
    ds.AccessionNumber = ""
    ds.Modality = "MR"
    ds.Manufacturer = "mri-measure synthetic phantom"
    ds.ManufacturerModelName = "SpinePhantom"
    ds.SoftwareVersions = "mri-measure synth 1"
    ds.InstitutionName = "SYNTHETIC"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "LUMBAR SPINE (SYNTHETIC PHANTOM)"
    ds.SeriesDescription = description
    ds.PatientName = "PHANTOM^SYNTHETIC"
    ds.PatientID = f"SYNTH-{seed}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "LSPINE"
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = ["SK", "SP"]
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "3D" if mr_3d else "2D"
    ds.SequenceName = "*spc_284ns" if mr_3d else "*tse2d1_17"
    ds.SliceThickness = f"{img.thickness_mm:g}"
    ds.RepetitionTime = "1500" if mr_3d else "4000"
    ds.EchoTime = "120" if mr_3d else "96"
    ds.EchoTrainLength = 70 if mr_3d else 17
    ds.NumberOfAverages = "1" if mr_3d else "2"
    ds.ImagingFrequency = "63.6"
    ds.ImagedNucleus = "1H"
    ds.MagneticFieldStrength = "1.5"
    ds.SpacingBetweenSlices = f"{img.spacing_between_mm:g}"
    ds.FlipAngle = "120" if mr_3d else "150"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{x:.6f}" for x in img.plane.position_mm]
    ds.ImageOrientationPatient = [f"{x:.8f}" for x in img.plane.orientation]
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{float(np.dot(img.plane.centre, img.plane.normal)):.6f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = img.pixels.shape
    ds.PixelSpacing = [f"{img.plane.spacing_mm[0]:g}", f"{img.plane.spacing_mm[1]:g}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 16 if mr_3d else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = "700"
    ds.WindowWidth = "1500"
    ds.PixelData = img.pixels.tobytes()
    if phi:
        from pydicom.datadict import tag_for_keyword

        for key, value in phi.items():
            if tag_for_keyword(key) is None:
                raise OptionError(f"phi: {key!r} is not a DICOM keyword")
            setattr(ds, key, value)
    return ds


def _encode(ds, compress: str, tmp: Path):
    """Apply the transfer syntax (pixel compression via pydicom's encoders or GDCM)."""
    from pydicom.uid import UID

    ts = UID(_TS[compress])
    if compress in ("explicit",):
        return ds
    if compress == "deflate":
        ds.file_meta.TransferSyntaxUID = ts
        return ds
    if compress == "jpeg-lossless":
        return _gdcm_jpeg_lossless(ds, tmp)
    arr = np.frombuffer(ds.PixelData, np.uint16).reshape(ds.Rows, ds.Columns)
    ds.compress(ts, arr, generate_instance_uid=False)
    return ds


def _gdcm_jpeg_lossless(ds, tmp: Path):
    """JPEG Lossless SV1: pydicom has no encoder for it, so GDCM transcodes."""
    import gdcm
    import pydicom

    src, dst = tmp / "src.dcm", tmp / "dst.dcm"
    ds.save_as(src, enforce_file_format=True)
    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    if not reader.Read():
        raise OptionError("jpeg-lossless: GDCM could not read the image to compress")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise OptionError("jpeg-lossless: GDCM could not encode the image")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(dst))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise OptionError("jpeg-lossless: GDCM could not write the image")
    out = pydicom.dcmread(dst)
    out.preamble = b"\x00" * 128
    return out


def _rounded(x):
    return None if x is None else round(float(x), 4)


def write_cd(out_dir, *, seed: int = 0, stenosis: str = "none", axial: str = "blocks",
             levels=None, compress: str | None = None, sagittal: bool = True,
             phi: dict[str, Any] | None = None, phantom: SpinePhantom | None = None) -> Path:
    """Write a synthetic patient CD under ``out_dir/CD`` and truth files beside it.

    ``axial``: "blocks" (5 slices of 4 mm angled parallel to each disc in
    ``levels``, default L3-L4 L4-L5 L5-S1), "contiguous" (a straight axial
    4 mm stack covering those levels) or "volume3d" (an isotropic 1 mm
    sagittal 3-D T2 instead of 2-D axials).  ``compress``: one of
    ``COMPRESSIONS`` (default explicit VR little endian).  Returns the CD path.
    """
    if axial not in AXIAL_MODES:
        raise OptionError(f"axial must be one of {', '.join(AXIAL_MODES)}, not {axial!r}")
    compress = compress or "explicit"
    if compress not in COMPRESSIONS:
        raise OptionError(f"compress must be one of {', '.join(COMPRESSIONS)}, not {compress!r}")
    if phi is not None and not isinstance(phi, dict):
        raise OptionError("phi must be a dict of DICOM keyword -> value")
    ph = phantom if phantom is not None else make_phantom(int(seed), stenosis=stenosis)
    levels = tuple(levels) if levels else DEFAULT_LEVELS
    for lev in levels:
        if lev not in ph.discs:
            raise OptionError(f"unknown disc level {lev!r}; choose from {', '.join(ph.discs)}")
    out_dir = Path(out_dir)
    cd = out_dir / "CD"
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError("--out names a file, not a folder; choose an empty folder")
    if cd.exists() and any(cd.iterdir()):
        raise OptionError("the output folder already holds a CD; choose an empty --out folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # message without the path (it may name a patient)
        raise OptionError(f"cannot create the output folder ({exc.strerror}); choose a writable --out folder") from None
    for name in ("truth.json", "truth_labels.npz"):
        if (out_dir / name).exists():
            raise OptionError("the output folder already holds truth files; choose an empty --out folder")

    rng = np.random.default_rng([int(seed), 4242])
    uids = _Uids(int(seed), stenosis, axial)
    images: list[list[_Image]] = []
    descriptions: list[tuple[str, bool]] = []
    table_sag = R.tissue_intensities("t2", None, nucleus_signal=float(np.mean(ph.nucleus_signal[:3])))
    if sagittal and axial != "volume3d":
        sag = []
        for p in _sagittal_planes(ph):
            _, px = _render_plane(ph, p, rng, table_sag, 4.0)
            sag.append(_Image(p, px, "sagittal", 4.0, 4.4, _sagittal_truth()))
        images.append(sag)
        descriptions.append(("T2 TSE SAG", False))
    if axial == "volume3d":
        vol = []
        for p in _volume3d_planes(ph):
            _, px = _render_plane(ph, p, rng, table_sag, 1.0, noise=10.0)
            vol.append(_Image(p, px, "sagittal", 1.0, 1.0, _sagittal_truth()))
        images.append(vol)
        descriptions.append(("T2 SPACE SAG 3D ISO", True))
    else:
        planes, thick, gap = _axial_planes(ph, axial, levels)
        ax = []
        for p, lev in planes:
            j = ph.level_index(lev) if lev else None
            table = R.tissue_intensities(
                "t2", None, nucleus_signal=float(ph.nucleus_signal[j]) if j is not None else 0.9)
            tissues, px = _render_plane(ph, p, rng, table, thick)
            tr = slice_truth(ph, p, tissues, k=8)
            truth = {
                "series": "axial", "level": lev or tr.level,
                "canal_area_mm2": _rounded(tr.canal_area_mm2),
                "lf_thickness_left_mm": _rounded(tr.lf_thickness_left_mm),
                "lf_thickness_right_mm": _rounded(tr.lf_thickness_right_mm),
                "canal_ap_mm": _rounded(tr.canal_ap_mm),
            }
            ax.append(_Image(p, px, "axial", thick, gap, truth, tr.labels))
        images.append(ax)
        descriptions.append(("T2 TSE AX", False))

    # ---- DICOM + DICOMDIR
    from pydicom.fileset import FileSet

    study_uid, frame_uid = uids("study"), uids("frame")
    fs = FileSet()
    fs.ID = "SYNTHCD"
    fs.UID = uids("fileset")
    truth_slices: dict[str, Any] = {}
    label_maps: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="mri-measure-synth-") as tmp:
        tmp_path = Path(tmp)
        for s_idx, (series, (desc, mr_3d)) in enumerate(zip(images, descriptions)):
            series_number = 2 + s_idx
            series_uid = uids("series", s_idx)
            for i, img in enumerate(series):
                sop = uids("image", s_idx, i)
                ds = _dataset(img, seed=int(seed), series_number=series_number,
                              series_uid=series_uid, instance=i + 1, sop_uid=sop, frame_uid=frame_uid,
                              study_uid=study_uid, phi=phi, description=desc, mr_3d=mr_3d)
                ds = _encode(ds, compress, tmp_path)
                fs.add(ds)
                truth_slices[sop] = img.truth
                if img.labels is not None:
                    label_maps[sop] = img.labels
        cd.mkdir(parents=True, exist_ok=True)
        fs.write(cd)
        _release_stage(fs)
    discs = []
    for lev in ph.discs:
        c, n, _ = ph.disc_frame(lev)
        discs.append({"level": lev, "centre_mm": [round(float(x), 4) for x in c],
                      "normal": [round(float(x), 6) for x in n]})
    truth = {
        "schema": TRUTH_SCHEMA, "seed": int(seed), "stenosis": ph.stenosis, "axial": axial,
        "discs": discs, "slices": truth_slices,
        "disc_truth": _disc_truth(ph),
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1))
    np.savez_compressed(out_dir / "truth_labels.npz", **label_maps)
    return cd


def _release_stage(fs) -> None:
    """Remove the FileSet's staging folder now rather than at interpreter exit
    (pydicom keeps it in a TemporaryDirectory that warns when collected late)."""
    stage = getattr(fs, "_stage", {}).get("t")
    if stage is not None and hasattr(stage, "cleanup"):
        stage.cleanup()


def _sagittal_truth() -> dict[str, Any]:
    return {"series": "sagittal", "level": None, "canal_area_mm2": None, "lf_thickness_left_mm": None,
            "lf_thickness_right_mm": None, "canal_ap_mm": None}


def _disc_truth(ph: SpinePhantom) -> dict[str, Any]:
    """Truth on each lumbar disc's mid-plane (0.5 mm pixels), e.g. for 3-D reformats."""
    out = {}
    for lev in ph.discs:
        if lev.startswith("T"):
            continue
        p = disc_plane(ph, lev, spacing_mm=(0.5, 0.5), shape=(128, 128))
        tr = slice_truth(ph, p, k=8)
        out[lev] = {
            "canal_area_mm2": _rounded(tr.canal_area_mm2),
            "lf_thickness_left_mm": _rounded(tr.lf_thickness_left_mm),
            "lf_thickness_right_mm": _rounded(tr.lf_thickness_right_mm),
            "canal_ap_mm": _rounded(tr.canal_ap_mm),
        }
    return out
