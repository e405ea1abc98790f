"""The writers on a real pipeline result: a synthetic patient CD (with fake PHI
in its headers and in its folder name), discovered and loaded by
``mri_measure.io``, segmented by the ground-truth segmenter, measured and
levelled by the pipeline, then written by ``write_all``."""

import json

import highdicom as hd
import jsonschema
import numpy as np
import pytest

from report_fixtures import PHI, require_tool, run_tool

from mri_measure.report import load_schema, write_all


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    from mri_measure.pipeline import analyse_study
    from mri_measure.testing.truth import TruthSegmenter
    from mri_measure.synth import write_cd

    root = tmp_path_factory.mktemp("ZZTESTPATIENT_case")
    cd = write_cd(root, seed=11, stenosis="moderate", axial="blocks",
                  levels=("L4-L5", "L5-S1"), sagittal=False,
                  phi={"PatientName": PHI["name"], "PatientID": PHI["id"],
                       "PatientBirthDate": PHI["birth_date"]})
    analysis = analyse_study(cd, segmenter=TruthSegmenter.from_npz(root / "truth_labels.npz"))
    out = tmp_path_factory.mktemp("e2e_out")
    return root, analysis, write_all(analysis, out)


def test_e2e_json_valid_and_complete(e2e):
    root, analysis, paths = e2e
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)
    truth = json.loads((root / "truth.json").read_text(encoding="utf-8"))
    axial_uids = {k for k, v in truth["slices"].items() if v["series"] == "axial"}
    assert {s["sop_instance_uid"] for s in doc["slices"]} == axial_uids
    assert len(doc["levels"]) >= 1


def test_e2e_seg_equals_truth_and_validates(e2e):
    root, analysis, paths = e2e
    truth = np.load(root / "truth_labels.npz")
    seg_paths = [paths["seg"]] + [paths[k] for k in sorted(paths) if k.startswith("seg_")]
    seen = set()
    for p in seg_paths:
        seg = hd.seg.segread(p)
        uids = sorted({u for _, _, u in seg.get_source_image_uids()})
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=uids, segment_numbers=[1, 2, 3],
            combine_segments=True, skip_overlap_checks=True)
        for uid, frame in zip(uids, pixels):
            expected = np.where(truth[uid] <= 3, truth[uid], 0)
            np.testing.assert_array_equal(frame, expected)
            seen.add(uid)
        res = run_tool(require_tool("dciodvfy"), str(p))
        assert not [ln for ln in (res.stdout + res.stderr).splitlines()
                    if ln.startswith("Error")], res.stdout + res.stderr
    assert seen == {s.sop_instance_uid for sa in analysis.axial for s in sa.loaded.slices}
    res = run_tool(require_tool("dciodvfy"), str(paths["sr"]))
    assert not [ln for ln in (res.stdout + res.stderr).splitlines()
                if ln.startswith("Error")], res.stdout + res.stderr


def test_e2e_no_phi_in_text_outputs(e2e):
    root, _, paths = e2e
    text = run_tool(require_tool("pdftotext"), str(paths["pdf"]), "-").stdout
    for kind in ("json", "csv", "html"):
        text += paths[kind].read_text(encoding="utf-8")
    for needle in ("ZZTESTPATIENT", PHI["id"], PHI["birth_date"], "1901-02-03", str(root)):
        assert needle.lower() not in text.lower(), needle
