"""Fixtures: a small lumbar study written as real DICOM files by the tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from io_study import StudySpec, make_study  # noqa: E402


@pytest.fixture
def study() -> StudySpec:
    return make_study()


