"""Studies from a PACS over DICOMweb (QIDO-RS, WADO-RS, STOW-RS) with ``dicomweb-client``.

The PACS path ends in the file path: :func:`fetch_study` reads the study's
metadata (WADO-RS, headers only, one request), builds the same
:class:`~mri_measure.types.Study` discovery builds from a CD, lets the caller
pick the series the analysis needs (``select``: the pipeline's
``choose_stacks``), then retrieves only those instances, in parallel and
straight to files in a private temporary folder, which the caller measures
like a CD folder and which :func:`fetched_study` removes at the end.

Credentials (:class:`Connection`) come from options or the environment
(``MRI_MEASURE_DICOMWEB_USER`` / ``_PASSWORD`` / ``_TOKEN``) and are never
logged or printed: ``repr`` hides them, messages name only ``host:port``, and
``dicomweb_client``'s debug log (which prints request headers) is silenced.
TLS certificates are verified unless ``insecure`` is set explicitly.

Every failure of the server is a :class:`~mri_measure.errors.DicomwebError`
(exit 2) with one line: unreachable, refused credentials (401/403), not
found (404), timeout, any other HTTP status.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import DicomwebError, NoDicomError, OptionError
from ..types import Study

log = logging.getLogger("mri_measure.io")

ENV_USER = "MRI_MEASURE_DICOMWEB_USER"
ENV_PASSWORD = "MRI_MEASURE_DICOMWEB_PASSWORD"
ENV_TOKEN = "MRI_MEASURE_DICOMWEB_TOKEN"
ENV_CA_BUNDLE = "MRI_MEASURE_DICOMWEB_CA_BUNDLE"

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_WORKERS = 8
#: every transfer syntax as stored: no transcoding on the server (pixels bit for bit)
_AS_STORED = (("application/dicom", "*"),)
_STUDY_UID = "0020000D"
_SERIES_UID = "0020000E"
_SOP_UID = "00080018"


def is_url(text: str | os.PathLike[str]) -> bool:
    """True for an ``http(s)://`` address (a DICOMweb study or root), not a path.

    >>> is_url("https://pacs.example/dicom-web/studies/1.2.3"), is_url("CD/DICOMDIR")
    (True, False)
    """
    return isinstance(text, str) and text.lower().startswith(("http://", "https://"))


def where(url: str) -> str:
    """``scheme://host:port`` of ``url``: what messages may say (no credentials, no path).

    >>> where("https://me:secret@pacs.example:8443/dicom-web/studies/1.2")
    'https://pacs.example:8443'
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def split_study_url(url: str) -> tuple[str, str]:
    """``(DICOMweb root, StudyInstanceUID)`` of a study URL ``<root>/studies/<uid>``.

    >>> split_study_url("http://h:8042/dicom-web/studies/1.2.840.5/")
    ('http://h:8042/dicom-web', '1.2.840.5')
    """
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2 or segments[-2] != "studies" or not segments[-1]:
        raise DicomwebError(
            "a DICOMweb study URL ends in /studies/<StudyInstanceUID> "
            "(e.g. http://host:8042/dicom-web/studies/1.2.3); use `mri-measure batch` for a whole server"
        )
    root_path = "/" + "/".join(segments[:-2])
    return urlunsplit((parts.scheme, parts.netloc, root_path.rstrip("/"), "", "")), segments[-1]


