"""CPU threads for torch inference, chosen once per process.

* ``OMP_WAIT_POLICY=PASSIVE`` (set by ``mri_measure.segment`` before torch is
  first imported, unless the environment says otherwise): idle OpenMP
  threads sleep instead of spinning. On a busy machine spinning threads
  burnt as much CPU as the inference itself (sample CD under load 12:
  13.9 s → 7.7 s of CPU for the whole ``measure``).
* intra-op threads: the cores nobody else is using (cores minus the 1-min
  load average, at least 1, at most torch's default), unless
  ``MRI_MEASURE_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set
  (then that is honoured: the batch cluster gives each worker 1).
  The numbers do not depend on it: 1 and 2 threads give identical
  measurements on the sample CD.
"""

from __future__ import annotations

import os
from typing import Any

ENV = "MRI_MEASURE_THREADS"
_CONFIGURED = False


def prepare_environment() -> None:
    """Before torch is imported: idle OpenMP threads sleep (overridable)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def free_cores() -> int:
    """Cores not busy with other work (1-min load average), at least 1.

    >>> 1 <= free_cores() <= _cores()
    True
    """
    cores = _cores()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average
        busy = 0.0
    return max(1, min(cores, round(cores - busy)))


def configure(torch: Any) -> int:
    """Set torch's intra-op threads once per process; returns the count."""
    global _CONFIGURED
    if _CONFIGURED:
        return torch.get_num_threads()
    _CONFIGURED = True
    explicit = os.environ.get(ENV, "").strip()
    if explicit:
        try:
            torch.set_num_threads(max(1, int(explicit)))
        except ValueError:
            pass
    elif not (os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS")):
        torch.set_num_threads(max(1, min(torch.get_num_threads(), free_cores())))
    return torch.get_num_threads()
