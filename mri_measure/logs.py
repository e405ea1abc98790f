"""Logging that cannot leak PHI.

pydicom's warnings quote raw element values and file paths. Every record that
reaches our handlers passes :class:`RedactingFilter`, which replaces quoted
values, path-like strings and long digit runs. Our own messages never include
patient data to begin with (they name tags and opaque indices only).

Library code that reads DICOM wraps the read in :func:`redacted_warnings`, so
pydicom's ``warnings.warn`` calls become redacted log records even when the
caller (a notebook, the napari plugin) never called :func:`configure_logging`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator

# A run of non-blank characters holding a path separator, e.g. /cd/DOE/IM1,
# cd/DOE/IM1, C:\CD\DOE\IM1 or file:///x; also bare Windows drive paths.
_PATH = re.compile(r"(?:[A-Za-z]:)?[^\s'\"<>]*(?:[\\/][^\s'\"\\/<>]*)+")
_QUOTED = re.compile(r"(['\"])(?:(?!\1).){1,200}\1")
_VALUE = re.compile(r"(value\s*[:=]?\s*)\S+", re.IGNORECASE)
_DIGITS = re.compile(r"\b\d{6,}\b")

_REDACTED_LOGGERS = ("pydicom", "highdicom", "py.warnings")


def redact(text: str) -> str:
    """Strip anything that could be a DICOM value or a file path.

    >>> redact("Invalid value 'DOE^JOHN' for PN in /cd/DOE_JOHN/IM1")
    "Invalid value '…' for PN in <path>"
    >>> redact(r"cannot read C:\\CD\\SMITH\\IM2 or cd/SMITH/IM3")
    'cannot read <path> or <path>'
    >>> redact("patient id 12345678")
    'patient id <n>'
    """
    text = _QUOTED.sub(lambda m: f"{m.group(1)}…{m.group(1)}", text)
    text = _PATH.sub("<path>", text)
    text = _DIGITS.sub("<n>", text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts records from third-party loggers (pydicom, highdicom, warnings)
    and drops exception tracebacks (their text can quote values and paths)
    unless ``keep_exc_info`` (``--debug``)."""

    def __init__(self, keep_exc_info: bool = False) -> None:
        super().__init__()
        self.keep_exc_info = keep_exc_info

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # malformed args: drop them
            msg = str(record.msg)
        if any(record.name == n or record.name.startswith(n + ".") for n in _REDACTED_LOGGERS):
            msg = redact(msg)
        record.msg, record.args = msg, None
        if not self.keep_exc_info:
            record.exc_info, record.exc_text = None, None
        return True


def install_library_redaction() -> None:
    """Attach a :class:`RedactingFilter` to pydicom's and highdicom's own loggers.

    Logger-level filters run before any handler, so records are redacted
    whatever handlers the host application installed. Idempotent.
    """
    for name in ("pydicom", "highdicom"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in lg.filters):
            lg.addFilter(RedactingFilter())


@contextlib.contextmanager
def redacted_warnings(logger: logging.Logger | None = None) -> Iterator[list[str]]:
    """Capture Python warnings raised inside the block (pydicom's, mostly) and
    re-log them redacted at DEBUG level; yields the list of redacted messages.

    >>> with redacted_warnings() as seen:
    ...     warnings.warn("bad value 'DOE^JANE' in /media/cd/DOE/IM9")
    >>> seen
    ["bad value '…' in <path>"]

    Not thread-safe (``warnings.catch_warnings`` never is); io reads DICOM in
    one thread per process.
    """
    log = logger or logging.getLogger("mri_measure.io")
    seen: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield seen
        finally:
            for w in caught:
                seen.append(redact(str(w.message)))
    for msg in seen:
        log.debug("library warning: %s", msg)


def configure_logging(*, debug: bool = False, quiet: bool = False) -> None:
    """Route our logs, pydicom's logger and Python warnings through one redacting handler."""
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter(keep_exc_info=debug))
    for name in ("mri_measure", "pydicom", "highdicom", "py.warnings"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.propagate = False
        lg.setLevel(level if name == "mri_measure" else logging.WARNING)
    install_library_redaction()
    # pydicom and highdicom speak through warnings.warn as well; quiet them to the log
    logging.captureWarnings(True)
    warnings.filterwarnings("default")
    if not debug:
        logging.getLogger("pydicom").setLevel(logging.ERROR)
