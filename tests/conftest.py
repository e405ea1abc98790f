"""Suite-wide fixtures.

``mri-measure``'s CLI configures logging for a process (handlers, propagation,
warnings capture). Tests that call ``cli.main`` in-process must not leak that
into later tests (pytest's ``caplog`` listens on the root logger), so every
test gets the logging state it started with back.
"""

from __future__ import annotations

import logging
import warnings

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
