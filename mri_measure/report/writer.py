"""``write_all``: every output of one study into one folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..atomic import file_mode
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

#: Prefix of the hidden folder ``write_all`` renders into before moving the
#: files into ``out_dir`` (mri_measure.atomic treats a leftover one as ours).
PARTIAL_PREFIX = ".mri-measure-partial-"


def write_dicom_objects(analysis: StudyAnalysis, out: str | os.PathLike[str]) -> dict[str, Path]:
    """``seg.dcm`` (+ ``seg_2.dcm`` …) and ``sr.dcm`` of ``analysis`` into the folder
    ``out``; kind → path (see :func:`write_all` for when there are none)."""
    out = Path(out)
    paths: dict[str, Path] = {}
    seg_paths = write_seg(analysis, out / FILE_NAMES["seg"])
    if seg_paths:
        paths["seg"] = seg_paths[0]
        for k, p in enumerate(seg_paths[1:], start=2):
            paths[f"seg_{k}"] = p
        sr = write_sr(analysis, seg_paths, out / FILE_NAMES["sr"])
        if sr is not None:  # None: no level value to report
            paths["sr"] = sr
    return paths


#: seconds the helper process may take for the SEG and SR before this process writes them itself
HELPER_DICOM_TIMEOUT_S = 300.0


def _render(analysis: StudyAnalysis, out: Path, helper: Any = None) -> dict[str, Path]:
    # the DICOM objects go to the helper process, when there is one (mri_measure.helper),
    # and are written there while this process writes the rest
    submitted = helper is not None and helper.submit("dicom", analysis, str(out))
    paths: dict[str, Path] = {}
    paths["json"] = write_json(analysis.report, out / FILE_NAMES["json"])
    paths["csv"] = write_csv(analysis.report, out / FILE_NAMES["csv"])
    figures = render_figures(analysis)  # once, for both HTML and PDF
    paths["html"] = write_html(analysis, out / FILE_NAMES["html"], figures)
    paths["pdf"] = write_pdf(analysis, out / FILE_NAMES["pdf"], figures)
    if submitted:
        dicom = {k: Path(p) for k, p in helper.run("dicom", (analysis, str(out)), HELPER_DICOM_TIMEOUT_S).items()}
    else:
        dicom = write_dicom_objects(analysis, out)
    return {**paths, **dicom}


def _commit_order(kind: str) -> tuple[int, str]:
    # the DICOM objects and reports first, measurements.json (what readers and
    # the output-folder checks look at) last
    rank = {"seg": 0, "sr": 1, "pdf": 2, "html": 3, "csv": 4, "json": 5}
    return rank.get(kind.split("_")[0], 0), kind


def _remove_stale(out: Path, paths: dict[str, Path]) -> None:
    """Outputs of an earlier run that this run did not produce."""
    n_seg = sum(1 for k in paths if k == "seg" or k.startswith("seg_"))
    seg = out / FILE_NAMES["seg"]
    if not n_seg:
        seg.unlink(missing_ok=True)
    k = max(n_seg + 1, 2)
    while (stale := seg.with_name(f"{seg.stem}_{k}{seg.suffix}")).exists():
        stale.unlink()
        k += 1
    if "sr" not in paths:  # no SEG to reference, or no level value to report
        (out / FILE_NAMES["sr"]).unlink(missing_ok=True)


def write_all(analysis: StudyAnalysis, out_dir: str | os.PathLike[str], helper: Any = None) -> dict[str, Path]:
    """Write measurements.json/.csv, report.html/.pdf, seg.dcm and sr.dcm into
    ``out_dir``. Returns kind → path; when the axial slices need several SEG
    instances (several orientations, see :mod:`.seg`), the extra ones are
    returned as ``seg_2``, ``seg_3``, … When no measured slice has a DICOM
    source (axials reformatted from a 3-D volume) there is no SEG/SR and the
    ``seg``/``sr`` keys are absent; without any level value there is no SR.

    Every file is first rendered into a hidden folder inside ``out_dir`` and
    only moved in (each an atomic rename, ``measurements.json`` last) once all
    of them were written: a writer that fails leaves ``out_dir`` as it was.
    Other files in ``out_dir`` are left alone. For a whole folder swapped in
    atomically and locked against concurrent runs, use
    :func:`mri_measure.pipeline.write_outputs`. ``helper``: a running
    :class:`mri_measure.helper.Helper` that writes the SEG and SR meanwhile.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=out))
    try:
        staged = _render(analysis, stage, helper)
        paths: dict[str, Path] = {}
        for kind in sorted(staged, key=_commit_order):
            target = out / staged[kind].name
            os.chmod(staged[kind], file_mode())
            os.replace(staged[kind], target)
            paths[kind] = target
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    _remove_stale(out, paths)
    return {kind: paths[kind] for kind in staged}