@dataclass(frozen=True)
class Connection:
    """Where and how to reach a DICOMweb server (picklable: batch workers get one).

    ``user``/``password``: HTTP basic; ``token``: a bearer token (wins over
    basic). ``ca_bundle``: a CA file for TLS; ``insecure``: no TLS check.
    Credentials in the URL (``https://user:pass@host/...``) are taken as basic
    auth and removed from it. ``repr`` never shows a secret.
    """

    root: str
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    insecure: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        parts = urlsplit(self.root)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DicomwebError("a DICOMweb URL starts with http:// or https:// and names a host")
        if parts.username is not None or parts.password is not None:
            from urllib.parse import unquote

            if self.user is None and self.token is None:
                object.__setattr__(self, "user", unquote(parts.username or ""))
                object.__setattr__(self, "password", unquote(parts.password or ""))
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            object.__setattr__(self, "root", urlunsplit((parts.scheme, netloc, parts.path, "", "")))
        object.__setattr__(self, "root", self.root.rstrip("/"))
        if self.timeout_s <= 0:
            raise DicomwebError("the DICOMweb timeout must be positive")

    def __repr__(self) -> str:
        auth = "token" if self.token else ("basic" if self.user else "none")
        return f"Connection({where(self.root)}, auth={auth}, insecure={self.insecure})"

    @property
    def where(self) -> str:
        return where(self.root)

    @classmethod
    def from_options(
        cls,
        root: str,
        *,
        user: str | None = None,
        password_env: str | None = None,
        token_env: str | None = None,
        ca_bundle: str | None = None,
        insecure: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        environ: dict[str, str] | None = None,
    ) -> "Connection":
        """From command-line options, falling back to the environment.

        Secrets are never options themselves (they would show in ``ps``):
        ``password_env`` / ``token_env`` name the variables that hold them
        (default ``MRI_MEASURE_DICOMWEB_PASSWORD`` / ``_TOKEN``).
        """
        env = os.environ if environ is None else environ
        if password_env is not None and password_env not in env:
            raise DicomwebError(f"--password-env {password_env}: that environment variable is not set")
        if token_env is not None and token_env not in env:
            raise DicomwebError(f"--token-env {token_env}: that environment variable is not set")
        token = env.get(token_env or ENV_TOKEN) or None
        user = user if user is not None else (env.get(ENV_USER) or None)
        password = env.get(password_env or ENV_PASSWORD) if user is not None else None
        if user is not None and password is None:
            raise DicomwebError(
                f"a DICOMweb user needs a password: set {password_env or ENV_PASSWORD} "
                "(or name another variable with --password-env)"
            )
        ca = ca_bundle or env.get(ENV_CA_BUNDLE) or None
        if ca is not None and not Path(ca).is_file():
            raise DicomwebError("--ca-bundle: the CA file does not exist")
        return cls(root, user=user, password=password, token=token, ca_bundle=ca,
                   insecure=insecure, timeout_s=timeout_s)

    def with_root(self, root: str) -> "Connection":
        return Connection(root, user=self.user, password=self.password, token=self.token,
                          ca_bundle=self.ca_bundle, insecure=self.insecure, timeout_s=self.timeout_s)


def open_client(conn: Connection, *, pool_size: int = DEFAULT_WORKERS) -> Any:
    """A ``dicomweb_client.DICOMwebClient`` for ``conn`` (auth, TLS, timeout)."""
    try:
        import requests
        from dicomweb_client import DICOMwebClient
        from requests.adapters import HTTPAdapter
    except ImportError:
        raise OptionError(
            "DICOMweb needs the pacs extra: pip install 'mri-measure[pacs]' (or scripts/setup.sh)"
        ) from None

    # dicomweb_client logs every request's headers (the Authorization header) at DEBUG
    logging.getLogger("dicomweb_client").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = False if conn.insecure else (conn.ca_bundle or True)
    session.trust_env = False  # no ~/.netrc credentials or proxies sneaking in
    headers = {}
    if conn.token:
        headers["Authorization"] = f"Bearer {conn.token}"
    elif conn.user is not None:
        session.auth = requests.auth.HTTPBasicAuth(conn.user, conn.password or "")
    if conn.insecure:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    client = DICOMwebClient(conn.root, session=session, headers=headers or None, timeout=conn.timeout_s)
    # dicomweb_client's own retrying repeats *every* exception (a refused connection, a
    # timeout) five times with back-off (30 s and more); _request retries only what
    # a busy server answers (429/502/503/504), a few times, briefly
    client.set_http_retry_params(retry=False)
    return client


def _explain(exc: BaseException, conn: Connection, what: str) -> DicomwebError:
    """One line for a failed request; the URL is cut down to ``host:port``."""
    import requests

    at = conn.where
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code == 401:
            return DicomwebError(
                f"the DICOMweb server at {at} asks for credentials or refused them (HTTP 401); "
                f"give --user with {ENV_PASSWORD}, or a token in {ENV_TOKEN}"
            )
        if code == 403:
            return DicomwebError(f"the DICOMweb server at {at} refused access to {what} (HTTP 403, forbidden)")
        if code == 404:
            return DicomwebError(f"{what} was not found on the DICOMweb server at {at} (HTTP 404)")
        return DicomwebError(f"the DICOMweb server at {at} failed on {what} (HTTP {code})")
    if isinstance(exc, requests.exceptions.SSLError):
        return DicomwebError(
            f"the TLS certificate of {at} could not be verified; give its CA with --ca-bundle"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return DicomwebError(
            f"the DICOMweb server at {at} did not answer within {conn.timeout_s:g} s ({what}); "
            "check the server or raise --timeout"
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return DicomwebError(f"the DICOMweb server at {at} cannot be reached (connection failed); check the URL")
    if isinstance(exc, requests.exceptions.RequestException):
        return DicomwebError(f"the DICOMweb request to {at} failed ({type(exc).__name__})")
    return DicomwebError(f"the DICOMweb server at {at} sent an unusable answer to {what} ({type(exc).__name__})")


#: answers of a busy server, retried RETRIES times after RETRY_WAIT_S, 2 × RETRY_WAIT_S, …
RETRY_STATUS = (429, 502, 503, 504)
RETRIES = 3
RETRY_WAIT_S = 0.5


def _request(conn: Connection, what: str, call: Callable[[], Any]) -> Any:
    for attempt in range(RETRIES + 1):
        try:
            return call()
        except DicomwebError:
            raise
        except Exception as exc:  # requests and decoding errors: one line each
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in RETRY_STATUS and attempt < RETRIES:
                time.sleep(RETRY_WAIT_S * 2 ** attempt)
                continue
            raise _explain(exc, conn, what) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _value(item: dict, tag: str) -> str | None:
    v = item.get(tag, {}).get("Value")
    return str(v[0]) if v else None


# --------------------------------------------------------------------------- reading


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
    items = _request(conn, "the study", lambda: client.search_for_series(
        study_uid, fields=["SeriesInstanceUID", "Modality"], get_remaining=True))
    out = [(uid, (_value(i, "00080060") or "").upper()) for i in items if (uid := _value(i, _SERIES_UID))]
    if not out:
        raise DicomwebError(f"the study was not found on the DICOMweb server at {conn.where} (no series)")
    return out


def series_metadata(client: Any, conn: Connection, study_uid: str, series: Sequence[str],
                    workers: int = DEFAULT_WORKERS) -> list[Any]:
    """Headers of every instance of ``series`` (WADO-RS metadata, no pixels), as pydicom Datasets."""
    def one(uid: str) -> list[dict]:
        return _request(conn, "the series metadata", lambda: client.retrieve_series_metadata(study_uid, uid))

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(series)))) as pool:
        items = [item for got in pool.map(one, series) for item in got]
    return _datasets(items)


