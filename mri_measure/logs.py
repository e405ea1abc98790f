"""Logging that cannot leak PHI.

pydicom's warnings quote raw element values and file paths. Every record that
reaches our handlers passes :class:`RedactingFilter`, which replaces quoted
values, path-like strings and long digit runs. Our own messages never include
patient data to begin with (they name tags and opaque indices only).
"""

from __future__ import annotations

import logging
import re
import warnings

_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/:]+){1,}[\\/]?")
_QUOTED = re.compile(r"(['\"])(?:(?!\1).){1,200}\1")
_VALUE = re.compile(r"(value\s*[:=]?\s*)\S+", re.IGNORECASE)
_DIGITS = re.compile(r"\b\d{6,}\b")


def redact(text: str) -> str:
    """Strip anything that could be a DICOM value or a file path.

    >>> redact("Invalid value 'DOE^JOHN' for PN in /cd/DOE_JOHN/IM1")
    "Invalid value '…' for PN in <path>"
    """
    text = _QUOTED.sub(lambda m: f"{m.group(1)}…{m.group(1)}", text)
    text = _PATH.sub("<path>", text)
    text = _DIGITS.sub("<n>", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # malformed args: drop them
            msg = str(record.msg)
        if record.name.startswith("pydicom") or record.name == "py.warnings":
            msg = redact(msg)
        record.msg, record.args = msg, None
        return True


def configure_logging(*, debug: bool = False, quiet: bool = False) -> None:
    """Route our logs, pydicom's logger and Python warnings through one redacting handler."""
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    for name in ("mri_measure", "pydicom", "highdicom", "py.warnings"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.propagate = False
        lg.setLevel(level if name == "mri_measure" else logging.WARNING)
    # pydicom and highdicom speak through warnings.warn as well; quiet them to the log
    logging.captureWarnings(True)
    warnings.filterwarnings("default")
    if not debug:
        logging.getLogger("pydicom").setLevel(logging.ERROR)
