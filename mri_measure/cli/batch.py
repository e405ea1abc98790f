"""``mri-measure batch ROOT --out DIR``: measure every study under ROOT on Dask."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    s = subparsers.add_parser("batch", help="measure every study under ROOT on Dask")
    s.add_argument("root")
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
    s.set_defaults(handler=run)
    return s


def run(args: argparse.Namespace) -> int:
    """0 every study succeeded, 3 some failed (see errors.csv); errors → 2."""
    from ..batch import run_batch

    summary = run_batch(
        args.root,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
        timeout_per_study=args.timeout_per_study,
        device=args.device,
        model=args.model,
        reports=args.reports,
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
        + (f", {summary.n_error_rows} in errors.csv" if summary.n_error_rows else "")
        + f" ({summary.wall_s:.0f} s)"
    )
    return summary.exit_code
