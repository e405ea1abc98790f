"""Reaching a DICOMweb server: URLs, credentials, TLS, the client, one-line errors.

Credentials (:class:`Connection`) come from options or the environment
(``MRI_MEASURE_DICOMWEB_USER`` / ``_PASSWORD`` / ``_TOKEN``) and are never
logged or printed: ``repr`` hides them, messages name only ``scheme://host:port``,
and ``dicomweb_client``'s debug log (which prints request headers) is silenced.
TLS certificates are verified unless ``insecure`` is set explicitly. Every
failure of the server is a :class:`~mri_measure.errors.DicomwebError` (exit 2)
with one line: unreachable, refused credentials (401/403), not found (404),
timeout, any other HTTP status (:func:`request`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...errors import DicomwebError, OptionError

log = logging.getLogger("mri_measure.io")

ENV_USER = "MRI_MEASURE_DICOMWEB_USER"
ENV_PASSWORD = "MRI_MEASURE_DICOMWEB_PASSWORD"
ENV_TOKEN = "MRI_MEASURE_DICOMWEB_TOKEN"
ENV_CA_BUNDLE = "MRI_MEASURE_DICOMWEB_CA_BUNDLE"

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_WORKERS = 8


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
    # timeout) five times with back-off (30 s and more); request retries only what
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


def request(conn: Connection, what: str, call: Callable[[], Any]) -> Any:
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


def first_value(item: dict, tag: str) -> str | None:
    """The first value of a DICOM JSON attribute (``tag`` as 8 hex digits), as text."""
    v = item.get(tag, {}).get("Value")
    return str(v[0]) if v else None


