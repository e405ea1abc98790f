"""Suite-wide fixtures.

``mri-measure``'s CLI configures logging for a process (handlers, propagation,
warnings capture). Tests that call ``cli.main`` in-process must not leak that
into later tests (pytest's ``caplog`` listens on the root logger), so every
test gets the logging state it started with back.

``orthanc`` (a real Orthanc with the DICOMweb plugin, tests/dicomweb/orthanc.py) and
``sample_on_pacs`` (the sample CD uploaded to it) are session fixtures shared by
tests/dicomweb/ and the napari plugin's DICOMweb tests: one server per session.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

_LOGGERS = ("mri_measure", "mri_measure.io", "pydicom", "highdicom", "py.warnings", "distributed")


@pytest.fixture(autouse=True)
def _restore_logging_state():
    saved = {}
    for name in _LOGGERS:
        lg = logging.getLogger(name)
        saved[name] = (list(lg.handlers), lg.propagate, lg.level, list(lg.filters))
    showwarning = warnings.showwarning
    filters = list(warnings.filters)
    yield
    logging.captureWarnings(False)
    warnings.showwarning = showwarning
    warnings.filters[:] = filters
    for name, (handlers, propagate, level, flt) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.propagate = propagate
        lg.setLevel(level)
        lg.filters[:] = flt


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    from tests.dicomweb.orthanc import start_orthanc

    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sample_on_pacs(orthanc) -> str:
    """The sample CD ``sample_dicoms/normal`` uploaded; its StudyInstanceUID."""
    from tests.batch.batch_archive import study_uid_of

    cd = Path(__file__).resolve().parents[1] / "sample_dicoms" / "normal" / "CD"
    assert orthanc.upload(cd) > 0
    return study_uid_of(cd)
