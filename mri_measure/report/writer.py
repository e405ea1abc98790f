"""``write_all``: every output of one study into one folder."""

from __future__ import annotations

import os
from pathlib import Path

from ..types import StudyAnalysis
from .figures import render_figures
from .html import write_html
from .json_csv import write_csv, write_json
from .pdf import write_pdf
from .seg import write_seg
from .sr import write_sr

FILE_NAMES = {
    "json": "measurements.json",
    "csv": "measurements.csv",
    "html": "report.html",
    "pdf": "report.pdf",
    "seg": "seg.dcm",
    "sr": "sr.dcm",
}


def write_all(analysis: StudyAnalysis, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write measurements.json/.csv, report.html/.pdf, seg.dcm and sr.dcm into
    ``out_dir`` (each atomically). Returns kind → path; when the axial slices
    need several SEG instances (several orientations, see :mod:`.seg`), the
    extra ones are returned as ``seg_2``, ``seg_3``, … When no measured slice has
    a DICOM source (axials reformatted from a 3-D volume) there is no SEG/SR and
    the ``seg``/``sr`` keys are absent; without any level value there is no SR."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    paths["json"] = write_json(analysis.report, out / FILE_NAMES["json"])
    paths["csv"] = write_csv(analysis.report, out / FILE_NAMES["csv"])
    figures = render_figures(analysis)  # once, for both HTML and PDF
    paths["html"] = write_html(analysis, out / FILE_NAMES["html"], figures)
    paths["pdf"] = write_pdf(analysis, out / FILE_NAMES["pdf"], figures)
    seg_paths = write_seg(analysis, out / FILE_NAMES["seg"])
    if seg_paths:
        paths["seg"] = seg_paths[0]
        for k, p in enumerate(seg_paths[1:], start=2):
            paths[f"seg_{k}"] = p
        sr = write_sr(analysis, seg_paths, out / FILE_NAMES["sr"])
        if sr is not None:  # None: no level value to report
            paths["sr"] = sr
    else:  # only derived (reformatted) slices: nothing to reference; drop stale files
        (out / FILE_NAMES["sr"]).unlink(missing_ok=True)
    return paths
