"""napari plugin for mri-measure: open lumbar MRI studies, segment the dural sac
and ligamentum flavum, review and correct the outlines with napari's label
tools, and export the corrected measurements, DICOM SEG and report.

Qt code lives only in :mod:`napari_mri_measure._qt`; :mod:`._layers` is pure
(no napari, no Qt); the correction loop is the core :mod:`mri_measure.review`.
"""

from __future__ import annotations

__all__ = ["get_reader", "make_sample_data", "write_seg"]


def __getattr__(name: str):
    if name == "get_reader":
        from ._reader import get_reader

        return get_reader
    if name == "make_sample_data":
        from ._sample_data import make_sample_data

        return make_sample_data
    if name == "write_seg":
        from ._writer import write_seg

        return write_seg
    raise AttributeError(name)
