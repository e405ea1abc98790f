"""Run `mri-measure` on untrusted input under guard: wall-time limit, peak RSS
watch (whole process tree), and a check that nothing is written outside --out."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

TIME_LIMIT_S = 30.0  # on an otherwise idle core; stretched by load_factor() on a busy machine
RSS_LIMIT_MB = 2048.0


def load_factor(cap: float = 8.0) -> float:
    """How much slower than idle a process runs here now: 1-minute load per core, 1 to cap.

    A hang is killed either way; on the shared 2-core CI box (load 10+) a normal
    `measure` takes several times its idle 3-5 s and must not be taken for one."""
    try:
        return min(cap, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))
    except OSError:
        return 1.0


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None when killed by the guard
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float
    killed: str | None  # "timeout" | "rss" | None


def _tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def run_guarded(args: list[str], *, cwd: Path, time_limit_s: float = TIME_LIMIT_S,
                rss_limit_mb: float = RSS_LIMIT_MB, env: dict | None = None) -> Outcome:
    env = {**os.environ, **(env or {})}
    time_limit_s *= load_factor()
    t0 = time.perf_counter()
    popen = subprocess.Popen(
        [sys.executable, "-m", "mri_measure", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )
    proc = psutil.Process(popen.pid)
    peak, killed = 0.0, None
    while popen.poll() is None:
        peak = max(peak, _tree_rss_mb(proc))
        elapsed = time.perf_counter() - t0
        if elapsed > time_limit_s:
            killed = "timeout"
        elif peak > rss_limit_mb:
            killed = "rss"
        if killed:
            try:
                os.killpg(popen.pid, 9)
            except ProcessLookupError:
                pass
            break
        time.sleep(0.05)
    out, err = popen.communicate()
    return Outcome(
        None if killed else popen.returncode, out, err, time.perf_counter() - t0, peak, killed
    )


def snapshot(root: Path, *, exclude: Path | None = None) -> dict[str, str]:
    """Path → content hash of every regular file under ``root`` (symlinks not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        if exclude is not None and (d == exclude or exclude in d.parents):
            dirnames[:] = []
            continue
        for name in filenames:
            p = d / name
            if p.is_symlink() or not p.is_file():
                continue
            h = hashlib.sha1()
            with open(p, "rb") as f:
                h.update(f.read(1 << 16))
            out[str(p.relative_to(root))] = f"{p.stat().st_size}:{h.hexdigest()}"
    return out
