"""``mri-measure batch URL``: the studies of a DICOMweb server instead of a folder tree.

:class:`RemoteDiscovery` stands in for
:class:`~mri_measure.batch.discovery.StreamingDiscovery`: one QIDO-RS search
for every MR study (``ModalitiesInStudy=MR``, ``--since``,
``--study-description``, ``--limit``), then per study one QIDO-RS instance
search (no pixels) for the resume fingerprint. Each study goes to a Dask
worker as a :class:`RemoteStudy` (the connection and the StudyInstanceUID);
the worker retrieves the series the analysis needs into its own temporary
folder (:func:`mri_measure.io.dicomweb.fetched_study`), measures it exactly as
``mri-measure measure URL`` does, and removes the folder. Resume, failures,
timeouts and the output tables are the file batch's, unchanged.

The fingerprint leaves out SEG and SR instances (what ``--store-to`` puts
back into a study), so storing results does not make ``--resume`` redo it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import DicomwebError, NoDicomError
from ..io.dicomweb import Connection, open_client, search_mr_studies
from ..types import Study
from .discovery import DiscoveryStats, FoundStudy, Tick, UnitFailed
from .store import fingerprint, opaque_key

#: SOP classes a measurement puts back into a study: not part of what was measured
_DERIVED_CLASS_PREFIXES = ("1.2.840.10008.5.1.4.1.1.66.", "1.2.840.10008.5.1.4.1.1.88.")


@dataclass(frozen=True)
class RemoteStudy:
    """A study to retrieve on the worker; ``repr`` shows no credentials (see :class:`Connection`)."""

    conn: Connection
    study_instance_uid: str
    fetch_workers: int = 4


@dataclass(frozen=True)
class RemoteQuery:
    """Which studies of the server a batch measures."""

    conn: Connection
    since: str | None = None  # YYYYMMDD
    description: str | None = None  # StudyDescription pattern, * and ? wildcards
    limit: int | None = None
    fetch_workers: int = 4


def normalise_date(text: str) -> str:
    """``YYYYMMDD`` from ``YYYY-MM-DD`` or ``YYYYMMDD``.

    >>> normalise_date("2024-03-01"), normalise_date("20240301")
    ('20240301', '20240301')
    """
    digits = text.replace("-", "").strip()
    if len(digits) != 8 or not digits.isdigit():
        from ..errors import OptionError

        raise OptionError(f"--since {text!r}: give a date as YYYY-MM-DD")
    return digits


def measured_instances(conn: Connection, client, study_uid: str) -> list[str]:
    """SOPInstanceUIDs of the study's images (QIDO-RS), without SEG and SR."""
    from ..io.dicomweb import _request, _value

    items = _request(conn, "the study", lambda: client.search_for_instances(
        study_uid, fields=["SOPInstanceUID", "SOPClassUID"], get_remaining=True))
    out = []
    for item in items:
        sop, cls = _value(item, "00080018"), _value(item, "00080016") or ""
        if sop and not cls.startswith(_DERIVED_CLASS_PREFIXES):
            out.append(sop)
    return out


class RemoteDiscovery:
    """Iterate to get :class:`FoundStudy` (``study`` is a placeholder :class:`Study`
    without stacks; the worker gets :attr:`FoundStudy.remote`), :class:`UnitFailed`
    and :class:`Tick`, like the file discovery."""

    def __init__(self, query: RemoteQuery) -> None:
        """Searches at once (before any cluster starts): an unreachable server, refused
        credentials or no matching study fail here, in a second, with one line."""
        self.query = query
        self.stats = DiscoveryStats()
        q = query
        self.hits = search_mr_studies(q.conn, since=q.since, description=q.description, limit=q.limit)
        if not self.hits:
            raise NoDicomError(
                f"no MR study on the DICOMweb server at {q.conn.where} matches "
                "(ModalitiesInStudy=MR and the --since/--study-description/--limit filters)"
            )

    def __iter__(self) -> Iterator[FoundStudy | UnitFailed | Tick]:
        q, st = self.query, self.stats
        hits = self.hits
        st.n_units = 1
        client = open_client(q.conn, pool_size=1)
        for hit in hits:
            key = opaque_key(hit.study_instance_uid)
            try:
                sops = measured_instances(q.conn, client, hit.study_instance_uid)
            except DicomwebError as exc:
                st.n_unit_failures += 1
                yield UnitFailed(key, type(exc).__name__, str(exc))
                continue
            st.n_files += len(sops)
            st.n_dicom += len(sops)
            st.n_studies += 1
            placeholder = Study(hit.study_instance_uid, (), hit.study_description)
            remote = RemoteStudy(q.conn, hit.study_instance_uid, q.fetch_workers)
            yield FoundStudy(key, placeholder, fingerprint(sops), len(sops), remote=remote)
            yield Tick()
