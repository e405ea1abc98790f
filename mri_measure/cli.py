"""`mri-measure` command line: a thin adapter over the Python API.

Exit codes: 0 ok · 1 internal error (a bug) · 2 bad or unusable input, with
one clear line on stderr · 3 batch finished with some studies failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .errors import MriMeasureError

EXIT_OK, EXIT_BUG, EXIT_INPUT, EXIT_SOME_FAILED = 0, 1, 2, 3


def _level_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(
            f"expected SLICE=LEVEL (e.g. 12=L4-L5 or <SOPInstanceUID>=L4-L5), got {text!r}"
        )
    key, level = text.split("=", 1)
    return key.strip(), level.strip().upper()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mri-measure",
        description="Dural-sac area and ligamentum flavum thickness per lumbar disc level "
        "from axial T2 MRI (mild-procedure imaging criteria).",
    )
    p.add_argument("--version", action="version", version=f"mri-measure {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("inspect", help="list studies, series and stacks (headers only)")
    s.add_argument("path", help="CD root, DICOMDIR, folder, .zip or single file")
    s.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")

    s = sub.add_parser("measure", help="measure one study end to end")
    s.add_argument("path", help="CD root, DICOMDIR, folder, .zip or single file")
    s.add_argument("--out", help="write measurements.json/.csv, report.html/.pdf, seg.dcm, sr.dcm")
    s.add_argument("--series", help="SeriesInstanceUID (or series number) of the axial T2 to use")
    s.add_argument(
        "--level", action="append", default=[], type=_level_override, metavar="SLICE=LEVEL",
        help="override a slice's level; SLICE is an InstanceNumber or SOPInstanceUID (repeatable)",
    )
    s.add_argument("--lf-threshold", type=float, default=2.5, metavar="MM",
                   help="LF thickened when max(left,right) >= MM (default 2.5)")
    s.add_argument("--canal-threshold", type=float, default=100.0, metavar="MM2",
                   help="canal narrowed when dural-sac area <= MM2 (default 100)")
    s.add_argument("--format", choices=("table", "json"), default="table")
    s.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    s.add_argument("--model", help="model bundle directory (default: the shipped model)")

    s = sub.add_parser("batch", help="measure every study under ROOT on Dask")
    s.add_argument("root")
    s.add_argument("--out", required=True)
    s.add_argument("--workers", type=int, default=None, help="local worker processes")
    s.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://HOST:PORT)")
    s.add_argument("--resume", action="store_true", help="skip studies already done")
    s.add_argument("--timeout-per-study", type=float, default=600.0, metavar="S")
    s.add_argument("--device", default="cpu")
    s.add_argument("--model", help="model bundle directory (default: the shipped model)")

    s = sub.add_parser("synth", help="write a synthetic phantom patient CD + ground truth")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--stenosis", choices=("none", "moderate", "severe"), default="none")
    s.add_argument("--axial", choices=("blocks", "contiguous", "volume3d"), default="blocks")
    s.add_argument("--levels", nargs="+", default=None, metavar="LEVEL",
                   help="disc levels with axial blocks (default L3-L4 L4-L5 L5-S1)")
    s.add_argument("--compress", default=None, metavar="SYNTAX",
                   help="transfer syntax: explicit (default), deflate, rle, jpeg-lossless, jpeg-ls, jpeg2000")
    s.add_argument("--no-sagittal", action="store_true", help="omit the sagittal T2 series")

    s = sub.add_parser("train", help="train the segmentation model on synthetic slices")
    s.add_argument("--out", required=True, help="bundle directory to write")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--minutes", type=float, default=None, help="wall-clock budget")
    s.add_argument("--steps", type=int, default=None)
    s.add_argument("--resume", action="store_true")
    s.add_argument("--user-cases", default=None, help="folder of labelled cases to mix in: .npz, NIfTI/PNG "
                   "image + NAME_labels pairs (PNG: + NAME.json spacing), DICOM SEG + its images")
    s.add_argument("--device", default="cpu")

    s = sub.add_parser("train-discs", help="train the sagittal disc detector on synthetic scenes")
    s.add_argument("--out", required=True, help="bundle directory to write (shipped: models/sagittal-disc-unet)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--minutes", type=float, default=None, help="wall-clock budget")
    s.add_argument("--steps", type=int, default=None)
    s.add_argument("--scenes", type=int, default=1000, help="random scenes in the training pool")

    s = sub.add_parser("evaluate", help="evaluate a model against ground truth")
    s.add_argument("--model", default=None, help="bundle directory (default: shipped)")
    s.add_argument("--out", required=True, help="folder for metrics JSON, tables, plots")
    s.add_argument("--cases", default=None, help="truth.json CD folders or label files; default synthetic held-out")
    s.add_argument("--n-slices", type=int, default=200)
    s.add_argument("--seed", type=int, default=10_000)
    s.add_argument("--device", default="cpu")
    return p


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _flag(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def format_table(report) -> str:
    """Per-level table plus a one-line summary, as printed by `mri-measure measure`."""
    header = (
        f"{'level':<7} {'canal mm²':>10} {'LF left mm':>10} {'LF right mm':>11} "
        f"{'narrowed':>8} {'LF≥thr':>6} {'MEETS':>5}  {'level source':<18} note"
    )
    lines = [header, "-" * len(header)]
    for lv in report.levels:
        note = []
        if lv.borderline:
            note.append("borderline")
        if lv.canal_grade and lv.canal_grade != "normal":
            note.append(f"{lv.canal_grade} stenosis grade")
        lines.append(
            f"{lv.level:<7} {_fmt(lv.canal_area_mm2):>10} {_fmt(lv.lf_thickness_left_mm, 2):>10} "
            f"{_fmt(lv.lf_thickness_right_mm, 2):>11} {_flag(lv.canal_narrowed):>8} "
            f"{_flag(lv.lf_thickened):>6} {_flag(lv.meets_mild_imaging_criteria):>5}  "
            f"{lv.level_source + f' ({lv.level_confidence:.2f})':<18} {', '.join(note)}"
        )
    if not report.levels:
        lines.append("(no slice could be assigned to a disc level; see slices in --format json)")
    thr = report.thresholds
    lf_thr = thr["lf_thickness_mm"]["value"]
    canal_thr = thr["canal_area_mm2"]["value"]
    meeting = [lv.level for lv in report.levels if lv.meets_mild_imaging_criteria]
    summary = (
        f"Levels meeting both mild imaging criteria (LF ≥ {lf_thr:g} mm and canal ≤ {canal_thr:g} mm²): "
        + (", ".join(meeting) if meeting else "none")
    )
    lines += ["", summary]
    from .report.content import slices_line

    lines.append(slices_line(report))
    for w in report.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def measure_command(args: argparse.Namespace) -> int:
    import json
    import os

    from .criteria import Thresholds
    from .pipeline import analyse_study, write_outputs

    thresholds = Thresholds(lf_threshold_mm=args.lf_threshold, canal_threshold_mm2=args.canal_threshold)
    overrides = dict(args.level)
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        from .errors import OptionError

        raise OptionError("--out must be a folder (it exists as a file)")

    def progress(stage: str, fraction: float) -> None:
        if not args.quiet and args.format == "table" and sys.stderr.isatty():
            print(f"\r{stage:<10} {fraction * 100:5.1f}%", end="", file=sys.stderr, flush=True)

    analysis = analyse_study(
        args.path,
        series=args.series,
        level_overrides=overrides or None,
        thresholds=thresholds,
        device=args.device,
        model=args.model,
        progress=progress,
    )
    if sys.stderr.isatty() and not args.quiet and args.format == "table":
        print("\r" + " " * 20 + "\r", end="", file=sys.stderr)
    written = write_outputs(analysis, args.out) if args.out else {}
    if args.format == "json":
        from .report import report_to_dict

        print(json.dumps(report_to_dict(analysis.report), indent=2))
    else:
        print(format_table(analysis.report))
        if written:
            print(f"\nwrote {', '.join(sorted(p.name for p in written.values()))} to the output folder")
    return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "inspect":
        from .io.inspect import inspect_command

        return inspect_command(args)
    if cmd == "measure":
        return measure_command(args)
    if cmd == "batch":
        from .batch import batch_command

        return batch_command(args)
    if cmd == "synth":
        from .synth.cd import synth_command

        return synth_command(args)
    if cmd == "train":
        from .segment.train import train_command

        return train_command(args)
    if cmd == "train-discs":
        from .segment.disc_train import train_discs_command

        return train_discs_command(args)
    if cmd == "evaluate":
        from .segment.evaluate import evaluate_command

        return evaluate_command(args)
    raise AssertionError(cmd)  # pragma: no cover - argparse restricts choices


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .logs import configure_logging

    configure_logging(debug=args.debug, quiet=args.quiet)
    try:
        return int(_dispatch(args) or 0)
    except MriMeasureError as exc:
        print(f"mri-measure: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mri-measure: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so, traceback only with --debug
        if args.debug:
            raise
        print(
            f"mri-measure: internal error ({type(exc).__name__}); "
            "this is a bug — rerun with --debug for details and report it",
            file=sys.stderr,
        )
        return EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
