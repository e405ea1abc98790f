"""Progress line for ``mri-measure batch`` on stderr: done / failed / remaining,
rate and ETA.

On a terminal the line is redrawn in place (at most a few times a second);
when stderr is a file or a pipe (logs) a plain line is printed every
``log_interval_s`` and at the end. ``--quiet`` turns it off.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO


@dataclass
class Counts:
    done: int = 0
    failed: int = 0
    skipped: int = 0  # already done (--resume)
    remaining: int = 0  # submitted or waiting, not finished
    discovering: bool = True

    @property
    def finished(self) -> int:
        return self.done + self.failed


def _duration(seconds: float) -> str:
    """
    >>> _duration(42.4), _duration(125), _duration(7300)
    ('42s', '2m05s', '2h01m')
    """
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def format_line(c: Counts, elapsed_s: float, width: int = 20) -> str:
    """
    >>> format_line(Counts(done=3, failed=1, remaining=4, discovering=False), 60.0)
    '[##########----------] 3 done · 1 failed · 4 left · 240 studies/h · ETA 1m00s'
    >>> format_line(Counts(remaining=2), 1.0)
    '[--------------------] 0 done · 0 failed · 2+ left (discovering) · — studies/h · ETA —'
    """
    total = c.finished + c.remaining
    frac = c.finished / total if total else 0.0
    filled = int(round(frac * width))
    bar = "#" * filled + "-" * (width - filled)
    rate_h = c.finished / elapsed_s * 3600.0 if elapsed_s > 0 and c.finished else 0.0
    rate = f"{rate_h:.0f} studies/h" if rate_h else "— studies/h"
    if rate_h and not c.discovering:
        eta = _duration(c.remaining / rate_h * 3600.0)
    elif rate_h and c.remaining:
        eta = "≥" + _duration(c.remaining / rate_h * 3600.0)
    else:
        eta = "—"
    left = f"{c.remaining}+ left (discovering)" if c.discovering else f"{c.remaining} left"
    skipped = f" · {c.skipped} already done" if c.skipped else ""
    return f"[{bar}] {c.done} done · {c.failed} failed · {left}{skipped} · {rate} · ETA {eta}"


class ProgressBar:
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool = True,
        log_interval_s: float = 10.0,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_interval_s = log_interval_s
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self._last_text = ""

    def start_clock(self) -> None:
        """Rates count from the first submitted study, not from cluster start."""
        self.t0 = time.monotonic()

    def update(self, counts: Counts, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        interval = 0.2 if self.tty else self.log_interval_s
        if not force and now - self._last_draw < interval:
            return
        text = format_line(counts, now - self.t0)
        if not force and text == self._last_text and self.tty:
            return
        self._last_draw, self._last_text = now, text
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self, counts: Counts) -> None:
        if not self.enabled:
            return
        self._last_draw = 0.0
        self.update(counts, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
