"""``sr.dcm``: TID 1500 Measurement Report in a Comprehensive 3D SR (highdicom).

Per disc level, up to three Planar ROI measurement groups (TID 1411), each
tracking-identified ("L4-L5 canal", "L4-L5 LF left", "L4-L5 LF right") and
referencing the SEG segment frame on the source image the value came from:

* canal: dural-sac Area (SCT 42798000) in mm2, derivation Minimum over the
  level's slices, plus the canal AP Diameter (SCT 81827009) in mm;
* LF left / right: Thickness (LN 59089-3) in mm, derivation Maximum, finding
  site "Ligament" with laterality Left / Right.

A value the quality check refused (:mod:`mri_measure.measure.quality`) is never
written as a numeric measurement: its group carries, instead of the number, a
qualitative evaluation "Measurement quality" = "not measurable: <reason>"
(private coding scheme :data:`QUALITY_SCHEME`, code value "not_measurable",
the reason as code meaning in Latin-1, cut to 64 characters; the full reason
is in measurements.json), referencing the SEG frame of
the first of the level's slices on which the structure was segmented (none:
no group).

When no disc level has a value (no level could be assigned), the report holds
one such group set per measured *slice* instead, tracking-identified by its
image ("image 7 (stack 3.1, level unknown) canal"), with the slice's own
values (no derivation).

Observer context: the algorithm, as a device. The document is written
UNVERIFIED and PRELIMINARY (CompletionFlag PARTIAL) until a reader signs off.
Like the SEG it copies the patient and study modules: treat it as patient data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from ..types import LevelMeasurement, SliceResult, StudyAnalysis
from ._common import SOFTWARE_NAME, find_slice, software_version, source_headers
from .seg import MANUFACTURER, save_dicom

SR_SERIES_NUMBER = 9702
#: private (DICOM "99…") coding scheme of the quality evaluation
QUALITY_SCHEME = "99MRIMEASURE"


def quality_evaluation(flag: str | None, reason: str) -> Any:
    """The qualitative evaluation that says a value was not measurable, and why."""
    import highdicom as hd

    name = hd.sr.CodedConcept("quality", QUALITY_SCHEME, "Measurement quality")
    text = f"not measurable: {reason}".translate(_LATIN1)
    text = text.encode("latin-1", "replace").decode("latin-1")  # the SR's character set
    value = hd.sr.CodedConcept("not_measurable", QUALITY_SCHEME,
                               text if len(text) <= 64 else text[:61] + "...")
    return hd.sr.QualitativeEvaluation(name=name, value=value)


_LATIN1 = str.maketrans({"–": "-", "—": "-", "…": "...", "≥": ">=", "≤": "<=", "×": "x"})


def _refusal(verdict: Any) -> tuple[str | None, str] | None:
    return (verdict.flag, str(verdict.reason)) if verdict.refused else None


def _seg_frames(segs: Sequence[Any]) -> dict[tuple[str, int], tuple[Any, int]]:
    """(source SOP Instance UID, segment number) → (SEG dataset, 1-based frame)."""
    out: dict[tuple[str, int], tuple[Any, int]] = {}
    for seg in segs:
        for n, item in enumerate(seg.PerFrameFunctionalGroupsSequence, start=1):
            segment = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
            for der in item.get("DerivationImageSequence", []):
                for src in der.get("SourceImageSequence", []):
                    out.setdefault((str(src.ReferencedSOPInstanceUID), segment), (seg, n))
    return out


def _headers_by_uid(analysis: StudyAnalysis) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sa in analysis.axial:
        for key, ds in source_headers(sa.loaded).items():
            out[key] = ds
            out[str(ds.SOPInstanceUID)] = ds
    return out


def _level_specs(lv: LevelMeasurement) -> list:
    """(what, segment number, slice key, [(name, value, unit, derivation)], finding site)
    of one disc level: canal minimum over the level's slices, LF maximum per side."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    specs = []
    canal_meas = []
    if lv.canal_area_mm2 is not None:
        canal_meas.append((codes.SCT.Area, lv.canal_area_mm2, codes.UCUM.SquareMillimeter,
                           codes.SCT.Minimum))
    if lv.canal_ap_mm is not None:
        canal_meas.append((codes.SCT.Diameter, lv.canal_ap_mm, codes.UCUM.Millimeter, None))
    q = lv.quality
    every = tuple(lv.slice_sop_instance_uids)

    def keys(uid: str | None, verdict: Any) -> Any:
        return uid if verdict.ok else every  # refused: the first slice with a SEG frame

    specs.append(("canal", 1, keys(lv.canal_area_sop_instance_uid, q.canal_area_mm2),
                  canal_meas, hd.sr.FindingSite(codes.SCT.DuraMater), _refusal(q.canal_area_mm2)))
    for side, seg_no, uid, value, lat, verdict in (
        ("LF left", 2, lv.lf_thickness_left_sop_instance_uid, lv.lf_thickness_left_mm,
         codes.SCT.Left, q.lf_thickness_left_mm),
        ("LF right", 3, lv.lf_thickness_right_sop_instance_uid, lv.lf_thickness_right_mm,
         codes.SCT.Right, q.lf_thickness_right_mm),
    ):
        meas = [] if value is None or not verdict.ok else [
            (codes.LN.Thickness, value, codes.UCUM.Millimeter, codes.SCT.Maximum)]
        specs.append((side, seg_no, keys(uid, verdict), meas,
                      hd.sr.FindingSite(codes.SCT.Ligament, laterality=lat), _refusal(verdict)))
    return specs


