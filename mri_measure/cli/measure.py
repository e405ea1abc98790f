"""``mri-measure measure PATH``: measure one study end to end, print the per-level table."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

EXIT_OK = 0


def _level_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(
            f"expected SLICE=LEVEL (e.g. 12=L4-L5 or <SOPInstanceUID>=L4-L5), got {text!r}"
        )
    key, level = text.split("=", 1)
    return key.strip(), level.strip().upper()


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    s = subparsers.add_parser("measure", help="measure one study end to end")
    s.add_argument("path", help="CD root, DICOMDIR, folder, .zip, single file, or a DICOMweb study URL "
                   "(http(s)://host/dicom-web/studies/<StudyInstanceUID>)")
    s.add_argument("--out", help="write measurements.json/.csv, report.html/.pdf, seg.dcm, sr.dcm")
    s.add_argument("--overwrite", action="store_true",
                   help="replace another study's results in --out (this study's are always replaced)")
    s.add_argument("--series", help="SeriesInstanceUID (or series number) of the axial T2 to use")
    s.add_argument(
        "--level", action="append", default=[], type=_level_override, metavar="SLICE=LEVEL",
        help="override a slice's level; SLICE is an InstanceNumber or SOPInstanceUID (repeatable)",
    )
    from ..criteria import DEFAULT_CANAL_THRESHOLD_MM2 as CANAL_MM2, DEFAULT_LF_THRESHOLD_MM as LF_MM

    s.add_argument("--lf-threshold", type=float, default=LF_MM, metavar="MM",
                   help=f"LF thickened when max(left,right) >= MM (default {LF_MM:g})")
    s.add_argument("--canal-threshold", type=float, default=CANAL_MM2, metavar="MM2",
                   help=f"canal narrowed when dural-sac area <= MM2 (default {CANAL_MM2:g})")
    s.add_argument("--format", choices=("table", "json"), default="table")
    s.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    s.add_argument("--model", help="model bundle directory (default: the shipped model)")
    from . import dicomweb

    dicomweb.add_options(s)
    s.set_defaults(handler=run)
    return s


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _flag(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def format_table(report) -> str:
    """Per-level table plus a one-line summary, as printed by `mri-measure measure`."""
    from ..levels.names import UNCERTAIN_BELOW, is_uncertain

    header = (
        f"{'level':<7} {'canal mm²':>10} {'LF left mm':>10} {'LF right mm':>11} "
        f"{'narrowed':>8} {'LF≥thr':>6} {'MEETS':>5}  {'level source':<18} note"
    )
    lines = [header, "-" * len(header)]
    for lv in report.levels:
        note = []
        if is_uncertain(lv.level, lv.level_confidence):
            note.append(f"level uncertain (confidence < {UNCERTAIN_BELOW:.2f})")
        if lv.borderline:
            note.append("borderline")
        if lv.canal_grade and lv.canal_grade != "normal":
            note.append(f"{lv.canal_grade} stenosis grade")
        q = lv.quality

        def cell(value: float | None, verdict, digits: int = 1) -> str:
            return "n/m" if verdict.refused else _fmt(value, digits)

        if any(v.refused for v in q.verdicts().values()):
            note.append("n/m = not measurable (below)")
        lines.append(
            f"{lv.level:<7} {cell(lv.canal_area_mm2, q.canal_area_mm2):>10} "
            f"{cell(lv.lf_thickness_left_mm, q.lf_thickness_left_mm, 2):>10} "
            f"{cell(lv.lf_thickness_right_mm, q.lf_thickness_right_mm, 2):>11} {_flag(lv.canal_narrowed):>8} "
            f"{_flag(lv.lf_thickened):>6} {_flag(lv.meets_mild_imaging_criteria):>5}  "
            f"{lv.level_source + f' ({lv.level_confidence:.2f})':<18} {', '.join(note)}"
        )
    if not report.levels:
        lines.append("(no slice could be assigned to a disc level; see slices in --format json)")
    thr = report.thresholds
    meeting = [lv.level for lv in report.levels if lv.meets_mild_imaging_criteria]
    summary = (
        f"Levels meeting both mild imaging criteria ({thr.lf_text()} and canal ≤ {thr.canal_threshold_mm2:g} mm²): "
        + (", ".join(meeting) if meeting else "none")
    )
    lines += ["", summary]
    from ..report.content import quality_notes, slices_line

    lines += quality_notes(report)

    lines.append(slices_line(report))
    for w in report.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import json

    from ..criteria import Thresholds
    from ..pipeline import analyse_study, measure_to_folder

    thresholds = Thresholds(lf_threshold_mm=args.lf_threshold, canal_threshold_mm2=args.canal_threshold)
    overrides = dict(args.level)

    def progress(stage: str, fraction: float) -> None:
        if not args.quiet and args.format == "table" and sys.stderr.isatty():
            print(f"\r{stage:<10} {fraction * 100:5.1f}%", end="", file=sys.stderr, flush=True)

    from ..helper import Helper

    # first, before any thread or model exists: the helper process (disc levels, SEG/SR) forks
    with Helper.start() as helper, _input(args) as source, _output(args) as out:
        options = dict(series=args.series, level_overrides=overrides or None, thresholds=thresholds,
                       device=args.device, model=args.model, progress=progress, helper=helper)
        if out:  # --out checked before the analysis, written atomically after it
            analysis, written = measure_to_folder(source, out, overwrite=args.overwrite, **options)
        else:
            analysis, written = analyse_study(source, **options), {}
        stored = _store(args, analysis, written) if args.store_to else None
    if sys.stderr.isatty() and not args.quiet and args.format == "table":
        print("\r" + " " * 20 + "\r", end="", file=sys.stderr)
    if args.format == "json":
        from ..report import report_to_dict

        print(json.dumps(report_to_dict(analysis.report), indent=2))
    else:
        print(format_table(analysis.report))
        if written and args.out:
            print(f"\nwrote {', '.join(sorted(p.name for p in written.values()))} to the output folder")
    if stored:
        print(stored, file=sys.stderr if args.format == "json" else sys.stdout)
    return EXIT_OK


@contextlib.contextmanager
def _input(args: argparse.Namespace) -> Iterator[str]:
    """The input as a path: a DICOMweb study URL is fetched (the series the
    analysis needs) into a temporary folder that is removed afterwards."""
    from ..io.dicomweb import is_url

    if not is_url(args.path):
        yield args.path
        return
    from ..io.dicomweb import fetched_study, split_study_url
    from ..pipeline import needed_series
    from . import dicomweb

    root, study_uid = split_study_url(args.path)
    conn = dicomweb.connection(args, root)
    with fetched_study(conn, study_uid, select=lambda st: needed_series(st, args.series),
                       workers=args.fetch_workers) as (folder, _):
        yield str(folder)


@contextlib.contextmanager
def _output(args: argparse.Namespace) -> Iterator[str | None]:
    """--out, or a temporary one when only --store-to needs the SEG and SR files."""
    if args.out or not args.store_to:
        yield args.out
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mri-measure-store-") as tmp:
        yield str(Path(tmp) / "out")


def _store(args: argparse.Namespace, analysis, written: dict) -> str:
    from . import dicomweb

    return dicomweb.store_outputs(args, str(analysis.report.study["study_instance_uid"]), written)
