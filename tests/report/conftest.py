"""Fixtures for the report writer tests (data built in report_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from report_fixtures import PHANTOM, build_study
from mri_measure.types import StudyAnalysis


@pytest.fixture(scope="session")
def study(tmp_path_factory) -> StudyAnalysis:
    return build_study(tmp_path_factory.mktemp("src"), PHANTOM)


@pytest.fixture(scope="session")
def written(study, tmp_path_factory) -> dict[str, Path]:
    from mri_measure.report import write_all

    return write_all(study, tmp_path_factory.mktemp("out"))
