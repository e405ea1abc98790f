import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from report_fixtures import require_tool, run_tool


@pytest.fixture(scope="module")
def seg_paths(written):
    return [written["seg"]] + [written[k] for k in sorted(written) if k.startswith("seg_")]


def _dciodvfy_errors(path):
    tool = require_tool("dciodvfy")
    res = run_tool(tool, str(path))
    lines = (res.stdout + res.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")], lines


def test_dicom_files_have_zeroed_preamble(written, seg_paths):
    for path in [*seg_paths, written["sr"]]:
        head = path.read_bytes()[:132]
        assert head[:128] == b"\x00" * 128 and head[128:] == b"DICM", path.name


def test_one_seg_instance_per_orientation_in_one_series(study, seg_paths):
    # the fixture's two angled blocks have different orientations
    assert len(seg_paths) == len(study.axial) == 2
    segs = [hd.seg.segread(p) for p in seg_paths]
    assert len({s.SeriesInstanceUID for s in segs}) == 1
    assert len({s.SOPInstanceUID for s in segs}) == 2
    assert all(s.SegmentationType == "BINARY" for s in segs)
    assert all(s.StudyInstanceUID == study.report.study["study_instance_uid"] for s in segs)


def test_seg_segments_coded_with_algorithm(seg_paths):
    seg = hd.seg.segread(seg_paths[0])
    assert seg.number_of_segments == 3
    labels = {n: seg.get_segment_description(n) for n in (1, 2, 3)}
    assert labels[1].segment_label == "Dural sac"
    assert "left" in labels[2].segment_label and "right" in labels[3].segment_label
    assert labels[1].segmented_property_type == codes.SCT.DuraMater
    assert labels[2].segmented_property_type == codes.SCT.Ligament
    for n, lat in ((2, codes.SCT.Left), (3, codes.SCT.Right)):
        mod = seg.SegmentSequence[n - 1].SegmentedPropertyTypeCodeSequence[0]
        assert mod.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == lat.value
    for d in labels.values():
        assert d.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        algo = d.algorithm_identification[0]
        assert algo.AlgorithmName == "synthetic-unet"
        assert algo.AlgorithmVersion == "0.0-test"
        fam = algo.AlgorithmFamilyCodeSequence[0]
        assert fam.CodeValue == codes.cid7162.ArtificialIntelligence.value


def test_seg_frames_reference_sources_and_masks_equal_labels(study, seg_paths):
    segs = [hd.seg.segread(p) for p in seg_paths]
    for sa in study.axial:
        uids = [s.sop_instance_uid for s in sa.loaded.slices]
        seg = next(s for s in segs
                   if uids[0] in {u for _, _, u in s.get_source_image_uids()})
        referenced = {u for _, _, u in seg.get_source_image_uids()}
        assert set(uids) <= referenced
        for item in seg.PerFrameFunctionalGroupsSequence:
            src = item.DerivationImageSequence[0].SourceImageSequence[0]
            assert src.ReferencedSOPInstanceUID in uids
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=uids, segment_numbers=[1, 2, 3],
            combine_segments=True, skip_overlap_checks=True,
        )
        assert pixels.shape == sa.labels.shape
        np.testing.assert_array_equal(pixels, sa.labels)
        assert (pixels == 2).sum() > 0 and (pixels == 3).sum() > 0


def test_seg_passes_dciodvfy(seg_paths):
    for path in seg_paths:
        errors, lines = _dciodvfy_errors(path)
        assert not errors, "\n".join(lines)


def test_sr_passes_dciodvfy(written):
    errors, lines = _dciodvfy_errors(written["sr"])
    assert not errors, "\n".join(lines)


