"""Storing results into a study on a DICOMweb server (STOW-RS)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import DicomwebError
from .connection import Connection, open_client, request


@dataclass(frozen=True)
class Stored:
    """What one STOW-RS stored: the instances by kind, and their series."""

    study_instance_uid: str
    kinds: tuple[tuple[str, str, str], ...]  # (kind, SeriesInstanceUID, SOPInstanceUID)


def store_files(conn: Connection, study_uid: str,
                files: Sequence[tuple[str, str | os.PathLike[str] | bytes]]) -> Stored:
    """STOW-RS ``files`` (``(kind, path)``, e.g. ``("SEG", …/seg.dcm)``, or ``(kind,
    bytes)`` of such a file) into the study.

    Every instance must belong to ``study_uid``; a failure the server reports
    for any instance raises :class:`DicomwebError`.
    """
    import pydicom

    datasets, kinds = [], []
    for kind, path in files:
        ds = pydicom.dcmread(io.BytesIO(path) if isinstance(path, bytes) else path)
        if str(ds.StudyInstanceUID) != study_uid:
            raise DicomwebError(f"{kind} belongs to another study than the one measured; nothing stored")
        datasets.append(ds)
        kinds.append((kind, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)))
    if not datasets:
        return Stored(study_uid, ())
    client = open_client(conn)
    answer = request(conn, "storing the results", lambda: client.store_instances(
        datasets, study_instance_uid=study_uid))
    failed = answer.get("FailedSOPSequence") if answer is not None else None
    if failed:
        raise DicomwebError(
            f"the DICOMweb server at {conn.where} refused {len(failed)} of {len(datasets)} instance(s) "
            "(STOW-RS FailedSOPSequence)"
        )
    return Stored(study_uid, tuple(kinds))
