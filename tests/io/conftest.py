"""Fixtures: a small lumbar study written as real DICOM files by the tests."""

from __future__ import annotations


import pytest

from tests.io.io_study import StudySpec, make_study


@pytest.fixture
def study() -> StudySpec:
    return make_study()


