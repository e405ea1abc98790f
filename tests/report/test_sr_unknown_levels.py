"""SR when no disc level is known, SEG with repeated slice positions, and the
console/report line about where levels came from."""

from __future__ import annotations

from dataclasses import replace

import highdicom as hd
import numpy as np
import pydicom
import pytest

from mri_measure.report.content import slices_line
from mri_measure.types import LevelAssignment
from report_fixtures import require_tool, run_tool


def _unlevelled(study):
    unknown = LevelAssignment(None, "unknown", 0.0)
    report = replace(study.report, levels=(), warnings=(),
                     slices=tuple(replace(s, level=unknown) for s in study.report.slices))
    return replace(study, report=report)


def test_sr_written_with_per_slice_values_when_no_level_is_known(study, tmp_path):
    from mri_measure.report import write_all

    analysis = _unlevelled(study)
    paths = write_all(analysis, tmp_path)
    assert "sr" in paths, "no sr.dcm although every slice has values"
    sr = hd.sr.srread(paths["sr"])
    groups = {str(g.tracking_identifier): g for g in sr.content.get_planar_roi_measurement_groups()}
    slices = analysis.report.slices
    assert len(groups) == 3 * len(slices)  # canal, LF left, LF right of every slice
    for s in slices:
        label = f"image {s.instance_number} (stack {s.stack_id}, level unknown)"
        canal = groups[f"{label} canal"]
        area = next(m for m in canal.get_measurements() if m.name.meaning == "Area")
        assert area.value == pytest.approx(s.measurement.canal_area_mm2, abs=1e-6)
        assert area.derivation is None  # one slice's own value, not a level minimum
        src = canal.referenced_segmentation_frame[1].ReferencedSOPSequence[0]
        assert src.ReferencedSOPInstanceUID == s.sop_instance_uid
        left = groups[f"{label} LF left"]
        thick = next(m for m in left.get_measurements() if m.name.meaning == "Thickness")
        assert thick.value == pytest.approx(s.measurement.lf_thickness_left_mm, abs=1e-6)
    res = run_tool(require_tool("dciodvfy"), str(paths["sr"]))
    errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("Error")]
    assert not errors, errors


def test_sr_still_per_level_when_levels_are_known(written):
    sr = hd.sr.srread(written["sr"])
    ids = {str(g.tracking_identifier) for g in sr.content.get_planar_roi_measurement_groups()}
    assert ids and not any("level unknown" in i for i in ids)


def test_slices_line_says_only_what_is_true(study):
    assert slices_line(study.report).endswith("levels counted from the sacrum.")
    none = _unlevelled(study).report
    assert slices_line(none) == f"{len(none.slices)} axial slice(s) measured; no disc level assigned."
    user = replace(none, slices=tuple(replace(s, level=LevelAssignment("L4-L5", "user", 1.0))
                                      for s in none.slices))
    assert slices_line(user).endswith("levels set by the user.")


def test_console_table_without_levels_does_not_claim_a_sacrum_count(study):
    from mri_measure.cli.measure import format_table

    text = format_table(_unlevelled(study).report)
    assert "counted from the sacrum" not in text
    assert "no disc level assigned" in text


def test_seg_splits_repeated_positions_into_separate_instances(study, tmp_path):
    """Two acquisitions at the same positions (one stack, duplicate positions):
    every slice is in exactly one SEG frame, no SEG instance has two frames at
    one position, and the masks equal the labels."""
    from mri_measure.report import write_seg

    sa = study.axial[0]
    n = len(sa.loaded.slices)
    # the repeat points at the same files (same SOP Instance UIDs): the writer's
    # grouping looks at positions only
    twice = sa.loaded.slices + sa.loaded.slices
    loaded = replace(sa.loaded, slices=twice, stack=replace(sa.loaded.stack, slices=twice),
                     pixels=np.concatenate([sa.loaded.pixels, sa.loaded.pixels]))
    labels = np.concatenate([sa.labels, sa.labels[::-1]])
    doubled = replace(study, axial=(type(sa)(loaded, np.concatenate([sa.probabilities] * 2), labels,
                                             sa.measurements * 2),))
    paths = write_seg(doubled, tmp_path / "seg.dcm")
    assert len(paths) == 2
    seen = []
    uids = [s.sop_instance_uid for s in sa.loaded.slices]
    for p, expected in zip(paths, (sa.labels, sa.labels[::-1])):
        seg = hd.seg.segread(p)
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=uids, segment_numbers=[1, 2, 3],
            combine_segments=True, skip_overlap_checks=True)
        np.testing.assert_array_equal(pixels, expected)
        ds = pydicom.dcmread(p)
        positions = [tuple(round(float(v), 2) for v in
                           f.PlanePositionSequence[0].ImagePositionPatient)
                     for f in ds.PerFrameFunctionalGroupsSequence]
        by_segment: dict[int, list] = {}
        for f, pos in zip(ds.PerFrameFunctionalGroupsSequence, positions):
            by_segment.setdefault(int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber),
                                  []).append(pos)
        assert all(len(v) == len(set(v)) for v in by_segment.values())
        seen.append(len({u for _, _, u in seg.get_source_image_uids()}))
    assert seen == [n, n]


def test_big_group_is_written_as_several_bounded_instances(study, tmp_path, monkeypatch):
    """Past MAX_FRAME_PIXELS a geometry group becomes several SEG instances (one
    series); every slice's mask is still there once and the SR still points at
    the right frames."""
    from mri_measure.report import seg as seg_module
    from mri_measure.report import write_all

    rows, cols = study.axial[0].labels.shape[1:]
    monkeypatch.setattr(seg_module, "MAX_FRAME_PIXELS", 2 * rows * cols)
    paths = write_all(study, tmp_path)
    segs = [hd.seg.segread(p) for k, p in sorted(paths.items()) if k.startswith("seg")]
    assert len(segs) == 4  # two blocks of 3 slices, at most 2 per instance
    assert len({str(s.SeriesInstanceUID) for s in segs}) == 1
    for sa in study.axial:
        for k, info in enumerate(sa.loaded.slices):
            having = [s for s in segs if info.sop_instance_uid in {u for _, _, u in s.get_source_image_uids()}]
            assert len(having) == 1
            px = having[0].get_pixels_by_source_instance(
                source_sop_instance_uids=[info.sop_instance_uid], segment_numbers=[1, 2, 3],
                combine_segments=True, skip_overlap_checks=True)
            np.testing.assert_array_equal(px[0], sa.labels[k])
    sr = hd.sr.srread(paths["sr"])
    assert len(sr.content.get_planar_roi_measurement_groups()) == 3 * len(study.report.levels)
