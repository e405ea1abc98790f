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


# The mechanics run in a fresh interpreter: the test session has other threads by now
# (servers, clusters, Qt), and with other threads running the helper rightly stays off.
PROBE_HEAD = """
import json, os, signal, sys, time
from mri_measure import helper as H
from mri_measure.errors import InputError
assert H.enabled(), ("helper unusable here", __import__("threading").active_count(), H._cores())
MAIN = os.getpid()
def typed(_):
    raise InputError("the study is broken: say so")
def flaky(_):
    if os.getpid() != MAIN:
        raise RuntimeError("child-only failure")
    return "done here"
H.TASKS.update(echo=lambda x: (os.getpid(), x * 2), typed=typed, flaky=flaky,
               hang=lambda s: time.sleep(s) or "slept")
out = {}
"""


def _probe(body: str) -> dict:
    code = PROBE_HEAD + body + "\nprint(json.dumps(out))\n"
    env = {k: v for k, v in os.environ.items() if k != H.ENV}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                         cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_helper_answers_and_a_killed_helper_means_the_work_is_done_here():
    out = _probe("""
with H.Helper.start() as h:
    out["active"] = h.active
    h.submit("echo", 21)
    pid, out["value"] = h.run("echo", (21,), 60)
    out["in_child"] = pid == h.pid != MAIN
    big = b"x" * (4 << 20)  # larger than a pipe: submit must not block
    t = time.monotonic(); h.submit("echo", big); out["submit_s"] = time.monotonic() - t
    out["big_ok"] = h.run("echo", (big,), 60)[1] == big * 2
    import numpy as np, resource
    huge = np.ones(H.MAX_REQUEST_BYTES + (16 << 20), np.uint8)  # over the cap: done here, never copied
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["huge_submitted"] = h.submit("echo", huge)
    out["huge_extra_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    del huge
    os.kill(h.pid, signal.SIGKILL)
    h.submit("echo", 5)
    pid, out["after_kill"] = h.run("echo", (5,), 60)
    out["after_kill_here"] = pid == MAIN
    out["active_after"] = h.active
""")
    assert out["active"] and out["value"] == 42 and out["in_child"]
    assert out["big_ok"] and out["submit_s"] < 1.0
    assert out["huge_submitted"] is False and out["huge_extra_mb"] < 16
    assert out["after_kill"] == 10 and out["after_kill_here"] and not out["active_after"]


def test_errors_of_the_work_are_raised_here_other_failures_redo_it():
    out = _probe("""
with H.Helper.start() as h:
    h.submit("typed", 1)
    try:
        h.run("typed", (1,), 60)
    except InputError as exc:
        out["typed"] = str(exc)
    h.submit("flaky", 1)
    out["flaky"] = h.run("flaky", (1,), 60)
    out["still_active"] = h.active
""")
    assert out == {"typed": "the study is broken: say so", "flaky": "done here", "still_active": True}


def test_a_hung_helper_is_killed_at_its_time_limit():
    out = _probe("""
with H.Helper.start() as h:
    pid = h.pid
    h.submit("hang", 600)
    t = time.monotonic()
    out["value"] = h.run("hang", (0,), 1.0)  # redone here, without the sleep
    out["seconds"] = time.monotonic() - t
    out["active"] = h.active
try:
    os.waitpid(pid, os.WNOHANG)
    out["reaped"] = False
except ChildProcessError:
    out["reaped"] = True
""")
    assert out["value"] == "slept" and out["seconds"] < 10 and not out["active"] and out["reaped"]
