"""``discover(path)``: find every DICOM image under a path, headers only,
and group them into studies and stacks with roles and problems."""

from __future__ import annotations

import logging
import os
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError, NoDicomError
from ..logs import install_library_redaction, redacted_warnings
from ..types import Discovery, Stack, Study
from .dicomdir import DicomdirHint, find_dicomdir, read_dicomdir, read_zip_dicomdir
from .headers import (
    BadDicom,
    ImageHeader,
    ImplausibleImage,
    MissingGeometry,
    NotDicom,
    image_headers,
    read_header,
)
from .roles import guess_role, has_orthogonal_stacks
from .sanity import drop_duplicate_positions, duplicate_warnings, foreign_images, spacing_verdict
from .sources import (MEMBER_LIMITS, WalkReport, open_zip, read_member_bytes, safe_zip_members, walk_files,
                      zip_locator)
from .stacks import spacing_problems, split_series

log = logging.getLogger("mri_measure.io")

_HINT = "give a CD folder, a DICOMDIR, a folder of DICOM files, a .zip or a DICOM file"


@dataclass
class _Scan:
    n_files: int = 0
    n_dicom: int = 0
    n_skipped: int = 0
    n_broken: int = 0
    n_duplicates: int = 0
    conflicting: set[str] = field(default_factory=set)  # same UID, different image geometry
    referenced: set[str] = field(default_factory=set)  # files the DICOMDIR names
    n_referenced_not_dicom: int = 0  # named by the DICOMDIR, but not DICOM (damaged)
    n_implausible: int = 0
    n_unreadable: int = 0  # could not be opened or read (permissions, I/O errors)
    missing_geometry: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    headers: dict[str, ImageHeader] = field(default_factory=dict)

    def add(self, fp: BinaryIO, locator: str) -> None:
        self.n_files += 1
        try:
            ds = read_header(fp)
        except NotDicom:
            if locator in self.referenced:
                self.n_referenced_not_dicom += 1  # clutter would not be in the DICOMDIR
            else:
                self.n_skipped += 1
            return
        except BadDicom as exc:
            self.n_broken += 1
            log.debug("unreadable DICOM header: %s", exc)
            return
        self.n_dicom += 1
        try:
            found = image_headers(ds, locator)
        except ImplausibleImage:
            self.n_implausible += 1
            return
        except MissingGeometry as exc:
            series = str(ds.get("SeriesNumber", "") or "?")
            self.missing_geometry[series] += int(exc.args[0])
            found = getattr(exc, "headers", [])
        except Exception as exc:  # defensive: a malformed value pydicom parsed lazily
            self.n_broken += 1
            log.debug("unusable DICOM header (%s)", type(exc).__name__)
            return
        for h in found:
            key = h.info.key
            if key in self.conflicting:
                continue
            if key in self.headers:
                if _same_image(self.headers[key].info, h.info):
                    self.n_duplicates += 1  # a second copy of the same image (CD copied twice)
                else:
                    # two different images claim one SOPInstanceUID: which one the UID
                    # means is unknowable, so neither is used
                    self.conflicting.add(key)
                    del self.headers[key]
                continue
            self.headers[key] = h


def _same_image(a, b) -> bool:
    """Same geometry and matrix: a duplicate copy rather than a conflicting image."""
    return (
        a.rows == b.rows
        and a.columns == b.columns
        and all(abs(x - y) < 1e-3 for x, y in zip(a.position_mm, b.position_mm))
        and all(abs(x - y) < 1e-4 for x, y in zip(a.orientation, b.orientation))
        and all(abs(x - y) < 1e-4 for x, y in zip(a.spacing_mm, b.spacing_mm))
    )


def _scan_files(paths: list[str], scan: _Scan) -> None:
    for p in paths:
        try:
            with open(p, "rb") as fp:
                scan.add(fp, p)
        except OSError:
            scan.n_files += 1
            scan.n_unreadable += 1


