"""mri_measure.report: measurements.json/.csv, report.html/.pdf, DICOM SEG and SR.

One module per output kind (``json_csv``, ``figures``, ``html``, ``pdf``,
``seg``, ``sr``); :func:`write_all` writes them all for one study.
JSON, CSV, HTML and PDF carry no patient name, ID, birth date or file path.
SEG and SR copy the patient module from the source images, by DICOM design,
and are patient data.

The names below are imported on first use (PEP 562), so ``import
mri_measure.report`` (or one writer) does not load the others' libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "FILE_NAMES": "writer",
    "write_all": "writer",
    "Figures": "figures",
    "render_figures": "figures",
    "write_html": "html",
    "as_version_1": "json_csv",
    "load_schema": "json_csv",
    "read_measurements": "json_csv",
    "report_to_dict": "json_csv",
    "write_csv": "json_csv",
    "write_json": "json_csv",
    "write_pdf": "pdf",
    "write_seg": "seg",
    "write_sr": "sr",
}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:  # pragma: no cover
    from .figures import Figures, render_figures
    from .html import write_html
    from .json_csv import (as_version_1, load_schema, read_measurements, report_to_dict, write_csv,
                           write_json)
    from .pdf import write_pdf
    from .seg import write_seg
    from .sr import write_sr
    from .writer import FILE_NAMES, write_all


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
