"""Reading one study: series list, headers of the MR series, the chosen series' pixels.

:func:`fetch_study` asks for the study's series (QIDO-RS), reads the metadata
of its MR series (WADO-RS, headers only), builds the same
:class:`~mri_measure.types.Study` discovery builds from a CD, lets the caller
pick the series the analysis needs (``select``: the pipeline's
``needed_series``), then retrieves only those, one streamed answer per series,
in parallel, straight to files in a folder the caller measures like a CD
folder; :func:`fetched_study` makes that a private temporary folder and
removes it at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import DicomwebError, NoDicomError
from ...types import Study
from .connection import DEFAULT_WORKERS, Connection, first_value, log, open_client, request

#: every transfer syntax as stored: no transcoding on the server (pixels bit for bit)
_AS_STORED = (("application/dicom", "*"),)
_SERIES_UID = "0020000E"


def _datasets(items: Sequence[dict]) -> list[Any]:
    from pydicom import Dataset

    out = []
    for item in items:
        try:
            out.append(Dataset.from_json(item, bulk_data_uri_handler=lambda *a: b""))
        except Exception:
            continue  # an instance whose metadata cannot be parsed: left out (counted below)
    if len(out) < len(items):
        log.warning("DICOMweb: %d instance(s) with unreadable metadata were left out", len(items) - len(out))
    return out


def study_series(client: Any, conn: Connection, study_uid: str) -> list[tuple[str, str]]:
    """``(SeriesInstanceUID, Modality)`` of every series of the study (QIDO-RS)."""
    items = request(conn, "the study", lambda: client.search_for_series(
        study_uid, fields=["SeriesInstanceUID", "Modality"], get_remaining=True))
    out = [(uid, (first_value(i, "00080060") or "").upper()) for i in items if (uid := first_value(i, _SERIES_UID))]
    if not out:
        raise DicomwebError(f"the study was not found on the DICOMweb server at {conn.where} (no series)")
    return out


def series_metadata(client: Any, conn: Connection, study_uid: str, series: Sequence[str],
                    workers: int = DEFAULT_WORKERS) -> list[Any]:
    """Headers of every instance of ``series`` (WADO-RS metadata, no pixels), as pydicom Datasets."""
    def one(uid: str) -> list[dict]:
        return request(conn, "the series metadata", lambda: client.retrieve_series_metadata(study_uid, uid))

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(series)))) as pool:
        items = [item for got in pool.map(one, series) for item in got]
    return _datasets(items)


def study_from_metadata(study_uid: str, datasets: Sequence[Any]) -> Study:
    """The :class:`Study` discovery would build from these headers (locators ``dicomweb:N``)."""
    from ..discover import _build_study, _Scan
    from ..headers import ImplausibleImage, MissingGeometry, image_headers

    scan = _Scan()
    for i, ds in enumerate(datasets):
        try:
            found = image_headers(ds, f"dicomweb:{i}")
        except (ImplausibleImage, MissingGeometry):
            continue
        except Exception:
            continue
        for h in found:
            scan.headers.setdefault(h.info.key, h)
    headers = [h for h in scan.headers.values() if h.study_instance_uid == study_uid]
    if not headers:
        raise NoDicomError("the DICOMweb study holds no image with usable geometry")
    return _build_study(study_uid, headers, warnings=[])


@dataclass
class FetchReport:
    """What :func:`fetch_study` retrieved."""

    study_instance_uid: str
    series: tuple[str, ...] = ()
    n_series_in_study: int = 0
    n_instances: int = 0
    n_bytes: int = 0
    metadata_s: float = 0.0
    retrieve_s: float = 0.0


def _write_instance(ds: Any, path: Path) -> int:
    ds.save_as(path, enforce_file_format=True)
    return path.stat().st_size


def fetch_study(
    conn: Connection,
    study_uid: str,
    dest: str | os.PathLike[str],
    *,
    select: Callable[[Study], Collection[str]] | None = None,
    workers: int = DEFAULT_WORKERS,
    on_instance: Callable[[int, int | None], None] | None = None,
) -> FetchReport:
    """Retrieve the instances of the series ``select(study)`` names into ``dest``.

    The study's series list (QIDO-RS) comes first; the metadata (WADO-RS,
    headers only) of its MR series (not SEG, SR or other derived objects) is
    read in parallel and turned into the :class:`Study` discovery would build;
    ``select`` gets that study and returns the SeriesInstanceUIDs to retrieve —
    it may raise (no axial T2, ambiguous series) before any pixel is downloaded.
    Without it every MR series is retrieved. Each chosen series is one streamed
    WADO-RS answer (``workers`` series at a time), every instance written as
    ``dest/<series>-<n>.dcm`` as it arrives, as stored on the server (no transcoding).

    ``on_instance(done, expected)`` is called after each instance written
    (``expected``: the instance count of the chosen series from their metadata,
    ``None`` when unknown), from the retrieving threads; an exception it raises
    (e.g. a GUI's *Cancel*) stops every series at its next instance and is
    re-raised here as it is (not as a :class:`DicomwebError`).
    """
    out = Path(dest)
    report = FetchReport(study_uid)
    client = open_client(conn, pool_size=workers)
    t0 = time.perf_counter()
    all_series = study_series(client, conn, study_uid)
    report.n_series_in_study = len(all_series)
    candidates = [uid for uid, modality in all_series if modality in ("MR", "")]
    if not candidates:
        raise DicomwebError("the DICOMweb study has no MR series to measure")
    wanted = set(candidates)
    datasets: list[Any] = []
    if select is not None:
        datasets = series_metadata(client, conn, study_uid, candidates, workers)
        try:
            study = study_from_metadata(study_uid, datasets)
        except NoDicomError:
            # a server whose metadata holds only the main tags (no geometry, no timing):
            # nothing to choose with, so every MR series is retrieved and chosen from the files
            log.warning("DICOMweb: the series metadata holds no image geometry; retrieving every MR series")
        else:
            wanted = set(select(study))
    report.series = tuple(uid for uid in candidates if uid in wanted)
    expected = sum(1 for ds in datasets if str(getattr(ds, "SeriesInstanceUID", "")) in wanted) or None
    report.metadata_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    lock = threading.Lock()
    stopped: list[BaseException] = []  # what on_instance raised: every series stops

    def one(job: tuple[int, str]) -> None:
        k, series_uid = job

        def stream() -> None:
            n = 0
            for ds in client.iter_series(study_uid, series_uid, media_types=_AS_STORED):
                if stopped:
                    return
                n += 1
                size = _write_instance(ds, out / f"{k:03d}-{n:06d}.dcm")
                with lock:
                    report.n_instances += 1
                    report.n_bytes += size
                    done = report.n_instances
                if on_instance is not None:
                    try:
                        on_instance(done, expected)
                    except BaseException as exc:  # kept out of request(), which would explain it
                        stopped.append(exc)
                        return

        request(conn, "the series", stream)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(report.series) or 1)),
                            thread_name_prefix="wado") as pool:
        for _ in pool.map(one, enumerate(report.series)):
            pass
    if stopped:
        raise stopped[0]
    report.retrieve_s = time.perf_counter() - t1
    log.info(
        "DICOMweb: retrieved %d instance(s) of %d/%d series (%.1f MB) in %.2f s",
        report.n_instances, len(report.series), report.n_series_in_study, report.n_bytes / 1e6,
        report.metadata_s + report.retrieve_s,
    )
    return report


@contextlib.contextmanager
def fetched_study(
    conn: Connection,
    study_uid: str,
    *,
    select: Callable[[Study], Collection[str]] | None = None,
    workers: int = DEFAULT_WORKERS,
) -> Iterator[tuple[Path, FetchReport]]:
    """``fetch_study`` into a private temporary folder (mode 0700), removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix="mri-measure-dicomweb-"))
    try:
        report = fetch_study(conn, study_uid, folder, select=select, workers=workers)
        yield folder, report
    finally:
        shutil.rmtree(folder, ignore_errors=True)
