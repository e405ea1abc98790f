"""The helper process of ``measure`` (mri_measure.helper): the same outputs with
and without it, and the work done here whenever it cannot answer."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mri_measure import helper as H
from mri_measure.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_dicoms" / "stenosis_L4-L5" / "CD"


def _measure(out: Path, helper: str) -> subprocess.CompletedProcess:
    env = {**os.environ, H.ENV: helper}
    return subprocess.run([sys.executable, "-m", "mri_measure", "measure", str(SAMPLE), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


def _comparable(doc: dict) -> dict:
    doc = dict(doc)
    doc.pop("timings_s", None)
    doc.get("provenance", {}).pop("run_id", None)
    return doc


@pytest.mark.slow
def test_measure_gives_the_same_outputs_with_and_without_the_helper(tmp_path):
    import highdicom as hd

    with_h, without = _measure(tmp_path / "a", "1"), _measure(tmp_path / "b", "0")
    assert with_h.returncode == without.returncode == 0, with_h.stderr[-2000:] + without.stderr[-2000:]
    assert with_h.stdout == without.stdout  # the printed table, warnings and the file list
    a, b = (json.loads((tmp_path / d / "measurements.json").read_text()) for d in "ab")
    assert _comparable(a) == _comparable(b)
    assert (tmp_path / "a" / "measurements.csv").read_bytes() == (tmp_path / "b" / "measurements.csv").read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in (tmp_path / "b").iterdir())
    for d in "ab":
        seg = hd.seg.segread(tmp_path / d / "seg.dcm")
        sr = hd.sr.srread(tmp_path / d / "sr.dcm")
        assert seg.number_of_segments == 3 and len(sr.ContentSequence) > 0
    sa = hd.sr.srread(tmp_path / "a" / "sr.dcm")
    sb = hd.sr.srread(tmp_path / "b" / "sr.dcm")
    assert len(sa.ContentSequence) == len(sb.ContentSequence)


def test_helper_is_off_when_disabled_or_other_threads_run(monkeypatch):
    monkeypatch.setenv(H.ENV, "0")
    assert not H.enabled()
    with H.Helper.start() as h:
        assert not h.active and not h.submit("discs", None)
    monkeypatch.setenv(H.ENV, "1")
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not H.enabled()  # a fork now could copy a lock that thread holds
    finally:
        stop.set()
        t.join()


def _needs_fork():
    assert H.enabled(), ("the helper should be usable here (Linux, >= 2 cores, one thread): "
                         f"threads={__import__('threading').active_count()} cores={H._cores()}")


def test_helper_answers_and_a_killed_helper_means_the_work_is_done_here(monkeypatch):
    monkeypatch.delenv(H.ENV, raising=False)
    _needs_fork()
    monkeypatch.setitem(H.TASKS, "echo", lambda x: (os.getpid(), x * 2))
    with H.Helper.start() as h:
        assert h.active
        assert h.submit("echo", 21)
        pid, value = h.run("echo", (21,), 60)
        assert value == 42 and pid == h.pid != os.getpid()  # done in the child
        big = b"x" * (4 << 20)  # larger than a pipe: must not block this process
        assert h.submit("echo", big)
        assert h.run("echo", (big,), 60)[1] == big * 2
        os.kill(h.pid, signal.SIGKILL)
        h.submit("echo", 5)
        pid, value = h.run("echo", (5,), 60)
        assert value == 10 and pid == os.getpid()  # the child is gone: computed here
        assert not h.active


def test_errors_of_the_work_are_raised_here_other_failures_redo_it(monkeypatch):
    monkeypatch.delenv(H.ENV, raising=False)
    _needs_fork()

    def typed(_):
        raise InputError("the study is broken: say so")

    state = {"n": 0}

    def flaky(_):
        state["n"] += 1
        if os.getpid() != main:
            raise RuntimeError("child-only failure")
        return "done here"

    main = os.getpid()
    monkeypatch.setitem(H.TASKS, "typed", typed)
    monkeypatch.setitem(H.TASKS, "flaky", flaky)
    with H.Helper.start() as h:
        h.submit("typed", 1)
        with pytest.raises(InputError, match="the study is broken"):
            h.run("typed", (1,), 60)
        h.submit("flaky", 1)
        assert h.run("flaky", (1,), 60) == "done here"
        assert h.active  # a failed request does not end the helper


def test_a_hung_helper_is_killed_at_its_time_limit(monkeypatch):
    monkeypatch.delenv(H.ENV, raising=False)
    _needs_fork()
    import time

    monkeypatch.setitem(H.TASKS, "hang", lambda s: time.sleep(s) or "slept")
    with H.Helper.start() as h:
        pid = h.pid
        h.submit("hang", 600)
        t = time.monotonic()
        assert h.run("hang", (0,), 1.0) == "slept"  # redone here, without sleeping
        assert time.monotonic() - t < 10
        assert not h.active
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped
