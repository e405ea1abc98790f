"""Streaming discovery for ``mri-measure batch``: walk ROOT, read headers as
it goes, and hand out each study as soon as it is complete enough to measure.

A *study* is one StudyInstanceUID, wherever its files lie. ROOT is cut into
*units*, scanned one after the other in sorted order:

* ROOT itself when it is a file (a .zip or one DICOM file) or a CD (holds a
  DICOMDIR); a ROOT holding a single folder and nothing else is looked
  through (``ROOT/archive/...``);
* otherwise every entry directly under ROOT: each folder (walked
  recursively; .zip files inside it are opened too), each .zip, and all
  loose files directly in ROOT together (scanned first). Symbolic links
  directly under ROOT are not followed; inside a unit, links are followed
  only when they stay inside it (as :func:`mri_measure.io.discover` does).

**Submission rule.** When a unit has been scanned, every study seen in it
is emitted (built from *all* headers read so far for that StudyInstanceUID).
If a StudyInstanceUID turns up again in a later unit, after it was emitted,
it is emitted once more **after the whole walk**, merged over every unit,
with ``merged=True``: the batch runner then cancels or overwrites the
earlier, partial result (same study key), so each study ends with exactly
one result. The DONE marker records a fingerprint of the study's image
keys, so ``--resume`` redoes a study whose set of images changed.

Headers are read by :mod:`mri_measure.io` (the same reader and stack
grouping as ``mri-measure measure``); pixels are never read here.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import fingerprint, opaque_key
from ..errors import InputError
from ..io.discover import _build_study, _Scan, _scan_files, _scan_zip
from ..io.sources import WalkReport, walk_files
from ..logs import redacted_warnings
from ..types import Study

log = logging.getLogger("mri_measure.batch")


@dataclass(frozen=True)
class Unit:
    """A piece of ROOT scanned in one go; ``label`` is relative to ROOT and
    stays inside this process (it may hold a patient name): only its opaque
    ``key`` is ever written or logged."""

    label: str
    kind: str  # "folder", "zip", "files"
    paths: tuple[str, ...]

    @property
    def key(self) -> str:
        return opaque_key("unit:" + self.label)


@dataclass(frozen=True)
class FoundStudy:
    key: str  # opaque: hash of the StudyInstanceUID
    study: Study
    fingerprint: str
    n_images: int
    merged: bool = False  # re-emitted after the walk with images from several units
    remote: Any = None  # batch.remote.RemoteStudy: retrieved by the worker (``study`` is a placeholder)


@dataclass(frozen=True)
class UnitFailed:
    key: str
    error_class: str
    message: str
    kind: str = "unit"  # "study": a DICOMweb study whose instances could not be listed


@dataclass(frozen=True)
class Tick:
    """Yielded between files so the caller can poll its workers."""


@dataclass
class DiscoveryStats:
    n_units: int = 0
    n_files: int = 0
    n_dicom: int = 0
    n_skipped_non_dicom: int = 0
    n_broken: int = 0
    n_studies: int = 0
    n_merged: int = 0
    n_unit_failures: int = 0
    warnings: list[str] = field(default_factory=list)


def _is_dicomdir_folder(path: Path) -> bool:
    try:
        return any(e.name.lower() == "dicomdir" and e.is_file() for e in os.scandir(path))
    except OSError:
        return False


def _is_zip(path: str) -> bool:
    if path.lower().endswith(".zip"):
        return True
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def iter_units(root: str | os.PathLike[str]) -> Iterator[Unit]:
    """The units of ROOT in scan order (see the module docstring)."""
    base = Path(root)
    if base.is_file() and base.name.lower() == "dicomdir":
        base = base.parent  # a DICOMDIR stands for its CD
    if base.is_file():
        yield Unit(".", "zip" if _is_zip(str(base)) else "files", (str(base.resolve()),))
        return
    if not base.is_dir():
        raise InputError("the batch ROOT does not exist or is not a folder or file")
    rel = Path(".")
    while True:
        if _is_dicomdir_folder(base):
            yield Unit(str(rel), "folder", (str(base.resolve()),))
            return
        try:
            entries = sorted(os.scandir(base), key=lambda e: e.name)
        except OSError:
            raise InputError("the batch ROOT cannot be read (permission denied?)") from None
        visible = [e for e in entries if not e.name.startswith(".")]
        if len(visible) == 1 and visible[0].is_dir() and not visible[0].is_symlink():
            base, rel = Path(visible[0].path), rel / visible[0].name
            continue
        break
    loose, units = [], []
    for e in entries:
        try:
            if e.is_symlink():
                continue  # never leave ROOT through links at the top level
            if e.is_dir():
                units.append(Unit(str(rel / e.name), "folder", (e.path,)))
            elif e.is_file():
                if _is_zip(e.path):
                    units.append(Unit(str(rel / e.name), "zip", (e.path,)))
                else:
                    loose.append(e.path)
        except OSError:
            continue
    if loose:
        yield Unit(str(rel / "<files>"), "files", tuple(loose))
    yield from units


class StreamingDiscovery:
    """Iterate to get :class:`FoundStudy`, :class:`UnitFailed` and
    :class:`Tick` items; :attr:`stats` is filled as it goes."""

    def __init__(self, root: str | os.PathLike[str], *, tick_every: int = 16):
        self.root = root
        self.tick_every = max(1, tick_every)
        self.stats = DiscoveryStats()
        self._headers: dict[str, dict] = defaultdict(dict)  # study uid -> {image key: header}
        self._emitted: set[str] = set()
        self._late: set[str] = set()

    def _scan_unit(self, unit: Unit, scan: _Scan, report: WalkReport) -> Iterator[Tick]:
        if unit.kind == "zip":
            with redacted_warnings():
                _scan_zip(unit.paths[0], scan, report)
            yield Tick()
            return
        files = list(unit.paths) if unit.kind == "files" else walk_files(unit.paths[0], report)
        for i, f in enumerate(files):
            with redacted_warnings():
                if f.lower().endswith(".zip") and zipfile.is_zipfile(f):
                    _scan_zip(f, scan, report)
                else:
                    _scan_files([f], scan)
            if (i + 1) % self.tick_every == 0:
                yield Tick()

    def _study(self, uid: str, merged: bool) -> FoundStudy:
        headers = list(self._headers[uid].values())
        study = _build_study(uid, headers)
        keys = [h.info.key for h in headers]
        return FoundStudy(opaque_key(uid), study, fingerprint(keys), len(keys), merged)

    def __iter__(self) -> Iterator[FoundStudy | UnitFailed | Tick]:
        st = self.stats
        for unit in iter_units(self.root):
            st.n_units += 1
            scan, report = _Scan(), WalkReport()
            try:
                yield from self._scan_unit(unit, scan, report)
            except InputError as exc:
                st.n_unit_failures += 1
                yield UnitFailed(unit.key, type(exc).__name__, str(exc))
                continue
            except OSError as exc:
                st.n_unit_failures += 1
                yield UnitFailed(unit.key, "InputError", f"the {unit.kind} cannot be read ({type(exc).__name__})")
                continue
            st.n_files += scan.n_files
            st.n_dicom += scan.n_dicom
            st.n_skipped_non_dicom += scan.n_skipped
            st.n_broken += scan.n_broken
            st.warnings.extend(report.warnings())
            touched: list[str] = []
            for h in scan.headers.values():
                uid = h.study_instance_uid
                bucket = self._headers[uid]
                if h.info.key in bucket:
                    continue  # the same image copied twice: first wins, as in io.discover
                if uid not in touched:
                    touched.append(uid)
                bucket[h.info.key] = h
            for uid in sorted(touched):
                if uid in self._emitted:
                    self._late.add(uid)
                    continue
                self._emitted.add(uid)
                st.n_studies += 1
                yield self._study(uid, merged=False)
        for uid in sorted(self._late):
            st.n_merged += 1
            yield self._study(uid, merged=True)
