"""mri_measure.logs: third-party messages are redacted before any handler sees them."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings

from mri_measure.logs import RedactingFilter, install_library_redaction, redact, redacted_warnings


def test_redact_values_paths_and_numbers():
    msg = redact(r"Invalid value 'DOE^JOHN' in /media/cd/DOE_JOHN/IM1 and C:\CD\DOE\IM2, id 19580214")
    assert "DOE" not in msg and "19580214" not in msg and "media" not in msg
    assert msg.count("<path>") == 2


def test_filter_redacts_only_third_party_records():
    f = RedactingFilter()
    rec = logging.LogRecord("pydicom.fileset", logging.WARNING, __file__, 1, "missing %s", ("/cd/DOE/IM1",), None)
    f.filter(rec)
    assert rec.getMessage() == "missing <path>"
    rec = logging.LogRecord("py.warnings", logging.WARNING, __file__, 1, "x '/tmp/DOE' y", None, None)
    f.filter(rec)
    assert "DOE" not in rec.getMessage()
    ours = logging.LogRecord("mri_measure.io", logging.WARNING, __file__, 1, "stack 3.1: 2 mm/px", None, None)
    f.filter(ours)
    assert ours.getMessage() == "stack 3.1: 2 mm/px"


def test_library_logger_filter_is_idempotent(caplog):
    install_library_redaction()
    install_library_redaction()
    lg = logging.getLogger("pydicom")
    assert sum(isinstance(f, RedactingFilter) for f in lg.filters) == 1
    with caplog.at_level(logging.WARNING, logger="pydicom"):
        lg.warning("file /cd/SMITH^ANN/IM3 has value 'SMITH^ANN'")
    assert "SMITH" not in caplog.text


def test_redacted_warnings_capture(caplog):
    with caplog.at_level(logging.DEBUG, logger="mri_measure"):
        with redacted_warnings() as seen:
            warnings.warn("Invalid value 'SMITH^ANN' at /home/SMITH/cd/IM1")
    assert seen == ["Invalid value '…' at <path>"]
    assert "SMITH" not in caplog.text and "library warning" in caplog.text


def test_cli_routes_python_warnings_through_redaction(tmp_path):
    code = (
        "import warnings, mri_measure.logs as L; L.configure_logging();"
        "warnings.warn(\"value 'SMITH^ANN' in /cd/SMITH/IM1\")"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "SMITH" not in res.stderr and "<path>" in res.stderr
