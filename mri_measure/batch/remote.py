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

import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

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
    from ..io.dicomweb import first_value, request

    items = request(conn, "the study", lambda: client.search_for_instances(
        study_uid, fields=["SOPInstanceUID", "SOPClassUID"], get_remaining=True))
    out = []
    for item in items:
        sop, cls = first_value(item, "00080018"), first_value(item, "00080016") or ""
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

        self.prefetch: Prefetch | None = None

    def __iter__(self) -> Iterator[FoundStudy | UnitFailed | Tick]:
        q, st = self.query, self.stats
        st.n_units = 1
        client = open_client(q.conn, pool_size=1)
        for hit in self.hits:
            key = opaque_key(hit.study_instance_uid)
            try:
                sops = measured_instances(q.conn, client, hit.study_instance_uid)
            except DicomwebError as exc:
                st.n_unit_failures += 1
                yield UnitFailed(key, type(exc).__name__, str(exc), kind="study")
                continue
            st.n_files += len(sops)
            st.n_dicom += len(sops)
            st.n_studies += 1
            placeholder = Study(hit.study_instance_uid, (), hit.study_description)
            remote = RemoteStudy(q.conn, hit.study_instance_uid, q.fetch_workers)
            found = FoundStudy(key, placeholder, fingerprint(sops), len(sops), remote=remote)
            if self.prefetch is None or self.prefetch.skip(found):
                yield found
            else:
                yield from self.prefetch.add(found)
            yield Tick()
        if self.prefetch is not None:
            yield from self.prefetch.drain()


class Prefetch:
    """Retrieve studies on the batch client while the workers measure earlier ones
    (the embedded cluster only: its workers see this machine's files).

    A study is fetched into ``cache/<key>`` (the series it needs, as
    ``measure URL`` does) by one background thread, discovered there, and
    handed on as an ordinary :class:`FoundStudy` of local files — the workers
    then run exactly the file batch. At most ``ahead`` fetched studies wait or
    run at a time (disk use is bounded); a folder is removed once its study is
    ``finished`` (recorded), and the whole cache by :meth:`close`.
    """

    def __init__(self, cache: Path, ahead: int, finished: Callable[[str], bool],
                 skip: Callable[[FoundStudy], bool]) -> None:
        self.cache, self.ahead = cache, max(1, ahead)
        self.finished, self.skip = finished, skip
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        self.queue: deque[tuple[FoundStudy, Future]] = deque()
        self.live: set[str] = set()  # keys whose folder exists

    def _fetch(self, found: FoundStudy) -> FoundStudy | UnitFailed:
        from ..errors import MriMeasureError
        from ..io import discover
        from ..io.dicomweb import fetch_study
        from ..logs import redact
        from ..pipeline import needed_series

        folder = self.cache / found.key
        folder.mkdir(parents=True, exist_ok=True)
        remote = found.remote
        try:
            fetch_study(remote.conn, remote.study_instance_uid, folder, select=needed_series,
                        workers=remote.fetch_workers)
            studies = [s for s in discover(folder).studies if s.study_instance_uid == remote.study_instance_uid]
            if not studies:
                raise DicomwebError("the retrieved instances do not belong to the study asked for")
        except MriMeasureError as exc:
            return UnitFailed(found.key, type(exc).__name__, str(exc), kind="study")
        except Exception as exc:  # a bug or a library failure: recorded, redacted, the rest carry on
            return UnitFailed(found.key, type(exc).__name__, "internal error: " + redact(str(exc)), kind="study")
        return replace(found, study=studies[0], remote=None)

    def _sweep(self) -> None:
        for key in [k for k in self.live if self.finished(k)]:
            shutil.rmtree(self.cache / key, ignore_errors=True)
            self.live.discard(key)

    def _ready(self, wait: bool) -> Iterator[FoundStudy | UnitFailed | Tick]:
        while self.queue and (self.queue[0][1].done() or wait):
            found, fut = self.queue[0]
            if not fut.done():
                yield Tick()
                time.sleep(0.02)
                continue
            self.queue.popleft()
            item = fut.result()
            if isinstance(item, UnitFailed):
                shutil.rmtree(self.cache / found.key, ignore_errors=True)
                self.live.discard(found.key)
            yield item

    def add(self, found: FoundStudy) -> Iterator[FoundStudy | UnitFailed | Tick]:
        self._sweep()
        while len(self.live) >= self.ahead:  # enough fetched ahead: let the workers catch up
            yield from self._ready(wait=False)
            yield Tick()
            time.sleep(0.05)
            self._sweep()
        self.live.add(found.key)
        self.queue.append((found, self.pool.submit(self._fetch, found)))
        yield from self._ready(wait=False)

    def drain(self) -> Iterator[FoundStudy | UnitFailed | Tick]:
        yield from self._ready(wait=True)

    def sweep(self) -> None:
        """Remove the folders of finished studies (the run loop calls it while it waits)."""
        self._sweep()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.cache, ignore_errors=True)