def _scan_zip(archive: str, scan: _Scan, report: WalkReport) -> DicomdirHint | None:
    """Scan every safe member of ``archive``; a DICOMDIR inside it is used as
    the hint, as on a CD (its files first, its damaged references counted);
    returns that hint, if any."""
    with open_zip(archive) as zf:
        infos = safe_zip_members(zf, report)
        by_name = {i.filename: i for i in infos}
        try:
            hint = read_zip_dicomdir(lambda m: read_member_bytes(zf, m), list(by_name))
        except (InputError, OSError):
            hint = DicomdirHint(readable=False)
        order = list(by_name)
        if hint is not None:
            scan.referenced |= {zip_locator(archive, m) for m in hint.referenced}
            order = _ordered_with_hint(order, hint)
        for name in order:
            try:
                with zf.open(by_name[name]) as fp:
                    scan.add(fp, zip_locator(archive, name))
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, zlib.error):
                scan.n_files += 1
                scan.n_broken += 1
    return hint


def _ordered_with_hint(files: list[str], hint: DicomdirHint | None) -> list[str]:
    """DICOMDIR-referenced files first (its order), then every other file."""
    if hint is None:
        return files
    first = set(hint.referenced)
    return hint.referenced + [f for f in files if f not in first]


def _iter_sources(path: Path, scan: _Scan, report: WalkReport) -> DicomdirHint | None:
    """Fill ``scan`` from ``path``; returns the DICOMDIR hint used, if any."""
    if path.is_dir():
        root = str(path.resolve())
        files = walk_files(root, report)
        dicomdir = find_dicomdir(root)
        hint = read_dicomdir(dicomdir, files) if dicomdir else None
        scan.referenced = set(hint.referenced) if hint else set()
        _scan_files(_ordered_with_hint(files, hint), scan)
        return hint
    if not path.is_file():
        raise NoDicomError(f"the input path does not exist or is not a file or folder; {_HINT}")
    resolved = str(path.resolve())
    if zipfile.is_zipfile(resolved):
        return _scan_zip(resolved, scan, report)
    if path.name.lower() == "dicomdir":
        root = os.path.dirname(resolved)
        files = walk_files(root, report)
        hint = read_dicomdir(resolved, files)
        scan.referenced = set(hint.referenced)
        _scan_files(_ordered_with_hint(files, hint), scan)
        return hint
    _scan_files([resolved], scan)
    return None


def _series_sort_key(item: tuple[str, list[ImageHeader]]) -> tuple:
    uid, hs = item
    sn = hs[0].series_number
    return (sn is None, sn if sn is not None else 0, uid)


def _without_partial_spacing(headers: list[ImageHeader], scan: _Scan) -> list[ImageHeader]:
    """Images without usable PixelSpacing in a series whose other images have
    one are damaged slices: left out (and counted). A series where *no* image has
    one is kept, so its stacks can be named as unusable instead of vanishing."""
    usable_series = {h.series_instance_uid for h in headers if h.spacing_issue is None}
    out = []
    for h in headers:
        if h.spacing_issue is not None and h.series_instance_uid in usable_series:
            series = str(h.series_number) if h.series_number is not None else "?"
            scan.missing_geometry[series] += 1
            continue
        out.append(h)
    return out