def study_from_metadata(study_uid: str, datasets: Sequence[Any]) -> Study:
    """The :class:`Study` discovery would build from these headers (locators ``dicomweb:N``)."""
    from .discover import _build_study, _Scan
    from .headers import ImplausibleImage, MissingGeometry, image_headers

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
    report.metadata_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    lock = threading.Lock()

    def one(job: tuple[int, str]) -> None:
        k, series_uid = job

        def stream() -> None:
            n = 0
            for ds in client.iter_series(study_uid, series_uid, media_types=_AS_STORED):
                n += 1
                size = _write_instance(ds, out / f"{k:03d}-{n:06d}.dcm")
                with lock:
                    report.n_instances += 1
                    report.n_bytes += size

        _request(conn, "the series", stream)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(report.series) or 1)),
                            thread_name_prefix="wado") as pool:
        for _ in pool.map(one, enumerate(report.series)):
            pass
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


# --------------------------------------------------------------------------- searching


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
        batch = _request(conn, "the study search", lambda: client.search_for_studies(
            search_filters=filters, fields=fields, limit=page, offset=offset))
        for item in batch:
            uid = _value(item, _STUDY_UID)
            mods = item.get("00080061", {}).get("Value") or []
            if not uid or uid in seen or (mods and "MR" not in [str(m).upper() for m in mods]):
                continue
            seen.add(uid)
            hit = StudyHit(uid, _value(item, "00080020"), _value(item, "00081030") or "")
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


def instance_uids(conn: Connection, study_uid: str) -> list[str]:
    """SOPInstanceUIDs of the study (QIDO-RS, no pixels): the batch's resume fingerprint."""
    client = open_client(conn)
    items = _request(conn, "the study", lambda: client.search_for_instances(
        study_uid, fields=["SOPInstanceUID"], get_remaining=True))
    return sorted(u for u in (_value(i, _SOP_UID) for i in items) if u)


# --------------------------------------------------------------------------- storing


@dataclass(frozen=True)
class Stored:
    """What one STOW-RS stored: the instances by kind, and their series."""

    study_instance_uid: str
    kinds: tuple[tuple[str, str, str], ...]  # (kind, SeriesInstanceUID, SOPInstanceUID)


def store_files(conn: Connection, study_uid: str, files: Sequence[tuple[str, str | os.PathLike[str]]]) -> Stored:
    """STOW-RS ``files`` (``(kind, path)``, e.g. ``("SEG", …/seg.dcm)``) into the study.

    Every instance must belong to ``study_uid``; a failure the server reports
    for any instance raises :class:`DicomwebError`.
    """
    import pydicom

    datasets, kinds = [], []
    for kind, path in files:
        ds = pydicom.dcmread(path)
        if str(ds.StudyInstanceUID) != study_uid:
            raise DicomwebError(f"{kind} belongs to another study than the one measured; nothing stored")
        datasets.append(ds)
        kinds.append((kind, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)))
    if not datasets:
        return Stored(study_uid, ())
    client = open_client(conn)
    answer = _request(conn, "storing the results", lambda: client.store_instances(
        datasets, study_instance_uid=study_uid))
    failed = answer.get("FailedSOPSequence") if answer is not None else None
    if failed:
        raise DicomwebError(
            f"the DICOMweb server at {conn.where} refused {len(failed)} of {len(datasets)} instance(s) "
            "(STOW-RS FailedSOPSequence)"
        )
    return Stored(study_uid, tuple(kinds))
