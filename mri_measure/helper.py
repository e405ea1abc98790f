"""A second process that takes work off ``measure``'s main path on a 2-core machine.

One ``mri-measure measure`` run is mostly single-threaded Python. Three pieces
of it do not depend on the axial segmentation and can run beside it:

1. importing highdicom and loading the DICOM standard's tables it checks
   every SEG and SR against (≈ 0.8 s per process, once);
2. finding the disc levels on the sagittal series (≈ 1 s on the sample CD);
3. writing the DICOM SEG and SR (≈ 0.6 s once highdicom is warm), while the
   main process writes JSON, CSV, figures, HTML and PDF.

:class:`Helper` forks once, at the start of the run, before any model or
thread pool exists, into a child that serves (2) and (3) as requests over a
pipe (pickled arguments, pickled results) while a thread of it does (1).

The helper only ever *accelerates*: whenever it is unavailable — no
``fork`` (not Linux), one core, ``MRI_MEASURE_HELPER=0``, a study too large to
pass by pickle (:data:`MAX_REQUEST_BYTES`), the child died, or it did not
answer within the request's time limit (it is then killed) — the caller does
the same work itself, in the same way, with the same result; the run only
takes longer. An error the work itself raises (an
:class:`~mri_measure.errors.MriMeasureError`, e.g. an unwritable file) is raised
in the main process as if the work had run there.

The child never writes to stdout, exits with ``os._exit`` (no atexit
handlers, no flushing of the parent's buffers) and dies with the parent
(``PR_SET_PDEATHSIG`` where available; the pipes' EOF otherwise).
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from typing import Any, Callable

from .errors import MriMeasureError
from .segment.threads import _cores

log = logging.getLogger(__name__)

ENV = "MRI_MEASURE_HELPER"
#: a request that pickles larger than this is handled in the main process: the child's
#: copy would cost more memory than the helper saves time (the sample CD's SEG/SR request
#: is 14 MB; 40 contiguous 512² slices ≈ 40 MB; 598 slices at 512² ≈ 500 MB, done here)
MAX_REQUEST_BYTES = 64 * 1024 * 1024
_HEADER = struct.Struct("!Q")


class _TooLarge(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """A BytesIO that refuses to grow beyond ``cap`` bytes (raises :class:`_TooLarge`)."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def write(self, b) -> int:  # type: ignore[override]
        if self.tell() + memoryview(b).nbytes > self.cap:
            raise _TooLarge
        return super().write(b)


class HelperUnavailable(Exception):
    """The helper cannot do this request; do the work in this process."""


def enabled() -> bool:
    """Whether this process may start a helper: Linux ``fork``, ≥ 2 cores, not
    disabled, and no other thread running (a fork copies only the calling
    thread; a lock another thread held would stay locked in the child)."""
    if os.environ.get(ENV, "").strip() == "0":
        return False
    if threading.active_count() != 1:
        return False
    return sys.platform.startswith("linux") and hasattr(os, "fork") and _cores() >= 2


# ------------------------------------------------------------------ child side
#: imported by :meth:`Helper.start` before it forks: both processes need them, the main
#: process would import them a moment later anyway, and the child then starts with them
SHARED_MODULES = ("numpy", "scipy.ndimage", "pydicom", "mri_measure.io", "mri_measure.levels",
                  "mri_measure.measure", "mri_measure.segment.runtime")


def _warm_levels() -> None:
    from .levels.sagittal import find  # noqa: F401
    from .segment import disc_detector  # noqa: F401


def _warm_writers() -> None:
    from .report import seg as _seg  # noqa: F401  (imports highdicom)
    from .report import sr as _sr  # noqa: F401
    from highdicom import _standard_utils as su  # private: the tables are lru_cached loaders

    for name in ("get_sop_class_iod_map", "get_iod_module_map", "get_module_attribute_map"):
        fn = getattr(su, name, None)
        if callable(fn):
            fn()


#: warm-up steps the child runs in a thread of its own while it serves the requests
#: (best effort: a failure only means the first request pays for it, as without a
#: helper). The warm-up's imports and table parsing overlap the disc finding's ONNX
#: Runtime and numpy work, which release the GIL.
WARM_UP: tuple[Callable[[], None], ...] = (_warm_levels, _warm_writers)


def _warm_up() -> None:
    for step in WARM_UP:
        try:
            step()
        except Exception:  # noqa: BLE001
            pass


def _task_discs(sagittal: Any) -> tuple[tuple[Any, ...], list[str]]:
    from .pipeline import _find_discs

    warnings: list[str] = []
    return _find_discs(sagittal, warnings), warnings


def _task_dicom(analysis: Any, stage: str) -> dict[str, str]:
    from .report.writer import write_dicom_objects

    return {k: str(p) for k, p in write_dicom_objects(analysis, stage).items()}