def _build_study(study_uid: str, headers: list[ImageHeader], warnings: list[str] | None = None) -> Study:
    """Stacks of one study, after the sanity rules of :mod:`.sanity`.

    Warnings go to ``warnings`` when given, else to the log (the batch
    discovery calls this per study without collecting them).
    """
    out_warnings: list[str] = []
    usable_series = {h.series_instance_uid for h in headers if h.spacing_issue is None}
    n_before = len(headers)
    headers = [h for h in headers if h.spacing_issue is None or h.series_instance_uid not in usable_series]
    if len(headers) < n_before:  # discover() already removed (and counted) these
        out_warnings.append(f"{n_before - len(headers)} image(s) without a usable PixelSpacing were left out")
    headers, foreign, mixed = foreign_images(headers)
    out_warnings += foreign
    unusable = mixed.get(study_uid)
    if warnings is None:
        for w in out_warnings:
            log.warning(w)
        warnings = []
    else:
        warnings += out_warnings
    by_series: dict[str, list[ImageHeader]] = defaultdict(list)
    for h in headers:
        by_series[h.series_instance_uid].append(h)
    stacks: list[Stack] = []
    used_ids: set[str] = set()
    for n_series, (series_uid, hs) in enumerate(sorted(by_series.items(), key=_series_sort_key)):
        by_key = {h.info.key: h for h in hs}
        groups = split_series([(h.info, h.echo_time_ms) for h in hs])
        orthogonal = has_orthogonal_stacks([g[0].normal for g in groups])
        base = str(hs[0].series_number) if hs[0].series_number is not None else f"s{n_series + 1}"
        if any(i.startswith(base + ".") for i in used_ids):
            base = f"{base}-{n_series + 1}"
        for block, slices in enumerate(groups, start=1):
            stack_id = f"{base}.{block}"
            slices, dropped = drop_duplicate_positions(
                slices, {s.key: by_key[s.key].acquisition_number for s in slices}
            )
            first = by_key[slices[0].key]
            problems = spacing_problems(slices)
            if dropped:
                warnings += duplicate_warnings(stack_id, dropped)
                problems.insert(0, (
                    f"duplicate positions: {len(dropped)} slice(s) at the same position as another "
                    "were excluded (the latest acquisition at each position is kept)"
                ))
            fors = {by_key[s.key].frame_of_reference_uid for s in slices}
            if len(fors) > 1:
                problems.append("slices have different FrameOfReferenceUIDs")
            role = guess_role(
                normal=slices[0].normal,
                n_slices=len(slices),
                modality=first.modality,
                image_type=first.image_type,
                echo_time_ms=first.echo_time_ms,
                repetition_time_ms=first.repetition_time_ms,
                inversion_time_ms=first.inversion_time_ms,
                scanning_sequence=first.scanning_sequence,
                acquisition_contrast=first.acquisition_contrast,
                description=first.series_description,
                series_orthogonal=orthogonal,
            )
            reason = unusable or spacing_verdict(
                role, base, first.spacing_issue, slices[0].spacing_mm, slices[0].rows, slices[0].columns
            )
            if reason is not None:
                problems.append(reason)
            used_ids.add(stack_id)
            stacks.append(
                Stack(
                    stack_id=stack_id,
                    study_instance_uid=study_uid,
                    series_instance_uid=series_uid,
                    slices=tuple(slices),
                    role=role,
                    series_number=first.series_number,
                    series_description=first.series_description,
                    modality=first.modality,
                    frame_of_reference_uid=first.frame_of_reference_uid,
                    echo_time_ms=first.echo_time_ms,
                    repetition_time_ms=first.repetition_time_ms,
                    image_type=first.image_type,
                    problems=tuple(problems),
                    unusable=reason,
                )
            )
    return Study(
        study_instance_uid=study_uid,
        stacks=tuple(stacks),
        study_description=headers[0].study_description,
    )


