"""``batch --store-to URL``: each measured study's SEG and SR go back into that
study on a DICOMweb server (STOW-RS), from the client, right after the study is
recorded. What was stored (kind, new SeriesInstanceUID, instance count — no
patient data) is recorded per study by :class:`~.store.BatchStore`
(``studies/<key>/STORED.json``, the table ``stored.csv``); a failure to store is
recorded for that study (``STORE_ERROR.json``, a ``store`` row in errors.csv) and
the batch carries on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: the output files STOWed: seg.dcm, seg_2.dcm, … and sr.dcm
_SEG = re.compile(r"^seg(_\d+)?\.dcm$")


def stow_results(conn: Any, study_uid: str, files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """STOW the SEG(s) and the SR among ``files`` (name → bytes, :func:`.worker.render_reports`)
    into ``study_uid``; one entry per new series: ``modality``, ``series_instance_uid``,
    ``n_instances``. Raises :class:`~mri_measure.errors.DicomwebError` (one line)."""
    from ..errors import DicomwebError
    from ..io.dicomweb import store_files

    chosen: list[tuple[str, str | bytes]] = [("SEG", files[n]) for n in sorted(files) if _SEG.match(n)]
    chosen += [("SR", files["sr.dcm"])] if "sr.dcm" in files else []
    if not chosen:
        raise DicomwebError("nothing to store: this study gave no SEG or SR (no measured DICOM slice)")
    stored = store_files(conn, study_uid, chosen)
    series: dict[str, dict[str, Any]] = {}
    for kind, series_uid, _ in stored.kinds:
        entry = series.setdefault(series_uid, {"modality": kind, "series_instance_uid": series_uid,
                                               "n_instances": 0})
        entry["n_instances"] += 1
    return list(series.values())
