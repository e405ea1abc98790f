"""Shared fixtures for the napari plugin tests: one phantom CD per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# napari needs a real X server (pytest-xvfb starts one); pin the xcb platform
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

PHANTOM_SEED = 11


@pytest.fixture(scope="session")
def phantom_cd(tmp_path_factory) -> Path:
    """A synthetic patient CD (``…/CD`` with DICOMDIR) with truth files beside it."""
    from napari_mri_measure._sample_data import make_sample_cd

    out = tmp_path_factory.mktemp("phantom")
    cd = make_sample_cd(out, seed=PHANTOM_SEED, stenosis="moderate")
    assert (cd.parent / "truth_labels.npz").is_file()
    return cd


@pytest.fixture(scope="session")
def truth_analysis(phantom_cd):
    """The pipeline's analysis of the phantom with ground-truth segmentation."""
    from mri_measure.pipeline import analyse_study
    from mri_measure.segment import TruthSegmenter

    seg = TruthSegmenter.from_npz(phantom_cd.parent / "truth_labels.npz")
    return analyse_study(phantom_cd, segmenter=seg)