def discover(path: str | os.PathLike[str]) -> Discovery:
    """Find the DICOM images under ``path`` (headers only) and group them.

    ``path`` may be a CD root with a DICOMDIR, a DICOMDIR file, a folder tree,
    a .zip archive or a single file. Non-DICOM clutter is skipped and counted.
    Raises :class:`NoDicomError` when nothing DICOM is found, with one line
    that never contains the path.
    """
    install_library_redaction()
    p = Path(os.fspath(path))
    scan = _Scan()
    report = WalkReport()
    with redacted_warnings():
        try:
            hint = _iter_sources(p, scan, report)
        except InputError:
            raise
        except PermissionError:
            raise InputError(f"the input cannot be read (permission denied); {_HINT}") from None
        except OSError as exc:
            raise InputError(f"the input cannot be read ({type(exc).__name__}); {_HINT}") from None
    if scan.n_dicom == 0:
        if report.oversized_members:
            raise NoDicomError(
                f"no DICOM found in the zip archive: {report.oversized_members} member(s) expand beyond "
                f"the limit ({MEMBER_LIMITS}) and were not read, as in a zip bomb; if it is a genuine "
                "study, unpack it yourself and point mri-measure at the folder"
            )
        if scan.n_unreadable and not scan.n_broken:
            raise NoDicomError(
                f"{scan.n_unreadable} file(s) could not be opened (permissions or I/O errors) and "
                f"no DICOM was found in the rest; {_HINT}"
            )
        if scan.n_broken:
            raise NoDicomError(
                f"found {scan.n_broken} file(s) that look like DICOM but none could be parsed; "
                "the files may be truncated or corrupt"
            )
        raise NoDicomError(
            f"no DICOM files found in the input ({scan.n_files} file(s) scanned); {_HINT}"
        )
    warnings_out: list[str] = []
    if hint is not None:
        warnings_out += hint.warnings()
    warnings_out += report.warnings()
    if scan.n_unreadable:
        warnings_out.append(f"{scan.n_unreadable} file(s) could not be opened (permissions or I/O errors); ignored")
    if scan.n_broken:
        warnings_out.append(f"{scan.n_broken} file(s) look like DICOM but could not be parsed (truncated or corrupt); ignored")
    if scan.n_implausible:
        warnings_out.append(
            f"{scan.n_implausible} image(s) with missing or implausible Rows/Columns/NumberOfFrames or UIDs were left out"
        )
    if scan.n_duplicates:
        warnings_out.append(f"{scan.n_duplicates} duplicate image(s) (same SOPInstanceUID) ignored")
    if scan.n_referenced_not_dicom:
        warnings_out.append(
            f"DICOMDIR: {scan.n_referenced_not_dicom} referenced file(s) are not readable DICOM "
            "(damaged?) and were left out"
        )
    if scan.conflicting:
        warnings_out.append(
            f"{len(scan.conflicting)} SOPInstanceUID(s) used by two different images "
            f"were excluded (duplicate UIDs: {', '.join(sorted(scan.conflicting)[:3])})"
        )
    headers = _without_partial_spacing(list(scan.headers.values()), scan)
    # across studies first: an image filed into another study's series
    headers, foreign_warnings, _ = foreign_images(headers)
    by_study: dict[str, list[ImageHeader]] = defaultdict(list)
    for h in headers:
        by_study[h.study_instance_uid].append(h)
    stack_warnings: list[str] = []
    studies = tuple(_build_study(uid, hs, stack_warnings) for uid, hs in sorted(by_study.items()))
    if len({h.patient_key for h in headers}) > 1:
        stack_warnings.append(
            f"the input holds the studies of {len({h.patient_key for h in headers})} different patients "
            "(PatientID, PatientName or PatientBirthDate differ); point mri-measure at one patient's study"
        )
    for series, n in sorted(scan.missing_geometry.items()):
        warnings_out.append(
            f"series {series}: {n} image(s) lack PixelSpacing, ImagePositionPatient or "
            "ImageOrientationPatient and were left out"
        )
    warnings_out += foreign_warnings + stack_warnings
    if not studies:
        warnings_out.append("DICOM files were found but none is an image with usable geometry")
    for w in warnings_out:
        log.warning(w)
    return Discovery(
        studies=studies,
        n_files_scanned=scan.n_files,
        n_dicom_files=scan.n_dicom,
        n_skipped_non_dicom=scan.n_skipped,
        warnings=tuple(warnings_out),
    )


def iter_stacks(discovery: Discovery) -> Iterator[Stack]:
    for study in discovery.studies:
        yield from study.stacks