TASKS: dict[str, Callable[..., Any]] = {"discs": _task_discs, "dicom": _task_dicom}


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            raise EOFError
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def _send(fd: int, blob: bytes) -> None:
    view = memoryview(_HEADER.pack(len(blob)) + blob)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _child(req_r: int, res_w: int) -> None:  # pragma: no cover - runs in the forked child
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_warm_up, name="mri-measure-helper-warm-up", daemon=True).start()
    while True:
        try:
            (n,) = _HEADER.unpack(_read_exact(req_r, _HEADER.size))
            kind, args = pickle.loads(_read_exact(req_r, n))
        except EOFError:
            return
        try:
            reply: tuple[str, Any] = ("ok", TASKS[kind](*args))
        except MriMeasureError as exc:
            reply = ("error", exc)
        except BaseException as exc:  # noqa: BLE001 - reported, the parent redoes the work
            reply = ("failed", f"{exc.__class__.__name__}: {exc}")
        try:
            blob = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            blob = pickle.dumps(("failed", f"result not picklable ({exc.__class__.__name__})"))
        _send(res_w, blob)


# ----------------------------------------------------------------- parent side
class Helper:
    """The forked helper of one run; use as a context manager (the child is
    stopped and reaped on exit). :meth:`submit` then :meth:`result`, in order."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self._req_w = self._res_r = -1
        self._pending: list[str] = []
        self._senders: list[threading.Thread] = []

    @classmethod
    def start(cls) -> "Helper":
        """Fork the helper (or return an inactive one where :func:`enabled` is false)."""
        h = cls()
        if not enabled():
            return h
        import importlib

        for name in SHARED_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        try:
            pid = os.fork()
        except OSError:
            for fd in (req_r, req_w, res_r, res_w):
                os.close(fd)
            return h
        if pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                os.close(req_w)
                os.close(res_r)
                _child(req_r, res_w)
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        os.close(req_r)
        os.close(res_w)
        h.pid, h._req_w, h._res_r = pid, req_w, res_r
        return h

    @property
    def active(self) -> bool:
        return self.pid is not None

    def submit(self, kind: str, *args: Any) -> bool:
        """Queue ``kind`` with ``args``; False (do it yourself) when the helper
        cannot take it."""
        if not self.active:
            return False
        buf = _CappedBuffer(MAX_REQUEST_BYTES)
        try:  # into a capped buffer: a large study never costs this process more than the cap
            pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump((kind, args))
        except _TooLarge:
            log.debug("helper: %s request over %d MB; doing it here", kind, MAX_REQUEST_BYTES >> 20)
            return False
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable segmenter output
            log.debug("helper: %s not picklable (%s); doing it here", kind, exc.__class__.__name__)
            return False
        blob = buf.getvalue()
        del buf
        # a thread writes the request: the pipe holds 64 KB and the child reads only when it
        # is free, and this process must not wait for that
        sender = threading.Thread(target=self._send_quietly, args=(blob,), name="mri-measure-helper-send",
                                  daemon=True)
        sender.start()
        self._pending.append(kind)
        self._senders.append(sender)
        return True

    def _send_quietly(self, blob: bytes) -> None:
        try:
            _send(self._req_w, blob)
        except OSError:  # the child is gone: result() then finds EOF and the caller does the work
            pass

    def result(self, kind: str, timeout_s: float) -> Any:
        """The answer to the oldest pending request (which must be ``kind``).
        Raises the work's own :class:`MriMeasureError`, or
        :class:`HelperUnavailable` (then do the work yourself)."""
        if not self.active or not self._pending or self._pending[0] != kind:
            raise HelperUnavailable(kind)
        self._pending.pop(0)
        deadline = time.monotonic() + timeout_s
        try:
            header = self._read(_HEADER.size, deadline)
            status, value = pickle.loads(self._read(_HEADER.unpack(header)[0], deadline))
        except (EOFError, OSError, TimeoutError, pickle.UnpicklingError) as exc:
            log.debug("helper: no answer to %s (%s); doing it here", kind, exc.__class__.__name__)
            self.stop()
            raise HelperUnavailable(kind) from None
        if status == "ok":
            return value
        if status == "error":
            raise value
        log.debug("helper: %s failed (%s); doing it here", kind, value)
        raise HelperUnavailable(kind)

    def run(self, kind: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        """The answer to the ``kind`` request submitted with ``args`` (oldest pending
        first), or — where the helper cannot give it — the same task done here."""
        try:
            return self.result(kind, timeout_s)
        except HelperUnavailable:
            return TASKS[kind](*args)

    def _read(self, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._res_r], [], [], left)
            if not ready:
                raise TimeoutError
            b = os.read(self._res_r, min(n - got, 1 << 20))
            if not b:
                raise EOFError
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def stop(self) -> None:
        """Stop the child (closing its pipes ends it; a busy or hung one is killed) and reap it."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        self._pending.clear()
        if any(t.is_alive() for t in self._senders):  # a request still being written: not needed now
            _kill(pid)
        for t in self._senders:  # (a killed child makes their write fail at once)
            t.join(timeout=5.0)
        self._senders.clear()
        for fd in (self._req_w, self._res_r):  # only now: no thread writes to them any more
            try:
                os.close(fd)
            except OSError:
                pass
        for _ in range(50):  # up to 0.5 s to leave on its own after EOF
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done:
                return
            time.sleep(0.01)
        _kill(pid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def __enter__(self) -> "Helper":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
