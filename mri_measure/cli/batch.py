"""``mri-measure batch ROOT --out DIR``: measure every study under ROOT on Dask."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    s = subparsers.add_parser("batch", help="measure every study under ROOT (or on a DICOMweb server) on Dask")
    s.add_argument("root", help="folder, CD or .zip of studies, or a DICOMweb root URL "
                   "(http(s)://host/dicom-web): every MR study on the server")
    s.add_argument("--out", required=True)
    s.add_argument("--workers", type=int, default=None, help="local worker processes")
    s.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://HOST:PORT)")
    s.add_argument("--resume", action="store_true", help="skip studies already done")
    s.add_argument("--timeout-per-study", type=float, default=600.0, metavar="S")
    s.add_argument("--device", default="cpu")
    s.add_argument("--model", help="model bundle directory (default: the shipped model)")
    s.add_argument("--reports", action="store_true",
                   help="also write each study's report.html/.pdf, seg.dcm, sr.dcm and "
                        "measurements.json/.csv into OUT/reports/<key>/")
    g = s.add_argument_group("DICOMweb study filters (ROOT is a URL)")
    g.add_argument("--since", metavar="DATE", help="only studies from this StudyDate on (YYYY-MM-DD)")
    g.add_argument("--study-description", metavar="PATTERN",
                   help="only studies whose StudyDescription matches (* and ? wildcards, case-insensitive)")
    g.add_argument("--limit", type=int, metavar="N", help="at most N studies (the oldest first)")
    from . import dicomweb

    dicomweb.add_options(s)
    s.set_defaults(handler=run)
    return s


def run(args: argparse.Namespace) -> int:
    """0 every study succeeded, 3 some failed (see errors.csv); errors → 2."""
    from ..batch import run_batch
    from ..io.dicomweb import is_url

    root = args.root
    if is_url(root):
        from ..batch.remote import RemoteQuery, normalise_date
        from . import dicomweb

        if args.limit is not None and args.limit < 1:
            from ..errors import OptionError

            raise OptionError("--limit must be at least 1")
        root = RemoteQuery(
            dicomweb.connection(args, root), since=normalise_date(args.since) if args.since else None,
            description=args.study_description, limit=args.limit, fetch_workers=args.fetch_workers,
        )
    elif args.since or args.study_description or args.limit is not None:
        from ..errors import OptionError

        raise OptionError("--since, --study-description and --limit filter the studies of a DICOMweb ROOT URL")
    store_to = None
    if args.store_to:
        from . import dicomweb

        store_to = dicomweb.connection(args, args.store_to)
    summary = run_batch(
        root,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
        timeout_per_study=args.timeout_per_study,
        device=args.device,
        model=args.model,
        reports=args.reports,
        store_to=store_to,
        progress=not args.quiet,
        debug=args.debug,
    )
    parts = [f"{summary.done} measured", f"{summary.failed} failed"]
    if summary.skipped:
        parts.append(f"{summary.skipped} already done")
    print(
        f"batch: {summary.n_studies} studies — " + ", ".join(parts)
        + f"; {summary.n_result_rows} result row(s) in results.parquet/results.csv"
        + (", reports in reports/" if args.reports else "")
        + (f"; SEG/SR of {summary.stored} stored to {store_to.where} (stored.csv)" if store_to else "")
        + (f", {summary.store_failed} could not be stored" if summary.store_failed else "")
        + (f", {summary.n_error_rows} in errors.csv" if summary.n_error_rows else "")
        + f" ({summary.wall_s:.0f} s)"
    )
    return summary.exit_code
