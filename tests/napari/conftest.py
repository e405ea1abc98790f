"""Shared fixtures for the napari plugin tests: one phantom CD per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# napari needs a real X server (pytest-xvfb starts one); pin the xcb platform
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

PHANTOM_SEED = 11
#: distinctive fake patient data written into the phantom: must never reach names, logs, exports
FAKE_PHI = {"PatientName": "Quarzbaum^Zebulon", "PatientID": "PID-778899", "PatientBirthDate": "19230405"}


@pytest.fixture(scope="session")
def phantom_cd(tmp_path_factory) -> Path:
    """A synthetic patient CD (``…/CD`` with DICOMDIR) with truth files beside it."""
    from mri_measure.synth import write_cd

    out = tmp_path_factory.mktemp("phantom")
    cd = write_cd(out, seed=PHANTOM_SEED, stenosis="moderate", phi=FAKE_PHI)
    assert (cd.parent / "truth_labels.npz").is_file()
    return cd


@pytest.fixture
def fake_phi():
    return [str(v) for v in FAKE_PHI.values()] + ["Quarzbaum", "Zebulon"]


@pytest.fixture(scope="session")
def truth_analysis(phantom_cd):
    """The pipeline's analysis of the phantom with ground-truth segmentation."""
    from mri_measure.pipeline import analyse_study
    from mri_measure.testing.truth import TruthSegmenter

    seg = TruthSegmenter.from_npz(phantom_cd.parent / "truth_labels.npz")
    return analyse_study(phantom_cd, segmenter=seg)
