"""Finding studies on a DICOMweb server (QIDO-RS): every MR study, with filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .connection import Connection, first_value, open_client, request

_STUDY_UID = "0020000D"


@dataclass(frozen=True)
class StudyHit:
    """One study a QIDO-RS search found (no patient data kept)."""

    study_instance_uid: str
    study_date: str | None
    study_description: str


def search_mr_studies(
    conn: Connection,
    *,
    since: str | None = None,
    description: str | None = None,
    limit: int | None = None,
    page: int = 100,
) -> list[StudyHit]:
    """Every MR study on the server (QIDO-RS, ``ModalitiesInStudy=MR``), oldest first.

    ``since``: ``YYYYMMDD`` (StudyDate on or after; asked of the server and
    checked here); ``description``: a StudyDescription pattern with ``*``/``?``
    wildcards, matched here, case-insensitively (servers differ: Orthanc finds
    nothing for a value with spaces); ``limit``: at most that many studies, the
    oldest first.
    """
    import fnmatch

    client = open_client(conn)
    filters: dict[str, Any] = {"ModalitiesInStudy": "MR"}
    if since:
        filters["StudyDate"] = f"{since}-"
    pattern = description.upper() if description else None
    fields = ["StudyInstanceUID", "StudyDate", "StudyDescription", "ModalitiesInStudy"]
    hits: list[StudyHit] = []
    seen: set[str] = set()
    offset = 0
    while True:
        batch = request(conn, "the study search", lambda: client.search_for_studies(
            search_filters=filters, fields=fields, limit=page, offset=offset))
        for item in batch:
            uid = first_value(item, _STUDY_UID)
            mods = item.get("00080061", {}).get("Value") or []
            if not uid or uid in seen or (mods and "MR" not in [str(m).upper() for m in mods]):
                continue
            seen.add(uid)
            hit = StudyHit(uid, first_value(item, "00080020"), first_value(item, "00081030") or "")
            if since and (hit.study_date or "") < since:
                continue
            if pattern and not fnmatch.fnmatchcase(hit.study_description.upper(), pattern):
                continue
            hits.append(hit)
        if len(batch) < page:
            break
        offset += len(batch)
    hits.sort(key=lambda h: (h.study_date or "", h.study_instance_uid))
    return hits[:limit] if limit is not None else hits