def test_sr_measurements_per_level(study, written, seg_paths):
    sr = hd.sr.srread(written["sr"])
    assert sr.VerificationFlag == "UNVERIFIED"
    assert sr.PreliminaryFlag == "PRELIMINARY"
    assert sr.CompletionFlag == "PARTIAL"
    seg_frames = {}
    for p in seg_paths:
        ds = pydicom.dcmread(p)
        for n, item in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
            seg_frames[(ds.SOPInstanceUID, n)] = (
                int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber),
                item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID,
            )
    groups = {str(g.tracking_identifier): g
              for g in sr.content.get_planar_roi_measurement_groups()}
    for lv in study.report.levels:
        expect = (
            ("canal", 1, lv.canal_area_sop_instance_uid, "Area", lv.canal_area_mm2, "mm2"),
            ("LF left", 2, lv.lf_thickness_left_sop_instance_uid, "Thickness",
             lv.lf_thickness_left_mm, "mm"),
            ("LF right", 3, lv.lf_thickness_right_sop_instance_uid, "Thickness",
             lv.lf_thickness_right_mm, "mm"),
        )
        for what, segment, source_uid, name, value, unit in expect:
            g = groups[f"{lv.level} {what}"]
            m = next(m for m in g.get_measurements() if m.name.meaning == name)
            assert m.value == pytest.approx(value, abs=1e-6)
            assert m.unit.value == unit
            ref = g.referenced_segmentation_frame
            seg_ref = ref[0].ReferencedSOPSequence[0]
            frame = int(seg_ref.ReferencedFrameNumber)
            assert seg_frames[(seg_ref.ReferencedSOPInstanceUID, frame)] == (segment, source_uid)
            src = ref[1].ReferencedSOPSequence[0]
            assert src.ReferencedSOPInstanceUID == source_uid
    assert len(groups) == 3 * len(study.report.levels)


def test_sr_observer_is_the_algorithm_device(written):
    ds = pydicom.dcmread(written["sr"])
    items = ds.ContentSequence
    observer = [i for i in items if i.ValueType == "CODE"
                and i.ConceptNameCodeSequence[0].CodeValue == "121005"]
    assert observer and observer[0].ConceptCodeSequence[0].CodeValue == codes.DCM.Device.value
    names = [i.TextValue for i in items if i.ValueType == "TEXT"
             and i.ConceptNameCodeSequence[0].CodeValue == "121013"]
    assert names == ["synthetic-unet"]


@pytest.fixture(scope="module")
def multiframe_study(study, tmp_path_factory):
    """The first block as one Legacy Converted Enhanced MR file (3 frames)."""
    from dataclasses import replace

    from report_fixtures import _level

    from mri_measure.criteria import Thresholds
    from mri_measure.types import (LevelAssignment, LoadedStack, SliceResult, Stack,
                                   StackAnalysis, StudyAnalysis)

    sa = study.axial[0]
    dss = [pydicom.dcmread(s.source) for s in sa.loaded.slices]
    mf = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy_datasets=dss, series_instance_uid=hd.UID(), series_number=5,
        sop_instance_uid=hd.UID(), instance_number=1)
    path = tmp_path_factory.mktemp("mf") / "MF0001"
    mf.save_as(path, enforce_file_format=True)
    frame_ipp = [np.array(f.PlanePositionSequence[0].ImagePositionPatient, float)
                 for f in mf.PerFrameFunctionalGroupsSequence]
    infos = []
    for s in sa.loaded.slices:
        fi = int(np.argmin([np.linalg.norm(p - s.position_mm) for p in frame_ipp]))
        infos.append(replace(s, sop_instance_uid=str(mf.SOPInstanceUID), source=str(path),
                             frame_index=fi))
    stack = Stack("5.1", sa.loaded.stack.study_instance_uid, str(mf.SeriesInstanceUID),
                  tuple(infos), role="axial_t2", frame_of_reference_uid=str(mf.FrameOfReferenceUID))
    loaded = LoadedStack(stack, sa.loaded.pixels, tuple(infos))
    new_sa = StackAnalysis(loaded, sa.probabilities, sa.labels, sa.measurements)
    keyed = [(i.key, m) for i, m in zip(infos, sa.measurements)]
    level = _level("L4-L5", keyed, Thresholds())
    slices = tuple(SliceResult(i.key, "5.1", i.instance_number,
                               LevelAssignment("L4-L5", "sagittal", 0.9), m)
                   for i, m in zip(infos, sa.measurements))
    report = replace(study.report, levels=(level,), slices=slices)
    return StudyAnalysis(report=report, axial=(new_sa,)), str(mf.SOPInstanceUID)


