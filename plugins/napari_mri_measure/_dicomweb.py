"""A study opened from a DICOMweb server (**Open DICOMweb study…**), Qt-free.

The series the analysis needs (``pipeline.needed_series``, chosen from the
headers before any pixel) are retrieved with :func:`mri_measure.io.dicomweb.fetch_study`
into a private temporary folder (:class:`RemoteCopy`, mode 0700), which is then
opened like a CD folder. The folder must outlive the load: the review session
re-reads nothing, but Segment again, Export (SEG/SR reference the source
instances) and the combos' :class:`~mri_measure.Study` point into it. It is removed
when the study is replaced or the widget closed (the study panel decides), when a
load fails or is cancelled, and at the latest when the copy is garbage collected or
the interpreter exits (``weakref.finalize``).

Credentials come from the same environment variables as the CLI
(``MRI_MEASURE_DICOMWEB_USER`` / ``_PASSWORD`` / ``_TOKEN`` / ``_CA_BUNDLE``); they are
never shown (messages name ``scheme://host:port`` only).
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: ``progress(stage, fraction)`` of the pipeline (may raise to cancel)
Progress = Callable[[str, float], None]


class RemoteCopy:
    """A private temporary folder holding one retrieved study."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mri-measure-napari-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.folder), ignore_errors=True)

    def remove(self) -> None:
        """Remove the folder (idempotent; safe from any thread)."""
        self._finalizer()

    @property
    def removed(self) -> bool:
        return not self._finalizer.alive

    def __repr__(self) -> str:  # no path: it may be shown
        return f"RemoteCopy({'removed' if self.removed else 'kept'})"


def connection(url: str) -> tuple[Any, str]:
    """``(Connection, StudyInstanceUID)`` of a study URL, credentials from the environment."""
    from mri_measure.io.dicomweb import Connection, split_study_url

    root, study_uid = split_study_url(url)
    return Connection.from_options(root), study_uid


def retrieve(url: str, copy: RemoteCopy, *, series: str | None, progress: Progress) -> Any:
    """Retrieve the series the analysis of ``url``'s study needs into ``copy``;
    ``progress("retrieve", fraction)`` after each instance (raising there cancels).
    Returns the :class:`~mri_measure.io.dicomweb.FetchReport`."""
    from mri_measure.io.dicomweb import fetch_study
    from mri_measure.pipeline import needed_series

    conn, study_uid = connection(url)
    progress("retrieve", 0.0)
    return fetch_study(
        conn, study_uid, copy.folder, select=lambda st: needed_series(st, series),
        on_instance=lambda done, expected: progress("retrieve", done / expected if expected else 0.0),
    )
