"""DICOMDIR as a hint: which files a CD says it holds, resolved forgivingly.

The DICOMDIR is read with :class:`pydicom.fileset.FileSet` (never written).
Referenced File IDs that do not exist as written are looked up
case-insensitively (CDs copied on Linux are often lower-cased), with or
without a ``.dcm`` suffix and ISO 9660 ``;1`` version suffix. The caller then
scans every other file anyway, so a stale or partial DICOMDIR loses nothing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Sequence
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
    rel_to_file = {os.path.relpath(f, root).replace(os.sep, "/"): f for f in files}
    with redacted_warnings():
        try:
            ds = pydicom.dcmread(dicomdir_path)
            fs = FileSet(ds)  # validates the record tree; it never writes unless asked
        except Exception:
            hint.readable = False
            return hint
        _release_staging(fs)
    _resolve(ds, rel_to_file, hint)
    return hint


#: MediaStorageSOPClassUID of a DICOMDIR (Media Storage Directory Storage).
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def zip_dicomdir_members(names: Iterable[str]) -> list[str]:
    """Members of a zip named DICOMDIR (any case, any folder), shallowest first.

    >>> zip_dicomdir_members(["CD/IM1", "CD/DICOMDIR", "other/sub/dicomdir", "DICOMDIR.txt"])
    ['CD/DICOMDIR', 'other/sub/dicomdir']
    """
    found = [n for n in names if n.replace("\\", "/").rsplit("/", 1)[-1].lower() == "dicomdir"]
    return sorted(found, key=lambda n: (n.count("/"), n))


def read_zip_dicomdir(data_of: Callable[[str], bytes], names: Sequence[str]) -> DicomdirHint | None:
    """The DICOMDIR hint of a zip holding a CD (or several): every member named
    DICOMDIR, each resolved, as on a CD, against the members under its own folder
    (case- and suffix-forgiving). ``data_of(member)`` reads a member's bytes;
    ``referenced`` lists member names. ``None`` when the zip holds no DICOMDIR.

    Nothing is extracted: the DICOMDIR is parsed from memory (pydicom's
    ``FileSet`` needs a file on disk, so the record tree is checked here by its
    SOP class and its DirectoryRecordSequence instead)."""
    dicomdirs = zip_dicomdir_members(names)
    if not dicomdirs:
        return None
    hint = DicomdirHint()
    for member in dicomdirs:
        folder = member.rsplit("/", 1)[0] + "/" if "/" in member else ""
        rel_to_member = {n[len(folder):]: n for n in names if n.startswith(folder) and n != member}
        with redacted_warnings():
            try:
                ds = pydicom.dcmread(io.BytesIO(data_of(member)))
                sop_class = str(ds.file_meta.get("MediaStorageSOPClassUID", ""))
                if sop_class != MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" not in ds:
                    raise ValueError("not a DICOMDIR")
            except Exception:
                hint.readable = False
                continue
        _resolve(ds, rel_to_member, hint)
    return hint


def _resolve(ds: pydicom.Dataset, rel_to_locator: dict[str, str], hint: DicomdirHint) -> None:
    """Add the references of DICOMDIR ``ds`` to ``hint``, resolved against
    ``rel_to_locator`` (path relative to the DICOMDIR's folder → locator)."""
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for rel, loc in rel_to_locator.items():
        exact.setdefault(rel, loc)
        loose.setdefault(normalise_file_id(rel), loc)
    seen = set(hint.referenced)
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
