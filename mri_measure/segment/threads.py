"""CPU threads for inference (ONNX Runtime or torch), chosen once per process.

* ``OMP_WAIT_POLICY=PASSIVE`` (set by ``mri_measure.segment`` before torch is
  first imported, unless the environment says otherwise): idle OpenMP
  threads sleep instead of spinning. On a busy machine spinning threads
  burnt as much CPU as the inference itself (sample CD under load 12:
  13.9 s → 7.7 s of CPU for the whole ``measure``).
* intra-op threads: torch's default (the machine's cores), unless
  ``MRI_MEASURE_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set
  (then that is honoured: the batch cluster gives each worker 1). The count
  never follows the machine's momentary load, so a study gives the same
  floating-point results on the same machine whatever else is running
  (1 and 2 threads also gave identical measurements on the sample CD).
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


def inference_threads() -> int | None:
    """The intra-op thread count the environment asks for (``MRI_MEASURE_THREADS``,
    else ``OMP_NUM_THREADS``, else ``MKL_NUM_THREADS``), or ``None`` for the
    engine's default (the machine's cores). ONNX Runtime does not read these
    variables itself, so :mod:`.runtime` passes this on.

    >>> import os; old = os.environ.get(ENV); os.environ[ENV] = "1"
    >>> inference_threads()
    1
    >>> _ = os.environ.pop(ENV) if old is None else os.environ.__setitem__(ENV, old)
    """
    for var in (ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        raw = os.environ.get(var, "").strip()
        if raw:
            try:
                return max(1, int(raw))
            except ValueError:
                continue
    return None


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
    return torch.get_num_threads()
