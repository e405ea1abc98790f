"""Small pieces shared by the widgets of the dock: the item-data role of slice
keys, colour formatting, and how an error reaches the reader (one line, never a
traceback dialog)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence

from qtpy.QtCore import Qt

from mri_measure import MriMeasureError

log = logging.getLogger("napari_mri_measure._qt")

#: item-data role under which table rows keep their slice key
KEY_ROLE = Qt.ItemDataRole.UserRole

Say = Callable[[str], None]
ShowError = Callable[[BaseException], None]


def hex_colour(rgba: Sequence[float]) -> str:
    """``#rrggbb`` of an RGBA colour with components in 0–1.

    >>> hex_colour((0.1, 0.75, 1.0, 1.0))
    '#1abfff'
    """
    r, g, b = (int(round(255 * v)) for v in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def error_line(exc: BaseException) -> str:
    """The one line shown for an error: a user error's first line, or (for a bug)
    the exception type only, with code locations logged; an exception's message
    may carry input paths, so it is never shown or logged for a bug."""
    if isinstance(exc, MriMeasureError):
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    where = "".join(traceback.format_tb(exc.__traceback__)) if exc.__traceback__ else ""
    log.error("internal error in the mri-measure widget: %s\n%s", type(exc).__name__, where)
    return f"internal error ({type(exc).__name__}); see the log"


def notify_error(message: str) -> None:
    """A napari notification (``mri-measure: …``), when napari's system is up."""
    try:
        from napari.utils.notifications import show_error

        show_error(f"mri-measure: {message}")
    except Exception:  # pragma: no cover - notification system unavailable
        pass
