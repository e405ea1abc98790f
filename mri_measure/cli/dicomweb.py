"""DICOMweb options shared by ``measure`` and ``batch`` (auth, TLS, timeout, --store-to).

Secrets are never command-line values (``ps`` shows those): a password or
token is read from an environment variable, ``MRI_MEASURE_DICOMWEB_PASSWORD`` /
``MRI_MEASURE_DICOMWEB_TOKEN`` unless ``--password-env`` / ``--token-env``
name another one.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_options(s: argparse.ArgumentParser, *, store: bool = True) -> None:
    g = s.add_argument_group(
        "DICOMweb (when the input is an http(s):// URL" + (", or with --store-to)" if store else ")"),
        "credentials come from the environment: MRI_MEASURE_DICOMWEB_USER, "
        "MRI_MEASURE_DICOMWEB_PASSWORD, MRI_MEASURE_DICOMWEB_TOKEN (bearer), "
        "MRI_MEASURE_DICOMWEB_CA_BUNDLE",
    )
    if store:
        g.add_argument("--store-to", metavar="URL",
                       help="STOW-RS seg.dcm and sr.dcm into the measured study on this DICOMweb root")
    g.add_argument("--user", help="HTTP basic user (password from $MRI_MEASURE_DICOMWEB_PASSWORD)")
    g.add_argument("--password-env", metavar="VAR", help="environment variable holding the password")
    g.add_argument("--token-env", metavar="VAR",
                   help="environment variable holding a bearer token (default MRI_MEASURE_DICOMWEB_TOKEN)")
    g.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to verify the server's TLS certificate")
    g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (never in production)")
    g.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds to wait for each DICOMweb answer (default 60)")
    g.add_argument("--fetch-workers", type=int, default=8, metavar="N",
                   help="series metadata and series retrieved in parallel (default 8)")


def connection(args: argparse.Namespace, root: str) -> Any:
    from ..io.dicomweb import Connection

    return Connection.from_options(
        root, user=args.user, password_env=args.password_env, token_env=args.token_env,
        ca_bundle=args.ca_bundle, insecure=args.insecure, timeout_s=args.timeout,
    )


def store_outputs(args: argparse.Namespace, study_uid: str, written: dict) -> str:
    """STOW the SEG and SR of ``written`` (kind → path) to ``--store-to``; the line to print."""
    from ..errors import DicomwebError
    from ..io.dicomweb import store_files

    files = [("SEG", p) for k, p in sorted(written.items()) if k == "seg" or k.startswith("seg_")]
    files += [("SR", written["sr"])] if "sr" in written else []
    if not files:
        raise DicomwebError("nothing to store: this study gave no SEG or SR (no measured DICOM slice)")
    stored = store_files(connection(args, args.store_to), study_uid, files)
    series: dict[str, tuple[str, int]] = {}
    for kind, series_uid, _ in stored.kinds:
        k, n = series.get(series_uid, (kind, 0))
        series[series_uid] = (k, n + 1)
    parts = [f"{kind} series {uid} ({n} instance{'s' if n > 1 else ''})" for uid, (kind, n) in series.items()]
    return f"stored to {connection(args, args.store_to).where}, study {study_uid}: " + "; ".join(parts)
