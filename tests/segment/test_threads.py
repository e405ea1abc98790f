"""Torch threads for inference: chosen once per process, environment honoured."""

import json
import os
import subprocess
import sys

PROBE = (
    "import json, os, mri_measure.segment.torch_backend, torch;"
    "print(json.dumps([torch.get_num_threads(), os.environ.get('OMP_WAIT_POLICY')]))"
)


def _probe(**env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("MRI_MEASURE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                         "OMP_WAIT_POLICY")}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE], env=full, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_default_sleeps_idle_threads_and_uses_at_most_the_cores():
    from mri_measure.segment.threads import _cores

    threads, policy = _probe()
    assert policy == "PASSIVE"
    assert 1 <= threads <= _cores()


def test_explicit_settings_win():
    threads, policy = _probe(MRI_MEASURE_THREADS="1", OMP_WAIT_POLICY="ACTIVE")
    assert (threads, policy) == (1, "ACTIVE")