def test_seg_and_sr_for_multiframe_source(multiframe_study, tmp_path):
    from mri_measure.report import write_seg, write_sr

    analysis, mf_uid = multiframe_study
    seg_paths = write_seg(analysis, tmp_path / "seg.dcm")
    assert len(seg_paths) == 1
    seg = hd.seg.segread(seg_paths[0])
    sa = analysis.axial[0]
    frames = [s.frame_index + 1 for s in sa.loaded.slices]
    pixels = seg.get_pixels_by_source_frame(
        source_sop_instance_uid=mf_uid, source_frame_numbers=frames,
        segment_numbers=[1, 2, 3], combine_segments=True, skip_overlap_checks=True)
    np.testing.assert_array_equal(pixels, sa.labels)
    errors, lines = _dciodvfy_errors(seg_paths[0])
    assert not errors, "\n".join(lines)

    sr_path = write_sr(analysis, seg_paths, tmp_path / "sr.dcm")
    errors, lines = _dciodvfy_errors(sr_path)
    assert not errors, "\n".join(lines)
    sr = hd.sr.srread(sr_path)
    group = {str(g.tracking_identifier): g
             for g in sr.content.get_planar_roi_measurement_groups()}["L4-L5 canal"]
    src = group.referenced_segmentation_frame[1].ReferencedSOPSequence[0]
    lv = analysis.report.levels[0]
    expected_frame = next(s.frame_index + 1 for s in sa.loaded.slices
                          if s.key == lv.canal_area_sop_instance_uid)
    assert src.ReferencedSOPInstanceUID == mf_uid
    assert int(src.ReferencedFrameNumber) == expected_frame


def test_corrected_outlines_make_segments_semiautomatic(study, tmp_path):
    from dataclasses import replace

    from mri_measure.report import write_seg

    slices = (replace(study.report.slices[0], corrected=True),) + study.report.slices[1:]
    analysis = replace(study, report=replace(study.report, slices=slices))
    seg = hd.seg.segread(write_seg(analysis, tmp_path / "seg.dcm")[0])
    for n in (1, 2, 3):
        assert (seg.get_segment_description(n).algorithm_type
                == hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC)


def _derive(study, stack_indices):
    """Mark stacks as reformatted by the tool (no DICOM source of their own)."""
    from dataclasses import replace

    axial = list(study.axial)
    for i in stack_indices:
        sa = axial[i]
        infos = tuple(replace(s, source=f"derived:X:{k}") for k, s in enumerate(sa.loaded.slices))
        stack = replace(sa.loaded.stack, slices=infos)
        loaded = replace(sa.loaded, stack=stack, slices=infos)
        axial[i] = type(sa)(loaded, sa.probabilities, sa.labels, sa.measurements)
    return replace(study, axial=tuple(axial))


def test_derived_slices_are_left_out_of_seg_and_sr(study, tmp_path):
    from mri_measure.report import write_all

    paths = write_all(_derive(study, [1]), tmp_path)
    assert "seg_2" not in paths
    seg = hd.seg.segread(paths["seg"])
    refs = {u for _, _, u in seg.get_source_image_uids()}
    assert refs == {s.sop_instance_uid for s in study.axial[0].loaded.slices}
    sr = hd.sr.srread(paths["sr"])
    ids = sorted(str(g.tracking_identifier)
                 for g in sr.content.get_planar_roi_measurement_groups())
    assert ids == ["L4-L5 LF left", "L4-L5 LF right", "L4-L5 canal"]
    errors, lines = _dciodvfy_errors(paths["sr"])
    assert not errors, "\n".join(lines)


def test_only_derived_slices_write_no_seg_sr_and_drop_stale(study, tmp_path):
    from mri_measure.report import write_all

    for name in ("seg.dcm", "seg_2.dcm", "sr.dcm"):
        (tmp_path / name).write_bytes(b"stale")
    paths = write_all(_derive(study, [0, 1]), tmp_path)
    assert "seg" not in paths and "sr" not in paths
    assert not any((tmp_path / n).exists() for n in ("seg.dcm", "seg_2.dcm", "sr.dcm"))
    assert paths["html"].exists() and paths["pdf"].exists()
