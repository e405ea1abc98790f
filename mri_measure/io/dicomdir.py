"""DICOMDIR as a hint: which files a CD says it holds, resolved forgivingly.

The DICOMDIR is read with :class:`pydicom.fileset.FileSet` (never written).
Referenced File IDs that do not exist as written are looked up
case-insensitively (CDs copied on Linux are often lower-cased), with or
without a ``.dcm`` suffix and ISO 9660 ``;1`` version suffix. The caller then
scans every other file anyway, so a stale or partial DICOMDIR loses nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import pydicom
from pydicom.fileset import FileSet

from ..logs import redacted_warnings


def normalise_file_id(rel: str) -> str:
    """Case- and suffix-insensitive key of a relative path.

    >>> normalise_file_id("DICOM/ST000001/IM000001;1")
    'dicom/st000001/im000001'
    >>> normalise_file_id("dicom/st000001/im000001.dcm") == normalise_file_id("DICOM/ST000001/IM000001")
    True
    """
    parts = []
    for part in rel.replace("\\", "/").split("/"):
        p = part.strip().lower()
        if p.endswith(";1"):
            p = p[:-2]
        if p.endswith(".dcm"):
            p = p[:-4]
        p = p.rstrip(".")
        if p:
            parts.append(p)
    return "/".join(parts)


@dataclass
class DicomdirHint:
    referenced: list[str] = field(default_factory=list)  # existing files, DICOMDIR order
    n_references: int = 0
    n_resolved_loosely: int = 0  # found only case-insensitively / with suffix changes
    n_missing: int = 0
    readable: bool = True

    def warnings(self) -> list[str]:
        out = []
        if not self.readable:
            out.append("the DICOMDIR could not be read; all files were scanned instead")
        if self.n_resolved_loosely:
            out.append(
                f"DICOMDIR: {self.n_resolved_loosely} referenced file(s) found only by ignoring "
                "case or a .dcm suffix (copied CD?)"
            )
        if self.n_missing:
            out.append(f"DICOMDIR: {self.n_missing} referenced file(s) are missing from the input")
        return out


def _file_ids(ds: pydicom.Dataset) -> Iterable[str]:
    for rec in ds.get("DirectoryRecordSequence", []) or []:
        fid = rec.get("ReferencedFileID")
        if fid is None:
            continue
        parts = [fid] if isinstance(fid, str) else [str(p) for p in fid]
        yield "/".join(p.strip() for p in parts if p and p.strip())


def read_dicomdir(dicomdir_path: str, files: Iterable[str]) -> DicomdirHint:
    """Resolve the DICOMDIR's references against ``files`` (absolute paths
    found by the walk of the DICOMDIR's folder)."""
    hint = DicomdirHint()
    root = os.path.dirname(os.path.abspath(dicomdir_path))
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for f in files:
        rel = os.path.relpath(f, root).replace(os.sep, "/")
        exact.setdefault(rel, f)
        loose.setdefault(normalise_file_id(rel), f)
    with redacted_warnings():
        try:
            ds = pydicom.dcmread(dicomdir_path)
            fs = FileSet(ds)  # validates the record tree; it never writes unless asked
        except Exception:
            hint.readable = False
            return hint
        _release_staging(fs)
    seen: set[str] = set()
    for fid in _file_ids(ds):
        hint.n_references += 1
        path = exact.get(fid)
        if path is None:
            path = loose.get(normalise_file_id(fid))
            if path is not None:
                hint.n_resolved_loosely += 1
        if path is None:
            hint.n_missing += 1
            continue
        if path not in seen:
            seen.add(path)
            hint.referenced.append(path)
    return hint


def _release_staging(fs: FileSet) -> None:
    """FileSet makes a private staging TemporaryDirectory (for writes we never
    do); remove it now rather than at garbage collection."""
    stage = getattr(fs, "_stage", None)
    tmp = stage.get("t") if isinstance(stage, dict) else None
    if tmp is not None and hasattr(tmp, "cleanup"):
        tmp.cleanup()


def find_dicomdir(folder: str) -> str | None:
    """A file named DICOMDIR (any case) directly in ``folder``."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if name.lower() == "dicomdir" and os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None
