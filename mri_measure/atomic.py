"""Atomic files and an atomic, exclusive output folder.

* :func:`atomic_write_bytes` / :func:`atomic_write_text`: a temporary file in
  the same folder, fsync, :func:`os.replace` — readers never see half a file.
* :class:`OutputFolder`: one study's outputs written into a hidden staging
  folder beside ``--out`` and swapped into place at the end, under an exclusive
  lock, after checks made *before* the analysis starts::

      with OutputFolder(out, overwrite=False) as folder:   # checks + lock
          ...discover the study...
          folder.check_study(study_uid)                    # whose results are in out?
          ...analyse, then write every file into folder.staging...
      # here: out holds this study's complete outputs, or (on an exception)
      # exactly what it held before; no staging folder is left behind

Rules for an existing ``out``: empty → used; this study's earlier results →
replaced (a warning says so); another study's results → refused unless
``overwrite``; any file that is not an mri-measure output → always refused
(replacing the folder would delete it).

Every problem is an :class:`~mri_measure.errors.OutputError` (exit code 2)
with one line that names the ``--out`` folder the user gave, never an input path.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from .errors import OutputError

try:  # POSIX; elsewhere the swap alone keeps the folder to one study
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: Refuse an output filesystem with less free space than this (a study's
#: outputs take 1-10 MB; a nearly full disk fails half-way otherwise).
MIN_FREE_BYTES = 50 * 1024 * 1024

MEASUREMENTS = "measurements.json"
#: Names the writers produce; a folder holding only these is "results".
RESULT_NAME = re.compile(r"^(measurements\.(json|csv)|report\.(html|pdf)|seg(_\d+)?\.dcm|sr\.dcm)$")
#: What a killed writer can leave in a results folder (see report.writer).
LEFTOVER_NAME = re.compile(r"^\.(mri-measure-partial-.*|.+\.tmp)$")
#: Files a desktop drops into any folder; they never block a replace.
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
#: Length of the random part of the staging (``tempfile``) and aside folder names.
_SUFFIX_LEN = 8
#: errno values of a write that failed because of the output filesystem.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


# --------------------------------------------------------------------------- files


def file_mode() -> int:
    """Mode a plain ``open()`` would give a new file (0666 minus the umask):
    :func:`tempfile.mkstemp` creates 0600 files."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and
    :func:`os.replace`, so readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` of ``text`` encoded (UTF-8 by default)."""
    return atomic_write_bytes(path, text.encode(encoding))


def temp_path_beside(path: Path) -> Path:
    """A fresh temporary file name in ``path``'s folder (the caller fills it
    and then calls :func:`os.replace`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, file_mode())
    return Path(tmp)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- folder


def study_uid_of_results(folder: Path) -> str | None:
    """StudyInstanceUID recorded in ``folder``'s measurements.json, or ``None``
    when it is missing or unreadable."""
    try:
        doc = json.loads((folder / MEASUREMENTS).read_text(encoding="utf-8"))
        uid = doc["study"]["study_instance_uid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return uid if isinstance(uid, str) and uid else None


class OutputFolder:
    """See the module docstring. ``out`` is the folder the user named; the
    staging folder and the lock file are hidden siblings of it
    (``.NAME.tmp-XXXX``, ``.NAME.lock``), removed at the end."""

    def __init__(
        self,
        out: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        min_free_bytes: int = MIN_FREE_BYTES,
    ) -> None:
        self.out = Path(out)  # as the user gave it: used in messages
        # for the file system: absolute, through a symlink to the real folder
        self._abs = self.out.resolve() if self.out.is_symlink() else self.out.absolute()
        self.overwrite = overwrite
        self.min_free_bytes = min_free_bytes
        self.staging: Path | None = None  # while open; None after commit/abort
        self._stage_root: Path | None = None
        self.replaced: str | None = None  # "same" / "other" study, after commit
        self._existing = False  # out held mri-measure results at open()
        self._existing_uid: str | None = None
        self._checked = False
        self._lock_fd: int | None = None
        self._lock_path: Path | None = None
        self._created: list[Path] = []  # parent folders open() created

    # ------------------------------------------------------------------ helpers

    def _say(self) -> str:
        return f"--out {self.out}"

    def _parent(self) -> Path:
        return self._abs.parent

    def _fail_os(self, exc: OSError, doing: str) -> OutputError:
        why = exc.strerror or type(exc).__name__
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            hint = "choose a folder you can write to"
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "free some space or choose another --out"
        else:
            hint = "choose another --out"
        return OutputError(f"{self._say()}: cannot {doing} ({why}); {hint}")

    # ------------------------------------------------------------------ open

    def open(self) -> OutputFolder:
        """Every check that needs no study: a folder (not a file) that can be
        created and written, with free space, not busy, holding nothing but
        mri-measure results. Takes the lock and creates the staging folder."""
        out = self._abs
        if not out.name:
            raise OutputError(f"{self._say()} is not usable as an output folder; choose a subfolder")
        if out.exists() and not out.is_dir():
            raise OutputError(f"{self._say()} is a file, not a folder; choose a folder")
        if out.is_dir() and os.path.ismount(out):  # cannot be swapped: a folder inside it can
            raise OutputError(f"{self._say()} is a mount point; choose a folder inside it")
        parent = self._parent()
        for anc in (parent, *parent.parents):
            if anc.exists():
                if not anc.is_dir():
                    raise OutputError(
                        f"{self._say()}: a part of this path is a file, not a folder; choose a folder"
                    )
                break
        missing = [p for p in (parent, *parent.parents) if not p.exists()]
        try:
            for p in reversed(missing):
                p.mkdir()
                self._created.append(p)
        except FileExistsError:
            pass  # created meanwhile by someone else: fine
        except OSError as exc:
            self._remove_created()
            raise self._fail_os(exc, "create the folder") from None
        try:
            self._lock()
            self._clean_leftovers()
            self._preflight_contents()
            self._preflight_space()
            self.staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
            os.chmod(self.staging, 0o777 & ~_umask())
            self._stage_root = self.staging
        except OSError as exc:
            self._release()
            raise self._fail_os(exc, "write there") from None
        except BaseException:
            self._release()
            raise
        return self

    def _lock(self) -> None:
        parent = self._parent()
        path = parent / f".{self._abs.name}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
            if fcntl is None:  # pragma: no cover - Windows
                break
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputError(
                    f"another mri-measure run is writing to {self._say()}; "
                    "wait for it to finish or choose another --out"
                ) from None
            # the holder before us may have removed the file after we opened it
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._lock_fd, self._lock_path = fd, path

    def _clean_leftovers(self) -> None:
        """Staging/aside folders of a run that was killed (we hold the lock, so
        no live run owns them). A killed swap's aside folder is put back."""
        parent, name = self._parent(), self._abs.name
        stem = f".{glob_escape(name)}"
        asides = sorted(parent.glob(f"{stem}.old-{'?' * _SUFFIX_LEN}"))
        if asides and not self._abs.exists():
            os.rename(asides.pop(), self._abs)
        for p in [*parent.glob(f"{stem}.tmp-{'?' * _SUFFIX_LEN}"), *asides]:
            shutil.rmtree(p, ignore_errors=True)

    def _preflight_contents(self) -> None:
        if not self._abs.is_dir():
            return
        names = [p.name for p in self._abs.iterdir() if p.name not in JUNK_NAMES]
        if not names:
            return
        foreign = [n for n in names if not (RESULT_NAME.match(n) or LEFTOVER_NAME.match(n))]
        if foreign:
            raise OutputError(
                f"{self._say()} already holds {len(foreign)} file(s) that are not mri-measure "
                "results (replacing the folder would delete them); choose a new or empty folder"
            )
        self._existing = True
        self._existing_uid = study_uid_of_results(self._abs)

    def _preflight_space(self) -> None:
        free = shutil.disk_usage(self._parent()).free
        if free < self.min_free_bytes:
            raise OutputError(
                f"{self._say()}: only {free / 2**20:.1f} MB free on its filesystem, "
                f"at least {self.min_free_bytes / 2**20:.0f} MB needed; "
                "free some space or choose another --out"
            )

    # ------------------------------------------------------------------ study

    def check_study(self, study_uid: str | None) -> None:
        """Refuse (before the heavy analysis) when ``out`` holds the results of
        another study, unless ``overwrite``."""
        self._checked = True
        if not self._existing:
            return
        if study_uid is not None and study_uid == self._existing_uid:
            self.replaced = "same"
            return
        if not self.overwrite:
            whose = "another study" if self._existing_uid else "an unknown study"
            raise OutputError(
                f"{self._say()} holds the results of {whose}; use --overwrite to replace them, "
                "or choose another --out"
            )
        self.replaced = "other"

    # ------------------------------------------------------------------ end

    def final_path(self, staged: Path) -> Path:
        """Where a file written into :attr:`staging` lies after the swap."""
        assert self._stage_root is not None
        return self._abs / Path(staged).relative_to(self._stage_root)

    def commit(self) -> None:
        """Swap the staging folder into place (``out`` is never half-written)."""
        if self.staging is None:
            raise RuntimeError("OutputFolder.commit() before open()")
        if not self._checked:
            raise RuntimeError("OutputFolder.commit() before check_study()")
        parent = self._parent()
        try:
            if self._abs.exists():
                aside = parent / f".{self._abs.name}.old-{secrets.token_hex(_SUFFIX_LEN // 2)}"
                os.rename(self._abs, aside)
                try:
                    os.rename(self.staging, self._abs)
                except BaseException:
                    os.rename(aside, self._abs)
                    raise
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.rename(self.staging, self._abs)
        except OSError as exc:
            raise self._fail_os(exc, "move the finished outputs into place") from None
        _fsync_dir(parent)
        self.staging = None
        if self.replaced == "same":
            log.warning("replaced the earlier results of this study in %s", self._say())
        elif self.replaced == "other":
            log.warning("replaced another study's results in %s (--overwrite)", self._say())

    def abort(self) -> None:
        """Remove the staging folder; ``out`` is left as it was."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    def _remove_created(self) -> None:
        for p in reversed(self._created):
            with contextlib.suppress(OSError):
                p.rmdir()  # only if still empty
        self._created = []

    def _release(self) -> None:
        self.abort()
        if self._lock_fd is not None:
            assert self._lock_path is not None
            with contextlib.suppress(OSError):
                os.unlink(self._lock_path)  # while still holding it: see _lock()
            if fcntl is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = self._lock_path = None
        if not self._abs.exists():
            self._remove_created()

    # ------------------------------------------------------------------ with

    def __enter__(self) -> OutputFolder:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                self.commit()
                return
        finally:
            self._release()
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise OutputError(
                f"{self._say()}: writing the outputs failed ({exc.strerror}); nothing was "
                "written there — free some space or choose another --out"
            ) from None


def staged_output_dir(
    out: str | os.PathLike[str], *, overwrite: bool = False, min_free_bytes: int = MIN_FREE_BYTES
) -> OutputFolder:
    """``with staged_output_dir(out) as folder:`` — see :class:`OutputFolder`."""
    return OutputFolder(out, overwrite=overwrite, min_free_bytes=min_free_bytes)


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
