"""Test data for the report writers: a small synthetic axial T2 MR series
written as real DICOM files with pydicom, plus hand-built analysis objects.

Two angled per-disc blocks (L4-L5, L5-S1) of one series, 3 slices each,
96×96 pixels at 0.7 mm; one slice of the lower block is left without a level
(it lies too far from any disc). A 3-slice sagittal stack carries the disc
planes for the overview figure. Label maps follow the contract:
1 dural sac (a disc), 2 LF patient-left, 3 LF patient-right (horizontal
bands posterior to the sac; patient-left is image-right for these IOPs).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from mri_measure.criteria import Thresholds, canal_grade
from mri_measure.types import (
    DiscPlane,
    LevelAssignment,
    LevelMeasurement,
    LoadedStack,
    SliceInfo,
    SliceMeasurement,
    SliceResult,
    Stack,
    StackAnalysis,
    StudyAnalysis,
    StudyReport,
)

PHANTOM = {"name": "PHANTOM^SYNTHETIC", "id": "PHANTOM-0001", "birth_date": "19700101"}
PHI = {"name": "ZZTESTPATIENT^PHI", "id": "PHI-ID-987654", "birth_date": "19010203"}

ROWS = COLS = 96
SPACING = (0.7, 0.7)


@dataclass(frozen=True)
class BlockSpec:
    level: str
    centre_mm: tuple[float, float, float]
    tilt_deg: float  # rotation about the patient x axis
    canal_radius_px: tuple[float, ...]  # per slice
    lf_left_rows: tuple[int, ...]  # band thickness in rows, per slice
    lf_right_rows: tuple[int, ...]
    unknown_last: bool = False


DEFAULT_BLOCKS = (
    BlockSpec("L4-L5", (0.0, 20.0, -40.0), 8.0, (8.0, 7.2, 7.6), (4, 5, 4), (3, 4, 4)),
    BlockSpec(
        "L5-S1", (0.0, 24.0, -75.0), -12.0, (10.5, 10.0, 10.2), (3, 3, 2), (4, 3, 3),
        unknown_last=True,
    ),
)

FIVE_BLOCKS = tuple(
    BlockSpec(
        lvl,
        (0.0, 20.0, z),
        tilt,
        (r, r - 0.5, r - 0.2),
        (3, 4, 3),
        (4, 3, 3),
    )
    for lvl, z, tilt, r in (
        ("L1-L2", 80.0, 4.0, 11.0),
        ("L2-L3", 45.0, 2.0, 10.0),
        ("L3-L4", 10.0, 0.0, 8.5),
        ("L4-L5", -25.0, 6.0, 7.0),
        ("L5-S1", -60.0, -12.0, 9.5),
    )
)


def _orientation(tilt_deg: float) -> tuple[float, ...]:
    t = np.deg2rad(tilt_deg)
    row = (1.0, 0.0, 0.0)  # columns increase towards patient left
    col = (0.0, float(np.cos(t)), float(-np.sin(t)))  # rows increase towards posterior
    return row + col


def _ipp(centre, orientation, spacing, rows, cols):
    r = np.asarray(orientation[:3])
    c = np.asarray(orientation[3:])
    p = np.asarray(centre) - r * (cols / 2) * spacing[1] - c * (rows / 2) * spacing[0]
    return tuple(float(v) for v in p)


def _labels(canal_r: float, lf_left: int, lf_right: int) -> np.ndarray:
    yy, xx = np.mgrid[:ROWS, :COLS]
    lab = np.zeros((ROWS, COLS), np.uint8)
    cy, cx = 46.0, 48.0
    lab[(yy - cy) ** 2 + (xx - cx) ** 2 <= canal_r**2] = 1
    top = int(cy + canal_r) + 2
    lab[top : top + lf_left, 52:66] = 2  # image right = patient left
    lab[top : top + lf_right, 30:44] = 3  # image left = patient right
    return lab


def _measure(lab: np.ndarray) -> SliceMeasurement:
    dr, dc = SPACING
    area = float((lab == 1).sum()) * dr * dc
    rows1 = np.nonzero((lab == 1).any(axis=1))[0]
    ap = (rows1.max() - rows1.min() + 1) * dr
    out = {}
    for label, name, col in ((2, "left", 59), (3, "right", 37)):
        rows = np.nonzero(lab[:, col] == label)[0]
        out[name] = (len(rows) * dr, ((rows.min() - 0.5, col), (rows.max() + 0.5, col)))
    return SliceMeasurement(
        canal_area_mm2=area,
        lf_thickness_left_mm=out["left"][0],
        lf_thickness_right_mm=out["right"][0],
        canal_ap_mm=float(ap),
        canal_area_uncertainty_mm2=0.08 * area,
        lf_thickness_left_uncertainty_mm=0.3,
        lf_thickness_right_uncertainty_mm=0.3,
        canal_ap_uncertainty_mm=0.5,
        lf_left_line_px=out["left"][1],
        lf_right_line_px=out["right"][1],
        canal_ap_line_px=((rows1.min() - 0.5, 48.0), (rows1.max() + 0.5, 48.0)),
    )


def _image(lab: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:ROWS, :COLS]
    img = 300 + 150 * np.exp(-(((yy - 48) / 40) ** 2 + ((xx - 48) / 34) ** 2))
    img[lab == 1] = 900
    img[(lab == 2) | (lab == 3)] = 60
    img = img + rng.normal(0, 15, img.shape)
    return np.clip(img, 0, 4000).astype(np.uint16)


def _write_mr(path: Path, *, patient, study_uid, series_uid, for_uid, sop_uid, instance,
              ipp, iop, pixels, series_number, description, spacing) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "MR"
    ds.PatientName = patient["name"]
    ds.PatientID = patient["id"]
    ds.PatientBirthDate = patient["birth_date"]
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = "20240102"
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.AccessionNumber = "ACC-SYNTH"
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description
    ds.InstanceNumber = instance
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.Manufacturer = "mri-measure synthetic fixture"
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [f"{v:.4f}" for v in ipp]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
    ds.PixelSpacing = [f"{v:g}" for v in spacing]
    ds.SliceThickness = "4"
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "SK"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = "4000"
    ds.EchoTime = "100"
    ds.EchoTrainLength = 16
    ds.MagneticFieldStrength = "1.5"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def build_study(root: Path, patient: dict, blocks=DEFAULT_BLOCKS, *, sagittal=True,
                seed: int = 0) -> StudyAnalysis:
    """Write the source DICOM files under ``root`` and return a StudyAnalysis."""
    rng = np.random.default_rng(seed)
    ent = [seed, patient["id"], len(blocks)]
    study_uid = generate_uid(entropy_srcs=[*map(str, ent), "study"])
    series_uid = generate_uid(entropy_srcs=[*map(str, ent), "axial"])
    for_uid = generate_uid(entropy_srcs=[*map(str, ent), "for"])
    folder = root / "axial_t2"
    folder.mkdir(parents=True, exist_ok=True)
    thresholds = Thresholds()

    stack_analyses = []
    slice_results = []
    levels = []
    instance = 0
    for b_index, block in enumerate(blocks):
        iop = _orientation(block.tilt_deg)
        normal = np.cross(iop[:3], iop[3:])
        infos, labs, imgs, meas = [], [], [], []
        for k, (cr, ll, lr) in enumerate(
            zip(block.canal_radius_px, block.lf_left_rows, block.lf_right_rows)
        ):
            instance += 1
            centre = np.asarray(block.centre_mm) + normal * 4.0 * (k - 1)
            ipp = _ipp(centre, iop, SPACING, ROWS, COLS)
            lab = _labels(cr, ll, lr)
            img = _image(lab, rng)
            sop = generate_uid(entropy_srcs=[*map(str, ent), "sop", str(instance)])
            path = folder / f"IM{instance:04d}"
            _write_mr(path, patient=patient, study_uid=study_uid, series_uid=series_uid,
                      for_uid=for_uid, sop_uid=sop, instance=instance, ipp=ipp, iop=iop,
                      pixels=img, series_number=3, description="T2 TSE AX",
                      spacing=SPACING)
            infos.append(SliceInfo(
                sop_instance_uid=sop, source=str(path), position_mm=ipp,
                orientation=tuple(float(v) for v in iop), spacing_mm=SPACING,
                rows=ROWS, columns=COLS, instance_number=instance, thickness_mm=4.0,
                transfer_syntax_uid=str(ExplicitVRLittleEndian),
            ))
            labs.append(lab)
            imgs.append(img.astype(np.float32))
            meas.append(_measure(lab))
        stack = Stack(
            stack_id=f"3.{b_index + 1}", study_instance_uid=study_uid,
            series_instance_uid=series_uid, slices=tuple(infos), role="axial_t2",
            series_number=3, series_description="T2 TSE AX", frame_of_reference_uid=for_uid,
        )
        loaded = LoadedStack(stack=stack, pixels=np.stack(imgs), slices=tuple(infos))
        labels = np.stack(labs).astype(np.uint8)
        probs = np.stack([(labels == k) for k in range(4)], axis=1).astype(np.float32)
        stack_analyses.append(StackAnalysis(loaded=loaded, probabilities=probs,
                                            labels=labels, measurements=tuple(meas)))
        level_keys = []
        for k, (info, m) in enumerate(zip(infos, meas)):
            unknown = block.unknown_last and k == len(infos) - 1
            la = (LevelAssignment(None, "unknown", 0.0, 12.0) if unknown
                  else LevelAssignment(block.level, "sagittal", 0.9, abs(4.0 * (k - 1))))
            slice_results.append(SliceResult(
                sop_instance_uid=info.key, stack_id=stack.stack_id,
                instance_number=info.instance_number, level=la, measurement=m,
                quality_flags=("edge_of_stack",) if k == 0 else (),
            ))
            if not unknown:
                level_keys.append((info.key, m))
        levels.append(_level(block.level, level_keys, thresholds))

    sag = _sagittal(root, patient, study_uid, for_uid, ent, rng) if sagittal else None
    discs = tuple(
        DiscPlane(b.level, b.centre_mm,
                  tuple(float(v) for v in np.cross(_orientation(b.tilt_deg)[:3],
                                                   _orientation(b.tilt_deg)[3:])), 0.95)
        for b in blocks
    ) if sagittal else ()
    report = StudyReport(
        software={"name": "mri-measure", "version": "0.1.0"},
        model={"name": "synthetic-unet", "version": "0.0-test", "sha256": "ab" * 32},
        thresholds=thresholds,
        study={"study_instance_uid": study_uid, "axial_series_instance_uids": [series_uid],
               "sagittal_series_instance_uid": sag.stack.series_instance_uid if sag else None},
        levels=tuple(levels),
        slices=tuple(slice_results),
        warnings=("Level numbering is counted from the sacrum.",
                  "1 slice could not be assigned to a disc level."),
    )
    return StudyAnalysis(report=report, axial=tuple(stack_analyses), sagittal=sag, discs=discs)


def _level(name, keyed, thresholds: Thresholds, source: str = "sagittal",
           confidence: float = 0.9) -> LevelMeasurement:
    """Aggregate like docs/clinical.md says: canal = min over slices, LF = max per side."""
    canal_key, canal_m = min(keyed, key=lambda km: km[1].canal_area_mm2)
    left_key, left_m = max(keyed, key=lambda km: km[1].lf_thickness_left_mm)
    right_key, right_m = max(keyed, key=lambda km: km[1].lf_thickness_right_mm)
    lf_max = max(left_m.lf_thickness_left_mm, right_m.lf_thickness_right_mm)
    lf_unc = (left_m.lf_thickness_left_uncertainty_mm
              if left_m.lf_thickness_left_mm >= right_m.lf_thickness_right_mm
              else right_m.lf_thickness_right_uncertainty_mm)
    narrowed = thresholds.canal_narrowed(canal_m.canal_area_mm2)
    thick = thresholds.lf_thickened(lf_max)
    reasons = []
    if abs(lf_max - thresholds.lf_threshold_mm) <= lf_unc:
        reasons.append("lf_thickness_within_uncertainty_of_threshold")
    if abs(canal_m.canal_area_mm2 - thresholds.canal_threshold_mm2) <= (
            canal_m.canal_area_uncertainty_mm2):
        reasons.append("canal_area_within_uncertainty_of_threshold")
    return LevelMeasurement(
        level=name, level_source=source, level_confidence=confidence,
        canal_area_mm2=canal_m.canal_area_mm2,
        canal_area_uncertainty_mm2=canal_m.canal_area_uncertainty_mm2,
        lf_thickness_left_mm=left_m.lf_thickness_left_mm,
        lf_thickness_left_uncertainty_mm=left_m.lf_thickness_left_uncertainty_mm,
        lf_thickness_right_mm=right_m.lf_thickness_right_mm,
        lf_thickness_right_uncertainty_mm=right_m.lf_thickness_right_uncertainty_mm,
        lf_thickness_max_mm=lf_max, canal_ap_mm=canal_m.canal_ap_mm,
        canal_narrowed=narrowed, lf_thickened=thick,
        meets_mild_imaging_criteria=bool(narrowed and thick),
        borderline=bool(reasons), borderline_reasons=tuple(reasons),
        canal_grade=canal_grade(canal_m.canal_area_mm2),
        representative_sop_instance_uid=canal_key, canal_area_sop_instance_uid=canal_key,
        lf_thickness_left_sop_instance_uid=left_key,
        lf_thickness_right_sop_instance_uid=right_key,
        slice_sop_instance_uids=tuple(k for k, _ in keyed),
    )


def _sagittal(root, patient, study_uid, for_uid, ent, rng) -> LoadedStack:
    rows, cols, sp = 160, 128, (1.0, 1.0)
    iop = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # columns → posterior, rows → inferior
    series_uid = generate_uid(entropy_srcs=[*map(str, ent), "sag"])
    folder = root / "sagittal_t2"
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:rows, :cols]
    infos, imgs = [], []
    for k, x in enumerate((-3.0, 0.0, 3.0)):
        centre = (x, 20.0, -10.0)
        ipp = (x, centre[1] - cols / 2 * sp[1], centre[2] + rows / 2 * sp[0])
        img = 200 + 0 * xx.astype(float)
        for zc in (-95.0, -57.5, -20.0, 15.0, 50.0):  # vertebral bodies (z of centre)
            r0 = int(ipp[2] - zc)
            img[max(r0 - 14, 0):max(r0 + 14, 0), 36:62] = 500
        img[:, 68:80] = 1000  # CSF column
        img = np.clip(img + rng.normal(0, 10, img.shape), 0, 4000).astype(np.uint16)
        sop = generate_uid(entropy_srcs=[*map(str, ent), "sagsop", str(k)])
        path = folder / f"SAG{k:03d}"
        _write_mr(path, patient=patient, study_uid=study_uid, series_uid=series_uid,
                  for_uid=for_uid, sop_uid=sop, instance=k + 1, ipp=ipp, iop=iop,
                  pixels=img, series_number=2, description="T2 TSE SAG", spacing=sp)
        infos.append(SliceInfo(sop, str(path), ipp, iop, sp, rows, cols, k + 1))
        imgs.append(img.astype(np.float32))
    stack = Stack("2.1", study_uid, series_uid, tuple(infos), role="sagittal_t2",
                  series_number=2, frame_of_reference_uid=for_uid)
    return LoadedStack(stack=stack, pixels=np.stack(imgs), slices=tuple(infos))


def require_tool(name: str) -> str:
    """Path of an external tool; fail (not skip) with the fix when missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run `bash scripts/setup.sh --test`, which installs it")
    return path


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)
