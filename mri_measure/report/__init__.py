"""mri_measure.report: measurements.json/.csv, report.html/.pdf, DICOM SEG and SR.

One module per output kind (``json_csv``, ``figures``, ``html``, ``pdf``,
``seg``, ``sr``); :func:`write_all` writes them all for one study.
JSON, CSV, HTML and PDF carry no patient name, ID, birth date or file path.
SEG and SR copy the patient module from the source images, by DICOM design,
and are patient data.
"""

from .figures import Figures, render_figures
from .html import write_html
from .json_csv import load_schema, report_to_dict, write_csv, write_json
from .pdf import write_pdf
from .seg import write_seg
from .sr import write_sr
from .writer import FILE_NAMES, write_all

__all__ = [
    "FILE_NAMES",
    "Figures",
    "load_schema",
    "render_figures",
    "report_to_dict",
    "write_all",
    "write_csv",
    "write_html",
    "write_json",
    "write_pdf",
    "write_seg",
    "write_sr",
]
