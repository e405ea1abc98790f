"""Where DICOM bytes come from: files on disk and members of zip archives.

A *locator* is the opaque string kept in :attr:`SliceInfo.source`: an
absolute file path, or ``"zip\\0<archive path>\\0<member name>"`` for a zip
member. Locators may contain patient names; never print or log them.

Safety rules enforced here:

* folder walks never leave the root through symlinks, visit each real
  directory once (symlink cycles end) and are bounded in depth and count;
* zip members with absolute or ``..`` names, symlinks, encryption, or
  implausible declared sizes / compression ratios are skipped with a count;
* nothing is ever written into or next to the input.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import InputError

MAX_WALK_DEPTH = 64
MAX_FILES = 1_000_000
MAX_MEMBER_BYTES = 2 * 1024**3  # one DICOM object larger than 2 GiB is not an MR study
MAX_RATIO = 200.0  # DICOM compresses ~2-20x; far more on a big member smells of a zip bomb
RATIO_CHECK_ABOVE_BYTES = 16 * 1024**2
MAX_ARCHIVE_TOTAL_BYTES = 4 * 1024**3  # a lumbar MR study is < 1 GiB uncompressed


def _gib(n: int) -> str:
    return f"{n / 1024**3:g} GiB"


#: why a member is not read, with the limits (for warnings and the error)
MEMBER_LIMITS = (
    f"larger than {_gib(MAX_MEMBER_BYTES)} or, above {RATIO_CHECK_ABOVE_BYTES // 1024**2} MiB, "
    f"more than {MAX_RATIO:g}x its compressed size"
)

_ZIP_TAG = "zip\0"


def zip_locator(archive: str, member: str) -> str:
    return f"{_ZIP_TAG}{archive}\0{member}"


def split_zip_locator(locator: str) -> tuple[str, str] | None:
    """``(archive, member)`` for a zip locator, else ``None``.

    >>> split_zip_locator(zip_locator("/a/b.zip", "DICOM/IM1"))
    ('/a/b.zip', 'DICOM/IM1')
    >>> split_zip_locator("/a/IM1") is None
    True
    """
    if not locator.startswith(_ZIP_TAG):
        return None
    archive, _, member = locator[len(_ZIP_TAG):].partition("\0")
    return archive, member


@dataclass
class WalkReport:
    """Counts of things skipped while enumerating (no names: they may be PHI)."""

    links_outside_root: int = 0
    unreadable_dirs: int = 0
    too_deep: int = 0
    truncated_at_limit: bool = False
    unsafe_members: int = 0
    oversized_members: int = 0
    encrypted_members: int = 0
    messages: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = list(self.messages)
        if self.links_outside_root:
            out.append(f"{self.links_outside_root} symbolic link(s) pointing outside the input were not followed")
        if self.unreadable_dirs:
            out.append(f"{self.unreadable_dirs} folder(s) could not be read (permissions?)")
        if self.too_deep:
            out.append(f"{self.too_deep} folder(s) deeper than {MAX_WALK_DEPTH} levels were not scanned")
        if self.truncated_at_limit:
            out.append(f"stopped after {MAX_FILES} files; point the tool at one study folder")
        if self.unsafe_members:
            out.append(f"{self.unsafe_members} archive member(s) with unsafe names (absolute, '..', links) skipped")
        if self.oversized_members:
            out.append(
                f"{self.oversized_members} archive member(s) skipped: declared size or compression ratio "
                f"implausible (a member may expand to at most {MEMBER_LIMITS})"
            )
        if self.encrypted_members:
            out.append(f"{self.encrypted_members} encrypted archive member(s) skipped")
        return out


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk_files(root: str, report: WalkReport) -> list[str]:
    """All regular files under ``root`` (absolute, sorted per folder), no extension filter.

    Symlinks are followed only when their target stays inside ``root``; every
    real directory and file is visited once, so symlink cycles terminate.
    """
    root_real = os.path.realpath(root)
    seen_dirs: set[str] = set()
    seen_ids: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    files: list[str] = []
    todo: list[tuple[str, int]] = [(root_real, 0)]
    while todo:
        folder, depth = todo.pop()
        real = os.path.realpath(folder)
        try:
            st = os.stat(real)
            ident = (st.st_dev, st.st_ino)  # also catches bind-mount loops
        except OSError:
            report.unreadable_dirs += 1
            continue
        if real in seen_dirs or ident in seen_ids:
            continue
        seen_dirs.add(real)
        seen_ids.add(ident)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            report.unreadable_dirs += 1
            continue
        subdirs: list[tuple[str, int]] = []
        for entry in entries:
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if not _within(target, root_real):
                        report.links_outside_root += 1
                        continue
                else:
                    target = entry.path
                if entry.is_dir(follow_symlinks=True):
                    if depth + 1 > MAX_WALK_DEPTH:
                        report.too_deep += 1
                    else:
                        subdirs.append((entry.path, depth + 1))
                elif entry.is_file(follow_symlinks=True):
                    if target in seen_files:
                        continue
                    seen_files.add(target)
                    files.append(entry.path)
                    if len(files) >= MAX_FILES:
                        report.truncated_at_limit = True
                        return files
            except OSError:
                continue
        todo.extend(reversed(subdirs))
    return files


def _unsafe_member_name(name: str) -> bool:
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return True
    return ".." in norm.split("/")


def _is_symlink_member(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def safe_zip_members(zf: zipfile.ZipFile, report: WalkReport) -> list[zipfile.ZipInfo]:
    """Members worth reading, after the name, link, encryption and size guards."""
    infos = zf.infolist()
    total_declared = sum(max(int(i.file_size), 0) for i in infos if not i.is_dir())
    if total_declared > MAX_ARCHIVE_TOTAL_BYTES:
        raise InputError(
            f"zip archive expands to more than {_gib(MAX_ARCHIVE_TOTAL_BYTES)} (the limit; it declares "
            f"{total_declared / 1024**3:.1f} GiB); if it is a genuine study, unpack it yourself and "
            "point mri-measure at the folder"
        )
    out: list[zipfile.ZipInfo] = []
    for info in infos:
        if info.is_dir():
            continue
        if _unsafe_member_name(info.filename) or _is_symlink_member(info):
            report.unsafe_members += 1
            continue
        if info.flag_bits & 0x1:
            report.encrypted_members += 1
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MAX_MEMBER_BYTES or (
            info.file_size > RATIO_CHECK_ABOVE_BYTES and ratio > MAX_RATIO
        ):
            report.oversized_members += 1
            continue
        out.append(info)
    return out


def open_zip(archive: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(
            f"the zip archive cannot be read ({type(exc).__name__}); check that it was copied completely"
        ) from None


def read_member_bytes(zf: zipfile.ZipFile, member: str) -> bytes:
    """Whole member in memory, re-checking the guards (the archive may have changed)."""
    info = zf.getinfo(member)
    if _unsafe_member_name(info.filename) or _is_symlink_member(info) or info.file_size > MAX_MEMBER_BYTES:
        raise InputError("an archive member is unsafe to read; re-create the archive")
    try:
        with zf.open(info) as fh:
            data = fh.read(MAX_MEMBER_BYTES + 1)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, zlib.error):
        # damaged or unsupported compression: the caller treats it as unreadable
        raise OSError("archive member cannot be decompressed") from None
    if len(data) > MAX_MEMBER_BYTES:
        raise InputError("an archive member is larger than its declared size; re-create the archive")
    return data


def open_locator(locator: str) -> BinaryIO:
    """A readable binary file object for a locator (caller closes it).

    Zip members are read into memory: nothing is extracted to disk.
    """
    parts = split_zip_locator(locator)
    if parts is None:
        return open(locator, "rb")
    archive, member = parts
    with open_zip(archive) as zf:
        try:
            return io.BytesIO(read_member_bytes(zf, member))
        except KeyError:
            raise InputError("an archive member listed earlier has disappeared; was the archive replaced?") from None


def display_name(locator: str) -> str:
    """Never a path: only what kind of source this is (for messages)."""
    return "archive member" if locator.startswith(_ZIP_TAG) else "file"


def iter_zip(archive: str, report: WalkReport) -> Iterator[tuple[str, zipfile.ZipFile, zipfile.ZipInfo]]:
    """Yield ``(locator, open ZipFile, info)`` for every safe member."""
    with open_zip(archive) as zf:
        for info in safe_zip_members(zf, report):
            yield zip_locator(archive, info.filename), zf, info


def normalise_member(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/")).lstrip("./")