def _slice_specs(sr_slice: SliceResult) -> list:
    """The same for one slice's own values (no derivation: one image, one value)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    m = sr_slice.measurement
    q = sr_slice.quality
    key = sr_slice.sop_instance_uid
    canal = []
    if q.canal_area_mm2.ok:
        if m.canal_area_mm2 is not None:
            canal.append((codes.SCT.Area, m.canal_area_mm2, codes.UCUM.SquareMillimeter, None))
        if m.canal_ap_mm is not None:
            canal.append((codes.SCT.Diameter, m.canal_ap_mm, codes.UCUM.Millimeter, None))
    specs = [("canal", 1, key, canal, hd.sr.FindingSite(codes.SCT.DuraMater),
              _refusal(q.canal_area_mm2))]
    for side, seg_no, value, lat, verdict in (
        ("LF left", 2, m.lf_thickness_left_mm, codes.SCT.Left, q.lf_thickness_left_mm),
        ("LF right", 3, m.lf_thickness_right_mm, codes.SCT.Right, q.lf_thickness_right_mm),
    ):
        meas = [] if value is None or not verdict.ok else [
            (codes.LN.Thickness, value, codes.UCUM.Millimeter, None)]
        specs.append((side, seg_no, key, meas, hd.sr.FindingSite(codes.SCT.Ligament, laterality=lat),
                      _refusal(verdict)))
    return specs


def _roi_groups(label: str, specs, frames, headers, analysis) -> list:
    """TID 1411 groups for ``specs``, each referencing its SEG frame; ``label``
    starts each tracking identifier (a level name, or an image)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    groups = []
    for what, seg_no, keys, meas, site, refused in specs:
        if (not meas and refused is None) or not keys:
            continue
        for key in ([keys] if isinstance(keys, str) else keys):
            ds = headers.get(key)
            found = find_slice(analysis, key)
            if ds is None or found is None:
                continue
            sop_uid = str(ds.SOPInstanceUID)
            frame_ref = frames.get((sop_uid, seg_no))
            if frame_ref is not None:
                break
        else:
            continue  # segment empty on every image: nothing to point at
        assert ds is not None and found is not None and frame_ref is not None
        seg, frame_number = frame_ref
        info = found[0].loaded.slices[found[1]]
        ref_frames = None if info.frame_index is None else [info.frame_index + 1]
        src_for_seg = hd.sr.SourceImageForSegmentation(
            referenced_sop_class_uid=str(ds.SOPClassUID),
            referenced_sop_instance_uid=sop_uid,
            referenced_frame_numbers=ref_frames,
        )
        tracking = hd.sr.TrackingIdentifier(
            uid=hd.UID(), identifier=f"{label} {what}"[:64]
        )
        measurements = [
            hd.sr.Measurement(
                name=name,
                value=float(value),
                unit=unit,
                derivation=derivation,
                referenced_images=[hd.sr.SourceImageForMeasurement(
                    referenced_sop_class_uid=str(ds.SOPClassUID),
                    referenced_sop_instance_uid=sop_uid,
                    referenced_frame_numbers=ref_frames,
                )],
            )
            for name, value, unit, derivation in meas
        ]
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            referenced_segment=hd.sr.ReferencedSegmentationFrame(
                sop_class_uid=str(seg.SOPClassUID),
                sop_instance_uid=str(seg.SOPInstanceUID),
                frame_number=frame_number,
                segment_number=seg_no,
                source_image=src_for_seg,
            ),
            finding_type=codes.SCT.AnatomicalStructure,
            finding_sites=[site],
            measurements=measurements or None,
            qualitative_evaluations=None if refused is None else [quality_evaluation(*refused)],
        ))
    return groups


