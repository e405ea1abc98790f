"""``seg.dcm``: DICOM Segmentation (BINARY) of the axial label maps, built
with highdicom on the source grid.

Segments (label contract): 1 dural sac, 2 ligamentum flavum patient-left,
3 ligamentum flavum patient-right. Coded as SCT "Anatomical structure" /
"Dura mater" (18545000) and "Ligament" (52082005) with a laterality modifier
(SCT Left 7771000 / Right 24028007) in SegmentedPropertyTypeModifierCodeSequence,
anatomic region "Lumbar spine" (122496007). No SNOMED CT concept for the
ligamentum flavum ships with pydicom/highdicom, so the segment label names it
and the generic ligament concept is used rather than an unverified code.

**Several axial stacks.** highdicom writes one plane orientation per SEG
instance and needs the source images of one series with one matrix size and
frame of reference. Axial T2 is often acquired as angled per-disc blocks
(one series, several orientations), so the slices are grouped by
(series, frame of reference, rows, columns, orientation, spacing) and one SEG
*instance* is written per group, all in one SEG series: the first group goes
to ``path`` (``seg.dcm``), further groups to ``seg_2.dcm``, ``seg_3.dcm``, …
beside it. Every SEG frame references the source image it was derived from.
Two more splits keep every instance valid and its memory bounded: slices at a
position already in a group (a repeated acquisition: duplicate positions) go
to a further group, as highdicom refuses two frames at one plane position;
and a group of more than :data:`MAX_FRAME_PIXELS` label pixels (e.g. more than
64 slices at 512²) is written as several instances. Each instance is built,
saved and dropped before the next.
Empty frames are omitted (highdicom default); a segment absent from a whole
group still is described. When any slice was corrected by a reader
(``SliceResult.corrected``) the segments are SEMIAUTOMATIC, else AUTOMATIC.

Multi-frame sources (one enhanced MR file holding a stack) are grouped per
file; frames of that file that were not measured stay empty.

Slices the tool computed itself (axial planes reformatted from a 3-D T2
volume, ``SliceInfo.source`` ``"derived:…"``) have no source image to
reference and are left out of the SEG (and so of the SR); when no measured
slice has a source image, no SEG is written (:func:`write_seg` returns ``[]``).

SEG files copy the patient and study modules from the source images, by
DICOM design: treat them as patient data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..types import StudyAnalysis
from ..vocabulary import SCT_ANATOMICAL_STRUCTURE, SCT_LUMBAR_SPINE, Label
from ._common import SOFTWARE_NAME, software_version, source_headers, temp_path_beside

SEG_SERIES_NUMBER = 9701
#: Most label pixels in one SEG instance (64 frames of 512², 163 of 320²):
#: highdicom holds about four bytes per label pixel while it builds an instance.
MAX_FRAME_PIXELS = 64 * 512 * 512
MANUFACTURER = "mri-measure project"

SEGMENT_LABELS = {int(lab): lab.segment_label for lab in Label.structures()}


@dataclass
class _Group:
    headers: list[Any] = field(default_factory=list)
    refs: list[tuple[Any, int]] = field(default_factory=list)  # (StackAnalysis, slice index)
    multiframe: bool = False
    frame_index: list[int] = field(default_factory=list)
    positions: set = field(default_factory=set)


def _segment_descriptions(analysis: StudyAnalysis) -> list:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    model = analysis.report.model or {}
    algo = hd.AlgorithmIdentificationSequence(
        name=str(model.get("name") or SOFTWARE_NAME)[:64],
        version=str(model.get("version") or software_version())[:64],
        family=codes.cid7162.ArtificialIntelligence,
        source=f"{SOFTWARE_NAME} {software_version()}",
    )
    region = [hd.sr.CodedConcept(*SCT_LUMBAR_SPINE)]
    # outlines edited by a reader in napari: the segmentation is no longer purely automatic
    corrected = any(sr.corrected for sr in analysis.report.slices)
    algorithm_type = (hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC if corrected
                      else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC)
    descs = []
    for lab in Label.structures():  # segment number = label value
        assert lab.segment_label and lab.property_type and lab.seg_cielab
        d = hd.seg.SegmentDescription(
            segment_number=int(lab),
            segment_label=lab.segment_label,
            segmented_property_category=hd.sr.CodedConcept(*SCT_ANATOMICAL_STRUCTURE),
            segmented_property_type=hd.sr.CodedConcept(*lab.property_type),
            algorithm_type=algorithm_type,
            algorithm_identification=algo,
            anatomic_regions=region,
            display_color=hd.color.CIELabColor(*lab.seg_cielab),
        )
        if lab.laterality is not None:
            mod = hd.sr.CodedConcept(*lab.laterality)
            d.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [mod]
        descs.append(d)
    return descs


def _groups(analysis: StudyAnalysis) -> list[_Group]:
    """Slices grouped into SEG instances: one per source geometry, and within it
    one per repeat of a position (two acquisitions at the same positions would
    otherwise give highdicom two frames at one plane position)."""
    groups: dict[tuple, _Group] = {}
    for sa in analysis.axial:
        headers = source_headers(sa.loaded)
        for i, info in enumerate(sa.loaded.slices):
            ds = headers.get(info.key)
            if ds is None:  # derived slice (reformatted from a 3-D volume): no source image
                continue
            if not str(getattr(ds, "FrameOfReferenceUID", "") or ""):
                raise InputError(
                    "the axial images have no FrameOfReferenceUID, which DICOM requires of MR "
                    "images and a DICOM SEG must reference; re-export the study from the scanner "
                    "or PACS (without --out the measurements are still printed)"
                )
            if info.frame_index is not None:
                base: tuple = ("multiframe", info.sop_instance_uid)
            else:
                base = (
                    str(ds.SeriesInstanceUID),
                    str(getattr(ds, "FrameOfReferenceUID", "")),
                    int(ds.Rows), int(ds.Columns),
                    tuple(round(float(v), 4) for v in info.orientation),
                    tuple(round(float(v), 5) for v in info.spacing_mm),
                )
            position = tuple(round(float(v), 2) for v in info.position_mm)
            repeat = 0
            while position in (g := groups.setdefault((*base, repeat), _Group())).positions:
                repeat += 1
            g.positions.add(position)
            if info.frame_index is not None:
                g.multiframe = True
                if not g.headers:
                    g.headers.append(ds)
                g.frame_index.append(info.frame_index)
            else:
                g.headers.append(ds)
            g.refs.append((sa, i))
    return [part for g in groups.values() for part in _split(g)]


def _split(g: _Group) -> list[_Group]:
    """A single-frame group in parts of at most :data:`MAX_FRAME_PIXELS` pixels
    (highdicom holds a one-hot copy of a SEG instance's label array, and more,
    while it builds one: this bounds that for a series of any length)."""
    rows, cols = g.refs[0][0].labels.shape[1:]
    cap = max(1, MAX_FRAME_PIXELS // (rows * cols))
    if g.multiframe or len(g.refs) <= cap:
        return [g]
    return [_Group(headers=g.headers[i:i + cap], refs=g.refs[i:i + cap])
            for i in range(0, len(g.refs), cap)]


def _label_frames(g: _Group) -> np.ndarray:
    """The group's label maps as one (frames, rows, cols) uint8 array, built
    with one copy; only the contract labels 1–3 are kept."""
    shape = g.refs[0][0].labels.shape[1:]
    n = int(getattr(g.headers[0], "NumberOfFrames", 1)) if g.multiframe else len(g.refs)
    arr = np.zeros((n, *shape), np.uint8)
    rows = g.frame_index if g.multiframe else range(len(g.refs))
    by_stack: dict[int, tuple[Any, list[int], list[int]]] = {}
    for row, (sa, i) in zip(rows, g.refs):
        entry = by_stack.setdefault(id(sa), (sa, [], []))
        entry[1].append(row)
        entry[2].append(i)
    for sa, out_rows, idx in by_stack.values():
        arr[out_rows] = sa.labels[idx]
    arr[arr > max(Label)] = 0  # only the contract labels 1–3 are written
    return arr


def _keep_pixel_measures_readable(seg) -> None:
    """A source without SliceThickness (type 2 in the MR Image module, so it may be
    absent) gives a Pixel Measures item without it, which highdicom's own reader
    refuses: record it present and empty (unknown) rather than invent a value."""
    for group in seg.get("SharedFunctionalGroupsSequence", []):
        for item in group.get("PixelMeasuresSequence", []):
            if "SliceThickness" not in item:
                item.SliceThickness = None


def seg_paths_for(path: Path, n: int) -> list[Path]:
    """``seg.dcm``, ``seg_2.dcm``, … for ``n`` SEG instances."""
    return [path] + [path.with_name(f"{path.stem}_{k}{path.suffix}") for k in range(2, n + 1)]


def build_segs(analysis: StudyAnalysis) -> list:
    """The highdicom Segmentation instances (one per geometry group and part)."""
    return list(iter_segs(analysis))


def iter_segs(analysis: StudyAnalysis):
    """The Segmentation instances one at a time (each built when asked for)."""
    import highdicom as hd

    descs = _segment_descriptions(analysis)
    groups = _groups(analysis)
    series_uid = hd.UID()
    for k, g in enumerate(groups, start=1):
        seg = hd.seg.Segmentation(
            source_images=g.headers,
            pixel_array=_label_frames(g),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descs,
            series_instance_uid=series_uid,
            series_number=SEG_SERIES_NUMBER,
            sop_instance_uid=hd.UID(),
            instance_number=k,
            manufacturer=MANUFACTURER,
            manufacturer_model_name=SOFTWARE_NAME,
            software_versions=software_version(),
            device_serial_number="0",
            content_label="SPINE_SEG",
            content_description="Dural sac and ligamentum flavum (automatic)",
            series_description="mri-measure SEG (dural sac, LF)",
        )
        _keep_pixel_measures_readable(seg)
        yield seg


def save_dicom(ds, path: Path) -> Path:
    """Save with a zeroed 128-byte preamble, atomically."""
    ds.preamble = b"\x00" * 128
    tmp = temp_path_beside(path)
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_seg(analysis: StudyAnalysis, path: str | os.PathLike[str]) -> list[Path]:
    """Write the SEG instance(s); returns their paths (``path`` first), or ``[]``
    when no measured slice has a source image (then no SEG is written).

    Stale ``seg.dcm``/``seg_N.dcm`` files from an earlier run are removed.
    """
    path = Path(path)
    paths: list[Path] = []
    for seg in iter_segs(analysis):  # built, saved and dropped one at a time
        p = path if not paths else path.with_name(f"{path.stem}_{len(paths) + 1}{path.suffix}")
        paths.append(save_dicom(seg, p))
        del seg
    if not paths:
        path.unlink(missing_ok=True)
    k = max(len(paths) + 1, 2)
    while (stale := path.with_name(f"{path.stem}_{k}{path.suffix}")).exists():
        stale.unlink()
        k += 1
    return paths
