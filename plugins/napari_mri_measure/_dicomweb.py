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


def root_of(url: str) -> str:
    """The DICOMweb root of a study URL (credentials in it dropped), e.g. for **Store to PACS…**."""
    from mri_measure.io.dicomweb import Connection, split_study_url

    return Connection(split_study_url(url)[0]).root


def store_results(root: str, analysis: Any) -> str:
    """Write ``analysis``'s outputs into a private temporary folder, STOW its SEG(s) and
    SR into the measured study on ``root`` (credentials from the environment), remove
    the folder; the line to show (server as ``scheme://host:port``, the new series)."""
    from mri_measure import MriMeasureError
    from mri_measure.io.dicomweb import Connection, store_files
    from mri_measure.pipeline import write_outputs

    conn = Connection.from_options(root)
    study_uid = str(analysis.report.study["study_instance_uid"])
    tmp = Path(tempfile.mkdtemp(prefix="mri-measure-napari-stow-"))
    try:
        written = write_outputs(analysis, tmp / "out")
        files = [("SEG", p) for k, p in sorted(written.items()) if k == "seg" or k.startswith("seg_")]
        files += [("SR", written["sr"])] if "sr" in written else []
        if not files:
            raise MriMeasureError("nothing to store: this study gave no SEG or SR (no measured DICOM slice)")
        stored = store_files(conn, study_uid, files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    counts: dict[str, list[Any]] = {}
    for kind, series_uid, _ in stored.kinds:
        counts.setdefault(series_uid, [kind, 0])[1] += 1
    parts = [f"{kind} series {uid} ({n} instance{'s' if n > 1 else ''})" for uid, (kind, n) in counts.items()]
    return f"stored to {conn.where}: " + "; ".join(parts)