def _slice_label(sr_slice: SliceResult) -> str:
    number = sr_slice.instance_number if sr_slice.instance_number is not None else "?"
    return f"image {number} (stack {sr_slice.stack_id}, level unknown)"


def build_sr(analysis: StudyAnalysis, segs: Sequence[Any]):
    """The highdicom Comprehensive3DSR for ``analysis``, referencing ``segs``:
    per-level groups, or per-slice groups when no level has a value; ``None``
    when not even a slice has a value that can be referenced (TID 1500 needs at
    least one measurement group)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    model = analysis.report.model or {}
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=hd.UID(),
        name=str(model.get("name") or SOFTWARE_NAME)[:64],
        manufacturer_name=MANUFACTURER,
        model_name=f"{SOFTWARE_NAME} {software_version()}"[:64],
    )
    context = hd.sr.ObservationContext(
        observer_person_context=None,
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=device,
        ),
    )
    frames = _seg_frames(segs)
    headers = _headers_by_uid(analysis)
    groups = []
    for lv in analysis.report.levels:
        groups += _roi_groups(lv.level, _level_specs(lv), frames, headers, analysis)
    if not groups:
        # no disc level has a value (levels unknown): report each slice's own values
        for sr_slice in analysis.report.slices:
            groups += _roi_groups(_slice_label(sr_slice), _slice_specs(sr_slice), frames,
                                  headers, analysis)
    if not groups:
        return None  # TID 1500 needs at least one measurement group
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.LN.MRIUnspecifiedBodyRegion,
        imaging_measurements=groups,
    )
    referenced = {}
    for ds in headers.values():
        referenced[str(ds.SOPInstanceUID)] = ds
    evidence = list(referenced.values()) + list(segs)
    return hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=False,
        is_final=False,
        is_verified=False,
        series_description="mri-measure SR (canal area, LF thickness)",
    )


_SEG_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")


def _drop_segment_number_beside_frame(items) -> int:
    """In IMAGE content items that reference a SEG *frame*, remove Referenced
    Segment Number: the standard (SOP Instance Reference, C.18.3) forbids it
    when Referenced Frame Number is present (the frame implies the segment);
    highdicom writes both, and dciodvfy flags that as an error."""
    n = 0
    for item in items:
        for ref in item.get("ReferencedSOPSequence", []):
            if (str(ref.get("ReferencedSOPClassUID", "")) in _SEG_SOP_CLASSES
                    and "ReferencedFrameNumber" in ref and "ReferencedSegmentNumber" in ref):
                del ref.ReferencedSegmentNumber
                n += 1
        if "ContentSequence" in item:
            n += _drop_segment_number_beside_frame(item.ContentSequence)
    return n


def write_sr(analysis: StudyAnalysis, seg_path: str | os.PathLike[str] | Sequence,
             path: str | os.PathLike[str]) -> Path | None:
    """Write ``sr.dcm`` referencing the SEG instance(s) at ``seg_path`` (a path or
    the list :func:`write_seg` returned). Returns ``None`` and writes nothing
    (removing a stale file at ``path``) when there is no measurement to report."""
    import pydicom

    if isinstance(seg_path, (str, os.PathLike)):
        seg_paths = [Path(seg_path)]
    else:
        seg_paths = [Path(p) for p in seg_path]
    segs = [pydicom.dcmread(p) for p in seg_paths]
    sr = build_sr(analysis, segs)
    if sr is None:
        Path(path).unlink(missing_ok=True)
        return None
    _drop_segment_number_beside_frame(sr.ContentSequence)
    sr.SoftwareVersions = provenance(analysis)
    return save_dicom(sr, Path(path))


def provenance(analysis: StudyAnalysis, run_id: str | None = None) -> list[str]:
    """SoftwareVersions of the SR: which software, model and run produced it
    (each value ≤ 64 characters, LO): ``mri-measure <version>``, ``model <name>
    <version>``, ``model sha256:<first 16 hex>``, ``run <id>`` — the run id is new for
    every SR written, so two runs on one study are told apart in the PACS."""
    import uuid

    model = analysis.report.model or {}
    values = [f"{SOFTWARE_NAME} {software_version()}"]
    if model:
        values.append(f"model {model.get('name') or '?'} {model.get('version') or '?'}")
        if model.get("sha256"):
            values.append(f"model sha256:{str(model['sha256'])[:16]}")
    values.append(f"run {run_id or uuid.uuid4().hex}")
    return [v[:64] for v in values]
